/* rng.c — Philox-4x32-10, the runtime's one random generator, and what is built on it:
 * rt_random_fill (the random ops of generated code), rt_shift2d, a sequential stream
 * for shuffling and samplers, and parameter initialisation.
 *
 * Scheme: key = rt_philox_key(seed, stream); counter = (block, step) with block =
 * element / 4. Element i of a draw therefore depends only on (seed, stream, step, i):
 * any thread may fill any range and every thread count gives the same numbers. */
#include "rlrt.h"

#include <math.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define RT_PI 3.14159265358979323846
#include <string.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static inline void philox_round(uint32_t c[4], const uint32_t k[2]) {
    uint64_t p0 = (uint64_t)PHILOX_M0 * c[0];
    uint64_t p1 = (uint64_t)PHILOX_M1 * c[2];
    uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
    uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
    uint32_t n0 = hi1 ^ c[1] ^ k[0];
    uint32_t n2 = hi0 ^ c[3] ^ k[1];
    c[0] = n0;
    c[1] = lo1;
    c[2] = n2;
    c[3] = lo0;
}

/* Inlined into the fill loops; rt_philox4x32 is the exported form. */
static inline void philox10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
    uint32_t c[4] = {ctr[0], ctr[1], ctr[2], ctr[3]};
    uint32_t k[2] = {key[0], key[1]};
    for (int r = 0; r < 10; r++) {
        if (r > 0) {
            k[0] += PHILOX_W0;
            k[1] += PHILOX_W1;
        }
        philox_round(c, k);
    }
    memcpy(out, c, sizeof c);
}

void rt_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
    philox10(ctr, key, out);
}

/* splitmix64's finaliser: streams that differ in one bit get unrelated keys. */
static uint64_t mix64(uint64_t z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void rt_philox_key(uint64_t seed, uint64_t stream, uint32_t key[2]) {
    uint64_t k = mix64(seed ^ mix64(stream));
    key[0] = (uint32_t)k;
    key[1] = (uint32_t)(k >> 32);
}

uint64_t rt_hash_name(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}

static void philox_block(const uint32_t key[2], uint64_t block, uint64_t step, uint32_t out[4]) {
    uint32_t ctr[4] = {(uint32_t)block, (uint32_t)(block >> 32), (uint32_t)step,
                       (uint32_t)(step >> 32)};
    philox10(ctr, key, out);
}

/* 24 high bits -> [0, 1), exact in float. The bits fit a signed int, whose
 * conversion has a vector instruction (the unsigned one has none before AVX-512). */
static inline float u01(uint32_t x) { return (float)(int32_t)(x >> 8) * (1.0f / 16777216.0f); }
/* (0, 1]: Box-Muller takes a log of it. */
static inline float u01_open(uint32_t x) {
    return ((float)(int32_t)(x >> 8) + 1.0f) * (1.0f / 16777216.0f);
}

/* ---------------------------------------------------------------- fills
 * The fills work on chunks of CHUNK_BLOCKS consecutive Philox blocks held as
 * structure of arrays (lane l of block j in x[l][j]), so each step below is one
 * loop over j that the vectorizer widens (-O3, runtime/CMakeLists.txt): Philox's
 * 32x32->64 products become vector multiplies, the normal's log, sine and cosine
 * are the polynomials below instead of libm calls. Every operation is the same
 * IEEE operation in the vector body and in any scalar remainder, and contraction
 * is off, so a value does not depend on where a range starts or which thread
 * fills it. */
enum { CHUNK_BLOCKS = 16, CHUNK = 4 * CHUNK_BLOCKS };

#if defined(__SSE2__)
/* The 32x32 -> 64-bit products of four lanes, split in high and low words (SSE2's
 * multiply takes lanes 0 and 2; the odd lanes go through a shifted copy). GCC does
 * not vectorize the widening product of the plain C loop by itself. */
static inline void mul_hilo(__m128i a, __m128i m, __m128i *hi, __m128i *lo) {
    const __m128i low = _mm_set_epi32(0, -1, 0, -1);
    __m128i even = _mm_mul_epu32(a, m), odd = _mm_mul_epu32(_mm_srli_epi64(a, 32), m);
    *lo = _mm_or_si128(_mm_and_si128(even, low), _mm_slli_epi64(odd, 32));
    *hi = _mm_or_si128(_mm_srli_epi64(even, 32), _mm_andnot_si128(low, odd));
}

static void philox_chunk(const uint32_t key[2], uint64_t block0, uint64_t step,
                         uint32_t x[4][CHUNK_BLOCKS]) {
    enum { V = CHUNK_BLOCKS / 4 };
    __m128i c0[V], c1[V], c2[V], c3[V];
    for (int j = 0; j < V; j++) {
        uint64_t b = block0 + 4 * (uint64_t)j;
        /* the blocks' high words: a chunk may straddle a multiple of 2^32 */
        c0[j] = _mm_set_epi32((int)(uint32_t)(b + 3), (int)(uint32_t)(b + 2),
                              (int)(uint32_t)(b + 1), (int)(uint32_t)b);
        c1[j] = _mm_set_epi32((int)(uint32_t)((b + 3) >> 32), (int)(uint32_t)((b + 2) >> 32),
                              (int)(uint32_t)((b + 1) >> 32), (int)(uint32_t)(b >> 32));
        c2[j] = _mm_set1_epi32((int)(uint32_t)step);
        c3[j] = _mm_set1_epi32((int)(uint32_t)(step >> 32));
    }
    const __m128i m0 = _mm_set1_epi32((int)PHILOX_M0), m1 = _mm_set1_epi32((int)PHILOX_M1);
    uint32_t k0 = key[0], k1 = key[1];
    for (int r = 0; r < 10; r++) {
        __m128i kv0 = _mm_set1_epi32((int)k0), kv1 = _mm_set1_epi32((int)k1);
        for (int j = 0; j < V; j++) {
            __m128i hi0, lo0, hi1, lo1;
            mul_hilo(c0[j], m0, &hi0, &lo0);
            mul_hilo(c2[j], m1, &hi1, &lo1);
            c0[j] = _mm_xor_si128(_mm_xor_si128(hi1, c1[j]), kv0);
            c2[j] = _mm_xor_si128(_mm_xor_si128(hi0, c3[j]), kv1);
            c1[j] = lo1;
            c3[j] = lo0;
        }
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    for (int j = 0; j < V; j++) {
        _mm_storeu_si128((__m128i *)&x[0][4 * j], c0[j]);
        _mm_storeu_si128((__m128i *)&x[1][4 * j], c1[j]);
        _mm_storeu_si128((__m128i *)&x[2][4 * j], c2[j]);
        _mm_storeu_si128((__m128i *)&x[3][4 * j], c3[j]);
    }
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>
#define RNG_AVX512 1
/* The same chunk with AVX-512 (one 16-lane register per Philox word), used when the
 * processor has it: 4x the SSE2 width for the part of the fill that dominates it.
 * Integer operations only, so the words are those of the SSE2 path bit for bit. */
__attribute__((target("avx512f"))) static void philox_chunk_avx512(
    const uint32_t key[2], uint64_t block0, uint64_t step, uint32_t x[4][CHUNK_BLOCKS]) {
    _Static_assert(CHUNK_BLOCKS == 16, "one 16-lane register per Philox word");
    uint32_t lo[CHUNK_BLOCKS], hi[CHUNK_BLOCKS];
    for (int j = 0; j < CHUNK_BLOCKS; j++) {
        lo[j] = (uint32_t)(block0 + (uint64_t)j);
        hi[j] = (uint32_t)((block0 + (uint64_t)j) >> 32);
    }
    __m512i c0 = _mm512_loadu_si512(lo), c1 = _mm512_loadu_si512(hi);
    __m512i c2 = _mm512_set1_epi32((int)(uint32_t)step), c3 = _mm512_set1_epi32((int)(uint32_t)(step >> 32));
    const __m512i m0 = _mm512_set1_epi32((int)PHILOX_M0), m1 = _mm512_set1_epi32((int)PHILOX_M1);
    const __mmask16 odd_lanes = 0xAAAA;
    uint32_t k0 = key[0], k1 = key[1];
    for (int r = 0; r < 10; r++) {
        __m512i e0 = _mm512_mul_epu32(c0, m0), o0 = _mm512_mul_epu32(_mm512_srli_epi64(c0, 32), m0);
        __m512i e1 = _mm512_mul_epu32(c2, m1), o1 = _mm512_mul_epu32(_mm512_srli_epi64(c2, 32), m1);
        __m512i lo0 = _mm512_mask_blend_epi32(odd_lanes, e0, _mm512_slli_epi64(o0, 32));
        __m512i hi0 = _mm512_mask_blend_epi32(odd_lanes, _mm512_srli_epi64(e0, 32), o0);
        __m512i lo1 = _mm512_mask_blend_epi32(odd_lanes, e1, _mm512_slli_epi64(o1, 32));
        __m512i hi1 = _mm512_mask_blend_epi32(odd_lanes, _mm512_srli_epi64(e1, 32), o1);
        c0 = _mm512_xor_si512(_mm512_xor_si512(hi1, c1), _mm512_set1_epi32((int)k0));
        c2 = _mm512_xor_si512(_mm512_xor_si512(hi0, c3), _mm512_set1_epi32((int)k1));
        c1 = lo1;
        c3 = lo0;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    _mm512_storeu_si512(x[0], c0);
    _mm512_storeu_si512(x[1], c1);
    _mm512_storeu_si512(x[2], c2);
    _mm512_storeu_si512(x[3], c3);
}
#endif
#else
static void philox_chunk(const uint32_t key[2], uint64_t block0, uint64_t step,
                         uint32_t x[4][CHUNK_BLOCKS]) {
    for (int j = 0; j < CHUNK_BLOCKS; j++) {
        uint32_t out[4];
        philox_block(key, block0 + (uint64_t)j, step, out);
        for (int l = 0; l < 4; l++) x[l][j] = out[l];
    }
}
#endif

static inline uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Natural log of a positive normal float (Cephes logf): x = m 2^e with m in
 * [sqrt(1/2), sqrt(2)), log(1 + f) for f = m - 1 by a degree-9 polynomial, e log 2
 * added in two parts (0.693359375 is exact in 9 bits). Within about 1 ulp; test_rt_rng
 * checks the normals built on it against double precision. */
static inline float log_poly(float x) {
    uint32_t ix = f32_bits(x);
    int32_t e = (int32_t)(ix >> 23) - 126;
    uint32_t mb = (ix & 0x007FFFFFu) | 0x3F000000u; /* m in [0.5, 1) */
    /* below sqrt(1/2) (compared as bits: both positive), use 2m and e - 1; the
     * doubling is an exponent increment, exact, and keeps the loop branch-free */
    int32_t small = mb < 0x3F3504F3u;
    e -= small;
    float f = bits_f32(mb + ((uint32_t)small << 23)) - 1.0f;
    float z = f * f;
    float y = 7.0376836292E-2f;
    y = y * f - 1.1514610310E-1f;
    y = y * f + 1.1676998740E-1f;
    y = y * f - 1.2420140846E-1f;
    y = y * f + 1.4249322787E-1f;
    y = y * f - 1.6668057665E-1f;
    y = y * f + 2.0000714765E-1f;
    y = y * f - 2.4999993993E-1f;
    y = y * f + 3.3333331174E-1f;
    y = y * f * z;
    float fe = (float)e;
    y += -2.12194440e-4f * fe;
    y += -0.5f * z;
    return f + y + 0.693359375f * fe;
}

/* cos and sin of 2 pi k / 2^24 for a 24-bit k. The quarter turn q nearest to k and
 * the remainder r = k - q 2^22 (|r| <= 2^21) are exact integers, so the reduction
 * costs no accuracy; the angle 2 pi r / 2^24 lies in [-pi/4, pi/4], where Cephes'
 * sinf/cosf polynomials hold, and q mod 4 rotates the pair. */
static inline void sincos_turn(uint32_t k, float *c_out, float *s_out) {
    uint32_t q = (k + (1u << 21)) >> 22;
    int32_t r = (int32_t)k - (int32_t)(q << 22);
    float a = (float)r * (float)(2.0 * RT_PI / 16777216.0);
    float z = a * a;
    float s = ((-1.9515295891E-4f * z + 8.3321608736E-3f) * z - 1.6666654611E-1f) * z * a + a;
    float c = ((2.443315711809948E-5f * z - 1.388731625493765E-3f) * z + 4.166664568298827E-2f) * z * z
              - 0.5f * z + 1.0f;
    /* rotate by q quarter turns with bit operations (no branch in the loop): odd q
     * swaps the pair, q = 1, 2 negate the cosine, q = 2, 3 the sine */
    uint32_t swap = 0u - (q & 1), cb = f32_bits(c), sb = f32_bits(s);
    uint32_t cs = (sb & swap) | (cb & ~swap), sn = (cb & swap) | (sb & ~swap);
    *c_out = bits_f32(cs ^ (((q + 1) & 2) << 30));
    *s_out = bits_f32(sn ^ ((q & 2) << 30));
}

/* Turns a chunk's Philox words into the draw: element 4 block0 + t in v[t]. */
static inline __attribute__((always_inline)) void fill_values(int kind, const uint32_t x[4][CHUNK_BLOCKS],
                                                              float fa, float fb, float span,
                                                              int64_t base, uint64_t range,
                                                              float v[CHUNK]) {
    int32_t *iv = (int32_t *)v;
    switch (kind) {
    case RT_RAND_BERNOULLI:
        for (int j = 0; j < CHUNK_BLOCKS; j++)
            for (int l = 0; l < 4; l++) v[4 * j + l] = (float)(u01(x[l][j]) < fa);
        break;
    case RT_RAND_UNIFORM:
        for (int j = 0; j < CHUNK_BLOCKS; j++)
            for (int l = 0; l < 4; l++) v[4 * j + l] = fa + span * u01(x[l][j]);
        break;
    case RT_RAND_RANDINT:
        /* Lemire's multiply-shift: bias below 2^-32 * range, no loop. */
        for (int j = 0; j < CHUNK_BLOCKS; j++)
            for (int l = 0; l < 4; l++)
                iv[4 * j + l] = (int32_t)(base + (int64_t)(((uint64_t)x[l][j] * range) >> 32));
        break;
    case RT_RAND_NORMAL:
        /* Box-Muller on lanes (0, 1) and (2, 3): cosine to the even element, sine to
         * the odd one. */
        for (int p = 0; p < 2; p++) {
            float rad[CHUNK_BLOCKS], cv[CHUNK_BLOCKS], sv[CHUNK_BLOCKS];
            for (int j = 0; j < CHUNK_BLOCKS; j++) {
                rad[j] = sqrtf(-2.0f * log_poly(u01_open(x[2 * p][j])));
                sincos_turn(x[2 * p + 1][j] >> 8, &cv[j], &sv[j]);
            }
            for (int j = 0; j < CHUNK_BLOCKS; j++) {
                v[4 * j + 2 * p] = fa + fb * rad[j] * cv[j];
                v[4 * j + 2 * p + 1] = fa + fb * rad[j] * sv[j];
            }
        }
        break;
    default: break;
    }
}

static void fill_chunk(int kind, const uint32_t key[2], uint64_t block0, uint64_t step, float fa,
                       float fb, float span, int64_t base, uint64_t range, float v[CHUNK]) {
    uint32_t x[4][CHUNK_BLOCKS];
    philox_chunk(key, block0, step, x);
    fill_values(kind, x, fa, fb, span, base, range, v);
}

#if RNG_AVX512
/* The AVX-512 chunk: Philox as above, and the value loops inlined here so that the
 * vectorizer widens them to 16 lanes too. Contraction stays off in this function as
 * everywhere, so it rounds exactly as fill_chunk. */
__attribute__((target("avx512f"))) static void fill_chunk_avx512(
    int kind, const uint32_t key[2], uint64_t block0, uint64_t step, float fa, float fb, float span,
    int64_t base, uint64_t range, float v[CHUNK]) {
    uint32_t x[4][CHUNK_BLOCKS];
    philox_chunk_avx512(key, block0, step, x);
    fill_values(kind, x, fa, fb, span, base, range, v);
}
#endif

void rt_random_fill(int kind, void *out, int64_t lo, int64_t hi, double a, double b,
                    uint64_t seed, uint64_t stream, uint64_t step) {
    if (hi <= lo || kind < RT_RAND_BERNOULLI || kind > RT_RAND_RANDINT) return;
    uint32_t key[2];
    rt_philox_key(seed, stream, key);
    float fa = (float)a, fb = (float)b, span = (float)(b - a);
    uint64_t range = kind == RT_RAND_RANDINT && b > a ? (uint64_t)((int64_t)b - (int64_t)a) : 1;
    int64_t base = (int64_t)a;
    /* Chunks are aligned to CHUNK elements; the first and last may be partial. */
#if RNG_AVX512
    bool wide = __builtin_cpu_supports("avx512f");
#endif
    float v[CHUNK];
    for (int64_t c0 = lo / CHUNK * CHUNK; c0 < hi; c0 += CHUNK) {
#if RNG_AVX512
        if (wide) fill_chunk_avx512(kind, key, (uint64_t)(c0 / 4), step, fa, fb, span, base, range, v);
        else
#endif
            fill_chunk(kind, key, (uint64_t)(c0 / 4), step, fa, fb, span, base, range, v);
        int64_t i0 = c0 > lo ? c0 : lo, i1 = c0 + CHUNK < hi ? c0 + CHUNK : hi;
        memcpy((float *)out + i0, v + (i0 - c0), (size_t)(i1 - i0) * sizeof(float));
    }
}

/* Image j moves by (dy, dx): each output row is a zero run, a shifted copy of the
 * source row, a zero run (or all zeros when its source row is outside). */
void rt_shift2d(float *out, const float *in, int64_t n, int64_t h, int64_t w, int64_t max,
                uint64_t seed, uint64_t stream, uint64_t step) {
    uint32_t key[2];
    rt_philox_key(seed, stream, key);
    uint64_t span = (uint64_t)(2 * max + 1);
    for (int64_t j = 0; j < n; j++) {
        uint32_t x[4];
        philox_block(key, (uint64_t)j, step, x);  /* image j uses block j: lanes 0, 1 */
        int64_t dy = (int64_t)(((uint64_t)x[0] * span) >> 32) - max;
        int64_t dx = (int64_t)(((uint64_t)x[1] * span) >> 32) - max;
        const float *src = in + j * h * w;
        float *dst = out + j * h * w;
        /* output columns [x0, x1) read source columns [x0 - dx, x1 - dx) */
        int64_t x0 = dx > 0 ? dx : 0, x1 = dx < 0 ? w + dx : w;
        if (x1 < x0) x1 = x0 = w;
        for (int64_t y = 0; y < h; y++) {
            int64_t sy = y - dy;
            float *d = dst + y * w;
            if (sy < 0 || sy >= h) {
                memset(d, 0, (size_t)w * sizeof(float));
                continue;
            }
            memset(d, 0, (size_t)x0 * sizeof(float));
            if (x1 > x0) memcpy(d + x0, src + sy * w + (x0 - dx), (size_t)(x1 - x0) * sizeof(float));
            memset(d + x1, 0, (size_t)(w - x1) * sizeof(float));
        }
    }
}

void rt_rng_init(rt_rng *r, uint64_t seed, uint64_t stream, uint64_t step) {
    rt_philox_key(seed, stream, r->key);
    r->step = step;
    r->next = 0;
}

void rt_rng_seek(rt_rng *r, uint64_t index) {
    r->next = index;
    if (index & 3) philox_block(r->key, index >> 2, r->step, r->block);
}

uint32_t rt_rng_u32(rt_rng *r) {
    if ((r->next & 3) == 0) philox_block(r->key, r->next >> 2, r->step, r->block);
    return r->block[r->next++ & 3];
}

double rt_rng_uniform(rt_rng *r) {
    uint64_t hi = rt_rng_u32(r) >> 5, lo = rt_rng_u32(r) >> 6;
    return (double)(hi * 67108864ull + lo) / 9007199254740992.0;
}

uint64_t rt_rng_below(rt_rng *r, uint64_t n) {
    if (n <= 1) return 0;
    /* Rejection keeps it exactly uniform: accept x below the largest multiple of n. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    for (;;) {
        uint64_t x = ((uint64_t)rt_rng_u32(r) << 32) | rt_rng_u32(r);
        if (x < limit) return x % n;
    }
}

double rt_rng_normal(rt_rng *r) {
    double u0 = ((double)(rt_rng_u32(r) >> 8) + 1.0) / 16777216.0; /* (0, 1] */
    double u1 = (double)(rt_rng_u32(r) >> 8) / 16777216.0;
    return sqrt(-2.0 * log(u0)) * cos(2.0 * RT_PI * u1);
}

void rt_rng_shuffle(rt_rng *r, int64_t *items, int64_t n) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)rt_rng_below(r, (uint64_t)i + 1);
        int64_t t = items[i];
        items[i] = items[j];
        items[j] = t;
    }
}

void rt_init_param(float *p, const int64_t *dims, int rank, rt_init_kind kind, double a, double b,
                   uint64_t seed, const char *name) {
    int64_t n = 1;
    for (int d = 0; d < rank; d++) n *= dims[d];
    double fan_in = 1, fan_out = 1;
    if (rank == 1) {
        fan_in = fan_out = (double)dims[0];
    } else if (rank == 4) {
        /* a convolution's weight [out, in, kh, kw] (PyTorch's convention) */
        fan_in = (double)(dims[1] * dims[2] * dims[3]);
        fan_out = (double)(dims[0] * dims[2] * dims[3]);
    } else if (rank >= 2) {
        for (int d = 0; d < rank - 1; d++) fan_in *= (double)dims[d];
        fan_out = (double)dims[rank - 1];
    }
    uint64_t stream = rt_hash_name(name);
    switch (kind) {
    case RT_INIT_GLOROT: {
        double l = sqrt(6.0 / (fan_in + fan_out));
        rt_random_fill(RT_RAND_UNIFORM, p, 0, n, -l, l, seed, stream, 0);
        break;
    }
    case RT_INIT_HE:
        rt_random_fill(RT_RAND_NORMAL, p, 0, n, 0.0, sqrt(2.0 / fan_in), seed, stream, 0);
        break;
    case RT_INIT_NORMAL: rt_random_fill(RT_RAND_NORMAL, p, 0, n, a, b, seed, stream, 0); break;
    case RT_INIT_UNIFORM: rt_random_fill(RT_RAND_UNIFORM, p, 0, n, a, b, seed, stream, 0); break;
    case RT_INIT_ZEROS:
    case RT_INIT_ONES:
    case RT_INIT_VALUE: {
        float v = kind == RT_INIT_ZEROS ? 0.0f : kind == RT_INIT_ONES ? 1.0f : (float)a;
        for (int64_t i = 0; i < n; i++) p[i] = v;
        break;
    }
    }
}

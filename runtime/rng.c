/* rng.c — Philox-4x32-10, the runtime's one random generator, and what is built on it:
 * rt_random_fill (the random ops of generated code), rt_shift2d, a sequential stream
 * for shuffling and samplers, and parameter initialisation.
 *
 * Scheme: key = rt_philox_key(seed, stream); counter = (block, step) with block =
 * element / 4. Element i of a draw therefore depends only on (seed, stream, step, i):
 * any thread may fill any range and every thread count gives the same numbers. */
#include "rlrt.h"

#include <math.h>

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

/* 24 high bits -> [0, 1), exact in float. */
static inline float u01(uint32_t x) { return (float)(x >> 8) * (1.0f / 16777216.0f); }
/* (0, 1]: Box-Muller takes a log of it. */
static inline float u01_open(uint32_t x) { return ((float)(x >> 8) + 1.0f) * (1.0f / 16777216.0f); }

void rt_random_fill(int kind, void *out, int64_t lo, int64_t hi, double a, double b,
                    uint64_t seed, uint64_t stream, uint64_t step) {
    if (hi <= lo) return;
    uint32_t key[2];
    rt_philox_key(seed, stream, key);
    float *f = out;
    int32_t *iv = out;
    float fa = (float)a, fb = (float)b, span = (float)(b - a);
    uint64_t range = kind == RT_RAND_RANDINT && b > a ? (uint64_t)((int64_t)b - (int64_t)a) : 1;
    int64_t base = (int64_t)a;
    /* One Philox block gives elements 4k..4k+3; the first and last block may be partial. */
    for (int64_t blk = lo >> 2; blk <= (hi - 1) >> 2; blk++) {
        uint32_t x[4];
        philox_block(key, (uint64_t)blk, step, x);
        int64_t i0 = blk * 4 > lo ? blk * 4 : lo, i1 = blk * 4 + 4 < hi ? blk * 4 + 4 : hi;
        switch (kind) {
        case RT_RAND_BERNOULLI:
            for (int64_t i = i0; i < i1; i++) f[i] = (float)(u01(x[i & 3]) < fa);
            break;
        case RT_RAND_UNIFORM:
            for (int64_t i = i0; i < i1; i++) f[i] = fa + span * u01(x[i & 3]);
            break;
        case RT_RAND_RANDINT:
            /* Lemire's multiply-shift: bias below 2^-32 * range, no loop. */
            for (int64_t i = i0; i < i1; i++)
                iv[i] = (int32_t)(base + (int64_t)(((uint64_t)x[i & 3] * range) >> 32));
            break;
        case RT_RAND_NORMAL:
            /* Box-Muller on lanes (0, 1) and (2, 3): cosine to the even element, sine
             * to the odd one; each pair computed once. */
            for (int p = 0; p < 2; p++) {
                int64_t e0 = blk * 4 + 2 * p;
                if (e0 + 1 < i0 || e0 >= i1) continue;
                float rad = sqrtf(-2.0f * logf(u01_open(x[2 * p])));
                float t = (float)(2.0 * RT_PI) * u01(x[2 * p + 1]);
                if (e0 >= i0) f[e0] = fa + fb * rad * cosf(t);
                if (e0 + 1 < i1) f[e0 + 1] = fa + fb * rad * sinf(t);
            }
            break;
        default: return;
        }
    }
}

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
        for (int64_t y = 0; y < h; y++) {
            int64_t sy = y - dy;
            for (int64_t xx = 0; xx < w; xx++) {
                int64_t sx = xx - dx;
                dst[y * w + xx] = (sy >= 0 && sy < h && sx >= 0 && sx < w) ? src[sy * w + sx] : 0.0f;
            }
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

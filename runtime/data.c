/* data.c — the data sources of rl-language.md §4.1: path look-up, and readers for
 * idx (plain or gzip), csv, npy and tokens (text corpora: corpus.c). Each reader
 * validates what it reads and names the file in every error; none trusts a size it
 * has not checked. */
#define _POSIX_C_SOURCE 200809L
#include "data_internal.h"

#include <ctype.h>
#include <math.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* ------------------------------------------------------------ paths */

static bool exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static bool is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Appends "dir/path" as a candidate to the looked-in list; true when it exists. */
static bool try_candidate(const char *dir, size_t dir_len, const char *path, char *out, size_t cap,
                          char *looked, size_t looked_cap) {
    if (dir_len == 0) {
        dir = ".";
        dir_len = 1;
    }
    snprintf(out, cap, "%.*s/%s", (int)dir_len, dir, path);
    size_t used = strlen(looked);
    if (used + 3 < looked_cap)
        snprintf(looked + used, looked_cap - used, "%s%s", used ? ", " : "", out);
    return exists(out);
}

bool rt_resolve_data_path(const char *base_dir, const char *path, char *out, size_t cap,
                          rt_error *err) {
    if (path[0] == '/') {
        snprintf(out, cap, "%s", path);
        if (exists(out)) return true;
        rt_fail(err, "cannot find data file '%s'", path);
        return false;
    }
    char looked[900] = "";
    const char *base = base_dir && base_dir[0] ? base_dir : ".";
    if (try_candidate(base, strlen(base), path, out, cap, looked, sizeof looked)) return true;
    const char *env = getenv("RL_DATA_PATH");
    for (const char *p = env; p && *p;) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);
        if (len && try_candidate(p, len, path, out, cap, looked, sizeof looked)) return true;
        p = colon ? colon + 1 : p + len;
    }
    /* an installed rlc (PREFIX/bin/rlc) or trainer finds PREFIX/share/rlc/data */
    char exe[RT_PATH_MAX];
    ssize_t n_exe = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n_exe > 0) {
        exe[n_exe] = 0;
        char share[RT_PATH_MAX + 32];
        snprintf(share, sizeof share, "%.*s/../share/rlc/data", (int)(strrchr(exe, '/') - exe), exe);
        if (try_candidate(share, strlen(share), path, out, cap, looked, sizeof looked)) return true;
    }
    /* the data/ folder of the source tree librlrt was built from, where
     * scripts/setup.sh puts the Brown corpus */
    const char *source = RLC_SOURCE_DATA;
    if (try_candidate(source, strlen(source), path, out, cap, looked, sizeof looked)) return true;
    const char *sys = "/usr/share/datasets";
    if (try_candidate(sys, strlen(sys), path, out, cap, looked, sizeof looked)) return true;
    rt_fail(err, "cannot find data file '%s' (looked in: %s)", path, looked);
    return false;
}

/* Reads a whole file; gzip-compressed files are inflated (zlib reads plain files as is). */
static bool read_all(const char *path, unsigned char **data, size_t *len, rt_error *err) {
    gzFile f = gzopen(path, "rb");
    if (!f) {
        rt_fail(err, "%s: cannot open: %s", path, strerror(errno));
        return false;
    }
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    for (;;) {
        if (!buf) break;
        if (n == cap) {
            unsigned char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        unsigned want = (unsigned)(cap - n > (1u << 30) ? (1u << 30) : cap - n);
        int got = gzread(f, buf + n, want);
        if (got < 0) {
            int code;
            const char *msg = gzerror(f, &code);
            rt_fail(err, "%s: read error: %s", path, msg);
            free(buf);
            gzclose(f);
            return false;
        }
        if (got == 0) break;
        n += (size_t)got;
    }
    /* zlib hands over what it inflated of a gzip stream cut short, then stops
     * without an error from gzread: only gzerror tells that the trailer (CRC and
     * length) never came */
    int code = Z_OK;
    const char *why = buf ? gzerror(f, &code) : NULL;
    if (buf && code != Z_OK) {
        rt_fail(err, "%s: compressed data cut short (%s): the file is truncated", path, why);
        free(buf);
        gzclose(f);
        return false;
    }
    gzclose(f);
    if (!buf) {
        rt_fail(err, "%s: out of memory while reading", path);
        return false;
    }
    *data = buf;
    *len = n;
    return true;
}

bool rt_read_file(const char *path, unsigned char **data, size_t *len, rt_error *err) {
    return read_all(path, data, len, err);
}

bool rt_path_is_dir(const char *path) { return is_dir(path); }

/* ------------------------------------------------------------ raw values */

static size_t raw_size(raw_type t) {
    switch (t) {
    case RAW_U8:
    case RAW_I8: return 1;
    case RAW_I16: return 2;
    case RAW_I32:
    case RAW_F32: return 4;
    case RAW_F64: return 8;
    }
    return 1;
}

double rt_raw_get(const rt_raw *r, int64_t i) {
    switch (r->type) {
    case RAW_U8: return ((const uint8_t *)r->data)[i];
    case RAW_I8: return ((const int8_t *)r->data)[i];
    case RAW_I16: return ((const int16_t *)r->data)[i];
    case RAW_I32: return ((const int32_t *)r->data)[i];
    case RAW_F32: return ((const float *)r->data)[i];
    case RAW_F64: return ((const double *)r->data)[i];
    }
    return 0;
}

void rt_raw_free(rt_raw *r) {
    free(r->data);
    free(r->lines);
    r->data = NULL;
    r->lines = NULL;
}

/* ------------------------------------------------------------ idx */

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* IDX: two zero bytes, a type code, the number of dims; dims as big-endian u32;
 * then the values, big-endian. The first dim counts examples. */
static bool load_idx(const char *path, rt_raw *out, rt_error *err) {
    unsigned char *buf;
    size_t len;
    if (!read_all(path, &buf, &len, err)) return false;
    if (len < 4 || buf[0] != 0 || buf[1] != 0) {
        rt_fail(err, "%s: bad magic: not an IDX file (expected 00 00 TYPE DIMS)", path);
        free(buf);
        return false;
    }
    raw_type t;
    switch (buf[2]) {
    case 0x08: t = RAW_U8; break;
    case 0x09: t = RAW_I8; break;
    case 0x0B: t = RAW_I16; break;
    case 0x0C: t = RAW_I32; break;
    case 0x0D: t = RAW_F32; break;
    case 0x0E: t = RAW_F64; break;
    default:
        rt_fail(err, "%s: bad magic: unknown IDX type code 0x%02x", path, buf[2]);
        free(buf);
        return false;
    }
    int nd = buf[3];
    if (nd < 1 || nd > 8) {
        rt_fail(err, "%s: bad magic: %d dimensions (1 to 8 expected)", path, nd);
        free(buf);
        return false;
    }
    if (len < 4 + 4 * (size_t)nd) {
        rt_fail(err, "%s: short file: header cut off", path);
        free(buf);
        return false;
    }
    uint64_t n = be32(buf + 4), per = 1;
    for (int d = 1; d < nd; d++) {
        uint64_t dim = be32(buf + 4 + 4 * d);
        if (dim && per > ((uint64_t)1 << 40) / dim) {
            rt_fail(err, "%s: dimensions too large", path);
            free(buf);
            return false;
        }
        per *= dim;
    }
    size_t es = raw_size(t), head = 4 + 4 * (size_t)nd;
    /* n * per * es may not fit 64 bits: compare by division first */
    if (per == 0 || n > (len - head) / es / per) {
        rt_fail(err, "%s: short file: %llu examples of %llu values need %.0f bytes of data, found %zu",
                path, (unsigned long long)n, (unsigned long long)per, (double)n * (double)per * (double)es,
                len - head);
        free(buf);
        return false;
    }
    uint64_t want = n * per * es;
    memmove(buf, buf + head, want);
    for (uint64_t i = 0; es > 1 && i < n * per; i++) { /* big-endian to native */
        unsigned char *p = buf + i * es;
        for (size_t a = 0, b = es - 1; a < b; a++, b--) {
            unsigned char c = p[a];
            p[a] = p[b];
            p[b] = c;
        }
    }
    out->type = t;
    out->data = buf;
    out->n = (int64_t)n;
    out->per = (int64_t)per;
    return true;
}

/* ------------------------------------------------------------ csv */

static bool load_csv(const char *path, int64_t columns, rt_raw *out, rt_error *err) {
    unsigned char *buf;
    size_t len;
    if (columns <= 0) {
        rt_fail(err, "%s: csv needs columns = N with N > 0", path);
        return false;
    }
    if (!read_all(path, &buf, &len, err)) return false;
    size_t cap = 1024, n = 0, lines_cap = 64, rows = 0;
    float *vals = malloc(cap * sizeof *vals);
    int64_t *lines = malloc(lines_cap * sizeof *lines);
    char *text = (char *)buf;
    int64_t line = 0;
    size_t pos = 0;
    bool ok = vals && lines;
    if (!ok) rt_fail(err, "%s: out of memory", path);
    while (ok && pos < len) {
        size_t end = pos;
        while (end < len && text[end] != '\n') end++;
        line++;
        size_t stop = end;
        if (stop > pos && text[stop - 1] == '\r') stop--;
        bool blank = true;
        for (size_t k = pos; k < stop; k++) blank = blank && isspace((unsigned char)text[k]);
        if (line > 1 && !blank) { /* line 1 is the header */
            int64_t found = 0;
            size_t k = pos;
            for (;;) {
                char cell[128];
                size_t c0 = k;
                while (k < stop && text[k] != ',') k++;
                size_t cl = k - c0;
                while (cl && isspace((unsigned char)text[c0])) c0++, cl--;
                while (cl && isspace((unsigned char)text[c0 + cl - 1])) cl--;
                char *endp = NULL;
                if (cl > 0 && cl < sizeof cell) {
                    memcpy(cell, text + c0, cl);
                    cell[cl] = 0;
                    errno = 0;
                    double v = strtod(cell, &endp);
                    if (*endp == 0 && !isfinite((float)v)) {
                        rt_fail(err, "%s:%lld: value %lld is not a finite f32: '%s'", path,
                                (long long)line, (long long)found + 1, cell);
                        ok = false;
                        break;
                    }
                    if (*endp == 0 && found < columns) {
                        if (n == cap) {
                            float *nv = realloc(vals, cap * 2 * sizeof *vals);
                            if (!nv) {
                                ok = false;
                                rt_fail(err, "%s: out of memory", path);
                                break;
                            }
                            vals = nv;
                            cap *= 2;
                        }
                        vals[n++] = (float)v;
                    }
                }
                if (cl == 0 || cl >= sizeof cell || *endp != 0) {
                    rt_fail(err, "%s:%lld: value %lld is not a number: '%.*s'", path, (long long)line,
                            (long long)found + 1, (int)(cl > 40 ? 40 : cl), text + c0);
                    ok = false;
                    break;
                }
                found++;
                if (k >= stop) break;
                k++;
            }
            if (ok && found != columns) {
                rt_fail(err, "%s:%lld: expected %lld values (columns = %lld), found %lld", path,
                        (long long)line, (long long)columns, (long long)columns, (long long)found);
                ok = false;
            }
            if (ok && rows == lines_cap) {
                int64_t *nl = realloc(lines, 2 * lines_cap * sizeof *lines);
                if (!nl) {
                    rt_fail(err, "%s: out of memory", path);
                    ok = false;
                } else {
                    lines = nl;
                    lines_cap *= 2;
                }
            }
            if (ok) lines[rows++] = line;
        }
        pos = end + 1;
    }
    free(buf);
    if (!ok) {
        free(vals);
        free(lines);
        return false;
    }
    out->type = RAW_F32;
    out->data = vals;
    out->lines = lines;
    out->n = (int64_t)rows;
    out->per = columns;
    return true;
}

/* ------------------------------------------------------------ npy */

/* Finds `'key':` in the header dict and returns what follows, spaces skipped. */
static const char *npy_key(const char *h, const char *key) {
    char pat[32];
    snprintf(pat, sizeof pat, "'%s'", key);
    const char *p = strstr(h, pat);
    if (!p) return NULL;
    p += strlen(pat);
    while (*p == ' ') p++;
    if (*p != ':') return NULL;
    p++;
    while (*p == ' ') p++;
    return p;
}

/* .npy v1/v2: "\x93NUMPY", major, minor, header length (u16 LE in v1, u32 LE in
 * v2), a Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (N, ...)}. */
static bool load_npy(const char *path, rt_raw *out, rt_error *err) {
    unsigned char *buf;
    size_t len;
    if (!read_all(path, &buf, &len, err)) return false;
    char *hdr = NULL;
    bool ok = false;
    if (len < 10 || memcmp(buf, "\x93NUMPY", 6) != 0) {
        rt_fail(err, "%s: bad magic: not a .npy file", path);
        goto done;
    }
    int major = buf[6];
    if (major != 1 && major != 2) {
        rt_fail(err, "%s: unsupported .npy version %d (1 or 2 expected)", path, major);
        goto done;
    }
    size_t hl, head;
    if (major == 1) {
        hl = (size_t)buf[8] | (size_t)buf[9] << 8;
        head = 10;
    } else {
        if (len < 12) {
            rt_fail(err, "%s: short file: header cut off", path);
            goto done;
        }
        hl = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
        head = 12;
    }
    if (len - head < hl) {
        rt_fail(err, "%s: short file: header cut off", path);
        goto done;
    }
    hdr = malloc(hl + 1);
    if (!hdr) goto done;
    memcpy(hdr, buf + head, hl);
    hdr[hl] = 0;
    const char *d = npy_key(hdr, "descr"), *fo = npy_key(hdr, "fortran_order"),
               *sh = npy_key(hdr, "shape");
    if (!d || !fo || !sh || *sh != '(') {
        rt_fail(err, "%s: malformed .npy header: %.80s", path, hdr);
        goto done;
    }
    raw_type t;
    if (strncmp(d, "'<f4'", 5) == 0) t = RAW_F32;
    else if (strncmp(d, "'<i4'", 5) == 0) t = RAW_I32;
    else {
        rt_fail(err, "%s: unsupported dtype %.8s ('<f4' or '<i4' expected)", path, d);
        goto done;
    }
    if (strncmp(fo, "False", 5) != 0) {
        rt_fail(err, "%s: Fortran-order arrays are not supported (save with C order)", path);
        goto done;
    }
    int64_t dims[16];
    int nd = 0;
    const char *p = sh + 1;
    for (;;) {
        while (*p == ' ' || *p == ',') p++;
        if (*p == ')') break;
        char *e;
        long long v = strtoll(p, &e, 10);
        if (e == p || v < 0 || nd == 16 || v > ((int64_t)1 << 40)) {
            rt_fail(err, "%s: malformed shape in .npy header: %.40s", path, sh);
            goto done;
        }
        dims[nd++] = v;
        p = e;
    }
    int64_t n = nd ? dims[0] : 1, per = 1;
    size_t have = len - head - hl;
    /* each dim is at most 2^40, so a product is checked before it can wrap */
    for (int k = 1; k < nd; k++) {
        if (dims[k] && per > ((int64_t)1 << 40) / dims[k]) {
            rt_fail(err, "%s: shape in .npy header is too large: %.60s", path, sh);
            goto done;
        }
        per *= dims[k];
    }
    if (per == 0 && n > 0) {
        rt_fail(err, "%s: shape %.60s holds no values per example", path, sh);
        goto done;
    }
    if (per > 0 && (uint64_t)n > have / 4 / (uint64_t)per) {
        rt_fail(err, "%s: short file: shape needs %.0f bytes of data, found %zu", path,
                (double)n * (double)per * 4.0, have);
        goto done;
    }
    size_t want = (size_t)n * (size_t)per * 4;
    memmove(buf, buf + head + hl, want); /* x86 and arm64 are little-endian, as '<' */
    out->type = t;
    out->data = buf;
    out->n = n;
    out->per = per;
    buf = NULL;
    ok = true;
done:
    free(hdr);
    free(buf);
    return ok;
}

/* ------------------------------------------------------------ tokens */

static bool load_tokens(const char *path, int64_t length, rt_raw *out, rt_error *err) {
    if (length <= 0) {
        rt_fail(err, "%s: tokens needs length = L with L > 0", path);
        return false;
    }
    unsigned char *buf;
    size_t len;
    if (!read_all(path, &buf, &len, err)) return false;
    size_t lines = 0;
    for (size_t i = 0; i < len; i++) lines += buf[i] == '\n';
    if (len && buf[len - 1] != '\n') lines++;
    /* calloc checks lines * length * 4; lines * length must not wrap first */
    bool fits = (uint64_t)length <= SIZE_MAX / (lines ? lines : 1);
    int32_t *ids = fits ? calloc(lines ? lines * (size_t)length : 1, sizeof *ids) : NULL;
    if (!ids) {
        free(buf);
        rt_fail(err, "%s: %s for %zu lines of length %lld", path, fits ? "out of memory" : "too large",
                lines, (long long)length);
        return false;
    }
    int64_t n = 0, vocab = 1, line = 0;
    size_t pos = 0;
    while (pos < len) {
        size_t end = pos;
        while (end < len && buf[end] != '\n') end++;
        line++;
        int64_t k = 0;
        size_t q = pos;
        while (q < end) {
            while (q < end && isspace(buf[q])) q++;
            if (q >= end) break;
            long long v = 0;
            size_t s0 = q;
            while (q < end && isdigit(buf[q]) && v < INT32_MAX) v = v * 10 + (buf[q++] - '0');
            if (q == s0 || (q < end && !isspace(buf[q])) || v >= INT32_MAX) {
                rt_fail(err, "%s:%lld: token %lld is not a word id", path, (long long)line,
                        (long long)k + 1);
                free(buf);
                free(ids);
                return false;
            }
            if (k < length) ids[n * length + k] = (int32_t)v;
            if (v + 1 > vocab) vocab = v + 1;
            k++;
        }
        n++;
        pos = end + 1;
    }
    free(buf);
    out->type = RAW_I32;
    out->data = ids;
    out->n = n;
    out->per = length;
    out->vocab = vocab;
    out->line_per_example = true;
    return true;
}

/* ------------------------------------------------------------ one field's source */

/* Floating-point sources (idx, npy; csv checks each cell as it reads it) may hold
 * no NaN or infinity: one would spoil every step whose batch holds it. */
static bool all_finite(const rt_raw *r, rt_error *err) {
    if (r->type != RAW_F32 && r->type != RAW_F64) return true;
    for (int64_t i = 0; i < r->n * r->per; i++) {
        double v = rt_raw_get(r, i);
        if (isfinite(v)) continue;
        rt_fail(err, "%s: example %lld holds %s (value %lld of the example)", r->path,
                (long long)(i / r->per), isnan(v) ? "NaN" : "an infinity", (long long)(i % r->per) + 1);
        return false;
    }
    return true;
}

bool rt_raw_load(const rt_field_spec *f, const rt_dataset_spec *ds, rt_raw *out, rt_error *err) {
    memset(out, 0, sizeof *out);
    const char *base_dir = ds->base_dir;
    if (f->kind == RT_SRC_TEXT) return rt_text_tokens(ds, f->path, out, err);
    if (!rt_resolve_data_path(base_dir, f->path, out->path, sizeof out->path, err)) return false;
    if (is_dir(out->path)) {
        rt_fail(err, "%s: is a folder; only text() reads folders", out->path);
        return false;
    }
    bool ok = false;
    switch (f->kind) {
    case RT_SRC_IDX: ok = load_idx(out->path, out, err); break;
    case RT_SRC_CSV: ok = load_csv(out->path, f->columns, out, err); break;
    case RT_SRC_NPY: ok = load_npy(out->path, out, err); break;
    case RT_SRC_TOKENS: ok = load_tokens(out->path, f->length, out, err); break;
    case RT_SRC_TEXT: rt_fail(err, "%s: unknown source kind", out->path); break;
    }
    if (ok && !all_finite(out, err)) {
        rt_raw_free(out);
        ok = false;
    }
    return ok;
}

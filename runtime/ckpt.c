/* ckpt.c — safetensors parameter files: an atomic writer, and a reader that
 * trusts nothing (a strict little JSON parser, then every offset, size and value
 * checked), in time linear in the header up to a log factor. */
#define _POSIX_C_SOURCE 200809L
#include "fileio.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ JSON */

typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } json_kind;

typedef struct json {
    json_kind kind;
    double num;
    char *str;                 /* J_STR */
    int n, cap;                /* J_ARR, J_OBJ: items, and room for them */
    char **keys;               /* J_OBJ */
    struct json **items;
} json;

typedef struct jparser {
    const char *p, *end;
    const char *error;
    int depth;
    char detail[160];          /* an error that names something points here */
} jparser;

static void json_free(json *j) {
    if (!j) return;
    for (int i = 0; i < j->n; i++) {
        json_free(j->items[i]);
        if (j->keys) free(j->keys[i]);
    }
    free(j->items);
    free(j->keys);
    free(j->str);
    free(j);
}

static void skip_ws(jparser *ps) {
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static char *parse_string(jparser *ps) {
    if (ps->p >= ps->end || *ps->p != '"') {
        ps->error = "expected a string";
        return NULL;
    }
    ps->p++;
    size_t cap = 16, n = 0;
    char *s = malloc(cap);
    while (s) {
        if (ps->p >= ps->end) {
            ps->error = "unterminated string";
            break;
        }
        unsigned char c = (unsigned char)*ps->p++;
        if (c == '"') {
            s[n] = 0;
            return s;
        }
        if (c < 0x20) {
            ps->error = "control character in a string";
            break;
        }
        if (c == '\\') {
            if (ps->p >= ps->end) {
                ps->error = "unterminated string";
                break;
            }
            char e = *ps->p++;
            switch (e) {
            case '"': case '\\': case '/': c = (unsigned char)e; break;
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'u': {
                /* names are ASCII in practice; \\u00XX is all we decode */
                unsigned v = 0;
                for (int k = 0; k < 4; k++) {
                    char h = ps->p < ps->end ? *ps->p++ : 0;
                    int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10
                            : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
                    if (d < 0) {
                        ps->error = "bad \\u escape";
                        free(s);
                        return NULL;
                    }
                    v = v * 16 + (unsigned)d;
                }
                if (v == 0 || v > 0xFF) {
                    ps->error = "unsupported \\u escape";
                    free(s);
                    return NULL;
                }
                c = (unsigned char)v;
                break;
            }
            default: ps->error = "bad escape"; free(s); return NULL;
            }
        }
        if (n + 2 > cap) {
            char *ns = realloc(s, cap *= 2);
            if (!ns) break;
            s = ns;
        }
        s[n++] = (char)c;
    }
    if (!ps->error) ps->error = "out of memory";
    free(s);
    return NULL;
}

static json *parse_value(jparser *ps);

/* Appends an item; room grows by doubling, so n items cost O(n). */
static bool push_item(json *j, char *key, json *item) {
    if (j->n == j->cap) {
        int nc = j->cap ? 2 * j->cap : 8;
        json **ni = realloc(j->items, (size_t)nc * sizeof *ni);
        if (!ni) return false;
        j->items = ni;
        if (j->kind == J_OBJ) {
            char **nk = realloc(j->keys, (size_t)nc * sizeof *nk);
            if (!nk) return false;
            j->keys = nk;
        }
        j->cap = nc;
    }
    if (j->kind == J_OBJ) j->keys[j->n] = key;
    j->items[j->n++] = item;
    return true;
}

static int cmp_key(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* An object's keys must differ: sorted, equal keys are neighbours (n log n). */
static bool unique_keys(jparser *ps, const json *j) {
    if (j->n < 2) return true;
    char **sorted = malloc((size_t)j->n * sizeof *sorted);
    if (!sorted) {
        ps->error = "out of memory";
        return false;
    }
    memcpy(sorted, j->keys, (size_t)j->n * sizeof *sorted);
    qsort(sorted, (size_t)j->n, sizeof *sorted, cmp_key);
    for (int i = 1; i < j->n && !ps->error; i++) {
        if (strcmp(sorted[i - 1], sorted[i]) != 0) continue;
        snprintf(ps->detail, sizeof ps->detail, "duplicate key '%.100s'", sorted[i]);
        ps->error = ps->detail;
    }
    free(sorted);
    return !ps->error;
}

static json *parse_container(jparser *ps, json *j, char close) {
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        return j;
    }
    for (;;) {
        char *key = NULL;
        skip_ws(ps);
        if (j->kind == J_OBJ) {
            if (!(key = parse_string(ps))) break;
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                if (!ps->error) ps->error = "expected ':'";
                free(key);
                break;
            }
            ps->p++;
        }
        json *v = parse_value(ps);
        if (!v || !push_item(j, key, v)) {
            if (v && !ps->error) ps->error = "out of memory";
            json_free(v);
            free(key);
            break;
        }
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == close) {
            ps->p++;
            if (j->kind == J_OBJ && !unique_keys(ps, j)) break;
            return j;
        }
        ps->error = close == '}' ? "expected ',' or '}'" : "expected ',' or ']'";
        break;
    }
    json_free(j);
    return NULL;
}

static json *parse_value(jparser *ps) {
    skip_ws(ps);
    if (ps->p >= ps->end) {
        ps->error = "unexpected end";
        return NULL;
    }
    if (++ps->depth > 32) {
        ps->error = "nested too deeply";
        return NULL;
    }
    json *j = calloc(1, sizeof *j);
    if (!j) {
        ps->error = "out of memory";
        return NULL;
    }
    char c = *ps->p;
    size_t left = (size_t)(ps->end - ps->p);
    if (c == '{' || c == '[') {
        j->kind = c == '{' ? J_OBJ : J_ARR;
        j = parse_container(ps, j, c == '{' ? '}' : ']');
    } else if (c == '"') {
        j->kind = J_STR;
        if (!(j->str = parse_string(ps))) {
            free(j);
            j = NULL;
        }
    } else if (left >= 4 && memcmp(ps->p, "null", 4) == 0) {
        ps->p += 4;
    } else if (left >= 4 && memcmp(ps->p, "true", 4) == 0) {
        j->kind = J_BOOL;
        j->num = 1;
        ps->p += 4;
    } else if (left >= 5 && memcmp(ps->p, "false", 5) == 0) {
        j->kind = J_BOOL;
        ps->p += 5;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        char buf[64];
        size_t n = 0;
        while (ps->p + n < ps->end && n < sizeof buf - 1 && strchr("+-.eE0123456789", ps->p[n])) n++;
        memcpy(buf, ps->p, n);
        buf[n] = 0;
        char *e;
        j->kind = J_NUM;
        j->num = strtod(buf, &e);
        if (e != buf + n) {
            ps->error = "bad number";
            free(j);
            j = NULL;
        } else {
            ps->p += n;
        }
    } else {
        ps->error = "unexpected character";
        free(j);
        j = NULL;
    }
    ps->depth--;
    return j;
}

/* The value of s[0, n), or NULL with the reason in error. */
static json *json_parse(const char *s, size_t n, char *error, size_t cap) {
    jparser ps = {.p = s, .end = s + n};
    json *j = parse_value(&ps);
    skip_ws(&ps);
    if (j && ps.p != ps.end) {
        ps.error = "trailing characters after the header object";
        json_free(j);
        j = NULL;
    }
    if (ps.error) snprintf(error, cap, "%s", ps.error);
    return j;
}

static const json *json_get(const json *obj, const char *key) {
    for (int i = 0; obj->kind == J_OBJ && i < obj->n; i++)
        if (strcmp(obj->keys[i], key) == 0) return obj->items[i];
    return NULL;
}

/* ------------------------------------------------------------ writer */

typedef struct sbuf {
    char *s;
    size_t n, cap;
    bool oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t nc = (b->cap ? b->cap : 256);
        while (nc < b->n + n + 1) nc *= 2;
        char *ns = realloc(b->s, nc);
        if (!ns) {
            b->oom = true;
            return;
        }
        b->s = ns;
        b->cap = nc;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_quoted(sbuf *b, const char *s) {
    sb_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            sb_put(b, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            sb_put(b, esc, 6);
        } else {
            sb_put(b, s, 1);
        }
    }
    sb_put(b, "\"", 1);
}

static int64_t numel_of(const rt_tensor_ref *t) {
    int64_t n = 1;
    for (int d = 0; d < t->rank; d++) n *= t->dims[d];
    return n;
}

bool rt_ckpt_write(const char *path, const rt_tensor_ref *tensors, int n, const rt_meta *meta,
                   int n_meta, rt_error *err) {
    sbuf h = {0};
    char num[64];
    sb_str(&h, "{");
    int64_t off = 0;
    for (int i = 0; i < n; i++) {
        const rt_tensor_ref *t = &tensors[i];
        sb_quoted(&h, t->name);
        sb_str(&h, ":{\"dtype\":\"F32\",\"shape\":[");
        for (int d = 0; d < t->rank; d++) {
            snprintf(num, sizeof num, "%s%lld", d ? "," : "", (long long)t->dims[d]);
            sb_str(&h, num);
        }
        int64_t bytes = numel_of(t) * 4;
        snprintf(num, sizeof num, "],\"data_offsets\":[%lld,%lld]},", (long long)off,
                 (long long)(off + bytes));
        sb_str(&h, num);
        off += bytes;
    }
    sb_str(&h, "\"__metadata__\":{");
    for (int i = 0; i < n_meta; i++) {
        if (i) sb_str(&h, ",");
        sb_quoted(&h, meta[i].key);
        sb_str(&h, ":");
        sb_quoted(&h, meta[i].value);
    }
    sb_str(&h, "}}");
    while (!h.oom && (8 + h.n) % 8) sb_str(&h, " "); /* data starts 8-aligned */
    if (h.oom) {
        free(h.s);
        rt_fail(err, "%s: out of memory while writing", path);
        return false;
    }
    rt_replace out;
    bool ok = rt_replace_begin(&out, path, "parameter file", err);
    if (ok) {
        unsigned char len8[8];
        for (int k = 0; k < 8; k++) len8[k] = (unsigned char)((uint64_t)h.n >> (8 * k));
        ok = fwrite(len8, 1, 8, out.f) == 8 && fwrite(h.s, 1, h.n, out.f) == h.n;
        for (int i = 0; ok && i < n; i++) {
            size_t cnt = (size_t)numel_of(&tensors[i]);
            ok = fwrite(tensors[i].data, 4, cnt, out.f) == cnt;
        }
        /* a failed fwrite leaves the stream's error set: commit reports it */
        ok = rt_replace_commit(&out, err);
    }
    free(h.s);
    return ok;
}

/* ------------------------------------------------------------ reader */

struct rt_ckpt {
    char *path;
    int n;
    rt_tensor_ref *tensors;
    const rt_tensor_ref **by_name;  /* the tensors sorted by name: rt_ckpt_find bisects */
    int n_meta;
    char **keys, **values;
    float *data;
};

void rt_ckpt_free(rt_ckpt *c) {
    if (!c) return;
    for (int i = 0; i < c->n; i++) free((char *)c->tensors[i].name);
    for (int i = 0; i < c->n_meta; i++) {
        free(c->keys[i]);
        free(c->values[i]);
    }
    free(c->tensors);
    free(c->by_name);
    free(c->keys);
    free(c->values);
    free(c->data);
    free(c->path);
    free(c);
}

static bool is_count(const json *j) {
    return j && j->kind == J_NUM && j->num >= 0 && j->num == (double)(int64_t)j->num &&
           j->num < 9.0e15;
}

static int cmp_start(const void *a, const void *b) {
    const rt_tensor_ref *x = *(const rt_tensor_ref *const *)a, *y = *(const rt_tensor_ref *const *)b;
    return x->data < y->data ? -1 : x->data > y->data;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp((*(const rt_tensor_ref *const *)a)->name, (*(const rt_tensor_ref *const *)b)->name);
}

/* Tensors may not share bytes: sorted by start, each must end before the next
 * begins (empty tensors hold no bytes). */
static bool check_overlaps(rt_ckpt *c, rt_error *err) {
    const rt_tensor_ref **order = malloc((size_t)(c->n ? c->n : 1) * sizeof *order);
    if (!order) return false;
    int m = 0;
    for (int i = 0; i < c->n; i++)
        if (numel_of(&c->tensors[i]) > 0) order[m++] = &c->tensors[i];
    qsort(order, (size_t)m, sizeof *order, cmp_start);
    bool ok = true;
    for (int i = 1; ok && i < m; i++) {
        const rt_tensor_ref *a = order[i - 1], *b = order[i];
        if (a->data + numel_of(a) <= b->data) continue;
        long long a0 = (long long)((char *)a->data - (char *)c->data), b0 = (long long)((char *)b->data - (char *)c->data);
        rt_fail(err, "%s: tensors '%s' (bytes [%lld, %lld)) and '%s' (bytes [%lld, %lld)) overlap",
                c->path, a->name, a0, a0 + 4 * (long long)numel_of(a), b->name, b0,
                b0 + 4 * (long long)numel_of(b));
        ok = false;
    }
    free(order);
    return ok;
}

/* Every value must be finite: a NaN or an infinity in a parameter file comes from a
 * run that diverged, and would spoil every step that reads it. */
static bool check_values(const rt_ckpt *c, rt_error *err) {
    for (int i = 0; i < c->n; i++) {
        const rt_tensor_ref *t = &c->tensors[i];
        int64_t n = numel_of(t);
        for (int64_t k = 0; k < n; k++) {
            if (isfinite(t->data[k])) continue;
            rt_fail(err, "%s: tensor '%s' holds %s at element %lld: the file was saved from a "
                    "run that diverged, or is damaged", c->path, t->name,
                    isnan(t->data[k]) ? "NaN" : "an infinity", (long long)k);
            return false;
        }
    }
    return true;
}

static bool index_names(rt_ckpt *c) {
    c->by_name = malloc((size_t)(c->n ? c->n : 1) * sizeof *c->by_name);
    if (!c->by_name) return false;
    for (int i = 0; i < c->n; i++) c->by_name[i] = &c->tensors[i];
    qsort(c->by_name, (size_t)c->n, sizeof *c->by_name, cmp_name);
    return true;
}

/* Checks one tensor entry against the data section; fills t (name not set). */
static bool read_entry(const char *path, const char *name, const json *e, uint64_t data_len,
                       rt_tensor_ref *t, int64_t *start, rt_error *err) {
    const json *dt = json_get(e, "dtype"), *sh = json_get(e, "shape"), *of = json_get(e, "data_offsets");
    if (e->kind != J_OBJ || !dt || dt->kind != J_STR || !sh || sh->kind != J_ARR || !of ||
        of->kind != J_ARR || of->n != 2 || !is_count(of->items[0]) || !is_count(of->items[1])) {
        rt_fail(err, "%s: tensor '%s': header entry needs dtype, shape and data_offsets [a, b]", path, name);
        return false;
    }
    if (strcmp(dt->str, "F32") != 0) {
        rt_fail(err, "%s: tensor '%s' has dtype %s; only F32 is supported", path, name, dt->str);
        return false;
    }
    if (sh->n > RT_MAX_RANK) {
        rt_fail(err, "%s: tensor '%s' has rank %d (at most %d)", path, name, sh->n, RT_MAX_RANK);
        return false;
    }
    double numel = 1;
    t->rank = sh->n;
    for (int d = 0; d < sh->n; d++) {
        if (!is_count(sh->items[d])) {
            rt_fail(err, "%s: tensor '%s': shape must hold non-negative integers", path, name);
            return false;
        }
        t->dims[d] = (int64_t)sh->items[d]->num;
        numel *= sh->items[d]->num;
    }
    uint64_t a = (uint64_t)of->items[0]->num, b = (uint64_t)of->items[1]->num;
    if (a > b || b > data_len) {
        rt_fail(err, "%s: tensor '%s': data_offsets [%llu, %llu] lie outside the %llu bytes of data "
                "(truncated file?)", path, name, (unsigned long long)a, (unsigned long long)b,
                (unsigned long long)data_len);
        return false;
    }
    if ((double)(b - a) != numel * 4 || a % 4) {
        rt_fail(err, "%s: tensor '%s': %llu bytes of data for %.0f F32 values", path, name,
                (unsigned long long)(b - a), numel);
        return false;
    }
    *start = (int64_t)a;
    return true;
}

rt_ckpt *rt_ckpt_read(const char *path, rt_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        rt_fail(err, "%s: cannot open the parameter file: %s", path, strerror(errno));
        return NULL;
    }
    rt_ckpt *c = calloc(1, sizeof *c);
    char *hdr = NULL;
    json *root = NULL;
    unsigned char len8[8];
    bool ok = false;
    if (!c || !(c->path = strdup(path))) goto done;
    if (fread(len8, 1, 8, f) != 8) {
        rt_fail(err, "%s: not a safetensors file: shorter than its 8-byte header length", path);
        goto done;
    }
    uint64_t hl = 0;
    for (int k = 7; k >= 0; k--) hl = hl << 8 | len8[k];
    if (fseek(f, 0, SEEK_END) != 0) goto done;
    long size = ftell(f);
    if (size < 0 || hl > (uint64_t)size - 8 || hl > (100u << 20)) {
        rt_fail(err, "%s: not a safetensors file: header length %llu does not fit the %ld-byte file",
                path, (unsigned long long)hl, size);
        goto done;
    }
    uint64_t data_len = (uint64_t)size - 8 - hl;
    hdr = malloc(hl + 1);
    c->data = malloc(data_len ? data_len : 1);
    if (!hdr || !c->data || fseek(f, 8, SEEK_SET) != 0 || fread(hdr, 1, hl, f) != hl ||
        fread(c->data, 1, data_len, f) != data_len) {
        rt_fail(err, "%s: cannot read the parameter file", path);
        goto done;
    }
    char jerr[200] = "";
    root = json_parse(hdr, hl, jerr, sizeof jerr);
    if (!root || root->kind != J_OBJ) {
        rt_fail(err, "%s: bad safetensors header: %s", path, root ? "not a JSON object" : jerr);
        goto done;
    }
    c->tensors = calloc((size_t)root->n + 1, sizeof *c->tensors);
    c->keys = calloc((size_t)root->n + 1, sizeof *c->keys);
    c->values = calloc((size_t)root->n + 1, sizeof *c->values);
    if (!c->tensors || !c->keys || !c->values) goto done;
    for (int i = 0; i < root->n; i++) {
        const json *e = root->items[i];
        if (strcmp(root->keys[i], "__metadata__") == 0) {
            if (e->kind != J_OBJ) {
                rt_fail(err, "%s: bad safetensors header: __metadata__ is not an object", path);
                goto done;
            }
            free(c->keys);
            free(c->values);
            c->keys = calloc((size_t)e->n + 1, sizeof *c->keys);
            c->values = calloc((size_t)e->n + 1, sizeof *c->values);
            if (!c->keys || !c->values) goto done;
            for (int k = 0; k < e->n; k++) {
                if (e->items[k]->kind != J_STR) {
                    rt_fail(err, "%s: bad safetensors header: metadata '%s' is not a string", path,
                            e->keys[k]);
                    goto done;
                }
                c->keys[c->n_meta] = strdup(e->keys[k]);
                c->values[c->n_meta++] = strdup(e->items[k]->str);
            }
            continue;
        }
        rt_tensor_ref *t = &c->tensors[c->n];
        int64_t start;
        if (!read_entry(path, root->keys[i], e, data_len, t, &start, err)) goto done;
        t->data = (float *)((char *)c->data + start);
        t->name = strdup(root->keys[i]);
        if (!t->name) goto done;
        c->n++;
    }
    ok = check_overlaps(c, err) && check_values(c, err) && index_names(c);
done:
    if (!ok && !(err && err->failed)) rt_fail(err, "%s: out of memory while reading", path);
    fclose(f);
    free(hdr);
    json_free(root);
    if (!ok) {
        rt_ckpt_free(c);
        return NULL;
    }
    return c;
}

int rt_ckpt_count(const rt_ckpt *c) { return c->n; }
const rt_tensor_ref *rt_ckpt_tensor(const rt_ckpt *c, int i) { return &c->tensors[i]; }

const rt_tensor_ref *rt_ckpt_find(const rt_ckpt *c, const char *name) {
    rt_tensor_ref key = {.name = name};
    const rt_tensor_ref *k = &key, *const *hit = bsearch(&k, c->by_name, (size_t)c->n, sizeof *c->by_name, cmp_name);
    return hit ? *hit : NULL;
}

const char *rt_ckpt_meta(const rt_ckpt *c, const char *key) {
    for (int i = 0; i < c->n_meta; i++)
        if (strcmp(c->keys[i], key) == 0) return c->values[i];
    return NULL;
}

static void fmt_shape(const rt_tensor_ref *t, char *buf, size_t cap) {
    size_t used = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < t->rank && used < cap; d++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%lld", d ? ", " : "", (long long)t->dims[d]);
    if (used < cap) snprintf(buf + used, cap - used, "]");
}

/* Names the file uses for optimizer and resume state, not parameters. */
static bool is_state_name(const char *name) { return strncmp(name, "__", 2) == 0; }

/* Appends name to a comma-separated list in buf, or counts it once buf is full. */
static void list_name(char *buf, size_t cap, int *listed, int *more, const char *name) {
    size_t used = strlen(buf);
    if (used + strlen(name) + 16 < cap) {
        snprintf(buf + used, cap - used, "%s%s", *listed ? ", " : "", name);
        (*listed)++;
    } else {
        (*more)++;
    }
}

static void end_list(char *buf, size_t cap, int more) {
    size_t used = strlen(buf);
    if (more) snprintf(buf + used, cap - used, " and %d more", more);
}

int rt_ckpt_load_into(const rt_ckpt *c, const rt_tensor_ref *targets, int n, rt_error *err) {
    char list[900] = "";
    int bad = 0, loaded = 0;
    for (int i = 0; i < n; i++) {
        const rt_tensor_ref *src = rt_ckpt_find(c, targets[i].name);
        if (!src) continue;
        loaded++;
        bool same = src->rank == targets[i].rank;
        for (int d = 0; same && d < src->rank; d++) same = src->dims[d] == targets[i].dims[d];
        if (same) continue;
        char want[96], have[96];
        fmt_shape(&targets[i], want, sizeof want);
        fmt_shape(src, have, sizeof have);
        size_t used = strlen(list);
        snprintf(list + used, sizeof list - used, "%s%s is %s here but %s in the file",
                 bad ? "; " : "", targets[i].name, want, have);
        bad++;
    }
    if (bad) {
        rt_fail(err, "%s: %d parameter%s do%s not match this program: %s", c->path, bad,
                bad > 1 ? "s" : "", bad > 1 ? "" : "es", list);
        return -1;
    }
    if (n > 0 && loaded == 0) {
        char file[400] = "", stage[400] = "";
        int nf = 0, mf = 0, ns = 0, ms = 0;
        for (int i = 0; i < c->n; i++)
            if (!is_state_name(c->tensors[i].name)) list_name(file, sizeof file, &nf, &mf, c->tensors[i].name);
        for (int i = 0; i < n; i++) list_name(stage, sizeof stage, &ns, &ms, targets[i].name);
        end_list(file, sizeof file, mf);
        end_list(stage, sizeof stage, ms);
        rt_fail(err, "%s: no tensor of the file is a parameter here, so nothing would be loaded "
                "(the file holds: %s; the parameters here: %s)", c->path, nf ? file : "no parameters",
                stage);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        const rt_tensor_ref *src = rt_ckpt_find(c, targets[i].name);
        if (src) memcpy(targets[i].data, src->data, (size_t)numel_of(src) * 4);
    }
    return loaded;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

bool rt_ckpt_load_summary(const rt_ckpt *c, const rt_tensor_ref *targets, int n, char *buf, size_t cap) {
    char got[300] = "", missing[300] = "", unused[300] = "";
    int ng = 0, mg = 0, nm = 0, mm = 0, nu = 0, mu = 0;
    const char **wanted = malloc((size_t)(n ? n : 1) * sizeof *wanted);
    for (int i = 0; i < n; i++) {
        if (wanted) wanted[i] = targets[i].name;
        if (rt_ckpt_find(c, targets[i].name)) list_name(got, sizeof got, &ng, &mg, targets[i].name);
        else list_name(missing, sizeof missing, &nm, &mm, targets[i].name);
    }
    if (wanted) {
        qsort(wanted, (size_t)n, sizeof *wanted, cmp_str);
        for (int i = 0; i < c->n; i++) {
            const char *name = c->by_name[i]->name;
            if (!is_state_name(name) && !bsearch(&name, wanted, (size_t)n, sizeof *wanted, cmp_str))
                list_name(unused, sizeof unused, &nu, &mu, name);
        }
    }
    free(wanted);
    buf[0] = 0;
    if (nm + mm == 0 && nu + mu == 0) return false;
    end_list(got, sizeof got, mg);
    end_list(missing, sizeof missing, mm);
    end_list(unused, sizeof unused, mu);
    size_t used = (size_t)snprintf(buf, cap, "%s: loaded %d of %d parameters (%s)", c->path, ng + mg,
                                   n, ng + mg ? got : "none");
    if (nm + mm && used < cap)
        used += (size_t)snprintf(buf + used, cap - used, "; not in the file, so as initialised: %s", missing);
    if (nu + mu && used < cap)
        snprintf(buf + used, cap - used, "; in the file but not parameters here: %s", unused);
    return true;
}

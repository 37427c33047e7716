#include "util.h"
#include <errno.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ArenaChunk {
    ArenaChunk *next;
    size_t used, size;
    _Alignas(16) unsigned char data[];
};

enum { ARENA_DEFAULT_CHUNK = 1 << 16 };

static size_t rounded(size_t size) { return (size + 15) & ~(size_t)15; }

/* rounded(size) bytes, 16-byte aligned, not zeroed */
static void *arena_take(Arena *a, size_t size) {
    size = rounded(size);
    ArenaChunk *c = a->head;
    if (!c || c->used + size > c->size) {
        size_t want = a->chunk_size ? a->chunk_size : ARENA_DEFAULT_CHUNK;
        if (want < size) want = size;
        c = malloc(sizeof(ArenaChunk) + want);
        if (!c) {
            fputs("rlc: out of memory\n", stderr);
            abort();
        }
        c->next = a->head;
        c->used = 0;
        c->size = want;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += size;
    return p;
}

void *arena_alloc(Arena *a, size_t size) { return memset(arena_take(a, size), 0, rounded(size)); }

/* Only the part past the old contents is zeroed: a vector doubling as it grows
 * (the IR's nodes) would otherwise write each new block twice. */
void *arena_realloc(Arena *a, void *old, size_t old_size, size_t new_size) {
    unsigned char *p = arena_take(a, new_size);
    size_t kept = old ? (old_size < new_size ? old_size : new_size) : 0;
    if (kept) memcpy(p, old, kept);
    memset(p + kept, 0, rounded(new_size) - kept);
    return p;
}

char *arena_strndup(Arena *a, const char *s, size_t n) {
    char *p = arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

char *arena_strdup(Arena *a, const char *s) { return arena_strndup(a, s, strlen(s)); }

char *arena_printf(Arena *a, const char *fmt, ...) {
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = arena_alloc(a, (size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return p;
}

void arena_free(Arena *a) {
    ArenaChunk *c = a->head;
    while (c) {
        ArenaChunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
}

static void sb_reserve(StrBuf *sb, size_t extra) {
    if (sb->len + extra + 1 <= sb->cap) return;
    size_t cap = sb->cap ? sb->cap : 256;
    while (cap < sb->len + extra + 1) cap *= 2;
    char *d = realloc(sb->data, cap);
    if (!d) {
        fputs("rlc: out of memory\n", stderr);
        abort();
    }
    sb->data = d;
    sb->cap = cap;
}

void sb_printf(StrBuf *sb, const char *fmt, ...) {
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    sb_reserve(sb, (size_t)n);
    vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    sb->len += (size_t)n;
}

void sb_puts(StrBuf *sb, const char *s) {
    size_t n = strlen(s);
    sb_reserve(sb, n);
    memcpy(sb->data + sb->len, s, n + 1);
    sb->len += n;
}

void sb_free(StrBuf *sb) {
    free(sb->data);
    *sb = (StrBuf){0};
}

char *read_file(Arena *a, const char *path, size_t *len_out) {
    return read_file_max(a, path, SIZE_MAX - 1, len_out);
}

char *read_file_max(Arena *a, const char *path, size_t max, size_t *len_out) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        /* checked as it reads: /dev/zero or a growing pipe never ends */
        if (len > max) {
            fclose(f);
            free(buf);
            errno = EFBIG;
            return NULL;
        }
        if (len + 1 == cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) { free(buf); buf = NULL; break; }
            buf = nb;
            cap *= 2;
        }
    }
    /* a directory opens but does not read (EISDIR): an error, not an empty file */
    int err = ferror(f) ? (errno ? errno : EIO) : 0;
    fclose(f);
    if (err) {
        free(buf);
        errno = err;
        return NULL;
    }
    if (!buf) return NULL;
    char *out = arena_strndup(a, buf, len);
    free(buf);
    if (len_out) *len_out = len;
    return out;
}

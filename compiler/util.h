/* util.h — memory and small containers shared by every compiler phase.
 *
 * The compiler allocates from one arena per compilation (STYLE.md §7): nodes,
 * strings and vectors live until the compilation ends and are freed at once.
 */
#ifndef RLC_UTIL_H
#define RLC_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

typedef struct ArenaChunk ArenaChunk;
typedef struct Arena {
    ArenaChunk *head;
    size_t chunk_size; /* 0 means the default; tests shrink it to shake out bugs */
} Arena;

void *arena_alloc(Arena *a, size_t size);          /* zeroed, 16-byte aligned; aborts on OOM */
void *arena_realloc(Arena *a, void *old, size_t old_size, size_t new_size);
char *arena_strdup(Arena *a, const char *s);
char *arena_strndup(Arena *a, const char *s, size_t n);
char *arena_printf(Arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void arena_free(Arena *a);

/* A growable array in an arena: `Vec(T) v = {0}; vec_push(arena, &v, x);` */
#define Vec(T) struct { T *items; int len, cap; }
#define vec_push(arena, v, x)                                                        \
    do {                                                                             \
        if ((v)->len == (v)->cap) {                                                  \
            int ncap_ = (v)->cap ? 2 * (v)->cap : 4;                                 \
            (v)->items = arena_realloc((arena), (v)->items,                          \
                                       sizeof(*(v)->items) * (size_t)(v)->cap,       \
                                       sizeof(*(v)->items) * (size_t)ncap_);         \
            (v)->cap = ncap_;                                                        \
        }                                                                            \
        (v)->items[(v)->len++] = (x);                                                \
    } while (0)

/* A growable heap string for building text output (dumps, messages). */
typedef struct StrBuf {
    char *data;
    size_t len, cap;
} StrBuf;
void sb_printf(StrBuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_puts(StrBuf *sb, const char *s);
void sb_free(StrBuf *sb);

/* Reads a whole file; NULL (and errno set) when it cannot. */
char *read_file(Arena *a, const char *path, size_t *len_out);
/* The same, but NULL with errno EFBIG as soon as more than max bytes have come. */
char *read_file_max(Arena *a, const char *path, size_t max, size_t *len_out);

#endif

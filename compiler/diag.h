/* diag.h — the one diagnostics sink (STYLE.md §6).
 *
 * Every phase reports through here: errors carry a span, collect in Diags, and
 * compilation goes on where it can. Nothing inside a phase prints or exits.
 * Rendering follows clang/rustc:
 *
 *   f.rl:12:9: error: shapes [B, 32] and [B, 64] do not broadcast
 *      12 |     z = a + b
 *         |         ^^^^^
 *   f.rl:3:1: note: `enc` declared here with [B, 32]
 */
#ifndef RLC_DIAG_H
#define RLC_DIAG_H

#include <stdio.h>
#include "util.h"

/* One loaded source file; spans point into it. */
typedef struct SrcFile {
    const char *path;    /* as given or resolved; printed in messages */
    const char *text;    /* whole contents, NUL-terminated */
    size_t len;
} SrcFile;

/* A source range: 1-based line and column of its first byte, and its length in bytes. */
typedef struct Span {
    const SrcFile *file; /* NULL for compiler-made nodes without a location */
    int line, col;
    int off, len;        /* byte offset into file->text and length */
} Span;

typedef enum { DIAG_ERROR, DIAG_WARNING, DIAG_NOTE } DiagLevel;

typedef struct Diag {
    DiagLevel level;
    Span span;
    char *msg;
} Diag;

typedef struct Diags {
    Arena *arena;
    Vec(Diag) items;
    int errors;
    int max_errors;      /* stop collecting after this many errors (0: 100) */
} Diags;

void diag_error(Diags *d, Span at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void diag_warning(Diags *d, Span at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A note attaches to the diagnostic reported just before it. */
void diag_note(Diags *d, Span at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Whether further errors are only counted, not kept (the cap is reached): a
 * phase may then skip work that only improves a message. */
bool diag_full(const Diags *d);

/* Renders every collected diagnostic, in order, with source line and caret. */
void diag_print(const Diags *d, FILE *out);
/* Span covering both a and b (same file; a first). */
Span span_join(Span a, Span b);

#endif

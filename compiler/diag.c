/* diag.c — collecting and rendering diagnostics (see diag.h).
 *
 * A diagnostic renders as its location and message, then the source line and
 * a caret line that underlines the whole span:
 *
 *   f.rl:12:9: error: shapes [B, 32] and [B, 64] do not broadcast
 *    12 |     z = a + b
 *       |         ^~~~~
 */
#include "diag.h"

#include <stdarg.h>
#include <string.h>

enum { DIAG_DEFAULT_MAX_ERRORS = 100, EXCERPT_MAX = 160, EXCERPT_BEFORE = 60 };

static int max_errors(const Diags *d) {
    return d->max_errors > 0 ? d->max_errors : DIAG_DEFAULT_MAX_ERRORS;
}

static void add(Diags *d, DiagLevel level, Span at, const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    char *msg = arena_alloc(d->arena, (size_t)n + 1);
    vsnprintf(msg, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    vec_push(d->arena, &d->items, ((Diag){level, at, msg}));
}

/* Errors past the cap are counted but not kept, and neither are their notes:
 * the first errors are the ones worth reading. */
void diag_error(Diags *d, Span at, const char *fmt, ...) {
    d->errors++;
    if (d->errors > max_errors(d)) return;
    va_list ap;
    va_start(ap, fmt);
    add(d, DIAG_ERROR, at, fmt, ap);
    va_end(ap);
}

void diag_warning(Diags *d, Span at, const char *fmt, ...) {
    if (d->errors > max_errors(d)) return;
    va_list ap;
    va_start(ap, fmt);
    add(d, DIAG_WARNING, at, fmt, ap);
    va_end(ap);
}

void diag_note(Diags *d, Span at, const char *fmt, ...) {
    if (d->errors > max_errors(d)) return;
    va_list ap;
    va_start(ap, fmt);
    add(d, DIAG_NOTE, at, fmt, ap);
    va_end(ap);
}

bool diag_full(const Diags *d) { return d->errors >= max_errors(d); }

Span span_join(Span a, Span b) {
    if (!a.file) return b;
    if (!b.file || b.file != a.file) return a;
    int end = b.off + b.len;
    if (a.off + a.len > end) end = a.off + a.len;
    a.len = end - a.off;
    return a;
}

static const char *level_name(DiagLevel l) {
    switch (l) {
    case DIAG_ERROR: return "error";
    case DIAG_WARNING: return "warning";
    case DIAG_NOTE: return "note";
    }
    return "error";
}

/* The source line under a diagnostic, and the caret line beneath it. The pad
 * copies tabs from the source and counts one column per UTF-8 character, so
 * the caret sits under the span in any terminal that renders the line. */
static void print_excerpt(const Span *s, FILE *out) {
    const SrcFile *f = s->file;
    size_t off = (size_t)s->off;
    if (off > f->len) off = f->len;
    size_t start = off;
    while (start > 0 && f->text[start - 1] != '\n') start--;
    size_t end = off;
    while (end < f->len && f->text[end] != '\n') end++;

    /* A long line (minified, binary, one huge expression) shows only a window
     * around the span, so one message stays one screen. */
    bool cut_left = false, cut_right = false;
    if (end - start > EXCERPT_MAX) {
        if (off > start + EXCERPT_BEFORE) {
            start = off - EXCERPT_BEFORE;
            while (start < off && ((unsigned char)f->text[start] & 0xC0) == 0x80) start++;
            cut_left = true;
        }
        if (end - start > EXCERPT_MAX) {
            end = start + EXCERPT_MAX > off ? start + EXCERPT_MAX : off;
            while (end > off && ((unsigned char)f->text[end] & 0xC0) == 0x80) end--;
            cut_right = true;
        }
    }

    int width = snprintf(NULL, 0, "%d", s->line);
    fprintf(out, " %d | %s", s->line, cut_left ? "..." : "");
    for (size_t i = start; i < end; i++) {
        unsigned char c = (unsigned char)f->text[i];
        /* NUL and other control bytes would garble the terminal. */
        fputc(c == '\t' || c >= 0x20 ? c : ' ', out);
    }
    fputs(cut_right ? "...\n" : "\n", out);

    fprintf(out, " %*s | %s", width, "", cut_left ? "   " : "");
    for (size_t i = start; i < off; i++) {
        unsigned char c = (unsigned char)f->text[i];
        if ((c & 0xC0) == 0x80) continue;
        fputc(c == '\t' ? '\t' : ' ', out);
    }
    size_t span_end = off + (s->len > 0 ? (size_t)s->len : 0);
    if (span_end > end) span_end = end;
    fputc('^', out);
    for (size_t i = off + 1; i < span_end; i++) {
        if (((unsigned char)f->text[i] & 0xC0) == 0x80) continue;
        fputc('~', out);
    }
    fputc('\n', out);
}

void diag_print(const Diags *d, FILE *out) {
    int shown = 0;
    for (int i = 0; i < d->items.len; i++) {
        const Diag *g = &d->items.items[i];
        if (g->level == DIAG_ERROR) shown++;
        if (g->span.file) {
            fprintf(out, "%s:%d:%d: %s: %s\n", g->span.file->path, g->span.line, g->span.col,
                    level_name(g->level), g->msg);
            print_excerpt(&g->span, out);
        } else {
            fprintf(out, "rlc: %s: %s\n", level_name(g->level), g->msg);
        }
    }
    if (d->errors > shown)
        fprintf(out, "rlc: %d more error%s not shown\n", d->errors - shown,
                d->errors - shown == 1 ? "" : "s");
}

/* Diagnostics: rendering of location, source line and the caret line. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"

/* Renders d into a heap string. */
static char *render(const Diags *d) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    diag_print(d, f);
    fclose(f);
    return buf;
}

static Span span(const SrcFile *f, int line, int col, int off, int len) {
    return (Span){f, line, col, off, len};
}

static void test_caret_underlines_whole_span(void **state) {
    Arena a = {0};
    Diags d = {.arena = &a};
    SrcFile f = {"t.rl", "x = 1\n    z = a + b\n", 0};
    f.len = strlen(f.text);
    diag_error(&d, span(&f, 2, 9, 14, 5), "shapes %s and %s do not broadcast", "[B, 32]", "[B, 64]");
    char *out = render(&d);
    assert_string_equal(out,
        "t.rl:2:9: error: shapes [B, 32] and [B, 64] do not broadcast\n"
        " 2 |     z = a + b\n"
        "   |         ^~~~~\n");
    assert_int_equal(d.errors, 1);
    free(out);
    arena_free(&a);
}

static void test_tabs_kept_and_span_clipped_at_line_end(void **state) {
    Arena a = {0};
    Diags d = {.arena = &a};
    SrcFile f = {"t.rl", "\tab cd\nnext\n", 0};
    f.len = strlen(f.text);
    diag_error(&d, span(&f, 1, 5, 4, 40), "long");
    diag_note(&d, span(&f, 2, 1, 7, 0), "here");
    char *out = render(&d);
    assert_string_equal(out,
        "t.rl:1:5: error: long\n"
        " 1 | \tab cd\n"
        "   | \t   ^~\n"
        "t.rl:2:1: note: here\n"
        " 2 | next\n"
        "   | ^\n");
    free(out);
    arena_free(&a);
}

/* A 10,000-byte line shows a window: 60 bytes before the span, 160 in all,
 * marked `...` where cut, the caret still under the span. */
static void test_long_line_shows_a_window(void **state) {
    Arena a = {0};
    Diags d = {.arena = &a};
    char *text = malloc(10002);
    memset(text, 'a', 10000);
    memcpy(text + 5000, "BAD", 3);
    text[10000] = '\n';
    text[10001] = '\0';
    SrcFile f = {"t.rl", text, 10001};
    diag_error(&d, span(&f, 1, 5001, 5000, 3), "bad");
    char *out = render(&d);
    char want[1024];
    snprintf(want, sizeof want, "t.rl:1:5001: error: bad\n 1 | ...%.60s%s%.97s...\n   |    %60s^~~\n",
             text, "BAD", text, "");
    assert_string_equal(out, want);
    free(out);
    free(text);
    arena_free(&a);
}

static void test_error_cap_counts_but_drops(void **state) {
    Arena a = {0};
    Diags d = {.arena = &a, .max_errors = 2};
    SrcFile f = {"t.rl", "a\n", 2};
    for (int i = 0; i < 5; i++) diag_error(&d, span(&f, 1, 1, 0, 1), "e%d", i);
    assert_int_equal(d.errors, 5);
    assert_int_equal(d.items.len, 2);
    char *out = render(&d);
    assert_non_null(strstr(out, "3 more errors not shown"));
    free(out);
    arena_free(&a);
}

static void test_no_location_and_eof(void **state) {
    Arena a = {0};
    Diags d = {.arena = &a};
    SrcFile f = {"t.rl", "abc", 3};
    diag_error(&d, (Span){0}, "cannot read");
    diag_error(&d, span(&f, 1, 4, 3, 0), "at end");
    char *out = render(&d);
    assert_string_equal(out,
        "rlc: error: cannot read\n"
        "t.rl:1:4: error: at end\n"
        " 1 | abc\n"
        "   |    ^\n");
    free(out);
    arena_free(&a);
}

static void test_span_join(void **state) {
    SrcFile f = {"t.rl", "abcdefgh", 8};
    Span j = span_join(span(&f, 1, 2, 1, 2), span(&f, 1, 6, 5, 3));
    assert_int_equal(j.off, 1);
    assert_int_equal(j.len, 7);
    assert_int_equal(j.col, 2);
    Span k = span_join((Span){0}, span(&f, 1, 6, 5, 3));
    assert_int_equal(k.off, 5);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_caret_underlines_whole_span),
        cmocka_unit_test(test_tabs_kept_and_span_clipped_at_line_end),
        cmocka_unit_test(test_long_line_shows_a_window),
        cmocka_unit_test(test_error_cap_counts_but_drops),
        cmocka_unit_test(test_no_location_and_eof),
        cmocka_unit_test(test_span_join),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

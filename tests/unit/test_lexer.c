/* Lexer: token kinds, values and locations; errors that do not stop the scan. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "parser.h"

typedef struct Lexed {
    int kind[64];
    YYSTYPE val[64];
    Span loc[64];
    int n;
} Lexed;

/* Scans text to the end of file (at most 64 tokens). */
static int lex_all(Arena *a, Diags *d, const char *text, size_t len, Lexed *out) {
    SrcFile *f = arena_alloc(a, sizeof *f);
    f->path = "t.rl";
    f->text = text;
    f->len = len;
    LexState ls = {.arena = a, .diags = d, .file = f};
    void *scanner = lex_open(&ls);
    assert_non_null(scanner);
    out->n = 0;
    for (;;) {
        int i = out->n < 63 ? out->n++ : 63;
        out->kind[i] = rlx_lex(&out->val[i], &out->loc[i], scanner);
        if (out->kind[i] == YYEOF) break;
    }
    lex_close(scanner);
    return out->n;
}

static void test_tokens_and_locations(void **state) {
    Arena a = {0};
    Diags d = {.arena = &a};
    Lexed t;
    const char *src = "use std.nn # comment\n  x: [..., 2] -> f(a)  == != <= >= @ ^\n";
    lex_all(&a, &d, src, strlen(src), &t);
    int want[] = {USE, NAME, '.', NAME, NAME, ':', '[', ELLIPSIS, ',', NUMBER, ']', ARROW, NAME,
                  CALL_LPAREN, NAME, ')', EQ, NE, LE, GE, '@', '^', YYEOF};
    assert_int_equal(t.n, (int)(sizeof want / sizeof want[0]));
    for (int i = 0; i < t.n; i++) assert_int_equal(t.kind[i], want[i]);
    assert_string_equal(t.val[1].str, "std");
    /* `x` on line 2, column 3, byte 23. */
    assert_int_equal(t.loc[4].line, 2);
    assert_int_equal(t.loc[4].col, 3);
    assert_int_equal(t.loc[4].off, 23);
    assert_int_equal(t.loc[7].len, 3);
    assert_int_equal(t.loc[9].col, 12);
    assert_int_equal(d.errors, 0);
    arena_free(&a);
}

static void test_numbers(void **state) {
    Arena a = {0};
    Diags d = {.arena = &a};
    Lexed t;
    const char *src = "12 0.5 1e-3 .5 2.5E+2";
    lex_all(&a, &d, src, strlen(src), &t);
    double want[] = {12, 0.5, 1e-3, 0.5, 250};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(t.kind[i], NUMBER);
        assert_true(t.val[i].num == want[i]);
    }
    assert_int_equal(t.loc[3].len, 2);
    assert_int_equal(d.errors, 0);
    arena_free(&a);
}

static void test_strings_and_keywords(void **state) {
    Arena a = {0};
    Diags d = {.arena = &a};
    Lexed t;
    const char *src = "\"a\\\"b\\\\c\" loss data true param";
    lex_all(&a, &d, src, strlen(src), &t);
    assert_int_equal(t.kind[0], STRING);
    assert_string_equal(t.val[0].str, "a\"b\\c");
    assert_int_equal(t.kind[1], LOSS);
    assert_string_equal(t.val[1].str, "loss");
    assert_int_equal(t.kind[2], NAME);
    assert_int_equal(t.kind[3], TRUE);
    assert_int_equal(t.kind[4], PARAM);
    assert_int_equal(d.errors, 0);
    arena_free(&a);
}

/* `(` after a name on the same line is a call; on the next line it is not. */
static void test_call_paren_needs_same_line(void **state) {
    Arena a = {0};
    Diags d = {.arena = &a};
    Lexed t;
    const char *src = "f (x)\ng\n(u) [a](b) (c)";
    lex_all(&a, &d, src, strlen(src), &t);
    assert_int_equal(t.kind[1], CALL_LPAREN);
    assert_int_equal(t.kind[5], '(');
    assert_int_equal(t.kind[11], CALL_LPAREN);
    assert_int_equal(t.kind[14], CALL_LPAREN);
    arena_free(&a);
}

static void test_errors_do_not_stop_the_scan(void **state) {
    Arena a = {0};
    Diags d = {.arena = &a};
    Lexed t;
    const char *src = "a $$ b \"open\nc";
    lex_all(&a, &d, src, strlen(src), &t);
    /* One error for the run of stray characters, one for the string. */
    assert_int_equal(d.errors, 2);
    assert_int_equal(d.items.items[0].span.col, 3);
    assert_non_null(strstr(d.items.items[0].msg, "unexpected character '$'"));
    assert_non_null(strstr(d.items.items[1].msg, "unterminated string"));
    assert_int_equal(d.items.items[1].span.col, 8);
    int want[] = {NAME, NAME, STRING, NAME, YYEOF};
    assert_int_equal(t.n, 5);
    for (int i = 0; i < 5; i++) assert_int_equal(t.kind[i], want[i]);
    arena_free(&a);
}

static void test_nul_bytes(void **state) {
    Arena a = {0};
    Diags d = {.arena = &a};
    Lexed t;
    const char src[] = {'a', 0, 'b', '\n', 0};
    lex_all(&a, &d, src, 4, &t);
    assert_int_equal(d.errors, 1);
    assert_non_null(strstr(d.items.items[0].msg, "0x00"));
    assert_int_equal(t.kind[0], NAME);
    assert_int_equal(t.kind[1], NAME);
    assert_int_equal(t.kind[2], YYEOF);
    arena_free(&a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokens_and_locations),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_strings_and_keywords),
        cmocka_unit_test(test_call_paren_needs_same_line),
        cmocka_unit_test(test_errors_do_not_stop_the_scan),
        cmocka_unit_test(test_nul_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

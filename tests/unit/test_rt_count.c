/* rt_parse_count, the parser of every command-line count: the bounds are
 * inclusive, nothing wraps (the digit loop stops at the first digit that would
 * pass 2^64 - 1), and each class of bad text gets its own reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "rlrt.h"

static void test_bounds_are_inclusive(void **state) {
    (void)state;
    uint64_t v = 0;
    rt_error err = {0};
    assert_true(rt_parse_count("--threads", "1", 1, RT_MAX_THREADS, &v, &err));
    assert_int_equal(v, 1);
    assert_true(rt_parse_count("--threads", "1024", 1, RT_MAX_THREADS, &v, &err));
    assert_int_equal(v, 1024);
    assert_true(rt_parse_count("--steps", "9007199254740992", 1, RT_MAX_COUNT, &v, &err));
    assert_true(v == RT_MAX_COUNT);
    assert_true(rt_parse_count("--seed", "18446744073709551615", 0, UINT64_MAX, &v, &err));
    assert_true(v == UINT64_MAX);
    assert_true(rt_parse_count("--seed", "0", 0, UINT64_MAX, &v, &err));
    assert_int_equal(v, 0);
    assert_false(err.failed);
}

/* The reason in the message, and out untouched, for each bad value. */
static void expect_refused(const char *s, uint64_t min, uint64_t max, const char *message) {
    uint64_t v = 77;
    rt_error err = {0};
    assert_false(rt_parse_count("--opt", s, min, max, &v, &err));
    assert_int_equal(v, 77);
    assert_string_equal(err.msg, message);
}

static void test_each_class_of_bad_value(void **state) {
    (void)state;
    expect_refused("18446744073709551616", 0, UINT64_MAX,
                   "--opt needs a whole number from 0 to 18446744073709551615, not '18446744073709551616' (too large)");
    expect_refused("99999999999999999999999", 1, 10, "--opt needs a whole number from 1 to 10, not '99999999999999999999999' (too large)");
    expect_refused("11", 1, 10, "--opt needs a whole number from 1 to 10, not '11' (too large)");
    expect_refused("0", 1, 10, "--opt needs a whole number from 1 to 10, not '0' (too small)");
    expect_refused("-1", 0, 10, "--opt needs a whole number from 0 to 10, not '-1' (negative)");
    expect_refused("+1", 0, 10, "--opt needs a whole number from 0 to 10, not '+1' (not a number)");
    expect_refused(" 1", 0, 10, "--opt needs a whole number from 0 to 10, not ' 1' (not a number)");
    expect_refused("1e3", 0, 10000, "--opt needs a whole number from 0 to 10000, not '1e3' (text after the number)");
    expect_refused("0x10", 0, 100, "--opt needs a whole number from 0 to 100, not '0x10' (text after the number)");
    expect_refused("", 0, 10, "--opt needs a whole number from 0 to 10, not '' (empty)");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounds_are_inclusive),
        cmocka_unit_test(test_each_class_of_bad_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

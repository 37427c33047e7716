/* rt_alloc_big (bigmem.c): small buffers 64-byte aligned, large ones aligned to 2 MiB and
 * advised onto transparent huge pages (the kernel's VmFlags for the mapping say `hg`),
 * zeroed when asked, every byte writable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rlrt.h"

static void check_zero_and_writable(unsigned char *p, size_t bytes) {
    for (size_t i = 0; i < bytes; i++) assert_int_equal(p[i], 0);
    memset(p, 0xA5, bytes);
    assert_int_equal(p[bytes - 1], 0xA5);
}

static void test_small_buffer(void **state) {
    (void)state;
    unsigned char *p = rt_alloc_big(1000, true);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % 64, 0);
    check_zero_and_writable(p, 1000);
    free(p);
}

/* The VmFlags line of the mapping that holds p in /proc/self/smaps ("" when not found). */
static void vm_flags_of(const void *p, char *flags, size_t cap) {
    flags[0] = '\0';
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) return;
    char line[512];
    bool inside = false;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            inside = (uintptr_t)p >= lo && (uintptr_t)p < hi;
        } else if (inside && strncmp(line, "VmFlags:", 8) == 0) {
            snprintf(flags, cap, "%s", line + 8);
            break;
        }
    }
    fclose(f);
}

static void test_large_buffer_on_huge_pages(void **state) {
    (void)state;
    size_t bytes = (5u << 20) + 3;
    unsigned char *p = rt_alloc_big(bytes, true);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % (2u << 20), 0);
    check_zero_and_writable(p, bytes);
    /* A kernel built with transparent huge pages has this file and takes the advice. */
    if (access("/sys/kernel/mm/transparent_hugepage/enabled", F_OK) == 0) {
        char flags[512];
        vm_flags_of(p, flags, sizeof flags);
        assert_non_null(strstr(flags, " hg"));
    }
    free(p);
    unsigned char *q = rt_alloc_big(3u << 20, false);
    assert_non_null(q);
    assert_int_equal((uintptr_t)q % (2u << 20), 0);
    q[(3u << 20) - 1] = 1;
    free(q);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_buffer),
        cmocka_unit_test(test_large_buffer_on_huge_pages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* count.c — the whole numbers of a command line (`rlc` and a trainer from
 * `rlc build`): one parser, so both say the same thing about the same mistake.
 * strtoull alone would accept "-3" (as 2^64 - 3), " 7", and saturate on
 * overflow; here a count is digits only, checked against its bounds digit by
 * digit so no value wraps. */
#include "rlrt.h"

#include <inttypes.h>

bool rt_parse_count(const char *option, const char *s, uint64_t min, uint64_t max, uint64_t *out,
                    rt_error *err) {
    const char *why = NULL;
    uint64_t v = 0;
    if (!*s) {
        why = "empty";
    } else if (*s == '-') {
        why = "negative";
    } else if (*s < '0' || *s > '9') {
        why = "not a number";
    } else {
        const char *p = s;
        for (; *p >= '0' && *p <= '9'; p++) {
            uint64_t digit = (uint64_t)(*p - '0');
            if (v > (UINT64_MAX - digit) / 10) {
                why = "too large";
                break;
            }
            v = v * 10 + digit;
        }
        if (!why && *p) why = "text after the number";
        else if (!why && v > max) why = "too large";
        else if (!why && v < min) why = "too small";
    }
    if (why) {
        rt_fail(err, "%s needs a whole number from %" PRIu64 " to %" PRIu64 ", not '%s' (%s)", option, min, max,
                s, why);
        return false;
    }
    *out = v;
    return true;
}

/* einsum.c — parsing an einsum spec: two operand terms, `->`, the output term. */
#include "einsum.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

int einsum_axis(const EinsumSpec *s, int t, char letter) {
    for (int i = 0; i < s->rank[t]; i++)
        if (s->letter[t][i] == letter) return i;
    return -1;
}

bool einsum_parse(const char *spec, EinsumSpec *out, char *why, size_t cap) {
    static const char *const shape = "two operands' letters, `->` and the result's letters, as in \"ij,jk->ik\"";
    memset(out, 0, sizeof *out);
    const char *arrow = strstr(spec, "->"), *comma = strchr(spec, ',');
    if (!arrow || !comma || comma > arrow || strchr(comma + 1, ',') || strstr(arrow + 2, "->")) {
        snprintf(why, cap, "einsum spec \"%s\" is not %s", spec, shape);
        return false;
    }
    const char *start[3] = {spec, comma + 1, arrow + 2}, *end[3] = {comma, arrow, spec + strlen(spec)};
    static const char *const term[3] = {"the first operand", "the second operand", "the result"};
    for (int t = 0; t < 3; t++) {
        for (const char *p = start[t]; p < end[t]; p++) {
            if (!isalpha((unsigned char)*p)) {
                snprintf(why, cap, "einsum spec \"%s\": `%c` is not a letter (%s; `...` is not supported)", spec,
                         *p, shape);
                return false;
            }
            if (einsum_axis(out, t, *p) >= 0) {
                snprintf(why, cap, "einsum spec \"%s\": `%c` names two axes of %s (traces and diagonals are not "
                         "supported)", spec, *p, term[t]);
                return false;
            }
            if (out->rank[t] == EINSUM_MAX_AXES) {
                snprintf(why, cap, "einsum spec \"%s\": %s has more than %d axes", spec, term[t], EINSUM_MAX_AXES);
                return false;
            }
            out->letter[t][out->rank[t]++] = *p;
        }
        if (t < 2 && out->rank[t] == 0) {
            snprintf(why, cap, "einsum spec \"%s\": %s has no letters (%s)", spec, term[t], shape);
            return false;
        }
    }
    for (int i = 0; i < out->rank[2]; i++) {
        char l = out->letter[2][i];
        if (einsum_axis(out, 0, l) < 0 && einsum_axis(out, 1, l) < 0) {
            snprintf(why, cap, "einsum spec \"%s\": the result's `%c` is in neither operand", spec, l);
            return false;
        }
    }
    return true;
}

/* einsum.h — the spec of `einsum("bhtd,bhsd->bhts", a, b)` (rl-language.md §8.1),
 * parsed once by the checker (its errors) and again by lowering (its plan). */
#ifndef RLC_EINSUM_H
#define RLC_EINSUM_H

#include <stdbool.h>
#include <stddef.h>

enum { EINSUM_MAX_AXES = 6 };   /* IR_MAX_RANK: an operand or the result has at most this many */

/* The letters of the two operands (0, 1) and of the output (2), one per axis. */
typedef struct EinsumSpec {
    int rank[3];
    char letter[3][EINSUM_MAX_AXES];
} EinsumSpec;

/* Parses "ab,bc->ac" (ASCII letters, no spaces, no `...`, no letter twice in one
 * term, every output letter in an operand); false with a message in why. */
bool einsum_parse(const char *spec, EinsumSpec *out, char *why, size_t cap);

/* The axis of `letter` in term t, or -1. */
int einsum_axis(const EinsumSpec *s, int t, char letter);

#endif

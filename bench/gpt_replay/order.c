/* order.c SEED N EPOCH — the example order of a train stage's epoch, one index a line: the
 * permutation rt_dataset_begin_epoch draws (runtime/dataset.c), through the runtime's own
 * generator, so another trainer can read rlc's batches in rlc's order. */
#include <stdio.h>
#include <stdlib.h>

#include "rlrt.h"

#define STREAM_SHUFFLE 0x5348554646ull /* runtime/dataset.c's stream for the epoch order */

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: order SEED N EPOCH\n");
        return 2;
    }
    uint64_t seed = strtoull(argv[1], NULL, 10);
    int64_t n = atoll(argv[2]), epoch = atoll(argv[3]);
    int64_t *order = malloc((size_t)(n > 0 ? n : 1) * sizeof *order);
    if (n <= 0 || !order) {
        fprintf(stderr, "order: N must be positive and fit in memory\n");
        return 2;
    }
    for (int64_t i = 0; i < n; i++) order[i] = i;
    rt_rng r;
    rt_rng_init(&r, seed, STREAM_SHUFFLE, (uint64_t)epoch);
    rt_rng_shuffle(&r, order, n);
    for (int64_t i = 0; i < n; i++) printf("%lld\n", (long long)order[i]);
    free(order);
    return 0;
}

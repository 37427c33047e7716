/* fuzz_safetensors.c — libFuzzer harness for the parameter-file reader
 * (runtime/ckpt.c): the input is a `.rlw` (safetensors) file. A file the reader
 * accepts is used as `load:` uses it: every tensor's values read, the metadata
 * and each name looked up, and rt_ckpt_load_into run twice, once into targets of
 * the file's own shapes (all copied) and once with a shape that disagrees (an
 * error, nothing copied). The reader may refuse the input with an error; it must
 * not crash, hang, leak or read out of bounds. */
#include <stdlib.h>

#include "fuzz_util.h"
#include "rlrt.h"

static int64_t numel(const rt_tensor_ref *t) {
    int64_t n = 1;
    for (int d = 0; d < t->rank; d++) n *= t->dims[d];
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rt_error err = {0};
    rt_ckpt *c = rt_ckpt_read(fuzz_write("params.rlw", data, size), &err);
    if (!c) return 0;
    rt_ckpt_meta(c, "format");
    int n = rt_ckpt_count(c);
    rt_tensor_ref *targets = calloc((size_t)n + 1, sizeof *targets);
    volatile float sink = 0;
    for (int i = 0; i < n; i++) {
        const rt_tensor_ref *t = rt_ckpt_tensor(c, i);
        if (rt_ckpt_find(c, t->name) == NULL) abort(); /* every tensor is found by its name */
        for (int64_t k = 0; k < numel(t); k++) sink += t->data[k]; /* as floats, as the trainer reads them */
        targets[i] = *t;
        targets[i].data = malloc((size_t)numel(t) * 4 + 1);
    }
    int copied = rt_ckpt_load_into(c, targets, n, &err);
    if (copied < 0 || (n > 0 && copied == 0)) abort(); /* its own shapes always fit */
    if (n > 0) {
        rt_tensor_ref wrong = targets[0];
        wrong.rank = wrong.rank < RT_MAX_RANK ? wrong.rank + 1 : 1;
        wrong.dims[wrong.rank - 1] = 3;
        rt_error e2 = {0};
        if (rt_ckpt_load_into(c, &wrong, 1, &e2) != -1 || !e2.failed) abort();
    }
    for (int i = 0; i < n; i++) free(targets[i].data);
    free(targets);
    rt_ckpt_free(c);
    (void)sink;
    return 0;
}

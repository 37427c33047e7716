/* fuzz_frontend.c — libFuzzer harness for the front end: any bytes as a `.rl`
 * file through parse, resolve and check (driver_front), then lowering with
 * autodiff and simplify (lower_program, dataset properties = small numbers, no
 * data read) and fusion (fuse_plan). Besides crashes, hangs and sanitizer
 * reports, it aborts when the compiler breaks its own rules (as
 * tests/unit/test_fuzz_pipeline.c checks them): an error without a span inside
 * its file, an "internal error", lowering that fails with no error, a graph that
 * fails ir_verify. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "fuzz_util.h"
#include "kernel.h"
#include "lower.h"

static void broken(const char *what, const char *detail) {
    fprintf(stderr, "fuzz_frontend: %s: %s\n", what, detail ? detail : "");
    abort();
}

static void check_diags(const Diags *d) {
    for (int i = 0; i < d->items.len; i++) {
        const Diag *g = &d->items.items[i];
        /* the compiler's own phrasing, at the start: a message may quote the input */
        if (strncmp(g->msg, "internal error", 14) == 0) broken("an internal error", g->msg);
        const SrcFile *f = g->span.file;
        if (!f) {
            if (g->level == DIAG_ERROR) broken("an error without a span", g->msg);
            continue;
        }
        if (g->span.off < 0 || g->span.len < 0 || (size_t)g->span.off + (size_t)g->span.len > f->len)
            broken("a span outside its file", g->msg);
    }
}

static void check_graph(const IrGraph *g) {
    if (!g) return;
    StrBuf why = {0};
    if (!ir_verify(g, &why)) broken("a graph that does not verify", why.data);
    sb_free(&why);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write("prog.rl", data, size);
    Compilation c;
    driver_init(&c);
    bool ok = driver_front(&c, path);
    check_diags(&c.diags);
    if (ok) {
        LowerOptions o = {.small_dims = 6, .batch = 4};
        IrProgram *ir = lower_program(&c.program, &c.diags, &o);
        check_diags(&c.diags);
        if (!ir && c.diags.errors == 0) broken("lowering failed without an error", NULL);
        for (int i = 0; ir && i < ir->stages.len; i++) {
            const IrStage *s = &ir->stages.items[i];
            check_graph(s->forward);
            check_graph(s->raw);
            check_graph(s->graph);
            StrBuf why = {0};
            fuse_plan(&c.arena, s->graph, &why); /* NULL is a limit said in words, not a fault */
            sb_free(&why);
        }
    }
    driver_free(&c);
    return 0;
}

/* driver.c — the pipeline, phase by phase:
 *
 *   parse (parser.y) -> resolve/check (sema) -> lower -> autodiff -> simplify
 *   -> fuse -> codegen -> jit/aot
 *
 * Each command runs the phases it needs and prints what they collected.
 */
#include "driver.h"

#include <string.h>

void driver_init(Compilation *c) {
    memset(c, 0, sizeof *c);
    c->diags.arena = &c->arena;
    c->program.arena = &c->arena;
    c->program.diags = &c->diags;
}

void driver_free(Compilation *c) {
    arena_free(&c->arena);
}

bool driver_parse(Compilation *c, const char *path) {
    const SrcFile *file = ast_load_file(&c->arena, &c->diags, path, (Span){0});
    if (!file) return false;
    int before = c->diags.errors;
    Module *m = ast_parse_file(&c->arena, &c->diags, file, "main");
    vec_push(&c->arena, &c->program.modules, m);
    return c->diags.errors == before;
}

bool driver_front(Compilation *c, const char *path) {
    if (!driver_parse(c, path)) return false;
    /* The semantic phases (resolve, check) run here. */
    return c->diags.errors == 0;
}

int driver_check(const char *const *paths, int npaths, FILE *err) {
    int status = 0;
    for (int i = 0; i < npaths; i++) {
        Compilation c;
        driver_init(&c);
        if (!driver_front(&c, paths[i])) status = 1;
        diag_print(&c.diags, err);
        driver_free(&c);
    }
    return status;
}

int driver_dump_ast(const char *path, FILE *out, FILE *err) {
    Compilation c;
    driver_init(&c);
    bool ok = driver_parse(&c, path);
    diag_print(&c.diags, err);
    if (ok) {
        StrBuf sb = {0};
        ast_dump(&c.program, &sb);
        if (sb.data) fputs(sb.data, out);
        sb_free(&sb);
    }
    driver_free(&c);
    return ok ? 0 : 1;
}

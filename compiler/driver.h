/* driver.h — the pipeline the `rlc` commands run (main.c parses the command
 * line; everything between reading the files and printing lives here). */
#ifndef RLC_DRIVER_H
#define RLC_DRIVER_H

#include <stdio.h>
#include "ast.h"

/* One compilation: its arena, its diagnostics, and the program built so far. */
typedef struct Compilation {
    Arena arena;
    Diags diags;
    Program program;
} Compilation;

void driver_init(Compilation *c);
void driver_free(Compilation *c);

/* Reads and parses `path` as the main module. False on any error. */
bool driver_parse(Compilation *c, const char *path);
/* The front end: parse, then the semantic phases. False on any error. */
bool driver_front(Compilation *c, const char *path);

/* `rlc check FILE...`: each file through the front end, diagnostics to err.
 * Returns the exit status: 0 clean, 1 on any error. */
int driver_check(const char *const *paths, int npaths, FILE *err);
/* `rlc dump FILE --ast`: the parsed tree to out, diagnostics to err. */
int driver_dump_ast(const char *path, FILE *out, FILE *err);

#endif

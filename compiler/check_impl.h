/* check_impl.h — what the checker's files (check.c: expressions, bodies and
 * calls; check_builtin.c: built-in functions; check_stage.c: stage settings and
 * datasets) share privately. */
#ifndef RLC_CHECK_IMPL_H
#define RLC_CHECK_IMPL_H

#include "sema_impl.h"

/* ------------------------------------------------------------- checker */

typedef struct Checker {
    Program *p;
    Arena *a;
    Diags *d;
    Item *fn;                    /* the function or stage being checked */
    Span *local_spans;           /* where each local of fn was bound */
} Checker;

/* Integers beyond this are not dims (and would overflow a long when multiplied). */
#define DIM_LIMIT 1e15

/* check.c */
Type *check_expr(Checker *c, Expr *e);
Type *value_of(Checker *c, Expr *e);
void check_body(Checker *c, Item *it);
const char *ty(Checker *c, const Type *t);
const char *span_text(Checker *c, Span s);
Type *with_value(Type *t, double v);
bool is_int_value(const Type *t, long *out);
void note_origin(Checker *c, const Expr *e);
Type *eval_type(Checker *c, Item *owner, TypeExpr *te);
bool same_type(const Type *x, const Type *y);

/* check_builtin.c */
Type *copy_type(Checker *c, const Type *t);
Type *check_builtin(Checker *c, Expr *e, const Builtin *b);
Type *binary_shape(Checker *c, Expr *at, const Type *x, const Type *y, const char *what);
DType join_dtype(const Type *x, const Type *y);

/* check_stage.c */
void check_stage(Checker *c, Item *st);

#endif

/* sema_impl.h — what resolve.c and check.c share privately: the per-item
 * annotations (Item.sema) that are not part of the AST boundary. */
#ifndef RLC_SEMA_IMPL_H
#define RLC_SEMA_IMPL_H

#include "sema.h"

/* A field of a dataset as one example sees it (no batch axis). */
typedef struct DataField {
    const char *name;
    Type *type;
    Span span;
} DataField;

/* A property of a dataset usable as a dim (`brown.vocab`). */
typedef struct DataProp {
    const char *name;
    DimSym *sym;
} DataProp;

struct SemaItem {
    int state;                   /* DFS colour for const folding and recursion: 0, 1 active, 2 done */
    Vec(DimSym *) dims;          /* ITEM_FUNC: parallel to Item.dim_names */
    DimSym *batch;               /* ITEM_STAGE: its `B` */
    Vec(Item *) callees;         /* ITEM_FUNC/STAGE: functions called in the body, with where */
    Vec(Span) call_spans;

    /* check */
    int check_state;             /* 0 not yet, 1 checking, 2 done; 3 failed (a const from a dataset property) */
    int body_state;              /* ITEM_FUNC: 0 not yet, 1 checking, 2 done */
    Type **param_types;          /* per Param; hypers are weak f32 scalars, int args scalars */
    Type **result_types;         /* per declared result */
    Type **locals;               /* per REF_LOCAL slot */
    bool ell_used;               /* the signature has a `...` */
    Span random_at, param_at;    /* first direct use of randomness / `param`, when has_* */
    bool has_random, has_param;
    int reach_random, reach_param; /* through calls: 0 unknown, 1 no, 2 yes */
    Vec(Expr *) calls;           /* ITEM_FUNC encoder/decoder: its checked call sites */
    Vec(DataField) fields;       /* ITEM_DATASET */
    Vec(DataProp) props;         /* ITEM_DATASET */
    const char *source;          /* ITEM_DATASET: the outer source name (`skipgram`, `csv`, ...) */
    Vec(DimSym *) quots;         /* ITEM_FUNC/STAGE: its SYM_QUOT symbols, in the order made */
};

/* The resolver creates symbols; check reads and adds (dataset properties, batches). */
DimSym *sema_new_sym(Arena *a, DimSymKind kind, const char *name, Item *owner, int slot);
struct SemaItem *sema_item(Arena *a, Item *it);

/* Edit distance for "did you mean" (capped; returns > cap when farther). */
int sema_edit_distance(const char *a, const char *b, int cap);

/* Computes a dataset's fields and properties (check.c; resolve calls it so that
 * stage bodies can bind field names). */
void sema_dataset_fields(Program *p, Item *ds);

/* check_dims.c. *out = num / den (exact) or num // den (floor_div): folded when
 * known, else the owner's quotient symbol (soft: made by an expression's `/`,
 * which may be a real division); false with an error at `at` (a zero divisor,
 * a remainder of `/`). */
bool sema_dim_div(Arena *a, Diags *d, Item *owner, Dim *out, const Dim *num, const Dim *den, bool floor_div,
                  bool soft, Span at);
/* A dim that sizes an axis (a shape argument): its soft quotients must be exact,
 * so they are checked at every call like a signature's. */
void sema_dim_used_as_size(Item *owner, const Dim *d);
/* Binds the callee's quotient symbols in env from the call's other bindings;
 * false after an error (a remainder of `/` at the call, with a note at the `/`). */
bool sema_bind_quotients(Arena *a, Diags *d, Item *callee, Item *caller, DimEnv *env, Span call);

/* check_image.c: the result type of an image built-in call whose arguments are
 * all checked (error type after a reported error). */
Type *sema_check_image(Arena *a, Diags *d, Item *fn, Expr *call, BuiltinId id);

/* Source names accepted in datasets and setting names/optimizers in stages. */
bool sema_is_source_name(const char *name);
/* Initializer names of `param` (glorot, he, zeros, ones, normal, uniform). */
bool sema_is_init_name(const char *name);

#endif

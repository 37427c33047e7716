/* sema.h — the semantic half of the front end: resolve (names, uses, consts,
 * recursion) and check (dtypes and shapes of every expression).
 *
 * Sections: dims (symbolic integers), types, the built-in function table, the
 * phase entry points. Lowering (lower.c) reads Expr.type, Expr.ref/.item/.builtin
 * and the call bindings below; it never changes them.
 */
#ifndef RLC_SEMA_H
#define RLC_SEMA_H

#include "ast.h"

/* ------------------------------------------------------------------ dims */

/* A symbol a dim may mention: a size variable, `int` argument or hyper-parameter of
 * one function (`B`, `n`, `stride`), a stage's batch size `B`, a dataset property
 * (`brown.vocab`), or a quotient `num / den`, `num // den` that is not known yet
 * (check_dims.c: it gets its value where the owner is called). */
typedef enum { SYM_VAR, SYM_INT_ARG, SYM_BATCH, SYM_PROP, SYM_HYPER, SYM_QUOT } DimSymKind;

typedef struct Dim Dim;
typedef struct DimSym {
    DimSymKind kind;
    const char *name;        /* as printed: "B", "n", "brown.vocab" */
    int id;                  /* unique in the compilation: orders terms canonically */
    Item *owner;             /* the function or stage (VAR/INT_ARG/BATCH), the dataset (PROP) */
    int slot;                /* VAR/INT_ARG/HYPER: index in owner->dim_names (REF_DIM's slot) */
    const Dim *num, *den;    /* QUOT: the quotient's operands, in the owner's symbols */
    bool floor_div;          /* QUOT: `//` (else `/`, exact) */
    bool soft;               /* QUOT: an expression's `/` of dims, maybe a real division: unbound
                              * (not an error) where it is not exact */
    Span at;                 /* QUOT: the `/` or `//` (or the call) that made it */
} DimSym;

enum { DIM_MAX_TERMS = 8, DIM_MAX_VARS = 6 };

/* coef * vars[0] * vars[1] * ...; vars sorted by id. */
typedef struct DimTerm {
    long coef;
    int nvars;
    const DimSym *vars[DIM_MAX_VARS];
} DimTerm;

/* A dim in canonical polynomial form: a sum of terms with distinct var lists,
 * sorted, no zero coefficients. Equal dims have equal forms, so `2*B` and
 * `B+B` compare equal. A constant has nterms == 0 (value 0) or one term with no vars. */
struct Dim {
    int nterms;
    DimTerm terms[DIM_MAX_TERMS];
};

Dim dim_const(long v);
Dim dim_sym(const DimSym *s);
/* Arithmetic on dims; false when the result does not fit the fixed form or overflows. */
bool dim_add(Dim *out, const Dim *a, const Dim *b);
bool dim_sub(Dim *out, const Dim *a, const Dim *b);
bool dim_mul(Dim *out, const Dim *a, const Dim *b);
bool dim_eq(const Dim *a, const Dim *b);
bool dim_is_const(const Dim *d, long *value);   /* value may be NULL */
/* "2*B + 1", "784", "brown.vocab" */
void dim_print(const Dim *d, StrBuf *out);

/* A substitution of dim symbols (a call's size variables bound to the caller's dims). */
typedef struct DimBinding {
    const DimSym *sym;
    Dim value;
    const char *from;        /* the argument that bound it, for messages */
} DimBinding;
typedef struct DimEnv {
    Vec(DimBinding) items;
} DimEnv;

const Dim *dim_env_get(const DimEnv *env, const DimSym *s);
/* Replaces each bound symbol by its value; *complete is false when an unbound symbol
 * of `only_owner` remains (NULL: any owner counts as bindable). */
bool dim_subst(Dim *out, const Dim *d, const DimEnv *env, const Item *only_owner, bool *complete);

/* ----------------------------------------------------------------- types */

typedef enum {
    TY_ERROR,    /* after a reported error: unifies with anything, reports nothing more */
    TY_TENSOR,   /* dtype + shape; rank 0 is a scalar */
    TY_TUPLE,    /* a function's `(A, B)` result */
    TY_STR,      /* a string literal (paths) */
    TY_LIST,     /* `[a, b]`: a shape argument or a settings list */
    TY_NONE,     /* a name that is not a value: a function, module or dataset */
} TypeKind;

typedef struct Type Type;
struct Type {
    TypeKind kind;
    DType dtype;
    /* A leading `...`: these axes are the signature's ellipsis, unknown inside the body. */
    bool ellipsis;
    int rank;                /* explicit axes, after the ellipsis */
    Dim *dims;               /* rank entries */
    Vec(Type *) elems;       /* TY_TUPLE */
    /* Compile-time knowledge of a scalar: a number literal, const, hyper, or dim. */
    bool weak;               /* a number without its own dtype: takes the other operand's */
    bool has_value;          /* `value` is known at compile time */
    double value;
    bool has_dim;            /* an integer known as a dim (`B`, `2*Z`, `brown.vocab`) */
    Dim dim;
};

Type *type_error(Arena *a);
Type *type_tensor(Arena *a, DType dt, int rank, const Dim *dims);
Type *type_scalar(Arena *a, DType dt);
bool type_is_scalar(const Type *t);
/* "[B, 784]", "i32[B]", "[..., D]", "[]", "([B, 784], [B, 784])" */
void type_print(const Type *t, StrBuf *out);
const char *type_str(Arena *a, const Type *t);

/* numpy broadcasting of two shapes: trailing axes align, 1 stretches. Returns NULL
 * (and sets *bad_axis to the axis from the end that failed) when they do not. */
Type *type_broadcast(Arena *a, const Type *x, const Type *y, int *bad_axis);

/* -------------------------------------------------------------- builtins */

typedef enum {
    BI_EXP, BI_LOG, BI_SQRT, BI_ABS, BI_TANH, BI_SIGMOID, BI_RELU,
    BI_MAX, BI_MIN,          /* two args: elementwise; one arg: a reduction */
    BI_WHERE, BI_FLOAT,
    BI_SUM, BI_MEAN, BI_LOGSUMEXP, BI_ARGMAX,
    BI_RESHAPE, BI_CONCAT, BI_ONE_HOT, BI_ARANGE, BI_TRANSPOSE,
    BI_BERNOULLI, BI_NORMAL, BI_UNIFORM, BI_RANDINT, BI_SHIFT2D,
    BI_STOP_GRADIENT,
    BI_CONV2D, BI_CONV_TRANSPOSE2D, BI_MAX_POOL2D, BI_AVG_POOL2D, BI_UPSAMPLE2D, BI_GLOBAL_AVG_POOL,
    BI_DROPOUT,              /* images (§8.2): check_image.c, lower_image.c */
    BI_BATCH_NORM,           /* the layer of §8.2 (parameters and state): check_image.c, lower_image.c */
    BI_EINSUM,               /* §8.1: two operands; einsum.c parses the spec */
    BI_COUNT
} BuiltinId;

struct Builtin {
    BuiltinId id;
    const char *name;
    int min_args, max_args;  /* positional */
    const char *named[3];    /* accepted named args, NULL-terminated */
    bool random;             /* only in pretext and stage bodies; no gradient */
    bool no_grad;            /* argmax, random sources, stop_gradient */
};

const Builtin *sema_builtin(const char *name);
const Builtin *sema_builtin_by_id(BuiltinId id);

/* ------------------------------------------------------------ the phases */

/* Loads every used module, resolves names and checks types. Diagnostics go to
 * p->diags; true when no error was reported. */
bool sema_run(Program *p);

/* The two halves, for tests: resolve must run before check. */
bool sema_resolve(Program *p);
bool sema_check(Program *p);

/* The symbol of a function's size variable / int argument (REF_DIM slot), or a
 * stage's batch symbol. NULL when out of range. */
const DimSym *sema_dim_sym(const Item *fn, int slot);
const DimSym *sema_batch_sym(const Item *stage);

/* A dataset's fields as one example sees them (no batch axis), in order: the
 * block's fields, or those a source makes (`csv`: x; `tokens`: x; `skipgram`:
 * center, context, negatives). REF_FIELD's slot indexes this list. */
int sema_dataset_nfields(const Item *ds);
const char *sema_dataset_field(const Item *ds, int i, const Type **type);

/* A call of a user function, as check bound it: the callee's dim symbols (size
 * variables and int arguments) in terms of the caller's dims. Hypers: the value each
 * hyper-parameter has at this call (default or override). */
typedef struct CallInfo {
    DimEnv dims;
    int ell_rank;            /* axes the callee's `...` stands for here (-1: unknown) */
    Dim *ell_dims;           /* those axes in the caller's terms, when ell_rank >= 0 */
    bool caller_ellipsis;    /* the `...` axes are the caller's own `...` first */
    Vec(double) hypers;      /* per callee Param (indexed like Item.params); NAN if not a hyper */
} CallInfo;
const CallInfo *sema_call_info(const Expr *call);

#endif

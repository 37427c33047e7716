/* ast.h — the abstract syntax tree: what the parser builds, resolve binds and
 * check types. Every node carries its source span (DESIGN.md, Boundaries).
 *
 * Phases and who writes which fields:
 *   parse   (parser.y, ast.c)  — everything not marked otherwise
 *   resolve (resolve.c)        — fields marked [resolve]
 *   check   (check.c)          — fields marked [check]
 * Later phases (lower.c) read the tree and never change it.
 */
#ifndef RLC_AST_H
#define RLC_AST_H

#include "diag.h"
#include "util.h"

typedef struct Expr Expr;
typedef struct TypeExpr TypeExpr;
typedef struct Stmt Stmt;
typedef struct Item Item;
typedef struct Module Module;
typedef struct Program Program;

/* ---------------------------------------------------------------- types */

typedef enum { DT_F32, DT_I32 } DType;

/* A type as written: `f32`, `i32`, `[]`, `[B, 2*Z]`, `i32[...]`, `[..., D]`, or `int`. */
struct TypeExpr {
    Span span;
    DType dtype;
    bool is_int;           /* the `int` of a compile-time integer argument */
    bool ellipsis;         /* a leading `...` */
    Vec(Expr *) dims;      /* each dim an expression: number, name, a+b, a*b, brown.vocab */
};

/* ------------------------------------------------------------ expressions */

typedef enum {
    EX_NUM,       /* num */
    EX_STR,       /* str */
    EX_BOOL,      /* num is 0 or 1 */
    EX_NAME,      /* name */
    EX_BINARY,    /* op, lhs, rhs */
    EX_NEG,       /* lhs */
    EX_CALL,      /* callee (EX_NAME or EX_FIELD for `L.mse`), args */
    EX_INDEX,     /* lhs, args: one entry per axis (EX_SLICE, or an index/gather expression) */
    EX_SLICE,     /* lhs = start or NULL, rhs = end or NULL: `a:b`, `:`, `a:`, `:b` */
    EX_FIELD,     /* lhs, name: `brown.vocab`, `L.mse` */
    EX_TRANSPOSE, /* lhs: `x.T` (str "T": all axes reversed) or `x.mT` ("mT": the last two swapped) */
    EX_TUPLE,     /* args: `(a, b)` */
    EX_LIST,      /* args: `[a, b]` — shapes in reshape/bernoulli, and lists in settings */
} ExprKind;

typedef enum {
    OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MATMUL, OP_POW,
    OP_FLOORDIV,  /* `//`: compile-time integers (dims) only */
    OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE,
} BinOp;

/* An argument of a call: positional (name == NULL) or named (`keep = 0.5`). */
typedef struct Arg {
    Span span;
    const char *name;
    Expr *value;
} Arg;

/* What a name refers to, once resolved. */
typedef enum {
    REF_NONE,
    REF_LOCAL,      /* a binding in a body (`h = ...`, `(u, v) = ...`) or a `param` */
    REF_ARG,        /* an argument of the enclosing function */
    REF_DIM,        /* a size variable or `int` argument used as an integer */
    REF_CONST,      /* item: a `const` */
    REF_DATASET,    /* item: a `dataset` */
    REF_FIELD,      /* a dataset field seen as a batch inside a stage */
    REF_FUNC,       /* item: an fn/layer/encoder/decoder/pretext/loss */
    REF_BUILTIN,    /* builtin: a built-in function (exp, sum, reshape, ...) */
    REF_MODULE,     /* module: a qualified `use ... as L` */
    REF_BATCH,      /* the stage's `B` */
} RefKind;

typedef struct Builtin Builtin;   /* declared in sema.h: the built-in function table */

struct Expr {
    ExprKind kind;
    Span span;
    double num;
    const char *str;           /* EX_STR: unescaped contents; EX_NAME/EX_FIELD: the name */
    BinOp op;
    Expr *lhs, *rhs;
    Expr *callee;
    Vec(Arg) args;             /* call args; index/tuple/list elements (name NULL) */

    /* [resolve] */
    RefKind ref;
    Item *item;                /* REF_CONST, REF_DATASET, REF_FUNC; REF_FIELD: the dataset */
    const Builtin *builtin;    /* REF_BUILTIN */
    int slot;                  /* REF_LOCAL/REF_ARG/REF_FIELD/REF_DIM: index in the scope's table */

    /* [check] */
    struct Type *type;         /* NULL until checked; see sema.h */
    const struct CallInfo *call; /* EX_CALL of a user function: its dim bindings (sema.h) */

    /* parse: height of this subtree; the parser refuses deeper trees than
     * AST_MAX_DEPTH so no recursive phase can overflow the stack */
    int depth;
};

/* ------------------------------------------------------------- statements */

typedef enum {
    ST_ASSIGN,    /* names (one, or several for a tuple) = value */
    ST_PARAM,     /* param name: type = value (an initializer expression) */
    ST_RETURN,    /* value */
    ST_MINIMIZE,  /* value */
    ST_REPORT,    /* report name = value */
    ST_SETTING,   /* name: value (stage settings only) */
} StmtKind;

struct Stmt {
    StmtKind kind;
    Span span;
    Vec(const char *) names;   /* ST_ASSIGN targets; ST_PARAM/ST_REPORT/ST_SETTING: names[0] */
    Vec(Span) name_spans;
    TypeExpr *type;            /* ST_PARAM */
    Expr *value;
    int slot;                  /* [resolve] ST_ASSIGN/ST_PARAM: REF_LOCAL slot of names[0]; the rest follow */
};

/* ------------------------------------------------------------------ items */

typedef enum {
    ITEM_USE, ITEM_CONST, ITEM_DATASET, ITEM_FUNC, ITEM_STAGE,
} ItemKind;

typedef enum {
    ROLE_FN, ROLE_LAYER, ROLE_ENCODER, ROLE_DECODER, ROLE_PRETEXT, ROLE_LOSS,
} Role;

typedef enum { STAGE_TRAIN, STAGE_EVAL } StageKind;

/* A function argument: `x: [B, D]`, `n: int`, `keep = 0.7` (a hyper with a
 * default), or `mask: [...] = 1` (a tensor that, when not given, is the number
 * broadcast to its shape). */
typedef struct Param {
    Span span;
    const char *name;
    TypeExpr *type;            /* NULL for a hyper-parameter with a default */
    Expr *default_value;       /* NULL unless `name = value` or `name: type = value` */
} Param;

/* A dataset field: `x: [784] = idx("...") / 255`. */
typedef struct Field {
    Span span;
    const char *name;
    TypeExpr *type;
    Expr *source;
} Field;

struct Item {
    ItemKind kind;
    Span span;                 /* the whole item */
    Span name_span;
    const char *name;          /* NULL for ITEM_USE */
    Module *module;            /* the module that declares it */

    /* ITEM_USE: `use std.nn`, `use std.loss as L`, `use "blocks.rl"` */
    const char *use_path;      /* "std.nn" or the file string as written */
    bool use_is_file;
    const char *use_alias;     /* NULL unless `as NAME` */
    Module *used;              /* [resolve] the loaded module */

    /* ITEM_CONST */
    Expr *value;
    double const_value;        /* [resolve] folded value */
    bool const_from_data;      /* [resolve] made from a dataset property: a dim, evaluated from value */

    /* ITEM_DATASET: a block of fields, or `= expr` (csv/skipgram/...) in value */
    Vec(Field) fields;

    /* ITEM_FUNC */
    Role role;
    Vec(Param) params;
    Vec(TypeExpr *) results;   /* one, or several for `-> (A, B)` */
    bool result_is_tuple;
    Vec(Stmt *) body;          /* statements; for `= expr` one ST_RETURN */

    /* ITEM_STAGE: settings and statements in order, as written (the same body vector) */
    StageKind stage_kind;

    /* [resolve] ITEM_FUNC: size variables and `int` arguments, in order of first
     * appearance in the signature (REF_DIM's slot); ITEM_FUNC/ITEM_STAGE: bindings. */
    Vec(const char *) dim_names;
    int n_locals;              /* REF_LOCAL slots: each assigned name and `param`, in order */
    Item *data;                /* [resolve] ITEM_STAGE: the dataset of its `data:` setting */
    struct SemaItem *sema;     /* [resolve] private to sema */
};

struct Module {
    const SrcFile *file;
    const char *name;          /* "main", "std.nn", or the path of a used file */
    Vec(Item *) items;
};

/* The whole program: the main module first, then every module it uses (transitively). */
struct Program {
    Arena *arena;
    Diags *diags;
    Vec(Module *) modules;
};

/* ------------------------------------------------------------------ API */

/* Parses one file into a module; syntax errors go to diags. Never NULL. */
Module *ast_parse_file(Arena *a, Diags *d, const SrcFile *file, const char *module_name);
/* Loads a file from disk (NULL and an error at `from` if it cannot). */
const SrcFile *ast_load_file(Arena *a, Diags *d, const char *path, Span from);
/* Bytes a source file may have (ast_load_file refuses bigger ones). */
#define AST_MAX_SOURCE (1 << 20)

/* Readable, stable text of the tree (`rlc dump --ast`). */
void ast_dump(const Program *p, StrBuf *out);

const char *ast_role_name(Role r);
const char *ast_binop_text(BinOp op);

/* ------------------------------------------------------- builders (parser.y)
 *
 * The parser's actions are one call each. Lists are built in holder nodes of
 * the type that finally owns them (an EX_TUPLE for arguments and elements, a
 * TypeExpr for dims, a Stmt for tuple targets, an Item for params, results,
 * fields and bodies); the `_add` builders take NULL to start a new holder.
 * Builders that can find a mistake (a call of something that is not a name,
 * a setting in a function body) report it to `d` and still return a node.
 */
enum { AST_MAX_DEPTH = 256 };

Expr *ast_num(Arena *a, Span at, double value);
Expr *ast_str(Arena *a, Span at, const char *value);
Expr *ast_bool(Arena *a, Span at, bool value);
Expr *ast_name(Arena *a, Span at, const char *name);
Expr *ast_binary(Arena *a, Diags *d, Span at, BinOp op, Expr *lhs, Expr *rhs);
Expr *ast_neg(Arena *a, Diags *d, Span at, Expr *operand);
Expr *ast_call(Arena *a, Diags *d, Span at, Expr *callee, Expr *args);
Expr *ast_index(Arena *a, Diags *d, Span at, Expr *base, Expr *args);
Expr *ast_slice(Arena *a, Span at, Expr *start, Expr *end);
Expr *ast_field(Arena *a, Diags *d, Span at, Expr *base, const char *name);
Expr *ast_tuple(Arena *a, Diags *d, Span at, Expr *elems);
Expr *ast_list(Arena *a, Diags *d, Span at, Expr *elems);
Expr *ast_args_add(Arena *a, Expr *list, Span at, const char *name, Expr *value);

TypeExpr *ast_type_named(Arena *a, Diags *d, Span at, const char *name, Span name_at, TypeExpr *dims);
TypeExpr *ast_type_dims(Arena *a, Span at, TypeExpr *dims);
TypeExpr *ast_dims_add(Arena *a, TypeExpr *dims, Expr *dim);
TypeExpr *ast_dims_ellipsis(Arena *a);

Stmt *ast_assign(Arena *a, Span at, const char *name, Span name_at, Expr *value);
Stmt *ast_targets_add(Arena *a, Stmt *targets, const char *name, Span name_at);
Stmt *ast_tuple_assign(Arena *a, Span at, Stmt *targets, Expr *value);
Stmt *ast_param_stmt(Arena *a, Span at, const char *name, Span name_at, TypeExpr *type, Expr *init);
Stmt *ast_return(Arena *a, Span at, Expr *value);
Stmt *ast_minimize(Arena *a, Span at, Expr *value);
Stmt *ast_report(Arena *a, Span at, const char *name, Span name_at, Expr *value);
Stmt *ast_setting(Arena *a, Span at, const char *name, Span name_at, Expr *value);
Item *ast_body_add(Arena *a, Item *body, Stmt *s);

Item *ast_use(Arena *a, Span at, const char *path, bool is_file, const char *alias);
Item *ast_const(Arena *a, Span at, const char *name, Span name_at, Expr *value);
Item *ast_dataset_fields(Arena *a, Span at, const char *name, Span name_at, Item *fields);
Item *ast_dataset_expr(Arena *a, Span at, const char *name, Span name_at, Expr *value);
Item *ast_fields_add(Arena *a, Item *fields, Span at, const char *name, TypeExpr *type, Expr *source);
Item *ast_params_add(Arena *a, Item *params, Span at, const char *name, TypeExpr *type, Expr *dflt);
Item *ast_results_add(Arena *a, Item *results, TypeExpr *type);
Item *ast_func(Arena *a, Diags *d, Span at, Role role, const char *name, Span name_at,
               Item *params, Item *results, bool result_is_tuple, Item *body);
Item *ast_stage(Arena *a, Diags *d, Span at, StageKind kind, const char *name, Span name_at, Item *body);
void ast_module_add(Arena *a, Module *m, Item *item);

#endif

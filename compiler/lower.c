/* lower.c — the checked AST becomes an IrProgram (rl-language.md §4–§6).
 *
 * Each stage body is inlined into one graph. A call of a user function is
 * inlined with a fresh frame: its arguments' values, its size variables bound
 * to concrete dims by unifying the argument shapes with the signature (B stays
 * symbolic: an IrDim b*B + c), its `int` arguments and hypers (default, or the
 * caller's override) as compile-time numbers. Values that are known at compile
 * time (numbers, dims) stay out of the graph until an operand needs them, and
 * then take that operand's dtype. Tuples exist only here: they never reach the IR.
 *
 * Parameters are named after the component instance that declares them: a
 * layer instance gets `<enclosing>.<layer><k>` with k counting the calls of that
 * layer within the enclosing instance in the order they run (arguments before
 * the call: in `dense(relu(dense(x, 256)), 32)` the inner one is dense0); encoders and decoders are one
 * instance each (`enc.<...>`), so calling `enc` twice meets the same names and
 * reuses the same parameter nodes; a stage body is the instance named after
 * the stage (`probe.dense0.w`, `clip.t`).
 *
 * Resolve's annotations say what kind of thing a name is (Expr.ref, .item);
 * values are then looked up by name in the frame, so lowering does not depend
 * on how check laid out its slots.
 */
#include "lower.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ values */

typedef enum {
    V_NONE,   /* an error was reported; propagates silently */
    V_NODE,   /* a tensor in the graph */
    V_NUM,    /* a compile-time number (literal, const, hyper) without a dtype of its own */
    V_DIM,    /* a compile-time integer that may involve B (`B`, `2*Z`, `brown.vocab`) */
    V_TUPLE,  /* `(a, b)`, and the elements of a list `[a, b]` */
    V_STR,
} ValKind;

typedef struct Val {
    ValKind kind;
    int node;
    double num;
    IrDim dim;
    const char *str;
    struct Val *elems;
    int n;
} Val;

static Val v_none(void) { return (Val){.kind = V_NONE}; }
static Val v_node(int id) { return (Val){.kind = V_NODE, .node = id}; }
static Val v_num(double x) { return (Val){.kind = V_NUM, .num = x}; }
static Val v_dim(IrDim d) { return (Val){.kind = V_DIM, .dim = d}; }

/* A number known at compile time: a V_NUM, or a dim without B. */
static bool static_num(Val v, double *out) {
    if (v.kind == V_NUM) {
        *out = v.num;
        return true;
    }
    if (v.kind == V_DIM && v.dim.b == 0) {
        *out = (double)v.dim.c;
        return true;
    }
    return false;
}

static bool val_to_dim(Val v, IrDim *out) {
    if (v.kind == V_DIM) {
        *out = v.dim;
        return true;
    }
    if (v.kind == V_NUM && v.num == floor(v.num) && fabs(v.num) < 9e15) {
        *out = ir_dim_const((int64_t)v.num);
        return true;
    }
    return false;
}

/* ------------------------------------------------------------------ frames */

typedef struct Binding {
    const char *name;
    Val v;
} Binding;

typedef struct LayerCount {
    const char *layer;
    int count;
} LayerCount;

/* The component instance whose parameters are being named. */
typedef struct Namer {
    const char *prefix;       /* "enc", "enc.block0", "probe" */
    const char *component;    /* what `freeze` names: the encoder/decoder, or the stage */
    Vec(LayerCount) counts;
} Namer;

typedef struct Frame {
    Namer *namer;
    Vec(Binding) vars;        /* arguments, size variables, int arguments, locals */
    bool has_ellipsis;
    IrShape ellipsis;         /* the axes `...` stands for in this call */
    bool returned;
    Val ret;
} Frame;

typedef struct DsEntry {
    const Item *item;
    rt_dataset_spec *spec;
} DsEntry;

typedef struct PropEntry {
    const Item *ds;
    const char *prop;
    int64_t value;
    bool failed;              /* reported once; later uses fail quietly */
} PropEntry;

/* Inlining is exponential in the worst case (each function calling the one below
 * twice): a stage stops with an error past these, far above any real model
 * (the examples inline under 100 calls into under 400 nodes). */
enum { LOWER_MAX_DEPTH = 64, LOWER_MAX_CALLS = 50000, LOWER_MAX_NODES = 200000 };

typedef struct Lower {
    Arena *a;
    Diags *d;
    const LowerOptions *o;
    const Program *prog;
    IrProgram *ir;
    Vec(DsEntry) datasets;
    Vec(PropEntry) props;

    /* the stage being lowered */
    IrGraph *g;
    const Item *stage;
    const IrStage *settings;
    int streams;              /* RNG streams handed out: one per random node */
    int sized;                /* nodes [0, sized) of g have passed check_sizes */
    int inlined;              /* calls inlined into g so far */
    bool failed_quietly;      /* g used a dataset property already reported unknown */
    bool too_big;             /* g passed LOWER_MAX_CALLS or LOWER_MAX_NODES (reported) */
    int depth;
    struct {
        Span at;
        const Item *fn;
    } calls[LOWER_MAX_DEPTH]; /* the calls being inlined, outermost first: calls[0..depth) */
} Lower;

/* After an error inside an inlined body, where each enclosing call was made,
 * innermost first: an error in a library function leads back to the user's code. */
static void call_trail(Lower *L) {
    int n = L->depth;
    for (int i = n - 1; i >= 0; i--) {
        if (n > 4 && i == n - 4) {   /* a deep trail: the three innermost, then the outermost */
            diag_note(L->d, L->calls[0].at, "in this call of `%s` (%d calls between)", L->calls[0].fn->name,
                      n - 4);
            return;
        }
        diag_note(L->d, L->calls[i].at, "in this call of `%s`", L->calls[i].fn->name);
    }
}

static Val lower_expr(Lower *L, Frame *f, const Expr *e);
static void lower_body(Lower *L, Frame *f, const Item *owner);

static void bind(Lower *L, Frame *f, const char *name, Val v) {
    vec_push(L->a, &f->vars, ((Binding){name, v}));
}

/* The latest binding wins: a body may rebind a name (`h = ...; h = ...`). */
static const Val *lookup(const Frame *f, const char *name) {
    for (int i = f->vars.len - 1; i >= 0; i--)
        if (strcmp(f->vars.items[i].name, name) == 0) return &f->vars.items[i].v;
    return NULL;
}

static const IrNode *node_of(const Lower *L, int id) { return &L->g->nodes.items[id]; }
static IrShape shape_of(const Lower *L, int id) { return node_of(L, id)->shape; }
static IrDType dtype_of(const Lower *L, int id) { return node_of(L, id)->dtype; }

static IrShape scalar_shape(void) { return (IrShape){0}; }

/* ------------------------------------------------------------------- dims */

static IrDim dim_minus(IrDim x, IrDim y) { return (IrDim){x.b - y.b, x.c - y.c}; }
/* b*B + c >= 0 for every B >= 1 (B is at least 1 at run time). */
static bool dim_nonneg(IrDim d) { return d.b >= 0 && d.b + d.c >= 0; }

static bool dim_mul(IrDim x, IrDim y, IrDim *out) {
    if (x.b != 0 && y.b != 0) return false;   /* B*B is not a dim of the IR */
    *out = (IrDim){(int32_t)(x.b * y.c + y.b * x.c), x.c * y.c};
    return true;
}

static const Item *find_dataset_item(const Lower *L, const char *name) {
    for (int i = 0; i < L->datasets.len; i++)
        if (strcmp(L->datasets.items[i].item->name, name) == 0) return L->datasets.items[i].item;
    return NULL;
}

/* A const or dataset by name, for the dims of types that resolve left unannotated:
 * the main module first, then the modules it uses. */
static const Item *find_item(const Lower *L, ItemKind kind, const char *name) {
    for (int m = 0; m < L->prog->modules.len; m++) {
        const Module *mod = L->prog->modules.items[m];
        for (int i = 0; i < mod->items.len; i++) {
            const Item *it = mod->items.items[i];
            if (it->kind == kind && it->name && strcmp(it->name, name) == 0) return it;
        }
    }
    return NULL;
}

static rt_dataset_spec *spec_of(const Lower *L, const Item *ds) {
    for (int i = 0; i < L->datasets.len; i++)
        if (L->datasets.items[i].item == ds) return L->datasets.items[i].spec;
    return NULL;
}

/* A dataset property (`brown.vocab`): only the data knows it, so the driver's
 * callback answers, once per property. */
static bool dataset_prop(Lower *L, const Item *ds, const char *prop, Span at, IrDim *out) {
    for (int i = 0; i < L->props.len; i++) {
        const PropEntry *p = &L->props.items[i];
        if (p->ds == ds && strcmp(p->prop, prop) == 0) {
            *out = ir_dim_const(p->value);
            L->failed_quietly |= p->failed;
            return !p->failed;
        }
    }
    int64_t value = 0;
    const rt_dataset_spec *spec = spec_of(L, ds);
    if (L->o && L->o->small_dims > 0) {
        value = L->o->small_dims;
    } else if (L->o && L->o->dataset_dim && spec) {
        char why[512] = "";
        if (!L->o->dataset_dim(L->o->dataset_dim_ctx, spec, prop, &value, why, sizeof why)) {
            diag_error(L->d, at, "cannot know `%s.%s`: %s", ds->name, prop, why);
            vec_push(L->a, &L->props, ((PropEntry){ds, prop, 0, true}));
            return false;
        }
    } else {
        diag_error(L->d, at, "`%s.%s` is known only from the data, which is not loaded here",
                   ds->name, prop);
        return false;
    }
    vec_push(L->a, &L->props, ((PropEntry){ds, prop, value, false}));
    *out = ir_dim_const(value);
    return true;
}

typedef enum { DIM_OK, DIM_UNBOUND, DIM_ERROR } DimResult;

/* A dim as written in a type: numbers, consts, size variables and int
 * arguments bound in `f`, B, dataset properties, combined with + - *. */
static DimResult eval_dim(Lower *L, const Frame *f, const Expr *e, IrDim *out) {
    switch (e->kind) {
    case EX_NUM:
        *out = ir_dim_const((int64_t)e->num);
        return DIM_OK;
    case EX_NAME: {
        if (e->ref == REF_CONST && e->item) {
            *out = ir_dim_const((int64_t)e->item->const_value);
            return DIM_OK;
        }
        if (e->ref == REF_BATCH) {
            *out = ir_dim_batch();
            return DIM_OK;
        }
        const Val *v = f ? lookup(f, e->str) : NULL;
        if (v && val_to_dim(*v, out)) return DIM_OK;
        const Item *c = v || e->ref != REF_NONE ? NULL : find_item(L, ITEM_CONST, e->str);
        if (c) {
            *out = ir_dim_const((int64_t)c->const_value);
            return DIM_OK;
        }
        return DIM_UNBOUND;
    }
    case EX_FIELD:
        if (e->ref == REF_CONST && e->item) {
            *out = ir_dim_const((int64_t)e->item->const_value);
            return DIM_OK;
        }
        if (e->lhs && e->lhs->ref == REF_DATASET && e->lhs->item)
            return dataset_prop(L, e->lhs->item, e->str, e->span, out) ? DIM_OK : DIM_ERROR;
        if (e->lhs && e->lhs->kind == EX_NAME && e->lhs->ref == REF_NONE &&
            find_item(L, ITEM_DATASET, e->lhs->str))
            return dataset_prop(L, find_item(L, ITEM_DATASET, e->lhs->str), e->str, e->span, out)
                       ? DIM_OK : DIM_ERROR;
        diag_error(L->d, e->span, "`%s` is not a dim", e->str);
        return DIM_ERROR;
    case EX_NEG: {
        DimResult r = eval_dim(L, f, e->lhs, out);
        if (r == DIM_OK) *out = (IrDim){-out->b, -out->c};
        return r;
    }
    case EX_BINARY: {
        IrDim x, y;
        DimResult r = eval_dim(L, f, e->lhs, &x);
        if (r != DIM_OK) return r;
        r = eval_dim(L, f, e->rhs, &y);
        if (r != DIM_OK) return r;
        switch (e->op) {
        case OP_ADD: *out = (IrDim){x.b + y.b, x.c + y.c}; return DIM_OK;
        case OP_SUB: *out = (IrDim){x.b - y.b, x.c - y.c}; return DIM_OK;
        case OP_MUL:
            if (dim_mul(x, y, out)) return DIM_OK;
            diag_error(L->d, e->span, "a dim may not be a multiple of B times B");
            return DIM_ERROR;
        default: break;
        }
        break;
    }
    default: break;
    }
    diag_error(L->d, e->span, "this is not a dim");
    return DIM_ERROR;
}

/* Binds the one unbound size variable in `e` so that e == target
 * (`2*Z` against 64 binds Z = 32). False when e cannot be solved. */
static bool solve_dim(Lower *L, Frame *f, const Expr *e, IrDim target) {
    if (e->kind == EX_NAME) {
        bind(L, f, e->str, v_dim(target));
        return true;
    }
    if (e->kind != EX_BINARY) return false;
    IrDim x, y;
    size_t mark = L->d->items.len;
    bool lhs_known = eval_dim(L, f, e->lhs, &x) == DIM_OK;
    bool rhs_known = !lhs_known && eval_dim(L, f, e->rhs, &y) == DIM_OK;
    if ((size_t)L->d->items.len != mark) return false;
    if (lhs_known == rhs_known) return false;
    const Expr *unknown = lhs_known ? e->rhs : e->lhs;
    IrDim k = lhs_known ? x : y;
    switch (e->op) {
    case OP_ADD: return solve_dim(L, f, unknown, (IrDim){target.b - k.b, target.c - k.c});
    case OP_SUB:
        if (lhs_known) return solve_dim(L, f, unknown, (IrDim){k.b - target.b, k.c - target.c});
        return solve_dim(L, f, unknown, (IrDim){target.b + k.b, target.c + k.c});
    case OP_MUL:
        if (k.b != 0 || k.c == 0 || target.b % k.c != 0 || target.c % k.c != 0) return false;
        return solve_dim(L, f, unknown, (IrDim){(int32_t)(target.b / k.c), target.c / k.c});
    default: return false;
    }
}

/* Binds the size variables of a signature type against an argument's shape. */
static void unify(Lower *L, Frame *f, const TypeExpr *t, IrShape s, bool solve_compound) {
    int lead = 0;
    if (t->ellipsis) {
        lead = s.rank - t->dims.len;
        if (lead < 0) return;
        if (!f->has_ellipsis) {
            f->has_ellipsis = true;
            f->ellipsis.rank = lead;
            for (int i = 0; i < lead; i++) f->ellipsis.d[i] = s.d[i];
        }
    }
    for (int i = 0; i < t->dims.len && lead + i < s.rank; i++) {
        const Expr *e = t->dims.items[i];
        IrDim have = s.d[lead + i];
        if (e->kind == EX_NAME) {
            if (e->ref == REF_CONST || e->ref == REF_BATCH || lookup(f, e->str)) continue;
            bind(L, f, e->str, v_dim(have));
        } else if (solve_compound) {
            IrDim v;
            size_t mark = L->d->items.len;
            if (eval_dim(L, f, e, &v) == DIM_UNBOUND && (size_t)L->d->items.len == mark)
                solve_dim(L, f, e, have);
        }
    }
}

/* The shape a type describes in frame f (a param's shape, a dataset field's). */
static bool type_shape(Lower *L, const Frame *f, const TypeExpr *t, IrShape *out) {
    *out = scalar_shape();
    if (t->ellipsis) {
        if (!f || !f->has_ellipsis) {
            diag_error(L->d, t->span, "`...` is unknown here");
            return false;
        }
        *out = f->ellipsis;
    }
    if (out->rank + t->dims.len > IR_MAX_RANK) {
        diag_error(L->d, t->span, "more than %d axes", IR_MAX_RANK);
        return false;
    }
    for (int i = 0; i < t->dims.len; i++) {
        IrDim d;
        DimResult r = eval_dim(L, f, t->dims.items[i], &d);
        if (r == DIM_UNBOUND)
            diag_error(L->d, t->dims.items[i]->span, "this dim has no value here");
        if (r != DIM_OK) return false;
        out->d[out->rank++] = d;
    }
    return true;
}

/* -------------------------------------------------------------- materialize */

/* A value as a node; numbers and dims become constants of dtype dt. */
static int materialize(Lower *L, Val v, IrDType dt, Span at) {
    switch (v.kind) {
    case V_NODE: return v.node;
    case V_NUM: return ir_const(L->g, v.num, scalar_shape(), dt, at);
    case V_DIM:
        if (v.dim.b == 0) return ir_const(L->g, (double)v.dim.c, scalar_shape(), dt, at);
        return ir_dimval(L->g, v.dim, dt, at);
    case V_TUPLE: diag_error(L->d, at, "a tuple or list is not a tensor here"); return -1;
    case V_STR: diag_error(L->d, at, "a string is not a tensor"); return -1;
    case V_NONE: return -1;
    }
    return -1;
}

static bool need_node(Lower *L, Val v, Span at, int *id) {
    if (v.kind == V_NONE) return false;
    if (v.kind != V_NODE) {
        diag_error(L->d, at, "a tensor is needed here");
        return false;
    }
    *id = v.node;
    return true;
}

static bool need_static(Lower *L, Val v, Span at, const char *what, double *out) {
    if (v.kind == V_NONE) return false;
    if (static_num(v, out)) return true;
    diag_error(L->d, at, "%s must be a compile-time number", what);
    return false;
}

static bool need_int(Lower *L, Val v, Span at, const char *what, int64_t *out) {
    double x;
    if (!need_static(L, v, at, what, &x)) return false;
    if (x != floor(x)) {
        diag_error(L->d, at, "%s must be an integer, not %g", what, x);
        return false;
    }
    *out = (int64_t)x;
    return true;
}

/* ------------------------------------------------------------- arithmetic */

static double fold(BinOp op, double x, double y) {
    switch (op) {
    case OP_ADD: return x + y;
    case OP_SUB: return x - y;
    case OP_MUL: return x * y;
    case OP_DIV: return x / y;
    case OP_POW: return pow(x, y);
    case OP_EQ: return x == y;
    case OP_NE: return x != y;
    case OP_LT: return x < y;
    case OP_LE: return x <= y;
    case OP_GT: return x > y;
    case OP_GE: return x >= y;
    case OP_MATMUL: break;
    }
    return NAN;
}

static IrOp binop_ir(BinOp op) {
    switch (op) {
    case OP_ADD: return IR_ADD;
    case OP_SUB: return IR_SUB;
    case OP_MUL: return IR_MUL;
    case OP_DIV: return IR_DIV;
    case OP_POW: return IR_POW;
    case OP_EQ: return IR_EQ;
    case OP_NE: return IR_NE;
    case OP_LT: return IR_LT;
    case OP_LE: return IR_LE;
    case OP_GT: return IR_GT;
    case OP_GE: return IR_GE;
    case OP_MATMUL: break;
    }
    return IR_MATMUL;
}

/* The dtype compile-time operands take: the other operand's (rl-language.md §3). */
static IrDType operand_dtype(const Lower *L, Val x, Val y) {
    if (x.kind == V_NODE) return dtype_of(L, x.node);
    if (y.kind == V_NODE) return dtype_of(L, y.node);
    return IR_F32;
}

static Val lower_binop(Lower *L, BinOp op, Val x, Val y, Span at) {
    if (x.kind == V_NONE || y.kind == V_NONE) return v_none();
    double a, b;
    if (static_num(x, &a) && static_num(y, &b)) {
        return v_num(fold(op, a, b));
    }
    /* dims stay dims through + - * so `arange(2 * B)` and `[B, 2*Z]` work */
    IrDim dx, dy;
    if ((x.kind == V_DIM || y.kind == V_DIM) && val_to_dim(x, &dx) && val_to_dim(y, &dy)) {
        if (op == OP_ADD) return v_dim((IrDim){dx.b + dy.b, dx.c + dy.c});
        if (op == OP_SUB) return v_dim((IrDim){dx.b - dy.b, dx.c - dy.c});
        IrDim p;
        if (op == OP_MUL && dim_mul(dx, dy, &p)) return v_dim(p);
    }
    IrDType dt = operand_dtype(L, x, y);
    int xi = materialize(L, x, dt, at), yi = materialize(L, y, dt, at);
    if (xi < 0 || yi < 0) return v_none();
    if (op == OP_MATMUL) return v_node(ir_matmul(L->g, xi, yi, false, false, at));
    return v_node(ir_binary(L->g, binop_ir(op), xi, yi, at));
}

/* Reshape dropping the axes in `axes` (each of size 1 after a reduction or an index). */
static int drop_axes(Lower *L, int x, uint32_t axes, Span at) {
    if (!axes) return x;
    IrShape s = shape_of(L, x), t = scalar_shape();
    for (int i = 0; i < s.rank; i++)
        if (!(axes & (1u << i))) t.d[t.rank++] = s.d[i];
    return ir_reshape(L->g, x, t, at);
}

/* ---------------------------------------------------------------- builtins */

/* The argument `name` of a built-in call: by name, else the pos-th positional one. */
static const Expr *arg_of(const Expr *call, int pos, const char *name) {
    int k = 0;
    for (int i = 0; i < call->args.len; i++) {
        const Arg *a = &call->args.items[i];
        if (a->name) {
            if (name && strcmp(a->name, name) == 0) return a->value;
        } else if (k++ == pos) {
            return a->value;
        }
    }
    return NULL;
}

static int n_positional(const Expr *call) {
    int k = 0;
    for (int i = 0; i < call->args.len; i++) k += call->args.items[i].name == NULL;
    return k;
}

static Val eval_arg(Lower *L, Frame *f, const Expr *call, int pos, const char *name) {
    const Expr *e = arg_of(call, pos, name);
    if (!e) {
        diag_error(L->d, call->span, "missing argument `%s`", name);
        return v_none();
    }
    return lower_expr(L, f, e);
}

static bool shape_arg(Lower *L, Val v, Span at, IrShape *out) {
    if (v.kind == V_NONE) return false;
    *out = scalar_shape();
    if (v.kind != V_TUPLE) {
        diag_error(L->d, at, "a shape `[d1, d2, ...]` is needed here");
        return false;
    }
    if (v.n > IR_MAX_RANK) {
        diag_error(L->d, at, "more than %d axes", IR_MAX_RANK);
        return false;
    }
    for (int i = 0; i < v.n; i++) {
        if (!val_to_dim(v.elems[i], &out->d[i])) {
            diag_error(L->d, at, "axis %d of this shape is not an integer", i);
            return false;
        }
    }
    out->rank = v.n;
    return true;
}

/* `axis = k` (negative counts from the end), a list of axes, or NULL: every axis. */
static bool axes_arg(Lower *L, Frame *f, const Expr *e, int rank, uint32_t *mask) {
    if (!e) {
        *mask = rank ? (1u << rank) - 1 : 0;
        return true;
    }
    Val v = lower_expr(L, f, e);
    Val one[1] = {v};
    Val *list = v.kind == V_TUPLE ? v.elems : one;
    int n = v.kind == V_TUPLE ? v.n : 1;
    *mask = 0;
    for (int i = 0; i < n; i++) {
        int64_t k;
        if (!need_int(L, list[i], e->span, "an axis", &k)) return false;
        if (k < 0) k += rank;
        if (k < 0 || k >= rank) {
            diag_error(L->d, e->span, "axis out of range for rank %d", rank);
            return false;
        }
        *mask |= 1u << k;
    }
    return true;
}

static bool count_of_axes(Lower *L, IrShape s, uint32_t mask, Span at, IrDim *n) {
    *n = ir_dim_const(1);
    for (int i = 0; i < s.rank; i++) {
        if (!(mask & (1u << i))) continue;
        if (!dim_mul(*n, s.d[i], n)) {
            diag_error(L->d, at, "the element count here is a multiple of B times B");
            return false;
        }
    }
    return true;
}

static int to_f32(Lower *L, int x, Span at) {
    return dtype_of(L, x) == IR_F32 ? x : ir_unary(L->g, IR_TO_F32, x, at);
}

/* A reduction's result r: the reduced axes dropped, or kept (size 1) under keepdims. */
static int reduced(Lower *L, bool keep, int r, uint32_t mask, Span at) {
    return keep ? r : drop_axes(L, r, mask, at);
}

/* sum / mean / max / min / logsumexp / argmax with `axis = k` or over everything.
 * IR reductions keep the reduced axes with size 1; the language drops them unless
 * the call says `keepdims = true` (check accepts only the literals). */
static Val lower_reduction(Lower *L, Frame *f, const Expr *call, const char *name) {
    Val xv = eval_arg(L, f, call, 0, "x");
    int x;
    if (!need_node(L, xv, call->span, &x)) return v_none();
    IrShape s = shape_of(L, x);
    uint32_t mask;
    if (!axes_arg(L, f, arg_of(call, 1, "axis"), s.rank, &mask)) return v_none();
    const Expr *kd = arg_of(call, -1, "keepdims");
    bool keep = kd && kd->kind == EX_BOOL && kd->num != 0;
    Span at = call->span;
    if (!mask && strcmp(name, "argmax") == 0) {
        diag_error(L->d, at, "argmax of a scalar");
        return v_none();
    }
    if (!mask) return v_node(x);

    if (strcmp(name, "sum") == 0) return v_node(reduced(L, keep, ir_reduce(L->g, IR_SUM, x, mask, at), mask, at));
    if (strcmp(name, "max") == 0) return v_node(reduced(L, keep, ir_reduce(L->g, IR_RMAX, x, mask, at), mask, at));
    if (strcmp(name, "min") == 0) return v_node(reduced(L, keep, ir_reduce(L->g, IR_RMIN, x, mask, at), mask, at));
    if (strcmp(name, "mean") == 0) {
        /* mean = sum / n; n involves B when a batch axis is reduced */
        IrDim n;
        if (!count_of_axes(L, s, mask, at, &n)) return v_none();
        x = to_f32(L, x, at);
        int sum = reduced(L, keep, ir_reduce(L->g, IR_SUM, x, mask, at), mask, at);
        return lower_binop(L, OP_DIV, v_node(sum), v_dim(n), at);
    }
    if (strcmp(name, "logsumexp") == 0) {
        /* logsumexp(x) = m + log(sum(exp(x - m))), m = max(x): no overflow. m is
         * held constant (stop_gradient): the gradient of the whole is softmax(x)
         * whatever m is, so no gradient needs to flow through the max. */
        int m = ir_unary(L->g, IR_STOP_GRAD, ir_reduce(L->g, IR_RMAX, x, mask, at), at);
        int e = ir_unary(L->g, IR_EXP, ir_binary(L->g, IR_SUB, x, m, at), at);
        int r = ir_binary(L->g, IR_ADD, ir_unary(L->g, IR_LOG, ir_reduce(L->g, IR_SUM, e, mask, at), at), m, at);
        return v_node(reduced(L, keep, r, mask, at));
    }
    /* argmax: one axis; over everything it is the argmax of the flattened tensor */
    if (__builtin_popcount(mask) != 1) {
        IrDim n;
        if (!count_of_axes(L, s, mask, at, &n)) return v_none();
        if (mask != (1u << s.rank) - 1) {
            diag_error(L->d, at, "argmax takes one axis");
            return v_none();
        }
        x = ir_reshape(L->g, x, ir_shape(1, &n), at);
        int r = ir_reduce(L->g, IR_ARGMAX, x, 1, at);
        if (!keep) return v_node(drop_axes(L, r, 1, at));
        IrShape ones = s;
        for (int i = 0; i < s.rank; i++) ones.d[i] = ir_dim_const(1);
        return v_node(ir_reshape(L->g, r, ones, at));
    }
    return v_node(reduced(L, keep, ir_reduce(L->g, IR_ARGMAX, x, mask, at), mask, at));
}

static int random_stream(Lower *L) { return L->streams++; }

/* bernoulli / normal / uniform / randint; false when `name` is none of them. */
static bool lower_random(Lower *L, Frame *f, const Expr *call, const char *name, Val *out) {
    static const struct {
        const char *name, *a, *b;
        IrOp op;
    } table[] = {
        {"bernoulli", "p", NULL, IR_BERNOULLI},
        {"normal", "mean", "std", IR_NORMAL},
        {"uniform", "lo", "hi", IR_UNIFORM},
        {"randint", "lo", "hi", IR_RANDINT},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (strcmp(table[i].name, name) != 0) continue;
        *out = v_none();
        int k = 0;
        double a = 0, b = 0;
        if (!need_static(L, eval_arg(L, f, call, k++, table[i].a), call->span, table[i].a, &a))
            return true;
        if (table[i].b &&
            !need_static(L, eval_arg(L, f, call, k++, table[i].b), call->span, table[i].b, &b))
            return true;
        IrShape s;
        if (shape_arg(L, eval_arg(L, f, call, k, "shape"), call->span, &s))
            *out = v_node(ir_random(L->g, table[i].op, s, a, b, random_stream(L), call->span));
        return true;
    }
    return false;
}

static Val lower_builtin(Lower *L, Frame *f, const Expr *call, const char *name) {
    static const struct {
        const char *name;
        IrOp op;
        double (*fold)(double);
    } unary[] = {
        {"exp", IR_EXP, exp},   {"log", IR_LOG, log},   {"sqrt", IR_SQRT, sqrt},
        {"abs", IR_ABS, fabs},  {"tanh", IR_TANH, tanh}, {"sigmoid", IR_SIGMOID, NULL},
        {"relu", IR_RELU, NULL}, {"float", IR_TO_F32, NULL}, {"stop_gradient", IR_STOP_GRAD, NULL},
    };
    Span at = call->span;
    IrGraph *g = L->g;

    for (size_t i = 0; i < sizeof unary / sizeof unary[0]; i++) {
        if (strcmp(unary[i].name, name) != 0) continue;
        Val x = eval_arg(L, f, call, 0, "x");
        double v;
        if (static_num(x, &v)) {
            if (unary[i].fold) return v_num(unary[i].fold(v));
            if (unary[i].op == IR_SIGMOID) return v_num(1 / (1 + exp(-v)));
            if (unary[i].op == IR_RELU) return v_num(v > 0 ? v : 0);
            return v_num(v);
        }
        int xi;
        if (x.kind == V_DIM) xi = materialize(L, x, IR_F32, at);   /* float(B) */
        else if (!need_node(L, x, at, &xi)) return v_none();
        if (unary[i].op == IR_TO_F32) return v_node(to_f32(L, xi, at));
        return v_node(ir_unary(g, unary[i].op, xi, at));
    }

    if ((strcmp(name, "max") == 0 || strcmp(name, "min") == 0) && n_positional(call) == 2) {
        Val x = eval_arg(L, f, call, 0, NULL), y = eval_arg(L, f, call, 1, NULL);
        if (x.kind == V_NONE || y.kind == V_NONE) return v_none();
        double a, b;
        bool is_max = name[1] == 'a';
        if (static_num(x, &a) && static_num(y, &b)) return v_num(is_max ? fmax(a, b) : fmin(a, b));
        IrDType dt = operand_dtype(L, x, y);
        int xi = materialize(L, x, dt, at), yi = materialize(L, y, dt, at);
        if (xi < 0 || yi < 0) return v_none();
        return v_node(ir_binary(g, is_max ? IR_MAX : IR_MIN, xi, yi, at));
    }
    if (strcmp(name, "sum") == 0 || strcmp(name, "mean") == 0 || strcmp(name, "max") == 0 ||
        strcmp(name, "min") == 0 || strcmp(name, "logsumexp") == 0 || strcmp(name, "argmax") == 0)
        return lower_reduction(L, f, call, name);

    if (strcmp(name, "where") == 0) {
        Val c = eval_arg(L, f, call, 0, "cond"), x = eval_arg(L, f, call, 1, "a"),
            y = eval_arg(L, f, call, 2, "b");
        if (c.kind == V_NONE || x.kind == V_NONE || y.kind == V_NONE) return v_none();
        IrDType dt = operand_dtype(L, x, y);
        int ci = materialize(L, c, IR_F32, at), xi = materialize(L, x, dt, at),
            yi = materialize(L, y, dt, at);
        if (ci < 0 || xi < 0 || yi < 0) return v_none();
        return v_node(ir_where(g, ci, xi, yi, at));
    }
    if (strcmp(name, "reshape") == 0) {
        int x;
        IrShape s;
        if (!need_node(L, eval_arg(L, f, call, 0, "x"), at, &x)) return v_none();
        if (!shape_arg(L, eval_arg(L, f, call, 1, "shape"), at, &s)) return v_none();
        /* check leaves counts over size variables to here, where they are known up to
         * B: the counts are polynomials in B of degree <= IR_MAX_RANK, equal for
         * every B when equal at IR_MAX_RANK + 1 values */
        IrShape sx = shape_of(L, x);
        for (int64_t B = 1; B <= IR_MAX_RANK + 1; B++) {
            int64_t nx, ns;
            bool fx = ir_shape_fits(&sx, B, &nx), fs = ir_shape_fits(&s, B, &ns);
            if (fx != fs || nx != ns) {
                StrBuf a = {0}, b = {0};
                ir_shape_print(&sx, &a);
                ir_shape_print(&s, &b);
                diag_error(L->d, at, "cannot reshape %s to %s: the element counts differ", a.data, b.data);
                sb_free(&a);
                sb_free(&b);
                call_trail(L);
                return v_none();
            }
        }
        return v_node(ir_reshape(g, x, s, at));
    }
    if (strcmp(name, "concat") == 0) {
        int x, y;
        if (!need_node(L, eval_arg(L, f, call, 0, "a"), at, &x) ||
            !need_node(L, eval_arg(L, f, call, 1, "b"), at, &y))
            return v_none();
        int64_t axis = 0;
        const Expr *ax = arg_of(call, 2, "axis");
        if (ax && !need_int(L, lower_expr(L, f, ax), ax->span, "an axis", &axis)) return v_none();
        int rank = shape_of(L, x).rank;
        if (axis < 0) axis += rank;
        if (axis < 0 || axis >= rank) {
            diag_error(L->d, at, "axis out of range for rank %d", rank);
            return v_none();
        }
        return v_node(ir_concat(g, x, y, (int)axis, at));
    }
    if (strcmp(name, "one_hot") == 0) {
        int y;
        IrDim n;
        if (!need_node(L, eval_arg(L, f, call, 0, "y"), at, &y)) return v_none();
        Val nv = eval_arg(L, f, call, 1, "n");
        if (nv.kind == V_NONE) return nv;
        if (!val_to_dim(nv, &n)) {
            diag_error(L->d, at, "one_hot's class count must be an integer");
            return v_none();
        }
        if (n.b == 0) return v_node(ir_one_hot(g, y, n.c, at));
        /* a class count of B (`one_hot(arange(N), N)` over a batch) */
        IrNode node = {.op = IR_ONE_HOT, .nin = 1, .in = {y}, .dtype = IR_F32, .shape = shape_of(L, y),
                       .span = at, .dim = n};
        node.shape.d[node.shape.rank++] = n;
        return v_node(ir_add_node(g, node));
    }
    if (strcmp(name, "arange") == 0) {
        Val n = eval_arg(L, f, call, 0, "n");
        IrDim d;
        if (n.kind == V_NONE) return v_none();
        if (!val_to_dim(n, &d)) {
            diag_error(L->d, at, "arange needs an integer");
            return v_none();
        }
        if (d.b == 0) return v_node(ir_arange(g, d.c, at));
        IrNode node = {.op = IR_ARANGE, .dtype = IR_I32, .shape = ir_shape(1, &d), .span = at};
        return v_node(ir_add_node(g, node));
    }
    if (strcmp(name, "shift2d") == 0) {
        int x;
        int64_t h, w, max;
        if (!need_node(L, eval_arg(L, f, call, 0, "x"), at, &x) ||
            !need_int(L, eval_arg(L, f, call, 1, "h"), at, "shift2d's h", &h) ||
            !need_int(L, eval_arg(L, f, call, 2, "w"), at, "shift2d's w", &w) ||
            !need_int(L, eval_arg(L, f, call, 3, "max"), at, "shift2d's max", &max))
            return v_none();
        return v_node(ir_shift2d(g, x, h, w, max, random_stream(L), at));
    }
    Val r;
    if (lower_random(L, f, call, name, &r)) return r;
    diag_error(L->d, at, "the built-in `%s` cannot be lowered", name);
    return v_none();
}

/* -------------------------------------------------------------- parameters */

static bool is_frozen(const Lower *L, const char *component) {
    if (!L->settings->is_train) return true;
    for (int i = 0; i < L->settings->freeze.len; i++)
        if (strcmp(L->settings->freeze.items[i], component) == 0) return true;
    return false;
}

/* glorot / he / zeros / ones / normal(a, b) / uniform(a, b) / a number */
static bool param_init(Lower *L, Frame *f, const Expr *e, IrParam *p) {
    static const struct {
        const char *name;
        IrInit init;
    } named[] = {{"glorot", INIT_GLOROT}, {"he", INIT_HE}, {"zeros", INIT_ZEROS}, {"ones", INIT_ONES}};
    if (e->kind == EX_NAME && e->ref != REF_CONST && !lookup(f, e->str)) {
        for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
            if (strcmp(e->str, named[i].name) == 0) {
                p->init = named[i].init;
                return true;
            }
    }
    if (e->kind == EX_CALL && e->callee->kind == EX_NAME &&
        (strcmp(e->callee->str, "normal") == 0 || strcmp(e->callee->str, "uniform") == 0)) {
        p->init = e->callee->str[0] == 'n' ? INIT_NORMAL : INIT_UNIFORM;
        return need_static(L, eval_arg(L, f, e, 0, NULL), e->span, "an initializer's argument", &p->init_a) &&
               need_static(L, eval_arg(L, f, e, 1, NULL), e->span, "an initializer's argument", &p->init_b);
    }
    p->init = INIT_VALUE;
    return need_static(L, lower_expr(L, f, e), e->span, "a parameter's initial value", &p->init_a);
}

static void declare_param(Lower *L, Frame *f, const Stmt *s) {
    const char *name = arena_printf(L->a, "%s.%s", f->namer->prefix, s->names.items[0]);
    for (int i = 0; i < L->g->params.len; i++)
        if (strcmp(L->g->params.items[i].name, name) == 0) {
            bind(L, f, s->names.items[0], v_node(L->g->params.items[i].node));
            return;
        }
    IrParam p = {.name = name, .component = f->namer->component, .span = s->span};
    if (!type_shape(L, f, s->type, &p.shape) || !param_init(L, f, s->value, &p)) {
        bind(L, f, s->names.items[0], v_none());
        return;
    }
    for (int i = 0; i < p.shape.rank; i++)
        if (p.shape.d[i].b != 0) {
            diag_error(L->d, s->span, "the shape of parameter `%s` depends on the batch size", name);
            bind(L, f, s->names.items[0], v_none());
            return;
        }
    p.trained = !is_frozen(L, p.component);
    bind(L, f, s->names.items[0], v_node(ir_add_param(L->g, p)));
}

/* ------------------------------------------------------------------- calls */

static int param_index(const Item *fn, const char *name) {
    for (int i = 0; i < fn->params.len; i++)
        if (strcmp(fn->params.items[i].name, name) == 0) return i;
    return -1;
}

static Val inline_call(Lower *L, Frame *caller, const Item *fn, const Expr *call) {
    if (L->too_big) return v_none();
    if (++L->inlined > LOWER_MAX_CALLS || L->g->nodes.len > LOWER_MAX_NODES) {
        diag_error(L->d, call->span,
                   "stage `%s` is too large: its calls inline into more than %d calls or %d operations",
                   L->stage->name, LOWER_MAX_CALLS, LOWER_MAX_NODES);
        call_trail(L);
        L->too_big = true;
        return v_none();
    }
    if (L->depth >= LOWER_MAX_DEPTH) {
        diag_error(L->d, call->span, "calls nest more than %d deep here", LOWER_MAX_DEPTH);
        return v_none();
    }
    int np = fn->params.len;
    Val *args = arena_alloc(L->a, sizeof(Val) * (size_t)(np + 1));
    bool *given = arena_alloc(L->a, sizeof(bool) * (size_t)(np + 1));
    int k = 0;
    for (int i = 0; i < call->args.len; i++) {
        const Arg *a = &call->args.items[i];
        int at = a->name ? param_index(fn, a->name) : k++;
        if (at < 0 || at >= np) {
            diag_error(L->d, a->span, a->name ? "`%s` has no argument `%s`" : "too many arguments to `%s`",
                       fn->name, a->name);
            return v_none();
        }
        args[at] = lower_expr(L, caller, a->value);
        if (args[at].kind == V_NONE) return v_none();
        given[at] = true;
    }

    Namer fresh = {0};
    Frame f = {.namer = caller->namer};
    if (fn->role == ROLE_LAYER) {
        Namer *up = caller->namer;
        int count = 0;
        LayerCount *c = NULL;
        for (int i = 0; i < up->counts.len; i++)
            if (strcmp(up->counts.items[i].layer, fn->name) == 0) c = &up->counts.items[i];
        if (!c) {
            vec_push(L->a, &up->counts, ((LayerCount){fn->name, 0}));
            c = &up->counts.items[up->counts.len - 1];
        }
        count = c->count++;
        fresh.prefix = arena_printf(L->a, "%s.%s%d", up->prefix, fn->name, count);
        fresh.component = up->component;
        f.namer = &fresh;
    } else if (fn->role == ROLE_ENCODER || fn->role == ROLE_DECODER) {
        fresh.prefix = fn->name;
        fresh.component = fn->name;
        f.namer = &fresh;
    }

    /* Arguments first, then size variables from their shapes: bare names in one
     * pass, then the compound dims (`2*Z`) that need the others bound. */
    for (int i = 0; i < np; i++) {
        const Param *p = &fn->params.items[i];
        if (!given[i]) {
            if (!p->default_value) {
                diag_error(L->d, call->span, "missing argument `%s` of `%s`", p->name, fn->name);
                return v_none();
            }
            Frame empty = {.namer = f.namer};
            args[i] = lower_expr(L, &empty, p->default_value);
            if (args[i].kind == V_NONE) return v_none();
        }
        if (p->type && p->type->is_int) {
            IrDim d;
            if (!val_to_dim(args[i], &d)) {
                diag_error(L->d, call->span, "argument `%s` of `%s` must be an integer", p->name, fn->name);
                return v_none();
            }
            args[i] = v_dim(d);
        } else if (p->type && args[i].kind != V_NODE) {
            int id = materialize(L, args[i], p->type->dtype == DT_I32 ? IR_I32 : IR_F32, call->span);
            if (id < 0) return v_none();
            args[i] = v_node(id);
        }
        bind(L, &f, p->name, args[i]);
    }
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < np; i++) {
            const Param *p = &fn->params.items[i];
            if (p->type && !p->type->is_int && args[i].kind == V_NODE)
                unify(L, &f, p->type, shape_of(L, args[i].node), pass == 1);
        }

    L->calls[L->depth].at = call->span;
    L->calls[L->depth].fn = fn;
    L->depth++;
    lower_body(L, &f, fn);
    L->depth--;
    if (!f.returned) {
        if (!L->d->errors) diag_error(L->d, fn->span, "`%s` does not return a value", fn->name);
        return v_none();
    }
    return f.ret;
}

/* ------------------------------------------------------------- expressions */

static int input_node(Lower *L, const Item *ds, const char *field, Span at) {
    IrGraph *g = L->g;
    for (int i = 0; i < g->inputs.len; i++)
        if (strcmp(g->inputs.items[i].dataset, ds->name) == 0 && strcmp(g->inputs.items[i].field, field) == 0)
            return g->inputs.items[i].node;
    const rt_dataset_spec *spec = spec_of(L, ds);
    for (int i = 0; spec && i < spec->n_fields; i++) {
        const rt_field_spec *fs = &spec->fields[i];
        if (strcmp(fs->name, field) != 0) continue;
        IrInput in = {.dataset = ds->name, .field = fs->name, .dtype = fs->is_i32 ? IR_I32 : IR_F32};
        in.shape.rank = fs->rank + 1;
        in.shape.d[0] = ir_dim_batch();
        for (int k = 0; k < fs->rank; k++) in.shape.d[k + 1] = ir_dim_const(fs->dims[k]);
        return ir_add_input(g, in);
    }
    diag_error(L->d, at, "dataset `%s` has no field `%s`", ds->name, field);
    return -1;
}

static Val lower_name(Lower *L, Frame *f, const Expr *e) {
    switch (e->ref) {
    case REF_CONST: return v_num(e->item->const_value);
    case REF_BATCH: return v_dim(ir_dim_batch());
    case REF_FIELD: {
        const Item *ds = e->item ? e->item : (L->stage ? L->stage->data : NULL);
        if (!ds) break;
        int id = input_node(L, ds, e->str, e->span);
        return id < 0 ? v_none() : v_node(id);
    }
    case REF_DATASET:
    case REF_FUNC:
    case REF_BUILTIN:
    case REF_MODULE:
        diag_error(L->d, e->span, "`%s` is not a value", e->str);
        return v_none();
    default: {
        const Val *v = lookup(f, e->str);
        if (v) return *v;
        break;
    }
    }
    diag_error(L->d, e->span, "`%s` has no value here", e->str);
    return v_none();
}

static Val lower_call(Lower *L, Frame *f, const Expr *e) {
    const Expr *callee = e->callee;
    if (callee->ref == REF_FUNC && callee->item) return inline_call(L, f, callee->item, e);
    if (callee->ref == REF_BUILTIN) return lower_builtin(L, f, e, callee->str);
    diag_error(L->d, callee->span, "`%s` cannot be called", callee->str ? callee->str : "this");
    return v_none();
}

/* x[i], x[a:b, :], e[idx] (a gather when the one index is an i32 tensor). */
static Val lower_index(Lower *L, Frame *f, const Expr *e) {
    int x;
    if (!need_node(L, lower_expr(L, f, e->lhs), e->span, &x)) return v_none();
    IrShape s = shape_of(L, x);
    if (e->args.len == 1 && e->args.items[0].value->kind != EX_SLICE) {
        Val idx = lower_expr(L, f, e->args.items[0].value);
        if (idx.kind == V_NONE) return idx;
        if (idx.kind == V_NODE) {
            if (dtype_of(L, idx.node) != IR_I32) {
                diag_error(L->d, e->span, "an index tensor must be i32");
                return v_none();
            }
            return v_node(ir_gather(L->g, x, idx.node, e->span));
        }
    }
    if (e->args.len > s.rank) {
        diag_error(L->d, e->span, "%d indices for a tensor of rank %d", e->args.len, s.rank);
        return v_none();
    }
    uint32_t drop = 0;
    for (int axis = 0; axis < e->args.len; axis++) {
        const Expr *a = e->args.items[axis].value;
        IrDim size = s.d[axis], start = ir_dim_const(0), end = size;
        if (a->kind == EX_SLICE) {
            if (a->lhs && !val_to_dim(lower_expr(L, f, a->lhs), &start)) goto bad;
            if (a->rhs && !val_to_dim(lower_expr(L, f, a->rhs), &end)) goto bad;
        } else {
            if (!val_to_dim(lower_expr(L, f, a), &start)) goto bad;
            end = (IrDim){start.b, start.c + 1};
            drop |= 1u << axis;
        }
        /* negative constant bounds count from the end, as in Python */
        if (start.b == 0 && start.c < 0) start = (IrDim){size.b, size.c + start.c};
        if (end.b == 0 && end.c < 0) end = (IrDim){size.b, size.c + end.c};
        if (ir_dim_eq(start, ir_dim_const(0)) && ir_dim_eq(end, size)) continue;
        /* check could not decide bounds against a size variable; here the sizes are
         * known up to B, and a bound must hold for every batch size down to 1 */
        if (!dim_nonneg(start) || !dim_nonneg(dim_minus(end, start)) || !dim_nonneg(dim_minus(size, end))) {
            StrBuf sb = {0};
            ir_shape_print(&s, &sb);
            diag_error(L->d, a->span, "`%.*s` is out of range for axis %d of %s%s", a->span.len,
                       a->span.file ? a->span.file->text + a->span.off : "", axis, sb.data,
                       size.b ? " (B, the batch size, can be as small as 1)" : "");
            sb_free(&sb);
            call_trail(L);
            return v_none();
        }
        x = ir_slice_dim(L->g, x, axis, start, end, a->span);
        continue;
    bad:
        if (!L->d->errors) diag_error(L->d, a->span, "an index must be an integer or an i32 tensor");
        return v_none();
    }
    return v_node(drop_axes(L, x, drop, e->span));
}

static Val lower_transpose(Lower *L, int x, Span at) {
    IrShape s = shape_of(L, x);
    if (s.rank < 2) return v_node(x);
    int perm[IR_MAX_RANK];
    for (int i = 0; i < s.rank; i++) perm[i] = s.rank - 1 - i;
    return v_node(ir_transpose(L->g, x, perm, at));
}

/* `a @ b.T` and `a.T @ b` become one matmul with a transpose flag. */
static Val lower_matmul(Lower *L, Frame *f, const Expr *e) {
    bool ta = e->lhs->kind == EX_TRANSPOSE, tb = e->rhs->kind == EX_TRANSPOSE;
    int x, y;
    if (!need_node(L, lower_expr(L, f, ta ? e->lhs->lhs : e->lhs), e->lhs->span, &x) ||
        !need_node(L, lower_expr(L, f, tb ? e->rhs->lhs : e->rhs), e->rhs->span, &y))
        return v_none();
    if (ta && shape_of(L, x).rank != 2) x = lower_transpose(L, x, e->lhs->span).node, ta = false;
    if (tb && shape_of(L, y).rank != 2) y = lower_transpose(L, y, e->rhs->span).node, tb = false;
    IrShape sx = shape_of(L, x), sy = shape_of(L, y);
    if (sx.rank > 2 && sy.rank == 2 && !ta) {
        /* [..., M, K] @ [K, N]: the leading axes are rows of one 2-D product */
        IrDim rows = ir_dim_const(1);
        for (int i = 0; i + 1 < sx.rank; i++)
            if (!dim_mul(rows, sx.d[i], &rows)) {
                diag_error(L->d, e->span, "the rows of this product are a multiple of B times B");
                return v_none();
            }
        IrDim flat[2] = {rows, sx.d[sx.rank - 1]};
        int m = ir_matmul(L->g, ir_reshape(L->g, x, ir_shape(2, flat), e->span), y, false, tb, e->span);
        IrShape out = sx;
        out.d[out.rank - 1] = shape_of(L, m).d[1];
        return v_node(ir_reshape(L->g, m, out, e->span));
    }
    return v_node(ir_matmul(L->g, x, y, ta, tb, e->span));
}

static Val lower_expr(Lower *L, Frame *f, const Expr *e) {
    switch (e->kind) {
    case EX_NUM:
    case EX_BOOL: return v_num(e->num);
    case EX_STR: return (Val){.kind = V_STR, .str = e->str};
    case EX_NAME: return lower_name(L, f, e);
    case EX_BINARY:
        if (e->op == OP_MATMUL) return lower_matmul(L, f, e);
        return lower_binop(L, e->op, lower_expr(L, f, e->lhs), lower_expr(L, f, e->rhs), e->span);
    case EX_NEG: {
        Val x = lower_expr(L, f, e->lhs);
        if (x.kind == V_NUM) return v_num(-x.num);
        if (x.kind == V_DIM) return v_dim((IrDim){-x.dim.b, -x.dim.c});
        int xi;
        if (!need_node(L, x, e->span, &xi)) return v_none();
        return v_node(ir_unary(L->g, IR_NEG, xi, e->span));
    }
    case EX_CALL: return lower_call(L, f, e);
    case EX_INDEX: return lower_index(L, f, e);
    case EX_FIELD: {
        IrDim d;
        DimResult r = eval_dim(L, f, e, &d);
        return r == DIM_OK ? v_dim(d) : v_none();
    }
    case EX_TRANSPOSE: {
        int x;
        if (!need_node(L, lower_expr(L, f, e->lhs), e->span, &x)) return v_none();
        return lower_transpose(L, x, e->span);
    }
    case EX_TUPLE:
    case EX_LIST: {
        Val t = {.kind = V_TUPLE, .n = e->args.len};
        t.elems = arena_alloc(L->a, sizeof(Val) * (size_t)(t.n + 1));
        for (int i = 0; i < t.n; i++) {
            t.elems[i] = lower_expr(L, f, e->args.items[i].value);
            if (t.elems[i].kind == V_NONE) return v_none();
        }
        return t;
    }
    case EX_SLICE: break;
    }
    diag_error(L->d, e->span, "a slice is only allowed inside `[...]`");
    return v_none();
}

/* -------------------------------------------------------------- statements */

/* Where a node came from; a dataset input (which the IR gives no span) points at
 * its field's declaration, or at its dataset for those that declare no fields. */
static Span node_span(const Lower *L, const IrNode *n) {
    if (n->span.file || n->op != IR_INPUT) return n->span;
    const IrInput *in = &L->g->inputs.items[n->index];
    const Item *ds = find_dataset_item(L, in->dataset);
    if (!ds) return L->stage->span;
    for (int k = 0; k < ds->fields.len; k++)
        if (strcmp(ds->fields.items[k].name, in->field) == 0) return ds->fields.items[k].span;
    return ds->span;
}

/* Every tensor made so far must fit (ir_shape_fits) at the batch sizes the
 * program runs with and ir_verify tries: a program with a [1e9, 1e9] parameter
 * stops here, with a message, rather than in an allocation or an overflow. */
static void check_sizes(Lower *L) {
    int64_t Bs[3] = {1, IR_MAX_RANK + 1, L->settings->batch > 0 ? L->settings->batch : 1};
    for (; L->sized < L->g->nodes.len; L->sized++) {
        const IrNode *n = &L->g->nodes.items[L->sized];
        int k = 0;
        while (k < 3 && ir_shape_fits(&n->shape, Bs[k], NULL)) k++;
        if (k == 3) continue;
        StrBuf sb = {0};
        ir_shape_print(&n->shape, &sb);
        diag_error(L->d, node_span(L, n), "a tensor of shape %s is too large: one tensor holds at most %lld elements%s",
                   sb.data, (long long)IR_MAX_NUMEL, k == 2 ? " (at this stage's batch size)" : "");
        sb_free(&sb);
        call_trail(L);
        for (int i = 0; k == 2 && i < L->stage->body.len; i++) {
            const Stmt *t = L->stage->body.items[i];
            if (t->kind == ST_SETTING && strcmp(t->names.items[0], "batch") == 0)
                diag_note(L->d, t->value->span, "the batch size, %lld, is set here", (long long)Bs[2]);
        }
        L->sized = L->g->nodes.len;
        return;
    }
}

/* The statements of a function body or a stage body (settings are read apart). */
static void lower_body(Lower *L, Frame *f, const Item *owner) {
    /* sizes after each statement, while the calls that made its tensors are known */
    for (int i = 0; i < owner->body.len && !f->returned; i++, check_sizes(L)) {
        const Stmt *s = owner->body.items[i];
        switch (s->kind) {
        case ST_ASSIGN: {
            Val v = lower_expr(L, f, s->value);
            if (s->names.len == 1) {
                bind(L, f, s->names.items[0], v);
            } else if (v.kind == V_TUPLE && v.n == s->names.len) {
                for (int k = 0; k < v.n; k++) bind(L, f, s->names.items[k], v.elems[k]);
            } else {
                if (v.kind != V_NONE)
                    diag_error(L->d, s->span, "%d names for a value that is not a %d-tuple",
                               s->names.len, s->names.len);
                for (int k = 0; k < s->names.len; k++) bind(L, f, s->names.items[k], v_none());
            }
            break;
        }
        case ST_PARAM: declare_param(L, f, s); break;
        case ST_RETURN:
            f->ret = lower_expr(L, f, s->value);
            f->returned = true;
            break;
        case ST_MINIMIZE: {
            int id = materialize(L, lower_expr(L, f, s->value), IR_F32, s->span);
            if (id < 0) break;
            if (shape_of(L, id).rank != 0 || dtype_of(L, id) != IR_F32) {
                StrBuf sb = {0};
                ir_shape_print(&L->g->nodes.items[id].shape, &sb);
                diag_error(L->d, s->value->span, "`minimize` needs an f32 scalar, not %s", sb.data);
                sb_free(&sb);
                break;
            }
            if (L->settings->is_train) L->g->loss = id;
            break;
        }
        case ST_REPORT: {
            int id = materialize(L, lower_expr(L, f, s->value), IR_F32, s->span);
            if (id < 0) break;
            if (shape_of(L, id).rank != 0) {
                diag_error(L->d, s->value->span, "a report must be a scalar");
                break;
            }
            ir_add_report(L->g, s->names.items[0], to_f32(L, id, s->span), s->span);
            break;
        }
        case ST_SETTING: break;
        }
    }
}

/* ---------------------------------------------------------------- datasets */

/* A number written with consts only: settings, dataset options, load arithmetic. */
static bool const_number(const Expr *e, double *out) {
    switch (e->kind) {
    case EX_NUM:
    case EX_BOOL: *out = e->num; return true;
    case EX_NAME:
    case EX_FIELD:
        if (e->ref == REF_CONST && e->item) {
            *out = e->item->const_value;
            return true;
        }
        return false;
    case EX_NEG:
        if (!const_number(e->lhs, out)) return false;
        *out = -*out;
        return true;
    case EX_BINARY: {
        double x, y;
        if (!const_number(e->lhs, &x) || !const_number(e->rhs, &y) || e->op == OP_MATMUL) return false;
        *out = fold(e->op, x, y);
        return true;
    }
    default: return false;
    }
}

static const char *callee_name(const Expr *e) {
    return e->kind == EX_CALL && e->callee && e->callee->str ? e->callee->str : NULL;
}

static bool named_number(Lower *L, const Expr *call, const char *name, double *out) {
    const Expr *v = arg_of(call, -1, name);
    if (!v) return false;
    if (!const_number(v, out)) {
        diag_error(L->d, v->span, "`%s` must be a compile-time number", name);
        return false;
    }
    return true;
}

static const char *path_arg(Lower *L, const Expr *call) {
    const Expr *p = arg_of(call, 0, "path");
    if (p && p->kind == EX_STR) return p->str;
    diag_error(L->d, call->span, "`%s` needs a path string", callee_name(call));
    return NULL;
}

/* idx(...) / 255, 255 - csv(...), -(npy(...) - 0.5) * 2: the source call, and its
 * scalar arithmetic applied once at load, innermost first. */
static bool lower_source(Lower *L, const Expr *e, rt_field_spec *fs) {
    double v;
    if (e->kind == EX_BINARY && e->op != OP_MATMUL && e->op <= OP_DIV) {
        bool value_first = const_number(e->lhs, &v);
        if (!value_first && !const_number(e->rhs, &v)) goto bad;
        if (!lower_source(L, value_first ? e->rhs : e->lhs, fs)) return false;
        if (fs->n_ops == RT_MAX_LOAD_OPS) goto bad;
        fs->ops[fs->n_ops++] = (rt_scalar_op){"+-*/"[e->op], value_first, v};
        return true;
    }
    if (e->kind == EX_NEG) {
        if (!lower_source(L, e->lhs, fs) || fs->n_ops == RT_MAX_LOAD_OPS) return false;
        fs->ops[fs->n_ops++] = (rt_scalar_op){'*', false, -1};
        return true;
    }
    static const struct {
        const char *name;
        rt_source_kind kind;
    } kinds[] = {{"idx", RT_SRC_IDX}, {"csv", RT_SRC_CSV}, {"npy", RT_SRC_NPY},
                 {"text", RT_SRC_TEXT}, {"tokens", RT_SRC_TOKENS}};
    const char *name = callee_name(e);
    for (size_t i = 0; name && i < sizeof kinds / sizeof kinds[0]; i++) {
        if (strcmp(name, kinds[i].name) != 0) continue;
        fs->kind = kinds[i].kind;
        fs->path = path_arg(L, e);
        if (named_number(L, e, "columns", &v)) fs->columns = (int64_t)v;
        if (named_number(L, e, "length", &v)) fs->length = (int64_t)v;
        return fs->path != NULL;
    }
bad:
    diag_error(L->d, e->span,
               "a field's source is idx(...), csv(...), npy(...), text(...) or tokens(...), "
               "with at most %d scalar operations", RT_MAX_LOAD_OPS);
    return false;
}

static const char *dir_of(Arena *a, const Item *it) {
    const char *path = it->module && it->module->file ? it->module->file->path : NULL;
    const char *slash = path ? strrchr(path, '/') : NULL;
    return slash ? arena_strndup(a, path, (size_t)(slash - path)) : ".";
}

static rt_field_spec *new_fields(Lower *L, rt_dataset_spec *ds, int n) {
    ds->n_fields = n;
    ds->fields = arena_alloc(L->a, sizeof(rt_field_spec) * (size_t)n);
    return ds->fields;
}

/* skipgram(text(path, lowercase, min_count), window, negatives, min_count, subsample);
 * defaults as word2vec's: window 5, negatives 5, min_count 5, subsample 1e-3. */
static bool lower_skipgram(Lower *L, const Expr *e, rt_dataset_spec *ds) {
    const Expr *corpus = arg_of(e, 0, "corpus");
    const char *cname = corpus ? callee_name(corpus) : NULL;
    if (!cname || strcmp(cname, "text") != 0) {
        diag_error(L->d, e->span, "skipgram needs a text(...) corpus");
        return false;
    }
    double v;
    ds->skipgram = true;
    ds->window = ds->negatives = ds->min_count = 5;
    ds->subsample = 1e-3;
    ds->text_path = path_arg(L, corpus);
    if (named_number(L, corpus, "lowercase", &v)) ds->lowercase = v != 0;
    if (named_number(L, corpus, "min_count", &v)) ds->min_count = (int64_t)v;
    if (named_number(L, e, "min_count", &v)) ds->min_count = (int64_t)v;
    if (named_number(L, e, "window", &v)) ds->window = (int64_t)v;
    if (named_number(L, e, "negatives", &v)) ds->negatives = (int64_t)v;
    if (named_number(L, e, "subsample", &v)) ds->subsample = v;
    rt_field_spec *fs = new_fields(L, ds, 3);
    fs[0] = (rt_field_spec){.name = "center", .is_i32 = true, .kind = RT_SRC_TEXT, .path = ds->text_path};
    fs[1] = (rt_field_spec){.name = "context", .is_i32 = true, .kind = RT_SRC_TEXT, .path = ds->text_path};
    fs[2] = (rt_field_spec){.name = "negatives", .is_i32 = true, .rank = 1, .dims = {ds->negatives},
                            .kind = RT_SRC_TEXT, .path = ds->text_path};
    return ds->text_path != NULL;
}

static rt_dataset_spec *lower_dataset(Lower *L, const Item *it) {
    rt_dataset_spec *ds = arena_alloc(L->a, sizeof *ds);
    ds->name = it->name;
    ds->base_dir = dir_of(L->a, it);
    vec_push(L->a, &L->datasets, ((DsEntry){it, ds}));
    if (!it->fields.len) {
        /* `= csv(path, columns = N)` is one field x: [N]; `= tokens(path, length = L)` x: i32[L] */
        const char *name = it->value ? callee_name(it->value) : NULL;
        if (name && strcmp(name, "skipgram") == 0) {
            lower_skipgram(L, it->value, ds);
            return ds;
        }
        rt_field_spec *fs = new_fields(L, ds, 1);
        fs->name = "x";
        if (!it->value || !lower_source(L, it->value, fs)) return ds;
        if (fs->kind == RT_SRC_CSV && fs->columns > 0) {
            fs->rank = 1;
            fs->dims[0] = fs->columns;
        } else if (fs->kind == RT_SRC_TOKENS && fs->length > 0) {
            fs->is_i32 = true;
            fs->rank = 1;
            fs->dims[0] = fs->length;
        } else {
            diag_error(L->d, it->value->span,
                       "this source does not say its shape: declare the fields, `%s { x: [...] = ... }`",
                       it->name);
        }
        return ds;
    }
    rt_field_spec *fs = new_fields(L, ds, it->fields.len);
    for (int i = 0; i < it->fields.len; i++) {
        const Field *fd = &it->fields.items[i];
        fs[i].name = fd->name;
        IrShape s = scalar_shape();
        if (fd->type) {
            fs[i].is_i32 = fd->type->dtype == DT_I32;
            if (!type_shape(L, NULL, fd->type, &s)) continue;
        }
        fs[i].rank = s.rank;
        for (int k = 0; k < s.rank; k++) fs[i].dims[k] = s.d[k].c;
        if (fd->source) lower_source(L, fd->source, &fs[i]);
    }
    return ds;
}

/* ---------------------------------------------------------------- settings */

static bool setting_int(Lower *L, const Stmt *s, int64_t min, int64_t *out) {
    double v;
    if (!const_number(s->value, &v) || v != floor(v) || v < (double)min) {
        diag_error(L->d, s->value->span, "`%s` must be an integer of at least %lld", s->names.items[0],
                   (long long)min);
        return false;
    }
    *out = (int64_t)v;
    return true;
}

static const char *setting_name(Lower *L, const Stmt *s) {
    if (s->value->kind == EX_NAME) return s->value->str;
    diag_error(L->d, s->value->span, "`%s` takes a name", s->names.items[0]);
    return NULL;
}

static const char *setting_str(Lower *L, const Stmt *s) {
    if (s->value->kind == EX_STR) return s->value->str;
    diag_error(L->d, s->value->span, "`%s` takes a string", s->names.items[0]);
    return NULL;
}

/* sgd(lr, momentum = 0, weight_decay = 0); adam/adamw(lr, beta1 = 0.9,
 * beta2 = 0.999, eps = 1e-8, weight_decay = 0, adamw: 0.01 as in PyTorch). */
static void lower_optimizer(Lower *L, const Expr *e, IrOptim *o) {
    const char *name = callee_name(e);
    if (!name && e->kind == EX_NAME) name = e->str;
    if (name && strcmp(name, "sgd") == 0) o->kind = OPT_SGD;
    else if (name && strcmp(name, "adam") == 0) o->kind = OPT_ADAM;
    else if (name && strcmp(name, "adamw") == 0) o->kind = OPT_ADAMW;
    else {
        diag_error(L->d, e->span, "the optimizer is sgd(...), adam(...) or adamw(...)");
        return;
    }
    o->weight_decay = o->kind == OPT_ADAMW ? 0.01 : 0;
    if (e->kind != EX_CALL) return;
    const Expr *lr = arg_of(e, 0, "lr");
    if (lr && !const_number(lr, &o->lr)) diag_error(L->d, lr->span, "`lr` must be a compile-time number");
    static const char *const names[] = {"momentum", "beta1", "beta2", "eps", "weight_decay"};
    double *slots[] = {&o->momentum, &o->beta1, &o->beta2, &o->eps, &o->weight_decay};
    for (int i = 0; i < e->args.len; i++) {
        const Arg *a = &e->args.items[i];
        if (!a->name || strcmp(a->name, "lr") == 0) continue;
        bool known = false;
        for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
            if (strcmp(a->name, names[k]) == 0) {
                known = named_number(L, e, a->name, slots[k]);
                known = true;
            }
        if (!known) diag_error(L->d, a->span, "`%s` has no setting `%s`", name, a->name);
    }
}

/* constant; linear(to = 0); cosine(warmup = steps) */
static void lower_schedule(Lower *L, const Expr *e, IrOptim *o) {
    const char *name = e->kind == EX_NAME ? e->str : callee_name(e);
    double v;
    if (name && strcmp(name, "constant") == 0) {
        o->schedule = SCHED_CONSTANT;
    } else if (name && strcmp(name, "linear") == 0) {
        o->schedule = SCHED_LINEAR;
        if (e->kind == EX_CALL && named_number(L, e, "to", &v)) o->sched_to = v;
    } else if (name && strcmp(name, "cosine") == 0) {
        o->schedule = SCHED_COSINE;
        if (e->kind == EX_CALL && named_number(L, e, "warmup", &v)) o->warmup = (int64_t)v;
    } else {
        diag_error(L->d, e->span, "the schedule is constant, linear(to = ...) or cosine(warmup = ...)");
    }
}

static bool setting_is(const char *name, const char *const *list) {
    for (; *list; list++)
        if (strcmp(name, *list) == 0) return true;
    return false;
}

/* The settings of a stage (rl-language.md §6), with their defaults: batch 64,
 * seed 0, one epoch, adam(lr = 1e-3) when no optimizer is named. */
static void lower_settings(Lower *L, const Item *st, IrStage *s, IrOptim *o) {
    static const char *const train_only[] = {"epochs", "steps", "optimizer", "schedule", "seed",
                                             "save", "save_every", "validate", "freeze", NULL};
    static const char *const all[] = {"data",  "batch",   "limit",     "load",       "show",
                                      "show_width", "show_count", "codes", "labels", "vectors",
                                      "embedding", "neighbours", NULL};
    s->name = st->name;
    s->is_train = st->stage_kind == STAGE_TRAIN;
    s->span = st->span;
    s->batch = 64;
    s->show_count = 8;
    s->codes = s->labels = -1;
    *o = (IrOptim){.kind = OPT_ADAM, .lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
    for (int i = 0; i < st->body.len; i++) {
        const Stmt *t = st->body.items[i];
        if (t->kind != ST_SETTING) continue;
        const char *name = t->names.items[0];
        if (!setting_is(name, all) && !(s->is_train && setting_is(name, train_only))) {
            diag_error(L->d, t->name_spans.len ? t->name_spans.items[0] : t->span,
                       "`%s` is not a setting of %s stage", name, s->is_train ? "a train" : "an eval");
            continue;
        }
        int64_t v;
        if (strcmp(name, "data") == 0) {
            s->dataset = setting_name(L, t);
            if (s->dataset && !find_dataset_item(L, s->dataset))
                diag_error(L->d, t->value->span, "no dataset `%s`", s->dataset);
        } else if (strcmp(name, "batch") == 0) {
            if (setting_int(L, t, 1, &v)) s->batch = v;
        } else if (strcmp(name, "epochs") == 0) {
            if (setting_int(L, t, 1, &v)) s->epochs = v;
        } else if (strcmp(name, "steps") == 0) {
            if (setting_int(L, t, 1, &v)) s->steps = v;
        } else if (strcmp(name, "limit") == 0) {
            if (setting_int(L, t, 1, &v)) s->limit = v;
        } else if (strcmp(name, "seed") == 0) {
            if (setting_int(L, t, 0, &v)) s->seed = (uint64_t)v;
        } else if (strcmp(name, "load") == 0) {
            s->load = setting_str(L, t);
        } else if (strcmp(name, "save") == 0) {
            s->save = setting_str(L, t);
        } else if (strcmp(name, "save_every") == 0) {
            if (setting_int(L, t, 1, &v)) s->save_every = v;
        } else if (strcmp(name, "validate") == 0) {
            s->validate = setting_name(L, t);
        } else if (strcmp(name, "freeze") == 0) {
            const Expr *e = t->value;
            if (e->kind == EX_NAME) {
                vec_push(L->a, &s->freeze, e->str);
            } else if (e->kind == EX_LIST) {
                for (int k = 0; k < e->args.len; k++) {
                    const Expr *c = e->args.items[k].value;
                    if (c->kind == EX_NAME) vec_push(L->a, &s->freeze, c->str);
                    else diag_error(L->d, c->span, "`freeze` lists components by name");
                }
            } else {
                diag_error(L->d, e->span, "`freeze` lists components by name");
            }
        } else if (strcmp(name, "show_width") == 0) {
            if (setting_int(L, t, 1, &v)) s->show_width = v;
        } else if (strcmp(name, "show_count") == 0) {
            if (setting_int(L, t, 1, &v)) s->show_count = v;
        } else if (strcmp(name, "vectors") == 0) {
            s->vectors = setting_str(L, t);
        } else if (strcmp(name, "embedding") == 0) {
            s->embedding = setting_name(L, t);
        } else if (strcmp(name, "neighbours") == 0) {
            const Expr *e = t->value;
            int n = e->kind == EX_LIST ? e->args.len : 1;
            for (int k = 0; k < n; k++) {
                const Expr *c = e->kind == EX_LIST ? e->args.items[k].value : e;
                if (c->kind == EX_STR) vec_push(L->a, &s->neighbours, c->str);
            }
        } else if (strcmp(name, "optimizer") == 0) {
            lower_optimizer(L, t->value, o);
        } else if (strcmp(name, "schedule") == 0) {
            lower_schedule(L, t->value, o);
        }
    }
    if (!s->dataset) diag_error(L->d, st->name_span, "stage `%s` has no `data:` setting", st->name);
    if (!s->epochs && !s->steps) s->epochs = 1;
    if (L->o && L->o->batch > 0) s->batch = L->o->batch;
}

/* ------------------------------------------------------------------ stages */

/* A binding of the stage body, or a field of its dataset, named by a setting. */
static int named_node(Lower *L, Frame *f, const Item *st, const Expr *e, const char *setting) {
    const Val *v = lookup(f, e->str);
    int id = -1;
    if (v && v->kind == V_NODE) id = v->node;
    else if (!v && st->data && spec_of(L, st->data)) {
        const rt_dataset_spec *spec = spec_of(L, st->data);
        for (int i = 0; i < spec->n_fields; i++)
            if (strcmp(spec->fields[i].name, e->str) == 0) id = input_node(L, st->data, e->str, e->span);
    }
    if (id < 0) diag_error(L->d, e->span, "`%s` names `%s`, which is neither a tensor bound in stage `%s` "
                           "nor a field of its data", setting, e->str, st->name);
    return id;
}

/* The nodes the presentation settings (show, codes, labels) name, checked: show
 * draws f32 images whose width divides their size; codes are f32 rows [B, Z];
 * labels are i32 [B]. */
static void lower_presentation(Lower *L, Frame *f, const Item *st, IrStage *s) {
    for (int i = 0; i < st->body.len; i++) {
        const Stmt *t = st->body.items[i];
        if (t->kind != ST_SETTING) continue;
        const char *name = t->names.items[0];
        const Expr *e = t->value;
        if (strcmp(name, "show") == 0) {
            int n = e->kind == EX_LIST ? e->args.len : 1;
            for (int k = 0; k < n; k++) {
                const Expr *c = e->kind == EX_LIST ? e->args.items[k].value : e;
                if (c->kind != EX_NAME) continue;
                int id = named_node(L, f, st, c, "show");
                if (id < 0) continue;
                IrShape sh = shape_of(L, id);
                int64_t numel = 1;
                bool fixed = sh.rank >= 1 && sh.d[0].b == 1 && sh.d[0].c == 0;
                for (int d = 1; d < sh.rank; d++) {
                    fixed = fixed && sh.d[d].b == 0;
                    numel *= sh.d[d].c;
                }
                int64_t w = s->show_width;
                if (!w) {
                    w = (int64_t)(sqrt((double)numel) + 0.5);
                    if (w * w != numel) w = 0;
                }
                if (!fixed || dtype_of(L, id) != IR_F32 || sh.rank < 2)
                    diag_error(L->d, c->span, "`show` draws f32 tensors with one image per row of the batch");
                else if (!w)
                    diag_error(L->d, c->span, "`%s` has %lld values an example, not a square image: give "
                               "`show_width`", c->str, (long long)numel);
                else if (numel % w)
                    diag_error(L->d, c->span, "`%s` has %lld values an example, not rows of show_width %lld",
                               c->str, (long long)numel, (long long)w);
                else
                    vec_push(L->a, &s->show, ((IrShowRow){c->str, id}));
            }
        } else if ((strcmp(name, "codes") == 0 || strcmp(name, "labels") == 0) && e->kind == EX_NAME) {
            int id = named_node(L, f, st, e, name);
            if (id < 0) continue;
            IrShape sh = shape_of(L, id);
            bool codes = name[0] == 'c';
            bool ok = sh.rank == (codes ? 2 : 1) && sh.d[0].b == 1 && sh.d[0].c == 0 &&
                      dtype_of(L, id) == (codes ? IR_F32 : IR_I32) && (!codes || sh.d[1].b == 0);
            if (!ok)
                diag_error(L->d, e->span, codes ? "`codes` must be f32 [B, Z] (one code a row)"
                                                : "`labels` must be i32 [B] (one class a row)");
            else if (codes)
                s->codes = id;
            else
                s->labels = id;
        }
    }
    if (s->embedding) {
        size_t n = strlen(s->embedding);
        int found = 0;
        for (int i = 0; i < L->g->params.len; i++) {
            const IrParam *p = &L->g->params.items[i];
            if (strncmp(p->name, s->embedding, n) == 0 && p->name[n] == '.' && p->shape.rank == 2) found++;
        }
        if (found != 1)
            diag_error(L->d, st->name_span, "`embedding: %s` needs exactly one 2-D parameter of `%s` used in "
                       "stage `%s` (found %d)", s->embedding, s->embedding, st->name, found);
    }
}

static IrGraph *copy_graph(Arena *a, const IrGraph *g) {
    IrGraph *c = ir_graph_new(a, g->name);
    for (int i = 0; i < g->nodes.len; i++) vec_push(a, &c->nodes, g->nodes.items[i]);
    for (int i = 0; i < g->params.len; i++) vec_push(a, &c->params, g->params.items[i]);
    for (int i = 0; i < g->inputs.len; i++) vec_push(a, &c->inputs, g->inputs.items[i]);
    for (int i = 0; i < g->reports.len; i++) vec_push(a, &c->reports, g->reports.items[i]);
    c->loss = g->loss;
    c->n_forward = g->n_forward;
    c->optim = g->optim;
    return c;
}

/* A phase that left a malformed graph is a bug of the compiler; say so at the stage. */
static bool verified(Lower *L, const IrGraph *g, const char *after) {
    StrBuf why = {0};
    bool ok = ir_verify(g, &why);
    if (!ok)
        diag_error(L->d, L->stage->span, "internal error: the IR of stage `%s` after %s is malformed: %s",
                   L->stage->name, after, why.data ? why.data : "?");
    sb_free(&why);
    return ok;
}

static void lower_stage(Lower *L, const Item *st) {
    IrStage s = {0};
    IrOptim optim;
    int errors = L->d->errors;
    lower_settings(L, st, &s, &optim);
    L->stage = st;
    L->settings = &s;
    L->streams = 0;
    L->g = ir_graph_new(L->a, st->name);
    L->g->optim = optim;
    Namer namer = {.prefix = st->name, .component = st->name};
    Frame f = {.namer = &namer};
    L->sized = 0;
    L->inlined = 0;
    L->too_big = false;
    L->failed_quietly = false;
    if (s.dataset) lower_body(L, &f, st);
    /* an error reported for an earlier stage counts for this one too */
    if (L->failed_quietly) errors--;
    if (s.dataset && L->d->errors == errors) lower_presentation(L, &f, st, &s);
    check_sizes(L);
    L->g->n_forward = L->g->nodes.len;
    if (s.is_train && L->g->loss < 0 && L->d->errors == errors)
        diag_error(L->d, st->name_span, "train stage `%s` has no `minimize`", st->name);
    if (L->d->errors != errors || !verified(L, L->g, "lowering")) return;

    s.forward = L->g;
    if (s.is_train) {
        s.raw = copy_graph(L->a, L->g);
        ad_differentiate(s.raw);
        if (!verified(L, s.raw, "autodiff")) return;
        s.graph = simplify_graph(s.raw);
    } else {
        s.graph = simplify_graph(s.forward);
    }
    if (!verified(L, s.graph, "simplify")) return;
    vec_push(L->a, &L->ir->stages, s);
}

IrProgram *lower_program(const Program *p, Diags *d, const LowerOptions *o) {
    Lower L = {.a = p->arena, .d = d, .o = o, .prog = p};
    int errors = d->errors;
    IrProgram *ir = arena_alloc(L.a, sizeof *ir);
    ir->arena = p->arena;
    L.ir = ir;
    if (p->modules.len && p->modules.items[0]->file) ir->path = p->modules.items[0]->file->path;
    for (int m = 0; m < p->modules.len; m++) {
        const Module *mod = p->modules.items[m];
        for (int i = 0; i < mod->items.len; i++)
            if (mod->items.items[i]->kind == ITEM_DATASET)
                vec_push(L.a, &ir->datasets, lower_dataset(&L, mod->items.items[i]));
    }
    /* the stages of the main file, in the order written */
    const Module *main = p->modules.len ? p->modules.items[0] : NULL;
    for (int i = 0; main && i < main->items.len; i++)
        if (main->items.items[i]->kind == ITEM_STAGE) lower_stage(&L, main->items.items[i]);
    for (int i = 0; i < ir->stages.len; i++) {
        const IrStage *s = &ir->stages.items[i];
        if (!s->validate) continue;
        int k = 0;
        while (k < ir->stages.len && strcmp(ir->stages.items[k].name, s->validate) != 0) k++;
        if (k == ir->stages.len || ir->stages.items[k].is_train)
            diag_error(d, s->span, "`validate: %s` names no eval stage", s->validate);
    }
    return d->errors == errors ? ir : NULL;
}

/* -------------------------------------------------------------------- dump */

static const char *source_kind_name(rt_source_kind k) {
    static const char *const names[] = {[RT_SRC_IDX] = "idx", [RT_SRC_CSV] = "csv", [RT_SRC_NPY] = "npy",
                                        [RT_SRC_TEXT] = "text", [RT_SRC_TOKENS] = "tokens"};
    return names[k];
}

static void dump_dataset(const rt_dataset_spec *ds, StrBuf *out) {
    sb_printf(out, "dataset %s", ds->name);
    if (ds->skipgram)
        sb_printf(out, " skipgram text=\"%s\" lowercase=%d min_count=%lld window=%lld negatives=%lld subsample=%g",
                  ds->text_path, ds->lowercase, (long long)ds->min_count, (long long)ds->window,
                  (long long)ds->negatives, ds->subsample);
    sb_puts(out, "\n");
    for (int i = 0; i < ds->n_fields; i++) {
        const rt_field_spec *f = &ds->fields[i];
        sb_printf(out, "  field %s %s[", f->name, f->is_i32 ? "i32" : "f32");
        for (int k = 0; k < f->rank; k++) sb_printf(out, "%s%lld", k ? ", " : "", (long long)f->dims[k]);
        sb_printf(out, "] %s \"%s\"", source_kind_name(f->kind), f->path ? f->path : "");
        if (f->columns) sb_printf(out, " columns=%lld", (long long)f->columns);
        if (f->length) sb_printf(out, " length=%lld", (long long)f->length);
        for (int k = 0; k < f->n_ops; k++) {
            const rt_scalar_op *op = &f->ops[k];
            if (op->value_first) sb_printf(out, " (%g %c x)", op->value, op->op);
            else sb_printf(out, " (x %c %g)", op->op, op->value);
        }
        sb_puts(out, "\n");
    }
}

static void dump_stage_header(const IrStage *s, StrBuf *out) {
    static const char *const opt[] = {[OPT_SGD] = "sgd", [OPT_ADAM] = "adam", [OPT_ADAMW] = "adamw"};
    static const char *const sched[] = {[SCHED_CONSTANT] = "constant", [SCHED_LINEAR] = "linear",
                                        [SCHED_COSINE] = "cosine"};
    sb_printf(out, "stage %s %s data=%s batch=%lld", s->name, s->is_train ? "train" : "eval", s->dataset,
              (long long)s->batch);
    if (s->steps) sb_printf(out, " steps=%lld", (long long)s->steps);
    else if (s->is_train) sb_printf(out, " epochs=%lld", (long long)s->epochs);
    if (s->limit) sb_printf(out, " limit=%lld", (long long)s->limit);
    if (s->is_train) sb_printf(out, " seed=%llu", (unsigned long long)s->seed);
    if (s->load) sb_printf(out, " load=\"%s\"", s->load);
    if (s->save) sb_printf(out, " save=\"%s\"", s->save);
    if (s->save_every) sb_printf(out, " save_every=%lld", (long long)s->save_every);
    if (s->validate) sb_printf(out, " validate=%s", s->validate);
    for (int i = 0; i < s->freeze.len; i++) sb_printf(out, "%s%s", i ? "," : " freeze=", s->freeze.items[i]);
    sb_puts(out, "\n");
    if (s->is_train) {
        const IrOptim *o = &s->graph->optim;
        sb_printf(out, "optimizer %s lr=%g", opt[o->kind], o->lr);
        if (o->kind == OPT_SGD) sb_printf(out, " momentum=%g", o->momentum);
        else sb_printf(out, " beta1=%g beta2=%g eps=%g", o->beta1, o->beta2, o->eps);
        sb_printf(out, " weight_decay=%g schedule=%s", o->weight_decay, sched[o->schedule]);
        if (o->schedule == SCHED_LINEAR) sb_printf(out, " to=%g", o->sched_to);
        if (o->schedule == SCHED_COSINE) sb_printf(out, " warmup=%lld", (long long)o->warmup);
        sb_puts(out, "\n");
    }
}

void lower_dump(const IrProgram *ir, bool grad, bool raw, const char *only, StrBuf *out) {
    if (!only)
        for (int i = 0; i < ir->datasets.len; i++) dump_dataset(ir->datasets.items[i], out);
    for (int i = 0; i < ir->stages.len; i++) {
        const IrStage *s = &ir->stages.items[i];
        if (only && strcmp(only, s->name) != 0) continue;
        sb_puts(out, "\n");
        dump_stage_header(s, out);
        const IrGraph *g;
        if (grad && s->is_train) g = raw ? s->raw : s->graph;
        else if (raw) g = s->forward;
        else g = s->is_train ? simplify_graph(s->forward) : s->graph;
        ir_print(g, out);
    }
}

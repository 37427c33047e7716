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
#include "lower_impl.h"
#include "shard.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


/* After an error inside an inlined body, where each enclosing call was made,
 * innermost first: an error in a library function leads back to the user's code. */
void call_trail(Lower *L) {
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


static void bind(Lower *L, Frame *f, const char *name, Val v) {
    vec_push(L->a, &f->vars, ((Binding){name, v}));
}

/* The latest binding wins: a body may rebind a name (`h = ...; h = ...`). */
static const Val *lookup(const Frame *f, const char *name) {
    for (int i = f->vars.len - 1; i >= 0; i--)
        if (strcmp(f->vars.items[i].name, name) == 0) return &f->vars.items[i].v;
    return NULL;
}



/* ------------------------------------------------------------------- dims */

static IrDim dim_minus(IrDim x, IrDim y) { return (IrDim){x.b - y.b, x.c - y.c}; }
/* b*B + c >= 0 for every B >= 1 (B is at least 1 at run time). */
static bool dim_nonneg(IrDim d) { return d.b >= 0 && d.b + d.c >= 0; }


const Item *find_dataset_item(const Lower *L, const char *name) {
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
        bool known = L->o->dataset_dim(L->o->dataset_dim_ctx, spec, prop, &value, why, sizeof why);
        if (!known && L->o->placeholder_dims > 0) {
            value = L->o->placeholder_dims;
            diag_warning(L->d, at, "cannot know `%s.%s` (%s): checked with %lld in its place", ds->name,
                         prop, why, (long long)value);
        } else if (!known) {
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

/* x / y (exact) or x // y of dims; only a constant divisor of every B term
 * divides a dim that involves B. False with an error at `at`. */
static bool ir_dim_div(Lower *L, IrDim x, IrDim y, bool floor_div, Span at, IrDim *out) {
    if (y.b != 0 || y.c == 0 || x.b % y.c != 0) {
        diag_error(L->d, at, "this division of dims is not known at compile time");
        return false;
    }
    int64_t q = x.c / y.c;
    if (x.c % y.c != 0 && (x.c < 0) != (y.c < 0)) q--;
    if (!floor_div && x.c % y.c != 0) {
        diag_error(L->d, at, "%lld / %lld leaves a remainder: `/` of dims must be exact (`//` rounds down)",
                   (long long)x.c, (long long)y.c);
        return false;
    }
    *out = (IrDim){(int32_t)(x.b / y.c), q};
    return true;
}

typedef enum { DIM_OK, DIM_UNBOUND, DIM_ERROR } DimResult;

static DimResult eval_dim(Lower *L, const Frame *f, const Expr *e, IrDim *out);

/* A const's value as a dim; one made from a dataset property asks the data. */
static DimResult const_dim(Lower *L, const Item *c, IrDim *out) {
    if (c->const_from_data) return eval_dim(L, NULL, c->value, out);
    *out = ir_dim_const((int64_t)c->const_value);
    return DIM_OK;
}

/* A dim as written in a type: numbers, consts, size variables and int
 * arguments bound in `f`, B, dataset properties, combined with + - *. */
static DimResult eval_dim(Lower *L, const Frame *f, const Expr *e, IrDim *out) {
    switch (e->kind) {
    case EX_NUM:
        *out = ir_dim_const((int64_t)e->num);
        return DIM_OK;
    case EX_NAME: {
        if (e->ref == REF_CONST && e->item) return const_dim(L, e->item, out);
        if (e->ref == REF_BATCH) {
            *out = ir_dim_batch();
            return DIM_OK;
        }
        const Val *v = f ? lookup(f, e->str) : NULL;
        if (v && val_to_dim(*v, out)) return DIM_OK;
        const Item *c = v || e->ref != REF_NONE ? NULL : find_item(L, ITEM_CONST, e->str);
        if (c) return const_dim(L, c, out);
        return DIM_UNBOUND;
    }
    case EX_FIELD:
        if (e->ref == REF_CONST && e->item) return const_dim(L, e->item, out);
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
        case OP_DIV:
        case OP_FLOORDIV: return ir_dim_div(L, x, y, e->op == OP_FLOORDIV, e->span, out) ? DIM_OK : DIM_ERROR;
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
bool type_shape(Lower *L, const Frame *f, const TypeExpr *t, IrShape *out) {
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
int materialize(Lower *L, Val v, IrDType dt, Span at) {
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

bool need_node(Lower *L, Val v, Span at, int *id) {
    if (v.kind == V_NONE) return false;
    if (v.kind != V_NODE) {
        diag_error(L->d, at, "a tensor is needed here");
        return false;
    }
    *id = v.node;
    return true;
}

bool need_static(Lower *L, Val v, Span at, const char *what, double *out) {
    if (v.kind == V_NONE) return false;
    if (static_num(v, out)) return true;
    diag_error(L->d, at, "%s must be a compile-time number", what);
    return false;
}

bool need_int(Lower *L, Val v, Span at, const char *what, int64_t *out) {
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

double fold(BinOp op, double x, double y) {
    switch (op) {
    case OP_ADD: return x + y;
    case OP_SUB: return x - y;
    case OP_MUL: return x * y;
    case OP_DIV: return x / y;
    case OP_FLOORDIV: return floor(x / y);
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
    case OP_FLOORDIV: break;
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
IrDType operand_dtype(const Lower *L, Val x, Val y) {
    if (x.kind == V_NODE) return dtype_of(L, x.node);
    if (y.kind == V_NODE) return dtype_of(L, y.node);
    return IR_F32;
}

Val lower_binop(Lower *L, BinOp op, Val x, Val y, Span at) {
    if (x.kind == V_NONE || y.kind == V_NONE) return v_none();
    double a, b;
    if (static_num(x, &a) && static_num(y, &b)) {
        return v_num(fold(op, a, b));
    }
    if (op == OP_FLOORDIV) {
        IrDim dx, dy, q;
        if (!val_to_dim(x, &dx) || !val_to_dim(y, &dy)) {
            diag_error(L->d, at, "`//` divides integers known at compile time");
            return v_none();
        }
        return ir_dim_div(L, dx, dy, true, at, &q) ? v_dim(q) : v_none();
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
int drop_axes(Lower *L, int x, uint32_t axes, Span at) {
    if (!axes) return x;
    IrShape s = shape_of(L, x), t = scalar_shape();
    for (int i = 0; i < s.rank; i++)
        if (!(axes & (1u << i))) t.d[t.rank++] = s.d[i];
    return ir_reshape(L->g, x, t, at);
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

int lower_add_param(Lower *L, IrParam p) {
    for (int i = 0; i < L->g->params.len; i++)
        if (strcmp(L->g->params.items[i].name, p.name) == 0) return L->g->params.items[i].node;
    p.trained = !p.state && !is_frozen(L, p.component);
    return ir_add_param(L->g, p);
}

const char *lower_layer_prefix(Lower *L, Namer *up, const char *layer) {
    LayerCount *c = NULL;
    for (int i = 0; i < up->counts.len; i++)
        if (strcmp(up->counts.items[i].layer, layer) == 0) c = &up->counts.items[i];
    if (!c) {
        vec_push(L->a, &up->counts, ((LayerCount){layer, 0}));
        c = &up->counts.items[up->counts.len - 1];
    }
    return arena_printf(L->a, "%s.%s%d", up->prefix, layer, c->count++);
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
        fresh.prefix = lower_layer_prefix(L, up, fn->name);
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
            if (p->type && !p->type->is_int) continue; /* broadcast once the shapes are known */
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
            if (given[i] && p->type && !p->type->is_int && args[i].kind == V_NODE)
                unify(L, &f, p->type, shape_of(L, args[i].node), pass == 1);
        }
    /* An omitted tensor argument: its default number in the shape its type names. */
    for (int i = 0; i < np; i++) {
        const Param *p = &fn->params.items[i];
        if (given[i] || !p->type || p->type->is_int) continue;
        IrShape s;
        if (!type_shape(L, &f, p->type, &s)) return v_none();
        int id = materialize(L, args[i], p->type->dtype == DT_I32 ? IR_I32 : IR_F32, call->span);
        if (id < 0) return v_none();
        args[i] = v_node(ir_broadcast(L->g, id, s, call->span));
        bind(L, &f, p->name, args[i]);
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
    case REF_CONST: {
        IrDim d;
        if (!e->item->const_from_data) return v_num(e->item->const_value);
        return const_dim(L, e->item, &d) == DIM_OK ? v_dim(d) : v_none();
    }
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

/* `.T` reverses every axis, `.mT` swaps the last two (numpy). */
static int lower_transpose(Lower *L, int x, bool all, Span at) {
    IrShape s = shape_of(L, x);
    int perm[IR_MAX_RANK];
    for (int i = 0; i < s.rank; i++) perm[i] = all ? s.rank - 1 - i : i;
    if (!all && s.rank >= 2) {
        perm[s.rank - 1] = s.rank - 2;
        perm[s.rank - 2] = s.rank - 1;
    }
    return ir_transpose(L->g, x, perm, at);
}

/* An operand of `@`, with a transpose of its last two axes (`.mT`, or `.T` of a
 * matrix) left to the product's flag instead of being materialized. */
static bool matmul_operand(Lower *L, Frame *f, const Expr *e, int *x, bool *trans) {
    *trans = false;
    if (e->kind != EX_TRANSPOSE) return need_node(L, lower_expr(L, f, e), e->span, x);
    if (!need_node(L, lower_expr(L, f, e->lhs), e->lhs->span, x)) return false;
    bool all = strcmp(e->str, "T") == 0;
    if (!all || shape_of(L, *x).rank == 2) *trans = true;
    else *x = lower_transpose(L, *x, all, e->span);
    return true;
}

/* The product of dims, or false (reported) when it is a multiple of B times B. */
static bool dims_product(Lower *L, const IrDim *d, int n, Span at, IrDim *out) {
    *out = ir_dim_const(1);
    for (int i = 0; i < n; i++)
        if (!dim_mul(*out, d[i], out)) {
            diag_error(L->d, at, "this product has a multiple of B times B matrices or rows");
            call_trail(L);
            return false;
        }
    return true;
}

/* x viewed as [G, r, c]: broadcast to the leading axes `lead` first when its own
 * differ (numpy), then the leading axes flattened into one batch axis G. */
static int as_batch(Lower *L, int x, IrShape lead, IrDim G, Span at) {
    IrShape s = shape_of(L, x), full = lead;
    full.d[full.rank++] = s.d[s.rank - 2];
    full.d[full.rank++] = s.d[s.rank - 1];
    if (!ir_shape_eq(&full, &s)) x = ir_broadcast(L->g, x, full, at);
    IrDim three[3] = {G, s.d[s.rank - 2], s.d[s.rank - 1]};
    return ir_reshape(L->g, x, ir_shape(3, three), at);
}

/* numpy's matmul. [..., M, K] @ [K, N] is one 2-D product over all the rows;
 * otherwise the leading axes broadcast and are flattened into one batch axis
 * of a 3-D product (a loop of sgemm calls), reshaped back; a 2-D side stays 2-D
 * and the product reads it for every batch element. */
static Val lower_matmul(Lower *L, Frame *f, const Expr *e) {
    int x, y;
    bool ta, tb;
    if (!matmul_operand(L, f, e->lhs, &x, &ta) || !matmul_operand(L, f, e->rhs, &y, &tb)) return v_none();
    IrShape sx = shape_of(L, x), sy = shape_of(L, y);
    if (sx.rank == 2 && sy.rank == 2) return v_node(ir_matmul(L->g, x, y, ta, tb, e->span));
    if (sy.rank == 2 && !ta) {
        IrDim rows;
        if (!dims_product(L, sx.d, sx.rank - 1, e->span, &rows)) return v_none();
        IrDim flat[2] = {rows, sx.d[sx.rank - 1]};
        int m = ir_matmul(L->g, ir_reshape(L->g, x, ir_shape(2, flat), e->span), y, false, tb, e->span);
        IrShape out = sx;
        out.d[out.rank - 1] = shape_of(L, m).d[1];
        return v_node(ir_reshape(L->g, m, out, e->span));
    }
    IrShape lx = {.rank = sx.rank - 2}, ly = {.rank = sy.rank - 2}, lead = {0};
    for (int i = 0; i < lx.rank; i++) lx.d[i] = sx.d[i];
    for (int i = 0; i < ly.rank; i++) ly.d[i] = sy.d[i];
    if (lx.rank < 0 || ly.rank < 0 || !ir_broadcast_shape(&lx, &ly, &lead)) {
        StrBuf a = {0}, b = {0};
        ir_shape_print(&sx, &a);
        ir_shape_print(&sy, &b);
        diag_error(L->d, e->span, "`@` of %s and %s: the leading axes do not broadcast", a.data, b.data);
        sb_free(&a);
        sb_free(&b);
        call_trail(L);
        return v_none();
    }
    IrDim G;
    if (!dims_product(L, lead.d, lead.rank, e->span, &G)) return v_none();
    /* a 2-D side is read by every batch element (a zero stride), not copied per element */
    int ax = sx.rank == 2 ? x : as_batch(L, x, lead, G, e->span);
    int ay = sy.rank == 2 ? y : as_batch(L, y, lead, G, e->span);
    int m = ir_matmul(L->g, ax, ay, ta, tb, e->span);
    IrShape out = lead;
    out.d[out.rank++] = shape_of(L, m).d[1];
    out.d[out.rank++] = shape_of(L, m).d[2];
    return v_node(ir_reshape(L->g, m, out, e->span));
}

Val lower_expr(Lower *L, Frame *f, const Expr *e) {
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
        return v_node(lower_transpose(L, x, strcmp(e->str, "T") == 0, e->span));
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
        /* The fuser sizes buffers as polynomials in B of degree 2 at most (one
         * B^2 term: a [B, B] similarity); each axis that involves B adds one. */
        int b_axes = 0;
        for (int d = 0; d < n->shape.rank; d++) b_axes += n->shape.d[d].b != 0;
        if (b_axes > 2) {
            StrBuf sb = {0};
            ir_shape_print(&n->shape, &sb);
            diag_error(L->d, node_span(L, n), "a tensor of shape %s grows as B^%d with the batch size; "
                       "at most two axes may involve B", sb.data, b_axes);
            sb_free(&sb);
            call_trail(L);
            L->sized = L->g->nodes.len;
            return;
        }
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
void lower_body(Lower *L, Frame *f, const Item *owner) {
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

static bool verified(Lower *L, const IrGraph *g, const char *after);

/* Whether node `to` is computed from node `from`. */
static bool depends_on(const IrGraph *g, int to, int from) {
    bool *seen = calloc((size_t)g->nodes.len + 1, 1);
    bool found = false;
    if (seen) seen[to] = true;
    for (int n = to; seen && n >= from && !found; n--) {
        if (!seen[n]) continue;
        found = n == from;
        const IrNode *x = &g->nodes.items[n];
        for (int k = 0; k < x->nin; k++) seen[x->in[k]] = true;
    }
    free(seen);
    return found;
}

/* `sample: logits`: the stage's body lowered again as an eval stage's would be
 * (dropout is the identity, batch_norm uses its running statistics: what a
 * PyTorch user gets from model.eval() before generating), the logits its
 * output. Checked: f32 [B, T, V] computed from the token window of a
 * `sequences` dataset that holds at least T tokens. */
static void lower_sampler(Lower *L, const Item *st, IrStage *s) {
    const Stmt *t = NULL;
    for (int i = 0; i < st->body.len; i++)
        if (st->body.items[i]->kind == ST_SETTING && strcmp(st->body.items[i]->names.items[0], "sample") == 0)
            t = st->body.items[i];
    const rt_dataset_spec *spec = spec_of(L, st->data);
    if (!spec || !spec->sequences) {
        diag_error(L->d, t->value->span, "`sample` continues a prompt in the token window of a "
                   "`sequences(text(...))` dataset; `%s` is not one", st->data->name);
        return;
    }
    IrStage eval = *s;
    eval.is_train = false;
    IrGraph *trained = L->g;
    L->settings = &eval;
    L->g = ir_graph_new(L->a, st->name);
    L->g->optim = trained->optim;
    L->streams = L->sized = L->inlined = 0;
    Namer namer = {.prefix = st->name, .component = st->name};
    Frame f = {.namer = &namer};
    lower_body(L, &f, st);
    IrGraph *g = L->g;
    L->g = trained;
    L->settings = s;
    const Val *v = lookup(&f, s->sample.binding);
    int id = v && v->kind == V_NODE ? v->node : -1;
    const IrNode *x = id >= 0 ? &g->nodes.items[id] : NULL;
    const IrShape *sh = x ? &x->shape : NULL;
    if (!x || x->dtype != IR_F32 || sh->rank != 3 || sh->d[0].b != 1 || sh->d[0].c != 0 || sh->d[1].b ||
        sh->d[2].b) {
        diag_error(L->d, t->value->span, "`sample` names the next-token logits, an f32 tensor [B, T, vocab] bound "
                   "in stage `%s`; `%s` is not one", st->name, s->sample.binding);
        return;
    }
    int window = -1;
    for (int i = 0; i < g->inputs.len; i++)
        if (strcmp(g->inputs.items[i].field, "ids") == 0 && depends_on(g, id, g->inputs.items[i].node)) window = i;
    if (window < 0) {
        diag_error(L->d, t->value->span, "`%s` is not computed from the token window `ids` of `%s`, so it cannot "
                   "continue a prompt", s->sample.binding, st->data->name);
        return;
    }
    if (sh->d[1].c > spec->seq_length) {
        diag_error(L->d, t->value->span, "`%s` has %lld positions but the window of `%s` holds %lld tokens",
                   s->sample.binding, (long long)sh->d[1].c, st->data->name, (long long)spec->seq_length);
        return;
    }
    s->sample.positions = sh->d[1].c;
    s->sample.vocab = sh->d[2].c;
    s->sample.window = window;
    g->loss = -1;
    g->reports.len = 0;
    g->output = id;
    g->n_forward = g->nodes.len;
    if (!verified(L, g, "lowering `sample`")) return;
    s->sample.graph = simplify_graph(g);
    verified(L, s->sample.graph, "simplifying `sample`");
}

static IrGraph *copy_graph(Arena *a, const IrGraph *g) {
    IrGraph *c = ir_graph_new(a, g->name);
    for (int i = 0; i < g->nodes.len; i++) vec_push(a, &c->nodes, g->nodes.items[i]);
    for (int i = 0; i < g->params.len; i++) vec_push(a, &c->params, g->params.items[i]);
    for (int i = 0; i < g->inputs.len; i++) vec_push(a, &c->inputs, g->inputs.items[i]);
    for (int i = 0; i < g->reports.len; i++) vec_push(a, &c->reports, g->reports.items[i]);
    c->loss = g->loss;
    c->output = g->output;
    c->n_forward = g->n_forward;
    c->optim = g->optim;
    c->procs = g->procs;
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
    if (s.sample.binding) lower_sampler(L, st, &s);
    if (L->d->errors != errors) return;

    s.forward = L->g;
    IrGraph *body = L->g;
    if (L->o->procs > 1) {
        body = shard_graph(L->g, L->o->procs);
        if (!verified(L, body, "sharding")) return;
    }
    if (s.is_train) {
        s.raw = copy_graph(L->a, body);
        ad_differentiate(s.raw);
        if (!verified(L, s.raw, "autodiff")) return;
        s.graph = simplify_graph(s.raw);
    } else {
        s.graph = simplify_graph(body);
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


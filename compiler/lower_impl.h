/* lower_impl.h — what the lowering's files share privately (lower.c: calls,
 * expressions, stages; lower_builtin.c: built-in functions; lower_data.c:
 * datasets, settings and the dump). */
#ifndef RLC_LOWER_IMPL_H
#define RLC_LOWER_IMPL_H

#include "lower.h"

#include <math.h>
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

static inline Val v_none(void) { return (Val){.kind = V_NONE}; }
static inline Val v_node(int id) { return (Val){.kind = V_NODE, .node = id}; }
static inline Val v_num(double x) { return (Val){.kind = V_NUM, .num = x}; }
static inline Val v_dim(IrDim d) { return (Val){.kind = V_DIM, .dim = d}; }

/* A number known at compile time: a V_NUM, or a dim without B. */
static inline bool static_num(Val v, double *out) {
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

static inline bool val_to_dim(Val v, IrDim *out) {
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

static inline const IrNode *node_of(const Lower *L, int id) { return &L->g->nodes.items[id]; }
static inline IrShape shape_of(const Lower *L, int id) { return node_of(L, id)->shape; }
static inline IrDType dtype_of(const Lower *L, int id) { return node_of(L, id)->dtype; }
static inline IrShape scalar_shape(void) { return (IrShape){0}; }

static inline bool dim_mul(IrDim x, IrDim y, IrDim *out) {
    if (x.b != 0 && y.b != 0) return false;   /* B*B is not a dim of the IR */
    *out = (IrDim){(int32_t)(x.b * y.c + y.b * x.c), x.c * y.c};
    return true;
}

/* lower.c */
void call_trail(Lower *L);
const Item *find_dataset_item(const Lower *L, const char *name);
bool type_shape(Lower *L, const Frame *f, const TypeExpr *t, IrShape *out);
int materialize(Lower *L, Val v, IrDType dt, Span at);
bool need_node(Lower *L, Val v, Span at, int *id);
bool need_static(Lower *L, Val v, Span at, const char *what, double *out);
bool need_int(Lower *L, Val v, Span at, const char *what, int64_t *out);
double fold(BinOp op, double x, double y);
IrDType operand_dtype(const Lower *L, Val x, Val y);
Val lower_binop(Lower *L, BinOp op, Val x, Val y, Span at);
int drop_axes(Lower *L, int x, uint32_t axes, Span at);
Val lower_expr(Lower *L, Frame *f, const Expr *e);
void lower_body(Lower *L, Frame *f, const Item *owner);

/* lower_builtin.c */
const Expr *arg_of(const Expr *call, int pos, const char *name);
Val eval_arg(Lower *L, Frame *f, const Expr *call, int pos, const char *name);
/* The parameter prefix of the next call of `layer` in the component instance `up` ("enc.dense0"). */
const char *lower_layer_prefix(Lower *L, Namer *up, const char *layer);
/* Adds p (trained unless state or frozen) unless the stage has a parameter of that
 * name already (a component called twice shares it); returns its node. */
int lower_add_param(Lower *L, IrParam p);
int to_f32(Lower *L, int x, Span at);
Val lower_builtin(Lower *L, Frame *f, const Expr *call, const char *name);

/* lower_einsum.c */
Val lower_einsum(Lower *L, Frame *f, const Expr *call);

/* lower_data.c */
rt_dataset_spec *lower_dataset(Lower *L, const Item *it);
void lower_settings(Lower *L, const Item *st, IrStage *s, IrOptim *o);

#endif

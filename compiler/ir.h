/* ir.h — the tensor IR: one SSA graph per stage (DESIGN.md, Boundaries).
 *
 * lower.c builds it from the checked AST; autodiff.c appends the backward graph
 * and the optimizer updates; simplify.c rewrites it; interp.c runs it (the
 * oracle); fuse.c and codegen.c compile it. Nodes are stored in topological
 * order: a node's inputs always have smaller ids.
 */
#ifndef RLC_IR_H
#define RLC_IR_H

#include <stdint.h>
#include "diag.h"
#include "util.h"
#include "rlrt.h"

/* --------------------------------------------------------- shapes, dtypes */

/* Every dim is a compile-time integer except the batch size B, which stays
 * symbolic so a last partial batch runs the same compiled code: a dim is b*B + c. */
typedef struct IrDim {
    int32_t b;
    int64_t c;
} IrDim;

#define IR_MAX_RANK 6
typedef struct IrShape {
    int rank;
    IrDim d[IR_MAX_RANK];
} IrShape;

typedef enum { IR_F32, IR_I32 } IrDType;

typedef enum {
#define X(e, name, arity, cls) e,
#include "ops.def"
#undef X
    IR_OP_COUNT
} IrOp;

typedef enum {
    IRC_LEAF, IRC_RANDOM, IRC_UNARY, IRC_BINARY, IRC_TERNARY,
    IRC_REDUCE, IRC_MOVE, IRC_MATMUL, IRC_GATHER, IRC_WINDOW, IRC_UPDATE, IRC_COLLECTIVE,
} IrClass;

typedef struct IrOpInfo {
    const char *name;
    int arity;
    IrClass cls;
} IrOpInfo;
extern const IrOpInfo ir_op_info[IR_OP_COUNT];

/* ------------------------------------------------------------------ nodes */

/* The windows of IR_UNFOLD / IR_FOLD over an image [N, C, h, w]: kernel kh x kw,
 * window p, q starts at (p*stride - pad, q*stride - pad), taps dil apart. */
typedef struct IrWindow {
    int64_t kh, kw, stride, pad, dil;
    int64_t h, w;            /* the image's height and width (all int64: no padding bytes, memcmp-able) */
} IrWindow;

typedef struct IrNode {
    IrOp op;
    IrDType dtype;
    IrShape shape;
    int nin;
    int in[3];               /* node ids */
    Span span;               /* the .rl code it came from (DESIGN.md: every error points back) */
    bool backward;           /* made by autodiff */

    /* attributes; which are valid depends on op (see ops.def) */
    double a, b;             /* CONST value (a); random parameters */
    int index;               /* PARAM/INPUT/UPDATE: table index; random: RNG stream */
    int axis;                /* SLICE, PAD, CONCAT */
    int64_t start, end;      /* SLICE bounds; PAD before/after; SHIFT2D w/max */
    int32_t start_b, end_b;  /* SLICE/PAD: B terms of those, so a bound is start_b*B + start
                                (a concat along the batch axis slices back at B in its gradient) */
    uint32_t axes;           /* reductions: bit i set = axis i reduced */
    int perm[IR_MAX_RANK];   /* TRANSPOSE */
    bool trans_a, trans_b;   /* MATMUL */
    IrDim dim;               /* DIMVAL value; ONE_HOT n (c); SHIFT2D h (c) */
    IrWindow win;            /* UNFOLD, FOLD; UNFOLD's fill value is `a` */
    bool dropout_mask;       /* BERNOULLI: a dropout's mask; pictures take its mean (`a`) */
    int eval_with;           /* > 0: pictures (eval-like) take node eval_with - 1's value instead:
                                a batch statistic of batch_norm, replaced by the running one */
} IrNode;

/* ----------------------------------------------------------------- graphs */

typedef enum {
    INIT_GLOROT, INIT_HE, INIT_ZEROS, INIT_ONES, INIT_NORMAL, INIT_UNIFORM, INIT_VALUE,
} IrInit;

typedef struct IrParam {
    const char *name;        /* "enc.dense0.w", "clip.t" */
    const char *component;   /* "enc", or the stage name for stage params; freeze names this */
    IrShape shape;           /* no B */
    IrInit init;
    double init_a, init_b;   /* normal(mean a, std b), uniform(a, b), value a */
    bool trained;            /* false when frozen, when the stage is an eval, and for state */
    bool state;              /* a `state` tensor (running statistics): never trained; a train
                                step may overwrite it through an IR_UPDATE (docs/ir.md, State) */
    Span span;
    int node;                /* its IR_PARAM node */
    int grad;                /* node of d loss / d param after autodiff, or -1 */
} IrParam;

/* A batch of one dataset field: [B, ...field shape]. */
typedef struct IrInput {
    const char *dataset;
    const char *field;
    IrShape shape;
    IrDType dtype;
    int node;
} IrInput;

typedef struct IrReport {
    const char *name;
    Span span;
    int node;                /* a scalar */
} IrReport;

typedef enum { OPT_SGD, OPT_ADAM, OPT_ADAMW } IrOptKind;
typedef enum { SCHED_CONSTANT, SCHED_LINEAR, SCHED_COSINE } IrSchedKind;

typedef struct IrOptim {
    IrOptKind kind;
    double lr, momentum, beta1, beta2, eps, weight_decay;
    IrSchedKind schedule;
    double sched_to;         /* linear/cosine(to = ...): the final rate as a fraction of lr */
    int64_t warmup;          /* steps of linear warm-up from 0, every schedule */
    double clip_norm;        /* clip_grad_norm: > 0 scales the gradients to this global norm */
} IrOptim;

typedef struct IrGraph {
    Arena *arena;
    const char *name;        /* the stage */
    Vec(IrNode) nodes;
    Vec(IrParam) params;
    Vec(IrInput) inputs;
    Vec(IrReport) reports;
    int loss;                /* the minimized scalar, or -1 in an eval stage */
    int output;              /* a node kept whole in the workspace to the end of the step, for
                                the caller to read (a stage's `sample` logits), or -1 */
    int n_forward;           /* nodes [0, n_forward) are the forward graph */
    int64_t procs;           /* > 1: sharded over that many processes (shard.c, docs/mpi.md) */
    IrOptim optim;
} IrGraph;

/* --------------------------------------------------------- whole programs */

typedef struct IrShowRow {
    const char *name;        /* the binding or dataset field */
    int node;                /* its node in IrStage.forward */
} IrShowRow;

/* `sample:` (docs/language.md, Extensions): continuations of a prompt drawn from
 * the stage's next-token logits when it has run (runtime/sample.c). */
typedef struct IrSample {
    IrGraph *graph;          /* the body lowered as in an eval stage, simplified; its output is
                                the logits [B, positions, vocab]; NULL: no `sample` */
    const char *binding;     /* the name `sample:` gives */
    const char *prompt;
    int64_t tokens, count, top_k;
    double temperature;
    int64_t positions, vocab;
    int window;              /* the graph input that takes the token window */
} IrSample;

typedef struct IrStage {
    const char *name;
    bool is_train;
    Span span;
    const char *dataset;     /* `data:` */
    int64_t batch;
    int64_t epochs, steps;   /* one of them set (> 0); steps wins */
    int64_t limit;           /* 0: all examples */
    uint64_t seed;
    const char *load, *save; /* NULL when absent */
    int64_t save_every;      /* > 0: `save` is also written every this many steps */
    const char *validate;    /* eval stage name or NULL */
    Vec(const char *) freeze;
    /* Pictures and exports written when the stage has run (docs/language.md, Extensions).
     * Node ids are in `forward`, which keeps every node the body built. */
    Vec(IrShowRow) show;     /* `show: [a, b]`: one PNG row per binding */
    int64_t show_width;      /* `show_width:` pixels per image row; 0: square images */
    int64_t show_count;      /* `show_count:` examples per row */
    int codes, labels;       /* `codes:` / `labels:` nodes, -1 when absent */
    const char *vectors;     /* `vectors:` word2vec text file, or NULL */
    const char *embedding;   /* `embedding:` the parameter exported and searched, or NULL */
    Vec(const char *) neighbours;  /* `neighbours:` words whose nearest words are printed */
    IrSample sample;
    IrGraph *graph;          /* what runs: differentiated (train) and simplified */
    IrGraph *forward;        /* the forward graph as lowered, before autodiff and simplify */
    IrGraph *raw;            /* train: forward + backward as autodiff left it, before simplify */
} IrStage;

typedef struct IrProgram {
    Arena *arena;
    const char *path;         /* the main .rl file */
    Vec(rt_dataset_spec *) datasets;
    Vec(IrStage) stages;
} IrProgram;

/* ------------------------------------------------------------------- API */

IrGraph *ir_graph_new(Arena *a, const char *name);

/* Builders: append a node, infer its shape and dtype by the op's rule, return its id.
 * ir_binary and ir_where broadcast their operands first (numpy rules). A shape
 * that does not fit is a bug of the caller (check.c has already rejected bad
 * programs), reported by ir_verify. */
int ir_const(IrGraph *g, double value, IrShape shape, IrDType dt, Span at);
int ir_unary(IrGraph *g, IrOp op, int x, Span at);
int ir_binary(IrGraph *g, IrOp op, int x, int y, Span at);
int ir_where(IrGraph *g, int c, int x, int y, Span at);
int ir_broadcast(IrGraph *g, int x, IrShape to, Span at);
int ir_reduce(IrGraph *g, IrOp op, int x, uint32_t axes, Span at);
int ir_reshape(IrGraph *g, int x, IrShape to, Span at);
int ir_transpose(IrGraph *g, int x, const int *perm, Span at);
int ir_slice(IrGraph *g, int x, int axis, int64_t start, int64_t end, Span at);
int ir_pad(IrGraph *g, int x, int axis, int64_t before, int64_t after, Span at);
int ir_concat(IrGraph *g, int x, int y, int axis, Span at);
int ir_matmul(IrGraph *g, int x, int y, bool trans_a, bool trans_b, Span at);
int ir_gather(IrGraph *g, int table, int idx, Span at);
int ir_scatter_add(IrGraph *g, int idx, int rows, IrShape table_shape, Span at);
int ir_add_node(IrGraph *g, IrNode n);   /* raw append; shape and dtype as given */
int ir_add_inferred(IrGraph *g, IrNode n); /* append with shape and dtype by the op's rule */
/* slice / pad with bounds that may involve B (ir_slice/ir_pad: constant bounds). */
int ir_slice_dim(IrGraph *g, int x, int axis, IrDim start, IrDim end, Span at);
int ir_pad_dim(IrGraph *g, int x, int axis, IrDim before, IrDim after, Span at);
int ir_one_hot(IrGraph *g, int idx, int64_t n_classes, Span at);
/* IR_BERNOULLI/NORMAL/UNIFORM/RANDINT with parameters a, b on RNG stream `stream`. */
int ir_random(IrGraph *g, IrOp op, IrShape shape, double a, double b, int stream, Span at);
int ir_shift2d(IrGraph *g, int x, int64_t h, int64_t w, int64_t max, int stream, Span at);
/* x [N, C, win.h, win.w] -> [C, kh, kw, N, OH, OW] with OH = (h + 2 pad - dil (kh - 1) - 1) / stride + 1,
 * elements outside x read as `fill`; ir_fold is its adjoint (sums back into [N, C, h, w]). */
int ir_unfold(IrGraph *g, int x, IrWindow win, double fill, Span at);
int ir_fold(IrGraph *g, int cols, IrWindow win, Span at);
/* The output extent of windows along one axis: (len + 2 pad - dil (k - 1) - 1) // stride + 1. */
int64_t ir_window_out(int64_t len, int64_t k, int64_t stride, int64_t pad, int64_t dil);
int ir_dimval(IrGraph *g, IrDim d, IrDType dt, Span at);
/* A collective (IR_ALLREDUCE ... IR_UNSHARD) over `procs` processes along the batch
 * axis `axis` (ignored by allreduce). */
int ir_collective(IrGraph *g, IrOp op, int x, int axis, int64_t procs, Span at);
int ir_arange(IrGraph *g, int64_t count, Span at);
/* Append a param / input to its table and its leaf node; returns the node id
 * (the table entry's node field is set; a param's grad starts at -1). */
int ir_add_param(IrGraph *g, IrParam p);
int ir_add_input(IrGraph *g, IrInput in);
void ir_add_report(IrGraph *g, const char *name, int node, Span at);
bool ir_op_is_compare(IrOp op);           /* eq, ne, lt, le, gt, ge */

/* Shape helpers. */
IrShape ir_shape(int rank, const IrDim *dims);
IrDim ir_dim_const(int64_t c);
IrDim ir_dim_batch(void);                 /* B */
bool ir_dim_eq(IrDim x, IrDim y);
bool ir_shape_eq(const IrShape *x, const IrShape *y);
int64_t ir_dim_value(IrDim d, int64_t B);
int64_t ir_shape_numel(const IrShape *s, int64_t B);
/* The most elements one tensor may hold: BLAS takes its sizes as int, and the
 * limit keeps every element and byte count of a graph far from overflow.
 * Lowering rejects bigger tensors, so later phases may use ir_shape_numel freely. */
#define IR_MAX_NUMEL ((int64_t)INT32_MAX)
/* Whether s at batch size B has no negative axis and at most IR_MAX_NUMEL
 * elements; *numel (may be NULL) gets the count, or -1 when it does not fit. */
bool ir_shape_fits(const IrShape *s, int64_t B, int64_t *numel);
bool ir_broadcast_shape(const IrShape *x, const IrShape *y, IrShape *out);

/* An elementwise unary or binary op applied to doubles (comparisons give 0/1). */
double ir_eval_unary(IrOp op, double x);
double ir_eval_binary(IrOp op, double x, double y);

/* Stable text of a graph (`rlc dump --ir/--grad`): one node a line with its shape. */
void ir_print(const IrGraph *g, StrBuf *out);
void ir_shape_print(const IrShape *s, StrBuf *out);
/* Shapes, dtypes, arities, topological order; false with a message on the first fault. */
bool ir_verify(const IrGraph *g, StrBuf *why);

/* autodiff.c: appends d loss / d param for every trained param and one IR_UPDATE each. */
void ad_differentiate(IrGraph *g);
/* Sharded over processes, the parameter gradients are all-reduced in buckets of
 * at most this many bytes (one gradient larger than it is a bucket alone). */
enum { AD_BUCKET_BYTES = 1 << 20 };
/* simplify.c: folding, CSE, identities, DCE; returns a new graph with the same meaning. */
IrGraph *simplify_graph(const IrGraph *g);

#endif

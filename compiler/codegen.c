/* codegen.c — the kernel plan as an LLVM module (LLVM C API).
 *
 * Each kernel is one internal function
 *     void kI(rt_step_ctx *ctx, T *noalias buf0, ..., i64 lo, i64 hi)
 * whose outermost loop runs over [lo, hi): the step calls it once over the
 * whole range, or hands the kernel's `kI_range(void *argv, lo, hi)` wrapper to
 * rt_parallel_for when the pool exists and the kernel is large. Buffers are
 * noalias: fuse.c never lets a kernel's output share memory with its inputs.
 * The batch size B is read from ctx at run time, so a last partial batch runs
 * the same code. Float math: `contract` on fmul/fadd/fsub (FMA), `reassoc` only
 * on the adds of register reductions (so they vectorize); the optimizer update
 * is the runtime's formula operation for operation, without contraction, so it
 * rounds like rt_update_adam / rt_update_sgd.
 * For the JIT (cg_emit_shared) each kernel is instead an external function named
 * after a hash of its code, defined by the first of the program's modules that has
 * it, so identical kernels of several stages are compiled once.
 */
#include "kernel.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <llvm-c/Analysis.h>
#include <llvm-c/Support.h>
#include <llvm-c/Target.h>
#include <llvm-c/Transforms/PassBuilder.h>

/* rt_step_ctx fields, in rlrt.h's order. */
enum { CTX_B, CTX_STEP, CTX_SEED, CTX_LR, CTX_PARAMS, CTX_OPT, CTX_INPUTS, CTX_LOSS,
       CTX_REPORTS, CTX_WS, CTX_POOL, CTX_NFIELDS };

/* Elements a kernel must touch before splitting it across threads pays. At 2^15
 * the skip-gram step (kernels of ~150k elements, 0.4 ms a step) spent ~9% waking
 * the pool and ran slower at 2 threads than at 1; at 2^18 it gains 10-30% at 2
 * threads and the auto-encoder steps are unchanged (bench/sgns.rl, bench/ae.rl, A/B). */
enum { PARALLEL_MIN_ELEMS = 1 << 18 };

typedef struct Fn {
    LLVMTypeRef type;
    LLVMValueRef fn;
} Fn;

typedef struct Cg {
    const KernelPlan *p;
    const IrGraph *g;
    LLVMContextRef C;
    LLVMModuleRef M;
    LLVMBuilderRef b;
    LLVMTypeRef f32, f64, i8, i32, i64, i1, ptr, voidt, ctx_t, range_t;
    Fn sgemm, sgemm_batched, random_fill, shift2d, col2im, im2col, conv, conv_wgrad, conv_igrad, pfor;
    Fn sgd_rows, adam_rows, collective;
    Fn allreduce_start, allreduce_wait, mpi_progress, update_bound, update_fence, parallel_slice;
    unsigned noalias;
    /* The checker's module (cg_emit_checker): a dense update kernel only looks at
     * its gradient and sets this i32 global when an element is not finite. */
    LLVMValueRef grad_flag;
    KernelNames *shared; /* cg_emit_shared: the kernels earlier modules define */
} Cg;

/* An argument of a kernel function: one distinct piece of memory. */
typedef enum { ARG_WORK, ARG_PARAM, ARG_INPUT, ARG_STATE, ARG_SCRATCH } ArgKind;
typedef struct KArg {
    ArgKind kind;
    int id;      /* node (WORK), param index (PARAM, STATE), input index, kernel (SCRATCH) */
} KArg;

typedef struct KEmit {
    const Kernel *k;
    int kindex;
    LLVMValueRef fn, ctx, B, lo, hi;
    Vec(KArg) args;
    /* optimizer coefficients, computed once at kernel entry */
    LLVMValueRef lr, lr_t, eps_t, decay;
} KEmit;

static const IrNode *nd(const Cg *cg, int n) { return &cg->g->nodes.items[n]; }

static Fn declare(Cg *cg, const char *name, LLVMTypeRef ret, LLVMTypeRef *params, unsigned n) {
    Fn f;
    f.type = LLVMFunctionType(ret, params, n, 0);
    f.fn = LLVMAddFunction(cg->M, name, f.type);
    return f;
}

static LLVMValueRef call(Cg *cg, Fn f, LLVMValueRef *args, unsigned n) {
    return LLVMBuildCall2(cg->b, f.type, f.fn, args, n, "");
}

static LLVMValueRef intrinsic(Cg *cg, const char *name, LLVMTypeRef t, LLVMValueRef *args,
                              unsigned n) {
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    LLVMValueRef f = LLVMGetIntrinsicDeclaration(cg->M, id, &t, 1);
    LLVMTypeRef ft = LLVMIntrinsicGetType(cg->C, id, &t, 1);
    return LLVMBuildCall2(cg->b, ft, f, args, n, "");
}

static LLVMValueRef fmf(LLVMValueRef v, LLVMFastMathFlags flags) {
    if (LLVMIsAInstruction(v) && LLVMCanValueUseFastMathFlags(v)) LLVMSetFastMathFlags(v, flags);
    return v;
}

static LLVMValueRef i64c(Cg *cg, int64_t v) { return LLVMConstInt(cg->i64, (unsigned long long)v, 1); }
static LLVMValueRef f32c(Cg *cg, double v) { return LLVMConstReal(cg->f32, v); }

static LLVMValueRef ctx_field(Cg *cg, LLVMValueRef ctx, int field, LLVMTypeRef t) {
    LLVMValueRef p = LLVMBuildStructGEP2(cg->b, cg->ctx_t, ctx, (unsigned)field, "");
    return LLVMBuildLoad2(cg->b, t, p, "");
}

static LLVMValueRef dimv(Cg *cg, LLVMValueRef B, IrDim d) {
    if (d.b == 0) return i64c(cg, d.c);
    LLVMValueRef v = LLVMBuildNSWMul(cg->b, B, i64c(cg, d.b), "");
    return d.c ? LLVMBuildNSWAdd(cg->b, v, i64c(cg, d.c), "") : v;
}

static LLVMValueRef numel(Cg *cg, LLVMValueRef B, const IrShape *s) {
    LLVMValueRef n = i64c(cg, 1);
    for (int i = 0; i < s->rank; i++) n = LLVMBuildNSWMul(cg->b, n, dimv(cg, B, s->d[i]), "");
    return n;
}

static LLVMValueRef ksize_value(Cg *cg, LLVMValueRef B, KSize s) {
    LLVMValueRef v = LLVMBuildNSWMul(cg->b, LLVMBuildNSWMul(cg->b, B, B, ""), i64c(cg, s.c[2]), "");
    v = LLVMBuildNSWAdd(cg->b, v, LLVMBuildNSWMul(cg->b, B, i64c(cg, s.c[1]), ""), "");
    return LLVMBuildNSWAdd(cg->b, v, i64c(cg, s.c[0]), "");
}

static LLVMTypeRef elem_type(Cg *cg, IrDType dt) { return dt == IR_I32 ? cg->i32 : cg->f32; }

/* ------------------------------------------------------------------ loops */

typedef struct Loop {
    LLVMValueRef iv;
    LLVMBasicBlockRef header, exit;
} Loop;

static Loop loop_begin(Cg *cg, LLVMValueRef lo, LLVMValueRef hi) {
    LLVMValueRef fn = LLVMGetBasicBlockParent(LLVMGetInsertBlock(cg->b));
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(cg->b);
    Loop l;
    l.header = LLVMAppendBasicBlockInContext(cg->C, fn, "loop");
    LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(cg->C, fn, "body");
    l.exit = LLVMAppendBasicBlockInContext(cg->C, fn, "done");
    LLVMBuildBr(cg->b, l.header);
    LLVMPositionBuilderAtEnd(cg->b, l.header);
    l.iv = LLVMBuildPhi(cg->b, cg->i64, "i");
    LLVMAddIncoming(l.iv, &lo, &pre, 1);
    LLVMBuildCondBr(cg->b, LLVMBuildICmp(cg->b, LLVMIntSLT, l.iv, hi, ""), body, l.exit);
    LLVMPositionBuilderAtEnd(cg->b, body);
    return l;
}

static void loop_end(Cg *cg, Loop *l) {
    LLVMValueRef next = LLVMBuildNSWAdd(cg->b, l->iv, i64c(cg, 1), "");
    LLVMBasicBlockRef cur = LLVMGetInsertBlock(cg->b);
    LLVMBuildBr(cg->b, l->header);
    LLVMAddIncoming(l->iv, &next, &cur, 1);
    LLVMPositionBuilderAtEnd(cg->b, l->exit);
}

/* if (cond) { then } — returns the block to continue in after positioning in then. */
static LLVMBasicBlockRef if_begin(Cg *cg, LLVMValueRef cond) {
    LLVMValueRef fn = LLVMGetBasicBlockParent(LLVMGetInsertBlock(cg->b));
    LLVMBasicBlockRef then = LLVMAppendBasicBlockInContext(cg->C, fn, "then");
    LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(cg->C, fn, "join");
    LLVMBuildCondBr(cg->b, cond, then, join);
    LLVMPositionBuilderAtEnd(cg->b, then);
    return join;
}

static void if_end(Cg *cg, LLVMBasicBlockRef join) {
    LLVMBuildBr(cg->b, join);
    LLVMPositionBuilderAtEnd(cg->b, join);
}

static LLVMValueRef entry_alloca(Cg *cg, KEmit *e, LLVMTypeRef t) {
    LLVMBuilderRef b = LLVMCreateBuilderInContext(cg->C);
    LLVMBasicBlockRef entry = LLVMGetEntryBasicBlock(e->fn);
    LLVMValueRef first = LLVMGetFirstInstruction(entry);
    if (first) LLVMPositionBuilderBefore(b, first);
    else LLVMPositionBuilderAtEnd(b, entry);
    LLVMValueRef a = LLVMBuildAlloca(b, t, "acc");
    LLVMDisposeBuilder(b);
    return a;
}

typedef void (*BodyFn)(Cg *cg, KEmit *e, LLVMValueRef *idx, void *ud);

/* Loops over dims [d, to) with ranges [lo[i], hi[i]); idx[i] = the loop variables. */
static void nest(Cg *cg, KEmit *e, int d, int to, LLVMValueRef *lo, LLVMValueRef *hi,
                 LLVMValueRef *idx, BodyFn body, void *ud) {
    if (d == to) {
        body(cg, e, idx, ud);
        return;
    }
    Loop l = loop_begin(cg, lo[d], hi[d]);
    idx[d] = l.iv;
    nest(cg, e, d + 1, to, lo, hi, idx, body, ud);
    loop_end(cg, &l);
}

/* Full ranges over shape s, with dim 0 over [lo0, hi0). */
static void shape_ranges(Cg *cg, KEmit *e, const IrShape *s, LLVMValueRef lo0, LLVMValueRef hi0,
                         LLVMValueRef *lo, LLVMValueRef *hi) {
    for (int i = 0; i < s->rank; i++) {
        lo[i] = i == 0 ? lo0 : i64c(cg, 0);
        hi[i] = i == 0 ? hi0 : dimv(cg, e->B, s->d[i]);
    }
}

/* ----------------------------------------------------------------- memory */

static int base_node(const KernelPlan *p, int n) {
    while (p->buf[n].kind == KB_VIEW) n = p->buf[n].of;
    return n;
}

static KArg arg_of_node(const KernelPlan *p, int n) {
    n = base_node(p, n);
    const KBuf *b = &p->buf[n];
    if (b->kind == KB_PARAM) return (KArg){ARG_PARAM, b->index};
    if (b->kind == KB_INPUT) return (KArg){ARG_INPUT, b->index};
    return (KArg){ARG_WORK, n};
}

static int arg_index(KEmit *e, KArg a) {
    for (int i = 0; i < e->args.len; i++)
        if (e->args.items[i].kind == a.kind && e->args.items[i].id == a.id) return i;
    return -1;
}

static void add_arg(Cg *cg, KEmit *e, KArg a) {
    if (arg_index(e, a) < 0) vec_push(cg->p->arena, &e->args, a);
}

static LLVMValueRef arg_ptr(KEmit *e, KArg a) {
    return LLVMGetParam(e->fn, 1 + (unsigned)arg_index(e, a));
}

static LLVMValueRef node_ptr(Cg *cg, KEmit *e, int n) { return arg_ptr(e, arg_of_node(cg->p, n)); }

static LLVMValueRef linearize(Cg *cg, KEmit *e, LLVMValueRef *idx, const IrShape *s) {
    if (s->rank == 0) return i64c(cg, 0);
    LLVMValueRef off = idx[0];
    for (int i = 1; i < s->rank; i++)
        off = LLVMBuildNSWAdd(cg->b, LLVMBuildNSWMul(cg->b, off, dimv(cg, e->B, s->d[i]), ""),
                              idx[i], "");
    return off;
}

static LLVMValueRef elem_ptr(Cg *cg, LLVMTypeRef t, LLVMValueRef base, LLVMValueRef off) {
    return LLVMBuildInBoundsGEP2(cg->b, t, base, &off, 1, "");
}

/* ------------------------------------------------------------ expressions */

static LLVMValueRef value_at(Cg *cg, KEmit *e, int n, LLVMValueRef *idx, bool flat);

static LLVMValueRef load_at(Cg *cg, KEmit *e, int n, LLVMValueRef *idx, bool flat) {
    const IrNode *x = nd(cg, n);
    LLVMValueRef off = flat ? idx[0] : linearize(cg, e, idx, &x->shape);
    LLVMTypeRef t = elem_type(cg, x->dtype);
    return LLVMBuildLoad2(cg->b, t, elem_ptr(cg, t, node_ptr(cg, e, n), off), "");
}

static LLVMValueRef zero_of(Cg *cg, IrDType dt) {
    return dt == IR_I32 ? LLVMConstInt(cg->i32, 0, 0) : f32c(cg, 0.0);
}

static LLVMValueRef bool_to_f32(Cg *cg, LLVMValueRef c) {
    return LLVMBuildSelect(cg->b, c, f32c(cg, 1.0), f32c(cg, 0.0), "");
}

/* e^x as straight-line code the loop vectorizer widens: llvm.exp becomes one
 * expf call per element (4 GB/s against about 25 with vectors, notes/llvm-19.md §2).
 * Cephes' expf: x = k ln2 + r with |r| <= ln2/2 (ln2 in two parts, so k ln2 is
 * exact enough), e^r = 1 + r + r^2 P(r) with a degree-5 minimax P, and 2^k written
 * into the exponent bits as 2 * 2^(k-1), so k = 128 (x up to 88.72) stays finite.
 * Within 2 ulp of expf. Below -86.6, where 2^(k-1) would leave the normal range,
 * the result is 0 (expf gives less than 2.5e-38 there); above 88.72 it is +inf;
 * NaN stays NaN. */
static LLVMValueRef exp_f32(Cg *cg, LLVMValueRef x) {
    LLVMBuilderRef b = cg->b;
    LLVMFastMathFlags c = LLVMFastMathAllowContract;
    LLVMValueRef lo = f32c(cg, -86.6), hi = f32c(cg, 88.72283);
    LLVMValueRef below = LLVMBuildFCmp(b, LLVMRealOLT, x, lo, "");
    LLVMValueRef above = LLVMBuildFCmp(b, LLVMRealOGT, x, hi, "");
    LLVMValueRef xc = LLVMBuildSelect(b, below, lo, LLVMBuildSelect(b, above, hi, x, ""), "");
    LLVMValueRef t = fmf(LLVMBuildFAdd(b, fmf(LLVMBuildFMul(b, xc, f32c(cg, 1.44269504088896341), ""), c),
                                       f32c(cg, 0.5), ""), c);
    LLVMValueRef k = intrinsic(cg, "llvm.floor", cg->f32, &t, 1);
    LLVMValueRef r = fmf(LLVMBuildFSub(b, xc, fmf(LLVMBuildFMul(b, k, f32c(cg, 0.693359375), ""), c), ""), c);
    r = fmf(LLVMBuildFSub(b, r, fmf(LLVMBuildFMul(b, k, f32c(cg, -2.12194440e-4), ""), c), ""), c);
    static const double P[] = {1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3,
                               4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1};
    LLVMValueRef p = f32c(cg, P[0]);
    for (int i = 1; i < 6; i++)
        p = fmf(LLVMBuildFAdd(b, fmf(LLVMBuildFMul(b, p, r, ""), c), f32c(cg, P[i]), ""), c);
    LLVMValueRef rr = fmf(LLVMBuildFMul(b, r, r, ""), c);
    LLVMValueRef y = fmf(LLVMBuildFAdd(b, fmf(LLVMBuildFAdd(b, fmf(LLVMBuildFMul(b, p, rr, ""), c), r, ""), c),
                                       f32c(cg, 1.0), ""), c);
    LLVMValueRef ki = LLVMBuildFPToSI(b, k, cg->i32, "");
    LLVMValueRef bits = LLVMBuildShl(b, LLVMBuildAdd(b, ki, LLVMConstInt(cg->i32, 126, 0), ""),
                                     LLVMConstInt(cg->i32, 23, 0), "");
    LLVMValueRef res = LLVMBuildFMul(b, LLVMBuildFMul(b, y, f32c(cg, 2.0), ""),
                                     LLVMBuildBitCast(b, bits, cg->f32, ""), "");
    res = LLVMBuildSelect(b, above, f32c(cg, INFINITY), res, "");
    res = LLVMBuildSelect(b, below, f32c(cg, 0.0), res, "");
    return LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealUNO, x, x, ""), x, res, "");
}

/* tanh as Cephes' tanhf, inline so that it vectorizes (a `tanhf` call per element was
 * 15% of the GPT step of bench/gpt.rl, its GELUs): below |x| = 0.625 an odd minimax
 * polynomial x + x^3 P(x^2), above it 1 - 2 / (e^{2|x|} + 1) with x's sign (e^{2|x|}
 * overflows to +inf past |x| = 44.4, giving exactly 1). Within 2 ulp of tanhf; NaN
 * stays NaN (it takes the exp side). */
static LLVMValueRef tanh_f32(Cg *cg, LLVMValueRef x) {
    LLVMBuilderRef b = cg->b;
    LLVMFastMathFlags c = LLVMFastMathAllowContract;
    LLVMValueRef one = f32c(cg, 1.0);
    LLVMValueRef ax = intrinsic(cg, "llvm.fabs", cg->f32, &x, 1);
    LLVMValueRef e = exp_f32(cg, LLVMBuildFMul(b, ax, f32c(cg, 2.0), ""));
    LLVMValueRef big = LLVMBuildFSub(b, one, LLVMBuildFDiv(b, f32c(cg, 2.0), LLVMBuildFAdd(b, e, one, ""), ""), "");
    static const double P[] = {-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2,
                               1.33314422036e-1, -3.33332819422e-1};
    LLVMValueRef z = fmf(LLVMBuildFMul(b, x, x, ""), c);
    LLVMValueRef p = f32c(cg, P[0]);
    for (int i = 1; i < 5; i++)
        p = fmf(LLVMBuildFAdd(b, fmf(LLVMBuildFMul(b, p, z, ""), c), f32c(cg, P[i]), ""), c);
    LLVMValueRef small = fmf(LLVMBuildFAdd(b, fmf(LLVMBuildFMul(b, fmf(LLVMBuildFMul(b, p, z, ""), c), x, ""), c),
                                           x, ""), c);
    /* the sign of x on both sides (the polynomial's x + x^3 P would turn -0 into +0) */
    LLVMValueRef xs[2] = {LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOLT, ax, f32c(cg, 0.625), ""), small, big, ""), x};
    return intrinsic(cg, "llvm.copysign", cg->f32, xs, 2);
}

static LLVMValueRef unary(Cg *cg, IrOp op, LLVMValueRef x, IrDType in_dt) {
    LLVMBuilderRef b = cg->b;
    if (in_dt == IR_I32) {
        LLVMValueRef z = LLVMConstInt(cg->i32, 0, 0);
        switch (op) {
        case IR_NEG: return LLVMBuildSub(b, z, x, "");
        case IR_ABS: return LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSLT, x, z, ""),
                                            LLVMBuildSub(b, z, x, ""), x, "");
        case IR_SIGN:
            return LLVMBuildSub(b, LLVMBuildZExt(b, LLVMBuildICmp(b, LLVMIntSGT, x, z, ""), cg->i32, ""),
                                LLVMBuildZExt(b, LLVMBuildICmp(b, LLVMIntSLT, x, z, ""), cg->i32, ""), "");
        case IR_TO_F32: return LLVMBuildSIToFP(b, x, cg->f32, "");
        default: return x; /* stop_gradient */
        }
    }
    LLVMValueRef zero = f32c(cg, 0.0), one = f32c(cg, 1.0);
    switch (op) {
    case IR_NEG: return LLVMBuildFNeg(b, x, "");
    case IR_EXP: return exp_f32(cg, x);
    case IR_LOG: return intrinsic(cg, "llvm.log", cg->f32, &x, 1);
    case IR_SQRT: return intrinsic(cg, "llvm.sqrt", cg->f32, &x, 1);
    case IR_ABS: return intrinsic(cg, "llvm.fabs", cg->f32, &x, 1);
    case IR_SIGN:
        return LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOGT, x, zero, ""), one,
                               LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOLT, x, zero, ""),
                                               f32c(cg, -1.0), zero, ""), "");
    case IR_TANH: return tanh_f32(cg, x);
    case IR_SIGMOID: {
        /* 1 / (1 + e^-x) */
        LLVMValueRef nx = LLVMBuildFNeg(b, x, "");
        LLVMValueRef ex = exp_f32(cg, nx);
        return LLVMBuildFDiv(b, one, LLVMBuildFAdd(b, one, ex, ""), "");
    }
    case IR_RELU: return LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOGT, x, zero, ""), x, zero, "");
    default: return x; /* float of a float, stop_gradient */
    }
}

static LLVMValueRef binary(Cg *cg, IrOp op, LLVMValueRef x, LLVMValueRef y, IrDType in_dt) {
    LLVMBuilderRef b = cg->b;
    if (in_dt == IR_I32) {
        static const LLVMIntPredicate cmp[] = {
            [IR_EQ] = LLVMIntEQ, [IR_NE] = LLVMIntNE, [IR_LT] = LLVMIntSLT,
            [IR_LE] = LLVMIntSLE, [IR_GT] = LLVMIntSGT, [IR_GE] = LLVMIntSGE,
        };
        switch (op) {
        case IR_ADD: return LLVMBuildAdd(b, x, y, "");
        case IR_SUB: return LLVMBuildSub(b, x, y, "");
        case IR_MUL: return LLVMBuildMul(b, x, y, "");
        case IR_MAX: return LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSGT, x, y, ""), x, y, "");
        case IR_MIN: return LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSLT, x, y, ""), x, y, "");
        default: return bool_to_f32(cg, LLVMBuildICmp(b, cmp[op], x, y, ""));
        }
    }
    static const LLVMRealPredicate fcmp[] = {
        [IR_EQ] = LLVMRealOEQ, [IR_NE] = LLVMRealUNE, [IR_LT] = LLVMRealOLT,
        [IR_LE] = LLVMRealOLE, [IR_GT] = LLVMRealOGT, [IR_GE] = LLVMRealOGE,
    };
    LLVMValueRef xy[2] = {x, y};
    switch (op) {
    case IR_ADD: return fmf(LLVMBuildFAdd(b, x, y, ""), LLVMFastMathAllowContract);
    case IR_SUB: return fmf(LLVMBuildFSub(b, x, y, ""), LLVMFastMathAllowContract);
    case IR_MUL: return fmf(LLVMBuildFMul(b, x, y, ""), LLVMFastMathAllowContract);
    case IR_DIV: return LLVMBuildFDiv(b, x, y, "");
    case IR_POW:
        /* x^3 (GELU's) as two multiplies: llvm.pow folds only x^2 and x^0.5 without
         * fast-math, and a powf call per element does not vectorize */
        if (LLVMIsAConstantFP(y)) {
            LLVMBool lost;
            if (LLVMConstRealGetDouble(y, &lost) == 3.0)
                return LLVMBuildFMul(b, LLVMBuildFMul(b, x, x, ""), x, "");
        }
        return intrinsic(cg, "llvm.pow", cg->f32, xy, 2);
    case IR_MAX: return intrinsic(cg, "llvm.maxnum", cg->f32, xy, 2);
    case IR_MIN: return intrinsic(cg, "llvm.minnum", cg->f32, xy, 2);
    default: return bool_to_f32(cg, LLVMBuildFCmp(b, fcmp[op], x, y, ""));
    }
}

static bool dim_is_one(IrDim d) { return d.b == 0 && d.c == 1; }

static LLVMValueRef clamp_index(Cg *cg, LLVMValueRef i, LLVMValueRef n) {
    LLVMValueRef lo = LLVMBuildSelect(cg->b, LLVMBuildICmp(cg->b, LLVMIntSLT, i, i64c(cg, 0), ""),
                                      i64c(cg, 0), i, "");
    LLVMValueRef last = LLVMBuildNSWSub(cg->b, n, i64c(cg, 1), "");
    return LLVMBuildSelect(cg->b, LLVMBuildICmp(cg->b, LLVMIntSGT, lo, last, ""), last, lo, "");
}

/* The value of inlined node n at idx (in n's shape, or the kernel's linear index when flat). */
static LLVMValueRef compute_at(Cg *cg, KEmit *e, int n, LLVMValueRef *idx, bool flat) {
    const IrNode *x = nd(cg, n);
    LLVMBuilderRef b = cg->b;
    LLVMValueRef sub[IR_MAX_RANK];
    IrClass cls = ir_op_info[x->op].cls;
    if (cls == IRC_UNARY)
        return unary(cg, x->op, value_at(cg, e, x->in[0], idx, flat), nd(cg, x->in[0])->dtype);
    if (cls == IRC_BINARY)
        return binary(cg, x->op, value_at(cg, e, x->in[0], idx, flat),
                      value_at(cg, e, x->in[1], idx, flat), nd(cg, x->in[0])->dtype);
    switch (x->op) {
    case IR_CONST:
        return x->dtype == IR_I32 ? LLVMConstInt(cg->i32, (unsigned long long)(long long)x->a, 1)
                                  : f32c(cg, x->a);
    case IR_DIMVAL: {
        LLVMValueRef v = dimv(cg, e->B, x->dim);
        return x->dtype == IR_I32 ? LLVMBuildTrunc(b, v, cg->i32, "") : LLVMBuildSIToFP(b, v, cg->f32, "");
    }
    case IR_ARANGE: return LLVMBuildTrunc(b, idx[0], cg->i32, "");
    case IR_WHERE: {
        LLVMValueRef c = value_at(cg, e, x->in[0], idx, flat);
        LLVMValueRef cond = nd(cg, x->in[0])->dtype == IR_I32
                                ? LLVMBuildICmp(b, LLVMIntNE, c, LLVMConstInt(cg->i32, 0, 0), "")
                                : LLVMBuildFCmp(b, LLVMRealUNE, c, f32c(cg, 0.0), "");
        return LLVMBuildSelect(b, cond, value_at(cg, e, x->in[1], idx, flat),
                               value_at(cg, e, x->in[2], idx, flat), "");
    }
    case IR_BROADCAST: {
        const IrShape *s = &nd(cg, x->in[0])->shape;
        int off = x->shape.rank - s->rank;
        for (int j = 0; j < s->rank; j++)
            sub[j] = flat || dim_is_one(s->d[j]) ? i64c(cg, 0) : idx[j + off]; /* flat: a scalar */
        return value_at(cg, e, x->in[0], sub, false);
    }
    case IR_TRANSPOSE:
        for (int i = 0; i < x->shape.rank; i++) sub[x->perm[i]] = idx[i];
        return value_at(cg, e, x->in[0], sub, false);
    case IR_SLICE:
        memcpy(sub, idx, sizeof(LLVMValueRef) * (size_t)x->shape.rank);
        sub[x->axis] = LLVMBuildNSWAdd(b, idx[x->axis], dimv(cg, e->B, (IrDim){x->start_b, x->start}), "");
        return value_at(cg, e, x->in[0], sub, false);
    case IR_PAD: {
        const IrNode *in = nd(cg, x->in[0]);
        LLVMValueRef len = dimv(cg, e->B, in->shape.d[x->axis]);
        LLVMValueRef j = LLVMBuildNSWSub(b, idx[x->axis], dimv(cg, e->B, (IrDim){x->start_b, x->start}), "");
        LLVMValueRef inside = LLVMBuildICmp(b, LLVMIntULT, j, len, "");
        memcpy(sub, idx, sizeof(LLVMValueRef) * (size_t)x->shape.rank);
        sub[x->axis] = clamp_index(cg, j, len);
        return LLVMBuildSelect(b, inside, value_at(cg, e, x->in[0], sub, false), zero_of(cg, x->dtype), "");
    }
    case IR_CONCAT: {
        LLVMValueRef d0 = dimv(cg, e->B, nd(cg, x->in[0])->shape.d[x->axis]);
        LLVMValueRef d1 = dimv(cg, e->B, nd(cg, x->in[1])->shape.d[x->axis]);
        LLVMValueRef first = LLVMBuildICmp(b, LLVMIntSLT, idx[x->axis], d0, "");
        LLVMValueRef sub1[IR_MAX_RANK];
        memcpy(sub, idx, sizeof(LLVMValueRef) * (size_t)x->shape.rank);
        memcpy(sub1, idx, sizeof(LLVMValueRef) * (size_t)x->shape.rank);
        sub[x->axis] = clamp_index(cg, idx[x->axis], d0);
        sub1[x->axis] = clamp_index(cg, LLVMBuildNSWSub(b, idx[x->axis], d0, ""), d1);
        return LLVMBuildSelect(b, first, value_at(cg, e, x->in[0], sub, false),
                               value_at(cg, e, x->in[1], sub1, false), "");
    }
    case IR_UNFOLD: {
        /* window element (c, i, j, n, p, q) reads x[n, c, p*s - pad + i*d, q*s - pad + j*d] */
        const IrWindow *w = &x->win;
        LLVMValueRef hs[2];
        for (int a = 0; a < 2; a++) {
            LLVMValueRef at = LLVMBuildNSWMul(b, idx[4 + a], i64c(cg, w->stride), "");
            at = LLVMBuildNSWAdd(b, at, LLVMBuildNSWMul(b, idx[1 + a], i64c(cg, w->dil), ""), "");
            hs[a] = LLVMBuildNSWSub(b, at, i64c(cg, w->pad), "");
        }
        LLVMValueRef inside = LLVMBuildAnd(b, LLVMBuildICmp(b, LLVMIntULT, hs[0], i64c(cg, w->h), ""),
                                           LLVMBuildICmp(b, LLVMIntULT, hs[1], i64c(cg, w->w), ""), "");
        sub[0] = idx[3];
        sub[1] = idx[0];
        sub[2] = clamp_index(cg, hs[0], i64c(cg, w->h));
        sub[3] = clamp_index(cg, hs[1], i64c(cg, w->w));
        return LLVMBuildSelect(b, inside, value_at(cg, e, x->in[0], sub, false), f32c(cg, x->a), "");
    }
    case IR_ONE_HOT: {
        int r = x->shape.rank;
        LLVMValueRef v = value_at(cg, e, x->in[0], idx, false);
        LLVMValueRef hit = LLVMBuildICmp(b, LLVMIntEQ, LLVMBuildSExt(b, v, cg->i64, ""), idx[r - 1], "");
        return bool_to_f32(cg, hit);
    }
    case IR_GATHER: {
        const IrNode *t = nd(cg, x->in[0]), *ix = nd(cg, x->in[1]);
        LLVMValueRef row = LLVMBuildSExt(b, value_at(cg, e, x->in[1], idx, false), cg->i64, "");
        LLVMValueRef rows = dimv(cg, e->B, t->shape.d[0]);
        LLVMValueRef valid = LLVMBuildICmp(b, LLVMIntULT, row, rows, "");
        sub[0] = LLVMBuildSelect(b, valid, row, i64c(cg, 0), "");
        for (int i = 1; i < t->shape.rank; i++) sub[i] = idx[ix->shape.rank + i - 1];
        return LLVMBuildSelect(b, valid, load_at(cg, e, x->in[0], sub, false), zero_of(cg, x->dtype), "");
    }
    default:
        /* fuse.c inlines nothing else; a load keeps the module valid if it ever did. */
        return load_at(cg, e, n, idx, flat);
    }
}

static LLVMValueRef value_at(Cg *cg, KEmit *e, int n, LLVMValueRef *idx, bool flat) {
    if (cg->p->buf[n].kind != KB_NONE) return load_at(cg, e, n, idx, flat);
    return compute_at(cg, e, n, idx, flat);
}

/* ------------------------------------------------------------- optimizer */

/* Adam's per-step coefficients as rt_update_adam computes them (optim.c):
 * lr_t = lr*sqrt(1-b2^t)/(1-b1^t), eps_t = eps*sqrt(1-b2^t), t = step + 1, in double. */
static void emit_opt_coefs(Cg *cg, KEmit *e) {
    const IrOptim *o = &cg->g->optim;
    LLVMBuilderRef b = cg->b;
    e->lr = ctx_field(cg, e->ctx, CTX_LR, cg->f32);
    if (o->kind == OPT_SGD) return;
    LLVMValueRef t = LLVMBuildFAdd(b, LLVMBuildSIToFP(b, ctx_field(cg, e->ctx, CTX_STEP, cg->i64), cg->f64, ""),
                                   LLVMConstReal(cg->f64, 1.0), "");
    LLVMValueRef one = LLVMConstReal(cg->f64, 1.0);
    LLVMValueRef a1[2] = {LLVMConstReal(cg->f64, (double)(float)o->beta1), t};
    LLVMValueRef a2[2] = {LLVMConstReal(cg->f64, (double)(float)o->beta2), t};
    LLVMValueRef c1 = LLVMBuildFSub(b, one, intrinsic(cg, "llvm.pow", cg->f64, a1, 2), "");
    LLVMValueRef c2arg = LLVMBuildFSub(b, one, intrinsic(cg, "llvm.pow", cg->f64, a2, 2), "");
    LLVMValueRef c2 = intrinsic(cg, "llvm.sqrt", cg->f64, &c2arg, 1);
    LLVMValueRef lr64 = LLVMBuildFPExt(b, e->lr, cg->f64, "");
    e->lr_t = LLVMBuildFPTrunc(b, LLVMBuildFDiv(b, LLVMBuildFMul(b, lr64, c2, ""), c1, ""), cg->f32, "");
    e->eps_t = LLVMBuildFPTrunc(
        b, LLVMBuildFMul(b, LLVMConstReal(cg->f64, (double)(float)o->eps), c2, ""), cg->f32, "");
    e->decay = o->kind == OPT_ADAMW
                   ? LLVMBuildFSub(b, f32c(cg, 1.0),
                                   LLVMBuildFMul(b, e->lr, f32c(cg, (float)o->weight_decay), ""), "")
                   : f32c(cg, 1.0);
}

static bool has_state(const IrOptim *o) { return o->kind != OPT_SGD || o->momentum != 0.0; }

/* One element of the update, off = its index in the parameter, g its gradient. */
static void emit_opt_element(Cg *cg, KEmit *e, int param, int64_t count, LLVMValueRef off,
                             LLVMValueRef g) {
    const IrOptim *o = &cg->g->optim;
    LLVMBuilderRef b = cg->b;
    LLVMValueRef pp = elem_ptr(cg, cg->f32, arg_ptr(e, (KArg){ARG_PARAM, param}), off);
    LLVMValueRef p = LLVMBuildLoad2(b, cg->f32, pp, "");
    if (o->kind == OPT_SGD) {
        /* g += wd*p; mom = momentum*mom + g; p -= lr*mom  (p -= lr*g without momentum) */
        g = LLVMBuildFAdd(b, g, LLVMBuildFMul(b, f32c(cg, (float)o->weight_decay), p, ""), "");
        if (o->momentum != 0.0) {
            LLVMValueRef mp = elem_ptr(cg, cg->f32, arg_ptr(e, (KArg){ARG_STATE, param}), off);
            LLVMValueRef mom = LLVMBuildFAdd(
                b, LLVMBuildFMul(b, f32c(cg, (float)o->momentum), LLVMBuildLoad2(b, cg->f32, mp, ""), ""),
                g, "");
            LLVMBuildStore(b, mom, mp);
            g = mom;
        }
        LLVMBuildStore(b, LLVMBuildFSub(b, p, LLVMBuildFMul(b, e->lr, g, ""), ""), pp);
        return;
    }
    /* m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g; p = p*decay - lr_t*m/(sqrt(v) + eps_t) */
    if (o->kind == OPT_ADAM && o->weight_decay != 0.0)
        g = LLVMBuildFAdd(b, g, LLVMBuildFMul(b, f32c(cg, (float)o->weight_decay), p, ""), "");
    LLVMValueRef st = arg_ptr(e, (KArg){ARG_STATE, param});
    LLVMValueRef mp = elem_ptr(cg, cg->f32, st, off);
    LLVMValueRef vp = elem_ptr(cg, cg->f32, st, LLVMBuildNSWAdd(b, off, i64c(cg, count), ""));
    float b1 = (float)o->beta1, b2 = (float)o->beta2;
    LLVMValueRef m = LLVMBuildFAdd(b, LLVMBuildFMul(b, f32c(cg, b1), LLVMBuildLoad2(b, cg->f32, mp, ""), ""),
                                   LLVMBuildFMul(b, f32c(cg, 1.0f - b1), g, ""), "");
    LLVMValueRef v = LLVMBuildFAdd(
        b, LLVMBuildFMul(b, f32c(cg, b2), LLVMBuildLoad2(b, cg->f32, vp, ""), ""),
        LLVMBuildFMul(b, LLVMBuildFMul(b, f32c(cg, 1.0f - b2), g, ""), g, ""), "");
    LLVMBuildStore(b, m, mp);
    LLVMBuildStore(b, v, vp);
    LLVMValueRef den = LLVMBuildFAdd(b, intrinsic(cg, "llvm.sqrt", cg->f32, &v, 1), e->eps_t, "");
    LLVMValueRef step = LLVMBuildFDiv(b, LLVMBuildFMul(b, e->lr_t, m, ""), den, "");
    LLVMBuildStore(b, LLVMBuildFSub(b, LLVMBuildFMul(b, p, e->decay, ""), step, ""), pp);
}

/* ---------------------------------------------------------------- kernels */

static void loop_body(Cg *cg, KEmit *e, LLVMValueRef *idx, void *ud) {
    const Kernel *k = e->k;
    const IrNode *r = nd(cg, k->root);
    if (k->kind == K_UPDATE) {
        const IrShape *ps = &nd(cg, r->in[0])->shape;
        LLVMValueRef off = k->flat ? idx[0] : linearize(cg, e, idx, ps);
        LLVMValueRef g = value_at(cg, e, r->in[1], idx, k->flat);
        if (cg->grad_flag) {
            LLVMValueRef d = LLVMBuildFSub(cg->b, g, g, "");
            LLVMBasicBlockRef join = if_begin(cg, LLVMBuildFCmp(cg->b, LLVMRealUNO, d, d, ""));
            LLVMBuildStore(cg->b, LLVMConstInt(cg->i32, 1, 0), cg->grad_flag);
            if_end(cg, join);
            return;
        }
        if (cg->g->params.items[r->index].state)
            LLVMBuildStore(cg->b, g, elem_ptr(cg, cg->f32, arg_ptr(e, (KArg){ARG_PARAM, r->index}), off));
        else
            emit_opt_element(cg, e, r->index, ir_shape_numel(ps, 0), off, g);
        return;
    }
    LLVMValueRef v = compute_at(cg, e, k->root, idx, k->flat);
    LLVMValueRef off = k->flat ? idx[0] : linearize(cg, e, idx, &r->shape);
    LLVMBuildStore(cg->b, v, elem_ptr(cg, elem_type(cg, r->dtype), node_ptr(cg, e, k->root), off));
    (void)ud;
}

static void emit_loop(Cg *cg, KEmit *e) {
    const Kernel *k = e->k;
    const IrNode *r = nd(cg, k->root);
    const IrShape *s = k->kind == K_UPDATE ? &nd(cg, r->in[0])->shape : &r->shape;
    if (k->kind == K_UPDATE) emit_opt_coefs(cg, e);
    LLVMValueRef lo[IR_MAX_RANK], hi[IR_MAX_RANK], idx[IR_MAX_RANK];
    if (k->flat || s->rank == 0) {
        lo[0] = e->lo;
        hi[0] = e->hi;
        nest(cg, e, 0, 1, lo, hi, idx, loop_body, NULL);
        return;
    }
    shape_ranges(cg, e, s, e->lo, e->hi, lo, hi);
    nest(cg, e, 0, s->rank, lo, hi, idx, loop_body, NULL);
}

typedef struct ReduceState {
    LLVMValueRef acc, total;
    bool mem_acc;
    /* loops order[0, split) outside; kept-major: order[split, rows) the reduced axes in
     * front of a kept one, each row's partial added to total in that order */
    int split, rows;
    int order[IR_MAX_RANK];
    LLVMValueRef *lo, *hi;
} ReduceState;

/* Loops over the axes order[d, to), outermost first; idx[axis] = the loop variables. */
static void nest_order(Cg *cg, KEmit *e, const int *order, int d, int to, LLVMValueRef *lo,
                       LLVMValueRef *hi, LLVMValueRef *idx, BodyFn body, void *ud) {
    if (d == to) {
        body(cg, e, idx, ud);
        return;
    }
    int axis = order[d];
    Loop l = loop_begin(cg, lo[axis], hi[axis]);
    idx[axis] = l.iv;
    nest_order(cg, e, order, d + 1, to, lo, hi, idx, body, ud);
    loop_end(cg, &l);
}

static LLVMValueRef reduce_identity(Cg *cg, IrOp op, IrDType dt) {
    if (dt == IR_I32) {
        int32_t v = op == IR_SUM ? 0 : op == IR_RMAX ? INT32_MIN : INT32_MAX;
        return LLVMConstInt(cg->i32, (unsigned long long)(int64_t)v, 1);
    }
    return f32c(cg, op == IR_SUM ? 0.0 : op == IR_RMAX ? -INFINITY : INFINITY);
}

static LLVMValueRef reduce_combine(Cg *cg, IrOp op, IrDType dt, LLVMValueRef a, LLVMValueRef v,
                                   bool reassoc) {
    if (op == IR_SUM) {
        if (dt == IR_I32) return LLVMBuildAdd(cg->b, a, v, "");
        return fmf(LLVMBuildFAdd(cg->b, a, v, ""), reassoc ? LLVMFastMathAllowReassoc : 0);
    }
    if (reassoc && dt == IR_F32) {
        /* A register max/min vectorizes only with nnan (LLVM 19), so a NaN element is
         * first replaced by the identity: maxnum skips NaN anyway, and the accumulator
         * starts at the identity, so this is the same value, now from an operation whose
         * operands are never NaN. nsz: a tie of -0 and +0 may give either (in a fixed
         * order: a row is reduced by one thread). The GPT step's max over its
         * [B, T, vocab] logits took 9% of the step as a scalar chain. */
        LLVMValueRef nan = LLVMBuildFCmp(cg->b, LLVMRealUNO, v, v, "");
        LLVMValueRef xy[2] = {a, LLVMBuildSelect(cg->b, nan, reduce_identity(cg, op, dt), v, "")};
        return fmf(intrinsic(cg, op == IR_RMAX ? "llvm.maxnum" : "llvm.minnum", cg->f32, xy, 2),
                   LLVMFastMathNoNaNs | LLVMFastMathNoSignedZeros);
    }
    return binary(cg, op == IR_RMAX ? IR_MAX : IR_MIN, a, v, dt);
}

static void reduce_inner(Cg *cg, KEmit *e, LLVMValueRef *idx, void *ud) {
    ReduceState *rs = ud;
    const IrNode *r = nd(cg, e->k->root);
    LLVMTypeRef t = elem_type(cg, r->dtype);
    LLVMValueRef v = value_at(cg, e, r->in[0], idx, false);
    LLVMValueRef a = LLVMBuildLoad2(cg->b, t, rs->acc, "");
    LLVMBuildStore(cg->b, reduce_combine(cg, r->op, r->dtype, a, v, true), rs->acc);
}

/* One row of the trailing reduced axes, summed in acc. */
static void reduce_row(Cg *cg, KEmit *e, LLVMValueRef *idx, ReduceState *rs) {
    const IrNode *r = nd(cg, e->k->root);
    LLVMBuildStore(cg->b, reduce_identity(cg, r->op, r->dtype), rs->acc);
    nest_order(cg, e, rs->order, rs->rows, r->shape.rank, rs->lo, rs->hi, idx, reduce_inner, rs);
}

/* Kept-major: a row's partial joins the total as the row-major form adds it to the output. */
static void reduce_row_into_total(Cg *cg, KEmit *e, LLVMValueRef *idx, void *ud) {
    ReduceState *rs = ud;
    const IrNode *r = nd(cg, e->k->root);
    LLVMTypeRef t = elem_type(cg, r->dtype);
    reduce_row(cg, e, idx, rs);
    LLVMValueRef total = LLVMBuildLoad2(cg->b, t, rs->total, "");
    LLVMBuildStore(cg->b, reduce_combine(cg, r->op, r->dtype, total, LLVMBuildLoad2(cg->b, t, rs->acc, ""), false),
                   rs->total);
}

static void reduce_outer(Cg *cg, KEmit *e, LLVMValueRef *idx, void *ud) {
    ReduceState *rs = ud;
    const IrNode *r = nd(cg, e->k->root);
    LLVMTypeRef t = elem_type(cg, r->dtype);
    LLVMValueRef result = rs->acc;
    if (rs->total) {
        LLVMBuildStore(cg->b, reduce_identity(cg, r->op, r->dtype), rs->total);
        nest_order(cg, e, rs->order, rs->split, rs->rows, rs->lo, rs->hi, idx, reduce_row_into_total, rs);
        result = rs->total;
    } else {
        reduce_row(cg, e, idx, rs);
    }
    LLVMValueRef oidx[IR_MAX_RANK];
    for (int i = 0; i < r->shape.rank; i++) oidx[i] = (r->axes >> i) & 1u ? i64c(cg, 0) : idx[i];
    LLVMValueRef op = elem_ptr(cg, t, node_ptr(cg, e, e->k->root), linearize(cg, e, oidx, &r->shape));
    LLVMValueRef acc = LLVMBuildLoad2(cg->b, t, result, "");
    if (rs->mem_acc) acc = reduce_combine(cg, r->op, r->dtype, LLVMBuildLoad2(cg->b, t, op, ""), acc, false);
    LLVMBuildStore(cg->b, acc, op);
}

static void reduce_init(Cg *cg, KEmit *e, LLVMValueRef *idx, void *ud) {
    const IrNode *r = nd(cg, e->k->root);
    LLVMTypeRef t = elem_type(cg, r->dtype);
    LLVMBuildStore(cg->b, reduce_identity(cg, r->op, r->dtype),
                   elem_ptr(cg, t, node_ptr(cg, e, e->k->root), linearize(cg, e, idx, &r->shape)));
    (void)ud;
}

/* The first kept axis of a kept-major reduction: its outer loop, split across threads. */
static int first_kept(const IrNode *r) {
    int i = 0;
    while ((r->axes >> i) & 1u) i++;
    return i;
}

/* Row-major (the default): the input is walked in its own order. Trailing reduced
 * axes are summed in a register (vectorized, reassociated); a reduced axis in front
 * of a kept one accumulates in the output, in input order, so each output still has
 * exactly one writer and splitting the first kept axis across threads is safe.
 * Kept-major (reduce_kept_major): the kept axes outside, then the reduced axes in
 * front of a kept one, each row of the trailing ones summed in a register and added
 * to a register total in the row-major form's order (the same sums, bit for bit),
 * with no pass that initializes the output and no read-modify-write of it per row.
 * (Unrolling a pooling window's loops so the last kept axis vectorizes was tried:
 * LLVM gathers the strided elements, and gathers are slow on AMD's cores: 1.5x slower.) */
static void emit_reduce(Cg *cg, KEmit *e) {
    const IrNode *r = nd(cg, e->k->root);
    const IrShape *s = &nd(cg, r->in[0])->shape;
    int rank = s->rank, last_kept = -1;
    for (int i = 0; i < rank; i++)
        if (!((r->axes >> i) & 1u)) last_kept = i;
    ReduceState rs = {.split = last_kept + 1, .rows = last_kept + 1};
    for (int i = 0; i < rank; i++) rs.order[i] = i;
    LLVMValueRef lo[IR_MAX_RANK], hi[IR_MAX_RANK], idx[IR_MAX_RANK];
    if (reduce_kept_major(s, r->axes)) {
        int n = 0;
        for (int i = 0; i <= last_kept; i++)
            if (!((r->axes >> i) & 1u)) rs.order[n++] = i;
        rs.split = n;
        for (int i = 0; i <= last_kept; i++)
            if ((r->axes >> i) & 1u) rs.order[n++] = i;
        rs.total = entry_alloca(cg, e, elem_type(cg, r->dtype));
        shape_ranges(cg, e, s, i64c(cg, 0), dimv(cg, e->B, s->d[0]), lo, hi);
        lo[first_kept(r)] = e->lo;
        hi[first_kept(r)] = e->hi;
    } else {
        for (int i = 0; i < last_kept; i++)
            if ((r->axes >> i) & 1u) rs.mem_acc = true;
        if (rs.mem_acc) {
            bool first_reduced = r->axes & 1u;
            shape_ranges(cg, e, &r->shape, first_reduced ? i64c(cg, 0) : e->lo,
                         first_reduced ? i64c(cg, 1) : e->hi, lo, hi);
            nest(cg, e, 0, rank, lo, hi, idx, reduce_init, NULL);
        }
        shape_ranges(cg, e, s, e->lo, e->hi, lo, hi);
    }
    rs.lo = lo;
    rs.hi = hi;
    rs.acc = entry_alloca(cg, e, elem_type(cg, r->dtype));
    nest_order(cg, e, rs.order, 0, rs.split, lo, hi, idx, reduce_outer, &rs);
}

typedef struct ArgmaxState {
    LLVMValueRef best_v, best_i;
} ArgmaxState;

static void argmax_body(Cg *cg, KEmit *e, LLVMValueRef *idx, void *ud) {
    ArgmaxState *as = ud;
    const IrNode *r = nd(cg, e->k->root), *x = nd(cg, r->in[0]);
    int axis = __builtin_ctz(r->axes);
    LLVMTypeRef t = elem_type(cg, x->dtype);
    LLVMValueRef sub[IR_MAX_RANK];
    memcpy(sub, idx, sizeof(LLVMValueRef) * (size_t)r->shape.rank);
    sub[axis] = i64c(cg, 0);
    LLVMBuildStore(cg->b, value_at(cg, e, r->in[0], sub, false), as->best_v);
    LLVMBuildStore(cg->b, i64c(cg, 0), as->best_i);
    Loop l = loop_begin(cg, i64c(cg, 1), dimv(cg, e->B, x->shape.d[axis]));
    sub[axis] = l.iv;
    LLVMValueRef v = value_at(cg, e, r->in[0], sub, false);
    LLVMValueRef bv = LLVMBuildLoad2(cg->b, t, as->best_v, "");
    /* strictly greater: the first maximum wins */
    LLVMValueRef better = x->dtype == IR_I32 ? LLVMBuildICmp(cg->b, LLVMIntSGT, v, bv, "")
                                             : LLVMBuildFCmp(cg->b, LLVMRealOGT, v, bv, "");
    LLVMBuildStore(cg->b, LLVMBuildSelect(cg->b, better, v, bv, ""), as->best_v);
    LLVMBuildStore(cg->b, LLVMBuildSelect(cg->b, better, l.iv, LLVMBuildLoad2(cg->b, cg->i64, as->best_i, ""), ""),
                   as->best_i);
    loop_end(cg, &l);
    LLVMValueRef out = elem_ptr(cg, cg->i32, node_ptr(cg, e, e->k->root), linearize(cg, e, idx, &r->shape));
    LLVMBuildStore(cg->b, LLVMBuildTrunc(cg->b, LLVMBuildLoad2(cg->b, cg->i64, as->best_i, ""), cg->i32, ""), out);
}

static void emit_argmax(Cg *cg, KEmit *e) {
    const IrNode *r = nd(cg, e->k->root);
    ArgmaxState as = {entry_alloca(cg, e, elem_type(cg, nd(cg, r->in[0])->dtype)), entry_alloca(cg, e, cg->i64)};
    LLVMValueRef lo[IR_MAX_RANK], hi[IR_MAX_RANK], idx[IR_MAX_RANK];
    shape_ranges(cg, e, &r->shape, e->lo, e->hi, lo, hi);
    nest(cg, e, 0, r->shape.rank, lo, hi, idx, argmax_body, &as);
}

static void zero_fill(Cg *cg, LLVMValueRef p, LLVMValueRef n) {
    Loop l = loop_begin(cg, i64c(cg, 0), n);
    LLVMBuildStore(cg->b, f32c(cg, 0.0), elem_ptr(cg, cg->f32, p, l.iv));
    loop_end(cg, &l);
}

static void emit_sgemm(Cg *cg, KEmit *e) {
    const IrNode *r = nd(cg, e->k->root), *a = nd(cg, r->in[0]), *bm = nd(cg, r->in[1]);
    LLVMBuilderRef b = cg->b;
    int rk = r->shape.rank, rka = a->shape.rank, rkb = bm->shape.rank;
    LLVMValueRef ra = dimv(cg, e->B, a->shape.d[rka - 2]), ca = dimv(cg, e->B, a->shape.d[rka - 1]);
    LLVMValueRef rb = dimv(cg, e->B, bm->shape.d[rkb - 2]), cb = dimv(cg, e->B, bm->shape.d[rkb - 1]);
    LLVMValueRef M = r->trans_a ? ca : ra, K = r->trans_a ? ra : ca, N = r->trans_b ? rb : cb;
    LLVMValueRef C = node_ptr(cg, e, e->k->root);
    LLVMValueRef mn = LLVMBuildNSWMul(b, M, N, "");
    LLVMValueRef G = rk == 3 ? dimv(cg, e->B, r->shape.d[0]) : i64c(cg, 1);
    /* An empty inner dimension gives zeros; sgemm rejects its leading dims then. */
    LLVMBasicBlockRef join = if_begin(cg, LLVMBuildICmp(b, LLVMIntEQ, K, i64c(cg, 0), ""));
    zero_fill(cg, C, LLVMBuildNSWMul(b, mn, G, ""));
    LLVMBasicBlockRef after = LLVMAppendBasicBlockInContext(cg->C, e->fn, "after");
    LLVMBuildBr(b, after);
    LLVMPositionBuilderAtEnd(b, join);
    LLVMValueRef nonempty = LLVMBuildICmp(b, LLVMIntSGT, mn, i64c(cg, 0), "");
    LLVMBasicBlockRef j2 = if_begin(cg, nonempty);
    LLVMValueRef pool = ctx_field(cg, e->ctx, CTX_POOL, cg->ptr), A = node_ptr(cg, e, r->in[0]);
    LLVMValueRef Bp = node_ptr(cg, e, r->in[1]), ta = LLVMConstInt(cg->i32, r->trans_a, 0);
    LLVMValueRef tb = LLVMConstInt(cg->i32, r->trans_b, 0);
    if (rk == 3) { /* one call for the batch; a 2-D operand is every product's: stride 0, no copies */
        LLVMValueRef sa = rka == 3 ? LLVMBuildNSWMul(b, ra, ca, "") : i64c(cg, 0);
        LLVMValueRef sb = rkb == 3 ? LLVMBuildNSWMul(b, rb, cb, "") : i64c(cg, 0);
        LLVMValueRef args[16] = {pool, ta, tb, G, M, N, K, A, ca, sa, Bp, cb, sb, C, N, mn};
        call(cg, cg->sgemm_batched, args, 16);
    } else {
        LLVMValueRef args[12] = {pool, ta, tb, M, N, K, A, ca, Bp, cb, C, N};
        call(cg, cg->sgemm, args, 12);
    }
    if_end(cg, j2);
    LLVMBuildBr(b, after);
    LLVMPositionBuilderAtEnd(b, after);
}

static void emit_random(Cg *cg, KEmit *e) {
    const IrNode *r = nd(cg, e->k->root);
    LLVMBuilderRef b = cg->b;
    LLVMValueRef seed = ctx_field(cg, e->ctx, CTX_SEED, cg->i64);
    LLVMValueRef step = ctx_field(cg, e->ctx, CTX_STEP, cg->i64);
    LLVMValueRef out = node_ptr(cg, e, e->k->root);
    if (r->op == IR_SHIFT2D) {
        const IrNode *in = nd(cg, r->in[0]);
        LLVMValueRef args[9] = {out, node_ptr(cg, e, r->in[0]), dimv(cg, e->B, in->shape.d[0]),
                                i64c(cg, r->dim.c), i64c(cg, r->start), i64c(cg, r->end), seed,
                                i64c(cg, r->index), step};
        call(cg, cg->shift2d, args, 9);
        return;
    }
    int kind = r->op == IR_BERNOULLI ? RT_RAND_BERNOULLI : r->op == IR_NORMAL ? RT_RAND_NORMAL
             : r->op == IR_UNIFORM   ? RT_RAND_UNIFORM   : RT_RAND_RANDINT;
    LLVMValueRef args[9] = {LLVMConstInt(cg->i32, (unsigned)kind, 0), out, e->lo, e->hi,
                            LLVMConstReal(cg->f64, r->a), LLVMConstReal(cg->f64, r->b), seed,
                            i64c(cg, r->index), step};
    (void)b;
    call(cg, cg->random_fill, args, 9);
}

/* A collective over the processes: rt_collective on the node's local view
 * [outer, blocks * B, inner] (the input's for a gather or unshard, else the
 * output's); an all-reduce starts (rt_allreduce_start) and its K_COLLECTIVE_WAIT
 * ends it. */
static void emit_collective(Cg *cg, KEmit *e) {
    const IrNode *r = nd(cg, e->k->root), *x = nd(cg, r->in[0]);
    LLVMBuilderRef b = cg->b;
    if (e->k->kind == K_COLLECTIVE_WAIT) {
        LLVMValueRef out = node_ptr(cg, e, e->k->root);
        call(cg, cg->allreduce_wait, &out, 1);
        return;
    }
    if (r->op == IR_ALLREDUCE) {
        LLVMValueRef args[4] = {i64c(cg, r->dim.c), node_ptr(cg, e, e->k->root), node_ptr(cg, e, r->in[0]),
                                numel(cg, e->B, &x->shape)};
        call(cg, cg->allreduce_start, args, 4);
        return;
    }
    bool to_global = r->op == IR_ALLGATHER || r->op == IR_UNSHARD;
    const IrShape *local = to_global ? &x->shape : &r->shape;
    LLVMValueRef outer = i64c(cg, 1), inner = i64c(cg, 1);
    for (int i = 0; i < r->axis; i++) outer = LLVMBuildNSWMul(b, outer, dimv(cg, e->B, local->d[i]), "");
    for (int i = r->axis + 1; i < local->rank; i++) inner = LLVMBuildNSWMul(b, inner, dimv(cg, e->B, local->d[i]), "");
    LLVMValueRef blocks = i64c(cg, local->d[r->axis].b), rows = e->B;
    int kind = r->op == IR_ALLGATHER ? RT_COLL_ALLGATHER : r->op == IR_REDUCE_SCATTER ? RT_COLL_REDUCE_SCATTER
             : r->op == IR_SHARD ? RT_COLL_SHARD : RT_COLL_UNSHARD;
    LLVMValueRef args[8] = {LLVMConstInt(cg->i32, (unsigned)kind, 0), i64c(cg, r->dim.c),
                            node_ptr(cg, e, e->k->root), node_ptr(cg, e, r->in[0]), outer, blocks, rows, inner};
    call(cg, cg->collective, args, 8);
}

/* An rt_window on the kernel's stack for the windows `cols` ([C, KH, KW, N, OH, OW]) of an
 * unfold or fold with window w. */
static LLVMValueRef window_arg(Cg *cg, KEmit *e, const IrNode *cols, const IrWindow *w) {
    LLVMTypeRef arr = LLVMArrayType2(cg->i64, 11);
    LLVMValueRef win = entry_alloca(cg, e, arr);
    LLVMValueRef v[11] = {dimv(cg, e->B, cols->shape.d[3]), i64c(cg, cols->shape.d[0].c), i64c(cg, w->h),
                          i64c(cg, w->w), i64c(cg, w->kh), i64c(cg, w->kw),
                          i64c(cg, cols->shape.d[4].c), i64c(cg, cols->shape.d[5].c),
                          i64c(cg, w->stride), i64c(cg, w->pad), i64c(cg, w->dil)};
    for (int i = 0; i < 11; i++) LLVMBuildStore(cg->b, v[i], elem_ptr(cg, cg->i64, win, i64c(cg, i)));
    return win;
}

/* fold: rt_col2im with the node's window, split over the pool by image plane;
 * a stored unfold: rt_im2col. */
static void emit_fold(Cg *cg, KEmit *e) {
    const IrNode *r = nd(cg, e->k->root);
    const IrNode *cols = r->op == IR_UNFOLD ? r : nd(cg, r->in[0]);
    LLVMValueRef args[5] = {ctx_field(cg, e->ctx, CTX_POOL, cg->ptr), node_ptr(cg, e, e->k->root),
                            node_ptr(cg, e, r->in[0]), window_arg(cg, e, cols, &r->win), f32c(cg, r->a)};
    if (r->op == IR_UNFOLD) call(cg, cg->im2col, args, 5);
    else call(cg, cg->col2im, args, 4);
}

/* A product with a convolution's columns made image by image (fuse.c): its image
 * instead of the columns, rt_conv (weights @ columns) or rt_conv_weight_grad
 * (output gradient @ columns^T); or the fold of such columns, rt_conv_input_grad. */
static void emit_conv(Cg *cg, KEmit *e) {
    const IrNode *r = nd(cg, e->k->root);
    if (r->op == IR_FOLD) {
        /* col2im(W^T @ dY): rt_conv_input_grad reads W and dY */
        const IrNode *cols = nd(cg, r->in[0]), *m = nd(cg, cols->in[0]);
        LLVMValueRef args[6] = {ctx_field(cg, e->ctx, CTX_POOL, cg->ptr), node_ptr(cg, e, e->k->root),
                                node_ptr(cg, e, m->in[0]), node_ptr(cg, e, m->in[1]),
                                window_arg(cg, e, cols, &r->win), i64c(cg, nd(cg, m->in[0])->shape.d[0].c)};
        call(cg, cg->conv_igrad, args, 6);
        return;
    }
    const IrNode *cols = nd(cg, nd(cg, r->in[1])->in[0]);
    LLVMValueRef args[6] = {ctx_field(cg, e->ctx, CTX_POOL, cg->ptr), node_ptr(cg, e, e->k->root),
                            node_ptr(cg, e, r->in[0]), node_ptr(cg, e, cols->in[0]),
                            window_arg(cg, e, cols, &cols->win), i64c(cg, r->shape.d[0].c)};
    call(cg, r->trans_b ? cg->conv_wgrad : cg->conv, args, 6);
}

/* out = zeros; out[idx[i]] += rows[i] in order of i (the interpreter's order). */
static void emit_scatter(Cg *cg, KEmit *e) {
    const IrNode *r = nd(cg, e->k->root), *ix = nd(cg, r->in[0]);
    LLVMBuilderRef b = cg->b;
    LLVMValueRef out = node_ptr(cg, e, e->k->root), rows = node_ptr(cg, e, r->in[1]);
    LLVMValueRef idx = node_ptr(cg, e, r->in[0]);
    zero_fill(cg, out, numel(cg, e->B, &r->shape));
    /* a table computed in the step (not a parameter) may have rows that depend on B */
    LLVMValueRef V = dimv(cg, e->B, r->shape.d[0]), W = i64c(cg, 1);
    for (int d = 1; d < r->shape.rank; d++) W = LLVMBuildNSWMul(b, W, dimv(cg, e->B, r->shape.d[d]), "");
    Loop li = loop_begin(cg, i64c(cg, 0), numel(cg, e->B, &ix->shape));
    LLVMValueRef row = LLVMBuildSExt(b, LLVMBuildLoad2(b, cg->i32, elem_ptr(cg, cg->i32, idx, li.iv), ""), cg->i64, "");
    LLVMBasicBlockRef join = if_begin(cg, LLVMBuildICmp(b, LLVMIntULT, row, V, ""));
    LLVMValueRef dst = LLVMBuildNSWMul(b, row, W, ""), src = LLVMBuildNSWMul(b, li.iv, W, "");
    Loop ld = loop_begin(cg, i64c(cg, 0), W);
    LLVMValueRef dp = elem_ptr(cg, cg->f32, out, LLVMBuildNSWAdd(b, dst, ld.iv, ""));
    LLVMValueRef sv = LLVMBuildLoad2(b, cg->f32, elem_ptr(cg, cg->f32, rows, LLVMBuildNSWAdd(b, src, ld.iv, "")), "");
    LLVMBuildStore(b, LLVMBuildFAdd(b, LLVMBuildLoad2(b, cg->f32, dp, ""), sv, ""), dp);
    loop_end(cg, &ld);
    if_end(cg, join);
    loop_end(cg, &li);
}

/* The gradient's parts for the runtime: an rt_row_grads {rows, grad, n} per
 * scatter of the sum, in order, each read where the step wrote it. */
static LLVMValueRef sparse_grads(Cg *cg, KEmit *e) {
    const Kernel *k = e->k;
    LLVMBuilderRef b = cg->b;
    LLVMTypeRef fields[3] = {cg->ptr, cg->ptr, cg->i64};
    LLVMTypeRef part_t = LLVMStructTypeInContext(cg->C, fields, 3, 0);
    LLVMValueRef parts = LLVMBuildArrayAlloca(b, part_t, i64c(cg, k->scatters.len), "grads");
    for (int j = 0; j < k->scatters.len; j++) {
        const IrNode *s = nd(cg, k->scatters.items[j]);
        LLVMValueRef at = i64c(cg, j);
        LLVMValueRef part = LLVMBuildInBoundsGEP2(b, part_t, parts, &at, 1, "");
        LLVMValueRef vals[3] = {node_ptr(cg, e, s->in[0]), node_ptr(cg, e, s->in[1]),
                                numel(cg, e->B, &nd(cg, s->in[0])->shape)};
        for (unsigned f = 0; f < 3; f++) LLVMBuildStore(b, vals[f], LLVMBuildStructGEP2(b, part_t, part, f, ""));
    }
    return parts;
}

static void emit_sparse_update(Cg *cg, KEmit *e) {
    const IrOptim *o = &cg->g->optim;
    const IrNode *u = nd(cg, e->k->root), *s = nd(cg, u->in[1]);
    int64_t width = 1;
    for (int d = 1; d < s->shape.rank; d++) width *= s->shape.d[d].c;
    int64_t count = ir_shape_numel(&s->shape, 0);
    LLVMValueRef table = arg_ptr(e, (KArg){ARG_PARAM, u->index});
    LLVMValueRef st = has_state(o) ? arg_ptr(e, (KArg){ARG_STATE, u->index}) : LLVMConstPointerNull(cg->ptr);
    LLVMValueRef scratch = arg_ptr(e, (KArg){ARG_SCRATCH, e->kindex});
    LLVMValueRef lr = ctx_field(cg, e->ctx, CTX_LR, cg->f32);
    LLVMValueRef grads = sparse_grads(cg, e), n_grads = LLVMConstInt(cg->i32, (unsigned)e->k->scatters.len, 0);
    /* The runtime splits the update over the pool by table row (bit-identical at any count). */
    LLVMValueRef pool = ctx_field(cg, e->ctx, CTX_POOL, cg->ptr);
    LLVMValueRef common[6] = {pool, table, i64c(cg, s->shape.d[0].c), i64c(cg, width), grads, n_grads};
    if (o->kind == OPT_SGD) {
        LLVMValueRef args[11] = {common[0], common[1], common[2], common[3], common[4], common[5],
                                 st, lr, f32c(cg, (float)o->momentum), f32c(cg, (float)o->weight_decay),
                                 scratch};
        call(cg, cg->sgd_rows, args, 11);
        return;
    }
    LLVMValueRef v = elem_ptr(cg, cg->f32, st, i64c(cg, count));
    LLVMValueRef args[16] = {common[0], common[1], common[2], common[3], common[4], common[5], st, v,
                             lr, f32c(cg, (float)o->beta1), f32c(cg, (float)o->beta2), f32c(cg, (float)o->eps),
                             f32c(cg, (float)o->weight_decay), LLVMConstInt(cg->i8, o->kind == OPT_ADAMW, 0),
                             ctx_field(cg, e->ctx, CTX_STEP, cg->i64), scratch};
    call(cg, cg->adam_rows, args, 16);
}

/* ------------------------------------------------------------ kernel args */

static void collect_args(Cg *cg, KEmit *e) {
    const Kernel *k = e->k;
    const IrNode *r = nd(cg, k->root);
    if (k->kind != K_UPDATE && k->kind != K_SPARSE_UPDATE) add_arg(cg, e, arg_of_node(cg->p, k->root));
    for (int i = 0; i < k->reads.len; i++) add_arg(cg, e, arg_of_node(cg->p, k->reads.items[i]));
    if (k->kind == K_UPDATE || k->kind == K_SPARSE_UPDATE) {
        add_arg(cg, e, (KArg){ARG_PARAM, r->index});
        if (has_state(&cg->g->optim) && !cg->g->params.items[r->index].state)
            add_arg(cg, e, (KArg){ARG_STATE, r->index});
    }
    if (k->kind == K_SPARSE_UPDATE) add_arg(cg, e, (KArg){ARG_SCRATCH, e->kindex});
}

/* The range the kernel's outer loop covers and the elements it touches. */
static void kernel_extent(Cg *cg, const Kernel *k, LLVMValueRef B, LLVMValueRef *outer, LLVMValueRef *work) {
    const IrNode *r = nd(cg, k->root);
    const IrShape *s = &r->shape;
    if (k->kind == K_UPDATE) s = &nd(cg, r->in[0])->shape;
    if (k->kind == K_REDUCE) s = &nd(cg, r->in[0])->shape;
    *work = numel(cg, B, s);
    switch (k->kind) {
    case K_LOOP:
    case K_UPDATE:
        *outer = k->flat ? *work : s->rank ? dimv(cg, B, s->d[0]) : i64c(cg, 1);
        break;
    case K_REDUCE:
        *outer = !s->rank ? i64c(cg, 1)
                 : reduce_kept_major(s, r->axes) ? dimv(cg, B, s->d[first_kept(r)])
                                                 : dimv(cg, B, s->d[0]);
        break;
    case K_ARGMAX: *outer = s->rank ? dimv(cg, B, s->d[0]) : i64c(cg, 1); break;
    case K_RANDOM: *outer = *work; break;
    default: *outer = i64c(cg, 1); break;
    }
}

static LLVMValueRef emit_kernel(Cg *cg, int ki, KEmit *e) {
    const Kernel *k = &cg->p->kernels.items[ki];
    *e = (KEmit){.k = k, .kindex = ki};
    collect_args(cg, e);
    int na = e->args.len;
    LLVMTypeRef *pt = arena_alloc(cg->p->arena, sizeof(LLVMTypeRef) * (size_t)(na + 3));
    pt[0] = cg->ptr;
    for (int i = 0; i < na; i++) pt[1 + i] = cg->ptr;
    pt[na + 1] = pt[na + 2] = cg->i64;
    char name[64];
    snprintf(name, sizeof name, "k%d_%s", ki, kernel_kind_name(k->kind));
    e->fn = LLVMAddFunction(cg->M, name, LLVMFunctionType(cg->voidt, pt, (unsigned)na + 3, 0));
    LLVMSetLinkage(e->fn, LLVMInternalLinkage);
    for (int i = 0; i < na; i++)
        LLVMAddAttributeAtIndex(e->fn, (unsigned)(2 + i), LLVMCreateEnumAttribute(cg->C, cg->noalias, 0));
    LLVMBasicBlockRef entry = LLVMAppendBasicBlockInContext(cg->C, e->fn, "entry");
    LLVMPositionBuilderAtEnd(cg->b, entry);
    e->ctx = LLVMGetParam(e->fn, 0);
    e->lo = LLVMGetParam(e->fn, (unsigned)na + 1);
    e->hi = LLVMGetParam(e->fn, (unsigned)na + 2);
    e->B = ctx_field(cg, e->ctx, CTX_B, cg->i64);
    switch (k->kind) {
    case K_LOOP:
    case K_UPDATE: emit_loop(cg, e); break;
    case K_REDUCE: emit_reduce(cg, e); break;
    case K_ARGMAX: emit_argmax(cg, e); break;
    case K_SGEMM: emit_sgemm(cg, e); break;
    case K_RANDOM:
    case K_SHIFT2D: emit_random(cg, e); break;
    case K_SCATTER: emit_scatter(cg, e); break;
    case K_FOLD:
    case K_IM2COL: emit_fold(cg, e); break;
    case K_CONV: emit_conv(cg, e); break;
    case K_SPARSE_UPDATE: emit_sparse_update(cg, e); break;
    case K_COLLECTIVE:
    case K_COLLECTIVE_WAIT: emit_collective(cg, e); break;
    case K_JOINED: break; /* never emitted (emit_module) */
    }
    LLVMBuildRetVoid(cg->b);
    return e->fn;
}

static bool defined_elsewhere(const KernelNames *shared, const char *name) {
    for (int i = 0; i < shared->names.len; i++)
        if (strcmp(shared->names.items[i], name) == 0) return true;
    return false;
}

/* cg_emit_shared: names kernel e after its kind and a hash of its code, printed
 * under a fixed name (a kernel's code names no other kernel, no global and no
 * metadata, so equal text is equal code), and keeps one definition of each code per
 * JIT: a kernel that this module or an earlier one already defines is replaced by a
 * call of that one. Identical kernels are common between the stages of a program
 * (an eval stage's forward pass is its train stage's), and each is compiled once. */
static void share_kernel(Cg *cg, KEmit *e) {
    LLVMSetValueName2(e->fn, "kernel", strlen("kernel"));
    char *text = LLVMPrintValueToString(e->fn);
    ObjCacheKey hash = objcache_text_hash(text);
    LLVMDisposeMessage(text);
    char name[80];
    snprintf(name, sizeof name, "%s_%s", kernel_kind_name(e->k->kind), hash.hex);
    LLVMValueRef same = LLVMGetNamedFunction(cg->M, name);
    if (same || defined_elsewhere(cg->shared, name)) {
        LLVMTypeRef type = LLVMGlobalGetValueType(e->fn);
        LLVMClearInsertionPosition(cg->b);
        LLVMDeleteFunction(e->fn);
        e->fn = same ? same : LLVMAddFunction(cg->M, name, type);
        return;
    }
    LLVMSetValueName2(e->fn, name, strlen(name));
    LLVMSetLinkage(e->fn, LLVMExternalLinkage);
    vec_push(cg->shared->arena, &cg->shared->names, arena_strdup(cg->shared->arena, name));
}

/* kI_range(argv, lo, hi): argv = {ctx, buf0, ...}, for rt_parallel_for. */
static LLVMValueRef emit_range_wrapper(Cg *cg, int ki, KEmit *e) {
    char name[64];
    snprintf(name, sizeof name, "k%d_range", ki);
    LLVMValueRef fn = LLVMAddFunction(cg->M, name, cg->range_t);
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    LLVMPositionBuilderAtEnd(cg->b, LLVMAppendBasicBlockInContext(cg->C, fn, "entry"));
    int na = e->args.len;
    LLVMValueRef *args = arena_alloc(cg->p->arena, sizeof(LLVMValueRef) * (size_t)(na + 3));
    LLVMValueRef argv = LLVMGetParam(fn, 0);
    for (int i = 0; i <= na; i++)
        args[i] = LLVMBuildLoad2(cg->b, cg->ptr, elem_ptr(cg, cg->ptr, argv, i64c(cg, i)), "");
    args[na + 1] = LLVMGetParam(fn, 1);
    args[na + 2] = LLVMGetParam(fn, 2);
    LLVMBuildCall2(cg->b, LLVMGlobalGetValueType(e->fn), e->fn, args, (unsigned)na + 3, "");
    LLVMBuildRetVoid(cg->b);
    return fn;
}

/* ------------------------------------------------------------------- step */

typedef struct StepVals {
    LLVMValueRef ctx, B, ws, params, opt, inputs, pool;
} StepVals;

static LLVMValueRef table_entry(Cg *cg, LLVMValueRef table, int i) {
    return LLVMBuildLoad2(cg->b, cg->ptr, elem_ptr(cg, cg->ptr, table, i64c(cg, i)), "");
}

static LLVMValueRef step_arg_ptr(Cg *cg, StepVals *sv, KArg a) {
    switch (a.kind) {
    case ARG_PARAM: return table_entry(cg, sv->params, a.id);
    case ARG_INPUT: return table_entry(cg, sv->inputs, a.id);
    case ARG_STATE: return table_entry(cg, sv->opt, a.id);
    case ARG_SCRATCH: {
        LLVMValueRef off = ksize_value(cg, sv->B, cg->p->kernels.items[a.id].scratch_offset);
        return LLVMBuildInBoundsGEP2(cg->b, cg->i8, sv->ws, &off, 1, "");
    }
    default: {
        LLVMValueRef off = ksize_value(cg, sv->B, cg->p->buf[a.id].offset);
        return LLVMBuildInBoundsGEP2(cg->b, cg->i8, sv->ws, &off, 1, "");
    }
    }
}

static void emit_call(Cg *cg, StepVals *sv, int ki, KEmit *e, LLVMValueRef range_fn) {
    const Kernel *k = e->k;
    int na = e->args.len;
    LLVMValueRef *args = arena_alloc(cg->p->arena, sizeof(LLVMValueRef) * (size_t)(na + 3));
    args[0] = sv->ctx;
    for (int i = 0; i < na; i++) args[1 + i] = step_arg_ptr(cg, sv, e->args.items[i]);
    LLVMValueRef outer, work;
    kernel_extent(cg, k, sv->B, &outer, &work);
    args[na + 1] = i64c(cg, 0);
    args[na + 2] = outer;
    /* In a step sharded over processes each updates its slice of the parameter
     * (docs/mpi.md, "Sliced updates"); the checker looks at every gradient. A flat
     * slice starts on a cache line of its own. */
    bool sliced = k->kind == K_UPDATE && cg->g->procs > 1 && !cg->grad_flag;
    if (sliced)
        for (int end = 0; end < 2; end++) {
            LLVMValueRef bound[3] = {outer, i64c(cg, k->flat ? 16 : 1), LLVMConstInt(cg->i32, (unsigned)end, 0)};
            args[na + 1 + end] = call(cg, cg->update_bound, bound, 3);
        }
    LLVMTypeRef ft = LLVMGlobalGetValueType(e->fn);
    if (!range_fn || k->hot_rows) {
        LLVMBuildCall2(cg->b, ft, e->fn, args, (unsigned)na + 3, "");
        return;
    }
    LLVMBuilderRef b = cg->b;
    LLVMValueRef big = LLVMBuildAnd(
        b, LLVMBuildICmp(b, LLVMIntSGE, work, i64c(cg, PARALLEL_MIN_ELEMS), ""),
        LLVMBuildAnd(b, LLVMBuildICmp(b, LLVMIntSGT, outer, i64c(cg, 1), ""),
                     LLVMBuildIsNotNull(b, sv->pool, ""), ""), "");
    LLVMValueRef fn = LLVMGetBasicBlockParent(LLVMGetInsertBlock(b));
    LLVMBasicBlockRef par = LLVMAppendBasicBlockInContext(cg->C, fn, "par");
    LLVMBasicBlockRef ser = LLVMAppendBasicBlockInContext(cg->C, fn, "ser");
    LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(cg->C, fn, "next");
    LLVMBuildCondBr(b, big, par, ser);
    LLVMPositionBuilderAtEnd(b, par);
    LLVMValueRef argv = LLVMBuildArrayAlloca(b, cg->ptr, i64c(cg, na + 1), "argv");
    for (int i = 0; i <= na; i++) LLVMBuildStore(b, args[i], elem_ptr(cg, cg->ptr, argv, i64c(cg, i)));
    if (sliced) {
        LLVMValueRef sargs[5] = {sv->pool, args[na + 1], args[na + 2], range_fn, argv};
        call(cg, cg->parallel_slice, sargs, 5);
    } else {
        LLVMValueRef pargs[4] = {sv->pool, outer, range_fn, argv};
        call(cg, cg->pfor, pargs, 4);
    }
    LLVMBuildBr(b, join);
    LLVMPositionBuilderAtEnd(b, ser);
    LLVMBuildCall2(b, ft, e->fn, args, (unsigned)na + 3, "");
    LLVMBuildBr(b, join);
    LLVMPositionBuilderAtEnd(b, join);
    (void)ki;
}

/* ------------------------------------------------------------- row groups */

/* The member's range for row o: [o, o + 1) of its outer loop, or for a flat kernel
 * the row's elements [o R, (o + 1) R), R = its element count / rows. */
static void member_range(Cg *cg, const Kernel *k, LLVMValueRef B, LLVMValueRef rows, LLVMValueRef o,
                         LLVMValueRef *lo, LLVMValueRef *hi) {
    LLVMValueRef outer, work;
    kernel_extent(cg, k, B, &outer, &work);
    LLVMValueRef per = k->flat ? LLVMBuildSDiv(cg->b, work, rows, "") : i64c(cg, 1);
    *lo = LLVMBuildNSWMul(cg->b, o, per, "");
    *hi = LLVMBuildNSWAdd(cg->b, *lo, per, "");
}

static LLVMValueRef group_rows(Cg *cg, const KRowGroup *rg, LLVMValueRef B) {
    const Kernel *k = &cg->p->kernels.items[rg->first];
    const IrNode *r = nd(cg, k->root);
    const IrShape *s = k->kind == K_REDUCE ? &nd(cg, r->in[0])->shape : &r->shape;
    return dimv(cg, B, s->d[0]);
}

/* Rows of the group ahead of the one about to run whose table rows its lookups
 * prefetch, and the most cache lines a looked-up row prefetches. A lookup of a
 * sparsely updated table (hot_rows) reads rows at random: skip-gram's group spent
 * most of its lookup time waiting for them (the load from the table was 84% of
 * k0's samples). Three rows ahead keep ~150 lines in flight at skip-gram's 7 rows
 * of 100 a row of the batch. */
enum { GROUP_PREFETCH_AHEAD = 3, GROUP_PREFETCH_MAX_LINES = 32 };

/* For row o of the group: prefetch the table rows that each member which gathers
 * rows of a parameter by stored i32 ids will read at row o + GROUP_PREFETCH_AHEAD.
 * a: the members' arguments as emit_row_group loaded them (stride most + 3). */
static void emit_group_prefetch(Cg *cg, const KRowGroup *rg, KEmit *es, LLVMValueRef *a, int most,
                                LLVMValueRef B, LLVMValueRef rows, LLVMValueRef o) {
    LLVMBuilderRef b = cg->b;
    LLVMValueRef ahead = LLVMBuildNSWAdd(b, o, i64c(cg, GROUP_PREFETCH_AHEAD), "");
    LLVMBasicBlockRef join = NULL;
    for (int m = 0; m < rg->count; m++) {
        KEmit *e = &es[rg->first + m];
        const IrNode *x = nd(cg, e->k->root);
        if (!e->k->hot_rows || x->op != IR_GATHER) continue;
        const IrNode *t = nd(cg, x->in[0]), *ix = nd(cg, x->in[1]);
        KBufKind tk = cg->p->buf[x->in[0]].kind, ik = cg->p->buf[x->in[1]].kind;
        if (tk != KB_PARAM || (ik != KB_INPUT && ik != KB_WORK) || ix->dtype != IR_I32) continue;
        int64_t per = 1, width = 1;
        bool fixed = true;
        for (int d = 1; d < ix->shape.rank; d++) {
            fixed = fixed && ix->shape.d[d].b == 0;
            per *= ix->shape.d[d].c;
        }
        for (int d = 1; d < t->shape.rank; d++) {
            fixed = fixed && t->shape.d[d].b == 0;
            width *= t->shape.d[d].c;
        }
        int64_t lines = (width * 4 + 63) / 64 + 1;
        int ti = arg_index(e, arg_of_node(cg->p, x->in[0])), ii = arg_index(e, arg_of_node(cg->p, x->in[1]));
        if (!fixed || lines > GROUP_PREFETCH_MAX_LINES || ti < 0 || ii < 0) continue;
        if (!join) join = if_begin(cg, LLVMBuildICmp(b, LLVMIntSLT, ahead, rows, ""));
        LLVMValueRef table = a[m * (most + 3) + 1 + ti], ids = a[m * (most + 3) + 1 + ii];
        LLVMValueRef V = dimv(cg, B, t->shape.d[0]);
        for (int64_t j = 0; j < per; j++) {
            LLVMValueRef at = LLVMBuildNSWAdd(b, LLVMBuildNSWMul(b, ahead, i64c(cg, per), ""), i64c(cg, j), "");
            LLVMValueRef row = LLVMBuildSExt(b, LLVMBuildLoad2(b, cg->i32, elem_ptr(cg, cg->i32, ids, at), ""),
                                             cg->i64, "");
            row = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntULT, row, V, ""), row, i64c(cg, 0), "");
            LLVMValueRef first = LLVMBuildNSWMul(b, row, i64c(cg, width), "");
            for (int64_t l = 0; l < lines; l++) {
                int64_t f = l * 16 < width ? l * 16 : width - 1; /* the last line: the row's last float */
                LLVMValueRef args[4] = {elem_ptr(cg, cg->f32, table, LLVMBuildNSWAdd(b, first, i64c(cg, f), "")),
                                        LLVMConstInt(cg->i32, 0, 0), LLVMConstInt(cg->i32, 3, 0),
                                        LLVMConstInt(cg->i32, 1, 0)};
                intrinsic(cg, "llvm.prefetch", cg->ptr, args, 4);
            }
        }
    }
    if (join) if_end(cg, join);
}

/* gI_rows(argv, lo, hi): argv = {ctx, the first member's buffers, the next's, ...};
 * for each row o in [lo, hi) every member over row o, in plan order (fuse_rows.c). */
static LLVMValueRef emit_row_group(Cg *cg, int gi, KEmit *es) {
    const KRowGroup *rg = &cg->p->row_groups.items[gi];
    char name[64];
    snprintf(name, sizeof name, "g%d_rows", gi);
    LLVMValueRef fn = LLVMAddFunction(cg->M, name, cg->range_t);
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    LLVMBuilderRef b = cg->b;
    LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(cg->C, fn, "entry"));
    LLVMValueRef argv = LLVMGetParam(fn, 0);
    LLVMValueRef ctx = LLVMBuildLoad2(b, cg->ptr, argv, "");
    LLVMValueRef B = ctx_field(cg, ctx, CTX_B, cg->i64);
    LLVMValueRef rows = group_rows(cg, rg, B);
    int at = 1, most = 0;
    for (int m = 0; m < rg->count; m++) most = es[rg->first + m].args.len > most ? es[rg->first + m].args.len : most;
    LLVMValueRef *args = arena_alloc(cg->p->arena, sizeof(LLVMValueRef) * (size_t)(rg->count * (most + 3)));
    for (int m = 0; m < rg->count; m++) {
        LLVMValueRef *a = args + m * (most + 3);
        KEmit *e = &es[rg->first + m];
        a[0] = ctx;
        for (int i = 0; i < e->args.len; i++, at++)
            a[1 + i] = LLVMBuildLoad2(b, cg->ptr, elem_ptr(cg, cg->ptr, argv, i64c(cg, at)), "");
    }
    Loop l = loop_begin(cg, LLVMGetParam(fn, 1), LLVMGetParam(fn, 2));
    emit_group_prefetch(cg, rg, es, args, most, B, rows, l.iv);
    for (int m = 0; m < rg->count; m++) {
        LLVMValueRef *a = args + m * (most + 3);
        KEmit *e = &es[rg->first + m];
        int na = e->args.len;
        member_range(cg, e->k, B, rows, l.iv, &a[na + 1], &a[na + 2]);
        LLVMBuildCall2(b, LLVMGlobalGetValueType(e->fn), e->fn, a, (unsigned)na + 3, "");
    }
    loop_end(cg, &l);
    LLVMBuildRetVoid(b);
    return fn;
}

/* The step's call of a row group: split over the pool by rows when the members
 * together touch enough elements, as emit_call splits one kernel, and none of
 * them gathers hot rows. */
static void emit_row_group_call(Cg *cg, StepVals *sv, int gi, KEmit *es, LLVMValueRef group_fn) {
    const KRowGroup *rg = &cg->p->row_groups.items[gi];
    LLVMBuilderRef b = cg->b;
    int n = 1;
    for (int m = 0; m < rg->count; m++) n += es[rg->first + m].args.len;
    LLVMValueRef argv = LLVMBuildArrayAlloca(b, cg->ptr, i64c(cg, n), "argv");
    LLVMBuildStore(b, sv->ctx, argv);
    LLVMValueRef work = i64c(cg, 0);
    for (int m = 0, at = 1; m < rg->count; m++) {
        KEmit *e = &es[rg->first + m];
        for (int i = 0; i < e->args.len; i++, at++)
            LLVMBuildStore(b, step_arg_ptr(cg, sv, e->args.items[i]), elem_ptr(cg, cg->ptr, argv, i64c(cg, at)));
        LLVMValueRef outer, w;
        kernel_extent(cg, e->k, sv->B, &outer, &w);
        work = LLVMBuildNSWAdd(b, work, w, "");
    }
    LLVMValueRef rows = group_rows(cg, rg, sv->B);
    bool hot = false;
    for (int m = 0; m < rg->count; m++) hot = hot || es[rg->first + m].k->hot_rows;
    if (hot) { /* never split (fuse.c, mark_hot_rows) */
        LLVMValueRef sargs[3] = {argv, i64c(cg, 0), rows};
        LLVMBuildCall2(b, cg->range_t, group_fn, sargs, 3, "");
        return;
    }
    LLVMValueRef big = LLVMBuildAnd(
        b, LLVMBuildICmp(b, LLVMIntSGE, work, i64c(cg, PARALLEL_MIN_ELEMS), ""),
        LLVMBuildAnd(b, LLVMBuildICmp(b, LLVMIntSGT, rows, i64c(cg, 1), ""),
                     LLVMBuildIsNotNull(b, sv->pool, ""), ""), "");
    LLVMValueRef fn = LLVMGetBasicBlockParent(LLVMGetInsertBlock(b));
    LLVMBasicBlockRef par = LLVMAppendBasicBlockInContext(cg->C, fn, "gpar");
    LLVMBasicBlockRef ser = LLVMAppendBasicBlockInContext(cg->C, fn, "gser");
    LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(cg->C, fn, "gnext");
    LLVMBuildCondBr(b, big, par, ser);
    LLVMPositionBuilderAtEnd(b, par);
    LLVMValueRef pargs[4] = {sv->pool, rows, group_fn, argv};
    call(cg, cg->pfor, pargs, 4);
    LLVMBuildBr(b, join);
    LLVMPositionBuilderAtEnd(b, ser);
    LLVMValueRef sargs[3] = {argv, i64c(cg, 0), rows};
    LLVMBuildCall2(b, cg->range_t, group_fn, sargs, 3, "");
    LLVMBuildBr(b, join);
    LLVMPositionBuilderAtEnd(b, join);
}

/* *dst = element 0 of node n, as f32, when dst is not NULL. */
static void emit_scalar_out(Cg *cg, StepVals *sv, int n, LLVMValueRef dst) {
    LLVMBuilderRef b = cg->b;
    LLVMValueRef src = step_arg_ptr(cg, sv, arg_of_node(cg->p, n));
    LLVMValueRef v = LLVMBuildLoad2(b, elem_type(cg, nd(cg, n)->dtype), src, "");
    if (nd(cg, n)->dtype == IR_I32) v = LLVMBuildSIToFP(b, v, cg->f32, "");
    LLVMBasicBlockRef join = if_begin(cg, LLVMBuildIsNotNull(b, dst, ""));
    LLVMBuildStore(b, v, dst);
    if_end(cg, join);
}

/* The finished module, or NULL (disposed) with a message when it does not verify. */
static LLVMModuleRef verified(Cg *cg, StrBuf *why) {
    LLVMDisposeBuilder(cg->b);
    char *msg = NULL;
    if (LLVMVerifyModule(cg->M, LLVMReturnStatusAction, &msg)) {
        sb_printf(why, "internal error: generated code does not verify: %s", msg);
        LLVMDisposeMessage(msg);
        LLVMDisposeModule(cg->M);
        return NULL;
    }
    LLVMDisposeMessage(msg);
    return cg->M;
}

static void init_types(Cg *cg) {
    LLVMContextRef C = cg->C;
    cg->f32 = LLVMFloatTypeInContext(C);
    cg->f64 = LLVMDoubleTypeInContext(C);
    cg->i8 = LLVMInt8TypeInContext(C);
    cg->i32 = LLVMInt32TypeInContext(C);
    cg->i64 = LLVMInt64TypeInContext(C);
    cg->i1 = LLVMInt1TypeInContext(C);
    cg->ptr = LLVMPointerTypeInContext(C, 0);
    cg->voidt = LLVMVoidTypeInContext(C);
    LLVMTypeRef fields[CTX_NFIELDS] = {cg->i64, cg->i64, cg->i64, cg->f32, cg->ptr, cg->ptr,
                                       cg->ptr, cg->ptr, cg->ptr, cg->ptr, cg->ptr};
    cg->ctx_t = LLVMStructTypeInContext(C, fields, CTX_NFIELDS, 0);
    LLVMTypeRef rp[3] = {cg->ptr, cg->i64, cg->i64};
    cg->range_t = LLVMFunctionType(cg->voidt, rp, 3, 0);
    cg->noalias = LLVMGetEnumAttributeKindForName("noalias", 7);

    LLVMTypeRef i32 = cg->i32, i64 = cg->i64, f32 = cg->f32, f64 = cg->f64, p = cg->ptr;
    LLVMTypeRef sg[12] = {p, i32, i32, i64, i64, i64, p, i64, p, i64, p, i64};
    cg->sgemm = declare(cg, "rt_sgemm", cg->voidt, sg, 12);
    LLVMTypeRef sgb[16] = {p, i32, i32, i64, i64, i64, i64, p, i64, i64, p, i64, i64, p, i64, i64};
    cg->sgemm_batched = declare(cg, "rt_sgemm_batched", cg->voidt, sgb, 16);
    LLVMTypeRef rf[9] = {i32, p, i64, i64, f64, f64, i64, i64, i64};
    cg->random_fill = declare(cg, "rt_random_fill", cg->voidt, rf, 9);
    LLVMTypeRef sh[9] = {p, p, i64, i64, i64, i64, i64, i64, i64};
    cg->shift2d = declare(cg, "rt_shift2d", cg->voidt, sh, 9);
    LLVMTypeRef c2[4] = {p, p, p, p};
    cg->col2im = declare(cg, "rt_col2im", cg->voidt, c2, 4);
    LLVMTypeRef i2[5] = {p, p, p, p, f32};
    cg->im2col = declare(cg, "rt_im2col", cg->voidt, i2, 5);
    LLVMTypeRef cs[6] = {p, p, p, p, p, i64};
    cg->conv = declare(cg, "rt_conv", cg->voidt, cs, 6);
    cg->conv_wgrad = declare(cg, "rt_conv_weight_grad", cg->voidt, cs, 6);
    cg->conv_igrad = declare(cg, "rt_conv_input_grad", cg->voidt, cs, 6);
    LLVMTypeRef co[8] = {i32, i64, p, p, i64, i64, i64, i64};
    cg->collective = declare(cg, "rt_collective", cg->voidt, co, 8);
    LLVMTypeRef as[4] = {i64, p, p, i64};
    cg->allreduce_start = declare(cg, "rt_allreduce_start", cg->voidt, as, 4);
    cg->allreduce_wait = declare(cg, "rt_allreduce_wait", cg->voidt, &p, 1);
    cg->mpi_progress = declare(cg, "rt_mpi_progress", cg->voidt, NULL, 0);
    LLVMTypeRef ub[3] = {i64, i64, cg->i32};
    cg->update_bound = declare(cg, "rt_mpi_update_bound", i64, ub, 3);
    cg->update_fence = declare(cg, "rt_mpi_update_fence", cg->voidt, NULL, 0);
    LLVMTypeRef ps[5] = {p, i64, i64, p, p};
    cg->parallel_slice = declare(cg, "rt_parallel_slice", cg->voidt, ps, 5);
    LLVMTypeRef pf[4] = {p, i64, p, p};
    cg->pfor = declare(cg, "rt_parallel_for", cg->voidt, pf, 4);
    LLVMTypeRef sr[11] = {p, p, i64, i64, p, cg->i32, p, f32, f32, f32, p};
    cg->sgd_rows = declare(cg, "rt_update_sgd_rows", cg->i8, sr, 11);
    LLVMTypeRef ar[16] = {p, p, i64, i64, p, cg->i32, p, p, f32, f32, f32, f32, f32, cg->i8, i64, p};
    cg->adam_rows = declare(cg, "rt_update_adam_rows", cg->i8, ar, 16);
}

static bool is_allreduce_start(Cg *cg, const Kernel *k) {
    return k->kind == K_COLLECTIVE && nd(cg, k->root)->op == IR_ALLREDUCE;
}

/* Returns node id from the checker when the n f32 values at ptr hold a NaN or
 * an infinity (x - x is NaN exactly for those). */
static void return_if_nonfinite(Cg *cg, LLVMValueRef fn, LLVMValueRef ptr, LLVMValueRef n, int id) {
    LLVMBuilderRef b = cg->b;
    LLVMBasicBlockRef entry = LLVMGetEntryBasicBlock(fn);
    LLVMBuilderRef ab = LLVMCreateBuilderInContext(cg->C);
    LLVMPositionBuilderBefore(ab, LLVMGetFirstInstruction(entry));
    LLVMValueRef bad = LLVMBuildAlloca(ab, cg->i1, "bad");
    LLVMDisposeBuilder(ab);
    LLVMBuildStore(b, LLVMConstInt(cg->i1, 0, 0), bad);
    Loop l = loop_begin(cg, i64c(cg, 0), n);
    LLVMValueRef v = LLVMBuildLoad2(b, cg->f32, elem_ptr(cg, cg->f32, ptr, l.iv), "");
    LLVMValueRef d = LLVMBuildFSub(b, v, v, "");
    LLVMValueRef nan = LLVMBuildFCmp(b, LLVMRealUNO, d, d, "");
    LLVMBuildStore(b, LLVMBuildOr(b, LLVMBuildLoad2(b, cg->i1, bad, ""), nan, ""), bad);
    loop_end(cg, &l);
    LLVMBasicBlockRef join = if_begin(cg, LLVMBuildLoad2(b, cg->i1, bad, ""));
    LLVMBuildRet(b, LLVMConstInt(cg->i32, (unsigned long long)id, 1));
    LLVMPositionBuilderAtEnd(b, join);
}

/* The checker `int32 NAME(rt_step_ctx *)`: the step's kernels, looking after each
 * at what it stored, with the dense updates replaced by a look at their gradients
 * (so no parameter or optimizer state changes; run on one thread, for the flag);
 * returns the first node (f32 inputs and parameters in id order, then kernel
 * roots and dense updates' gradients in execution order) whose value is not
 * finite, or -1. */
static void emit_checker(Cg *cg, KEmit *es, LLVMValueRef *ranges, const char *name) {
    const KernelPlan *p = cg->p;
    LLVMTypeRef sp = cg->ptr;
    LLVMValueRef fn = LLVMAddFunction(cg->M, name, LLVMFunctionType(cg->i32, &sp, 1, 0));
    LLVMPositionBuilderAtEnd(cg->b, LLVMAppendBasicBlockInContext(cg->C, fn, "entry"));
    StepVals sv;
    sv.ctx = LLVMGetParam(fn, 0);
    sv.B = ctx_field(cg, sv.ctx, CTX_B, cg->i64);
    sv.ws = ctx_field(cg, sv.ctx, CTX_WS, cg->ptr);
    sv.params = ctx_field(cg, sv.ctx, CTX_PARAMS, cg->ptr);
    sv.opt = ctx_field(cg, sv.ctx, CTX_OPT, cg->ptr);
    sv.inputs = ctx_field(cg, sv.ctx, CTX_INPUTS, cg->ptr);
    sv.pool = ctx_field(cg, sv.ctx, CTX_POOL, cg->ptr);
    for (int n = 0; n < cg->g->nodes.len; n++) {
        const IrNode *x = nd(cg, n);
        if ((x->op != IR_INPUT && x->op != IR_PARAM) || x->dtype != IR_F32) continue;
        KArg a = {x->op == IR_INPUT ? ARG_INPUT : ARG_PARAM, x->index};
        return_if_nonfinite(cg, fn, step_arg_ptr(cg, &sv, a), numel(cg, sv.B, &x->shape), n);
    }
    for (int i = 0; i < p->kernels.len; i++) {
        const Kernel *k = &p->kernels.items[i];
        if (k->kind == K_SPARSE_UPDATE) continue;
        if (k->kind == K_UPDATE) {
            LLVMBuildStore(cg->b, LLVMConstInt(cg->i32, 0, 0), cg->grad_flag);
            emit_call(cg, &sv, i, &es[i], NULL);
            LLVMValueRef set = LLVMBuildLoad2(cg->b, cg->i32, cg->grad_flag, "");
            LLVMBasicBlockRef join = if_begin(cg, LLVMBuildIsNotNull(cg->b, set, ""));
            LLVMBuildRet(cg->b, LLVMConstInt(cg->i32, (unsigned long long)nd(cg, k->root)->in[1], 1));
            LLVMPositionBuilderAtEnd(cg->b, join);
            continue;
        }
        /* an all-reduce is waited for at once: the checker may return before its wait */
        if (k->kind == K_COLLECTIVE_WAIT) continue;
        if (k->kind != K_JOINED) emit_call(cg, &sv, i, &es[i], ranges[i]);
        if (is_allreduce_start(cg, k))
            for (int j = i + 1; j < p->kernels.len; j++)
                if (p->kernels.items[j].kind == K_COLLECTIVE_WAIT && p->kernels.items[j].root == k->root)
                    emit_call(cg, &sv, j, &es[j], NULL);
        const IrNode *r = nd(cg, k->root);
        if (r->dtype != IR_F32 || p->buf[k->root].kind != KB_WORK) continue;
        return_if_nonfinite(cg, fn, step_arg_ptr(cg, &sv, (KArg){ARG_WORK, k->root}),
                            numel(cg, sv.B, &r->shape), k->root);
    }
    LLVMBuildRet(cg->b, LLVMConstInt(cg->i32, (unsigned long long)-1, 1));
}

/* The step module, or with `checker` the module of emit_checker instead: its own
 * copy of the kernels, so the step's code is the same with or without it. */
static LLVMModuleRef emit_module(const KernelPlan *p, LLVMContextRef ctx, const char *step_name,
                                 bool checker, KernelNames *shared, StrBuf *why) {
    Cg cg = {.p = p, .g = p->g, .C = ctx, .shared = shared};
    cg.M = LLVMModuleCreateWithNameInContext(p->g->name ? p->g->name : "stage", ctx);
    cg.b = LLVMCreateBuilderInContext(ctx);
    init_types(&cg);
    if (checker) {
        cg.grad_flag = LLVMAddGlobal(cg.M, cg.i32, "grad_flag");
        LLVMSetLinkage(cg.grad_flag, LLVMInternalLinkage);
        LLVMSetInitializer(cg.grad_flag, LLVMConstInt(cg.i32, 0, 0));
    }

    int nk = p->kernels.len;
    KEmit *es = arena_alloc(p->arena, sizeof(KEmit) * (size_t)(nk + 1));
    LLVMValueRef *ranges = arena_alloc(p->arena, sizeof(LLVMValueRef) * (size_t)(nk + 1));
    for (int i = 0; i < nk; i++) {
        if (p->kernels.items[i].kind == K_JOINED) { /* its parts are stored in place: no code */
            es[i] = (KEmit){.k = &p->kernels.items[i], .kindex = i};
            continue;
        }
        emit_kernel(&cg, i, &es[i]);
        if (shared) share_kernel(&cg, &es[i]);
        if (p->kernels.items[i].parallel) ranges[i] = emit_range_wrapper(&cg, i, &es[i]);
    }

    if (checker) {
        emit_checker(&cg, es, ranges, step_name);
        return verified(&cg, why);
    }
    LLVMValueRef *groups = arena_alloc(p->arena, sizeof(LLVMValueRef) * (size_t)(p->row_groups.len + 1));
    for (int gi = 0; gi < p->row_groups.len; gi++) groups[gi] = emit_row_group(&cg, gi, es);
    LLVMTypeRef sp = cg.ptr;
    LLVMValueRef step = LLVMAddFunction(cg.M, step_name, LLVMFunctionType(cg.voidt, &sp, 1, 0));
    LLVMPositionBuilderAtEnd(cg.b, LLVMAppendBasicBlockInContext(ctx, step, "entry"));
    StepVals sv;
    sv.ctx = LLVMGetParam(step, 0);
    sv.B = ctx_field(&cg, sv.ctx, CTX_B, cg.i64);
    sv.ws = ctx_field(&cg, sv.ctx, CTX_WS, cg.ptr);
    sv.params = ctx_field(&cg, sv.ctx, CTX_PARAMS, cg.ptr);
    sv.opt = ctx_field(&cg, sv.ctx, CTX_OPT, cg.ptr);
    sv.inputs = ctx_field(&cg, sv.ctx, CTX_INPUTS, cg.ptr);
    sv.pool = ctx_field(&cg, sv.ctx, CTX_POOL, cg.ptr);
    /* Sliced updates (docs/mpi.md): the processes share the parameters, so every
     * process is done reading them before any updates its slice, and every slice
     * is written before the step returns; a sparse update (of every row the batch
     * read) runs on the process whose slice of [0, 1) is not empty. */
    int first_update = -1, last_update = -1;
    for (int i = 0; p->g->procs > 1 && i < nk; i++)
        if (p->kernels.items[i].kind == K_UPDATE || p->kernels.items[i].kind == K_SPARSE_UPDATE) {
            if (first_update < 0) first_update = i;
            last_update = i;
        }
    /* MPI moves a started all-reduce's data only inside its calls: while one is
     * in flight, rt_mpi_progress after each kernel moves it on. */
    int in_flight = 0;
    for (int i = 0, gi = 0; i < nk; i++) {
        const Kernel *k = &p->kernels.items[i];
        if (i == first_update) call(&cg, cg.update_fence, NULL, 0);
        if (gi < p->row_groups.len && p->row_groups.items[gi].first == i) {
            emit_row_group_call(&cg, &sv, gi, es, groups[gi]);
            i += p->row_groups.items[gi++].count - 1;
        } else if (k->kind == K_JOINED) {
            continue;
        } else if (k->kind == K_SPARSE_UPDATE && first_update >= 0) {
            LLVMValueRef bound[2][3] = {{i64c(&cg, 1), i64c(&cg, 1), LLVMConstInt(cg.i32, 0, 0)},
                                        {i64c(&cg, 1), i64c(&cg, 1), LLVMConstInt(cg.i32, 1, 0)}};
            LLVMValueRef lo = call(&cg, cg.update_bound, bound[0], 3), hi = call(&cg, cg.update_bound, bound[1], 3);
            LLVMBasicBlockRef join = if_begin(&cg, LLVMBuildICmp(cg.b, LLVMIntSLT, lo, hi, ""));
            emit_call(&cg, &sv, i, &es[i], ranges[i]);
            if_end(&cg, join);
        } else {
            emit_call(&cg, &sv, i, &es[i], ranges[i]);
        }
        if (i == last_update) call(&cg, cg.update_fence, NULL, 0);
        if (is_allreduce_start(&cg, k)) in_flight++;
        else if (k->kind == K_COLLECTIVE_WAIT) in_flight--;
        else if (in_flight > 0) call(&cg, cg.mpi_progress, NULL, 0);
    }
    const IrGraph *g = p->g;
    if (g->loss >= 0) emit_scalar_out(&cg, &sv, g->loss, ctx_field(&cg, sv.ctx, CTX_LOSS, cg.ptr));
    if (g->reports.len) {
        LLVMValueRef reps = ctx_field(&cg, sv.ctx, CTX_REPORTS, cg.ptr);
        LLVMBasicBlockRef join = if_begin(&cg, LLVMBuildIsNotNull(cg.b, reps, ""));
        for (int i = 0; i < g->reports.len; i++)
            emit_scalar_out(&cg, &sv, g->reports.items[i].node,
                            elem_ptr(&cg, cg.f32, reps, i64c(&cg, i)));
        if_end(&cg, join);
    }
    LLVMBuildRetVoid(cg.b);
    return verified(&cg, why);
}

LLVMModuleRef cg_emit(const KernelPlan *p, LLVMContextRef ctx, const char *step_name, StrBuf *why) {
    return emit_module(p, ctx, step_name, false, NULL, why);
}

LLVMModuleRef cg_emit_shared(const KernelPlan *p, LLVMContextRef ctx, const char *step_name,
                             KernelNames *defined, StrBuf *why) {
    return emit_module(p, ctx, step_name, false, defined, why);
}

LLVMModuleRef cg_emit_checker(const KernelPlan *p, LLVMContextRef ctx, const char *name, StrBuf *why) {
    return emit_module(p, ctx, name, true, NULL, why);
}

void cg_print_module(LLVMModuleRef m, StrBuf *out) {
    char *s = LLVMPrintModuleToString(m);
    sb_puts(out, s);
    LLVMDisposeMessage(s);
}

/* ----------------------------------------------------------- target side */

/* Code generation at level Less and without the two instruction schedulers:
 * 0-8% less CPU for the first compile of the large examples (docs/performance.md),
 * and neither changes a floating-point operation: the schedulers only reorder
 * independent instructions, and levels Less and Default run the same
 * instruction selection and register allocator. (Without loop strength
 * reduction too it was 25% less, but the CNN's pooling kernels ran 40-50% slower.)
 * These are LLVM's process-wide options, set before any target machine is made. */
static const char *const CG_CODEGEN_OPTIONS[] = {"rlc", "-enable-misched=false", "-enable-post-misched=false"};
#define CG_CODEGEN_LEVEL LLVMCodeGenLevelLess /* "level Less" in cg_describe_codegen */

static void initialize_native_target(void) {
    LLVMInitializeNativeTarget();
    LLVMInitializeNativeAsmPrinter();
    LLVMParseCommandLineOptions((int)(sizeof CG_CODEGEN_OPTIONS / sizeof *CG_CODEGEN_OPTIONS),
                                CG_CODEGEN_OPTIONS, NULL);
}

void cg_describe_codegen(StrBuf *out) {
    sb_puts(out, "level Less");
    for (size_t i = 1; i < sizeof CG_CODEGEN_OPTIONS / sizeof *CG_CODEGEN_OPTIONS; i++)
        sb_printf(out, " %s", CG_CODEGEN_OPTIONS[i]);
}

LLVMTargetMachineRef cg_target_machine(const char *cpu, const char *features, bool pic, StrBuf *why) {
    /* once: the JIT's compile workers create target machines concurrently, and
     * target registration writes LLVM's global registry */
    static pthread_once_t initialized = PTHREAD_ONCE_INIT;
    pthread_once(&initialized, initialize_native_target);
    char *triple = LLVMGetDefaultTargetTriple();
    LLVMTargetRef target;
    char *msg = NULL;
    if (LLVMGetTargetFromTriple(triple, &target, &msg)) {
        sb_printf(why, "no target for %s: %s", triple, msg);
        LLVMDisposeMessage(msg);
        LLVMDisposeMessage(triple);
        return NULL;
    }
    /* A named CPU brings its own features: the host's would add, say, AVX-512
     * to --cpu x86-64-v3 and the trainer would not run on the machines it names. */
    char *host_cpu = cpu ? NULL : LLVMGetHostCPUName();
    char *host_features = features || cpu ? NULL : LLVMGetHostCPUFeatures();
    LLVMTargetMachineRef tm = LLVMCreateTargetMachine(
        target, triple, cpu ? cpu : host_cpu, features ? features : cpu ? "" : host_features,
        CG_CODEGEN_LEVEL, pic ? LLVMRelocPIC : LLVMRelocDefault,
        pic ? LLVMCodeModelDefault : LLVMCodeModelJITDefault);
    LLVMDisposeMessage(host_cpu);
    LLVMDisposeMessage(host_features);
    LLVMDisposeMessage(triple);
    if (!tm) sb_puts(why, "cannot create a target machine");
    return tm;
}

/* default<O2> without its inliner and its scalar clean-up passes that find
 * nothing in our loop nests: the same vector code (notes/llvm-19.md §2) in
 * about half the compile time, which matters for the 300 ms budget. The
 * instcombine runs say no-verify-fixpoint as default<O2> does: a verifying
 * instcombine aborts the process when it needs a second round. */
#define CG_INSTCOMBINE "instcombine<no-verify-fixpoint>"
#define CG_PIPELINE                                                                   \
    "function(sroa,early-cse," CG_INSTCOMBINE ",simplifycfg,loop-mssa(licm),"       \
    "loop-rotate,loop-vectorize," CG_INSTCOMBINE ",simplifycfg)"

const char *cg_pipeline(void) { return CG_PIPELINE; }

bool cg_optimize(LLVMModuleRef m, LLVMTargetMachineRef tm, StrBuf *why) {
    LLVMPassBuilderOptionsRef opts = LLVMCreatePassBuilderOptions();
    LLVMErrorRef err = LLVMRunPasses(m, CG_PIPELINE, tm, opts);
    LLVMDisposePassBuilderOptions(opts);
    if (!err) return true;
    char *msg = LLVMGetErrorMessage(err);
    sb_printf(why, "optimizing: %s", msg);
    LLVMDisposeErrorMessage(msg);
    return false;
}

bool cg_emit_object(LLVMModuleRef m, const char *path, const char *cpu, const char *features,
                    StrBuf *why) {
    LLVMTargetMachineRef tm = cg_target_machine(cpu, features, true, why);
    if (!tm) return false;
    char *triple = LLVMGetTargetMachineTriple(tm);
    LLVMSetTarget(m, triple);
    LLVMDisposeMessage(triple);
    LLVMTargetDataRef td = LLVMCreateTargetDataLayout(tm);
    char *layout = LLVMCopyStringRepOfTargetData(td);
    LLVMSetDataLayout(m, layout);
    LLVMDisposeMessage(layout);
    LLVMDisposeTargetData(td);
    bool ok = cg_optimize(m, tm, why);
    char *msg = NULL;
    if (ok && LLVMTargetMachineEmitToFile(tm, m, path, LLVMObjectFile, &msg)) {
        sb_printf(why, "writing %s: %s", path, msg);
        ok = false;
    }
    LLVMDisposeMessage(msg);
    LLVMDisposeTargetMachine(tm);
    return ok;
}

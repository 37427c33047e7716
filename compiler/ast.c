/* ast.c — building the tree (one call per parser action), loading and
 * parsing files, and the stable text dump of `rlc dump --ast`. */
#include "ast.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "parser.h"

#define VEC_MOVE(dst, src)          \
    do {                            \
        (dst).items = (src).items;  \
        (dst).len = (src).len;      \
        (dst).cap = (src).cap;      \
    } while (0)

/* ------------------------------------------------------------ expressions */

static Expr *new_expr(Arena *a, ExprKind kind, Span at) {
    Expr *e = arena_alloc(a, sizeof *e);
    e->kind = kind;
    e->span = at;
    e->depth = 1;
    return e;
}

Expr *ast_num(Arena *a, Span at, double value) {
    Expr *e = new_expr(a, EX_NUM, at);
    e->num = value;
    return e;
}

Expr *ast_str(Arena *a, Span at, const char *value) {
    Expr *e = new_expr(a, EX_STR, at);
    e->str = value;
    return e;
}

Expr *ast_bool(Arena *a, Span at, bool value) {
    Expr *e = new_expr(a, EX_BOOL, at);
    e->num = value ? 1 : 0;
    return e;
}

Expr *ast_name(Arena *a, Span at, const char *name) {
    Expr *e = new_expr(a, EX_NAME, at);
    e->str = name;
    return e;
}

static int max_depth(Expr *x, int d) {
    return x && x->depth > d ? x->depth : d;
}

/* Gives e the height of its children plus one. A tree that grows past the
 * limit is reported once (where it crosses) and cut there, so later phases,
 * which recurse, never see it. */
static Expr *limit_depth(Diags *d, Expr *e, int child_depth) {
    e->depth = child_depth + 1;
    if (e->depth <= AST_MAX_DEPTH) return e;
    if (e->depth == AST_MAX_DEPTH + 1)
        diag_error(d, e->span, "expression nested too deeply (more than %d levels)", AST_MAX_DEPTH);
    e->depth = AST_MAX_DEPTH + 2;
    return e;
}

static int args_depth(Expr *list) {
    int d = 0;
    for (int i = 0; list && i < list->args.len; i++) d = max_depth(list->args.items[i].value, d);
    return d;
}

Expr *ast_binary(Arena *a, Diags *d, Span at, BinOp op, Expr *lhs, Expr *rhs) {
    Expr *e = new_expr(a, EX_BINARY, at);
    e->op = op;
    e->lhs = lhs;
    e->rhs = rhs;
    return limit_depth(d, e, max_depth(rhs, max_depth(lhs, 0)));
}

Expr *ast_neg(Arena *a, Diags *d, Span at, Expr *operand) {
    Expr *e = new_expr(a, EX_NEG, at);
    e->lhs = operand;
    return limit_depth(d, e, max_depth(operand, 0));
}

/* Only a name or a qualified name (`L.mse`) is callable: with newlines
 * insignificant, `f(x)` followed by `(u, v) = g(h)` must not read as
 * `f(x)(u, v)`, and the lexer already makes only `name(` a call. */
static bool is_callable(const Expr *e) {
    while (e->kind == EX_FIELD) e = e->lhs;
    return e->kind == EX_NAME;
}

Expr *ast_call(Arena *a, Diags *d, Span at, Expr *callee, Expr *args) {
    if (!is_callable(callee))
        diag_error(d, callee->span, "only a function name can be called");
    Expr *e = new_expr(a, EX_CALL, at);
    e->callee = callee;
    if (args) VEC_MOVE(e->args, args->args);
    return limit_depth(d, e, args_depth(args) > callee->depth ? args_depth(args) : callee->depth);
}

Expr *ast_index(Arena *a, Diags *d, Span at, Expr *base, Expr *args) {
    Expr *e = new_expr(a, EX_INDEX, at);
    e->lhs = base;
    if (args) VEC_MOVE(e->args, args->args);
    return limit_depth(d, e, max_depth(base, args_depth(args)));
}

Expr *ast_slice(Arena *a, Span at, Expr *start, Expr *end) {
    Expr *e = new_expr(a, EX_SLICE, at);
    e->lhs = start;
    e->rhs = end;
    e->depth = max_depth(end, max_depth(start, 0)) + 1;
    return e;
}

Expr *ast_field(Arena *a, Diags *d, Span at, Expr *base, const char *name) {
    bool transpose = strcmp(name, "T") == 0 || strcmp(name, "mT") == 0;
    Expr *e = new_expr(a, transpose ? EX_TRANSPOSE : EX_FIELD, at);
    e->lhs = base;
    e->str = name;
    return limit_depth(d, e, base->depth);
}

Expr *ast_tuple(Arena *a, Diags *d, Span at, Expr *elems) {
    Expr *e = new_expr(a, EX_TUPLE, at);
    if (elems) VEC_MOVE(e->args, elems->args);
    return limit_depth(d, e, args_depth(elems));
}

Expr *ast_list(Arena *a, Diags *d, Span at, Expr *elems) {
    Expr *e = new_expr(a, EX_LIST, at);
    if (elems) VEC_MOVE(e->args, elems->args);
    return limit_depth(d, e, args_depth(elems));
}

Expr *ast_args_add(Arena *a, Expr *list, Span at, const char *name, Expr *value) {
    if (!list) list = new_expr(a, EX_TUPLE, at);
    vec_push(a, &list->args, ((Arg){at, name, value}));
    return list;
}

/* ------------------------------------------------------------------ types */

TypeExpr *ast_type_named(Arena *a, Diags *d, Span at, const char *name, Span name_at, TypeExpr *dims) {
    TypeExpr *t = dims ? dims : arena_alloc(a, sizeof *t);
    t->span = at;
    if (strcmp(name, "f32") == 0) {
        t->dtype = DT_F32;
    } else if (strcmp(name, "i32") == 0) {
        t->dtype = DT_I32;
    } else if (strcmp(name, "int") == 0 && !dims) {
        t->dtype = DT_I32;
        t->is_int = true;
    } else if (strcmp(name, "int") == 0) {
        diag_error(d, at, "'int' takes no dims: it is a compile-time integer");
    } else {
        diag_error(d, name_at, "unknown type '%s' (expected f32, i32, int or [dims])", name);
    }
    return t;
}

TypeExpr *ast_type_dims(Arena *a, Span at, TypeExpr *dims) {
    TypeExpr *t = dims ? dims : arena_alloc(a, sizeof *t);
    t->span = at;
    t->dtype = DT_F32;
    return t;
}

TypeExpr *ast_dims_add(Arena *a, TypeExpr *dims, Expr *dim) {
    if (!dims) dims = arena_alloc(a, sizeof *dims);
    vec_push(a, &dims->dims, dim);
    return dims;
}

TypeExpr *ast_dims_ellipsis(Arena *a) {
    TypeExpr *t = arena_alloc(a, sizeof *t);
    t->ellipsis = true;
    return t;
}

/* ------------------------------------------------------------- statements */

static Stmt *new_stmt(Arena *a, StmtKind kind, Span at, Expr *value) {
    Stmt *s = arena_alloc(a, sizeof *s);
    s->kind = kind;
    s->span = at;
    s->value = value;
    return s;
}

static Stmt *named_stmt(Arena *a, StmtKind kind, Span at, const char *name, Span name_at, Expr *value) {
    Stmt *s = new_stmt(a, kind, at, value);
    vec_push(a, &s->names, name);
    vec_push(a, &s->name_spans, name_at);
    return s;
}

Stmt *ast_assign(Arena *a, Span at, const char *name, Span name_at, Expr *value) {
    return named_stmt(a, ST_ASSIGN, at, name, name_at, value);
}

Stmt *ast_targets_add(Arena *a, Stmt *targets, const char *name, Span name_at) {
    if (!targets) targets = new_stmt(a, ST_ASSIGN, name_at, NULL);
    vec_push(a, &targets->names, name);
    vec_push(a, &targets->name_spans, name_at);
    return targets;
}

Stmt *ast_tuple_assign(Arena *a, Span at, Stmt *targets, Expr *value) {
    targets->span = at;
    targets->value = value;
    return targets;
}

Stmt *ast_param_stmt(Arena *a, Span at, const char *name, Span name_at, TypeExpr *type, Expr *init) {
    Stmt *s = named_stmt(a, ST_PARAM, at, name, name_at, init);
    s->type = type;
    return s;
}

Stmt *ast_return(Arena *a, Span at, Expr *value) { return new_stmt(a, ST_RETURN, at, value); }
Stmt *ast_minimize(Arena *a, Span at, Expr *value) { return new_stmt(a, ST_MINIMIZE, at, value); }

Stmt *ast_report(Arena *a, Span at, const char *name, Span name_at, Expr *value) {
    return named_stmt(a, ST_REPORT, at, name, name_at, value);
}

Stmt *ast_setting(Arena *a, Span at, const char *name, Span name_at, Expr *value) {
    return named_stmt(a, ST_SETTING, at, name, name_at, value);
}

static Item *new_item(Arena *a, ItemKind kind, Span at) {
    Item *it = arena_alloc(a, sizeof *it);
    it->kind = kind;
    it->span = at;
    return it;
}

Item *ast_body_add(Arena *a, Item *body, Stmt *s) {
    if (!body) body = new_item(a, ITEM_FUNC, (Span){0});
    if (s) vec_push(a, &body->body, s);
    return body;
}

/* ------------------------------------------------------------------ items */

Item *ast_use(Arena *a, Span at, const char *path, bool is_file, const char *alias) {
    Item *it = new_item(a, ITEM_USE, at);
    it->use_path = path;
    it->use_is_file = is_file;
    it->use_alias = alias;
    return it;
}

static Item *named_item(Arena *a, ItemKind kind, Span at, const char *name, Span name_at) {
    Item *it = new_item(a, kind, at);
    it->name = name;
    it->name_span = name_at;
    return it;
}

Item *ast_const(Arena *a, Span at, const char *name, Span name_at, Expr *value) {
    Item *it = named_item(a, ITEM_CONST, at, name, name_at);
    it->value = value;
    return it;
}

Item *ast_dataset_fields(Arena *a, Span at, const char *name, Span name_at, Item *fields) {
    Item *it = named_item(a, ITEM_DATASET, at, name, name_at);
    if (fields) VEC_MOVE(it->fields, fields->fields);
    return it;
}

Item *ast_dataset_expr(Arena *a, Span at, const char *name, Span name_at, Expr *value) {
    Item *it = named_item(a, ITEM_DATASET, at, name, name_at);
    it->value = value;
    return it;
}

Item *ast_fields_add(Arena *a, Item *fields, Span at, const char *name, TypeExpr *type, Expr *source) {
    if (!fields) fields = new_item(a, ITEM_DATASET, at);
    vec_push(a, &fields->fields, ((Field){at, name, type, source}));
    return fields;
}

Item *ast_params_add(Arena *a, Item *params, Span at, const char *name, TypeExpr *type, Expr *dflt) {
    if (!params) params = new_item(a, ITEM_FUNC, at);
    vec_push(a, &params->params, ((Param){at, name, type, dflt}));
    return params;
}

Item *ast_results_add(Arena *a, Item *results, TypeExpr *type) {
    if (!results) results = new_item(a, ITEM_FUNC, type->span);
    vec_push(a, &results->results, type);
    return results;
}

Item *ast_func(Arena *a, Diags *d, Span at, Role role, const char *name, Span name_at,
               Item *params, Item *results, bool result_is_tuple, Item *body) {
    Item *it = named_item(a, ITEM_FUNC, at, name, name_at);
    it->role = role;
    if (params) VEC_MOVE(it->params, params->params);
    if (results) VEC_MOVE(it->results, results->results);
    it->result_is_tuple = result_is_tuple;
    if (body) VEC_MOVE(it->body, body->body);
    for (int i = 0; i < it->body.len; i++) {
        Stmt *s = it->body.items[i];
        if (s->kind == ST_SETTING)
            diag_error(d, s->span, "settings ('%s: ...') belong in a train or eval stage, not in %s '%s'",
                       s->names.items[0], ast_role_name(role), name);
        else if (s->kind == ST_MINIMIZE || s->kind == ST_REPORT)
            diag_error(d, s->span, "'%s' belongs in a train or eval stage, not in %s '%s'",
                       s->kind == ST_MINIMIZE ? "minimize" : "report", ast_role_name(role), name);
    }
    return it;
}

Item *ast_stage(Arena *a, Diags *d, Span at, StageKind kind, const char *name, Span name_at, Item *body) {
    Item *it = named_item(a, ITEM_STAGE, at, name, name_at);
    it->stage_kind = kind;
    if (body) VEC_MOVE(it->body, body->body);
    for (int i = 0; i < it->body.len; i++)
        if (it->body.items[i]->kind == ST_RETURN)
            diag_error(d, it->body.items[i]->span, "'return' belongs in a function, not in stage '%s'", name);
    return it;
}

void ast_module_add(Arena *a, Module *m, Item *item) {
    if (!item) return;
    item->module = m;
    vec_push(a, &m->items, item);
}

/* ------------------------------------------------------- files and parsing */

const SrcFile *ast_load_file(Arena *a, Diags *d, const char *path, Span from) {
    size_t len = 0;
    errno = 0;
    char *text = read_file_max(a, path, AST_MAX_SOURCE, &len);
    if (!text && errno == EFBIG) {
        /* Checking keeps a type per expression, up to a few KB each: a dense file costs
         * ~2000 times its size in memory. Real programs are a few KB; the limit keeps a
         * runaway or generated file (or /dev/zero) from exhausting memory. */
        diag_error(d, from, "'%s' is too large to compile (a source file may have at most %d bytes)", path,
                   AST_MAX_SOURCE);
        return NULL;
    }
    if (!text) {
        diag_error(d, from, "cannot read '%s': %s", path, errno ? strerror(errno) : "read failed");
        return NULL;
    }
    SrcFile *f = arena_alloc(a, sizeof *f);
    f->path = arena_strdup(a, path);
    f->text = text;
    f->len = len;
    return f;
}

Module *ast_parse_file(Arena *a, Diags *d, const SrcFile *file, const char *module_name) {
    Module *m = arena_alloc(a, sizeof *m);
    m->file = file;
    m->name = arena_strdup(a, module_name);
    parse_module(a, d, m);
    return m;
}

/* ------------------------------------------------------------------- dump */

const char *ast_role_name(Role r) {
    switch (r) {
    case ROLE_FN: return "fn";
    case ROLE_LAYER: return "layer";
    case ROLE_ENCODER: return "encoder";
    case ROLE_DECODER: return "decoder";
    case ROLE_PRETEXT: return "pretext";
    case ROLE_LOSS: return "loss";
    }
    return "?";
}

const char *ast_binop_text(BinOp op) {
    switch (op) {
    case OP_ADD: return "+";
    case OP_SUB: return "-";
    case OP_MUL: return "*";
    case OP_DIV: return "/";
    case OP_FLOORDIV: return "//";
    case OP_MATMUL: return "@";
    case OP_POW: return "^";
    case OP_EQ: return "==";
    case OP_NE: return "!=";
    case OP_LT: return "<";
    case OP_LE: return "<=";
    case OP_GT: return ">";
    case OP_GE: return ">=";
    }
    return "?";
}

/* The shortest decimal text that reads back as the same double, so dumps are
 * stable and show `0.7`, not `0.69999999999999996`. */
static void dump_number(StrBuf *out, double v) {
    char buf[64];
    if (v == (double)(long long)v && v > -1e15 && v < 1e15) {
        sb_printf(out, "%lld", (long long)v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    sb_puts(out, buf);
}

static void dump_quoted(StrBuf *out, const char *s) {
    sb_puts(out, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') sb_printf(out, "\\%c", c);
        else if (c < 0x20 || c == 0x7f) sb_printf(out, "\\x%02x", c);
        else sb_printf(out, "%c", c);
    }
    sb_puts(out, "\"");
}

static void dump_at(StrBuf *out, Span s) {
    if (s.file) sb_printf(out, " @%d:%d", s.line, s.col);
    sb_puts(out, "\n");
}

static void indent(StrBuf *out, int depth) {
    for (int i = 0; i < depth; i++) sb_puts(out, "  ");
}

static int dim_prec(const Expr *e) {
    return e->kind != EX_BINARY ? 3 : e->op == OP_MUL ? 2 : 1;
}

/* A dim as written, with parentheses only where they are needed:
 * `2*Z`, `(A+B)*C-1`. */
static void dump_dim(StrBuf *out, const Expr *e) {
    switch (e->kind) {
    case EX_NUM: dump_number(out, e->num); break;
    case EX_NAME: sb_puts(out, e->str); break;
    case EX_FIELD:
        dump_dim(out, e->lhs);
        sb_printf(out, ".%s", e->str);
        break;
    case EX_BINARY: {
        bool left = dim_prec(e->lhs) < dim_prec(e), right = dim_prec(e->rhs) <= dim_prec(e);
        sb_puts(out, left ? "(" : "");
        dump_dim(out, e->lhs);
        sb_printf(out, "%s%s%s", left ? ")" : "", ast_binop_text(e->op), right ? "(" : "");
        dump_dim(out, e->rhs);
        sb_puts(out, right ? ")" : "");
        break;
    }
    default: sb_puts(out, "?"); break;
    }
}

static void dump_type(StrBuf *out, const TypeExpr *t) {
    if (t->is_int) {
        sb_puts(out, "int");
        return;
    }
    if (t->dtype == DT_I32) sb_puts(out, "i32");
    if (t->dtype == DT_F32 && !t->ellipsis && t->dims.len == 0) {
        sb_puts(out, "f32");
        return;
    }
    if (t->dtype == DT_I32 && !t->ellipsis && t->dims.len == 0) return;
    sb_puts(out, "[");
    if (t->ellipsis) sb_puts(out, t->dims.len ? "..., " : "...");
    for (int i = 0; i < t->dims.len; i++) {
        if (i) sb_puts(out, ", ");
        dump_dim(out, t->dims.items[i]);
    }
    sb_puts(out, "]");
}

static void dump_expr(StrBuf *out, const Expr *e, int depth, const char *label);

static void dump_args(StrBuf *out, const Expr *e, int depth) {
    for (int i = 0; i < e->args.len; i++) {
        const Arg *g = &e->args.items[i];
        char *label = NULL;
        if (g->name) {
            size_t n = strlen(g->name) + 4;
            label = malloc(n);
            if (label) snprintf(label, n, "%s = ", g->name);
        }
        dump_expr(out, g->value, depth, label);
        free(label);
    }
}

static void dump_expr(StrBuf *out, const Expr *e, int depth, const char *label) {
    indent(out, depth);
    if (label) sb_puts(out, label);
    if (!e) {
        sb_puts(out, "(none)\n");
        return;
    }
    switch (e->kind) {
    case EX_NUM:
        sb_puts(out, "num ");
        dump_number(out, e->num);
        dump_at(out, e->span);
        return;
    case EX_STR:
        sb_puts(out, "str ");
        dump_quoted(out, e->str);
        dump_at(out, e->span);
        return;
    case EX_BOOL:
        sb_puts(out, e->num != 0 ? "bool true" : "bool false");
        dump_at(out, e->span);
        return;
    case EX_NAME:
        sb_printf(out, "name %s", e->str);
        dump_at(out, e->span);
        return;
    case EX_BINARY:
        sb_printf(out, "binary %s", ast_binop_text(e->op));
        dump_at(out, e->span);
        dump_expr(out, e->lhs, depth + 1, NULL);
        dump_expr(out, e->rhs, depth + 1, NULL);
        return;
    case EX_NEG:
        sb_puts(out, "neg");
        dump_at(out, e->span);
        dump_expr(out, e->lhs, depth + 1, NULL);
        return;
    case EX_CALL:
        sb_puts(out, "call");
        dump_at(out, e->span);
        dump_expr(out, e->callee, depth + 1, NULL);
        dump_args(out, e, depth + 1);
        return;
    case EX_INDEX:
        sb_puts(out, "index");
        dump_at(out, e->span);
        dump_expr(out, e->lhs, depth + 1, NULL);
        dump_args(out, e, depth + 1);
        return;
    case EX_SLICE:
        sb_puts(out, "slice");
        dump_at(out, e->span);
        if (e->lhs) dump_expr(out, e->lhs, depth + 1, "start = ");
        if (e->rhs) dump_expr(out, e->rhs, depth + 1, "end = ");
        return;
    case EX_FIELD:
        sb_printf(out, "field .%s", e->str);
        dump_at(out, e->span);
        dump_expr(out, e->lhs, depth + 1, NULL);
        return;
    case EX_TRANSPOSE:
        sb_printf(out, "transpose .%s", e->str);
        dump_at(out, e->span);
        dump_expr(out, e->lhs, depth + 1, NULL);
        return;
    case EX_TUPLE:
    case EX_LIST:
        sb_puts(out, e->kind == EX_TUPLE ? "tuple" : "list");
        dump_at(out, e->span);
        dump_args(out, e, depth + 1);
        return;
    }
}

static void dump_stmt(StrBuf *out, const Stmt *s, int depth) {
    indent(out, depth);
    switch (s->kind) {
    case ST_ASSIGN:
        sb_puts(out, "assign ");
        if (s->names.len > 1) sb_puts(out, "(");
        for (int i = 0; i < s->names.len; i++) sb_printf(out, "%s%s", i ? ", " : "", s->names.items[i]);
        if (s->names.len > 1) sb_puts(out, ")");
        break;
    case ST_PARAM:
        sb_printf(out, "param %s: ", s->names.items[0]);
        dump_type(out, s->type);
        break;
    case ST_RETURN: sb_puts(out, "return"); break;
    case ST_MINIMIZE: sb_puts(out, "minimize"); break;
    case ST_REPORT: sb_printf(out, "report %s", s->names.items[0]); break;
    case ST_SETTING: sb_printf(out, "setting %s", s->names.items[0]); break;
    }
    dump_at(out, s->span);
    dump_expr(out, s->value, depth + 1, NULL);
}

static void dump_item(StrBuf *out, const Item *it, int depth) {
    indent(out, depth);
    switch (it->kind) {
    case ITEM_USE:
        sb_puts(out, "use ");
        if (it->use_is_file) dump_quoted(out, it->use_path);
        else sb_puts(out, it->use_path);
        if (it->use_alias) sb_printf(out, " as %s", it->use_alias);
        dump_at(out, it->span);
        return;
    case ITEM_CONST:
        sb_printf(out, "const %s", it->name);
        dump_at(out, it->span);
        dump_expr(out, it->value, depth + 1, NULL);
        return;
    case ITEM_DATASET:
        sb_printf(out, "dataset %s", it->name);
        dump_at(out, it->span);
        if (it->value) dump_expr(out, it->value, depth + 1, "= ");
        for (int i = 0; i < it->fields.len; i++) {
            const Field *f = &it->fields.items[i];
            indent(out, depth + 1);
            sb_printf(out, "field %s: ", f->name);
            dump_type(out, f->type);
            dump_at(out, f->span);
            dump_expr(out, f->source, depth + 2, NULL);
        }
        return;
    case ITEM_FUNC:
        sb_printf(out, "%s %s", ast_role_name(it->role), it->name);
        dump_at(out, it->span);
        for (int i = 0; i < it->params.len; i++) {
            const Param *p = &it->params.items[i];
            indent(out, depth + 1);
            sb_printf(out, "arg %s", p->name);
            if (p->type) {
                sb_puts(out, ": ");
                dump_type(out, p->type);
            }
            dump_at(out, p->span);
            if (p->default_value) dump_expr(out, p->default_value, depth + 2, "default = ");
        }
        indent(out, depth + 1);
        sb_puts(out, it->result_is_tuple ? "-> (" : "-> ");
        for (int i = 0; i < it->results.len; i++) {
            if (i) sb_puts(out, ", ");
            dump_type(out, it->results.items[i]);
        }
        sb_puts(out, it->result_is_tuple ? ")\n" : "\n");
        for (int i = 0; i < it->body.len; i++) dump_stmt(out, it->body.items[i], depth + 1);
        return;
    case ITEM_STAGE:
        sb_printf(out, "%s %s", it->stage_kind == STAGE_TRAIN ? "train" : "eval", it->name);
        dump_at(out, it->span);
        for (int i = 0; i < it->body.len; i++) dump_stmt(out, it->body.items[i], depth + 1);
        return;
    }
}

void ast_dump(const Program *p, StrBuf *out) {
    for (int i = 0; i < p->modules.len; i++) {
        const Module *m = p->modules.items[i];
        sb_printf(out, "module %s\n", m->name);
        for (int j = 0; j < m->items.len; j++) dump_item(out, m->items.items[j], 1);
    }
}

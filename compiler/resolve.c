/* resolve.c — loads used modules, binds every name to what it means, folds
 * consts, and rejects duplicates, unknown names and recursion.
 *
 * Lookup order inside a body: local bindings (latest first), arguments, size
 * variables and int arguments, then the module's own items, the items of its
 * unqualified uses, and the built-in functions. Stage bodies see the fields of
 * their `data:` dataset as batches and `B`.
 */
#include "sema_impl.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* -------------------------------------------------------------- modules */

/* The items of every module by name, hashed, and each module's unqualified
 * uses: lookups cost the same in a file of ten items and one of a million. */
typedef struct NameSlot {
    const Module *m;
    const char *name;
    bool alias;                  /* `use ... as name`, not an item */
    int index;                   /* the first item of that name in m->items */
} NameSlot;

typedef struct ModUses {
    const Module *m;
    Vec(Item *) uses;            /* its unqualified `use` items, in order */
} ModUses;

typedef struct Names {
    NameSlot *slots;
    size_t cap, len;
    Vec(ModUses) mods;
} Names;

typedef struct Resolver {
    Program *p;
    Arena *a;
    Diags *d;
    Vec(const char *) keys;      /* canonical path per module, parallel to p->modules */
    Names *names;                /* shared by the copies made for consts */

    /* the body being resolved */
    Item *fn;                    /* function or stage */
    Module *mod;
    Vec(const char *) local_names;
    Vec(int) local_slots;
    bool in_sig;                 /* resolving a signature's dims: unknown names are size variables */
} Resolver;

static bool file_exists(const char *path) { return access(path, R_OK) == 0; }

static const char *dir_of(Arena *a, const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? arena_strndup(a, path, (size_t)(slash - path)) : ".";
}

/* `std.nn` -> the first stdlib folder holding nn.rl. */
static const char *find_std(Resolver *r, const char *use_path) {
    const char *name = use_path + 4;
    char *rel = arena_printf(r->a, "%s.rl", name);
    for (char *c = rel; *c && c < rel + strlen(name); c++)
        if (*c == '.') *c = '/';
    const char *env = getenv("RL_STDLIB_PATH");
    if (env && *env) {
        const char *s = env;
        while (*s) {
            const char *e = strchr(s, ':');
            size_t n = e ? (size_t)(e - s) : strlen(s);
            if (n) {
                const char *cand = arena_printf(r->a, "%.*s/%s", (int)n, s, rel);
                if (file_exists(cand)) return cand;
            }
            s += n + (e ? 1 : 0);
        }
    }
    /* An installed rlc finds its stdlib beside itself (PREFIX/bin/rlc -> PREFIX/share/rlc/stdlib),
     * whatever prefix `cmake --install` was given. */
    char exe[PATH_MAX];
    ssize_t n_exe = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n_exe > 0) {
        exe[n_exe] = 0;
        const char *bin = dir_of(r->a, exe);
        const char *cand = arena_printf(r->a, "%s/../share/rlc/stdlib/%s", bin, rel);
        if (file_exists(cand)) return cand;
    }
#ifdef RLC_SOURCE_STDLIB
    {
        const char *cand = arena_printf(r->a, "%s/%s", RLC_SOURCE_STDLIB, rel);
        if (file_exists(cand)) return cand;
    }
#endif
#ifdef RLC_INSTALL_STDLIB
    {
        const char *cand = arena_printf(r->a, "%s/%s", RLC_INSTALL_STDLIB, rel);
        if (file_exists(cand)) return cand;
    }
#endif
    return NULL;
}

static const char *canonical(Arena *a, const char *path) {
    char buf[PATH_MAX];
    return realpath(path, buf) ? arena_strdup(a, buf) : path;
}

/* Loads what one `use` names, once per file. */
static void load_use(Resolver *r, Module *from, Item *use) {
    const char *path;
    if (use->use_is_file) {
        path = use->use_path[0] == '/'
                   ? use->use_path
                   : arena_printf(r->a, "%s/%s", dir_of(r->a, from->file->path), use->use_path);
        if (!file_exists(path)) {
            diag_error(r->d, use->span, "cannot find `%s` (looked for %s)", use->use_path, path);
            return;
        }
    } else {
        if (strncmp(use->use_path, "std.", 4) != 0 || !use->use_path[4]) {
            diag_error(r->d, use->span, "unknown module `%s`: write `use std.NAME` or `use \"file.rl\"`",
                       use->use_path);
            return;
        }
        path = find_std(r, use->use_path);
        if (!path) {
            diag_error(r->d, use->span, "cannot find module `%s` in the standard library", use->use_path);
            diag_note(r->d, use->span, "searched RL_STDLIB_PATH and the stdlib folders this rlc was built with");
            return;
        }
    }
    const char *key = canonical(r->a, path);
    for (int i = 0; i < r->keys.len; i++) {
        if (strcmp(r->keys.items[i], key) == 0) {
            use->used = r->p->modules.items[i];
            return;
        }
    }
    const SrcFile *f = ast_load_file(r->a, r->d, path, use->span);
    if (!f) return;
    const char *mname = use->use_is_file ? use->use_path : use->use_path;
    Module *m = ast_parse_file(r->a, r->d, f, mname);
    use->used = m;
    vec_push(r->a, &r->p->modules, m);
    vec_push(r->a, &r->keys, key);
}

static void load_modules(Resolver *r) {
    for (int i = 0; i < r->p->modules.len; i++) {
        Module *m = r->p->modules.items[i];
        const char *key = m->file ? canonical(r->a, m->file->path) : "";
        vec_push(r->a, &r->keys, key);
    }
    /* the list grows as modules load; each new one is visited in turn */
    for (int i = 0; i < r->p->modules.len; i++) {
        Module *m = r->p->modules.items[i];
        for (int j = 0; j < m->items.len; j++)
            if (m->items.items[j]->kind == ITEM_USE) load_use(r, m, m->items.items[j]);
    }
}

/* ---------------------------------------------------------- global names */

static size_t name_hash(const Module *m, const char *name, bool alias) {
    uint64_t h = 1469598103934665603ull ^ (uint64_t)(uintptr_t)m ^ (alias ? 0x9E3779B97F4A7C15ull : 0);
    for (const char *c = name; *c; c++) h = (h ^ (unsigned char)*c) * 1099511628211ull;
    return (size_t)(h ^ (h >> 29));
}

static NameSlot *name_slot(const Names *t, const Module *m, const char *name, bool alias) {
    size_t i = name_hash(m, name, alias) & (t->cap - 1);
    while (t->slots[i].name &&
           !(t->slots[i].m == m && t->slots[i].alias == alias && strcmp(t->slots[i].name, name) == 0))
        i = (i + 1) & (t->cap - 1);
    return &t->slots[i];
}

/* Records the item at `index` of m under its name, unless an earlier one has it. */
static void names_add(Arena *a, Names *t, const Module *m, const char *name, bool alias, int index) {
    if (2 * (t->len + 1) > t->cap) {
        Names bigger = {.cap = t->cap ? 2 * t->cap : 256};
        bigger.slots = arena_alloc(a, sizeof(NameSlot) * bigger.cap);
        for (size_t i = 0; i < t->cap; i++)
            if (t->slots[i].name) {
                const NameSlot *o = &t->slots[i];
                *name_slot(&bigger, o->m, o->name, o->alias) = *o;
            }
        t->slots = bigger.slots;
        t->cap = bigger.cap;
    }
    NameSlot *s = name_slot(t, m, name, alias);
    if (s->name) return;
    *s = (NameSlot){m, name, alias, index};
    t->len++;
}

/* The index of the first item of m named `name` (a use's alias when alias), or -1. */
static int names_find(const Resolver *r, const Module *m, const char *name, bool alias) {
    if (!r->names->cap) return -1;
    const NameSlot *s = name_slot(r->names, m, name, alias);
    return s->name ? s->index : -1;
}

static const ModUses *mod_uses(const Resolver *r, const Module *m) {
    for (int i = 0; i < r->names->mods.len; i++)
        if (r->names->mods.items[i].m == m) return &r->names->mods.items[i];
    return NULL;
}

static void index_names(Resolver *r) {
    for (int k = 0; k < r->p->modules.len; k++) {
        const Module *m = r->p->modules.items[k];
        ModUses mu = {.m = m};
        for (int i = 0; i < m->items.len; i++) {
            Item *it = m->items.items[i];
            if (it->kind == ITEM_USE && it->use_alias) names_add(r->a, r->names, m, it->use_alias, true, i);
            else if (it->kind == ITEM_USE) vec_push(r->a, &mu.uses, it);
            else if (it->name) names_add(r->a, r->names, m, it->name, false, i);
        }
        vec_push(r->a, &r->names->mods, mu);
    }
}

static Item *own_item(const Resolver *r, const Module *m, const char *name) {
    int i = names_find(r, m, name, false);
    return i >= 0 ? m->items.items[i] : NULL;
}

static Item *use_alias(const Resolver *r, const Module *m, const char *name) {
    int i = names_find(r, m, name, true);
    return i >= 0 ? m->items.items[i] : NULL;
}

/* An item visible unqualified in m: its own, else from an unqualified use. */
static Item *global_item(const Resolver *r, const Module *m, const char *name) {
    Item *it = own_item(r, m, name);
    if (it) return it;
    const ModUses *mu = mod_uses(r, m);
    for (int i = 0; mu && i < mu->uses.len; i++) {
        Item *u = mu->uses.items[i];
        if (u->used && (it = own_item(r, u->used, name))) return it;
    }
    return NULL;
}

/* Items and `as` names share one namespace per module: the first of a name wins. */
static void check_duplicates(Resolver *r, Module *m) {
    for (int i = 0; i < m->items.len; i++) {
        Item *it = m->items.items[i];
        const char *name = it->kind == ITEM_USE ? it->use_alias : it->name;
        Span at = it->kind == ITEM_USE ? it->span : it->name_span;
        if (!name) continue;
        int a = names_find(r, m, name, false), b = names_find(r, m, name, true);
        int first = a < 0 ? b : b < 0 ? a : a < b ? a : b;
        if (first < 0 || first >= i) continue;
        Item *prev = m->items.items[first];
        diag_error(r->d, at, "`%s` is declared twice", name);
        diag_note(r->d, prev->kind == ITEM_USE ? prev->span : prev->name_span, "first declared here");
    }
}

/* ------------------------------------------------------------ lookups */

typedef struct Cands {
    const char *best;
    int dist;
} Cands;

static void cand(Cands *c, const char *want, const char *name) {
    if (!name || strcmp(want, name) == 0) return;
    int d = sema_edit_distance(want, name, 2);
    if (d <= 2 && d < c->dist && d < (int)strlen(want)) {
        c->dist = d;
        c->best = name;
    }
}

static const char *suggest(Resolver *r, const char *want) {
    Cands c = {NULL, 3};
    for (int i = 0; i < r->local_names.len; i++) cand(&c, want, r->local_names.items[i]);
    if (r->fn) {
        for (int i = 0; i < r->fn->params.len; i++) cand(&c, want, r->fn->params.items[i].name);
        for (int i = 0; i < r->fn->dim_names.len; i++) cand(&c, want, r->fn->dim_names.items[i]);
        if (r->fn->data)
            for (int i = 0; i < r->fn->data->sema->fields.len; i++)
                cand(&c, want, r->fn->data->sema->fields.items[i].name);
    }
    const Module *m = r->mod;
    for (int i = 0; i < m->items.len; i++) {
        Item *it = m->items.items[i];
        cand(&c, want, it->kind == ITEM_USE ? it->use_alias : it->name);
    }
    const ModUses *mu = mod_uses(r, m);
    for (int i = 0; mu && i < mu->uses.len; i++) {
        const Module *u = mu->uses.items[i]->used;
        for (int j = 0; u && j < u->items.len; j++) cand(&c, want, u->items.items[j]->name);
    }
    for (int b = 0; b < BI_COUNT; b++) cand(&c, want, sema_builtin_by_id((BuiltinId)b)->name);
    return c.best;
}

/* A module whose unqualified use failed would see names we cannot know: stay quiet. */
static bool has_failed_use(const Resolver *r, const Module *m) {
    const ModUses *mu = mod_uses(r, m);
    for (int i = 0; mu && i < mu->uses.len; i++)
        if (!mu->uses.items[i]->used) return true;
    return false;
}

static void unknown_name(Resolver *r, Expr *e, const char *what) {
    if (has_failed_use(r, r->mod)) return;
    /* past the cap the message is only counted: spare the search for a suggestion */
    const char *s = diag_full(r->d) ? NULL : suggest(r, e->str);
    if (s)
        diag_error(r->d, e->span, "unknown %s `%s`; did you mean `%s`?", what, e->str, s);
    else
        diag_error(r->d, e->span, "unknown %s `%s`", what, e->str);
}

static void note_call(Resolver *r, Item *callee, Span at) {
    if (!r->fn) return;
    struct SemaItem *s = sema_item(r->a, r->fn);
    vec_push(r->a, &s->callees, callee);
    vec_push(r->a, &s->call_spans, at);
}

static int find_dim(const Item *fn, const char *name) {
    for (int i = 0; i < fn->dim_names.len; i++)
        if (strcmp(fn->dim_names.items[i], name) == 0) return i;
    return -1;
}

/* Binds an EX_NAME; false when nothing has that name. */
static bool bind_name(Resolver *r, Expr *e) {
    const char *n = e->str;
    for (int i = r->local_names.len - 1; i >= 0; i--) {
        if (strcmp(r->local_names.items[i], n) == 0) {
            e->ref = REF_LOCAL;
            e->slot = r->local_slots.items[i];
            return true;
        }
    }
    Item *fn = r->fn;
    if (fn && fn->kind == ITEM_FUNC) {
        for (int i = 0; i < fn->params.len; i++) {
            Param *pa = &fn->params.items[i];
            if (strcmp(pa->name, n) != 0) continue;
            if (pa->type && pa->type->is_int) {
                e->ref = REF_DIM;
                e->slot = find_dim(fn, n);
            } else {
                e->ref = REF_ARG;
                e->slot = i;
            }
            return true;
        }
        int d = find_dim(fn, n);
        if (d >= 0) {
            e->ref = REF_DIM;
            e->slot = d;
            return true;
        }
    }
    if (fn && fn->kind == ITEM_STAGE) {
        if (fn->data && fn->data->sema) {
            struct SemaItem *ds = fn->data->sema;
            for (int i = 0; i < ds->fields.len; i++) {
                if (strcmp(ds->fields.items[i].name, n) == 0) {
                    e->ref = REF_FIELD;
                    e->item = fn->data;
                    e->slot = i;
                    return true;
                }
            }
        }
        if (strcmp(n, "B") == 0) {
            e->ref = REF_BATCH;
            return true;
        }
    }
    Item *it = global_item(r, r->mod, n);
    if (it && it->module != r->mod) {
        /* from an unqualified use: two uses declaring the name make it ambiguous */
        const ModUses *mu = mod_uses(r, r->mod);
        for (int i = 0; mu && i < mu->uses.len; i++) {
            Item *u = mu->uses.items[i];
            Item *other = u->used && u->used != it->module ? own_item(r, u->used, n) : NULL;
            if (other) {
                diag_error(r->d, e->span, "`%s` is ambiguous: both `%s` and `%s` declare it; use one `as` a name",
                           n, it->module->name, u->used->name);
                diag_note(r->d, other->name_span, "also declared here");
                return true;
            }
        }
    }
    if (it) {
        e->item = it;
        switch (it->kind) {
        case ITEM_CONST: e->ref = REF_CONST; break;
        case ITEM_DATASET: e->ref = REF_DATASET; break;
        case ITEM_FUNC:
            e->ref = REF_FUNC;
            note_call(r, it, e->span);
            break;
        default:
            /* a stage is not a value; check reports its use */
            e->ref = REF_NONE;
            break;
        }
        return true;
    }
    Item *u = use_alias(r, r->mod, n);
    if (u) {
        e->ref = REF_MODULE;
        e->item = u;
        return true;
    }
    const Builtin *b = sema_builtin(n);
    if (b) {
        e->ref = REF_BUILTIN;
        e->builtin = b;
        return true;
    }
    return false;
}

static void resolve_expr(Resolver *r, Expr *e);

static void resolve_args(Resolver *r, Expr *e) {
    for (int i = 0; i < e->args.len; i++) resolve_expr(r, e->args.items[i].value);
}

static void resolve_expr(Resolver *r, Expr *e) {
    if (!e) return;
    switch (e->kind) {
    case EX_NUM: case EX_STR: case EX_BOOL: return;
    case EX_NAME:
        if (!bind_name(r, e)) unknown_name(r, e, "name");
        return;
    case EX_BINARY: case EX_SLICE:
        resolve_expr(r, e->lhs);
        resolve_expr(r, e->rhs);
        return;
    case EX_NEG: case EX_TRANSPOSE:
        resolve_expr(r, e->lhs);
        return;
    case EX_CALL:
        resolve_expr(r, e->callee);
        resolve_args(r, e);
        return;
    case EX_INDEX:
        resolve_expr(r, e->lhs);
        resolve_args(r, e);
        return;
    case EX_TUPLE: case EX_LIST:
        resolve_args(r, e);
        return;
    case EX_FIELD:
        resolve_expr(r, e->lhs);
        if (e->lhs->kind == EX_NAME && e->lhs->ref == REF_MODULE) {
            Module *m = e->lhs->item->used;
            if (!m) {
                e->ref = REF_NONE;       /* the use itself failed and was reported */
                return;
            }
            Item *it = own_item(r, m, e->str);
            if (!it || it->kind == ITEM_USE || it->kind == ITEM_STAGE) {
                diag_error(r->d, e->span, "module `%s` has no `%s`", e->lhs->str, e->str);
                return;
            }
            e->item = it;
            e->ref = it->kind == ITEM_CONST ? REF_CONST : it->kind == ITEM_DATASET ? REF_DATASET : REF_FUNC;
            if (e->ref == REF_FUNC) note_call(r, it, e->span);
        }
        return;
    }
}

/* A dim in a signature: numbers, consts, dataset properties, int arguments and
 * size variables (any other identifier, made a symbol of the function). */
static void resolve_dim(Resolver *r, Expr *e) {
    switch (e->kind) {
    case EX_NUM: return;
    case EX_BINARY: case EX_NEG:
        resolve_dim(r, e->lhs);
        if (e->kind == EX_BINARY) resolve_dim(r, e->rhs);
        return;
    case EX_FIELD:
        resolve_expr(r, e);
        return;
    case EX_NAME: {
        Item *fn = r->fn;
        if (fn && fn->kind == ITEM_FUNC) {
            int d = find_dim(fn, e->str);
            if (d >= 0) {
                e->ref = REF_DIM;
                e->slot = d;
                return;
            }
        }
        if (fn && fn->kind == ITEM_STAGE && strcmp(e->str, "B") == 0) {
            e->ref = REF_BATCH;
            return;
        }
        Item *it = global_item(r, r->mod, e->str);
        if (it && it->kind == ITEM_CONST) {
            e->ref = REF_CONST;
            e->item = it;
            return;
        }
        if (r->in_sig && fn && fn->kind == ITEM_FUNC) {
            struct SemaItem *s = sema_item(r->a, fn);
            e->ref = REF_DIM;
            e->slot = fn->dim_names.len;
            vec_push(r->a, &fn->dim_names, e->str);
            vec_push(r->a, &s->dims, sema_new_sym(r->a, SYM_VAR, e->str, fn, e->slot));
            return;
        }
        if (!bind_name(r, e)) unknown_name(r, e, "dim");
        return;
    }
    default:
        /* check reports what is not a dim */
        resolve_expr(r, e);
        return;
    }
}

static void resolve_type(Resolver *r, TypeExpr *t) {
    if (!t) return;
    for (int i = 0; i < t->dims.len; i++) resolve_dim(r, t->dims.items[i]);
}

/* ------------------------------------------------------------- consts */

/* A const is a number, or a dim known once the data is loaded: a dataset
 * property combined with numbers by + - * (`const V = toks.vocab + 1`), which
 * check and lower evaluate as a dim from its expression. */
typedef enum { FOLD_ERROR, FOLD_NUMBER, FOLD_DATA } FoldResult;

static FoldResult fold(Resolver *r, Expr *e, double *out);

static FoldResult fold_const_item(Resolver *r, Item *it, double *out) {
    struct SemaItem *s = sema_item(r->a, it);
    if (s->state == 1) {
        diag_error(r->d, it->name_span, "const `%s` is defined in terms of itself", it->name);
        s->state = 3;
        return FOLD_ERROR;
    }
    if (s->state == 3) return FOLD_ERROR;
    if (s->state == 0) {
        s->state = 1;
        Resolver sub = *r;
        sub.mod = it->module;
        sub.fn = NULL;
        sub.local_names.len = 0;
        resolve_expr(&sub, it->value);
        double v = 0;
        FoldResult res = fold(&sub, it->value, &v);
        if (s->state == 3) return FOLD_ERROR;
        s->state = res == FOLD_ERROR ? 3 : 2;
        if (res == FOLD_ERROR) return FOLD_ERROR;
        it->const_value = v;
        it->const_from_data = res == FOLD_DATA;
    }
    *out = it->const_value;
    return it->const_from_data ? FOLD_DATA : FOLD_NUMBER;
}

static FoldResult fold(Resolver *r, Expr *e, double *out) {
    double a, b;
    FoldResult x, y;
    switch (e->kind) {
    case EX_NUM: case EX_BOOL: *out = e->num; return FOLD_NUMBER;
    case EX_NEG:
        x = fold(r, e->lhs, &a);
        *out = -a;
        return x;
    case EX_NAME: case EX_FIELD:
        if (e->ref == REF_CONST) return fold_const_item(r, e->item, out);
        /* a dataset property: whether the dataset has it is check's to say */
        if (e->kind == EX_FIELD && e->ref == REF_NONE && e->lhs->kind == EX_NAME && e->lhs->ref == REF_DATASET)
            return FOLD_DATA;
        if (e->ref != REF_NONE)
            diag_error(r->d, e->span, "a const must be a number computed from numbers and consts");
        return FOLD_ERROR;
    case EX_BINARY:
        x = fold(r, e->lhs, &a);
        y = fold(r, e->rhs, &b);
        if (x == FOLD_ERROR || y == FOLD_ERROR) return FOLD_ERROR;
        if (x == FOLD_DATA || y == FOLD_DATA) {
            if (e->op == OP_ADD || e->op == OP_SUB || e->op == OP_MUL) return FOLD_DATA;
            diag_error(r->d, e->span, "a const made from a dataset property is a dim: it combines with + - * only");
            return FOLD_ERROR;
        }
        switch (e->op) {
        case OP_ADD: *out = a + b; return FOLD_NUMBER;
        case OP_SUB: *out = a - b; return FOLD_NUMBER;
        case OP_MUL: *out = a * b; return FOLD_NUMBER;
        case OP_DIV:
            if (b == 0) {
                diag_error(r->d, e->span, "division by zero in a const");
                return FOLD_ERROR;
            }
            *out = a / b;
            return FOLD_NUMBER;
        case OP_FLOORDIV:
            if (b == 0) {
                diag_error(r->d, e->span, "division by zero in a const");
                return FOLD_ERROR;
            }
            *out = floor(a / b);
            return FOLD_NUMBER;
        case OP_POW: *out = pow(a, b); return FOLD_NUMBER;
        default: break;
        }
        /* fall through */
    default:
        diag_error(r->d, e->span, "a const must be a number computed from numbers and consts");
        return FOLD_ERROR;
    }
}

/* ------------------------------------------------------------- bodies */

static void bind_local(Resolver *r, const char *name) {
    vec_push(r->a, &r->local_names, name);
    vec_push(r->a, &r->local_slots, r->fn->n_locals);
    r->fn->n_locals++;
}

/* A `param` initializer: `glorot`, `he`, `zeros`, `ones`, `normal(m, s)`,
 * `uniform(a, b)` or a number; the names are not values, so only arguments resolve. */
static void resolve_init(Resolver *r, Expr *e) {
    if (!e) return;
    if (e->kind == EX_NAME && sema_is_init_name(e->str)) return;
    if (e->kind == EX_CALL && e->callee->kind == EX_NAME && sema_is_init_name(e->callee->str)) {
        resolve_args(r, e);
        return;
    }
    resolve_expr(r, e);
}

static void resolve_stmts(Resolver *r, Item *it) {
    for (int i = 0; i < it->body.len; i++) {
        Stmt *s = it->body.items[i];
        switch (s->kind) {
        case ST_ASSIGN:
            resolve_expr(r, s->value);
            s->slot = it->n_locals;
            for (int k = 0; k < s->names.len; k++) bind_local(r, s->names.items[k]);
            break;
        case ST_PARAM:
            /* a parameter is stored and loaded by its name: two of one name would be one tensor */
            for (int k = 0; k < i; k++) {
                const Stmt *before = it->body.items[k];
                if (before->kind == ST_PARAM && strcmp(before->names.items[0], s->names.items[0]) == 0) {
                    diag_error(r->d, s->span, "`param %s` is declared twice in `%s`", s->names.items[0], it->name);
                    diag_note(r->d, before->span, "first declared here");
                    break;
                }
            }
            resolve_type(r, s->type);
            resolve_init(r, s->value);
            s->slot = it->n_locals;
            bind_local(r, s->names.items[0]);
            break;
        case ST_RETURN: case ST_MINIMIZE: case ST_REPORT:
            resolve_expr(r, s->value);
            break;
        case ST_SETTING:
            break;   /* resolve_settings */
        }
    }
}

static void resolve_func(Resolver *r, Item *it) {
    sema_item(r->a, it);
    r->fn = it;
    r->mod = it->module;
    r->local_names.len = r->local_slots.len = 0;
    /* int arguments first: `n` in `[B, n]` is the argument wherever it is written */
    for (int i = 0; i < it->params.len; i++) {
        Param *pa = &it->params.items[i];
        for (int j = 0; j < i; j++) {
            if (strcmp(it->params.items[j].name, pa->name) == 0) {
                diag_error(r->d, pa->span, "argument `%s` is declared twice", pa->name);
                diag_note(r->d, it->params.items[j].span, "first declared here");
            }
        }
        if (pa->type && pa->type->is_int) {
            vec_push(r->a, &it->dim_names, pa->name);
            vec_push(r->a, &it->sema->dims, sema_new_sym(r->a, SYM_INT_ARG, pa->name, it, it->dim_names.len - 1));
        } else if (!pa->type) {
            /* a hyper-parameter may be a dim of the signature: `(H + 2 * padding - k) // stride + 1` */
            vec_push(r->a, &it->dim_names, pa->name);
            vec_push(r->a, &it->sema->dims, sema_new_sym(r->a, SYM_HYPER, pa->name, it, it->dim_names.len - 1));
        }
    }
    r->in_sig = true;
    for (int i = 0; i < it->params.len; i++) {
        Param *pa = &it->params.items[i];
        if (pa->type && !pa->type->is_int) resolve_type(r, pa->type);
    }
    for (int i = 0; i < it->results.len; i++) resolve_type(r, it->results.items[i]);
    r->in_sig = false;
    for (int i = 0; i < it->params.len; i++) {
        Param *pa = &it->params.items[i];
        if (pa->default_value) {
            Item *save = r->fn;
            r->fn = NULL;    /* a default sees only global names */
            resolve_expr(r, pa->default_value);
            r->fn = save;
        }
    }
    resolve_stmts(r, it);
    r->fn = NULL;
}

/* Sources are not functions: resolve their arguments, not their names (check
 * reports a name that is no source). */
static void resolve_source(Resolver *r, Expr *e) {
    if (!e) return;
    if (e->kind == EX_CALL && e->callee->kind == EX_NAME) {
        for (int i = 0; i < e->args.len; i++) resolve_source(r, e->args.items[i].value);
        return;
    }
    if (e->kind == EX_BINARY) {
        resolve_source(r, e->lhs);
        resolve_source(r, e->rhs);
        return;
    }
    if (e->kind == EX_NEG) {
        resolve_source(r, e->lhs);
        return;
    }
    resolve_expr(r, e);
}

static void resolve_dataset(Resolver *r, Item *it) {
    sema_item(r->a, it);
    r->fn = NULL;
    r->mod = it->module;
    for (int i = 0; i < it->fields.len; i++) {
        Field *f = &it->fields.items[i];
        for (int j = 0; j < i; j++) {
            if (strcmp(it->fields.items[j].name, f->name) == 0) {
                diag_error(r->d, f->span, "field `%s` is declared twice", f->name);
                diag_note(r->d, it->fields.items[j].span, "first declared here");
            }
        }
        resolve_type(r, f->type);
        resolve_source(r, f->source);
    }
    resolve_source(r, it->value);
}

static Item *setting_item(Resolver *r, Expr *e, ItemKind kind, const char *what) {
    if (e->kind != EX_NAME) {
        diag_error(r->d, e->span, "expected the name of %s", what);
        return NULL;
    }
    Item *it = global_item(r, r->mod, e->str);
    if (!it) {
        unknown_name(r, e, what);
        return NULL;
    }
    if (it->kind != kind) {
        diag_error(r->d, e->span, "`%s` is not %s", e->str, what);
        diag_note(r->d, it->name_span, "`%s` declared here", e->str);
        return NULL;
    }
    e->item = it;
    e->ref = kind == ITEM_DATASET ? REF_DATASET : kind == ITEM_FUNC ? REF_FUNC : REF_NONE;
    return it;
}

static void resolve_settings(Resolver *r, Item *st) {
    for (int i = 0; i < st->body.len; i++) {
        Stmt *s = st->body.items[i];
        if (s->kind != ST_SETTING) continue;
        const char *name = s->names.items[0];
        Expr *v = s->value;
        if (strcmp(name, "data") == 0) {
            Item *ds = setting_item(r, v, ITEM_DATASET, "a dataset");
            if (ds && !st->data) st->data = ds;
        } else if (strcmp(name, "validate") == 0) {
            setting_item(r, v, ITEM_STAGE, "an eval stage");
        } else if (strcmp(name, "freeze") == 0) {
            if (v->kind == EX_LIST)
                for (int k = 0; k < v->args.len; k++)
                    setting_item(r, v->args.items[k].value, ITEM_FUNC, "an encoder or decoder");
            else
                setting_item(r, v, ITEM_FUNC, "an encoder or decoder");
        } else if (strcmp(name, "optimizer") == 0 || strcmp(name, "schedule") == 0) {
            if (v->kind == EX_CALL) resolve_args(r, v);
        } else if (strcmp(name, "embedding") == 0) {
            setting_item(r, v, ITEM_FUNC, "an encoder or decoder");
        } else if (strcmp(name, "show") == 0 || strcmp(name, "codes") == 0 || strcmp(name, "labels") == 0 ||
                   strcmp(name, "sample") == 0) {
            /* bindings of the stage body: lowering looks them up once the body is lowered */
        } else if (strcmp(name, "load") == 0 || strcmp(name, "save") == 0 || strcmp(name, "vectors") == 0 ||
                   strcmp(name, "neighbours") == 0 || strcmp(name, "prompt") == 0) {
            /* a path or words: check wants strings and says so */
        } else {
            resolve_expr(r, v);
        }
    }
}

static void resolve_stage(Resolver *r, Item *it) {
    struct SemaItem *s = sema_item(r->a, it);
    r->fn = NULL;
    r->mod = it->module;
    resolve_settings(r, it);
    s->batch = sema_new_sym(r->a, SYM_BATCH, "B", it, 0);
    r->fn = it;
    r->local_names.len = r->local_slots.len = 0;
    resolve_stmts(r, it);
    r->fn = NULL;
}

/* ----------------------------------------------------------- recursion */

typedef Vec(Item *) ItemStack;

static void find_cycles(Resolver *r, Item *it, ItemStack *stack) {
    struct SemaItem *s = it->sema;
    if (!s || s->state == 2) return;
    if (s->state == 1) {
        int start = stack->len - 1;
        while (start > 0 && stack->items[start] != it) start--;
        StrBuf sb = {0};
        for (int i = start; i < stack->len; i++) sb_printf(&sb, "`%s` calls ", stack->items[i]->name);
        sb_printf(&sb, "`%s`", it->name);
        if (stack->len - start == 1)
            diag_error(r->d, it->name_span, "`%s` calls itself: recursion is not allowed", it->name);
        else
            diag_error(r->d, it->name_span, "recursion is not allowed: %s", sb.data);
        sb_free(&sb);
        return;
    }
    s->state = 1;
    vec_push(r->a, stack, it);
    for (int i = 0; i < s->callees.len; i++) find_cycles(r, s->callees.items[i], stack);
    stack->len--;
    s->state = 2;
}

/* ------------------------------------------------------------------ API */

/* The name index and module keys outlive the first pass: the bodies are
 * resolved after check has given each dataset its fields. */
struct Resolution {
    Resolver r;
    Names names;
};

Resolution *sema_resolve_declarations(Program *p) {
    Resolution *res = arena_alloc(p->arena, sizeof *res);
    res->r = (Resolver){.p = p, .a = p->arena, .d = p->diags, .names = &res->names};
    Resolver *r = &res->r;
    load_modules(r);
    index_names(r);
    for (int m = 0; m < p->modules.len; m++) check_duplicates(r, p->modules.items[m]);
    /* consts first (dataset field types use them), then datasets */
    for (int m = 0; m < p->modules.len; m++) {
        Module *mod = p->modules.items[m];
        r->mod = mod;
        for (int i = 0; i < mod->items.len; i++) {
            double v;
            if (mod->items.items[i]->kind == ITEM_CONST)
                fold_const_item(r, mod->items.items[i], &v);
        }
    }
    for (int m = 0; m < p->modules.len; m++) {
        Module *mod = p->modules.items[m];
        for (int i = 0; i < mod->items.len; i++)
            if (mod->items.items[i]->kind == ITEM_DATASET) resolve_dataset(r, mod->items.items[i]);
    }
    return res;
}

void sema_resolve_bodies(Resolution *res) {
    Resolver *r = &res->r;
    Program *p = r->p;
    for (int m = 0; m < p->modules.len; m++) {
        Module *mod = p->modules.items[m];
        for (int i = 0; i < mod->items.len; i++) {
            Item *it = mod->items.items[i];
            r->mod = mod;
            if (it->kind == ITEM_FUNC) resolve_func(r, it);
            else if (it->kind == ITEM_STAGE) resolve_stage(r, it);
        }
    }
    ItemStack stack = {0};
    for (int m = 0; m < p->modules.len; m++) {
        Module *mod = p->modules.items[m];
        for (int i = 0; i < mod->items.len; i++)
            if (mod->items.items[i]->kind == ITEM_FUNC) find_cycles(r, mod->items.items[i], &stack);
    }
}

const DimSym *sema_dim_sym(const Item *fn, int slot) {
    if (!fn->sema || slot < 0 || slot >= fn->sema->dims.len) return NULL;
    return fn->sema->dims.items[slot];
}

const DimSym *sema_batch_sym(const Item *stage) { return stage->sema ? stage->sema->batch : NULL; }

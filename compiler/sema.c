/* sema.c — the front end's semantic phase in order (resolve, dataset fields,
 * bodies, check), and the small helpers resolve.c and the check*.c files share.
 *
 * The order lives here so that neither half calls the other: resolve binds the
 * declarations, check gives each dataset its fields (a source's fields depend on
 * its checked options), resolve binds the bodies (which name those fields), then
 * check types every body.
 */
#include "sema_impl.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ utilities */

DimSym *sema_new_sym(Arena *a, DimSymKind kind, const char *name, Item *owner, int slot) {
    static int next_id = 1;
    DimSym *s = arena_alloc(a, sizeof *s);
    s->kind = kind;
    s->name = name;
    s->owner = owner;
    s->slot = slot;
    s->id = next_id++;
    return s;
}

struct SemaItem *sema_item(Arena *a, Item *it) {
    if (!it->sema) it->sema = arena_alloc(a, sizeof(struct SemaItem));
    return it->sema;
}

int sema_edit_distance(const char *a, const char *b, int cap) {
    int n = (int)strlen(a), m = (int)strlen(b);
    if (abs(n - m) > cap || n > 63 || m > 63) return cap + 1;
    int prev[64], cur[64];
    for (int j = 0; j <= m; j++) prev[j] = j;
    for (int i = 1; i <= n; i++) {
        cur[0] = i;
        for (int j = 1; j <= m; j++) {
            int c = prev[j - 1] + (a[i - 1] != b[j - 1]);
            if (prev[j] + 1 < c) c = prev[j] + 1;
            if (cur[j - 1] + 1 < c) c = cur[j - 1] + 1;
            cur[j] = c;
        }
        memcpy(prev, cur, sizeof(int) * (size_t)(m + 1));
    }
    return prev[m];
}

bool sema_is_source_name(const char *name) {
    static const char *const sources[] = {"idx", "csv", "npy", "text", "tokens", "skipgram", "sequences"};
    for (size_t i = 0; i < sizeof sources / sizeof *sources; i++)
        if (strcmp(name, sources[i]) == 0) return true;
    return false;
}

bool sema_is_init_name(const char *name) {
    static const char *const inits[] = {"glorot", "he", "zeros", "ones", "normal", "uniform"};
    for (size_t i = 0; i < sizeof inits / sizeof *inits; i++)
        if (strcmp(name, inits[i]) == 0) return true;
    return false;
}

/* ------------------------------------------------------------------ API */

bool sema_run(Program *p) {
    int errors0 = p->diags->errors;
    Resolution *res = sema_resolve_declarations(p);
    for (int m = 0; m < p->modules.len; m++) {
        Module *mod = p->modules.items[m];
        for (int i = 0; i < mod->items.len; i++)
            if (mod->items.items[i]->kind == ITEM_DATASET) sema_dataset_fields(p, mod->items.items[i]);
    }
    sema_resolve_bodies(res);
    /* check runs even after resolve errors: unresolved names are TY_ERROR and stay quiet */
    sema_check(p);
    return p->diags->errors == errors0;
}

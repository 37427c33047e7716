/* parser.y — the grammar of rl-language.md.
 *
 * Actions are one call each to a builder in ast.c. Nodes live in the
 * compilation's arena, so discarded symbols need no %destructor.
 *
 * Juxtaposed statements. Newlines are insignificant, so statements simply
 * follow each other, and two readings must never compete:
 *   - `(` directly after a name, `)` or `]` ON THE SAME LINE opens a call
 *     (the lexer makes it CALL_LPAREN); any other `(` groups, builds a
 *     tuple, or starts a tuple binding. So `h = f(x)` then, on the next line, `(u, v) = g(h)` is
 *     two statements, and `h = x` then `(u, v) = g(h)` is too.
 *   - only a name or a qualified name (`L.mse`) can be called.
 *   - no statement starts with `[`, `-` or an operator, so an expression ends
 *     where the next statement's first token cannot continue it.
 *
 * Error recovery. A syntax error in a statement (or dataset field) skips to
 * the start of the next line that can begin one; an error in an item header
 * skips to the next item keyword that starts a line. Recovery is done by the
 * token reader (parse_next), which also tracks open delimiters so a message
 * can name where an unclosed one was opened.
 */
%define api.pure full
%define api.location.type {Span}
%define parse.error custom
%define parse.lac full
%locations
%expect 0
%parse-param {ParseState *ps}
%lex-param {ParseState *ps}

%code requires {
#include "ast.h"

typedef struct ParseState ParseState;

/* The lexer's position and its memory of the previous token. */
typedef struct LexState {
    Arena *arena;
    Diags *diags;
    const SrcFile *file;
    int line, col, off;
    int prev_line, prev_kind;
    bool first_on_line;        /* the token just read starts its line */
    int stray_end;             /* end offset of the last stray character */
} LexState;
}

%code provides {
int rlx_lex(YYSTYPE *lval, YYLTYPE *lloc, void *scanner);
void *lex_open(LexState *ls);
void lex_close(void *scanner);
/* Parses m->file into m's items; errors go to d. */
void parse_module(Arena *a, Diags *d, Module *m);
}

%union {
    double num;
    const char *str;
    Role role;
    Expr *expr;
    TypeExpr *type;
    Stmt *stmt;
    Item *item;
}

%code {
#include <string.h>

#define YYMAXDEPTH 2000
#define A (ps->arena)
#define D (ps->diags)

/* Spans of a rule: from its first symbol to its last; an empty rule gets an
 * empty span just after the symbol before it. */
#define YYLLOC_DEFAULT(Cur, Rhs, N)                                   \
    do {                                                              \
        if (N) {                                                      \
            (Cur) = span_join(YYRHSLOC(Rhs, 1), YYRHSLOC(Rhs, N));    \
        } else {                                                      \
            (Cur) = YYRHSLOC(Rhs, 0);                                 \
            (Cur).off += (Cur).len;                                   \
            (Cur).col += (Cur).len;                                   \
            (Cur).len = 0;                                            \
        }                                                             \
    } while (0)

enum { PARSE_MAX_NESTING = 64 };

typedef enum { SKIP_NONE, SKIP_STMT, SKIP_ITEM } SkipMode;

/* A token as the parser sees it, with what was open before it. */
typedef struct Tok {
    int kind;
    YYSTYPE val;
    Span loc;
    bool first_on_line;
    bool after_lex_error;      /* the lexer reported an error just before it */
    int open_kind;             /* innermost open delimiter before this token (0: none) */
    Span open_at;
} Tok;

typedef struct Opener { int kind; Span at; } Opener;

struct ParseState {
    Arena *arena;
    Diags *diags;
    Module *module;
    LexState lex;
    void *scanner;
    Opener open[PARSE_MAX_NESTING];
    int nopen;
    Tok last, prev;            /* the token last handed to the parser, and the one before */
    Tok pending[2];
    int npending;
    bool at_eof;
    SkipMode skip;
    int pushed_back_off;       /* a token is handed back after an error at most once */
    bool closer_error;         /* the last error was a missing `)` or `]` */
    int last_error_off;        /* one syntax error per token, however the parser retries */
    int resyncs;
    bool too_deep;             /* nesting limit hit: the rest of the file is not parsed */
};

static int yylex(YYSTYPE *lval, YYLTYPE *lloc, ParseState *ps);
static void yyerror(YYLTYPE *loc, ParseState *ps, const char *msg);
static bool parse_resync(ParseState *ps, SkipMode mode);
}

%token <str> NAME "name"
%token <num> NUMBER "number"
%token <str> STRING "string"
%token <str> USE "'use'" AS "'as'" CONST "'const'" DATASET "'dataset'" FN "'fn'" LAYER "'layer'"
%token <str> ENCODER "'encoder'" DECODER "'decoder'" PRETEXT "'pretext'" LOSS "'loss'"
%token <str> PARAM "'param'" RETURN "'return'" TRAIN "'train'" EVAL "'eval'"
%token <str> MINIMIZE "'minimize'" REPORT "'report'" TRUE "'true'" FALSE "'false'"
%token ELLIPSIS "'...'" ARROW "'->'" EQ "'=='" NE "'!='" LE "'<='" GE "'>='" FLOORDIV "'//'"
%token CALL_LPAREN "'(' of a call"

%nonassoc EQ NE '<' LE '>' GE
%left '+' '-'
%left '*' '/' FLOORDIV '@'
%precedence UMINUS
%right '^'

%type <item> item use_item const_item dataset_item func_item stage_item
%type <item> fields params params1 results body_block stmts
%type <stmt> stmt targets
%type <expr> expr postfix primary args args1 elems elems1 tuple_elems index_args index_arg opt_expr dim
%type <type> type dims dim_list
%type <role> role
%type <str> use_path word

%%

module
    : items
    ;

items
    : %empty
    | items item                { ast_module_add(A, ps->module, $2); }
    | items error               { if (!parse_resync(ps, SKIP_ITEM)) YYABORT; yyclearin; yyerrok; }
    ;

item
    : use_item | const_item | dataset_item | func_item | stage_item
    ;

/* ---------------------------------------------------------------- items */

use_item
    : USE use_path              { $$ = ast_use(A, @$, $2, false, NULL); }
    | USE use_path AS NAME      { $$ = ast_use(A, @$, $2, false, $4); }
    | USE STRING                { $$ = ast_use(A, @$, $2, true, NULL); }
    | USE STRING AS NAME        { $$ = ast_use(A, @$, $2, true, $4); }
    ;

use_path
    : NAME                      { $$ = $1; }
    | use_path '.' word         { $$ = arena_printf(A, "%s.%s", $1, $3); }
    ;

const_item
    : CONST NAME '=' expr       { $$ = ast_const(A, @$, $2, @2, $4); }
    ;

dataset_item
    : DATASET NAME '{' fields '}'   { $$ = ast_dataset_fields(A, @$, $2, @2, $4); }
    | DATASET NAME '=' expr         { $$ = ast_dataset_expr(A, @$, $2, @2, $4); }
    ;

fields
    : %empty                        { $$ = NULL; }
    | fields NAME ':' type '=' expr { $$ = ast_fields_add(A, $1, span_join(@2, @6), $2, $4, $6); }
    | fields error                  { $$ = $1; if (!parse_resync(ps, SKIP_STMT)) YYABORT; yyclearin; yyerrok; }
    ;

func_item
    : role NAME lparen params ')' ARROW results body_block
        { $$ = ast_func(A, D, @$, $1, $2, @2, $4, $7, false, $8); }
    | role NAME lparen params ')' ARROW '(' results ',' type ')' body_block
        { $$ = ast_func(A, D, @$, $1, $2, @2, $4, ast_results_add(A, $8, $10), true, $12); }
    ;

role
    : FN { $$ = ROLE_FN; } | LAYER { $$ = ROLE_LAYER; } | ENCODER { $$ = ROLE_ENCODER; }
    | DECODER { $$ = ROLE_DECODER; } | PRETEXT { $$ = ROLE_PRETEXT; } | LOSS { $$ = ROLE_LOSS; }
    ;

lparen
    : '(' | CALL_LPAREN
    ;

params
    : %empty                    { $$ = NULL; }
    | params1                   { $$ = $1; }
    | params1 ','               { $$ = $1; }
    ;

params1
    : NAME ':' type             { $$ = ast_params_add(A, NULL, @$, $1, $3, NULL); }
    | NAME '=' expr             { $$ = ast_params_add(A, NULL, @$, $1, NULL, $3); }
    | NAME ':' type '=' expr    { $$ = ast_params_add(A, NULL, @$, $1, $3, $5); }
    | params1 ',' NAME ':' type { $$ = ast_params_add(A, $1, span_join(@3, @5), $3, $5, NULL); }
    | params1 ',' NAME ':' type '=' expr { $$ = ast_params_add(A, $1, span_join(@3, @7), $3, $5, $7); }
    | params1 ',' NAME '=' expr { $$ = ast_params_add(A, $1, span_join(@3, @5), $3, NULL, $5); }
    ;

results
    : type                      { $$ = ast_results_add(A, NULL, $1); }
    | results ',' type          { $$ = ast_results_add(A, $1, $3); }
    ;

body_block
    : '{' stmts '}'             { $$ = $2; }
    | '=' expr                  { $$ = ast_body_add(A, NULL, ast_return(A, @2, $2)); }
    ;

stage_item
    : TRAIN NAME '{' stmts '}'  { $$ = ast_stage(A, D, @$, STAGE_TRAIN, $2, @2, $4); }
    | EVAL NAME '{' stmts '}'   { $$ = ast_stage(A, D, @$, STAGE_EVAL, $2, @2, $4); }
    ;

/* ----------------------------------------------------------- statements */

stmts
    : %empty                    { $$ = ast_body_add(A, NULL, NULL); }
    | stmts stmt                { $$ = ast_body_add(A, $1, $2); }
    | stmts error               { $$ = $1; if (!parse_resync(ps, SKIP_STMT)) YYABORT; yyclearin; yyerrok; }
    ;

stmt
    : NAME '=' expr                     { $$ = ast_assign(A, @$, $1, @1, $3); }
    | '(' targets ')' '=' expr          { $$ = ast_tuple_assign(A, @$, $2, $5); }
    | PARAM NAME ':' type '=' expr      { $$ = ast_param_stmt(A, @$, $2, @2, $4, $6); }
    | RETURN expr                       { $$ = ast_return(A, @$, $2); }
    | MINIMIZE expr                     { $$ = ast_minimize(A, @$, $2); }
    | REPORT NAME '=' expr              { $$ = ast_report(A, @$, $2, @2, $4); }
    | word ':' expr                     { $$ = ast_setting(A, @$, $1, @1, $3); }
    ;

targets
    : NAME ',' NAME             { $$ = ast_targets_add(A, ast_targets_add(A, NULL, $1, @1), $3, @3); }
    | targets ',' NAME          { $$ = ast_targets_add(A, $1, $3, @3); }
    ;

/* A setting's name may be any word, reserved or not (`loss: ...`), and so
 * may a name after a dot (`use std.loss`, `L.loss`). */
word
    : NAME | USE | AS | CONST | DATASET | FN | LAYER | ENCODER | DECODER | PRETEXT | LOSS
    | PARAM | RETURN | TRAIN | EVAL | MINIMIZE | REPORT | TRUE | FALSE
    ;

/* ---------------------------------------------------------------- types */

type
    : NAME                      { $$ = ast_type_named(A, D, @$, $1, @1, NULL); }
    | NAME '[' dims ']'         { $$ = ast_type_named(A, D, @$, $1, @1, $3); }
    | '[' dims ']'              { $$ = ast_type_dims(A, @$, $2); }
    ;

dims
    : %empty                    { $$ = NULL; }
    | ELLIPSIS                  { $$ = ast_dims_ellipsis(A); }
    | ELLIPSIS ',' dim_list     { $$ = $3; $$->ellipsis = true; }
    | dim_list                  { $$ = $1; }
    ;

dim_list
    : dim                       { $$ = ast_dims_add(A, NULL, $1); }
    | dim_list ',' dim          { $$ = ast_dims_add(A, $1, $3); }
    ;

dim
    : NUMBER                    { $$ = ast_num(A, @$, $1); }
    | NAME                      { $$ = ast_name(A, @$, $1); }
    | NAME '.' NAME             { $$ = ast_field(A, D, @$, ast_name(A, @1, $1), $3); }
    | dim '+' dim               { $$ = ast_binary(A, D, @$, OP_ADD, $1, $3); }
    | dim '-' dim               { $$ = ast_binary(A, D, @$, OP_SUB, $1, $3); }
    | dim '*' dim               { $$ = ast_binary(A, D, @$, OP_MUL, $1, $3); }
    | dim '/' dim               { $$ = ast_binary(A, D, @$, OP_DIV, $1, $3); }
    | dim FLOORDIV dim          { $$ = ast_binary(A, D, @$, OP_FLOORDIV, $1, $3); }
    | '(' dim ')'               { $$ = $2; }
    ;

/* ---------------------------------------------------------- expressions */

expr
    : postfix
    | '-' expr %prec UMINUS     { $$ = ast_neg(A, D, @$, $2); }
    | expr '^' expr             { $$ = ast_binary(A, D, @$, OP_POW, $1, $3); }
    | expr '*' expr             { $$ = ast_binary(A, D, @$, OP_MUL, $1, $3); }
    | expr '/' expr             { $$ = ast_binary(A, D, @$, OP_DIV, $1, $3); }
    | expr FLOORDIV expr        { $$ = ast_binary(A, D, @$, OP_FLOORDIV, $1, $3); }
    | expr '@' expr             { $$ = ast_binary(A, D, @$, OP_MATMUL, $1, $3); }
    | expr '+' expr             { $$ = ast_binary(A, D, @$, OP_ADD, $1, $3); }
    | expr '-' expr             { $$ = ast_binary(A, D, @$, OP_SUB, $1, $3); }
    | expr EQ expr              { $$ = ast_binary(A, D, @$, OP_EQ, $1, $3); }
    | expr NE expr              { $$ = ast_binary(A, D, @$, OP_NE, $1, $3); }
    | expr '<' expr             { $$ = ast_binary(A, D, @$, OP_LT, $1, $3); }
    | expr LE expr              { $$ = ast_binary(A, D, @$, OP_LE, $1, $3); }
    | expr '>' expr             { $$ = ast_binary(A, D, @$, OP_GT, $1, $3); }
    | expr GE expr              { $$ = ast_binary(A, D, @$, OP_GE, $1, $3); }
    ;

postfix
    : primary
    | postfix CALL_LPAREN args ')'      { $$ = ast_call(A, D, @$, $1, $3); }
    | postfix '[' index_args ']'        { $$ = ast_index(A, D, @$, $1, $3); }
    | postfix '.' word                  { $$ = ast_field(A, D, @$, $1, $3); }
    ;

primary
    : NUMBER                    { $$ = ast_num(A, @$, $1); }
    | STRING                    { $$ = ast_str(A, @$, $1); }
    | TRUE                      { $$ = ast_bool(A, @$, true); }
    | FALSE                     { $$ = ast_bool(A, @$, false); }
    | NAME                      { $$ = ast_name(A, @$, $1); }
    | '(' expr ')'              { $$ = $2; }
    | '(' tuple_elems ')'       { $$ = ast_tuple(A, D, @$, $2); }
    | '(' tuple_elems ',' ')'   { $$ = ast_tuple(A, D, @$, $2); }
    | '[' elems ']'             { $$ = ast_list(A, D, @$, $2); }
    ;

tuple_elems
    : expr ',' expr             { $$ = ast_args_add(A, ast_args_add(A, NULL, @1, NULL, $1), @3, NULL, $3); }
    | tuple_elems ',' expr      { $$ = ast_args_add(A, $1, @3, NULL, $3); }
    ;

elems
    : %empty                    { $$ = NULL; }
    | elems1                    { $$ = $1; }
    | elems1 ','                { $$ = $1; }
    ;

elems1
    : expr                      { $$ = ast_args_add(A, NULL, @1, NULL, $1); }
    | elems1 ',' expr           { $$ = ast_args_add(A, $1, @3, NULL, $3); }
    ;

args
    : %empty                    { $$ = NULL; }
    | args1                     { $$ = $1; }
    | args1 ','                 { $$ = $1; }
    ;

args1
    : expr                      { $$ = ast_args_add(A, NULL, @1, NULL, $1); }
    | NAME '=' expr             { $$ = ast_args_add(A, NULL, @$, $1, $3); }
    | args1 ',' expr            { $$ = ast_args_add(A, $1, @3, NULL, $3); }
    | args1 ',' NAME '=' expr   { $$ = ast_args_add(A, $1, span_join(@3, @5), $3, $5); }
    ;

index_args
    : index_arg                 { $$ = ast_args_add(A, NULL, @1, NULL, $1); }
    | index_args ',' index_arg  { $$ = ast_args_add(A, $1, @3, NULL, $3); }
    ;

index_arg
    : expr                      { $$ = $1; }
    | opt_expr ':' opt_expr     { $$ = ast_slice(A, @$, $1, $3); }
    ;

opt_expr
    : %empty                    { $$ = NULL; }
    | expr                      { $$ = $1; }
    ;

%%

/* ------------------------------------------------------------ token reader */

static bool is_item_keyword(int k) {
    return k == USE || k == CONST || k == DATASET || k == FN || k == LAYER || k == ENCODER ||
           k == DECODER || k == PRETEXT || k == LOSS || k == TRAIN || k == EVAL;
}

static bool is_stmt_keyword(int k) {
    return k == PARAM || k == RETURN || k == MINIMIZE || k == REPORT;
}

static bool is_open(int k) { return k == '(' || k == CALL_LPAREN || k == '[' || k == '{'; }

static char open_char(int k) { return k == CALL_LPAREN ? '(' : (char)k; }

static char close_char(int k) {
    return k == '(' || k == CALL_LPAREN ? ')' : k == '[' ? ']' : '}';
}

/* Keeps the stack of open delimiters. A `}` also closes whatever was left
 * open inside its block, so one missing `)` does not unbalance the file. */
static void track(ParseState *ps, const Tok *t) {
    if (is_open(t->kind)) {
        if (ps->nopen == PARSE_MAX_NESTING) {
            diag_error(ps->diags, t->loc, "nested too deeply (more than %d open brackets)",
                       PARSE_MAX_NESTING);
            ps->too_deep = true;
            return;
        }
        ps->open[ps->nopen++] = (Opener){t->kind, t->loc};
    } else if (t->kind == ')' || t->kind == ']') {
        if (ps->nopen && close_char(ps->open[ps->nopen - 1].kind) == t->kind) ps->nopen--;
    } else if (t->kind == '}') {
        int i = ps->nopen;
        while (i > 0 && ps->open[i - 1].kind != '{') i--;
        if (i > 0) ps->nopen = i - 1;
    }
}

static Tok read_token(ParseState *ps) {
    Tok t = {0};
    if (ps->at_eof || ps->too_deep) {
        t = ps->last;
        t.kind = YYEOF;
        t.loc.off += t.loc.len;
        t.loc.col += t.loc.len;
        t.loc.len = 0;
        return t;
    }
    int errors = ps->diags->errors;
    t.kind = rlx_lex(&t.val, &t.loc, ps->scanner);
    t.after_lex_error = ps->diags->errors != errors;
    t.first_on_line = ps->lex.first_on_line;
    if (ps->nopen) {
        t.open_kind = ps->open[ps->nopen - 1].kind;
        t.open_at = ps->open[ps->nopen - 1].at;
    }
    if (t.kind == YYEOF) ps->at_eof = true;
    track(ps, &t);
    if (ps->too_deep) t.kind = YYEOF;
    return t;
}

static bool inside_block(const ParseState *ps) {
    for (int i = 0; i < ps->nopen; i++)
        if (ps->open[i].kind == '{') return true;
    return false;
}

/* Drops the brackets left open above the innermost block. */
static void close_to_block(ParseState *ps) {
    while (ps->nopen && ps->open[ps->nopen - 1].kind != '{') ps->nopen--;
}

/* Whether t is where parsing can resume after an error at `mode` level. When
 * a statement-level error reaches the next item (or the end of the file)
 * inside a block, the block is closed by a made-up `}` handed out first. */
static bool is_sync(ParseState *ps, Tok *t) {
    bool item_start = is_item_keyword(t->kind) && t->loc.col == 1;
    if (ps->skip == SKIP_ITEM) {
        if (t->kind == YYEOF || item_start || (is_item_keyword(t->kind) && t->first_on_line && !t->open_kind)) {
            ps->nopen = 0;
            return true;
        }
        return false;
    }
    if (t->kind == YYEOF || item_start) {
        if (inside_block(ps)) {
            close_to_block(ps);
            ps->nopen--;
            ps->pending[ps->npending++] = *t;
            Tok brace = *t;
            brace.kind = '}';
            brace.loc.len = 0;
            *t = brace;
        }
        return true;
    }
    if (t->kind == '}') return true;
    if (t->first_on_line && is_stmt_keyword(t->kind)) {
        close_to_block(ps);
        return true;
    }
    return t->first_on_line && t->open_kind == '{';
}

/* Called from the `error` rules: skip to where `mode` can resume. The token
 * the error was found at is handed back when it can itself start what comes
 * next (`return` after a line missing its `)`); otherwise skipping starts
 * after it. False stops the parse (nesting limit, or no progress left). */
static bool parse_resync(ParseState *ps, SkipMode mode) {
    if (ps->too_deep || ++ps->resyncs > 10000) return false;
    if (ps->diags->errors >= (ps->diags->max_errors > 0 ? ps->diags->max_errors : 100)) return false;
    ps->skip = mode;
    /* A missing `)` or `]` was reported: forget it, so the next line is
     * not taken for the rest of the bracket. */
    if (ps->closer_error && mode == SKIP_STMT) close_to_block(ps);
    ps->closer_error = false;
    Tok t = ps->last;
    bool can_restart = mode == SKIP_ITEM
        ? is_item_keyword(t.kind) || t.kind == YYEOF
        : t.kind == NAME || t.kind == '(' || t.kind == '}' || t.kind == YYEOF ||
          is_stmt_keyword(t.kind) || is_item_keyword(t.kind);
    if (t.kind == YYEOF && ps->pushed_back_off == t.loc.off) return false;
    if (can_restart && ps->pushed_back_off != t.loc.off && ps->npending == 0 && is_sync(ps, &t)) {
        ps->pushed_back_off = t.loc.off;
        ps->pending[ps->npending++] = t;
        ps->skip = SKIP_NONE;
    }
    return true;
}

static int yylex(YYSTYPE *lval, YYLTYPE *lloc, ParseState *ps) {
    Tok t;
    for (;;) {
        t = ps->npending ? ps->pending[--ps->npending] : read_token(ps);
        if (ps->skip == SKIP_NONE) break;
        if (is_sync(ps, &t)) {
            ps->skip = SKIP_NONE;
            break;
        }
    }
    ps->prev = ps->last;
    ps->last = t;
    *lval = t.val;
    *lloc = t.loc;
    return t.kind;
}

/* ------------------------------------------------------------- messages */

static bool is_operator(yysymbol_kind_t s) {
    static const int ops[] = {'+', '-', '*', '/', FLOORDIV, '@', '^', '<', '>', '.', '[', EQ, NE, LE, GE, CALL_LPAREN};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (s == YYTRANSLATE(ops[i])) return true;
    return false;
}

/* How the token an error was found at reads in a message. */
static char *describe_found(ParseState *ps, const Tok *t) {
    if (t->kind == YYEOF) return "end of file";
    if (t->loc.len == 0) return arena_printf(ps->arena, "'%c'", (char)t->kind);
    const char *src = ps->lex.file->text + t->loc.off;
    int n = t->loc.len > 24 ? 24 : t->loc.len;
    for (int i = 0; i < n; i++)
        if ((unsigned char)src[i] < 0x20) n = i;
    return arena_printf(ps->arena, "'%.*s%s'", n, src, n < t->loc.len ? "..." : "");
}

static int yyreport_syntax_error(const yypcontext_t *ctx, ParseState *ps) {
    const Tok *t = &ps->last;
    /* A stray character was already reported; what it leaves is not news. */
    if (ps->too_deep || t->loc.off == ps->last_error_off || t->after_lex_error || ps->prev.after_lex_error)
        return 0;
    ps->last_error_off = t->loc.off;

    yysymbol_kind_t expected[YYNTOKENS];
    int n = yypcontext_expected_tokens(ctx, expected, YYNTOKENS);
    if (n < 0) n = 0;
    bool has[YYNTOKENS] = {0};
    for (int i = 0; i < n; i++) has[expected[i]] = true;

    Span at = *yypcontext_location(ctx);
    /* A missing token is shown where it belongs: after the previous token,
     * not at the start of the next line. */
    Span after_prev = ps->prev.loc;
    after_prev.off += after_prev.len;
    after_prev.col += after_prev.len;
    after_prev.len = 0;
    bool next_line = ps->prev.loc.file && (t->kind == YYEOF || ps->prev.loc.line < t->loc.line);
    const char *found = describe_found(ps, t);

    int open = t->open_kind;
    bool closer = open && has[YYTRANSLATE((int)close_char(open))];
    bool ends_block = t->kind == YYEOF || (is_item_keyword(t->kind) && t->loc.col == 1);

    const Opener *block = NULL;
    for (int i = ps->nopen; i > 0 && !block; i--)
        if (ps->open[i - 1].kind == '{') block = &ps->open[i - 1];
    bool keyword = t->kind != NAME && t->val.str && t->kind >= USE && t->kind <= FALSE;

    /* Every word can name a setting, so a statement is recognised by also
     * allowing a name, and an item by not. */
    if (has[YYTRANSLATE(CONST)] && has[YYTRANSLATE(TRAIN)] && !has[YYTRANSLATE(NAME)]) {
        diag_error(ps->diags, at, "expected an item (use, const, dataset, a function or a stage), found %s", found);
    } else if (block && is_item_keyword(ps->prev.kind) && ps->prev.loc.col == 1) {
        /* `encoder` at the start of a line inside a block was read as a
         * setting's name; the block before it is what is unfinished. */
        diag_error(ps->diags, ps->prev.loc, "expected '}' to close '{' opened at %d:%d",
                   block->at.line, block->at.col);
    } else if (keyword && has[YYTRANSLATE(NAME)]) {
        diag_error(ps->diags, at, "'%s' is a reserved word and cannot be used as a name", t->val.str);
    } else if (closer && (open != '{' || ends_block)) {
        ps->closer_error = open != '{';
        diag_error(ps->diags, next_line ? after_prev : at, "expected '%c' to close '%c' opened at %d:%d",
                   close_char(open), open_char(open), t->open_at.line, t->open_at.col);
    } else if (has[YYTRANSLATE(RETURN)] && has[YYTRANSLATE(MINIMIZE)]) {
        diag_error(ps->diags, at, "expected a statement, found %s", found);
    } else if (has[YYTRANSLATE(NUMBER)] && has[YYTRANSLATE(STRING)]) {
        diag_error(ps->diags, next_line ? after_prev : at, "expected an expression, found %s", found);
    } else {
        StrBuf list = {0};
        int shown = 0, total = 0;
        for (int i = 0; i < n; i++) {
            if (is_operator(expected[i])) continue;
            total++;
        }
        for (int i = 0; i < n && total <= 4; i++) {
            if (is_operator(expected[i])) continue;
            shown++;
            sb_printf(&list, "%s%s", shown == 1 ? "" : shown == total ? " or " : ", ", yysymbol_name(expected[i]));
        }
        if (shown)
            diag_error(ps->diags, next_line ? after_prev : at, "expected %s, found %s", list.data, found);
        else
            diag_error(ps->diags, at, "unexpected %s", found);
        sb_free(&list);
    }
    return 0;
}

static void yyerror(YYLTYPE *loc, ParseState *ps, const char *msg) {
    diag_error(ps->diags, *loc, "program nested too deeply to parse (%s)", msg);
}

void parse_module(Arena *a, Diags *d, Module *m) {
    ParseState ps = {.arena = a, .diags = d, .module = m, .pushed_back_off = -1, .last_error_off = -1};
    ps.lex = (LexState){.arena = a, .diags = d, .file = m->file};
    ps.last.loc = (Span){m->file, 1, 1, 0, 0};
    ps.scanner = lex_open(&ps.lex);
    if (!ps.scanner) {
        diag_error(d, ps.last.loc, "cannot start the lexer");
        return;
    }
    yyparse(&ps);
    lex_close(ps.scanner);
}

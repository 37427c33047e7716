/* trainer_cli.c — the command line of a standalone trainer (`rlc build`): the
 * generated main() hands its rt_program here. Overrides that change the program
 * (--data-path, --load, --save) work on a copy of its datasets and stages; the
 * rest go to rt_run_program as rt_run_options. */
#define _POSIX_C_SOURCE 200809L
#include "rlrt.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const source_names[] = {
    [RT_SRC_IDX] = "idx", [RT_SRC_CSV] = "csv", [RT_SRC_NPY] = "npy",
    [RT_SRC_TEXT] = "text", [RT_SRC_TOKENS] = "tokens",
};

static void usage_line(FILE *f, const char *self) {
    fprintf(f, "usage: %s [--stage NAME] [--epochs N] [--steps N] [--threads N] [--seed N] [--data-path DIR]\n"
               "       [--load FILE] [--save FILE] [--log-steps FILE] [--resume] [--quiet]\n", self);
}

static void describe_dataset(FILE *f, const rt_dataset_spec *d) {
    fprintf(f, "  %s:", d->name);
    if (d->skipgram) {
        fprintf(f, " skipgram over text %s (window %" PRId64 ", negatives %" PRId64
                   ", min_count %" PRId64 ")\n", d->text_path, d->window, d->negatives, d->min_count);
        return;
    }
    for (int i = 0; i < d->n_fields; i++) {
        const rt_field_spec *fs = &d->fields[i];
        int k = (int)fs->kind;
        const char *src = k >= 0 && k < (int)(sizeof source_names / sizeof *source_names) ? source_names[k] : "?";
        fprintf(f, "%s %s = %s(%s)", i ? "," : "", fs->name, src, fs->path ? fs->path : "");
    }
    fputc('\n', f);
}

static void describe_optimizer(FILE *f, const rt_optimizer *o) {
    static const char *const kinds[] = {"sgd", "adam", "adamw"};
    static const char *const scheds[] = {"constant", "linear", "cosine"};
    fprintf(f, "%s(lr = %g", kinds[o->kind], o->lr);
    if (o->kind == RT_OPT_SGD && o->momentum != 0) fprintf(f, ", momentum = %g", o->momentum);
    if (o->weight_decay != 0) fprintf(f, ", weight_decay = %g", o->weight_decay);
    fputc(')', f);
    if (o->schedule >= RT_SCHED_LINEAR && o->schedule <= RT_SCHED_COSINE)
        fprintf(f, ", %s schedule to %g", scheds[o->schedule], o->to);
    if (o->warmup > 0) fprintf(f, ", warmup %" PRId64 " steps", o->warmup);
}

static void describe_stage(FILE *f, const rt_program *p, const rt_stage *s) {
    int64_t numel = 0, trained = 0;
    for (int i = 0; i < s->n_params; i++) {
        int64_t n = 1;
        for (int d = 0; d < s->params[i].rank; d++) n *= s->params[i].dims[d];
        numel += n;
        if (s->params[i].trained) trained += n;
    }
    fprintf(f, "  %s %s: data %s, batch %" PRId64, s->train ? "train" : "eval", s->name,
            s->dataset >= 0 && s->dataset < p->n_datasets ? p->datasets[s->dataset].name : "?", s->batch);
    if (s->train && s->steps > 0) fprintf(f, ", %" PRId64 " steps", s->steps);
    else if (s->train) fprintf(f, ", %" PRId64 " epochs", s->epochs);
    if (s->limit > 0) fprintf(f, ", first %" PRId64 " examples", s->limit);
    fprintf(f, ", seed %" PRIu64 "\n", s->seed);
    if (s->train) {
        fputs("      optimizer ", f);
        describe_optimizer(f, &s->opt);
        fputc('\n', f);
    }
    fprintf(f, "      %" PRId64 " parameters (%" PRId64 " trained)", numel, trained);
    if (s->load) fprintf(f, ", load %s", s->load);
    if (s->save) fprintf(f, ", save %s", s->save);
    if (s->save_every > 0) fprintf(f, " (and every %" PRId64 " steps)", s->save_every);
    if (s->train && s->validate >= 0 && s->validate < p->n_stages)
        fprintf(f, ", validate %s", p->stages[s->validate].name);
    for (int k = 0; k < s->n_reports; k++) fprintf(f, "%s%s", k ? ", " : ", reports ", s->reports[k]);
    fputc('\n', f);
}

static void help(FILE *f, const char *self, const rt_program *p) {
    usage_line(f, self);
    fprintf(f, "\nA standalone trainer built by `rlc build` from %s. It runs the stages below in\n"
               "order, as `rlc run` would: the same seed and data give the same loss at every step.\n\n",
            p->name ? p->name : "an .rl program");
    fputs("  --stage NAME      run only this stage\n"
          "  --epochs N        override the epochs of every train stage (1 to 2^53)\n"
          "  --steps N         run every train stage for this many steps instead (1 to 2^53)\n"
          "  --threads N       threads for kernels and OpenBLAS (1 to 1024; default: every core)\n"
          "  --seed N          override every stage's seed (0 to 2^64-1)\n"
          "  --data-path DIR   look for the data files in DIR first (then RL_DATA_PATH,\n"
          "                    then /usr/share/datasets); default: the .rl file's folder\n"
          "  --load FILE       the first stage that runs loads its parameters from FILE\n"
          "  --save FILE       the last train stage that runs saves its parameters to FILE\n"
          "  --log-steps FILE  write `STAGE STEP LOSS` for every train step to FILE\n"
          "  --resume          continue each train stage from its save file where that\n"
          "                    records an unfinished run; skip finished stages\n"
          "  --quiet           no progress or epoch lines\n\ndatasets:\n", f);
    for (int i = 0; i < p->n_datasets; i++) describe_dataset(f, &p->datasets[i]);
    fputs("\nstages:\n", f);
    for (int i = 0; i < p->n_stages; i++) describe_stage(f, p, &p->stages[i]);
}

static int trainer_main(const rt_program *prog, const rt_dim_check *dim_checks, int n_dim_checks, int argc,
                        char **argv, const char *self);

int rt_trainer_main(const rt_program *prog, const rt_dim_check *dim_checks, int n_dim_checks,
                    int argc, char **argv) {
    const char *self = argc > 0 ? argv[0] : "trainer";
    rt_error started = {0};
    if (!rt_mpi_start(&argc, &argv, &started)) {
        fprintf(stderr, "%s: error: %s\n", self, started.msg);
        return 1;
    }
    int status = trainer_main(prog, dim_checks, n_dim_checks, argc, argv, self);
    rt_mpi_finish();
    return status;
}

static int trainer_main(const rt_program *prog, const rt_dim_check *dim_checks, int n_dim_checks, int argc,
                        char **argv, const char *self) {
    /* every core by default; shared among the processes of a data-parallel run */
    int cores = (int)sysconf(_SC_NPROCESSORS_ONLN) / rt_mpi_size();
    rt_run_options o = {.threads = cores > 1 ? cores : 1, .dim_checks = dim_checks,
                        .n_dim_checks = n_dim_checks};
    const char *data_path = NULL, *load = NULL, *save = NULL, *log_path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            if (rt_mpi_rank() == 0) help(stdout, self, prog);
            return 0;
        }
        if (strcmp(a, "--quiet") == 0) {
            o.quiet = true;
            continue;
        }
        if (strcmp(a, "--resume") == 0) {
            o.resume = true;
            continue;
        }
        static const char *const valued[] = {"--stage", "--epochs", "--steps", "--threads", "--seed",
                                             "--data-path", "--load", "--save", "--log-steps"};
        bool known = false;
        for (size_t k = 0; k < sizeof valued / sizeof *valued; k++) known = known || strcmp(a, valued[k]) == 0;
        if (!known || i + 1 == argc) {
            fprintf(stderr, known ? "%s: %s needs a value\n" : "%s: unknown option '%s'\n", self, a);
            usage_line(stderr, self);
            return 2;
        }
        const char *v = argv[++i];
        if (strcmp(a, "--stage") == 0) o.stage = v;
        else if (strcmp(a, "--data-path") == 0) data_path = v;
        else if (strcmp(a, "--load") == 0) load = v;
        else if (strcmp(a, "--save") == 0) save = v;
        else if (strcmp(a, "--log-steps") == 0) log_path = v;
        else {
            bool is_seed = strcmp(a, "--seed") == 0, is_threads = strcmp(a, "--threads") == 0;
            uint64_t n;
            rt_error err = {0};
            if (!rt_parse_count(a, v, is_seed ? 0 : 1, is_seed ? UINT64_MAX : is_threads ? RT_MAX_THREADS : RT_MAX_COUNT,
                                &n, &err)) {
                fprintf(stderr, "%s: %s\n", self, err.msg);
                usage_line(stderr, self);
                return 2;
            }
            if (is_seed) o.override_seed = true, o.seed = n;
            else if (strcmp(a, "--epochs") == 0) o.epochs = (int64_t)n;
            else if (strcmp(a, "--steps") == 0) o.steps = (int64_t)n;
            else o.threads = (int)n;
        }
    }

    /* The overrides work on copies, so the program's own description stays as built. */
    rt_program p = *prog;
    rt_dataset_spec *ds = calloc((size_t)p.n_datasets + 1, sizeof *ds);
    rt_stage *st = calloc((size_t)p.n_stages + 1, sizeof *st);
    if (!ds || !st) {
        free(ds);
        free(st);
        fprintf(stderr, "%s: out of memory\n", self);
        return 1;
    }
    for (int i = 0; i < p.n_datasets; i++) {
        ds[i] = prog->datasets[i];
        if (data_path) ds[i].base_dir = data_path;
    }
    int first = -1, last_train = -1;
    for (int i = 0; i < p.n_stages; i++) {
        st[i] = prog->stages[i];
        if (o.stage && strcmp(st[i].name, o.stage) != 0) continue;
        if (first < 0) first = i;
        if (st[i].train) last_train = i;
    }
    int status = 0;
    if (load && first >= 0) st[first].load = load;
    if (save) {
        if (last_train < 0) {
            fprintf(stderr, "%s: --save needs a train stage to run, and none does\n", self);
            status = 2;
        } else {
            st[last_train].save = save;
        }
    }
    p.datasets = ds;
    p.stages = st;
    FILE *log = NULL;
    if (status == 0 && log_path && rt_mpi_rank() == 0 && !(log = fopen(log_path, "w"))) {
        fprintf(stderr, "%s: cannot write %s: %s\n", self, log_path, strerror(errno));
        status = 1;
    }
    if (status == 0) {
        o.step_log = log;
        rt_error err = {0};
        if (!rt_run_program(&p, &o, &err)) {
            rt_mpi_report(stderr, self, &err);
            status = 1;
        }
    }
    if (log && fclose(log) != 0 && status == 0) {
        fprintf(stderr, "%s: cannot write %s: %s\n", self, log_path, strerror(errno));
        status = 1;
    }
    free(ds);
    free(st);
    return status;
}

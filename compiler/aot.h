/* aot.h — `rlc build`: a planned program (be_plan) becomes a standalone native
 * trainer. Each stage's step is emitted as a position-independent object (the
 * same module the JIT runs), the rt_program is written as static data in a
 * generated C file whose main() calls rt_trainer_main, and the system's C
 * compiler links them with librlrt, OpenBLAS and zlib.
 * Prefix: aot_.
 */
#ifndef RLC_AOT_H
#define RLC_AOT_H

#include "backend.h"

typedef struct AotOptions {
    const char *output;            /* the executable to write */
    const char *target;            /* a triple; NULL: the host's, the only one linkable here */
    const char *cpu, *features;    /* NULL: the host's (as the JIT does) */
    const char *linker;            /* NULL: $RLC_LINKER, else `cc` */
} AotOptions;

/* The generated C file: the program b->prog (steps named rlc_step_I, workspace
 * sizes from the plans) and its data-bound dims as static data, and main(). */
void aot_program_source(const Backend *b, const rt_dim_check *checks, int n_checks,
                        StrBuf *out);

/* Emits, writes and links the trainer at o->output. False with a message (saying
 * what is missing and how to install it, where that is the cause) in *why. */
bool aot_build(const Backend *b, const rt_dim_check *checks, int n_checks, const AotOptions *o,
               StrBuf *why);

#endif

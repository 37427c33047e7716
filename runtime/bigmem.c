/* bigmem.c — the step's large buffers on transparent huge pages.
 *
 * A training step's workspace is tens to hundreds of MB (the GPT step's 138 MB at
 * batch 32: [B, T, vocab] logits, their exps and their gradient) and the optimizer
 * state of a large table as much again. On 4 KiB pages the first step faults every
 * page in (59,000 faults in the GPT trainer), and on a virtual machine each fault
 * costs a trip to the hypervisor: the first step took 1.2 s of wall time against
 * 0.45 s for a later one. Where the kernel offers transparent huge pages on request
 * (`madvise` mode, Debian's default), a buffer advised MADV_HUGEPAGE and aligned to
 * 2 MiB faults in 2 MiB at a time, and the step's passes over 35 MB rows miss the
 * TLB far less. Smaller buffers, and systems without the advice, get ordinary
 * 64-byte aligned memory: the advice changes speed, never contents.
 */
#define _DEFAULT_SOURCE
#include "rlrt.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

enum { HUGE_PAGE = 2u << 20 };

void *rt_alloc_big(size_t bytes, bool zero) {
    if (bytes == 0) bytes = 1;
    size_t align = bytes >= HUGE_PAGE ? HUGE_PAGE : 64;
    size_t size = (bytes + align - 1) / align * align;
    void *p = aligned_alloc(align, size);
    if (!p) return NULL;
#ifdef MADV_HUGEPAGE
    /* Advice only: where the kernel lacks huge pages it fails and the pages stay small. */
    if (align == HUGE_PAGE) (void)madvise(p, size, MADV_HUGEPAGE);
#endif
    if (zero) memset(p, 0, size);
    return p;
}

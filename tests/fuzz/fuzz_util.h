/* fuzz_util.h — what the libFuzzer harnesses share: the readers under test take a
 * path, so each input is written to a file in a scratch folder made once per
 * process and removed at exit. */
#ifndef RLC_FUZZ_UTIL_H
#define RLC_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* The scratch folder (made on the first call). */
const char *fuzz_dir(void);
/* Writes data to fuzz_dir()/name and returns that path (static storage, valid
 * until the next call). Aborts when the file cannot be written: the harness
 * would otherwise test nothing. */
const char *fuzz_write(const char *name, const uint8_t *data, size_t size);

#endif

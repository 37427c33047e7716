#include "rlrt.h"

#include <stdarg.h>
#include <stdio.h>

void rt_fail(rt_error *err, const char *fmt, ...) {
    if (!err || err->failed) return; /* the first failure is the one worth reading */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    err->failed = true;
}

#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int lf_fail(lf_error *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int lf_fail_prefix(lf_error *err, const char *fmt, ...)
{
    if (err) {
        char prefix[LF_ERROR_MSG_MAX];
        char old[LF_ERROR_MSG_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(prefix, sizeof prefix, fmt, ap);
        va_end(ap);
        memcpy(old, err->msg, sizeof old);
        /* "prefix: old", truncated to the buffer */
        size_t np = strlen(prefix), no = strlen(old), cap = sizeof err->msg - 1;
        if (np > cap)
            np = cap;
        memcpy(err->msg, prefix, np);
        size_t pos = np;
        for (const char *sep = ": "; *sep && pos < cap; sep++)
            err->msg[pos++] = *sep;
        if (no > cap - pos)
            no = cap - pos;
        memcpy(err->msg + pos, old, no);
        err->msg[pos + no] = '\0';
    }
    return -1;
}

/* lafov core: error reporting.
 *
 * Every library function that can fail returns 0 on success and -1 on failure, and fills an
 * lf_error with one human-readable line naming the file, the byte offset or key, and what was
 * expected. Only apps/ prints errors and chooses exit codes; the library never calls exit().
 *
 *   lf_error err = {0};
 *   if (lf_something(..., &err) != 0) fprintf(stderr, "lafov: %s\n", err.msg);
 */
#ifndef LF_ERROR_H
#define LF_ERROR_H

#include <stddef.h>

#define LF_ERROR_MSG_MAX 1024

typedef struct lf_error {
    char msg[LF_ERROR_MSG_MAX];
} lf_error;

/* Formats the message into err (when err is not NULL) and returns -1, so callers can write
 * `return lf_fail(err, "%s: ...", path);`. */
int lf_fail(lf_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefixes an existing message: "context: old message". Returns -1. */
int lf_fail_prefix(lf_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

/* lafov io: write-then-rename output files. Every output lafov writes goes through this, so a
 * failure (disk full, bad input discovered half way, Ctrl-C) never leaves a partial file under the
 * final name nor destroys the previous version.
 *
 *   lf_atomic_file af;
 *   FILE *f = lf_atomic_open(&af, "out/qc.json", &err);    // writes out/qc.json.tmp.XXXXXX
 *   ... fprintf(f, ...) ...
 *   lf_atomic_commit(&af, &err);                           // flush, fsync, rename; or:
 *   lf_atomic_abort(&af);                                  // remove the temporary file
 */
#ifndef LF_ATOMIC_FILE_H
#define LF_ATOMIC_FILE_H

#include <stdio.h>

#include "../core/error.h"

typedef struct lf_atomic_file {
    FILE *f;
    char path[4096];
    char tmp[4200];
} lf_atomic_file;

FILE *lf_atomic_open(lf_atomic_file *af, const char *path, lf_error *err);
int lf_atomic_commit(lf_atomic_file *af, lf_error *err);
void lf_atomic_abort(lf_atomic_file *af);

/* mkdir -p; error names the path. */
int lf_mkdirs(const char *dir, lf_error *err);

#endif

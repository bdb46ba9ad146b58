/* lafov recon: the batch manifest — a list of lafov jobs, one per line (docs/protocol.md, "Batch").
 *
 *   # protocol study, 4 quarter-dose replicates
 *   q1   recon q1.l --ct ct --frames 0-300 --out recon/q1
 *   q2   recon "quarter 2.l" --ct ct --out recon/q2     # quotes for spaces
 *
 * A line is NAME COMMAND ARGS...: NAME of [A-Za-z0-9._-] (at most 63 characters, unique: it names the
 * job's log and record), COMMAND ARGS a lafov command line without "lafov" (not "batch"). Words are
 * split at blanks; '...' and "..." quote, a backslash escapes the next character outside single quotes,
 * and a backslash ending a line continues it on the next. '#' at the start of a word begins a comment.
 * Relative paths are relative to the manifest's folder (m.dir): the jobs run there. Errors name the
 * manifest, its line and what was expected.
 */
#ifndef LF_BATCH_MANIFEST_H
#define LF_BATCH_MANIFEST_H

#include "../core/error.h"

#define LF_BATCH_NAME_MAX 64

typedef struct lf_batch_job {
    char name[LF_BATCH_NAME_MAX];
    char **argv; /* argc words (argv[0] = the command), NULL-terminated */
    int argc;
    int line;    /* manifest line, 1-based; 0 for a job added by code */
} lf_batch_job;

typedef struct lf_batch_manifest {
    lf_batch_job *jobs;
    int n, cap;
    char dir[4096]; /* the folder the jobs run in ("." for jobs added by code) */
} lf_batch_manifest;

/* Reads a manifest file; m->dir = its folder. An empty manifest (no job) is an error. */
int lf_batch_manifest_read(const char *path, lf_batch_manifest *m, lf_error *err);
/* Parses manifest text (origin names it in messages) into m (zeroed by the caller or earlier calls). */
int lf_batch_manifest_parse(const char *text, const char *origin, lf_batch_manifest *m, lf_error *err);
/* Adds a job (name checked as above, words copied). */
int lf_batch_manifest_add(lf_batch_manifest *m, const char *name, int argc, const char *const *argv, int line,
                          lf_error *err);
void lf_batch_manifest_free(lf_batch_manifest *m);

/* The value of --opt in the job (--opt V or --opt=V; the last one wins), or NULL. */
const char *lf_batch_job_option(const lf_batch_job *j, const char *opt);
/* 1 when the job has the word flag (e.g. "--force"). */
int lf_batch_job_has(const lf_batch_job *j, const char *flag);
/* The job's command line with shell quoting where needed ("recon 'a b.l' --out x") into buf. */
void lf_batch_job_line(const lf_batch_job *j, char *buf, size_t cap);

#endif

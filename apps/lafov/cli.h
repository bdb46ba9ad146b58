/* lafov CLI: shared pieces of the subcommands (progress bar, logging set-up, errors, help).
 * The CLI parses options, prints and draws progress; the work is in the library. */
#ifndef LF_CLI_H
#define LF_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "core/error.h"
#include "core/progress.h"

typedef struct lf_cli_cmd {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} lf_cli_cmd;

int lf_cmd_info(int argc, char **argv);
int lf_cmd_qc(int argc, char **argv);
int lf_cmd_simulate(int argc, char **argv);
int lf_cmd_project(int argc, char **argv);
int lf_cmd_view(int argc, char **argv);
int lf_cmd_recon(int argc, char **argv);
int lf_cmd_roi(int argc, char **argv);
int lf_cmd_export(int argc, char **argv);
int lf_cmd_motion(int argc, char **argv);
int lf_cmd_norm(int argc, char **argv);
int lf_cmd_nema(int argc, char **argv);
int lf_cmd_thin(int argc, char **argv);
int lf_cmd_batch(int argc, char **argv);
int lf_cmd_study(int argc, char **argv);
int lf_cmd_profile(int argc, char **argv);

/* Exit codes: 0 ok, 1 failure (bad input, I/O), 2 usage error. */
enum { LF_EXIT_OK = 0, LF_EXIT_FAIL = 1, LF_EXIT_USAGE = 2 };

/* Installs the log sink (keeps the progress line intact) and the level from verbosity
 * (0: warnings, 1: info, 2+: debug). */
void lf_cli_logging(int verbosity);

/* Prints "lafov CMD: message" to stderr and returns LF_EXIT_FAIL. */
int lf_cli_fail(const char *cmd, const lf_error *err);
/* Prints a usage error plus "see lafov CMD --help" and returns LF_EXIT_USAGE. */
int lf_cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Progress bar with ETA on stderr, drawn only when stderr is a terminal and not quiet. */
typedef struct lf_cli_progress {
    const char *label;
    double t0, last_draw;
    int active;
} lf_cli_progress;

void lf_cli_progress_start(lf_cli_progress *p, const char *label);
void lf_cli_progress_cb(uint64_t done, uint64_t total, void *user); /* user = lf_cli_progress* */
void lf_cli_progress_end(lf_cli_progress *p);

double lf_cli_now(void);

#endif

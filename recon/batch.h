/* lafov recon: the job queue — a manifest's jobs (recon/batch_manifest.h) as concurrent processes.
 *
 *   lf_batch_opts o = {.exe = "/proc/self/exe", .state_dir = "jobs.batch", .workers = 2, .devices = "cpu"};
 *   lf_batch_run(&m, &o, &sum, &err);     // 0: the batch ran (sum.failed says whether every job did)
 *
 * Each job runs as a process, exe COMMAND ARGS... (fork/exec), in the manifest's folder, stdin from
 * /dev/null, stdout and stderr appended to STATE/logs/NAME.log (after a line naming the run), at most
 * `workers` at once; a failed job never stops the others. Devices ("cpu,cuda:0,cuda:1") are dealt to
 * the worker slots round robin (from slot_offset): a job of a command with --device (recon, project) that names none gets
 * `--device cpu`, or `--device cuda` with CUDA_VISIBLE_DEVICES=K; a CPU job gets OMP_NUM_THREADS =
 * cores / (CPU slots) unless the environment sets it.
 * STATE/batch.json is rewritten atomically on every change: per job its state (queued, running, done,
 * failed, skipped), command line, device, pid, start and end (UTC), wall seconds, exit code or signal,
 * log path, and why it was skipped.
 * Resumable: a job that exits 0 leaves STATE/done/NAME.done (atomic) holding its command line; a re-run
 * skips a job whose record holds the same command line, or a recon job whose --out is a finished frame
 * (recon/recon_output.h); any other recon job gets --resume (unless it says --force or --resume), so
 * one that was interrupted continues from its checkpoint. A batch killed outright loses only the jobs in
 * flight: they get SIGTERM as the batch dies (Linux PR_SET_PDEATHSIG). When *o->stop becomes non-zero
 * (the caller's signal handler), the running jobs get SIGTERM and are waited for and recorded failed
 * ("interrupted"), the queued ones stay queued, and lf_batch_run fails saying so.
 * ranks > 1 (MPI): job i belongs to rank i mod ranks; each rank runs its own jobs and writes
 * STATE/batch.rankR.json (R zero-padded to 3 digits); records and logs are shared (a common STATE).
 */
#ifndef LF_BATCH_H
#define LF_BATCH_H

#include <signal.h>

#include "../core/error.h"
#include "batch_manifest.h"

#define LF_BATCH_DEVICES_MAX 64

typedef struct lf_batch_opts {
    const char *exe;                 /* the program each job runs (lafov itself: "/proc/self/exe") */
    const char *state_dir;           /* batch.json, logs/, done/ (created) */
    int workers;                     /* concurrent jobs, >= 1 */
    const char *devices;             /* "cpu", "cuda:0,cuda:1", ...; NULL = "cpu" */
    int rank, ranks;                 /* 0, 1 without MPI (ranks 0 is taken as 1) */
    int slot_offset;                 /* slot s uses device (s + slot_offset) mod D: ranks sharing a host
                                        (offset local rank × workers) start on different devices */
    volatile sig_atomic_t *stop;     /* or NULL */
} lf_batch_opts;

typedef struct lf_batch_summary {
    int jobs;                        /* this rank's */
    int done, skipped, failed;
    double wall_s;
} lf_batch_summary;

/* A device list "cpu,cuda:0,cuda:1" ("cuda" = "cuda:0") into gpu[] (-1 = cpu); the count, -1 on error
 * naming --devices and the syntax. */
int lf_batch_parse_devices(const char *s, int *gpu, int cap, lf_error *err);

int lf_batch_run(const lf_batch_manifest *m, const lf_batch_opts *o, lf_batch_summary *sum, lf_error *err);

#endif

/* lafov batch MANIFEST [--workers N] [--devices LIST] [--state DIR]: a manifest of lafov jobs, run
 * concurrently on the local devices, resumable. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mpi_world.h"
#include "recon/batch.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void help(void)
{
    printf("usage: lafov batch MANIFEST [--workers N] [--devices LIST] [--state DIR] [-v]\n\n"
           "Runs the jobs of MANIFEST as concurrent lafov processes. A manifest line is NAME COMMAND ARGS...\n"
           "(a lafov command line without 'lafov'; '#' begins a comment; quotes as in the shell):\n"
           "    q1  recon q1.l --ct ct --out recon/q1\n"
           "    q2  thin scan.l --fraction 1/4 --replicate 2 --of 4 --seed 7 --out q2.l\n"
           "Jobs run in the manifest's folder (relative paths are relative to it), at most N at once; a\n"
           "failed job does not stop the others. Devices are dealt to the worker slots round robin: recon and\n"
           "project jobs without --device get --device cpu, or --device cuda with CUDA_VISIBLE_DEVICES=K.\n"
           "DIR/batch.json (rewritten atomically) gives every job's state (queued, running, done, failed,\n"
           "skipped), device, times and exit code; DIR/logs/NAME.log its output. Resumable: run it again and\n"
           "finished jobs (DIR/done/NAME.done, or a recon --out holding a finished image) are skipped; recon\n"
           "jobs run with --resume, so an interrupted one continues from its checkpoint. Ctrl-C stops the\n"
           "running jobs and records them failed. Exit code 1 when any job failed.\n"
           "  --workers N       concurrent jobs (default: the number of devices)\n"
           "  --devices LIST    cpu, cuda, cuda:K, comma-separated (default cpu)\n"
           "  --state DIR       batch.json, logs/, done/ (default: MANIFEST without its extension + '.batch')\n"
           "  -v, --verbose     log more (each job's start and end are always shown)\n\n"
           "Over several hosts: mpirun -n R lafov batch MANIFEST --state SHARED_DIR: job i runs on rank i mod R,\n"
           "each rank with its own workers and DIR/batch.rankRRR.json; rank 0 prints the sums.\n");
}

int lf_cmd_batch(int argc, char **argv)
{
    static const struct option opts[] = {{"workers", required_argument, 0, 'w'}, {"devices", required_argument, 0, 'd'},
                                         {"state", required_argument, 0, 'S'},   {"verbose", no_argument, 0, 'v'},
                                         {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    const char *devices = "cpu", *state = NULL;
    int workers = 0, verbose = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "w:d:S:vh", opts, NULL)) != -1) {
        switch (c) {
        case 'w': {
            char *e = NULL;
            errno = 0;
            long v = strtol(optarg, &e, 10);
            if (e == optarg || *e || errno || v < 1 || v > 4096)
                return lf_cli_usage("batch", "--workers '%s': expected an integer from 1 to 4096", optarg);
            workers = (int)v;
            break;
        }
        case 'd': devices = optarg; break;
        case 'S': state = optarg; break;
        case 'v': verbose++; break;
        case 'h': help(); return LF_EXIT_OK;
        default: return lf_cli_usage("batch", "unknown option");
        }
    }
    if (optind != argc - 1)
        return lf_cli_usage("batch", "expected one MANIFEST");
    lf_error err = {{0}};
    int gpu[LF_BATCH_DEVICES_MAX];
    int n_dev = lf_batch_parse_devices(devices, gpu, LF_BATCH_DEVICES_MAX, &err);
    if (n_dev < 0)
        return lf_cli_usage("batch", "%s", err.msg);
    const char *manifest = argv[optind];
    char state_buf[4200];
    if (!state) { /* jobs.txt -> jobs.batch */
        const char *slash = strrchr(manifest, '/'), *dot = strrchr(manifest, '.');
        int n = (dot && dot > (slash ? slash + 1 : manifest)) ? (int)(dot - manifest) : (int)strlen(manifest);
        snprintf(state_buf, sizeof state_buf, "%.*s.batch", n, manifest);
        state = state_buf;
    }
    lf_cli_logging(verbose + 1);
    lf_mpi_world w;
    lf_mpi_begin(&argc, &argv, &w);
    lf_batch_manifest m = {0};
    int rc = lf_batch_manifest_read(manifest, &m, &err);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (workers == 0)
        workers = n_dev;
    lf_batch_opts o = {.exe = "/proc/self/exe", .state_dir = state, .workers = workers, .devices = devices,
                       .rank = w.rank, .ranks = w.size, .slot_offset = w.local_rank * workers, .stop = &g_stop};
    lf_batch_summary s = {0};
    if (rc == 0)
        rc = lf_batch_run(&m, &o, &s, &err);
    lf_batch_manifest_free(&m);
    /* every rank takes part in the sums, whatever happened to it */
    int errors = lf_mpi_sum(&w, rc != 0), jobs = lf_mpi_sum(&w, s.jobs), done = lf_mpi_sum(&w, s.done);
    int skipped = lf_mpi_sum(&w, s.skipped), failed = lf_mpi_sum(&w, s.failed);
    int any_failed = errors > 0 || failed > 0;
    int mpi = w.mpi, rank = w.rank, size = w.size;
    lf_mpi_end(&w);
    if (rc != 0)
        return lf_cli_fail("batch", &err);
    if (size == 1)
        printf("batch %s: %d job(s): %d done, %d skipped (finished earlier), %d failed (%.1f s); status in "
               "%s/batch.json\n", manifest, jobs, done, skipped, failed, s.wall_s, state);
    else if (!mpi || rank == 0)
        printf("batch %s%s: %d job(s): %d done, %d skipped (finished earlier), %d failed%s (%.1f s); status in "
               "%s/batch.rank*.json\n", manifest, mpi ? "" : " (this rank)", jobs, done, skipped, failed,
               errors ? ", a rank stopped with an error" : "", s.wall_s, state);
    if (!mpi && size > 1)
        printf("rank %d of %d (from the launcher's environment, without MPI: each rank reports its own jobs)\n", rank, size);
    return any_failed ? LF_EXIT_FAIL : LF_EXIT_OK;
}

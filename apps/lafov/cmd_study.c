/* lafov study PLAN --out DIR [--workers N] [--devices LIST] [--force]: a dose / time protocol study —
 * one plan, a grid of thinned and truncated virtual scans reconstructed through the batch queue and
 * measured (recon/study.h). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "io/atomic_file.h"
#include "mpi_world.h"
#include "recon/batch.h"
#include "recon/study.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void help(void)
{
    printf("usage: lafov study PLAN --out DIR [--workers N] [--devices LIST] [--force] [-v]\n\n"
           "A dose / time protocol study: each acquisition of PLAN thinned to the activity fractions (disjoint\n"
           "replicates, lafov thin) and truncated to the durations (--frames START-START+D), every virtual scan\n"
           "reconstructed with the plan's settings through the batch queue (one sensitivity image for the grid,\n"
           "in DIR/cache or the plan's `sensitivity cache`), then measured: ROI statistics of image_suv.nii.gz\n"
           "over a label image (SUVmean, SUVmax, SUVpeak, COV, contrast and CNR against a background label) or\n"
           "NEMA image quality of image_bqml.nii.gz.\n"
           "Writes DIR/results.csv (one row per virtual scan and region), DIR/report.md (the grid, means +- SD\n"
           "over the replicates, the plan's comparison) and DIR/plots/METRIC.png. Resumable: run it again and\n"
           "finished jobs are skipped (thinned streams and images are written atomically); a killed study loses\n"
           "only the jobs in flight. PLAN (key := value lines, docs/protocol.md):\n"
           "    metric := roi\n"
           "    labels := sim/truth_labels.nii.gz\n"
           "    background label := 1\n"
           "    recon options := --no-attenuation --iterations 2 --voxel-mm 4\n"
           "    acquisition := low\n"
           "    list mode := sim/acq.l\n"
           "    fractions := 1, 0.5, 0.25\n"
           "    durations (s) := 1200, 600, 300\n"
           "  --out DIR         the study folder: plan.txt, thin/, recon/, cache/, batch/, results.csv, report.md, plots/\n"
           "  --workers N       concurrent jobs (default: the number of devices)\n"
           "  --devices LIST    cpu, cuda, cuda:K, comma-separated (default cpu)\n"
           "  --force           take over a DIR that holds another plan (finished jobs still matching are kept)\n"
           "  -v, --verbose     log more\n\n"
           "Over several hosts (an MPI build): mpirun -n R lafov study PLAN --out SHARED_DIR: each phase's job i\n"
           "runs on rank i mod R; the ranks wait for each other between phases; rank 0 measures and writes.\n");
}

int lf_cmd_study(int argc, char **argv)
{
    static const struct option opts[] = {{"out", required_argument, 0, 'o'},     {"workers", required_argument, 0, 'w'},
                                         {"devices", required_argument, 0, 'd'}, {"force", no_argument, 0, 'f'},
                                         {"verbose", no_argument, 0, 'v'},       {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *devices = "cpu", *out = NULL;
    int workers = 0, verbose = 0, force = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:w:d:fvh", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'w': {
            char *e = NULL;
            errno = 0;
            long v = strtol(optarg, &e, 10);
            if (e == optarg || *e || errno || v < 1 || v > 4096)
                return lf_cli_usage("study", "--workers '%s': expected an integer from 1 to 4096", optarg);
            workers = (int)v;
            break;
        }
        case 'd': devices = optarg; break;
        case 'f': force = 1; break;
        case 'v': verbose++; break;
        case 'h': help(); return LF_EXIT_OK;
        default: return lf_cli_usage("study", "unknown option");
        }
    }
    if (optind != argc - 1)
        return lf_cli_usage("study", "expected one PLAN");
    if (!out)
        return lf_cli_usage("study", "--out DIR is required");
    lf_error err = {{0}};
    int gpu[LF_BATCH_DEVICES_MAX];
    int n_dev = lf_batch_parse_devices(devices, gpu, LF_BATCH_DEVICES_MAX, &err);
    if (n_dev < 0)
        return lf_cli_usage("study", "%s", err.msg);
    if (workers == 0)
        workers = n_dev;
    const char *plan_path = argv[optind];
    lf_cli_logging(verbose + 1);

    lf_mpi_world w;
    lf_mpi_begin(&argc, &argv, &w);
    lf_study_plan *p = calloc(1, sizeof *p);
    lf_study_grid g;
    memset(&g, 0, sizeof g);
    char abs[4096] = "", state[4200];
    int rc = p ? lf_study_plan_read(plan_path, p, &err) : lf_fail(&err, "out of memory");
    if (rc == 0 && w.size > 1 && !w.mpi)
        rc = lf_fail(&err, "%d ranks from the launcher, but this lafov is built without MPI: the ranks could not wait "
                     "for each other between the study's phases (use one process, or an MPI build)", w.size);
    if (rc == 0 && w.rank == 0)
        rc = lf_study_claim(plan_path, out, force, &err);
    /* rank 0 has made DIR; the others find it after this */
    int errors = lf_mpi_sum(&w, rc != 0);
    if (rc == 0 && errors)
        rc = lf_fail(&err, "another rank stopped with an error");
    if (rc == 0 && !realpath(out, abs))
        rc = lf_fail(&err, "%s: cannot resolve the study folder: %s", out, strerror(errno));
    if (rc == 0)
        rc = lf_study_grid_make(p, abs, &g, &err);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    lf_batch_opts o = {.exe = "/proc/self/exe", .workers = workers, .devices = devices, .rank = w.rank,
                       .ranks = w.size, .slot_offset = w.local_rank * workers, .stop = &g_stop};
    lf_batch_summary st = {0}, sr = {0};
    errors = lf_mpi_sum(&w, rc != 0); /* every rank has its grid before any job runs */
    if (rc == 0 && errors)
        rc = lf_fail(&err, "another rank stopped with an error");
    if (rc == 0 && g.thin.n > 0) {
        snprintf(state, sizeof state, "%s/batch/thin", abs);
        o.state_dir = state;
        rc = lf_batch_run(&g.thin, &o, &st, &err);
    }
    errors = lf_mpi_sum(&w, rc != 0); /* the thinned streams of every rank exist before any recon runs */
    if (rc == 0 && errors)
        rc = lf_fail(&err, "another rank stopped with an error");
    if (rc == 0) {
        snprintf(state, sizeof state, "%s/batch/recon", abs);
        o.state_dir = state;
        rc = lf_batch_run(&g.recon, &o, &sr, &err);
    }
    int failed = lf_mpi_sum(&w, st.failed + sr.failed), done = lf_mpi_sum(&w, st.done + sr.done);
    int skipped = lf_mpi_sum(&w, st.skipped + sr.skipped);
    errors = lf_mpi_sum(&w, rc != 0);
    if (rc == 0 && errors)
        rc = lf_fail(&err, "another rank stopped with an error");
    int rank = w.rank;
    lf_mpi_end(&w);
    lf_study_results res = {0};
    if (rc == 0 && rank == 0) {
        rc = lf_study_measure(p, &g, &res, &err);
        if (rc == 0)
            rc = lf_study_write(p, &g, &res, &err);
        if (rc == 0)
            printf("study %s: %d virtual scan(s): jobs %d done, %d skipped (finished earlier), %d failed; %d measured, "
                   "%d without an image\nwrote %s/results.csv, %s/report.md, %s/plots/ (jobs' state in %s/batch/)\n",
                   plan_path, g.n, done, skipped, failed, res.measured, res.missing, out, out, out, out);
    }
    int missing = res.missing;
    lf_study_results_free(&res);
    lf_study_grid_free(&g);
    free(p);
    if (rc != 0)
        return lf_cli_fail("study", &err);
    return failed > 0 || missing > 0 ? LF_EXIT_FAIL : LF_EXIT_OK;
}

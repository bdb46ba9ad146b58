/* lafov recon ACQ --ct CT --out DIR: TOF list-mode OSEM with CT attenuation, in Bq/mL and SUV.
 * Options only; the work is recon/recon.h's lf_recon_run. */
#include <getopt.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mpi_world.h"
#include "core/log.h"
#include "recon/frames.h"
#include "recon/recon.h"

static void help(void)
{
    printf(
        "usage: lafov recon ACQ --ct CT --out DIR [--kvp K] [--frames WINDOWS] [--exclude WINDOWS]\n"
        "                  [--gate resp:N|cardiac:N] [--iterations 4] [--subsets 5]\n"
        "                  [--voxel-mm 3.3 | --grid NX,NY,NZ,DX] [--mrd M]\n"
        "                  [--device cpu|cuda] [--psf-mm FWHM] [--postfilter-mm FWHM] [--no-attenuation]\n"
        "                  [--no-tof] [--no-randoms] [--no-scatter] [--decay-ref scan-start|injection] [--force | --resume]\n\n"
        "TOF list-mode OSEM of a list-mode acquisition (Quadra-style 64-bit or PETLINK 32-bit) with attenuation\n"
        "from its CT, in Bq/mL (decay-corrected to the scan start, or the injection) and SUVbw.\n"
        "  ACQ                 the data file (.l), its header (.l.hdr) or a .ptd\n"
        "  --ct CT             DICOM CT folder or NIfTI in HU (scanner frame, quadra-stream.md \"CT\")\n"
        "  --kvp K             tube voltage; default: the DICOM KVP tag or the NIfTI descrip kvp=, else 120\n"
        "  --frames WINDOWS    START-END in seconds or m:ss, comma-separated for several frames (each its\n"
        "                      own image in DIR/frame_NN); NxD for N frames of D s; default: everything\n"
        "                      auto: the longest still window lafov motion finds in the data; auto-all: each\n"
        "                      (--motion-resolution-s, --motion-min-segment-s, --motion-min-window-s: its settings)\n"
        "  --exclude WINDOWS   time windows left out of every frame (e.g. minutes with motion)\n"
        "  --gate resp:N       N respiratory phase gates from the stream's trigger tags (cardiac:N: ECG R-wave),\n"
        "                      within the kept minutes; each gate an image in DIR/frame_NN\n"
        "  --iterations N      default 4;  --subsets M  default 5 (subsets by event interleaving)\n"
        "  --voxel-mm V        isotropic voxels of V mm over the scanner's FOV (default 3.3)\n"
        "  --grid NX,NY,NZ,DX  explicit grid, centred on the scanner\n"
        "  --mrd M             maximum ring difference (default: the stream's; cannot exceed it)\n"
        "  --device D          cpu (default) or cuda for the projections\n"
        "  --psf-mm FWHM       image-space PSF model (Gaussian) inside OSEM\n"
        "  --postfilter-mm F   Gaussian post-filter of the final image\n"
        "  --mumap-fwhm-mm F   CT smoothing to PET resolution (default 4)\n"
        "  --no-attenuation    no attenuation correction (not quantitative)\n"
        "  --no-tof            ignore TOF\n"
        "  --no-randoms        no randoms correction (default: randoms from each frame's delayeds, ML crystal\n"
        "                      singles, flat in TOF; docs/randoms.md); the scatter tail fit still uses them\n"
        "  --no-scatter        no scatter correction (default: TOF single scatter simulation scaled by a tail\n"
        "                      fit, estimated 3 times within 6 preliminary iterations; docs/scatter.md; off\n"
        "                      with --no-attenuation)\n"
        "  --decay-ref R       scan-start (default) or injection\n"
        "  --norm NORM_DIR     normalisation from lafov norm: crystal efficiencies and the cross-calibrated\n"
        "                      efficiency (default: uniform efficiencies, the scanner file's nominal calibration)\n"
        "  --scanner NAME      scanner file instead of the header's originating system\n"
        "  --cache-dir DIR     sensitivity cache (default $LAFOV_CACHE_DIR, else ~/.cache/lafov)\n"
        "  --force             overwrite results already in DIR\n"
        "  --resume            keep finished frames in DIR and continue interrupted ones from their checkpoint\n"
        "  --threads N         OpenMP threads;  -v  more log;  --json  a summary on stdout\n"
        "  mpirun -n R lafov recon ...   one reconstruction over R processes (built with MPI): each takes its\n"
        "                      share of the events, the back projections are summed (all-reduce); CPU only;\n"
        "                      rank 0 writes the outputs\n"
        "Writes (per frame): image_bqml.nii.gz, image_suv.nii.gz, mumap.nii.gz, recon.h5, mip.png,\n"
        "slices.png, and DIR/recon.log; with several frames DIR/frame_NN/ and DIR/frames.json.\n"
        "Corrections: attenuation (CT), randoms (delayeds), scatter (TOF SSS), normalisation (--norm).\n");
}

typedef struct stage_bar {
    lf_cli_progress p;
    char label[64];
    int open;
} stage_bar;

static void on_progress(void *user, const char *stage, double done, double total)
{
    stage_bar *b = user;
    if (!b->open || strcmp(b->label, stage) != 0) {
        if (b->open)
            lf_cli_progress_end(&b->p);
        snprintf(b->label, sizeof b->label, "%s", stage);
        lf_cli_progress_start(&b->p, b->label);
        b->open = 1;
    }
    const double scale = total > 0 ? 1e6 / total : 0;
    lf_cli_progress_cb((uint64_t)(done * scale), (uint64_t)(total * scale), &b->p);
}

enum {
    O_CT = 256, O_KVP, O_FRAMES, O_EXCLUDE, O_IT, O_SUB, O_VOX, O_GRID, O_MRD, O_DEV, O_PSF, O_POST, O_MUF, O_NOATT,
    O_NOTOF, O_DREF, O_SCANNER, O_CACHE, O_FORCE, O_RESUME, O_THREADS, O_JSON, O_OUT, O_PROJ, O_GATE,
    O_MRES, O_MSEG, O_MWIN, O_NORM,
    O_NORND,
    O_NOSCAT
};

static int parse_double(const char *s, double lo, double hi, double *v)
{
    char *end;
    double x = strtod(s, &end);
    if (end == s || *end || !(x >= lo && x <= hi))
        return -1;
    *v = x;
    return 0;
}

int lf_cmd_recon(int argc, char **argv)
{
    static const struct option opts[] = {
        {"ct", required_argument, 0, O_CT},          {"kvp", required_argument, 0, O_KVP},
        {"frames", required_argument, 0, O_FRAMES},  {"exclude", required_argument, 0, O_EXCLUDE},
        {"iterations", required_argument, 0, O_IT},  {"subsets", required_argument, 0, O_SUB},
        {"voxel-mm", required_argument, 0, O_VOX},   {"grid", required_argument, 0, O_GRID},
        {"mrd", required_argument, 0, O_MRD},        {"device", required_argument, 0, O_DEV},
        {"psf-mm", required_argument, 0, O_PSF},     {"postfilter-mm", required_argument, 0, O_POST},
        {"mumap-fwhm-mm", required_argument, 0, O_MUF}, {"no-attenuation", no_argument, 0, O_NOATT},
        {"no-tof", no_argument, 0, O_NOTOF},         {"decay-ref", required_argument, 0, O_DREF},
        {"norm", required_argument, 0, O_NORM},
        {"no-randoms", no_argument, 0, O_NORND}, {"no-scatter", no_argument, 0, O_NOSCAT},
        {"scanner", required_argument, 0, O_SCANNER}, {"cache-dir", required_argument, 0, O_CACHE},
        {"force", no_argument, 0, O_FORCE},          {"resume", no_argument, 0, O_RESUME},
        {"threads", required_argument, 0, O_THREADS}, {"json", no_argument, 0, O_JSON},
        {"out", required_argument, 0, O_OUT},        {"projector", required_argument, 0, O_PROJ},
        {"gate", required_argument, 0, O_GATE},
        {"motion-resolution-s", required_argument, 0, O_MRES}, {"motion-min-segment-s", required_argument, 0, O_MSEG},
        {"motion-min-window-s", required_argument, 0, O_MWIN},
        {"verbose", no_argument, 0, 'v'},            {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    lf_recon_opts o;
    lf_recon_opts_default(&o);
    int verbose = 0, json = 0, threads = 0, c;
    lf_error err = {{0}};
    optind = 1;
    while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
        double x;
        char tail;
        switch (c) {
        case O_CT: o.ct = optarg; break;
        case O_KVP:
            if (parse_double(optarg, 20, 200, &o.kvp) != 0)
                return lf_cli_usage("recon", "--kvp '%s': expected a tube voltage in kV (20-200)", optarg);
            break;
        case O_FRAMES: o.frames = optarg; break;
        case O_EXCLUDE: o.exclude = optarg; break;
        case O_GATE: {
            int ty, ng;
            if (lf_gate_parse(optarg, &ty, &ng, &err) != 0)
                return lf_cli_usage("recon", "%s", err.msg);
            o.gate = optarg;
            break;
        }
        case O_IT:
            if (parse_double(optarg, 1, 1000, &x) != 0 || x != (int)x)
                return lf_cli_usage("recon", "--iterations '%s': expected a whole number 1-1000", optarg);
            o.iterations = (int)x;
            break;
        case O_SUB:
            if (parse_double(optarg, 1, 1000, &x) != 0 || x != (int)x)
                return lf_cli_usage("recon", "--subsets '%s': expected a whole number 1-1000", optarg);
            o.subsets = (int)x;
            break;
        case O_VOX:
            if (parse_double(optarg, 0.5, 50, &o.voxel_mm) != 0)
                return lf_cli_usage("recon", "--voxel-mm '%s': expected 0.5 to 50 mm", optarg);
            break;
        case O_GRID:
            if (sscanf(optarg, "%d,%d,%d,%lf%c", &o.grid_n[0], &o.grid_n[1], &o.grid_n[2], &o.grid_voxel_mm, &tail) != 4 ||
                o.grid_n[0] < 1 || o.grid_n[1] < 1 || o.grid_n[2] < 1 || o.grid_n[0] > 2048 || o.grid_n[1] > 2048 ||
                o.grid_n[2] > 2048 || !(o.grid_voxel_mm >= 0.5 && o.grid_voxel_mm <= 50))
                return lf_cli_usage("recon", "--grid '%s': expected NX,NY,NZ,DX (voxels 1-2048, DX 0.5-50 mm)", optarg);
            break;
        case O_MRD:
            if (parse_double(optarg, 0, 100000, &x) != 0 || x != (int)x)
                return lf_cli_usage("recon", "--mrd '%s': expected a whole number >= 0", optarg);
            o.mrd = (int)x;
            break;
        case O_DEV:
            if (lf_device_parse(optarg, &o.device, &err) != 0)
                return lf_cli_usage("recon", "--device: %s", err.msg);
            break;
        case O_PROJ:
            if (lf_proj_kind_parse(optarg, &o.projector, &err) != 0)
                return lf_cli_usage("recon", "--projector: %s", err.msg);
            break;
        case O_PSF:
            if (parse_double(optarg, 0, 30, &o.psf_mm) != 0)
                return lf_cli_usage("recon", "--psf-mm '%s': expected 0 to 30 mm", optarg);
            break;
        case O_POST:
            if (parse_double(optarg, 0, 50, &o.postfilter_mm) != 0)
                return lf_cli_usage("recon", "--postfilter-mm '%s': expected 0 to 50 mm", optarg);
            break;
        case O_MUF:
            if (parse_double(optarg, 0, 50, &o.mumap_fwhm_mm) != 0)
                return lf_cli_usage("recon", "--mumap-fwhm-mm '%s': expected 0 to 50 mm", optarg);
            break;
        case O_MRES:
        case O_MSEG:
        case O_MWIN:
            if (parse_double(optarg, 1e-3, 1e6, &x) != 0)
                return lf_cli_usage("recon", "--%s '%s': expected seconds > 0",
                                    c == O_MRES ? "motion-resolution-s" : c == O_MSEG ? "motion-min-segment-s" : "motion-min-window-s",
                                    optarg);
            if (c == O_MRES)
                o.motion_resolution_s = x;
            else if (c == O_MSEG)
                o.motion_min_segment_s = x;
            else
                o.motion_min_window_s = x;
            break;
        case O_NOATT: o.no_attenuation = 1; break;
        case O_NOTOF: o.no_tof = 1; break;
        case O_NORM: o.norm_dir = optarg; break;
        case O_NORND: o.no_randoms = 1; break;
        case O_NOSCAT: o.no_scatter = 1; break;
        case O_DREF:
            if (lf_decay_ref_parse(optarg, &o.decay_ref, &err) != 0)
                return lf_cli_usage("recon", "--decay-ref: %s", err.msg);
            break;
        case O_SCANNER: o.scanner = optarg; break;
        case O_CACHE: o.cache_dir = optarg; break;
        case O_FORCE: o.force = 1; break;
        case O_RESUME: o.resume = 1; break;
        case O_THREADS:
            if (parse_double(optarg, 1, 1024, &x) != 0 || x != (int)x)
                return lf_cli_usage("recon", "--threads '%s': expected a whole number >= 1", optarg);
            threads = (int)x;
            break;
        case O_JSON: json = 1; break;
        case O_OUT: o.out_dir = optarg; break;
        case 'v': verbose++; break;
        case 'h': help(); return LF_EXIT_OK;
        default: return lf_cli_usage("recon", "unknown option");
        }
    }
    if (optind != argc - 1)
        return lf_cli_usage("recon", optind >= argc ? "expected one acquisition (ACQ)" : "expected one acquisition, got '%s' too",
                            optind < argc - 1 ? argv[optind + 1] : "");
    o.acq = argv[optind];
    if (!o.out_dir)
        return lf_cli_usage("recon", "--out DIR is required");
    if (!o.ct && !o.no_attenuation)
        return lf_cli_usage("recon", "--ct CT is required (or --no-attenuation)");
    if (o.ct && o.no_attenuation)
        return lf_cli_usage("recon", "--ct and --no-attenuation contradict each other");
    if (o.force && o.resume)
        return lf_cli_usage("recon", "--force and --resume contradict each other");
    if (threads > 0)
        omp_set_num_threads(threads);
    lf_mpi_world w;
    lf_mpi_begin(&argc, &argv, &w);
    if (w.size > 1 && !w.mpi) {
        lf_mpi_end(&w);
        return lf_cli_usage("recon", "started as %d processes, but this lafov was built without MPI: run one process, "
                                     "or rebuild with MPI (libopenmpi-dev; cmake -DLAFOV_MPI=ON)", w.size);
    }
    if (w.size > 1) { /* one reconstruction split over the ranks: events divided, back projections summed */
        o.rank = w.rank;
        o.ranks = w.size;
        o.reduce = lf_mpi_allreduce_floats;
        o.reduce_user = &w;
    }
    lf_cli_logging(w.rank == 0 ? (verbose > 0 ? verbose : 1) : 0);
    stage_bar bar = {0};
    o.progress = on_progress;
    o.user = &bar;
    lf_recon_summary s;
    int rc = lf_recon_run(&o, &s, &err);
    if (bar.open)
        lf_cli_progress_end(&bar.p);
    if (rc != 0) {
        lf_cli_fail("recon", &err);
        lf_mpi_abort(&w, LF_EXIT_FAIL); /* the other ranks may be waiting in an all-reduce */
        lf_mpi_end(&w);
        return LF_EXIT_FAIL;
    }
    const int rank = w.rank;
    lf_mpi_end(&w);
    if (rank != 0)
        return LF_EXIT_OK;
    if (json) {
        printf("{\"frames\": %d, \"prompts_used\": %llu, \"prompts_outside_mrd\": %llu, \"seconds_read\": %.3f, "
               "\"seconds_mumap\": %.3f, \"seconds_sensitivity\": %.3f, \"seconds_scatter\": %.3f, \"seconds_osem\": %.3f, "
               "\"sensitivity_cached\": %s, \"seconds_iteration\": [",
               s.frames, (unsigned long long)s.prompts_used, (unsigned long long)s.prompts_outside_mrd, s.seconds_read,
               s.seconds_mumap, s.seconds_sensitivity, s.seconds_scatter, s.seconds_osem, s.sensitivity_cached ? "true" : "false");
        for (int i = 0; i < s.iterations_timed; i++)
            printf("%s%.3f", i ? ", " : "", s.seconds_iteration[i]);
        printf("]}\n");
    } else
        printf("wrote %s: %d frame(s), %llu prompts; read %.1f s, mu-map %.1f s, sensitivity %.1f s%s, scatter %.1f s, OSEM %.1f s\n",
               o.out_dir, s.frames, (unsigned long long)s.prompts_used, s.seconds_read, s.seconds_mumap,
               s.seconds_sensitivity, s.sensitivity_cached ? " (cached)" : "", s.seconds_scatter, s.seconds_osem);
    return LF_EXIT_OK;
}

/* lafov: one executable, subcommands driven by options (lafov CMD --help). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "kernels/device.h"

static const lf_cli_cmd commands[] = {
    {"info", lf_cmd_info, "summarise a list-mode file: scanner, counts, tags, time, count rate"},
    {"simulate", lf_cmd_simulate, "Monte-Carlo acquisition of a phantom: 64-bit stream, truth images, low-dose CT"},
    {"view", lf_cmd_view, "one slice of a NIfTI volume (CT, truth, reconstruction) as a PNG"},
    {"qc", lf_cmd_qc, "detector QC: per-crystal fan sums (CSV), crystal x ring map (PNG), dead crystals/blocks"},
    {"norm", lf_cmd_norm, "normalisation from a uniform-cylinder scan: crystal efficiencies, cross-calibration (norm folder)"},
    {"recon", lf_cmd_recon, "TOF list-mode OSEM with CT attenuation: Bq/mL and SUV images, recon.h5, MIP"},
    {"roi", lf_cmd_roi, "ROI statistics per label: mean, SD, COV, peak, recovery against a truth image (CSV)"},
    {"export", lf_cmd_export, "the events of chosen time windows as a new 64-bit stream (every time marker and tag kept)"},
    {"motion", lf_cmd_motion, "data-driven motion detection: count rate and centroid traces, change points, stable windows"},
    {"thin", lf_cmd_thin, "binomial thinning: a lower-dose copy of a 64-bit stream, or one of n disjoint replicates"},
    {"batch", lf_cmd_batch, "run a manifest of lafov jobs concurrently on local devices; resumable (batch.json, logs)"},
    {"study", lf_cmd_study, "dose/time protocol study: thin and truncate a scan into a grid, reconstruct, measure"},
    {"profile", lf_cmd_profile, "axial profile of an image through a disc: peak, edges, FWHM (a doubled organ, an organ edge)"},
    {"nema", lf_cmd_nema, "NEMA NU 2-2018 image quality of an IEC phantom image: contrast recovery, background variability"},
    {"project", lf_cmd_project, "forward / back projection of an image along given LORs (TOF or not; CPU or CUDA)"},
};

static void usage(FILE *f)
{
    fprintf(f,
            "lafov %s: list-mode PET reconstruction for long-axial-field-of-view scanners\n\n"
            "usage: lafov [--version] [--help] COMMAND [options]\n\ncommands:\n",
            LAFOV_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nEvery command takes --help and -v/--verbose (repeat for more detail).\n"
               "Scanner descriptions are read from data/scanners (override: LAFOV_SCANNER_DIR or --scanner FILE).\n");
}

static void version(void)
{
    printf("lafov %s\n", LAFOV_VERSION);
    int n = lf_cuda_device_count();
    if (!lf_cuda_built()) {
        printf("CUDA: not built (CPU only)\n");
    } else if (n == 0) {
        printf("CUDA: built; no GPU found (everything runs on the CPU)\n");
    } else {
        for (int i = 0; i < n; i++) {
            char d[256];
            lf_cuda_describe(i, d, sizeof d);
            printf("CUDA device %d: %s\n", i, d);
        }
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return LF_EXIT_USAGE;
    }
    const char *c = argv[1];
    if (!strcmp(c, "--help") || !strcmp(c, "-h") || !strcmp(c, "help")) {
        usage(stdout);
        return LF_EXIT_OK;
    }
    if (!strcmp(c, "--version") || !strcmp(c, "version")) {
        version();
        return LF_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(c, commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "lafov: unknown command '%s'\n\n", c);
    usage(stderr);
    return LF_EXIT_USAGE;
}

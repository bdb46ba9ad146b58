/* lafov norm ACQ --ct CT --out NORM_DIR: crystal efficiencies and cross-calibration from a uniform cylinder.
 * Options only; the work is recon/norm.h's lf_norm_make. */
#include <getopt.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/log.h"
#include "recon/norm.h"

static void help(void)
{
    printf(
        "usage: lafov norm ACQ --ct CT --out NORM_DIR [--kvp K] [--iterations 3] [--subsets 5] [--voxel-mm 4]\n"
        "                 [--fit-iterations 500] [--calibration-mrd M1,M2,...] [--device cpu|cuda] [--scanner NAME]\n"
        "                 [--cache-dir DIR] [--force]\n\n"
        "A normalisation from a scan of a uniform cylinder on the scanner axis (docs/norm.md): crystal\n"
        "efficiencies by maximum-likelihood fan sums (prompts - delayeds) against the cylinder's expected counts\n"
        "(detector response x attenuation x chord, geometry and mu from the CT), then a cross-calibration: the\n"
        "scan reconstructed with those efficiencies must give the cylinder's true concentration (the header's\n"
        "activity at injection, decayed to the scan start, over the CT volume above -500 HU).\n"
        "  ACQ                the cylinder's list mode (.l, .l.hdr or .ptd); its header gives the activity\n"
        "  --ct CT            its CT: DICOM folder or NIfTI in HU\n"
        "  --out NORM_DIR     the norm folder: norm.json, crystal_efficiency.csv, qc_cylinder_bqml.nii.gz\n"
        "  --kvp K            tube voltage (default: the CT's, else 120)\n"
        "  --iterations N, --subsets M, --voxel-mm V   the calibration reconstruction (default 3, 5, 4 mm)\n"
        "  --fit-iterations N most iterations of the fan-sum fit (default 500)\n"
        "  --calibration-mrd LIST  cross-calibrate at these maximum ring differences, one calibration\n"
        "                     reconstruction each (default: the acquisition's); lafov recon uses the one of its\n"
        "                     MRD, e.g. 322,85 for the Quadra's UHS and HS modes (the first is the main one)\n"
        "  --device D         cpu (default) or cuda for the calibration reconstruction\n"
        "  --scanner NAME     scanner file instead of the header's originating system\n"
        "  --cache-dir DIR    sensitivity cache (as lafov recon)\n"
        "  --force            replace a norm already in NORM_DIR\n"
        "  --threads N        OpenMP threads;  -v  more log;  --json  the numbers on stdout\n"
        "Use it with: lafov recon SCAN --ct CT --norm NORM_DIR --out DIR\n");
}

enum { O_CT = 256, O_OUT, O_KVP, O_IT, O_SUB, O_VOX, O_FIT, O_DEV, O_SCANNER, O_CACHE, O_FORCE, O_THREADS, O_JSON, O_CALMRD };

static int parse_num(const char *s, double lo, double hi, int whole, double *v)
{
    char *end;
    double x = strtod(s, &end);
    if (end == s || *end || !(x >= lo && x <= hi) || (whole && x != (long)x))
        return -1;
    *v = x;
    return 0;
}

int lf_cmd_norm(int argc, char **argv)
{
    static const struct option opts[] = {
        {"ct", required_argument, 0, O_CT},           {"out", required_argument, 0, O_OUT},
        {"kvp", required_argument, 0, O_KVP},         {"iterations", required_argument, 0, O_IT},
        {"subsets", required_argument, 0, O_SUB},     {"voxel-mm", required_argument, 0, O_VOX},
        {"fit-iterations", required_argument, 0, O_FIT}, {"device", required_argument, 0, O_DEV},
        {"scanner", required_argument, 0, O_SCANNER}, {"cache-dir", required_argument, 0, O_CACHE},
        {"force", no_argument, 0, O_FORCE},           {"threads", required_argument, 0, O_THREADS},
        {"json", no_argument, 0, O_JSON},             {"verbose", no_argument, 0, 'v'},
        {"calibration-mrd", required_argument, 0, O_CALMRD},
        {"help", no_argument, 0, 'h'},                {0, 0, 0, 0}};
    lf_norm_opts o;
    lf_norm_opts_default(&o);
    int verbose = 0, json = 0, threads = 0, c;
    lf_error err = {{0}};
    optind = 1;
    while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
        double x;
        switch (c) {
        case O_CT: o.ct = optarg; break;
        case O_OUT: o.out_dir = optarg; break;
        case O_KVP:
            if (parse_num(optarg, 20, 200, 0, &o.kvp) != 0)
                return lf_cli_usage("norm", "--kvp '%s': expected a tube voltage in kV (20-200)", optarg);
            break;
        case O_IT:
        case O_SUB:
            if (parse_num(optarg, 1, 1000, 1, &x) != 0)
                return lf_cli_usage("norm", "--%s '%s': expected a whole number 1-1000", c == O_IT ? "iterations" : "subsets",
                                    optarg);
            if (c == O_IT)
                o.iterations = (int)x;
            else
                o.subsets = (int)x;
            break;
        case O_VOX:
            if (parse_num(optarg, 0.5, 50, 0, &o.voxel_mm) != 0)
                return lf_cli_usage("norm", "--voxel-mm '%s': expected 0.5 to 50 mm", optarg);
            break;
        case O_FIT:
            if (parse_num(optarg, 1, 100000, 1, &x) != 0)
                return lf_cli_usage("norm", "--fit-iterations '%s': expected a whole number 1-100000", optarg);
            o.fit_iterations = (int)x;
            break;
        case O_DEV:
            if (lf_device_parse(optarg, &o.device, &err) != 0)
                return lf_cli_usage("norm", "--device: %s", err.msg);
            break;
        case O_SCANNER: o.scanner = optarg; break;
        case O_CACHE: o.cache_dir = optarg; break;
        case O_FORCE: o.force = 1; break;
        case O_THREADS:
            if (parse_num(optarg, 1, 1024, 1, &x) != 0)
                return lf_cli_usage("norm", "--threads '%s': expected a whole number >= 1", optarg);
            threads = (int)x;
            break;
        case O_JSON: json = 1; break;
        case O_CALMRD: {
            o.n_cal_mrd = 0;
            const char *q = optarg;
            for (;;) {
                char *end;
                long v = strtol(q, &end, 10);
                if (end == q || v < 0 || v > 100000 || (*end && *end != ','))
                    return lf_cli_usage("norm", "--calibration-mrd '%s': expected maximum ring differences separated by "
                                        "commas, e.g. 322,85", optarg);
                if (o.n_cal_mrd == LF_NORM_MAX_CAL)
                    return lf_cli_usage("norm", "--calibration-mrd '%s': at most %d values", optarg, LF_NORM_MAX_CAL);
                o.cal_mrd[o.n_cal_mrd++] = (int)v;
                if (!*end)
                    break;
                q = end + 1;
            }
            break;
        }
        case 'v': verbose++; break;
        case 'h': help(); return LF_EXIT_OK;
        default: return lf_cli_usage("norm", "unknown option");
        }
    }
    if (optind != argc - 1)
        return lf_cli_usage("norm", optind >= argc ? "expected one acquisition (ACQ)" : "expected one acquisition, got '%s' too",
                            optind < argc - 1 ? argv[optind + 1] : "");
    o.acq = argv[optind];
    if (!o.ct)
        return lf_cli_usage("norm", "--ct CT is required (the cylinder's geometry, volume and attenuation)");
    if (!o.out_dir)
        return lf_cli_usage("norm", "--out NORM_DIR is required");
    if (threads > 0)
        omp_set_num_threads(threads);
    lf_cli_logging(verbose > 0 ? verbose : 1);
    lf_norm_qc q;
    if (lf_norm_make(&o, &q, &err) != 0)
        return lf_cli_fail("norm", &err);
    const int nc = o.n_cal_mrd > 0 ? o.n_cal_mrd : 1;
    if (json) {
        printf("{\"crystals_fitted\": %d, \"fit_iterations\": %d, \"mean_counts_per_crystal\": %.6g, "
               "\"efficiency_sd\": %.6g, \"expected_efficiency_noise\": %.6g, \"true_bqml\": %.8g, "
               "\"measured_bqml\": %.8g, \"cross_calibration_factor\": %.8g, \"volume_ml\": %.6g, "
               "\"axial_slab_max_deviation\": %.6g, \"seconds_fit\": %.3f, \"seconds_recon\": %.3f, "
               "\"cross_calibration_factor_by_mrd\": {",
               q.fit.n_fitted, q.fit.iterations, q.mean_counts_per_crystal, q.eff_sd, q.expected_eff_noise, q.true_bqml,
               q.measured_bqml, q.true_bqml / q.measured_bqml, q.cyl.volume_ml, q.axial_slab_max_dev, q.seconds_fit,
               q.seconds_recon);
        for (int c = 0; c < nc; c++)
            printf("%s\"%d\": %.8g", c ? ", " : "", o.n_cal_mrd > 0 ? o.cal_mrd[c] : q.mrd,
                   q.true_bqml / q.cal_measured_bqml[c]);
        printf("}}\n");
    } else {
        for (int c = 0; c < nc; c++)
            printf("%s %s: %d crystal efficiencies (SD %.2f %%), cross-calibration factor %.5f at MRD %d (true %.6g "
                   "Bq/mL, reconstructed %.6g)\n", c ? "  and" : "wrote", o.out_dir, q.fit.n_fitted, 100 * q.eff_sd,
                   q.true_bqml / q.cal_measured_bqml[c], o.n_cal_mrd > 0 ? o.cal_mrd[c] : q.mrd, q.true_bqml,
                   q.cal_measured_bqml[c]);
    }
    return LF_EXIT_OK;
}

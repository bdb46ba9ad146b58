/* lafov motion ACQ --out DIR: data-driven motion detection (traces, change points, stable windows). */
#include <getopt.h>
#include <math.h>
#include <stdio.h>

#include "cli.h"
#include "io/atomic_file.h"
#include "recon/motion.h"

static void help(void)
{
    printf("usage: lafov motion ACQ --out DIR [--resolution-s 1] [--threshold-mm 2] [--min-segment-s 10]\n"
           "                    [--min-window-s 30] [--penalty T2] [--scanner NAME|FILE] [-v]\n\n"
           "Detects patient motion from the events themselves: per time bin the prompt rate and the centroid\n"
           "(x, y, z) of the TOF-localised prompts (LOR midpoints without TOF); change points by binary\n"
           "segmentation of the centroid traces against their noise (estimated from first differences);\n"
           "each shift from the segments' robust means (x, y) and their axial profiles (z); stable windows\n"
           "between the change points. See docs/motion.md.\n"
           "Writes DIR/motion.json (traces, change_points, stable_windows, noise, method) and DIR/motion.png\n"
           "(count rate, x, y, z over time; stable windows green, change points red).\n"
           "  --resolution-s S   time bin (default 1)\n"
           "  --threshold-mm T   smallest shift reported as motion (default 2)\n"
           "  --min-segment-s S  shortest time between change points (default 10)\n"
           "  --min-window-s S   shortest stable window (default 30)\n"
           "  --penalty T2       split statistic threshold (chi2 with 3 dof; default 3 ln(bins) + 30)\n"
           "  --scanner NAME     scanner description instead of the header's originating system\n"
           "  -v, --verbose      log each step (repeat for debug)\n");
}

static int num(const char *s, double lo, double *v)
{
    char tail;
    return sscanf(s, "%lf%c", v, &tail) == 1 && isfinite(*v) && *v >= lo ? 0 : -1;
}

int lf_cmd_motion(int argc, char **argv)
{
    static const struct option opts[] = {
        {"out", required_argument, 0, 'o'},           {"resolution-s", required_argument, 0, 'r'},
        {"threshold-mm", required_argument, 0, 't'},  {"min-segment-s", required_argument, 0, 'm'},
        {"min-window-s", required_argument, 0, 'w'},  {"penalty", required_argument, 0, 'p'},
        {"scanner", required_argument, 0, 's'},       {"verbose", no_argument, 0, 'v'},
        {"help", no_argument, 0, 'h'},                {0, 0, 0, 0}};
    const char *out = NULL, *scanner = NULL;
    lf_motion_params p;
    lf_motion_params_default(&p);
    int verbose = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:r:t:m:w:p:s:vh", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'r':
            if (num(optarg, 0.001, &p.resolution_s) != 0)
                return lf_cli_usage("motion", "--resolution-s '%s': expected seconds >= 0.001", optarg);
            break;
        case 't':
            if (num(optarg, 0, &p.threshold_mm) != 0)
                return lf_cli_usage("motion", "--threshold-mm '%s': expected millimetres >= 0", optarg);
            break;
        case 'm':
            if (num(optarg, 0, &p.min_segment_s) != 0)
                return lf_cli_usage("motion", "--min-segment-s '%s': expected seconds >= 0", optarg);
            break;
        case 'w':
            if (num(optarg, 0, &p.min_window_s) != 0)
                return lf_cli_usage("motion", "--min-window-s '%s': expected seconds >= 0", optarg);
            break;
        case 'p':
            if (num(optarg, 0, &p.penalty) != 0 || p.penalty <= 0)
                return lf_cli_usage("motion", "--penalty '%s': expected a statistic > 0", optarg);
            break;
        case 's': scanner = optarg; break;
        case 'v': verbose++; break;
        case 'h': help(); return LF_EXIT_OK;
        default: return lf_cli_usage("motion", "unknown option");
        }
    }
    if (optind != argc - 1)
        return lf_cli_usage("motion", "expected one ACQ (.l, .l.hdr or .ptd)");
    if (!out || !*out)
        return lf_cli_usage("motion", "--out DIR is required");
    lf_cli_logging(verbose);
    lf_error err = {{0}};
    lf_lm_open_opts oo = {.scanner = scanner};
    lf_motion_result r;
    double t0 = lf_cli_now();
    if (lf_motion_detect(argv[optind], &oo, &p, &r, &err) != 0)
        return lf_cli_fail("motion", &err);
    char jp[4200], pp[4200];
    snprintf(jp, sizeof jp, "%s/motion.json", out);
    snprintf(pp, sizeof pp, "%s/motion.png", out);
    if (lf_mkdirs(out, &err) != 0 || lf_motion_write_json(&r, jp, &err) != 0 || lf_motion_write_png(&r, pp, &err) != 0) {
        lf_motion_result_free(&r);
        return lf_cli_fail("motion", &err);
    }
    printf("%d time bins of %g s; noise per bin: centroids x %.2f, y %.2f, z %.2f mm, z profile shift %.2f mm\n",
           r.n_bins, r.bin_s, r.noise_mm[0], r.noise_mm[1], r.noise_mm[2], r.noise_mm[3]);
    for (int k = 0; k < r.n_cp; k++)
        printf("change at %8.1f s: shift %+.2f, %+.2f, %+.2f mm (centroids %+.2f, %+.2f, %+.2f mm)\n", r.cp[k].time_s,
               r.cp[k].shift_mm[0], r.cp[k].shift_mm[1], r.cp[k].shift_mm[2], r.cp[k].centroid_shift_mm[0],
               r.cp[k].centroid_shift_mm[1], r.cp[k].centroid_shift_mm[2]);
    if (r.n_cp == 0)
        printf("no motion of %g mm or more found\n", r.p.threshold_mm);
    for (int k = 0; k < r.n_stable; k++)
        printf("stable window %.10g-%.10g s%s\n", r.stable[k].t0_s, r.stable[k].t1_s, k == r.longest ? " (longest)" : "");
    printf("wrote %s and %s (%.1f s)\n", jp, pp, lf_cli_now() - t0);
    lf_motion_result_free(&r);
    return LF_EXIT_OK;
}

/* lafov roi IMAGE --labels LABELS: per-label statistics of an image (CSV or JSON), with recovery
 * against a truth image. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/log.h"
#include "io/atomic_file.h"
#include "io/nifti.h"
#include "recon/roi.h"

static void help(void)
{
    printf("usage: lafov roi IMAGE.nii[.gz] --labels LABELS.nii[.gz] [--truth TRUTH.nii[.gz]] [--names truth.json]\n"
           "                [--erode-mm E] [--z-range Z0,Z1] [--radius-mm R] [--label N[,N...]] [--out roi.csv]\n"
           "                [--json] [-v]\n\n"
           "Region-of-interest statistics of an image (a reconstruction, a truth image) per label of a label\n"
           "image, e.g. the simulator's truth_labels.nii.gz. The labels (any grid) are resampled onto the\n"
           "image's grid by nearest neighbour through both sforms (scanner mm); outside the label grid is 0.\n"
           "  --labels FILE      integer label image (0 = no ROI)\n"
           "  --truth FILE       truth image (e.g. truth_activity.nii.gz, Bq/mL): truth_mean over the same\n"
           "                     voxels (mean of the truth voxels whose centres fall in each image voxel;\n"
           "                     nearest when the truth is coarser) and recovery_pct = 100 mean / truth_mean\n"
           "  --names FILE       the simulator's truth.json: label names from its \"labels\" array\n"
           "                     (default name: label_N)\n"
           "  --erode-mm E       keep an image voxel only if every label voxel within E mm of its centre has\n"
           "                     the same label (excludes partial-volume edges)\n"
           "  --z-range Z0,Z1    keep voxel centres with Z0 <= z <= Z1 (scanner mm)\n"
           "  --radius-mm R      keep voxel centres within R mm of the scanner axis\n"
           "  --label N,...      report these labels only, in this order (default: every label present)\n"
           "  --out FILE         write the CSV there (atomically) instead of printing it\n"
           "  --json             print the rows as a JSON array (also with --out)\n"
           "  -v, --verbose      log each step\n\n"
           "CSV columns: %s\n"
           "  volume_ml = voxels x voxel volume; sd: sample SD; cov_pct = 100 sd / mean; peak: the largest mean\n"
           "  in a 1 mL sphere (radius %.1f mm) centred on a voxel of the ROI (SUVpeak definition; any voxels\n"
           "  of the image inside the sphere). Undefined values (empty ROI, no truth, truth 0) are empty\n"
           "  (null in JSON).\n",
           LF_ROI_CSV_HEADER, LF_ROI_PEAK_RADIUS_MM);
}

/* "N[,N...]" -> labels (1..LF_ROI_MAX_LABEL, distinct). */
static int parse_labels(const char *s, int **out, int *n)
{
    int cap = 8, *l = malloc((size_t)cap * sizeof *l);
    *n = 0;
    const char *p = s;
    while (l) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > LF_ROI_MAX_LABEL || (*end != ',' && *end != '\0'))
            break;
        for (int i = 0; i < *n; i++)
            if (l[i] == v)
                goto bad;
        if (*n == cap) {
            int *nl = realloc(l, (size_t)(cap *= 2) * sizeof *l);
            if (!nl)
                break;
            l = nl;
        }
        l[(*n)++] = (int)v;
        if (*end == '\0') {
            *out = l;
            return 0;
        }
        p = end + 1;
    }
bad:
    free(l);
    return -1;
}

int lf_cmd_roi(int argc, char **argv)
{
    static const struct option opts[] = {
        {"labels", required_argument, 0, 'l'}, {"truth", required_argument, 0, 't'},
        {"names", required_argument, 0, 'n'},  {"erode-mm", required_argument, 0, 'e'},
        {"z-range", required_argument, 0, 'z'}, {"radius-mm", required_argument, 0, 'r'},
        {"label", required_argument, 0, 'L'},  {"out", required_argument, 0, 'o'},
        {"json", no_argument, 0, 'j'},         {"verbose", no_argument, 0, 'v'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    const char *labels_path = NULL, *truth_path = NULL, *names_path = NULL, *out = NULL;
    int json = 0, verbose = 0, c, *want = NULL, nwant = 0;
    lf_roi_opts o = lf_roi_opts_default();
    optind = 1;
    while ((c = getopt_long(argc, argv, "l:t:n:e:z:r:L:o:jvh", opts, NULL)) != -1) {
        char tail;
        switch (c) {
        case 'l': labels_path = optarg; break;
        case 't': truth_path = optarg; break;
        case 'n': names_path = optarg; break;
        case 'o': out = optarg; break;
        case 'j': json = 1; break;
        case 'v': verbose++; break;
        case 'e':
            if (sscanf(optarg, "%lf%c", &o.erode_mm, &tail) != 1 || !(o.erode_mm >= 0) || !isfinite(o.erode_mm)) {
                free(want);
                return lf_cli_usage("roi", "--erode-mm '%s': expected a distance >= 0 (mm)", optarg);
            }
            break;
        case 'z':
            if (sscanf(optarg, "%lf,%lf%c", &o.z0_mm, &o.z1_mm, &tail) != 2 || !isfinite(o.z0_mm) ||
                !isfinite(o.z1_mm) || !(o.z0_mm <= o.z1_mm)) {
                free(want);
                return lf_cli_usage("roi", "--z-range '%s': expected Z0,Z1 (mm) with Z0 <= Z1", optarg);
            }
            o.z_range = 1;
            break;
        case 'r':
            if (sscanf(optarg, "%lf%c", &o.radius_mm, &tail) != 1 || !(o.radius_mm > 0) || !isfinite(o.radius_mm)) {
                free(want);
                return lf_cli_usage("roi", "--radius-mm '%s': expected a distance > 0 (mm)", optarg);
            }
            break;
        case 'L':
            free(want);
            want = NULL;
            if (parse_labels(optarg, &want, &nwant) != 0)
                return lf_cli_usage("roi", "--label '%s': expected distinct labels 1..%d separated by commas", optarg,
                                    LF_ROI_MAX_LABEL);
            break;
        case 'h': free(want); help(); return LF_EXIT_OK;
        default: free(want); return lf_cli_usage("roi", "unknown option");
        }
    }
    if (optind != argc - 1) {
        free(want);
        return lf_cli_usage("roi", "expected one IMAGE.nii[.gz]");
    }
    if (!labels_path) {
        free(want);
        return lf_cli_usage("roi", "--labels LABELS.nii[.gz] is required");
    }
    lf_cli_logging(verbose);
    const char *image_path = argv[optind];
    lf_error err = {{0}};
    lf_volume img, lab, truth, truth_on;
    memset(&img, 0, sizeof img);
    memset(&lab, 0, sizeof lab);
    memset(&truth, 0, sizeof truth);
    memset(&truth_on, 0, sizeof truth_on);
    lf_roi_names names = {0, NULL, NULL};
    lf_roi_mask m = {{0}, NULL};
    lf_roi_stats *st = NULL;
    int *present = NULL, npresent = 0, rc = LF_EXIT_FAIL;

    if (names_path && lf_roi_names_read(names_path, &names, &err) != 0)
        goto out;
    if (lf_nifti_read(image_path, &img, &err) != 0 || lf_nifti_read(labels_path, &lab, &err) != 0 ||
        (truth_path && lf_nifti_read(truth_path, &truth, &err) != 0))
        goto out;
    lf_info("image %s: %d x %d x %d; labels %s: %d x %d x %d", image_path, img.n[0], img.n[1], img.n[2], labels_path,
            lab.n[0], lab.n[1], lab.n[2]);
    if (lf_roi_label_list(&lab, &present, &npresent, &err) != 0) {
        lf_fail_prefix(&err, "%s", labels_path);
        goto out;
    }
    for (int s = 0; s < nwant; s++) {
        int found = 0;
        for (int t = 0; t < npresent && !found; t++)
            found = present[t] == want[s];
        if (!found) {
            char list[512] = "none";
            size_t len = 0;
            for (int t = 0; t < npresent && len < sizeof list - 16; t++)
                len += (size_t)snprintf(list + len, sizeof list - len, "%s%d", t ? ", " : "", present[t]);
            lf_fail(&err, "%s: label %d does not occur (labels present: %s)", labels_path, want[s], list);
            goto out;
        }
    }
    if (lf_roi_mask_build(&lab, &img, &o, &m, &err) != 0) {
        lf_fail_prefix(&err, "%s on the grid of %s", labels_path, image_path);
        goto out;
    }
    if (truth_path && lf_roi_resample_truth(&truth, &img, &truth_on, &err) != 0) {
        lf_fail_prefix(&err, "%s", truth_path);
        goto out;
    }
    const int *rows = want ? want : present;
    int nrows = want ? nwant : npresent;
    if (lf_roi_stats_compute(&img, &m, truth_path ? &truth_on : NULL, rows, nrows, &st, &err) != 0) {
        lf_fail_prefix(&err, "%s", image_path);
        goto out;
    }
    if (out) {
        lf_atomic_file af;
        FILE *f = lf_atomic_open(&af, out, &err);
        if (!f)
            goto out;
        lf_roi_csv(f, st, nrows, names_path ? &names : NULL);
        if (lf_atomic_commit(&af, &err) != 0)
            goto out;
        lf_info("wrote %s", out);
    }
    if (json)
        lf_roi_json(stdout, st, nrows, names_path ? &names : NULL);
    else if (!out)
        lf_roi_csv(stdout, st, nrows, names_path ? &names : NULL);
    else
        printf("wrote %s (%d labels)\n", out, nrows);
    if (fflush(stdout) != 0) {
        lf_fail(&err, "standard output: write failed");
        goto out;
    }
    rc = LF_EXIT_OK;
out:
    if (rc != LF_EXIT_OK)
        lf_cli_fail("roi", &err);
    free(st);
    free(present);
    free(want);
    lf_roi_mask_free(&m);
    lf_roi_names_free(&names);
    lf_volume_free(&img);
    lf_volume_free(&lab);
    lf_volume_free(&truth);
    lf_volume_free(&truth_on);
    return rc;
}

/* lafov profile IMAGE --at X,Y --radius-mm R: the axial profile of an image through a disc, and the width
 * and edges of its peak (recon/profile.h). */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "core/log.h"
#include "io/atomic_file.h"
#include "io/nifti.h"
#include "recon/profile.h"

static void help(void)
{
    printf("usage: lafov profile IMAGE.nii[.gz] --at X,Y [--radius-mm R] [--z-range Z0,Z1] [--level L]\n"
           "                    [--out profile.csv] [-v]\n\n"
           "The axial profile of an image: per slice, the mean over the voxels whose centres lie within R mm\n"
           "of the axial line (X, Y) (scanner mm), e.g. through the bladder to see it doubled after motion,\n"
           "or through the liver dome in each respiratory gate. Prints one JSON line: the peak (largest\n"
           "mean and its z) and where the profile crosses L times the peak below and above it (linear\n"
           "interpolation between slices; null when it does not inside the range) and their distance\n"
           "(the FWHM for L = 0.5).\n"
           "  --at X,Y         the line (mm)\n"
           "  --radius-mm R    disc radius (default 10 mm)\n"
           "  --z-range Z0,Z1  keep slices with Z0 <= z <= Z1 (mm)\n"
           "  --level L        edge level as a fraction of the peak, 0 < L < 1 (default 0.5)\n"
           "  --out FILE       also write the profile as CSV (columns z_mm,mean,voxels), atomically\n");
}

static void json_num(const char *key, double v, int last)
{
    if (isfinite(v))
        printf("\"%s\": %.6g%s", key, v, last ? "" : ", ");
    else
        printf("\"%s\": null%s", key, last ? "" : ", ");
}

int lf_cmd_profile(int argc, char **argv)
{
    static const struct option opts[] = {
        {"at", required_argument, 0, 'a'},      {"radius-mm", required_argument, 0, 'r'},
        {"z-range", required_argument, 0, 'z'}, {"level", required_argument, 0, 'L'},
        {"out", required_argument, 0, 'o'},     {"verbose", no_argument, 0, 'v'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    double x = NAN, y = NAN, r = 10, z0 = -INFINITY, z1 = INFINITY, level = 0.5;
    const char *out = NULL;
    int verbose = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "a:r:z:L:o:vh", opts, NULL)) != -1) {
        char tail;
        switch (c) {
        case 'a':
            if (sscanf(optarg, "%lf,%lf%c", &x, &y, &tail) != 2 || !isfinite(x) || !isfinite(y))
                return lf_cli_usage("profile", "--at '%s': expected X,Y (mm)", optarg);
            break;
        case 'r':
            if (sscanf(optarg, "%lf%c", &r, &tail) != 1 || !(r > 0) || !isfinite(r))
                return lf_cli_usage("profile", "--radius-mm '%s': expected a distance > 0 (mm)", optarg);
            break;
        case 'z':
            if (sscanf(optarg, "%lf,%lf%c", &z0, &z1, &tail) != 2 || !isfinite(z0) || !isfinite(z1) || !(z0 <= z1))
                return lf_cli_usage("profile", "--z-range '%s': expected Z0,Z1 (mm) with Z0 <= Z1", optarg);
            break;
        case 'L':
            if (sscanf(optarg, "%lf%c", &level, &tail) != 1 || !(level > 0 && level < 1))
                return lf_cli_usage("profile", "--level '%s': expected a fraction 0 < L < 1", optarg);
            break;
        case 'o': out = optarg; break;
        case 'v': verbose++; break;
        case 'h': help(); return LF_EXIT_OK;
        default: return lf_cli_usage("profile", "unknown option");
        }
    }
    if (optind != argc - 1)
        return lf_cli_usage("profile", "expected one IMAGE.nii[.gz]");
    if (!isfinite(x))
        return lf_cli_usage("profile", "--at X,Y is required");
    lf_cli_logging(verbose);
    const char *path = argv[optind];
    lf_error err = {{0}};
    lf_volume img;
    memset(&img, 0, sizeof img);
    lf_profile p = {0};
    int rc = LF_EXIT_FAIL;
    if (lf_nifti_read(path, &img, &err) != 0)
        goto done;
    if (lf_profile_axial(&img, x, y, r, z0, z1, &p, &err) != 0) {
        lf_fail_prefix(&err, "%s", path);
        goto done;
    }
    if (out) {
        lf_atomic_file af;
        FILE *f = lf_atomic_open(&af, out, &err);
        if (!f)
            goto done;
        fprintf(f, "z_mm,mean,voxels\n");
        for (int i = 0; i < p.n; i++)
            fprintf(f, "%.4f,%.9g,%d\n", p.z_mm[i], p.mean[i], p.voxels[i]);
        if (lf_atomic_commit(&af, &err) != 0)
            goto done;
        lf_info("wrote %s (%d slices)", out, p.n);
    }
    lf_profile_peak pk;
    lf_profile_find_peak(&p, level, &pk);
    printf("{\"image\": \"%s\", \"at_mm\": [%g, %g], \"radius_mm\": %g, \"level\": %g, ", path, x, y, r, level);
    json_num("peak", pk.max, 0);
    json_num("peak_z_mm", pk.z_max_mm, 0);
    json_num("lower_edge_mm", pk.lo_mm, 0);
    json_num("upper_edge_mm", pk.hi_mm, 0);
    json_num("width_mm", pk.width_mm, 1);
    printf("}\n");
    if (fflush(stdout) != 0) {
        lf_fail(&err, "standard output: write failed");
        goto done;
    }
    rc = LF_EXIT_OK;
done:
    if (rc != LF_EXIT_OK)
        lf_cli_fail("profile", &err);
    lf_profile_free(&p);
    lf_volume_free(&img);
    return rc;
}

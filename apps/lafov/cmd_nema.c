/* lafov nema IMAGE --phantom iec --out DIR: NEMA NU 2-2018 image quality (contrast recovery, background
 * variability, lung residual) of an IEC body phantom image: nema.csv, nema.json, nema.png. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "core/log.h"
#include "io/atomic_file.h"
#include "io/nifti.h"
#include "io/png_write.h"
#include "recon/nema.h"

static void help(void)
{
    printf("usage: lafov nema IMAGE.nii[.gz] --phantom iec [--centre x,y,z] [--ratio 4] --out DIR [--force] [-v]\n\n"
           "NEMA NU 2-2018 image quality of an IEC body phantom image (a lafov recon image in Bq/mL or SUV, or\n"
           "any NIfTI whose sform maps voxels to scanner mm), physics.md's phantom model, axes = scanner axes.\n"
           "  --phantom iec      the phantom (only iec)\n"
           "  --centre x,y,z     the phantom's axis point in the sphere plane (scanner mm); default: found from\n"
           "                     the image (the cold lung insert inside the body, the sphere plane where the\n"
           "                     sphere ROIs are hottest)\n"
           "  --ratio R          sphere-to-background activity ratio a_H/a_B, > 1 (default 4)\n"
           "  --out DIR          output folder (created)\n"
           "  --force            overwrite nema.csv / nema.json / nema.png already in DIR\n"
           "  -v, --verbose      log each step\n\n"
           "ROIs: each sphere's inner diameter (10..37 mm) on the sphere in the sphere plane; 12 background\n"
           "positions x 5 planes (0, +-10, +-20 mm) of each size, the 37 mm ones %g mm clear of the body edge,\n"
           "the spheres and the lung, the smaller concentric; a %g mm lung ROI on the axis in the same planes.\n"
           "Means on a lattice of 4 x 4 points per voxel, trilinear interpolation (linear between slices).\n"
           "  contrast recovery = (C_H / C_B - 1) / (R - 1) x 100; background variability = SD / C_B x 100 over\n"
           "  the 60 ROIs of the size; lung residual = mean lung ROI / C_B(37 mm) x 100 (docs/nema.md).\n"
           "Writes DIR/nema.csv (%s),\n"
           "DIR/nema.json (every number, the centre used, lung_residual_pct), DIR/nema.png (the sphere plane with\n"
           "the ROIs: spheres red, background 37 and 10 mm green, lung cyan).\n",
           LF_NEMA_MARGIN_MM, LF_NEMA_LUNG_ROI_MM, LF_NEMA_CSV_HEADER);
}

static const char *const k_files[] = {"nema.csv", "nema.json", "nema.png"};

int lf_cmd_nema(int argc, char **argv)
{
    enum { O_PHANTOM = 1000, O_CENTRE, O_RATIO, O_OUT, O_FORCE };
    static const struct option opts[] = {
        {"phantom", required_argument, 0, O_PHANTOM}, {"centre", required_argument, 0, O_CENTRE},
        {"center", required_argument, 0, O_CENTRE},   {"ratio", required_argument, 0, O_RATIO},
        {"out", required_argument, 0, O_OUT},         {"force", no_argument, 0, O_FORCE},
        {"verbose", no_argument, 0, 'v'},             {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *phantom = NULL, *out = NULL;
    int force = 0, verbose = 0, c;
    lf_nema_opts o = lf_nema_opts_default();
    optind = 1;
    while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
        char tail;
        switch (c) {
        case O_PHANTOM: phantom = optarg; break;
        case O_OUT: out = optarg; break;
        case O_FORCE: force = 1; break;
        case 'v': verbose++; break;
        case O_CENTRE:
            if (sscanf(optarg, "%lf,%lf,%lf%c", &o.centre_mm[0], &o.centre_mm[1], &o.centre_mm[2], &tail) != 3 ||
                !isfinite(o.centre_mm[0] + o.centre_mm[1] + o.centre_mm[2]))
                return lf_cli_usage("nema", "--centre '%s': expected x,y,z (scanner mm: the phantom's axis point in "
                                            "the sphere plane)", optarg);
            o.centre_given = 1;
            break;
        case O_RATIO:
            if (sscanf(optarg, "%lf%c", &o.ratio, &tail) != 1 || !(o.ratio > 1) || !isfinite(o.ratio))
                return lf_cli_usage("nema", "--ratio '%s': expected the sphere-to-background ratio, a number > 1",
                                    optarg);
            break;
        case 'h': help(); return LF_EXIT_OK;
        default: return lf_cli_usage("nema", "unknown option");
        }
    }
    if (optind != argc - 1)
        return lf_cli_usage("nema", "expected one IMAGE.nii[.gz]");
    if (!phantom)
        return lf_cli_usage("nema", "--phantom is required (allowed: iec)");
    if (strcmp(phantom, "iec") != 0)
        return lf_cli_usage("nema", "--phantom '%s': expected iec (the only phantom lafov nema knows)", phantom);
    if (!out)
        return lf_cli_usage("nema", "--out DIR is required");
    lf_cli_logging(verbose);
    const char *image_path = argv[optind];
    lf_error err = {{0}};
    lf_volume img;
    memset(&img, 0, sizeof img);
    lf_nema_result *r = calloc(1, sizeof *r);
    uint8_t *rgb = NULL;
    int rc = LF_EXIT_FAIL, w = 0, h = 0;
    char path[3][4200];
    for (int i = 0; i < 3; i++)
        snprintf(path[i], sizeof path[i], "%s/%s", out, k_files[i]);
    if (!r) {
        lf_fail(&err, "out of memory");
        goto done;
    }
    for (int i = 0; i < 3 && !force; i++)
        if (access(path[i], F_OK) == 0) {
            lf_fail(&err, "%s exists; use --force to replace it", path[i]);
            goto done;
        }
    if (lf_nifti_read(image_path, &img, &err) != 0)
        goto done;
    lf_info("image %s: %d x %d x %d, %.3g x %.3g x %.3g mm", image_path, img.n[0], img.n[1], img.n[2], img.vox_mm[0],
            img.vox_mm[1], img.vox_mm[2]);
    if (lf_nema_analyse(&img, &o, r, &err) != 0) {
        lf_fail_prefix(&err, "%s", image_path);
        goto done;
    }
    lf_info("centre (%s): %.2f, %.2f, %.2f mm", r->centre_found ? "found" : "given", r->centre_mm[0], r->centre_mm[1],
            r->centre_mm[2]);
    if (lf_nema_picture(&img, r, &rgb, &w, &h, &err) != 0) {
        lf_fail_prefix(&err, "%s", image_path);
        goto done;
    }
    if (lf_mkdirs(out, &err) != 0)
        goto done;
    for (int i = 0; i < 2; i++) {
        lf_atomic_file af;
        FILE *f = lf_atomic_open(&af, path[i], &err);
        if (!f)
            goto done;
        if (i == 0)
            lf_nema_csv(f, r);
        else
            lf_nema_json(f, r, image_path);
        if (lf_atomic_commit(&af, &err) != 0)
            goto done;
    }
    if (lf_png_write_rgb(path[2], w, h, rgb, &err) != 0)
        goto done;
    printf("centre (%s): %.2f, %.2f, %.2f mm; ratio %g\n", r->centre_found ? "found" : "given", r->centre_mm[0],
           r->centre_mm[1], r->centre_mm[2], r->ratio);
    printf("diameter_mm  contrast_recovery_pct  background_variability_pct  C_H  C_B\n");
    for (int i = 0; i < LF_NEMA_SPHERES; i++)
        printf("%11g  %21.2f  %26.2f  %.5g  %.5g\n", lf_nema_sphere_diameter_mm[i], r->contrast_recovery_pct[i],
               r->background_variability_pct[i], r->c_h[i], r->c_b[i]);
    printf("lung residual: %.2f %%\nwrote %s, %s, %s\n", r->lung_residual_pct, path[0], path[1], path[2]);
    if (fflush(stdout) != 0) {
        lf_fail(&err, "standard output: write failed");
        goto done;
    }
    rc = LF_EXIT_OK;
done:
    if (rc != LF_EXIT_OK)
        lf_cli_fail("nema", &err);
    free(rgb);
    free(r);
    lf_volume_free(&img);
    return rc;
}

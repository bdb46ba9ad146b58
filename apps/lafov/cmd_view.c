/* lafov view IMG.nii [IMG2.nii …] --out SLICE.png: one slice (or the maximum-intensity projection) of one or
 * more volumes as a picture, side by side. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "io/png_write.h"
#include "io/volume_view.h"

#define VIEW_MAX_IMAGES 8
#define VIEW_GAP_PX 8

static void help(void)
{
    printf("usage: lafov view IMAGE.nii[.gz] [IMAGE2.nii[.gz] ...] --out VIEW.png [--plane axial|coronal|sagittal]\n"
           "                 [--index I | --mip] [--window LO,HI]\n\n"
           "Writes one slice of a NIfTI volume (a CT, a truth image, a reconstruction) as a grey PNG with\n"
           "square millimetre pixels; coronal and sagittal views have the head at the top. Several images are\n"
           "put side by side, left to right, e.g. a reconstruction of all minutes beside one of the stable\n"
           "minutes (up to %d).\n"
           "  --plane P        default coronal\n"
           "  --index I        slice index along the plane's normal (default: the middle)\n"
           "  --mip            maximum-intensity projection along the plane's normal instead of a slice\n"
           "                   (inverse grey: dark is high, as PET MIPs are read)\n"
           "  --window LO,HI   grey range in image units, the same for every image (default: per image, the\n"
           "                   0.5th..99.5th percentile of its slice or projection)\n",
           VIEW_MAX_IMAGES);
}

/* Puts the pictures side by side on white, top-aligned. */
static int compose(uint8_t *const *rgb, const int *w, const int *h, int n, uint8_t **out, int *ow, int *oh)
{
    int W = 0, H = 0;
    for (int i = 0; i < n; i++) {
        W += w[i] + (i ? VIEW_GAP_PX : 0);
        if (h[i] > H)
            H = h[i];
    }
    uint8_t *o = malloc((size_t)W * (size_t)H * 3);
    if (!o)
        return -1;
    memset(o, 255, (size_t)W * (size_t)H * 3);
    for (int i = 0, x0 = 0; i < n; x0 += w[i] + VIEW_GAP_PX, i++)
        for (int y = 0; y < h[i]; y++)
            memcpy(o + ((size_t)y * W + (size_t)x0) * 3, rgb[i] + (size_t)y * w[i] * 3, (size_t)w[i] * 3);
    *out = o;
    *ow = W;
    *oh = H;
    return 0;
}

int lf_cmd_view(int argc, char **argv)
{
    static const struct option opts[] = {{"out", required_argument, 0, 'o'},    {"plane", required_argument, 0, 'p'},
                                         {"index", required_argument, 0, 'i'},  {"window", required_argument, 0, 'w'},
                                         {"mip", no_argument, 0, 'm'},          {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *out = NULL;
    lf_plane plane = LF_PLANE_CORONAL;
    int index = -1, mip = 0, c;
    double lo = 0, hi = 0;
    lf_error err = {{0}};
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:p:i:w:mh", opts, NULL)) != -1) {
        char tail;
        switch (c) {
        case 'o': out = optarg; break;
        case 'p':
            if (lf_plane_parse(optarg, &plane, &err) != 0)
                return lf_cli_usage("view", "%s", err.msg);
            break;
        case 'i':
            if (sscanf(optarg, "%d%c", &index, &tail) != 1 || index < 0)
                return lf_cli_usage("view", "--index '%s': expected a slice number >= 0", optarg);
            break;
        case 'w':
            if (sscanf(optarg, "%lf,%lf%c", &lo, &hi, &tail) != 2 || !(hi > lo))
                return lf_cli_usage("view", "--window '%s': expected LO,HI with LO < HI", optarg);
            break;
        case 'm': mip = 1; break;
        case 'h': help(); return LF_EXIT_OK;
        default: return lf_cli_usage("view", "unknown option");
        }
    }
    const int n = argc - optind;
    if (n < 1 || n > VIEW_MAX_IMAGES)
        return lf_cli_usage("view", "expected 1 to %d IMAGE.nii, got %d", VIEW_MAX_IMAGES, n);
    if (!out)
        return lf_cli_usage("view", "--out VIEW.png is required");
    if (mip && index >= 0)
        return lf_cli_usage("view", "--index and --mip exclude each other");
    uint8_t *rgb[VIEW_MAX_IMAGES] = {0}, *all = NULL;
    int w[VIEW_MAX_IMAGES], h[VIEW_MAX_IMAGES], W = 0, H = 0, rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        lf_volume v;
        if ((rc = lf_nifti_read(argv[optind + i], &v, &err)) != 0)
            break;
        rc = mip ? lf_volume_mip_rgb(&v, plane, lo, hi, 1, &rgb[i], &w[i], &h[i], &err)
                 : lf_volume_slice_rgb(&v, plane, index, lo, hi, &rgb[i], &w[i], &h[i], &err);
        if (rc != 0)
            lf_fail_prefix(&err, "%s", argv[optind + i]);
        lf_volume_free(&v);
    }
    if (rc == 0 && (rc = compose(rgb, w, h, n, &all, &W, &H)) != 0)
        lf_fail(&err, "out of memory for a %d-image picture", n);
    if (rc == 0)
        rc = lf_png_write_rgb(out, W, H, all, &err);
    for (int i = 0; i < n; i++)
        free(rgb[i]);
    free(all);
    if (rc != 0)
        return lf_cli_fail("view", &err);
    printf("wrote %s (%d x %d)\n", out, W, H);
    return LF_EXIT_OK;
}

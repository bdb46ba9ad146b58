/* lafov view IMG.nii --out SLICE.png: one slice of a volume as a picture. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "io/png_write.h"
#include "io/volume_view.h"

static void help(void)
{
    printf("usage: lafov view IMAGE.nii[.gz] --out SLICE.png [--plane axial|coronal|sagittal] [--index I]\n"
           "                 [--window LO,HI]\n\n"
           "Writes one slice of a NIfTI volume (a CT, a truth image, a reconstruction) as a grey PNG with\n"
           "square millimetre pixels; coronal and sagittal views have the head at the top.\n"
           "  --plane P        default coronal\n"
           "  --index I        slice index along the plane's normal (default: the middle)\n"
           "  --window LO,HI   grey range in image units (default: 0.5th..99.5th percentile of the slice)\n");
}

int lf_cmd_view(int argc, char **argv)
{
    static const struct option opts[] = {{"out", required_argument, 0, 'o'},    {"plane", required_argument, 0, 'p'},
                                         {"index", required_argument, 0, 'i'},  {"window", required_argument, 0, 'w'},
                                         {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    const char *out = NULL;
    lf_plane plane = LF_PLANE_CORONAL;
    int index = -1, c;
    double lo = 0, hi = 0;
    lf_error err = {{0}};
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:p:i:w:h", opts, NULL)) != -1) {
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
        case 'h': help(); return LF_EXIT_OK;
        default: return lf_cli_usage("view", "unknown option");
        }
    }
    if (optind != argc - 1)
        return lf_cli_usage("view", "expected one IMAGE.nii");
    if (!out)
        return lf_cli_usage("view", "--out SLICE.png is required");
    lf_volume v;
    if (lf_nifti_read(argv[optind], &v, &err) != 0)
        return lf_cli_fail("view", &err);
    uint8_t *rgb = NULL;
    int w, h, rc = lf_volume_slice_rgb(&v, plane, index, lo, hi, &rgb, &w, &h, &err);
    if (rc == 0)
        rc = lf_png_write_rgb(out, w, h, rgb, &err);
    free(rgb);
    lf_volume_free(&v);
    if (rc != 0)
        return lf_cli_fail("view", &err);
    printf("wrote %s (%d x %d)\n", out, w, h);
    return LF_EXIT_OK;
}

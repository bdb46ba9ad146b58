#include "volume_view.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int lf_plane_parse(const char *s, lf_plane *p, lf_error *err)
{
    static const char *names[] = {"axial", "coronal", "sagittal"};
    for (int i = 0; i < 3; i++)
        if (strcmp(s, names[i]) == 0) {
            *p = (lf_plane)i;
            return 0;
        }
    return lf_fail(err, "plane '%s': expected axial, coronal or sagittal", s);
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

int lf_volume_slice_rgb(const lf_volume *v, lf_plane plane, int index, double lo, double hi, uint8_t **rgb, int *width,
                        int *height, lf_error *err)
{
    /* the slice's two in-plane axes (u across, w down) and the fixed axis */
    int fixed = plane == LF_PLANE_AXIAL ? 2 : plane == LF_PLANE_CORONAL ? 1 : 0;
    int ua = plane == LF_PLANE_SAGITTAL ? 1 : 0;
    int wa = plane == LF_PLANE_AXIAL ? 1 : 2;
    if (index < 0)
        index = v->n[fixed] / 2;
    if (index >= v->n[fixed])
        return lf_fail(err, "slice %d outside 0..%d", index, v->n[fixed] - 1);
    double pix = fmin(v->vox_mm[ua], v->vox_mm[wa]);
    int w = (int)lround(v->n[ua] * v->vox_mm[ua] / pix), h = (int)lround(v->n[wa] * v->vox_mm[wa] / pix);
    if (w < 1 || h < 1 || (long long)w * h > 64LL * 1024 * 1024)
        return lf_fail(err, "slice picture %d x %d is out of range", w, h);
    float *val = malloc((size_t)w * h * sizeof *val);
    float *sorted = malloc((size_t)w * h * sizeof *sorted);
    uint8_t *img = malloc((size_t)w * h * 3);
    if (!val || !sorted || !img) {
        free(val);
        free(sorted);
        free(img);
        return lf_fail(err, "out of memory for a %d x %d picture", w, h);
    }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int idx[3];
            idx[fixed] = index;
            idx[ua] = (int)((x + 0.5) * pix / v->vox_mm[ua]);
            /* axial: y grows with voxel index (anterior at the top: y points to the floor); coronal and
             * sagittal: the head (high z) at the top */
            int wy = (int)((y + 0.5) * pix / v->vox_mm[wa]);
            idx[wa] = plane == LF_PLANE_AXIAL ? wy : v->n[wa] - 1 - wy;
            for (int k = 0; k < 3; k++)
                if (idx[k] >= v->n[k])
                    idx[k] = v->n[k] - 1;
            val[(size_t)y * w + x] = v->data[idx[0] + (size_t)v->n[0] * (idx[1] + (size_t)v->n[1] * idx[2])];
        }
    if (lo == 0 && hi == 0) {
        memcpy(sorted, val, (size_t)w * h * sizeof *val);
        qsort(sorted, (size_t)w * h, sizeof *sorted, cmp_float);
        lo = sorted[(size_t)((double)(w * h - 1) * 0.005)];
        hi = sorted[(size_t)((double)(w * h - 1) * 0.995)];
    }
    if (!(hi > lo))
        hi = lo + 1;
    for (size_t i = 0; i < (size_t)w * h; i++) {
        double t = (val[i] - lo) / (hi - lo);
        uint8_t g = (uint8_t)lround(255.0 * (t < 0 ? 0 : t > 1 ? 1 : t));
        img[3 * i] = img[3 * i + 1] = img[3 * i + 2] = g;
    }
    free(val);
    free(sorted);
    *rgb = img;
    *width = w;
    *height = h;
    return 0;
}

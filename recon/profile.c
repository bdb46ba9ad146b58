#include "profile.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void lf_profile_free(lf_profile *p)
{
    free(p->z_mm);
    free(p->mean);
    free(p->voxels);
    memset(p, 0, sizeof *p);
}

int lf_profile_axial(const lf_volume *v, double x_mm, double y_mm, double radius_mm, double z0_mm, double z1_mm,
                     lf_profile *out, lf_error *err)
{
    memset(out, 0, sizeof *out);
    if (!(radius_mm > 0) || !isfinite(radius_mm))
        return lf_fail(err, "profile: the disc radius must be > 0 mm, got %g", radius_mm);
    /* axial slices: z depends on k only, x and y not on k */
    if (v->sform[2][0] != 0 || v->sform[2][1] != 0 || v->sform[0][2] != 0 || v->sform[1][2] != 0 ||
        v->sform[2][2] == 0)
        return lf_fail(err, "profile: the image's sform is not axis-aligned in z (slices are not axial planes)");
    const int nk = v->n[2];
    out->z_mm = malloc((size_t)nk * sizeof *out->z_mm);
    out->mean = malloc((size_t)nk * sizeof *out->mean);
    out->voxels = malloc((size_t)nk * sizeof *out->voxels);
    if (!out->z_mm || !out->mean || !out->voxels) {
        lf_profile_free(out);
        return lf_fail(err, "out of memory");
    }
    const size_t plane = (size_t)v->n[0] * (size_t)v->n[1];
    const double r2 = radius_mm * radius_mm;
    int any_voxel = 0;
    for (int k = 0; k < nk; k++) {
        double c[3];
        lf_volume_voxel_mm(v, 0, 0, k, c);
        if (c[2] < z0_mm || c[2] > z1_mm)
            continue;
        double s = 0;
        int cnt = 0;
        for (int j = 0; j < v->n[1]; j++)
            for (int i = 0; i < v->n[0]; i++) {
                double p[3];
                lf_volume_voxel_mm(v, i, j, k, p);
                const double dx = p[0] - x_mm, dy = p[1] - y_mm;
                if (dx * dx + dy * dy <= r2) {
                    s += v->data[(size_t)k * plane + (size_t)j * v->n[0] + i];
                    cnt++;
                }
            }
        out->z_mm[out->n] = c[2];
        out->mean[out->n] = cnt ? s / cnt : NAN;
        out->voxels[out->n] = cnt;
        out->n++;
        any_voxel |= cnt > 0;
    }
    if (out->n == 0 || !any_voxel) {
        lf_profile_free(out);
        return lf_fail(err, "profile: no voxel centre lies within %g mm of (%g, %g) for %g <= z <= %g mm", radius_mm, x_mm,
                       y_mm, z0_mm, z1_mm);
    }
    if (out->n > 1 && out->z_mm[0] > out->z_mm[1]) { /* make z increasing */
        for (int a = 0, b = out->n - 1; a < b; a++, b--) {
            double t = out->z_mm[a];
            out->z_mm[a] = out->z_mm[b];
            out->z_mm[b] = t;
            t = out->mean[a];
            out->mean[a] = out->mean[b];
            out->mean[b] = t;
            int ti = out->voxels[a];
            out->voxels[a] = out->voxels[b];
            out->voxels[b] = ti;
        }
    }
    return 0;
}

void lf_profile_find_peak(const lf_profile *p, double level, lf_profile_peak *pk)
{
    pk->max = NAN;
    pk->z_max_mm = pk->lo_mm = pk->hi_mm = pk->width_mm = NAN;
    int im = -1;
    for (int i = 0; i < p->n; i++)
        if (isfinite(p->mean[i]) && (im < 0 || p->mean[i] > p->mean[im]))
            im = i;
    if (im < 0)
        return;
    pk->max = p->mean[im];
    pk->z_max_mm = p->z_mm[im];
    const double h = level * pk->max;
    for (int i = im; i > 0; i--)
        if (isfinite(p->mean[i - 1]) && p->mean[i - 1] < h) {
            const double f = (p->mean[i] - h) / (p->mean[i] - p->mean[i - 1]);
            pk->lo_mm = p->z_mm[i] - f * (p->z_mm[i] - p->z_mm[i - 1]);
            break;
        }
    for (int i = im; i + 1 < p->n; i++)
        if (isfinite(p->mean[i + 1]) && p->mean[i + 1] < h) {
            const double f = (p->mean[i] - h) / (p->mean[i] - p->mean[i + 1]);
            pk->hi_mm = p->z_mm[i] + f * (p->z_mm[i + 1] - p->z_mm[i]);
            break;
        }
    pk->width_mm = pk->hi_mm - pk->lo_mm;
}

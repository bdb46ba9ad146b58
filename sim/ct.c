/* lafov sim: low-dose CT synthesis (see ct.h). */
#include "ct.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/rng.h"

/* Why 40 HU at 120 kVp / 25 mAs.
 * A standard abdominal CT (120 kVp, ~200 effective mAs, 5 mm slices, soft-tissue kernel) shows about
 * 10-12 HU of noise (standard deviation) in the liver of an average adult. Quantum noise scales as
 * 1/sqrt(mAs x slice thickness): 25 mAs gives sqrt(200/25) = 2.83 times more, 28-34 HU at 5 mm, and
 * 3 mm slices another sqrt(5/3) = 1.29, 36-44 HU. 40 HU is the middle of that range and of the 30-50 HU
 * reported for the low-dose CTs of PET/CT attenuation correction; it is uniform over the image (see
 * ct.h for the simplification). */
double lf_ct_noise_sigma_default(void) { return 40.0; }

/* A smooth attenuation-correction kernel (e.g. Siemens Br32/B30) gives noise grains of 1.5-2.5 mm at
 * 0.98 mm pixels; 2 mm FWHM reproduces that texture. */
double lf_ct_noise_corr_default_mm(void) { return 2.0; }

int lf_ct_default_grid(double z_lo_mm, double z_hi_mm, int n[3], double vox_mm[3], double origin_mm[3],
                       lf_error *err)
{
    if (!n || !vox_mm || !origin_mm)
        return lf_fail(err, "lf_ct_default_grid: NULL output");
    if (!isfinite(z_lo_mm) || !isfinite(z_hi_mm) || z_hi_mm < z_lo_mm)
        return lf_fail(err, "CT z range [%g, %g] mm: expected finite bounds with low <= high", z_lo_mm, z_hi_mm);
    const double slice = 3.0, pix = 500.0 / 512.0;
    double len = z_hi_mm - z_lo_mm;
    if (len > 1e5)
        return lf_fail(err, "CT z range [%g, %g] mm: expected at most 100 m", z_lo_mm, z_hi_mm);
    int nz = (int)ceil(len / slice - 1e-9);
    if (nz < 1)
        nz = 1;
    n[0] = n[1] = 512;
    n[2] = nz;
    vox_mm[0] = vox_mm[1] = pix;
    vox_mm[2] = slice;
    origin_mm[0] = origin_mm[1] = -0.5 * (512 - 1) * pix;
    origin_mm[2] = 0.5 * (z_lo_mm + z_hi_mm) - 0.5 * (nz - 1) * slice;
    return 0;
}

/* 1-D Gaussian of standard deviation s (samples), radius ceil(4 s), normalised to unit sum of squares
 * (white noise of unit variance filtered by it keeps unit variance). s < 0.1: the identity. */
static int make_kernel(double s, double **g)
{
    int r = s < 0.1 ? 0 : (int)ceil(4.0 * s);
    double *k = malloc((size_t)(2 * r + 1) * sizeof *k);
    if (!k)
        return -1;
    double ss = 0;
    for (int t = -r; t <= r; t++) {
        double v = r == 0 ? 1.0 : exp(-0.5 * (double)t * t / (s * s));
        k[t + r] = v;
        ss += v * v;
    }
    double norm = 1.0 / sqrt(ss);
    for (int t = 0; t <= 2 * r; t++)
        k[t] *= norm;
    *g = k;
    return r;
}

int lf_ct_synthesize(lf_volume *hu, double (*hu_at)(const double xyz_mm[3], void *user), void *user, int ss,
                     double noise_sigma_hu, double noise_corr_mm, uint64_t seed, lf_error *err)
{
    if (!hu || !hu->data)
        return lf_fail(err, "lf_ct_synthesize: no allocated CT volume given");
    if (!hu_at)
        return lf_fail(err, "lf_ct_synthesize: no HU function given");
    const int nx = hu->n[0], ny = hu->n[1], nz = hu->n[2];
    if (nx < 1 || ny < 1 || nz < 1)
        return lf_fail(err, "CT volume of %d x %d x %d voxels: expected each size >= 1", nx, ny, nz);
    if (ss < 1 || ss > 16)
        return lf_fail(err, "CT sub-sampling %d per axis: expected 1..16", ss);
    if (!isfinite(noise_sigma_hu) || noise_sigma_hu < 0)
        return lf_fail(err, "CT noise sigma %g HU: expected a finite value >= 0", noise_sigma_hu);
    if (!isfinite(noise_corr_mm) || noise_corr_mm < 0)
        return lf_fail(err, "CT noise correlation FWHM %g mm: expected a finite value >= 0", noise_corr_mm);

    /* in-plane voxel sizes from the sform (any orientation) */
    double pxy[2];
    for (int c = 0; c < 2; c++) {
        double s2 = 0;
        for (int r = 0; r < 3; r++)
            s2 += hu->sform[r][c] * hu->sform[r][c];
        pxy[c] = sqrt(s2);
        if (!(pxy[c] > 0) || !isfinite(pxy[c]))
            return lf_fail(err, "CT volume sform column %d has length %g, expected a positive voxel size", c, pxy[c]);
    }
    double *gx = NULL, *gy = NULL;
    double sig_mm = noise_corr_mm / (2.0 * sqrt(2.0 * log(2.0)));
    int rx = make_kernel(sig_mm / pxy[0], &gx);
    int ry = make_kernel(sig_mm / pxy[1], &gy);
    if (rx < 0 || ry < 0) {
        free(gx);
        free(gy);
        return lf_fail(err, "out of memory for the CT noise kernel");
    }
    if ((size_t)rx > (size_t)1 << 12 || (size_t)ry > (size_t)1 << 12) {
        free(gx);
        free(gy);
        return lf_fail(err, "CT noise correlation FWHM %g mm is too wide for %g x %g mm pixels", noise_corr_mm,
                       pxy[0], pxy[1]);
    }

    double off[16];
    for (int a = 0; a < ss; a++)
        off[a] = (a + 0.5) / ss - 0.5;
    const double inv = 1.0 / ((double)ss * ss * ss);
    const size_t plane = (size_t)nx * ny;
    const size_t wx = (size_t)nx + 2 * (size_t)rx, wy = (size_t)ny + 2 * (size_t)ry;
    const int noisy = noise_sigma_hu > 0;
    int failed = 0;

#pragma omp parallel
    {
        double *w = NULL, *t = NULL;
        if (noisy) {
            w = malloc(wx * wy * sizeof *w);
            t = malloc((size_t)nx * wy * sizeof *t);
            if (!w || !t) {
#pragma omp atomic write
                failed = 1;
            }
        }
#pragma omp for schedule(dynamic, 1)
        for (int k = 0; k < nz; k++) {
            int stop;
#pragma omp atomic read
            stop = failed;
            if (stop)
                continue;
            float *out = hu->data + (size_t)k * plane;
            /* 1. voxel means */
            for (int j = 0; j < ny; j++)
                for (int i = 0; i < nx; i++) {
                    double sum = 0;
                    for (int c = 0; c < ss; c++)
                        for (int b = 0; b < ss; b++)
                            for (int a = 0; a < ss; a++) {
                                double x[3];
                                lf_volume_voxel_mm(hu, i + off[a], j + off[b], k + off[c], x);
                                sum += hu_at(x, user);
                            }
                    out[(size_t)j * nx + i] = (float)(sum * inv);
                }
            if (!noisy)
                continue;
            /* 2. correlated noise: white field on the padded plane, separable Gaussian, exact sigma */
            lf_rng r;
            lf_rng_seed(&r, seed, (uint64_t)k);
            for (size_t q = 0; q < wx * wy; q++)
                w[q] = lf_rng_normal(&r);
            for (size_t y = 0; y < wy; y++)
                for (int i = 0; i < nx; i++) {
                    const double *src = w + y * wx + i; /* padded column i + rx - rx */
                    double s = 0;
                    for (int q = 0; q <= 2 * rx; q++)
                        s += gx[q] * src[q];
                    t[y * (size_t)nx + i] = s;
                }
            for (int j = 0; j < ny; j++)
                for (int i = 0; i < nx; i++) {
                    double s = 0;
                    for (int q = 0; q <= 2 * ry; q++)
                        s += gy[q] * t[((size_t)j + q) * nx + i];
                    out[(size_t)j * nx + i] += (float)(noise_sigma_hu * s);
                }
        }
        free(w);
        free(t);
    }
    free(gx);
    free(gy);
    if (failed)
        return lf_fail(err, "out of memory for the CT noise planes (%zu x %zu)", wx, wy);
    return 0;
}

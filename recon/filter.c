/* lafov recon: 3-D Gaussian filter through FFTW (see filter.h). */
#include "filter.h"

#include <fftw3.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FWHM_PER_SIGMA 2.3548200450309493 /* 2 sqrt(2 ln 2) */
#define TRUNC_SIGMAS 4.0

/* smallest m >= n with only the factors 2, 3, 5, 7 */
static int fft_size(int n)
{
    for (int m = n > 1 ? n : 1;; m++) {
        int r = m;
        while (r % 2 == 0) r /= 2;
        while (r % 3 == 0) r /= 3;
        while (r % 5 == 0) r /= 5;
        while (r % 7 == 0) r /= 7;
        if (r == 1)
            return m;
    }
}

/* K[f] = Σ_{|d|<=R} g(d) cos(2π f d / M), g the normalised sampled Gaussian; f = 0..nf-1. */
static void transfer_1d(double sigma, int R, int M, int nf, double *K)
{
    if (sigma <= 0) {
        for (int f = 0; f < nf; f++)
            K[f] = 1.0;
        return;
    }
    double sum = 1.0; /* g(0) = 1 before normalisation */
    for (int d = 1; d <= R; d++)
        sum += 2 * exp(-0.5 * (d / sigma) * (d / sigma));
    for (int f = 0; f < nf; f++) {
        double s = 1.0;
        for (int d = 1; d <= R; d++) {
            long long fd = ((long long)f * d) % M; /* exact phase reduction */
            s += 2 * exp(-0.5 * (d / sigma) * (d / sigma)) * cos(2 * M_PI * (double)fd / M);
        }
        K[f] = s / sum;
    }
}

int lf_gaussian_filter3(lf_volume *v, const double fwhm_mm[3], lf_error *err)
{
    if (!v || !v->data || !fwhm_mm)
        return lf_fail(err, "lf_gaussian_filter: NULL argument");
    int any = 0;
    for (int a = 0; a < 3; a++) {
        if (!(fwhm_mm[a] >= 0) || !isfinite(fwhm_mm[a]))
            return lf_fail(err, "Gaussian filter: FWHM %g mm along axis %d: expected a finite value >= 0", fwhm_mm[a],
                           a);
        if (v->n[a] < 1)
            return lf_fail(err, "Gaussian filter: volume size %d along axis %d: expected >= 1", v->n[a], a);
        if (!(v->vox_mm[a] > 0) || !isfinite(v->vox_mm[a]))
            return lf_fail(err, "Gaussian filter: voxel size %g mm along axis %d: expected > 0", v->vox_mm[a], a);
        if (fwhm_mm[a] > 0)
            any = 1;
    }
    if (!any)
        return 0;

    double sigma[3];
    int R[3], M[3];
    for (int a = 0; a < 3; a++) {
        sigma[a] = fwhm_mm[a] / FWHM_PER_SIGMA / v->vox_mm[a];
        if (sigma[a] > 0) {
            double r = ceil(TRUNC_SIGMAS * sigma[a]);
            if (r < 1)
                r = 1;
            if (r > (double)(INT32_MAX / 4) || v->n[a] > INT32_MAX / 2 - (int)r)
                return lf_fail(err, "Gaussian filter: FWHM %g mm is too wide for voxels of %g mm", fwhm_mm[a],
                               v->vox_mm[a]);
            R[a] = (int)r;
            M[a] = fft_size(v->n[a] + R[a]); /* >= R zeros between the last voxel and the first: no wrap */
        } else {
            R[a] = 0;
            M[a] = v->n[a]; /* delta kernel: circular is exact */
        }
    }
    const int H0 = M[0] / 2 + 1;      /* complex values along the fastest axis */
    const size_t P0 = 2 * (size_t)H0; /* padded real row length (in-place r2c) */
    const size_t nbuf = P0 * (size_t)M[1] * (size_t)M[2];
    if ((double)P0 * M[1] * M[2] > (double)SIZE_MAX / sizeof(float) / 2)
        return lf_fail(err, "Gaussian filter: padded grid %d x %d x %d is too large", M[0], M[1], M[2]);

    double *K0 = malloc((size_t)H0 * sizeof *K0), *K1 = malloc((size_t)M[1] * sizeof *K1),
           *K2 = malloc((size_t)M[2] * sizeof *K2);
    float *buf = fftwf_malloc(nbuf * sizeof *buf);
    if (!K0 || !K1 || !K2 || !buf) {
        free(K0), free(K1), free(K2);
        if (buf)
            fftwf_free(buf);
        return lf_fail(err, "Gaussian filter: out of memory for a %d x %d x %d padded grid (%zu MiB)", M[0], M[1],
                       M[2], (nbuf * sizeof(float)) >> 20);
    }
    transfer_1d(sigma[0], R[0], M[0], H0, K0);
    transfer_1d(sigma[1], R[1], M[1], M[1], K1);
    transfer_1d(sigma[2], R[2], M[2], M[2], K2);

    fftwf_complex *cbuf = (fftwf_complex *)buf;
    fftwf_plan fwd, bwd;
#pragma omp critical(lf_fftw_planner)
    {
        fwd = fftwf_plan_dft_r2c_3d(M[2], M[1], M[0], buf, cbuf, FFTW_ESTIMATE);
        bwd = fftwf_plan_dft_c2r_3d(M[2], M[1], M[0], cbuf, buf, FFTW_ESTIMATE);
    }
    if (!fwd || !bwd) {
#pragma omp critical(lf_fftw_planner)
        {
            if (fwd) fftwf_destroy_plan(fwd);
            if (bwd) fftwf_destroy_plan(bwd);
        }
        free(K0), free(K1), free(K2);
        fftwf_free(buf);
        return lf_fail(err, "Gaussian filter: FFTW could not plan a %d x %d x %d transform", M[0], M[1], M[2]);
    }

    const int n0 = v->n[0], n1 = v->n[1], n2 = v->n[2];
    float *d = v->data;
    /* copy in, zero padding */
#pragma omp parallel for schedule(static)
    for (int k = 0; k < M[2]; k++)
        for (int j = 0; j < M[1]; j++) {
            float *row = buf + P0 * ((size_t)k * M[1] + j);
            if (k < n2 && j < n1) {
                memcpy(row, d + (size_t)n0 * ((size_t)k * n1 + j), (size_t)n0 * sizeof *row);
                memset(row + n0, 0, (P0 - (size_t)n0) * sizeof *row);
            } else
                memset(row, 0, P0 * sizeof *row);
        }
    fftwf_execute(fwd);
    const double norm = 1.0 / ((double)M[0] * M[1] * M[2]);
#pragma omp parallel for schedule(static)
    for (int k = 0; k < M[2]; k++)
        for (int j = 0; j < M[1]; j++) {
            fftwf_complex *c = cbuf + (size_t)H0 * ((size_t)k * M[1] + j);
            double kj = K2[k] * K1[j] * norm;
            for (int i = 0; i < H0; i++) {
                float s = (float)(kj * K0[i]);
                c[i][0] *= s;
                c[i][1] *= s;
            }
        }
    fftwf_execute(bwd);
#pragma omp parallel for schedule(static)
    for (int k = 0; k < n2; k++)
        for (int j = 0; j < n1; j++)
            memcpy(d + (size_t)n0 * ((size_t)k * n1 + j), buf + P0 * ((size_t)k * M[1] + j), (size_t)n0 * sizeof *d);

#pragma omp critical(lf_fftw_planner)
    {
        fftwf_destroy_plan(fwd);
        fftwf_destroy_plan(bwd);
    }
    fftwf_free(buf);
    free(K0), free(K1), free(K2);
    return 0;
}

int lf_gaussian_filter(lf_volume *v, double fwhm_mm, lf_error *err)
{
    const double f[3] = {fwhm_mm, fwhm_mm, fwhm_mm};
    return lf_gaussian_filter3(v, f, err);
}

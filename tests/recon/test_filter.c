/* Gaussian filter through FFTW: a point becomes a Gaussian of the requested FWHM along each axis
 * (anisotropic voxels too), totals are preserved, no wrap-around, FWHM 0 is a no-op. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/nifti.h"
#include "recon/filter.h"
#include "recon/units.h"

static void make(lf_volume *v, int n0, int n1, int n2, double v0, double v1, double v2)
{
    lf_error err = {{0}};
    int n[3] = {n0, n1, n2};
    double vox[3] = {v0, v1, v2}, org[3] = {0, 0, 0};
    assert_int_equal(lf_volume_alloc(v, n, vox, org, &err), 0);
}

static size_t ix(const lf_volume *v, int i, int j, int k)
{
    return (size_t)i + (size_t)v->n[0] * ((size_t)j + (size_t)v->n[1] * k);
}

/* FWHM along each axis (mm) from the second moment about the centroid */
static void measured_fwhm(const lf_volume *v, double fwhm[3])
{
    double s = 0, m[3] = {0}, m2[3] = {0};
    for (int k = 0; k < v->n[2]; k++)
        for (int j = 0; j < v->n[1]; j++)
            for (int i = 0; i < v->n[0]; i++) {
                double w = v->data[ix(v, i, j, k)];
                double p[3] = {i * v->vox_mm[0], j * v->vox_mm[1], k * v->vox_mm[2]};
                s += w;
                for (int a = 0; a < 3; a++) {
                    m[a] += w * p[a];
                    m2[a] += w * p[a] * p[a];
                }
            }
    for (int a = 0; a < 3; a++) {
        double mu = m[a] / s;
        fwhm[a] = 2.3548200450309493 * sqrt(m2[a] / s - mu * mu);
    }
}

static void point_fwhm(void **state)
{
    (void)state;
    struct {
        double vox[3], fwhm;
    } cases[] = {
        {{2, 2, 2}, 6},
        {{1.65, 1.65, 1.65}, 4},
        {{1.5, 2.0, 3.0}, 8},   /* anisotropic voxels */
        {{4, 4, 2}, 10},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        lf_volume v;
        lf_error err = {{0}};
        make(&v, 41, 37, 33, cases[c].vox[0], cases[c].vox[1], cases[c].vox[2]);
        v.data[ix(&v, 20, 18, 16)] = 1000;
        assert_int_equal(lf_gaussian_filter(&v, cases[c].fwhm, &err), 0);
        double f[3];
        measured_fwhm(&v, f);
        for (int a = 0; a < 3; a++)
            assert_true(fabs(f[a] / cases[c].fwhm - 1) < 0.03);
        assert_true(fabs(lf_volume_sum(&v) / 1000 - 1) < 1e-5);
        /* peak stays at the point, symmetric */
        float pk = v.data[ix(&v, 20, 18, 16)];
        assert_true(fabsf(v.data[ix(&v, 19, 18, 16)] - v.data[ix(&v, 21, 18, 16)]) < 1e-4f * pk);
        assert_true(fabsf(v.data[ix(&v, 20, 18, 15)] - v.data[ix(&v, 20, 18, 17)]) < 1e-4f * pk);
        lf_volume_free(&v);
    }
}

static void per_axis_fwhm(void **state)
{
    (void)state;
    lf_volume v;
    lf_error err = {{0}};
    make(&v, 40, 40, 60, 2, 2, 1.5);
    v.data[ix(&v, 20, 20, 30)] = 1;
    const double want[3] = {5, 0, 9};
    assert_int_equal(lf_gaussian_filter3(&v, want, &err), 0);
    double f[3];
    measured_fwhm(&v, f);
    assert_true(fabs(f[0] / want[0] - 1) < 0.03);
    assert_true(f[1] < 1e-3); /* not filtered along j */
    assert_true(fabs(f[2] / want[2] - 1) < 0.03);
    lf_volume_free(&v);
}

static void interior_sum_and_uniform_mean(void **state)
{
    (void)state;
    lf_volume v;
    lf_error err = {{0}};
    make(&v, 48, 44, 40, 2, 2, 2);
    /* a random interior object, > 4σ from the borders */
    srand(7);
    for (int k = 14; k < 26; k++)
        for (int j = 15; j < 29; j++)
            for (int i = 16; i < 32; i++)
                v.data[ix(&v, i, j, k)] = (float)(100 + rand() % 1000);
    double s0 = lf_volume_sum(&v);
    assert_int_equal(lf_gaussian_filter(&v, 7, &err), 0);
    assert_true(fabs(lf_volume_sum(&v) / s0 - 1) < 1e-5);
    lf_volume_free(&v);

    /* a uniform volume keeps its value away from the borders (kernel normalised) */
    make(&v, 40, 40, 40, 2, 2, 2);
    for (size_t i = 0; i < 40 * 40 * 40; i++)
        v.data[i] = 5.0f;
    assert_int_equal(lf_gaussian_filter(&v, 6, &err), 0);
    for (int k = 8; k < 32; k++)
        for (int j = 8; j < 32; j++)
            for (int i = 8; i < 32; i++)
                assert_true(fabsf(v.data[ix(&v, i, j, k)] - 5.0f) < 5e-5f);
    /* and loses at the border (zeros outside), as documented */
    assert_true(v.data[ix(&v, 0, 20, 20)] < 4.0f);
    lf_volume_free(&v);
}

static void no_wraparound(void **state)
{
    (void)state;
    lf_volume v;
    lf_error err = {{0}};
    make(&v, 30, 30, 30, 2, 2, 2);
    v.data[ix(&v, 0, 0, 0)] = 1;
    assert_int_equal(lf_gaussian_filter(&v, 8, &err), 0);
    float pk = v.data[ix(&v, 0, 0, 0)];
    assert_true(pk > 0);
    /* the far corner and far faces see nothing (would be ~pk·e^{-1/(2σ²)} with wrap-around) */
    assert_true(fabsf(v.data[ix(&v, 29, 0, 0)]) < 1e-6f * pk);
    assert_true(fabsf(v.data[ix(&v, 0, 29, 0)]) < 1e-6f * pk);
    assert_true(fabsf(v.data[ix(&v, 0, 0, 29)]) < 1e-6f * pk);
    assert_true(fabsf(v.data[ix(&v, 29, 29, 29)]) < 1e-6f * pk);
    lf_volume_free(&v);
}

static void zero_fwhm_bit_identical(void **state)
{
    (void)state;
    lf_volume v;
    lf_error err = {{0}};
    make(&v, 17, 13, 11, 2, 3, 4);
    size_t nv = 17 * 13 * 11;
    srand(3);
    for (size_t i = 0; i < nv; i++)
        v.data[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    v.data[5] = -0.0f;
    float *copy = malloc(nv * sizeof *copy);
    memcpy(copy, v.data, nv * sizeof *copy);
    assert_int_equal(lf_gaussian_filter(&v, 0, &err), 0);
    assert_memory_equal(copy, v.data, nv * sizeof *copy);
    const double z[3] = {0, 0, 0};
    assert_int_equal(lf_gaussian_filter3(&v, z, &err), 0);
    assert_memory_equal(copy, v.data, nv * sizeof *copy);
    /* invalid widths */
    assert_int_equal(lf_gaussian_filter(&v, -1, &err), -1);
    assert_true(tu_contains(err.msg, "FWHM"));
    assert_int_equal(lf_gaussian_filter(&v, NAN, &err), -1);
    assert_int_equal(lf_gaussian_filter(&v, INFINITY, &err), -1);
    assert_memory_equal(copy, v.data, nv * sizeof *copy);
    free(copy);
    lf_volume_free(&v);
}

/* Several volumes filtered from parallel threads (planner under the critical section) agree with a
 * serial run. */
static void parallel_calls(void **state)
{
    (void)state;
    enum { NV = 6 };
    lf_volume v[NV], ref;
    make(&ref, 24, 20, 18, 2, 2, 2);
    ref.data[ix(&ref, 12, 10, 9)] = 1;
    lf_error err = {{0}};
    for (int t = 0; t < NV; t++) {
        make(&v[t], 24, 20, 18, 2, 2, 2);
        v[t].data[ix(&v[t], 12, 10, 9)] = 1;
    }
    assert_int_equal(lf_gaussian_filter(&ref, 5, &err), 0);
    int fails = 0;
#pragma omp parallel for reduction(+ : fails)
    for (int t = 0; t < NV; t++) {
        lf_error e = {{0}};
        fails += lf_gaussian_filter(&v[t], 5, &e) != 0;
    }
    assert_int_equal(fails, 0);
    for (int t = 0; t < NV; t++) {
        assert_memory_equal(ref.data, v[t].data, 24 * 20 * 18 * sizeof(float));
        lf_volume_free(&v[t]);
    }
    lf_volume_free(&ref);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(point_fwhm),
        cmocka_unit_test(per_axis_fwhm),
        cmocka_unit_test(interior_sum_and_uniform_mean),
        cmocka_unit_test(no_wraparound),
        cmocka_unit_test(zero_fwhm_bit_identical),
        cmocka_unit_test(parallel_calls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Tests for sim/ct.c: voxel means (partial volume), HU per material and noise sigma as documented,
 * noise correlation, determinism (per seed, whatever the thread count), the default grid. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "sim/ct.h"

/* A water box (0 HU) in air (-1000 HU): |x|, |y| < half, all z. */
typedef struct {
    double half;
} box;

static double box_hu(const double x[3], void *user)
{
    const box *b = user;
    return (fabs(x[0]) < b->half && fabs(x[1]) < b->half) ? 0.0 : -1000.0;
}

/* 64 x 64 x 8 voxels of 2 mm (x, y) x 3 mm, voxel edges at even mm: box edges at +-48 mm fall on voxel
 * boundaries. */
static void grid(lf_volume *v)
{
    lf_error err = {{0}};
    int n[3] = {64, 64, 8};
    double vox[3] = {2, 2, 3}, origin[3] = {-63, -63, -10.5};
    assert_int_equal(lf_volume_alloc(v, n, vox, origin, &err), 0);
}

typedef struct {
    double mean, sd;
    size_t n;
} stats;

/* water: |x|,|y| < 44 mm (two voxels in from the edge); air: |x| or |y| > 52 mm */
static void region_stats(const lf_volume *v, int water, stats *s)
{
    double sum = 0, sum2 = 0;
    size_t n = 0;
    for (int k = 0; k < v->n[2]; k++)
        for (int j = 0; j < v->n[1]; j++)
            for (int i = 0; i < v->n[0]; i++) {
                double x[3];
                lf_volume_voxel_mm(v, i, j, k, x);
                double m = fmax(fabs(x[0]), fabs(x[1]));
                if (water ? m < 44 : m > 52) {
                    double h = v->data[((size_t)k * v->n[1] + j) * v->n[0] + i];
                    sum += h;
                    sum2 += h * h;
                    n++;
                }
            }
    s->n = n;
    s->mean = sum / n;
    s->sd = sqrt((sum2 - sum * sum / n) / (n - 1));
}

static void test_noiseless_means(void **state)
{
    (void)state;
    lf_error err = {{0}};
    lf_volume v;
    grid(&v);
    box b = {48.0};
    assert_int_equal(lf_ct_synthesize(&v, box_hu, &b, 2, 0.0, 0.0, 1, &err), 0);
    stats w, a;
    region_stats(&v, 1, &w);
    region_stats(&v, 0, &a);
    assert_true(w.mean == 0 && w.sd == 0);
    assert_true(a.mean == -1000 && a.sd == 0);
    /* a box edge through the middle of a voxel: ss = 2 gives half water, half air */
    b.half = 47.0;
    assert_int_equal(lf_ct_synthesize(&v, box_hu, &b, 2, 0.0, 0.0, 1, &err), 0);
    /* voxel i = 55 spans x in [46, 48): sub-samples at 46.5 (water) and 47.5 (air) */
    float edge = v.data[(size_t)(3 * 64 + 32) * 64 + 55];
    assert_true(fabs(edge + 500.0) < 1e-3);
    /* corner voxel: a quarter water */
    float corner = v.data[(size_t)(3 * 64 + 55) * 64 + 55];
    assert_true(fabs(corner + 750.0) < 1e-3);
    lf_volume_free(&v);
}

static void check_noisy(double sigma, double corr_mm, uint64_t seed, int check_means)
{
    lf_error err = {{0}};
    lf_volume v;
    grid(&v);
    box b = {48.0};
    if (lf_ct_synthesize(&v, box_hu, &b, 2, sigma, corr_mm, seed, &err) != 0)
        fail_msg("%s", err.msg);
    stats w, a;
    region_stats(&v, 1, &w);
    region_stats(&v, 0, &a);
    if (check_means && (fabs(w.mean - 0) > 2 || fabs(a.mean + 1000) > 2))
        fail_msg("sigma %g corr %g seed %llu: water %.2f HU, air %.2f HU, expected 0 and -1000 within 2", sigma,
                 corr_mm, (unsigned long long)seed, w.mean, a.mean);
    if (fabs(w.sd / sigma - 1) > 0.05 || fabs(a.sd / sigma - 1) > 0.05)
        fail_msg("sigma %g corr %g seed %llu: measured %.2f HU (water), %.2f HU (air), expected %g within 5 %%", sigma,
                 corr_mm, (unsigned long long)seed, w.sd, a.sd, sigma);
    lf_volume_free(&v);
}

static void test_materials_and_sigma(void **state)
{
    (void)state;
    double s = lf_ct_noise_sigma_default();
    assert_true(s >= 30 && s <= 50);
    check_noisy(s, 0.0, 11, 1);                            /* white */
    check_noisy(s, lf_ct_noise_corr_default_mm(), 12, 1); /* the simulator's defaults */
    check_noisy(10.0, 3.0, 13, 1);
    /* strongly correlated (FWHM 2 voxels): only ~1700 independent grains in the water region, so the
     * mean wanders by ~1 HU; sigma stays exact */
    check_noisy(s, 4.0, 14, 0);
}

/* Lag-1 correlation in x of the noise in water: ~0 for white noise, exp(-1 / (4 s^2)) for a Gaussian
 * kernel of s voxels (the autocorrelation of a Gaussian of sigma s is a Gaussian of sigma s*sqrt(2)). */
static double lag1(double corr_mm)
{
    lf_error err = {{0}};
    lf_volume v;
    grid(&v);
    box b = {1000.0}; /* all water */
    assert_int_equal(lf_ct_synthesize(&v, box_hu, &b, 1, 40.0, corr_mm, 5, &err), 0);
    double num = 0, den = 0;
    for (int k = 0; k < 8; k++)
        for (int j = 0; j < 64; j++)
            for (int i = 0; i + 1 < 64; i++) {
                const float *p = v.data + ((size_t)k * 64 + j) * 64 + i;
                num += (double)p[0] * p[1];
                den += (double)p[0] * p[0];
            }
    lf_volume_free(&v);
    return num / den;
}

static void test_correlation(void **state)
{
    (void)state;
    assert_true(fabs(lag1(0.0)) < 0.03);
    double s = 6.0 / 2 / (2 * sqrt(2 * log(2.0))); /* FWHM 6 mm at 2 mm voxels: sigma in voxels */
    double want = exp(-1.0 / (4 * s * s));
    double got = lag1(6.0);
    if (fabs(got - want) > 0.03)
        fail_msg("lag-1 correlation %.3f, expected %.3f", got, want);
}

static void test_deterministic(void **state)
{
    (void)state;
    lf_error err = {{0}};
    lf_volume a, b, c;
    grid(&a);
    grid(&b);
    grid(&c);
    box bx = {48.0};
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    assert_int_equal(lf_ct_synthesize(&a, box_hu, &bx, 2, 40, 2, 42, &err), 0);
    omp_set_num_threads(threads > 1 ? threads : 3);
    assert_int_equal(lf_ct_synthesize(&b, box_hu, &bx, 2, 40, 2, 42, &err), 0);
    omp_set_num_threads(threads);
    assert_int_equal(lf_ct_synthesize(&c, box_hu, &bx, 2, 40, 2, 43, &err), 0);
    size_t n = 64 * 64 * 8;
    assert_memory_equal(a.data, b.data, n * sizeof(float));
    size_t same = 0;
    for (size_t q = 0; q < n; q++)
        same += a.data[q] == c.data[q];
    assert_true(same < n / 100);
    /* slices differ from each other (independent streams) */
    assert_memory_not_equal(a.data, a.data + 64 * 64, 64 * 64 * sizeof(float));
    lf_volume_free(&a);
    lf_volume_free(&b);
    lf_volume_free(&c);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    lf_error err = {{0}};
    lf_volume v;
    grid(&v);
    box b = {48.0};
    assert_int_equal(lf_ct_synthesize(&v, box_hu, &b, 0, 40, 2, 1, &err), -1);
    assert_true(tu_contains(err.msg, "sub-sampling"));
    assert_int_equal(lf_ct_synthesize(&v, box_hu, &b, 1, -1, 2, 1, &err), -1);
    assert_true(tu_contains(err.msg, "sigma"));
    assert_int_equal(lf_ct_synthesize(&v, box_hu, &b, 1, 40, NAN, 1, &err), -1);
    assert_int_equal(lf_ct_synthesize(&v, NULL, &b, 1, 40, 2, 1, &err), -1);
    lf_volume_free(&v);
    assert_int_equal(lf_ct_synthesize(&v, box_hu, &b, 1, 40, 2, 1, &err), -1);
}

static void test_default_grid(void **state)
{
    (void)state;
    lf_error err = {{0}};
    int n[3];
    double vox[3], o[3];
    assert_int_equal(lf_ct_default_grid(-530.0, 530.0, n, vox, o, &err), 0);
    assert_int_equal(n[0], 512);
    assert_int_equal(n[1], 512);
    assert_int_equal(n[2], 354); /* ceil(1060 / 3) */
    assert_true(vox[0] == 500.0 / 512 && vox[1] == 500.0 / 512 && vox[2] == 3.0);
    /* centred: voxels 255 and 256 straddle x = 0; the slab covers the range */
    assert_true(fabs(o[0] + 255.5 * vox[0]) < 1e-12 && fabs(o[1] - o[0]) < 1e-12);
    assert_true(o[2] - 1.5 <= -530.0 && o[2] + (n[2] - 1) * 3.0 + 1.5 >= 530.0);
    assert_true(fabs((o[2] + o[2] + (n[2] - 1) * 3.0) / 2) < 1e-9);
    assert_int_equal(lf_ct_default_grid(10.0, 10.0, n, vox, o, &err), 0);
    assert_int_equal(n[2], 1);
    assert_true(o[2] == 10.0);
    assert_int_equal(lf_ct_default_grid(5.0, -5.0, n, vox, o, &err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_noiseless_means),
        cmocka_unit_test(test_materials_and_sigma),
        cmocka_unit_test(test_correlation),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_default_grid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

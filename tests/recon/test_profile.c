/* Axial profiles: the disc picks exactly the voxels within the radius, a triangular profile gives its
 * exact FWHM and edges (linear interpolation is exact on a linear ramp), a missing edge is NaN, bad
 * input is refused. */
#include "testutil.h"

#include <math.h>
#include <string.h>

#include "io/nifti.h"
#include "recon/profile.h"

/* 24 x 24 x 40 voxels of 2 mm, voxel (0,0,0) at (-23,-23,-39): centres at odd mm, z from -39 to +39 */
static void make(lf_volume *v, double zc, double half_width_mm)
{
    lf_error err = {{0}};
    int n[3] = {24, 24, 40};
    double vox[3] = {2, 2, 2}, org[3] = {-23, -23, -39};
    assert_int_equal(lf_volume_alloc(v, n, vox, org, &err), 0);
    for (int k = 0; k < n[2]; k++)
        for (int j = 0; j < n[1]; j++)
            for (int i = 0; i < n[0]; i++) {
                double p[3];
                lf_volume_voxel_mm(v, i, j, k, p);
                double r2 = (p[0] - 5) * (p[0] - 5) + (p[1] + 3) * (p[1] + 3);
                double tri = 1.0 - fabs(p[2] - zc) / half_width_mm;
                /* inside the 8 mm disc around (5,-3) a triangle in z; outside a large value that must not leak in */
                v->data[(size_t)i + 24u * ((size_t)j + 24u * (size_t)k)] = r2 <= 64.0 ? (float)(tri > 0 ? 10 * tri : 0) : 1000.0f;
            }
}

static void triangle(void **state)
{
    (void)state;
    lf_volume v;
    make(&v, 2.0, 20.0);  /* peak at z = 2 (between slices 1 and 3), half maximum at z = 2 ± 10 */
    lf_profile p;
    lf_error err = {{0}};
    assert_int_equal(lf_profile_axial(&v, 5, -3, 8, -INFINITY, INFINITY, &p, &err), 0);
    assert_int_equal(p.n, 40);
    assert_true(p.z_mm[0] < p.z_mm[1]);
    for (int i = 0; i < p.n; i++) {
        assert_true(p.voxels[i] > 0);
        assert_true(p.mean[i] <= 10.0 + 1e-6);  /* nothing from outside the disc */
    }
    lf_profile_peak pk;
    lf_profile_find_peak(&p, 0.5, &pk);
    /* slices at z = 1 and 3 both hold 9.5: the first maximum is taken */
    assert_float_equal(pk.max, 9.5, 1e-5);
    /* level 0.5 of 9.5 = 4.75 = 10 (1 - |z - 2| / 20) at |z - 2| = 10.5 */
    assert_float_equal(pk.lo_mm, 2.0 - 10.5, 1e-4);
    assert_float_equal(pk.hi_mm, 2.0 + 10.5, 1e-4);
    assert_float_equal(pk.width_mm, 21.0, 1e-4);
    /* a z range cutting the upper flank: no upper edge */
    lf_profile_free(&p);
    assert_int_equal(lf_profile_axial(&v, 5, -3, 8, -30, 6, &p, &err), 0);
    lf_profile_find_peak(&p, 0.5, &pk);
    assert_true(isnan(pk.hi_mm) && isnan(pk.width_mm));
    assert_float_equal(pk.lo_mm, -8.5, 1e-4);
    lf_profile_free(&p);
    lf_volume_free(&v);
}

static void refused(void **state)
{
    (void)state;
    lf_volume v;
    make(&v, 0.0, 20.0);
    lf_profile p;
    lf_error err = {{0}};
    assert_int_equal(lf_profile_axial(&v, 5, -3, 0, -INFINITY, INFINITY, &p, &err), -1);
    assert_non_null(strstr(err.msg, "radius"));
    assert_int_equal(lf_profile_axial(&v, 500, 0, 5, -INFINITY, INFINITY, &p, &err), -1);
    assert_non_null(strstr(err.msg, "no voxel"));
    assert_int_equal(lf_profile_axial(&v, 0, 0, 5, 100, 200, &p, &err), -1);
    v.sform[2][0] = 0.5; /* slices not axial */
    assert_int_equal(lf_profile_axial(&v, 0, 0, 5, -INFINITY, INFINITY, &p, &err), -1);
    assert_non_null(strstr(err.msg, "axis-aligned"));
    lf_volume_free(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(triangle), cmocka_unit_test(refused)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}

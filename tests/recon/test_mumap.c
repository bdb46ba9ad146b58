/* Attenuation map from CT: Carney HU->mu table, Gaussian width, mean-preserving resampling. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recon/mumap.h"

static void load_table(lf_hu2mu_table *t)
{
    lf_error err = {0};
    if (lf_hu2mu_load(NULL, t, &err) != 0)
        fail_msg("%s", err.msg);
}

static void carney_values(void **state)
{
    (void)state;
    lf_hu2mu_table t;
    load_table(&t);
    assert_int_equal(t.nrows, 6);
    assert_true(fabs(lf_hu2mu(&t, 120, -1000)) < 1e-12);
    assert_true(fabs(lf_hu2mu(&t, 120, 0) - 0.096) < 1e-9);
    assert_true(fabs(lf_hu2mu(&t, 120, 1000) - (5.10e-5 * 2000 + 4.71e-2)) < 1e-9);
    assert_true(lf_hu2mu(&t, 120, -1024) == 0.0); /* clamped */
    assert_true(lf_hu2mu(&t, 120, NAN) == 0.0);
    const double kvps[6] = {80, 100, 110, 120, 130, 140};
    for (int k = 0; k < 6; k++) {
        const lf_hu2mu_row *r = NULL;
        lf_error err = {0};
        assert_int_equal(lf_hu2mu_select(&t, kvps[k], &r, &err), 0);
        assert_non_null(r);
        assert_true(fabs(r->slope_below - 9.6e-5) < 1e-15);
        double below = lf_hu2mu(&t, kvps[k], r->bp), above = lf_hu2mu(&t, kvps[k], r->bp + 1e-6);
        /* continuous up to the rounding of the published a, b */
        assert_true(fabs(below - above) < 3e-5);
        assert_true(fabs(below - 9.6e-5 * (r->bp + 1000)) < 1e-12);
        /* monotone, bone steeper at low kVp */
        assert_true(lf_hu2mu(&t, kvps[k], 1500) > lf_hu2mu(&t, kvps[k], 500));
    }
}

static void unknown_kvp(void **state)
{
    (void)state;
    lf_hu2mu_table t;
    load_table(&t);
    lf_error err = {0};
    const lf_hu2mu_row *r = (const lf_hu2mu_row *)&t;
    assert_int_equal(lf_hu2mu_select(&t, 135, &r, &err), -1);
    assert_null(r);
    assert_true(tu_contains(err.msg, "135"));
    assert_true(tu_contains(err.msg, "80, 100, 110, 120, 130, 140"));
    assert_true(isnan(lf_hu2mu(&t, 135, 0)));

    int n[3] = {4, 4, 4};
    double vox[3] = {1, 1, 1}, o[3] = {0, 0, 0};
    lf_volume ct, mu;
    assert_int_equal(lf_volume_alloc(&ct, n, vox, o, &err), 0);
    memset(&err, 0, sizeof err);
    assert_int_equal(lf_ct_to_mumap(&ct, 135, &t, 0, &ct, &mu, &err), -1);
    assert_true(tu_contains(err.msg, "135 kVp"));
    lf_volume_free(&ct);
}

static void bad_table(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/x.hu2mu", dir);
    lf_hu2mu_table t;
    lf_error err = {0};
    tu_write_text(path, "slope below break point := 9.6e-5\nkvp 120 := a=5.1e-5, bp=47\n");
    assert_int_equal(lf_hu2mu_load(path, &t, &err), -1);
    assert_true(tu_contains(err.msg, "kvp 120"));
    tu_write_text(path, "slope below break point := 9.6e-5\nkvp 120 := a=5.1e-5, b=0.2, bp=47\n");
    assert_int_equal(lf_hu2mu_load(path, &t, &err), -1);
    assert_true(tu_contains(err.msg, "break point"));
    tu_write_text(path, "slope below break point := 1e-4\nkvp 100 := a=5e-5, b=5e-2, bp=0\n");
    assert_int_equal(lf_hu2mu_load(path, &t, &err), 0);
    assert_true(fabs(lf_hu2mu(&t, 100, 1000) - 0.15) < 1e-12);
    tu_rmtree(dir);
}

static void bad_grids(void **state)
{
    (void)state;
    lf_hu2mu_table t;
    load_table(&t);
    int n[3] = {4, 4, 4};
    double vox[3] = {1, 1, 1}, o[3] = {0, 0, 0};
    lf_volume ct, pet, mu;
    lf_error err = {0};
    assert_int_equal(lf_volume_alloc(&ct, n, vox, o, &err), 0);
    assert_int_equal(lf_volume_alloc(&pet, n, vox, o, &err), 0);
    ct.sform[0][1] = 0.3;
    assert_int_equal(lf_ct_to_mumap(&ct, 120, &t, 0, &pet, &mu, &err), -1);
    assert_true(tu_contains(err.msg, "CT grid is not axis-aligned"));
    ct.sform[0][1] = 0;
    pet.sform[2][2] = -1;
    assert_int_equal(lf_ct_to_mumap(&ct, 120, &t, 0, &pet, &mu, &err), -1);
    assert_true(tu_contains(err.msg, "PET grid"));
    assert_true(tu_contains(err.msg, "axis 2"));
    lf_volume_free(&ct);
    lf_volume_free(&pet);
}

static double integral(const lf_volume *v)
{
    double s = 0;
    size_t nv = (size_t)v->n[0] * v->n[1] * v->n[2];
    for (size_t i = 0; i < nv; i++)
        s += v->data[i];
    return s * v->vox_mm[0] * v->vox_mm[1] * v->vox_mm[2];
}

static void mean_preserving(void **state)
{
    (void)state;
    lf_hu2mu_table t;
    load_table(&t);
    const lf_hu2mu_row *r;
    assert_int_equal(lf_hu2mu_select(&t, 120, &r, NULL), 0);
    int n[3] = {48, 40, 36};
    double vox[3] = {1.0, 1.2, 1.5}, o[3] = {-20.3, 7.1, -3.0};
    lf_volume ct;
    lf_error err = {0};
    assert_int_equal(lf_volume_alloc(&ct, n, vox, o, &err), 0);
    double expect = 0;
    for (int k = 0; k < n[2]; k++)
        for (int j = 0; j < n[1]; j++)
            for (int i = 0; i < n[0]; i++) {
                float hu = -1000;
                if (i >= 12 && i < 36 && j >= 10 && j < 30 && k >= 8 && k < 28)
                    hu = (float)(400 * sin(0.7 * i) * cos(0.45 * j) + 300 * sin(0.31 * k) + 50);
                ct.data[(size_t)(k * n[1] + j) * n[0] + i] = hu;
                expect += lf_hu2mu_eval(r, hu);
            }
    expect *= vox[0] * vox[1] * vox[2];
    /* PET grid at 4 mm, origin not aligned with the CT, covering it with room to spare */
    int pn[3] = {16, 16, 18};
    double pv[3] = {4.0, 4.0, 3.3}, po[3] = {-23.7, 3.9, -6.1};
    lf_volume pet;
    assert_int_equal(lf_volume_alloc(&pet, pn, pv, po, &err), 0);
    const double fwhm[2] = {0, 4.0};
    for (int f = 0; f < 2; f++) {
        lf_volume mu;
        if (lf_ct_to_mumap(&ct, 120, &t, fwhm[f], &pet, &mu, &err) != 0)
            fail_msg("%s", err.msg);
        double got = integral(&mu);
        assert_true(fabs(got - expect) <= 1e-4 * expect);
        assert_true(tu_contains(mu.descrip, "kvp=120"));
        for (int a = 0; a < 3; a++)
            assert_true(mu.n[a] == pn[a] && mu.sform[a][a] == pv[a] && mu.sform[a][3] == po[a]);
        lf_volume_free(&mu);
    }
    lf_volume_free(&pet);
    lf_volume_free(&ct);
}

static void water_cylinder(void **state)
{
    (void)state;
    lf_hu2mu_table t;
    load_table(&t);
    int n[3] = {120, 120, 40};
    double vox[3] = {1, 1, 1}, o[3] = {-59.5, -59.5, -19.5}; /* CT spans [-60, 60] x [-60, 60] x [-20, 20] */
    lf_volume ct;
    lf_error err = {0};
    assert_int_equal(lf_volume_alloc(&ct, n, vox, o, &err), 0);
    const double R = 40;
    for (int k = 0; k < n[2]; k++)
        for (int j = 0; j < n[1]; j++)
            for (int i = 0; i < n[0]; i++) {
                double x = o[0] + i, y = o[1] + j;
                ct.data[(size_t)(k * n[1] + j) * n[0] + i] = x * x + y * y <= R * R ? 0.0f : -1000.0f;
            }
    /* PET 4 mm grid extending 8 mm beyond the CT in every direction */
    int pn[3] = {34, 34, 14};
    double pv[3] = {4, 4, 4}, po[3] = {-66, -66, -26};
    lf_volume pet, mu;
    assert_int_equal(lf_volume_alloc(&pet, pn, pv, po, &err), 0);
    if (lf_ct_to_mumap(&ct, 120, &t, 0, &pet, &mu, &err) != 0)
        fail_msg("%s", err.msg);
    int n_in = 0, n_air = 0;
    for (int k = 0; k < pn[2]; k++)
        for (int j = 0; j < pn[1]; j++)
            for (int i = 0; i < pn[0]; i++) {
                double x = po[0] + 4 * i, y = po[1] + 4 * j, z = po[2] + 4 * k;
                double rmax = hypot(fabs(x) + 2, fabs(y) + 2), rmin = hypot(fmax(fabs(x) - 2, 0), fmax(fabs(y) - 2, 0));
                float v = mu.data[(size_t)(k * pn[1] + j) * pn[0] + i];
                int inside_z = fabs(z) + 2 <= 20, outside_z = fabs(z) - 2 >= 20;
                if (inside_z && rmax <= R - 1) {
                    assert_true(fabs(v - 0.096) < 1e-4);
                    n_in++;
                } else if (outside_z || rmin >= R + 1) {
                    assert_true(v == 0.0f);
                    n_air++;
                }
                assert_true(v >= 0 && v <= 0.096 + 1e-4);
            }
    assert_true(n_in > 500 && n_air > 3000);
    lf_volume_free(&mu);
    lf_volume_free(&pet);
    lf_volume_free(&ct);
}

/* FWHM (mm) of a profile p[0..n) sampled every dx mm, by linear interpolation at half the maximum. */
static double profile_fwhm(const float *p, size_t stride, int n, double dx)
{
    int im = 0;
    for (int i = 1; i < n; i++)
        if (p[(size_t)i * stride] > p[(size_t)im * stride])
            im = i;
    double h = 0.5 * p[(size_t)im * stride];
    int l = im, r = im;
    while (l > 0 && p[(size_t)(l - 1) * stride] > h)
        l--;
    while (r < n - 1 && p[(size_t)(r + 1) * stride] > h)
        r++;
    double a = p[(size_t)(l - 1) * stride], b = p[(size_t)l * stride];
    double xl = (l - 1) + (h - a) / (b - a);
    a = p[(size_t)r * stride];
    b = p[(size_t)(r + 1) * stride];
    double xr = r + (a - h) / (a - b);
    return (xr - xl) * dx;
}

static void gaussian_fwhm(void **state)
{
    (void)state;
    int n[3] = {61, 51, 41};
    double vox[3] = {0.8, 1.0, 1.5};
    const double fwhm = 6.0;
    size_t nv = (size_t)n[0] * n[1] * n[2];
    float *d = malloc(nv * sizeof *d);
    assert_non_null(d);
    for (int ax = 0; ax < 3; ax++) {
        /* a one-voxel slab perpendicular to axis ax through the middle */
        memset(d, 0, nv * sizeof *d);
        for (int k = 0; k < n[2]; k++)
            for (int j = 0; j < n[1]; j++)
                for (int i = 0; i < n[0]; i++) {
                    int c[3] = {i, j, k};
                    if (c[ax] == n[ax] / 2)
                        d[(size_t)(k * n[1] + j) * n[0] + i] = 1.0f;
                }
        lf_error err = {0};
        if (lf_mumap_gauss3d(d, n, vox, fwhm, &err) != 0)
            fail_msg("%s", err.msg);
        size_t stride = ax == 0 ? 1 : ax == 1 ? (size_t)n[0] : (size_t)n[0] * n[1];
        int c[3] = {n[0] / 2, n[1] / 2, n[2] / 2};
        c[ax] = 0;
        const float *line = d + (size_t)(c[2] * n[1] + c[1]) * n[0] + c[0];
        double w = profile_fwhm(line, stride, n[ax], vox[ax]);
        assert_true(fabs(w - fwhm) < 0.05 * fwhm);
        /* the slab's mass along the profile is kept away from the edges */
        double s = 0;
        for (int i = 0; i < n[ax]; i++)
            s += line[(size_t)i * stride];
        assert_true(fabs(s - 1.0) < 1e-4);
    }
    free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(carney_values),   cmocka_unit_test(unknown_kvp),     cmocka_unit_test(bad_table),
        cmocka_unit_test(bad_grids),       cmocka_unit_test(mean_preserving), cmocka_unit_test(water_cylinder),
        cmocka_unit_test(gaussian_fwhm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

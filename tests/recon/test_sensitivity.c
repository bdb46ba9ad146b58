/* Sensitivity image (recon/sensitivity.h) and detector response (recon/response.h) on the mini
 * scanner: the plane decomposition against the brute force over every LOR (with and without the
 * response, reduced MRD, grids off centre and holding the crystals), the total against an independent
 * sum of LOR lengths inside the grid (catches planes or ring orders counted twice or missed), the
 * attenuation / efficiency factor against the brute force (the default detail method, its exact limit, the
 * former coarse method), determinism (also of the full image), bad arguments. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "projectors/allors.h"
#include "recon/response.h"
#include "recon/sensitivity.h"

static lf_scanner sc;

static void setup_scanner(void) { tu_scanner("mini", &sc); }

/* max and RMS relative difference of a against ref over voxels with ref > frac·max ref (and mask, unless NULL) */
static void rel_diff(const float *a, const float *ref, const unsigned char *mask, size_t nv, double frac, double *mx,
                     double *rms)
{
    float top = 0.0f;
    for (size_t j = 0; j < nv; j++)
        top = fmaxf(top, ref[j]);
    double m = 0.0, s2 = 0.0;
    size_t n = 0;
    for (size_t j = 0; j < nv; j++) {
        if ((mask && !mask[j]) || !(ref[j] > frac * top))
            continue;
        double r = fabs((double)a[j] - (double)ref[j]) / (double)ref[j];
        m = fmax(m, r);
        s2 += r * r;
        n++;
    }
    assert_true(n > 0);
    *mx = m;
    *rms = sqrt(s2 / (double)n);
}

static void response_values(void **state)
{
    (void)state;
    setup_scanner();
    /* mini: μ = 0.869 / cm, depth 20 mm: μd = 1.738; h(c) = (1 − x^(1/c)) / (1 − x), x = exp(−μd) */
    const double x = exp(-0.1 * sc.crystal_mu_per_cm * sc.crystal_depth_mm);
    assert_true(fabs(0.1 * sc.crystal_mu_per_cm * sc.crystal_depth_mm - 1.738) < 1e-12);
    const float rp = (float)(sc.ring_radius_mm + sc.doi_mm);
    const float normal[6] = {rp, 0, 3, -rp, 0, 3}; /* through the axis, no δz: c = 1 */
    assert_true(fabsf(lf_response_lor(&sc, normal) - 1.0f) < 1e-6f);
    /* through the axis with δz = √3 · 2R': c = 1/2 at both ends, h = (1 − x²)/(1 − x) = 1 + x; the solid
     * angle c_1 c_2 (2R'/D)² with D = 4R' is 1/16 (the cos⁴ θ of a 60° obliquity) */
    const float oblique[6] = {rp, 0, 0, -rp, 0, (float)(sqrt(3.0) * 2.0 * rp)};
    double want = (1.0 + x) * (1.0 + x) / 16.0; /* = 1.38268... / 16 */
    assert_true(fabs(lf_response_lor(&sc, oblique) - want) < 1e-5 * want);
    assert_true(fabs(lf_response_chord(&sc, 2.0 * rp, sqrt(3.0) * 2.0 * rp) - want) < 1e-6 * want);
    /* transaxial chord of 90 degrees, no δz: c = L/2R' = cos 45°; solid angle c² (2R'/L)² = 1 (every chord
     * of a ring alike) */
    const float chord[6] = {rp, 0, 0, 0, rp, 0};
    double h45 = -expm1(-1.738 / sqrt(0.5)) / -expm1(-1.738);
    assert_true(fabs(lf_response_lor(&sc, chord) - h45 * h45) < 1e-5);
    /* grazing: capped at three depths, h = 1 + x + x² */
    assert_true(fabs(lf_response_incidence(&sc, 0.05) - (1.0 + x + x * x)) < 1e-12);
    assert_true(fabs(lf_response_incidence(&sc, 1.0) - 1.0) < 1e-15);
    lf_scanner flat = sc;
    flat.crystal_depth_mm = 0.0;
    assert_true(lf_response_incidence(&flat, 0.4) == 1.0);
    assert_true(fabsf(lf_response_lor(&flat, oblique) - 1.0f / 16.0f) < 1e-6f); /* the solid angle stays */
}

/* one geometric case against the brute force; returns the max relative difference */
static double geometric_case(const lf_grid *g, int mrd, int no_response, const char *what)
{
    size_t nv = lf_grid_voxels(g);
    float *fast = malloc(nv * sizeof *fast), *ref = malloc(nv * sizeof *ref);
    assert_non_null(fast);
    assert_non_null(ref);
    lf_error err = {{0}};
    lf_sens_opts o = {0};
    o.no_response = no_response;
    if (lf_sensitivity_geometric(&sc, mrd, g, &o, fast, &err) != 0)
        fail_msg("%s", err.msg);
    if (lf_sensitivity_bruteforce(&sc, mrd, g, NULL, NULL, no_response, ref, &err) != 0)
        fail_msg("%s", err.msg);
    double mx, rms;
    rel_diff(fast, ref, NULL, nv, 0.01, &mx, &rms);
    printf("  geometric %-34s mrd %2d response %d: max rel diff %.2e, rms %.2e (voxels > 1 %% of max)\n", what, mrd,
           !no_response, mx, rms);
    free(fast);
    free(ref);
    return mx;
}

static void geometric_vs_bruteforce(void **state)
{
    (void)state;
    setup_scanner();
    const lf_grid centred = lf_grid_centred(40, 40, 18, 4, 4, 4, 0, 0, 0);       /* z-symmetric path */
    const lf_grid odd = lf_grid_centred(33, 29, 23, 4.5f, 5, 3.3f, 3, -7, 5.5f); /* off centre, anisotropic */
    const lf_grid wide = lf_grid_centred(30, 30, 20, 8, 8, 4, 0, 0, 0);          /* holds the crystals */
    assert_true(geometric_case(&centred, -1, 1, "40x40x18 @ 4 mm") < 1e-3);
    assert_true(geometric_case(&centred, -1, 0, "40x40x18 @ 4 mm") < 1e-3);
    assert_true(geometric_case(&centred, 5, 0, "40x40x18 @ 4 mm") < 1e-3);
    assert_true(geometric_case(&centred, 0, 0, "40x40x18 @ 4 mm") < 1e-3);
    assert_true(geometric_case(&odd, -1, 0, "33x29x23 off centre") < 1e-3);
    assert_true(geometric_case(&odd, 3, 1, "33x29x23 off centre") < 1e-3);
    assert_true(geometric_case(&wide, -1, 0, "30x30x20 @ 8 mm (crystals inside)") < 1e-3);
}

/* Σ_j G_j = Σ_LOR g · (length of the LOR inside the grid box), computed LOR by LOR (no projector) */
static double box_length(const lf_grid *g, const float *l)
{
    double t0 = 0.0, t1 = 1.0, len2 = 0.0;
    for (int i = 0; i < 3; i++) {
        double lo = (double)g->origin_mm[i] - 0.5 * (double)g->voxel_mm[i];
        double hi = lo + (double)g->n[i] * (double)g->voxel_mm[i];
        double p = l[i], d = (double)l[3 + i] - p;
        len2 += d * d;
        if (d == 0.0) {
            if (p < lo || p >= hi)
                return 0.0;
            continue;
        }
        double a = (lo - p) / d, b = (hi - p) / d;
        t0 = fmax(t0, fmin(a, b));
        t1 = fmin(t1, fmax(a, b));
    }
    return t1 > t0 ? (t1 - t0) * sqrt(len2) : 0.0;
}

static void total_matches_lor_sum(void **state)
{
    (void)state;
    setup_scanner();
    const lf_grid grids[3] = {lf_grid_centred(40, 40, 18, 4, 4, 4, 0, 0, 0),
                              lf_grid_centred(33, 29, 23, 4.5f, 5, 3.3f, 3, -7, 5.5f),
                              lf_grid_centred(30, 30, 20, 8, 8, 4, 0, 0, 0)};
    for (int c = 0; c < 3; c++) {
        const lf_grid *g = &grids[c];
        size_t nv = lf_grid_voxels(g);
        float *img = malloc(nv * sizeof *img);
        assert_non_null(img);
        lf_error err = {{0}};
        assert_int_equal(lf_sensitivity_geometric(&sc, -1, g, NULL, img, &err), 0);
        double sum = 0.0;
        for (size_t j = 0; j < nv; j++)
            sum += img[j];
        lf_allors it;
        assert_int_equal(lf_allors_begin(&it, &sc, -1, NULL, &err), 0);
        enum { CH = 4096 };
        float *lors = malloc(CH * 6 * sizeof *lors);
        assert_non_null(lors);
        double want = 0.0;
        size_t n;
        while ((n = lf_allors_next(&it, NULL, NULL, lors, CH)) > 0)
            for (size_t i = 0; i < n; i++)
                want += lf_response_lor(&sc, lors + 6 * i) * box_length(g, lors + 6 * i);
        lf_allors_end(&it);
        double rel = fabs(sum - want) / want;
        printf("  grid %d: Σ G = %.6e mm, Σ_LOR g·length in box = %.6e mm, rel diff %.1e\n", c, sum, want, rel);
        assert_true(rel < 1e-4);
        free(lors);
        free(img);
    }
}

/* body: water cylinder r 60 mm (|z| <= 30), lung insert 0.03 (r 15 at x −25), bone rod 0.17 (r 6 at x +28) */
static float body_mu(double x, double y, double z)
{
    if (x * x + y * y > 60.0 * 60.0 || fabs(z) > 30.0)
        return 0.0f;
    if ((x + 25.0) * (x + 25.0) + y * y <= 15.0 * 15.0)
        return 0.03f;
    if ((x - 28.0) * (x - 28.0) + (y - 5.0) * (y - 5.0) <= 6.0 * 6.0)
        return 0.17f;
    return 0.096f;
}

/* The factor F is a smooth angular average only when many LOR directions cross each voxel: the mini
 * scanner's 24 crystals per ring are too few (its exact F jumps by 30 % from voxel to voxel), so this
 * test widens it to 192 crystals per ring (4 blocks of 48) and 2 x 4 rings: 1.2e6 LORs. */
static void dense_scanner(lf_scanner *d)
{
    setup_scanner();
    *d = sc;
    d->crystals_per_block_t = 48;
    d->rings_per_unit = 4;
    d->axial_crystals_per_block = 4;
    d->mrd = 8;
    lf_error err = {{0}};
    assert_int_equal(lf_scanner_finish(d, &err), 0);
}

static void full_vs_bruteforce(void **state)
{
    (void)state;
    lf_scanner ds;
    dense_scanner(&ds);
    const lf_grid g = lf_grid_centred(40, 40, 10, 4, 4, 4, 0, 0, 0);
    size_t nv = lf_grid_voxels(&g);
    float *mu = malloc(nv * sizeof *mu), *fast = malloc(nv * sizeof *fast), *ref = malloc(nv * sizeof *ref);
    float *eff = malloc((size_t)ds.n_crystals * sizeof *eff);
    unsigned char *body = malloc(nv);
    assert_true(mu && fast && ref && eff && body);
    for (int z = 0; z < g.n[2]; z++)
        for (int y = 0; y < g.n[1]; y++)
            for (int x = 0; x < g.n[0]; x++) {
                size_t j = x + (size_t)g.n[0] * (y + (size_t)g.n[1] * z);
                mu[j] = body_mu(g.origin_mm[0] + x * g.voxel_mm[0], g.origin_mm[1] + y * g.voxel_mm[1],
                                g.origin_mm[2] + z * g.voxel_mm[2]);
                body[j] = mu[j] > 0.0f;
            }
    lf_rng r;
    lf_rng_seed(&r, 20240611, 0);
    for (int c = 0; c < ds.n_crystals; c++)
        eff[c] = (float)(0.8 + 0.4 * lf_rng_uniform(&r));
    lf_error err = {{0}};
    if (lf_sensitivity_bruteforce(&ds, -1, &g, mu, eff, 0, ref, &err) != 0)
        fail_msg("%s", err.msg);
    /* the default (detail: F2D · C, C on a 3x coarser transaxial grid) with every / every 2nd crystal and ring,
     * the same with C at full resolution (then exact up to the model tables' interpolation), and the former
     * coarse-only factor. Measured max / rms (docs/sensitivity.md): 6.5e-3 / 1.4e-3, 4.2e-2 / 8.4e-3 (this small
     * scanner has too few LORs for a subset), 1.1e-3 / 9e-5, 1.1e-1 / 3.3e-2. */
    const struct {
        int method, cv, k;
        double max, rms;
    } cases[4] = {{LF_SENS_FACTOR_DETAIL, 0, 0, 1e-2, 2.5e-3},
                  {LF_SENS_FACTOR_DETAIL, 0, 2, 6e-2, 1.2e-2}, /* 96 x 4 coarse crystals: sampling noise */
                  {LF_SENS_FACTOR_DETAIL, 1, 1, 2e-3, 3e-4},
                  {LF_SENS_FACTOR_COARSE, 0, 0, 0.15, 0.05}};
    for (int i = 0; i < 4; i++) {
        lf_sens_opts o = {0};
        o.factor_method = cases[i].method;
        o.coarse_voxels = cases[i].cv;
        o.coarse_crystals = cases[i].k;
        o.coarse_rings = cases[i].k;
        if (lf_sensitivity(&ds, -1, &g, mu, eff, &o, fast, &err) != 0)
            fail_msg("%s", err.msg);
        double mx, rms;
        rel_diff(fast, ref, body, nv, 0.01, &mx, &rms);
        printf("  full (mu + efficiencies), %s factor, coarse voxels %d, crystals / rings %d: inside the body (mu > 0) "
               "max rel err %.2e, rms %.2e\n", cases[i].method == LF_SENS_FACTOR_DETAIL ? "detail" : "coarse",
               cases[i].cv ? cases[i].cv : 3, cases[i].k ? cases[i].k : 1, mx, rms);
        assert_true(mx < cases[i].max);
        assert_true(rms < cases[i].rms);
    }
    free(mu);
    free(fast);
    free(ref);
    free(eff);
    free(body);
}

static void deterministic(void **state)
{
    (void)state;
    setup_scanner();
    const lf_grid g = lf_grid_centred(33, 29, 23, 4.5f, 5, 3.3f, 3, -7, 5.5f);
    size_t nv = lf_grid_voxels(&g);
    float *a = malloc(nv * sizeof *a), *b = malloc(nv * sizeof *b);
    assert_true(a && b);
    lf_error err = {{0}};
    assert_int_equal(lf_sensitivity_geometric(&sc, -1, &g, NULL, a, &err), 0);
    assert_int_equal(lf_sensitivity_geometric(&sc, -1, &g, NULL, b, &err), 0);
    assert_memory_equal(a, b, nv * sizeof *a);
    /* the full image (μ: a water block off centre), twice */
    float *mu = calloc(nv, sizeof *mu);
    assert_non_null(mu);
    for (size_t j = 0; j < nv; j++)
        if ((j % 33) > 8 && (j % 33) < 25 && ((j / 33) % 29) > 5)
            mu[j] = 0.096f;
    assert_int_equal(lf_sensitivity(&sc, -1, &g, mu, NULL, NULL, a, &err), 0);
    assert_int_equal(lf_sensitivity(&sc, -1, &g, mu, NULL, NULL, b, &err), 0);
    assert_memory_equal(a, b, nv * sizeof *a);
    free(mu);
    free(a);
    free(b);
}

static int progress_calls;
static double progress_last;
static void progress(void *user, double f)
{
    (void)user;
    assert_true(f >= progress_last - 1e-12 && f <= 1.0);
    progress_last = f;
    progress_calls++;
}

static void bad_arguments(void **state)
{
    (void)state;
    setup_scanner();
    lf_grid g = lf_grid_centred(10, 10, 6, 4, 4, 4, 0, 0, 0);
    size_t nv = lf_grid_voxels(&g);
    float *img = malloc(nv * sizeof *img), *mu = calloc(nv, sizeof *mu);
    assert_true(img && mu);
    lf_error err = {{0}};
    assert_int_equal(lf_sensitivity_geometric(NULL, -1, &g, NULL, img, &err), -1);
    assert_true(tu_contains(err.msg, "no scanner"));
    assert_int_equal(lf_sensitivity(&sc, -1, &g, NULL, NULL, NULL, NULL, &err), -1);
    lf_grid bad = g;
    bad.n[1] = 0;
    assert_int_equal(lf_sensitivity_geometric(&sc, -1, &bad, NULL, img, &err), -1);
    lf_sens_opts o = {0};
    o.coarse_rings = -2;
    assert_int_equal(lf_sensitivity(&sc, -1, &g, mu, NULL, &o, img, &err), -1);
    assert_true(tu_contains(err.msg, "negative option"));
    o.coarse_rings = 0;
    o.factor_method = 7;
    assert_int_equal(lf_sensitivity(&sc, -1, &g, mu, NULL, &o, img, &err), -1);
    assert_true(tu_contains(err.msg, "unknown factor method"));
    o.factor_method = 0;
    mu[7] = -0.1f;
    assert_int_equal(lf_sensitivity(&sc, -1, &g, mu, NULL, NULL, img, &err), -1);
    assert_true(tu_contains(err.msg, "voxel 7"));
    mu[7] = NAN;
    assert_int_equal(lf_sensitivity_bruteforce(&sc, -1, &g, mu, NULL, 0, img, &err), -1);
    mu[7] = 0.0f;
    /* progress: monotone, ends at 1 */
    o.coarse_rings = 0;
    o.progress = progress;
    progress_calls = 0;
    progress_last = 0.0;
    mu[nv / 2] = 0.1f;
    assert_int_equal(lf_sensitivity(&sc, -1, &g, mu, NULL, &o, img, &err), 0);
    assert_true(progress_calls > 2);
    assert_true(progress_last == 1.0);
    free(img);
    free(mu);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(response_values),
        cmocka_unit_test(geometric_vs_bruteforce),
        cmocka_unit_test(total_matches_lor_sum),
        cmocka_unit_test(full_vs_bruteforce),
        cmocka_unit_test(deterministic),
        cmocka_unit_test(bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

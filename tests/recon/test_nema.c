/* NEMA NU 2-2018 image quality on synthetic IEC images built here from physics.md's model (2 mm voxels,
 * background 1, spheres 4, lung 0): the background ROI layout against the geometry, the body outline's
 * distance, contrast recovery of a sharp image (partial-volume bound) and of a Gaussian-blurred one
 * (against the closed-form blurred-ball ROI means), background variability of white noise of known SD,
 * the lung residual, automatic centre finding off the grid, outputs and errors. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "recon/nema.h"

static const double k_dia[6] = {10, 13, 17, 22, 28, 37};

/* ------------------------------------------------------------------ the phantom, independently */

typedef struct phantom {
    double c[3];        /* axis point in the sphere plane, scanner mm */
    double bg, hot, lung;
    double sigma_mm;    /* > 0: spheres blurred by a 3-D Gaussian of this SD (point-sampled) */
} phantom;

static void sphere_centre(int i, double *x, double *y)
{
    *x = 57.2 * cos(i * M_PI / 3);
    *y = 57.2 * sin(i * M_PI / 3);
}

static int in_body(double x, double y, double z)
{
    if (z < -110 || z > 70)
        return 0;
    if (y <= 0)
        return x * x + y * y <= 150.0 * 150.0;
    if (y > 80)
        return 0;
    double ax = fabs(x);
    return ax <= 70 || (ax - 70) * (ax - 70) + y * y <= 80.0 * 80.0;
}

/* phantom-frame value; spheres only when sharp */
static double value_rel(const phantom *p, double x, double y, double z)
{
    if (!in_body(x, y, z))
        return 0;
    if (x * x + y * y <= 25.0 * 25.0)
        return p->lung;
    if (p->sigma_mm <= 0)
        for (int i = 0; i < 6; i++) {
            double sx, sy;
            sphere_centre(i, &sx, &sy);
            double r = k_dia[i] / 2;
            if ((x - sx) * (x - sx) + (y - sy) * (y - sy) + z * z <= r * r)
                return p->hot;
        }
    return p->bg;
}

/* A ball of radius R convolved with an isotropic Gaussian of SD s, at distance r from its centre. */
static double ball_blur(double R, double s, double r)
{
    double a = sqrt(2.0) * s;
    if (r < 1e-6)
        return erf(R / a) - sqrt(2 / M_PI) * (R / s) * exp(-R * R / (2 * s * s));
    return 0.5 * (erf((R - r) / a) + erf((R + r) / a)) -
           s / (r * sqrt(2 * M_PI)) * (exp(-(R - r) * (R - r) / (2 * s * s)) - exp(-(R + r) * (R + r) / (2 * s * s)));
}

/* 2 mm grid: x = -169 + 2i (170), y = -169 + 2j (135), z = z_lo + 2k (nz). Voxel means of the sharp
 * part (6^3 sub-samples where a boundary may cross the voxel); blurred spheres point-sampled on top. */
static void make_image(lf_volume *v, const phantom *p, double z_lo, int nz)
{
    lf_error err = {{0}};
    int n[3] = {170, 135, nz};
    double vox[3] = {2, 2, 2}, o[3] = {-169, -169, z_lo};
    if (lf_volume_alloc(v, n, vox, o, &err) != 0)
        fail_msg("%s", err.msg);
    for (int k = 0; k < nz; k++)
        for (int j = 0; j < n[1]; j++)
            for (int i = 0; i < n[0]; i++) {
                double x = -169 + 2.0 * i - p->c[0], y = -169 + 2.0 * j - p->c[1], z = z_lo + 2.0 * k - p->c[2];
                double first = value_rel(p, x, y, z), sum = first;
                /* sub-sample only voxels that a boundary may cross (half-diagonal sqrt(3) mm; the body's
                 * outline, curved at >= 80 mm, crosses a voxel only between corners that differ) */
                int near = fabs(z + 110) < 1.01 || fabs(z - 70) < 1.01 || fabs(hypot(x, y) - 25) < 1.74;
                for (int q = 0; q < 4 && !near; q++)
                    near = in_body(x + (q % 2 ? 1 : -1), y + (q / 2 ? 1 : -1), 0) != in_body(x, y, 0);
                for (int s = 0; s < 6 && !near && p->sigma_mm <= 0; s++) {
                    double sx, sy;
                    sphere_centre(s, &sx, &sy);
                    near = fabs(sqrt((x - sx) * (x - sx) + (y - sy) * (y - sy) + z * z) - k_dia[s] / 2) < 1.74;
                }
                if (near) {
                    sum = 0;
                    for (int q = 0; q < 216; q++)
                        sum += value_rel(p, x + (q % 6 - 2.5) / 3, y + (q / 6 % 6 - 2.5) / 3, z + (q / 36 - 2.5) / 3);
                    sum /= 216;
                }
                if (p->sigma_mm > 0)
                    for (int s = 0; s < 6; s++) {
                        double sx, sy;
                        sphere_centre(s, &sx, &sy);
                        double r = sqrt((x - sx) * (x - sx) + (y - sy) * (y - sy) + z * z);
                        if (r < k_dia[s] / 2 + 8 * p->sigma_mm)
                            sum += (p->hot - p->bg) * ball_blur(k_dia[s] / 2, p->sigma_mm, r);
                    }
                v->data[i + (size_t)n[0] * (j + (size_t)n[1] * k)] = (float)sum;
            }
}

static void add_noise(lf_volume *v, double sd, uint64_t seed)
{
    lf_rng r;
    lf_rng_seed(&r, seed, 0);
    size_t nv = (size_t)v->n[0] * v->n[1] * v->n[2];
    for (size_t q = 0; q < nv; q++)
        v->data[q] += (float)(sd * lf_rng_normal(&r));
}

static void analyse_given(const lf_volume *img, const phantom *p, double ratio, lf_nema_result *r)
{
    lf_error err = {{0}};
    lf_nema_opts o = lf_nema_opts_default();
    o.ratio = ratio;
    o.centre_given = 1;
    memcpy(o.centre_mm, p->c, sizeof o.centre_mm);
    if (lf_nema_analyse(img, &o, r, &err) != 0)
        fail_msg("%s", err.msg);
}

/* ------------------------------------------------------------------ tests */

static void body_outline_distance(void **state)
{
    (void)state;
    assert_float_equal(lf_nema_body_edge_mm(0, 0), 80, 1e-9);          /* flat side y = 80 */
    assert_float_equal(lf_nema_body_edge_mm(0, -100), 50, 1e-9);       /* dome */
    assert_float_equal(lf_nema_body_edge_mm(100, 0), 50, 1e-9);        /* dome and corner agree */
    assert_float_equal(lf_nema_body_edge_mm(0, 70), 10, 1e-9);
    assert_float_equal(lf_nema_body_edge_mm(110, 30), 80 - hypot(40, 30), 1e-9); /* corner arc */
    assert_float_equal(lf_nema_body_edge_mm(140, 40), 80 - sqrt(6500.0), 1e-9);  /* just outside: < 0 */
    assert_float_equal(lf_nema_body_edge_mm(0, 90), -10, 1e-9);
    assert_float_equal(lf_nema_body_edge_mm(-100, 100), 80 - hypot(30, 100), 1e-9); /* nearest: the corner arc */
    assert_float_equal(lf_nema_body_edge_mm(-60, 100), -20, 1e-9);                 /* nearest: the flat */
}

static void background_layout(void **state)
{
    (void)state;
    double xy[12][2], again[12][2];
    lf_error err = {{0}};
    assert_int_equal(lf_nema_background_layout(xy, &err), 0);
    assert_int_equal(lf_nema_background_layout(again, &err), 0);
    assert_memory_equal(xy, again, sizeof xy);
    double closest = INFINITY;
    for (int b = 0; b < 12; b++) {
        /* the 37 mm circle grown by 15 mm stays in the body (the test's own outline) */
        for (int a = 0; a < 720; a++) {
            double t = a * M_PI / 360, x = xy[b][0] + 33.5 * cos(t), y = xy[b][1] + 33.5 * sin(t);
            if (!in_body(x, y, 0))
                fail_msg("background ROI %d at (%g, %g): %g, %g is outside the body", b, xy[b][0], xy[b][1], x, y);
        }
        assert_true(hypot(xy[b][0], xy[b][1]) >= 25 + 33.5 - 1e-9);
        for (int s = 0; s < 6; s++) {
            double sx, sy;
            sphere_centre(s, &sx, &sy);
            assert_true(hypot(xy[b][0] - sx, xy[b][1] - sy) >= k_dia[s] / 2 + 33.5 - 1e-9);
        }
        for (int c = 0; c < b; c++)
            closest = fmin(closest, hypot(xy[b][0] - xy[c][0], xy[b][1] - xy[c][1]));
    }
    print_message("background layout: closest centres %.1f mm apart\n", closest);
    assert_true(closest >= 37); /* no two 37 mm ROIs overlap */
}

static void sharp_image(void **state)
{
    (void)state;
    phantom p = {{3.3, -7.1, 11.7}, 1, 4, 0, 0};
    lf_volume img;
    make_image(&img, &p, -45, 64);
    lf_nema_result r;
    analyse_given(&img, &p, 4, &r);
    /* partial volume of 2 mm voxels (box) read through bilinear interpolation (triangle): an in-plane blur
     * of SD ~ h/2 = 1 mm loses ~ (2/a) SD / sqrt(2 pi) of a disc of radius a; allow 1.5x that + 1 point */
    for (int i = 0; i < 6; i++) {
        double a = k_dia[i] / 2, loss = 100 * 2 / a * 1.0 / sqrt(2 * M_PI);
        print_message("sharp %2.0f mm: CR %.2f %% (bound %.1f), C_B %.6f, BV %.2g %%\n", k_dia[i],
                      r.contrast_recovery_pct[i], 100 - 1.5 * loss - 1, r.c_b[i], r.background_variability_pct[i]);
        assert_true(r.contrast_recovery_pct[i] <= 100.5);
        assert_true(r.contrast_recovery_pct[i] >= 100 - 1.5 * loss - 1);
        if (i > 0)
            assert_true(r.contrast_recovery_pct[i] > r.contrast_recovery_pct[i - 1]);
        assert_float_equal(r.c_b[i], 1, 1e-6);
        assert_true(r.background_variability_pct[i] < 1e-4);
    }
    assert_true(r.contrast_recovery_pct[5] >= 94);
    assert_float_equal(r.lung_residual_pct, 0, 1e-6);
    assert_int_equal(r.centre_found, 0);
    /* a lung at 10 % of the background: residual 10 %; an 8:1 ratio halves nothing else */
    lf_volume_free(&img);
    p.lung = 0.1;
    p.hot = 8;
    make_image(&img, &p, -45, 64);
    lf_nema_result r8;
    analyse_given(&img, &p, 8, &r8);
    assert_float_equal(r8.lung_residual_pct, 10, 1e-3);
    for (int i = 0; i < 6; i++)
        assert_float_equal(r8.contrast_recovery_pct[i], r.contrast_recovery_pct[i], 1e-3);
    lf_volume_free(&img);
}

/* mean of ball_blur over a disc of radius a through the ball's centre: (2 / a^2) int_0^a g(rho) rho d rho */
static double blurred_disc_mean(double R, double s, double a)
{
    const int n = 4000;
    double h = a / n, sum = 0;
    for (int q = 0; q <= n; q++) {
        double rho = q * h, w = (q == 0 || q == n) ? 1 : (q % 2 ? 4 : 2);
        sum += w * ball_blur(R, s, rho) * rho;
    }
    return 2 / (a * a) * sum * h / 3;
}

static void blurred_image(void **state)
{
    (void)state;
    /* sphere plane on a slice (z = 11 mm), axis off the grid in x and y: in-plane interpolation only */
    phantom p = {{3.3, -7.1, 11}, 1, 4, 0, 2.55}; /* 6 mm FWHM */
    lf_volume img;
    make_image(&img, &p, -45, 64);
    lf_nema_result r;
    analyse_given(&img, &p, 4, &r);
    int bad = 0;
    for (int i = 0; i < 6; i++) {
        /* the continuous ROI mean, plus the mean error of linear interpolation on a 2 mm grid in x and y,
         * (h^2 / 12) times the disc's mean Laplacian, 2 g'(a) / a (divergence theorem) */
        double a = k_dia[i] / 2, s = p.sigma_mm, cont = 100 * blurred_disc_mean(a, s, a);
        double slope = (ball_blur(a, s, a + 1e-4) - ball_blur(a, s, a - 1e-4)) / 2e-4;
        double want = cont + 100 * 4.0 / 12 * 2 * slope / a;
        print_message("blurred %2.0f mm: CR %.3f %%, expected %.3f %% (continuous %.3f)\n", k_dia[i],
                      r.contrast_recovery_pct[i], want, cont);
        bad += fabs(r.contrast_recovery_pct[i] - want) > 0.5; /* higher orders: (h / sigma)^4 ~ 0.4 */
        assert_float_equal(r.c_b[i], 1, 1e-5);
    }
    assert_int_equal(bad, 0);
    assert_true(fabs(r.lung_residual_pct) < 1e-4);
    lf_volume_free(&img);
}

static void noise_variability(void **state)
{
    (void)state;
    /* white noise of SD 0.2 per voxel; planes on slices: a ROI mean's SD is ~ 0.2 sqrt(4 mm^2 / (pi a^2))
     * (bilinear interpolation spreads the rim's weights a little: slightly less); 16 realisations of 60
     * ROIs make the RMS BV good to ~2 % */
    const double sd = 0.2;
    phantom p = {{-4.4, 6.3, 1}, 1, 4, 0, 0};
    lf_volume base, img;
    make_image(&base, &p, -29, 31);
    make_image(&img, &p, -29, 31);
    double ms[6] = {0}, cb[6] = {0};
    const int runs = 16;
    size_t nv = (size_t)img.n[0] * img.n[1] * img.n[2];
    for (int run = 0; run < runs; run++) {
        memcpy(img.data, base.data, nv * sizeof *img.data);
        add_noise(&img, sd, 100 + run);
        lf_nema_result r;
        analyse_given(&img, &p, 4, &r);
        for (int i = 0; i < 6; i++) {
            ms[i] += r.background_variability_pct[i] * r.background_variability_pct[i] / runs;
            cb[i] += r.c_b[i] / runs;
        }
    }
    for (int i = 0; i < 6; i++) {
        double a = k_dia[i] / 2, want = 100 * sd * sqrt(4 / (M_PI * a * a)), got = sqrt(ms[i]);
        print_message("noise %2.0f mm: BV %.3f %%, white-noise expectation %.3f %% (ratio %.3f), C_B %.4f\n", k_dia[i],
                      got, want, got / want, cb[i]);
        assert_true(got / want > 0.85 && got / want < 1.06);
        assert_float_equal(cb[i], 1, 3 * sd / sqrt(runs * 60 * M_PI * a * a / 4));
    }
    lf_volume_free(&base);
    lf_volume_free(&img);
}

static void finds_centre(void **state)
{
    (void)state;
    const phantom cases[] = {
        {{12.3, -8.7, 31.1}, 1, 4, 0, 2.55}, /* blurred and noisy, off the grid in x, y, z */
        {{-6.6, 4.4, -3.3}, 1, 4, 0.05, 0},  /* sharp, a lung of 5 % */
    };
    for (int t = 0; t < 2; t++) {
        const phantom *p = &cases[t];
        lf_volume img;
        make_image(&img, p, -139, 125);
        if (t == 0)
            add_noise(&img, 0.15, 7);
        lf_nema_opts o = lf_nema_opts_default();
        lf_nema_result r, given;
        lf_error err = {{0}};
        if (lf_nema_analyse(&img, &o, &r, &err) != 0)
            fail_msg("%s", err.msg);
        double d = sqrt((r.centre_mm[0] - p->c[0]) * (r.centre_mm[0] - p->c[0]) +
                        (r.centre_mm[1] - p->c[1]) * (r.centre_mm[1] - p->c[1]) +
                        (r.centre_mm[2] - p->c[2]) * (r.centre_mm[2] - p->c[2]));
        print_message("found (%.3f, %.3f, %.3f) for (%.1f, %.1f, %.1f): %.3f mm off; slices %d..%d, lung contrast "
                      "%.2f, %d axis slices\n",
                      r.centre_mm[0], r.centre_mm[1], r.centre_mm[2], p->c[0], p->c[1], p->c[2], d, r.find.slice_lo,
                      r.find.slice_hi, r.find.lung_contrast, r.find.axis_slices);
        assert_int_equal(r.centre_found, 1);
        assert_true(d <= 1.0);
        /* the phantom's 180 mm (90 slices) found, give or take the blur */
        assert_true(abs(r.find.slice_hi - r.find.slice_lo + 1 - 90) <= 2);
        analyse_given(&img, p, 4, &given);
        for (int i = 0; i < 6; i++)
            assert_float_equal(r.contrast_recovery_pct[i], given.contrast_recovery_pct[i], 1.5);
        assert_float_equal(r.lung_residual_pct, 100 * p->lung, 0.5);
        lf_volume_free(&img);
    }
}

static void errors(void **state)
{
    (void)state;
    lf_error err = {{0}};
    lf_nema_opts o = lf_nema_opts_default();
    lf_nema_result r;
    phantom p = {{0, 0, 0}, 1, 4, 0, 0};
    lf_volume img;
    make_image(&img, &p, -139, 125);
    size_t nv = (size_t)img.n[0] * img.n[1] * img.n[2];

    o.ratio = 1;
    assert_int_equal(lf_nema_analyse(&img, &o, &r, &err), -1);
    assert_true(tu_contains(err.msg, "expected a value > 1"));
    o.ratio = 4;

    /* a given centre that puts ROIs off the grid */
    o.centre_given = 1;
    o.centre_mm[0] = 100;
    assert_int_equal(lf_nema_analyse(&img, &o, &r, &err), -1);
    assert_true(tu_contains(err.msg, "outside the image grid"));
    assert_true(tu_contains(err.msg, "ROI"));
    o.centre_mm[0] = 0;
    /* a NaN inside the 37 mm sphere ROI: (28.6, -49.5, 0) -> voxel (99, 60, 69) */
    float keep = img.data[99 + 170 * (60 + (size_t)135 * 69)];
    img.data[99 + 170 * (60 + (size_t)135 * 69)] = NAN;
    assert_int_equal(lf_nema_analyse(&img, &o, &r, &err), -1);
    assert_true(tu_contains(err.msg, "37 mm sphere ROI") && tu_contains(err.msg, "non-finite"));
    img.data[99 + 170 * (60 + (size_t)135 * 69)] = keep;
    o.centre_given = 0;

    /* no spheres: the finder says so */
    phantom cold = p;
    cold.hot = 1;
    lf_volume flat;
    make_image(&flat, &cold, -139, 125);
    assert_int_equal(lf_nema_analyse(&flat, &o, &r, &err), -1);
    assert_true(tu_contains(err.msg, "no hot spheres"));
    /* no lung either */
    lf_volume_free(&flat);
    cold.lung = 1;
    make_image(&flat, &cold, -139, 125);
    assert_int_equal(lf_nema_analyse(&flat, &o, &r, &err), -1);
    if (!tu_contains(err.msg, "no cold lung insert"))
        fail_msg("%s", err.msg);
    /* empty */
    memset(flat.data, 0, nv * sizeof *flat.data);
    assert_int_equal(lf_nema_analyse(&flat, &o, &r, &err), -1);
    assert_true(tu_contains(err.msg, "no positive values"));
    lf_volume_free(&flat);
    lf_volume_free(&img);
}

static void outputs(void **state)
{
    (void)state;
    phantom p = {{0, 0, 0}, 1, 4, 0, 0};
    lf_volume img;
    make_image(&img, &p, -29, 31);
    lf_nema_result r;
    analyse_given(&img, &p, 4, &r);
    const char *dir = tu_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/nema.csv", dir);
    FILE *f = fopen(path, "w+");
    assert_non_null(f);
    lf_nema_csv(f, &r);
    rewind(f);
    char line[512];
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "diameter_mm,contrast_recovery_pct,background_variability_pct,c_h,c_b,sd_b\n");
    for (int i = 0; i < 6; i++) {
        double d, cr, bv, ch, cb, sd;
        assert_non_null(fgets(line, sizeof line, f));
        assert_int_equal(sscanf(line, "%lf,%lf,%lf,%lf,%lf,%lf", &d, &cr, &bv, &ch, &cb, &sd), 6);
        assert_float_equal(d, k_dia[i], 0);
        assert_float_equal(cr, r.contrast_recovery_pct[i], 1e-6 * fabs(cr));
        assert_float_equal(ch, r.c_h[i], 1e-6 * ch);
    }
    assert_null(fgets(line, sizeof line, f));
    fclose(f);
    snprintf(path, sizeof path, "%s/nema.json", dir);
    f = fopen(path, "w+");
    lf_nema_json(f, &r, "img.nii.gz");
    long len = ftell(f);
    rewind(f);
    char *text = calloc(1, (size_t)len + 1);
    assert_int_equal(fread(text, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    assert_true(tu_contains(text, "\"lung_residual_pct\": 0"));
    assert_true(tu_contains(text, "\"centre_source\": \"given\""));
    assert_true(tu_contains(text, "\"contrast_recovery_pct\""));
    assert_true(tu_contains(text, "\"image\": \"img.nii.gz\""));
    free(text);
    tu_rmtree(dir);

    uint8_t *rgb;
    int w, h;
    lf_error err = {{0}};
    assert_int_equal(lf_nema_picture(&img, &r, &rgb, &w, &h, &err), 0);
    assert_int_equal(w, 660);
    assert_int_equal(h, 520);
    /* the centre (330, 330) is the yellow cross; the 37 mm sphere's rim at (28.6 + 18.5, -49.5) red;
     * inside that sphere bright grey (4 / (1.25 x ~3.8)), the background (0, -130) darker grey */
    const uint8_t *c = rgb + 3 * (330 * w + 330);
    assert_true(c[0] == 255 && c[1] == 230 && c[2] == 0);
    int px = (int)((28.6 + 18.5 + 165) / 0.5), py = (int)((-49.536653 + 165) / 0.5);
    c = rgb + 3 * ((size_t)py * w + px);
    assert_true(c[0] == 255 && c[1] == 60 && c[2] == 60);
    c = rgb + 3 * ((size_t)py * w + (int)((28.6 + 165) / 0.5));
    assert_true(c[0] == c[1] && c[0] > 180);
    c = rgb + 3 * ((size_t)((-130 + 165) / 0.5) * w + 330);
    assert_true(c[0] == c[1] && c[0] > 30 && c[0] < 70);
    free(rgb);
    lf_volume_free(&img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(body_outline_distance), cmocka_unit_test(background_layout), cmocka_unit_test(sharp_image),
        cmocka_unit_test(blurred_image),         cmocka_unit_test(noise_variability), cmocka_unit_test(finds_centre),
        cmocka_unit_test(errors),                cmocka_unit_test(outputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

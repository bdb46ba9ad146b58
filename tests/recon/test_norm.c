/* Normalisation (recon/norm.h) on the "small" scanner: the cylinder chord and the CT measurement against
 * geometry, the FFT fan sums against a brute-force sum over every accepted pair, the ML fit recovering known
 * efficiencies, the norm folder round trip and its refusals, and the efficiencies estimated from a simulated
 * cylinder scan against the simulator's true ones. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io/lmreader.h"
#include "recon/fansums.h"
#include "recon/norm.h"
#include "sim/simulate.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* the small norm phantom: r 60 mm, z ±30 mm, water */
static lf_norm_cylinder phantom_cylinder(void)
{
    lf_norm_cylinder c = {.centre_mm = {0, 0, 0}, .radius_mm = 60, .z0_mm = -30, .z1_mm = 30, .mu_per_mm = 0.0096,
                          .volume_ml = M_PI * 60 * 60 * 60 * 1e-3};
    return c;
}

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 11;
}

static void chord(void **state)
{
    (void)state;
    lf_norm_cylinder c = phantom_cylinder();
    const float d1[3] = {-200, 0, 0}, d2[3] = {200, 0, 0};
    assert_float_equal(lf_norm_chord_mm(&c, d1, d2), 120.0, 1e-4); /* a diameter */
    const float m1[3] = {-200, 70, 0}, m2[3] = {200, 70, 0};
    assert_float_equal(lf_norm_chord_mm(&c, m1, m2), 0.0, 0); /* misses */
    const float s1[3] = {-200, 36, 0}, s2[3] = {200, 36, 0};
    assert_float_equal(lf_norm_chord_mm(&c, s1, s2), 2 * sqrt(60.0 * 60 - 36 * 36), 1e-4); /* a chord at 36 mm */
    /* oblique through the centre, z from -40 to 40 over 400 mm: leaves the cylinder at |z| = 30, i.e. |x| = 150,
     * beyond the radius: the whole transaxial chord counts, 120 mm times the secant */
    const float o1[3] = {-200, 0, -40}, o2[3] = {200, 0, 40};
    assert_float_equal(lf_norm_chord_mm(&c, o1, o2), 120.0 * sqrt(400.0 * 400 + 80 * 80) / 400, 1e-3);
    /* steeper: z from -200 to 200: inside only for |z| < 30, i.e. |x| < 30 */
    const float q1[3] = {-200, 0, -200}, q2[3] = {200, 0, 200};
    assert_float_equal(lf_norm_chord_mm(&c, q1, q2), 60.0 * sqrt(2.0), 1e-3);
}

static void cylinder_from_ct(void **state)
{
    (void)state;
    lf_volume ct;
    lf_error err = {{0}};
    const int n[3] = {200, 200, 40};
    const double vox[3] = {1, 1, 3}, org[3] = {-99.5, -99.5, -58.5};
    assert_int_equal(lf_volume_alloc(&ct, n, vox, org, &err), 0);
    /* water cylinder r 50 mm, centred at (4, -2), z from -30 to 30 (slice centres -28.5 .. 28.5) */
    for (int k = 0; k < n[2]; k++)
        for (int j = 0; j < n[1]; j++)
            for (int i = 0; i < n[0]; i++) {
                double p[3];
                lf_volume_voxel_mm(&ct, i, j, k, p);
                const int in = hypot(p[0] - 4, p[1] + 2) < 50 && fabs(p[2]) < 30;
                ct.data[((size_t)k * n[1] + j) * n[0] + i] = in ? (float)(((i * 7 + j * 3 + k) % 21) - 10) : -1000.0f;
            }
    lf_norm_cylinder c;
    assert_int_equal(lf_norm_cylinder_from_ct(&ct, 120, &c, &err), 0);
    print_message("  CT cylinder: centre (%.3f, %.3f, %.3f), r %.3f, z %.2f..%.2f, mu %.5f/cm, %.2f mL\n", c.centre_mm[0],
                  c.centre_mm[1], c.centre_mm[2], c.radius_mm, c.z0_mm, c.z1_mm, 10 * c.mu_per_mm, c.volume_ml);
    assert_float_equal(c.centre_mm[0], 4, 0.05);
    assert_float_equal(c.centre_mm[1], -2, 0.05);
    assert_float_equal(c.centre_mm[2], 0, 1e-6);
    assert_float_equal(c.radius_mm, 50, 0.1); /* a disc of 1 mm pixels */
    assert_float_equal(c.z0_mm, -30, 1e-9);
    assert_float_equal(c.z1_mm, 30, 1e-9);
    assert_float_equal(c.volume_ml, M_PI * 50 * 50 * 60 * 1e-3, 0.005 * M_PI * 50 * 50 * 60 * 1e-3);
    assert_float_equal(10 * c.mu_per_mm, 0.096, 0.001);
    /* a cylinder reaching the CT's last slice is refused */
    for (int j = 0; j < n[1]; j++)
        for (int i = 0; i < n[0]; i++)
            ct.data[((size_t)(n[2] - 1) * n[1] + j) * n[0] + i] = 0;
    assert_int_equal(lf_norm_cylinder_from_ct(&ct, 120, &c, &err), -1);
    assert_true(tu_contains(err.msg, "last slice"));
    lf_volume_free(&ct);
}

/* the FFT fan sums equal the brute-force sum over every accepted pair, and the fit recovers known ε */
static void fan_model_and_fit(void **state)
{
    (void)state;
    lf_scanner sc;
    tu_scanner("small", &sc);
    const int mrd = 12, nc = sc.n_crystals;
    lf_norm_cylinder c = phantom_cylinder();
    lf_error err = {{0}};
    lf_norm_fanmodel *m;
    double t0 = now_s();
    assert_int_equal(lf_norm_fanmodel_build(&sc, mrd, &c, &m, &err), 0);
    const double t_build = now_s() - t0;
    float *eff = malloc((size_t)nc * sizeof *eff), *fit = malloc((size_t)nc * sizeof *fit);
    double *S = malloc((size_t)nc * sizeof *S), *B = calloc((size_t)nc, sizeof *B), *F = malloc((size_t)nc * sizeof *F);
    assert_non_null(eff), assert_non_null(fit), assert_non_null(S), assert_non_null(B), assert_non_null(F);
    uint64_t seed = 7;
    double mean = 0;
    for (int i = 0; i < nc; i++) {
        eff[i] = (float)(0.75 + 0.5 * (double)(lcg(&seed) % 100000) / 1e5); /* uniform 0.75 .. 1.25 */
        mean += eff[i];
    }
    eff[123] = 0; /* a dead crystal */
    t0 = now_s();
    assert_int_equal(lf_norm_fan_expect(m, eff, S, &err), 0);
    const double t_fft = now_s() - t0;
    t0 = now_s();
    /* every 7th crystal (all rings, all in-block positions) against every b */
#pragma omp parallel for schedule(dynamic, 4)
    for (int a = 0; a < nc; a += 7) {
        double s = 0;
        for (int b = 0; b < nc; b++)
            if (eff[b] > 0)
                s += eff[b] * lf_norm_pair_model(&sc, mrd, &c, (uint32_t)a, (uint32_t)b);
        B[a] = s;
    }
    const double t_brute = now_s() - t0;
    double worst = 0, smean = 0;
    for (int a = 0; a < nc; a += 7) {
        assert_true(B[a] > 0);
        worst = fmax(worst, fabs(S[a] / B[a] - 1));
        smean += B[a] / ((nc + 6) / 7);
    }
    print_message("  fan sums of %d crystals (MRD %d): FFT vs brute force max rel. difference %.2g (model %.2f s, FFT "
                  "%.3f s, brute force %.2f s); mean expected fan %.4g\n", nc, mrd, worst, t_build, t_fft, t_brute, smean);
    assert_true(worst < 1e-4);

    /* noise-free fan sums F = ε_a S_a (S checked above): the fit gives ε back (up to the global scale) */
    for (int a = 0; a < nc; a++)
        F[a] = eff[a] * S[a];
    lf_norm_fit_info info;
    assert_int_equal(lf_norm_fit(m, F, 0, 1e-7, fit, &info, &err), 0);
    double sum_true = 0;
    for (int a = 0; a < nc; a++)
        sum_true += eff[a];
    const double scale = (nc - 1) / sum_true;
    double maxdev = 0;
    for (int a = 0; a < nc; a++)
        if (a != 123)
            maxdev = fmax(maxdev, fabs(fit[a] / (eff[a] * scale) - 1));
    print_message("  fit: %d iterations, last change %.2g, max deviation from the true efficiencies %.2g\n", info.iterations,
                  info.last_change, maxdev);
    assert_int_equal(info.n_fitted, nc - 1);
    assert_int_equal(info.n_zero, 1);
    assert_true(fit[123] == 0.0f);
    assert_true(maxdev < 1e-3);
    /* the undamped ML step is not the iteration: a flat start must move towards the truth, not stay flat */
    assert_true(info.iterations > 2);

    free(eff), free(fit), free(S), free(B), free(F);
    lf_norm_fanmodel_free(m);
}

static void folder_round_trip(void **state)
{
    (void)state;
    lf_scanner sc, other;
    tu_scanner("small", &sc);
    tu_scanner("mini", &other);
    const char *dir = tu_tmpdir();
    char nd[4200], p[4300];
    snprintf(nd, sizeof nd, "%s/norm", dir);
    lf_norm n = {0};
    snprintf(n.scanner, sizeof n.scanner, "%s", sc.name);
    n.system_code = sc.system_code;
    n.n_crystals = sc.n_crystals;
    n.eff = malloc((size_t)sc.n_crystals * sizeof *n.eff);
    for (int i = 0; i < sc.n_crystals; i++)
        n.eff[i] = (float)(0.8 + 0.4 * (i % 17) / 16.0);
    n.n0_nominal_ml_per_mm = 1.0e-7;
    n.cross_calibration_factor = 0.8;
    n.n0_calibrated_ml_per_mm = 1.25e-7;
    snprintf(n.created, sizeof n.created, "2026-01-02T03:04:05Z");
    snprintf(n.source, sizeof n.source, "some \"quoted\" path/acq.l");
    snprintf(n.source_sha256, sizeof n.source_sha256, "%064d", 0);
    lf_error err = {{0}};
    assert_int_equal(lf_norm_exists(nd), 0);
    assert_int_equal(lf_norm_write(nd, &sc, &n, NULL, &err), 0);
    assert_int_equal(lf_norm_exists(nd), 1);
    lf_norm r;
    assert_int_equal(lf_norm_read(nd, &sc, &r, &err), 0);
    assert_string_equal(r.source, n.source);
    assert_string_equal(r.created, n.created);
    assert_float_equal(r.n0_calibrated_ml_per_mm, 1.25e-7, 1e-15);
    assert_float_equal(r.cross_calibration_factor, 0.8, 1e-12);
    for (int i = 0; i < sc.n_crystals; i++)
        assert_float_equal(r.eff[i], n.eff[i], 1e-6);
    /* a norm without per-MRD calibrations: its one factor serves every MRD */
    int exact = 0, cm = 0;
    double fac = 0;
    assert_float_equal(lf_norm_n0_for_mrd(&r, 7, &exact, &cm, &fac), 1.25e-7, 1e-15);
    assert_int_equal(exact, 1);
    assert_int_equal(cm, -1);
    assert_float_equal(fac, 0.8, 1e-12);
    lf_norm_free(&r);
    /* per-MRD calibrations: written, read back, chosen by MRD, the first for any other MRD */
    n.n_cal = 2;
    n.cal_mrd[0] = 20;
    n.cal_factor[0] = 0.8;
    n.cal_n0_ml_per_mm[0] = 1.25e-7;
    n.cal_mrd[1] = 10;
    n.cal_factor[1] = 0.5;
    n.cal_n0_ml_per_mm[1] = 2.0e-7;
    assert_int_equal(lf_norm_write(nd, &sc, &n, NULL, &err), 0);
    assert_int_equal(lf_norm_read(nd, &sc, &r, &err), 0);
    assert_int_equal(r.n_cal, 2);
    assert_float_equal(lf_norm_n0_for_mrd(&r, 10, &exact, &cm, &fac), 2.0e-7, 1e-15);
    assert_int_equal(exact, 1);
    assert_int_equal(cm, 10);
    assert_float_equal(fac, 0.5, 1e-12);
    assert_float_equal(lf_norm_n0_for_mrd(&r, 15, &exact, &cm, &fac), 1.25e-7, 1e-15);
    assert_int_equal(exact, 0);
    assert_int_equal(cm, 20);
    lf_norm_free(&r);
    /* inconsistent arrays are refused, naming the keys */
    {
        char *txt = NULL;
        size_t len = 0;
        snprintf(p, sizeof p, "%s/norm.json", nd);
        FILE *g = fopen(p, "rb");
        assert_non_null(g);
        txt = malloc(1 << 20);
        len = fread(txt, 1, (1 << 20) - 1, g);
        fclose(g);
        txt[len] = '\0';
        char *k = strstr(txt, "\"calibration_mrd\": [");
        assert_non_null(k);
        char *e = strchr(k, ']');
        char fixed[1 << 16];
        snprintf(fixed, sizeof fixed, "%.*s\"calibration_mrd\": [20]%s", (int)(k - txt), txt, e + 1);
        tu_write_text(p, fixed);
        free(txt);
        assert_int_equal(lf_norm_read(nd, &sc, &r, &err), -1);
        print_message("  refusal: %s\n", err.msg);
        assert_true(tu_contains(err.msg, "norm.json") && tu_contains(err.msg, "calibration_mrd"));
        n.n_cal = 0;
        assert_int_equal(lf_norm_write(nd, &sc, &n, NULL, &err), 0);
    }
    /* another scanner's norm */
    assert_int_equal(lf_norm_read(nd, &other, &r, &err), -1);
    print_message("  refusal: %s\n", err.msg);
    assert_true(tu_contains(err.msg, "norm.json") && tu_contains(err.msg, "system_code") && tu_contains(err.msg, "mini"));
    /* a damaged efficiency file names the line */
    snprintf(p, sizeof p, "%s/crystal_efficiency.csv", nd);
    FILE *f = fopen(p, "a");
    fputs("4320,20,0,x\n", f);
    fclose(f);
    assert_int_equal(lf_norm_read(nd, &sc, &r, &err), -1);
    assert_true(tu_contains(err.msg, "crystal_efficiency.csv") && tu_contains(err.msg, "line 4322"));
    /* a missing key names it */
    snprintf(p, sizeof p, "%s/norm.json", nd);
    tu_write_text(p, "{\"format\": \"lafov norm 1\", \"scanner\": \"small\", \"system_code\": 9002}\n");
    assert_int_equal(lf_norm_read(nd, &sc, &r, &err), -1);
    assert_true(tu_contains(err.msg, "norm.json") && tu_contains(err.msg, "crystal_count"));
    free(n.eff);
    tu_rmtree(dir);
}

/* A simulated scan of the uniform cylinder (scatter, randoms, 176Lu, efficiencies with 10 % spread): the
 * estimated efficiencies against the simulator's crystal_efficiency.csv. */
static void simulated_cylinder(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    char out[4200], p[4300];
    snprintf(out, sizeof out, "%s/cyl", dir);
    lf_sim_config c;
    lf_sim_config_defaults(&c);
    c.phantom = LAFOV_SOURCE_DATA_DIR "/../tests/data/small_norm_cylinder.phantom";
    c.scanner = "small";
    c.out_dir = out;
    c.ct = 0;
    c.truth_voxel_mm = 8;
    c.activity_bq = 20e6;
    c.duration_s = 2;
    c.seed = 11;
    lf_sim_result sr;
    lf_error err = {{0}};
    double t0 = now_s();
    if (lf_simulate(&c, &sr, &err) != 0)
        fail_msg("lf_simulate: %s", err.msg);
    const double t_sim = now_s() - t0;

    lf_scanner sc;
    tu_scanner("small", &sc);
    snprintf(p, sizeof p, "%s/acq.l", out);
    lf_lm_reader *r;
    assert_int_equal(lf_lm_open(p, NULL, &r, &err), 0);
    lf_fansums fs;
    assert_int_equal(lf_fansums_init(&fs, &sc, &err), 0);
    lf_lm_batch b;
    int got;
    while ((got = lf_lm_next(r, &b, &err)) > 0)
        lf_fansums_add(&fs, &b);
    assert_int_equal(got, 0);
    const int mrd = lf_lm_header_of(r)->mrd;
    lf_lm_close(r);
    const int nc = sc.n_crystals;
    double *F = malloc((size_t)nc * sizeof *F);
    double noise = 0;
    for (int i = 0; i < nc; i++) {
        F[i] = (double)fs.prompts[i] - (double)fs.delayeds[i];
        noise += 1 / sqrt(fmax(F[i], 1)) / nc;
    }
    lf_fansums_free(&fs);
    lf_norm_cylinder cyl = phantom_cylinder();
    lf_norm_fanmodel *m;
    float *eff = malloc((size_t)nc * sizeof *eff);
    lf_norm_fit_info info;
    t0 = now_s();
    assert_int_equal(lf_norm_fanmodel_build(&sc, mrd, &cyl, &m, &err), 0);
    assert_int_equal(lf_norm_fit(m, F, 0, 1e-6, eff, &info, &err), 0);
    const double t_fit = now_s() - t0;
    lf_norm_fanmodel_free(m);

    /* the truth: ring,crystal,efficiency */
    snprintf(p, sizeof p, "%s/crystal_efficiency.csv", out);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    char line[256];
    assert_non_null(fgets(line, sizeof line, f));
    double *t = malloc((size_t)nc * sizeof *t);
    int n = 0, ring, k;
    double v;
    while (fgets(line, sizeof line, f) && sscanf(line, "%d,%d,%lf", &ring, &k, &v) == 3)
        t[lf_crystal_id(&sc, ring, k)] = v, n++;
    fclose(f);
    assert_int_equal(n, nc);
    double mt = 0, me = 0;
    for (int i = 0; i < nc; i++)
        mt += t[i] / nc, me += eff[i] / (double)nc;
    double sxy = 0, sxx = 0, syy = 0, d2 = 0;
    for (int i = 0; i < nc; i++) {
        const double x = eff[i] / me - 1, y = t[i] / mt - 1;
        sxy += x * y, sxx += x * x, syy += y * y, d2 += (x - y) * (x - y);
    }
    const double rr = sxy / sqrt(sxx * syy), rms = sqrt(d2 / nc), sd_true = sqrt(syy / nc);
    /* the correlation Poisson noise alone allows: σ_true / sqrt(σ_true² + σ_noise²) */
    const double r_stat = sd_true / sqrt(sd_true * sd_true + noise * noise);
    print_message("  simulated cylinder (20 MBq, 2 s, %.1f s): %.0f trues-equivalent counts per crystal; efficiencies: "
                  "r = %.4f (Poisson limit %.4f), RMS error %.4f (Poisson %.4f, true spread %.4f); fit %d iterations, "
                  "%.2f s\n", t_sim, 1 / (noise * noise), rr, r_stat, rms, noise, sd_true, info.iterations, t_fit);
    /* the fit may lose a little to the smooth scatter bias and the sampling of r: at most 0.03 below the limit */
    assert_true(rr > r_stat - 0.03);
    assert_true(rms < 1.25 * noise);
    assert_int_equal(info.n_fitted, nc);
    free(F), free(eff), free(t);
    tu_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(chord),
        cmocka_unit_test(cylinder_from_ct),
        cmocka_unit_test(fan_model_and_fit),
        cmocka_unit_test(folder_round_trip),
        cmocka_unit_test(simulated_cylinder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

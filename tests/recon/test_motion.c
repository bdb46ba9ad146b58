/* Motion detection (recon/motion.h): synthetic centroid traces with known steps and noise (detected
 * within ±2 bins, shifts right; no step: no change point; a step below the threshold, outlier bins and
 * empty bins are handled), then short simulated acquisitions on the "small" scanner: a compact object
 * moved 10 mm along z at 3 s (change at 3 s, dz from the axial profiles within 1.5 mm), and the
 * standard small_cylinder (longer than the axial FOV) whose move is still timed right. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recon/motion.h"
#include "sim/simulate.h"

/* Gaussian from a small LCG (reproducible, no library state). */
static uint64_t rng_state = 12345;
static double urand(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return ((double)(rng_state >> 11) + 0.5) / 9007199254740992.0;
}
static double grand(void) { return sqrt(-2 * log(urand())) * cos(2 * M_PI * urand()); }

/* n_bins bins of 1 s; counts falling like F-18 decay over the trace; centroids base + steps + noise with
 * event spread sigma_mm (per-bin noise sigma/sqrt(n)). */
static void synth(lf_motion_result *r, int n_bins, double n0, double sigma_mm, int n_steps, const int *at,
                  const double (*shift)[3])
{
    lf_error err = {{0}};
    assert_int_equal(lf_motion_result_alloc(r, n_bins, 0, &err), 0);
    r->bin_s = 1.0;
    r->duration_s = n_bins;
    for (int i = 0; i < n_bins; i++) {
        r->time_s[i] = i;
        r->bin_len_s[i] = 1;
        r->n[i] = (uint64_t)(n0 * exp(-log(2) * (3600.0 + i) / 6586.2));
        r->counts_per_s[i] = (double)r->n[i];
        double base[3] = {1.0, -3.0, 20.0};
        for (int s = 0; s < n_steps; s++)
            if (i >= at[s])
                for (int ax = 0; ax < 3; ax++)
                    base[ax] += shift[s][ax];
        for (int ax = 0; ax < 3; ax++)
            r->centroid_mm[3 * i + ax] = base[ax] + sigma_mm / sqrt((double)r->n[i]) * grand();
    }
}

static void one_step(void **state)
{
    (void)state;
    lf_error err = {{0}};
    lf_motion_params p;
    lf_motion_params_default(&p);
    for (int trial = 0; trial < 5; trial++) {
        lf_motion_result r;
        int at[1] = {137 + 31 * trial};
        double sh[1][3] = {{0.5, -1.0, 3.0 + trial}};
        synth(&r, 400, 20000, 60.0, 1, at, sh); /* 0.5 mm per-bin noise at scan start */
        assert_int_equal(lf_motion_analyse(&r, &p, &err), 0);
        assert_int_equal(r.n_cp, 1);
        assert_true(abs(r.cp[0].bin - at[0]) <= 2);
        for (int ax = 0; ax < 3; ax++)
            assert_true(fabs(r.cp[0].shift_mm[ax] - sh[0][ax]) < 0.25);
        /* noise estimate: event spread 60 mm */
        assert_true(fabs(r.sigma_mm[2] - 60.0) < 6.0);
        /* stable windows: before and after, guarded by one bin */
        assert_int_equal(r.n_stable, 2);
        assert_true(r.stable[0].t0_s == 0 && fabs(r.stable[0].t1_s - (r.cp[0].time_s - 1)) < 1e-9);
        assert_true(fabs(r.stable[1].t0_s - (r.cp[0].time_s + 1)) < 1e-9 && r.stable[1].t1_s == 400);
        assert_int_equal(r.longest, at[0] > 200 ? 0 : 1);
        lf_motion_result_free(&r);
    }
}

static void no_step(void **state)
{
    (void)state;
    lf_error err = {{0}};
    lf_motion_params p;
    lf_motion_params_default(&p);
    for (int trial = 0; trial < 20; trial++) {
        lf_motion_result r;
        synth(&r, 1200, 5000, 80.0, 0, NULL, NULL); /* 1.1 mm per-bin noise */
        assert_int_equal(lf_motion_analyse(&r, &p, &err), 0);
        assert_int_equal(r.n_cp, 0);
        assert_int_equal(r.n_stable, 1);
        assert_true(r.stable[0].t0_s == 0 && r.stable[0].t1_s == 1200 && r.longest == 0);
        lf_motion_result_free(&r);
    }
}

static void small_step_and_two_steps(void **state)
{
    (void)state;
    lf_error err = {{0}};
    lf_motion_params p;
    lf_motion_params_default(&p);
    /* a clear 1 mm step (significant) stays below the 2 mm threshold: no motion */
    lf_motion_result r;
    int at1[1] = {300};
    double sh1[1][3] = {{0, 0, 1.0}};
    synth(&r, 600, 50000, 40.0, 1, at1, sh1);
    assert_int_equal(lf_motion_analyse(&r, &p, &err), 0);
    assert_int_equal(r.n_cp, 0);
    p.threshold_mm = 0.5; /* ... and is found with a lower threshold */
    assert_int_equal(lf_motion_analyse(&r, &p, &err), 0);
    assert_int_equal(r.n_cp, 1);
    assert_true(abs(r.cp[0].bin - 300) <= 2 && fabs(r.cp[0].shift_mm[2] - 1.0) < 0.2);
    lf_motion_result_free(&r);
    lf_motion_params_default(&p);
    /* two moves, outlier bins and an empty stretch (an exported stream with a window dropped) */
    int at2[2] = {200, 700};
    double sh2[2][3] = {{4, 0, 0}, {0, 0, -6}};
    synth(&r, 1000, 20000, 60.0, 2, at2, sh2);
    for (int i = 400; i < 460; i++) {
        r.n[i] = 0;
        r.counts_per_s[i] = 0;
        for (int ax = 0; ax < 3; ax++)
            r.centroid_mm[3 * i + ax] = NAN;
    }
    r.centroid_mm[3 * 100 + 2] += 40; /* single-bin spikes */
    r.centroid_mm[3 * 800 + 0] -= 40;
    assert_int_equal(lf_motion_analyse(&r, &p, &err), 0);
    assert_int_equal(r.n_cp, 2);
    assert_true(abs(r.cp[0].bin - 200) <= 2 && abs(r.cp[1].bin - 700) <= 2);
    assert_true(fabs(r.cp[0].shift_mm[0] - 4) < 0.25 && fabs(r.cp[0].shift_mm[2]) < 0.25);
    assert_true(fabs(r.cp[1].shift_mm[2] + 6) < 0.25 && fabs(r.cp[1].shift_mm[0]) < 0.25);
    assert_int_equal(r.n_stable, 3);
    assert_int_equal(r.longest, 1);
    /* JSON and PNG */
    const char *dir = tu_tmpdir();
    char jp[4200], pp[4200];
    snprintf(jp, sizeof jp, "%s/motion.json", dir);
    snprintf(pp, sizeof pp, "%s/motion.png", dir);
    assert_int_equal(lf_motion_write_json(&r, jp, &err), 0);
    assert_int_equal(lf_motion_write_png(&r, pp, &err), 0);
    FILE *f = fopen(jp, "r");
    assert_non_null(f);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    assert_true(tu_contains(buf, "\"traces\"") && tu_contains(buf, "\"change_points\"") &&
                tu_contains(buf, "\"stable_windows\"") && tu_contains(buf, "\"centroid_mm\""));
    tu_rmtree(dir);
    lf_motion_result_free(&r);
    /* bad parameters */
    lf_motion_params_default(&p);
    p.threshold_mm = -1;
    synth(&r, 50, 1000, 10.0, 0, NULL, NULL);
    assert_int_equal(lf_motion_analyse(&r, &p, &err), -1);
    assert_true(tu_contains(err.msg, "threshold"));
    lf_motion_result_free(&r);
}

static const char *short_phantom =
    "phantom name := short water cylinder with a hot ball (motion test)\n"
    "default uptake (s) := 0\n"
    "shape := water\ntype := cylinder\naxis := z\ncentre (mm) := 0, 0, -5\nradius (mm) := 50\n"
    "half-length (mm) := 15\nrelative activity := 1\nHU := 0\nmu (1/cm) := 0.096\n"
    "shape := ball\ntype := ellipsoid\ncentre (mm) := 25, 0, -5\nradius (mm) := 8\nrelative activity := 4\n"
    "HU := 0\nmu (1/cm) := 0.096\n";

static void simulate_and_detect(const char *phantom, double mbq, const char *dir, const char *name,
                                const lf_motion_params *p, lf_motion_result *r)
{
    lf_sim_config c;
    lf_sim_config_defaults(&c);
    char out[4300], acq[4400];
    snprintf(out, sizeof out, "%s/%s", dir, name);
    c.phantom = phantom;
    c.scanner = "small";
    c.out_dir = out;
    c.ct = 0;
    c.truth_voxel_mm = 8;
    c.scatter = 0;
    c.randoms = 0;
    c.activity_bq = mbq * 1e6;
    c.duration_s = 6;
    c.seed = 2;
    c.n_motion = 1;
    c.motion_t_s[0] = 3;
    c.motion_mm[0][0] = 0;
    c.motion_mm[0][1] = 0;
    c.motion_mm[0][2] = 10;
    lf_sim_result sr;
    lf_error err = {{0}};
    if (lf_simulate(&c, &sr, &err) != 0)
        fail_msg("lf_simulate: %s", err.msg);
    snprintf(acq, sizeof acq, "%s/acq.l", out);
    if (lf_motion_detect(acq, NULL, p, r, &err) != 0)
        fail_msg("lf_motion_detect: %s", err.msg);
    print_message("  [%s: %d change point(s)", name, r->n_cp);
    for (int k = 0; k < r->n_cp; k++)
        print_message(" at %.1f s: shift %.2f %.2f %.2f mm (centroids %.2f %.2f %.2f)", r->cp[k].time_s,
                      r->cp[k].shift_mm[0], r->cp[k].shift_mm[1], r->cp[k].shift_mm[2], r->cp[k].centroid_shift_mm[0],
                      r->cp[k].centroid_shift_mm[1], r->cp[k].centroid_shift_mm[2]);
    print_message("]\n");
}

static void simulated(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    char ph[4300];
    snprintf(ph, sizeof ph, "%s/short.phantom", dir);
    tu_write_text(ph, short_phantom);
    lf_motion_params p;
    lf_motion_params_default(&p);
    p.resolution_s = 0.2;
    p.min_segment_s = 1;
    p.min_window_s = 1;
    lf_motion_result r;
    simulate_and_detect(ph, 5, dir, "short", &p, &r);
    assert_int_equal(r.n_cp, 1);
    assert_true(fabs(r.cp[0].time_s - 3.0) <= 0.2 + 1e-9);
    assert_true(fabs(r.cp[0].shift_mm[2] - 10.0) < 1.5);
    assert_true(fabs(r.cp[0].shift_mm[0]) < 1.0 && fabs(r.cp[0].shift_mm[1]) < 1.0);
    assert_true(r.tof == 1 && r.n_bins == 30);
    assert_int_equal(r.n_stable, 2);
    lf_motion_result_free(&r);
    /* the standard cylinder is longer than the 69 mm FOV: its move hardly changes what the scanner sees
     * (docs/motion.md), but the step is still timed right with no threshold */
    p.threshold_mm = 0;
    simulate_and_detect(LAFOV_SOURCE_DATA_DIR "/../tests/data/small_cylinder.phantom", 5, dir, "cylinder", &p, &r);
    assert_true(r.n_cp >= 1);
    assert_true(fabs(r.cp[0].time_s - 3.0) <= 0.2 + 1e-9 || (r.n_cp > 1 && fabs(r.cp[1].time_s - 3.0) <= 0.2 + 1e-9));
    lf_motion_result_free(&r);
    tu_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_step),
        cmocka_unit_test(no_step),
        cmocka_unit_test(small_step_and_two_steps),
        cmocka_unit_test(simulated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

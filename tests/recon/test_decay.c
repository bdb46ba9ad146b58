/* Decay over kept windows (closed form, numerical integral, windows left out), decay reference,
 * uptake from header strings, SUVbw of a uniform phantom. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/lmheader.h"
#include "recon/decay.h"
#include "recon/units.h"

#define F18_HALFLIFE 6586.2

static double rel(double a, double b) { return fabs(a - b) / fabs(b); }

/* counts of a frame for activity A_ref at the reference: Σ A ∫ e^{-λ(r+t)} dt (closed form per window) */
static double sim_counts(const lf_window *w, int n, double A, double r)
{
    double lambda = log(2.0) / F18_HALFLIFE, c = 0;
    for (int i = 0; i < n; i++)
        c += A * (exp(-lambda * (r + w[i].t0_s)) - exp(-lambda * (r + w[i].t1_s))) / lambda;
    return c;
}

static void one_window_closed_form(void **state)
{
    (void)state;
    lf_error err = {{0}};
    double lambda = log(2.0) / F18_HALFLIFE;
    const double t1 = 300, t2 = 1500;
    lf_window w = {t1, t2};
    double T, D;
    assert_int_equal(lf_decay_frame(&w, 1, F18_HALFLIFE, 0, &T, &D, &err), 0);
    assert_true(T == 1200);
    /* physics.md: D^-1 = λΔt / (e^{-λt1} - e^{-λt2}) */
    double Dinv = lambda * (t2 - t1) / (exp(-lambda * t1) - exp(-lambda * t2));
    assert_true(rel(D, 1 / Dinv) < 1e-13);
    /* very short window: D -> e^{-λt} */
    lf_window s = {100, 100.001};
    assert_int_equal(lf_decay_frame(&s, 1, F18_HALFLIFE, 0, &T, &D, &err), 0);
    assert_true(rel(D, exp(-lambda * 100.0005)) < 1e-12);
    /* infinite half-life: no decay */
    assert_int_equal(lf_decay_frame(&w, 1, INFINITY, 50, &T, &D, &err), 0);
    assert_true(D == 1.0);
}

static void union_vs_numeric(void **state)
{
    (void)state;
    lf_error err = {{0}};
    double lambda = log(2.0) / F18_HALFLIFE;
    lf_window w[2] = {{0, 540}, {600, 1200}};
    const double offsets[2] = {0, 3600};
    for (int o = 0; o < 2; o++) {
        double r = offsets[o], T, D;
        assert_int_equal(lf_decay_frame(w, 2, F18_HALFLIFE, r, &T, &D, &err), 0);
        assert_true(T == 1140);
        /* midpoint rule, 1e6 steps over each window */
        double I = 0;
        const int steps = 1000000;
        for (int k = 0; k < 2; k++) {
            double h = (w[k].t1_s - w[k].t0_s) / steps, s = 0;
            for (int i = 0; i < steps; i++)
                s += exp(-lambda * (r + w[k].t0_s + (i + 0.5) * h));
            I += s * h;
        }
        assert_true(rel(D * T, I) < 1e-9);
        /* and it is not the span's decay */
        lf_window span = {0, 1200};
        double Ts, Ds;
        assert_int_equal(lf_decay_frame(&span, 1, F18_HALFLIFE, r, &Ts, &Ds, &err), 0);
        assert_true(rel(D, Ds) > 1e-4);
    }
}

static void excluded_window_constant_image(void **state)
{
    (void)state;
    lf_error err = {{0}};
    const double A = 5300.0; /* Bq/mL at the reference */
    lf_window full = {0, 1200};
    lf_window kept[2] = {{600, 1200}, {0, 540}}; /* unsorted on purpose */
    for (int ref = 0; ref < 2; ref++) {
        double r = ref ? 4200.0 : 0.0, T, D;
        assert_int_equal(lf_decay_frame(&full, 1, F18_HALFLIFE, r, &T, &D, &err), 0);
        double img_full = sim_counts(&full, 1, A, r) / (T * D);
        assert_int_equal(lf_decay_frame(kept, 2, F18_HALFLIFE, r, &T, &D, &err), 0);
        assert_true(T == 1140);
        double counts_kept = sim_counts(kept, 2, A, r);
        double img_kept = counts_kept / (T * D);
        assert_true(rel(img_full, A) < 1e-12);
        assert_true(rel(img_kept, A) < 1e-12);
        /* the naive correction with the span's decay but the kept duration is off */
        double Ts, Ds;
        assert_int_equal(lf_decay_frame(&full, 1, F18_HALFLIFE, r, &Ts, &Ds, &err), 0);
        assert_true(rel(counts_kept / (T * Ds), A) > 1e-4);
    }
}

static void reference_injection_vs_scan_start(void **state)
{
    (void)state;
    lf_error err = {{0}};
    double lambda = log(2.0) / F18_HALFLIFE, uptake = 3725;
    lf_window w[3] = {{0, 60}, {120, 600}, {900, 1800}};
    double Ts, Ds, Ti, Di;
    assert_int_equal(lf_decay_frame(w, 3, F18_HALFLIFE, lf_decay_ref_offset(LF_DECAY_REF_SCAN_START, uptake), &Ts,
                                    &Ds, &err),
                     0);
    assert_int_equal(lf_decay_frame(w, 3, F18_HALFLIFE, lf_decay_ref_offset(LF_DECAY_REF_INJECTION, uptake), &Ti,
                                    &Di, &err),
                     0);
    assert_true(Ts == Ti);
    assert_true(rel(Di / Ds, exp(-lambda * uptake)) < 1e-13);
    lf_decay_ref ref;
    assert_int_equal(lf_decay_ref_parse("injection", &ref, &err), 0);
    assert_int_equal(ref, LF_DECAY_REF_INJECTION);
    assert_int_equal(lf_decay_ref_parse("scan-start", &ref, &err), 0);
    assert_int_equal(ref, LF_DECAY_REF_SCAN_START);
    assert_int_equal(lf_decay_ref_parse("midnight", &ref, &err), -1);
    assert_true(tu_contains(err.msg, "midnight"));
}

static void window_validation(void **state)
{
    (void)state;
    lf_error err = {{0}};
    double T, D;
    lf_window bad[2] = {{0, 100}, {200, 150}};
    assert_int_equal(lf_decay_frame(bad, 2, F18_HALFLIFE, 0, &T, &D, &err), -1);
    assert_true(tu_contains(err.msg, "window 1"));
    lf_window overlap[3] = {{500, 700}, {0, 100}, {650, 800}};
    assert_int_equal(lf_decay_frame(overlap, 3, F18_HALFLIFE, 0, &T, &D, &err), -1);
    assert_true(tu_contains(err.msg, "window 2"));
    assert_true(tu_contains(err.msg, "window 0"));
    assert_true(tu_contains(err.msg, "overlaps"));
    lf_window touching[2] = {{100, 200}, {0, 100}};
    assert_int_equal(lf_decay_frame(touching, 2, F18_HALFLIFE, 0, &T, &D, &err), 0);
    lf_window one = {0, 200};
    double T1, D1;
    assert_int_equal(lf_decay_frame(&one, 1, F18_HALFLIFE, 0, &T1, &D1, &err), 0);
    assert_true(T == T1);
    assert_true(rel(D, D1) < 1e-14);
    lf_window nanw = {NAN, 10};
    assert_int_equal(lf_decay_frame(&nanw, 1, F18_HALFLIFE, 0, &T, &D, &err), -1);
    assert_true(tu_contains(err.msg, "window 0"));
    assert_int_equal(lf_decay_frame(&one, 0, F18_HALFLIFE, 0, &T, &D, &err), -1);
    assert_int_equal(lf_decay_frame(&one, 1, 0, 0, &T, &D, &err), -1);
    assert_int_equal(lf_decay_frame(&one, 1, -5, 0, &T, &D, &err), -1);
    assert_int_equal(lf_decay_frame(&one, 1, NAN, 0, &T, &D, &err), -1);
    assert_int_equal(lf_decay_frame(&one, 1, F18_HALFLIFE, NAN, &T, &D, &err), -1);
}

static lf_lm_header hdr; /* large: static */

static void set_hdr(const char *id, const char *it, const char *sd, const char *st)
{
    memset(&hdr, 0, sizeof hdr);
    snprintf(hdr.header_path, sizeof hdr.header_path, "%s", "/data/scan.l.hdr");
    snprintf(hdr.injection_date, sizeof hdr.injection_date, "%s", id);
    snprintf(hdr.injection_time, sizeof hdr.injection_time, "%s", it);
    snprintf(hdr.study_date, sizeof hdr.study_date, "%s", sd);
    snprintf(hdr.study_time, sizeof hdr.study_time, "%s", st);
}

static void uptake_from_header(void **state)
{
    (void)state;
    lf_error err = {{0}};
    double u;
    set_hdr("2024:05:14", "09:12:30", "2024:05:14", "10:15:00");
    assert_int_equal(lf_header_uptake_s(&hdr, &u, &err), 0);
    assert_true(u == 3750);
    /* midnight crossing */
    set_hdr("2024:05:14", "23:40:00", "2024:05:15", "00:45:10");
    assert_int_equal(lf_header_uptake_s(&hdr, &u, &err), 0);
    assert_true(u == 3910);
    /* month, leap day and year crossings */
    set_hdr("2024:02:29", "23:59:59", "2024:03:01", "00:00:01");
    assert_int_equal(lf_header_uptake_s(&hdr, &u, &err), 0);
    assert_true(u == 2);
    set_hdr("2023:12:31", "23:30:00", "2024:01:01", " 00:30:00.5 ");
    assert_int_equal(lf_header_uptake_s(&hdr, &u, &err), 0);
    assert_true(u == 3600.5);
    /* malformed and missing values name the key and the header */
    set_hdr("2023:02:29", "09:00:00", "2023:03:01", "10:00:00");
    assert_int_equal(lf_header_uptake_s(&hdr, &u, &err), -1);
    assert_true(tu_contains(err.msg, "tracer injection date"));
    assert_true(tu_contains(err.msg, "/data/scan.l.hdr"));
    set_hdr("2024:05:14", "09:61:00", "2024:05:14", "10:00:00");
    assert_int_equal(lf_header_uptake_s(&hdr, &u, &err), -1);
    assert_true(tu_contains(err.msg, "tracer injection time"));
    set_hdr("2024:05:14", "09:00:00", "2024/05/14", "10:00:00");
    assert_int_equal(lf_header_uptake_s(&hdr, &u, &err), -1);
    assert_true(tu_contains(err.msg, "study date"));
    set_hdr("2024:05:14", "09:00:00", "2024:05:14", "");
    assert_int_equal(lf_header_uptake_s(&hdr, &u, &err), -1);
    assert_true(tu_contains(err.msg, "study time"));
    assert_true(tu_contains(err.msg, "missing"));
    set_hdr("2024:05:14", "09:00:00", "2024:05:14", "10:00:00x");
    assert_int_equal(lf_header_uptake_s(&hdr, &u, &err), -1);
    assert_true(tu_contains(err.msg, "study time"));
}

/* A 70 kg phantom, all of A_inj spread evenly over 70 L: SUV 1 for both decay references, through the
 * whole chain (counts of kept windows -> Bq/mL -> SUV). */
static void suv_uniform_phantom(void **state)
{
    (void)state;
    lf_error err = {{0}};
    const double A_inj = 350e6, V_ml = 70000, W_kg = 70, uptake = 3600 + 17;
    lf_window w[2] = {{0, 540}, {600, 1200}};
    for (int ref = 0; ref < 2; ref++) {
        lf_decay_ref dref = ref ? LF_DECAY_REF_INJECTION : LF_DECAY_REF_SCAN_START;
        /* true concentration at injection; the data are generated from the injection time */
        double counts = sim_counts(w, 2, A_inj / V_ml, uptake);
        double T, D;
        assert_int_equal(lf_decay_frame(w, 2, F18_HALFLIFE, lf_decay_ref_offset(dref, uptake), &T, &D, &err), 0);
        double c_bqml = counts / (T * D);
        double f;
        assert_int_equal(lf_suv_factor(W_kg, A_inj, uptake, F18_HALFLIFE, dref, &f, &err), 0);
        assert_true(fabs(c_bqml * f - 1) < 1e-9);
        /* through a volume */
        lf_volume v;
        int n[3] = {4, 3, 2};
        double vox[3] = {2, 2, 2}, org[3] = {0, 0, 0};
        assert_int_equal(lf_volume_alloc(&v, n, vox, org, &err), 0);
        for (int i = 0; i < 24; i++)
            v.data[i] = (float)c_bqml;
        assert_int_equal(lf_volume_scale(&v, f, &err), 0);
        for (int i = 0; i < 24; i++)
            assert_true(fabs(v.data[i] - 1) < 1e-6);
        assert_true(fabs(lf_volume_sum(&v) - 24) < 1e-5);
        lf_volume_free(&v);
    }
    double f;
    assert_int_equal(lf_suv_factor(0, A_inj, uptake, F18_HALFLIFE, LF_DECAY_REF_SCAN_START, &f, &err), -1);
    assert_true(tu_contains(err.msg, "weight"));
    assert_int_equal(lf_suv_factor(W_kg, -1, uptake, F18_HALFLIFE, LF_DECAY_REF_SCAN_START, &f, &err), -1);
    assert_true(tu_contains(err.msg, "injected"));
    assert_int_equal(lf_suv_factor(W_kg, A_inj, NAN, F18_HALFLIFE, LF_DECAY_REF_SCAN_START, &f, &err), -1);
    assert_int_equal(lf_suv_factor(W_kg, A_inj, NAN, F18_HALFLIFE, LF_DECAY_REF_INJECTION, &f, &err), 0);
    lf_volume v = {0};
    assert_int_equal(lf_volume_scale(&v, 2, &err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_window_closed_form),
        cmocka_unit_test(union_vs_numeric),
        cmocka_unit_test(excluded_window_constant_image),
        cmocka_unit_test(reference_injection_vs_scan_start),
        cmocka_unit_test(window_validation),
        cmocka_unit_test(uptake_from_header),
        cmocka_unit_test(suv_uniform_phantom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Tests for lafov simulate (sim/simulate.c), driving lf_simulate() and reading the stream back with
 * the list-mode reader: the NEMA line-source sensitivity (MRD 322 and 85), prompts linear and randoms
 * quadratic in activity, the TOF bins of an off-centre point source, rigid motion, determinism over
 * thread counts, the counts and tags in the file against the result, and refused configurations.
 *
 * Every run is small (a fraction of a second of acquisition: the whole file takes a few seconds in
 * Release, under a minute or two with ASan + UBSan). Each statistical tolerance is stated with the
 * Poisson standard deviation it is derived from. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "testutil.h"

#include "io/lmreader.h"
#include "sim/simulate.h"

/* TOF: the contract's bin width, and the distance (mm) one bin moves the annihilation point along the
 * LOR: c / 2 * 143.231 ps = 143.231 ps x 0.149896 mm/ps. */
#define TOF_BIN_PS 143.231
#define MM_PER_PS_HALF 0.149896229

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* A small configuration: no CT, coarse truth images, under dir/name. */
static void config(lf_sim_config *c, const char *phantom, const char *dir, const char *name, char *out, size_t n)
{
    lf_sim_config_defaults(c);
    snprintf(out, n, "%s/%s", dir, name);
    c->phantom = phantom;
    c->out_dir = out;
    c->ct = 0;
    c->truth_voxel_mm = 8;
}

static void simulate_ok(const lf_sim_config *c, lf_sim_result *r)
{
    lf_error err = {{0}};
    double t0 = now_s();
    if (lf_simulate(c, r, &err) != 0)
        fail_msg("lf_simulate(%s): %s", c->phantom, err.msg);
    print_message("  [%s %.3g MBq %.3g s: trues %llu, scattered %llu, randoms %llu, delayeds %llu; %.2f s]\n",
                  c->phantom, c->activity_bq / 1e6, c->duration_s, (unsigned long long)r->trues,
                  (unsigned long long)r->scattered, (unsigned long long)r->randoms_prompt,
                  (unsigned long long)r->delayeds, now_s() - t0);
}

static lf_lm_reader *open_acq(const char *out_dir)
{
    char p[4300];
    snprintf(p, sizeof p, "%s/acq.l", out_dir);
    lf_lm_reader *r = NULL;
    lf_error err = {{0}};
    if (lf_lm_open(p, NULL, &r, &err) != 0)
        fail_msg("lf_lm_open(%s): %s", p, err.msg);
    return r;
}

/* Calls fn on every event of out_dir/acq.l; returns the reader's statistics in *st. */
typedef void (*event_fn)(const lf_scanner *sc, const lf_event *e, void *user);

static void for_each_event(const char *out_dir, event_fn fn, void *user, lf_decode_stats *st)
{
    lf_lm_reader *r = open_acq(out_dir);
    const lf_scanner *sc = &lf_lm_header_of(r)->scanner;
    lf_lm_batch b;
    lf_error err = {{0}};
    int rc;
    while ((rc = lf_lm_next(r, &b, &err)) == 1)
        for (size_t i = 0; i < b.n_ev; i++)
            fn(sc, &b.ev[i], user);
    if (rc != 0)
        fail_msg("reading %s/acq.l: %s", out_dir, err.msg);
    if (st)
        *st = *lf_lm_stats(r);
    lf_lm_close(r);
}

static int read_file(const char *path, unsigned char **data, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    *data = malloc(len > 0 ? (size_t)len : 1);
    *n = len > 0 ? (size_t)len : 0;
    size_t got = *data ? fread(*data, 1, *n, f) : 0;
    fclose(f);
    return (*data && got == *n) ? 0 : -1;
}

/* ------------------------------------------------------------------ NEMA line-source sensitivity */
/* 700 mm line source in air on the axis, 1 MBq, 0.25 s, no randoms / Lu, uniform efficiencies.
 * MRD 322: ~44 000 trues, Poisson sigma 0.48 %: the contract's +-5 % band around 176 kcps/MBq is
 * ~10 sigma wide, so it tests the calibration, not the noise. MRD 85: ~21 000 trues (sigma 0.7 %),
 * published 83 kcps/MBq; the model's geometry-only prediction is checked within +-10 %. */
static void line_source(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    char out[4200];
    lf_sim_config c;
    lf_sim_result r322, r85;
    config(&c, "line", dir, "line322", out, sizeof out);
    c.line_length_mm = 700;
    c.activity_bq = 1e6;
    c.duration_s = 0.25;
    c.randoms = 0;
    c.lu = 0;
    c.uniform_efficiency = 1;
    c.mrd = 322;
    simulate_ok(&c, &r322);
    assert_int_equal(r322.scattered, 0); /* in air: nothing to scatter in */
    assert_int_equal(r322.randoms_prompt + r322.delayeds, 0);
    char out85[4200];
    lf_sim_config c85 = c;
    snprintf(out85, sizeof out85, "%s/line85", dir);
    c85.out_dir = out85;
    c85.mrd = 85;
    simulate_ok(&c85, &r85);
    print_message("line source sensitivity: MRD 322 %.1f kcps/MBq (target 176, %+.2f %%; Poisson sigma %.2f %%), "
                  "MRD 85 %.1f kcps/MBq (published 83, %+.2f %%)\n",
                  r322.trues_cps_per_mbq / 1e3, 100.0 * (r322.trues_cps_per_mbq / 176000.0 - 1.0),
                  100.0 / sqrt((double)r322.trues), r85.trues_cps_per_mbq / 1e3,
                  100.0 * (r85.trues_cps_per_mbq / 83000.0 - 1.0));
    assert_true(fabs(r322.trues_cps_per_mbq / 176000.0 - 1.0) <= 0.05);
    assert_true(fabs(r85.trues_cps_per_mbq / 83000.0 - 1.0) <= 0.10);
    /* a smaller ring difference can only lose LORs */
    assert_true(r85.trues_cps_per_mbq < r322.trues_cps_per_mbq);
    tu_rmtree(dir);
}

/* ------------------------------------------------------------------ linearity of prompts, randoms */
/* Uniform cylinder at A = 100 MBq and 2A = 200 MBq, no Lu (randoms from the phantom's singles only,
 * so their rate is W S^2 with S proportional to A: exactly 4x), 0.3 s. Randoms need high singles, so
 * the activity is high and the statistic is cut with count_fraction = 0.01 (binomial thinning of every
 * coincidence class alike: ratios are unchanged). Expected counts: trues + scatter ~5 800 and ~11 600,
 * prompt randoms ~6 800 and ~27 000 (the same for delayeds). Ratio sigma from Poisson:
 *   sigma(T+S ratio) = 2 sqrt(1/N1 + 1/N2) ~ 0.032, sigma(R ratio) = 4 sqrt(1/R1 + 1/R2) ~ 0.054;
 * the checks allow 4 sigma computed from the measured counts. Delayeds and prompt randoms have the same
 * expectation: |D - R| <= 4 sqrt(D + R). Different seeds for the two runs keep them independent. */
static void linearity(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    char out1[4200], out2[4200];
    lf_sim_config c1, c2;
    lf_sim_result r1, r2;
    config(&c1, "cylinder", dir, "a1", out1, sizeof out1);
    c1.activity_bq = 100e6;
    c1.duration_s = 0.3;
    c1.lu = 0;
    c1.count_fraction = 0.01;
    c1.seed = 11;
    c2 = c1;
    c2.out_dir = out2;
    snprintf(out2, sizeof out2, "%s/a2", dir);
    c2.activity_bq = 200e6;
    c2.seed = 12;
    simulate_ok(&c1, &r1);
    simulate_ok(&c2, &r2);
    double ts1 = (double)(r1.trues + r1.scattered), ts2 = (double)(r2.trues + r2.scattered);
    double rn1 = (double)r1.randoms_prompt, rn2 = (double)r2.randoms_prompt;
    double d1 = (double)r1.delayeds, d2 = (double)r2.delayeds;
    assert_true(ts1 > 1000 && rn1 > 1000);
    double q_ts = ts2 / ts1, s_ts = q_ts * sqrt(1 / ts1 + 1 / ts2);
    double q_r = rn2 / rn1, s_r = q_r * sqrt(1 / rn1 + 1 / rn2);
    double q_d = d2 / d1, s_d = q_d * sqrt(1 / d1 + 1 / d2);
    print_message("2x activity: trues+scatter x %.3f +- %.3f (expect 2), prompt randoms x %.3f +- %.3f (expect 4), "
                  "delayeds x %.3f +- %.3f; delayeds/randoms %.3f, %.3f\n",
                  q_ts, s_ts, q_r, s_r, q_d, s_d, d1 / rn1, d2 / rn2);
    assert_true(fabs(q_ts - 2.0) <= 4 * s_ts);
    assert_true(fabs(q_r - 4.0) <= 4 * s_r);
    assert_true(fabs(q_d - 4.0) <= 4 * s_d);
    assert_true(fabs(d1 - rn1) <= 4 * sqrt(d1 + rn1));
    assert_true(fabs(d2 - rn2) <= 4 * sqrt(d2 + rn2));
    tu_rmtree(dir);
}

/* ------------------------------------------------------------------ TOF */
typedef struct {
    double p[3];                   /* the source */
    double bin_w_mm;               /* mm per TOF bin along the LOR */
    long hist[41];                 /* bin - round(expected), -20..20 */
    double sum, sum2;              /* of bin - expected */
    long n, n_far, far_wrong_sign;
} tof_acc;

static void tof_event(const lf_scanner *sc, const lf_event *e, void *user)
{
    tof_acc *t = user;
    if (!e->prompt)
        return;
    double A[3], B[3], u[3], d = 0, len = 0;
    lf_crystal_position_mm(sc, e->a, A);
    lf_crystal_position_mm(sc, e->b, B);
    for (int i = 0; i < 3; i++) {
        u[i] = A[i] - B[i];
        len += u[i] * u[i];
    }
    len = sqrt(len);
    for (int i = 0; i < 3; i++)
        d += (t->p[i] - 0.5 * (A[i] + B[i])) * u[i] / len;
    double expect = d / t->bin_w_mm;
    double diff = e->tof - expect;
    long k = lround(e->tof - lround(expect));
    if (k >= -20 && k <= 20)
        t->hist[k + 20]++;
    t->sum += diff;
    t->sum2 += diff * diff;
    t->n++;
    if (fabs(d) > 80) {
        t->n_far++;
        if ((d > 0 && e->tof <= 0) || (d < 0 && e->tof >= 0))
            t->far_wrong_sign++;
    }
}

/* Point source at (100, 0, 0) mm, 1 MBq, 0.05 s: ~10 000 trues (no randoms, no Lu; in air, no scatter).
 * Residual bin - expected bin: Gaussian timing 228 ps FWHM = 0.676 bins sigma, with the rounding to a
 * bin (1/12) about 0.74 bins: the standard error of the mean is ~0.0075 bins, so the +-0.1 bin check
 * is >10 sigma and tests the sign convention and the scale. Far events (|d| > 80 mm = 3.7 bins, 5.5
 * sigma of timing) must all have the sign of d. */
static void tof_point(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    char out[4200];
    lf_sim_config c;
    lf_sim_result r;
    config(&c, "point", dir, "tof", out, sizeof out);
    c.activity_bq = 1e6;
    c.duration_s = 0.05;
    c.randoms = 0;
    c.lu = 0;
    c.position_mm[0] = 100;
    simulate_ok(&c, &r);
    tof_acc t = {.p = {100, 0, 0}, .bin_w_mm = TOF_BIN_PS * MM_PER_PS_HALF};
    for_each_event(out, tof_event, &t, NULL);
    assert_true(t.n == (long)(r.trues + r.scattered));
    assert_true(t.n > 2000);
    int peak = 0;
    for (int k = 1; k < 41; k++)
        if (t.hist[k] > t.hist[peak])
            peak = k;
    double mean = t.sum / (double)t.n, sd = sqrt(t.sum2 / (double)t.n - mean * mean);
    print_message("TOF point at x = 100 mm: %ld prompts, residual bin - expected: mean %+.4f bins (SE %.4f), "
                  "sd %.3f bins (timing + rounding 0.74); histogram -2..2: %ld %ld %ld %ld %ld; |d| > 80 mm: "
                  "%ld events, %ld of the wrong sign\n",
                  t.n, mean, sd / sqrt((double)t.n), sd, t.hist[18], t.hist[19], t.hist[20], t.hist[21], t.hist[22],
                  t.n_far, t.far_wrong_sign);
    assert_int_equal(peak, 20);
    assert_true(fabs(mean) < 0.1);
    /* resolution: sigma 0.74 bins expected; the crystal size and depth add a little */
    assert_true(sd > 0.6 && sd < 1.0);
    assert_true(t.n_far > 100);
    assert_int_equal(t.far_wrong_sign, 0);
    tu_rmtree(dir);
}

/* ------------------------------------------------------------------ motion */
typedef struct {
    uint32_t t_step_ms;
    double sum[2];
    long n[2];
} motion_acc;

static void motion_event(const lf_scanner *sc, const lf_event *e, void *user)
{
    motion_acc *m = user;
    if (!e->prompt)
        return;
    float p1[3], p2[3];
    lf_lor_endpoints_mm(sc, e->a, e->b, p1, p2);
    int after = e->t_ms >= m->t_step_ms;
    m->sum[after] += 0.5 * ((double)p1[2] + (double)p2[2]);
    m->n[after]++;
}

/* Point source on the axis at the centre, 1 MBq, 0.1 s, moved by (0, 0, +50) mm at 0.05 s (no randoms,
 * no Lu): ~10 000 prompts each side. For a source on the axis both photons travel the same transaxial
 * distance, so the LOR midpoint's z is the source's z whatever the axial acceptance, up to the axial
 * crystal quantisation (pitch ~3.3 mm: the midpoint's spread is ~1 mm, the mean's standard error
 * ~0.01 mm). The shift of the mean must be 50 mm within 1 mm (the quantisation's possible bias). */
static void motion(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    char out[4200];
    lf_sim_config c;
    lf_sim_result r;
    config(&c, "point", dir, "motion", out, sizeof out);
    c.activity_bq = 1e6;
    c.duration_s = 0.1;
    c.randoms = 0;
    c.lu = 0;
    c.n_motion = 1;
    c.motion_t_s[0] = 0.05;
    c.motion_mm[0][0] = 0;
    c.motion_mm[0][1] = 0;
    c.motion_mm[0][2] = 50;
    simulate_ok(&c, &r);
    motion_acc m = {.t_step_ms = 50};
    for_each_event(out, motion_event, &m, NULL);
    assert_true(m.n[0] > 1000 && m.n[1] > 1000);
    double z0 = m.sum[0] / (double)m.n[0], z1 = m.sum[1] / (double)m.n[1];
    print_message("motion: LOR-midpoint z mean %.3f mm before (%ld prompts), %.3f mm after (%ld): shift %.3f mm "
                  "(expect +50)\n",
                  z0, m.n[0], z1, m.n[1], z1 - z0);
    assert_true(fabs(z0) < 1.0);
    assert_true(fabs(z1 - z0 - 50.0) < 1.0);
    tu_rmtree(dir);
}

/* ------------------------------------------------------------------ determinism */
/* Uniform cylinder, 5 MBq, with every effect on (scatter, randoms, Lu, efficiencies), 0.15 s = 3 chunks of
 * 50 ms: on 2 threads the chunks run concurrently and must still be written in order. */
static void determinism(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    char o1[4200], o2[4200], o3[4200];
    lf_sim_config c1, c2, c3;
    lf_sim_result r1, r2, r3;
    config(&c1, "cylinder", dir, "t1", o1, sizeof o1);
    c1.activity_bq = 5e6;
    c1.duration_s = 0.15;
    c1.seed = 7;
    c2 = c1;
    c2.out_dir = o2;
    snprintf(o2, sizeof o2, "%s/t2", dir);
    c3 = c1;
    c3.out_dir = o3;
    snprintf(o3, sizeof o3, "%s/s8", dir);
    c3.seed = 8;
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    simulate_ok(&c1, &r1);
    omp_set_num_threads(2);
    simulate_ok(&c2, &r2);
    simulate_ok(&c3, &r3);
    omp_set_num_threads(threads);
    unsigned char *b1, *b2, *b3;
    size_t n1, n2, n3;
    char p[4300];
    snprintf(p, sizeof p, "%s/acq.l", o1);
    assert_int_equal(read_file(p, &b1, &n1), 0);
    snprintf(p, sizeof p, "%s/acq.l", o2);
    assert_int_equal(read_file(p, &b2, &n2), 0);
    snprintf(p, sizeof p, "%s/acq.l", o3);
    assert_int_equal(read_file(p, &b3, &n3), 0);
    print_message("determinism: seed 7 on 1 and 2 threads: %zu and %zu bytes; seed 8: %zu bytes\n", n1, n2, n3);
    assert_true(n1 > 150 * 8);
    assert_true(n1 == n2 && memcmp(b1, b2, n1) == 0);
    assert_true(n1 != n3 || memcmp(b1, b3, n1) != 0);
    assert_true(r1.trues == r2.trues && r1.scattered == r2.scattered && r1.randoms_prompt == r2.randoms_prompt &&
                r1.delayeds == r2.delayeds && r1.decays == r2.decays);
    /* the crystal efficiencies are truth too: same seed, same file */
    snprintf(p, sizeof p, "%s/crystal_efficiency.csv", o1);
    free(b3);
    assert_int_equal(read_file(p, &b3, &n3), 0);
    free(b1);
    snprintf(p, sizeof p, "%s/crystal_efficiency.csv", o2);
    assert_int_equal(read_file(p, &b1, &n1), 0);
    assert_true(n1 == n3 && memcmp(b1, b3, n1) == 0);
    free(b1);
    free(b2);
    free(b3);
    tu_rmtree(dir);
}

/* ------------------------------------------------------------------ counts and tags in the file */
/* Point source, 0.02 MBq, 4.1 s, all physics on (the Lu background makes most coincidences randoms),
 * with respiratory motion of period 1 s: the reader's counts equal the result's exactly; 4100 time
 * markers (ms 0..4099); block singles at the end of each 2 s polling interval (ms 1999 and 3999), one
 * tag per block; a respiratory trigger at each cycle start (ms 0, 1000, 2000, 3000, 4000). */
static void counts_and_tags(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    char out[4200];
    lf_sim_config c;
    lf_sim_result r;
    config(&c, "point", dir, "counts", out, sizeof out);
    c.activity_bq = 0.02e6;
    c.duration_s = 4.1;
    c.resp_period_s = 1.0;
    c.resp_amplitude_mm = 10;
    simulate_ok(&c, &r);
    assert_int_equal(r.time_markers, 4100);

    lf_lm_reader *rd = open_acq(out);
    const lf_scanner *sc = &lf_lm_header_of(rd)->scanner;
    int nb = sc->n_blocks;
    assert_true(nb > 0);
    long *seen = calloc((size_t)nb * 2, sizeof *seen);
    assert_non_null(seen);
    long singles_other = 0, gating = 0, gating_bad_time = 0, other_tags = 0;
    uint64_t prompts = 0, delayeds = 0;
    lf_lm_batch b;
    lf_error err = {{0}};
    int rc;
    while ((rc = lf_lm_next(rd, &b, &err)) == 1) {
        for (size_t i = 0; i < b.n_ev; i++) {
            if (b.ev[i].prompt)
                prompts++;
            else
                delayeds++;
        }
        for (size_t i = 0; i < b.n_tags; i++) {
            const lf_tag *t = &b.tags[i];
            if (t->cls == LF_TAG_SINGLES) {
                uint32_t block = (uint32_t)(t->word & 0xFFFFFFFFu);
                int poll = t->t_ms == 1999 ? 0 : t->t_ms == 3999 ? 1 : -1;
                if (poll < 0 || block >= (uint32_t)nb)
                    singles_other++;
                else
                    seen[(size_t)poll * nb + block]++;
            } else if (t->cls == LF_TAG_GATING) {
                gating++;
                if (t->t_ms % 1000 != 0)
                    gating_bad_time++;
            } else {
                other_tags++;
            }
        }
    }
    if (rc != 0)
        fail_msg("reading %s/acq.l: %s", out, err.msg);
    const lf_decode_stats *st = lf_lm_stats(rd);
    long once = 0;
    for (int i = 0; i < 2 * nb; i++)
        once += seen[i] == 1;
    print_message("counts: file prompts %llu (trues %llu + scattered %llu + randoms %llu), delayeds %llu, markers %llu "
                  "(last %llu ms), singles tags %llu, gating tags %ld\n",
                  (unsigned long long)st->prompts, (unsigned long long)r.trues, (unsigned long long)r.scattered,
                  (unsigned long long)r.randoms_prompt, (unsigned long long)st->delayeds,
                  (unsigned long long)st->tags[LF_TAG_TIME], (unsigned long long)st->last_ms,
                  (unsigned long long)st->tags[LF_TAG_SINGLES], gating);
    assert_int_equal(st->prompts, r.trues + r.scattered + r.randoms_prompt);
    assert_int_equal(st->delayeds, r.delayeds);
    assert_int_equal(prompts, st->prompts);
    assert_int_equal(delayeds, st->delayeds);
    assert_true(r.trues > 0 && r.randoms_prompt > 0 && r.delayeds > 0);
    assert_int_equal(st->invalid_events, 0);
    assert_int_equal(st->time_backwards, 0);
    assert_int_equal(st->time_jumps, 0);
    assert_int_equal(st->tags[LF_TAG_TIME], 4100);
    assert_int_equal(st->first_ms, 0);
    assert_int_equal(st->last_ms, 4099);
    assert_int_equal(st->tags[LF_TAG_SINGLES], 2 * (uint64_t)nb);
    assert_int_equal(once, 2 * nb);
    assert_int_equal(singles_other, 0);
    assert_int_equal(gating, 5);
    assert_int_equal(st->tags[LF_TAG_GATING], 5);
    assert_int_equal(gating_bad_time, 0);
    assert_int_equal(other_tags, 0);
    assert_int_equal(st->tags[LF_TAG_UNKNOWN], 0);
    free(seen);
    lf_lm_close(rd);
    tu_rmtree(dir);
}

/* ------------------------------------------------------------------ refused configurations */
static void bad_config(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    char out[4200], p[4300];
    lf_sim_config c;
    lf_sim_result r;
    lf_error err = {{0}};
    struct stat sb;

    config(&c, "point", dir, "zero", out, sizeof out);
    c.activity_bq = 0;
    c.duration_s = 0.05;
    assert_int_equal(lf_simulate(&c, &r, &err), -1);
    assert_true(tu_contains(err.msg, "activity"));
    snprintf(p, sizeof p, "%s/acq.l", out);
    assert_true(stat(p, &sb) != 0);

    memset(&err, 0, sizeof err);
    config(&c, "no_such_phantom_xyz", dir, "unknown", out, sizeof out);
    c.activity_bq = 1e6;
    c.duration_s = 0.05;
    assert_int_equal(lf_simulate(&c, &r, &err), -1);
    print_message("unknown phantom: %s\n", err.msg);
    assert_true(tu_contains(err.msg, "no_such_phantom_xyz"));
    snprintf(p, sizeof p, "%s/acq.l", out);
    assert_true(stat(p, &sb) != 0);

    memset(&err, 0, sizeof err);
    config(&c, "point", dir, "mmr", out, sizeof out);
    c.scanner = "mmr";
    c.activity_bq = 1e6;
    c.duration_s = 0.05;
    assert_int_equal(lf_simulate(&c, &r, &err), -1);
    print_message("PETLINK scanner: %s\n", err.msg);
    assert_true(tu_contains(err.msg, "mmr"));
    assert_true(tu_contains(err.msg, "PETLINK"));
    snprintf(p, sizeof p, "%s/acq.l", out);
    assert_true(stat(p, &sb) != 0);

    memset(&err, 0, sizeof err);
    config(&c, "point", dir, "nodur", out, sizeof out);
    c.activity_bq = 1e6;
    c.duration_s = 0;
    assert_int_equal(lf_simulate(&c, &r, &err), -1);
    assert_true(tu_contains(err.msg, "duration"));
    tu_rmtree(dir);
}

int main(void)
{
    /* the bundled data, whatever the working folder */
    setenv("LAFOV_PHANTOM_DIR", LAFOV_SOURCE_DATA_DIR "/phantoms", 0);
    setenv("LAFOV_SCANNER_DIR", LAFOV_SOURCE_DATA_DIR "/scanners", 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(line_source), cmocka_unit_test(linearity),       cmocka_unit_test(tof_point),
        cmocka_unit_test(motion),      cmocka_unit_test(determinism),     cmocka_unit_test(counts_and_tags),
        cmocka_unit_test(bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

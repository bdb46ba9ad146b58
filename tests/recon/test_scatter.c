/* Single scatter simulation (recon/scatter.h) on the small test scanner: the physics pieces against
 * numeric integrals and lafov's simulated detector, symmetry and limits of the estimate, and the
 * estimate against the simulator's scatter truth (total within 10 %, radial and TOF shape). */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/rng.h"
#include "io/lmreader.h"
#include "recon/scatter.h"
#include "recon/response.h"
#include "sim/detector.h"
#include "sim/phantom.h"
#include "sim/simulate.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ------------------------------------------------------------------ physics */

/* (1/σ) dσ/dΩ integrates to 1 over the sphere; σ(E)/σ(511) agrees with the simulator's own formula;
 * the window acceptance is the integral of the Gaussian energy response over the window. */
static void klein_nishina_and_window(void **state)
{
    (void)state;
    double s = 0;
    const int n = 200000;
    for (int i = 0; i < n; i++) {
        double ct = -1.0 + (i + 0.5) * 2.0 / n;
        s += 2.0 * M_PI * lf_scatter_kn_dcs(ct) * 2.0 / n;
    }
    assert_true(fabs(s - 1.0) < 1e-6);
    /* forward scattering dominates at 511 keV: dσ/dΩ(0°) / dσ/dΩ(180°) = 1 / (P²(P + 1/P)) with P = 1/3 → 2/(1/27 + 1/3)... */
    double fwd = lf_scatter_kn_dcs(1.0), back = lf_scatter_kn_dcs(-1.0);
    double P = 1.0 / 3.0;
    assert_true(fabs(fwd / back / (2.0 / (P * P * (P + 1.0 / P))) - 1.0) < 1e-5);
    const double e[] = {511, 450, 340, 250, 170};
    for (int i = 0; i < 5; i++)
        assert_true(fabs(lf_scatter_kn_ratio(e[i]) / lf_kn_ratio(e[i]) - 1.0) < 1e-5); /* 511 vs 510.999 keV */

    lf_scanner sc;
    tu_scanner("small", &sc);
    const double ee[] = {511, 470, 440, 420, 400, 600};
    for (int i = 0; i < 6; i++) {
        double sig = sc.energy_resolution / 2.3548200450309493 * sqrt(511.0 / ee[i]) * ee[i], acc = 0;
        const int m = 100000;
        double lo = sc.energy_low_kev, hi = sc.energy_high_kev, dx = (hi - lo) / m;
        for (int k = 0; k < m; k++) {
            double x = lo + (k + 0.5) * dx;
            acc += exp(-0.5 * (x - ee[i]) * (x - ee[i]) / (sig * sig)) / (sig * sqrt(2 * M_PI)) * dx;
        }
        assert_true(fabs(lf_scatter_window(&sc, ee[i]) - acc) < 1e-6);
    }
    /* 340 keV (a 90° scatter) is far below a 435 keV threshold at 10 % FWHM */
    assert_true(lf_scatter_window(&sc, 340) < 1e-6);
}

/* η(c, E) against lafov's simulated detector: the detected fraction of photons of energy E hitting a
 * crystal at incidence c, relative to 511 keV at normal incidence (4e5 photons each: ~0.3 % σ). */
static void detection_vs_simulator(void **state)
{
    (void)state;
    lf_scanner sc;
    tu_scanner("small", &sc);
    lf_detector det;
    lf_error err = {{0}};
    assert_int_equal(lf_detector_init(&det, &sc, sc.mrd, 0.0, 1, &err), 0);
    lf_rng rng;
    lf_rng_seed(&rng, 42, 0);
    const int n = 400000;
    const double cases[][2] = {{511, 1.0}, {480, 1.0}, {450, 1.0}, {440, 0.6}, {511, 0.5}, {420, 1.0}};
    double ref = 0;
    for (int c = 0; c < 6; c++) {
        double e = cases[c][0], ci = cases[c][1], si = sqrt(1 - ci * ci);
        long hit = 0;
        for (int i = 0; i < n; i++) {
            /* from the centre of a ring slot's face region: x on the axis plane, direction with radial cosine ci */
            double phi = 2.0 * M_PI * lf_rng_uniform(&rng);
            double x[3] = {0, 0, sc.ring_pitch_mm}; /* a real ring (z = 0 is the gap between units) */
            double rr = sc.ring_radius_mm * sqrt(1 - ci * ci); /* start point so the ray meets the face at cosine ci */
            x[0] = rr * cos(phi + M_PI / 2);
            x[1] = rr * sin(phi + M_PI / 2);
            double u[3] = {cos(phi), sin(phi), 0.0};
            (void)si;
            double d;
            if (lf_detector_detect(&det, &rng, x, u, e, &d) >= 0)
                hit++;
        }
        double p = (double)hit / n;
        if (c == 0)
            ref = p;
        double pred = lf_scatter_detect_rel(&sc, e, ci), meas = p / ref;
        print_message("  [eta(E=%.0f keV, c=%.2f): model %.4f, simulator %.4f]\n", e, ci, pred, meas);
        double tol = 4.0 * sqrt(1.0 / hit + 1.0 / (ref * n)) * meas + 0.005;
        assert_true(fabs(pred - meas) < tol);
    }
    lf_detector_free(&det);
}

/* ------------------------------------------------------------------ estimate: symmetry and limits */

#define NX 40
#define NY 40
#define NZ 20
#define VOX 4.0f

/* An off-centre water ellipse with off-centre activity: nothing symmetric to hide mistakes. */
static void asym_object(const lf_grid *g, float *mu, float *act)
{
    for (int k = 0; k < g->n[2]; k++)
        for (int j = 0; j < g->n[1]; j++)
            for (int i = 0; i < g->n[0]; i++) {
                double x = g->origin_mm[0] + i * g->voxel_mm[0], y = g->origin_mm[1] + j * g->voxel_mm[1],
                       z = g->origin_mm[2] + k * g->voxel_mm[2];
                size_t v = (size_t)i + (size_t)g->n[0] * ((size_t)j + (size_t)g->n[1] * k);
                int in = (x - 10) * (x - 10) / (60.0 * 60.0) + (y + 5) * (y + 5) / (45.0 * 45.0) <= 1.0 && fabs(z) < 30;
                mu[v] = in ? 0.096f : 0.0f;
                double h = (x - 35) * (x - 35) + y * y + (z - 8) * (z - 8);
                act[v] = in ? (float)(1.0 + 6.0 * (h < 15.0 * 15.0)) : 0.0f;
            }
}

static void symmetry_and_limits(void **state)
{
    (void)state;
    lf_scanner sc;
    tu_scanner("small", &sc);
    lf_grid g = lf_grid_centred(NX, NY, NZ, VOX, VOX, VOX, 0, 0, 0);
    size_t nv = lf_grid_voxels(&g);
    float *mu = malloc(nv * sizeof *mu), *act = malloc(nv * sizeof *act);
    assert_non_null(mu);
    assert_non_null(act);
    asym_object(&g, mu, act);
    lf_tof tof = lf_tof_from_ps(sc.tof_bin_width_ps, sc.tof_fwhm_ps, sc.tof_bins, 0);
    lf_scatter_opts o;
    lf_scatter_opts_defaults(&o);
    lf_scatter_table *tt = NULL, *tn = NULL;
    lf_error err = {{0}};
    double t0 = now_s();
    assert_int_equal(lf_scatter_estimate(&sc, -1, &g, mu, act, &tof, &o, &tt, &err), 0);
    double t_tof = now_s() - t0;
    t0 = now_s();
    assert_int_equal(lf_scatter_estimate(&sc, -1, &g, mu, act, NULL, &o, &tn, &err), 0);
    print_message("  [%d scatter points, %d x %d coarse detectors: TOF %.3f s, non-TOF %.3f s]\n", tt->n_points, tt->n_t,
                  tt->n_z, t_tof, now_s() - t0);
    assert_true(tt->n_points > 10);

    /* events: random crystal pairs, all TOF bins */
    const int ne = 4000, nb = sc.tof_bins, half = (nb - 1) / 2;
    uint32_t *a = malloc(ne * sizeof *a), *b = malloc(ne * sizeof *b);
    int8_t *bins = malloc(ne), *mbins = malloc(ne);
    float *s1 = malloc(ne * sizeof *s1), *s2 = malloc(ne * sizeof *s2), *sn = malloc(ne * sizeof *sn);
    lf_rng rng;
    lf_rng_seed(&rng, 7, 0);
    for (int i = 0; i < ne; i++) {
        do {
            a[i] = (uint32_t)lf_rng_below(&rng, (uint64_t)sc.n_crystals);
            b[i] = (uint32_t)lf_rng_below(&rng, (uint64_t)sc.n_crystals);
        } while (!lf_pair_accepted(&sc, a[i], b[i], sc.mrd));
        bins[i] = (int8_t)((int)lf_rng_below(&rng, (uint64_t)nb) - half);
        mbins[i] = (int8_t)-bins[i];
    }
    /* S_ab,t = S_ba,-t exactly */
    assert_int_equal(lf_scatter_events(tt, a, b, bins, ne, NULL, 1.0, s1, &err), 0);
    assert_int_equal(lf_scatter_events(tt, b, a, mbins, ne, NULL, 1.0, s2, &err), 0);
    double smax = 0;
    for (int i = 0; i < ne; i++) {
        assert_true(s1[i] >= 0);
        assert_true(fabsf(s1[i] - s2[i]) <= 1e-5f * s1[i]);
        smax = fmax(smax, s1[i]);
    }
    assert_true(smax > 0);
    /* the TOF bins sum to the non-TOF estimate (the kernel is normalised over the bins it reaches) */
    assert_int_equal(lf_scatter_events(tt, a, b, NULL, ne, NULL, 1.0, s1, &err), 0);
    assert_int_equal(lf_scatter_events(tn, a, b, NULL, ne, NULL, 1.0, sn, &err), 0);
    double num = 0, den = 0;
    for (int i = 0; i < ne; i++) {
        num += fabs(s1[i] - sn[i]);
        den += sn[i];
    }
    print_message("  [sum over TOF bins vs non-TOF: mean |diff| %.2e relative]\n", num / den);
    assert_true(num / den < 2e-3);
    /* TOF: the estimate leans towards the activity. The hot ball is at x = +35: for LORs between
     * crystals near +x and -x, bins on +x's side hold more scatter than the mirrored bins. */
    {
        double plus = 0, minus = 0;
        for (int i = 0; i < ne; i++) {
            double pa[3], pb[3];
            lf_crystal_position_mm(&sc, a[i], pa);
            lf_crystal_position_mm(&sc, b[i], pb);
            if (!(pa[0] > 80 && pb[0] < -80) || bins[i] == 0)
                continue;
            float v;
            assert_int_equal(lf_scatter_events(tt, &a[i], &b[i], &bins[i], 1, NULL, 1.0, &v, &err), 0);
            if (bins[i] > 0)
                plus += v;
            else
                minus += v;
        }
        print_message("  [scatter on the hot side's TOF bins / the other side's: %.2f]\n", plus / minus);
        assert_true(plus > 1.2 * minus);
    }
    /* efficiencies multiply, scale multiplies */
    {
        float *eff = malloc((size_t)sc.n_crystals * sizeof *eff);
        for (int c = 0; c < sc.n_crystals; c++)
            eff[c] = 0.8f + 0.4f * (float)lf_rng_uniform(&rng);
        assert_int_equal(lf_scatter_events(tn, a, b, NULL, ne, eff, 2.5, s2, &err), 0);
        for (int i = 0; i < ne; i++)
            assert_true(fabsf(s2[i] - 2.5f * eff[a[i]] * eff[b[i]] * sn[i]) <= 1e-5f * s2[i] + 1e-30f);
        free(eff);
    }
    /* bad input is named */
    bins[3] = (int8_t)(half + 1);
    assert_int_equal(lf_scatter_events(tt, a, b, bins, ne, NULL, 1.0, s1, &err), -1);
    assert_true(tu_contains(err.msg, "event 3"));
    a[5] = (uint32_t)sc.n_crystals;
    assert_int_equal(lf_scatter_events(tn, a, b, NULL, ne, NULL, 1.0, s1, &err), -1);
    assert_true(tu_contains(err.msg, "event 5"));
    lf_scatter_free(tt);
    lf_scatter_free(tn);

    /* μ = 0: no scatter point, no scatter */
    memset(mu, 0, nv * sizeof *mu);
    assert_int_equal(lf_scatter_estimate(&sc, -1, &g, mu, act, &tof, &o, &tt, &err), 0);
    assert_int_equal(tt->n_points, 0);
    size_t np = (size_t)tt->n_det * (tt->n_det + 1) / 2;
    for (size_t p = 0; p < np; p++)
        assert_true(tt->s_total[p] == 0.0f);
    lf_scatter_free(tt);
    /* λ = 0: no scatter */
    asym_object(&g, mu, act);
    memset(act, 0, nv * sizeof *act);
    assert_int_equal(lf_scatter_estimate(&sc, -1, &g, mu, act, &tof, &o, &tt, &err), 0);
    assert_true(tt->n_points > 10);
    for (size_t p = 0; p < np; p++)
        assert_true(tt->s_total[p] == 0.0f);
    lf_scatter_free(tt);
    free(a);
    free(b);
    free(bins);
    free(mbins);
    free(s1);
    free(s2);
    free(sn);
    free(mu);
    free(act);
}

/* ------------------------------------------------------------------ against the simulator */

static const char *PHANTOM =
    "phantom name := scatter test: water cylinder with a cold lung insert\n"
    "default uptake (s) := 0\n"
    "shape := water\ntype := cylinder\naxis := z\ncentre (mm) := 0, 0, 0\nradius (mm) := 80\n"
    "half-length (mm) := 45\nrelative activity := 1\nHU := 0\nmu (1/cm) := 0.096\n"
    "shape := lung\ntype := cylinder\naxis := z\ncentre (mm) := 30, 10, 0\nradius (mm) := 22\n"
    "half-length (mm) := 45\nrelative activity := 0\nHU := -700\nmu (1/cm) := 0.029\n";

typedef struct hist {
    double radial[8];   /* prompts by the LOR's transaxial distance from the axis, 15 mm bins */
    double tof[17];     /* prompts by TOF bin (-8..8) */
    double n;
} hist;

#define RBIN_MM 15.0

static double lor_radius(const lf_scanner *sc, uint32_t a, uint32_t b)
{
    double pa[3], pb[3];
    lf_crystal_position_mm(sc, a, pa);
    lf_crystal_position_mm(sc, b, pb);
    double dx = pb[0] - pa[0], dy = pb[1] - pa[1], l = sqrt(dx * dx + dy * dy);
    return l > 0 ? fabs(pa[0] * dy - pa[1] * dx) / l : hypot(pa[0], pa[1]); /* same column: on the detector */
}

/* reads acq.l: events and histograms */
static void read_events(const char *dir, const lf_scanner *sc, uint32_t **a, uint32_t **b, int8_t **t, size_t *n, hist *h)
{
    char p[4300];
    snprintf(p, sizeof p, "%s/acq.l", dir);
    lf_lm_reader *r = NULL;
    lf_error err = {{0}};
    if (lf_lm_open(p, NULL, &r, &err) != 0)
        fail_msg("%s", err.msg);
    size_t cap = 1 << 20;
    *a = malloc(cap * 4);
    *b = malloc(cap * 4);
    *t = malloc(cap);
    *n = 0;
    memset(h, 0, sizeof *h);
    lf_lm_batch bt;
    int rc;
    while ((rc = lf_lm_next(r, &bt, &err)) == 1)
        for (size_t i = 0; i < bt.n_ev; i++) {
            if (!bt.ev[i].prompt)
                continue;
            if (*n == cap) {
                cap *= 2;
                *a = realloc(*a, cap * 4);
                *b = realloc(*b, cap * 4);
                *t = realloc(*t, cap);
            }
            (*a)[*n] = bt.ev[i].a;
            (*b)[*n] = bt.ev[i].b;
            (*t)[*n] = bt.ev[i].tof;
            (*n)++;
            int rb = (int)(lor_radius(sc, bt.ev[i].a, bt.ev[i].b) / RBIN_MM);
            h->radial[rb > 7 ? 7 : rb] += 1;
            if (bt.ev[i].tof >= -8 && bt.ev[i].tof <= 8)
                h->tof[bt.ev[i].tof + 8] += 1;
        }
    assert_int_equal(rc, 0);
    h->n = (double)*n;
    lf_lm_close(r);
}

static void simulate(const char *dir, const char *name, const char *phantom, int scatter, char *out, lf_sim_result *res)
{
    lf_sim_config c;
    lf_sim_config_defaults(&c);
    snprintf(out, 4200, "%s/%s", dir, name);
    c.phantom = phantom;
    c.scanner = "small";
    c.out_dir = out;
    c.ct = 0;
    c.truth_voxel_mm = 8;
    c.randoms = 0;
    c.lu = 0;
    c.uniform_efficiency = 1;
    c.scatter = scatter;
    c.activity_bq = 10e6;
    c.duration_s = 2.0;
    c.seed = 11;
    lf_error err = {{0}};
    double t0 = now_s();
    if (lf_simulate(&c, res, &err) != 0)
        fail_msg("lf_simulate: %s", err.msg);
    print_message("  [simulated %s: trues %llu, scattered %llu in %.1f s]\n", name, (unsigned long long)res->trues,
                  (unsigned long long)res->scattered, now_s() - t0);
}

static void against_simulator(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    char ph_path[4200], out_s[4200], out_n[4200];
    snprintf(ph_path, sizeof ph_path, "%s/scat.phantom", dir);
    tu_write_text(ph_path, PHANTOM);
    lf_scanner sc;
    tu_scanner("small", &sc);
    lf_sim_result rs, rn;
    simulate(dir, "with", ph_path, 1, out_s, &rs);
    simulate(dir, "without", ph_path, 0, out_n, &rn);

    /* truth images on a grid covering the whole phantom */
    lf_grid g = lf_grid_centred(46, 46, 24, 4.0f, 4.0f, 4.0f, 0, 0, 0);
    size_t nv = lf_grid_voxels(&g);
    float *mu = malloc(nv * sizeof *mu), *act = malloc(nv * sizeof *act);
    lf_phantom ph;
    lf_error err = {{0}};
    assert_int_equal(lf_phantom_load(NULL, ph_path, &ph, &err), 0);
    const double vox[3] = {4, 4, 4}, org[3] = {g.origin_mm[0], g.origin_mm[1], g.origin_mm[2]};
    assert_int_equal(lf_phantom_rasterize(&ph, LF_RASTER_MU, 1.0, g.n, vox, org, 4, mu, &err), 0);
    assert_int_equal(lf_phantom_rasterize(&ph, LF_RASTER_ACTIVITY, 1.0, g.n, vox, org, 4, act, &err), 0);
    lf_phantom_free(&ph);
    /* λ in expected counts (the OSEM's units): the expected trues over every LOR of the acceptance,
     * Σ_i g_i a_i ∫λ, estimated on 2e5 LORs drawn uniformly from it, equal to the simulated trues */
    double t0 = now_s();
    {
        const size_t ns = 200000;
        float *lors = malloc(ns * 6 * sizeof *lors), *fa = malloc(ns * sizeof *fa), *fm = malloc(ns * sizeof *fm);
        lf_rng rng;
        lf_rng_seed(&rng, 3, 0);
        double lors_acc = 0;
        for (int r1 = 0; r1 < sc.rings; r1++)
            for (int r2 = r1; r2 < sc.rings; r2++)
                if (abs(lf_ring_slot_z(&sc, r1) - lf_ring_slot_z(&sc, r2)) <= sc.mrd)
                    lors_acc += r1 == r2 ? 0.5 * sc.crystals_per_ring * (sc.crystals_per_ring - 1.0)
                                         : (double)sc.crystals_per_ring * sc.crystals_per_ring;
        for (size_t i = 0; i < ns;) {
            uint32_t ca = (uint32_t)lf_rng_below(&rng, (uint64_t)sc.n_crystals),
                     cb = (uint32_t)lf_rng_below(&rng, (uint64_t)sc.n_crystals);
            if (!lf_pair_accepted(&sc, ca, cb, sc.mrd))
                continue;
            lf_lor_endpoints_mm(&sc, ca, cb, lors + 6 * i, lors + 6 * i + 3);
            i++;
        }
        assert_int_equal(lf_proj_fwd(LF_PROJ_SIDDON, &g, act, lors, ns, NULL, NULL, fa, &err), 0);
        assert_int_equal(lf_proj_fwd(LF_PROJ_SIDDON, &g, mu, lors, ns, NULL, NULL, fm, &err), 0);
        double ysum = 0;
        for (size_t i = 0; i < ns; i++)
            ysum += lf_response_lor(&sc, lors + 6 * i) * exp(-0.1 * fm[i]) * fa[i];
        ysum *= lors_acc / (double)ns;
        for (size_t j = 0; j < nv; j++)
            act[j] = (float)(act[j] * (double)rs.trues / ysum);
        free(lors);
        free(fa);
        free(fm);
    }
    print_message("  [activity scaled to the trues in %.2f s]\n", now_s() - t0);

    lf_tof tof = lf_tof_from_ps(sc.tof_bin_width_ps, sc.tof_fwhm_ps, sc.tof_bins, 0);
    lf_scatter_opts o;
    lf_scatter_opts_defaults(&o);
    lf_scatter_table *t = NULL;
    t0 = now_s();
    assert_int_equal(lf_scatter_estimate(&sc, -1, &g, mu, act, &tof, &o, &t, &err), 0);
    print_message("  [estimate: %d points, %d x %d detectors, %.3f s]\n", t->n_points, t->n_t, t->n_z, now_s() - t0);

    uint32_t *a, *b;
    int8_t *tb;
    size_t n;
    hist hs, hn;
    read_events(out_s, &sc, &a, &b, &tb, &n, &hs);
    lf_scatter_fit fit;
    t0 = now_s();
    uint8_t *tail = malloc(n);
    assert_int_equal(lf_scatter_tail_mask(&sc, &g, mu, a, b, n, &o, tail, &err), 0);
    assert_int_equal(lf_scatter_tail_fit(t, &sc, -1, &g, mu, NULL, NULL, a, b, tail, n, &o, &fit, &err), 0);
    double pred = fit.alpha * fit.s_all;
    print_message("  [tail fit %.2f s: alpha %.3f, N_tail %.0f, S_tail %.1f, tail fraction %.3f; predicted scatter %.0f, "
                  "truth %llu (%+.1f %%), unscaled single scatter %.0f]\n",
                  now_s() - t0, fit.alpha, fit.n_tail, fit.s_tail, fit.tail_fraction, pred,
                  (unsigned long long)rs.scattered, 100.0 * (pred / rs.scattered - 1.0), fit.s_all);
    assert_true(fabs(pred / (double)rs.scattered - 1.0) < 0.10);
    /* with λ in the right units the model's absolute scale is right too: single scatter is most of the
     * scatter (α = all / single) */
    assert_true(fit.alpha > 0.95 && fit.alpha < 1.6);

    /* shape: radial profile of the scatter (prompts with scatter − prompts without, same seed) */
    uint32_t *a2, *b2;
    int8_t *t2;
    size_t n2;
    read_events(out_n, &sc, &a2, &b2, &t2, &n2, &hn);
    double est[8] = {0}, etof[17] = {0};
    assert_true(t->n_bins == 17);
    {
        /* every LOR of the acceptance */
        size_t cap = 1 << 18, m = 0;
        uint32_t *pa = malloc(cap * 4), *pb = malloc(cap * 4);
        float *sv = malloc(cap * sizeof *sv);
        double *rr = malloc(cap * sizeof *rr);
        int8_t *bb = malloc(cap);
        for (uint32_t ca = 0; ca < (uint32_t)sc.n_crystals; ca++)
            for (uint32_t cb = ca + 1; cb < (uint32_t)sc.n_crystals; cb++) {
                if (!lf_pair_accepted(&sc, ca, cb, sc.mrd))
                    continue;
                pa[m] = ca;
                pb[m] = cb;
                m++;
                if (m == cap || (ca == (uint32_t)sc.n_crystals - 2)) {
                    assert_int_equal(lf_scatter_events(t, pa, pb, NULL, m, NULL, fit.alpha, sv, &err), 0);
                    for (size_t i = 0; i < m; i++) {
                        int rb = (int)(lor_radius(&sc, pa[i], pb[i]) / RBIN_MM);
                        est[rb > 7 ? 7 : rb] += sv[i];
                    }
                    for (int q = -8; q <= 8; q++) { /* the same LORs, one TOF bin at a time */
                        memset(bb, q, m);
                        assert_int_equal(lf_scatter_events(t, pa, pb, bb, m, NULL, fit.alpha, sv, &err), 0);
                        for (size_t i = 0; i < m; i++)
                            etof[q + 8] += sv[i];
                    }
                    m = 0;
                }
            }
        free(pa);
        free(pb);
        free(sv);
        free(rr);
        free(bb);
    }
    double etot = 0;
    for (int i = 0; i < 8; i++)
        etot += est[i];
    print_message("  [predicted scatter over every LOR, summed exactly: %.0f (sampled %.0f)]\n", etot, pred);
    /* the radial shape, each profile normalised to its total: every bin holding > 5 % of the scatter
     * within 10 % of the truth's share (or 4 σ of its Poisson noise, whichever is larger) */
    double ttot = 0, tr[8], sd[8];
    for (int i = 0; i < 8; i++) {
        tr[i] = hs.radial[i] - hn.radial[i] * (double)rs.trues / (double)rn.trues;
        sd[i] = sqrt(hs.radial[i] + hn.radial[i]);
        ttot += tr[i];
    }
    for (int i = 0; i < 8; i++) {
        double fe = est[i] / etot, ft = tr[i] / ttot;
        print_message("  [radial %3.0f-%3.0f mm: scatter truth %6.0f ± %4.0f, estimate %7.0f; shares %.3f vs %.3f]\n",
                      i * RBIN_MM, (i + 1) * RBIN_MM, tr[i], sd[i], est[i], ft, fe);
        if (ft > 0.05)
            assert_true(fabs(fe - ft) < fmax(0.10 * ft, 4.0 * sd[i] / ttot));
    }
    /* the TOF shape: every bin holding > 5 % of the scatter within 8 % of the truth's share (or 4 σ) */
    {
        double tt = 0, te = 0, tv[17];
        for (int i = 0; i < 17; i++) {
            tv[i] = hs.tof[i] - hn.tof[i] * (double)rs.trues / (double)rn.trues;
            tt += tv[i];
            te += etof[i];
        }
        for (int i = 0; i < 17; i++) {
            double ft = tv[i] / tt, fe = etof[i] / te, sdv = sqrt(hs.tof[i] + hn.tof[i]) / tt;
            if (ft > 0.01)
                print_message("  [TOF bin %+d: scatter truth share %.4f, estimate %.4f]\n", i - 8, ft, fe);
            if (ft > 0.05)
                assert_true(fabs(fe - ft) < fmax(0.08 * ft, 4.0 * sdv));
        }
    }
    /* the body's edge: scatter on LORs outside the cylinder (r > 90 mm) against inside (same test) */
    {
        double fe = (est[6] + est[7]) / etot, ft = (tr[6] + tr[7]) / ttot;
        assert_true(fabs(fe / ft - 1.0) < 0.25);
    }
    free(tail);
    free(a);
    free(b);
    free(tb);
    free(a2);
    free(b2);
    free(t2);
    lf_scatter_free(t);
    free(mu);
    free(act);
    tu_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(klein_nishina_and_window),
        cmocka_unit_test(detection_vs_simulator),
        cmocka_unit_test(symmetry_and_limits),
        cmocka_unit_test(against_simulator),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

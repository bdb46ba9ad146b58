/* Tests for randoms from delayeds (recon/randoms.c):
 *  - the factorised fan sum and the expected total against brute force over every crystal pair
 *    (lf_pair_accepted) on the small scanner at several MRDs and on the mini scanner renumbered with
 *    virtual gap slots (SLOTS numbering);
 *  - ML singles from synthetic Poisson delayeds drawn from known s_a·s_b: the ML identity
 *    Σ s_a s_b = delayeds, the per-crystal error against its Poisson limit, the correlation;
 *  - against the simulator: a 2 s small-scanner acquisition of the small cylinder (MRD 12, randoms,
 *    176Lu, scatter, crystal efficiencies): the predicted prompt-window randoms against the simulator's
 *    true count, the estimated singles per block against the stream's block singles tags (pattern and
 *    absolute scale) and per crystal against the simulator's singles model (crystal_efficiency.csv);
 *  - the Quadra's 243 200 crystals at MRD 85: noise-free fan sums give the singles back, in well under 1 s.
 * Every statistical tolerance is derived from the Poisson noise it has to cover (stated at each check). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"

#include "core/rng.h"
#include "io/lmreader.h"
#include "recon/randoms.h"
#include "sim/simulate.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double corr(const double *x, const double *y, const int *use, int n)
{
    double sx = 0, sy = 0, m = 0;
    for (int i = 0; i < n; i++)
        if (!use || use[i]) {
            sx += x[i];
            sy += y[i];
            m++;
        }
    sx /= m;
    sy /= m;
    double xy = 0, xx = 0, yy = 0;
    for (int i = 0; i < n; i++)
        if (!use || use[i]) {
            xy += (x[i] - sx) * (y[i] - sy);
            xx += (x[i] - sx) * (x[i] - sx);
            yy += (y[i] - sy) * (y[i] - sy);
        }
    return xy / sqrt(xx * yy);
}

/* ------------------------------------------------------------------ fan sums */
static void check_fan_sums(const lf_scanner *sc, int mrd, uint64_t seed)
{
    const int n = sc->n_crystals;
    double *s = malloc((size_t)n * sizeof *s), *fast = malloc((size_t)n * sizeof *fast);
    assert_non_null(s);
    assert_non_null(fast);
    lf_rng rng;
    lf_rng_seed(&rng, seed, (uint64_t)mrd);
    for (int a = 0; a < n; a++)
        s[a] = lf_crystal_is_virtual(sc, lf_crystal_index(sc, (uint32_t)a)) ? 0.0 : 0.2 + lf_rng_uniform(&rng);
    lf_error err = {{0}};
    assert_int_equal(lf_randoms_fan_sum(sc, mrd, s, fast, &err), 0);
    double total = 0, brute_total = 0, worst = 0;
    assert_int_equal(lf_randoms_expected_total(sc, mrd, s, &total, &err), 0);
    for (int a = 0; a < n; a++) {
        double t = 0;
        for (int b = 0; b < n; b++)
            if (lf_pair_accepted(sc, (uint32_t)a, (uint32_t)b, mrd))
                t += s[b];
        brute_total += 0.5 * s[a] * t;
        double d = fabs(fast[a] - t) / (t > 1 ? t : 1);
        if (d > worst)
            worst = d;
    }
    print_message("  %s MRD %d: fan sums of %d crystals, worst relative difference %.2g; total %.10g vs %.10g\n",
                  sc->name, mrd, n, worst, total, brute_total);
    assert_true(worst < 1e-12);
    assert_true(fabs(total - brute_total) <= 1e-12 * brute_total);
    free(s);
    free(fast);
}

static void fan_sum_brute_force(void **state)
{
    (void)state;
    lf_scanner sc;
    tu_scanner("small", &sc);
    double t0 = now_s();
    const int mrds[] = {0, 1, 5, 12, 20};
    for (size_t i = 0; i < sizeof mrds / sizeof mrds[0]; i++)
        check_fan_sums(&sc, mrds[i], 3);
    /* the mini scanner numbered by slots: a virtual crystal before every block's real ones */
    lf_scanner m;
    tu_scanner("mini", &m);
    m.numbering = LF_NUMBERING_SLOTS;
    m.gap_before = 1;
    lf_error err = {{0}};
    if (lf_scanner_finish(&m, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(m.n_crystals, m.slots_t * m.rings);
    const int mm[] = {0, 3, 16};
    for (size_t i = 0; i < sizeof mm / sizeof mm[0]; i++)
        check_fan_sums(&m, mm[i], 5);
    /* what counts as a delayed of the fan */
    double *fan = calloc((size_t)m.n_crystals, sizeof *fan);
    assert_non_null(fan);
    const uint32_t a = lf_crystal_id(&m, 0, 1), far = lf_crystal_id(&m, m.rings - 1, 2), virt = lf_crystal_id(&m, 0, 0);
    assert_true(lf_crystal_is_virtual(&m, 0));
    assert_int_equal(lf_randoms_count_delayed(&m, 3, a, far, fan), 0);  /* beyond the MRD */
    assert_int_equal(lf_randoms_count_delayed(&m, 3, a, a, fan), 0);    /* a = b */
    assert_int_equal(lf_randoms_count_delayed(&m, 16, a, virt, fan), 0); /* virtual */
    assert_int_equal(lf_randoms_count_delayed(&m, 16, a, far, fan), 1);
    assert_true(fan[a] == 1 && fan[far] == 1);
    /* a fan sum on a virtual crystal is refused, naming it */
    fan[virt] = 1;
    double *s = malloc((size_t)m.n_crystals * sizeof *s);
    lf_randoms_ml_info info;
    assert_int_equal(lf_randoms_singles_ml(&m, 16, fan, 0, 0, s, &info, &err), -1);
    assert_true(tu_contains(err.msg, "crystal 0") && tu_contains(err.msg, "virtual"));
    /* no delayeds at all: s = 0, no error */
    memset(fan, 0, (size_t)m.n_crystals * sizeof *fan);
    assert_int_equal(lf_randoms_singles_ml(&m, 16, fan, 0, 0, s, &info, &err), 0);
    assert_true(info.delayeds == 0 && info.expected_total == 0 && s[a] == 0);
    assert_int_equal(lf_randoms_fan_sum(&m, -1, s, fan, &err), -1);
    free(s);
    free(fan);
    print_message("  fan sums checked in %.2f s\n", now_s() - t0);
}

/* ------------------------------------------------------------------ ML on synthetic delayeds */
/* Small scanner, MRD 8. Truth s_a = 0.75 · axial profile (0.6..1 across the rings) · efficiency
 * (1 + 0.15 N(0,1), kept within 0.5..1.5); every accepted pair gets D_ab ~ Poisson(s_a s_b): mean fan sum
 * F ~ 1 300. The ML estimate's relative error is ~1/√F_a per crystal (Fisher information F_a / s_a²):
 * its RMS over crystals must lie within 0.8..1.25 × RMS(1/√F_a) (χ² of 4 320 crystals: ±3 % at 3σ; the
 * margin allows the slight correlation between crystals), the correlation with the truth above 0.98
 * (truth spread 15 % against 2.8 % noise gives r ~0.99), Σ s_a s_b = delayeds to 1e-6 (ML identity), and
 * that total within 4σ (σ = √(truth total)) of the truth's Σ s_a s_b. */
static void ml_synthetic(void **state)
{
    (void)state;
    lf_scanner sc;
    tu_scanner("small", &sc);
    const int mrd = 8, n = sc.n_crystals;
    double t0 = now_s();
    double *st = malloc((size_t)n * sizeof *st), *fan = calloc((size_t)n, sizeof *fan), *s = malloc((size_t)n * sizeof *s);
    assert_true(st && fan && s);
    lf_rng rng;
    lf_rng_seed(&rng, 77, 0);
    for (int a = 0; a < n; a++) {
        const int r = lf_crystal_ring(&sc, (uint32_t)a);
        double e = 1 + 0.15 * lf_rng_normal(&rng);
        e = e < 0.5 ? 0.5 : e > 1.5 ? 1.5 : e;
        st[a] = 0.75 * (0.6 + 0.4 * sin(M_PI * (r + 0.5) / sc.rings)) * e;
    }
    double d_total = 0, truth_total = 0;
    for (int a = 0; a < n; a++)
        for (int b = a + 1; b < n; b++)
            if (lf_pair_accepted(&sc, (uint32_t)a, (uint32_t)b, mrd)) {
                const double m = st[a] * st[b];
                truth_total += m;
                const uint64_t d = lf_rng_poisson(&rng, m);
                fan[a] += (double)d;
                fan[b] += (double)d;
                d_total += (double)d;
            }
    const double t1 = now_s();
    lf_randoms_ml_info info;
    lf_error err = {{0}};
    assert_int_equal(lf_randoms_singles_ml(&sc, mrd, fan, 0, 0, s, &info, &err), 0);
    const double t2 = now_s();
    double e2 = 0, lim2 = 0, fmean = 0;
    for (int a = 0; a < n; a++) {
        const double rel = s[a] / st[a] - 1;
        e2 += rel * rel;
        lim2 += 1.0 / fan[a];
        fmean += fan[a];
    }
    const double rms = sqrt(e2 / n), lim = sqrt(lim2 / n), r = corr(s, st, NULL, n);
    print_message("  %d crystals, %.0f delayeds (truth %.1f), mean fan sum %.0f; ML: %d iterations, residual %.2g, "
                  "%.3f s; Σ s_a s_b %.1f; per crystal RMS error %.4f (Poisson limit %.4f), r = %.4f; draws %.2f s\n",
                  n, d_total, truth_total, fmean / n, info.iterations, info.max_residual, t2 - t1, info.expected_total,
                  rms, lim, r, t1 - t0);
    assert_true(info.converged);
    assert_true(info.crystals_no_delayeds == 0);
    assert_true(fabs(info.delayeds - d_total) < 1e-9 * d_total);
    assert_true(fabs(info.expected_total - d_total) <= 1e-6 * d_total);
    assert_true(fabs(info.expected_total - truth_total) <= 4 * sqrt(truth_total));
    assert_true(rms >= 0.8 * lim && rms <= 1.25 * lim);
    assert_true(r > 0.98);
    /* the per-event term: TOF bin share of s_a s_b */
    const uint32_t ea[2] = {0, 5}, eb[2] = {300, 4000};
    float add[2];
    lf_randoms_per_event(s, ea, eb, 2, 1.0 / 17, add);
    assert_true(fabs(add[0] - s[0] * s[300] / 17) <= 1e-6 * add[0]);
    assert_true(fabs(add[1] - s[5] * s[4000] / 17) <= 1e-6 * add[1]);
    free(st);
    free(fan);
    free(s);
}

/* ------------------------------------------------------------------ against the simulator */
typedef struct sim_acc {
    const lf_scanner *sc;
    int mrd;
    double *fan;              /* delayed fan sums */
    double *block_tags;       /* singles tag counts per block */
    uint64_t singles_tags, delayeds, delayeds_in;
} sim_acc;

static void read_stream(const char *path, sim_acc *acc, lf_scanner *sc_out, double *poll_s)
{
    lf_lm_reader *r = NULL;
    lf_error err = {{0}};
    if (lf_lm_open(path, NULL, &r, &err) != 0)
        fail_msg("lf_lm_open(%s): %s", path, err.msg);
    const lf_lm_header *h = lf_lm_header_of(r);
    *sc_out = h->scanner;
    acc->sc = sc_out;
    acc->fan = calloc((size_t)sc_out->n_crystals, sizeof(double));
    acc->block_tags = calloc((size_t)sc_out->n_blocks, sizeof(double));
    assert_true(acc->fan && acc->block_tags);
    if (lf_ifh_opt_double(&h->ifh, "%singles polling interval (sec)", 0, poll_s, &err) != 0)
        fail_msg("%s", err.msg);
    lf_lm_batch b;
    int rc;
    while ((rc = lf_lm_next(r, &b, &err)) == 1) {
        for (size_t i = 0; i < b.n_ev; i++)
            if (!b.ev[i].prompt) {
                acc->delayeds++;
                acc->delayeds_in += (uint64_t)lf_randoms_count_delayed(sc_out, acc->mrd, b.ev[i].a, b.ev[i].b, acc->fan);
            }
        for (size_t i = 0; i < b.n_tags; i++)
            if (b.tags[i].cls == LF_TAG_SINGLES) {
                const uint32_t hi = (uint32_t)(b.tags[i].word >> 32), blk = (uint32_t)b.tags[i].word;
                assert_true(blk < (uint32_t)sc_out->n_blocks);
                acc->block_tags[blk] += (double)(hi & 0x1FFFFFFFu);
                acc->singles_tags++;
            }
    }
    if (rc != 0)
        fail_msg("reading %s: %s", path, err.msg);
    lf_lm_close(r);
}

/* crystal_efficiency.csv: ring,crystal,efficiency */
static void read_efficiencies(const char *path, const lf_scanner *sc, double *eff)
{
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("%s: cannot open", path);
    char line[256];
    int n = 0, ring, k;
    double e;
    if (!fgets(line, sizeof line, f))
        fail_msg("%s: empty", path);
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "%d,%d,%lf", &ring, &k, &e) == 3 && ring >= 0 && ring < sc->rings && k >= 0 &&
            k < sc->crystals_per_ring) {
            eff[lf_crystal_id(sc, ring, k)] = e;
            n++;
        }
    fclose(f);
    assert_int_equal(n, sc->n_crystals);
}

/* 1 200 MBq in the small cylinder, 2 s, count fraction 0.0025, MRD 12: ~172 000 prompt randoms and as many
 * delayeds (~75 000 trues + scatter), in about 3 s on 2 cores. The prediction Σ_{accepted} s_a s_b equals
 * the delayeds of the MRD (ML identity), so its error against the true prompt randoms R has
 * σ = √(R + D) ≈ 0.34 % of R: the 2 % tolerance is nearly 6σ.
 * Singles: the simulator draws randoms and delayeds as W·cf·S_a·S_b per pair and second (W the window, cf the
 * count fraction), so s_a = S_a·√(W·cf·T); its singles tags count S per block at the full rate over the
 * polling intervals written (T_tags), and within a block S_a ∝ the crystal's efficiency
 * (crystal_efficiency.csv). That model, absolute (nothing fitted), against the estimate:
 *  - scale Σ s / Σ model within 2 % (noise ~1/√(2D) ≈ 0.2 %);
 *  - per block (48), χ²/dof with σ_b = s_b / √(block fan sum) ≤ 1 + 4·√(2/48), and r > 0.8 (expected ~0.93);
 *  - per crystal (~80 fan counts each: 11 % noise against the 10 % efficiency spread and the block pattern),
 *    χ²/dof with σ_a² = m_a² / E[F_a] ≤ 1 + 4·√(2/4320), r > 0.6 (expected ~0.68, σ_r ≈ 0.01), and the same
 *    χ² against a model without the crystal efficiencies at least 10σ higher (the check sees the pattern).
 * Five seeds (21-25): randoms −0.05 to −0.42 %, block χ²/dof 0.86-1.50, crystal χ²/dof 0.96-1.04. */
static void against_simulator(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    char out[4200], path[4400];
    snprintf(out, sizeof out, "%s/sim", dir);
    lf_sim_config c;
    lf_sim_config_defaults(&c);
    c.phantom = LAFOV_SOURCE_DATA_DIR "/../tests/data/small_cylinder.phantom";
    c.scanner = "small";
    c.out_dir = out;
    c.ct = 0;
    c.truth_voxel_mm = 8;
    c.mrd = 12;
    c.activity_bq = 1200e6;
    c.duration_s = 2.0;
    c.count_fraction = 0.0025;
    c.seed = 21;
    lf_sim_result res;
    lf_error err = {{0}};
    double t0 = now_s();
    if (lf_simulate(&c, &res, &err) != 0)
        fail_msg("lf_simulate: %s", err.msg);
    const double t1 = now_s();

    lf_scanner sc;
    sim_acc acc = {.mrd = c.mrd};
    double poll_s = 0;
    snprintf(path, sizeof path, "%s/acq.l", out);
    read_stream(path, &acc, &sc, &poll_s);
    const int n = sc.n_crystals;
    double *s = malloc((size_t)n * sizeof *s);
    assert_non_null(s);
    lf_randoms_ml_info info;
    const double t2 = now_s();
    assert_int_equal(lf_randoms_singles_ml(&sc, c.mrd, acc.fan, 0, 0, s, &info, &err), 0);
    const double t3 = now_s();
    double pred = 0;
    assert_int_equal(lf_randoms_expected_total(&sc, c.mrd, s, &pred, &err), 0);
    const double R = (double)res.randoms_prompt, D = (double)res.delayeds, rel = pred / R - 1;
    print_message("  simulation %.2f s: trues %llu, scattered %llu, prompt randoms %.0f, delayeds %.0f (%llu in the "
                  "stream, %llu at MRD %d); ML %d iterations (residual %.2g) in %.3f s\n",
                  t1 - t0, (unsigned long long)res.trues, (unsigned long long)res.scattered, R, D,
                  (unsigned long long)acc.delayeds, (unsigned long long)acc.delayeds_in, c.mrd, info.iterations,
                  info.max_residual, t3 - t2);
    print_message("  predicted prompt randoms %.1f vs true %.0f: %+.3f %% (sigma %.3f %%)\n", pred, R, 100 * rel,
                  100 * sqrt(R + D) / R);
    assert_true(R > 2e4 && D > 2e4);
    assert_true((double)acc.delayeds_in == D);
    assert_true(info.converged);
    assert_true(fabs(rel) <= 0.02);

    /* the simulator's singles per crystal (1/s): block rate from the tags x efficiency / block efficiency;
     * its s = S·√(W·cf·T) — absolute, nothing fitted */
    const int nb = sc.n_blocks;
    double *bs = calloc((size_t)nb, sizeof *bs), *bm = calloc((size_t)nb, sizeof *bm), *bf = calloc((size_t)nb, sizeof *bf);
    double *beff = calloc((size_t)nb, sizeof *beff), *nblk = calloc((size_t)nb, sizeof *nblk);
    double *eff = calloc((size_t)n, sizeof *eff), *model = malloc((size_t)n * sizeof *model);
    double *flat = malloc((size_t)n * sizeof *flat), *fexp = malloc((size_t)n * sizeof *fexp);
    assert_true(bs && bm && bf && beff && nblk && eff && model && flat && fexp);
    const double polls = (double)acc.singles_tags / nb, T_tags = polls * poll_s;
    assert_true(polls >= 1);
    const double k_abs = sqrt(sc.coincidence_window_ns * 1e-9 * c.count_fraction * c.duration_s) / T_tags;
    snprintf(path, sizeof path, "%s/crystal_efficiency.csv", out);
    read_efficiencies(path, &sc, eff);
    for (int a = 0; a < n; a++) {
        const int b = lf_crystal_block(&sc, (uint32_t)a);
        beff[b] += eff[a];
        nblk[b] += 1;
    }
    for (int a = 0; a < n; a++) {
        const int b = lf_crystal_block(&sc, (uint32_t)a);
        model[a] = k_abs * acc.block_tags[b] * eff[a] / beff[b];
        flat[a] = k_abs * acc.block_tags[b] / nblk[b]; /* the same without the crystal pattern */
        bs[b] += s[a];
        bm[b] += model[a];
        bf[b] += acc.fan[a];
    }
    /* per block: chi2 of the estimate against the model, sigma_b = s_b / sqrt(block fan sum) (Poisson) */
    double chi_b = 0, chi_b_flat = 0, sum_s = 0, sum_m = 0, mean_m = 0;
    for (int b = 0; b < nb; b++)
        mean_m += bm[b] / nb;
    for (int b = 0; b < nb; b++) {
        const double sig2 = bs[b] * bs[b] / bf[b];
        chi_b += (bs[b] - bm[b]) * (bs[b] - bm[b]) / sig2;
        chi_b_flat += (bs[b] - mean_m) * (bs[b] - mean_m) / sig2;
        sum_s += bs[b];
        sum_m += bm[b];
    }
    chi_b /= nb;
    chi_b_flat /= nb;
    /* per crystal: sigma_a^2 = m_a^2 / F_a(expected under the model) */
    assert_int_equal(lf_randoms_fan_sum(&sc, c.mrd, model, fexp, &err), 0);
    double chi_c = 0, chi_c_flat = 0;
    for (int a = 0; a < n; a++) {
        const double fe = model[a] * fexp[a], sig2m = model[a] * model[a] / fe, sig2f = flat[a] * flat[a] / fe;
        chi_c += (s[a] - model[a]) * (s[a] - model[a]) / sig2m;
        chi_c_flat += (s[a] - flat[a]) * (s[a] - flat[a]) / sig2f;
    }
    chi_c /= n;
    chi_c_flat /= n;
    const double rb = corr(bs, bm, NULL, nb), rc = corr(s, model, NULL, n), scale = sum_s / sum_m;
    print_message("  singles: %llu tags (%.0f polls of %g s); absolute scale estimate/tags %.4f; per block r = %.4f, "
                  "chi2/dof %.2f (flat blocks %.2f); per crystal r = %.3f, chi2/dof %.3f (no crystal pattern %.3f); "
                  "%lld crystals without delayeds\n",
                  (unsigned long long)acc.singles_tags, polls, poll_s, scale, rb, chi_b, chi_b_flat, rc, chi_c, chi_c_flat,
                  (long long)info.crystals_no_delayeds);
    /* scale: its noise ~1/sqrt(2 D) ~ 0.2 %; chi2/dof: 1 +- sqrt(2/dof) (0.2 for 48 blocks, 0.02 for 4320 crystals) */
    assert_true(fabs(scale - 1) <= 0.02);
    assert_true(chi_b <= 1 + 4 * sqrt(2.0 / nb));
    assert_true(rb > 0.8);
    assert_true(rc > 0.6);
    assert_true(chi_c <= 1 + 4 * sqrt(2.0 / n));
    /* and the comparisons can tell a wrong pattern: without the crystal efficiencies chi2 rises far beyond */
    assert_true(chi_c_flat >= chi_c + 10 * sqrt(2.0 / n));
    free(bm);
    free(bf);
    free(nblk);
    free(flat);
    free(fexp);
    free(bs);
    free(beff);
    free(eff);
    free(model);
    free(s);
    free(acc.fan);
    free(acc.block_tags);
    tu_rmtree(dir);
}

/* ------------------------------------------------------------------ Quadra scale */
/* The Quadra (243 200 crystals, 323 axial slots) at MRD 85: noise-free fan sums F = s·(fan sum of s) from a
 * known s (axial profile × ±15 % efficiencies, one dead block of zero efficiency) must give back s to 1e-6
 * (s = 0 in the dead block), and the ML must take well under a second. */
static void quadra_scale(void **state)
{
    (void)state;
    lf_scanner sc;
    tu_scanner("quadra", &sc);
    const int n = sc.n_crystals, mrd = 85;
    double *st = malloc((size_t)n * sizeof *st), *fan = malloc((size_t)n * sizeof *fan), *s = malloc((size_t)n * sizeof *s);
    assert_true(st && fan && s);
    lf_rng rng;
    lf_rng_seed(&rng, 9, 0);
    const int dead = 5 * sc.blocks_t + 7;
    for (int a = 0; a < n; a++) {
        const int r = lf_crystal_ring(&sc, (uint32_t)a);
        st[a] = lf_crystal_block(&sc, (uint32_t)a) == dead
                    ? 0.0
                    : 0.02 * (0.5 + 0.5 * sin(M_PI * (r + 0.5) / sc.rings)) * (1 + 0.15 * (2 * lf_rng_uniform(&rng) - 1));
    }
    lf_error err = {{0}};
    assert_int_equal(lf_randoms_fan_sum(&sc, mrd, st, fan, &err), 0);
    for (int a = 0; a < n; a++)
        fan[a] *= st[a];
    double t0 = now_s();
    lf_randoms_ml_info info;
    assert_int_equal(lf_randoms_singles_ml(&sc, mrd, fan, 0, 0, s, &info, &err), 0);
    const double dt = now_s() - t0;
    double worst = 0;
    int dead_nonzero = 0;
    for (int a = 0; a < n; a++) {
        if (st[a] == 0) {
            dead_nonzero += s[a] != 0;
            continue;
        }
        const double d = fabs(s[a] / st[a] - 1);
        if (d > worst)
            worst = d;
    }
    print_message("  Quadra MRD %d: %d crystals, %.4g delayeds expected; ML %d iterations (residual %.2g) in %.3f s, "
                  "worst relative error %.2g, %lld crystals without delayeds\n",
                  mrd, n, info.delayeds, info.iterations, info.max_residual, dt, worst,
                  (long long)info.crystals_no_delayeds);
    assert_true(info.converged);
    assert_true(worst < 1e-6);
    assert_int_equal(dead_nonzero, 0);
    assert_int_equal(info.crystals_no_delayeds, sc.axial_crystals_per_block * sc.crystals_per_block_t);
    assert_true(dt < 2.0);
    free(st);
    free(fan);
    free(s);
}

int main(void)
{
    setenv("LAFOV_PHANTOM_DIR", LAFOV_SOURCE_DATA_DIR "/phantoms", 0);
    setenv("LAFOV_SCANNER_DIR", LAFOV_SOURCE_DATA_DIR "/scanners", 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fan_sum_brute_force),
        cmocka_unit_test(ml_synthetic),
        cmocka_unit_test(against_simulator),
        cmocka_unit_test(quadra_scale),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

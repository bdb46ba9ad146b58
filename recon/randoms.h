/* lafov recon: randoms from delayed coincidences, variance-reduced (physics.md "Randoms"; issue 6;
 * docs/randoms.md).
 *
 * Model. The delayeds of a frame on the crystal pair {a, b} are Poisson with mean s_a·s_b, s ≥ 0 one
 * value per crystal id ("singles" in √counts: s_a = S_a·√(W·T) for a constant singles rate S_a in 1/s,
 * W the coincidence window, T the frame's kept seconds). The prompt window of the same time windows
 * holds as many randoms in expectation: s_a·s_b is the expected randoms of the pair in counts of the
 * frame, all TOF bins together; randoms are flat in TOF, so a bin of n_bins holds s_a·s_b / n_bins.
 *
 * Fan. fan(a) = every crystal b with lf_pair_accepted(sc, a, b, mrd) — the acceptance the recon uses
 * for its prompts. It has no transaxial limit (any two real crystals within the MRD), so the fan sum
 * factorises into a ring band and whole rings:
 *     Σ_{b∈fan(a)} s_b = Σ_{rings r: |slot(r) − slot(ring a)| ≤ mrd} R_r − s_a,    R_r = Σ_{real b in ring r} s_b
 * — O(crystals + slots_z·(2·mrd+1)) per evaluation (Quadra: ~3e5 operations; the pair loop is ~3e10).
 * Virtual (gap) crystal ids of SLOTS scanners belong to no fan: their s and fan sum are 0.
 *
 * ML. F_a = the delayed fan sum (delayeds of accepted pairs in which a took part). The Poisson
 * likelihood Σ_{pairs} D_ab·log(s_a s_b) − s_a s_b is stationary where F_a = s_a·Σ_{b∈fan(a)} s_b.
 * Iteration: s_a ← √(s_a · F_a / Σ_{b∈fan(a)} s_b), the geometric mean of the estimate and the classic
 * update s_a ← F_a / Σ s_b (which alone oscillates in scale); start s_a = F_a / √(Σ F). Stops when every
 * crystal with F_a > 0 has |s_a·Σ_{fan(a)} s_b / F_a − 1| ≤ tol. F_a = 0 gives s_a = 0 (the ML value).
 * At convergence Σ_{accepted pairs} s_a s_b = Σ_a F_a / 2, the delayed count.
 */
#ifndef LF_RANDOMS_H
#define LF_RANDOMS_H

#include <stddef.h>
#include <stdint.h>

#include "../core/error.h"
#include "../core/scanner.h"

#define LF_RANDOMS_ML_MAX_ITERATIONS 1000
#define LF_RANDOMS_ML_TOLERANCE 1e-7

/* Adds one delayed (a, b) to the fan sums fan[n_crystals] when the pair is accepted at mrd (a's and
 * b's sums both + 1); returns 1 when counted, 0 when outside the acceptance. */
int lf_randoms_count_delayed(const lf_scanner *sc, int mrd, uint32_t a, uint32_t b, double *fan);

/* out[a] = Σ_{b∈fan(a)} s[b] for every crystal id (the factorised sum above; mrd ≥ 0). s, out: n_crystals. */
int lf_randoms_fan_sum(const lf_scanner *sc, int mrd, const double *s, double *out, lf_error *err);

/* Σ over accepted unordered pairs of s_a·s_b: the expected randoms of the frame (all TOF bins). */
int lf_randoms_expected_total(const lf_scanner *sc, int mrd, const double *s, double *total, lf_error *err);

typedef struct lf_randoms_ml_info {
    int iterations;          /* ML iterations run */
    int converged;           /* 1: max_residual ≤ tolerance */
    double max_residual;     /* max over crystals with F > 0 of |s_a·fansum_a / F_a − 1| */
    double delayeds;         /* Σ F / 2: delayeds of accepted pairs */
    double expected_total;   /* Σ_{accepted pairs} s_a s_b */
    int64_t crystals_no_delayeds; /* real crystals with F = 0 (their s is 0) */
} lf_randoms_ml_info;

/* ML singles s[n_crystals] from the delayed fan sums fan[n_crystals] (finite, ≥ 0; virtual crystals
 * must be 0) at mrd ≥ 0. max_iterations ≤ 0 / tol ≤ 0: the defaults above. Not converging within
 * max_iterations is no error (info->converged = 0). Errors: a bad fan sum (names the crystal id), out of
 * memory. All-zero fan sums give s = 0. */
int lf_randoms_singles_ml(const lf_scanner *sc, int mrd, const double *fan, int max_iterations, double tol, double *s,
                          lf_randoms_ml_info *info, lf_error *err);

/* Per-event additive term: add[i] = per_bin · s[a[i]] · s[b[i]] (per_bin = 1 / stream TOF bins for TOF
 * events, 1 for non-TOF), i < n. */
void lf_randoms_per_event(const double *s, const uint32_t *a, const uint32_t *b, size_t n, double per_bin,
                          float *add);

#endif

/* lafov recon: TOF single scatter simulation (SSS; Watson 2000, TOF: Watson 2007) with a tail fit
 * (issue 6, "Scatter"; model, approximations and measured accuracy: docs/scatter.md).
 *
 * Estimate. Scatter points S = μ-weighted centroids of coarse cells (point_spacing_mm) whose mean μ
 * exceeds mu_min_per_cm, weight μ_S·V_S = Σ_voxels μ·V. Coarse detectors = n_t angles × n_z axial
 * positions on the LOR cylinder (radius ring radius + DOI). For every coarse pair (A, B) and TOF bin t
 *
 *   S_ABt = Σ_S μ_S V_S · (dσ/dΩ)(θ)/σ_KN · c_A c_B (2R')² / (R_SA² R_SB²)
 *           · [ h(c_A) η(c_B,E') e^{−a_SA − r a_SB} · I_SA(t) + h(c_B) η(c_A,E') e^{−a_SB − r a_SA} · I_SB(t) ]
 *
 * c = incidence cosines, R = leg lengths, a = ∫μ(511) along a leg, r = σ_KN(E')/σ_KN(511) (every tissue
 * Compton-dominated), h = recon/response.h's depth factor, η(c, E') = the scattered photon's detection
 * probability relative to a 511 keV photon at normal incidence (interaction in the crystal, full-energy
 * fraction, Gaussian energy resolution ∝ 1/√E inside the window: scanner-file data), I_SA(t) = ∫ λ along
 * the leg S→A weighted by the probability that the pair's apparent TOF position falls in bin t
 * (s = ℓ + (R_SB − R_SA)/2 for emission ℓ mm from S towards A; Gaussian of the scanner's σ, truncated as
 * the projectors'). Units: with λ in the OSEM's units (osem.h: ȳ = mult·Pλ + add, p_ij in mm) S is in
 * the same expected counts as the forward projection of the trues — per TOF bin when TOF is on —
 * before crystal efficiencies, which lf_scatter_events applies (ε_a ε_b). Unmodelled multiple scatter and
 * scatter from outside the grid make the tail fit's α a little above 1 for a correct λ.
 *
 * Use, per frame (λ = the current OSEM image, e.g. after iterations 1 and 2):
 *     lf_scatter_estimate(sc, mrd, &g, mu, img, tof, &o, &tab, err);
 *     lf_scatter_tail_mask(sc, &g, mu, a, b, n, &o, tail, err);                  (once per frame)
 *     lf_scatter_tail_fit(tab, sc, mrd, &g, mu, eff, singles, a, b, tail, n, &o, &fit, err);
 *     lf_scatter_events(tab, a, b, tof_bins, n, eff, fit.alpha, scat, err);   add_e = randoms_e + scat_e
 *     lf_scatter_free(tab);
 * Every function returns 0, or -1 with err (argument named; out of memory). OpenMP; deterministic for a
 * given thread count (the estimate: for any thread count).
 */
#ifndef LF_SCATTER_H
#define LF_SCATTER_H

#include <stddef.h>
#include <stdint.h>

#include "../core/error.h"
#include "../core/scanner.h"
#include "../projectors/projector.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lf_scatter_opts {
    float point_spacing_mm;  /* scatter-point cell edge (0: 25 mm, rounded to whole voxels) ... */
    int max_points;          /* ... widened by steps of 15 % until at most this many points (0: 2500; < 0: no cap) */
    int det_transaxial;      /* coarse detectors per ring (0: max(32, 2πR'/65 mm)) */
    int det_axial;           /* coarse detector rings (0: max(4, axial length/50 mm + 1)) */
    float leg_voxel_mm;      /* grid the legs are traced on: the image binned to ~this (0: 8 mm) */
    float mu_min_per_cm;     /* scatter cells with mean μ above this (0: 0.01) */
    float body_mu_per_cm;    /* emission only where the binned μ exceeds this (0: 0.005; < 0: everywhere) */
    float tail_acf;          /* tail LORs: attenuation correction factor below this (0: 1.1) ... */
    float tail_margin_mm;    /* ... through μ dilated by a ball of this radius (0: 8 mm; < 0: none): keeps the trues that
                              * parallax and resolution put just outside the body out of the tails */
    int tail_samples;        /* random LORs of the acceptance for the tail sums (0: 400000) */
    uint64_t seed;           /* of those samples */
} lf_scatter_opts;

void lf_scatter_opts_defaults(lf_scatter_opts *o);

/* The estimate on the coarse detector pairs (flat arrays; read them freely, free with lf_scatter_free). */
typedef struct lf_scatter_table {
    int n_t, n_z, n_det;          /* coarse detectors: id = j·n_t + i (angle i, axial position j) */
    double phi0_rad, dphi_rad;    /* angle of i: phi0 + i·dphi */
    double z0_mm, dz_mm;          /* axial position of j: z0 + j·dz */
    double radius_mm;             /* R' = ring radius + DOI */
    int n_bins;                   /* TOF bins (1: non-TOF) */
    float *s;                     /* [pair(A ≤ B)][n_bins]: S of (A, B) with A as crystal a; S_BA,t = S_AB,−t */
    float *s_total;               /* [pair]: Σ_t */
    /* event look-up: coarse coordinates of every in-ring crystal index and ring (crystal's own geometry) */
    int crystals_per_ring, rings;
    float *u_of_k, *v_of_ring;
    /* what it took */
    int n_points;                 /* scatter points */
    double seconds;
} lf_scatter_table;

/* Index of the unordered pair A <= B (both < n_det). */
static inline size_t lf_scatter_pair(int n_det, int A, int B)
{
    return (size_t)A * (size_t)n_det - (size_t)A * (size_t)(A - 1) / 2 + (size_t)(B - A);
}

/* The estimate from activity λ (image on g, ≥ 0; the OSEM's units, see above) and μ (1/cm, on g).
 * tof NULL: non-TOF. mrd < 0: the scanner's; coarse pairs beyond mrd + two coarse steps are left 0.
 * *out is allocated here. */
int lf_scatter_estimate(const lf_scanner *sc, int mrd, const lf_grid *g, const float *mu_per_cm, const float *activity,
                        const lf_tof *tof, const lf_scatter_opts *o, lf_scatter_table **out, lf_error *err);
void lf_scatter_free(lf_scatter_table *t);

/* out[i] = scale · ε_a ε_b · S(a[i], b[i], bin) interpolated (bilinear in each crystal's (angle, z) among
 * the coarse detectors); tof_bins NULL: all bins together. eff NULL: ε = 1. Errors: a crystal id or TOF
 * bin out of range (names the event index). */
int lf_scatter_events(const lf_scatter_table *t, const uint32_t *a, const uint32_t *b, const int8_t *tof_bins, size_t n,
                      const float *eff, double scale, float *out, lf_error *err);

/* Tail LORs: tail[i] = 1 when the attenuation correction factor of (a[i], b[i]) through mu_per_cm dilated by
 * a ball of radius o->tail_margin_mm is below o->tail_acf. A frame's events need it once. */
int lf_scatter_tail_mask(const lf_scanner *sc, const lf_grid *g, const float *mu_per_cm, const uint32_t *a,
                         const uint32_t *b, size_t n, const lf_scatter_opts *o, uint8_t *tail, lf_error *err);

/* Tail fit: α = (N_tail − R_tail) / S_tail. N_tail counts the prompts with tail[i] = 1 (lf_scatter_tail_mask;
 * NULL: computed here); S_tail and R_tail are sums over every tail LOR of the acceptance, estimated from
 * o->tail_samples LORs drawn uniformly from it (same mask), S with ε_a ε_b (eff NULL: 1), R_ab =
 * singles[a]·singles[b] (recon/randoms.h's s, expected randoms of the frame; NULL: no randoms). */
typedef struct lf_scatter_fit {
    double alpha;                 /* ≥ 0; 0 when S_tail is 0 */
    double n_tail, r_tail, s_tail;
    double s_all;                 /* Σ over every LOR of the acceptance of ε_a ε_b S (unscaled) */
    double tail_fraction;         /* of the acceptance's LORs */
    double lors;                  /* LORs (unordered pairs) in the acceptance */
} lf_scatter_fit;

int lf_scatter_tail_fit(const lf_scatter_table *t, const lf_scanner *sc, int mrd, const lf_grid *g,
                        const float *mu_per_cm, const float *eff, const double *singles, const uint32_t *a,
                        const uint32_t *b, const uint8_t *tail, size_t n, const lf_scatter_opts *o,
                        lf_scatter_fit *fit, lf_error *err);

/* Physics pieces (exposed for tests). Klein–Nishina: (1/σ_KN)·dσ/dΩ (1/sr) at 511 keV and scattering
 * angle θ; E'/E = 1/(2 − cos θ); σ_KN(E)/σ_KN(511). */
double lf_scatter_kn_dcs(double cos_theta);
double lf_scatter_kn_ratio(double e_kev);
/* η(c, E): detection probability of a photon of energy E at incidence cosine c relative to 511 keV at
 * normal incidence (scanner's crystal depth, μ, energy window and resolution; missing keys: no effect). */
double lf_scatter_detect_rel(const lf_scanner *sc, double e_kev, double cos_inc);
/* The energy window's acceptance of a full-energy deposit of E (Gaussian resolution ∝ 1/√E). */
double lf_scatter_window(const lf_scanner *sc, double e_kev);

#ifdef __cplusplus
}
#endif

#endif

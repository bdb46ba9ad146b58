/* lafov recon: the sensitivity image s_j = Σ_i g_i a_i ε_a ε_b p_ij of OSEM (osem.h, "Units"), fast.
 *
 * i runs over every LOR of the acceptance (unordered real-crystal pairs, |axial slot difference| <=
 * mrd: exactly lf_allors' set), p_ij is its Siddon intersection length (mm) with voxel j (endpoints at
 * ring radius + DOI), g_i the detector response (recon/response.h), a_i = exp(−∫μ) through the μ map,
 * ε the crystal efficiencies. Method and measured errors: docs/sensitivity.md.
 *
 *   geometric   G_j = Σ_i g_i p_ij, exact (plane decomposition): every transaxial crystal pair spans a
 *               vertical plane whose LORs differ only in their rings; a plane contributes to voxel
 *               (column c, slice z) C_L(t1, z) − C_L(t0, z), [t0, t1] the chord parameters of c and
 *               C_L a per-chord-length table of the ring-pair sum (exact at its nodes, linear between
 *               them: relative error ~1e-5). Cost ~ planes × columns × slices, not × ring pairs.
 *   full        s_j = G_j · F_j, F the attenuation / efficiency factor Σ g a εε p / Σ g p. Default
 *               (LF_SENS_FACTOR_DETAIL): F = F2D · C. F2D, at full resolution, is the plane decomposition
 *               with every plane's LORs attenuated by the voxel's own slice of μ along the plane's chord
 *               (times the LORs' mean secant): exact for a μ that does not vary in z, it carries every
 *               transaxial μ edge. C = F / F2D is smooth; it is estimated on a coarse LOR subset (one LOR
 *               per pair of blocks of k crystals x k rings, drawn by a fixed hash) as Σ g a ε̄ε̄ p / Σ g a_m p
 *               with the model's a_m on the same LORs (control variate: their sampling noise cancels), on a
 *               grid `coarse_voxels` times coarser transaxially (full resolution in z), interpolated in the
 *               log domain. Measured: ~1 % max, 0.1-0.2 % RMS inside the body (docs/sensitivity.md).
 *               LF_SENS_FACTOR_COARSE: the former F, sampled on a grid coarser on every axis (several %
 *               next to μ edges).
 *   bruteforce  every LOR through lf_allors_back (Siddon): exact, for small scanners and for tests.
 *
 * mrd < 0: the scanner's default. sens (grid-sized, x fastest) is overwritten. mu_per_cm (1/cm at
 * 511 keV) lives on the grid g; NULL: no attenuation. crystal_eff: n_crystals values indexed by stream
 * crystal id; NULL: all 1. opts may be NULL (all defaults). OpenMP; deterministic for a given thread
 * count. Every function returns 0, or -1 with err (bad arguments, out of memory, projector errors).
 */
#ifndef LF_SENSITIVITY_H
#define LF_SENSITIVITY_H

#include "../core/error.h"
#include "../core/scanner.h"
#include "../projectors/projector.h"

#ifdef __cplusplus
extern "C" {
#endif

/* fraction_done in [0, 1]; called from the calling thread. */
typedef void (*lf_sens_progress_fn)(void *user, double fraction_done);

/* how the attenuation / efficiency factor F is computed (docs/sensitivity.md) */
typedef enum {
    LF_SENS_FACTOR_DETAIL = 0, /* coarse 3-D factor times the exact 2-D detail ratio (default) */
    LF_SENS_FACTOR_COARSE = 1  /* coarse 3-D factor only (the former method: several % at μ edges) */
} lf_sens_factor_method;

typedef struct lf_sens_opts {
    int coarse_crystals;  /* attenuation pass: every k-th crystal of a ring (0: ~192 per ring; Quadra 4) */
    int coarse_rings;     /* every k-th ring (0: ~80 rings; Quadra 4) */
    int coarse_voxels;    /* factor grid: voxels coarsened by this, transaxially (detail) or per axis (coarse)
                           * (0: default, 3) */
    int no_response;      /* 1: g_i = 1 */
    int factor_method;    /* lf_sens_factor_method (0: LF_SENS_FACTOR_DETAIL) */
    int table_cells;      /* geometric tables: nodes per voxel along a chord and per slice crossing of the
                           * steepest LOR (0: default, 64; error ~1e-4, docs/sensitivity.md) */
    lf_sens_progress_fn progress;  /* may be NULL */
    void *user;
} lf_sens_opts;

/* G_j = Σ_i g_i p_ij (mm; g = 1 with no_response). */
int lf_sensitivity_geometric(const lf_scanner *sc, int mrd, const lf_grid *g, const lf_sens_opts *o, float *sens,
                             lf_error *err);
/* s_j = G_j · F_j (F = 1 when mu_per_cm and crystal_eff are both NULL). */
int lf_sensitivity(const lf_scanner *sc, int mrd, const lf_grid *g, const float *mu_per_cm, const float *crystal_eff,
                   const lf_sens_opts *o, float *sens, lf_error *err);
/* Exact, every LOR (lf_allors_back, Siddon) with the same weights g_i a_i ε_a ε_b. */
int lf_sensitivity_bruteforce(const lf_scanner *sc, int mrd, const lf_grid *g, const float *mu_per_cm,
                              const float *crystal_eff, int no_response, float *sens, lf_error *err);

#ifdef __cplusplus
}
#endif

#endif

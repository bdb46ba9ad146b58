/* lafov recon: TOF list-mode OSEM (physics.md, "TOF list-mode OSEM"; issue 5 step 4).
 *
 * Geometry-free beyond LORs: the reconstruction sees LOR endpoints (mm), TOF bins, per-event factors
 * and a sensitivity image; it never sees a scanner (lf_osem_events_from_lm and lf_sensitivity_allors
 * are the only scanner-aware helpers here).
 *
 * Model of event e (one detected prompt; p_ej the projector's weight of voxel j along its LOR, TOF
 * kernel of its bin included when TOF is on):
 *
 *     ȳ_e = mult_e · Σ_j p_ej λ_j + add_e
 *
 *   mult_e  a_i·n_i of the event's LOR (attenuation × normalisation); 1 when absent.
 *   add_e   expected randoms + scatter of the event's LOR and TOF bin, in the units of the forward
 *           projection *after* the multiplication by mult (i.e. the same units as ȳ_e; per TOF bin
 *           when TOF is on). 0 until corrections exist.
 *
 * Sub-iteration b of M (subset E_b = events with index % M == b, interleaving):
 *
 *     λ_j ← λ_j / (s_j / M) · Σ_{e∈E_b} mult_e p_ej / ȳ_e      where s_j > threshold · max s,
 *     λ_j ← 0                                                    elsewhere (masked voxels).
 *
 * With a PSF (psf_fwhm_mm > 0) P becomes P·G: λ_j ← λ_j / (G s)_j/M · (G Pᵀ q)_j (G symmetric: a truncated,
 * zero-padded Gaussian convolution); the mask still comes from s itself.
 *
 * Quotient guard: an event with ȳ_e ≤ 0 (or not finite) contributes 0; otherwise the quotient is
 * mult_e / max(ȳ_e, LF_OSEM_TINY), so a positive but vanishing ȳ_e cannot overflow to inf.
 * Positivity is automatic (non-negative λ, p, mult, add). Without additive terms (and with ȳ_e > 0 for every
 * event) every sub-iteration keeps the mass balance Σ_j (s_j/M) λ_j = |E_b| exactly (up to float rounding), TOF or not.
 *
 * Units / what the caller folds into sens. The estimate λ is in whatever units make ȳ_e expected
 * counts of the frame. sens must be s_j = Σ_{all LORs i of the acceptance} mult_i · p_ij: non-TOF (TOF
 * kernels sum to 1 over bins), summed over every possible LOR, not only detected ones, with the same
 * a_i·n_i as the events' mult. For λ in Bq/mL, with K = T·D·β·V (frame length in s over the kept
 * windows, mean decay factor D (recon/decay.h), positron branching fraction β, voxel volume V in mL)
 * and the absolute detection efficiency inside n_i, either
 *   (a) fold K into both s_j and every mult_e; add_e stays in expected counts; or
 *   (b) leave K out of both, reconstruct, and divide the result by K (add_e in expected counts); or
 *   (c) fold K into s_j only (mult_e = a_i·n_i): then add_e must be divided by K — with add = 0 this
 *       is the classic list-mode shortcut, with add > 0 forgetting the division is the "units" bug.
 * lf_sensitivity_allors gives the purely geometric s_j (mult = 1, no T·D·β·V).
 */
#ifndef LF_OSEM_H
#define LF_OSEM_H

#include <stddef.h>
#include <stdint.h>

#include "../core/error.h"
#include "../core/event.h"
#include "../core/scanner.h"
#include "../projectors/projector.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Smallest expected value a quotient is taken of (see the guard above). */
#define LF_OSEM_TINY 1e-30f

/* The events of one frame, struct of arrays. Arrays may be owned by the caller; the ones filled by
 * lf_osem_events_from_lm are malloc'd and released by lf_osem_events_free. */
typedef struct lf_osem_events {
    float *lors;       /* n × 6: x1,y1,z1, x2,y2,z2 (mm), point 1 = crystal a */
    int8_t *tof_bins;  /* n, or NULL (non-TOF data) */
    float *mult;       /* n: a_i·n_i; NULL means 1 for every event */
    float *add;        /* n: expected randoms + scatter (units of ȳ); NULL means 0 */
    size_t n;
} lf_osem_events;

/* Builds endpoints and TOF bins (when the scanner has more than one bin) from decoded events; delayeds
 * are skipped when prompts_only. mult is filled with 1, add with 0. out is overwritten (free it first).
 * Fails on a crystal id outside the scanner or out of memory. */
int lf_osem_events_from_lm(const lf_scanner *sc, const lf_event *ev, size_t n, int prompts_only,
                           lf_osem_events *out, lf_error *err);
void lf_osem_events_free(lf_osem_events *e);

/* Keeps, in place, process `rank`'s share of the events for a distributed OSEM over `ranks` processes
 * with `subsets` subsets: the blocks of `subsets` consecutive events whose block number q has
 * q mod ranks == rank. Event i of a block sits at the same position modulo subsets in the kept list, so
 * the union over the processes of their subset b is exactly subset b of the whole list. Arrays keep their
 * size (not reallocated). */
void lf_osem_events_keep_blocks(lf_osem_events *e, int subsets, int rank, int ranks);

/* Called after every sub-iteration: iteration 0..iterations-1, subset 0..subsets-1, the current image. */
typedef void (*lf_osem_progress_fn)(void *user, int iteration, int subset, const float *img);

typedef struct lf_osem_params {
    lf_grid grid;
    lf_proj_kind kind;
    lf_device device;         /* LF_DEVICE_CUDA: the device-resident OSEM (kernels/osem_cuda.h: image, sensitivity
                               * and every subset's events stay on the GPU; no fallback to the CPU); with a PSF
                               * the host loop runs and only the projections go to the GPU */
    const lf_tof *tof;        /* TOF set-up, or NULL: non-TOF (TOF bins of the events then ignored) */
    int iterations;           /* >= 1 */
    int subsets;              /* >= 1 */
    float mask_threshold;     /* voxels with s_j <= mask_threshold · ref are fixed at 0; 0..1 */
    float mask_reference;     /* ref: > 0 this value (e.g. the largest s inside the body, so that attenuation
                               * does not mask a patient's centre), else max_j s_j */
    float psf_fwhm_mm;        /* > 0: image-space resolution model G, an isotropic Gaussian of this FWHM
                               * (recon/filter.h): ȳ = mult·P·G·λ + add, back projections pass through Gᵀ = G
                               * and the sensitivity used is G·s. 0: none. */
    lf_osem_progress_fn progress;  /* may be NULL */
    void *user;
    /* Distributed OSEM (one reconstruction over several processes, e.g. MPI ranks): each process holds
     * its share of the events (lf_osem_events_keep_blocks) and the whole image; after every subset's
     * back projection reduce(reduce_user, back, voxels) must replace the buffer by its sum over the
     * processes (an all-reduce), so that every process applies the same update — the image of one
     * process, up to the order of float additions. Called by every process for every subset, even one
     * holding no event of it. Non-zero return: the run fails. NULL: a single process. CPU only. */
    int (*reduce)(void *reduce_user, float *back, size_t voxels);
    void *reduce_user;
} lf_osem_params;

/* Runs OSEM. sens: s_j (see "Units" above), image-sized. img: in, the initial estimate (positive inside
 * the mask, e.g. all ones; masked voxels are set to 0); out, the estimate. Memory: one image-sized
 * back-projection buffer plus, for n/M + 1 events (one subset), 6 + 1 floats and a TOF bin each (CUDA: on the
 * GPU three image-sized buffers and every event, or a chunk of events when they do not fit; see
 * kernels/osem_cuda.h). On the CPU (OpenMP) deterministic, bit-identical for any thread count: the projectors
 * are, and the gather, quotient and update are element-wise. On CUDA the back projection's atomic sums make it
 * equal to the CPU to float rounding only. Returns 0, or -1 with err (bad parameters, TOF requested without
 * bins, projector errors, no usable GPU for LF_DEVICE_CUDA, out of memory; img is then partially updated). */
int lf_osem_run(const lf_osem_params *p, const lf_osem_events *e, const float *sens, float *img, lf_error *err);

/* The geometric sensitivity by brute force: sens_j = Σ over every LOR of the acceptance (mrd < 0: the
 * scanner's default) of its non-TOF back projection, mult = 1 (no attenuation, normalisation, T·D·β·V).
 * sens is overwritten. Exact, but it visits every crystal pair: only for small scanners (the mini
 * scanner's ~7e4 pairs); the Quadra (~3e10 pairs) needs the reconstruction issue's fast method. */
int lf_sensitivity_allors(const lf_scanner *sc, int mrd, const lf_grid *g, lf_proj_kind kind, lf_device dev,
                          float *sens, lf_error *err);

#ifdef __cplusplus
}
#endif

#endif

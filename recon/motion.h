/* lafov recon: data-driven motion detection — when did the patient move, by how much, and which
 * minutes are still.
 *
 *   lf_motion_params p; lf_motion_params_default(&p);
 *   lf_motion_result r;
 *   if (lf_motion_detect("scan.l", NULL, &p, &r, &err) == 0) { r.stable[0..r.n_stable) ...; }
 *   lf_motion_write_json(&r, "out/motion.json", &err); lf_motion_write_png(&r, "out/motion.png", &err);
 *   lf_motion_result_free(&r);
 *
 * Traces (one pass over the stream, memory ∝ number of time bins × axial mm): per time bin of
 * p->resolution_s seconds, the prompts per second and the centroid (x, y, z) of the TOF-localised
 * prompts — the most probable annihilation point of each event: the LOR midpoint (crystal interaction
 * points at radius + DOI) moved by tof_bin · w toward crystal a, with w = the stream's TOF bin width
 * (ps) × 0.149896 mm/ps; non-TOF streams use the midpoint. Delayeds are counted (delayeds_per_s) but
 * never localised. Each bin also keeps a histogram of the localised z (1 mm bins) for the shift
 * estimate below. Decay lowers the count rate over the scan (F-18: 10 % in 1000 s); the centroids do
 * not depend on it, and the noise model below follows the counts bin by bin.
 *
 * Noise: the mean of a bin with n events has variance σ²/n per axis; σ (the event spread, mm) is
 * estimated robustly from first differences, d_i = (c_i − c_{i−1}) / sqrt(1/n_i + 1/n_{i−1}),
 * σ = 1.4826 · MAD(d) — steps and slow drifts barely touch it.
 *
 * z profile-shift trace: the z centroid is a weak statistic (an object longer than the axial FOV, and
 * randoms and scatter spread over it, barely move it), so z is detected on a better one: F = the
 * whole scan's axial profile of localised events, smoothed (Gaussian σ = 2 ring pitches, which hides the
 * rings' sampling pattern) and divided by the geometric sensitivity s(z) below; each event scores
 * ψ(z) = −F'(z)/(F(z) + 2 % of max F); a bin's mean score divided by the Fisher information
 * I = mean ψ² is the locally most powerful estimate of its axial displacement relative to the scan
 * average (linearised: exact for small moves, compressed for moves wider than the profile's features;
 * it detects, the registration below measures). It is written as traces.z_profile_shift_mm.
 *
 * Change points: binary segmentation on the detection channels (x, y, z centroids and, when profiles
 * exist, the z profile shift). In a segment, every split leaving at least min_segment_s on each
 * side is scored with T² = Σ_channels (m_L − m_R)² / (σ² (1/N_L + 1/N_R)) (m: count-weighted means, N:
 * events), a χ²(3 or 4) statistic under "no step"; the best split is accepted when T² exceeds
 * p->penalty (≤ 0: 3·ln(bins) + 30, so pure noise rarely passes) and then both halves are searched
 * again. Each accepted split is then estimated (below) and kept only when |shift| ≥ p->threshold_mm;
 * dropped splits merge their segments, and the survivors are re-estimated on the merged segments.
 *
 * Shift of a change point, between the segments before and after it:
 *  - centroid_shift_mm: difference of robust segment means of the traces (count-weighted means over
 *    the bins within 4 σ_i of the segment's weighted median);
 *  - shift_mm: x, y as centroid_shift_mm; z from registering the two segments' axial profiles of the
 *    localised events (1 mm bins, least squares over the overlap after scaling to equal counts,
 *    integer search within ±max_shift_mm then a parabolic sub-mm refinement). The profiles are compared
 *    after Gaussian smoothing with σ = the ring pitch (the rings' sampling pattern is not motion) and
 *    through the scanner's geometric axial sensitivity s(z) — the solid-angle fraction of a point on the
 *    axis whose both photons reach the rings within the MRD, h/√(h² + R²) with h the distance to the
 *    nearer axial end (at most MRD·pitch/2) and R the interaction radius: A(z) ≈ k·s(z)/s(z+d)·B(z+d),
 *    over the z where s is at least 10 % of its maximum at both z and z+d. The z centroid of an
 *    object longer than the axial field of view hardly moves when it moves (the part leaving one end is
 *    replaced at the other), so the profile registration is the better z estimate; it assumes the
 *    axial sensitivity varies slowly over the shift.
 *
 * Stable windows: the segments between accepted change points, each shortened by p->guard_s at an
 * inner change point (the move itself takes time) and kept when at least p->min_window_s long.
 * `lafov recon --frames auto` would take the longest, `auto-all` each of them.
 */
#ifndef LF_MOTION_H
#define LF_MOTION_H

#include <stdint.h>

#include "../core/error.h"
#include "../io/lmheader.h"
#include "decay.h"

typedef struct lf_motion_params {
    double resolution_s;     /* time bin, s (default 1) */
    double threshold_mm;     /* smallest |shift| reported as motion, mm (default 2) */
    double min_segment_s;    /* shortest segment between change points, s (default 10) */
    double min_window_s;     /* shortest stable window, s (default 30) */
    double guard_s;          /* removed from a stable window at an inner change point, s (default 1 bin) */
    double penalty;          /* T² threshold of a split; <= 0: 3 ln(bins) + 30 */
    double max_shift_mm;     /* search range of the z profile registration (default 50) */
    int max_change_points;   /* default 64 */
} lf_motion_params;

typedef struct lf_motion_change {
    double time_s;           /* start of the first bin after the change */
    int bin;                 /* that bin */
    double shift_mm[3];      /* after − before: x, y from the centroids, z from the profile registration */
    double centroid_shift_mm[3];
    double t2;               /* the split statistic when it was accepted */
} lf_motion_change;

typedef struct lf_motion_result {
    lf_motion_params p;      /* the parameters used (defaults filled in) */
    int n_bins;
    double bin_s;
    double *time_s;          /* [n_bins] bin start */
    double *bin_len_s;       /* [n_bins] covered length (the last bin may be short) */
    double *counts_per_s;    /* [n_bins] prompts per second */
    double *delayeds_per_s;  /* [n_bins] */
    uint64_t *n;             /* [n_bins] localised prompts */
    double *centroid_mm;     /* [n_bins * 3] x, y, z; NaN for an empty bin */
    int nz;                  /* axial profile bins (1 mm) */
    double z0_mm;            /* lower edge of profile bin 0 */
    uint32_t *zhist;         /* [n_bins * nz] */
    double zsmooth_mm;       /* Gaussian σ applied to the profiles before registration (the ring pitch) */
    double *zsens;           /* [nz] geometric axial sensitivity of the profile bins (NULL: uniform) */
    double *zshift_mm;       /* [n_bins] z profile-shift trace (NULL without profiles) */
    double sigma_mm[3];      /* event spread of the centroids per axis (first-difference MAD) */
    double det_sigma_mm[4];  /* of the detection channels: x, y, z centroids, z profile shift (NaN if none) */
    double noise_mm[4];      /* median per-bin noise σ / sqrt(n) of those channels */
    double penalty;          /* T² threshold used */
    double duration_s;
    int tof;                 /* 1: TOF localisation, 0: LOR midpoints */
    lf_motion_change *cp;    /* accepted change points, in time order */
    int n_cp;
    lf_window *stable;       /* stable windows, in time order */
    int n_stable;
    int longest;             /* index of the longest stable window, -1 when none */
} lf_motion_result;

void lf_motion_params_default(lf_motion_params *p);

/* Builds the traces from a list-mode stream (64-bit or PETLINK 32-bit) and runs the analysis. p may
 * be NULL (defaults). r is overwritten; free it with lf_motion_result_free. */
int lf_motion_detect(const char *acq, const lf_lm_open_opts *o, const lf_motion_params *p, lf_motion_result *r,
                     lf_error *err);

/* The analysis alone on traces already in r (n_bins, bin_s, time_s, bin_len_s, n, centroid_mm; zhist
 * may be NULL: shift_mm then equals centroid_shift_mm): noise, change points, stable windows. Replaces
 * r->cp / r->stable. For synthetic traces in tests and other trace sources. */
int lf_motion_analyse(lf_motion_result *r, const lf_motion_params *p, lf_error *err);

/* Allocates the per-bin arrays of r for n_bins bins (nz profile bins, 0 for none), zeroed. */
int lf_motion_result_alloc(lf_motion_result *r, int n_bins, int nz, lf_error *err);
void lf_motion_result_free(lf_motion_result *r);

/* motion.json: traces {resolution_s, time_s, counts_per_s, delayeds_per_s, centroid_mm [[x,y,z],...],
 * z_profile_shift_mm}, change_points [{time_s, shift_mm, centroid_shift_mm, t2}], stable_windows [[start_s, end_s],...],
 * longest_stable_window, noise {sigma_event_mm, z_profile_shift_sigma_event_mm,
 * noise_mm_per_bin [x, y, z, z profile shift]}, method {parameters}. */
int lf_motion_write_json(const lf_motion_result *r, const char *path, lf_error *err);
/* motion.png: panels over time (count rate, x, y, z centroid, and the z profile shift when there
 * is one), 1000 px wide, 170 px per panel; stable windows shaded green,
 * change points as red lines, ticks every "nice" interval on the time axis and on each value axis. */
int lf_motion_write_png(const lf_motion_result *r, const char *path, lf_error *err);

#endif

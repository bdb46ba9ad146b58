/* lafov recon: the whole reconstruction of one acquisition — what `lafov recon` runs (issue 5).
 *
 * Steps, each logged (and written to OUT/recon.log):
 *  1. header and frames: the list-mode header (io/lmheader.h), the frames (frames.h) checked against
 *     the data's duration;
 *  2. attenuation: the CT (DICOM folder or NIfTI in HU; kVp from --kvp, the DICOM KVP tag or the NIfTI
 *     descrip "kvp=", else 120 with a warning) → μ at 511 keV (mumap.h) on the PET grid → mumap.nii.gz;
 *  3. sensitivity over every LOR of the acceptance with the detector response and attenuation
 *     (sensitivity.h), cached on disk keyed by scanner, grid, MRD, μ-map and method;
 *  4. one pass over the events: every prompt of every frame kept as (crystal a, crystal b, TOF bin), and
 *     per frame the delayed fan sums of the pairs accepted at the MRD; per frame, LOR endpoints,
 *     response × attenuation factors (mult), randoms (randoms.h, unless no_randoms: ML crystal singles s
 *     from the frame's delayed fan sums, add_e = s_a·s_b / stream TOF bins — 1 bin non-TOF — in expected
 *     counts of the frame; no delayeds: 0 with a warning) and TOF OSEM (osem.h) with an optional PSF, a
 *     checkpoint after each iteration (--resume continues from it);
 *  5. units: λ' (expected-count units) → Bq/mL = λ' / (T·D·β·n₀) with T, D the kept duration and mean
 *     decay of the frame (decay.h), β the positron branching, n₀ the nominal absolute efficiency per
 *     LOR from the scanner file's line-source sensitivity (calibration.h); SUVbw from the header (units.h);
 *     with norm_dir (norm.h) n₀ is the norm's cross-calibrated value and ε its crystal efficiencies
 *     (a norm of another scanner is refused);
 *     optional Gaussian post-filter;
 *  6. outputs per frame (OUT, or OUT/frame_NN with OUT/frames.json when there are several):
 *     image_bqml.nii.gz, image_suv.nii.gz, mumap.nii.gz, recon.h5 (image, μ-map, sensitivity, every
 *     parameter), mip.png, slices.png. Every file is written atomically; an OUT holding results is
 *     refused unless force (overwrite) or resume (finished frames are kept, interrupted ones continue).
 * Scatter (scatter.h, unless no_scatter or no_attenuation): TOF single scatter simulation from a preliminary
 * image, scaled by a tail fit on the prompts outside the body, refined LF_RECON_SCATTER_UPDATES times (each
 * update: LF_RECON_SCATTER_ITERATIONS OSEM iterations with the current additive term, then a new estimate);
 * the frame's OSEM then starts afresh from the uniform image with add_e = randoms_e + α·S_e.
 */
#ifndef LF_RECON_H
#define LF_RECON_H

#include <stdint.h>

#include "../core/error.h"
#include "../projectors/projector.h"
#include "decay.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Scatter estimates per frame, each after LF_RECON_SCATTER_ITERATIONS more preliminary OSEM iterations (the
 * estimate and the image it comes from converge together: a large body's centre needs ~6 iterations, see
 * docs/scatter.md). */
#define LF_RECON_SCATTER_UPDATES 3
#define LF_RECON_SCATTER_ITERATIONS 2

/* stage: short name ("reading events", "sensitivity", "OSEM frame 1/3"); done/total in any unit. */
typedef void (*lf_recon_progress_fn)(void *user, const char *stage, double done, double total);

typedef struct lf_recon_opts {
    const char *acq;             /* list-mode data, header or .ptd */
    const char *scanner;         /* NULL: from the header's originating system */
    const char *ct;              /* DICOM CT folder or NIfTI (HU); NULL only with no_attenuation */
    double kvp;                  /* > 0: tube voltage; else from the CT, else 120 (warning) */
    const char *frames;          /* frames.h syntax; "auto": the longest stable window lf_motion_detect finds,
                                  * "auto-all": each stable window; NULL: the whole acquisition */
    const char *exclude;         /* windows left out of every frame, or NULL */
    double motion_resolution_s, motion_min_segment_s, motion_min_window_s; /* --frames auto: > 0 overrides the
                                  * motion detection defaults (recon/motion.h) */
    const char *gate;            /* "resp:N" / "cardiac:N": N phase gates of the kept minutes from the
                                  * stream's trigger tags (frames.h, lf_frames_gate), or NULL */
    int iterations, subsets;     /* 0: 4 and 5 */
    double voxel_mm;             /* isotropic voxel when grid_n is not given; 0: 3.3 */
    int grid_n[3];               /* > 0: explicit grid of grid_n voxels of grid_voxel_mm, centred on the scanner */
    double grid_voxel_mm;
    int mrd;                     /* < 0: the stream's */
    lf_device device;
    lf_proj_kind projector;      /* LF_PROJ_SIDDON (the sensitivity is exact for it) */
    double psf_mm;               /* > 0: image-space PSF FWHM */
    double postfilter_mm;        /* > 0: Gaussian post-filter FWHM */
    double mumap_fwhm_mm;        /* CT → PET resolution; < 0: 4 mm */
    int no_attenuation;
    int no_tof;
    int no_randoms;              /* 1: no randoms correction (additive term without randoms) */
    int no_scatter;              /* 1: no scatter correction (always off with no_attenuation: SSS needs μ) */
    int rank, ranks;             /* one reconstruction over several processes (MPI): ranks > 1 splits each frame's
                                  * events over them (osem.h lf_osem_events_keep_blocks; the scatter estimate's
                                  * preliminary iterations run whole on every process) and reduce sums the back
                                  * projections; only rank 0 writes the log, checkpoints and outputs. 0, 0 or 0, 1:
                                  * one process. CPU only. */
    int (*reduce)(void *reduce_user, float *back, size_t voxels);
    void *reduce_user;
    lf_decay_ref decay_ref;
    const char *out_dir;
    int force, resume;
    const char *cache_dir;       /* NULL: $LAFOV_CACHE_DIR, else $XDG_CACHE_HOME/lafov, else ~/.cache/lafov */
    const char *norm_dir;        /* norm folder (norm.h): crystal efficiencies ε on events (mult × ε_a ε_b) and
                                  * sensitivity, its cross-calibrated n0; NULL: uniform ε, nominal n0 */
    lf_recon_progress_fn progress;
    void *user;
} lf_recon_opts;

/* Sets the defaults above (everything else zero/NULL, mrd -1, mumap_fwhm_mm -1). */
void lf_recon_opts_default(lf_recon_opts *o);

typedef struct lf_recon_summary {
    int frames;                   /* frames reconstructed (or kept, with resume) */
    uint64_t prompts_used;        /* prompts of all frames that entered OSEM */
    uint64_t prompts_outside_mrd; /* prompts dropped by --mrd */
    double seconds_read, seconds_mumap, seconds_sensitivity, seconds_osem; /* wall time of the stages */
    double seconds_scatter;       /* the scatter estimates (preliminary iterations included), all frames */
    int sensitivity_cached;       /* 1: the sensitivity came from the cache */
    int iterations_timed;         /* iterations of the last reconstructed frame timed below (<= 64) */
    double seconds_iteration[64]; /* wall time of each of them */
    double count_fraction;        /* the stream's recorded coincidence fraction (1 unless thinned at source) */
} lf_recon_summary;

/* Runs everything; 0, or -1 with err (what failed, naming the file / key / window). */
int lf_recon_run(const lf_recon_opts *o, lf_recon_summary *sum, lf_error *err);

#ifdef __cplusplus
}
#endif

#endif

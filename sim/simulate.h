/* lafov sim: `lafov simulate` — Monte-Carlo acquisitions of analytic phantoms on a scanner, written as
 * the Quadra-style 64-bit stream with its truth (docs/simulator.md).
 *
 * Physics: F-18 decay from injection over uptake and scan; back-to-back photons with 0.5 deg FWHM
 * acollinearity, isotropic; transport through the phantom (sim/transport.h: attenuation, Compton
 * scatter); detection (sim/detector.h); TOF from path lengths plus Gaussian timing; randoms
 * W*S_a*S_b from per-block singles (phantom photons + LSO 176Lu background) in the prompt window and as
 * delayeds; rigid motion steps and respiratory motion; time markers every ms, block singles per
 * polling interval, a respiratory trigger tag at each cycle start.
 *
 * Deterministic for a seed whatever the thread count: time is cut into chunks of 50 ms, each simulated
 * from its own random stream (seed, chunk), and written in order.
 */
#ifndef LF_SIMULATE_H
#define LF_SIMULATE_H

#include <stdint.h>

#include "../core/error.h"
#include "../core/progress.h"

#define LF_SIM_MAX_MOTION 16

typedef struct lf_sim_config {
    const char *phantom;          /* name or .phantom path */
    const char *scanner;          /* name or .scanner path */
    const char *out_dir;
    int mrd;                      /* < 0: scanner default */
    double activity_bq;           /* in the phantom at injection */
    double weight_kg;
    double uptake_s;              /* < 0: the phantom's default */
    double duration_s;
    uint64_t seed;
    int n_motion;                 /* rigid steps: from motion_t_s[i] on, displaced by motion_mm[i] (from the t = 0 position) */
    double motion_t_s[LF_SIM_MAX_MOTION];
    double motion_mm[LF_SIM_MAX_MOTION][3];
    double resp_period_s, resp_amplitude_mm; /* 0: none */
    double position_mm[3];        /* phantom reference point in scanner mm */
    int scatter, randoms, lu, uniform_efficiency; /* physics switches (1 = on) */
    double efficiency_sigma;      /* relative spread of crystal efficiencies (default 0.1) */
    uint64_t efficiency_seed;     /* the crystal efficiencies' own seed (default 1), independent of seed: they
                                   * belong to the simulated scanner, so every acquisition of one scanner shares
                                   * them and a norm from one scan applies to the others */
    double line_length_mm;        /* > 0: length of the line source */
    double sphere_ratio;          /* > 0: IEC sphere-to-background ratio */
    int ct;                       /* write the CT (NIfTI + DICOM) */
    int ct_matrix;                /* 512 */
    double ct_pixel_mm, ct_slice_mm, ct_noise_hu; /* 0.9766, 3, < 0: default sigma */
    double truth_voxel_mm;        /* truth images (default 2) */
    double count_fraction;        /* (0, 1]: keep each coincidence with this probability (binomial thinning of
                                   * the full-activity acquisition: trues, scatter, randoms, delayeds alike;
                                   * singles tags stay at full rate); default 1 */
    const char *study_date, *study_time; /* "yyyy:mm:dd", "hh:mm:ss" (scan start) */
    lf_progress_fn progress;
    void *progress_user;
} lf_sim_config;

void lf_sim_config_defaults(lf_sim_config *c);

typedef struct lf_sim_result {
    uint64_t decays;              /* positron emissions simulated */
    uint64_t trues, scattered, randoms_prompt, delayeds;
    uint64_t time_markers;
    double mean_activity_bq;      /* in the phantom over the scan */
    double trues_cps_per_mbq;     /* sensitivity: trues per s per MBq of mean activity */
    double lu_singles_cps;        /* LSO background singles in the energy window, whole scanner */
    double phantom_singles_cps;   /* at scan start */
    double seconds;               /* wall time of the event simulation */
} lf_sim_result;

int lf_simulate(const lf_sim_config *c, lf_sim_result *res, lf_error *err);

/* F-18 facts used by the simulator (header keys). */
#define LF_F18_HALFLIFE_S 6586.2
#define LF_F18_BRANCHING 0.9673
/* LSO: about 14 MBq of 176Lu in a Quadra's ~370 kg of LSO (52 Bq per g of Lu); fraction of those decays
 * whose deposit lands in the 435-585 keV window: see docs/simulator.md. */
#define LF_LU_BQ_PER_G_LSO 0.0378e3 /* 37.8 Bq per g of LSO = 52 Bq per g of Lu x 0.71 Lu mass fraction */
#define LF_LSO_DENSITY_G_CM3 7.4
#define LF_LU_WINDOW_FRACTION 0.25

#endif

/* lafov recon: normalisation — crystal efficiencies and the cross-calibrated absolute efficiency from a
 * uniform-cylinder scan (`lafov norm`), and the norm folder `lafov recon --norm` applies (docs/norm.md).
 *
 * Model. The expected true counts of LOR (a, b) of a uniform cylinder are ε_a ε_b G_ab, with
 * G_ab = g_ab · exp(−μ L_ab) · L_ab: g the detector response (response.h), L_ab the length (mm) of the
 * LOR inside the cylinder (analytic; endpoints as lf_lor_endpoints_mm), μ the cylinder's mean μ. For a
 * cylinder on the scanner axis G depends only on the rings of a and b and their transaxial slot
 * difference, so the fan sum of a (every b with lf_pair_accepted) is a circular convolution over slots,
 * evaluated by FFT. Maximum likelihood for the fan sums F_a (prompts − delayeds) gives the fixed point
 * F_a = ε_a Σ_b ε_b G_ab; iterated damped, ε ← sqrt(ε · F / Σ ε G), then scaled to mean 1 over the
 * crystals with counts. Scatter in F (a smooth few-% per-ring bias) and the per-crystal geometry the model
 * lacks (block edges) stay in ε; the global level goes into the cross-calibration.
 *
 * Cross-calibration (lf_norm_make): the cylinder (CT voxels above −500 HU) gives the volume V and the
 * geometry; the scan is reconstructed with ε (lf_recon_run, defaults of the recon's corrections) and the
 * mean in the central region (r < 0.6 R, |z − z_c| < 0.6 H) compared with the truth: header activity at
 * injection decayed to the scan start over V. factor = true / measured; n0_calibrated = n0_nominal · factor.
 *
 * Folder: norm.json (provenance, n0, factor, cylinder, QC), crystal_efficiency.csv
 * (crystal_id,ring,index,efficiency), qc_cylinder_bqml.nii.gz (the calibrated cylinder image).
 * Every function returns 0, or -1 with err naming the file / key / line and what was expected.
 */
#ifndef LF_NORM_H
#define LF_NORM_H

#include <stdint.h>

#include "../core/error.h"
#include "../core/scanner.h"
#include "../io/nifti.h"
#include "../projectors/projector.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the cylinder (scanner frame, mm) ---- */

typedef struct lf_norm_cylinder {
    double centre_mm[3];       /* centroid of the CT mask */
    double radius_mm;          /* sqrt(mean slice area / π) over the full slices */
    double z0_mm, z1_mm;       /* axial extent */
    double mu_per_mm;          /* mean μ at 511 keV inside */
    double volume_ml;          /* mask voxels × voxel volume */
} lf_norm_cylinder;

/* Measures the cylinder in a CT in HU (voxels above −500 HU; μ from the Carney table at kvp). Fails when
 * nothing is above −500 HU or the mask touches the CT's first or last slice (volume unknown). */
int lf_norm_cylinder_from_ct(const lf_volume *ct_hu, double kvp, lf_norm_cylinder *c, lf_error *err);

/* Length (mm) of the segment p1 → p2 inside the cylinder (its axis along z through centre_mm). */
double lf_norm_chord_mm(const lf_norm_cylinder *c, const float p1[3], const float p2[3]);

/* G_ab of the crystal pair (a, b) (0 when not accepted at mrd): the model above, for tests and checks. */
double lf_norm_pair_model(const lf_scanner *sc, int mrd, const lf_norm_cylinder *c, uint32_t a, uint32_t b);

/* ---- the fan-sum fit ---- */

/* G for every accepted ring pair as the spectrum over transaxial slot differences (the cylinder's
 * transaxial centre is taken as the axis). Opaque; built once, used for every iteration. */
typedef struct lf_norm_fanmodel lf_norm_fanmodel;

int lf_norm_fanmodel_build(const lf_scanner *sc, int mrd, const lf_norm_cylinder *c, lf_norm_fanmodel **m,
                           lf_error *err);
void lf_norm_fanmodel_free(lf_norm_fanmodel *m);

/* S_a = Σ_{b ∈ fan(a)} ε_b G_ab for every crystal (n_crystals; virtual slots give 0). */
int lf_norm_fan_expect(const lf_norm_fanmodel *m, const float *eff, double *S, lf_error *err);

typedef struct lf_norm_fit_info {
    int iterations;            /* done */
    double last_change;        /* max relative change of ε in the last iteration */
    int n_fitted;              /* crystals with F > 0 */
    int n_zero;                /* real crystals with F <= 0 (efficiency 0) */
} lf_norm_fit_info;

/* Fits ε (n_crystals, mean 1 over fitted crystals; virtual and empty crystals 0) to the fan sums F
 * (n_crystals, trues; negative values count as 0): at most max_iter iterations (0: 500) until the largest
 * relative change is below tol (0: 1e-7). */
int lf_norm_fit(const lf_norm_fanmodel *m, const double *F, int max_iter, double tol, float *eff,
                lf_norm_fit_info *info, lf_error *err);

/* ---- the norm folder ---- */

#define LF_NORM_MAX_CAL 8  /* cross-calibrations per norm (one per maximum ring difference) */

typedef struct lf_norm {
    char dir[4096];
    char scanner[64];
    int system_code;
    int n_crystals;
    float *eff;                        /* [n_crystals] by stream crystal id */
    double n0_nominal_ml_per_mm;
    double cross_calibration_factor;
    double n0_calibrated_ml_per_mm;    /* what the recon uses as n0 (the first calibration's) */
    /* one cross-calibration per maximum ring difference it was measured at (the first is the one above; a
     * norm written before these existed has n_cal 1 and cal_mrd -1: valid for any MRD) */
    int n_cal;
    int cal_mrd[LF_NORM_MAX_CAL];
    double cal_factor[LF_NORM_MAX_CAL], cal_n0_ml_per_mm[LF_NORM_MAX_CAL];
    char created[64];                  /* UTC, ISO 8601 */
    char source_sha256[65];
    char source[4096];
} lf_norm;

/* Everything lf_norm_make measured, written to norm.json with the norm. */
typedef struct lf_norm_qc {
    char source_header[4096];
    int mrd;
    double duration_s;
    uint64_t prompts, delayeds;
    double mean_counts_per_crystal;    /* fan sums (prompts − delayeds) */
    double expected_eff_noise;         /* Poisson noise of ε: mean of 1/sqrt(F_a) */
    double eff_sd;                     /* spread of ε */
    lf_norm_fit_info fit;
    lf_norm_cylinder cyl;
    double activity_injection_bq, uptake_s, halflife_s, activity_scan_start_bq;
    double true_bqml, measured_bqml;   /* central region, recon with ε and the nominal n0 (first calibration) */
    double cal_measured_bqml[LF_NORM_MAX_CAL]; /* every calibration's central mean, in --calibration-mrd order */
    double roi_ml;
    double axial_slab_max_dev;         /* max |slab mean / mean − 1| over ~10 mm slabs of the central region */
    int recon_iterations, recon_subsets;
    double recon_voxel_mm;
    double count_fraction;
    double seconds_fansums, seconds_fit, seconds_recon;
} lf_norm_qc;

/* Reads DIR/norm.json and DIR/crystal_efficiency.csv; fails (naming the file and key) when the norm is
 * of another scanner than sc (system code, crystal count) or incomplete. */
int lf_norm_read(const char *dir, const lf_scanner *sc, lf_norm *n, lf_error *err);
void lf_norm_free(lf_norm *n);
/* Writes crystal_efficiency.csv then norm.json (each atomically; qc may be NULL) for scanner sc. */
int lf_norm_write(const char *dir, const lf_scanner *sc, const lf_norm *n, const lf_norm_qc *qc, lf_error *err);
/* The calibrated n0 for a reconstruction at maximum ring difference mrd: the calibration measured at that
 * MRD, else the first one (*exact = 0; *cal_mrd = the MRD it was measured at, -1 unknown). */
double lf_norm_n0_for_mrd(const lf_norm *n, int mrd, int *exact, int *cal_mrd, double *factor);
/* 1 when dir holds a norm (norm.json or crystal_efficiency.csv). */
int lf_norm_exists(const char *dir);

/* ---- lafov norm ---- */

typedef struct lf_norm_opts {
    const char *acq;           /* the cylinder's list mode (header with the activity and injection time) */
    const char *ct;            /* its CT: DICOM folder or NIfTI in HU */
    const char *scanner;       /* NULL: the header's */
    double kvp;                /* > 0: overrides the CT's; else the CT's, else 120 */
    const char *out_dir;
    int force;                 /* replace a norm already in out_dir */
    int iterations, subsets;   /* calibration recon (0: 3 and 5) */
    double voxel_mm;           /* calibration recon voxel (0: 4) */
    int fit_iterations;        /* 0: 500 */
    int cal_mrd[LF_NORM_MAX_CAL]; /* cross-calibrate at these maximum ring differences (one reconstruction each; */
    int n_cal_mrd;                /* 0: the acquisition's MRD only); the first is the norm's main calibration */
    lf_device device;
    const char *cache_dir;
} lf_norm_opts;

void lf_norm_opts_default(lf_norm_opts *o);
/* Fan sums → ε → calibration recon → the norm folder. qc (may be NULL) receives the numbers. */
int lf_norm_make(const lf_norm_opts *o, lf_norm_qc *qc, lf_error *err);

#ifdef __cplusplus
}
#endif

#endif

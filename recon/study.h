/* lafov recon: dose / time protocol studies — one scan thinned and truncated into a grid of virtual
 * scans, reconstructed through the batch queue, measured (docs/protocol.md, "lafov study").
 *
 *   lf_study_plan p;  lf_study_plan_read("plan.txt", &p, &err);       // recon/study_plan.c
 *   lf_study_grid g;  lf_study_grid_make(&p, "/abs/out", &g, &err);   // virtual scans + two manifests
 *   lf_batch_run(&g.thin, ...);  lf_batch_run(&g.recon, ...);          // phases: thin, then recon
 *   lf_study_measure(&p, &g, &res, &err);                              // ROI or NEMA metrics per scan
 *   lf_study_write(&p, &g, &res, &err);                                // results.csv, report.md, plots/
 *
 * The plan file uses the Interfile `key := value` syntax of the project's phantom and scanner files
 * (io/interfile.h: '#' comments, keys ignore case and spacing). Keys before the first `acquisition :=`
 * are the study's; `acquisition := NAME` opens an acquisition's block, and the keys after it (until
 * the next `acquisition :=`) are that acquisition's:
 *
 *   study name := liver protocol               (optional; the report's title)
 *   sensitivity cache := ../cache               (optional) --cache-dir of every recon job (default OUT/cache);
 *                                               the images are keyed by content, so one shared with other
 *                                               reconstructions of the same grid, μ-map and norm is reused
 *   seed := 7                                   thinning seed (default 1)
 *   recon options := --no-attenuation --iterations 2 --voxel-mm 6
 *                                               words added to every recon job (quoting as in a batch
 *                                               manifest); not --out, --frames, --exclude, --gate,
 *                                               --cache-dir, --ct, --force, --resume (the study sets them)
 *   metric := roi | nema
 *   labels := truth_labels.nii.gz              roi: the label image (any grid)
 *   names := truth.json                         roi: label names (the simulator's truth.json; optional)
 *   regions := 3, 7                             roi: labels reported (default every label present)
 *   background label := 3                       roi: contrast and CNR are relative to it (optional)
 *   erode (mm) := 0                             roi: erosion of the ROIs (recon/roi.h)
 *   nema ratio := 4                             nema: sphere : background activity ratio
 *   compare := A 0.25 1200 vs B 1 300           (optional) the report's answer line: ACQ FRACTION
 *                                               DURATION_S of two virtual scans
 *   plot region := 3                            (optional) the region plotted and answered about; roi: a
 *                                               label (default: the first region not the background); nema:
 *                                               sphere 1..6, 10 -> 37 mm (default 1)
 *   acquisition := A                            NAME: [A-Za-z0-9_-], at most 24 characters, unique
 *   list mode := sim/acq.l                      the 64-bit stream (required; relative to the plan)
 *   ct := sim/ct.nii.gz                         (optional) --ct of its recon jobs
 *   fractions := 1, 0.5, 0.25                   activity fractions p in (0, 1] ("1/4", "25%" accepted)
 *   durations (s) := 1200, 600, 300             scan durations from the start
 *   start (s) := 0                              (optional) where every duration starts
 *   replicates := 4                             (optional) at most this many replicates per fraction
 *                                               (default: as many as fit, floor(1/p))
 *   fractions, durations and replicates may also be given before the first acquisition, as defaults.
 *
 * Virtual scans: acquisition × fraction p × duration d × replicate k of n, n = min(replicates,
 * floor(1/p)): replicate k of n of lf_thin at p (seed; disjoint, so independent; p = 1 is the scan
 * itself, one replicate) reconstructed with --frames START-(START+d). Thin jobs (study/thin/ACQ_pP_rK.l)
 * run first, recon jobs (study/recon/ACQ_pP_dD_rK/) next, all with --cache-dir study/cache (or the plan's
 * sensitivity cache) so that one sensitivity image serves the grid. Errors name the plan file, its line and key, and what was expected.
 * Files: study_plan.c (the plan), study.c (grid, jobs, claim), study_measure.c, study_report.c (the
 * outputs; plots through io/plot.h).
 */
#ifndef LF_STUDY_H
#define LF_STUDY_H

#include <stdint.h>

#include "../core/error.h"
#include "batch_manifest.h"
#include "nema.h"

#define LF_STUDY_MAX_ACQ 16
#define LF_STUDY_MAX_GRID 32
#define LF_STUDY_MAX_REGIONS 256
#define LF_STUDY_NAME_MAX 25
#define LF_STUDY_PATH_MAX 4096

enum { LF_STUDY_ROI = 1, LF_STUDY_NEMA = 2 };

typedef struct lf_study_acq {
    char name[LF_STUDY_NAME_MAX];
    char path[LF_STUDY_PATH_MAX];          /* list mode, absolute (resolved against the plan's folder) */
    char ct[LF_STUDY_PATH_MAX];            /* "" when none */
    double fraction[LF_STUDY_MAX_GRID];
    int n_fraction;
    double duration_s[LF_STUDY_MAX_GRID];
    int n_duration;
    double start_s;
    int replicates;                        /* 0: floor(1/p) */
    double activity_bq, weight_kg;         /* from its header (emulated activity when it is a thinned copy);
                                              weight <= 0 when absent */
    double scan_s;                         /* the header's duration, -1 when absent */
    int line;                              /* plan line of `acquisition :=` */
} lf_study_acq;

typedef struct lf_study_scan_ref {         /* one virtual scan named by `compare` */
    int acq;
    double fraction, duration_s;
} lf_study_scan_ref;

typedef struct lf_study_plan {
    char origin[LF_STUDY_PATH_MAX];        /* the plan file as named */
    char dir[LF_STUDY_PATH_MAX];           /* its folder, absolute */
    char name[128];
    uint64_t seed;
    char recon_options[2048];
    int recon_options_line;
    int metric;                            /* LF_STUDY_ROI or LF_STUDY_NEMA */
    char labels[LF_STUDY_PATH_MAX], names[LF_STUDY_PATH_MAX]; /* absolute; names "" when none */
    char cache[LF_STUDY_PATH_MAX];         /* sensitivity cache, absolute; "" = OUT/cache */
    int region[LF_STUDY_MAX_REGIONS];
    int n_region;                          /* 0: every label present */
    int background;                        /* 0: none */
    int plot_region;                       /* 0: default */
    double erode_mm;
    double nema_ratio;
    int has_compare;
    lf_study_scan_ref compare[2];
    lf_study_acq acq[LF_STUDY_MAX_ACQ];
    int n_acq;
} lf_study_plan;

/* Reads and checks a plan (see the top), including each acquisition's header (lf_lm_header_open:
 * activity, weight, duration; durations beyond the scan are refused). recon/study_plan.c. */
int lf_study_plan_read(const char *path, lf_study_plan *p, lf_error *err);
/* The same from text; dir: the folder relative paths are resolved against. */
int lf_study_plan_parse(const char *text, const char *origin, const char *dir, lf_study_plan *p, lf_error *err);

/* ------------------------------------------------------------------ the grid */

typedef struct lf_study_scan {
    int acq;                               /* index into plan.acq */
    double fraction, duration_s;
    int replicate, of;                     /* k of n; 1 of 1 at p = 1 */
    char stream[LF_STUDY_PATH_MAX];        /* the (thinned) stream, absolute */
    char recon_dir[LF_STUDY_PATH_MAX];     /* absolute */
    char job[LF_BATCH_NAME_MAX];           /* its recon job's name */
} lf_study_scan;

typedef struct lf_study_grid {
    char out[LF_STUDY_PATH_MAX];           /* the study folder, absolute */
    lf_study_scan *scan;                   /* in order: acquisition, fraction, duration, replicate */
    int n;
    lf_batch_manifest thin, recon;         /* dir = out; thin holds only the streams not yet written */
} lf_study_grid;

/* The virtual scans and the two manifests for the study folder out_abs (an absolute path). */
int lf_study_grid_make(const lf_study_plan *p, const char *out_abs, lf_study_grid *g, lf_error *err);
void lf_study_grid_free(lf_study_grid *g);
/* Writes the plan's text to OUT/plan.txt, or checks that the one there is the same: a study folder
 * belongs to one plan (a different one is refused, naming both, unless force). */
int lf_study_claim(const char *plan_path, const char *out, int force, lf_error *err);

/* ------------------------------------------------------------------ measuring */

#define LF_STUDY_ROI_METRICS 8
#define LF_STUDY_NEMA_METRICS 5
#define LF_STUDY_METRICS_MAX 8

typedef struct lf_study_row {              /* one virtual scan × region */
    int scan;                              /* index into grid.scan */
    int label;                             /* roi: the label; nema: sphere 1..6, 0 for the lung row */
    char region[64];
    double v[LF_STUDY_METRICS_MAX];        /* lf_study_metric_names(metric)'s columns, NaN when undefined */
} lf_study_row;

typedef struct lf_study_results {
    lf_study_row *row;
    int n;
    int measured, missing;                 /* virtual scans with / without a finished image */
} lf_study_results;

/* The metric columns of results.csv for a metric kind, *n of them:
 *   roi:  voxels, mean, sd, cov_pct, max, peak, contrast, cnr   (image_suv.nii.gz: SUVmean, SUVmax, SUVpeak;
 *         contrast = mean / background mean; cnr = (mean - background mean) / background SD)
 *   nema: contrast_recovery_pct, background_variability_pct, c_h, c_b, lung_residual_pct (image_bqml.nii.gz) */
const char *const *lf_study_metric_names(int metric, int *n);

/* Measures every virtual scan whose recon_dir holds a finished image; the others count as missing. */
int lf_study_measure(const lf_study_plan *p, const lf_study_grid *g, lf_study_results *r, lf_error *err);
void lf_study_results_free(lf_study_results *r);

/* Dose × time of a virtual scan: equivalent full-activity minutes p·d/60; MBq·min p·A·d/60; per kg. */
double lf_study_equivalent_min(const lf_study_scan *s);
double lf_study_activity_time_mbq_min(const lf_study_plan *p, const lf_study_scan *s);

/* OUT/results.csv (LF_STUDY_CSV_PREFIX, the metric columns), OUT/report.md and OUT/plots/METRIC.png,
 * each atomically (recomputed from the finished jobs on every run). */
extern const char LF_STUDY_CSV_PREFIX[];
int lf_study_write(const lf_study_plan *p, const lf_study_grid *g, const lf_study_results *r, lf_error *err);

#endif

/* lafov recon: region-of-interest statistics of an image against a label image (and a truth image).
 *
 * The quantitative read-out for checking reconstructions against the simulator's truth: per label,
 * voxel count, volume, mean, SD, COV, min, max, SUVpeak-style peak, and with a truth image the truth
 * mean over the same voxels and the recovery coefficient.
 *
 * Grids. Every statistic lives on the IMAGE grid. The label image comes on its own grid (e.g. the
 * simulator's truth_labels.nii.gz on a 2 mm truth grid) and is resampled by nearest neighbour: each
 * image voxel centre is mapped through the image sform to scanner mm and through the inverse label
 * sform to the nearest label voxel; centres outside the label grid get label 0. Any sforms (not only
 * axis-aligned, not only equal grids) are accepted; they must be invertible.
 *
 * Label values must be integers 0..LF_ROI_MAX_LABEL (0 = no ROI); anything else is an error naming
 * the voxel (a label image that is not one, e.g. an activity image passed by mistake).
 *
 * Restrictions, applied to the resampled labels (an excluded voxel becomes 0):
 *   - erosion by E mm: an image voxel keeps label L only if every voxel of the label image (its own
 *     grid) whose centre lies within E mm of the image voxel's centre has label L (label-grid voxels
 *     outside that grid count as 0, so ROIs touching the label grid's edge are eroded there too).
 *     Excludes partial-volume edges. E = 0: none.
 *   - axial range: scanner z of the image voxel centre within [z0, z1] mm.
 *   - radial limit: distance of the image voxel centre from the scanner z axis, sqrt(x^2 + y^2) <= R.
 *
 * Statistics of label L over its n ROI voxels x_i (the image values):
 *   voxels n; volume_ml = n * |det(sform 3x3)| / 1000; mean; sd (sample, n - 1 in the denominator; 0
 *   when n = 1); cov_pct = 100 sd / mean; min; max;
 *   peak = max over the ROI voxels v of the mean of the image over the voxels whose centres lie within
 *     LF_ROI_PEAK_RADIUS_MM (a 1 mL sphere, the SUVpeak definition) of v's centre, any label, only
 *     voxels inside the image (the sphere is clipped at the image edge);
 *   truth_mean = mean over the same ROI voxels of the truth image resampled to the image grid (see
 *     lf_roi_resample_truth); recovery_pct = 100 mean / truth_mean.
 * Undefined values are NaN: every statistic of an empty ROI (n = 0, e.g. eroded away), cov_pct when
 * mean = 0, recovery_pct when truth_mean = 0, truth_mean and recovery_pct without a truth image.
 * Non-finite image values inside an ROI are an error naming the voxel. Sums are accumulated in double
 * in a fixed order: results do not depend on the number of OpenMP threads.
 *
 *   lf_roi_opts o = lf_roi_opts_default();  o.erode_mm = 4;
 *   lf_roi_stats *st; int n;
 *   if (lf_roi_compute(&img, &labels, &truth, &o, &st, &n, &err) != 0) ...
 *   lf_roi_csv(stdout, st, n, &names);  free(st);
 */
#ifndef LF_ROI_H
#define LF_ROI_H

#include <stdint.h>
#include <stdio.h>

#include "../core/error.h"
#include "../io/nifti.h"

#define LF_ROI_MAX_LABEL 65535
#define LF_ROI_PEAK_RADIUS_MM 6.2 /* (3 mL / 4 pi)^(1/3) cm: a 1 mL sphere */

typedef struct lf_roi_opts {
    double erode_mm;      /* >= 0; 0: no erosion */
    int z_range;          /* nonzero: keep z0_mm <= z <= z1_mm */
    double z0_mm, z1_mm;
    double radius_mm;     /* > 0: keep sqrt(x^2 + y^2) <= radius_mm; <= 0 or infinite: no limit */
    const int *labels;    /* labels to report, in this order; NULL: every nonzero label of the label image */
    int n_labels;
} lf_roi_opts;

/* No erosion, no axial range, no radial limit, every label. */
lf_roi_opts lf_roi_opts_default(void);

typedef struct lf_roi_stats {
    int label;
    uint64_t voxels;
    double volume_ml;
    double mean, sd, cov_pct, min, max, peak;
    double truth_mean, recovery_pct; /* NaN without a truth image */
} lf_roi_stats;

/* The labels on the image grid after resampling and the restrictions: one int32 per image voxel
 * (i fastest), 0 = in no ROI. */
typedef struct lf_roi_mask {
    int n[3];
    int32_t *label;
} lf_roi_mask;

/* Sorted distinct nonzero labels of a label image (on its own grid); *labels allocated here (free()),
 * possibly with *n = 0. Fails on non-integer or out-of-range values, naming the voxel. */
int lf_roi_label_list(const lf_volume *labels, int **out, int *n, lf_error *err);

/* Resamples labels onto grid's grid (only grid's n and sform are used) and applies o's erosion, axial
 * range and radial limit (o->labels is ignored here). m->label allocated here. OpenMP. */
int lf_roi_mask_build(const lf_volume *labels, const lf_volume *grid, const lf_roi_opts *o, lf_roi_mask *m,
                      lf_error *err);
void lf_roi_mask_free(lf_roi_mask *m);

/* Resamples a truth image onto grid's grid into out (allocated here: grid's n, vox_mm and sform).
 * Mean-preserving when the truth is finer: each image voxel is the mean of the truth voxels whose
 * centres fall in it (nearest image voxel of each truth centre); an image voxel that receives no truth
 * centre takes the nearest truth voxel at its centre. When a truth voxel is larger than an image voxel
 * (|det| of the sforms), nearest neighbour everywhere. Outside the truth grid: 0. */
int lf_roi_resample_truth(const lf_volume *truth, const lf_volume *grid, lf_volume *out, lf_error *err);

/* Statistics of image over mask for the given labels (n_labels rows, in order; *out allocated here,
 * free()). truth_on_grid: the truth already on image's grid (lf_roi_resample_truth), or NULL. */
int lf_roi_stats_compute(const lf_volume *image, const lf_roi_mask *m, const lf_volume *truth_on_grid,
                         const int *labels, int n_labels, lf_roi_stats **out, lf_error *err);

/* The whole chain: labels -> mask (o), truth (may be NULL) -> image grid, statistics for o->labels
 * (each must occur in the label image: an absent one is an error listing those present) or for every
 * label present. *out allocated here (free()), *n rows. */
int lf_roi_compute(const lf_volume *image, const lf_volume *labels, const lf_volume *truth, const lf_roi_opts *o,
                   lf_roi_stats **out, int *n, lf_error *err);

/* Axial profile of one label over a mask: per image slice k (k = 0 .. n[2]-1) the mean image value of
 * the label's voxels in that slice (NaN where none), their count, and the scanner z (mm) of the
 * slice's central voxel. Any output may be NULL; each has image->n[2] entries. */
int lf_roi_profile(const lf_volume *image, const lf_roi_mask *m, int label, double *mean, uint64_t *count,
                   double *z_mm, lf_error *err);

/* ------------------------------------------------------------------ label names (truth.json) */

typedef struct lf_roi_names {
    int n;
    int *label;
    char **name;
} lf_roi_names;

/* Reads the simulator's truth.json top-level "labels" array: objects each with "label": N (integer
 * 0..LF_ROI_MAX_LABEL) and "name": "..." (other keys ignored). Fails naming origin (the file) and the
 * entry when the document, the array or an entry is malformed, or a label appears twice. */
int lf_roi_names_parse(const char *text, const char *origin, lf_roi_names *names, lf_error *err);
int lf_roi_names_read(const char *path, lf_roi_names *names, lf_error *err);
void lf_roi_names_free(lf_roi_names *names);
/* Name of a label, or NULL when names is NULL or lacks it. */
const char *lf_roi_name(const lf_roi_names *names, int label);

/* ------------------------------------------------------------------ output */

/* The CSV header line (no newline):
 * label,name,voxels,volume_ml,mean,sd,cov_pct,min,max,peak,truth_mean,recovery_pct */
extern const char LF_ROI_CSV_HEADER[];

/* Writes header + one row per statistic. name: from names, else "label_N" (quoted per RFC 4180 when
 * needed). Numbers %.10g; NaN (undefined, or no truth) as an empty field. */
void lf_roi_csv(FILE *f, const lf_roi_stats *st, int n, const lf_roi_names *names);
/* The same rows as a JSON array of objects with the CSV's keys (NaN as null). */
void lf_roi_json(FILE *f, const lf_roi_stats *st, int n, const lf_roi_names *names);

#endif

/* lafov recon: attenuation map (μ at 511 keV, 1/cm) from a CT in Hounsfield units.
 *
 * HU -> μ is Carney et al.'s bilinear model (Med Phys 2006;33:976), kept as data per tube voltage in
 * data/ct/carney2006.hu2mu (format described in that file):
 *   μ = s·(HU+1000) for HU <= bp,  μ = a·(HU+1000) + b above;  clamped to μ >= 0 (NaN HU -> 0).
 * The map is converted at CT resolution, smoothed by a separable 3-D Gaussian to PET resolution
 * (zero padding at the edges), then resampled mean-preservingly onto the PET grid: every PET voxel
 * is the volume-weighted mean of the CT voxels it overlaps (exact per-axis interval overlaps), space
 * outside the CT counts as air (μ 0). Both grids must be axis-aligned (diagonal sform, positive
 * spacing).
 */
#ifndef LF_MUMAP_H
#define LF_MUMAP_H

#include "../core/error.h"
#include "../io/nifti.h"

#define LF_HU2MU_MAX_ROWS 32

typedef struct lf_hu2mu_row {
    double kvp;         /* tube voltage, kV */
    double a, b;        /* above the break point: μ = a·(HU+1000) + b (1/cm) */
    double bp;          /* break point, HU */
    double slope_below; /* below (and at) the break point: μ = slope_below·(HU+1000) */
} lf_hu2mu_row;

typedef struct lf_hu2mu_table {
    int nrows;
    lf_hu2mu_row row[LF_HU2MU_MAX_ROWS];
    char origin[4200]; /* file the table came from (for messages) */
} lf_hu2mu_table;

/* Loads a table. path NULL or "": the bundled carney2006.hu2mu, looked for in $LAFOV_DATA_DIR/ct,
 * then the source tree's data/ct, then the installed share/lafov/ct. */
int lf_hu2mu_load(const char *path, lf_hu2mu_table *t, lf_error *err);

/* Picks the row of tube voltage kvp (matched within 0.5 kV); fails naming kvp and the available ones. */
int lf_hu2mu_select(const lf_hu2mu_table *t, double kvp, const lf_hu2mu_row **row, lf_error *err);

/* μ (1/cm, >= 0) of one HU value for one row. */
double lf_hu2mu_eval(const lf_hu2mu_row *r, double hu);

/* μ (1/cm, >= 0) for kvp and hu; NaN when kvp is not in the table (check with lf_hu2mu_select first). */
double lf_hu2mu(const lf_hu2mu_table *t, double kvp, double hu);

/* The whole chain: HU volume ct_hu (tube voltage kvp) -> μ at CT resolution -> Gaussian of fwhm_mm
 * (<= 0: none; per-axis σ = fwhm/2.3548/voxel size) -> mean-preserving resampling onto the grid of
 * pet_grid_like (only n, vox_mm and sform are used; its data may be NULL). mu_out is allocated here
 * (free with lf_volume_free); its descrip names the kVp and the FWHM. OpenMP. */
int lf_ct_to_mumap(const lf_volume *ct_hu, double kvp, const lf_hu2mu_table *t, double fwhm_mm,
                   const lf_volume *pet_grid_like, lf_volume *mu_out, lf_error *err);

/* The steps separately (exposed for tests and tools). In place, float data of n voxels. */
int lf_mumap_gauss3d(float *data, const int n[3], const double vox_mm[3], double fwhm_mm, lf_error *err);
/* Resamples src (axis-aligned) onto dst's grid (axis-aligned, dst->data allocated by the caller). */
int lf_mumap_resample_mean(const lf_volume *src, lf_volume *dst, lf_error *err);

#endif

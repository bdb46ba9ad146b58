/* lafov sim: a low-dose CT synthesiser, independent of how the phantom is described.
 *
 * The caller gives the CT number at any point (hu_at: HU at a scanner-frame point in mm, thread-safe:
 * it is called from several OpenMP threads at once). lf_ct_synthesize fills a volume with
 *   1. the voxel mean of hu_at over ss x ss x ss sub-samples (regular, at the centres of the ss^3
 *      sub-cells of each voxel; partial-volume edges as a real CT shows them), then
 *   2. CT noise: Gaussian, spatially correlated in-plane by a Gaussian kernel of noise_corr_mm FWHM,
 *      scaled so that the noise standard deviation is exactly noise_sigma_hu at every voxel (the white
 *      field is drawn on a padded plane, so edges see the full kernel), independent between slices.
 *      Noise is added everywhere, air outside the body included, as in a real CT.
 * Deterministic for a seed whatever the number of threads: slice k draws its noise from
 * lf_rng_seed(&r, seed, k) (core/rng.h). Callers sharing one user seed between several uses should pass
 * a derived seed here (e.g. seed ^ a constant).
 *
 * Noise model: a single stationary sigma is a simplification (a real CT's noise grows with the
 * attenuation along the rays, e.g. in the shoulders and pelvis) that keeps the CT independent of the
 * phantom; see lf_ct_noise_sigma_default for the value.
 */
#ifndef LF_SIM_CT_H
#define LF_SIM_CT_H

#include <stdint.h>

#include "../core/error.h"
#include "../io/nifti.h"

/* hu: an allocated volume (lf_volume_alloc; any sform). ss >= 1 (at most 16) sub-samples per axis.
 * noise_sigma_hu >= 0 (0: no noise); noise_corr_mm >= 0 FWHM of the in-plane correlation kernel (0 or
 * below a tenth of a pixel: white noise). */
int lf_ct_synthesize(lf_volume *hu, double (*hu_at)(const double xyz_mm[3], void *user), void *user, int ss,
                     double noise_sigma_hu, double noise_corr_mm, uint64_t seed, lf_error *err);

/* Noise sigma (HU) of lafov's simulated 120 kVp / 25 mAs CT: 40 HU (reasoning in sim/ct.c). */
double lf_ct_noise_sigma_default(void);
/* In-plane FWHM (mm) of the noise correlation of a soft (attenuation-correction) reconstruction kernel
 * at ~0.98 mm pixels: 2 mm (grain of about two pixels). */
double lf_ct_noise_corr_default_mm(void);

/* The default CT grid: 512 x 512 pixels of 500/512 = 0.9765625 mm (500 mm field of view, centred on the
 * scanner axis: x = y = 0 between the two middle pixels), 3 mm slices, as few as cover [z_lo_mm, z_hi_mm]
 * with the slab centred on the middle of that range. Fills n, vox_mm and origin_mm (centre of voxel
 * (0,0,0)) for lf_volume_alloc. */
int lf_ct_default_grid(double z_lo_mm, double z_hi_mm, int n[3], double vox_mm[3], double origin_mm[3],
                       lf_error *err);

#endif

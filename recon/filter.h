/* lafov recon: 3-D Gaussian filtering through FFTW (PSF modelling and post-filter).
 *
 * The kernel is a sampled Gaussian, separable, per-axis σ_a = fwhm_a / (2·sqrt(2 ln 2)) / vox_mm[a]
 * voxels, truncated at ceil(4σ_a) voxels and normalised to sum 1 (so the filter preserves the total
 * activity of an object farther than 4σ from the borders, and the mean of a uniform interior region).
 * The volume is zero-padded along each filtered axis by at least ceil(4σ_a) >= 3σ voxels (then rounded up
 * to an FFT-friendly size), so there is no wrap-around: beyond the borders the image is taken as zero.
 * Transform: one real-to-complex / complex-to-real 3-D float plan (FFTW_ESTIMATE), in place; the
 * kernel's transfer function is the product of the three exact 1-D DFTs of the sampled kernels.
 * Plans are made and destroyed inside `#pragma omp critical(lf_fftw_planner)` (FFTW's planner is not
 * thread-safe); other lafov code calling the FFTW planner must use the same critical name.
 * The filter can thus run on several volumes in parallel threads.
 */
#ifndef LF_FILTER_H
#define LF_FILTER_H

#include "../core/error.h"
#include "../io/nifti.h"

/* Isotropic Gaussian of the given FWHM (mm, >= 0, finite). fwhm_mm == 0 leaves v untouched. */
int lf_gaussian_filter(lf_volume *v, double fwhm_mm, lf_error *err);
/* Per-axis FWHM in mm (i, j, k order, matching vox_mm); an axis with 0 is not filtered; all 0 is a no-op
 * (the data stay bit-identical). */
int lf_gaussian_filter3(lf_volume *v, const double fwhm_mm[3], lf_error *err);

#endif

/* lafov recon: axial profiles of an image — the mean over a cylinder of radius r around an axial line
 * (x, y), slice by slice, and the width and edges of its peak. What a physicist draws to see a doubled
 * organ after motion (a wider bladder) or where an organ's edge lies in each respiratory gate.
 *
 *   lf_profile p;
 *   lf_profile_axial(&img, -70, -5, 15, -INFINITY, INFINITY, &p, &err);
 *   lf_profile_peak pk; lf_profile_find_peak(&p, 0.5, &pk);   // FWHM, half-maximum edges
 *
 * A voxel belongs to slice k's disc when its centre lies within r of (x, y) in that slice (scanner mm
 * through the volume's sform; the volume must be axis-aligned, as every lafov image is). Slices whose
 * centre z lies outside [z0, z1] are left out. */
#ifndef LF_PROFILE_H
#define LF_PROFILE_H

#include "../core/error.h"
#include "../io/nifti.h"

typedef struct lf_profile {
    int n;            /* slices kept */
    double *z_mm;     /* [n] slice centres, increasing */
    double *mean;     /* [n] mean over the disc */
    int *voxels;      /* [n] voxels in the disc */
} lf_profile;

/* Fails (err names the reason) when r <= 0, the volume is not axis-aligned, or no slice or no voxel
 * falls inside the range. out is overwritten; free with lf_profile_free. */
int lf_profile_axial(const lf_volume *v, double x_mm, double y_mm, double radius_mm, double z0_mm, double z1_mm,
                     lf_profile *out, lf_error *err);
void lf_profile_free(lf_profile *p);

typedef struct lf_profile_peak {
    double max, z_max_mm;   /* the largest mean and its slice */
    double lo_mm, hi_mm;    /* where the profile crosses level·max below and above the peak (linear
                             * interpolation between slices); NaN when it never does inside the profile */
    double width_mm;        /* hi − lo (the FWHM for level 0.5); NaN when an edge is missing */
} lf_profile_peak;

/* The peak holding the largest value and its edges at level (0 < level < 1) of that maximum. */
void lf_profile_find_peak(const lf_profile *p, double level, lf_profile_peak *pk);

#endif

/* lafov io: quick looks at a volume as 8-bit RGB pictures (grey levels; rgb is malloc'ed width*height*3,
 * top row first, ready for io/png_write.h).
 *
 * Pixels are square in millimetres (nearest-neighbour resampling to the finer voxel size), the head
 * (high z) at the top of coronal and sagittal views; axial views have x across and y down. Values
 * from lo to hi map to black..white (inverse: white..black), clamped; NaN shows as lo.
 *
 * slice:  one axial, coronal or sagittal slice (index < 0: the middle one); lo = hi = 0 picks the
 *         0.5th..99.5th percentile of the slice.
 * mip:    maximum-intensity projection along the plane's normal (axial: max over z, coronal: max over
 *         y, sagittal: max over x); inverse = 1 gives the usual nuclear-medicine black-on-white look.
 * ortho:  axial | coronal | sagittal slices through voxel at[] side by side, one common pixel size
 *         (the finest voxel size), panels centred vertically, 4 grey pixels between them; at = NULL
 *         uses lf_volume_hotspot.
 * For mip and ortho lo = hi = 0 picks 0 .. the 99.9th percentile of the whole volume (estimated from
 * at most 16 M evenly spaced voxels; the volume's maximum when that percentile is not above 0).
 */
#ifndef LF_VOLUME_VIEW_H
#define LF_VOLUME_VIEW_H

#include <stdint.h>

#include "nifti.h"

typedef enum { LF_PLANE_AXIAL = 0, LF_PLANE_CORONAL = 1, LF_PLANE_SAGITTAL = 2 } lf_plane;

int lf_plane_parse(const char *s, lf_plane *p, lf_error *err);
int lf_volume_slice_rgb(const lf_volume *v, lf_plane plane, int index, double lo, double hi, uint8_t **rgb, int *width,
                        int *height, lf_error *err);
int lf_volume_mip_rgb(const lf_volume *v, lf_plane plane, double lo, double hi, int inverse, uint8_t **rgb, int *width,
                      int *height, lf_error *err);
int lf_volume_ortho_rgb(const lf_volume *v, const int at[3], double lo, double hi, uint8_t **rgb, int *width,
                        int *height, lf_error *err);

/* Voxel (i, j, k) of the largest value (the first in memory order; NaN ignored; (0,0,0) if none). */
void lf_volume_argmax(const lf_volume *v, int at[3]);
/* The hot spot robust to a single noisy voxel: the voxel whose 3x3x3 neighbourhood has the largest
 * sum (a light mean filter; voxels outside the volume and NaN count as 0), then the largest voxel
 * within that neighbourhood. Needs 4 slices of scratch; falls back to lf_volume_argmax without memory. */
void lf_volume_hotspot(const lf_volume *v, int at[3]);

#endif

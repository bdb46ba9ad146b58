/* lafov io: a quick look at a volume — one axial, coronal or sagittal slice as an 8-bit picture.
 * Pixels are square in millimetres (the slice is resampled, nearest neighbour, to the finer of its two
 * voxel sizes), head (high z) at the top for coronal and sagittal views, grey levels from lo (black) to
 * hi (white); lo = hi = 0 picks the 0.5th..99.5th percentile of the slice. */
#ifndef LF_VOLUME_VIEW_H
#define LF_VOLUME_VIEW_H

#include <stdint.h>

#include "nifti.h"

typedef enum { LF_PLANE_AXIAL = 0, LF_PLANE_CORONAL = 1, LF_PLANE_SAGITTAL = 2 } lf_plane;

int lf_plane_parse(const char *s, lf_plane *p, lf_error *err);
/* index < 0: the middle slice. rgb: malloc'ed width*height*3. */
int lf_volume_slice_rgb(const lf_volume *v, lf_plane plane, int index, double lo, double hi, uint8_t **rgb, int *width,
                        int *height, lf_error *err);

#endif

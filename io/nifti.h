/* lafov io: NIfTI volumes (libnifti2; .nii or .nii.gz), float32 in memory.
 *
 * The sform maps voxel indices straight to scanner-frame mm (quadra-stream.md, "CT"); lafov writes
 * axis-aligned grids (diagonal sform: voxel size and origin) and reads any sform (else qform).
 * Files are written atomically (temporary file + rename).
 */
#ifndef LF_NIFTI_H
#define LF_NIFTI_H

#include <stddef.h>

#include "../core/error.h"

typedef struct lf_volume {
    int n[3];              /* voxels along i, j, k (i fastest in data) */
    double vox_mm[3];      /* voxel size */
    double sform[3][4];    /* voxel (i,j,k,1) -> scanner mm */
    float *data;           /* n[0]*n[1]*n[2] values */
    char descrip[80];      /* NIfTI descrip (e.g. "kvp=120") */
} lf_volume;

/* Allocates an axis-aligned volume: voxel (0,0,0) centred at origin_mm. data zeroed. */
int lf_volume_alloc(lf_volume *v, const int n[3], const double vox_mm[3], const double origin_mm[3], lf_error *err);
void lf_volume_free(lf_volume *v);
/* Scanner-mm position of voxel (i, j, k). */
void lf_volume_voxel_mm(const lf_volume *v, double i, double j, double k, double xyz[3]);

typedef enum { LF_NIFTI_FLOAT32 = 0, LF_NIFTI_INT16 = 1, LF_NIFTI_UINT8 = 2 } lf_nifti_type;
/* Writes path (.nii or .nii.gz) with the given on-disk type (int16/uint8 rounded and clamped).
 * intent: NIfTI intent name (may be NULL), e.g. "Bq/mL", "1/cm", "HU", "label". */
int lf_nifti_write(const char *path, const lf_volume *v, lf_nifti_type type, const char *intent, lf_error *err);
/* Reads any NIfTI-1/2 scalar volume into float (scl_slope/inter applied). */
int lf_nifti_read(const char *path, lf_volume *v, lf_error *err);

#endif

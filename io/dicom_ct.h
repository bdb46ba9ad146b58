/* lafov io: CT series as DICOM (DCMTK, io/dicom_ct.cpp): one file per axial slice.
 *
 * Writes CT Image Storage objects with Rescale Slope/Intercept (HU = stored * slope + intercept),
 * KVP (0018,0060), Exposure (0018,1152) in mAs, Image Position/Orientation (Patient) such that patient
 * coordinates equal the scanner frame (head-first supine: quadra-stream.md "CT"), Slice Thickness,
 * Pixel Spacing, and shared Study/Series/Frame-of-Reference UIDs. Reads such a series back (any slice
 * order; sorted by position along the slice normal) into HU.
 */
#ifndef LF_DICOM_CT_H
#define LF_DICOM_CT_H

#ifdef __cplusplus
extern "C" {
#endif

#include "../core/error.h"
#include "nifti.h"

typedef struct lf_ct_info {
    double kvp;
    double exposure_mas;
    char patient_name[64];
    char description[64];
} lf_ct_info;

/* hu: an axis-aligned volume (diagonal sform). Writes dir/CT0001.dcm ... into a temporary folder
 * beside dir and renames it into place (an existing dir is replaced only on success). */
int lf_dicom_ct_write(const char *dir, const lf_volume *hu, const lf_ct_info *info, lf_error *err);
/* Reads every CT slice in dir into hu (HU, float), info->kvp from KVP (0 when absent). */
int lf_dicom_ct_read(const char *dir, lf_volume *hu, lf_ct_info *info, lf_error *err);

#ifdef __cplusplus
}
#endif

#endif

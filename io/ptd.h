/* lafov io: the Siemens .ptd container (petlink32.md, "Containers").
 *
 * Layout: list-mode words, then a DICOM dataset (Part-10 file with or without the 128-byte preamble),
 * then a little-endian uint32 giving the DICOM part's length in bytes, then the 20 ASCII bytes
 * "LARGE_PET_LM_RAWDATA". The Interfile header travels in private tag (0029,1010) (or (0029,1110));
 * (0008,0008) reads e.g. ORIGINAL\PRIMARY\PET_LISTMODE. The DICOM part is parsed with DCMTK
 * (io/ptd_dicom.cpp); the trailer in C (io/ptd.c).
 */
#ifndef LF_PTD_H
#define LF_PTD_H

#include <stddef.h>
#include <stdint.h>

#include "../core/error.h"

#define LF_PTD_MAGIC "LARGE_PET_LM_RAWDATA"
#define LF_PTD_MAGIC_LEN 20

/* 1 when the file ends with the .ptd magic, 0 when not (or unreadable). */
int lf_ptd_is_ptd(const char *path);

/* Reads the trailer of a .ptd: *data_bytes = length of the list-mode words at offset 0,
 * *dicom_offset / *dicom_bytes = the DICOM part. Errors (file, offset, expected) for a missing
 * magic, a DICOM length that does not fit the file, ... */
int lf_ptd_locate(const char *path, uint64_t *data_bytes, uint64_t *dicom_offset, uint64_t *dicom_bytes, lf_error *err);

/* Same over a memory image of a whole file (for fuzzing and tests). */
int lf_ptd_locate_buffer(const uint8_t *buf, uint64_t size, const char *origin, uint64_t *data_bytes,
                         uint64_t *dicom_offset, uint64_t *dicom_bytes, lf_error *err);

/* Parses the DICOM part (bytes, length n) with DCMTK and returns the Interfile header text from
 * (0029,1010) or (0029,1110), malloc'ed and NUL-terminated, in *text (length *text_len).
 * origin and dicom_offset are used in messages. */
int lf_ptd_dicom_header(const uint8_t *dicom, size_t n, const char *origin, uint64_t dicom_offset, char **text,
                        size_t *text_len, lf_error *err);

/* Reads the header text of a .ptd file (lf_ptd_locate + lf_ptd_dicom_header). */
int lf_ptd_read_header(const char *path, char **text, size_t *text_len, uint64_t *data_bytes, lf_error *err);

/* Writes a .ptd: the words of data_path (whole file), then a DICOM dataset built with DCMTK holding
 * header_text in (0029,1010) (VR OB) and (0008,0008) ORIGINAL\PRIMARY\PET_LISTMODE, then the
 * trailer. Writes to a temporary file beside out_path and renames it into place. */
int lf_ptd_write(const char *out_path, const char *data_path, const char *header_text, lf_error *err);

#endif

/* lafov io: a small HDF5 writer (and reader) for reconstruction results (libhdf5, C API).
 *
 * The writer builds the file under a temporary name beside the target (io/atomic_file.h) and moves
 * it into place on commit, so a failed or interrupted run never leaves a partial file nor destroys
 * the previous one; abort removes the temporary file.
 *
 *   lf_h5w *w; lf_h5w_open("out/recon.h5", &w, &err);
 *   lf_h5w_volume(w, "image", &img, "Bq/mL", &err);
 *   lf_h5w_attr_str(w, "parameters", "algorithm", "OSEM", &err);
 *   lf_h5w_attr_num(w, "parameters/corrections", "scatter_scale", 1.02, &err);
 *   lf_h5w_commit(w, &err);                  // or lf_h5w_abort(w) on any error; both free w
 *
 * Volumes: 3-D float32 datasets stored C-order [nz][ny][nx] (x fastest, as lf_volume), chunked one
 * z slice per chunk, shuffle + gzip level 4. Attributes on the dataset: voxel_mm[3] and origin_mm[3]
 * in x, y, z order (origin = centre of voxel 0 in the scanner frame, mm) and units (string); only
 * axis-aligned grids (diagonal sform with positive voxel sizes) are written. A volume name may be a
 * path ("frames/f00"); missing groups are created.
 * Attributes: `group` names a group ("/" or NULL for the root, "parameters", "parameters/corrections";
 * created on demand) or an already written dataset. Strings are variable-length UTF-8, numbers
 * float64 (scalar; or 1-D of n for _nums). Writing a key again replaces it.
 * HDF5's own error printing is switched off (H5Eset_auto, on the calling thread); failures come back
 * as lf_error messages naming the file, the dataset or attribute, and HDF5's innermost reason.
 */
#ifndef LF_H5_H
#define LF_H5_H

#include <stddef.h>

#include "../core/error.h"
#include "nifti.h"

typedef struct lf_h5w lf_h5w;

int lf_h5w_open(const char *path, lf_h5w **w, lf_error *err);
/* units may be NULL (no units attribute). The name must not exist yet. */
int lf_h5w_volume(lf_h5w *w, const char *name, const lf_volume *v, const char *units, lf_error *err);
int lf_h5w_attr_str(lf_h5w *w, const char *group, const char *key, const char *value, lf_error *err);
int lf_h5w_attr_num(lf_h5w *w, const char *group, const char *key, double value, lf_error *err);
int lf_h5w_attr_nums(lf_h5w *w, const char *group, const char *key, const double *v, int n, lf_error *err);
/* Closes the file, fsyncs and renames it into place; frees w (also on failure, leaving no temporary). */
int lf_h5w_commit(lf_h5w *w, lf_error *err);
/* Closes and removes the temporary file; frees w. NULL is harmless. */
void lf_h5w_abort(lf_h5w *w);

/* Reading back (tests, tools). A volume needs its voxel_mm and origin_mm attributes; any integer or
 * float dataset type is converted to float. Strings: fixed or variable length; one longer than
 * cap - 1 bytes is an error. Numbers: any integer or float attribute; _num wants exactly one value, _nums at
 * most cap values (count in *n). */
int lf_h5_read_volume(const char *path, const char *name, lf_volume *v, lf_error *err);
int lf_h5_read_attr_str(const char *path, const char *group, const char *key, char *out, size_t cap, lf_error *err);
int lf_h5_read_attr_num(const char *path, const char *group, const char *key, double *out, lf_error *err);
int lf_h5_read_attr_nums(const char *path, const char *group, const char *key, double *out, int cap, int *n,
                         lf_error *err);

#endif

/* lafov io: NIfTI volumes through libnifti2 (nifti2_io: reads NIfTI-1 and NIfTI-2, .nii and .nii.gz).
 *
 * Writing: a NIfTI-1 single file (.nii, or .nii.gz gzip-compressed at level 1; the library falls back
 * to NIfTI-2, with a note on stderr, when a dimension exceeds 32767) with sform_code = qform_code =
 * NIFTI_XFORM_SCANNER_ANAT, the sform the volume's own matrix, the qform the nearest rigid transform
 * (exact for lafov's axis-aligned grids), xyz_units mm. The header goes out through
 * nifti_image_write_hdr_img2 (the engine behind nifti_image_write, asked to leave the file open) and the
 * voxels through znzwrite, so that every write and the final close are checked, which
 * nifti_image_write (void) does not report. The file is built under a temporary name beside the target
 * with the same extension (NAME.tmp.XXXXXX.nii[.gz]), synced and renamed into place: the old file
 * survives any failure.
 *
 * Reading: header first (nifti_image_read without data), dimensions checked with overflow-safe
 * arithmetic (one 3-D volume, at most 2^31 voxels, the file large enough to hold them), then the voxels,
 * read here through znzopen/znzread from the very file named (byte-swapped with nifti_swap_Nbytes when
 * the file is big-endian) and converted to float with scl_slope/scl_inter. Not nifti_image_load: libnifti2
 * 3.0.1 looks for the data file by base name and reads X.nii's voxels when asked for X.nii.gz while both
 * exist (header from one file, data from the other). Geometry: sform, else qform, else the ANALYZE-style
 * pixdim diagonal.
 */
#include "nifti.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nifti2_io.h>

#define LF_NIFTI_MAX_VOXELS (1ull << 31)
/* gzip level 1 for .nii.gz: CT noise does not compress much better at higher levels,
 * and level 6 (zlib's default) takes ~4x longer on a 512 x 512 x 354 int16 CT. */
#define LF_NIFTI_GZ_WRITE_MODE "wb1"

/* ------------------------------------------------------------------ volumes */

/* Product of three positive dimensions, or 0 when one is < 1 or the product exceeds the maximum. */
static uint64_t voxel_count(const int64_t n[3])
{
    uint64_t p = 1;
    for (int a = 0; a < 3; a++) {
        if (n[a] < 1 || (uint64_t)n[a] > LF_NIFTI_MAX_VOXELS)
            return 0;
        p *= (uint64_t)n[a]; /* <= 2^31 * 2^31: no overflow */
        if (p > LF_NIFTI_MAX_VOXELS)
            return 0;
    }
    return p;
}

static uint64_t volume_voxels(const lf_volume *v)
{
    int64_t n[3] = {v->n[0], v->n[1], v->n[2]};
    return voxel_count(n);
}

int lf_volume_alloc(lf_volume *v, const int n[3], const double vox_mm[3], const double origin_mm[3], lf_error *err)
{
    if (!v || !n || !vox_mm || !origin_mm)
        return lf_fail(err, "lf_volume_alloc: NULL argument");
    memset(v, 0, sizeof *v);
    int64_t n64[3] = {n[0], n[1], n[2]};
    uint64_t nv = voxel_count(n64);
    if (nv == 0)
        return lf_fail(err, "volume of %d x %d x %d voxels: expected each size >= 1 and at most 2^31 voxels in all",
                       n[0], n[1], n[2]);
    for (int a = 0; a < 3; a++) {
        if (!(vox_mm[a] > 0) || !isfinite(vox_mm[a]))
            return lf_fail(err, "volume voxel size %g x %g x %g mm: expected finite sizes > 0", vox_mm[0], vox_mm[1],
                           vox_mm[2]);
        if (!isfinite(origin_mm[a]))
            return lf_fail(err, "volume origin (%g, %g, %g) mm: expected finite coordinates", origin_mm[0],
                           origin_mm[1], origin_mm[2]);
    }
    float *d = calloc((size_t)nv, sizeof *d);
    if (!d)
        return lf_fail(err, "out of memory for a %d x %d x %d volume (%llu MiB)", n[0], n[1], n[2],
                       (unsigned long long)(nv * sizeof *d >> 20));
    for (int a = 0; a < 3; a++) {
        v->n[a] = n[a];
        v->vox_mm[a] = vox_mm[a];
        v->sform[a][a] = vox_mm[a];
        v->sform[a][3] = origin_mm[a];
    }
    v->data = d;
    return 0;
}

void lf_volume_free(lf_volume *v)
{
    if (!v)
        return;
    free(v->data);
    memset(v, 0, sizeof *v);
}

void lf_volume_voxel_mm(const lf_volume *v, double i, double j, double k, double xyz[3])
{
    for (int a = 0; a < 3; a++)
        xyz[a] = v->sform[a][0] * i + v->sform[a][1] * j + v->sform[a][2] * k + v->sform[a][3];
}

/* ------------------------------------------------------------------ helpers */

static void quiet_nifti(void)
{
    /* debug 0: libnifti2 keeps its own diagnostics to itself (a few hard errors still reach stderr);
     * failures reach callers through lf_error. */
    nifti_set_debug_level(0);
}

/* ".nii.gz", ".nii" or NULL (the only single-file forms lafov writes). */
static const char *nifti_ext(const char *path)
{
    size_t n = strlen(path);
    if (n > 7 && strcmp(path + n - 7, ".nii.gz") == 0)
        return ".nii.gz";
    if (n > 4 && strcmp(path + n - 4, ".nii") == 0)
        return ".nii";
    return NULL;
}

/* Stored value for the on-disk integer types: rounded half away from zero, clamped, NaN -> 0. */
static double clamp_round(double x, double lo, double hi)
{
    if (x != x)
        return 0;
    x = x < 0 ? ceil(x - 0.5) : floor(x + 0.5);
    return x < lo ? lo : x > hi ? hi : x;
}

/* ------------------------------------------------------------------ writing */

static int fill_nim(nifti_image *nim, const lf_volume *v, lf_nifti_type type, const char *intent)
{
    nifti_dmat44 m;
    memset(&m, 0, sizeof m);
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++)
            m.m[r][c] = v->sform[r][c];
    m.m[3][3] = 1;

    /* voxel size = column norms of the sform (the vox_mm field for axis-aligned grids) */
    double d[3];
    for (int c = 0; c < 3; c++) {
        d[c] = sqrt(m.m[0][c] * m.m[0][c] + m.m[1][c] * m.m[1][c] + m.m[2][c] * m.m[2][c]);
        if (!(d[c] > 0))
            d[c] = v->vox_mm[c] > 0 ? v->vox_mm[c] : 1;
    }
    nim->dx = nim->pixdim[1] = d[0];
    nim->dy = nim->pixdim[2] = d[1];
    nim->dz = nim->pixdim[3] = d[2];
    nim->xyz_units = NIFTI_UNITS_MM;
    nim->time_units = NIFTI_UNITS_UNKNOWN;

    nim->sform_code = NIFTI_XFORM_SCANNER_ANAT;
    nim->sto_xyz = m;
    nim->sto_ijk = nifti_dmat44_inverse(m);

    /* qform: the rotation part of the sform (polar decomposition inside the library), same offset */
    nim->qform_code = NIFTI_XFORM_SCANNER_ANAT;
    double qdx, qdy, qdz;
    nifti_dmat44_to_quatern(m, &nim->quatern_b, &nim->quatern_c, &nim->quatern_d, &nim->qoffset_x, &nim->qoffset_y,
                            &nim->qoffset_z, &qdx, &qdy, &qdz, &nim->qfac);
    nim->qto_xyz = nifti_quatern_to_dmat44(nim->quatern_b, nim->quatern_c, nim->quatern_d, nim->qoffset_x,
                                           nim->qoffset_y, nim->qoffset_z, nim->dx, nim->dy, nim->dz, nim->qfac);
    nim->qto_ijk = nifti_dmat44_inverse(nim->qto_xyz);

    nim->scl_slope = 1;
    nim->scl_inter = 0;

    snprintf(nim->descrip, sizeof nim->descrip, "%.79s", v->descrip);
    nim->intent_code = NIFTI_INTENT_NONE;
    if (intent && intent[0]) {
        snprintf(nim->intent_name, sizeof nim->intent_name, "%.15s", intent);
        if (strcmp(intent, "label") == 0)
            nim->intent_code = NIFTI_INTENT_LABEL;
    }

    /* display range: the data range (as stored) */
    size_t nv = (size_t)volume_voxels(v);
    double lo = HUGE_VAL, hi = -HUGE_VAL;
    for (size_t i = 0; i < nv; i++) {
        double x = v->data[i];
        if (x < lo)
            lo = x;
        if (x > hi)
            hi = x;
    }
    if (type == LF_NIFTI_INT16) {
        lo = clamp_round(lo, INT16_MIN, INT16_MAX);
        hi = clamp_round(hi, INT16_MIN, INT16_MAX);
    } else if (type == LF_NIFTI_UINT8) {
        lo = clamp_round(lo, 0, 255);
        hi = clamp_round(hi, 0, 255);
    }
    if (isfinite(lo) && isfinite(hi) && hi > lo && fabs(lo) < FLT_MAX && fabs(hi) < FLT_MAX) {
        nim->cal_min = lo;
        nim->cal_max = hi;
    }
    return 0;
}

/* Converts n voxels starting at src into the on-disk type in buf. */
static void convert_chunk(const float *src, size_t n, lf_nifti_type type, void *buf)
{
    if (type == LF_NIFTI_FLOAT32) {
        memcpy(buf, src, n * sizeof(float));
    } else if (type == LF_NIFTI_INT16) {
        int16_t *o = buf;
        for (size_t i = 0; i < n; i++)
            o[i] = (int16_t)clamp_round(src[i], INT16_MIN, INT16_MAX);
    } else {
        uint8_t *o = buf;
        for (size_t i = 0; i < n; i++)
            o[i] = (uint8_t)clamp_round(src[i], 0, 255);
    }
}

/* Writes the header and the voxels to nim->fname; every step checked. */
static int write_file(nifti_image *nim, const lf_volume *v, lf_nifti_type type, const char *path, lf_error *err)
{
    /* write_opts 2: header (and extender) only, file left open and positioned at the data offset */
    znzFile fp = nifti_image_write_hdr_img2(nim, 2, nifti_is_gzfile(nim->fname) ? LF_NIFTI_GZ_WRITE_MODE : "wb", NULL,
                                            NULL);
    if (znz_isnull(fp))
        return lf_fail(err, "%s: cannot write the NIfTI header to %s", path, nim->fname);
    size_t nv = (size_t)volume_voxels(v);
    size_t per = type == LF_NIFTI_FLOAT32 ? 4 : type == LF_NIFTI_INT16 ? 2 : 1;
    enum { CHUNK = 1 << 16 };
    void *buf = malloc(CHUNK * per);
    if (!buf) {
        znzclose(fp);
        return lf_fail(err, "%s: out of memory for the write buffer", path);
    }
    int rc = 0;
    for (size_t at = 0; at < nv; at += CHUNK) {
        size_t n = nv - at < CHUNK ? nv - at : CHUNK;
        convert_chunk(v->data + at, n, type, buf);
        if (znzwrite(buf, 1, n * per, fp) != n * per) {
            rc = lf_fail(err, "%s: offset %lld: cannot write %zu bytes of voxel data to %s: %s", path,
                         (long long)(nim->iname_offset + (int64_t)(at * per)), n * per, nim->fname,
                         errno ? strerror(errno) : "short write");
            break;
        }
    }
    free(buf);
    errno = 0;
    int crc = znzclose(fp);
    if (rc == 0 && crc != 0)
        rc = lf_fail(err, "%s: cannot finish writing %s (close failed%s%s)", path, nim->fname, errno ? ": " : "",
                     errno ? strerror(errno) : "");
    return rc;
}

int lf_nifti_write(const char *path, const lf_volume *v, lf_nifti_type type, const char *intent, lf_error *err)
{
    if (!path)
        return lf_fail(err, "lf_nifti_write: no path given");
    if (!v || !v->data)
        return lf_fail(err, "%s: lf_nifti_write: no volume data given", path);
    if (type != LF_NIFTI_FLOAT32 && type != LF_NIFTI_INT16 && type != LF_NIFTI_UINT8)
        return lf_fail(err, "%s: unknown on-disk type %d, expected float32, int16 or uint8", path, (int)type);
    const char *ext = nifti_ext(path);
    if (!ext)
        return lf_fail(err, "%s: expected a name ending in .nii or .nii.gz", path);
    if (volume_voxels(v) == 0)
        return lf_fail(err, "%s: volume of %d x %d x %d voxels, expected each size >= 1 and at most 2^31 voxels", path,
                       v->n[0], v->n[1], v->n[2]);
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++)
            if (!isfinite(v->sform[r][c]))
                return lf_fail(err, "%s: sform element [%d][%d] is not finite", path, r, c);
    quiet_nifti();

    /* NAME.tmp.XXXXXX.nii[.gz] beside the target: the library picks compression from the extension */
    size_t plen = strlen(path), elen = strlen(ext);
    char *tmp = malloc(plen + 16);
    if (!tmp)
        return lf_fail(err, "%s: out of memory", path);
    memcpy(tmp, path, plen - elen);
    snprintf(tmp + (plen - elen), 16 + elen, ".tmp.XXXXXX%s", ext);
    int fd = mkstemps(tmp, (int)elen);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return lf_fail(err, "%s: cannot create a temporary file beside it: %s", path, strerror(e));
    }
    if (fchmod(fd, 0644) != 0) {
        /* not fatal: the file keeps mkstemps' 0600 */
    }
    close(fd); /* libnifti2 reopens it by name ("wb": truncated, mode kept) */

    int64_t dims[8] = {3, v->n[0], v->n[1], v->n[2], 1, 1, 1, 1};
    int dt = type == LF_NIFTI_FLOAT32 ? NIFTI_TYPE_FLOAT32
             : type == LF_NIFTI_INT16 ? NIFTI_TYPE_INT16
                                      : NIFTI_TYPE_UINT8;
    nifti_image *nim = nifti_make_new_nim(dims, dt, 0);
    int rc = 0;
    if (!nim) {
        rc = lf_fail(err, "%s: cannot create the NIfTI header (nifti_make_new_nim)", path);
    } else if (nifti_set_filenames(nim, tmp, 0, 1) != 0) {
        rc = lf_fail(err, "%s: libnifti2 refuses the temporary name %s", path, tmp);
    } else {
        nim->nifti_type = NIFTI_FTYPE_NIFTI1_1; /* single file; NIfTI-2 header chosen by the library if needed */
        fill_nim(nim, v, type, intent);
        rc = write_file(nim, v, type, path, err);
    }
    if (nim)
        nifti_image_free(nim);

    if (rc == 0) {
        fd = open(tmp, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fsync(fd) != 0)
            rc = lf_fail(err, "%s: cannot sync %s: %s", path, tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
    }
    if (rc == 0 && rename(tmp, path) != 0)
        rc = lf_fail(err, "%s: cannot move the finished file %s into place: %s", path, tmp, strerror(errno));
    if (rc != 0)
        unlink(tmp);
    free(tmp);
    return rc;
}

/* ------------------------------------------------------------------ reading */

/* Converts nv voxels of the given NIfTI datatype at src to float, applying y = slope * x + inter. */
static int to_float(const void *src, int datatype, size_t nv, double slope, double inter, float *out)
{
#define CONV(T)                                                                                                        \
    do {                                                                                                               \
        const T *s = src;                                                                                              \
        for (size_t i = 0; i < nv; i++)                                                                                \
            out[i] = (float)(slope * (double)s[i] + inter);                                                            \
    } while (0)
    switch (datatype) {
    case NIFTI_TYPE_UINT8: CONV(uint8_t); break;
    case NIFTI_TYPE_INT8: CONV(int8_t); break;
    case NIFTI_TYPE_INT16: CONV(int16_t); break;
    case NIFTI_TYPE_UINT16: CONV(uint16_t); break;
    case NIFTI_TYPE_INT32: CONV(int32_t); break;
    case NIFTI_TYPE_UINT32: CONV(uint32_t); break;
    case NIFTI_TYPE_INT64: CONV(int64_t); break;
    case NIFTI_TYPE_UINT64: CONV(uint64_t); break;
    case NIFTI_TYPE_FLOAT32: CONV(float); break;
    case NIFTI_TYPE_FLOAT64: CONV(double); break;
    default: return -1;
    }
#undef CONV
    return 0;
}

static int datatype_supported(int dt)
{
    switch (dt) {
    case NIFTI_TYPE_UINT8: case NIFTI_TYPE_INT8: case NIFTI_TYPE_INT16: case NIFTI_TYPE_UINT16:
    case NIFTI_TYPE_INT32: case NIFTI_TYPE_UINT32: case NIFTI_TYPE_INT64: case NIFTI_TYPE_UINT64:
    case NIFTI_TYPE_FLOAT32: case NIFTI_TYPE_FLOAT64:
        return 1;
    default:
        return 0;
    }
}

/* The file holding the voxels: the named file itself for single-file NIfTI (never a look-alike the
 * library finds by base name), the header's image file for .hdr/.img pairs. */
static const char *data_file(const char *path, const nifti_image *nim)
{
    if (nim->nifti_type == NIFTI_FTYPE_NIFTI1_1 || nim->nifti_type == NIFTI_FTYPE_NIFTI2_1 || !nim->iname)
        return path;
    return nim->iname;
}

/* Reads nv voxels of nim->nbyper bytes from the data file into buf (native byte order). */
static int read_voxels(const char *path, const nifti_image *nim, uint64_t nv, void *buf, lf_error *err)
{
    const char *name = data_file(path, nim);
    znzFile fp = znzopen(name, "rb", nifti_is_gzfile(name));
    if (znz_isnull(fp))
        return lf_fail(err, "%s: cannot open the data file %s: %s", path, name, strerror(errno));
    int rc = 0;
    if (znzseek(fp, (znz_off_t)nim->iname_offset, SEEK_SET) < 0)
        rc = lf_fail(err, "%s: offset %lld: cannot seek to the voxel data", path, (long long)nim->iname_offset);
    uint64_t total = nv * (uint64_t)nim->nbyper, done = 0;
    while (rc == 0 && done < total) {
        size_t want = total - done > (64u << 20) ? (64u << 20) : (size_t)(total - done);
        size_t got = znzread((char *)buf + done, 1, want, fp);
        if (got != want)
            rc = lf_fail(err,
                         "%s: offset %lld: file ends after %llu of %llu bytes of voxel data (truncated or corrupt)",
                         path, (long long)(nim->iname_offset + (int64_t)(done + got)),
                         (unsigned long long)(done + got), (unsigned long long)total);
        done += got;
    }
    znzclose(fp);
    if (rc == 0 && nim->byteorder != nifti_short_order() && nim->swapsize > 1)
        nifti_swap_Nbytes((int64_t)nv, nim->swapsize, buf);
    return rc;
}

/* Header-level checks before any voxel is allocated. */
static int check_header(const char *path, const nifti_image *nim, uint64_t *nvox, lf_error *err)
{
    if (nim->ndim < 1 || nim->ndim > 7)
        return lf_fail(err, "%s: header dim[0] = %lld, expected 1..7", path, (long long)nim->ndim);
    for (int a = 4; a <= nim->ndim; a++)
        if (nim->dim[a] != 1)
            return lf_fail(err, "%s: header dim[%d] = %lld, expected a single 3-D volume (dims 4..7 equal to 1)",
                           path, a, (long long)nim->dim[a]);
    int64_t n[3] = {1, 1, 1};
    for (int a = 1; a <= 3 && a <= nim->ndim; a++)
        n[a - 1] = nim->dim[a];
    *nvox = voxel_count(n);
    if (*nvox == 0)
        return lf_fail(err, "%s: header dims %lld x %lld x %lld, expected each >= 1 and at most 2^31 voxels in all",
                       path, (long long)n[0], (long long)n[1], (long long)n[2]);
    if (n[0] > INT32_MAX || n[1] > INT32_MAX || n[2] > INT32_MAX)
        return lf_fail(err, "%s: header dims %lld x %lld x %lld, expected each below 2^31", path, (long long)n[0],
                       (long long)n[1], (long long)n[2]);
    if (!datatype_supported(nim->datatype))
        return lf_fail(err, "%s: datatype %d (%s), expected a real scalar type (uint8, int8, int16, uint16, int32, "
                            "uint32, int64, uint64, float32, float64)",
                       path, nim->datatype, nifti_datatype_string(nim->datatype));
    if (nim->nbyper < 1 || nim->nbyper > 8)
        return lf_fail(err, "%s: %d bytes per voxel for datatype %d, expected 1..8", path, nim->nbyper,
                       nim->datatype);
    if (nim->iname_offset < 0)
        return lf_fail(err, "%s: vox_offset %lld, expected >= 0", path, (long long)nim->iname_offset);

    /* The data file must hold the voxels: exactly for uncompressed files; for gzip, within deflate's
     * largest compression ratio (1032:1), so a tiny file cannot make us allocate gigabytes. */
    const char *data_name = data_file(path, nim);
    struct stat st;
    if (stat(data_name, &st) != 0)
        return lf_fail(err, "%s: cannot stat the data file %s: %s", path, data_name, strerror(errno));
    uint64_t need = *nvox * (uint64_t)nim->nbyper;
    uint64_t have = (uint64_t)st.st_size;
    if (nifti_is_gzfile(data_name)) {
        if (need + (uint64_t)nim->iname_offset > have * 1100ull + 4096)
            return lf_fail(err, "%s: header claims %llu voxels (%llu bytes) but the compressed file has only %llu "
                                "bytes, expected a complete image",
                           path, (unsigned long long)*nvox, (unsigned long long)need, (unsigned long long)have);
    } else if (need + (uint64_t)nim->iname_offset > have) {
        return lf_fail(err, "%s: offset %lld: file has %llu bytes, expected %llu bytes of voxel data after the header "
                            "(%llu voxels of %d bytes): truncated?",
                       path, (long long)nim->iname_offset, (unsigned long long)have, (unsigned long long)need,
                       (unsigned long long)*nvox, nim->nbyper);
    }
    return 0;
}

/* Voxel -> scanner mm: sform, else qform, else pixdim (NIfTI method 1 / ANALYZE). */
static int geometry(const char *path, const nifti_image *nim, lf_volume *v, lf_error *err)
{
    memset(v->sform, 0, sizeof v->sform);
    if (nim->sform_code > 0) {
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 4; c++)
                v->sform[r][c] = nim->sto_xyz.m[r][c];
    } else if (nim->qform_code > 0) {
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 4; c++)
                v->sform[r][c] = nim->qto_xyz.m[r][c];
    } else {
        v->sform[0][0] = fabs(nim->dx) > 0 ? fabs(nim->dx) : 1;
        v->sform[1][1] = fabs(nim->dy) > 0 ? fabs(nim->dy) : 1;
        v->sform[2][2] = fabs(nim->dz) > 0 ? fabs(nim->dz) : 1;
    }
    for (int c = 0; c < 3; c++) {
        double s = 0;
        for (int r = 0; r < 3; r++) {
            if (!isfinite(v->sform[r][c]) || !isfinite(v->sform[r][3]))
                return lf_fail(err, "%s: %s has non-finite elements", path,
                               nim->sform_code > 0 ? "sform" : "qform");
            s += v->sform[r][c] * v->sform[r][c];
        }
        v->vox_mm[c] = sqrt(s);
        if (!(v->vox_mm[c] > 0))
            return lf_fail(err, "%s: %s column %d is zero (degenerate voxel-to-mm transform)", path,
                           nim->sform_code > 0 ? "sform" : nim->qform_code > 0 ? "qform" : "pixdim", c);
    }
    return 0;
}

static int file_readable(const char *path, lf_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return lf_fail(err, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return lf_fail(err, "%s: not a regular file, expected a NIfTI image (.nii or .nii.gz)", path);
    if (access(path, R_OK) != 0)
        return lf_fail(err, "%s: cannot read: %s", path, strerror(errno));
    return 0;
}

int lf_nifti_read(const char *path, lf_volume *v, lf_error *err)
{
    if (!path)
        return lf_fail(err, "lf_nifti_read: no path given");
    if (!v)
        return lf_fail(err, "%s: lf_nifti_read: no output volume given", path);
    memset(v, 0, sizeof *v);
    if (file_readable(path, err) != 0)
        return -1;
    quiet_nifti();
    nifti_image *nim = nifti_image_read(path, 0);
    if (!nim)
        return lf_fail(err, "%s: not a readable NIfTI-1/NIfTI-2 header (bad magic, size or dimensions)", path);
    uint64_t nv = 0;
    int rc = check_header(path, nim, &nv, err);
    if (rc == 0)
        rc = geometry(path, nim, v, err);
    void *raw = NULL;
    float *d = NULL;
    if (rc == 0 && (!(raw = malloc((size_t)nv * (size_t)nim->nbyper)) || !(d = malloc((size_t)nv * sizeof *d))))
        rc = lf_fail(err, "%s: out of memory for %llu voxels", path, (unsigned long long)nv);
    if (rc == 0)
        rc = read_voxels(path, nim, nv, raw, err);
    if (rc == 0) {
        double slope = nim->scl_slope, inter = nim->scl_inter;
        if (slope == 0 || !isfinite(slope) || !isfinite(inter)) { /* NIfTI: slope 0 means unscaled */
            slope = 1;
            inter = 0;
        }
        if (to_float(raw, nim->datatype, (size_t)nv, slope, inter, d) != 0)
            rc = lf_fail(err, "%s: datatype %d cannot be converted", path, nim->datatype);
    }
    if (rc == 0) {
        v->n[0] = (int)nim->nx;
        v->n[1] = nim->ndim >= 2 ? (int)nim->ny : 1;
        v->n[2] = nim->ndim >= 3 ? (int)nim->nz : 1;
        v->data = d;
        snprintf(v->descrip, sizeof v->descrip, "%.79s", nim->descrip);
    } else {
        free(d);
        memset(v, 0, sizeof *v);
    }
    free(raw);
    nifti_image_free(nim);
    return rc;
}

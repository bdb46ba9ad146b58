#include "h5.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <hdf5.h>

#include "atomic_file.h"

struct lf_h5w {
    lf_atomic_file af; /* its FILE stays open on the temporary only so commit can fsync and rename it */
    hid_t file;
};

/* ---------------------------------------------------------------- errors */

static herr_t innermost_cb(unsigned n, const H5E_error2_t *e, void *data)
{
    if (n == 0 && e->desc)
        snprintf(data, 200, "%s", e->desc);
    return 0;
}

/* Formats the message and appends HDF5's innermost reason (from the current thread's error stack, so
 * call it right after the failing HDF5 call). Returns -1. */
static int h5_fail(lf_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int h5_fail(lf_error *err, const char *fmt, ...)
{
    char why[200] = "", msg[LF_ERROR_MSG_MAX];
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost_cb, why);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (why[0])
        return lf_fail(err, "%s (HDF5: %s)", msg, why);
    return lf_fail(err, "%s", msg);
}

static void quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

static const char *obj_name(const char *group) { return group && *group ? group : "/"; }

/* File access: strong close (every object really closed when H5Fclose returns, before the rename)
 * and no flock, which some network file systems refuse; lafov's files are private until renamed. */
static hid_t make_fapl(void)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0)
        return fapl;
    H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
#if (H5_VERS_MAJOR == 1 && H5_VERS_MINOR == 10 && H5_VERS_RELEASE >= 7) || H5_VERSION_GE(1, 12, 1)
    H5Pset_file_locking(fapl, 0, 1);
#endif
    return fapl;
}

/* 1 if every component of the link path exists, 0 if one is missing, -1 on error. */
static int path_exists(hid_t file, const char *name)
{
    char buf[1024];
    if (snprintf(buf, sizeof buf, "%s", name) >= (int)sizeof buf)
        return -1;
    if (strcmp(buf, "/") == 0)
        return 1;
    for (char *s = buf + (buf[0] == '/'); ; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            htri_t e = H5Lexists(file, buf, H5P_DEFAULT);
            if (e <= 0)
                return e < 0 ? -1 : 0;
            *s = c;
            if (c == '\0')
                return 1;
        }
    }
}

static int check_name(const char *path, const char *what, const char *name, lf_error *err)
{
    if (!name || !*name)
        return lf_fail(err, "%s: empty %s name", path, what);
    if (strlen(name) >= 1000)
        return lf_fail(err, "%s: %s name '%.40s...' too long (expected under 1000 characters)", path, what, name);
    if (strstr(name, "//") || (strcmp(name, "/") != 0 && name[strlen(name) - 1] == '/'))
        return lf_fail(err, "%s: %s name '%s': expected names separated by single '/'", path, what, name);
    return 0;
}

/* ---------------------------------------------------------------- writing */

int lf_h5w_open(const char *path, lf_h5w **out, lf_error *err)
{
    quiet();
    *out = NULL;
    lf_h5w *w = calloc(1, sizeof *w);
    if (!w)
        return lf_fail(err, "%s: out of memory", path);
    if (!lf_atomic_open(&w->af, path, err)) {
        free(w);
        return -1;
    }
    hid_t fapl = make_fapl();
    w->file = fapl < 0 ? -1 : H5Fcreate(w->af.tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (w->file < 0) {
        h5_fail(err, "%s: cannot create an HDF5 file (temporary %s)", path, w->af.tmp);
        if (fapl >= 0)
            H5Pclose(fapl);
        lf_atomic_abort(&w->af);
        free(w);
        return -1;
    }
    H5Pclose(fapl);
    *out = w;
    return 0;
}

/* Opens the group or dataset `group`, creating missing groups along the way. */
static hid_t open_object(lf_h5w *w, const char *group, lf_error *err)
{
    const char *g = obj_name(group);
    if (check_name(w->af.path, "group", g, err) != 0)
        return -1;
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", g);
    if (strcmp(buf, "/") != 0)
        for (char *s = buf + (buf[0] == '/'); ; s++) {
            if (*s == '/' || *s == '\0') {
                char c = *s;
                *s = '\0';
                htri_t e = H5Lexists(w->file, buf, H5P_DEFAULT);
                if (e < 0)
                    return h5_fail(err, "%s: cannot look up '%s'", w->af.path, buf);
                if (e == 0) {
                    hid_t gid = H5Gcreate2(w->file, buf, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
                    if (gid < 0)
                        return h5_fail(err, "%s: cannot create group '%s'", w->af.path, buf);
                    H5Gclose(gid);
                }
                *s = c;
                if (c == '\0')
                    break;
            }
        }
    hid_t obj = H5Oopen(w->file, g, H5P_DEFAULT);
    if (obj < 0)
        return h5_fail(err, "%s: cannot open '%s'", w->af.path, g);
    return obj;
}

/* Writes (replacing) attribute key on obj from mem (in memory type mtype). */
static int put_attr(lf_h5w *w, hid_t obj, const char *objn, const char *key, hid_t ftype, hid_t mtype, hid_t space,
                    const void *mem, lf_error *err)
{
    if (!key || !*key)
        return lf_fail(err, "%s: empty attribute name on '%s'", w->af.path, objn);
    htri_t e = H5Aexists(obj, key);
    if (e < 0)
        return h5_fail(err, "%s: cannot look up attribute '%s' on '%s'", w->af.path, key, objn);
    if (e > 0 && H5Adelete(obj, key) < 0)
        return h5_fail(err, "%s: cannot replace attribute '%s' on '%s'", w->af.path, key, objn);
    hid_t a = H5Acreate2(obj, key, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0)
        return h5_fail(err, "%s: cannot create attribute '%s' on '%s'", w->af.path, key, objn);
    herr_t rc = H5Awrite(a, mtype, mem);
    if (rc < 0)
        h5_fail(err, "%s: cannot write attribute '%s' on '%s'", w->af.path, key, objn);
    H5Aclose(a);
    return rc < 0 ? -1 : 0;
}

static int put_str(lf_h5w *w, hid_t obj, const char *objn, const char *key, const char *value, lf_error *err)
{
    if (!value)
        return lf_fail(err, "%s: attribute '%s' on '%s': NULL string", w->af.path, key ? key : "", objn);
    hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR);
    int rc = -1;
    if (t < 0 || sp < 0 || H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0)
        h5_fail(err, "%s: cannot make a string type for '%s'", w->af.path, key ? key : "");
    else
        rc = put_attr(w, obj, objn, key, t, t, sp, &value, err);
    if (t >= 0)
        H5Tclose(t);
    if (sp >= 0)
        H5Sclose(sp);
    return rc;
}

static int put_nums(lf_h5w *w, hid_t obj, const char *objn, const char *key, const double *v, int n, int scalar,
                    lf_error *err)
{
    if (n < 1 || !v)
        return lf_fail(err, "%s: attribute '%s' on '%s': expected at least one number, got %d", w->af.path,
                       key ? key : "", objn, n);
    hsize_t dim = (hsize_t)n;
    hid_t sp = scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dim, NULL);
    if (sp < 0)
        return h5_fail(err, "%s: cannot make a dataspace for '%s'", w->af.path, key ? key : "");
    int rc = put_attr(w, obj, objn, key, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, sp, v, err);
    H5Sclose(sp);
    return rc;
}

int lf_h5w_attr_str(lf_h5w *w, const char *group, const char *key, const char *value, lf_error *err)
{
    quiet();
    hid_t obj = open_object(w, group, err);
    if (obj < 0)
        return -1;
    int rc = put_str(w, obj, obj_name(group), key, value, err);
    H5Oclose(obj);
    return rc;
}

int lf_h5w_attr_num(lf_h5w *w, const char *group, const char *key, double value, lf_error *err)
{
    quiet();
    hid_t obj = open_object(w, group, err);
    if (obj < 0)
        return -1;
    int rc = put_nums(w, obj, obj_name(group), key, &value, 1, 1, err);
    H5Oclose(obj);
    return rc;
}

int lf_h5w_attr_nums(lf_h5w *w, const char *group, const char *key, const double *v, int n, lf_error *err)
{
    quiet();
    hid_t obj = open_object(w, group, err);
    if (obj < 0)
        return -1;
    int rc = put_nums(w, obj, obj_name(group), key, v, n, 0, err);
    H5Oclose(obj);
    return rc;
}

int lf_h5w_volume(lf_h5w *w, const char *name, const lf_volume *v, const char *units, lf_error *err)
{
    quiet();
    const char *path = w->af.path;
    if (check_name(path, "dataset", name, err) != 0)
        return -1;
    if (!v || !v->data || v->n[0] < 1 || v->n[1] < 1 || v->n[2] < 1)
        return lf_fail(err, "%s: dataset '%s': expected a volume with data", path, name);
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++) {
            double s = v->sform[a][b];
            if (a == b ? !(s > 0) || fabs(s - v->vox_mm[a]) > 1e-6 * v->vox_mm[a] : fabs(s) > 1e-9 * v->vox_mm[a])
                return lf_fail(err,
                               "%s: dataset '%s': expected an axis-aligned grid (diagonal sform with positive voxel "
                               "sizes), sform row %d is (%g, %g, %g)",
                               path, name, a, v->sform[a][0], v->sform[a][1], v->sform[a][2]);
        }
    if ((uint64_t)v->n[0] * (uint64_t)v->n[1] * sizeof(float) >= (1ULL << 32))
        return lf_fail(err, "%s: dataset '%s': a %d x %d slice exceeds HDF5's 4 GiB chunk limit", path, name, v->n[0],
                       v->n[1]);
    int e = path_exists(w->file, name);
    if (e != 0)
        return e < 0 ? h5_fail(err, "%s: cannot look up '%s'", path, name)
                     : lf_fail(err, "%s: dataset '%s' already written", path, name);
    if (H5Zfilter_avail(H5Z_FILTER_DEFLATE) <= 0)
        return lf_fail(err, "%s: dataset '%s': this HDF5 library has no gzip (deflate) filter", path, name);

    hsize_t dims[3] = {(hsize_t)v->n[2], (hsize_t)v->n[1], (hsize_t)v->n[0]};
    hsize_t chunk[3] = {1, dims[1], dims[2]};
    hid_t sp = H5Screate_simple(3, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    hid_t ds = -1;
    int rc = -1;
    if (sp < 0 || dcpl < 0 || lcpl < 0 || H5Pset_chunk(dcpl, 3, chunk) < 0 || H5Pset_shuffle(dcpl) < 0 ||
        H5Pset_deflate(dcpl, 4) < 0 || H5Pset_create_intermediate_group(lcpl, 1) < 0) {
        h5_fail(err, "%s: dataset '%s': cannot set up a chunked gzip layout", path, name);
        goto done;
    }
    ds = H5Dcreate2(w->file, name, H5T_IEEE_F32LE, sp, lcpl, dcpl, H5P_DEFAULT);
    if (ds < 0) {
        h5_fail(err, "%s: cannot create dataset '%s'", path, name);
        goto done;
    }
    if (H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v->data) < 0) {
        h5_fail(err, "%s: cannot write dataset '%s' (%d x %d x %d)", path, name, v->n[0], v->n[1], v->n[2]);
        goto done;
    }
    double origin[3] = {v->sform[0][3], v->sform[1][3], v->sform[2][3]};
    if (put_nums(w, ds, name, "voxel_mm", v->vox_mm, 3, 0, err) != 0 ||
        put_nums(w, ds, name, "origin_mm", origin, 3, 0, err) != 0 ||
        (units && put_str(w, ds, name, "units", units, err) != 0))
        goto done;
    rc = 0;
done:
    if (ds >= 0)
        H5Dclose(ds);
    if (sp >= 0)
        H5Sclose(sp);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (lcpl >= 0)
        H5Pclose(lcpl);
    return rc;
}

int lf_h5w_commit(lf_h5w *w, lf_error *err)
{
    quiet();
    if (!w)
        return lf_fail(err, "lf_h5w_commit: no writer");
    herr_t c = H5Fclose(w->file);
    w->file = -1;
    int rc;
    if (c < 0) {
        rc = h5_fail(err, "%s: cannot finish the HDF5 file", w->af.path);
        lf_atomic_abort(&w->af);
    } else {
        rc = lf_atomic_commit(&w->af, err); /* fsync (same inode HDF5 wrote) and rename */
    }
    free(w);
    return rc;
}

void lf_h5w_abort(lf_h5w *w)
{
    if (!w)
        return;
    quiet();
    if (w->file >= 0)
        H5Fclose(w->file);
    lf_atomic_abort(&w->af);
    free(w);
}

/* ---------------------------------------------------------------- reading */

static hid_t open_read(const char *path, lf_error *err)
{
    quiet();
    struct stat st;
    if (stat(path, &st) != 0) {
        lf_fail(err, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    hid_t fapl = make_fapl();
    hid_t f = fapl < 0 ? -1 : H5Fopen(path, H5F_ACC_RDONLY, fapl);
    if (f < 0)
        h5_fail(err, "%s: cannot open as an HDF5 file", path);
    if (fapl >= 0)
        H5Pclose(fapl);
    return f;
}

/* Opens object `name` (a group or dataset) of an open file, with a clear message when missing. */
static hid_t open_existing(hid_t f, const char *path, const char *what, const char *name, lf_error *err)
{
    if (check_name(path, what, name, err) != 0)
        return -1;
    int e = path_exists(f, name);
    if (e <= 0) {
        if (e < 0)
            h5_fail(err, "%s: cannot look up %s '%s'", path, what, name);
        else
            lf_fail(err, "%s: no %s '%s' in the file", path, what, name);
        return -1;
    }
    hid_t o = H5Oopen(f, name, H5P_DEFAULT);
    if (o < 0)
        h5_fail(err, "%s: cannot open %s '%s'", path, what, name);
    return o;
}

static hid_t open_attr(hid_t obj, const char *path, const char *objn, const char *key, lf_error *err)
{
    if (!key || !*key) {
        lf_fail(err, "%s: empty attribute name on '%s'", path, objn);
        return -1;
    }
    htri_t e = H5Aexists(obj, key);
    if (e <= 0) {
        if (e < 0)
            h5_fail(err, "%s: cannot look up attribute '%s' on '%s'", path, key, objn);
        else
            lf_fail(err, "%s: no attribute '%s' on '%s'", path, key, objn);
        return -1;
    }
    hid_t a = H5Aopen(obj, key, H5P_DEFAULT);
    if (a < 0)
        h5_fail(err, "%s: cannot open attribute '%s' on '%s'", path, key, objn);
    return a;
}

/* Reads a numeric attribute of obj into out[cap]; *n gets its number of values. */
static int get_nums(hid_t obj, const char *path, const char *objn, const char *key, double *out, int cap, int *n,
                    lf_error *err)
{
    hid_t a = open_attr(obj, path, objn, key, err);
    if (a < 0)
        return -1;
    int rc = -1;
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
    H5T_class_t cls = t < 0 ? H5T_NO_CLASS : H5Tget_class(t);
    hssize_t np = sp < 0 ? -1 : H5Sget_simple_extent_npoints(sp);
    if (cls != H5T_INTEGER && cls != H5T_FLOAT)
        lf_fail(err, "%s: attribute '%s' on '%s': expected numbers", path, key, objn);
    else if (np < 1 || np > cap)
        lf_fail(err, "%s: attribute '%s' on '%s': expected %s%d value%s, found %lld", path, key, objn,
                cap > 1 ? "1 to " : "", cap, cap > 1 ? "s" : "", (long long)np);
    else if (H5Aread(a, H5T_NATIVE_DOUBLE, out) < 0)
        h5_fail(err, "%s: cannot read attribute '%s' on '%s'", path, key, objn);
    else {
        *n = (int)np;
        rc = 0;
    }
    if (t >= 0)
        H5Tclose(t);
    if (sp >= 0)
        H5Sclose(sp);
    H5Aclose(a);
    return rc;
}

static int get_str(hid_t obj, const char *path, const char *objn, const char *key, char *out, size_t cap,
                   lf_error *err)
{
    hid_t a = open_attr(obj, path, objn, key, err);
    if (a < 0)
        return -1;
    int rc = -1;
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a), mt = -1;
    hssize_t np = sp < 0 ? -1 : H5Sget_simple_extent_npoints(sp);
    if (t < 0 || H5Tget_class(t) != H5T_STRING || np != 1) {
        lf_fail(err, "%s: attribute '%s' on '%s': expected one string", path, key, objn);
        goto done;
    }
    mt = H5Tcopy(H5T_C_S1);
    if (mt < 0)
        goto hdf_fail;
    if (H5Tis_variable_str(t) > 0) {
        char *s = NULL;
        if (H5Tset_size(mt, H5T_VARIABLE) < 0 || H5Tset_cset(mt, H5Tget_cset(t)) < 0 || H5Aread(a, mt, &s) < 0)
            goto hdf_fail;
        size_t len = s ? strlen(s) : 0;
        if (len < cap)
            memcpy(out, s ? s : "", len + 1);
        if (s)
            H5free_memory(s);
        if (len >= cap) {
            lf_fail(err, "%s: attribute '%s' on '%s': %zu characters, expected at most %zu", path, key, objn, len,
                    cap ? cap - 1 : 0);
            goto done;
        }
    } else {
        size_t sz = H5Tget_size(t);
        char *buf = malloc(sz + 1);
        if (!buf) {
            lf_fail(err, "%s: attribute '%s' on '%s': out of memory", path, key, objn);
            goto done;
        }
        if (H5Tset_size(mt, sz + 1) < 0 || H5Tset_strpad(mt, H5T_STR_NULLTERM) < 0 ||
            H5Tset_cset(mt, H5Tget_cset(t)) < 0 || H5Aread(a, mt, buf) < 0) {
            free(buf);
            goto hdf_fail;
        }
        buf[sz] = '\0';
        size_t len = strlen(buf);
        if (len >= cap) {
            free(buf);
            lf_fail(err, "%s: attribute '%s' on '%s': %zu characters, expected at most %zu", path, key, objn, len,
                    cap ? cap - 1 : 0);
            goto done;
        }
        memcpy(out, buf, len + 1);
        free(buf);
    }
    rc = 0;
    goto done;
hdf_fail:
    h5_fail(err, "%s: cannot read attribute '%s' on '%s'", path, key, objn);
done:
    if (mt >= 0)
        H5Tclose(mt);
    if (t >= 0)
        H5Tclose(t);
    if (sp >= 0)
        H5Sclose(sp);
    H5Aclose(a);
    return rc;
}

int lf_h5_read_attr_str(const char *path, const char *group, const char *key, char *out, size_t cap, lf_error *err)
{
    hid_t f = open_read(path, err);
    if (f < 0)
        return -1;
    hid_t o = open_existing(f, path, "group", obj_name(group), err);
    int rc = o < 0 ? -1 : get_str(o, path, obj_name(group), key, out, cap, err);
    if (o >= 0)
        H5Oclose(o);
    H5Fclose(f);
    return rc;
}

int lf_h5_read_attr_nums(const char *path, const char *group, const char *key, double *out, int cap, int *n,
                         lf_error *err)
{
    hid_t f = open_read(path, err);
    if (f < 0)
        return -1;
    hid_t o = open_existing(f, path, "group", obj_name(group), err);
    int rc = o < 0 ? -1 : get_nums(o, path, obj_name(group), key, out, cap, n, err);
    if (o >= 0)
        H5Oclose(o);
    H5Fclose(f);
    return rc;
}

int lf_h5_read_attr_num(const char *path, const char *group, const char *key, double *out, lf_error *err)
{
    int n;
    return lf_h5_read_attr_nums(path, group, key, out, 1, &n, err);
}

int lf_h5_read_volume(const char *path, const char *name, lf_volume *v, lf_error *err)
{
    memset(v, 0, sizeof *v);
    hid_t f = open_read(path, err);
    if (f < 0)
        return -1;
    int rc = -1;
    hid_t ds = -1, sp = -1, t = -1;
    hid_t o = open_existing(f, path, "dataset", name, err);
    if (o < 0)
        goto done;
    H5I_type_t ot = H5Iget_type(o);
    H5Oclose(o);
    if (ot != H5I_DATASET) {
        lf_fail(err, "%s: '%s' is %s, expected a dataset", path, name, ot == H5I_GROUP ? "a group" : "not a dataset");
        goto done;
    }
    ds = H5Dopen2(f, name, H5P_DEFAULT);
    if (ds < 0) {
        h5_fail(err, "%s: cannot open dataset '%s'", path, name);
        goto done;
    }
    sp = H5Dget_space(ds);
    t = H5Dget_type(ds);
    hsize_t dims[3];
    int rank = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
    H5T_class_t cls = t < 0 ? H5T_NO_CLASS : H5Tget_class(t);
    if (rank != 3) {
        lf_fail(err, "%s: dataset '%s' has %d dimensions, expected 3 ([nz][ny][nx])", path, name, rank);
        goto done;
    }
    if (cls != H5T_FLOAT && cls != H5T_INTEGER) {
        lf_fail(err, "%s: dataset '%s': expected integer or float values", path, name);
        goto done;
    }
    H5Sget_simple_extent_dims(sp, dims, NULL);
    if (dims[0] > INT_MAX || dims[1] > INT_MAX || dims[2] > INT_MAX) {
        lf_fail(err, "%s: dataset '%s' of %llu x %llu x %llu is too large", path, name, (unsigned long long)dims[0],
                (unsigned long long)dims[1], (unsigned long long)dims[2]);
        goto done;
    }
    double vox[3], origin[3];
    int nv, no;
    if (get_nums(ds, path, name, "voxel_mm", vox, 3, &nv, err) != 0 ||
        get_nums(ds, path, name, "origin_mm", origin, 3, &no, err) != 0)
        goto done;
    if (nv != 3 || no != 3) {
        lf_fail(err, "%s: dataset '%s': expected 3 values in voxel_mm and origin_mm, found %d and %d", path, name, nv,
                no);
        goto done;
    }
    int n[3] = {(int)dims[2], (int)dims[1], (int)dims[0]};
    if (lf_volume_alloc(v, n, vox, origin, err) != 0) {
        lf_fail_prefix(err, "%s: dataset '%s'", path, name);
        goto done;
    }
    if (H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v->data) < 0) {
        h5_fail(err, "%s: cannot read dataset '%s'", path, name);
        lf_volume_free(v);
        goto done;
    }
    rc = 0;
done:
    if (t >= 0)
        H5Tclose(t);
    if (sp >= 0)
        H5Sclose(sp);
    if (ds >= 0)
        H5Dclose(ds);
    H5Fclose(f);
    return rc;
}

/* Tests for io/h5.c: volume and attribute round trips (root, nested and dataset attributes), the
 * on-disk layout (float32, [nz][ny][nx], slice chunks, gzip), clear errors (missing dataset, group,
 * attribute, file; not HDF5; duplicate dataset; tilted grid), HDF5 staying silent, abort leaving
 * nothing behind and commit replacing an existing file atomically. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#include <hdf5.h>

#include "io/h5.h"

static char g_dir[4096];

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "%s", tu_tmpdir());
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree(g_dir);
    return 0;
}

static const char *path_of(const char *name)
{
    static char p[4200];
    snprintf(p, sizeof p, "%s/%s", g_dir, name);
    return p;
}

static int dir_entries(void)
{
    DIR *d = opendir(g_dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static void make_volume(lf_volume *v)
{
    lf_error err = {{0}};
    int n[3] = {7, 5, 4};
    double vox[3] = {0.9765625, 1.25, 3.0}, origin[3] = {-249.51171875, -10.5, -561.25};
    assert_int_equal(lf_volume_alloc(v, n, vox, origin, &err), 0);
    for (int q = 0; q < 7 * 5 * 4; q++)
        v->data[q] = (float)(q * 0.37 - 11.0);
}


static void write_result(const char *path, const char *version)
{
    lf_error err = {{0}};
    lf_h5w *w;
    lf_volume v;
    make_volume(&v);
    if (lf_h5w_open(path, &w, &err) != 0 || lf_h5w_volume(w, "image", &v, "Bq/mL", &err) != 0 ||
        lf_h5w_attr_str(w, "/", "version", version, &err) != 0 || lf_h5w_commit(w, &err) != 0)
        fail_msg("%s", err.msg);
    lf_volume_free(&v);
}

static void test_round_trip(void **state)
{
    (void)state;
    lf_error err = {{0}};
    const char *path = path_of("recon.h5");
    lf_volume v, r;
    make_volume(&v);
    lf_h5w *w = NULL;
    assert_int_equal(lf_h5w_open(path, &w, &err), 0);
    assert_int_equal(lf_h5w_volume(w, "image", &v, "Bq/mL", &err), 0);
    assert_int_equal(lf_h5w_volume(w, "frames/f00", &v, NULL, &err), 0);
    assert_int_equal(lf_h5w_attr_str(w, NULL, "software", "lafov 0.1.0", &err), 0);
    assert_int_equal(lf_h5w_attr_str(w, "parameters", "algorithm", "OSEM", &err), 0);
    assert_int_equal(lf_h5w_attr_num(w, "parameters", "iterations", 4, &err), 0);
    assert_int_equal(lf_h5w_attr_num(w, "parameters/corrections", "scatter_scale", 1.0625, &err), 0);
    double psf[3] = {4.5, 4.5, 5.25};
    assert_int_equal(lf_h5w_attr_nums(w, "parameters", "psf_fwhm_mm", psf, 3, &err), 0);
    assert_int_equal(lf_h5w_attr_str(w, "image", "frame", "0-600 s", &err), 0);
    assert_int_equal(lf_h5w_attr_str(w, "parameters", "algorithm", "OSEM-TOF (é)", &err), 0); /* replaced */
    /* nothing under the final name until commit */
    struct stat st;
    assert_int_not_equal(stat(path, &st), 0);
    assert_int_equal(lf_h5w_commit(w, &err), 0);
    assert_int_equal(dir_entries(), 1);

    assert_int_equal(lf_h5_read_volume(path, "image", &r, &err), 0);
    for (int a = 0; a < 3; a++) {
        assert_int_equal(r.n[a], v.n[a]);
        assert_true(r.vox_mm[a] == v.vox_mm[a]);
        for (int c = 0; c < 4; c++)
            assert_true(r.sform[a][c] == v.sform[a][c]);
    }
    assert_memory_equal(r.data, v.data, sizeof(float) * 140);
    lf_volume_free(&r);
    assert_int_equal(lf_h5_read_volume(path, "frames/f00", &r, &err), 0);
    assert_memory_equal(r.data, v.data, sizeof(float) * 140);
    lf_volume_free(&r);

    char s[64];
    double x, nums[4];
    int n = 0;
    assert_int_equal(lf_h5_read_attr_str(path, "/", "software", s, sizeof s, &err), 0);
    assert_string_equal(s, "lafov 0.1.0");
    assert_int_equal(lf_h5_read_attr_str(path, "parameters", "algorithm", s, sizeof s, &err), 0);
    assert_string_equal(s, "OSEM-TOF (é)");
    assert_int_equal(lf_h5_read_attr_str(path, "image", "units", s, sizeof s, &err), 0);
    assert_string_equal(s, "Bq/mL");
    assert_int_equal(lf_h5_read_attr_str(path, "image", "frame", s, sizeof s, &err), 0);
    assert_string_equal(s, "0-600 s");
    assert_int_equal(lf_h5_read_attr_num(path, "parameters", "iterations", &x, &err), 0);
    assert_true(x == 4);
    assert_int_equal(lf_h5_read_attr_num(path, "parameters/corrections", "scatter_scale", &x, &err), 0);
    assert_true(x == 1.0625);
    assert_int_equal(lf_h5_read_attr_nums(path, "parameters", "psf_fwhm_mm", nums, 4, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_true(nums[0] == 4.5 && nums[1] == 4.5 && nums[2] == 5.25);
    assert_int_equal(lf_h5_read_attr_nums(path, "image", "origin_mm", nums, 3, &n, &err), 0);
    assert_true(nums[0] == -249.51171875 && nums[1] == -10.5 && nums[2] == -561.25);
    assert_int_equal(lf_h5_read_attr_nums(path, "image", "voxel_mm", nums, 3, &n, &err), 0);
    assert_true(nums[0] == 0.9765625 && nums[1] == 1.25 && nums[2] == 3.0);
    /* a string that does not fit, a vector read as one number */
    assert_int_equal(lf_h5_read_attr_str(path, "/", "software", s, 5, &err), -1);
    assert_true(tu_contains(err.msg, "software"));
    assert_int_equal(lf_h5_read_attr_num(path, "parameters", "psf_fwhm_mm", &x, &err), -1);
    assert_true(tu_contains(err.msg, "psf_fwhm_mm") && tu_contains(err.msg, "found 3"));
    assert_int_equal(lf_h5_read_attr_num(path, "parameters", "algorithm", &x, &err), -1);
    assert_true(tu_contains(err.msg, "expected numbers"));
    assert_int_equal(lf_h5_read_attr_str(path, "parameters", "iterations", s, sizeof s, &err), -1);
    assert_true(tu_contains(err.msg, "expected one string"));
    lf_volume_free(&v);
}

/* The layout other tools see: float32 [nz][ny][nx], one z slice per chunk, gzip. */
static void test_layout(void **state)
{
    (void)state;
    const char *path = path_of("layout.h5");
    write_result(path, "1");
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t ds = H5Dopen2(f, "image", H5P_DEFAULT);
    assert_true(ds >= 0);
    hid_t sp = H5Dget_space(ds), t = H5Dget_type(ds), dcpl = H5Dget_create_plist(ds);
    hsize_t dims[3], chunk[3];
    assert_int_equal(H5Sget_simple_extent_ndims(sp), 3);
    H5Sget_simple_extent_dims(sp, dims, NULL);
    assert_true(dims[0] == 4 && dims[1] == 5 && dims[2] == 7);
    assert_true(H5Tequal(t, H5T_IEEE_F32LE) > 0);
    assert_int_equal(H5Pget_layout(dcpl), H5D_CHUNKED);
    assert_int_equal(H5Pget_chunk(dcpl, 3, chunk), 3);
    assert_true(chunk[0] == 1 && chunk[1] == 5 && chunk[2] == 7);
    int gzip = 0;
    for (int i = 0; i < H5Pget_nfilters(dcpl); i++) {
        unsigned flags, cd[4];
        size_t ncd = 4;
        if (H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cd, 0, NULL, NULL) == H5Z_FILTER_DEFLATE)
            gzip = 1;
    }
    assert_true(gzip);
    /* element [k=2][j=3][i=6] is lf_volume voxel (6, 3, 2) */
    float all[140];
    assert_true(H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, all) >= 0);
    int q = 6 + 7 * (3 + 5 * 2);
    assert_true(all[(2 * 5 + 3) * 7 + 6] == (float)(q * 0.37 - 11.0));
    H5Pclose(dcpl);
    H5Tclose(t);
    H5Sclose(sp);
    H5Dclose(ds);
    H5Fclose(f);
}

static void test_errors(void **state)
{
    (void)state;
    lf_error err = {{0}};
    char path[4200];
    snprintf(path, sizeof path, "%s", path_of("r.h5"));
    write_result(path, "1");
    lf_volume r;
    char s[64];
    double x;

    /* HDF5 must not print its error stack: catch anything written to stderr */
    char errpath[4200];
    snprintf(errpath, sizeof errpath, "%s/stderr.txt", g_dir);
    fflush(stderr);
    int saved = dup(2), fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);

    int rc_missing = lf_h5_read_volume(path, "imgae", &r, &err);
    char msg_missing[LF_ERROR_MSG_MAX];
    snprintf(msg_missing, sizeof msg_missing, "%s", err.msg);
    int rc_nested = lf_h5_read_volume(path, "frames/f01", &r, &err);
    char msg_nested[LF_ERROR_MSG_MAX];
    snprintf(msg_nested, sizeof msg_nested, "%s", err.msg);
    int rc_attr = lf_h5_read_attr_str(path, "parameters", "algorithm", s, sizeof s, &err);
    char msg_attr[LF_ERROR_MSG_MAX];
    snprintf(msg_attr, sizeof msg_attr, "%s", err.msg);
    int rc_key = lf_h5_read_attr_num(path, "image", "scale", &x, &err);
    char msg_key[LF_ERROR_MSG_MAX];
    snprintf(msg_key, sizeof msg_key, "%s", err.msg);
    tu_write_text(path_of("not.h5"), "this is not an HDF5 file\n");
    int rc_not = lf_h5_read_volume(path_of("not.h5"), "image", &r, &err);
    char msg_not[LF_ERROR_MSG_MAX];
    snprintf(msg_not, sizeof msg_not, "%s", err.msg);

    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    struct stat st;
    assert_int_equal(stat(errpath, &st), 0);
    assert_int_equal((int)st.st_size, 0);
    unlink(errpath);
    unlink(path_of("not.h5"));

    assert_int_equal(rc_missing, -1);
    assert_true(tu_contains(msg_missing, path) && tu_contains(msg_missing, "no dataset 'imgae'"));
    assert_int_equal(rc_nested, -1);
    assert_true(tu_contains(msg_nested, "no dataset 'frames/f01'"));
    assert_int_equal(rc_attr, -1);
    assert_true(tu_contains(msg_attr, "no group 'parameters'"));
    assert_int_equal(rc_key, -1);
    assert_true(tu_contains(msg_key, "no attribute 'scale' on 'image'"));
    assert_int_equal(rc_not, -1);
    assert_true(tu_contains(msg_not, "not.h5") && tu_contains(msg_not, "HDF5"));
    assert_null(r.data);

    assert_int_equal(lf_h5_read_volume(path_of("absent.h5"), "image", &r, &err), -1);
    assert_true(tu_contains(err.msg, "absent.h5") && tu_contains(err.msg, "No such file"));
    assert_int_equal(lf_h5_read_volume(path, "/", &r, &err), -1);
    assert_true(tu_contains(err.msg, "expected a dataset"));

    /* writer errors: duplicate dataset, tilted grid, missing folder */
    lf_h5w *w;
    lf_volume v;
    make_volume(&v);
    assert_int_equal(lf_h5w_open(path_of("w.h5"), &w, &err), 0);
    assert_int_equal(lf_h5w_volume(w, "image", &v, "Bq/mL", &err), 0);
    assert_int_equal(lf_h5w_volume(w, "image", &v, "Bq/mL", &err), -1);
    assert_true(tu_contains(err.msg, "w.h5") && tu_contains(err.msg, "'image' already written"));
    v.sform[0][1] = 0.5;
    assert_int_equal(lf_h5w_volume(w, "tilted", &v, NULL, &err), -1);
    assert_true(tu_contains(err.msg, "'tilted'") && tu_contains(err.msg, "axis-aligned"));
    assert_int_equal(lf_h5w_attr_num(w, "image", "", 1, &err), -1);
    assert_true(tu_contains(err.msg, "empty attribute name"));
    assert_int_equal(lf_h5w_attr_num(w, "parameters//x", "k", 1, &err), -1);
    assert_true(tu_contains(err.msg, "parameters//x"));
    lf_h5w_abort(w);
    lf_volume_free(&v);
    assert_int_equal(lf_h5w_open(path_of("no/such/dir/x.h5"), &w, &err), -1);
    assert_true(tu_contains(err.msg, "no/such/dir/x.h5"));
    assert_null(w);
    assert_int_equal(dir_entries(), 1); /* r.h5 */
}

static void test_abort_leaves_nothing(void **state)
{
    (void)state;
    lf_error err = {{0}};
    lf_h5w *w;
    lf_volume v;
    make_volume(&v);
    assert_int_equal(lf_h5w_open(path_of("gone.h5"), &w, &err), 0);
    assert_int_equal(lf_h5w_volume(w, "image", &v, "Bq/mL", &err), 0);
    assert_int_equal(lf_h5w_attr_num(w, "parameters", "iterations", 3, &err), 0);
    assert_int_equal(dir_entries(), 1); /* the temporary */
    lf_h5w_abort(w);
    assert_int_equal(dir_entries(), 0);
    lf_h5w_abort(NULL);

    /* aborting a rewrite keeps the previous file intact */
    const char *path = path_of("keep.h5");
    write_result(path, "1");
    assert_int_equal(lf_h5w_open(path, &w, &err), 0);
    assert_int_equal(lf_h5w_attr_str(w, "/", "version", "2", &err), 0);
    lf_h5w_abort(w);
    char s[16];
    assert_int_equal(lf_h5_read_attr_str(path, "/", "version", s, sizeof s, &err), 0);
    assert_string_equal(s, "1");
    assert_int_equal(dir_entries(), 1);
    lf_volume_free(&v);
}

static void test_commit_replaces(void **state)
{
    (void)state;
    lf_error err = {{0}};
    const char *path = path_of("result.h5");
    write_result(path, "1");
    struct stat st1, st2;
    assert_int_equal(stat(path, &st1), 0);

    lf_h5w *w;
    assert_int_equal(lf_h5w_open(path, &w, &err), 0);
    assert_int_equal(lf_h5w_attr_str(w, "/", "version", "2", &err), 0);
    /* while the new one is being written, the old one is still whole and readable */
    char s[16];
    assert_int_equal(lf_h5_read_attr_str(path, "/", "version", s, sizeof s, &err), 0);
    assert_string_equal(s, "1");
    lf_volume r;
    assert_int_equal(lf_h5_read_volume(path, "image", &r, &err), 0);
    lf_volume_free(&r);
    assert_int_equal(dir_entries(), 2);
    assert_int_equal(lf_h5w_commit(w, &err), 0);

    assert_int_equal(dir_entries(), 1);
    assert_int_equal(stat(path, &st2), 0);
    assert_true(st1.st_ino != st2.st_ino); /* renamed over, not rewritten in place */
    assert_int_equal(lf_h5_read_attr_str(path, "/", "version", s, sizeof s, &err), 0);
    assert_string_equal(s, "2");
    /* the new file has only what the second writer put there */
    assert_int_equal(lf_h5_read_volume(path, "image", &r, &err), -1);
    assert_true(tu_contains(err.msg, "no dataset 'image'"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abort_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_replaces, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

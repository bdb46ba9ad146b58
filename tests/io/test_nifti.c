/* Tests for io/nifti.c: round trips (float32, int16, uint8; .nii and .nii.gz), geometry and descrip,
 * files written by libnifti2 itself (other datatypes, scl_slope, qform only), errors on bad input. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#include <nifti2_io.h>

#include "io/nifti.h"

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

/* Number of entries in the test folder (leftover temporaries show up here). */
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

/* A 7 x 5 x 4 volume with an odd origin and a pattern of values spanning negatives and fractions. */
static void make_volume(lf_volume *v, double scale)
{
    lf_error err = {{0}};
    int n[3] = {7, 5, 4};
    double vox[3] = {0.9765625, 1.25, 3.0}, origin[3] = {-249.51171875, -10.5, -561.25};
    assert_int_equal(lf_volume_alloc(v, n, vox, origin, &err), 0);
    for (int k = 0, q = 0; k < n[2]; k++)
        for (int j = 0; j < n[1]; j++)
            for (int i = 0; i < n[0]; i++, q++)
                v->data[q] = (float)(scale * ((i * 13 + j * 7 + k * 31) % 50 - 20) + 0.25 * (q % 3));
    snprintf(v->descrip, sizeof v->descrip, "kvp=120 test volume");
}

static void assert_geometry_equal(const lf_volume *a, const lf_volume *b)
{
    for (int i = 0; i < 3; i++) {
        assert_int_equal(a->n[i], b->n[i]);
        assert_true(fabs(a->vox_mm[i] - b->vox_mm[i]) < 1e-5);
        for (int c = 0; c < 4; c++)
            assert_true(fabs(a->sform[i][c] - b->sform[i][c]) < 1e-4);
    }
}

static void round_trip(const char *name, lf_nifti_type type, double scale)
{
    lf_error err = {{0}};
    lf_volume v, r;
    make_volume(&v, scale);
    const char *p = path_of(name);
    char path[4200];
    snprintf(path, sizeof path, "%s", p);
    int rc = lf_nifti_write(path, &v, type, "HU", &err);
    if (rc != 0)
        fail_msg("%s", err.msg);
    rc = lf_nifti_read(path, &r, &err);
    if (rc != 0)
        fail_msg("%s", err.msg);
    assert_geometry_equal(&v, &r);
    assert_string_equal(r.descrip, "kvp=120 test volume");
    size_t nv = (size_t)v.n[0] * v.n[1] * v.n[2];
    for (size_t q = 0; q < nv; q++) {
        double want = v.data[q];
        if (type == LF_NIFTI_INT16) {
            want = want < 0 ? ceil(want - 0.5) : floor(want + 0.5);
            want = want < -32768 ? -32768 : want > 32767 ? 32767 : want;
        } else if (type == LF_NIFTI_UINT8) {
            want = want < 0 ? ceil(want - 0.5) : floor(want + 0.5);
            want = want < 0 ? 0 : want > 255 ? 255 : want;
        }
        if (r.data[q] != (float)want)
            fail_msg("%s voxel %zu: read %g, expected %g (written %g)", name, q, (double)r.data[q], want,
                     (double)v.data[q]);
    }
    /* gzip where asked, and the file is NIfTI-1 with scanner-anatomical sform and qform, mm units */
    nifti_image *nim = nifti_image_read(path, 0);
    assert_non_null(nim);
    assert_int_equal(nim->sform_code, NIFTI_XFORM_SCANNER_ANAT);
    assert_int_equal(nim->qform_code, NIFTI_XFORM_SCANNER_ANAT);
    assert_int_equal(nim->xyz_units, NIFTI_UNITS_MM);
    assert_int_equal(nim->nifti_type, NIFTI_FTYPE_NIFTI1_1);
    for (int a = 0; a < 3; a++)
        for (int c = 0; c < 4; c++)
            assert_true(fabs(nim->qto_xyz.m[a][c] - v.sform[a][c]) < 1e-4); /* qform consistent with the sform */
    assert_string_equal(nim->intent_name, "HU");
    nifti_image_free(nim);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char magic[2] = {0, 0};
    assert_int_equal(fread(magic, 1, 2, f), 2);
    fclose(f);
    int gz = strstr(name, ".gz") != NULL;
    assert_int_equal(magic[0] == 0x1f && magic[1] == 0x8b, gz);
    lf_volume_free(&v);
    lf_volume_free(&r);
}

static void test_round_trip_float(void **state)
{
    (void)state;
    round_trip("f.nii", LF_NIFTI_FLOAT32, 1.0);
    round_trip("f.nii.gz", LF_NIFTI_FLOAT32, 1.0);
    assert_int_equal(dir_entries(), 2); /* no temporaries left */
}

static void test_round_trip_int16(void **state)
{
    (void)state;
    round_trip("s.nii", LF_NIFTI_INT16, 1.0);
    round_trip("s.nii.gz", LF_NIFTI_INT16, 2000.0); /* clamps at +-32767/-32768 */
}

static void test_round_trip_uint8(void **state)
{
    (void)state;
    round_trip("u.nii", LF_NIFTI_UINT8, 1.0); /* negatives clamp to 0 */
    round_trip("u.nii.gz", LF_NIFTI_UINT8, 10.0);
}

static void test_overwrite_keeps_name(void **state)
{
    (void)state;
    lf_error err = {{0}};
    lf_volume v, r;
    make_volume(&v, 1.0);
    char p[4200];
    snprintf(p, sizeof p, "%s", path_of("o.nii.gz"));
    assert_int_equal(lf_nifti_write(p, &v, LF_NIFTI_FLOAT32, NULL, &err), 0);
    v.data[0] = 1234.5f;
    assert_int_equal(lf_nifti_write(p, &v, LF_NIFTI_FLOAT32, NULL, &err), 0);
    assert_int_equal(lf_nifti_read(p, &r, &err), 0);
    assert_true(r.data[0] == 1234.5f);
    assert_int_equal(dir_entries(), 1);
    lf_volume_free(&r);

    /* a bad name or folder: error naming the path, nothing created */
    assert_int_equal(lf_nifti_write(path_of("x.img"), &v, LF_NIFTI_FLOAT32, NULL, &err), -1);
    assert_true(tu_contains(err.msg, "x.img"));
    snprintf(p, sizeof p, "%s/no/such/dir/y.nii", g_dir);
    assert_int_equal(lf_nifti_write(p, &v, LF_NIFTI_FLOAT32, NULL, &err), -1);
    assert_true(tu_contains(err.msg, "no/such/dir/y.nii"));
    assert_int_equal(dir_entries(), 1);
    lf_volume_free(&v);
}

/* Files made with libnifti2 directly: every input datatype, scl_slope/inter, qform-only geometry. */
static void write_with_lib(const char *path, int dt, double slope, double inter, int use_sform)
{
    int64_t dims[8] = {3, 4, 3, 2, 1, 1, 1, 1};
    nifti_image *nim = nifti_make_new_nim(dims, dt, 1);
    assert_non_null(nim);
    assert_int_equal(nifti_set_filenames(nim, path, 0, 1), 0);
    nim->nifti_type = NIFTI_FTYPE_NIFTI1_1;
    for (int q = 0; q < 24; q++) {
        int x = q * 5 % 23;
        switch (dt) {
        case NIFTI_TYPE_UINT8: ((uint8_t *)nim->data)[q] = (uint8_t)x; break;
        case NIFTI_TYPE_INT16: ((int16_t *)nim->data)[q] = (int16_t)(x - 11); break;
        case NIFTI_TYPE_INT32: ((int32_t *)nim->data)[q] = x * 100000; break;
        case NIFTI_TYPE_FLOAT32: ((float *)nim->data)[q] = (float)x * 0.5f; break;
        case NIFTI_TYPE_FLOAT64: ((double *)nim->data)[q] = x * 0.125; break;
        }
    }
    nim->scl_slope = slope;
    nim->scl_inter = inter;
    nim->dx = nim->pixdim[1] = 2;
    nim->dy = nim->pixdim[2] = 3;
    nim->dz = nim->pixdim[3] = 4;
    if (use_sform) {
        nim->sform_code = NIFTI_XFORM_SCANNER_ANAT;
        memset(&nim->sto_xyz, 0, sizeof nim->sto_xyz);
        nim->sto_xyz.m[0][0] = 2;
        nim->sto_xyz.m[1][1] = 3;
        nim->sto_xyz.m[2][2] = 4;
        nim->sto_xyz.m[0][3] = 10;
        nim->sto_xyz.m[1][3] = 20;
        nim->sto_xyz.m[2][3] = 30;
        nim->sto_xyz.m[3][3] = 1;
        /* a qform that disagrees: the sform must win */
        nim->qform_code = NIFTI_XFORM_SCANNER_ANAT;
        nim->qoffset_x = -1;
    } else {
        nim->sform_code = 0;
        nim->qform_code = NIFTI_XFORM_SCANNER_ANAT;
        nim->quatern_b = nim->quatern_c = nim->quatern_d = 0;
        nim->qfac = 1;
        nim->qoffset_x = -5;
        nim->qoffset_y = 6;
        nim->qoffset_z = 7;
    }
    nifti_image_write(nim);
    nifti_image_free(nim);
}

static void test_other_datatypes_and_scaling(void **state)
{
    (void)state;
    const struct {
        int dt;
        double slope, inter;
    } cases[] = {{NIFTI_TYPE_UINT8, 2.0, -5.0},
                 {NIFTI_TYPE_INT16, 1.0, -1024.0},
                 {NIFTI_TYPE_INT32, 0.001, 0.0},
                 {NIFTI_TYPE_FLOAT32, 0.0, 99.0}, /* slope 0: unscaled, intercept ignored */
                 {NIFTI_TYPE_FLOAT64, 1.0, 0.0}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char p[4200];
        snprintf(p, sizeof p, "%s/lib%zu.nii%s", g_dir, c, c % 2 ? ".gz" : "");
        write_with_lib(p, cases[c].dt, cases[c].slope, cases[c].inter, 1);
        lf_error err = {{0}};
        lf_volume r;
        if (lf_nifti_read(p, &r, &err) != 0)
            fail_msg("%s", err.msg);
        assert_int_equal(r.n[0], 4);
        assert_int_equal(r.n[1], 3);
        assert_int_equal(r.n[2], 2);
        assert_true(r.sform[0][3] == 10 && r.sform[1][3] == 20 && r.sform[2][3] == 30);
        assert_true(r.vox_mm[0] == 2 && r.vox_mm[1] == 3 && r.vox_mm[2] == 4);
        for (int q = 0; q < 24; q++) {
            int x = q * 5 % 23;
            double raw = cases[c].dt == NIFTI_TYPE_UINT8   ? x
                         : cases[c].dt == NIFTI_TYPE_INT16 ? x - 11
                         : cases[c].dt == NIFTI_TYPE_INT32 ? x * 100000.0
                         : cases[c].dt == NIFTI_TYPE_FLOAT32 ? x * 0.5
                                                             : x * 0.125;
            double want = cases[c].slope != 0 ? cases[c].slope * raw + cases[c].inter : raw;
            if (fabs(r.data[q] - want) > 1e-4 * (1 + fabs(want)))
                fail_msg("datatype %d voxel %d: %g, expected %g", cases[c].dt, q, (double)r.data[q], want);
        }
        lf_volume_free(&r);
    }
}

static void test_qform_only(void **state)
{
    (void)state;
    char p[4200];
    snprintf(p, sizeof p, "%s", path_of("q.nii"));
    write_with_lib(p, NIFTI_TYPE_FLOAT32, 1, 0, 0);
    lf_error err = {{0}};
    lf_volume r;
    assert_int_equal(lf_nifti_read(p, &r, &err), 0);
    double want[3][4] = {{2, 0, 0, -5}, {0, 3, 0, 6}, {0, 0, 4, 7}};
    for (int a = 0; a < 3; a++)
        for (int c = 0; c < 4; c++)
            assert_true(fabs(r.sform[a][c] - want[a][c]) < 1e-5);
    double xyz[3];
    lf_volume_voxel_mm(&r, 1, 1, 1, xyz);
    assert_true(fabs(xyz[0] + 3) < 1e-5 && fabs(xyz[1] - 9) < 1e-5 && fabs(xyz[2] - 11) < 1e-5);
    lf_volume_free(&r);
}

static void test_unreadable_and_corrupt(void **state)
{
    (void)state;
    lf_error err = {{0}};
    lf_volume r;
    /* missing */
    assert_int_equal(lf_nifti_read(path_of("missing.nii"), &r, &err), -1);
    assert_true(tu_contains(err.msg, "missing.nii"));
    assert_null(r.data);
    /* garbage */
    char garbage[1000];
    for (size_t i = 0; i < sizeof garbage; i++)
        garbage[i] = (char)(i * 37 + 11);
    char p[4200];
    snprintf(p, sizeof p, "%s", path_of("garbage.nii"));
    tu_write_file(p, garbage, sizeof garbage);
    assert_int_equal(lf_nifti_read(p, &r, &err), -1);
    assert_true(tu_contains(err.msg, "garbage.nii"));
    /* a good header with its data cut short */
    lf_volume v;
    make_volume(&v, 1.0);
    snprintf(p, sizeof p, "%s", path_of("short.nii"));
    assert_int_equal(lf_nifti_write(p, &v, LF_NIFTI_FLOAT32, NULL, &err), 0);
    assert_int_equal(truncate(p, 352 + 100), 0);
    assert_int_equal(lf_nifti_read(p, &r, &err), -1);
    assert_true(tu_contains(err.msg, "short.nii"));
    assert_true(tu_contains(err.msg, "truncated"));
    /* the same in gzip: the compressed stream ends early */
    snprintf(p, sizeof p, "%s", path_of("short.nii.gz"));
    assert_int_equal(lf_nifti_write(p, &v, LF_NIFTI_FLOAT32, NULL, &err), 0);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(truncate(p, st.st_size / 2), 0);
    assert_int_equal(lf_nifti_read(p, &r, &err), -1);
    assert_true(tu_contains(err.msg, "short.nii.gz"));
    /* a folder */
    assert_int_equal(lf_nifti_read(g_dir, &r, &err), -1);
    assert_true(tu_contains(err.msg, g_dir));
    lf_volume_free(&v);
}

/* A header claiming 30000^3 voxels (2.7e13) over 8 bytes of data: refused before any allocation. */
static void test_absurd_dimensions(void **state)
{
    (void)state;
    nifti_1_header h;
    memset(&h, 0, sizeof h);
    h.sizeof_hdr = 348;
    h.dim[0] = 3;
    h.dim[1] = h.dim[2] = h.dim[3] = 30000;
    h.dim[4] = h.dim[5] = h.dim[6] = h.dim[7] = 1;
    h.datatype = NIFTI_TYPE_FLOAT32;
    h.bitpix = 32;
    h.pixdim[1] = h.pixdim[2] = h.pixdim[3] = 1;
    h.vox_offset = 352;
    memcpy(h.magic, "n+1", 4);
    unsigned char buf[348 + 4 + 8];
    memset(buf, 0, sizeof buf);
    memcpy(buf, &h, 348);
    char p[4200];
    snprintf(p, sizeof p, "%s", path_of("huge.nii"));
    tu_write_file(p, buf, sizeof buf);
    lf_error err = {{0}};
    lf_volume r;
    assert_int_equal(lf_nifti_read(p, &r, &err), -1);
    assert_true(tu_contains(err.msg, "huge.nii"));
    assert_true(tu_contains(err.msg, "2^31"));
    /* 1000^3 = 1e9 voxels fits the limit but not the 8 bytes on disk */
    h.dim[1] = h.dim[2] = h.dim[3] = 1000;
    memcpy(buf, &h, 348);
    tu_write_file(p, buf, sizeof buf);
    assert_int_equal(lf_nifti_read(p, &r, &err), -1);
    assert_true(tu_contains(err.msg, "huge.nii"));
    assert_true(tu_contains(err.msg, "truncated"));
    /* four volumes: not a single 3-D image */
    h.dim[0] = 4;
    h.dim[1] = h.dim[2] = h.dim[3] = 1;
    h.dim[4] = 4;
    memcpy(buf, &h, 348);
    tu_write_file(p, buf, sizeof buf);
    assert_int_equal(lf_nifti_read(p, &r, &err), -1);
    assert_true(tu_contains(err.msg, "dim[4]"));
}

/* X.nii and X.nii.gz side by side hold different images: each name reads its own file (libnifti2's
 * own loader would take X.nii's voxels for X.nii.gz). */
static void test_look_alike_names(void **state)
{
    (void)state;
    lf_error err = {{0}};
    lf_volume a, b, r;
    make_volume(&a, 1.0);
    make_volume(&b, 3.0);
    char pn[4200], pz[4200];
    snprintf(pn, sizeof pn, "%s", path_of("same.nii"));
    snprintf(pz, sizeof pz, "%s", path_of("same.nii.gz"));
    assert_int_equal(lf_nifti_write(pn, &a, LF_NIFTI_FLOAT32, NULL, &err), 0);
    assert_int_equal(lf_nifti_write(pz, &b, LF_NIFTI_FLOAT32, NULL, &err), 0);
    assert_int_equal(lf_nifti_read(pz, &r, &err), 0);
    assert_memory_equal(r.data, b.data, 140 * sizeof(float));
    lf_volume_free(&r);
    assert_int_equal(lf_nifti_read(pn, &r, &err), 0);
    assert_memory_equal(r.data, a.data, 140 * sizeof(float));
    lf_volume_free(&r);
    lf_volume_free(&a);
    lf_volume_free(&b);
}

/* A big-endian NIfTI-1 file (header and voxels byte-swapped), as written on other machines. */
static void swap_bytes(void *p, size_t n)
{
    unsigned char *c = p;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned char t = c[i];
        c[i] = c[n - 1 - i];
        c[n - 1 - i] = t;
    }
}

static void test_big_endian(void **state)
{
    (void)state;
    nifti_1_header h;
    memset(&h, 0, sizeof h);
    h.sizeof_hdr = 348;
    h.dim[0] = 3;
    h.dim[1] = 4;
    h.dim[2] = 3;
    h.dim[3] = 2;
    h.dim[4] = h.dim[5] = h.dim[6] = h.dim[7] = 1;
    h.datatype = NIFTI_TYPE_INT16;
    h.bitpix = 16;
    h.pixdim[1] = h.pixdim[2] = h.pixdim[3] = 1.5f;
    h.vox_offset = 352;
    h.scl_slope = 0.5f;
    h.scl_inter = 1.0f;
    h.sform_code = NIFTI_XFORM_SCANNER_ANAT;
    h.srow_x[0] = 1.5f;
    h.srow_y[1] = 1.5f;
    h.srow_z[2] = 1.5f;
    h.srow_x[3] = -3;
    h.srow_y[3] = 4;
    h.srow_z[3] = 5;
    memcpy(h.magic, "n+1", 4);
    swap_nifti_header(&h, 1);
    unsigned char buf[352 + 48];
    memset(buf, 0, sizeof buf);
    memcpy(buf, &h, 348);
    for (int q = 0; q < 24; q++) {
        int16_t x = (int16_t)(q * 300 - 3000);
        swap_bytes(&x, 2);
        memcpy(buf + 352 + 2 * q, &x, 2);
    }
    char p[4200];
    snprintf(p, sizeof p, "%s", path_of("be.nii"));
    tu_write_file(p, buf, sizeof buf);
    lf_error err = {{0}};
    lf_volume r;
    if (lf_nifti_read(p, &r, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(r.n[0], 4);
    assert_true(r.sform[0][3] == -3 && r.sform[1][3] == 4 && r.sform[2][3] == 5 && r.vox_mm[2] == 1.5);
    for (int q = 0; q < 24; q++)
        assert_true(r.data[q] == (float)(0.5 * (q * 300 - 3000) + 1));
    lf_volume_free(&r);
}

static void test_volume_alloc(void **state)
{
    (void)state;
    lf_error err = {{0}};
    lf_volume v;
    int bad[3] = {70000, 70000, 1};
    double vox[3] = {1, 1, 1}, o[3] = {0, 0, 0};
    assert_int_equal(lf_volume_alloc(&v, bad, vox, o, &err), -1);
    assert_null(v.data);
    int zero[3] = {4, 0, 4};
    assert_int_equal(lf_volume_alloc(&v, zero, vox, o, &err), -1);
    int ok[3] = {3, 4, 5};
    double vox2[3] = {2, 3, 4}, o2[3] = {1, 2, 3};
    assert_int_equal(lf_volume_alloc(&v, ok, vox2, o2, &err), 0);
    double x[3];
    lf_volume_voxel_mm(&v, 2, 3, 4, x);
    assert_true(x[0] == 5 && x[1] == 11 && x[2] == 19);
    for (int q = 0; q < 60; q++)
        assert_true(v.data[q] == 0);
    lf_volume_free(&v);
    assert_null(v.data);
    lf_volume_free(&v); /* twice is harmless */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip_float, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip_int16, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip_uint8, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overwrite_keeps_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_datatypes_and_scaling, setup, teardown),
        cmocka_unit_test_setup_teardown(test_qform_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreadable_and_corrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_absurd_dimensions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_look_alike_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_big_endian, setup, teardown),
        cmocka_unit_test(test_volume_alloc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

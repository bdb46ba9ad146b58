/* Tests for io/dicom_ct.cpp: a small CT series written and read back (HU, geometry, KVP/Exposure, names),
 * any file order, foreign files ignored, inconsistent series refused, atomic replacement of a folder. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#include "io/dicom_ct.h"

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

static void sub(char *out, size_t cap, const char *name) { snprintf(out, cap, "%s/%s", g_dir, name); }

static double pattern(int i, int j, int k, double shift)
{
    /* spans air (noisy, below -1024), soft tissue, bone; fractional values to test rounding */
    return -1100.0 + fmod(i * 97.3 + j * 41.7 + k * 311.1, 2400.0) + shift;
}

static void make_ct(lf_volume *v, double shift)
{
    lf_error err = {{0}};
    int n[3] = {32, 24, 5};
    double vox[3] = {0.9765625, 1.25, 3.0}; /* dx != dy: PixelSpacing lists dy first */
    double origin[3] = {-15.13671875, -11.23046875, -123.5};
    assert_int_equal(lf_volume_alloc(v, n, vox, origin, &err), 0);
    for (int k = 0, q = 0; k < n[2]; k++)
        for (int j = 0; j < n[1]; j++)
            for (int i = 0; i < n[0]; i++, q++)
                v->data[q] = (float)pattern(i, j, k, shift);
}

static lf_ct_info make_info(void)
{
    lf_ct_info info;
    memset(&info, 0, sizeof info);
    info.kvp = 120;
    info.exposure_mas = 25;
    snprintf(info.patient_name, sizeof info.patient_name, "LAFOV^IEC");
    snprintf(info.description, sizeof info.description, "lafov simulated 25 mAs CT");
    return info;
}

static void assert_same(const lf_volume *a, const lf_volume *b)
{
    for (int i = 0; i < 3; i++) {
        assert_int_equal(a->n[i], b->n[i]);
        assert_true(fabs(a->vox_mm[i] - b->vox_mm[i]) < 1e-6);
        for (int c = 0; c < 4; c++)
            if (fabs(a->sform[i][c] - b->sform[i][c]) > 1e-6)
                fail_msg("sform[%d][%d]: read %.9g, expected %.9g", i, c, b->sform[i][c], a->sform[i][c]);
    }
    size_t n = (size_t)a->n[0] * a->n[1] * a->n[2];
    for (size_t q = 0; q < n; q++)
        if (fabs((double)a->data[q] - b->data[q]) > 0.5)
            fail_msg("voxel %zu: read %g HU, expected %g", q, (double)b->data[q], (double)a->data[q]);
}

static int count_dcm(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".dcm"))
            n++;
    closedir(d);
    return n;
}

/* Entries of the test folder other than `keep` (leftover temporaries or set-aside folders). */
static int others_beside(const char *keep)
{
    DIR *d = opendir(g_dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, keep))
            n++;
    closedir(d);
    return n;
}

static void copy_file(const char *from, const char *to)
{
    FILE *f = fopen(from, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    tu_write_file(to, b, (size_t)n);
    free(b);
}

static void test_round_trip(void **state)
{
    (void)state;
    lf_error err = {{0}};
    lf_volume v, r;
    make_ct(&v, 0.0);
    lf_ct_info info = make_info(), got;
    char dir[4200];
    sub(dir, sizeof dir, "ct");
    if (lf_dicom_ct_write(dir, &v, &info, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(count_dcm(dir), 5);
    assert_int_equal(others_beside("ct"), 0);
    if (lf_dicom_ct_read(dir, &r, &got, &err) != 0)
        fail_msg("%s", err.msg);
    assert_same(&v, &r);
    assert_true(got.kvp == 120);
    assert_true(got.exposure_mas == 25);
    assert_string_equal(got.patient_name, "LAFOV^IEC");
    assert_string_equal(got.description, "lafov simulated 25 mAs CT");
    assert_string_equal(r.descrip, "kvp=120");
    /* position of slice k = sform of voxel (0,0,k) */
    double xyz[3];
    lf_volume_voxel_mm(&r, 0, 0, 4, xyz);
    assert_true(fabs(xyz[0] + 15.13671875) < 1e-6 && fabs(xyz[1] + 11.23046875) < 1e-6 && fabs(xyz[2] + 111.5) < 1e-6);
    lf_volume_free(&r);

    /* any file order: swap the names of the first and last slices; a foreign file is ignored */
    char a[4300], b[4300], t[4300];
    snprintf(a, sizeof a, "%s/CT0001.dcm", dir);
    snprintf(b, sizeof b, "%s/CT0005.dcm", dir);
    snprintf(t, sizeof t, "%s/tmp.dcm", dir);
    assert_int_equal(rename(a, t), 0);
    assert_int_equal(rename(b, a), 0);
    assert_int_equal(rename(t, b), 0);
    snprintf(t, sizeof t, "%s/README.txt", dir);
    tu_write_text(t, "not DICOM\n");
    if (lf_dicom_ct_read(dir, &r, NULL, &err) != 0)
        fail_msg("%s", err.msg);
    assert_same(&v, &r);
    lf_volume_free(&r);
    lf_volume_free(&v);
}

static void test_non_integer_exposure(void **state)
{
    (void)state;
    lf_error err = {{0}};
    lf_volume v, r;
    make_ct(&v, 0.0);
    lf_ct_info info = make_info(), got;
    info.kvp = 100;
    info.exposure_mas = 12.5; /* Exposure (IS) says 13; ExposureInuAs keeps 12500 */
    char dir[4200];
    sub(dir, sizeof dir, "ct");
    assert_int_equal(lf_dicom_ct_write(dir, &v, &info, &err), 0);
    assert_int_equal(lf_dicom_ct_read(dir, &r, &got, &err), 0);
    assert_true(got.kvp == 100);
    assert_true(fabs(got.exposure_mas - 12.5) < 1e-9);
    lf_volume_free(&r);
    lf_volume_free(&v);
}

static void test_atomic_replacement(void **state)
{
    (void)state;
    lf_error err = {{0}};
    lf_volume v1, v2, r;
    make_ct(&v1, 0.0);
    make_ct(&v2, 7.0);
    lf_ct_info info = make_info();
    char dir[4200];
    sub(dir, sizeof dir, "ct");
    assert_int_equal(lf_dicom_ct_write(dir, &v1, &info, &err), 0);

    /* replaced by a series of 3 slices: exactly the new files, no leftovers beside it */
    v2.n[2] = 3;
    if (lf_dicom_ct_write(dir, &v2, &info, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(count_dcm(dir), 3);
    assert_int_equal(others_beside("ct"), 0);
    assert_int_equal(lf_dicom_ct_read(dir, &r, NULL, &err), 0);
    assert_same(&v2, &r);
    lf_volume_free(&r);

    /* a failing write (a NaN voxel) leaves the existing series as it was */
    v1.data[100] = NAN;
    assert_int_equal(lf_dicom_ct_write(dir, &v1, &info, &err), -1);
    assert_true(tu_contains(err.msg, dir));
    assert_int_equal(count_dcm(dir), 3);
    assert_int_equal(others_beside("ct"), 0);
    assert_int_equal(lf_dicom_ct_read(dir, &r, NULL, &err), 0);
    assert_same(&v2, &r);
    lf_volume_free(&r);
    v1.data[100] = 0;

    /* a folder that holds more than a series is not replaced */
    char note[4300];
    snprintf(note, sizeof note, "%s/notes.txt", dir);
    tu_write_text(note, "keep me\n");
    assert_int_equal(lf_dicom_ct_write(dir, &v1, &info, &err), -1);
    assert_true(tu_contains(err.msg, "notes.txt"));
    assert_int_equal(access(note, R_OK), 0);
    assert_int_equal(count_dcm(dir), 3);
    assert_int_equal(others_beside("ct"), 0);

    /* a plain file under the target name is not replaced either */
    char file[4200];
    sub(file, sizeof file, "plain");
    tu_write_text(file, "x");
    assert_int_equal(lf_dicom_ct_write(file, &v1, &info, &err), -1);
    assert_true(tu_contains(err.msg, "plain"));
    lf_volume_free(&v1);
    lf_volume_free(&v2);
}

static void test_read_errors(void **state)
{
    (void)state;
    lf_error err = {{0}};
    lf_volume v, w, r;
    char dir[4200], other[4200], empty[4200];
    sub(dir, sizeof dir, "ct");
    sub(other, sizeof other, "small");
    sub(empty, sizeof empty, "empty");

    /* missing folder, empty folder, folder of non-CT files */
    assert_int_equal(lf_dicom_ct_read(dir, &r, NULL, &err), -1);
    assert_true(tu_contains(err.msg, dir));
    assert_int_equal(mkdir(empty, 0755), 0);
    assert_int_equal(lf_dicom_ct_read(empty, &r, NULL, &err), -1);
    assert_true(tu_contains(err.msg, empty));
    char junk[4300];
    snprintf(junk, sizeof junk, "%s/junk.dcm", empty);
    tu_write_text(junk, "DICM? no\n");
    assert_int_equal(lf_dicom_ct_read(empty, &r, NULL, &err), -1);
    assert_true(tu_contains(err.msg, "junk.dcm"));

    /* a slice of another size from another series: refused, naming the file */
    lf_ct_info info = make_info();
    make_ct(&v, 0.0);
    assert_int_equal(lf_dicom_ct_write(dir, &v, &info, &err), 0);
    lf_error e2 = {{0}};
    int n[3] = {16, 24, 2};
    double vox[3] = {1, 1, 3}, o[3] = {0, 0, 0};
    assert_int_equal(lf_volume_alloc(&w, n, vox, o, &e2), 0);
    assert_int_equal(lf_dicom_ct_write(other, &w, &info, &err), 0);
    char from[4300], to[4300];
    snprintf(from, sizeof from, "%s/CT0001.dcm", other);
    snprintf(to, sizeof to, "%s/CT9999.dcm", dir);
    copy_file(from, to);
    assert_int_equal(lf_dicom_ct_read(dir, &r, NULL, &err), -1);
    assert_true(tu_contains(err.msg, "CT9999.dcm"));
    assert_null(r.data);

    /* a duplicated slice (same series, same position) */
    unlink(to);
    snprintf(from, sizeof from, "%s/CT0003.dcm", dir);
    snprintf(to, sizeof to, "%s/CT0003-copy.dcm", dir);
    copy_file(from, to);
    assert_int_equal(lf_dicom_ct_read(dir, &r, NULL, &err), -1);
    if (!tu_contains(err.msg, "CT0003"))
        fail_msg("%s", err.msg);

    /* a missing slice in the middle: uneven spacing */
    unlink(to);
    unlink(from);
    assert_int_equal(lf_dicom_ct_read(dir, &r, NULL, &err), -1);
    assert_true(tu_contains(err.msg, "evenly spaced"));
    lf_volume_free(&v);
    lf_volume_free(&w);
}

/* ---- a vendor-style series assembled byte by byte (explicit VR little endian): 12-bit unsigned pixels
 * with Rescale Intercept -1024, a Pixel Padding Value, slices stored head to feet (z decreasing with the
 * instance number), tube-current modulation (Exposure varies per slice), and a localizer to skip. */
typedef struct {
    unsigned char *b;
    size_t n, cap;
} bytes;

static void put(bytes *o, const void *p, size_t n)
{
    if (o->n + n > o->cap) {
        o->cap = (o->n + n) * 2 + 256;
        o->b = realloc(o->b, o->cap);
        assert_non_null(o->b);
    }
    memcpy(o->b + o->n, p, n);
    o->n += n;
}

static void u16(bytes *o, unsigned v)
{
    unsigned char c[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
    put(o, c, 2);
}

static void u32(bytes *o, unsigned long v)
{
    unsigned char c[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16), (unsigned char)(v >> 24)};
    put(o, c, 4);
}

/* one element; values padded to even length (UI with NUL, other strings with a space) */
static void el(bytes *o, unsigned g, unsigned e, const char *vr, const void *val, size_t len)
{
    u16(o, g);
    u16(o, e);
    put(o, vr, 2);
    size_t padded = len + (len & 1);
    int long_form = !strcmp(vr, "OB") || !strcmp(vr, "OW") || !strcmp(vr, "UN") || !strcmp(vr, "SQ");
    if (long_form) {
        u16(o, 0);
        u32(o, (unsigned long)padded);
    } else {
        u16(o, (unsigned)padded);
    }
    put(o, val, len);
    if (len & 1) {
        unsigned char pad = strcmp(vr, "UI") == 0 || strcmp(vr, "OB") == 0 ? 0 : ' ';
        put(o, &pad, 1);
    }
}

static void str(bytes *o, unsigned g, unsigned e, const char *vr, const char *v) { el(o, g, e, vr, v, strlen(v)); }

static void us(bytes *o, unsigned g, unsigned e, unsigned v)
{
    unsigned char c[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
    el(o, g, e, "US", c, 2);
}

static void vendor_slice(const char *path, int inst, double z, int rows, int cols, int localizer, const char *series,
                         const uint16_t *pix, double mas)
{
    char buf[128];
    bytes meta = {0}, ds = {0}, f = {0};
    static const char *CT = "1.2.840.10008.5.1.4.1.1.2";
    char sop[64];
    snprintf(sop, sizeof sop, "1.2.826.0.1.3680043.9.9999.%d%s", inst, localizer ? ".1" : "");
    unsigned char ver[2] = {0, 1};
    el(&meta, 0x0002, 0x0001, "OB", ver, 2);
    str(&meta, 0x0002, 0x0002, "UI", CT);
    str(&meta, 0x0002, 0x0003, "UI", sop);
    str(&meta, 0x0002, 0x0010, "UI", "1.2.840.10008.1.2.1");

    str(&ds, 0x0008, 0x0008, "CS", localizer ? "ORIGINAL\\PRIMARY\\LOCALIZER" : "ORIGINAL\\PRIMARY\\AXIAL");
    str(&ds, 0x0008, 0x0016, "UI", CT);
    str(&ds, 0x0008, 0x0018, "UI", sop);
    str(&ds, 0x0008, 0x0060, "CS", "CT");
    str(&ds, 0x0010, 0x0010, "PN", "DOE^JANE");
    str(&ds, 0x0018, 0x0050, "DS", "2");
    str(&ds, 0x0018, 0x0060, "DS", "100");
    snprintf(buf, sizeof buf, "%.0f", mas);
    str(&ds, 0x0018, 0x1152, "IS", buf);
    str(&ds, 0x0018, 0x5100, "CS", "HFS");
    str(&ds, 0x0020, 0x000E, "UI", series);
    snprintf(buf, sizeof buf, "%d", inst);
    str(&ds, 0x0020, 0x0013, "IS", buf);
    snprintf(buf, sizeof buf, "-120.5\\-90.25\\%g", z);
    str(&ds, 0x0020, 0x0032, "DS", buf);
    str(&ds, 0x0020, 0x0037, "DS", "1\\0\\0\\0\\1\\0");
    us(&ds, 0x0028, 0x0002, 1);
    str(&ds, 0x0028, 0x0004, "CS", "MONOCHROME2");
    us(&ds, 0x0028, 0x0010, (unsigned)rows);
    us(&ds, 0x0028, 0x0011, (unsigned)cols);
    str(&ds, 0x0028, 0x0030, "DS", "1.5\\0.75");
    us(&ds, 0x0028, 0x0100, 16);
    us(&ds, 0x0028, 0x0101, 12);
    us(&ds, 0x0028, 0x0102, 11);
    us(&ds, 0x0028, 0x0103, 0);
    us(&ds, 0x0028, 0x0120, 4095); /* Pixel Padding Value */
    str(&ds, 0x0028, 0x1052, "DS", "-1024");
    str(&ds, 0x0028, 0x1053, "DS", "1");
    el(&ds, 0x7FE0, 0x0010, "OW", pix, (size_t)rows * cols * 2);

    unsigned char pre[128] = {0};
    put(&f, pre, 128);
    put(&f, "DICM", 4);
    unsigned char gl[4] = {(unsigned char)meta.n, (unsigned char)(meta.n >> 8), (unsigned char)(meta.n >> 16),
                           (unsigned char)(meta.n >> 24)};
    el(&f, 0x0002, 0x0000, "UL", gl, 4);
    put(&f, meta.b, meta.n);
    put(&f, ds.b, ds.n);
    tu_write_file(path, f.b, f.n);
    free(meta.b);
    free(ds.b);
    free(f.b);
}

static void test_vendor_series(void **state)
{
    (void)state;
    char dir[4200];
    sub(dir, sizeof dir, "vendor");
    assert_int_equal(mkdir(dir, 0755), 0);
    enum { R = 6, C = 8, NZ = 4 };
    const char *series = "1.2.826.0.1.3680043.9.9999.1";
    uint16_t pix[R * C];
    char p[4300];
    for (int s = 0; s < NZ; s++) { /* instance 1 at the top (z = +10), then down in 2 mm steps */
        for (int q = 0; q < R * C; q++)
            pix[q] = (uint16_t)(1024 + 100 * s + q); /* HU = 100 s + q */
        pix[0] = 4095;                                /* padding: air */
        pix[1] = (uint16_t)(0xF000 | (1024 + 7));     /* junk above BitsStored: masked off */
        snprintf(p, sizeof p, "%s/IM%04d", dir, s + 1);
        vendor_slice(p, s + 1, 10.0 - 2.0 * s, R, C, 0, series, pix, 20.0 + 4 * s);
    }
    uint16_t loc[4 * 4] = {0};
    snprintf(p, sizeof p, "%s/IM0000", dir);
    vendor_slice(p, 99, 0.0, 4, 4, 1, series, loc, 10.0);

    lf_error err = {{0}};
    lf_volume r;
    lf_ct_info info;
    if (lf_dicom_ct_read(dir, &r, &info, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(r.n[0], C);
    assert_int_equal(r.n[1], R);
    assert_int_equal(r.n[2], NZ);
    double want[3][4] = {{0.75, 0, 0, -120.5}, {0, 1.5, 0, -90.25}, {0, 0, 2, 4}}; /* k = 0 is the lowest slice */
    for (int a = 0; a < 3; a++)
        for (int c = 0; c < 4; c++)
            if (fabs(r.sform[a][c] - want[a][c]) > 1e-9)
                fail_msg("sform[%d][%d] = %g, expected %g", a, c, r.sform[a][c], want[a][c]);
    for (int k = 0; k < NZ; k++) {
        int s = NZ - 1 - k; /* file order is top-down */
        const float *sl = r.data + (size_t)k * R * C;
        assert_true(sl[0] == -1000.0f);
        assert_true(sl[1] == 7.0f);
        for (int q = 2; q < R * C; q++)
            if (sl[q] != (float)(100 * s + q))
                fail_msg("slice %d voxel %d: %g HU, expected %d", k, q, (double)sl[q], 100 * s + q);
    }
    assert_true(info.kvp == 100);
    assert_true(fabs(info.exposure_mas - 26.0) < 1e-9); /* mean of 20, 24, 28, 32 */
    assert_string_equal(info.patient_name, "DOE^JANE");
    assert_string_equal(r.descrip, "kvp=100");
    lf_volume_free(&r);

    /* another patient orientation is refused rather than misplaced */
    snprintf(p, sizeof p, "%s/IM0000", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/IM0002", dir);
    FILE *f = fopen(p, "r+b");
    assert_non_null(f);
    char b[4096];
    size_t n = fread(b, 1, sizeof b, f);
    char *hfs = memmem(b, n, "HFS", 3);
    assert_non_null(hfs);
    fseek(f, (long)(hfs - b), SEEK_SET);
    fwrite("FFS", 1, 3, f);
    fclose(f);
    assert_int_equal(lf_dicom_ct_read(dir, &r, NULL, &err), -1);
    assert_true(tu_contains(err.msg, "IM0002"));
    assert_true(tu_contains(err.msg, "FFS"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_non_integer_exposure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_atomic_replacement, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vendor_series, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

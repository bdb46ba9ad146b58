/* Tests for io/ptd.c + io/ptd_dicom.cpp: write/read round trip, corrupt trailers, garbage DICOM. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "io/ptd.h"

static const char *HEADER = "!INTERFILE:=\r\n!originating system:=3000\r\n%number of TOF time bins:=33\r\n"
                            "!name of data file:=x.l\r\n!END OF INTERFILE:=\r\n!"; /* odd length: padded */

typedef struct {
    char dir[64];
    char l[128], ptd[128];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    strcpy(f->dir, "/tmp/lafov-ptd-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->l, sizeof f->l, "%s/run.l", f->dir);
    snprintf(f->ptd, sizeof f->ptd, "%s/run.ptd", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    DIR *d = opendir(f->dir);
    struct dirent *e;
    char p[512];
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", f->dir, e->d_name);
            unlink(p);
        }
    if (d)
        closedir(d);
    rmdir(f->dir);
    free(f);
    return 0;
}

static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)))
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (d)
        closedir(d);
    return n;
}

static void write_bytes(const char *path, const void *b, size_t n)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(b, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

static uint8_t *read_all(const char *path, size_t *n)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    *n = (size_t)st.st_size;
    uint8_t *b = malloc(*n + 1);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fread(b, 1, *n, fp), *n);
    fclose(fp);
    return b;
}

static uint8_t *random_bytes(size_t n, unsigned seed)
{
    uint8_t *b = malloc(n ? n : 1);
    srand(seed);
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(rand() >> 7);
    return b;
}

/* Writes a random .l of n bytes and the .ptd from it. */
static void make_ptd(fixture *f, size_t n, const char *header)
{
    uint8_t *b = random_bytes(n, 42);
    write_bytes(f->l, b, n);
    free(b);
    lf_error err = {{0}};
    int rc = lf_ptd_write(f->ptd, f->l, header, &err);
    if (rc != 0)
        fail_msg("lf_ptd_write: %s", err.msg);
}

static void expect_error(int rc, const lf_error *err, const char *needle)
{
    assert_int_equal(rc, -1);
    if (!strstr(err->msg, needle))
        fail_msg("error \"%s\" does not mention \"%s\"", err->msg, needle);
}

static void test_round_trip(void **state)
{
    fixture *f = *state;
    const size_t n = 8 * 1000;
    make_ptd(f, n, HEADER);
    assert_int_equal(count_files(f->dir), 2); /* no temporary left */
    assert_int_equal(lf_ptd_is_ptd(f->ptd), 1);
    assert_int_equal(lf_ptd_is_ptd(f->l), 0);
    assert_int_equal(lf_ptd_is_ptd(f->dir), 0);

    lf_error err = {{0}};
    uint64_t data = 0, off = 0, dn = 0;
    assert_int_equal(lf_ptd_locate(f->ptd, &data, &off, &dn, &err), 0);
    size_t size, lsize;
    uint8_t *ptd = read_all(f->ptd, &size), *l = read_all(f->l, &lsize);
    assert_int_equal(data, n);
    assert_int_equal(off, n);
    assert_int_equal(off + dn + 24, size);
    assert_memory_equal(ptd, l, n);
    assert_memory_equal(ptd + n + 128, "DICM", 4); /* Part-10 with preamble */
    assert_memory_equal(ptd + size - 20, LF_PTD_MAGIC, 20);

    uint64_t data2, off2, dn2;
    assert_int_equal(lf_ptd_locate_buffer(ptd, size, "mem", &data2, &off2, &dn2, &err), 0);
    assert_true(data2 == data && off2 == off && dn2 == dn);

    char *text = NULL;
    size_t len = 0;
    data2 = 0;
    assert_int_equal(lf_ptd_read_header(f->ptd, &text, &len, &data2, &err), 0);
    assert_int_equal(len, strlen(HEADER));
    assert_string_equal(text, HEADER);
    assert_int_equal(data2, n);
    free(text);

    /* the DICOM part without its preamble ("DICM" first) reads the same */
    assert_int_equal(lf_ptd_dicom_header(ptd + off + 128, dn - 128, "mem", off + 128, &text, &len, &err), 0);
    assert_string_equal(text, HEADER);
    free(text);
    free(ptd);
    free(l);
}

static void test_empty_data_and_overwrite(void **state)
{
    fixture *f = *state;
    make_ptd(f, 0, "a:=1\n");
    make_ptd(f, 64, HEADER); /* replaces the existing .ptd */
    lf_error err = {{0}};
    char *text = NULL;
    size_t len;
    uint64_t data;
    assert_int_equal(lf_ptd_read_header(f->ptd, &text, &len, &data, &err), 0);
    assert_int_equal(data, 64);
    assert_string_equal(text, HEADER);
    free(text);
}

static void test_large_header(void **state)
{
    fixture *f = *state;
    size_t n = 300001; /* beyond DCMTK's in-memory read limit and its 64 KiB write chunks */
    char *h = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        h[i] = i % 64 == 63 ? '\n' : (char)('a' + i % 26);
    h[n] = '\0';
    make_ptd(f, 8 * 4096, h);
    lf_error err = {{0}};
    char *text = NULL;
    size_t len;
    uint64_t data;
    assert_int_equal(lf_ptd_read_header(f->ptd, &text, &len, &data, &err), 0);
    assert_int_equal(len, n);
    assert_string_equal(text, h);
    assert_int_equal(data, 8 * 4096);
    free(text);
    free(h);
}

static void test_truncated(void **state)
{
    fixture *f = *state;
    make_ptd(f, 800, HEADER);
    size_t size;
    uint8_t *b = read_all(f->ptd, &size);
    assert_int_equal(truncate(f->ptd, (off_t)size - 1), 0);
    free(b);
    assert_int_equal(lf_ptd_is_ptd(f->ptd), 0);
    lf_error err = {{0}};
    uint64_t data, off, dn;
    expect_error(lf_ptd_locate(f->ptd, &data, &off, &dn, &err), &err, "magic");
    expect_error(lf_ptd_locate(f->ptd, &data, &off, &dn, &err), &err, f->ptd);
    char *text = (char *)1;
    size_t len;
    expect_error(lf_ptd_read_header(f->ptd, &text, &len, &data, &err), &err, "magic");
    assert_null(text);
}

static void patch_length(const char *path, uint32_t v, uint64_t *at)
{
    size_t size;
    uint8_t *b = read_all(path, &size);
    uint8_t le[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    memcpy(b + size - 24, le, 4);
    write_bytes(path, b, size);
    free(b);
    *at = size - 24;
}

static void test_bad_length(void **state)
{
    fixture *f = *state;
    make_ptd(f, 800, HEADER);
    uint64_t at, data, off, dn;
    patch_length(f->ptd, 0xFFFFFFF0u, &at);
    assert_int_equal(lf_ptd_is_ptd(f->ptd), 1);
    lf_error err = {{0}};
    char where[64];
    snprintf(where, sizeof where, "offset %llu", (unsigned long long)at);
    expect_error(lf_ptd_locate(f->ptd, &data, &off, &dn, &err), &err, "length");
    expect_error(lf_ptd_locate(f->ptd, &data, &off, &dn, &err), &err, where);
    expect_error(lf_ptd_locate(f->ptd, &data, &off, &dn, &err), &err, "4294967280");
    patch_length(f->ptd, 0, &at);
    expect_error(lf_ptd_locate(f->ptd, &data, &off, &dn, &err), &err, "length 0");
    char *text;
    size_t len;
    expect_error(lf_ptd_read_header(f->ptd, &text, &len, &data, &err), &err, "length 0");
}

static void test_short_and_missing(void **state)
{
    fixture *f = *state;
    lf_error err = {{0}};
    uint64_t data, off, dn;
    write_bytes(f->ptd, "", 0);
    assert_int_equal(lf_ptd_is_ptd(f->ptd), 0);
    expect_error(lf_ptd_locate(f->ptd, &data, &off, &dn, &err), &err, "is 0 bytes");
    write_bytes(f->ptd, LF_PTD_MAGIC, 20); /* magic alone: still too short */
    assert_int_equal(lf_ptd_is_ptd(f->ptd), 1);
    expect_error(lf_ptd_locate(f->ptd, &data, &off, &dn, &err), &err, "is 20 bytes");
    unlink(f->ptd);
    assert_int_equal(lf_ptd_is_ptd(f->ptd), 0);
    expect_error(lf_ptd_locate(f->ptd, &data, &off, &dn, &err), &err, "cannot open");
    expect_error(lf_ptd_locate_buffer(NULL, 0, "mem", &data, &off, &dn, &err), &err, "mem: offset 0");
    expect_error(lf_ptd_locate_buffer((const uint8_t *)LF_PTD_MAGIC, 20, "mem", &data, &off, &dn, &err), &err,
                 "is 20 bytes");
    /* a missing data file: error, and no temporary left behind */
    expect_error(lf_ptd_write(f->ptd, f->l, HEADER, &err), &err, f->l);
    assert_int_equal(count_files(f->dir), 0);
}

/* Builds data + dicom + trailer into path. */
static void write_ptd_raw(const char *path, const uint8_t *dicom, size_t n)
{
    size_t total = 16 + n + 24;
    uint8_t *b = calloc(1, total);
    memcpy(b + 16, dicom, n);
    b[16 + n] = (uint8_t)n, b[17 + n] = (uint8_t)(n >> 8), b[18 + n] = (uint8_t)(n >> 16), b[19 + n] = (uint8_t)(n >> 24);
    memcpy(b + 20 + n, LF_PTD_MAGIC, 20);
    write_bytes(path, b, total);
    free(b);
}

static void test_garbage_dicom(void **state)
{
    fixture *f = *state;
    lf_error err = {{0}};
    for (unsigned seed = 1; seed <= 50; seed++) {
        size_t n = 1 + (size_t)seed * 37 % 700;
        uint8_t *g = random_bytes(n, seed);
        if (seed % 5 == 0)
            memset(g, 0, n);
        write_ptd_raw(f->ptd, g, n);
        free(g);
        char *text = NULL;
        size_t len;
        uint64_t data = 0;
        expect_error(lf_ptd_read_header(f->ptd, &text, &len, &data, &err), &err, "offset 16");
        assert_null(text);
    }
}

/* Appends an implicit-VR little-endian element. */
static size_t put_implicit(uint8_t *b, uint16_t g, uint16_t e, const char *v, uint32_t n)
{
    uint8_t h[8] = {(uint8_t)g, (uint8_t)(g >> 8), (uint8_t)e, (uint8_t)(e >> 8),
                    (uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)(n >> 24)};
    memcpy(b, h, 8);
    memcpy(b + 8, v, n);
    return 8 + n;
}

/* Appends an explicit-VR little-endian element with a 16-bit length (LO, CS, ...). */
static size_t put_explicit16(uint8_t *b, uint16_t g, uint16_t e, const char *vr, const char *v, uint16_t n)
{
    uint8_t h[8] = {(uint8_t)g, (uint8_t)(g >> 8), (uint8_t)e, (uint8_t)(e >> 8),
                    (uint8_t)vr[0], (uint8_t)vr[1], (uint8_t)n, (uint8_t)(n >> 8)};
    memcpy(b, h, 8);
    memcpy(b + 8, v, n);
    return 8 + n;
}

static void test_bare_datasets(void **state)
{
    (void)state;
    uint8_t b[512];
    lf_error err = {{0}};
    char *text;
    size_t len, n = 0;

    /* implicit VR, (0029,1010) under the Siemens creator, NUL-padded */
    n += put_implicit(b + n, 0x0008, 0x0060, "PT", 2);
    n += put_implicit(b + n, 0x0029, 0x0010, "SIEMENS CSA NON-IMAGE ", 22);
    n += put_implicit(b + n, 0x0029, 0x1010, "a:=1\nb:=2\n\0\0", 12);
    assert_int_equal(lf_ptd_dicom_header(b, n, "mem", 0, &text, &len, &err), 0);
    assert_string_equal(text, "a:=1\nb:=2\n");
    assert_int_equal(len, 10);
    free(text);

    /* implicit VR, no creator (value read as UN), only (0029,1110) */
    n = put_implicit(b, 0x0029, 0x1110, "k:=v\n\0", 6);
    assert_int_equal(lf_ptd_dicom_header(b, n, "mem", 0, &text, &len, &err), 0);
    assert_string_equal(text, "k:=v\n");
    free(text);

    /* explicit VR with a string VR (LO): trailing space padding removed */
    n = put_explicit16(b, 0x0008, 0x0060, "CS", "PT", 2);
    n += put_explicit16(b + n, 0x0029, 0x0011, "LO", "ACME", 4);
    n += put_explicit16(b + n, 0x0029, 0x1110, "LO", "x:=1  ", 6);
    assert_int_equal(lf_ptd_dicom_header(b, n, "mem", 0, &text, &len, &err), 0);
    assert_string_equal(text, "x:=1");
    free(text);

    /* an element claiming ~4 GiB in a few bytes: an error, without allocating the claim */
    n = put_implicit(b, 0x0008, 0x0060, "PT", 2);
    n += put_implicit(b + n, 0x0029, 0x1010, "abcdefgh", 8);
    memcpy(b + n - 12, "\xf0\xff\xff\xff", 4);
    expect_error(lf_ptd_dicom_header(b, n, "mem", 0, &text, &len, &err), &err, "does not parse");

    /* a valid dataset without the header tags (DCMTK wants more than one short element to parse) */
    n = put_implicit(b, 0x0008, 0x0060, "PT", 2);
    n += put_implicit(b + n, 0x0010, 0x0010, "X^Y ", 4);
    expect_error(lf_ptd_dicom_header(b, n, "mem", 1234, &text, &len, &err), &err, "mem: offset 1234");
    expect_error(lf_ptd_dicom_header(b, n, "mem", 1234, &text, &len, &err), &err, "(0029,1010)");
    /* an empty header tag */
    n = put_implicit(b, 0x0008, 0x0060, "PT", 2);
    n += put_implicit(b + n, 0x0029, 0x1010, "", 0);
    expect_error(lf_ptd_dicom_header(b, n, "mem", 0, &text, &len, &err), &err, "empty");
    expect_error(lf_ptd_dicom_header(b, 0, "mem", 7, &text, &len, &err), &err, "offset 7");
    expect_error(lf_ptd_dicom_header(NULL, 10, "mem", 7, &text, &len, &err), &err, "empty");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_data_and_overwrite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_length, setup, teardown),
        cmocka_unit_test_setup_teardown(test_short_and_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_dicom, setup, teardown),
        cmocka_unit_test(test_bare_datasets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

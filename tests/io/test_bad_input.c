/* Bad input never crashes: each case gives an error naming the file, offset or key, or — where the
 * data is still usable — decodes with a counted warning. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/lmreader.h"
#include "io/lmwriter.h"
#include "io/ptd.h"
#include "io/quadra64.h"

static char dir[4096];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "%s", tu_tmpdir());
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree(dir);
    return 0;
}

/* A valid mini stream NAME.l (+ .hdr): 50 ms, one event per ms. */
static void valid_stream(const char *name, char *path, size_t n)
{
    lf_scanner sc;
    tu_scanner("mini", &sc);
    snprintf(path, n, "%s/%s.l", dir, name);
    lf_ifh extra = {0};
    tu_study_keys(&extra);
    lf_q64_writer *w;
    lf_error err = {{0}};
    assert_int_equal(lf_q64w_open(path, &sc, -1, &extra, &w, &err), 0);
    for (uint32_t ms = 0; ms < 50; ms++) {
        lf_event e = {.t_ms = ms, .a = ms % 24, .b = 200 + ms, .tof = 1, .prompt = 1};
        assert_int_equal(lf_q64w_event(w, &e, &err), 0);
    }
    assert_int_equal(lf_q64w_close(w, 50, &err), 0);
    lf_ifh_free(&extra);
}

/* Replaces (or with value NULL removes) a key of path's header. */
static void edit_header(const char *path, const char *key, const char *value)
{
    char hdr[4300];
    snprintf(hdr, sizeof hdr, "%s.hdr", path);
    lf_ifh h;
    lf_error err = {{0}};
    assert_int_equal(lf_ifh_parse_file(hdr, &h, &err), 0);
    if (value)
        lf_ifh_set(&h, key, value);
    else
        lf_ifh_remove(&h, key);
    FILE *f = fopen(hdr, "w");
    lf_ifh_write(&h, f);
    fclose(f);
    lf_ifh_free(&h);
}

static void append(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "ab");
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void write_words(const char *path, const uint64_t *w, size_t n)
{
    uint8_t *b = malloc(n * 8);
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 8; k++)
            b[8 * i + k] = (uint8_t)(w[i] >> (8 * k));
    tu_write_file(path, b, n * 8);
    free(b);
}

static int open_expect_error(const char *path, const char *a, const char *b)
{
    lf_lm_reader *r;
    lf_error err = {{0}};
    int rc = lf_lm_open(path, NULL, &r, &err);
    if (rc == 0) {
        lf_lm_close(r);
        fail_msg("%s opened, expected an error", path);
    }
    if (!tu_contains(err.msg, a) || (b && !tu_contains(err.msg, b)))
        fail_msg("message '%s' lacks '%s' / '%s'", err.msg, a, b ? b : "");
    return 0;
}

/* Reads the whole stream; returns its statistics. */
static lf_decode_stats read_all(const char *path, uint64_t *trailing)
{
    lf_lm_reader *r;
    lf_error err = {{0}};
    if (lf_lm_open(path, NULL, &r, &err) != 0)
        fail_msg("%s", err.msg);
    lf_lm_batch b;
    while (lf_lm_next(r, &b, &err) == 1)
        ;
    lf_decode_stats st = *lf_lm_stats(r);
    if (trailing)
        *trailing = lf_lm_trailing_bytes(r);
    lf_lm_close(r);
    return st;
}

static void truncated_final_word(void **state)
{
    (void)state;
    char p[4200];
    valid_stream("trunc", p, sizeof p);
    append(p, "\x01\x02\x03", 3); /* size no longer a multiple of 8 */
    uint64_t trailing;
    lf_decode_stats st = read_all(p, &trailing);
    assert_int_equal(trailing, 3);
    assert_int_equal(st.prompts, 50);
    assert_int_equal(st.tags[LF_TAG_TIME], 50);
}

static void missing_data_file(void **state)
{
    (void)state;
    char p[4200], hdr[4300];
    valid_stream("nodata", p, sizeof p);
    edit_header(p, "name of data file", "elsewhere.l");
    snprintf(hdr, sizeof hdr, "%s.hdr", p);
    open_expect_error(hdr, "elsewhere.l", "name of data file");
    unlink(hdr);
    open_expect_error(p, "no header", ".l.hdr");
}

static void wrong_word_size(void **state)
{
    (void)state;
    /* 32-bit PETLINK words behind a 64-bit header */
    const char *mmr = tu_mmr_sample();
    if (!mmr)
        skip();
    char p[4200];
    valid_stream("wordsize", p, sizeof p);
    FILE *in = fopen(mmr, "rb");
    uint8_t buf[65536];
    size_t n = fread(buf, 1, sizeof buf, in);
    fclose(in);
    tu_write_file(p, buf, n);
    edit_header(p, "total listmode word counts", "8192");
    open_expect_error(p, "32-bit", "offset 0");
    /* 64-bit words behind the mMR's 32-bit header */
    char p64[4200], hdr[4300];
    valid_stream("w64", p64, sizeof p64);
    snprintf(hdr, sizeof hdr, "%s/w64as32.l.hdr", dir);
    char text[8192];
    in = fopen(LAFOV_SHARED_DATA "/mmr/small_listmode_file.l.hdr", "rb");
    n = fread(text, 1, sizeof text - 1, in);
    fclose(in);
    text[n] = '\0';
    lf_ifh h;
    lf_error err = {{0}};
    assert_int_equal(lf_ifh_parse_buffer(text, n, hdr, &h, &err), 0);
    lf_ifh_set(&h, "name of data file", "w64.l");
    FILE *f = fopen(hdr, "w");
    lf_ifh_write(&h, f);
    fclose(f);
    lf_ifh_free(&h);
    open_expect_error(hdr, "64-bit", "w64.l");
}

static void time_backwards_and_bad_crystals(void **state)
{
    (void)state;
    char p[4200];
    valid_stream("back", p, sizeof p);
    uint64_t w[] = {lf_q64_time_marker(0), lf_q64_event(1, 300, 0, 1), lf_q64_time_marker(1), lf_q64_time_marker(2),
                    lf_q64_time_marker(1), lf_q64_event(1, 300, 0, 1), lf_q64_event(1, 100000, 0, 1),
                    lf_q64_event(9, 9, 0, 1), lf_q64_time_marker(3)};
    write_words(p, w, sizeof w / sizeof *w);
    edit_header(p, "total listmode word counts", "9");
    lf_decode_stats st = read_all(p, NULL);
    assert_int_equal(st.time_backwards, 1);
    assert_int_equal(st.first_backwards_offset, 4 * 8);
    assert_int_equal(st.invalid_events, 2);
    assert_int_equal(st.first_invalid_offset, 6 * 8);
    assert_int_equal(st.prompts, 2);
    assert_int_equal(st.last_ms, 3);
}

static void empty_file(void **state)
{
    (void)state;
    char p[4200];
    valid_stream("empty", p, sizeof p);
    tu_write_file(p, "", 0);
    open_expect_error(p, "empty", "empty.l");
    tu_write_file(p, "\x01\x02", 2);
    open_expect_error(p, "less than one", "64-bit");
}

static void header_keys(void **state)
{
    (void)state;
    char p[4200];
    valid_stream("keys", p, sizeof p);
    edit_header(p, "isotope name", NULL);
    open_expect_error(p, "isotope name", "keys.l.hdr");
    valid_stream("keys", p, sizeof p);
    edit_header(p, "maximum ring difference", "lots");
    open_expect_error(p, "maximum ring difference", "lots");
    valid_stream("keys", p, sizeof p);
    edit_header(p, "number of rings", "320");
    open_expect_error(p, "number of rings", "mini");
    valid_stream("keys", p, sizeof p);
    edit_header(p, "originating system", "777");
    open_expect_error(p, "777", "originating system");
    valid_stream("keys", p, sizeof p);
    edit_header(p, "LM event and tag words format (bits)", "48");
    open_expect_error(p, "expected 32 or 64", "keys.l.hdr");
}

static void corrupt_ptd(void **state)
{
    (void)state;
    char p[4200], ptd[4300];
    valid_stream("box", p, sizeof p);
    snprintf(ptd, sizeof ptd, "%s/box.ptd", dir);
    /* a .ptd whose DICOM length points before the start of the file */
    uint8_t junk[64] = {0};
    tu_write_file(ptd, junk, sizeof junk);
    uint8_t len[4] = {0xF0, 0xFF, 0xFF, 0x7F};
    append(ptd, len, 4);
    append(ptd, LF_PTD_MAGIC, LF_PTD_MAGIC_LEN);
    open_expect_error(ptd, "box.ptd", "length");
    /* magic missing altogether: not a ptd, and no header beside it */
    tu_write_file(ptd, junk, sizeof junk);
    open_expect_error(ptd, "box.ptd", "no header");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(truncated_final_word), cmocka_unit_test(missing_data_file),
        cmocka_unit_test(wrong_word_size),      cmocka_unit_test(time_backwards_and_bad_crystals),
        cmocka_unit_test(empty_file),           cmocka_unit_test(header_keys),
        cmocka_unit_test(corrupt_ptd),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

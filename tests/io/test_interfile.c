/* Interfile headers: key matching rules, typed getters and their messages, provenance round trip. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/interfile.h"

static const char *text = "!INTERFILE:=\r\n"
                          "!originating system:=1232\r\n"
                          "%SMS-MI header name space:=PETLINK detector pair\n"
                          "; a comment\n"
                          "  %Maximum   Ring Difference :=  85  \n"
                          "%TOF bin width (ps):=143.231\n"
                          "%segment table :={127,115, 115}\n"
                          "!GENERAL DATA:=\n"
                          "a line without separator\n"
                          "patient weight (kg):=seventy\n"
                          "%my private key:=kept for provenance\n";

static void matching(void **state)
{
    (void)state;
    lf_ifh h;
    lf_error err = {{0}};
    assert_int_equal(lf_ifh_parse_buffer(text, strlen(text), "t.hdr", &h, &err), 0);
    long long v;
    assert_int_equal(lf_ifh_req_long(&h, "maximum ring difference", &v, &err), 0);
    assert_int_equal(v, 85);
    assert_int_equal(lf_ifh_req_long(&h, "%MAXIMUM RING DIFFERENCE", &v, &err), 0);
    assert_int_equal(lf_ifh_req_long(&h, "!maximum  ring  difference", &v, &err), 0);
    assert_int_equal(lf_ifh_req_long(&h, "originating system", &v, &err), 0);
    assert_int_equal(v, 1232);
    double d;
    assert_int_equal(lf_ifh_req_double(&h, "tof bin width (ps)", &d, &err), 0);
    assert_float_equal(d, 143.231, 1e-12);
    assert_string_equal(lf_ifh_get(&h, "segment table"), "{127,115, 115}");
    assert_string_equal(lf_ifh_get(&h, "SMS-MI header name space"), "PETLINK detector pair");
    assert_null(lf_ifh_get(&h, "general data")); /* section line: no value */
    assert_non_null(lf_ifh_find(&h, "general data"));
    assert_string_equal(lf_ifh_get(&h, "my private key"), "kept for provenance");
    assert_int_equal(lf_ifh_find(&h, "maximum ring difference")->line, 5);
    lf_ifh_free(&h);
}

static void messages(void **state)
{
    (void)state;
    lf_ifh h;
    lf_error err = {{0}};
    assert_int_equal(lf_ifh_parse_buffer(text, strlen(text), "t.hdr", &h, &err), 0);
    double d;
    assert_int_equal(lf_ifh_req_double(&h, "patient weight (kg)", &d, &err), -1);
    assert_true(tu_contains(err.msg, "t.hdr"));
    assert_true(tu_contains(err.msg, "line 10"));
    assert_true(tu_contains(err.msg, "patient weight (kg)"));
    assert_true(tu_contains(err.msg, "seventy"));
    assert_int_equal(lf_ifh_req_double(&h, "isotope gamma halflife (sec)", &d, &err), -1);
    assert_true(tu_contains(err.msg, "required key 'isotope gamma halflife (sec)' is missing"));
    long long v;
    assert_int_equal(lf_ifh_req_long(&h, "tof bin width (ps)", &v, &err), -1); /* 143.231 is no integer */
    assert_true(tu_contains(err.msg, "expected an integer"));
    assert_int_equal(lf_ifh_opt_long(&h, "number of TOF time bins", 1, &v, &err), 0);
    assert_int_equal(v, 1);
    assert_int_equal(lf_ifh_opt_double(&h, "patient weight (kg)", 70, &d, &err), -1); /* present but malformed */
    lf_ifh_free(&h);
}

static void set_write_roundtrip(void **state)
{
    (void)state;
    lf_ifh h;
    lf_error err = {{0}};
    assert_int_equal(lf_ifh_parse_buffer(text, strlen(text), "t.hdr", &h, &err), 0);
    assert_int_equal(lf_ifh_set(&h, "maximum ring difference", "322"), 0);
    assert_int_equal(lf_ifh_setf(&h, "%kept windows (sec)", "{%d-%d,%d-%d}", 0, 540, 600, 1200), 0);
    lf_ifh_remove(&h, "segment table");
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    assert_int_equal(lf_ifh_write(&h, f), 0);
    fclose(f);
    lf_ifh h2;
    assert_int_equal(lf_ifh_parse_buffer(buf, n, "mem", &h2, &err), 0);
    assert_string_equal(lf_ifh_get(&h2, "maximum ring difference"), "322");
    assert_string_equal(lf_ifh_get(&h2, "kept windows (sec)"), "{0-540,600-1200}");
    assert_null(lf_ifh_find(&h2, "segment table"));
    assert_string_equal(lf_ifh_get(&h2, "my private key"), "kept for provenance");
    assert_non_null(lf_ifh_find(&h2, "a line without separator"));
    assert_int_equal(h2.n, h.n);
    free(buf);
    lf_ifh_free(&h);
    lf_ifh_free(&h2);
}

static void odd_bytes(void **state)
{
    (void)state;
    /* NUL bytes, a BOM, no final newline, a lone ':=' and binary junk never crash */
    const char junk[] = "\xEF\xBB\xBFkey:=v\0\x01\x02:=\n:=\n\xff\xfe := x\rlast:=1";
    lf_ifh h;
    lf_error err = {{0}};
    assert_int_equal(lf_ifh_parse_buffer(junk, sizeof junk - 1, "junk", &h, &err), 0);
    assert_string_equal(lf_ifh_get(&h, "key"), "v");
    assert_string_equal(lf_ifh_get(&h, "last"), "1");
    lf_ifh_free(&h);
    assert_int_equal(lf_ifh_parse_buffer("", 0, "empty", &h, &err), 0);
    assert_int_equal(h.n, 0);
    lf_ifh_free(&h);
}

static void missing_file(void **state)
{
    (void)state;
    lf_ifh h;
    lf_error err = {{0}};
    assert_int_equal(lf_ifh_parse_file("/nonexistent/x.l.hdr", &h, &err), -1);
    assert_true(tu_contains(err.msg, "/nonexistent/x.l.hdr"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(matching), cmocka_unit_test(messages),
                                       cmocka_unit_test(set_write_roundtrip), cmocka_unit_test(odd_bytes),
                                       cmocka_unit_test(missing_file)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The 64-bit detector-pair stream: words to the bit, writer -> reader round trip, tags, time. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/decoder.h"
#include "io/lmreader.h"
#include "io/lmwriter.h"
#include "io/quadra64.h"

static void worked_example(void **state)
{
    (void)state;
    /* quadra-stream.md: a prompt with TOF bin -3, a = 5, b = 7 */
    uint64_t w = lf_q64_event(5, 7, -3, 1);
    assert_true(w == 0x7D000050001C0000ull);
    assert_int_equal(lf_q64_is_tag(w), 0);
    assert_int_equal(lf_q64_prompt(w), 1);
    assert_int_equal(lf_q64_tof(w), -3);
    assert_int_equal(lf_q64_a(w), 5);
    assert_int_equal(lf_q64_b(w), 7);
    for (int t = -16; t <= 16; t++)
        assert_int_equal(lf_q64_tof(lf_q64_event(1, 2, t, 1)), t);
    assert_int_equal(lf_q64_a(lf_q64_event(243199, 0, 0, 0)), 243199);
}

static void time_marker_words(void **state)
{
    (void)state;
    assert_true(lf_q64_time_marker(0) == 0x8000000000000000ull);
    assert_true(lf_q64_time_marker(1) == 0x8000000100000000ull);
    /* ms beyond 29 bits: the lower word carries ms >> 29 */
    uint64_t ms = (1ull << 29) + 5;
    uint64_t w = lf_q64_time_marker(ms);
    assert_true((w >> 32) == 0x80000005u);
    assert_true((uint32_t)w == 1u);
    assert_true(lf_q64_marker_ms(w) == ms);
    assert_true(lf_q64_singles(1234, 1215) == ((0xA0000000ull + 1234) << 32 | 1215));
}

static void decode_words(void **state)
{
    (void)state;
    lf_scanner sc;
    tu_scanner("quadra", &sc);
    lf_decoder d;
    lf_error err = {{0}};
    assert_int_equal(lf_decoder_init(&d, LF_FORMAT_QUADRA64, &sc, 85, 33, 0, 0, &err), 0);
    uint64_t words[] = {
        lf_q64_time_marker(0),
        0x7D000050001C0000ull,                                   /* valid */
        lf_q64_event(5, 7, -3, 1) | 0x3FFFFull,                  /* reserved low bits set: ignored, valid */
        lf_q64_event(5, 5, 0, 1),                                /* a = b */
        lf_q64_event(5, 243200, 0, 1),                           /* out of range */
        lf_q64_event(5, 7, 17, 1),                               /* TOF outside -16..16 */
        lf_q64_event(5, 7, -17, 1),
        lf_q64_event(0, 85 * 760, 0, 1),                         /* ring 85 = slot 86 > MRD 85 */
        lf_q64_event(0, 84 * 760, 0, 0),                         /* delayed, within MRD */
        lf_q64_time_marker(1),
        lf_q64_tag(0xE1001000u, 0),                              /* respiratory trigger */
        lf_q64_singles(100, 3),
        lf_q64_tag(0xFF000000u, 0),                              /* control */
        lf_q64_tag(0xC4000000u, 0),                              /* bed */
        lf_q64_tag(0xF0000000u, 0),                              /* unknown */
        lf_q64_time_marker(0),                                   /* backwards: ignored */
        lf_q64_event(1, 2, 4, 1),
        lf_q64_time_marker(5),                                   /* skips 2..4 */
    };
    size_t n = sizeof words / sizeof *words;
    uint8_t buf[sizeof words];
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 8; k++)
            buf[8 * i + k] = (uint8_t)(words[i] >> (8 * k));
    lf_event ev[32];
    lf_tag tags[32];
    size_t nev, ntag;
    lf_decode(&d, buf, n, 1000, ev, &nev, tags, &ntag);
    assert_int_equal(nev, 4);
    assert_int_equal(ev[0].a, 5);
    assert_int_equal(ev[0].b, 7);
    assert_int_equal(ev[0].tof, -3);
    assert_int_equal(ev[0].prompt, 1);
    assert_int_equal(ev[0].t_ms, 0);
    assert_int_equal(ev[2].prompt, 0);
    assert_int_equal(ev[3].t_ms, 1); /* the backwards marker did not move time */
    assert_int_equal(d.st.invalid_events, 5);
    assert_int_equal(d.st.first_invalid_offset, 1000 + 3 * 8);
    assert_int_equal(d.st.prompts, 3);
    assert_int_equal(d.st.delayeds, 1);
    assert_int_equal(d.st.tags[LF_TAG_TIME], 4);
    assert_int_equal(d.st.tags[LF_TAG_GATING], 1);
    assert_int_equal(d.st.tags[LF_TAG_SINGLES], 1);
    assert_int_equal(d.st.tags[LF_TAG_CONTROL], 1);
    assert_int_equal(d.st.tags[LF_TAG_BED], 1);
    assert_int_equal(d.st.tags[LF_TAG_UNKNOWN], 1);
    assert_int_equal(d.st.time_backwards, 1);
    assert_int_equal(d.st.first_backwards_offset, 1000 + 15 * 8);
    assert_int_equal(d.st.time_jumps, 1);
    assert_int_equal(d.st.last_ms, 5);
    assert_int_equal(ntag, 5);
    assert_int_equal(tags[0].cls, LF_TAG_GATING);
    assert_int_equal(tags[0].t_ms, 1);
    assert_true(tags[1].word == lf_q64_singles(100, 3));
    lf_decoder_free(&d);
}

/* Writes n pseudo-random valid events over duration_ms with the writer, reads them back. */
static void roundtrip_on(const char *scanner, int mrd)
{
    lf_scanner sc;
    tu_scanner(scanner, &sc);
    const char *dir = tu_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/acq.l", dir);
    lf_ifh extra = {0};
    tu_study_keys(&extra);
    lf_ifh_set(&extra, "%my provenance", "round trip test");
    lf_q64_writer *w;
    lf_error err = {{0}};
    assert_int_equal(lf_q64w_open(path, &sc, mrd, &extra, &w, &err), 0);
    enum { N = 20000, DUR = 2500 };
    lf_event *in = calloc(N, sizeof *in);
    uint32_t seed = 12345;
    int half = sc.tof_bins / 2;
    size_t n = 0;
    while (n < N) {
        seed = seed * 1664525u + 1013904223u;
        uint32_t a = seed % (uint32_t)sc.n_crystals;
        seed = seed * 1664525u + 1013904223u;
        uint32_t b = seed % (uint32_t)sc.n_crystals;
        if (!lf_pair_accepted(&sc, a, b, mrd < 0 ? sc.mrd : mrd))
            continue;
        lf_event e = {.t_ms = (uint32_t)((uint64_t)n * DUR / N), .a = a, .b = b, .prompt = (uint8_t)(seed % 10 != 0)};
        e.tof = e.prompt ? (int8_t)((int)(seed >> 8) % (2 * half + 1) - half) : 0;
        in[n++] = e;
        assert_int_equal(lf_q64w_event(w, &e, &err), 0);
        if (n % 5000 == 0)
            assert_int_equal(lf_q64w_tag(w, lf_q64_singles((uint32_t)n, 1), &err), 0);
    }
    assert_int_equal(lf_q64w_close(w, DUR, &err), 0);
    lf_ifh_free(&extra);

    lf_lm_reader *r;
    if (lf_lm_open(path, NULL, &r, &err) != 0)
        fail_msg("%s", err.msg);
    const lf_lm_header *h = lf_lm_header_of(r);
    assert_string_equal(h->scanner.name, scanner);
    assert_int_equal(h->mrd, mrd < 0 ? sc.mrd : mrd);
    assert_string_equal(lf_ifh_get(&h->ifh, "my provenance"), "round trip test");
    assert_int_equal(h->header_word_count, N + DUR + 4);
    size_t k = 0, nsingles = 0;
    lf_lm_batch b;
    int rc;
    while ((rc = lf_lm_next(r, &b, &err)) == 1) {
        for (size_t i = 0; i < b.n_ev; i++, k++) {
            assert_true(k < N);
            assert_int_equal(b.ev[i].a, in[k].a);
            assert_int_equal(b.ev[i].b, in[k].b);
            assert_int_equal(b.ev[i].tof, in[k].tof);
            assert_int_equal(b.ev[i].prompt, in[k].prompt);
            assert_int_equal(b.ev[i].t_ms, in[k].t_ms);
        }
        for (size_t i = 0; i < b.n_tags; i++)
            nsingles += b.tags[i].cls == LF_TAG_SINGLES;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(k, N);
    assert_int_equal(nsingles, 4);
    const lf_decode_stats *st = lf_lm_stats(r);
    assert_int_equal(st->tags[LF_TAG_TIME], DUR); /* markers 0 .. DUR-1 */
    assert_int_equal(st->first_ms, 0);
    assert_int_equal(st->last_ms, DUR - 1);
    assert_int_equal(st->invalid_events, 0);
    assert_int_equal(st->time_jumps, 0);
    lf_lm_close(r);
    /* the header is also a valid entry point, and only the two final files remain */
    char hdr[4300];
    snprintf(hdr, sizeof hdr, "%s.hdr", path);
    assert_int_equal(lf_lm_open(hdr, NULL, &r, &err), 0);
    lf_lm_close(r);
    free(in);
    tu_rmtree(dir);
}

static void roundtrip_mini(void **state)
{
    (void)state;
    roundtrip_on("mini", -1);
}

static void roundtrip_quadra_hs(void **state)
{
    (void)state;
    roundtrip_on("quadra", 85);
}

static void writer_refuses_and_cleans_up(void **state)
{
    (void)state;
    lf_scanner sc;
    tu_scanner("mini", &sc);
    const char *dir = tu_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/acq.l", dir);
    tu_write_text(path, "previous content");
    lf_q64_writer *w;
    lf_error err = {{0}};
    lf_ifh extra = {0};
    /* no study keys: close must fail, naming the key, and leave the previous file untouched */
    assert_int_equal(lf_q64w_open(path, &sc, -1, &extra, &w, &err), 0);
    lf_event e = {.t_ms = 3, .a = 0, .b = 30, .prompt = 1};
    assert_int_equal(lf_q64w_event(w, &e, &err), 0);
    lf_event bad = {.t_ms = 3, .a = 0, .b = 0, .prompt = 1};
    assert_int_equal(lf_q64w_event(w, &bad, &err), -1);
    lf_event back = {.t_ms = 1, .a = 0, .b = 30, .prompt = 1};
    assert_int_equal(lf_q64w_event(w, &back, &err), -1);
    assert_true(tu_contains(err.msg, "backwards"));
    assert_int_equal(lf_q64w_close(w, 10, &err), -1);
    assert_true(tu_contains(err.msg, "isotope name"));
    FILE *f = fopen(path, "rb");
    char buf[64] = {0};
    assert_non_null(fgets(buf, sizeof buf, f));
    fclose(f);
    assert_string_equal(buf, "previous content");
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 1", dir);
    assert_int_equal(system(cmd), 0); /* no temporary files left behind */
    tu_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(worked_example), cmocka_unit_test(time_marker_words),
                                       cmocka_unit_test(decode_words),   cmocka_unit_test(roundtrip_mini),
                                       cmocka_unit_test(roundtrip_quadra_hs), cmocka_unit_test(writer_refuses_and_cleans_up)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}

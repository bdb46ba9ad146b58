/* Counts from real data: the Siemens mMR PETLINK sample (shared/data/mmr, 0.6 s of an FDG scan).
 * The expected figures were obtained independently of lafov's decoder (a separate script following
 * petlink32.md) and are checked against the structure the scanner must show: every event on a real
 * crystal (the virtual crystal of each block gets exactly zero counts), ring differences <= 60. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "io/lmreader.h"
#include "io/ptd.h"
#include "recon/fansums.h"
#include "recon/lmsummary.h"

static void counts(void **state)
{
    (void)state;
    const char *path = tu_mmr_sample();
    if (!path)
        skip();
    lf_lm_reader *r;
    lf_error err = {{0}};
    if (lf_lm_open(path, NULL, &r, &err) != 0)
        fail_msg("%s", err.msg);
    const lf_lm_header *h = lf_lm_header_of(r);
    assert_string_equal(h->scanner.name, "mmr");
    assert_int_equal(h->format, LF_FORMAT_PETLINK32);
    assert_int_equal(h->data_bytes, 1019264);
    assert_int_equal(h->mrd, 60);
    assert_string_equal(h->isotope, "F-18");
    lf_fansums f;
    assert_int_equal(lf_fansums_init(&f, &h->scanner, &err), 0);
    lf_lm_batch b;
    int rc, max_rd = 0;
    while ((rc = lf_lm_next(r, &b, &err)) == 1) {
        lf_fansums_add(&f, &b);
        for (size_t i = 0; i < b.n_ev; i++) {
            int rd = abs(lf_crystal_ring(&h->scanner, b.ev[i].a) - lf_crystal_ring(&h->scanner, b.ev[i].b));
            if (rd > max_rd)
                max_rd = rd;
            assert_int_equal(b.ev[i].tof, 0);
        }
    }
    assert_int_equal(rc, 0);
    const lf_decode_stats *st = lf_lm_stats(r);
    assert_int_equal(st->words, 254816);
    assert_int_equal(st->prompts, 218881);
    assert_int_equal(st->delayeds, 35320);
    assert_int_equal(st->tags[LF_TAG_TIME], 613);
    assert_int_equal(st->first_ms, 0);
    assert_int_equal(st->last_ms, 612);
    assert_int_equal(st->tags[LF_TAG_SINGLES], 1);
    assert_int_equal(st->tags[LF_TAG_CONTROL], 1);
    assert_int_equal(st->tags[LF_TAG_UNKNOWN], 0);
    assert_int_equal(st->invalid_events, 0);
    assert_int_equal(st->events_before_first_marker, 187);
    assert_int_equal(st->time_backwards, 0);
    assert_int_equal(st->time_jumps, 0);
    assert_int_equal(max_rd, 60);
    /* block structure: virtual crystals (index 0 of each block of 9) see nothing, real ones do */
    uint64_t virt = 0, real = 0;
    for (int id = 0; id < h->scanner.n_crystals; id++) {
        if (lf_crystal_is_virtual(&h->scanner, lf_crystal_index(&h->scanner, (uint32_t)id)))
            virt += f.prompts[id] + f.delayeds[id];
        else
            real += f.prompts[id] + f.delayeds[id];
    }
    assert_int_equal(virt, 0);
    assert_int_equal(real, 2 * (218881 + 35320));
    lf_dead_list d;
    assert_int_equal(lf_fansums_dead(&f, &h->scanner, &d, &err), 0);
    assert_int_equal(d.n_real, 64 * 448);
    assert_int_equal(d.n_crystals, 1); /* ~8 counts per crystal: one real crystal with none, by chance */
    assert_int_equal(d.n_blocks, 0);
    lf_dead_list_free(&d);
    lf_fansums_free(&f);
    lf_lm_close(r);
}

static void summary_rates(void **state)
{
    (void)state;
    const char *path = tu_mmr_sample();
    if (!path)
        skip();
    lf_lm_reader *r;
    lf_error err = {{0}};
    assert_int_equal(lf_lm_open(path, NULL, &r, &err), 0);
    lf_lm_summary s;
    lf_lm_summary_init(&s);
    lf_lm_batch b;
    while (lf_lm_next(r, &b, &err) == 1)
        assert_int_equal(lf_lm_summary_add(&s, &b, &err), 0);
    lf_lm_summary_finish(&s, r);
    assert_int_equal(s.n_seconds, 1);
    assert_int_equal(s.prompts_per_s[0], 218881);
    assert_int_equal(s.delayeds_per_s[0], 35320);
    assert_int_equal(lf_lm_summary_duration_ms(&s), 613);
    /* rewind gives the same again */
    assert_int_equal(lf_lm_rewind(r, &err), 0);
    uint64_t p = 0;
    while (lf_lm_next(r, &b, &err) == 1)
        for (size_t i = 0; i < b.n_ev; i++)
            p += b.ev[i].prompt;
    assert_int_equal(p, 218881);
    assert_int_equal(lf_lm_stats(r)->prompts, 218881);
    lf_lm_summary_free(&s);
    lf_lm_close(r);
}

static void header_entry_point(void **state)
{
    (void)state;
    const char *path = tu_mmr_sample();
    if (!path)
        skip();
    char hdr[4200];
    snprintf(hdr, sizeof hdr, "%s.hdr", path);
    lf_lm_reader *r;
    lf_error err = {{0}};
    assert_int_equal(lf_lm_open(hdr, NULL, &r, &err), 0);
    assert_true(tu_contains(lf_lm_header_of(r)->data_path, "small_listmode_file.l"));
    lf_lm_close(r);
    /* the sample read with the wrong scanner is refused by name */
    lf_lm_open_opts o = {.scanner = "quadra"};
    assert_int_equal(lf_lm_open(path, &o, &r, &err), -1);
    assert_true(tu_contains(err.msg, "quadra"));
}

static void inside_ptd(void **state)
{
    (void)state;
    /* the same words and header wrapped in a .ptd (DICOM header tag 0029,1010) decode identically */
    const char *path = tu_mmr_sample();
    if (!path)
        skip();
    const char *dir = tu_tmpdir();
    char ptd[4200], hdr[4200];
    snprintf(ptd, sizeof ptd, "%s/sample.ptd", dir);
    snprintf(hdr, sizeof hdr, "%s.hdr", path);
    FILE *f = fopen(hdr, "rb");
    char text[16384];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    lf_error err = {{0}};
    if (lf_ptd_write(ptd, path, text, &err) != 0)
        fail_msg("%s", err.msg);
    lf_lm_reader *r;
    if (lf_lm_open(ptd, NULL, &r, &err) != 0)
        fail_msg("%s", err.msg);
    const lf_lm_header *h = lf_lm_header_of(r);
    assert_int_equal(h->is_ptd, 1);
    assert_int_equal(h->data_bytes, 1019264);
    lf_lm_batch b;
    while (lf_lm_next(r, &b, &err) == 1)
        ;
    assert_int_equal(lf_lm_stats(r)->prompts, 218881);
    assert_int_equal(lf_lm_stats(r)->delayeds, 35320);
    assert_int_equal(lf_lm_stats(r)->tags[LF_TAG_TIME], 613);
    lf_lm_close(r);
    tu_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(counts), cmocka_unit_test(summary_rates),
                                       cmocka_unit_test(header_entry_point), cmocka_unit_test(inside_ptd)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}

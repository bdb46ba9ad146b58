/* Fan sums, dead-detector search and the QC map on a known synthetic stream (mini scanner):
 * one block silenced, one crystal silenced, every other crystal hit a known number of times. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "io/lmreader.h"
#include "io/lmwriter.h"
#include "recon/fansums.h"
#include "recon/lmsummary.h"
#include "recon/qcmap.h"

static lf_scanner sc;

static int dead_crystal(uint32_t id)
{
    /* block ring 1 (rings 4..7), transaxial block 2 (k 12..17) is dead; and crystal (ring 10, k 3) */
    int ring = lf_crystal_ring(&sc, id), k = lf_crystal_index(&sc, id);
    return (ring >= 4 && ring < 8 && k >= 12 && k < 18) || (ring == 10 && k == 3);
}

static void synthetic(void **state)
{
    (void)state;
    tu_scanner("mini", &sc);
    const char *dir = tu_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/qc.l", dir);
    lf_ifh extra = {0};
    tu_study_keys(&extra);
    lf_q64_writer *w;
    lf_error err = {{0}};
    assert_int_equal(lf_q64w_open(path, &sc, -1, &extra, &w, &err), 0);
    /* every live crystal pairs with the crystal half a ring away in the mirrored ring, as prompt and
     * delayed, at t = 1500 ms + ring */
    uint64_t *want_p = calloc((size_t)sc.n_crystals, sizeof *want_p);
    uint32_t t = 0;
    for (int ring = 0; ring < sc.rings; ring++)
        for (int k = 0; k < sc.crystals_per_ring; k++) {
            uint32_t a = lf_crystal_id(&sc, ring, k);
            uint32_t b = lf_crystal_id(&sc, sc.rings - 1 - ring, (k + 12) % 24);
            if (dead_crystal(a) || dead_crystal(b))
                continue;
            lf_event e = {.t_ms = t++ / 8, .a = a, .b = b, .tof = 2, .prompt = 1};
            assert_int_equal(lf_q64w_event(w, &e, &err), 0);
            e.prompt = 0;
            e.tof = 0;
            assert_int_equal(lf_q64w_event(w, &e, &err), 0);
            want_p[a]++;
            want_p[b]++;
        }
    assert_int_equal(lf_q64w_close(w, 2100, &err), 0);
    lf_ifh_free(&extra);

    lf_lm_reader *r;
    assert_int_equal(lf_lm_open(path, NULL, &r, &err), 0);
    lf_fansums f;
    lf_lm_summary s;
    lf_lm_summary_init(&s);
    assert_int_equal(lf_fansums_init(&f, &sc, &err), 0);
    lf_lm_batch b;
    while (lf_lm_next(r, &b, &err) == 1) {
        lf_fansums_add(&f, &b);
        assert_int_equal(lf_lm_summary_add(&s, &b, &err), 0);
    }
    lf_lm_summary_finish(&s, r);
    for (int id = 0; id < sc.n_crystals; id++) {
        assert_int_equal(f.prompts[id], want_p[id]);
        assert_int_equal(f.delayeds[id], want_p[id]);
    }
    /* count-rate curve: 3 seconds of markers (0..2099 ms), all events in the first 48 ms */
    assert_int_equal(s.n_seconds, 3);
    assert_int_equal(s.prompts_per_s[0], s.st.prompts);
    assert_int_equal(s.prompts_per_s[2], 0);
    assert_int_equal(lf_lm_summary_duration_ms(&s), 2100);

    lf_dead_list d;
    assert_int_equal(lf_fansums_dead(&f, &sc, &d, &err), 0);
    assert_int_equal(d.n_real, 16 * 24);
    /* dead: 4 x 6 block crystals + (ring 10, k 3) + their mirror partners (ring 15-r, k+12) */
    uint64_t expect = 0;
    for (int id = 0; id < sc.n_crystals; id++)
        expect += want_p[id] == 0;
    assert_int_equal(d.n_crystals, expect);
    assert_true(expect >= 25);
    int found_block = 0;
    for (uint64_t i = 0; i < d.n_blocks; i++)
        found_block |= d.blocks[i] == 1 * 4 + 2;
    assert_true(found_block);
    /* the partner block (block ring 2, transaxial block 0) is dead too: its every crystal lost its pair */
    assert_int_equal(d.n_blocks, 2);

    uint8_t *rgb;
    int wd, ht;
    assert_int_equal(lf_qc_map_rgb(&f, &sc, &rgb, &wd, &ht, &err), 0);
    assert_int_equal(wd % 24, 0);
    assert_int_equal(ht % 16, 0);
    int sx = wd / 24, sy = ht / 16;
    /* a dead crystal's cell centre is red, a live one's is not */
    const uint8_t *px = rgb + ((size_t)(10 * sy + sy / 2) * wd + (size_t)(3 * sx + sx / 2)) * 3;
    assert_true(px[0] == 230 && px[1] == 20 && px[2] == 20);
    px = rgb + ((size_t)(0 * sy + sy / 2) * wd + (size_t)(0 * sx + sx / 2)) * 3;
    assert_false(px[0] == 230 && px[1] == 20);
    free(rgb);
    lf_dead_list_free(&d);
    lf_fansums_free(&f);
    lf_lm_summary_free(&s);
    lf_lm_close(r);
    free(want_p);
    tu_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(synthetic)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}

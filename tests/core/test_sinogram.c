/* PETLINK span-1 bin address -> crystal pair, on hand-worked mMR examples (petlink32.md). */
#include "testutil.h"

#include "core/sinogram.h"

static lf_scanner mmr;
static lf_sino_map map;

static int setup(void **state)
{
    (void)state;
    tu_scanner("mmr", &mmr);
    lf_error err = {{0}};
    return lf_sino_map_init(&map, &mmr, 344, 252, 60, 1, &err);
}

static int teardown(void **state)
{
    (void)state;
    lf_sino_map_free(&map);
    return 0;
}

static void check(uint32_t addr, uint32_t ea, uint32_t eb)
{
    uint32_t a = 0, b = 0;
    int tof = 0;
    assert_int_equal(lf_sino_map_pair(&map, addr, &a, &b, &tof), 0);
    assert_int_equal(a, ea);
    assert_int_equal(b, eb);
    assert_int_equal(tof, 0);
}

static void sizes(void **state)
{
    (void)state;
    assert_int_equal(map.n_sino, 4084); /* 121 segments */
    assert_int_equal(map.n_addresses, 4084u * 344u * 252u);
}

static void segment_order(void **state)
{
    (void)state;
    int s, z;
    lf_sino_segment(64, 60, 0, &s, &z);
    assert_int_equal(s, 0);
    assert_int_equal(z, 0);
    lf_sino_segment(64, 60, 64, &s, &z); /* first of segment -1 */
    assert_int_equal(s, -1);
    assert_int_equal(z, 0);
    lf_sino_segment(64, 60, 127, &s, &z); /* first of segment +1 */
    assert_int_equal(s, 1);
    assert_int_equal(z, 0);
    lf_sino_segment(64, 60, 4083, &s, &z); /* last of segment +60: z = 3 */
    assert_int_equal(s, 60);
    assert_int_equal(z, 3);
}

static void hand_worked(void **state)
{
    (void)state;
    /* address 0: tang 0 (t = -172), view 0, segment 0 ring 0:
     * det_a = (0 + floor(-172/2)) mod 504 = 418; det_b = (0 - floor(-171/2) + 252) mod 504 = 338 */
    check(0, 418, 338);
    /* tang 172 (t = 0), view 10, sino 64 (segment -1, z 0 -> ring_a 1, ring_b 0):
     * det_a = 10, det_b = 262; address = 64*86688 + 10*344 + 172 */
    check(64u * 86688u + 10u * 344u + 172u, 1u * 504u + 10u, 262u);
    /* tang 173 (t = 1), view 251, sino 127 (segment +1, z 0 -> ring_a 0, ring_b 1):
     * det_a = 251 + 0 = 251, det_b = (251 - 1 + 252) mod 504 = 502 */
    check(127u * 86688u + 251u * 344u + 173u, 251u, 504u + 502u);
    /* last sinogram (segment +60, z 3 -> rings 3 and 63), tang 343 (t = 171), view 0:
     * det_a = 85, det_b = -86 + 252 = 166 */
    check(4083u * 86688u + 343u, 3u * 504u + 85u, 63u * 504u + 166u);
}

static void out_of_range(void **state)
{
    (void)state;
    uint32_t a = 0, b = 0;
    int tof = 0;
    assert_int_equal(lf_sino_map_pair(&map, 4084u * 86688u, &a, &b, &tof), -1);
    assert_int_equal(lf_sino_map_pair(&map, 0x3FFFFFFFu, &a, &b, &tof), -1);
}

static void opposite_at_centre(void **state)
{
    (void)state;
    /* t = 0: the two crystals face each other (half a ring apart) for every view */
    for (uint32_t view = 0; view < 252; view++) {
        uint32_t a = 0, b = 0;
        int tof = 0;
        assert_int_equal(lf_sino_map_pair(&map, view * 344u + 172u, &a, &b, &tof), 0);
        assert_int_equal((b + 504 - a) % 504, 252);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(sizes), cmocka_unit_test(segment_order), cmocka_unit_test(hand_worked),
                                       cmocka_unit_test(out_of_range), cmocka_unit_test(opposite_at_centre)};
    return cmocka_run_group_tests(tests, setup, teardown);
}

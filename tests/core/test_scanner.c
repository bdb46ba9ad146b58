/* Scanner model: positions pinned by the Quadra stream contract, layouts of every bundled scanner,
 * acceptance counted in axial slots. */
#include "testutil.h"

#include <math.h>

#include "core/scanner.h"
#include "io/scanner_file.h"

#define PITCH 3.29114

static void quadra_counts(void **state)
{
    (void)state;
    lf_scanner sc;
    tu_scanner("quadra", &sc);
    assert_int_equal(sc.system_code, 1232);
    assert_int_equal(sc.crystals_per_ring, 760);
    assert_int_equal(sc.rings, 320);
    assert_int_equal(sc.n_crystals, 243200);
    assert_int_equal(sc.slots_t, 798);
    assert_int_equal(sc.slots_z, 323);
    assert_int_equal(sc.mrd, 322);
    assert_int_equal(sc.tof_bins, 33);
    assert_float_equal(sc.tof_bin_width_ps, 143.231, 1e-9);
    assert_float_equal(sc.tof_fwhm_ps, 228, 1e-9);
    assert_int_equal(sc.n_blocks, 1216); /* 32 block rings x 38: the singles tag's block index range */
}

static void quadra_axial_positions(void **state)
{
    (void)state;
    lf_scanner sc;
    tu_scanner("quadra", &sc);
    /* z = ((81u + r) - 161) * 3.29114 */
    assert_float_equal(lf_ring_z_mm(&sc, 0), -161 * PITCH, 1e-9);
    assert_float_equal(lf_ring_z_mm(&sc, 79), (79 - 161) * PITCH, 1e-9);
    assert_float_equal(lf_ring_z_mm(&sc, 80), (81 - 161) * PITCH, 1e-9); /* one virtual ring skipped */
    assert_float_equal(lf_ring_z_mm(&sc, 319), 161 * PITCH, 1e-9);
    assert_float_equal(lf_ring_z_mm(&sc, 319), 529.87354, 1e-5);
    assert_int_equal(lf_ring_slot_z(&sc, 160), 162); /* unit 2, ring 0 */
}

static void quadra_angles(void **state)
{
    (void)state;
    lf_scanner sc;
    tu_scanner("quadra", &sc);
    assert_float_equal(lf_crystal_phi_rad(&sc, 0), 0.0, 1e-12);
    assert_float_equal(lf_crystal_phi_rad(&sc, 19), 2 * M_PI * 19 / 798, 1e-12);
    assert_float_equal(lf_crystal_phi_rad(&sc, 20), 2 * M_PI * 21 / 798, 1e-12); /* gap slot 20 skipped */
    assert_float_equal(lf_crystal_phi_rad(&sc, 759), 2 * M_PI * (21 * 37 + 19) / 798, 1e-12);
    /* interaction point at 410 + 7 mm */
    double p[3];
    lf_crystal_position_mm(&sc, lf_crystal_id(&sc, 80, 20), p);
    assert_float_equal(hypot(p[0], p[1]), 417.0, 1e-9);
    assert_float_equal(p[0], 417.0 * cos(2 * M_PI * 21 / 798), 1e-9);
    assert_float_equal(p[1], 417.0 * sin(2 * M_PI * 21 / 798), 1e-9);
    assert_float_equal(p[2], -80 * PITCH, 1e-9);
    /* LOR endpoints in the contract's order: p1 = crystal a */
    float p1[3], p2[3];
    lf_lor_endpoints_mm(&sc, 0, 380, p1, p2);
    assert_float_equal(p1[0], 417.0f, 1e-3);
    assert_float_equal(p1[2], (float)(-161 * PITCH), 1e-3);
    assert_float_equal(p2[0], (float)(417.0 * cos(2 * M_PI * (19 * 21) / 798)), 1e-3);
}

static void quadra_acceptance(void **state)
{
    (void)state;
    lf_scanner sc;
    tu_scanner("quadra", &sc);
    uint32_t a = lf_crystal_id(&sc, 0, 5);
    assert_true(lf_pair_accepted(&sc, a, lf_crystal_id(&sc, 319, 400), 322));
    assert_false(lf_pair_accepted(&sc, a, a, 322));
    /* ring 0 -> slot 0; ring 85 -> slot 86 (virtual ring 80 counted): HS (85) rejects, ring 84 accepted */
    assert_false(lf_pair_accepted(&sc, a, lf_crystal_id(&sc, 85, 0), 85));
    assert_true(lf_pair_accepted(&sc, a, lf_crystal_id(&sc, 84, 0), 85));
    assert_true(lf_pair_accepted(&sc, a, lf_crystal_id(&sc, 79, 0), 85));
    assert_false(lf_pair_accepted(&sc, a, 243200, 322));
}

static void mmr_layout(void **state)
{
    (void)state;
    lf_scanner sc;
    tu_scanner("mmr", &sc);
    assert_int_equal(sc.crystals_per_ring, 504);
    assert_int_equal(sc.rings, 64);
    assert_int_equal(sc.slots_z, 64);
    assert_int_equal(sc.sino_tang_bins, 344);
    assert_int_equal(sc.sino_views, 252);
    assert_int_equal(sc.mrd, 60);
    /* virtual crystal at index 0 of each block of 9 */
    int nvirt = 0;
    for (int k = 0; k < 504; k++)
        nvirt += lf_crystal_is_virtual(&sc, k);
    assert_int_equal(nvirt, 56);
    assert_true(lf_crystal_is_virtual(&sc, 0));
    assert_true(lf_crystal_is_virtual(&sc, 9));
    assert_false(lf_crystal_is_virtual(&sc, 1));
    assert_false(lf_crystal_is_virtual(&sc, 8));
    assert_int_equal(lf_crystal_block_t(&sc, 17), 1);
    assert_int_equal(lf_crystal_block_t(&sc, 18), 2);
    assert_float_equal(lf_ring_z_mm(&sc, 0), -31.5 * 4.0625, 1e-9);
}

static void every_bundled_scanner_loads(void **state)
{
    (void)state;
    const char *names[] = {"quadra", "mmr", "vision600", "mini"};
    for (int i = 0; i < 4; i++) {
        lf_scanner sc;
        tu_scanner(names[i], &sc);
        assert_true(sc.n_crystals > 0);
        assert_true(sc.mrd <= sc.slots_z - 1);
    }
    lf_scanner v;
    tu_scanner("vision600", &v);
    assert_int_equal(v.n_crystals, 760 * 80);
    assert_float_equal(lf_ring_z_mm(&v, 79) - lf_ring_z_mm(&v, 0), 79 * 3.2, 1e-9);
}

static void find_by_code(void **state)
{
    (void)state;
    lf_scanner sc;
    lf_error err = {{0}};
    assert_int_equal(lf_scanner_by_code(LAFOV_SOURCE_DATA_DIR "/scanners", 1232, &sc, &err), 0);
    assert_string_equal(sc.name, "quadra");
    assert_int_equal(lf_scanner_by_code(LAFOV_SOURCE_DATA_DIR "/scanners", 2008, &sc, &err), 0);
    assert_string_equal(sc.name, "mmr");
    assert_int_equal(lf_scanner_by_code(LAFOV_SOURCE_DATA_DIR "/scanners", 4242, &sc, &err), -1);
    assert_true(tu_contains(err.msg, "4242"));
    assert_true(tu_contains(err.msg, "1232 (quadra)"));
    assert_int_equal(lf_scanner_by_name(LAFOV_SOURCE_DATA_DIR "/scanners", "nosuch", &sc, &err), -1);
    assert_true(tu_contains(err.msg, "nosuch"));
}

static void bad_scanner_file(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/broken.scanner", dir);
    tu_write_text(path, "transaxial blocks per ring := 4\ntransaxial crystals per block := six\n");
    lf_scanner sc;
    lf_error err = {{0}};
    assert_int_equal(lf_scanner_load(path, &sc, &err), -1);
    assert_true(tu_contains(err.msg, "transaxial crystals per block"));
    assert_true(tu_contains(err.msg, "broken.scanner"));
    tu_write_text(path, "transaxial blocks per ring := 4\ntransaxial crystals per block := 6\nrings per unit := 8\n"
                        "axial crystals per block := 4\nring radius (mm) := 100\nring pitch (mm) := 4\n");
    assert_int_equal(lf_scanner_load(path, &sc, &err), -1);
    assert_true(tu_contains(err.msg, "maximum ring difference"));
    tu_write_text(path, "transaxial blocks per ring := 4\ntransaxial crystals per block := 6\nrings per unit := 8\n"
                        "axial crystals per block := 3\nring radius (mm) := 100\nring pitch (mm) := 4\n"
                        "maximum ring difference := 7\n");
    assert_int_equal(lf_scanner_load(path, &sc, &err), -1);
    assert_true(tu_contains(err.msg, "axial crystals per block"));
    tu_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(quadra_counts),  cmocka_unit_test(quadra_axial_positions), cmocka_unit_test(quadra_angles),
        cmocka_unit_test(quadra_acceptance), cmocka_unit_test(mmr_layout),       cmocka_unit_test(every_bundled_scanner_loads),
        cmocka_unit_test(find_by_code),   cmocka_unit_test(bad_scanner_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

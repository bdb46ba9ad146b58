#include "scanner.h"

#include <math.h>
#include <stdlib.h>

static int need_positive(int v, const char *what, const lf_scanner *sc, lf_error *err)
{
    if (v <= 0)
        return lf_fail(err, "scanner '%s': '%s' must be a positive integer, got %d", sc->name, what, v);
    return 0;
}

int lf_scanner_finish(lf_scanner *sc, lf_error *err)
{
    if (need_positive(sc->blocks_t, "transaxial blocks per ring", sc, err) ||
        need_positive(sc->crystals_per_block_t, "transaxial crystals per block", sc, err) ||
        need_positive(sc->units_z, "axial units", sc, err) ||
        need_positive(sc->rings_per_unit, "rings per unit", sc, err) ||
        need_positive(sc->axial_crystals_per_block, "axial crystals per block", sc, err) ||
        need_positive(sc->tof_bins, "number of TOF bins", sc, err))
        return -1;
    if (sc->gap_slots_t < 0 || sc->gap_rings < 0)
        return lf_fail(err, "scanner '%s': gap counts must be >= 0", sc->name);
    if (sc->gap_slots_t == 0 && sc->numbering == LF_NUMBERING_SLOTS && sc->gap_before)
        return lf_fail(err, "scanner '%s': 'transaxial gap position' is meaningless without gap slots", sc->name);
    if (!(sc->ring_radius_mm > 0) || !(sc->ring_pitch_mm > 0) || !(sc->doi_mm >= 0))
        return lf_fail(err, "scanner '%s': ring radius and ring pitch must be > 0 mm, depth of interaction >= 0 mm", sc->name);
    if (sc->tof_bins % 2 == 0)
        return lf_fail(err, "scanner '%s': 'number of TOF bins' must be odd (bins centred on 0), got %d", sc->name, sc->tof_bins);
    if (sc->tof_bins > 1 && !(sc->tof_bin_width_ps > 0))
        return lf_fail(err, "scanner '%s': 'TOF bin width (ps)' must be > 0 for a TOF scanner", sc->name);
    if (sc->rings_per_unit % sc->axial_crystals_per_block != 0)
        return lf_fail(err, "scanner '%s': 'rings per unit' (%d) is not a multiple of 'axial crystals per block' (%d)",
                       sc->name, sc->rings_per_unit, sc->axial_crystals_per_block);

    sc->slots_t = sc->blocks_t * (sc->crystals_per_block_t + sc->gap_slots_t);
    sc->crystals_per_ring = sc->numbering == LF_NUMBERING_REAL ? sc->blocks_t * sc->crystals_per_block_t : sc->slots_t;
    sc->rings = sc->units_z * sc->rings_per_unit;
    sc->slots_z = sc->rings + (sc->units_z - 1) * sc->gap_rings;
    sc->blocks_z = sc->rings / sc->axial_crystals_per_block;
    sc->n_blocks = sc->blocks_z * sc->blocks_t;
    long long n = (long long)sc->rings * sc->crystals_per_ring;
    if (n > (1LL << 30))
        return lf_fail(err, "scanner '%s': %lld crystals exceed the supported 2^30", sc->name, n);
    sc->n_crystals = (int)n;
    if (sc->mrd < 0 || sc->mrd > sc->slots_z - 1)
        return lf_fail(err, "scanner '%s': 'maximum ring difference' %d outside 0..%d (axial slots - 1)", sc->name, sc->mrd,
                       sc->slots_z - 1);
    if (sc->format == LF_FORMAT_PETLINK32 && (sc->sino_tang_bins <= 0 || sc->sino_views <= 0))
        return lf_fail(err, "scanner '%s': a PETLINK 32-bit scanner needs 'sinogram tangential bins' and 'sinogram views'", sc->name);
    return 0;
}

int lf_crystal_slot_t(const lf_scanner *sc, int k)
{
    if (sc->numbering == LF_NUMBERING_SLOTS)
        return k;
    int b = k / sc->crystals_per_block_t, c = k % sc->crystals_per_block_t;
    return b * (sc->crystals_per_block_t + sc->gap_slots_t) + (sc->gap_before ? sc->gap_slots_t : 0) + c;
}

int lf_crystal_is_virtual(const lf_scanner *sc, int k)
{
    if (sc->numbering == LF_NUMBERING_REAL || sc->gap_slots_t == 0)
        return 0;
    int c = k % (sc->crystals_per_block_t + sc->gap_slots_t);
    return sc->gap_before ? c < sc->gap_slots_t : c >= sc->crystals_per_block_t;
}

int lf_crystal_block_t(const lf_scanner *sc, int k)
{
    if (sc->numbering == LF_NUMBERING_SLOTS)
        return k / (sc->crystals_per_block_t + sc->gap_slots_t);
    return k / sc->crystals_per_block_t;
}

int lf_ring_slot_z(const lf_scanner *sc, int ring)
{
    int u = ring / sc->rings_per_unit, r = ring % sc->rings_per_unit;
    return u * (sc->rings_per_unit + sc->gap_rings) + r;
}

int lf_crystal_block(const lf_scanner *sc, uint32_t id)
{
    int ring = lf_crystal_ring(sc, id);
    return (ring / sc->axial_crystals_per_block) * sc->blocks_t + lf_crystal_block_t(sc, lf_crystal_index(sc, id));
}

double lf_crystal_phi_rad(const lf_scanner *sc, int k)
{
    return 2.0 * M_PI * (double)lf_crystal_slot_t(sc, k) / (double)sc->slots_t + sc->angle_offset_rad;
}

double lf_ring_z_mm(const lf_scanner *sc, int ring)
{
    return ((double)lf_ring_slot_z(sc, ring) - 0.5 * (double)(sc->slots_z - 1)) * sc->ring_pitch_mm;
}

void lf_crystal_position_mm(const lf_scanner *sc, uint32_t id, double xyz[3])
{
    double phi = lf_crystal_phi_rad(sc, lf_crystal_index(sc, id));
    double r = sc->ring_radius_mm + sc->doi_mm;
    xyz[0] = r * cos(phi);
    xyz[1] = r * sin(phi);
    xyz[2] = lf_ring_z_mm(sc, lf_crystal_ring(sc, id));
}

void lf_lor_endpoints_mm(const lf_scanner *sc, uint32_t a, uint32_t b, float p1[3], float p2[3])
{
    double pa[3], pb[3];
    lf_crystal_position_mm(sc, a, pa);
    lf_crystal_position_mm(sc, b, pb);
    for (int i = 0; i < 3; i++) {
        p1[i] = (float)pa[i];
        p2[i] = (float)pb[i];
    }
}

int lf_pair_accepted(const lf_scanner *sc, uint32_t a, uint32_t b, int mrd)
{
    if (a == b || a >= (uint32_t)sc->n_crystals || b >= (uint32_t)sc->n_crystals)
        return 0;
    if (lf_crystal_is_virtual(sc, lf_crystal_index(sc, a)) || lf_crystal_is_virtual(sc, lf_crystal_index(sc, b)))
        return 0;
    int d = lf_ring_slot_z(sc, lf_crystal_ring(sc, a)) - lf_ring_slot_z(sc, lf_crystal_ring(sc, b));
    return abs(d) <= mrd;
}

#include "sinogram.h"

#include <stdlib.h>
#include <string.h>

static int floor_div2(int t) { return t >= 0 ? t / 2 : -((-t + 1) / 2); }
static int mod_pos(int a, int n) { int r = a % n; return r < 0 ? r + n : r; }

void lf_sino_segment(int n_rings, int mrd, uint32_t sino, int *segment, int *z)
{
    uint32_t start = 0;
    /* order 0, -1, +1, -2, +2, ... */
    for (int i = 0; i <= 2 * mrd; i++) {
        int s = (i == 0) ? 0 : ((i % 2 == 1) ? -((i + 1) / 2) : i / 2);
        uint32_t len = (uint32_t)(n_rings - abs(s));
        if (sino < start + len) {
            *segment = s;
            *z = (int)(sino - start);
            return;
        }
        start += len;
    }
    *segment = 0;
    *z = -1;
}

int lf_sino_map_init(lf_sino_map *m, const lf_scanner *sc, int n_tang, int n_view, int mrd, int n_tof, lf_error *err)
{
    memset(m, 0, sizeof *m);
    if (sc->numbering != LF_NUMBERING_SLOTS)
        return lf_fail(err, "scanner '%s': PETLINK sinogram mapping needs 'stream crystal numbering := slots'", sc->name);
    if (n_tang <= 0 || n_view <= 0 || n_tang > 4096 || n_view > 4096)
        return lf_fail(err, "sinogram size %d x %d is out of range", n_tang, n_view);
    if (mrd < 0 || mrd >= sc->rings)
        return lf_fail(err, "maximum ring difference %d outside 0..%d for %d rings", mrd, sc->rings - 1, sc->rings);
    if (n_tof < 1 || n_tof > 63 || n_tof % 2 == 0)
        return lf_fail(err, "number of TOF bins %d: expected an odd number 1..63", n_tof);
    if (sc->slots_t > 65535 || sc->rings > 65535)
        return lf_fail(err, "scanner '%s' too large for the sinogram tables", sc->name);
    m->n_tang = n_tang;
    m->n_view = n_view;
    m->n_rings = sc->rings;
    m->mrd = mrd;
    m->n_tof = n_tof;
    m->n_det = sc->slots_t;
    uint64_t nsino = (uint64_t)sc->rings * (2 * (uint64_t)mrd + 1) - (uint64_t)mrd * (mrd + 1);
    uint64_t per_tof = (uint64_t)n_tang * n_view * nsino;
    if (per_tof * n_tof > (1ull << 30))
        return lf_fail(err, "sinogram %d x %d x %llu x %d TOF bins does not fit the 30-bit PETLINK address", n_tang, n_view,
                       (unsigned long long)nsino, n_tof);
    m->n_sino = (uint32_t)nsino;
    m->bins_per_tof = (uint32_t)per_tof;
    m->n_addresses = (uint32_t)(per_tof * n_tof);
    m->div_tv = lf_fastdiv_make((uint32_t)(n_tang * n_view));
    m->div_sino = lf_fastdiv_make(m->n_sino);

    size_t ntv = (size_t)n_tang * n_view;
    m->tv_det = malloc(ntv * sizeof *m->tv_det);
    m->sino_base = malloc(m->n_sino * sizeof *m->sino_base);
    m->sino_base_b = malloc(m->n_sino * sizeof *m->sino_base_b);
    if (!m->tv_det || !m->sino_base || !m->sino_base_b) {
        lf_sino_map_free(m);
        return lf_fail(err, "out of memory building the sinogram tables");
    }
    int nd = m->n_det;
    for (int view = 0; view < n_view; view++)
        for (int tang = 0; tang < n_tang; tang++) {
            int t = tang - n_tang / 2;
            size_t i = (size_t)view * n_tang + tang;
            m->tv_det[i] = (uint32_t)mod_pos(view + floor_div2(t), nd) |
                           (uint32_t)mod_pos(view - floor_div2(t + 1) + nd / 2, nd) << 16;
        }
    for (uint32_t s = 0; s < m->n_sino; s++) {
        int seg, z;
        lf_sino_segment(sc->rings, mrd, s, &seg, &z);
        m->sino_base[s] = (uint32_t)(z + (seg < 0 ? -seg : 0)) * (uint32_t)nd;
        m->sino_base_b[s] = (uint32_t)(z + (seg > 0 ? seg : 0)) * (uint32_t)nd;
    }
    for (int i = 0; i < 64; i++)
        m->tof_of_index[i] = (int8_t)(i == 0 ? 0 : (i % 2 == 1 ? (i + 1) / 2 : -(i / 2)));
    return 0;
}

void lf_sino_map_free(lf_sino_map *m)
{
    free(m->tv_det);
    free(m->sino_base);
    free(m->sino_base_b);
    m->tv_det = m->sino_base = m->sino_base_b = NULL;
}

/* lafov core: PETLINK span-1 sinogram bin address -> crystal pair (petlink32.md, STIR's mapping).
 *
 * With Nproj tangential bins, Nview views, rings R and maximum ring difference M, the non-TOF
 * address space holds Nsino = sum_{s=-M..M} (R - |s|) sinograms stored segment by segment in the
 * order 0, -1, +1, -2, +2, ...; address a decodes as tang = a % Nproj, view = (a / Nproj) % Nview,
 * sino = (a / (Nproj*Nview)) % Nsino, tof = a / (Nproj*Nview*Nsino). Then with t = tang - Nproj/2:
 *   det_a = (view + floor(t/2)) mod Ndet,  det_b = (view - floor((t+1)/2) + Ndet/2) mod Ndet,
 *   ring_a = z + max(0, -s),  ring_b = z + max(0, s).
 * Ndet is the scanner's slots per ring (virtual crystals included: stream numbering SLOTS).
 * TOF index i (for TOF PETLINK scanners) maps to the signed bin 0, +1, -1, +2, -2, ... (documented
 * assumption: petlink32.md notes that the public sources disagree on the sign order).
 * The map holds precomputed tables (a few hundred kB), built once per file.
 */
#ifndef LF_SINOGRAM_H
#define LF_SINOGRAM_H

#include <stdint.h>

#include "error.h"
#include "fastdiv.h"
#include "scanner.h"

typedef struct lf_sino_map {
    int n_tang, n_view, n_rings, mrd, n_tof;
    int n_det;                 /* detectors per ring in the numbering (slots) */
    uint32_t n_sino;           /* sinograms (non-TOF) */
    uint32_t bins_per_tof;     /* n_tang * n_view * n_sino */
    uint32_t n_addresses;      /* bins_per_tof * n_tof */
    lf_fastdiv div_tv, div_sino;
    uint32_t *tv_det;          /* [view * n_tang + tang]: det_a | det_b << 16 */
    uint32_t *sino_base, *sino_base_b; /* [sino]: ring_a * n_det, ring_b * n_det */
    int8_t tof_of_index[64];
} lf_sino_map;

/* Builds the map for a scanner with the given sinogram dimensions (from the list-mode header). */
int lf_sino_map_init(lf_sino_map *m, const lf_scanner *sc, int n_tang, int n_view, int mrd, int n_tof, lf_error *err);
void lf_sino_map_free(lf_sino_map *m);

/* Segment and axial position of sinogram index `sino` (slow path, used to build tables and tests). */
void lf_sino_segment(int n_rings, int mrd, uint32_t sino, int *segment, int *z);

/* Decodes a bin address. Returns 0 and fills crystal ids and TOF bin, or -1 for an address outside
 * the sinogram (invalid event). */
static inline int lf_sino_map_pair(const lf_sino_map *m, uint32_t addr, uint32_t *ca, uint32_t *cb, int *tof)
{
    if (addr >= m->n_addresses)
        return -1;
    uint32_t q = lf_fastdiv_div(m->div_tv, addr);
    uint32_t tv = addr - q * m->div_tv.d;
    uint32_t tofi = lf_fastdiv_div(m->div_sino, q);
    uint32_t sino = q - tofi * m->div_sino.d;
    uint32_t dets = m->tv_det[tv];
    *ca = m->sino_base[sino] + (dets & 0xFFFFu);
    *cb = m->sino_base_b[sino] + (dets >> 16);
    *tof = m->tof_of_index[tofi];
    return 0;
}

#endif

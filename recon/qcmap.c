#include "qcmap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* dark blue -> teal -> yellow, t in [0, 1] */
static void ramp(double t, uint8_t *c)
{
    static const double k[5][3] = {{0.07, 0.04, 0.25}, {0.15, 0.30, 0.55}, {0.12, 0.56, 0.55}, {0.45, 0.78, 0.35},
                                   {0.99, 0.91, 0.15}};
    if (!(t > 0))
        t = 0;
    if (t > 1)
        t = 1;
    double x = t * 4.0;
    int i = (int)x;
    if (i > 3)
        i = 3;
    double w = x - i;
    for (int ch = 0; ch < 3; ch++)
        c[ch] = (uint8_t)lround(255.0 * (k[i][ch] * (1 - w) + k[i + 1][ch] * w));
}

int lf_qc_map_rgb(const lf_fansums *f, const lf_scanner *sc, uint8_t **rgb, int *width, int *height, lf_error *err)
{
    int nx = sc->crystals_per_ring, ny = sc->rings;
    int sx = nx >= 700 ? 1 : (700 + nx - 1) / nx;
    int sy = ny >= 240 ? 1 : (240 + ny - 1) / ny;
    int w = nx * sx, h = ny * sy;
    uint64_t *vals = malloc((size_t)sc->n_crystals * sizeof *vals);
    uint8_t *img = malloc((size_t)w * h * 3);
    if (!vals || !img) {
        free(vals);
        free(img);
        return lf_fail(err, "out of memory for the QC map");
    }
    size_t nreal = 0;
    for (int id = 0; id < sc->n_crystals; id++)
        if (!lf_crystal_is_virtual(sc, lf_crystal_index(sc, (uint32_t)id)))
            vals[nreal++] = f->prompts[id];
    qsort(vals, nreal, sizeof *vals, cmp_u64);
    double p99 = nreal ? (double)vals[(size_t)((double)(nreal - 1) * 0.99)] : 0;
    if (p99 <= 0)
        p99 = 1;
    free(vals);
    int cpb_slots = sc->numbering == LF_NUMBERING_SLOTS ? sc->crystals_per_block_t + sc->gap_slots_t : sc->crystals_per_block_t;
    for (int ring = 0; ring < ny; ring++)
        for (int k = 0; k < nx; k++) {
            uint32_t id = lf_crystal_id(sc, ring, k);
            uint8_t c[3];
            if (lf_crystal_is_virtual(sc, k)) {
                c[0] = c[1] = c[2] = 128;
            } else if (f->prompts[id] == 0 && f->delayeds[id] == 0) {
                c[0] = 230;
                c[1] = 20;
                c[2] = 20;
            } else {
                ramp((double)f->prompts[id] / p99, c);
            }
            for (int yy = 0; yy < sy; yy++)
                for (int xx = 0; xx < sx; xx++) {
                    uint8_t *px = img + ((size_t)(ring * sy + yy) * w + (size_t)(k * sx + xx)) * 3;
                    int border = (sx >= 2 && xx == 0 && k % cpb_slots == 0) ||
                                 (sy >= 2 && yy == 0 && ring % sc->axial_crystals_per_block == 0 && ring > 0);
                    for (int ch = 0; ch < 3; ch++)
                        px[ch] = border ? (uint8_t)(c[ch] / 3) : c[ch];
                }
        }
    *rgb = img;
    *width = w;
    *height = h;
    return 0;
}

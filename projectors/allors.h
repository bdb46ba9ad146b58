/* lafov projectors: every LOR of a scanner's acceptance, without holding them (sensitivity images,
 * attenuation factors).
 *
 * The Quadra has ~3e10 crystal pairs: they are enumerated in chunks, their endpoints computed on the
 * fly from small per-crystal tables (the same floats as lf_lor_endpoints_mm), and pairs whose LOR
 * cannot touch the image grid are skipped. Each unordered pair comes once, as (a, b) with a < b
 * (point 1 = crystal a), ring pair by ring pair (r_a <= r_b, |slot difference| <= mrd), then by
 * in-ring index; virtual (gap) crystals never appear.
 *
 * Skip test (exact and conservative): the LOR segment must meet the grid's box grown by one voxel on
 * every side (Joseph's bilinear support reaches half a voxel beyond the outer faces); the transaxial
 * part comes from a table over in-ring pairs (k_a, k_b), so a pair costs a few flops.
 *
 *   lf_allors it;
 *   if (lf_allors_begin(&it, sc, mrd, &grid, &err) != 0) ...
 *   while ((n = lf_allors_next(&it, a, b, lors, cap)) > 0) ...   (it.pairs_seen / it.pairs_total: progress)
 *   lf_allors_end(&it);
 */
#ifndef LF_ALLORS_H
#define LF_ALLORS_H

#include <stdint.h>

#include "../core/scanner.h"
#include "projector.h"

typedef struct lf_allors {
    const lf_scanner *sc;
    int mrd;
    int nk;                /* real crystals per ring */
    int *kreal;            /* their in-ring indices */
    float *xy;             /* nk x 2: transaxial interaction point of kreal[i] */
    float *z;              /* rings: axial position */
    int *slot;             /* rings: axial slot */
    float *txa;            /* nk x nk x 2: alpha range of the transaxial segment inside the grown box (lo > hi: misses) */
    float zlo, zhi;        /* the grown box along z */
    int r1, r2, i1, i2;    /* position: ring pair, in-ring pair (indices into kreal) */
    uint64_t pairs_total;  /* accepted unordered pairs */
    uint64_t pairs_seen;   /* accepted pairs enumerated so far, kept or skipped */
    uint64_t lors_kept;    /* LORs returned so far */
} lf_allors;

/* mrd < 0: the scanner's default. g may be NULL (keep every pair). */
int lf_allors_begin(lf_allors *it, const lf_scanner *sc, int mrd, const lf_grid *g, lf_error *err);
/* Up to cap LORs: crystal ids (a or b may be NULL) and endpoints (float[6] each, may be NULL).
 * Returns the count; 0 once every pair has been enumerated. */
size_t lf_allors_next(lf_allors *it, uint32_t *a, uint32_t *b, float *lors, size_t cap);
void lf_allors_end(lf_allors *it);

/* Per-LOR values for a chunk: fill values[0..n-1]; return 0, or -1 with err to stop. */
typedef int (*lf_lor_values_fn)(void *user, const uint32_t *a, const uint32_t *b, const float *lors, size_t n,
                                float *values, lf_error *err);
/* Receives a chunk's projections; return 0, or -1 with err to stop. */
typedef int (*lf_lor_sink_fn)(void *user, const uint32_t *a, const uint32_t *b, const float *lors, const float *proj,
                              size_t n, lf_error *err);

/* img += Σ over every LOR of the acceptance of values(LOR) · (its non-TOF back projection);
 * values_fn NULL: every value 1 (the geometric sensitivity). Chunks are back-projected in a fixed
 * order, each deterministically: the result does not depend on the thread count. */
int lf_allors_back(lf_device dev, lf_proj_kind kind, const lf_scanner *sc, int mrd, const lf_grid *g,
                   lf_lor_values_fn values_fn, void *user, float *img, lf_error *err);
/* Non-TOF forward projection of img along every LOR of the acceptance, handed to sink per chunk. */
int lf_allors_fwd(lf_device dev, lf_proj_kind kind, const lf_scanner *sc, int mrd, const lf_grid *g,
                  const float *img, lf_lor_sink_fn sink, void *user, lf_error *err);

#endif

/* lafov projectors: every LOR of a scanner's acceptance (allors.h). */
#include "allors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LF_ALLORS_CHUNK ((size_t)1 << 18)

/* alpha range [*t0, *t1] of p + alpha*d, alpha in [0, 1], inside [lo, hi] along one axis */
static void clip_axis(double p, double d, double lo, double hi, double *t0, double *t1)
{
    if (d == 0.0) {
        if (p < lo || p > hi) {
            *t0 = 1.0;
            *t1 = 0.0;
        }
        return;
    }
    double a = (lo - p) / d, b = (hi - p) / d;
    if (a > b) {
        double t = a;
        a = b;
        b = t;
    }
    if (a > *t0)
        *t0 = a;
    if (b < *t1)
        *t1 = b;
}

int lf_allors_begin(lf_allors *it, const lf_scanner *sc, int mrd, const lf_grid *g, lf_error *err)
{
    memset(it, 0, sizeof *it);
    if (mrd < 0)
        mrd = sc->mrd;
    if (g && lf_proj_check(g, NULL, err) != 0)
        return lf_fail_prefix(err, "all-LOR projection");
    const int cpr = sc->crystals_per_ring, rings = sc->rings;
    it->sc = sc;
    it->mrd = mrd;
    it->kreal = malloc((size_t)cpr * sizeof *it->kreal);
    it->xy = malloc((size_t)cpr * 2 * sizeof *it->xy);
    it->z = malloc((size_t)rings * sizeof *it->z);
    it->slot = malloc((size_t)rings * sizeof *it->slot);
    if (!it->kreal || !it->xy || !it->z || !it->slot)
        goto oom;
    for (int k = 0; k < cpr; k++) {
        if (lf_crystal_is_virtual(sc, k))
            continue;
        double p[3];
        lf_crystal_position_mm(sc, lf_crystal_id(sc, 0, k), p);
        it->kreal[it->nk] = k;
        it->xy[2 * it->nk] = (float)p[0];
        it->xy[2 * it->nk + 1] = (float)p[1];
        it->nk++;
    }
    for (int r = 0; r < rings; r++) {
        it->z[r] = (float)lf_ring_z_mm(sc, r);
        it->slot[r] = lf_ring_slot_z(sc, r);
    }
    const int nk = it->nk;
    it->txa = malloc((size_t)nk * (size_t)nk * 2 * sizeof *it->txa);
    if (!it->txa)
        goto oom;
    double lo[3] = {-HUGE_VAL, -HUGE_VAL, -HUGE_VAL}, hi[3] = {HUGE_VAL, HUGE_VAL, HUGE_VAL};
    if (g)
        for (int i = 0; i < 3; i++) { /* outer faces, grown by one voxel */
            lo[i] = (double)g->origin_mm[i] - 1.5 * (double)g->voxel_mm[i];
            hi[i] = (double)g->origin_mm[i] + ((double)g->n[i] + 0.5) * (double)g->voxel_mm[i];
        }
    it->zlo = (float)lo[2];
    it->zhi = (float)hi[2];
    for (int i = 0; i < nk; i++)
        for (int j = 0; j < nk; j++) {
            double t0 = 0.0, t1 = 1.0, x = it->xy[2 * i], y = it->xy[2 * i + 1];
            clip_axis(x, (double)it->xy[2 * j] - x, lo[0], hi[0], &t0, &t1);
            clip_axis(y, (double)it->xy[2 * j + 1] - y, lo[1], hi[1], &t0, &t1);
            it->txa[2 * ((size_t)i * nk + j)] = (float)t0;
            it->txa[2 * ((size_t)i * nk + j) + 1] = (float)t1;
        }
    for (int r1 = 0; r1 < rings; r1++)
        for (int r2 = r1; r2 < rings && it->slot[r2] - it->slot[r1] <= mrd; r2++)
            it->pairs_total += r1 == r2 ? (uint64_t)nk * (uint64_t)(nk - 1) / 2 : (uint64_t)nk * (uint64_t)nk;
    it->r1 = 0;
    it->r2 = 0;
    it->i1 = 0;
    it->i2 = 1;
    return 0;
oom:
    lf_allors_end(it);
    return lf_fail(err, "all-LOR projection: out of memory");
}

void lf_allors_end(lf_allors *it)
{
    free(it->kreal);
    free(it->xy);
    free(it->z);
    free(it->slot);
    free(it->txa);
    it->kreal = NULL;
    it->xy = it->z = it->txa = NULL;
    it->slot = NULL;
}

size_t lf_allors_next(lf_allors *it, uint32_t *a, uint32_t *b, float *lors, size_t cap)
{
    const lf_scanner *sc = it->sc;
    const int nk = it->nk, rings = sc->rings;
    size_t n = 0;
    while (it->r1 < rings && n < cap) {
        const int r1 = it->r1, r2 = it->r2, same = r1 == r2;
        if (it->i2 >= nk) { /* next row */
            it->i1++;
            it->i2 = same ? it->i1 + 1 : 0;
        }
        if (it->i1 >= nk || (same && it->i2 >= nk)) { /* next ring pair */
            it->r2++;
            if (it->r2 >= rings || it->slot[it->r2] - it->slot[r1] > it->mrd) {
                it->r1++;
                it->r2 = it->r1;
            }
            it->i1 = 0;
            it->i2 = it->r1 == it->r2 ? 1 : 0;
            continue;
        }
        /* one row: i1 fixed, i2 up to nk or the capacity */
        const int i1 = it->i1;
        const float z1 = it->z[r1], z2 = it->z[r2], dz = z2 - z1;
        const float *tx = it->txa + 2 * (size_t)i1 * nk;
        int i2 = it->i2;
        for (; i2 < nk && n < cap; i2++) {
            float t0 = tx[2 * i2], t1 = tx[2 * i2 + 1];
            if (t0 > t1)
                continue;
            float za = z1 + t0 * dz, zb = z1 + t1 * dz;
            if (fminf(za, zb) > it->zhi || fmaxf(za, zb) < it->zlo)
                continue;
            if (a)
                a[n] = lf_crystal_id(sc, r1, it->kreal[i1]);
            if (b)
                b[n] = lf_crystal_id(sc, r2, it->kreal[i2]);
            if (lors) {
                float *l = lors + 6 * n;
                l[0] = it->xy[2 * i1];
                l[1] = it->xy[2 * i1 + 1];
                l[2] = z1;
                l[3] = it->xy[2 * i2];
                l[4] = it->xy[2 * i2 + 1];
                l[5] = z2;
            }
            n++;
        }
        it->pairs_seen += (uint64_t)(i2 - it->i2);
        it->i2 = i2;
    }
    it->lors_kept += n;
    return n;
}

typedef struct {
    uint32_t *a, *b;
    float *lors, *vals;
} chunk;

static int chunk_alloc(chunk *c, lf_error *err)
{
    c->a = malloc(LF_ALLORS_CHUNK * sizeof *c->a);
    c->b = malloc(LF_ALLORS_CHUNK * sizeof *c->b);
    c->lors = malloc(LF_ALLORS_CHUNK * 6 * sizeof *c->lors);
    c->vals = malloc(LF_ALLORS_CHUNK * sizeof *c->vals);
    if (c->a && c->b && c->lors && c->vals)
        return 0;
    return lf_fail(err, "all-LOR projection: out of memory");
}

static void chunk_free(chunk *c)
{
    free(c->a);
    free(c->b);
    free(c->lors);
    free(c->vals);
}

int lf_allors_back(lf_device dev, lf_proj_kind kind, const lf_scanner *sc, int mrd, const lf_grid *g,
                   lf_lor_values_fn values_fn, void *user, float *img, lf_error *err)
{
    if (!g || !img)
        return lf_fail(err, "all-LOR back projection: no grid or image");
    lf_allors it;
    if (lf_allors_begin(&it, sc, mrd, g, err) != 0)
        return -1;
    chunk c;
    int rc = chunk_alloc(&c, err);
    size_t n;
    while (rc == 0 && (n = lf_allors_next(&it, c.a, c.b, c.lors, LF_ALLORS_CHUNK)) > 0) {
        if (values_fn)
            rc = values_fn(user, c.a, c.b, c.lors, n, c.vals, err);
        else
            for (size_t i = 0; i < n; i++)
                c.vals[i] = 1.0f;
        if (rc == 0)
            rc = lf_proj_back_dev(dev, kind, g, img, c.lors, n, NULL, NULL, c.vals, err);
    }
    chunk_free(&c);
    lf_allors_end(&it);
    return rc ? -1 : 0;
}

int lf_allors_fwd(lf_device dev, lf_proj_kind kind, const lf_scanner *sc, int mrd, const lf_grid *g,
                  const float *img, lf_lor_sink_fn sink, void *user, lf_error *err)
{
    if (!g || !img || !sink)
        return lf_fail(err, "all-LOR forward projection: no grid, image or sink");
    lf_allors it;
    if (lf_allors_begin(&it, sc, mrd, g, err) != 0)
        return -1;
    chunk c;
    int rc = chunk_alloc(&c, err);
    size_t n;
    while (rc == 0 && (n = lf_allors_next(&it, c.a, c.b, c.lors, LF_ALLORS_CHUNK)) > 0) {
        rc = lf_proj_fwd_dev(dev, kind, g, img, c.lors, n, NULL, NULL, c.vals, err);
        if (rc == 0)
            rc = sink(user, c.a, c.b, c.lors, c.vals, n, err);
    }
    chunk_free(&c);
    lf_allors_end(&it);
    return rc ? -1 : 0;
}

/* lafov projectors: the CPU (OpenMP) forward and back projections over traverse.h.
 *
 * Both directions run slab-ordered, for cache locality and, in the back projection, for races-free,
 * bit-reproducible sums without per-thread image copies. The image is cut into slabs of whole z
 * planes (about LF_SLAB_BYTES each, at least LF_MIN_SLABS slabs when the grid has the planes). LORs
 * are taken in blocks of LF_BLOCK; per block:
 *   (1) every LOR is set up once (in parallel) and its z extent gives the slabs it meets;
 *   (2) the LORs are listed per slab in index order (per-thread counts, prefix in slab-then-thread
 *       order, parallel fill);
 *   (3) the slabs are processed in parallel, each by one thread, walking its LORs clipped to the slab:
 *       back: scattering into the slab; forward: one partial sum per (LOR, slab);
 *   (4) forward: each LOR's partial sums are added in slab order.
 * Back: every voxel receives its contributions in LOR order, exactly as in a serial run, whatever the
 * number of threads or slabs (traverse.h: clipped walks reproduce the unclipped weights bit for bit).
 * Forward: deterministic too: the slabs do not depend on the thread count, nor then the order in
 * which a LOR's partial sums are added.
 * Tuned on the 2-core development machine with the Quadra benchmark (apps/bench/bench_projectors.c):
 * 16 MB slabs and 2^18-LOR blocks; a slab's LORs then revisit the same few MB many times.
 */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "projector.h"
#include "traverse.h"

#define LF_SLAB_BYTES ((size_t)16 << 20)
#define LF_BLOCK ((size_t)1 << 18)
#define LF_MIN_SLABS 8

lf_tof lf_tof_from_ps(double bin_width_ps, double fwhm_ps, int n_bins, double n_sigmas)
{
    lf_tof t;
    t.bin_width_mm = (float)(bin_width_ps * 0.149896);
    t.sigma_mm = (float)(fwhm_ps * 0.149896 / 2.3548);
    t.n_sigmas = n_sigmas > 0.0 ? (float)n_sigmas : LF_TOF_SIGMAS_DEFAULT;
    t.n_bins = n_bins;
    return t;
}

lf_grid lf_grid_centred(int nx, int ny, int nz, float vx, float vy, float vz, float cx, float cy, float cz)
{
    lf_grid g;
    g.n[0] = nx;
    g.n[1] = ny;
    g.n[2] = nz;
    g.voxel_mm[0] = vx;
    g.voxel_mm[1] = vy;
    g.voxel_mm[2] = vz;
    g.origin_mm[0] = cx - 0.5f * (float)(nx - 1) * vx;
    g.origin_mm[1] = cy - 0.5f * (float)(ny - 1) * vy;
    g.origin_mm[2] = cz - 0.5f * (float)(nz - 1) * vz;
    return g;
}

size_t lf_grid_voxels(const lf_grid *g) { return (size_t)g->n[0] * (size_t)g->n[1] * (size_t)g->n[2]; }

int lf_proj_check(const lf_grid *g, const lf_tof *tof, lf_error *err)
{
    static const char axis[3] = {'x', 'y', 'z'};
    if (!g)
        return lf_fail(err, "projector: no image grid");
    for (int i = 0; i < 3; i++) {
        if (g->n[i] < 1 || g->n[i] > (1 << 20))
            return lf_fail(err, "projector: grid size along %c is %d (must be 1..%d)", axis[i], g->n[i], 1 << 20);
        if (!(g->voxel_mm[i] > 0.0f) || !isfinite(g->voxel_mm[i]))
            return lf_fail(err, "projector: voxel size along %c is %g mm (must be > 0)", axis[i], (double)g->voxel_mm[i]);
        if (!isfinite(g->origin_mm[i]))
            return lf_fail(err, "projector: grid origin along %c is not finite", axis[i]);
    }
    if ((double)g->n[0] * g->n[1] * g->n[2] > 4e12)
        return lf_fail(err, "projector: grid of %d x %d x %d voxels is too large", g->n[0], g->n[1], g->n[2]);
    if (tof) {
        if (!(tof->bin_width_mm > 0.0f) || !isfinite(tof->bin_width_mm))
            return lf_fail(err, "projector: TOF bin width %g mm (must be > 0)", (double)tof->bin_width_mm);
        if (!(tof->sigma_mm > 0.0f) || !isfinite(tof->sigma_mm))
            return lf_fail(err, "projector: TOF sigma %g mm (must be > 0)", (double)tof->sigma_mm);
        if (!(tof->n_sigmas >= 0.5f && tof->n_sigmas <= 10.0f))
            return lf_fail(err, "projector: TOF truncation %g sigmas (must be 0.5..10)", (double)tof->n_sigmas);
        if (tof->n_bins < 1 || tof->n_bins % 2 == 0 || tof->n_bins > 255)
            return lf_fail(err, "projector: %d TOF bins (must be odd, 1..255)", tof->n_bins);
    }
    return 0;
}

int lf_proj_kind_parse(const char *s, lf_proj_kind *kind, lf_error *err)
{
    if (s && strcasecmp(s, "joseph") == 0)
        *kind = LF_PROJ_JOSEPH;
    else if (s && strcasecmp(s, "siddon") == 0)
        *kind = LF_PROJ_SIDDON;
    else
        return lf_fail(err, "unknown projector '%s' (joseph or siddon)", s ? s : "");
    return 0;
}

int lf_device_parse(const char *s, lf_device *dev, lf_error *err)
{
    if (s && strcasecmp(s, "cpu") == 0)
        *dev = LF_DEVICE_CPU;
    else if (s && strcasecmp(s, "cuda") == 0)
        *dev = LF_DEVICE_CUDA;
    else
        return lf_fail(err, "unknown device '%s' (cpu or cuda)", s ? s : "");
    return 0;
}

const char *lf_proj_kind_name(lf_proj_kind kind) { return kind == LF_PROJ_SIDDON ? "siddon" : "joseph"; }


/* z planes per slab: about LF_SLAB_BYTES, and at least LF_MIN_SLABS slabs when the grid has the
 * planes. Independent of the thread count, so that the forward's summation order is too. */
static int slab_planes(const lf_grid *g)
{
    size_t plane = (size_t)g->n[0] * (size_t)g->n[1] * sizeof(float);
    size_t p = LF_SLAB_BYTES / plane;
    size_t most = ((size_t)g->n[2] + LF_MIN_SLABS - 1) / LF_MIN_SLABS;
    if (p > most)
        p = most;
    return p < 1 ? 1 : (int)p;
}

typedef struct {
    int s0, s1; /* slabs [s0, s1) */
} span;

/* The slab-ordered driver shared by both directions. back = 0: out[i] = Σ over slabs (in slab order)
 * of the LOR's walk clipped to the slab; back = 1: img += values[i] * walk, slab by slab. */
static int run(int back, lf_proj_kind kind, const lf_grid *g, float *img, const float *lors, size_t n,
               const int8_t *tof_bins, const lf_tofk *tk, const float *values, float *out, lf_error *err)
{
    const char *what = back ? "back projection" : "forward projection";
    const int maxt = omp_get_max_threads();
    const int planes = slab_planes(g);
    const int nslab = (g->n[2] + planes - 1) / planes;
    const size_t block = n < LF_BLOCK ? n : LF_BLOCK;
    const size_t ray_size = kind == LF_PROJ_JOSEPH ? sizeof(lf_jray) : sizeof(lf_sray);
    unsigned char *rays = malloc(block * ray_size);
    span *sp = malloc(block * sizeof *sp);
    size_t *first = malloc(((size_t)nslab + 1) * sizeof *first);
    size_t *cnt = malloc((size_t)maxt * (size_t)nslab * sizeof *cnt); /* per thread and slab; then fill positions */
    size_t *tsum = malloc(((size_t)maxt + 1) * sizeof *tsum);
    size_t *off = back ? NULL : malloc((block + 1) * sizeof *off);
    uint32_t *list = NULL;
    float *part = NULL;
    size_t cap = 0;
    int rc = 0;
    if (!rays || !sp || !first || !cnt || !tsum || (!back && !off)) {
        rc = lf_fail(err, "%s: out of memory", what);
        goto done;
    }
    for (size_t b0 = 0; b0 < n && rc == 0; b0 += block) {
        const size_t nb = n - b0 < block ? n - b0 : block;
        int oom = 0;
#pragma omp parallel
        {
            const int nt = omp_get_num_threads(), t = omp_get_thread_num();
            const size_t lo = nb * (size_t)t / (size_t)nt, hi = nb * (size_t)(t + 1) / (size_t)nt;
            size_t *my = cnt + (size_t)t * (size_t)nslab;
            /* (1) set-up and slab extent of this thread's share of the block's LORs, counted per slab */
            memset(my, 0, (size_t)nslab * sizeof *my);
            size_t mine = 0;
            for (size_t i = lo; i < hi; i++) {
                const size_t e = b0 + i;
                const float *lor = lors + 6 * e;
                int bin = tk ? tof_bins[e] : 0, zlo = 0, zhi = 0, ok;
                if (back && values[e] == 0.0f)
                    ok = 0;
                else if (kind == LF_PROJ_JOSEPH) {
                    lf_jray *r = (lf_jray *)(rays + i * ray_size);
                    ok = lf_joseph_setup(g, lor, tk, bin, r) && lf_joseph_zrange(g, r, &zlo, &zhi);
                } else {
                    lf_sray *r = (lf_sray *)(rays + i * ray_size);
                    ok = lf_siddon_setup(g, lor, tk, bin, r) && lf_siddon_zrange(g, r, &zlo, &zhi);
                }
                sp[i].s0 = ok ? zlo / planes : 0;
                sp[i].s1 = ok ? (zhi - 1) / planes + 1 : 0;
                for (int s = sp[i].s0; s < sp[i].s1; s++)
                    my[s]++;
                mine += (size_t)(sp[i].s1 - sp[i].s0);
            }
            tsum[t + 1] = mine;
#pragma omp barrier
#pragma omp single
            {
                /* (2) list positions: slab by slab, within a slab thread by thread = LOR order */
                size_t at = 0;
                for (int s = 0; s < nslab; s++) {
                    first[s] = at;
                    for (int u = 0; u < nt; u++) {
                        size_t c = cnt[(size_t)u * (size_t)nslab + (size_t)s];
                        cnt[(size_t)u * (size_t)nslab + (size_t)s] = at;
                        at += c;
                    }
                }
                first[nslab] = at;
                tsum[0] = 0;
                for (int u = 0; u < nt; u++)
                    tsum[u + 1] += tsum[u];
                if (at > cap) {
                    size_t c = at + at / 4;
                    uint32_t *l = realloc(list, c * sizeof *list);
                    if (l)
                        list = l;
                    float *pp = back ? part : realloc(part, c * sizeof *part);
                    if (pp)
                        part = pp;
                    if (!l || (!back && !pp))
                        oom = 1;
                    else
                        cap = c;
                }
            }
            if (!oom) {
                size_t o = tsum[t];
                for (size_t i = lo; i < hi; i++) {
                    for (int s = sp[i].s0; s < sp[i].s1; s++)
                        list[my[s]++] = (uint32_t)i;
                    if (!back) {
                        off[i] = o;
                        o += (size_t)(sp[i].s1 - sp[i].s0);
                    }
                }
                if (!back && t == nt - 1)
                    off[nb] = o;
            }
#pragma omp barrier
            /* (3) slabs in parallel, each walked by one thread */
#pragma omp for schedule(dynamic, 1)
            for (int s = 0; s < nslab; s++) {
                if (oom)
                    continue;
                const int zlo = s * planes, zhi = zlo + planes < g->n[2] ? zlo + planes : g->n[2];
                for (size_t j = first[s]; j < first[s + 1]; j++) {
                    const size_t i = list[j];
                    if (j + 8 < first[s + 1]) /* the ray records are scattered: fetch ahead */
                        __builtin_prefetch(rays + (size_t)list[j + 8] * ray_size);
                    if (back) {
                        const float v = values[b0 + i];
                        if (kind == LF_PROJ_JOSEPH) {
                            const lf_jray *r = (const lf_jray *)(rays + i * ray_size);
                            if (tk)
                                lf_joseph_walk(g, r, zlo, zhi, tk, img, v, 1, 1);
                            else
                                lf_joseph_walk(g, r, zlo, zhi, tk, img, v, 1, 0);
                        } else {
                            const lf_sray *r = (const lf_sray *)(rays + i * ray_size);
                            if (tk)
                                lf_siddon_walk(g, r, zlo, zhi, tk, img, v, 1, 1);
                            else
                                lf_siddon_walk(g, r, zlo, zhi, tk, img, v, 1, 0);
                        }
                    } else {
                        float sum;
                        if (kind == LF_PROJ_JOSEPH) {
                            const lf_jray *r = (const lf_jray *)(rays + i * ray_size);
                            sum = tk ? lf_joseph_walk(g, r, zlo, zhi, tk, img, 0.0f, 0, 1)
                                     : lf_joseph_walk(g, r, zlo, zhi, tk, img, 0.0f, 0, 0);
                        } else {
                            const lf_sray *r = (const lf_sray *)(rays + i * ray_size);
                            sum = tk ? lf_siddon_walk(g, r, zlo, zhi, tk, img, 0.0f, 0, 1)
                                     : lf_siddon_walk(g, r, zlo, zhi, tk, img, 0.0f, 0, 0);
                        }
                        part[off[i] + (size_t)(s - sp[i].s0)] = sum;
                    }
                }
            }
            /* (4) forward: the partial sums of each LOR, in slab order */
            if (!back && !oom) {
#pragma omp for schedule(static)
                for (ptrdiff_t i = 0; i < (ptrdiff_t)nb; i++) {
                    float sum = 0.0f;
                    for (size_t j = off[i]; j < off[i + 1]; j++)
                        sum += part[j];
                    out[b0 + (size_t)i] = sum;
                }
            }
        }
        if (oom)
            rc = lf_fail(err, "%s: out of memory", what);
    }
done:
    free(rays);
    free(sp);
    free(first);
    free(cnt);
    free(tsum);
    free(off);
    free(list);
    free(part);
    return rc;
}

int lf_proj_fwd(lf_proj_kind kind, const lf_grid *g, const float *img, const float *lors, size_t n,
                const int8_t *tof_bins, const lf_tof *tof, float *out, lf_error *err)
{
    lf_tofk *tk;
    if (lf_proj_prepare("forward projection", kind, g, img, lors, n, tof_bins, tof, out, &tk, err) != 0)
        return -1;
    /* the forward walks only read the image */
    int rc = n ? run(0, kind, g, (float *)img, lors, n, tof_bins, tk, NULL, out, err) : 0;
    free(tk);
    return rc;
}

int lf_proj_back(lf_proj_kind kind, const lf_grid *g, float *img, const float *lors, size_t n,
                 const int8_t *tof_bins, const lf_tof *tof, const float *values, lf_error *err)
{
    lf_tofk *tk;
    if (lf_proj_prepare("back projection", kind, g, img, lors, n, tof_bins, tof, values, &tk, err) != 0)
        return -1;
    int rc = n ? run(1, kind, g, img, lors, n, tof_bins, tk, values, NULL, err) : 0;
    free(tk);
    return rc;
}

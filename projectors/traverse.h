/* lafov projectors: the ray traversals, written once (internal; used by projector_cpu.c and, through
 * the LF_HD qualifiers, compilable by nvcc for kernels/).
 *
 * One traversal per projector kind; forward (gather), back (scatter), TOF and non-TOF are the same
 * loop with two compile-time flags, so there is exactly one place that decides which voxels a ray
 * meets and with which weight:
 *
 *   lf_jray r;                                   lf_sray r;
 *   if (lf_joseph_setup(g, lor, tk, bin, &r))    if (lf_siddon_setup(g, lor, tk, bin, &r))
 *       sum = lf_joseph_walk(g, &r, zlo, zhi, tk, img, value, back, tof);   (likewise lf_siddon_walk)
 *
 * The set-up is per LOR (and TOF bin); the walk visits the planes / voxels with z in [zlo, zhi)
 * only (the whole grid: 0, n[2]). Every weight is a pure function of the LOR and of the plane or
 * voxel it belongs to — never of where a walk started — so walks clipped to disjoint z slabs add up,
 * bit for bit, to the unclipped walk: back projection parallelises over slabs without races and
 * with a per-voxel summation order that does not depend on the partition (docs/projectors.md).
 *
 * Joseph: the dominant axis (the one the LOR crosses most planes of, in voxel units) is stepped one
 * voxel plane at a time; in each plane the image is interpolated bilinearly in the other two axes
 * (voxels outside the grid count as 0); each sample weighs dl = the LOR length between two planes (mm).
 * Siddon: the exact intersection length of the LOR with every voxel (α-merging of the three plane
 * families, Jacobs et al. 1998), in double precision; a segment's voxel follows from the count of
 * planes crossed, its length from its two end parameters.
 * TOF: the weight of a sample (Joseph) or segment midpoint (Siddon) at s mm from the LOR midpoint
 * towards point 1 is F(u_hi - s) - F(u_lo - s), with F the CDF of the truncated, renormalised
 * Gaussian read from a 1024-cell linearly interpolated table (error < 1.1e-6 at ±3σ): no erf per
 * voxel. Only the samples inside the kernel's support ±(n_sigmas·σ + w/2) around the bin centre are
 * walked.
 */
#ifndef LF_TRAVERSE_H
#define LF_TRAVERSE_H

#include <math.h>
#include <stddef.h>

#include "projector.h"

#if defined(__CUDACC__)
#define LF_HD static __host__ __device__ __forceinline__
#if defined(__CUDA_ARCH__) /* device pass: atomics; nvcc's host pass of the same code: a plain add */
#define LF_SCATTER_ADD(p, v) atomicAdd((p), (v))
#else
#define LF_SCATTER_ADD(p, v) (*(p) += (v))
#endif
#else
#define LF_HD static inline __attribute__((always_inline))
#define LF_SCATTER_ADD(p, v) (*(p) += (v))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ TOF kernel table */

#define LF_TOFK_N 1024 /* table cells over [-n_sigmas·σ, +n_sigmas·σ] */

typedef struct lf_tofk {
    float w;           /* bin width (mm) */
    float half_win;    /* kernel support around a bin centre: n_sigmas·σ + w/2 (mm) */
    float u_scale;     /* table cells per mm */
    float u_w;         /* bin width in cells */
    float cell[LF_TOFK_N + 1][2]; /* F at the start of cell i and F(i+1) - F(i); cell N = {1, 0} */
} lf_tofk;

/* Fills the table (host; erf in double). tof must have passed lf_proj_check. */
/* The argument checks every projector (CPU and CUDA) applies, with the same messages; *tk gets the
 * host TOF table (caller frees) or NULL for non-TOF. vec: the output (fwd) or value (back) array. */
int lf_proj_prepare(const char *what, lf_proj_kind kind, const lf_grid *g, const void *img, const float *lors, size_t n,
                    const int8_t *bins, const lf_tof *tof, const void *vec, lf_tofk **tk, lf_error *err);

void lf_tofk_init(lf_tofk *tk, const lf_tof *tof);

/* F at table coordinate u (cells from -n_sigmas·σ): 0 below, 1 above, linear in between. */
LF_HD float lf_tofk_cdf(const lf_tofk *tk, float u)
{
    u = fminf(fmaxf(u, 0.0f), (float)LF_TOFK_N);
    int i = (int)u;
    float f = u - (float)i;
    return tk->cell[i][0] + f * tk->cell[i][1];
}

/* Bin weight for a point whose bin's upper edge lies u_hi cells above it (u_hi in table coordinates). */
LF_HD float lf_tofk_weight(const lf_tofk *tk, float u_hi) { return lf_tofk_cdf(tk, u_hi) - lf_tofk_cdf(tk, u_hi - tk->u_w); }

/* ------------------------------------------------------------------ shared set-up helpers */

/* Reads LOR endpoints into voxel-unit coordinates relative to `edge` (0: voxel centres, 0.5: voxel
 * lower faces); returns the length in mm, or 0 when the LOR is degenerate or not finite. */
LF_HD double lf_lor_voxel_coords(const lf_grid *g, const float *lor, double edge, double c1[3], double dv[3])
{
    double l2 = 0.0;
    for (int i = 0; i < 3; i++) {
        double p1 = lor[i], p2 = lor[3 + i];
        if (!(fabs(p1) < 1e30) || !(fabs(p2) < 1e30))
            return 0.0;
        double d = p2 - p1;
        l2 += d * d;
        c1[i] = (p1 - (double)g->origin_mm[i]) / (double)g->voxel_mm[i] + edge;
        dv[i] = d / (double)g->voxel_mm[i];
    }
    return sqrt(l2);
}

LF_HD double lf_dclamp(double x, double lo, double hi) { return x < lo ? lo : x > hi ? hi : x; }

/* ------------------------------------------------------------------ Joseph */

typedef struct lf_jray {
    int dom, ax_a, ax_b; /* stepped axis; interpolated axes (ax_a < ax_b) */
    int k0, k1;          /* planes [k0, k1) along dom (a superset of the non-zero samples) */
    float a0, da;        /* voxel coordinate along ax_a at plane k: a0 + k*da (|da| <= 1) */
    float b0, db;        /* likewise along ax_b */
    float q0, dq;        /* TOF: table coordinate of the bin's upper edge for sample k: q0 + k*dq */
    float dl;            /* mm of LOR between two planes */
    float idb;           /* 1/db (0 when |db| < 1e-5) */
    int ki0, ki1;        /* samples [ki0, ki1) need no edge masks along ax_a (and ax_b when dom is z) */
} lf_jray;

/* Narrows [*k0, *k1) to samples k whose c = c0 + k*dc lies in [lo + 1/64, hi - 1/64], less one sample
 * either side: there surely lo <= floor(c) and floor(c) + 1 <= hi, whatever the float rounding.
 * idc = 1/dc, or 0 when |dc| < 1e-5 (then all samples or none, judged from the two ends). */
LF_HD void lf_joseph_interior(float c0, float dc, float idc, int lo, int hi, int *k0, int *k1)
{
    const float eps = 1.0f / 64.0f;
    if (*k0 >= *k1)
        return;
    if (idc == 0.0f) {
        float ca = c0 + (float)*k0 * dc, cb = c0 + (float)(*k1 - 1) * dc;
        if (!(fminf(ca, cb) >= (float)lo + 2.0f * eps && fmaxf(ca, cb) <= (float)hi - 2.0f * eps))
            *k1 = *k0;
        return;
    }
    float t0 = ((float)lo + eps - c0) * idc, t1 = ((float)hi - eps - c0) * idc;
    float tmin = fminf(t0, t1) + 1.0f, tmax = fmaxf(t0, t1) - 1.0f;
    if (tmin > (float)*k0)
        *k0 = tmin >= (float)*k1 ? *k1 : (int)ceilf(tmin);
    if (tmax < (float)(*k1 - 1))
        *k1 = tmax < (float)*k0 ? *k0 : (int)floorf(tmax) + 1;
    if (*k1 < *k0)
        *k1 = *k0;
}

/* Per LOR set-up; returns 0 when the LOR (or its TOF window) misses the grid. tk/bin only with TOF. */
LF_HD int lf_joseph_setup(const lf_grid *g, const float *lor, const lf_tofk *tk, int bin, lf_jray *r)
{
    double c1[3], dv[3];
    double len = lf_lor_voxel_coords(g, lor, 0.0, c1, dv);
    if (!(len > 0.0))
        return 0;
    int dom = 0;
    if (fabs(dv[1]) > fabs(dv[dom]))
        dom = 1;
    if (fabs(dv[2]) > fabs(dv[dom]))
        dom = 2;
    int ax[2] = {dom == 0 ? 1 : 0, dom == 2 ? 1 : 2};
    double inv = 1.0 / dv[dom];
    int nd = g->n[dom];
    /* samples k = 0..nd-1 at c_dom = k, inside the segment p1..p2 (exact) */
    double ka = c1[dom], kb = c1[dom] + dv[dom];
    double kmin = ceil(lf_dclamp(fmin(ka, kb), -1.0, (double)nd));
    double kmax = floor(lf_dclamp(fmax(ka, kb), -1.0, (double)nd));
    if (kmin < 0.0)
        kmin = 0.0;
    if (kmax > (double)(nd - 1))
        kmax = (double)(nd - 1);
    double base[2], slope[2];
    for (int j = 0; j < 2; j++) {
        int a = ax[j];
        slope[j] = dv[a] * inv;
        base[j] = c1[a] - c1[dom] * slope[j];
        double lo = -1.0, hi = (double)g->n[a]; /* non-zero weights need c in (-1, n) */
        if (fabs(slope[j]) > 1e-12) {
            double t0 = (lo - base[j]) / slope[j], t1 = (hi - base[j]) / slope[j];
            /* one sample of margin either side: the per-sample masks decide exactly */
            kmin = fmax(kmin, floor(lf_dclamp(fmin(t0, t1), -2.0, (double)nd + 1.0)));
            kmax = fmin(kmax, ceil(lf_dclamp(fmax(t0, t1), -2.0, (double)nd + 1.0)));
        } else if (!(base[j] > lo && base[j] < hi)) {
            return 0;
        }
    }
    /* TOF coordinate of sample k: s = (1/2 - alpha) * len, alpha = (k - c1[dom]) * inv */
    double s0 = 0.5 * len + c1[dom] * inv * len, ds = -inv * len;
    r->q0 = 0.0f;
    r->dq = 0.0f;
    if (tk) {
        double centre = (double)bin * (double)tk->w, hw = (double)tk->half_win;
        double t0 = (centre - hw - s0) / ds, t1 = (centre + hw - s0) / ds;
        kmin = fmax(kmin, floor(lf_dclamp(fmin(t0, t1), -2.0, (double)nd + 1.0)));
        kmax = fmin(kmax, ceil(lf_dclamp(fmax(t0, t1), -2.0, (double)nd + 1.0)));
        double us = (double)tk->u_scale;
        r->q0 = (float)((centre + 0.5 * (double)tk->w - s0) * us + 0.5 * LF_TOFK_N);
        r->dq = (float)(-ds * us);
    }
    if (kmin > kmax)
        return 0;
    r->dom = dom;
    r->ax_a = ax[0];
    r->ax_b = ax[1];
    r->k0 = (int)kmin;
    r->k1 = (int)kmax + 1;
    r->a0 = (float)base[0];
    r->da = (float)slope[0];
    r->b0 = (float)base[1];
    r->db = (float)slope[1];
    r->dl = (float)(len * fabs(inv));
    float ida = fabsf(r->da) < 1e-5f ? 0.0f : 1.0f / r->da;
    r->idb = fabsf(r->db) < 1e-5f ? 0.0f : 1.0f / r->db;
    r->ki0 = r->k0;
    r->ki1 = r->k1;
    lf_joseph_interior(r->a0, r->da, ida, 0, g->n[ax[0]] - 1, &r->ki0, &r->ki1);
    if (dom == 2)
        lf_joseph_interior(r->b0, r->db, r->idb, 0, g->n[ax[1]] - 1, &r->ki0, &r->ki1);
    return 1;
}

/* Range of z planes [*zlo, *zhi) the walk may touch (a superset); returns 0 when empty. */
LF_HD int lf_joseph_zrange(const lf_grid *g, const lf_jray *r, int *zlo, int *zhi)
{
    if (r->dom == 2) {
        *zlo = r->k0;
        *zhi = r->k1;
    } else {
        float c0 = r->b0 + (float)r->k0 * r->db, c1 = r->b0 + (float)(r->k1 - 1) * r->db;
        double lo = floor(fmin(c0, c1)) - 1.0, hi = floor(fmax(c0, c1)) + 3.0;
        *zlo = (int)lf_dclamp(lo, 0.0, (double)g->n[2]);
        *zhi = (int)lf_dclamp(hi, 0.0, (double)g->n[2]);
    }
    return *zlo < *zhi;
}

/* Samples [k0, k1) of a Joseph walk. masked = 1: neighbours outside [lo, hi] of the interpolated axes
 * get weight 0 (and a clamped, in-range index); masked = 0: the caller guarantees all four are
 * inside. Both variants compute every weight with the same expressions, so they agree bit for bit. */
LF_HD float lf_joseph_run(const lf_jray *r, int k0, int k1, int loa, int hia, int lob, int hib, ptrdiff_t sd,
                          ptrdiff_t sa, ptrdiff_t sb, const lf_tofk *tk, float *img, float value, int back, int tof,
                          int masked)
{
    const float a0 = r->a0, da = r->da, b0 = r->b0, db = r->db, dl = r->dl, q0 = r->q0, dq = r->dq;
    float acc = 0.0f;
    for (int k = k0; k < k1; k++) {
        float fk = (float)k;
        float ca = a0 + fk * da, cb = b0 + fk * db;
        int ia = (int)(ca + 16.0f) - 16, ib = (int)(cb + 16.0f) - 16; /* floor for c > -16 */
        float fa = ca - (float)ia, fb = cb - (float)ib;
        float wa0 = 1.0f - fa, wa1 = fa, wb0 = 1.0f - fb, wb1 = fb;
        int ia0 = ia, ia1 = ia + 1, ib0 = ib, ib1 = ib + 1;
        if (masked) {
            wa0 = (ia >= loa && ia <= hia) ? wa0 : 0.0f;
            wa1 = (ia + 1 >= loa && ia + 1 <= hia) ? wa1 : 0.0f;
            wb0 = (ib >= lob && ib <= hib) ? wb0 : 0.0f;
            wb1 = (ib + 1 >= lob && ib + 1 <= hib) ? wb1 : 0.0f;
            ia0 = ia0 < loa ? loa : ia0 > hia ? hia : ia0;
            ia1 = ia1 < loa ? loa : ia1 > hia ? hia : ia1;
            ib0 = ib0 < lob ? lob : ib0 > hib ? hib : ib0;
            ib1 = ib1 < lob ? lob : ib1 > hib ? hib : ib1;
        }
        float w = dl;
        if (tof)
            w *= lf_tofk_weight(tk, q0 + fk * dq);
        ptrdiff_t base = (ptrdiff_t)k * sd;
        ptrdiff_t r0 = base + (ptrdiff_t)ib0 * sb, r1 = base + (ptrdiff_t)ib1 * sb;
        ptrdiff_t c0 = (ptrdiff_t)ia0 * sa, c1 = (ptrdiff_t)ia1 * sa;
        if (!back) {
            acc += w * (wb0 * (wa0 * img[r0 + c0] + wa1 * img[r0 + c1]) + wb1 * (wa0 * img[r1 + c0] + wa1 * img[r1 + c1]));
        } else {
            float v = value * w;
            float v0 = v * wb0, v1 = v * wb1;
            LF_SCATTER_ADD(&img[r0 + c0], v0 * wa0);
            LF_SCATTER_ADD(&img[r0 + c1], v0 * wa1);
            LF_SCATTER_ADD(&img[r1 + c0], v1 * wa0);
            LF_SCATTER_ADD(&img[r1 + c1], v1 * wa1);
        }
    }
    return acc;
}

/* Walks the planes of r with z in [zlo, zhi). back = 0: returns Σ weight * img (img read only);
 * back = 1: img[v] += value * weight, returns 0. tof = 1 applies the TOF kernel of tk. Pass back and
 * tof as constants: the compiler then emits one specialised loop per use. The samples whose four
 * neighbours are inside the grid (and slab) run without the edge masks. */
LF_HD float lf_joseph_walk(const lf_grid *g, const lf_jray *r, int zlo, int zhi, const lf_tofk *tk, float *img,
                           float value, int back, int tof)
{
    const ptrdiff_t stride[3] = {1, (ptrdiff_t)g->n[0], (ptrdiff_t)g->n[0] * g->n[1]};
    int lo[3] = {0, 0, zlo}, hi[3] = {g->n[0], g->n[1], zhi};
    const int dom = r->dom, xa = r->ax_a, xb = r->ax_b;
    int k0 = r->k0, k1 = r->k1;
    if (k0 < lo[dom])
        k0 = lo[dom];
    if (k1 > hi[dom])
        k1 = hi[dom];
    int ki0 = r->ki0, ki1 = r->ki1;
    if (xb == 2) {
        if ((zlo > 0 || zhi < g->n[2]) && r->idb != 0.0f) {
            /* narrow to the samples whose z pair can meet [zlo, zhi): c_z in (zlo - 1, zhi) */
            float t0 = ((float)zlo - 1.0f - r->b0) * r->idb, t1 = ((float)zhi - r->b0) * r->idb;
            float tmin = fminf(t0, t1) - 1.0f, tmax = fmaxf(t0, t1) + 2.0f;
            if (tmin > (float)k0)
                k0 = tmin > (float)k1 ? k1 : (int)tmin;
            if (tmax < (float)k1)
                k1 = tmax < (float)k0 ? k0 : (int)tmax;
        }
        lf_joseph_interior(r->b0, r->db, r->idb, zlo, zhi - 1, &ki0, &ki1);
    }
    if (k0 >= k1)
        return 0.0f;
    const int loa = lo[xa], hia = hi[xa] - 1, lob = lo[xb], hib = hi[xb] - 1;
    const ptrdiff_t sd = stride[dom], sa = stride[xa], sb = stride[xb];
    if (ki0 < k0)
        ki0 = k0;
    if (ki1 > k1)
        ki1 = k1;
    if (ki0 >= ki1)
        ki0 = ki1 = k1;
    float acc = lf_joseph_run(r, k0, ki0, loa, hia, lob, hib, sd, sa, sb, tk, img, value, back, tof, 1);
    acc += lf_joseph_run(r, ki0, ki1, loa, hia, lob, hib, sd, sa, sb, tk, img, value, back, tof, 0);
    acc += lf_joseph_run(r, ki1, k1, loa, hia, lob, hib, sd, sa, sb, tk, img, value, back, tof, 1);
    return acc;
}

/* ------------------------------------------------------------------ Siddon */

typedef struct lf_sray {
    double a_begin, a_end; /* alpha range of the LOR inside the grid, within [0, 1] */
    double w0, w1;         /* TOF: alpha window of the kernel's support (else a_begin, a_end) */
    double e0[3], es[3];   /* alpha of the m-th plane crossed along axis i: e0 + m*es, es > 0 */
    double len;            /* |p2 - p1| mm */
    double q0, dq;         /* TOF: table coordinate of the bin's upper edge at alpha: q0 + alpha*dq */
    double cz0, dcz;       /* z voxel-face coordinate at alpha: cz0 + alpha*dcz */
    int dir[3];            /* +1 / -1: planes crossed upwards / downwards; 0: parallel to the axis */
    int fix[3];            /* voxel index along a parallel axis */
} lf_sray;

/* Number of m in 0..n with e0 + m*es <= x (the planes crossed up to and including x), computed with
 * the same expression for e0 + m*es as the walk, so that it agrees with the walk exactly. */
LF_HD int lf_siddon_crossed(double e0, double es, int n, double x)
{
    double gd = floor((x - e0) / es) + 1.0;
    int m = gd < 0.0 ? 0 : gd > (double)n + 1.0 ? n + 1 : (int)gd;
    while (m > 0 && e0 + (double)(m - 1) * es > x)
        m--;
    while (m <= n && e0 + (double)m * es <= x)
        m++;
    return m;
}

LF_HD int lf_siddon_setup(const lf_grid *g, const float *lor, const lf_tofk *tk, int bin, lf_sray *r)
{
    double c1[3], dv[3];
    double len = lf_lor_voxel_coords(g, lor, 0.5, c1, dv); /* voxel faces at integer coordinates */
    if (!(len > 0.0))
        return 0;
    double a0 = 0.0, a1 = 1.0;
    for (int i = 0; i < 3; i++) {
        int n = g->n[i];
        if (dv[i] == 0.0) {
            double f = floor(c1[i]);
            if (!(f >= 0.0 && f < (double)n))
                return 0;
            r->dir[i] = 0;
            r->fix[i] = (int)f;
            r->e0[i] = 0.0;
            r->es[i] = 1.0;
            continue;
        }
        r->dir[i] = dv[i] > 0.0 ? 1 : -1;
        r->fix[i] = 0;
        r->es[i] = 1.0 / fabs(dv[i]);
        r->e0[i] = dv[i] > 0.0 ? (0.0 - c1[i]) / dv[i] : ((double)n - c1[i]) / dv[i];
        double in = r->e0[i], out = r->e0[i] + (double)n * r->es[i];
        if (in > a0)
            a0 = in;
        if (out < a1)
            a1 = out;
    }
    if (!(a0 < a1))
        return 0;
    r->a_begin = a0;
    r->a_end = a1;
    r->w0 = a0;
    r->w1 = a1;
    r->len = len;
    r->cz0 = c1[2];
    r->dcz = dv[2];
    r->q0 = 0.0;
    r->dq = 0.0;
    if (tk) {
        /* s(alpha) = (1/2 - alpha) * len; support s in centre ± half_win */
        double centre = (double)bin * (double)tk->w, hw = (double)tk->half_win, us = (double)tk->u_scale;
        double w0 = 0.5 - (centre + hw) / len, w1 = 0.5 - (centre - hw) / len;
        if (w0 > r->w0)
            r->w0 = w0;
        if (w1 < r->w1)
            r->w1 = w1;
        if (!(r->w0 < r->w1))
            return 0;
        r->q0 = (centre + 0.5 * (double)tk->w - 0.5 * len) * us + 0.5 * LF_TOFK_N;
        r->dq = len * us;
    }
    return 1;
}

/* Range of z planes [*zlo, *zhi) the walk may touch (a superset); returns 0 when empty. */
LF_HD int lf_siddon_zrange(const lf_grid *g, const lf_sray *r, int *zlo, int *zhi)
{
    double c0 = r->cz0 + r->w0 * r->dcz, c1 = r->cz0 + r->w1 * r->dcz;
    double lo = floor(fmin(c0, c1)) - 1.0, hi = floor(fmax(c0, c1)) + 2.0;
    *zlo = (int)lf_dclamp(lo, 0.0, (double)g->n[2]);
    *zhi = (int)lf_dclamp(hi, 0.0, (double)g->n[2]);
    return *zlo < *zhi;
}

/* Walks the voxels of r with z in [zlo, zhi); back / tof as for lf_joseph_walk. */
LF_HD float lf_siddon_walk(const lf_grid *g, const lf_sray *r, int zlo, int zhi, const lf_tofk *tk, float *img,
                           float value, int back, int tof)
{
    const int n[3] = {g->n[0], g->n[1], g->n[2]};
    const ptrdiff_t stride[3] = {1, (ptrdiff_t)n[0], (ptrdiff_t)n[0] * n[1]};
    double a0 = r->a_begin, a1 = r->a_end;
    if (zlo > 0 || zhi < n[2]) {
        if (r->dir[2] == 0) {
            if (r->fix[2] < zlo || r->fix[2] >= zhi)
                return 0.0f;
        } else {
            int m_in = r->dir[2] > 0 ? zlo : n[2] - zhi, m_out = r->dir[2] > 0 ? zhi : n[2] - zlo;
            double in = r->e0[2] + (double)m_in * r->es[2], out = r->e0[2] + (double)m_out * r->es[2];
            if (in > a0)
                a0 = in;
            if (out < a1)
                a1 = out;
        }
    }
    double stop = a1 < r->w1 ? a1 : r->w1;
    double s = a0;
    if (r->w0 > s) {
        /* start at the first segment that reaches into the window: the last crossing <= w0 */
        for (int i = 0; i < 3; i++) {
            if (!r->dir[i])
                continue;
            int m = lf_siddon_crossed(r->e0[i], r->es[i], n[i], r->w0);
            if (m >= 1) {
                double c = r->e0[i] + (double)(m - 1) * r->es[i];
                if (c > s)
                    s = c;
            }
        }
    }
    if (!(s < stop))
        return 0.0f;
    int idx[3], m[3];
    double nxt[3];
    ptrdiff_t off = 0, step[3];
    for (int i = 0; i < 3; i++) {
        if (!r->dir[i]) {
            idx[i] = r->fix[i];
            m[i] = 0;
            nxt[i] = HUGE_VAL;
            step[i] = 0;
        } else {
            m[i] = lf_siddon_crossed(r->e0[i], r->es[i], n[i], s);
            idx[i] = r->dir[i] > 0 ? m[i] - 1 : n[i] - m[i];
            nxt[i] = m[i] <= n[i] ? r->e0[i] + (double)m[i] * r->es[i] : HUGE_VAL;
            step[i] = r->dir[i] * stride[i];
        }
        off += (ptrdiff_t)idx[i] * stride[i];
    }
    const double len = r->len, q0 = r->q0, dq = r->dq;
    float acc = 0.0f;
    while (s < stop) {
        double t = nxt[0] < nxt[1] ? nxt[0] : nxt[1];
        if (nxt[2] < t)
            t = nxt[2];
        if (a1 < t)
            t = a1;
        if (t > s && (unsigned)idx[0] < (unsigned)n[0] && (unsigned)idx[1] < (unsigned)n[1] && idx[2] >= zlo &&
            idx[2] < zhi) {
            float w = (float)((t - s) * len);
            if (tof)
                w *= lf_tofk_weight(tk, (float)(q0 + 0.5 * (s + t) * dq));
            if (!back)
                acc += w * img[off];
            else
                LF_SCATTER_ADD(&img[off], value * w);
        }
        for (int i = 0; i < 3; i++) {
            if (nxt[i] == t) {
                m[i]++;
                idx[i] += r->dir[i];
                off += step[i];
                nxt[i] = m[i] <= n[i] ? r->e0[i] + (double)m[i] * r->es[i] : HUGE_VAL;
            }
        }
        s = t;
    }
    return acc;
}

#ifdef __cplusplus
}
#endif

#endif

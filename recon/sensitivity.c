/* lafov recon: the sensitivity image (sensitivity.h; method in docs/sensitivity.md).
 *
 * Geometric part, plane decomposition. Transaxial crystals i < j (real) span a vertical plane; its
 * chord P_i → P_j (length L) crosses the grid's columns over parameter intervals [t0, t1] (a 2-D
 * Siddon walk with the projector's own conventions). A LOR of that plane with rings (r_i, r_j) is
 * z(t) = z_i + t (z_j − z_i); its Siddon length in voxel (column, slice z) is sqrt(L² + δz²) times the
 * measure of {t ∈ [t0, t1] : z(t) ∈ slice}. Summed over the plane's accepted ring pairs (both ring
 * orders), a column gets C_L(t1, z) − C_L(t0, z), with
 *
 *     C_L(t, z) = Σ_{ring pairs, δz ≠ 0} w(L, δz) · |{t' ∈ [t_lo, t] : z(t') ∈ slice z}|,   w = sqrt(L² + δz²) g,
 *
 * which depends on the plane only through L (its transaxial slot difference): one table per L,
 * exact at its nodes (each ring pair adds a ramp, put in through slope / offset difference arrays),
 * linear between them; nodes are `table_cells` per slice crossing of the steepest LOR. The ring pairs
 * with δz = 0 add w(L, 0)·(t1 − t0) to the column in every slice holding a ring: one 2-D image times a
 * per-slice ring count (this also keeps rings lying exactly on a slice face where Siddon puts them).
 * Crystal pairs in the same transaxial position (vertical LORs, usually outside the grid) are added
 * from one axial profile. When the rings and the grid are symmetric in z, only half the slices are
 * tabulated and the other half mirrored.
 *
 * Attenuation / efficiency factor F (s = G·F), default: F = F2D · C. F2D (factor_2d) is the plane
 * decomposition again, each plane's LORs attenuated by the voxel's own slice of μ along the chord: sharp
 * at every transaxial μ edge, exact for a z-invariant μ. C = F / F2D is smooth and estimated on a coarse
 * LOR subset as Σ g a ε̄ε̄ p / Σ g a_m p (a_m the model's attenuation of the same LORs: a control variate)
 * on a transaxially coarse grid (factor_coarse), interpolated in the log domain (factor_image).
 */
#include "sensitivity.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../projectors/allors.h"
#include "../projectors/traverse.h"
#include "response.h"

#define DEF_COARSE_PER_RING 192 /* default: about this many coarse crystals per ring */
#define DEF_COARSE_RINGS 80     /* and about this many coarse rings */
#define DEF_COARSE_VOXELS 3
#define DEF_TABLE_CELLS 64
#define MAX_TABLE_NODES (1 << 20)
#define ROW_BLOCK 16
#define FACTOR_CHUNK ((size_t)1 << 16)

/* ------------------------------------------------------------------ arguments */

static int check_common(const char *what, const lf_scanner *sc, int *mrd, const lf_grid *g, const lf_sens_opts *o,
                        const void *sens, lf_error *err)
{
    if (!sc || !g || !sens)
        return lf_fail(err, "%s: no scanner, grid or output image", what);
    if (lf_proj_check(g, NULL, err) != 0)
        return lf_fail_prefix(err, "%s", what);
    if (*mrd < 0)
        *mrd = sc->mrd;
    if (*mrd < 0)
        return lf_fail(err, "%s: maximum ring difference %d of scanner %s is negative", what, *mrd, sc->name);
    if (*mrd > sc->slots_z - 1)
        *mrd = sc->slots_z - 1; /* the same acceptance */
    if (sc->rings < 1 || sc->crystals_per_ring < 1 || !(sc->ring_radius_mm + sc->doi_mm > 0.0))
        return lf_fail(err, "%s: scanner %s has no rings, crystals or radius", what, sc->name);
    if (o && (unsigned)o->factor_method > LF_SENS_FACTOR_COARSE)
        return lf_fail(err, "%s: unknown factor method %d", what, o->factor_method);
    if (o && (o->coarse_crystals < 0 || o->coarse_rings < 0 || o->coarse_voxels < 0 || o->table_cells < 0))
        return lf_fail(err, "%s: negative option (coarse crystals %d, rings %d, voxels %d, table cells %d)", what,
                       o->coarse_crystals, o->coarse_rings, o->coarse_voxels, o->table_cells);
    return 0;
}

static int check_maps(const char *what, const lf_scanner *sc, const lf_grid *g, const float *mu, const float *eff,
                      lf_error *err)
{
    if (mu) {
        size_t nv = lf_grid_voxels(g);
        for (size_t j = 0; j < nv; j++)
            if (!(mu[j] >= 0.0f) || !isfinite(mu[j]))
                return lf_fail(err, "%s: mu map value %g at voxel %zu is not a finite value >= 0", what, (double)mu[j],
                               j);
    }
    if (eff)
        for (int c = 0; c < sc->n_crystals; c++)
            if (!(eff[c] >= 0.0f) || !isfinite(eff[c]))
                return lf_fail(err, "%s: crystal efficiency %g of crystal %d is not a finite value >= 0", what,
                               (double)eff[c], c);
    return 0;
}

/* ------------------------------------------------------------------ geometric part */

typedef struct {
    const lf_scanner *sc;
    const lf_grid *g;
    int mrd, resp, cells;
    double rp;         /* ring radius + DOI */
    int nk;            /* real crystals per ring */
    float *xy;         /* nk x 2, as lf_crystal_position_mm rounded to float */
    int *tslot;        /* transaxial slot of each */
    int nslot;         /* axial slots */
    int *ring_of_slot; /* -1: virtual */
    double *czs;       /* axial slot -> voxel-face coordinate (Siddon: c = (z - origin)/v + 0.5) */
    int *sA, *sB;      /* per slice z: slots with czs < z + 1; first slot with czs > z */
    int sym;           /* z-symmetric: tabulate slices [0, nzh) only */
    int rz0, ntr;      /* tabulated slices rz0 .. rz0 + ntr - 1 */
    double maxdv;      /* steepest |δz| in voxels over the accepted pairs */
    int nclass;        /* classes 0..nclass-1: transaxial slot difference */
    int *cstart;       /* nclass + 1: start of each class in pairs */
    int *pairs;        /* 2 per plane: indices into xy */
    double *tlo, *thi; /* per class: chord parameter range inside the grid (0, 0: none) */
} geo;

static void geo_free(geo *G)
{
    free(G->xy);
    free(G->tslot);
    free(G->ring_of_slot);
    free(G->czs);
    free(G->sA);
    free(G->sB);
    free(G->cstart);
    free(G->pairs);
    free(G->tlo);
    free(G->thi);
}

/* 2-D Siddon of the chord xy[i] -> xy[j] through the grid's columns, with the projector's conventions */
typedef struct {
    double a0, a1;
    double e0[2], es[2];
    int dir[2], fix[2];
} walk2;

static int walk2_setup(const lf_grid *g, const float *pa, const float *pb, walk2 *w)
{
    double a0 = 0.0, a1 = 1.0;
    for (int i = 0; i < 2; i++) {
        double p1 = pa[i], p2 = pb[i];
        double c1 = (p1 - (double)g->origin_mm[i]) / (double)g->voxel_mm[i] + 0.5;
        double dv = (p2 - p1) / (double)g->voxel_mm[i];
        int n = g->n[i];
        if (dv == 0.0) {
            double f = floor(c1);
            if (!(f >= 0.0 && f < (double)n))
                return 0;
            w->dir[i] = 0;
            w->fix[i] = (int)f;
            w->e0[i] = 0.0;
            w->es[i] = 1.0;
            continue;
        }
        w->dir[i] = dv > 0.0 ? 1 : -1;
        w->fix[i] = 0;
        w->es[i] = 1.0 / fabs(dv);
        w->e0[i] = dv > 0.0 ? (0.0 - c1) / dv : ((double)n - c1) / dv;
        double in = w->e0[i], out = w->e0[i] + (double)n * w->es[i];
        if (in > a0)
            a0 = in;
        if (out < a1)
            a1 = out;
    }
    w->a0 = a0;
    w->a1 = a1;
    return a0 < a1;
}

/* 1 when the chord runs along a column face (within rounding): then which column Siddon gives a
 * segment depends on the LOR's direction, and the plane is walked both ways (see do_class). */
static int degenerate_plane(const lf_grid *g, const float *pa, const float *pb)
{
    for (int i = 0; i < 2; i++) {
        double c1 = ((double)pa[i] - (double)g->origin_mm[i]) / (double)g->voxel_mm[i] + 0.5;
        double dv = ((double)pb[i] - (double)pa[i]) / (double)g->voxel_mm[i];
        if (fabs(dv) < 1e-6 && fabs(c1 - floor(c1 + 0.5)) < 1e-6)
            return 1;
    }
    return 0;
}

static int geo_init(geo *G, const lf_scanner *sc, int mrd, const lf_grid *g, const lf_sens_opts *o, lf_error *err)
{
    memset(G, 0, sizeof *G);
    G->sc = sc;
    G->g = g;
    G->mrd = mrd;
    G->resp = !(o && o->no_response);
    G->cells = o && o->table_cells > 0 ? o->table_cells : DEF_TABLE_CELLS;
    G->rp = sc->ring_radius_mm + sc->doi_mm;
    const int cpr = sc->crystals_per_ring, nz = g->n[2];
    G->nslot = sc->slots_z;
    G->xy = malloc((size_t)cpr * 2 * sizeof *G->xy);
    G->tslot = malloc((size_t)cpr * sizeof *G->tslot);
    G->ring_of_slot = malloc((size_t)G->nslot * sizeof *G->ring_of_slot);
    G->czs = malloc((size_t)G->nslot * sizeof *G->czs);
    G->sA = malloc((size_t)nz * sizeof *G->sA);
    G->sB = malloc((size_t)nz * sizeof *G->sB);
    if (!G->xy || !G->tslot || !G->ring_of_slot || !G->czs || !G->sA || !G->sB)
        goto oom;
    for (int k = 0; k < cpr; k++) {
        if (lf_crystal_is_virtual(sc, k))
            continue;
        double p[3];
        lf_crystal_position_mm(sc, lf_crystal_id(sc, 0, k), p);
        G->xy[2 * G->nk] = (float)p[0];
        G->xy[2 * G->nk + 1] = (float)p[1];
        G->tslot[G->nk] = lf_crystal_slot_t(sc, k);
        G->nk++;
    }
    for (int s = 0; s < G->nslot; s++)
        G->ring_of_slot[s] = -1;
    for (int r = 0; r < sc->rings; r++)
        G->ring_of_slot[lf_ring_slot_z(sc, r)] = r;
    const double oz = (double)g->origin_mm[2], vz = (double)g->voxel_mm[2];
    for (int s = 0; s < G->nslot; s++) {
        float zf = (float)(((double)s - 0.5 * (double)(G->nslot - 1)) * sc->ring_pitch_mm); /* lf_ring_z_mm */
        G->czs[s] = ((double)zf - oz) / vz + 0.5;
    }
    for (int z = 0; z < nz; z++) {
        int a = 0, b = 0;
        while (a < G->nslot && G->czs[a] < (double)z + 1.0)
            a++;
        while (b < G->nslot && !(G->czs[b] > (double)z))
            b++;
        G->sA[z] = a;
        G->sB[z] = b;
    }
    /* z symmetry: grid centred on z = 0 and the real slots mirror-symmetric (exactly, as floats) */
    G->sym = fabs(oz + 0.5 * (double)(nz - 1) * vz) <= 1e-5 * vz;
    for (int s = 0; s < G->nslot && G->sym; s++) {
        int m = G->nslot - 1 - s;
        float zs = (float)(((double)s - 0.5 * (double)(G->nslot - 1)) * sc->ring_pitch_mm);
        float zm = (float)(((double)m - 0.5 * (double)(G->nslot - 1)) * sc->ring_pitch_mm);
        if ((G->ring_of_slot[s] < 0) != (G->ring_of_slot[m] < 0) || zs != -zm)
            G->sym = 0;
    }
    /* slices a LOR with δz != 0 can reach */
    double czmin = HUGE_VAL, czmax = -HUGE_VAL;
    int dmax = 0, smin = -1, smax = -1;
    for (int s = 0; s < G->nslot; s++)
        if (G->ring_of_slot[s] >= 0) {
            if (smin < 0)
                smin = s;
            smax = s;
            czmin = fmin(czmin, G->czs[s]);
            czmax = fmax(czmax, G->czs[s]);
        }
    dmax = smax - smin < mrd ? smax - smin : mrd;
    int nzt = G->sym ? (nz + 1) / 2 : nz;
    int z0 = (int)fmax(0.0, floor(czmin)), z1 = (int)fmin((double)nzt, floor(czmax) + 1.0);
    G->rz0 = z0;
    G->ntr = dmax >= 1 && z1 > z0 ? z1 - z0 : 0;
    G->maxdv = (double)dmax * sc->ring_pitch_mm / vz;

    /* planes by transaxial slot difference */
    const int nk = G->nk, st = sc->slots_t;
    G->nclass = st / 2 + 1;
    G->cstart = calloc((size_t)G->nclass + 1, sizeof *G->cstart);
    G->pairs = malloc((size_t)nk * (size_t)(nk > 1 ? nk - 1 : 1) * sizeof *G->pairs);
    G->tlo = malloc((size_t)G->nclass * sizeof *G->tlo);
    G->thi = malloc((size_t)G->nclass * sizeof *G->thi);
    int *fill = calloc((size_t)G->nclass + 1, sizeof *fill);
    if (!G->cstart || !G->pairs || !G->tlo || !G->thi || !fill) {
        free(fill);
        goto oom;
    }
#define CLASS_OF(i, j)                                                                                             \
    (abs(G->tslot[i] - G->tslot[j]) <= st / 2 ? abs(G->tslot[i] - G->tslot[j]) : st - abs(G->tslot[i] - G->tslot[j]))
    for (int i = 0; i < nk; i++)
        for (int j = i + 1; j < nk; j++)
            G->cstart[CLASS_OF(i, j) + 1]++;
    for (int c = 0; c < G->nclass; c++)
        G->cstart[c + 1] += G->cstart[c];
    for (int i = 0; i < nk; i++)
        for (int j = i + 1; j < nk; j++) {
            int c = CLASS_OF(i, j), at = G->cstart[c] + fill[c]++;
            G->pairs[2 * at] = i;
            G->pairs[2 * at + 1] = j;
        }
#undef CLASS_OF
    free(fill);
    /* a plane along a column face is met direction-dependently (do_class), which z mirroring (it swaps
     * ring orders) would not respect */
    for (int p = 0; p < G->cstart[G->nclass] && G->sym; p++)
        if (degenerate_plane(g, G->xy + 2 * G->pairs[2 * p], G->xy + 2 * G->pairs[2 * p + 1]))
            G->sym = 0;
    if (!G->sym) {
        z1 = (int)fmin((double)nz, floor(czmax) + 1.0);
        G->ntr = dmax >= 1 && z1 > z0 ? z1 - z0 : 0;
    }
    for (int c = 0; c < G->nclass; c++) {
        double lo = 1.0, hi = 0.0;
        for (int p = G->cstart[c]; p < G->cstart[c + 1]; p++) {
            walk2 w;
            if (!walk2_setup(g, G->xy + 2 * G->pairs[2 * p], G->xy + 2 * G->pairs[2 * p + 1], &w))
                continue;
            lo = fmin(lo, fmin(w.a0, 1.0 - w.a1));
            hi = fmax(hi, fmax(w.a1, 1.0 - w.a0));
        }
        G->tlo[c] = lo;
        G->thi[c] = hi;
    }
    return 0;
oom:
    geo_free(G);
    return lf_fail(err, "geometric sensitivity: out of memory");
}

/* ramp w·(max(0, t − tau)) on the nodes t_k = tlo + k h, through slope / offset difference arrays */
static inline void ramp(double *sd, double *od, double tlo, double h, double ih, int nt, double w, double tau)
{
    double u = ceil((tau - tlo) * ih);
    int k = u < 0.0 ? 0 : (int)u;
    if (k > nt)
        return;
    sd[k] += w;
    od[k] += w * (tlo + (double)k * h - tau);
}

/* per-thread work space */
typedef struct {
    double *acc;  /* columns x ntr: tabulated slices of every column (column = iy*nx + ix) */
    double *flat; /* columns: Σ w(L, 0)·(t1 − t0), the in-plane (δz = 0) LORs of one ring */
    float *tab;   /* (nt + 1) x ntr: the plane table T */
    float *tabp;  /* likewise T+ (only for classes with planes along a column face) */
    double *sd, *od;
    double *rows; /* ROW_BLOCK x (nt + 1): T+ of a block of slices */
    float *vp;    /* ntr */
    double *w;    /* mrd + 1: w(L, δz) per slot difference */
    int cap;      /* nodes allocated */
} work;

static void work_free(work *W)
{
    free(W->acc);
    free(W->flat);
    free(W->tab);
    free(W->tabp);
    free(W->sd);
    free(W->od);
    free(W->rows);
    free(W->vp);
    free(W->w);
}

static int work_nodes(work *W, int nt, int ntr, int plus)
{
    const size_t nr = (size_t)(ntr > 0 ? ntr : 1);
    if (nt + 1 > W->cap) {
        free(W->tab);
        free(W->tabp);
        free(W->sd);
        free(W->od);
        free(W->rows);
        W->tabp = NULL;
        W->cap = nt + 1;
        W->tab = malloc((size_t)W->cap * nr * sizeof *W->tab);
        W->sd = malloc(((size_t)W->cap + 1) * sizeof *W->sd);
        W->od = malloc(((size_t)W->cap + 1) * sizeof *W->od);
        W->rows = malloc((size_t)ROW_BLOCK * (size_t)W->cap * sizeof *W->rows);
        if (!W->tab || !W->sd || !W->od || !W->rows) {
            W->cap = 0;
            return -1;
        }
    }
    if (plus && !W->tabp) {
        W->tabp = malloc((size_t)W->cap * nr * sizeof *W->tabp);
        if (!W->tabp)
            return -1;
    }
    return 0;
}

/* Walks one plane's chord pa -> pb through the columns: every column gets the table's increments
 * (tab: (nt + 1) x ntr, nodes t_k = tlo + k h) and flat gets w0 · (t1 − t0). */
static void walk_plane(const geo *G, work *W, const float *pa, const float *pb, const float *tab, double tlo,
                       double ih, int nt, double w0)
{
    const lf_grid *g = G->g;
    const int nx = g->n[0], ny = g->n[1], ntr = G->ntr;
    walk2 wk;
    if (!walk2_setup(g, pa, pb, &wk))
        return;
    int idx[2], m[2];
    double nxt[2];
    double s = wk.a0;
    for (int i = 0; i < 2; i++) {
        if (!wk.dir[i]) {
            idx[i] = wk.fix[i];
            m[i] = 0;
            nxt[i] = HUGE_VAL;
        } else {
            m[i] = lf_siddon_crossed(wk.e0[i], wk.es[i], g->n[i], s);
            idx[i] = wk.dir[i] > 0 ? m[i] - 1 : g->n[i] - m[i];
            nxt[i] = m[i] <= g->n[i] ? wk.e0[i] + (double)m[i] * wk.es[i] : HUGE_VAL;
        }
    }
    float *vp = W->vp;
    if (ntr > 0) { /* the table at the entry point */
        double u = (s - tlo) * ih;
        int k = u <= 0.0 ? 0 : u >= (double)(nt - 1) ? nt - 1 : (int)u;
        float f = (float)(u - (double)k);
        const float *T0 = tab + (size_t)k * ntr, *T1 = T0 + ntr;
        for (int r = 0; r < ntr; r++)
            vp[r] = T0[r] + f * (T1[r] - T0[r]);
    }
    while (s < wk.a1) {
        double t = nxt[0] < nxt[1] ? nxt[0] : nxt[1];
        if (wk.a1 < t)
            t = wk.a1;
        if (t > s) {
            int in = (unsigned)idx[0] < (unsigned)nx && (unsigned)idx[1] < (unsigned)ny;
            size_t col = (size_t)idx[1] * nx + idx[0];
            if (in)
                W->flat[col] += w0 * (t - s);
            if (ntr > 0) {
                double u = (t - tlo) * ih;
                int k = u <= 0.0 ? 0 : u >= (double)(nt - 1) ? nt - 1 : (int)u;
                float f = (float)(u - (double)k);
                const float *T0 = tab + (size_t)k * ntr, *T1 = T0 + ntr;
                if (in) {
                    double *a = W->acc + col * ntr;
                    for (int r = 0; r < ntr; r++) {
                        float v = T0[r] + f * (T1[r] - T0[r]);
                        a[r] += (double)(v - vp[r]);
                        vp[r] = v;
                    }
                } else {
                    for (int r = 0; r < ntr; r++)
                        vp[r] = T0[r] + f * (T1[r] - T0[r]);
                }
            }
        }
        for (int i = 0; i < 2; i++)
            if (nxt[i] == t) {
                m[i]++;
                idx[i] += wk.dir[i];
                nxt[i] = m[i] <= g->n[i] ? wk.e0[i] + (double)m[i] * wk.es[i] : HUGE_VAL;
            }
        s = t;
    }
}

/* One class of planes (transaxial slot difference c): the table, then every plane's columns.
 * The table is built from the ring pairs whose z rises from crystal i to crystal j (T+); a LOR of
 * the other ring order is the same line walked from j (lf_allors' point 1 is the lower ring), so
 * with nodes symmetric about t = 1/2 the plane's full table is T[k] = T+[k] + T+[nt] − T+[nt − k].
 * Planes along a column face are walked i -> j with T+ (and the δz = 0 LORs) and j -> i with T+,
 * exactly as the brute force meets them. */
static int do_class(const geo *G, int c, work *W)
{
    const lf_scanner *sc = G->sc;
    const lf_grid *g = G->g;
    const double tlo = G->tlo[c], thi = G->thi[c];
    if (!(tlo < thi))
        return 0;
    const double L = 2.0 * G->rp * sin(M_PI * (double)c / (double)sc->slots_t);
    const int mrd = G->mrd, ntr = G->ntr;
    for (int d = 0; d <= mrd; d++) {
        double dz = (double)d * sc->ring_pitch_mm, lt = sqrt(L * L + dz * dz);
        const double h = G->resp ? lf_response_chord(sc, L, dz) : 1.0;
        W->w[d] = lt * h;
    }
    const double w0 = W->w[0];
    int ndeg = 0;
    for (int p = G->cstart[c]; p < G->cstart[c + 1]; p++)
        ndeg += degenerate_plane(g, G->xy + 2 * G->pairs[2 * p], G->xy + 2 * G->pairs[2 * p + 1]);
    int nt = 16;
    if (ntr > 0) {
        /* node spacing: 1/cells of the chord parameter of one voxel, and of one slice crossing of the steepest LOR */
        double vxy = fmin((double)g->voxel_mm[0], (double)g->voxel_mm[1]);
        double step = fmin(vxy / L, 1.0 / fmax(G->maxdv, 1.0)) / (double)G->cells;
        double want = 2.0 * ceil(0.5 * (thi - tlo) / step); /* even: nodes symmetric about t = 1/2 */
        nt = want > (double)MAX_TABLE_NODES ? MAX_TABLE_NODES : want < 16.0 ? 16 : (int)want;
        if (work_nodes(W, nt, ntr, ndeg > 0) != 0)
            return -1;
        const double h = (thi - tlo) / (double)nt, ih = 1.0 / h;
        for (int b0 = 0; b0 < ntr; b0 += ROW_BLOCK) {
            int nb = ntr - b0 < ROW_BLOCK ? ntr - b0 : ROW_BLOCK;
            for (int b = 0; b < nb; b++) {
                const int z = G->rz0 + b0 + b;
                memset(W->sd, 0, ((size_t)nt + 2) * sizeof *W->sd);
                memset(W->od, 0, ((size_t)nt + 2) * sizeof *W->od);
                for (int d = 1; d <= mrd; d++) {
                    /* z rises from slot s1 to s1 + d: czs[s1] < z + 1 and czs[s1 + d] > z */
                    int s_lo = G->sB[z] - d, s_hi = G->sA[z] - 1;
                    if (s_hi > G->nslot - 1 - d)
                        s_hi = G->nslot - 1 - d;
                    if (s_lo < 0)
                        s_lo = 0;
                    const double w = W->w[d];
                    for (int s1 = s_lo; s1 <= s_hi; s1++) {
                        if (G->ring_of_slot[s1] < 0 || G->ring_of_slot[s1 + d] < 0)
                            continue;
                        double c1 = G->czs[s1], dv = G->czs[s1 + d] - c1;
                        double lo = fmax(((double)z - c1) / dv, tlo), hi = fmin(((double)z + 1.0 - c1) / dv, thi);
                        if (!(lo < hi))
                            continue;
                        ramp(W->sd, W->od, tlo, h, ih, nt, w, lo);
                        ramp(W->sd, W->od, tlo, h, ih, nt, -w, hi);
                    }
                }
                double S = 0.0, O = 0.0, A = 0.0;
                double *row = W->rows + (size_t)b * W->cap;
                for (int k = 0; k <= nt; k++) {
                    S += W->sd[k];
                    O += W->od[k];
                    row[k] = h * A + O;
                    A += S;
                }
            }
            for (int k = 0; k <= nt; k++) {
                float *t = W->tab + (size_t)k * ntr + b0;
                for (int b = 0; b < nb; b++) {
                    const double *row = W->rows + (size_t)b * W->cap;
                    t[b] = (float)(row[k] + row[nt] - row[nt - k]);
                }
                if (ndeg) {
                    float *tp = W->tabp + (size_t)k * ntr + b0;
                    for (int b = 0; b < nb; b++)
                        tp[b] = (float)W->rows[(size_t)b * W->cap + k];
                }
            }
        }
    }
    const double ih = (double)nt / (thi - tlo);
    for (int p = G->cstart[c]; p < G->cstart[c + 1]; p++) {
        const float *pa = G->xy + 2 * G->pairs[2 * p], *pb = G->xy + 2 * G->pairs[2 * p + 1];
        if (ndeg && degenerate_plane(g, pa, pb)) {
            walk_plane(G, W, pa, pb, W->tabp, tlo, ih, nt, w0);
            walk_plane(G, W, pb, pa, W->tabp, tlo, ih, nt, 0.0);
        } else
            walk_plane(G, W, pa, pb, W->tab, tlo, ih, nt, w0);
    }
    return 0;
}

/* Vertical LORs (both crystals at one transaxial position, different rings): per-slice profile in mm. */
static void vertical_profile(const geo *G, double *prof)
{
    const lf_grid *g = G->g;
    const int nz = g->n[2];
    /* vertical LORs meet the crystal faces at grazing incidence: zero solid angle (response.h) */
    const double h = G->resp ? lf_response_chord(G->sc, 0.0, 1.0) : 1.0;
    for (int z = 0; z < nz; z++)
        prof[z] = 0.0;
    for (int s1 = 0; s1 < G->nslot; s1++) {
        if (G->ring_of_slot[s1] < 0)
            continue;
        for (int s2 = s1 + 1; s2 < G->nslot && s2 - s1 <= G->mrd; s2++) {
            if (G->ring_of_slot[s2] < 0)
                continue;
            double a = G->czs[s1], b = G->czs[s2];
            int z0 = (int)fmax(0.0, floor(a)), z1 = (int)fmin((double)nz - 1.0, floor(b));
            for (int z = z0; z <= z1; z++) {
                double ov = fmin(b, (double)z + 1.0) - fmax(a, (double)z);
                if (ov > 0.0)
                    prof[z] += h * ov * (double)g->voxel_mm[2];
            }
        }
    }
}

int lf_sensitivity_geometric(const lf_scanner *sc, int mrd, const lf_grid *g, const lf_sens_opts *o, float *sens,
                             lf_error *err)
{
    if (check_common("geometric sensitivity", sc, &mrd, g, o, sens, err) != 0)
        return -1;
    geo G;
    if (geo_init(&G, sc, mrd, g, o, err) != 0)
        return -1;
    const int nx = g->n[0], ny = g->n[1], nz = g->n[2], ntr = G.ntr;
    const size_t ncol = (size_t)nx * ny;
    int nth = omp_get_max_threads();
    if (nth > G.nclass)
        nth = G.nclass > 0 ? G.nclass : 1;
    work *W = calloc((size_t)nth, sizeof *W);
    double *prof = malloc((size_t)nz * sizeof *prof);
    int *inplane = calloc((size_t)nz, sizeof *inplane);
    int rc = W && prof && inplane ? 0 : -1;
    for (int t = 0; t < nth && rc == 0; t++) {
        W[t].acc = calloc(ncol * (size_t)(ntr > 0 ? ntr : 1), sizeof *W[t].acc);
        W[t].flat = calloc(ncol, sizeof *W[t].flat);
        W[t].vp = malloc((size_t)(ntr > 0 ? ntr : 1) * sizeof *W[t].vp);
        W[t].w = malloc((size_t)(mrd + 1) * sizeof *W[t].w);
        if (!W[t].acc || !W[t].flat || !W[t].vp || !W[t].w)
            rc = -1;
    }
    if (rc != 0) {
        lf_fail(err, "geometric sensitivity: out of memory (%d thread buffers of %.0f MB)", nth,
                (double)ncol * (ntr + 1) * 8.0 / 1e6);
        goto done;
    }
    int failed = 0, done_classes = 0;
#pragma omp parallel num_threads(nth)
    {
        const int t = omp_get_thread_num();
        /* round robin: a fixed class -> thread map (deterministic for a thread count), balanced costs */
        for (int c = 1 + t; c < G.nclass; c += nth) {
            int bad;
#pragma omp atomic read
            bad = failed;
            if (bad)
                break;
            if (do_class(&G, c, &W[t]) != 0) {
#pragma omp atomic write
                failed = 1;
                break;
            }
            int dc;
#pragma omp atomic capture
            dc = ++done_classes;
            if (t == 0 && o && o->progress)
                o->progress(o->user, 0.98 * (double)dc / (double)(G.nclass - 1));
        }
    }
    if (failed) {
        rc = lf_fail(err, "geometric sensitivity: out of memory (table of a chord length)");
        goto done;
    }
    for (int t = 1; t < nth; t++) {
        for (size_t j = 0; j < ncol * (size_t)ntr; j++)
            W[0].acc[j] += W[t].acc[j];
        for (size_t j = 0; j < ncol; j++)
            W[0].flat[j] += W[t].flat[j];
    }
    /* rings per slice for the δz = 0 LORs, where Siddon puts a LOR parallel to the slices */
    const double oz = (double)g->origin_mm[2], vz = (double)g->voxel_mm[2];
    for (int s = 0; s < G.nslot; s++) {
        if (G.ring_of_slot[s] < 0)
            continue;
        float zf = (float)(((double)s - 0.5 * (double)(G.nslot - 1)) * sc->ring_pitch_mm);
        double f = floor(((double)zf - oz) / vz + 0.5);
        if (f >= 0.0 && f < (double)nz)
            inplane[(int)f]++;
    }
    vertical_profile(&G, prof);
    const double *acc = W[0].acc, *flat = W[0].flat;
#pragma omp parallel for schedule(static)
    for (int z = 0; z < nz; z++) {
        int zt = G.sym && z >= (nz + 1) / 2 ? nz - 1 - z : z;
        int r = zt - G.rz0;
        int tab = r >= 0 && r < ntr;
        for (size_t col = 0; col < ncol; col++) {
            double v = flat[col] * (double)inplane[z];
            if (tab)
                v += acc[col * ntr + r];
            sens[col + ncol * (size_t)z] = (float)v;
        }
    }
    /* vertical LORs: every column holding a crystal position */
    for (int k = 0; k < G.nk; k++) {
        double cx = floor(((double)G.xy[2 * k] - (double)g->origin_mm[0]) / (double)g->voxel_mm[0] + 0.5);
        double cy = floor(((double)G.xy[2 * k + 1] - (double)g->origin_mm[1]) / (double)g->voxel_mm[1] + 0.5);
        if (!(cx >= 0.0 && cx < (double)nx && cy >= 0.0 && cy < (double)ny))
            continue;
        size_t col = (size_t)cy * nx + (size_t)cx;
        for (int z = 0; z < nz; z++)
            sens[col + ncol * (size_t)z] += (float)prof[z];
    }
    if (o && o->progress)
        o->progress(o->user, 1.0);
done:
    for (int t = 0; W && t < nth; t++)
        work_free(&W[t]);
    free(W);
    free(prof);
    free(inplane);
    geo_free(&G);
    return rc;
}

/* ------------------------------------------------------------------ attenuation / efficiency factor */

/* Factor grid: the fine grid's box, voxels cv times larger (same centre). */
static lf_grid coarse_grid(const lf_grid *g, int cv)
{
    lf_grid c;
    for (int i = 0; i < 3; i++) {
        int n = (g->n[i] + cv - 1) / cv;
        c.n[i] = n;
        c.voxel_mm[i] = g->voxel_mm[i] * (float)cv;
        double centre = (double)g->origin_mm[i] + 0.5 * (double)(g->n[i] - 1) * (double)g->voxel_mm[i];
        c.origin_mm[i] = (float)(centre - 0.5 * (double)(n - 1) * (double)c.voxel_mm[i]);
    }
    return c;
}

/* The μ map cropped to its non-zero box, in 1/mm: line integrals through it equal those through the
 * full map (voxels outside are 0). Returns 0 with *out NULL when the map is all zero. */
static int crop_mu(const lf_grid *g, const float *mu, lf_grid *gm, float **out)
{
    int lo[3] = {g->n[0], g->n[1], g->n[2]}, hi[3] = {-1, -1, -1};
    for (int z = 0; z < g->n[2]; z++)
        for (int y = 0; y < g->n[1]; y++)
            for (int x = 0; x < g->n[0]; x++)
                if (mu[x + (size_t)g->n[0] * (y + (size_t)g->n[1] * z)] > 0.0f) {
                    int v[3] = {x, y, z};
                    for (int i = 0; i < 3; i++) {
                        if (v[i] < lo[i])
                            lo[i] = v[i];
                        if (v[i] > hi[i])
                            hi[i] = v[i];
                    }
                }
    *out = NULL;
    if (hi[0] < 0)
        return 0;
    for (int i = 0; i < 3; i++) {
        gm->n[i] = hi[i] - lo[i] + 1;
        gm->voxel_mm[i] = g->voxel_mm[i];
        gm->origin_mm[i] = (float)((double)g->origin_mm[i] + (double)lo[i] * (double)g->voxel_mm[i]);
    }
    float *m = malloc(lf_grid_voxels(gm) * sizeof *m);
    if (!m)
        return -1;
    for (int z = 0; z < gm->n[2]; z++)
        for (int y = 0; y < gm->n[1]; y++)
            for (int x = 0; x < gm->n[0]; x++)
                m[x + (size_t)gm->n[0] * (y + (size_t)gm->n[1] * z)] =
                    0.1f * mu[(x + lo[0]) + (size_t)g->n[0] * ((y + lo[1]) + (size_t)g->n[1] * (z + lo[2]))];
    *out = m;
    return 0;
}

static uint64_t lf_mix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* The attenuation of the model (factor_2d): a_m(chord, z) = exp(−∫ μ(·, z)) along the transaxial chord of
 * real crystals i, j (indices among a ring's real crystals) in slice z, as 16-bit fractions. */
typedef struct {
    uint16_t *a;  /* npairs x nzc: a_m · 65535 */
    int *pidx;    /* nk x nk: the pair index of chord (i, j), either order; -1 for i == j */
    int nk, zlo, nzc;
} model_att;

static void model_att_free(model_att *m)
{
    free(m->a);
    free(m->pidx);
}

/* Siddon back projection of one LOR onto gc (z: gc's slices, those of the model table): N += vn·p,
 * M += vm·a_m(chord, z)·p (a_m = 1 outside the table's slices or without a row). Mirrors the
 * projector's Siddon walk (traverse.h), no TOF. */
static void back_cv(const lf_grid *gc, const float *lor, double vn, double vm, const uint16_t *arow, int zlo,
                    int nzc, double *N, double *M)
{
    lf_sray r;
    if (!lf_siddon_setup(gc, lor, NULL, 0, &r))
        return;
    const int n[3] = {gc->n[0], gc->n[1], gc->n[2]};
    const ptrdiff_t stride[3] = {1, (ptrdiff_t)n[0], (ptrdiff_t)n[0] * n[1]};
    double s = r.a_begin;
    const double a1 = r.a_end;
    int idx[3], m[3];
    double nxt[3];
    ptrdiff_t off = 0, step[3];
    for (int i = 0; i < 3; i++) {
        if (!r.dir[i]) {
            idx[i] = r.fix[i];
            m[i] = 0;
            nxt[i] = HUGE_VAL;
            step[i] = 0;
        } else {
            m[i] = lf_siddon_crossed(r.e0[i], r.es[i], n[i], s);
            idx[i] = r.dir[i] > 0 ? m[i] - 1 : n[i] - m[i];
            nxt[i] = m[i] <= n[i] ? r.e0[i] + (double)m[i] * r.es[i] : HUGE_VAL;
            step[i] = r.dir[i] * stride[i];
        }
        off += (ptrdiff_t)idx[i] * stride[i];
    }
    while (s < a1) {
        double t = nxt[0] < nxt[1] ? nxt[0] : nxt[1];
        if (nxt[2] < t)
            t = nxt[2];
        if (a1 < t)
            t = a1;
        if (t > s && (unsigned)idx[0] < (unsigned)n[0] && (unsigned)idx[1] < (unsigned)n[1] &&
            (unsigned)idx[2] < (unsigned)n[2]) {
            double w = (t - s) * r.len, am = 1.0;
            int zr = idx[2] - zlo;
            if (arow && (unsigned)zr < (unsigned)nzc)
                am = (double)arow[zr] * (1.0 / 65535.0);
            N[off] += vn * w;
            M[off] += vm * am * w;
        }
        for (int i = 0; i < 3; i++)
            if (nxt[i] == t) {
                m[i]++;
                idx[i] += r.dir[i];
                off += step[i];
                nxt[i] = m[i] <= n[i] ? r.e0[i] + (double)m[i] * r.es[i] : HUGE_VAL;
            }
        s = t;
    }
}

/* The coarse factor on the factor grid gc (coarse_grid(g, cv), or transaxially coarse only) from the
 * coarse LOR subset, Siddon onto gc. Without ma: fc[J] = Σ g a ε̄ε̄ p / Σ g p (F3D, 1 where no LOR
 * crosses J). With ma (control variate): fc[J] = Σ g a ε̄ε̄ p / Σ g a_m p, the ratio of F to the model
 * factor F2D, estimated on the same LORs, so that the sampling noise of the two largely cancels. */
static int factor_coarse(const lf_scanner *sc, int mrd, const lf_grid *g, const float *mu, const float *eff,
                         const lf_sens_opts *o, const lf_grid *gcp, const model_att *ma, float *fc, lf_error *err)
{
    int nreal = 0;
    for (int k = 0; k < sc->crystals_per_ring; k++)
        nreal += !lf_crystal_is_virtual(sc, k);
    int kc = o && o->coarse_crystals > 0 ? o->coarse_crystals : (nreal + DEF_COARSE_PER_RING / 2) / DEF_COARSE_PER_RING;
    int kr = o && o->coarse_rings > 0 ? o->coarse_rings : (sc->rings + DEF_COARSE_RINGS / 2) / DEF_COARSE_RINGS;
    kc = kc < 1 ? 1 : kc;
    kr = kr < 1 ? 1 : kr;
    const int resp = !(o && o->no_response);
    const lf_grid gc = *gcp;
    const size_t ncv = lf_grid_voxels(&gc);
    lf_grid gm;
    float *mum = NULL;
    int *kreal = malloc((size_t)sc->crystals_per_ring * sizeof *kreal);
    if (!kreal || (mu && crop_mu(g, mu, &gm, &mum) != 0)) {
        free(kreal);
        return lf_fail(err, "sensitivity factor: out of memory");
    }
    int nk = 0;
    for (int k = 0; k < sc->crystals_per_ring; k++)
        if (!lf_crystal_is_virtual(sc, k))
            kreal[nk++] = k;
    const int nbt = (nk + kc - 1) / kc, nbr = (sc->rings + kr - 1) / kr, nb = nbt * nbr;
    float *xy = malloc((size_t)nk * 2 * sizeof *xy), *zr = malloc((size_t)sc->rings * sizeof *zr),
          *ebar = malloc((size_t)nb * sizeof *ebar);
    int *rslot = malloc((size_t)sc->rings * sizeof *rslot);
    float *num = fc, *den = calloc(ncv, sizeof *den);
    memset(num, 0, ncv * sizeof *num);
    float *lors = malloc(FACTOR_CHUNK * 6 * sizeof *lors), *vn = malloc(FACTOR_CHUNK * sizeof *vn),
          *vd = malloc(FACTOR_CHUNK * sizeof *vd), *proj = malloc(FACTOR_CHUNK * sizeof *proj);
    int *pa = malloc(FACTOR_CHUNK * sizeof *pa), *pb = malloc(FACTOR_CHUNK * sizeof *pb);
    int *ca = malloc(FACTOR_CHUNK * sizeof *ca), *cb = malloc(FACTOR_CHUNK * sizeof *cb);
    const int nth = ma ? omp_get_max_threads() : 1;
    double *accN = ma ? calloc((size_t)nth * ncv, sizeof *accN) : NULL,
           *accM = ma ? calloc((size_t)nth * ncv, sizeof *accM) : NULL;
    int rc = 0;
    if (ma && (!accN || !accM || !ca || !cb)) {
        rc = lf_fail(err, "sensitivity factor: out of memory");
        goto done;
    }
    if (!xy || !zr || !ebar || !rslot || !num || !den || !lors || !vn || !vd || !proj || !pa || !pb) {
        rc = lf_fail(err, "sensitivity factor: out of memory");
        goto done;
    }
    for (int i = 0; i < nk; i++) {
        double p[3];
        lf_crystal_position_mm(sc, lf_crystal_id(sc, 0, kreal[i]), p);
        xy[2 * i] = (float)p[0];
        xy[2 * i + 1] = (float)p[1];
    }
    for (int r = 0; r < sc->rings; r++) {
        zr[r] = (float)lf_ring_z_mm(sc, r);
        rslot[r] = lf_ring_slot_z(sc, r);
    }
    /* coarse crystals: blocks of kc real crystals x kr rings, with their mean efficiency */
    for (int br = 0; br < nbr; br++)
        for (int bt = 0; bt < nbt; bt++) {
            int r0 = br * kr, r1 = r0 + kr < sc->rings ? r0 + kr : sc->rings;
            int i0 = bt * kc, i1 = i0 + kc < nk ? i0 + kc : nk;
            double e = 1.0;
            if (eff) {
                e = 0.0;
                for (int r = r0; r < r1; r++)
                    for (int i = i0; i < i1; i++)
                        e += eff[lf_crystal_id(sc, r, kreal[i])];
                e /= (double)((r1 - r0) * (i1 - i0));
            }
            ebar[br * nbt + bt] = (float)e;
        }
    /* A coarse LOR joins one crystal of block a and one of block b, drawn (a fixed hash of the pair)
     * among the blocks' members: the LORs crossing a voxel then vary from one block pair to the next
     * instead of repeating the same few lines (aliasing). */
    uint64_t total = (uint64_t)nb * (uint64_t)(nb - 1) / 2, seen = 0;
    int a = 0, b = 1;
    while (rc == 0 && a < nb) {
        size_t n = 0;
        for (; a < nb && n < FACTOR_CHUNK; a++, b = a + 1) {
            const int bta = a % nbt, bra = a / nbt;
            for (; b < nb && n < FACTOR_CHUNK; b++) {
                const int btb = b % nbt, brb = b / nbt;
                uint64_t x = ((uint64_t)a << 32) ^ (uint64_t)b, h1 = lf_mix64(&x), h2 = lf_mix64(&x);
                int ia = bta * kc + (int)(h1 % (uint64_t)(bta * kc + kc <= nk ? kc : nk - bta * kc));
                int ib = btb * kc + (int)(h2 % (uint64_t)(btb * kc + kc <= nk ? kc : nk - btb * kc));
                int ra = bra * kr + (int)((h1 >> 32) % (uint64_t)(bra * kr + kr <= sc->rings ? kr : sc->rings - bra * kr));
                int rb = brb * kr + (int)((h2 >> 32) % (uint64_t)(brb * kr + kr <= sc->rings ? kr : sc->rings - brb * kr));
                if (ia == ib || abs(rslot[ra] - rslot[rb]) > mrd)
                    continue; /* a vertical LOR (outside any body) or beyond the acceptance */
                float *l = lors + 6 * n;
                l[0] = xy[2 * ia];
                l[1] = xy[2 * ia + 1];
                l[2] = zr[ra];
                l[3] = xy[2 * ib];
                l[4] = xy[2 * ib + 1];
                l[5] = zr[rb];
                pa[n] = a;
                pb[n] = b;
                if (ca) {
                    ca[n] = ia;
                    cb[n] = ib;
                }
                n++;
            }
            if (b < nb)
                break; /* chunk full inside this row: resume at (a, b) */
        }
        if (n == 0)
            break;
        if (mum && lf_proj_fwd(LF_PROJ_SIDDON, &gm, mum, lors, n, NULL, NULL, proj, err) != 0) {
            rc = lf_fail_prefix(err, "sensitivity factor");
            break;
        }
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) {
            float gi = resp ? lf_response_lor(sc, lors + 6 * i) : 1.0f;
            float ai = mum ? expf(-proj[i]) : 1.0f;
            vd[i] = gi;
            vn[i] = gi * ai * ebar[pa[i]] * ebar[pb[i]];
        }
        if (ma) {
            const int nn = (int)n;
#pragma omp parallel num_threads(nth)
            {
                const int t = omp_get_thread_num();
                double *N = accN + (size_t)t * ncv, *M = accM + (size_t)t * ncv;
#pragma omp for schedule(static)
                for (int i = 0; i < nn; i++) {
                    const uint16_t *arow = NULL;
                    if (ma->a) {
                        int pi = ma->pidx[(size_t)ca[i] * ma->nk + cb[i]];
                        if (pi >= 0)
                            arow = ma->a + (size_t)pi * ma->nzc;
                    }
                    back_cv(&gc, lors + 6 * (size_t)i, vn[i], vd[i], arow, ma->zlo, ma->nzc, N, M);
                }
            }
        } else if (lf_proj_back(LF_PROJ_SIDDON, &gc, num, lors, n, NULL, NULL, vn, err) != 0 ||
                   lf_proj_back(LF_PROJ_SIDDON, &gc, den, lors, n, NULL, NULL, vd, err) != 0) {
            rc = lf_fail_prefix(err, "sensitivity factor");
            break;
        }
        /* pairs before the resume point (a, b) */
        seen = a >= nb ? total : (uint64_t)a * (uint64_t)(nb - 1) - (uint64_t)a * (uint64_t)(a - 1) / 2 +
                                     (uint64_t)(b - a - 1);
        if (o && o->progress)
            o->progress(o->user, 0.55 + 0.43 * (double)seen / (double)(total ? total : 1));
    }
    if (rc != 0)
        goto done;
    if (ma) {
        for (size_t j = 0; j < ncv; j++) {
            double N = 0.0, M = 0.0;
            for (int t = 0; t < nth; t++) {
                N += accN[(size_t)t * ncv + j];
                M += accM[(size_t)t * ncv + j];
            }
            num[j] = M > 0.0 && N > 0.0 ? (float)(N / M) : 1.0f;
        }
    } else
        for (size_t j = 0; j < ncv; j++)
            num[j] = den[j] > 0.0f ? num[j] / den[j] : 1.0f;
done:
    free(kreal);
    free(mum);
    free(xy);
    free(zr);
    free(ebar);
    free(rslot);
    free(den);
    free(ca);
    free(cb);
    free(accN);
    free(accM);
    free(lors);
    free(vn);
    free(vd);
    free(proj);
    free(pa);
    free(pb);
    return rc;
}

/* Trilinear interpolation of a factor-grid image fc at the fine voxel centres (clamped at the outer
 * coarse centres); with logd the logarithm is interpolated (fc > 0). */
static void interp_fine(const lf_grid *g, const lf_grid *gc, const float *fc, int logd, float *out)
{
#pragma omp parallel for schedule(static)
    for (int z = 0; z < g->n[2]; z++) {
        int i0[3], i1[3];
        float f[3];
        for (int y = 0; y < g->n[1]; y++)
            for (int x = 0; x < g->n[0]; x++) {
                int v[3] = {x, y, z};
                for (int i = 0; i < 3; i++) {
                    double p = (double)g->origin_mm[i] + (double)v[i] * (double)g->voxel_mm[i];
                    double u = (p - (double)gc->origin_mm[i]) / (double)gc->voxel_mm[i];
                    u = lf_dclamp(u, 0.0, (double)(gc->n[i] - 1));
                    i0[i] = (int)u;
                    if (i0[i] > gc->n[i] - 1)
                        i0[i] = gc->n[i] - 1;
                    i1[i] = i0[i] + 1 < gc->n[i] ? i0[i] + 1 : i0[i];
                    f[i] = (float)(u - (double)i0[i]);
                }
                float acc = 0.0f;
                for (int c = 0; c < 8; c++) {
                    int ix = c & 1 ? i1[0] : i0[0], iy = c & 2 ? i1[1] : i0[1], iz = c & 4 ? i1[2] : i0[2];
                    float w = (c & 1 ? f[0] : 1.0f - f[0]) * (c & 2 ? f[1] : 1.0f - f[1]) * (c & 4 ? f[2] : 1.0f - f[2]);
                    float val = fc[ix + (size_t)gc->n[0] * (iy + (size_t)gc->n[1] * iz)];
                    acc += w * (logd ? logf(val) : val);
                }
                out[x + (size_t)g->n[0] * (y + (size_t)g->n[1] * z)] = logd ? expf(acc) : acc;
            }
    }
}

/* Walks the chord pa -> pb through the grid's columns (walk2): column indices, lengths (mm) and the
 * chord parameter of each segment's middle. */
static int walk_cols(const lf_grid *g, const float *pa, const float *pb, int *cols, float *lens, float *tpar)
{
    walk2 wk;
    if (!walk2_setup(g, pa, pb, &wk))
        return 0;
    const int nx = g->n[0], ny = g->n[1];
    const double len = hypot((double)pb[0] - (double)pa[0], (double)pb[1] - (double)pa[1]);
    int idx[2], m[2], n = 0;
    double nxt[2], s = wk.a0;
    for (int i = 0; i < 2; i++) {
        if (!wk.dir[i]) {
            idx[i] = wk.fix[i];
            m[i] = 0;
            nxt[i] = HUGE_VAL;
        } else {
            m[i] = lf_siddon_crossed(wk.e0[i], wk.es[i], g->n[i], s);
            idx[i] = wk.dir[i] > 0 ? m[i] - 1 : g->n[i] - m[i];
            nxt[i] = m[i] <= g->n[i] ? wk.e0[i] + (double)m[i] * wk.es[i] : HUGE_VAL;
        }
    }
    while (s < wk.a1) {
        double t = nxt[0] < nxt[1] ? nxt[0] : nxt[1];
        if (wk.a1 < t)
            t = wk.a1;
        if (t > s && (unsigned)idx[0] < (unsigned)nx && (unsigned)idx[1] < (unsigned)ny) {
            cols[n] = idx[1] * nx + idx[0];
            lens[n] = (float)((t - s) * len);
            tpar[n] = (float)(0.5 * (s + t));
            n++;
        }
        for (int i = 0; i < 2; i++)
            if (nxt[i] == t) {
                m[i]++;
                idx[i] += wk.dir[i];
                nxt[i] = m[i] <= g->n[i] ? wk.e0[i] + (double)m[i] * wk.es[i] : HUGE_VAL;
            }
        s = t;
    }
    return n;
}

#define F2D_CHUNK 16 /* slices per task of the 2-D factor */
#define F2D_CELLS 8  /* its plane tables' nodes per voxel / slice crossing (a ratio: coarser than G's) */

/* The model factor F2D of every slice z, at full resolution: the plane decomposition of G (do_class),
 * every plane's LORs attenuated as that slice's μ attenuates the plane's chord:
 *
 *     F2D(c, z) = Σ_planes ΔT(c, z) a(plane, z) / Σ_planes ΔT(c, z),   a = exp(−s̄ ∫ μ(·, z) along the chord),
 *
 * ΔT the plane's weight in (c, z) (its table increment plus its δz = 0 LORs), i.e. the 3-D LORs of the
 * plane weighted as in G (tables of F2D_CELLS nodes), and s̄ the ΔT-weighted mean secant of the plane's
 * LORs crossing slice z. F2D is F itself when μ does not vary in z (up to the spread of sec θ and the
 * efficiencies). f2 (grid sized) gets F2D (1 in slices without μ); ma gets a per chord and slice for the
 * control variate of factor_coarse. Tasks are blocks of slices (no reduction): the result does not
 * depend on the thread count. */
static int factor_2d(const lf_scanner *sc, int mrd, const lf_grid *g, const float *mu_cm, int resp,
                     const lf_sens_opts *o, float *f2, model_att *ma, lf_error *err)
{
    const int nx = g->n[0], ny = g->n[1], nz = g->n[2];
    const size_t ncol = (size_t)nx * ny;
    lf_sens_opts go = o ? *o : (lf_sens_opts){0};
    go.table_cells = F2D_CELLS;
    geo G;
    if (geo_init(&G, sc, mrd, g, &go, err) != 0)
        return -1;
    int zlo = nz, zhi = -1;
    unsigned char *colmask = calloc(ncol, 1);
    int *inpl = calloc((size_t)nz, sizeof *inpl);
    float *muT = NULL, *numT = NULL, *denT = NULL;
    int failed = !colmask || !inpl;
    for (int z = 0; z < nz && !failed; z++)
        for (size_t c = 0; c < ncol; c++)
            if (mu_cm[c + ncol * (size_t)z] > 0.0f) {
                colmask[c] = 1;
                zlo = z < zlo ? z : zlo;
                zhi = z > zhi ? z : zhi;
            }
    const int nzc = zhi >= zlo ? zhi - zlo + 1 : 0;
    const size_t npairs = (size_t)G.cstart[G.nclass];
    memset(ma, 0, sizeof *ma);
    ma->nk = G.nk;
    ma->zlo = zlo;
    ma->nzc = nzc;
    ma->pidx = malloc((size_t)G.nk * (size_t)G.nk * sizeof *ma->pidx);
    failed |= !ma->pidx;
    for (int i = 0; i < G.nk * G.nk && !failed; i++)
        ma->pidx[i] = -1;
    for (size_t p = 0; p < npairs && !failed; p++) {
        ma->pidx[(size_t)G.pairs[2 * p] * G.nk + G.pairs[2 * p + 1]] = (int)p;
        ma->pidx[(size_t)G.pairs[2 * p + 1] * G.nk + G.pairs[2 * p]] = (int)p;
    }
    if (!failed && nzc > 0) {
        ma->a = malloc(npairs * (size_t)nzc * sizeof *ma->a);
        failed |= !ma->a;
        if (ma->a)
            memset(ma->a, 0xff, npairs * (size_t)nzc * sizeof *ma->a); /* 65535: a_m = 1 */
    }
    if (!failed && nzc > 0) {
        muT = malloc(ncol * (size_t)nzc * sizeof *muT);
        numT = calloc(ncol * (size_t)nzc, sizeof *numT);
        denT = calloc(ncol * (size_t)nzc, sizeof *denT);
        failed = !muT || !numT || !denT;
        for (size_t c = 0; c < ncol && !failed; c++)
            for (int z = 0; z < nzc; z++)
                muT[c * nzc + z] = 0.1f * mu_cm[c + ncol * (size_t)(z + zlo)];
    }
    /* rings per slice of the δz = 0 LORs (Siddon's floor rule, as lf_sensitivity_geometric) */
    for (int s = 0; s < G.nslot && !failed; s++) {
        if (G.ring_of_slot[s] < 0)
            continue;
        float zf = (float)(((double)s - 0.5 * (double)(G.nslot - 1)) * sc->ring_pitch_mm);
        double f = floor(((double)zf - (double)g->origin_mm[2]) / (double)g->voxel_mm[2] + 0.5);
        if (f >= 0.0 && f < (double)nz)
            inpl[(int)f]++;
    }
    const int nchunk = (nzc + F2D_CHUNK - 1) / F2D_CHUNK, maxs = 2 * (nx + ny) + 8;
    const double vxy = fmin((double)g->voxel_mm[0], (double)g->voxel_mm[1]);
#pragma omp parallel if (nchunk > 1)
    {
        int *cols = malloc((size_t)maxs * sizeof *cols), cap = 0;
        float *lens = malloc((size_t)maxs * sizeof *lens), *tpar = malloc((size_t)maxs * sizeof *tpar), *tab = NULL;
        double *w = malloc((size_t)(mrd + 1) * sizeof *w), *sd = NULL, *od = NULL, *row = NULL;
        float A[F2D_CHUNK], a[F2D_CHUNK], vp[F2D_CHUNK], fl[F2D_CHUNK], sec[F2D_CHUNK];
        if (!cols || !lens || !tpar || !w) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (int q = 0; q < nchunk; q++) {
            int bad;
#pragma omp atomic read
            bad = failed;
            if (bad)
                continue;
            const int z0 = q * F2D_CHUNK, m = nzc - z0 < F2D_CHUNK ? nzc - z0 : F2D_CHUNK, za = zlo + z0;
            for (int c = 1; c < G.nclass && !bad; c++) {
                const double tlo = G.tlo[c], thi = G.thi[c];
                if (!(tlo < thi) || G.cstart[c] == G.cstart[c + 1])
                    continue;
                const double L = 2.0 * G.rp * sin(M_PI * (double)c / (double)sc->slots_t);
                for (int d = 0; d <= mrd; d++) {
                    double dz = (double)d * sc->ring_pitch_mm, lt = sqrt(L * L + dz * dz);
                    const double h = resp ? lf_response_chord(sc, L, dz) : 1.0;
                    w[d] = lt * h;
                }
                /* the plane table T of this class for slices za .. za + m − 1 (do_class) */
                double step = fmin(vxy / L, 1.0 / fmax(G.maxdv, 1.0)) / (double)F2D_CELLS;
                double want = 2.0 * ceil(0.5 * (thi - tlo) / step);
                const int nt = want > (double)MAX_TABLE_NODES ? MAX_TABLE_NODES : want < 16.0 ? 16 : (int)want;
                if (nt + 1 > cap) {
                    free(tab);
                    free(sd);
                    free(od);
                    free(row);
                    cap = nt + 1;
                    tab = malloc((size_t)cap * F2D_CHUNK * sizeof *tab);
                    sd = malloc(((size_t)cap + 1) * sizeof *sd);
                    od = malloc(((size_t)cap + 1) * sizeof *od);
                    row = malloc((size_t)cap * sizeof *row);
                    if (!tab || !sd || !od || !row) {
                        cap = 0;
#pragma omp atomic write
                        failed = 1;
                        bad = 1;
                        break;
                    }
                }
                const double h = (thi - tlo) / (double)nt, ih = 1.0 / h;
                for (int b = 0; b < m; b++) {
                    const int z = za + b;
                    memset(sd, 0, ((size_t)nt + 2) * sizeof *sd);
                    memset(od, 0, ((size_t)nt + 2) * sizeof *od);
                    double sw = w[0] * (thi - tlo) * (double)inpl[z], ss = sw; /* mean secant of the LORs */
                    for (int d = 1; d <= mrd; d++) {
                        const double dzd = (double)d * sc->ring_pitch_mm, secd = sqrt(1.0 + dzd * dzd / (L * L));
                        int s_lo = G.sB[z] - d, s_hi = G.sA[z] - 1;
                        if (s_hi > G.nslot - 1 - d)
                            s_hi = G.nslot - 1 - d;
                        if (s_lo < 0)
                            s_lo = 0;
                        for (int s1 = s_lo; s1 <= s_hi; s1++) {
                            if (G.ring_of_slot[s1] < 0 || G.ring_of_slot[s1 + d] < 0)
                                continue;
                            double c1 = G.czs[s1], dv = G.czs[s1 + d] - c1;
                            double lo = fmax(((double)z - c1) / dv, tlo), hi = fmin(((double)z + 1.0 - c1) / dv, thi);
                            if (!(lo < hi))
                                continue;
                            ramp(sd, od, tlo, h, ih, nt, w[d], lo);
                            ramp(sd, od, tlo, h, ih, nt, -w[d], hi);
                            sw += w[d] * (hi - lo);
                            ss += w[d] * (hi - lo) * secd;
                        }
                    }
                    sec[b] = sw > 0.0 ? (float)(ss / sw) : 1.0f;
                    double S = 0.0, O = 0.0, Ac = 0.0;
                    for (int k = 0; k <= nt; k++) {
                        S += sd[k];
                        O += od[k];
                        row[k] = h * Ac + O;
                        Ac += S;
                    }
                    for (int k = 0; k <= nt; k++)
                        tab[(size_t)k * F2D_CHUNK + b] = (float)(row[k] + row[nt] - row[nt - k]);
                    fl[b] = (float)(w[0] / L * (double)inpl[z]); /* δz = 0 LORs: per mm of chord */
                }
                for (int p = G.cstart[c]; p < G.cstart[c + 1]; p++) {
                    const float *pa = G.xy + 2 * G.pairs[2 * p], *pb = G.xy + 2 * G.pairs[2 * p + 1];
                    int n = walk_cols(g, pa, pb, cols, lens, tpar), hit = 0;
                    if (!n)
                        continue;
                    for (int zz = 0; zz < F2D_CHUNK; zz++)
                        A[zz] = 0.0f;
                    for (int s = 0; s < n; s++) {
                        if (!colmask[cols[s]])
                            continue;
                        hit = 1;
                        const float *mu = muT + (size_t)cols[s] * nzc + z0, l = lens[s];
                        for (int zz = 0; zz < m; zz++)
                            A[zz] += l * mu[zz];
                    }
                    for (int zz = 0; zz < m; zz++)
                        a[zz] = hit ? expf(-sec[zz] * A[zz]) : 1.0f;
                    if (hit) {
                        uint16_t *ar = ma->a + (size_t)p * nzc + z0;
                        for (int zz = 0; zz < m; zz++)
                            ar[zz] = (uint16_t)lrintf(a[zz] * 65535.0f);
                    }
                    /* the table at the entry point, then its increment over every column */
                    double t0 = (double)tpar[0] - 0.5 * (double)lens[0] / (double)hypot((double)pb[0] - pa[0], (double)pb[1] - pa[1]);
                    const double clen = hypot((double)pb[0] - pa[0], (double)pb[1] - pa[1]);
                    double u = (t0 - tlo) * ih;
                    int k = u <= 0.0 ? 0 : u >= (double)(nt - 1) ? nt - 1 : (int)u;
                    float f = (float)(u - (double)k);
                    const float *T0 = tab + (size_t)k * F2D_CHUNK, *T1 = T0 + F2D_CHUNK;
                    for (int zz = 0; zz < m; zz++)
                        vp[zz] = T0[zz] + f * (T1[zz] - T0[zz]);
                    for (int s = 0; s < n; s++) {
                        double t1 = (double)tpar[s] + 0.5 * (double)lens[s] / clen;
                        u = (t1 - tlo) * ih;
                        k = u <= 0.0 ? 0 : u >= (double)(nt - 1) ? nt - 1 : (int)u;
                        f = (float)(u - (double)k);
                        T0 = tab + (size_t)k * F2D_CHUNK;
                        T1 = T0 + F2D_CHUNK;
                        float *nm = numT + (size_t)cols[s] * nzc + z0, *dn = denT + (size_t)cols[s] * nzc + z0;
                        const float l = lens[s];
                        for (int zz = 0; zz < m; zz++) {
                            float v = T0[zz] + f * (T1[zz] - T0[zz]), dt = v - vp[zz] + l * fl[zz];
                            vp[zz] = v;
                            dn[zz] += dt;
                            nm[zz] += dt * a[zz];
                        }
                    }
                }
            }
        }
        free(cols);
        free(lens);
        free(tpar);
        free(w);
        free(tab);
        free(sd);
        free(od);
        free(row);
    }
    if (!failed) {
#pragma omp parallel for schedule(static)
        for (int z = 0; z < nz; z++)
            for (size_t c = 0; c < ncol; c++) {
                size_t j = c + ncol * (size_t)z, k = c * nzc + (size_t)(z - zlo);
                int in = z >= zlo && z <= zhi;
                f2[j] = in && denT[k] > 0.0f ? numT[k] / denT[k] : 1.0f;
            }
    }
    free(muT);
    free(numT);
    free(denT);
    free(colmask);
    free(inpl);
    geo_free(&G);
    if (failed)
        model_att_free(ma);
    return failed ? lf_fail(err, "sensitivity 2-D factor: out of memory (%.0f MB of model attenuations)",
                            2e-6 * (double)npairs * nzc) : 0;
}

/* F on the fine grid. LF_SENS_FACTOR_COARSE: F3D (factor_coarse without a model) on a grid coarse_voxels
 * times coarser on every axis, interpolated. LF_SENS_FACTOR_DETAIL: F = F2D · C, F2D the model factor at
 * full resolution (factor_2d) and C = F / F2D its smooth correction, estimated on the coarse LORs (control
 * variate) on a grid coarse transaxially only and interpolated in the log domain. */
static int factor_image(const lf_scanner *sc, int mrd, const lf_grid *g, const float *mu, const float *eff,
                        const lf_sens_opts *o, float *factor, lf_error *err)
{
    const int cv = o && o->coarse_voxels > 0 ? o->coarse_voxels : DEF_COARSE_VOXELS;
    const int resp = !(o && o->no_response), detail = !(o && o->factor_method == LF_SENS_FACTOR_COARSE);
    lf_grid gc = coarse_grid(g, cv);
    if (detail) { /* axially at full resolution: F's axial structure (lung bases, μ edges in z) is C's */
        gc.n[2] = g->n[2];
        gc.voxel_mm[2] = g->voxel_mm[2];
        gc.origin_mm[2] = g->origin_mm[2];
    }
    const size_t ncv = lf_grid_voxels(&gc), nv = lf_grid_voxels(g);
    float *fc = malloc(ncv * sizeof *fc), *f2 = detail && mu ? malloc(nv * sizeof *f2) : NULL;
    model_att ma = {0};
    int rc = fc && (f2 || !(detail && mu)) ? 0 : lf_fail(err, "sensitivity factor: out of memory");
    if (rc == 0 && f2) {
        rc = factor_2d(sc, mrd, g, mu, resp, o, f2, &ma, err);
        if (rc == 0 && o && o->progress)
            o->progress(o->user, 0.55);
    }
    if (rc == 0)
        rc = factor_coarse(sc, mrd, g, mu, eff, o, &gc, detail ? &ma : NULL, fc, err);
    model_att_free(&ma);
    if (rc == 0) {
        interp_fine(g, &gc, fc, detail, factor);
        if (f2)
#pragma omp parallel for schedule(static)
            for (size_t j = 0; j < nv; j++)
                factor[j] *= f2[j];
    }
    free(fc);
    free(f2);
    return rc;
}

typedef struct {
    void *user;
    lf_sens_progress_fn fn;
    double lo, span;
} progress_map;

static void progress_scaled(void *user, double f)
{
    progress_map *m = user;
    m->fn(m->user, m->lo + m->span * f);
}

int lf_sensitivity(const lf_scanner *sc, int mrd, const lf_grid *g, const float *mu_per_cm, const float *crystal_eff,
                   const lf_sens_opts *o, float *sens, lf_error *err)
{
    if (check_common("sensitivity", sc, &mrd, g, o, sens, err) != 0 ||
        check_maps("sensitivity", sc, g, mu_per_cm, crystal_eff, err) != 0)
        return -1;
    const int with_factor = mu_per_cm || crystal_eff;
    lf_sens_opts oo = o ? *o : (lf_sens_opts){0};
    progress_map pm = {oo.user, oo.progress, 0.0, with_factor ? 0.5 : 1.0};
    if (oo.progress) {
        oo.progress = progress_scaled;
        oo.user = &pm;
    }
    if (lf_sensitivity_geometric(sc, mrd, g, &oo, sens, err) != 0)
        return -1;
    if (!with_factor)
        return 0;
    size_t nv = lf_grid_voxels(g);
    float *factor = malloc(nv * sizeof *factor);
    if (!factor)
        return lf_fail(err, "sensitivity: out of memory");
    pm.lo = 0.0;
    pm.span = 1.0; /* factor_image reports 0.5 .. 0.98 itself */
    if (factor_image(sc, mrd, g, mu_per_cm, crystal_eff, &oo, factor, err) != 0) {
        free(factor);
        return -1;
    }
    for (size_t j = 0; j < nv; j++)
        sens[j] *= factor[j];
    free(factor);
    if (o && o->progress)
        o->progress(o->user, 1.0);
    return 0;
}

/* ------------------------------------------------------------------ brute force */

typedef struct {
    const lf_scanner *sc;
    const lf_grid *g;
    const float *mu_mm; /* 1/mm, or NULL */
    const float *eff;
    int resp;
    float *proj;
    size_t cap;
} brute_ctx;

static int brute_values(void *user, const uint32_t *a, const uint32_t *b, const float *lors, size_t n, float *values,
                        lf_error *err)
{
    brute_ctx *c = user;
    if (c->mu_mm) {
        if (n > c->cap) {
            free(c->proj);
            c->proj = malloc(n * sizeof *c->proj);
            c->cap = c->proj ? n : 0;
            if (!c->proj)
                return lf_fail(err, "brute-force sensitivity: out of memory");
        }
        if (lf_proj_fwd(LF_PROJ_SIDDON, c->g, c->mu_mm, lors, n, NULL, NULL, c->proj, err) != 0)
            return -1;
    }
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        float v = c->resp ? lf_response_lor(c->sc, lors + 6 * i) : 1.0f;
        if (c->mu_mm)
            v *= expf(-c->proj[i]);
        if (c->eff)
            v *= c->eff[a[i]] * c->eff[b[i]];
        values[i] = v;
    }
    return 0;
}

int lf_sensitivity_bruteforce(const lf_scanner *sc, int mrd, const lf_grid *g, const float *mu_per_cm,
                              const float *crystal_eff, int no_response, float *sens, lf_error *err)
{
    if (check_common("brute-force sensitivity", sc, &mrd, g, NULL, sens, err) != 0 ||
        check_maps("brute-force sensitivity", sc, g, mu_per_cm, crystal_eff, err) != 0)
        return -1;
    size_t nv = lf_grid_voxels(g);
    brute_ctx c = {sc, g, NULL, crystal_eff, !no_response, NULL, 0};
    float *mu_mm = NULL;
    if (mu_per_cm) {
        mu_mm = malloc(nv * sizeof *mu_mm);
        if (!mu_mm)
            return lf_fail(err, "brute-force sensitivity: out of memory");
        for (size_t j = 0; j < nv; j++)
            mu_mm[j] = 0.1f * mu_per_cm[j];
        c.mu_mm = mu_mm;
    }
    memset(sens, 0, nv * sizeof *sens);
    int rc = lf_allors_back(LF_DEVICE_CPU, LF_PROJ_SIDDON, sc, mrd, g, brute_values, &c, sens, err);
    if (rc != 0)
        lf_fail_prefix(err, "brute-force sensitivity of %s", sc->name);
    free(mu_mm);
    free(c.proj);
    return rc ? -1 : 0;
}

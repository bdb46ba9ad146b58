#include "motion.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../io/atomic_file.h"
#include "../io/json.h"
#include "../io/lmreader.h"
#include "../io/png_write.h"

#define MM_PER_PS 0.149896

void lf_motion_params_default(lf_motion_params *p)
{
    p->resolution_s = 1.0;
    p->threshold_mm = 2.0;
    p->min_segment_s = 10.0;
    p->min_window_s = 30.0;
    p->guard_s = -1.0; /* one bin */
    p->penalty = 0.0;
    p->max_shift_mm = 50.0;
    p->max_change_points = 64;
}

void lf_motion_result_free(lf_motion_result *r)
{
    free(r->time_s);
    free(r->bin_len_s);
    free(r->counts_per_s);
    free(r->delayeds_per_s);
    free(r->n);
    free(r->centroid_mm);
    free(r->zhist);
    free(r->zsens);
    free(r->zshift_mm);
    free(r->cp);
    free(r->stable);
    memset(r, 0, sizeof *r);
}

int lf_motion_result_alloc(lf_motion_result *r, int n_bins, int nz, lf_error *err)
{
    memset(r, 0, sizeof *r);
    size_t nb = (size_t)(n_bins > 0 ? n_bins : 1);
    r->n_bins = n_bins;
    r->nz = nz;
    r->longest = -1;
    r->time_s = calloc(nb, sizeof *r->time_s);
    r->bin_len_s = calloc(nb, sizeof *r->bin_len_s);
    r->counts_per_s = calloc(nb, sizeof *r->counts_per_s);
    r->delayeds_per_s = calloc(nb, sizeof *r->delayeds_per_s);
    r->n = calloc(nb, sizeof *r->n);
    r->centroid_mm = calloc(nb * 3, sizeof *r->centroid_mm);
    r->zhist = nz > 0 ? calloc(nb * (size_t)nz, sizeof *r->zhist) : NULL;
    if (!r->time_s || !r->bin_len_s || !r->counts_per_s || !r->delayeds_per_s || !r->n || !r->centroid_mm ||
        (nz > 0 && !r->zhist)) {
        lf_motion_result_free(r);
        return lf_fail(err, "motion: out of memory for %d time bins", n_bins);
    }
    return 0;
}

/* ---- statistics helpers ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    if (n <= 0)
        return NAN;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

typedef struct wv {
    double v, w;
} wv;

static int cmp_wv(const void *a, const void *b)
{
    double x = ((const wv *)a)->v, y = ((const wv *)b)->v;
    return (x > y) - (x < y);
}

/* Robust count-weighted mean of axis `ax` over bins [s, e): bins within 4 σ/√n of the weighted median. */
static double robust_mean(const lf_motion_result *r, int s, int e, int ax, wv *tmp)
{
    int m = 0;
    double wsum = 0;
    for (int i = s; i < e; i++)
        if (r->n[i] > 0) {
            tmp[m++] = (wv){r->centroid_mm[3 * i + ax], (double)r->n[i]};
            wsum += (double)r->n[i];
        }
    if (m == 0)
        return NAN;
    qsort(tmp, (size_t)m, sizeof *tmp, cmp_wv);
    double acc = 0, med = tmp[m - 1].v;
    for (int i = 0; i < m; i++) {
        acc += tmp[i].w;
        if (acc >= 0.5 * wsum) {
            med = tmp[i].v;
            break;
        }
    }
    double sw = 0, sv = 0, sig = r->sigma_mm[ax];
    for (int i = s; i < e; i++) {
        if (r->n[i] == 0)
            continue;
        double c = r->centroid_mm[3 * i + ax], w = (double)r->n[i];
        if (isfinite(sig) && sig > 0 && fabs(c - med) > 4.0 * sig / sqrt(w))
            continue;
        sw += w;
        sv += w * c;
    }
    return sw > 0 ? sv / sw : med;
}

/* z shift (mm) of segment [s1, e1) against [s0, e0) by registering their axial profiles; NAN when the
 * profiles are too sparse. */
static double profile_shift(const lf_motion_result *r, int s0, int e0, int s1, int e1)
{
    if (!r->zhist || r->nz < 8)
        return NAN;
    int nz = r->nz;
    double *A = calloc((size_t)nz, sizeof *A), *B = calloc((size_t)nz, sizeof *B);
    if (!A || !B) {
        free(A);
        free(B);
        return NAN;
    }
    double ta = 0, tb = 0;
    for (int i = s0; i < e0; i++)
        for (int z = 0; z < nz; z++)
            A[z] += r->zhist[(size_t)i * nz + z];
    for (int i = s1; i < e1; i++)
        for (int z = 0; z < nz; z++)
            B[z] += r->zhist[(size_t)i * nz + z];
    for (int z = 0; z < nz; z++) {
        ta += A[z];
        tb += B[z];
    }
    double best = NAN;
    if (ta < 100 || tb < 100)
        goto done;
    if (r->zsmooth_mm > 0) { /* the rings' sampling pattern is no motion: Gaussian smoothing */
        int hw = (int)ceil(3 * r->zsmooth_mm);
        double *kr = malloc((size_t)(2 * hw + 1) * sizeof *kr), *tmp = malloc((size_t)nz * sizeof *tmp);
        if (!kr || !tmp) {
            free(kr);
            free(tmp);
            goto done;
        }
        for (int i = -hw; i <= hw; i++)
            kr[i + hw] = exp(-0.5 * i * i / (r->zsmooth_mm * r->zsmooth_mm));
        for (int pass = 0; pass < 2; pass++) {
            double *P = pass ? B : A;
            for (int z = 0; z < nz; z++) {
                double acc = 0, wsum = 0;
                for (int i = -hw; i <= hw; i++)
                    if (z + i >= 0 && z + i < nz) {
                        acc += kr[i + hw] * P[z + i];
                        wsum += kr[i + hw];
                    }
                tmp[z] = acc / wsum;
            }
            memcpy(P, tmp, (size_t)nz * sizeof *tmp);
        }
        free(kr);
        free(tmp);
    }
    int D = (int)fmin(r->p.max_shift_mm, nz / 3.0);
    double *cost = malloc((size_t)(2 * D + 1) * sizeof *cost);
    if (!cost)
        goto done;
    double smax = 0;
    for (int z = 0; z < nz; z++)
        smax = fmax(smax, r->zsens ? r->zsens[z] : 1.0);
    for (int d = -D; d <= D; d++) {
        double sa = 0, sb = 0;
        int lo = d < 0 ? -d : 0, hi = d > 0 ? nz - d : nz, used = 0;
        for (int z = lo; z < hi; z++) {
            double s0 = r->zsens ? r->zsens[z] : 1.0, s1 = r->zsens ? r->zsens[z + d] : 1.0;
            if (s0 < 0.1 * smax || s1 < 0.1 * smax)
                continue;
            sa += A[z];
            sb += B[z + d] * s0 / s1;
            used++;
        }
        double c = INFINITY;
        if (sa > 0 && sb > 0 && used >= 8) {
            double k = sa / sb, chi = 0;
            for (int z = lo; z < hi; z++) {
                double s0 = r->zsens ? r->zsens[z] : 1.0, s1 = r->zsens ? r->zsens[z + d] : 1.0;
                if (s0 < 0.1 * smax || s1 < 0.1 * smax)
                    continue;
                double g = k * s0 / s1, diff = A[z] - g * B[z + d];
                chi += diff * diff / (A[z] + g * g * B[z + d] + 1.0);
            }
            c = chi / (double)used;
        }
        cost[d + D] = c;
    }
    int bi = 0;
    for (int i = 1; i <= 2 * D; i++)
        if (cost[i] < cost[bi])
            bi = i;
    best = bi - D;
    if (bi > 0 && bi < 2 * D && isfinite(cost[bi - 1]) && isfinite(cost[bi + 1])) {
        double c0 = cost[bi - 1], c1 = cost[bi], c2 = cost[bi + 1], den = c0 - 2 * c1 + c2;
        if (den > 0)
            best += 0.5 * (c0 - c2) / den;
    }
    free(cost);
done:
    free(A);
    free(B);
    return best;
}


/* Event spread (mm) of a per-bin mean trace v (stride, NaN/empty bins skipped): 1.4826 MAD of the
 * count-scaled first differences. */
static double spread(const lf_motion_result *r, const double *v, int stride, double *d)
{
    int m = 0, prev = -1;
    for (int i = 0; i < r->n_bins; i++) {
        if (r->n[i] == 0 || !isfinite(v[(size_t)stride * i]))
            continue;
        if (prev >= 0)
            d[m++] = (v[(size_t)stride * i] - v[(size_t)stride * prev]) / sqrt(1.0 / (double)r->n[i] + 1.0 / (double)r->n[prev]);
        prev = i;
    }
    if (m < 2)
        return NAN;
    double med = median(d, m);
    for (int i = 0; i < m; i++)
        d[i] = fabs(d[i] - med);
    return 1.4826 * median(d, m);
}

/* The z profile-shift trace (motion.h): per bin the mean score −F'/F of its localised z under the
 * scan's smoothed, sensitivity-corrected axial profile F, divided by the Fisher information. */
static int zscore_trace(lf_motion_result *r)
{
    int nz = r->nz, nb = r->n_bins;
    double *F = calloc((size_t)nz, sizeof *F), *G = calloc((size_t)nz, sizeof *G), *psi = calloc((size_t)nz, sizeof *psi);
    if (!F || !G || !psi) {
        free(F);
        free(G);
        free(psi);
        return -1;
    }
    for (int i = 0; i < nb; i++)
        for (int z = 0; z < nz; z++)
            F[z] += r->zhist[(size_t)i * nz + z];
    double sg = 2.0 * (r->zsmooth_mm > 0 ? r->zsmooth_mm : 2.0);
    int hw = (int)ceil(3 * sg);
    for (int z = 0; z < nz; z++) {
        double acc = 0, ws = 0;
        for (int k = -hw; k <= hw; k++)
            if (z + k >= 0 && z + k < nz) {
                double w = exp(-0.5 * k * k / (sg * sg));
                acc += w * F[z + k];
                ws += w;
            }
        G[z] = acc / ws;
    }
    double smax = 0, gmax = 0;
    for (int z = 0; z < nz; z++)
        smax = fmax(smax, r->zsens ? r->zsens[z] : 1.0);
    for (int z = 0; z < nz; z++) {
        double sz = r->zsens ? r->zsens[z] : 1.0;
        G[z] = sz >= 0.1 * smax ? G[z] / sz : 0; /* activity profile, sensitivity removed */
        gmax = fmax(gmax, G[z]);
    }
    double info = 0, tot = 0;
    for (int z = 1; z + 1 < nz; z++) {
        if (G[z - 1] <= 0 || G[z + 1] <= 0)
            continue;
        double der = 0.5 * (G[z + 1] - G[z - 1]), den = G[z] + 0.02 * gmax;
        psi[z] = -der / den;
        info += F[z] * psi[z] * psi[z];
        tot += F[z];
    }
    info = tot > 0 ? info / tot : 0;
    for (int i = 0; i < nb; i++) {
        double u = 0;
        for (int z = 0; z < nz; z++)
            u += r->zhist[(size_t)i * nz + z] * psi[z];
        r->zshift_mm[i] = r->n[i] && info > 0 ? u / (double)r->n[i] / info : NAN;
    }
    free(F);
    free(G);
    free(psi);
    return info > 0 ? 0 : -1;
}

/* ---- the analysis ---- */

#define NCH 4 /* detection channels: x, y, z centroids, z profile shift */

typedef struct cum {
    double *w, *s[NCH]; /* prefix sums over bins: events, events × channel value */
    int nch;
} cum;

static double chan(const lf_motion_result *r, int ch, int i)
{
    return ch < 3 ? r->centroid_mm[3 * i + ch] : r->zshift_mm[i];
}

static double seg_t2(const lf_motion_result *r, const cum *c, int s, int k, int e)
{
    double wl = c->w[k] - c->w[s], wr = c->w[e] - c->w[k];
    if (wl <= 0 || wr <= 0)
        return 0;
    double t2 = 0;
    for (int ax = 0; ax < c->nch; ax++) {
        double sg = r->det_sigma_mm[ax];
        if (!(sg > 0))
            continue;
        double ml = (c->s[ax][k] - c->s[ax][s]) / wl, mr = (c->s[ax][e] - c->s[ax][k]) / wr;
        t2 += (ml - mr) * (ml - mr) / (sg * sg * (1.0 / wl + 1.0 / wr));
    }
    return t2;
}

static int cmp_cp(const void *a, const void *b)
{
    return ((const lf_motion_change *)a)->bin - ((const lf_motion_change *)b)->bin;
}

static void estimate(const lf_motion_result *r, lf_motion_change *cp, int n_cp, wv *tmp)
{
    for (int j = 0; j < n_cp; j++) {
        int s0 = j ? cp[j - 1].bin : 0, k = cp[j].bin, e1 = j + 1 < n_cp ? cp[j + 1].bin : r->n_bins;
        for (int ax = 0; ax < 3; ax++) {
            cp[j].centroid_shift_mm[ax] = robust_mean(r, k, e1, ax, tmp) - robust_mean(r, s0, k, ax, tmp);
            cp[j].shift_mm[ax] = cp[j].centroid_shift_mm[ax];
        }
        double dz = profile_shift(r, s0, k, k, e1);
        if (isfinite(dz))
            cp[j].shift_mm[2] = dz;
    }
}

int lf_motion_analyse(lf_motion_result *r, const lf_motion_params *pin, lf_error *err)
{
    lf_motion_params p;
    if (pin)
        p = *pin;
    else
        lf_motion_params_default(&p);
    if (!(r->bin_s > 0))
        r->bin_s = p.resolution_s;
    if (p.guard_s < 0)
        p.guard_s = r->bin_s;
    if (!(p.threshold_mm >= 0) || !(p.min_segment_s >= 0) || !(p.min_window_s >= 0) || !(p.max_shift_mm >= 0))
        return lf_fail(err, "motion: threshold, minimum segment, minimum window and shift range must be >= 0");
    r->p = p;
    free(r->cp);
    free(r->stable);
    r->cp = NULL;
    r->stable = NULL;
    r->n_cp = r->n_stable = 0;
    r->longest = -1;
    int nb = r->n_bins;
    /* noise: first differences of consecutive non-empty bins, scaled by their counts */
    double *d = malloc((size_t)(nb > 0 ? nb : 1) * sizeof *d);
    wv *tmp = malloc((size_t)(nb > 0 ? nb : 1) * sizeof *tmp);
    cum c = {0};
    c.w = calloc((size_t)nb + 1, sizeof *c.w);
    for (int ax = 0; ax < NCH; ax++)
        c.s[ax] = calloc((size_t)nb + 1, sizeof *c.s[ax]);
    int cap = p.max_change_points > 0 ? p.max_change_points : 64;
    lf_motion_change *cp = calloc((size_t)cap, sizeof *cp);
    int *stack = malloc(sizeof *stack * 2 * ((size_t)cap + 2));
    int rc = -1;
    if (!d || !tmp || !c.w || !c.s[0] || !c.s[1] || !c.s[2] || !c.s[3] || !cp || !stack) {
        lf_fail(err, "motion: out of memory");
        goto done;
    }
    /* the detection channels: x, y, z centroids and, when profiles exist, the z profile-shift trace */
    free(r->zshift_mm);
    r->zshift_mm = NULL;
    c.nch = 3;
    if (r->zhist && r->nz >= 8) {
        r->zshift_mm = malloc((size_t)(nb > 0 ? nb : 1) * sizeof *r->zshift_mm);
        if (!r->zshift_mm) {
            lf_fail(err, "motion: out of memory");
            goto done;
        }
        if (zscore_trace(r) == 0) {
            c.nch = 4;
        } else {
            free(r->zshift_mm);
            r->zshift_mm = NULL;
        }
    }
    for (int ax = 0; ax < 3; ax++)
        r->sigma_mm[ax] = spread(r, r->centroid_mm + ax, 3, d);
    r->det_sigma_mm[3] = c.nch > 3 ? spread(r, r->zshift_mm, 1, d) : NAN;
    for (int ax = 0; ax < NCH; ax++) {
        if (ax < 3)
            r->det_sigma_mm[ax] = r->sigma_mm[ax];
        int m = 0;
        for (int i = 0; i < nb; i++)
            if (r->n[i] > 0)
                d[m++] = r->det_sigma_mm[ax] / sqrt((double)r->n[i]);
        r->noise_mm[ax] = median(d, m);
    }
    for (int i = 0; i < nb; i++) {
        double w = (double)r->n[i];
        c.w[i + 1] = c.w[i] + w;
        for (int ax = 0; ax < c.nch; ax++) {
            double v = w > 0 ? chan(r, ax, i) : 0;
            c.s[ax][i + 1] = c.s[ax][i] + (isfinite(v) ? w * v : 0);
        }
    }
    r->penalty = p.penalty > 0 ? p.penalty : 3.0 * log(nb > 1 ? nb : 2) + 30.0;
    int minseg = (int)ceil(p.min_segment_s / r->bin_s - 1e-9);
    if (minseg < 1)
        minseg = 1;
    /* binary segmentation */
    int n_cp = 0, sp = 0;
    stack[sp++] = 0;
    stack[sp++] = nb;
    while (sp > 0 && n_cp < cap) {
        int e = stack[--sp], s = stack[--sp];
        int bk = -1;
        double bt = 0;
        for (int k = s + minseg; k <= e - minseg; k++) {
            double t2 = seg_t2(r, &c, s, k, e);
            if (t2 > bt) {
                bt = t2;
                bk = k;
            }
        }
        if (bk < 0 || !(bt > r->penalty))
            continue;
        cp[n_cp++] = (lf_motion_change){.bin = bk, .t2 = bt};
        stack[sp++] = s;
        stack[sp++] = bk;
        stack[sp++] = bk;
        stack[sp++] = e;
    }
    qsort(cp, (size_t)n_cp, sizeof *cp, cmp_cp);
    /* drop the smallest shift below the threshold, one at a time, re-estimating on merged segments */
    for (;;) {
        estimate(r, cp, n_cp, tmp);
        int worst = -1;
        double wm = INFINITY;
        for (int j = 0; j < n_cp; j++) {
            double m = 0;
            for (int ax = 0; ax < 3; ax++)
                m += cp[j].shift_mm[ax] * cp[j].shift_mm[ax];
            m = sqrt(m);
            if (!(m >= p.threshold_mm) && (worst < 0 || m < wm || !isfinite(m))) {
                worst = j;
                wm = m;
            }
        }
        if (worst < 0)
            break;
        memmove(&cp[worst], &cp[worst + 1], (size_t)(n_cp - worst - 1) * sizeof *cp);
        n_cp--;
    }
    for (int j = 0; j < n_cp; j++)
        cp[j].time_s = r->time_s[cp[j].bin];
    /* stable windows: between change points, trimmed of empty bins and guarded at change points */
    r->stable = calloc((size_t)n_cp + 1, sizeof *r->stable);
    if (!r->stable) {
        lf_fail(err, "motion: out of memory");
        goto done;
    }
    double best_len = -1;
    for (int j = 0; j <= n_cp; j++) {
        int s = j ? cp[j - 1].bin : 0, e = j < n_cp ? cp[j].bin : nb;
        while (s < e && r->n[s] == 0)
            s++;
        while (e > s && r->n[e - 1] == 0)
            e--;
        if (s >= e)
            continue;
        double t0 = r->time_s[s], t1 = r->time_s[e - 1] + r->bin_len_s[e - 1];
        if (j > 0)
            t0 = fmax(t0, cp[j - 1].time_s + p.guard_s);
        if (j < n_cp)
            t1 = fmin(t1, cp[j].time_s - p.guard_s);
        if (t1 - t0 < p.min_window_s || t1 <= t0)
            continue;
        r->stable[r->n_stable] = (lf_window){t0, t1};
        if (t1 - t0 > best_len) {
            best_len = t1 - t0;
            r->longest = r->n_stable;
        }
        r->n_stable++;
    }
    r->cp = cp;
    r->n_cp = n_cp;
    cp = NULL;
    rc = 0;
done:
    free(cp);
    free(stack);
    free(d);
    free(tmp);
    free(c.w);
    for (int ax = 0; ax < NCH; ax++)
        free(c.s[ax]);
    return rc;
}

/* ---- traces from a stream ---- */

typedef struct tracer {
    lf_motion_result *r;
    const lf_scanner *sc;
    double *cx, *cy, *cz;   /* interaction point per in-ring index (x, y) and ring (z) */
    double *sum;            /* [cap * 3] */
    uint64_t *nd;           /* delayeds per bin */
    int cap;                /* allocated bins */
    double w_mm;            /* TOF bin width along the LOR; 0: midpoints */
    lf_error *err;
} tracer;

static int grow(tracer *t, int need)
{
    if (need <= t->cap)
        return 0;
    int nc = t->cap ? t->cap : 64;
    while (nc < need)
        nc *= 2;
    lf_motion_result *r = t->r;
    size_t nz = (size_t)r->nz, old = (size_t)t->cap;
    uint64_t *n = realloc(r->n, (size_t)nc * sizeof *n);
    if (n)
        r->n = n;
    uint64_t *nd = realloc(t->nd, (size_t)nc * sizeof *nd);
    if (nd)
        t->nd = nd;
    double *s = realloc(t->sum, (size_t)nc * 3 * sizeof *s);
    if (s)
        t->sum = s;
    uint32_t *zh = realloc(r->zhist, (size_t)nc * nz * sizeof *zh);
    if (zh)
        r->zhist = zh;
    if (!n || !nd || !s || !zh)
        return lf_fail(t->err, "motion: out of memory for %d time bins", nc);
    memset(r->n + old, 0, ((size_t)nc - old) * sizeof *n);
    memset(t->nd + old, 0, ((size_t)nc - old) * sizeof *nd);
    memset(t->sum + 3 * old, 0, ((size_t)nc - old) * 3 * sizeof *s);
    memset(r->zhist + old * nz, 0, ((size_t)nc - old) * nz * sizeof *zh);
    t->cap = nc;
    return 0;
}

static int on_batch(const lf_lm_batch *b, void *user, lf_error *err)
{
    tracer *t = user;
    lf_motion_result *r = t->r;
    int cpr = t->sc->crystals_per_ring, nz = r->nz;
    (void)err;
    for (size_t i = 0; i < b->n_ev; i++) {
        const lf_event *e = &b->ev[i];
        int bin = (int)floor((double)e->t_ms / 1000.0 / r->bin_s);
        if (bin >= r->n_bins) {
            if (grow(t, bin + 1) != 0)
                return -1;
            r->n_bins = bin + 1;
        }
        if (!e->prompt) {
            t->nd[bin]++;
            continue;
        }
        int ra = (int)(e->a / (uint32_t)cpr), ka = (int)(e->a % (uint32_t)cpr);
        int rb = (int)(e->b / (uint32_t)cpr), kb = (int)(e->b % (uint32_t)cpr);
        double pa[3] = {t->cx[ka], t->cy[ka], t->cz[ra]}, pb[3] = {t->cx[kb], t->cy[kb], t->cz[rb]};
        double q[3];
        for (int k = 0; k < 3; k++)
            q[k] = 0.5 * (pa[k] + pb[k]);
        if (t->w_mm > 0 && e->tof) {
            double u[3] = {pa[0] - pb[0], pa[1] - pb[1], pa[2] - pb[2]};
            double len = sqrt(u[0] * u[0] + u[1] * u[1] + u[2] * u[2]);
            double f = len > 0 ? e->tof * t->w_mm / len : 0;
            double half = 0.5;
            /* never beyond the crystals */
            if (fabs(f) > half)
                f = f > 0 ? half : -half;
            for (int k = 0; k < 3; k++)
                q[k] += f * u[k];
        }
        r->n[bin]++;
        double *s = &t->sum[3 * (size_t)bin];
        s[0] += q[0];
        s[1] += q[1];
        s[2] += q[2];
        int zi = (int)floor(q[2] - r->z0_mm);
        if (zi >= 0 && zi < nz)
            r->zhist[(size_t)bin * nz + zi]++;
    }
    return 0;
}

int lf_motion_detect(const char *acq, const lf_lm_open_opts *o, const lf_motion_params *pin, lf_motion_result *r,
                     lf_error *err)
{
    lf_motion_params p;
    if (pin)
        p = *pin;
    else
        lf_motion_params_default(&p);
    memset(r, 0, sizeof *r);
    r->longest = -1;
    if (!(p.resolution_s >= 0.001))
        return lf_fail(err, "motion: the time resolution must be at least 0.001 s, got %g", p.resolution_s);
    lf_lm_reader *rd = NULL;
    if (lf_lm_open(acq, o, &rd, err) != 0)
        return -1;
    const lf_lm_header *h = lf_lm_header_of(rd);
    const lf_scanner *sc = &h->scanner;
    tracer t = {.r = r, .sc = sc, .err = err};
    int rc = -1;
    t.cx = malloc((size_t)sc->crystals_per_ring * sizeof *t.cx);
    t.cy = malloc((size_t)sc->crystals_per_ring * sizeof *t.cy);
    t.cz = malloc((size_t)sc->rings * sizeof *t.cz);
    if (!t.cx || !t.cy || !t.cz) {
        lf_fail(err, "motion: out of memory");
        goto done;
    }
    for (int k = 0; k < sc->crystals_per_ring; k++) {
        double xyz[3];
        lf_crystal_position_mm(sc, lf_crystal_id(sc, 0, k), xyz);
        t.cx[k] = xyz[0];
        t.cy[k] = xyz[1];
    }
    for (int ring = 0; ring < sc->rings; ring++)
        t.cz[ring] = lf_ring_z_mm(sc, ring);
    double zmin = t.cz[0], zmax = t.cz[0];
    for (int ring = 1; ring < sc->rings; ring++) {
        zmin = fmin(zmin, t.cz[ring]);
        zmax = fmax(zmax, t.cz[ring]);
    }
    r->z0_mm = floor(zmin) - 2.0;
    r->nz = (int)ceil(zmax - r->z0_mm) + 2;
    r->zsmooth_mm = sc->ring_pitch_mm;
    r->zsens = malloc((size_t)r->nz * sizeof *r->zsens);
    if (!r->zsens) {
        lf_fail(err, "motion: out of memory");
        goto done;
    }
    {
        /* geometric axial sensitivity on the axis (see motion.h) */
        double R = sc->ring_radius_mm + sc->doi_mm, lo = zmin - 0.5 * sc->ring_pitch_mm,
               hi = zmax + 0.5 * sc->ring_pitch_mm, hmax = 0.5 * h->mrd * sc->ring_pitch_mm;
        for (int z = 0; z < r->nz; z++) {
            double zc = r->z0_mm + z + 0.5, hz = fmin(fmin(zc - lo, hi - zc), hmax);
            r->zsens[z] = hz > 0 ? hz / sqrt(hz * hz + R * R) : 0;
        }
    }
    r->bin_s = p.resolution_s;
    r->tof = h->tof_bins > 1 && h->tof_bin_width_ps > 0;
    t.w_mm = r->tof ? h->tof_bin_width_ps * MM_PER_PS : 0;
    int nb0 = h->header_duration_s > 0 ? (int)ceil(h->header_duration_s / p.resolution_s - 1e-9) : 1;
    if (grow(&t, nb0 > 0 ? nb0 : 1) != 0)
        goto done;
    r->n_bins = nb0 > 0 ? nb0 : 0;
    if (lf_lm_foreach(rd, on_batch, &t, NULL, NULL, err) != 0)
        goto done;
    const lf_decode_stats *st = lf_lm_stats(rd);
    double dur = st->have_time ? (double)(st->last_ms + 1) / 1000.0 : h->header_duration_s;
    if (!(dur > 0))
        dur = r->n_bins * p.resolution_s;
    r->duration_s = dur;
    int nb = (int)ceil(dur / p.resolution_s - 1e-9);
    if (nb > r->n_bins) {
        if (grow(&t, nb) != 0)
            goto done;
        r->n_bins = nb;
    }
    /* a bin entirely after the data (header longer than the markers) is dropped */
    if (r->n_bins > nb && nb > 0) {
        int used = nb;
        for (int i = nb; i < r->n_bins; i++)
            if (r->n[i] || t.nd[i])
                used = i + 1;
        r->n_bins = used;
    }
    nb = r->n_bins;
    if (nb == 0) {
        lf_fail(err, "%s: no time markers and no events: nothing to trace", h->user_path);
        goto done;
    }
    size_t n1 = (size_t)nb;
    r->time_s = calloc(n1, sizeof *r->time_s);
    r->bin_len_s = calloc(n1, sizeof *r->bin_len_s);
    r->counts_per_s = calloc(n1, sizeof *r->counts_per_s);
    r->delayeds_per_s = calloc(n1, sizeof *r->delayeds_per_s);
    r->centroid_mm = calloc(n1 * 3, sizeof *r->centroid_mm);
    if (!r->time_s || !r->bin_len_s || !r->counts_per_s || !r->delayeds_per_s || !r->centroid_mm) {
        lf_fail(err, "motion: out of memory");
        goto done;
    }
    for (int i = 0; i < nb; i++) {
        double t0 = i * p.resolution_s, len = fmin(p.resolution_s, dur - t0);
        if (!(len > 0))
            len = p.resolution_s;
        r->time_s[i] = t0;
        r->bin_len_s[i] = len;
        r->counts_per_s[i] = (double)r->n[i] / len;
        r->delayeds_per_s[i] = (double)t.nd[i] / len;
        for (int ax = 0; ax < 3; ax++)
            r->centroid_mm[3 * i + ax] = r->n[i] ? t.sum[3 * (size_t)i + ax] / (double)r->n[i] : NAN;
    }
    rc = lf_motion_analyse(r, &p, err);
    if (rc != 0)
        lf_fail_prefix(err, "%s", h->user_path);
done:
    free(t.cx);
    free(t.cy);
    free(t.cz);
    free(t.sum);
    free(t.nd);
    lf_lm_close(rd);
    if (rc != 0)
        lf_motion_result_free(r);
    return rc;
}

/* ---- outputs ---- */

int lf_motion_write_json(const lf_motion_result *r, const char *path, lf_error *err)
{
    lf_atomic_file af;
    FILE *f = lf_atomic_open(&af, path, err);
    if (!f)
        return -1;
    lf_json j;
    lf_json_init(&j, f);
    lf_json_obj(&j, NULL);
    lf_json_obj(&j, "traces");
    lf_json_num(&j, "resolution_s", r->bin_s);
    lf_json_nums(&j, "time_s", r->time_s, r->n_bins);
    lf_json_nums(&j, "counts_per_s", r->counts_per_s, r->n_bins);
    if (r->delayeds_per_s) {
        lf_json_nums(&j, "delayeds_per_s", r->delayeds_per_s, r->n_bins);
    }
    if (r->zshift_mm) {
        lf_json_nums(&j, "z_profile_shift_mm", r->zshift_mm, r->n_bins);
    }
    lf_json_arr(&j, "centroid_mm");
    for (int i = 0; i < r->n_bins; i++) {
        lf_json_arr(&j, NULL);
        for (int ax = 0; ax < 3; ax++)
            lf_json_num(&j, NULL, r->centroid_mm[3 * i + ax]);
        lf_json_end(&j);
    }
    lf_json_end(&j);
    lf_json_end(&j);
    lf_json_arr(&j, "change_points");
    for (int k = 0; k < r->n_cp; k++) {
        const lf_motion_change *c = &r->cp[k];
        lf_json_obj(&j, NULL);
        lf_json_num(&j, "time_s", c->time_s);
        lf_json_arr(&j, "shift_mm");
        for (int ax = 0; ax < 3; ax++)
            lf_json_num(&j, NULL, c->shift_mm[ax]);
        lf_json_end(&j);
        lf_json_arr(&j, "centroid_shift_mm");
        for (int ax = 0; ax < 3; ax++)
            lf_json_num(&j, NULL, c->centroid_shift_mm[ax]);
        lf_json_end(&j);
        lf_json_num(&j, "t2", c->t2);
        lf_json_end(&j);
    }
    lf_json_end(&j);
    lf_json_arr(&j, "stable_windows");
    for (int k = 0; k < r->n_stable; k++) {
        lf_json_arr(&j, NULL);
        lf_json_num(&j, NULL, r->stable[k].t0_s);
        lf_json_num(&j, NULL, r->stable[k].t1_s);
        lf_json_end(&j);
    }
    lf_json_end(&j);
    if (r->longest >= 0) {
        lf_json_arr(&j, "longest_stable_window");
        lf_json_num(&j, NULL, r->stable[r->longest].t0_s);
        lf_json_num(&j, NULL, r->stable[r->longest].t1_s);
        lf_json_end(&j);
    } else {
        lf_json_null(&j, "longest_stable_window");
    }
    lf_json_num(&j, "duration_s", r->duration_s);
    lf_json_obj(&j, "noise");
    lf_json_arr(&j, "sigma_event_mm");
    for (int ax = 0; ax < 3; ax++)
        lf_json_num(&j, NULL, r->sigma_mm[ax]);
    lf_json_end(&j);
    lf_json_num(&j, "z_profile_shift_sigma_event_mm", r->det_sigma_mm[3]);
    lf_json_arr(&j, "noise_mm_per_bin");
    for (int ax = 0; ax < NCH; ax++)
        lf_json_num(&j, NULL, r->noise_mm[ax]);
    lf_json_end(&j);
    lf_json_end(&j);
    lf_json_obj(&j, "method");
    lf_json_str(&j, "localisation", r->tof ? "TOF most probable point" : "LOR midpoint");
    lf_json_str(&j, "detector", "binary segmentation, count-weighted chi2 split statistic on the x, y, z centroids and "
                                "the z profile-shift trace");
    lf_json_str(&j, "shift_z", "axial profile registration (1 mm)");
    lf_json_num(&j, "threshold_mm", r->p.threshold_mm);
    lf_json_num(&j, "min_segment_s", r->p.min_segment_s);
    lf_json_num(&j, "min_window_s", r->p.min_window_s);
    lf_json_num(&j, "guard_s", r->p.guard_s);
    lf_json_num(&j, "penalty_t2", r->penalty);
    lf_json_num(&j, "max_shift_mm", r->p.max_shift_mm);
    lf_json_end(&j);
    lf_json_end(&j);
    lf_json_finish(&j);
    if (ferror(f)) {
        lf_atomic_abort(&af);
        return lf_fail(err, "%s: write error", path);
    }
    return lf_atomic_commit(&af, err);
}

/* -- a tiny plotter into an RGB buffer -- */

typedef struct canvas {
    uint8_t *px;
    int w, h;
} canvas;

static void dot(canvas *c, int x, int y, const uint8_t col[3])
{
    if (x < 0 || y < 0 || x >= c->w || y >= c->h)
        return;
    memcpy(&c->px[3 * ((size_t)y * c->w + x)], col, 3);
}

static void line(canvas *c, int x0, int y0, int x1, int y1, const uint8_t col[3])
{
    int dx = abs(x1 - x0), sx = x0 < x1 ? 1 : -1, dy = -abs(y1 - y0), sy = y0 < y1 ? 1 : -1, e = dx + dy;
    for (;;) {
        dot(c, x0, y0, col);
        if (x0 == x1 && y0 == y1)
            break;
        int e2 = 2 * e;
        if (e2 >= dy) {
            e += dy;
            x0 += sx;
        }
        if (e2 <= dx) {
            e += dx;
            y0 += sy;
        }
    }
}

static double nice_step(double range, int target)
{
    double raw = range / target, p = pow(10, floor(log10(raw))), m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

int lf_motion_write_png(const lf_motion_result *r, const char *path, lf_error *err)
{
    const int W = 1000, PH = 170, M = 12, L = 50, NP = r->zshift_mm ? 5 : 4;
    const int H = NP * PH + M;
    canvas c = {calloc((size_t)W * H * 3, 1), W, H};
    double *v = malloc((size_t)(r->n_bins > 0 ? r->n_bins : 1) * sizeof *v);
    if (!c.px || !v) {
        free(c.px);
        free(v);
        return lf_fail(err, "%s: out of memory", path);
    }
    memset(c.px, 255, (size_t)W * H * 3);
    static const uint8_t black[3] = {0, 0, 0}, grey[3] = {200, 200, 200}, shade[3] = {214, 240, 214},
                         red[3] = {220, 30, 30}, cols[5][3] = {{40, 40, 40}, {30, 80, 200}, {20, 140, 60}, {140, 40, 160}, {200, 110, 0}};
    double tmax = r->n_bins > 0 ? r->time_s[r->n_bins - 1] + r->bin_len_s[r->n_bins - 1] : 1;
    int x0 = L, x1 = W - M;
#define TX(t) (x0 + (int)lround(((t) / tmax) * (x1 - x0)))
    for (int pnl = 0; pnl < NP; pnl++) {
        int y0 = pnl * PH + M, y1 = (pnl + 1) * PH - 8;
        /* stable windows */
        for (int k = 0; k < r->n_stable; k++)
            for (int x = TX(r->stable[k].t0_s); x <= TX(r->stable[k].t1_s); x++)
                for (int y = y0; y <= y1; y++)
                    dot(&c, x, y, shade);
        /* value range: 1st..99th percentile of the bins with counts */
        int m = 0;
        for (int i = 0; i < r->n_bins; i++) {
            double val = pnl == 0 ? r->counts_per_s[i] : pnl == 4 ? r->zshift_mm[i] : r->centroid_mm[3 * i + pnl - 1];
            if (r->n[i] > 0 && isfinite(val))
                v[m++] = val;
        }
        double lo = 0, hi = 1;
        if (m > 0) {
            qsort(v, (size_t)m, sizeof *v, cmp_double);
            lo = v[(int)(0.01 * (m - 1))];
            hi = v[(int)ceil(0.99 * (m - 1))];
            double pad = 0.08 * (hi - lo) + 1e-3;
            lo -= pad;
            hi += pad;
            if (pnl == 0)
                lo = 0;
        }
#define TY(val) (y1 - (int)lround((((val) - lo) / (hi - lo)) * (y1 - y0)))
        /* value ticks and grid */
        double st = nice_step(hi - lo, 4);
        for (double tv = ceil(lo / st) * st; tv <= hi; tv += st) {
            int y = TY(tv);
            for (int x = x0; x <= x1; x += 4)
                dot(&c, x, y, grey);
            line(&c, x0 - 6, y, x0, y, black);
        }
        /* time ticks */
        double ts = nice_step(tmax, 10);
        for (double tt = 0; tt <= tmax + 1e-9; tt += ts) {
            int x = TX(tt);
            line(&c, x, y1, x, y1 + 5, black);
        }
        /* change points */
        for (int k = 0; k < r->n_cp; k++) {
            int x = TX(r->cp[k].time_s);
            line(&c, x, y0, x, y1, red);
        }
        /* the trace */
        int px = -1, py = -1;
        for (int i = 0; i < r->n_bins; i++) {
            double val = pnl == 0 ? r->counts_per_s[i] : pnl == 4 ? r->zshift_mm[i] : r->centroid_mm[3 * i + pnl - 1];
            if (r->n[i] == 0 || !isfinite(val)) {
                px = -1;
                continue;
            }
            int x = TX(r->time_s[i] + 0.5 * r->bin_len_s[i]);
            int y = TY(fmax(lo, fmin(hi, val)));
            if (px >= 0)
                line(&c, px, py, x, y, cols[pnl]);
            else
                dot(&c, x, y, cols[pnl]);
            px = x;
            py = y;
        }
        /* frame */
        line(&c, x0, y0, x1, y0, black);
        line(&c, x0, y1, x1, y1, black);
        line(&c, x0, y0, x0, y1, black);
        line(&c, x1, y0, x1, y1, black);
#undef TY
    }
#undef TX
    int rc = lf_png_write_rgb(path, W, H, c.px, err);
    free(c.px);
    free(v);
    return rc;
}

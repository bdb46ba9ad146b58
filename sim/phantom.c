#include "phantom.h"

#include "../io/data_dir.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "../io/interfile.h"


#define OWNED_SAMPLES 200000
#define OWNED_CHUNKS 16
#define OWNED_SEED 0x0123456789ABCDEFull
/* tries per shape choice before another shape is drawn, and in all, in lf_phantom_sample */
#define SAMPLE_TRIES_SHAPE 100000
#define SAMPLE_TRIES_TOTAL 10000000

/* ------------------------------------------------------------------------------------------------
 * Materials: HU -> mu at 511 keV, Carney et al. 2006 bilinear model at 120 kVp (physics.md).
 */
#define CARNEY_LOW 9.6e-5
#define CARNEY_A 5.10e-5
#define CARNEY_B 4.71e-2
#define CARNEY_BP 47.0

double lf_hu_to_mu_120kvp(double hu)
{
    double mu = hu <= CARNEY_BP ? CARNEY_LOW * (hu + 1000.0) : CARNEY_A * (hu + 1000.0) + CARNEY_B;
    return mu > 0 ? mu : 0;
}

static double mu_to_hu_120kvp(double mu)
{
    double mu_bp = CARNEY_LOW * (CARNEY_BP + 1000.0);
    return mu <= mu_bp ? mu / CARNEY_LOW - 1000.0 : (mu - CARNEY_B) / CARNEY_A - 1000.0;
}

/* ------------------------------------------------------------------------------------------------
 * Geometry of one shape. dz: the shape's own z displacement (resp_weight * resp_dz).
 */

/* across axes of a cylinder: the other two in increasing order */
static inline void cyl_axes(int axis, int *i, int *j)
{
    *i = axis == 0 ? 1 : 0;
    *j = axis == 2 ? 1 : 2;
}

static void shape_bbox(lf_shape *s)
{
    for (int k = 0; k < 3; k++) {
        s->lo[k] = s->c[k] - s->r[k];
        s->hi[k] = s->c[k] + s->r[k];
    }
    if (s->type == LF_SHAPE_CYLINDER) {
        int i, j;
        cyl_axes(s->axis, &i, &j);
        s->lo[i] = s->c[i] - s->r[0];
        s->hi[i] = s->c[i] + s->r[0];
        s->lo[j] = s->c[j] - s->r[1];
        s->hi[j] = s->c[j] + s->r[1];
        s->lo[s->axis] = s->c[s->axis] - s->r[2];
        s->hi[s->axis] = s->c[s->axis] + s->r[2];
    } else if (s->type == LF_SHAPE_IEC_BODY) {
        double R = s->r[0], h = s->r[0] - s->r[1];
        s->lo[0] = s->c[0] - R;
        s->hi[0] = s->c[0] + R;
        s->lo[1] = s->c[1] - R;
        s->hi[1] = s->c[1] + h;
    }
}

static double shape_volume_ml(const lf_shape *s)
{
    const double *r = s->r;
    switch (s->type) {
    case LF_SHAPE_ELLIPSOID:
        return 4.0 / 3.0 * M_PI * r[0] * r[1] * r[2] * 1e-3;
    case LF_SHAPE_CYLINDER:
        return M_PI * r[0] * r[1] * 2.0 * r[2] * 1e-3;
    case LF_SHAPE_BOX:
        return 8.0 * r[0] * r[1] * r[2] * 1e-3;
    case LF_SHAPE_IEC_BODY: {
        double R = r[0], w = r[1], h = R - w;
        /* half-disc R (y <= 0) + rectangle 2w x h + two quarter-discs h (= one half-disc h) */
        double area = 0.5 * M_PI * R * R + 2.0 * w * h + 0.5 * M_PI * h * h;
        return area * 2.0 * r[2] * 1e-3;
    }
    }
    return 0;
}

/* 2-D IEC cross-section test, (x, y) relative to the axis point */
static inline int iec_inside_2d(double x, double y, double R, double w)
{
    if (y <= 0)
        return x * x + y * y <= R * R;
    double h = R - w, ax = fabs(x);
    if (y > h)
        return 0;
    if (ax <= w)
        return 1;
    double dx = ax - w;
    return dx * dx + y * y <= h * h;
}

int lf_shape_contains(const lf_shape *s, const double x[3], double resp_dz)
{
    double dz = s->resp_weight * resp_dz;
    double d[3] = {x[0] - s->c[0], x[1] - s->c[1], x[2] - (s->c[2] + dz)};
    const double *r = s->r;
    switch (s->type) {
    case LF_SHAPE_ELLIPSOID: {
        double a = d[0] / r[0], b = d[1] / r[1], c = d[2] / r[2];
        return a * a + b * b + c * c <= 1.0;
    }
    case LF_SHAPE_CYLINDER: {
        int i, j;
        cyl_axes(s->axis, &i, &j);
        if (fabs(d[s->axis]) > r[2])
            return 0;
        double a = d[i] / r[0], b = d[j] / r[1];
        return a * a + b * b <= 1.0;
    }
    case LF_SHAPE_BOX:
        return fabs(d[0]) <= r[0] && fabs(d[1]) <= r[1] && fabs(d[2]) <= r[2];
    case LF_SHAPE_IEC_BODY:
        return fabs(d[2]) <= r[2] && iec_inside_2d(d[0], d[1], r[0], r[1]);
    }
    return 0;
}

static inline int in_bbox(const lf_shape *s, const double x[3], double dz)
{
    return x[0] >= s->lo[0] && x[0] <= s->hi[0] && x[1] >= s->lo[1] && x[1] <= s->hi[1] && x[2] >= s->lo[2] + dz &&
           x[2] <= s->hi[2] + dz;
}

/* uniform point inside the shape at displacement dz (the shape's own) */
static void shape_sample(const lf_shape *s, lf_rng *rng, double dz, double x[3])
{
    const double *r = s->r;
    double a, b, c;
    switch (s->type) {
    case LF_SHAPE_ELLIPSOID:
        do {
            a = 2.0 * lf_rng_uniform(rng) - 1.0;
            b = 2.0 * lf_rng_uniform(rng) - 1.0;
            c = 2.0 * lf_rng_uniform(rng) - 1.0;
        } while (a * a + b * b + c * c > 1.0);
        x[0] = s->c[0] + a * r[0];
        x[1] = s->c[1] + b * r[1];
        x[2] = s->c[2] + c * r[2];
        break;
    case LF_SHAPE_CYLINDER: {
        int i, j;
        cyl_axes(s->axis, &i, &j);
        do {
            a = 2.0 * lf_rng_uniform(rng) - 1.0;
            b = 2.0 * lf_rng_uniform(rng) - 1.0;
        } while (a * a + b * b > 1.0);
        c = 2.0 * lf_rng_uniform(rng) - 1.0;
        x[i] = s->c[i] + a * r[0];
        x[j] = s->c[j] + b * r[1];
        x[s->axis] = s->c[s->axis] + c * r[2];
        break;
    }
    case LF_SHAPE_BOX:
        for (int k = 0; k < 3; k++)
            x[k] = s->c[k] + (2.0 * lf_rng_uniform(rng) - 1.0) * r[k];
        break;
    case LF_SHAPE_IEC_BODY: {
        double R = r[0], h = R - r[1];
        do {
            a = -R + 2.0 * R * lf_rng_uniform(rng);
            b = -R + (R + h) * lf_rng_uniform(rng);
        } while (!iec_inside_2d(a, b, R, r[1]));
        x[0] = s->c[0] + a;
        x[1] = s->c[1] + b;
        x[2] = s->c[2] + (2.0 * lf_rng_uniform(rng) - 1.0) * r[2];
        break;
    }
    }
    x[2] += dz;
}

/* ------------------------------------------------------------------------------------------------
 * Exact ray cuts. Every shape type is convex, so a line meets it in one interval [*t0, *t1].
 * On entry [*t0, *t1] is the allowed range; the functions narrow it and return 0 when empty.
 */
#define TINY_DIR 1e-300

/* slab lo <= o + t u <= hi */
static inline int clip_slab_inv(double o, double inv, double lo, double hi, double *t0, double *t1)
{
    if (inv == 0)
        return o >= lo && o <= hi;
    double a = (lo - o) * inv, b = (hi - o) * inv;
    if (a > b) {
        double t = a;
        a = b;
        b = t;
    }
    if (a > *t0)
        *t0 = a;
    if (b < *t1)
        *t1 = b;
    return *t0 <= *t1;
}

static inline int clip_slab(double o, double u, double lo, double hi, double *t0, double *t1)
{
    return clip_slab_inv(o, fabs(u) < TINY_DIR ? 0.0 : 1.0 / u, lo, hi, t0, t1);
}

/* half-line o + t u <= hi (side = +1) or >= lo (side = -1) */
static inline int clip_half(double o, double u, double bound, int side, double *t0, double *t1)
{
    return side > 0 ? clip_slab(o, u, -INFINITY, bound, t0, t1) : clip_slab(o, u, bound, INFINITY, t0, t1);
}

/* |p + t q|^2 <= 1 in n dimensions (n = 2 or 3): narrows [t0, t1]. */
static inline int clip_quadric(const double *p, const double *q, int n, double *t0, double *t1)
{
    double A = 0, B = 0, C = -1.0;
    for (int k = 0; k < n; k++) {
        A += q[k] * q[k];
        B += p[k] * q[k];
        C += p[k] * p[k];
    }
    if (A < 1e-300) /* parallel to the axis (or degenerate): inside everywhere or nowhere */
        return C <= 0;
    double disc = B * B - A * C;
    if (disc < 0)
        return 0;
    double sq = sqrt(disc);
    /* stable roots */
    double qq = B >= 0 ? -(B + sq) : -(B - sq);
    double ra, rb;
    if (qq == 0) {
        ra = rb = 0;
    } else {
        ra = qq / A;
        rb = C / qq;
    }
    if (ra > rb) {
        double t = ra;
        ra = rb;
        rb = t;
    }
    if (ra > *t0)
        *t0 = ra;
    if (rb < *t1)
        *t1 = rb;
    return *t0 <= *t1;
}

/* disc of radius rad centred at (cx, cy) in 2-D, plus optional half-plane clips */
static inline int clip_disc(double ox, double oy, double ux, double uy, double cx, double cy, double rad, double *t0,
                            double *t1)
{
    double p[2] = {(ox - cx) / rad, (oy - cy) / rad}, q[2] = {ux / rad, uy / rad};
    return clip_quadric(p, q, 2, t0, t1);
}

/* IEC cross-section (convex: the union of the four pieces meets a line in one interval) */
static int clip_iec(double ox, double oy, double ux, double uy, double R, double w, double *t0, double *t1)
{
    double h = R - w;
    double best0 = INFINITY, best1 = -INFINITY;
    double a, b;
    /* half-disc R on y <= 0 */
    a = *t0;
    b = *t1;
    if (clip_disc(ox, oy, ux, uy, 0, 0, R, &a, &b) && clip_half(oy, uy, 0.0, +1, &a, &b)) {
        best0 = fmin(best0, a);
        best1 = fmax(best1, b);
    }
    /* rectangle |x| <= w, 0 <= y <= h */
    a = *t0;
    b = *t1;
    if (clip_slab(ox, ux, -w, w, &a, &b) && clip_slab(oy, uy, 0.0, h, &a, &b)) {
        best0 = fmin(best0, a);
        best1 = fmax(best1, b);
    }
    /* quarter-discs h at (+-w, 0), |x| >= w, y >= 0 */
    a = *t0;
    b = *t1;
    if (clip_disc(ox, oy, ux, uy, w, 0, h, &a, &b) && clip_half(ox, ux, w, -1, &a, &b) &&
        clip_half(oy, uy, 0.0, -1, &a, &b)) {
        best0 = fmin(best0, a);
        best1 = fmax(best1, b);
    }
    a = *t0;
    b = *t1;
    if (clip_disc(ox, oy, ux, uy, -w, 0, h, &a, &b) && clip_half(ox, ux, -w, +1, &a, &b) &&
        clip_half(oy, uy, 0.0, -1, &a, &b)) {
        best0 = fmin(best0, a);
        best1 = fmax(best1, b);
    }
    if (!(best0 <= best1))
        return 0;
    *t0 = best0;
    *t1 = best1;
    return 1;
}

/* Exact interval of line o + t u in shape s (displaced by dz), within [*t0, *t1] on entry. The
 * bounding box has been tested already. */
static int shape_cut(const lf_shape *s, const double o[3], const double u[3], double dz, double *t0, double *t1)
{
    double d[3] = {o[0] - s->c[0], o[1] - s->c[1], o[2] - (s->c[2] + dz)};
    const double *r = s->r;
    switch (s->type) {
    case LF_SHAPE_ELLIPSOID: {
        double p[3] = {d[0] / r[0], d[1] / r[1], d[2] / r[2]};
        double q[3] = {u[0] / r[0], u[1] / r[1], u[2] / r[2]};
        return clip_quadric(p, q, 3, t0, t1);
    }
    case LF_SHAPE_CYLINDER: {
        int i, j;
        cyl_axes(s->axis, &i, &j);
        double p[2] = {d[i] / r[0], d[j] / r[1]};
        double q[2] = {u[i] / r[0], u[j] / r[1]};
        return clip_quadric(p, q, 2, t0, t1); /* the axial slab is the bounding box's */
    }
    case LF_SHAPE_BOX:
        return 1; /* the bounding box is the box */
    case LF_SHAPE_IEC_BODY:
        return clip_iec(d[0], d[1], u[0], u[1], r[0], r[1], t0, t1);
    }
    return 0;
}

/* a shape's bounding box, the direction's inverse precomputed (inv = 0 when |u| < TINY_DIR) */

static inline int bbox_cut(const lf_shape *s, const double o[3], const double inv[3], double dz, double *t0, double *t1)
{
    return clip_slab_inv(o[2], inv[2], s->lo[2] + dz, s->hi[2] + dz, t0, t1) &&
           clip_slab_inv(o[0], inv[0], s->lo[0], s->hi[0], t0, t1) &&
           clip_slab_inv(o[1], inv[1], s->lo[1], s->hi[1], t0, t1);
}

typedef struct {
    double t;
    int code; /* hit index * 2 + (1 at the end of its interval) */
} ray_event;

int lf_phantom_ray(const lf_phantom *ph, const double o[3], const double u[3], double tmin, double tmax,
                   double resp_dz, lf_segment *seg, int max)
{
    if (max <= 0 || !(tmin < tmax) || ph->n <= 0)
        return 0;
    double inv[3];
    for (int k = 0; k < 3; k++)
        inv[k] = fabs(u[k]) < TINY_DIR ? 0.0 : 1.0 / u[k];
    /* whole phantom (shapes move by at most |resp_dz| along z): every piece lies in [ta, tb] */
    double ta = tmin, tb = tmax, m = fabs(resp_dz);
    if (!clip_slab_inv(o[2], inv[2], ph->lo[2] - m, ph->hi[2] + m, &ta, &tb) ||
        !clip_slab_inv(o[0], inv[0], ph->lo[0], ph->hi[0], &ta, &tb) ||
        !clip_slab_inv(o[1], inv[1], ph->lo[1], ph->hi[1], &ta, &tb))
        return 0;
    int n = ph->n < LF_PHANTOM_MAX_SHAPES ? ph->n : LF_PHANTOM_MAX_SHAPES;
    /* bounding boxes, branch-free over all shapes (most are missed) */
    double ba[LF_PHANTOM_MAX_SHAPES], bb[LF_PHANTOM_MAX_SHAPES];
    for (int i = 0; i < n; i++) {
        ba[i] = ta;
        bb[i] = tb;
    }
    for (int ax = 0; ax < 3; ax++) {
        const double oo = o[ax], iv = inv[ax];
        const double dzr = ax == 2 ? resp_dz : 0.0;
        const double *blo = ph->box_lo[ax], *bhi = ph->box_hi[ax], *bw = ph->box_w;
        if (iv == 0) { /* parallel to the slabs: inside or not */
            for (int i = 0; i < n; i++) {
                double dz = bw[i] * dzr;
                int in = oo >= blo[i] + dz && oo <= bhi[i] + dz;
                bb[i] = in ? bb[i] : -INFINITY;
            }
            continue;
        }
        for (int i = 0; i < n; i++) {
            double dz = bw[i] * dzr;
            double t1 = (blo[i] + dz - oo) * iv, t2 = (bhi[i] + dz - oo) * iv;
            double lo = t1 < t2 ? t1 : t2, hi = t1 < t2 ? t2 : t1;
            ba[i] = lo > ba[i] ? lo : ba[i];
            bb[i] = hi < bb[i] ? hi : bb[i];
        }
    }
    double h0[LF_PHANTOM_MAX_SHAPES], h1[LF_PHANTOM_MAX_SHAPES];
    int hs[LF_PHANTOM_MAX_SHAPES];
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (!(ba[i] <= bb[i]))
            continue;
        const lf_shape *s = &ph->s[i];
        double a = ba[i], b = bb[i];
        if (!shape_cut(s, o, u, s->resp_weight * resp_dz, &a, &b) || !(a < b))
            continue;
        h0[k] = a;
        h1[k] = b;
        hs[k] = i;
        k++;
    }
    if (k == 0)
        return 0;
    if (k == 1) {
        seg[0].t0 = h0[0];
        seg[0].t1 = h1[0];
        seg[0].shape = hs[0];
        return 1;
    }
    /* sweep over the sorted end points; hits are in increasing shape order, so the owner of a piece
     * is the highest active hit index */
    ray_event ev[2 * LF_PHANTOM_MAX_SHAPES];
    int ne = 0;
    for (int i = 0; i < k; i++) {
        ev[ne].t = h0[i];
        ev[ne++].code = 2 * i;
        ev[ne].t = h1[i];
        ev[ne++].code = 2 * i + 1;
    }
    for (int i = 1; i < ne; i++) { /* insertion sort: ne is small */
        ray_event e = ev[i];
        int j = i - 1;
        while (j >= 0 && ev[j].t > e.t) {
            ev[j + 1] = ev[j];
            j--;
        }
        ev[j + 1] = e;
    }
    unsigned char on[LF_PHANTOM_MAX_SHAPES];
    memset(on, 0, (size_t)k);
    int top = -1, nseg = 0;
    for (int e = 0; e < ne;) {
        double t = ev[e].t;
        while (e < ne && ev[e].t == t) {
            int hi = ev[e].code >> 1;
            if (ev[e].code & 1) {
                on[hi] = 0;
                if (hi == top) {
                    top--;
                    while (top >= 0 && !on[top])
                        top--;
                }
            } else {
                on[hi] = 1;
                if (hi > top)
                    top = hi;
            }
            e++;
        }
        if (e >= ne || top < 0)
            continue;
        double t1 = ev[e].t;
        int owner = hs[top];
        if (nseg > 0 && seg[nseg - 1].shape == owner && seg[nseg - 1].t1 == t) {
            seg[nseg - 1].t1 = t1;
        } else {
            if (nseg == max)
                break; /* truncated: the rest of the line is dropped */
            seg[nseg].t0 = t;
            seg[nseg].t1 = t1;
            seg[nseg].shape = owner;
            nseg++;
        }
    }
    return nseg;
}

/* ------------------------------------------------------------------------------------------------
 * Point queries, sampling
 */
int lf_phantom_shape_at(const lf_phantom *ph, const double x[3], double resp_dz)
{
    for (int i = ph->n - 1; i >= 0; i--) {
        const lf_shape *s = &ph->s[i];
        double dz = s->resp_weight * resp_dz;
        if (in_bbox(s, x, dz) && lf_shape_contains(s, x, resp_dz))
            return i;
    }
    return -1;
}

int lf_phantom_find(const lf_phantom *ph, const char *name)
{
    for (int i = 0; i < ph->n; i++)
        if (strcmp(ph->s[i].name, name) == 0)
            return i;
    return -1;
}

/* 1 when no shape after i contains x (x inside shape i) */
static inline int owns(const lf_phantom *ph, int i, const double x[3], double resp_dz)
{
    for (int j = ph->n - 1; j > i; j--) {
        const lf_shape *s = &ph->s[j];
        if (in_bbox(s, x, s->resp_weight * resp_dz) && lf_shape_contains(s, x, resp_dz))
            return 0;
    }
    return 1;
}

void lf_phantom_sample(const lf_phantom *ph, lf_rng *rng, double resp_dz, double x[3])
{
    double total = ph->n > 0 ? ph->cdf[ph->n - 1] : 0;
    if (!(total > 0)) {
        for (int k = 0; k < 3; k++)
            x[k] = ph->n > 0 ? 0.5 * (ph->lo[k] + ph->hi[k]) : 0;
        return;
    }
    long tries = 0;
    for (;;) {
        double v = lf_rng_uniform(rng) * total;
        int lo = 0, hi = ph->n - 1;
        while (lo < hi) { /* first i with cdf[i] > v */
            int mid = (lo + hi) / 2;
            if (ph->cdf[mid] > v)
                hi = mid;
            else
                lo = mid + 1;
        }
        const lf_shape *s = &ph->s[lo];
        double dz = s->resp_weight * resp_dz;
        for (int t = 0; t < SAMPLE_TRIES_SHAPE; t++) {
            shape_sample(s, rng, dz, x);
            if (owns(ph, lo, x, resp_dz) || ++tries >= SAMPLE_TRIES_TOTAL)
                return;
        }
    }
}

/* ------------------------------------------------------------------------------------------------
 * Derived quantities
 */
static int bbox_overlap(const lf_shape *a, const lf_shape *b)
{
    for (int k = 0; k < 3; k++)
        if (a->hi[k] < b->lo[k] || b->hi[k] < a->lo[k])
            return 0;
    return 1;
}

static void update_totals(lf_phantom *ph)
{
    double acc = 0, tot = 0;
    for (int i = 0; i < ph->n; i++) {
        const lf_shape *s = &ph->s[i];
        tot += s->rel_activity * s->owned_ml;
        /* a shape is drawn with probability ∝ its activity, relative activity × OWNED volume, then a point
         * uniform in what it owns (lf_phantom_sample retries inside the drawn shape): weighting by the
         * full volume instead over-fed every shape that later shapes override (a torso's body by ~12 %,
         * its organs then ~14 % short of the truth) */
        acc += s->rel_activity * s->owned_ml;
        ph->cdf[i] = acc;
    }
    ph->total_rel = tot;
}

static void update_bbox(lf_phantom *ph)
{
    for (int k = 0; k < 3; k++) {
        ph->lo[k] = INFINITY;
        ph->hi[k] = -INFINITY;
    }
    for (int i = 0; i < ph->n; i++)
        for (int k = 0; k < 3; k++) {
            ph->lo[k] = fmin(ph->lo[k], ph->s[i].lo[k]);
            ph->hi[k] = fmax(ph->hi[k], ph->s[i].hi[k]);
        }
    for (int i = 0; i < ph->n && i < LF_PHANTOM_MAX_SHAPES; i++) {
        for (int k = 0; k < 3; k++) {
            ph->box_lo[k][i] = ph->s[i].lo[k];
            ph->box_hi[k][i] = ph->s[i].hi[k];
        }
        ph->box_w[i] = ph->s[i].resp_weight;
    }
}

static void update_derived(lf_phantom *ph)
{
    for (int i = 0; i < ph->n; i++) {
        ph->s[i].label = i + 1;
        shape_bbox(&ph->s[i]);
        ph->s[i].volume_ml = shape_volume_ml(&ph->s[i]);
    }
    update_bbox(ph);
    /* owned volumes: OWNED_SAMPLES uniform points in the shape, in OWNED_CHUNKS fixed random streams
     * (the same numbers whatever the number of threads), tested against the later shapes whose
     * bounding boxes overlap */
    for (int i = 0; i < ph->n; i++) {
        lf_shape *s = &ph->s[i];
        int cand[LF_PHANTOM_MAX_SHAPES], nc = 0;
        for (int j = i + 1; j < ph->n; j++)
            if (bbox_overlap(s, &ph->s[j]))
                cand[nc++] = j;
        if (nc == 0) {
            s->owned_ml = s->volume_ml;
            continue;
        }
        long hit = 0;
#pragma omp parallel for reduction(+ : hit) schedule(static, 1)
        for (int c = 0; c < OWNED_CHUNKS; c++) {
            lf_rng rng;
            lf_rng_seed(&rng, OWNED_SEED, (uint64_t)i * OWNED_CHUNKS + (uint64_t)c);
            double x[3];
            for (long k = 0; k < OWNED_SAMPLES / OWNED_CHUNKS; k++) {
                shape_sample(s, &rng, 0.0, x);
                int own = 1;
                for (int q = nc - 1; q >= 0 && own; q--) {
                    const lf_shape *t = &ph->s[cand[q]];
                    own = !(in_bbox(t, x, 0.0) && lf_shape_contains(t, x, 0.0));
                }
                hit += own;
            }
        }
        s->owned_ml = s->volume_ml * (double)hit / (double)(OWNED_SAMPLES / OWNED_CHUNKS * OWNED_CHUNKS);
    }
    update_totals(ph);
}

void lf_phantom_translate(lf_phantom *ph, const double d[3])
{
    for (int i = 0; i < ph->n; i++)
        for (int k = 0; k < 3; k++) {
            ph->s[i].c[k] += d[k];
            ph->s[i].lo[k] += d[k];
            ph->s[i].hi[k] += d[k];
        }
    update_bbox(ph);
}

int lf_phantom_set_activity(lf_phantom *ph, const char *prefix, double rel_activity)
{
    size_t n = strlen(prefix);
    int changed = 0;
    for (int i = 0; i < ph->n; i++)
        if (strncmp(ph->s[i].name, prefix, n) == 0) {
            ph->s[i].rel_activity = rel_activity;
            changed++;
        }
    if (changed)
        update_totals(ph);
    return changed;
}

int lf_phantom_set_half_length(lf_phantom *ph, const char *name, double half_length_mm)
{
    int i = lf_phantom_find(ph, name);
    if (i < 0 || !(half_length_mm > 0) || !isfinite(half_length_mm))
        return -1;
    ph->s[i].r[2] = half_length_mm;
    update_derived(ph);
    return 0;
}

/* ------------------------------------------------------------------------------------------------
 * Files
 */
static void copy_str(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    if (n >= size)
        n = size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

const char *lf_phantom_dir(const char *dir)
{
    static char buf[4096];
    if (dir && *dir)
        return dir;
    return lf_data_subdir("phantoms", "LAFOV_PHANTOM_DIR", buf, sizeof buf);
}

void lf_phantom_free(lf_phantom *ph)
{
    free(ph->s);
    free(ph->cdf);
    ph->s = NULL;
    ph->cdf = NULL;
    ph->n = 0;
}

/* Parses up to maxn comma-separated numbers; returns the count, -1 when malformed. */
static int parse_numbers(const char *v, double *out, int maxn)
{
    const char *p = v;
    int n = 0;
    for (;;) {
        while (isspace((unsigned char)*p))
            p++;
        if (n == maxn)
            return -1;
        errno = 0;
        char *end;
        double x = strtod(p, &end);
        if (end == p || errno == ERANGE || !isfinite(x))
            return -1;
        out[n++] = x;
        p = end;
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '\0')
            return n;
        if (*p != ',')
            return -1;
        p++;
    }
}

enum {
    K_TYPE,
    K_CENTRE,
    K_SEMI,
    K_RADIUS,
    K_HALF_LENGTH,
    K_HALF_WIDTH,
    K_AXIS,
    K_REL,
    K_HU,
    K_MU,
    K_RESP,
    K_COUNT
};

static const char *const shape_keys[K_COUNT] = {"type",           "centre (mm)",     "semi-axes (mm)", "radius (mm)",
                                                "half-length (mm)", "half-width (mm)", "axis",           "relative activity",
                                                "HU",             "mu (1/cm)",       "resp weight"};

typedef struct {
    const lf_ifh_entry *e[K_COUNT]; /* entry of each key, NULL when absent */
    const lf_ifh_entry *start;      /* the `shape :=` line */
} shape_block;

static int key_index(const char *norm)
{
    char buf[64];
    for (int k = 0; k < K_COUNT; k++) {
        lf_ifh_normalise(shape_keys[k], buf, sizeof buf);
        if (strcmp(norm, buf) == 0)
            return k;
    }
    if (strcmp(norm, "center (mm)") == 0)
        return K_CENTRE;
    return -1;
}

#define BLOCK_FAIL(fmt, ...)                                                                                           \
    lf_fail(err, "%s: line %d: shape '%s': key '%s': " fmt, origin, e->line, s->name, e->key, __VA_ARGS__)

static int get_num(const char *origin, const lf_shape *s, const lf_ifh_entry *e, double *out, double lo, double hi,
                   const char *what, lf_error *err)
{
    double v = 0;
    if (parse_numbers(e->value, &v, 1) != 1)
        return BLOCK_FAIL("expected a number, got '%.80s'", e->value);
    if (!(v >= lo && v <= hi))
        return BLOCK_FAIL("%g is out of range: expected %s", v, what);
    *out = v;
    return 0;
}

static int finish_shape(const char *origin, const shape_block *b, lf_shape *s, lf_error *err)
{
    const lf_ifh_entry *e = b->start;
    /* type */
    if (!b->e[K_TYPE])
        return lf_fail(err, "%s: line %d: shape '%s': required key 'type' is missing", origin, e->line, s->name);
    e = b->e[K_TYPE];
    const char *tv = e->value;
    if (strcasecmp(tv, "ellipsoid") == 0 || strcasecmp(tv, "sphere") == 0)
        s->type = LF_SHAPE_ELLIPSOID;
    else if (strcasecmp(tv, "cylinder") == 0)
        s->type = LF_SHAPE_CYLINDER;
    else if (strcasecmp(tv, "box") == 0)
        s->type = LF_SHAPE_BOX;
    else if (strcasecmp(tv, "iec_body") == 0)
        s->type = LF_SHAPE_IEC_BODY;
    else
        return BLOCK_FAIL("expected ellipsoid, sphere, cylinder, box or iec_body, got '%.60s'", tv);

    /* keys that do not apply */
    int t = s->type;
    if (b->e[K_AXIS] && t != LF_SHAPE_CYLINDER) {
        e = b->e[K_AXIS];
        return BLOCK_FAIL("only a cylinder has an axis (type is '%s')", tv);
    }
    if (b->e[K_HALF_WIDTH] && t != LF_SHAPE_IEC_BODY) {
        e = b->e[K_HALF_WIDTH];
        return BLOCK_FAIL("only an iec_body has a half-width (type is '%s')", tv);
    }
    if (b->e[K_HALF_LENGTH] && t != LF_SHAPE_CYLINDER && t != LF_SHAPE_IEC_BODY) {
        e = b->e[K_HALF_LENGTH];
        return BLOCK_FAIL("only a cylinder or an iec_body has a half-length (type is '%s'); use 'semi-axes (mm)'", tv);
    }
    if (b->e[K_SEMI] && b->e[K_RADIUS]) {
        e = b->e[K_RADIUS];
        return BLOCK_FAIL("%s", "give either 'radius (mm)' or 'semi-axes (mm)', not both");
    }

    /* centre */
    s->c[0] = s->c[1] = s->c[2] = 0;
    if ((e = b->e[K_CENTRE]) != NULL && parse_numbers(e->value, s->c, 3) != 3)
        return BLOCK_FAIL("expected x,y,z, got '%.80s'", e->value);

    /* axis */
    s->axis = 2;
    if ((e = b->e[K_AXIS]) != NULL) {
        if (strcasecmp(e->value, "x") == 0)
            s->axis = 0;
        else if (strcasecmp(e->value, "y") == 0)
            s->axis = 1;
        else if (strcasecmp(e->value, "z") == 0)
            s->axis = 2;
        else
            return BLOCK_FAIL("expected x, y or z, got '%.60s'", e->value);
    }

    /* size */
    double half_len = NAN;
    if ((e = b->e[K_HALF_LENGTH]) != NULL && get_num(origin, s, e, &half_len, 1e-9, 1e9, "> 0 mm", err) != 0)
        return -1;
    int have_r = 0;
    if ((e = b->e[K_SEMI]) != NULL) {
        double v[3];
        int m = parse_numbers(e->value, v, 3);
        if (m == 3) {
            if (b->e[K_HALF_LENGTH])
                return BLOCK_FAIL("%s", "three semi-axes already give the half-length: drop 'half-length (mm)' or give two");
            s->r[0] = v[0];
            s->r[1] = v[1];
            s->r[2] = v[2];
        } else if (m == 2 && t == LF_SHAPE_CYLINDER) {
            s->r[0] = v[0];
            s->r[1] = v[1];
            s->r[2] = half_len;
        } else {
            return BLOCK_FAIL("expected %s, got '%.80s'", t == LF_SHAPE_CYLINDER ? "a,b (with half-length) or a,b,c" : "a,b,c",
                              e->value);
        }
        have_r = 1;
    } else if ((e = b->e[K_RADIUS]) != NULL) {
        double r = 0;
        if (get_num(origin, s, e, &r, 1e-9, 1e9, "> 0 mm", err) != 0)
            return -1;
        s->r[0] = s->r[1] = r;
        s->r[2] = (t == LF_SHAPE_CYLINDER || t == LF_SHAPE_IEC_BODY) ? half_len : r;
        have_r = 1;
    }
    if (t == LF_SHAPE_IEC_BODY) {
        if (!b->e[K_SEMI]) { /* radius (default 150), half-width (70), half-length (90) */
            if (!b->e[K_RADIUS])
                s->r[0] = 150.0;
            s->r[1] = 70.0;
            if ((e = b->e[K_HALF_WIDTH]) != NULL && get_num(origin, s, e, &s->r[1], 1e-9, 1e9, "> 0 mm", err) != 0)
                return -1;
            s->r[2] = isnan(half_len) ? 90.0 : half_len;
        } else if (b->e[K_HALF_WIDTH]) {
            e = b->e[K_HALF_WIDTH];
            return BLOCK_FAIL("%s", "three semi-axes already give the half-width");
        }
        if (!(s->r[1] < s->r[0])) {
            e = b->e[K_SEMI] ? b->e[K_SEMI] : b->e[K_HALF_WIDTH] ? b->e[K_HALF_WIDTH] : b->start;
            return BLOCK_FAIL("half-width %g must be below the radius %g", s->r[1], s->r[0]);
        }
    } else if (!have_r) {
        return lf_fail(err, "%s: line %d: shape '%s': required key '%s' is missing", origin, b->start->line, s->name,
                       t == LF_SHAPE_CYLINDER ? "radius (mm)' or 'semi-axes (mm)" : "semi-axes (mm)' or 'radius (mm)");
    }
    if (t == LF_SHAPE_CYLINDER && isnan(s->r[2]))
        return lf_fail(err, "%s: line %d: shape '%s': required key 'half-length (mm)' is missing", origin,
                       b->start->line, s->name);
    for (int k = 0; k < 3; k++)
        if (!(s->r[k] > 0) || !isfinite(s->r[k])) {
            e = b->e[K_SEMI] ? b->e[K_SEMI] : b->e[K_RADIUS] ? b->e[K_RADIUS] : b->start;
            return BLOCK_FAIL("sizes must be > 0 mm, got %g", s->r[k]);
        }

    /* activity and material */
    if (!(e = b->e[K_REL]))
        return lf_fail(err, "%s: line %d: shape '%s': required key 'relative activity' is missing", origin,
                       b->start->line, s->name);
    if (get_num(origin, s, e, &s->rel_activity, 0, 1e12, ">= 0", err) != 0)
        return -1;
    s->resp_weight = 0;
    if ((e = b->e[K_RESP]) != NULL && get_num(origin, s, e, &s->resp_weight, 0, 1, "in [0, 1]", err) != 0)
        return -1;
    int have_hu = b->e[K_HU] != NULL, have_mu = b->e[K_MU] != NULL;
    s->hu = 0;
    if (have_hu && get_num(origin, s, b->e[K_HU], &s->hu, -1024, 30000, "in [-1024, 30000]", err) != 0)
        return -1;
    if (have_mu) {
        if (get_num(origin, s, b->e[K_MU], &s->mu_per_cm, 0, 100, "in [0, 100] cm^-1", err) != 0)
            return -1;
        if (!have_hu)
            s->hu = fmax(-1000.0, mu_to_hu_120kvp(s->mu_per_cm));
    } else {
        s->mu_per_cm = lf_hu_to_mu_120kvp(s->hu);
    }
    return 0;
}

static int parse_phantom(const lf_ifh *h, lf_phantom *ph, lf_error *err)
{
    const char *origin = h->origin;
    int cap = 0;
    for (size_t i = 0; i < h->n; i++)
        if (h->e[i].value && strcmp(h->e[i].norm, "shape") == 0)
            cap++;
    if (cap == 0)
        return lf_fail(err, "%s: no shapes: expected at least one 'shape := NAME' block", origin);
    if (cap > LF_PHANTOM_MAX_SHAPES)
        return lf_fail(err, "%s: %d shapes: at most %d are supported", origin, cap, LF_PHANTOM_MAX_SHAPES);
    ph->s = calloc((size_t)cap, sizeof *ph->s);
    ph->cdf = calloc((size_t)cap, sizeof *ph->cdf);
    if (!ph->s || !ph->cdf)
        return lf_fail(err, "%s: out of memory", origin);

    shape_block blk;
    memset(&blk, 0, sizeof blk);
    lf_shape *cur = NULL;
    int have_name = 0, have_uptake = 0;
    for (size_t i = 0; i <= h->n; i++) {
        const lf_ifh_entry *e = i < h->n ? &h->e[i] : NULL;
        if (e && !e->value)
            return lf_fail(err, "%s: line %d: expected 'key := value', got '%.80s'", origin, e->line, e->key);
        int is_shape = e && strcmp(e->norm, "shape") == 0;
        if ((!e || is_shape) && cur) {
            if (finish_shape(origin, &blk, cur, err) != 0)
                return -1;
            ph->n++;
            cur = NULL;
        }
        if (!e)
            break;
        if (is_shape) {
            const char *nm = e->value;
            if (!nm[0])
                return lf_fail(err, "%s: line %d: key 'shape': expected a name", origin, e->line);
            if (strlen(nm) >= sizeof cur->name)
                return lf_fail(err, "%s: line %d: key 'shape': name '%.80s' is longer than %zu characters", origin,
                               e->line, nm, sizeof cur->name - 1);
            for (const char *p = nm; *p; p++)
                if (!(isalnum((unsigned char)*p) || *p == '_' || *p == '-' || *p == '.'))
                    return lf_fail(err, "%s: line %d: key 'shape': name '%.80s': use letters, digits, '_', '-', '.'",
                                   origin, e->line, nm);
            for (int j = 0; j < ph->n; j++)
                if (strcmp(ph->s[j].name, nm) == 0)
                    return lf_fail(err, "%s: line %d: key 'shape': the name '%s' is already used", origin, e->line, nm);
            cur = &ph->s[ph->n];
            copy_str(cur->name, sizeof cur->name, nm);
            memset(&blk, 0, sizeof blk);
            blk.start = e;
            continue;
        }
        if (!cur) { /* phantom-level keys */
            if (strcmp(e->norm, "phantom name") == 0) {
                if (have_name++)
                    return lf_fail(err, "%s: line %d: key '%s' is given twice", origin, e->line, e->key);
                copy_str(ph->name, sizeof ph->name, e->value);
            } else if (strcmp(e->norm, "default uptake (s)") == 0) {
                if (have_uptake++)
                    return lf_fail(err, "%s: line %d: key '%s' is given twice", origin, e->line, e->key);
                double v = 0;
                if (parse_numbers(e->value, &v, 1) != 1 || !(v >= 0))
                    return lf_fail(err, "%s: line %d: key '%s': expected a time >= 0 s, got '%.80s'", origin, e->line,
                                   e->key, e->value);
                ph->default_uptake_s = v;
            } else {
                return lf_fail(err,
                               "%s: line %d: unknown key '%.80s' (before the first shape: 'phantom name', "
                               "'default uptake (s)', 'shape')",
                               origin, e->line, e->key);
            }
            continue;
        }
        int k = key_index(e->norm);
        if (k < 0)
            return lf_fail(err, "%s: line %d: shape '%s': unknown key '%.80s'", origin, e->line, cur->name, e->key);
        if (blk.e[k])
            return lf_fail(err, "%s: line %d: shape '%s': key '%s' is given twice (first on line %d)", origin, e->line,
                           cur->name, e->key, blk.e[k]->line);
        if (!e->value[0])
            return lf_fail(err, "%s: line %d: shape '%s': key '%s' has no value", origin, e->line, cur->name, e->key);
        blk.e[k] = e;
    }
    return 0;
}

int lf_phantom_load(const char *dir, const char *name_or_path, lf_phantom *ph, lf_error *err)
{
    memset(ph, 0, sizeof *ph);
    char path[4096];
    size_t n = strlen(name_or_path);
    if (strchr(name_or_path, '/') || (n > 8 && strcmp(name_or_path + n - 8, ".phantom") == 0)) {
        snprintf(path, sizeof path, "%s", name_or_path);
    } else {
        const char *d = lf_phantom_dir(dir);
        snprintf(path, sizeof path, "%s/%s.phantom", d, name_or_path);
        struct stat st;
        if (stat(path, &st) != 0)
            return lf_fail(err, "unknown phantom '%s': no file %s (phantom folder %s; set LAFOV_PHANTOM_DIR)",
                           name_or_path, path, d);
    }
    lf_ifh h;
    if (lf_ifh_parse_file(path, &h, err) != 0)
        return -1;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    copy_str(ph->name, sizeof ph->name, base);
    char *dot = strstr(ph->name, ".phantom");
    if (dot)
        *dot = '\0';
    int rc = parse_phantom(&h, ph, err);
    lf_ifh_free(&h);
    if (rc != 0) {
        lf_phantom_free(ph);
        return -1;
    }
    update_derived(ph);
    return 0;
}

/* ------------------------------------------------------------------------------------------------
 * Rasterisation: per voxel row, ss x ss rays along x cut exactly (the x average is exact; y and z are
 * sub-sampled ss times each).
 */
static double shape_value(const lf_shape *s, lf_raster_what what, double scale)
{
    switch (what) {
    case LF_RASTER_ACTIVITY:
        return scale * s->rel_activity;
    case LF_RASTER_MU:
        return s->mu_per_cm;
    case LF_RASTER_HU:
        return s->hu;
    case LF_RASTER_LABEL:
        return s->label;
    }
    return 0;
}

int lf_phantom_rasterize(const lf_phantom *ph, lf_raster_what what, double scale, const int n[3], const double vox_mm[3],
                         const double origin_mm[3], int ss, float *out, lf_error *err)
{
    if (!out || n[0] < 1 || n[1] < 1 || n[2] < 1)
        return lf_fail(err, "phantom '%s': rasterise: empty grid", ph->name);
    for (int k = 0; k < 3; k++)
        if (!(vox_mm[k] > 0) || !isfinite(vox_mm[k]) || !isfinite(origin_mm[k]))
            return lf_fail(err, "phantom '%s': rasterise: voxel size must be > 0 mm and finite", ph->name);
    if (ss < 1 || ss > 64)
        return lf_fail(err, "phantom '%s': rasterise: sub-samples per axis %d: expected 1..64", ph->name, ss);
    const int nx = n[0], ny = n[1], nz = n[2];
    const double air = what == LF_RASTER_HU ? -1000.0 : 0.0;
    const double x0 = origin_mm[0] - 0.5 * vox_mm[0], len = nx * vox_mm[0];
    int fail = 0;
#pragma omp parallel
    {
        double *row = malloc((size_t)nx * sizeof *row);
        lf_segment seg[LF_PHANTOM_MAX_SEGMENTS];
        if (!row) {
#pragma omp atomic write
            fail = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (int kz = 0; kz < nz; kz++) {
            if (!row)
                continue;
            for (int jy = 0; jy < ny; jy++) {
                float *o = out + ((size_t)kz * ny + jy) * nx;
                const double u[3] = {1, 0, 0};
                if (what == LF_RASTER_LABEL) {
                    double org[3] = {x0, origin_mm[1] + jy * vox_mm[1], origin_mm[2] + kz * vox_mm[2]};
                    int ns = lf_phantom_ray(ph, org, u, 0.0, len, 0.0, seg, LF_PHANTOM_MAX_SEGMENTS);
                    int q = 0;
                    for (int i = 0; i < nx; i++) {
                        double t = (i + 0.5) * vox_mm[0];
                        while (q < ns && seg[q].t1 < t)
                            q++;
                        o[i] = (q < ns && seg[q].t0 <= t) ? (float)ph->s[seg[q].shape].label : 0.0f;
                    }
                    continue;
                }
                for (int i = 0; i < nx; i++)
                    row[i] = 0;
                for (int b = 0; b < ss; b++)
                    for (int a = 0; a < ss; a++) {
                        double org[3] = {x0, origin_mm[1] + jy * vox_mm[1] + ((a + 0.5) / ss - 0.5) * vox_mm[1],
                                         origin_mm[2] + kz * vox_mm[2] + ((b + 0.5) / ss - 0.5) * vox_mm[2]};
                        int ns = lf_phantom_ray(ph, org, u, 0.0, len, 0.0, seg, LF_PHANTOM_MAX_SEGMENTS);
                        for (int q = 0; q < ns; q++) {
                            double v = shape_value(&ph->s[seg[q].shape], what, scale) - air;
                            if (v == 0)
                                continue;
                            double t0 = seg[q].t0, t1 = seg[q].t1;
                            int i0 = (int)floor(t0 / vox_mm[0]), i1 = (int)floor(t1 / vox_mm[0]);
                            if (i0 < 0)
                                i0 = 0;
                            if (i1 > nx - 1)
                                i1 = nx - 1;
                            for (int i = i0; i <= i1; i++) {
                                double lo = fmax(t0, i * vox_mm[0]), hi = fmin(t1, (i + 1) * vox_mm[0]);
                                if (hi > lo)
                                    row[i] += v * (hi - lo);
                            }
                        }
                    }
                double w = 1.0 / ((double)ss * ss * vox_mm[0]);
                for (int i = 0; i < nx; i++)
                    o[i] = (float)(air + row[i] * w);
            }
        }
        free(row);
    }
    if (fail)
        return lf_fail(err, "phantom '%s': rasterise: out of memory", ph->name);
    return 0;
}

/* NEMA NU 2-2018 image quality of the IEC body phantom: ROI layout, sub-voxel ROI means, automatic
 * centre finding, contrast recovery / background variability / lung residual, CSV / JSON / picture.
 * See nema.h. */
#include "nema.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../io/json.h"

const double lf_nema_sphere_diameter_mm[LF_NEMA_SPHERES] = {10, 13, 17, 22, 28, 37};
const double lf_nema_plane_offset_mm[LF_NEMA_PLANES] = {-20, -10, 0, 10, 20};
const char LF_NEMA_CSV_HEADER[] = "diameter_mm,contrast_recovery_pct,background_variability_pct,c_h,c_b,sd_b";

/* physics.md's body cross-section */
#define BODY_R_MM 150.0
#define BODY_HALF_WIDTH_MM 70.0
#define BODY_FLAT_Y_MM 80.0
#define BODY_CORNER_R_MM 80.0

lf_nema_opts lf_nema_opts_default(void)
{
    lf_nema_opts o;
    memset(&o, 0, sizeof o);
    o.ratio = 4;
    return o;
}

static void sphere_xy(int i, double *x, double *y)
{
    double a = i * M_PI / 3;
    *x = LF_NEMA_RING_MM * cos(a);
    *y = LF_NEMA_RING_MM * sin(a);
}

/* ------------------------------------------------------------------ geometry */

/* Distance from (x, y) to the arc of circle (cx, cy, r) between angles a0 <= a1 (radians). */
static double arc_dist(double x, double y, double cx, double cy, double r, double a0, double a1)
{
    double dx = x - cx, dy = y - cy, d = hypot(dx, dy);
    if (d > 0) {
        double a = atan2(dy, dx);
        if (a >= a0 && a <= a1)
            return fabs(d - r);
    }
    double e0 = hypot(x - cx - r * cos(a0), y - cy - r * sin(a0));
    double e1 = hypot(x - cx - r * cos(a1), y - cy - r * sin(a1));
    return fmin(e0, e1);
}

double lf_nema_body_edge_mm(double x, double y)
{
    const double R = BODY_R_MM, W = BODY_HALF_WIDTH_MM, H = BODY_FLAT_Y_MM, C = BODY_CORNER_R_MM;
    int inside = y <= 0 ? x * x + y * y <= R * R
                        : y <= H && (fabs(x) <= W || (fabs(x) - W) * (fabs(x) - W) + y * y <= C * C);
    double d = arc_dist(x, y, 0, 0, R, -M_PI, 0);                      /* half-disc, y <= 0 */
    d = fmin(d, arc_dist(x, y, W, 0, C, 0, M_PI / 2));                 /* corner, x > 0 */
    d = fmin(d, arc_dist(x, y, -W, 0, C, M_PI / 2, M_PI));             /* corner, x < 0 */
    double t = fabs(x) <= W ? fabs(y - H) : hypot(fabs(x) - W, y - H); /* flat side y = H */
    d = fmin(d, t);
    return inside ? d : -d;
}

/* 1 when a 37 mm background ROI centred at (x, y) keeps the margin from the body edge, spheres, lung. */
static int bg_feasible(double x, double y)
{
    const double rho = lf_nema_sphere_diameter_mm[LF_NEMA_SPHERES - 1] / 2, m = LF_NEMA_MARGIN_MM;
    if (lf_nema_body_edge_mm(x, y) < rho + m)
        return 0;
    if (hypot(x, y) < LF_NEMA_LUNG_RADIUS_MM + rho + m)
        return 0;
    for (int i = 0; i < LF_NEMA_SPHERES; i++) {
        double sx, sy;
        sphere_xy(i, &sx, &sy);
        if (hypot(x - sx, y - sy) < lf_nema_sphere_diameter_mm[i] / 2 + rho + m)
            return 0;
    }
    return 1;
}

/* Smallest distance from lattice point q to the chosen centres other than skip. */
static double min_dist(const int *px, const int *py, int q, double xy[][2], int n, int skip)
{
    double d = INFINITY;
    for (int c = 0; c < n; c++)
        if (c != skip)
            d = fmin(d, hypot(px[q] - xy[c][0], py[q] - xy[c][1]));
    return d;
}

int lf_nema_background_layout(double xy[LF_NEMA_BG_PER_PLANE][2], lf_error *err)
{
    /* feasible centres on a 1 mm lattice, scanned y then x */
    enum { X0 = -150, X1 = 150, Y0 = -150, Y1 = 80, NX = X1 - X0 + 1, NY = Y1 - Y0 + 1, NB = LF_NEMA_BG_PER_PLANE };
    int *px = malloc(sizeof(int) * NX * NY), *py = malloc(sizeof(int) * NX * NY), np = 0;
    if (!px || !py) {
        free(px);
        free(py);
        return lf_fail(err, "out of memory");
    }
    for (int y = Y0; y <= Y1; y++)
        for (int x = X0; x <= X1; x++)
            if (bg_feasible(x, y)) {
                px[np] = x;
                py[np++] = y;
            }
    /* the first: nearest the bottom of the dome (0, -150); then farthest-point choice */
    int b = 0;
    for (int q = 1; q < np; q++)
        if (hypot(px[q], py[q] + BODY_R_MM) < hypot(px[b], py[b] + BODY_R_MM))
            b = q;
    xy[0][0] = px[b];
    xy[0][1] = py[b];
    for (int c = 1; c < NB; c++) {
        double bd = -1;
        for (int q = 0; q < np; q++) {
            double d = min_dist(px, py, q, xy, c, -1);
            if (d > bd) {
                bd = d;
                b = q;
            }
        }
        xy[c][0] = px[b];
        xy[c][1] = py[b];
    }
    /* then each in turn moves to the lattice point farthest from the others while that is strictly
     * farther, until a sweep moves none: a local maximum of the smallest distance between ROIs */
    for (int sweep = 0; sweep < 100; sweep++) {
        int moved = 0;
        for (int c = 0; c < NB; c++) {
            double cur = INFINITY, bd = -1;
            for (int o = 0; o < NB; o++)
                if (o != c)
                    cur = fmin(cur, hypot(xy[c][0] - xy[o][0], xy[c][1] - xy[o][1]));
            for (int q = 0; q < np; q++) {
                double d = min_dist(px, py, q, xy, NB, c);
                if (d > bd) {
                    bd = d;
                    b = q;
                }
            }
            if (bd > cur + 1e-9) {
                xy[c][0] = px[b];
                xy[c][1] = py[b];
                moved = 1;
            }
        }
        if (!moved)
            break;
    }
    free(px);
    free(py);
    return 0;
}

/* ------------------------------------------------------------------ sampling */

typedef struct sampler {
    const lf_volume *v;
    double inv[3][3], t[3];
    double step_mm; /* smallest in-plane voxel size / LF_NEMA_SUPERSAMPLE */
} sampler;

static int sampler_init(const lf_volume *v, sampler *s, lf_error *err)
{
    for (int a = 0; a < 3; a++)
        if (v->n[a] < 1 || !v->data)
            return lf_fail(err, "the image is empty (%d x %d x %d voxels)", v->n[0], v->n[1], v->n[2]);
    const double(*m)[4] = v->sform;
    double c00 = m[1][1] * m[2][2] - m[1][2] * m[2][1], c01 = m[1][2] * m[2][0] - m[1][0] * m[2][2],
           c02 = m[1][0] * m[2][1] - m[1][1] * m[2][0];
    double det = m[0][0] * c00 + m[0][1] * c01 + m[0][2] * c02, scale = 0;
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++)
            scale = fmax(scale, fabs(m[a][b]));
    if (!isfinite(det) || !(fabs(det) > 1e-12 * scale * scale * scale) || !isfinite(m[0][3] + m[1][3] + m[2][3]))
        return lf_fail(err, "the sform (voxel -> mm) is singular or not finite: expected an invertible affine map");
    s->v = v;
    s->inv[0][0] = c00 / det;
    s->inv[1][0] = c01 / det;
    s->inv[2][0] = c02 / det;
    s->inv[0][1] = (m[0][2] * m[2][1] - m[0][1] * m[2][2]) / det;
    s->inv[1][1] = (m[0][0] * m[2][2] - m[0][2] * m[2][0]) / det;
    s->inv[2][1] = (m[0][1] * m[2][0] - m[0][0] * m[2][1]) / det;
    s->inv[0][2] = (m[0][1] * m[1][2] - m[0][2] * m[1][1]) / det;
    s->inv[1][2] = (m[0][2] * m[1][0] - m[0][0] * m[1][2]) / det;
    s->inv[2][2] = (m[0][0] * m[1][1] - m[0][1] * m[1][0]) / det;
    for (int a = 0; a < 3; a++)
        s->t[a] = m[a][3];
    double vi = sqrt(m[0][0] * m[0][0] + m[1][0] * m[1][0] + m[2][0] * m[2][0]);
    double vj = sqrt(m[0][1] * m[0][1] + m[1][1] * m[1][1] + m[2][1] * m[2][1]);
    s->step_mm = fmin(vi, vj) / LF_NEMA_SUPERSAMPLE;
    return 0;
}

/* Trilinear value at scanner (x, y, z): 1 with *val, 0 outside the grid, -1 not finite. */
static int sample(const sampler *s, double x, double y, double z, double *val)
{
    const lf_volume *v = s->v;
    double d[3] = {x - s->t[0], y - s->t[1], z - s->t[2]}, w[3];
    int i0[3], i1[3];
    for (int a = 0; a < 3; a++) {
        double u = s->inv[a][0] * d[0] + s->inv[a][1] * d[1] + s->inv[a][2] * d[2];
        if (!(u >= -0.5 && u <= v->n[a] - 0.5))
            return 0;
        double f = floor(u);
        w[a] = u - f;
        i0[a] = f < 0 ? 0 : (int)f;
        i1[a] = (int)f + 1 > v->n[a] - 1 ? v->n[a] - 1 : (int)f + 1;
    }
    size_t nx = (size_t)v->n[0], nxy = nx * (size_t)v->n[1];
    double r = 0;
    for (int c = 0; c < 8; c++) {
        double wc = ((c & 1) ? w[0] : 1 - w[0]) * ((c & 2) ? w[1] : 1 - w[1]) * ((c & 4) ? w[2] : 1 - w[2]);
        size_t q = (size_t)((c & 1) ? i1[0] : i0[0]) + nx * (size_t)((c & 2) ? i1[1] : i0[1]) +
                   nxy * (size_t)((c & 4) ? i1[2] : i0[2]);
        r += wc * v->data[q];
    }
    if (!isfinite(r))
        return -1;
    *val = r;
    return 1;
}

/* Mean over a disc in the axial plane z on the lattice of step s->step_mm centred on (cx, cy).
 * strict: 0 ok, 1 a point outside the grid, 2 a non-finite value. lenient (strict = 0): such points
 * count as 0; always 0. */
static int disc_mean(const sampler *s, double cx, double cy, double z, double radius, int strict, double *mean)
{
    double st = s->step_mm, r2 = radius * radius, sum = 0;
    int m = (int)ceil(radius / st);
    long n = 0;
    for (int j = -m; j < m; j++) {
        double dy = (j + 0.5) * st;
        for (int i = -m; i < m; i++) {
            double dx = (i + 0.5) * st, v;
            if (dx * dx + dy * dy > r2)
                continue;
            int rc = sample(s, cx + dx, cy + dy, z, &v);
            if (rc != 1) {
                if (strict)
                    return rc == 0 ? 1 : 2;
                v = 0;
            }
            sum += v;
            n++;
        }
    }
    *mean = n ? sum / (double)n : 0;
    return 0;
}

/* ------------------------------------------------------------------ finding the centre */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The slice maximising the summed sphere-ROI means around the axis (cx, cy), parabola-refined. */
static int sphere_plane(const sampler *s, int lo, int hi, double cx, double cy, double ratio, double *z0,
                        double *excess, lf_error *err)
{
    const lf_volume *v = s->v;
    int ns = hi - lo + 1;
    double *R = malloc(2 * (size_t)ns * sizeof *R);
    if (!R)
        return lf_fail(err, "out of memory");
    for (int k = lo; k <= hi; k++) {
        double z = v->sform[2][2] * k + v->sform[2][3], sum = 0;
        for (int i = 0; i < LF_NEMA_SPHERES; i++) {
            double sx, sy, m;
            sphere_xy(i, &sx, &sy);
            disc_mean(s, cx + sx, cy + sy, z, lf_nema_sphere_diameter_mm[i] / 2, 0, &m);
            sum += m;
        }
        R[k - lo] = sum;
    }
    int kb = 0;
    for (int k = 1; k < ns; k++)
        if (R[k] > R[kb])
            kb = k;
    memcpy(R + ns, R, (size_t)ns * sizeof *R);
    qsort(R + ns, (size_t)ns, sizeof *R, cmp_double);
    double med = ns % 2 ? R[ns + ns / 2] : 0.5 * (R[ns + ns / 2 - 1] + R[ns + ns / 2]);
    *excess = med > 0 ? R[kb] / med - 1 : 0;
    double need = 0.05 * (ratio - 1);
    if (!(med > 0) || !(*excess >= need)) {
        free(R);
        return lf_fail(err,
                       "no hot spheres found around the axis at (%.1f, %.1f) mm: the summed sphere-ROI means peak "
                       "%.1f %% above their median over the phantom's slices, expected >= %.1f %% at a ratio of %g",
                       cx, cy, 100 * *excess, 100 * need, ratio);
    }
    double d = 0;
    if (kb > 0 && kb < ns - 1) {
        double a = R[kb - 1], b = R[kb], c = R[kb + 1], den = a - 2 * b + c;
        if (den < 0)
            d = fmax(-0.5, fmin(0.5, 0.5 * (a - c) / den));
    }
    *z0 = v->sform[2][2] * (lo + kb + d) + v->sform[2][3];
    free(R);
    return 0;
}

/* The axis as the centroid of the lung's deficit, iterated to a fixed point (see nema.h). */
static int refine_axis(const sampler *s, int lo, int hi, double z0, double *cx, double *cy, int *nslices, int *iters,
                       lf_error *err)
{
    const lf_volume *v = s->v;
    double dz = fabs(v->sform[2][2]);
    int end = (int)ceil(10.0 / dz);
    int *ks = malloc((size_t)(hi - lo + 1) * sizeof *ks), n = 0;
    if (!ks)
        return lf_fail(err, "out of memory");
    for (int pass = 0; pass < 3 && n == 0; pass++)
        for (int k = lo; k <= hi; k++) {
            double z = v->sform[2][2] * k + v->sform[2][3];
            if ((pass < 2 && fabs(z - z0) < 25) || (pass == 0 && (k - lo < end || hi - k < end)))
                continue;
            ks[n++] = k;
        }
    const double rw = 40, ra0 = 30, ra1 = 45, st = 2 * s->step_mm;
    int m = (int)ceil(ra1 / st), it;
    for (it = 1; it <= 50; it++) {
        double sa = 0, sv = 0, svx = 0, svy = 0, sx = 0, sy = 0;
        long na = 0, nw = 0;
        for (int q = 0; q < n; q++) {
            double z = v->sform[2][2] * ks[q] + v->sform[2][3];
            for (int j = -m; j < m; j++) {
                double dy = (j + 0.5) * st;
                for (int i = -m; i < m; i++) {
                    double dx = (i + 0.5) * st, r = hypot(dx, dy), val;
                    if (r > ra1 || sample(s, *cx + dx, *cy + dy, z, &val) != 1)
                        continue;
                    if (r > ra0) {
                        sa += val;
                        na++;
                    }
                    if (r <= rw) {
                        sv += val;
                        svx += val * dx;
                        svy += val * dy;
                        sx += dx;
                        sy += dy;
                        nw++;
                    }
                }
            }
        }
        if (na == 0 || nw == 0)
            break;
        double bg = sa / (double)na, W = bg * (double)nw - sv;
        if (!(W > 0))
            break;
        double ex = (bg * sx - svx) / W, ey = (bg * sy - svy) / W, len = hypot(ex, ey);
        if (len > 10) {
            ex *= 10 / len;
            ey *= 10 / len;
        }
        *cx += ex;
        *cy += ey;
        if (len < 1e-3)
            break;
    }
    free(ks);
    *nslices = n;
    *iters = it > 50 ? 50 : it;
    return 0;
}

int lf_nema_find_centre(const lf_volume *img, double ratio, double centre_mm[3], lf_nema_find *info, lf_error *err)
{
    lf_nema_find fi;
    memset(&fi, 0, sizeof fi);
    if (!(ratio > 1) || !isfinite(ratio))
        return lf_fail(err, "sphere-to-background ratio %g: expected a value > 1", ratio);
    sampler s;
    if (sampler_init(img, &s, err) != 0)
        return -1;
    const double(*S)[4] = img->sform;
    double scale = 0;
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++)
            scale = fmax(scale, fabs(S[a][b]));
    double tol = 1e-6 * scale;
    if (fabs(S[2][0]) > tol || fabs(S[2][1]) > tol || fabs(S[0][2]) > tol || fabs(S[1][2]) > tol)
        return lf_fail(err, "the sform is not axial (slices k must be planes of constant z, i and j in the xy "
                            "plane): the centre cannot be found; give it (--centre)");
    const int nx = img->n[0], ny = img->n[1], nz = img->n[2];
    const size_t nxy = (size_t)nx * (size_t)ny, nv = nxy * (size_t)nz;
    const float *d = img->data;

    /* body level: T = half the mean above T, from T = 0 */
    double T = 0;
    for (int it = 0; it < 100; it++) {
        double sum = 0;
        size_t c = 0;
        for (size_t q = 0; q < nv; q++)
            if (isfinite(d[q]) && d[q] > T) {
                sum += d[q];
                c++;
            }
        if (c == 0) {
            if (it == 0)
                return lf_fail(err, "no positive values: expected an IEC phantom image");
            break;
        }
        double Tn = 0.5 * sum / (double)c;
        if (fabs(Tn - T) <= 1e-9 * Tn) {
            T = Tn;
            break;
        }
        T = Tn;
    }
    fi.body_level = 2 * T;

    /* the phantom's slices: slice sum of the positive values >= half the largest, contiguous around the
     * largest (sums are robust to noise) */
    double *A = calloc((size_t)nz, sizeof *A), amax = 0;
    double *M = calloc(nxy, sizeof *M);
    if (!A || !M) {
        free(A);
        free(M);
        return lf_fail(err, "out of memory");
    }
    int kmax = 0;
    for (int k = 0; k < nz; k++) {
        for (size_t q = 0; q < nxy; q++) {
            float x = d[(size_t)k * nxy + q];
            A[k] += isfinite(x) && x > 0 ? x : 0;
        }
        if (A[k] > amax) {
            amax = A[k];
            kmax = k;
        }
    }
    int lo = kmax, hi = kmax;
    while (lo > 0 && 2 * A[lo - 1] >= amax)
        lo--;
    while (hi < nz - 1 && 2 * A[hi + 1] >= amax)
        hi++;
    free(A);
    fi.slice_lo = lo;
    fi.slice_hi = hi;

    /* slice-averaged image and its body's bounding box */
    for (int k = lo; k <= hi; k++)
        for (size_t q = 0; q < nxy; q++) {
            float x = d[(size_t)k * nxy + q];
            M[q] += isfinite(x) ? x : 0;
        }
    int bi0 = nx, bi1 = -1, bj0 = ny, bj1 = -1;
    for (int j = 0; j < ny; j++)
        for (int i = 0; i < nx; i++) {
            M[i + (size_t)nx * j] /= (hi - lo + 1);
            if (M[i + (size_t)nx * j] > T) {
                bi0 = i < bi0 ? i : bi0;
                bi1 = i > bi1 ? i : bi1;
                bj0 = j < bj0 ? j : bj0;
                bj1 = j > bj1 ? j : bj1;
            }
        }

    /* the body level again on the slice average (far less noisy than single voxels) */
    double TM = 0;
    for (int it = 0; it < 100; it++) {
        double sum = 0;
        size_t c = 0;
        for (size_t q = 0; q < nxy; q++)
            if (M[q] > TM) {
                sum += M[q];
                c++;
            }
        double Tn = c ? 0.5 * sum / (double)c : TM;
        if (fabs(Tn - TM) <= 1e-9 * Tn) {
            TM = Tn;
            break;
        }
        TM = Tn;
    }
    fi.body_level = 2 * TM;

    /* coarse axis: cold disc r <= 25 mm inside a hot ring 25 < r <= 35 mm */
    const double rl = LF_NEMA_LUNG_RADIUS_MM, rr = rl + 10;
    int hi_ = (int)ceil(rr * sqrt(s.inv[0][0] * s.inv[0][0] + s.inv[0][1] * s.inv[0][1])) + 1;
    int hj_ = (int)ceil(rr * sqrt(s.inv[1][0] * s.inv[1][0] + s.inv[1][1] * s.inv[1][1])) + 1;
    int noff = 0, *off = malloc((size_t)(2 * hi_ + 1) * (size_t)(2 * hj_ + 1) * 3 * sizeof *off);
    if (!off) {
        free(M);
        return lf_fail(err, "out of memory");
    }
    int ndisc = 0, nann = 0;
    for (int dj = -hj_; dj <= hj_; dj++)
        for (int di = -hi_; di <= hi_; di++) {
            double r = hypot(S[0][0] * di + S[0][1] * dj, S[1][0] * di + S[1][1] * dj);
            if (r > rr)
                continue;
            off[3 * noff] = di;
            off[3 * noff + 1] = dj;
            off[3 * noff + 2] = r <= rl;
            ndisc += r <= rl;
            nann += r > rl;
            noff++;
        }
    double best = -INFINITY, best_disc = 0, best_ann = 0;
    int bi = -1, bj = -1;
    for (int j = bj0; j <= bj1; j++)
        for (int i = bi0; i <= bi1; i++) {
            double sd = 0, sa = 0;
            for (int o = 0; o < noff; o++) {
                int ii = i + off[3 * o], jj = j + off[3 * o + 1];
                double x = ii >= 0 && jj >= 0 && ii < nx && jj < ny ? M[ii + (size_t)nx * jj] : 0;
                if (off[3 * o + 2])
                    sd += x;
                else
                    sa += x;
            }
            sd /= ndisc ? ndisc : 1;
            sa /= nann ? nann : 1;
            if (sa >= 0.6 * fi.body_level && sa - sd > best) { /* the ring inside the body */
                best = sa - sd;
                bi = i;
                bj = j;
                best_disc = sd;
                best_ann = sa;
            }
        }
    free(off);
    free(M);
    if (bi < 0)
        return lf_fail(err,
                       "no cold lung insert found: no 25..35 mm ring around any point lies in the body (mean >= 60 %% "
                       "of the body level %g); expected an IEC phantom image, or give the centre (--centre)",
                       fi.body_level);
    double cx = S[0][0] * bi + S[0][1] * bj + S[0][3], cy = S[1][0] * bi + S[1][1] * bj + S[1][3];
    fi.lung_contrast = best_ann > 0 ? 1 - best_disc / best_ann : 0;
    if (!(fi.lung_contrast >= 0.3))
        return lf_fail(err,
                       "no cold lung insert found inside the body: the best candidate, (%.1f, %.1f) mm, is only "
                       "%.0f %% colder than the ring around it (expected >= 30 %%); give the centre (--centre)",
                       cx, cy, 100 * fi.lung_contrast);

    /* sphere plane, axis refined away from the spheres, plane again */
    double z0;
    if (sphere_plane(&s, lo, hi, cx, cy, ratio, &z0, &fi.plane_excess, err) != 0)
        return -1;
    if (refine_axis(&s, lo, hi, z0, &cx, &cy, &fi.axis_slices, &fi.iterations, err) != 0)
        return -1;
    if (sphere_plane(&s, lo, hi, cx, cy, ratio, &z0, &fi.plane_excess, err) != 0)
        return -1;
    centre_mm[0] = cx;
    centre_mm[1] = cy;
    centre_mm[2] = z0;
    if (info)
        *info = fi;
    return 0;
}

/* ------------------------------------------------------------------ the analysis */

static int roi_fail(int rc, const char *what, const double c[3], lf_error *err)
{
    if (rc == 1)
        return lf_fail(err,
                       "the %s (centre %.1f, %.1f, %.1f mm) lies partly outside the image grid: expected the whole "
                       "phantom in the image (check --centre)",
                       what, c[0], c[1], c[2]);
    return lf_fail(err, "the %s (centre %.1f, %.1f, %.1f mm) holds a non-finite image value", what, c[0], c[1], c[2]);
}

int lf_nema_analyse(const lf_volume *img, const lf_nema_opts *o, lf_nema_result *r, lf_error *err)
{
    memset(r, 0, sizeof *r);
    if (!(o->ratio > 1) || !isfinite(o->ratio))
        return lf_fail(err, "sphere-to-background ratio %g: expected a value > 1", o->ratio);
    sampler s;
    if (sampler_init(img, &s, err) != 0)
        return -1;
    r->ratio = o->ratio;
    r->step_mm = s.step_mm;
    if (o->centre_given) {
        for (int a = 0; a < 3; a++)
            if (!isfinite(o->centre_mm[a]))
                return lf_fail(err, "the centre is not finite");
        memcpy(r->centre_mm, o->centre_mm, sizeof r->centre_mm);
    } else {
        if (lf_nema_find_centre(img, o->ratio, r->centre_mm, &r->find, err) != 0)
            return lf_fail_prefix(err, "finding the phantom");
        r->centre_found = 1;
    }
    const double *c = r->centre_mm;
    if (lf_nema_background_layout(r->bg_xy_mm, err) != 0)
        return -1;
    char what[96];
    for (int i = 0; i < LF_NEMA_SPHERES; i++) {
        double sx, sy;
        sphere_xy(i, &sx, &sy);
        double *p = r->sphere_mm[i];
        p[0] = c[0] + sx;
        p[1] = c[1] + sy;
        p[2] = c[2];
        int rc = disc_mean(&s, p[0], p[1], p[2], lf_nema_sphere_diameter_mm[i] / 2, 1, &r->c_h[i]);
        if (rc != 0) {
            snprintf(what, sizeof what, "%g mm sphere ROI", lf_nema_sphere_diameter_mm[i]);
            return roi_fail(rc, what, p, err);
        }
    }
    for (int i = 0; i < LF_NEMA_SPHERES; i++) {
        double sum = 0, dia = lf_nema_sphere_diameter_mm[i];
        for (int pl = 0; pl < LF_NEMA_PLANES; pl++)
            for (int b = 0; b < LF_NEMA_BG_PER_PLANE; b++) {
                double p[3] = {c[0] + r->bg_xy_mm[b][0], c[1] + r->bg_xy_mm[b][1], c[2] + lf_nema_plane_offset_mm[pl]};
                double *m = &r->bg_mean[i][pl * LF_NEMA_BG_PER_PLANE + b];
                int rc = disc_mean(&s, p[0], p[1], p[2], dia / 2, 1, m);
                if (rc != 0) {
                    snprintf(what, sizeof what, "%g mm background ROI %d in the plane %+g mm", dia, b + 1,
                             lf_nema_plane_offset_mm[pl]);
                    return roi_fail(rc, what, p, err);
                }
                sum += *m;
            }
        double cb = sum / LF_NEMA_BG_ROIS, ss = 0;
        for (int k = 0; k < LF_NEMA_BG_ROIS; k++)
            ss += (r->bg_mean[i][k] - cb) * (r->bg_mean[i][k] - cb);
        r->c_b[i] = cb;
        r->sd_b[i] = sqrt(ss / (LF_NEMA_BG_ROIS - 1));
        if (!(cb > 0))
            return lf_fail(err,
                           "the %g mm background ROIs average %g (<= 0): expected a positive background around the "
                           "phantom centre (%.1f, %.1f, %.1f) mm (check --centre)",
                           dia, cb, c[0], c[1], c[2]);
        r->contrast_recovery_pct[i] = (r->c_h[i] / cb - 1) / (o->ratio - 1) * 100;
        r->background_variability_pct[i] = r->sd_b[i] / cb * 100;
    }
    double lung = 0;
    for (int pl = 0; pl < LF_NEMA_PLANES; pl++) {
        double p[3] = {c[0], c[1], c[2] + lf_nema_plane_offset_mm[pl]};
        int rc = disc_mean(&s, p[0], p[1], p[2], LF_NEMA_LUNG_ROI_MM / 2, 1, &r->lung_mean[pl]);
        if (rc != 0) {
            snprintf(what, sizeof what, "lung ROI in the plane %+g mm", lf_nema_plane_offset_mm[pl]);
            return roi_fail(rc, what, p, err);
        }
        lung += r->lung_mean[pl];
    }
    r->lung_residual_pct = lung / LF_NEMA_PLANES / r->c_b[LF_NEMA_SPHERES - 1] * 100;
    return 0;
}

/* ------------------------------------------------------------------ output */

void lf_nema_csv(FILE *f, const lf_nema_result *r)
{
    fprintf(f, "%s\n", LF_NEMA_CSV_HEADER);
    for (int i = 0; i < LF_NEMA_SPHERES; i++)
        fprintf(f, "%g,%.10g,%.10g,%.10g,%.10g,%.10g\n", lf_nema_sphere_diameter_mm[i], r->contrast_recovery_pct[i],
                r->background_variability_pct[i], r->c_h[i], r->c_b[i], r->sd_b[i]);
}

static void json_vec(lf_json *j, const char *key, const double *v, int n)
{
    lf_json_arr(j, key);
    for (int i = 0; i < n; i++)
        lf_json_num(j, NULL, v[i]);
    lf_json_end(j);
}

void lf_nema_json(FILE *f, const lf_nema_result *r, const char *image)
{
    lf_json j;
    lf_json_init(&j, f);
    lf_json_obj(&j, NULL);
    lf_json_str(&j, "standard", "NEMA NU 2-2018 image quality");
    lf_json_str(&j, "phantom", "iec");
    if (image)
        lf_json_str(&j, "image", image);
    lf_json_str(&j, "units", "image units (Bq/mL for lafov recon's image_bqml.nii.gz)");
    lf_json_num(&j, "ratio", r->ratio);
    json_vec(&j, "centre_mm", r->centre_mm, 3);
    lf_json_str(&j, "centre_source", r->centre_found ? "found" : "given");
    lf_json_num(&j, "sphere_plane_z_mm", r->centre_mm[2]);
    lf_json_num(&j, "lung_residual_pct", r->lung_residual_pct);
    lf_json_str(&j, "lung_residual_definition",
                "mean over the 5 planes (0, +-10, +-20 mm) of the 30 mm lung ROI mean / C_B of the 37 mm ROIs x 100");
    json_vec(&j, "lung_mean_per_plane", r->lung_mean, LF_NEMA_PLANES);
    json_vec(&j, "plane_offsets_mm", lf_nema_plane_offset_mm, LF_NEMA_PLANES);
    lf_json_arr(&j, "background_roi_offsets_mm");
    for (int b = 0; b < LF_NEMA_BG_PER_PLANE; b++)
        json_vec(&j, NULL, r->bg_xy_mm[b], 2);
    lf_json_end(&j);
    lf_json_obj(&j, "sampling");
    lf_json_num(&j, "step_mm", r->step_mm);
    lf_json_str(&j, "method", "square lattice of 4 x 4 points per in-plane voxel centred on each ROI; trilinear "
                              "interpolation (bilinear in the plane, linear between slices at the plane's z)");
    lf_json_end(&j);
    if (r->centre_found) {
        lf_json_obj(&j, "finder");
        lf_json_num(&j, "body_level", r->find.body_level);
        lf_json_i64(&j, "slice_lo", r->find.slice_lo);
        lf_json_i64(&j, "slice_hi", r->find.slice_hi);
        lf_json_num(&j, "lung_contrast", r->find.lung_contrast);
        lf_json_num(&j, "sphere_plane_excess", r->find.plane_excess);
        lf_json_i64(&j, "axis_slices", r->find.axis_slices);
        lf_json_i64(&j, "axis_iterations", r->find.iterations);
        lf_json_end(&j);
    }
    lf_json_arr(&j, "spheres");
    for (int i = 0; i < LF_NEMA_SPHERES; i++) {
        lf_json_obj(&j, NULL);
        lf_json_num(&j, "diameter_mm", lf_nema_sphere_diameter_mm[i]);
        json_vec(&j, "centre_mm", r->sphere_mm[i], 3);
        lf_json_num(&j, "c_h", r->c_h[i]);
        lf_json_num(&j, "c_b", r->c_b[i]);
        lf_json_num(&j, "sd_b", r->sd_b[i]);
        lf_json_num(&j, "contrast_recovery_pct", r->contrast_recovery_pct[i]);
        lf_json_num(&j, "background_variability_pct", r->background_variability_pct[i]);
        lf_json_end(&j);
    }
    lf_json_end(&j);
    lf_json_end(&j);
    lf_json_finish(&j);
}

/* ------------------------------------------------------------------ picture */

typedef struct circle {
    double x, y, r;
    uint8_t rgb[3];
} circle;

int lf_nema_picture(const lf_volume *img, const lf_nema_result *r, uint8_t **rgb, int *w, int *h, lf_error *err)
{
    *rgb = NULL;
    sampler s;
    if (sampler_init(img, &s, err) != 0)
        return -1;
    const double px = 0.5, x0 = r->centre_mm[0] - 165, y0 = r->centre_mm[1] - 165, z = r->centre_mm[2];
    const int W = 660, H = 520;
    uint8_t *im = malloc((size_t)W * H * 3);
    if (!im)
        return lf_fail(err, "out of memory for a %d x %d picture", W, H);
    double hiv = 0;
    for (int i = 0; i < LF_NEMA_SPHERES; i++)
        hiv = fmax(hiv, r->c_h[i]);
    hiv = hiv > 0 ? 1.25 * hiv : 1;
    circle cs[LF_NEMA_SPHERES + 2 * LF_NEMA_BG_PER_PLANE + 1];
    int nc = 0;
    for (int i = 0; i < LF_NEMA_SPHERES; i++)
        cs[nc++] = (circle){r->sphere_mm[i][0], r->sphere_mm[i][1], lf_nema_sphere_diameter_mm[i] / 2, {255, 60, 60}};
    for (int b = 0; b < LF_NEMA_BG_PER_PLANE; b++)
        for (int t = 0; t < 2; t++)
            cs[nc++] = (circle){r->centre_mm[0] + r->bg_xy_mm[b][0], r->centre_mm[1] + r->bg_xy_mm[b][1],
                                lf_nema_sphere_diameter_mm[t ? 0 : LF_NEMA_SPHERES - 1] / 2, {60, 220, 60}};
    cs[nc++] = (circle){r->centre_mm[0], r->centre_mm[1], LF_NEMA_LUNG_ROI_MM / 2, {40, 220, 230}};
    for (int j = 0; j < H; j++)
        for (int i = 0; i < W; i++) {
            double x = x0 + (i + 0.5) * px, y = y0 + (j + 0.5) * px, v;
            uint8_t *p = im + 3 * ((size_t)j * W + i);
            int g = 0;
            if (sample(&s, x, y, z, &v) == 1) {
                double t = v / hiv;
                g = t <= 0 ? 0 : t >= 1 ? 255 : (int)lround(255 * t);
            }
            p[0] = p[1] = p[2] = (uint8_t)g;
            for (int q = 0; q < nc; q++)
                if (fabs(hypot(x - cs[q].x, y - cs[q].y) - cs[q].r) <= 0.5)
                    memcpy(p, cs[q].rgb, 3);
            double dx = x - r->centre_mm[0], dy = y - r->centre_mm[1];
            if ((fabs(dx) <= 0.5 && fabs(dy) <= 4) || (fabs(dy) <= 0.5 && fabs(dx) <= 4)) {
                p[0] = 255;
                p[1] = 230;
                p[2] = 0;
            }
        }
    *rgb = im;
    *w = W;
    *h = H;
    return 0;
}

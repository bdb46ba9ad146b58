/* Projectors (projectors/projector.h, allors.h): adjointness, line integrals against analytic chords,
 * TOF (sum over bins, point-source response and sign convention), determinism of the back projection
 * across runs and thread counts, the all-LOR iterator on the mini scanner, errors and dispatch.
 * Small grids (32 x 32 x 24, anisotropic voxels, off-centre origin) so that it runs in seconds. */
#include "testutil.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "projectors/allors.h"
#include "projectors/projector.h"
#include "projectors/traverse.h"

#define NX 32
#define NY 32
#define NZ 24

static const lf_proj_kind KINDS[2] = {LF_PROJ_JOSEPH, LF_PROJ_SIDDON};

static lf_grid test_grid(void) { return lf_grid_centred(NX, NY, NZ, 2.0f, 2.0f, 2.5f, 3.0f, -2.0f, 5.0f); }

static float *image_new(const lf_grid *g)
{
    float *img = calloc(lf_grid_voxels(g), sizeof *img);
    assert_non_null(img);
    return img;
}

static void grid_centre(const lf_grid *g, double c[3])
{
    for (int i = 0; i < 3; i++)
        c[i] = g->origin_mm[i] + 0.5 * (g->n[i] - 1) * g->voxel_mm[i];
}

static void voxel_centre(const lf_grid *g, int i, int j, int k, double c[3])
{
    c[0] = g->origin_mm[0] + i * (double)g->voxel_mm[0];
    c[1] = g->origin_mm[1] + j * (double)g->voxel_mm[1];
    c[2] = g->origin_mm[2] + k * (double)g->voxel_mm[2];
}

static void set_lor(float *l, double x1, double y1, double z1, double x2, double y2, double z2)
{
    l[0] = (float)x1, l[1] = (float)y1, l[2] = (float)z1, l[3] = (float)x2, l[4] = (float)y2, l[5] = (float)z2;
}

/* Random LORs around the grid: endpoints on a cylinder of radius 75 mm about the grid centre, z within
 * ±zspread; every 7th is nearly axial (|dz| ~ 1 m) and every 11th parallel to an axis. */
static void random_lors(const lf_grid *g, lf_rng *r, float *lors, size_t n, double zspread)
{
    double c[3];
    grid_centre(g, c);
    for (size_t i = 0; i < n; i++) {
        float *l = lors + 6 * i;
        double f1 = 2 * M_PI * lf_rng_uniform(r), f2 = 2 * M_PI * lf_rng_uniform(r);
        double z1 = c[2] + zspread * (2 * lf_rng_uniform(r) - 1), z2 = c[2] + zspread * (2 * lf_rng_uniform(r) - 1);
        if (i % 7 == 3) {
            set_lor(l, c[0] + 20 * (lf_rng_uniform(r) - 0.5), c[1] + 20 * (lf_rng_uniform(r) - 0.5), c[2] - 500,
                    c[0] + 20 * (lf_rng_uniform(r) - 0.5), c[1] + 20 * (lf_rng_uniform(r) - 0.5), c[2] + 500);
        } else if (i % 11 == 5) {
            int ax = (int)(i / 11) % 3;
            double p[3] = {c[0] + 50 * (lf_rng_uniform(r) - 0.5), c[1] + 50 * (lf_rng_uniform(r) - 0.5),
                           c[2] + 50 * (lf_rng_uniform(r) - 0.5)};
            double q[3] = {p[0], p[1], p[2]};
            p[ax] -= 90;
            q[ax] += 90;
            set_lor(l, p[0], p[1], p[2], q[0], q[1], q[2]);
        } else {
            set_lor(l, c[0] + 75 * cos(f1), c[1] + 75 * sin(f1), z1, c[0] + 75 * cos(f2), c[1] + 75 * sin(f2), z2);
        }
    }
}

static void random_image(const lf_grid *g, lf_rng *r, float *img)
{
    for (size_t v = 0; v < lf_grid_voxels(g); v++)
        img[v] = (float)lf_rng_uniform(r);
}

static void random_bins(lf_rng *r, int8_t *bins, size_t n, int half)
{
    for (size_t i = 0; i < n; i++)
        bins[i] = (int8_t)((int)lf_rng_below(r, (uint64_t)(2 * half + 1)) - half);
}

static void fwd_ok(lf_proj_kind kind, const lf_grid *g, const float *img, const float *lors, size_t n, const int8_t *bins,
                   const lf_tof *tof, float *out)
{
    lf_error err = {{0}};
    if (lf_proj_fwd(kind, g, img, lors, n, bins, tof, out, &err) != 0)
        fail_msg("%s", err.msg);
}

static void back_ok(lf_proj_kind kind, const lf_grid *g, float *img, const float *lors, size_t n, const int8_t *bins,
                    const lf_tof *tof, const float *vals)
{
    lf_error err = {{0}};
    if (lf_proj_back(kind, g, img, lors, n, bins, tof, vals, &err) != 0)
        fail_msg("%s", err.msg);
}

static float fwd1(lf_proj_kind kind, const lf_grid *g, const float *img, const float *lor, int bin, const lf_tof *tof)
{
    float out;
    int8_t b = (int8_t)bin;
    fwd_ok(kind, g, img, lor, 1, tof ? &b : NULL, tof, &out);
    return out;
}

/* ------------------------------------------------------------------ analytic chords */

/* alpha range of p1 + alpha (p2 - p1), alpha in [0,1], inside the box [lo, hi] */
static void clip_box(const float *l, const double lo[3], const double hi[3], double *t0, double *t1)
{
    for (int i = 0; i < 3; i++) {
        double p = l[i], d = (double)l[3 + i] - l[i];
        if (d == 0.0) {
            if (p < lo[i] || p > hi[i])
                *t0 = 1, *t1 = 0;
            continue;
        }
        double a = (lo[i] - p) / d, b = (hi[i] - p) / d;
        if (a > b) {
            double t = a;
            a = b, b = t;
        }
        *t0 = fmax(*t0, a);
        *t1 = fmin(*t1, b);
    }
}

static double lor_len(const float *l)
{
    double s = 0;
    for (int i = 0; i < 3; i++)
        s += ((double)l[3 + i] - l[i]) * ((double)l[3 + i] - l[i]);
    return sqrt(s);
}

static double chord_box(const float *l, const double lo[3], const double hi[3])
{
    double t0 = 0, t1 = 1;
    clip_box(l, lo, hi, &t0, &t1);
    return t1 > t0 ? (t1 - t0) * lor_len(l) : 0.0;
}

static double chord_ball(const float *l, const double c[3], double rad)
{
    double a = 0, b = 0, cc = -rad * rad;
    for (int i = 0; i < 3; i++) {
        double d = (double)l[3 + i] - l[i], p = l[i] - c[i];
        a += d * d, b += 2 * d * p, cc += p * p;
    }
    double disc = b * b - 4 * a * cc;
    if (disc <= 0)
        return 0;
    double t0 = fmax(0, (-b - sqrt(disc)) / (2 * a)), t1 = fmin(1, (-b + sqrt(disc)) / (2 * a));
    return t1 > t0 ? (t1 - t0) * lor_len(l) : 0.0;
}

/* cylinder along z: axis (c0, c1), radius rad, z in [z0, z1] */
static double chord_cyl(const float *l, const double c[2], double rad, double z0, double z1)
{
    double t0 = 0, t1 = 1, a = 0, b = 0, cc = -rad * rad;
    for (int i = 0; i < 2; i++) {
        double d = (double)l[3 + i] - l[i], p = l[i] - c[i];
        a += d * d, b += 2 * d * p, cc += p * p;
    }
    if (a == 0) {
        if (cc > 0)
            return 0;
    } else {
        double disc = b * b - 4 * a * cc;
        if (disc <= 0)
            return 0;
        t0 = fmax(t0, (-b - sqrt(disc)) / (2 * a));
        t1 = fmin(t1, (-b + sqrt(disc)) / (2 * a));
    }
    double lo[3] = {-1e30, -1e30, z0}, hi[3] = {1e30, 1e30, z1};
    clip_box(l, lo, hi, &t0, &t1);
    return t1 > t0 ? (t1 - t0) * lor_len(l) : 0.0;
}

/* Exact line integral of a voxelised image (piecewise constant), voxel by voxel: the Siddon reference. */
static double voxelised_integral(const lf_grid *g, const float *img, const float *l)
{
    double sum = 0;
    for (int k = 0; k < g->n[2]; k++)
        for (int j = 0; j < g->n[1]; j++)
            for (int i = 0; i < g->n[0]; i++) {
                float v = img[i + g->n[0] * (j + g->n[1] * k)];
                if (v == 0)
                    continue;
                double c[3], lo[3], hi[3];
                voxel_centre(g, i, j, k, c);
                for (int a = 0; a < 3; a++)
                    lo[a] = c[a] - 0.5 * g->voxel_mm[a], hi[a] = c[a] + 0.5 * g->voxel_mm[a];
                sum += v * chord_box(l, lo, hi);
            }
    return sum;
}

/* Partial-volume rasterisation (6^3 sub-samples on boundary voxels) of an object given by inside(). */
typedef int (*inside_fn)(const double p[3], const double *par);
static int in_ball(const double p[3], const double *par)
{
    double d = 0;
    for (int i = 0; i < 3; i++)
        d += (p[i] - par[i]) * (p[i] - par[i]);
    return d <= par[3] * par[3];
}
static int in_cyl(const double p[3], const double *par)
{
    double d = (p[0] - par[0]) * (p[0] - par[0]) + (p[1] - par[1]) * (p[1] - par[1]);
    return d <= par[2] * par[2] && p[2] >= par[3] && p[2] <= par[4];
}
static void rasterise(const lf_grid *g, inside_fn inside, const double *par, float value, float *img)
{
    const int S = 6;
    for (int k = 0; k < g->n[2]; k++)
        for (int j = 0; j < g->n[1]; j++)
            for (int i = 0; i < g->n[0]; i++) {
                double c[3];
                voxel_centre(g, i, j, k, c);
                int hits = 0;
                for (int a = 0; a < S; a++)
                    for (int b = 0; b < S; b++)
                        for (int e = 0; e < S; e++) {
                            double p[3] = {c[0] + ((a + 0.5) / S - 0.5) * g->voxel_mm[0],
                                           c[1] + ((b + 0.5) / S - 0.5) * g->voxel_mm[1],
                                           c[2] + ((e + 0.5) / S - 0.5) * g->voxel_mm[2]};
                            hits += inside(p, par);
                        }
                img[i + g->n[0] * (j + g->n[1] * k)] = value * (float)hits / (float)(S * S * S);
            }
}

/* ------------------------------------------------------------------ adjointness */

static void adjointness(void **state)
{
    (void)state;
    lf_grid g = test_grid();
    lf_tof tof = lf_tof_from_ps(143.231, 228.0, 33, 3.0);
    const size_t n = 3000, nv = lf_grid_voxels(&g);
    lf_rng r;
    lf_rng_seed(&r, 42, 0);
    float *lors = malloc(n * 6 * sizeof *lors), *y = malloc(n * sizeof *y), *ax = malloc(n * sizeof *ax);
    int8_t *bins = malloc(n);
    float *x = image_new(&g), *aty = image_new(&g);
    random_lors(&g, &r, lors, n, 60.0);
    random_image(&g, &r, x);
    for (size_t i = 0; i < n; i++)
        y[i] = (float)(lf_rng_uniform(&r) + 0.1);
    random_bins(&r, bins, n, 3);
    for (int kk = 0; kk < 2; kk++)
        for (int t = 0; t < 2; t++) {
            const lf_tof *tp = t ? &tof : NULL;
            const int8_t *bp = t ? bins : NULL;
            memset(aty, 0, nv * sizeof *aty);
            fwd_ok(KINDS[kk], &g, x, lors, n, bp, tp, ax);
            back_ok(KINDS[kk], &g, aty, lors, n, bp, tp, y);
            double lhs = 0, rhs = 0;
            size_t nonzero = 0;
            for (size_t i = 0; i < n; i++)
                lhs += (double)ax[i] * y[i], nonzero += ax[i] != 0;
            for (size_t v = 0; v < nv; v++)
                rhs += (double)x[v] * aty[v];
            double rel = fabs(lhs - rhs) / fabs(lhs);
            print_message("adjointness %s %s: <Ax,y> = %.9g, <x,A'y> = %.9g, rel %.2e (%zu of %zu LORs hit)\n",
                          lf_proj_kind_name(KINDS[kk]), t ? "TOF" : "non-TOF", lhs, rhs, rel, nonzero, n);
            assert_true(nonzero > n / 3);
            assert_true(rel < 1e-5);
        }
    free(lors), free(y), free(ax), free(bins), free(x), free(aty);
}

/* ------------------------------------------------------------------ line integrals */

/* The test LORs around centre c: through the centre, oblique, nearly axial, and misses. */
#define N_LINE_LORS 14
static void line_lors(const double c[3], float *lors)
{
    set_lor(lors + 0, c[0] - 150, c[1] + 0.3, c[2] - 0.2, c[0] + 150, c[1] + 0.3, c[2] - 0.2);       /* along x, central */
    set_lor(lors + 6, c[0] + 0.7, c[1] - 150, c[2] + 0.4, c[0] + 0.7, c[1] + 150, c[2] + 0.4);       /* along y */
    set_lor(lors + 12, c[0] - 100, c[1] - 80, c[2] - 30, c[0] + 100, c[1] + 80, c[2] + 30);          /* through centre, oblique */
    set_lor(lors + 18, c[0] - 90, c[1] + 60, c[2] + 40, c[0] + 110, c[1] - 50, c[2] - 45);           /* oblique, off centre */
    set_lor(lors + 24, c[0] + 5, c[1] - 3, c[2] - 500, c[0] - 4, c[1] + 2, c[2] + 500);              /* nearly axial, |dz| 1 m */
    set_lor(lors + 30, c[0] - 2, c[1] + 1, c[2] - 500, c[0] + 3, c[1] + 6, c[2] + 500);              /* nearly axial */
    set_lor(lors + 36, c[0] - 120, c[1] + 11, c[2] - 500, c[0] + 100, c[1] - 9, c[2] + 500);         /* very oblique */
    set_lor(lors + 42, c[0] + 12.3, c[1] - 150, c[2] + 7.1, c[0] + 12.3, c[1] + 150, c[2] + 7.1);    /* along y, off axis */
    set_lor(lors + 48, c[0] - 150, c[1] + 17, c[2] - 4, c[0] + 150, c[1] + 15, c[2] - 4.5);          /* near the edge */
    set_lor(lors + 54, c[0] + 0.4, c[1] + 0.6, c[2] - 300, c[0] + 0.4, c[1] + 0.6, c[2] + 300);      /* along z */
    /* misses: beside the grid, above it, ending before it */
    set_lor(lors + 60, c[0] - 150, c[1] + 40, c[2], c[0] + 150, c[1] + 41, c[2]);
    set_lor(lors + 66, c[0] - 150, c[1], c[2] + 45, c[0] + 150, c[1] + 3, c[2] + 46);
    set_lor(lors + 72, c[0] - 150, c[1], c[2], c[0] - 60, c[1] + 1, c[2] + 1);
    set_lor(lors + 78, c[0] - 500, c[1] - 500, c[2] - 500, c[0] - 450, c[1] - 400, c[2] + 500);
}
static const int LINE_MISSES = 4;

static void siddon_box_exact(void **state)
{
    (void)state;
    lf_grid g = test_grid();
    float *img = image_new(&g);
    const int lo_i[3] = {5, 8, 3}, hi_i[3] = {25, 20, 21}; /* voxels [lo, hi) along x, y, z */
    const float value = 2.5f;
    for (int k = lo_i[2]; k < hi_i[2]; k++)
        for (int j = lo_i[1]; j < hi_i[1]; j++)
            for (int i = lo_i[0]; i < hi_i[0]; i++)
                img[i + NX * (j + NY * k)] = value;
    double lo[3], hi[3], c[3];
    for (int a = 0; a < 3; a++) {
        lo[a] = g.origin_mm[a] + (lo_i[a] - 0.5) * (double)g.voxel_mm[a];
        hi[a] = g.origin_mm[a] + (hi_i[a] - 0.5) * (double)g.voxel_mm[a];
    }
    grid_centre(&g, c);
    float lors[6 * N_LINE_LORS];
    line_lors(c, lors);
    for (int i = 0; i < N_LINE_LORS; i++) {
        double want = value * chord_box(lors + 6 * i, lo, hi);
        double got = fwd1(LF_PROJ_SIDDON, &g, img, lors + 6 * i, 0, NULL);
        if (i >= N_LINE_LORS - LINE_MISSES)
            assert_true(got == 0.0);
        if (fabs(got - want) > 1e-5 * fmax(want, 1.0))
            fail_msg("Siddon box LOR %d: %.7g, analytic %.7g", i, got, want);
    }
    free(img);
}

static void ball_and_cylinder(void **state)
{
    (void)state;
    lf_grid g = test_grid();
    double c[3];
    grid_centre(&g, c);
    const float value = 1.7f;
    double ball[4] = {c[0] + 1.3, c[1] - 0.7, c[2] + 0.4, 20.0};
    double cyl[5] = {c[0] - 0.9, c[1] + 0.6, 22.0, c[2] - 20.0, c[2] + 20.0};
    float *img_b = image_new(&g), *img_c = image_new(&g);
    rasterise(&g, in_ball, ball, value, img_b);
    rasterise(&g, in_cyl, cyl, value, img_c);
    float lors[6 * N_LINE_LORS];
    line_lors(c, lors);
    /* Siddon is exact for the voxelised object (to 1e-5, against a voxel-by-voxel reference). Against
     * the analytic chord (tolerances stated in docs/projectors.md): the partial-volume voxelised object
     * differs from the true one by up to ~0.5 voxel x value along a chord that does not pass through
     * voxel centres (Siddon sees exactly that); Joseph, interpolating, stays within 0.5 voxel x value.
     * Voxel = the largest voxel size, 2.5 mm here. Seen: Joseph <= 0.33, Siddon <= 0.44. */
    const double TOL_J = 0.5, TOL_S = 0.6, vox = 2.5;
    double worst[2][2] = {{0}};
    for (int obj = 0; obj < 2; obj++) {
        const float *img = obj ? img_c : img_b;
        for (int i = 0; i < N_LINE_LORS; i++) {
            const float *l = lors + 6 * i;
            double want = value * (obj ? chord_cyl(l, cyl, cyl[2], cyl[3], cyl[4]) : chord_ball(l, ball, ball[3]));
            double exact_vox = voxelised_integral(&g, img, l);
            double s = fwd1(LF_PROJ_SIDDON, &g, img, l, 0, NULL), j = fwd1(LF_PROJ_JOSEPH, &g, img, l, 0, NULL);
            if (i >= N_LINE_LORS - LINE_MISSES) {
                assert_true(s == 0.0 && j == 0.0);
                continue;
            }
            if (fabs(s - exact_vox) > 1e-5 * fmax(exact_vox, 1.0))
                fail_msg("%s LOR %d: Siddon %.7g, exact voxelised integral %.7g", obj ? "cylinder" : "ball", i, s, exact_vox);
            worst[obj][0] = fmax(worst[obj][0], fabs(s - want) / (vox * value));
            worst[obj][1] = fmax(worst[obj][1], fabs(j - want) / (vox * value));
            if (getenv("LF_TEST_VERBOSE"))
                print_message("%s LOR %2d: chord %8.4f  Joseph %+.4f  Siddon %+.4f (voxel*value)\n", obj ? "cyl " : "ball", i,
                              want / value, (j - want) / (vox * value), (s - want) / (vox * value));
            if (fabs(j - want) > TOL_J * vox * value || fabs(s - want) > TOL_S * vox * value)
                fail_msg("%s LOR %d: Joseph %.5g, Siddon %.5g, analytic chord x value %.5g", obj ? "cylinder" : "ball", i, j, s,
                         want);
        }
    }
    print_message("ball: worst |error| Siddon %.3f, Joseph %.3f voxel*value; cylinder: Siddon %.3f, Joseph %.3f\n",
                  worst[0][0], worst[0][1], worst[1][0], worst[1][1]);
    free(img_b), free(img_c);
}

/* Along an axis through voxel centres, Joseph samples exactly the voxels Siddon crosses: both equal
 * the sum of the voxels times the voxel size (x, y and z; a random image). */
static void axis_aligned_exact(void **state)
{
    (void)state;
    lf_grid g = test_grid();
    lf_rng r;
    lf_rng_seed(&r, 7, 0);
    float *img = image_new(&g);
    random_image(&g, &r, img);
    for (int ax = 0; ax < 3; ax++) {
        int ij[3] = {9, 21, 13};
        double p[3], q[3];
        voxel_centre(&g, ij[0], ij[1], ij[2], p);
        memcpy(q, p, sizeof q);
        p[ax] -= 200, q[ax] += 200;
        float l[6];
        set_lor(l, p[0], p[1], p[2], q[0], q[1], q[2]);
        double want = 0;
        for (int m = 0; m < g.n[ax]; m++) {
            ij[ax] = m;
            want += img[ij[0] + NX * (ij[1] + NY * ij[2])];
        }
        want *= g.voxel_mm[ax];
        for (int kk = 0; kk < 2; kk++) {
            double got = fwd1(KINDS[kk], &g, img, l, 0, NULL);
            if (fabs(got - want) > 1e-5 * want)
                fail_msg("axis %d, %s: %.7g, want %.7g", ax, lf_proj_kind_name(KINDS[kk]), got, want);
        }
    }
    free(img);
}

static void degenerate_lors(void **state)
{
    (void)state;
    lf_grid g = test_grid();
    float *img = image_new(&g);
    for (size_t v = 0; v < lf_grid_voxels(&g); v++)
        img[v] = 1.0f;
    double c[3];
    grid_centre(&g, c);
    float l[6 * 3];
    set_lor(l, c[0], c[1], c[2], c[0], c[1], c[2]); /* zero length */
    set_lor(l + 6, NAN, 0, 0, 1, 1, 1);
    set_lor(l + 12, INFINITY, 0, 0, 1, 1, 1);
    float out[3], vals[3] = {1, 1, 1};
    for (int kk = 0; kk < 2; kk++) {
        fwd_ok(KINDS[kk], &g, img, l, 3, NULL, NULL, out);
        assert_true(out[0] == 0 && out[1] == 0 && out[2] == 0);
        float *b = image_new(&g);
        back_ok(KINDS[kk], &g, b, l, 3, NULL, NULL, vals);
        for (size_t v = 0; v < lf_grid_voxels(&g); v++)
            assert_true(b[v] == 0);
        free(b);
    }
    free(img);
}

/* ------------------------------------------------------------------ TOF */

static void tof_sum_equals_nontof(void **state)
{
    (void)state;
    lf_grid g = test_grid();
    const lf_tof tofs[2] = {lf_tof_from_ps(143.231, 228.0, 41, 3.0), lf_tof_from_ps(150.0, 300.0, 41, 4.0)};
    const size_t n = 400;
    lf_rng r;
    lf_rng_seed(&r, 3, 0);
    float *lors = malloc(n * 6 * sizeof *lors), *non = malloc(n * sizeof *non), *one = malloc(n * sizeof *one);
    int8_t *bins = malloc(n);
    double *sum = malloc(n * sizeof *sum);
    float *img = image_new(&g);
    random_lors(&g, &r, lors, n, 60.0);
    random_image(&g, &r, img);
    for (int tt = 0; tt < 2; tt++)
        for (int kk = 0; kk < 2; kk++) {
            const lf_tof *tof = &tofs[tt];
            int half = (tof->n_bins - 1) / 2;
            fwd_ok(KINDS[kk], &g, img, lors, n, NULL, NULL, non);
            memset(sum, 0, n * sizeof *sum);
            for (int t = -half; t <= half; t++) {
                memset(bins, t, n);
                fwd_ok(KINDS[kk], &g, img, lors, n, bins, tof, one);
                for (size_t i = 0; i < n; i++)
                    sum[i] += one[i];
            }
            double worst = 0;
            for (size_t i = 0; i < n; i++) {
                /* the bins cover ±(half + 1/2) w from the midpoint; the grid part of these LORs lies within */
                double e = fabs(sum[i] - non[i]) / fmax(non[i], 1e-3);
                worst = fmax(worst, e);
                if (e > 1e-4)
                    fail_msg("%s LOR %zu: sum over TOF bins %.7g, non-TOF %.7g", lf_proj_kind_name(KINDS[kk]), i, sum[i], non[i]);
            }
            print_message("TOF sum vs non-TOF, %s, sigma %.2f mm: worst rel %.1e\n", lf_proj_kind_name(KINDS[kk]),
                          (double)tof->sigma_mm, worst);
        }
    free(lors), free(non), free(one), free(bins), free(sum), free(img);
}

/* exact bin weight of the truncated, renormalised Gaussian for a point at s */
static double kernel_exact(const lf_tof *tof, int t, double s)
{
    double k = tof->n_sigmas, sg = tof->sigma_mm, w = tof->bin_width_mm;
    double hi = fmin(fmax(((t + 0.5) * w - s) / sg, -k), k), lo = fmin(fmax(((t - 0.5) * w - s) / sg, -k), k);
    return 0.5 * (erf(hi / M_SQRT2) - erf(lo / M_SQRT2)) / erf(k / M_SQRT2);
}

/* One hot voxel; LORs through its centre. The response over bins must be len_in_voxel x the exact
 * kernel at the voxel's signed distance s from the LOR midpoint (positive towards point 1), centred
 * on s/w with the width of the bin-integrated kernel, and mirror when the LOR is reversed. */
static void tof_point_source(void **state)
{
    (void)state;
    lf_grid g = test_grid();
    const lf_tof tof = lf_tof_from_ps(143.231, 228.0, 33, 3.0);
    const int half = 16, vi = 10, vj = 17, vk = 11;
    float *img = image_new(&g);
    img[vi + NX * (vj + NY * vk)] = 1.0f;
    double v[3];
    voxel_centre(&g, vi, vj, vk, v);
    struct {
        double p1[3], p2[3];
    } cases[4] = {
        {{v[0] - 100, v[1], v[2]}, {v[0] + 160, v[1], v[2]}},                  /* along x: s = +30 (p1's side) */
        {{v[0] + 160, v[1], v[2]}, {v[0] - 100, v[1], v[2]}},                  /* reversed: s = -30 */
        {{v[0] - 80, v[1] - 60, v[2] - 20}, {v[0] + 120, v[1] + 90, v[2] + 30}}, /* oblique, through the centre */
        {{v[0] + 8, v[1] - 4, v[2] - 400}, {v[0] - 10, v[1] + 5, v[2] + 500}},  /* nearly axial */
    };
    for (int cs = 0; cs < 4; cs++) {
        float l[6];
        set_lor(l, cases[cs].p1[0], cases[cs].p1[1], cases[cs].p1[2], cases[cs].p2[0], cases[cs].p2[1], cases[cs].p2[2]);
        /* s of the voxel centre, and the length each projector gives the voxel */
        double d[3], len = lor_len(l), s = 0, mid[3];
        for (int i = 0; i < 3; i++) {
            d[i] = ((double)l[3 + i] - l[i]) / len;
            mid[i] = 0.5 * ((double)l[i] + l[3 + i]);
            s -= (v[i] - mid[i]) * d[i]; /* towards p1 = against d */
        }
        for (int kk = 0; kk < 2; kk++) {
            double vox_len;
            if (KINDS[kk] == LF_PROJ_SIDDON) {
                double lo[3], hi[3];
                for (int i = 0; i < 3; i++)
                    lo[i] = v[i] - 0.5 * g.voxel_mm[i], hi[i] = v[i] + 0.5 * g.voxel_mm[i];
                vox_len = chord_box(l, lo, hi);
            } else { /* one sample, in the voxel's plane of the dominant axis: dl */
                int dom = 0;
                for (int i = 1; i < 3; i++)
                    if (fabs(d[i] / g.voxel_mm[i]) > fabs(d[dom] / g.voxel_mm[dom]))
                        dom = i;
                vox_len = g.voxel_mm[dom] / fabs(d[dom]);
            }
            double sum = 0, m1 = 0, m2 = 0, best = -1;
            int arg = 0;
            for (int t = -half; t <= half; t++) {
                double got = fwd1(KINDS[kk], &g, img, l, t, &tof), want = vox_len * kernel_exact(&tof, t, s);
                if (fabs(got - want) > 1e-5 * vox_len)
                    fail_msg("case %d %s bin %d: %.7g, want %.7g", cs, lf_proj_kind_name(KINDS[kk]), t, got, want);
                sum += got, m1 += t * got, m2 += (double)t * t * got;
                if (got > best)
                    best = got, arg = t;
            }
            double mean = m1 / sum, sd = sqrt(m2 / sum - mean * mean) * tof.bin_width_mm;
            /* truncated Gaussian variance, plus the bin width's w^2/12 (Sheppard) */
            double k = tof.n_sigmas, phi = exp(-0.5 * k * k) / sqrt(2 * M_PI);
            double var_t = tof.sigma_mm * tof.sigma_mm * (1 - 2 * k * phi / erf(k / M_SQRT2));
            double sd_want = sqrt(var_t + tof.bin_width_mm * tof.bin_width_mm / 12.0);
            if (cs == 0)
                print_message("point source at s = %+.1f mm (%s): peak bin %+d, mean %+.3f bins (want %+.3f), width %.2f mm "
                              "(want %.2f = %.3f sigma)\n",
                              s, lf_proj_kind_name(KINDS[kk]), arg, mean, s / tof.bin_width_mm, sd, sd_want,
                              sd_want / tof.sigma_mm);
            assert_true(fabs(sum - vox_len) < 1e-4 * vox_len);
            assert_int_equal(arg, (int)lround(s / tof.bin_width_mm));
            assert_true(fabs(mean - s / tof.bin_width_mm) < 0.01);
            assert_true(fabs(sd / sd_want - 1) < 0.01);
        }
        if (cs == 0)
            assert_true(s > 29 && s < 31);
        if (cs == 1)
            assert_true(s < -29 && s > -31);
    }
    free(img);
}

/* ------------------------------------------------------------------ determinism */

static void deterministic(void **state)
{
    (void)state;
    lf_grid g = test_grid();
    lf_tof tof = lf_tof_from_ps(143.231, 228.0, 33, 3.0);
    const size_t n = 20000, nv = lf_grid_voxels(&g);
    lf_rng r;
    lf_rng_seed(&r, 11, 0);
    float *lors = malloc(n * 6 * sizeof *lors), *vals = malloc(n * sizeof *vals);
    int8_t *bins = malloc(n);
    random_lors(&g, &r, lors, n, 60.0);
    for (size_t i = 0; i < n; i++)
        vals[i] = (float)(lf_rng_uniform(&r) * 3 + 0.01);
    random_bins(&r, bins, n, 4);
    const int saved = omp_get_max_threads();
    const int threads[5] = {1, 2, 2, 3, 5};
    float *ref = image_new(&g), *img = image_new(&g), *fwd0 = malloc(n * sizeof *fwd0), *fwd1v = malloc(n * sizeof *fwd1v);
    for (int kk = 0; kk < 2; kk++)
        for (int t = 0; t < 2; t++) {
            const lf_tof *tp = t ? &tof : NULL;
            const int8_t *bp = t ? bins : NULL;
            /* the serial, unclipped reference written with traverse.h directly */
            lf_tofk *tk = NULL;
            if (tp) {
                tk = malloc(sizeof *tk);
                lf_tofk_init(tk, tp);
            }
            memset(ref, 0, nv * sizeof *ref);
            for (size_t i = 0; i < n; i++) {
                int bin = tp ? bp[i] : 0;
                if (KINDS[kk] == LF_PROJ_JOSEPH) {
                    lf_jray ray;
                    if (lf_joseph_setup(&g, lors + 6 * i, tk, bin, &ray))
                        lf_joseph_walk(&g, &ray, 0, NZ, tk, ref, vals[i], 1, tk != NULL);
                } else {
                    lf_sray ray;
                    if (lf_siddon_setup(&g, lors + 6 * i, tk, bin, &ray))
                        lf_siddon_walk(&g, &ray, 0, NZ, tk, ref, vals[i], 1, tk != NULL);
                }
            }
            free(tk);
            for (int c = 0; c < 5; c++) {
                omp_set_num_threads(threads[c]);
                /* the forward too: one fixed summation order per LOR, whatever the thread count */
                fwd_ok(KINDS[kk], &g, ref, lors, n, bp, tp, c == 0 ? fwd0 : fwd1v);
                if (c > 0 && memcmp(fwd0, fwd1v, n * sizeof *fwd0) != 0)
                    fail_msg("%s %s, %d threads: the forward projection differs from 1 thread", lf_proj_kind_name(KINDS[kk]),
                             t ? "TOF" : "non-TOF", threads[c]);
                memset(img, 0, nv * sizeof *img);
                back_ok(KINDS[kk], &g, img, lors, n, bp, tp, vals);
                if (memcmp(img, ref, nv * sizeof *img) != 0) {
                    size_t diff = 0;
                    for (size_t v = 0; v < nv; v++)
                        diff += img[v] != ref[v];
                    fail_msg("%s %s, %d threads: %zu voxels differ from the serial back projection",
                             lf_proj_kind_name(KINDS[kk]), t ? "TOF" : "non-TOF", threads[c], diff);
                }
            }
        }
    omp_set_num_threads(saved);
    free(lors), free(vals), free(bins), free(ref), free(img), free(fwd0), free(fwd1v);
}

/* ------------------------------------------------------------------ all LORs (mini scanner) */

static float pair_value(uint32_t a, uint32_t b) { return 1.0f + (float)((a * 7u + b * 13u) % 5u); }

static int values_cb(void *user, const uint32_t *a, const uint32_t *b, const float *lors, size_t n, float *values, lf_error *err)
{
    (void)lors, (void)err;
    size_t *calls = user;
    (*calls)++;
    for (size_t i = 0; i < n; i++)
        values[i] = pair_value(a[i], b[i]);
    return 0;
}

typedef struct {
    double sum;
    size_t n;
} sink_acc;
static int sink_cb(void *user, const uint32_t *a, const uint32_t *b, const float *lors, const float *proj, size_t n, lf_error *err)
{
    (void)lors, (void)err;
    sink_acc *s = user;
    for (size_t i = 0; i < n; i++)
        s->sum += (double)proj[i] * pair_value(a[i], b[i]);
    s->n += n;
    return 0;
}

static int box_hit(const float *l, const lf_grid *g)
{
    double lo[3], hi[3], t0 = 0, t1 = 1;
    for (int i = 0; i < 3; i++) {
        lo[i] = g->origin_mm[i] - 1.5 * g->voxel_mm[i];
        hi[i] = g->origin_mm[i] + (g->n[i] + 0.5) * g->voxel_mm[i];
    }
    clip_box(l, lo, hi, &t0, &t1);
    return t0 <= t1;
}

static void allors_mini(void **state)
{
    (void)state;
    lf_scanner sc;
    tu_scanner("mini", &sc);
    /* a grid smaller than the ring, off centre: many LORs miss it */
    lf_grid g = lf_grid_centred(24, 20, 12, 3.0f, 3.0f, 3.0f, 10.0f, -5.0f, 8.0f);
    const int mrds[2] = {sc.mrd, 5};
    for (int mm = 0; mm < 2; mm++) {
        const int mrd = mrds[mm];
        /* explicit enumeration of every accepted pair (a < b) */
        size_t cap = (size_t)sc.n_crystals * (size_t)sc.n_crystals / 2, n_all = 0, n_hit = 0;
        float *lors = malloc(cap * 6 * sizeof *lors), *vals = malloc(cap * sizeof *vals);
        uint32_t *ea = malloc(cap * sizeof *ea), *eb = malloc(cap * sizeof *eb);
        for (uint32_t a = 0; a < (uint32_t)sc.n_crystals; a++)
            for (uint32_t b = a + 1; b < (uint32_t)sc.n_crystals; b++) {
                if (!lf_pair_accepted(&sc, a, b, mrd))
                    continue;
                lf_lor_endpoints_mm(&sc, a, b, lors + 6 * n_all, lors + 6 * n_all + 3);
                vals[n_all] = pair_value(a, b);
                n_hit += box_hit(lors + 6 * n_all, &g);
                ea[n_all] = a, eb[n_all] = b;
                n_all++;
            }
        /* the iterator: same pairs (those meeting the grid), same endpoints, a < b */
        lf_allors it;
        lf_error err = {{0}};
        assert_int_equal(lf_allors_begin(&it, &sc, mrd, &g, &err), 0);
        assert_int_equal(it.pairs_total, n_all);
        const size_t nc = (size_t)sc.n_crystals;
        unsigned char *seen = calloc(nc * nc, 1);
        size_t got = 0, k;
        uint32_t ca[1000], cb[1000];
        float cl[6000];
        while ((k = lf_allors_next(&it, ca, cb, cl, 1000)) > 0) {
            for (size_t i = 0; i < k; i++) {
                assert_true(ca[i] < cb[i]);
                assert_true(lf_pair_accepted(&sc, ca[i], cb[i], mrd));
                float p1[3], p2[3];
                lf_lor_endpoints_mm(&sc, ca[i], cb[i], p1, p2);
                assert_memory_equal(p1, cl + 6 * i, sizeof p1);
                assert_memory_equal(p2, cl + 6 * i + 3, sizeof p2);
                assert_int_equal(seen[ca[i] * nc + cb[i]], 0);
                seen[ca[i] * nc + cb[i]] = 1;
            }
            got += k;
        }
        /* exactly the accepted pairs whose LOR meets the grid (grown by a voxel) */
        for (size_t j = 0; j < n_all; j++)
            assert_int_equal(seen[ea[j] * nc + eb[j]], box_hit(lors + 6 * j, &g));
        free(seen);
        assert_int_equal(it.pairs_seen, n_all);
        assert_int_equal(got, n_hit);
        lf_allors_end(&it);
        print_message("mini, MRD %d: %zu accepted pairs, %zu meet the grid\n", mrd, n_all, n_hit);
        assert_true(n_hit < n_all && n_hit > n_all / 10);

        for (int kk = 0; kk < 2; kk++) {
            float *want = image_new(&g), *img = image_new(&g);
            back_ok(KINDS[kk], &g, want, lors, n_all, NULL, NULL, vals);
            size_t calls = 0;
            if (lf_allors_back(LF_DEVICE_CPU, KINDS[kk], &sc, mrd, &g, values_cb, &calls, img, &err) != 0)
                fail_msg("%s", err.msg);
            assert_true(calls >= 1);
            double num = 0, den = 0;
            for (size_t v = 0; v < lf_grid_voxels(&g); v++)
                num += fabs((double)img[v] - want[v]), den += fabs((double)want[v]);
            assert_true(den > 0);
            assert_true(num / den < 1e-6);
            /* forward over all LORs: Σ proj * value = <img, A' values> */
            sink_acc acc = {0, 0};
            if (lf_allors_fwd(LF_DEVICE_CPU, KINDS[kk], &sc, mrd, &g, want, sink_cb, &acc, &err) != 0)
                fail_msg("%s", err.msg);
            double rhs = 0;
            for (size_t v = 0; v < lf_grid_voxels(&g); v++)
                rhs += (double)want[v] * want[v];
            assert_int_equal(acc.n, n_hit);
            assert_true(fabs(acc.sum - rhs) < 1e-5 * rhs);
            free(want), free(img);
        }
        free(lors), free(vals), free(ea), free(eb);
    }
}

/* ------------------------------------------------------------------ errors and dispatch */

static void errors_and_dispatch(void **state)
{
    (void)state;
    lf_grid g = test_grid();
    lf_tof tof = lf_tof_from_ps(143.231, 228.0, 33, 3.0);
    float *img = image_new(&g), lor[6] = {-100, 0, 0, 100, 0, 0}, out = 1, val = 1;
    int8_t bin = 17;
    lf_error err = {{0}};
    assert_int_equal(lf_proj_fwd(LF_PROJ_JOSEPH, &g, img, lor, 1, &bin, &tof, &out, &err), -1);
    assert_true(tu_contains(err.msg, "TOF bin 17"));
    assert_int_equal(lf_proj_back(LF_PROJ_SIDDON, &g, img, lor, 1, &bin, NULL, &val, &err), -1);
    assert_true(tu_contains(err.msg, "both"));
    lf_grid bad = g;
    bad.voxel_mm[1] = 0;
    assert_int_equal(lf_proj_fwd(LF_PROJ_JOSEPH, &bad, img, lor, 1, NULL, NULL, &out, &err), -1);
    assert_true(tu_contains(err.msg, "voxel size along y"));
    bad = g;
    bad.n[2] = 0;
    assert_int_equal(lf_proj_back(LF_PROJ_JOSEPH, &bad, img, lor, 1, NULL, NULL, &val, &err), -1);
    assert_true(tu_contains(err.msg, "grid size along z"));
    lf_tof bt = tof;
    bt.n_bins = 32;
    bin = 0;
    assert_int_equal(lf_proj_fwd(LF_PROJ_JOSEPH, &g, img, lor, 1, &bin, &bt, &out, &err), -1);
    assert_true(tu_contains(err.msg, "odd"));
    bt = tof;
    bt.sigma_mm = -1;
    assert_int_equal(lf_proj_fwd(LF_PROJ_JOSEPH, &g, img, lor, 1, &bin, &bt, &out, &err), -1);
    assert_true(tu_contains(err.msg, "sigma"));
    assert_int_equal(lf_proj_fwd(LF_PROJ_JOSEPH, &g, img, NULL, 1, NULL, NULL, &out, &err), -1);
    assert_int_equal(lf_proj_fwd((lf_proj_kind)7, &g, img, lor, 1, NULL, NULL, &out, &err), -1);
    /* nothing to do is fine */
    assert_int_equal(lf_proj_back(LF_PROJ_JOSEPH, &g, img, NULL, 0, NULL, NULL, NULL, &err), 0);
    /* the dispatcher: CPU works, CUDA answers clearly (this test runs where CUDA projectors may be absent) */
    assert_int_equal(lf_proj_fwd_dev(LF_DEVICE_CPU, LF_PROJ_JOSEPH, &g, img, lor, 1, NULL, NULL, &out, &err), 0);
    int rc = lf_proj_fwd_dev(LF_DEVICE_CUDA, LF_PROJ_JOSEPH, &g, img, lor, 1, NULL, NULL, &out, &err);
    if (rc != 0)
        assert_true(tu_contains(err.msg, "CUDA"));
    assert_int_equal(lf_proj_back_dev((lf_device)9, LF_PROJ_JOSEPH, &g, img, lor, 1, NULL, NULL, &val, &err), -1);
    assert_true(tu_contains(err.msg, "unknown device"));
    lf_proj_kind k;
    lf_device d;
    assert_int_equal(lf_proj_kind_parse("Siddon", &k, &err), 0);
    assert_int_equal(k, LF_PROJ_SIDDON);
    assert_int_equal(lf_proj_kind_parse("bresenham", &k, &err), -1);
    assert_true(tu_contains(err.msg, "joseph or siddon"));
    assert_int_equal(lf_device_parse("cuda", &d, &err), 0);
    assert_int_equal(d, LF_DEVICE_CUDA);
    /* TOF from picoseconds: the Quadra's numbers */
    assert_float_equal(tof.bin_width_mm, 143.231 * 0.149896, 1e-4);
    assert_float_equal(tof.sigma_mm, 228 * 0.149896 / 2.3548, 1e-4);
    free(img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(adjointness),
        cmocka_unit_test(siddon_box_exact),
        cmocka_unit_test(ball_and_cylinder),
        cmocka_unit_test(axis_aligned_exact),
        cmocka_unit_test(degenerate_lors),
        cmocka_unit_test(tof_sum_equals_nontof),
        cmocka_unit_test(tof_point_source),
        cmocka_unit_test(deterministic),
        cmocka_unit_test(allors_mini),
        cmocka_unit_test(errors_and_dispatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

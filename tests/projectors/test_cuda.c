/* CUDA projectors (kernels/projector.cu through lf_proj_fwd_dev / lf_proj_back_dev): equal to the CPU
 * projectors to 1e-4 relative, forward and back, Joseph and Siddon, TOF and non-TOF, over one and over
 * many LOR chunks (the two-stream pipeline); back accumulates into the given image like the CPU's.
 * The same on the real geometry: Quadra crystal pairs within MRD 322 through the 220x220x320 image of
 * 3.3 mm with the Quadra TOF (33 bins of 143 ps, 228 ps FWHM); and the GPU pair is adjoint on its own
 * (<Ax, y> = <x, A'y> to 1e-5, both sides computed on the GPU). And the device-resident OSEM
 * (kernels/osem_cuda.h, through lf_osem_run) against the CPU OSEM: relative L2 < 1e-4, resident and streamed.
 * Where no GPU is usable (or the build has no CUDA) the numeric tests are skipped and the program exits
 * 77 (ctest: skipped); the CUDA device must then fail with a clear message, never fall back silently.
 *
 * Tolerance per value: |cuda - cpu| <= 1e-4 |cpu| + 1e-6 max|cpu| + (Joseph only) the position bound
 * below. Same traversal code on both devices; the differences are nvcc's fused multiply-adds and, for
 * back, the order of the atomic sums. Siddon works in double: rounding alone. Joseph's sample position
 * c = c0 + k·dc (voxel units, |c| < N = 512 here) is one rounding on the GPU (fma) and two on the CPU,
 * and c0 (double, rounded to float) may differ by one ulp: together at most 2.5 ulp(N); allowing 4 ulp,
 * ε = 4·2⁻²⁴·N = 1.22e-4 voxel per axis, so each bilinear weight of a sample differs by up to
 * dl·(εa + εb) = 2.44e-4·dl, an ABSOLUTE error that no relative bound covers where a
 * voxel gets one small weight (a 3.3 mm Quadra voxel touched by one LOR differs by ~1e-4 relative).
 * Bounds, both from CPU projections (the GPU agrees with them: the error is in the position, not
 * the result):
 *   forward LOR i: Σ_samples dl·Σ_stencil|Δw|·img ≤ 4.88e-4 · (non-TOF Joseph forward projection of the
 *     3x3x3 max filter of |img|) — the filtered image interpolated anywhere in a stencil is at least
 *     the stencil's largest voxel;
 *   back voxel v: Σ_{LORs touching v} |value|·2.44e-4·dl ≤ 2.44e-4 · (3x3x3 box sum of the non-TOF Joseph
 *     back projection of |values|) — a sample's whole 2x2 stencil (weights summing to dl) lies in the
 *     3x3x3 box of each of its voxels. TOF weights are <= 1, so the non-TOF projections bound TOF too.
 * A wrong voxel, a lost sample or a TOF window mismatch costs O(1) of a weight and still fails. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "core/scanner.h"
#include "kernels/device.h"
#include "projectors/projector.h"
#include "recon/osem.h"

#define N_LORS 20000

static int have_gpu(void) { return lf_cuda_built() && lf_cuda_device_count() > 0; }

/* Anisotropic voxels, off-centre origin, non-cubic sizes (catches axis mix-ups). */
static lf_grid test_grid(void) { return lf_grid_centred(40, 36, 30, 2.5f, 3.0f, 2.0f, 4.0f, -3.0f, 6.0f); }

static void grid_centre(const lf_grid *g, double c[3])
{
    for (int i = 0; i < 3; i++)
        c[i] = g->origin_mm[i] + 0.5 * (g->n[i] - 1) * g->voxel_mm[i];
}

/* LORs through a random point of a box 1.3 x the grid around its centre, endpoints ~400 mm away; every 9th
 * nearly axial (|dz| ~ 1 m), every 13th parallel to an axis, every 29th missing the grid, one degenerate. */
static void random_lors(const lf_grid *g, lf_rng *r, float *lors, size_t n)
{
    double c[3];
    grid_centre(g, c);
    for (size_t i = 0; i < n; i++) {
        float *l = lors + 6 * i;
        double p[3], d[3];
        for (int a = 0; a < 3; a++)
            p[a] = c[a] + 0.65 * g->n[a] * g->voxel_mm[a] * (2 * lf_rng_uniform(r) - 1);
        double ph = 2 * M_PI * lf_rng_uniform(r), ct = 0.6 * (2 * lf_rng_uniform(r) - 1);
        if (i % 9 == 4)
            ct = 0.93 + 0.06 * lf_rng_uniform(r);
        double st = sqrt(1 - ct * ct);
        d[0] = st * cos(ph), d[1] = st * sin(ph), d[2] = ct;
        if (i % 13 == 6) {
            int ax = (int)(i / 13 % 3);
            d[0] = d[1] = d[2] = 0;
            d[ax] = 1;
        }
        if (i % 29 == 11)
            p[0] += 500; /* misses */
        double h1 = 380 + 40 * lf_rng_uniform(r), h2 = 380 + 40 * lf_rng_uniform(r);
        for (int a = 0; a < 3; a++) {
            l[a] = (float)(p[a] + h1 * d[a]);
            l[3 + a] = (float)(p[a] - h2 * d[a]);
        }
    }
    if (n > 17)
        memcpy(lors + 6 * 17 + 3, lors + 6 * 17, 3 * sizeof(float)); /* p1 == p2 */
}

typedef struct fixture {
    lf_grid g;
    lf_tof tof;
    float *img, *lors, *values;
    int8_t *bins;
    size_t n;
} fixture;

static void fixture_make(fixture *f, size_t n, uint64_t seed)
{
    lf_rng r;
    lf_rng_seed(&r, seed, 0);
    f->g = test_grid();
    f->tof = lf_tof_from_ps(143.231, 228.0, 33, 0);
    f->n = n;
    size_t nv = lf_grid_voxels(&f->g);
    f->img = malloc(nv * sizeof *f->img);
    f->lors = malloc(6 * n * sizeof *f->lors);
    f->values = malloc(n * sizeof *f->values);
    f->bins = malloc(n);
    assert_non_null(f->img);
    assert_non_null(f->lors);
    assert_non_null(f->values);
    assert_non_null(f->bins);
    for (size_t v = 0; v < nv; v++)
        f->img[v] = (float)(0.5 + lf_rng_uniform(&r));
    random_lors(&f->g, &r, f->lors, n);
    for (size_t i = 0; i < n; i++) {
        f->values[i] = (float)(0.1 + lf_rng_uniform(&r));
        f->bins[i] = (int8_t)((int)lf_rng_below(&r, 11) - 5); /* -5..5: most TOF windows meet the grid */
    }
    f->bins[0] = 16; /* the outermost bins are valid too */
    f->bins[1] = -16;
}

static void fixture_free(fixture *f)
{
    free(f->img);
    free(f->lors);
    free(f->values);
    free(f->bins);
}

/* |a - b| <= 1e-4 |b| + 1e-6 max|b| + extra[i] (extra may be NULL) everywhere; returns the largest
 * difference seen as a fraction of its tolerance. */
static double assert_close(const float *gpu, const float *cpu, const float *extra, size_t n, const char *what)
{
    double mx = 0, worst = 0;
    for (size_t i = 0; i < n; i++)
        mx = fmax(mx, fabs(cpu[i]));
    assert_true(mx > 0);
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)gpu[i] - cpu[i]), tol = 1e-4 * fabs(cpu[i]) + 1e-6 * mx + (extra ? extra[i] : 0.0);
        if (!(d <= tol))
            fail_msg("%s: value %zu: CUDA %.9g, CPU %.9g (difference %.3g > %.3g)", what, i, (double)gpu[i],
                     (double)cpu[i], d, tol);
        worst = fmax(worst, d / tol);
    }
    return worst;
}

/* 3x3x3 neighbourhood filter of img (edges: the part inside the grid): the maximum of |x| (box = 0) or
 * the sum (box = 1). Separable, one axis at a time. */
static float *filter333(const lf_grid *g, const float *img, int box)
{
    const size_t nv = lf_grid_voxels(g);
    float *a = malloc(nv * sizeof *a), *b = malloc(nv * sizeof *b);
    assert_non_null(a);
    assert_non_null(b);
    for (size_t v = 0; v < nv; v++)
        a[v] = box ? img[v] : fabsf(img[v]);
    const size_t stride[3] = {1, (size_t)g->n[0], (size_t)g->n[0] * g->n[1]};
    for (int ax = 0; ax < 3; ax++) {
        const size_t st = stride[ax], n = (size_t)g->n[ax];
        for (size_t v = 0; v < nv; v++) {
            size_t i = v / st % n;
            float x = a[v];
            if (i > 0)
                x = box ? x + a[v - st] : fmaxf(x, a[v - st]);
            if (i + 1 < n)
                x = box ? x + a[v + st] : fmaxf(x, a[v + st]);
            b[v] = x;
        }
        float *t = a;
        a = b, b = t;
    }
    free(b);
    return a;
}

/* The Joseph position-rounding bounds (header comment): per LOR for forward, per voxel for back. */
static void joseph_bounds(const fixture *f, float *fwd_extra, float *back_extra)
{
    lf_error err = {{0}};
    const size_t nv = lf_grid_voxels(&f->g);
    float *m = filter333(&f->g, f->img, 0);
    if (lf_proj_fwd(LF_PROJ_JOSEPH, &f->g, m, f->lors, f->n, NULL, NULL, fwd_extra, &err) != 0)
        fail_msg("CPU forward (bound): %s", err.msg);
    for (size_t i = 0; i < f->n; i++)
        fwd_extra[i] *= 4.88e-4f;
    float *absv = malloc(f->n * sizeof *absv), *bp = calloc(nv, sizeof *bp);
    assert_non_null(absv);
    assert_non_null(bp);
    for (size_t i = 0; i < f->n; i++)
        absv[i] = fabsf(f->values[i]);
    if (lf_proj_back(LF_PROJ_JOSEPH, &f->g, bp, f->lors, f->n, NULL, NULL, absv, &err) != 0)
        fail_msg("CPU back (bound): %s", err.msg);
    float *s = filter333(&f->g, bp, 1);
    for (size_t v = 0; v < nv; v++)
        back_extra[v] = 2.44e-4f * s[v];
    free(m);
    free(absv);
    free(bp);
    free(s);
}

static void compare(const fixture *f, lf_proj_kind kind, int tof)
{
    const int8_t *bins = tof ? f->bins : NULL;
    const lf_tof *t = tof ? &f->tof : NULL;
    lf_error err = {{0}};
    char what[96];
    size_t nv = lf_grid_voxels(&f->g);
    float *pc = malloc(f->n * sizeof *pc), *pg = malloc(f->n * sizeof *pg);
    float *bc = malloc(nv * sizeof *bc), *bg = malloc(nv * sizeof *bg);
    assert_non_null(pc);
    assert_non_null(pg);
    assert_non_null(bc);
    assert_non_null(bg);
    float *fx = NULL, *bx = NULL; /* Joseph: the position-rounding bounds */
    if (kind == LF_PROJ_JOSEPH) {
        fx = malloc(f->n * sizeof *fx);
        bx = malloc(nv * sizeof *bx);
        assert_non_null(fx);
        assert_non_null(bx);
        joseph_bounds(f, fx, bx);
    }
    /* forward */
    if (lf_proj_fwd_dev(LF_DEVICE_CPU, kind, &f->g, f->img, f->lors, f->n, bins, t, pc, &err) != 0)
        fail_msg("CPU forward: %s", err.msg);
    memset(pg, 0xff, f->n * sizeof *pg); /* NaN: every value must be written */
    if (lf_proj_fwd_dev(LF_DEVICE_CUDA, kind, &f->g, f->img, f->lors, f->n, bins, t, pg, &err) != 0)
        fail_msg("CUDA forward: %s", err.msg);
    snprintf(what, sizeof what, "forward %s %s, %zu LORs", lf_proj_kind_name(kind), tof ? "TOF" : "non-TOF", f->n);
    double wf = assert_close(pg, pc, fx, f->n, what);
    /* back, accumulated into a non-zero image (the input image) */
    memcpy(bc, f->img, nv * sizeof *bc);
    memcpy(bg, f->img, nv * sizeof *bg);
    if (lf_proj_back_dev(LF_DEVICE_CPU, kind, &f->g, bc, f->lors, f->n, bins, t, f->values, &err) != 0)
        fail_msg("CPU back: %s", err.msg);
    if (lf_proj_back_dev(LF_DEVICE_CUDA, kind, &f->g, bg, f->lors, f->n, bins, t, f->values, &err) != 0)
        fail_msg("CUDA back: %s", err.msg);
    snprintf(what, sizeof what, "back %s %s, %zu LORs", lf_proj_kind_name(kind), tof ? "TOF" : "non-TOF", f->n);
    double wb = assert_close(bg, bc, bx, nv, what);
    /* the back projection did add something beyond the starting image */
    double added = 0;
    for (size_t v = 0; v < nv; v++)
        added += bc[v] - f->img[v];
    assert_true(added > 0);
    print_message("%-8s %-7s %-8zu LORs: largest |CUDA - CPU| / tolerance: forward %.2g, back %.2g\n",
                  lf_proj_kind_name(kind), tof ? "TOF" : "non-TOF", f->n, wf, wb);
    free(pc);
    free(pg);
    free(bc);
    free(bg);
    free(fx);
    free(bx);
}

static void cuda_equals_cpu(void **state)
{
    (void)state;
    if (!have_gpu())
        skip();
    fixture f;
    fixture_make(&f, N_LORS, 42);
    for (int k = 0; k < 2; k++)
        for (int tof = 0; tof < 2; tof++)
            compare(&f, k ? LF_PROJ_SIDDON : LF_PROJ_JOSEPH, tof);
    fixture_free(&f);
}

/* Many small chunks: the two-stream pipeline (slot reuse, last partial chunk) gives the same numbers. */
static void cuda_chunked(void **state)
{
    (void)state;
    if (!have_gpu())
        skip();
    fixture f;
    fixture_make(&f, 5003, 7);
    setenv("LAFOV_CUDA_CHUNK", "1000", 1);
    compare(&f, LF_PROJ_JOSEPH, 1);
    compare(&f, LF_PROJ_SIDDON, 0);
    unsetenv("LAFOV_CUDA_CHUNK");
    fixture_free(&f);
}

/* Quadra events: random crystal pairs accepted at MRD 322 whose LOR meets the grid's box, each with the
 * TOF bin of a uniformly drawn point of its chord through the box (bin = round(s / w), s towards crystal a,
 * clamped to the valid range), as the stream would carry them. */
static void quadra_events(const lf_scanner *sc, const lf_grid *g, const lf_tof *tof, lf_rng *r, float *lors,
                          int8_t *bins, size_t n)
{
    double lo[3], hi[3];
    for (int a = 0; a < 3; a++) {
        lo[a] = g->origin_mm[a] - 0.5 * g->voxel_mm[a];
        hi[a] = g->origin_mm[a] + (g->n[a] - 0.5) * g->voxel_mm[a];
    }
    const int half = (tof->n_bins - 1) / 2;
    for (size_t i = 0; i < n;) {
        uint32_t a = (uint32_t)lf_rng_below(r, (uint64_t)sc->n_crystals), b = (uint32_t)lf_rng_below(r, (uint64_t)sc->n_crystals);
        if (!lf_pair_accepted(sc, a, b, 322))
            continue;
        float *l = lors + 6 * i;
        lf_lor_endpoints_mm(sc, a, b, l, l + 3);
        double t0 = 0, t1 = 1, len2 = 0;
        for (int k = 0; k < 3; k++) {
            double p = l[k], d = (double)l[3 + k] - l[k];
            len2 += d * d;
            if (d == 0) {
                if (p < lo[k] || p > hi[k])
                    t1 = -1;
                continue;
            }
            double u = (lo[k] - p) / d, v = (hi[k] - p) / d;
            t0 = fmax(t0, fmin(u, v));
            t1 = fmin(t1, fmax(u, v));
        }
        if (!(t0 < t1))
            continue;
        double t = t0 + (t1 - t0) * lf_rng_uniform(r), s = (0.5 - t) * sqrt(len2);
        long bin = lround(s / tof->bin_width_mm);
        bins[i] = (int8_t)(bin < -half ? -half : bin > half ? half : bin);
        i++;
    }
}

/* The real geometry: the full-FOV Quadra image at 3.3 mm, 1e5 events, both kinds, TOF and non-TOF. */
static void cuda_equals_cpu_quadra(void **state)
{
    (void)state;
    if (!have_gpu())
        skip();
    lf_scanner sc;
    tu_scanner("quadra", &sc);
    fixture f;
    lf_rng r;
    lf_rng_seed(&r, 2026, 1);
    f.g = lf_grid_centred(220, 220, 320, 3.3f, 3.3f, 3.3f, 0, 0, 0);
    f.tof = lf_tof_from_ps(sc.tof_bin_width_ps, sc.tof_fwhm_ps, sc.tof_bins, LF_TOF_SIGMAS_DEFAULT);
    f.n = 100000;
    size_t nv = lf_grid_voxels(&f.g);
    f.img = malloc(nv * sizeof *f.img);
    f.lors = malloc(6 * f.n * sizeof *f.lors);
    f.values = malloc(f.n * sizeof *f.values);
    f.bins = malloc(f.n);
    assert_non_null(f.img);
    assert_non_null(f.lors);
    assert_non_null(f.values);
    assert_non_null(f.bins);
    /* a smooth, positive activity (a cylinder-like blob with a gradient): no zeros to hide indexing errors */
    for (int k = 0; k < f.g.n[2]; k++)
        for (int j = 0; j < f.g.n[1]; j++)
            for (int i = 0; i < f.g.n[0]; i++) {
                double x = (i - 109.5) / 110.0, y = (j - 109.5) / 110.0, z = (k - 159.5) / 160.0;
                f.img[i + (size_t)f.g.n[0] * (j + (size_t)f.g.n[1] * k)] =
                    (float)(0.2 + exp(-2.0 * (x * x + y * y)) * (1.0 + 0.5 * z) + 0.1 * lf_rng_uniform(&r));
            }
    quadra_events(&sc, &f.g, &f.tof, &r, f.lors, f.bins, f.n);
    for (size_t i = 0; i < f.n; i++)
        f.values[i] = (float)(0.1 + lf_rng_uniform(&r));
    for (int k = 0; k < 2; k++)
        for (int tof = 0; tof < 2; tof++)
            compare(&f, k ? LF_PROJ_SIDDON : LF_PROJ_JOSEPH, tof);
    fixture_free(&f);
}

/* On the GPU alone: <A x, y> = <x, A' y> (double sums of float projections) to 1e-5 relative. The float
 * atomics of the back projection and the per-LOR float sums of the forward one each err by ~1e-7
 * relative per value, random in sign; 1e-5 leaves two orders of magnitude for that and fails on any
 * weight that differs between the two directions (a wrong voxel, a lost sample, a TOF window mismatch). */
static void cuda_adjoint(void **state)
{
    (void)state;
    if (!have_gpu())
        skip();
    fixture f;
    fixture_make(&f, N_LORS, 99);
    size_t nv = lf_grid_voxels(&f.g);
    float *ax = malloc(f.n * sizeof *ax), *aty = malloc(nv * sizeof *aty);
    assert_non_null(ax);
    assert_non_null(aty);
    lf_error err = {{0}};
    for (int k = 0; k < 2; k++)
        for (int tof = 0; tof < 2; tof++) {
            const lf_proj_kind kind = k ? LF_PROJ_SIDDON : LF_PROJ_JOSEPH;
            const int8_t *bins = tof ? f.bins : NULL;
            const lf_tof *t = tof ? &f.tof : NULL;
            if (lf_proj_fwd_dev(LF_DEVICE_CUDA, kind, &f.g, f.img, f.lors, f.n, bins, t, ax, &err) != 0)
                fail_msg("CUDA forward: %s", err.msg);
            memset(aty, 0, nv * sizeof *aty);
            if (lf_proj_back_dev(LF_DEVICE_CUDA, kind, &f.g, aty, f.lors, f.n, bins, t, f.values, &err) != 0)
                fail_msg("CUDA back: %s", err.msg);
            double l = 0, rr = 0;
            for (size_t i = 0; i < f.n; i++)
                l += (double)ax[i] * f.values[i];
            for (size_t v = 0; v < nv; v++)
                rr += (double)f.img[v] * aty[v];
            assert_true(l > 0);
            double rel = fabs(l - rr) / fabs(l);
            print_message("%-8s %-7s: GPU adjointness |<Ax,y> - <x,A'y>| / <Ax,y> = %.2g\n", lf_proj_kind_name(kind),
                          tof ? "TOF" : "non-TOF", rel);
            if (!(rel < 1e-5))
                fail_msg("%s %s: GPU adjointness %.3g >= 1e-5", lf_proj_kind_name(kind), tof ? "TOF" : "non-TOF", rel);
        }
    free(ax);
    free(aty);
    fixture_free(&f);
}

/* ---- device-resident OSEM (kernels/osem_cuda.h, reached through lf_osem_run with LF_DEVICE_CUDA) ----
 * The fixture's LORs and TOF bins as events, mult in [0.5, 1], add in [0.05, 0.3] (or both absent), the
 * sensitivity the CPU back projection of mult over these LORs (positive where events pass); from a uniform
 * start, CPU and CUDA OSEM must agree to a relative L2 difference < 1e-4 (the projectors' float rounding and
 * the atomic sums' order are all that differ). */
typedef struct osem_prog {
    int subsets, calls, out_of_order;
    const float *img;
} osem_prog;

static void on_osem_progress(void *user, int it, int sub, const float *img)
{
    osem_prog *pr = user;
    if (it != pr->calls / pr->subsets || sub != pr->calls % pr->subsets)
        pr->out_of_order = 1;
    pr->calls++;
    pr->img = img;
}

static double osem_compare(const fixture *f, lf_proj_kind kind, int tof, int factors, int iterations, int subsets)
{
    lf_error err = {{0}};
    const size_t nv = lf_grid_voxels(&f->g), n = f->n;
    float *mult = malloc(n * sizeof *mult), *add = malloc(n * sizeof *add), *sens = calloc(nv, sizeof *sens);
    float *ic = malloc(nv * sizeof *ic), *ig = malloc(nv * sizeof *ig);
    assert_non_null(mult);
    assert_non_null(add);
    assert_non_null(sens);
    assert_non_null(ic);
    assert_non_null(ig);
    lf_rng r;
    lf_rng_seed(&r, 99, 0);
    for (size_t i = 0; i < n; i++) {
        mult[i] = factors ? (float)(0.5 + 0.5 * lf_rng_uniform(&r)) : 1.0f;
        add[i] = (float)(0.05 + 0.25 * lf_rng_uniform(&r));
    }
    if (lf_proj_back(kind, &f->g, sens, f->lors, n, NULL, NULL, mult, &err) != 0)
        fail_msg("sensitivity: %s", err.msg);
    lf_osem_events ev = {.lors = f->lors, .tof_bins = f->bins, .mult = factors ? mult : NULL,
                         .add = factors ? add : NULL, .n = n};
    lf_osem_params p = {.grid = f->g, .kind = kind, .device = LF_DEVICE_CPU, .tof = tof ? &f->tof : NULL,
                        .iterations = iterations, .subsets = subsets, .mask_threshold = 0.05f};
    for (size_t v = 0; v < nv; v++)
        ic[v] = ig[v] = 1.0f;
    if (lf_osem_run(&p, &ev, sens, ic, &err) != 0)
        fail_msg("CPU OSEM: %s", err.msg);
    osem_prog pr = {subsets, 0, 0, NULL};
    p.device = LF_DEVICE_CUDA;
    p.progress = on_osem_progress;
    p.user = &pr;
    if (lf_osem_run(&p, &ev, sens, ig, &err) != 0)
        fail_msg("CUDA OSEM: %s", err.msg);
    assert_int_equal(pr.calls, iterations * subsets); /* every sub-iteration, in order, with the host image */
    assert_false(pr.out_of_order);
    assert_ptr_equal(pr.img, ig);
    double num = 0, den = 0, sum = 0;
    for (size_t v = 0; v < nv; v++) {
        const double d = (double)ig[v] - ic[v];
        num += d * d;
        den += (double)ic[v] * ic[v];
        sum += ic[v];
        assert_true(ig[v] >= 0.0f && isfinite(ig[v]));
        if (ic[v] == 0.0f) /* the mask is the same */
            assert_true(ig[v] == 0.0f);
    }
    assert_true(den > 0 && sum > 0);
    const double rel = sqrt(num / den);
    print_message("OSEM %-6s %-7s %s %d x %d, %zu events: ||CUDA - CPU|| / ||CPU|| = %.2e\n", lf_proj_kind_name(kind),
                  tof ? "TOF" : "non-TOF", factors ? "mult+add" : "plain   ", iterations, subsets, n, rel);
    assert_true(rel < 1e-4);
    free(mult);
    free(add);
    free(sens);
    free(ic);
    free(ig);
    return rel;
}

static void cuda_osem_equals_cpu(void **state)
{
    (void)state;
    if (!have_gpu())
        skip();
    fixture f;
    fixture_make(&f, N_LORS, 5);
    osem_compare(&f, LF_PROJ_SIDDON, 1, 1, 3, 4);
    osem_compare(&f, LF_PROJ_JOSEPH, 1, 1, 2, 3); /* 20000 % 3 = 2: unequal subsets */
    osem_compare(&f, LF_PROJ_JOSEPH, 0, 0, 2, 7);
    osem_compare(&f, LF_PROJ_SIDDON, 0, 1, 1, 1);
    fixture_free(&f);
}

/* Small chunks: the re-ordering upload in many pieces (resident), then the streaming mode (the events not
 * kept: every sub-iteration's subset crosses the bus in chunks); same numbers. */
static void cuda_osem_chunked(void **state)
{
    (void)state;
    if (!have_gpu())
        skip();
    fixture f;
    fixture_make(&f, 5003, 8);
    setenv("LAFOV_CUDA_CHUNK", "777", 1);
    osem_compare(&f, LF_PROJ_SIDDON, 1, 1, 2, 3);
    setenv("LAFOV_CUDA_OSEM_STREAM", "1", 1);
    osem_compare(&f, LF_PROJ_SIDDON, 1, 1, 2, 3);
    osem_compare(&f, LF_PROJ_JOSEPH, 0, 0, 2, 4);
    unsetenv("LAFOV_CUDA_OSEM_STREAM");
    unsetenv("LAFOV_CUDA_CHUNK");
    fixture_free(&f);
}

/* OSEM on CUDA keeps the projectors' argument checks: a TOF bin outside the range fails before the GPU. */
static void cuda_osem_errors(void **state)
{
    (void)state;
    if (!have_gpu())
        skip();
    lf_grid g = test_grid();
    lf_tof tof = lf_tof_from_ps(143.231, 228.0, 33, 0);
    const size_t nv = lf_grid_voxels(&g);
    float *img = malloc(nv * sizeof *img), *sens = malloc(nv * sizeof *sens), lor[6] = {-100, 0, 0, 100, 0, 0};
    assert_non_null(img);
    assert_non_null(sens);
    for (size_t v = 0; v < nv; v++)
        img[v] = sens[v] = 1.0f;
    int8_t bin = 17;
    lf_osem_events ev = {.lors = lor, .tof_bins = &bin, .n = 1};
    lf_osem_params p = {.grid = g, .kind = LF_PROJ_SIDDON, .device = LF_DEVICE_CUDA, .tof = &tof, .iterations = 1,
                        .subsets = 1};
    lf_error err = {{0}};
    assert_int_equal(lf_osem_run(&p, &ev, sens, img, &err), -1);
    assert_true(tu_contains(err.msg, "TOF bin 17"));
    /* no events: every sub-iteration zeroes the image (as on the CPU) */
    ev.n = 0;
    assert_int_equal(lf_osem_run(&p, &ev, sens, img, &err), 0);
    for (size_t v = 0; v < nv; v++)
        assert_true(img[v] == 0.0f);
    free(img);
    free(sens);
}

/* The argument checks are the CPU's: a bad TOF bin, TOF half given, nothing to do. */
static void cuda_errors(void **state)
{
    (void)state;
    if (!have_gpu())
        skip();
    lf_grid g = test_grid();
    lf_tof tof = lf_tof_from_ps(143.231, 228.0, 33, 0);
    float *img = calloc(lf_grid_voxels(&g), sizeof *img), lor[6] = {-100, 0, 0, 100, 0, 0}, out = 0, val = 1;
    assert_non_null(img);
    int8_t bin = 17;
    lf_error err = {{0}};
    assert_int_equal(lf_proj_fwd_dev(LF_DEVICE_CUDA, LF_PROJ_JOSEPH, &g, img, lor, 1, &bin, &tof, &out, &err), -1);
    assert_true(tu_contains(err.msg, "TOF bin 17"));
    assert_int_equal(lf_proj_back_dev(LF_DEVICE_CUDA, LF_PROJ_SIDDON, &g, img, lor, 1, &bin, NULL, &val, &err), -1);
    assert_int_equal(lf_proj_back_dev(LF_DEVICE_CUDA, LF_PROJ_SIDDON, &g, img, NULL, 0, NULL, NULL, NULL, &err), 0);
    assert_int_equal(lf_proj_fwd_dev(LF_DEVICE_CUDA, LF_PROJ_JOSEPH, &g, img, lor, 1, NULL, NULL, &out, &err), 0);
    assert_true(fabsf(out) == 0.0f); /* zero image */
    free(img);
}

/* No GPU: the CUDA device fails with a message naming CUDA and leaves the output untouched. */
static void no_gpu_is_an_error(void **state)
{
    (void)state;
    if (have_gpu())
        skip();
    lf_grid g = test_grid();
    float *img = calloc(lf_grid_voxels(&g), sizeof *img), lor[6] = {-100, 0, 0, 100, 0, 0}, out = 123, val = 1;
    assert_non_null(img);
    lf_error err = {{0}};
    assert_int_equal(lf_proj_fwd_dev(LF_DEVICE_CUDA, LF_PROJ_JOSEPH, &g, img, lor, 1, NULL, NULL, &out, &err), -1);
    assert_true(tu_contains(err.msg, "CUDA"));
    assert_true(out == 123);
    err.msg[0] = '\0';
    assert_int_equal(lf_proj_back_dev(LF_DEVICE_CUDA, LF_PROJ_SIDDON, &g, img, lor, 1, NULL, NULL, &val, &err), -1);
    assert_true(tu_contains(err.msg, "CUDA"));
    for (size_t v = 0; v < lf_grid_voxels(&g); v++)
        assert_true(img[v] == 0.0f);
    /* OSEM on CUDA too: a clear error, the image untouched beyond the mask */
    float *sens = malloc(lf_grid_voxels(&g) * sizeof *sens);
    assert_non_null(sens);
    for (size_t v = 0; v < lf_grid_voxels(&g); v++)
        img[v] = sens[v] = 1.0f;
    lf_osem_events ev = {.lors = lor, .n = 1};
    lf_osem_params p = {.grid = g, .kind = LF_PROJ_SIDDON, .device = LF_DEVICE_CUDA, .iterations = 1, .subsets = 1};
    err.msg[0] = '\0';
    assert_int_equal(lf_osem_run(&p, &ev, sens, img, &err), -1);
    assert_true(tu_contains(err.msg, "osem on CUDA"));
    print_message("OSEM on CUDA without a GPU: %s\n", err.msg);
    for (size_t v = 0; v < lf_grid_voxels(&g); v++)
        assert_true(img[v] == 1.0f);
    free(sens);
    free(img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cuda_equals_cpu),
        cmocka_unit_test(cuda_chunked),
        cmocka_unit_test(cuda_equals_cpu_quadra),
        cmocka_unit_test(cuda_adjoint),
        cmocka_unit_test(cuda_errors),
        cmocka_unit_test(cuda_osem_equals_cpu),
        cmocka_unit_test(cuda_osem_chunked),
        cmocka_unit_test(cuda_osem_errors),
        cmocka_unit_test(no_gpu_is_an_error),
    };
    if (!have_gpu())
        print_message("CUDA projector tests skipped: %s\n", lf_cuda_built() ? "no usable GPU" : "built without CUDA");
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    if (failed == 0 && !have_gpu())
        return 77; /* ctest: skipped (SKIP_RETURN_CODE) */
    return failed;
}

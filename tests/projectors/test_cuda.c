/* CUDA projectors (kernels/projector.cu through lf_proj_fwd_dev / lf_proj_back_dev): equal to the CPU
 * projectors to 1e-4 relative, forward and back, Joseph and Siddon, TOF and non-TOF, over one and over
 * many LOR chunks (the two-stream pipeline); back accumulates into the given image like the CPU's.
 * Where no GPU is usable (or the build has no CUDA) the numeric tests are skipped and the program exits
 * 77 (ctest: skipped); the CUDA device must then fail with a clear message, never fall back silently.
 *
 * Tolerance: |cuda - cpu| <= 1e-4 |cpu| + 1e-6 max|cpu| per value. Same traversal code on both devices;
 * the differences are fused multiply-adds on the GPU and, for back, the order of the atomic sums. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "kernels/device.h"
#include "projectors/projector.h"

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

/* |a - b| <= 1e-4 |b| + 1e-6 max|b| everywhere; returns the largest relative difference seen. */
static double assert_close(const float *gpu, const float *cpu, size_t n, const char *what)
{
    double mx = 0, worst = 0;
    for (size_t i = 0; i < n; i++)
        mx = fmax(mx, fabs(cpu[i]));
    assert_true(mx > 0);
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)gpu[i] - cpu[i]), tol = 1e-4 * fabs(cpu[i]) + 1e-6 * mx;
        if (!(d <= tol))
            fail_msg("%s: value %zu: CUDA %.9g, CPU %.9g (difference %.3g > %.3g)", what, i, (double)gpu[i],
                     (double)cpu[i], d, tol);
        if (cpu[i] != 0)
            worst = fmax(worst, d / fabs(cpu[i]));
    }
    return worst;
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
    /* forward */
    if (lf_proj_fwd_dev(LF_DEVICE_CPU, kind, &f->g, f->img, f->lors, f->n, bins, t, pc, &err) != 0)
        fail_msg("CPU forward: %s", err.msg);
    memset(pg, 0xff, f->n * sizeof *pg); /* NaN: every value must be written */
    if (lf_proj_fwd_dev(LF_DEVICE_CUDA, kind, &f->g, f->img, f->lors, f->n, bins, t, pg, &err) != 0)
        fail_msg("CUDA forward: %s", err.msg);
    snprintf(what, sizeof what, "forward %s %s, %zu LORs", lf_proj_kind_name(kind), tof ? "TOF" : "non-TOF", f->n);
    double wf = assert_close(pg, pc, f->n, what);
    /* back, accumulated into a non-zero image (the input image) */
    memcpy(bc, f->img, nv * sizeof *bc);
    memcpy(bg, f->img, nv * sizeof *bg);
    if (lf_proj_back_dev(LF_DEVICE_CPU, kind, &f->g, bc, f->lors, f->n, bins, t, f->values, &err) != 0)
        fail_msg("CPU back: %s", err.msg);
    if (lf_proj_back_dev(LF_DEVICE_CUDA, kind, &f->g, bg, f->lors, f->n, bins, t, f->values, &err) != 0)
        fail_msg("CUDA back: %s", err.msg);
    snprintf(what, sizeof what, "back %s %s, %zu LORs", lf_proj_kind_name(kind), tof ? "TOF" : "non-TOF", f->n);
    double wb = assert_close(bg, bc, nv, what);
    /* the back projection did add something beyond the starting image */
    double added = 0;
    for (size_t v = 0; v < nv; v++)
        added += bc[v] - f->img[v];
    assert_true(added > 0);
    print_message("%-8s %-7s: largest relative difference CUDA vs CPU: forward %.2g, back %.2g\n",
                  lf_proj_kind_name(kind), tof ? "TOF" : "non-TOF", wf, wb);
    free(pc);
    free(pg);
    free(bc);
    free(bg);
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
    free(img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cuda_equals_cpu),
        cmocka_unit_test(cuda_chunked),
        cmocka_unit_test(cuda_errors),
        cmocka_unit_test(no_gpu_is_an_error),
    };
    if (!have_gpu())
        print_message("CUDA projector tests skipped: %s\n", lf_cuda_built() ? "no usable GPU" : "built without CUDA");
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    if (failed == 0 && !have_gpu())
        return 77; /* ctest: skipped (SKIP_RETURN_CODE) */
    return failed;
}

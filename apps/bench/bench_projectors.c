/* lafov_bench_projectors: list-mode projector throughput on the Quadra geometry.
 *
 *   lafov_bench_projectors [--events N] [--threads T] [--grid 3.3|1.65|both] [--siddon] [--repeat R]
 *                          [--gpu-events M] [--no-gpu] [--seed S]
 *
 * Draws events: random crystal pairs of the Quadra accepted at MRD 322 whose LOR crosses the image,
 * each with the TOF bin of a random point on its chord through the image (the stream's convention:
 * bin = round(s / w), s from the LOR midpoint towards crystal a, clamped to ±16). Then times TOF and
 * non-TOF forward and back projection (Joseph; Siddon too with --siddon) through a 220x220x320 image
 * of 3.3 mm and a 440x440x640 image of 1.65 mm and prints events/s:
 *   CPU: N events (default 1e6) with T OpenMP threads (default 2), with the ratio to parallelproj
 *        v1.10.2's C/OpenMP Joseph list-mode projectors measured on the same machine type with the
 *        same set-up (issue 4; target >= 2);
 *   CUDA (through lf_proj_*_dev, when built and a GPU is usable, unless --no-gpu): M events (default
 *        1e8; target >= 1e8 TOF events/s forward and back on an H100).
 * Each figure is the best of R runs (default 1). No figure is asserted anywhere.
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "core/rng.h"
#include "io/scanner_file.h"
#include "kernels/device.h"
#include "projectors/projector.h"

typedef struct {
    const char *name;
    int n[3];
    float vox;
    double ref[4]; /* parallelproj: TOF fwd, TOF back, non-TOF fwd, non-TOF back (events/s) */
} grid_case;

static const grid_case CASES[2] = {
    {"220x220x320 @ 3.3 mm", {220, 220, 320}, 3.3f, {6.6e5, 5.1e5, 2.9e5, 1.2e5}},
    {"440x440x640 @ 1.65 mm", {440, 440, 640}, 1.65f, {3.3e5, 2.2e5, 1.1e5, 5.2e4}},
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Image memory: 2 MiB aligned and advised for transparent huge pages (fewer TLB misses). */
static float *image_alloc(size_t nv)
{
    size_t bytes = (nv * sizeof(float) + (2u << 20) - 1) & ~(size_t)((2u << 20) - 1);
    void *p = NULL;
    if (posix_memalign(&p, 2u << 20, bytes) != 0)
        return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return p;
}

/* alpha range of the segment inside the box; 1 when it meets it */
static int clip(const float *l, const double lo[3], const double hi[3], double *t0, double *t1)
{
    *t0 = 0.0, *t1 = 1.0;
    for (int i = 0; i < 3; i++) {
        double p = l[i], d = (double)l[3 + i] - l[i];
        if (d == 0.0) {
            if (p < lo[i] || p > hi[i])
                return 0;
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
    return *t0 < *t1;
}

/* Events in blocks of 2^16, each from its own random stream: the same events whatever the threads. */
static void draw_events(const lf_scanner *sc, const lf_grid *g, const lf_tof *tof, uint64_t seed, size_t n, float *lors,
                        int8_t *bins)
{
    double lo[3], hi[3];
    for (int i = 0; i < 3; i++) {
        lo[i] = g->origin_mm[i] - 0.5 * g->voxel_mm[i];
        hi[i] = g->origin_mm[i] + (g->n[i] - 0.5) * g->voxel_mm[i];
    }
    const int half = (tof->n_bins - 1) / 2;
    const size_t bs = (size_t)1 << 16, nblocks = (n + bs - 1) / bs;
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t blk = 0; blk < nblocks; blk++) {
        lf_rng r;
        lf_rng_seed(&r, seed, blk);
        size_t end = (blk + 1) * bs < n ? (blk + 1) * bs : n;
        for (size_t i = blk * bs; i < end;) {
            uint32_t a = (uint32_t)lf_rng_below(&r, (uint64_t)sc->n_crystals), b = (uint32_t)lf_rng_below(&r, (uint64_t)sc->n_crystals);
            if (!lf_pair_accepted(sc, a, b, 322))
                continue;
            float *l = lors + 6 * i;
            lf_lor_endpoints_mm(sc, a, b, l, l + 3);
            double t0, t1;
            if (!clip(l, lo, hi, &t0, &t1))
                continue;
            double t = t0 + (t1 - t0) * lf_rng_uniform(&r), len = 0;
            for (int k = 0; k < 3; k++)
                len += ((double)l[3 + k] - l[k]) * ((double)l[3 + k] - l[k]);
            double s = (0.5 - t) * sqrt(len); /* towards point 1 = crystal a */
            long bin = lround(s / tof->bin_width_mm);
            bins[i] = (int8_t)(bin < -half ? -half : bin > half ? half : bin);
            i++;
        }
    }
}

typedef struct {
    int which, siddon, repeat;
    uint64_t seed;
} options;

/* Times the four operations per grid and kind on one device; 0, or -1 after printing the error. */
static int bench_device(lf_device dev, const lf_scanner *sc, const lf_tof *tof, size_t n, const options *o)
{
    float *lors = malloc(n * 6 * sizeof *lors), *vals = malloc(n * sizeof *vals), *out = malloc(n * sizeof *out);
    int8_t *bins = malloc(n);
    int rc = 0;
    if (!lors || !vals || !out || !bins) {
        fprintf(stderr, "lafov_bench_projectors: out of memory for %zu events\n", n);
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < n; i++)
        vals[i] = 1.0f;
    lf_error err = {{0}};
    for (int c = 0; c < 2 && rc == 0; c++) {
        if (!(o->which & (1 << c)))
            continue;
        const grid_case *gc = &CASES[c];
        lf_grid g = lf_grid_centred(gc->n[0], gc->n[1], gc->n[2], gc->vox, gc->vox, gc->vox, 0, 0, 0);
        size_t nv = lf_grid_voxels(&g);
        float *img = image_alloc(nv);
        if (!img) {
            fprintf(stderr, "lafov_bench_projectors: out of memory for the %s image\n", gc->name);
            rc = -1;
            break;
        }
        for (size_t v = 0; v < nv; v++)
            img[v] = 1.0f;
        draw_events(sc, &g, tof, o->seed, n, lors, bins);
        for (int kind = 0; kind < 1 + o->siddon && rc == 0; kind++) {
            const lf_proj_kind pk = kind ? LF_PROJ_SIDDON : LF_PROJ_JOSEPH;
            static const char *ops[4] = {"TOF fwd", "TOF back", "non-TOF fwd", "non-TOF back"};
            for (int op = 0; op < 4 && rc == 0; op++) {
                const int tofon = op < 2, back = op & 1;
                double best = 1e300;
                for (int rep = 0; rep < o->repeat && rc == 0; rep++) {
                    if (back)
                        memset(img, 0, nv * sizeof *img);
                    double t0 = now_s();
                    rc = back ? lf_proj_back_dev(dev, pk, &g, img, lors, n, tofon ? bins : NULL, tofon ? tof : NULL, vals, &err)
                              : lf_proj_fwd_dev(dev, pk, &g, img, lors, n, tofon ? bins : NULL, tofon ? tof : NULL, out, &err);
                    double dt = now_s() - t0;
                    if (dt < best)
                        best = dt;
                }
                if (rc != 0) {
                    fprintf(stderr, "lafov_bench_projectors: %s\n", err.msg);
                    break;
                }
                double eps = (double)n / best;
                const char *dn = dev == LF_DEVICE_CUDA ? "cuda" : "cpu";
                if (pk == LF_PROJ_JOSEPH && dev == LF_DEVICE_CPU)
                    printf("%-4s %-22s %-7s %-13s %12.3g %12.2g %7.2f\n", dn, gc->name, lf_proj_kind_name(pk), ops[op], eps,
                           gc->ref[op], eps / gc->ref[op]);
                else
                    printf("%-4s %-22s %-7s %-13s %12.3g %12s %7s\n", dn, gc->name, lf_proj_kind_name(pk), ops[op], eps, "-", "-");
                fflush(stdout);
                if (back) /* a back projection leaves the image non-uniform: restore it */
                    for (size_t v = 0; v < nv; v++)
                        img[v] = 1.0f;
            }
        }
        free(img);
    }
    free(lors), free(vals), free(out), free(bins);
    return rc;
}

int main(int argc, char **argv)
{
    size_t n = 1000000, n_gpu = 100000000;
    int threads = 2, gpu = 1;
    options o = {3, 0, 1, 1};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--events") == 0 && i + 1 < argc)
            n = (size_t)strtod(argv[++i], NULL);
        else if (strcmp(argv[i], "--gpu-events") == 0 && i + 1 < argc)
            n_gpu = (size_t)strtod(argv[++i], NULL);
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--grid") == 0 && i + 1 < argc) {
            const char *v = argv[++i];
            o.which = strcmp(v, "3.3") == 0 ? 1 : strcmp(v, "1.65") == 0 ? 2 : 3;
        } else if (strcmp(argv[i], "--siddon") == 0)
            o.siddon = 1;
        else if (strcmp(argv[i], "--no-gpu") == 0)
            gpu = 0;
        else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc)
            o.repeat = atoi(argv[++i]);
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            o.seed = strtoull(argv[++i], NULL, 10);
        else {
            fprintf(stderr,
                    "usage: %s [--events N] [--threads T] [--grid 3.3|1.65|both] [--siddon] [--repeat R] [--gpu-events M] "
                    "[--no-gpu] [--seed S]\n",
                    argv[0]);
            return 2;
        }
    }
    if (n < 1 || n_gpu < 1 || threads < 1 || o.repeat < 1) {
        fprintf(stderr, "lafov_bench_projectors: --events, --gpu-events, --threads and --repeat must be >= 1\n");
        return 2;
    }
    lf_scanner sc;
    lf_error err = {{0}};
    if (lf_scanner_by_name(NULL, "quadra", &sc, &err) != 0) {
        fprintf(stderr, "lafov_bench_projectors: %s\n", err.msg);
        return 1;
    }
    omp_set_num_threads(threads);
    const lf_tof tof = lf_tof_from_ps(sc.tof_bin_width_ps, sc.tof_fwhm_ps, sc.tof_bins, LF_TOF_SIGMAS_DEFAULT);
    printf("lafov projector benchmark: %s; random pairs within MRD 322 crossing the image\n", sc.full_name);
    printf("TOF: %d bins of %.2f mm, sigma %.2f mm (FWHM %.0f ps), kernel truncated at %.1f sigma\n", tof.n_bins,
           (double)tof.bin_width_mm, (double)tof.sigma_mm, sc.tof_fwhm_ps, (double)tof.n_sigmas);
    printf("CPU: %zu events, %d threads; ratio = lafov / parallelproj v1.10.2 C/OpenMP Joseph, same machine type and "
           "set-up, 2 threads (issue 4; target >= 2)\n\n",
           n, threads);
    printf("%-4s %-22s %-7s %-13s %12s %12s %7s\n", "dev", "image", "kind", "operation", "events/s", "parallelproj", "ratio");
    int rc = bench_device(LF_DEVICE_CPU, &sc, &tof, n, &o);
    if (rc == 0 && gpu) {
        char desc[256];
        if (lf_cuda_built() && lf_cuda_device_count() > 0 && lf_cuda_describe(0, desc, sizeof desc) == 0) {
            printf("\nCUDA: %s, %zu events (target: >= 1e8 TOF events/s forward and back on an H100)\n", desc, n_gpu);
            rc = bench_device(LF_DEVICE_CUDA, &sc, &tof, n_gpu, &o);
        } else {
            printf("\nCUDA: %s: no GPU figures\n", lf_cuda_built() ? "no usable GPU" : "built without CUDA");
        }
    }
    return rc ? 1 : 0;
}

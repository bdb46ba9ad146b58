/* lafov kernels: the CUDA list-mode projectors behind lf_proj_fwd_dev / lf_proj_back_dev
 * (projectors/projector_cuda.h; same signatures and semantics as the CPU lf_proj_fwd / lf_proj_back).
 *
 * The traversal is not re-implemented here: every thread runs projectors/traverse.h's set-up and walk
 * (lf_joseph_setup + lf_joseph_walk, lf_siddon_setup + lf_siddon_walk), compiled as __host__ __device__
 * by nvcc, over the whole grid (z planes 0..n[2]). One thread per LOR; the back projection scatters with
 * atomicAdd (traverse.h's LF_SCATTER_ADD in the device pass), so its float sums are not bit-reproducible
 * run to run (they agree with the CPU to float rounding). The TOF kernel table (8 KB) is copied into each
 * block's shared memory.
 *
 * Host side, per call (nothing is kept between calls): the image (and TOF table) go to the GPU once; the
 * LORs stream through in chunks of at most LF_CU_CHUNK (or $LAFOV_CUDA_CHUNK), alternating between two
 * CUDA streams so that the copy of one chunk overlaps the kernel of the other; fwd copies each chunk's
 * results back, back copies the accumulated image back once at the end (img is accumulated into, as on
 * the CPU).
 * Every CUDA error becomes an lf_fail message naming the step; nothing aborts.
 * lf_cuda_proj_fwd_async / _back_async launch the same kernels on arrays already on the GPU (no checks, no
 * copies; the device-resident OSEM of osem_cuda.cu uses them).
 */
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <cuda_runtime.h>

extern "C" {
#include "../core/error.h"
}
#include "../projectors/projector_cuda.h"

#include "../projectors/traverse.h" /* LF_SCATTER_ADD: atomicAdd in the device pass */


#define LF_CU_BLOCK 256                 /* threads per block */
#define LF_CU_CHUNK ((size_t)1 << 22)   /* LORs per chunk (96 MB of endpoints) */

/* LORs per chunk: LF_CU_CHUNK, or $LAFOV_CUDA_CHUNK (tests use small chunks to exercise the pipeline). */
static size_t lf_cu_chunk(size_t n)
{
    size_t c = LF_CU_CHUNK;
    const char *env = getenv("LAFOV_CUDA_CHUNK");
    if (env && *env) {
        char *end;
        unsigned long long v = strtoull(env, &end, 10);
        if (*end == '\0' && v >= 1 && v <= LF_CU_CHUNK)
            c = (size_t)v;
    }
    return n < c ? n : c;
}

static_assert(sizeof(lf_tofk) % sizeof(unsigned) == 0, "lf_tofk is copied to shared memory word by word");

/* ------------------------------------------------------------------ kernels */

/* The block's copy of the TOF table, in dynamic shared memory (TOF launches reserve sizeof(lf_tofk)). */
static __device__ __forceinline__ const lf_tofk *lf_cu_tofk_shared(const lf_tofk *tk_global)
{
    extern __shared__ unsigned lf_cu_smem[];
    const unsigned *src = reinterpret_cast<const unsigned *>(tk_global);
    for (unsigned w = threadIdx.x; w < (unsigned)(sizeof(lf_tofk) / sizeof(unsigned)); w += blockDim.x)
        lf_cu_smem[w] = src[w];
    __syncthreads();
    return reinterpret_cast<const lf_tofk *>(lf_cu_smem);
}

/* out[i] = the traverse.h walk of LOR i (forward: back = 0). */
template <int KIND, int TOF>
__global__ void __launch_bounds__(LF_CU_BLOCK)
lf_cu_fwd_kernel(const lf_grid g, const float *img, const float *lors, const int8_t *bins, const lf_tofk *tk_global,
                 float *out, unsigned n)
{
    const lf_tofk *tk = TOF ? lf_cu_tofk_shared(tk_global) : nullptr; /* before any thread leaves */
    const unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    const float *lor = lors + 6 * (size_t)i;
    const int bin = TOF ? (int)bins[i] : 0;
    float *im = const_cast<float *>(img); /* the forward walk only reads */
    float s = 0.0f;
    if (KIND == LF_PROJ_JOSEPH) {
        lf_jray r;
        if (lf_joseph_setup(&g, lor, tk, bin, &r))
            s = lf_joseph_walk(&g, &r, 0, g.n[2], tk, im, 0.0f, 0, TOF);
    } else {
        lf_sray r;
        if (lf_siddon_setup(&g, lor, tk, bin, &r))
            s = lf_siddon_walk(&g, &r, 0, g.n[2], tk, im, 0.0f, 0, TOF);
    }
    out[i] = s;
}

/* img += values[i] * (the traverse.h walk of LOR i) (back = 1: atomicAdd per voxel). */
template <int KIND, int TOF>
__global__ void __launch_bounds__(LF_CU_BLOCK)
lf_cu_back_kernel(const lf_grid g, float *img, const float *lors, const int8_t *bins, const lf_tofk *tk_global,
                  const float *values, unsigned n)
{
    const lf_tofk *tk = TOF ? lf_cu_tofk_shared(tk_global) : nullptr;
    const unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    const float v = values[i];
    if (v == 0.0f) /* contributes nothing (as on the CPU) */
        return;
    const float *lor = lors + 6 * (size_t)i;
    const int bin = TOF ? (int)bins[i] : 0;
    if (KIND == LF_PROJ_JOSEPH) {
        lf_jray r;
        if (lf_joseph_setup(&g, lor, tk, bin, &r))
            lf_joseph_walk(&g, &r, 0, g.n[2], tk, img, v, 1, TOF);
    } else {
        lf_sray r;
        if (lf_siddon_setup(&g, lor, tk, bin, &r))
            lf_siddon_walk(&g, &r, 0, g.n[2], tk, img, v, 1, TOF);
    }
}

/* ------------------------------------------------------------------ launchers */

typedef void (*lf_cu_fwd_fn)(const lf_grid *, const float *, const float *, const int8_t *, const lf_tofk *, float *,
                             unsigned, cudaStream_t);
typedef void (*lf_cu_back_fn)(const lf_grid *, float *, const float *, const int8_t *, const lf_tofk *, const float *,
                              unsigned, cudaStream_t);

static unsigned lf_cu_blocks(unsigned n) { return (n + LF_CU_BLOCK - 1) / LF_CU_BLOCK; }

template <int KIND, int TOF>
static void lf_cu_launch_fwd(const lf_grid *g, const float *img, const float *lors, const int8_t *bins,
                             const lf_tofk *tk, float *out, unsigned n, cudaStream_t st)
{
    lf_cu_fwd_kernel<KIND, TOF><<<lf_cu_blocks(n), LF_CU_BLOCK, TOF ? sizeof(lf_tofk) : 0, st>>>(*g, img, lors, bins, tk,
                                                                                                out, n);
}

template <int KIND, int TOF>
static void lf_cu_launch_back(const lf_grid *g, float *img, const float *lors, const int8_t *bins, const lf_tofk *tk,
                              const float *values, unsigned n, cudaStream_t st)
{
    lf_cu_back_kernel<KIND, TOF><<<lf_cu_blocks(n), LF_CU_BLOCK, TOF ? sizeof(lf_tofk) : 0, st>>>(*g, img, lors, bins,
                                                                                                 tk, values, n);
}

static lf_cu_fwd_fn lf_cu_pick_fwd(lf_proj_kind kind, int tof)
{
    if (kind == LF_PROJ_JOSEPH)
        return tof ? lf_cu_launch_fwd<LF_PROJ_JOSEPH, 1> : lf_cu_launch_fwd<LF_PROJ_JOSEPH, 0>;
    return tof ? lf_cu_launch_fwd<LF_PROJ_SIDDON, 1> : lf_cu_launch_fwd<LF_PROJ_SIDDON, 0>;
}

static lf_cu_back_fn lf_cu_pick_back(lf_proj_kind kind, int tof)
{
    if (kind == LF_PROJ_JOSEPH)
        return tof ? lf_cu_launch_back<LF_PROJ_JOSEPH, 1> : lf_cu_launch_back<LF_PROJ_JOSEPH, 0>;
    return tof ? lf_cu_launch_back<LF_PROJ_SIDDON, 1> : lf_cu_launch_back<LF_PROJ_SIDDON, 0>;
}

/* ------------------------------------------------------------------ host side */

/* The GPU resources of one call; lf_cu_job_free releases whatever was allocated. */
typedef struct lf_cu_job {
    float *img;          /* device image */
    lf_tofk *tk;         /* device TOF table (NULL: non-TOF) */
    float *lors[2];      /* per slot: chunk of endpoints */
    int8_t *bins[2];     /* per slot: chunk of TOF bins (TOF only) */
    float *vec[2];       /* per slot: chunk of results (fwd) or values (back) */
    cudaStream_t st[2];
    int have_st[2];
} lf_cu_job;

static void lf_cu_job_free(lf_cu_job *j)
{
    for (int s = 0; s < 2; s++) {
        if (j->have_st[s])
            cudaStreamSynchronize(j->st[s]);
        cudaFree(j->lors[s]);
        cudaFree(j->bins[s]);
        cudaFree(j->vec[s]);
        if (j->have_st[s])
            cudaStreamDestroy(j->st[s]);
    }
    cudaFree(j->tk);
    cudaFree(j->img);
    cudaGetLastError(); /* clear a non-sticky error from the clean-up itself */
}

/* Turns a CUDA error into the call's message: "WHAT: CUDA STEP: error text (cudaErrorName)". */
static int lf_cu_fail(lf_error *err, const char *what, const char *step, cudaError_t e)
{
    lf_fail(err, "%s: CUDA %s: %s (%s)", what, step, cudaGetErrorString(e), cudaGetErrorName(e));
    cudaGetLastError();
    return -1;
}

#define LF_CU_TRY(call, step)                                                                                          \
    do {                                                                                                               \
        cudaError_t e_ = (call);                                                                                       \
        if (e_ != cudaSuccess)                                                                                         \
            return lf_cu_fail(err, what, (step), e_);                                                                  \
    } while (0)

static int lf_cu_alloc(void **p, size_t bytes, const char *what, const char *name, lf_error *err)
{
    cudaError_t e = cudaMalloc(p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        *p = NULL;
        char step[160];
        snprintf(step, sizeof step, "allocating %.1f MB for the %s on the GPU", (double)bytes / 1e6, name);
        return lf_cu_fail(err, what, step, e);
    }
    return 0;
}

/* The projectors' shared argument checks (projectors/traverse.c), then the GPU's availability.
 * *tk gets the host TOF table (caller frees) or NULL for non-TOF. */
static int lf_cu_prepare(const char *what, lf_proj_kind kind, const lf_grid *g, const void *img, const float *lors,
                         size_t n, const int8_t *bins, const lf_tof *tof, const void *vec, lf_tofk **tk, lf_error *err)
{
    if (lf_proj_prepare(what, kind, g, img, lors, n, bins, tof, vec, tk, err) != 0)
        return -1;
    char why[256];
    if (!lf_cuda_proj_available(why, sizeof why)) {
        free(*tk);
        *tk = NULL;
        return lf_fail(err, "%s: no CUDA device: %s", what, why);
    }
    return 0;
}

/* Image, TOF table, streams and the two chunk slots on the GPU. vec_bytes: per LOR of the vec buffers. */
static int lf_cu_setup(lf_cu_job *j, const char *what, const lf_grid *g, const float *img, const lf_tofk *tk,
                       size_t chunk, lf_error *err)
{
    const size_t vox = lf_grid_voxels(g);
    if (lf_cu_alloc((void **)&j->img, vox * sizeof(float), what, "image", err) != 0)
        return -1;
    LF_CU_TRY(cudaMemcpy(j->img, img, vox * sizeof(float), cudaMemcpyHostToDevice), "copying the image to the GPU");
    if (tk) {
        if (lf_cu_alloc((void **)&j->tk, sizeof *tk, what, "TOF kernel table", err) != 0)
            return -1;
        LF_CU_TRY(cudaMemcpy(j->tk, tk, sizeof *tk, cudaMemcpyHostToDevice), "copying the TOF kernel table");
    }
    for (int s = 0; s < 2; s++) {
        LF_CU_TRY(cudaStreamCreateWithFlags(&j->st[s], cudaStreamNonBlocking), "creating a stream");
        j->have_st[s] = 1;
        if (lf_cu_alloc((void **)&j->lors[s], chunk * 6 * sizeof(float), what, "LOR chunk", err) != 0 ||
            (tk && lf_cu_alloc((void **)&j->bins[s], chunk, what, "TOF bin chunk", err) != 0) ||
            lf_cu_alloc((void **)&j->vec[s], chunk * sizeof(float), what, "value chunk", err) != 0)
            return -1;
    }
    /* the synchronous copies above may return before their DMA ends; the streams do not wait for them */
    LF_CU_TRY(cudaDeviceSynchronize(), "uploading the image");
    return 0;
}

/* Copies chunk [off, off + m) of the LORs (and bins) into slot s, asynchronously on its stream. */
static int lf_cu_upload(lf_cu_job *j, const char *what, int s, const float *lors, const int8_t *bins, size_t off,
                        size_t m, lf_error *err)
{
    LF_CU_TRY(cudaMemcpyAsync(j->lors[s], lors + 6 * off, m * 6 * sizeof(float), cudaMemcpyHostToDevice, j->st[s]),
              "copying LORs to the GPU");
    if (j->bins[s])
        LF_CU_TRY(cudaMemcpyAsync(j->bins[s], bins + off, m, cudaMemcpyHostToDevice, j->st[s]),
                  "copying TOF bins to the GPU");
    return 0;
}

static int lf_cu_fwd_run(lf_cu_job *j, lf_proj_kind kind, const lf_grid *g, const float *img, const float *lors,
                         size_t n, const int8_t *bins, const lf_tofk *tk, float *out, lf_error *err)
{
    const char *what = "forward projection";
    const size_t chunk = lf_cu_chunk(n);
    if (lf_cu_setup(j, what, g, img, tk, chunk, err) != 0)
        return -1;
    const lf_cu_fwd_fn launch = lf_cu_pick_fwd(kind, tk != NULL);
    size_t prev_off = 0, prev_m = 0;
    int prev_s = 0;
    for (size_t off = 0, c = 0; off < n; off += chunk, c++) {
        const size_t m = n - off < chunk ? n - off : chunk;
        const int s = (int)(c & 1);
        /* slot s was last used by chunk c - 2, whose results were copied back (and its stream synchronised)
         * in iteration c - 1; stream order keeps this chunk's copies behind that anyway */
        if (lf_cu_upload(j, what, s, lors, bins, off, m, err) != 0)
            return -1;
        launch(g, j->img, j->lors[s], j->bins[s], j->tk, j->vec[s], (unsigned)m, j->st[s]);
        LF_CU_TRY(cudaGetLastError(), "launching the forward kernel");
        if (prev_m) { /* the previous chunk's results, while this chunk's kernel runs */
            LF_CU_TRY(cudaMemcpyAsync(out + prev_off, j->vec[prev_s], prev_m * sizeof(float), cudaMemcpyDeviceToHost,
                                      j->st[prev_s]),
                      "copying projections from the GPU");
            LF_CU_TRY(cudaStreamSynchronize(j->st[prev_s]), "running the forward kernel");
        }
        prev_off = off;
        prev_m = m;
        prev_s = s;
    }
    if (prev_m) {
        LF_CU_TRY(cudaMemcpyAsync(out + prev_off, j->vec[prev_s], prev_m * sizeof(float), cudaMemcpyDeviceToHost,
                                  j->st[prev_s]),
                  "copying projections from the GPU");
        LF_CU_TRY(cudaStreamSynchronize(j->st[prev_s]), "running the forward kernel");
    }
    return 0;
}

static int lf_cu_back_run(lf_cu_job *j, lf_proj_kind kind, const lf_grid *g, float *img, const float *lors, size_t n,
                          const int8_t *bins, const lf_tofk *tk, const float *values, lf_error *err)
{
    const char *what = "back projection";
    const size_t chunk = lf_cu_chunk(n);
    if (lf_cu_setup(j, what, g, img, tk, chunk, err) != 0)
        return -1;
    const lf_cu_back_fn launch = lf_cu_pick_back(kind, tk != NULL);
    for (size_t off = 0, c = 0; off < n; off += chunk, c++) {
        const size_t m = n - off < chunk ? n - off : chunk;
        const int s = (int)(c & 1);
        /* stream order: these copies into slot s wait for chunk c - 2's kernel on the same stream */
        if (lf_cu_upload(j, what, s, lors, bins, off, m, err) != 0)
            return -1;
        LF_CU_TRY(cudaMemcpyAsync(j->vec[s], values + off, m * sizeof(float), cudaMemcpyHostToDevice, j->st[s]),
                  "copying values to the GPU");
        launch(g, j->img, j->lors[s], j->bins[s], j->tk, j->vec[s], (unsigned)m, j->st[s]);
        LF_CU_TRY(cudaGetLastError(), "launching the back-projection kernel");
    }
    LF_CU_TRY(cudaDeviceSynchronize(), "running the back-projection kernel");
    LF_CU_TRY(cudaMemcpy(img, j->img, lf_grid_voxels(g) * sizeof(float), cudaMemcpyDeviceToHost),
              "copying the image from the GPU");
    return 0;
}

/* ------------------------------------------------------------------ public entry points */

extern "C" int lf_cuda_proj_fwd_async(lf_proj_kind kind, const lf_grid *g, const float *img, const float *lors,
                                      size_t n, const int8_t *tof_bins, const struct lf_tofk *tk, float *out,
                                      void *stream, lf_error *err)
{
    const lf_cu_fwd_fn launch = lf_cu_pick_fwd(kind, tk != NULL);
    for (size_t off = 0; off < n; off += LF_CU_CHUNK) {
        const size_t m = n - off < LF_CU_CHUNK ? n - off : LF_CU_CHUNK;
        launch(g, img, lors + 6 * off, tk ? tof_bins + off : NULL, tk, out + off, (unsigned)m, (cudaStream_t)stream);
        cudaError_t e = cudaGetLastError();
        if (e != cudaSuccess)
            return lf_cu_fail(err, "forward projection", "launching the forward kernel", e);
    }
    return 0;
}

extern "C" int lf_cuda_proj_back_async(lf_proj_kind kind, const lf_grid *g, float *img, const float *lors, size_t n,
                                       const int8_t *tof_bins, const struct lf_tofk *tk, const float *values,
                                       void *stream, lf_error *err)
{
    const lf_cu_back_fn launch = lf_cu_pick_back(kind, tk != NULL);
    for (size_t off = 0; off < n; off += LF_CU_CHUNK) {
        const size_t m = n - off < LF_CU_CHUNK ? n - off : LF_CU_CHUNK;
        launch(g, img, lors + 6 * off, tk ? tof_bins + off : NULL, tk, values + off, (unsigned)m,
               (cudaStream_t)stream);
        cudaError_t e = cudaGetLastError();
        if (e != cudaSuccess)
            return lf_cu_fail(err, "back projection", "launching the back-projection kernel", e);
    }
    return 0;
}

extern "C" int lf_cuda_proj_available(char *why, size_t n)
{
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e == cudaSuccess && count < 1)
        e = cudaErrorNoDevice;
    if (e == cudaSuccess) {
        /* a device is there: can it run these kernels (sm_90 code, or PTX its driver can compile)? */
        cudaFuncAttributes a;
        e = cudaFuncGetAttributes(&a, lf_cu_fwd_kernel<LF_PROJ_JOSEPH, 0>);
        if (e != cudaSuccess) {
            int dev = 0;
            cudaDeviceProp p;
            cudaError_t e2 = cudaGetDevice(&dev);
            if (e2 == cudaSuccess)
                e2 = cudaGetDeviceProperties(&p, dev);
            if (e2 == cudaSuccess && why && n)
                snprintf(why, n, "device %d (%s, compute capability %d.%d) cannot run lafov's kernels: %s", dev, p.name,
                         p.major, p.minor, cudaGetErrorString(e));
            else if (why && n)
                snprintf(why, n, "%s", cudaGetErrorString(e));
            cudaGetLastError();
            return 0;
        }
        return 1;
    }
    int drv = 0, rt = 0;
    cudaDriverGetVersion(&drv);
    cudaRuntimeGetVersion(&rt);
    if (why && n) {
        if (e == cudaErrorInsufficientDriver && drv == 0)
            snprintf(why, n, "no NVIDIA driver is installed (libcuda not found)");
        else if (e == cudaErrorInsufficientDriver)
            snprintf(why, n, "the NVIDIA driver supports CUDA %d.%d, older than this lafov's CUDA runtime %d.%d",
                     drv / 1000, drv % 1000 / 10, rt / 1000, rt % 1000 / 10);
        else
            snprintf(why, n, "%s (%s)", cudaGetErrorString(e), cudaGetErrorName(e));
    }
    cudaGetLastError(); /* clear the error (no driver, no device) */
    return 0;
}

extern "C" int lf_cuda_proj_fwd(lf_proj_kind kind, const lf_grid *g, const float *img, const float *lors, size_t n,
                                const int8_t *tof_bins, const lf_tof *tof, float *out, lf_error *err)
{
    lf_tofk *tk;
    if (lf_cu_prepare("forward projection", kind, g, img, lors, n, tof_bins, tof, out, &tk, err) != 0)
        return -1;
    int rc = 0;
    if (n > 0) {
        lf_cu_job j;
        memset(&j, 0, sizeof j);
        rc = lf_cu_fwd_run(&j, kind, g, img, lors, n, tof_bins, tk, out, err);
        lf_cu_job_free(&j);
    }
    free(tk);
    return rc;
}

extern "C" int lf_cuda_proj_back(lf_proj_kind kind, const lf_grid *g, float *img, const float *lors, size_t n,
                                 const int8_t *tof_bins, const lf_tof *tof, const float *values, lf_error *err)
{
    lf_tofk *tk;
    if (lf_cu_prepare("back projection", kind, g, img, lors, n, tof_bins, tof, values, &tk, err) != 0)
        return -1;
    int rc = 0;
    if (n > 0) {
        lf_cu_job j;
        memset(&j, 0, sizeof j);
        rc = lf_cu_back_run(&j, kind, g, img, lors, n, tof_bins, tk, values, err);
        lf_cu_job_free(&j);
    }
    free(tk);
    return rc;
}

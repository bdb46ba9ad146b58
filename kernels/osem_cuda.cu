/* lafov kernels: device-resident list-mode OSEM (see osem_cuda.h for what stays on the GPU and why).
 *
 * The projections are kernels/projector.cu's (lf_cuda_proj_fwd_async / _back_async: one traversal,
 * projectors/traverse.h); this file adds three thin element-wise kernels (subset re-ordering, quotient,
 * update) and the host loop. One CUDA stream carries everything, so stream order is the only ordering
 * needed; the host waits only to hand the image to a progress callback and at the end.
 */
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <cuda_runtime.h>

extern "C" {
#include "../core/error.h"
}
#include "../projectors/projector_cuda.h"
#include "../projectors/traverse.h" /* lf_tofk, lf_proj_prepare */
#include "osem_cuda.h"

#define LF_CU_OSEM_BLOCK 256
#define LF_CU_OSEM_CHUNK ((size_t)1 << 22)                  /* events per upload / launch chunk */
#define LF_CU_OSEM_TINY 1e-30f                              /* = LF_OSEM_TINY (recon/osem.h) */
#define LF_CU_OSEM_MARGIN ((size_t)512 << 20)               /* GPU memory left free when events are kept */

/* Events per chunk: LF_CU_OSEM_CHUNK, or $LAFOV_CUDA_CHUNK (as the projectors; tests use small chunks). */
static size_t lf_cu_osem_chunk(void)
{
    const char *env = getenv("LAFOV_CUDA_CHUNK");
    if (env && *env) {
        char *end;
        unsigned long long v = strtoull(env, &end, 10);
        if (*end == '\0' && v >= 1 && v <= LF_CU_OSEM_CHUNK)
            return (size_t)v;
    }
    return LF_CU_OSEM_CHUNK;
}

/* ------------------------------------------------------------------ kernels */

/* Subset b of M holds events b, b+M, ...: q = n / M events each, one more for b < r = n % M, so subset b
 * starts at b·q + min(b, r) in subset order. Event i goes to start(i % M) + i / M. */
static __host__ __device__ size_t lf_cu_subset_start(size_t b, size_t q, size_t r) { return b * q + (b < r ? b : r); }

/* Scatters m events, original indices c0 .. c0+m-1 (staged contiguously), into subset order. */
__global__ void lf_cu_osem_permute(const float *slors, const int8_t *sbins, const float *smult, const float *sadd,
                                   size_t c0, unsigned m, unsigned M, size_t q, size_t r, float *lors, int8_t *bins,
                                   float *mult, float *add)
{
    const unsigned t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= m)
        return;
    const size_t i = c0 + t;
    const size_t dst = lf_cu_subset_start(i % M, q, r) + i / M;
    for (int d = 0; d < 6; d++)
        lors[6 * dst + d] = slors[6 * (size_t)t + d];
    if (bins)
        bins[dst] = sbins[t];
    if (mult)
        mult[dst] = smult[t];
    if (add)
        add[dst] = sadd[t];
}

/* vals = mult / max(mult·vals + add, TINY), 0 where mult·vals + add <= 0 or is not finite (recon/osem.h's guard),
 * with the CPU's roundings: no fused multiply-add. */
__global__ void lf_cu_osem_quotient(float *vals, const float *mult, const float *add, unsigned m)
{
    const unsigned k = blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= m)
        return;
    const float mu = mult ? mult[k] : 1.0f;
    const float ex = __fadd_rn(__fmul_rn(mu, vals[k]), add ? add[k] : 0.0f);
    vals[k] = (ex > 0.0f && isfinite(ex)) ? __fdiv_rn(mu, fmaxf(ex, LF_CU_OSEM_TINY)) : 0.0f;
}

/* img_j ← img_j · max(back_j, 0) · M / s_j where s_j > thr and s_j > 0, else 0 (in double, as the CPU). */
__global__ void lf_cu_osem_update(float *img, const float *back, const float *sens, float thr, double M, size_t nv)
{
    for (size_t j = blockIdx.x * (size_t)blockDim.x + threadIdx.x; j < nv; j += (size_t)gridDim.x * blockDim.x) {
        const float bj = back[j] > 0.0f ? back[j] : 0.0f;
        const float s = sens[j];
        img[j] = (s > thr && s > 0.0f)
                     ? (float)__ddiv_rn(__dmul_rn(__dmul_rn((double)img[j], (double)bj), M), (double)s)
                     : 0.0f;
    }
}

/* ------------------------------------------------------------------ host side */

typedef struct lf_cu_osem {
    cudaStream_t st, st2;            /* st: all the work; st2: the image's way back to the host */
    int have_st, have_st2, have_ev;
    cudaEvent_t ev;                  /* on st: the snapshot of the image is taken */
    float *img, *sens, *back, *vals; /* device: image-sized ×3, chunk-sized */
    float *snap;                     /* device: the image after the last sub-iteration, on its way to the host */
    lf_tofk *tk;                     /* device TOF table, or NULL */
    /* device events: all of them in subset order (resident), or one chunk (streaming) */
    float *lors, *mult, *add;
    int8_t *bins;
    /* resident: a device staging chunk in original order; streaming: a pinned host chunk */
    float *s_lors, *s_mult, *s_add;
    int8_t *s_bins;
    int pinned;
} lf_cu_osem;

static void lf_cu_osem_free(lf_cu_osem *o)
{
    if (o->have_st)
        cudaStreamSynchronize(o->st);
    if (o->have_st2)
        cudaStreamSynchronize(o->st2);
    cudaFree(o->snap);
    cudaFree(o->img);
    cudaFree(o->sens);
    cudaFree(o->back);
    cudaFree(o->vals);
    cudaFree(o->tk);
    cudaFree(o->lors);
    cudaFree(o->mult);
    cudaFree(o->add);
    cudaFree(o->bins);
    if (o->pinned) {
        cudaFreeHost(o->s_lors);
        cudaFreeHost(o->s_mult);
        cudaFreeHost(o->s_add);
        cudaFreeHost(o->s_bins);
    } else {
        cudaFree(o->s_lors);
        cudaFree(o->s_mult);
        cudaFree(o->s_add);
        cudaFree(o->s_bins);
    }
    if (o->have_ev)
        cudaEventDestroy(o->ev);
    if (o->have_st2)
        cudaStreamDestroy(o->st2);
    if (o->have_st)
        cudaStreamDestroy(o->st);
    cudaGetLastError(); /* a non-sticky error of the clean-up itself */
}

static int lf_cu_osem_fail(lf_error *err, const char *step, cudaError_t e)
{
    lf_fail(err, "osem on CUDA: %s: %s (%s)", step, cudaGetErrorString(e), cudaGetErrorName(e));
    cudaGetLastError();
    return -1;
}

#define LF_CU_OSEM_TRY(call, step)                                                                                     \
    do {                                                                                                               \
        cudaError_t e_ = (call);                                                                                       \
        if (e_ != cudaSuccess)                                                                                         \
            return lf_cu_osem_fail(err, (step), e_);                                                                   \
    } while (0)

/* cudaMalloc (or cudaMallocHost when host) of bytes for NAME unless want is 0 (then *p stays NULL). */
static int lf_cu_osem_alloc(void **p, size_t bytes, int want, int host, const char *name, lf_error *err)
{
    if (!want)
        return 0;
    cudaError_t e = host ? cudaMallocHost(p, bytes ? bytes : 1) : cudaMalloc(p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        *p = NULL;
        char step[160];
        snprintf(step, sizeof step, "allocating %.1f MB for the %s%s", (double)bytes / 1e6, name,
                 host ? " (pinned host memory)" : "");
        return lf_cu_osem_fail(err, step, e);
    }
    return 0;
}

static unsigned lf_cu_osem_blocks(size_t n) { return (unsigned)((n + LF_CU_OSEM_BLOCK - 1) / LF_CU_OSEM_BLOCK); }

/* Resident: every event to the GPU in subset order, chunk by chunk through the device staging buffers. */
static int lf_cu_osem_upload_all(lf_cu_osem *o, const lf_cuda_osem_args *a, int tof, size_t chunk, lf_error *err)
{
    const size_t n = a->n, M = (size_t)a->subsets;
    for (size_t c0 = 0; c0 < n; c0 += chunk) {
        const size_t m = n - c0 < chunk ? n - c0 : chunk;
        LF_CU_OSEM_TRY(cudaMemcpyAsync(o->s_lors, a->lors + 6 * c0, m * 6 * sizeof(float), cudaMemcpyHostToDevice, o->st),
                       "copying LORs to the GPU");
        if (tof)
            LF_CU_OSEM_TRY(cudaMemcpyAsync(o->s_bins, a->tof_bins + c0, m, cudaMemcpyHostToDevice, o->st),
                           "copying TOF bins to the GPU");
        if (a->mult)
            LF_CU_OSEM_TRY(cudaMemcpyAsync(o->s_mult, a->mult + c0, m * sizeof(float), cudaMemcpyHostToDevice, o->st),
                           "copying the multiplicative factors to the GPU");
        if (a->add)
            LF_CU_OSEM_TRY(cudaMemcpyAsync(o->s_add, a->add + c0, m * sizeof(float), cudaMemcpyHostToDevice, o->st),
                           "copying the additive terms to the GPU");
        lf_cu_osem_permute<<<lf_cu_osem_blocks(m), LF_CU_OSEM_BLOCK, 0, o->st>>>(
            o->s_lors, o->s_bins, o->s_mult, o->s_add, c0, (unsigned)m, (unsigned)M, n / M, n % M, o->lors,
            tof ? o->bins : NULL, a->mult ? o->mult : NULL, a->add ? o->add : NULL);
        LF_CU_OSEM_TRY(cudaGetLastError(), "launching the subset re-ordering");
    }
    return 0;
}

/* Streaming: events k0 .. k0+m-1 of subset b (original indices b + k·M) into the pinned chunk, then to the GPU. */
static int lf_cu_osem_upload_chunk(lf_cu_osem *o, const lf_cuda_osem_args *a, int tof, size_t b, size_t k0, size_t m,
                                   lf_error *err)
{
    const size_t M = (size_t)a->subsets;
    LF_CU_OSEM_TRY(cudaStreamSynchronize(o->st), "projecting the previous chunk"); /* the pinned chunk is free */
    for (size_t k = 0; k < m; k++) {
        const size_t i = b + (k0 + k) * M;
        memcpy(o->s_lors + 6 * k, a->lors + 6 * i, 6 * sizeof(float));
        if (tof)
            o->s_bins[k] = a->tof_bins[i];
        if (a->mult)
            o->s_mult[k] = a->mult[i];
        if (a->add)
            o->s_add[k] = a->add[i];
    }
    LF_CU_OSEM_TRY(cudaMemcpyAsync(o->lors, o->s_lors, m * 6 * sizeof(float), cudaMemcpyHostToDevice, o->st),
                   "copying LORs to the GPU");
    if (tof)
        LF_CU_OSEM_TRY(cudaMemcpyAsync(o->bins, o->s_bins, m, cudaMemcpyHostToDevice, o->st), "copying TOF bins to the GPU");
    if (a->mult)
        LF_CU_OSEM_TRY(cudaMemcpyAsync(o->mult, o->s_mult, m * sizeof(float), cudaMemcpyHostToDevice, o->st),
                       "copying the multiplicative factors to the GPU");
    if (a->add)
        LF_CU_OSEM_TRY(cudaMemcpyAsync(o->add, o->s_add, m * sizeof(float), cudaMemcpyHostToDevice, o->st),
                       "copying the additive terms to the GPU");
    return 0;
}

/* The image after sub-iteration (it, sub) to the host and the progress callback. The snapshot was taken on st
 * (event ev) before the next sub-iteration's work was queued there, so this copy (st2; a pageable copy blocks the
 * host until it is done) runs while the GPU computes that next sub-iteration. */
static int lf_cu_osem_report(lf_cu_osem *o, const lf_cuda_osem_args *a, size_t nv, int it, int sub, float *img,
                             lf_error *err)
{
    LF_CU_OSEM_TRY(cudaMemcpyAsync(img, o->snap, nv * sizeof(float), cudaMemcpyDeviceToHost, o->st2),
                   "copying the image from the GPU");
    LF_CU_OSEM_TRY(cudaStreamSynchronize(o->st2), "running the sub-iteration");
    a->progress(a->user, it, sub, img);
    return 0;
}

static int lf_cu_osem_loop(lf_cu_osem *o, const lf_cuda_osem_args *a, const lf_tofk *tk_host, float *img, lf_error *err)
{
    const size_t nv = lf_grid_voxels(&a->grid), n = a->n, M = (size_t)a->subsets;
    const int tof = tk_host != NULL;
    const size_t per_event = 6 * sizeof(float) + (tof ? 1 : 0) + (a->mult ? sizeof(float) : 0) +
                             (a->add ? sizeof(float) : 0);
    const size_t sub_max = n / M + (n % M ? 1 : 0); /* the largest subset */
    size_t chunk = lf_cu_osem_chunk();
    if (chunk > sub_max)
        chunk = sub_max ? sub_max : 1;

    LF_CU_OSEM_TRY(cudaStreamCreateWithFlags(&o->st, cudaStreamNonBlocking), "creating a stream");
    o->have_st = 1;
    if (a->progress) {
        LF_CU_OSEM_TRY(cudaStreamCreateWithFlags(&o->st2, cudaStreamNonBlocking), "creating a stream");
        o->have_st2 = 1;
        LF_CU_OSEM_TRY(cudaEventCreateWithFlags(&o->ev, cudaEventDisableTiming), "creating an event");
        o->have_ev = 1;
        if (lf_cu_osem_alloc((void **)&o->snap, nv * sizeof(float), 1, 0, "image snapshot", err) != 0)
            return -1;
    }
    if (lf_cu_osem_alloc((void **)&o->img, nv * sizeof(float), 1, 0, "image", err) != 0 ||
        lf_cu_osem_alloc((void **)&o->sens, nv * sizeof(float), 1, 0, "sensitivity", err) != 0 ||
        lf_cu_osem_alloc((void **)&o->back, nv * sizeof(float), 1, 0, "back projection", err) != 0 ||
        lf_cu_osem_alloc((void **)&o->vals, chunk * sizeof(float), 1, 0, "projections", err) != 0 ||
        lf_cu_osem_alloc((void **)&o->tk, sizeof(lf_tofk), tof, 0, "TOF kernel table", err) != 0)
        return -1;
    LF_CU_OSEM_TRY(cudaMemcpyAsync(o->img, img, nv * sizeof(float), cudaMemcpyHostToDevice, o->st),
                   "copying the image to the GPU");
    LF_CU_OSEM_TRY(cudaMemcpyAsync(o->sens, a->sens, nv * sizeof(float), cudaMemcpyHostToDevice, o->st),
                   "copying the sensitivity to the GPU");
    if (tof)
        LF_CU_OSEM_TRY(cudaMemcpyAsync(o->tk, tk_host, sizeof(lf_tofk), cudaMemcpyHostToDevice, o->st),
                       "copying the TOF kernel table");

    /* keep every event on the GPU when they fit beside a staging chunk and the margin */
    size_t free_b = 0, total_b = 0;
    LF_CU_OSEM_TRY(cudaMemGetInfo(&free_b, &total_b), "asking for the free GPU memory");
    const char *stream_env = getenv("LAFOV_CUDA_OSEM_STREAM");
    const int force_stream = stream_env && stream_env[0] == '1';
    const size_t resident_need = (n + chunk) * per_event + LF_CU_OSEM_MARGIN;
    const int resident = !force_stream && resident_need <= free_b;
    const size_t store = resident ? n : chunk;
    if (lf_cu_osem_alloc((void **)&o->lors, store * 6 * sizeof(float), 1, 0, "LORs", err) != 0 ||
        lf_cu_osem_alloc((void **)&o->bins, store, tof, 0, "TOF bins", err) != 0 ||
        lf_cu_osem_alloc((void **)&o->mult, store * sizeof(float), a->mult != NULL, 0, "multiplicative factors", err) != 0 ||
        lf_cu_osem_alloc((void **)&o->add, store * sizeof(float), a->add != NULL, 0, "additive terms", err) != 0)
        return -1;
    o->pinned = !resident;
    if (lf_cu_osem_alloc((void **)&o->s_lors, chunk * 6 * sizeof(float), 1, o->pinned, "LOR chunk", err) != 0 ||
        lf_cu_osem_alloc((void **)&o->s_bins, chunk, tof, o->pinned, "TOF bin chunk", err) != 0 ||
        lf_cu_osem_alloc((void **)&o->s_mult, chunk * sizeof(float), a->mult != NULL, o->pinned, "factor chunk", err) != 0 ||
        lf_cu_osem_alloc((void **)&o->s_add, chunk * sizeof(float), a->add != NULL, o->pinned, "additive chunk", err) != 0)
        return -1;
    if (resident && lf_cu_osem_upload_all(o, a, tof, chunk, err) != 0)
        return -1;

    const unsigned upd_blocks = lf_cu_osem_blocks(nv < ((size_t)1 << 24) ? nv : ((size_t)1 << 24));
    int pend_it = -1, pend_sub = 0; /* the sub-iteration whose image is still to be reported */
    for (int it = 0; it < a->iterations; it++) {
        for (size_t b = 0; b < M; b++) {
            const size_t m_b = b < n ? (n - b + M - 1) / M : 0, start = lf_cu_subset_start(b, n / M, n % M);
            LF_CU_OSEM_TRY(cudaMemsetAsync(o->back, 0, nv * sizeof(float), o->st), "zeroing the back projection");
            for (size_t k0 = 0; k0 < m_b; k0 += chunk) {
                const size_t m = m_b - k0 < chunk ? m_b - k0 : chunk;
                const size_t off = resident ? start + k0 : 0;
                if (!resident && lf_cu_osem_upload_chunk(o, a, tof, b, k0, m, err) != 0)
                    return -1;
                const float *lors = o->lors + 6 * off;
                const int8_t *bins = tof ? o->bins + off : NULL;
                if (lf_cuda_proj_fwd_async(a->kind, &a->grid, o->img, lors, m, bins, o->tk, o->vals, o->st, err) != 0)
                    return lf_fail_prefix(err, "osem on CUDA");
                lf_cu_osem_quotient<<<lf_cu_osem_blocks(m), LF_CU_OSEM_BLOCK, 0, o->st>>>(
                    o->vals, a->mult ? o->mult + off : NULL, a->add ? o->add + off : NULL, (unsigned)m);
                LF_CU_OSEM_TRY(cudaGetLastError(), "launching the quotient");
                if (lf_cuda_proj_back_async(a->kind, &a->grid, o->back, lors, m, bins, o->tk, o->vals, o->st, err) != 0)
                    return lf_fail_prefix(err, "osem on CUDA");
            }
            lf_cu_osem_update<<<upd_blocks, LF_CU_OSEM_BLOCK, 0, o->st>>>(o->img, o->back, o->sens, a->threshold,
                                                                         (double)M, nv);
            LF_CU_OSEM_TRY(cudaGetLastError(), "launching the update");
            if (a->progress) {
                /* this sub-iteration is queued: report the previous one meanwhile, then snapshot this one (the
                 * previous copy from snap has ended) */
                if (pend_it >= 0 && lf_cu_osem_report(o, a, nv, pend_it, pend_sub, img, err) != 0)
                    return -1;
                LF_CU_OSEM_TRY(cudaMemcpyAsync(o->snap, o->img, nv * sizeof(float), cudaMemcpyDeviceToDevice, o->st),
                               "taking a snapshot of the image");
                LF_CU_OSEM_TRY(cudaEventRecord(o->ev, o->st), "recording an event");
                LF_CU_OSEM_TRY(cudaStreamWaitEvent(o->st2, o->ev, 0), "waiting for an event");
                pend_it = it;
                pend_sub = (int)b;
            }
        }
    }
    if (pend_it >= 0 && lf_cu_osem_report(o, a, nv, pend_it, pend_sub, img, err) != 0)
        return -1;
    if (!a->progress) {
        LF_CU_OSEM_TRY(cudaMemcpyAsync(img, o->img, nv * sizeof(float), cudaMemcpyDeviceToHost, o->st),
                       "copying the image from the GPU");
        LF_CU_OSEM_TRY(cudaStreamSynchronize(o->st), "running the iterations");
    }
    return 0;
}

extern "C" int lf_cuda_osem_run(const lf_cuda_osem_args *a, float *img, lf_error *err)
{
    if (!a || !img || !a->sens)
        return lf_fail(err, "osem on CUDA: no arguments, image or sensitivity");
    if (a->iterations < 1 || a->subsets < 1)
        return lf_fail(err, "osem on CUDA: iterations (%d) and subsets (%d) must be >= 1", a->iterations, a->subsets);
    lf_tofk *tk = NULL;
    /* the projectors' checks (kind, grid, TOF set-up, every TOF bin), once for all events */
    if (lf_proj_prepare("osem on CUDA", a->kind, &a->grid, img, a->lors, a->n, a->tof ? a->tof_bins : NULL, a->tof,
                        img, &tk, err) != 0)
        return -1;
    char why[256];
    if (!lf_cuda_proj_available(why, sizeof why)) {
        free(tk);
        return lf_fail(err, "osem on CUDA: no usable CUDA device: %s; use the CPU", why);
    }
    lf_cu_osem o;
    memset(&o, 0, sizeof o);
    int rc = lf_cu_osem_loop(&o, a, tk, img, err);
    lf_cu_osem_free(&o);
    free(tk);
    return rc;
}

/* lafov projectors: the CUDA implementations behind lf_proj_fwd_dev / lf_proj_back_dev (kernels/).
 *
 * Same signatures and semantics as the CPU lf_proj_fwd / lf_proj_back (projector.h): host arrays in,
 * host arrays out; the implementation copies to and from the GPU (atomics are fine in the back
 * projection there). The _async variants run the same kernels on GPU-resident arrays (for the
 * device-resident OSEM, kernels/osem_cuda.h). The CUDA side may include projectors/traverse.h: its walks are __host__
 * __device__ under nvcc, so both devices share one traversal.
 *
 * Compiled when LAFOV_HAVE_CUDA (kernels/projector.cu); dispatch.c only calls them in such builds and
 * otherwise answers LF_DEVICE_CUDA with "built without CUDA".
 */
#ifndef LF_PROJECTOR_CUDA_H
#define LF_PROJECTOR_CUDA_H

#include "projector.h"

#ifdef __cplusplus
extern "C" {
#endif

int lf_cuda_proj_fwd(lf_proj_kind kind, const lf_grid *g, const float *img, const float *lors, size_t n,
                     const int8_t *tof_bins, const lf_tof *tof, float *out, lf_error *err);
int lf_cuda_proj_back(lf_proj_kind kind, const lf_grid *g, float *img, const float *lors, size_t n,
                      const int8_t *tof_bins, const lf_tof *tof, const float *values, lf_error *err);

/* 1 when a CUDA device can run lafov's kernels; else 0 and why (size n) gets the reason (no driver, a
 * driver older than the runtime, no device, a GPU the kernels were not compiled for). */
int lf_cuda_proj_available(char *why, size_t n);

/* Device-resident callers (kernels/osem_cuda.cu): the same kernels on arrays that already live on the
 * GPU. img, lors, tof_bins (TOF only), out / values are device pointers; tk is the device copy of the TOF
 * table (projectors/traverse.h's lf_tofk, built by lf_proj_prepare + cudaMemcpy) or NULL for non-TOF;
 * stream is a cudaStream_t (NULL: the default stream). Nothing is checked, allocated or copied: the
 * caller has run lf_proj_prepare on the events. The launches are asynchronous (n may exceed one launch:
 * it is split); -1 with err only for a launch error; kernel faults show at the caller's next
 * synchronisation. fwd writes out[0..n); back accumulates into img with atomics. */
struct lf_tofk;
int lf_cuda_proj_fwd_async(lf_proj_kind kind, const lf_grid *g, const float *img, const float *lors, size_t n,
                           const int8_t *tof_bins, const struct lf_tofk *tk, float *out, void *stream, lf_error *err);
int lf_cuda_proj_back_async(lf_proj_kind kind, const lf_grid *g, float *img, const float *lors, size_t n,
                            const int8_t *tof_bins, const struct lf_tofk *tk, const float *values, void *stream,
                            lf_error *err);

#ifdef __cplusplus
}
#endif

#endif

/* lafov projectors: the CUDA implementations behind lf_proj_fwd_dev / lf_proj_back_dev (kernels/).
 *
 * Same signatures and semantics as the CPU lf_proj_fwd / lf_proj_back (projector.h): host arrays in,
 * host arrays out; the implementation copies to and from the GPU (atomics are fine in the back
 * projection there). The CUDA side may include projectors/traverse.h: its walks are __host__
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

#ifdef __cplusplus
}
#endif

#endif

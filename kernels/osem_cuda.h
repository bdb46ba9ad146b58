/* lafov kernels: device-resident list-mode OSEM (the CUDA path of lf_osem_run, recon/osem.h).
 *
 * lf_osem_run validates its arguments, masks the initial image and, when p->device == LF_DEVICE_CUDA and
 * no PSF is asked for, hands the sub-iterations to lf_cuda_osem_run. For the whole call the image, the
 * sensitivity, the back-projection buffer and the events of every subset (LORs, TOF bins, mult, add) stay
 * on the GPU; a sub-iteration is four launches and no host traffic:
 *   forward projection (kernels/projector.cu's kernel, through lf_cuda_proj_fwd_async),
 *   quotient   q_e = mult_e / max(mult_e·fwd_e + add_e, LF_OSEM_TINY)  (0 where that is <= 0 or not finite),
 *   back projection of q (lf_cuda_proj_back_async, atomics) into the zeroed buffer,
 *   update     λ_j ← λ_j · max(back_j, 0) · M / s_j where s_j > threshold and s_j > 0, else 0.
 * The quotient and the update are written with the CPU's roundings (no fused multiply-add; the update in
 * double), so the two devices differ only by the projectors' float rounding and the order of the atomic
 * sums (relative L2 ~1e-7 on the Quadra; tests/projectors/test_cuda.c).
 *
 * Events are uploaded once per call, re-ordered so that each subset (events b, b+M, b+2M, ...) is
 * contiguous, through a pinned staging buffer. When they do not fit in the GPU's free memory (a margin
 * kept), or when $LAFOV_CUDA_OSEM_CHUNK is set (a positive number of events; tests use it), they are not
 * kept: every sub-iteration streams its subset through a chunk of that many events instead (slower:
 * the events cross the bus once per sub-iteration). With a progress callback, the image of every
 * sub-iteration is copied into the host's img (from a device snapshot, on a second stream, while the GPU
 * already computes the next sub-iteration) and handed to it; without one, img is written once at the end.
 * Not deterministic to the bit (the atomic sums); everything else as lf_osem_run.
 *
 * The CPU-only build (osem_nocuda.c) answers with "built without CUDA"; a build with CUDA but no usable
 * GPU fails with the reason. Neither falls back to the CPU.
 */
#ifndef LF_OSEM_CUDA_H
#define LF_OSEM_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "../core/error.h"
#include "../projectors/projector.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One OSEM run's inputs, all host memory (arrays as lf_osem_events / lf_osem_params describe them). */
typedef struct lf_cuda_osem_args {
    lf_proj_kind kind;
    lf_grid grid;
    const lf_tof *tof;        /* NULL: non-TOF (tof_bins ignored) */
    int iterations, subsets;  /* >= 1 */
    const float *lors;        /* n × 6 */
    const int8_t *tof_bins;   /* n (TOF only) */
    const float *mult;        /* n, or NULL (1) */
    const float *add;         /* n, or NULL (0) */
    size_t n;
    const float *sens;        /* voxels: s_j, finite and >= 0 (checked by the caller) */
    float threshold;          /* voxels with s_j <= threshold are kept at 0 */
    void (*progress)(void *user, int iteration, int subset, const float *img); /* may be NULL */
    void *user;
} lf_cuda_osem_args;

/* Runs a->iterations × a->subsets sub-iterations on the GPU, img (host, image-sized, already masked) in and
 * out. Returns 0, or -1 with err (no CUDA build or usable GPU, bad TOF bins, GPU out of memory, a CUDA
 * error naming the step; img then holds the last sub-iteration that reached the host). */
int lf_cuda_osem_run(const lf_cuda_osem_args *a, float *img, lf_error *err);

#ifdef __cplusplus
}
#endif

#endif

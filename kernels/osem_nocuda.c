/* lafov kernels: the CPU-only build (CUDA off or nvcc missing) of the device-resident OSEM (osem_cuda.h):
 * it fails cleanly; lf_osem_run never falls back to the CPU on its own. */
#include "osem_cuda.h"

int lf_cuda_osem_run(const lf_cuda_osem_args *a, float *img, lf_error *err)
{
    (void)a;
    (void)img;
    return lf_fail(err, "osem on CUDA: this lafov was built without CUDA; use the CPU");
}

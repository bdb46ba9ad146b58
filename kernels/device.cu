/* lafov kernels: CUDA device discovery (see device.h). Every runtime error means "no device". */
#include "device.h"

#include <cstdio>
#include <cuda_runtime.h>

extern "C" int lf_cuda_built(void) { return 1; }

extern "C" int lf_cuda_device_count(void)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError(); /* clear the sticky error (no driver, no device) */
        return 0;
    }
    return n > 0 ? n : 0;
}

extern "C" int lf_cuda_describe(int i, char *buf, size_t n)
{
    cudaDeviceProp p;
    if (i < 0 || i >= lf_cuda_device_count() || cudaGetDeviceProperties(&p, i) != cudaSuccess) {
        cudaGetLastError();
        if (buf && n)
            snprintf(buf, n, "no CUDA device %d", i);
        return -1;
    }
    if (buf && n)
        snprintf(buf, n, "%s, cc %d.%d, %.1f GiB, %d SMs", p.name, p.major, p.minor,
                 (double)p.totalGlobalMem / (1024.0 * 1024.0 * 1024.0), p.multiProcessorCount);
    return 0;
}

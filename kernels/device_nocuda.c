/* lafov kernels: the CPU-only build (CUDA off or nvcc missing): no devices (see device.h). */
#include "device.h"

#include <stdio.h>

int lf_cuda_built(void) { return 0; }

int lf_cuda_device_count(void) { return 0; }

int lf_cuda_describe(int i, char *buf, size_t n)
{
    if (buf && n)
        snprintf(buf, n, "no CUDA device %d (built without CUDA)", i);
    return -1;
}

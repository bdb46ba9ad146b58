/* lafov kernels: which CUDA devices this build can use.
 *
 * The CUDA variant (device.cu) asks the CUDA runtime; the CPU-only variant (device_nocuda.c) is
 * compiled when CUDA is off or nvcc is missing. Neither treats a missing GPU or driver as an error:
 * the program then runs everything on the CPU.
 */
#ifndef LF_DEVICE_H
#define LF_DEVICE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 1 when the CUDA kernels were compiled in, 0 otherwise. */
int lf_cuda_built(void);
/* Usable CUDA devices; 0 when CUDA is not built, no driver or no GPU is present (never an error). */
int lf_cuda_device_count(void);
/* Writes a one-line description of device i ("NVIDIA H100 80GB HBM3, cc 9.0, 79.1 GiB, 132 SMs")
 * into buf (size n). Returns 0, or -1 (buf gets the reason) when i is not a usable device. */
int lf_cuda_describe(int i, char *buf, size_t n);

#ifdef __cplusplus
}
#endif

#endif

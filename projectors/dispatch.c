/* lafov projectors: run-time choice of the device (projector.h). */
#include "../kernels/device.h"
#include "projector.h"
#include "projector_cuda.h"

/* 0 when CUDA can run the projectors, else -1 with the reason. */
static int cuda_usable(const char *what, lf_error *err)
{
#if defined(LAFOV_HAVE_CUDA)
    if (lf_cuda_device_count() < 1)
        return lf_fail(err, "%s on CUDA: no usable CUDA device (driver or GPU missing); use the CPU", what);
    return 0;
#else
    return lf_fail(err, "%s on CUDA: this lafov was built without CUDA; use the CPU", what);
#endif
}

int lf_proj_fwd_dev(lf_device dev, lf_proj_kind kind, const lf_grid *g, const float *img, const float *lors,
                    size_t n, const int8_t *tof_bins, const lf_tof *tof, float *out, lf_error *err)
{
    switch (dev) {
    case LF_DEVICE_CPU:
        return lf_proj_fwd(kind, g, img, lors, n, tof_bins, tof, out, err);
    case LF_DEVICE_CUDA:
        if (cuda_usable("forward projection", err) != 0)
            return -1;
#if defined(LAFOV_HAVE_CUDA)
        return lf_cuda_proj_fwd(kind, g, img, lors, n, tof_bins, tof, out, err);
#else
        return -1;
#endif
    }
    return lf_fail(err, "forward projection: unknown device %d", (int)dev);
}

int lf_proj_back_dev(lf_device dev, lf_proj_kind kind, const lf_grid *g, float *img, const float *lors,
                     size_t n, const int8_t *tof_bins, const lf_tof *tof, const float *values, lf_error *err)
{
    switch (dev) {
    case LF_DEVICE_CPU:
        return lf_proj_back(kind, g, img, lors, n, tof_bins, tof, values, err);
    case LF_DEVICE_CUDA:
        if (cuda_usable("back projection", err) != 0)
            return -1;
#if defined(LAFOV_HAVE_CUDA)
        return lf_cuda_proj_back(kind, g, img, lors, n, tof_bins, tof, values, err);
#else
        return -1;
#endif
    }
    return lf_fail(err, "back projection: unknown device %d", (int)dev);
}

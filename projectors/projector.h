/* lafov projectors: list-mode forward and back projection (Joseph, Siddon; TOF and non-TOF).
 *
 * Geometry-free: the projectors see an image grid and LOR endpoints in scanner-frame millimetres,
 * never a scanner or a file. All arrays are flat, in host memory, owned by the caller; nothing is kept
 * between calls. The CPU versions (OpenMP, omp_get_max_threads() threads) are lf_proj_fwd/back; the
 * _dev dispatchers pick CPU or CUDA at run time (CUDA: same signatures, projectors/projector_cuda.h).
 * Design notes: docs/projectors.md.
 *
 *   image   float[n0*n1*n2], x fastest: voxel (i,j,k) is img[i + n0*(j + n1*k)], its centre at
 *           origin_mm + (i,j,k)*voxel_mm (scanner frame).
 *   lors    float[6] per LOR: x1,y1,z1, x2,y2,z2 (mm). Point 1 is crystal a of the stream's TOF
 *           convention; the projection is the integral over the segment p1..p2 only.
 *   fwd     out[i] = ∫ img dl over LOR i, dl in mm (TOF: weighted by the kernel of its bin).
 *   back    img[v] += Σ_i values[i] * (weight of voxel v in LOR i): the exact adjoint of fwd.
 *           Deterministic: bit-identical for any thread count and run (see docs/projectors.md).
 *   TOF     on when both tof and tof_bins are given. Bin t covers s ∈ [(t-½)w, (t+½)w], s the
 *           distance from the LOR midpoint towards point 1 (a positive bin lies on crystal a's side).
 *           The kernel is a Gaussian of sigma_mm truncated at ±n_sigmas·σ and renormalised to unit
 *           area, integrated over the bin: ½[erf-differences] / erf(n_sigmas/√2). Its bin weights sum
 *           to exactly 1 over all bins, so Σ_t TOF projection = non-TOF projection.
 * Every function returns 0, or -1 with err filled (bad grid, bad TOF set-up, a bin outside
 * ±(n_bins-1)/2, CUDA unavailable, out of memory).
 */
#ifndef LF_PROJECTOR_H
#define LF_PROJECTOR_H

#include <stddef.h>
#include <stdint.h>

#include "../core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lf_grid {
    int n[3];            /* voxels along x, y, z (x fastest) */
    float voxel_mm[3];   /* voxel size */
    float origin_mm[3];  /* scanner-frame centre of voxel (0,0,0) */
} lf_grid;

/* The recommended truncation: ±3σ keeps 99.73 % of the Gaussian (the rest is redistributed by the
 * renormalisation) and touches ~(6σ + w)/voxel samples per TOF event. */
#define LF_TOF_SIGMAS_DEFAULT 3.0f

typedef struct lf_tof {
    float bin_width_mm;  /* TOF bin width along the LOR: bin_ps * 0.149896 */
    float sigma_mm;      /* Gaussian σ along the LOR: FWHM_ps * 0.149896 / 2.3548 */
    float n_sigmas;      /* truncation, 0.5..10 (use LF_TOF_SIGMAS_DEFAULT) */
    int n_bins;          /* odd; bins -(n_bins-1)/2 .. (n_bins-1)/2 are valid */
} lf_tof;

typedef enum { LF_PROJ_JOSEPH = 0, LF_PROJ_SIDDON = 1 } lf_proj_kind;
typedef enum { LF_DEVICE_CPU = 0, LF_DEVICE_CUDA = 1 } lf_device;

/* The TOF set-up from picoseconds (bin width, FWHM); n_sigmas <= 0 selects the default. */
lf_tof lf_tof_from_ps(double bin_width_ps, double fwhm_ps, int n_bins, double n_sigmas);
/* A centred grid: voxel (n-1)/2 at (cx, cy, cz). */
lf_grid lf_grid_centred(int nx, int ny, int nz, float vx, float vy, float vz, float cx, float cy, float cz);
/* Voxel count n0*n1*n2. */
size_t lf_grid_voxels(const lf_grid *g);
/* Checks a grid (and a TOF set-up unless NULL); errors name the field. */
int lf_proj_check(const lf_grid *g, const lf_tof *tof, lf_error *err);
/* Parses "joseph" / "siddon", "cpu" / "cuda"; -1 (err names the choices) otherwise. */
int lf_proj_kind_parse(const char *s, lf_proj_kind *kind, lf_error *err);
int lf_device_parse(const char *s, lf_device *dev, lf_error *err);
const char *lf_proj_kind_name(lf_proj_kind kind);

/* CPU (OpenMP). img of fwd is read only; img of back is accumulated into (zero it first for Aᵀy). */
int lf_proj_fwd(lf_proj_kind kind, const lf_grid *g, const float *img, const float *lors, size_t n,
                const int8_t *tof_bins, const lf_tof *tof, float *out, lf_error *err);
int lf_proj_back(lf_proj_kind kind, const lf_grid *g, float *img, const float *lors, size_t n,
                 const int8_t *tof_bins, const lf_tof *tof, const float *values, lf_error *err);

/* Run-time device choice (projectors/dispatch.c). LF_DEVICE_CUDA fails with a clear message when the
 * CUDA projectors are not built or no GPU is usable; it never falls back silently. */
int lf_proj_fwd_dev(lf_device dev, lf_proj_kind kind, const lf_grid *g, const float *img, const float *lors,
                    size_t n, const int8_t *tof_bins, const lf_tof *tof, float *out, lf_error *err);
int lf_proj_back_dev(lf_device dev, lf_proj_kind kind, const lf_grid *g, float *img, const float *lors,
                     size_t n, const int8_t *tof_bins, const lf_tof *tof, const float *values, lf_error *err);

#ifdef __cplusplus
}
#endif

#endif

/* lafov recon: NEMA NU 2-2018 image quality of the IEC body phantom (physics.md, "NEMA NU 2-2018 image
 * quality"): per-sphere contrast recovery, background variability and the lung residual.
 *
 * Geometry: physics.md's simplified IEC model, phantom frame = scanner axes (no rotation or tilt; only
 * a translation). The phantom's centre is the axis point in the sphere plane; sphere i (diameters 10,
 * 13, 17, 22, 28, 37 mm) sits at angle 60 deg * i from +x towards +y on the 57.2 mm circle; the lung
 * insert (r 25 mm) is on the axis; the body cross-section is the half-disc r 150 on y <= 0 joined on
 * y > 0 to |x| <= 70, y <= 80 and two quarter-discs r 80 centred at (+-70, 0).
 *
 * ROIs (all circles in axial planes):
 *   sphere j: the sphere's inner diameter, centred on the sphere, in the sphere plane;
 *   background: 12 positions (lf_nema_background_layout) x 5 planes at -20, -10, 0, +10, +20 mm from the
 *     sphere plane; the 37 mm ROIs are placed first, every smaller size concentric with them;
 *   lung: 30 mm on the axis, in the same 5 planes.
 * ROI means: the image is sampled on a square lattice of step = (smallest in-plane voxel size) / 4 (4 x 4
 * points per voxel) centred on the ROI, keeping the points within the radius, each point interpolated
 * trilinearly through the inverse sform (bilinear in the plane, linear between the two slices around
 * the plane's z). Points must lie inside the grid (voxel centres +- half a voxel) and be finite; a ROI
 * that leaves the grid is an error naming it.
 * Read-out (K = 60 background ROIs of size j, C_B,j,k their means, a_H/a_B = ratio):
 *   C_H,j = sphere ROI mean; C_B,j = mean_k C_B,j,k; SD_j = sqrt(sum_k (C_B,j,k - C_B,j)^2 / (K - 1));
 *   Q_H,j = (C_H,j / C_B,j - 1) / (ratio - 1) * 100 %;  N_j = SD_j / C_B,j * 100 %;
 *   lung residual = mean over the 5 planes of C_lung,plane / C_B,37mm * 100 %.
 *
 * Finding the centre (lf_nema_find_centre) from the image alone: the body level by an iterated
 * threshold (T = half the mean above T), the phantom's slices (sum of positive values >= half the largest
 * slice's, contiguous); the axis
 * coarse as the voxel maximising (mean of the slice-averaged image over 25 < r <= 35 mm) - (over r <= 25)
 * among those whose ring is in the body (ring mean >= 60 % of the body level, that level from the same
 * iterated threshold on the slice average), i.e. the cold lung; the sphere plane as the slice maximising the summed sphere-ROI
 * means, refined by a parabola through its neighbours; the axis refined as the centroid of the lung's
 * deficit (local background - value, within 40 mm of the axis, local background from 30..45 mm),
 * iterated to a fixed point on slices >= 25 mm from the sphere plane; then the plane once more with
 * that axis. Needs axial slices (k along z, i and j in the xy plane).
 *
 *   lf_nema_opts o = lf_nema_opts_default();           // ratio 4, centre found
 *   lf_nema_result r;
 *   if (lf_nema_analyse(&img, &o, &r, &err) != 0) ...
 *   lf_nema_csv(f, &r);  lf_nema_json(f, &r, path);  lf_nema_picture(&img, &r, &rgb, &w, &h, &err);
 */
#ifndef LF_NEMA_H
#define LF_NEMA_H

#include <stdint.h>
#include <stdio.h>

#include "../core/error.h"
#include "../io/nifti.h"

#define LF_NEMA_SPHERES 6
#define LF_NEMA_PLANES 5
#define LF_NEMA_BG_PER_PLANE 12
#define LF_NEMA_BG_ROIS (LF_NEMA_PLANES * LF_NEMA_BG_PER_PLANE) /* 60 per size */
#define LF_NEMA_RING_MM 57.2          /* sphere centres' distance from the axis */
#define LF_NEMA_LUNG_RADIUS_MM 25.0
#define LF_NEMA_LUNG_ROI_MM 30.0      /* lung ROI diameter */
#define LF_NEMA_MARGIN_MM 15.0        /* background ROI edge to the body edge, the spheres and the lung */
#define LF_NEMA_SUPERSAMPLE 4         /* lattice points per voxel along each in-plane axis */

/* Inner diameters (mm), sphere i = 0..5. */
extern const double lf_nema_sphere_diameter_mm[LF_NEMA_SPHERES];
/* Plane offsets from the sphere plane (mm): -20, -10, 0, 10, 20. */
extern const double lf_nema_plane_offset_mm[LF_NEMA_PLANES];
/* nema.csv's header (no newline): diameter_mm,contrast_recovery_pct,background_variability_pct,c_h,c_b,sd_b */
extern const char LF_NEMA_CSV_HEADER[];

typedef struct lf_nema_opts {
    double ratio;          /* a_H / a_B, > 1 (default 4) */
    int centre_given;      /* nonzero: use centre_mm, find nothing */
    double centre_mm[3];   /* axis point in the sphere plane, scanner mm */
} lf_nema_opts;

lf_nema_opts lf_nema_opts_default(void);

typedef struct lf_nema_find {
    double body_level;     /* image units: twice the iterated threshold of the slice average (~ the background) */
    int slice_lo, slice_hi;/* the phantom's slices (k) */
    double lung_contrast;  /* 1 - mean(r <= 25) / mean(25 < r <= 35) at the coarse axis */
    double plane_excess;   /* summed sphere-ROI means at the plane / their median over the slices - 1 */
    int axis_slices;       /* slices the refined axis used */
    int iterations;        /* centroid iterations */
} lf_nema_find;

typedef struct lf_nema_result {
    double ratio;
    double centre_mm[3];
    int centre_found;              /* 1: lf_nema_find_centre, 0: given */
    lf_nema_find find;             /* when found */
    double step_mm;                /* ROI sampling lattice step */
    double bg_xy_mm[LF_NEMA_BG_PER_PLANE][2]; /* background ROI centres relative to the axis */
    double sphere_mm[LF_NEMA_SPHERES][3];     /* sphere ROI centres, scanner mm */
    double c_h[LF_NEMA_SPHERES], c_b[LF_NEMA_SPHERES], sd_b[LF_NEMA_SPHERES];
    double contrast_recovery_pct[LF_NEMA_SPHERES], background_variability_pct[LF_NEMA_SPHERES];
    double bg_mean[LF_NEMA_SPHERES][LF_NEMA_BG_ROIS]; /* [size][plane * 12 + position] */
    double lung_mean[LF_NEMA_PLANES];
    double lung_residual_pct;
} lf_nema_result;

/* The 12 background ROI centres (mm, phantom frame, relative to the axis) of the 37 mm ROIs, among the
 * points of a 1 mm lattice whose 37 mm circle keeps LF_NEMA_MARGIN_MM from the body edge, every sphere and
 * the lung insert: the first nearest (0, -150), the others each the farthest from those chosen, then each
 * in turn moved to the point farthest from the other 11 while that is strictly farther, until none moves
 * (ties: the first in y-then-x order). The result spreads them over the background without overlap
 * (smallest centre distance ~44 mm). Fixed by the geometry; fails only without memory. */
int lf_nema_background_layout(double xy[LF_NEMA_BG_PER_PLANE][2], lf_error *err);
/* Signed distance (mm) from (x, y) (phantom frame, relative to the axis) to the body's outline:
 * positive inside. */
double lf_nema_body_edge_mm(double x, double y);

/* Finds the centre (scanner mm) from the image (see the top). info may be NULL. Fails, naming what was
 * not found, on an image without a body, a cold lung insert inside it or hot spheres. */
int lf_nema_find_centre(const lf_volume *img, double ratio, double centre_mm[3], lf_nema_find *info, lf_error *err);

/* The whole analysis (see the top). Fails on a bad ratio, a singular sform, a ROI outside the grid, a
 * non-finite value in a ROI or a background mean <= 0, naming the ROI. */
int lf_nema_analyse(const lf_volume *img, const lf_nema_opts *o, lf_nema_result *r, lf_error *err);

/* nema.csv: the header and one row per sphere (10 -> 37 mm), numbers %.10g. */
void lf_nema_csv(FILE *f, const lf_nema_result *r);
/* nema.json: phantom, image (may be NULL), ratio, centre_mm, centre_source ("found" / "given"),
 * sphere_plane_z_mm, lung_residual_pct, lung_mean_per_plane, plane_offsets_mm, background_roi_offsets_mm,
 * sampling, the finder's diagnostics, and spheres[] (diameter_mm, centre_mm, c_h, c_b, sd_b,
 * contrast_recovery_pct, background_variability_pct). */
void lf_nema_json(FILE *f, const lf_nema_result *r, const char *image);

/* The sphere plane as an RGB picture (0.5 mm pixels, x across, y down, 330 x 260 mm around the phantom,
 * grey 0 .. 1.25 x the hottest sphere mean, linear between slices at the plane's z; outside the grid
 * black), sphere ROIs red, 37 mm and 10 mm background ROIs green, lung ROI cyan, the centre yellow.
 * rgb is malloc'ed (w * h * 3, top row first). */
int lf_nema_picture(const lf_volume *img, const lf_nema_result *r, uint8_t **rgb, int *w, int *h, lf_error *err);

#endif

/* lafov sim: analytic phantoms (data/phantoms/NAME.phantom; format in docs/phantom-format.md).
 *
 * A phantom is an ordered list of shapes; a later shape overrides earlier ones where they overlap
 * (a sphere inside the IEC body, a lesion inside the liver). Each shape carries a relative activity
 * concentration, a material (HU and linear attenuation at 511 keV) and a label name. Activity is
 * relative: the simulator scales it so that the whole phantom holds the requested activity.
 * Shapes are analytic: emission points are sampled continuously and rays are cut exactly, never at
 * voxel centres. Coordinates are the scanner frame (mm) after lf_phantom_translate().
 *
 * Respiratory motion: each shape has a `resp weight` w in [0, 1]; at a craniocaudal displacement d
 * (mm, +z) the shape is displaced by w*d. All queries take that d (0 = at rest).
 */
#ifndef LF_PHANTOM_H
#define LF_PHANTOM_H

#include <stdint.h>

#include "../core/error.h"
#include "../core/rng.h"

typedef enum {
    LF_SHAPE_ELLIPSOID = 0, /* centre c, semi-axes r[0..2] along x, y, z (a sphere: r equal) */
    LF_SHAPE_CYLINDER = 1,  /* elliptic cylinder: centre c, semi-axes r[0], r[1] across, half-length r[2]; `axis` x|y|z;
                             * "across" = the other two axes in increasing order (axis z: x, y; y: x, z; x: y, z) */
    LF_SHAPE_BOX = 2,       /* centre c, half-sizes r[0..2] */
    LF_SHAPE_IEC_BODY = 3   /* NEMA IEC body cross-section (physics.md) extruded along z: centre c = axis point at
                             * mid-length, r[0] = 150 (half-disc radius), r[1] = 70 (half-width of the y>0 part),
                             * r[2] = half-length (90) */
} lf_shape_type;

typedef struct lf_shape {
    char name[64];           /* label name, e.g. "liver", "sphere_37mm", "background" */
    lf_shape_type type;
    int axis;                /* cylinder axis: 0 x, 1 y, 2 z */
    double c[3], r[3];
    double rel_activity;     /* relative concentration (any unit), >= 0 */
    double hu;               /* CT number */
    double mu_per_cm;        /* linear attenuation at 511 keV, cm^-1 */
    double resp_weight;      /* fraction of the respiratory displacement this shape follows */
    int label;               /* 1.. in file order (0 = air) */
    /* derived */
    double volume_ml;        /* whole shape */
    double owned_ml;         /* where this shape is the top one (Monte-Carlo estimate, fixed seed) */
    double lo[3], hi[3];     /* bounding box at rest */
} lf_shape;

/* A phantom holds at most this many shapes (lf_phantom_ray keeps its work on the stack; labels 1..255
 * fit an 8-bit label image). */
#define LF_PHANTOM_MAX_SHAPES 255

typedef struct lf_phantom {
    char name[64];
    lf_shape *s;
    int n;
    double default_uptake_s; /* from the file (`default uptake (s)`), used when --uptake-s is absent */
    double lo[3], hi[3];     /* bounding box of all shapes at rest (mm) */
    double total_rel;        /* sum of rel_activity * owned_ml */
    double *cdf;             /* [n] cumulative of rel_activity * volume_ml for emission sampling */
    /* shapes' bounding boxes and resp weights as flat arrays (the ray cutter's vectorised first pass) */
    double box_lo[3][LF_PHANTOM_MAX_SHAPES], box_hi[3][LF_PHANTOM_MAX_SHAPES], box_w[LF_PHANTOM_MAX_SHAPES];
} lf_phantom;

/* One piece of a ray: between parameters t0 < t1 the owning shape is `shape` (-1: air). */
typedef struct lf_segment {
    double t0, t1;
    int shape;
} lf_segment;

#define LF_PHANTOM_MAX_SEGMENTS 256

/* Loads by name ("iec" -> DIR/iec.phantom, DIR from lf_phantom_dir) or path (contains '/' or ends
 * in .phantom). Computes volumes and the sampling tables. */
int lf_phantom_load(const char *dir, const char *name_or_path, lf_phantom *ph, lf_error *err);
/* The phantom folder: dir, else $LAFOV_PHANTOM_DIR, else $LAFOV_DATA_DIR/phantoms, else the source tree's
 * data/phantoms, else the installed one. */
const char *lf_phantom_dir(const char *dir);
void lf_phantom_free(lf_phantom *ph);

/* Moves every shape by d (mm). */
void lf_phantom_translate(lf_phantom *ph, const double d[3]);
/* Sets rel_activity of every shape whose name starts with prefix; recomputes totals. Returns the
 * number of shapes changed. */
int lf_phantom_set_activity(lf_phantom *ph, const char *prefix, double rel_activity);
/* Sets the half-length r[2] of the shape named `name`; recomputes volumes. -1 if absent. */
int lf_phantom_set_half_length(lf_phantom *ph, const char *name, double half_length_mm);

/* Index of the shape owning point x (-1: air) at respiratory displacement resp_dz. */
int lf_phantom_shape_at(const lf_phantom *ph, const double x[3], double resp_dz);

/* Cuts the line o + t*u (u unit) into segments of constant owner over t in [tmin, tmax]; air segments
 * are omitted, adjacent pieces with the same owner are merged. Returns the number of segments (<= max),
 * sorted by t0, non-overlapping. When the line would need more than max segments, the first max
 * (smallest t) are returned and the rest of the line is dropped (a phantom of n convex shapes gives at
 * most 2n - 1 pieces: max = LF_PHANTOM_MAX_SEGMENTS is never short for n <= 128). No allocation;
 * thread-safe. */
int lf_phantom_ray(const lf_phantom *ph, const double o[3], const double u[3], double tmin, double tmax,
                   double resp_dz, lf_segment *seg, int max);

/* Samples an emission point with density proportional to the activity concentration. A phantom with
 * no activity gives the centre of its bounding box. */
void lf_phantom_sample(const lf_phantom *ph, lf_rng *rng, double resp_dz, double x[3]);

/* Rasterises onto a grid (n[3] voxels of size vox_mm[3], voxel (0,0,0) centred at origin_mm, x fastest)
 * the voxel mean of: activity concentration (scale * rel_activity), mu (cm^-1), HU (air -1000), or the
 * label of the shape owning the voxel centre (0 air), at rest (no respiratory displacement). ss: 1..64
 * sub-samples per axis in y and z for the means; along x each of the ss*ss sub-rows is cut exactly
 * (lf_phantom_ray), so the x average is exact. OpenMP over slices. */
typedef enum { LF_RASTER_ACTIVITY, LF_RASTER_MU, LF_RASTER_HU, LF_RASTER_LABEL } lf_raster_what;
int lf_phantom_rasterize(const lf_phantom *ph, lf_raster_what what, double scale, const int n[3], const double vox_mm[3],
                         const double origin_mm[3], int ss, float *out, lf_error *err);

/* Index of the shape named `name`, -1 if absent. */
int lf_phantom_find(const lf_phantom *ph, const char *name);
/* 1 when x lies in shape s (boundary included) at respiratory displacement resp_dz, whatever the other
 * shapes. */
int lf_shape_contains(const lf_shape *s, const double x[3], double resp_dz);
/* Linear attenuation at 511 keV (cm^-1) of a CT number: Carney et al. 2006 bilinear model at 120 kVp
 * (physics.md), clamped >= 0; the default `mu (1/cm)` of a shape. */
double lf_hu_to_mu_120kvp(double hu);

#endif

/* lafov recon: what one reconstructed frame leaves on disk, and its checkpoints (used by recon.c).
 *
 * A frame folder holds image_bqml.nii.gz, image_suv.nii.gz (when the header has weight and dose),
 * mumap.nii.gz (with attenuation), recon.h5 (/image Bq/mL, /image_suv, /mumap 1/cm, /sensitivity mm,
 * group /parameters with every parameter as attributes), mip.png (coronal maximum-intensity projection,
 * black on white) and slices.png (axial, coronal, sagittal through the hottest point). recon.h5 is
 * written last: its presence marks a finished frame. Each file goes through a temporary name + rename.
 *
 * Checkpoint (after every OSEM iteration): checkpoint_itNNN.nii.gz (the estimate in OSEM units) and
 * checkpoint.hdr (Interfile keys: "run key", "iterations done", "image"), written image first, header
 * second, so a crash at any moment leaves a consistent pair; removed once the frame is finished.
 */
#ifndef LF_RECON_OUTPUT_H
#define LF_RECON_OUTPUT_H

#include "../core/error.h"
#include "../io/nifti.h"

/* Parameters recorded in recon.h5 (/parameters[/group]). */
typedef struct lf_param {
    char group[32];   /* "" = /parameters itself, else a subgroup such as "corrections" */
    char key[48];
    int kind;         /* 0 text, 1 numbers */
    char text[1024];
    double num[16];
    int n;
} lf_param;

typedef struct lf_params {
    lf_param *p;
    int n, cap;
} lf_params;

void lf_params_text(lf_params *ps, const char *group, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void lf_params_num(lf_params *ps, const char *group, const char *key, double v);
void lf_params_nums(lf_params *ps, const char *group, const char *key, const double *v, int n);
void lf_params_free(lf_params *ps);

typedef struct lf_frame_result {
    const lf_volume *image_bqml;  /* required */
    const lf_volume *image_suv;   /* or NULL */
    const lf_volume *mumap;       /* 1/cm, or NULL */
    const lf_volume *sensitivity; /* required */
    const lf_params *params;
} lf_frame_result;

/* Writes every file of a finished frame into dir (created when missing) and removes its checkpoint. */
int lf_frame_write(const char *dir, const lf_frame_result *r, lf_error *err);

/* 1 when dir holds a finished frame (recon.h5 and image_bqml.nii.gz). */
int lf_frame_finished(const char *dir);
/* 1 when dir holds any result file or checkpoint of a frame (names it in *which). */
int lf_frame_has_outputs(const char *dir, const char **which);

int lf_checkpoint_write(const char *dir, const lf_volume *img, const char *run_key, int iterations_done, lf_error *err);
/* 1 and img filled (caller frees) when dir has a checkpoint of run_key with a grid like img_like's; 0 when
 * there is none or it belongs to another run (a warning says so); -1 on a read error. */
int lf_checkpoint_read(const char *dir, const char *run_key, const lf_volume *img_like, lf_volume *img,
                       int *iterations_done, lf_error *err);
void lf_checkpoint_remove(const char *dir);

#endif

/* lafov recon: frame outputs and checkpoints (see recon_output.h). */
#include "recon_output.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/log.h"
#include "../io/atomic_file.h"
#include "../io/h5.h"
#include "../io/interfile.h"
#include "../io/png_write.h"
#include "../io/volume_view.h"

static lf_param *params_add(lf_params *ps, const char *group, const char *key, int kind)
{
    if (ps->n >= ps->cap) {
        int nc = ps->cap ? 2 * ps->cap : 64;
        lf_param *p = realloc(ps->p, (size_t)nc * sizeof *p);
        if (!p)
            return NULL; /* the parameter is dropped; recon.h5 then lacks it (logged by the writer) */
        ps->p = p;
        ps->cap = nc;
    }
    lf_param *p = &ps->p[ps->n++];
    memset(p, 0, sizeof *p);
    snprintf(p->group, sizeof p->group, "%s", group ? group : "");
    snprintf(p->key, sizeof p->key, "%s", key);
    p->kind = kind;
    return p;
}

void lf_params_text(lf_params *ps, const char *group, const char *key, const char *fmt, ...)
{
    lf_param *p = params_add(ps, group, key, 0);
    if (!p)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->text, sizeof p->text, fmt, ap);
    va_end(ap);
}

void lf_params_nums(lf_params *ps, const char *group, const char *key, const double *v, int n)
{
    lf_param *p = params_add(ps, group, key, 1);
    if (!p)
        return;
    p->n = n < 16 ? n : 16;
    memcpy(p->num, v, (size_t)p->n * sizeof *v);
}

void lf_params_num(lf_params *ps, const char *group, const char *key, double v) { lf_params_nums(ps, group, key, &v, 1); }

void lf_params_free(lf_params *ps)
{
    free(ps->p);
    memset(ps, 0, sizeof *ps);
}

static void join(char *out, size_t cap, const char *dir, const char *name) { snprintf(out, cap, "%s/%s", dir, name); }

static int exists(const char *dir, const char *name)
{
    char p[4400];
    join(p, sizeof p, dir, name);
    return access(p, F_OK) == 0;
}

static const char *const k_outputs[] = {"recon.h5", "image_bqml.nii.gz", "image_suv.nii.gz", "mumap.nii.gz",
                                        "mip.png", "slices.png", "checkpoint.hdr", NULL};

int lf_frame_finished(const char *dir) { return exists(dir, "recon.h5") && exists(dir, "image_bqml.nii.gz"); }

int lf_frame_has_outputs(const char *dir, const char **which)
{
    for (int i = 0; k_outputs[i]; i++)
        if (exists(dir, k_outputs[i])) {
            if (which)
                *which = k_outputs[i];
            return 1;
        }
    return 0;
}

static int write_png(const char *dir, const char *name, uint8_t *rgb, int w, int h, lf_error *err)
{
    char p[4400];
    join(p, sizeof p, dir, name);
    int rc = lf_png_write_rgb(p, w, h, rgb, err);
    free(rgb);
    return rc;
}

static int write_h5(const char *path, const lf_frame_result *r, lf_error *err)
{
    lf_h5w *w;
    if (lf_h5w_open(path, &w, err) != 0)
        return -1;
    if (lf_h5w_volume(w, "image", r->image_bqml, "Bq/mL", err) != 0 ||
        (r->image_suv && lf_h5w_volume(w, "image_suv", r->image_suv, "g/mL (SUVbw)", err) != 0) ||
        (r->mumap && lf_h5w_volume(w, "mumap", r->mumap, "1/cm", err) != 0) ||
        lf_h5w_volume(w, "sensitivity", r->sensitivity, "mm (response-weighted Siddon length, attenuated)", err) != 0)
        goto fail;
    for (int i = 0; r->params && i < r->params->n; i++) {
        const lf_param *p = &r->params->p[i];
        char group[64];
        snprintf(group, sizeof group, "parameters%s%s", p->group[0] ? "/" : "", p->group);
        int rc = p->kind == 0 ? lf_h5w_attr_str(w, group, p->key, p->text, err)
                              : (p->n == 1 ? lf_h5w_attr_num(w, group, p->key, p->num[0], err)
                                           : lf_h5w_attr_nums(w, group, p->key, p->num, p->n, err));
        if (rc != 0)
            goto fail;
    }
    return lf_h5w_commit(w, err);
fail:
    lf_h5w_abort(w);
    return -1;
}

int lf_frame_write(const char *dir, const lf_frame_result *r, lf_error *err)
{
    char p[4400];
    if (lf_mkdirs(dir, err) != 0)
        return -1;
    join(p, sizeof p, dir, "image_bqml.nii.gz");
    if (lf_nifti_write(p, r->image_bqml, LF_NIFTI_FLOAT32, "Bq/mL", err) != 0)
        return -1;
    if (r->image_suv) {
        join(p, sizeof p, dir, "image_suv.nii.gz");
        if (lf_nifti_write(p, r->image_suv, LF_NIFTI_FLOAT32, "SUVbw", err) != 0)
            return -1;
    }
    if (r->mumap) {
        join(p, sizeof p, dir, "mumap.nii.gz");
        if (lf_nifti_write(p, r->mumap, LF_NIFTI_FLOAT32, "1/cm", err) != 0)
            return -1;
    }
    uint8_t *rgb;
    int w, h;
    const lf_volume *show = r->image_suv ? r->image_suv : r->image_bqml;
    if (lf_volume_mip_rgb(show, LF_PLANE_CORONAL, 0, 0, 1, &rgb, &w, &h, err) != 0 ||
        write_png(dir, "mip.png", rgb, w, h, err) != 0)
        return -1;
    if (lf_volume_ortho_rgb(show, NULL, 0, 0, &rgb, &w, &h, err) != 0 || write_png(dir, "slices.png", rgb, w, h, err) != 0)
        return -1;
    join(p, sizeof p, dir, "recon.h5");
    if (write_h5(p, r, err) != 0)
        return -1;
    lf_checkpoint_remove(dir);
    return 0;
}

int lf_checkpoint_write(const char *dir, const lf_volume *img, const char *run_key, int iterations_done, lf_error *err)
{
    char p[4400], name[64];
    if (lf_mkdirs(dir, err) != 0)
        return -1;
    /* the image under a name of its own, then the header naming it, then the previous image goes: a crash
     * at any point leaves a header and the image it names */
    snprintf(name, sizeof name, "checkpoint_it%03d.nii.gz", iterations_done);
    join(p, sizeof p, dir, name);
    if (lf_nifti_write(p, img, LF_NIFTI_FLOAT32, "OSEM estimate", err) != 0)
        return -1;
    join(p, sizeof p, dir, "checkpoint.hdr");
    lf_atomic_file af;
    FILE *f = lf_atomic_open(&af, p, err);
    if (!f)
        return -1;
    fprintf(f, "!INTERFILE :=\n; lafov recon checkpoint: the OSEM estimate after these iterations\nrun key := %s\n"
               "iterations done := %d\nimage := %s\n!END OF INTERFILE :=\n",
            run_key, iterations_done, name);
    if (lf_atomic_commit(&af, err) != 0)
        return -1;
    if (iterations_done > 1) {
        snprintf(name, sizeof name, "checkpoint_it%03d.nii.gz", iterations_done - 1);
        join(p, sizeof p, dir, name);
        unlink(p);
    }
    return 0;
}

int lf_checkpoint_read(const char *dir, const char *run_key, const lf_volume *img_like, lf_volume *img,
                       int *iterations_done, lf_error *err)
{
    char p[4400];
    join(p, sizeof p, dir, "checkpoint.hdr");
    if (access(p, F_OK) != 0)
        return 0;
    lf_ifh h;
    if (lf_ifh_parse_file(p, &h, err) != 0)
        return -1;
    const char *key = lf_ifh_get(&h, "run key");
    const char *image = NULL;
    long long it = 0;
    int rc = lf_ifh_req_long(&h, "iterations done", &it, err);
    if (rc == 0)
        rc = lf_ifh_req_str(&h, "image", &image, err);
    int same = rc == 0 && key && strcmp(key, run_key) == 0;
    char name[256];
    snprintf(name, sizeof name, "%s", image ? image : "");
    lf_ifh_free(&h);
    if (rc != 0)
        return lf_fail_prefix(err, "%s", p);
    if (strchr(name, '/'))
        return lf_fail(err, "%s: key 'image': expected a file name in the same folder, got '%s'", p, name);
    if (!same) {
        lf_warn("%s belongs to a run with other parameters: starting this frame afresh", p);
        return 0;
    }
    join(p, sizeof p, dir, name);
    if (lf_nifti_read(p, img, err) != 0)
        return -1;
    for (int a = 0; a < 3; a++)
        if (img->n[a] != img_like->n[a]) {
            lf_volume_free(img);
            return lf_fail(err, "%s: grid %dx%dx%d, expected %dx%dx%d", p, img->n[0], img->n[1], img->n[2],
                           img_like->n[0], img_like->n[1], img_like->n[2]);
        }
    *iterations_done = (int)it;
    return 1;
}

void lf_checkpoint_remove(const char *dir)
{
    char p[4400];
    join(p, sizeof p, dir, "checkpoint.hdr");
    unlink(p);
    for (int it = 1; it <= 999; it++) {
        char name[64];
        snprintf(name, sizeof name, "checkpoint_it%03d.nii.gz", it);
        join(p, sizeof p, dir, name);
        unlink(p);
    }
}

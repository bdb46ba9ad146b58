/* lafov recon: measuring a study's finished reconstructions — ROI statistics or NEMA image quality
 * (recon/study.h). */
#include "study.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/log.h"
#include "recon_output.h"
#include "roi.h"

static const char *const k_roi_metrics[LF_STUDY_ROI_METRICS] = {"voxels", "mean", "sd", "cov_pct",
                                                               "max", "peak", "contrast", "cnr"};
static const char *const k_nema_metrics[LF_STUDY_NEMA_METRICS] = {
    "contrast_recovery_pct", "background_variability_pct", "c_h", "c_b", "lung_residual_pct"};

const char *const *lf_study_metric_names(int metric, int *n)
{
    *n = metric == LF_STUDY_NEMA ? LF_STUDY_NEMA_METRICS : LF_STUDY_ROI_METRICS;
    return metric == LF_STUDY_NEMA ? k_nema_metrics : k_roi_metrics;
}

static int push_row(lf_study_results *r, int *cap, const lf_study_row *row)
{
    if (r->n == *cap) {
        int nc = *cap ? 2 * *cap : 256;
        lf_study_row *nr = realloc(r->row, (size_t)nc * sizeof *nr);
        if (!nr)
            return -1;
        r->row = nr;
        *cap = nc;
    }
    r->row[r->n++] = *row;
    return 0;
}

static int same_grid(const lf_volume *a, const lf_volume *b)
{
    if (a->n[0] != b->n[0] || a->n[1] != b->n[1] || a->n[2] != b->n[2])
        return 0;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++)
            if (fabs(a->sform[i][j] - b->sform[i][j]) > 1e-6)
                return 0;
    return 1;
}

typedef struct roi_ctx {
    lf_volume labels, grid;      /* grid: the image the mask was built for (data unused) */
    lf_roi_mask mask;
    lf_roi_names names;
    int *rows, n_rows;
    int have_mask, have_names;
} roi_ctx;

static int roi_setup(const lf_study_plan *p, roi_ctx *c, lf_error *err)
{
    if (lf_nifti_read(p->labels, &c->labels, err) != 0)
        return -1;
    if (p->names[0]) {
        if (lf_roi_names_read(p->names, &c->names, err) != 0)
            return -1;
        c->have_names = 1;
    }
    int *present = NULL, n_present = 0;
    if (lf_roi_label_list(&c->labels, &present, &n_present, err) != 0)
        return lf_fail_prefix(err, "%s", p->labels);
    if (p->n_region == 0) {
        c->rows = present;
        c->n_rows = n_present;
    } else {
        for (int i = 0; i < p->n_region; i++) {
            int found = 0;
            for (int j = 0; j < n_present; j++)
                found |= present[j] == p->region[i];
            if (!found) {
                free(present);
                return lf_fail(err, "%s: regions: label %d does not occur in %s", p->origin, p->region[i], p->labels);
            }
        }
        free(present);
        c->rows = malloc((size_t)p->n_region * sizeof *c->rows);
        if (!c->rows)
            return lf_fail(err, "study: out of memory");
        memcpy(c->rows, p->region, (size_t)p->n_region * sizeof *c->rows);
        c->n_rows = p->n_region;
    }
    if (p->background) {
        int found = 0;
        for (int j = 0; j < c->n_rows; j++)
            found |= c->rows[j] == p->background;
        if (!found)
            return lf_fail(err, "%s: background label %d does not occur in %s", p->origin, p->background, p->labels);
    }
    return 0;
}

static void roi_free(roi_ctx *c)
{
    lf_volume_free(&c->labels);
    lf_roi_mask_free(&c->mask);
    if (c->have_names)
        lf_roi_names_free(&c->names);
    free(c->rows);
}

static int roi_measure(const lf_study_plan *p, roi_ctx *c, int scan, const lf_volume *img, const char *path,
                       lf_study_results *r, int *cap, lf_error *err)
{
    lf_roi_opts o = lf_roi_opts_default();
    o.erode_mm = p->erode_mm;
    if (!c->have_mask || !same_grid(&c->grid, img)) {
        lf_roi_mask_free(&c->mask);
        if (lf_roi_mask_build(&c->labels, img, &o, &c->mask, err) != 0)
            return lf_fail_prefix(err, "%s on the grid of %s", p->labels, path);
        c->grid = *img;
        c->grid.data = NULL;
        c->have_mask = 1;
    }
    lf_roi_stats *st = NULL;
    if (lf_roi_stats_compute(img, &c->mask, NULL, c->rows, c->n_rows, &st, err) != 0)
        return lf_fail_prefix(err, "%s", path);
    const lf_roi_stats *bg = NULL;
    for (int i = 0; i < c->n_rows; i++)
        if (st[i].label == p->background)
            bg = &st[i];
    int rc = 0;
    for (int i = 0; i < c->n_rows && rc == 0; i++) {
        lf_study_row row;
        memset(&row, 0, sizeof row);
        row.scan = scan;
        row.label = st[i].label;
        const char *nm = c->have_names ? lf_roi_name(&c->names, st[i].label) : NULL;
        if (nm)
            snprintf(row.region, sizeof row.region, "%s", nm);
        else
            snprintf(row.region, sizeof row.region, "label_%d", st[i].label);
        double v[LF_STUDY_ROI_METRICS] = {(double)st[i].voxels, st[i].mean, st[i].sd, st[i].cov_pct, st[i].max,
                                          st[i].peak, NAN, NAN};
        if (bg && bg->mean > 0)
            v[6] = st[i].mean / bg->mean;
        if (bg && bg->sd > 0)
            v[7] = (st[i].mean - bg->mean) / bg->sd;
        memcpy(row.v, v, sizeof v);
        rc = push_row(r, cap, &row) ? lf_fail(err, "study: out of memory") : 0;
    }
    free(st);
    return rc;
}

static int nema_measure(const lf_study_plan *p, int scan, const lf_volume *img, const char *path,
                        lf_study_results *r, int *cap, lf_error *err)
{
    lf_nema_opts o = lf_nema_opts_default();
    o.ratio = p->nema_ratio;
    lf_nema_result *nr = malloc(sizeof *nr);
    if (!nr)
        return lf_fail(err, "study: out of memory");
    if (lf_nema_analyse(img, &o, nr, err) != 0) {
        free(nr);
        return lf_fail_prefix(err, "%s", path);
    }
    int rc = 0;
    for (int s = 0; s <= LF_NEMA_SPHERES && rc == 0; s++) {
        lf_study_row row;
        memset(&row, 0, sizeof row);
        row.scan = scan;
        for (int m = 0; m < LF_STUDY_METRICS_MAX; m++)
            row.v[m] = NAN;
        if (s < LF_NEMA_SPHERES) {
            row.label = s + 1;
            snprintf(row.region, sizeof row.region, "sphere_%gmm", lf_nema_sphere_diameter_mm[s]);
            row.v[0] = nr->contrast_recovery_pct[s];
            row.v[1] = nr->background_variability_pct[s];
            row.v[2] = nr->c_h[s];
            row.v[3] = nr->c_b[s];
        } else {
            row.label = 0;
            snprintf(row.region, sizeof row.region, "lung");
            row.v[4] = nr->lung_residual_pct;
        }
        rc = push_row(r, cap, &row) ? lf_fail(err, "study: out of memory") : 0;
    }
    free(nr);
    return rc;
}

int lf_study_measure(const lf_study_plan *p, const lf_study_grid *g, lf_study_results *r, lf_error *err)
{
    memset(r, 0, sizeof *r);
    roi_ctx c;
    memset(&c, 0, sizeof c);
    int cap = 0, rc = 0;
    if (p->metric == LF_STUDY_ROI && roi_setup(p, &c, err) != 0) {
        roi_free(&c);
        return -1;
    }
    for (int s = 0; s < g->n && rc == 0; s++) {
        const lf_study_scan *sc = &g->scan[s];
        if (!lf_frame_finished(sc->recon_dir)) {
            r->missing++;
            lf_warn("study: %s has no finished image (job %s): left out of the results", sc->recon_dir, sc->job);
            continue;
        }
        char path[LF_STUDY_PATH_MAX + 32];
        snprintf(path, sizeof path, "%s/%s", sc->recon_dir,
                 p->metric == LF_STUDY_ROI ? "image_suv.nii.gz" : "image_bqml.nii.gz");
        lf_volume img;
        memset(&img, 0, sizeof img);
        rc = lf_nifti_read(path, &img, err);
        if (rc == 0)
            rc = p->metric == LF_STUDY_ROI ? roi_measure(p, &c, s, &img, path, r, &cap, err)
                                           : nema_measure(p, s, &img, path, r, &cap, err);
        lf_volume_free(&img);
        if (rc == 0)
            r->measured++;
    }
    roi_free(&c);
    if (rc != 0)
        lf_study_results_free(r);
    return rc;
}

void lf_study_results_free(lf_study_results *r)
{
    free(r->row);
    r->row = NULL;
    r->n = 0;
}

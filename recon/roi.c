/* ROI statistics: labels resampled onto the image grid, erosion and restrictions, per-label
 * statistics, axial profiles, label names from truth.json, CSV / JSON output. See roi.h. */
#include "roi.h"

#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../io/json.h"

const char LF_ROI_CSV_HEADER[] = "label,name,voxels,volume_ml,mean,sd,cov_pct,min,max,peak,truth_mean,recovery_pct";

lf_roi_opts lf_roi_opts_default(void)
{
    lf_roi_opts o;
    memset(&o, 0, sizeof o);
    return o;
}

/* ------------------------------------------------------------------ affine grids */

typedef struct grid {
    int n[3];
    double m[3][3], t[3]; /* voxel -> mm */
    double inv[3][3];     /* mm - t -> voxel */
    double det;           /* |det m|: voxel volume, mm^3 */
} grid;

static int grid_of(const lf_volume *v, const char *what, grid *g, lf_error *err)
{
    for (int a = 0; a < 3; a++) {
        if (v->n[a] < 1)
            return lf_fail(err, "%s: %d x %d x %d voxels: expected each size >= 1", what, v->n[0], v->n[1], v->n[2]);
        g->n[a] = v->n[a];
        g->t[a] = v->sform[a][3];
        for (int b = 0; b < 3; b++)
            g->m[a][b] = v->sform[a][b];
    }
    const double(*m)[3] = g->m;
    double c00 = m[1][1] * m[2][2] - m[1][2] * m[2][1], c01 = m[1][2] * m[2][0] - m[1][0] * m[2][2],
           c02 = m[1][0] * m[2][1] - m[1][1] * m[2][0];
    double det = m[0][0] * c00 + m[0][1] * c01 + m[0][2] * c02;
    double scale = 0;
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++)
            scale = fmax(scale, fabs(m[a][b]));
    if (!isfinite(det) || !(fabs(det) > 1e-12 * scale * scale * scale) || !isfinite(g->t[0] + g->t[1] + g->t[2]))
        return lf_fail(err, "%s: the sform (voxel -> mm) is singular or not finite: expected an invertible affine map",
                       what);
    g->inv[0][0] = c00 / det;
    g->inv[1][0] = c01 / det;
    g->inv[2][0] = c02 / det;
    g->inv[0][1] = (m[0][2] * m[2][1] - m[0][1] * m[2][2]) / det;
    g->inv[1][1] = (m[0][0] * m[2][2] - m[0][2] * m[2][0]) / det;
    g->inv[2][1] = (m[0][1] * m[2][0] - m[0][0] * m[2][1]) / det;
    g->inv[0][2] = (m[0][1] * m[1][2] - m[0][2] * m[1][1]) / det;
    g->inv[1][2] = (m[0][2] * m[1][0] - m[0][0] * m[1][2]) / det;
    g->inv[2][2] = (m[0][0] * m[1][1] - m[0][1] * m[1][0]) / det;
    g->det = fabs(det);
    return 0;
}

static void to_mm(const grid *g, double i, double j, double k, double p[3])
{
    for (int a = 0; a < 3; a++)
        p[a] = g->m[a][0] * i + g->m[a][1] * j + g->m[a][2] * k + g->t[a];
}

static void to_index(const grid *g, const double p[3], double u[3])
{
    double d[3] = {p[0] - g->t[0], p[1] - g->t[1], p[2] - g->t[2]};
    for (int a = 0; a < 3; a++)
        u[a] = g->inv[a][0] * d[0] + g->inv[a][1] * d[1] + g->inv[a][2] * d[2];
}

/* Nearest voxel of continuous index u, or -1 when outside the grid. */
static int64_t nearest(const grid *g, const double u[3])
{
    int64_t idx[3];
    for (int a = 0; a < 3; a++) {
        double r = floor(u[a] + 0.5);
        if (!(r >= 0 && r < g->n[a]))
            return -1;
        idx[a] = (int64_t)r;
    }
    return idx[0] + (int64_t)g->n[0] * (idx[1] + (int64_t)g->n[1] * idx[2]);
}

static size_t nvox(const int n[3]) { return (size_t)n[0] * (size_t)n[1] * (size_t)n[2]; }

/* Half-extent, in voxels along each axis, of a ball of radius r mm. */
static void ball_extent(const grid *g, double r, double h[3])
{
    for (int a = 0; a < 3; a++)
        h[a] = r * sqrt(g->inv[a][0] * g->inv[a][0] + g->inv[a][1] * g->inv[a][1] + g->inv[a][2] * g->inv[a][2]);
}

/* ------------------------------------------------------------------ labels */

/* Integer labels of a label image; validates every voxel. */
static int labels_to_int(const lf_volume *v, int32_t **out, lf_error *err)
{
    size_t n = nvox(v->n);
    int32_t *l = malloc(n * sizeof *l);
    if (!l)
        return lf_fail(err, "out of memory for a %d x %d x %d label image", v->n[0], v->n[1], v->n[2]);
    for (size_t q = 0; q < n; q++) {
        double x = v->data[q], r = nearbyint(x);
        if (!(fabs(x - r) <= 1e-3) || r < 0 || r > LF_ROI_MAX_LABEL) {
            size_t i = q % (size_t)v->n[0], j = q / (size_t)v->n[0] % (size_t)v->n[1],
                   k = q / ((size_t)v->n[0] * (size_t)v->n[1]);
            free(l);
            return lf_fail(err, "label image voxel (%zu, %zu, %zu) is %g: expected integer labels 0..%d", i, j, k, x,
                           LF_ROI_MAX_LABEL);
        }
        l[q] = (int32_t)r;
    }
    *out = l;
    return 0;
}

int lf_roi_label_list(const lf_volume *labels, int **out, int *n, lf_error *err)
{
    *out = NULL;
    *n = 0;
    int32_t *l;
    if (labels_to_int(labels, &l, err) != 0)
        return -1;
    uint8_t *seen = calloc(LF_ROI_MAX_LABEL + 1, 1);
    if (!seen) {
        free(l);
        return lf_fail(err, "out of memory");
    }
    size_t nv = nvox(labels->n);
    int count = 0;
    for (size_t q = 0; q < nv; q++)
        if (l[q] && !seen[l[q]]) {
            seen[l[q]] = 1;
            count++;
        }
    free(l);
    int *list = malloc((size_t)(count ? count : 1) * sizeof *list);
    if (!list) {
        free(seen);
        return lf_fail(err, "out of memory");
    }
    int c = 0;
    for (int L = 1; L <= LF_ROI_MAX_LABEL; L++)
        if (seen[L])
            list[c++] = L;
    free(seen);
    *out = list;
    *n = count;
    return 0;
}

void lf_roi_mask_free(lf_roi_mask *m)
{
    if (!m)
        return;
    free(m->label);
    m->label = NULL;
}

/* 1 when every label-grid voxel whose centre is within e mm of continuous label index u has label L. */
static int erode_keeps(const grid *lg, const int32_t *lab, const double u[3], const double h[3], double e, int32_t L)
{
    int64_t lo[3], hi[3];
    for (int a = 0; a < 3; a++) {
        lo[a] = (int64_t)ceil(u[a] - h[a] - 1e-9);
        hi[a] = (int64_t)floor(u[a] + h[a] + 1e-9);
    }
    double e2 = e * e * (1 + 1e-12) + 1e-12;
    for (int64_t k = lo[2]; k <= hi[2]; k++)
        for (int64_t j = lo[1]; j <= hi[1]; j++)
            for (int64_t i = lo[0]; i <= hi[0]; i++) {
                double d[3] = {(double)i - u[0], (double)j - u[1], (double)k - u[2]}, r2 = 0;
                for (int a = 0; a < 3; a++) {
                    double x = lg->m[a][0] * d[0] + lg->m[a][1] * d[1] + lg->m[a][2] * d[2];
                    r2 += x * x;
                }
                if (r2 > e2)
                    continue;
                int inside = i >= 0 && j >= 0 && k >= 0 && i < lg->n[0] && j < lg->n[1] && k < lg->n[2];
                int32_t v = inside ? lab[i + (int64_t)lg->n[0] * (j + (int64_t)lg->n[1] * k)] : 0;
                if (v != L)
                    return 0;
            }
    return 1;
}

int lf_roi_mask_build(const lf_volume *labels, const lf_volume *img, const lf_roi_opts *o, lf_roi_mask *m,
                      lf_error *err)
{
    memset(m, 0, sizeof *m);
    lf_roi_opts def = lf_roi_opts_default();
    if (!o)
        o = &def;
    if (!(o->erode_mm >= 0) || !isfinite(o->erode_mm))
        return lf_fail(err, "erosion %g mm: expected a finite distance >= 0", o->erode_mm);
    if (o->z_range && !(o->z0_mm <= o->z1_mm))
        return lf_fail(err, "axial range %g..%g mm: expected z0 <= z1", o->z0_mm, o->z1_mm);
    grid ig, lg;
    if (grid_of(img, "image", &ig, err) != 0 || grid_of(labels, "label image", &lg, err) != 0)
        return -1;
    int32_t *lab;
    if (labels_to_int(labels, &lab, err) != 0)
        return -1;
    size_t n = nvox(ig.n);
    int32_t *out = malloc(n * sizeof *out);
    if (!out) {
        free(lab);
        return lf_fail(err, "out of memory for a %d x %d x %d ROI mask", ig.n[0], ig.n[1], ig.n[2]);
    }
    double e = o->erode_mm, h[3];
    ball_extent(&lg, e, h);
    int radial = o->radius_mm > 0 && isfinite(o->radius_mm);
    const double slack = 1e-6;
#pragma omp parallel for schedule(dynamic, 1)
    for (int k = 0; k < ig.n[2]; k++)
        for (int j = 0; j < ig.n[1]; j++)
            for (int i = 0; i < ig.n[0]; i++) {
                size_t q = (size_t)i + (size_t)ig.n[0] * ((size_t)j + (size_t)ig.n[1] * (size_t)k);
                double p[3], u[3];
                to_mm(&ig, i, j, k, p);
                out[q] = 0;
                if (o->z_range && (p[2] < o->z0_mm - slack || p[2] > o->z1_mm + slack))
                    continue;
                if (radial && hypot(p[0], p[1]) > o->radius_mm + slack)
                    continue;
                to_index(&lg, p, u);
                int64_t s = nearest(&lg, u);
                int32_t L = s < 0 ? 0 : lab[s];
                if (L && e > 0 && !erode_keeps(&lg, lab, u, h, e, L))
                    L = 0;
                out[q] = L;
            }
    free(lab);
    m->n[0] = ig.n[0];
    m->n[1] = ig.n[1];
    m->n[2] = ig.n[2];
    m->label = out;
    return 0;
}

/* ------------------------------------------------------------------ truth */

int lf_roi_resample_truth(const lf_volume *truth, const lf_volume *img, lf_volume *out, lf_error *err)
{
    memset(out, 0, sizeof *out);
    grid ig, tg;
    if (grid_of(img, "image", &ig, err) != 0 || grid_of(truth, "truth image", &tg, err) != 0)
        return -1;
    size_t n = nvox(ig.n), nt = nvox(tg.n);
    float *d = calloc(n, sizeof *d);
    if (!d)
        return lf_fail(err, "out of memory for a %d x %d x %d truth image", ig.n[0], ig.n[1], ig.n[2]);
    double *sum = NULL;
    uint32_t *cnt = NULL;
    int average = tg.det <= ig.det * (1 + 1e-9);
    if (average) {
        sum = calloc(n, sizeof *sum);
        cnt = calloc(n, sizeof *cnt);
        if (!sum || !cnt) {
            free(sum);
            free(cnt);
            free(d);
            return lf_fail(err, "out of memory for resampling the truth image");
        }
        for (size_t q = 0; q < nt; q++) {
            size_t i = q % (size_t)tg.n[0], j = q / (size_t)tg.n[0] % (size_t)tg.n[1],
                   k = q / ((size_t)tg.n[0] * (size_t)tg.n[1]);
            double p[3], u[3];
            to_mm(&tg, (double)i, (double)j, (double)k, p);
            to_index(&ig, p, u);
            int64_t s = nearest(&ig, u);
            if (s >= 0) {
                sum[s] += truth->data[q];
                cnt[s]++;
            }
        }
    }
#pragma omp parallel for schedule(static)
    for (int k = 0; k < ig.n[2]; k++)
        for (int j = 0; j < ig.n[1]; j++)
            for (int i = 0; i < ig.n[0]; i++) {
                size_t q = (size_t)i + (size_t)ig.n[0] * ((size_t)j + (size_t)ig.n[1] * (size_t)k);
                if (average && cnt[q]) {
                    d[q] = (float)(sum[q] / cnt[q]);
                    continue;
                }
                double p[3], u[3];
                to_mm(&ig, i, j, k, p);
                to_index(&tg, p, u);
                int64_t s = nearest(&tg, u);
                d[q] = s < 0 ? 0.0f : truth->data[s];
            }
    free(sum);
    free(cnt);
    for (int a = 0; a < 3; a++) {
        out->n[a] = img->n[a];
        out->vox_mm[a] = img->vox_mm[a];
        for (int b = 0; b < 4; b++)
            out->sform[a][b] = img->sform[a][b];
    }
    out->data = d;
    snprintf(out->descrip, sizeof out->descrip, "truth resampled to the image grid");
    return 0;
}

/* ------------------------------------------------------------------ statistics */

typedef struct offs {
    int n;
    int (*d)[3];
} offs;

/* Voxel offsets of the image grid whose centres lie within r mm of the origin voxel's centre. */
static int ball_offsets(const grid *g, double r, offs *o, lf_error *err)
{
    double h[3];
    ball_extent(g, r, h);
    int e[3];
    for (int a = 0; a < 3; a++)
        e[a] = (int)fmin(floor(h[a] + 1e-9), 4096);
    size_t cap = (size_t)(2 * e[0] + 1) * (size_t)(2 * e[1] + 1) * (size_t)(2 * e[2] + 1);
    o->d = malloc(cap * sizeof *o->d);
    o->n = 0;
    if (!o->d)
        return lf_fail(err, "out of memory for the peak sphere (%zu offsets)", cap);
    double r2 = r * r * (1 + 1e-12);
    for (int k = -e[2]; k <= e[2]; k++)
        for (int j = -e[1]; j <= e[1]; j++)
            for (int i = -e[0]; i <= e[0]; i++) {
                double p[3];
                to_mm(g, i, j, k, p);
                double r2_ = 0;
                for (int a = 0; a < 3; a++)
                    r2_ += (p[a] - g->t[a]) * (p[a] - g->t[a]);
                if (r2_ <= r2) {
                    o->d[o->n][0] = i;
                    o->d[o->n][1] = j;
                    o->d[o->n][2] = k;
                    o->n++;
                }
            }
    return 0;
}

int lf_roi_stats_compute(const lf_volume *image, const lf_roi_mask *m, const lf_volume *truth, const int *labels,
                         int n_labels, lf_roi_stats **out, lf_error *err)
{
    *out = NULL;
    grid ig;
    if (grid_of(image, "image", &ig, err) != 0)
        return -1;
    for (int a = 0; a < 3; a++) {
        if (m->n[a] != image->n[a])
            return lf_fail(err, "ROI mask of %d x %d x %d voxels for an image of %d x %d x %d: expected the image's grid",
                           m->n[0], m->n[1], m->n[2], image->n[0], image->n[1], image->n[2]);
        if (truth && truth->n[a] != image->n[a])
            return lf_fail(err, "truth of %d x %d x %d voxels for an image of %d x %d x %d: resample it first "
                                "(lf_roi_resample_truth)",
                           truth->n[0], truth->n[1], truth->n[2], image->n[0], image->n[1], image->n[2]);
    }
    if (n_labels < 0 || (n_labels > 0 && !labels))
        return lf_fail(err, "lf_roi_stats_compute: %d labels: expected a list", n_labels);
    int32_t *slot = malloc((LF_ROI_MAX_LABEL + 1) * sizeof *slot);
    lf_roi_stats *st = calloc((size_t)(n_labels ? n_labels : 1), sizeof *st);
    double *sum = calloc((size_t)(n_labels ? n_labels : 1), 3 * sizeof *sum); /* sum, truth sum, ssd */
    offs ball = {0, NULL};
    double *pk_all = NULL;
    if (!slot || !st || !sum) {
        free(slot);
        free(st);
        free(sum);
        return lf_fail(err, "out of memory");
    }
    int rc = -1;
    for (int L = 0; L <= LF_ROI_MAX_LABEL; L++)
        slot[L] = -1;
    for (int s = 0; s < n_labels; s++) {
        if (labels[s] < 1 || labels[s] > LF_ROI_MAX_LABEL) {
            lf_fail(err, "label %d: expected 1..%d", labels[s], LF_ROI_MAX_LABEL);
            goto out;
        }
        if (slot[labels[s]] >= 0) {
            lf_fail(err, "label %d requested twice", labels[s]);
            goto out;
        }
        slot[labels[s]] = s;
        st[s].label = labels[s];
        st[s].min = INFINITY;
        st[s].max = -INFINITY;
        st[s].peak = -INFINITY;
    }
    size_t nv = nvox(image->n);
    const float *x = image->data;
    for (size_t q = 0; q < nv; q++) {
        int32_t L = m->label[q];
        if (L <= 0 || L > LF_ROI_MAX_LABEL || slot[L] < 0)
            continue;
        int s = slot[L];
        double v = x[q];
        if (!isfinite(v)) {
            lf_fail(err, "image voxel (%zu, %zu, %zu) in label %d is %g: expected finite values",
                    q % (size_t)image->n[0], q / (size_t)image->n[0] % (size_t)image->n[1],
                    q / ((size_t)image->n[0] * (size_t)image->n[1]), L, v);
            goto out;
        }
        st[s].voxels++;
        sum[3 * s] += v;
        if (truth)
            sum[3 * s + 1] += truth->data[q];
        if (v < st[s].min)
            st[s].min = v;
        if (v > st[s].max)
            st[s].max = v;
    }
    for (int s = 0; s < n_labels; s++)
        st[s].mean = st[s].voxels ? sum[3 * s] / (double)st[s].voxels : NAN;
    for (size_t q = 0; q < nv; q++) {
        int32_t L = m->label[q];
        if (L <= 0 || L > LF_ROI_MAX_LABEL || slot[L] < 0)
            continue;
        double dv = x[q] - st[slot[L]].mean;
        sum[3 * slot[L] + 2] += dv * dv;
    }
    /* peak: 1 mL sphere mean around each ROI voxel, clipped at the image edge */
    if (ball_offsets(&ig, LF_ROI_PEAK_RADIUS_MM, &ball, err) != 0)
        goto out;
    const int nx = image->n[0], ny = image->n[1], nz = image->n[2];
    int nthr = omp_get_max_threads(), nl = n_labels ? n_labels : 1;
    pk_all = malloc((size_t)nthr * (size_t)nl * sizeof *pk_all);
    if (!pk_all) {
        lf_fail(err, "out of memory for the peak search");
        goto out;
    }
    for (size_t t = 0; t < (size_t)nthr * (size_t)nl; t++)
        pk_all[t] = -INFINITY;
#pragma omp parallel num_threads(nthr)
    {
        double *pk = pk_all + (size_t)omp_get_thread_num() * (size_t)nl;
#pragma omp for schedule(dynamic, 1)
        for (int k = 0; k < nz; k++)
            for (int j = 0; j < ny; j++)
                for (int i = 0; i < nx; i++) {
                    size_t q = (size_t)i + (size_t)nx * ((size_t)j + (size_t)ny * (size_t)k);
                    int32_t L = m->label[q];
                    if (L <= 0 || L > LF_ROI_MAX_LABEL || slot[L] < 0)
                        continue;
                    double a = 0;
                    int c = 0;
                    for (int b = 0; b < ball.n; b++) {
                        int ii = i + ball.d[b][0], jj = j + ball.d[b][1], kk = k + ball.d[b][2];
                        if (ii < 0 || jj < 0 || kk < 0 || ii >= nx || jj >= ny || kk >= nz)
                            continue;
                        a += x[(size_t)ii + (size_t)nx * ((size_t)jj + (size_t)ny * (size_t)kk)];
                        c++;
                    }
                    double mean = a / c; /* c >= 1: the centre voxel */
                    if (mean > pk[slot[L]])
                        pk[slot[L]] = mean;
                }
    }
    for (int t = 0; t < nthr; t++)
        for (int s = 0; s < n_labels; s++)
            if (pk_all[(size_t)t * (size_t)nl + (size_t)s] > st[s].peak)
                st[s].peak = pk_all[(size_t)t * (size_t)nl + (size_t)s];
    for (int s = 0; s < n_labels; s++) {
        lf_roi_stats *r = &st[s];
        uint64_t n = r->voxels;
        r->volume_ml = (double)n * ig.det / 1000.0;
        r->truth_mean = r->recovery_pct = NAN;
        if (n == 0) {
            r->mean = r->sd = r->cov_pct = r->min = r->max = r->peak = NAN;
            continue;
        }
        r->sd = n > 1 ? sqrt(sum[3 * s + 2] / (double)(n - 1)) : 0.0;
        r->cov_pct = r->mean != 0 ? 100.0 * r->sd / r->mean : NAN;
        if (truth) {
            r->truth_mean = sum[3 * s + 1] / (double)n;
            r->recovery_pct = r->truth_mean != 0 ? 100.0 * r->mean / r->truth_mean : NAN;
        }
    }
    *out = st;
    st = NULL;
    rc = 0;
out:
    free(pk_all);
    free(ball.d);
    free(slot);
    free(st);
    free(sum);
    return rc;
}

int lf_roi_compute(const lf_volume *image, const lf_volume *labels, const lf_volume *truth, const lf_roi_opts *o,
                   lf_roi_stats **out, int *n, lf_error *err)
{
    *out = NULL;
    *n = 0;
    lf_roi_opts def = lf_roi_opts_default();
    if (!o)
        o = &def;
    int *present = NULL, npresent = 0, rc = -1;
    lf_roi_mask m = {{0}, NULL};
    lf_volume tr;
    memset(&tr, 0, sizeof tr);
    if (lf_roi_label_list(labels, &present, &npresent, err) != 0)
        return -1;
    const int *want = present;
    int nwant = npresent;
    if (o->labels) {
        for (int s = 0; s < o->n_labels; s++) {
            int found = 0;
            for (int t = 0; t < npresent && !found; t++)
                found = present[t] == o->labels[s];
            if (!found) {
                char list[512] = "";
                size_t len = 0;
                for (int t = 0; t < npresent && len < sizeof list - 16; t++)
                    len += (size_t)snprintf(list + len, sizeof list - len, "%s%d", t ? ", " : "", present[t]);
                if (npresent == 0)
                    snprintf(list, sizeof list, "none");
                lf_fail(err, "label %d does not occur in the label image (labels present: %s)", o->labels[s], list);
                goto out;
            }
        }
        want = o->labels;
        nwant = o->n_labels;
    }
    if (lf_roi_mask_build(labels, image, o, &m, err) != 0)
        goto out;
    if (truth && lf_roi_resample_truth(truth, image, &tr, err) != 0)
        goto out;
    if (lf_roi_stats_compute(image, &m, truth ? &tr : NULL, want, nwant, out, err) != 0)
        goto out;
    *n = nwant;
    rc = 0;
out:
    free(present);
    lf_roi_mask_free(&m);
    lf_volume_free(&tr);
    return rc;
}

int lf_roi_profile(const lf_volume *image, const lf_roi_mask *m, int label, double *mean, uint64_t *count,
                   double *z_mm, lf_error *err)
{
    for (int a = 0; a < 3; a++)
        if (m->n[a] != image->n[a])
            return lf_fail(err, "ROI mask of %d x %d x %d voxels for an image of %d x %d x %d: expected the image's grid",
                           m->n[0], m->n[1], m->n[2], image->n[0], image->n[1], image->n[2]);
    const int nx = image->n[0], ny = image->n[1], nz = image->n[2];
    for (int k = 0; k < nz; k++) {
        double s = 0;
        uint64_t c = 0;
        for (size_t q = (size_t)nx * ny * k, e = q + (size_t)nx * ny; q < e; q++)
            if (m->label[q] == label) {
                s += image->data[q];
                c++;
            }
        if (mean)
            mean[k] = c ? s / (double)c : NAN;
        if (count)
            count[k] = c;
        if (z_mm) {
            double p[3];
            lf_volume_voxel_mm(image, (nx - 1) / 2.0, (ny - 1) / 2.0, k, p);
            z_mm[k] = p[2];
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ truth.json label names */

typedef struct jr {
    const char *s, *p;
    const char *origin;
    lf_error *err;
} jr;

static void ws(jr *r)
{
    while (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')
        r->p++;
}

static int jfail(jr *r, const char *what)
{
    const char *at = *r->p ? r->p : "end of file";
    return lf_fail(r->err, "%s: byte %ld: expected %s, found '%.12s'", r->origin, (long)(r->p - r->s), what, at);
}

static int hex4(const char *p, unsigned *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return -1;
        *v = *v * 16 + (unsigned)d;
    }
    return 0;
}

/* A JSON string into out (NUL-terminated, UTF-8) when out is not NULL. */
static int jstring(jr *r, char *out, size_t cap)
{
    if (*r->p != '"')
        return jfail(r, "a string");
    r->p++;
    size_t len = 0;
    for (;;) {
        unsigned char c = (unsigned char)*r->p;
        char buf[4];
        int nb = 1;
        if (c == '\0')
            return jfail(r, "the end of a string ('\"')");
        if (c == '"') {
            r->p++;
            break;
        }
        if (c < 0x20)
            return jfail(r, "no control characters inside a string");
        if (c != '\\') {
            buf[0] = (char)c;
            r->p++;
        } else {
            char e = r->p[1];
            const char *map = strchr("\"\\/bfnrt", e);
            if (e && map) {
                buf[0] = "\"\\/\b\f\n\r\t"[map - "\"\\/bfnrt"];
                r->p += 2;
            } else if (e == 'u') {
                unsigned cp, lo;
                if (hex4(r->p + 2, &cp) != 0)
                    return jfail(r, "\\u and 4 hex digits");
                r->p += 6;
                if (cp >= 0xD800 && cp < 0xDC00) {
                    if (r->p[0] != '\\' || r->p[1] != 'u' || hex4(r->p + 2, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF)
                        return jfail(r, "a low surrogate \\uDC00..\\uDFFF");
                    r->p += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                } else if (cp >= 0xDC00 && cp < 0xE000) {
                    return jfail(r, "no lone low surrogate");
                }
                if (cp < 0x80) {
                    buf[0] = (char)cp;
                } else if (cp < 0x800) {
                    buf[0] = (char)(0xC0 | (cp >> 6));
                    buf[1] = (char)(0x80 | (cp & 0x3F));
                    nb = 2;
                } else if (cp < 0x10000) {
                    buf[0] = (char)(0xE0 | (cp >> 12));
                    buf[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
                    buf[2] = (char)(0x80 | (cp & 0x3F));
                    nb = 3;
                } else {
                    buf[0] = (char)(0xF0 | (cp >> 18));
                    buf[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
                    buf[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
                    buf[3] = (char)(0x80 | (cp & 0x3F));
                    nb = 4;
                }
            } else {
                return jfail(r, "a valid escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)");
            }
        }
        if (out) {
            if (len + (size_t)nb >= cap)
                return lf_fail(r->err, "%s: byte %ld: string longer than %zu bytes", r->origin, (long)(r->p - r->s),
                               cap - 1);
            memcpy(out + len, buf, (size_t)nb);
        }
        len += (size_t)nb;
    }
    if (out)
        out[len] = '\0';
    return 0;
}

/* An object key into key; a key too long for key reads as "" (matches nothing). */
static int jkey(jr *r, char *key, size_t cap)
{
    const char *start = r->p;
    if (jstring(r, NULL, 0) != 0)
        return -1;
    key[0] = '\0';
    if ((size_t)(r->p - start) < cap) { /* the raw text bounds the decoded length */
        r->p = start;
        return jstring(r, key, cap);
    }
    return 0;
}

static int jnumber(jr *r, double *v)
{
    if (!(*r->p == '-' || (*r->p >= '0' && *r->p <= '9')))
        return jfail(r, "a number");
    char *end;
    errno = 0;
    *v = strtod(r->p, &end);
    if (end == r->p || errno == ERANGE)
        return jfail(r, "a number");
    r->p = end;
    return 0;
}

static int jskip(jr *r, int depth)
{
    if (depth > 64)
        return jfail(r, "nesting at most 64 deep");
    ws(r);
    char c = *r->p;
    if (c == '"')
        return jstring(r, NULL, 0);
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        r->p++;
        ws(r);
        if (*r->p == close) {
            r->p++;
            return 0;
        }
        for (;;) {
            if (c == '{') {
                ws(r);
                if (jstring(r, NULL, 0) != 0)
                    return -1;
                ws(r);
                if (*r->p != ':')
                    return jfail(r, "':'");
                r->p++;
            }
            if (jskip(r, depth + 1) != 0)
                return -1;
            ws(r);
            if (*r->p == ',') {
                r->p++;
                continue;
            }
            if (*r->p == close) {
                r->p++;
                return 0;
            }
            return jfail(r, c == '{' ? "',' or '}'" : "',' or ']'");
        }
    }
    static const char *lit[] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++)
        if (!strncmp(r->p, lit[i], strlen(lit[i]))) {
            r->p += strlen(lit[i]);
            return 0;
        }
    double v;
    return jnumber(r, &v) != 0 ? jfail(r, "a JSON value") : 0;
}

static int add_name(lf_roi_names *nm, int label, const char *name, jr *r, int entry)
{
    for (int i = 0; i < nm->n; i++)
        if (nm->label[i] == label)
            return lf_fail(r->err, "%s: \"labels\"[%d]: label %d appears twice (first as \"%s\")", r->origin, entry,
                           label, nm->name[i]);
    int *l = realloc(nm->label, (size_t)(nm->n + 1) * sizeof *l);
    if (l)
        nm->label = l;
    char **s = realloc(nm->name, (size_t)(nm->n + 1) * sizeof *s);
    if (s)
        nm->name = s;
    char *d = strdup(name);
    if (!l || !s || !d) {
        free(d);
        return lf_fail(r->err, "out of memory");
    }
    nm->label[nm->n] = label;
    nm->name[nm->n] = d;
    nm->n++;
    return 0;
}

static int parse_labels(jr *r, lf_roi_names *nm)
{
    r->p++; /* '[' */
    ws(r);
    if (*r->p == ']') {
        r->p++;
        return 0;
    }
    for (int entry = 0;; entry++) {
        ws(r);
        if (*r->p != '{') {
            char what[64];
            snprintf(what, sizeof what, "\"labels\"[%d] to be an object", entry);
            return jfail(r, what);
        }
        r->p++;
        int have_label = 0, have_name = 0, label = 0;
        char name[256] = "";
        ws(r);
        if (*r->p == '}') {
            r->p++;
        } else {
            for (;;) {
                char key[64];
                ws(r);
                if (jkey(r, key, sizeof key) != 0)
                    return -1;
                ws(r);
                if (*r->p != ':')
                    return jfail(r, "':'");
                r->p++;
                ws(r);
                if (!strcmp(key, "label")) {
                    double v = 0;
                    if (jnumber(r, &v) != 0 || !(v == floor(v) && v >= 0 && v <= LF_ROI_MAX_LABEL))
                        return lf_fail(r->err, "%s: \"labels\"[%d]: \"label\" must be an integer 0..%d", r->origin,
                                       entry, LF_ROI_MAX_LABEL);
                    label = (int)v;
                    have_label = 1;
                } else if (!strcmp(key, "name")) {
                    if (*r->p != '"')
                        return lf_fail(r->err, "%s: \"labels\"[%d]: \"name\" must be a string", r->origin, entry);
                    if (jstring(r, name, sizeof name) != 0)
                        return -1;
                    have_name = 1;
                } else if (jskip(r, 2) != 0) {
                    return -1;
                }
                ws(r);
                if (*r->p == ',') {
                    r->p++;
                    continue;
                }
                if (*r->p == '}') {
                    r->p++;
                    break;
                }
                return jfail(r, "',' or '}'");
            }
        }
        if (!have_label || !have_name)
            return lf_fail(r->err, "%s: \"labels\"[%d]: expected \"label\": N and \"name\": \"...\" (missing %s)",
                           r->origin, entry, have_label ? "\"name\"" : "\"label\"");
        if (add_name(nm, label, name, r, entry) != 0)
            return -1;
        ws(r);
        if (*r->p == ',') {
            r->p++;
            continue;
        }
        if (*r->p == ']') {
            r->p++;
            return 0;
        }
        return jfail(r, "',' or ']' in the \"labels\" array");
    }
}

int lf_roi_names_parse(const char *text, const char *origin, lf_roi_names *names, lf_error *err)
{
    memset(names, 0, sizeof *names);
    jr r = {text, text, origin ? origin : "truth.json", err};
    int found = 0;
    ws(&r);
    if (*r.p != '{')
        return jfail(&r, "a JSON object (the simulator's truth.json)");
    r.p++;
    ws(&r);
    if (*r.p == '}') {
        r.p++;
    } else {
        for (;;) {
            char key[64];
            ws(&r);
            if (jkey(&r, key, sizeof key) != 0)
                goto fail;
            ws(&r);
            if (*r.p != ':') {
                jfail(&r, "':'");
                goto fail;
            }
            r.p++;
            ws(&r);
            if (!strcmp(key, "labels")) {
                if (*r.p != '[') {
                    jfail(&r, "\"labels\" to be an array");
                    goto fail;
                }
                if (found) {
                    lf_fail(err, "%s: \"labels\" appears twice", r.origin);
                    goto fail;
                }
                if (parse_labels(&r, names) != 0)
                    goto fail;
                found = 1;
            } else if (jskip(&r, 1) != 0) {
                goto fail;
            }
            ws(&r);
            if (*r.p == ',') {
                r.p++;
                continue;
            }
            if (*r.p == '}') {
                r.p++;
                break;
            }
            jfail(&r, "',' or '}'");
            goto fail;
        }
    }
    ws(&r);
    if (*r.p) {
        jfail(&r, "the end of the document");
        goto fail;
    }
    if (!found) {
        lf_fail(err, "%s: no top-level \"labels\" array: expected the simulator's truth.json", r.origin);
        goto fail;
    }
    return 0;
fail:
    lf_roi_names_free(names);
    return -1;
}

int lf_roi_names_read(const char *path, lf_roi_names *names, lf_error *err)
{
    memset(names, 0, sizeof *names);
    FILE *f = fopen(path, "rb");
    if (!f)
        return lf_fail(err, "%s: %s", path, strerror(errno));
    const size_t max = 64u << 20;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (len < cap - 1)
            break;
        if (cap >= max) {
            free(buf);
            fclose(f);
            return lf_fail(err, "%s: larger than %zu MiB: expected a truth.json", path, max >> 20);
        }
        char *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    if (!buf) {
        fclose(f);
        return lf_fail(err, "%s: out of memory", path);
    }
    int rerr = ferror(f);
    fclose(f);
    if (rerr) {
        free(buf);
        return lf_fail(err, "%s: read error", path);
    }
    buf[len] = '\0';
    if (strlen(buf) != len) {
        free(buf);
        return lf_fail(err, "%s: contains a NUL byte: expected a JSON text (truth.json)", path);
    }
    int rc = lf_roi_names_parse(buf, path, names, err);
    free(buf);
    return rc;
}

void lf_roi_names_free(lf_roi_names *names)
{
    if (!names)
        return;
    for (int i = 0; i < names->n; i++)
        free(names->name[i]);
    free(names->name);
    free(names->label);
    memset(names, 0, sizeof *names);
}

const char *lf_roi_name(const lf_roi_names *names, int label)
{
    if (!names)
        return NULL;
    for (int i = 0; i < names->n; i++)
        if (names->label[i] == label)
            return names->name[i];
    return NULL;
}

/* ------------------------------------------------------------------ output */

static void csv_name(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void csv_num(FILE *f, double v)
{
    fputc(',', f);
    if (!isnan(v))
        fprintf(f, "%.10g", v);
}

void lf_roi_csv(FILE *f, const lf_roi_stats *st, int n, const lf_roi_names *names)
{
    fprintf(f, "%s\n", LF_ROI_CSV_HEADER);
    for (int i = 0; i < n; i++) {
        const lf_roi_stats *r = &st[i];
        const char *nm = lf_roi_name(names, r->label);
        fprintf(f, "%d,", r->label);
        if (nm) {
            csv_name(f, nm);
        } else {
            fprintf(f, "label_%d", r->label);
        }
        fprintf(f, ",%llu", (unsigned long long)r->voxels);
        csv_num(f, r->volume_ml);
        csv_num(f, r->mean);
        csv_num(f, r->sd);
        csv_num(f, r->cov_pct);
        csv_num(f, r->min);
        csv_num(f, r->max);
        csv_num(f, r->peak);
        csv_num(f, r->truth_mean);
        csv_num(f, r->recovery_pct);
        fputc('\n', f);
    }
}

void lf_roi_json(FILE *f, const lf_roi_stats *st, int n, const lf_roi_names *names)
{
    lf_json j;
    lf_json_init(&j, f);
    lf_json_arr(&j, NULL);
    for (int i = 0; i < n; i++) {
        const lf_roi_stats *r = &st[i];
        const char *nm = lf_roi_name(names, r->label);
        char def[32];
        snprintf(def, sizeof def, "label_%d", r->label);
        lf_json_obj(&j, NULL);
        lf_json_i64(&j, "label", r->label);
        lf_json_str(&j, "name", nm ? nm : def);
        lf_json_u64(&j, "voxels", r->voxels);
        lf_json_num(&j, "volume_ml", r->volume_ml);
        lf_json_num(&j, "mean", r->mean);
        lf_json_num(&j, "sd", r->sd);
        lf_json_num(&j, "cov_pct", r->cov_pct);
        lf_json_num(&j, "min", r->min);
        lf_json_num(&j, "max", r->max);
        lf_json_num(&j, "peak", r->peak);
        lf_json_num(&j, "truth_mean", r->truth_mean);
        lf_json_num(&j, "recovery_pct", r->recovery_pct);
        lf_json_end(&j);
    }
    lf_json_end(&j);
    lf_json_finish(&j);
}

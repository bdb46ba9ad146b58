#include "mumap.h"

#include "../io/data_dir.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../io/interfile.h"


#define HU2MU_FILE "carney2006.hu2mu"
#define FWHM_PER_SIGMA 2.3548200450309493 /* 2 sqrt(2 ln 2) */

/* ------------------------------------------------------------------ table */

static void default_path(char *buf, size_t n)
{
    char dir[4096];
    snprintf(buf, n, "%s/%s", lf_data_subdir("ct", NULL, dir, sizeof dir), HU2MU_FILE);
}

/* Parses "a=..., b=..., bp=..." (any order, ',' or ';' or spaces between fields). */
static int parse_row(const lf_ifh *h, const lf_ifh_entry *e, lf_hu2mu_row *r, lf_error *err)
{
    int have_a = 0, have_b = 0, have_bp = 0;
    const char *p = e->value;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',' || *p == ';')
            p++;
        if (!*p)
            break;
        const char *name = p;
        while (*p && *p != '=' && *p != ' ' && *p != ',')
            p++;
        size_t nl = (size_t)(p - name);
        while (*p == ' ')
            p++;
        if (*p != '=')
            return lf_fail(err, "%s: line %d: key '%s': expected 'a=..., b=..., bp=...', got '%s'", h->origin, e->line,
                           e->key, e->value);
        p++;
        char *end;
        double v = strtod(p, &end);
        if (end == p || !isfinite(v))
            return lf_fail(err, "%s: line %d: key '%s': expected a number after '%.*s=', got '%s'", h->origin, e->line,
                           e->key, (int)nl, name, e->value);
        p = end;
        if (nl == 1 && (name[0] == 'a' || name[0] == 'A')) {
            r->a = v;
            have_a = 1;
        } else if (nl == 1 && (name[0] == 'b' || name[0] == 'B')) {
            r->b = v;
            have_b = 1;
        } else if (nl == 2 && (name[0] == 'b' || name[0] == 'B') && (name[1] == 'p' || name[1] == 'P')) {
            r->bp = v;
            have_bp = 1;
        } else {
            return lf_fail(err, "%s: line %d: key '%s': unknown field '%.*s' (expected a, b, bp)", h->origin, e->line,
                           e->key, (int)nl, name);
        }
    }
    if (!have_a || !have_b || !have_bp)
        return lf_fail(err, "%s: line %d: key '%s': expected the fields a, b and bp, got '%s'", h->origin, e->line, e->key,
                       e->value);
    return 0;
}

int lf_hu2mu_load(const char *path, lf_hu2mu_table *t, lf_error *err)
{
    char buf[4200];
    if (!t)
        return lf_fail(err, "lf_hu2mu_load: NULL table");
    memset(t, 0, sizeof *t);
    if (!path || !*path) {
        default_path(buf, sizeof buf);
        path = buf;
    }
    lf_ifh h = {0};
    if (lf_ifh_parse_file(path, &h, err) != 0)
        return -1;
    int rc = -1;
    double slope;
    if (lf_ifh_req_double(&h, "slope below break point", &slope, err) != 0)
        goto out;
    if (!(slope > 0) || !isfinite(slope)) {
        lf_fail(err, "%s: key 'slope below break point': expected a positive number, got %g", path, slope);
        goto out;
    }
    const char *units = lf_ifh_get(&h, "units");
    if (units && strcmp(units, "1/cm") != 0) {
        lf_fail(err, "%s: key 'units': expected '1/cm', got '%s'", path, units);
        goto out;
    }
    for (size_t i = 0; i < h.n; i++) {
        const lf_ifh_entry *e = &h.e[i];
        if (!e->value || strncmp(e->norm, "kvp ", 4) != 0)
            continue;
        char *end;
        double kvp = strtod(e->norm + 4, &end);
        if (end == e->norm + 4 || *end || !(kvp > 0) || !isfinite(kvp)) {
            lf_fail(err, "%s: line %d: key '%s': expected 'kvp N' with N the tube voltage in kV", path, e->line, e->key);
            goto out;
        }
        if (t->nrows >= LF_HU2MU_MAX_ROWS) {
            lf_fail(err, "%s: line %d: more than %d kVp rows", path, e->line, LF_HU2MU_MAX_ROWS);
            goto out;
        }
        for (int k = 0; k < t->nrows; k++)
            if (fabs(t->row[k].kvp - kvp) < 0.5) {
                lf_fail(err, "%s: line %d: kVp %g given twice", path, e->line, kvp);
                goto out;
            }
        lf_hu2mu_row *r = &t->row[t->nrows];
        r->kvp = kvp;
        r->slope_below = slope;
        if (parse_row(&h, e, r, err) != 0)
            goto out;
        /* the two branches must meet at the break point (up to the rounding of published values) */
        double lo = slope * (r->bp + 1000.0), hi = r->a * (r->bp + 1000.0) + r->b;
        if (fabs(lo - hi) > 1e-3 * fabs(lo) + 1e-6) {
            lf_fail(err, "%s: line %d: kVp %g: the branches do not meet at the break point %g HU (%g vs %g 1/cm)", path,
                    e->line, kvp, r->bp, lo, hi);
            goto out;
        }
        t->nrows++;
    }
    if (t->nrows == 0) {
        lf_fail(err, "%s: no 'kvp N := a=..., b=..., bp=...' rows", path);
        goto out;
    }
    snprintf(t->origin, sizeof t->origin, "%s", path);
    rc = 0;
out:
    lf_ifh_free(&h);
    return rc;
}

static const lf_hu2mu_row *find_row(const lf_hu2mu_table *t, double kvp)
{
    for (int k = 0; k < t->nrows; k++)
        if (fabs(t->row[k].kvp - kvp) < 0.5)
            return &t->row[k];
    return NULL;
}

int lf_hu2mu_select(const lf_hu2mu_table *t, double kvp, const lf_hu2mu_row **row, lf_error *err)
{
    const lf_hu2mu_row *r = t ? find_row(t, kvp) : NULL;
    if (row)
        *row = r;
    if (r)
        return 0;
    char known[512] = "";
    size_t kl = 0;
    for (int k = 0; t && k < t->nrows && kl + 16 < sizeof known; k++)
        kl += (size_t)snprintf(known + kl, sizeof known - kl, "%s%g", k ? ", " : "", t->row[k].kvp);
    return lf_fail(err, "%s: no HU->mu conversion for a CT at %g kVp (available: %s kVp)",
                   t && t->origin[0] ? t->origin : "HU->mu table", kvp, kl ? known : "none");
}

double lf_hu2mu_eval(const lf_hu2mu_row *r, double hu)
{
    double x = hu + 1000.0;
    double mu = hu <= r->bp ? r->slope_below * x : r->a * x + r->b;
    return mu > 0 ? mu : 0.0; /* also maps NaN to 0 */
}

double lf_hu2mu(const lf_hu2mu_table *t, double kvp, double hu)
{
    const lf_hu2mu_row *r = find_row(t, kvp);
    return r ? lf_hu2mu_eval(r, hu) : NAN;
}

/* ------------------------------------------------------------------ Gaussian */

static size_t nvox(const int n[3])
{
    return (size_t)n[0] * (size_t)n[1] * (size_t)n[2];
}

/* Point-sampled Gaussian w[0..2R], normalised to sum 1; R = ceil(4 sigma). */
static float *gauss_kernel(double sigma, int *R)
{
    int r = (int)ceil(4.0 * sigma);
    if (r < 1)
        r = 1;
    float *w = malloc((size_t)(2 * r + 1) * sizeof *w);
    if (!w)
        return NULL;
    double s = 0;
    for (int t = -r; t <= r; t++)
        s += exp(-0.5 * t * t / (sigma * sigma));
    for (int t = -r; t <= r; t++)
        w[t + r] = (float)(exp(-0.5 * t * t / (sigma * sigma)) / s);
    *R = r;
    return w;
}

/* dst = src convolved along axis 'ax' with w[-R..R] (zero padding). */
static void conv_axis(const float *src, float *dst, const int n[3], int ax, const float *w, int R)
{
    const size_t n0 = (size_t)n[0], n1 = (size_t)n[1], n2 = (size_t)n[2];
    if (ax == 0) {
        long long rows = (long long)(n1 * n2);
#pragma omp parallel for schedule(static)
        for (long long row = 0; row < rows; row++) {
            const float *s = src + (size_t)row * n0;
            float *d = dst + (size_t)row * n0;
            for (long i = 0; i < (long)n0; i++) {
                long t0 = i - R < 0 ? -i : -R, t1 = i + R >= (long)n0 ? (long)n0 - 1 - i : R;
                float acc = 0;
                for (long t = t0; t <= t1; t++)
                    acc += w[t + R] * s[i + t];
                d[i] = acc;
            }
        }
    } else if (ax == 1) {
#pragma omp parallel for schedule(static)
        for (long long k = 0; k < (long long)n2; k++) {
            const float *s = src + (size_t)k * n0 * n1;
            float *d = dst + (size_t)k * n0 * n1;
            for (long j = 0; j < (long)n1; j++) {
                float *dr = d + (size_t)j * n0;
                memset(dr, 0, n0 * sizeof *dr);
                long t0 = j - R < 0 ? -j : -R, t1 = j + R >= (long)n1 ? (long)n1 - 1 - j : R;
                for (long t = t0; t <= t1; t++) {
                    const float *sr = s + (size_t)(j + t) * n0;
                    const float wt = w[t + R];
                    for (size_t i = 0; i < n0; i++)
                        dr[i] += wt * sr[i];
                }
            }
        }
    } else {
        const size_t plane = n0 * n1, blk = 4096, nblk = (plane + blk - 1) / blk;
#pragma omp parallel for collapse(2) schedule(static)
        for (long long k = 0; k < (long long)n2; k++)
            for (long long b = 0; b < (long long)nblk; b++) {
                size_t i0 = (size_t)b * blk, i1 = i0 + blk < plane ? i0 + blk : plane;
                float *d = dst + (size_t)k * plane;
                memset(d + i0, 0, (i1 - i0) * sizeof *d);
                long t0 = k - R < 0 ? -(long)k : -R, t1 = k + R >= (long long)n2 ? (long)n2 - 1 - (long)k : R;
                for (long t = t0; t <= t1; t++) {
                    const float *s = src + (size_t)(k + t) * plane;
                    const float wt = w[t + R];
                    for (size_t i = i0; i < i1; i++)
                        d[i] += wt * s[i];
                }
            }
    }
}

/* Smooths *data, using *tmp (same size) as the other buffer; on return *data points at the result
 * and *tmp at the other buffer (the two may have been swapped). */
static int gauss3d_pingpong(float **data, float **tmp, const int n[3], const double vox_mm[3], double fwhm_mm,
                            lf_error *err)
{
    if (!(fwhm_mm > 0))
        return 0;
    if (!isfinite(fwhm_mm))
        return lf_fail(err, "Gaussian FWHM %g mm: expected a finite value", fwhm_mm);
    for (int ax = 0; ax < 3; ax++)
        if (!(vox_mm[ax] > 0))
            return lf_fail(err, "Gaussian smoothing: voxel size %g mm along axis %d, expected > 0", vox_mm[ax], ax);
    for (int ax = 0; ax < 3; ax++) {
        double sigma = fwhm_mm / FWHM_PER_SIGMA / vox_mm[ax];
        if (sigma < 1e-3)
            continue;
        int R;
        float *w = gauss_kernel(sigma, &R);
        if (!w)
            return lf_fail(err, "out of memory for a Gaussian kernel");
        conv_axis(*data, *tmp, n, ax, w, R);
        free(w);
        float *x = *data;
        *data = *tmp;
        *tmp = x;
    }
    return 0;
}

int lf_mumap_gauss3d(float *data, const int n[3], const double vox_mm[3], double fwhm_mm, lf_error *err)
{
    if (!(fwhm_mm > 0))
        return 0;
    size_t nv = nvox(n);
    float *tmp = malloc(nv * sizeof *tmp);
    if (!tmp)
        return lf_fail(err, "out of memory for a %d x %d x %d smoothing buffer", n[0], n[1], n[2]);
    float *a = data, *b = tmp;
    int rc = gauss3d_pingpong(&a, &b, n, vox_mm, fwhm_mm, err);
    if (rc == 0 && a != data)
        memcpy(data, a, nv * sizeof *data);
    free(tmp);
    return rc;
}

/* ------------------------------------------------------------------ mean-preserving resampling */

static int check_grid(const lf_volume *v, const char *what, lf_error *err)
{
    for (int a = 0; a < 3; a++) {
        if (v->n[a] < 1)
            return lf_fail(err, "%s grid: %d voxels along axis %d, expected >= 1", what, v->n[a], a);
        double d = v->sform[a][a];
        if (!(d > 0) || !isfinite(d))
            return lf_fail(err, "%s grid: spacing along axis %d is %g mm (sform[%d][%d]), expected an axis-aligned grid "
                           "with positive spacing", what, a, d, a, a);
        if (fabs(d - v->vox_mm[a]) > 1e-3 * d)
            return lf_fail(err, "%s grid: sform[%d][%d] = %g mm but voxel size %g mm along axis %d", what, a, a, d,
                           v->vox_mm[a], a);
        for (int b = 0; b < 3; b++)
            if (b != a && fabs(v->sform[a][b]) > 1e-6 * d)
                return lf_fail(err, "%s grid is not axis-aligned (sform[%d][%d] = %g, expected a diagonal sform); "
                               "resample it onto an axis-aligned grid first", what, a, b, v->sform[a][b]);
        if (!isfinite(v->sform[a][3]))
            return lf_fail(err, "%s grid: non-finite origin along axis %d", what, a);
    }
    return 0;
}

/* Per-axis overlap weights: destination voxel p takes sum_c w[off[p]+m] * src[c0[p]+m], m < cnt[p];
 * w = overlap length / destination voxel length. */
typedef struct axis_map {
    int *c0, *cnt;
    size_t *off;
    double *w;
} axis_map;

static void axis_map_free(axis_map *m)
{
    free(m->c0);
    free(m->cnt);
    free(m->off);
    free(m->w);
}

static int axis_map_build(int ns, double so, double ss, int nd, double dor, double ds, axis_map *m)
{
    size_t per = (size_t)ceil(ds / ss) + 2;
    m->c0 = calloc((size_t)nd, sizeof *m->c0);
    m->cnt = calloc((size_t)nd, sizeof *m->cnt);
    m->off = calloc((size_t)nd, sizeof *m->off);
    m->w = calloc((size_t)nd * per, sizeof *m->w);
    if (!m->c0 || !m->cnt || !m->off || !m->w)
        return -1;
    size_t o = 0;
    for (int p = 0; p < nd; p++) {
        double lo = dor + (p - 0.5) * ds, hi = dor + (p + 0.5) * ds;
        double flo = floor((lo - so) / ss + 0.5), fhi = floor((hi - so) / ss + 0.5);
        m->off[p] = o;
        m->c0[p] = 0;
        m->cnt[p] = 0;
        if (fhi < 0 || flo > ns - 1)
            continue;
        int c_lo = flo < 0 ? 0 : (int)flo, c_hi = fhi > ns - 1 ? ns - 1 : (int)fhi;
        m->c0[p] = c_lo;
        for (int c = c_lo; c <= c_hi && (size_t)(c - c_lo) < per; c++) {
            double a = so + (c - 0.5) * ss, b = so + (c + 0.5) * ss;
            double ov = (hi < b ? hi : b) - (lo > a ? lo : a);
            m->w[o + (size_t)(c - c_lo)] = ov > 0 ? ov / ds : 0.0;
            m->cnt[p] = c - c_lo + 1;
        }
        o += (size_t)m->cnt[p];
    }
    return 0;
}

/* Floats of workspace resample_ws needs. */
static size_t resample_ws_size(const lf_volume *src, const lf_volume *dst)
{
    return (size_t)src->n[0] * (size_t)src->n[1] * (size_t)dst->n[2] +
           (size_t)src->n[0] * (size_t)dst->n[1] * (size_t)dst->n[2];
}

/* ws: resample_ws_size floats, or NULL (allocated here). Grids already checked. */
static int resample_ws(const lf_volume *src, lf_volume *dst, float *ws, lf_error *err)
{
    axis_map m[3];
    memset(m, 0, sizeof m);
    float *own = NULL, *t1 = NULL, *t2 = NULL;
    int rc = -1;
    for (int a = 0; a < 3; a++)
        if (axis_map_build(src->n[a], src->sform[a][3], src->sform[a][a], dst->n[a], dst->sform[a][3],
                           dst->sform[a][a], &m[a]) != 0) {
            lf_fail(err, "out of memory for resampling weights");
            goto out;
        }
    const size_t s0 = (size_t)src->n[0], s1 = (size_t)src->n[1];
    const size_t d0 = (size_t)dst->n[0], d1 = (size_t)dst->n[1], d2 = (size_t)dst->n[2];
    if (!ws) {
        ws = own = malloc(resample_ws_size(src, dst) * sizeof *ws);
        if (!ws) {
            lf_fail(err, "out of memory for resampling buffers");
            goto out;
        }
    }
    t1 = ws;                /* after axis 2: s0 x s1 x d2 */
    t2 = ws + s0 * s1 * d2; /* after axes 2 and 1: s0 x d1 x d2 */
    /* axis 2 (slowest): planes */
    {
        const size_t plane = s0 * s1, blk = 4096, nblk = (plane + blk - 1) / blk;
        const float *s = src->data;
#pragma omp parallel for collapse(2) schedule(static)
        for (long long p = 0; p < (long long)d2; p++)
            for (long long b = 0; b < (long long)nblk; b++) {
                size_t i0 = (size_t)b * blk, i1 = i0 + blk < plane ? i0 + blk : plane;
                float *d = t1 + (size_t)p * plane;
                memset(d + i0, 0, (i1 - i0) * sizeof *d);
                for (int q = 0; q < m[2].cnt[p]; q++) {
                    const float *sp = s + (size_t)(m[2].c0[p] + q) * plane;
                    const float wt = (float)m[2].w[m[2].off[p] + (size_t)q];
                    for (size_t i = i0; i < i1; i++)
                        d[i] += wt * sp[i];
                }
            }
    }
    /* axis 1: rows within each plane */
#pragma omp parallel for schedule(static)
    for (long long k = 0; k < (long long)d2; k++) {
        const float *s = t1 + (size_t)k * s0 * s1;
        float *d = t2 + (size_t)k * s0 * d1;
        for (size_t p = 0; p < d1; p++) {
            float *dr = d + p * s0;
            memset(dr, 0, s0 * sizeof *dr);
            for (int q = 0; q < m[1].cnt[p]; q++) {
                const float *sr = s + (size_t)(m[1].c0[p] + q) * s0;
                const float wt = (float)m[1].w[m[1].off[p] + (size_t)q];
                for (size_t i = 0; i < s0; i++)
                    dr[i] += wt * sr[i];
            }
        }
    }
    /* axis 0: within each row */
#pragma omp parallel for schedule(static)
    for (long long row = 0; row < (long long)(d1 * d2); row++) {
        const float *s = t2 + (size_t)row * s0;
        float *d = dst->data + (size_t)row * d0;
        for (size_t p = 0; p < d0; p++) {
            double acc = 0;
            for (int q = 0; q < m[0].cnt[p]; q++)
                acc += m[0].w[m[0].off[p] + (size_t)q] * s[m[0].c0[p] + q];
            d[p] = (float)acc;
        }
    }
    rc = 0;
out:
    for (int a = 0; a < 3; a++)
        axis_map_free(&m[a]);
    free(own);
    return rc;
}

int lf_mumap_resample_mean(const lf_volume *src, lf_volume *dst, lf_error *err)
{
    if (!src || !dst || !src->data || !dst->data)
        return lf_fail(err, "lf_mumap_resample_mean: NULL argument");
    if (check_grid(src, "source", err) != 0 || check_grid(dst, "destination", err) != 0)
        return -1;
    return resample_ws(src, dst, NULL, err);
}

/* ------------------------------------------------------------------ the chain */

int lf_ct_to_mumap(const lf_volume *ct_hu, double kvp, const lf_hu2mu_table *t, double fwhm_mm,
                   const lf_volume *pet_grid_like, lf_volume *mu_out, lf_error *err)
{
    if (!ct_hu || !ct_hu->data || !t || !pet_grid_like || !mu_out)
        return lf_fail(err, "lf_ct_to_mumap: NULL argument");
    memset(mu_out, 0, sizeof *mu_out);
    const lf_hu2mu_row *r;
    if (lf_hu2mu_select(t, kvp, &r, err) != 0)
        return -1;
    if (check_grid(ct_hu, "CT", err) != 0 || check_grid(pet_grid_like, "PET", err) != 0)
        return -1;
    if (!isfinite(fwhm_mm))
        return lf_fail(err, "attenuation map: Gaussian FWHM %g mm, expected a finite value", fwhm_mm);

    /* two buffers, each big enough for the CT and for the resampling workspace (pages never touched
     * cost nothing): mu at CT resolution, smoothed by ping-pong, then the other one is the workspace */
    size_t nv = nvox(ct_hu->n), need = resample_ws_size(ct_hu, pet_grid_like);
    size_t nbuf = nv > need ? nv : need;
    float *A = malloc(nbuf * sizeof *A), *B = malloc(nbuf * sizeof *B);
    if (!A || !B) {
        free(A);
        free(B);
        return lf_fail(err, "out of memory for a %d x %d x %d attenuation map", ct_hu->n[0], ct_hu->n[1], ct_hu->n[2]);
    }
    const lf_hu2mu_row row = *r;
    const float *hu = ct_hu->data;
#pragma omp parallel for schedule(static)
    for (long long i = 0; i < (long long)nv; i++)
        A[i] = (float)lf_hu2mu_eval(&row, hu[i]);

    int rc = gauss3d_pingpong(&A, &B, ct_hu->n, ct_hu->vox_mm, fwhm_mm, err);
    double origin[3] = {pet_grid_like->sform[0][3], pet_grid_like->sform[1][3], pet_grid_like->sform[2][3]};
    if (rc == 0)
        rc = lf_volume_alloc(mu_out, pet_grid_like->n, pet_grid_like->vox_mm, origin, err);
    if (rc == 0) {
        memcpy(mu_out->sform, pet_grid_like->sform, sizeof mu_out->sform);
        lf_volume mu_ct = *ct_hu;
        mu_ct.data = A;
        rc = resample_ws(&mu_ct, mu_out, B, err);
        if (rc != 0)
            lf_volume_free(mu_out);
    }
    free(A);
    free(B);
    if (rc != 0)
        return -1;
    snprintf(mu_out->descrip, sizeof mu_out->descrip, "mu511 1/cm kvp=%g fwhm=%gmm", kvp, fwhm_mm > 0 ? fwhm_mm : 0.0);
    return 0;
}

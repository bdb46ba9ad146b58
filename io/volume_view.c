#include "volume_view.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PIXELS (64LL * 1024 * 1024)
#define ORTHO_GAP 4
#define GAP_GREY 80
#define SAMPLE_MAX ((size_t)1 << 24)

int lf_plane_parse(const char *s, lf_plane *p, lf_error *err)
{
    static const char *names[] = {"axial", "coronal", "sagittal"};
    for (int i = 0; i < 3; i++)
        if (strcmp(s, names[i]) == 0) {
            *p = (lf_plane)i;
            return 0;
        }
    return lf_fail(err, "plane '%s': expected axial, coronal or sagittal", s);
}

static size_t vidx(const lf_volume *v, int i, int j, int k)
{
    return (size_t)i + (size_t)v->n[0] * ((size_t)j + (size_t)v->n[1] * (size_t)k);
}

/* ---------------------------------------------------------------- 2-D planes and pictures */

/* A plane of voxel values, u across (fastest), w in voxel order (flipped when drawn head up). */
typedef struct {
    float *val;
    int nu, nw;
    double du, dw;
    int head_up;
} plane2d;

/* The fixed axis (the normal) and the two in-plane axes of a view. */
static void plane_axes(lf_plane p, int *fixed, int *ua, int *wa)
{
    *fixed = p == LF_PLANE_AXIAL ? 2 : p == LF_PLANE_CORONAL ? 1 : 0;
    *ua = p == LF_PLANE_SAGITTAL ? 1 : 0;
    *wa = p == LF_PLANE_AXIAL ? 1 : 2;
}

static int plane_alloc(const lf_volume *v, lf_plane p, plane2d *pl, lf_error *err)
{
    int fixed, ua, wa;
    plane_axes(p, &fixed, &ua, &wa);
    pl->nu = v->n[ua];
    pl->nw = v->n[wa];
    pl->du = v->vox_mm[ua];
    pl->dw = v->vox_mm[wa];
    pl->head_up = p != LF_PLANE_AXIAL;
    pl->val = malloc((size_t)pl->nu * pl->nw * sizeof *pl->val);
    if (!pl->val)
        return lf_fail(err, "out of memory for a %d x %d plane", pl->nu, pl->nw);
    return 0;
}

static int get_slice(const lf_volume *v, lf_plane p, int index, plane2d *pl, lf_error *err)
{
    if (plane_alloc(v, p, pl, err) != 0)
        return -1;
    int fixed, ua, wa, idx[3];
    plane_axes(p, &fixed, &ua, &wa);
    idx[fixed] = index;
    for (int w = 0; w < pl->nw; w++)
        for (int u = 0; u < pl->nu; u++) {
            idx[ua] = u;
            idx[wa] = w;
            pl->val[(size_t)w * pl->nu + u] = v->data[vidx(v, idx[0], idx[1], idx[2])];
        }
    return 0;
}

static int get_mip(const lf_volume *v, lf_plane p, plane2d *pl, lf_error *err)
{
    if (plane_alloc(v, p, pl, err) != 0)
        return -1;
    int fixed, ua, wa;
    plane_axes(p, &fixed, &ua, &wa);
    for (size_t q = 0; q < (size_t)pl->nu * pl->nw; q++)
        pl->val[q] = NAN;
    const float *d = v->data;
    for (int k = 0; k < v->n[2]; k++)
        for (int j = 0; j < v->n[1]; j++)
            for (int i = 0; i < v->n[0]; i++) {
                float x = *d++;
                int idx[3] = {i, j, k};
                float *o = &pl->val[(size_t)idx[wa] * pl->nu + idx[ua]];
                if (x > *o || isnan(*o))
                    *o = x;
            }
    return 0;
}

static int picture_size(const plane2d *pl, double pix, int *w, int *h, lf_error *err)
{
    *w = (int)lround(pl->nu * pl->du / pix);
    *h = (int)lround(pl->nw * pl->dw / pix);
    if (*w < 1 || *h < 1 || (long long)*w * *h > MAX_PIXELS)
        return lf_fail(err, "picture %d x %d is out of range", *w, *h);
    return 0;
}

/* Nearest-neighbour resampling of a plane to w x h square pixels of pix mm, written at out with the
 * given row stride (in values). */
static void resample(const plane2d *pl, double pix, int w, int h, float *out, size_t stride)
{
    for (int y = 0; y < h; y++) {
        int wy = (int)((y + 0.5) * pix / pl->dw);
        if (wy >= pl->nw)
            wy = pl->nw - 1;
        if (pl->head_up)
            wy = pl->nw - 1 - wy;
        for (int x = 0; x < w; x++) {
            int ux = (int)((x + 0.5) * pix / pl->du);
            if (ux >= pl->nu)
                ux = pl->nu - 1;
            out[(size_t)y * stride + x] = pl->val[(size_t)wy * pl->nu + ux];
        }
    }
}

/* ---------------------------------------------------------------- grey levels */

static void swapf(float *a, float *b)
{
    float t = *a;
    *a = *b;
    *b = t;
}

/* The k-th smallest of a[0..n) (reorders a); three-way partitions, so long runs of equal values
 * (the zeros around a patient) cost one pass. */
static float select_kth(float *a, size_t n, size_t k)
{
    size_t lo = 0, hi = n;
    while (hi - lo > 1) {
        float x = a[lo], y = a[lo + (hi - lo) / 2], z = a[hi - 1];
        float p = x < y ? (y < z ? y : x < z ? z : x) : (x < z ? x : y < z ? z : y);
        size_t lt = lo, i = lo, gt = hi;
        while (i < gt) {
            if (a[i] < p)
                swapf(&a[lt++], &a[i++]);
            else if (a[i] > p)
                swapf(&a[i], &a[--gt]);
            else
                i++;
        }
        if (k < lt)
            hi = lt;
        else if (k >= gt)
            lo = gt;
        else
            return p;
    }
    return a[k];
}

/* Percentiles q[0..nq) (0..1) of the finite values among x[0], x[stride], ...; 0 if there are none. */
static int percentiles(const float *x, size_t n, size_t stride, const double *q, double *out, int nq, lf_error *err)
{
    size_t cap = (n + stride - 1) / stride, m = 0;
    float *a = malloc((cap ? cap : 1) * sizeof *a);
    if (!a)
        return lf_fail(err, "out of memory for %zu values to take percentiles of", cap);
    for (size_t i = 0; i < n; i += stride)
        if (isfinite(x[i]))
            a[m++] = x[i];
    for (int t = 0; t < nq; t++)
        out[t] = m ? select_kth(a, m, (size_t)((double)(m - 1) * q[t])) : 0;
    free(a);
    return 0;
}

/* The mip / ortho default window: 0 .. the volume's 99.9th percentile (its maximum when that is not
 * above 0). */
static int volume_window(const lf_volume *v, double *lo, double *hi, lf_error *err)
{
    size_t n = (size_t)v->n[0] * v->n[1] * v->n[2];
    size_t stride = n > SAMPLE_MAX ? (n + SAMPLE_MAX - 1) / SAMPLE_MAX : 1;
    double q = 0.999;
    if (percentiles(v->data, n, stride, &q, hi, 1, err) != 0)
        return -1;
    *lo = 0;
    if (!(*hi > 0)) {
        int at[3];
        lf_volume_argmax(v, at);
        float m = v->data[vidx(v, at[0], at[1], at[2])];
        *hi = isfinite(m) ? m : 0;
    }
    return 0;
}

static uint8_t grey(float x, double lo, double hi, int inverse)
{
    double t = (x - lo) / (hi - lo);
    if (!(t > 0)) /* also NaN */
        t = 0;
    if (t > 1)
        t = 1;
    uint8_t g = (uint8_t)lround(255.0 * t);
    return inverse ? (uint8_t)(255 - g) : g;
}

static void to_rgb(const float *val, size_t n, double lo, double hi, int inverse, uint8_t *img)
{
    if (!(hi > lo))
        hi = lo + 1;
    for (size_t i = 0; i < n; i++)
        img[3 * i] = img[3 * i + 1] = img[3 * i + 2] = grey(val[i], lo, hi, inverse);
}

/* Resamples a plane to a picture at its own finer voxel size and maps it to grey levels; auto_q:
 * percentiles of the picture for lo = hi = 0 (NULL: the caller already chose lo, hi). */
static int plane_picture(const plane2d *pl, double lo, double hi, const double *auto_q, int inverse, uint8_t **rgb,
                         int *width, int *height, lf_error *err)
{
    int w, h;
    double pix = fmin(pl->du, pl->dw);
    if (picture_size(pl, pix, &w, &h, err) != 0)
        return -1;
    float *val = malloc((size_t)w * h * sizeof *val);
    uint8_t *img = malloc((size_t)w * h * 3);
    if (!val || !img) {
        free(val);
        free(img);
        return lf_fail(err, "out of memory for a %d x %d picture", w, h);
    }
    resample(pl, pix, w, h, val, (size_t)w);
    if (auto_q && lo == 0 && hi == 0) {
        double lh[2] = {0, 0};
        if (percentiles(val, (size_t)w * h, 1, auto_q, lh, 2, err) != 0) {
            free(val);
            free(img);
            return -1;
        }
        lo = lh[0];
        hi = lh[1];
    }
    to_rgb(val, (size_t)w * h, lo, hi, inverse, img);
    free(val);
    *rgb = img;
    *width = w;
    *height = h;
    return 0;
}

/* ---------------------------------------------------------------- the views */

int lf_volume_slice_rgb(const lf_volume *v, lf_plane plane, int index, double lo, double hi, uint8_t **rgb, int *width,
                        int *height, lf_error *err)
{
    int fixed, ua, wa;
    plane_axes(plane, &fixed, &ua, &wa);
    if (index < 0)
        index = v->n[fixed] / 2;
    if (index >= v->n[fixed])
        return lf_fail(err, "slice %d outside 0..%d", index, v->n[fixed] - 1);
    plane2d pl;
    if (get_slice(v, plane, index, &pl, err) != 0)
        return -1;
    static const double q[2] = {0.005, 0.995};
    int rc = plane_picture(&pl, lo, hi, q, 0, rgb, width, height, err);
    free(pl.val);
    return rc;
}

int lf_volume_mip_rgb(const lf_volume *v, lf_plane plane, double lo, double hi, int inverse, uint8_t **rgb, int *width,
                      int *height, lf_error *err)
{
    if (lo == 0 && hi == 0 && volume_window(v, &lo, &hi, err) != 0)
        return -1;
    plane2d pl;
    if (get_mip(v, plane, &pl, err) != 0)
        return -1;
    int rc = plane_picture(&pl, lo, hi, NULL, inverse, rgb, width, height, err);
    free(pl.val);
    return rc;
}

int lf_volume_ortho_rgb(const lf_volume *v, const int at[3], double lo, double hi, uint8_t **rgb, int *width,
                        int *height, lf_error *err)
{
    int c[3];
    if (at) {
        for (int a = 0; a < 3; a++)
            if (at[a] < 0 || at[a] >= v->n[a])
                return lf_fail(err, "ortho centre voxel (%d, %d, %d) outside the %d x %d x %d volume", at[0], at[1],
                               at[2], v->n[0], v->n[1], v->n[2]);
        memcpy(c, at, sizeof c);
    } else {
        lf_volume_hotspot(v, c);
    }
    if (lo == 0 && hi == 0 && volume_window(v, &lo, &hi, err) != 0)
        return -1;
    double pix = fmin(v->vox_mm[0], fmin(v->vox_mm[1], v->vox_mm[2]));
    static const lf_plane order[3] = {LF_PLANE_AXIAL, LF_PLANE_CORONAL, LF_PLANE_SAGITTAL};
    plane2d pl[3] = {{0}};
    int pw[3], ph[3], rc = -1;
    long long W = 2 * ORTHO_GAP, H = 0;
    for (int t = 0; t < 3; t++) {
        int fixed, ua, wa;
        plane_axes(order[t], &fixed, &ua, &wa);
        if (get_slice(v, order[t], c[fixed], &pl[t], err) != 0 || picture_size(&pl[t], pix, &pw[t], &ph[t], err) != 0)
            goto done;
        W += pw[t];
        H = ph[t] > H ? ph[t] : H;
    }
    if (W * H > MAX_PIXELS) {
        lf_fail(err, "ortho picture %lld x %lld is out of range", W, H);
        goto done;
    }
    float *val = calloc((size_t)W * H, sizeof *val);
    uint8_t *img = malloc((size_t)W * H * 3);
    if (!val || !img) {
        free(val);
        free(img);
        lf_fail(err, "out of memory for a %lld x %lld picture", W, H);
        goto done;
    }
    for (int x0 = 0, t = 0; t < 3; x0 += pw[t] + ORTHO_GAP, t++)
        resample(&pl[t], pix, pw[t], ph[t], val + (size_t)((H - ph[t]) / 2) * W + x0, (size_t)W);
    to_rgb(val, (size_t)W * H, lo, hi, 0, img);
    /* paint the gaps and the space above and below shorter panels */
    for (int x0 = 0, t = 0; t < 3; x0 += pw[t] + ORTHO_GAP, t++) {
        int top = (int)(H - ph[t]) / 2;
        for (long long y = 0; y < H; y++) {
            int inside = y >= top && y < top + ph[t];
            int x1 = t < 2 ? x0 + pw[t] + ORTHO_GAP : x0 + pw[t];
            for (int x = inside ? x0 + pw[t] : x0; x < x1; x++)
                memset(img + 3 * ((size_t)y * W + x), GAP_GREY, 3);
        }
    }
    free(val);
    *rgb = img;
    *width = (int)W;
    *height = (int)H;
    rc = 0;
done:
    for (int t = 0; t < 3; t++)
        free(pl[t].val);
    return rc;
}

/* ---------------------------------------------------------------- hot spots */

void lf_volume_argmax(const lf_volume *v, int at[3])
{
    size_t n = (size_t)v->n[0] * v->n[1] * v->n[2], best = 0;
    float m = -INFINITY;
    for (size_t q = 0; q < n; q++)
        if (v->data[q] > m) {
            m = v->data[q];
            best = q;
        }
    at[0] = (int)(best % (size_t)v->n[0]);
    at[1] = (int)(best / (size_t)v->n[0] % (size_t)v->n[1]);
    at[2] = (int)(best / ((size_t)v->n[0] * v->n[1]));
}

/* 3x3 in-plane sums of slice k (outside and non-finite values count as 0). */
static void box_slice(const lf_volume *v, int k, float *tmp, float *out)
{
    int nx = v->n[0], ny = v->n[1];
    const float *s = v->data + (size_t)nx * ny * k;
    for (int j = 0; j < ny; j++)
        for (int i = 0; i < nx; i++) {
            float sum = 0;
            for (int d = -1; d <= 1; d++)
                if (i + d >= 0 && i + d < nx && isfinite(s[(size_t)j * nx + i + d]))
                    sum += s[(size_t)j * nx + i + d];
            tmp[(size_t)j * nx + i] = sum;
        }
    for (int j = 0; j < ny; j++)
        for (int i = 0; i < nx; i++) {
            float sum = tmp[(size_t)j * nx + i];
            if (j > 0)
                sum += tmp[(size_t)(j - 1) * nx + i];
            if (j + 1 < ny)
                sum += tmp[(size_t)(j + 1) * nx + i];
            out[(size_t)j * nx + i] = sum;
        }
}

void lf_volume_hotspot(const lf_volume *v, int at[3])
{
    int nx = v->n[0], ny = v->n[1], nz = v->n[2];
    size_t ns = (size_t)nx * ny;
    float *buf = malloc(4 * ns * sizeof *buf);
    if (!buf) {
        lf_volume_argmax(v, at);
        return;
    }
    float *tmp = buf, *ring[3] = {buf + ns, buf + 2 * ns, buf + 3 * ns};
    box_slice(v, 0, tmp, ring[0]);
    if (nz > 1)
        box_slice(v, 1, tmp, ring[1]);
    float best = -INFINITY;
    int c[3] = {0, 0, 0};
    for (int k = 0; k < nz; k++) {
        if (k + 1 < nz && k + 1 >= 2)
            box_slice(v, k + 1, tmp, ring[(k + 1) % 3]);
        const float *prev = k > 0 ? ring[(k - 1) % 3] : NULL, *cur = ring[k % 3];
        const float *next = k + 1 < nz ? ring[(k + 1) % 3] : NULL;
        for (size_t q = 0; q < ns; q++) {
            float s = cur[q] + (prev ? prev[q] : 0) + (next ? next[q] : 0);
            if (s > best) {
                best = s;
                c[0] = (int)(q % (size_t)nx);
                c[1] = (int)(q / (size_t)nx);
                c[2] = k;
            }
        }
    }
    free(buf);
    /* the largest voxel of that neighbourhood */
    float m = -INFINITY;
    memcpy(at, c, sizeof c);
    for (int k = c[2] - 1; k <= c[2] + 1; k++)
        for (int j = c[1] - 1; j <= c[1] + 1; j++)
            for (int i = c[0] - 1; i <= c[0] + 1; i++) {
                if (i < 0 || j < 0 || k < 0 || i >= nx || j >= ny || k >= nz)
                    continue;
                float x = v->data[vidx(v, i, j, k)];
                if (x > m) {
                    m = x;
                    at[0] = i;
                    at[1] = j;
                    at[2] = k;
                }
            }
}

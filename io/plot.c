/* lafov io: small line plots as PNG (io/plot.h). */
#include "plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "png_write.h"

enum { X0 = 90, X1 = LF_PLOT_WIDTH - 20, Y0 = 50, Y1 = LF_PLOT_HEIGHT - 60 };

static const char k_chars[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ .,-+%():/=*_?";
static const uint8_t k_font[][7] = {
    {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}, {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E},
    {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}, {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E},
    {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}, {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E},
    {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}, {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08},
    {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}, {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C},
    {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}, {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E},
    {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}, {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C},
    {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}, {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10},
    {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}, {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11},
    {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}, {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C},
    {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}, {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F},
    {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}, {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11},
    {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}, {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10},
    {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}, {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11},
    {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}, {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04},
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}, {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04},
    {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}, {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11},
    {0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04}, {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F},
    {0, 0, 0, 0, 0, 0, 0},                      {0, 0, 0, 0, 0, 0x0C, 0x0C},
    {0, 0, 0, 0, 0x0C, 0x04, 0x08},             {0, 0, 0, 0x1F, 0, 0, 0},
    {0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0},       {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03},
    {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}, {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08},
    {0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0},          {0, 0x01, 0x02, 0x04, 0x08, 0x10, 0},
    {0, 0, 0x1F, 0, 0x1F, 0, 0},                {0, 0x04, 0x15, 0x0E, 0x15, 0x04, 0},
    {0, 0, 0, 0, 0, 0, 0x1F},                   {0x0E, 0x11, 0x01, 0x02, 0x04, 0, 0x04},
};
static const uint8_t k_palette[8][3] = {{31, 119, 180}, {214, 39, 40},  {44, 160, 44},  {255, 127, 14},
                                        {148, 103, 189}, {140, 86, 75}, {227, 119, 194}, {23, 190, 207}};

typedef struct canvas {
    uint8_t *rgb;
} canvas;

static void px(canvas *c, int x, int y, const uint8_t col[3])
{
    if (x < 0 || y < 0 || x >= LF_PLOT_WIDTH || y >= LF_PLOT_HEIGHT)
        return;
    memcpy(c->rgb + ((size_t)y * LF_PLOT_WIDTH + (size_t)x) * 3, col, 3);
}

static void line(canvas *c, int x0, int y0, int x1, int y1, const uint8_t col[3])
{
    int dx = abs(x1 - x0), dy = -abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1, e = dx + dy;
    for (int guard = 0; guard < 4 * (LF_PLOT_WIDTH + LF_PLOT_HEIGHT); guard++) {
        px(c, x0, y0, col);
        if (x0 == x1 && y0 == y1)
            break;
        int e2 = 2 * e;
        if (e2 >= dy) {
            e += dy;
            x0 += sx;
        }
        if (e2 <= dx) {
            e += dx;
            y0 += sy;
        }
    }
}

static void box(canvas *c, int x0, int y0, int x1, int y1, const uint8_t col[3])
{
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++)
            px(c, x, y, col);
}

static int text_w(const char *s, int scale) { return (int)strlen(s) * 6 * scale; }

/* Text with its top-left corner at (x, y). */
static void text(canvas *c, int x, int y, const char *s, int scale, const uint8_t col[3])
{
    for (; *s; s++, x += 6 * scale) {
        int ch = (*s >= 'a' && *s <= 'z') ? *s - 32 : *s;
        const char *at = strchr(k_chars, ch);
        const uint8_t *g = k_font[at && ch ? at - k_chars : (int)strlen(k_chars) - 1];
        for (int r = 0; r < 7; r++)
            for (int b = 0; b < 5; b++)
                if (g[r] & (0x10 >> b))
                    box(c, x + b * scale, y + r * scale, x + b * scale + scale - 1, y + r * scale + scale - 1, col);
    }
}

/* Vertical text (bottom to top) with its bottom-left corner at (x, y). */
static void text_up(canvas *c, int x, int y, const char *s, const uint8_t col[3])
{
    for (; *s; s++, y -= 6) {
        int ch = (*s >= 'a' && *s <= 'z') ? *s - 32 : *s;
        const char *at = strchr(k_chars, ch);
        const uint8_t *g = k_font[at && ch ? at - k_chars : (int)strlen(k_chars) - 1];
        for (int r = 0; r < 7; r++)
            for (int b = 0; b < 5; b++)
                if (g[r] & (0x10 >> b))
                    px(c, x + r, y - b, col);
    }
}

static double nice_step(double range)
{
    double raw = range / 5, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

typedef struct axis {
    double lo, hi;
    int log;
} axis;

static double map(const axis *a, double v, int p0, int p1)
{
    double t = a->log ? (log10(v) - log10(a->lo)) / (log10(a->hi) - log10(a->lo)) : (v - a->lo) / (a->hi - a->lo);
    return p0 + t * (p1 - p0);
}

int lf_plot_render(const lf_plot *p, uint8_t *rgb, lf_error *err)
{
    static const uint8_t white[3] = {255, 255, 255}, black[3] = {0, 0, 0}, grid[3] = {225, 225, 225},
                         grey[3] = {90, 90, 90};
    canvas c = {rgb};
    memset(rgb, 255, (size_t)LF_PLOT_WIDTH * LF_PLOT_HEIGHT * 3);
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    for (int s = 0; s < p->n_series; s++)
        for (int i = 0; i < p->s[s].n; i++) {
            double x = p->s[s].x[i], y = p->s[s].y[i], e = p->s[s].err ? p->s[s].err[i] : NAN;
            if (!isfinite(x) || !isfinite(y))
                continue;
            if (p->log_x && !(x > 0))
                return lf_fail(err, "plot '%s': series '%s': x = %g on a logarithmic axis (expected x > 0)",
                               p->title, p->s[s].label, x);
            e = isfinite(e) ? fabs(e) : 0;
            xmin = fmin(xmin, x);
            xmax = fmax(xmax, x);
            ymin = fmin(ymin, y - e);
            ymax = fmax(ymax, y + e);
        }
    if (!(xmin <= xmax))
        return lf_fail(err, "plot '%s': no finite point to draw", p->title);
    axis ax = {xmin, xmax, p->log_x}, ay = {ymin, ymax, 0};
    if (p->log_x) {
        /* the nearest 1, 2, 5 x 10^k outside the data, widened to at least a factor 2.5 */
        static const double m125[3] = {1, 2, 5};
        double d0 = pow(10, floor(log10(xmin) + 1e-9)), d1 = pow(10, floor(log10(xmax) + 1e-9));
        ax.lo = d0;
        for (int i = 2; i >= 0; i--)
            if (d0 * m125[i] <= xmin * (1 + 1e-9)) {
                ax.lo = d0 * m125[i];
                break;
            }
        ax.hi = d1 * 10;
        for (int i = 0; i < 3; i++)
            if (d1 * m125[i] >= xmax * (1 - 1e-9)) {
                ax.hi = d1 * m125[i];
                break;
            }
        if (ax.hi < ax.lo * 2.5) {
            double mid = sqrt(ax.lo * ax.hi);
            ax.lo = mid / 2;
            ax.hi = mid * 2;
        }
    } else {
        if (ax.hi - ax.lo < 1e-12 * fmax(1, fabs(ax.hi)))
            ax.lo -= 1, ax.hi += 1;
        double st = nice_step(ax.hi - ax.lo);
        ax.lo = floor(ax.lo / st) * st;
        ax.hi = ceil(ax.hi / st) * st;
    }
    if (ay.hi - ay.lo < 1e-12 * fmax(1, fabs(ay.hi))) {
        double d = fmax(fabs(ay.hi) * 0.1, 1e-6);
        ay.lo -= d, ay.hi += d;
    }
    double ystep = nice_step(ay.hi - ay.lo);
    ay.lo = floor(ay.lo / ystep) * ystep;
    ay.hi = ceil(ay.hi / ystep) * ystep;
    char buf[64];
    /* y ticks */
    for (double v = ay.lo; v <= ay.hi + ystep * 1e-6; v += ystep) {
        int y = (int)lround(map(&ay, v, Y1, Y0));
        line(&c, X0, y, X1, y, grid);
        line(&c, X0 - 4, y, X0, y, black);
        snprintf(buf, sizeof buf, "%g", fabs(v) < ystep * 1e-6 ? 0.0 : v);
        text(&c, X0 - 8 - text_w(buf, 1), y - 3, buf, 1, black);
    }
    /* x ticks */
    if (p->log_x) {
        int decades = (int)ceil(log10(ax.hi / ax.lo) - 1e-9);
        for (double d = pow(10, floor(log10(ax.lo) + 1e-9)); d <= ax.hi * 1.0001; d *= 10)
            for (int m = 1; m <= 9; m++) {
                double v = d * m;
                if (v > ax.hi * 1.0001)
                    break;
                if (v < ax.lo * 0.9999)
                    continue;
                int x = (int)lround(map(&ax, v, X0, X1)), major = m == 1 || m == 2 || m == 5;
                if (major)
                    line(&c, x, Y0, x, Y1, grid);
                line(&c, x, Y1, x, Y1 + (major ? 5 : 2), black);
                if (m == 1 || (decades <= 3 && major) || decades <= 1) {
                    snprintf(buf, sizeof buf, "%g", v);
                    text(&c, x - text_w(buf, 1) / 2, Y1 + 9, buf, 1, black);
                }
            }
    } else {
        double st = nice_step(ax.hi - ax.lo);
        for (double v = ax.lo; v <= ax.hi + st * 1e-6; v += st) {
            int x = (int)lround(map(&ax, v, X0, X1));
            line(&c, x, Y0, x, Y1, grid);
            line(&c, x, Y1, x, Y1 + 5, black);
            snprintf(buf, sizeof buf, "%g", fabs(v) < st * 1e-6 ? 0.0 : v);
            text(&c, x - text_w(buf, 1) / 2, Y1 + 9, buf, 1, black);
        }
    }
    line(&c, X0, Y0, X1, Y0, black);
    line(&c, X0, Y1, X1, Y1, black);
    line(&c, X0, Y0, X0, Y1, black);
    line(&c, X1, Y0, X1, Y1, black);
    /* series */
    for (int s = 0; s < p->n_series; s++) {
        const lf_plot_series *se = &p->s[s];
        const uint8_t *col = k_palette[s % 8];
        int have_prev = 0, px0 = 0, py0 = 0;
        for (int i = 0; i < se->n; i++) {
            if (!isfinite(se->x[i]) || !isfinite(se->y[i]))
                continue;
            int x = (int)lround(map(&ax, se->x[i], X0, X1)), y = (int)lround(map(&ay, se->y[i], Y1, Y0));
            double e = se->err ? se->err[i] : NAN;
            if (isfinite(e) && e > 0) {
                int ya = (int)lround(map(&ay, se->y[i] - e, Y1, Y0)), yb = (int)lround(map(&ay, se->y[i] + e, Y1, Y0));
                line(&c, x, ya, x, yb, col);
                line(&c, x - 4, ya, x + 4, ya, col);
                line(&c, x - 4, yb, x + 4, yb, col);
            }
            if (have_prev)
                line(&c, px0, py0, x, y, col);
            box(&c, x - 2, y - 2, x + 2, y + 2, col);
            have_prev = 1;
            px0 = x;
            py0 = y;
        }
    }
    /* legend */
    int lw = 0;
    for (int s = 0; s < p->n_series; s++)
        lw = text_w(p->s[s].label, 1) > lw ? text_w(p->s[s].label, 1) : lw;
    if (p->n_series > 0) {
        int lx1 = X1 - 6, lx0 = lx1 - lw - 26, ly0 = Y0 + 6, ly1 = ly0 + 12 * p->n_series + 6;
        box(&c, lx0, ly0, lx1, ly1, white);
        line(&c, lx0, ly0, lx1, ly0, grey);
        line(&c, lx0, ly1, lx1, ly1, grey);
        line(&c, lx0, ly0, lx0, ly1, grey);
        line(&c, lx1, ly0, lx1, ly1, grey);
        for (int s = 0; s < p->n_series; s++) {
            int y = ly0 + 6 + 12 * s;
            box(&c, lx0 + 6, y + 1, lx0 + 14, y + 6, k_palette[s % 8]);
            text(&c, lx0 + 20, y, p->s[s].label, 1, black);
        }
    }
    if (p->title)
        text(&c, (LF_PLOT_WIDTH - text_w(p->title, 2)) / 2, 14, p->title, 2, black);
    if (p->xlabel)
        text(&c, (X0 + X1 - text_w(p->xlabel, 1)) / 2, Y1 + 32, p->xlabel, 1, black);
    if (p->ylabel)
        text_up(&c, 12, (Y0 + Y1 + text_w(p->ylabel, 1)) / 2, p->ylabel, black);
    return 0;
}

int lf_plot_png(const char *path, const lf_plot *p, lf_error *err)
{
    uint8_t *rgb = malloc((size_t)LF_PLOT_WIDTH * LF_PLOT_HEIGHT * 3);
    if (!rgb)
        return lf_fail(err, "%s: out of memory for the plot", path);
    int rc = lf_plot_render(p, rgb, err);
    if (rc == 0)
        rc = lf_png_write_rgb(path, LF_PLOT_WIDTH, LF_PLOT_HEIGHT, rgb, err);
    else
        lf_fail_prefix(err, "%s", path);
    free(rgb);
    return rc;
}

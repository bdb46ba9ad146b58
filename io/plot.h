/* lafov io: small line plots as PNG — series of points with error bars, axes, tick labels, a legend.
 *
 *   double x[] = {1, 2, 5}, y[] = {30, 21, 14}, e[] = {1.5, 1.1, 0.8};
 *   lf_plot_series s = {x, y, e, 3, "20 min"};
 *   lf_plot pl = {"LIVER COV VS DOSE X TIME", "MBQ MIN", "COV %", 1, &s, 1};
 *   lf_plot_png("cov.png", &pl, &err);
 *
 * 720 x 480 RGB on white: the plot area framed, 4–8 "nice" ticks on y (1, 2, 5 × 10^k steps) and on a
 * linear x, decades with 2 and 5 between them on a logarithmic x (log_x; every x must then be > 0), tick
 * labels %g, the title above, the axis labels below and at the top left, a legend at the top right. Series
 * in a fixed palette of 8 colours (then repeated), points as 5 × 5 squares joined by 1-pixel lines in x
 * order as given, error bars ± err (NULL: none; NaN entries: none) with caps. NaN y values are left out.
 * Text in a 5 × 7 bitmap font (digits, A–Z, space and . , - + % ( ) : / = * _ ?; lower case drawn as
 * upper case, other characters as '?'), 2 × scale for the title. The PNG goes through lf_png_write_rgb
 * (atomic). Fails on no finite point, or a non-positive x on a logarithmic axis, naming the series.
 */
#ifndef LF_PLOT_H
#define LF_PLOT_H

#include <stdint.h>

#include "../core/error.h"

typedef struct lf_plot_series {
    const double *x, *y, *err; /* n each; err may be NULL */
    int n;
    char label[64];
} lf_plot_series;

typedef struct lf_plot {
    const char *title, *xlabel, *ylabel;
    int log_x;
    const lf_plot_series *s;
    int n_series;
} lf_plot;

#define LF_PLOT_WIDTH 720
#define LF_PLOT_HEIGHT 480

/* Renders into rgb (LF_PLOT_WIDTH * LF_PLOT_HEIGHT * 3 bytes, top row first). */
int lf_plot_render(const lf_plot *p, uint8_t *rgb, lf_error *err);
int lf_plot_png(const char *path, const lf_plot *p, lf_error *err);

#endif

/* lafov projectors: the TOF kernel table of traverse.h and the argument checks every projector shares. */
#include "traverse.h"

#include <math.h>
#include <stdlib.h>

void lf_tofk_init(lf_tofk *tk, const lf_tof *tof)
{
    const double k = (double)tof->n_sigmas, sigma = (double)tof->sigma_mm, w = (double)tof->bin_width_mm;
    const double span = 2.0 * k * sigma; /* the table covers [-k sigma, +k sigma] */
    tk->w = (float)w;
    tk->half_win = (float)(k * sigma + 0.5 * w);
    tk->u_scale = (float)(LF_TOFK_N / span);
    tk->u_w = (float)(w * LF_TOFK_N / span);
    /* F(x) = (erf(x / (sqrt2 sigma)) + erf(k / sqrt2)) / (2 erf(k / sqrt2)): the CDF of the Gaussian
     * truncated at ±k sigma and renormalised, F(-k sigma) = 0, F(k sigma) = 1 */
    const double norm = erf(k / sqrt(2.0));
    double prev = 0.0;
    for (int i = 1; i <= LF_TOFK_N; i++) {
        double x = -k + 2.0 * k * (double)i / LF_TOFK_N; /* in sigmas */
        double f = i == LF_TOFK_N ? 1.0 : 0.5 * (1.0 + erf(x / sqrt(2.0)) / norm);
        tk->cell[i - 1][0] = (float)prev;
        tk->cell[i - 1][1] = (float)(f - prev);
        prev = f;
    }
    tk->cell[LF_TOFK_N][0] = 1.0f;
    tk->cell[LF_TOFK_N][1] = 0.0f;
}

int lf_proj_prepare(const char *what, lf_proj_kind kind, const lf_grid *g, const void *img, const float *lors, size_t n,
                   const int8_t *bins, const lf_tof *tof, const void *vec, lf_tofk **tk, lf_error *err)
{
    *tk = NULL;
    if (kind != LF_PROJ_JOSEPH && kind != LF_PROJ_SIDDON)
        return lf_fail(err, "%s: unknown projector kind %d", what, (int)kind);
    if (lf_proj_check(g, tof, err) != 0)
        return lf_fail_prefix(err, "%s", what);
    if (!img || (n && (!lors || !vec)))
        return lf_fail(err, "%s: missing image, LOR or value array", what);
    if ((tof == NULL) != (bins == NULL))
        return lf_fail(err, "%s: TOF needs both the TOF set-up and the per-LOR bins", what);
    if (!tof)
        return 0;
    int half = (tof->n_bins - 1) / 2;
    for (size_t i = 0; i < n; i++)
        if (bins[i] < -half || bins[i] > half)
            return lf_fail(err, "%s: LOR %zu has TOF bin %d outside -%d..%d", what, i, (int)bins[i], half, half);
    *tk = malloc(sizeof **tk);
    if (!*tk)
        return lf_fail(err, "%s: out of memory", what);
    lf_tofk_init(*tk, tof);
    return 0;
}

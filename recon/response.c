/* lafov recon: detector response of a LOR (response.h). */
#include "response.h"

#include <math.h>

double lf_response_incidence(const lf_scanner *sc, double cos_inc)
{
    double mud = 0.1 * sc->crystal_mu_per_cm * sc->crystal_depth_mm;
    if (!(mud > 0.0))
        return 1.0;
    double c = cos_inc;
    if (!(c >= 1.0 / 3.0)) /* NaN too */
        c = 1.0 / 3.0;
    if (c > 1.0)
        c = 1.0;
    return -expm1(-mud / c) / -expm1(-mud);
}

/* |u · n| at point p (n radial; an endpoint on the axis counts as normal incidence) */
static double incidence(const double u[3], const float *p)
{
    double r = hypot((double)p[0], (double)p[1]);
    if (!(r > 0.0))
        return 1.0;
    return fabs(u[0] * (double)p[0] + u[1] * (double)p[1]) / r;
}

float lf_response_lor(const lf_scanner *sc, const float lor[6])
{
    double u[3], len = 0.0;
    for (int i = 0; i < 3; i++) {
        u[i] = (double)lor[3 + i] - (double)lor[i];
        len += u[i] * u[i];
    }
    len = sqrt(len);
    if (!(len > 0.0) || !isfinite(len))
        return 1.0f;
    for (int i = 0; i < 3; i++)
        u[i] /= len;
    return (float)(lf_response_incidence(sc, incidence(u, lor)) * lf_response_incidence(sc, incidence(u, lor + 3)));
}

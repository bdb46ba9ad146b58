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

/* the solid-angle factor c_1 c_2 (2R'/D)² (response.h) */
static double solid_angle(const lf_scanner *sc, double c1, double c2, double D)
{
    const double rp2 = 2.0 * (sc->ring_radius_mm + sc->doi_mm);
    if (!(D > 0.0) || !(rp2 > 0.0))
        return 1.0;
    return c1 * c2 * (rp2 / D) * (rp2 / D);
}

double lf_response_chord(const lf_scanner *sc, double L, double dz)
{
    const double rp2 = 2.0 * (sc->ring_radius_mm + sc->doi_mm);
    const double D = sqrt(L * L + dz * dz);
    if (!(D > 0.0) || !(rp2 > 0.0))
        return 0.0;
    const double c = (L / rp2) * (L / D);
    const double h = lf_response_incidence(sc, c);
    return h * h * solid_angle(sc, c, c, D);
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
    const double c1 = incidence(u, lor), c2 = incidence(u, lor + 3);
    return (float)(lf_response_incidence(sc, c1) * lf_response_incidence(sc, c2) * solid_angle(sc, c1, c2, len));
}

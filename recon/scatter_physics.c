/* lafov recon: the physics pieces of the single scatter simulation (scatter.h): Klein–Nishina and the
 * energy-dependent detection of a scattered photon. */
#include "scatter.h"

#include <math.h>

#define ME_KEV 510.99895
/* LSO at 511 keV: ~68 % of the interactions Compton, ~32 % photoelectric (∝ E⁻³): the share that sets how
 * μ_crystal and the full-energy fraction change with energy (the same model as lafov's simulator,
 * docs/simulator.md). */
#define LSO_COMPTON_511 0.68
#define LSO_PHOTO_511 0.32

/* Klein–Nishina total cross-section in units of 2π r_e², k = E / m_e c². */
static double kn_total(double k)
{
    double a = 1.0 + k, l = log(1.0 + 2.0 * k), b = 1.0 + 2.0 * k;
    return a / (k * k) * (2.0 * a / b - l / k) + l / (2.0 * k) - (1.0 + 3.0 * k) / (b * b);
}

double lf_scatter_kn_ratio(double e_kev) { return kn_total(e_kev / ME_KEV) / kn_total(511.0 / ME_KEV); }

double lf_scatter_kn_dcs(double cos_theta)
{
    double k = 511.0 / ME_KEV, ct = cos_theta;
    double P = 1.0 / (1.0 + k * (1.0 - ct));
    /* dσ/dΩ = r_e²/2 · P² (P + 1/P − sin²θ); σ = 2π r_e² · kn_total */
    return P * P * (P + 1.0 / P - (1.0 - ct * ct)) / (4.0 * M_PI * kn_total(k));
}

double lf_scatter_window(const lf_scanner *sc, double e_kev)
{
    double lo = sc->energy_low_kev, hi = sc->energy_high_kev > 0 ? sc->energy_high_kev : INFINITY;
    if (!(e_kev > 0))
        return 0.0;
    if (!(sc->energy_resolution > 0))
        return (e_kev >= lo && e_kev <= hi) ? 1.0 : 0.0;
    double sig = sc->energy_resolution / 2.3548200450309493 * sqrt(511.0 / e_kev) * e_kev;
    double ph = isinf(hi) ? 1.0 : 0.5 * erfc(-(hi - e_kev) / (sig * M_SQRT2));
    double pl = lo > 0 ? 0.5 * erfc(-(lo - e_kev) / (sig * M_SQRT2)) : 0.0;
    return fmax(0.0, ph - pl);
}

/* interaction probability in the crystal at energy e and incidence cosine c (path capped at 3 depths,
 * as recon/response.h) and the full-energy fraction; both relative factors only */
static double interaction(const lf_scanner *sc, double e_kev, double c, double *full)
{
    double r = 511.0 / e_kev;
    double sig = LSO_COMPTON_511 * lf_scatter_kn_ratio(e_kev), tau = LSO_PHOTO_511 * r * r * r;
    *full = (tau + 0.5 * sig) / (tau + sig);
    double mud = 0.1 * sc->crystal_mu_per_cm * sc->crystal_depth_mm;
    if (!(c >= 1.0 / 3.0))
        c = 1.0 / 3.0;
    if (c > 1.0)
        c = 1.0;
    return -expm1(-mud * (sig + tau) / c);
}

double lf_scatter_detect_rel(const lf_scanner *sc, double e_kev, double cos_inc)
{
    if (!(e_kev > 0))
        return 0.0;
    double w = lf_scatter_window(sc, e_kev), w0 = lf_scatter_window(sc, 511.0);
    double rel = w0 > 0 ? w / w0 : 0.0;
    if (sc->crystal_mu_per_cm > 0 && sc->crystal_depth_mm > 0) {
        double f, f0;
        double p = interaction(sc, e_kev, cos_inc, &f), p0 = interaction(sc, 511.0, 1.0, &f0);
        rel *= (p / p0) * (f / f0);
    }
    return rel;
}

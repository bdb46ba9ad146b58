#include "detector.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Klein-Nishina total cross-section (units of 2*pi*r_e^2), k = E / m_e c^2. */
static double kn_total(double k)
{
    double a = 1.0 + k, l = log(1.0 + 2.0 * k);
    return a / (k * k) * (2.0 * a / (1.0 + 2.0 * k) - l / k) + l / (2.0 * k) - (1.0 + 3.0 * k) / ((1.0 + 2.0 * k) * (1.0 + 2.0 * k));
}

double lf_kn_ratio(double e_kev)
{
    static double ref;
    if (ref == 0)
        ref = kn_total(1.0);
    return kn_total(e_kev / 510.99895) / ref;
}

int lf_detector_init(lf_detector *d, const lf_scanner *sc, int mrd, double eff_sigma, uint64_t seed, lf_error *err)
{
    memset(d, 0, sizeof *d);
    d->sc = sc;
    d->mrd = mrd;
    d->radius_mm = sc->ring_radius_mm;
    d->depth_mm = sc->crystal_depth_mm > 0 ? sc->crystal_depth_mm : 20.0;
    d->mu_lso_511 = sc->crystal_mu_per_cm > 0 ? sc->crystal_mu_per_cm : 0.869;
    d->energy_fwhm = sc->energy_resolution > 0 ? sc->energy_resolution : 0.10;
    d->e_lo_kev = sc->energy_low_kev > 0 ? sc->energy_low_kev : 435;
    d->e_hi_kev = sc->energy_high_kev > 0 ? sc->energy_high_kev : 585;
    d->photopeak = sc->photopeak_fraction;
    if (!(d->photopeak > 0 && d->photopeak <= 1))
        return lf_fail(err, "scanner '%s': 'photopeak fraction' (the simulator's calibration) must be in (0, 1]", sc->name);
    d->z_lo_mm = -0.5 * sc->slots_z * sc->ring_pitch_mm;
    d->z_hi_mm = 0.5 * sc->slots_z * sc->ring_pitch_mm;
    d->tof_sigma_ps = sc->tof_fwhm_ps / 2.3548200450309493;
    d->slot_to_k = malloc((size_t)sc->slots_t * sizeof *d->slot_to_k);
    d->zslot_to_ring = malloc((size_t)sc->slots_z * sizeof *d->zslot_to_ring);
    d->eff = malloc((size_t)sc->n_crystals * sizeof *d->eff);
    if (!d->slot_to_k || !d->zslot_to_ring || !d->eff) {
        lf_detector_free(d);
        return lf_fail(err, "out of memory for the detector model");
    }
    for (int p = 0; p < sc->slots_t; p++)
        d->slot_to_k[p] = -1;
    for (int k = 0; k < sc->crystals_per_ring; k++)
        if (!lf_crystal_is_virtual(sc, k))
            d->slot_to_k[lf_crystal_slot_t(sc, k)] = k;
    for (int s = 0; s < sc->slots_z; s++)
        d->zslot_to_ring[s] = -1;
    for (int r = 0; r < sc->rings; r++)
        d->zslot_to_ring[lf_ring_slot_z(sc, r)] = r;
    lf_rng rng;
    lf_rng_seed(&rng, seed, 0xEFFull);
    double s2 = log(1.0 + eff_sigma * eff_sigma);
    for (int c = 0; c < sc->n_crystals; c++) {
        double e = eff_sigma > 0 ? exp(sqrt(s2) * lf_rng_normal(&rng) - 0.5 * s2) : 1.0;
        if (e < 0.7)
            e = 0.7;
        if (e > 1.3)
            e = 1.3;
        if (lf_crystal_is_virtual(sc, lf_crystal_index(sc, (uint32_t)c)))
            e = 0;
        d->eff[c] = (float)e;
    }
    return 0;
}

void lf_detector_free(lf_detector *d)
{
    free(d->slot_to_k);
    free(d->zslot_to_ring);
    free(d->eff);
    d->slot_to_k = d->zslot_to_ring = NULL;
    d->eff = NULL;
}

double lf_detector_distance(const lf_detector *d, const double x[3], const double u[3])
{
    double a = u[0] * u[0] + u[1] * u[1];
    if (a < 1e-12)
        return -1;
    double b = x[0] * u[0] + x[1] * u[1];
    double c = x[0] * x[0] + x[1] * x[1] - d->radius_mm * d->radius_mm;
    double disc = b * b - a * c;
    if (disc < 0)
        return -1;
    return (-b + sqrt(disc)) / a;
}

/* The crystal at point h (its angle's nearest transaxial slot, the axial slot containing its z), or -1
 * for a gap slot or beyond the scanner's ends. */
static int32_t crystal_at(const lf_detector *d, const double h[3])
{
    const lf_scanner *sc = d->sc;
    if (h[2] <= d->z_lo_mm || h[2] >= d->z_hi_mm)
        return -1;
    int zs = (int)floor((h[2] - d->z_lo_mm) / sc->ring_pitch_mm);
    if (zs < 0 || zs >= sc->slots_z)
        return -1;
    int ring = d->zslot_to_ring[zs];
    if (ring < 0)
        return -1;
    double phi = atan2(h[1], h[0]) - sc->angle_offset_rad;
    int p = (int)lround(phi * sc->slots_t / (2.0 * M_PI));
    p %= sc->slots_t;
    if (p < 0)
        p += sc->slots_t;
    int k = d->slot_to_k[p];
    if (k < 0)
        return -1;
    return (int32_t)lf_crystal_id(sc, ring, k);
}

int32_t lf_detector_crystal(const lf_detector *d, const double x[3], const double u[3], double *dist_mm)
{
    double t = lf_detector_distance(d, x, u);
    if (t < 0)
        return -1;
    double h[3] = {x[0] + t * u[0], x[1] + t * u[1], x[2] + t * u[2]};
    int32_t c = crystal_at(d, h);
    if (c >= 0)
        *dist_mm = t;
    return c;
}

int32_t lf_detector_detect(const lf_detector *d, lf_rng *rng, const double x[3], const double u[3], double e_kev,
                           double *dist_mm)
{
    double t = lf_detector_distance(d, x, u);
    if (t < 0)
        return -1;
    double h[3] = {x[0] + t * u[0], x[1] + t * u[1], x[2] + t * u[2]};
    if (h[2] <= d->z_lo_mm || h[2] >= d->z_hi_mm)
        return -1; /* misses the crystal face cylinder */
    /* incidence: cosine between the direction and the radial normal at the entry point */
    double cosi = (h[0] * u[0] + h[1] * u[1]) / d->radius_mm;
    if (cosi < 1.0 / 3.0)
        cosi = 1.0 / 3.0; /* path capped at 3 crystal depths */
    double r = e_kev / 511.0;
    /* LSO: ~68 % Compton, ~32 % photoelectric at 511 keV; photoelectric ~ E^-3 */
    double sig = 0.68 * lf_kn_ratio(e_kev), tau = 0.32 / (r * r * r);
    double mu_mm = 0.1 * d->mu_lso_511 * (sig + tau);
    double path = d->depth_mm / cosi;
    double p_int = 1.0 - exp(-mu_mm * path);
    /* where it interacts: exponential depth along the path, truncated to the crystal; the crystal is the
     * one at that point (parallax: an oblique photon may interact in a neighbour of its entry crystal,
     * and the mean interaction depth, ~7 mm at normal incidence, is the contract's DOI) */
    double v = lf_rng_uniform(rng);
    if (v >= p_int)
        return -1;
    double s = -log1p(-v) / mu_mm; /* v < p_int: s < path */
    double q[3] = {h[0] + s * u[0], h[1] + s * u[1], h[2] + s * u[2]};
    int32_t c = crystal_at(d, q);
    if (c < 0)
        return -1;
    /* full-energy fraction of an interaction: photoelectric, or Compton whose scattered photon is
     * absorbed in the crystal too (taken as one half); scaled to the calibrated value at 511 keV */
    double full = (tau + 0.5 * sig) / (tau + sig) / (0.32 + 0.5 * 0.68);
    double p = d->photopeak * full * d->eff[c]; /* may exceed 1 only for the most efficient crystals at the
                                                 * lowest energies: then always detected */
    if (lf_rng_uniform(rng) >= p)
        return -1;
    double sigma = d->energy_fwhm / 2.3548200450309493 * sqrt(511.0 / e_kev) * e_kev;
    double e = e_kev + sigma * lf_rng_normal(rng);
    if (e < d->e_lo_kev || e > d->e_hi_kev)
        return -1;
    *dist_mm = t;
    return c;
}

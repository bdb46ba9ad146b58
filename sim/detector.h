/* lafov sim: the detection model — which crystal a photon leaving the phantom reaches, whether it is
 * detected in the energy window, and the coincidence's TOF bin. Documented in docs/simulator.md.
 *
 * A photon (position, unit direction, energy) is followed to the crystal face cylinder
 * (ring radius) — missing its axial extent loses it. Interaction in the LSO:
 * P = 1 - exp(-mu_LSO(E) * depth / cos(incidence)), path capped at 3 depths, at an exponentially
 * distributed depth along the path; the crystal is the one at the interaction point (nearest transaxial
 * slot by angle, axial slot containing z): parallax included, mean depth ~7 mm at normal incidence
 * (the stream contract's DOI). Gap slots and the scanner's ends lose the photon. A fraction of interactions deposits the full energy (`photopeak fraction` at 511 keV, rising
 * at lower energies with the photoelectric share: (tau + sigma/2) / (tau + sigma) normalised at 511), measured with a
 * Gaussian energy resolution (FWHM fraction at 511 keV, scaling as 1/sqrt(E)); the rest deposit too
 * little for the window. Then the crystal's efficiency (mean 1) thins it. The photopeak fraction is
 * the model's single calibration constant (scanner file), set so that the NEMA NU 2-2018 line source
 * gives the published sensitivity.
 */
#ifndef LF_DETECTOR_H
#define LF_DETECTOR_H

#include <stdint.h>

#include "../core/error.h"
#include "../core/rng.h"
#include "../core/scanner.h"

#define LF_C_MM_PER_PS 0.299792458

typedef struct lf_detector {
    const lf_scanner *sc;
    double radius_mm;        /* crystal face radius */
    double depth_mm;         /* crystal depth (LSO 20 mm) */
    double mu_lso_511;       /* cm^-1 */
    double energy_fwhm;      /* fraction at 511 keV */
    double e_lo_kev, e_hi_kev;
    double photopeak;        /* calibration constant */
    double z_lo_mm, z_hi_mm; /* axial extent of the slots */
    int *slot_to_k;          /* [slots_t] in-ring index or -1 for a gap slot */
    int *zslot_to_ring;      /* [slots_z] ring or -1 for a gap ring */
    float *eff;              /* [n_crystals] crystal efficiencies (mean 1) */
    double tof_sigma_ps;     /* of the time difference */
    int mrd;
} lf_detector;

/* Builds the model; crystal efficiencies drawn lognormal with relative spread eff_sigma (0: all 1),
 * reproducible by seed, clamped to [0.7, 1.3]. */
int lf_detector_init(lf_detector *d, const lf_scanner *sc, int mrd, double eff_sigma, uint64_t seed, lf_error *err);
void lf_detector_free(lf_detector *d);

/* Distance along u from x to the crystal face cylinder (x inside it); -1 if parallel to the axis. */
double lf_detector_distance(const lf_detector *d, const double x[3], const double u[3]);

/* Follows the photon to the detector. Returns the crystal id (where it interacted) when detected
 * (energy in window, efficiency), or -1; *dist_mm gets the distance travelled from x to the crystal face. */
int32_t lf_detector_detect(const lf_detector *d, lf_rng *rng, const double x[3], const double u[3], double e_kev,
                           double *dist_mm);

/* Only the geometry: the crystal the straight line enters (-1 if a gap or outside). */
int32_t lf_detector_crystal(const lf_detector *d, const double x[3], const double u[3], double *dist_mm);

/* Mass-energy scaling of a Compton-dominated attenuation coefficient: sigma_KN(E) / sigma_KN(511). */
double lf_kn_ratio(double e_kev);

#endif

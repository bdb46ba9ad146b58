/* lafov sim: photon transport through an analytic phantom (Monte Carlo).
 *
 * Free paths are sampled exactly along the ray's piecewise-constant attenuation (io: phantom ray
 * segments). At 511 keV in tissue Compton scattering dominates: an interaction is a Compton scatter
 * (Klein-Nishina angle, Compton energy), the attenuation coefficient of every material scaled by the
 * Klein-Nishina cross-section ratio at lower energies; photoelectric absorption in tissue is neglected
 * (< 1 % at these energies). A photon whose energy drops below e_min_kev can no longer reach the
 * energy window and is dropped. With scatter off an interaction removes the photon (pure attenuation).
 */
#ifndef LF_TRANSPORT_H
#define LF_TRANSPORT_H

#include "../core/rng.h"
#include "phantom.h"

typedef struct lf_photon {
    double x[3];      /* current position (emission point, then last scatter point) */
    double u[3];      /* unit direction */
    double e_kev;
    double path_mm;   /* distance travelled from emission to x */
    int n_scatter;
} lf_photon;

typedef struct lf_transport {
    const lf_phantom *ph;
    double resp_dz;         /* respiratory displacement in force */
    int scatter;            /* 1: Compton scatter, 0: interactions absorb */
    double e_min_kev;
    int max_scatter;
} lf_transport;

/* Transports p. first/nfirst: the phantom segments of p's first flight along +u from p->x (t > 0),
 * or NULL to trace them here. Returns 1 when the photon leaves the phantom (p updated: last position,
 * direction, energy, path, scatter count), 0 when it is lost. */
int lf_transport_photon(const lf_transport *t, lf_rng *rng, lf_photon *p, const lf_segment *first, int nfirst);

/* Samples a Compton scatter of a photon of energy e: returns the new energy, rotates u. */
double lf_compton_scatter(lf_rng *rng, double e_kev, double u[3]);

/* Rotates unit vector u by polar angle theta (cos given) and azimuth phi. */
void lf_rotate(double u[3], double cos_theta, double phi);

#endif

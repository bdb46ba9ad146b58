#include "transport.h"

#include <math.h>

#include "detector.h"

void lf_rotate(double u[3], double ct, double phi)
{
    double st = sqrt(fmax(0.0, 1.0 - ct * ct)), cp = cos(phi), sp = sin(phi);
    double ux = u[0], uy = u[1], uz = u[2];
    if (fabs(uz) > 0.99999) {
        double s = uz > 0 ? 1.0 : -1.0;
        u[0] = st * cp;
        u[1] = st * sp;
        u[2] = s * ct;
        return;
    }
    double d = sqrt(1.0 - uz * uz);
    u[0] = st * (ux * uz * cp - uy * sp) / d + ux * ct;
    u[1] = st * (uy * uz * cp + ux * sp) / d + uy * ct;
    u[2] = -st * cp * d + uz * ct;
    double n = sqrt(u[0] * u[0] + u[1] * u[1] + u[2] * u[2]);
    u[0] /= n;
    u[1] /= n;
    u[2] /= n;
}

double lf_compton_scatter(lf_rng *rng, double e_kev, double u[3])
{
    double k = e_kev / 510.99895;
    double ct, ratio;
    for (;;) {
        /* dsigma/dOmega ~ P^2 (P + 1/P - sin^2): maximum 2 at cos = 1 */
        ct = 2.0 * lf_rng_uniform(rng) - 1.0;
        double P = 1.0 / (1.0 + k * (1.0 - ct));
        double f = P * P * (P + 1.0 / P - (1.0 - ct * ct));
        if (2.0 * lf_rng_uniform(rng) <= f) {
            ratio = P;
            break;
        }
    }
    lf_rotate(u, ct, 2.0 * M_PI * lf_rng_uniform(rng));
    return e_kev * ratio;
}

/* Distance to the first interaction along the segments, or -1 when the photon leaves. mu scale:
 * Klein-Nishina ratio at energy e; mm -> cm. */
static double free_path(const lf_phantom *ph, const lf_segment *seg, int n, double scale, double tau)
{
    for (int i = 0; i < n; i++) {
        double mu = ph->s[seg[i].shape].mu_per_cm * 0.1 * scale; /* per mm */
        double len = seg[i].t1 - seg[i].t0;
        double od = mu * len;
        if (od >= tau)
            return seg[i].t0 + tau / mu;
        tau -= od;
    }
    return -1;
}

int lf_transport_photon(const lf_transport *t, lf_rng *rng, lf_photon *p, const lf_segment *first, int nfirst)
{
    lf_segment local[LF_PHANTOM_MAX_SEGMENTS];
    const lf_segment *seg = first;
    int n = nfirst;
    for (;;) {
        if (!seg) {
            n = lf_phantom_ray(t->ph, p->x, p->u, 1e-9, 4000.0, t->resp_dz, local, LF_PHANTOM_MAX_SEGMENTS);
            seg = local;
        }
        double scale = p->e_kev >= 510.9 ? 1.0 : lf_kn_ratio(p->e_kev);
        double d = n > 0 ? free_path(t->ph, seg, n, scale, lf_rng_exp(rng)) : -1;
        if (d < 0)
            return 1; /* leaves the phantom */
        if (!t->scatter || p->n_scatter >= t->max_scatter)
            return 0;
        for (int i = 0; i < 3; i++)
            p->x[i] += d * p->u[i];
        p->path_mm += d;
        p->e_kev = lf_compton_scatter(rng, p->e_kev, p->u);
        p->n_scatter++;
        if (p->e_kev < t->e_min_kev)
            return 0;
        seg = NULL; /* new direction: trace again */
    }
}

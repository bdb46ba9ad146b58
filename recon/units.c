/* lafov recon: SUV factor and volume scaling (see units.h). */
#include "units.h"

#include <math.h>
#include <stddef.h>

int lf_suv_factor(double weight_kg, double injected_bq, double uptake_s, double halflife_s, lf_decay_ref decay_ref,
                  double *factor, lf_error *err)
{
    if (!factor)
        return lf_fail(err, "lf_suv_factor: NULL argument");
    if (!(weight_kg > 0) || !isfinite(weight_kg))
        return lf_fail(err, "SUV: patient weight %g kg: expected a finite weight > 0", weight_kg);
    if (!(injected_bq > 0) || !isfinite(injected_bq))
        return lf_fail(err, "SUV: injected activity %g Bq: expected a finite activity > 0", injected_bq);
    if (!(halflife_s > 0) || isnan(halflife_s))
        return lf_fail(err, "SUV: half-life %g s: expected > 0", halflife_s);
    if (decay_ref != LF_DECAY_REF_SCAN_START && decay_ref != LF_DECAY_REF_INJECTION)
        return lf_fail(err, "SUV: unknown decay reference %d", (int)decay_ref);
    double a_ref = injected_bq;
    if (decay_ref == LF_DECAY_REF_SCAN_START) {
        if (!isfinite(uptake_s))
            return lf_fail(err, "SUV: uptake time %g s: expected a finite time", uptake_s);
        if (!isinf(halflife_s))
            a_ref = injected_bq * exp(-log(2.0) / halflife_s * uptake_s);
    }
    if (!(a_ref > 0) || !isfinite(a_ref))
        return lf_fail(err, "SUV: injected activity %g Bq decayed over %g s is %g Bq: expected > 0", injected_bq,
                       uptake_s, a_ref);
    *factor = weight_kg * 1000.0 / a_ref;
    return 0;
}

int lf_volume_scale(lf_volume *v, double factor, lf_error *err)
{
    if (!v || !v->data)
        return lf_fail(err, "lf_volume_scale: NULL volume");
    if (!isfinite(factor))
        return lf_fail(err, "volume scale factor %g: expected a finite number", factor);
    ptrdiff_t nv = (ptrdiff_t)v->n[0] * v->n[1] * v->n[2];
    float *d = v->data;
#pragma omp parallel for schedule(static)
    for (ptrdiff_t i = 0; i < nv; i++)
        d[i] = (float)(d[i] * factor);
    return 0;
}

double lf_volume_sum(const lf_volume *v)
{
    if (!v || !v->data)
        return 0;
    ptrdiff_t nv = (ptrdiff_t)v->n[0] * v->n[1] * v->n[2];
    const float *d = v->data;
    double s = 0;
#pragma omp parallel for reduction(+ : s) schedule(static)
    for (ptrdiff_t i = 0; i < nv; i++)
        s += d[i];
    return s;
}

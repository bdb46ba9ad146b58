/* lafov recon: activity units and SUV.
 *
 * Images are in Bq/mL decay-corrected to a reference time (decay.h: the scan start, default, or the
 * injection). SUVbw = C · W / A, with C the concentration in Bq/mL, W the body weight in g (tissue
 * density 1 g/mL assumed, so SUV is unitless) and A the injected activity decay-corrected to the SAME
 * reference time as the image:
 *  - image decay-corrected to the scan start: A = A_inj · e^{−λ·uptake} (the dose decayed to the scan
 *    start; uptake = scan start − injection);
 *  - image decay-corrected to the injection (--decay-ref injection): A = A_inj (not decayed).
 * Both give the same SUV for the same data, since image and dose carry the same factor e^{−λ·uptake}.
 */
#ifndef LF_UNITS_H
#define LF_UNITS_H

#include "../core/error.h"
#include "../io/nifti.h"
#include "decay.h"

/* factor = W[g] / A_ref[Bq] so that SUV = C[Bq/mL] · factor. weight_kg > 0, injected_bq > 0 (the
 * activity at injection time), halflife_s > 0 (+INFINITY: no decay), uptake_s finite (seconds from
 * injection to scan start; unused for LF_DECAY_REF_INJECTION). */
int lf_suv_factor(double weight_kg, double injected_bq, double uptake_s, double halflife_s, lf_decay_ref decay_ref,
                  double *factor, lf_error *err);

/* Multiplies every voxel by factor (finite); e.g. Bq/mL -> SUV, or kBq/mL. */
int lf_volume_scale(lf_volume *v, double factor, lf_error *err);
/* Sum of all voxels (double accumulation); 0 for an empty volume. */
double lf_volume_sum(const lf_volume *v);

#endif

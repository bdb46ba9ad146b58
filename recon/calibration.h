/* lafov recon: the nominal absolute calibration — what a count means before a norm exists.
 *
 * The stream contract fixes the system response (quadra-stream.md, "System response"): a 700 mm line
 * source in air on the axis, centred, gives P kcps/MBq at ring difference M (scanner file keys
 * `line source sensitivity (kcps/MBq)` and `... ring difference`; the Quadra: 176 at 322).
 * The reconstruction's model (physics.md) is ȳ_i = T·D·β·n₀·g_i·a_i·Σ_j p_ij λ_j with p_ij the
 * Siddon length (mm), λ in Bq/mL and g_i the detector response (response.h), so a decay at point x is
 * detected with probability β·n₀·S(x), S(x) = Σ_i g_i p_i(x)/V the response-weighted LOR density
 * (mm/mL) at x. Averaging S over the line source (voxels on the axis, ±350 mm long and 4 crystal pitches
 * wide: a ray-driven LOR density is a lattice, on the axis every diameter meets, and only its average
 * over several LOR spacings stands for the smooth physical probability) and equating with the contract gives
 *
 *     n₀ = (P · 10⁻³ / β_F18) / S̄_line        (mL/mm; β_F18 = 0.9673, the NEMA source's branching)
 *
 * n₀ is per annihilation and per LOR, so it holds at any MRD and for any isotope (its own β enters
 * the model). A normalisation (corrections issue) replaces it by a cross-calibrated value.
 */
#ifndef LF_CALIBRATION_H
#define LF_CALIBRATION_H

#include "../core/error.h"
#include "../core/scanner.h"

/* Branching of F-18 (the NEMA line source). */
#define LF_F18_BRANCHING 0.9673

/* n₀ in mL/mm; fails (naming the scanner file keys) when the scanner has no line-source sensitivity. */
int lf_calibration_nominal(const lf_scanner *sc, double *n0_ml_per_mm, lf_error *err);

#endif

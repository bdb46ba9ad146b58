/* lafov recon: the detector response g_i of a LOR (its geometric detection efficiency, relative).
 *
 * Two factors. (1) Solid angle: a ray-driven model counts each LOR once, but the probability that a
 * pair emitted at x on LOR (a, b) reaches that crystal pair is A² cos i_a cos i_b / (2π D²) relative to
 * the LOR density a ray-driven sum gives at x (A the crystal face, i the incidence angles, D the
 * crystal distance; the Jacobian of lines through x against the crystal areas at both ends). On the
 * detector circle this is constant over a ring's transaxial chords (cos² i / D² = 1/(2R')²) and falls
 * as cos⁴ θ with the axial obliquity θ, so it is written relative to a diameter: c_1 c_2 (2R'/D)².
 * Without it a long scanner's very oblique LORs (θ up to 52° on the Quadra) would be over-weighted
 * ~7× and the sensitivity's axial shape would be wrong. (2) Interaction depth:
 * A photon reaching a crystal at incidence angle i (cosine c between its direction and the radial
 * normal at the interaction point) crosses d / c of crystal (d = crystal_depth_mm), so it interacts
 * with probability 1 − exp(−μ d / c). lafov's simulator draws exactly that (sim/detector.c: cos i
 * capped at 1/3, i.e. at most three depths); normalised to 1 at normal incidence:
 *
 *     h(c) = (1 − exp(−μ d / max(c, 1/3))) / (1 − exp(−μ d)),   μ = crystal_mu_per_cm / 10 per mm,
 *     g_i  = h(c_1) · h(c_2) · c_1 c_2 (2R'/D)²,   c_k = |u · n_k|,  u the LOR's 3-D unit direction,
 *            n_k = (x, y, 0)/|(x, y)|, D the endpoint distance
 *
 * at endpoint k. h ≡ 1 when the scanner gives no crystal depth or attenuation (<= 0). For a chord of
 * the detector circle (radius R' = ring radius + DOI) both ends have the same cosine,
 * c = (L / 2R') · L / sqrt(L² + δz²), L the transaxial chord length, δz the axial difference.
 * The energy window, photopeak fraction and crystal efficiencies are not part of g (they belong to
 * the normalisation).
 */
#ifndef LF_RESPONSE_H
#define LF_RESPONSE_H

#include "../core/scanner.h"

/* h(c) for an incidence cosine c (clamped to [1/3, 1]); 1 at normal incidence. */
double lf_response_incidence(const lf_scanner *sc, double cos_inc);
/* g of a chord of the detector circle: transaxial length L, axial difference dz (both ends alike). */
double lf_response_chord(const lf_scanner *sc, double L, double dz);
/* g of the LOR with endpoints lor = {x1,y1,z1, x2,y2,z2} (mm, scanner frame); 1 for a degenerate LOR. */
float lf_response_lor(const lf_scanner *sc, const float lor[6]);

#endif

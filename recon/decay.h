/* lafov recon: radioactive decay over a frame made of kept time windows, and the uptake time.
 *
 * Definitions (physics.md, "Decay"). λ = ln 2 / T½. Times are seconds; a window [t0, t1] is relative
 * to the scan start (the first list-mode time mark). The decay reference is either the scan start or
 * the injection; ref_offset_s is the time from the reference to the scan start (0 for scan start, the
 * uptake time for injection), so a window time t is t + ref_offset_s after the reference.
 *
 * A frame is the union of its kept windows W_k = [t0_k, t1_k] (minutes left out are simply absent):
 *
 *     T = Σ_k (t1_k − t0_k)                                          (duration: kept time only)
 *     D = (1/T) Σ_k ∫_{t0_k}^{t1_k} e^{−λ(ref_offset_s + t)} dt     (mean decay over the kept time)
 *       = (1/(λT)) Σ_k e^{−λ(ref_offset_s + t0_k)} (1 − e^{−λ(t1_k − t0_k)})
 *
 * so for an activity A_ref at the reference time the expected counts of a frame are A_ref · T · D
 * (times sensitivity and branching), and the decay-corrected image is counts / (T · D · ...).
 * For one window from the reference (ref_offset_s = 0) this is physics.md's
 * D⁻¹ = λΔt / (e^{−λt1} − e^{−λt2}). Using the frame's span instead of the kept windows shifts SUVs.
 */
#ifndef LF_DECAY_H
#define LF_DECAY_H

#include "../core/error.h"
#include "../io/lmheader.h"

typedef struct lf_window {
    double t0_s, t1_s;          /* seconds from the scan start, t0_s < t1_s */
} lf_window;

/* The decay reference of an image. */
typedef enum {
    LF_DECAY_REF_SCAN_START = 0,  /* image in Bq/mL at the scan start (default) */
    LF_DECAY_REF_INJECTION = 1    /* image in Bq/mL at the injection time */
} lf_decay_ref;

/* ref_offset_s for lf_decay_frame: 0 for the scan start, uptake_s for the injection. */
double lf_decay_ref_offset(lf_decay_ref ref, double uptake_s);
/* "scan-start" / "injection" <-> enum. parse returns -1 (err names the text) when unknown. */
const char *lf_decay_ref_name(lf_decay_ref ref);
int lf_decay_ref_parse(const char *text, lf_decay_ref *ref, lf_error *err);

/* Duration T and mean decay factor D (see above) of the union of n >= 1 windows.
 * halflife_s > 0 (+INFINITY: no decay, D = 1); ref_offset_s finite (may be negative: injection after
 * the scan start). Windows need finite t0_s < t1_s and must not overlap (touching ends are fine);
 * they may come in any order. Errors name the window by its index in w. Either output may be NULL. */
int lf_decay_frame(const lf_window *w, int n, double halflife_s, double ref_offset_s, double *duration_s,
                   double *decay_factor, lf_error *err);

/* Uptake time: study (scan) start minus injection, in seconds, from the header's
 * "tracer injection date/time" and "study date/time" (yyyy:mm:dd, hh:mm:ss[.fff], both UTC as the
 * 64-bit stream header states "GMT+00:00"; calendar arithmetic through timegm, so midnight, month and
 * year crossings are exact). A missing or malformed value is an error naming the key and the header.
 * A negative uptake (injection after the scan start) is returned as is. */
int lf_header_uptake_s(const lf_lm_header *h, double *uptake_s, lf_error *err);

/* The same from the four strings (key names used in the messages). */
int lf_uptake_from_strings(const char *inj_date, const char *inj_time, const char *study_date,
                           const char *study_time, double *uptake_s, lf_error *err);

#endif

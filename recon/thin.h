/* lafov recon: binomial thinning — a lower-statistics copy of a 64-bit stream, and disjoint replicates.
 *
 *   lf_thin_opts t = {.fraction = 0.25, .replicate = 2, .of = 4, .seed = 7};
 *   lf_thin("scan.l", NULL, &t, "quarter_2.l", 0, &r, &err);
 *
 * Each event (prompt or delayed alike) gets a number u in [0, 1) from a seeded hash of (seed, the
 * event's ordinal among the stream's valid events): u = splitmix64(splitmix64(seed) + ordinal·φ) / 2^64,
 * kept to 53 bits. Replicate k of n keeps the events with u in [(k−1)p, kp) (the bounds rounded to 53
 * bits from the same products, so neighbouring replicates meet exactly), which requires n·p ≤ 1: the
 * replicates of one seed share no event, each is a binomial thinning by p, and n replicates at p = 1/n
 * are together the whole scan. Deterministic: the same input, seed and (p, k, n) give the same events.
 *
 * The copy is lf_export_filtered's (recon/export.h): every time marker and tag kept (singles tags still
 * describe the original rates), the header copied key by key, with
 *   %lafov count fraction := (the input's, 1 when absent) × p   — so lafov recon still gives Bq/mL and SUV
 *                              of the original scan in expectation; the injected activity is unchanged;
 *   %lafov emulated activity at time of injection (Bq) := p × (the input's emulated activity, else its
 *                              injected activity): the lower-dose scan the thinned stream stands for;
 *   %lafov thinned from := the input as named; %lafov thinning fraction, replicate, of, seed.
 * Randoms (the delayeds) are thinned by p like trues and scatter, although at a truly lower activity
 * they would fall as ~p² (shared/reference/physics.md): the thinned scan is a conservative stand-in.
 * PETLINK 32-bit input is refused; the output is written atomically, never over the input, and an
 * existing output only with force.
 */
#ifndef LF_THIN_H
#define LF_THIN_H

#include <stdint.h>

#include "../core/error.h"
#include "../io/lmheader.h"
#include "export.h"

#define LF_THIN_ONE (UINT64_C(1) << 53) /* u = 1 on the 53-bit scale */

typedef struct lf_thin_opts {
    double fraction; /* p in (0, 1] */
    int replicate;   /* k in 1..of */
    int of;          /* n >= 1 with n·p <= 1 */
    uint64_t seed;
} lf_thin_opts;

typedef struct lf_thin_result {
    lf_export_counts c;
    uint64_t u0, u1;                /* kept interval [u0, u1) on the 53-bit scale */
    double count_fraction_in, count_fraction_out;
    double emulated_activity_bq;    /* the header's new emulated activity */
} lf_thin_result;

/* The event's number u in [0, 2^53) (u / 2^53 in [0, 1)). */
uint64_t lf_thin_u53(uint64_t seed, uint64_t ordinal);
/* Checks o (messages name --fraction, --replicate, --of) and gives replicate k's interval [u0, u1). */
int lf_thin_interval(const lf_thin_opts *o, uint64_t *u0, uint64_t *u1, lf_error *err);
/* "0.25", "25%" or "1/4" into *p in (0, 1]; the error names --fraction and the syntax. */
int lf_thin_parse_fraction(const char *s, double *p, lf_error *err);

/* Writes replicate o->replicate of acq's thinning into out_l (see above). r may be NULL. */
int lf_thin(const char *acq, const lf_lm_open_opts *lo, const lf_thin_opts *o, const char *out_l, int force,
            lf_thin_result *r, lf_error *err);

#endif

#include "thin.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/rng.h"
#include "../io/lmreader.h"

#define COUNT_FRACTION_KEY "%lafov count fraction"
#define EMULATED_KEY "%lafov emulated activity at time of injection (Bq)"
#define NP_SLACK 1e-9 /* n·p up to 1 + this is accepted as 1 (p = 1/3 typed as 0.3333333333) */

uint64_t lf_thin_u53(uint64_t seed, uint64_t ordinal)
{
    uint64_t s = seed;
    uint64_t x = lf_splitmix64(&s) + ordinal * 0x9E3779B97F4A7C15ull; /* splitmix64's state number `ordinal` */
    return lf_splitmix64(&x) >> 11;
}

/* j·p on the 53-bit scale; 2^53 once j·p reaches 1 (within the slack) */
static uint64_t edge(int j, double p)
{
    double v = (double)j * p;
    if (v >= 1.0 - NP_SLACK)
        return LF_THIN_ONE;
    return (uint64_t)llround(v * (double)LF_THIN_ONE);
}

int lf_thin_interval(const lf_thin_opts *o, uint64_t *u0, uint64_t *u1, lf_error *err)
{
    if (!(o->fraction > 0 && o->fraction <= 1))
        return lf_fail(err, "--fraction %g: expected 0 < p <= 1", o->fraction);
    if (o->of < 1)
        return lf_fail(err, "--of %d: expected a number of replicates n >= 1", o->of);
    if (o->replicate < 1 || o->replicate > o->of)
        return lf_fail(err, "--replicate %d: expected 1 <= k <= n = %d (--of)", o->replicate, o->of);
    if ((double)o->of * o->fraction > 1.0 + NP_SLACK)
        return lf_fail(err, "--of %d with --fraction %g: n·p = %g; disjoint replicates need n·p <= 1", o->of,
                       o->fraction, (double)o->of * o->fraction);
    *u0 = edge(o->replicate - 1, o->fraction);
    *u1 = edge(o->replicate, o->fraction);
    return 0;
}

int lf_thin_parse_fraction(const char *s, double *p, lf_error *err)
{
    char *e = NULL;
    errno = 0;
    double v = s ? strtod(s, &e) : NAN;
    if (s && e != s && *e == '/') {
        char *e2 = NULL;
        double d = strtod(e + 1, &e2);
        v = (e2 != e + 1 && d > 0) ? v / d : NAN;
        e = e2;
    } else if (s && e != s && *e == '%') {
        v /= 100.0;
        e++;
    }
    if (!s || e == s || *e != '\0' || errno || !(v > 0 && v <= 1))
        return lf_fail(err, "--fraction '%s': expected p with 0 < p <= 1, as 0.25, 25%% or 1/4", s ? s : "");
    *p = v;
    return 0;
}

typedef struct thin_filter {
    uint64_t seed, u0, u1;
} thin_filter;

static int in_interval(const lf_event *e, uint64_t ordinal, void *user)
{
    (void)e;
    const thin_filter *f = user;
    uint64_t u = lf_thin_u53(f->seed, ordinal);
    return u >= f->u0 && u < f->u1;
}

int lf_thin(const char *acq, const lf_lm_open_opts *lo, const lf_thin_opts *o, const char *out_l, int force,
            lf_thin_result *r, lf_error *err)
{
    lf_thin_result local;
    if (!r)
        r = &local;
    memset(r, 0, sizeof *r);
    if (lf_thin_interval(o, &r->u0, &r->u1, err) != 0)
        return -1;
    lf_lm_reader *rd = NULL;
    if (lf_lm_open(acq, lo, &rd, err) != 0)
        return -1;
    const lf_lm_header *h = lf_lm_header_of(rd);
    int rc = -1;
    lf_ifh set = {0};
    if (h->format != LF_FORMAT_QUADRA64) {
        lf_fail(err, "%s: only the Quadra-style 64-bit stream can be thinned; this is a PETLINK 32-bit stream", h->user_path);
        goto done;
    }
    double cf = 1.0;
    if (lf_ifh_opt_double(&h->ifh, COUNT_FRACTION_KEY, 1.0, &cf, err) != 0) /* the message names file and key */
        goto done;
    if (!(cf > 0 && cf <= 1)) {
        lf_fail(err, "%s: key '%s': expected 0 < p <= 1, got %g", h->header_path, COUNT_FRACTION_KEY, cf);
        goto done;
    }
    double a = h->activity_bq;
    if (lf_ifh_opt_double(&h->ifh, EMULATED_KEY, h->activity_bq, &a, err) != 0)
        goto done;
    if (!(a > 0) || !isfinite(a)) {
        lf_fail(err, "%s: key '%s': expected an activity > 0 Bq, got %g", h->header_path,
                lf_ifh_get(&h->ifh, EMULATED_KEY) ? EMULATED_KEY : "tracer activity at time of injection (Bq)", a);
        goto done;
    }
    r->count_fraction_in = cf;
    r->count_fraction_out = cf * o->fraction;
    r->emulated_activity_bq = a * o->fraction;
    int bad = 0;
    bad |= lf_ifh_setf(&set, COUNT_FRACTION_KEY, "%.10g", r->count_fraction_out);
    bad |= lf_ifh_setf(&set, EMULATED_KEY, "%.6e", r->emulated_activity_bq);
    bad |= lf_ifh_set(&set, "%lafov thinned from", h->user_path);
    bad |= lf_ifh_setf(&set, "%lafov thinning fraction", "%.10g", o->fraction);
    bad |= lf_ifh_setf(&set, "%lafov thinning replicate", "%d", o->replicate);
    bad |= lf_ifh_setf(&set, "%lafov thinning of", "%d", o->of);
    bad |= lf_ifh_setf(&set, "%lafov thinning seed", "%llu", (unsigned long long)o->seed);
    if (bad) {
        lf_fail(err, "out of memory");
        goto done;
    }
    thin_filter f = {.seed = o->seed, .u0 = r->u0, .u1 = r->u1};
    rc = lf_export_filtered(rd, &set, out_l, force, in_interval, &f, &r->c, err);
done:
    lf_ifh_free(&set);
    lf_lm_close(rd);
    return rc;
}

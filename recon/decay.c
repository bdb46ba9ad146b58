/* lafov recon: decay over kept windows, uptake time (see decay.h for the definitions). */
#include "decay.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KEY_INJ_DATE "tracer injection date (yyyy:mm:dd)"
#define KEY_INJ_TIME "tracer injection time (hh:mm:ss GMT+00:00)"
#define KEY_STUDY_DATE "study date (yyyy:mm:dd)"
#define KEY_STUDY_TIME "study time (hh:mm:ss GMT+00:00)"

double lf_decay_ref_offset(lf_decay_ref ref, double uptake_s)
{
    return ref == LF_DECAY_REF_INJECTION ? uptake_s : 0.0;
}

const char *lf_decay_ref_name(lf_decay_ref ref)
{
    return ref == LF_DECAY_REF_INJECTION ? "injection" : "scan-start";
}

int lf_decay_ref_parse(const char *text, lf_decay_ref *ref, lf_error *err)
{
    if (!text || !ref)
        return lf_fail(err, "lf_decay_ref_parse: NULL argument");
    if (strcmp(text, "scan-start") == 0 || strcmp(text, "scan_start") == 0 || strcmp(text, "start") == 0)
        *ref = LF_DECAY_REF_SCAN_START;
    else if (strcmp(text, "injection") == 0)
        *ref = LF_DECAY_REF_INJECTION;
    else
        return lf_fail(err, "decay reference '%s': expected 'scan-start' or 'injection'", text);
    return 0;
}

typedef struct {
    double t0, t1;
    int idx;
} win_ix;

static int cmp_win(const void *a, const void *b)
{
    const win_ix *x = a, *y = b;
    if (x->t0 < y->t0) return -1;
    if (x->t0 > y->t0) return 1;
    return x->idx - y->idx;
}

int lf_decay_frame(const lf_window *w, int n, double halflife_s, double ref_offset_s, double *duration_s,
                   double *decay_factor, lf_error *err)
{
    if (!w || n < 1)
        return lf_fail(err, "decay: %d time windows: expected at least one", w ? n : 0);
    if (!(halflife_s > 0) || isnan(halflife_s))
        return lf_fail(err, "decay: half-life %g s: expected > 0 (or infinity for no decay)", halflife_s);
    if (!isfinite(ref_offset_s))
        return lf_fail(err, "decay: reference offset %g s: expected a finite time", ref_offset_s);
    win_ix *s = malloc((size_t)n * sizeof *s);
    if (!s)
        return lf_fail(err, "decay: out of memory for %d windows", n);
    for (int i = 0; i < n; i++) {
        if (!isfinite(w[i].t0_s) || !isfinite(w[i].t1_s) || !(w[i].t0_s < w[i].t1_s)) {
            free(s);
            return lf_fail(err, "decay: window %d [%g, %g] s: expected finite times with start < end", i,
                           w[i].t0_s, w[i].t1_s);
        }
        s[i] = (win_ix){w[i].t0_s, w[i].t1_s, i};
    }
    qsort(s, (size_t)n, sizeof *s, cmp_win);
    for (int i = 1; i < n; i++)
        if (s[i].t0 < s[i - 1].t1) {
            int a = s[i - 1].idx, b = s[i].idx;
            lf_fail(err, "decay: window %d [%g, %g] s overlaps window %d [%g, %g] s: kept windows must be disjoint",
                    b, s[i].t0, s[i].t1, a, s[i - 1].t0, s[i - 1].t1);
            free(s);
            return -1;
        }
    const double lambda = isinf(halflife_s) ? 0.0 : log(2.0) / halflife_s;
    double T = 0, I = 0; /* I = Σ ∫ e^{-λ(r+t)} dt */
    for (int i = 0; i < n; i++) {
        double dt = s[i].t1 - s[i].t0;
        T += dt;
        if (lambda == 0)
            I += dt;
        else /* e^{-λ(r+t0)} (1 - e^{-λ dt}) / λ, with expm1 for short windows */
            I += exp(-lambda * (ref_offset_s + s[i].t0)) * (-expm1(-lambda * dt)) / lambda;
    }
    free(s);
    if (duration_s)
        *duration_s = T;
    if (decay_factor)
        *decay_factor = I / T;
    return 0;
}

/* ---------------------------------------------------------------- uptake */

static int parse_uint(const char **p, int digits_min, int digits_max, int *out)
{
    int v = 0, k = 0;
    while (k < digits_max && **p >= '0' && **p <= '9') {
        v = v * 10 + (**p - '0');
        (*p)++;
        k++;
    }
    if (k < digits_min)
        return -1;
    *out = v;
    return 0;
}

static int days_in_month(int y, int m)
{
    static const int d[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return d[m - 1];
}

static void trim(const char *s, const char **b, size_t *len)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        n--;
    *b = s;
    *len = n;
}

/* "yyyy:mm:dd" (':' or '-' separators) */
static int parse_date(const char *text, const char *key, int *y, int *m, int *d, lf_error *err)
{
    if (!text || !*text)
        return lf_fail(err, "key '%s' is missing or empty: expected yyyy:mm:dd", key);
    const char *b;
    size_t len;
    trim(text, &b, &len);
    const char *p = b;
    if (parse_uint(&p, 4, 4, y) || (*p != ':' && *p != '-') || (p++, parse_uint(&p, 1, 2, m)) ||
        (*p != ':' && *p != '-') || (p++, parse_uint(&p, 1, 2, d)) || (size_t)(p - b) != len)
        return lf_fail(err, "key '%s' = '%s': expected a date yyyy:mm:dd", key, text);
    if (*y < 1900 || *m < 1 || *m > 12 || *d < 1 || *d > days_in_month(*y, *m))
        return lf_fail(err, "key '%s' = '%s': not a valid calendar date", key, text);
    return 0;
}

/* "hh:mm:ss[.fff]" */
static int parse_time(const char *text, const char *key, double *sec_of_day, lf_error *err)
{
    if (!text || !*text)
        return lf_fail(err, "key '%s' is missing or empty: expected hh:mm:ss", key);
    const char *b;
    size_t len;
    trim(text, &b, &len);
    const char *p = b;
    int hh = 0, mm = 0, ss = 0;
    if (parse_uint(&p, 1, 2, &hh) || *p != ':' || (p++, parse_uint(&p, 1, 2, &mm)) || *p != ':' ||
        (p++, parse_uint(&p, 1, 2, &ss)))
        return lf_fail(err, "key '%s' = '%s': expected a time hh:mm:ss", key, text);
    double frac = 0;
    if (*p == '.') {
        p++;
        double scale = 0.1;
        if (!(*p >= '0' && *p <= '9'))
            return lf_fail(err, "key '%s' = '%s': expected a time hh:mm:ss[.fff]", key, text);
        while (*p >= '0' && *p <= '9') {
            frac += (*p - '0') * scale;
            scale *= 0.1;
            p++;
        }
    }
    if ((size_t)(p - b) != len)
        return lf_fail(err, "key '%s' = '%s': expected a time hh:mm:ss", key, text);
    if (hh > 23 || mm > 59 || ss > 60)
        return lf_fail(err, "key '%s' = '%s': hours 0-23, minutes 0-59, seconds 0-60 expected", key, text);
    *sec_of_day = hh * 3600.0 + mm * 60.0 + ss + frac;
    return 0;
}

static int utc_seconds(const char *date, const char *dkey, const char *time_s, const char *tkey, double *out,
                       lf_error *err)
{
    int y = 0, m = 0, d = 0;
    double sod = 0;
    if (parse_date(date, dkey, &y, &m, &d, err) || parse_time(time_s, tkey, &sod, err))
        return -1;
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    time_t t = timegm(&tm); /* midnight UTC of that day */
    if (t == (time_t)-1)
        return lf_fail(err, "key '%s' = '%s': date out of range", dkey, date);
    *out = (double)t + sod;
    return 0;
}

int lf_uptake_from_strings(const char *inj_date, const char *inj_time, const char *study_date,
                           const char *study_time, double *uptake_s, lf_error *err)
{
    if (!uptake_s)
        return lf_fail(err, "lf_uptake_from_strings: NULL argument");
    double ti, ts;
    if (utc_seconds(inj_date, KEY_INJ_DATE, inj_time, KEY_INJ_TIME, &ti, err) ||
        utc_seconds(study_date, KEY_STUDY_DATE, study_time, KEY_STUDY_TIME, &ts, err))
        return -1;
    *uptake_s = ts - ti;
    return 0;
}

int lf_header_uptake_s(const lf_lm_header *h, double *uptake_s, lf_error *err)
{
    if (!h || !uptake_s)
        return lf_fail(err, "lf_header_uptake_s: NULL argument");
    if (lf_uptake_from_strings(h->injection_date, h->injection_time, h->study_date, h->study_time, uptake_s, err))
        return lf_fail_prefix(err, "%s", h->header_path[0] ? h->header_path : "list-mode header");
    return 0;
}

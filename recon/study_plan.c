/* lafov recon: the study plan file (recon/study.h). */
#include "study.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io/interfile.h"
#include "../io/lmheader.h"
#include "thin.h"

typedef struct plan_ctx {
    const char *origin;
    const char *dir;
    const lf_ifh_entry *e; /* the entry being read */
    lf_error *err;
} plan_ctx;

static int bad(plan_ctx *c, const char *expected)
{
    return lf_fail(c->err, "%s: line %d: %s := %s: expected %s", c->origin, c->e->line, c->e->key,
                   c->e->value ? c->e->value : "", expected);
}

static int resolve(plan_ctx *c, const char *v, char *out)
{
    if (!v || !*v)
        return bad(c, "a file name");
    int n = v[0] == '/' ? snprintf(out, LF_STUDY_PATH_MAX, "%s", v)
                        : snprintf(out, LF_STUDY_PATH_MAX, "%s/%s", c->dir, v);
    if (n < 0 || n >= LF_STUDY_PATH_MAX)
        return bad(c, "a shorter path");
    return 0;
}

static int parse_double(const char *s, double *v)
{
    char *e = NULL;
    errno = 0;
    *v = strtod(s, &e);
    while (e && (*e == ' ' || *e == '\t'))
        e++;
    return e != s && *e == '\0' && !errno && isfinite(*v) ? 0 : -1;
}

static int parse_int(const char *s, long lo, long hi, long *v)
{
    char *e = NULL;
    errno = 0;
    *v = strtol(s, &e, 10);
    while (e && (*e == ' ' || *e == '\t'))
        e++;
    return e != s && *e == '\0' && !errno && *v >= lo && *v <= hi ? 0 : -1;
}

/* A comma-separated list: each item through item(); count into *n (at most cap). */
static int parse_list(plan_ctx *c, int cap, int *n, const char *expected, int (*item)(const char *, void *, int),
                      void *out)
{
    char buf[2048];
    if (!c->e->value || snprintf(buf, sizeof buf, "%s", c->e->value) >= (int)sizeof buf)
        return bad(c, expected);
    *n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ' || *tok == '\t')
            tok++;
        char *end = tok + strlen(tok);
        while (end > tok && (end[-1] == ' ' || end[-1] == '\t'))
            *--end = '\0';
        if (*n == cap || item(tok, out, *n) != 0)
            return bad(c, expected);
        (*n)++;
    }
    return *n > 0 ? 0 : bad(c, expected);
}

static int item_fraction(const char *s, void *out, int i)
{
    double p;
    if (lf_thin_parse_fraction(s, &p, NULL) != 0)
        return -1;
    for (int j = 0; j < i; j++)
        if (((double *)out)[j] == p)
            return -1;
    ((double *)out)[i] = p;
    return 0;
}

static int item_duration(const char *s, void *out, int i)
{
    double d;
    if (parse_double(s, &d) != 0 || !(d > 0))
        return -1;
    for (int j = 0; j < i; j++)
        if (((double *)out)[j] == d)
            return -1;
    ((double *)out)[i] = d;
    return 0;
}

static int item_label(const char *s, void *out, int i)
{
    long v;
    if (parse_int(s, 1, 65535, &v) != 0)
        return -1;
    for (int j = 0; j < i; j++)
        if (((int *)out)[j] == v)
            return -1;
    ((int *)out)[i] = (int)v;
    return 0;
}

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= LF_STUDY_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '_' || s[i] == '-'))
            return 0;
    return 1;
}

#define GRID_EXPECT_F "comma-separated fractions p with 0 < p <= 1 (0.25, 25% or 1/4), distinct, at most 32"
#define GRID_EXPECT_D "comma-separated durations in seconds > 0, distinct, at most 32"

/* Keys shared by the study (defaults) and an acquisition. 1: handled, 0: not such a key, -1: error. */
static int grid_key(plan_ctx *c, const char *k, lf_study_acq *a)
{
    if (!strcmp(k, "fractions"))
        return parse_list(c, LF_STUDY_MAX_GRID, &a->n_fraction, GRID_EXPECT_F, item_fraction, a->fraction) ? -1 : 1;
    if (!strcmp(k, "durations (s)"))
        return parse_list(c, LF_STUDY_MAX_GRID, &a->n_duration, GRID_EXPECT_D, item_duration, a->duration_s) ? -1 : 1;
    if (!strcmp(k, "replicates")) {
        long v;
        if (parse_int(c->e->value ? c->e->value : "", 1, 1000, &v) != 0)
            return bad(c, "an integer from 1 to 1000"), -1;
        a->replicates = (int)v;
        return 1;
    }
    if (!strcmp(k, "start (s)")) {
        if (parse_double(c->e->value ? c->e->value : "", &a->start_s) != 0 || a->start_s < 0)
            return bad(c, "a time in seconds >= 0"), -1;
        return 1;
    }
    return 0;
}

static int parse_compare(plan_ctx *c, lf_study_plan *p, const char *text)
{
    char a[64], b[64], vs[8], fa[32], da[32], fb[32], db[32], tail[2];
    double f[2], d[2];
    if (sscanf(text, "%63s %31s %31s %7s %63s %31s %31s %1s", a, fa, da, vs, b, fb, db, tail) != 7 ||
        strcmp(vs, "vs") != 0 || lf_thin_parse_fraction(fa, &f[0], NULL) != 0 ||
        lf_thin_parse_fraction(fb, &f[1], NULL) != 0 || parse_double(da, &d[0]) != 0 || parse_double(db, &d[1]) != 0)
        return bad(c, "ACQ FRACTION DURATION_S vs ACQ FRACTION DURATION_S, e.g. 'low 1 1200 vs high 1 300'");
    const char *nm[2] = {a, b};
    for (int s = 0; s < 2; s++) {
        int ai = -1;
        for (int i = 0; i < p->n_acq; i++)
            if (!strcmp(p->acq[i].name, nm[s]))
                ai = i;
        if (ai < 0)
            return lf_fail(c->err, "%s: line %d: compare: no acquisition '%s' in the plan", c->origin, c->e->line, nm[s]);
        int fi = 0, di = 0;
        for (int i = 0; i < p->acq[ai].n_fraction; i++)
            fi |= fabs(p->acq[ai].fraction[i] - f[s]) < 1e-9;
        for (int i = 0; i < p->acq[ai].n_duration; i++)
            di |= fabs(p->acq[ai].duration_s[i] - d[s]) < 1e-6;
        if (!fi || !di)
            return lf_fail(c->err, "%s: line %d: compare: %s %g %g is not in the grid (fraction and duration (s) of "
                           "acquisition %s's grid expected)", c->origin, c->e->line, nm[s], f[s], d[s], nm[s]);
        p->compare[s] = (lf_study_scan_ref){ai, f[s], d[s]};
    }
    p->has_compare = 1;
    return 0;
}

/* Reads the acquisition's header: activity (the emulated one of a thinned copy), weight, duration. */
static int acq_header(const lf_study_plan *p, lf_study_acq *a, lf_error *err)
{
    lf_lm_header h;
    if (lf_lm_header_open(a->path, NULL, &h, err) != 0)
        return lf_fail_prefix(err, "%s: line %d: acquisition %s", p->origin, a->line, a->name);
    const char *emu = lf_ifh_get(&h.ifh, "%lafov emulated activity at time of injection (Bq)");
    double v;
    a->activity_bq = emu && parse_double(emu, &v) == 0 ? v : h.activity_bq;
    a->weight_kg = h.weight_kg;
    a->scan_s = h.header_duration_s;
    lf_lm_header_free(&h);
    for (int i = 0; i < a->n_duration; i++)
        if (a->scan_s > 0 && a->start_s + a->duration_s[i] > a->scan_s + 1)
            return lf_fail(err, "%s: acquisition %s (line %d): start %g s + duration %g s ends after the scan (%g s in %s)",
                           p->origin, a->name, a->line, a->start_s, a->duration_s[i], a->scan_s, a->path);
    return 0;
}

static int parse_entries(const lf_ifh *h, plan_ctx *c, lf_study_plan *p)
{
    lf_study_acq defaults;
    memset(&defaults, 0, sizeof defaults);
    lf_study_acq *a = NULL;
    int metric_line = 0;
    for (size_t i = 0; i < h->n; i++) {
        const lf_ifh_entry *e = &h->e[i];
        c->e = e;
        const char *k = e->norm, *v = e->value ? e->value : "";
        if (!e->value)
            return lf_fail(c->err, "%s: line %d: '%s': expected key := value", c->origin, e->line, e->key);
        int g = grid_key(c, k, a ? a : &defaults);
        if (g < 0)
            return -1;
        if (g > 0)
            continue;
        if (!strcmp(k, "acquisition")) {
            if (p->n_acq == LF_STUDY_MAX_ACQ)
                return bad(c, "at most 16 acquisitions");
            if (!valid_name(v))
                return bad(c, "a name of A-Z a-z 0-9 _ - (at most 24 characters)");
            for (int j = 0; j < p->n_acq; j++)
                if (!strcmp(p->acq[j].name, v))
                    return lf_fail(c->err, "%s: line %d: acquisition %s is already defined on line %d", c->origin,
                                   e->line, v, p->acq[j].line);
            a = &p->acq[p->n_acq++];
            *a = defaults;
            a->path[0] = a->ct[0] = '\0';
            snprintf(a->name, sizeof a->name, "%s", v);
            a->line = e->line;
            continue;
        }
        if (a && !strcmp(k, "list mode")) {
            if (resolve(c, v, a->path) != 0)
                return -1;
            continue;
        }
        if (a && !strcmp(k, "ct")) {
            if (resolve(c, v, a->ct) != 0)
                return -1;
            continue;
        }
        if (a && strcmp(k, "compare") != 0)
            return lf_fail(c->err, "%s: line %d: '%s' is not a key of an acquisition block (list mode, ct, fractions, "
                           "durations (s), start (s), replicates); study keys go before the first acquisition",
                           c->origin, e->line, e->key);
        if (!strcmp(k, "study name"))
            snprintf(p->name, sizeof p->name, "%s", v);
        else if (!strcmp(k, "seed")) {
            char *end = NULL;
            errno = 0;
            unsigned long long s = strtoull(v, &end, 10);
            if (end == v || *end || errno || v[0] == '-')
                return bad(c, "an unsigned integer");
            p->seed = s;
        } else if (!strcmp(k, "recon options")) {
            if (snprintf(p->recon_options, sizeof p->recon_options, "%s", v) >= (int)sizeof p->recon_options)
                return bad(c, "at most 2047 characters");
            p->recon_options_line = e->line;
        } else if (!strcmp(k, "metric")) {
            if (!strcmp(v, "roi"))
                p->metric = LF_STUDY_ROI;
            else if (!strcmp(v, "nema"))
                p->metric = LF_STUDY_NEMA;
            else
                return bad(c, "roi or nema");
            metric_line = e->line;
        } else if (!strcmp(k, "labels")) {
            if (resolve(c, v, p->labels) != 0)
                return -1;
        } else if (!strcmp(k, "names")) {
            if (resolve(c, v, p->names) != 0)
                return -1;
        } else if (!strcmp(k, "sensitivity cache")) {
            if (resolve(c, v, p->cache) != 0)
                return -1;
        } else if (!strcmp(k, "regions")) {
            if (parse_list(c, LF_STUDY_MAX_REGIONS, &p->n_region, "distinct labels 1..65535, comma-separated",
                           item_label, p->region) != 0)
                return -1;
        } else if (!strcmp(k, "background label") || !strcmp(k, "plot region")) {
            long l;
            if (parse_int(v, 1, 65535, &l) != 0)
                return bad(c, "a label from 1 to 65535");
            *(k[0] == 'b' ? &p->background : &p->plot_region) = (int)l;
        } else if (!strcmp(k, "erode (mm)")) {
            if (parse_double(v, &p->erode_mm) != 0 || p->erode_mm < 0)
                return bad(c, "a distance >= 0 (mm)");
        } else if (!strcmp(k, "nema ratio")) {
            if (parse_double(v, &p->nema_ratio) != 0 || !(p->nema_ratio > 1))
                return bad(c, "a sphere : background ratio > 1");
        } else if (!strcmp(k, "compare")) {
            continue; /* after every acquisition is known */
        } else {
            return lf_fail(c->err, "%s: line %d: unknown key '%s' (study keys: study name, seed, recon options, "
                           "sensitivity cache, metric, labels, names, regions, background label, plot region, "
                           "erode (mm), nema ratio, compare, fractions, durations (s), start (s), replicates, acquisition)", c->origin, e->line, e->key);
        }
    }
    if (!p->metric)
        return lf_fail(c->err, "%s: required key 'metric' (roi or nema) is missing", c->origin);
    if (p->n_acq == 0)
        return lf_fail(c->err, "%s: no 'acquisition := NAME' block: a study needs at least one acquisition", c->origin);
    if (p->metric == LF_STUDY_ROI && !p->labels[0])
        return lf_fail(c->err, "%s: line %d: metric := roi needs the key 'labels' (a label image)", c->origin, metric_line);
    for (int i = 0; i < p->n_acq; i++) {
        lf_study_acq *q = &p->acq[i];
        const char *miss = !q->path[0] ? "list mode" : !q->n_fraction ? "fractions" : !q->n_duration ? "durations (s)" : NULL;
        if (miss)
            return lf_fail(c->err, "%s: acquisition %s (line %d): the key '%s' is missing (in its block, or before the "
                           "first acquisition for fractions and durations)", c->origin, q->name, q->line, miss);
    }
    if (p->background && p->n_region) {
        int found = 0;
        for (int i = 0; i < p->n_region; i++)
            found |= p->region[i] == p->background;
        if (!found)
            return lf_fail(c->err, "%s: background label %d is not among the regions", c->origin, p->background);
    }
    for (size_t i = 0; i < h->n; i++)
        if (!strcmp(h->e[i].norm, "compare")) {
            c->e = &h->e[i];
            if (parse_compare(c, p, h->e[i].value) != 0)
                return -1;
        }
    return 0;
}

/* The plan from parsed entries (origin: the file as named, dir: its folder). */
static int plan_from(const lf_ifh *h, const char *origin, const char *dir, lf_study_plan *p, lf_error *err)
{
    memset(p, 0, sizeof *p);
    snprintf(p->origin, sizeof p->origin, "%s", origin);
    snprintf(p->dir, sizeof p->dir, "%s", dir);
    p->seed = 1;
    p->nema_ratio = 4;
    plan_ctx c = {origin, dir, NULL, err};
    return parse_entries(h, &c, p);
}

int lf_study_plan_parse(const char *text, const char *origin, const char *dir, lf_study_plan *p, lf_error *err)
{
    lf_ifh h;
    if (lf_ifh_parse_buffer(text, strlen(text), origin, &h, err) != 0)
        return -1;
    int rc = plan_from(&h, origin, dir, p, err);
    lf_ifh_free(&h);
    return rc;
}

int lf_study_plan_read(const char *path, lf_study_plan *p, lf_error *err)
{
    char dir[LF_STUDY_PATH_MAX], abs[LF_STUDY_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    FILE *f = fopen(path, "rb");
    if (!f)
        return lf_fail(err, "%s: cannot open the study plan: %s", path, strerror(errno));
    fclose(f);
    lf_ifh h;
    if (lf_ifh_parse_file(path, &h, err) != 0)
        return -1;
    if (!realpath(dir, abs)) {
        lf_ifh_free(&h);
        return lf_fail(err, "%s: cannot resolve its folder: %s", path, strerror(errno));
    }
    int rc = plan_from(&h, path, abs, p, err);
    lf_ifh_free(&h);
    for (int i = 0; rc == 0 && i < p->n_acq; i++)
        rc = acq_header(p, &p->acq[i], err);
    return rc;
}

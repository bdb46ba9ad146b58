/* lafov recon: the norm folder — norm.json and crystal_efficiency.csv (see norm.h, docs/norm.md). */
#include "norm.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../io/atomic_file.h"
#include "../io/json.h"

#define LF_NORM_FORMAT "lafov norm 1"

static void path_in(char *buf, size_t cap, const char *dir, const char *name)
{
    snprintf(buf, cap, "%s/%s", dir, name);
}

int lf_norm_exists(const char *dir)
{
    char p[4200];
    struct stat st;
    path_in(p, sizeof p, dir, "norm.json");
    if (stat(p, &st) == 0)
        return 1;
    path_in(p, sizeof p, dir, "crystal_efficiency.csv");
    return stat(p, &st) == 0;
}

void lf_norm_free(lf_norm *n)
{
    free(n->eff);
    n->eff = NULL;
}

/* ---- writing ---- */

static void json_cylinder(lf_json *j, const lf_norm_cylinder *c)
{
    lf_json_obj(j, "cylinder");
    lf_json_str(j, "definition", "CT voxels above -500 HU; radius sqrt(mean area / pi) of the slices more than half full");
    lf_json_arr(j, "centre_mm");
    for (int i = 0; i < 3; i++)
        lf_json_num(j, NULL, c->centre_mm[i]);
    lf_json_end(j);
    lf_json_num(j, "radius_mm", c->radius_mm);
    lf_json_num(j, "z0_mm", c->z0_mm);
    lf_json_num(j, "z1_mm", c->z1_mm);
    lf_json_num(j, "mu_per_cm", 10 * c->mu_per_mm);
    lf_json_num(j, "volume_ml", c->volume_ml);
    lf_json_end(j);
}

int lf_norm_write(const char *dir, const lf_scanner *sc, const lf_norm *n, const lf_norm_qc *qc, lf_error *err)
{
    if (lf_mkdirs(dir, err) != 0)
        return -1;
    char p[4200];
    path_in(p, sizeof p, dir, "crystal_efficiency.csv");
    lf_atomic_file af;
    FILE *f = lf_atomic_open(&af, p, err);
    if (!f)
        return -1;
    fputs("crystal_id,ring,index,efficiency\n", f);
    for (int i = 0; i < n->n_crystals; i++)
        fprintf(f, "%d,%d,%d,%.7g\n", i, lf_crystal_ring(sc, (uint32_t)i), lf_crystal_index(sc, (uint32_t)i),
                (double)n->eff[i]);
    if (lf_atomic_commit(&af, err) != 0)
        return -1;

    path_in(p, sizeof p, dir, "norm.json");
    f = lf_atomic_open(&af, p, err);
    if (!f)
        return -1;
    lf_json j;
    lf_json_init(&j, f);
    lf_json_obj(&j, NULL);
    lf_json_str(&j, "format", LF_NORM_FORMAT);
    lf_json_str(&j, "software", "lafov " LAFOV_VERSION);
    lf_json_str(&j, "created", n->created);
    lf_json_str(&j, "scanner", n->scanner);
    lf_json_i64(&j, "system_code", n->system_code);
    lf_json_i64(&j, "crystal_count", n->n_crystals);
    lf_json_str(&j, "source", n->source);
    lf_json_str(&j, "source_sha256", n->source_sha256);
    lf_json_str(&j, "method", "crystal efficiencies by maximum-likelihood fan sums (prompts - delayeds) of a uniform "
                              "cylinder; cross-calibration against the header activity over the CT volume");
    lf_json_str(&j, "efficiency_file", "crystal_efficiency.csv");
    lf_json_num(&j, "n0_nominal_ml_per_mm", n->n0_nominal_ml_per_mm);
    lf_json_num(&j, "cross_calibration_factor", n->cross_calibration_factor);
    lf_json_num(&j, "n0_calibrated_ml_per_mm", n->n0_calibrated_ml_per_mm);
    if (n->n_cal > 0 && n->cal_mrd[0] >= 0) {
        lf_json_arr(&j, "calibration_mrd");
        for (int i = 0; i < n->n_cal; i++)
            lf_json_i64(&j, NULL, n->cal_mrd[i]);
        lf_json_end(&j);
        lf_json_nums(&j, "cross_calibration_factor_by_mrd", n->cal_factor, n->n_cal);
        lf_json_nums(&j, "n0_calibrated_by_mrd_ml_per_mm", n->cal_n0_ml_per_mm, n->n_cal);
        if (qc)
            lf_json_nums(&j, "measured_bqml_by_mrd", qc->cal_measured_bqml, n->n_cal);
    }
    if (qc) {
        lf_json_str(&j, "source_header", qc->source_header);
        lf_json_obj(&j, "statistics");
        lf_json_i64(&j, "maximum_ring_difference", qc->mrd);
        lf_json_num(&j, "duration_s", qc->duration_s);
        lf_json_u64(&j, "prompts", qc->prompts);
        lf_json_u64(&j, "delayeds", qc->delayeds);
        lf_json_num(&j, "count_fraction", qc->count_fraction);
        lf_json_num(&j, "mean_counts_per_crystal", qc->mean_counts_per_crystal);
        lf_json_num(&j, "expected_efficiency_noise", qc->expected_eff_noise);
        lf_json_num(&j, "efficiency_sd", qc->eff_sd);
        lf_json_i64(&j, "fit_iterations", qc->fit.iterations);
        lf_json_num(&j, "fit_last_change", qc->fit.last_change);
        lf_json_i64(&j, "crystals_fitted", qc->fit.n_fitted);
        lf_json_i64(&j, "crystals_without_counts", qc->fit.n_zero);
        lf_json_end(&j);
        json_cylinder(&j, &qc->cyl);
        lf_json_obj(&j, "calibration");
        lf_json_num(&j, "activity_at_injection_bq", qc->activity_injection_bq);
        lf_json_num(&j, "uptake_s", qc->uptake_s);
        lf_json_num(&j, "halflife_s", qc->halflife_s);
        lf_json_num(&j, "activity_at_scan_start_bq", qc->activity_scan_start_bq);
        lf_json_num(&j, "true_concentration_bqml", qc->true_bqml);
        lf_json_num(&j, "measured_concentration_bqml", qc->measured_bqml);
        lf_json_str(&j, "region", "r < 0.6 R, |z - z_centre| < 0.6 half-length, of the CT cylinder");
        lf_json_num(&j, "region_ml", qc->roi_ml);
        lf_json_num(&j, "axial_slab_max_deviation", qc->axial_slab_max_dev);
        lf_json_i64(&j, "recon_iterations", qc->recon_iterations);
        lf_json_i64(&j, "recon_subsets", qc->recon_subsets);
        lf_json_num(&j, "recon_voxel_mm", qc->recon_voxel_mm);
        lf_json_str(&j, "qc_image", "qc_cylinder_bqml.nii.gz");
        lf_json_end(&j);
        lf_json_obj(&j, "timing_s");
        lf_json_num(&j, "fan_sums", qc->seconds_fansums);
        lf_json_num(&j, "fit", qc->seconds_fit);
        lf_json_num(&j, "calibration_recon", qc->seconds_recon);
        lf_json_end(&j);
    }
    lf_json_end(&j);
    lf_json_finish(&j);
    return lf_atomic_commit(&af, err);
}

double lf_norm_n0_for_mrd(const lf_norm *n, int mrd, int *exact, int *cal_mrd, double *factor)
{
    int k = 0, ex = 0;
    for (int i = 0; i < n->n_cal; i++)
        if (n->cal_mrd[i] == mrd || n->cal_mrd[i] < 0) {
            k = i;
            ex = 1;
            break;
        }
    if (exact)
        *exact = ex;
    if (cal_mrd)
        *cal_mrd = n->n_cal > 0 ? n->cal_mrd[k] : -1;
    if (factor)
        *factor = n->n_cal > 0 ? n->cal_factor[k] : n->cross_calibration_factor;
    return n->n_cal > 0 ? n->cal_n0_ml_per_mm[k] : n->n0_calibrated_ml_per_mm;
}

/* ---- reading: the top-level scalars of norm.json ---- */

typedef struct jkv {
    char key[64];
    char val[4096];   /* string contents, or the number's text */
    int is_str;
} jkv;

typedef struct jdoc {
    const char *s, *path;
    size_t i, n;
    jkv kv[64];
    int nkv;
} jdoc;

static void jws(jdoc *d)
{
    while (d->i < d->n && isspace((unsigned char)d->s[d->i]))
        d->i++;
}

static int jstring(jdoc *d, char *out, size_t cap, lf_error *err)
{
    size_t o = 0;
    d->i++; /* opening quote */
    while (d->i < d->n && d->s[d->i] != '"') {
        char c = d->s[d->i++];
        if (c == '\\' && d->i < d->n) {
            char e = d->s[d->i++];
            c = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e == 'b' ? '\b' : e == 'f' ? '\f' : e;
            if (e == 'u') { /* keep \uXXXX as '?': no key or value lafov reads needs it */
                d->i += 4;
                c = '?';
            }
        }
        if (out && o + 1 < cap)
            out[o++] = c;
    }
    if (d->i >= d->n)
        return lf_fail(err, "%s: byte %zu: unterminated string (expected JSON)", d->path, d->i);
    d->i++;
    if (out)
        out[o] = '\0';
    return 0;
}

/* skips any value; depth-first */
static int jskip(jdoc *d, int depth, lf_error *err)
{
    jws(d);
    if (d->i >= d->n)
        return lf_fail(err, "%s: unexpected end of file (expected a JSON value)", d->path);
    if (depth > 32)
        return lf_fail(err, "%s: byte %zu: nesting too deep", d->path, d->i);
    const char c = d->s[d->i];
    if (c == '"')
        return jstring(d, NULL, 0, err);
    if (c == '{' || c == '[') {
        const char close = c == '{' ? '}' : ']';
        d->i++;
        jws(d);
        if (d->i < d->n && d->s[d->i] == close) {
            d->i++;
            return 0;
        }
        for (;;) {
            if (c == '{') {
                jws(d);
                if (d->i >= d->n || d->s[d->i] != '"')
                    return lf_fail(err, "%s: byte %zu: expected a key", d->path, d->i);
                if (jstring(d, NULL, 0, err) != 0)
                    return -1;
                jws(d);
                if (d->i >= d->n || d->s[d->i] != ':')
                    return lf_fail(err, "%s: byte %zu: expected ':'", d->path, d->i);
                d->i++;
            }
            if (jskip(d, depth + 1, err) != 0)
                return -1;
            jws(d);
            if (d->i < d->n && d->s[d->i] == ',') {
                d->i++;
                continue;
            }
            if (d->i < d->n && d->s[d->i] == close) {
                d->i++;
                return 0;
            }
            return lf_fail(err, "%s: byte %zu: expected ',' or '%c'", d->path, d->i, close);
        }
    }
    size_t st = d->i;
    while (d->i < d->n && !strchr(",}] \t\r\n", d->s[d->i]))
        d->i++;
    return d->i > st ? 0 : lf_fail(err, "%s: byte %zu: expected a JSON value", d->path, d->i);
}

static int jparse_top(jdoc *d, lf_error *err)
{
    jws(d);
    if (d->i >= d->n || d->s[d->i] != '{')
        return lf_fail(err, "%s: expected a JSON object", d->path);
    d->i++;
    for (;;) {
        jws(d);
        if (d->i < d->n && d->s[d->i] == '}')
            return 0;
        if (d->i >= d->n || d->s[d->i] != '"')
            return lf_fail(err, "%s: byte %zu: expected a key", d->path, d->i);
        jkv kv = {0};
        if (jstring(d, kv.key, sizeof kv.key, err) != 0)
            return -1;
        jws(d);
        if (d->i >= d->n || d->s[d->i] != ':')
            return lf_fail(err, "%s: byte %zu: expected ':' after key '%s'", d->path, d->i, kv.key);
        d->i++;
        jws(d);
        const size_t st = d->i;
        if (d->i < d->n && d->s[d->i] == '"') {
            kv.is_str = 1;
            if (jstring(d, kv.val, sizeof kv.val, err) != 0)
                return -1;
        } else {
            if (jskip(d, 1, err) != 0)
                return -1;
            size_t len = d->i - st < sizeof kv.val - 1 ? d->i - st : sizeof kv.val - 1;
            memcpy(kv.val, d->s + st, len);
        }
        if (d->nkv < (int)(sizeof d->kv / sizeof *d->kv))
            d->kv[d->nkv++] = kv;
        jws(d);
        if (d->i < d->n && d->s[d->i] == ',') {
            d->i++;
            continue;
        }
        if (d->i < d->n && d->s[d->i] == '}')
            return 0;
        return lf_fail(err, "%s: byte %zu: expected ',' or '}' after key '%s'", d->path, d->i, kv.key);
    }
}

static const jkv *jget(const jdoc *d, const char *key)
{
    for (int i = 0; i < d->nkv; i++)
        if (strcmp(d->kv[i].key, key) == 0)
            return &d->kv[i];
    return NULL;
}

static int jreq_str(const jdoc *d, const char *key, char *out, size_t cap, lf_error *err)
{
    const jkv *v = jget(d, key);
    if (!v || !v->is_str)
        return lf_fail(err, "%s: key '%s': %s (expected a string)", d->path, key, v ? "not a string" : "missing");
    const size_t l = strlen(v->val);
    if (l >= cap)
        return lf_fail(err, "%s: key '%s': %zu characters, expected at most %zu", d->path, key, l, cap - 1);
    memcpy(out, v->val, l + 1);
    return 0;
}

static int jreq_num(const jdoc *d, const char *key, double *out, lf_error *err)
{
    const jkv *v = jget(d, key);
    char *end;
    errno = 0;
    double x = v && !v->is_str ? strtod(v->val, &end) : NAN;
    if (!v || v->is_str || end == v->val || *end || !isfinite(x))
        return lf_fail(err, "%s: key '%s': %s (expected a number)", d->path, key, v ? v->val : "missing");
    *out = x;
    return 0;
}

/* An optional top-level array of numbers: *count values (0 when the key is absent). */
static int jopt_nums(const jdoc *d, const char *key, double *out, int cap, int *count, lf_error *err)
{
    *count = 0;
    const jkv *v = jget(d, key);
    if (!v)
        return 0;
    const char *q = v->val;
    if (v->is_str || *q != '[')
        return lf_fail(err, "%s: key '%s': expected an array of numbers", d->path, key);
    q++;
    for (;;) {
        while (isspace((unsigned char)*q) || *q == ',')
            q++;
        if (*q == ']')
            return 0;
        char *end;
        double x = strtod(q, &end);
        if (end == q || !isfinite(x))
            return lf_fail(err, "%s: key '%s': element %d is not a number", d->path, key, *count + 1);
        if (*count == cap)
            return lf_fail(err, "%s: key '%s': more than %d elements", d->path, key, cap);
        out[(*count)++] = x;
        q = end;
    }
}

static int read_text(const char *path, char **buf, size_t *n, lf_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return lf_fail(err, "%s: cannot open (%s)", path, strerror(errno));
    size_t cap = 1 << 16, len = 0;
    char *b = malloc(cap);
    for (;;) {
        if (!b) {
            fclose(f);
            return lf_fail(err, "%s: out of memory", path);
        }
        len += fread(b + len, 1, cap - len - 1, f);
        if (len < cap - 1)
            break;
        cap *= 2;
        char *nb = realloc(b, cap);
        if (!nb)
            free(b);
        b = nb;
    }
    const int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(b);
        return lf_fail(err, "%s: read error", path);
    }
    b[len] = '\0';
    *buf = b;
    *n = len;
    return 0;
}

static int read_csv(const char *path, const lf_scanner *sc, float *eff, lf_error *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return lf_fail(err, "%s: cannot open (%s): a norm folder holds crystal_efficiency.csv", path, strerror(errno));
    char line[512];
    int ln = 0, rc = 0, n = 0;
    if (!fgets(line, sizeof line, f) || strncmp(line, "crystal_id,ring,index,efficiency", 32) != 0) {
        fclose(f);
        return lf_fail(err, "%s: line 1: expected the header 'crystal_id,ring,index,efficiency'", path);
    }
    ln = 1;
    while (fgets(line, sizeof line, f)) {
        ln++;
        if (line[0] == '\n' || line[0] == '\0')
            continue;
        int id, ring, k;
        double e;
        char tail[8];
        int got = sscanf(line, "%d,%d,%d,%lf%7s", &id, &ring, &k, &e, tail);
        if (got != 4 || !(e >= 0) || !isfinite(e)) {
            rc = lf_fail(err, "%s: line %d: expected crystal_id,ring,index,efficiency with an efficiency >= 0", path, ln);
            break;
        }
        if (id != n || ring != lf_crystal_ring(sc, (uint32_t)id) || k != lf_crystal_index(sc, (uint32_t)id) ||
            id >= sc->n_crystals) {
            rc = lf_fail(err, "%s: line %d: crystal %d (ring %d, index %d): expected crystal %d (ring %d, index %d) of "
                              "scanner %s in order", path, ln, id, ring, k, n, lf_crystal_ring(sc, (uint32_t)n),
                         lf_crystal_index(sc, (uint32_t)n), sc->name);
            break;
        }
        eff[n++] = (float)e;
    }
    fclose(f);
    if (rc == 0 && n != sc->n_crystals)
        rc = lf_fail(err, "%s: %d crystals, expected %d (scanner %s)", path, n, sc->n_crystals, sc->name);
    return rc;
}

int lf_norm_read(const char *dir, const lf_scanner *sc, lf_norm *n, lf_error *err)
{
    memset(n, 0, sizeof *n);
    snprintf(n->dir, sizeof n->dir, "%s", dir);
    char p[4200];
    path_in(p, sizeof p, dir, "norm.json");
    char *txt = NULL;
    size_t len = 0;
    if (read_text(p, &txt, &len, err) != 0)
        return lf_fail_prefix(err, "norm %s", dir);
    jdoc *d = calloc(1, sizeof *d);
    if (!d) {
        free(txt);
        return lf_fail(err, "out of memory");
    }
    d->s = txt;
    d->n = len;
    d->path = p;
    char fmt[64];
    double code = 0, count = 0;
    int rc = jparse_top(d, err);
    if (rc == 0)
        rc = jreq_str(d, "format", fmt, sizeof fmt, err);
    if (rc == 0 && strcmp(fmt, LF_NORM_FORMAT) != 0)
        rc = lf_fail(err, "%s: key 'format': '%s', expected '%s'", p, fmt, LF_NORM_FORMAT);
    if (rc == 0)
        rc = jreq_str(d, "scanner", n->scanner, sizeof n->scanner, err) || jreq_num(d, "system_code", &code, err) ||
             jreq_num(d, "crystal_count", &count, err) || jreq_str(d, "created", n->created, sizeof n->created, err) ||
             jreq_str(d, "source", n->source, sizeof n->source, err) ||
             jreq_str(d, "source_sha256", n->source_sha256, sizeof n->source_sha256, err) ||
             jreq_num(d, "n0_nominal_ml_per_mm", &n->n0_nominal_ml_per_mm, err) ||
             jreq_num(d, "cross_calibration_factor", &n->cross_calibration_factor, err) ||
             jreq_num(d, "n0_calibrated_ml_per_mm", &n->n0_calibrated_ml_per_mm, err)
                 ? -1 : 0;
    double cm[LF_NORM_MAX_CAL], cf[LF_NORM_MAX_CAL], cn[LF_NORM_MAX_CAL];
    int nm = 0, nf = 0, nn = 0;
    if (rc == 0)
        rc = jopt_nums(d, "calibration_mrd", cm, LF_NORM_MAX_CAL, &nm, err) ||
             jopt_nums(d, "cross_calibration_factor_by_mrd", cf, LF_NORM_MAX_CAL, &nf, err) ||
             jopt_nums(d, "n0_calibrated_by_mrd_ml_per_mm", cn, LF_NORM_MAX_CAL, &nn, err)
                 ? -1 : 0;
    if (rc == 0 && (nm != nf || nm != nn))
        rc = lf_fail(err, "%s: keys 'calibration_mrd', 'cross_calibration_factor_by_mrd', 'n0_calibrated_by_mrd_ml_per_mm': "
                          "%d, %d and %d values, expected as many of each", p, nm, nf, nn);
    for (int i = 0; rc == 0 && i < nm; i++)
        if (!(cm[i] >= 0 && cm[i] == floor(cm[i])) || !(cn[i] > 0) || !(cf[i] > 0))
            rc = lf_fail(err, "%s: calibration %d: MRD %g, factor %g, n0 %g (expected a whole MRD >= 0 and positive "
                              "values)", p, i + 1, cm[i], cf[i], cn[i]);
    free(d);
    free(txt);
    if (rc != 0)
        return -1;
    if (nm > 0) {
        n->n_cal = nm;
        for (int i = 0; i < nm; i++) {
            n->cal_mrd[i] = (int)cm[i];
            n->cal_factor[i] = cf[i];
            n->cal_n0_ml_per_mm[i] = cn[i];
        }
    } else {
        n->n_cal = 1;
        n->cal_mrd[0] = -1;
        n->cal_factor[0] = n->cross_calibration_factor;
        n->cal_n0_ml_per_mm[0] = n->n0_calibrated_ml_per_mm;
    }
    n->system_code = (int)code;
    n->n_crystals = (int)count;
    if (n->system_code != sc->system_code || n->n_crystals != sc->n_crystals)
        return lf_fail(err, "%s: keys 'system_code' %d and 'crystal_count' %d: a norm of scanner '%s', expected %d and %d "
                            "for this acquisition's scanner '%s'", p, n->system_code, n->n_crystals, n->scanner,
                       sc->system_code, sc->n_crystals, sc->name);
    if (!(n->n0_calibrated_ml_per_mm > 0))
        return lf_fail(err, "%s: key 'n0_calibrated_ml_per_mm': %g, expected > 0", p, n->n0_calibrated_ml_per_mm);
    n->eff = malloc((size_t)sc->n_crystals * sizeof *n->eff);
    if (!n->eff)
        return lf_fail(err, "out of memory");
    path_in(p, sizeof p, dir, "crystal_efficiency.csv");
    if (read_csv(p, sc, n->eff, err) != 0) {
        lf_norm_free(n);
        return -1;
    }
    return 0;
}

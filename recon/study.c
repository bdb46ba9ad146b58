/* lafov recon: a study's grid of virtual scans, its jobs, and its plan claim (recon/study.h). */
#include "study.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../io/atomic_file.h"
#include "recon_output.h"

#define LF_STUDY_RECON_WORDS 256

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The recon options' words, checked: the study sets the input, the frames, the cache and the output. */
static int recon_words(const lf_study_plan *p, lf_batch_manifest *opt, lf_error *err)
{
    char origin[LF_STUDY_PATH_MAX + 64], text[2200];
    snprintf(origin, sizeof origin, "%s: line %d: recon options", p->origin, p->recon_options_line);
    snprintf(text, sizeof text, "x recon %s\n", p->recon_options);
    memset(opt, 0, sizeof *opt);
    if (lf_batch_manifest_parse(text, origin, opt, err) != 0)
        return -1;
    static const char *const forbidden[] = {"--out", "--frames", "--exclude", "--gate", "--cache-dir", "--ct",
                                            "--force", "--resume", NULL};
    const lf_batch_job *j = &opt->jobs[0];
    for (int w = 1; w < j->argc; w++)
        for (int f = 0; forbidden[f]; f++) {
            size_t n = strlen(forbidden[f]);
            if (!strncmp(j->argv[w], forbidden[f], n) && (j->argv[w][n] == '\0' || j->argv[w][n] == '=')) {
                lf_fail(err, "%s: %s is set by the study (expected reconstruction settings only, e.g. --iterations, "
                        "--subsets, --voxel-mm, --postfilter-mm, --no-attenuation)", origin, forbidden[f]);
                lf_batch_manifest_free(opt);
                return -1;
            }
        }
    return 0;
}

static int push_scan(lf_study_grid *g, int *cap, const lf_study_scan *s)
{
    if (g->n == *cap) {
        int nc = *cap ? 2 * *cap : 64;
        lf_study_scan *ns = realloc(g->scan, (size_t)nc * sizeof *ns);
        if (!ns)
            return -1;
        g->scan = ns;
        *cap = nc;
    }
    g->scan[g->n++] = *s;
    return 0;
}

/* The stream of replicate k at fraction f: the acquisition itself at f = 1, else OUT/thin/..., with its
 * thin job when that is not written yet. */
static int thin_job(const lf_study_plan *p, const lf_study_acq *a, double f, int k, int of, const char *out_abs,
                    char *stream, lf_study_grid *g, lf_error *err)
{
    snprintf(stream, LF_STUDY_PATH_MAX, "%s", a->path);
    if (f >= 1)
        return 0;
    char name[LF_BATCH_NAME_MAX], rel[256], hdr[LF_STUDY_PATH_MAX + 8], fs[32], ks[16], ns[16], seed[32];
    snprintf(name, sizeof name, "t_%s_p%g_r%d", a->name, f, k);
    snprintf(rel, sizeof rel, "thin/%s_p%g_r%d.l", a->name, f, k);
    snprintf(stream, LF_STUDY_PATH_MAX, "%s/%s", out_abs, rel);
    snprintf(hdr, sizeof hdr, "%s.hdr", stream);
    if (file_exists(stream) && file_exists(hdr)) /* the header is renamed last: the stream is whole */
        return 0;
    char record[LF_STUDY_PATH_MAX + 128];
    snprintf(record, sizeof record, "%s/batch/thin/done/%s.done", out_abs, name);
    unlink(record); /* a record of a stream since removed would skip the job */
    snprintf(record, sizeof record, "%s/thin", out_abs);
    if (lf_mkdirs(record, err) != 0)
        return -1;
    snprintf(fs, sizeof fs, "%.17g", f);
    snprintf(ks, sizeof ks, "%d", k);
    snprintf(ns, sizeof ns, "%d", of);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)p->seed);
    const char *w[] = {"thin", a->path, "--fraction", fs, "--replicate", ks, "--of", ns, "--seed", seed,
                       "--force", "--out", rel};
    return lf_batch_manifest_add(&g->thin, name, 13, w, 0, err);
}

/* Virtual scan (f, d, k) and its recon job. */
static int recon_job(const lf_study_plan *p, const lf_study_acq *a, int ai, double f, double d, int k, int of,
                     const char *stream, const lf_batch_job *oj, const char *out_abs, lf_study_grid *g, int *cap, lf_error *err)
{
    lf_study_scan s;
    memset(&s, 0, sizeof s);
    s.acq = ai;
    s.fraction = f;
    s.duration_s = d;
    s.replicate = k;
    s.of = of;
    snprintf(s.stream, sizeof s.stream, "%s", stream);
    char rel[256], frames[96];
    snprintf(rel, sizeof rel, "recon/%s_p%g_d%.10g_r%d", a->name, f, d, k);
    snprintf(s.recon_dir, sizeof s.recon_dir, "%s/%s", out_abs, rel);
    snprintf(s.job, sizeof s.job, "r_%s_p%g_d%.10g_r%d", a->name, f, d, k);
    snprintf(frames, sizeof frames, "%.10g-%.10g", a->start_s, a->start_s + d);
    const char *w[LF_STUDY_RECON_WORDS];
    int n = 0;
    w[n++] = "recon";
    w[n++] = stream;
    if (a->ct[0]) {
        w[n++] = "--ct";
        w[n++] = a->ct;
    }
    w[n++] = "--frames";
    w[n++] = frames;
    w[n++] = "--cache-dir";
    w[n++] = p->cache[0] ? p->cache : "cache";
    w[n++] = "--out";
    w[n++] = rel;
    if (oj->argc - 1 > LF_STUDY_RECON_WORDS - n)
        return lf_fail(err, "recon options: more than %d words", LF_STUDY_RECON_WORDS - n);
    for (int o = 1; o < oj->argc; o++)
        w[n++] = oj->argv[o];
    if (push_scan(g, cap, &s) != 0)
        return lf_fail(err, "study: out of memory");
    if (!lf_frame_finished(s.recon_dir)) { /* a record of an image since removed would skip the job */
        char record[LF_STUDY_PATH_MAX + 128];
        snprintf(record, sizeof record, "%s/batch/recon/done/%s.done", out_abs, s.job);
        unlink(record);
    }
    return lf_batch_manifest_add(&g->recon, s.job, n, w, 0, err);
}

int lf_study_grid_make(const lf_study_plan *p, const char *out_abs, lf_study_grid *g, lf_error *err)
{
    memset(g, 0, sizeof *g);
    snprintf(g->out, sizeof g->out, "%s", out_abs);
    snprintf(g->thin.dir, sizeof g->thin.dir, "%s", out_abs);
    snprintf(g->recon.dir, sizeof g->recon.dir, "%s", out_abs);
    lf_batch_manifest opt;
    if (recon_words(p, &opt, err) != 0)
        return -1;
    const lf_batch_job *oj = &opt.jobs[0];
    int cap = 0, rc = -1;
    for (int ai = 0; ai < p->n_acq; ai++) {
        const lf_study_acq *a = &p->acq[ai];
        for (int fi = 0; fi < a->n_fraction; fi++) {
            double f = a->fraction[fi];
            int of = (int)floor(1.0 / f + 1e-9);
            int reps = a->replicates > 0 && a->replicates < of ? a->replicates : of;
            if (f == 1)
                reps = of = 1;
            char (*streams)[LF_STUDY_PATH_MAX] = malloc((size_t)reps * sizeof *streams);
            if (!streams) {
                lf_fail(err, "study: out of memory");
                goto out;
            }
            int bad = 0;
            for (int k = 1; k <= reps && !bad; k++)
                bad = thin_job(p, a, f, k, of, out_abs, streams[k - 1], g, err);
            for (int di = 0; di < a->n_duration && !bad; di++)
                for (int k = 1; k <= reps && !bad; k++)
                    bad = recon_job(p, a, ai, f, a->duration_s[di], k, of, streams[k - 1], oj, out_abs, g, &cap, err);
            free(streams);
            if (bad)
                goto out;
        }
    }
    rc = 0;
out:
    lf_batch_manifest_free(&opt);
    if (rc != 0)
        lf_study_grid_free(g);
    return rc;
}

void lf_study_grid_free(lf_study_grid *g)
{
    free(g->scan);
    g->scan = NULL;
    g->n = 0;
    lf_batch_manifest_free(&g->thin);
    lf_batch_manifest_free(&g->recon);
}

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    char *b = malloc(cap);
    while (b) {
        len += fread(b + len, 1, cap - len, f);
        if (len < cap)
            break;
        char *nb = realloc(b, cap *= 2);
        if (!nb) {
            free(b);
            b = NULL;
        } else
            b = nb;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(b);
        return NULL;
    }
    *n = len;
    return b;
}

int lf_study_claim(const char *plan_path, const char *out, int force, lf_error *err)
{
    size_t n = 0, m = 0;
    char *plan = slurp(plan_path, &n);
    if (!plan)
        return lf_fail(err, "%s: cannot read the study plan: %s", plan_path, strerror(errno));
    char claim[LF_STUDY_PATH_MAX + 16];
    snprintf(claim, sizeof claim, "%s/plan.txt", out);
    char *old = slurp(claim, &m);
    int same = old && m == n && memcmp(old, plan, n) == 0;
    free(old);
    if (old && !same && !force) {
        free(plan);
        return lf_fail(err, "%s holds another plan than %s: a study folder belongs to one plan (expected the same "
                       "plan, another --out, or --force to take the folder over, keeping the finished jobs that "
                       "still match)", claim, plan_path);
    }
    int rc = 0;
    if (!same) {
        lf_atomic_file af;
        FILE *f = lf_mkdirs(out, err) == 0 ? lf_atomic_open(&af, claim, err) : NULL;
        rc = f ? 0 : -1;
        if (f && fwrite(plan, 1, n, f) != n) {
            lf_atomic_abort(&af);
            rc = lf_fail(err, "%s: write failed", claim);
        } else if (f)
            rc = lf_atomic_commit(&af, err);
    }
    free(plan);
    return rc;
}

double lf_study_equivalent_min(const lf_study_scan *s) { return s->fraction * s->duration_s / 60.0; }

double lf_study_activity_time_mbq_min(const lf_study_plan *p, const lf_study_scan *s)
{
    double a = p->acq[s->acq].activity_bq;
    return a > 0 ? s->fraction * a * 1e-6 * s->duration_s / 60.0 : NAN;
}

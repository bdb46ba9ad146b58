/* lafov recon: a study's products — results.csv, report.md and plots/METRIC.png (recon/study.h). */
#include "study.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io/atomic_file.h"
#include "../io/plot.h"

const char LF_STUDY_CSV_PREFIX[] = "acquisition,fraction,duration_s,replicate,of,equivalent_min,activity_time_mbq_min,"
                                   "activity_time_mbq_per_kg_min,region,label";

/* The metrics shown in the report and plotted, with their titles. */
static const int k_roi_shown[] = {1, 4, 5, 3, 6, 7};
static const char *const k_roi_titles[] = {"SUVmean", "SUVmax", "SUVpeak", "COV (%)", "contrast", "CNR"};
static const int k_nema_shown[] = {0, 1, 4};
static const char *const k_nema_titles[] = {"contrast recovery (%)", "background variability (%)", "lung residual (%)"};

static int shown(const lf_study_plan *p, const int **idx, const char *const **titles)
{
    *idx = p->metric == LF_STUDY_NEMA ? k_nema_shown : k_roi_shown;
    *titles = p->metric == LF_STUDY_NEMA ? k_nema_titles : k_roi_titles;
    return p->metric == LF_STUDY_NEMA ? 3 : 6;
}

static void num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.10g", v);
}

static void csv_text(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static double per_kg(const lf_study_plan *p, const lf_study_scan *s)
{
    double w = p->acq[s->acq].weight_kg;
    return w > 0 ? lf_study_activity_time_mbq_min(p, s) / w : NAN;
}

static int write_csv(const lf_study_plan *p, const lf_study_grid *g, const lf_study_results *r, lf_error *err)
{
    char path[LF_STUDY_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/results.csv", g->out);
    lf_atomic_file af;
    FILE *f = lf_atomic_open(&af, path, err);
    if (!f)
        return -1;
    int nm;
    const char *const *names = lf_study_metric_names(p->metric, &nm);
    fputs(LF_STUDY_CSV_PREFIX, f);
    for (int m = 0; m < nm; m++)
        fprintf(f, ",%s", names[m]);
    fputc('\n', f);
    for (int i = 0; i < r->n; i++) {
        const lf_study_row *row = &r->row[i];
        const lf_study_scan *s = &g->scan[row->scan];
        fprintf(f, "%s,%.10g,%.10g,%d,%d,%.10g,", p->acq[s->acq].name, s->fraction, s->duration_s, s->replicate, s->of,
                lf_study_equivalent_min(s));
        num(f, lf_study_activity_time_mbq_min(p, s));
        fputc(',', f);
        num(f, per_kg(p, s));
        fputc(',', f);
        csv_text(f, row->region);
        fprintf(f, ",%d", row->label);
        for (int m = 0; m < nm; m++) {
            fputc(',', f);
            num(f, row->v[m]);
        }
        fputc('\n', f);
    }
    return lf_atomic_commit(&af, err);
}

/* A cell: the virtual scans [s0, s1) of one (acquisition, fraction, duration), its replicates. */
static int cell_end(const lf_study_grid *g, int s0)
{
    int s1 = s0 + 1;
    while (s1 < g->n && g->scan[s1].acq == g->scan[s0].acq && g->scan[s1].fraction == g->scan[s0].fraction &&
           g->scan[s1].duration_s == g->scan[s0].duration_s)
        s1++;
    return s1;
}

/* Mean and sample SD over the replicates of a cell for one region and metric; *n finite values. */
static void cell_stat(const lf_study_results *r, int s0, int s1, int label, int m, double *mean, double *sd, int *n)
{
    double sum = 0, sum2 = 0;
    int k = 0;
    for (int i = 0; i < r->n; i++) {
        const lf_study_row *row = &r->row[i];
        if (row->scan >= s0 && row->scan < s1 && row->label == label && isfinite(row->v[m])) {
            sum += row->v[m];
            k++;
        }
    }
    *n = k;
    *mean = k ? sum / k : NAN;
    for (int i = 0; i < r->n; i++) {
        const lf_study_row *row = &r->row[i];
        if (row->scan >= s0 && row->scan < s1 && row->label == label && isfinite(row->v[m]))
            sum2 += (row->v[m] - *mean) * (row->v[m] - *mean);
    }
    *sd = k > 1 ? sqrt(sum2 / (k - 1)) : NAN;
}

/* The regions in the order of their first row: labels into lab (cap), names as pointers into r. */
static int regions(const lf_study_results *r, int *lab, const char **name, int cap)
{
    int n = 0;
    for (int i = 0; i < r->n; i++) {
        int seen = 0;
        for (int j = 0; j < n; j++)
            seen |= lab[j] == r->row[i].label;
        if (!seen && n < cap) {
            lab[n] = r->row[i].label;
            name[n++] = r->row[i].region;
        }
    }
    return n;
}

static void pm(FILE *f, double mean, double sd)
{
    if (!isfinite(mean))
        fputs(" – |", f);
    else if (isfinite(sd))
        fprintf(f, " %.4g ± %.2g |", mean, sd);
    else
        fprintf(f, " %.4g |", mean);
}

static int find_cell(const lf_study_grid *g, const lf_study_scan_ref *c)
{
    for (int s = 0; s < g->n; s++)
        if (g->scan[s].acq == c->acq && fabs(g->scan[s].fraction - c->fraction) < 1e-9 &&
            fabs(g->scan[s].duration_s - c->duration_s) < 1e-6)
            return s;
    return -1;
}

/* The region the plots and the answer line are about. */
static int key_region(const lf_study_plan *p, const int *lab, int n)
{
    for (int i = 0; i < n; i++)
        if (p->plot_region && lab[i] == p->plot_region)
            return i;
    for (int i = 0; i < n; i++)
        if (p->metric == LF_STUDY_NEMA ? lab[i] == 1 : lab[i] != p->background)
            return i;
    return 0;
}

static void compare(FILE *f, const lf_study_plan *p, const lf_study_grid *g, const lf_study_results *r,
                    const int *lab, const char **rname, int nreg)
{
    const lf_study_scan_ref *c = p->compare;
    int a0 = find_cell(g, &c[0]), b0 = find_cell(g, &c[1]);
    fprintf(f, "\n## Comparison: %s %g × %g s vs %s %g × %g s\n\n", p->acq[c[0].acq].name, c[0].fraction,
            c[0].duration_s, p->acq[c[1].acq].name, c[1].fraction, c[1].duration_s);
    if (a0 < 0 || b0 < 0)
        return;
    int a1 = cell_end(g, a0), b1 = cell_end(g, b0);
    int m_key = p->metric == LF_STUDY_NEMA ? 1 : 3; /* background variability / COV */
    int k = key_region(p, lab, nreg);
    const int *idx;
    const char *const *titles;
    int ns = shown(p, &idx, &titles);
    fprintf(f, "| region | metric | %s %g × %g s | %s %g × %g s |\n|---|---|---|---|\n", p->acq[c[0].acq].name,
            c[0].fraction, c[0].duration_s, p->acq[c[1].acq].name, c[1].fraction, c[1].duration_s);
    for (int i = 0; i < nreg; i++)
        for (int s = 0; s < ns; s++) {
            double ma, sa, mb, sb;
            int na, nb;
            cell_stat(r, a0, a1, lab[i], idx[s], &ma, &sa, &na);
            cell_stat(r, b0, b1, lab[i], idx[s], &mb, &sb, &nb);
            if (!na && !nb)
                continue;
            fprintf(f, "| %s | %s |", rname[i], titles[s]);
            pm(f, ma, sa);
            pm(f, mb, sb);
            fputc('\n', f);
        }
    double ma, sa, mb, sb;
    int na, nb;
    cell_stat(r, a0, a1, lab[k], m_key, &ma, &sa, &na);
    cell_stat(r, b0, b1, lab[k], m_key, &mb, &sb, &nb);
    const char *what = p->metric == LF_STUDY_NEMA ? "background variability" : "COV";
    if (!na || !nb) {
        fprintf(f, "\n**Answer:** not available (%s of %s missing in one of the two).\n", what, rname[k]);
        return;
    }
    double se = sqrt((na > 1 && isfinite(sa) ? sa * sa / na : 0) + (nb > 1 && isfinite(sb) ? sb * sb / nb : 0));
    double d = ma - mb;
    fprintf(f, "\n**Answer:** %s %s: %.3g %% (%s %g × %g s, %d replicate(s)) vs %.3g %% (%s %g × %g s, %d): ", rname[k],
            what, ma, p->acq[c[0].acq].name, c[0].fraction, c[0].duration_s, na, mb, p->acq[c[1].acq].name,
            c[1].fraction, c[1].duration_s, nb);
    if (!(se > 0))
        fprintf(f, "difference %.3g points (no replicate spread to judge it).\n", d);
    else if (fabs(d) < 2 * se)
        fprintf(f, "equivalent within the replicate spread (difference %.3g ± %.2g points).\n", d, se);
    else
        fprintf(f, "%s %g × %g s is less noisy (difference %.3g ± %.2g points, %.1f standard errors).\n",
                p->acq[c[d < 0 ? 0 : 1].acq].name, c[d < 0 ? 0 : 1].fraction, c[d < 0 ? 0 : 1].duration_s, d, se,
                fabs(d) / se);
}

static int write_report(const lf_study_plan *p, const lf_study_grid *g, const lf_study_results *r, lf_error *err)
{
    char path[LF_STUDY_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/report.md", g->out);
    lf_atomic_file af;
    FILE *f = lf_atomic_open(&af, path, err);
    if (!f)
        return -1;
    fprintf(f, "# lafov study%s%s\n\n", p->name[0] ? ": " : "", p->name);
    fprintf(f, "Plan `%s`; %d virtual scans, %d measured, %d without a finished image. ", p->origin, g->n, r->measured,
            r->missing);
    if (p->metric == LF_STUDY_ROI)
        fprintf(f, "Metric: ROI statistics of `image_suv.nii.gz` over `%s` (erosion %g mm)", p->labels, p->erode_mm);
    else
        fprintf(f, "Metric: NEMA NU 2-2018 image quality of `image_bqml.nii.gz` (sphere : background %g)", p->nema_ratio);
    if (p->metric == LF_STUDY_ROI && p->background)
        fprintf(f, "; contrast and CNR against label %d", p->background);
    fprintf(f, ". Recon options: `%s`. Thinning seed %llu.\n\n## Grid\n\n", p->recon_options,
            (unsigned long long)p->seed);
    fprintf(f, "| acquisition | list mode | activity (MBq) | weight (kg) | fractions | durations (s) | start (s) | "
               "replicates per fraction |\n|---|---|---|---|---|---|---|---|\n");
    for (int a = 0; a < p->n_acq; a++) {
        const lf_study_acq *q = &p->acq[a];
        fprintf(f, "| %s | `%s` | %.4g | %.4g | ", q->name, q->path, q->activity_bq * 1e-6, q->weight_kg);
        for (int i = 0; i < q->n_fraction; i++)
            fprintf(f, "%s%g", i ? ", " : "", q->fraction[i]);
        fputs(" | ", f);
        for (int i = 0; i < q->n_duration; i++)
            fprintf(f, "%s%g", i ? ", " : "", q->duration_s[i]);
        fprintf(f, " | %g | ", q->start_s);
        if (q->replicates)
            fprintf(f, "min(%d, floor(1/p))", q->replicates);
        else
            fputs("floor(1/p)", f);
        fputs(" |\n", f);
    }
    int lab[LF_STUDY_MAX_REGIONS + 8];
    const char *rname[LF_STUDY_MAX_REGIONS + 8];
    int nreg = regions(r, lab, rname, LF_STUDY_MAX_REGIONS + 8);
    const int *idx;
    const char *const *titles;
    int ns = shown(p, &idx, &titles);
    fputs("\n## Results (mean ± SD over the replicates)\n", f);
    for (int i = 0; i < nreg; i++) {
        fprintf(f, "\n### %s (%s %d)\n\n| acquisition | fraction | duration (s) | MBq·min | n |", rname[i],
                p->metric == LF_STUDY_NEMA ? "region" : "label", lab[i]);
        int use[8], nu = 0;
        for (int s = 0; s < ns; s++) {
            int any = 0;
            for (int j = 0; j < r->n && !any; j++)
                any = r->row[j].label == lab[i] && isfinite(r->row[j].v[idx[s]]);
            if (any) {
                use[nu++] = idx[s];
                fprintf(f, " %s |", titles[s]);
            }
        }
        fputs("\n|---|---|---|---|---|", f);
        for (int u = 0; u < nu; u++)
            fputs("---|", f);
        fputc('\n', f);
        for (int s0 = 0; s0 < g->n; s0 = cell_end(g, s0)) {
            int s1 = cell_end(g, s0), n = 0;
            double mean, sd;
            cell_stat(r, s0, s1, lab[i], nu ? use[0] : 0, &mean, &sd, &n);
            const lf_study_scan *s = &g->scan[s0];
            fprintf(f, "| %s | %g | %g | %.4g | %d |", p->acq[s->acq].name, s->fraction, s->duration_s,
                    lf_study_activity_time_mbq_min(p, s), n);
            for (int u = 0; u < nu; u++) {
                cell_stat(r, s0, s1, lab[i], use[u], &mean, &sd, &n);
                pm(f, mean, sd);
            }
            fputc('\n', f);
        }
    }
    if (p->has_compare)
        compare(f, p, g, r, lab, rname, nreg);
    fputs("\nColumns of `results.csv`: see docs/protocol.md (\"lafov study\"). Plots: `plots/`.\n", f);
    return lf_atomic_commit(&af, err);
}

/* plots/METRIC.png: the key region's metric against dose × time, one line per acquisition and duration. */
static int write_plots(const lf_study_plan *p, const lf_study_grid *g, const lf_study_results *r, lf_error *err)
{
    char dir[LF_STUDY_PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/plots", g->out);
    if (r->n == 0)
        return 0;
    if (lf_mkdirs(dir, err) != 0)
        return -1;
    int lab[LF_STUDY_MAX_REGIONS + 8];
    const char *rname[LF_STUDY_MAX_REGIONS + 8];
    int nreg = regions(r, lab, rname, LF_STUDY_MAX_REGIONS + 8), k = key_region(p, lab, nreg);
    int with_activity = 1;
    for (int a = 0; a < p->n_acq; a++)
        with_activity &= p->acq[a].activity_bq > 0;
    const int *idx;
    const char *const *titles;
    int ns = shown(p, &idx, &titles), nm, rc = 0;
    const char *const *names = lf_study_metric_names(p->metric, &nm);
    size_t cap = (size_t)g->n + 1;
    double *x = malloc(cap * sizeof *x), *y = malloc(cap * sizeof *y), *e = malloc(cap * sizeof *e);
    lf_plot_series *se = malloc(cap * sizeof *se);
    if (!x || !y || !e || !se)
        rc = lf_fail(err, "study: out of memory for the plots");
    for (int s = 0; s < ns && rc == 0; s++) {
        int m = idx[s], reg = k, any = 0;
        for (int pass = 0; pass < 2 && !any; pass++) /* the key region, else the first with this metric */
            for (int i = pass ? 0 : k; i < (pass ? nreg : k + 1) && !any; i++)
                for (int j = 0; j < r->n && !any; j++)
                    if (r->row[j].label == lab[i] && isfinite(r->row[j].v[m]))
                        any = 1, reg = i;
        if (!any)
            continue;
        /* series: one per (acquisition, duration), points over the fractions */
        int nser = 0, used = 0;
        for (int a = 0; a < p->n_acq; a++)
            for (int di = 0; di < p->acq[a].n_duration; di++) {
                lf_plot_series *sr = &se[nser];
                memset(sr, 0, sizeof *sr);
                sr->x = x + used;
                sr->y = y + used;
                sr->err = e + used;
                for (int s0 = 0; s0 < g->n; s0 = cell_end(g, s0)) {
                    const lf_study_scan *sc = &g->scan[s0];
                    if (sc->acq != a || sc->duration_s != p->acq[a].duration_s[di])
                        continue;
                    int n;
                    cell_stat(r, s0, cell_end(g, s0), lab[reg], m, &y[used], &e[used], &n);
                    x[used] = with_activity ? lf_study_activity_time_mbq_min(p, sc) : lf_study_equivalent_min(sc);
                    used++;
                    sr->n++;
                }
                if (p->n_acq > 1)
                    snprintf(sr->label, sizeof sr->label, "%s %g S", p->acq[a].name, p->acq[a].duration_s[di]);
                else
                    snprintf(sr->label, sizeof sr->label, "%g S", p->acq[a].duration_s[di]);
                nser++;
            }
        char title[160], path[LF_STUDY_PATH_MAX + 64];
        snprintf(title, sizeof title, "%s %s", rname[reg], titles[s]);
        snprintf(path, sizeof path, "%s/%s.png", dir, names[m]);
        lf_plot pl = {title, with_activity ? "ACTIVITY X TIME (MBQ MIN), MEAN +- SD OVER REPLICATES"
                                           : "FULL-ACTIVITY MINUTES (FRACTION X MIN), MEAN +- SD OVER REPLICATES",
                      titles[s], 1, se, nser};
        rc = lf_plot_png(path, &pl, err);
    }
    free(x);
    free(y);
    free(e);
    free(se);
    return rc;
}

int lf_study_write(const lf_study_plan *p, const lf_study_grid *g, const lf_study_results *r, lf_error *err)
{
    if (write_csv(p, g, r, err) != 0 || write_report(p, g, r, err) != 0 || write_plots(p, g, r, err) != 0)
        return -1;
    return 0;
}

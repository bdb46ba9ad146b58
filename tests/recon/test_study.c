/* Protocol studies: the plan file (keys, defaults, acquisition blocks, every error naming the plan, line
 * and key), the grid of virtual scans and its two manifests (replicates per fraction, order, the job
 * words, thinned streams already written left out, options the study owns refused), the folder's plan
 * claim, measuring synthetic reconstructions (ROI statistics, contrast and CNR against the background,
 * a missing image), results.csv / report.md / plots, and the plot renderer. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/atomic_file.h"
#include "io/nifti.h"
#include "io/plot.h"
#include "recon/study.h"

static char g_dir[4096];

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "%s", tu_tmpdir());
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree(g_dir);
    return 0;
}

static const char *k_plan =
    "# two protocols\n"
    "study name := test study\n"
    "seed := 9\n"
    "metric := roi\n"
    "labels := sim/labels.nii.gz\n"
    "names := /abs/truth.json\n"
    "regions := 1, 2\n"
    "background label := 1\n"
    "erode (mm) := 2.5\n"
    "recon options := --iterations 2 --voxel-mm 6 --no-attenuation\n"
    "fractions := 1, 0.5, 1/3\n"
    "durations (s) := 60, 30\n"
    "compare := low 1/3 60 vs high 1 30\n"
    "acquisition := low\n"
    "list mode := low/acq.l\n"
    "ct := low/ct.nii.gz\n"
    "replicates := 2\n"
    "acquisition := high\n"
    "list mode := high.l\n"
    "fractions := 1\n"
    "durations (s) := 30\n"
    "start (s) := 10\n";

static void plan_keys_and_defaults(void **state)
{
    (void)state;
    lf_study_plan *p = malloc(sizeof *p);
    lf_error err = {{0}};
    assert_int_equal(lf_study_plan_parse(k_plan, "p.txt", "/base", p, &err), 0);
    assert_string_equal(p->name, "test study");
    assert_int_equal(p->seed, 9);
    assert_int_equal(p->metric, LF_STUDY_ROI);
    assert_string_equal(p->labels, "/base/sim/labels.nii.gz");
    assert_string_equal(p->names, "/abs/truth.json");
    assert_string_equal(p->cache, ""); /* default: OUT/cache */
    assert_int_equal(p->n_region, 2);
    assert_int_equal(p->background, 1);
    assert_true(p->erode_mm == 2.5);
    assert_int_equal(p->recon_options_line, 10);
    assert_int_equal(p->n_acq, 2);
    const lf_study_acq *lo = &p->acq[0], *hi = &p->acq[1];
    assert_string_equal(lo->path, "/base/low/acq.l");
    assert_string_equal(lo->ct, "/base/low/ct.nii.gz");
    assert_int_equal(lo->n_fraction, 3); /* the defaults */
    assert_true(fabs(lo->fraction[2] - 1.0 / 3) < 1e-15);
    assert_int_equal(lo->n_duration, 2);
    assert_int_equal(lo->replicates, 2);
    assert_int_equal(lo->line, 14);
    assert_string_equal(hi->ct, "");
    assert_int_equal(hi->n_fraction, 1);
    assert_true(hi->duration_s[0] == 30 && hi->start_s == 10);
    assert_int_equal(hi->replicates, 0);
    assert_true(p->has_compare);
    assert_int_equal(p->compare[0].acq, 0);
    assert_int_equal(p->compare[1].acq, 1);
    assert_true(p->compare[1].duration_s == 30);
    free(p);
}

static void plan_errors(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *want[3];
    } cases[] = {
        {"metric := roi\nlabels := l.nii\ncolour := red\n", {"p.txt: line 3: unknown key 'colour'", "study keys"}},
        {"metric := pet\n", {"p.txt: line 1: metric := pet: expected roi or nema"}},
        {"metric := nema\nfractions := 1, 0\n", {"line 2: fractions := 1, 0: expected", "0 < p <= 1"}},
        {"metric := nema\nfractions := 0.5, 1/2\n", {"line 2", "distinct"}},
        {"metric := nema\ndurations (s) := 60, -1\n", {"line 2: durations (s)", "> 0"}},
        {"metric := nema\nreplicates := 0\n", {"line 2: replicates := 0: expected an integer from 1"}},
        {"metric := nema\nseed := -4\n", {"line 2: seed := -4: expected an unsigned integer"}},
        {"metric := nema\nnema ratio := 1\n", {"line 2: nema ratio", "> 1"}},
        {"fractions := 1\ndurations (s) := 1\nacquisition := a\nlist mode := a.l\n",
         {"p.txt: required key 'metric'"}},
        {"metric := roi\nfractions := 1\ndurations (s) := 1\nacquisition := a\nlist mode := a.l\n",
         {"metric := roi needs the key 'labels'"}},
        {"metric := nema\n", {"no 'acquisition := NAME' block"}},
        {"metric := nema\nacquisition := a b\n", {"line 2: acquisition := a b: expected a name"}},
        {"metric := nema\nfractions := 1\ndurations (s) := 1\nacquisition := a\nlist mode := a.l\nacquisition := a\n",
         {"line 6: acquisition a is already defined on line 4"}},
        {"metric := nema\nfractions := 1\nacquisition := a\nlist mode := a.l\n",
         {"acquisition a (line 3): the key 'durations (s)' is missing"}},
        {"metric := nema\nfractions := 1\ndurations (s) := 1\nacquisition := a\n",
         {"acquisition a (line 4): the key 'list mode' is missing"}},
        {"metric := nema\nfractions := 1\ndurations (s) := 1\nacquisition := a\nlist mode := a.l\nseed := 3\n",
         {"line 6: 'seed' is not a key of an acquisition block"}},
        {"metric := nema\nfractions := 1\ndurations (s) := 1\nacquisition := a\nlist mode := a.l\ncompare := a 0.5 1 vs a 1 1\n",
         {"line 6: compare: a 0.5 1 is not in the grid"}},
        {"metric := nema\nfractions := 1\ndurations (s) := 1\nacquisition := a\nlist mode := a.l\ncompare := a 1 1 vs b 1 1\n",
         {"line 6: compare: no acquisition 'b'"}},
        {"metric := nema\ncompare := a 1 1 to a 1 1\nfractions := 1\ndurations (s) := 1\nacquisition := a\nlist mode := a.l\n",
         {"line 2: compare := a 1 1 to a 1 1: expected ACQ FRACTION DURATION_S vs"}},
        {"metric := roi\nlabels := l.nii\nregions := 2, 3\nbackground label := 1\nfractions := 1\ndurations (s) := 1\n"
         "acquisition := a\nlist mode := a.l\n",
         {"background label 1 is not among the regions"}},
        {"metric := nema\nthis line has no value\n", {"line 2: 'this line has no value': expected key := value"}},
    };
    lf_study_plan *p = malloc(sizeof *p);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lf_error err = {{0}};
        assert_int_equal(lf_study_plan_parse(cases[i].text, "p.txt", "/base", p, &err), -1);
        for (int w = 0; w < 3 && cases[i].want[w]; w++)
            if (!tu_contains(err.msg, cases[i].want[w]))
                fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, cases[i].want[w]);
    }
    free(p);
}

static const char *word_after(const lf_batch_job *j, const char *opt) { return lf_batch_job_option(j, opt); }

static void grid_and_jobs(void **state)
{
    (void)state;
    lf_study_plan *p = malloc(sizeof *p);
    lf_error err = {{0}};
    assert_int_equal(lf_study_plan_parse(k_plan, "p.txt", "/base", p, &err), 0);
    char out[4200];
    snprintf(out, sizeof out, "%s/grid", g_dir);
    /* one thinned stream already written: its job is left out */
    char path[4400];
    snprintf(path, sizeof path, "%s/thin", out);
    assert_int_equal(lf_mkdirs(path, &err), 0);
    snprintf(path, sizeof path, "%s/thin/low_p0.5_r2.l", out);
    tu_write_text(path, "x");
    snprintf(path, sizeof path, "%s/thin/low_p0.5_r2.l.hdr", out);
    tu_write_text(path, "x");
    snprintf(path, sizeof path, "%s/thin/low_p0.5_r1.l", out); /* data without its header: not whole */
    tu_write_text(path, "x");
    lf_study_grid g;
    assert_int_equal(lf_study_grid_make(p, out, &g, &err), 0);
    /* low: p = 1 one replicate, 0.5 two, 1/3 min(2, 3) = 2, × 2 durations; high: 1 */
    assert_int_equal(g.n, (1 + 2 + 2) * 2 + 1);
    assert_int_equal(g.recon.n, g.n);
    assert_int_equal(g.thin.n, 3); /* low 0.5 r1, 1/3 r1, 1/3 r2 */
    assert_string_equal(g.thin.jobs[0].name, "t_low_p0.5_r1");
    assert_string_equal(g.thin.jobs[1].name, "t_low_p0.333333_r1");
    assert_string_equal(word_after(&g.thin.jobs[1], "--of"), "3");
    assert_string_equal(word_after(&g.thin.jobs[1], "--replicate"), "1");
    assert_string_equal(word_after(&g.thin.jobs[2], "--seed"), "9");
    assert_string_equal(word_after(&g.thin.jobs[2], "--out"), "thin/low_p0.333333_r2.l");
    assert_string_equal(g.thin.jobs[0].argv[1], "/base/low/acq.l");
    /* order: acquisition, fraction, duration, replicate */
    const lf_study_scan *s = g.scan;
    assert_true(s[0].fraction == 1 && s[0].duration_s == 60 && s[0].replicate == 1 && s[0].of == 1);
    assert_true(s[1].fraction == 1 && s[1].duration_s == 30);
    assert_true(s[2].fraction == 0.5 && s[2].duration_s == 60 && s[2].replicate == 1 && s[2].of == 2);
    assert_true(s[3].fraction == 0.5 && s[3].duration_s == 60 && s[3].replicate == 2);
    assert_true(s[4].fraction == 0.5 && s[4].duration_s == 30 && s[4].replicate == 1);
    assert_int_equal(s[6].of, 3);
    assert_int_equal(s[10].acq, 1);
    assert_string_equal(s[0].stream, "/base/low/acq.l"); /* p = 1: the scan itself */
    snprintf(path, sizeof path, "%s/thin/low_p0.5_r2.l", out);
    assert_string_equal(s[3].stream, path);
    snprintf(path, sizeof path, "%s/recon/low_p0.5_d60_r2", out);
    assert_string_equal(s[3].recon_dir, path);
    const lf_batch_job *j = &g.recon.jobs[3];
    assert_string_equal(j->name, "r_low_p0.5_d60_r2");
    assert_string_equal(j->argv[0], "recon");
    assert_string_equal(j->argv[1], s[3].stream);
    assert_string_equal(word_after(j, "--ct"), "/base/low/ct.nii.gz");
    assert_string_equal(word_after(j, "--frames"), "0-60");
    assert_string_equal(word_after(j, "--cache-dir"), "cache");
    assert_string_equal(word_after(j, "--out"), "recon/low_p0.5_d60_r2");
    assert_string_equal(word_after(j, "--iterations"), "2");
    assert_true(lf_batch_job_has(j, "--no-attenuation"));
    const lf_batch_job *h = &g.recon.jobs[10];
    assert_string_equal(word_after(h, "--frames"), "10-40");
    assert_null(word_after(h, "--ct"));
    assert_string_equal(g.recon.dir, out);
    assert_true(fabs(lf_study_equivalent_min(&s[3]) - 0.5) < 1e-12);
    lf_study_grid_free(&g);

    /* `sensitivity cache :=` (resolved against the plan's folder) replaces the study's own cache */
    lf_study_plan *q = malloc(sizeof *q);
    char text[2048];
    snprintf(text, sizeof text, "sensitivity cache := ../shared cache\n%s", k_plan);
    assert_int_equal(lf_study_plan_parse(text, "p.txt", "/base", q, &err), 0);
    assert_string_equal(q->cache, "/base/../shared cache");
    assert_int_equal(lf_study_grid_make(q, out, &g, &err), 0);
    assert_string_equal(word_after(&g.recon.jobs[3], "--cache-dir"), "/base/../shared cache");
    lf_study_grid_free(&g);
    free(q);

    /* options the study owns are refused, naming the plan line */
    static const char *const owned[] = {"--out x", "--frames 0-10", "--cache-dir=c", "--force", "--gate resp:4"};
    for (int i = 0; i < 5; i++) {
        snprintf(p->recon_options, sizeof p->recon_options, "--iterations 1 %s", owned[i]);
        assert_int_equal(lf_study_grid_make(p, out, &g, &err), -1);
        assert_true(tu_contains(err.msg, "p.txt: line 10: recon options"));
        assert_true(tu_contains(err.msg, "is set by the study"));
    }
    snprintf(p->recon_options, sizeof p->recon_options, "--iterations 'open");
    assert_int_equal(lf_study_grid_make(p, out, &g, &err), -1);
    assert_true(tu_contains(err.msg, "recon options") && tu_contains(err.msg, "quote"));
    free(p);
}

static void claim_folder(void **state)
{
    (void)state;
    lf_error err = {{0}};
    char a[4200], b[4200], out[4200], claim[4400];
    snprintf(a, sizeof a, "%s/a.txt", g_dir);
    snprintf(b, sizeof b, "%s/b.txt", g_dir);
    snprintf(out, sizeof out, "%s/claimed/study", g_dir);
    snprintf(claim, sizeof claim, "%s/plan.txt", out);
    tu_write_text(a, "metric := nema\n");
    tu_write_text(b, "metric := roi\n");
    assert_int_equal(lf_study_claim(a, out, 0, &err), 0);
    struct stat st;
    assert_int_equal(stat(claim, &st), 0);
    assert_int_equal(lf_study_claim(a, out, 0, &err), 0);
    assert_int_equal(lf_study_claim(b, out, 0, &err), -1);
    assert_true(tu_contains(err.msg, "holds another plan than") && tu_contains(err.msg, "--force"));
    assert_int_equal(lf_study_claim(b, out, 1, &err), 0);
    assert_int_equal(lf_study_claim(b, out, 0, &err), 0);
}

/* A 10 x 10 x 4 image: label 1 (background) alternating 9 / 11, label 2 a block of constant v2. */
static void synthetic(const char *dir, float v2, const lf_volume *like_labels)
{
    lf_error err = {{0}};
    assert_int_equal(lf_mkdirs(dir, &err), 0);
    lf_volume img;
    const int n[3] = {10, 10, 4};
    const double vox[3] = {4, 4, 4}, org[3] = {-18, -18, -6};
    assert_int_equal(lf_volume_alloc(&img, n, vox, org, &err), 0);
    for (int i = 0; i < 400; i++)
        img.data[i] = like_labels->data[i] == 2 ? v2 : (i % 2 ? 11.0f : 9.0f);
    char path[4400];
    snprintf(path, sizeof path, "%s/image_suv.nii.gz", dir);
    assert_int_equal(lf_nifti_write(path, &img, LF_NIFTI_FLOAT32, NULL, &err), 0);
    snprintf(path, sizeof path, "%s/image_bqml.nii.gz", dir);
    tu_write_text(path, "finished");
    snprintf(path, sizeof path, "%s/recon.h5", dir);
    tu_write_text(path, "finished");
    lf_volume_free(&img);
}

static char *slurp_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *b = calloc(1, 1 << 16);
    size_t n = fread(b, 1, (1 << 16) - 1, f);
    b[n] = '\0';
    fclose(f);
    return b;
}

static void measure_and_write(void **state)
{
    (void)state;
    lf_error err = {{0}};
    char out[4200], labels[4400], path[4600];
    snprintf(out, sizeof out, "%s/measured", g_dir);
    assert_int_equal(lf_mkdirs(out, &err), 0);
    snprintf(labels, sizeof labels, "%s/labels.nii.gz", out);
    lf_volume lab;
    const int n[3] = {10, 10, 4};
    const double vox[3] = {4, 4, 4}, org[3] = {-18, -18, -6};
    assert_int_equal(lf_volume_alloc(&lab, n, vox, org, &err), 0);
    for (int k = 0; k < 4; k++)
        for (int j = 0; j < 10; j++)
            for (int i = 0; i < 10; i++)
                lab.data[(k * 10 + j) * 10 + i] = (i >= 4 && i < 6 && j >= 4 && j < 6) ? 2.0f : 1.0f;
    assert_int_equal(lf_nifti_write(labels, &lab, LF_NIFTI_UINT8, NULL, &err), 0);
    char text[6000];
    snprintf(text, sizeof text,
             "study name := synthetic\nmetric := roi\nlabels := %s\nbackground label := 1\nplot region := 2\n"
             "recon options := --iterations 1\ncompare := a 0.5 60 vs a 1 60\n"
             "acquisition := a\nlist mode := a.l\nfractions := 1, 0.5\ndurations (s) := 60\n",
             labels);
    lf_study_plan *p = malloc(sizeof *p);
    assert_int_equal(lf_study_plan_parse(text, "s.txt", out, p, &err), 0);
    p->acq[0].activity_bq = 70e6;
    p->acq[0].weight_kg = 70;
    lf_study_grid g;
    assert_int_equal(lf_study_grid_make(p, out, &g, &err), 0);
    assert_int_equal(g.n, 3);
    /* scans: p 1 (lesion 30), p 0.5 r1 (lesion 20); r2 not reconstructed */
    synthetic(g.scan[0].recon_dir, 30.0f, &lab);
    synthetic(g.scan[1].recon_dir, 20.0f, &lab);
    lf_study_results r;
    assert_int_equal(lf_study_measure(p, &g, &r, &err), 0);
    assert_int_equal(r.measured, 2);
    assert_int_equal(r.missing, 1);
    assert_int_equal(r.n, 4);
    const double bg_sd = sqrt(384.0 / 383.0); /* 384 voxels of 9 and 11 (192 each): sample SD */
    const lf_study_row *bg = &r.row[0], *les = &r.row[1];
    assert_int_equal(bg->label, 1);
    assert_string_equal(bg->region, "label_1");
    assert_true(bg->v[0] == 384 && fabs(bg->v[1] - 10) < 1e-6 && fabs(bg->v[2] - bg_sd) < 1e-6);
    assert_true(fabs(bg->v[3] - 100 * bg_sd / 10) < 1e-5);
    assert_true(bg->v[6] == 1 && bg->v[7] == 0);
    assert_int_equal(les->label, 2);
    assert_true(les->v[0] == 16 && les->v[1] == 30 && les->v[2] == 0 && les->v[4] == 30);
    assert_true(fabs(les->v[6] - 3) < 1e-6);            /* contrast: 30 / 10 */
    assert_true(fabs(les->v[7] - 20 / bg_sd) < 1e-5);    /* CNR: (30 - 10) / SD */
    assert_true(fabs(r.row[3].v[6] - 2) < 1e-6 && r.row[3].scan == 1);

    assert_int_equal(lf_study_write(p, &g, &r, &err), 0);
    snprintf(path, sizeof path, "%s/results.csv", out);
    char *csv = slurp_text(path);
    int lines = 0;
    for (char *c = csv; *c; c++)
        lines += *c == '\n';
    assert_int_equal(lines, 1 + 4);
    assert_true(tu_contains(csv, "acquisition,fraction,duration_s,replicate,of,equivalent_min,activity_time_mbq_min,"
                                 "activity_time_mbq_per_kg_min,region,label,voxels,mean,sd,cov_pct,max,peak,contrast,cnr\n"));
    /* 70 MBq x 0.5 x 1 min = 35 MBq min, 0.5 MBq/kg min */
    assert_true(tu_contains(csv, "\na,0.5,60,1,2,0.5,35,0.5,label_2,2,16,20,0,0,20,"));
    free(csv);
    snprintf(path, sizeof path, "%s/report.md", out);
    char *md = slurp_text(path);
    assert_true(tu_contains(md, "# lafov study: synthetic"));
    assert_true(tu_contains(md, "3 virtual scans, 2 measured, 1 without a finished image"));
    assert_true(tu_contains(md, "| a | 1 | 60 | 70 | 1 | 30 | 30 |"));
    assert_true(tu_contains(md, "**Answer:** label_2 COV"));
    free(md);
    static const char *const pngs[] = {"mean", "max", "peak", "cov_pct", "contrast", "cnr"};
    for (int i = 0; i < 6; i++) {
        struct stat st;
        snprintf(path, sizeof path, "%s/plots/%s.png", out, pngs[i]);
        assert_int_equal(stat(path, &st), 0);
        assert_true(st.st_size > 1000);
    }
    /* a region the label image lacks is an error naming it */
    p->region[0] = 1;
    p->region[1] = 7;
    p->n_region = 2;
    lf_study_results_free(&r);
    assert_int_equal(lf_study_measure(p, &g, &r, &err), -1);
    assert_true(tu_contains(err.msg, "s.txt: regions: label 7 does not occur in"));
    lf_study_grid_free(&g);
    lf_volume_free(&lab);
    free(p);
}

/* A noise-free IEC phantom (recon/nema.h's model, 2 mm voxels, 4:1): the nema metric's rows. */
static void measure_nema(void **state)
{
    (void)state;
    lf_error err = {{0}};
    char out[4200], text[1024], path[4600];
    snprintf(out, sizeof out, "%s/nema", g_dir);
    snprintf(text, sizeof text, "metric := nema\nnema ratio := 4\nacquisition := iec\nlist mode := a.l\n"
                                "fractions := 1\ndurations (s) := 60\n");
    lf_study_plan *p = malloc(sizeof *p);
    assert_int_equal(lf_study_plan_parse(text, "n.txt", out, p, &err), 0);
    assert_int_equal(p->metric, LF_STUDY_NEMA);
    lf_study_grid g;
    assert_int_equal(lf_study_grid_make(p, out, &g, &err), 0);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.thin.n, 0);
    assert_int_equal(lf_mkdirs(g.scan[0].recon_dir, &err), 0);
    lf_volume img;
    const int n[3] = {170, 130, 60};
    const double vox[3] = {2, 2, 2}, org[3] = {-169, -149, -59};
    assert_int_equal(lf_volume_alloc(&img, n, vox, org, &err), 0);
    for (int k = 0; k < n[2]; k++)
        for (int j = 0; j < n[1]; j++)
            for (int i = 0; i < n[0]; i++) {
                double q[3];
                lf_volume_voxel_mm(&img, i, j, k, q);
                float v = lf_nema_body_edge_mm(q[0], q[1]) > 0 ? 1.0f : 0.0f;
                if (hypot(q[0], q[1]) < LF_NEMA_LUNG_RADIUS_MM)
                    v = 0;
                for (int s = 0; s < LF_NEMA_SPHERES; s++) {
                    double a = s * M_PI / 3, cx = LF_NEMA_RING_MM * cos(a), cy = LF_NEMA_RING_MM * sin(a);
                    double r = lf_nema_sphere_diameter_mm[s] / 2;
                    if ((q[0] - cx) * (q[0] - cx) + (q[1] - cy) * (q[1] - cy) + q[2] * q[2] < r * r)
                        v = 4;
                }
                img.data[((size_t)k * n[1] + (size_t)j) * n[0] + (size_t)i] = v;
            }
    snprintf(path, sizeof path, "%s/image_bqml.nii.gz", g.scan[0].recon_dir);
    assert_int_equal(lf_nifti_write(path, &img, LF_NIFTI_FLOAT32, NULL, &err), 0);
    snprintf(path, sizeof path, "%s/recon.h5", g.scan[0].recon_dir);
    tu_write_text(path, "finished");
    lf_volume_free(&img);
    lf_study_results r;
    if (lf_study_measure(p, &g, &r, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(r.measured, 1);
    assert_int_equal(r.n, LF_NEMA_SPHERES + 1);
    assert_string_equal(r.row[0].region, "sphere_10mm");
    assert_string_equal(r.row[5].region, "sphere_37mm");
    assert_int_equal(r.row[5].label, 6);
    assert_true(r.row[5].v[0] > 90 && r.row[5].v[0] < 110); /* contrast recovery of the 37 mm sphere */
    assert_true(r.row[0].v[0] > 20 && r.row[0].v[0] < r.row[5].v[0]);
    assert_true(fabs(r.row[5].v[1]) < 1);                   /* no noise: no background variability */
    assert_true(fabs(r.row[5].v[3] - 1) < 0.01);            /* C_B */
    assert_true(isnan(r.row[5].v[4]));
    assert_string_equal(r.row[6].region, "lung");
    assert_int_equal(r.row[6].label, 0);
    assert_true(r.row[6].v[4] >= 0 && r.row[6].v[4] < 5 && isnan(r.row[6].v[0]));
    assert_int_equal(lf_study_write(p, &g, &r, &err), 0);
    snprintf(path, sizeof path, "%s/plots/background_variability_pct.png", out);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    snprintf(path, sizeof path, "%s/results.csv", out);
    char *csv = slurp_text(path);
    assert_true(tu_contains(csv, ",region,label,contrast_recovery_pct,background_variability_pct,c_h,c_b,"
                                 "lung_residual_pct\n"));
    assert_true(tu_contains(csv, "\niec,1,60,1,1,1,,,lung,0,,,,,"));
    free(csv);
    lf_study_results_free(&r);
    lf_study_grid_free(&g);
    free(p);
}

static int has_colour(const uint8_t *rgb, int x0, int y0, int x1, int y1, int r, int g, int b)
{
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) {
            const uint8_t *q = rgb + ((size_t)y * LF_PLOT_WIDTH + (size_t)x) * 3;
            if (q[0] == r && q[1] == g && q[2] == b)
                return 1;
        }
    return 0;
}

static void plot_render(void **state)
{
    (void)state;
    lf_error err = {{0}};
    double x[3] = {1, 2, 5}, y[3] = {30, 20, 10}, e[3] = {2, NAN, 1};
    lf_plot_series s = {x, y, e, 3, "series"};
    lf_plot pl = {"TITLE", "X", "Y", 1, &s, 1};
    uint8_t *rgb = malloc((size_t)LF_PLOT_WIDTH * LF_PLOT_HEIGHT * 3);
    assert_int_equal(lf_plot_render(&pl, rgb, &err), 0);
    /* the first series' colour (31, 119, 180): the points lie at the left edge, near the top (y 30 + 2) and
     * at the right edge near the bottom; nothing of it in the middle of the lower left quadrant */
    assert_true(has_colour(rgb, 80, 40, 110, 120, 31, 119, 180));
    assert_true(has_colour(rgb, LF_PLOT_WIDTH - 40, 300, LF_PLOT_WIDTH - 10, LF_PLOT_HEIGHT - 50, 31, 119, 180));
    assert_false(has_colour(rgb, 120, 330, 260, 400, 31, 119, 180));
    assert_true(has_colour(rgb, 200, 5, 500, 40, 0, 0, 0)); /* the title */
    x[0] = 0;
    assert_int_equal(lf_plot_render(&pl, rgb, &err), -1);
    assert_true(tu_contains(err.msg, "series 'series'") && tu_contains(err.msg, "logarithmic"));
    pl.log_x = 0;
    assert_int_equal(lf_plot_render(&pl, rgb, &err), 0);
    y[0] = y[1] = y[2] = NAN;
    assert_int_equal(lf_plot_render(&pl, rgb, &err), -1);
    assert_true(tu_contains(err.msg, "no finite point"));
    free(rgb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plan_keys_and_defaults), cmocka_unit_test(plan_errors),
        cmocka_unit_test(grid_and_jobs),          cmocka_unit_test(claim_folder),
        cmocka_unit_test(measure_and_write),      cmocka_unit_test(measure_nema),
        cmocka_unit_test(plot_render),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

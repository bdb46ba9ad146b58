/* Binomial thinning: disjoint replicates that together are the scan, kept fractions within binomial
 * tolerance (prompts and delayeds alike), markers and tags untouched, the header's count fraction,
 * emulated activity and provenance, determinism, refusals. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/lmreader.h"
#include "io/lmwriter.h"
#include "io/quadra64.h"
#include "recon/thin.h"

enum { N_EV = 200000, DUR_MS = 2000, N_SINGLES = 20 };

static char g_dir[4096], g_acq[4200];

/* a stream on the small scanner: N_EV events (about 20 % delayeds), singles every 100 ms, one gating
 * tag, count fraction 0.5, an unknown key */
static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "%s", tu_tmpdir());
    snprintf(g_acq, sizeof g_acq, "%s/acq.l", g_dir);
    lf_scanner sc;
    tu_scanner("small", &sc);
    lf_ifh extra = {0};
    tu_study_keys(&extra);
    lf_ifh_set(&extra, "%lafov count fraction", "0.5");
    lf_ifh_set(&extra, "%my provenance", "thinning test");
    lf_q64_writer *w;
    lf_error err = {{0}};
    if (lf_q64w_open(g_acq, &sc, -1, &extra, &w, &err) != 0)
        fail_msg("%s", err.msg);
    uint32_t seed = 2024;
    int half = sc.tof_bins / 2, singles = 0;
    for (size_t n = 0; n < N_EV;) {
        seed = seed * 1664525u + 1013904223u;
        uint32_t a = seed % (uint32_t)sc.n_crystals;
        seed = seed * 1664525u + 1013904223u;
        uint32_t b = seed % (uint32_t)sc.n_crystals;
        if (!lf_pair_accepted(&sc, a, b, sc.mrd))
            continue;
        uint32_t t = (uint32_t)((uint64_t)n * DUR_MS / N_EV);
        if (t >= (uint32_t)singles * 100 && singles < N_SINGLES) {
            assert_int_equal(lf_q64w_time(w, t, &err), 0);
            assert_int_equal(lf_q64w_tag(w, lf_q64_singles((uint32_t)singles, 7), &err), 0);
            if (singles == 5)
                assert_int_equal(lf_q64w_tag(w, lf_q64_tag(0xE1001000u, 0), &err), 0);
            singles++;
        }
        lf_event e = {.t_ms = t, .a = a, .b = b, .prompt = (uint8_t)((seed >> 4) % 5 != 0)};
        e.tof = e.prompt ? (int8_t)((int)(seed >> 8) % (2 * half + 1) - half) : 0;
        assert_int_equal(lf_q64w_event(w, &e, &err), 0);
        n++;
    }
    assert_int_equal(lf_q64w_close(w, DUR_MS, &err), 0);
    lf_ifh_free(&extra);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree(g_dir);
    return 0;
}

typedef struct stream {
    lf_event *ev;
    size_t n, prompts, delayeds;
    uint64_t tags[LF_TAG_NCLASSES];
    uint64_t last_ms;
    lf_ifh ifh;
} stream;

static void read_stream(const char *path, stream *s)
{
    memset(s, 0, sizeof *s);
    lf_lm_reader *r;
    lf_error err = {{0}};
    if (lf_lm_open(path, NULL, &r, &err) != 0)
        fail_msg("%s", err.msg);
    size_t cap = 1024;
    s->ev = malloc(cap * sizeof *s->ev);
    lf_lm_batch b;
    int rc;
    while ((rc = lf_lm_next(r, &b, &err)) == 1)
        for (size_t i = 0; i < b.n_ev; i++) {
            if (s->n == cap)
                s->ev = realloc(s->ev, (cap *= 2) * sizeof *s->ev);
            s->ev[s->n++] = b.ev[i];
            if (b.ev[i].prompt)
                s->prompts++;
            else
                s->delayeds++;
        }
    assert_int_equal(rc, 0);
    const lf_decode_stats *st = lf_lm_stats(r);
    memcpy(s->tags, st->tags, sizeof s->tags);
    s->last_ms = st->last_ms;
    assert_int_equal(st->invalid_events, 0);
    lf_ifh_merge(&s->ifh, &lf_lm_header_of(r)->ifh);
    lf_lm_close(r);
}

static void free_stream(stream *s)
{
    free(s->ev);
    lf_ifh_free(&s->ifh);
}

static int cmp_event(const void *pa, const void *pb)
{
    const lf_event *a = pa, *b = pb;
    if (a->t_ms != b->t_ms)
        return a->t_ms < b->t_ms ? -1 : 1;
    if (a->a != b->a)
        return a->a < b->a ? -1 : 1;
    if (a->b != b->b)
        return a->b < b->b ? -1 : 1;
    if (a->tof != b->tof)
        return a->tof < b->tof ? -1 : 1;
    return (int)a->prompt - (int)b->prompt;
}

static void thin_to(const char *out, double p, int k, int n, uint64_t seed, lf_thin_result *r)
{
    lf_thin_opts o = {.fraction = p, .replicate = k, .of = n, .seed = seed};
    lf_error err = {{0}};
    if (lf_thin(g_acq, NULL, &o, out, 0, r, &err) != 0)
        fail_msg("%s", err.msg);
}

static double get_num(const lf_ifh *h, const char *key)
{
    const char *v = lf_ifh_get(h, key);
    if (!v)
        fail_msg("key '%s' missing", key);
    return atof(v);
}

/* 4 replicates at p = 1/4: disjoint, together the whole scan (as a multiset of events), each ~N/4 */
static void replicates_partition_the_scan(void **state)
{
    (void)state;
    stream in;
    read_stream(g_acq, &in);
    assert_int_equal(in.n, N_EV);
    enum { R = 4 };
    lf_event *all = malloc(in.n * sizeof *all);
    size_t total = 0;
    for (int k = 1; k <= R; k++) {
        char out[4300];
        snprintf(out, sizeof out, "%s/rep%d.l", g_dir, k);
        lf_thin_result r;
        thin_to(out, 0.25, k, R, 99, &r);
        stream s;
        read_stream(out, &s);
        assert_int_equal(s.n, r.c.prompts_kept + r.c.delayeds_kept);
        assert_int_equal(r.c.prompts_in, in.prompts);
        assert_int_equal(r.c.delayeds_in, in.delayeds);
        /* binomial: N p (1-p) = 37500, sigma 194; 5 sigma */
        assert_true(fabs((double)s.n - 0.25 * N_EV) < 5 * sqrt(N_EV * 0.25 * 0.75));
        assert_true(total + s.n <= in.n);
        memcpy(all + total, s.ev, s.n * sizeof *all);
        total += s.n;
        free_stream(&s);
    }
    assert_int_equal(total, in.n);
    qsort(all, total, sizeof *all, cmp_event);
    qsort(in.ev, in.n, sizeof *in.ev, cmp_event);
    for (size_t i = 0; i < total; i++)
        assert_int_equal(cmp_event(&all[i], &in.ev[i]), 0);
    free(all);
    free_stream(&in);
}

/* a thinned copy keeps exactly the events whose hash number falls in its interval, in order */
static void keeps_the_hashed_events_in_order(void **state)
{
    (void)state;
    stream in, s;
    read_stream(g_acq, &in);
    char out[4300];
    snprintf(out, sizeof out, "%s/third2.l", g_dir);
    lf_thin_result r;
    thin_to(out, 1.0 / 3, 2, 3, 5, &r);
    read_stream(out, &s);
    size_t k = 0;
    for (size_t i = 0; i < in.n; i++) {
        double u = (double)lf_thin_u53(5, i) / (double)LF_THIN_ONE;
        if (u >= 1.0 / 3 && u < 2.0 / 3) {
            assert_true(k < s.n);
            assert_int_equal(cmp_event(&in.ev[i], &s.ev[k]), 0);
            k++;
        }
    }
    assert_int_equal(k, s.n);
    free_stream(&in);
    free_stream(&s);
}

/* p = 0.3: prompts and delayeds each kept at 0.3 within 5 sigma; markers and tags untouched; header */
static void fraction_markers_tags_header(void **state)
{
    (void)state;
    stream in, s;
    read_stream(g_acq, &in);
    char out[4300];
    snprintf(out, sizeof out, "%s/p03.l", g_dir);
    lf_thin_result r;
    thin_to(out, 0.3, 1, 1, 7, &r);
    read_stream(out, &s);
    double p = 0.3;
    assert_true(fabs((double)s.prompts - p * (double)in.prompts) < 5 * sqrt((double)in.prompts * p * (1 - p)));
    assert_true(fabs((double)s.delayeds - p * (double)in.delayeds) < 5 * sqrt((double)in.delayeds * p * (1 - p)));
    assert_true(s.delayeds > 0.25 * in.delayeds && s.delayeds < 0.35 * in.delayeds);
    for (int c = 0; c < LF_TAG_NCLASSES; c++)
        assert_int_equal(s.tags[c], in.tags[c]);
    assert_int_equal(s.tags[LF_TAG_TIME], DUR_MS);
    assert_int_equal(s.tags[LF_TAG_SINGLES], N_SINGLES);
    assert_int_equal(s.tags[LF_TAG_GATING], 1);
    assert_int_equal(s.last_ms, in.last_ms);
    assert_int_equal(r.c.markers, DUR_MS);
    assert_int_equal(r.c.words, s.n + DUR_MS + N_SINGLES + 1);
    /* header: count fraction 0.5 x 0.3, injected activity kept, emulated activity 0.3 x 2.1e7, provenance */
    assert_true(fabs(get_num(&s.ifh, "%lafov count fraction") - 0.15) < 1e-12);
    assert_true(fabs(r.count_fraction_in - 0.5) < 1e-15 && fabs(r.count_fraction_out - 0.15) < 1e-15);
    assert_true(fabs(get_num(&s.ifh, "tracer activity at time of injection (Bq)") - 2.1e7) < 1);
    assert_true(fabs(get_num(&s.ifh, "%lafov emulated activity at time of injection (Bq)") - 6.3e6) < 1);
    assert_string_equal(lf_ifh_get(&s.ifh, "%lafov thinned from"), g_acq);
    assert_true(fabs(get_num(&s.ifh, "%lafov thinning fraction") - 0.3) < 1e-12);
    assert_int_equal((int)get_num(&s.ifh, "%lafov thinning replicate"), 1);
    assert_int_equal((int)get_num(&s.ifh, "%lafov thinning of"), 1);
    assert_int_equal((int)get_num(&s.ifh, "%lafov thinning seed"), 7);
    assert_string_equal(lf_ifh_get(&s.ifh, "%my provenance"), "thinning test");
    assert_int_equal((long long)get_num(&s.ifh, "%total listmode word counts"), (long long)r.c.words);

    /* thinning the thinned stream: the factors multiply */
    char out2[4300];
    snprintf(out2, sizeof out2, "%s/p03_half.l", g_dir);
    lf_thin_opts o = {.fraction = 0.5, .replicate = 1, .of = 1, .seed = 8};
    lf_error err = {{0}};
    assert_int_equal(lf_thin(out, NULL, &o, out2, 0, &r, &err), 0);
    stream s2;
    read_stream(out2, &s2);
    assert_true(fabs(get_num(&s2.ifh, "%lafov count fraction") - 0.075) < 1e-12);
    assert_true(fabs(get_num(&s2.ifh, "%lafov emulated activity at time of injection (Bq)") - 3.15e6) < 1);
    assert_string_equal(lf_ifh_get(&s2.ifh, "%lafov thinned from"), out);
    free_stream(&s2);
    free_stream(&in);
    free_stream(&s);
}

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc(*n + 1);
    assert_int_equal(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

/* the same seed gives the same stream byte for byte; another seed other events; p = 1 keeps all */
static void deterministic(void **state)
{
    (void)state;
    char a[4300], b[4300], c[4300], d[4300];
    snprintf(a, sizeof a, "%s/det_a.l", g_dir);
    snprintf(b, sizeof b, "%s/det_b.l", g_dir);
    snprintf(c, sizeof c, "%s/det_c.l", g_dir);
    snprintf(d, sizeof d, "%s/all.l", g_dir);
    lf_thin_result r;
    thin_to(a, 0.5, 2, 2, 123, &r);
    thin_to(b, 0.5, 2, 2, 123, &r);
    thin_to(c, 0.5, 2, 2, 124, &r);
    size_t na, nb, nc;
    char *da = slurp(a, &na), *db = slurp(b, &nb), *dc = slurp(c, &nc);
    assert_int_equal(na, nb);
    assert_memory_equal(da, db, na);
    assert_true(na != nc || memcmp(da, dc, na) != 0);
    free(da);
    free(db);
    free(dc);
    thin_to(d, 1.0, 1, 1, 1, &r);
    assert_int_equal(r.c.prompts_kept + r.c.delayeds_kept, N_EV);
}

static void intervals_and_arguments(void **state)
{
    (void)state;
    lf_error err = {{0}};
    uint64_t u0, u1, prev = 0;
    for (int k = 1; k <= 3; k++) { /* p = 1/3: adjacent, the last ends at 1 */
        lf_thin_opts o = {.fraction = 1.0 / 3, .replicate = k, .of = 3};
        assert_int_equal(lf_thin_interval(&o, &u0, &u1, &err), 0);
        assert_true(u0 == prev && u1 > u0);
        prev = u1;
    }
    assert_true(prev == LF_THIN_ONE);
    lf_thin_opts o = {.fraction = 0.3, .replicate = 4, .of = 4}; /* n p = 1.2 */
    assert_int_equal(lf_thin_interval(&o, &u0, &u1, &err), -1);
    assert_true(tu_contains(err.msg, "n·p"));
    o = (lf_thin_opts){.fraction = 0.2, .replicate = 5, .of = 4};
    assert_int_equal(lf_thin_interval(&o, &u0, &u1, &err), -1);
    assert_true(tu_contains(err.msg, "--replicate 5"));
    o = (lf_thin_opts){.fraction = 0, .replicate = 1, .of = 1};
    assert_int_equal(lf_thin_interval(&o, &u0, &u1, &err), -1);
    assert_true(tu_contains(err.msg, "--fraction"));
    o = (lf_thin_opts){.fraction = 0.3, .replicate = 2, .of = 3}; /* [0.3, 0.6) */
    assert_int_equal(lf_thin_interval(&o, &u0, &u1, &err), 0);
    assert_true(fabs((double)u0 / (double)LF_THIN_ONE - 0.3) < 1e-15 && fabs((double)u1 / (double)LF_THIN_ONE - 0.6) < 1e-15);
    double p;
    assert_int_equal(lf_thin_parse_fraction("1/4", &p, &err), 0);
    assert_true(p == 0.25);
    assert_int_equal(lf_thin_parse_fraction("12.5%", &p, &err), 0);
    assert_true(p == 0.125);
    assert_int_equal(lf_thin_parse_fraction("0.3", &p, &err), 0);
    assert_true(p == 0.3);
    const char *bad[] = {"0", "1.5", "-0.1", "abc", "1/0", "0.3x", "", "nan", "2/1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(lf_thin_parse_fraction(bad[i], &p, &err), -1);
        assert_true(tu_contains(err.msg, "--fraction"));
    }
    /* the hash numbers are uniform: 16 bins of 2^20 ordinals, chi-square with 15 dof < 45 (p ~ 1e-4) */
    enum { M = 1 << 20 };
    double bins[16] = {0}, chi2 = 0;
    for (uint64_t i = 0; i < M; i++)
        bins[lf_thin_u53(42, i) >> 49]++;
    for (int i = 0; i < 16; i++)
        chi2 += (bins[i] - M / 16.0) * (bins[i] - M / 16.0) / (M / 16.0);
    assert_true(chi2 < 45);
}

static void refusals(void **state)
{
    (void)state;
    lf_error err = {{0}};
    lf_thin_opts o = {.fraction = 0.5, .replicate = 1, .of = 1, .seed = 1};
    char out[4300];
    snprintf(out, sizeof out, "%s/refuse.l", g_dir);
    assert_int_equal(lf_thin(g_acq, NULL, &o, out, 0, NULL, &err), 0);
    assert_int_equal(lf_thin(g_acq, NULL, &o, out, 0, NULL, &err), -1); /* exists */
    assert_true(tu_contains(err.msg, "refuse.l") && tu_contains(err.msg, "--force"));
    o.seed = 2;
    assert_int_equal(lf_thin(g_acq, NULL, &o, out, 1, NULL, &err), 0);
    assert_int_equal(lf_thin(g_acq, NULL, &o, g_acq, 1, NULL, &err), -1); /* the input */
    assert_true(tu_contains(err.msg, "the output is the input"));
    char missing[4300];
    snprintf(missing, sizeof missing, "%s/nope.l", g_dir);
    assert_int_equal(lf_thin(missing, NULL, &o, out, 1, NULL, &err), -1);
    assert_true(tu_contains(err.msg, "nope.l"));
    o.of = 3; /* 3 x 0.5 > 1: refused before anything is read */
    assert_int_equal(lf_thin(g_acq, NULL, &o, out, 1, NULL, &err), -1);
    assert_true(tu_contains(err.msg, "n·p"));
    const char *mmr = tu_mmr_sample();
    if (mmr) {
        o.of = 1;
        assert_int_equal(lf_thin(mmr, NULL, &o, out, 1, NULL, &err), -1);
        assert_true(tu_contains(err.msg, "PETLINK 32-bit"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(replicates_partition_the_scan), cmocka_unit_test(keeps_the_hashed_events_in_order),
        cmocka_unit_test(fraction_markers_tags_header),  cmocka_unit_test(deterministic),
        cmocka_unit_test(intervals_and_arguments),       cmocka_unit_test(refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

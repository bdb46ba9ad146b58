#include "export.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../io/lmreader.h"
#include "../io/lmwriter.h"
#include "frames.h"

#define KEPT_KEY "%kept windows (sec)"

static int cmp_window(const void *pa, const void *pb)
{
    const lf_window *a = pa, *b = pb;
    return (a->t0_s > b->t0_s) - (a->t0_s < b->t0_s);
}

/* Sorts and merges overlapping or touching windows in place; returns the new count. */
static int merge_windows(lf_window *w, int n)
{
    if (n <= 0)
        return 0;
    qsort(w, (size_t)n, sizeof *w, cmp_window);
    int m = 0;
    for (int i = 1; i < n; i++) {
        if (w[i].t0_s <= w[m].t1_s) {
            if (w[i].t1_s > w[m].t1_s)
                w[m].t1_s = w[i].t1_s;
        } else {
            w[++m] = w[i];
        }
    }
    return m + 1;
}

int lf_export_union(const char *frames, const char *exclude, double duration_s, lf_window *w, int cap, lf_error *err)
{
    lf_frames fr;
    if (lf_frames_parse(frames, exclude, duration_s, &fr, err) != 0)
        return -1;
    int n = 0;
    for (int i = 0; i < fr.n; i++)
        for (int k = 0; k < fr.f[i].n_w; k++) {
            if (n >= cap) {
                lf_frames_free(&fr);
                return lf_fail(err, "--frames: more than %d windows in all", cap);
            }
            w[n++] = fr.f[i].w[k];
        }
    lf_frames_free(&fr);
    return merge_windows(w, n);
}

void lf_export_format_windows(const lf_window *w, int n, char *buf, size_t cap)
{
    size_t len = 0;
    if (cap == 0)
        return;
    buf[0] = '\0';
    len += (size_t)snprintf(buf, cap, "{");
    for (int i = 0; i < n && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%.10g-%.10g", i ? "," : "", w[i].t0_s, w[i].t1_s);
    if (len < cap)
        snprintf(buf + len, cap - len, "}");
}

int lf_export_parse_windows(const char *text, const char *what, lf_window *w, int cap, lf_error *err)
{
    char buf[16384];
    size_t k = 0;
    for (const char *p = text; *p; p++) /* drop spaces and the braces */
        if (!isspace((unsigned char)*p) && *p != '{' && *p != '}') {
            if (k + 1 >= sizeof buf)
                return lf_fail(err, "%s: value too long", what);
            buf[k++] = *p;
        }
    buf[k] = '\0';
    int n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *dash = strchr(tok + 1, '-'), *e0 = NULL, *e1 = NULL;
        double a = dash ? strtod(tok, &e0) : NAN, b = dash ? strtod(dash + 1, &e1) : NAN;
        if (!dash || e0 != dash || *e1 != '\0' || !(a >= 0) || !(b > a))
            return lf_fail(err, "%s: window '%s': expected {START-END,START-END,...} in seconds with START < END", what,
                           tok);
        if (n >= cap)
            return lf_fail(err, "%s: more than %d windows", what, cap);
        w[n++] = (lf_window){a, b};
    }
    if (n == 0)
        return lf_fail(err, "%s: no window in '%s': expected {START-END,...} in seconds", what, text);
    return merge_windows(w, n);
}

/* Intersection of two sorted disjoint window lists into out (capacity cap). */
static int intersect(const lf_window *a, int na, const lf_window *b, int nb, lf_window *out, int cap)
{
    int n = 0, i = 0, k = 0;
    while (i < na && k < nb && n < cap) {
        double t0 = fmax(a[i].t0_s, b[k].t0_s), t1 = fmin(a[i].t1_s, b[k].t1_s);
        if (t1 > t0)
            out[n++] = (lf_window){t0, t1};
        if (a[i].t1_s < b[k].t1_s)
            i++;
        else
            k++;
    }
    return n;
}

static uint64_t ms_of(double t_s) { return t_s <= 0 ? 0 : (uint64_t)ceil(t_s * 1000.0 - 1e-6); }

static int same_file(const char *p, const char *q)
{
    struct stat a, b;
    return stat(p, &a) == 0 && stat(q, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* the windows' filter: event times never decrease, so one pass through the sorted windows */
typedef struct window_filter {
    const lf_window *win;
    int n_win, wi;
    uint64_t ms0, ms1; /* current window in ms, [ms0, ms1) */
} window_filter;

static int in_windows(const lf_event *e, uint64_t ordinal, void *user)
{
    (void)ordinal;
    window_filter *x = user;
    while (x->wi < x->n_win && e->t_ms >= x->ms1) {
        if (++x->wi < x->n_win) {
            x->ms0 = ms_of(x->win[x->wi].t0_s);
            x->ms1 = ms_of(x->win[x->wi].t1_s);
        }
    }
    return x->wi < x->n_win && e->t_ms >= x->ms0;
}

typedef struct copier {
    lf_q64_writer *w;
    lf_export_keep_fn keep;
    void *user;
    uint64_t ordinal;
    lf_export_counts *c;
} copier;

static int on_batch(const lf_lm_batch *b, void *user, lf_error *err)
{
    copier *x = user;
    size_t i = 0, k = 0;
    while (i < b->n_ev || k < b->n_tags) {
        /* in time order; a tag before the events of its ms */
        if (k < b->n_tags && (i >= b->n_ev || b->tags[k].t_ms <= b->ev[i].t_ms)) {
            const lf_tag *t = &b->tags[k++];
            if (lf_q64w_time(x->w, t->t_ms, err) != 0 || lf_q64w_tag(x->w, t->word, err) != 0)
                return -1;
            x->c->tags_kept++;
        } else {
            const lf_event *e = &b->ev[i++];
            if (e->prompt)
                x->c->prompts_in++;
            else
                x->c->delayeds_in++;
            if (!x->keep(e, x->ordinal++, x->user))
                continue;
            if (lf_q64w_event(x->w, e, err) != 0)
                return -1;
            if (e->prompt)
                x->c->prompts_kept++;
            else
                x->c->delayeds_kept++;
        }
    }
    return 0;
}

int lf_export_filtered(lf_lm_reader *rd, const lf_ifh *set, const char *out_l, int force, lf_export_keep_fn keep,
                       void *user, lf_export_counts *c, lf_error *err)
{
    const lf_lm_header *h = lf_lm_header_of(rd);
    memset(c, 0, sizeof *c);
    char hdr_path[4200];
    snprintf(hdr_path, sizeof hdr_path, "%s.hdr", out_l);
    if (same_file(out_l, h->data_path) || same_file(hdr_path, h->header_path))
        return lf_fail(err, "%s: the output is the input; choose another --out", out_l);
    struct stat st;
    if (!force && (stat(out_l, &st) == 0 || stat(hdr_path, &st) == 0))
        return lf_fail(err, "%s: exists; use --force to replace it", stat(out_l, &st) == 0 ? out_l : hdr_path);
    int rc = -1;
    lf_ifh keys = {0};
    lf_q64_writer *w = NULL;
    /* the header: every key of the input, then the caller's keys over them */
    if (lf_ifh_merge(&keys, &h->ifh) != 0) {
        lf_fail(err, "out of memory");
        goto done;
    }
    lf_ifh_remove(&keys, "!END OF INTERFILE");
    if (set && lf_ifh_merge(&keys, set) != 0) {
        lf_fail(err, "out of memory");
        goto done;
    }
    if (lf_q64w_open(out_l, &h->scanner, h->mrd, &keys, &w, err) != 0)
        goto done;
    copier x = {.w = w, .keep = keep, .user = user, .ordinal = 0, .c = c};
    if (lf_lm_foreach(rd, on_batch, &x, NULL, NULL, err) != 0)
        goto done;
    const lf_decode_stats *s = lf_lm_stats(rd);
    uint64_t dur_ms = s->have_time ? s->last_ms + 1 : 0;
    c->invalid_skipped = s->invalid_events;
    c->markers = dur_ms;
    lf_q64_writer *ww = w;
    w = NULL;
    if (lf_q64w_close(ww, dur_ms, err) != 0) /* the remaining markers, the header, the rename */
        goto done;
    c->words = c->prompts_kept + c->delayeds_kept + c->tags_kept + c->markers;
    rc = 0;
done:
    if (w)
        lf_q64w_abort(w);
    lf_ifh_free(&keys);
    return rc;
}

int lf_export_windows(const char *acq, const lf_lm_open_opts *o, const char *frames, const char *exclude,
                      const char *out_l, int force, lf_export_result *r, lf_error *err)
{
    lf_export_result local;
    if (!r)
        r = &local;
    memset(r, 0, sizeof *r);
    if (!frames || !*frames)
        return lf_fail(err, "export: --frames is required (the windows to keep, e.g. 0-540,600-1200)");
    lf_lm_reader *rd = NULL;
    if (lf_lm_open(acq, o, &rd, err) != 0)
        return -1;
    const lf_lm_header *h = lf_lm_header_of(rd);
    int rc = -1;
    lf_ifh extra = {0};
    if (h->format != LF_FORMAT_QUADRA64) {
        lf_fail(err, "%s: only the Quadra-style 64-bit stream can be exported; this is a PETLINK 32-bit stream "
                     "(use --frames/--exclude of lafov recon on it directly)", h->user_path);
        goto done;
    }
    int n = lf_export_union(frames, exclude, h->header_duration_s, r->w, LF_EXPORT_WINDOWS_MAX, err);
    if (n < 0)
        goto done;
    const char *prev = lf_ifh_get(&h->ifh, KEPT_KEY);
    if (prev) {
        lf_window pw[LF_EXPORT_WINDOWS_MAX], both[LF_EXPORT_WINDOWS_MAX];
        char what[4300];
        snprintf(what, sizeof what, "%s: key '%s'", h->header_path, KEPT_KEY);
        int np = lf_export_parse_windows(prev, what, pw, LF_EXPORT_WINDOWS_MAX, err);
        if (np < 0)
            goto done;
        n = intersect(r->w, n, pw, np, both, LF_EXPORT_WINDOWS_MAX);
        memcpy(r->w, both, (size_t)n * sizeof *both);
    }
    if (n == 0) {
        lf_fail(err, "%s: no time is left: the windows '%s' do not overlap the input's kept windows %s", h->user_path,
                frames, prev ? prev : "");
        goto done;
    }
    r->n_w = n;
    char kw[LF_EXPORT_WINDOWS_MAX * 24 + 8];
    lf_export_format_windows(r->w, n, kw, sizeof kw);
    if (lf_ifh_set(&extra, KEPT_KEY, kw) != 0) {
        lf_fail(err, "out of memory");
        goto done;
    }
    window_filter wf = {.win = r->w, .n_win = n, .wi = 0, .ms0 = ms_of(r->w[0].t0_s), .ms1 = ms_of(r->w[0].t1_s)};
    lf_export_counts c;
    if (lf_export_filtered(rd, &extra, out_l, force, in_windows, &wf, &c, err) != 0)
        goto done;
    r->prompts_in = c.prompts_in;
    r->delayeds_in = c.delayeds_in;
    r->prompts_kept = c.prompts_kept;
    r->delayeds_kept = c.delayeds_kept;
    r->tags_kept = c.tags_kept;
    r->markers = c.markers;
    r->words = c.words;
    r->invalid_skipped = c.invalid_skipped;
    rc = 0;
done:
    lf_ifh_free(&extra);
    lf_lm_close(rd);
    return rc;
}

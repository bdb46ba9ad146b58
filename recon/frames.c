/* lafov recon: frames (see frames.h). */
#include "frames.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LF_FRAMES_END_SLACK_S 1.0 /* a window may end this much after the data (last marker rounding) */

static int parse_num(const char *s, double *v)
{
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (end == s || *end != '\0' || errno != 0 || !isfinite(x))
        return -1;
    *v = x;
    return 0;
}

int lf_time_parse(const char *text, const char *what, double *t_s, lf_error *err)
{
    char buf[64];
    size_t n = text ? strlen(text) : 0;
    if (n == 0 || n >= sizeof buf)
        return lf_fail(err, "%s: expected a time in seconds or m:ss, got '%.60s'", what, text ? text : "");
    memcpy(buf, text, n + 1);
    for (char *c = buf; *c; c++)
        if (isspace((unsigned char)*c))
            return lf_fail(err, "%s: unexpected blank in time '%s'", what, text);
    char *colon = strchr(buf, ':');
    double v;
    if (!colon) {
        if (parse_num(buf, &v) != 0)
            return lf_fail(err, "%s: expected a time in seconds or m:ss, got '%s'", what, text);
    } else {
        *colon = '\0';
        double m, s;
        if (strchr(colon + 1, ':') || parse_num(buf, &m) != 0 || parse_num(colon + 1, &s) != 0 || m < 0 ||
            m != floor(m) || s < 0 || s >= 60 || strchr(buf, '-') || strchr(colon + 1, '-'))
            return lf_fail(err, "%s: expected m:ss (whole minutes, 0 <= seconds < 60), got '%s'", what, text);
        v = m * 60.0 + s;
    }
    if (v < 0)
        return lf_fail(err, "%s: time '%s' is negative", what, text);
    *t_s = v;
    return 0;
}

/* "A-B" -> window; what names the item for messages. */
static int parse_window(const char *item, const char *what, lf_window *w, lf_error *err)
{
    const char *dash = strchr(item, '-');
    if (!dash || dash == item)
        return lf_fail(err, "%s: expected START-END (seconds or m:ss), got '%s'", what, item);
    char a[64];
    size_t la = (size_t)(dash - item);
    if (la >= sizeof a)
        return lf_fail(err, "%s: '%.60s...' is too long", what, item);
    memcpy(a, item, la);
    a[la] = '\0';
    if (lf_time_parse(a, what, &w->t0_s, err) != 0 || lf_time_parse(dash + 1, what, &w->t1_s, err) != 0)
        return -1;
    if (!(w->t1_s > w->t0_s))
        return lf_fail(err, "%s: window '%s' ends (%g s) before or where it starts (%g s)", what, item, w->t1_s,
                       w->t0_s);
    return 0;
}

static int cmp_window(const void *pa, const void *pb)
{
    const lf_window *a = pa, *b = pb;
    return a->t0_s < b->t0_s ? -1 : a->t0_s > b->t0_s;
}

/* Splits a comma list into items (buf modified); returns count or -1 on an empty item. */
static int split(char *buf, char **items, int cap)
{
    int n = 0;
    char *p = buf;
    for (;;) {
        char *c = strchr(p, ',');
        if (c)
            *c = '\0';
        if (*p == '\0' || n >= cap)
            return -1;
        items[n++] = p;
        if (!c)
            break;
        p = c + 1;
    }
    return n;
}

static int add_frame(lf_frames *fr, int *cap, double t0, double t1, lf_error *err)
{
    if (fr->n >= LF_FRAMES_MAX)
        return lf_fail(err, "--frames: more than %d frames", LF_FRAMES_MAX);
    if (fr->n >= *cap) {
        int nc = *cap ? 2 * *cap : 16;
        lf_frame *f = realloc(fr->f, (size_t)nc * sizeof *f);
        if (!f)
            return lf_fail(err, "--frames: out of memory");
        fr->f = f;
        *cap = nc;
    }
    lf_frame *f = &fr->f[fr->n++];
    memset(f, 0, sizeof *f);
    f->w = malloc(4 * sizeof *f->w);
    if (!f->w) {
        fr->n--;
        return lf_fail(err, "--frames: out of memory");
    }
    f->cap = 4;
    f->w[0].t0_s = t0;
    f->w[0].t1_s = t1;
    f->n_w = 1;
    return 0;
}

static int push_window(lf_frame *f, double t0, double t1, lf_error *err)
{
    if (f->n_w == f->cap) {
        int nc = f->cap ? 2 * f->cap : 8;
        lf_window *w = realloc(f->w, (size_t)nc * sizeof *w);
        if (!w)
            return lf_fail(err, "frames: out of memory for %d windows", nc);
        f->w = w;
        f->cap = nc;
    }
    f->w[f->n_w++] = (lf_window){t0, t1};
    return 0;
}

/* Removes window x from frame f (in place). */
static int subtract(lf_frame *f, const lf_window *x, lf_error *err)
{
    lf_frame out = {0};
    for (int i = 0; i < f->n_w; i++) {
        lf_window w = f->w[i];
        int rc = 0;
        if (x->t1_s <= w.t0_s || x->t0_s >= w.t1_s) {
            rc = push_window(&out, w.t0_s, w.t1_s, err);
        } else {
            if (x->t0_s > w.t0_s)
                rc = push_window(&out, w.t0_s, x->t0_s, err);
            if (rc == 0 && x->t1_s < w.t1_s)
                rc = push_window(&out, x->t1_s, w.t1_s, err);
        }
        if (rc != 0) {
            free(out.w);
            return -1;
        }
    }
    free(f->w);
    f->w = out.w;
    f->n_w = out.n_w;
    f->cap = out.cap;
    return 0;
}

static void frame_span(lf_frame *f)
{
    f->start_s = f->n_w ? f->w[0].t0_s : 0;
    f->end_s = f->n_w ? f->w[f->n_w - 1].t1_s : 0;
    f->kept_s = 0;
    for (int i = 0; i < f->n_w; i++)
        f->kept_s += f->w[i].t1_s - f->w[i].t0_s;
}

static int check_end(const char *what, const char *item, double t1, double duration_s, lf_error *err)
{
    if (duration_s > 0 && t1 > duration_s + LF_FRAMES_END_SLACK_S)
        return lf_fail(err, "%s: window '%s' ends at %g s, after the end of the data (%g s)", what, item, t1,
                       duration_s);
    return 0;
}

int lf_frames_parse(const char *spec, const char *exclude, double duration_s, lf_frames *out, lf_error *err)
{
    memset(out, 0, sizeof *out);
    int cap = 0;
    char buf[8192];
    char *items[LF_FRAMES_MAX + 1];
    if (!spec || !*spec) {
        if (!(duration_s > 0))
            return lf_fail(err, "--frames: the acquisition's duration is unknown: give the windows explicitly");
        if (add_frame(out, &cap, 0.0, duration_s, err) != 0)
            goto fail;
    } else {
        if (strlen(spec) >= sizeof buf) {
            lf_fail(err, "--frames: the text is too long (%zu characters)", strlen(spec));
            goto fail;
        }
        strcpy(buf, spec);
        int n = split(buf, items, LF_FRAMES_MAX + 1);
        if (n < 0) {
            lf_fail(err, "--frames '%.200s': empty item or more than %d items", spec, LF_FRAMES_MAX);
            goto fail;
        }
        double next = 0.0;
        for (int i = 0; i < n; i++) {
            char what[96];
            snprintf(what, sizeof what, "--frames item %d", i + 1);
            char *x = strchr(items[i], 'x');
            if (x) {
                *x = '\0';
                double cnt, d;
                if (parse_num(items[i], &cnt) != 0 || cnt < 1 || cnt != floor(cnt) || cnt > LF_FRAMES_MAX ||
                    lf_time_parse(x + 1, what, &d, err) != 0 || !(d > 0)) {
                    *x = 'x';
                    lf_fail(err, "%s: expected NxD (N frames of D seconds, N >= 1, D > 0), got '%s'", what, items[i]);
                    goto fail;
                }
                *x = 'x';
                for (int k = 0; k < (int)cnt; k++) {
                    if (check_end(what, items[i], next + d, duration_s, err) != 0 ||
                        add_frame(out, &cap, next, next + d, err) != 0)
                        goto fail;
                    next += d;
                }
            } else {
                lf_window w;
                if (parse_window(items[i], what, &w, err) != 0 || check_end(what, items[i], w.t1_s, duration_s, err) != 0 ||
                    add_frame(out, &cap, w.t0_s, w.t1_s, err) != 0)
                    goto fail;
                next = w.t1_s;
            }
        }
    }
    if (exclude && *exclude) {
        if (strlen(exclude) >= sizeof buf) {
            lf_fail(err, "--exclude: the text is too long");
            goto fail;
        }
        strcpy(buf, exclude);
        int n = split(buf, items, LF_FRAMES_MAX + 1);
        if (n < 0) {
            lf_fail(err, "--exclude '%.200s': empty item", exclude);
            goto fail;
        }
        for (int i = 0; i < n; i++) {
            char what[96];
            snprintf(what, sizeof what, "--exclude item %d", i + 1);
            lf_window w;
            if (parse_window(items[i], what, &w, err) != 0)
                goto fail;
            for (int k = 0; k < out->n; k++)
                if (subtract(&out->f[k], &w, err) != 0)
                    goto fail;
        }
    }
    for (int k = 0; k < out->n; k++) {
        lf_frame *f = &out->f[k];
        if (f->n_w == 0) {
            lf_fail(err, "frame %d is empty after --exclude '%s'", k + 1, exclude ? exclude : "");
            goto fail;
        }
        qsort(f->w, (size_t)f->n_w, sizeof f->w[0], cmp_window);
        frame_span(f);
    }
    return 0;
fail:
    lf_frames_free(out);
    return -1;
}

void lf_frames_free(lf_frames *fr)
{
    for (int k = 0; k < fr->n; k++)
        free(fr->f[k].w);
    free(fr->f);
    fr->f = NULL;
    fr->n = 0;
}

int lf_frame_contains(const lf_frame *f, double t_s)
{
    int lo = 0, hi = f->n_w - 1;
    while (lo <= hi) { /* windows are sorted and disjoint */
        int mid = (lo + hi) / 2;
        if (t_s < f->w[mid].t0_s)
            hi = mid - 1;
        else if (t_s >= f->w[mid].t1_s)
            lo = mid + 1;
        else
            return 1;
    }
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int lf_frames_gate(lf_frames *fr, const double *trig_s, size_t n_trig, int n_gates, int *cycles_used, lf_error *err)
{
    if (fr->n != 1)
        return lf_fail(err, "--gate: gating needs one frame (the kept minutes), got %d", fr->n);
    if (n_gates < 1 || n_gates > 64)
        return lf_fail(err, "--gate: %d gates: expected 1 to 64", n_gates);
    if (n_trig < 3)
        return lf_fail(err, "--gate: the stream holds %zu trigger(s) of this kind: at least 3 are needed", n_trig);
    double *d = malloc((n_trig - 1) * sizeof *d);
    if (!d)
        return lf_fail(err, "--gate: out of memory");
    for (size_t k = 0; k + 1 < n_trig; k++)
        d[k] = trig_s[k + 1] - trig_s[k];
    qsort(d, n_trig - 1, sizeof *d, cmp_double);
    const double med = d[(n_trig - 1) / 2];
    free(d);
    lf_frames out = {0};
    int cap = 0;
    for (int g = 0; g < n_gates; g++) {
        if (add_frame(&out, &cap, 0, 0, err) != 0)
            goto fail;
        out.f[g].n_w = 0;
        out.f[g].gate = g + 1;
    }
    const lf_frame *base = &fr->f[0];
    int used = 0;
    for (size_t k = 0; k + 1 < n_trig; k++) {
        const double t0 = trig_s[k], dt = trig_s[k + 1] - t0;
        if (!(dt >= 0.5 * med && dt <= 1.5 * med))
            continue;
        used++;
        for (int g = 0; g < n_gates; g++) {
            const double a = t0 + dt * g / n_gates, b = t0 + dt * (g + 1) / n_gates;
            for (int i = 0; i < base->n_w; i++) { /* ∩ the kept minutes */
                const double lo = a > base->w[i].t0_s ? a : base->w[i].t0_s;
                const double hi = b < base->w[i].t1_s ? b : base->w[i].t1_s;
                if (hi > lo && push_window(&out.f[g], lo, hi, err) != 0)
                    goto fail;
            }
        }
    }
    if (used < 2) {
        lf_fail(err, "--gate: only %d regular cycle(s) among %zu triggers (median cycle %.3g s)", used, n_trig, med);
        goto fail;
    }
    for (int g = 0; g < n_gates; g++) {
        if (out.f[g].n_w == 0) {
            lf_fail(err, "--gate: gate %d holds no time inside the kept minutes", g + 1);
            goto fail;
        }
        frame_span(&out.f[g]);
    }
    lf_frames_free(fr);
    *fr = out;
    if (cycles_used)
        *cycles_used = used;
    return 0;
fail:
    lf_frames_free(&out);
    return -1;
}

int lf_gate_parse(const char *text, int *trigger_type, int *n_gates, lf_error *err)
{
    const char *c = text ? strchr(text, ':') : NULL;
    double n;
    if (!c || parse_num(c + 1, &n) != 0 || n < 1 || n > 64 || n != floor(n))
        return lf_fail(err, "--gate '%s': expected resp:N or cardiac:N with 1 <= N <= 64", text ? text : "");
    size_t k = (size_t)(c - text);
    if (k == 4 && strncmp(text, "resp", 4) == 0)
        *trigger_type = 1;
    else if (k == 7 && strncmp(text, "cardiac", 7) == 0)
        *trigger_type = 2;
    else
        return lf_fail(err, "--gate '%s': expected resp:N or cardiac:N", text);
    *n_gates = (int)n;
    return 0;
}

void lf_frame_describe(const lf_frame *f, char *buf, size_t cap)
{
    size_t used = 0;
    if (cap == 0)
        return;
    buf[0] = '\0';
    for (int i = 0; i < f->n_w && used < cap; i++) {
        int k = snprintf(buf + used, cap - used, "%s%g-%g", i ? ", " : "", f->w[i].t0_s, f->w[i].t1_s);
        if (k < 0)
            break;
        used += (size_t)k;
    }
    if (used < cap)
        snprintf(buf + used, cap - used, " s");
}

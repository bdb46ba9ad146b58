#include "lmsummary.h"

#include <stdlib.h>
#include <string.h>

void lf_lm_summary_init(lf_lm_summary *s) { memset(s, 0, sizeof *s); }

static int grow(lf_lm_summary *s, uint64_t need, lf_error *err)
{
    if (need <= s->cap)
        return 0;
    uint64_t nc = s->cap ? s->cap : 64;
    while (nc < need)
        nc *= 2;
    uint64_t *p = realloc(s->prompts_per_s, nc * sizeof *p);
    if (!p)
        return lf_fail(err, "out of memory for the count-rate curve (%llu s)", (unsigned long long)need);
    s->prompts_per_s = p;
    uint64_t *d = realloc(s->delayeds_per_s, nc * sizeof *d);
    if (!d)
        return lf_fail(err, "out of memory for the count-rate curve (%llu s)", (unsigned long long)need);
    s->delayeds_per_s = d;
    memset(s->prompts_per_s + s->cap, 0, (nc - s->cap) * sizeof *p);
    memset(s->delayeds_per_s + s->cap, 0, (nc - s->cap) * sizeof *d);
    s->cap = nc;
    return 0;
}

int lf_lm_summary_add(lf_lm_summary *s, const lf_lm_batch *b, lf_error *err)
{
    if (b->n_ev == 0)
        return 0;
    /* events are in time order: size once per batch */
    uint64_t last_s = b->ev[b->n_ev - 1].t_ms / 1000u;
    if (grow(s, last_s + 1, err) != 0)
        return -1;
    for (size_t i = 0; i < b->n_ev; i++) {
        uint64_t sec = b->ev[i].t_ms / 1000u;
        if (sec >= s->cap && grow(s, sec + 1, err) != 0)
            return -1;
        if (b->ev[i].prompt)
            s->prompts_per_s[sec]++;
        else
            s->delayeds_per_s[sec]++;
        if (sec + 1 > s->n_seconds)
            s->n_seconds = sec + 1;
    }
    return 0;
}

void lf_lm_summary_finish(lf_lm_summary *s, const lf_lm_reader *r)
{
    s->st = *lf_lm_stats(r);
    s->trailing_bytes = lf_lm_trailing_bytes(r);
    /* the curve spans the markers too, so empty final seconds show as zero rates */
    if (s->st.have_time) {
        uint64_t n = s->st.last_ms / 1000u + 1;
        if (n > s->n_seconds && grow(s, n, NULL) == 0)
            s->n_seconds = n;
    }
}

void lf_lm_summary_free(lf_lm_summary *s)
{
    free(s->prompts_per_s);
    free(s->delayeds_per_s);
    memset(s, 0, sizeof *s);
}

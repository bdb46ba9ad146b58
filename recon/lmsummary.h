/* lafov recon: what a list-mode stream holds (for `lafov info`): counts of prompts, delayeds, time
 * markers and tags per class, anomalies, and a count-rate curve per second of acquisition.
 * Fed batch by batch from the reader; memory grows with the acquisition's seconds, not its events. */
#ifndef LF_LMSUMMARY_H
#define LF_LMSUMMARY_H

#include <stdint.h>

#include "../io/lmreader.h"

typedef struct lf_lm_summary {
    lf_decode_stats st;         /* copied from the reader at the end */
    uint64_t trailing_bytes;
    uint64_t n_seconds;         /* length of the per-second arrays */
    uint64_t *prompts_per_s;    /* [second since marker 0] */
    uint64_t *delayeds_per_s;
    uint64_t cap;
} lf_lm_summary;

void lf_lm_summary_init(lf_lm_summary *s);
int lf_lm_summary_add(lf_lm_summary *s, const lf_lm_batch *b, lf_error *err);
/* Copies the reader's final statistics in; call after the last batch. */
void lf_lm_summary_finish(lf_lm_summary *s, const lf_lm_reader *r);
void lf_lm_summary_free(lf_lm_summary *s);

/* Acquisition length in ms: the number of time markers (1 ms each). */
static inline uint64_t lf_lm_summary_duration_ms(const lf_lm_summary *s) { return s->st.tags[LF_TAG_TIME]; }

#endif

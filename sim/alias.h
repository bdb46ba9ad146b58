/* lafov sim: Walker's alias method — O(1) draws from a fixed discrete distribution (e.g. which crystal
 * a random coincidence's single falls in, weighted by its singles rate). */
#ifndef LF_ALIAS_H
#define LF_ALIAS_H

#include <stdint.h>

#include "../core/error.h"
#include "../core/rng.h"

typedef struct lf_alias {
    uint32_t n;
    float *prob;
    uint32_t *alias;
    double total;   /* sum of the weights */
} lf_alias;

int lf_alias_init(lf_alias *a, const double *w, uint32_t n, lf_error *err);
void lf_alias_free(lf_alias *a);

static inline uint32_t lf_alias_draw(const lf_alias *a, lf_rng *r)
{
    uint64_t x = lf_rng_u64(r);
    uint32_t i = (uint32_t)(((x >> 32) * (uint64_t)a->n) >> 32);
    float u = (float)(x & 0xFFFFFFu) * (1.0f / 16777216.0f);
    return u < a->prob[i] ? i : a->alias[i];
}

#endif

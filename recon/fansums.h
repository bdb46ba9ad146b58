/* lafov recon: per-crystal fan sums (prompts and delayeds in which each crystal took part) — the
 * detector QC map, and later the input of normalisation and of randoms from delayeds.
 * Crystals are the scanner's stream numbering (virtual slots included for SLOTS scanners). */
#ifndef LF_FANSUMS_H
#define LF_FANSUMS_H

#include <stdint.h>

#include "../core/scanner.h"
#include "../io/lmreader.h"

typedef struct lf_fansums {
    int n_crystals;
    uint64_t *prompts, *delayeds;  /* [crystal id] */
} lf_fansums;

int lf_fansums_init(lf_fansums *f, const lf_scanner *sc, lf_error *err);
void lf_fansums_add(lf_fansums *f, const lf_lm_batch *b);
void lf_fansums_free(lf_fansums *f);

/* Dead-detector search: real crystals with zero prompts and zero delayeds, and blocks all of whose
 * real crystals are dead. Fills malloc'ed id lists (crystal ids; block indices per scanner.h). */
typedef struct lf_dead_list {
    uint32_t *crystals;
    uint64_t n_crystals;
    uint32_t *blocks;
    uint64_t n_blocks;
    uint64_t n_real;              /* real crystals in the scanner */
} lf_dead_list;

int lf_fansums_dead(const lf_fansums *f, const lf_scanner *sc, lf_dead_list *out, lf_error *err);
void lf_dead_list_free(lf_dead_list *d);

#endif

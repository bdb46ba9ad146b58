#include "fansums.h"

#include <stdlib.h>
#include <string.h>

int lf_fansums_init(lf_fansums *f, const lf_scanner *sc, lf_error *err)
{
    f->n_crystals = sc->n_crystals;
    f->prompts = calloc((size_t)sc->n_crystals, sizeof *f->prompts);
    f->delayeds = calloc((size_t)sc->n_crystals, sizeof *f->delayeds);
    if (!f->prompts || !f->delayeds) {
        lf_fansums_free(f);
        return lf_fail(err, "out of memory for %d crystal fan sums", sc->n_crystals);
    }
    return 0;
}

void lf_fansums_add(lf_fansums *f, const lf_lm_batch *b)
{
    /* decoders guarantee a, b < n_crystals */
    for (size_t i = 0; i < b->n_ev; i++) {
        uint64_t *c = b->ev[i].prompt ? f->prompts : f->delayeds;
        c[b->ev[i].a]++;
        c[b->ev[i].b]++;
    }
}

void lf_fansums_free(lf_fansums *f)
{
    free(f->prompts);
    free(f->delayeds);
    f->prompts = f->delayeds = NULL;
}

int lf_fansums_dead(const lf_fansums *f, const lf_scanner *sc, lf_dead_list *out, lf_error *err)
{
    memset(out, 0, sizeof *out);
    uint32_t *live = calloc((size_t)sc->n_blocks, sizeof *live);
    uint32_t *real = calloc((size_t)sc->n_blocks, sizeof *real);
    out->crystals = malloc((size_t)sc->n_crystals * sizeof *out->crystals);
    out->blocks = malloc((size_t)sc->n_blocks * sizeof *out->blocks);
    if (!live || !real || !out->crystals || !out->blocks) {
        free(live);
        free(real);
        lf_dead_list_free(out);
        return lf_fail(err, "out of memory");
    }
    for (int id = 0; id < sc->n_crystals; id++) {
        if (lf_crystal_is_virtual(sc, lf_crystal_index(sc, (uint32_t)id)))
            continue;
        int blk = lf_crystal_block(sc, (uint32_t)id);
        out->n_real++;
        real[blk]++;
        if (f->prompts[id] == 0 && f->delayeds[id] == 0)
            out->crystals[out->n_crystals++] = (uint32_t)id;
        else
            live[blk]++;
    }
    for (int blk = 0; blk < sc->n_blocks; blk++)
        if (real[blk] > 0 && live[blk] == 0)
            out->blocks[out->n_blocks++] = (uint32_t)blk;
    free(live);
    free(real);
    return 0;
}

void lf_dead_list_free(lf_dead_list *d)
{
    free(d->crystals);
    free(d->blocks);
    memset(d, 0, sizeof *d);
}

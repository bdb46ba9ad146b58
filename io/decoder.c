#include "decoder.h"

#include <stdlib.h>
#include <string.h>

#include "endian.h"
#include "quadra64.h"

int lf_decoder_init(lf_decoder *d, lf_lm_format format, const lf_scanner *sc, int mrd, int tof_bins, int n_tang,
                    int n_view, lf_error *err)
{
    memset(d, 0, sizeof *d);
    d->format = format;
    d->mrd = mrd;
    if (tof_bins < 1 || tof_bins % 2 == 0)
        return lf_fail(err, "number of TOF bins %d: expected an odd number >= 1", tof_bins);
    d->tof_half = tof_bins / 2;
    if (format == LF_FORMAT_PETLINK32) {
        d->word_bytes = 4;
        return lf_sino_map_init(&d->map, sc, n_tang, n_view, mrd, tof_bins, err);
    }
    d->word_bytes = 8;
    if (sc->n_crystals > (int)LF_Q64_CRYSTAL_MAX + 1)
        return lf_fail(err, "scanner '%s' has %d crystals: more than the 18-bit crystal ids of the 64-bit stream", sc->name,
                       sc->n_crystals);
    if (tof_bins > 63)
        return lf_fail(err, "number of TOF bins %d: the 64-bit stream holds at most 63 (6-bit bins)", tof_bins);
    d->n_crystals = (uint32_t)sc->n_crystals;
    d->div_ring = lf_fastdiv_make((uint32_t)sc->crystals_per_ring);
    d->ring_slot = malloc((size_t)sc->rings * sizeof *d->ring_slot);
    d->virt = malloc((size_t)sc->crystals_per_ring);
    if (!d->ring_slot || !d->virt) {
        lf_decoder_free(d);
        return lf_fail(err, "out of memory");
    }
    for (int r = 0; r < sc->rings; r++)
        d->ring_slot[r] = (uint16_t)lf_ring_slot_z(sc, r);
    for (int k = 0; k < sc->crystals_per_ring; k++)
        d->virt[k] = (uint8_t)lf_crystal_is_virtual(sc, k);
    return 0;
}

void lf_decoder_free(lf_decoder *d)
{
    free(d->ring_slot);
    free(d->virt);
    d->ring_slot = NULL;
    d->virt = NULL;
    lf_sino_map_free(&d->map);
}

/* events_in_batch: events decoded so far in the current call (for the count before marker one) */
static inline void time_marker(lf_decoder *d, uint64_t ms, uint64_t off, size_t events_in_batch)
{
    lf_decode_stats *st = &d->st;
    st->tags[LF_TAG_TIME]++;
    if (!st->have_time) {
        st->events_before_first_marker = st->prompts + st->delayeds + events_in_batch;
        st->have_time = 1;
        st->first_ms = ms;
        d->t_ms = ms;
    } else if (ms < d->t_ms) {
        if (st->time_backwards++ == 0)
            st->first_backwards_offset = off;
        return;
    } else if (ms > d->t_ms + 1) {
        if (st->time_jumps++ == 0)
            st->first_jump_offset = off;
    }
    d->t_ms = ms;
    st->last_ms = ms;
}

static inline void invalid(lf_decoder *d, uint64_t off)
{
    if (d->st.invalid_events++ == 0)
        d->st.first_invalid_offset = off;
}

static inline void add_tag(lf_decoder *d, lf_tag_class cls, uint64_t word, uint64_t off, lf_tag *tags, size_t *n_tags)
{
    d->st.tags[cls]++;
    if (cls == LF_TAG_UNKNOWN && d->st.tags[cls] == 1)
        d->st.first_unknown_offset = off;
    lf_tag *t = &tags[(*n_tags)++];
    t->word = word;
    t->t_ms = (uint32_t)d->t_ms;
    t->cls = (uint8_t)cls;
    t->reserved[0] = t->reserved[1] = t->reserved[2] = 0;
}

/* Counts are kept per batch by the callers (prompts from the sum of prompt bits). */
static inline void add_event(const lf_decoder *d, uint32_t a, uint32_t b, int tof, int prompt, lf_event *ev, size_t *n_ev)
{
    lf_event *e = &ev[(*n_ev)++];
    e->t_ms = (uint32_t)d->t_ms;
    e->a = a;
    e->b = b;
    e->tof = (int8_t)tof;
    e->prompt = (uint8_t)prompt;
    e->reserved = 0;
}

static void decode_q64(lf_decoder *d, const uint8_t *buf, size_t nwords, uint64_t off0, lf_event *ev, size_t *n_ev,
                       lf_tag *tags, size_t *n_tags)
{
    const uint32_t nc = d->n_crystals;
    const int th = d->tof_half, mrd = d->mrd;
    for (size_t i = 0; i < nwords; i++) {
        uint64_t w = lf_le64(buf + 8 * i);
        if (!(w >> 63)) {
            uint32_t a = lf_q64_a(w), b = lf_q64_b(w);
            int tof = lf_q64_tof(w), prompt = lf_q64_prompt(w);
            if (a >= nc || b >= nc || a == b || tof > th || tof < -th) {
                invalid(d, off0 + 8 * i);
                continue;
            }
            uint32_t ra = lf_fastdiv_div(d->div_ring, a), rb = lf_fastdiv_div(d->div_ring, b);
            int dz = (int)d->ring_slot[ra] - (int)d->ring_slot[rb];
            if (dz > mrd || dz < -mrd || d->virt[a - ra * d->div_ring.d] || d->virt[b - rb * d->div_ring.d]) {
                invalid(d, off0 + 8 * i);
                continue;
            }
            add_event(d, a, b, prompt ? tof : 0, prompt, ev, n_ev); /* delayeds carry no position */
        } else {
            uint32_t up = (uint32_t)(w >> 32);
            lf_tag_class cls = lf_petlink_tag_class(up);
            if (cls == LF_TAG_TIME)
                time_marker(d, lf_q64_marker_ms(w), off0 + 8 * i, *n_ev);
            else
                add_tag(d, cls, w, off0 + 8 * i, tags, n_tags);
        }
    }
}

static void decode_p32(lf_decoder *d, const uint8_t *buf, size_t nwords, uint64_t off0, lf_event *ev, size_t *n_ev,
                       lf_tag *tags, size_t *n_tags)
{
    const lf_sino_map *m = &d->map;
    for (size_t i = 0; i < nwords; i++) {
        uint32_t w = lf_le32(buf + 4 * i);
        if (!(w >> 31)) {
            uint32_t a, b;
            int tof;
            int prompt = (int)((w >> 30) & 1u);
            if (lf_sino_map_pair(m, w & 0x3FFFFFFFu, &a, &b, &tof) != 0) {
                invalid(d, off0 + 4 * i);
                continue;
            }
            add_event(d, a, b, prompt ? tof : 0, prompt, ev, n_ev);
        } else {
            lf_tag_class cls = lf_petlink_tag_class(w);
            if (cls == LF_TAG_TIME)
                time_marker(d, w & 0x1FFFFFFFu, off0 + 4 * i, *n_ev);
            else
                add_tag(d, cls, w, off0 + 4 * i, tags, n_tags);
        }
    }
}

size_t lf_decode(lf_decoder *d, const uint8_t *buf, size_t nwords, uint64_t byte_offset, lf_event *ev, size_t *n_ev,
                 lf_tag *tags, size_t *n_tags)
{
    *n_ev = 0;
    *n_tags = 0;
    if (d->format == LF_FORMAT_PETLINK32)
        decode_p32(d, buf, nwords, byte_offset, ev, n_ev, tags, n_tags);
    else
        decode_q64(d, buf, nwords, byte_offset, ev, n_ev, tags, n_tags);
    uint64_t prompts = 0;
    for (size_t i = 0; i < *n_ev; i++)
        prompts += ev[i].prompt;
    d->st.prompts += prompts;
    d->st.delayeds += *n_ev - prompts;
    if (!d->st.have_time) /* no marker yet: every event so far precedes the first one */
        d->st.events_before_first_marker = d->st.prompts + d->st.delayeds;
    d->st.words += nwords;
    return nwords;
}

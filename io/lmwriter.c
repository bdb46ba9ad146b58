#include "lmwriter.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "endian.h"
#include "lmheader.h"
#include "quadra64.h"

#define WBUF_WORDS 65536

struct lf_q64_writer {
    lf_scanner sc;
    int mrd;
    lf_ifh hdr;
    char l_path[4096], hdr_path[4096], l_tmp[4200], hdr_tmp[4200];
    int fd;
    uint64_t buf[WBUF_WORDS];
    size_t nbuf;
    uint64_t words;
    uint64_t next_ms;   /* next marker to write */
};

static int flush(lf_q64_writer *w, lf_error *err)
{
    size_t bytes = w->nbuf * 8, done = 0;
    const uint8_t *p = (const uint8_t *)w->buf;
    while (done < bytes) {
        ssize_t r = write(w->fd, p + done, bytes - done);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return lf_fail(err, "%s: write error at offset %llu: %s", w->l_path,
                           (unsigned long long)((w->words - w->nbuf) * 8 + done), strerror(errno));
        }
        done += (size_t)r;
    }
    w->nbuf = 0;
    return 0;
}

static inline int put(lf_q64_writer *w, uint64_t word, lf_error *err)
{
    if (w->nbuf == WBUF_WORDS && flush(w, err) != 0)
        return -1;
    lf_store_le64((uint8_t *)&w->buf[w->nbuf++], word); /* little-endian on disk */
    w->words++;
    return 0;
}

int lf_q64w_open(const char *l_path, const lf_scanner *sc, int mrd, const lf_ifh *extra, lf_q64_writer **out,
                 lf_error *err)
{
    *out = NULL;
    if (sc->format != LF_FORMAT_QUADRA64)
        return lf_fail(err, "scanner '%s' is not a 64-bit detector-pair scanner", sc->name);
    if (sc->n_crystals > (int)LF_Q64_CRYSTAL_MAX + 1 || sc->tof_bins > 63)
        return lf_fail(err, "scanner '%s' does not fit the 64-bit stream (18-bit crystal ids, 6-bit TOF bins)", sc->name);
    lf_q64_writer *w = calloc(1, sizeof *w);
    if (!w)
        return lf_fail(err, "out of memory");
    w->sc = *sc;
    w->mrd = mrd < 0 ? sc->mrd : mrd;
    if (w->mrd > sc->slots_z - 1) {
        free(w);
        return lf_fail(err, "maximum ring difference %d exceeds %d for scanner '%s'", mrd, sc->slots_z - 1, sc->name);
    }
    snprintf(w->l_path, sizeof w->l_path, "%s", l_path);
    snprintf(w->hdr_path, sizeof w->hdr_path, "%s.hdr", l_path);
    snprintf(w->l_tmp, sizeof w->l_tmp, "%s.tmp.XXXXXX", l_path);
    snprintf(w->hdr_tmp, sizeof w->hdr_tmp, "%s.hdr.tmp.XXXXXX", l_path);
    w->fd = mkstemp(w->l_tmp);
    if (w->fd < 0) {
        int e = errno;
        free(w);
        return lf_fail(err, "%s: cannot create a temporary file beside it: %s", l_path, strerror(e));
    }
    if (extra && lf_ifh_merge(&w->hdr, extra) != 0) {
        lf_q64w_abort(w);
        return lf_fail(err, "out of memory");
    }
    *out = w;
    return 0;
}

int lf_q64w_time(lf_q64_writer *w, uint64_t ms, lf_error *err)
{
    if (w->next_ms > 0 && ms + 1 < w->next_ms)
        return lf_fail(err, "%s: time goes backwards: %llu ms after %llu ms (events must be written in time order)",
                       w->l_path, (unsigned long long)ms, (unsigned long long)(w->next_ms - 1));
    while (w->next_ms <= ms) {
        if (put(w, lf_q64_time_marker(w->next_ms), err) != 0)
            return -1;
        w->next_ms++;
    }
    return 0;
}

int lf_q64w_event(lf_q64_writer *w, const lf_event *e, lf_error *err)
{
    if (!lf_pair_accepted(&w->sc, e->a, e->b, w->mrd))
        return lf_fail(err, "%s: event (a=%u, b=%u) is not a valid pair of scanner '%s' at MRD %d", w->l_path, e->a, e->b,
                       w->sc.name, w->mrd);
    int half = w->sc.tof_bins / 2;
    if (e->tof > half || e->tof < -half)
        return lf_fail(err, "%s: TOF bin %d outside -%d..%d", w->l_path, e->tof, half, half);
    if (lf_q64w_time(w, e->t_ms, err) != 0)
        return -1;
    return put(w, lf_q64_event(e->a, e->b, e->prompt ? e->tof : 0, e->prompt), err);
}

int lf_q64w_tag(lf_q64_writer *w, uint64_t word, lf_error *err)
{
    if (!(word >> 63) || lf_petlink_tag_class((uint32_t)(word >> 32)) == LF_TAG_TIME)
        return lf_fail(err, "%s: 0x%016llx is not a non-time tag word", w->l_path, (unsigned long long)word);
    if (w->next_ms == 0 && lf_q64w_time(w, 0, err) != 0)
        return -1;
    return put(w, word, err);
}

uint64_t lf_q64w_words(const lf_q64_writer *w) { return w->words; }

void lf_q64w_abort(lf_q64_writer *w)
{
    if (!w)
        return;
    if (w->fd >= 0) {
        close(w->fd);
        unlink(w->l_tmp);
    }
    lf_ifh_free(&w->hdr);
    free(w);
}

static int fill_header(lf_q64_writer *w, uint64_t duration_ms, lf_error *err)
{
    const lf_scanner *sc = &w->sc;
    lf_ifh *h = &w->hdr;
    const char *base = strrchr(w->l_path, '/');
    base = base ? base + 1 : w->l_path;
    /* computed keys, in the contract's order; extra keys keep their values */
    lf_ifh out = {0};
    snprintf(out.origin, sizeof out.origin, "%s", w->hdr_path);
    int rc = 0;
    rc |= lf_ifh_set(&out, "!INTERFILE", "");
    rc |= lf_ifh_setf(&out, "!originating system", "%d", sc->system_code);
    rc |= lf_ifh_set(&out, "%SMS-MI header name space", "PETLINK detector pair");
    rc |= lf_ifh_set(&out, "name of data file", base);
    rc |= lf_ifh_set(&out, "%LM event and tag words format (bits)", "64");
    rc |= lf_ifh_setf(&out, "number of rings", "%d", sc->rings);
    rc |= lf_ifh_setf(&out, "%crystals per ring", "%d", sc->crystals_per_ring);
    rc |= lf_ifh_setf(&out, "%maximum ring difference", "%d", w->mrd);
    rc |= lf_ifh_setf(&out, "%number of TOF time bins", "%d", sc->tof_bins);
    rc |= lf_ifh_setf(&out, "%TOF bin width (ps)", "%.10g", sc->tof_bin_width_ps);
    rc |= lf_ifh_setf(&out, "%TOF resolution (ps)", "%.10g", sc->tof_fwhm_ps);
    rc |= lf_ifh_setf(&out, "%coincidence window (ns)", "%.10g", sc->coincidence_window_ns);
    rc |= lf_ifh_setf(&out, "%energy window lower level (keV) [1]", "%.10g", sc->energy_low_kev);
    rc |= lf_ifh_setf(&out, "%energy window upper level (keV) [1]", "%.10g", sc->energy_high_kev);
    const char *study[] = {"isotope name", "isotope gamma halflife (sec)", "isotope branching factor", "radiopharmaceutical",
                           "tracer activity at time of injection (Bq)", "%tracer injection date (yyyy:mm:dd)",
                           "%tracer injection time (hh:mm:ss GMT+00:00)", "%study date (yyyy:mm:dd)",
                           "%study time (hh:mm:ss GMT+00:00)", "patient weight (kg)", NULL};
    for (int i = 0; study[i]; i++) {
        const char *v = lf_ifh_get(h, study[i]);
        if (!v) {
            lf_ifh_free(&out);
            return lf_fail(err, "%s: required key '%s' was not given to the writer", w->hdr_path, study[i]);
        }
        rc |= lf_ifh_set(&out, study[i], v);
    }
    rc |= lf_ifh_setf(&out, "image duration (sec)", "%.10g", (double)duration_ms / 1000.0);
    rc |= lf_ifh_set(&out, "%timing tagwords interval (msec)", "1");
    const char *spi = lf_ifh_get(h, "singles polling interval (sec)");
    rc |= lf_ifh_set(&out, "%singles polling interval (sec)", spi ? spi : "2");
    rc |= lf_ifh_setf(&out, "%total listmode word counts", "%llu", (unsigned long long)w->words);
    /* provenance: every other key the caller gave */
    for (size_t i = 0; i < h->n; i++)
        if (h->e[i].value && !lf_ifh_find(&out, h->e[i].key))
            rc |= lf_ifh_set(&out, h->e[i].key, h->e[i].value);
    rc |= lf_ifh_set(&out, "!END OF INTERFILE", "");
    lf_ifh_free(h);
    *h = out;
    if (rc != 0)
        return lf_fail(err, "out of memory");
    return 0;
}

int lf_q64w_close(lf_q64_writer *w, uint64_t duration_ms, lf_error *err)
{
    if (duration_ms < w->next_ms) {
        lf_fail(err, "%s: duration %llu ms is shorter than the %llu ms already written", w->l_path,
                (unsigned long long)duration_ms, (unsigned long long)w->next_ms);
        lf_q64w_abort(w);
        return -1;
    }
    if ((duration_ms > 0 && lf_q64w_time(w, duration_ms - 1, err) != 0) || flush(w, err) != 0 ||
        fill_header(w, duration_ms, err) != 0)
        goto fail;
    if (fsync(w->fd) != 0 || close(w->fd) != 0) {
        w->fd = -1;
        unlink(w->l_tmp);
        lf_fail(err, "%s: cannot flush the data to disk: %s", w->l_path, strerror(errno));
        goto fail;
    }
    w->fd = -1;
    int hfd = mkstemp(w->hdr_tmp);
    FILE *f = hfd >= 0 ? fdopen(hfd, "w") : NULL;
    if (!f) {
        if (hfd >= 0)
            close(hfd);
        lf_fail(err, "%s: cannot create the header: %s", w->hdr_path, strerror(errno));
        unlink(w->l_tmp);
        goto fail;
    }
    int bad = lf_ifh_write(&w->hdr, f) != 0;
    bad |= fflush(f) != 0;
    bad |= fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (bad || chmod(w->l_tmp, 0644) != 0 || chmod(w->hdr_tmp, 0644) != 0 || rename(w->l_tmp, w->l_path) != 0 ||
        rename(w->hdr_tmp, w->hdr_path) != 0) {
        lf_fail(err, "%s: cannot write or move the stream into place: %s", w->l_path, strerror(errno));
        unlink(w->l_tmp);
        unlink(w->hdr_tmp);
        goto fail;
    }
    lf_ifh_free(&w->hdr);
    free(w);
    return 0;
fail:
    lf_q64w_abort(w);
    return -1;
}

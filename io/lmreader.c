#include "lmreader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/log.h"
#include "endian.h"

#define LF_CHUNK_BYTES (1u << 20) /* small enough to stay in cache between read and decode */

struct lf_lm_reader {
    lf_lm_header h;
    lf_decoder dec;
    int fd;
    uint8_t *buf;
    lf_event *ev;
    lf_tag *tags;
    size_t chunk_words;
    uint64_t whole_bytes;   /* data_bytes rounded down to whole words */
    uint64_t pos;           /* bytes of the word region consumed */
    int warned_end;
};

int lf_lm_check_word_size(const uint8_t *buf, size_t n, int word_bytes, const char *path, uint64_t offset, lf_error *err)
{
    if (word_bytes == 8) {
        /* 64-bit events have reserved bits 55..54 and 17..0 zero; 32-bit words read in pairs do not. */
        size_t events = 0, dirty = 0;
        for (size_t i = 0; i + 8 <= n; i += 8) {
            uint64_t w = lf_le64(buf + i);
            if (w >> 63)
                continue;
            events++;
            if ((w & 0x3FFFFull) || ((w >> 54) & 3u))
                dirty++;
        }
        if (events >= 16 && dirty * 2 > events)
            return lf_fail(err,
                           "%s: offset %llu: the header says 64-bit words, but %zu of the first %zu events have non-zero "
                           "reserved bits: the data looks like 32-bit PETLINK words (expected 64-bit detector-pair words)",
                           path, (unsigned long long)offset, dirty, events);
    } else {
        /* 64-bit words read as 32-bit: every event's low half has its 18 low bits zero. */
        size_t events = 0, suspicious = 0;
        for (size_t i = 0; i + 4 <= n; i += 4) {
            uint32_t w = lf_le32(buf + i);
            if (w >> 31)
                continue;
            events++;
            if ((w & 0x3FFFFu) == 0)
                suspicious++;
        }
        if (events >= 16 && suspicious * 3 > events)
            return lf_fail(err,
                           "%s: offset %llu: the header says 32-bit words, but %zu of the first %zu event words have their "
                           "18 low bits zero: the data looks like 64-bit detector-pair words (expected 32-bit PETLINK words)",
                           path, (unsigned long long)offset, suspicious, events);
    }
    return 0;
}

static int read_at(int fd, uint8_t *buf, size_t n, uint64_t off, const char *path, lf_error *err)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, buf + got, n - got, (off_t)(off + got));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return lf_fail(err, "%s: read error at offset %llu: %s", path, (unsigned long long)(off + got), strerror(errno));
        }
        if (r == 0)
            return lf_fail(err, "%s: unexpected end of file at offset %llu (the file shrank while reading?)", path,
                           (unsigned long long)(off + got));
        got += (size_t)r;
    }
    return 0;
}

int lf_lm_open(const char *path, const lf_lm_open_opts *opts, lf_lm_reader **out, lf_error *err)
{
    *out = NULL;
    lf_lm_reader *r = calloc(1, sizeof *r);
    if (!r)
        return lf_fail(err, "out of memory");
    r->fd = -1;
    lf_lm_header *h = &r->h;
    if (lf_lm_header_open(path, opts, h, err) != 0) {
        free(r);
        return -1;
    }
    const char *dp = h->data_path;
    if (h->data_bytes == 0) {
        lf_fail(err, "%s: the list-mode data is empty (0 bytes at offset %llu): expected at least one time marker", dp,
                (unsigned long long)h->data_offset);
        goto fail;
    }
    r->whole_bytes = h->data_bytes - h->data_bytes % (uint64_t)h->word_bytes;
    if (r->whole_bytes == 0) {
        lf_fail(err, "%s: %llu bytes of data at offset %llu: less than one %d-bit word", dp,
                (unsigned long long)h->data_bytes, (unsigned long long)h->data_offset, h->word_bytes * 8);
        goto fail;
    }
    if (h->data_bytes != r->whole_bytes)
        lf_warn("%s: the data is %llu bytes, not a multiple of the %d-byte word: the last %llu bytes at offset %llu "
                "(a truncated final word) are ignored",
                dp, (unsigned long long)h->data_bytes, h->word_bytes, (unsigned long long)(h->data_bytes - r->whole_bytes),
                (unsigned long long)(h->data_offset + r->whole_bytes));
    uint64_t words = r->whole_bytes / (uint64_t)h->word_bytes;
    if (h->header_word_count >= 0 && (uint64_t)h->header_word_count != words)
        lf_warn("%s: the file holds %llu words but the header's 'total listmode word counts' says %lld%s", dp,
                (unsigned long long)words, h->header_word_count,
                (uint64_t)h->header_word_count > words ? " (a truncated acquisition?)" : "");
    r->fd = open(dp, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        lf_fail(err, "%s: cannot open: %s", dp, strerror(errno));
        goto fail;
    }
#ifdef POSIX_FADV_SEQUENTIAL
    posix_fadvise(r->fd, (off_t)h->data_offset, (off_t)h->data_bytes, POSIX_FADV_SEQUENTIAL);
#endif
    r->chunk_words = LF_CHUNK_BYTES / (size_t)h->word_bytes;
    r->buf = malloc(LF_CHUNK_BYTES);
    r->ev = malloc(r->chunk_words * sizeof *r->ev);
    r->tags = malloc(r->chunk_words * sizeof *r->tags);
    if (!r->buf || !r->ev || !r->tags) {
        lf_fail(err, "out of memory");
        goto fail;
    }
    size_t probe = r->whole_bytes < 65536 ? (size_t)r->whole_bytes : 65536;
    if (read_at(r->fd, r->buf, probe, h->data_offset, dp, err) != 0 ||
        lf_lm_check_word_size(r->buf, probe, h->word_bytes, dp, h->data_offset, err) != 0)
        goto fail;
    if (lf_decoder_init(&r->dec, h->format, &h->scanner, h->mrd, h->tof_bins, h->sino_tang, h->sino_views, err) != 0) {
        lf_fail_prefix(err, "%s", h->header_path);
        goto fail;
    }
    *out = r;
    return 0;
fail:
    lf_lm_close(r);
    return -1;
}

static void end_of_stream_warnings(lf_lm_reader *r)
{
    const lf_decode_stats *st = &r->dec.st;
    const char *dp = r->h.data_path;
    if (r->warned_end)
        return;
    r->warned_end = 1;
    if (!st->have_time)
        lf_warn("%s: no time markers in the stream: every event is given time 0", dp);
    if (st->time_backwards)
        lf_warn("%s: %llu time marker(s) go backwards (first at offset %llu); they were ignored", dp,
                (unsigned long long)st->time_backwards, (unsigned long long)st->first_backwards_offset);
    if (st->time_jumps)
        lf_warn("%s: %llu time marker(s) skip one or more ms (first at offset %llu)", dp,
                (unsigned long long)st->time_jumps, (unsigned long long)st->first_jump_offset);
    if (st->invalid_events)
        lf_warn("%s: %llu invalid event(s) skipped (first at offset %llu)", dp, (unsigned long long)st->invalid_events,
                (unsigned long long)st->first_invalid_offset);
    if (st->tags[LF_TAG_UNKNOWN])
        lf_info("%s: %llu unknown tag(s) skipped (first at offset %llu)", dp, (unsigned long long)st->tags[LF_TAG_UNKNOWN],
                (unsigned long long)st->first_unknown_offset);
}

int lf_lm_next(lf_lm_reader *r, lf_lm_batch *b, lf_error *err)
{
    memset(b, 0, sizeof *b);
    if (r->pos >= r->whole_bytes) {
        end_of_stream_warnings(r);
        return 0;
    }
    uint64_t left = r->whole_bytes - r->pos;
    size_t n = left < LF_CHUNK_BYTES ? (size_t)left : LF_CHUNK_BYTES;
    uint64_t off = r->h.data_offset + r->pos;
    if (read_at(r->fd, r->buf, n, off, r->h.data_path, err) != 0)
        return -1;
    size_t nw = n / (size_t)r->h.word_bytes;
    lf_decode(&r->dec, r->buf, nw, off, r->ev, &b->n_ev, r->tags, &b->n_tags);
    b->ev = r->ev;
    b->tags = r->tags;
    b->byte_offset = off;
    r->pos += n;
    return 1;
}

int lf_lm_foreach(lf_lm_reader *r, lf_lm_batch_fn fn, void *user, lf_progress_fn progress, void *progress_user,
                  lf_error *err)
{
    lf_lm_batch b;
    int rc;
    while ((rc = lf_lm_next(r, &b, err)) == 1) {
        if (fn && fn(&b, user, err) != 0)
            return -1;
        if (progress)
            progress(r->pos, r->whole_bytes, progress_user);
    }
    return rc;
}

int lf_lm_rewind(lf_lm_reader *r, lf_error *err)
{
    (void)err;
    r->pos = 0;
    r->warned_end = 0;
    memset(&r->dec.st, 0, sizeof r->dec.st);
    r->dec.t_ms = 0;
    return 0;
}

void lf_lm_close(lf_lm_reader *r)
{
    if (!r)
        return;
    if (r->fd >= 0)
        close(r->fd);
    lf_decoder_free(&r->dec);
    lf_lm_header_free(&r->h);
    free(r->buf);
    free(r->ev);
    free(r->tags);
    free(r);
}

const lf_lm_header *lf_lm_header_of(const lf_lm_reader *r) { return &r->h; }
const lf_decode_stats *lf_lm_stats(const lf_lm_reader *r) { return &r->dec.st; }
uint64_t lf_lm_bytes_done(const lf_lm_reader *r) { return r->pos; }
uint64_t lf_lm_bytes_total(const lf_lm_reader *r) { return r->whole_bytes; }
uint64_t lf_lm_trailing_bytes(const lf_lm_reader *r) { return r->h.data_bytes - r->whole_bytes; }

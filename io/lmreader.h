/* lafov io: the streaming list-mode reader — the one path every command reads events through.
 *
 *   lf_lm_reader *r;
 *   if (lf_lm_open("scan.l", NULL, &r, &err)) ...;
 *   lf_lm_batch b;
 *   while ((rc = lf_lm_next(r, &b, &err)) == 1) { use b.ev[0..b.n_ev), b.tags[0..b.n_tags) }
 *   lf_lm_close(r);
 *
 * Reads fixed-size chunks with pread (files > 4 GB work; memory is a few MB whatever the file
 * length), decodes them with io/decoder.h, and reports usable-but-odd data as warnings with counts
 * (trailing bytes that are not a whole word, a word count that differs from the header, time
 * markers going backwards or skipping, invalid events, unknown tags). Refuses, with an error naming
 * the file and offset, an empty stream and data whose first words show the wrong word size for the
 * header.
 */
#ifndef LF_LMREADER_H
#define LF_LMREADER_H

#include <stddef.h>
#include <stdint.h>

#include "../core/progress.h"
#include "decoder.h"
#include "lmheader.h"

typedef struct lf_lm_batch {
    const lf_event *ev;
    size_t n_ev;
    const lf_tag *tags;
    size_t n_tags;
    uint64_t byte_offset;   /* file offset of the batch's first word */
} lf_lm_batch;

typedef struct lf_lm_reader lf_lm_reader;

int lf_lm_open(const char *path, const lf_lm_open_opts *opts, lf_lm_reader **out, lf_error *err);
/* 1: a batch in *b (valid until the next call), 0: end of stream, -1: error (I/O). */
int lf_lm_next(lf_lm_reader *r, lf_lm_batch *b, lf_error *err);
/* Reads every remaining batch, calling fn(batch, user) on each (fn returns 0, or -1 with err set to
 * stop) and progress(bytes done, bytes total, progress_user) when given. 0 at the end, -1 on error. */
typedef int (*lf_lm_batch_fn)(const lf_lm_batch *b, void *user, lf_error *err);
int lf_lm_foreach(lf_lm_reader *r, lf_lm_batch_fn fn, void *user, lf_progress_fn progress, void *progress_user,
                  lf_error *err);
/* Starts again from the first word with fresh statistics. */
int lf_lm_rewind(lf_lm_reader *r, lf_error *err);
void lf_lm_close(lf_lm_reader *r);

const lf_lm_header *lf_lm_header_of(const lf_lm_reader *r);
const lf_decode_stats *lf_lm_stats(const lf_lm_reader *r);
uint64_t lf_lm_bytes_done(const lf_lm_reader *r);   /* of the word region */
uint64_t lf_lm_bytes_total(const lf_lm_reader *r);
uint64_t lf_lm_trailing_bytes(const lf_lm_reader *r); /* bytes after the last whole word */

/* Checks the first words of a stream against its declared word size. buf holds the first n bytes.
 * Returns 0, or -1 with a message when the data looks like the other word size. */
int lf_lm_check_word_size(const uint8_t *buf, size_t n, int word_bytes, const char *path, uint64_t offset, lf_error *err);

#endif

/* lafov io: stream decoders, word buffer -> lf_event / lf_tag records.
 *
 * One decoder per open stream (PETLINK 32-bit sinogram bins or Quadra-style 64-bit detector pairs),
 * pure over memory buffers (the reader feeds file chunks; fuzzers feed anything). Decoding is
 * streaming: time state carries over between calls, so buffers may split anywhere on a word boundary.
 * Bad words never stop decoding: invalid events (crystal out of range, a = b, pair beyond the MRD,
 * TOF bin outside the scanner's range, bin address outside the sinogram) and unknown tags are
 * skipped and counted; time markers that go backwards are counted and ignored (time never decreases).
 * Each anomaly kind remembers the byte offset of its first occurrence for messages.
 */
#ifndef LF_DECODER_H
#define LF_DECODER_H

#include <stddef.h>
#include <stdint.h>

#include "../core/error.h"
#include "../core/event.h"
#include "../core/scanner.h"
#include "../core/sinogram.h"

typedef struct lf_decode_stats {
    uint64_t words;             /* words decoded */
    uint64_t prompts, delayeds; /* valid events */
    uint64_t tags[LF_TAG_NCLASSES]; /* tag words per class; tags[LF_TAG_TIME] = time markers */
    uint64_t invalid_events;
    uint64_t time_backwards;    /* markers earlier than the current time (ignored) */
    uint64_t time_jumps;        /* markers that skip one or more ms */
    uint64_t events_before_first_marker; /* given time 0 */
    uint64_t first_ms, last_ms; /* first and last marker values */
    int have_time;
    uint64_t first_invalid_offset, first_backwards_offset, first_jump_offset, first_unknown_offset;
} lf_decode_stats;

typedef struct lf_decoder {
    lf_lm_format format;
    int word_bytes;             /* 4 or 8 */
    /* Quadra 64 */
    uint32_t n_crystals;
    lf_fastdiv div_ring;        /* by crystals per ring */
    uint16_t *ring_slot;        /* axial slot of each ring */
    uint8_t *virt;              /* per in-ring index: 1 = virtual slot */
    int tof_half;               /* valid TOF bins -tof_half..tof_half */
    int mrd;
    /* PETLINK 32 */
    lf_sino_map map;
    /* time */
    uint64_t t_ms;
    lf_decode_stats st;
} lf_decoder;

/* Sets up a decoder for `format` on scanner `sc`. mrd: maximum ring difference of the stream
 * (axial slots). tof_bins: TOF bins of the stream (odd). PETLINK needs n_tang/n_view (sinogram). */
int lf_decoder_init(lf_decoder *d, lf_lm_format format, const lf_scanner *sc, int mrd, int tof_bins, int n_tang,
                    int n_view, lf_error *err);
void lf_decoder_free(lf_decoder *d);

/* Decodes nwords little-endian words from buf; byte_offset is the file offset of buf[0] (for
 * anomaly offsets). Appends up to nwords events to ev (*n_ev counts them) and non-time tags to tags
 * (capacity nwords; *n_tags counts them). Returns the number of words consumed (= nwords). */
size_t lf_decode(lf_decoder *d, const uint8_t *buf, size_t nwords, uint64_t byte_offset, lf_event *ev, size_t *n_ev,
                 lf_tag *tags, size_t *n_tags);

#endif

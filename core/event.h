/* lafov core: the one decoded event record and tag record.
 *
 * Whatever the file format (PETLINK 32-bit sinogram bins, Quadra-style 64-bit detector pairs, .ptd),
 * io/ decodes list mode into these records; everything above io/ sees only them.
 *
 * Crystal ids are the scanner's stream numbering: ring * crystals_per_ring + k (see scanner.h).
 * TOF bin follows the Quadra contract: positive = photon reached crystal a first, so the
 * annihilation lies on a's side of the LOR midpoint. Delayed events carry TOF bin 0.
 * Time is the acquisition millisecond of the last time marker before the event.
 */
#ifndef LF_EVENT_H
#define LF_EVENT_H

#include <stdint.h>

typedef struct lf_event {
    uint32_t t_ms;   /* acquisition time, ms since marker 0 */
    uint32_t a, b;   /* crystal ids (stream numbering) */
    int8_t tof;      /* TOF bin, 0 for non-TOF scanners and delayeds */
    uint8_t prompt;  /* 1 prompt, 0 delayed */
    uint16_t reserved;
} lf_event;

/* Tag classes, following PETLINK's tag classes. Time markers are counted by the decoders and turned
 * into event times; they are not delivered as tag records. */
typedef enum {
    LF_TAG_TIME = 0,
    LF_TAG_SINGLES = 1,
    LF_TAG_GATING = 2,
    LF_TAG_CONTROL = 3,
    LF_TAG_BED = 4,
    LF_TAG_UNKNOWN = 5,
    LF_TAG_NCLASSES = 6
} lf_tag_class;

typedef struct lf_tag {
    uint64_t word;   /* the raw tag: 32-bit PETLINK word in the low bits, or the 64-bit word */
    uint32_t t_ms;   /* time of the last marker before the tag */
    uint8_t cls;     /* lf_tag_class */
    uint8_t reserved[3];
} lf_tag;

/* Classifies a PETLINK 32-bit tag word (bit 31 set). */
static inline lf_tag_class lf_petlink_tag_class(uint32_t w)
{
    if ((w >> 29) == 0x4u) return LF_TAG_TIME;     /* 100 */
    if ((w >> 29) == 0x5u) return LF_TAG_SINGLES;  /* 101 */
    if ((w >> 29) == 0x6u) return LF_TAG_BED;      /* 110 */
    if ((w >> 27) == 0x1Cu) return LF_TAG_GATING;  /* 1110 0 */
    if ((w >> 24) == 0xFFu) return LF_TAG_CONTROL; /* 1111 1111 */
    return LF_TAG_UNKNOWN;
}

const char *lf_tag_class_name(lf_tag_class c);

#endif

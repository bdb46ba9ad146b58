/* lafov io: the Quadra-style 64-bit detector-pair words, to the bit (shared/reference/quadra-stream.md).
 *
 * Event (bit 63 = 0): bit 62 prompt; bits 61..56 TOF bin (6-bit two's complement); 55..54 reserved;
 * 53..36 crystal a; 35..18 crystal b; 17..0 reserved (ignored on read).
 * Tag (bit 63 = 1): upper 32 bits a PETLINK tag word, lower 32 bits its extension
 * (time marker: upper 0x80000000 + (ms & 0x1FFFFFFF), lower ms >> 29; singles: upper 0xA0000000 +
 * counts, lower block index). Example: prompt, TOF -3, a = 5, b = 7 -> 0x7D000050001C0000.
 */
#ifndef LF_QUADRA64_H
#define LF_QUADRA64_H

#include <stdint.h>

#define LF_Q64_TAG_BIT (1ull << 63)
#define LF_Q64_PROMPT_BIT (1ull << 62)
#define LF_Q64_CRYSTAL_MAX 0x3FFFFu

static inline uint64_t lf_q64_event(uint32_t a, uint32_t b, int tof, int prompt)
{
    return (prompt ? LF_Q64_PROMPT_BIT : 0) | ((uint64_t)((unsigned)tof & 0x3Fu) << 56) |
           ((uint64_t)(a & LF_Q64_CRYSTAL_MAX) << 36) | ((uint64_t)(b & LF_Q64_CRYSTAL_MAX) << 18);
}

static inline uint64_t lf_q64_time_marker(uint64_t ms)
{
    return ((uint64_t)(0x80000000u + (uint32_t)(ms & 0x1FFFFFFFu)) << 32) | (uint32_t)(ms >> 29);
}

static inline uint64_t lf_q64_singles(uint32_t singles, uint32_t block)
{
    return ((uint64_t)(0xA0000000u + (singles & 0x1FFFFFFFu)) << 32) | block;
}

/* A tag from a PETLINK 32-bit tag word and its 32-bit extension. */
static inline uint64_t lf_q64_tag(uint32_t petlink_word, uint32_t ext)
{
    return ((uint64_t)(petlink_word | 0x80000000u) << 32) | ext;
}

static inline int lf_q64_is_tag(uint64_t w) { return (int)(w >> 63); }
static inline int lf_q64_prompt(uint64_t w) { return (int)((w >> 62) & 1u); }
static inline int lf_q64_tof(uint64_t w) { return (int)((int8_t)(uint8_t)(((w >> 56) & 0x3Fu) << 2) >> 2); }
static inline uint32_t lf_q64_a(uint64_t w) { return (uint32_t)((w >> 36) & LF_Q64_CRYSTAL_MAX); }
static inline uint32_t lf_q64_b(uint64_t w) { return (uint32_t)((w >> 18) & LF_Q64_CRYSTAL_MAX); }
static inline uint64_t lf_q64_marker_ms(uint64_t w) { return ((uint64_t)(uint32_t)w << 29) | ((w >> 32) & 0x1FFFFFFFu); }

#endif

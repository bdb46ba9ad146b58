/* lafov io: little-endian loads and stores (list-mode words are little-endian on disk). */
#ifndef LF_ENDIAN_H
#define LF_ENDIAN_H

#include <stdint.h>

static inline uint32_t lf_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t lf_le64(const uint8_t *p) { return (uint64_t)lf_le32(p) | (uint64_t)lf_le32(p + 4) << 32; }

static inline void lf_store_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

#endif

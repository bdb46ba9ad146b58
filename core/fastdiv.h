/* lafov core: exact division of 32-bit unsigned integers by a run-time constant, with one 128-bit
 * multiply instead of a hardware divide (Lemire, Kaser & Kurz 2019, "Faster remainder by direct
 * computation"): with M = floor((2^64 - 1) / d) + 1, n / d = (M * n) >> 64 for every 32-bit n. */
#ifndef LF_FASTDIV_H
#define LF_FASTDIV_H

#include <stdint.h>

typedef struct lf_fastdiv {
    uint64_t m;
    uint32_t d;
} lf_fastdiv;

static inline lf_fastdiv lf_fastdiv_make(uint32_t d)
{
    lf_fastdiv f;
    f.d = d;
    f.m = d > 1 ? UINT64_MAX / d + 1 : 0;
    return f;
}

static inline uint32_t lf_fastdiv_div(lf_fastdiv f, uint32_t n)
{
    if (f.d == 1)
        return n;
    return (uint32_t)(((unsigned __int128)f.m * n) >> 64);
}

#endif

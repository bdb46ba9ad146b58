/* lafov core: reproducible random numbers (xoshiro256**, seeded through splitmix64).
 *
 * Streams are derived from (seed, stream id) so that work split into independent blocks (e.g. one
 * per 10 ms of a simulated scan) gives the same numbers whatever the number of threads:
 *   lf_rng r; lf_rng_seed(&r, seed, block_index);
 */
#ifndef LF_RNG_H
#define LF_RNG_H

#include <math.h>
#include <stdint.h>

typedef struct lf_rng {
    uint64_t s[4];
    double spare;      /* second normal deviate of Box-Muller */
    int has_spare;
} lf_rng;

static inline uint64_t lf_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline void lf_rng_seed(lf_rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (0xD1B54A32D192ED03ull * (stream + 1));
    for (int i = 0; i < 4; i++)
        r->s[i] = lf_splitmix64(&x);
    r->has_spare = 0;
    r->spare = 0;
}

static inline uint64_t lf_rng_u64(lf_rng *r)
{
    uint64_t *s = r->s;
    uint64_t x = s[1] * 5;
    uint64_t res = ((x << 7) | (x >> 57)) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = (s[3] << 45) | (s[3] >> 19);
    return res;
}

/* uniform in [0, 1) with 53 random bits */
static inline double lf_rng_uniform(lf_rng *r) { return (double)(lf_rng_u64(r) >> 11) * 0x1.0p-53; }

/* uniform in (0, 1]: safe for log() */
static inline double lf_rng_uniform_pos(lf_rng *r) { return ((double)(lf_rng_u64(r) >> 11) + 1.0) * 0x1.0p-53; }

/* uniform integer in [0, n) (Lemire's multiply; bias < n / 2^64) */
static inline uint64_t lf_rng_below(lf_rng *r, uint64_t n) { return (uint64_t)(((unsigned __int128)lf_rng_u64(r) * n) >> 64); }

static inline double lf_rng_exp(lf_rng *r) { return -log(lf_rng_uniform_pos(r)); }

/* standard normal deviate (Box-Muller, polar form) */
static inline double lf_rng_normal(lf_rng *r)
{
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u, v, s;
    do {
        u = 2.0 * lf_rng_uniform(r) - 1.0;
        v = 2.0 * lf_rng_uniform(r) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    double m = sqrt(-2.0 * log(s) / s);
    r->spare = v * m;
    r->has_spare = 1;
    return u * m;
}

/* Poisson deviate: inversion for small means, a normal approximation with continuity correction
 * above 1000 (relative error of the variance < 1e-3 there). */
static inline uint64_t lf_rng_poisson(lf_rng *r, double mean)
{
    if (!(mean > 0))
        return 0;
    if (mean > 1000.0) {
        double x = floor(mean + sqrt(mean) * lf_rng_normal(r) + 0.5);
        return x < 0 ? 0 : (uint64_t)x;
    }
    if (mean > 30.0) {
        /* split into pieces to keep exp(-mean) representable and the loop short */
        uint64_t k = 0;
        while (mean > 30.0) {
            k += lf_rng_poisson(r, 30.0);
            mean -= 30.0;
        }
        return k + lf_rng_poisson(r, mean);
    }
    double L = exp(-mean), p = 1.0;
    uint64_t k = 0;
    for (;;) {
        p *= lf_rng_uniform(r);
        if (p <= L)
            return k;
        k++;
    }
}

#endif

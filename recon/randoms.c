/* lafov recon: randoms from delayed coincidences (see randoms.h).
 * The ML loops are serial on purpose: one iteration is a few passes over the crystals (Quadra: ~1 ms), far
 * below what a parallel region's fork and barrier cost on a loaded machine. */
#include "randoms.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int lf_randoms_count_delayed(const lf_scanner *sc, int mrd, uint32_t a, uint32_t b, double *fan)
{
    if (!lf_pair_accepted(sc, a, b, mrd))
        return 0;
    fan[a] += 1.0;
    fan[b] += 1.0;
    return 1;
}

/* band[slot] = Σ over rings whose axial slot is within mrd of slot of the ring totals of s; ring[]: scratch
 * of sc->rings, band[]: of sc->slots_z. */
static void ring_band(const lf_scanner *sc, int mrd, const double *s, double *ring, double *slot, double *band)
{
    const int cpr = sc->crystals_per_ring;
    for (int r = 0; r < sc->rings; r++) {
        double t = 0;
        const double *sr = s + (size_t)r * (size_t)cpr;
        for (int k = 0; k < cpr; k++)
            t += sr[k]; /* virtual crystals hold 0 (checked or produced by the callers) */
        ring[r] = t;
    }
    for (int z = 0; z < sc->slots_z; z++)
        slot[z] = 0;
    for (int r = 0; r < sc->rings; r++)
        slot[lf_ring_slot_z(sc, r)] += ring[r];
    for (int z = 0; z < sc->slots_z; z++) {
        const int lo = z - mrd < 0 ? 0 : z - mrd, hi = z + mrd >= sc->slots_z ? sc->slots_z - 1 : z + mrd;
        double t = 0;
        for (int y = lo; y <= hi; y++)
            t += slot[y];
        band[z] = t;
    }
}

/* the fan sums with caller's scratch (rings + 2·slots_z doubles) */
static void fan_sum(const lf_scanner *sc, int mrd, const double *s, double *out, double *scratch)
{
    double *ring = scratch, *slot = scratch + sc->rings, *band = slot + sc->slots_z;
    ring_band(sc, mrd, s, ring, slot, band);
    const int cpr = sc->crystals_per_ring;
    for (int r = 0; r < sc->rings; r++) {
        const double br = band[lf_ring_slot_z(sc, r)];
        const size_t o = (size_t)r * (size_t)cpr;
        for (int k = 0; k < cpr; k++) {
            double v = lf_crystal_is_virtual(sc, k) ? 0.0 : br - s[o + (size_t)k];
            out[o + (size_t)k] = v > 0 ? v : 0.0; /* rounding can leave -1e-17 when a is alone in its band */
        }
    }
}

static double *scratch_alloc(const lf_scanner *sc)
{
    return malloc(((size_t)sc->rings + 2 * (size_t)sc->slots_z) * sizeof(double));
}

int lf_randoms_fan_sum(const lf_scanner *sc, int mrd, const double *s, double *out, lf_error *err)
{
    if (mrd < 0)
        return lf_fail(err, "randoms: maximum ring difference %d: expected >= 0", mrd);
    double *scr = scratch_alloc(sc);
    if (!scr)
        return lf_fail(err, "randoms: out of memory for the ring sums");
    fan_sum(sc, mrd, s, out, scr);
    free(scr);
    return 0;
}

/* ½ Σ_a s_a · fansum_a */
static double half_dot(const lf_scanner *sc, const double *s, const double *fs)
{
    double t = 0;
    for (int a = 0; a < sc->n_crystals; a++)
        t += s[a] * fs[a];
    return 0.5 * t;
}

int lf_randoms_expected_total(const lf_scanner *sc, int mrd, const double *s, double *total, lf_error *err)
{
    double *fs = malloc((size_t)sc->n_crystals * sizeof *fs);
    if (!fs)
        return lf_fail(err, "randoms: out of memory for %d fan sums", sc->n_crystals);
    int rc = lf_randoms_fan_sum(sc, mrd, s, fs, err);
    if (rc == 0)
        *total = half_dot(sc, s, fs);
    free(fs);
    return rc;
}

int lf_randoms_singles_ml(const lf_scanner *sc, int mrd, const double *fan, int max_iterations, double tol, double *s,
                          lf_randoms_ml_info *info, lf_error *err)
{
    memset(info, 0, sizeof *info);
    if (mrd < 0)
        return lf_fail(err, "randoms: maximum ring difference %d: expected >= 0", mrd);
    if (max_iterations <= 0)
        max_iterations = LF_RANDOMS_ML_MAX_ITERATIONS;
    if (!(tol > 0))
        tol = LF_RANDOMS_ML_TOLERANCE;
    const int n = sc->n_crystals;
    double fsum = 0;
    for (int a = 0; a < n; a++) {
        const double f = fan[a];
        const int virt = lf_crystal_is_virtual(sc, lf_crystal_index(sc, (uint32_t)a));
        if (!(f >= 0) || !isfinite(f) || (virt && f != 0))
            return lf_fail(err, "randoms: delayed fan sum of crystal %d is %g: expected a finite count >= 0%s", a, f,
                           virt ? " (0 for a virtual crystal)" : "");
        fsum += f;
        if (!virt && f == 0)
            info->crystals_no_delayeds++;
    }
    info->delayeds = 0.5 * fsum;
    if (fsum == 0) {
        memset(s, 0, (size_t)n * sizeof *s);
        info->converged = 1;
        return 0;
    }
    double *fs = malloc((size_t)n * sizeof *fs), *scr = scratch_alloc(sc);
    if (!fs || !scr) {
        free(fs);
        free(scr);
        return lf_fail(err, "randoms: out of memory for %d fan sums", n);
    }
    const double s0 = 1.0 / sqrt(fsum);
    for (int a = 0; a < n; a++)
        s[a] = fan[a] * s0;
    double res = INFINITY;
    int it = 0;
    for (;;) {
        fan_sum(sc, mrd, s, fs, scr);
        res = 0;
        for (int a = 0; a < n; a++)
            if (fan[a] > 0) {
                const double d = fabs(s[a] * fs[a] / fan[a] - 1.0);
                if (d > res)
                    res = d;
            }
        if (res <= tol || it == max_iterations)
            break;
        for (int a = 0; a < n; a++)
            s[a] = fan[a] > 0 && fs[a] > 0 ? sqrt(s[a] * fan[a] / fs[a]) : 0.0;
        it++;
    }
    info->iterations = it;
    info->max_residual = res;
    info->converged = res <= tol;
    info->expected_total = half_dot(sc, s, fs);
    free(fs);
    free(scr);
    return 0;
}

void lf_randoms_per_event(const double *s, const uint32_t *a, const uint32_t *b, size_t n, double per_bin, float *add)
{
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++)
        add[i] = (float)(per_bin * s[a[i]] * s[b[i]]);
}

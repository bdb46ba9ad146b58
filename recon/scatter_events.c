/* lafov recon: scatter of individual events by interpolation on the coarse detector pairs (scatter.h). */
#include "scatter.h"

#include <math.h>

/* Bilinear corners of a crystal: coarse detector ids c[2][2] (angle × axial) and weights w[2][2]. */
static void corners(const lf_scatter_table *t, uint32_t id, int c[4], float w[4])
{
    int k = (int)(id % (uint32_t)t->crystals_per_ring), ring = (int)(id / (uint32_t)t->crystals_per_ring);
    float u = t->u_of_k[k], v = t->v_of_ring[ring];
    int i0 = (int)floorf(u);
    float fu = u - (float)i0;
    i0 %= t->n_t;
    int i1 = (i0 + 1) % t->n_t;
    int j0, j1;
    float fv;
    if (t->n_z < 2) {
        j0 = j1 = 0;
        fv = 0.0f;
    } else {
        j0 = (int)floorf(v);
        j0 = j0 < 0 ? 0 : j0 > t->n_z - 2 ? t->n_z - 2 : j0;
        j1 = j0 + 1;
        fv = v - (float)j0;
        fv = fv < 0.0f ? 0.0f : fv > 1.0f ? 1.0f : fv;
    }
    c[0] = j0 * t->n_t + i0;
    c[1] = j0 * t->n_t + i1;
    c[2] = j1 * t->n_t + i0;
    c[3] = j1 * t->n_t + i1;
    w[0] = (1.0f - fu) * (1.0f - fv);
    w[1] = fu * (1.0f - fv);
    w[2] = (1.0f - fu) * fv;
    w[3] = fu * fv;
}

/* S of coarse pair (A, B), A as crystal a, TOF bin index tb (0..n_bins-1) or -1 for the total. */
static float pair_value(const lf_scatter_table *t, int A, int B, int tb)
{
    if (A == B)
        return 0.0f;
    if (tb < 0)
        return A < B ? t->s_total[lf_scatter_pair(t->n_det, A, B)] : t->s_total[lf_scatter_pair(t->n_det, B, A)];
    if (A < B)
        return t->s[lf_scatter_pair(t->n_det, A, B) * (size_t)t->n_bins + (size_t)tb];
    return t->s[lf_scatter_pair(t->n_det, B, A) * (size_t)t->n_bins + (size_t)(t->n_bins - 1 - tb)];
}

int lf_scatter_events(const lf_scatter_table *t, const uint32_t *a, const uint32_t *b, const int8_t *tof_bins, size_t n,
                      const float *eff, double scale, float *out, lf_error *err)
{
    if (!t || (n > 0 && (!a || !b || !out)))
        return lf_fail(err, "scatter events: table, crystal arrays and output are required");
    const uint32_t nc = (uint32_t)t->crystals_per_ring * (uint32_t)t->rings;
    const int half = (t->n_bins - 1) / 2;
    long long bad = -1;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        int tb = -1;
        if (tof_bins && t->n_bins > 1) {
            int v = tof_bins[i];
            if (v < -half || v > half) {
#pragma omp critical(lf_scatter_bad)
                if (bad < 0 || (long long)i < bad)
                    bad = (long long)i;
                out[i] = 0.0f;
                continue;
            }
            tb = v + half;
        }
        if (a[i] >= nc || b[i] >= nc) {
#pragma omp critical(lf_scatter_bad)
            if (bad < 0 || (long long)i < bad)
                bad = (long long)i;
            out[i] = 0.0f;
            continue;
        }
        int ca[4], cb[4];
        float wa[4], wb[4];
        corners(t, a[i], ca, wa);
        corners(t, b[i], cb, wb);
        float s = 0.0f;
        for (int p = 0; p < 4; p++) {
            if (wa[p] == 0.0f)
                continue;
            float sp = 0.0f;
            for (int q = 0; q < 4; q++)
                if (wb[q] != 0.0f)
                    sp += wb[q] * pair_value(t, ca[p], cb[q], tb);
            s += wa[p] * sp;
        }
        if (eff)
            s *= eff[a[i]] * eff[b[i]];
        out[i] = (float)(scale * s);
    }
    if (bad >= 0) {
        size_t i = (size_t)bad;
        if (a[i] >= nc || b[i] >= nc)
            return lf_fail(err, "scatter events: event %zu has crystal pair (%u, %u), expected ids below %u", i, a[i],
                           b[i], nc);
        return lf_fail(err, "scatter events: event %zu has TOF bin %d, expected -%d..%d", i, tof_bins[i], half, half);
    }
    return 0;
}

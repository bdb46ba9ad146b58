/* lafov recon: the normalisation's cylinder model and maximum-likelihood fan-sum fit (see norm.h). */
#include "norm.h"

#include <fftw3.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mumap.h"
#include "response.h"

#define LF_NORM_HU_THRESHOLD (-500.0)

/* ---- the cylinder ---- */

int lf_norm_cylinder_from_ct(const lf_volume *ct, double kvp, lf_norm_cylinder *c, lf_error *err)
{
    memset(c, 0, sizeof *c);
    const int nx = ct->n[0], ny = ct->n[1], nz = ct->n[2];
    const size_t slice = (size_t)nx * ny;
    lf_hu2mu_table t;
    const lf_hu2mu_row *row;
    if (lf_hu2mu_load(NULL, &t, err) != 0 || lf_hu2mu_select(&t, kvp, &row, err) != 0)
        return lf_fail_prefix(err, "cylinder μ");
    uint64_t *area = calloc((size_t)nz, sizeof *area);
    if (!area)
        return lf_fail(err, "out of memory");
    double sx = 0, sy = 0, sz = 0, smu = 0;
    uint64_t n = 0;
    for (int k = 0; k < nz; k++)
        for (int j = 0; j < ny; j++)
            for (int i = 0; i < nx; i++) {
                const float hu = ct->data[(size_t)k * slice + (size_t)j * nx + i];
                if (!(hu > LF_NORM_HU_THRESHOLD))
                    continue;
                double p[3];
                lf_volume_voxel_mm(ct, i, j, k, p);
                sx += p[0], sy += p[1], sz += p[2];
                smu += lf_hu2mu_eval(row, hu);
                area[k]++;
                n++;
            }
    if (n == 0) {
        free(area);
        return lf_fail(err, "no CT voxel above %g HU: expected a water-filled cylinder", LF_NORM_HU_THRESHOLD);
    }
    if (area[0] > 0 || area[nz - 1] > 0) {
        const int first = area[0] > 0;
        free(area);
        return lf_fail(err, "the cylinder (voxels above %g HU) reaches the CT's %s slice: its length and volume "
                            "cannot be measured (expected a CT covering the whole cylinder)",
                       LF_NORM_HU_THRESHOLD, first ? "first" : "last");
    }
    uint64_t amax = 0;
    for (int k = 0; k < nz; k++)
        if (area[k] > amax)
            amax = area[k];
    int k0 = -1, k1 = -1;
    double full = 0;
    for (int k = 0; k < nz; k++)
        if (area[k] * 2 > amax) {
            if (k0 < 0)
                k0 = k;
            k1 = k;
            full += (double)area[k];
        }
    free(area);
    const double vx = ct->vox_mm[0], vy = ct->vox_mm[1], vz = ct->vox_mm[2];
    c->centre_mm[0] = sx / (double)n;
    c->centre_mm[1] = sy / (double)n;
    c->centre_mm[2] = sz / (double)n;
    c->radius_mm = sqrt(full / (k1 - k0 + 1) * vx * vy / M_PI);
    double za[3], zb[3];
    lf_volume_voxel_mm(ct, 0, 0, k0 - 0.5, za);
    lf_volume_voxel_mm(ct, 0, 0, k1 + 0.5, zb);
    c->z0_mm = fmin(za[2], zb[2]);
    c->z1_mm = fmax(za[2], zb[2]);
    c->mu_per_mm = 0.1 * smu / (double)n;
    c->volume_ml = (double)n * vx * vy * vz * 1e-3;
    return 0;
}

double lf_norm_chord_mm(const lf_norm_cylinder *c, const float p1[3], const float p2[3])
{
    const double d[3] = {p2[0] - p1[0], p2[1] - p1[1], p2[2] - p1[2]};
    const double qx = p1[0] - c->centre_mm[0], qy = p1[1] - c->centre_mm[1];
    double lo = 0, hi = 1;
    const double A = d[0] * d[0] + d[1] * d[1];
    const double C = qx * qx + qy * qy - c->radius_mm * c->radius_mm;
    if (A < 1e-12) {
        if (C > 0)
            return 0;
    } else {
        const double B = 2 * (qx * d[0] + qy * d[1]);
        const double disc = B * B - 4 * A * C;
        if (disc <= 0)
            return 0;
        const double s = sqrt(disc);
        lo = fmax(lo, (-B - s) / (2 * A));
        hi = fmin(hi, (-B + s) / (2 * A));
    }
    if (fabs(d[2]) < 1e-12) {
        if (p1[2] < c->z0_mm || p1[2] > c->z1_mm)
            return 0;
    } else {
        double t0 = (c->z0_mm - p1[2]) / d[2], t1 = (c->z1_mm - p1[2]) / d[2];
        lo = fmax(lo, fmin(t0, t1));
        hi = fmin(hi, fmax(t0, t1));
    }
    return hi > lo ? (hi - lo) * sqrt(A + d[2] * d[2]) : 0;
}

static double model_lor(const lf_scanner *sc, const lf_norm_cylinder *c, const float lor[6])
{
    const double L = lf_norm_chord_mm(c, lor, lor + 3);
    if (L <= 0)
        return 0;
    return (double)lf_response_lor(sc, lor) * exp(-c->mu_per_mm * L) * L;
}

double lf_norm_pair_model(const lf_scanner *sc, int mrd, const lf_norm_cylinder *c, uint32_t a, uint32_t b)
{
    if (!lf_pair_accepted(sc, a, b, mrd))
        return 0;
    float lor[6];
    lf_lor_endpoints_mm(sc, a, b, lor, lor + 3);
    return model_lor(sc, c, lor);
}

/* ---- the fan model ---- */

struct lf_norm_fanmodel {
    const lf_scanner *sc;
    int rings, N, nf;             /* rings, transaxial slots, N/2 + 1 */
    int *pair;                    /* [rings*rings]: spectrum index or -1 */
    int n_pairs;
    fftwf_complex *spec;          /* [n_pairs][nf]: FFT of G~[m] = G[(N - m) mod N] */
    int *slot_of_k;               /* [crystals_per_ring]: slot, or -1 for a virtual crystal */
    fftwf_plan fwd, bwd;
};

void lf_norm_fanmodel_free(lf_norm_fanmodel *m)
{
    if (!m)
        return;
#pragma omp critical(lf_fftw_planner)
    {
        if (m->fwd)
            fftwf_destroy_plan(m->fwd);
        if (m->bwd)
            fftwf_destroy_plan(m->bwd);
    }
    fftwf_free(m->spec);
    free(m->pair);
    free(m->slot_of_k);
    free(m);
}

int lf_norm_fanmodel_build(const lf_scanner *sc, int mrd, const lf_norm_cylinder *cyl, lf_norm_fanmodel **out,
                           lf_error *err)
{
    *out = NULL;
    if (mrd < 0)
        return lf_fail(err, "norm: maximum ring difference %d: expected >= 0", mrd);
    if (!(cyl->radius_mm > 0) || !(cyl->z1_mm > cyl->z0_mm))
        return lf_fail(err, "norm: cylinder radius %g mm, z %g..%g mm: expected a positive radius and length",
                       cyl->radius_mm, cyl->z0_mm, cyl->z1_mm);
    lf_norm_fanmodel *m = calloc(1, sizeof *m);
    if (!m)
        return lf_fail(err, "out of memory");
    m->sc = sc;
    m->rings = sc->rings;
    m->N = sc->slots_t;
    m->nf = m->N / 2 + 1;
    m->pair = malloc((size_t)m->rings * m->rings * sizeof *m->pair);
    m->slot_of_k = malloc((size_t)sc->crystals_per_ring * sizeof *m->slot_of_k);
    if (!m->pair || !m->slot_of_k) {
        lf_norm_fanmodel_free(m);
        return lf_fail(err, "out of memory");
    }
    for (int k = 0; k < sc->crystals_per_ring; k++)
        m->slot_of_k[k] = lf_crystal_is_virtual(sc, k) ? -1 : lf_crystal_slot_t(sc, k);
    for (int ra = 0; ra < m->rings; ra++)
        for (int rb = 0; rb < m->rings; rb++) {
            int d = lf_ring_slot_z(sc, ra) - lf_ring_slot_z(sc, rb);
            m->pair[ra * m->rings + rb] = abs(d) <= mrd ? m->n_pairs++ : -1;
        }
    m->spec = fftwf_malloc((size_t)m->n_pairs * m->nf * sizeof *m->spec);
    float *tmp = fftwf_malloc((size_t)m->N * sizeof *tmp);
    fftwf_complex *ctmp = fftwf_malloc((size_t)m->nf * sizeof *ctmp);
    if (!m->spec || !tmp || !ctmp) {
        fftwf_free(tmp);
        fftwf_free(ctmp);
        const int np = m->n_pairs, N = m->N;
        lf_norm_fanmodel_free(m);
        return lf_fail(err, "out of memory for the fan model (%d ring pairs x %d slots)", np, N);
    }
#pragma omp critical(lf_fftw_planner)
    {
        m->fwd = fftwf_plan_dft_r2c_1d(m->N, tmp, ctmp, FFTW_ESTIMATE);
        m->bwd = fftwf_plan_dft_c2r_1d(m->N, ctmp, tmp, FFTW_ESTIMATE);
    }
    fftwf_free(tmp);
    fftwf_free(ctmp);
    if (!m->fwd || !m->bwd) {
        const int N = m->N;
        lf_norm_fanmodel_free(m);
        return lf_fail(err, "norm: FFTW could not plan a transform of %d slots", N);
    }
    /* the model is rotationally symmetric: the cylinder on the scanner axis */
    lf_norm_cylinder c = *cyl;
    c.centre_mm[0] = c.centre_mm[1] = 0;
    const double R = sc->ring_radius_mm + sc->doi_mm;
    const int N = m->N, rings = m->rings;
    int fail = 0;
#pragma omp parallel
    {
        float *g = fftwf_malloc((size_t)N * sizeof *g);
        if (!g) {
#pragma omp atomic write
            fail = 1;
        }
#pragma omp for schedule(dynamic)
        for (int ra = 0; ra < rings; ra++) {
            if (!g)
                continue;
            for (int rb = 0; rb < rings; rb++) {
                const int p = m->pair[ra * rings + rb];
                if (p < 0)
                    continue;
                const float za = (float)lf_ring_z_mm(sc, ra), zb = (float)lf_ring_z_mm(sc, rb);
                /* G~[mm] = G[Δ] with Δ = (N - mm) mod N: a at slot 0, b at slot Δ */
                for (int mm = 0; mm < N; mm++) {
                    const int dlt = (N - mm) % N;
                    if (dlt == 0) {
                        g[mm] = 0;
                        continue;
                    }
                    const double pa = sc->angle_offset_rad, pb = 2 * M_PI * dlt / N + sc->angle_offset_rad;
                    const float lor[6] = {(float)(R * cos(pa)), (float)(R * sin(pa)), za,
                                          (float)(R * cos(pb)), (float)(R * sin(pb)), zb};
                    g[mm] = (float)model_lor(sc, &c, lor);
                }
                fftwf_execute_dft_r2c(m->fwd, g, m->spec + (size_t)p * m->nf);
            }
        }
        fftwf_free(g);
    }
    if (fail) {
        lf_norm_fanmodel_free(m);
        return lf_fail(err, "out of memory");
    }
    *out = m;
    return 0;
}

int lf_norm_fan_expect(const lf_norm_fanmodel *m, const float *eff, double *S, lf_error *err)
{
    const lf_scanner *sc = m->sc;
    const int N = m->N, nf = m->nf, rings = m->rings, cpr = sc->crystals_per_ring;
    fftwf_complex *E = fftwf_malloc((size_t)rings * nf * sizeof *E);
    if (!E)
        return lf_fail(err, "out of memory");
    int fail = 0;
#pragma omp parallel
    {
        float *x = fftwf_malloc((size_t)N * sizeof *x);
        fftwf_complex *acc = fftwf_malloc((size_t)nf * sizeof *acc);
        if (!x || !acc) {
#pragma omp atomic write
            fail = 1;
        }
#pragma omp for schedule(static)
        for (int r = 0; r < rings; r++) {
            if (!x || !acc)
                continue;
            memset(x, 0, (size_t)N * sizeof *x);
            for (int k = 0; k < cpr; k++)
                if (m->slot_of_k[k] >= 0)
                    x[m->slot_of_k[k]] = eff[lf_crystal_id(sc, r, k)];
            fftwf_execute_dft_r2c(m->fwd, x, E + (size_t)r * nf);
        }
#pragma omp for schedule(dynamic)
        for (int ra = 0; ra < rings; ra++) {
            if (!x || !acc)
                continue;
            memset(acc, 0, (size_t)nf * sizeof *acc);
            for (int rb = 0; rb < rings; rb++) {
                const int p = m->pair[ra * rings + rb];
                if (p < 0)
                    continue;
                const fftwf_complex *e = E + (size_t)rb * nf, *gs = m->spec + (size_t)p * nf;
                for (int f = 0; f < nf; f++) {
                    acc[f][0] += e[f][0] * gs[f][0] - e[f][1] * gs[f][1];
                    acc[f][1] += e[f][0] * gs[f][1] + e[f][1] * gs[f][0];
                }
            }
            fftwf_execute_dft_c2r(m->bwd, acc, x);
            for (int k = 0; k < cpr; k++)
                S[lf_crystal_id(sc, ra, k)] = m->slot_of_k[k] >= 0 ? (double)x[m->slot_of_k[k]] / N : 0.0;
        }
        fftwf_free(x);
        fftwf_free(acc);
    }
    fftwf_free(E);
    return fail ? lf_fail(err, "out of memory") : 0;
}

int lf_norm_fit(const lf_norm_fanmodel *m, const double *F, int max_iter, double tol, float *eff,
                lf_norm_fit_info *info, lf_error *err)
{
    const lf_scanner *sc = m->sc;
    const int nc = sc->n_crystals;
    if (max_iter <= 0)
        max_iter = 500;
    if (!(tol > 0))
        tol = 1e-7;
    memset(info, 0, sizeof *info);
    double *S = malloc((size_t)nc * sizeof *S);
    if (!S)
        return lf_fail(err, "out of memory");
    for (int i = 0; i < nc; i++) {
        const int real = !lf_crystal_is_virtual(sc, lf_crystal_index(sc, (uint32_t)i));
        eff[i] = real && F[i] > 0 ? 1.0f : 0.0f;
        if (real && F[i] > 0)
            info->n_fitted++;
        else if (real)
            info->n_zero++;
    }
    if (info->n_fitted == 0) {
        free(S);
        return lf_fail(err, "norm: no crystal has counts (fan sums of prompts minus delayeds are all <= 0)");
    }
    int rc = 0;
    for (int it = 0; it < max_iter; it++) {
        if ((rc = lf_norm_fan_expect(m, eff, S, err)) != 0)
            break;
        /* S becomes the damped update; the scale is fixed afterwards (mean 1), so the change is measured
         * after it */
        double sum = 0;
        for (int i = 0; i < nc; i++) {
            if (eff[i] <= 0)
                continue;
            if (!(S[i] > 0)) {
                free(S);
                return lf_fail(err, "norm: crystal %d has counts but no LOR of its fan crosses the cylinder "
                                    "(expected a cylinder filling the field of view)", i);
            }
            S[i] = sqrt((double)eff[i] * F[i] / S[i]);
            sum += S[i];
        }
        const double scale = info->n_fitted / sum;
        double change = 0;
        for (int i = 0; i < nc; i++) {
            if (eff[i] <= 0)
                continue;
            const double e = S[i] * scale;
            change = fmax(change, fabs(e / eff[i] - 1));
            eff[i] = (float)e;
        }
        info->iterations = it + 1;
        info->last_change = change;
        if (change < tol)
            break;
    }
    free(S);
    return rc;
}

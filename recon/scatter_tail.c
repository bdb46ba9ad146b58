/* lafov recon: scaling the single scatter estimate to the data by a tail fit (scatter.h). */
#include "scatter.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/rng.h"

#define TRACE_BATCH ((size_t)1 << 20)

static void tail_opts(const lf_scatter_opts *in, lf_scatter_opts *o)
{
    lf_scatter_opts_defaults(o);
    if (!in)
        return;
    if (in->tail_acf > 0)
        o->tail_acf = in->tail_acf;
    if (in->tail_margin_mm != 0)
        o->tail_margin_mm = in->tail_margin_mm;
    if (in->tail_samples > 0)
        o->tail_samples = in->tail_samples;
    o->seed = in->seed;
}

/* μ dilated by a ball of radius margin_mm: every voxel of μ = 0 takes the largest μ within the ball (voxels
 * inside the body keep theirs; only LORs outside it matter). A copy when margin <= 0. */
static float *dilate(const lf_grid *g, const float *mu, double margin_mm)
{
    size_t nv = lf_grid_voxels(g);
    float *out = malloc(nv * sizeof *out);
    if (!out)
        return NULL;
    memcpy(out, mu, nv * sizeof *out);
    if (!(margin_mm > 0))
        return out;
    int h[3], no = 0;
    for (int ax = 0; ax < 3; ax++)
        h[ax] = (int)floor(margin_mm / g->voxel_mm[ax] + 1e-6);
    int *off = malloc((size_t)(2 * h[0] + 1) * (2 * h[1] + 1) * (2 * h[2] + 1) * 3 * sizeof *off);
    if (!off) {
        free(out);
        return NULL;
    }
    for (int dz = -h[2]; dz <= h[2]; dz++)
        for (int dy = -h[1]; dy <= h[1]; dy++)
            for (int dx = -h[0]; dx <= h[0]; dx++) {
                double x = dx * g->voxel_mm[0], y = dy * g->voxel_mm[1], z = dz * g->voxel_mm[2];
                if ((dx || dy || dz) && x * x + y * y + z * z <= margin_mm * margin_mm * (1 + 1e-9)) {
                    off[3 * no] = dx;
                    off[3 * no + 1] = dy;
                    off[3 * no + 2] = dz;
                    no++;
                }
            }
    const int nx = g->n[0], ny = g->n[1], nz = g->n[2];
#pragma omp parallel for schedule(static)
    for (int k = 0; k < nz; k++)
        for (int j = 0; j < ny; j++)
            for (int i = 0; i < nx; i++) {
                size_t v = (size_t)i + (size_t)nx * ((size_t)j + (size_t)ny * k);
                if (mu[v] > 0.0f)
                    continue;
                float m = 0.0f;
                for (int q = 0; q < no; q++) {
                    int x = i + off[3 * q], y = j + off[3 * q + 1], z = k + off[3 * q + 2];
                    if (x >= 0 && x < nx && y >= 0 && y < ny && z >= 0 && z < nz)
                        m = fmaxf(m, mu[(size_t)x + (size_t)nx * ((size_t)y + (size_t)ny * z)]);
                }
                out[v] = m;
            }
    free(off);
    return out;
}

/* tail[i] for n crystal pairs: ∫μ (Siddon through mu in 1/cm) below li_max. */
static int classify(const lf_scanner *sc, const lf_grid *g, const float *mu, const uint32_t *a, const uint32_t *b,
                    size_t n, double li_max, uint8_t *tail, lf_error *err)
{
    size_t cap = n < TRACE_BATCH ? n : TRACE_BATCH;
    float *lors = malloc((cap ? cap : 1) * 6 * sizeof *lors), *li = malloc((cap ? cap : 1) * sizeof *li);
    if (!lors || !li) {
        free(lors);
        free(li);
        return lf_fail(err, "out of memory for %zu LORs", cap);
    }
    for (size_t i0 = 0; i0 < n; i0 += cap) {
        size_t m = n - i0 < cap ? n - i0 : cap;
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < m; i++)
            lf_lor_endpoints_mm(sc, a[i0 + i], b[i0 + i], lors + 6 * i, lors + 6 * i + 3);
        if (lf_proj_fwd(LF_PROJ_SIDDON, g, mu, lors, m, NULL, NULL, li, err) != 0) {
            free(lors);
            free(li);
            return lf_fail_prefix(err, "scatter tail: attenuation line integrals");
        }
        for (size_t i = 0; i < m; i++)
            tail[i0 + i] = 0.1 * (double)li[i] < li_max;
    }
    free(lors);
    free(li);
    return 0;
}

int lf_scatter_tail_mask(const lf_scanner *sc, const lf_grid *g, const float *mu_per_cm, const uint32_t *a,
                         const uint32_t *b, size_t n, const lf_scatter_opts *opts, uint8_t *tail, lf_error *err)
{
    if (!sc || !g || !mu_per_cm || (n > 0 && (!a || !b || !tail)))
        return lf_fail(err, "scatter tail mask: scanner, grid, mu map, events and output are required");
    if (lf_proj_check(g, NULL, err) != 0)
        return lf_fail_prefix(err, "scatter tail mask");
    lf_scatter_opts o;
    tail_opts(opts, &o);
    if (!(o.tail_acf > 1.0f))
        return lf_fail(err, "scatter options: tail_acf %g must exceed 1 (an attenuation correction factor)",
                       (double)o.tail_acf);
    const uint32_t nc = (uint32_t)sc->n_crystals;
    for (size_t i = 0; i < n; i++)
        if (a[i] >= nc || b[i] >= nc)
            return lf_fail(err, "scatter tail mask: event %zu has crystal pair (%u, %u), expected ids below %u", i, a[i],
                           b[i], nc);
    float *md = dilate(g, mu_per_cm, o.tail_margin_mm);
    if (!md)
        return lf_fail(err, "out of memory for the dilated mu map");
    int rc = classify(sc, g, md, a, b, n, log((double)o.tail_acf), tail, err);
    free(md);
    return rc;
}

int lf_scatter_tail_fit(const lf_scatter_table *t, const lf_scanner *sc, int mrd, const lf_grid *g,
                        const float *mu_per_cm, const float *eff, const double *singles, const uint32_t *a,
                        const uint32_t *b, const uint8_t *tail, size_t n, const lf_scatter_opts *opts,
                        lf_scatter_fit *fit, lf_error *err)
{
    memset(fit, 0, sizeof *fit);
    if (!t || !sc || !g || !mu_per_cm || (n > 0 && !tail && (!a || !b)))
        return lf_fail(err, "scatter tail fit: table, scanner, grid, mu map and events are required");
    if (t->crystals_per_ring != sc->crystals_per_ring || t->rings != sc->rings)
        return lf_fail(err, "scatter tail fit: the table was made for %d x %d crystals, the scanner '%s' has %d x %d",
                       t->crystals_per_ring, t->rings, sc->name, sc->crystals_per_ring, sc->rings);
    if (mrd < 0)
        mrd = sc->mrd;
    lf_scatter_opts o;
    tail_opts(opts, &o);
    int rc = -1;
    uint8_t *own = NULL, *stail = NULL;
    uint32_t *sa = NULL, *sb = NULL;
    float *sv = NULL, *md = NULL;
    int *real = NULL;

    /* N_tail */
    if (!tail && n > 0) {
        own = malloc(n);
        if (!own) {
            lf_fail(err, "out of memory for %zu tail flags", n);
            goto done;
        }
        if (lf_scatter_tail_mask(sc, g, mu_per_cm, a, b, n, &o, own, err) != 0)
            goto done;
        tail = own;
    }
    double ntail = 0;
    for (size_t i = 0; i < n; i++)
        ntail += tail[i] != 0;
    fit->n_tail = ntail;

    /* the acceptance: real crystals, ring pairs within mrd */
    int nr = 0;
    real = malloc((size_t)sc->crystals_per_ring * sizeof *real);
    if (!real) {
        lf_fail(err, "out of memory");
        goto done;
    }
    for (int k = 0; k < sc->crystals_per_ring; k++)
        if (!lf_crystal_is_virtual(sc, k))
            real[nr++] = k;
    double lors = 0;
    for (int r1 = 0; r1 < sc->rings; r1++)
        for (int r2 = r1; r2 < sc->rings; r2++)
            if (abs(lf_ring_slot_z(sc, r1) - lf_ring_slot_z(sc, r2)) <= mrd)
                lors += r1 == r2 ? 0.5 * nr * (nr - 1.0) : (double)nr * nr;
    fit->lors = lors;
    if (nr == 0 || !(lors > 0)) {
        lf_fail(err, "scatter tail fit: scanner '%s' has no LOR within MRD %d", sc->name, mrd);
        goto done;
    }

    /* S_tail, R_tail, S_all from LORs drawn uniformly from the acceptance (ordered draws, a != b) */
    const size_t ns = (size_t)o.tail_samples;
    sa = malloc(ns * sizeof *sa);
    sb = malloc(ns * sizeof *sb);
    sv = malloc(ns * sizeof *sv);
    stail = malloc(ns);
    md = dilate(g, mu_per_cm, o.tail_margin_mm);
    if (!sa || !sb || !sv || !stail || !md) {
        lf_fail(err, "out of memory for %zu tail samples", ns);
        goto done;
    }
    lf_rng rng;
    lf_rng_seed(&rng, o.seed, 0x7A11ull);
    for (size_t got = 0, tries = 0; got < ns; tries++) {
        if (tries > 1000 * ns) {
            lf_fail(err, "scatter tail fit: drawing LORs of the acceptance failed (MRD %d)", mrd);
            goto done;
        }
        uint32_t ca = lf_crystal_id(sc, (int)lf_rng_below(&rng, (uint64_t)sc->rings), real[lf_rng_below(&rng, (uint64_t)nr)]);
        uint32_t cb = lf_crystal_id(sc, (int)lf_rng_below(&rng, (uint64_t)sc->rings), real[lf_rng_below(&rng, (uint64_t)nr)]);
        if (!lf_pair_accepted(sc, ca, cb, mrd))
            continue;
        sa[got] = ca;
        sb[got] = cb;
        got++;
    }
    if (classify(sc, g, md, sa, sb, ns, log((double)o.tail_acf), stail, err) != 0 ||
        lf_scatter_events(t, sa, sb, NULL, ns, eff, 1.0, sv, err) != 0)
        goto done;
    double st = 0, rt = 0, sall = 0, nt = 0;
    for (size_t i = 0; i < ns; i++) {
        sall += sv[i];
        if (stail[i]) {
            nt += 1;
            st += sv[i];
            if (singles)
                rt += singles[sa[i]] * singles[sb[i]];
        }
    }
    const double w = lors / (double)ns;
    fit->s_tail = st * w;
    fit->r_tail = rt * w;
    fit->s_all = sall * w;
    fit->tail_fraction = nt / (double)ns;
    fit->alpha = fit->s_tail > 0 ? fmax(0.0, (fit->n_tail - fit->r_tail) / fit->s_tail) : 0.0;
    rc = 0;
done:
    free(own);
    free(stail);
    free(real);
    free(sv);
    free(sa);
    free(sb);
    free(md);
    return rc;
}

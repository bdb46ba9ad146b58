/* lafov_bench_sensitivity: wall times and errors of the sensitivity image (recon/sensitivity.h).
 *
 *   lafov_bench_sensitivity [--threads T] [--skip-quadra] [--skip-error] [--case NAME]... [--rings R]
 *                           [--mrd M] [--no-eff] [--no-mu] [--ref-dir DIR] [--cells C]
 *                           [--coarse KC KR KV]   (the attenuation pass's options; 0: default)
 *
 *   1. Quadra, 213 x 213 x 322 voxels of 3.3 mm centred at 0: the geometric sensitivity (response on)
 *      at MRD 322 and 85, and the full image (default factor method) with a body-like μ map: elliptical
 *      water cylinder 350 x 250 mm over 900 mm, two lungs (μ 0.03, |z| <= 150), a spine (0.17), random
 *      crystal efficiencies 0.8..1.2 (seeded).
 *   2. Error cases (--case, repeatable; default quadra): the full image (μ + efficiencies) of both factor
 *      methods against the exact brute force (every LOR, Siddon); max / RMS relative error inside the body
 *      (μ > 0, voxels with the reference > 1 % of its maximum) and in its core (also no voxel with μ = 0
 *      among the 26 neighbours).
 *        quadra   the Quadra's transaxial geometry, one axial unit of R rings (--rings, default 12; MRD R-1),
 *                 213 x 213 x R*pitch/3.3 voxels, the body above
 *        dense    the unit test's: mini widened to 192 crystals x 8 rings, 40x40x10 @ 4 mm, water r 60 mm
 *                 with a lung insert and a bone rod
 *        small    data/scanners/small.scanner (216 crystals x 20 rings, MRD 20), 62x62x21 @ 3.3 mm, a torso
 *                 (water 90 x 65 mm, lungs ending at z = +15 mm, spine)
 *        oblique  small with 2 x 30 rings (61 slots, 200 mm, MRD 60; obliquity up to sec 1.26), 62x62x61
 *      --mrd overrides the case's MRD, --no-eff / --no-mu drop the efficiencies / attenuation; --ref-dir
 *      caches the brute-force images there (they take seconds to minutes).
 * T OpenMP threads (default 2). Nothing is asserted; the figures are printed.
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/rng.h"
#include "io/scanner_file.h"
#include "recon/sensitivity.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* the body: elliptical water cylinder (semi-axes 175 x 125 mm, |z| <= 450), lungs, spine */
static float body_mu(double x, double y, double z)
{
    if ((x / 175.0) * (x / 175.0) + (y / 125.0) * (y / 125.0) > 1.0 || fabs(z) > 450.0)
        return 0.0f;
    if (x * x + (y + 80.0) * (y + 80.0) <= 15.0 * 15.0)
        return 0.17f; /* spine */
    for (int s = -1; s <= 1; s += 2) {
        double dx = (x - s * 75.0) / 55.0, dy = (y - 5.0) / 80.0;
        if (dx * dx + dy * dy <= 1.0 && fabs(z) <= 150.0)
            return 0.03f; /* lungs */
    }
    return 0.096f;
}

static float *make_mu(const lf_grid *g)
{
    float *mu = malloc(lf_grid_voxels(g) * sizeof *mu);
    if (!mu)
        return NULL;
    for (int z = 0; z < g->n[2]; z++)
        for (int y = 0; y < g->n[1]; y++)
            for (int x = 0; x < g->n[0]; x++)
                mu[x + (size_t)g->n[0] * (y + (size_t)g->n[1] * z)] =
                    body_mu(g->origin_mm[0] + x * g->voxel_mm[0], g->origin_mm[1] + y * g->voxel_mm[1],
                            g->origin_mm[2] + z * g->voxel_mm[2]);
    return mu;
}

static float *make_eff(const lf_scanner *sc)
{
    float *e = malloc((size_t)sc->n_crystals * sizeof *e);
    if (!e)
        return NULL;
    lf_rng r;
    lf_rng_seed(&r, 7, 0);
    for (int c = 0; c < sc->n_crystals; c++)
        e[c] = (float)(0.8 + 0.4 * lf_rng_uniform(&r));
    return e;
}

static void rel_err(const float *a, const float *ref, const float *mask, size_t nv, double *mx, double *rms)
{
    float top = 0.0f;
    for (size_t j = 0; j < nv; j++)
        top = fmaxf(top, ref[j]);
    double m = 0.0, s2 = 0.0;
    size_t n = 0;
    for (size_t j = 0; j < nv; j++) {
        if ((mask && !(mask[j] > 0.0f)) || !(ref[j] > 0.01f * top))
            continue;
        double r = fabs((double)a[j] - (double)ref[j]) / (double)ref[j];
        m = fmax(m, r);
        s2 += r * r;
        n++;
    }
    *mx = m;
    *rms = n ? sqrt(s2 / (double)n) : 0.0;
}

static int die(const lf_error *err)
{
    fprintf(stderr, "lafov_bench_sensitivity: %s\n", err->msg);
    return 1;
}

/* the small test bodies: water (r 60 mm, |z| <= 30) with a lung insert and a bone rod (the unit test's) */
static float test_body_mu(double x, double y, double z)
{
    if (x * x + y * y > 60.0 * 60.0 || fabs(z) > 30.0)
        return 0.0f;
    if ((x + 25.0) * (x + 25.0) + y * y <= 15.0 * 15.0)
        return 0.03f;
    if ((x - 28.0) * (x - 28.0) + (y - 5.0) * (y - 5.0) <= 6.0 * 6.0)
        return 0.17f;
    return 0.096f;
}

/* a torso for the small scanner: elliptical water 90 x 65 mm, two lungs ending at z = +15 mm (an axial μ
 * edge), a spine */
static float small_body_mu(double x, double y, double z)
{
    if ((x / 90.0) * (x / 90.0) + (y / 65.0) * (y / 65.0) > 1.0)
        return 0.0f;
    if (x * x + (y + 42.0) * (y + 42.0) <= 9.0 * 9.0)
        return 0.17f;
    for (int s = -1; s <= 1; s += 2) {
        double dx = (x - s * 40.0) / 28.0, dy = (y - 3.0) / 40.0;
        if (dx * dx + dy * dy <= 1.0 && z <= 15.0)
            return 0.03f;
    }
    return 0.096f;
}

static float *make_mu_fn(const lf_grid *g, float (*fn)(double, double, double))
{
    float *mu = malloc(lf_grid_voxels(g) * sizeof *mu);
    if (!mu)
        return NULL;
    for (int z = 0; z < g->n[2]; z++)
        for (int y = 0; y < g->n[1]; y++)
            for (int x = 0; x < g->n[0]; x++)
                mu[x + (size_t)g->n[0] * (y + (size_t)g->n[1] * z)] =
                    fn(g->origin_mm[0] + x * g->voxel_mm[0], g->origin_mm[1] + y * g->voxel_mm[1],
                       g->origin_mm[2] + z * g->voxel_mm[2]);
    return mu;
}

/* inside the body: μ > 0; its core: also no voxel with μ = 0 among the 26 neighbours (within the grid) */
static void body_masks(const lf_grid *g, const float *mu, float *in, float *core)
{
    const int nx = g->n[0], ny = g->n[1], nz = g->n[2];
    for (int z = 0; z < nz; z++)
        for (int y = 0; y < ny; y++)
            for (int x = 0; x < nx; x++) {
                size_t j = x + (size_t)nx * (y + (size_t)ny * z);
                in[j] = mu[j] > 0.0f;
                int ok = mu[j] > 0.0f;
                for (int dz = -1; dz <= 1 && ok; dz++)
                    for (int dy = -1; dy <= 1 && ok; dy++)
                        for (int dx = -1; dx <= 1 && ok; dx++) {
                            int X = x + dx, Y = y + dy, Z = z + dz;
                            if (X < 0 || Y < 0 || Z < 0 || X >= nx || Y >= ny || Z >= nz)
                                continue;
                            ok = mu[X + (size_t)nx * (Y + (size_t)ny * Z)] > 0.0f;
                        }
                core[j] = (float)ok;
            }
}

/* the brute force, cached in ref_dir (NULL: not cached) */
static int reference(const char *ref_dir, const char *name, const lf_scanner *sc, const lf_grid *g, const float *mu,
                     const float *eff, float *ref, double *tb, lf_error *err)
{
    char path[1024] = "";
    size_t nv = lf_grid_voxels(g);
    *tb = 0.0;
    if (ref_dir) {
        snprintf(path, sizeof path, "%s/sens_ref_%s_%dx%dx%d.f32", ref_dir, name, g->n[0], g->n[1], g->n[2]);
        FILE *f = fopen(path, "rb");
        if (f) {
            size_t got = fread(ref, sizeof *ref, nv, f);
            fclose(f);
            if (got == nv)
                return 0;
        }
    }
    double t0 = now_s();
    if (lf_sensitivity_bruteforce(sc, -1, g, mu, eff, 0, ref, err) != 0)
        return -1;
    *tb = now_s() - t0;
    if (ref_dir) {
        FILE *f = fopen(path, "wb");
        if (f) {
            fwrite(ref, sizeof *ref, nv, f);
            fclose(f);
        }
    }
    return 0;
}

/* One error case: the full image (body μ + random efficiencies) against the brute force, both factor
 * methods, inside the body and in its core (body_masks). */
static int no_eff, no_mu, case_mrd = -1; /* --mrd M: the error cases' MRD; --no-eff, --no-mu: error cases without efficiencies / attenuation */

static int error_case(const char *name, const lf_scanner *quadra, int rings, const lf_sens_opts *o, const char *ref_dir)
{
    lf_error err = {{0}};
    lf_scanner sc;
    lf_grid g;
    float (*fn)(double, double, double) = body_mu;
    char label[128];
    if (!strcmp(name, "quadra")) {
        sc = *quadra;
        sc.units_z = 1;
        sc.rings_per_unit = rings;
        sc.gap_rings = 0;
        sc.axial_crystals_per_block = rings;
        sc.mrd = rings - 1;
        int nz = (int)ceil(rings * quadra->ring_pitch_mm / 3.3);
        g = lf_grid_centred(213, 213, nz, 3.3f, 3.3f, 3.3f, 0, 0, 0);
        snprintf(label, sizeof label, "quadra%d", rings);
    } else if (!strcmp(name, "dense")) { /* the unit test's: mini widened to 192 crystals x 8 rings */
        if (lf_scanner_by_name(NULL, "mini", &sc, &err) != 0)
            return die(&err);
        sc.crystals_per_block_t = 48;
        sc.rings_per_unit = 4;
        sc.axial_crystals_per_block = 4;
        sc.mrd = 8;
        g = lf_grid_centred(40, 40, 10, 4, 4, 4, 0, 0, 0);
        fn = test_body_mu;
        snprintf(label, sizeof label, "dense");
    } else if (!strcmp(name, "small") || !strcmp(name, "oblique")) {
        /* small: 216 crystals x 20 rings, MRD 20; oblique: 2 units of 30 rings (61 slots, 200 mm), MRD 60 */
        if (lf_scanner_by_name(NULL, "small", &sc, &err) != 0)
            return die(&err);
        if (!strcmp(name, "oblique")) {
            sc.rings_per_unit = 30;
            sc.mrd = 60;
        }
        int nz = sc.units_z * sc.rings_per_unit + (sc.units_z - 1) * sc.gap_rings;
        g = lf_grid_centred(62, 62, nz, 3.3f, 3.3f, 3.3f, 0, 0, 0);
        fn = small_body_mu;
        snprintf(label, sizeof label, "%s", name);
    } else {
        fprintf(stderr, "lafov_bench_sensitivity: unknown error case %s (quadra, dense, small, oblique)\n", name);
        return -1;
    }
    if (case_mrd >= 0) {
        sc.mrd = case_mrd;
        snprintf(label + strlen(label), sizeof label - strlen(label), "_mrd%d", case_mrd);
    }
    if (lf_scanner_finish(&sc, &err) != 0)
        return die(&err);
    size_t nv = lf_grid_voxels(&g);
    float *a = malloc(nv * sizeof *a), *ref = malloc(nv * sizeof *ref), *mu = make_mu_fn(&g, fn),
          *eff = make_eff(&sc), *in = malloc(nv * sizeof *in), *core = malloc(nv * sizeof *core);
    if (!a || !ref || !mu || !eff || !in || !core) {
        fprintf(stderr, "lafov_bench_sensitivity: out of memory\n");
        return -1;
    }
    if (!strcmp(name, "dense")) { /* the unit test's efficiencies */
        lf_rng r;
        lf_rng_seed(&r, 20240611, 0);
        for (int c = 0; c < sc.n_crystals; c++)
            eff[c] = (float)(0.8 + 0.4 * lf_rng_uniform(&r));
    }
    body_masks(&g, mu, in, core);
    if (no_eff) {
        free(eff);
        eff = NULL;
    }
    if (no_mu)
        memset(mu, 0, nv * sizeof *mu);
    if (no_eff || no_mu)
        snprintf(label + strlen(label), sizeof label - strlen(label), "%s%s", no_eff ? "_noeff" : "", no_mu ? "_nomu" : "");
    printf("error case %s: %d crystals/ring x %d rings (MRD %d), %dx%dx%d @ %.1f mm\n", label, sc.crystals_per_ring,
           sc.rings, sc.mrd, g.n[0], g.n[1], g.n[2], (double)g.voxel_mm[0]);
    double tb;
    if (reference(ref_dir, label, &sc, &g, mu, eff, ref, &tb, &err) != 0)
        return die(&err);
    for (int m = 0; m < 2; m++) {
        lf_sens_opts oc = *o;
        oc.factor_method = m ? LF_SENS_FACTOR_COARSE : LF_SENS_FACTOR_DETAIL;
        double t0 = now_s();
        if (lf_sensitivity(&sc, -1, &g, mu, eff, &oc, a, &err) != 0)
            return die(&err);
        double tf = now_s() - t0, mx, rms, cmx, crms;
        rel_err(a, ref, in, nv, &mx, &rms);
        rel_err(a, ref, core, nv, &cmx, &crms);
        printf("  %-6s factor: brute force %.1f s%s, fast %.2f s; max / rms rel err: body (mu > 0) %.2e / %.2e, "
               "core (no air neighbour) %.2e / %.2e\n", m ? "coarse" : "detail", tb, ref_dir && tb == 0.0 ? " (cached)" : "",
               tf, mx, rms, cmx, crms);
        fflush(stdout);
    }
    free(a);
    free(ref);
    free(mu);
    free(eff);
    free(in);
    free(core);
    return 0;
}

int main(int argc, char **argv)
{
    int threads = 2, skip_quadra = 0, skip_error = 0, rings = 12, cells = 0, kc = 0, kr = 0, kv = 0, ncase = 0;
    const char *cases[8], *ref_dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--skip-quadra"))
            skip_quadra = 1;
        else if (!strcmp(argv[i], "--skip-error"))
            skip_error = 1;
        else if (!strcmp(argv[i], "--rings") && i + 1 < argc)
            rings = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--case") && i + 1 < argc && ncase < 8)
            cases[ncase++] = argv[++i];
        else if (!strcmp(argv[i], "--no-eff"))
            no_eff = 1;
        else if (!strcmp(argv[i], "--mrd") && i + 1 < argc)
            case_mrd = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-mu"))
            no_mu = 1;
        else if (!strcmp(argv[i], "--ref-dir") && i + 1 < argc)
            ref_dir = argv[++i];
        else if (!strcmp(argv[i], "--cells") && i + 1 < argc)
            cells = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--coarse") && i + 3 < argc) {
            kc = atoi(argv[++i]);
            kr = atoi(argv[++i]);
            kv = atoi(argv[++i]);
        }
        else {
            fprintf(stderr, "usage: %s [--threads T] [--skip-quadra] [--skip-error] [--rings R] [--case quadra|dense|small|oblique]... [--mrd M] [--no-eff] [--no-mu] [--ref-dir DIR] [--cells C] [--coarse KC KR KV]\n", argv[0]);
            return 2;
        }
    }
    if (ncase == 0)
        cases[ncase++] = "quadra";
    if (threads < 1 || rings < 2) {
        fprintf(stderr, "lafov_bench_sensitivity: --threads must be >= 1 and --rings >= 2\n");
        return 2;
    }
    omp_set_num_threads(threads);
    lf_error err = {{0}};
    lf_scanner sc;
    if (lf_scanner_by_name(NULL, "quadra", &sc, &err) != 0)
        return die(&err);
    lf_sens_opts o = {0};
    o.table_cells = cells;
    o.coarse_crystals = kc;
    o.coarse_rings = kr;
    o.coarse_voxels = kv;
    printf("lafov_bench_sensitivity: %d OpenMP threads\n", threads);

    if (!skip_quadra) {
        const lf_grid g = lf_grid_centred(213, 213, 322, 3.3f, 3.3f, 3.3f, 0, 0, 0);
        size_t nv = lf_grid_voxels(&g);
        float *s = malloc(nv * sizeof *s), *mu = make_mu(&g), *eff = make_eff(&sc);
        if (!s || !mu || !eff) {
            fprintf(stderr, "lafov_bench_sensitivity: out of memory\n");
            return 1;
        }
        const int mrds[2] = {322, 85};
        double tgeo322 = 0.0;
        for (int i = 0; i < 2; i++) {
            double t0 = now_s();
            if (lf_sensitivity_geometric(&sc, mrds[i], &g, &o, s, &err) != 0)
                return die(&err);
            double t = now_s() - t0;
            if (i == 0)
                tgeo322 = t;
            double sum = 0.0;
            for (size_t j = 0; j < nv; j++)
                sum += s[j];
            printf("quadra 213x213x322 @ 3.3 mm, geometric, MRD %3d: %7.1f s  (Σ = %.6e mm)\n", mrds[i], t, sum);
        }
        double t0 = now_s();
        if (lf_sensitivity(&sc, 322, &g, mu, eff, &o, s, &err) != 0)
            return die(&err);
        double t = now_s() - t0;
        printf("quadra 213x213x322 @ 3.3 mm, full (body mu + efficiencies), MRD 322: %7.1f s  (attenuation pass "
               "%.1f s)\n", t, t - tgeo322);
        fflush(stdout);
        free(s);
        free(mu);
        free(eff);
    }

    if (!skip_error) {
        for (int c = 0; c < ncase; c++)
            if (error_case(cases[c], &sc, rings, &o, ref_dir) != 0)
                return 1;
    }
    return 0;
}

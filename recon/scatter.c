/* lafov recon: the single scatter simulation on coarse detector pairs (scatter.h; docs/scatter.md). */
#include "scatter.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../projectors/traverse.h"
#include "response.h"

#define COS_TABLE 2048     /* cos θ table nodes over [cos_min, 1] */
#define WINDOW_FLOOR 1e-6  /* scattering angles whose energy-window acceptance is below this are skipped */
#define POINTS_PER_BLOCK 8 /* scatter points whose legs are traced together */

void lf_scatter_opts_defaults(lf_scatter_opts *o) {
    memset(o, 0, sizeof *o);
    o->point_spacing_mm = 25.0f;
    o->max_points = 2500;
    o->leg_voxel_mm = 8.0f;
    o->mu_min_per_cm = 0.01f;
    o->body_mu_per_cm = 0.005f;
    o->tail_acf = 1.1f;
    o->tail_margin_mm = 8.0f;
    o->tail_samples = 400000;
    o->seed = 0x5CA7ull;
}

void lf_scatter_free(lf_scatter_table *t) {
    if (!t)
        return;
    free(t->s);
    free(t->s_total);
    free(t->u_of_k);
    free(t->v_of_ring);
    free(t);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* e^x for x <= 0 (0 below -80): 2^k times the degree-7 Taylor polynomial of 2^f, f in [0, 1) (relative
 * error < 2e-6); the pair loop's four exponentials per scatter point were most of its time with libm. */
static inline float fast_exp(float x) {
    if (!(x > -80.0f))
        return 0.0f;
    float t = x * 1.44269504f, k = floorf(t), f = t - k;
    float p = 1.0f +
              f * (0.693147181f +
                   f * (0.240226507f +
                        f * (0.0555041087f + f * (0.00961812911f +
                                                  f * (0.00133335581f + f * (0.000154035304f + f * 1.52527338e-5f))))));
    union {
        float f;
        int32_t i;
    } u;
    u.i = ((int32_t)k + 127) << 23;
    return p * u.f;
}

/* ------------------------------------------------------------------ set-up pieces */

/* The image binned by f[axis] voxels (mean of the voxels present): the grid the legs are traced on. */
static float *bin_image(const lf_grid *g, const float *img, const int f[3], lf_grid *out) {
    *out = *g;
    for (int i = 0; i < 3; i++) {
        out->n[i] = (g->n[i] + f[i] - 1) / f[i];
        out->voxel_mm[i] = g->voxel_mm[i] * (float)f[i];
        out->origin_mm[i] = g->origin_mm[i] + 0.5f * (float)(f[i] - 1) * g->voxel_mm[i];
    }
    size_t nv = lf_grid_voxels(out);
    float *b = calloc(nv, sizeof *b);
    if (!b)
        return NULL;
#pragma omp parallel for schedule(static)
    for (int kz = 0; kz < out->n[2]; kz++)
        for (int ky = 0; ky < out->n[1]; ky++)
            for (int kx = 0; kx < out->n[0]; kx++) {
                double s = 0;
                int cnt = 0;
                for (int z = kz * f[2]; z < (kz + 1) * f[2] && z < g->n[2]; z++)
                    for (int y = ky * f[1]; y < (ky + 1) * f[1] && y < g->n[1]; y++)
                        for (int x = kx * f[0]; x < (kx + 1) * f[0] && x < g->n[0]; x++) {
                            s += img[(size_t)x + (size_t)g->n[0] * ((size_t)y + (size_t)g->n[1] * (size_t)z)];
                            cnt++;
                        }
                b[(size_t)kx + (size_t)out->n[0] * ((size_t)ky + (size_t)out->n[1] * (size_t)kz)] = (float)(s / cnt);
            }
    return b;
}

typedef struct spoint {
    double x[3];
    double wmu; /* Σ μ (1/mm) · V (mm³) of the cell */
} spoint;

/* Scatter points: μ-weighted centroids of cells of c[axis] voxels whose mean μ exceeds mu_min. */
static spoint *scatter_points(const lf_grid *g, const float *mu, const int c[3], double mu_min, int *np) {
    int nc[3];
    for (int i = 0; i < 3; i++)
        nc[i] = (g->n[i] + c[i] - 1) / c[i];
    size_t ncell = (size_t)nc[0] * nc[1] * nc[2];
    spoint *p = malloc((ncell ? ncell : 1) * sizeof *p);
    if (!p)
        return NULL;
    const double vmm3 = (double)g->voxel_mm[0] * g->voxel_mm[1] * g->voxel_mm[2];
    int n = 0;
    for (int kz = 0; kz < nc[2]; kz++)
        for (int ky = 0; ky < nc[1]; ky++)
            for (int kx = 0; kx < nc[0]; kx++) {
                double s = 0, m[3] = {0, 0, 0};
                int cnt = 0;
                for (int z = kz * c[2]; z < (kz + 1) * c[2] && z < g->n[2]; z++)
                    for (int y = ky * c[1]; y < (ky + 1) * c[1] && y < g->n[1]; y++)
                        for (int x = kx * c[0]; x < (kx + 1) * c[0] && x < g->n[0]; x++) {
                            double v = mu[(size_t)x + (size_t)g->n[0] * ((size_t)y + (size_t)g->n[1] * (size_t)z)];
                            cnt++;
                            if (!(v > 0))
                                continue;
                            s += v;
                            m[0] += v * x;
                            m[1] += v * y;
                            m[2] += v * z;
                        }
                if (!(s > mu_min * cnt))
                    continue;
                for (int i = 0; i < 3; i++)
                    p[n].x[i] = g->origin_mm[i] + m[i] / s * g->voxel_mm[i];
                p[n].wmu = 0.1 * s * vmm3;
                n++;
            }
    *np = n;
    return p;
}

/* ------------------------------------------------------------------ the legs */

typedef struct leg {
    float u[3];  /* unit vector S → detector */
    float R;     /* |S − detector| mm */
    float c;     /* incidence cosine at the detector */
    float h;     /* response depth factor at 511 keV */
    float inv_c; /* 1 / max(c, 1/3) */
    float att;   /* ∫μ(511) from S to the detector */
    float total; /* ∫λ dl from S to the detector (λ·mm) */
    int m0, nm;  /* TOF: profile nodes m0 .. m0+nm-1 (node m at ℓ = m·δ) */
} leg;

typedef struct est {
    const lf_scanner *sc;
    lf_grid gl;          /* leg grid */
    float *mu_l, *act_l; /* μ (1/cm) and masked λ on it */
    int n_t, n_z, n_det;
    double *det; /* [n_det][3] positions */
    double *nrm; /* [n_det][2] radial normals */
    /* TOF */
    int tof, half, n_bins, prof_len; /* prof_len: stride of a leg's profile (zero-padded, a multiple of 4) */
    double delta;                    /* profile node spacing = bin width / 4 */
    int kd;                          /* kernel half-width in nodes */
    double *kern;                    /* [2kd+1] */
    /* angle tables over cos θ in [cos_min, 1] */
    double cos_min, cos_step;
    float *t_dcs, *t_r, *t_q, *t_mud; /* dσ/dΩ/σ; σ(E')/σ(511); window·full-energy rel.; μ_crystal(E')·d */
    float pint0;                      /* 1 − exp(−μ d) at 511, normal incidence */
    double box_lo[3], box_hi[3];      /* mm: everything with μ or λ > 0 on the leg grid lies inside */
} est;

static double cdf_trunc(double x, double sigma, double nsig) {
    double lim = nsig * sigma;
    if (x <= -lim)
        return 0.0;
    if (x >= lim)
        return 1.0;
    double e = erf(nsig / M_SQRT2);
    return 0.5 * (1.0 + erf(x / (sigma * M_SQRT2)) / e);
}

/* Traces leg S → detector: attenuation, emission total and (TOF) the kernel-convolved emission profile
 * P[0 .. nm+1] (one zero of padding at each end), stored by phase: P[m] at prof[(m & 3)·prof_len/4 + (m >> 2)], so
 * that the look-ups one TOF bin (4 nodes) apart are contiguous. hist: scratch of prof_len + 2·kd doubles. */
static void trace_leg(const est *E, const double S[3], int d, leg *L, float *prof, double *hist) {
    const double *D = E->det + 3 * d;
    double v[3] = {D[0] - S[0], D[1] - S[1], D[2] - S[2]};
    double R = sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
    for (int i = 0; i < 3; i++)
        L->u[i] = (float)(v[i] / R);
    L->R = (float)R;
    double c = fabs(v[0] * E->nrm[2 * d] + v[1] * E->nrm[2 * d + 1]) / R;
    L->c = (float)c;
    L->h = (float)lf_response_incidence(E->sc, c);
    L->inv_c = (float)(1.0 / fmax(c, 1.0 / 3.0));
    L->att = 0.0f;
    L->total = 0.0f;
    L->m0 = 0;
    L->nm = 0;
    /* the leg ends where it leaves the box of the body (nothing beyond it to integrate) */
    double tx = 1.0;
    for (int i = 0; i < 3; i++) {
        if (v[i] > 0)
            tx = fmin(tx, (E->box_hi[i] - S[i]) / v[i]);
        else if (v[i] < 0)
            tx = fmin(tx, (E->box_lo[i] - S[i]) / v[i]);
    }
    if (!(tx > 0))
        return;
    float lor[6] = {(float)S[0],
                    (float)S[1],
                    (float)S[2],
                    (float)(S[0] + tx * v[0]),
                    (float)(S[1] + tx * v[1]),
                    (float)(S[2] + tx * v[2])};
    lf_jray r;
    const lf_grid *g = &E->gl;
    if (!lf_joseph_setup(g, lor, NULL, 0, &r))
        return;
    L->att = 0.1f * lf_joseph_walk(g, &r, 0, g->n[2], NULL, E->mu_l, 0.0f, 0, 0);
    /* emission: the walk's own samples, one at a time (the same weights as the whole walk) */
    const ptrdiff_t stride[3] = {1, (ptrdiff_t)g->n[0], (ptrdiff_t)g->n[0] * g->n[1]};
    const int dom = r.dom, xa = r.ax_a, xb = r.ax_b;
    const double c1 = (S[dom] - (double)g->origin_mm[dom]) / (double)g->voxel_mm[dom];
    const double dv = v[dom] / (double)g->voxel_mm[dom];
    int jlo = 1 << 30, jhi = -(1 << 30);
    double tot = 0.0;
    const int off = E->kd + 1; /* hist index of node j: j - jbase + off */
    int jbase = 0, have = 0;
    for (int k = r.k0; k < r.k1; k++) {
        float val = lf_joseph_run(&r, k, k + 1, 0, g->n[xa] - 1, 0, g->n[xb] - 1, stride[dom], stride[xa], stride[xb],
                                  NULL, E->act_l, 0.0f, 0, 0, 1);
        if (!(val > 0.0f))
            continue;
        tot += val;
        if (!E->tof)
            continue;
        double ell = (k - c1) / dv * R, x = ell / E->delta;
        int j = (int)floor(x);
        double f = x - j;
        if (!have) {
            /* nodes of this leg: ℓ in [0, R] → j in [0, R/δ] */
            jbase = 0;
            memset(hist, 0, (size_t)(E->prof_len + 2 * E->kd + 4) * sizeof *hist);
            have = 1;
        }
        int ix = j - jbase + off;
        hist[ix] += val * (1.0 - f);
        hist[ix + 1] += val * f;
        if (j < jlo)
            jlo = j;
        if (j + 1 > jhi)
            jhi = j + 1;
    }
    L->total = (float)tot;
    if (!E->tof || !have)
        return;
    /* B[m] = Σ_d hist[m - d] K[d], m in [jlo - kd, jhi + kd] */
    int m0 = jlo - E->kd, m1 = jhi + E->kd;
    L->m0 = m0;
    L->nm = m1 - m0 + 1;
    const int L4 = E->prof_len / 4;
#define PSET(m, val) (prof[((m)&3) * L4 + ((m) >> 2)] = (val))
    PSET(0, 0.0f);
    for (int m = m0; m <= m1; m++) {
        double s = 0.0;
        int dlo = m - jhi > -E->kd ? m - jhi : -E->kd, dhi = m - jlo < E->kd ? m - jlo : E->kd;
        for (int dd = dlo; dd <= dhi; dd++)
            s += hist[m - dd - jbase + off] * E->kern[dd + E->kd];
        PSET(m - m0 + 1, (float)s);
    }
    PSET(L->nm + 1, 0.0f);
#undef PSET
}

/* ------------------------------------------------------------------ the estimate */

static int resolve_defaults(const lf_scanner *sc, const lf_scatter_opts *in, lf_scatter_opts *o, lf_error *err) {
    lf_scatter_opts_defaults(o);
    if (in) {
        if (in->point_spacing_mm > 0)
            o->point_spacing_mm = in->point_spacing_mm;
        if (in->max_points != 0)
            o->max_points = in->max_points;
        if (in->det_transaxial > 0)
            o->det_transaxial = in->det_transaxial;
        if (in->det_axial > 0)
            o->det_axial = in->det_axial;
        if (in->leg_voxel_mm > 0)
            o->leg_voxel_mm = in->leg_voxel_mm;
        if (in->mu_min_per_cm > 0)
            o->mu_min_per_cm = in->mu_min_per_cm;
        if (in->body_mu_per_cm != 0)
            o->body_mu_per_cm = in->body_mu_per_cm;
        if (in->tail_acf > 0)
            o->tail_acf = in->tail_acf;
        if (in->tail_margin_mm != 0)
            o->tail_margin_mm = in->tail_margin_mm;
        if (in->tail_samples > 0)
            o->tail_samples = in->tail_samples;
        o->seed = in->seed;
        if (in->det_transaxial < 0 || in->det_axial < 0 || in->tail_samples < 0)
            return lf_fail(err,
                           "scatter options: det_transaxial, det_axial and tail_samples must be >= 0 (0: default)");
    }
    const double rp = sc->ring_radius_mm + sc->doi_mm;
    if (o->det_transaxial == 0) {
        int n = (int)lround(2.0 * M_PI * rp / 65.0);
        o->det_transaxial = n < 32 ? 32 : n;
    }
    if (o->det_axial == 0) {
        double len = (double)(sc->slots_z - 1) * sc->ring_pitch_mm;
        int n = (int)ceil(len / 50.0) + 1;
        o->det_axial = n < 4 ? 4 : n;
    }
    if (o->det_axial > sc->rings)
        o->det_axial = sc->rings;
    if (o->det_transaxial > 4096 || o->det_axial > 4096)
        return lf_fail(err, "scatter options: %d x %d coarse detectors (at most 4096 per axis)", o->det_transaxial,
                       o->det_axial);
    return 0;
}

int lf_scatter_estimate(const lf_scanner *sc, int mrd, const lf_grid *g, const float *mu_per_cm, const float *activity,
                        const lf_tof *tof, const lf_scatter_opts *opts, lf_scatter_table **out, lf_error *err) {
    *out = NULL;
    if (!sc || !g || !mu_per_cm || !activity)
        return lf_fail(err, "scatter estimate: scanner, grid, mu map and activity image are required");
    if (lf_proj_check(g, tof, err) != 0)
        return lf_fail_prefix(err, "scatter estimate");
    if (mrd < 0)
        mrd = sc->mrd;
    lf_scatter_opts o;
    if (resolve_defaults(sc, opts, &o, err) != 0)
        return -1;
    const double t0 = now_s();
    est E;
    memset(&E, 0, sizeof E);
    E.sc = sc;
    lf_scatter_table *t = calloc(1, sizeof *t);
    spoint *pts = NULL;
    leg *legs = NULL;
    float *profs = NULL;
    int rc = -1;
    if (!t) {
        lf_fail(err, "out of memory for the scatter table");
        goto done;
    }

    /* coarse detectors */
    t->n_t = E.n_t = o.det_transaxial;
    t->n_z = E.n_z = o.det_axial;
    t->n_det = E.n_det = E.n_t * E.n_z;
    t->radius_mm = sc->ring_radius_mm + sc->doi_mm;
    t->phi0_rad = sc->angle_offset_rad;
    t->dphi_rad = 2.0 * M_PI / E.n_t;
    double zf = lf_ring_z_mm(sc, 0), zl = lf_ring_z_mm(sc, sc->rings - 1);
    t->z0_mm = zf;
    t->dz_mm = E.n_z > 1 ? (zl - zf) / (E.n_z - 1) : 1.0;
    E.det = malloc((size_t)E.n_det * 3 * sizeof *E.det);
    E.nrm = malloc((size_t)E.n_det * 2 * sizeof *E.nrm);
    t->crystals_per_ring = sc->crystals_per_ring;
    t->rings = sc->rings;
    t->u_of_k = malloc((size_t)sc->crystals_per_ring * sizeof *t->u_of_k);
    t->v_of_ring = malloc((size_t)sc->rings * sizeof *t->v_of_ring);
    if (!E.det || !E.nrm || !t->u_of_k || !t->v_of_ring) {
        lf_fail(err, "out of memory for %d coarse detectors", E.n_det);
        goto done;
    }
    for (int j = 0; j < E.n_z; j++)
        for (int i = 0; i < E.n_t; i++) {
            int d = j * E.n_t + i;
            double phi = t->phi0_rad + i * t->dphi_rad;
            E.nrm[2 * d] = cos(phi);
            E.nrm[2 * d + 1] = sin(phi);
            E.det[3 * d] = t->radius_mm * cos(phi);
            E.det[3 * d + 1] = t->radius_mm * sin(phi);
            E.det[3 * d + 2] = t->z0_mm + j * t->dz_mm;
        }
    for (int k = 0; k < sc->crystals_per_ring; k++) {
        double u = (lf_crystal_phi_rad(sc, k) - t->phi0_rad) / t->dphi_rad;
        u = fmod(u, (double)E.n_t);
        t->u_of_k[k] = (float)(u < 0 ? u + E.n_t : u);
    }
    for (int r = 0; r < sc->rings; r++)
        t->v_of_ring[r] = (float)((lf_ring_z_mm(sc, r) - t->z0_mm) / t->dz_mm);

    /* TOF set-up: profile nodes every w/4; the kernel narrowed by the variance the node deposit and the
     * look-up's interpolation add (δ²/6 each) */
    t->n_bins = E.n_bins = tof ? tof->n_bins : 1;
    E.half = (E.n_bins - 1) / 2;
    E.tof = tof != NULL && tof->n_bins > 1;
    if (E.tof) {
        E.delta = tof->bin_width_mm / 4.0;
        double s2 = (double)tof->sigma_mm * tof->sigma_mm - E.delta * E.delta / 3.0;
        double se = sqrt(s2 > 0.25 * tof->sigma_mm * tof->sigma_mm ? s2 : 0.25 * tof->sigma_mm * tof->sigma_mm);
        double ns = tof->n_sigmas > 0 ? tof->n_sigmas : LF_TOF_SIGMAS_DEFAULT;
        E.kd = (int)ceil((0.5 * tof->bin_width_mm + ns * se) / E.delta);
        E.kern = malloc((size_t)(2 * E.kd + 1) * sizeof *E.kern);
        if (!E.kern) {
            lf_fail(err, "out of memory for the TOF kernel");
            goto done;
        }
        for (int d = -E.kd; d <= E.kd; d++)
            E.kern[d + E.kd] = cdf_trunc(d * E.delta + 0.5 * tof->bin_width_mm, se, ns) -
                               cdf_trunc(d * E.delta - 0.5 * tof->bin_width_mm, se, ns);
    }

    /* angle tables */
    {
        E.cos_min = -1.0;
        const double w0 = lf_scatter_window(sc, 511.0);
        for (int i = 0; i <= 4000; i++) {
            double ct = -1.0 + i * (2.0 / 4000);
            if (w0 > 0 && lf_scatter_window(sc, 511.0 / (2.0 - ct)) / w0 >= WINDOW_FLOOR) {
                E.cos_min = i > 0 ? ct - 2.0 / 4000 : -1.0;
                break;
            }
            if (i == 4000)
                E.cos_min = 1.0;
        }
        E.cos_step = (1.0 - E.cos_min) / (COS_TABLE - 1);
        E.t_dcs = malloc(COS_TABLE * sizeof(float));
        E.t_r = malloc(COS_TABLE * sizeof(float));
        E.t_q = malloc(COS_TABLE * sizeof(float));
        E.t_mud = malloc(COS_TABLE * sizeof(float));
        if (!E.t_dcs || !E.t_r || !E.t_q || !E.t_mud) {
            lf_fail(err, "out of memory for the angle tables");
            goto done;
        }
        const double mud = 0.1 * sc->crystal_mu_per_cm * sc->crystal_depth_mm;
        const int crystal = mud > 0;
        E.pint0 = crystal ? (float)-expm1(-mud) : 1.0f;
        for (int i = 0; i < COS_TABLE; i++) {
            double ct = fmin(1.0, E.cos_min + i * E.cos_step), e = 511.0 / (2.0 - ct);
            E.t_dcs[i] = (float)lf_scatter_kn_dcs(ct);
            E.t_r[i] = (float)lf_scatter_kn_ratio(e);
            /* η(c, E) = q(E) · (1 − exp(−mud(E)/c)) / pint0: detect_rel at c = 1 gives q·pint(E,1)/pint0 */
            double rel1 = lf_scatter_detect_rel(sc, e, 1.0);
            if (crystal) {
                double r3 = (511.0 / e) * (511.0 / e) * (511.0 / e);
                double mude = mud * (0.68 * lf_scatter_kn_ratio(e) + 0.32 * r3);
                E.t_mud[i] = (float)mude;
                E.t_q[i] = (float)(rel1 * E.pint0 / -expm1(-mude));
            } else {
                E.t_mud[i] = 0.0f;
                E.t_q[i] = (float)rel1;
            }
        }
    }

    /* leg grid and scatter points */
    {
        int f[3];
        for (int i = 0; i < 3; i++) {
            f[i] = (int)lround(o.leg_voxel_mm / g->voxel_mm[i]);
            f[i] = f[i] < 1 ? 1 : f[i];
        }
        E.mu_l = bin_image(g, mu_per_cm, f, &E.gl);
        E.act_l = bin_image(g, activity, f, &E.gl);
        if (!E.mu_l || !E.act_l) {
            lf_fail(err, "out of memory for the scatter leg grid");
            goto done;
        }
        size_t nl = lf_grid_voxels(&E.gl);
        for (size_t j = 0; j < nl; j++) {
            float a = E.act_l[j];
            if (!(a > 0.0f) || (o.body_mu_per_cm > 0 && !(E.mu_l[j] > o.body_mu_per_cm)))
                E.act_l[j] = 0.0f;
        }
        /* the body's box on the leg grid, one leg voxel of margin */
        int lo[3] = {E.gl.n[0], E.gl.n[1], E.gl.n[2]}, hi[3] = {-1, -1, -1};
        for (int kz = 0; kz < E.gl.n[2]; kz++)
            for (int ky = 0; ky < E.gl.n[1]; ky++)
                for (int kx = 0; kx < E.gl.n[0]; kx++) {
                    size_t j = (size_t)kx + (size_t)E.gl.n[0] * ((size_t)ky + (size_t)E.gl.n[1] * kz);
                    if (!(E.mu_l[j] > 0.0f) && !(E.act_l[j] > 0.0f))
                        continue;
                    int k3[3] = {kx, ky, kz};
                    for (int i = 0; i < 3; i++) {
                        lo[i] = k3[i] < lo[i] ? k3[i] : lo[i];
                        hi[i] = k3[i] > hi[i] ? k3[i] : hi[i];
                    }
                }
        for (int i = 0; i < 3; i++) {
            E.box_lo[i] = E.gl.origin_mm[i] + (lo[i] - 1.5) * E.gl.voxel_mm[i];
            E.box_hi[i] = E.gl.origin_mm[i] + (hi[i] + 1.5) * E.gl.voxel_mm[i];
        }
        int np = 0;
        for (double sp = o.point_spacing_mm;; sp *= 1.15) {
            int c[3];
            for (int i = 0; i < 3; i++) {
                c[i] = (int)lround(sp / g->voxel_mm[i]);
                c[i] = c[i] < 1 ? 1 : c[i];
            }
            free(pts);
            pts = scatter_points(g, mu_per_cm, c, o.mu_min_per_cm, &np);
            if (!pts) {
                lf_fail(err, "out of memory for the scatter points");
                goto done;
            }
            if (o.max_points <= 0 || np <= o.max_points || (c[0] >= g->n[0] && c[1] >= g->n[1] && c[2] >= g->n[2]))
                break;
        }
        t->n_points = np;
    }

    /* the table */
    const size_t npairs = (size_t)E.n_det * (size_t)(E.n_det + 1) / 2;
    t->s = calloc(npairs * (size_t)E.n_bins, sizeof *t->s);
    t->s_total = calloc(npairs, sizeof *t->s_total);
    if (!t->s || !t->s_total) {
        lf_fail(err, "out of memory for the scatter table (%zu pairs x %d bins)", npairs, E.n_bins);
        goto done;
    }
    if (E.tof) {
        double lmax = 0;
        for (int d = 0; d < E.n_det; d++)
            for (int p = 0; p < t->n_points; p++) {
                double v[3] = {E.det[3 * d] - pts[p].x[0], E.det[3 * d + 1] - pts[p].x[1],
                               E.det[3 * d + 2] - pts[p].x[2]};
                lmax = fmax(lmax, sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]));
            }
        E.prof_len = 4 * (((int)ceil(lmax / E.delta) + 2 * E.kd + 6) / 4 + 2);
    }
    const int nleg = POINTS_PER_BLOCK * E.n_det;
    legs = malloc((size_t)nleg * sizeof *legs);
    profs = E.tof ? malloc((size_t)nleg * (size_t)E.prof_len * sizeof *profs) : NULL;
    if (!legs || (E.tof && !profs)) {
        lf_fail(err, "out of memory for the scatter legs");
        goto done;
    }
    const double rp2 = 4.0 * t->radius_mm * t->radius_mm;
    const double zmax = (mrd + 0.5) * sc->ring_pitch_mm + 2.0 * t->dz_mm + 1e-6; /* corners of an event */
    int failed = 0;
    for (int p0 = 0; p0 < t->n_points && !failed; p0 += POINTS_PER_BLOCK) {
        const int nb = t->n_points - p0 < POINTS_PER_BLOCK ? t->n_points - p0 : POINTS_PER_BLOCK;
#pragma omp parallel
        {
            double *hist = E.tof ? malloc((size_t)(E.prof_len + 2 * E.kd + 8) * sizeof *hist) : NULL;
            if (E.tof && !hist) {
#pragma omp atomic write
                failed = 1;
            }
#pragma omp for schedule(dynamic, 16)
            for (int q = 0; q < nb * E.n_det; q++) {
                if (E.tof && !hist)
                    continue;
                int p = q / E.n_det, d = q % E.n_det;
                trace_leg(&E, pts[p0 + p].x, d, &legs[q], E.tof ? profs + (size_t)q * E.prof_len : NULL, hist);
            }
            free(hist);
            int bad;
#pragma omp atomic read
            bad = failed;
            /* one scatter point at a time (its legs' profiles stay in cache), rows A split between threads:
             * row A holds the pairs (A, B > A), so no two threads write the same value */
            for (int p = 0; p < nb; p++) {
#pragma omp for schedule(dynamic, 4)
                for (int A = 0; A < E.n_det; A++) {
                    if (bad)
                        continue;
                    const double zA = E.det[3 * A + 2];
                    float *rowA = t->s + lf_scatter_pair(E.n_det, A, A) * (size_t)E.n_bins; /* pairs (A, B >= A) */
                    {
                        const leg *la = &legs[p * E.n_det + A];
                        const float ax = -la->u[0], ay = -la->u[1], az = -la->u[2];
                        for (int i = 0; i < E.n_t; i++) {
                            /* column i is worth visiting when some detector in it can make cos θ >= cos_min:
                             * max over the axial offset of cos θ is √(c² + a_z²) for c > 0, |a_z| otherwise */
                            const leg *lc = &legs[p * E.n_det + i];
                            float cx = lc->u[0], cy = lc->u[1], cn = sqrtf(cx * cx + cy * cy);
                            float c = cn > 0 ? (ax * cx + ay * cy) / cn : 0.0f;
                            float bound = c > 0 ? sqrtf(c * c + az * az) : fabsf(az);
                            if (bound < (float)E.cos_min - 1e-4f)
                                continue;
                            for (int j = 0; j < E.n_z; j++) {
                                const int B = j * E.n_t + i;
                                if (B <= A || fabs(E.det[3 * B + 2] - zA) > zmax)
                                    continue;
                                float *row = rowA + (size_t)(B - A) * (size_t)E.n_bins;
                                const leg *lb = &legs[p * E.n_det + B];
                                if (la->total <= 0.0f && lb->total <= 0.0f)
                                    continue;
                                float ct = ax * lb->u[0] + ay * lb->u[1] + az * lb->u[2];
                                if (!(ct >= E.cos_min))
                                    continue;
                                float x = (float)((ct - E.cos_min) / E.cos_step);
                                int ix = (int)x;
                                if (ix >= COS_TABLE - 1)
                                    ix = COS_TABLE - 2;
                                float fx = x - (float)ix;
#define TAB(T) ((T)[ix] + fx * ((T)[ix + 1] - (T)[ix]))
                                float dcs = TAB(E.t_dcs), rr = TAB(E.t_r), qq = TAB(E.t_q), mude = TAB(E.t_mud);
#undef TAB
                                float base = (float)(pts[p0 + p].wmu * rp2) * dcs * la->c * lb->c /
                                             (la->R * la->R * lb->R * lb->R);
                                float eta_b =
                                    qq *
                                    (E.pint0 > 0 && mude > 0 ? (1.0f - fast_exp(-mude * lb->inv_c)) / E.pint0 : 1.0f);
                                float eta_a =
                                    qq *
                                    (E.pint0 > 0 && mude > 0 ? (1.0f - fast_exp(-mude * la->inv_c)) / E.pint0 : 1.0f);
                                float wa =
                                    la->total > 0 ? base * la->h * eta_b * fast_exp(-la->att - rr * lb->att) : 0.0f;
                                float wb =
                                    lb->total > 0 ? base * lb->h * eta_a * fast_exp(-lb->att - rr * la->att) : 0.0f;
                                if (!E.tof) {
                                    row[0] += wa * la->total + wb * lb->total;
                                    continue;
                                }
                                /* bin t: leg A at node (t·w − s0)/δ = 4t + xa, leg B at (s0 − t·w)/δ = xb − 4t */
                                const double s0 = 0.5 * ((double)lb->R - (double)la->R);
                                const int L4 = E.prof_len / 4;
                                if (wa > 0.0f) {
                                    const float *pa = profs + (size_t)(p * E.n_det + A) * E.prof_len;
                                    double xa = -s0 / E.delta - la->m0 + 1; /* padded-profile coordinate at t = 0 */
                                    int ja = (int)floor(xa);
                                    float fa = (float)(xa - ja);
                                    /* m = ja + 4t in [0, nm] */
                                    int tlo = (int)ceil((0.0 - ja) / 4.0), thi = (int)floor((la->nm + 0.0 - ja) / 4.0);
                                    tlo = tlo < -E.half ? -E.half : tlo;
                                    thi = thi > E.half ? E.half : thi;
                                    if (tlo <= thi) {
                                        int m = ja + 4 * tlo;
                                        const float *q0 = pa + (m & 3) * L4 + (m >> 2),
                                                    *q1 = pa + ((m + 1) & 3) * L4 + ((m + 1) >> 2);
                                        float *rt = row + tlo + E.half;
                                        for (int k = 0; k <= thi - tlo; k++)
                                            rt[k] += wa * (q0[k] + fa * (q1[k] - q0[k]));
                                    }
                                }
                                if (wb > 0.0f) {
                                    const float *pb = profs + (size_t)(p * E.n_det + B) * E.prof_len;
                                    double xb = s0 / E.delta - lb->m0 + 1;
                                    int jb = (int)floor(xb);
                                    float fb = (float)(xb - jb);
                                    /* m = jb − 4t in [0, nm]: walked from t = thi (smallest m) down */
                                    int tlo = (int)ceil((jb - lb->nm + 0.0) / 4.0), thi = (int)floor(jb / 4.0);
                                    tlo = tlo < -E.half ? -E.half : tlo;
                                    thi = thi > E.half ? E.half : thi;
                                    if (tlo <= thi) {
                                        int m = jb - 4 * thi;
                                        const float *q0 = pb + (m & 3) * L4 + (m >> 2),
                                                    *q1 = pb + ((m + 1) & 3) * L4 + ((m + 1) >> 2);
                                        float *rt = row + thi + E.half;
                                        for (int k = 0; k <= thi - tlo; k++)
                                            rt[-k] += wb * (q0[k] + fb * (q1[k] - q0[k]));
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    if (failed) {
        lf_fail(err, "out of memory for the scatter leg profiles");
        goto done;
    }
    for (size_t pi = 0; pi < npairs; pi++) {
        double s = 0;
        for (int b = 0; b < E.n_bins; b++)
            s += t->s[pi * (size_t)E.n_bins + b];
        t->s_total[pi] = (float)s;
    }
    t->seconds = now_s() - t0;
    *out = t;
    t = NULL;
    rc = 0;
done:
    lf_scatter_free(t);
    free(pts);
    free(legs);
    free(profs);
    free(E.det);
    free(E.nrm);
    free(E.kern);
    free(E.t_dcs);
    free(E.t_r);
    free(E.t_q);
    free(E.t_mud);
    free(E.mu_l);
    free(E.act_l);
    return rc;
}

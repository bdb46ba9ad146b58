#include "simulate.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/log.h"
#include "../io/atomic_file.h"
#include "../io/dicom_ct.h"
#include "../io/json.h"
#include "../io/lmwriter.h"
#include "../io/nifti.h"
#include "../io/quadra64.h"
#include "../io/scanner_file.h"
#include "alias.h"
#include "ct.h"
#include "detector.h"
#include "phantom.h"
#include "transport.h"

#define CHUNK_MS 50
#define ACOL_FWHM_DEG 0.5
#define CT_MARGIN_MM 15.0        /* CT coverage beyond each axial end of the detectors */
#define RESP_TRIGGER_WORD 0xE1001000u /* PETLINK gating, respiratory trigger (quadra-stream.md) */

void lf_sim_config_defaults(lf_sim_config *c)
{
    memset(c, 0, sizeof *c);
    c->scanner = "quadra";
    c->mrd = -1;
    c->weight_kg = 70;
    c->uptake_s = -1;
    c->seed = 1;
    c->scatter = c->randoms = c->lu = 1;
    c->efficiency_sigma = 0.1;
    c->efficiency_seed = 1;
    c->ct = 1;
    c->ct_matrix = 512;
    c->ct_pixel_mm = 500.0 / 512.0;
    c->ct_slice_mm = 3.0;
    c->ct_noise_hu = -1;
    c->truth_voxel_mm = 2.0;
    c->count_fraction = 1.0;
    c->study_date = "2026:11:22";
    c->study_time = "09:00:00";
}

/* ------------------------------------------------------------------ the model in force */
typedef struct sim {
    const lf_sim_config *c;
    lf_scanner sc;
    lf_phantom ph;
    lf_detector det;
    int mrd;
    double lambda;               /* decay constant, 1/s */
    double a_start_bq;           /* activity at scan start */
    double uptake_s;
    double acol_sigma_rad;
    double w_ns;                 /* coincidence window */
    int tof_half;
    /* singles */
    int poll_ms;
    double *block_ph_per_bq;     /* phantom singles per Bq, per block */
    double *block_lu_cps;        /* Lu singles per block */
    double ph_singles_per_bq, lu_singles_cps;
    lf_alias alias_ph, alias_lu;
} sim;

typedef struct item {
    uint64_t word;   /* tag word, or 0 for an event */
    lf_event ev;
} item;

typedef struct chunk {
    item *it;
    size_t n, cap;
    uint64_t decays, trues, scattered, randoms, delayeds;
    int failed;
} chunk;

static int push(chunk *k, const item *x)
{
    if (k->n == k->cap) {
        size_t nc = k->cap ? 2 * k->cap : 4096;
        item *ni = realloc(k->it, nc * sizeof *ni);
        if (!ni) {
            k->failed = 1;
            return -1;
        }
        k->it = ni;
        k->cap = nc;
    }
    k->it[k->n++] = *x;
    return 0;
}

static double resp_dz(const sim *s, double t)
{
    const lf_sim_config *c = s->c;
    if (!(c->resp_period_s > 0) || c->resp_amplitude_mm == 0)
        return 0;
    return c->resp_amplitude_mm * 0.5 * (1.0 - cos(2.0 * M_PI * t / c->resp_period_s));
}

static void motion_offset(const sim *s, double t, double d[3])
{
    d[0] = d[1] = d[2] = 0;
    for (int i = 0; i < s->c->n_motion; i++)
        if (t >= s->c->motion_t_s[i])
            memcpy(d, s->c->motion_mm[i], sizeof(double) * 3);
}

/* One decay: returns 1 and fills e when a coincidence is detected. */
static int one_decay(const sim *s, lf_rng *rng, const lf_transport *tr, const double off[3], lf_event *e, int *scattered)
{
    double x[3], u[3];
    lf_phantom_sample(&s->ph, rng, tr->resp_dz, x);
    double cz = 2.0 * lf_rng_uniform(rng) - 1.0, phi = 2.0 * M_PI * lf_rng_uniform(rng), sz = sqrt(1.0 - cz * cz);
    u[0] = sz * cos(phi);
    u[1] = sz * sin(phi);
    u[2] = cz;
    /* first flights: photon 1 along +u now; photon 2 along -u only if photon 1 is detected */
    lf_segment seg[LF_PHANTOM_MAX_SEGMENTS];
    int n1 = lf_phantom_ray(&s->ph, x, u, 0.0, 4000.0, tr->resp_dz, seg, LF_PHANTOM_MAX_SEGMENTS);
    lf_photon p1 = {.x = {x[0], x[1], x[2]}, .u = {u[0], u[1], u[2]}, .e_kev = 511.0};
    if (!lf_transport_photon(tr, rng, &p1, seg, n1))
        return 0;
    double xs[3] = {p1.x[0] + off[0], p1.x[1] + off[1], p1.x[2] + off[2]}, d1, d2;
    int32_t c1 = lf_detector_detect(&s->det, rng, xs, p1.u, p1.e_kev, &d1);
    if (c1 < 0)
        return 0;
    /* the partner: opposite direction with acollinearity (its first flight is cut along -u: the
     * sub-degree deviation changes attenuation paths by well under a millimetre) */
    double mu_[3] = {-u[0], -u[1], -u[2]};
    int n2 = lf_phantom_ray(&s->ph, x, mu_, 0.0, 4000.0, tr->resp_dz, seg, LF_PHANTOM_MAX_SEGMENTS);
    lf_photon p2 = {.x = {x[0], x[1], x[2]}, .u = {-u[0], -u[1], -u[2]}, .e_kev = 511.0};
    double dev = s->acol_sigma_rad * sqrt(lf_rng_exp(rng) * 2.0); /* |2-D Gaussian| */
    lf_rotate(p2.u, cos(dev), 2.0 * M_PI * lf_rng_uniform(rng));
    if (!lf_transport_photon(tr, rng, &p2, seg, n2))
        return 0;
    double xs2[3] = {p2.x[0] + off[0], p2.x[1] + off[1], p2.x[2] + off[2]};
    int32_t c2 = lf_detector_detect(&s->det, rng, xs2, p2.u, p2.e_kev, &d2);
    if (c2 < 0 || !lf_pair_accepted(&s->sc, (uint32_t)c1, (uint32_t)c2, s->mrd))
        return 0;
    /* TOF: t_b - t_a, a = photon 1's crystal; positive when a was reached first */
    double dt_ps = ((p2.path_mm + d2) - (p1.path_mm + d1)) / LF_C_MM_PER_PS + s->det.tof_sigma_ps * lf_rng_normal(rng);
    if (fabs(dt_ps) > 500.0 * s->w_ns)
        return 0; /* outside the coincidence window: no coincidence */
    int bin = s->sc.tof_bins > 1 ? (int)lround(dt_ps / s->sc.tof_bin_width_ps) : 0;
    if (bin > s->tof_half || bin < -s->tof_half)
        return 0;
    e->a = (uint32_t)c1;
    e->b = (uint32_t)c2;
    e->tof = (int8_t)bin;
    e->prompt = 1;
    *scattered = p1.n_scatter + p2.n_scatter > 0;
    return 1;
}

/* Random coincidences in 1 ms: ordered draws from the singles distribution; a pair is kept when
 * valid. prompt: TOF uniform over the window's bins; delayed: TOF 0. */
static void randoms_ms(const sim *s, lf_rng *rng, double a_bq, uint32_t ms, int prompt, chunk *k)
{
    double sph = s->ph_singles_per_bq * a_bq, slu = s->c->lu ? s->lu_singles_cps : 0;
    double stot = sph + slu;
    if (stot <= 0)
        return;
    double mean = 0.5 * s->w_ns * 1e-9 * stot * stot * 1e-3 * s->c->count_fraction;
    uint64_t n = lf_rng_poisson(rng, mean);
    double pph = sph / stot;
    for (uint64_t i = 0; i < n; i++) {
        uint32_t a = lf_rng_uniform(rng) < pph ? lf_alias_draw(&s->alias_ph, rng) : lf_alias_draw(&s->alias_lu, rng);
        uint32_t b = lf_rng_uniform(rng) < pph ? lf_alias_draw(&s->alias_ph, rng) : lf_alias_draw(&s->alias_lu, rng);
        if (!lf_pair_accepted(&s->sc, a, b, s->mrd))
            continue;
        item it = {0};
        it.ev.t_ms = ms;
        it.ev.a = a;
        it.ev.b = b;
        it.ev.prompt = (uint8_t)prompt;
        it.ev.tof = prompt ? (int8_t)((int)lf_rng_below(rng, (uint64_t)(2 * s->tof_half + 1)) - s->tof_half) : 0;
        if (push(k, &it) == 0) {
            if (prompt)
                k->randoms++;
            else
                k->delayeds++;
        }
    }
}

static void simulate_chunk(const sim *s, uint64_t chunk_index, uint64_t total_ms, chunk *k)
{
    const lf_sim_config *c = s->c;
    lf_rng rng;
    lf_rng_seed(&rng, c->seed, chunk_index);
    uint64_t ms0 = chunk_index * CHUNK_MS, ms1 = ms0 + CHUNK_MS;
    if (ms1 > total_ms)
        ms1 = total_ms;
    lf_transport tr = {.ph = &s->ph, .scatter = c->scatter, .max_scatter = 8};
    tr.e_min_kev = s->det.e_lo_kev * (1.0 - 4.0 * s->det.energy_fwhm / 2.3548 * sqrt(511.0 / s->det.e_lo_kev));
    double period_ms = c->resp_period_s > 0 ? c->resp_period_s * 1000.0 : 0;
    for (uint64_t ms = ms0; ms < ms1 && !k->failed; ms++) {
        double t = ((double)ms + 0.5) * 1e-3;
        double a_bq = s->a_start_bq * exp(-s->lambda * t);
        if (period_ms > 0 && c->resp_amplitude_mm != 0) {
            /* trigger at the first ms of each cycle */
            double cyc = floor((double)ms / period_ms);
            if ((double)ms - cyc * period_ms < 1.0) {
                item it = {.word = lf_q64_tag(RESP_TRIGGER_WORD, 0)};
                it.ev.t_ms = (uint32_t)ms;
                push(k, &it);
            }
        }
        tr.resp_dz = resp_dz(s, t);
        double off[3];
        motion_offset(s, t, off);
        uint64_t nd = lf_rng_poisson(&rng, a_bq * LF_F18_BRANCHING * 1e-3 * c->count_fraction);
        k->decays += nd;
        for (uint64_t i = 0; i < nd; i++) {
            item it = {0};
            int scat = 0;
            if (one_decay(s, &rng, &tr, off, &it.ev, &scat)) {
                it.ev.t_ms = (uint32_t)ms;
                if (push(k, &it) == 0) {
                    if (scat)
                        k->scattered++;
                    else
                        k->trues++;
                }
            }
        }
        if (c->randoms) {
            randoms_ms(s, &rng, a_bq, (uint32_t)ms, 1, k);
            randoms_ms(s, &rng, a_bq, (uint32_t)ms, 0, k);
        }
        if (s->poll_ms > 0 && (ms + 1) % (uint64_t)s->poll_ms == 0) {
            /* block singles over the polling interval that ends with this ms */
            double poll_s = s->poll_ms * 1e-3;
            for (int b = 0; b < s->sc.n_blocks; b++) {
                double rate = s->block_ph_per_bq[b] * a_bq + (c->lu ? s->block_lu_cps[b] : 0);
                uint64_t cnt = lf_rng_poisson(&rng, rate * poll_s);
                if (cnt > 0x1FFFFFFFu)
                    cnt = 0x1FFFFFFFu;
                item it = {.word = lf_q64_singles((uint32_t)cnt, (uint32_t)b)};
                it.ev.t_ms = (uint32_t)ms;
                push(k, &it);
            }
        }
    }
}

/* ------------------------------------------------------------------ singles model */
static int singles_model(sim *s, lf_error *err)
{
    const lf_scanner *sc = &s->sc;
    int nb = sc->n_blocks;
    s->block_ph_per_bq = calloc((size_t)nb, sizeof(double));
    s->block_lu_cps = calloc((size_t)nb, sizeof(double));
    double *w = malloc((size_t)sc->n_crystals * sizeof *w);
    double *beff = calloc((size_t)nb, sizeof *beff);
    if (!s->block_ph_per_bq || !s->block_lu_cps || !w || !beff) {
        free(w);
        free(beff);
        return lf_fail(err, "out of memory for the singles model");
    }
    /* phantom singles: single photons from the activity, transported and detected */
    const int nthreads = omp_get_max_threads();
    const uint64_t nphot = 2000000;
    uint64_t *cnt = calloc((size_t)nb * (size_t)nthreads, sizeof *cnt);
    if (!cnt) {
        free(w);
        free(beff);
        return lf_fail(err, "out of memory for the singles model");
    }
    lf_transport tr = {.ph = &s->ph, .scatter = s->c->scatter, .max_scatter = 8};
    tr.e_min_kev = s->det.e_lo_kev * (1.0 - 4.0 * s->det.energy_fwhm / 2.3548 * sqrt(511.0 / s->det.e_lo_kev));
#pragma omp parallel for schedule(static)
    for (int part = 0; part < 64; part++) {
        lf_rng rng;
        lf_rng_seed(&rng, s->c->seed ^ 0x5151515151ull, (uint64_t)part);
        uint64_t *my = cnt + (size_t)omp_get_thread_num() * (size_t)nb;
        for (uint64_t i = 0; i < nphot / 64; i++) {
            lf_photon p = {.e_kev = 511.0};
            lf_phantom_sample(&s->ph, &rng, 0, p.x);
            double cz = 2.0 * lf_rng_uniform(&rng) - 1.0, phi = 2.0 * M_PI * lf_rng_uniform(&rng), sz = sqrt(1 - cz * cz);
            p.u[0] = sz * cos(phi);
            p.u[1] = sz * sin(phi);
            p.u[2] = cz;
            if (!lf_transport_photon(&tr, &rng, &p, NULL, 0))
                continue;
            double d;
            int32_t cr = lf_detector_detect(&s->det, &rng, p.x, p.u, p.e_kev, &d);
            if (cr >= 0)
                my[lf_crystal_block(sc, (uint32_t)cr)]++;
        }
    }
    for (int b = 0; b < nb; b++) {
        uint64_t total = 0;
        for (int t = 0; t < nthreads; t++)
            total += cnt[(size_t)t * nb + b];
        /* two photons per positron */
        s->block_ph_per_bq[b] = (double)total / (double)(nphot / 64 * 64) * 2.0 * LF_F18_BRANCHING;
        s->ph_singles_per_bq += s->block_ph_per_bq[b];
    }
    free(cnt);
    /* LSO background: 176Lu in each crystal (volume from the pitch), fraction in the window */
    double cvol_cm3 = (2.0 * M_PI * s->det.radius_mm / sc->slots_t) * sc->ring_pitch_mm * s->det.depth_mm * 1e-3;
    double lu_per_crystal = cvol_cm3 * LF_LSO_DENSITY_G_CM3 * LF_LU_BQ_PER_G_LSO * LF_LU_WINDOW_FRACTION;
    for (int cr = 0; cr < sc->n_crystals; cr++)
        beff[lf_crystal_block(sc, (uint32_t)cr)] += s->det.eff[cr];
    for (int cr = 0; cr < sc->n_crystals; cr++) {
        int b = lf_crystal_block(sc, (uint32_t)cr);
        w[cr] = beff[b] > 0 ? s->block_ph_per_bq[b] * s->det.eff[cr] / beff[b] : 0;
    }
    int rc = lf_alias_init(&s->alias_ph, w, (uint32_t)sc->n_crystals, err);
    for (int cr = 0; rc == 0 && cr < sc->n_crystals; cr++) {
        w[cr] = lu_per_crystal * s->det.eff[cr];
        s->block_lu_cps[lf_crystal_block(sc, (uint32_t)cr)] += w[cr];
        s->lu_singles_cps += w[cr];
    }
    if (rc == 0)
        rc = lf_alias_init(&s->alias_lu, w, (uint32_t)sc->n_crystals, err);
    free(w);
    free(beff);
    return rc;
}

/* ------------------------------------------------------------------ outputs */
static int path_in(char *buf, size_t n, const char *dir, const char *name)
{
    return snprintf(buf, n, "%s/%s", dir, name) < (int)n ? 0 : -1;
}

static int datetime_minus(const char *date, const char *tim, double seconds, char *d_out, char *t_out)
{
    struct tm tm = {0};
    if (sscanf(date, "%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday) != 3 ||
        sscanf(tim, "%d:%d:%d", &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 3)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm) - (time_t)llround(seconds);
    struct tm o;
    gmtime_r(&t, &o);
    snprintf(d_out, 48, "%04d:%02d:%02d", (o.tm_year + 1900) % 10000, (o.tm_mon + 1) % 100, o.tm_mday % 100);
    snprintf(t_out, 48, "%02d:%02d:%02d", o.tm_hour % 100, o.tm_min % 100, o.tm_sec % 100);
    return 0;
}

static double hu_at(const double x[3], void *user)
{
    const lf_phantom *ph = user;
    int i = lf_phantom_shape_at(ph, x, 0);
    return i < 0 ? -1000.0 : ph->s[i].hu;
}

static int write_truth_images(const sim *s, double conc_per_rel, lf_error *err)
{
    const lf_sim_config *c = s->c;
    double v = c->truth_voxel_mm;
    int n[3];
    double origin[3], vox[3] = {v, v, v};
    for (int i = 0; i < 3; i++) {
        double lo = s->ph.lo[i] - 2 * v, hi = s->ph.hi[i] + 2 * v;
        n[i] = (int)ceil((hi - lo) / v);
        origin[i] = lo + 0.5 * v;
    }
    lf_volume vol;
    if (lf_volume_alloc(&vol, n, vox, origin, err) != 0)
        return -1;
    struct {
        lf_raster_what what;
        double scale;
        const char *file, *intent;
        lf_nifti_type type;
        int ss;
    } im[3] = {{LF_RASTER_ACTIVITY, conc_per_rel, "truth_activity.nii.gz", "Bq/mL", LF_NIFTI_FLOAT32, 2},
               {LF_RASTER_MU, 1.0, "truth_mu.nii.gz", "1/cm", LF_NIFTI_FLOAT32, 2},
               {LF_RASTER_LABEL, 1.0, "truth_labels.nii.gz", "label", LF_NIFTI_UINT8, 1}};
    int rc = 0;
    for (int i = 0; i < 3 && rc == 0; i++) {
        char p[4200];
        path_in(p, sizeof p, c->out_dir, im[i].file);
        rc = lf_phantom_rasterize(&s->ph, im[i].what, im[i].scale, n, vox, origin, im[i].ss, vol.data, err);
        if (rc == 0)
            rc = lf_nifti_write(p, &vol, im[i].type, im[i].intent, err);
        if (rc == 0)
            lf_info("wrote %s (%d x %d x %d, %.3g mm)", p, n[0], n[1], n[2], v);
    }
    lf_volume_free(&vol);
    return rc;
}

static int write_ct(const sim *s, lf_error *err)
{
    const lf_sim_config *c = s->c;
    int n[3] = {c->ct_matrix, c->ct_matrix, 0};
    /* the detectors' axial extent and a margin beyond each end: an object as long as the field of view (the
     * normalisation cylinder) then ends inside the CT, so its length and volume can be read from it */
    double zlo = s->det.z_lo_mm - CT_MARGIN_MM, zhi = s->det.z_hi_mm + CT_MARGIN_MM;
    n[2] = (int)ceil((zhi - zlo) / c->ct_slice_mm);
    double vox[3] = {c->ct_pixel_mm, c->ct_pixel_mm, c->ct_slice_mm};
    double origin[3] = {-0.5 * (n[0] - 1) * vox[0], -0.5 * (n[1] - 1) * vox[1], -0.5 * (n[2] - 1) * vox[2]};
    lf_volume ct;
    if (lf_volume_alloc(&ct, n, vox, origin, err) != 0)
        return -1;
    double sigma = c->ct_noise_hu >= 0 ? c->ct_noise_hu : lf_ct_noise_sigma_default();
    int rc = lf_ct_synthesize(&ct, hu_at, (void *)&s->ph, 1, sigma, lf_ct_noise_corr_default_mm(), c->seed ^ 0xC7ull, err);
    snprintf(ct.descrip, sizeof ct.descrip, "kvp=120 mas=25 lafov simulated low-dose CT");
    char p[4200];
    if (rc == 0) {
        path_in(p, sizeof p, c->out_dir, "ct.nii.gz");
        rc = lf_nifti_write(p, &ct, LF_NIFTI_INT16, "HU", err);
    }
    if (rc == 0) {
        path_in(p, sizeof p, c->out_dir, "ct");
        lf_ct_info info = {.kvp = 120, .exposure_mas = 25};
        snprintf(info.patient_name, sizeof info.patient_name, "LAFOV^%.50s", s->ph.name);
        snprintf(info.description, sizeof info.description, "lafov simulated 25 mAs CT");
        rc = lf_dicom_ct_write(p, &ct, &info, err);
    }
    if (rc == 0)
        lf_info("wrote the CT: %d x %d x %d at %.4g x %.4g x %.4g mm, noise sigma %.1f HU", n[0], n[1], n[2], vox[0], vox[1],
                vox[2], sigma);
    lf_volume_free(&ct);
    return rc;
}

static int write_efficiencies(const sim *s, lf_error *err)
{
    char p[4200];
    path_in(p, sizeof p, s->c->out_dir, "crystal_efficiency.csv");
    lf_atomic_file af;
    FILE *f = lf_atomic_open(&af, p, err);
    if (!f)
        return -1;
    fputs("ring,crystal,efficiency\n", f);
    for (int r = 0; r < s->sc.rings; r++)
        for (int k = 0; k < s->sc.crystals_per_ring; k++)
            fprintf(f, "%d,%d,%.6f\n", r, k, s->det.eff[lf_crystal_id(&s->sc, r, k)]);
    return lf_atomic_commit(&af, err);
}

static void json_vec(lf_json *j, const char *key, const double *v, int n)
{
    lf_json_arr(j, key);
    for (int i = 0; i < n; i++)
        lf_json_num(j, NULL, v[i]);
    lf_json_end(j);
}

static int write_truth_json(const sim *s, const lf_sim_result *r, double conc_per_rel, lf_error *err)
{
    const lf_sim_config *c = s->c;
    char p[4200];
    path_in(p, sizeof p, c->out_dir, "truth.json");
    lf_atomic_file af;
    FILE *f = lf_atomic_open(&af, p, err);
    if (!f)
        return -1;
    lf_json j;
    lf_json_init(&j, f);
    lf_json_obj(&j, NULL);
    lf_json_str(&j, "generator", "lafov simulate " LAFOV_VERSION);
    lf_json_str(&j, "phantom", s->ph.name);
    lf_json_str(&j, "scanner", s->sc.name);
    lf_json_i64(&j, "maximum_ring_difference", s->mrd);
    lf_json_u64(&j, "seed", c->seed);
    lf_json_num(&j, "duration_s", c->duration_s);
    lf_json_num(&j, "uptake_s", s->uptake_s);
    lf_json_num(&j, "weight_kg", c->weight_kg);
    lf_json_num(&j, "activity_at_injection_bq", c->activity_bq);
    lf_json_num(&j, "activity_at_scan_start_bq", s->a_start_bq);
    lf_json_num(&j, "mean_activity_bq", r->mean_activity_bq);
    lf_json_num(&j, "count_fraction", c->count_fraction);
    lf_json_obj(&j, "counts");
    lf_json_u64(&j, "decays", r->decays);
    lf_json_u64(&j, "trues", r->trues);
    lf_json_u64(&j, "scatter", r->scattered);
    lf_json_u64(&j, "randoms_prompt", r->randoms_prompt);
    lf_json_u64(&j, "delayeds", r->delayeds);
    lf_json_u64(&j, "prompts", r->trues + r->scattered + r->randoms_prompt);
    lf_json_u64(&j, "time_markers", r->time_markers);
    lf_json_end(&j);
    uint64_t prompts = r->trues + r->scattered + r->randoms_prompt;
    lf_json_obj(&j, "fractions");
    lf_json_num(&j, "scatter_fraction", r->trues + r->scattered ? (double)r->scattered / (double)(r->trues + r->scattered) : 0);
    lf_json_num(&j, "randoms_fraction_of_prompts", prompts ? (double)r->randoms_prompt / (double)prompts : 0);
    lf_json_end(&j);
    lf_json_obj(&j, "sensitivity");
    lf_json_num(&j, "trues_cps_per_mbq", r->trues_cps_per_mbq);
    lf_json_str(&j, "definition", "unscattered true coincidences per second per MBq of mean activity in the phantom "
                                  "(divided by the count fraction)");
    lf_json_end(&j);
    lf_json_obj(&j, "singles");
    lf_json_num(&j, "phantom_cps_at_scan_start", r->phantom_singles_cps);
    lf_json_num(&j, "lu176_cps", r->lu_singles_cps);
    lf_json_num(&j, "lu176_window_fraction", LF_LU_WINDOW_FRACTION);
    lf_json_end(&j);
    lf_json_obj(&j, "physics");
    lf_json_bool(&j, "scatter", c->scatter);
    lf_json_bool(&j, "randoms", c->randoms);
    lf_json_bool(&j, "lu176", c->lu);
    lf_json_num(&j, "crystal_efficiency_sigma", c->uniform_efficiency ? 0 : c->efficiency_sigma);
    lf_json_num(&j, "crystal_efficiency_seed", (double)c->efficiency_seed);
    lf_json_num(&j, "photopeak_fraction", s->det.photopeak);
    lf_json_num(&j, "energy_resolution_fwhm", s->det.energy_fwhm);
    lf_json_num(&j, "acollinearity_fwhm_deg", ACOL_FWHM_DEG);
    lf_json_num(&j, "tof_fwhm_ps", s->sc.tof_fwhm_ps);
    lf_json_end(&j);
    lf_json_str(&j, "crystal_efficiency_file", "crystal_efficiency.csv");
    lf_json_arr(&j, "motion");
    for (int i = 0; i < c->n_motion; i++) {
        lf_json_obj(&j, NULL);
        lf_json_num(&j, "time_s", c->motion_t_s[i]);
        json_vec(&j, "shift_mm", c->motion_mm[i], 3);
        lf_json_end(&j);
    }
    lf_json_end(&j);
    lf_json_obj(&j, "respiration");
    lf_json_num(&j, "period_s", c->resp_period_s);
    lf_json_num(&j, "amplitude_mm", c->resp_amplitude_mm);
    lf_json_end(&j);
    json_vec(&j, "position_mm", c->position_mm, 3);
    lf_json_arr(&j, "labels");
    static const char *types[] = {"ellipsoid", "cylinder", "box", "iec_body"};
    for (int i = 0; i < s->ph.n; i++) {
        const lf_shape *sh = &s->ph.s[i];
        lf_json_obj(&j, NULL);
        lf_json_i64(&j, "label", sh->label);
        lf_json_str(&j, "name", sh->name);
        lf_json_str(&j, "type", types[sh->type]);
        if (sh->type == LF_SHAPE_CYLINDER)
            lf_json_str(&j, "axis", sh->axis == 0 ? "x" : sh->axis == 1 ? "y" : "z");
        json_vec(&j, "centre_mm", sh->c, 3);
        json_vec(&j, "semi_axes_mm", sh->r, 3);
        lf_json_num(&j, "activity_bq_per_ml_at_scan_start", conc_per_rel * sh->rel_activity);
        lf_json_num(&j, "relative_activity", sh->rel_activity);
        lf_json_num(&j, "hu", sh->hu);
        lf_json_num(&j, "mu_per_cm", sh->mu_per_cm);
        lf_json_num(&j, "volume_ml", sh->volume_ml);
        lf_json_num(&j, "owned_volume_ml", sh->owned_ml);
        lf_json_num(&j, "resp_weight", sh->resp_weight);
        lf_json_end(&j);
    }
    lf_json_end(&j);
    lf_json_obj(&j, "files");
    lf_json_str(&j, "listmode", "acq.l");
    lf_json_str(&j, "activity", "truth_activity.nii.gz");
    lf_json_str(&j, "mu", "truth_mu.nii.gz");
    lf_json_str(&j, "labels", "truth_labels.nii.gz");
    if (c->ct) {
        lf_json_str(&j, "ct_nifti", "ct.nii.gz");
        lf_json_str(&j, "ct_dicom", "ct");
    }
    lf_json_end(&j);
    lf_json_num(&j, "simulation_seconds", r->seconds);
    lf_json_end(&j);
    lf_json_finish(&j);
    return lf_atomic_commit(&af, err);
}

/* ------------------------------------------------------------------ main */
static void sim_free(sim *s)
{
    lf_phantom_free(&s->ph);
    lf_detector_free(&s->det);
    lf_alias_free(&s->alias_ph);
    lf_alias_free(&s->alias_lu);
    free(s->block_ph_per_bq);
    free(s->block_lu_cps);
}

int lf_simulate(const lf_sim_config *c, lf_sim_result *res, lf_error *err)
{
    memset(res, 0, sizeof *res);
    sim s;
    memset(&s, 0, sizeof s);
    s.c = c;
    int rc = -1;
    lf_q64_writer *w = NULL;
    chunk *chunks = NULL;
    int group = 0;
    if (!(c->duration_s > 0) || c->duration_s > 86400)
        return lf_fail(err, "--duration-s %g: expected 0 < T <= 86400 s", c->duration_s);
    if (!(c->count_fraction > 0 && c->count_fraction <= 1))
        return lf_fail(err, "--count-fraction %g: expected 0 < p <= 1", c->count_fraction);
    if (!(c->activity_bq > 0))
        return lf_fail(err, "activity %g Bq: expected > 0 (--activity-mbq or --activity-mbq-per-kg)", c->activity_bq);
    if (lf_scanner_by_name(NULL, c->scanner, &s.sc, err) != 0)
        return -1;
    if (s.sc.format != LF_FORMAT_QUADRA64)
        return lf_fail(err, "scanner '%s' reads PETLINK 32-bit sinogram streams; the simulator writes the 64-bit "
                            "detector-pair stream (use e.g. --scanner quadra)", s.sc.name);
    s.mrd = c->mrd >= 0 ? c->mrd : s.sc.mrd;
    if (s.mrd > s.sc.slots_z - 1) {
        lf_fail(err, "--mrd %d: expected 0..%d for scanner '%s'", s.mrd, s.sc.slots_z - 1, s.sc.name);
        goto done;
    }
    if (lf_phantom_load(NULL, c->phantom, &s.ph, err) != 0)
        goto done;
    if (c->line_length_mm > 0 && lf_phantom_set_half_length(&s.ph, "line", 0.5 * c->line_length_mm) != 0) {
        lf_fail(err, "--line-length-mm: phantom '%s' has no shape named 'line'", s.ph.name);
        goto done;
    }
    if (c->sphere_ratio > 0 && lf_phantom_set_activity(&s.ph, "sphere", c->sphere_ratio) == 0) {
        lf_fail(err, "--sphere-ratio: phantom '%s' has no shapes named 'sphere...'", s.ph.name);
        goto done;
    }
    lf_phantom_translate(&s.ph, c->position_mm);
    if (lf_detector_init(&s.det, &s.sc, s.mrd, c->uniform_efficiency ? 0 : c->efficiency_sigma, c->efficiency_seed, err) != 0)
        goto done;
    s.uptake_s = c->uptake_s >= 0 ? c->uptake_s : s.ph.default_uptake_s;
    s.lambda = log(2.0) / LF_F18_HALFLIFE_S;
    s.a_start_bq = c->activity_bq * exp(-s.lambda * s.uptake_s);
    s.acol_sigma_rad = ACOL_FWHM_DEG / 2.3548200450309493 * M_PI / 180.0;
    s.w_ns = s.sc.coincidence_window_ns > 0 ? s.sc.coincidence_window_ns : 4.73;
    s.tof_half = s.sc.tof_bins / 2;
    s.poll_ms = 2000;
    lf_info("phantom %s: %d shapes, activity %.4g MBq at injection, %.4g MBq at scan start (uptake %g s)", s.ph.name,
            s.ph.n, c->activity_bq / 1e6, s.a_start_bq / 1e6, s.uptake_s);
    if (lf_mkdirs(c->out_dir, err) != 0 || singles_model(&s, err) != 0)
        goto done;
    res->phantom_singles_cps = s.ph_singles_per_bq * s.a_start_bq;
    res->lu_singles_cps = c->lu ? s.lu_singles_cps : 0;
    lf_info("singles model: phantom %.4g kcps at scan start, 176Lu %.4g kcps", res->phantom_singles_cps / 1e3,
            res->lu_singles_cps / 1e3);

    /* the stream */
    char lpath[4200], d_inj[48], t_inj[48];
    path_in(lpath, sizeof lpath, c->out_dir, "acq.l");
    if (datetime_minus(c->study_date, c->study_time, s.uptake_s, d_inj, t_inj) != 0) {
        lf_fail(err, "study date/time '%s %s': expected yyyy:mm:dd hh:mm:ss", c->study_date, c->study_time);
        goto done;
    }
    lf_ifh keys = {0};
    lf_ifh_set(&keys, "isotope name", "F-18");
    lf_ifh_setf(&keys, "isotope gamma halflife (sec)", "%.1f", LF_F18_HALFLIFE_S);
    lf_ifh_setf(&keys, "isotope branching factor", "%.4f", LF_F18_BRANCHING);
    lf_ifh_set(&keys, "radiopharmaceutical", "FDG");
    lf_ifh_setf(&keys, "tracer activity at time of injection (Bq)", "%.6e", c->activity_bq);
    lf_ifh_set(&keys, "%tracer injection date (yyyy:mm:dd)", d_inj);
    lf_ifh_set(&keys, "%tracer injection time (hh:mm:ss GMT+00:00)", t_inj);
    lf_ifh_set(&keys, "%study date (yyyy:mm:dd)", c->study_date);
    lf_ifh_set(&keys, "%study time (hh:mm:ss GMT+00:00)", c->study_time);
    lf_ifh_setf(&keys, "patient weight (kg)", "%g", c->weight_kg);
    lf_ifh_setf(&keys, "%singles polling interval (sec)", "%g", s.poll_ms / 1000.0);
    lf_ifh_setf(&keys, "%lafov count fraction", "%.6g", c->count_fraction);
    lf_ifh_setf(&keys, "%lafov simulation", "phantom %s, seed %llu, scatter %s, randoms %s, 176Lu %s", s.ph.name,
                (unsigned long long)c->seed, c->scatter ? "on" : "off", c->randoms ? "on" : "off", c->lu ? "on" : "off");
    int wrc = lf_q64w_open(lpath, &s.sc, s.mrd, &keys, &w, err);
    lf_ifh_free(&keys);
    if (wrc != 0)
        goto done;

    uint64_t total_ms = (uint64_t)llround(c->duration_s * 1000.0);
    uint64_t nchunks = (total_ms + CHUNK_MS - 1) / CHUNK_MS;
    group = 4 * omp_get_max_threads();
    chunks = calloc((size_t)group, sizeof *chunks);
    if (!chunks) {
        lf_fail(err, "out of memory");
        goto done;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (uint64_t g0 = 0; g0 < nchunks; g0 += (uint64_t)group) {
        int ng = (int)((nchunks - g0) < (uint64_t)group ? nchunks - g0 : (uint64_t)group);
#pragma omp parallel for schedule(dynamic, 1)
        for (int i = 0; i < ng; i++) {
            chunks[i].n = 0;
            simulate_chunk(&s, g0 + (uint64_t)i, total_ms, &chunks[i]);
        }
        for (int i = 0; i < ng; i++) {
            chunk *k = &chunks[i];
            if (k->failed) {
                lf_fail(err, "out of memory while simulating");
                goto done;
            }
            for (size_t e = 0; e < k->n; e++) {
                const item *it = &k->it[e];
                int wr = it->word ? (lf_q64w_time(w, it->ev.t_ms, err) || lf_q64w_tag(w, it->word, err))
                                  : lf_q64w_event(w, &it->ev, err);
                if (wr != 0)
                    goto done;
            }
            res->decays += k->decays;
            res->trues += k->trues;
            res->scattered += k->scattered;
            res->randoms_prompt += k->randoms;
            res->delayeds += k->delayeds;
            k->decays = k->trues = k->scattered = k->randoms = k->delayeds = 0;
        }
        if (c->progress)
            c->progress(g0 + (uint64_t)ng, nchunks, c->progress_user);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    res->seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    res->time_markers = total_ms;
    if (lf_q64w_close(w, total_ms, err) != 0) {
        w = NULL;
        goto done;
    }
    w = NULL;
    double T = (double)total_ms / 1000.0;
    res->mean_activity_bq = s.a_start_bq * (1.0 - exp(-s.lambda * T)) / (s.lambda * T);
    res->trues_cps_per_mbq = (double)res->trues / T / (res->mean_activity_bq / 1e6) / c->count_fraction;
    lf_info("simulated %.3g s: %llu trues, %llu scattered, %llu prompt randoms, %llu delayeds in %.1f s (%.3g coincidences/s)",
            T, (unsigned long long)res->trues, (unsigned long long)res->scattered, (unsigned long long)res->randoms_prompt,
            (unsigned long long)res->delayeds, res->seconds,
            (double)(res->trues + res->scattered + res->randoms_prompt + res->delayeds) / res->seconds);

    double conc_per_rel = s.ph.total_rel > 0 ? s.a_start_bq / s.ph.total_rel : 0; /* Bq/mL per relative unit */
    if (write_efficiencies(&s, err) != 0 || write_truth_images(&s, conc_per_rel, err) != 0 ||
        (c->ct && write_ct(&s, err) != 0) || write_truth_json(&s, res, conc_per_rel, err) != 0)
        goto done;
    rc = 0;
done:
    if (w)
        lf_q64w_abort(w);
    if (chunks) {
        for (int i = 0; i < group; i++)
            free(chunks[i].it);
        free(chunks);
    }
    sim_free(&s);
    return rc;
}

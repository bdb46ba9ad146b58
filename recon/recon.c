/* lafov recon: the whole reconstruction of one acquisition (see recon.h). */
#include "recon.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>

#include "../core/log.h"
#include "../core/sha256.h"
#include "../io/atomic_file.h"
#include "../io/dicom_ct.h"
#include "../io/interfile.h"
#include "../io/json.h"
#include "../io/lmheader.h"
#include "../io/lmreader.h"
#include "../io/nifti.h"
#include "../kernels/device.h"
#include "calibration.h"
#include "filter.h"
#include "frames.h"
#include "motion.h"
#include "mumap.h"
#include "norm.h"
#include "osem.h"
#include "randoms.h"
#include "scatter.h"
#include "recon_output.h"
#include "response.h"
#include "sens_cache.h"
#include "units.h"

#define LF_RECON_MASK_THRESHOLD 0.02f
#define LF_RECON_DEFAULT_KVP 120.0
#define LF_RECON_TRANSAXIAL_FOV_FRACTION 1.7 /* default transaxial FOV diameter = 1.7 · ring radius */

void lf_recon_opts_default(lf_recon_opts *o)
{
    memset(o, 0, sizeof *o);
    o->iterations = 4;
    o->subsets = 5;
    o->voxel_mm = 3.3;
    o->mrd = -1;
    o->device = LF_DEVICE_CPU;
    o->projector = LF_PROJ_SIDDON;
    o->mumap_fwhm_mm = -1;
    o->decay_ref = LF_DECAY_REF_SCAN_START;
}

static double now_s(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + 1e-6 * (double)tv.tv_usec;
}

static void progress(const lf_recon_opts *o, const char *stage, double done, double total)
{
    if (o->progress)
        o->progress(o->user, stage, done, total);
}

/* ---- grid ---- */

static int make_grid(const lf_recon_opts *o, const lf_scanner *sc, lf_grid *g, lf_error *err)
{
    if (o->grid_n[0] > 0 || o->grid_n[1] > 0 || o->grid_n[2] > 0) {
        if (o->grid_n[0] <= 0 || o->grid_n[1] <= 0 || o->grid_n[2] <= 0 || !(o->grid_voxel_mm > 0))
            return lf_fail(err, "--grid: expected NX,NY,NZ,DX with positive values");
        const float v = (float)o->grid_voxel_mm;
        *g = lf_grid_centred(o->grid_n[0], o->grid_n[1], o->grid_n[2], v, v, v, 0, 0, 0);
    } else {
        const double v = o->voxel_mm > 0 ? o->voxel_mm : 3.3;
        if (!(v >= 0.5 && v <= 50))
            return lf_fail(err, "--voxel-mm %g: expected 0.5 to 50 mm", v);
        int nxy = (int)ceil(LF_RECON_TRANSAXIAL_FOV_FRACTION * sc->ring_radius_mm / v);
        int nz = (int)ceil(sc->slots_z * sc->ring_pitch_mm / v - 1e-6);
        *g = lf_grid_centred(nxy, nxy, nz, (float)v, (float)v, (float)v, 0, 0, 0);
    }
    return lf_proj_check(g, NULL, err);
}

static int grid_volume(const lf_grid *g, lf_volume *v, lf_error *err)
{
    const double vox[3] = {g->voxel_mm[0], g->voxel_mm[1], g->voxel_mm[2]};
    const double org[3] = {g->origin_mm[0], g->origin_mm[1], g->origin_mm[2]};
    return lf_volume_alloc(v, g->n, vox, org, err);
}

/* ---- attenuation ---- */

static double kvp_from_descrip(const char *d)
{
    const char *p = strstr(d, "kvp=");
    return p ? atof(p + 4) : 0.0;
}

static int load_mumap(const lf_recon_opts *o, const lf_grid *g, lf_volume *mu, double *kvp_used, lf_error *err)
{
    struct stat st;
    if (stat(o->ct, &st) != 0)
        return lf_fail(err, "--ct %s: no such file or folder (expected a DICOM CT folder or a NIfTI in HU)", o->ct);
    lf_volume ct;
    double kvp_file = 0;
    if (S_ISDIR(st.st_mode)) {
        lf_ct_info info;
        if (lf_dicom_ct_read(o->ct, &ct, &info, err) != 0)
            return -1;
        kvp_file = info.kvp;
        lf_info("CT: DICOM series %s, %dx%dx%d voxels of %.3gx%.3gx%.3g mm, KVP %g, exposure %g mAs", o->ct, ct.n[0],
                ct.n[1], ct.n[2], ct.vox_mm[0], ct.vox_mm[1], ct.vox_mm[2], info.kvp, info.exposure_mas);
    } else {
        if (lf_nifti_read(o->ct, &ct, err) != 0)
            return -1;
        kvp_file = kvp_from_descrip(ct.descrip);
        lf_info("CT: NIfTI %s, %dx%dx%d voxels of %.3gx%.3gx%.3g mm, descrip '%s'", o->ct, ct.n[0], ct.n[1], ct.n[2],
                ct.vox_mm[0], ct.vox_mm[1], ct.vox_mm[2], ct.descrip);
    }
    double kvp = o->kvp > 0 ? o->kvp : kvp_file;
    if (!(kvp > 0)) {
        kvp = LF_RECON_DEFAULT_KVP;
        lf_warn("CT %s states no tube voltage: assuming %g kVp (give --kvp)", o->ct, kvp);
    } else if (o->kvp > 0 && kvp_file > 0 && fabs(o->kvp - kvp_file) > 0.5) {
        lf_warn("--kvp %g overrides the CT's own %g kVp", o->kvp, kvp_file);
    }
    lf_hu2mu_table t;
    lf_volume like;
    int rc = lf_hu2mu_load(NULL, &t, err);
    if (rc == 0)
        rc = grid_volume(g, &like, err);
    if (rc == 0) {
        double fwhm = o->mumap_fwhm_mm >= 0 ? o->mumap_fwhm_mm : 4.0;
        rc = lf_ct_to_mumap(&ct, kvp, &t, fwhm, &like, mu, err);
        lf_volume_free(&like);
        if (rc == 0)
            lf_info("μ-map: HU → μ at 511 keV (Carney 2006, %g kVp), Gaussian %g mm FWHM, mean-preserving onto the PET grid",
                    kvp, fwhm);
    }
    lf_volume_free(&ct);
    if (rc != 0)
        return lf_fail_prefix(err, "CT %s", o->ct);
    *kvp_used = kvp;
    return 0;
}

/* ---- events ---- */

typedef struct frame_events {
    uint32_t *a, *b;
    int8_t *tof;
    size_t n, cap;
    uint64_t delayeds;
    double *dfan;             /* delayed fan sums of the pairs accepted at the MRD (randoms.h), or NULL */
    uint64_t delayeds_in_mrd;
} frame_events;

typedef struct read_ctx {
    const lf_scanner *sc;
    const lf_frames *fr;
    frame_events *fe;
    int mrd;
    int tof;
    uint64_t outside_mrd, prompts, delayeds;
    uint32_t last_ms;
    const lf_recon_opts *o;
    uint64_t bytes_total;
    lf_lm_reader *r;
} read_ctx;

static int push(frame_events *f, const lf_event *e, int tof, lf_error *err)
{
    if (f->n == f->cap) {
        size_t nc = f->cap ? 2 * f->cap : 1 << 16;
        uint32_t *a = realloc(f->a, nc * sizeof *a);
        if (a)
            f->a = a;
        uint32_t *b = a ? realloc(f->b, nc * sizeof *b) : NULL;
        if (b)
            f->b = b;
        int8_t *t = b ? realloc(f->tof, nc) : NULL;
        if (!t)
            return lf_fail(err, "out of memory keeping %zu events of a frame", f->n);
        f->tof = t;
        f->cap = nc;
    }
    f->a[f->n] = e->a;
    f->b[f->n] = e->b;
    f->tof[f->n] = tof ? (int8_t)e->tof : 0;
    f->n++;
    return 0;
}

static int on_batch(const lf_lm_batch *b, void *user, lf_error *err)
{
    read_ctx *c = user;
    for (size_t i = 0; i < b->n_ev; i++) {
        const lf_event *e = &b->ev[i];
        if (e->t_ms > c->last_ms)
            c->last_ms = e->t_ms;
        const double t = e->t_ms * 1e-3;
        if (!e->prompt) {
            c->delayeds++;
            for (int k = 0; k < c->fr->n; k++)
                if (lf_frame_contains(&c->fr->f[k], t)) {
                    c->fe[k].delayeds++;
                    if (c->fe[k].dfan)
                        c->fe[k].delayeds_in_mrd +=
                            (uint64_t)lf_randoms_count_delayed(c->sc, c->mrd, e->a, e->b, c->fe[k].dfan);
                }
            continue;
        }
        c->prompts++;
        int in_any = 0;
        for (int k = 0; k < c->fr->n && !in_any; k++)
            in_any = lf_frame_contains(&c->fr->f[k], t);
        if (!in_any)
            continue;
        if (!lf_pair_accepted(c->sc, e->a, e->b, c->mrd)) {
            c->outside_mrd++;
            continue;
        }
        for (int k = 0; k < c->fr->n; k++)
            if (lf_frame_contains(&c->fr->f[k], t) && push(&c->fe[k], e, c->tof, err) != 0)
                return -1;
    }
    if (b->n_tags && b->tags[b->n_tags - 1].t_ms > c->last_ms)
        c->last_ms = b->tags[b->n_tags - 1].t_ms;
    progress(c->o, "reading events", (double)lf_lm_bytes_done(c->r), (double)c->bytes_total);
    return 0;
}

/* ---- frames from the data's own motion (recon/motion.h) ---- */

/* note: what was found, for the log (the run's log file opens only once the frames are known) */
static int auto_frames(const lf_recon_opts *o, const lf_lm_open_opts *lo, lf_frames *fr, char *note, size_t cap,
                       lf_error *err)
{
    const int all = strcmp(o->frames, "auto-all") == 0;
    lf_motion_params p;
    lf_motion_params_default(&p);
    if (o->motion_resolution_s > 0)
        p.resolution_s = o->motion_resolution_s;
    if (o->motion_min_segment_s > 0)
        p.min_segment_s = o->motion_min_segment_s;
    if (o->motion_min_window_s > 0)
        p.min_window_s = o->motion_min_window_s;
    lf_motion_result m;
    if (lf_motion_detect(o->acq, lo, &p, &m, err) != 0)
        return lf_fail_prefix(err, "--frames %s (motion detection)", o->frames);
    int rc = 0;
    if (m.n_stable == 0 || m.longest < 0) {
        rc = lf_fail(err, "--frames %s: %s: no stable window of at least %g s found (%d change points)", o->frames,
                     o->acq, p.min_window_s, m.n_cp);
    } else {
        char spec[8192];
        size_t used = 0;
        for (int i = 0; i < m.n_stable && used < sizeof spec - 64; i++) {
            if (!all && i != m.longest)
                continue;
            used += (size_t)snprintf(spec + used, sizeof spec - used, "%s%.3f-%.3f", used ? "," : "", m.stable[i].t0_s,
                                     m.stable[i].t1_s);
        }
        size_t u = 0;
        for (int i = 0; i < m.n_cp && u < cap; i++) {
            int k = snprintf(note + u, cap - u, "motion: change at %.1f s, shift (%.1f, %.1f, %.1f) mm; ", m.cp[i].time_s,
                             m.cp[i].shift_mm[0], m.cp[i].shift_mm[1], m.cp[i].shift_mm[2]);
            if (k > 0)
                u += (size_t)k;
        }
        if (u < cap)
            snprintf(note + u, cap - u, "--frames %s: %d change point(s); frames %.200s", o->frames, m.n_cp, spec);
        rc = lf_frames_parse(spec, o->exclude, -1, fr, err);
    }
    lf_motion_result_free(&m);
    return rc;
}

/* ---- gating ---- */

typedef struct trig_ctx {
    int type;
    double *t;
    size_t n, cap;
} trig_ctx;

static int on_tags(const lf_lm_batch *b, void *user, lf_error *err)
{
    trig_ctx *c = user;
    for (size_t i = 0; i < b->n_tags; i++) {
        const lf_tag *tg = &b->tags[i];
        if (tg->cls != LF_TAG_GATING)
            continue;
        /* PETLINK gating word 1110 0EEE …; E = 1: 16-bit C PPP rr DDDDDDDDDD (P 1 respiratory trigger with
         * D 0 = gate on, P 2 ECG R-wave); the 64-bit stream carries it in its upper 32 bits */
        const uint32_t w32 = tg->word > 0xFFFFFFFFull ? (uint32_t)(tg->word >> 32) : (uint32_t)tg->word;
        const unsigned e = (w32 >> 24) & 7u, pt = (w32 >> 12) & 7u, d = w32 & 0x3FFu;
        if (e != 1 || (int)pt != c->type || (pt == 1 && d != 0))
            continue;
        if (c->n == c->cap) {
            size_t nc = c->cap ? 2 * c->cap : 1024;
            double *t = realloc(c->t, nc * sizeof *t);
            if (!t)
                return lf_fail(err, "out of memory for %zu triggers", c->n);
            c->t = t;
            c->cap = nc;
        }
        c->t[c->n++] = tg->t_ms * 1e-3;
    }
    return 0;
}

static int gate_frames(const lf_recon_opts *o, const lf_lm_open_opts *lo, lf_frames *fr, char *note, size_t cap,
                       lf_error *err)
{
    int type, n;
    if (lf_gate_parse(o->gate, &type, &n, err) != 0)
        return -1;
    lf_lm_reader *r;
    if (lf_lm_open(o->acq, lo, &r, err) != 0)
        return -1;
    trig_ctx c = {.type = type};
    int rc = lf_lm_foreach(r, on_tags, &c, NULL, NULL, err);
    lf_lm_close(r);
    int cycles = 0;
    if (rc == 0)
        rc = lf_frames_gate(fr, c.t, c.n, n, &cycles, err);
    if (rc == 0)
        snprintf(note + strlen(note), cap - strlen(note), "%sgating: %zu %s triggers, %d regular cycles (mean %.3g s) -> %d gates",
                 note[0] ? "; " : "", c.n,
                type == 1 ? "respiratory" : "ECG R-wave", cycles, c.n > 1 ? (c.t[c.n - 1] - c.t[0]) / (double)(c.n - 1) : 0,
                n);
    else
        lf_fail_prefix(err, "%s", o->acq);
    free(c.t);
    return rc;
}

/* ---- per-frame OSEM ---- */

typedef struct osem_ctx {
    const lf_recon_opts *o;
    const char *dir;
    const char *run_key;
    lf_volume *img;        /* shares data with the OSEM estimate */
    int it_offset, it_total, subsets;
    int write;             /* 1: writes the checkpoints (rank 0 of a split reconstruction) */
    char stage[64];
    lf_recon_summary *sum;
    double t_last;
    int failed;
    lf_error err;
} osem_ctx;

static void on_subiteration(void *user, int it, int sub, const float *img)
{
    osem_ctx *c = user;
    (void)img;
    const int done_it = c->it_offset + it + 1;
    progress(c->o, c->stage, (double)(c->it_offset + it) * c->subsets + sub + 1, (double)c->it_total * c->subsets);
    if (sub == c->subsets - 1) {
        const double t = now_s();
        lf_info("%s: iteration %d of %d done in %.1f s", c->stage, done_it, c->it_total, t - c->t_last);
        if (it < 64) {
            c->sum->seconds_iteration[it] = t - c->t_last;
            c->sum->iterations_timed = it + 1;
        }
        c->t_last = t;
        if (c->write && !c->failed && done_it < c->it_total && lf_checkpoint_write(c->dir, c->img, c->run_key, done_it, &c->err) != 0) {
            c->failed = 1;
            lf_warn("checkpoint not written (%s); the run goes on", c->err.msg);
        }
    }
}

static int build_osem_events(const lf_scanner *sc, const frame_events *fe, const lf_grid *g, const float *mu_per_mm,
                             int tof, lf_osem_events *ev, lf_error *err)
{
    memset(ev, 0, sizeof *ev);
    const size_t n = fe->n;
    ev->n = n;
    ev->lors = malloc((n ? n : 1) * 6 * sizeof(float));
    ev->mult = malloc((n ? n : 1) * sizeof(float));
    ev->tof_bins = tof ? malloc(n ? n : 1) : NULL;
    if (!ev->lors || !ev->mult || (tof && !ev->tof_bins)) {
        lf_osem_events_free(ev);
        return lf_fail(err, "out of memory for %zu events", n);
    }
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        lf_lor_endpoints_mm(sc, fe->a[i], fe->b[i], ev->lors + 6 * i, ev->lors + 6 * i + 3);
        ev->mult[i] = lf_response_lor(sc, ev->lors + 6 * i);
    }
    if (tof)
        memcpy(ev->tof_bins, fe->tof, n);
    if (mu_per_mm && n > 0) {
        float *li = malloc(n * sizeof(float));
        if (!li) {
            lf_osem_events_free(ev);
            return lf_fail(err, "out of memory for %zu attenuation factors", n);
        }
        if (lf_proj_fwd(LF_PROJ_SIDDON, g, mu_per_mm, ev->lors, n, NULL, NULL, li, err) != 0) {
            free(li);
            lf_osem_events_free(ev);
            return lf_fail_prefix(err, "attenuation factors");
        }
        for (size_t i = 0; i < n; i++)
            ev->mult[i] *= expf(-li[i]);
        free(li);
    }
    return 0;
}

/* ---- randoms (randoms.h) ---- */

/* ML crystal singles from the frame's delayed fan sums (*singles), then, when model, add_e = s_a·s_b / n_bins per
 * prompt (expected randoms of the frame in the event's LOR and TOF bin, the units of ȳ: recon/osem.h
 * convention (b)). A frame without delayeds gets no additive term, with a warning. */
static int frame_randoms(const lf_scanner *sc, int mrd, const frame_events *fe, int n_bins, int k, int model,
                         lf_osem_events *ev, lf_randoms_ml_info *ml, double **singles, lf_error *err)
{
    memset(ml, 0, sizeof *ml);
    *singles = NULL;
    if (fe->delayeds_in_mrd == 0) {
        lf_warn("frame %d: no delayeds within MRD %d (%llu in the frame): randoms taken as 0", k + 1, mrd,
                (unsigned long long)fe->delayeds);
        return 0;
    }
    const double t0 = now_s();
    double *s = malloc((size_t)sc->n_crystals * sizeof *s);
    if (model)
        ev->add = malloc((fe->n ? fe->n : 1) * sizeof(float));
    if (!s || (model && !ev->add)) {
        free(s);
        return lf_fail(err, "frame %d: out of memory for the randoms of %zu events", k + 1, fe->n);
    }
    if (lf_randoms_singles_ml(sc, mrd, fe->dfan, 0, 0, s, ml, err) != 0) {
        free(s);
        return lf_fail_prefix(err, "frame %d randoms", k + 1);
    }
    if (model)
        lf_randoms_per_event(s, fe->a, fe->b, fe->n, 1.0 / n_bins, ev->add);
    *singles = s;
    if (!ml->converged)
        lf_warn("frame %d: randoms ML singles not converged after %d iterations (max residual %.3g)", k + 1,
                ml->iterations, ml->max_residual);
    lf_info("frame %d: randoms from %llu delayeds within MRD %d: ML crystal singles in %d iterations (max residual "
            "%.2g, %lld real crystals without delayeds), estimated randoms %.6g counts (%.2f %% of %zu prompts), "
            "flat over %d TOF bin%s; %.2f s",
            k + 1, (unsigned long long)fe->delayeds_in_mrd, mrd, ml->iterations, ml->max_residual,
            (long long)ml->crystals_no_delayeds, ml->expected_total, 100.0 * ml->expected_total / (double)fe->n, fe->n,
            n_bins, n_bins > 1 ? "s" : "", now_s() - t0);
    return 0;
}

/* ---- scatter (scatter.h) ---- */

typedef struct scatter_info {
    lf_scatter_fit fit;        /* of the last update */
    double counts;             /* α · Σ over the acceptance: expected scattered prompts of the frame */
    double seconds;
    int updates, points;
} scatter_info;

/* The frame's scatter term: from the uniform image, LF_RECON_SCATTER_UPDATES times LF_RECON_SCATTER_ITERATIONS
 * OSEM iterations with the current additive term (randoms, then randoms + the last scatter), a TOF single
 * scatter estimate from that image (scatter.h) scaled by the tail fit; leaves ev->add = randoms + α·S for the
 * frame's OSEM. op: the frame's OSEM parameters (progress is not reported for these iterations). */
static int frame_scatter(const lf_scanner *sc, int mrd, const lf_grid *g, const float *mu_per_cm, const float *eff,
                         const double *singles, const frame_events *fe, const lf_osem_params *op, const float *sens,
                         float init, lf_osem_events *ev, int k, scatter_info *si, lf_error *err)
{
    memset(si, 0, sizeof *si);
    const double t0 = now_s();
    const size_t n = fe->n, nv = lf_grid_voxels(g);
    float *radd = malloc((n ? n : 1) * sizeof *radd), *scat = malloc((n ? n : 1) * sizeof *scat);
    float *img = malloc(nv * sizeof *img);
    uint8_t *tail = malloc(n ? n : 1);
    int rc = -1;
    if (!radd || !scat || !img || !tail) {
        lf_fail(err, "frame %d: out of memory for the scatter estimate of %zu events", k + 1, n);
        goto out;
    }
    if (!ev->add && !(ev->add = calloc(n ? n : 1, sizeof(float)))) {
        lf_fail(err, "frame %d: out of memory for the additive term of %zu events", k + 1, n);
        goto out;
    }
    memcpy(radd, ev->add, n * sizeof *radd);
    for (size_t j = 0; j < nv; j++)
        img[j] = init;
    lf_scatter_opts so;
    lf_scatter_opts_defaults(&so);
    if (lf_scatter_tail_mask(sc, g, mu_per_cm, fe->a, fe->b, n, &so, tail, err) != 0)
        goto out;
    lf_osem_params pre = *op;
    pre.iterations = LF_RECON_SCATTER_ITERATIONS;
    pre.progress = NULL;
    pre.user = NULL;
    for (int u = 1; u <= LF_RECON_SCATTER_UPDATES; u++) {
        if (lf_osem_run(&pre, ev, sens, img, err) != 0)
            goto out;
        lf_scatter_table *tab = NULL;
        if (lf_scatter_estimate(sc, mrd, g, mu_per_cm, img, op->tof, &so, &tab, err) != 0)
            goto out;
        int frc = lf_scatter_tail_fit(tab, sc, mrd, g, mu_per_cm, eff, singles, fe->a, fe->b, tail, n, &so, &si->fit, err);
        if (frc == 0)
            frc = lf_scatter_events(tab, fe->a, fe->b, op->tof ? ev->tof_bins : NULL, n, eff, si->fit.alpha, scat, err);
        si->points = tab->n_points;
        lf_scatter_free(tab);
        if (frc != 0)
            goto out;
        for (size_t i = 0; i < n; i++)
            ev->add[i] = radd[i] + scat[i];
        si->updates = u;
        si->counts = si->fit.alpha * si->fit.s_all;
        lf_info("frame %d: scatter estimate %d of %d (after %d OSEM iteration%s): %d scatter points, tail fit on "
                "%.0f prompts (%.1f %% of the LORs; %.4g randoms): alpha %.4g, %.6g scattered prompts expected "
                "(%.2f %% of %zu prompts)",
                k + 1, u, LF_RECON_SCATTER_UPDATES, u * LF_RECON_SCATTER_ITERATIONS,
                u * LF_RECON_SCATTER_ITERATIONS > 1 ? "s" : "", si->points, si->fit.n_tail,
                100.0 * si->fit.tail_fraction, si->fit.r_tail, si->fit.alpha, si->counts,
                100.0 * si->counts / (double)(n ? n : 1), n);
    }
    si->seconds = now_s() - t0;
    rc = 0;
out:
    if (rc != 0)
        lf_fail_prefix(err, "frame %d scatter", k + 1);
    free(radd);
    free(scat);
    free(img);
    free(tail);
    return rc;
}

/* ---- the run ---- */

static void frame_dir(const lf_recon_opts *o, int nframes, int k, char *buf, size_t cap)
{
    if (nframes == 1)
        snprintf(buf, cap, "%s", o->out_dir);
    else
        snprintf(buf, cap, "%s/frame_%02d", o->out_dir, k + 1);
}

static int write_frames_json(const lf_recon_opts *o, const lf_frames *fr, lf_error *err)
{
    char p[4400];
    snprintf(p, sizeof p, "%s/frames.json", o->out_dir);
    lf_atomic_file af;
    FILE *f = lf_atomic_open(&af, p, err);
    if (!f)
        return -1;
    lf_json j;
    lf_json_init(&j, f);
    lf_json_arr(&j, "frames");
    for (int k = 0; k < fr->n; k++) {
        lf_json_obj(&j, NULL);
        char d[32];
        snprintf(d, sizeof d, "frame_%02d", k + 1);
        lf_json_str(&j, "dir", d);
        lf_json_num(&j, "start_s", fr->f[k].start_s);
        lf_json_num(&j, "end_s", fr->f[k].end_s);
        lf_json_num(&j, "kept_s", fr->f[k].kept_s);
        if (fr->f[k].gate)
            lf_json_i64(&j, "gate", fr->f[k].gate);
        lf_json_i64(&j, "window_count", fr->f[k].n_w);
        lf_json_arr(&j, "windows");
        for (int i = 0; i < fr->f[k].n_w; i++) {
            lf_json_arr(&j, NULL);
            lf_json_num(&j, NULL, fr->f[k].w[i].t0_s);
            lf_json_num(&j, NULL, fr->f[k].w[i].t1_s);
            lf_json_end(&j);
        }
        lf_json_end(&j);
        lf_json_end(&j);
    }
    lf_json_end(&j);
    lf_json_finish(&j);
    return lf_atomic_commit(&af, err);
}

static int check_out_dir(const lf_recon_opts *o, const lf_frames *fr, lf_error *err)
{
    if (o->force && o->resume)
        return lf_fail(err, "--force and --resume contradict each other: choose one");
    char d[4200];
    const char *which = NULL;
    for (int k = -1; k < fr->n; k++) {
        if (k < 0)
            snprintf(d, sizeof d, "%s", o->out_dir);
        else
            frame_dir(o, fr->n, k, d, sizeof d);
        if (lf_frame_has_outputs(d, &which) && !o->force && !o->resume)
            return lf_fail(err, "%s already holds results (%s): give --force to overwrite them or --resume to continue",
                           d, which);
    }
    return 0;
}

int lf_recon_run(const lf_recon_opts *o, lf_recon_summary *sum, lf_error *err)
{
    memset(sum, 0, sizeof *sum);
    if (!o->acq || !o->out_dir)
        return lf_fail(err, "recon: the acquisition and --out are required");
    if (!o->ct && !o->no_attenuation)
        return lf_fail(err, "recon: --ct CT is required (or --no-attenuation for an uncorrected image)");
    if (o->iterations < 1 || o->subsets < 1 || o->iterations > 1000 || o->subsets > 1000)
        return lf_fail(err, "recon: --iterations %d / --subsets %d: expected 1 to 1000", o->iterations, o->subsets);
    if (o->psf_mm < 0 || o->postfilter_mm < 0 || !isfinite(o->psf_mm) || !isfinite(o->postfilter_mm))
        return lf_fail(err, "recon: --psf-mm / --postfilter-mm must be >= 0");
    const int ranks = o->ranks > 1 ? o->ranks : 1, writer = ranks == 1 || o->rank == 0;
    if (ranks > 1 && (!o->reduce || o->rank < 0 || o->rank >= ranks))
        return lf_fail(err, "recon: %d processes need an all-reduce and a rank in 0..%d (got %d)", ranks, ranks - 1, o->rank);
    if (ranks > 1 && o->device == LF_DEVICE_CUDA)
        return lf_fail(err, "recon: a reconstruction split over %d processes runs on the CPU; for several GPUs run several "
                            "reconstructions (lafov batch --devices cuda:0,cuda:1)", ranks);
    if (o->device == LF_DEVICE_CUDA && (!lf_cuda_built() || lf_cuda_device_count() < 1)) /* before the sensitivity */
        return lf_fail(err, "recon: --device cuda: %s; use --device cpu",
                       lf_cuda_built() ? "no usable CUDA device (driver or GPU missing)" : "this lafov was built without CUDA");

    int rc = -1;
    lf_lm_header h;
    lf_lm_open_opts lo = {.scanner = o->scanner};
    lf_frames fr = {NULL, 0};
    frame_events *fe = NULL;
    lf_volume mu, sens;
    memset(&mu, 0, sizeof mu);
    memset(&sens, 0, sizeof sens);
    float *mu_mm = NULL;
    FILE *logf = NULL;
    lf_lm_reader *r = NULL;
    lf_window *fw = NULL;
    char auto_note[1024] = "";
    lf_norm norm;
    memset(&norm, 0, sizeof norm);
    int have_h = 0;

    if (lf_lm_header_open(o->acq, &lo, &h, err) != 0)
        return -1;
    have_h = 1;
    const lf_scanner *sc = &h.scanner;
    if (o->frames && (strcmp(o->frames, "auto") == 0 || strcmp(o->frames, "auto-all") == 0)) {
        if (auto_frames(o, &lo, &fr, auto_note, sizeof auto_note, err) != 0)
            goto done;
    } else if (lf_frames_parse(o->frames, o->exclude, h.header_duration_s, &fr, err) != 0) {
        goto done;
    }
    if (o->gate && gate_frames(o, &lo, &fr, auto_note, sizeof auto_note, err) != 0)
        goto done;
    if (writer && (check_out_dir(o, &fr, err) != 0 || lf_mkdirs(o->out_dir, err) != 0))
        goto done;
    if (writer) { /* the other processes of a split reconstruction log to their stderr only */
        char lp[4200];
        snprintf(lp, sizeof lp, "%s/recon.log", o->out_dir);
        logf = fopen(lp, o->resume ? "a" : "w");
        if (!logf) {
            lf_fail(err, "%s: cannot write the log", lp);
            goto done;
        }
        lf_log_set_file(logf, LF_LOG_INFO);
    }
    lf_info("lafov %s recon of %s (data %s, scanner %s, %s)", LAFOV_VERSION, o->acq, h.data_path, sc->name,
            h.format == LF_FORMAT_QUADRA64 ? "Quadra-style 64-bit" : "PETLINK 32-bit");
    if (auto_note[0])
        lf_info("%s", auto_note);

    const int mrd = o->mrd >= 0 ? o->mrd : h.mrd;
    if (mrd > h.mrd) {
        lf_fail(err, "--mrd %d exceeds the stream's maximum ring difference %d (%s): LORs that were never recorded "
                     "cannot be reconstructed", mrd, h.mrd, h.header_path);
        goto done;
    }
    const int tof = !o->no_tof && h.tof_bins > 1 && sc->tof_fwhm_ps > 0;
    lf_tof tofp = {0};
    if (tof)
        tofp = lf_tof_from_ps(h.tof_bin_width_ps, sc->tof_fwhm_ps, h.tof_bins, 0);

    lf_grid g;
    if (make_grid(o, sc, &g, err) != 0)
        goto done;
    const size_t nv = lf_grid_voxels(&g);
    const double vox_ml = (double)g.voxel_mm[0] * g.voxel_mm[1] * g.voxel_mm[2] * 1e-3;
    lf_info("grid: %dx%dx%d voxels of %.4g mm (%.4g mL), centred on the scanner; MRD %d; %s; projector %s",
            g.n[0], g.n[1], g.n[2], (double)g.voxel_mm[0], vox_ml, mrd, tof ? "TOF" : "non-TOF",
            lf_proj_kind_name(o->projector));
    const int scatter_on = !o->no_scatter && !o->no_attenuation;
    if (o->no_scatter)
        lf_warn("--no-scatter: scatter is not corrected (images of scattering objects are biased high, cold regions filled)");
    else if (o->no_attenuation)
        lf_warn("no scatter correction: it needs the attenuation map (--no-attenuation)");
    else
        lf_info("scatter: TOF single scatter simulation scaled by a tail fit, %d updates per frame, each after %d "
                "more preliminary OSEM iterations (docs/scatter.md)",
                LF_RECON_SCATTER_UPDATES, LF_RECON_SCATTER_ITERATIONS);
    if (o->no_randoms)
        lf_warn("--no-randoms: randoms are not corrected (images of data with randoms are biased high)");
    else
        lf_info("randoms: from each frame's delayeds (ML crystal singles from delayed fan sums at MRD %d, flat in TOF)",
                mrd);

    /* units that do not depend on the frame */
    double n0 = 0;
    if (lf_calibration_nominal(sc, &n0, err) != 0)
        goto done;
    if (o->norm_dir) {
        if (lf_norm_read(o->norm_dir, sc, &norm, err) != 0)
            goto done;
        int exact = 0, cal_mrd = -1;
        double factor = 0;
        const double n0_cal = lf_norm_n0_for_mrd(&norm, mrd, &exact, &cal_mrd, &factor);
        char at[64] = "";
        if (cal_mrd >= 0)
            snprintf(at, sizeof at, " measured at MRD %d", cal_mrd);
        lf_info("normalisation: norm %s (created %s from %s, SHA-256 %.16s…): crystal efficiencies on events and "
                "sensitivity; cross-calibration factor %.5f%s: n0 = %.6g mL/mm (nominal %.6g from the scanner file)",
                o->norm_dir, norm.created, norm.source, norm.source_sha256, factor, at, n0_cal, n0);
        if (!exact)
            lf_warn("the norm has no cross-calibration at MRD %d (this reconstruction's); using the one at MRD %d "
                    "(expect a bias of a few %%; make the norm with lafov norm --calibration-mrd %d,...)",
                    mrd, cal_mrd, mrd);
        norm.cross_calibration_factor = factor; /* what this reconstruction uses, for its log and recon.h5 */
        n0 = n0_cal;
    } else {
        lf_info("calibration: nominal n0 = %.6g mL/mm from the scanner file (%g kcps/MBq line source at MRD %d); no norm",
                n0, sc->line_sensitivity_kcps_mbq, sc->line_sensitivity_mrd);
    }
    /* a stream that records only a known fraction p of the coincidences (the simulator's --count-fraction)
     * has the efficiency p·n0 */
    double cf = 1.0;
    if (lf_ifh_opt_double(&h.ifh, "%lafov count fraction", 1.0, &cf, err) != 0)
        goto done;
    if (!(cf > 0 && cf <= 1)) {
        lf_fail(err, "%s: key '%%lafov count fraction': expected 0 < p <= 1, got %g", h.header_path, cf);
        goto done;
    }
    if (cf < 1)
        lf_info("the stream records a fraction %g of the coincidences (%%lafov count fraction): efficiency %g·n0", cf, cf);
    sum->count_fraction = cf;
    n0 *= cf;
    const double beta = h.branching_factor > 0 ? h.branching_factor : 1.0;
    if (!(h.branching_factor > 0))
        lf_warn("%s: no branching factor in the header: assuming 1", h.header_path);
    const double halflife = h.halflife_s > 0 ? h.halflife_s : INFINITY;
    if (!(h.halflife_s > 0))
        lf_warn("%s: no isotope half-life in the header: no decay correction", h.header_path);
    double uptake_s = 0;
    int have_uptake = lf_header_uptake_s(&h, &uptake_s, err) == 0;
    if (!have_uptake && o->decay_ref == LF_DECAY_REF_INJECTION)
        goto done;
    double suv_factor = 0;
    {
        lf_error e2 = {{0}};
        if (!(h.weight_kg > 0 && h.activity_bq > 0 && have_uptake) ||
            lf_suv_factor(h.weight_kg, h.activity_bq, uptake_s, halflife, o->decay_ref, &suv_factor, &e2) != 0) {
            suv_factor = 0;
            lf_warn("%s: no weight, injected activity or injection time: image_suv.nii.gz is not written", h.header_path);
        }
    }
    char sha[65] = "";
    {
        double t0 = now_s();
        if (lf_sha256_file(h.data_path, sha, err) != 0)
            goto done;
        lf_info("input: SHA-256 %s of %s (%.1f s)", sha, h.data_path, now_s() - t0);
    }

    /* attenuation */
    double kvp = 0, t0 = now_s();
    if (!o->no_attenuation) {
        if (load_mumap(o, &g, &mu, &kvp, err) != 0)
            goto done;
        mu_mm = malloc(nv * sizeof(float));
        if (!mu_mm) {
            lf_fail(err, "out of memory for the μ-map");
            goto done;
        }
        for (size_t j = 0; j < nv; j++)
            mu_mm[j] = 0.1f * mu.data[j];
    } else {
        lf_warn("--no-attenuation: the image is not attenuation-corrected (not quantitative)");
    }
    sum->seconds_mumap = now_s() - t0;

    /* sensitivity */
    t0 = now_s();
    if (grid_volume(&g, &sens, err) != 0)
        goto done;
    {
        char cbuf[4200], key[65];
        const char *cdir = lf_sens_cache_dir(o->cache_dir, cbuf, sizeof cbuf);
        lf_sens_opts so = {0};
        so.progress = NULL;
        progress(o, "sensitivity", 0, 1);
        if (lf_sensitivity_cached(sc, mrd, &g, o->no_attenuation ? NULL : mu.data, norm.eff, &so, cdir, sens.data,
                                  &sum->sensitivity_cached, key, err) != 0)
            goto done;
        progress(o, "sensitivity", 1, 1);
        lf_info("sensitivity: %s in %.1f s (key %.16s…)", sum->sensitivity_cached ? "from the cache" : "computed",
                now_s() - t0, key);
    }
    sum->seconds_sensitivity = now_s() - t0;
    /* the mask keeps out what the scanner barely sees (the axial ends), not what the patient attenuates:
     * its reference is the largest sensitivity inside the body (μ > 0.03/cm), where attenuation already
     * acts, rather than the unattenuated maximum in the air near the detectors */
    float mask_ref = 0.0f;
    if (!o->no_attenuation) {
        for (size_t j = 0; j < nv; j++)
            if (mu.data[j] > 0.03f && sens.data[j] > mask_ref)
                mask_ref = sens.data[j];
        lf_info("mask: voxels below %.0f %% of the largest sensitivity inside the body (%.4g) stay 0",
                100.0 * LF_RECON_MASK_THRESHOLD, (double)mask_ref);
    }

    /* events: one pass for every frame */
    t0 = now_s();
    fe = calloc((size_t)fr.n, sizeof *fe);
    if (!fe) {
        lf_fail(err, "out of memory");
        goto done;
    }
    for (int k = 0; k < fr.n && (!o->no_randoms || scatter_on); k++)
        if (!(fe[k].dfan = calloc((size_t)sc->n_crystals, sizeof(double)))) {
            lf_fail(err, "out of memory for the delayed fan sums of %d frames (%d crystals)", fr.n, sc->n_crystals);
            goto done;
        }
    {
        if (lf_lm_open(o->acq, &lo, &r, err) != 0)
            goto done;
        read_ctx c = {.sc = sc, .fr = &fr, .fe = fe, .mrd = mrd, .tof = tof, .o = o, .r = r,
                      .bytes_total = lf_lm_bytes_total(r)};
        if (lf_lm_foreach(r, on_batch, &c, NULL, NULL, err) != 0)
            goto done;
        lf_lm_close(r);
        r = NULL;
        const double data_end_s = (c.last_ms + 1) * 1e-3;
        lf_info("events: %llu prompts and %llu delayeds read in %.1f s; data end at %.3f s; %llu prompts of the "
                "frames outside MRD %d dropped",
                (unsigned long long)c.prompts, (unsigned long long)c.delayeds, now_s() - t0, data_end_s,
                (unsigned long long)c.outside_mrd, mrd);
        sum->prompts_outside_mrd = c.outside_mrd;
        for (int k = 0; k < fr.n; k++) {
            if (fr.f[k].start_s >= data_end_s) {
                lf_fail(err, "frame %d (%g-%g s) starts after the end of the data (%.3f s)", k + 1, fr.f[k].start_s,
                        fr.f[k].end_s, data_end_s);
                goto done;
            }
            if (fr.f[k].end_s > data_end_s + 1.0)
                lf_warn("frame %d ends at %g s, after the data (%.3f s): its duration counts only up to the data's end",
                        k + 1, fr.f[k].end_s, data_end_s);
            /* clip windows to the data so duration and decay are those of data actually present */
            for (int i = 0; i < fr.f[k].n_w; i++)
                if (fr.f[k].w[i].t1_s > data_end_s)
                    fr.f[k].w[i].t1_s = data_end_s > fr.f[k].w[i].t0_s ? data_end_s : fr.f[k].w[i].t0_s;
        }
    }
    sum->seconds_read = now_s() - t0;
    if (writer && fr.n > 1 && write_frames_json(o, &fr, err) != 0)
        goto done;

    /* frames */
    for (int k = 0; k < fr.n; k++) {
        char dir[4200], desc[512], stage[64];
        frame_dir(o, fr.n, k, dir, sizeof dir);
        lf_frame_describe(&fr.f[k], desc, sizeof desc);
        snprintf(stage, sizeof stage, fr.n > 1 ? "OSEM frame %d/%d" : "OSEM", k + 1, fr.n);
        if (o->resume && lf_frame_finished(dir)) {
            lf_info("frame %d (%s): finished in %s, kept (--resume)", k + 1, desc, dir);
            sum->frames++;
            continue;
        }
        free(fw);
        fw = malloc((size_t)(fr.f[k].n_w ? fr.f[k].n_w : 1) * sizeof *fw);
        lf_window *w = fw;
        if (!w) {
            lf_fail(err, "out of memory");
            goto done;
        }
        int nw = 0;
        for (int i = 0; i < fr.f[k].n_w; i++)
            if (fr.f[k].w[i].t1_s > fr.f[k].w[i].t0_s)
                w[nw++] = fr.f[k].w[i];
        double T = 0, D = 1;
        int drc = nw == 0 ? -1 : lf_decay_frame(w, nw, halflife, lf_decay_ref_offset(o->decay_ref, uptake_s), &T, &D, err);
        if (drc != 0) {
            if (nw == 0)
                lf_fail(err, "frame %d (%s) holds no data", k + 1, desc);
            goto done;
        }
        lf_info("frame %d: windows %s, kept %.3f s, mean decay factor %.6f (reference: %s), %zu prompts, %llu delayeds",
                k + 1, desc, T, D, lf_decay_ref_name(o->decay_ref), fe[k].n, (unsigned long long)fe[k].delayeds);
        if (fe[k].n == 0) {
            lf_fail(err, "frame %d (%s) holds no prompt events", k + 1, desc);
            goto done;
        }

        /* run key: everything the OSEM estimate depends on */
        char run_key[65];
        {
            char txt[2048];
            snprintf(txt, sizeof txt, "%s|%s|%d|%d %d %d %.6g|%d|%d|%.6g|%d|%s|%.6g|%d|%d|r%d|s%d", sha, desc, mrd, g.n[0],
                     g.n[1], g.n[2], (double)g.voxel_mm[0], o->subsets, tof, o->psf_mm, o->no_attenuation,
                     o->ct ? o->ct : "", kvp, (int)o->projector, (int)o->mumap_fwhm_mm, o->no_randoms, scatter_on);
            if (norm.eff) /* the efficiencies change the estimate */
                snprintf(txt + strlen(txt), sizeof txt - strlen(txt), "|norm %s %s %.9g", norm.created,
                         norm.source_sha256, norm.cross_calibration_factor);
            lf_sha256 s;
            uint8_t d[32];
            lf_sha256_init(&s);
            lf_sha256_update(&s, txt, strlen(txt));
            lf_sha256_final(&s, d);
            lf_sha256_hex(d, run_key);
        }

        lf_volume img;
        if (grid_volume(&g, &img, err) != 0)
            goto done;
        int it_done = 0;
        if (o->resume) {
            lf_volume ck;
            int got = lf_checkpoint_read(dir, run_key, &img, &ck, &it_done, err);
            if (got < 0) {
                lf_volume_free(&img);
                goto done;
            }
            if (got == 1) {
                memcpy(img.data, ck.data, nv * sizeof(float));
                lf_volume_free(&ck);
                lf_info("frame %d: resuming after iteration %d from %s", k + 1, it_done, dir);
            }
        }
        float init; /* the uniform start: as many expected counts as prompts */
        {
            double ssum = 0;
            for (size_t j = 0; j < nv; j++)
                ssum += sens.data[j];
            init = (float)((double)fe[k].n / (ssum > 0 ? ssum : 1));
        }
        if (it_done == 0) {
            for (size_t j = 0; j < nv; j++)
                img.data[j] = init;
        }

        lf_osem_events ev;
        double tb = now_s();
        if (build_osem_events(sc, &fe[k], &g, mu_mm, tof, &ev, err) != 0) {
            lf_volume_free(&img);
            goto done;
        }
        lf_info("frame %d: LORs, detector response and attenuation factors of %zu events in %.1f s", k + 1, ev.n,
                now_s() - tb);
        if (norm.eff) /* normalisation: the crystal efficiencies of both ends */
            for (size_t i = 0; i < ev.n; i++)
                ev.mult[i] *= norm.eff[fe[k].a[i]] * norm.eff[fe[k].b[i]];
        lf_randoms_ml_info rml;
        memset(&rml, 0, sizeof rml);
        const int rnd_bins = tof ? h.tof_bins : 1;
        double *singles = NULL; /* the frame's randoms singles, for the scatter tail fit */
        /* with --no-randoms the randoms are still estimated when scatter is corrected: its tail fit must not take
         * the randoms in the tails for scatter; they just stay out of the model */
        if ((!o->no_randoms || scatter_on) &&
            frame_randoms(sc, mrd, &fe[k], rnd_bins, k, !o->no_randoms, &ev, &rml, &singles, err) != 0) {
            lf_osem_events_free(&ev);
            lf_volume_free(&img);
            goto done;
        }
        if (o->no_randoms && singles)
            lf_info("frame %d: --no-randoms: the randoms estimate is used by the scatter tail fit only, not corrected",
                    k + 1);
        osem_ctx oc = {.o = o, .dir = dir, .run_key = run_key, .img = &img, .it_offset = it_done, .write = writer,
                       .it_total = o->iterations, .subsets = o->subsets, .sum = sum, .t_last = now_s()};
        snprintf(oc.stage, sizeof oc.stage, "%s", stage);
        lf_osem_params op = {.grid = g, .kind = o->projector, .device = o->device, .tof = tof ? &tofp : NULL,
                             .iterations = o->iterations - it_done, .subsets = o->subsets,
                             .mask_threshold = LF_RECON_MASK_THRESHOLD, .mask_reference = mask_ref,
                             .psf_fwhm_mm = (float)o->psf_mm,
                             .progress = on_subiteration, .user = &oc};
        scatter_info si;
        memset(&si, 0, sizeof si);
        if (scatter_on) {
            progress(o, "scatter", 0, 1);
            int src = frame_scatter(sc, mrd, &g, mu.data, norm.eff, singles, &fe[k], &op, sens.data, init, &ev, k, &si, err);
            progress(o, "scatter", 1, 1);
            if (src != 0) {
                free(singles);
                lf_osem_events_free(&ev);
                lf_volume_free(&img);
                goto done;
            }
            sum->seconds_scatter += si.seconds;
            lf_info("frame %d: scatter term ready in %.1f s", k + 1, si.seconds);
        }
        free(singles);
        if (ranks > 1) { /* this process's share of the events; the back projections are summed over all */
            lf_osem_events_keep_blocks(&ev, o->subsets, o->rank, ranks);
            op.reduce = o->reduce;
            op.reduce_user = o->reduce_user;
            lf_info("frame %d: process %d of %d reconstructs %zu of the %zu events (blocks of %d), back projections "
                    "all-reduced", k + 1, o->rank + 1, ranks, ev.n, fe[k].n, o->subsets);
        }
        oc.t_last = now_s();
        tb = now_s();
        int orc = op.iterations > 0 ? lf_osem_run(&op, &ev, sens.data, img.data, err) : 0;
        lf_osem_events_free(&ev);
        if (orc != 0) {
            lf_volume_free(&img);
            goto done;
        }
        sum->seconds_osem += now_s() - tb;
        lf_info("frame %d: %d iterations x %d subsets in %.1f s", k + 1, o->iterations - it_done, o->subsets,
                now_s() - tb);

        /* units */
        const double K = T * D * beta * n0;
        if (lf_volume_scale(&img, 1.0 / K, err) != 0) {
            lf_volume_free(&img);
            goto done;
        }
        if (o->postfilter_mm > 0 && lf_gaussian_filter(&img, o->postfilter_mm, err) != 0) {
            lf_volume_free(&img);
            goto done;
        }
        snprintf(img.descrip, sizeof img.descrip, "lafov %s OSEM %dx%d Bq/mL", LAFOV_VERSION, o->iterations, o->subsets);
        lf_volume suv;
        memset(&suv, 0, sizeof suv);
        int have_suv = 0;
        if (suv_factor > 0) {
            if (grid_volume(&g, &suv, err) != 0) {
                lf_volume_free(&img);
                goto done;
            }
            for (size_t j = 0; j < nv; j++)
                suv.data[j] = (float)(img.data[j] * suv_factor);
            snprintf(suv.descrip, sizeof suv.descrip, "lafov %s SUVbw", LAFOV_VERSION);
            have_suv = 1;
        }

        lf_params ps = {0};
        lf_params_text(&ps, "", "software", "lafov %s", LAFOV_VERSION);
        lf_params_text(&ps, "", "input", "%s", o->acq);
        lf_params_text(&ps, "", "input_data_file", "%s", h.data_path);
        lf_params_text(&ps, "", "input_sha256", "%s", sha);
        lf_params_text(&ps, "", "scanner", "%s", sc->name);
        {
            double wv[16];
            int nn = 0;
            for (int i = 0; i < nw && nn + 2 <= 16; i++) {
                wv[nn++] = w[i].t0_s;
                wv[nn++] = w[i].t1_s;
            }
            lf_params_nums(&ps, "", "windows_kept_s", wv, nn);
        }
        lf_params_text(&ps, "", "windows_kept", "%s", desc);
        lf_params_num(&ps, "", "windows_kept_count", nw);
        if (fr.f[k].gate)
            lf_params_text(&ps, "", "gate", "%d of %d (%s)", fr.f[k].gate, fr.n, o->gate);
        lf_params_num(&ps, "", "duration_kept_s", T);
        lf_params_num(&ps, "", "decay_factor", D);
        lf_params_text(&ps, "", "decay_reference", "%s", lf_decay_ref_name(o->decay_ref));
        lf_params_num(&ps, "", "prompts_used", (double)fe[k].n);
        lf_params_num(&ps, "", "delayeds_in_frame", (double)fe[k].delayeds);
        lf_params_num(&ps, "", "mrd", mrd);
        lf_params_num(&ps, "", "iterations", o->iterations);
        lf_params_num(&ps, "", "processes", ranks);
        lf_params_num(&ps, "", "subsets", o->subsets);
        lf_params_text(&ps, "", "projector", "%s", lf_proj_kind_name(o->projector));
        lf_params_text(&ps, "", "device", "%s", o->device == LF_DEVICE_CUDA ? "cuda" : "cpu");
        lf_params_num(&ps, "", "tof", tof);
        if (tof) {
            lf_params_num(&ps, "", "tof_fwhm_ps", sc->tof_fwhm_ps);
            lf_params_num(&ps, "", "tof_bin_width_ps", h.tof_bin_width_ps);
        }
        lf_params_num(&ps, "", "psf_fwhm_mm", o->psf_mm);
        lf_params_num(&ps, "", "postfilter_fwhm_mm", o->postfilter_mm);
        lf_params_num(&ps, "", "mask_threshold", LF_RECON_MASK_THRESHOLD);
        {
            const double gn[3] = {g.n[0], g.n[1], g.n[2]};
            const double gv[3] = {g.voxel_mm[0], g.voxel_mm[1], g.voxel_mm[2]};
            const double go[3] = {g.origin_mm[0], g.origin_mm[1], g.origin_mm[2]};
            lf_params_nums(&ps, "", "grid_voxels", gn, 3);
            lf_params_nums(&ps, "", "voxel_mm", gv, 3);
            lf_params_nums(&ps, "", "origin_mm", go, 3);
        }
        lf_params_text(&ps, "corrections", "attenuation", "%s",
                       o->no_attenuation ? "off (--no-attenuation)" : "CT-based (Carney 2006 bilinear HU to mu)");
        if (!o->no_attenuation) {
            lf_params_text(&ps, "corrections", "ct", "%s", o->ct);
            lf_params_num(&ps, "corrections", "kvp", kvp);
            lf_params_num(&ps, "corrections", "mumap_fwhm_mm", o->mumap_fwhm_mm >= 0 ? o->mumap_fwhm_mm : 4.0);
        }
        if (norm.eff) {
            lf_params_text(&ps, "corrections", "normalisation",
                           "norm %s (created %s from %s, SHA-256 %s): detector response model (crystal depth %g mm, "
                           "mu %g 1/cm) x its crystal efficiencies, its cross-calibrated n0",
                           o->norm_dir, norm.created, norm.source, norm.source_sha256, sc->crystal_depth_mm,
                           sc->crystal_mu_per_cm);
            lf_params_num(&ps, "corrections", "norm_cross_calibration_factor", norm.cross_calibration_factor);
            lf_params_num(&ps, "corrections", "norm_n0_nominal_ml_per_mm", norm.n0_nominal_ml_per_mm);
        } else {
            lf_params_text(&ps, "corrections", "normalisation",
                           "nominal: detector response model (crystal depth %g mm, mu %g 1/cm), uniform crystal "
                           "efficiencies, n0 from the scanner file",
                           sc->crystal_depth_mm, sc->crystal_mu_per_cm);
        }
        if (o->no_randoms) {
            lf_params_text(&ps, "corrections", "randoms", "off (--no-randoms; additive term 0)");
        } else {
            lf_params_text(&ps, "corrections", "randoms",
                           "from the frame's delayeds: ML crystal singles from delayed fan sums at MRD %d, s_a*s_b per "
                           "pair, flat over %d TOF bin(s)%s",
                           mrd, rnd_bins, fe[k].delayeds_in_mrd ? "" : "; no delayeds in the frame: 0");
            lf_params_num(&ps, "corrections", "randoms_expected_total", rml.expected_total);
            lf_params_num(&ps, "corrections", "randoms_delayeds_in_mrd", (double)fe[k].delayeds_in_mrd);
            lf_params_num(&ps, "corrections", "randoms_fraction_of_prompts", rml.expected_total / (double)fe[k].n);
            lf_params_num(&ps, "corrections", "randoms_tof_bins", rnd_bins);
            lf_params_num(&ps, "corrections", "randoms_ml_iterations", rml.iterations);
            lf_params_num(&ps, "corrections", "randoms_ml_max_residual", rml.max_residual);
        }
        if (!scatter_on) {
            lf_params_text(&ps, "corrections", "scatter", "off (%s; additive term without scatter)",
                           o->no_scatter ? "--no-scatter" : "no attenuation map");
        } else {
            lf_params_text(&ps, "corrections", "scatter",
                           "TOF single scatter simulation (docs/scatter.md) scaled by a tail fit on the prompts of "
                           "LORs missing the body, %d updates, each after %d more preliminary OSEM iterations",
                           si.updates, LF_RECON_SCATTER_ITERATIONS);
            lf_params_num(&ps, "corrections", "scatter_alpha", si.fit.alpha);
            lf_params_num(&ps, "corrections", "scatter_expected_counts", si.counts);
            lf_params_num(&ps, "corrections", "scatter_fraction_of_prompts", si.counts / (double)fe[k].n);
            lf_params_num(&ps, "corrections", "scatter_tail_prompts", si.fit.n_tail);
            lf_params_num(&ps, "corrections", "scatter_tail_lor_fraction", si.fit.tail_fraction);
            lf_params_num(&ps, "corrections", "scatter_points", si.points);
        }
        lf_params_text(&ps, "corrections", "decay", "on (kept windows only)");
        lf_params_num(&ps, "units", "n0_ml_per_mm", n0);
        lf_params_num(&ps, "units", "count_fraction", sum->count_fraction);
        lf_params_num(&ps, "units", "branching_factor", beta);
        lf_params_num(&ps, "units", "halflife_s", isfinite(halflife) ? halflife : 0);
        lf_params_num(&ps, "units", "scale_counts_to_bqml", 1.0 / K);
        lf_params_num(&ps, "units", "suv_factor_ml_per_bq", suv_factor);
        lf_params_num(&ps, "units", "weight_kg", h.weight_kg);
        lf_params_num(&ps, "units", "injected_activity_bq", h.activity_bq);
        lf_params_num(&ps, "units", "uptake_s", have_uptake ? uptake_s : NAN);

        lf_frame_result fres = {.image_bqml = &img, .image_suv = have_suv ? &suv : NULL,
                                .mumap = o->no_attenuation ? NULL : &mu, .sensitivity = &sens, .params = &ps};
        int wrc = writer ? lf_frame_write(dir, &fres, err) : 0;
        lf_params_free(&ps);
        lf_volume_free(&img);
        lf_volume_free(&suv);
        if (wrc != 0)
            goto done;
        if (writer)
            lf_info("frame %d: wrote %s (image_bqml.nii.gz, %srecon.h5, mip.png, slices.png)", k + 1, dir,
                    have_suv ? "image_suv.nii.gz, " : "");
        sum->frames++;
        sum->prompts_used += fe[k].n;
    }
    rc = 0;

done:
    free(fw);
    if (r)
        lf_lm_close(r);
    if (fe) {
        for (int k = 0; k < fr.n; k++) {
            free(fe[k].a);
            free(fe[k].b);
            free(fe[k].tof);
            free(fe[k].dfan);
        }
        free(fe);
    }
    if (rc != 0 && logf)
        fprintf(logf, "error: %s\n", err->msg);
    lf_frames_free(&fr);
    lf_norm_free(&norm);
    lf_volume_free(&mu);
    lf_volume_free(&sens);
    free(mu_mm);
    if (have_h)
        lf_lm_header_free(&h);
    if (logf) {
        lf_log_set_file(NULL, LF_LOG_INFO);
        fclose(logf);
    }
    return rc;
}

/* lafov recon: `lafov norm` — a norm folder from a uniform-cylinder scan (see norm.h, docs/norm.md). */
#include "norm.h"

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "../core/log.h"
#include "../core/sha256.h"
#include "../io/atomic_file.h"
#include "../io/dicom_ct.h"
#include "../io/interfile.h"
#include "../io/lmheader.h"
#include "../io/lmreader.h"
#include "calibration.h"
#include "decay.h"
#include "fansums.h"
#include "recon.h"
#include "units.h"

#define LF_NORM_DEFAULT_KVP 120.0
#define LF_NORM_MAX_OFFSET_FRACTION 0.05 /* transaxial offset of the cylinder, of its radius */
#define LF_NORM_ROI_FRACTION 0.6
#define LF_NORM_SLAB_MM 10.0

void lf_norm_opts_default(lf_norm_opts *o)
{
    memset(o, 0, sizeof *o);
    o->iterations = 3;
    o->subsets = 5;
    o->voxel_mm = 4;
    o->device = LF_DEVICE_CPU;
}

static double now_s(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + 1e-6 * (double)tv.tv_usec;
}

static double kvp_from_descrip(const char *d)
{
    const char *p = strstr(d, "kvp=");
    return p ? atof(p + 4) : 0.0;
}

static int read_ct(const lf_norm_opts *o, lf_volume *ct, double *kvp, lf_error *err)
{
    struct stat st;
    if (stat(o->ct, &st) != 0)
        return lf_fail(err, "--ct %s: no such file or folder (expected a DICOM CT folder or a NIfTI in HU)", o->ct);
    double kf = 0;
    if (S_ISDIR(st.st_mode)) {
        lf_ct_info info;
        if (lf_dicom_ct_read(o->ct, ct, &info, err) != 0)
            return -1;
        kf = info.kvp;
    } else {
        if (lf_nifti_read(o->ct, ct, err) != 0)
            return -1;
        kf = kvp_from_descrip(ct->descrip);
    }
    *kvp = o->kvp > 0 ? o->kvp : kf > 0 ? kf : LF_NORM_DEFAULT_KVP;
    if (!(o->kvp > 0) && !(kf > 0))
        lf_warn("CT %s states no tube voltage: assuming %g kVp (give --kvp)", o->ct, *kvp);
    return 0;
}

typedef struct fan_ctx {
    lf_fansums f;
    uint32_t last_ms;
    uint64_t prompts, delayeds;
} fan_ctx;

static int on_batch(const lf_lm_batch *b, void *user, lf_error *err)
{
    (void)err;
    fan_ctx *c = user;
    lf_fansums_add(&c->f, b);
    for (size_t i = 0; i < b->n_ev; i++) {
        if (b->ev[i].prompt)
            c->prompts++;
        else
            c->delayeds++;
        if (b->ev[i].t_ms > c->last_ms)
            c->last_ms = b->ev[i].t_ms;
    }
    if (b->n_tags && b->tags[b->n_tags - 1].t_ms > c->last_ms)
        c->last_ms = b->tags[b->n_tags - 1].t_ms;
    return 0;
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

/* mean Bq/mL of the central region of the cylinder (restricted to the scanner's axial FOV) and the largest
 * deviation of ~10 mm slabs from it */
static int central_mean(const lf_volume *img, const lf_norm_cylinder *c, const lf_scanner *sc, double *mean,
                        double *ml, double *slab_dev, lf_error *err)
{
    const double half_fov = 0.5 * sc->slots_z * sc->ring_pitch_mm;
    const double z0 = fmax(c->z0_mm, -half_fov), z1 = fmin(c->z1_mm, half_fov);
    const double zc = 0.5 * (z0 + z1), hz = LF_NORM_ROI_FRACTION * 0.5 * (z1 - z0);
    const double rr = LF_NORM_ROI_FRACTION * c->radius_mm;
    const int nz = img->n[2];
    double *ss = calloc((size_t)nz, sizeof *ss);
    uint64_t *sn = calloc((size_t)nz, sizeof *sn);
    if (!ss || !sn) {
        free(ss);
        free(sn);
        return lf_fail(err, "out of memory");
    }
    double s = 0;
    uint64_t n = 0;
    for (int k = 0; k < nz; k++)
        for (int j = 0; j < img->n[1]; j++)
            for (int i = 0; i < img->n[0]; i++) {
                double p[3];
                lf_volume_voxel_mm(img, i, j, k, p);
                if (fabs(p[2] - zc) > hz || hypot(p[0] - c->centre_mm[0], p[1] - c->centre_mm[1]) > rr)
                    continue;
                const double v = img->data[((size_t)k * img->n[1] + j) * img->n[0] + i];
                s += v;
                n++;
                ss[k] += v;
                sn[k]++;
            }
    if (n == 0) {
        free(ss);
        free(sn);
        return lf_fail(err, "the central region of the cylinder (r < %.1f mm, |z - %.1f| < %.1f mm) holds no voxel of "
                            "the calibration image", rr, zc, hz);
    }
    *mean = s / (double)n;
    *ml = (double)n * img->vox_mm[0] * img->vox_mm[1] * img->vox_mm[2] * 1e-3;
    const int per = (int)fmax(1, round(LF_NORM_SLAB_MM / img->vox_mm[2]));
    *slab_dev = 0;
    for (int k0 = 0; k0 < nz; k0 += per) {
        double a = 0;
        uint64_t m = 0;
        for (int k = k0; k < k0 + per && k < nz; k++)
            a += ss[k], m += sn[k];
        if (m * 2 >= (uint64_t)per * (n / (uint64_t)nz + 1) && m > 0)
            *slab_dev = fmax(*slab_dev, fabs(a / (double)m / *mean - 1));
    }
    free(ss);
    free(sn);
    return 0;
}

int lf_norm_make(const lf_norm_opts *o, lf_norm_qc *qc_out, lf_error *err)
{
    if (!o->acq || !o->ct || !o->out_dir)
        return lf_fail(err, "norm: the acquisition, --ct and --out are required");
    if (lf_norm_exists(o->out_dir) && !o->force)
        return lf_fail(err, "%s already holds a norm (norm.json / crystal_efficiency.csv): give --force to replace it",
                       o->out_dir);
    lf_norm_qc qc;
    memset(&qc, 0, sizeof qc);
    qc.recon_iterations = o->iterations > 0 ? o->iterations : 3;
    qc.recon_subsets = o->subsets > 0 ? o->subsets : 5;
    qc.recon_voxel_mm = o->voxel_mm > 0 ? o->voxel_mm : 4;

    lf_lm_header h;
    lf_lm_open_opts lo = {.scanner = o->scanner};
    if (lf_lm_header_open(o->acq, &lo, &h, err) != 0)
        return -1;
    const lf_scanner *sc = &h.scanner;
    int rc = -1;
    lf_volume ct, img;
    memset(&ct, 0, sizeof ct);
    memset(&img, 0, sizeof img);
    lf_norm_fanmodel *fm = NULL;
    fan_ctx fc;
    memset(&fc, 0, sizeof fc);
    double *F = NULL;
    lf_norm nm;
    memset(&nm, 0, sizeof nm);
    lf_lm_reader *r = NULL;
    char tmpdir[4200] = "";

    snprintf(qc.source_header, sizeof qc.source_header, "%s", h.header_path);
    qc.mrd = h.mrd;
    /* the cylinder's activity (header) at the scan start */
    if (!(h.activity_bq > 0)) {
        lf_fail(err, "%s: key 'tracer activity at time of injection (Bq)': missing or <= 0 (the norm needs the "
                     "cylinder's activity)", h.header_path);
        goto done;
    }
    if (!(h.halflife_s > 0)) {
        lf_fail(err, "%s: key 'isotope gamma halflife (sec)': missing (the norm decays the activity to the scan start)",
                h.header_path);
        goto done;
    }
    if (lf_header_uptake_s(&h, &qc.uptake_s, err) != 0)
        goto done;
    qc.activity_injection_bq = h.activity_bq;
    qc.halflife_s = h.halflife_s;
    qc.activity_scan_start_bq = h.activity_bq * exp(-M_LN2 * qc.uptake_s / h.halflife_s);
    if (lf_ifh_opt_double(&h.ifh, "%lafov count fraction", 1.0, &qc.count_fraction, err) != 0)
        goto done;

    /* the cylinder from the CT */
    double kvp = 0;
    if (read_ct(o, &ct, &kvp, err) != 0 || lf_norm_cylinder_from_ct(&ct, kvp, &qc.cyl, err) != 0) {
        lf_fail_prefix(err, "CT %s", o->ct);
        goto done;
    }
    lf_volume_free(&ct);
    {
        const lf_norm_cylinder *c = &qc.cyl;
        const double off = hypot(c->centre_mm[0], c->centre_mm[1]);
        lf_info("cylinder (CT %s, %g kVp): centre (%.2f, %.2f, %.2f) mm, radius %.2f mm, z %.1f..%.1f mm, mu %.4f 1/cm, "
                "volume %.2f mL", o->ct, kvp, c->centre_mm[0], c->centre_mm[1], c->centre_mm[2], c->radius_mm, c->z0_mm,
                c->z1_mm, 10 * c->mu_per_mm, c->volume_ml);
        if (off > LF_NORM_MAX_OFFSET_FRACTION * c->radius_mm) {
            lf_fail(err, "CT %s: the cylinder's axis is %.1f mm from the scanner's (expected within %.1f mm, %g %% of its "
                         "radius: the fan-sum model assumes a cylinder on the scanner axis)", o->ct, off,
                    LF_NORM_MAX_OFFSET_FRACTION * c->radius_mm, 100 * LF_NORM_MAX_OFFSET_FRACTION);
            goto done;
        }
    }
    qc.true_bqml = qc.activity_scan_start_bq / (qc.cyl.volume_ml);

    /* fan sums */
    double t0 = now_s();
    if (lf_fansums_init(&fc.f, sc, err) != 0 || lf_lm_open(o->acq, &lo, &r, err) != 0 ||
        lf_lm_foreach(r, on_batch, &fc, NULL, NULL, err) != 0)
        goto done;
    lf_lm_close(r);
    r = NULL;
    qc.prompts = fc.prompts;
    qc.delayeds = fc.delayeds;
    qc.duration_s = (fc.last_ms + 1) * 1e-3;
    F = malloc((size_t)sc->n_crystals * sizeof *F);
    if (!F) {
        lf_fail(err, "out of memory");
        goto done;
    }
    {
        double s = 0, inv = 0;
        int n = 0;
        for (int i = 0; i < sc->n_crystals; i++) {
            F[i] = (double)fc.f.prompts[i] - (double)fc.f.delayeds[i];
            if (lf_crystal_is_virtual(sc, lf_crystal_index(sc, (uint32_t)i)))
                continue;
            s += F[i];
            if (F[i] > 0)
                inv += 1 / sqrt(F[i]), n++;
        }
        qc.mean_counts_per_crystal = s / (double)(sc->rings * (sc->blocks_t * sc->crystals_per_block_t));
        qc.expected_eff_noise = n ? inv / n : 0;
    }
    qc.seconds_fansums = now_s() - t0;
    lf_info("fan sums: %llu prompts, %llu delayeds over %.1f s; %.0f (prompts - delayeds) per crystal (Poisson noise of "
            "an efficiency ~%.2f %%)", (unsigned long long)qc.prompts, (unsigned long long)qc.delayeds, qc.duration_s,
            qc.mean_counts_per_crystal, 100 * qc.expected_eff_noise);

    /* efficiencies */
    t0 = now_s();
    nm.eff = malloc((size_t)sc->n_crystals * sizeof *nm.eff);
    if (!nm.eff) {
        lf_fail(err, "out of memory");
        goto done;
    }
    if (lf_norm_fanmodel_build(sc, h.mrd, &qc.cyl, &fm, err) != 0 ||
        lf_norm_fit(fm, F, o->fit_iterations, 1e-6, nm.eff, &qc.fit, err) != 0)
        goto done;
    qc.seconds_fit = now_s() - t0;
    {
        double s2 = 0;
        for (int i = 0; i < sc->n_crystals; i++)
            if (nm.eff[i] > 0)
                s2 += (nm.eff[i] - 1.0) * (nm.eff[i] - 1.0);
        qc.eff_sd = sqrt(s2 / (qc.fit.n_fitted > 1 ? qc.fit.n_fitted - 1 : 1));
    }
    lf_info("efficiencies: %d crystals fitted (%d real crystals without counts: efficiency 0), SD %.2f %%, %d iterations "
            "(last change %.2g) in %.1f s", qc.fit.n_fitted, qc.fit.n_zero, 100 * qc.eff_sd, qc.fit.iterations,
            qc.fit.last_change, qc.seconds_fit);
    if (qc.fit.n_zero > 0)
        lf_warn("%d real crystals recorded no counts (dead?): their efficiency is 0", qc.fit.n_zero);

    /* the norm's identity */
    snprintf(nm.scanner, sizeof nm.scanner, "%s", sc->name);
    nm.system_code = sc->system_code;
    nm.n_crystals = sc->n_crystals;
    snprintf(nm.source, sizeof nm.source, "%s", h.data_path);
    if (lf_sha256_file(h.data_path, nm.source_sha256, err) != 0)
        goto done;
    {
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(nm.created, sizeof nm.created, "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    if (lf_calibration_nominal(sc, &nm.n0_nominal_ml_per_mm, err) != 0)
        goto done;

    /* cross-calibration: the scan reconstructed with ε and the nominal n0 (a provisional norm), once per
     * requested maximum ring difference (the model's residual dependence on the LORs' obliquity differs
     * between them: a factor is valid for reconstructions at its MRD) */
    int cal_mrd[LF_NORM_MAX_CAL], n_cal = o->n_cal_mrd > 0 ? o->n_cal_mrd : 1;
    double cal_factor_out[LF_NORM_MAX_CAL];
    if (n_cal > LF_NORM_MAX_CAL) {
        lf_fail(err, "calibration: %d maximum ring differences, at most %d", n_cal, LF_NORM_MAX_CAL);
        goto done;
    }
    for (int c = 0; c < n_cal; c++) {
        cal_mrd[c] = o->n_cal_mrd > 0 ? o->cal_mrd[c] : h.mrd;
        if (cal_mrd[c] < 0 || cal_mrd[c] > h.mrd) {
            lf_fail(err, "calibration MRD %d: expected 0 to the acquisition's maximum ring difference %d", cal_mrd[c],
                    h.mrd);
            goto done;
        }
        for (int e = 0; e < c; e++)
            if (cal_mrd[e] == cal_mrd[c]) {
                lf_fail(err, "calibration MRD %d given twice", cal_mrd[c]);
                goto done;
            }
    }
    if (lf_mkdirs(o->out_dir, err) != 0)
        goto done;
    snprintf(tmpdir, sizeof tmpdir, "%s/.calibration.XXXXXX", o->out_dir);
    if (!mkdtemp(tmpdir)) {
        lf_fail(err, "%s: cannot create a temporary folder", tmpdir);
        tmpdir[0] = '\0';
        goto done;
    }
    t0 = now_s();
    char ndir[4300]; /* the provisional norm: ε with the nominal n0, for any MRD */
    snprintf(ndir, sizeof ndir, "%s/norm", tmpdir);
    nm.cross_calibration_factor = 1;
    nm.n0_calibrated_ml_per_mm = nm.n0_nominal_ml_per_mm;
    if (lf_norm_write(ndir, sc, &nm, NULL, err) != 0)
        goto done;
    for (int c = 0; c < n_cal; c++) {
        char rdir[4300], ip[4400];
        snprintf(rdir, sizeof rdir, "%s/recon_mrd%d", tmpdir, cal_mrd[c]);
        lf_recon_opts ro;
        lf_recon_opts_default(&ro);
        ro.acq = o->acq;
        ro.scanner = o->scanner;
        ro.ct = o->ct;
        ro.kvp = kvp;
        ro.mrd = cal_mrd[c];
        ro.iterations = qc.recon_iterations;
        ro.subsets = qc.recon_subsets;
        ro.voxel_mm = qc.recon_voxel_mm;
        ro.device = o->device;
        ro.cache_dir = o->cache_dir;
        ro.out_dir = rdir;
        ro.norm_dir = ndir;
        lf_recon_summary rs;
        lf_info("calibration %d of %d: reconstructing the cylinder at MRD %d with these efficiencies (%d x %d OSEM, %g mm "
                "voxels)", c + 1, n_cal, cal_mrd[c], ro.iterations, ro.subsets, ro.voxel_mm);
        if (lf_recon_run(&ro, &rs, err) != 0) {
            lf_fail_prefix(err, "calibration recon at MRD %d", cal_mrd[c]);
            goto done;
        }
        lf_volume_free(&img);
        double measured = 0, roi_ml = 0, slab = 0;
        snprintf(ip, sizeof ip, "%s/image_bqml.nii.gz", rdir);
        if (lf_nifti_read(ip, &img, err) != 0 || central_mean(&img, &qc.cyl, sc, &measured, &roi_ml, &slab, err) != 0)
            goto done;
        if (!(measured > 0)) {
            lf_fail(err, "calibration at MRD %d: the reconstructed cylinder's central mean is %g Bq/mL (expected > 0)",
                    cal_mrd[c], measured);
            goto done;
        }
        qc.cal_measured_bqml[c] = measured;
        cal_factor_out[c] = qc.true_bqml / measured;
        lf_info("cross-calibration at MRD %d: true %.6g Bq/mL (%.6g Bq at the scan start in %.2f mL), reconstructed "
                "%.6g Bq/mL in %.1f mL: factor %.5f; n0 %.6g -> %.6g mL/mm; axial slabs within %.2f %%",
                cal_mrd[c], qc.true_bqml, qc.activity_scan_start_bq, qc.cyl.volume_ml, measured, roi_ml,
                cal_factor_out[c], nm.n0_nominal_ml_per_mm, nm.n0_nominal_ml_per_mm / cal_factor_out[c], 100 * slab);
        if (c == 0) { /* the first calibration: the norm's main factor and its QC image */
            qc.measured_bqml = measured;
            qc.roi_ml = roi_ml;
            qc.axial_slab_max_dev = slab;
            char p[4300];
            snprintf(p, sizeof p, "%s/qc_cylinder_bqml.nii.gz", o->out_dir);
            if (lf_volume_scale(&img, cal_factor_out[0], err) != 0 ||
                lf_nifti_write(p, &img, LF_NIFTI_FLOAT32, "Bq/mL", err) != 0)
                goto done;
        }
    }
    qc.seconds_recon = now_s() - t0;
    nm.n_cal = n_cal;
    for (int c = 0; c < n_cal; c++) {
        nm.cal_mrd[c] = cal_mrd[c];
        nm.cal_factor[c] = cal_factor_out[c];
        nm.cal_n0_ml_per_mm[c] = nm.n0_nominal_ml_per_mm / cal_factor_out[c];
    }
    nm.cross_calibration_factor = nm.cal_factor[0];
    nm.n0_calibrated_ml_per_mm = nm.cal_n0_ml_per_mm[0];

    /* the norm: the efficiencies and norm.json (written last; the QC image is written above) */
    if (lf_norm_write(o->out_dir, sc, &nm, &qc, err) != 0)
        goto done;
    lf_info("wrote the norm %s (norm.json, crystal_efficiency.csv, qc_cylinder_bqml.nii.gz)", o->out_dir);
    if (qc_out)
        *qc_out = qc;
    rc = 0;

done:
    if (tmpdir[0])
        nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    if (r)
        lf_lm_close(r);
    lf_fansums_free(&fc.f);
    lf_norm_fanmodel_free(fm);
    lf_norm_free(&nm);
    lf_volume_free(&ct);
    lf_volume_free(&img);
    free(F);
    lf_lm_header_free(&h);
    return rc;
}

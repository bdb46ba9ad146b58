/* lafov recon: TOF list-mode OSEM (see osem.h for the model, the guard and the units). */
#include "osem.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../io/nifti.h"
#include "../kernels/osem_cuda.h"
#include "../projectors/allors.h"
#include "filter.h"

void lf_osem_events_free(lf_osem_events *e)
{
    if (!e)
        return;
    free(e->lors);
    free(e->tof_bins);
    free(e->mult);
    free(e->add);
    memset(e, 0, sizeof *e);
}

int lf_osem_events_from_lm(const lf_scanner *sc, const lf_event *ev, size_t n, int prompts_only,
                           lf_osem_events *out, lf_error *err)
{
    if (!sc || !out || (n > 0 && !ev))
        return lf_fail(err, "osem events: no scanner, events or output");
    memset(out, 0, sizeof *out);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (prompts_only && !ev[i].prompt)
            continue;
        if (ev[i].a >= (uint32_t)sc->n_crystals || ev[i].b >= (uint32_t)sc->n_crystals)
            return lf_fail(err, "osem events: event %zu has crystal ids %u, %u outside scanner %s (%d crystals)", i,
                           (unsigned)ev[i].a, (unsigned)ev[i].b, sc->name, sc->n_crystals);
        m++;
    }
    size_t cap = m ? m : 1;
    out->lors = malloc(cap * 6 * sizeof(float));
    out->mult = malloc(cap * sizeof(float));
    out->add = malloc(cap * sizeof(float));
    if (sc->tof_bins > 1)
        out->tof_bins = malloc(cap);
    if (!out->lors || !out->mult || !out->add || (sc->tof_bins > 1 && !out->tof_bins)) {
        lf_osem_events_free(out);
        return lf_fail(err, "osem events: out of memory for %zu events", m);
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (prompts_only && !ev[i].prompt)
            continue;
        lf_lor_endpoints_mm(sc, ev[i].a, ev[i].b, out->lors + 6 * k, out->lors + 6 * k + 3);
        if (out->tof_bins)
            out->tof_bins[k] = ev[i].tof;
        out->mult[k] = 1.0f;
        out->add[k] = 0.0f;
        k++;
    }
    out->n = m;
    return 0;
}

void lf_osem_events_keep_blocks(lf_osem_events *e, int subsets, int rank, int ranks)
{
    if (ranks <= 1 || subsets < 1)
        return;
    size_t k = 0;
    for (size_t i = 0; i < e->n; i++) {
        if ((i / (size_t)subsets) % (size_t)ranks != (size_t)rank)
            continue;
        if (k != i) { /* k < i: a forward copy within each array */
            memcpy(e->lors + 6 * k, e->lors + 6 * i, 6 * sizeof(float));
            if (e->tof_bins)
                e->tof_bins[k] = e->tof_bins[i];
            if (e->mult)
                e->mult[k] = e->mult[i];
            if (e->add)
                e->add[k] = e->add[i];
        }
        k++;
    }
    e->n = k;
}

int lf_osem_run(const lf_osem_params *p, const lf_osem_events *e, const float *sens, float *img, lf_error *err)
{
    if (!p || !e || !sens || !img)
        return lf_fail(err, "osem: no parameters, events, sensitivity or image");
    if (lf_proj_check(&p->grid, p->tof, err) != 0)
        return lf_fail_prefix(err, "osem");
    if (p->iterations < 1 || p->subsets < 1)
        return lf_fail(err, "osem: iterations (%d) and subsets (%d) must be >= 1", p->iterations, p->subsets);
    if (!(p->mask_threshold >= 0.0f && p->mask_threshold < 1.0f))
        return lf_fail(err, "osem: mask threshold %g must be in [0, 1)", (double)p->mask_threshold);
    if (p->tof && !e->tof_bins)
        return lf_fail(err, "osem: TOF requested but the events carry no TOF bins");
    if (e->n > 0 && !e->lors)
        return lf_fail(err, "osem: %zu events without LORs", e->n);

    const size_t nv = lf_grid_voxels(&p->grid);
    const int M = p->subsets;
    /* the checks run in parallel (a max and a count: exact, whatever the thread count); the first bad voxel
     * is then looked for serially */
    float smax = 0.0f;
    size_t bad = 0;
#pragma omp parallel for schedule(static) reduction(max : smax) reduction(+ : bad)
    for (size_t j = 0; j < nv; j++) {
        if (!isfinite(sens[j]) || sens[j] < 0.0f)
            bad++;
        else if (sens[j] > smax)
            smax = sens[j];
    }
    for (size_t j = 0; bad && j < nv; j++)
        if (!isfinite(sens[j]) || sens[j] < 0.0f)
            return lf_fail(err, "osem: sensitivity of voxel %zu is %g (must be finite and >= 0)", j, (double)sens[j]);
    if (!(smax > 0.0f))
        return lf_fail(err, "osem: the sensitivity image is zero everywhere");
    if (!(p->mask_reference >= 0.0f) || !isfinite(p->mask_reference))
        return lf_fail(err, "osem: mask reference %g must be finite and >= 0", (double)p->mask_reference);
    const float thr = p->mask_threshold * (p->mask_reference > 0.0f ? p->mask_reference : smax);
    bad = 0;
#pragma omp parallel for schedule(static) reduction(+ : bad)
    for (size_t j = 0; j < nv; j++) {
        if (!(sens[j] > thr))
            img[j] = 0.0f;
        else if (!isfinite(img[j]) || img[j] < 0.0f)
            bad++;
    }
    for (size_t j = 0; bad && j < nv; j++)
        if (sens[j] > thr && (!isfinite(img[j]) || img[j] < 0.0f))
            return lf_fail(err, "osem: initial image voxel %zu is %g (must be finite and >= 0)", j, (double)img[j]);

    const size_t cap = e->n / (size_t)M + 1;
    const int psf = p->psf_fwhm_mm > 0.0f;
    if (psf && !isfinite(p->psf_fwhm_mm))
        return lf_fail(err, "osem: PSF FWHM %g mm is not finite", (double)p->psf_fwhm_mm);
    /* CUDA without a PSF: the device-resident OSEM (kernels/osem_cuda.h) runs the whole loop on the GPU.
     * With a PSF the loop below runs on the host (the Gaussian is an FFT filter there) and only the
     * projections go to the GPU, with the image copied to and fro per projection. */
    if (p->device == LF_DEVICE_CUDA && p->reduce)
        return lf_fail(err, "osem: a distributed reconstruction (several processes) runs on the CPU only");
    if (p->device == LF_DEVICE_CUDA && !psf) {
        const lf_cuda_osem_args ca = {.kind = p->kind, .grid = p->grid, .tof = p->tof, .iterations = p->iterations,
                                      .subsets = M, .lors = e->lors, .tof_bins = e->tof_bins, .mult = e->mult,
                                      .add = e->add, .n = e->n, .sens = sens, .threshold = thr,
                                      .progress = p->progress, .user = p->user};
        return lf_cuda_osem_run(&ca, img, err) == 0 ? 0 : -1;
    }
    /* PSF work images: G·λ for the forward projection, and G·s (the sensitivity seen by the update) */
    lf_volume blur, sens_g;
    memset(&blur, 0, sizeof blur);
    memset(&sens_g, 0, sizeof sens_g);
    const float *s_upd = sens, *fwd_img = img;
    float *back = malloc(nv * sizeof(float));
    float *lors = malloc(cap * 6 * sizeof(float));
    float *vals = malloc(cap * sizeof(float));
    int8_t *bins = p->tof ? malloc(cap) : NULL;
    int rc = 0;
    if (!back || !lors || !vals || (p->tof && !bins)) {
        rc = lf_fail(err, "osem: out of memory (%zu voxels, %zu events per subset)", nv, cap);
        goto done;
    }
    if (psf) {
        const double vox[3] = {p->grid.voxel_mm[0], p->grid.voxel_mm[1], p->grid.voxel_mm[2]};
        const double org[3] = {p->grid.origin_mm[0], p->grid.origin_mm[1], p->grid.origin_mm[2]};
        if (lf_volume_alloc(&blur, p->grid.n, vox, org, err) != 0 || lf_volume_alloc(&sens_g, p->grid.n, vox, org, err) != 0) {
            rc = lf_fail_prefix(err, "osem PSF");
            goto done;
        }
        memcpy(sens_g.data, sens, nv * sizeof(float));
        if (lf_gaussian_filter(&sens_g, p->psf_fwhm_mm, err) != 0) {
            rc = lf_fail_prefix(err, "osem PSF (sensitivity)");
            goto done;
        }
#pragma omp parallel for schedule(static)
        for (size_t j = 0; j < nv; j++)
            if (sens_g.data[j] < 0.0f)
                sens_g.data[j] = 0.0f; /* FFT round-off around zeros */
        s_upd = sens_g.data;
        fwd_img = blur.data;
    }

    for (int it = 0; it < p->iterations && rc == 0; it++) {
        for (int b = 0; b < M && rc == 0; b++) {
            /* gather subset b: events b, b+M, b+2M, ... */
            const size_t m = (size_t)b < e->n ? (e->n - (size_t)b + (size_t)M - 1) / (size_t)M : 0;
#pragma omp parallel for schedule(static)
            for (size_t k = 0; k < m; k++) {
                const size_t i = (size_t)b + k * (size_t)M;
                memcpy(lors + 6 * k, e->lors + 6 * i, 6 * sizeof(float));
                if (bins)
                    bins[k] = e->tof_bins[i];
            }
#pragma omp parallel for schedule(static)
            for (size_t j = 0; j < nv; j++)
                back[j] = 0.0f;
            if (psf) {
                memcpy(blur.data, img, nv * sizeof(float));
                if (lf_gaussian_filter(&blur, p->psf_fwhm_mm, err) != 0) {
                    rc = lf_fail_prefix(err, "osem iteration %d subset %d (PSF)", it + 1, b + 1);
                    break;
                }
            }
            if (m > 0) {
                if (lf_proj_fwd_dev(p->device, p->kind, &p->grid, fwd_img, lors, m, bins, p->tof, vals, err) != 0) {
                    rc = lf_fail_prefix(err, "osem iteration %d subset %d", it + 1, b + 1);
                    break;
                }
#pragma omp parallel for schedule(static)
                for (size_t k = 0; k < m; k++) {
                    size_t i = (size_t)b + k * (size_t)M;
                    float mu = e->mult ? e->mult[i] : 1.0f;
                    float ex = mu * vals[k] + (e->add ? e->add[i] : 0.0f);
                    vals[k] = (ex > 0.0f && isfinite(ex)) ? mu / fmaxf(ex, LF_OSEM_TINY) : 0.0f;
                }
                if (lf_proj_back_dev(p->device, p->kind, &p->grid, back, lors, m, bins, p->tof, vals, err) != 0) {
                    rc = lf_fail_prefix(err, "osem iteration %d subset %d", it + 1, b + 1);
                    break;
                }
            }
            if (p->reduce && p->reduce(p->reduce_user, back, nv) != 0) { /* every process, every subset */
                rc = lf_fail(err, "osem iteration %d subset %d: the all-reduce of the back projection failed", it + 1,
                             b + 1);
                break;
            }
            if (psf) {
                lf_volume bv = blur; /* the back projection through Gᵀ = G, in place */
                bv.data = back;
                if (lf_gaussian_filter(&bv, p->psf_fwhm_mm, err) != 0) {
                    rc = lf_fail_prefix(err, "osem iteration %d subset %d (PSF)", it + 1, b + 1);
                    break;
                }
            }
#pragma omp parallel for schedule(static)
            for (size_t j = 0; j < nv; j++) {
                float bj = back[j] > 0.0f ? back[j] : 0.0f; /* FFT round-off (PSF) must not flip a sign */
                img[j] = (sens[j] > thr && s_upd[j] > 0.0f)
                             ? (float)((double)img[j] * (double)bj * (double)M / (double)s_upd[j])
                             : 0.0f;
            }
            if (p->progress)
                p->progress(p->user, it, b, img);
        }
    }

done:
    lf_volume_free(&blur);
    lf_volume_free(&sens_g);
    free(back);
    free(lors);
    free(vals);
    free(bins);
    return rc ? -1 : 0;
}

int lf_sensitivity_allors(const lf_scanner *sc, int mrd, const lf_grid *g, lf_proj_kind kind, lf_device dev,
                          float *sens, lf_error *err)
{
    if (!sc || !g || !sens)
        return lf_fail(err, "sensitivity: no scanner, grid or image");
    if (lf_proj_check(g, NULL, err) != 0)
        return lf_fail_prefix(err, "sensitivity");
    memset(sens, 0, lf_grid_voxels(g) * sizeof(float));
    if (lf_allors_back(dev, kind, sc, mrd, g, NULL, NULL, sens, err) != 0)
        return lf_fail_prefix(err, "sensitivity of %s", sc->name);
    return 0;
}

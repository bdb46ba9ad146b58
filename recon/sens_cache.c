/* lafov recon: sensitivity cache (see sens_cache.h). */
#include "sens_cache.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/log.h"
#include "../core/sha256.h"
#include "../io/atomic_file.h"
#include "../io/nifti.h"

/* Bump when the method changes what it computes: old cache files are then never matched. */
#define LF_SENS_METHOD_VERSION 3

const char *lf_sens_cache_dir(const char *dir, char *buf, size_t cap)
{
    const char *env;
    int k;
    if (dir && *dir)
        k = snprintf(buf, cap, "%s", dir);
    else if ((env = getenv("LAFOV_CACHE_DIR")) && *env)
        k = snprintf(buf, cap, "%s", env);
    else if ((env = getenv("XDG_CACHE_HOME")) && *env)
        k = snprintf(buf, cap, "%s/lafov", env);
    else if ((env = getenv("HOME")) && *env)
        k = snprintf(buf, cap, "%s/.cache/lafov", env);
    else
        return NULL;
    if (k < 0 || (size_t)k >= cap)
        return NULL;
    return buf;
}

static void key_of(const lf_scanner *sc, int mrd, const lf_grid *g, const float *mu, const float *eff,
                   const lf_sens_opts *o, char hex[65])
{
    lf_sha256 s;
    lf_sha256_init(&s);
    char txt[1024];
    int k = snprintf(txt, sizeof txt,
                     "lafov sensitivity v%d|scanner %s|blocks %d cpb %d gap %d before %d|units %d rpu %d gapr %d|"
                     "R %.9g doi %.9g pitch %.9g phi0 %.9g|depth %.9g mu %.9g|mrd %d|grid %d %d %d %.9g %.9g %.9g "
                     "%.9g %.9g %.9g|coarse %d %d %d resp %d factor %d cells %d|mu %d eff %d",
                     LF_SENS_METHOD_VERSION, sc->name, sc->blocks_t, sc->crystals_per_block_t, sc->gap_slots_t,
                     sc->gap_before, sc->units_z, sc->rings_per_unit, sc->gap_rings, sc->ring_radius_mm, sc->doi_mm,
                     sc->ring_pitch_mm, sc->angle_offset_rad, sc->crystal_depth_mm, sc->crystal_mu_per_cm, mrd,
                     g->n[0], g->n[1], g->n[2], (double)g->voxel_mm[0], (double)g->voxel_mm[1],
                     (double)g->voxel_mm[2], (double)g->origin_mm[0], (double)g->origin_mm[1],
                     (double)g->origin_mm[2], o ? o->coarse_crystals : 0, o ? o->coarse_rings : 0,
                     o ? o->coarse_voxels : 0, o ? o->no_response : 0, o ? o->factor_method : 0, o ? o->table_cells : 0,
                     mu != NULL, eff != NULL);
    lf_sha256_update(&s, txt, (size_t)(k > 0 ? k : 0));
    if (mu)
        lf_sha256_update(&s, mu, lf_grid_voxels(g) * sizeof(float));
    if (eff)
        lf_sha256_update(&s, eff, (size_t)sc->n_crystals * sizeof(float));
    uint8_t d[32];
    lf_sha256_final(&s, d);
    lf_sha256_hex(d, hex);
}

static int grid_matches(const lf_volume *v, const lf_grid *g)
{
    for (int a = 0; a < 3; a++) {
        if (v->n[a] != g->n[a] || fabs(v->vox_mm[a] - g->voxel_mm[a]) > 1e-4 ||
            fabs(v->sform[a][3] - g->origin_mm[a]) > 1e-3)
            return 0;
    }
    return 1;
}

int lf_sensitivity_cached(const lf_scanner *sc, int mrd, const lf_grid *g, const float *mu_per_cm,
                          const float *crystal_eff, const lf_sens_opts *o, const char *cache_dir, float *sens,
                          int *from_cache, char key_hex[65], lf_error *err)
{
    char hex[65];
    key_of(sc, mrd < 0 ? sc->mrd : mrd, g, mu_per_cm, crystal_eff, o, hex);
    if (key_hex)
        memcpy(key_hex, hex, 65);
    *from_cache = 0;
    const size_t nv = lf_grid_voxels(g);
    char path[4600];
    path[0] = '\0';
    if (cache_dir && *cache_dir) {
        snprintf(path, sizeof path, "%s/sens-%s.nii.gz", cache_dir, hex);
        FILE *f = fopen(path, "rb");
        if (f) {
            fclose(f);
            lf_volume v;
            lf_error e2 = {{0}};
            if (lf_nifti_read(path, &v, &e2) == 0) {
                if (grid_matches(&v, g)) {
                    int ok = 1;
                    for (size_t j = 0; j < nv && ok; j++)
                        ok = isfinite(v.data[j]) && v.data[j] >= 0.0f;
                    if (ok) {
                        memcpy(sens, v.data, nv * sizeof(float));
                        lf_volume_free(&v);
                        *from_cache = 1;
                        lf_info("sensitivity: from the cache %s", path);
                        return 0;
                    }
                }
                lf_volume_free(&v);
                lf_warn("sensitivity cache %s does not match this grid or holds bad values: recomputing", path);
            } else {
                lf_warn("sensitivity cache %s unreadable (%s): recomputing", path, e2.msg);
            }
        }
    }
    if (lf_sensitivity(sc, mrd, g, mu_per_cm, crystal_eff, o, sens, err) != 0)
        return -1;
    if (path[0]) {
        lf_error e2 = {{0}};
        lf_volume v;
        const double vox[3] = {g->voxel_mm[0], g->voxel_mm[1], g->voxel_mm[2]};
        const double org[3] = {g->origin_mm[0], g->origin_mm[1], g->origin_mm[2]};
        if (lf_mkdirs(cache_dir, &e2) != 0 || lf_volume_alloc(&v, g->n, vox, org, &e2) != 0) {
            lf_warn("sensitivity not cached: %s", e2.msg);
            return 0;
        }
        memcpy(v.data, sens, nv * sizeof(float));
        snprintf(v.descrip, sizeof v.descrip, "lafov sensitivity (mm)");
        if (lf_nifti_write(path, &v, LF_NIFTI_FLOAT32, "sensitivity", &e2) != 0)
            lf_warn("sensitivity not cached: %s", e2.msg);
        else
            lf_info("sensitivity: cached as %s", path);
        lf_volume_free(&v);
    }
    return 0;
}

#include "scanner_file.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "data_dir.h"
#include "interfile.h"


static int get_int(const lf_ifh *h, const char *key, int required, int def, int *out, lf_error *err)
{
    long long v;
    if ((required ? lf_ifh_req_long(h, key, &v, err) : lf_ifh_opt_long(h, key, def, &v, err)) != 0)
        return -1;
    if (v < -1000000000LL || v > 1000000000LL)
        return lf_fail(err, "%s: key '%s': value %lld out of range", h->origin, key, v);
    *out = (int)v;
    return 0;
}

static int get_dbl(const lf_ifh *h, const char *key, int required, double def, double *out, lf_error *err)
{
    return required ? lf_ifh_req_double(h, key, out, err) : lf_ifh_opt_double(h, key, def, out, err);
}

static int get_choice(const lf_ifh *h, const char *key, const char *a, const char *b, int def, int *out, lf_error *err)
{
    const char *v = lf_ifh_get(h, key);
    if (!v) {
        *out = def;
        return 0;
    }
    if (strcasecmp(v, a) == 0)
        *out = 0;
    else if (strcasecmp(v, b) == 0)
        *out = 1;
    else
        return lf_fail(err, "%s: key '%s': expected '%s' or '%s', got '%.60s'", h->origin, key, a, b, v);
    return 0;
}

int lf_scanner_load(const char *path, lf_scanner *sc, lf_error *err)
{
    memset(sc, 0, sizeof *sc);
    lf_ifh h;
    if (lf_ifh_parse_file(path, &h, err) != 0)
        return -1;
    /* stem of the file name */
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(sc->name, sizeof sc->name, "%s", base);
    char *dot = strstr(sc->name, ".scanner");
    if (dot)
        *dot = '\0';

    int rc = -1, fmt = 0, num = 0, gap_pos = 0;
    const char *full = lf_ifh_get(&h, "full name");
    snprintf(sc->full_name, sizeof sc->full_name, "%s", full ? full : sc->name);
    double elo = 0, ehi = 0;
    if (get_int(&h, "system code", 0, 0, &sc->system_code, err) ||
        get_choice(&h, "list-mode format", "quadra64", "petlink32", 0, &fmt, err) ||
        get_int(&h, "transaxial blocks per ring", 1, 0, &sc->blocks_t, err) ||
        get_int(&h, "transaxial crystals per block", 1, 0, &sc->crystals_per_block_t, err) ||
        get_int(&h, "transaxial gap slots per block", 0, 0, &sc->gap_slots_t, err) ||
        get_choice(&h, "transaxial gap position", "after", "before", 0, &gap_pos, err) ||
        get_choice(&h, "stream crystal numbering", "real", "slots", 0, &num, err) ||
        get_int(&h, "axial units", 0, 1, &sc->units_z, err) ||
        get_int(&h, "rings per unit", 1, 0, &sc->rings_per_unit, err) ||
        get_int(&h, "gap rings between units", 0, 0, &sc->gap_rings, err) ||
        get_int(&h, "axial crystals per block", 1, 0, &sc->axial_crystals_per_block, err) ||
        get_dbl(&h, "ring radius (mm)", 1, 0, &sc->ring_radius_mm, err) ||
        get_dbl(&h, "depth of interaction (mm)", 0, 0, &sc->doi_mm, err) ||
        get_dbl(&h, "ring pitch (mm)", 1, 0, &sc->ring_pitch_mm, err) ||
        get_dbl(&h, "angular offset (rad)", 0, 0, &sc->angle_offset_rad, err) ||
        get_int(&h, "number of TOF bins", 0, 1, &sc->tof_bins, err) ||
        get_dbl(&h, "TOF bin width (ps)", 0, 0, &sc->tof_bin_width_ps, err) ||
        get_dbl(&h, "TOF resolution (ps)", 0, 0, &sc->tof_fwhm_ps, err) ||
        get_dbl(&h, "coincidence window (ns)", 0, 0, &sc->coincidence_window_ns, err) ||
        get_dbl(&h, "energy window lower level (keV)", 0, 0, &elo, err) ||
        get_dbl(&h, "energy window upper level (keV)", 0, 0, &ehi, err) ||
        get_int(&h, "maximum ring difference", 1, 0, &sc->mrd, err) ||
        get_int(&h, "sinogram tangential bins", 0, 0, &sc->sino_tang_bins, err) ||
        get_int(&h, "sinogram views", 0, 0, &sc->sino_views, err) ||
        get_dbl(&h, "crystal depth (mm)", 0, 0, &sc->crystal_depth_mm, err) ||
        get_dbl(&h, "crystal attenuation at 511 keV (1/cm)", 0, 0.869, &sc->crystal_mu_per_cm, err) ||
        get_dbl(&h, "line source sensitivity (kcps/MBq)", 0, 0, &sc->line_sensitivity_kcps_mbq, err) ||
        get_int(&h, "line source sensitivity ring difference", 0, 0, &sc->line_sensitivity_mrd, err) ||
        get_dbl(&h, "energy resolution (FWHM fraction)", 0, 0, &sc->energy_resolution, err) ||
        get_dbl(&h, "photopeak fraction", 0, 0, &sc->photopeak_fraction, err))
        goto done;
    sc->format = fmt ? LF_FORMAT_PETLINK32 : LF_FORMAT_QUADRA64;
    sc->numbering = num ? LF_NUMBERING_SLOTS : LF_NUMBERING_REAL;
    sc->gap_before = gap_pos;
    sc->energy_low_kev = elo;
    sc->energy_high_kev = ehi;
    if (lf_scanner_finish(sc, err) != 0) {
        lf_fail_prefix(err, "%s", path);
        goto done;
    }
    rc = 0;
done:
    lf_ifh_free(&h);
    return rc;
}

const char *lf_scanner_dir(const char *dir)
{
    static char buf[4096];
    if (dir && *dir)
        return dir;
    return lf_data_subdir("scanners", "LAFOV_SCANNER_DIR", buf, sizeof buf);
}

int lf_scanner_by_name(const char *dir, const char *name, lf_scanner *sc, lf_error *err)
{
    size_t n = strlen(name);
    if (strchr(name, '/') || (n > 8 && strcmp(name + n - 8, ".scanner") == 0))
        return lf_scanner_load(name, sc, err);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.scanner", lf_scanner_dir(dir), name);
    struct stat st;
    if (stat(path, &st) != 0)
        return lf_fail(err, "unknown scanner '%s': no file %s (scanner folder %s)", name, path, lf_scanner_dir(dir));
    return lf_scanner_load(path, sc, err);
}

int lf_scanner_by_code(const char *dir, int code, lf_scanner *sc, lf_error *err)
{
    const char *d = lf_scanner_dir(dir);
    DIR *dp = opendir(d);
    if (!dp)
        return lf_fail(err, "cannot open the scanner folder %s (set LAFOV_SCANNER_DIR or use --scanner)", d);
    char known[512] = "";
    struct dirent *de;
    int found = -1;
    /* deterministic choice: the alphabetically first matching file */
    char best[1024] = "";
    while ((de = readdir(dp)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n <= 8 || strcmp(de->d_name + n - 8, ".scanner") != 0)
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", d, de->d_name);
        lf_scanner tmp;
        lf_error e2;
        if (lf_scanner_load(path, &tmp, &e2) != 0)
            continue;
        if (tmp.system_code) {
            size_t kl = strlen(known);
            snprintf(known + kl, sizeof known - kl, "%s%d (%s)", kl ? ", " : "", tmp.system_code, tmp.name);
        }
        if (tmp.system_code == code && (best[0] == '\0' || strcmp(de->d_name, best) < 0)) {
            snprintf(best, sizeof best, "%s", de->d_name);
            *sc = tmp;
            found = 0;
        }
    }
    closedir(dp);
    if (found != 0)
        return lf_fail(err, "no scanner with system code %d in %s (known: %s); name one with --scanner", code, d,
                       known[0] ? known : "none");
    return 0;
}

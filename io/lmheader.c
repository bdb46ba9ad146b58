#include "lmheader.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "../core/log.h"
#include "ptd.h"
#include "scanner_file.h"

const char *const lf_q64_required_keys[] = {
    "originating system", "SMS-MI header name space", "name of data file", "LM event and tag words format (bits)",
    "number of rings", "crystals per ring", "maximum ring difference", "number of TOF time bins",
    "TOF bin width (ps)", "TOF resolution (ps)", "coincidence window (ns)", "energy window lower level (keV) [1]",
    "energy window upper level (keV) [1]", "isotope name", "isotope gamma halflife (sec)", "isotope branching factor",
    "radiopharmaceutical", "tracer activity at time of injection (Bq)", "tracer injection date (yyyy:mm:dd)",
    "tracer injection time (hh:mm:ss GMT+00:00)", "study date (yyyy:mm:dd)", "study time (hh:mm:ss GMT+00:00)",
    "patient weight (kg)", "image duration (sec)", "timing tagwords interval (msec)", "singles polling interval (sec)",
    "total listmode word counts", NULL};

static int ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcasecmp(s + n - m, suf) == 0;
}

static int file_size(const char *path, uint64_t *size)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return -1;
    *size = (uint64_t)st.st_size;
    return 0;
}

static void copy_str(char *dst, size_t n, const char *src) { snprintf(dst, n, "%s", src ? src : ""); }

static int locate(const char *path, lf_lm_header *h, lf_error *err)
{
    uint64_t size;
    if (file_size(path, &size) != 0)
        return lf_fail(err, "%s: no such file (expected a list-mode .l, its .l.hdr header or a .ptd)", path);
    if (lf_ptd_is_ptd(path)) {
        char *text = NULL;
        size_t len = 0;
        uint64_t data_bytes = 0;
        if (lf_ptd_read_header(path, &text, &len, &data_bytes, err) != 0)
            return -1;
        char origin[4200];
        snprintf(origin, sizeof origin, "%s (DICOM header tag 0029,1010)", path);
        int rc = lf_ifh_parse_buffer(text, len, origin, &h->ifh, err);
        free(text);
        if (rc != 0)
            return -1;
        h->is_ptd = 1;
        copy_str(h->header_path, sizeof h->header_path, path);
        copy_str(h->data_path, sizeof h->data_path, path);
        h->data_offset = 0;
        h->data_bytes = data_bytes;
        return 0;
    }
    if (ends_with(path, ".hdr")) {
        copy_str(h->header_path, sizeof h->header_path, path);
        if (lf_ifh_parse_file(path, &h->ifh, err) != 0)
            return -1;
        const char *name;
        if (lf_ifh_req_str(&h->ifh, "name of data file", &name, err) != 0)
            return -1;
        if (name[0] == '/') {
            copy_str(h->data_path, sizeof h->data_path, name);
        } else {
            const char *slash = strrchr(path, '/');
            int dirlen = slash ? (int)(slash - path + 1) : 0;
            snprintf(h->data_path, sizeof h->data_path, "%.*s%s", dirlen, path, name);
        }
        if (file_size(h->data_path, &size) != 0)
            return lf_fail(err, "%s: key 'name of data file' names %s, which does not exist or is not a file", path,
                           h->data_path);
    } else {
        snprintf(h->header_path, sizeof h->header_path, "%s.hdr", path);
        uint64_t hs;
        if (file_size(h->header_path, &hs) != 0)
            return lf_fail(err, "%s: no header: expected %s beside the data file (or name the .hdr, or a .ptd)", path,
                           h->header_path);
        if (lf_ifh_parse_file(h->header_path, &h->ifh, err) != 0)
            return -1;
        copy_str(h->data_path, sizeof h->data_path, path);
        const char *name = lf_ifh_get(&h->ifh, "name of data file");
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        if (name && strcmp(name, base) != 0 && strstr(name, base) == NULL)
            lf_warn("%s: key 'name of data file' says '%s'; reading %s as named", h->header_path, name, path);
    }
    long long off;
    if (lf_ifh_opt_long(&h->ifh, "data offset in bytes", 0, &off, err) != 0)
        return -1;
    if (file_size(h->data_path, &size) != 0)
        return lf_fail(err, "%s: cannot read the data file", h->data_path);
    if (off < 0 || (uint64_t)off > size)
        return lf_fail(err, "%s: key 'data offset in bytes' = %lld is outside the data file (%llu bytes)", h->header_path,
                       off, (unsigned long long)size);
    h->data_offset = (uint64_t)off;
    h->data_bytes = size - (uint64_t)off;
    return 0;
}

static int get_int_key(const lf_ifh *ifh, const char *key, int required, int def, int lo, int hi, int *out, lf_error *err)
{
    long long v;
    if ((required ? lf_ifh_req_long(ifh, key, &v, err) : lf_ifh_opt_long(ifh, key, def, &v, err)) != 0)
        return -1;
    if (v < lo || v > hi) {
        const lf_ifh_entry *e = lf_ifh_find(ifh, key);
        return lf_fail(err, "%s: line %d: key '%s' = %lld: expected %d..%d", ifh->origin, e ? e->line : 0, key, v, lo, hi);
    }
    *out = (int)v;
    return 0;
}

static int check_q64(lf_lm_header *h, lf_error *err)
{
    const lf_ifh *ifh = &h->ifh;
    const lf_scanner *sc = &h->scanner;
    for (int i = 0; lf_q64_required_keys[i]; i++) {
        const char *v;
        if (lf_ifh_req_str(ifh, lf_q64_required_keys[i], &v, err) != 0)
            return -1;
    }
    int rings = 0, cpr = 0;
    if (get_int_key(ifh, "number of rings", 1, 0, 1, 1 << 20, &rings, err) ||
        get_int_key(ifh, "crystals per ring", 1, 0, 1, 1 << 20, &cpr, err) ||
        get_int_key(ifh, "maximum ring difference", 1, 0, 0, sc->slots_z - 1, &h->mrd, err) ||
        get_int_key(ifh, "number of TOF time bins", 1, 0, 1, 63, &h->tof_bins, err) ||
        lf_ifh_req_double(ifh, "TOF bin width (ps)", &h->tof_bin_width_ps, err))
        return -1;
    if (rings != sc->rings)
        return lf_fail(err, "%s: key 'number of rings' = %d but scanner '%s' has %d rings", ifh->origin, rings, sc->name,
                       sc->rings);
    if (cpr != sc->crystals_per_ring)
        return lf_fail(err, "%s: key 'crystals per ring' = %d but scanner '%s' numbers %d crystals per ring", ifh->origin,
                       cpr, sc->name, sc->crystals_per_ring);
    if (h->tof_bins % 2 == 0)
        return lf_fail(err, "%s: key 'number of TOF time bins' = %d: expected an odd number (bins centred on 0)", ifh->origin,
                       h->tof_bins);
    const char *numeric[] = {"TOF resolution (ps)", "coincidence window (ns)", "energy window lower level (keV) [1]",
                             "energy window upper level (keV) [1]", "isotope gamma halflife (sec)",
                             "isotope branching factor", "tracer activity at time of injection (Bq)", "patient weight (kg)",
                             "image duration (sec)", "timing tagwords interval (msec)", "singles polling interval (sec)", NULL};
    for (int i = 0; numeric[i]; i++) {
        double v;
        if (lf_ifh_req_double(ifh, numeric[i], &v, err) != 0)
            return -1;
    }
    long long wc;
    if (lf_ifh_req_long(ifh, "total listmode word counts", &wc, err) != 0)
        return -1;
    return 0;
}

static int check_p32(lf_lm_header *h, lf_error *err)
{
    const lf_ifh *ifh = &h->ifh;
    const lf_scanner *sc = &h->scanner;
    int rings = 0, span = 1;
    if (get_int_key(ifh, "number of rings", 1, 0, 1, 1 << 16, &rings, err) ||
        get_int_key(ifh, "number of projections", 0, sc->sino_tang_bins, 1, 4096, &h->sino_tang, err) ||
        get_int_key(ifh, "number of views", 0, sc->sino_views, 1, 4096, &h->sino_views, err) ||
        get_int_key(ifh, "maximum ring difference", 0, sc->mrd, 0, sc->rings - 1, &h->mrd, err) ||
        get_int_key(ifh, "axial compression", 0, 1, 1, 1000, &span, err) ||
        get_int_key(ifh, "number of TOF time bins", 0, 1, 1, 63, &h->tof_bins, err))
        return -1;
    if (rings != sc->rings)
        return lf_fail(err, "%s: key 'number of rings' = %d but scanner '%s' has %d rings", ifh->origin, rings, sc->name,
                       sc->rings);
    if (span != 1)
        return lf_fail(err, "%s: key 'axial compression' = %d: expected 1 (list-mode bin addresses are span 1)",
                       ifh->origin, span);
    if (h->tof_bins % 2 == 0)
        return lf_fail(err, "%s: key 'number of TOF time bins' = %d: expected an odd number", ifh->origin, h->tof_bins);
    h->tof_bin_width_ps = sc->tof_bin_width_ps;
    return 0;
}

int lf_lm_header_open(const char *path, const lf_lm_open_opts *opts, lf_lm_header *h, lf_error *err)
{
    memset(h, 0, sizeof *h);
    copy_str(h->user_path, sizeof h->user_path, path);
    lf_lm_open_opts none = {0};
    if (!opts)
        opts = &none;
    if (locate(path, h, err) != 0)
        goto fail;
    const lf_ifh *ifh = &h->ifh;
    int bits = 0;
    if (get_int_key(ifh, "LM event and tag words format (bits)", 1, 0, 0, 1 << 20, &bits, err) != 0)
        goto fail;
    if (bits != 32 && bits != 64) {
        lf_fail(err, "%s: key 'LM event and tag words format (bits)' = %d: expected 32 or 64", ifh->origin, bits);
        goto fail;
    }
    h->word_bytes = bits / 8;
    h->format = bits == 64 ? LF_FORMAT_QUADRA64 : LF_FORMAT_PETLINK32;
    const char *ns = lf_ifh_get(ifh, "SMS-MI header name space");
    if (ns && ((strcasecmp(ns, "PETLINK detector pair") == 0 && bits != 64) ||
               (strcasecmp(ns, "PETLINK bin address") == 0 && bits != 32))) {
        lf_fail(err, "%s: key 'SMS-MI header name space' = '%s' contradicts 'LM event and tag words format (bits)' = %d",
                ifh->origin, ns, bits);
        goto fail;
    }
    if (opts->scanner) {
        if (lf_scanner_by_name(opts->scanner_dir, opts->scanner, &h->scanner, err) != 0)
            goto fail;
    } else {
        int code = 0;
        if (get_int_key(ifh, "originating system", 1, 0, 0, 1 << 30, &code, err) != 0)
            goto fail;
        if (lf_scanner_by_code(opts->scanner_dir, code, &h->scanner, err) != 0) {
            lf_fail_prefix(err, "%s: key 'originating system' = %d", ifh->origin, code);
            goto fail;
        }
    }
    if (h->scanner.format != h->format) {
        lf_fail(err, "%s: the stream is %s but scanner '%s' is described for %s", ifh->origin,
                h->format == LF_FORMAT_QUADRA64 ? "64-bit detector pairs" : "PETLINK 32-bit bin addresses",
                h->scanner.name, h->scanner.format == LF_FORMAT_QUADRA64 ? "64-bit detector pairs" : "PETLINK 32-bit");
        goto fail;
    }
    if ((h->format == LF_FORMAT_QUADRA64 ? check_q64(h, err) : check_p32(h, err)) != 0)
        goto fail;

    double d;
    if (lf_ifh_opt_double(ifh, "image duration (sec)", -1, &h->header_duration_s, err) ||
        lf_ifh_opt_long(ifh, "total listmode word counts", -1, &h->header_word_count, err) ||
        lf_ifh_opt_double(ifh, "isotope gamma halflife (sec)", -1, &h->halflife_s, err) ||
        lf_ifh_opt_double(ifh, "isotope branching factor", -1, &h->branching_factor, err) ||
        lf_ifh_opt_double(ifh, "tracer activity at time of injection (Bq)", -1, &h->activity_bq, err) ||
        lf_ifh_opt_double(ifh, "patient weight (kg)", -1, &d, err))
        goto fail;
    h->weight_kg = d;
    copy_str(h->isotope, sizeof h->isotope, lf_ifh_get(ifh, "isotope name"));
    copy_str(h->study_date, sizeof h->study_date, lf_ifh_get(ifh, "study date (yyyy:mm:dd)"));
    copy_str(h->study_time, sizeof h->study_time, lf_ifh_get(ifh, "study time (hh:mm:ss GMT+00:00)"));
    copy_str(h->injection_date, sizeof h->injection_date, lf_ifh_get(ifh, "tracer injection date (yyyy:mm:dd)"));
    copy_str(h->injection_time, sizeof h->injection_time, lf_ifh_get(ifh, "tracer injection time (hh:mm:ss GMT+00:00)"));
    lf_info("%s: %s stream, scanner %s (%s), MRD %d, %d TOF bin(s), %llu data bytes at offset %llu", h->user_path,
            h->format == LF_FORMAT_QUADRA64 ? "64-bit detector-pair" : "PETLINK 32-bit", h->scanner.name,
            h->scanner.full_name, h->mrd, h->tof_bins, (unsigned long long)h->data_bytes,
            (unsigned long long)h->data_offset);
    return 0;
fail:
    lf_lm_header_free(h);
    return -1;
}

void lf_lm_header_free(lf_lm_header *h) { lf_ifh_free(&h->ifh); }

#include "testutil.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/scanner_file.h"

const char *tu_tmpdir(void)
{
    static char path[4096];
    const char *t = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/lafov-test-XXXXXX", t && *t ? t : "/tmp");
    assert_non_null(mkdtemp(path));
    return path;
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

void tu_rmtree(const char *dir) { nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS); }

void tu_write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (n)
        assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

void tu_write_text(const char *path, const char *text) { tu_write_file(path, text, strlen(text)); }

void tu_scanner(const char *name, lf_scanner *sc)
{
    lf_error err = {{0}};
    int rc = lf_scanner_by_name(LAFOV_SOURCE_DATA_DIR "/scanners", name, sc, &err);
    if (rc != 0)
        fail_msg("%s", err.msg);
}

void tu_study_keys(lf_ifh *h)
{
    lf_ifh_set(h, "isotope name", "F-18");
    lf_ifh_set(h, "isotope gamma halflife (sec)", "6586.2");
    lf_ifh_set(h, "isotope branching factor", "0.9673");
    lf_ifh_set(h, "radiopharmaceutical", "FDG");
    lf_ifh_set(h, "tracer activity at time of injection (Bq)", "2.1e+07");
    lf_ifh_set(h, "%tracer injection date (yyyy:mm:dd)", "2026:11:22");
    lf_ifh_set(h, "%tracer injection time (hh:mm:ss GMT+00:00)", "08:00:00");
    lf_ifh_set(h, "%study date (yyyy:mm:dd)", "2026:11:22");
    lf_ifh_set(h, "%study time (hh:mm:ss GMT+00:00)", "09:00:00");
    lf_ifh_set(h, "patient weight (kg)", "70");
}

const char *tu_mmr_sample(void)
{
    static const char *p = LAFOV_SHARED_DATA "/mmr/small_listmode_file.l";
    return access(p, R_OK) == 0 ? p : NULL;
}

int tu_contains(const char *s, const char *a) { return s && a && strstr(s, a) != NULL; }

/* lafov_bench_io: list-mode decode throughput and peak memory, per stream format.
 *
 *   lafov_bench_io [--events N] [--dir D] [--keep]
 *
 * Generates N events (default 1e8) in each format — the Quadra-style 64-bit stream through the real
 * writer (io/lmwriter.h) and a PETLINK 32-bit mMR stream with a header of the sample's key set — at
 * 400 kcps (one 1 ms time marker per ~400 events), plus a copy 1/10 as long. Then, each in a fresh
 * child process, decodes the short file once and the long one twice (warm-up for the page cache,
 * then timed) through the real reader (io/lmreader.h), and prints file size, time, MB/s, Mevents/s
 * and the child's peak RSS for both lengths (memory must not grow with the file). Files go to D
 * (default: a new folder under $TMPDIR or /tmp) and are removed unless --keep.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "io/lmreader.h"
#include "io/lmwriter.h"
#include "io/scanner_file.h"

#define EVENTS_PER_MS 400u /* 400 kcps */

typedef struct { /* what a decoding child reports through its pipe */
    double seconds;
    uint64_t bytes, events, invalid, markers;
    long maxrss_kb;
    int ok;
} result;

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static inline uint64_t rng(void) /* xorshift64* */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}
static inline uint32_t rng_below(uint32_t n) { return (uint32_t)(((rng() >> 32) * (uint64_t)n) >> 32); }

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ------------------------------------------------------------------ generators */

static int gen_q64(const char *path, const lf_scanner *sc, uint64_t n_events)
{
    lf_error err = {0};
    lf_ifh extra = {0};
    static const char *const study[][2] = {
        {"isotope name", "F-18"}, {"isotope gamma halflife (sec)", "6586.2"}, {"isotope branching factor", "0.9673"},
        {"radiopharmaceutical", "FDG"}, {"tracer activity at time of injection (Bq)", "2.1e+08"},
        {"%tracer injection date (yyyy:mm:dd)", "2026:11:22"}, {"%tracer injection time (hh:mm:ss GMT+00:00)", "08:00:00"},
        {"%study date (yyyy:mm:dd)", "2026:11:22"}, {"%study time (hh:mm:ss GMT+00:00)", "09:00:00"},
        {"patient weight (kg)", "70"}};
    for (size_t i = 0; i < sizeof study / sizeof study[0]; i++)
        if (lf_ifh_set(&extra, study[i][0], study[i][1]) != 0) {
            lf_ifh_free(&extra);
            fprintf(stderr, "lafov_bench_io: out of memory\n");
            return -1;
        }
    lf_q64_writer *w;
    int rc = lf_q64w_open(path, sc, -1, &extra, &w, &err);
    lf_ifh_free(&extra);
    if (rc != 0)
        goto fail;
    const uint32_t nc = (uint32_t)sc->n_crystals;
    const int half = sc->tof_bins / 2;
    for (uint64_t i = 0; i < n_events; i++) {
        lf_event e = {0};
        e.t_ms = (uint32_t)(i / EVENTS_PER_MS);
        e.a = rng_below(nc);
        do /* every pair is within MRD 322; a = b is the only invalid one */
            e.b = rng_below(nc);
        while (e.b == e.a || !lf_pair_accepted(sc, e.a, e.b, sc->mrd));
        e.prompt = rng_below(10) != 0; /* ~10% delayeds, TOF 0 */
        e.tof = e.prompt ? (int8_t)((int)rng_below((uint32_t)(2 * half + 1)) - half) : 0;
        if (lf_q64w_event(w, &e, &err) != 0) {
            lf_q64w_abort(w);
            goto fail;
        }
    }
    if (lf_q64w_close(w, (n_events + EVENTS_PER_MS - 1) / EVENTS_PER_MS, &err) == 0)
        return 0;
fail:
    fprintf(stderr, "lafov_bench_io: %s\n", err.msg);
    return -1;
}

/* Header of the mMR sample's key set (small_listmode_file.l.hdr), with this file's name, counts and duration. */
static const char p32_header[] =
    "!INTERFILE:=\n!originating system:=2008\n%%SMS-MI header name space:=PETLINK bin address\n"
    "%%SMS-MI version number:=3.4\n\n!GENERAL DATA:=\n!data offset in bytes:=0\nname of data file := %s\n"
    "!GENERAL IMAGE DATA:=\n!type of data:=PET\n%%study date (yyyy:mm:dd):=2026:11:22\n"
    "%%study time (hh:mm:ss GMT+00:00):=09:00:00\nisotope name:=F-18\nisotope gamma halflife (sec):=6586.2\n"
    "isotope branching factor:=0.97\nradiopharmaceutical:=FDG\nrelative time of tracer injection (sec):=0\n"
    "tracer activity at time of injection (Bq):=4.65e+007\ninjected volume (ml):=0\n"
    "%%tracer injection date (yyyy:mm:dd):=2026:11:22\n%%tracer injection time (hh:mm:ss GMT+00:00):=08:00:00\n"
    "%%patient orientation:=HFS\nPET data type:=Emission\ndata format:=CoincidenceList\n"
    "horizontal bed translation:=stepped\nstart horizontal bed position (mm):=0\nend horizontal bed position (mm):=0\n"
    "start vertical bed position (mm):=0\n%%bed zero offset (mm):=0\nnumber of energy windows:=1\n"
    "%%energy window lower level (keV) [1]:=430\n%%energy window upper level (keV) [1]:=610\n\n"
    "!PET STUDY (Emission data):=\nPET scanner type:=cylindrical\ntransaxial FOV diameter (cm):=59.6\n"
    "number of rings:=64\ndistance between rings (cm):=0.40625\ngantry tilt angle (degrees):=0\n"
    "gantry crystal radius (cm):=32.8\nbin size (cm):=0.20445\nsepta state:=none\n%%number of TOF time bins:=1\n"
    "%%TOF mashing factor:=1\n\n!IMAGE DATA DESCRIPTION:=\n%%preset type:=time\n%%preset value:=%.10g\n"
    "%%preset unit:=seconds\nimage duration (sec):=%.10g\n%%total listmode word counts:=%" PRIu64 "\n\n"
    "%%COINCIDENCE LIST DATA:=\n%%LM event and tag words format (bits):=32\n%%timing tagwords interval (msec):=1\n"
    "%%singles polling method:=instantaneous\n%%singles polling interval (sec):=2\n%%singles scale factor:=8\n"
    "%%total number of singles blocks:=224\n%%axial compression:=1\n%%maximum ring difference:=60\n"
    "%%number of projections:=344\n%%number of views:=252\n%%number of segments :=11\n"
    "%%segment table :={127,115, 115, 93, 93 ,71, 71, 49, 49, 27, 27}\n";

static int gen_p32(const char *path, const lf_scanner *sc, uint64_t n_events)
{
    /* bin addresses: n_tang * n_view * n_sino, n_sino = sum over |s| <= mrd of (rings - |s|) */
    uint32_t n_sino = 0;
    for (int s = -sc->mrd; s <= sc->mrd; s++)
        n_sino += (uint32_t)(sc->rings - abs(s));
    const uint32_t n_bins = (uint32_t)sc->sino_tang_bins * (uint32_t)sc->sino_views * n_sino;
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "lafov_bench_io: %s: %s\n", path, strerror(errno));
        return -1;
    }
    enum { NB = 1 << 16 };
    static uint8_t buf[NB * 4];
    size_t nb = 0;
    uint64_t words = 0, ms = 0;
    int bad = 0;
#define PUT32(w)                                                                                                       \
    do {                                                                                                               \
        uint32_t w_ = (w);                                                                                             \
        for (int k_ = 0; k_ < 4; k_++)                                                                                 \
            buf[4 * nb + (size_t)k_] = (uint8_t)(w_ >> (8 * k_));                                                      \
        if (++nb == NB) {                                                                                              \
            bad |= fwrite(buf, 4, nb, f) != nb;                                                                        \
            nb = 0;                                                                                                    \
        }                                                                                                              \
        words++;                                                                                                       \
    } while (0)
    for (uint64_t i = 0; i < n_events; i++) {
        if (i % EVENTS_PER_MS == 0)
            PUT32(0x80000000u | (uint32_t)(ms++ & 0x1FFFFFFFu)); /* time marker, every ms */
        uint32_t prompt = rng_below(10) != 0;
        PUT32(prompt << 30 | rng_below(n_bins));
    }
#undef PUT32
    if (nb)
        bad |= fwrite(buf, 4, nb, f) != nb;
    bad |= fclose(f) != 0;
    char hdr_path[4200];
    snprintf(hdr_path, sizeof hdr_path, "%s.hdr", path);
    FILE *h = fopen(hdr_path, "w");
    if (!h || bad) {
        fprintf(stderr, "lafov_bench_io: cannot write %s\n", h ? path : hdr_path);
        if (h)
            fclose(h);
        return -1;
    }
    const char *base = strrchr(path, '/');
    fprintf(h, p32_header, base ? base + 1 : path, (double)ms / 1000.0, (double)ms / 1000.0, words);
    return fclose(h) == 0 ? 0 : -1;
}

/* ------------------------------------------------------------------ decoding (in a child) */

static int decode_once(const char *path, result *res)
{
    lf_error err = {0};
    lf_lm_reader *r;
    if (lf_lm_open(path, NULL, &r, &err) != 0) {
        fprintf(stderr, "lafov_bench_io: %s\n", err.msg);
        return -1;
    }
    lf_lm_batch b;
    int rc;
    uint64_t events = 0;
    double t0 = now_s();
    while ((rc = lf_lm_next(r, &b, &err)) == 1)
        events += b.n_ev;
    res->seconds = now_s() - t0;
    if (rc < 0)
        fprintf(stderr, "lafov_bench_io: %s\n", err.msg);
    const lf_decode_stats *st = lf_lm_stats(r);
    res->bytes = lf_lm_bytes_total(r);
    res->events = events;
    res->invalid = st->invalid_events;
    res->markers = st->tags[LF_TAG_TIME];
    lf_lm_close(r);
    return rc;
}

/* Decodes `path` (passes times, the last one timed) in a fresh child; its peak RSS in res. */
static int decode_in_child(const char *path, int passes, result *res)
{
    int fd[2];
    if (pipe(fd) != 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(fd[0]);
        result r = {0};
        r.ok = 1;
        for (int p = 0; p < passes && r.ok; p++)
            r.ok = decode_once(path, &r) == 0;
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        r.maxrss_kb = ru.ru_maxrss;
        ssize_t wr = write(fd[1], &r, sizeof r);
        _exit(wr == (ssize_t)sizeof r ? 0 : 1);
    }
    close(fd[1]);
    ssize_t got = read(fd[0], res, sizeof *res);
    close(fd[0]);
    int status;
    waitpid(pid, &status, 0);
    return got == (ssize_t)sizeof *res && WIFEXITED(status) && WEXITSTATUS(status) == 0 && res->ok ? 0 : -1;
}

/* Generation in a child too, so the parent stays small and every decoding child starts alike. */
static int gen_in_child(int q64, const char *path, const lf_scanner *sc, uint64_t n)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0)
        _exit((q64 ? gen_q64(path, sc, n) : gen_p32(path, sc, n)) == 0 ? 0 : 1);
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static void remove_stream(const char *path)
{
    char hdr[4200];
    snprintf(hdr, sizeof hdr, "%s.hdr", path);
    unlink(path);
    unlink(hdr);
}

static int bench(const char *label, int q64, const char *scanner, const char *dir, uint64_t n, int keep)
{
    lf_error err = {0};
    lf_scanner sc;
    if (lf_scanner_by_name(NULL, scanner, &sc, &err) != 0) {
        fprintf(stderr, "lafov_bench_io: %s\n", err.msg);
        return -1;
    }
    char big[4096], small[4096];
    snprintf(big, sizeof big, "%s/bench_%s.l", dir, label);
    snprintf(small, sizeof small, "%s/bench_%s_tenth.l", dir, label);
    double t0 = now_s();
    int rc = -1;
    result rs = {0}, rb = {0};
    if (gen_in_child(q64, big, &sc, n) != 0 || gen_in_child(q64, small, &sc, n / 10) != 0) {
        fprintf(stderr, "lafov_bench_io: %s: generating the streams failed\n", label);
        goto out;
    }
    fprintf(stderr, "%s: generated %" PRIu64 " + %" PRIu64 " events in %.1f s\n", label, n, n / 10, now_s() - t0);
    if (decode_in_child(small, 1, &rs) != 0 || decode_in_child(big, 2, &rb) != 0) {
        fprintf(stderr, "lafov_bench_io: %s: decoding failed\n", label);
        goto out;
    }
    if (rb.events != n || rb.invalid != 0 || rs.events != n / 10) {
        fprintf(stderr, "lafov_bench_io: %s: decoded %" PRIu64 " events (%" PRIu64 " invalid), expected %" PRIu64 "\n",
                label, rb.events, rb.invalid, n);
        goto out;
    }
    double mb = (double)rb.bytes / 1e6;
    printf("%s: %.1f MB in %.2f s = %.0f MB/s, %.1f Mevents/s, %" PRIu64 " time markers, peak RSS %.1f MB "
           "(1/10 length: %.1f MB)\n",
           label, mb, rb.seconds, mb / rb.seconds, (double)rb.events / rb.seconds / 1e6, rb.markers,
           (double)rb.maxrss_kb / 1024.0, (double)rs.maxrss_kb / 1024.0);
    fflush(stdout);
    rc = 0;
out:
    if (!keep) {
        remove_stream(big);
        remove_stream(small);
    }
    return rc;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: lafov_bench_io [--events N] [--dir D] [--keep]\n"
               "  --events N  events per format (default 100000000)\n"
               "  --dir D     folder for the generated streams (default: a new one under $TMPDIR or /tmp)\n"
               "  --keep      keep the generated streams\n");
}

int main(int argc, char **argv)
{
    uint64_t n = 100000000ull;
    const char *dir = NULL;
    int keep = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--events") && i + 1 < argc) {
            char *end;
            double v = strtod(argv[++i], &end); /* accepts 1e8 */
            if (*end || v < 10 || v > 1e12) {
                fprintf(stderr, "lafov_bench_io: --events %s: expected a number from 10 to 1e12\n", argv[i]);
                return 2;
            }
            n = (uint64_t)v;
        } else if (!strcmp(argv[i], "--dir") && i + 1 < argc) {
            dir = argv[++i];
        } else if (!strcmp(argv[i], "--keep")) {
            keep = 1;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    lf_log_set_level(LF_LOG_WARN);
    char tmpl[4096];
    int made_dir = 0;
    if (!dir) {
        const char *t = getenv("TMPDIR");
        snprintf(tmpl, sizeof tmpl, "%s/lafov_bench_io.XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(tmpl)) {
            fprintf(stderr, "lafov_bench_io: cannot create %s: %s\n", tmpl, strerror(errno));
            return 1;
        }
        dir = tmpl;
        made_dir = 1;
    }
    printf("lafov_bench_io: %" PRIu64 " events per format at %u kcps, in %s\n", n, EVENTS_PER_MS, dir);
    int rc = 0;
    rc |= bench("quadra64", 1, "quadra", dir, n, keep);
    rc |= bench("petlink32", 0, "mmr", dir, n, keep);
    if (made_dir && !keep)
        rmdir(dir);
    return rc ? 1 : 0;
}

/* lafov info FILE [--json]: what a list-mode acquisition holds. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "core/log.h"
#include "io/json.h"
#include "io/lmreader.h"
#include "recon/lmsummary.h"

static void help(void)
{
    printf("usage: lafov info FILE [--json] [--scanner NAME|FILE] [-v]\n\n"
           "Summarises a list-mode acquisition: FILE is the data file (NAME.l), its Interfile header\n"
           "(NAME.l.hdr) or a .ptd container; PETLINK 32-bit and Quadra-style 64-bit streams.\n"
           "Prints the scanner, header facts (isotope, activity, weight), prompts, delayeds, time markers\n"
           "(duration = markers x 1 ms), tags per class, invalid events and other anomalies, and the\n"
           "count rate per second.\n\n"
           "  --json            machine-readable output on stdout (keys: prompts, delayeds, time_markers,\n"
           "                    duration_ms, tags{time,singles,gating,control,bed}, unknown_tags,\n"
           "                    invalid_events, count_rate[], warnings[], scanner{}, header{}, ...)\n"
           "  --scanner NAME    scanner description to use instead of the header's originating system\n"
           "  -v, --verbose     log each step (repeat for debug)\n");
}

static int add_batch(const lf_lm_batch *b, void *user, lf_error *err) { return lf_lm_summary_add(user, b, err); }

/* Milliseconds of second `s` covered by the time markers. */
static uint64_t covered_ms(const lf_decode_stats *st, uint64_t s)
{
    if (!st->have_time)
        return 0;
    uint64_t lo = s * 1000, hi = lo + 1000;
    uint64_t a = st->first_ms > lo ? st->first_ms : lo, b = st->last_ms + 1 < hi ? st->last_ms + 1 : hi;
    return b > a ? b - a : 0;
}

typedef struct warnings {
    char text[8][512];
    int n;
} warnings;

static void collect_warnings(const lf_lm_header *h, const lf_lm_summary *s, warnings *w)
{
    const lf_decode_stats *st = &s->st;
#define W(...) do { if (w->n < 8) snprintf(w->text[w->n++], sizeof w->text[0], __VA_ARGS__); } while (0)
    uint64_t words = st->words;
    if (s->trailing_bytes)
        W("%llu trailing byte(s) after the last whole word at offset %llu ignored (truncated final word)",
          (unsigned long long)s->trailing_bytes, (unsigned long long)(h->data_offset + words * (uint64_t)h->word_bytes));
    if (h->header_word_count >= 0 && (uint64_t)h->header_word_count != words)
        W("the file holds %llu words but the header says %lld (truncated or edited acquisition)", (unsigned long long)words,
          h->header_word_count);
    if (!st->have_time)
        W("no time markers: every event was given time 0");
    if (st->time_backwards)
        W("%llu time marker(s) go backwards (first at offset %llu); ignored", (unsigned long long)st->time_backwards,
          (unsigned long long)st->first_backwards_offset);
    if (st->time_jumps)
        W("%llu time marker(s) skip milliseconds (first at offset %llu)", (unsigned long long)st->time_jumps,
          (unsigned long long)st->first_jump_offset);
    if (st->invalid_events)
        W("%llu invalid event(s) skipped (first at offset %llu)", (unsigned long long)st->invalid_events,
          (unsigned long long)st->first_invalid_offset);
    if (st->have_time && h->header_duration_s >= 0 &&
        (double)st->tags[LF_TAG_TIME] != h->header_duration_s * 1000.0)
        W("%llu time markers (%.3f s) but the header's image duration is %g s", (unsigned long long)st->tags[LF_TAG_TIME],
          (double)st->tags[LF_TAG_TIME] / 1000.0, h->header_duration_s);
#undef W
}

static void print_json(const lf_lm_header *h, const lf_lm_summary *s, const warnings *w)
{
    const lf_decode_stats *st = &s->st;
    const lf_scanner *sc = &h->scanner;
    lf_json j;
    lf_json_init(&j, stdout);
    lf_json_obj(&j, NULL);
    lf_json_str(&j, "file", h->user_path);
    lf_json_str(&j, "header_file", h->header_path);
    lf_json_str(&j, "data_file", h->data_path);
    lf_json_str(&j, "container", h->is_ptd ? "ptd" : "l+hdr");
    lf_json_str(&j, "format", h->format == LF_FORMAT_QUADRA64 ? "quadra64" : "petlink32");
    lf_json_u64(&j, "word_bits", (uint64_t)h->word_bytes * 8);
    lf_json_u64(&j, "data_bytes", h->data_bytes);
    lf_json_u64(&j, "words", st->words);
    lf_json_obj(&j, "scanner");
    lf_json_str(&j, "name", sc->name);
    lf_json_str(&j, "full_name", sc->full_name);
    lf_json_i64(&j, "system_code", sc->system_code);
    lf_json_i64(&j, "rings", sc->rings);
    lf_json_i64(&j, "crystals_per_ring", sc->crystals_per_ring);
    lf_json_i64(&j, "maximum_ring_difference", h->mrd);
    lf_json_i64(&j, "tof_bins", h->tof_bins);
    lf_json_end(&j);
    lf_json_u64(&j, "prompts", st->prompts);
    lf_json_u64(&j, "delayeds", st->delayeds);
    lf_json_u64(&j, "time_markers", st->tags[LF_TAG_TIME]);
    lf_json_u64(&j, "duration_ms", lf_lm_summary_duration_ms(s));
    if (st->have_time) {
        lf_json_u64(&j, "first_time_ms", st->first_ms);
        lf_json_u64(&j, "last_time_ms", st->last_ms);
    } else {
        lf_json_null(&j, "first_time_ms");
        lf_json_null(&j, "last_time_ms");
    }
    lf_json_obj(&j, "tags");
    for (int c = LF_TAG_TIME; c <= LF_TAG_BED; c++)
        lf_json_u64(&j, lf_tag_class_name((lf_tag_class)c), st->tags[c]);
    lf_json_end(&j);
    lf_json_u64(&j, "unknown_tags", st->tags[LF_TAG_UNKNOWN]);
    lf_json_u64(&j, "invalid_events", st->invalid_events);
    lf_json_u64(&j, "time_backwards", st->time_backwards);
    lf_json_u64(&j, "time_jumps", st->time_jumps);
    lf_json_u64(&j, "events_before_first_marker", st->events_before_first_marker);
    lf_json_u64(&j, "trailing_bytes", s->trailing_bytes);
    lf_json_obj(&j, "header");
    lf_json_str(&j, "isotope", h->isotope[0] ? h->isotope : NULL);
    lf_json_num(&j, "halflife_s", h->halflife_s >= 0 ? h->halflife_s : NAN);
    lf_json_num(&j, "activity_at_injection_bq", h->activity_bq >= 0 ? h->activity_bq : NAN);
    lf_json_num(&j, "weight_kg", h->weight_kg >= 0 ? h->weight_kg : NAN);
    lf_json_str(&j, "radiopharmaceutical", lf_ifh_get(&h->ifh, "radiopharmaceutical"));
    lf_json_str(&j, "study_date", h->study_date[0] ? h->study_date : NULL);
    lf_json_str(&j, "study_time", h->study_time[0] ? h->study_time : NULL);
    lf_json_str(&j, "injection_date", h->injection_date[0] ? h->injection_date : NULL);
    lf_json_str(&j, "injection_time", h->injection_time[0] ? h->injection_time : NULL);
    lf_json_num(&j, "image_duration_s", h->header_duration_s >= 0 ? h->header_duration_s : NAN);
    if (h->header_word_count >= 0)
        lf_json_i64(&j, "total_listmode_word_counts", h->header_word_count);
    else
        lf_json_null(&j, "total_listmode_word_counts");
    lf_json_end(&j);
    lf_json_arr(&j, "count_rate");
    for (uint64_t sec = 0; sec < s->n_seconds; sec++) {
        uint64_t ms = covered_ms(st, sec);
        lf_json_obj(&j, NULL);
        lf_json_u64(&j, "second", sec);
        lf_json_u64(&j, "ms", ms);
        lf_json_u64(&j, "prompts", s->prompts_per_s[sec]);
        lf_json_u64(&j, "delayeds", s->delayeds_per_s[sec]);
        lf_json_num(&j, "prompts_cps", ms ? 1000.0 * (double)s->prompts_per_s[sec] / (double)ms : NAN);
        lf_json_num(&j, "delayeds_cps", ms ? 1000.0 * (double)s->delayeds_per_s[sec] / (double)ms : NAN);
        lf_json_end(&j);
    }
    lf_json_end(&j);
    lf_json_arr(&j, "warnings");
    for (int i = 0; i < w->n; i++)
        lf_json_str(&j, NULL, w->text[i]);
    lf_json_end(&j);
    lf_json_end(&j);
    lf_json_finish(&j);
}

static void print_text(const lf_lm_header *h, const lf_lm_summary *s, const warnings *w)
{
    const lf_decode_stats *st = &s->st;
    const lf_scanner *sc = &h->scanner;
    printf("file            %s\n", h->user_path);
    if (strcmp(h->header_path, h->user_path) != 0)
        printf("header          %s\n", h->header_path);
    printf("format          %s, %llu bytes%s\n",
           h->format == LF_FORMAT_QUADRA64 ? "Quadra-style 64-bit detector pairs" : "PETLINK 32-bit sinogram bins",
           (unsigned long long)h->data_bytes, h->is_ptd ? " (in a .ptd container)" : "");
    printf("scanner         %s (%s), system code %d: %d rings x %d crystals, MRD %d, %s\n", sc->name, sc->full_name,
           sc->system_code, sc->rings, sc->crystals_per_ring, h->mrd, h->tof_bins > 1 ? "TOF" : "non-TOF");
    if (h->tof_bins > 1)
        printf("TOF             %d bins of %g ps\n", h->tof_bins, h->tof_bin_width_ps);
    if (h->isotope[0])
        printf("isotope         %s, half-life %g s\n", h->isotope, h->halflife_s);
    const char *rp = lf_ifh_get(&h->ifh, "radiopharmaceutical");
    if (h->activity_bq >= 0)
        printf("injected        %.4g MBq%s%s at %s %s\n", h->activity_bq / 1e6, rp ? " " : "", rp ? rp : "",
               h->injection_date, h->injection_time);
    if (h->weight_kg >= 0)
        printf("weight          %g kg\n", h->weight_kg);
    if (h->study_date[0])
        printf("study start     %s %s\n", h->study_date, h->study_time);
    if (st->have_time)
        printf("duration        %llu ms (%llu time markers, %llu .. %llu ms)", (unsigned long long)lf_lm_summary_duration_ms(s),
               (unsigned long long)st->tags[LF_TAG_TIME], (unsigned long long)st->first_ms, (unsigned long long)st->last_ms);
    else
        printf("duration        unknown (no time markers)");
    if (h->header_duration_s >= 0)
        printf("; header says %g s", h->header_duration_s);
    printf("\n");
    printf("prompts         %llu\n", (unsigned long long)st->prompts);
    printf("delayeds        %llu", (unsigned long long)st->delayeds);
    if (st->prompts)
        printf(" (%.1f %% of prompts)", 100.0 * (double)st->delayeds / (double)st->prompts);
    printf("\n");
    printf("tags            time %llu, singles %llu, gating %llu, control %llu, bed %llu, unknown %llu\n",
           (unsigned long long)st->tags[LF_TAG_TIME], (unsigned long long)st->tags[LF_TAG_SINGLES],
           (unsigned long long)st->tags[LF_TAG_GATING], (unsigned long long)st->tags[LF_TAG_CONTROL],
           (unsigned long long)st->tags[LF_TAG_BED], (unsigned long long)st->tags[LF_TAG_UNKNOWN]);
    printf("invalid events  %llu\n", (unsigned long long)st->invalid_events);
    if (st->events_before_first_marker)
        printf("before marker   %llu events precede the first time marker (given its time)\n",
               (unsigned long long)st->events_before_first_marker);
    /* count rate */
    if (s->n_seconds) {
        double pmin = 1e300, pmax = 0, psum = 0, dsum = 0;
        uint64_t msum = 0;
        for (uint64_t sec = 0; sec < s->n_seconds; sec++) {
            uint64_t ms = covered_ms(st, sec);
            if (!ms)
                continue;
            double p = 1000.0 * (double)s->prompts_per_s[sec] / (double)ms;
            if (p < pmin)
                pmin = p;
            if (p > pmax)
                pmax = p;
            psum += (double)s->prompts_per_s[sec];
            dsum += (double)s->delayeds_per_s[sec];
            msum += ms;
        }
        if (msum) {
            printf("count rate      prompts mean %.4g cps (min %.4g, max %.4g per second), delayeds mean %.4g cps\n",
                   1000.0 * psum / (double)msum, pmin, pmax, 1000.0 * dsum / (double)msum);
            printf("  second    ms    prompts/s   delayeds/s\n");
            uint64_t n = s->n_seconds;
            for (uint64_t sec = 0; sec < n; sec++) {
                if (n > 12 && sec == 5) {
                    printf("  ... (%llu more seconds; all of them with --json)\n", (unsigned long long)(n - 10));
                    sec = n - 5;
                }
                uint64_t ms = covered_ms(st, sec);
                if (!ms)
                    continue;
                printf("  %6llu  %4llu  %11.1f  %11.1f\n", (unsigned long long)sec, (unsigned long long)ms,
                       1000.0 * (double)s->prompts_per_s[sec] / (double)ms, 1000.0 * (double)s->delayeds_per_s[sec] / (double)ms);
            }
        }
    }
    for (int i = 0; i < w->n; i++)
        printf("warning         %s\n", w->text[i]);
}

int lf_cmd_info(int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, 0, 'j'},
                                         {"scanner", required_argument, 0, 's'},
                                         {"verbose", no_argument, 0, 'v'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int json = 0, verbose = 0, c;
    const char *scanner = NULL;
    optind = 1;
    while ((c = getopt_long(argc, argv, "js:vh", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json = 1; break;
        case 's': scanner = optarg; break;
        case 'v': verbose++; break;
        case 'h': help(); return LF_EXIT_OK;
        default: return lf_cli_usage("info", "unknown option");
        }
    }
    if (optind != argc - 1)
        return lf_cli_usage("info", "expected one FILE (.l, .l.hdr or .ptd)");
    lf_cli_logging(verbose);
    if (!verbose) /* the summary itself reports every anomaly the reader would warn about */
        lf_log_set_level(LF_LOG_ERROR);
    lf_error err = {{0}};
    lf_lm_open_opts oo = {.scanner = scanner};
    lf_lm_reader *r;
    if (lf_lm_open(argv[optind], &oo, &r, &err) != 0)
        return lf_cli_fail("info", &err);
    lf_lm_summary s;
    lf_lm_summary_init(&s);
    lf_cli_progress p;
    lf_cli_progress_start(&p, "reading");
    double t0 = lf_cli_now();
    int rc = lf_lm_foreach(r, add_batch, &s, lf_cli_progress_cb, &p, &err);
    lf_cli_progress_end(&p);
    if (rc != 0) {
        lf_lm_summary_free(&s);
        lf_lm_close(r);
        return lf_cli_fail("info", &err);
    }
    lf_lm_summary_finish(&s, r);
    double dt = lf_cli_now() - t0;
    lf_info("decoded %llu words in %.3f s (%.0f MB/s)", (unsigned long long)s.st.words, dt,
            dt > 0 ? (double)lf_lm_bytes_total(r) / dt / 1e6 : 0.0);
    warnings w = {.n = 0};
    collect_warnings(lf_lm_header_of(r), &s, &w);
    if (json)
        print_json(lf_lm_header_of(r), &s, &w);
    else
        print_text(lf_lm_header_of(r), &s, &w);
    lf_lm_summary_free(&s);
    lf_lm_close(r);
    return LF_EXIT_OK;
}

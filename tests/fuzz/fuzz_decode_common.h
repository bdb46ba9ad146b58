/* Shared body of the stream-decoder fuzz targets: FUZZ_SCANNER / FUZZ_FORMAT select the stream.
 * The scanner comes from the source tree's data/scanners (LAFOV_FUZZ_SCANNER_DIR), loaded once. */
#ifndef LF_FUZZ_DECODE_COMMON_H
#define LF_FUZZ_DECODE_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/log.h"
#include "io/decoder.h"
#include "io/lmreader.h"
#include "io/scanner_file.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static lf_scanner fuzz_scanner;
static lf_decoder fuzz_decoder; /* built once (the PETLINK tables are costly); copied per input */
static lf_event fuzz_ev[4096];
static lf_tag fuzz_tags[4096];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    lf_error err;
    lf_log_set_level(LF_LOG_QUIET);
    if (lf_scanner_by_name(LAFOV_FUZZ_SCANNER_DIR, FUZZ_SCANNER, &fuzz_scanner, &err) != 0) {
        fprintf(stderr, "fuzz: %s\n", err.msg);
        abort();
    }
    const lf_scanner *sc = &fuzz_scanner;
    if (lf_decoder_init(&fuzz_decoder, FUZZ_FORMAT, sc, sc->mrd, sc->tof_bins, sc->sino_tang_bins, sc->sino_views,
                        &err) != 0) {
        fprintf(stderr, "fuzz: %s\n", err.msg); /* the scanner's own defaults must give a decoder */
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const lf_scanner *sc = &fuzz_scanner;
    lf_error err;
    lf_decoder d = fuzz_decoder; /* fresh time state and statistics; the lookup tables are shared, read-only */
    const size_t wb = (size_t)d.word_bytes, max_words = sizeof fuzz_ev / sizeof fuzz_ev[0];
    size_t nwords = size / wb, done = 0;
    uint64_t events = 0;
    /* decode in uneven pieces so the streaming state crosses buffer boundaries */
    while (done < nwords) {
        size_t n = (size_t)data[done * wb] % 7 + 1;
        if (n > nwords - done)
            n = nwords - done;
        if (n > max_words)
            n = max_words;
        size_t n_ev = 0, n_tags = 0;
        lf_decode(&d, data + done * wb, n, done * wb, fuzz_ev, &n_ev, fuzz_tags, &n_tags);
        if (n_ev + n_tags > n)
            abort();
        for (size_t i = 0; i < n_ev; i++)
            if (fuzz_ev[i].a >= (uint32_t)sc->n_crystals || fuzz_ev[i].b >= (uint32_t)sc->n_crystals ||
                fuzz_ev[i].a == fuzz_ev[i].b || (!fuzz_ev[i].prompt && fuzz_ev[i].tof != 0))
                abort(); /* only valid events may come out */
        events += n_ev;
        done += n;
    }
    const lf_decode_stats *st = &d.st;
    if (st->words != nwords || st->prompts + st->delayeds != events)
        abort();
    (void)lf_lm_check_word_size(data, size, (int)wb, "fuzz", 0, &err);
    return 0;
}

#endif

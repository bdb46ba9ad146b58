/* lafov io: a list-mode acquisition's header, located and checked.
 *
 * lf_lm_header_open() takes what a user names — the data file (NAME.l), its header (NAME.l.hdr) or a
 * .ptd container — finds the Interfile header and the words, picks the scanner (by `--scanner`, else
 * by "originating system"), and checks the keys the format needs:
 *  - Quadra-style 64-bit ("PETLINK detector pair"): every required key of quadra-stream.md;
 *  - PETLINK 32-bit ("PETLINK bin address"): word size, rings, projections, views, ring difference.
 * A missing or malformed key is an error naming the key and the file; keys the scanner contradicts
 * (rings, crystals per ring) are errors too. Unknown keys stay in `ifh` for provenance.
 */
#ifndef LF_LMHEADER_H
#define LF_LMHEADER_H

#include <stdint.h>

#include "../core/scanner.h"
#include "interfile.h"

typedef struct lf_lm_header {
    lf_ifh ifh;                 /* every key, as read */
    char user_path[4096];       /* what the user named */
    char header_path[4096];     /* the .hdr, or the .ptd holding the header */
    char data_path[4096];       /* the words (.l or .ptd) */
    int is_ptd;
    uint64_t data_offset;       /* first word, bytes */
    uint64_t data_bytes;        /* bytes of the word region (may not be a multiple of the word size) */
    lf_lm_format format;
    int word_bytes;             /* 4 or 8 */
    lf_scanner scanner;
    int mrd;                    /* maximum ring difference of the stream (axial slots) */
    int tof_bins;
    double tof_bin_width_ps;
    int sino_tang, sino_views;  /* PETLINK only */
    long long header_word_count;/* "%total listmode word counts", -1 when absent */
    double header_duration_s;   /* "image duration (sec)", -1 when absent */
    /* study (empty / -1 when absent for PETLINK; required for the 64-bit stream) */
    char isotope[32];
    double halflife_s, branching_factor, activity_bq, weight_kg;
    char study_date[32], study_time[32], injection_date[32], injection_time[32];
} lf_lm_header;

typedef struct lf_lm_open_opts {
    const char *scanner_dir;    /* NULL: lf_scanner_dir() default */
    const char *scanner;        /* NULL: by originating system code; else a name or .scanner path */
} lf_lm_open_opts;

int lf_lm_header_open(const char *path, const lf_lm_open_opts *opts, lf_lm_header *h, lf_error *err);
void lf_lm_header_free(lf_lm_header *h);

/* The keys quadra-stream.md requires in a 64-bit stream header, NULL-terminated. */
extern const char *const lf_q64_required_keys[];

#endif

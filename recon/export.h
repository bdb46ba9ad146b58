/* lafov recon: frame export — the events of chosen time windows as a new Quadra-style 64-bit stream.
 *
 *   lf_export_result r;
 *   lf_export_windows("scan.l", NULL, "0-540,600-1200", NULL, "kept.l", 0, &r, &err);
 *
 * What is written (shared/reference/quadra-stream.md, "Time"):
 *  - every time marker of the input's time axis, 0 … N−1 ms (N = the input's markers; a marker the
 *    input skipped is written too, so the output is a clean stream), so times, decay and the study
 *    clock stay those of the original scan;
 *  - the prompts and delayeds whose millisecond lies in the union of the windows ([t0, t1) in seconds,
 *    an event of ms m at time m/1000 s); events of the other milliseconds are dropped;
 *  - every non-time tag (singles, gating, control, bed, unknown) at its own time, kept or not;
 *  - the header copied key by key (unknown keys included), with the computed keys the writer sets
 *    (`%total listmode word counts`, `image duration (sec)`, `name of data file`, …) and
 *    `%kept windows (sec):={0-540,600-1200}` — the contract's syntax: braces, windows START-END in
 *    seconds (shortest exact decimal, %.10g), comma-separated, sorted, disjoint (overlapping or
 *    touching windows merged). An input that already has `%kept windows (sec)` gets the intersection
 *    of its windows and the new ones.
 * Events the reader skips as invalid are not copied (they are counted in the result). Within one
 * millisecond the writer puts the tags before the events (the contract gives no order inside a ms).
 *
 * Only the 64-bit stream can be exported: PETLINK 32-bit input is refused with a message saying so.
 * The output (NAME.l and NAME.l.hdr) is written atomically (io/lmwriter.h); an existing output is an
 * error unless force is set, and the output may not be the input.
 *
 * lf_export_filtered is the machinery under every filtered copy (the time windows here, binomial
 * thinning in recon/thin.h): the same markers, tags and header rules, with the events a callback keeps.
 */
#ifndef LF_EXPORT_H
#define LF_EXPORT_H

#include <stdint.h>

#include "../core/error.h"
#include "../core/event.h"
#include "../io/lmheader.h"
#include "../io/lmreader.h"
#include "decay.h"

#define LF_EXPORT_WINDOWS_MAX 1024

typedef struct lf_export_result {
    lf_window w[LF_EXPORT_WINDOWS_MAX]; /* the kept windows written to the header */
    int n_w;
    uint64_t prompts_in, delayeds_in;   /* valid events read */
    uint64_t prompts_kept, delayeds_kept;
    uint64_t tags_kept;                 /* non-time tags copied (all of them) */
    uint64_t markers;                   /* time markers written */
    uint64_t words;                     /* words written (the header's word count) */
    uint64_t invalid_skipped;           /* invalid events of the input, not copied */
} lf_export_result;

/* What a filtered copy read and wrote. */
typedef struct lf_export_counts {
    uint64_t prompts_in, delayeds_in;   /* valid events read */
    uint64_t prompts_kept, delayeds_kept;
    uint64_t tags_kept;                 /* non-time tags copied (all of them) */
    uint64_t markers;                   /* time markers written */
    uint64_t words;                     /* words written */
    uint64_t invalid_skipped;           /* invalid events of the input, not copied */
} lf_export_counts;

/* Event filter of lf_export_filtered: 1 keeps the event, 0 drops it. ordinal: the event's place among
 * the input's valid events, prompts and delayeds together, 0, 1, 2, ... in stream order. */
typedef int (*lf_export_keep_fn)(const lf_event *e, uint64_t ordinal, void *user);

/* Copies the 64-bit stream of rd (freshly opened, not yet read) into out_l: every time marker and tag,
 * the events keep(e, ordinal, user) accepts, the header = the input's keys with the keys of `set`
 * replacing or added to them (and the writer's computed keys). Refuses an output that is the input and,
 * unless force, an existing output (NAME.l or NAME.l.hdr); the caller refuses PETLINK input first. */
int lf_export_filtered(lf_lm_reader *rd, const lf_ifh *set, const char *out_l, int force, lf_export_keep_fn keep,
                       void *user, lf_export_counts *c, lf_error *err);

/* The union of the windows of frames/exclude (recon/frames.h syntax; lf_frames_parse against
 * duration_s), sorted and merged, into w (capacity cap). Returns the number of windows, -1 on error. */
int lf_export_union(const char *frames, const char *exclude, double duration_s, lf_window *w, int cap, lf_error *err);

/* "{0-540,600-1200}" into buf (cap bytes). */
void lf_export_format_windows(const lf_window *w, int n, char *buf, size_t cap);
/* Parses the header value "{0-540,600-1200}" (also without braces; spaces allowed) into w. Returns the
 * number of windows, -1 with err naming `what` and the expected syntax. */
int lf_export_parse_windows(const char *text, const char *what, lf_window *w, int cap, lf_error *err);

/* Exports acq's events of the windows frames/exclude into out_l (see above). r may be NULL. */
int lf_export_windows(const char *acq, const lf_lm_open_opts *o, const char *frames, const char *exclude,
                      const char *out_l, int force, lf_export_result *r, lf_error *err);

#endif

/* lafov io: writer for the Quadra-style 64-bit stream and its Interfile header (quadra-stream.md).
 *
 *   lf_q64_writer *w;
 *   lf_q64w_open("out/acq.l", &scanner, extra_keys, &w, &err);   // extra: isotope, activity, ...
 *   lf_q64w_event(w, &ev);  ...                                   // events in time order
 *   lf_q64w_close(w, duration_ms, &err);                          // markers to duration-1, header
 *
 * Time markers are written for every ms (also empty ones): the writer emits the markers up to an
 * event's t_ms before the event, and the rest up to duration_ms - 1 on close. The data and header
 * are written to temporary files in the target folder and renamed into place only by a successful
 * close, so a failed or aborted write never leaves a partial stream or overwrites an existing one
 * with garbage. The header gets every required key: the scanner's geometry/TOF/energy keys, the
 * counts and duration computed here, and the study keys from `extra` (missing ones are an error
 * naming the key). Keys of `extra` the writer does not compute are copied (provenance).
 */
#ifndef LF_LMWRITER_H
#define LF_LMWRITER_H

#include <stdint.h>

#include "../core/event.h"
#include "../core/scanner.h"
#include "interfile.h"

typedef struct lf_q64_writer lf_q64_writer;

/* mrd < 0: the scanner's default. */
int lf_q64w_open(const char *l_path, const lf_scanner *sc, int mrd, const lf_ifh *extra, lf_q64_writer **out,
                 lf_error *err);
/* Writes markers so that the current time is ms (no-op when already there). ms must not decrease. */
int lf_q64w_time(lf_q64_writer *w, uint64_t ms, lf_error *err);
int lf_q64w_event(lf_q64_writer *w, const lf_event *e, lf_error *err);
/* Writes a tag word (bit 63 set; not a time marker) at the current time. */
int lf_q64w_tag(lf_q64_writer *w, uint64_t word, lf_error *err);
/* Finishes: markers up to duration_ms - 1, header, fsync, rename. Frees w in every case. */
int lf_q64w_close(lf_q64_writer *w, uint64_t duration_ms, lf_error *err);
/* Discards everything written and frees w. */
void lf_q64w_abort(lf_q64_writer *w);

uint64_t lf_q64w_words(const lf_q64_writer *w);

#endif

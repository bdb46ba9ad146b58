/* lafov recon: frames — which minutes of an acquisition make which image.
 *
 * A frame is a list of kept time windows (seconds from the scan start, recon/decay.h's lf_window):
 * decay and duration come from those windows only, so leaving minutes out changes noise, not
 * activity concentration.
 *
 * Text accepted by lf_frames_parse (times in seconds, "90", "90.5", or m:ss, "1:30", "10:00"):
 *   "START-END"                one frame                 e.g. "600-1200", "10:00-20:00"
 *   "A-B,C-D,..."              one frame per window      e.g. "0-300,300-600,600-1200"
 *   "NxD[,NxD...]"             N consecutive frames of D seconds each (a dynamic scheme), starting where
 *                              the previous item ended (0 at first)   e.g. "12x10,6x30,5x120"
 *   NULL or ""                 the whole acquisition (0 to duration_s)
 * Items of both kinds may be mixed; frames may overlap one another (each is its own image).
 * exclude ("A-B,C-D", same time syntax, may be NULL): windows removed from every frame, e.g. the
 * minutes a patient moved; a frame may thus become several windows.
 * A frame holds any number of windows (gating makes hundreds); lf_frame_contains is a binary search.
 * Errors name the item: bad syntax, END <= START, a negative time, a window beyond the data (END more
 * than 1 s after duration_s, when duration_s > 0), a frame left empty by the exclusion.
 */
#ifndef LF_FRAMES_H
#define LF_FRAMES_H

#include "../core/error.h"
#include "decay.h"

#define LF_FRAMES_MAX 1000

typedef struct lf_frame {
    lf_window *w;                      /* kept windows, in time order, disjoint (malloc'd) */
    int n_w, cap;
    double start_s, end_s;             /* span: first start, last end */
    double kept_s;                     /* Σ window lengths */
    int gate;                          /* 1..N for a gate of lf_frames_gate, else 0 */
} lf_frame;

typedef struct lf_frames {
    lf_frame *f;   /* malloc'd, n entries */
    int n;
} lf_frames;

/* Parses spec and exclude (see above). duration_s: length of the data (s), <= 0 when unknown (then
 * "whole acquisition" is refused and windows are not checked against the end). out is overwritten. */
int lf_frames_parse(const char *spec, const char *exclude, double duration_s, lf_frames *out, lf_error *err);
void lf_frames_free(lf_frames *fr);

/* Gating (physiological triggers, e.g. the stream's respiratory trigger tags): replaces the single frame
 * of *fr (the minutes --frames / --exclude kept) by n_gates frames: gate g (1..N) keeps, of every cycle
 * between consecutive triggers t_k < t_k+1, the phase interval [t_k + (g-1)Δ/N, t_k + gΔ/N), Δ = t_k+1 − t_k,
 * intersected with the kept minutes. Cycles longer than 1.5 × or shorter than 0.5 × the median cycle (a
 * missed or spurious trigger) are left out of every gate, as are the times before the first and after the
 * last trigger. trig_s: trigger times in seconds, increasing. Fails (naming the trigger count) with fewer
 * than 2 usable cycles, or when *fr holds more than one frame. */
int lf_frames_gate(lf_frames *fr, const double *trig_s, size_t n_trig, int n_gates, int *cycles_used, lf_error *err);

/* "resp:4" / "cardiac:8" -> PETLINK gating trigger type (1 respiratory, 2 ECG R-wave) and gate count. */
int lf_gate_parse(const char *text, int *trigger_type, int *n_gates, lf_error *err);

/* 1 when time t_s (seconds from the scan start) lies in one of the frame's windows ([t0, t1)). */
int lf_frame_contains(const lf_frame *f, double t_s);

/* Parses one time ("90", "1:30", "1:30.5"); -1 with err naming `what` otherwise. */
int lf_time_parse(const char *text, const char *what, double *t_s, lf_error *err);

/* "600-1200 s" or "0-540, 600-1200 s" into buf (for logs and file provenance). */
void lf_frame_describe(const lf_frame *f, char *buf, size_t cap);

#endif

/* lafov core: logging.
 *
 * The library logs each step (what it opened, what it found, warnings about usable-but-odd data)
 * through lf_log(). By default messages at or above the threshold go to stderr with a timestamp;
 * the CLI sets the threshold from -v/--verbose and may install its own sink (e.g. to keep a
 * progress bar intact). Warnings are always logged unless the level is LF_LOG_QUIET.
 */
#ifndef LF_LOG_H
#define LF_LOG_H

#include <stdio.h>

typedef enum { LF_LOG_DEBUG = 0, LF_LOG_INFO = 1, LF_LOG_WARN = 2, LF_LOG_ERROR = 3, LF_LOG_QUIET = 4 } lf_log_level;

typedef void (*lf_log_sink)(lf_log_level level, const char *line, void *user);

void lf_log_set_level(lf_log_level level);
lf_log_level lf_log_get_level(void);
/* Replaces the sink (NULL restores the default stderr sink). */
void lf_log_set_sink(lf_log_sink sink, void *user);
/* Also writes every line at or above level (whatever the console threshold) to f, dated; NULL stops.
 * The caller owns f (e.g. a run's log file in its output folder). */
void lf_log_set_file(FILE *f, lf_log_level level);
void lf_log(lf_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define lf_debug(...) lf_log(LF_LOG_DEBUG, __VA_ARGS__)
#define lf_info(...) lf_log(LF_LOG_INFO, __VA_ARGS__)
#define lf_warn(...) lf_log(LF_LOG_WARN, __VA_ARGS__)

#endif

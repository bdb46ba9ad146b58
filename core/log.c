#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static lf_log_level g_level = LF_LOG_WARN;
static lf_log_sink g_sink;
static void *g_user;
static FILE *g_file;
static lf_log_level g_file_level = LF_LOG_INFO;

void lf_log_set_level(lf_log_level level) { g_level = level; }
lf_log_level lf_log_get_level(void) { return g_level; }

void lf_log_set_sink(lf_log_sink sink, void *user)
{
    g_sink = sink;
    g_user = user;
}

static const char *level_name(lf_log_level l)
{
    switch (l) {
    case LF_LOG_DEBUG: return "debug";
    case LF_LOG_INFO: return "info";
    case LF_LOG_WARN: return "warning";
    default: return "error";
    }
}

void lf_log_set_file(FILE *f, lf_log_level level)
{
    g_file = f;
    g_file_level = level;
}

void lf_log(lf_log_level level, const char *fmt, ...)
{
    int to_console = level >= g_level && level < LF_LOG_QUIET;
    int to_file = g_file && level >= g_file_level && level < LF_LOG_QUIET;
    if (!to_console && !to_file)
        return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    if (to_file) {
        fprintf(g_file, "%04d-%02d-%02d %02d:%02d:%02d.%03ld %s: %s\n", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L, level_name(level), line);
        fflush(g_file);
    }
    if (!to_console)
        return;
    if (g_sink) {
        g_sink(level, line, g_user);
        return;
    }
    fprintf(stderr, "[%02d:%02d:%02d.%03ld] %s: %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
            ts.tv_nsec / 1000000L, level_name(level), line);
}

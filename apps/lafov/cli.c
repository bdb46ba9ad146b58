#include "cli.h"

#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

static int g_bar_visible;

double lf_cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void clear_bar(void)
{
    if (g_bar_visible) {
        fputs("\r\033[K", stderr);
        g_bar_visible = 0;
    }
}

static void sink(lf_log_level level, const char *line, void *user)
{
    (void)user;
    static const char *names[] = {"debug", "info", "warning", "error"};
    clear_bar();
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    if (level >= LF_LOG_WARN)
        fprintf(stderr, "lafov: %s: %s\n", names[level], line);
    else
        fprintf(stderr, "[%02d:%02d:%02d] %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec, line);
}

void lf_cli_logging(int verbosity)
{
    lf_log_set_level(verbosity >= 2 ? LF_LOG_DEBUG : verbosity == 1 ? LF_LOG_INFO : LF_LOG_WARN);
    lf_log_set_sink(sink, NULL);
}

int lf_cli_fail(const char *cmd, const lf_error *err)
{
    clear_bar();
    fprintf(stderr, "lafov %s: error: %s\n", cmd, err->msg);
    return LF_EXIT_FAIL;
}

int lf_cli_usage(const char *cmd, const char *fmt, ...)
{
    clear_bar();
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "lafov %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(see 'lafov %s --help')\n", cmd);
    return LF_EXIT_USAGE;
}

void lf_cli_progress_start(lf_cli_progress *p, const char *label)
{
    p->label = label;
    p->t0 = lf_cli_now();
    p->last_draw = 0;
    p->active = isatty(STDERR_FILENO) && lf_log_get_level() < LF_LOG_QUIET;
}

void lf_cli_progress_cb(uint64_t done, uint64_t total, void *user)
{
    lf_cli_progress *p = user;
    if (!p->active || total == 0)
        return;
    double now = lf_cli_now();
    if (now - p->last_draw < 0.2 && done < total)
        return;
    p->last_draw = now;
    double frac = (double)done / (double)total;
    if (frac > 1)
        frac = 1;
    double el = now - p->t0;
    double eta = frac > 0 ? el * (1 - frac) / frac : 0;
    char bar[31];
    int fill = (int)(frac * 30);
    for (int i = 0; i < 30; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[30] = '\0';
    fprintf(stderr, "\r\033[K%s [%s] %5.1f%%  %.0f s elapsed, ETA %.0f s", p->label, bar, 100 * frac, el, eta);
    g_bar_visible = 1;
}

void lf_cli_progress_end(lf_cli_progress *p)
{
    if (p->active)
        clear_bar();
    p->active = 0;
}

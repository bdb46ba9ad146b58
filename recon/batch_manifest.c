#include "batch_manifest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= LF_BATCH_NAME_MAX || !strcmp(s, ".") || !strcmp(s, ".."))
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
              *p == '_' || *p == '-'))
            return 0;
    return 1;
}

int lf_batch_manifest_add(lf_batch_manifest *m, const char *name, int argc, const char *const *argv, int line,
                          lf_error *err)
{
    char where[64] = "";
    if (line > 0)
        snprintf(where, sizeof where, "line %d: ", line);
    if (!name_ok(name))
        return lf_fail(err, "%sjob name '%s': expected 1 to %d characters of A-Z a-z 0-9 . _ -", where, name,
                       LF_BATCH_NAME_MAX - 1);
    if (argc < 1)
        return lf_fail(err, "%sjob '%s': expected a lafov command after the name (e.g. recon ACQ --out DIR)", where,
                       name);
    if (!strcmp(argv[0], "batch") || !strcmp(argv[0], "lafov"))
        return lf_fail(err, "%sjob '%s': '%s' cannot be a job's command (write the command without 'lafov'; no "
                            "batch inside a batch)", where, name, argv[0]);
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->jobs[i].name, name))
            return lf_fail(err, "%sjob name '%s' is already used on line %d: names must be unique", where, name,
                           m->jobs[i].line);
    if (m->n == m->cap) {
        int cap = m->cap ? 2 * m->cap : 16;
        lf_batch_job *p = realloc(m->jobs, (size_t)cap * sizeof *p);
        if (!p)
            return lf_fail(err, "out of memory");
        m->jobs = p;
        m->cap = cap;
    }
    lf_batch_job *j = &m->jobs[m->n];
    memset(j, 0, sizeof *j);
    j->argv = calloc((size_t)argc + 1, sizeof *j->argv);
    if (!j->argv)
        return lf_fail(err, "out of memory");
    for (int i = 0; i < argc; i++)
        if (!(j->argv[i] = strdup(argv[i]))) {
            for (int k = 0; k < i; k++)
                free(j->argv[k]);
            free(j->argv);
            return lf_fail(err, "out of memory");
        }
    snprintf(j->name, sizeof j->name, "%s", name);
    j->argc = argc;
    j->line = line;
    if (!m->dir[0])
        snprintf(m->dir, sizeof m->dir, ".");
    m->n++;
    return 0;
}

/* Splits one logical line into words (in place into buf); returns the count, -1 on an open quote. */
static int split(const char *s, char *buf, char **words, int cap, int *too_many)
{
    int n = 0;
    char *o = buf;
    *too_many = 0;
    for (;;) {
        while (*s == ' ' || *s == '\t' || *s == '\r')
            s++;
        if (!*s || *s == '#')
            return n;
        if (n == cap) {
            *too_many = 1;
            return n;
        }
        words[n++] = o;
        while (*s && *s != ' ' && *s != '\t' && *s != '\r') {
            if (*s == '\'') {
                const char *e = strchr(s + 1, '\'');
                if (!e)
                    return -1;
                memcpy(o, s + 1, (size_t)(e - s - 1));
                o += e - s - 1;
                s = e + 1;
            } else if (*s == '"') {
                s++;
                while (*s && *s != '"') {
                    if (*s == '\\' && s[1])
                        s++;
                    *o++ = *s++;
                }
                if (*s != '"')
                    return -1;
                s++;
            } else {
                if (*s == '\\' && s[1])
                    s++;
                *o++ = *s++;
            }
        }
        *o++ = '\0';
    }
}

#define MAX_WORDS 512

int lf_batch_manifest_parse(const char *text, const char *origin, lf_batch_manifest *m, lf_error *err)
{
    size_t len = strlen(text);
    char *line = malloc(len + 1), *buf = malloc(len + 1);
    char **words = malloc(MAX_WORDS * sizeof *words);
    int rc = -1, lineno = 0;
    if (!line || !buf || !words) {
        lf_fail(err, "out of memory");
        goto done;
    }
    const char *p = text;
    while (*p) {
        /* one logical line: physical lines joined where one ends in a backslash */
        int first = ++lineno;
        size_t k = 0;
        for (;;) {
            const char *e = strchr(p, '\n');
            size_t n = e ? (size_t)(e - p) : strlen(p);
            memcpy(line + k, p, n);
            k += n;
            p += n + (e ? 1 : 0);
            while (k > 0 && line[k - 1] == '\r')
                k--;
            if (k > 0 && line[k - 1] == '\\' && *p) {
                line[--k] = ' ';
                k++;
                lineno++;
                continue;
            }
            break;
        }
        line[k] = '\0';
        int many = 0;
        int n = split(line, buf, words, MAX_WORDS, &many);
        if (n < 0) {
            lf_fail(err, "%s: line %d: a quote is not closed", origin, first);
            goto done;
        }
        if (many) {
            lf_fail(err, "%s: line %d: more than %d words", origin, first, MAX_WORDS);
            goto done;
        }
        if (n == 0)
            continue;
        if (lf_batch_manifest_add(m, words[0], n - 1, (const char *const *)words + 1, first, err) != 0) {
            lf_fail_prefix(err, "%s", origin);
            goto done;
        }
    }
    rc = 0;
done:
    free(line);
    free(buf);
    free(words);
    return rc;
}

int lf_batch_manifest_read(const char *path, lf_batch_manifest *m, lf_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return lf_fail(err, "%s: cannot open the manifest", path);
    char *text = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 65536 + 1 > cap) {
            cap = cap ? 2 * cap : 65536 + 1;
            char *t = realloc(text, cap);
            if (!t) {
                free(text);
                fclose(f);
                return lf_fail(err, "out of memory");
            }
            text = t;
        }
        size_t got = fread(text + n, 1, 65536, f);
        n += got;
        if (got < 65536)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    text[n] = '\0';
    if (bad || strlen(text) != n) {
        free(text);
        return lf_fail(err, "%s: %s", path, bad ? "read error" : "not a text file (a NUL byte)");
    }
    int rc = lf_batch_manifest_parse(text, path, m, err);
    free(text);
    if (rc == 0 && m->n == 0)
        rc = lf_fail(err, "%s: no job: expected lines 'NAME COMMAND ARGS...' (e.g. 'q1 recon q1.l --out r/q1')", path);
    if (rc == 0) {
        const char *slash = strrchr(path, '/');
        if (!slash)
            snprintf(m->dir, sizeof m->dir, ".");
        else if (slash == path)
            snprintf(m->dir, sizeof m->dir, "/");
        else
            snprintf(m->dir, sizeof m->dir, "%.*s", (int)(slash - path), path);
    }
    return rc;
}

void lf_batch_manifest_free(lf_batch_manifest *m)
{
    for (int i = 0; i < m->n; i++) {
        for (int k = 0; k < m->jobs[i].argc; k++)
            free(m->jobs[i].argv[k]);
        free(m->jobs[i].argv);
    }
    free(m->jobs);
    memset(m, 0, sizeof *m);
}

const char *lf_batch_job_option(const lf_batch_job *j, const char *opt)
{
    const char *v = NULL;
    size_t n = strlen(opt);
    for (int i = 1; i < j->argc; i++) {
        if (!strcmp(j->argv[i], opt) && i + 1 < j->argc)
            v = j->argv[++i];
        else if (!strncmp(j->argv[i], opt, n) && j->argv[i][n] == '=')
            v = j->argv[i] + n + 1;
    }
    return v;
}

int lf_batch_job_has(const lf_batch_job *j, const char *flag)
{
    for (int i = 1; i < j->argc; i++)
        if (!strcmp(j->argv[i], flag))
            return 1;
    return 0;
}

void lf_batch_job_line(const lf_batch_job *j, char *buf, size_t cap)
{
    size_t k = 0;
    if (cap == 0)
        return;
    buf[0] = '\0';
    for (int i = 0; i < j->argc && k + 1 < cap; i++) {
        const char *w = j->argv[i];
        int plain = *w != '\0';
        for (const char *p = w; *p; p++)
            if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/:,=+@%", *p))
                plain = 0;
        if (i)
            buf[k++] = ' ';
        if (plain) {
            k += (size_t)snprintf(buf + k, cap - k, "%s", w);
        } else { /* '...' with each ' as '\'' */
            buf[k++] = '\'';
            for (const char *p = w; *p && k + 5 < cap; p++) {
                if (*p == '\'') {
                    memcpy(buf + k, "'\\''", 4);
                    k += 4;
                } else {
                    buf[k++] = *p;
                }
            }
            if (k + 1 < cap)
                buf[k++] = '\'';
        }
        if (k >= cap)
            k = cap - 1;
        buf[k] = '\0';
    }
}

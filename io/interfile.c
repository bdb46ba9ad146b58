#include "interfile.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void lf_ifh_normalise(const char *key, char *out, size_t n)
{
    size_t o = 0;
    const char *p = key;
    while (*p == '!' || *p == '%' || isspace((unsigned char)*p))
        p++;
    int pending_space = 0;
    for (; *p && o + 1 < n; p++) {
        unsigned char c = (unsigned char)*p;
        if (isspace(c)) {
            pending_space = 1;
            continue;
        }
        if (pending_space && o > 0 && o + 2 < n)
            out[o++] = ' ';
        pending_space = 0;
        out[o++] = (char)tolower(c);
    }
    if (n)
        out[o] = '\0';
}

static char *dup_range(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static void trim_range(const char **s, const char **e)
{
    while (*s < *e && isspace((unsigned char)**s))
        (*s)++;
    while (*e > *s && isspace((unsigned char)(*e)[-1]))
        (*e)--;
}

static int push(lf_ifh *h, const char *key, size_t klen, const char *val, size_t vlen, int has_val, int line)
{
    if (h->n == h->cap) {
        size_t nc = h->cap ? h->cap * 2 : 32;
        lf_ifh_entry *ne = realloc(h->e, nc * sizeof *ne);
        if (!ne)
            return -1;
        h->e = ne;
        h->cap = nc;
    }
    lf_ifh_entry *en = &h->e[h->n];
    en->key = dup_range(key, klen);
    en->value = has_val ? dup_range(val, vlen) : NULL;
    en->line = line;
    en->norm = NULL;
    if (!en->key || (has_val && !en->value)) {
        free(en->key);
        free(en->value);
        return -1;
    }
    en->norm = malloc(klen + 1);
    if (!en->norm) {
        free(en->key);
        free(en->value);
        return -1;
    }
    lf_ifh_normalise(en->key, en->norm, klen + 1);
    h->n++;
    return 0;
}

int lf_ifh_parse_buffer(const char *buf, size_t len, const char *origin, lf_ifh *h, lf_error *err)
{
    memset(h, 0, sizeof *h);
    snprintf(h->origin, sizeof h->origin, "%s", origin ? origin : "(header)");
    size_t pos = 0;
    int line = 0;
    /* UTF-8 byte-order mark */
    if (len >= 3 && (unsigned char)buf[0] == 0xEF && (unsigned char)buf[1] == 0xBB && (unsigned char)buf[2] == 0xBF)
        pos = 3;
    while (pos < len) {
        size_t end = pos;
        while (end < len && buf[end] != '\n' && buf[end] != '\r' && buf[end] != '\0')
            end++;
        line++;
        const char *s = buf + pos, *e = buf + end;
        trim_range(&s, &e);
        if (s < e && *s != ';' && *s != '#') {
            const char *sep = NULL;
            for (const char *q = s; q + 1 < e; q++)
                if (q[0] == ':' && q[1] == '=') {
                    sep = q;
                    break;
                }
            int rc;
            if (sep) {
                const char *ks = s, *ke = sep, *vs = sep + 2, *ve = e;
                trim_range(&ks, &ke);
                trim_range(&vs, &ve);
                rc = push(h, ks, (size_t)(ke - ks), vs, (size_t)(ve - vs), 1, line);
            } else {
                rc = push(h, s, (size_t)(e - s), NULL, 0, 0, line);
            }
            if (rc != 0) {
                lf_ifh_free(h);
                return lf_fail(err, "%s: out of memory reading the header", origin ? origin : "(header)");
            }
        }
        /* line ends: \n, \r\n, \r, or a NUL byte */
        if (end < len && buf[end] == '\r' && end + 1 < len && buf[end + 1] == '\n')
            end++;
        pos = end + 1;
    }
    return 0;
}

int lf_ifh_parse_file(const char *path, lf_ifh *h, lf_error *err)
{
    memset(h, 0, sizeof *h);
    FILE *f = fopen(path, "rb");
    if (!f)
        return lf_fail(err, "%s: cannot open header: %s", path, strerror(errno));
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 65536;
            if (cap > (64u << 20)) {
                free(buf);
                fclose(f);
                return lf_fail(err, "%s: header larger than 64 MiB: expected an Interfile text header", path);
            }
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return lf_fail(err, "%s: out of memory reading the header", path);
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return lf_fail(err, "%s: read error", path);
    }
    int rc = lf_ifh_parse_buffer(buf, n, path, h, err);
    free(buf);
    return rc;
}

void lf_ifh_free(lf_ifh *h)
{
    for (size_t i = 0; i < h->n; i++) {
        free(h->e[i].key);
        free(h->e[i].norm);
        free(h->e[i].value);
    }
    free(h->e);
    h->e = NULL;
    h->n = h->cap = 0;
}

/* Normalised copy of key (malloc'ed; keys have no length limit). */
static char *norm_dup(const char *key)
{
    size_t n = strlen(key) + 1;
    char *out = malloc(n);
    if (out)
        lf_ifh_normalise(key, out, n);
    return out;
}

static long find_index(const lf_ifh *h, const char *key)
{
    char *norm = norm_dup(key);
    long found = -1;
    for (size_t i = 0; norm && i < h->n; i++)
        if (strcmp(h->e[i].norm, norm) == 0) {
            found = (long)i;
            break;
        }
    free(norm);
    return found;
}

const lf_ifh_entry *lf_ifh_find(const lf_ifh *h, const char *key)
{
    long i = find_index(h, key);
    return i < 0 ? NULL : &h->e[i];
}

const char *lf_ifh_get(const lf_ifh *h, const char *key)
{
    const lf_ifh_entry *e = lf_ifh_find(h, key);
    return (e && e->value && e->value[0]) ? e->value : NULL;
}

int lf_ifh_req_str(const lf_ifh *h, const char *key, const char **out, lf_error *err)
{
    const lf_ifh_entry *e = lf_ifh_find(h, key);
    if (!e)
        return lf_fail(err, "%s: required key '%s' is missing", h->origin, key);
    if (!e->value || !e->value[0])
        return lf_fail(err, "%s: line %d: key '%s' has no value", h->origin, e->line, key);
    *out = e->value;
    return 0;
}

/* 1 when only white space remains */
static int at_end(const char *end)
{
    while (isspace((unsigned char)*end))
        end++;
    return *end == '\0';
}

static int parse_long(const char *s, long long *out)
{
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || errno || !at_end(end))
        return -1;
    *out = v;
    return 0;
}

static int parse_double(const char *s, double *out)
{
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (end == s || errno == ERANGE || !isfinite(v) || !at_end(end))
        return -1;
    *out = v;
    return 0;
}

static int typed(const lf_ifh *h, const char *key, int required, int is_long, long long defl, double defd,
                 long long *ol, double *od, lf_error *err)
{
    const lf_ifh_entry *e = lf_ifh_find(h, key);
    if (!e || !e->value || !e->value[0]) {
        if (required) {
            if (!e)
                return lf_fail(err, "%s: required key '%s' is missing", h->origin, key);
            return lf_fail(err, "%s: line %d: key '%s' has no value: expected %s", h->origin, e->line, key,
                           is_long ? "an integer" : "a number");
        }
        if (is_long)
            *ol = defl;
        else
            *od = defd;
        return 0;
    }
    int rc = is_long ? parse_long(e->value, ol) : parse_double(e->value, od);
    if (rc != 0)
        return lf_fail(err, "%s: line %d: key '%s': expected %s, got '%.80s'", h->origin, e->line, key,
                       is_long ? "an integer" : "a number", e->value);
    return 0;
}

int lf_ifh_req_long(const lf_ifh *h, const char *key, long long *out, lf_error *err)
{
    return typed(h, key, 1, 1, 0, 0, out, NULL, err);
}
int lf_ifh_req_double(const lf_ifh *h, const char *key, double *out, lf_error *err)
{
    return typed(h, key, 1, 0, 0, 0, NULL, out, err);
}
int lf_ifh_opt_long(const lf_ifh *h, const char *key, long long def, long long *out, lf_error *err)
{
    return typed(h, key, 0, 1, def, 0, out, NULL, err);
}
int lf_ifh_opt_double(const lf_ifh *h, const char *key, double def, double *out, lf_error *err)
{
    return typed(h, key, 0, 0, 0, def, NULL, out, err);
}

int lf_ifh_set(lf_ifh *h, const char *key, const char *value)
{
    long i = find_index(h, key);
    if (i >= 0) {
        char *v = dup_range(value, strlen(value));
        if (!v)
            return -1;
        free(h->e[i].value);
        h->e[i].value = v;
        return 0;
    }
    return push(h, key, strlen(key), value, strlen(value), 1, 0);
}

int lf_ifh_setf(lf_ifh *h, const char *key, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return lf_ifh_set(h, key, buf);
}

void lf_ifh_remove(lf_ifh *h, const char *key)
{
    char *norm = norm_dup(key);
    if (!norm)
        return;
    size_t o = 0;
    for (size_t i = 0; i < h->n; i++) {
        if (strcmp(h->e[i].norm, norm) == 0) {
            free(h->e[i].key);
            free(h->e[i].norm);
            free(h->e[i].value);
        } else {
            h->e[o++] = h->e[i];
        }
    }
    free(norm);
    h->n = o;
}

int lf_ifh_merge(lf_ifh *dst, const lf_ifh *src)
{
    for (size_t i = 0; i < src->n; i++) {
        const lf_ifh_entry *e = &src->e[i];
        int rc = e->value ? lf_ifh_set(dst, e->key, e->value)
                          : (lf_ifh_find(dst, e->key) ? 0 : push(dst, e->key, strlen(e->key), NULL, 0, 0, 0));
        if (rc != 0)
            return -1;
    }
    return 0;
}

int lf_ifh_write(const lf_ifh *h, FILE *f)
{
    for (size_t i = 0; i < h->n; i++)
        if ((h->e[i].value ? fprintf(f, "%s:=%s\n", h->e[i].key, h->e[i].value) : fprintf(f, "%s\n", h->e[i].key)) < 0)
            return -1;
    return 0;
}

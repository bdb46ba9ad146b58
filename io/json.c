#include "json.h"

#include <math.h>

void lf_json_init(lf_json *j, FILE *f)
{
    j->f = f;
    j->depth = 0;
    j->first[0] = 1;
}

static void write_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
    }
    fputc('"', f);
}

static void prefix(lf_json *j, const char *key)
{
    if (j->depth > 0) {
        if (!j->first[j->depth])
            fputc(',', j->f);
        fputc('\n', j->f);
        for (int i = 0; i < j->depth; i++)
            fputs("  ", j->f);
    }
    j->first[j->depth] = 0;
    if (key && j->depth > 0 && j->close[j->depth] == '}') {
        write_string(j->f, key);
        fputs(": ", j->f);
    }
}

static void open_(lf_json *j, const char *key, char o, char c)
{
    prefix(j, key);
    fputc(o, j->f);
    if (j->depth < 63)
        j->depth++;
    j->first[j->depth] = 1;
    j->close[j->depth] = c;
}

void lf_json_obj(lf_json *j, const char *key) { open_(j, key, '{', '}'); }
void lf_json_arr(lf_json *j, const char *key) { open_(j, key, '[', ']'); }

void lf_json_end(lf_json *j)
{
    if (j->depth == 0)
        return;
    char c = j->close[j->depth];
    int empty = j->first[j->depth];
    j->depth--;
    if (!empty) {
        fputc('\n', j->f);
        for (int i = 0; i < j->depth; i++)
            fputs("  ", j->f);
    }
    fputc(c, j->f);
}

void lf_json_str(lf_json *j, const char *key, const char *v)
{
    prefix(j, key);
    if (v)
        write_string(j->f, v);
    else
        fputs("null", j->f);
}
void lf_json_u64(lf_json *j, const char *key, uint64_t v)
{
    prefix(j, key);
    fprintf(j->f, "%llu", (unsigned long long)v);
}
void lf_json_i64(lf_json *j, const char *key, int64_t v)
{
    prefix(j, key);
    fprintf(j->f, "%lld", (long long)v);
}
void lf_json_num(lf_json *j, const char *key, double v)
{
    prefix(j, key);
    if (isfinite(v))
        fprintf(j->f, "%.10g", v);
    else
        fputs("null", j->f);
}
void lf_json_nums(lf_json *j, const char *key, const double *v, int n)
{
    lf_json_arr(j, key);
    for (int i = 0; i < n; i++)
        lf_json_num(j, NULL, v[i]);
    lf_json_end(j);
}
void lf_json_bool(lf_json *j, const char *key, int v)
{
    prefix(j, key);
    fputs(v ? "true" : "false", j->f);
}
void lf_json_null(lf_json *j, const char *key)
{
    prefix(j, key);
    fputs("null", j->f);
}
void lf_json_finish(lf_json *j) { fputc('\n', j->f); }

/* lafov io: Interfile-style `key := value` text (list-mode headers, scanner files).
 *
 * Keys match ignoring leading '!'/'%', case, and repeated/surrounding spaces, so
 * "!%Maximum  Ring Difference " finds "%maximum ring difference". Lines starting with ';' or '#'
 * are comments; lines without ":=" are kept as-is for provenance but have no value. Every entry
 * keeps its original spelling and line number; unknown keys are kept (lf_ifh_write writes them back).
 * The getters for required keys fail with "FILE: required key 'k' is missing" or
 * "FILE: line N: key 'k': expected ..., got '...'".
 */
#ifndef LF_INTERFILE_H
#define LF_INTERFILE_H

#include <stddef.h>
#include <stdio.h>

#include "../core/error.h"

typedef struct lf_ifh_entry {
    char *key;    /* as written (trimmed) */
    char *norm;   /* normalised for matching */
    char *value;  /* trimmed; NULL for a line without ":=" */
    int line;
} lf_ifh_entry;

typedef struct lf_ifh {
    lf_ifh_entry *e;
    size_t n, cap;
    char origin[4200]; /* file name (or description) used in messages */
} lf_ifh;

/* Normalises a key into out (size n). */
void lf_ifh_normalise(const char *key, char *out, size_t n);

int lf_ifh_parse_buffer(const char *buf, size_t len, const char *origin, lf_ifh *h, lf_error *err);
int lf_ifh_parse_file(const char *path, lf_ifh *h, lf_error *err);
void lf_ifh_free(lf_ifh *h);

/* First entry with this key (NULL if none); value may be NULL for a key without value. */
const lf_ifh_entry *lf_ifh_find(const lf_ifh *h, const char *key);
/* Value of a key, or NULL when missing or empty. */
const char *lf_ifh_get(const lf_ifh *h, const char *key);

int lf_ifh_req_str(const lf_ifh *h, const char *key, const char **out, lf_error *err);
int lf_ifh_req_long(const lf_ifh *h, const char *key, long long *out, lf_error *err);
int lf_ifh_req_double(const lf_ifh *h, const char *key, double *out, lf_error *err);
/* Optional keys: *out = def when missing or empty; a present but malformed value is an error. */
int lf_ifh_opt_long(const lf_ifh *h, const char *key, long long def, long long *out, lf_error *err);
int lf_ifh_opt_double(const lf_ifh *h, const char *key, double def, double *out, lf_error *err);

/* Sets a key: replaces the value of the first matching entry, else appends "key:=value". */
int lf_ifh_set(lf_ifh *h, const char *key, const char *value);
int lf_ifh_setf(lf_ifh *h, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Removes every entry with this key. */
void lf_ifh_remove(lf_ifh *h, const char *key);
/* Copies every entry of src into dst (replacing matching keys). */
int lf_ifh_merge(lf_ifh *dst, const lf_ifh *src);

/* Writes "key:=value" lines (entries without value as "key:="), LF line ends. */
int lf_ifh_write(const lf_ifh *h, FILE *f);

#endif

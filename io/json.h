/* lafov io: a small streaming JSON writer (pretty-printed, strings escaped, non-finite numbers as
 * null). Keys are given with each value inside objects, NULL inside arrays.
 *
 *   lf_json j; lf_json_init(&j, stdout);
 *   lf_json_obj(&j, NULL); lf_json_u64(&j, "prompts", 12); lf_json_arr(&j, "rates"); ... lf_json_end(&j);
 *   lf_json_end(&j); lf_json_finish(&j);
 */
#ifndef LF_JSON_H
#define LF_JSON_H

#include <stdint.h>
#include <stdio.h>

typedef struct lf_json {
    FILE *f;
    int depth;
    int first[64];
    char close[64];
} lf_json;

void lf_json_init(lf_json *j, FILE *f);
void lf_json_obj(lf_json *j, const char *key);
void lf_json_arr(lf_json *j, const char *key);
void lf_json_end(lf_json *j);
void lf_json_str(lf_json *j, const char *key, const char *v);
void lf_json_u64(lf_json *j, const char *key, uint64_t v);
void lf_json_i64(lf_json *j, const char *key, int64_t v);
void lf_json_num(lf_json *j, const char *key, double v);
/* An array of n numbers (non-finite ones as null). */
void lf_json_nums(lf_json *j, const char *key, const double *v, int n);
void lf_json_bool(lf_json *j, const char *key, int v);
void lf_json_null(lf_json *j, const char *key);
/* Ends the document with a newline. */
void lf_json_finish(lf_json *j);

#endif

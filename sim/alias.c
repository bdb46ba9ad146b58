#include "alias.h"

#include <stdlib.h>

int lf_alias_init(lf_alias *a, const double *w, uint32_t n, lf_error *err)
{
    a->n = n;
    a->prob = malloc((size_t)n * sizeof *a->prob);
    a->alias = malloc((size_t)n * sizeof *a->alias);
    double *p = malloc((size_t)n * sizeof *p);
    uint32_t *small = malloc((size_t)n * sizeof *small), *large = malloc((size_t)n * sizeof *large);
    if (!a->prob || !a->alias || !p || !small || !large || n == 0) {
        free(p);
        free(small);
        free(large);
        lf_alias_free(a);
        return lf_fail(err, n ? "out of memory for an alias table" : "empty distribution");
    }
    double total = 0;
    for (uint32_t i = 0; i < n; i++)
        total += w[i] > 0 ? w[i] : 0;
    a->total = total;
    uint32_t ns = 0, nl = 0;
    for (uint32_t i = 0; i < n; i++) {
        p[i] = total > 0 ? (w[i] > 0 ? w[i] : 0) * n / total : 1.0;
        if (p[i] < 1.0)
            small[ns++] = i;
        else
            large[nl++] = i;
    }
    while (ns && nl) {
        uint32_t s = small[--ns], l = large[--nl];
        a->prob[s] = (float)p[s];
        a->alias[s] = l;
        p[l] -= 1.0 - p[s];
        if (p[l] < 1.0)
            small[ns++] = l;
        else
            large[nl++] = l;
    }
    while (nl) {
        uint32_t l = large[--nl];
        a->prob[l] = 1.0f;
        a->alias[l] = l;
    }
    while (ns) {
        uint32_t s = small[--ns];
        a->prob[s] = 1.0f;
        a->alias[s] = s;
    }
    free(p);
    free(small);
    free(large);
    return 0;
}

void lf_alias_free(lf_alias *a)
{
    free(a->prob);
    free(a->alias);
    a->prob = NULL;
    a->alias = NULL;
}

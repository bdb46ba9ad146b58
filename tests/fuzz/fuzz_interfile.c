/* libFuzzer target: the Interfile header parser (lf_ifh_parse_buffer), the typed getters and the writer. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "io/interfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lf_error err;
    lf_ifh h = {0};
    if (lf_ifh_parse_buffer((const char *)data, size, "fuzz", &h, &err) != 0) {
        lf_ifh_free(&h);
        return 0;
    }
    /* the getters over keys the readers use, required and optional, numeric and text */
    static const char *const keys[] = {"originating system", "!%number   OF rings", "name of data file",
                                       "LM event and tag words format (bits)", "image duration (sec)",
                                       "total listmode word counts", "isotope name", "", NULL};
    for (int i = 0; keys[i]; i++) {
        const char *s;
        long long v;
        double d;
        (void)lf_ifh_find(&h, keys[i]);
        (void)lf_ifh_get(&h, keys[i]);
        (void)lf_ifh_req_str(&h, keys[i], &s, &err);
        (void)lf_ifh_req_long(&h, keys[i], &v, &err);
        (void)lf_ifh_req_double(&h, keys[i], &d, &err);
        (void)lf_ifh_opt_long(&h, keys[i], -1, &v, &err);
        (void)lf_ifh_opt_double(&h, keys[i], -1.0, &d, &err);
    }
    /* every parsed key must be found again by its own spelling */
    for (size_t i = 0; i < h.n; i++)
        if (h.e[i].key && !lf_ifh_find(&h, h.e[i].key))
            __builtin_trap();
    (void)lf_ifh_setf(&h, "%total listmode word counts", "%zu", size);
    lf_ifh_remove(&h, "name of data file");
    FILE *f = fopen("/dev/null", "w");
    if (f) {
        (void)lf_ifh_write(&h, f);
        fclose(f);
    }
    lf_ifh_free(&h);
    return 0;
}

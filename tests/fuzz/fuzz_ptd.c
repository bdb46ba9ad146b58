/* libFuzzer target: the .ptd trailer (lf_ptd_locate_buffer) and, when it holds, the DICOM part. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "io/ptd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lf_error err;
    uint64_t data_bytes, off, n;
    if (lf_ptd_locate_buffer(data, size, "fuzz", &data_bytes, &off, &n, &err) != 0)
        return 0;
    if (off + n > size || data_bytes != off)
        abort(); /* the trailer check must keep the DICOM part inside the input */
    char *text = NULL;
    size_t len = 0;
    if (lf_ptd_dicom_header(data + off, (size_t)n, "fuzz", off, &text, &len, &err) == 0 && (!text || text[len]))
        abort(); /* success must give NUL-terminated text of length len */
    free(text);
    return 0;
}

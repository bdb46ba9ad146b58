/* lafov io: PNG output (libpng), 8-bit RGB, written atomically (io/atomic_file.h). */
#ifndef LF_PNG_WRITE_H
#define LF_PNG_WRITE_H

#include <stdint.h>

#include "../core/error.h"

/* rgb: height rows of width*3 bytes, top row first. */
int lf_png_write_rgb(const char *path, int width, int height, const uint8_t *rgb, lf_error *err);

#endif

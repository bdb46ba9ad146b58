#include "png_write.h"

#include <png.h>
#include <setjmp.h>

#include "atomic_file.h"

static void png_err(png_structp p, png_const_charp msg)
{
    lf_error *err = png_get_error_ptr(p);
    lf_fail(err, "libpng: %s", msg);
    png_longjmp(p, 1);
}

static void png_warn(png_structp p, png_const_charp msg)
{
    (void)p;
    (void)msg;
}

int lf_png_write_rgb(const char *path, int width, int height, const uint8_t *rgb, lf_error *err)
{
    if (width <= 0 || height <= 0)
        return lf_fail(err, "%s: empty image %d x %d", path, width, height);
    lf_atomic_file af;
    FILE *f = lf_atomic_open(&af, path, err);
    if (!f)
        return -1;
    png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, err, png_err, png_warn);
    png_infop info = p ? png_create_info_struct(p) : NULL;
    if (!p || !info) {
        png_destroy_write_struct(&p, NULL);
        lf_atomic_abort(&af);
        return lf_fail(err, "%s: out of memory for libpng", path);
    }
    if (setjmp(png_jmpbuf(p))) {
        png_destroy_write_struct(&p, &info);
        lf_atomic_abort(&af);
        return lf_fail_prefix(err, "%s", path);
    }
    png_init_io(p, f);
    png_set_IHDR(p, info, (png_uint_32)width, (png_uint_32)height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(p, info);
    for (int y = 0; y < height; y++)
        png_write_row(p, (png_const_bytep)(rgb + (size_t)y * (size_t)width * 3));
    png_write_end(p, NULL);
    png_destroy_write_struct(&p, &info);
    return lf_atomic_commit(&af, err);
}

/* Tests for io/volume_view.c: MIPs put a hot voxel where it belongs (head up, square mm pixels,
 * max along the normal, inverse display), windows, the ortho montage (panels, gaps, hot-spot choice
 * robust to a lone spike), argmax / hotspot, and the slice view still working. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "io/volume_view.h"

enum { NX = 20, NY = 16, NZ = 12 };

static void make(lf_volume *v, double vz)
{
    lf_error err = {{0}};
    int n[3] = {NX, NY, NZ};
    double vox[3] = {2, 2, vz}, origin[3] = {-19, -15, -30};
    assert_int_equal(lf_volume_alloc(v, n, vox, origin, &err), 0);
}

static float *at(lf_volume *v, int i, int j, int k) { return &v->data[i + NX * (j + NY * k)]; }

static int px(const uint8_t *rgb, int w, int x, int y) { return rgb[3 * (y * w + x)]; }

/* the (first) brightest pixel, and a check that the picture is grey */
static void brightest(const uint8_t *rgb, int w, int h, int *bx, int *by)
{
    int best = -1;
    *bx = *by = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const uint8_t *p = rgb + 3 * (y * w + x);
            assert_true(p[0] == p[1] && p[1] == p[2]);
            if (p[0] > best) {
                best = p[0];
                *bx = x;
                *by = y;
            }
        }
}

static void test_mip_hot_voxel(void **state)
{
    (void)state;
    lf_error err = {{0}};
    lf_volume v;
    make(&v, 2);
    *at(&v, 5, 7, 9) = 100;
    uint8_t *rgb;
    int w, h, x, y;

    assert_int_equal(lf_volume_mip_rgb(&v, LF_PLANE_CORONAL, 0, 0, 0, &rgb, &w, &h, &err), 0);
    assert_int_equal(w, NX);
    assert_int_equal(h, NZ);
    brightest(rgb, w, h, &x, &y);
    assert_int_equal(x, 5);
    assert_int_equal(y, NZ - 1 - 9); /* head (high z) at the top */
    assert_int_equal(px(rgb, w, x, y), 255);
    assert_int_equal(px(rgb, w, 0, 0), 0);
    free(rgb);

    assert_int_equal(lf_volume_mip_rgb(&v, LF_PLANE_SAGITTAL, 0, 0, 0, &rgb, &w, &h, &err), 0);
    assert_int_equal(w, NY);
    assert_int_equal(h, NZ);
    brightest(rgb, w, h, &x, &y);
    assert_true(x == 7 && y == NZ - 1 - 9);
    free(rgb);

    assert_int_equal(lf_volume_mip_rgb(&v, LF_PLANE_AXIAL, 0, 0, 0, &rgb, &w, &h, &err), 0);
    assert_true(w == NX && h == NY);
    brightest(rgb, w, h, &x, &y);
    assert_true(x == 5 && y == 7); /* axial: y down, as the slice view */
    free(rgb);

    /* inverse: black on white */
    assert_int_equal(lf_volume_mip_rgb(&v, LF_PLANE_CORONAL, 0, 0, 1, &rgb, &w, &h, &err), 0);
    assert_int_equal(px(rgb, w, 5, NZ - 1 - 9), 0);
    assert_int_equal(px(rgb, w, 0, 0), 255);
    assert_int_equal(px(rgb, w, 5, NZ - 1 - 8), 255);
    free(rgb);
    lf_volume_free(&v);
}

/* the projection is the maximum along the normal, on square mm pixels, head up */
static void test_mip_max_and_geometry(void **state)
{
    (void)state;
    lf_error err = {{0}};
    lf_volume v;
    make(&v, 4); /* 4 mm slices: a coronal MIP has 2 picture rows per slice */
    *at(&v, 5, 2, 9) = 40;
    *at(&v, 5, 12, 9) = 50;  /* the max along y at (x=5, z=9) */
    *at(&v, 5, 8, 9) = NAN;  /* ignored */
    *at(&v, 15, 3, NZ - 1) = 30; /* top slice */
    *at(&v, 15, 3, 0) = 20;      /* bottom slice */
    uint8_t *rgb;
    int w, h;
    assert_int_equal(lf_volume_mip_rgb(&v, LF_PLANE_CORONAL, 0, 100, 0, &rgb, &w, &h, &err), 0);
    assert_int_equal(w, NX);
    assert_int_equal(h, 2 * NZ);
    int r9 = 2 * (NZ - 1 - 9);
    assert_int_equal(px(rgb, w, 5, r9), 128); /* 50 of 0..100 */
    assert_int_equal(px(rgb, w, 5, r9 + 1), 128);
    assert_int_equal(px(rgb, w, 5, r9 - 1), 0);
    assert_int_equal(px(rgb, w, 5, r9 + 2), 0);
    assert_int_equal(px(rgb, w, 15, 0), 77);     /* 30: the top rows */
    assert_int_equal(px(rgb, w, 15, h - 1), 51); /* 20: the bottom rows */
    free(rgb);
    /* values beyond the window clamp */
    assert_int_equal(lf_volume_mip_rgb(&v, LF_PLANE_CORONAL, 25, 35, 0, &rgb, &w, &h, &err), 0);
    assert_int_equal(px(rgb, w, 5, r9), 255);
    assert_int_equal(px(rgb, w, 15, h - 1), 0);
    assert_int_equal(px(rgb, w, 15, 0), 128);
    free(rgb);
    lf_volume_free(&v);
}

/* default window: 0 .. 99.9th percentile of the volume, so a few extreme voxels saturate */
static void test_mip_auto_window(void **state)
{
    (void)state;
    lf_error err = {{0}};
    lf_volume v;
    make(&v, 2);
    for (int q = 0; q < NX * NY * NZ; q++)
        v.data[q] = 1 + (float)(q % 7); /* 1..7 */
    *at(&v, 3, 3, 3) = 1000;
    uint8_t *rgb;
    int w, h;
    assert_int_equal(lf_volume_mip_rgb(&v, LF_PLANE_AXIAL, 0, 0, 0, &rgb, &w, &h, &err), 0);
    assert_int_equal(px(rgb, w, 3, 3), 255);
    /* elsewhere the max along z is 7 = the percentile: white too; a 1000-wide window would be black */
    int white = 0;
    for (int i = 0; i < w * h; i++)
        white += rgb[3 * i] == 255;
    assert_true(white > w * h / 2);
    free(rgb);
    lf_volume_free(&v);
}

static void test_argmax_and_hotspot(void **state)
{
    (void)state;
    lf_volume v;
    make(&v, 2);
    for (int k = 2; k <= 4; k++)
        for (int j = 3; j <= 5; j++)
            for (int i = 11; i <= 13; i++)
                *at(&v, i, j, k) = 10;
    *at(&v, 12, 4, 3) = 12;  /* blob centre */
    *at(&v, 2, 13, 9) = 100; /* a lone noisy voxel */
    *at(&v, 0, 0, 0) = NAN;
    int a[3];
    lf_volume_argmax(&v, a);
    assert_true(a[0] == 2 && a[1] == 13 && a[2] == 9);
    lf_volume_hotspot(&v, a);
    assert_true(a[0] == 12 && a[1] == 4 && a[2] == 3);

    /* a single hot voxel on a flat background is found exactly, also at an edge */
    memset(v.data, 0, sizeof(float) * NX * NY * NZ);
    for (int q = 0; q < NX * NY * NZ; q++)
        v.data[q] = 1;
    *at(&v, NX - 1, 0, NZ - 1) = 5;
    lf_volume_hotspot(&v, a);
    assert_true(a[0] == NX - 1 && a[1] == 0 && a[2] == NZ - 1);
    lf_volume_argmax(&v, a);
    assert_true(a[0] == NX - 1 && a[1] == 0 && a[2] == NZ - 1);
    lf_volume_free(&v);

    /* thin volumes (one slice) */
    lf_error err = {{0}};
    int n[3] = {4, 3, 1};
    double vox[3] = {1, 1, 1}, o[3] = {0, 0, 0};
    assert_int_equal(lf_volume_alloc(&v, n, vox, o, &err), 0);
    v.data[2 + 4 * 1] = 3;
    lf_volume_hotspot(&v, a);
    assert_true(a[0] == 2 && a[1] == 1 && a[2] == 0);
    lf_volume_free(&v);
}

static void test_ortho(void **state)
{
    (void)state;
    lf_error err = {{0}};
    lf_volume v;
    make(&v, 2);
    for (int k = 2; k <= 4; k++)
        for (int j = 3; j <= 5; j++)
            for (int i = 11; i <= 13; i++)
                *at(&v, i, j, k) = 10;
    *at(&v, 12, 4, 3) = 12;
    *at(&v, 2, 13, 9) = 100;
    uint8_t *rgb;
    int w, h;
    assert_int_equal(lf_volume_ortho_rgb(&v, NULL, 0, 0, &rgb, &w, &h, &err), 0);
    /* axial NX x NY | coronal NX x NZ | sagittal NY x NZ, 4-pixel gaps, height of the tallest */
    int g = 4, xc = NX + g, xs = 2 * NX + 2 * g, top = (NY - NZ) / 2;
    assert_int_equal(w, 2 * NX + NY + 2 * g);
    assert_int_equal(h, NY);
    int x, y;
    brightest(rgb, w, h, &x, &y); /* (checks grey only: the whole blob reaches the 99.9th percentile) */
    assert_int_equal(px(rgb, w, 12, 4), 255);                     /* axial through z = 3 */
    assert_int_equal(px(rgb, w, 2, 13), 0);                       /* the spike is on another slice */
    assert_int_equal(px(rgb, w, xc + 12, top + NZ - 1 - 3), 255); /* coronal through y = 4, head up */
    assert_int_equal(px(rgb, w, xs + 4, top + NZ - 1 - 3), 255);  /* sagittal through x = 12 */
    assert_int_equal(px(rgb, w, xc + 12, top + NZ - 1 - 1), 0);
    assert_int_equal(px(rgb, w, NX, 5), 80);      /* gap */
    assert_int_equal(px(rgb, w, xs - 1, 5), 80);  /* gap */
    assert_int_equal(px(rgb, w, xc + 3, 0), 80);  /* above the shorter coronal panel */
    assert_int_equal(px(rgb, w, xs + 3, h - 1), 80);
    free(rgb);

    /* an explicit centre: the spike's slices */
    int c[3] = {2, 13, 9};
    assert_int_equal(lf_volume_ortho_rgb(&v, c, 0, 50, &rgb, &w, &h, &err), 0);
    assert_int_equal(px(rgb, w, 2, 13), 255);
    assert_int_equal(px(rgb, w, 12, 4), 0);
    assert_int_equal(px(rgb, w, xc + 2, top + NZ - 1 - 9), 255);
    assert_int_equal(px(rgb, w, xs + 13, top + NZ - 1 - 9), 255);
    free(rgb);

    int bad[3] = {2, NY, 0};
    assert_int_equal(lf_volume_ortho_rgb(&v, bad, 0, 0, &rgb, &w, &h, &err), -1);
    assert_true(tu_contains(err.msg, "outside"));
    lf_volume_free(&v);

    /* anisotropic voxels: one common pixel size (the finest) */
    make(&v, 3);
    assert_int_equal(lf_volume_ortho_rgb(&v, NULL, 0, 0, &rgb, &w, &h, &err), 0);
    assert_int_equal(w, 2 * NX + NY + 2 * g);
    assert_int_equal(h, (int)lround(NZ * 3 / 2.0)); /* 18 rows beat the 16 of the axial panel */
    free(rgb);
    lf_volume_free(&v);
}

/* the single-slice view keeps working: size, head up, percentile window */
static void test_slice_view(void **state)
{
    (void)state;
    lf_error err = {{0}};
    lf_volume v;
    make(&v, 4);
    *at(&v, 5, NY / 2, NZ - 1) = 9;
    uint8_t *rgb;
    int w, h, x, y;
    assert_int_equal(lf_volume_slice_rgb(&v, LF_PLANE_CORONAL, -1, 0, 10, &rgb, &w, &h, &err), 0);
    assert_true(w == NX && h == 2 * NZ);
    brightest(rgb, w, h, &x, &y);
    assert_true(x == 5 && y == 0);
    assert_int_equal(px(rgb, w, 5, 1), 230);
    free(rgb);
    assert_int_equal(lf_volume_slice_rgb(&v, LF_PLANE_AXIAL, NZ, 0, 0, &rgb, &w, &h, &err), -1);
    assert_true(tu_contains(err.msg, "outside"));
    lf_plane p;
    assert_int_equal(lf_plane_parse("sagittal", &p, &err), 0);
    assert_int_equal(p, LF_PLANE_SAGITTAL);
    assert_int_equal(lf_plane_parse("transverse", &p, &err), -1);
    lf_volume_free(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mip_hot_voxel),        cmocka_unit_test(test_mip_max_and_geometry),
        cmocka_unit_test(test_mip_auto_window),      cmocka_unit_test(test_argmax_and_hotspot),
        cmocka_unit_test(test_ortho),                cmocka_unit_test(test_slice_view),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

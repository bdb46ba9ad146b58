/* ROI statistics: labels on a fine grid vs an image on a coarser shifted grid (mean, volumes vs the
 * analytic ones), exact erosion of a box, axial range and radial limit, peak (hot ball, single hot
 * voxel, clipped sphere at the edge), recovery with a truth, mean-preserving truth resampling, axial
 * profile, truth.json label names, CSV / JSON output. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recon/roi.h"

static void alloc_vol(lf_volume *v, int nx, int ny, int nz, double vox, double ox, double oy, double oz)
{
    lf_error err = {{0}};
    int n[3] = {nx, ny, nz};
    double vm[3] = {vox, vox, vox}, o[3] = {ox, oy, oz};
    if (lf_volume_alloc(v, n, vm, o, &err) != 0)
        fail_msg("%s", err.msg);
}

#define AT(v, i, j, k) ((v)->data[(size_t)(i) + (size_t)(v)->n[0] * ((size_t)(j) + (size_t)(v)->n[1] * (size_t)(k))])

/* label 1: cylinder r 30, |z| <= 25 about the z axis; label 2: cylinder r 8 at (38, 0), |z| <= 20 */
static int phantom_label(const double p[3])
{
    if (hypot(p[0] - 38, p[1]) <= 8 && fabs(p[2]) <= 20)
        return 2;
    if (hypot(p[0], p[1]) <= 30 && fabs(p[2]) <= 25)
        return 1;
    return 0;
}

/* labels on 1 mm voxels centred on the origin; image on 2.5 mm voxels, shifted by a fraction of a voxel */
static void make_phantom(lf_volume *lab, lf_volume *img)
{
    alloc_vol(lab, 100, 80, 70, 1.0, -49.5, -39.5, -34.5);
    for (int k = 0; k < lab->n[2]; k++)
        for (int j = 0; j < lab->n[1]; j++)
            for (int i = 0; i < lab->n[0]; i++) {
                double p[3];
                lf_volume_voxel_mm(lab, i, j, k, p);
                AT(lab, i, j, k) = (float)phantom_label(p);
            }
    alloc_vol(img, 44, 36, 30, 2.5, -53.7, -44.1, -37.3);
    for (int k = 0; k < img->n[2]; k++)
        for (int j = 0; j < img->n[1]; j++)
            for (int i = 0; i < img->n[0]; i++) {
                double p[3];
                lf_volume_voxel_mm(img, i, j, k, p);
                int L = phantom_label(p);
                AT(img, i, j, k) = L == 1 ? 7.0f : L == 2 ? 3.0f : 1.0f;
            }
}

static const lf_roi_stats *row(const lf_roi_stats *st, int n, int label)
{
    for (int i = 0; i < n; i++)
        if (st[i].label == label)
            return &st[i];
    fail_msg("label %d not in the result", label);
    return NULL;
}

static double rel(double a, double b) { return fabs(a - b) / fabs(b); }

static void cylinder_on_coarser_shifted_grid(void **state)
{
    (void)state;
    lf_error err = {{0}};
    lf_volume lab, img;
    make_phantom(&lab, &img);
    lf_roi_opts o = lf_roi_opts_default();
    lf_roi_stats *st;
    int n;
    assert_int_equal(lf_roi_compute(&img, &lab, NULL, &o, &st, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(st[0].label, 1);
    assert_int_equal(st[1].label, 2);
    const double vox_ml = 2.5 * 2.5 * 2.5 / 1000;
    /* cylinder 1 minus cylinder 2's part inside it (x >= 30 lies outside cylinder 1: the overlap is
     * the lens of two circles, computed here by fine numerical integration) */
    double lens = 0;
    for (double x = 30 - 8; x <= 30; x += 0.001) {
        double y2 = fmin(64 - (x - 38) * (x - 38), 900 - x * x);
        if (y2 > 0)
            lens += 2 * sqrt(y2) * 0.001;
    }
    double v1 = (M_PI * 900 * 50 - lens * 40) / 1000, v2 = M_PI * 64 * 40 / 1000;
    assert_true(rel(st[0].volume_ml, v1) < 0.03);
    assert_true(rel(st[1].volume_ml, v2) < 0.04);
    assert_true(fabs(st[0].volume_ml - (double)st[0].voxels * vox_ml) < 1e-9);
    /* means: nearest-neighbour labels at the edges disagree with the analytic image on a few voxels */
    assert_true(rel(st[0].mean, 7) < 0.02);
    assert_true(rel(st[1].mean, 3) < 0.05);
    uint64_t n2 = st[1].voxels;
    assert_true(st[0].max == 7 && st[1].min <= 3);
    assert_true(isnan(st[0].truth_mean) && isnan(st[0].recovery_pct));
    free(st);

    /* eroded 4 mm: strictly inside, so exactly the image's values; volume of the shrunken cylinder */
    o.erode_mm = 4;
    assert_int_equal(lf_roi_compute(&img, &lab, NULL, &o, &st, &n, &err), 0);
    const lf_roi_stats *a = row(st, n, 1), *b = row(st, n, 2);
    assert_true(a->mean == 7 && a->sd == 0 && a->min == 7 && a->max == 7 && a->cov_pct == 0);
    assert_true(b->mean == 3 && b->sd == 0);
    double lens4 = 0; /* cylinder r 26 minus the r-12 disc at (38, 0) (cylinder 2 grown by 4 mm) */
    for (double x = 26 - 12; x <= 26; x += 0.001) {
        double y2 = fmin(144 - (x - 38) * (x - 38), 676 - x * x);
        if (y2 > 0)
            lens4 += 2 * sqrt(y2) * 0.001;
    }
    double v1e = (M_PI * 676 * 42 - lens4 * 42) / 1000, v2e = M_PI * 16 * 32 / 1000;
    assert_true(rel(a->volume_ml, v1e) < 0.08);
    (void)v2e; /* a 4 mm radius on 2.5 mm voxels is too coarse for a volume check: only that it shrank */
    assert_true(b->voxels > 0 && b->voxels < n2);
    free(st);
    lf_volume_free(&lab);
    lf_volume_free(&img);
}

static void erosion_exact_box(void **state)
{
    (void)state;
    lf_error err = {{0}};
    lf_volume lab, img;
    alloc_vol(&lab, 21, 21, 21, 1.0, -10, -10, -10);
    alloc_vol(&img, 21, 21, 21, 1.0, -10, -10, -10);
    for (int k = 5; k <= 15; k++)
        for (int j = 5; j <= 15; j++)
            for (int i = 5; i <= 15; i++)
                AT(&lab, i, j, k) = 4;
    const double e[] = {0, 0.99, 1.0, 1.5, 1.99, 2.0, 5.99, 6.0};
    const int side[] = {11, 11, 9, 9, 9, 7, 1, 0};
    for (int t = 0; t < 8; t++) {
        lf_roi_opts o = lf_roi_opts_default();
        o.erode_mm = e[t];
        lf_roi_mask m;
        assert_int_equal(lf_roi_mask_build(&lab, &img, &o, &m, &err), 0);
        int c = 0;
        for (size_t q = 0; q < 21 * 21 * 21; q++)
            c += m.label[q] == 4;
        if (c != side[t] * side[t] * side[t])
            fail_msg("erosion %g mm: %d voxels, expected %d", e[t], c, side[t] * side[t] * side[t]);
        lf_roi_mask_free(&m);
    }
    /* a label touching the label grid's edge is eroded there (outside counts as 0) */
    for (int k = 0; k < 21; k++)
        for (int j = 0; j < 21; j++)
            for (int i = 0; i < 21; i++)
                AT(&lab, i, j, k) = 1;
    lf_roi_opts o = lf_roi_opts_default();
    o.erode_mm = 1;
    lf_roi_mask m;
    assert_int_equal(lf_roi_mask_build(&lab, &img, &o, &m, &err), 0);
    int c = 0;
    for (size_t q = 0; q < 21 * 21 * 21; q++)
        c += m.label[q] == 1;
    assert_int_equal(c, 19 * 19 * 19);
    lf_roi_mask_free(&m);
    /* bad erosion */
    o.erode_mm = -1;
    assert_int_equal(lf_roi_mask_build(&lab, &img, &o, &m, &err), -1);
    assert_true(tu_contains(err.msg, "erosion"));
    lf_volume_free(&lab);
    lf_volume_free(&img);
}

static void z_range_and_radius(void **state)
{
    (void)state;
    lf_error err = {{0}};
    lf_volume lab, img;
    make_phantom(&lab, &img);
    lf_roi_opts o = lf_roi_opts_default();
    o.z_range = 1;
    o.z0_mm = -10;
    o.z1_mm = 12;
    lf_roi_mask m;
    assert_int_equal(lf_roi_mask_build(&lab, &img, &o, &m, &err), 0);
    size_t c1 = 0;
    for (int k = 0; k < img.n[2]; k++)
        for (int j = 0; j < img.n[1]; j++)
            for (int i = 0; i < img.n[0]; i++) {
                double p[3];
                lf_volume_voxel_mm(&img, i, j, k, p);
                int L = m.label[i + img.n[0] * (j + img.n[1] * k)];
                if (L) {
                    assert_true(p[2] >= -10 && p[2] <= 12);
                    c1 += L == 1;
                }
            }
    lf_roi_mask_free(&m);
    /* the axial slab holds the slices whose centres fall in [-10, 12]: z = -37.3 + 2.5 k */
    int slices = 0;
    for (int k = 0; k < img.n[2]; k++) {
        double z = -37.3 + 2.5 * k;
        slices += z >= -10 && z <= 12;
    }
    lf_roi_stats *st;
    int n;
    assert_int_equal(lf_roi_compute(&img, &lab, NULL, &o, &st, &n, &err), 0);
    assert_int_equal(row(st, n, 1)->voxels, c1);
    double lens = 0;
    for (double x = 22; x <= 30; x += 0.001) {
        double y2 = fmin(64 - (x - 38) * (x - 38), 900 - x * x);
        if (y2 > 0)
            lens += 2 * sqrt(y2) * 0.001;
    }
    double v = (M_PI * 900 - lens) * slices * 2.5 / 1000;
    assert_true(rel(row(st, n, 1)->volume_ml, v) < 0.03);
    free(st);

    o = lf_roi_opts_default();
    o.radius_mm = 20;
    assert_int_equal(lf_roi_mask_build(&lab, &img, &o, &m, &err), 0);
    for (int k = 0; k < img.n[2]; k++)
        for (int j = 0; j < img.n[1]; j++)
            for (int i = 0; i < img.n[0]; i++) {
                double p[3];
                lf_volume_voxel_mm(&img, i, j, k, p);
                if (m.label[i + img.n[0] * (j + img.n[1] * k)])
                    assert_true(hypot(p[0], p[1]) <= 20 + 1e-9);
            }
    lf_roi_mask_free(&m);
    assert_int_equal(lf_roi_compute(&img, &lab, NULL, &o, &st, &n, &err), 0);
    assert_true(rel(row(st, n, 1)->volume_ml, M_PI * 400 * 50 / 1000) < 0.04);
    assert_int_equal(row(st, n, 2)->voxels, 0); /* entirely beyond 20 mm */
    assert_true(isnan(row(st, n, 2)->mean) && isnan(row(st, n, 2)->peak));
    free(st);

    /* z0 > z1 */
    o = lf_roi_opts_default();
    o.z_range = 1;
    o.z0_mm = 5;
    o.z1_mm = -5;
    assert_int_equal(lf_roi_compute(&img, &lab, NULL, &o, &st, &n, &err), -1);
    assert_true(tu_contains(err.msg, "z0 <= z1"));
    lf_volume_free(&lab);
    lf_volume_free(&img);
}

static void peak_hot_ball_and_voxel(void **state)
{
    (void)state;
    lf_error err = {{0}};
    lf_volume lab, img;
    /* ball r 12 mm, value 50, in a background of 5, on a 2 mm image; labels on 1 mm */
    alloc_vol(&img, 32, 32, 32, 2.0, -31, -31, -31);
    alloc_vol(&lab, 64, 64, 64, 1.0, -31.5, -31.5, -31.5);
    const double c[3] = {3, -5, 1}; /* an image voxel centre */
    for (int k = 0; k < 32; k++)
        for (int j = 0; j < 32; j++)
            for (int i = 0; i < 32; i++) {
                double p[3];
                lf_volume_voxel_mm(&img, i, j, k, p);
                AT(&img, i, j, k) = hypot(hypot(p[0] - c[0], p[1] - c[1]), p[2] - c[2]) <= 12 ? 50.0f : 5.0f;
            }
    for (int k = 0; k < 64; k++)
        for (int j = 0; j < 64; j++)
            for (int i = 0; i < 64; i++) {
                double p[3];
                lf_volume_voxel_mm(&lab, i, j, k, p);
                AT(&lab, i, j, k) = hypot(hypot(p[0] - c[0], p[1] - c[1]), p[2] - c[2]) <= 12 ? 1.0f : 2.0f;
            }
    lf_roi_opts o = lf_roi_opts_default();
    lf_roi_stats *st;
    int n;
    assert_int_equal(lf_roi_compute(&img, &lab, NULL, &o, &st, &n, &err), 0);
    assert_true(row(st, n, 1)->peak == 50);
    assert_true(row(st, n, 1)->max == 50);
    assert_true(rel(row(st, n, 1)->volume_ml, 4.0 / 3 * M_PI * 1728 / 1000) < 0.05);
    /* background's peak: the sphere around background voxels sees part of the ball at most */
    assert_true(row(st, n, 2)->peak > 5 && row(st, n, 2)->peak < 50);
    free(st);

    /* one hot voxel V in zeros: peak = V / (voxels of the 6.2 mm sphere on 2 mm voxels) = V / 123 */
    memset(img.data, 0, 32 * 32 * 32 * sizeof(float));
    AT(&img, 16, 16, 16) = 123;
    for (size_t q = 0; q < 64 * 64 * 64; q++)
        lab.data[q] = 1;
    assert_int_equal(lf_roi_compute(&img, &lab, NULL, &o, &st, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_true(fabs(st[0].peak - 1.0) < 1e-12);
    assert_true(st[0].max == 123 && st[0].min == 0);
    free(st);
    /* the sphere is clipped at the image's corner: 29 voxels of it lie inside */
    AT(&img, 16, 16, 16) = 0;
    AT(&img, 0, 0, 0) = 29;
    assert_int_equal(lf_roi_compute(&img, &lab, NULL, &o, &st, &n, &err), 0);
    assert_true(fabs(st[0].peak - 1.0) < 1e-12);
    free(st);
    lf_volume_free(&lab);
    lf_volume_free(&img);
}

static void recovery_and_truth_resampling(void **state)
{
    (void)state;
    lf_error err = {{0}};
    lf_volume lab, img;
    make_phantom(&lab, &img);
    /* image == truth on the same grid as the labels: recovery exactly 100 */
    lf_volume t;
    alloc_vol(&t, 100, 80, 70, 1.0, -49.5, -39.5, -34.5);
    for (int k = 0; k < 70; k++)
        for (int j = 0; j < 80; j++)
            for (int i = 0; i < 100; i++)
                AT(&t, i, j, k) = (float)(AT(&lab, i, j, k) * 1000 + 0.1 * i + 0.01 * k);
    lf_roi_opts o = lf_roi_opts_default();
    lf_roi_stats *st;
    int n;
    assert_int_equal(lf_roi_compute(&t, &lab, &t, &o, &st, &n, &err), 0);
    for (int s = 0; s < n; s++) {
        assert_true(st[s].truth_mean == st[s].mean);
        assert_true(fabs(st[s].recovery_pct - 100) < 1e-12);
    }
    free(st);

    /* image = truth on 2 mm voxels: the 2 mm grid is mean-preserving (8 truth centres per voxel) */
    lf_volume img2, rs;
    alloc_vol(&img2, 50, 40, 35, 2.0, -49, -39, -34);
    assert_int_equal(lf_roi_resample_truth(&t, &img2, &rs, &err), 0);
    double st1 = 0, sr = 0;
    for (size_t q = 0; q < 100 * 80 * 70; q++)
        st1 += t.data[q];
    for (size_t q = 0; q < 50 * 40 * 35; q++)
        sr += rs.data[q];
    assert_true(rel(8 * sr, st1) < 1e-6);
    assert_true(fabs(AT(&rs, 3, 4, 5) - (AT(&t, 6, 8, 10) + AT(&t, 7, 8, 10) + AT(&t, 6, 9, 10) + AT(&t, 7, 9, 10) +
                                         AT(&t, 6, 8, 11) + AT(&t, 7, 8, 11) + AT(&t, 6, 9, 11) + AT(&t, 7, 9, 11)) /
                                            8) < 1e-3);
    memcpy(img2.data, rs.data, 50 * 40 * 35 * sizeof(float));
    assert_int_equal(lf_roi_compute(&img2, &lab, &t, &o, &st, &n, &err), 0);
    for (int s = 0; s < n; s++)
        assert_true(fabs(st[s].recovery_pct - 100) < 1e-6);
    free(st);
    lf_volume_free(&rs);

    /* truth coarser than the image: nearest neighbour */
    lf_volume fine;
    alloc_vol(&fine, 40, 40, 40, 0.5, -9.75, -9.75, -9.75);
    lf_volume coarse;
    alloc_vol(&coarse, 5, 5, 5, 4.0, -8, -8, -8);
    for (size_t q = 0; q < 125; q++)
        coarse.data[q] = (float)q;
    assert_int_equal(lf_roi_resample_truth(&coarse, &fine, &rs, &err), 0);
    /* fine voxel centre (-9.75 + 0.5*25 = 2.75) is nearest coarse index (2.75 + 8) / 4 = 2.69 -> 3 */
    assert_true(AT(&rs, 25, 25, 25) == AT(&coarse, 3, 3, 3));
    assert_true(AT(&rs, 0, 0, 0) == AT(&coarse, 0, 0, 0));
    lf_volume_free(&rs);
    lf_volume_free(&fine);
    lf_volume_free(&coarse);

    /* half the image value: 50 % */
    for (size_t q = 0; q < 50 * 40 * 35; q++)
        img2.data[q] *= 0.5f;
    assert_int_equal(lf_roi_compute(&img2, &lab, &t, &o, &st, &n, &err), 0);
    for (int s = 0; s < n; s++)
        assert_true(fabs(st[s].recovery_pct - 50) < 1e-5);
    free(st);
    lf_volume_free(&img2);
    lf_volume_free(&t);
    lf_volume_free(&lab);
    lf_volume_free(&img);
}

static void labels_requested_and_invalid(void **state)
{
    (void)state;
    lf_error err = {{0}};
    lf_volume lab, img;
    make_phantom(&lab, &img);
    lf_roi_opts o = lf_roi_opts_default();
    int want[2] = {2, 1};
    o.labels = want;
    o.n_labels = 2;
    lf_roi_stats *st;
    int n;
    assert_int_equal(lf_roi_compute(&img, &lab, NULL, &o, &st, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(st[0].label, 2);
    assert_int_equal(st[1].label, 1);
    free(st);
    int absent = 7;
    o.labels = &absent;
    o.n_labels = 1;
    assert_int_equal(lf_roi_compute(&img, &lab, NULL, &o, &st, &n, &err), -1);
    assert_true(tu_contains(err.msg, "label 7"));
    assert_true(tu_contains(err.msg, "1, 2"));
    /* not a label image */
    AT(&lab, 3, 4, 5) = 2.5f;
    o = lf_roi_opts_default();
    assert_int_equal(lf_roi_compute(&img, &lab, NULL, &o, &st, &n, &err), -1);
    assert_true(tu_contains(err.msg, "(3, 4, 5)"));
    assert_true(tu_contains(err.msg, "2.5"));
    lf_volume_free(&lab);
    lf_volume_free(&img);
}

static void axial_profile(void **state)
{
    (void)state;
    lf_error err = {{0}};
    lf_volume lab, img;
    make_phantom(&lab, &img);
    for (int k = 0; k < img.n[2]; k++)
        for (int j = 0; j < img.n[1]; j++)
            for (int i = 0; i < img.n[0]; i++)
                AT(&img, i, j, k) = (float)(10 + k);
    lf_roi_mask m;
    lf_roi_opts o = lf_roi_opts_default();
    assert_int_equal(lf_roi_mask_build(&lab, &img, &o, &m, &err), 0);
    double mean[30], z[30];
    uint64_t count[30], total = 0;
    assert_int_equal(lf_roi_profile(&img, &m, 1, mean, count, z, &err), 0);
    for (int k = 0; k < 30; k++) {
        assert_true(fabs(z[k] - (-37.3 + 2.5 * k)) < 1e-9);
        if (fabs(z[k]) > 26) {
            assert_true(count[k] == 0 && isnan(mean[k]));
        } else if (fabs(z[k]) < 24) {
            assert_true(count[k] > 0 && mean[k] == 10 + k);
        }
        total += count[k];
    }
    lf_roi_stats *st;
    int n;
    assert_int_equal(lf_roi_compute(&img, &lab, NULL, &o, &st, &n, &err), 0);
    assert_int_equal(total, row(st, n, 1)->voxels);
    free(st);
    lf_roi_mask_free(&m);
    lf_volume_free(&lab);
    lf_volume_free(&img);
}

static const char *truth_json =
    "{\n  \"generator\": \"lafov simulate\",\n  \"motion\": [],\n  \"nested\": {\"labels\": [{\"label\": 9, \"name\": \"no\"}]},\n"
    "  \"labels\": [\n"
    "    {\"label\": 1, \"name\": \"background\", \"type\": \"iec_body\", \"centre_mm\": [0, 0, -20], \"hu\": 0},\n"
    "    {\"name\": \"sphere_10mm\", \"semi_axes_mm\": [5, 5, 5], \"label\": 3, \"x\": {\"a\": [1, {\"b\": null}]}},\n"
    "    {\"label\": 2, \"name\": \"lung, \\\"insert\\\" \\u00e9\", \"flag\": true}\n"
    "  ],\n  \"files\": {\"labels\": \"truth_labels.nii.gz\"}\n}\n";

static void names_parse(void **state)
{
    (void)state;
    lf_error err = {{0}};
    lf_roi_names nm;
    if (lf_roi_names_parse(truth_json, "t.json", &nm, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(nm.n, 3);
    assert_string_equal(lf_roi_name(&nm, 1), "background");
    assert_string_equal(lf_roi_name(&nm, 3), "sphere_10mm");
    assert_string_equal(lf_roi_name(&nm, 2), "lung, \"insert\" \xc3\xa9");
    assert_null(lf_roi_name(&nm, 9));
    assert_null(lf_roi_name(NULL, 1));

    /* CSV and JSON */
    lf_roi_stats st[3] = {{.label = 2, .voxels = 10, .volume_ml = 0.08, .mean = 1.5, .sd = 0.25, .cov_pct = 100.0 / 6,
                           .min = 1, .max = 2, .peak = 1.75, .truth_mean = NAN, .recovery_pct = NAN},
                          {.label = 4, .voxels = 0, .volume_ml = 0, .mean = NAN, .sd = NAN, .cov_pct = NAN, .min = NAN,
                           .max = NAN, .peak = NAN, .truth_mean = NAN, .recovery_pct = NAN},
                          {.label = 1, .voxels = 3, .volume_ml = 0.024, .mean = 4, .sd = 0, .cov_pct = 0, .min = 4,
                           .max = 4, .peak = 4, .truth_mean = 5, .recovery_pct = 80}};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    lf_roi_csv(f, st, 3, &nm);
    fclose(f);
    assert_string_equal(buf, "label,name,voxels,volume_ml,mean,sd,cov_pct,min,max,peak,truth_mean,recovery_pct\n"
                             "2,\"lung, \"\"insert\"\" \xc3\xa9\",10,0.08,1.5,0.25,16.66666667,1,2,1.75,,\n"
                             "4,label_4,0,0,,,,,,,,\n"
                             "1,background,3,0.024,4,0,0,4,4,4,5,80\n");
    free(buf);
    f = open_memstream(&buf, &len);
    lf_roi_json(f, st, 3, NULL);
    fclose(f);
    assert_true(tu_contains(buf, "\"name\": \"label_2\""));
    assert_true(tu_contains(buf, "\"recovery_pct\": null"));
    assert_true(tu_contains(buf, "\"recovery_pct\": 80"));
    assert_true(buf[0] == '[');
    free(buf);
    lf_roi_names_free(&nm);

    /* malformed */
    static const struct {
        const char *text, *want;
    } bad[] = {
        {"{\"labels\": [{\"label\": 1}]}", "missing \"name\""},
        {"{\"labels\": [{\"name\": \"a\"}]}", "missing \"label\""},
        {"{\"labels\": [{\"label\": 1.5, \"name\": \"a\"}]}", "integer"},
        {"{\"labels\": [{\"label\": 1, \"name\": 3}]}", "\"name\" must be a string"},
        {"{\"labels\": [{\"label\": 1, \"name\": \"a\"}, {\"label\": 1, \"name\": \"b\"}]}", "label 1 appears twice"},
        {"{\"labels\": [{\"label\": 1, \"name\": \"a\"} {\"label\": 2, \"name\": \"b\"}]}", "',' or ']'"},
        {"{\"labels\": [3]}", "\"labels\"[0] to be an object"},
        {"{\"labels\": \"x\"}", "to be an array"},
        {"{\"files\": {\"labels\": []}}", "no top-level \"labels\""},
        {"{\"labels\": [{\"label\": 1, \"name\": \"a", "end of a string"},
        {"[1, 2]", "a JSON object"},
        {"{\"labels\": []} x", "end of the document"},
        {"", "a JSON object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err.msg[0] = '\0';
        if (lf_roi_names_parse(bad[i].text, "bad.json", &nm, &err) != -1)
            fail_msg("accepted %s", bad[i].text);
        if (!tu_contains(err.msg, bad[i].want) || !tu_contains(err.msg, "bad.json"))
            fail_msg("'%s': message '%s' lacks '%s'", bad[i].text, err.msg, bad[i].want);
        assert_int_equal(nm.n, 0);
    }

    /* files */
    const char *dir = tu_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/truth.json", dir);
    tu_write_text(path, truth_json);
    assert_int_equal(lf_roi_names_read(path, &nm, &err), 0);
    assert_int_equal(nm.n, 3);
    lf_roi_names_free(&nm);
    snprintf(path, sizeof path, "%s/missing.json", dir);
    assert_int_equal(lf_roi_names_read(path, &nm, &err), -1);
    assert_true(tu_contains(err.msg, "missing.json"));
    tu_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cylinder_on_coarser_shifted_grid),
        cmocka_unit_test(erosion_exact_box),
        cmocka_unit_test(z_range_and_radius),
        cmocka_unit_test(peak_hot_ball_and_voxel),
        cmocka_unit_test(recovery_and_truth_resampling),
        cmocka_unit_test(labels_requested_and_invalid),
        cmocka_unit_test(axial_profile),
        cmocka_unit_test(names_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

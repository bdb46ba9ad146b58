/* Analytic phantoms: bundled files, exact volumes, exact ray cuts against a brute-force march,
 * emission sampling, respiratory displacement, rasterisation, editing, file errors. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "sim/phantom.h"

/* the simplified IEC model of physics.md */
#define IEC_AREA_MM2 (0.5 * M_PI * 150.0 * 150.0 + 140.0 * 80.0 + 0.5 * M_PI * 80.0 * 80.0)
#define IEC_BODY_ML (IEC_AREA_MM2 * 180.0 * 1e-3)
#define IEC_LUNG_ML (M_PI * 25.0 * 25.0 * 180.0 * 1e-3)
static const double sphere_d[6] = {10, 13, 17, 22, 28, 37};

/* cmocka's assert_float_equal compares floats: doubles here */
#define assert_near(a, b, eps)                                                                                         \
    do {                                                                                                               \
        double a_ = (a), b_ = (b);                                                                                     \
        if (!(fabs(a_ - b_) <= (eps))) {                                                                               \
            print_error("%s = %.12g, %s = %.12g: differ by more than %g\n", #a, a_, #b, b_, (double)(eps));            \
            fail();                                                                                                    \
        }                                                                                                              \
    } while (0)

static double sphere_ml(double d) { return 4.0 / 3.0 * M_PI * pow(0.5 * d, 3) * 1e-3; }
static double spheres_ml(void)
{
    double v = 0;
    for (int i = 0; i < 6; i++)
        v += sphere_ml(sphere_d[i]);
    return v;
}

static void load(const char *name, lf_phantom *ph)
{
    lf_error err = {{0}};
    int rc = lf_phantom_load(NULL, name, ph, &err);
    if (rc != 0)
        print_error("%s\n", err.msg);
    assert_int_equal(rc, 0);
}

static int find(const lf_phantom *ph, const char *name)
{
    int i = lf_phantom_find(ph, name);
    if (i < 0)
        print_error("no shape '%s' in %s\n", name, ph->name);
    assert_true(i >= 0);
    return i;
}

/* loads text written to a temporary file; returns 0 or -1 (err filled) */
static int load_text(const char *text, lf_phantom *ph, lf_error *err, char *path, size_t n)
{
    const char *dir = tu_tmpdir();
    snprintf(path, n, "%s/test.phantom", dir);
    tu_write_text(path, text);
    int rc = lf_phantom_load(NULL, path, ph, err);
    remove(path);
    tu_rmtree(dir);
    return rc;
}

static const char *mixed_text =
    "phantom name := mixed\n"
    "shape := base\ntype := box\ncentre (mm) := 0,0,0\nsemi-axes (mm) := 100, 80, 60\nrelative activity := 1\n"
    "shape := cx\ntype := cylinder\naxis := x\ncentre (mm) := 10,5,-5\nsemi-axes (mm) := 30,20\nhalf-length (mm) := 90\n"
    "relative activity := 2\n"
    "shape := cy\ntype := cylinder\naxis := y\ncentre (mm) := -20,0,10\nsemi-axes (mm) := 25,40,70\n"
    "relative activity := 3\nresp weight := 0.25\n"
    "shape := el\ntype := ellipsoid\ncentre (mm) := 30,-20,0\nsemi-axes (mm) := 40,25,35\nrelative activity := 4\n"
    "resp weight := 1\n"
    "shape := small_iec\ntype := iec_body\ncentre (mm) := 0,0,0\nradius (mm) := 50\nhalf-width (mm) := 20\n"
    "half-length (mm) := 30\nrelative activity := 5\nresp weight := 0.5\nmu (1/cm) := 0.15\n"
    "shape := corner\ntype := box\ncentre (mm) := 95,75,55\nsemi-axes (mm) := 10,10,10\nrelative activity := 0\n"
    "HU := -1000\n";

/* ------------------------------------------------------------------------------------------------ */

static void bundled_phantoms_load(void **state)
{
    (void)state;
    const char *names[] = {"iec", "cylinder", "point", "line", "torso"};
    for (int k = 0; k < 5; k++) {
        lf_phantom ph;
        load(names[k], &ph);
        assert_true(ph.n >= 1);
        assert_true(ph.total_rel > 0);
        for (int i = 0; i < ph.n; i++) {
            assert_int_equal(ph.s[i].label, i + 1);
            assert_true(ph.s[i].volume_ml > 0);
            assert_true(ph.s[i].owned_ml >= 0 && ph.s[i].owned_ml <= ph.s[i].volume_ml * (1 + 1e-12));
        }
        lf_phantom_free(&ph);
    }
    lf_phantom ph;
    load("torso", &ph);
    assert_near(ph.default_uptake_s, 3600, 0);
    const char *organs[] = {"body",  "head",    "brain",        "lung_right",  "lung_left", "heart",
                            "liver", "kidney_left", "kidney_right", "bladder", "spine",     "lesion_liver_20mm",
                            "lesion_lung_10mm", "lesion_neck_7mm", "lesion_abdomen_5mm"};
    for (size_t k = 0; k < sizeof organs / sizeof *organs; k++)
        find(&ph, organs[k]);
    /* ~1 m long, inside the Quadra's 1062 mm axial field of view */
    assert_true(ph.hi[2] - ph.lo[2] > 900 && ph.lo[2] > -531 && ph.hi[2] < 531);
    assert_near(ph.s[find(&ph, "liver")].resp_weight, 1.0, 0);
    assert_near(ph.s[find(&ph, "lung_left")].mu_per_cm, 0.024, 1e-9);
    assert_near(ph.s[find(&ph, "spine")].mu_per_cm, 5.1e-5 * 1700 + 4.71e-2, 1e-12);
    lf_phantom_free(&ph);
    load("iec", &ph);
    assert_near(ph.default_uptake_s, 0, 0);
    assert_int_equal(ph.n, 8);
    lf_phantom_free(&ph);
}

/* Brute-force volume of shape s: uniform points in its bounding box. */
static double mc_volume(const lf_shape *s, long n, uint64_t seed)
{
    lf_rng r;
    lf_rng_seed(&r, seed, 0);
    long in = 0;
    double box = 1;
    for (int k = 0; k < 3; k++)
        box *= s->hi[k] - s->lo[k];
    for (long i = 0; i < n; i++) {
        double x[3];
        for (int k = 0; k < 3; k++)
            x[k] = s->lo[k] + (s->hi[k] - s->lo[k]) * lf_rng_uniform(&r);
        in += lf_shape_contains(s, x, 0);
    }
    return box * 1e-3 * (double)in / n;
}

static void analytic_volumes(void **state)
{
    (void)state;
    lf_phantom ph;
    load("point", &ph);
    assert_near(ph.s[0].volume_ml, sphere_ml(1.0), 1e-15);
    lf_phantom_free(&ph);
    load("line", &ph);
    assert_near(ph.s[0].volume_ml, M_PI * 0.25 * 700 * 1e-3, 1e-12);
    assert_near(ph.s[0].hi[2] - ph.s[0].lo[2], 700, 1e-12);
    lf_phantom_free(&ph);
    load("cylinder", &ph);
    assert_near(ph.s[0].volume_ml, M_PI * 150 * 150 * 1060 * 1e-3, 1e-9);
    lf_phantom_free(&ph);

    load("iec", &ph);
    const lf_shape *body = &ph.s[find(&ph, "background")];
    assert_near(body->volume_ml, IEC_BODY_ML, 1e-9);
    assert_near(body->volume_ml, 10187.28, 0.01);
    double mc = mc_volume(body, 1000000, 7);
    assert_true(fabs(mc / IEC_BODY_ML - 1) < 0.005);
    assert_near(ph.s[find(&ph, "lung")].volume_ml, IEC_LUNG_ML, 1e-9);
    char nm[32];
    for (int i = 0; i < 6; i++) {
        snprintf(nm, sizeof nm, "sphere_%.0fmm", sphere_d[i]);
        const lf_shape *s = &ph.s[find(&ph, nm)];
        assert_near(s->volume_ml, sphere_ml(sphere_d[i]), 1e-12);
        /* on the 57.2 mm circle at 60 deg * i, in the plane z = 0 */
        assert_near(s->c[0], 57.2 * cos(M_PI / 3 * i), 1e-5);
        assert_near(s->c[1], 57.2 * sin(M_PI / 3 * i), 1e-5);
        assert_near(s->c[2], 0, 0);
    }
    /* sphere plane 70 mm from the lid, 180 mm inside length */
    assert_near(body->hi[2], 70, 1e-12);
    assert_near(body->lo[2], -110, 1e-12);
    lf_phantom_free(&ph);

    /* every torso and mixed shape against a brute-force count (5 sigma) */
    load("torso", &ph);
    for (int i = 0; i < ph.n; i++) {
        const lf_shape *s = &ph.s[i];
        long n = 100000;
        double mcv = mc_volume(s, n, 100 + (uint64_t)i);
        double box = (s->hi[0] - s->lo[0]) * (s->hi[1] - s->lo[1]) * (s->hi[2] - s->lo[2]) * 1e-3;
        double p = s->volume_ml / box, sigma = box * sqrt(p * (1 - p) / n);
        assert_true(fabs(mcv - s->volume_ml) < 5 * sigma + 1e-12);
    }
    lf_phantom_free(&ph);
    lf_error err = {{0}};
    char path[4200];
    assert_int_equal(load_text(mixed_text, &ph, &err, path, sizeof path), 0);
    assert_near(ph.s[find(&ph, "cx")].volume_ml, M_PI * 30 * 20 * 180 * 1e-3, 1e-9);
    assert_near(ph.s[find(&ph, "cy")].volume_ml, M_PI * 25 * 40 * 140 * 1e-3, 1e-9);
    assert_near(ph.s[find(&ph, "base")].volume_ml, 200 * 160 * 120 * 1e-3, 1e-9);
    double a = 0.5 * M_PI * 50 * 50 + 40 * 30 + 0.5 * M_PI * 30 * 30;
    assert_near(ph.s[find(&ph, "small_iec")].volume_ml, a * 60 * 1e-3, 1e-9);
    for (int i = 0; i < ph.n; i++) {
        const lf_shape *s = &ph.s[i];
        long n = 100000;
        double mcv = mc_volume(s, n, 200 + (uint64_t)i);
        double box = (s->hi[0] - s->lo[0]) * (s->hi[1] - s->lo[1]) * (s->hi[2] - s->lo[2]) * 1e-3;
        double p = s->volume_ml / box, sigma = box * sqrt(p * (1 - p) / n);
        assert_true(fabs(mcv - s->volume_ml) < 5 * sigma + 1e-12);
    }
    lf_phantom_free(&ph);
}

static void iec_owned_volumes(void **state)
{
    (void)state;
    lf_phantom ph;
    load("iec", &ph);
    double bg = IEC_BODY_ML - IEC_LUNG_ML - spheres_ml();
    const lf_shape *b = &ph.s[find(&ph, "background")];
    /* 200000 samples, 4 % of them lost: sigma = 0.044 % */
    assert_true(fabs(b->owned_ml / bg - 1) < 0.0025);
    for (int i = 1; i < ph.n; i++) /* nothing lies over the lung or the spheres */
        assert_near(ph.s[i].owned_ml, ph.s[i].volume_ml, 0);
    assert_near(ph.total_rel, b->owned_ml + 4 * spheres_ml(), 1e-9);
    assert_near(bg, 9786.0, 0.1); /* background volume: physics.md says ~9.7 L for the real phantom */
    lf_phantom_free(&ph);
}

/* ------------------------------------------------------------------------------------------------ */

/* [t0, t1] of the line in the box lo..hi (z widened by m); 0 when missed */
static int clip_box(const double lo[3], const double hi[3], double m, const double o[3], const double u[3], double *t0,
                    double *t1)
{
    for (int k = 0; k < 3; k++) {
        double l = lo[k] - (k == 2 ? m : 0) - 1, h = hi[k] + (k == 2 ? m : 0) + 1;
        if (fabs(u[k]) < 1e-15) {
            if (o[k] < l || o[k] > h)
                return 0;
            continue;
        }
        double a = (l - o[k]) / u[k], b = (h - o[k]) / u[k];
        if (a > b) {
            double t = a;
            a = b;
            b = t;
        }
        *t0 = fmax(*t0, a);
        *t1 = fmin(*t1, b);
    }
    return *t0 < *t1;
}

/* Compares lf_phantom_ray's length per shape with a 0.01 mm midpoint march of lf_phantom_shape_at. */
static void check_ray(const lf_phantom *ph, const double o[3], const double u[3], double tmin, double tmax, double dz)
{
    lf_segment seg[LF_PHANTOM_MAX_SEGMENTS];
    int ns = lf_phantom_ray(ph, o, u, tmin, tmax, dz, seg, LF_PHANTOM_MAX_SEGMENTS);
    double got[LF_PHANTOM_MAX_SHAPES] = {0}, want[LF_PHANTOM_MAX_SHAPES] = {0};
    for (int i = 0; i < ns; i++) {
        assert_true(seg[i].t0 < seg[i].t1);
        assert_true(seg[i].t0 >= tmin && seg[i].t1 <= tmax);
        assert_true(seg[i].shape >= 0 && seg[i].shape < ph->n);
        if (i > 0) {
            assert_true(seg[i].t0 >= seg[i - 1].t1);
            assert_true(seg[i].shape != seg[i - 1].shape || seg[i].t0 > seg[i - 1].t1); /* merged */
        }
        got[seg[i].shape] += seg[i].t1 - seg[i].t0;
    }
    double a = tmin, b = tmax;
    if (clip_box(ph->lo, ph->hi, fabs(dz), o, u, &a, &b)) {
        long m = (long)ceil((b - a) / 0.01);
        double h = (b - a) / m;
        for (long k = 0; k < m; k++) {
            double t = a + (k + 0.5) * h;
            double x[3] = {o[0] + t * u[0], o[1] + t * u[1], o[2] + t * u[2]};
            int s = lf_phantom_shape_at(ph, x, dz);
            if (s >= 0)
                want[s] += h;
        }
    }
    for (int s = 0; s < ph->n; s++)
        if (fabs(got[s] - want[s]) > 0.05) {
            print_error("%s: shape %s: ray %.4f mm, march %.4f mm (o %g %g %g u %g %g %g t %g..%g dz %g)\n", ph->name,
                        ph->s[s].name, got[s], want[s], o[0], o[1], o[2], u[0], u[1], u[2], tmin, tmax, dz);
            fail();
        }
}

static void random_dir(lf_rng *r, double u[3], int planar)
{
    double ct = planar ? 0 : 2 * lf_rng_uniform(r) - 1, phi = 2 * M_PI * lf_rng_uniform(r), st = sqrt(1 - ct * ct);
    u[0] = st * cos(phi);
    u[1] = st * sin(phi);
    u[2] = ct;
}

static void ray_matches_march(void **state)
{
    (void)state;
    lf_rng r;
    lf_rng_seed(&r, 42, 0);
    lf_phantom ph;
    load("iec", &ph);
    /* edges of the IEC cross-section: corners of the flat face, the seams at y = 0, arcs */
    const double edge[][2] = {{70, 80},   {-70, 80}, {150, 0},  {-150, 0}, {0, 80},   {0, -150}, {126.6, 42.4},
                              {-126.6, 42.4}, {106, -106}, {25, 0},  {0, 25},   {57.2, 5}, {-28.6, -35}};
    const int ne = (int)(sizeof edge / sizeof *edge);
    for (int i = 0; i < 200; i++) {
        double o[3], u[3];
        if (i < 80) { /* random lines through the phantom */
            for (int k = 0; k < 3; k++)
                o[k] = ph.lo[k] + (ph.hi[k] - ph.lo[k]) * lf_rng_uniform(&r);
            random_dir(&r, u, i % 4 == 0);
        } else { /* lines through (near) an edge point, often in the cross-section plane */
            const double *e = edge[i % ne];
            o[0] = e[0] + (i % 3 ? 0.5 * (2 * lf_rng_uniform(&r) - 1) : 0);
            o[1] = e[1] + (i % 3 ? 0.5 * (2 * lf_rng_uniform(&r) - 1) : 0);
            o[2] = -100 + 160 * lf_rng_uniform(&r);
            random_dir(&r, u, i % 2 == 0);
        }
        check_ray(&ph, o, u, -400, 400, 0);
    }
    /* axis-parallel lines: along the flat face y = 80, tangent at x = +-150, along z through a sphere
     * and the lung, and clipped inside the phantom */
    check_ray(&ph, (double[]){-200, 80, 0}, (double[]){1, 0, 0}, 0, 400, 0);
    check_ray(&ph, (double[]){-200, 79.99, 0}, (double[]){1, 0, 0}, 0, 400, 0);
    check_ray(&ph, (double[]){150, -200, -20}, (double[]){0, 1, 0}, 0, 400, 0);
    check_ray(&ph, (double[]){-70, -200, -20}, (double[]){0, 1, 0}, 0, 400, 0);
    check_ray(&ph, (double[]){28.6, -49.5, -300}, (double[]){0, 0, 1}, 0, 600, 0);
    check_ray(&ph, (double[]){10, 10, -300}, (double[]){0, 0, 1}, 0, 600, 0);
    check_ray(&ph, (double[]){0, 0, 0}, (double[]){0.6, 0.8, 0}, -20, 33.3, 0);
    lf_phantom_free(&ph);

    /* torso: random lines at random respiratory displacements */
    load("torso", &ph);
    for (int i = 0; i < 100; i++) {
        double o[3], u[3];
        for (int k = 0; k < 3; k++)
            o[k] = ph.lo[k] + (ph.hi[k] - ph.lo[k]) * lf_rng_uniform(&r);
        random_dir(&r, u, i % 3 == 0);
        double dz = i % 2 ? 30 * (lf_rng_uniform(&r) - 0.5) : 0;
        check_ray(&ph, o, u, -300, 300, dz);
    }
    lf_phantom_free(&ph);

    /* every shape type and cylinder axis */
    lf_error err = {{0}};
    char path[4200];
    assert_int_equal(load_text(mixed_text, &ph, &err, path, sizeof path), 0);
    for (int i = 0; i < 100; i++) {
        double o[3], u[3];
        for (int k = 0; k < 3; k++)
            o[k] = ph.lo[k] + (ph.hi[k] - ph.lo[k]) * lf_rng_uniform(&r);
        random_dir(&r, u, i % 4 == 0);
        if (i % 5 == 0) { /* axis-parallel */
            u[0] = u[1] = u[2] = 0;
            u[i % 3] = 1;
        }
        check_ray(&ph, o, u, -250, 250, i % 2 ? 20 * (lf_rng_uniform(&r) - 0.5) : 0);
    }
    lf_phantom_free(&ph);
}

static void ray_truncation(void **state)
{
    (void)state;
    lf_phantom ph;
    load("iec", &ph);
    /* along x through the 22 mm and 10 mm spheres and the lung: bg, s22, bg, lung, bg, s10, bg */
    lf_segment seg[LF_PHANTOM_MAX_SEGMENTS];
    const double o[3] = {-300, 0, 0}, u[3] = {1, 0, 0};
    int n = lf_phantom_ray(&ph, o, u, 0, 600, 0, seg, LF_PHANTOM_MAX_SEGMENTS);
    assert_int_equal(n, 7);
    assert_int_equal(seg[1].shape, find(&ph, "sphere_22mm"));
    assert_near(seg[1].t0, 300 - 57.2 - 11, 1e-9);
    assert_near(seg[3].t1 - seg[3].t0, 50, 1e-9);
    assert_near(seg[0].t0, 150, 1e-9);
    assert_near(seg[6].t1, 450, 1e-9);
    /* max = 3: the first three, the rest dropped */
    lf_segment few[3];
    assert_int_equal(lf_phantom_ray(&ph, o, u, 0, 600, 0, few, 3), 3);
    for (int i = 0; i < 3; i++) {
        assert_near(few[i].t0, seg[i].t0, 0);
        assert_near(few[i].t1, seg[i].t1, 0);
    }
    /* nothing: misses, empty ranges */
    assert_int_equal(lf_phantom_ray(&ph, (double[]){-300, 500, 0}, u, 0, 600, 0, seg, LF_PHANTOM_MAX_SEGMENTS), 0);
    assert_int_equal(lf_phantom_ray(&ph, o, u, 0, 100, 0, seg, LF_PHANTOM_MAX_SEGMENTS), 0);
    assert_int_equal(lf_phantom_ray(&ph, o, u, 0, 600, 0, seg, 0), 0);
    lf_phantom_free(&ph);
}

/* ------------------------------------------------------------------------------------------------ */

static void sampling_iec(void **state)
{
    (void)state;
    lf_phantom ph;
    load("iec", &ph);
    const long N = 200000;
    long count[16] = {0}, air = 0;
    lf_rng r;
    lf_rng_seed(&r, 9, 0);
    long band_flat = 0, band_round = 0;
    for (long i = 0; i < N; i++) {
        double x[3];
        lf_phantom_sample(&ph, &r, 0, x);
        int s = lf_phantom_shape_at(&ph, x, 0);
        if (s < 0)
            air++;
        else
            count[s]++;
        band_flat += x[1] >= 60;
        band_round += x[1] <= -70;
    }
    assert_int_equal(air, 0);
    assert_int_equal(count[find(&ph, "lung")], 0);
    /* background bands clear of the spheres and the lung: the flat side y in [60, 80] (rectangle plus
     * quarter-discs) and the round side y in [-150, -70] (half-disc) */
    double area_flat = 0, area_round = 0;
    for (int k = 0; k < 100000; k++) {
        double y = 60 + 20 * (k + 0.5) / 100000;
        area_flat += 2 * (70 + sqrt(6400 - y * y)) * 20.0 / 100000;
        y = -150 + 80 * (k + 0.5) / 100000;
        area_round += 2 * sqrt(22500 - y * y) * 80.0 / 100000;
    }
    double bg = IEC_BODY_ML - IEC_LUNG_ML - spheres_ml(), tot = bg + 4 * spheres_ml();
    char nm[32];
    for (int i = 0; i < 7; i++) {
        double p;
        int s;
        if (i < 6) {
            snprintf(nm, sizeof nm, "sphere_%.0fmm", sphere_d[i]);
            s = find(&ph, nm);
            p = 4 * sphere_ml(sphere_d[i]) / tot;
        } else {
            s = find(&ph, "background");
            p = bg / tot;
        }
        double mean = N * p, sigma = sqrt(N * p * (1 - p));
        if (fabs(count[s] - mean) > 3 * sigma) {
            print_error("%s: %ld samples, expected %.1f +- %.1f\n", ph.s[s].name, count[s], mean, sigma);
            fail();
        }
    }
    for (int b = 0; b < 2; b++) {
        double p = (b ? area_round : area_flat) * 180e-3 / tot, mean = N * p, sigma = sqrt(N * p * (1 - p));
        long got = b ? band_round : band_flat;
        if (fabs(got - mean) > 3 * sigma) {
            print_error("band %d: %ld samples, expected %.1f +- %.1f\n", b, got, mean, sigma);
            fail();
        }
    }
    lf_phantom_free(&ph);
}

/* Nested shapes: a later shape overriding a large part of an earlier one. Emission density must be the
 * stated relative activity everywhere: outer r 50 (owned 471.2 mL per 80 mm), inner r 25 at 2:1 (157.1 mL),
 * so 40 % of the decays are in the inner one (weighting the draw by the outer's full volume gave 33 %). */
static void sampling_nested(void **state)
{
    (void)state;
    static const char *text =
        "shape := outer\ntype := cylinder\naxis := z\nradius (mm) := 50\nhalf-length (mm) := 40\nrelative activity := 1\n"
        "shape := inner\ntype := cylinder\naxis := z\ncentre (mm) := 10,0,0\nradius (mm) := 25\nhalf-length (mm) := 40\n"
        "relative activity := 2\n";
    lf_phantom ph;
    lf_error err = {{0}};
    char path[4096];
    assert_int_equal(load_text(text, &ph, &err, path, sizeof path), 0);
    const long N = 200000;
    long inner = 0;
    lf_rng r;
    lf_rng_seed(&r, 11, 0);
    for (long i = 0; i < N; i++) {
        double x[3];
        lf_phantom_sample(&ph, &r, 0, x);
        inner += lf_phantom_shape_at(&ph, x, 0) == 1;
    }
    const double p = 2.0 * 25 * 25 / (50.0 * 50 - 25 * 25 + 2.0 * 25 * 25); /* 0.4 */
    const double mean = N * p, sigma = sqrt(N * p * (1 - p));
    print_message("nested: %ld of %ld samples in the inner cylinder, expected %.0f +- %.0f\n", inner, N, mean, sigma);
    assert_true(fabs(inner - mean) < 4 * sigma);
    lf_phantom_free(&ph);
}

/* centroid of n samples that land in shape s */
static void centroid(const lf_phantom *ph, int s, double dz, long n, uint64_t seed, double c[3])
{
    lf_rng r;
    lf_rng_seed(&r, seed, 0);
    long m = 0;
    c[0] = c[1] = c[2] = 0;
    for (long i = 0; i < n; i++) {
        double x[3];
        lf_phantom_sample(ph, &r, dz, x);
        if (lf_phantom_shape_at(ph, x, dz) != s)
            continue;
        for (int k = 0; k < 3; k++)
            c[k] += x[k];
        m++;
    }
    assert_true(m > 1000);
    for (int k = 0; k < 3; k++)
        c[k] /= m;
}

static void respiratory_displacement(void **state)
{
    (void)state;
    lf_error err = {{0}};
    char path[4200];
    lf_phantom ph;
    const char *text = "shape := bg\ntype := box\nsemi-axes (mm) := 100,100,100\nrelative activity := 1\n"
                       "shape := moving\ntype := ellipsoid\ncentre (mm) := 10,0,5\nradius (mm) := 20\n"
                       "relative activity := 20\nresp weight := 1\n"
                       "shape := half\ntype := cylinder\naxis := z\ncentre (mm) := -50,0,0\nradius (mm) := 10\n"
                       "half-length (mm) := 20\nrelative activity := 20\nresp weight := 0.5\n";
    assert_int_equal(load_text(text, &ph, &err, path, sizeof path), 0);
    double c0[3], c1[3];
    const double d = 12;
    /* the same random numbers at both displacements: the shift is (almost) exact */
    centroid(&ph, 1, 0, 40000, 1, c0);
    centroid(&ph, 1, d, 40000, 1, c1);
    assert_near(c0[2], 5, 0.3);
    assert_near(c1[2] - c0[2], d, 0.05);
    assert_near(c1[0] - c0[0], 0, 0.05);
    centroid(&ph, 2, 0, 40000, 3, c0);
    centroid(&ph, 2, d, 40000, 3, c1);
    assert_near(c1[2] - c0[2], 0.5 * d, 0.05);
    /* queries follow: the top of the moving sphere */
    assert_int_equal(lf_phantom_shape_at(&ph, (double[]){10, 0, 5 + 20 + 6}, 0), 0);
    assert_int_equal(lf_phantom_shape_at(&ph, (double[]){10, 0, 5 + 20 + 6}, d), 1);
    lf_phantom_free(&ph);

    /* the torso's liver (resp weight 1) */
    load("torso", &ph);
    int liver = find(&ph, "liver");
    centroid(&ph, liver, 0, 100000, 4, c0);
    centroid(&ph, liver, 10, 100000, 4, c1);
    assert_near(c1[2] - c0[2], 10, 0.2);
    lf_phantom_free(&ph);
}

/* ------------------------------------------------------------------------------------------------ */

static void rasterize_grid(const lf_phantom *ph, double vox, int n[3], double org[3])
{
    for (int k = 0; k < 3; k++) {
        org[k] = floor(ph->lo[k] / vox) * vox - vox;
        n[k] = (int)ceil((ph->hi[k] - org[k]) / vox) + 2;
    }
}

static void rasterize(void **state)
{
    (void)state;
    const char *names[] = {"iec", "torso"};
    const double voxes[] = {2, 4};
    for (int p = 0; p < 2; p++) {
        lf_phantom ph;
        load(names[p], &ph);
        int n[3];
        double org[3], vox = voxes[p];
        rasterize_grid(&ph, vox, n, org);
        size_t nv = (size_t)n[0] * n[1] * n[2];
        float *img = malloc(nv * sizeof *img);
        assert_non_null(img);
        lf_error err = {{0}};
        assert_int_equal(
            lf_phantom_rasterize(&ph, LF_RASTER_ACTIVITY, 1.0, n, (double[]){vox, vox, vox}, org, 2, img, &err), 0);
        double sum = 0;
        for (size_t i = 0; i < nv; i++)
            sum += img[i];
        sum *= vox * vox * vox * 1e-3;
        assert_true(fabs(sum / ph.total_rel - 1) < 0.01);
        if (p == 0) {
            /* voxel values: the 37 mm sphere's centre, water, air */
            const lf_shape *s = &ph.s[find(&ph, "sphere_37mm")];
            int ix = (int)lround((s->c[0] - org[0]) / vox), iy = (int)lround((s->c[1] - org[1]) / vox),
                iz = (int)lround((s->c[2] - org[2]) / vox);
            size_t idx = ((size_t)iz * n[1] + iy) * n[0] + ix;
            assert_near(img[idx], 4.0, 1e-5);
            assert_int_equal(lf_phantom_rasterize(&ph, LF_RASTER_LABEL, 1.0, n, (double[]){vox, vox, vox}, org, 1, img,
                                                  &err),
                             0);
            assert_near(img[idx], s->label, 0);
            assert_near(img[0], 0, 0);
            assert_int_equal(
                lf_phantom_rasterize(&ph, LF_RASTER_MU, 1.0, n, (double[]){vox, vox, vox}, org, 3, img, &err), 0);
            assert_near(img[idx], 0.096, 1e-6);
            assert_near(img[0], 0, 0);
            assert_int_equal(
                lf_phantom_rasterize(&ph, LF_RASTER_HU, 1.0, n, (double[]){vox, vox, vox}, org, 2, img, &err), 0);
            assert_near(img[idx], 0, 1e-3);
            assert_near(img[0], -1000, 1e-3);
            /* bad grids */
            assert_int_equal(lf_phantom_rasterize(&ph, LF_RASTER_HU, 1.0, n, (double[]){vox, 0, vox}, org, 2, img, &err),
                             -1);
            assert_int_equal(lf_phantom_rasterize(&ph, LF_RASTER_HU, 1.0, n, (double[]){vox, vox, vox}, org, 0, img, &err),
                             -1);
        }
        free(img);
        lf_phantom_free(&ph);
    }
}

static void translate_and_edit(void **state)
{
    (void)state;
    lf_phantom ph, moved;
    load("torso", &ph);
    load("torso", &moved);
    const double d[3] = {12.5, -30, 240};
    lf_phantom_translate(&moved, d);
    for (int k = 0; k < 3; k++) {
        assert_near(moved.lo[k], ph.lo[k] + d[k], 1e-9);
        assert_near(moved.hi[k], ph.hi[k] + d[k], 1e-9);
    }
    lf_rng r;
    lf_rng_seed(&r, 3, 0);
    for (int i = 0; i < 20000; i++) {
        double x[3], y[3];
        for (int k = 0; k < 3; k++) {
            x[k] = ph.lo[k] + (ph.hi[k] - ph.lo[k]) * lf_rng_uniform(&r);
            y[k] = x[k] + d[k];
        }
        assert_int_equal(lf_phantom_shape_at(&moved, y, 7), lf_phantom_shape_at(&ph, x, 7));
    }
    assert_near(moved.total_rel, ph.total_rel, 0);
    lf_phantom_free(&moved);
    lf_phantom_free(&ph);

    /* 8:1 spheres */
    load("iec", &ph);
    double before = ph.total_rel;
    assert_int_equal(lf_phantom_set_activity(&ph, "sphere_", 8), 6);
    assert_near(ph.total_rel - before, 4 * spheres_ml(), 1e-9);
    assert_near(ph.s[find(&ph, "sphere_37mm")].rel_activity, 8, 0);
    assert_int_equal(lf_phantom_set_activity(&ph, "nothing", 8), 0);
    lf_phantom_free(&ph);

    /* line length */
    load("line", &ph);
    assert_int_equal(lf_phantom_set_half_length(&ph, "line", 100), 0);
    assert_near(ph.s[0].volume_ml, M_PI * 0.25 * 200 * 1e-3, 1e-12);
    assert_near(ph.hi[2], 100, 1e-12);
    assert_near(ph.total_rel, ph.s[0].volume_ml, 1e-12);
    assert_int_equal(lf_phantom_set_half_length(&ph, "nope", 100), -1);
    assert_int_equal(lf_phantom_set_half_length(&ph, "line", -1), -1);
    lf_segment seg[4];
    assert_int_equal(lf_phantom_ray(&ph, (double[]){0, 0, -500}, (double[]){0, 0, 1}, 0, 1000, 0, seg, 4), 1);
    assert_near(seg[0].t1 - seg[0].t0, 200, 1e-9);
    lf_phantom_free(&ph);
}

static void materials(void **state)
{
    (void)state;
    assert_near(lf_hu_to_mu_120kvp(0), 0.096, 1e-12);
    assert_near(lf_hu_to_mu_120kvp(-1000), 0, 0);
    assert_near(lf_hu_to_mu_120kvp(-2000), 0, 0);
    assert_near(lf_hu_to_mu_120kvp(-700), 0.0288, 1e-12);
    assert_near(lf_hu_to_mu_120kvp(700), 5.1e-5 * 1700 + 4.71e-2, 1e-12);
    /* mu only: HU from the inverse model */
    lf_error err = {{0}};
    char path[4200];
    lf_phantom ph;
    assert_int_equal(load_text(mixed_text, &ph, &err, path, sizeof path), 0);
    const lf_shape *s = &ph.s[find(&ph, "small_iec")];
    assert_near(s->mu_per_cm, 0.15, 0);
    assert_near(lf_hu_to_mu_120kvp(s->hu), 0.15, 1e-12);
    assert_near(ph.s[find(&ph, "corner")].mu_per_cm, 0, 0);
    assert_near(ph.s[find(&ph, "base")].hu, 0, 0);
    assert_string_equal(ph.name, "mixed");
    lf_phantom_free(&ph);
}

static void expect_error(const char *text, const char *a, const char *b, const char *c)
{
    lf_error err = {{0}};
    char path[4200];
    lf_phantom ph;
    int rc = load_text(text, &ph, &err, path, sizeof path);
    if (rc != -1 || !tu_contains(err.msg, "test.phantom") || (a && !tu_contains(err.msg, a)) ||
        (b && !tu_contains(err.msg, b)) || (c && !tu_contains(err.msg, c))) {
        print_error("rc %d, message '%s' (expected '%s', '%s', '%s')\n", rc, err.msg, a, b ? b : "", c ? c : "");
        fail();
    }
}

static void bad_files(void **state)
{
    (void)state;
    const char *ok = "shape := s\ntype := ellipsoid\nradius (mm) := 5\nrelative activity := 1\n";
    lf_error err = {{0}};
    char path[4200];
    lf_phantom ph;
    assert_int_equal(load_text(ok, &ph, &err, path, sizeof path), 0);
    assert_string_equal(ph.name, "test"); /* file stem */
    lf_phantom_free(&ph);
    expect_error("phantom name := x\n", "no shapes", NULL, NULL);
    expect_error("colour := red\nshape := s\n", "line 1", "colour", NULL);
    expect_error("shape := s\ntype := ellipsoid\nradius (mm) := 5\nrelative activity := 1\ncolour := red\n", "line 5",
                 "colour", "shape 's'");
    expect_error("shape := s\ntype := torus\nradius (mm) := 5\nrelative activity := 1\n", "line 2", "'type'", "torus");
    expect_error("shape := s\ntype := ellipsoid\nradius (mm) := 5\n", "line 1", "relative activity", NULL);
    expect_error("shape := s\ntype := ellipsoid\nradius (mm) := 5\nrelative activity := -1\n", "line 4",
                 "relative activity", NULL);
    expect_error("shape := s\ntype := ellipsoid\ncentre (mm) := 1,2\nradius (mm) := 5\nrelative activity := 1\n",
                 "line 3", "centre (mm)", "x,y,z");
    expect_error("shape := s\ntype := ellipsoid\nradius (mm) := five\nrelative activity := 1\n", "line 3",
                 "radius (mm)", NULL);
    expect_error("shape := s\ntype := ellipsoid\nradius (mm) := 0\nrelative activity := 1\n", "line 3", "radius", NULL);
    expect_error("shape := s\ntype := ellipsoid\nradius (mm) := 5\nrelative activity := 1\nresp weight := 2\n", "line 5",
                 "resp weight", NULL);
    expect_error("shape := s\ntype := cylinder\nradius (mm) := 5\nrelative activity := 1\n", "line 1", "half-length",
                 NULL);
    expect_error("shape := s\ntype := ellipsoid\nradius (mm) := 5\naxis := x\nrelative activity := 1\n", "line 4", "axis",
                 NULL);
    expect_error("shape := s\ntype := cylinder\naxis := w\nradius (mm) := 5\nhalf-length (mm) := 3\n"
                 "relative activity := 1\n",
                 "line 3", "axis", NULL);
    expect_error("shape := s\ntype := ellipsoid\nradius (mm) := 5\nradius (mm) := 6\nrelative activity := 1\n", "line 4",
                 "twice", NULL);
    expect_error("shape := s\ntype := box\nsemi-axes (mm) := 5\nrelative activity := 1\n", "line 3", "semi-axes", NULL);
    expect_error("shape := s\ntype := iec_body\nhalf-width (mm) := 200\nrelative activity := 1\n", "line 3", "half-width",
                 NULL);
    expect_error("shape := s\ntype := ellipsoid\nradius (mm) := 5\nrelative activity := 1\nshape := s\n", "line 5",
                 "already used", NULL);
    expect_error("shape := s\ntype := ellipsoid\nradius (mm) := 5\nrelative activity := 1\nHU := x\n", "line 5", "HU",
                 NULL);
    expect_error("shape := s\ntype := ellipsoid\njust words\n", "line 3", "key := value", NULL);
    /* unknown names, missing files */
    assert_int_equal(lf_phantom_load(NULL, "no_such_phantom", &ph, &err), -1);
    assert_true(tu_contains(err.msg, "no_such_phantom"));
    assert_int_equal(lf_phantom_load(NULL, "/nonexistent/x.phantom", &ph, &err), -1);
    assert_true(tu_contains(err.msg, "/nonexistent/x.phantom"));
}

static void phantom_folder(void **state)
{
    (void)state;
    assert_string_equal(lf_phantom_dir("/some/where"), "/some/where");
    const char *dir = tu_tmpdir();
    char d[4200], path[4300];
    snprintf(d, sizeof d, "%s", dir);
    snprintf(path, sizeof path, "%s/bead.phantom", d);
    tu_write_text(path, "shape := bead\ntype := sphere\nradius (mm) := 2\nrelative activity := 1\n");
    setenv("LAFOV_PHANTOM_DIR", d, 1);
    assert_string_equal(lf_phantom_dir(NULL), d);
    lf_phantom ph;
    lf_error err = {{0}};
    assert_int_equal(lf_phantom_load(NULL, "bead", &ph, &err), 0);
    assert_string_equal(ph.name, "bead");
    lf_phantom_free(&ph);
    assert_int_equal(lf_phantom_load(NULL, "iec", &ph, &err), -1);
    assert_true(tu_contains(err.msg, d));
    unsetenv("LAFOV_PHANTOM_DIR");
    setenv("LAFOV_DATA_DIR", "/data/root", 1);
    assert_string_equal(lf_phantom_dir(NULL), "/data/root/phantoms");
    unsetenv("LAFOV_DATA_DIR");
    assert_true(tu_contains(lf_phantom_dir(NULL), "phantoms"));
    remove(path);
    tu_rmtree(d);
}

int main(void)
{
    unsetenv("LAFOV_PHANTOM_DIR");
    unsetenv("LAFOV_DATA_DIR");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bundled_phantoms_load), cmocka_unit_test(analytic_volumes),
        cmocka_unit_test(iec_owned_volumes),     cmocka_unit_test(ray_matches_march),
        cmocka_unit_test(ray_truncation),        cmocka_unit_test(sampling_iec), cmocka_unit_test(sampling_nested),
        cmocka_unit_test(respiratory_displacement), cmocka_unit_test(rasterize),
        cmocka_unit_test(translate_and_edit),    cmocka_unit_test(materials),
        cmocka_unit_test(bad_files),             cmocka_unit_test(phantom_folder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

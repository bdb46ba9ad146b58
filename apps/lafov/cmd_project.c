/* lafov project fwd|back: list-mode forward / back projection of an image along given LORs (the
 * research interface of projectors/projector.h). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "core/log.h"
#include "io/atomic_file.h"
#include "io/endian.h"
#include "io/nifti.h"
#include "io/scanner_file.h"
#include "projectors/projector.h"

static void help(void)
{
    printf("usage: lafov project fwd  --image IMG.nii --lors LORS.f32 --out OUT.f32 [options]\n"
           "       lafov project back --image IMG.nii --lors LORS.f32 --values V.f32 --out OUT.nii [options]\n\n"
           "List-mode projection along given lines of response (LORs), for prototyping algorithms and\n"
           "cross-checking against other projectors.\n\n"
           "  fwd   OUT gets one little-endian float32 per LOR (raw, same order): the line integral of the\n"
           "        image along the segment point 1 .. point 2, in image units x mm (TOF: weighted by the\n"
           "        kernel of the LOR's TOF bin)\n"
           "  back  OUT (.nii or .nii.gz, float32) gets the exact adjoint applied to V: the sum over LORs of\n"
           "        value x the LOR's weight in each voxel, on the grid of --image (its sform kept)\n\n"
           "  --image IMG.nii      the image (fwd) or the grid (back; its values are ignored). Its sform maps\n"
           "                       voxels to scanner mm and must be axis-aligned: diagonal, positive voxel sizes\n"
           "  --lors LORS.f32      little-endian float32 x1,y1,z1,x2,y2,z2 per LOR (24 bytes), mm in the scanner\n"
           "                       frame; point 1 is crystal a of the TOF sign convention\n"
           "  --tof-bins BINS.i8   one signed byte per LOR: its TOF bin (positive: nearer point 1); needs\n"
           "  --scanner NAME|FILE  the scanner whose TOF bin width and resolution (FWHM) define the kernel\n"
           "                       (a Gaussian truncated at +-3 sigma, integrated over the bin)\n"
           "  --values V.f32       back: one little-endian float32 per LOR\n"
           "  --projector KIND     joseph (default: interpolating) or siddon (exact intersection lengths)\n"
           "  --device DEV         cpu (default: OpenMP, OMP_NUM_THREADS threads) or cuda (fails when no GPU)\n"
           "  --out OUT            the output file, written atomically (never left partial)\n"
           "  -v, --verbose        log each step\n\n"
           "Exit status: 0 done, 1 bad input or failure (the message names the file), 2 usage error.\n");
}

/* Reads a whole file; errors name it. */
static int slurp(const char *path, const char *what, unsigned char **buf, size_t *size, lf_error *err)
{
    *buf = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return lf_fail(err, "%s (%s): cannot open: %s", path, what, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return lf_fail(err, "%s (%s): not a regular file", path, what);
    }
    size_t n = (size_t)st.st_size;
    unsigned char *b = malloc(n ? n : 1);
    if (!b) {
        fclose(f);
        return lf_fail(err, "%s (%s): out of memory reading %zu bytes", path, what, n);
    }
    if (fread(b, 1, n, f) != n) {
        int e = ferror(f) ? errno : 0;
        free(b);
        fclose(f);
        return lf_fail(err, "%s (%s): read failed%s%s", path, what, e ? ": " : " (file shrank)", e ? strerror(e) : "");
    }
    fclose(f);
    *buf = b;
    *size = n;
    return 0;
}

/* Little-endian float32 bytes -> floats, in place (the buffer is reused). */
static float *le_floats(unsigned char *b, size_t count)
{
    float *f = (float *)(void *)b; /* malloc'd: aligned for float */
    for (size_t i = 0; i < count; i++) {
        uint32_t u = lf_le32(b + 4 * i);
        memcpy(&f[i], &u, 4);
    }
    return f;
}

/* The projector grid of a volume: its sform must be diagonal with positive voxel sizes. */
static int grid_of(const char *path, const lf_volume *v, lf_grid *g, lf_error *err)
{
    static const char axis[3] = {'x', 'y', 'z'};
    double scale = 0;
    for (int a = 0; a < 3; a++)
        scale = fmax(scale, fabs(v->sform[a][a]));
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++)
            if (r != c && !(fabs(v->sform[r][c]) <= 1e-6 * scale))
                return lf_fail(err,
                               "%s: the sform is not axis-aligned (voxel -> mm rows [%g %g %g %g] [%g %g %g %g] "
                               "[%g %g %g %g]); lafov project needs a diagonal sform with positive voxel sizes "
                               "(resample the image first)",
                               path, v->sform[0][0], v->sform[0][1], v->sform[0][2], v->sform[0][3], v->sform[1][0],
                               v->sform[1][1], v->sform[1][2], v->sform[1][3], v->sform[2][0], v->sform[2][1],
                               v->sform[2][2], v->sform[2][3]);
    for (int a = 0; a < 3; a++) {
        double d = v->sform[a][a], o = v->sform[a][3];
        if (!(d > 0) || !isfinite(d) || !isfinite(o))
            return lf_fail(err,
                           "%s: the sform gives voxel size %g mm and origin %g mm along %c; lafov project needs a "
                           "diagonal sform with positive voxel sizes (voxel index i, j, k along +x, +y, +z)",
                           path, d, o, axis[a]);
        g->n[a] = v->n[a];
        g->voxel_mm[a] = (float)d;
        g->origin_mm[a] = (float)o;
    }
    return 0;
}

/* Writes n floats little-endian to path, atomically. */
static int write_f32(const char *path, const float *x, size_t n, lf_error *err)
{
    lf_atomic_file af;
    FILE *f = lf_atomic_open(&af, path, err);
    if (!f)
        return -1;
    unsigned char buf[4096];
    size_t fill = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        for (int k = 0; k < 4; k++)
            buf[fill++] = (unsigned char)(u >> (8 * k));
        if (fill == sizeof buf || i + 1 == n) {
            if (fwrite(buf, 1, fill, f) != fill) {
                lf_atomic_abort(&af);
                return lf_fail(err, "%s: write failed: %s", path, strerror(errno));
            }
            fill = 0;
        }
    }
    return lf_atomic_commit(&af, err);
}

int lf_cmd_project(int argc, char **argv)
{
    static const struct option opts[] = {
        {"image", required_argument, 0, 'i'},   {"lors", required_argument, 0, 'l'},
        {"tof-bins", required_argument, 0, 't'}, {"scanner", required_argument, 0, 's'},
        {"projector", required_argument, 0, 'p'}, {"device", required_argument, 0, 'd'},
        {"values", required_argument, 0, 'a'},  {"out", required_argument, 0, 'o'},
        {"verbose", no_argument, 0, 'v'},       {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *image = NULL, *lors_path = NULL, *bins_path = NULL, *scanner = NULL, *values_path = NULL, *out = NULL;
    const char *projector = "joseph", *device = "cpu";
    int verbose = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
        switch (c) {
        case 'i': image = optarg; break;
        case 'l': lors_path = optarg; break;
        case 't': bins_path = optarg; break;
        case 's': scanner = optarg; break;
        case 'p': projector = optarg; break;
        case 'd': device = optarg; break;
        case 'a': values_path = optarg; break;
        case 'o': out = optarg; break;
        case 'v': verbose++; break;
        case 'h': help(); return LF_EXIT_OK;
        default: return lf_cli_usage("project", "unknown option");
        }
    }
    if (optind != argc - 1)
        return lf_cli_usage("project", "expected one mode, fwd or back");
    const char *mode = argv[optind];
    int back;
    if (!strcmp(mode, "fwd"))
        back = 0;
    else if (!strcmp(mode, "back"))
        back = 1;
    else
        return lf_cli_usage("project", "unknown mode '%s' (fwd or back)", mode);
    if (!image)
        return lf_cli_usage("project", "--image IMG.nii is required");
    if (!lors_path)
        return lf_cli_usage("project", "--lors LORS.f32 is required");
    if (!out)
        return lf_cli_usage("project", "--out OUT is required");
    if (back && !values_path)
        return lf_cli_usage("project", "back needs --values V.f32 (one float32 per LOR)");
    if (!back && values_path)
        return lf_cli_usage("project", "--values is for back only");
    if ((bins_path == NULL) != (scanner == NULL))
        return lf_cli_usage("project", "TOF needs both --tof-bins BINS.i8 and --scanner NAME (its TOF bin width and FWHM)");
    lf_error err = {{0}};
    lf_proj_kind kind;
    lf_device dev;
    if (lf_proj_kind_parse(projector, &kind, &err) != 0 || lf_device_parse(device, &dev, &err) != 0)
        return lf_cli_usage("project", "%s", err.msg);
    lf_cli_logging(verbose);

    int rc = LF_EXIT_FAIL;
    lf_volume vol = {0};
    unsigned char *lbuf = NULL, *bbuf = NULL, *vbuf = NULL;
    float *proj = NULL;
    size_t lsize, bsize, vsize;
    lf_tof tof;
    int have_tof = 0;
    lf_grid g;

    if (lf_nifti_read(image, &vol, &err) != 0 || grid_of(image, &vol, &g, &err) != 0)
        goto done;
    lf_info("image %s: %d x %d x %d voxels of %g x %g x %g mm, voxel (0,0,0) at (%g, %g, %g) mm", image, g.n[0], g.n[1],
            g.n[2], (double)g.voxel_mm[0], (double)g.voxel_mm[1], (double)g.voxel_mm[2], (double)g.origin_mm[0],
            (double)g.origin_mm[1], (double)g.origin_mm[2]);
    if (slurp(lors_path, "LORs", &lbuf, &lsize, &err) != 0)
        goto done;
    if (lsize % 24 != 0) {
        lf_fail(&err, "%s: %zu bytes is not a multiple of 24 (one LOR = 6 little-endian float32: x1,y1,z1,x2,y2,z2)",
                lors_path, lsize);
        goto done;
    }
    const size_t n = lsize / 24;
    const float *lors = le_floats(lbuf, 6 * n);
    lf_info("%s: %zu LORs", lors_path, n);
    const int8_t *bins = NULL;
    if (bins_path) {
        lf_scanner sc;
        if (lf_scanner_by_name(NULL, scanner, &sc, &err) != 0)
            goto done;
        if (sc.tof_bins <= 1) {
            lf_fail(&err, "scanner %s has no TOF (%d TOF bin): drop --tof-bins, or name a TOF scanner", sc.name,
                    sc.tof_bins);
            goto done;
        }
        tof = lf_tof_from_ps(sc.tof_bin_width_ps, sc.tof_fwhm_ps, sc.tof_bins, 0);
        have_tof = 1;
        lf_info("TOF from scanner %s: %d bins of %g ps (%.3f mm), FWHM %g ps (sigma %.3f mm), truncated at %g sigma",
                sc.name, tof.n_bins, sc.tof_bin_width_ps, (double)tof.bin_width_mm, sc.tof_fwhm_ps, (double)tof.sigma_mm,
                (double)tof.n_sigmas);
        if (slurp(bins_path, "TOF bins", &bbuf, &bsize, &err) != 0)
            goto done;
        if (bsize != n) {
            lf_fail(&err, "%s: %zu bytes, expected %zu (one int8 TOF bin per LOR of %s)", bins_path, bsize, n, lors_path);
            goto done;
        }
        bins = (const int8_t *)bbuf;
        const int half = (tof.n_bins - 1) / 2;
        for (size_t i = 0; i < n; i++)
            if (bins[i] < -half || bins[i] > half) {
                lf_fail(&err, "%s: LOR %zu has TOF bin %d, outside scanner %s's bins -%d..%d", bins_path, i,
                        (int)bins[i], sc.name, half, half);
                goto done;
            }
    }
    const float *values = NULL;
    if (back) {
        if (slurp(values_path, "values", &vbuf, &vsize, &err) != 0)
            goto done;
        if (vsize != 4 * n) {
            lf_fail(&err, "%s: %zu bytes, expected %zu (one little-endian float32 per LOR of %s: %zu LORs)", values_path,
                    vsize, 4 * n, lors_path, n);
            goto done;
        }
        values = le_floats(vbuf, n);
    }

    const char *tof_text = have_tof ? "TOF" : "non-TOF";
    double t0 = lf_cli_now();
    if (!back) {
        proj = malloc((n ? n : 1) * sizeof *proj);
        if (!proj) {
            lf_fail(&err, "out of memory for %zu projections", n);
            goto done;
        }
        if (lf_proj_fwd_dev(dev, kind, &g, vol.data, lors, n, bins, have_tof ? &tof : NULL, proj, &err) != 0)
            goto done;
    } else {
        memset(vol.data, 0, lf_grid_voxels(&g) * sizeof(float));
        if (lf_proj_back_dev(dev, kind, &g, vol.data, lors, n, bins, have_tof ? &tof : NULL, values, &err) != 0)
            goto done;
    }
    double dt = lf_cli_now() - t0;
    lf_info("%s projection (%s, %s, %s): %.3f s", back ? "back" : "forward", lf_proj_kind_name(kind), tof_text, device,
            dt);
    if (!back) {
        if (write_f32(out, proj, n, &err) != 0)
            goto done;
    } else {
        snprintf(vol.descrip, sizeof vol.descrip, "lafov project back (%s, %s)", lf_proj_kind_name(kind), tof_text);
        if (lf_nifti_write(out, &vol, LF_NIFTI_FLOAT32, NULL, &err) != 0)
            goto done;
    }
    printf("project %s: %zu LORs, %s, %s, %s, %.3f s (%.3g LORs/s) -> %s\n", mode, n, lf_proj_kind_name(kind), tof_text,
           dev == LF_DEVICE_CUDA ? "cuda" : "cpu", dt, dt > 0 ? (double)n / dt : 0.0, out);
    rc = LF_EXIT_OK;
done:
    if (rc != LF_EXIT_OK)
        lf_cli_fail("project", &err);
    free(proj);
    free(vbuf);
    free(bbuf);
    free(lbuf);
    lf_volume_free(&vol);
    return rc;
}

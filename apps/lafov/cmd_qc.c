/* lafov qc FILE --out DIR: detector QC from per-crystal fan sums. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/log.h"
#include "io/atomic_file.h"
#include "io/json.h"
#include "io/lmreader.h"
#include "io/png_write.h"
#include "recon/fansums.h"
#include "recon/qcmap.h"

static void help(void)
{
    printf("usage: lafov qc FILE --out DIR [--scanner NAME|FILE] [--json] [-v]\n\n"
           "Detector QC from a list-mode acquisition (.l, .l.hdr or .ptd): per-crystal fan sums\n"
           "(prompts and delayeds in which each crystal took part), a crystal x ring map, and the\n"
           "real crystals and whole blocks with zero counts (dead detectors).\n\n"
           "Writes (each atomically: a failed run never leaves a partial file):\n"
           "  DIR/crystal_counts.csv  header ring,crystal,prompts,delayeds; one row per crystal of the\n"
           "                          stream numbering (PETLINK sinogram scanners: virtual crystals included,\n"
           "                          e.g. 64 x 504 rows for the mMR; the Quadra: 320 x 760 real crystals)\n"
           "  DIR/crystal_map.png     prompts per crystal: x = crystal in ring, y = ring (0 at top);\n"
           "                          grey = virtual slot, red = real crystal with zero counts\n"
           "  DIR/qc.json             totals, dead crystals and blocks (block = block_ring * blocks + block)\n"
           "  --json                  print qc.json's content on stdout instead of the text summary\n"
           "  --scanner NAME          scanner description instead of the header's originating system\n"
           "  -v, --verbose           log each step\n");
}

static int add_batch(const lf_lm_batch *b, void *user, lf_error *err)
{
    (void)err;
    lf_fansums_add(user, b);
    return 0;
}

static int write_csv(const char *path, const lf_fansums *f, const lf_scanner *sc, lf_error *err)
{
    lf_atomic_file af;
    FILE *out = lf_atomic_open(&af, path, err);
    if (!out)
        return -1;
    fputs("ring,crystal,prompts,delayeds\n", out);
    for (int ring = 0; ring < sc->rings; ring++)
        for (int k = 0; k < sc->crystals_per_ring; k++) {
            uint32_t id = lf_crystal_id(sc, ring, k);
            fprintf(out, "%d,%d,%llu,%llu\n", ring, k, (unsigned long long)f->prompts[id], (unsigned long long)f->delayeds[id]);
        }
    return lf_atomic_commit(&af, err);
}

typedef struct qc_totals {
    uint64_t prompts, delayeds, virtual_counts;
    double mean_real;
} qc_totals;

static void write_json(FILE *out, const lf_lm_header *h, const lf_fansums *f, const lf_dead_list *d, const qc_totals *t,
                       const char *dir)
{
    const lf_scanner *sc = &h->scanner;
    lf_json j;
    lf_json_init(&j, out);
    lf_json_obj(&j, NULL);
    lf_json_str(&j, "file", h->user_path);
    lf_json_str(&j, "scanner", sc->name);
    lf_json_i64(&j, "rings", sc->rings);
    lf_json_i64(&j, "crystals_per_ring", sc->crystals_per_ring);
    lf_json_u64(&j, "real_crystals", d->n_real);
    lf_json_i64(&j, "blocks", sc->n_blocks);
    lf_json_u64(&j, "prompts", t->prompts);
    lf_json_u64(&j, "delayeds", t->delayeds);
    lf_json_num(&j, "mean_prompt_fan_sum_per_real_crystal", t->mean_real);
    lf_json_u64(&j, "counts_on_virtual_crystals", t->virtual_counts);
    lf_json_u64(&j, "zero_count_crystals", d->n_crystals);
    lf_json_u64(&j, "zero_count_blocks", d->n_blocks);
    lf_json_arr(&j, "dead_blocks");
    for (uint64_t i = 0; i < d->n_blocks; i++) {
        lf_json_obj(&j, NULL);
        lf_json_u64(&j, "block", d->blocks[i]);
        lf_json_u64(&j, "block_ring", d->blocks[i] / (uint32_t)sc->blocks_t);
        lf_json_u64(&j, "transaxial_block", d->blocks[i] % (uint32_t)sc->blocks_t);
        lf_json_end(&j);
    }
    lf_json_end(&j);
    lf_json_arr(&j, "dead_crystals");
    for (uint64_t i = 0; i < d->n_crystals; i++) {
        lf_json_obj(&j, NULL);
        lf_json_i64(&j, "ring", lf_crystal_ring(sc, d->crystals[i]));
        lf_json_i64(&j, "crystal", lf_crystal_index(sc, d->crystals[i]));
        lf_json_end(&j);
    }
    lf_json_end(&j);
    (void)f;
    lf_json_obj(&j, "outputs");
    char p[4200];
    snprintf(p, sizeof p, "%s/crystal_counts.csv", dir);
    lf_json_str(&j, "crystal_counts", p);
    snprintf(p, sizeof p, "%s/crystal_map.png", dir);
    lf_json_str(&j, "crystal_map", p);
    lf_json_end(&j);
    lf_json_end(&j);
    lf_json_finish(&j);
}

int lf_cmd_qc(int argc, char **argv)
{
    static const struct option opts[] = {{"out", required_argument, 0, 'o'},  {"scanner", required_argument, 0, 's'},
                                         {"json", no_argument, 0, 'j'},        {"verbose", no_argument, 0, 'v'},
                                         {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    int verbose = 0, json = 0, c;
    const char *scanner = NULL, *dir = NULL;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:s:jvh", opts, NULL)) != -1) {
        switch (c) {
        case 'o': dir = optarg; break;
        case 's': scanner = optarg; break;
        case 'j': json = 1; break;
        case 'v': verbose++; break;
        case 'h': help(); return LF_EXIT_OK;
        default: return lf_cli_usage("qc", "unknown option");
        }
    }
    if (optind != argc - 1)
        return lf_cli_usage("qc", "expected one FILE (.l, .l.hdr or .ptd)");
    if (!dir)
        return lf_cli_usage("qc", "--out DIR is required");
    lf_cli_logging(verbose);
    lf_error err = {{0}};
    lf_lm_open_opts oo = {.scanner = scanner};
    lf_lm_reader *r = NULL;
    lf_fansums f = {0};
    lf_dead_list d = {0};
    uint8_t *rgb = NULL;
    int rc = LF_EXIT_FAIL;
    if (lf_lm_open(argv[optind], &oo, &r, &err) != 0)
        goto out;
    const lf_lm_header *h = lf_lm_header_of(r);
    const lf_scanner *sc = &h->scanner;
    if (lf_fansums_init(&f, sc, &err) != 0)
        goto out;
    lf_cli_progress p;
    lf_cli_progress_start(&p, "fan sums");
    int frc = lf_lm_foreach(r, add_batch, &f, lf_cli_progress_cb, &p, &err);
    lf_cli_progress_end(&p);
    if (frc != 0 || lf_fansums_dead(&f, sc, &d, &err) != 0 || lf_mkdirs(dir, &err) != 0)
        goto out;
    qc_totals t = {0};
    const lf_decode_stats *st = lf_lm_stats(r);
    t.prompts = st->prompts;
    t.delayeds = st->delayeds;
    double sum_real = 0;
    for (int id = 0; id < sc->n_crystals; id++) {
        if (lf_crystal_is_virtual(sc, lf_crystal_index(sc, (uint32_t)id)))
            t.virtual_counts += f.prompts[id] + f.delayeds[id];
        else
            sum_real += (double)f.prompts[id];
    }
    t.mean_real = d.n_real ? sum_real / (double)d.n_real : 0;
    char path[4200];
    snprintf(path, sizeof path, "%s/crystal_counts.csv", dir);
    if (write_csv(path, &f, sc, &err) != 0)
        goto out;
    lf_info("wrote %s", path);
    int w, hgt;
    snprintf(path, sizeof path, "%s/crystal_map.png", dir);
    if (lf_qc_map_rgb(&f, sc, &rgb, &w, &hgt, &err) != 0 || lf_png_write_rgb(path, w, hgt, rgb, &err) != 0)
        goto out;
    lf_info("wrote %s (%d x %d)", path, w, hgt);
    snprintf(path, sizeof path, "%s/qc.json", dir);
    lf_atomic_file af;
    FILE *jf = lf_atomic_open(&af, path, &err);
    if (!jf)
        goto out;
    write_json(jf, h, &f, &d, &t, dir);
    if (lf_atomic_commit(&af, &err) != 0)
        goto out;
    lf_info("wrote %s", path);
    if (json) {
        write_json(stdout, h, &f, &d, &t, dir);
    } else {
        printf("scanner             %s: %d rings x %d crystals (%llu real), %d blocks\n", sc->name, sc->rings,
               sc->crystals_per_ring, (unsigned long long)d.n_real, sc->n_blocks);
        printf("events              %llu prompts, %llu delayeds\n", (unsigned long long)t.prompts,
               (unsigned long long)t.delayeds);
        printf("fan sum per crystal %.2f prompts (mean over real crystals)\n", t.mean_real);
        if (sc->numbering == LF_NUMBERING_SLOTS)
            printf("virtual crystals    %llu counts (expected 0)\n", (unsigned long long)t.virtual_counts);
        printf("zero-count crystals %llu of %llu real\n", (unsigned long long)d.n_crystals, (unsigned long long)d.n_real);
        printf("zero-count blocks   %llu of %d", (unsigned long long)d.n_blocks, sc->n_blocks);
        for (uint64_t i = 0; i < d.n_blocks && i < 20; i++)
            printf("%s(ring %u, block %u)", i ? ", " : ": ", d.blocks[i] / (uint32_t)sc->blocks_t,
                   d.blocks[i] % (uint32_t)sc->blocks_t);
        if (d.n_blocks > 20)
            printf(", ... (all in qc.json)");
        printf("\noutputs             %s/crystal_counts.csv, crystal_map.png, qc.json\n", dir);
    }
    rc = LF_EXIT_OK;
out:
    if (rc != LF_EXIT_OK)
        lf_cli_fail("qc", &err);
    free(rgb);
    lf_dead_list_free(&d);
    lf_fansums_free(&f);
    lf_lm_close(r);
    return rc;
}

/* lafov simulate: Monte-Carlo acquisitions of phantoms, written as the Quadra-style 64-bit stream. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "cli.h"
#include "core/log.h"
#include "sim/simulate.h"

static void help(void)
{
    printf(
        "usage: lafov simulate --phantom point|line|cylinder|iec|torso|FILE.phantom [--scanner quadra] [--mrd 322]\n"
        "         (--activity-mbq A | --activity-mbq-per-kg A) [--weight-kg W] [--uptake-s U] --duration-s T\n"
        "         [--seed S] [--motion T1:dx,dy,dz[,T2:dx,dy,dz...]] [--resp PERIOD_S:AMPLITUDE_MM]\n"
        "         [--position x,y,z] [--no-scatter] [--no-randoms] [--no-lu] [--uniform-efficiency] --out DIR\n\n"
        "Monte-Carlo acquisition of an analytic phantom (data/phantoms) on a scanner (data/scanners),\n"
        "written as the Quadra-style 64-bit list-mode stream with its truth (docs/simulator.md).\n\n"
        "  --activity-mbq A         total activity in the phantom at injection (MBq)\n"
        "  --activity-mbq-per-kg A  the same as A x weight\n"
        "  --weight-kg W            patient weight for SUVs (default 70)\n"
        "  --uptake-s U             injection to scan start (default: the phantom's: 0, torso 3600)\n"
        "  --duration-s T           scan length (s)\n"
        "  --seed S                 random seed (default 1): same seed, same files\n"
        "  --motion T:dx,dy,dz,...  rigid shifts: from T s on, the phantom is displaced by (dx,dy,dz) mm\n"
        "                           from its t = 0 position (several: comma-separated T:dx,dy,dz groups)\n"
        "  --resp P:A               respiratory motion, period P s, craniocaudal amplitude A mm (shapes\n"
        "                           with a resp weight), a respiratory trigger tag at each cycle start\n"
        "  --position x,y,z         the phantom's reference point in scanner mm (iec: axis point in the\n"
        "                           sphere plane)\n"
        "  --no-scatter, --no-randoms, --no-lu, --uniform-efficiency   switch one effect off\n"
        "  --efficiency-seed E      seed of the crystal efficiencies (default 1): a property of the simulated\n"
        "                           scanner, independent of --seed, so scans of one scanner share them\n"
        "  --line-length-mm L       line source length (default 700)\n"
        "  --sphere-ratio R         IEC sphere-to-background ratio (default 4)\n"
        "  --no-ct                  skip the CT (ct.nii.gz and ct/)\n"
        "  --ct-matrix N, --ct-pixel-mm P, --ct-slice-mm S, --ct-noise-hu SIGMA   the CT grid and noise\n"
        "                           (default 512, 0.9766, 3, the 25 mAs default in docs/simulator.md)\n"
        "  --truth-voxel-mm V       voxel size of the truth images (default 2)\n"
        "  --count-fraction p       keep each coincidence with probability p (0 < p <= 1): the statistic of a\n"
        "                           full-activity scan thinned binomially, for quick runs (default 1)\n"
        "  --threads N              OpenMP threads (default: all cores); results do not depend on N\n"
        "  --json                   print the result summary as JSON\n"
        "  -v, --verbose            log each step\n\n"
        "Writes DIR/acq.l + acq.l.hdr, truth.json, truth_activity.nii.gz (Bq/mL at scan start),\n"
        "truth_mu.nii.gz (1/cm), truth_labels.nii.gz, crystal_efficiency.csv, ct.nii.gz and ct/ (DICOM).\n");
}

static int parse_vec3(const char *s, double v[3])
{
    char tail;
    return sscanf(s, "%lf,%lf,%lf%c", &v[0], &v[1], &v[2], &tail) == 3 ? 0 : -1;
}

static int parse_motion(const char *s, lf_sim_config *c)
{
    /* T1:dx,dy,dz,T2:dx,dy,dz ... */
    const char *p = s;
    c->n_motion = 0;
    while (*p) {
        if (c->n_motion >= LF_SIM_MAX_MOTION)
            return -1;
        double t, d[3];
        int used = 0;
        if (sscanf(p, "%lf:%lf,%lf,%lf%n", &t, &d[0], &d[1], &d[2], &used) != 4 || t < 0)
            return -1;
        if (c->n_motion > 0 && t <= c->motion_t_s[c->n_motion - 1])
            return -1;
        c->motion_t_s[c->n_motion] = t;
        memcpy(c->motion_mm[c->n_motion], d, sizeof d);
        c->n_motion++;
        p += used;
        if (*p == ',')
            p++;
        else if (*p)
            return -1;
    }
    return c->n_motion > 0 ? 0 : -1;
}

static int parse_num(const char *s, double *v)
{
    char *end;
    *v = strtod(s, &end);
    return (end != s && *end == '\0' && isfinite(*v)) ? 0 : -1;
}

int lf_cmd_simulate(int argc, char **argv)
{
    enum { O_PH = 1000, O_SC, O_MRD, O_A, O_AKG, O_W, O_UP, O_DUR, O_SEED, O_MOT, O_RESP, O_POS, O_NOSC, O_NORND, O_NOLU,
           O_UNIF, O_LINE, O_RATIO, O_NOCT, O_CTM, O_CTP, O_CTS, O_CTN, O_TV, O_THR, O_OUT, O_JSON, O_CF, O_EFFSEED };
    static const struct option opts[] = {
        {"phantom", required_argument, 0, O_PH}, {"scanner", required_argument, 0, O_SC}, {"mrd", required_argument, 0, O_MRD},
        {"activity-mbq", required_argument, 0, O_A}, {"activity-mbq-per-kg", required_argument, 0, O_AKG},
        {"weight-kg", required_argument, 0, O_W}, {"uptake-s", required_argument, 0, O_UP},
        {"duration-s", required_argument, 0, O_DUR}, {"seed", required_argument, 0, O_SEED},
        {"motion", required_argument, 0, O_MOT}, {"resp", required_argument, 0, O_RESP},
        {"position", required_argument, 0, O_POS}, {"no-scatter", no_argument, 0, O_NOSC},
        {"no-randoms", no_argument, 0, O_NORND}, {"no-lu", no_argument, 0, O_NOLU},
        {"uniform-efficiency", no_argument, 0, O_UNIF}, {"efficiency-seed", required_argument, 0, O_EFFSEED}, {"line-length-mm", required_argument, 0, O_LINE},
        {"sphere-ratio", required_argument, 0, O_RATIO}, {"no-ct", no_argument, 0, O_NOCT},
        {"ct-matrix", required_argument, 0, O_CTM}, {"ct-pixel-mm", required_argument, 0, O_CTP},
        {"ct-slice-mm", required_argument, 0, O_CTS}, {"ct-noise-hu", required_argument, 0, O_CTN},
        {"truth-voxel-mm", required_argument, 0, O_TV}, {"threads", required_argument, 0, O_THR},
        {"out", required_argument, 0, O_OUT}, {"json", no_argument, 0, O_JSON},
        {"count-fraction", required_argument, 0, O_CF},
        {"verbose", no_argument, 0, 'v'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    lf_sim_config c;
    lf_sim_config_defaults(&c);
    double a_mbq = -1, a_per_kg = -1, v;
    int verbose = 0, json = 0, ch, threads = 0;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
        int bad = 0;
        switch (ch) {
        case O_PH: c.phantom = optarg; break;
        case O_SC: c.scanner = optarg; break;
        case O_MRD: bad = parse_num(optarg, &v) || v < 0 || v != floor(v); c.mrd = (int)v; break;
        case O_A: bad = parse_num(optarg, &a_mbq) || !(a_mbq > 0); break;
        case O_AKG: bad = parse_num(optarg, &a_per_kg) || !(a_per_kg > 0); break;
        case O_W: bad = parse_num(optarg, &c.weight_kg) || !(c.weight_kg > 0); break;
        case O_UP: bad = parse_num(optarg, &c.uptake_s) || c.uptake_s < 0; break;
        case O_DUR: bad = parse_num(optarg, &c.duration_s) || !(c.duration_s > 0); break;
        case O_SEED: bad = parse_num(optarg, &v) || v < 0 || v != floor(v); c.seed = (uint64_t)v; break;
        case O_EFFSEED:
            bad = parse_num(optarg, &v) || v < 0 || v != floor(v);
            c.efficiency_seed = (uint64_t)v;
            break;
        case O_MOT: bad = parse_motion(optarg, &c); break;
        case O_RESP: bad = sscanf(optarg, "%lf:%lf", &c.resp_period_s, &c.resp_amplitude_mm) != 2 || !(c.resp_period_s > 0); break;
        case O_POS: bad = parse_vec3(optarg, c.position_mm); break;
        case O_NOSC: c.scatter = 0; break;
        case O_NORND: c.randoms = 0; break;
        case O_NOLU: c.lu = 0; break;
        case O_UNIF: c.uniform_efficiency = 1; break;
        case O_LINE: bad = parse_num(optarg, &c.line_length_mm) || !(c.line_length_mm > 0); break;
        case O_RATIO: bad = parse_num(optarg, &c.sphere_ratio) || !(c.sphere_ratio >= 0); break;
        case O_NOCT: c.ct = 0; break;
        case O_CTM: bad = parse_num(optarg, &v) || v < 8 || v > 2048 || v != floor(v); c.ct_matrix = (int)v; break;
        case O_CTP: bad = parse_num(optarg, &c.ct_pixel_mm) || !(c.ct_pixel_mm > 0); break;
        case O_CTS: bad = parse_num(optarg, &c.ct_slice_mm) || !(c.ct_slice_mm > 0); break;
        case O_CTN: bad = parse_num(optarg, &c.ct_noise_hu) || c.ct_noise_hu < 0; break;
        case O_TV: bad = parse_num(optarg, &c.truth_voxel_mm) || !(c.truth_voxel_mm >= 0.5); break;
        case O_THR: bad = parse_num(optarg, &v) || v < 1 || v != floor(v); threads = (int)v; break;
        case O_OUT: c.out_dir = optarg; break;
        case O_JSON: json = 1; break;
        case O_CF: bad = parse_num(optarg, &c.count_fraction) || !(c.count_fraction > 0 && c.count_fraction <= 1); break;
        case 'v': verbose++; break;
        case 'h': help(); return LF_EXIT_OK;
        default: return lf_cli_usage("simulate", "unknown option");
        }
        if (bad)
            return lf_cli_usage("simulate", "bad value '%s' for --%s", optarg ? optarg : "", opts[ch - O_PH].name);
    }
    if (optind != argc)
        return lf_cli_usage("simulate", "unexpected argument '%s'", argv[optind]);
    if (!c.phantom)
        return lf_cli_usage("simulate", "--phantom is required");
    if (!c.out_dir)
        return lf_cli_usage("simulate", "--out DIR is required");
    if (!(c.duration_s > 0))
        return lf_cli_usage("simulate", "--duration-s is required");
    if ((a_mbq > 0) == (a_per_kg > 0))
        return lf_cli_usage("simulate", "give exactly one of --activity-mbq and --activity-mbq-per-kg");
    c.activity_bq = a_mbq > 0 ? a_mbq * 1e6 : a_per_kg * c.weight_kg * 1e6;
    if (threads > 0)
        omp_set_num_threads(threads);
    lf_cli_logging(verbose);
    lf_cli_progress p;
    lf_cli_progress_start(&p, "simulating");
    c.progress = lf_cli_progress_cb;
    c.progress_user = &p;
    lf_sim_result r;
    lf_error err = {{0}};
    int rc = lf_simulate(&c, &r, &err);
    lf_cli_progress_end(&p);
    if (rc != 0)
        return lf_cli_fail("simulate", &err);
    uint64_t prompts = r.trues + r.scattered + r.randoms_prompt;
    double coinc = (double)(prompts + r.delayeds);
    if (json) {
        printf("{\"trues\": %llu, \"scatter\": %llu, \"randoms_prompt\": %llu, \"delayeds\": %llu, \"prompts\": %llu, "
               "\"trues_cps_per_mbq\": %.6g, \"scatter_fraction\": %.6g, \"randoms_fraction\": %.6g, "
               "\"coincidences_per_s\": %.6g, \"seconds\": %.6g}\n",
               (unsigned long long)r.trues, (unsigned long long)r.scattered, (unsigned long long)r.randoms_prompt,
               (unsigned long long)r.delayeds, (unsigned long long)prompts, r.trues_cps_per_mbq,
               r.trues + r.scattered ? (double)r.scattered / (double)(r.trues + r.scattered) : 0,
               prompts ? (double)r.randoms_prompt / (double)prompts : 0, r.seconds > 0 ? coinc / r.seconds : 0, r.seconds);
    } else {
        printf("wrote               %s/acq.l (+ .hdr, truth.json, truth images%s)\n", c.out_dir, c.ct ? ", CT" : "");
        printf("decays              %llu positron emissions\n", (unsigned long long)r.decays);
        printf("prompts             %llu: trues %llu, scattered %llu, randoms %llu\n", (unsigned long long)prompts,
               (unsigned long long)r.trues, (unsigned long long)r.scattered, (unsigned long long)r.randoms_prompt);
        printf("delayeds            %llu\n", (unsigned long long)r.delayeds);
        printf("scatter fraction    %.1f %%\n", r.trues + r.scattered ? 100.0 * (double)r.scattered / (double)(r.trues + r.scattered) : 0);
        printf("randoms fraction    %.1f %% of prompts\n", prompts ? 100.0 * (double)r.randoms_prompt / (double)prompts : 0);
        printf("sensitivity         %.4g trues cps/MBq (mean activity %.4g MBq)\n", r.trues_cps_per_mbq, r.mean_activity_bq / 1e6);
        printf("singles             phantom %.4g kcps at scan start, 176Lu %.4g kcps\n", r.phantom_singles_cps / 1e3,
               r.lu_singles_cps / 1e3);
        printf("speed               %.3g coincidences/s (%.1f s)\n", r.seconds > 0 ? coinc / r.seconds : 0, r.seconds);
    }
    return LF_EXIT_OK;
}

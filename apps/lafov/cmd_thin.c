/* lafov thin ACQ --fraction p [--replicate k --of n] --seed s --out NEW.l: binomial thinning. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "recon/thin.h"

static void help(void)
{
    printf("usage: lafov thin ACQ --fraction P --seed S --out NEW.l [--replicate K --of N] [--force]\n"
           "                  [--scanner NAME|FILE] [-v]\n\n"
           "Binomial thinning of a Quadra-style 64-bit stream: keeps each prompt and each delayed with\n"
           "probability P (a seeded hash of the event's place in the stream decides), every time marker and\n"
           "tag, and writes NEW.l and NEW.l.hdr. Replicate K of N keeps the events whose hash number u lies\n"
           "in [(K-1)P, KP): replicates of one seed share no event, and N replicates at P = 1/N are together\n"
           "the whole scan. The header's '%%lafov count fraction' is multiplied by P, so lafov recon of the\n"
           "thinned stream gives the original Bq/mL and SUV in expectation (noisier); the injected activity\n"
           "is kept and the emulated lower dose is recorded as '%%lafov emulated activity at time of injection\n"
           "(Bq)', with the provenance (%%lafov thinned from, thinning fraction, replicate, of, seed).\n"
           "Delayeds are thinned like prompts (at a truly lower dose randoms fall as ~P^2: conservative).\n"
           "  --fraction P      kept fraction, 0 < P <= 1: 0.25, 25%% or 1/4\n"
           "  --replicate K     which disjoint replicate, 1..N (default 1)\n"
           "  --of N            number of disjoint replicates, N*P <= 1 (default 1)\n"
           "  --seed S          hash seed (a non-negative integer); replicates must share it\n"
           "  --out NEW.l       the new stream (written atomically; not the input)\n"
           "  --force           replace an existing NEW.l\n"
           "  --scanner NAME    scanner description instead of the header's originating system\n"
           "  -v, --verbose     log each step (repeat for debug)\n");
}

/* a whole number from lo to hi, or -1 */
static long long whole(const char *s, long long lo, long long hi)
{
    char *e = NULL;
    errno = 0;
    long long v = strtoll(s, &e, 10);
    return (e != s && *e == '\0' && !errno && v >= lo && v <= hi) ? v : -1;
}

int lf_cmd_thin(int argc, char **argv)
{
    static const struct option opts[] = {{"fraction", required_argument, 0, 'p'}, {"replicate", required_argument, 0, 'k'},
                                         {"of", required_argument, 0, 'n'},       {"seed", required_argument, 0, 'S'},
                                         {"out", required_argument, 0, 'o'},      {"force", no_argument, 0, 'F'},
                                         {"scanner", required_argument, 0, 's'},  {"verbose", no_argument, 0, 'v'},
                                         {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
    const char *out = NULL, *scanner = NULL, *fraction = NULL, *seed = NULL, *rep = NULL, *of = NULL;
    int force = 0, verbose = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "p:k:n:S:o:Fs:vh", opts, NULL)) != -1) {
        switch (c) {
        case 'p': fraction = optarg; break;
        case 'k': rep = optarg; break;
        case 'n': of = optarg; break;
        case 'S': seed = optarg; break;
        case 'o': out = optarg; break;
        case 'F': force = 1; break;
        case 's': scanner = optarg; break;
        case 'v': verbose++; break;
        case 'h': help(); return LF_EXIT_OK;
        default: return lf_cli_usage("thin", "unknown option");
        }
    }
    if (optind != argc - 1)
        return lf_cli_usage("thin", "expected one ACQ (.l or .l.hdr of a 64-bit stream)");
    if (!fraction)
        return lf_cli_usage("thin", "--fraction P is required (0 < P <= 1, e.g. 0.25 or 1/4)");
    if (!seed)
        return lf_cli_usage("thin", "--seed S is required (replicates of one scan must share it)");
    if (!out || !*out)
        return lf_cli_usage("thin", "--out NEW.l is required");
    if ((rep != NULL) != (of != NULL))
        return lf_cli_usage("thin", "--replicate K and --of N go together");
    lf_error err = {{0}};
    lf_thin_opts t = {.replicate = 1, .of = 1};
    if (lf_thin_parse_fraction(fraction, &t.fraction, &err) != 0)
        return lf_cli_usage("thin", "%s", err.msg);
    long long v = whole(seed, 0, INT64_MAX);
    if (v < 0)
        return lf_cli_usage("thin", "--seed '%s': expected a non-negative integer", seed);
    t.seed = (uint64_t)v;
    if (rep && ((v = whole(rep, 1, 1000000)) < 0))
        return lf_cli_usage("thin", "--replicate '%s': expected an integer K >= 1", rep);
    t.replicate = rep ? (int)v : 1;
    if (of && ((v = whole(of, 1, 1000000)) < 0))
        return lf_cli_usage("thin", "--of '%s': expected an integer N >= 1", of);
    t.of = of ? (int)v : 1;
    uint64_t u0, u1;
    if (lf_thin_interval(&t, &u0, &u1, &err) != 0)
        return lf_cli_usage("thin", "%s", err.msg);

    lf_cli_logging(verbose);
    lf_lm_open_opts oo = {.scanner = scanner};
    lf_thin_result r;
    double t0 = lf_cli_now();
    if (lf_thin(argv[optind], &oo, &t, out, force, &r, &err) != 0)
        return lf_cli_fail("thin", &err);
    const lf_export_counts *k = &r.c;
    printf("wrote %s: replicate %d of %d at p = %.10g (seed %llu), %llu of %llu prompts, %llu of %llu delayeds, "
           "%llu time markers, %llu tags, %llu words; count fraction %.10g -> %.10g (%.1f s)\n",
           out, t.replicate, t.of, t.fraction, (unsigned long long)t.seed, (unsigned long long)k->prompts_kept,
           (unsigned long long)k->prompts_in, (unsigned long long)k->delayeds_kept, (unsigned long long)k->delayeds_in,
           (unsigned long long)k->markers, (unsigned long long)k->tags_kept, (unsigned long long)k->words,
           r.count_fraction_in, r.count_fraction_out, lf_cli_now() - t0);
    if (k->invalid_skipped)
        printf("note: %llu invalid event(s) of the input were not copied\n", (unsigned long long)k->invalid_skipped);
    return LF_EXIT_OK;
}

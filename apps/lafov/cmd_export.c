/* lafov export ACQ --frames ... --out NEW.l: the events of chosen time windows as a new 64-bit stream. */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "recon/export.h"

static void help(void)
{
    printf("usage: lafov export ACQ --frames WINDOWS --out NEW.l [--exclude WINDOWS] [--force]\n"
           "                    [--scanner NAME|FILE] [-v]\n\n"
           "Writes the prompts and delayeds of the union of the given time windows as a new Quadra-style\n"
           "64-bit stream (NEW.l and NEW.l.hdr). Every time marker is kept, so times and decay stay those of\n"
           "the original scan; every tag (singles, gating, ...) is kept; events of the other windows are\n"
           "dropped. The header is the input's, with the word count and\n"
           "'%%kept windows (sec):={0-540,600-1200}' (sorted, merged windows in seconds). Only 64-bit input.\n"
           "  --frames W        windows to keep, lafov recon's syntax: \"0-540,600-1200\", \"10:00-20:00\", \"6x60\"\n"
           "  --exclude W       windows removed from them, e.g. the minutes the patient moved\n"
           "  --out NEW.l       the new stream (written atomically; not the input)\n"
           "  --force           replace an existing NEW.l\n"
           "  --scanner NAME    scanner description instead of the header's originating system\n"
           "  -v, --verbose     log each step (repeat for debug)\n");
}

int lf_cmd_export(int argc, char **argv)
{
    static const struct option opts[] = {{"frames", required_argument, 0, 'f'}, {"exclude", required_argument, 0, 'x'},
                                         {"out", required_argument, 0, 'o'},    {"force", no_argument, 0, 'F'},
                                         {"scanner", required_argument, 0, 's'}, {"verbose", no_argument, 0, 'v'},
                                         {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    const char *frames = NULL, *exclude = NULL, *out = NULL, *scanner = NULL;
    int force = 0, verbose = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "f:x:o:Fs:vh", opts, NULL)) != -1) {
        switch (c) {
        case 'f': frames = optarg; break;
        case 'x': exclude = optarg; break;
        case 'o': out = optarg; break;
        case 'F': force = 1; break;
        case 's': scanner = optarg; break;
        case 'v': verbose++; break;
        case 'h': help(); return LF_EXIT_OK;
        default: return lf_cli_usage("export", "unknown option");
        }
    }
    if (optind != argc - 1)
        return lf_cli_usage("export", "expected one ACQ (.l, .l.hdr or .ptd)");
    if (!frames || !*frames)
        return lf_cli_usage("export", "--frames WINDOWS is required (e.g. 0-540,600-1200)");
    if (!out || !*out)
        return lf_cli_usage("export", "--out NEW.l is required");
    lf_cli_logging(verbose);
    lf_error err = {{0}};
    lf_lm_open_opts oo = {.scanner = scanner};
    lf_export_result r;
    double t0 = lf_cli_now();
    if (lf_export_windows(argv[optind], &oo, frames, exclude, out, force, &r, &err) != 0)
        return lf_cli_fail("export", &err);
    char kw[256];
    lf_export_format_windows(r.w, r.n_w, kw, sizeof kw);
    printf("wrote %s: kept windows %s%s, %llu of %llu prompts, %llu of %llu delayeds, %llu time markers, %llu tags, "
           "%llu words (%.1f s)\n",
           out, kw, r.n_w > 8 ? "..." : "", (unsigned long long)r.prompts_kept, (unsigned long long)r.prompts_in,
           (unsigned long long)r.delayeds_kept, (unsigned long long)r.delayeds_in, (unsigned long long)r.markers,
           (unsigned long long)r.tags_kept, (unsigned long long)r.words, lf_cli_now() - t0);
    if (r.invalid_skipped)
        printf("note: %llu invalid event(s) of the input were not copied\n", (unsigned long long)r.invalid_skipped);
    return LF_EXIT_OK;
}

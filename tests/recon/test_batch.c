/* The batch queue: the manifest syntax and its errors, concurrent processes within --workers, devices
 * dealt to the slots, per-job logs, batch.json, failures that do not stop the others, resuming (records,
 * finished recon outputs, --resume added), ranks, and an interrupted batch. The jobs run a shell script
 * standing in for lafov that logs its arguments and environment and acts on its first word. */
#include "testutil.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "recon/batch.h"

static char g_dir[4096], g_exe[4200];

static const char *k_fake =
    "#!/bin/sh\n"
    "echo \"args: $*\"\n"
    "echo \"env: CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES-unset} OMP_NUM_THREADS=${OMP_NUM_THREADS-unset}\"\n"
    "echo \"cwd: $(pwd)\"\n"
    "start=$(date +%s%N)\n"
    "case \"$1\" in\n"
    "  fail) exit 3 ;;\n"
    "  crash) kill -SEGV $$ ;;\n"
    "  sleep) sleep \"$2\" ;;\n"
    "  hold) exec sleep \"$2\" ;;\n"
    "esac\n"
    "echo \"span: $start $(date +%s%N)\"\n";

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "%s", tu_tmpdir());
    snprintf(g_exe, sizeof g_exe, "%s/fake_lafov", g_dir);
    tu_write_text(g_exe, k_fake);
    chmod(g_exe, 0755);
    unsetenv("CUDA_VISIBLE_DEVICES");
    unsetenv("OMP_NUM_THREADS");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree(g_dir);
    return 0;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    size_t got = fread(b, 1, (size_t)n, f);
    b[got] = '\0';
    fclose(f);
    return b;
}

static int count_of(const char *s, const char *a)
{
    int n = 0;
    for (const char *p = s; p && (p = strstr(p, a)); p += strlen(a))
        n++;
    return n;
}

static char *job_log(const char *state_dir, const char *name)
{
    char p[4400];
    snprintf(p, sizeof p, "%s/logs/%s.log", state_dir, name);
    char *s = slurp(p);
    if (!s)
        fail_msg("no log %s", p);
    return s;
}

/* start and end (ns) of a job's sleep from its log */
static void span(const char *state_dir, const char *name, double *t0, double *t1)
{
    char *s = job_log(state_dir, name);
    const char *p = strstr(s, "span: ");
    assert_non_null(p);
    assert_int_equal(sscanf(p, "span: %lf %lf", t0, t1), 2);
    free(s);
}

static void manifest_syntax(void **state)
{
    (void)state;
    lf_batch_manifest m = {0};
    lf_error err = {{0}};
    const char *text = "# a comment\n"
                       "\n"
                       "a  recon 'x y.l' --out \"r/a b\"   # trailing comment\n"
                       "b\tinfo it\\'s.l --json \\\n"
                       "   --more\r\n"
                       "c.2_x-y roi \"q\\\"uote\" '#not a comment'\n";
    assert_int_equal(lf_batch_manifest_parse(text, "m.txt", &m, &err), 0);
    assert_int_equal(m.n, 3);
    assert_string_equal(m.jobs[0].name, "a");
    assert_int_equal(m.jobs[0].line, 3);
    assert_int_equal(m.jobs[0].argc, 4);
    assert_string_equal(m.jobs[0].argv[1], "x y.l");
    assert_string_equal(lf_batch_job_option(&m.jobs[0], "--out"), "r/a b");
    assert_null(m.jobs[0].argv[4]);
    assert_int_equal(m.jobs[1].line, 4);
    assert_int_equal(m.jobs[1].argc, 4);
    assert_string_equal(m.jobs[1].argv[1], "it's.l");
    assert_string_equal(m.jobs[1].argv[3], "--more");
    assert_true(lf_batch_job_has(&m.jobs[1], "--json"));
    assert_int_equal(m.jobs[2].line, 6);
    assert_string_equal(m.jobs[2].argv[1], "q\"uote");
    assert_string_equal(m.jobs[2].argv[2], "#not a comment");
    /* the quoted command line parses back into the same words */
    char line[1024], again[1100];
    lf_batch_job_line(&m.jobs[1], line, sizeof line);
    assert_string_equal(line, "info 'it'\\''s.l' --json --more");
    snprintf(again, sizeof again, "z %s\n", line);
    lf_batch_manifest m2 = {0};
    assert_int_equal(lf_batch_manifest_parse(again, "again", &m2, &err), 0);
    assert_int_equal(m2.jobs[0].argc, m.jobs[1].argc);
    for (int i = 0; i < m2.jobs[0].argc; i++)
        assert_string_equal(m2.jobs[0].argv[i], m.jobs[1].argv[i]);
    lf_batch_manifest_free(&m2);
    assert_string_equal(lf_batch_job_option(&m.jobs[0], "--nope") ? "x" : "null", "null");
    lf_batch_manifest_free(&m);

    struct {
        const char *text, *want1, *want2;
    } bad[] = {
        {"a info x\nb info y\na info z\n", "line 3", "already used on line 1"},
        {"a/b info x\n", "line 1", "job name 'a/b'"},
        {"ok info 'open\n", "line 1", "quote is not closed"},
        {"x\n", "line 1", "expected a lafov command"},
        {"x batch other.txt\n", "line 1", "no batch inside a batch"},
        {"x lafov recon a.l\n", "line 1", "without 'lafov'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        lf_batch_manifest mb = {0};
        assert_int_equal(lf_batch_manifest_parse(bad[i].text, "bad.txt", &mb, &err), -1);
        if (!tu_contains(err.msg, "bad.txt") || !tu_contains(err.msg, bad[i].want1) || !tu_contains(err.msg, bad[i].want2))
            fail_msg("case %zu: '%s'", i, err.msg);
        lf_batch_manifest_free(&mb);
    }
    char p[4300];
    snprintf(p, sizeof p, "%s/empty.txt", g_dir);
    tu_write_text(p, "# nothing\n\n");
    lf_batch_manifest me = {0};
    assert_int_equal(lf_batch_manifest_read(p, &me, &err), -1);
    assert_true(tu_contains(err.msg, "empty.txt") && tu_contains(err.msg, "no job"));
    lf_batch_manifest_free(&me);
    assert_int_equal(lf_batch_manifest_read("/nonexistent/m.txt", &me, &err), -1);
    assert_true(tu_contains(err.msg, "/nonexistent/m.txt"));

    int gpu[8];
    assert_int_equal(lf_batch_parse_devices("cpu,cuda,cuda:3", gpu, 8, &err), 3);
    assert_true(gpu[0] == -1 && gpu[1] == 0 && gpu[2] == 3);
    assert_int_equal(lf_batch_parse_devices(NULL, gpu, 8, &err), 1);
    assert_int_equal(gpu[0], -1);
    assert_int_equal(lf_batch_parse_devices("cpu,gpu", gpu, 8, &err), -1);
    assert_true(tu_contains(err.msg, "--devices") && tu_contains(err.msg, "'gpu'"));
    assert_int_equal(lf_batch_parse_devices("cuda:x", gpu, 8, &err), -1);
}

static void write_manifest(const char *name, const char *text, lf_batch_manifest *m, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", g_dir, name);
    tu_write_text(path, text);
    lf_error err = {{0}};
    memset(m, 0, sizeof *m);
    if (lf_batch_manifest_read(path, m, &err) != 0)
        fail_msg("%s", err.msg);
}

static void runs_resumes_and_records(void **state)
{
    (void)state;
    char path[4300], st[4300];
    lf_batch_manifest m;
    write_manifest("jobs.txt",
                   "a sleep 0.4\n"
                   "b sleep 0.4\n"
                   "c fail\n"
                   "d recon in.l --out r_d\n"
                   "e sleep 0.2\n"
                   "f crash\n"
                   "g recon in.l --out r_g\n"
                   "h project fwd --device cpu\n",
                   &m, path, sizeof path);
    /* g's output is a finished frame already */
    char d[4400];
    snprintf(d, sizeof d, "%s/r_g", g_dir);
    mkdir(d, 0755);
    snprintf(d, sizeof d, "%s/r_g/recon.h5", g_dir);
    tu_write_text(d, "x");
    snprintf(d, sizeof d, "%s/r_g/image_bqml.nii.gz", g_dir);
    tu_write_text(d, "x");
    snprintf(st, sizeof st, "%s/jobs.batch", g_dir);
    lf_batch_opts o = {.exe = g_exe, .state_dir = st, .workers = 2, .devices = "cpu,cuda:1", .ranks = 1};
    lf_batch_summary s;
    lf_error err = {{0}};
    assert_int_equal(lf_batch_run(&m, &o, &s, &err), 0);
    assert_int_equal(s.jobs, 8);
    assert_int_equal(s.done, 5);
    assert_int_equal(s.failed, 2);
    assert_int_equal(s.skipped, 1);

    /* a and b ran at once (the two slots), never more than two at once */
    double a0, a1, b0, b1, e0, e1;
    span(st, "a", &a0, &a1);
    span(st, "b", &b0, &b1);
    span(st, "e", &e0, &e1);
    assert_true(a0 < b1 && b0 < a1);
    assert_true(e0 >= fmin(a1, b1));
    /* jobs run in the manifest's folder; the devices of the slots; --resume and --device added to recon */
    char *la = job_log(st, "a"), *lb = job_log(st, "b"), *ld = job_log(st, "d"), *lh = job_log(st, "h");
    assert_true(tu_contains(la, g_dir) && tu_contains(la, "==== lafov batch: job a started"));
    char omp[64];
    snprintf(omp, sizeof omp, "OMP_NUM_THREADS=%ld", sysconf(_SC_NPROCESSORS_ONLN) > 1 ? sysconf(_SC_NPROCESSORS_ONLN) : 1);
    assert_true(tu_contains(la, "CUDA_VISIBLE_DEVICES=unset") && tu_contains(la, omp)); /* slot 0: cpu */
    assert_true(tu_contains(lb, "CUDA_VISIBLE_DEVICES=1 OMP_NUM_THREADS=unset"));      /* slot 1: cuda:1 */
    if (tu_contains(ld, "CUDA_VISIBLE_DEVICES=1"))
        assert_true(tu_contains(ld, "args: recon in.l --out r_d --resume --device cuda"));
    else
        assert_true(tu_contains(ld, "args: recon in.l --out r_d --resume --device cpu"));
    assert_true(tu_contains(lh, "args: project fwd --device cpu\n")); /* its own --device kept */
    free(la);
    free(lb);
    free(ld);
    free(lh);
    /* batch.json */
    char jp[4400];
    snprintf(jp, sizeof jp, "%s/batch.json", st);
    char *js = slurp(jp);
    assert_non_null(js);
    assert_int_equal(count_of(js, "\"state\": \"done\""), 5);
    assert_int_equal(count_of(js, "\"state\": \"failed\""), 2);
    assert_int_equal(count_of(js, "\"state\": \"skipped\""), 1);
    assert_int_equal(count_of(js, "\"exit_code\": 3"), 1);
    assert_int_equal(count_of(js, "\"signal\": 11"), 1);
    assert_true(tu_contains(js, "already holds a finished image"));
    assert_true(tu_contains(js, "\"device\": \"cuda:1\""));
    free(js);
    /* records of the finished jobs only */
    char rec[4400];
    snprintf(rec, sizeof rec, "%s/done/a.done", st);
    char *ra = slurp(rec);
    assert_non_null(ra);
    assert_string_equal(ra, "sleep 0.4\n");
    free(ra);
    snprintf(rec, sizeof rec, "%s/done/c.done", st);
    assert_int_equal(access(rec, F_OK), -1);

    /* again: the finished jobs are skipped, the failed ones run again */
    assert_int_equal(lf_batch_run(&m, &o, &s, &err), 0);
    assert_int_equal(s.skipped, 6);
    assert_int_equal(s.failed, 2);
    assert_int_equal(s.done, 0);
    char *lc = job_log(st, "c");
    assert_int_equal(count_of(lc, "==== lafov batch: job c started"), 2); /* the log is appended to */
    free(lc);
    lf_batch_manifest_free(&m);
    /* a changed command line runs again */
    write_manifest("jobs.txt", "a sleep 0.1\nb sleep 0.4\n", &m, path, sizeof path);
    assert_int_equal(lf_batch_run(&m, &o, &s, &err), 0);
    assert_int_equal(s.done, 1);
    assert_int_equal(s.skipped, 1);
    lf_batch_manifest_free(&m);
}

static void ranks_split_the_jobs(void **state)
{
    (void)state;
    char path[4300], st[4300];
    lf_batch_manifest m;
    write_manifest("ranks.txt", "j0 ok\nj1 ok\nj2 ok\nj3 ok\nj4 ok\n", &m, path, sizeof path);
    snprintf(st, sizeof st, "%s/ranks.batch", g_dir);
    lf_batch_opts o = {.exe = g_exe, .state_dir = st, .workers = 3, .rank = 1, .ranks = 2};
    lf_batch_summary s;
    lf_error err = {{0}};
    assert_int_equal(lf_batch_run(&m, &o, &s, &err), 0);
    assert_int_equal(s.jobs, 2);
    assert_int_equal(s.done, 2);
    char p[4400];
    snprintf(p, sizeof p, "%s/done/j1.done", st);
    assert_int_equal(access(p, F_OK), 0);
    snprintf(p, sizeof p, "%s/done/j3.done", st);
    assert_int_equal(access(p, F_OK), 0);
    snprintf(p, sizeof p, "%s/done/j0.done", st);
    assert_int_equal(access(p, F_OK), -1);
    snprintf(p, sizeof p, "%s/batch.rank001.json", st);
    char *js = slurp(p);
    assert_non_null(js);
    assert_true(tu_contains(js, "\"j3\"") && !tu_contains(js, "\"j2\""));
    free(js);
    o.rank = 2;
    assert_int_equal(lf_batch_run(&m, &o, &s, &err), -1);
    assert_true(tu_contains(err.msg, "rank 2 of 2"));
    o.rank = 0;
    o.workers = 0;
    assert_int_equal(lf_batch_run(&m, &o, &s, &err), -1);
    assert_true(tu_contains(err.msg, "--workers 0"));
    lf_batch_manifest_free(&m);
}

static volatile sig_atomic_t g_stop;
static void on_alarm(int sig)
{
    (void)sig;
    g_stop = 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* stop requested while two jobs run: they are stopped and recorded failed, the third never starts; a
 * re-run finishes all three */
static void interrupted_batch(void **state)
{
    (void)state;
    char path[4300], st[4300];
    lf_batch_manifest m;
    write_manifest("stop.txt", "x hold 0.6\ny hold 0.6\nz ok\n", &m, path, sizeof path);
    snprintf(st, sizeof st, "%s/stop.batch", g_dir);
    g_stop = 0;
    signal(SIGALRM, on_alarm);
    struct itimerval it = {.it_value = {0, 150000}};
    setitimer(ITIMER_REAL, &it, NULL);
    lf_batch_opts o = {.exe = g_exe, .state_dir = st, .workers = 2, .stop = &g_stop};
    lf_batch_summary s;
    lf_error err = {{0}};
    double t0 = now_s();
    assert_int_equal(lf_batch_run(&m, &o, &s, &err), -1);
    assert_true(now_s() - t0 < 0.55); /* did not wait for the jobs to end */
    assert_true(tu_contains(err.msg, "interrupted") && tu_contains(err.msg, "1 job(s) not started"));
    char p[4400];
    snprintf(p, sizeof p, "%s/batch.json", st);
    char *js = slurp(p);
    assert_int_equal(count_of(js, "\"note\": \"interrupted\""), 2);
    assert_int_equal(count_of(js, "\"signal\": 15"), 2);
    assert_int_equal(count_of(js, "\"state\": \"queued\""), 1);
    free(js);
    g_stop = 0;
    assert_int_equal(lf_batch_run(&m, &o, &s, &err), 0);
    assert_int_equal(s.done, 3);
    signal(SIGALRM, SIG_DFL);
    lf_batch_manifest_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(manifest_syntax),
        cmocka_unit_test(runs_resumes_and_records),
        cmocka_unit_test(ranks_split_the_jobs),
        cmocka_unit_test(interrupted_batch),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

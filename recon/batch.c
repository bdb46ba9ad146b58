#include "batch.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../core/log.h"
#include "../io/atomic_file.h"
#include "../io/json.h"
#include "recon_output.h"

enum { QUEUED, RUNNING, DONE, FAILED, SKIPPED };
/* The jobs are lafov processes of their own, not ranks: without the launcher's variables in their
 * environment, a job that can run over MPI (recon) starts as a singleton instead of joining this rank's
 * world (which fails). MPI read them at the start of the
 * batch; this runs in the child, between fork and exec. */
static void scrub_launcher_env(void)
{
    extern char **environ;
    static const char *const prefixes[] = {"OMPI_", "PMIX_", "PMI_", "HYDRA_", "MPI_LOCALRANKID", "MPI_LOCALNRANKS",
                                           NULL};
    for (int again = 1; again;) {
        again = 0;
        for (char **e = environ; e && *e && !again; e++)
            for (int i = 0; prefixes[i]; i++)
                if (!strncmp(*e, prefixes[i], strlen(prefixes[i]))) {
                    char name[256];
                    size_t n = strcspn(*e, "=");
                    snprintf(name, sizeof name, "%.*s", (int)(n < sizeof name ? n : sizeof name - 1), *e);
                    unsetenv(name);
                    again = 1; /* environ changed: start over */
                    break;
                }
    }
}

static const char *const state_name[] = {"queued", "running", "done", "failed", "skipped"};

typedef struct job_state {
    int state, slot, gpu, exit_code, signal;
    pid_t pid;
    double t0, t1;          /* monotonic s */
    time_t start, end;      /* wall clock */
    char note[160];
} job_state;

typedef struct batch {
    const lf_batch_manifest *m;
    const lf_batch_opts *o;
    job_state *js;
    int gpu[LF_BATCH_DEVICES_MAX], n_dev, ranks, omp_threads;
    time_t started;
    char json_path[4200];
    int warned_status;
} batch;

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void utc(time_t t, char *buf, size_t cap)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int lf_batch_parse_devices(const char *s, int *gpu, int cap, lf_error *err)
{
    char buf[1024];
    if (!s || !*s)
        s = "cpu";
    if (strlen(s) >= sizeof buf)
        return lf_fail(err, "--devices: list too long");
    snprintf(buf, sizeof buf, "%s", s);
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int g = -2;
        char *e = NULL;
        if (!strcmp(t, "cpu"))
            g = -1;
        else if (!strcmp(t, "cuda"))
            g = 0;
        else if (!strncmp(t, "cuda:", 5)) {
            long v = strtol(t + 5, &e, 10);
            if (e != t + 5 && *e == '\0' && v >= 0 && v < 1024)
                g = (int)v;
        }
        if (g < -1)
            return lf_fail(err, "--devices: '%s': expected a comma-separated list of cpu, cuda or cuda:K (K >= 0)", t);
        if (n == cap)
            return lf_fail(err, "--devices: more than %d devices", cap);
        gpu[n++] = g;
    }
    if (n == 0)
        return lf_fail(err, "--devices '%s': no device; expected e.g. cpu or cuda:0,cuda:1", s);
    return n;
}

static int mine(const batch *b, int i) { return i % b->ranks == b->o->rank; }

static void path_in(const char *dir, const char *rel, char *out, size_t cap)
{
    if (rel[0] == '/' || !strcmp(dir, "."))
        snprintf(out, cap, "%s", rel);
    else
        snprintf(out, cap, "%s/%s", dir, rel);
}

static void record_path(const batch *b, const lf_batch_job *j, char *out, size_t cap)
{
    snprintf(out, cap, "%s/done/%s.done", b->o->state_dir, j->name);
}

/* 1 when an earlier run finished the job (reason in why) */
static int finished_before(const batch *b, const lf_batch_job *j, char *why, size_t cap)
{
    char p[4400], line[65536], want[65536];
    record_path(b, j, p, sizeof p);
    lf_batch_job_line(j, want, sizeof want);
    FILE *f = fopen(p, "r");
    if (f) {
        size_t n = fread(line, 1, sizeof line - 1, f);
        fclose(f);
        line[n] = '\0';
        if (n > 0 && line[n - 1] == '\n')
            line[n - 1] = '\0';
        if (!strcmp(line, want)) {
            snprintf(why, cap, "finished in an earlier run (done/%s.done)", j->name);
            return 1;
        }
    }
    const char *out = lf_batch_job_option(j, "--out");
    if (!strcmp(j->argv[0], "recon") && out && !lf_batch_job_has(j, "--force")) {
        path_in(b->m->dir, out, p, sizeof p);
        if (lf_frame_finished(p)) {
            snprintf(why, cap, "its --out %s already holds a finished image", out);
            return 1;
        }
    }
    return 0;
}

static int write_status(batch *b, lf_error *err)
{
    lf_atomic_file af;
    FILE *f = lf_atomic_open(&af, b->json_path, err);
    if (!f)
        return -1;
    int count[5] = {0};
    for (int i = 0; i < b->m->n; i++)
        if (mine(b, i))
            count[b->js[i].state]++;
    char t[32], line[65536], log[4400];
    lf_json j;
    lf_json_init(&j, f);
    lf_json_obj(&j, NULL);
    lf_json_str(&j, "manifest_dir", b->m->dir);
    lf_json_str(&j, "state_dir", b->o->state_dir);
    lf_json_i64(&j, "workers", b->o->workers);
    lf_json_str(&j, "devices", b->o->devices ? b->o->devices : "cpu");
    lf_json_i64(&j, "rank", b->o->rank);
    lf_json_i64(&j, "ranks", b->ranks);
    utc(b->started, t, sizeof t);
    lf_json_str(&j, "started", t);
    utc(time(NULL), t, sizeof t);
    lf_json_str(&j, "updated", t);
    lf_json_obj(&j, "counts");
    for (int s = 0; s < 5; s++)
        lf_json_i64(&j, state_name[s], count[s]);
    lf_json_end(&j);
    lf_json_arr(&j, "jobs");
    for (int i = 0; i < b->m->n; i++) {
        if (!mine(b, i))
            continue;
        const lf_batch_job *jb = &b->m->jobs[i];
        const job_state *s = &b->js[i];
        lf_json_obj(&j, NULL);
        lf_json_str(&j, "name", jb->name);
        lf_json_str(&j, "state", state_name[s->state]);
        lf_batch_job_line(jb, line, sizeof line);
        lf_json_str(&j, "command", line);
        lf_json_i64(&j, "manifest_line", jb->line);
        snprintf(log, sizeof log, "%s/logs/%s.log", b->o->state_dir, jb->name);
        lf_json_str(&j, "log", log);
        if (s->state == RUNNING || s->state == DONE || s->state == FAILED) {
            char dev[32];
            snprintf(dev, sizeof dev, s->gpu < 0 ? "cpu" : "cuda:%d", s->gpu);
            lf_json_str(&j, "device", dev);
            lf_json_i64(&j, "pid", s->pid);
            utc(s->start, t, sizeof t);
            lf_json_str(&j, "start", t);
        }
        if (s->state == DONE || s->state == FAILED) {
            utc(s->end, t, sizeof t);
            lf_json_str(&j, "end", t);
            lf_json_num(&j, "wall_s", s->t1 - s->t0);
            if (s->signal)
                lf_json_i64(&j, "signal", s->signal);
            else
                lf_json_i64(&j, "exit_code", s->exit_code);
        }
        if (s->note[0])
            lf_json_str(&j, "note", s->note);
        lf_json_end(&j);
    }
    lf_json_end(&j);
    lf_json_end(&j);
    lf_json_finish(&j);
    return lf_atomic_commit(&af, err);
}

/* After the start: a status that cannot be written is a warning (the jobs in flight go on). */
static void update_status(batch *b)
{
    lf_error e = {{0}};
    if (write_status(b, &e) != 0 && !b->warned_status++)
        lf_warn("batch: %s (the jobs go on; the status file is stale)", e.msg);
}

static int takes_device(const char *cmd) { return !strcmp(cmd, "recon") || !strcmp(cmd, "project"); }

static int fail_start(job_state *st, const char *why, const char *detail)
{
    snprintf(st->note, sizeof st->note, "%s%s%s", why, detail ? ": " : "", detail ? detail : "");
    st->state = FAILED;
    st->exit_code = -1;
    st->t1 = st->t0;
    st->end = st->start;
    return -1;
}

/* Starts job i in slot s. 0 when it runs, -1 with js[i] failed and its note set. */
static int start_job(batch *b, int i, int s)
{
    const lf_batch_job *j = &b->m->jobs[i];
    job_state *st = &b->js[i];
    st->slot = s;
    st->gpu = b->gpu[(s + b->o->slot_offset) % b->n_dev];
    st->start = time(NULL);
    st->t0 = mono_s();
    const char *extra[3];
    int ne = 0;
    if (!strcmp(j->argv[0], "recon") && !lf_batch_job_has(j, "--force") && !lf_batch_job_has(j, "--resume"))
        extra[ne++] = "--resume";
    if (takes_device(j->argv[0]) && !lf_batch_job_option(j, "--device")) {
        extra[ne++] = "--device";
        extra[ne++] = st->gpu < 0 ? "cpu" : "cuda";
    }
    char **argv = calloc((size_t)(j->argc + ne + 2), sizeof *argv);
    char log[4400], line[65536], t[32], dev[32];
    snprintf(log, sizeof log, "%s/logs/%s.log", b->o->state_dir, j->name);
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (!argv || fd < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        free(argv);
        return !argv ? fail_start(st, "out of memory", NULL) : fail_start(st, "cannot write its log", strerror(e));
    }
    argv[0] = (char *)"lafov";
    for (int k = 0; k < j->argc; k++)
        argv[1 + k] = j->argv[k];
    for (int k = 0; k < ne; k++)
        argv[1 + j->argc + k] = (char *)extra[k];
    lf_batch_job_line(j, line, sizeof line);
    utc(st->start, t, sizeof t);
    snprintf(dev, sizeof dev, st->gpu < 0 ? "cpu" : "cuda:%d", st->gpu);
    char added[64] = "";
    for (int k = 0; k < ne; k++)
        snprintf(added + strlen(added), sizeof added - strlen(added), " %s", extra[k]);
    dprintf(fd, "==== lafov batch: job %s started %s on %s in %s: lafov %s%s%s%s\n", j->name, t, dev, b->m->dir, line,
            ne ? " (batch added:" : "", added, ne ? ")" : "");
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(143);
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0)
            dup2(nul, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        char v[32];
        if (st->gpu >= 0) {
            snprintf(v, sizeof v, "%d", st->gpu);
            setenv("CUDA_VISIBLE_DEVICES", v, 1);
        } else if (!getenv("OMP_NUM_THREADS")) {
            snprintf(v, sizeof v, "%d", b->omp_threads);
            setenv("OMP_NUM_THREADS", v, 1);
        }
        scrub_launcher_env();
        if (chdir(b->m->dir) != 0) {
            dprintf(2, "lafov batch: cannot enter %s: %s\n", b->m->dir, strerror(errno));
            _exit(127);
        }
        execv(b->o->exe, argv);
        dprintf(2, "lafov batch: cannot run %s: %s\n", b->o->exe, strerror(errno));
        _exit(127);
    }
    int fork_errno = errno;
    close(fd);
    free(argv);
    if (pid < 0)
        return fail_start(st, "cannot start a process", strerror(fork_errno));
    st->pid = pid;
    st->state = RUNNING;
    lf_info("job %s: started on %s (pid %d): lafov %s%s", j->name, dev, (int)pid, line, added);
    return 0;
}

/* Records the end of job i from its wait status. */
static void end_job(batch *b, int i, int wstatus, const char *note)
{
    const lf_batch_job *j = &b->m->jobs[i];
    job_state *st = &b->js[i];
    st->t1 = mono_s();
    st->end = time(NULL);
    st->exit_code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
    st->signal = WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0;
    st->state = (WIFEXITED(wstatus) && st->exit_code == 0 && !note) ? DONE : FAILED;
    if (note)
        snprintf(st->note, sizeof st->note, "%s", note);
    if (st->state == DONE) {
        char p[4400], line[65536];
        lf_error e = {{0}};
        record_path(b, j, p, sizeof p);
        lf_batch_job_line(j, line, sizeof line);
        lf_atomic_file af;
        FILE *f = lf_atomic_open(&af, p, &e);
        if (!f || fprintf(f, "%s\n", line) < 0 || lf_atomic_commit(&af, &e) != 0) {
            if (f)
                lf_atomic_abort(&af);
            lf_warn("job %s: done, but its record could not be written (%s): a re-run repeats it", j->name, e.msg);
        }
        lf_info("job %s: done in %.1f s", j->name, st->t1 - st->t0);
    } else if (st->signal) {
        lf_warn("job %s: %s by signal %d after %.1f s (log %s/logs/%s.log)", j->name, note ? note : "killed",
                st->signal, st->t1 - st->t0, b->o->state_dir, j->name);
    } else {
        lf_warn("job %s: failed with exit code %d after %.1f s (log %s/logs/%s.log)", j->name, st->exit_code,
                st->t1 - st->t0, b->o->state_dir, j->name);
    }
}

/* SIGTERM to every running job, then waits (SIGKILL after 10 s); they are recorded failed, interrupted. */
static void stop_running(batch *b)
{
    for (int i = 0; i < b->m->n; i++)
        if (mine(b, i) && b->js[i].state == RUNNING)
            kill(b->js[i].pid, SIGTERM);
    double t0 = mono_s();
    int left = 1, killed = 0;
    while (left) {
        left = 0;
        for (int i = 0; i < b->m->n; i++) {
            if (!mine(b, i) || b->js[i].state != RUNNING)
                continue;
            int ws = 0;
            pid_t r = waitpid(b->js[i].pid, &ws, WNOHANG);
            if (r == b->js[i].pid || (r < 0 && errno == ECHILD))
                end_job(b, i, r < 0 ? 0 : ws, "interrupted");
            else
                left++;
        }
        if (left && !killed && mono_s() - t0 > 10) {
            for (int i = 0; i < b->m->n; i++)
                if (mine(b, i) && b->js[i].state == RUNNING)
                    kill(b->js[i].pid, SIGKILL);
            killed = 1;
        }
        if (left)
            nanosleep(&(struct timespec){0, 20000000}, NULL);
    }
}

int lf_batch_run(const lf_batch_manifest *m, const lf_batch_opts *o, lf_batch_summary *sum, lf_error *err)
{
    memset(sum, 0, sizeof *sum);
    if (!o->exe || !o->state_dir || !*o->state_dir)
        return lf_fail(err, "batch: the program to run and the state folder are required");
    if (o->workers < 1 || o->workers > 4096)
        return lf_fail(err, "--workers %d: expected 1 to 4096 concurrent jobs", o->workers);
    batch b = {.m = m, .o = o, .ranks = o->ranks > 0 ? o->ranks : 1, .started = time(NULL)};
    if (o->slot_offset < 0)
        return lf_fail(err, "batch: slot offset %d: expected >= 0", o->slot_offset);
    if (o->rank < 0 || o->rank >= b.ranks)
        return lf_fail(err, "batch: rank %d of %d: expected 0 <= rank < ranks", o->rank, b.ranks);
    if ((b.n_dev = lf_batch_parse_devices(o->devices, b.gpu, LF_BATCH_DEVICES_MAX, err)) < 0)
        return -1;
    int cpu_slots = 0;
    for (int s = 0; s < o->workers; s++)
        cpu_slots += b.gpu[(s + o->slot_offset) % b.n_dev] < 0;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    b.omp_threads = cpu_slots > 0 && cores > cpu_slots ? (int)(cores / cpu_slots) : 1;
    char d[4200];
    if (lf_mkdirs(o->state_dir, err) != 0)
        return -1;
    snprintf(d, sizeof d, "%s/logs", o->state_dir);
    if (lf_mkdirs(d, err) != 0)
        return -1;
    snprintf(d, sizeof d, "%s/done", o->state_dir);
    if (lf_mkdirs(d, err) != 0)
        return -1;
    if (b.ranks > 1)
        snprintf(b.json_path, sizeof b.json_path, "%s/batch.rank%03d.json", o->state_dir, o->rank);
    else
        snprintf(b.json_path, sizeof b.json_path, "%s/batch.json", o->state_dir);
    b.js = calloc((size_t)(m->n ? m->n : 1), sizeof *b.js);
    if (!b.js)
        return lf_fail(err, "out of memory");
    for (int i = 0; i < m->n; i++) {
        if (!mine(&b, i))
            continue;
        sum->jobs++;
        if (finished_before(&b, &m->jobs[i], b.js[i].note, sizeof b.js[i].note)) {
            b.js[i].state = SKIPPED;
            sum->skipped++;
            lf_info("job %s: skipped, %s", m->jobs[i].name, b.js[i].note);
        }
    }
    int rc = -1;
    if (write_status(&b, err) != 0)
        goto done;
    double t0 = mono_s();
    int *slot = malloc((size_t)o->workers * sizeof *slot);
    if (!slot) {
        lf_fail(err, "out of memory");
        goto done;
    }
    for (int s = 0; s < o->workers; s++)
        slot[s] = -1;
    int next = 0;
    for (;;) {
        if (o->stop && *o->stop) {
            stop_running(&b);
            update_status(&b);
            int queued = 0;
            for (int i = 0; i < m->n; i++)
                queued += mine(&b, i) && b.js[i].state == QUEUED;
            free(slot);
            lf_fail(err, "batch interrupted: the jobs in flight were stopped and recorded failed, %d job(s) not "
                         "started; run the batch again to continue", queued);
            goto done;
        }
        int changed = 0, running = 0;
        for (int s = 0; s < o->workers; s++) {
            if (slot[s] >= 0) {
                int ws = 0, i = slot[s];
                pid_t r = waitpid(b.js[i].pid, &ws, WNOHANG);
                if (r == 0) {
                    running++;
                    continue;
                }
                end_job(&b, i, r < 0 ? (127 << 8) : ws, r < 0 ? "lost (waitpid failed)" : NULL);
                slot[s] = -1;
                changed = 1;
            }
            while (next < m->n && (!mine(&b, next) || b.js[next].state != QUEUED))
                next++;
            if (next < m->n) {
                int i = next++;
                changed = 1;
                if (start_job(&b, i, s) == 0) {
                    slot[s] = i;
                    running++;
                } else {
                    lf_warn("job %s: %s", m->jobs[i].name, b.js[i].note);
                }
            }
        }
        if (changed)
            update_status(&b);
        if (running == 0 && next >= m->n)
            break;
        if (!changed)
            nanosleep(&(struct timespec){0, 20000000}, NULL);
    }
    free(slot);
    for (int i = 0; i < m->n; i++) {
        if (!mine(&b, i))
            continue;
        sum->done += b.js[i].state == DONE;
        sum->failed += b.js[i].state == FAILED;
    }
    sum->wall_s = mono_s() - t0;
    rc = 0;
done:
    free(b.js);
    return rc;
}

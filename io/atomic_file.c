#include "atomic_file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

FILE *lf_atomic_open(lf_atomic_file *af, const char *path, lf_error *err)
{
    memset(af, 0, sizeof *af);
    if (snprintf(af->path, sizeof af->path, "%s", path) >= (int)sizeof af->path) {
        lf_fail(err, "%s: path too long", path);
        return NULL;
    }
    snprintf(af->tmp, sizeof af->tmp, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(af->tmp);
    if (fd < 0) {
        lf_fail(err, "%s: cannot create a temporary file beside it: %s", path, strerror(errno));
        return NULL;
    }
    fchmod(fd, 0644);
    af->f = fdopen(fd, "wb");
    if (!af->f) {
        close(fd);
        unlink(af->tmp);
        lf_fail(err, "%s: %s", path, strerror(errno));
        return NULL;
    }
    return af->f;
}

int lf_atomic_commit(lf_atomic_file *af, lf_error *err)
{
    if (!af->f)
        return lf_fail(err, "%s: nothing to commit", af->path);
    int bad = ferror(af->f) != 0;
    bad |= fflush(af->f) != 0;
    bad |= fsync(fileno(af->f)) != 0;
    int e = errno;
    bad |= fclose(af->f) != 0;
    af->f = NULL;
    if (bad) {
        unlink(af->tmp);
        return lf_fail(err, "%s: write failed: %s", af->path, strerror(e ? e : errno));
    }
    if (rename(af->tmp, af->path) != 0) {
        e = errno;
        unlink(af->tmp);
        return lf_fail(err, "%s: cannot move the finished file into place: %s", af->path, strerror(e));
    }
    return 0;
}

void lf_atomic_abort(lf_atomic_file *af)
{
    if (af->f) {
        fclose(af->f);
        af->f = NULL;
        unlink(af->tmp);
    }
}

int lf_mkdirs(const char *dir, lf_error *err)
{
    char p[4096];
    if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p)
        return lf_fail(err, "%s: path too long", dir);
    for (char *s = p + 1; ; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (mkdir(p, 0755) != 0 && errno != EEXIST)
                return lf_fail(err, "%s: cannot create folder: %s", p, strerror(errno));
            *s = c;
            if (c == '\0')
                break;
        }
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return lf_fail(err, "%s: exists and is not a folder", dir);
    return 0;
}

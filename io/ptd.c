/* lafov io: the .ptd trailer (see ptd.h). Only the last 24 bytes and the DICOM part are ever read. */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif
#ifndef _FILE_OFFSET_BITS
#define _FILE_OFFSET_BITS 64
#endif

#include "ptd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TRAILER_LEN (4 + LF_PTD_MAGIC_LEN)
/* A .ptd's DICOM part holds a text header (kB to a few MB); refuse to load absurd sizes. */
#define DICOM_MAX ((uint64_t)256 << 20)

/* Checks the trailer t (the last 24 bytes of a file of `size` bytes) and splits the file. */
static int split(const uint8_t *t, uint64_t size, const char *origin, uint64_t *data_bytes, uint64_t *dicom_offset,
                 uint64_t *dicom_bytes, lf_error *err)
{
    uint64_t at = size - TRAILER_LEN;
    if (memcmp(t + 4, LF_PTD_MAGIC, LF_PTD_MAGIC_LEN) != 0)
        return lf_fail(err, "%s: offset %llu: expected the .ptd magic \"%s\" in the last %d bytes, not found", origin,
                       (unsigned long long)(at + 4), LF_PTD_MAGIC, LF_PTD_MAGIC_LEN);
    uint64_t n = (uint64_t)t[0] | (uint64_t)t[1] << 8 | (uint64_t)t[2] << 16 | (uint64_t)t[3] << 24;
    if (n == 0 || n > at)
        return lf_fail(err,
                       "%s: offset %llu: DICOM length %llu (uint32 LE before the magic), expected 1..%llu "
                       "(the bytes before the trailer)",
                       origin, (unsigned long long)at, (unsigned long long)n, (unsigned long long)at);
    if (data_bytes)
        *data_bytes = at - n;
    if (dicom_offset)
        *dicom_offset = at - n;
    if (dicom_bytes)
        *dicom_bytes = n;
    return 0;
}

static int short_file(const char *origin, uint64_t size, lf_error *err)
{
    return lf_fail(err, "%s: offset 0: file is %llu bytes, expected at least %d for a .ptd trailer "
                        "(uint32 DICOM length + \"%s\")",
                   origin, (unsigned long long)size, TRAILER_LEN, LF_PTD_MAGIC);
}

int lf_ptd_locate_buffer(const uint8_t *buf, uint64_t size, const char *origin, uint64_t *data_bytes,
                         uint64_t *dicom_offset, uint64_t *dicom_bytes, lf_error *err)
{
    if (!origin)
        origin = "(buffer)";
    if (!buf || size < TRAILER_LEN)
        return short_file(origin, buf ? size : 0, err);
    return split(buf + size - TRAILER_LEN, size, origin, data_bytes, dicom_offset, dicom_bytes, err);
}

/* Reads exactly n bytes at off; on failure fills err naming what was being read. */
static int read_at(int fd, void *dst, size_t n, uint64_t off, const char *path, const char *what, lf_error *err)
{
    uint8_t *p = dst;
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, p + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return lf_fail(err, "%s: offset %llu: cannot read %s: %s", path, (unsigned long long)(off + got), what,
                           strerror(errno));
        if (r == 0)
            return lf_fail(err, "%s: offset %llu: unexpected end of file, expected %zu more bytes of %s", path,
                           (unsigned long long)(off + got), n - got, what);
        got += (size_t)r;
    }
    return 0;
}

/* Opens a regular file and returns its descriptor and size, or -1 with err filled. */
static int open_regular(const char *path, uint64_t *size, lf_error *err)
{
    if (!path)
        return lf_fail(err, "(null): no file name given, expected a .ptd path");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return lf_fail(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return lf_fail(err, "%s: not a regular file, expected a .ptd", path);
    }
    *size = (uint64_t)st.st_size;
    return fd;
}

int lf_ptd_is_ptd(const char *path)
{
    uint64_t size;
    int fd = open_regular(path, &size, NULL);
    if (fd < 0)
        return 0;
    uint8_t m[LF_PTD_MAGIC_LEN];
    int ok = size >= LF_PTD_MAGIC_LEN && read_at(fd, m, sizeof m, size - LF_PTD_MAGIC_LEN, path, "", NULL) == 0 &&
             memcmp(m, LF_PTD_MAGIC, LF_PTD_MAGIC_LEN) == 0;
    close(fd);
    return ok;
}

/* lf_ptd_locate on an open descriptor. */
static int locate_fd(int fd, uint64_t size, const char *path, uint64_t *data_bytes, uint64_t *dicom_offset,
                     uint64_t *dicom_bytes, lf_error *err)
{
    if (size < TRAILER_LEN)
        return short_file(path, size, err);
    uint8_t t[TRAILER_LEN];
    if (read_at(fd, t, sizeof t, size - TRAILER_LEN, path, "the .ptd trailer", err) != 0)
        return -1;
    return split(t, size, path, data_bytes, dicom_offset, dicom_bytes, err);
}

int lf_ptd_locate(const char *path, uint64_t *data_bytes, uint64_t *dicom_offset, uint64_t *dicom_bytes, lf_error *err)
{
    uint64_t size;
    int fd = open_regular(path, &size, err);
    if (fd < 0)
        return -1;
    int rc = locate_fd(fd, size, path, data_bytes, dicom_offset, dicom_bytes, err);
    close(fd);
    return rc;
}

int lf_ptd_read_header(const char *path, char **text, size_t *text_len, uint64_t *data_bytes, lf_error *err)
{
    if (!text)
        return lf_fail(err, "%s: lf_ptd_read_header: no output pointer given", path ? path : "(null)");
    *text = NULL;
    uint64_t size, off = 0, n = 0;
    int fd = open_regular(path, &size, err);
    if (fd < 0)
        return -1;
    uint8_t *dicom = NULL;
    int rc = locate_fd(fd, size, path, data_bytes, &off, &n, err);
    if (rc == 0 && n > DICOM_MAX)
        rc = lf_fail(err, "%s: offset %llu: DICOM part of %llu bytes, expected at most %llu for a header", path,
                     (unsigned long long)off, (unsigned long long)n, (unsigned long long)DICOM_MAX);
    if (rc == 0 && !(dicom = malloc((size_t)n)))
        rc = lf_fail(err, "%s: offset %llu: out of memory for the %llu-byte DICOM part", path,
                     (unsigned long long)off, (unsigned long long)n);
    if (rc == 0)
        rc = read_at(fd, dicom, (size_t)n, off, path, "the DICOM part", err);
    close(fd);
    if (rc == 0)
        rc = lf_ptd_dicom_header(dicom, (size_t)n, path, off, text, text_len, err);
    free(dicom);
    return rc;
}

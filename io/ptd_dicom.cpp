// lafov io: the DICOM part of a .ptd, through DCMTK, behind the C API of ptd.h.
extern "C" {
#include "ptd.h"
}

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcdict.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcistrmb.h"
#include "dcmtk/dcmdata/dcostrmb.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/oflog/oflog.h"

namespace {

typedef unsigned long long ull;

const char *const PRIVATE_CREATOR = "SIEMENS CSA NON-IMAGE";
const DcmTagKey HEADER_TAGS[] = {DcmTagKey(0x0029, 0x1010), DcmTagKey(0x0029, 0x1110)};

// DCMTK logs parse problems to stderr by default; errors reach callers through lf_error instead.
void quiet_dcmtk()
{
    static const bool done = [] {
        OFLog::getLogger("dcmtk").setLogLevel(OFLogger::OFF_LOG_LEVEL);
        return true;
    }();
    (void)done;
}

// A memory stream that, like DCMTK's file streams, can re-open itself at an offset. Given one, DCMTK
// defers values longer than maxReadLength and checks their length against the bytes left, instead of
// allocating whatever length garbage claims (up to 4 GiB) before noticing the input is short.
class MemStream : public DcmInputBufferStream {
  public:
    MemStream(const uint8_t *b, size_t n) : b_(b), n_(n)
    {
        setBuffer(b, (offile_off_t)n);
        setEos();
    }
    DcmInputStreamFactory *newFactory() const override;

  private:
    const uint8_t *b_;
    size_t n_;
};

class MemFactory : public DcmInputStreamFactory {
  public:
    MemFactory(const uint8_t *b, size_t n, offile_off_t at) : b_(b), n_(n), at_(at) {}
    DcmInputStream *create() const override
    {
        MemStream *s = new MemStream(b_, n_);
        s->skip(at_);
        return s;
    }
    DcmInputStreamFactory *clone() const override { return new MemFactory(*this); }
    DcmInputStreamFactoryType ident() const override { return DFT_DcmInputFileStreamFactory; }

  private:
    const uint8_t *b_;
    size_t n_;
    offile_off_t at_;
};

DcmInputStreamFactory *MemStream::newFactory() const { return new MemFactory(b_, n_, tell()); }

// Raw value bytes of a header element (any leaf VR), trailing NULs (and, for strings, spaces) removed.
int element_text(DcmElement *e, const char *origin, ull off, std::string &out, lf_error *err)
{
    DcmTag tag = e->getTag();
    if (!e->isLeaf())
        return lf_fail(err, "%s: offset %llu: DICOM (%04x,%04x) is a sequence, expected the Interfile header bytes",
                       origin, off, tag.getGTag(), tag.getETag());
    Uint32 n = e->getLength();
    out.assign(n, '\0');
    if (n && e->getPartialValue(&out[0], 0, n, NULL, EBO_LittleEndian).bad())
        return lf_fail(err, "%s: offset %llu: DICOM (%04x,%04x) value (%lu bytes, VR %s) cannot be read", origin, off,
                       tag.getGTag(), tag.getETag(), (unsigned long)n, tag.getVRName());
    bool str = DcmVR(e->getVR()).isaString();
    while (!out.empty() && (out.back() == '\0' || (str && out.back() == ' ')))
        out.pop_back();
    return 0;
}

int header_from(const uint8_t *dicom, size_t n, const char *origin, ull off, std::string &out, lf_error *err)
{
    quiet_dcmtk();
    // DCMTK looks for "DICM" only after a 128-byte preamble: give a preamble-less Part-10 part one.
    std::vector<uint8_t> padded;
    if (n >= 4 && std::memcmp(dicom, "DICM", 4) == 0) {
        padded.assign(128, 0);
        padded.insert(padded.end(), dicom, dicom + n);
    }
    MemStream in(padded.empty() ? dicom : padded.data(), padded.empty() ? n : padded.size());
    DcmFileFormat ff; // after `in` and `padded`: destroyed first, as its deferred values point into them
    ff.transferInit();
    OFCondition c = ff.read(in, EXS_Unknown, EGL_noChange, DCM_MaxReadLength);
    ff.transferEnd();
    if (c.bad())
        return lf_fail(err, "%s: offset %llu: DICOM part (%zu bytes) does not parse (%s), expected a DICOM dataset",
                       origin, off, n, c.text());
    DcmDataset *ds = ff.getDataset();
    bool found = false;
    for (const DcmTagKey &k : HEADER_TAGS) {
        DcmElement *e = NULL;
        if (!ds || ds->findAndGetElement(k, e, OFFalse).bad() || !e)
            continue;
        found = true;
        if (element_text(e, origin, off, out, err) != 0)
            return -1;
        if (!out.empty())
            return 0;
    }
    return lf_fail(err, "%s: offset %llu: DICOM part (%zu bytes) has %s, expected the Interfile header in "
                        "(0029,1010) or (0029,1110)",
                   origin, off, n, found ? "only empty header tags" : "no tag (0029,1010) or (0029,1110)");
}

// Serialises the DICOM part (Part-10, with preamble, explicit VR little endian) into out.
int build_dicom(const char *header, const char *path, std::vector<uint8_t> &out, lf_error *err)
{
    quiet_dcmtk();
    if (!dcmDataDict.isDictionaryLoaded())
        return lf_fail(err, "%s: DCMTK data dictionary not loaded (check DCMDICTPATH), expected one to write DICOM",
                       path);
    size_t len = std::strlen(header);
    if (len > 0xF0000000u)
        return lf_fail(err, "%s: header text of %zu bytes, expected under 3.75 GiB (uint32 DICOM length)", path, len);
    char study[100], series[100], instance[100];
    dcmGenerateUniqueIdentifier(study, SITE_STUDY_UID_ROOT);
    dcmGenerateUniqueIdentifier(series, SITE_SERIES_UID_ROOT);
    dcmGenerateUniqueIdentifier(instance, SITE_INSTANCE_UID_ROOT);

    DcmFileFormat ff;
    DcmDataset *ds = ff.getDataset();
    OFCondition c = ds->putAndInsertString(DcmTag(DCM_ImageType, EVR_CS), "ORIGINAL\\PRIMARY\\PET_LISTMODE");
    if (c.good()) c = ds->putAndInsertString(DcmTag(DCM_SOPClassUID, EVR_UI), UID_RawDataStorage);
    if (c.good()) c = ds->putAndInsertString(DcmTag(DCM_SOPInstanceUID, EVR_UI), instance);
    if (c.good()) c = ds->putAndInsertString(DcmTag(DCM_Modality, EVR_CS), "PT");
    if (c.good()) c = ds->putAndInsertString(DcmTag(DCM_StudyInstanceUID, EVR_UI), study);
    if (c.good()) c = ds->putAndInsertString(DcmTag(DCM_SeriesInstanceUID, EVR_UI), series);
    if (c.good()) c = ds->putAndInsertString(DcmTag(0x0029, 0x0010, EVR_LO), PRIVATE_CREATOR);
    if (c.good())
        c = ds->putAndInsertUint8Array(DcmTag(0x0029, 0x1010, EVR_OB), (const Uint8 *)header, (unsigned long)len);
    if (c.bad())
        return lf_fail(err, "%s: cannot build the DICOM dataset: %s", path, c.text());

    std::vector<uint8_t> chunk(1 << 16);
    DcmOutputBufferStream os(chunk.data(), (offile_off_t)chunk.size());
    void *p;
    offile_off_t got;
    ff.transferInit();
    while ((c = ff.write(os, EXS_LittleEndianExplicit, EET_ExplicitLength, NULL)) == EC_StreamNotifyClient) {
        os.flushBuffer(p, got);
        out.insert(out.end(), (uint8_t *)p, (uint8_t *)p + got);
    }
    ff.transferEnd();
    if (c.bad())
        return lf_fail(err, "%s: cannot serialise the DICOM dataset: %s", path, c.text());
    os.flush();
    os.flushBuffer(p, got);
    out.insert(out.end(), (uint8_t *)p, (uint8_t *)p + got);
    if (out.size() > 0xFFFFFFFFu)
        return lf_fail(err, "%s: DICOM part of %zu bytes, expected at most 4 GiB - 1 (uint32 length)", path,
                       out.size());
    return 0;
}

// A temporary file beside the target; closed and removed on destruction unless kept.
struct TempFile {
    std::string path;
    int fd = -1;
    bool keep = false;
    ~TempFile()
    {
        if (fd >= 0)
            close(fd);
        if (!keep && !path.empty())
            unlink(path.c_str());
    }
};

int write_all(int fd, const void *buf, size_t n, const std::string &path, ull &off, lf_error *err)
{
    const uint8_t *b = (const uint8_t *)buf;
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return lf_fail(err, "%s: offset %llu: cannot write %zu bytes: %s", path.c_str(), off, n,
                           w < 0 ? std::strerror(errno) : "no progress");
        b += w;
        n -= (size_t)w;
        off += (ull)w;
    }
    return 0;
}

// Appends the whole of data_path to tmp.
int copy_data(const char *data_path, TempFile &tmp, ull &off, lf_error *err)
{
    int in = open(data_path, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return lf_fail(err, "%s: cannot open the list-mode data: %s", data_path, std::strerror(errno));
    std::vector<uint8_t> buf(1 << 20);
    ull at = 0;
    int rc = 0;
    for (;;) {
        ssize_t r = read(in, buf.data(), buf.size());
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = lf_fail(err, "%s: offset %llu: cannot read the list-mode data: %s", data_path, at,
                         std::strerror(errno));
            break;
        }
        if (r == 0 || (rc = write_all(tmp.fd, buf.data(), (size_t)r, tmp.path, off, err)) != 0)
            break;
        at += (ull)r;
    }
    close(in);
    return rc;
}

int write_ptd(const char *out_path, const char *data_path, const char *header, lf_error *err)
{
    std::vector<uint8_t> dicom;
    if (build_dicom(header, out_path, dicom, err) != 0)
        return -1;
    TempFile tmp;
    tmp.path = std::string(out_path) + ".tmp.XXXXXX";
    tmp.fd = mkstemp(&tmp.path[0]);
    if (tmp.fd < 0) {
        int e = errno;
        tmp.path.clear();
        return lf_fail(err, "%s: cannot create a temporary file beside it: %s", out_path, std::strerror(e));
    }
    ull off = 0;
    uint32_t n = (uint32_t)dicom.size();
    uint8_t trailer[4 + LF_PTD_MAGIC_LEN] = {(uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)(n >> 24)};
    std::memcpy(trailer + 4, LF_PTD_MAGIC, LF_PTD_MAGIC_LEN);
    if (copy_data(data_path, tmp, off, err) != 0 || write_all(tmp.fd, dicom.data(), n, tmp.path, off, err) != 0 ||
        write_all(tmp.fd, trailer, sizeof trailer, tmp.path, off, err) != 0)
        return -1;
    // mkstemp creates 0600; a .ptd is data to share like any other output.
    if (fchmod(tmp.fd, 0644) != 0)
        return lf_fail(err, "%s: cannot set mode 0644: %s", tmp.path.c_str(), std::strerror(errno));
    if (fsync(tmp.fd) != 0)
        return lf_fail(err, "%s: cannot sync: %s", tmp.path.c_str(), std::strerror(errno));
    int fd = tmp.fd;
    tmp.fd = -1;
    if (close(fd) != 0)
        return lf_fail(err, "%s: cannot close: %s", tmp.path.c_str(), std::strerror(errno));
    if (rename(tmp.path.c_str(), out_path) != 0)
        return lf_fail(err, "%s: cannot rename %s into place: %s", out_path, tmp.path.c_str(), std::strerror(errno));
    tmp.keep = true;
    return 0;
}

} // namespace

int lf_ptd_dicom_header(const uint8_t *dicom, size_t n, const char *origin, uint64_t dicom_offset,
                                   char **text, size_t *text_len, lf_error *err)
{
    if (!origin)
        origin = "(buffer)";
    if (text_len)
        *text_len = 0;
    if (!text)
        return lf_fail(err, "%s: lf_ptd_dicom_header: no output pointer given", origin);
    *text = NULL;
    if (!dicom || n == 0)
        return lf_fail(err, "%s: offset %llu: DICOM part is empty, expected a DICOM dataset", origin,
                       (ull)dicom_offset);
    try {
        std::string s;
        if (header_from(dicom, n, origin, (ull)dicom_offset, s, err) != 0)
            return -1;
        char *t = (char *)std::malloc(s.size() + 1);
        if (!t)
            return lf_fail(err, "%s: out of memory for a %zu-byte header", origin, s.size());
        std::memcpy(t, s.data(), s.size());
        t[s.size()] = '\0';
        *text = t;
        if (text_len)
            *text_len = s.size();
        return 0;
    } catch (const std::exception &e) {
        return lf_fail(err, "%s: offset %llu: DICOM part cannot be read: %s", origin, (ull)dicom_offset, e.what());
    } catch (...) {
        return lf_fail(err, "%s: offset %llu: DICOM part cannot be read: unknown C++ exception", origin,
                       (ull)dicom_offset);
    }
}

int lf_ptd_write(const char *out_path, const char *data_path, const char *header_text, lf_error *err)
{
    if (!out_path || !data_path || !header_text)
        return lf_fail(err, "%s: lf_ptd_write: expected an output path, a data path and header text",
                       out_path ? out_path : "(null)");
    try {
        return write_ptd(out_path, data_path, header_text, err);
    } catch (const std::exception &e) {
        return lf_fail(err, "%s: cannot write the .ptd: %s", out_path, e.what());
    } catch (...) {
        return lf_fail(err, "%s: cannot write the .ptd: unknown C++ exception", out_path);
    }
}

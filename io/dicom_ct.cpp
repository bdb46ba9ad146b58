// lafov io: CT series as DICOM through DCMTK, behind the C API of dicom_ct.h.
//
// Writing (one CT Image Storage object per axial slice, explicit VR little endian):
//   - pixels: signed 16-bit (BitsAllocated = BitsStored = 16, HighBit 15, PixelRepresentation 1) with
//     Rescale Slope 1, Rescale Intercept 0, Rescale Type HU: stored = HU rounded to the nearest integer
//     (half away from zero), clamped to -32768..32767. Chosen over the 12-bit "HU + 1024" form because it
//     clamps nothing a CT can hold: noisy air below -1024 HU and dense bone/metal keep their values, so the
//     DICOM series carries the same statistics as the NIfTI volume (to within the 0.5 HU rounding).
//   - geometry: ImageOrientationPatient = the unit first two sform columns (1\0\0\0\1\0 for lafov's
//     axis-aligned grids), PixelSpacing = row spacing \ column spacing = dy \ dx, ImagePositionPatient of
//     slice k = sform * (0,0,k), SliceThickness = SpacingBetweenSlices = dz, SliceLocation = position
//     along the slice normal, PatientPosition HFS: patient coordinates are the scanner frame
//     (quadra-stream.md "CT").
//   - KVP (DS), Exposure (IS, mAs, rounded) and ExposureInuAs (IS, the exact value), one Study/Series/
//     Frame-of-Reference UID for the series, InstanceNumber 1..nz in slice order.
//   - the folder is built as DIR.tmp.XXXXXX beside DIR, every file and the folder synced, then moved into
//     place: an existing DIR is exchanged atomically (renameat2 RENAME_EXCHANGE, or, where the file system
//     lacks it, renamed aside to DIR.old.XXXXXX first) and removed only after the new one is in place. An
//     existing DIR is replaced only when it holds nothing but *.dcm files (a guard against wiping a
//     folder that is not a CT series); on any error nothing changes.
//
// Reading: every regular file in the folder that DCMTK parses and whose SOP Class is CT Image Storage
// (localizers, ImageType LOCALIZER, are skipped; other files are ignored). One series only; sorted by
// ImagePositionPatient . normal; sizes, spacing, orientation, bit depth checked for consistency, slices
// evenly spaced, no gantry tilt; PatientPosition HFS (or absent). HU = slope * stored + intercept per
// slice; Pixel Padding Value voxels become air (-1000 HU). Compressed transfer syntaxes are decoded when
// DCMTK has a decoder (RLE, JPEG, JPEG-LS registered here).
extern "C" {
#include "dicom_ct.h"
}

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcdict.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcrledrg.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmdata/dcvrda.h"
#include "dcmtk/dcmdata/dcvrtm.h"
#include "dcmtk/dcmdata/dcxfer.h"
#include "dcmtk/dcmjpeg/djdecode.h"
#include "dcmtk/dcmjpls/djdecode.h"
#include "dcmtk/oflog/oflog.h"
#include "dcmtk/ofstd/ofstd.h"

namespace {

const double AIR_HU = -1000.0;

// DCMTK logs to stderr by default; errors reach callers through lf_error. Decoders registered once so
// compressed vendor series can be read.
void init_dcmtk()
{
    static const bool done = [] {
        OFLog::getLogger("dcmtk").setLogLevel(OFLogger::OFF_LOG_LEVEL);
        DcmRLEDecoderRegistration::registerCodecs();
        DJDecoderRegistration::registerCodecs();
        DJLSDecoderRegistration::registerCodecs();
        return true;
    }();
    (void)done;
}

// ---------------------------------------------------------------- small helpers

// A DS value: at most 16 characters (DICOM PS3.5), as precise as fits.
std::string ds(double x)
{
    if (x == 0 || !std::isfinite(x))
        return "0";
    char b[40];
    for (int prec = 15; prec >= 1; prec--) {
        std::snprintf(b, sizeof b, "%.*g", prec, x);
        if (std::strlen(b) <= 16)
            return b;
    }
    return "0";
}

std::string ds_list(const double *x, int n)
{
    std::string s;
    for (int i = 0; i < n; i++) {
        if (i)
            s += '\\';
        s += ds(x[i]);
    }
    return s;
}

double dot3(const double *a, const double *b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

void cross3(const double *a, const double *b, double *c)
{
    c[0] = a[1] * b[2] - a[2] * b[1];
    c[1] = a[2] * b[0] - a[0] * b[2];
    c[2] = a[0] * b[1] - a[1] * b[0];
}

bool non_ascii(const char *s)
{
    for (; s && *s; s++)
        if ((unsigned char)*s >= 0x80)
            return true;
    return false;
}

// A C string field of lf_ct_info, bounded.
std::string field(const char *s, size_t cap)
{
    size_t n = 0;
    while (n < cap && s[n])
        n++;
    return std::string(s, n);
}

void copy_field(char *dst, size_t cap, const OFString &s)
{
    std::snprintf(dst, cap, "%s", s.c_str());
}

int sync_path(const std::string &p, lf_error *err, const char *what)
{
    int fd = open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return lf_fail(err, "%s: cannot open %s to sync it: %s", p.c_str(), what, std::strerror(errno));
    int rc = 0;
    if (fsync(fd) != 0 && errno != EINVAL) // EINVAL: a file system that cannot sync folders
        rc = lf_fail(err, "%s: cannot sync %s: %s", p.c_str(), what, std::strerror(errno));
    close(fd);
    return rc;
}

// Removes a flat folder (our own temporary or set-aside series): its files, then itself. Never recurses.
void remove_flat_dir(const std::string &dir)
{
    DIR *d = opendir(dir.c_str());
    if (d) {
        std::vector<std::string> names;
        while (struct dirent *e = readdir(d))
            if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0)
                names.push_back(e->d_name);
        closedir(d);
        for (const std::string &n : names)
            unlink((dir + "/" + n).c_str());
    }
    rmdir(dir.c_str());
}

bool ends_with_dcm(const char *name)
{
    size_t n = std::strlen(name);
    return n > 4 && strcasecmp(name + n - 4, ".dcm") == 0;
}

// ---------------------------------------------------------------- writing

struct Series {
    char study[100], series[100], frame[100];
    OFString date, time;
};

OFCondition put(DcmDataset *ds, const DcmTagKey &key, DcmEVR vr, const std::string &value)
{
    return ds->putAndInsertString(DcmTag(key, vr), value.c_str());
}

int write_slice(const std::string &path, const lf_volume *hu, const lf_ct_info *info, const Series &s, int k,
                const double row[3], const double col[3], const double nrm[3], const double sp[3],
                std::vector<Uint16> &pix, lf_error *err)
{
    const int nx = hu->n[0], ny = hu->n[1];
    const float *src = hu->data + (size_t)k * nx * ny;
    for (size_t i = 0; i < (size_t)nx * ny; i++) {
        double x = src[i];
        x = x < 0 ? std::ceil(x - 0.5) : std::floor(x + 0.5);
        x = x < -32768 ? -32768 : x > 32767 ? 32767 : x;
        pix[i] = (Uint16)(int16_t)x; // two's complement bit pattern of the signed value
    }
    double ipp[3];
    for (int a = 0; a < 3; a++)
        ipp[a] = hu->sform[a][2] * k + hu->sform[a][3];
    double iop[6] = {row[0], row[1], row[2], col[0], col[1], col[2]};
    double spacing[2] = {sp[1], sp[0]}; // row spacing (between rows: along j) \ column spacing (along i)

    char instance[100];
    dcmGenerateUniqueIdentifier(instance, SITE_INSTANCE_UID_ROOT);
    std::string name = info ? field(info->patient_name, sizeof info->patient_name) : "";
    std::string desc = info ? field(info->description, sizeof info->description) : "";
    double kvp = info ? info->kvp : 0, mas = info ? info->exposure_mas : 0;

    DcmFileFormat ff;
    DcmDataset *d = ff.getDataset();
    OFCondition c = EC_Normal;
    if (non_ascii(name.c_str()) || non_ascii(desc.c_str()))
        c = put(d, DCM_SpecificCharacterSet, EVR_CS, "ISO_IR 192");
    // SOP common, patient, study, series, frame of reference, equipment
    if (c.good()) c = put(d, DCM_ImageType, EVR_CS, "ORIGINAL\\PRIMARY\\AXIAL");
    if (c.good()) c = put(d, DCM_SOPClassUID, EVR_UI, UID_CTImageStorage);
    if (c.good()) c = put(d, DCM_SOPInstanceUID, EVR_UI, instance);
    if (c.good()) c = put(d, DCM_StudyDate, EVR_DA, s.date.c_str());
    if (c.good()) c = put(d, DCM_SeriesDate, EVR_DA, s.date.c_str());
    if (c.good()) c = put(d, DCM_ContentDate, EVR_DA, s.date.c_str());
    if (c.good()) c = put(d, DCM_StudyTime, EVR_TM, s.time.c_str());
    if (c.good()) c = put(d, DCM_SeriesTime, EVR_TM, s.time.c_str());
    if (c.good()) c = put(d, DCM_ContentTime, EVR_TM, s.time.c_str());
    if (c.good()) c = put(d, DCM_AccessionNumber, EVR_SH, "");
    if (c.good()) c = put(d, DCM_Modality, EVR_CS, "CT");
    if (c.good()) c = put(d, DCM_Manufacturer, EVR_LO, "lafov");
    if (c.good()) c = put(d, DCM_ReferringPhysicianName, EVR_PN, "");
    if (c.good() && !desc.empty()) c = put(d, DCM_SeriesDescription, EVR_LO, desc);
    if (c.good()) c = put(d, DCM_PatientName, EVR_PN, name);
    if (c.good()) c = put(d, DCM_PatientID, EVR_LO, "LAFOV");
    if (c.good()) c = put(d, DCM_PatientBirthDate, EVR_DA, "");
    if (c.good()) c = put(d, DCM_PatientSex, EVR_CS, "");
    if (c.good()) c = put(d, DCM_StudyInstanceUID, EVR_UI, s.study);
    if (c.good()) c = put(d, DCM_SeriesInstanceUID, EVR_UI, s.series);
    if (c.good()) c = put(d, DCM_StudyID, EVR_SH, "1");
    if (c.good()) c = put(d, DCM_SeriesNumber, EVR_IS, "1");
    if (c.good()) c = put(d, DCM_AcquisitionNumber, EVR_IS, "1");
    if (c.good()) c = put(d, DCM_InstanceNumber, EVR_IS, std::to_string(k + 1));
    if (c.good()) c = put(d, DCM_PatientPosition, EVR_CS, "HFS");
    if (c.good()) c = put(d, DCM_FrameOfReferenceUID, EVR_UI, s.frame);
    if (c.good()) c = put(d, DCM_PositionReferenceIndicator, EVR_LO, "");
    // CT acquisition
    if (c.good()) c = put(d, DCM_KVP, EVR_DS, kvp > 0 ? ds(kvp) : "");
    if (c.good() && mas > 0) c = put(d, DCM_Exposure, EVR_IS, std::to_string(std::lround(mas)));
    if (c.good() && mas > 0) c = put(d, DCM_ExposureInuAs, EVR_IS, std::to_string(std::llround(mas * 1000.0)));
    if (c.good()) c = put(d, DCM_SliceThickness, EVR_DS, ds(sp[2]));
    if (c.good()) c = put(d, DCM_SpacingBetweenSlices, EVR_DS, ds(sp[2]));
    // image plane
    if (c.good()) c = put(d, DCM_ImagePositionPatient, EVR_DS, ds_list(ipp, 3));
    if (c.good()) c = put(d, DCM_ImageOrientationPatient, EVR_DS, ds_list(iop, 6));
    if (c.good()) c = put(d, DCM_PixelSpacing, EVR_DS, ds_list(spacing, 2));
    if (c.good()) c = put(d, DCM_SliceLocation, EVR_DS, ds(dot3(ipp, nrm)));
    // image pixel and CT image
    if (c.good()) c = d->putAndInsertUint16(DCM_SamplesPerPixel, 1);
    if (c.good()) c = put(d, DCM_PhotometricInterpretation, EVR_CS, "MONOCHROME2");
    if (c.good()) c = d->putAndInsertUint16(DCM_Rows, (Uint16)ny);
    if (c.good()) c = d->putAndInsertUint16(DCM_Columns, (Uint16)nx);
    if (c.good()) c = d->putAndInsertUint16(DCM_BitsAllocated, 16);
    if (c.good()) c = d->putAndInsertUint16(DCM_BitsStored, 16);
    if (c.good()) c = d->putAndInsertUint16(DCM_HighBit, 15);
    if (c.good()) c = d->putAndInsertUint16(DCM_PixelRepresentation, 1);
    if (c.good()) c = put(d, DCM_RescaleIntercept, EVR_DS, "0");
    if (c.good()) c = put(d, DCM_RescaleSlope, EVR_DS, "1");
    if (c.good()) c = put(d, DCM_RescaleType, EVR_LO, "HU");
    if (c.good()) c = put(d, DCM_WindowCenter, EVR_DS, "40");
    if (c.good()) c = put(d, DCM_WindowWidth, EVR_DS, "400");
    if (c.good())
        c = d->putAndInsertUint16Array(DcmTag(DCM_PixelData, EVR_OW), pix.data(), (unsigned long)pix.size());
    if (c.bad())
        return lf_fail(err, "%s: cannot build the DICOM dataset of slice %d: %s", path.c_str(), k, c.text());
    c = ff.saveFile(path.c_str(), EXS_LittleEndianExplicit, EET_ExplicitLength);
    if (c.bad())
        return lf_fail(err, "%s: cannot write slice %d: %s", path.c_str(), k, c.text());
    return sync_path(path, err, "the slice");
}

// Replaces (or creates) target with the finished folder tmp. On failure, target is as before.
int move_into_place(const std::string &tmp, const std::string &target, bool exists, lf_error *err)
{
    if (!exists) {
        if (rename(tmp.c_str(), target.c_str()) != 0)
            return lf_fail(err, "%s: cannot move the finished series %s into place: %s", target.c_str(), tmp.c_str(),
                           std::strerror(errno));
        return 0;
    }
#ifdef RENAME_EXCHANGE
    if (renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) == 0) {
        remove_flat_dir(tmp); // now the old series
        return 0;
    }
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
        return lf_fail(err, "%s: cannot exchange it with the finished series %s: %s", target.c_str(), tmp.c_str(),
                       std::strerror(errno));
#endif
    // No atomic exchange here: set the old folder aside (rename onto an empty folder replaces it), move
    // the new one in, put the old one back if that fails.
    std::string aside = target + ".old.XXXXXX";
    if (!mkdtemp(&aside[0]))
        return lf_fail(err, "%s: cannot create a folder beside it to set the old series aside: %s", target.c_str(),
                       std::strerror(errno));
    if (rename(target.c_str(), aside.c_str()) != 0) {
        int e = errno;
        rmdir(aside.c_str());
        return lf_fail(err, "%s: cannot set the old series aside: %s", target.c_str(), std::strerror(e));
    }
    if (rename(tmp.c_str(), target.c_str()) != 0) {
        int e = errno;
        rename(aside.c_str(), target.c_str());
        return lf_fail(err, "%s: cannot move the finished series %s into place: %s", target.c_str(), tmp.c_str(),
                       std::strerror(e));
    }
    remove_flat_dir(aside);
    return 0;
}

int write_series(const char *dir, const lf_volume *hu, const lf_ct_info *info, lf_error *err)
{
    init_dcmtk();
    std::string target(dir);
    while (target.size() > 1 && target.back() == '/')
        target.pop_back();
    if (target.empty() || target == "/" || target == "." || target == "..")
        return lf_fail(err, "%s: expected a folder name for the CT series", dir);
    if (!dcmDataDict.isDictionaryLoaded())
        return lf_fail(err, "%s: DCMTK data dictionary not loaded (check DCMDICTPATH), expected one to write DICOM",
                       dir);

    // ---- the volume
    if (!hu || !hu->data)
        return lf_fail(err, "%s: no CT volume given", dir);
    const int nx = hu->n[0], ny = hu->n[1], nz = hu->n[2];
    if (nx < 1 || ny < 1 || nz < 1 || nx > 65535 || ny > 65535 ||
        (uint64_t)nx * (uint64_t)ny * (uint64_t)nz > (1ull << 31))
        return lf_fail(err, "%s: CT volume of %d x %d x %d voxels, expected 1..65535 columns and rows and at most "
                            "2^31 voxels",
                       dir, nx, ny, nz);
    double colv[3][3], sp[3];
    for (int c = 0; c < 3; c++) {
        for (int r = 0; r < 3; r++) {
            if (!std::isfinite(hu->sform[r][c]) || !std::isfinite(hu->sform[r][3]))
                return lf_fail(err, "%s: CT volume sform has non-finite elements", dir);
            colv[c][r] = hu->sform[r][c];
        }
        sp[c] = std::sqrt(dot3(colv[c], colv[c]));
        if (!(sp[c] > 0))
            return lf_fail(err, "%s: CT volume sform column %d is zero", dir, c);
    }
    double row[3], col[3], nrm[3], slice_dir[3];
    for (int a = 0; a < 3; a++) {
        row[a] = colv[0][a] / sp[0];
        col[a] = colv[1][a] / sp[1];
        slice_dir[a] = colv[2][a] / sp[2];
    }
    cross3(row, col, nrm);
    if (std::fabs(dot3(row, col)) > 1e-6 || std::fabs(dot3(row, slice_dir)) > 1e-6 ||
        std::fabs(dot3(col, slice_dir)) > 1e-6)
        return lf_fail(err, "%s: CT volume sform columns are not orthogonal, expected an axis-aligned (or rigidly "
                            "rotated) grid that DICOM slices can describe",
                       dir);
    for (size_t i = 0, n = (size_t)nx * ny * nz; i < n; i++)
        if (!std::isfinite(hu->data[i]))
            return lf_fail(err, "%s: CT voxel (%zu, %zu, %zu) is %g, expected a finite HU value", dir,
                           i % (size_t)nx, i / (size_t)nx % (size_t)ny, i / ((size_t)nx * ny), (double)hu->data[i]);

    // ---- the existing target
    struct stat st;
    bool exists = lstat(target.c_str(), &st) == 0;
    if (!exists && errno != ENOENT)
        return lf_fail(err, "%s: cannot inspect: %s", target.c_str(), std::strerror(errno));
    if (exists) {
        if (!S_ISDIR(st.st_mode))
            return lf_fail(err, "%s: exists and is not a folder, expected a CT series folder to replace", dir);
        DIR *d = opendir(target.c_str());
        if (!d)
            return lf_fail(err, "%s: cannot list the existing folder: %s", dir, std::strerror(errno));
        std::string bad;
        while (struct dirent *e = readdir(d)) {
            if (!std::strcmp(e->d_name, ".") || !std::strcmp(e->d_name, ".."))
                continue;
            struct stat es;
            std::string p = target + "/" + e->d_name;
            if (lstat(p.c_str(), &es) != 0 || !S_ISREG(es.st_mode) || !ends_with_dcm(e->d_name)) {
                bad = e->d_name;
                break;
            }
        }
        closedir(d);
        if (!bad.empty())
            return lf_fail(err, "%s: exists and holds '%s', which is not a .dcm file: refusing to replace a folder "
                                "that is not a CT series (remove it first)",
                           dir, bad.c_str());
    }

    // ---- build the new series beside it
    std::string tmp = target + ".tmp.XXXXXX";
    if (!mkdtemp(&tmp[0]))
        return lf_fail(err, "%s: cannot create a temporary folder beside it: %s", dir, std::strerror(errno));
    chmod(tmp.c_str(), 0755);
    Series s;
    dcmGenerateUniqueIdentifier(s.study, SITE_STUDY_UID_ROOT);
    dcmGenerateUniqueIdentifier(s.series, SITE_SERIES_UID_ROOT);
    dcmGenerateUniqueIdentifier(s.frame, SITE_SERIES_UID_ROOT);
    DcmDate::getCurrentDate(s.date);
    DcmTime::getCurrentTime(s.time);
    std::vector<Uint16> pix((size_t)nx * ny);
    int rc = 0;
    for (int k = 0; k < nz && rc == 0; k++) {
        char name[32];
        std::snprintf(name, sizeof name, "/CT%04d.dcm", k + 1);
        rc = write_slice(tmp + name, hu, info, s, k, row, col, nrm, sp, pix, err);
    }
    if (rc == 0)
        rc = sync_path(tmp, err, "the new series folder");
    if (rc == 0)
        rc = move_into_place(tmp, target, exists, err);
    if (rc != 0) {
        remove_flat_dir(tmp);
        return -1;
    }
    // make the rename durable (best effort: the new series is in place whatever happens here)
    size_t slash = target.find_last_of('/');
    std::string parent = slash == std::string::npos ? "." : slash == 0 ? "/" : target.substr(0, slash);
    lf_error ignored;
    (void)sync_path(parent, &ignored, "the folder holding the series");
    return 0;
}

// ---------------------------------------------------------------- reading

struct Slice {
    std::string path;
    std::string series_uid;
    Uint16 rows = 0, cols = 0, bits_alloc = 0, bits_stored = 0, high_bit = 0, pixel_rep = 0;
    double ipp[3] = {0, 0, 0}, iop[6] = {0, 0, 0, 0, 0, 0}, spacing[2] = {0, 0};
    double thickness = 0, slope = 1, inter = 0;
    double kvp = 0, mas = 0;
    bool has_kvp = false, has_mas = false;
    double pos = 0; // along the normal
};

// n numeric values of a string element (DS, IS, ...). Returns the count found (0: absent or unparsable).
int get_numbers(DcmDataset *d, const DcmTagKey &key, double *out, int n)
{
    int got = 0;
    for (int i = 0; i < n; i++) {
        OFString s;
        if (d->findAndGetOFString(key, s, (unsigned long)i).bad() || s.empty())
            break;
        OFBool ok = OFFalse;
        double x = OFStandard::atof(s.c_str(), &ok);
        if (!ok || !std::isfinite(x))
            break;
        out[i] = x;
        got++;
    }
    return got;
}

// Outcome of looking at one file: a CT slice, something to skip, or an error (message in err).
enum Look { LOOK_CT, LOOK_SKIP, LOOK_ERROR };

Look look(const std::string &path, Slice &s, std::string &why_skipped, lf_error *err)
{
    DcmFileFormat ff;
    OFCondition c = ff.loadFile(path.c_str());
    if (c.bad()) {
        why_skipped = "not DICOM";
        return LOOK_SKIP;
    }
    DcmDataset *d = ff.getDataset();
    OFString sop;
    d->findAndGetOFString(DCM_SOPClassUID, sop);
    if (sop != UID_CTImageStorage) {
        why_skipped = sop.empty() ? "no SOP Class" : std::string("SOP Class ") + sop.c_str();
        return LOOK_SKIP;
    }
    OFString type3;
    if (d->findAndGetOFString(DCM_ImageType, type3, 2).good() && type3 == "LOCALIZER") {
        why_skipped = "localizer";
        return LOOK_SKIP;
    }
    const char *p = path.c_str();
    s.path = path;
    OFString uid;
    d->findAndGetOFString(DCM_SeriesInstanceUID, uid);
    s.series_uid = uid.c_str();

    Uint16 spp = 1;
    if (d->findAndGetUint16(DCM_SamplesPerPixel, spp).good() && spp != 1)
        return lf_fail(err, "%s: SamplesPerPixel %u, expected 1 (a grey-scale CT slice)", p, spp), LOOK_ERROR;
    double frames = 1;
    if (get_numbers(d, DCM_NumberOfFrames, &frames, 1) == 1 && frames != 1)
        return lf_fail(err, "%s: NumberOfFrames %g, expected one slice per file", p, frames), LOOK_ERROR;
    struct {
        DcmTagKey key;
        Uint16 *dst;
        const char *name;
    } us[] = {{DCM_Rows, &s.rows, "Rows"},
              {DCM_Columns, &s.cols, "Columns"},
              {DCM_BitsAllocated, &s.bits_alloc, "BitsAllocated"},
              {DCM_PixelRepresentation, &s.pixel_rep, "PixelRepresentation"}};
    for (auto &u : us)
        if (d->findAndGetUint16(u.key, *u.dst).bad())
            return lf_fail(err, "%s: no %s, expected a complete CT image", p, u.name), LOOK_ERROR;
    if (s.rows == 0 || s.cols == 0)
        return lf_fail(err, "%s: %u rows x %u columns, expected a non-empty image", p, s.rows, s.cols), LOOK_ERROR;
    if (s.bits_alloc != 8 && s.bits_alloc != 16)
        return lf_fail(err, "%s: BitsAllocated %u, expected 8 or 16", p, s.bits_alloc), LOOK_ERROR;
    if (d->findAndGetUint16(DCM_BitsStored, s.bits_stored).bad())
        s.bits_stored = s.bits_alloc;
    if (d->findAndGetUint16(DCM_HighBit, s.high_bit).bad())
        s.high_bit = (Uint16)(s.bits_stored - 1);
    if (s.bits_stored < 1 || s.bits_stored > s.bits_alloc || s.high_bit >= s.bits_alloc ||
        s.high_bit + 1 < s.bits_stored)
        return lf_fail(err, "%s: BitsStored %u / HighBit %u inconsistent with BitsAllocated %u", p, s.bits_stored,
                       s.high_bit, s.bits_alloc),
               LOOK_ERROR;
    if (s.pixel_rep > 1)
        return lf_fail(err, "%s: PixelRepresentation %u, expected 0 or 1", p, s.pixel_rep), LOOK_ERROR;
    if (get_numbers(d, DCM_ImagePositionPatient, s.ipp, 3) != 3)
        return lf_fail(err, "%s: no ImagePositionPatient (0020,0032) with 3 values", p), LOOK_ERROR;
    if (get_numbers(d, DCM_ImageOrientationPatient, s.iop, 6) != 6)
        return lf_fail(err, "%s: no ImageOrientationPatient (0020,0037) with 6 values", p), LOOK_ERROR;
    if (get_numbers(d, DCM_PixelSpacing, s.spacing, 2) != 2 || !(s.spacing[0] > 0) || !(s.spacing[1] > 0))
        return lf_fail(err, "%s: no PixelSpacing (0028,0030) with 2 positive values", p), LOOK_ERROR;
    if (get_numbers(d, DCM_SliceThickness, &s.thickness, 1) != 1)
        s.thickness = 0;
    if (get_numbers(d, DCM_RescaleSlope, &s.slope, 1) != 1 || s.slope == 0)
        s.slope = 1;
    if (get_numbers(d, DCM_RescaleIntercept, &s.inter, 1) != 1)
        s.inter = 0;
    s.has_kvp = get_numbers(d, DCM_KVP, &s.kvp, 1) == 1;
    double uas = 0;
    if (get_numbers(d, DCM_ExposureInuAs, &uas, 1) == 1) {
        s.mas = uas / 1000.0;
        s.has_mas = true;
    } else {
        s.has_mas = get_numbers(d, DCM_Exposure, &s.mas, 1) == 1;
    }
    OFString pos;
    if (d->findAndGetOFString(DCM_PatientPosition, pos).good() && !pos.empty() && pos != "HFS")
        return lf_fail(err, "%s: PatientPosition %s, expected HFS (head first supine: the only orientation whose "
                            "patient coordinates are the scanner frame, quadra-stream.md \"CT\")",
                       p, pos.c_str()),
               LOOK_ERROR;
    return LOOK_CT;
}

// Reads the pixels of slice s into out (HU), checking the file still matches what look() saw.
int read_pixels(const Slice &s, float *out, lf_error *err)
{
    const char *p = s.path.c_str();
    DcmFileFormat ff;
    OFCondition c = ff.loadFile(p);
    if (c.bad())
        return lf_fail(err, "%s: cannot read the slice again: %s", p, c.text());
    DcmDataset *d = ff.getDataset();
    Uint16 rows = 0, cols = 0;
    d->findAndGetUint16(DCM_Rows, rows);
    d->findAndGetUint16(DCM_Columns, cols);
    if (rows != s.rows || cols != s.cols)
        return lf_fail(err, "%s: changed while being read", p);
    E_TransferSyntax xfer = d->getOriginalXfer();
    if (DcmXfer(xfer).isEncapsulated()) {
        c = d->chooseRepresentation(EXS_LittleEndianExplicit, NULL);
        if (c.bad() || !d->canWriteXfer(EXS_LittleEndianExplicit))
            return lf_fail(err, "%s: compressed pixel data (%s) cannot be decoded: %s", p, DcmXfer(xfer).getXferName(),
                           c.bad() ? c.text() : "no decoder");
    }
    const size_t n = (size_t)s.rows * s.cols;
    unsigned long count = 0;
    const Uint16 *w16 = NULL;
    const Uint8 *w8 = NULL;
    if (s.bits_alloc == 16)
        c = d->findAndGetUint16Array(DCM_PixelData, w16, &count);
    else
        c = d->findAndGetUint8Array(DCM_PixelData, w8, &count);
    if (c.bad() || (!w16 && !w8))
        return lf_fail(err, "%s: no readable PixelData (7fe0,0010): %s", p, c.bad() ? c.text() : "empty");
    if (count < n)
        return lf_fail(err, "%s: PixelData holds %lu values, expected %zu (%u rows x %u columns)", p, count, n, s.rows,
                       s.cols);

    // padding (0028,0120): US or SS, compared with the raw word
    bool has_pad = false;
    Uint16 pad = 0;
    Sint16 spad = 0;
    if (d->findAndGetUint16(DCM_PixelPaddingValue, pad).good())
        has_pad = true;
    else if (d->findAndGetSint16(DCM_PixelPaddingValue, spad).good()) {
        has_pad = true;
        pad = (Uint16)spad;
    }
    const int shift = s.high_bit + 1 - s.bits_stored;
    const uint32_t mask = s.bits_stored >= 32 ? 0xFFFFFFFFu : ((1u << s.bits_stored) - 1u);
    const uint32_t sign = 1u << (s.bits_stored - 1);
    const uint32_t wmask = s.bits_alloc == 16 ? 0xFFFFu : 0xFFu;
    for (size_t i = 0; i < n; i++) {
        uint32_t raw = w16 ? w16[i] : w8[i];
        if (has_pad && raw == (pad & wmask)) {
            out[i] = (float)AIR_HU;
            continue;
        }
        uint32_t u = (raw >> shift) & mask;
        double v = (s.pixel_rep && (u & sign)) ? (double)(int64_t)u - (double)(mask + 1ull) : (double)u;
        out[i] = (float)(s.slope * v + s.inter);
    }
    return 0;
}

int read_series(const char *dir, lf_volume *hu, lf_ct_info *info, lf_error *err)
{
    init_dcmtk();
    DIR *dp = opendir(dir);
    if (!dp)
        return lf_fail(err, "%s: cannot open the CT folder: %s", dir, std::strerror(errno));
    std::vector<std::string> names;
    while (struct dirent *e = readdir(dp))
        if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0)
            names.push_back(e->d_name);
    closedir(dp);
    std::sort(names.begin(), names.end());

    std::vector<Slice> sl;
    size_t skipped = 0;
    std::string skip_example;
    for (const std::string &nm : names) {
        std::string path = std::string(dir) + "/" + nm;
        struct stat st;
        if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        Slice s;
        std::string why;
        Look l = look(path, s, why, err);
        if (l == LOOK_ERROR)
            return -1;
        if (l == LOOK_SKIP) {
            if (skipped++ == 0)
                skip_example = nm + " (" + why + ")";
            continue;
        }
        if (!sl.empty() && s.series_uid != sl[0].series_uid)
            return lf_fail(err, "%s: belongs to series %s but %s to series %s, expected one CT series per folder",
                           path.c_str(), s.series_uid.c_str(), sl[0].path.c_str(), sl[0].series_uid.c_str());
        sl.push_back(s);
    }
    if (sl.empty()) {
        if (skipped)
            return lf_fail(err, "%s: no CT Image Storage slice among %zu files (e.g. %s)", dir, skipped,
                           skip_example.c_str());
        return lf_fail(err, "%s: no CT Image Storage slice (the folder holds no files)", dir);
    }

    // ---- consistency and geometry (first slice as reference)
    const Slice r = sl[0]; // a copy: sl is sorted below
    double row[3] = {r.iop[0], r.iop[1], r.iop[2]}, col[3] = {r.iop[3], r.iop[4], r.iop[5]}, nrm[3];
    double lr = std::sqrt(dot3(row, row)), lc = std::sqrt(dot3(col, col));
    if (std::fabs(lr - 1) > 1e-3 || std::fabs(lc - 1) > 1e-3 || std::fabs(dot3(row, col)) > 1e-3)
        return lf_fail(err, "%s: ImageOrientationPatient %s is not two orthogonal unit vectors", r.path.c_str(),
                       ds_list(r.iop, 6).c_str());
    for (int a = 0; a < 3; a++) {
        row[a] /= lr;
        col[a] /= lc;
    }
    cross3(row, col, nrm);
    double ln = std::sqrt(dot3(nrm, nrm));
    for (int a = 0; a < 3; a++)
        nrm[a] /= ln;
    for (Slice &s : sl) {
        const char *p = s.path.c_str();
        if (s.rows != r.rows || s.cols != r.cols)
            return lf_fail(err, "%s: %u rows x %u columns, but %s has %u x %u: expected one size for the series", p,
                           s.rows, s.cols, r.path.c_str(), r.rows, r.cols);
        if (s.bits_alloc != r.bits_alloc)
            return lf_fail(err, "%s: BitsAllocated %u, but %s has %u", p, s.bits_alloc, r.path.c_str(), r.bits_alloc);
        for (int a = 0; a < 2; a++)
            if (std::fabs(s.spacing[a] - r.spacing[a]) > 1e-4 * r.spacing[a])
                return lf_fail(err, "%s: PixelSpacing %s, but %s has %s: expected one spacing for the series", p,
                               ds_list(s.spacing, 2).c_str(), r.path.c_str(), ds_list(r.spacing, 2).c_str());
        for (int a = 0; a < 6; a++)
            if (std::fabs(s.iop[a] - r.iop[a]) > 1e-4)
                return lf_fail(err, "%s: ImageOrientationPatient %s, but %s has %s: expected one orientation", p,
                               ds_list(s.iop, 6).c_str(), r.path.c_str(), ds_list(r.iop, 6).c_str());
        s.pos = dot3(s.ipp, nrm);
    }
    std::stable_sort(sl.begin(), sl.end(), [](const Slice &a, const Slice &b) { return a.pos < b.pos; });
    const size_t nz = sl.size();
    const double dx = r.spacing[1], dy = r.spacing[0];
    const double dz = nz > 1 ? (sl[nz - 1].pos - sl[0].pos) / (double)(nz - 1) : (r.thickness > 0 ? r.thickness : 1.0);
    const double xytol = std::max(0.01, 0.01 * std::min(dx, dy));
    std::vector<double> steps;
    for (size_t k = 1; k < nz; k++) {
        double step = sl[k].pos - sl[k - 1].pos;
        if (step < 1e-3)
            return lf_fail(err, "%s: at the same position along the slice normal (%.3f mm) as %s, expected one slice "
                                "per position",
                           sl[k].path.c_str(), sl[k].pos, sl[k - 1].path.c_str());
        steps.push_back(step);
    }
    if (nz > 1) {
        // the typical step (median) names the odd one out; the grid then spans first to last slice
        std::vector<double> sorted(steps);
        std::nth_element(sorted.begin(), sorted.begin() + sorted.size() / 2, sorted.end());
        double typical = sorted[sorted.size() / 2];
        const double ztol = std::max(0.01, 0.01 * typical);
        for (size_t k = 1; k < nz; k++)
            if (std::fabs(steps[k - 1] - typical) > ztol)
                return lf_fail(err, "%s: %.3f mm from the previous slice %s, expected evenly spaced slices (%.3f mm)",
                               sl[k].path.c_str(), steps[k - 1], sl[k - 1].path.c_str(), typical);
    }
    for (size_t k = 0; k < nz; k++) {
        double off[3];
        for (int a = 0; a < 3; a++)
            off[a] = (sl[k].ipp[a] - sl[0].ipp[a]) - (sl[k].pos - sl[0].pos) * nrm[a];
        if (std::sqrt(dot3(off, off)) > xytol)
            return lf_fail(err, "%s: ImagePositionPatient %s is shifted in-plane by %.3f mm from %s's, expected slices "
                                "stacked along the normal (gantry tilt is not supported)",
                           sl[k].path.c_str(), ds_list(sl[k].ipp, 3).c_str(), std::sqrt(dot3(off, off)),
                           sl[0].path.c_str());
    }

    // ---- the volume
    lf_volume v;
    std::memset(&v, 0, sizeof v);
    const size_t plane = (size_t)r.rows * r.cols;
    if ((uint64_t)plane * nz > (1ull << 31))
        return lf_fail(err, "%s: %zu slices of %u x %u, expected at most 2^31 voxels", dir, nz, r.cols, r.rows);
    v.data = (float *)std::malloc(plane * nz * sizeof(float));
    if (!v.data)
        return lf_fail(err, "%s: out of memory for %zu slices of %u x %u", dir, nz, r.cols, r.rows);
    v.n[0] = r.cols;
    v.n[1] = r.rows;
    v.n[2] = (int)nz;
    v.vox_mm[0] = dx;
    v.vox_mm[1] = dy;
    v.vox_mm[2] = dz;
    for (int a = 0; a < 3; a++) {
        v.sform[a][0] = row[a] * dx;
        v.sform[a][1] = col[a] * dy;
        v.sform[a][2] = nrm[a] * dz;
        v.sform[a][3] = sl[0].ipp[a];
    }
    for (size_t k = 0; k < nz; k++)
        if (read_pixels(sl[k], v.data + k * plane, err) != 0) {
            std::free(v.data);
            return -1;
        }
    double kvp = 0, mas = 0;
    size_t nmas = 0;
    for (const Slice &s : sl) {
        if (kvp == 0 && s.has_kvp)
            kvp = s.kvp;
        if (s.has_mas) {
            mas += s.mas;
            nmas++;
        }
    }
    if (kvp > 0)
        std::snprintf(v.descrip, sizeof v.descrip, "kvp=%g", kvp);
    if (info) {
        std::memset(info, 0, sizeof *info);
        info->kvp = kvp;
        info->exposure_mas = nmas ? mas / (double)nmas : 0;
        DcmFileFormat ff;
        if (ff.loadFile(sl[0].path.c_str()).good()) {
            OFString s;
            if (ff.getDataset()->findAndGetOFString(DCM_PatientName, s).good())
                copy_field(info->patient_name, sizeof info->patient_name, s);
            if (ff.getDataset()->findAndGetOFString(DCM_SeriesDescription, s).good())
                copy_field(info->description, sizeof info->description, s);
        }
    }
    *hu = v;
    return 0;
}

} // namespace

int lf_dicom_ct_write(const char *dir, const lf_volume *hu, const lf_ct_info *info, lf_error *err)
{
    if (!dir)
        return lf_fail(err, "lf_dicom_ct_write: no folder given");
    try {
        return write_series(dir, hu, info, err);
    } catch (const std::exception &e) {
        return lf_fail(err, "%s: cannot write the CT series: %s", dir, e.what());
    } catch (...) {
        return lf_fail(err, "%s: cannot write the CT series: unknown C++ exception", dir);
    }
}

int lf_dicom_ct_read(const char *dir, lf_volume *hu, lf_ct_info *info, lf_error *err)
{
    if (!dir)
        return lf_fail(err, "lf_dicom_ct_read: no folder given");
    if (!hu)
        return lf_fail(err, "%s: lf_dicom_ct_read: no output volume given", dir);
    std::memset(hu, 0, sizeof *hu);
    try {
        return read_series(dir, hu, info, err);
    } catch (const std::exception &e) {
        return lf_fail(err, "%s: cannot read the CT series: %s", dir, e.what());
    } catch (...) {
        return lf_fail(err, "%s: cannot read the CT series: unknown C++ exception", dir);
    }
}

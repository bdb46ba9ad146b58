/* lafov core: the scanner model (crystals, rings, positions, LORs, acceptance).
 *
 * A scanner is data: io/scanner_file.h fills an lf_scanner from data/scanners/NAME.scanner (format in
 * docs/scanner-format.md); nothing in the code branches on which scanner it is.
 *
 * Layout model (shared by every scanner):
 *   transaxial: `blocks_t` blocks per ring, each `crystals_per_block_t` real crystals plus
 *     `gap_slots_t` virtual slots (before or after the real ones); slots_t = blocks_t * (cpb + gap)
 *     slots are equally spaced in angle, phi = 2*pi*p/slots_t + angle_offset_rad, measured from +x
 *     towards +y.
 *   axial: `units_z` units of `rings_per_unit` rings with `gap_rings` virtual rings between units;
 *     axial slot s = u*(rings_per_unit + gap_rings) + r; slots_z = units*rings_per_unit +
 *     (units-1)*gap_rings; z = (s - (slots_z-1)/2) * ring_pitch_mm.
 *   stream numbering: crystal id = ring * crystals_per_ring + k. With numbering REAL (Quadra
 *     contract) k counts real crystals only (crystals_per_ring = blocks_t*cpb); with numbering SLOTS
 *     (PETLINK sinogram scanners such as the mMR) k counts slots, virtual ones included.
 *   LOR endpoints are at radius ring_radius_mm + doi_mm (mean depth of interaction).
 *   Acceptance: |s_a - s_b| <= mrd, counted in axial slots (virtual rings included), a != b.
 *   Blocks (for QC and singles): a block is axial_crystals_per_block rings x crystals_per_block_t
 *     crystals; block index = block_ring * blocks_t + transaxial block.
 */
#ifndef LF_SCANNER_H
#define LF_SCANNER_H

#include <stdint.h>

#include "error.h"

typedef enum { LF_NUMBERING_REAL = 0, LF_NUMBERING_SLOTS = 1 } lf_numbering;
typedef enum { LF_FORMAT_QUADRA64 = 0, LF_FORMAT_PETLINK32 = 1 } lf_lm_format;

typedef struct lf_scanner {
    char name[64];        /* short name, e.g. "quadra" (the file's stem) */
    char full_name[128];
    int system_code;      /* Interfile "originating system"; 0 = none */
    lf_lm_format format;  /* native list-mode format */

    /* transaxial */
    int blocks_t;
    int crystals_per_block_t;
    int gap_slots_t;
    int gap_before;        /* 1: virtual slots precede the real crystals in each block */
    lf_numbering numbering;

    /* axial */
    int units_z;
    int rings_per_unit;
    int gap_rings;
    int axial_crystals_per_block;

    double ring_radius_mm;
    double doi_mm;
    double ring_pitch_mm;
    double angle_offset_rad;

    /* timing and energy */
    int tof_bins;          /* 1 = non-TOF; odd, centred on 0 */
    double tof_bin_width_ps;
    double tof_fwhm_ps;
    double coincidence_window_ns;
    double energy_low_kev, energy_high_kev;
    int mrd;               /* default maximum ring difference, in axial slots */

    /* detection model of the simulator (sim/detector.h); 0 when the file does not say */
    double crystal_depth_mm;
    double crystal_mu_per_cm;   /* crystal attenuation at 511 keV (LSO 0.869 1/cm, the default) */
    double energy_resolution;   /* FWHM fraction at 511 keV */
    double photopeak_fraction;  /* calibration constant */

    /* absolute system response (quadra-stream.md, "System response"): true counts per second per MBq of
     * a 700 mm line source in air on the axis, centred, at ring difference line_sensitivity_mrd; the
     * reconstruction's nominal calibration until a norm exists. 0 when the file does not say. */
    double line_sensitivity_kcps_mbq;
    int line_sensitivity_mrd;

    /* PETLINK sinogram layout (format PETLINK32 only; 0 otherwise) */
    int sino_tang_bins;
    int sino_views;

    /* derived by lf_scanner_finish() */
    int crystals_per_ring; /* stream numbering */
    int rings;
    int n_crystals;
    int slots_t;
    int slots_z;
    int blocks_z;          /* block rings */
    int n_blocks;
} lf_scanner;

/* Validates the primary fields and fills the derived ones. Errors name the offending field. */
int lf_scanner_finish(lf_scanner *sc, lf_error *err);

static inline int lf_crystal_ring(const lf_scanner *sc, uint32_t id) { return (int)(id / (uint32_t)sc->crystals_per_ring); }
static inline int lf_crystal_index(const lf_scanner *sc, uint32_t id) { return (int)(id % (uint32_t)sc->crystals_per_ring); }
static inline uint32_t lf_crystal_id(const lf_scanner *sc, int ring, int k) { return (uint32_t)ring * (uint32_t)sc->crystals_per_ring + (uint32_t)k; }

/* Transaxial slot (0..slots_t-1) of in-ring index k. */
int lf_crystal_slot_t(const lf_scanner *sc, int k);
/* 1 when in-ring index k is a virtual (gap) slot; only possible with numbering SLOTS. */
int lf_crystal_is_virtual(const lf_scanner *sc, int k);
/* Transaxial block (0..blocks_t-1) of in-ring index k. */
int lf_crystal_block_t(const lf_scanner *sc, int k);
/* Axial slot (0..slots_z-1) of a ring. */
int lf_ring_slot_z(const lf_scanner *sc, int ring);
/* Block index of a crystal id (block_ring * blocks_t + transaxial block). */
int lf_crystal_block(const lf_scanner *sc, uint32_t id);

/* Angle (rad, from +x towards +y) of in-ring index k, and axial position (mm) of a ring. */
double lf_crystal_phi_rad(const lf_scanner *sc, int k);
double lf_ring_z_mm(const lf_scanner *sc, int ring);
/* Interaction point (radius + doi) of a crystal, scanner frame, mm. */
void lf_crystal_position_mm(const lf_scanner *sc, uint32_t id, double xyz[3]);
/* LOR endpoints: p1 at crystal a, p2 at crystal b (the TOF convention's order). */
void lf_lor_endpoints_mm(const lf_scanner *sc, uint32_t a, uint32_t b, float p1[3], float p2[3]);

/* 1 when (a, b) is a valid pair within maximum ring difference mrd (axial slots), 0 otherwise. */
int lf_pair_accepted(const lf_scanner *sc, uint32_t a, uint32_t b, int mrd);

#endif

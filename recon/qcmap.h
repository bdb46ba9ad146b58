/* lafov recon: the detector QC map — per-crystal prompt fan sums as a crystal x ring picture.
 * x: in-ring crystal index (stream numbering), y: ring (ring 0 at the top); each crystal is a
 * sx x sy pixel cell so small scanners stay legible. Colour: a perceptual dark-blue -> yellow ramp of
 * counts / (the 99th percentile over real crystals), so hot outliers do not wash the map out;
 * virtual slots mid grey; real crystals with zero counts red. Block borders in thin dark lines. */
#ifndef LF_QCMAP_H
#define LF_QCMAP_H

#include <stdint.h>

#include "fansums.h"

int lf_qc_map_rgb(const lf_fansums *f, const lf_scanner *sc, uint8_t **rgb, int *width, int *height, lf_error *err);

#endif

/* lafov recon: nominal absolute calibration (see calibration.h). */
#include "calibration.h"

#include <math.h>
#include <stdlib.h>

#include "../projectors/projector.h"
#include "sensitivity.h"

#define LF_LINE_LENGTH_MM 700.0
#define LF_LINE_VOXEL_Z_MM 3.3
#define LF_LINE_WIDTH_PITCHES 4.0

int lf_calibration_nominal(const lf_scanner *sc, double *n0_ml_per_mm, lf_error *err)
{
    if (!(sc->line_sensitivity_kcps_mbq > 0) || sc->line_sensitivity_mrd <= 0)
        return lf_fail(err, "scanner '%s': no absolute calibration: the scanner file needs 'line source sensitivity "
                            "(kcps/MBq)' and 'line source sensitivity ring difference' (docs/scanner-format.md)",
                       sc->name);
    const int nz = (int)(LF_LINE_LENGTH_MM / LF_LINE_VOXEL_Z_MM + 0.5);
    /* a ray-driven model's LOR density is a lattice (on the axis every diameter crosses the same point):
     * only its average over several LOR spacings stands for the smooth detection probability, so the
     * line's voxels are LF_LINE_WIDTH_PITCHES transaxial crystal pitches wide (the density is flat
     * over that width near the axis) */
    const double pitch = 2.0 * M_PI * (sc->ring_radius_mm + sc->doi_mm) / sc->slots_t;
    const float w = (float)(LF_LINE_WIDTH_PITCHES * pitch);
    lf_grid g = lf_grid_centred(1, 1, nz, w, w, (float)LF_LINE_VOXEL_Z_MM, 0.0f, 0.0f, 0.0f);
    float *s = malloc((size_t)nz * sizeof *s);
    if (!s)
        return lf_fail(err, "calibration: out of memory");
    lf_sens_opts o = {0};
    int rc = lf_sensitivity_geometric(sc, sc->line_sensitivity_mrd, &g, &o, s, err);
    if (rc == 0) {
        double mean = 0;
        for (int k = 0; k < nz; k++)
            mean += s[k];
        mean /= nz;
        const double v_ml = (double)w * w * LF_LINE_VOXEL_Z_MM * 1e-3;
        const double s_line = mean / v_ml; /* mm/mL */
        if (!(s_line > 0))
            rc = lf_fail(err, "calibration: scanner '%s' sees no LOR through its axis at ring difference %d", sc->name,
                         sc->line_sensitivity_mrd);
        else
            *n0_ml_per_mm = sc->line_sensitivity_kcps_mbq * 1e-3 / LF_F18_BRANCHING / s_line;
    } else {
        lf_fail_prefix(err, "calibration");
    }
    free(s);
    return rc;
}

/* lafov recon: the sensitivity image, cached on disk.
 *
 * The sensitivity depends only on the scanner geometry and detector model, the image grid, the MRD,
 * the μ-map (its exact floats), the crystal efficiencies (norm) and the method's options — never on the
 * events or time windows — so every frame of a study and every re-run with other iterations reuses it.
 * The key is the SHA-256 of all of these; the file is CACHE_DIR/sens-KEY.nii.gz (float32, the grid's
 * sform), written atomically, so concurrent runs at worst compute it twice. A cache file that cannot be
 * read, or has another grid, is recomputed (with a warning), never trusted.
 */
#ifndef LF_SENS_CACHE_H
#define LF_SENS_CACHE_H

#include "../core/error.h"
#include "../core/scanner.h"
#include "../projectors/projector.h"
#include "sensitivity.h"

/* The cache folder: dir if given, else $LAFOV_CACHE_DIR, else $XDG_CACHE_HOME/lafov, else
 * $HOME/.cache/lafov (created when missing). buf receives it; NULL when none can be found (no cache). */
const char *lf_sens_cache_dir(const char *dir, char *buf, size_t cap);

/* sens = lf_sensitivity(sc, mrd, g, mu_per_cm, crystal_eff, o), from the cache when present (cache_dir
 * NULL: no cache). *from_cache tells which. key_hex (may be NULL) receives the 64-character key. */
int lf_sensitivity_cached(const lf_scanner *sc, int mrd, const lf_grid *g, const float *mu_per_cm,
                          const float *crystal_eff, const lf_sens_opts *o, const char *cache_dir, float *sens,
                          int *from_cache, char key_hex[65], lf_error *err);

#endif

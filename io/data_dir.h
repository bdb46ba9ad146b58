/* lafov io: where bundled data lives (data/scanners, data/phantoms, data/ct, ...).
 *
 * lf_data_subdir("phantoms", "LAFOV_PHANTOM_DIR", buf, n) gives, in order: $LAFOV_PHANTOM_DIR (when
 * env_var is given and set), $LAFOV_DATA_DIR/phantoms, the source tree's data/phantoms (when the
 * binary runs from a build tree of an existing checkout), the installed share/lafov/phantoms. */
#ifndef LF_DATA_DIR_H
#define LF_DATA_DIR_H

#include <stddef.h>

/* Writes the folder into buf (size n) and returns buf. */
const char *lf_data_subdir(const char *sub, const char *env_var, char *buf, size_t n);

#endif

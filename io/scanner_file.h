/* lafov io: scanner description files (data/scanners/NAME.scanner).
 *
 * The files use the Interfile `key := value` syntax with '#' comments; docs/scanner-format.md lists
 * every key. A scanner is found by name ("quadra", or a path to a .scanner file) or by the Interfile
 * "originating system" code of a list-mode header.
 * The scanner folder is, in order: the `dir` argument, $LAFOV_SCANNER_DIR, $LAFOV_DATA_DIR/scanners,
 * the source tree's data/scanners (when the binary runs from a build tree), the installed data folder.
 */
#ifndef LF_SCANNER_FILE_H
#define LF_SCANNER_FILE_H

#include "../core/scanner.h"

/* Loads one .scanner file. Errors name the file and key. */
int lf_scanner_load(const char *path, lf_scanner *sc, lf_error *err);
/* The scanner folder to use (never NULL). */
const char *lf_scanner_dir(const char *dir);
/* Loads by name or path: "quadra" -> DIR/quadra.scanner; anything with '/' or ending in .scanner is a path. */
int lf_scanner_by_name(const char *dir, const char *name, lf_scanner *sc, lf_error *err);
/* Loads the scanner whose 'system code' equals code. The error lists the known codes. */
int lf_scanner_by_code(const char *dir, int code, lf_scanner *sc, lf_error *err);

#endif

/* Shared helpers for lafov's cmocka tests: temp folders, small files, scanners. */
#ifndef LF_TESTUTIL_H
#define LF_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/scanner.h"
#include "io/interfile.h"

/* Creates a fresh folder under $TMPDIR (or /tmp); returns a static path valid until the next call. */
const char *tu_tmpdir(void);
/* Removes a folder tree made by tu_tmpdir. */
void tu_rmtree(const char *dir);
/* Writes bytes to path; asserts success. */
void tu_write_file(const char *path, const void *data, size_t n);
void tu_write_text(const char *path, const char *text);
/* Loads a bundled scanner by name; asserts success. */
void tu_scanner(const char *name, lf_scanner *sc);
/* The study keys the 64-bit stream writer needs (isotope, activity, dates, weight). */
void tu_study_keys(lf_ifh *h);
/* Path of the real mMR sample, or NULL (test then skipped) when ../shared is absent. */
const char *tu_mmr_sample(void);
/* 1 if a is found in s */
int tu_contains(const char *s, const char *a);

#endif

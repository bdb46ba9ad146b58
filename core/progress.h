/* lafov core: progress reporting for long work. Library loops call the callback with work done
 * and total (same unit, e.g. bytes); the CLI draws a bar with ETA when stderr is a terminal. */
#ifndef LF_PROGRESS_H
#define LF_PROGRESS_H

#include <stdint.h>

typedef void (*lf_progress_fn)(uint64_t done, uint64_t total, void *user);

#endif

/* libFuzzer target: the PETLINK 32-bit sinogram-bin decoder on the mMR, and the word-size check. */
#define FUZZ_SCANNER "mmr"
#define FUZZ_FORMAT LF_FORMAT_PETLINK32
#include "fuzz_decode_common.h"

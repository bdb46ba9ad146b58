/* libFuzzer target: the Quadra-style 64-bit stream decoder on the mini scanner, and the word-size check. */
#define FUZZ_SCANNER "mini"
#define FUZZ_FORMAT LF_FORMAT_QUADRA64
#include "fuzz_decode_common.h"

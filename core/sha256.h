/* lafov core: SHA-256 (FIPS 180-4), streaming, for provenance records (input file digests).
 *
 *   lf_sha256 s; lf_sha256_init(&s); lf_sha256_update(&s, buf, n); ... lf_sha256_final(&s, digest);
 *   lf_sha256_hex(digest, hex);                      // 64 lowercase hex digits + NUL
 *   lf_sha256_file("run.ptd", hex, &err);            // whole file, read in 1 MiB blocks
 */
#ifndef LF_SHA256_H
#define LF_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef struct lf_sha256 {
    uint32_t h[8];
    uint64_t nbytes;      /* message length so far */
    uint8_t block[64];    /* pending partial block */
    size_t fill;          /* bytes in block */
} lf_sha256;

void lf_sha256_init(lf_sha256 *s);
void lf_sha256_update(lf_sha256 *s, const void *data, size_t n);
/* Pads, writes the 32-byte digest; s must be re-initialised before reuse. */
void lf_sha256_final(lf_sha256 *s, uint8_t digest[32]);
void lf_sha256_hex(const uint8_t digest[32], char hex[65]);
/* Digest of a whole file as hex; errors name the file. */
int lf_sha256_file(const char *path, char hex[65], lf_error *err);

#endif

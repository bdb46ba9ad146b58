/* Tests for core/sha256.c: the FIPS 180-2 example messages, streaming in odd pieces, whole files
 * (empty, multi-buffer) and a missing file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "core/sha256.h"

static void hex_of(const void *data, size_t n, char hex[65])
{
    lf_sha256 s;
    uint8_t d[32];
    lf_sha256_init(&s);
    lf_sha256_update(&s, data, n);
    lf_sha256_final(&s, d);
    lf_sha256_hex(d, hex);
}

static void test_fips_vectors(void **state)
{
    (void)state;
    char hex[65];
    hex_of("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    hex_of(m448, strlen(m448), hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    hex_of("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    char *a = malloc(1000000);
    assert_non_null(a);
    memset(a, 'a', 1000000);
    hex_of(a, 1000000, hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    /* the same million in pieces of 1, 2, ..., 200 bytes (every alignment against the 64-byte block) */
    lf_sha256 s;
    uint8_t d[32];
    lf_sha256_init(&s);
    for (size_t off = 0, step = 1; off < 1000000; off += step, step = step % 200 + 1)
        lf_sha256_update(&s, a + off, off + step > 1000000 ? 1000000 - off : step);
    lf_sha256_final(&s, d);
    lf_sha256_hex(d, hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(a);
}

/* padding edge cases: 55, 56, 63, 64 bytes must each agree between one update and byte-by-byte */
static void test_padding_boundaries(void **state)
{
    (void)state;
    static const size_t lens[] = {55, 56, 57, 63, 64, 65, 119, 120, 128};
    uint8_t msg[128];
    for (int i = 0; i < 128; i++)
        msg[i] = (uint8_t)(i * 37 + 11);
    for (size_t t = 0; t < sizeof lens / sizeof *lens; t++) {
        char h1[65], h2[65];
        hex_of(msg, lens[t], h1);
        lf_sha256 s;
        uint8_t d[32];
        lf_sha256_init(&s);
        for (size_t i = 0; i < lens[t]; i++)
            lf_sha256_update(&s, msg + i, 1);
        lf_sha256_final(&s, d);
        lf_sha256_hex(d, h2);
        assert_string_equal(h1, h2);
    }
    char hex[65];
    hex_of("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopq"
           "rstu",
           112, hex);
    assert_string_equal(hex, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

static void test_files(void **state)
{
    (void)state;
    lf_error err = {{0}};
    char dir[4096], path[4200], hex[65], want[65];
    snprintf(dir, sizeof dir, "%s", tu_tmpdir());

    snprintf(path, sizeof path, "%s/million", dir);
    char *a = malloc(1000000);
    assert_non_null(a);
    memset(a, 'a', 1000000);
    tu_write_file(path, a, 1000000);
    free(a);
    assert_int_equal(lf_sha256_file(path, hex, &err), 0);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");

    /* larger than several 1 MiB read buffers, not a multiple of anything */
    size_t n = 3 * (1 << 20) + 4093;
    uint8_t *b = malloc(n);
    assert_non_null(b);
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)((i * 2654435761u) >> 13);
    snprintf(path, sizeof path, "%s/big.bin", dir);
    tu_write_file(path, b, n);
    hex_of(b, n, want);
    free(b);
    assert_int_equal(lf_sha256_file(path, hex, &err), 0);
    assert_string_equal(hex, want);

    snprintf(path, sizeof path, "%s/empty", dir);
    tu_write_file(path, "", 0);
    assert_int_equal(lf_sha256_file(path, hex, &err), 0);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

    snprintf(path, sizeof path, "%s/absent.ptd", dir);
    assert_int_equal(lf_sha256_file(path, hex, &err), -1);
    assert_true(tu_contains(err.msg, "absent.ptd"));
    assert_true(tu_contains(err.msg, "No such file"));
    tu_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fips_vectors),
        cmocka_unit_test(test_padding_boundaries),
        cmocka_unit_test(test_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

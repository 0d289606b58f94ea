/* test_murmur3.c -- murmur3_32 against published MurmurHash3_x86_32 values:
 * SMHasher's verification value, Bitcoin Core's hash_tests.cpp table (hex
 * inputs, lengths 0-9, several seeds) and the widely copied table of small
 * inputs (lengths 0-4, every tail case), plus text inputs. */
#include "common/ds.h"
#include "common/murmur3.h"
#include "t.h"

struct vec {
    uint32_t want, seed;
    const char *hex; /* input bytes as hex */
};

/* Bitcoin Core src/test/hash_tests.cpp, test case "murmurhash3", and the
 * small-input table (0x21436587...) used by many ports. */
static const struct vec vecs[] = {
    {0x00000000, 0x00000000, ""},
    {0x6a396f08, 0xFBA4C795, ""},
    {0x81f16f39, 0xffffffff, ""},
    {0x514e28b7, 0x00000000, "00"},
    {0xea3f0b17, 0xFBA4C795, "00"},
    {0xfd6cf10d, 0x00000000, "ff"},
    {0x16c6b7ab, 0x00000000, "0011"},
    {0x8eb51c3d, 0x00000000, "001122"},
    {0xb4471bf8, 0x00000000, "00112233"},
    {0xe2301fa8, 0x00000000, "0011223344"},
    {0xfc2e4a15, 0x00000000, "001122334455"},
    {0xb074502c, 0x00000000, "00112233445566"},
    {0x8034d2a0, 0x00000000, "0011223344556677"},
    {0xb4698def, 0x00000000, "001122334455667788"},
    {0x76293B50, 0x00000000, "ffffffff"},
    {0xF55B516B, 0x00000000, "21436587"},
    {0x2362F9DE, 0x5082EDEE, "21436587"},
    {0x7E4A8634, 0x00000000, "214365"},
    {0xA0F7B07A, 0x00000000, "2143"},
    {0x72661CF4, 0x00000000, "21"},
    {0x2362F9DE, 0x00000000, "00000000"},
    {0x85F0B427, 0x00000000, "000000"},
    {0x30F4C306, 0x00000000, "0000"},
};

static size_t unhex(uint8_t *out, const char *hex) {
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
    return n;
}

TEST(published_byte_vectors) {
    for (size_t i = 0; i < DS_ARRAY_LEN(vecs); i++) {
        uint8_t buf[32];
        size_t n = unhex(buf, vecs[i].hex);
        uint32_t got = murmur3_32(buf, n, vecs[i].seed);
        if (got != vecs[i].want)
            T_FAIL("\"%s\" seed 0x%08x: got 0x%08x want 0x%08x", vecs[i].hex, vecs[i].seed, got,
                   vecs[i].want);
    }
}

TEST(empty_input_seeds) {
    CHECK_EQ_INT(murmur3_32(NULL, 0, 0), 0);
    CHECK_EQ_INT(murmur3_32("", 0, 1), 0x514E28B7u);
    CHECK_EQ_INT(murmur3_32("", 0, 0xffffffffu), 0x81F16F39u);
}

TEST(text_vectors) {
    const char *fox = "The quick brown fox jumps over the lazy dog";
    CHECK_EQ_INT(murmur3_32("test", 4, 0), 0xba6bd213u);
    CHECK_EQ_INT(murmur3_32("test", 4, 0x9747b28cu), 0x704b81dcu);
    CHECK_EQ_INT(murmur3_32("Hello, world!", 13, 0), 0xc0363e43u);
    CHECK_EQ_INT(murmur3_32("Hello, world!", 13, 0x9747b28cu), 0x24884cbau);
    CHECK_EQ_INT(murmur3_32(fox, strlen(fox), 0), 0x2e4ff723u);
    CHECK_EQ_INT(murmur3_32(fox, strlen(fox), 0x9747b28cu), 0x2fa826cdu);
    CHECK_EQ_INT(murmur3_32("hello", 5, 0), 0x248bfa47u);
}

/* SMHasher's VerificationTest: hash keys {0}, {0,1}, ... {0..254} with seed
 * 256-i, store the results little-endian, hash that with seed 0. The
 * reference value for MurmurHash3_x86_32 is 0xB0F57EE3. */
TEST(smhasher_verification_value) {
    uint8_t key[256], hashes[256 * 4];
    for (int i = 0; i < 256; i++) {
        key[i] = (uint8_t)i;
        uint32_t h = murmur3_32(key, (size_t)i, 256u - (uint32_t)i);
        hashes[4 * i] = (uint8_t)h;
        hashes[4 * i + 1] = (uint8_t)(h >> 8);
        hashes[4 * i + 2] = (uint8_t)(h >> 16);
        hashes[4 * i + 3] = (uint8_t)(h >> 24);
    }
    CHECK_EQ_INT(murmur3_32(hashes, sizeof hashes, 0), 0xB0F57EE3u);
}

TEST(unaligned_input_same_result) {
    uint8_t buf[64];
    for (int i = 0; i < 64; i++)
        buf[i] = (uint8_t)(i * 7 + 1);
    uint32_t ref = murmur3_32(buf, 37, 42);
    uint8_t shifted[80];
    for (int off = 1; off < 8; off++) {
        memcpy(shifted + off, buf, 37);
        CHECK_EQ_INT(murmur3_32(shifted + off, 37, 42), ref);
    }
}

TEST_MAIN()

/* test_crc32c.c -- crc32c_extend against the published CRC-32C values
 * (RFC 3720, appendix B.4, and the common "123456789" check value) and
 * against RocksDB's own crc32c::Extend, which it replaces in the link:
 * every length, alignment and starting value the WAL can hand it. */
#include <stdlib.h>

#include "common/ds.h"
#include "engine/crc32c.h"
#include "t.h"

/* RocksDB's Extend by its mangled name, as RocksDB's objects call it (the
 * link's --wrap sends such calls to crc32c.c's __wrap_ definition), and
 * RocksDB's own code. */
uint32_t rocks_extend(uint32_t crc, const char *buf, size_t n) __asm__(CRC32C_ROCKSDB_EXTEND);
uint32_t rocks_wrap(uint32_t crc, const char *buf, size_t n)
    __asm__("__wrap_" CRC32C_ROCKSDB_EXTEND);
uint32_t rocks_real(uint32_t crc, const char *buf, size_t n)
    __asm__("__real_" CRC32C_ROCKSDB_EXTEND);

TEST(published_values) {
    unsigned char b[32];
    memset(b, 0, sizeof b);
    CHECK_EQ_INT(crc32c_extend(0, b, 32), 0x8a9136aau);
    memset(b, 0xff, sizeof b);
    CHECK_EQ_INT(crc32c_extend(0, b, 32), 0x62a8ab43u);
    for (int i = 0; i < 32; i++) b[i] = (unsigned char)i;
    CHECK_EQ_INT(crc32c_extend(0, b, 32), 0x46dd794eu);
    for (int i = 0; i < 32; i++) b[i] = (unsigned char)(31 - i);
    CHECK_EQ_INT(crc32c_extend(0, b, 32), 0x113fdb5cu);
    CHECK_EQ_INT(crc32c_extend(0, "123456789", 9), 0xe3069283u);
    CHECK_EQ_INT(crc32c_extend(0, "", 0), 0);
}

TEST(equals_rocksdbs_own) {
    enum { N = 9000 };
    unsigned char *b = malloc(N + 8);
    srand(5);
    for (int i = 0; i < N + 8; i++) b[i] = (unsigned char)rand();
    for (size_t n = 0; n <= 600; n++)
        for (size_t off = 0; off < 8; off++) {
            uint32_t seed = (uint32_t)rand() * 2654435761u;
            const char *p = (const char *)b + off;
            if (crc32c_extend(seed, p, n) != rocks_real(seed, p, n))
                T_FAIL("length %zu at offset %zu differs from RocksDB's", n, off);
        }
    /* WAL-sized records: a group of 4 KB items, a 32 KB block's tail */
    for (size_t n = 4000; n <= N; n += 997)
        CHECK_EQ_INT(crc32c_extend(7, b + 3, n), rocks_real(7, (const char *)b + 3, n));
    free(b);
}

TEST(extends_in_pieces) {
    const char *s = "The WAL checksums a record's type byte, then its payload.";
    size_t n = strlen(s);
    uint32_t whole = crc32c_extend(0, s, n);
    for (size_t cut = 0; cut <= n; cut++)
        CHECK_EQ_INT(crc32c_extend(crc32c_extend(0, s, cut), s + cut, n - cut), whole);
}

/* The link sends RocksDB's calls here: RocksDB's name resolves to the
 * wrapper (a link without --wrap gives RocksDB's own function), which
 * answers as RocksDB would. */
TEST(rocksdb_calls_land_here) {
    CHECK((void *)rocks_extend == (void *)rocks_wrap);
    CHECK_EQ_INT(rocks_extend(0, "123456789", 9), 0xe3069283u);
#if defined(__x86_64__)
    __builtin_cpu_init();
    CHECK_EQ_INT(crc32c_hardware(), __builtin_cpu_supports("sse4.2") ? 1 : 0);
#endif
}

TEST_MAIN()

/* crc32c.c -- CRC-32C with the crc32 instruction, standing in for
 * RocksDB's own; see crc32c.h. */
#include "engine/crc32c.h"

#include <string.h>

/* The linker turns RocksDB's calls to its Extend into calls to the __wrap_
 * name and gives RocksDB's own definition the __real_ one. */
uint32_t rocksdb_crc32c_wrap(uint32_t crc, const char *buf, size_t n)
    __asm__("__wrap_" CRC32C_ROCKSDB_EXTEND);
uint32_t rocksdb_crc32c_real(uint32_t crc, const char *buf, size_t n)
    __asm__("__real_" CRC32C_ROCKSDB_EXTEND);

uint32_t rocksdb_crc32c_wrap(uint32_t crc, const char *buf, size_t n) {
    return crc32c_extend(crc, buf, n);
}

#if defined(__x86_64__)
#include <nmmintrin.h>

/* One stream of 8-byte steps: the instruction's latency bounds it at
 * ~8 bytes per 3 cycles, 0.49 us for 4 KB (RocksDB's portable tables:
 * 3.6 us). Three interleaved streams would be faster still and need a
 * combine step; the WAL's checksum is a small part of a write now. */
__attribute__((target("sse4.2"))) static uint32_t crc32c_sse42(uint32_t crc, const unsigned char *p,
                                                               size_t n) {
    uint64_t c = ~crc;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = _mm_crc32_u64(c, w);
    }
    uint32_t c32 = (uint32_t)c;
    for (; n; p++, n--) c32 = _mm_crc32_u8(c32, *p);
    return ~c32;
}

int crc32c_hardware(void) {
    static int known = -1; /* -1 until asked; the answer never changes */
    int hw = __atomic_load_n(&known, __ATOMIC_RELAXED);
    if (hw < 0) {
        __builtin_cpu_init();
        hw = __builtin_cpu_supports("sse4.2") ? 1 : 0;
        __atomic_store_n(&known, hw, __ATOMIC_RELAXED);
    }
    return hw;
}

uint32_t crc32c_extend(uint32_t crc, const void *buf, size_t n) {
    if (crc32c_hardware()) return crc32c_sse42(crc, buf, n);
    return rocksdb_crc32c_real(crc, buf, n);
}
#else
int crc32c_hardware(void) { return 0; }

uint32_t crc32c_extend(uint32_t crc, const void *buf, size_t n) {
    return rocksdb_crc32c_real(crc, buf, n);
}
#endif

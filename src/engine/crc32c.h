/* crc32c.h -- CRC-32C (Castagnoli), the checksum of RocksDB's write-ahead
 * log, computed with the CPU's crc32 instruction.
 *
 * Why: Debian's librocksdb.a is built portable, and its crc32c::Extend
 * takes the table-driven path although the CPU has SSE4.2: 3.6 us for a
 * 4 KB record against 0.49 us here, and every WAL record is checksummed by
 * the writer thread, the one serial stage of a durable write. Under
 * PutItem of 4 KB items it was the server's top symbol
 * (bench/results/2026-12-06-session14.md).
 *
 * How: the link (Makefile, ROCKSDB_LIBS) passes --wrap for RocksDB's
 * rocksdb::crc32c::Extend, so every call RocksDB makes to it from another
 * object file lands on crc32c_extend below. Its results are RocksDB's,
 * bit for bit (tests/unit/test_crc32c.c checks them against RocksDB's own
 * code on every run): WALs and tables written before and after read alike.
 * Without SSE4.2 (or off x86-64) the call goes on to RocksDB's code.
 */
#ifndef DS_CRC32C_H
#define DS_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* The CRC-32C of buf[0..n) continued from crc, the CRC of what came
 * before it (0 for none): crc32c_extend(crc32c_extend(0, a), b) is the
 * CRC of a followed by b. Any thread. */
uint32_t crc32c_extend(uint32_t crc, const void *buf, size_t n);

/* 1 when crc32c_extend uses the CPU's instruction. */
int crc32c_hardware(void);

/* RocksDB's uint32_t rocksdb::crc32c::Extend(uint32_t, const char *, size_t)
 * by its mangled name, as the linker knows it (the Makefile's ROCKSDB_CRC). */
#define CRC32C_ROCKSDB_EXTEND "_ZN7rocksdb6crc32c6ExtendEjPKcm"

#endif

/* murmur3.h -- MurmurHash3_x86_32, the hash that places keys in ranges.
 *
 * Seed 001 places each partition key in a range of a table's 32-bit hash
 * space by Murmur3. Every node, proxy and client library must compute the
 * same value for the same bytes, on any CPU, so the 4-byte blocks are read
 * as little-endian by explicit byte assembly (never by casting the input to
 * uint32_t *, which would depend on endianness and alignment). Results match
 * Austin Appleby's reference MurmurHash3_x86_32 (SMHasher) bit for bit; the
 * unit test checks published vectors and SMHasher's verification value.
 */
#ifndef DS_MURMUR3_H
#define DS_MURMUR3_H

#include <stddef.h>
#include <stdint.h>

/* Returns MurmurHash3_x86_32 of data[0..len) with the given seed. data may
 * be NULL when len is 0. Pure function: no state, safe from any thread. */
uint32_t murmur3_32(const void *data, size_t len, uint32_t seed);

#endif

/* itemcache.h -- the item cache: recently read values, by key, in front of
 * RocksDB's point reads of the DATA and INDEX column families.
 *
 * Why: a GetItem of a 100-byte item spent ~20% of the server's CPU in
 * RocksDB's Get (a bloom filter probe, then an index block and a data block,
 * each looked up in the block cache under a shard lock, each a binary search
 * over cache lines not in the CPU's caches). A hit here is one hash, one
 * lock, one short chain and a copy (bench/results/2026-12-05-session12.md).
 * Like the block cache, it holds values as stored: sealed envelopes, never
 * plaintext. INDEX entries (8 bytes) are here for the writer: every PutItem
 * reads its key's entry to learn whether the item exists and how long it
 * is, and an overwrite of the same length does not rewrite it, so the entry
 * stays cached while its item is overwritten again and again.
 *
 * Coherence: reads through the cache are as monotonic as RocksDB's. Only
 * the engine fills it and drops from it (engine.c). A point read that misses
 * takes a ticket (its shard's generation) before it reads RocksDB, and offers
 * the value it read with that ticket. A write brackets its RocksDB write with
 * itemcache_write_begin and itemcache_write_end for each key it writes in a
 * cached column family (end before the write is acknowledged); both drop
 * the key and move the generation, and between them no fill lands in that
 * shard. So while a key is being written nobody reads it from the cache:
 * every reader goes to RocksDB, which is the one that orders the old and
 * the new value. (With only an invalidation after the write, a reader could
 * miss, read the new value from RocksDB, and then hit the old one that a
 * slower reader had filled before the invalidation.) A fill whose ticket is
 * older than the generation is dropped, so a value read before a write never
 * lands after it. Values are never written through: two writers committing
 * one key in one order could update the cache in the other.
 *
 * Memory: at most `budget` bytes, counting each entry's key, value and
 * header; LRU per shard. Values over ITEMCACHE_MAX_VALUE are not kept: a
 * 4 KB item costs a copy on every fill, and its read is mostly that copy
 * anyway.
 *
 * Threads: every function may be called from any thread; 64 shards, each
 * with its own mutex, held only for the lookup and the copy.
 */
#ifndef DS_ITEMCACHE_H
#define DS_ITEMCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "common/ds.h"

#define ITEMCACHE_MAX_VALUE 2048

typedef struct itemcache itemcache;

/* What a miss hands to the fill that follows it. */
typedef struct {
    uint32_t hash;
    unsigned char space;
    uint64_t gen;
} itemcache_ticket;

/* A cache of at most budget bytes; NULL when budget is 0 (no cache: every
 * function below accepts NULL and does nothing). */
itemcache *itemcache_new(size_t budget);
void itemcache_free(itemcache *c);

/* Keys live in spaces (the engine uses its column family numbers): the
 * same bytes in two spaces are two keys, sharing one budget and LRU.
 *
 * On a hit, copies the value to out, sets *vl to its length and returns 1.
 * On a miss returns 0 and fills *t for itemcache_fill. */
int itemcache_get(itemcache *c, unsigned char space, const void *k, size_t kl,
                  char out[ITEMCACHE_MAX_VALUE], size_t *vl, itemcache_ticket *t);

/* Offers the value that a read after itemcache_get's miss found (in the
 * ticket's space); kept unless a write began or ended in the shard since
 * the ticket, a write is in flight there, or it is too big. */
void itemcache_fill(itemcache *c, const itemcache_ticket *t, const void *k, size_t kl,
                    const void *v, size_t vl);

/* Around a write of k in space (of every key in every space, a range
 * delete, when k is NULL): begin before RocksDB has it, end after, before
 * it is acknowledged, whether it succeeded or not. Each drops k. */
void itemcache_write_begin(itemcache *c, unsigned char space, const void *k, size_t kl);
void itemcache_write_end(itemcache *c, unsigned char space, const void *k, size_t kl);

/* The hash the cache files k of space under; the engine's batches use it
 * for their filter of written keys too. */
uint32_t itemcache_hash(unsigned char space, const void *k, size_t kl);

/* Bytes held now, as counted against the budget. */
size_t itemcache_usage(itemcache *c);

#endif

/* itemcache.h -- the item cache: recently read values of the DATA column
 * family, by key, in front of RocksDB's point reads.
 *
 * Why: a GetItem of a 100-byte item spent ~20% of the server's CPU in
 * RocksDB's Get (a bloom filter probe, then an index block and a data block,
 * each looked up in the block cache under a shard lock, each a binary search
 * over cache lines not in the CPU's caches). A hit here is one hash, one
 * lock, one short chain and a copy (bench/results/2026-12-05-session12.md).
 * Like the block cache, it holds values as stored: sealed envelopes, never
 * plaintext.
 *
 * Coherence. Only the engine fills and invalidates it (engine.c): a point
 * read that misses takes a ticket (the shard's generation) before it reads
 * RocksDB, and offers the value it read with that ticket; every committed
 * write invalidates its DATA keys after RocksDB has the write and before it
 * is acknowledged, and bumps the generation. A fill whose ticket is older
 * than the shard's generation is dropped, so a value read before a write
 * committed never lands in the cache after that write's invalidation. Values
 * are never written through: two writers committing the same key in one
 * order could invalidate in the other, and only an invalidation is
 * order-free.
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
    uint64_t gen;
} itemcache_ticket;

/* A cache of at most budget bytes; NULL when budget is 0 (no cache: every
 * function below accepts NULL and does nothing). */
itemcache *itemcache_new(size_t budget);
void itemcache_free(itemcache *c);

/* On a hit, copies the value to out, sets *vl to its length and returns 1.
 * On a miss returns 0 and fills *t for itemcache_fill. */
int itemcache_get(itemcache *c, const void *k, size_t kl, char out[ITEMCACHE_MAX_VALUE], size_t *vl,
                  itemcache_ticket *t);

/* Offers the value that a read after itemcache_get's miss found; kept
 * unless a write invalidated the shard since the ticket, or it is too big. */
void itemcache_fill(itemcache *c, const itemcache_ticket *t, const void *k, size_t kl,
                    const void *v, size_t vl);

/* Drops k (committed writes call this for each of their DATA keys). */
void itemcache_invalidate(itemcache *c, const void *k, size_t kl);

/* Drops everything (a range delete). */
void itemcache_clear(itemcache *c);

/* Bytes held now, as counted against the budget. */
size_t itemcache_usage(itemcache *c);

#endif

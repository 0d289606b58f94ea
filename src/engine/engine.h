/* engine.h -- dStore's storage engine: the only module that sees RocksDB.
 *
 * One engine is one RocksDB database in one directory with three column
 * families (CFs): META (RocksDB's "default" CF: table definitions, range
 * state, anything small and node-local), DATA (items, keyed by keycodec's
 * data keys) and INDEX (keycodec's index keys, for listing a table by key).
 * Missing CFs are created at open.
 *
 * Everything RocksDB-specific stays behind this header: its char **errptr
 * strings become DS_E* codes plus one logged line, and its allocations are
 * freed here. Handles are opaque.
 *
 * Threads: an engine may be used from many threads at once (reads, iterators,
 * writes). An engine_iter and an engine_batch belong to one thread at a time.
 *
 * Writes go through batches (WriteBatchWithIndex): the single writer thread of
 * a range evaluates conditions against "the batch, then the DB" with
 * engine_batch_get() while it groups many client writes into one atomic,
 * durable engine_write().
 */
#ifndef DS_ENGINE_H
#define DS_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "common/ds.h"

typedef enum {
    ENGINE_CF_META = 0,  /* RocksDB "default" */
    ENGINE_CF_DATA = 1,  /* "data" */
    ENGINE_CF_INDEX = 2, /* "index" */
    ENGINE_CF_COUNT
} engine_cf;

typedef struct engine engine;
typedef struct engine_iter engine_iter;
typedef struct engine_batch engine_batch;
typedef struct engine_snapshot engine_snapshot;

/* Tuning knobs; zero fields take the default. */
typedef struct engine_opts {
    size_t block_cache_bytes;  /* shared LRU block cache, default 256 MiB */
    size_t write_buffer_bytes; /* total memtable budget, default 128 MiB */
    int max_open_files;        /* default -1 (keep every table file open) */
    size_t item_cache_bytes;   /* itemcache.h, default 32 MiB; ENGINE_NO_ITEM_CACHE: none */
} engine_opts;
#define ENGINE_NO_ITEM_CACHE SIZE_MAX

/* Opens (creating if missing) the database in dir. o may be NULL for the
 * defaults. Returns DS_OK and *out, or a DS_E* code with a message in err
 * (errlen bytes, NUL-terminated): DS_EBUSY if another process holds the
 * database, DS_ECORRUPT, DS_ENOSPACE, DS_EIO. Close with engine_close(). */
int engine_open(const char *dir, const engine_opts *o, engine **out, char *err, size_t errlen);

/* Closes the database and frees e (NULL is fine). Iterators must be freed
 * first; batches are independent of engines and outlive them. */
void engine_close(engine *e);

/* Point read. Resets val and fills it with the value. Returns DS_OK,
 * DS_ENOTFOUND, or DS_EIO / DS_ECORRUPT. val stays the caller's. */
int engine_get(engine *e, engine_cf cf, const void *k, size_t kl, ds_buf *val);

/* Point read without a copy: calls fn with the value where it lies (in the
 * block cache or a memtable; valid during the call only) and returns what
 * fn returns, or DS_ENOTFOUND / DS_EIO / DS_ECORRUPT without calling it. */
typedef int (*engine_value_fn)(const char *v, size_t n, void *ud);
int engine_get_in_place(engine *e, engine_cf cf, const void *k, size_t kl, engine_value_fn fn,
                        void *ud);

/* ---- iterators ----------------------------------------------------------
 * An iterator reads a consistent snapshot taken when it was created. Bounds
 * are copied and owned by the iterator; lower is inclusive, upper exclusive,
 * NULL/0 means unbounded. On the DATA CF an iterator whose bounds lie within
 * one 12-byte (table id, hash) prefix uses RocksDB's prefix bloom filters;
 * wider ones use total-order seeks. Either way results are the same. */
engine_iter *engine_iter_new(engine *e, engine_cf cf, const void *lower, size_t ll,
                             const void *upper, size_t ul);
/* As engine_iter_new, reading snapshot s (engine_snapshot_new) instead of
 * the latest state. s must outlive the iterator. */
engine_iter *engine_iter_new_at(engine *e, const engine_snapshot *s, engine_cf cf,
                                const void *lower, size_t ll, const void *upper, size_t ul);
void engine_iter_seek(engine_iter *it, const void *k, size_t kl); /* first key >= k */
void engine_iter_seek_first(engine_iter *it);
void engine_iter_seek_last(engine_iter *it);
void engine_iter_seek_for_prev(engine_iter *it, const void *k, size_t kl); /* last key <= k */
int engine_iter_valid(engine_iter *it); /* 1 if positioned on an entry */
void engine_iter_next(engine_iter *it);
void engine_iter_prev(engine_iter *it);
/* Borrowed pointers into the iterator: valid until it moves or is freed. */
const char *engine_iter_key(engine_iter *it, size_t *len);
const char *engine_iter_value(engine_iter *it, size_t *len);
/* DS_OK, or DS_EIO / DS_ECORRUPT if iteration stopped on an error (check it
 * when engine_iter_valid() turns 0). */
int engine_iter_status(engine_iter *it);
void engine_iter_free(engine_iter *it); /* NULL is fine */

/* ---- snapshots ----------------------------------------------------------
 * A snapshot pins the database as it is when taken (every write that
 * engine_write returned for before the call, none after), for iterators
 * created later with engine_iter_new_at (replication's catch-up streams a
 * range from one). It keeps old versions alive: release it soon. Any thread;
 * free it with the engine it came from, before engine_close. */
engine_snapshot *engine_snapshot_new(engine *e);
void engine_snapshot_free(engine *e, engine_snapshot *s); /* NULL is fine */

/* ---- batches ------------------------------------------------------------
 * A batch records puts and deletes and indexes them so engine_batch_get()
 * reads its own writes (a later write to the same key replaces the earlier
 * one). A batch is not tied to an engine when created; it binds to the first
 * engine it is used with (engine_batch_get / engine_write) and must only be
 * used with that engine afterwards (DS_EINVAL otherwise, unless it is empty).
 * Keys and values are copied. */
engine_batch *engine_batch_new(void);
void engine_batch_clear(engine_batch *b); /* empties it; keeps its memory */
void engine_batch_free(engine_batch *b);  /* NULL is fine */
int engine_batch_count(engine_batch *b);  /* operations recorded */
void engine_batch_put(engine_batch *b, engine_cf cf, const void *k, size_t kl, const void *v,
                      size_t vl);
void engine_batch_delete(engine_batch *b, engine_cf cf, const void *k, size_t kl);
/* Reads k as if b were already written: b's latest put/delete of k first,
 * then the DB (through the item cache, for a key b has not written). Resets
 * and fills val. DS_OK, DS_ENOTFOUND, DS_EIO. */
int engine_batch_get(engine *e, engine_batch *b, engine_cf cf, const void *k, size_t kl,
                     ds_buf *val);
/* Applies b atomically. sync=1: durable (WAL fsynced) before returning;
 * sync=0: in the OS page cache (survives a process crash, not a power cut).
 * Does not clear b. DS_OK, DS_ENOSPACE (disk full), DS_EIO. */
int engine_write(engine *e, engine_batch *b, int sync);

/* ---- whole ranges -------------------------------------------------------
 * Ranges are [begin, end): end exclusive; NULL/0 means unbounded (for
 * compact_range only). */

/* Deletes every key in [begin, end) with one range tombstone, durably (sync).
 * Space is reclaimed by compaction (engine_compact_range to force it). */
int engine_delete_range(engine *e, engine_cf cf, const void *begin, size_t bl, const void *end,
                        size_t el);
/* Compacts [begin, end) down to the bottom level, dropping deleted data.
 * Blocks until done. */
int engine_compact_range(engine *e, engine_cf cf, const void *begin, size_t bl, const void *end,
                         size_t el);
/* Approximate bytes of [begin, end) in table files (memtable contents are
 * not counted: RocksDB's C API only offers the file estimate). */
int engine_approximate_size(engine *e, engine_cf cf, const void *begin, size_t bl, const void *end,
                            size_t el, uint64_t *bytes);
/* Bytes on disk: live table files of every CF plus the write-ahead log. */
int engine_disk_usage(engine *e, uint64_t *bytes);
/* Bytes of memory: memtables + block cache + table readers + item cache. */
int engine_memory_usage(engine *e, uint64_t *bytes);
/* What the engine holds in memory, in bytes, by RocksDB's own count (the
 * item cache by its own). */
typedef struct engine_memory {
    uint64_t cache;         /* block cache in use: data, index and filter blocks */
    uint64_t item_cache;    /* item cache in use (itemcache.h) */
    uint64_t memtables;     /* every CF's memtables: taking writes, being flushed, pinned */
    uint64_t table_readers; /* table readers, outside the cache */
} engine_memory;
/* Fills *m from counters (no I/O, no locks held for long). */
void engine_memory_get(engine *e, engine_memory *m);
/* Writes a consistent, openable copy of the database to dir (which must not
 * exist; hard links where possible). DS_EEXIST, DS_EIO. */
int engine_checkpoint(engine *e, const char *dir);
/* Flushes every CF's memtable to table files and waits. */
int engine_flush(engine *e);

#endif

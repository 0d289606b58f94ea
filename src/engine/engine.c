/* engine.c -- RocksDB behind dStore's engine interface.
 *
 * The RocksDB options, and why:
 *  - create_if_missing, create_missing_column_families: a new node starts
 *    from an empty directory; CFs "default" (META), "data", "index".
 *  - One shared LRU block cache (engine_opts.block_cache_bytes, 256 MiB by
 *    default) for every CF, with index and filter blocks charged to it
 *    (cache_index_and_filter_blocks, L0 ones pinned) so memory is bounded by
 *    the cache size rather than by the number of table files. In front of it,
 *    for DATA and INDEX point reads, the item cache (itemcache.h;
 *    engine_opts.item_cache_bytes, 32 MiB by default). It is not carved out of
 *    the block cache: with 1/8 of 256 MiB taken from it, 4 KB puts over a
 *    400 MB table ran 12% slower (they cache nothing in the item cache, and
 *    had 224 instead of 256 MiB of blocks cached).
 *  - Block-based tables, format_version 5, 11.5 KiB blocks (TABLE_BLOCK_BYTES),
 *    full bloom filters at 10 bits/key with whole-key filtering: a GetItem
 *    that misses costs ~1% of a disk read per level.
 *  - DATA CF: a fixed 12-byte prefix extractor (table id + hash, see
 *    keycodec.h) so the filter also holds each (table, hash) prefix, and a
 *    memtable prefix bloom (2% of the memtable). Iterators whose bounds lie in
 *    one prefix (a Query on one partition key) seek with the prefix filters;
 *    wider iterators (Scan, listing) set total_order_seek so results never
 *    depend on the prefix mode. INDEX and META use whole-key filters only.
 *  - Compression: the Debian librocksdb links snappy, zlib, bz2, lz4 and zstd
 *    (checked with ldd). META and INDEX: LZ4 on every level, ZSTD on the
 *    bottommost level (~90% of the data, written once by compaction). If
 *    this RocksDB refuses either at open, we fall back to no compression and
 *    log it. DATA: none. Its values are AES-GCM-SIV ciphertext, which does not
 *    compress; trying costs every flush and compaction CPU (and RocksDB keeps
 *    a block uncompressed anyway when it saves less than 1/8).
 *  - Memtables: engine_opts.write_buffer_bytes (128 MiB by default) is their
 *    budget: DATA gets 1/4 of it per memtable, INDEX 1/8, META 1/16, and
 *    max_write_buffer_number 2 (one memtable taking writes, one being
 *    flushed), so all of them together never hold more than 7/8 of it (with
 *    4 per CF the bound was 7/4 of it). The C API has no write buffer
 *    manager; db_write_buffer_size = the budget asks for a flush once the
 *    mutable memtables pass 7/8 of it, which these sizes never reach, so
 *    the per-CF sizes are the bound. max_total_wal_size = the budget, so a
 *    rarely written CF cannot pin old WAL files forever.
 *  - Level compaction with level_compaction_dynamic_level_bytes (stable
 *    space amplification ~1.1x), max_background_jobs 2, bytes_per_sync 1 MiB
 *    (smooth write-back of table files).
 *  - Durability: the WAL is on; engine_write(sync=1) fsyncs it before it
 *    returns (the writer thread groups many client writes into one such
 *    write). Recovery mode kPointInTimeRecovery: a torn tail of the WAL after
 *    a crash is dropped, never anything acknowledged before it.
 *  - enable_pipelined_write: off. Measured (one writer thread, 10 puts of
 *    200 B per WriteBatchWithIndex, this machine's disk): synced ~3,700-4,100
 *    batches/s with or without it; unsynced ~61-67k batches/s either way --
 *    differences within run-to-run noise. It helps many concurrent writers,
 *    and dStore has one writer thread per range, so we keep the simpler path.
 *  - max_open_files: -1 by default (all table files stay open: no table
 *    cache misses; needs a high RLIMIT_NOFILE on very large nodes).
 *  - The info LOG stays in the data directory: WARN level, 5 files of at
 *    most 16 MiB.
 */
#include "engine/engine.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <rocksdb/c.h>

#include "engine/itemcache.h"

#define ENGINE_PREFIX_LEN 12 /* table id (8) + hash (4): keycodec's DATA prefix */

static const char *const cf_names[ENGINE_CF_COUNT] = {"default", "data", "index"};

struct engine {
    rocksdb_t *db;
    rocksdb_column_family_handle_t *cf[ENGINE_CF_COUNT];
    rocksdb_options_t *dbopts;
    rocksdb_options_t *cfopts[ENGINE_CF_COUNT];
    rocksdb_cache_t *cache;
    itemcache *items; /* DATA and INDEX values, in front of Get (NULL: none) */
    rocksdb_readoptions_t *ropts;
    rocksdb_writeoptions_t *wsync, *wnosync;
    rocksdb_memory_consumers_t *consumers;
    char *dir;
};

struct engine_iter {
    rocksdb_iterator_t *it;
    rocksdb_readoptions_t *ropts;
    char *lower, *upper; /* owned copies: RocksDB keeps pointers to them */
};

/* Operations recorded before the batch knew its engine (pending log):
 * [u8 op][u8 cf][u32 klen][key][u32 vlen][value], native byte order. */
enum { OP_PUT = 1, OP_DEL = 2 };

/* The column families whose point reads go through the item cache; its
 * space for a key is the key's column family. */
#define CACHED_CF(cf) ((cf) == ENGINE_CF_DATA || (cf) == ENGINE_CF_INDEX)

#define TOUCHED_BITS 4096

struct engine_batch {
    rocksdb_writebatch_wi_t *wb;
    engine *e;      /* bound engine, or NULL */
    ds_buf pending; /* ops recorded while unbound */
    int npending;
    /* the keys written in cached column families, [u8 cf][u32 klen][key]:
     * the item cache drops them around the write (batch_mark) */
    ds_buf cached_keys;
    /* a filter of those keys (a bit per hash): engine_batch_get asks the
     * item cache only for keys whose bit is clear, as the batch cannot hold
     * them; a set bit sends the read to the batch and RocksDB */
    uint64_t touched[TOUCHED_BITS / 64];
};

/* ---- errors -------------------------------------------------------------- */

/* Maps a RocksDB status string to a DS_E* code, logs it with what, and frees
 * the string. */
static int engine__err(char *err, const char *what) {
    int code = DS_EIO;
    if (strstr(err, "No space left") || strstr(err, "ENOSPC"))
        code = DS_ENOSPACE;
    else if (!strncmp(err, "Corruption", 10))
        code = DS_ECORRUPT;
    else if (!strncmp(err, "Invalid argument", 16))
        code = DS_EINVAL;
    else if (strstr(err, "lock") &&
             (strstr(err, "Resource temporarily unavailable") || strstr(err, "No locks available")))
        code = DS_EBUSY;
    else if (!strncmp(err, "Resource busy", 13) || !strncmp(err, "Operation aborted", 17))
        code = DS_EBUSY;
    ds_error("engine: %s: %s", what, err);
    rocksdb_free(err);
    return code;
}

/* ---- open / close ---------------------------------------------------------- */

/* RocksDB's data blocks, in every CF. A block is closed once it reaches this
 * size (or would pass it and is 90% full), so cached blocks of small items
 * end just under 12 KiB: one of jemalloc's slab size classes (up to 14 KiB),
 * which pack blocks side by side. With 16 KiB, blocks were ~16.3 KiB:
 * jemalloc's 20 KiB large class plus one cache-oblivious page of padding per
 * allocation, ~60 MB resident beside a full 256 MiB cache and outside the
 * cache's own count (bench/results/2026-12-05-session10.md: the rest above
 * cache and memtables 89 -> 30 MB at 3M items; GetItem, Query, Scan and
 * PutItem unchanged within noise). */
#define TABLE_BLOCK_BYTES 11776

static rocksdb_options_t *cf_options(const rocksdb_options_t *base, rocksdb_cache_t *cache,
                                     size_t wbuf, int prefix) {
    rocksdb_options_t *o = rocksdb_options_create_copy((rocksdb_options_t *)base);
    rocksdb_block_based_table_options_t *t = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_cache(t, cache);
    rocksdb_block_based_options_set_block_size(t, TABLE_BLOCK_BYTES);
    rocksdb_block_based_options_set_format_version(t, 5);
    rocksdb_block_based_options_set_filter_policy(t, rocksdb_filterpolicy_create_bloom_full(10));
    rocksdb_block_based_options_set_whole_key_filtering(t, 1);
    rocksdb_block_based_options_set_cache_index_and_filter_blocks(t, 1);
    rocksdb_block_based_options_set_pin_l0_filter_and_index_blocks_in_cache(t, 1);
    rocksdb_options_set_block_based_table_factory(o, t);
    rocksdb_block_based_options_destroy(t);
    rocksdb_options_set_write_buffer_size(o, wbuf);
    rocksdb_options_set_max_write_buffer_number(o, 2);
    if (prefix) {
        rocksdb_options_set_prefix_extractor(
            o, rocksdb_slicetransform_create_fixed_prefix(ENGINE_PREFIX_LEN));
        rocksdb_options_set_memtable_prefix_bloom_size_ratio(o, 0.02);
        rocksdb_options_set_memtable_whole_key_filtering(o, 1);
    }
    return o;
}

static void build_options(engine *e, const engine_opts *o, int compress) {
    rocksdb_options_t *b = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(b, 1);
    rocksdb_options_set_create_missing_column_families(b, 1);
    rocksdb_options_set_max_background_jobs(b, 2);
    rocksdb_options_set_bytes_per_sync(b, 1 << 20);
    rocksdb_options_set_max_open_files(b, o->max_open_files);
    rocksdb_options_set_db_write_buffer_size(b, o->write_buffer_bytes);
    rocksdb_options_set_max_total_wal_size(b, o->write_buffer_bytes);
    rocksdb_options_set_level_compaction_dynamic_level_bytes(b, 1);
    rocksdb_options_set_wal_recovery_mode(b, 2 /* kPointInTimeRecovery */);
    rocksdb_options_set_enable_pipelined_write(b, 0);
    rocksdb_options_set_info_log_level(b, 2 /* WARN */);
    rocksdb_options_set_keep_log_file_num(b, 5);
    rocksdb_options_set_max_log_file_size(b, 16 << 20);
    if (compress) {
        rocksdb_options_set_compression(b, rocksdb_lz4_compression);
        rocksdb_options_set_bottommost_compression(b, rocksdb_zstd_compression);
    } else {
        rocksdb_options_set_compression(b, rocksdb_no_compression);
    }
    e->dbopts = b;
    size_t wb = o->write_buffer_bytes;
    e->cfopts[ENGINE_CF_META] = cf_options(b, e->cache, DS_MAX(wb / 16, (size_t)1 << 20), 0);
    e->cfopts[ENGINE_CF_DATA] = cf_options(b, e->cache, DS_MAX(wb / 4, (size_t)1 << 20), 1);
    /* DATA values are ciphertext: compressing them is CPU for nothing */
    rocksdb_options_set_compression(e->cfopts[ENGINE_CF_DATA], rocksdb_no_compression);
    rocksdb_options_set_bottommost_compression(e->cfopts[ENGINE_CF_DATA], rocksdb_no_compression);
    e->cfopts[ENGINE_CF_INDEX] = cf_options(b, e->cache, DS_MAX(wb / 8, (size_t)1 << 20), 0);
}

static void free_options(engine *e) {
    for (int i = 0; i < ENGINE_CF_COUNT; i++) {
        if (e->cfopts[i]) rocksdb_options_destroy(e->cfopts[i]);
        e->cfopts[i] = NULL;
    }
    if (e->dbopts) rocksdb_options_destroy(e->dbopts);
    e->dbopts = NULL;
}

int engine_open(const char *dir, const engine_opts *o, engine **out, char *err, size_t errlen) {
    engine_opts d = {256u << 20, 128u << 20, -1, 32u << 20};
    if (o) {
        if (o->block_cache_bytes) d.block_cache_bytes = o->block_cache_bytes;
        if (o->item_cache_bytes) d.item_cache_bytes = o->item_cache_bytes;
        if (o->write_buffer_bytes) d.write_buffer_bytes = o->write_buffer_bytes;
        if (o->max_open_files) d.max_open_files = o->max_open_files;
    }
    engine *e = ds_calloc(1, sizeof *e);
    e->dir = ds_strdup(dir);
    e->items = itemcache_new(d.item_cache_bytes == ENGINE_NO_ITEM_CACHE ? 0 : d.item_cache_bytes);
    e->cache = rocksdb_cache_create_lru(d.block_cache_bytes);
    char *rerr = NULL;
    int rc = DS_OK;
    for (int compress = 1; compress >= 0; compress--) {
        build_options(e, &d, compress);
        e->db =
            rocksdb_open_column_families(e->dbopts, dir, ENGINE_CF_COUNT, cf_names,
                                         (const rocksdb_options_t *const *)e->cfopts, e->cf, &rerr);
        if (e->db) break;
        if (compress && (strstr(rerr, "not linked") || strstr(rerr, "ompression"))) {
            ds_warn("engine: %s: compression unavailable (%s), opening uncompressed", dir, rerr);
            rocksdb_free(rerr);
            rerr = NULL;
            free_options(e);
            continue;
        }
        if (err && errlen) snprintf(err, errlen, "cannot open %s: %s", dir, rerr);
        rc = engine__err(rerr, dir);
        goto fail;
    }
    e->ropts = rocksdb_readoptions_create();
    e->wsync = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(e->wsync, 1);
    e->wnosync = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(e->wnosync, 0);
    e->consumers = rocksdb_memory_consumers_create();
    rocksdb_memory_consumers_add_db(e->consumers, e->db);
    rocksdb_memory_consumers_add_cache(e->consumers, e->cache);
    *out = e;
    return DS_OK;
fail:
    free_options(e);
    rocksdb_cache_destroy(e->cache);
    itemcache_free(e->items);
    ds_free(e->dir);
    ds_free(e);
    *out = NULL;
    return rc;
}

void engine_close(engine *e) {
    if (!e) return;
    rocksdb_memory_consumers_destroy(e->consumers);
    for (int i = 0; i < ENGINE_CF_COUNT; i++)
        rocksdb_column_family_handle_destroy(e->cf[i]);
    rocksdb_close(e->db);
    rocksdb_readoptions_destroy(e->ropts);
    rocksdb_writeoptions_destroy(e->wsync);
    rocksdb_writeoptions_destroy(e->wnosync);
    free_options(e);
    rocksdb_cache_destroy(e->cache);
    itemcache_free(e->items);
    ds_free(e->dir);
    ds_free(e);
}

/* ---- reads ----------------------------------------------------------------- */

static itemcache *cache_of(engine *e, engine_cf cf) {
    return CACHED_CF(cf) ? e->items : NULL;
}

int engine_get_in_place(engine *e, engine_cf cf, const void *k, size_t kl, engine_value_fn fn,
                        void *ud) {
    char *err = NULL;
    itemcache_ticket t;
    itemcache *items = cache_of(e, cf);
    char hit[ITEMCACHE_MAX_VALUE];
    size_t n;
    if (itemcache_get(items, cf, k, kl, hit, &n, &t)) return fn(hit, n, ud);
    rocksdb_pinnableslice_t *ps =
        rocksdb_get_pinned_cf(e->db, e->ropts, e->cf[cf], (const char *)k, kl, &err);
    if (err) return engine__err(err, "get");
    if (!ps) return DS_ENOTFOUND;
    const char *p = rocksdb_pinnableslice_value(ps, &n);
    itemcache_fill(items, &t, k, kl, p, n);
    int rc = fn(p, n, ud);
    rocksdb_pinnableslice_destroy(ps);
    return rc;
}

static int copy_value(const char *v, size_t n, void *ud) {
    ds_buf_append(ud, v, n);
    return DS_OK;
}

int engine_get(engine *e, engine_cf cf, const void *k, size_t kl, ds_buf *val) {
    ds_buf_reset(val);
    return engine_get_in_place(e, cf, k, kl, copy_value, val);
}

struct engine_snapshot {
    const rocksdb_snapshot_t *s;
};

engine_snapshot *engine_snapshot_new(engine *e) {
    engine_snapshot *s = ds_calloc(1, sizeof *s);
    s->s = rocksdb_create_snapshot(e->db);
    return s;
}

void engine_snapshot_free(engine *e, engine_snapshot *s) {
    if (!s) return;
    rocksdb_release_snapshot(e->db, s->s);
    ds_free(s);
}

engine_iter *engine_iter_new(engine *e, engine_cf cf, const void *lower, size_t ll,
                             const void *upper, size_t ul) {
    return engine_iter_new_at(e, NULL, cf, lower, ll, upper, ul);
}

engine_iter *engine_iter_new_at(engine *e, const engine_snapshot *snap, engine_cf cf,
                                const void *lower, size_t ll, const void *upper, size_t ul) {
    engine_iter *it = ds_calloc(1, sizeof *it);
    it->ropts = rocksdb_readoptions_create();
    if (snap) rocksdb_readoptions_set_snapshot(it->ropts, snap->s);
    if (lower) {
        it->lower = ds_memdup(lower, ll);
        rocksdb_readoptions_set_iterate_lower_bound(it->ropts, it->lower, ll);
    }
    if (upper) {
        it->upper = ds_memdup(upper, ul);
        rocksdb_readoptions_set_iterate_upper_bound(it->ropts, it->upper, ul);
    }
    /* Prefix seeks only when every key in range shares one prefix. */
    int prefix_mode = cf == ENGINE_CF_DATA && lower && upper && ll >= ENGINE_PREFIX_LEN &&
                      ul >= ENGINE_PREFIX_LEN && !memcmp(lower, upper, ENGINE_PREFIX_LEN);
    if (prefix_mode)
        rocksdb_readoptions_set_prefix_same_as_start(it->ropts, 1);
    else
        rocksdb_readoptions_set_total_order_seek(it->ropts, 1);
    it->it = rocksdb_create_iterator_cf(e->db, it->ropts, e->cf[cf]);
    return it;
}

void engine_iter_seek(engine_iter *it, const void *k, size_t kl) {
    rocksdb_iter_seek(it->it, (const char *)k, kl);
}
void engine_iter_seek_first(engine_iter *it) {
    /* With a lower bound RocksDB turns this into Seek(lower), which also
     * keeps prefix mode correct. */
    rocksdb_iter_seek_to_first(it->it);
}
void engine_iter_seek_last(engine_iter *it) {
    rocksdb_iter_seek_to_last(it->it);
}
void engine_iter_seek_for_prev(engine_iter *it, const void *k, size_t kl) {
    rocksdb_iter_seek_for_prev(it->it, (const char *)k, kl);
}
int engine_iter_valid(engine_iter *it) {
    return rocksdb_iter_valid(it->it) != 0;
}
void engine_iter_next(engine_iter *it) {
    rocksdb_iter_next(it->it);
}
void engine_iter_prev(engine_iter *it) {
    rocksdb_iter_prev(it->it);
}
const char *engine_iter_key(engine_iter *it, size_t *len) {
    return rocksdb_iter_key(it->it, len);
}
const char *engine_iter_value(engine_iter *it, size_t *len) {
    return rocksdb_iter_value(it->it, len);
}
int engine_iter_status(engine_iter *it) {
    char *err = NULL;
    rocksdb_iter_get_error(it->it, &err);
    if (!err) return DS_OK;
    int rc = engine__err(err, "iterator");
    return rc == DS_ECORRUPT ? rc : DS_EIO;
}
void engine_iter_free(engine_iter *it) {
    if (!it) return;
    rocksdb_iter_destroy(it->it);
    rocksdb_readoptions_destroy(it->ropts);
    ds_free(it->lower);
    ds_free(it->upper);
    ds_free(it);
}

/* ---- batches --------------------------------------------------------------- */

engine_batch *engine_batch_new(void) {
    engine_batch *b = ds_calloc(1, sizeof *b);
    b->wb = rocksdb_writebatch_wi_create(0, 1 /* overwrite_key */);
    return b;
}

void engine_batch_clear(engine_batch *b) {
    rocksdb_writebatch_wi_clear(b->wb);
    ds_buf_reset(&b->pending);
    if (b->cached_keys.len) memset(b->touched, 0, sizeof b->touched);
    ds_buf_reset(&b->cached_keys);
    b->npending = 0;
}

void engine_batch_free(engine_batch *b) {
    if (!b) return;
    rocksdb_writebatch_wi_destroy(b->wb);
    ds_buf_free(&b->pending);
    ds_buf_free(&b->cached_keys);
    ds_free(b);
}

int engine_batch_count(engine_batch *b) {
    return b->e ? rocksdb_writebatch_wi_count(b->wb) : b->npending;
}

static void pending_add(engine_batch *b, int op, engine_cf cf, const void *k, size_t kl,
                        const void *v, size_t vl) {
    uint32_t l[2] = {(uint32_t)kl, (uint32_t)vl};
    unsigned char h[2] = {(unsigned char)op, (unsigned char)cf};
    ds_buf_reserve(&b->pending, 10 + kl + vl);
    ds_buf_append(&b->pending, h, 2);
    ds_buf_append(&b->pending, &l[0], 4);
    ds_buf_append(&b->pending, k, kl);
    ds_buf_append(&b->pending, &l[1], 4);
    ds_buf_append(&b->pending, v, vl);
    b->npending++;
}

static size_t touched_bit(engine_cf cf, const void *k, size_t kl) {
    return itemcache_hash((unsigned char)cf, k, kl) % TOUCHED_BITS;
}

static int touched(const engine_batch *b, engine_cf cf, const void *k, size_t kl) {
    size_t i = touched_bit(cf, k, kl);
    return (b->touched[i / 64] >> (i % 64)) & 1;
}

/* Notes a key the batch writes in a cached column family (batch_mark,
 * touched). */
static void note_key(engine_batch *b, engine_cf cf, const void *k, size_t kl) {
    if (!CACHED_CF(cf)) return;
    size_t i = touched_bit(cf, k, kl);
    b->touched[i / 64] |= (uint64_t)1 << (i % 64);
    unsigned char c = (unsigned char)cf;
    uint32_t l = (uint32_t)kl;
    ds_buf_reserve(&b->cached_keys, 5 + kl);
    ds_buf_append(&b->cached_keys, &c, 1);
    ds_buf_append(&b->cached_keys, &l, 4);
    ds_buf_append(&b->cached_keys, k, kl);
}

/* Tells e's item cache that the batch's keys are being written (begin,
 * before RocksDB has them) or written (after, before the acknowledgement). */
static void batch_mark(engine *e, engine_batch *b, int begin) {
    const char *p = b->cached_keys.data, *end = p + b->cached_keys.len;
    while (p < end) {
        unsigned cf = (unsigned char)p[0];
        uint32_t kl;
        memcpy(&kl, p + 1, 4);
        if (begin) itemcache_write_begin(e->items, cf, p + 5, kl);
        else itemcache_write_end(e->items, cf, p + 5, kl);
        p += 5 + kl;
    }
}

void engine_batch_put(engine_batch *b, engine_cf cf, const void *k, size_t kl, const void *v,
                      size_t vl) {
    note_key(b, cf, k, kl);
    if (b->e)
        rocksdb_writebatch_wi_put_cf(b->wb, b->e->cf[cf], (const char *)k, kl, (const char *)v, vl);
    else
        pending_add(b, OP_PUT, cf, k, kl, v, vl);
}

void engine_batch_delete(engine_batch *b, engine_cf cf, const void *k, size_t kl) {
    note_key(b, cf, k, kl);
    if (b->e)
        rocksdb_writebatch_wi_delete_cf(b->wb, b->e->cf[cf], (const char *)k, kl);
    else
        pending_add(b, OP_DEL, cf, k, kl, NULL, 0);
}

/* Binds b to e, replaying operations recorded before. */
static int batch_bind(engine *e, engine_batch *b) {
    if (b->e == e) return DS_OK;
    if (b->e) {
        if (rocksdb_writebatch_wi_count(b->wb) != 0) {
            ds_error("engine: a non-empty batch was used with a second engine");
            return DS_EINVAL;
        }
        b->e = e;
        return DS_OK;
    }
    b->e = e;
    const char *p = b->pending.data, *end = p + b->pending.len;
    while (p < end) {
        int op = (unsigned char)p[0], cf = (unsigned char)p[1];
        uint32_t kl, vl;
        memcpy(&kl, p + 2, 4);
        const char *k = p + 6;
        memcpy(&vl, k + kl, 4);
        const char *v = k + kl + 4;
        if (op == OP_PUT)
            rocksdb_writebatch_wi_put_cf(b->wb, e->cf[cf], k, kl, v, vl);
        else
            rocksdb_writebatch_wi_delete_cf(b->wb, e->cf[cf], k, kl);
        p = v + vl;
    }
    ds_buf_reset(&b->pending);
    b->npending = 0;
    return DS_OK;
}

int engine_batch_get(engine *e, engine_batch *b, engine_cf cf, const void *k, size_t kl,
                     ds_buf *val) {
    ds_buf_reset(val);
    int rc = batch_bind(e, b);
    if (rc) return rc;
    /* a key the batch has not written reads as RocksDB has it, so through
     * the item cache */
    if (cache_of(e, cf) && !touched(b, cf, k, kl))
        return engine_get(e, cf, k, kl, val);
    char *err = NULL;
    size_t n = 0;
    char *v = rocksdb_writebatch_wi_get_from_batch_and_db_cf(b->wb, e->db, e->ropts, e->cf[cf],
                                                             (const char *)k, kl, &n, &err);
    if (err) return engine__err(err, "batch get");
    if (!v) return DS_ENOTFOUND;
    ds_buf_append(val, v, n);
    rocksdb_free(v);
    return DS_OK;
}

int engine_write(engine *e, engine_batch *b, int sync) {
    int rc = batch_bind(e, b);
    if (rc) return rc;
    char *err = NULL;
    batch_mark(e, b, 1);
    rocksdb_write_writebatch_wi(e->db, sync ? e->wsync : e->wnosync, b->wb, &err);
    batch_mark(e, b, 0);
    if (err) {
        rc = engine__err(err, "write");
        return rc == DS_ENOSPACE ? rc : DS_EIO;
    }
    return DS_OK;
}

/* ---- whole ranges ---------------------------------------------------------- */

int engine_delete_range(engine *e, engine_cf cf, const void *begin, size_t bl, const void *end,
                        size_t el) {
    char *err = NULL;
    itemcache *items = cache_of(e, cf);
    itemcache_write_begin(items, cf, NULL, 0);
    rocksdb_delete_range_cf(e->db, e->wsync, e->cf[cf], (const char *)begin, bl, (const char *)end,
                            el, &err);
    itemcache_write_end(items, cf, NULL, 0);
    if (err) {
        int rc = engine__err(err, "delete range");
        return rc == DS_ENOSPACE ? rc : DS_EIO;
    }
    return DS_OK;
}

int engine_compact_range(engine *e, engine_cf cf, const void *begin, size_t bl, const void *end,
                         size_t el) {
    rocksdb_compactoptions_t *co = rocksdb_compactoptions_create();
    rocksdb_compactoptions_set_exclusive_manual_compaction(co, 0);
    rocksdb_compactoptions_set_bottommost_level_compaction(co, 2 /* kForce */);
    rocksdb_compact_range_cf_opt(e->db, e->cf[cf], co, (const char *)begin, begin ? bl : 0,
                                 (const char *)end, end ? el : 0);
    rocksdb_compactoptions_destroy(co);
    return DS_OK; /* the C API reports no status for manual compactions */
}

int engine_approximate_size(engine *e, engine_cf cf, const void *begin, size_t bl, const void *end,
                            size_t el, uint64_t *bytes) {
    const char *s = begin, *l = end;
    char *err = NULL;
    *bytes = 0;
    rocksdb_approximate_sizes_cf(e->db, e->cf[cf], 1, &s, &bl, &l, &el, bytes, &err);
    if (err) return engine__err(err, "approximate size");
    return DS_OK;
}

int engine_disk_usage(engine *e, uint64_t *bytes) {
    uint64_t total = 0, v;
    for (int i = 0; i < ENGINE_CF_COUNT; i++)
        if (rocksdb_property_int_cf(e->db, e->cf[i], "rocksdb.total-sst-files-size", &v) == 0)
            total += v;
    /* The WAL: *.log files (the info log is LOG, LOG.old.*). */
    DIR *d = opendir(e->dir);
    if (d) {
        struct dirent *de;
        ds_buf path = DS_BUF_INIT;
        while ((de = readdir(d))) {
            size_t n = strlen(de->d_name);
            if (n < 5 || memcmp(de->d_name + n - 4, ".log", 4)) continue;
            ds_buf_reset(&path);
            ds_buf_printf(&path, "%s/%s", e->dir, de->d_name);
            struct stat st;
            if (stat(path.data, &st) == 0) total += (uint64_t)st.st_size;
        }
        ds_buf_free(&path);
        closedir(d);
    }
    *bytes = total;
    return DS_OK;
}

int engine_memory_usage(engine *e, uint64_t *bytes) {
    char *err = NULL;
    rocksdb_memory_usage_t *u = rocksdb_approximate_memory_usage_create(e->consumers, &err);
    if (err) return engine__err(err, "memory usage");
    *bytes = rocksdb_approximate_memory_usage_get_mem_table_total(u) +
             rocksdb_approximate_memory_usage_get_mem_table_readers_total(u) +
             rocksdb_approximate_memory_usage_get_cache_total(u) + itemcache_usage(e->items);
    rocksdb_approximate_memory_usage_destroy(u);
    return DS_OK;
}

void engine_memory_get(engine *e, engine_memory *m) {
    memset(m, 0, sizeof *m);
    m->cache = rocksdb_cache_get_usage(e->cache);
    m->item_cache = itemcache_usage(e->items);
    for (int i = 0; i < ENGINE_CF_COUNT; i++) {
        uint64_t v;
        if (rocksdb_property_int_cf(e->db, e->cf[i], "rocksdb.size-all-mem-tables", &v) == 0)
            m->memtables += v;
        if (rocksdb_property_int_cf(e->db, e->cf[i], "rocksdb.estimate-table-readers-mem", &v) == 0)
            m->table_readers += v;
    }
}

int engine_checkpoint(engine *e, const char *dir) {
    struct stat st;
    if (stat(dir, &st) == 0) {
        ds_error("engine: checkpoint: %s already exists", dir);
        return DS_EEXIST;
    }
    char *err = NULL;
    rocksdb_checkpoint_t *c = rocksdb_checkpoint_object_create(e->db, &err);
    if (err) return engine__err(err, "checkpoint");
    rocksdb_checkpoint_create(c, dir, 0 /* always flush first: no WAL copy */, &err);
    rocksdb_checkpoint_object_destroy(c);
    if (err) {
        int rc = engine__err(err, "checkpoint");
        return rc == DS_ENOSPACE ? rc : DS_EIO;
    }
    return DS_OK;
}

int engine_flush(engine *e) {
    rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(fo, 1);
    int rc = DS_OK;
    for (int i = 0; i < ENGINE_CF_COUNT && rc == DS_OK; i++) {
        char *err = NULL;
        rocksdb_flush_cf(e->db, fo, e->cf[i], &err);
        if (err) rc = engine__err(err, "flush");
    }
    rocksdb_flushoptions_destroy(fo);
    return rc;
}

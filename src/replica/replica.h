/* replica.h -- the ordered, durable write path of a data node.
 *
 * Every write a node accepts becomes a ds_op handed to replica_submit(). One
 * writer thread (the leader of the node's ranges, in the architecture's
 * terms) takes every op that is waiting, evaluates each in arrival order
 * against "the batch so far, then the database" (so a condition or an
 * update sees every earlier write, committed or not), seals the new values,
 * and commits the whole group with ONE synced write-ahead-log append: group
 * commit, so many concurrent writers share one fsync. Only after that sync
 * does it call each op's done() callback. Nothing is acknowledged before it
 * is durable.
 *
 * Ops that need the old item (a conditional put, an update) carry an apply()
 * callback that runs on the writer thread with the old item decoded: this is
 * where conditions and update expressions are evaluated, atomically with the
 * write, because no other write to the node can run in between.
 *
 * Threads: replica_submit() may be called from any thread. done() runs on
 * the writer thread and must be quick (the HTTP layer uses http_post to hand
 * the result back to the connection's loop). The op and everything it points
 * to must stay valid until done() has been called.
 *
 * Replication (cluster mode, cluster/replication.c) plugs in through hooks
 * (replica_set_hooks) and four op kinds; the writer itself knows nothing of
 * etcd or HTTP:
 *   - admit(op) re-checks, at evaluation time, that this node may write the
 *     op's key (it leads the key's range); a refusal fails the op unwritten.
 *   - every successful write is captured as a logical mutation (data key and
 *     the plaintext item, or a delete), before sealing;
 *   - prepare(group) adds entries to the group's batch (the ranges' sequence
 *     numbers) so they commit atomically with the data;
 *   - after_commit(group) ships the mutations and may hold sync ops: their
 *     done() is then called later by the hooks (replica_finish), once every
 *     in-sync follower has them. Other ops complete as before.
 *   - DS_OP_APPLY applies mutations shipped by a leader (or streamed by a
 *     catch-up), re-sealed under this node's tenant keys; apply_check(section)
 *     accepts or refuses each section on the writer thread, in order with
 *     everything else;
 *   - DS_OP_CALL runs a function on the writer thread between two groups;
 *   - DS_OP_DELETE_SPAN deletes this node's copy of one hash range.
 * With no hooks installed (`dstore serve`) the cost is one NULL check per op
 * and per group.
 */
#ifndef DS_REPLICA_H
#define DS_REPLICA_H

#include "common/ds.h"
#include "engine/engine.h"
#include "engine/item.h"

typedef struct meta_table meta_table;
typedef struct replica replica;
typedef struct ds_op ds_op;
typedef struct dict dict;
typedef struct replica_group replica_group;
typedef struct replica_section replica_section;

typedef enum {
    DS_OP_WRITE = 1,  /* put / delete / read-modify-write of one item */
    DS_OP_META,       /* metadata puts/deletes in op->meta (ordered with data writes) */
    DS_OP_DROP_TABLE, /* drop op->table: range-delete its data after earlier ops */
    DS_OP_APPLY,      /* apply op->sections (replicated or streamed mutations) */
    DS_OP_CALL,       /* run op->call on the writer thread, first in a new group */
    DS_OP_DELETE_SPAN,/* delete op->table's items with hashes in [span_low, span_high] */
} ds_op_kind;

typedef enum {
    DS_PRECOND_NONE = 0,
    DS_PRECOND_EXISTS,     /* fail with DS_ENOTFOUND if the item is absent */
    DS_PRECOND_NOT_EXISTS, /* fail with DS_EEXIST if the item is present */
} ds_precond;

/* A metadata mutation carried by a DS_OP_META op (value NULL = delete). */
typedef struct ds_meta_put {
    engine_cf cf;
    ds_slice key, value;
    int is_delete;
} ds_meta_put;

struct ds_op {
    /* ---- set by the submitter ---- */
    ds_op_kind kind;
    meta_table *table;     /* WRITE, DROP_TABLE: a reference the op holds */
    ds_buf key;            /* WRITE: data CF key (keycodec_data_key) */
    ds_buf ikey;           /* WRITE: index CF key (keycodec_index_key) */
    uint32_t hash;         /* WRITE: the key's hash (stored as the index value) */
    ds_precond precond;
    int is_delete;         /* WRITE: delete the item (after precond / apply) */
    item_value *item;      /* WRITE: new item for a plain put (apply == NULL) */
    /* Read-modify-write: called on the writer thread with the current item
     * (NULL if absent), decoded in op->arena. Returns DS_OK and sets *out to
     * the new item (or sets op->is_delete), or a DS_E* code that fails the op
     * without writing (DS_ECONDITION for a false condition). */
    int (*apply)(ds_op *op, const item_value *old, item_value **out);
    void *apply_arg;
    int want_old;          /* keep the previous item in op->old_item */
    size_t max_item_bytes; /* 0: no limit; else DS_ETOOBIG when the new item encodes larger */
    ds_meta_put *meta;     /* META: the mutations */
    size_t nmeta;
    ds_arena *arena;       /* where the writer decodes items for this op */
    void (*done)(ds_op *op);
    void *done_arg;

    /* ---- for a router that runs the op on another node (router_remote) ----
     * apply cannot cross the network; apply_kind names a decoder registered
     * on every node (cluster/opwire.h) that rebuilds apply and apply_arg from
     * apply_wire, a JSON text. A front end that sets apply also fills these.
     * err/errlen: where the message of a DS_EINVAL failure goes (NULL: none),
     * so a remote failure reaches the client with the leader's words. */
    const char *apply_kind;
    ds_buf apply_wire;
    char *err;
    size_t errlen;
    int async;             /* acknowledge once the leader has it, not every in-sync replica */

    /* ---- replication (replica_set_hooks; unused by `dstore serve`) ----
     * APPLY: sections, applied in order (each has its own table reference,
     * held by the submitter). CALL: call(op, g) runs on the writer thread at
     * the start of a group (every earlier op committed and after_commit'ed);
     * its return value becomes op->status; it may add entries to g's batch
     * with replica_group_put. DELETE_SPAN: table + span_low/high; op->meta
     * puts are written (synced) BEFORE anything is deleted, the index entries
     * and statistics next, the DATA span last (one range delete). */
    replica_section *sections;
    size_t nsections;
    int (*call)(ds_op *op, replica_group *g);
    uint32_t span_low, span_high;
    void *repl_range;      /* private to the hooks: the range admit() found */

    /* ---- set by the writer before done() ---- */
    int status;            /* DS_OK or DS_E* */
    item_value *old_item;  /* when want_old and the item existed */
    item_value *new_item;  /* the item as written (NULL for a delete) */

    ds_op *next;           /* private: queue link */
};

typedef struct replica_stats {
    uint64_t ops, groups, syncs;
    uint64_t eval_us;   /* writer time evaluating ops into groups */
    uint64_t commit_us; /* writer time in the durable write (WAL append + sync) */
} replica_stats;

/* ---- replication interface ------------------------------------------- */

/* One logical mutation: a DATA CF key and the plaintext item (item codec)
 * to store under it, or a delete (value NULL). The index entry and the hash
 * follow from the key (keycodec.h: index key = key[0..8) || key[12..),
 * hash = key[8..12)). */
typedef struct replica_mut {
    const char *key;
    size_t klen;
    const char *value; /* NULL: delete */
    size_t vlen;
    ds_op *op;         /* captured writes: the WRITE op that made it; else NULL */
} replica_mut;

typedef enum {
    REPLICA_SEC_LIVE = 1,  /* a leader's mutations: newer than anything stored */
    REPLICA_SEC_SNAPSHOT,  /* a catch-up page: skips keys in touched */
} replica_section_kind;

/* Part of a DS_OP_APPLY: mutations of one table, filled by the submitter.
 * The writer calls hooks.apply_check first: a non-zero result refuses the
 * section (nothing of it is written, status = the result). Then each
 * mutation is applied: sealed under table->tenant's data key, DATA and
 * INDEX entries written, statistics updated; a SNAPSHOT section skips the
 * keys in touched, a LIVE one adds its keys to touched (when apply_check set
 * it). A section of a dropped table is accepted and ignored. */
struct replica_section {
    replica_section_kind kind;
    meta_table *table;
    const replica_mut *muts;
    size_t nmuts;
    void *ud;       /* the submitter's */
    dict *touched;  /* set by apply_check, or NULL */
    int status;     /* set by the writer */
};

/* What the hooks see of a group being committed. ops: every op of the
 * group in order; held: one flag per op, set by after_commit (below);
 * muts: the captured writes of WRITE ops in evaluation order (pointers
 * valid until after_commit returns). */
struct replica_group {
    ds_op **ops;
    unsigned char *held;
    size_t nops;
    replica_mut *muts;
    size_t nmuts;
};

/* Hooks run on the writer thread; ud is replica_set_hooks' ud.
 *   admit         per WRITE op before evaluation: DS_OK, or a code that
 *                 fails the op unwritten (set op->err when it is not NULL).
 *                 May set op->repl_range.
 *   apply_check   per APPLY section, see replica_section.
 *   prepare       after evaluation, before the commit: add entries with
 *                 replica_group_put (they commit atomically with the group).
 *   after_commit  once the group is durable (rc DS_OK) or failed (rc). It may
 *                 hold ops (g->held[i] = 1): their done() is not called by
 *                 the writer but later, once, through replica_finish(), and
 *                 the writer never touches a held op again (another thread
 *                 may complete it, and its submitter free it, at once). It
 *                 may also change op->status.
 * Any hook may be NULL. */
typedef struct replica_hooks {
    int (*admit)(void *ud, ds_op *op);
    int (*apply_check)(void *ud, replica_group *g, replica_section *s);
    void (*prepare)(void *ud, replica_group *g);
    void (*after_commit)(void *ud, replica_group *g, int rc);
} replica_hooks;

/* Installs h (copied; NULL: none). Returns once no group runs with the old
 * hooks: every later group uses the new ones. Any thread but the writer. */
void replica_set_hooks(replica *r, const replica_hooks *h, void *ud);

/* Adds a put (value non-NULL) or delete to the batch of the group being
 * evaluated (prepare, apply_check, CALL only). Copied. */
void replica_group_put(replica_group *g, engine_cf cf, const void *k, size_t kl, const void *v,
                       size_t vl);

/* Completes an op held by after_commit: sets op->status = status and calls
 * done(). Any thread, exactly once per held op. */
void replica_finish(replica *r, ds_op *op, int status);

/* Submits op and waits until its done() ran (op->done and done_arg are
 * overwritten). Not from the writer thread. Returns op->status. */
int replica_run(replica *r, ds_op *op);

/* Starts the writer thread over an open engine. The engine must outlive the
 * replica. Returns DS_OK or DS_EIO. */
int replica_start(engine *e, replica **out);

/* With on == 0 (`--durability process`), group commits append to the
 * write-ahead log without fsync: an acknowledged write survives the
 * process's crash (the log is in the kernel's page cache) but not the
 * machine's. Call before submitting anything. Default: 1. */
void replica_set_fsync(replica *r, int on);

/* Queues op; its done() will be called exactly once, from the writer
 * thread, after the op is durable or has failed. After replica_stop() has
 * begun, ops fail with DS_ESTATE. */
void replica_submit(replica *r, ds_op *op);

/* Number of ops queued or being committed (for admission control). */
long replica_pending(const replica *r);

void replica_get_stats(const replica *r, replica_stats *out);

/* Commits what is queued, stops the thread, frees r. */
void replica_stop(replica *r);

/* ---- reads ----
 * Reads run on the caller's thread (any thread), against the latest durable
 * state: every write acknowledged before the read began is visible. */

/* Reads the item stored at data key `key` of table tb and decodes it into a.
 * Returns DS_OK, DS_ENOTFOUND, DS_ECORRUPT (fails its integrity check) or
 * DS_EIO. */
int replica_read(replica *r, meta_table *tb, const void *key, size_t klen, ds_arena *a,
                 item_value **out);

/* Walks tb's index (key order) from the first index key >= start within
 * [lo, hi), calling fn with each index key and its decoded item, at most
 * limit times (fn returning non-zero stops early). *more is set to 1 when
 * entries remain past the last one passed to fn. The index keys passed to fn
 * are valid only during the call. */
typedef int (*replica_list_fn)(const char *ikey, size_t iklen, item_value *item, void *ud);
int replica_list(replica *r, meta_table *tb, const ds_buf *lo, const ds_buf *hi,
                 const ds_buf *start, size_t limit, ds_arena *a, replica_list_fn fn, void *ud,
                 int *more);

/* Walks tb's DATA keys in [lo, hi) in key order (reverse: descending),
 * starting just after `after` (exclusive; NULL: from the edge), decoding
 * each item into a and calling fn with its storage key, the item and its
 * stored size. fn returns 0 to go on, non-zero to stop. Used by Query (one
 * partition's range) and Scan (a table's or a hash segment's range). */
typedef int (*replica_range_fn)(const char *key, size_t klen, item_value *item,
                                size_t stored_len, void *ud);
int replica_range(replica *r, meta_table *tb, const ds_buf *lo, const ds_buf *hi,
                  const ds_buf *after, int reverse, ds_arena *a, replica_range_fn fn, void *ud);

/* Counts tb's index entries in [lo, hi). */
int replica_count(replica *r, meta_table *tb, const ds_buf *lo, const ds_buf *hi, uint64_t *n);

/* replica_list and replica_count over only the index entries whose stored
 * hash keep() accepts (the others neither count nor use up the limit): a
 * cluster node holds some of a table's hash ranges in one index. */
typedef int (*replica_hash_fn)(uint32_t hash, void *ud);
int replica_list_where(replica *r, meta_table *tb, const ds_buf *lo, const ds_buf *hi,
                       const ds_buf *start, size_t limit, replica_hash_fn keep, void *keep_ud,
                       ds_arena *a, replica_list_fn fn, void *ud, int *more);
int replica_count_where(replica *r, const ds_buf *lo, const ds_buf *hi, replica_hash_fn keep,
                        void *keep_ud, uint64_t *n);

/* Initializes an op's buffers (everything else zero). */
void ds_op_init(ds_op *op, ds_op_kind kind, ds_arena *arena);
/* Frees the op's buffers (not the op, not its arena). */
void ds_op_release(ds_op *op);

#endif

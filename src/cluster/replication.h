/* replication.h -- a range leader shipping its writes to the followers, the
 * followers applying them, in-sync sets, epochs (fencing) and catch-up.
 *
 * WHO DOES WHAT
 *   Every node runs one repl (repl_start). It installs the writer hooks of
 *   replica.h and runs a background thread (the "ticker") that watches the
 *   range map, removes failed followers from in-sync sets, promotes caught-up
 *   ones, times out slow acks, starts catch-ups and size checks (below) and
 *   writes the per-range status records. One sender thread per peer node
 *   ships to that node, one request at a time, so each follower receives a
 *   range's writes in order.
 *
 * THE WRITE PATH (leader)
 *   1. admit (writer thread, per op): this node leads the key's range in the
 *      current range map, at an epoch no older than any epoch it has seen,
 *      its copy of the range is complete, and the range is not paused for a
 *      split (below). Else DS_ESTATE ("not the leader of this range"),
 *      nothing written: node_ops answers 421 and the router retries after
 *      the map changes or a short backoff. The first op of a new epoch
 *      takes over: the in-sync followers of the record become the required
 *      followers and each is sent a probe (below) announcing the epoch.
 *   2. prepare: every range with writes in the group gets seq + 1, stored
 *      (META "r/", below) in the same synced batch as the data.
 *   3. after_commit: the group's mutations of each range (data key +
 *      plaintext item, or delete) become one section (epoch, prev, seq)
 *      queued to every live follower of the range. Async ops complete now;
 *      sync ops (even failed or no-op ones, which observed the range's
 *      state) wait until every required follower acked the range's seq.
 *   4. A required follower that refuses a section, has not acked within
 *      --replication-timeout, or whose node record is gone (lease expired:
 *      no waiting), is removed from the record's "inSync" by rangemap_cas
 *      against a fresh read of the record, BEFORE any op is acknowledged
 *      without it. If the record shows another leader or epoch, the
 *      leader is fenced: every waiting op fails with DS_ESTATE (it was
 *      committed here but is not acknowledged) and admit refuses until a new
 *      epoch names this node again. If etcd cannot be reached, the waiting
 *      ops fail with DS_ESTATE and the removal is retried.
 *   Only the leader adds to "inSync" (after a catch-up, below; the control
 *   plane may remove, never add, except in a brand-new range's record), so
 *   the set it requires acks from always covers the record's: no
 *   acknowledged sync write is missing from a replica that could be chosen
 *   leader.
 *
 * THE FOLLOWER
 *   A section is applied (writer thread, DS_OP_APPLY, synced, with the
 *   range's new position in the same batch) when
 *     epoch >= the highest epoch seen for the range (range map, messages),
 *     this node does not lead the range at that epoch or a newer one, and
 *     (prev_epoch, prev_seq) == the position of its copy (log matching:
 *     one leader per epoch, so (epoch, seq) names one history).
 *   Each value is re-sealed under this node's tenant data key. A refused
 *   section leaves the copy as it was; the leader then drops the follower,
 *   which catches up.
 *
 * CATCH-UP (a follower in "replicas" but not in "inSync", or whose copy is
 * incomplete)
 *   resume  the follower's position (e, s), s > 0, complete: it asks the
 *           leader to resume; at a group boundary (a DS_OP_CALL on the
 *           leader's writer) the leader registers it for live shipping if its
 *           own position is (e, s) too.
 *   reset   otherwise: the follower marks its copy incomplete (r/ flag),
 *           deletes it (DS_OP_DELETE_SPAN: data span and index entries),
 *           and asks the leader to stream: at a group boundary the leader
 *           registers it for live shipping and takes a RocksDB snapshot at
 *           its position (e0, s0). The follower applies live sections from
 *           then on (the first one's prev is (e0, s0)), remembering their
 *           keys (the "touched" set), and pulls snapshot pages, applying each
 *           through its writer but skipping touched keys (live writes are
 *           newer). After the last page its copy is complete.
 *   Then the follower says done; the leader makes it required at once,
 *   waits until its acks reach the leader's position at that moment, and
 *   adds it to "inSync" by rangemap_cas. Both kinds of apply run on the
 *   follower's writer thread, so the touched checks are ordered.
 *   A node that is no longer in a range's "replicas" deletes its copy.
 *
 * SPLITS BY SIZE (replication_split.c; seed 002: only the range's current
 * leader splits it)
 *   The leader counts, per range it leads, the bytes of the sections it
 *   ships (the mutations it committed). Once they reach split_bytes / 8
 *   since the last check (and once after every takeover: a restart, a
 *   failover, or the new epoch of both halves of a split), the ticker starts
 *   a size check, one at a time per node, on its own thread: it sums the
 *   stored bytes (key + sealed value) of the range's DATA keys into 1024
 *   buckets over its hashes, and if the total is at least split_bytes it
 *   picks the bucket edge that halves them (repl_split_point). If this node
 *   still leads the range at the same epoch and bounds, the split is made a
 *   quiet point of the range's writes, so that every replica cuts its copy
 *   at the same position (a replica that cut elsewhere would have halves
 *   that differ from the leader's, and would copy them again):
 *     1. pause: a CALL on the writer sets the range's paused flag (every
 *        group admitted before has committed and queued its sections);
 *        admit refuses the range's writes from then on (421: the router
 *        retries, the client only waits);
 *     2. wait, at most --replication-timeout, until every required follower
 *        acknowledged the range's last seq; if not, unpause, no split;
 *     3. rangemap_split: one etcd txn, both halves at epoch + 1 with the
 *        same replicas; DS_ECONDITION: unpause, no split (a later check
 *        tries again); any other error leaves the outcome unknown, so the
 *        pause lasts until the map shows the split and reconcile cuts this
 *        copy, or the timeout;
 *     4. cut this node's copy at once (a CALL, as reconcile would when the
 *        watch delivers the records; admit then refuses the old records'
 *        epoch), and unpause.
 *   Every follower already holds exactly the leader's copy, and no section
 *   of the old range is in flight, so it cuts at the same position whether
 *   it sees the new records first or a half's first section (no data
 *   moves). Writes to that one range wait about one replication round trip
 *   plus one etcd txn; other ranges are not affected. `dstorectl range
 *   split` changes the records without the leader, so it cannot pause: a
 *   write in flight then may cost a follower a copy of a half.
 *
 * STATE ON DISK (META column family; meta.h's keys do not use "r/")
 *
 *   KEY                                     VALUE (21 bytes)
 *   "r/" table id u64 BE, lowHash u32 BE    epoch u64 BE, seq u64 BE, highHash u32 BE,
 *                                           flags u8 (bit 0: copy incomplete)
 *
 *   Written in the batch of every group that changes the range (leader and
 *   follower), so a restarted node knows exactly which writes it holds.
 *   epoch is the epoch of the leader that produced entry seq.
 *
 * STATE IN ETCD
 *   node/{uuid}/id/{tenant}/{table}/{lowHash}/details
 *       {"status":"okay"|"catching-up","seq":N}  written by the node (no
 *       lease), refreshed when it changes (seq at most every 5 s), deleted
 *       when the node leaves the range.
 *   tenant/{tenant}/{table}/{lowHash}: "inSync" changed by the leader only,
 *       by rangemap_cas.
 *
 * INTERNAL RPC (cluster/peer.h signs and checks every request)
 *
 *   POST /internal/v1/replicate   binary, leader -> follower. Integers big-endian.
 *
 *     OFFSET  SIZE  DESCRIPTION
 *     0       4     magic "DSR1"
 *     4       36    the sender's node uuid (ASCII)
 *     40      4     section count N (1..REPL_MAX_SECTIONS)
 *     44      ...   N sections:
 *       0     8       table id
 *       8     4       lowHash of the range
 *       12    4       highHash of the range (inclusive)
 *       16    8       epoch of the leader (the entry epoch of seq)
 *       24    8       prev_epoch: entry epoch of prev_seq on the leader
 *       32    8       prev_seq
 *       40    8       seq: prev_seq + 1, or prev_seq for a probe (no mutations)
 *       48    8       session: the follower's catch-up session, 0 if none
 *       56    4       mutation count M
 *       60    4       body length B
 *       64    B       M mutations:
 *         0   1         kind: 1 put, 2 delete
 *         1   4         key length K (> 12)
 *         5   K         DATA CF key: table id (== the section's), hash in
 *                       [lowHash, highHash], key components
 *         ..  4         put only: value length V
 *         ..  V         put only: the item, plaintext item codec (item.h)
 *
 *   A follower applies the sections of one request in one synced batch and
 *   answers 200 if it applied them all, 409 if it refused some, with
 *     {"results":[R, ...]}, one R per section in order:
 *       {"seq":S}                                   applied (or probe matched)
 *       {"code":"Diverged","epoch":E,"seq":S}       prev does not match its (E, S)
 *       {"code":"StaleEpoch","epoch":E}             it knows the newer epoch E
 *       {"code":"NotReady"|"Conflict"|"Cancelled"}  its copy cannot take it now
 *   400 {"code":"BadRequest"} for a malformed body, 503 {"code":"Unavailable"}
 *   when a table is not known yet or the node is stopping (nothing applied:
 *   the leader retries until its timeout), 500 if the write failed.
 *
 *   POST /internal/v1/catchup/start   JSON, follower -> leader
 *     {"table":T,"low":L,"high":H,"node":"<uuid>","session":"<16 hex>",
 *      "mode":"resume"|"reset","epoch":E,"seq":S}
 *     200 {"resumed":true|false} (resume) or {"epoch":E0,"seq":S0} (reset)
 *     421 {"code":"NotLeader"}, 403 {"code":"NotReplica"},
 *     409 {"code":"InSync"} (the leader still requires it), 503 (retry later)
 *   POST /internal/v1/catchup/page    JSON, follower -> leader
 *     {"session":"<16 hex>","after":"<base64 DATA key>" (absent: from the
 *      start),"limit":bytes}
 *     200 binary: "DSP1", more u8 (1: call again), count u32, body length
 *         u32, body (mutations as above, puts only, key order, every key
 *         after "after" in the range); 404 {"code":"UnknownSession"}
 *   POST /internal/v1/catchup/done    JSON {"session":"<16 hex>"}
 *     200 {"accepted":true}: the leader will add it to inSync once its acks
 *     are current; 404 {"code":"UnknownSession"}
 */
#ifndef DS_REPLICATION_H
#define DS_REPLICATION_H

#include "cluster/cluster.h"
#include "replica/replica.h"

#define REPL_UUID_LEN 36
#define REPL_MAX_SECTIONS 65536
#define REPL_DEFAULT_TIMEOUT_MS 2000

typedef struct repl_opts {
    int timeout_ms;    /* --replication-timeout (0: 2000 ms) */
    int max_catchups;  /* catch-ups this node runs at once as a follower (0: 2) */
    size_t page_bytes; /* catch-up page size asked for (0: 512 KiB) */
    uint64_t split_bytes; /* --split-bytes: a led range this big is split (0: never) */
} repl_opts;

/* Starts replication for a node: loads the ranges' positions from META,
 * installs the writer hooks on c->replica, starts the ticker thread and
 * sets c->repl. c (etcd, map, meta, replica, engine, uuid) must stay valid
 * until repl_free. o may be NULL. Returns DS_OK, or an error with a message
 * in err. */
int repl_start(cluster_member *c, const repl_opts *o, repl **out, char *err, size_t errlen);

/* Quiesces: the writer refuses further writes and applies (hooks that say
 * DS_ESTATE), every thread of repl is joined, every op waiting for acks
 * completes with DS_ESTATE, and replication_handle answers 503 from now on.
 * Call before http_server_stop (held ops answer through their HTTP loop);
 * NULL is fine. */
void repl_stop(repl *rp);

/* Frees rp after repl_stop, once nothing can call replication_handle (after
 * http_server_stop). Sets c->repl to NULL. NULL is fine. */
void repl_free(repl *rp);

/* One range as this node holds it (for tests and status output). */
typedef struct repl_range_info {
    uint64_t table_id;
    uint32_t low, high;
    uint64_t epoch, seq;   /* position of this node's copy */
    int leading;           /* this node leads it (at lead_epoch) */
    uint64_t lead_epoch;
    int complete;          /* the copy is whole (not being rebuilt) */
    int catching_up;
    int nfollowers;        /* leader: followers shipped to */
    int nrequired;         /* leader: followers whose acks are awaited */
    size_t waiting;        /* leader: sync ops waiting for acks */
    uint64_t acked;        /* leader: the lowest seq a follower acked (seq if none) */
} repl_range_info;

/* Copies the state of every range this node knows into a new array
 * (ds_free it); returns the count. */
size_t repl_ranges(repl *rp, repl_range_info **out);

/* ---- splits by size (exposed for the tests) ---- */

#define REPL_SIZE_BUCKETS 1024 /* a size check's buckets over a range's hashes */

/* Where the range [low, high] should split, given its stored bytes summed
 * into nb buckets of `width` hashes each (bucket i holds the hashes
 * low + i*width .. low + (i+1)*width - 1; the last one may end early at
 * high). It splits when the total is at least split_bytes (0: never) and
 * the range has more than one hash, at the bucket edge in (low, high] whose
 * bytes to its left are closest to half the total (the first of equals),
 * unless that leaves one half with no bytes. Returns 1 with *mid set (the
 * right half starts at *mid), or 0: no split. Pure: reads only its
 * arguments. */
int repl_split_point(uint32_t low, uint32_t high, uint64_t width, const uint64_t *bytes,
                     size_t nb, uint64_t split_bytes, uint32_t *mid);

/* ---- the wire format (exposed for fuzz/fuzz_replicate.c and the tests) ---- */

typedef struct repl_wsection {
    uint64_t table_id;
    uint32_t low, high;
    uint64_t epoch, prev_epoch, prev_seq, seq, session;
    replica_mut *muts; /* in the arena; key/value point into the input */
    size_t nmuts;
} repl_wsection;

typedef struct repl_wmsg {
    char sender[REPL_UUID_LEN + 1];
    repl_wsection *sections;
    size_t nsections;
} repl_wmsg;

/* Decodes a replicate body (the table above), checking everything: sizes,
 * mutation kinds, keys inside their section's range, seq == prev_seq + 1
 * (or == for a probe without mutations). Arrays live in a; keys and values
 * point into p, which must outlive out. DS_OK or DS_EPARSE. */
int repl_wire_decode(ds_arena *a, const void *p, size_t n, repl_wmsg *out);

/* Appends the message header with section count n. */
void repl_wire_header(ds_buf *out, const char *sender_uuid, uint32_t n);
/* Appends one section: s's fields (not muts) and body, an encoded list of
 * nmuts mutations (repl_wire_muts). */
void repl_wire_section(ds_buf *out, const repl_wsection *s, const void *body, size_t blen,
                       uint32_t nmuts);
/* Appends n mutations (value NULL: delete). */
void repl_wire_muts(ds_buf *out, const replica_mut *m, size_t n);

/* A catch-up page ("DSP1"): encode header + body, and decode (puts only,
 * strictly increasing keys of table_id with hashes in [low, high]). */
void repl_page_encode(ds_buf *out, int more, uint32_t count, const void *body, size_t blen);
int repl_page_decode(ds_arena *a, const void *p, size_t n, uint64_t table_id, uint32_t low,
                     uint32_t high, int *more, replica_mut **muts, size_t *nmuts);

/* The META key and value of a range's position. */
void repl_pos_key(ds_buf *out, uint64_t table_id, uint32_t low);
void repl_pos_value(ds_buf *out, uint64_t epoch, uint64_t seq, uint32_t high, int incomplete);
int repl_pos_parse(const void *k, size_t kl, const void *v, size_t vl, uint64_t *table_id,
                   uint32_t *low, uint64_t *epoch, uint64_t *seq, uint32_t *high,
                   int *incomplete);

#endif

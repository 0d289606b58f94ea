/* rangemap.h -- the cluster's range map and node list, as every member sees
 * them: a copy of etcd's records, loaded at open and kept current by two
 * watches.
 *
 * A table's 32-bit hash space (Murmur3-32 of the partition key) is cut into
 * ranges; each range has RF replicas on distinct nodes, one of them the
 * leader, and an in-sync subset (ARCHITECTURE.md "placement" and
 * "replication"). The records (seed 001's layout, under the cluster prefix):
 *
 *   KEY                               VALUE (JSON)                                  WRITTEN BY
 *   tenant/{tenant}/{table}/{lowHash} {"table":<id>,"lowHash":L,"highHash":H,       control (placement,
 *                                      "node":"<leader uuid>","uri":"<leader uri>",  leaders), the
 *                                      "replicas":["<uuid>",...],                    leader (in-sync
 *                                      "inSync":["<uuid>",...],"epoch":E}            set, splits) and
 *                                                                                    dstorectl (splits),
 *                                                                                    by txn only
 *   node/{uuid}/details               {"status":"okay","uri":"http://h:p/",...}     node, on its lease
 *   node/{uuid}/drain                 {"drain":true}                                dstorectl
 *   node/{uuid}/id/{tenant}/{table}/{lowHash}/details
 *                                     {"status":"okay"|"catching-up","seq":N}       node
 *
 * lowHash and highHash are inclusive decimal bounds; the ranges of a table
 * cover 0..4294967295 without gaps. "inSync" always contains the leader.
 * "epoch" grows by one with every change of leader: a message from a leader
 * carries its epoch, and a replica refuses an epoch older than the one it
 * knows (fencing a deposed leader).
 *
 * Every change of a range record is an etcd transaction that compares the
 * record's mod revision (rangemap_cas), so two actors (the control plane,
 * a leader) never both win.
 */
#ifndef DS_RANGEMAP_H
#define DS_RANGEMAP_H

#include "common/ds.h"
#include "control/etcd.h"

#define RANGE_MAX_REPLICAS 7
#define RANGE_UUID_LEN 37

typedef struct range_rec {
    char tenant[65];
    char table[256];
    uint64_t table_id;
    uint32_t low, high; /* inclusive */
    char leader[RANGE_UUID_LEN];
    char uri[256];      /* the leader's, as written by the control plane */
    int nreplicas, ninsync;
    char replicas[RANGE_MAX_REPLICAS][RANGE_UUID_LEN];
    char insync[RANGE_MAX_REPLICAS][RANGE_UUID_LEN];
    uint64_t epoch;
    int64_t mod_rev;    /* etcd's, for rangemap_cas */
} range_rec;

typedef struct node_rec {
    char uuid[RANGE_UUID_LEN];
    char uri[256];
    char status[32];
    int drain;          /* node/{uuid}/drain exists */
    int alive;          /* node/{uuid}/details exists (its lease lives) */
} node_rec;

typedef struct rangemap rangemap;

/* Loads node/ and tenant/ from e and watches both. e must outlive the map. */
int rangemap_open(etcd *e, rangemap **out, char *err, size_t errlen);
void rangemap_close(rangemap *m);

/* The range of table_id holding hash (a copy). DS_ENOTFOUND if none. */
int rangemap_find(rangemap *m, uint64_t table_id, uint32_t hash, range_rec *out);

/* Every range of table_id (table_id 0: of every table), ordered by table id
 * then lowHash, in a new array (ds_free it). Returns the count. */
size_t rangemap_ranges(rangemap *m, uint64_t table_id, range_rec **out);

/* The node record of uuid (a copy). DS_ENOTFOUND if unknown. */
int rangemap_node(rangemap *m, const char *uuid, node_rec *out);
/* Every known node (alive or with a drain flag), in uuid order; ds_free it. */
size_t rangemap_nodes(rangemap *m, node_rec **out);

/* A counter bumped by every change the watches deliver. */
uint64_t rangemap_version(rangemap *m);
/* Waits until the version differs from seen, or timeout_ms passed. */
void rangemap_wait(rangemap *m, uint64_t seen, int timeout_ms);
/* Calls fn(ud) from the watch thread after every change (one callback). */
void rangemap_on_change(rangemap *m, void (*fn)(void *ud), void *ud);

/* ---- records ---- */
int range_rec_parse(const char *key, size_t klen, const char *val, size_t vlen, range_rec *out);
void range_rec_key(const range_rec *r, ds_buf *out);
void range_rec_value(const range_rec *r, ds_buf *out);
/* 1 if uuid is in list[0..n). */
int range_has(const char list[][RANGE_UUID_LEN], int n, const char *uuid);
/* Adds / removes uuid (no-ops when already in / not in). */
void range_add(char list[][RANGE_UUID_LEN], int *n, const char *uuid);
void range_remove(char list[][RANGE_UUID_LEN], int *n, const char *uuid);

/* Replaces the record old (as read, with its mod_rev; NULL: creates one that
 * must not exist) by nw in one etcd txn. DS_ECONDITION when the record
 * changed meanwhile (re-read and decide again); transport errors as etcd_txn
 * (outcome unknown). */
int rangemap_cas(etcd *e, const range_rec *old, const range_rec *nw);

/* Splits parent (as read, with its mod_rev) at mid (parent->low < mid <=
 * parent->high) in one etcd txn: the parent's record becomes [low, mid-1]
 * and a new record [mid, high] is created (it must not exist), both with the
 * parent's leader, replicas and inSync and epoch + 1 (writes of the old
 * epoch are fenced; the leader takes both over). Every replica holds both
 * halves already: nothing moves (replication.c starts the child at the
 * parent's position). *left, *right: the new records. DS_EINVAL for a bad
 * mid, DS_ECONDITION when a record changed meanwhile. */
int rangemap_split(etcd *e, const range_rec *parent, uint32_t mid, range_rec *left,
                   range_rec *right);

#endif

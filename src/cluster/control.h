/* control.h -- `dstore control`: the cluster's control plane.
 *
 * The control plane decides where every range lives and who leads it; it
 * never touches data. Several may run; one leads at a time, holding the key
 * control/leader (value: its uuid) on its lease, created by an etcd txn
 * that requires the key to be absent. The others wait and take over when
 * the key goes (lease expiry, or a clean stop that revokes it). The leader
 * also writes control/config {"replicationFactor":RF,"rangesPerTable":N}
 * (informative: dstorectl reads it to count under-replicated ranges).
 *
 * The leader keeps a watched copy of the range map and node list
 * (rangemap.h) and of the table records meta/T/{tenant}/{table} (JSON with
 * "id", written by control/meta*), and reconciles on every change and every
 * ~500 ms. A pass is a pure function, control_plan(), from a snapshot
 * (tables, ranges, nodes) to a list of changes, each one range record
 * created, replaced or deleted with a compare on its mod revision
 * (rangemap_cas); a change that loses the race (DS_ECONDITION) is simply
 * decided again on the next pass, from a fresh view.
 *
 * WHAT A PASS DECIDES (in this order, at most one change per range)
 *   creation   a table with no range records gets ranges_per_table ranges,
 *              equal slices of 0..4294967295, each with min(RF, live
 *              non-draining nodes) replicas chosen to even out the replicas
 *              and leaders per node; leader = the chosen node with the fewest
 *              leaders, inSync = every replica (the range is empty), epoch 1.
 *              A table whose ranges leave a gap gets one range per gap.
 *   drop       ranges of a table whose meta record is gone, or whose id
 *              differs from the record's (dropped and re-created), are
 *              deleted.
 *   failover   a leader that is dead (node/{uuid}/details gone) is replaced
 *              by the live member of inSync with the fewest leaders
 *              (non-draining preferred), epoch + 1, dead nodes leave inSync.
 *              With no live in-sync replica the range stays leaderless
 *              (logged loudly): only an in-sync replica holds every
 *              acknowledged write, so waiting for one to come back is the only
 *              choice that loses nothing.
 *   fencing    a dead follower leaves inSync at once.
 *   leader     a draining leader hands leadership to a live, non-draining
 *   moves      in-sync member (epoch + 1); so does a leader whose node holds
 *              2+ more leaderships than another live in-sync member's node
 *              (bounded: max_moves per pass, only when no replica moves).
 *   repair     a range with fewer than RF live non-draining replicas gets a
 *              new replica on the live non-draining node with the fewest
 *              replicas, in "replicas" only: it catches up from the leader,
 *              which adds it to inSync. A dead replica counts as present for
 *              dead_grace_ms (it may be restarting). Replacing a draining
 *              replica is a move (bounded); replacing a dead one is not.
 *   trim       a dead replica leaves "replicas" once the range has RF live
 *              in-sync replicas without it (or after dead_forget_ms, when the
 *              cluster cannot replace it); a draining replica, or a surplus
 *              one, leaves once every other live non-draining replica is in
 *              sync and at least RF of them remain (never the leader: its
 *              leadership moves first).
 *   rebalance  while the replica counts of live non-draining nodes differ by
 *              2 or more, a range with a replica on the fullest node (not on
 *              the emptiest) gets a replica on the emptiest; trim later
 *              removes the surplus. At most max_moves ranges are moving
 *              (have a replica that is not yet in sync) at a time.
 */
#ifndef DS_CONTROL_H
#define DS_CONTROL_H

#include <signal.h>

#include "cluster/rangemap.h"
#include "control/etcd.h"

typedef struct control_opts {
    const char *uuid;       /* this control plane's (for control/leader) */
    int ranges_per_table;   /* 0: 8 */
    int replication_factor; /* 0: 3 (capped by RANGE_MAX_REPLICAS and live nodes) */
    int lease_ttl;          /* seconds, 0: 5 */
    int dead_grace_ms;      /* 0: 10000 */
    int dead_forget_ms;     /* 0: 300000 */
    int max_moves;          /* 0: 2 */
} control_opts;

/* Runs the control plane until *stop becomes non-zero (a signal handler
 * sets it): campaigns for control/leader, and while leading reconciles as
 * described above. Returns 0 after a clean stop (the leader key is revoked
 * so another control plane takes over at once), or 1 if the range map
 * could not be read at all. e must outlive the call. */
int control_run(etcd *e, const control_opts *o, volatile sig_atomic_t *stop);

/* ---- the planner (pure: no etcd, no clock; unit-tested) ------------------ */

/* A table that should have ranges (from meta/T/). */
typedef struct control_table {
    char tenant[65];
    char table[256];
    uint64_t id;
} control_table;

/* A node as the planner sees it. Nodes named in range records but unknown
 * (no details, no drain flag) are passed as dead. */
typedef struct control_node {
    char uuid[RANGE_UUID_LEN];
    char uri[256];
    int alive;        /* node/{uuid}/details exists */
    int drain;        /* node/{uuid}/drain exists */
    uint64_t dead_ms; /* how long it has been seen dead (alive: 0) */
} control_node;

typedef struct control_view {
    const control_table *tables;
    size_t ntables;
    const range_rec *ranges; /* in any order */
    size_t nranges;
    const control_node *nodes;
    size_t nnodes;
} control_view;

/* ALARM: nothing to apply, only to report (alarm == 1: a leaderless range or a
 * table with no live node to go to). */
typedef enum { CONTROL_ALARM = 0, CONTROL_CREATE, CONTROL_UPDATE, CONTROL_DELETE } control_kind;

typedef struct control_change {
    control_kind kind;
    range_rec old; /* UPDATE, DELETE: the record as read (with mod_rev) */
    range_rec nw;  /* CREATE, UPDATE: the new record */
    char why[400]; /* for the log: what and why */
    int alarm;     /* 1: a leaderless range (log as an error, nothing to apply) */
} control_change;

typedef struct control_plan_opts {
    int ranges_per_table;
    int replication_factor;
    int dead_grace_ms;
    int dead_forget_ms;
    int max_moves;
} control_plan_opts;

/* Decides one pass over v. Returns the number of changes, in a new array
 * *out (ds_free it; NULL when 0). CONTROL_ALARM entries report
 * leaderless ranges (and tables with nowhere to go); nothing to apply. */
size_t control_plan(const control_view *v, const control_plan_opts *o, control_change **out);

/* Applies one change: rangemap_cas for CREATE/UPDATE, a delete compared on
 * the mod revision for DELETE. DS_ECONDITION when the record changed. */
int control_apply(etcd *e, const control_change *c);

#endif

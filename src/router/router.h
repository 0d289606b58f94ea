/* router.h -- where an op goes: the local replica (`dstore serve`, a cluster
 * of one) or, in cluster mode, the leader node of the key's range.
 *
 * The API front ends talk only to a router; a router is a table of
 * functions (like Redis's connection types), so the remote implementation
 * drops in without touching the front ends. Every function has the contract
 * of the replica function of the same name (replica.h).
 */
#ifndef DS_ROUTER_H
#define DS_ROUTER_H

#include "replica/replica.h"

typedef struct router router;

typedef struct router_type {
    void (*write)(router *rt, ds_op *op);
    int (*read)(router *rt, meta_table *tb, const void *key, size_t klen, ds_arena *a,
                item_value **out);
    int (*list)(router *rt, meta_table *tb, const ds_buf *lo, const ds_buf *hi,
                const ds_buf *start, size_t limit, ds_arena *a, replica_list_fn fn, void *ud,
                int *more);
    int (*count)(router *rt, meta_table *tb, const ds_buf *lo, const ds_buf *hi, uint64_t *n);
    int (*range)(router *rt, meta_table *tb, const ds_buf *lo, const ds_buf *hi,
                 const ds_buf *after, int reverse, ds_arena *a, replica_range_fn fn, void *ud);
    long (*pending)(router *rt);
    void (*free)(router *rt);
} router_type;

struct router {
    const router_type *type;
    /* 1 when ops leave the process (router_remote): a front end that sets
     * op->apply must then also fill op->apply_kind and op->apply_wire
     * (replica.h). 0 for the local router, which pays nothing for them. */
    int needs_wire;
};

typedef struct cluster_member cluster_member;

/* A router that sends everything to the local replica r (not owned). */
router *router_local_new(replica *r);

/* A cluster member's router (router_remote.c): each op to the leader of its
 * key's range, found in c->map (c must outlive the router). write() returns
 * at once: a pool of worker threads makes the calls, retries them while
 * that is safe (NotLeader, no connection, a node refusing with 503: nothing
 * ran) for up to ~10 s, and calls op->done from a worker thread. read,
 * list, count and range block the calling thread for their calls. */
router *router_remote_new(cluster_member *c);

/* Cluster mode: the reads of the request being handled on this thread come
 * from this member's own copy instead of the range leader (the request
 * header X-DStore-Read: local; for inspection and tests: the copy may be
 * behind the leader). The front door sets it before dispatching a request
 * and clears it after (reads are synchronous on the request's thread).
 * router_remote honours it on a member with data (a node); router_local
 * reads locally anyway. router_read_local_header() says whether a header
 * value asks for it. */
void router_set_read_local(int on);
static inline int router_read_local_header(const ds_slice *v) {
    return v && ds_slice_eq(*v, "local");
}

static inline void router_write(router *rt, ds_op *op) { rt->type->write(rt, op); }
static inline int router_read(router *rt, meta_table *tb, const void *key, size_t klen,
                              ds_arena *a, item_value **out) {
    return rt->type->read(rt, tb, key, klen, a, out);
}
static inline int router_list(router *rt, meta_table *tb, const ds_buf *lo, const ds_buf *hi,
                              const ds_buf *start, size_t limit, ds_arena *a, replica_list_fn fn,
                              void *ud, int *more) {
    return rt->type->list(rt, tb, lo, hi, start, limit, a, fn, ud, more);
}
static inline int router_count(router *rt, meta_table *tb, const ds_buf *lo, const ds_buf *hi,
                               uint64_t *n) {
    return rt->type->count(rt, tb, lo, hi, n);
}
static inline int router_range(router *rt, meta_table *tb, const ds_buf *lo, const ds_buf *hi,
                               const ds_buf *after, int reverse, ds_arena *a, replica_range_fn fn,
                               void *ud) {
    return rt->type->range(rt, tb, lo, hi, after, reverse, a, fn, ud);
}
static inline long router_pending(router *rt) { return rt->type->pending(rt); }
static inline void router_free(router *rt) {
    if (rt) rt->type->free(rt);
}

#endif

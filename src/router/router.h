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
};

/* A router that sends everything to the local replica r (not owned). */
router *router_local_new(replica *r);

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

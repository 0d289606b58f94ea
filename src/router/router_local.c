/* router_local.c -- the router of `dstore serve`: every op goes to the one
 * local replica. */
#include "router/router.h"

typedef struct local_router {
    router base;
    replica *r;
} local_router;

static replica *rep(router *rt) { return ((local_router *)rt)->r; }

static void lr_write(router *rt, ds_op *op) { replica_submit(rep(rt), op); }

static int lr_read(router *rt, meta_table *tb, const void *key, size_t klen, ds_arena *a,
                   item_value **out) {
    return replica_read(rep(rt), tb, key, klen, a, out);
}

static int lr_list(router *rt, meta_table *tb, const ds_buf *lo, const ds_buf *hi,
                   const ds_buf *start, size_t limit, ds_arena *a, replica_list_fn fn, void *ud,
                   int *more) {
    return replica_list(rep(rt), tb, lo, hi, start, limit, a, fn, ud, more);
}

static int lr_count(router *rt, meta_table *tb, const ds_buf *lo, const ds_buf *hi, uint64_t *n) {
    return replica_count(rep(rt), tb, lo, hi, n);
}

static int lr_range(router *rt, meta_table *tb, const ds_buf *lo, const ds_buf *hi,
                    const ds_buf *after, int reverse, ds_arena *a, replica_range_fn fn, void *ud) {
    return replica_range(rep(rt), tb, lo, hi, after, reverse, a, fn, ud);
}

static long lr_pending(router *rt) { return replica_pending(rep(rt)); }

static void lr_free(router *rt) { ds_free(rt); }

static const router_type local_type = {lr_write, lr_read, lr_list, lr_count, lr_range, lr_pending, lr_free};

router *router_local_new(replica *r) {
    local_router *lr = ds_calloc(1, sizeof *lr);
    lr->base.type = &local_type;
    lr->r = r;
    return &lr->base;
}

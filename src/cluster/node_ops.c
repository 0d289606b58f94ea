/* node_ops.c -- a node's op and read endpoints: POST /internal/v1/op,
 * /read, /range, /list and /count (bodies and answers: opwire.h). The
 * lead's api.c routes /internal/v1/ here after peer_verify().
 *
 * op: the node runs the write only if it leads the key's range in its copy
 * of the range map (else 421 NotLeader: nothing ran, the router retries once
 * its map changes); the writer's admit hook (replication.c) checks again at
 * evaluation time. The op is built in the request's arena and submitted to
 * the local replica like any front end's write; its done() (writer thread)
 * posts the answer back to the connection's loop.
 *
 * Reads run on the loop thread against the local store, like the front
 * ends' reads in `dstore serve`, and are served by any member of the
 * range's in-sync set. A node holds several ranges of a table (as leader
 * or follower), all in one index column family, so /list and /count only
 * see the index entries whose hash (the index value) lies in the spans the
 * request names: the router asks each leader for the ranges it leads, and
 * no entry is seen twice.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cluster/node_ops.h"
#include "engine/keycodec.h"

/* How long an op or read for a table this node does not know yet waits for
 * the metadata watch (a table created a moment ago). Blocks the loop. */
#define NODE_TABLE_WAIT_MS 1000

/* ---- answers ---------------------------------------------------------------- */
static void reply(http_request *req, int status, ds_buf *b) {
    http_respond(req, status, "application/json", NULL, 0, b->data, b->len);
    ds_buf_free(b);
}

/* Writes an error body {"code","message"} into out (reset first) and returns
 * status. */
static int error_body(ds_buf *out, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int error_body(ds_buf *out, int status, const char *code, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ds_buf_reset(out);
    ds_buf_printf(out, "{\"code\":\"%s\",\"message\":", code);
    json_write_string(out, msg, strlen(msg));
    ds_buf_putc(out, '}');
    return status;
}

static int not_leader_body(ds_buf *out, uint64_t epoch, const char *what) {
    ds_buf_reset(out);
    ds_buf_printf(out, "{\"code\":\"NotLeader\",\"epoch\":%llu,\"message\":\"this node %s\"}",
                  (unsigned long long)epoch, what);
    return 421;
}

static void reply_error(http_request *req, int status, const char *code, const char *msg) {
    ds_buf b = DS_BUF_INIT;
    reply(req, error_body(&b, status, code, "%s", msg), &b);
}

static void not_leader(http_request *req, uint64_t epoch, const char *what) {
    ds_buf b = DS_BUF_INIT;
    reply(req, not_leader_body(&b, epoch, what), &b);
}

/* ---- helpers -------------------------------------------------------------------- */
/* A read-only ds_buf over arena bytes (never freed). */
static ds_buf view(ds_slice s) {
    ds_buf b = {(char *)(s.p ? s.p : ""), s.len, 0};
    return b;
}

static int in_spans(const opwire_span *s, size_t n, uint32_t h) {
    for (size_t i = 0; i < n; i++)
        if (h >= s[i].low && h <= s[i].high) return 1;
    return 0;
}

/* 1 if this node is in the in-sync set of every range of table that meets
 * the spans, and those ranges cover them; else 0 with the epoch of the
 * first range that fails (0 when there is none). */
static int holds_spans(cluster_member *c, uint64_t table, const opwire_span *spans, size_t n,
                       uint64_t *epoch) {
    range_rec *rs = NULL;
    size_t nr = rangemap_ranges(c->map, table, &rs);
    int ok = 1;
    *epoch = 0;
    for (size_t i = 0; ok && i < n; i++) {
        uint64_t next = spans[i].low; /* the first hash of the span not yet covered */
        for (size_t k = 0; ok && k < nr && next <= spans[i].high; k++) {
            if (rs[k].high < next || rs[k].low > spans[i].high) continue;
            if (rs[k].low > next || !range_has(rs[k].insync, rs[k].ninsync, c->uuid)) {
                ok = 0;
                *epoch = rs[k].epoch;
            }
            next = (uint64_t)rs[k].high + 1;
        }
        if (next <= spans[i].high) ok = 0;
    }
    ds_free(rs);
    return ok;
}

/* The table of a request, waiting briefly for the metadata watch. */
static meta_table *table_of(cluster_member *c, uint64_t id) {
    return meta_table_wait_id(c->meta, id, NODE_TABLE_WAIT_MS);
}

static int table_not_found(ds_buf *out, uint64_t id) {
    return error_body(out, 404, "TableNotFound", "table %llu is not known to this node",
                      (unsigned long long)id);
}

/* ---- POST /internal/v1/op ------------------------------------------------------- */
typedef struct node_op {
    ds_op op;
    http_request *req;
    cluster_member *c;
    char err[512]; /* op.err */
} node_op;

/* Loop thread: answers with the op's outcome. Everything is taken from the
 * op before http_respond, which hands the arena to the next request.
 *
 * DS_ESTATE has two meanings here. The writer's admit hook (replication.c)
 * refuses an op it may not write -- this node no longer leads the range, or
 * is stopping -- and such an op was never written: it fails before admit
 * sets op->repl_range, and the answer is 421 so that the router retries
 * elsewhere. An op that was admitted and then failed (its leader was fenced
 * while it waited for acks) may be on a follower: that DS_ESTATE is the
 * op's outcome, which the router must not retry. */
static void op_finish(void *arg) {
    node_op *n = arg;
    ds_op *op = &n->op;
    http_request *req = n->req;
    if (op->status == DS_ESTATE && !op->repl_range && !atomic_load(&op->table->dropped)) {
        range_rec rr = {.epoch = 0};
        rangemap_find(n->c->map, op->table->id, op->hash, &rr);
        meta_table_release(op->table);
        ds_op_release(op);
        return not_leader(req, rr.epoch, "does not lead the key's range now (refused unwritten)");
    }
    opwire_answer ans = {op->status, op->status == DS_EINVAL ? n->err : NULL, op->old_item,
                         op->status == DS_OK && op->apply ? op->new_item : NULL};
    ds_buf b = DS_BUF_INIT;
    if (opwire_encode_answer(&b, &ans)) { /* cannot happen: the writer encoded them */
        ds_buf_reset(&b);
        ds_buf_printf(&b, "{\"status\":%d}", op->status);
    }
    meta_table_release(op->table);
    ds_op_release(op);
    reply(req, 200, &b);
}

/* Writer thread (or the caller's, when the replica is stopping). */
static void op_done(ds_op *op) {
    node_op *n = op->done_arg;
    http_post(n->req, op_finish, n);
}

static void handle_op(cluster_member *c, http_request *req) {
    node_op *n = ds_arena_calloc(req->arena, sizeof *n);
    ds_op *op = &n->op;
    uint64_t table;
    const json_value *apply;
    char err[256];
    ds_op_init(op, DS_OP_WRITE, req->arena);
    if (opwire_decode_op(req->body.data, req->body.len, op, &table, &apply, err, sizeof err)) {
        ds_op_release(op);
        return reply_error(req, 400, "BadRequest", err);
    }
    if (op->key.len < KEYCODEC_PREFIX_LEN || ds_get_u64be(op->key.data) != table ||
        ds_get_u32be(op->key.data + 8) != op->hash || op->ikey.len < 8 ||
        ds_get_u64be(op->ikey.data) != table) {
        ds_op_release(op);
        return reply_error(req, 400, "BadRequest", "the keys do not match the table and hash");
    }
    meta_table *tb = table_of(c, table);
    if (!tb) {
        ds_op_release(op);
        ds_buf b = DS_BUF_INIT;
        return reply(req, table_not_found(&b, table), &b);
    }
    range_rec rr = {.epoch = 0};
    if (rangemap_find(c->map, table, op->hash, &rr) || strcmp(rr.leader, c->uuid)) {
        uint64_t epoch = rr.epoch;
        meta_table_release(tb);
        ds_op_release(op);
        return not_leader(req, epoch, "does not lead the key's range");
    }
    op->table = tb;
    op->err = n->err;
    op->errlen = sizeof n->err;
    op->done = op_done;
    op->done_arg = n;
    n->req = req;
    n->c = c;
    if (op->apply_kind) {
        int rc = opwire_apply_build(op, tb, apply, n->err, sizeof n->err);
        if (rc) { /* nothing ran: the op's outcome is the decoder's error */
            op->status = rc == DS_EINVAL ? DS_EINVAL : DS_EPARSE;
            return op_finish(n);
        }
    }
    replica_submit(c->replica, op);
}

/* ---- reads: POST /internal/v1/read, /range, /list, /count ------------------------ */
static int read_one(cluster_member *c, const opwire_query *q, ds_arena *a, ds_buf *out) {
    if (q->key.len < KEYCODEC_PREFIX_LEN || ds_get_u64be(q->key.p) != q->table)
        return error_body(out, 400, "BadRequest", "the key is not one of the table's");
    range_rec rr = {.epoch = 0};
    if (rangemap_find(c->map, q->table, ds_get_u32be(q->key.p + 8), &rr) ||
        !range_has(rr.insync, rr.ninsync, c->uuid))
        return not_leader_body(out, rr.epoch, "is not in the in-sync set of the key's range");
    meta_table *tb = table_of(c, q->table);
    if (!tb) return table_not_found(out, q->table);
    opwire_result r = {0};
    r.status = replica_read(c->replica, tb, q->key.p, q->key.len, a, &r.item);
    if (r.status) r.item = NULL;
    meta_table_release(tb);
    if (opwire_encode_result(out, OPWIRE_READ, &r)) {
        ds_buf_reset(out);
        ds_buf_printf(out, "{\"status\":%d}", DS_ECORRUPT);
    }
    return 200;
}

typedef struct range_page {
    ds_buf *out;
    size_t n, bytes, limit, max_bytes;
    int more, err;
} range_page;

static int range_fn(const char *key, size_t klen, item_value *item, size_t stored, void *ud) {
    range_page *p = ud;
    if (p->n == p->limit || (p->max_bytes && p->bytes >= p->max_bytes)) {
        p->more = 1;
        return 1;
    }
    if (opwire_entries_add(p->out, key, klen, item, (long long)stored)) {
        p->err = DS_ECORRUPT;
        return 1;
    }
    p->n++;
    p->bytes += stored;
    return 0;
}

static void read_range(cluster_member *c, const opwire_query *q, meta_table *tb, ds_arena *a,
                       ds_buf *out) {
    ds_buf lo = view(q->lo), hi = view(q->hi), after = view(q->after);
    range_page p = {out, 0, 0, q->limit ? q->limit : 1, q->max_bytes, 0, 0};
    opwire_entries_begin(out);
    int rc = replica_range(c->replica, tb, &lo, &hi, q->has_after ? &after : NULL, q->reverse, a,
                           range_fn, &p);
    opwire_entries_end(out, rc ? rc : p.err, p.more);
}

static int keep_in_spans(uint32_t hash, void *ud) {
    const opwire_query *q = ud;
    return in_spans(q->spans, q->nspans, hash);
}

typedef struct list_out {
    ds_buf *out;
    int err;
} list_out;

static int list_fn(const char *ikey, size_t iklen, item_value *item, void *ud) {
    list_out *lo = ud;
    if (opwire_entries_add(lo->out, ikey, iklen, item, -1)) lo->err = DS_ECORRUPT;
    return lo->err;
}

/* Only the entries of the ranges asked for: this node's index also holds
 * its other ranges of the table. */
static void read_list(cluster_member *c, const opwire_query *q, meta_table *tb, ds_arena *a,
                      ds_buf *out) {
    ds_buf lo = view(q->lo), hi = view(q->hi), start = view(q->start);
    int more = 0;
    list_out lo_ = {out, DS_OK};
    opwire_entries_begin(out);
    int rc = replica_list_where(c->replica, tb, &lo, &hi, &start, q->limit, keep_in_spans,
                                (void *)q, a, list_fn, &lo_, &more);
    opwire_entries_end(out, rc ? rc : lo_.err, more);
}

static void read_count(cluster_member *c, const opwire_query *q, ds_buf *out) {
    ds_buf lo = view(q->lo), hi = view(q->hi);
    opwire_result r = {0};
    r.status = replica_count_where(c->replica, &lo, &hi, keep_in_spans, (void *)q, &r.count);
    opwire_encode_result(out, OPWIRE_COUNT, &r);
}

int node_ops_read(cluster_member *c, opwire_kind kind, const char *body, size_t len, ds_arena *a,
                  ds_buf *out) {
    opwire_query q;
    char err[256];
    ds_buf_reset(out);
    if (!c->replica || !c->engine || !c->meta || !c->map)
        return error_body(out, 503, "Unavailable", "this member holds no data");
    if (opwire_decode_query(a, kind, body, len, &q, err, sizeof err))
        return error_body(out, 400, "BadRequest", "%s", err);
    if (kind == OPWIRE_READ) return read_one(c, &q, a, out);
    uint64_t epoch;
    if (!holds_spans(c, q.table, q.spans, q.nspans, &epoch))
        return not_leader_body(out, epoch, "is not in the in-sync set of every range asked for");
    if (kind == OPWIRE_COUNT) {
        read_count(c, &q, out);
        return 200;
    }
    meta_table *tb = table_of(c, q.table);
    if (!tb) return table_not_found(out, q.table);
    if (kind == OPWIRE_RANGE)
        read_range(c, &q, tb, a, out);
    else
        read_list(c, &q, tb, a, out);
    meta_table_release(tb);
    return 200;
}

/* ---- dispatch ------------------------------------------------------------------- */
static const struct {
    const char *path;
    opwire_kind kind; /* 0: op */
} routes[] = {
    {"/internal/v1/op", 0},
    {"/internal/v1/read", OPWIRE_READ},
    {"/internal/v1/range", OPWIRE_RANGE},
    {"/internal/v1/list", OPWIRE_LIST},
    {"/internal/v1/count", OPWIRE_COUNT},
};

int node_ops_handle(cluster_member *c, http_request *req) {
    size_t i = 0;
    while (i < DS_ARRAY_LEN(routes) && !ds_slice_eq(req->path, routes[i].path))
        i++;
    if (i == DS_ARRAY_LEN(routes)) return 0;
    if (strcmp(req->method, "POST")) {
        reply_error(req, 405, "MethodNotAllowed", "internal endpoints take POST");
        return 1;
    }
    if (!c->replica || !c->engine || !c->meta || !c->map) {
        reply_error(req, 503, "Unavailable", "this member holds no data");
        return 1;
    }
    if (!routes[i].kind) {
        handle_op(c, req);
        return 1;
    }
    ds_buf b = DS_BUF_INIT;
    int status = node_ops_read(c, routes[i].kind, req->body.data, req->body.len, req->arena, &b);
    reply(req, status, &b);
    return 1;
}

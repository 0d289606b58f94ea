/* replication_http.c -- the /internal/v1/ endpoints of replication (formats
 * in replication.h): replicate (a follower applying a leader's sections)
 * and the leader's catch-up endpoints (replication_catchup.c). The caller
 * (api.c) has checked the peer signature. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cluster/replication_int.h"
#include "control/meta.h"

void repl__reply(http_request *req, int status, const char *fmt, ...) {
    ds_buf b = DS_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    ds_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    http_respond(req, status, "application/json", NULL, 0, b.data, b.len);
    ds_buf_free(&b);
}

typedef struct rep_ctx {
    ds_op op;
    struct repl *rp;
    http_request *req;
    repl_wmsg msg;
    replica_section *secs;
    rapply *ra;
    int status;
    ds_buf resp;
} rep_ctx;

static void rep_respond(void *arg) {
    rep_ctx *x = arg;
    ds_buf b = x->resp; /* x lives in the request's arena */
    http_request *req = x->req;
    int status = x->status;
    ds_op_release(&x->op);
    http_respond(req, status, "application/json", NULL, 0, b.data, b.len);
    ds_buf_free(&b);
}

/* The writer applied (or refused) the sections: answer from the loop. */
static void rep_done(ds_op *op) {
    rep_ctx *x = op->done_arg;
    if (op->status) {
        x->status = 500;
        ds_buf_printf(&x->resp, "{\"code\":\"WriteFailed\",\"message\":\"%s\"}",
                      ds_strerror(op->status));
    } else {
        int all = 1;
        ds_buf_puts(&x->resp, "{\"results\":[");
        for (size_t i = 0; i < x->msg.nsections; i++) {
            const rapply *ra = &x->ra[i];
            if (i) ds_buf_putc(&x->resp, ',');
            all &= ra->res == RES_OK;
            switch (ra->res) {
            case RES_OK:
                ds_buf_printf(&x->resp, "{\"seq\":%llu}", (unsigned long long)ra->r_seq);
                break;
            case RES_DIVERGED:
                ds_buf_printf(&x->resp, "{\"code\":\"Diverged\",\"epoch\":%llu,\"seq\":%llu}",
                              (unsigned long long)ra->r_epoch, (unsigned long long)ra->r_seq);
                break;
            case RES_STALE:
                ds_buf_printf(&x->resp, "{\"code\":\"StaleEpoch\",\"epoch\":%llu}",
                              (unsigned long long)ra->r_epoch);
                break;
            case RES_CONFLICT: ds_buf_puts(&x->resp, "{\"code\":\"Conflict\"}"); break;
            case RES_CANCELLED: ds_buf_puts(&x->resp, "{\"code\":\"Cancelled\"}"); break;
            default: ds_buf_puts(&x->resp, "{\"code\":\"NotReady\"}"); break;
            }
        }
        ds_buf_puts(&x->resp, "]}");
        x->status = all ? 200 : 409;
    }
    for (size_t i = 0; i < x->msg.nsections; i++) meta_table_release(x->secs[i].table);
    http_post(x->req, rep_respond, x);
}

void repl__replicate_handle(struct repl *rp, http_request *req) {
    rep_ctx *x = ds_arena_calloc(req->arena, sizeof *x);
    if (repl_wire_decode(req->arena, req->body.data, req->body.len, &x->msg)) {
        repl__reply(req, 400, "{\"code\":\"BadRequest\",\"message\":\"malformed replicate body\"}");
        return;
    }
    size_t n = x->msg.nsections;
    x->secs = ds_arena_calloc(req->arena, n * sizeof *x->secs);
    x->ra = ds_arena_calloc(req->arena, n * sizeof *x->ra);
    for (size_t i = 0; i < n; i++) {
        const repl_wsection *ws = &x->msg.sections[i];
        meta_table *tb = meta_table_by_id(rp->c->meta, ws->table_id);
        if (!tb) { /* created a moment ago and not seen here yet: nothing applied */
            for (size_t j = 0; j < i; j++) meta_table_release(x->secs[j].table);
            repl__reply(req, 503,
                        "{\"code\":\"Unavailable\",\"message\":\"table %llu is not known here\"}",
                        (unsigned long long)ws->table_id);
            return;
        }
        x->ra[i].ws = ws;
        x->secs[i] = (replica_section){REPLICA_SEC_LIVE, tb, ws->muts, ws->nmuts, &x->ra[i],
                                       NULL, 0};
    }
    ds_op_init(&x->op, DS_OP_APPLY, NULL);
    x->op.sections = x->secs;
    x->op.nsections = n;
    x->op.done = rep_done;
    x->op.done_arg = x;
    x->rp = rp;
    x->req = req;
    replica_submit(rp->c->replica, &x->op);
}

int replication_handle(cluster_member *c, http_request *req) {
    static const char pre[] = "/internal/v1/";
    const size_t pl = sizeof pre - 1;
    if (req->path.len <= pl || memcmp(req->path.p, pre, pl)) return 0;
    ds_slice rest = {req->path.p + pl, req->path.len - pl};
    int which = ds_slice_eq(rest, "replicate")       ? 1
                : ds_slice_eq(rest, "catchup/start") ? 2
                : ds_slice_eq(rest, "catchup/page")  ? 3
                : ds_slice_eq(rest, "catchup/done")  ? 4
                                                     : 0;
    if (!which) return 0;
    struct repl *rp = c->repl;
    if (strcmp(req->method, "POST")) {
        repl__reply(req, 405, "{\"code\":\"MethodNotAllowed\"}");
        return 1;
    }
    if (!rp || rp->stopping || !c->replica) {
        repl__reply(req, 503, "{\"code\":\"Unavailable\",\"message\":\"replication is not running\"}");
        return 1;
    }
    switch (which) {
    case 1: repl__replicate_handle(rp, req); break;
    case 2: repl__catchup_start_handle(rp, req); break;
    case 3: repl__catchup_page_handle(rp, req); break;
    default: repl__catchup_done_handle(rp, req); break;
    }
    return 1;
}

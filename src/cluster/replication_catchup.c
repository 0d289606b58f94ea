/* replication_catchup.c -- bringing a follower's copy of a range up to
 * date (replication.h, CATCH-UP): the follower's thread, and the leader's
 * three endpoints (start, page, done).
 *
 * Every change of a copy's state runs on that node's writer thread (CALL,
 * APPLY and DELETE_SPAN ops), so it is ordered with the live sections the
 * leader ships meanwhile; the catch-up thread itself only talks HTTP and
 * waits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/peer.h"
#include "cluster/replication_int.h"
#include "common/base64.h"
#include "common/json.h"
#include "control/meta.h"
#include "crypto/crypto.h"
#include "engine/keycodec.h"

#define SESSION_IDLE_MS 60000
#define INSYNC_WAIT_MS 10000

static uint64_t new_session(void) {
    uint64_t x = 0;
    while (!x) crypto_random(&x, sizeof x);
    return x;
}

static int rpc_timeout(struct repl *rp) {
    return rp->o.timeout_ms * 2 > 5000 ? rp->o.timeout_ms * 2 : 5000;
}

/* ======================================================================== */
/* the follower                                                             */
/* ======================================================================== */

typedef struct cu {
    struct repl *rp;
    rrange *rr;
    range_rec rec; /* as the catch-up began: leader, epoch */
    rthread *th;
    /* CALL arguments and results */
    uint64_t session;
    int resume;
    uint64_t epoch, seq;
} cu;

/* FS_OK -> FS_WAIT(session) without a reset when the copy can resume. */
static int call_enter_wait(struct repl *rp, void *ud, replica_group *g) {
    (void)g;
    cu *x = ud;
    rrange *rr = x->rr;
    int rc = DS_OK;
    pthread_mutex_lock(&rp->mu);
    x->resume = 0;
    if (rr->leading || (rr->fstate != FS_OK && rr->fstate != FS_BROKEN)) rc = DS_ESTATE;
    else if (rr->fstate == FS_OK && !rr->incomplete && rr->last_seq > 0) {
        rr->fstate = FS_WAIT;
        rr->session = x->session;
        rr->reset = rr->adopted = 0;
        x->resume = 1;
        x->epoch = rr->last_epoch;
        x->seq = rr->last_seq;
    }
    pthread_mutex_unlock(&rp->mu);
    return rc;
}

/* FS_WAIT(session) after a resume the leader accepted -> FS_OK. */
static int call_resumed(struct repl *rp, void *ud, replica_group *g) {
    (void)g;
    cu *x = ud;
    rrange *rr = x->rr;
    int rc = DS_ESTATE;
    pthread_mutex_lock(&rp->mu);
    if (rr->fstate == FS_WAIT && rr->session == x->session && !rr->reset) {
        rr->fstate = FS_OK;
        rc = DS_OK;
    }
    pthread_mutex_unlock(&rp->mu);
    return rc;
}

/* Ends the session: a copy that was reset stays incomplete (FS_BROKEN). */
static int call_abort(struct repl *rp, void *ud, replica_group *g) {
    (void)g;
    cu *x = ud;
    rrange *rr = x->rr;
    pthread_mutex_lock(&rp->mu);
    if ((rr->fstate == FS_WAIT || rr->fstate == FS_CATCHUP) && rr->session == x->session) {
        rr->fstate = rr->reset ? FS_BROKEN : FS_OK;
        rr->session = 0;
        if (rr->touched) dict_free(rr->touched);
        rr->touched = NULL;
    }
    pthread_mutex_unlock(&rp->mu);
    return DS_OK;
}

/* -> FS_WAIT(session) with a reset: the copy is marked incomplete at
 * position (0, 0) in this group; DELETE_SPAN empties it next. */
static int call_enter_reset(struct repl *rp, void *ud, replica_group *g) {
    cu *x = ud;
    rrange *rr = x->rr;
    int rc = DS_OK;
    pthread_mutex_lock(&rp->mu);
    if (rr->leading || (rr->fstate != FS_OK && rr->fstate != FS_BROKEN &&
                        !(rr->fstate == FS_WAIT && !rr->reset))) {
        rc = DS_ESTATE;
    } else {
        rr->fstate = FS_WAIT;
        rr->session = x->session;
        rr->reset = 1;
        rr->adopted = 0;
        rr->incomplete = 1;
        rr->last_epoch = rr->last_seq = 0;
        if (rr->touched) dict_free(rr->touched);
        rr->touched = dict_new();
        repl__put_pos(g, rr, 0, 0);
    }
    pthread_mutex_unlock(&rp->mu);
    return rc;
}

/* The leader registered us at (epoch, seq): FS_WAIT -> FS_CATCHUP. Live
 * sections that arrived first adopted their prev as the base; it must be
 * the same position. */
static int call_confirm(struct repl *rp, void *ud, replica_group *g) {
    cu *x = ud;
    rrange *rr = x->rr;
    int rc = DS_ESTATE;
    pthread_mutex_lock(&rp->mu);
    if (rr->fstate == FS_WAIT && rr->session == x->session && rr->reset) {
        if (!rr->adopted) {
            rr->last_epoch = x->epoch;
            rr->last_seq = x->seq;
            repl__put_pos(g, rr, x->epoch, x->seq);
            rc = DS_OK;
        } else if (rr->base_epoch == x->epoch && rr->base_seq == x->seq) {
            rc = DS_OK;
        } else {
            ds_error("replication: catch-up of table %llu/%u: live writes started at seq %llu, "
                     "the snapshot is at %llu",
                     (unsigned long long)rr->table, rr->low, (unsigned long long)rr->base_seq,
                     (unsigned long long)x->seq);
        }
        if (rc == DS_OK) rr->fstate = FS_CATCHUP;
    }
    pthread_mutex_unlock(&rp->mu);
    return rc;
}

/* Every page applied: the copy is complete. */
static int call_finish(struct repl *rp, void *ud, replica_group *g) {
    cu *x = ud;
    rrange *rr = x->rr;
    int rc = DS_ESTATE;
    pthread_mutex_lock(&rp->mu);
    if (rr->fstate == FS_CATCHUP && rr->session == x->session) {
        rr->fstate = FS_OK;
        rr->incomplete = 0;
        rr->reset = 0;
        if (rr->touched) dict_free(rr->touched);
        rr->touched = NULL;
        repl__put_pos(g, rr, rr->last_epoch, rr->last_seq);
        x->seq = rr->last_seq;
        rc = DS_OK;
    }
    pthread_mutex_unlock(&rp->mu);
    return rc;
}

static void hex16(char out[17], uint64_t v) { snprintf(out, 17, "%016llx", (unsigned long long)v); }

/* POSTs a JSON body to the leader. DS_OK with *status and resp. */
static int leader_call(cu *x, const char *path, const ds_buf *body, long *status, ds_buf *resp) {
    char uri[256];
    if (!repl__node_uri(x->rp, x->rec.leader, uri, sizeof uri)) return DS_EIO;
    return peer_call(uri, path, body->data, body->len, rpc_timeout(x->rp), status, resp);
}

static int start_body(cu *x, ds_buf *b, const char *mode) {
    char s[17];
    hex16(s, x->session);
    ds_buf_printf(b,
                  "{\"table\":%llu,\"low\":%u,\"high\":%u,\"node\":\"%s\",\"session\":\"%s\","
                  "\"mode\":\"%s\",\"epoch\":%llu,\"seq\":%llu}",
                  (unsigned long long)x->rr->table, x->rr->low, x->rr->high, x->rp->c->uuid, s,
                  mode, (unsigned long long)x->epoch, (unsigned long long)x->seq);
    return 0;
}

static int json_u64(const json_value *o, const char *name, uint64_t *out) {
    const json_value *v = json_get(o, name);
    if (!v || v->type != JSON_NUMBER || v->u.str.s[0] == '-') return -1;
    char *end;
    *out = strtoull(v->u.str.s, &end, 10);
    return end == v->u.str.s + v->u.str.len ? 0 : -1;
}

/* The leader and epoch are still those the catch-up began with. */
static int same_leader(cu *x) {
    range_rec rec;
    return !x->rp->stopping && !rangemap_find(x->rp->c->map, x->rr->table, x->rr->low, &rec) &&
           rec.low == x->rr->low && !strcmp(rec.leader, x->rec.leader) &&
           rec.epoch == x->rec.epoch;
}

/* Pulls and applies every page of the snapshot. */
static int pull_pages(cu *x, meta_table *tb, const char **why) {
    struct repl *rp = x->rp;
    ds_buf after = DS_BUF_INIT, body = DS_BUF_INIT, resp = DS_BUF_INIT;
    char s[17];
    hex16(s, x->session);
    int rc = DS_OK;
    uint64_t pages = 0, items = 0;
    for (;;) {
        if (!same_leader(x)) {
            *why = "the range's leader changed";
            rc = DS_ESTATE;
            break;
        }
        ds_buf_reset(&body);
        ds_buf_printf(&body, "{\"session\":\"%s\",\"limit\":%zu", s, rp->o.page_bytes);
        if (after.len) {
            ds_buf_puts(&body, ",\"after\":\"");
            base64_encode(&body, after.data, after.len, 0);
            ds_buf_putc(&body, '"');
        }
        ds_buf_putc(&body, '}');
        long status = 0;
        rc = leader_call(x, "internal/v1/catchup/page", &body, &status, &resp);
        if (rc == DS_OK && status != 200) {
            *why = "the leader refused a page";
            rc = DS_ESTATE;
        }
        if (rc) {
            if (!*why) *why = "cannot reach the leader";
            break;
        }
        ds_arena *a = ds_arena_new(4096);
        int more = 0;
        replica_mut *muts = NULL;
        size_t n = 0;
        rc = repl_page_decode(a, resp.data, resp.len, x->rr->table, x->rr->low, x->rr->high,
                              &more, &muts, &n);
        if (rc == DS_OK && after.len && n &&
            (memcmp(muts[0].key, after.data, DS_MIN(after.len, muts[0].klen)) < 0 ||
             (muts[0].klen <= after.len &&
              !memcmp(muts[0].key, after.data, muts[0].klen))))
            rc = DS_EPARSE; /* pages must move forward */
        if (rc == DS_OK && n) {
            repl_wsection ws = {x->rr->table, x->rr->low, x->rr->high, 0, 0, 0, 0, x->session,
                                NULL, 0};
            rapply ra = {&ws, RES_OK, 0, 0};
            replica_section sec = {REPLICA_SEC_SNAPSHOT, tb, muts, n, &ra, NULL, 0};
            ds_op op;
            ds_op_init(&op, DS_OP_APPLY, NULL);
            op.sections = &sec;
            op.nsections = 1;
            rc = replica_run(rp->c->replica, &op);
            ds_op_release(&op);
            if (rc == DS_OK && sec.status) rc = sec.status;
            if (rc) *why = "applying a page failed";
            ds_buf_reset(&after);
            ds_buf_append(&after, muts[n - 1].key, muts[n - 1].klen);
            items += n;
        } else if (rc) {
            *why = "a malformed page";
        }
        ds_arena_free(a);
        pages++;
        if (rc || !more) break;
    }
    if (rc == DS_OK)
        ds_info("replication: catch-up of %s/%s/%u: %llu items in %llu pages",
                x->rec.tenant, x->rec.table, x->rr->low, (unsigned long long)items,
                (unsigned long long)pages);
    ds_buf_free(&after);
    ds_buf_free(&body);
    ds_buf_free(&resp);
    return rc;
}

/* Tells the leader we are done, then waits (a while) to be in inSync. */
static int finish_session(cu *x, const char **why) {
    ds_buf body = DS_BUF_INIT, resp = DS_BUF_INIT;
    char s[17];
    hex16(s, x->session);
    ds_buf_printf(&body, "{\"session\":\"%s\"}", s);
    long status = 0;
    int rc = leader_call(x, "internal/v1/catchup/done", &body, &status, &resp);
    ds_buf_free(&body);
    ds_buf_free(&resp);
    if (rc || status != 200) {
        *why = "the leader refused the end of the catch-up";
        return rc ? rc : DS_ESTATE;
    }
    uint64_t until = ds_now_ms() + INSYNC_WAIT_MS;
    while (ds_now_ms() < until && !x->rp->stopping) {
        uint64_t ver = rangemap_version(x->rp->c->map);
        range_rec rec;
        if (!rangemap_find(x->rp->c->map, x->rr->table, x->rr->low, &rec) &&
            range_has(rec.insync, rec.ninsync, x->rp->c->uuid))
            return DS_OK;
        rangemap_wait(x->rp->c->map, ver, 200);
    }
    *why = "not added to the in-sync set in time";
    return DS_ETIMEDOUT;
}

static int run_catchup(cu *x, const char **why) {
    struct repl *rp = x->rp;
    char uri[256];
    if (!repl__node_uri(rp, x->rec.leader, uri, sizeof uri)) {
        *why = "the leader is not alive";
        return DS_EIO;
    }
    meta_table *tb = meta_table_by_id(rp->c->meta, x->rr->table);
    if (!tb) {
        *why = "the table is not known here yet";
        return DS_ENOTFOUND;
    }
    int rc;
    ds_buf body = DS_BUF_INIT, resp = DS_BUF_INIT;
    ds_arena *a = ds_arena_new(1024);
    json_value *o;
    char err[64];
    long status = 0;

    /* 1. resume when this copy is complete and the leader is at the same position */
    x->session = new_session();
    if ((rc = repl__call(rp, call_enter_wait, x))) {
        *why = "the copy is busy";
        goto out;
    }
    if (x->resume) {
        start_body(x, &body, "resume");
        rc = leader_call(x, "internal/v1/catchup/start", &body, &status, &resp);
        int resumed = 0;
        if (rc == DS_OK && status == 200 &&
            !json_parse(a, resp.data, resp.len, 4, &o, err, sizeof err)) {
            const json_value *r = json_get(o, "resumed");
            resumed = r && r->type == JSON_TRUE;
        } else if (!rc) {
            rc = DS_ESTATE;
        }
        if (rc) {
            repl__call(rp, call_abort, x);
            *why = status == 409 ? "the leader still counts this node in sync"
                                 : "the leader refused to resume";
            goto out;
        }
        if (resumed) {
            if ((rc = repl__call(rp, call_resumed, x))) {
                *why = "the copy changed meanwhile";
                goto out;
            }
            ds_info("replication: %s/%s/%u: resuming at seq %llu", x->rec.tenant, x->rec.table,
                    x->rr->low, (unsigned long long)x->seq);
            rc = finish_session(x, why);
            goto out;
        }
        repl__call(rp, call_abort, x); /* the positions differ: reset */
    }

    /* 2. reset: empty this copy, then stream the leader's snapshot */
    x->session = new_session();
    x->epoch = x->seq = 0;
    if ((rc = repl__call(rp, call_enter_reset, x))) {
        *why = "the copy is busy, or marking it incomplete failed";
        goto abort;
    }
    /* the incomplete marker is written (synced) again before anything is
     * deleted: a crash from here on leaves a copy known to be incomplete */
    ds_buf pk = DS_BUF_INIT, pv = DS_BUF_INIT;
    repl_pos_key(&pk, x->rr->table, x->rr->low);
    repl_pos_value(&pv, 0, 0, x->rr->high, 1);
    ds_meta_put mp = {ENGINE_CF_META, {pk.data, pk.len}, {pv.data, pv.len}, 0};
    ds_op op;
    ds_op_init(&op, DS_OP_DELETE_SPAN, NULL);
    op.table = tb;
    op.span_low = x->rr->low;
    op.span_high = x->rr->high;
    op.meta = &mp;
    op.nmeta = 1;
    rc = replica_run(rp->c->replica, &op);
    ds_op_release(&op);
    ds_buf_free(&pk), ds_buf_free(&pv);
    if (rc) {
        *why = "deleting the old copy failed";
        goto abort;
    }
    repl__status_put(rp, x->rec.tenant, x->rec.table, x->rr->low, "catching-up", 0);
    ds_buf_reset(&body);
    start_body(x, &body, "reset");
    rc = leader_call(x, "internal/v1/catchup/start", &body, &status, &resp);
    if (rc == DS_OK && status == 200 &&
        !json_parse(a, resp.data, resp.len, 4, &o, err, sizeof err) &&
        !json_u64(o, "epoch", &x->epoch) && !json_u64(o, "seq", &x->seq)) {
        /* registered at (epoch, seq) */
    } else {
        if (!rc) rc = DS_ESTATE;
        *why = status == 409 ? "the leader still counts this node in sync"
                             : "the leader refused the catch-up";
        goto abort;
    }
    if ((rc = repl__call(rp, call_confirm, x))) {
        *why = "the live writes and the snapshot do not meet";
        goto abort;
    }
    ds_info("replication: %s/%s/%u: streaming the leader's copy at seq %llu", x->rec.tenant,
            x->rec.table, x->rr->low, (unsigned long long)x->seq);
    if ((rc = pull_pages(x, tb, why))) goto abort;
    if ((rc = repl__call(rp, call_finish, x))) {
        *why = "the catch-up was cancelled";
        goto abort;
    }
    rc = finish_session(x, why);
    goto out;
abort:
    repl__call(rp, call_abort, x);
out:
    meta_table_release(tb);
    ds_arena_free(a);
    ds_buf_free(&body);
    ds_buf_free(&resp);
    return rc;
}

static void *catchup_main(void *arg) {
    cu *x = arg;
    struct repl *rp = x->rp;
    const char *why = NULL;
    int rc = run_catchup(x, &why);
    if (rc && !rp->stopping)
        ds_warn("replication: catch-up of %s/%s/%u from %.8s failed: %s (%s)", x->rec.tenant,
                x->rec.table, x->rr->low, x->rec.leader, why ? why : "error", ds_strerror(rc));
    pthread_mutex_lock(&rp->mu);
    x->rr->catchup = 0;
    if (rc) {
        int b = x->rr->retry_ms < 500 ? 500 : x->rr->retry_ms;
        x->rr->retry_at_ms = ds_now_ms() + (uint64_t)b;
        x->rr->retry_ms = b * 2 > 10000 ? 10000 : b * 2;
    } else {
        x->rr->retry_at_ms = 0;
        x->rr->retry_ms = 0;
    }
    rp->ncatchups--;
    atomic_store(&x->th->finished, 1);
    pthread_cond_signal(&rp->cv);
    pthread_mutex_unlock(&rp->mu);
    ds_free(x);
    return NULL;
}

void repl__catchup_start(struct repl *rp, rrange *rr, const range_rec *rec) {
    cu *x = ds_calloc(1, sizeof *x);
    x->rp = rp;
    x->rr = rr;
    x->rec = *rec;
    if (!repl__thread_start(rp, catchup_main, x, &x->th, "ds-repl-catchup")) {
        ds_free(x);
        return;
    }
    rr->catchup = 1;
    rp->ncatchups++;
}

/* ======================================================================== */
/* the leader                                                               */
/* ======================================================================== */

static rsession *session_find(struct repl *rp, uint64_t id) {
    for (rsession *s = rp->sessions; s; s = s->next)
        if (s->id == id) return s;
    return NULL;
}

static void session_free(struct repl *rp, rsession *s) {
    engine_snapshot_free(rp->c->engine, s->snap);
    ds_free(s);
}

void repl__sessions_gc(struct repl *rp, int all) {
    uint64_t now = ds_now_ms();
    for (rsession **sp = &rp->sessions; *sp;) {
        rsession *s = *sp;
        lfol *f = s->rr ? repl__fol(s->rr, s->uuid) : NULL;
        int live = s->rr && s->rr->leading && f && f->session == s->id &&
                   f->state == FOL_CATCHUP && now - s->used_ms < SESSION_IDLE_MS;
        if (!s->busy && (all || !live)) {
            *sp = s->next;
            session_free(rp, s);
            continue;
        }
        sp = &s->next;
    }
}

static int parse_session(const json_value *o, uint64_t *id) {
    const json_value *v = json_get(o, "session");
    if (!v || v->type != JSON_STRING || v->u.str.len != 16) return -1;
    uint8_t b[8];
    if (crypto_unhex(b, 8, v->u.str.s, 16)) return -1;
    *id = ds_get_u64be(b);
    return *id ? 0 : -1;
}

typedef struct start_ctx {
    ds_op op;
    struct repl *rp;
    http_request *req;
    uint64_t table, session, epoch, seq;
    uint32_t low;
    char node[RANGE_UUID_LEN];
    int reset;
    int status;
    ds_buf resp;
} start_ctx;

/* On the writer thread, between groups: every earlier group is committed
 * and queued to the followers it had, so registering now means the
 * follower receives every later group live, and a snapshot taken now holds
 * exactly the writes up to the range's position. */
static int start_call(ds_op *op, replica_group *g) {
    (void)g;
    start_ctx *x = (start_ctx *)op;
    struct repl *rp = x->rp;
    pthread_mutex_lock(&rp->mu);
    rrange *rr = rp->stopping ? NULL : repl__range(rp, x->table, x->low, 0, 0);
    lfol *f = rr ? repl__fol(rr, x->node) : NULL;
    if (!rr || !rr->leading || rr->fenced) {
        x->status = 421;
        ds_buf_puts(&x->resp, "{\"code\":\"NotLeader\"}");
    } else if (f && f->state != FOL_CATCHUP) {
        x->status = 409;
        ds_buf_puts(&x->resp, "{\"code\":\"InSync\"}");
    } else if (!x->reset && !(rr->last_seq == x->seq && rr->last_epoch == x->epoch && x->seq)) {
        x->status = 200;
        ds_buf_puts(&x->resp, "{\"resumed\":false}");
    } else if (!f && rr->nfol == RANGE_MAX_REPLICAS) {
        x->status = 503;
        ds_buf_puts(&x->resp, "{\"code\":\"Unavailable\"}");
    } else {
        /* (re)register: an older session of this follower ends here */
        if (!f) f = &rr->fol[rr->nfol++];
        memset(f, 0, sizeof *f);
        snprintf(f->uuid, sizeof f->uuid, "%s", x->node);
        f->state = FOL_CATCHUP;
        f->acked = rr->last_seq;
        f->session = x->session;
        rsession *s = ds_calloc(1, sizeof *s);
        s->id = x->session;
        s->rr = rr;
        snprintf(s->uuid, sizeof s->uuid, "%s", x->node);
        s->used_ms = ds_now_ms();
        if (x->reset) s->snap = engine_snapshot_new(rp->c->engine);
        s->next = rp->sessions;
        rp->sessions = s;
        x->status = 200;
        if (x->reset)
            ds_buf_printf(&x->resp, "{\"epoch\":%llu,\"seq\":%llu}",
                          (unsigned long long)rr->last_epoch, (unsigned long long)rr->last_seq);
        else ds_buf_puts(&x->resp, "{\"resumed\":true}");
        ds_info("replication: table %llu/%u: follower %.8s registered (%s) at seq %llu",
                (unsigned long long)rr->table, rr->low, x->node, x->reset ? "snapshot" : "resume",
                (unsigned long long)rr->last_seq);
    }
    pthread_mutex_unlock(&rp->mu);
    return DS_OK;
}

static void start_respond(void *arg) {
    start_ctx *x = arg;
    ds_buf b = x->resp;
    http_request *req = x->req;
    int status = x->status;
    ds_op_release(&x->op);
    http_respond(req, status, "application/json", NULL, 0, b.data, b.len);
    ds_buf_free(&b);
}

static void start_done(ds_op *op) {
    start_ctx *x = (start_ctx *)op;
    if (op->status && !x->status) {
        x->status = 503;
        ds_buf_puts(&x->resp, "{\"code\":\"Unavailable\"}");
    }
    http_post(x->req, start_respond, x);
}

void repl__catchup_start_handle(struct repl *rp, http_request *req) {
    json_value *o;
    char err[64];
    if (json_parse(req->arena, req->body.data, req->body.len, 4, &o, err, sizeof err) ||
        o->type != JSON_OBJECT) {
        repl__reply(req, 400, "{\"code\":\"BadRequest\"}");
        return;
    }
    start_ctx *x = ds_arena_calloc(req->arena, sizeof *x);
    uint64_t low, high;
    const json_value *node = json_get(o, "node"), *mode = json_get(o, "mode");
    if (json_u64(o, "table", &x->table) || json_u64(o, "low", &low) || low > UINT32_MAX ||
        json_u64(o, "high", &high) || parse_session(o, &x->session) || !node ||
        node->type != JSON_STRING || node->u.str.len != REPL_UUID_LEN || !mode ||
        mode->type != JSON_STRING || json_u64(o, "epoch", &x->epoch) ||
        json_u64(o, "seq", &x->seq)) {
        repl__reply(req, 400, "{\"code\":\"BadRequest\"}");
        return;
    }
    x->low = (uint32_t)low;
    memcpy(x->node, node->u.str.s, REPL_UUID_LEN + 1);
    x->reset = !strcmp(mode->u.str.s, "reset");
    range_rec rec;
    if (rangemap_find(rp->c->map, x->table, x->low, &rec) || rec.low != x->low ||
        strcmp(rec.leader, rp->c->uuid)) {
        repl__reply(req, 421, "{\"code\":\"NotLeader\"}");
        return;
    }
    if (!range_has(rec.replicas, rec.nreplicas, x->node)) {
        repl__reply(req, 403, "{\"code\":\"NotReplica\"}");
        return;
    }
    pthread_mutex_lock(&rp->mu);
    rrange *rr = repl__range(rp, x->table, x->low, 0, 0);
    int ready = rr && rr->leading && !rr->fenced && rr->lead_epoch == rec.epoch;
    pthread_mutex_unlock(&rp->mu);
    if (!ready) { /* not taken over yet (no write since it became leader) */
        repl__reply(req, 503, "{\"code\":\"Unavailable\",\"message\":\"not leading yet\"}");
        return;
    }
    ds_op_init(&x->op, DS_OP_CALL, NULL);
    x->op.call = start_call;
    x->op.done = start_done;
    x->rp = rp;
    x->req = req;
    replica_submit(rp->c->replica, &x->op);
}

void repl__catchup_page_handle(struct repl *rp, http_request *req) {
    json_value *o;
    char err[64];
    uint64_t id, limit = 512u << 10;
    if (json_parse(req->arena, req->body.data, req->body.len, 4, &o, err, sizeof err) ||
        o->type != JSON_OBJECT || parse_session(o, &id) ||
        (json_get(o, "limit") && json_u64(o, "limit", &limit))) {
        repl__reply(req, 400, "{\"code\":\"BadRequest\"}");
        return;
    }
    if (limit < 4096) limit = 4096;
    if (limit > (8u << 20)) limit = 8u << 20;
    ds_buf after = DS_BUF_INIT;
    const json_value *av = json_get(o, "after");
    if (av && (av->type != JSON_STRING || base64_decode(&after, av->u.str.s, av->u.str.len, 0))) {
        ds_buf_free(&after);
        repl__reply(req, 400, "{\"code\":\"BadRequest\"}");
        return;
    }
    pthread_mutex_lock(&rp->mu);
    rsession *s = session_find(rp, id);
    lfol *f = s && s->rr ? repl__fol(s->rr, s->uuid) : NULL;
    int ok = s && s->snap && s->rr->leading && f && f->session == id && f->state == FOL_CATCHUP;
    uint64_t table = 0;
    uint32_t low = 0, high = 0;
    if (ok) {
        s->busy++;
        s->used_ms = ds_now_ms();
        table = s->rr->table, low = s->rr->low, high = s->rr->high;
    }
    pthread_mutex_unlock(&rp->mu);
    if (!ok) {
        ds_buf_free(&after);
        repl__reply(req, 404, "{\"code\":\"UnknownSession\"}");
        return;
    }
    meta_table *tb = meta_table_by_id(rp->c->meta, table);
    ds_buf body = DS_BUF_INIT, out = DS_BUF_INIT, pt = DS_BUF_INIT, lo = DS_BUF_INIT,
           hi = DS_BUF_INIT;
    int rc = tb ? DS_OK : DS_ENOTFOUND, more = 0;
    uint32_t count = 0;
    if (tb) {
        keycodec_hash_bounds(&lo, &hi, table, low, high);
        engine_iter *it =
            engine_iter_new_at(rp->c->engine, s->snap, ENGINE_CF_DATA, lo.data, lo.len, hi.data,
                               hi.len);
        if (after.len) {
            engine_iter_seek(it, after.data, after.len);
            size_t kl;
            const char *k = engine_iter_valid(it) ? engine_iter_key(it, &kl) : NULL;
            if (k && kl == after.len && !memcmp(k, after.data, kl)) engine_iter_next(it);
        } else {
            engine_iter_seek_first(it);
        }
        for (; engine_iter_valid(it); engine_iter_next(it)) {
            if (body.len >= limit) {
                more = 1;
                break;
            }
            size_t kl, vl;
            const char *k = engine_iter_key(it, &kl), *v = engine_iter_value(it, &vl);
            if (kl <= KEYCODEC_PREFIX_LEN) continue;
            ds_buf_reset(&pt);
            if ((rc = crypto_open(&pt, tb->tenant->data_key, k, kl, v, vl))) break;
            replica_mut m = {k, kl, pt.data ? pt.data : "", pt.len, NULL};
            repl_wire_muts(&body, &m, 1);
            count++;
        }
        if (rc == DS_OK) rc = engine_iter_status(it);
        engine_iter_free(it);
        meta_table_release(tb);
    }
    pthread_mutex_lock(&rp->mu);
    s->busy--;
    pthread_mutex_unlock(&rp->mu);
    if (rc) {
        ds_error("replication: catch-up page of table %llu/%u failed: %s",
                 (unsigned long long)table, low, ds_strerror(rc));
        repl__reply(req, 500, "{\"code\":\"InternalError\"}");
    } else {
        repl_page_encode(&out, more, count, body.data, body.len);
        http_respond(req, 200, "application/octet-stream", NULL, 0, out.data, out.len);
    }
    ds_buf_free(&after), ds_buf_free(&body), ds_buf_free(&out), ds_buf_free(&pt);
    ds_buf_free(&lo), ds_buf_free(&hi);
}

void repl__catchup_done_handle(struct repl *rp, http_request *req) {
    json_value *o;
    char err[64];
    uint64_t id;
    if (json_parse(req->arena, req->body.data, req->body.len, 4, &o, err, sizeof err) ||
        o->type != JSON_OBJECT || parse_session(o, &id)) {
        repl__reply(req, 400, "{\"code\":\"BadRequest\"}");
        return;
    }
    pthread_mutex_lock(&rp->mu);
    rsession *s = session_find(rp, id);
    lfol *f = s && s->rr ? repl__fol(s->rr, s->uuid) : NULL;
    int ok = s && s->rr->leading && !s->rr->fenced && f && f->session == id &&
             f->state == FOL_CATCHUP;
    if (ok) {
        /* required from now on; added to inSync once its acks reach the
         * position every acknowledged write has (the ticker) */
        f->state = FOL_PENDING;
        f->target = s->rr->last_seq;
        f->since_ms = 0;
        s->used_ms = 0; /* the session ends (the ticker frees it) */
        pthread_cond_signal(&rp->cv);
    }
    pthread_mutex_unlock(&rp->mu);
    if (ok) repl__reply(req, 200, "{\"accepted\":true}");
    else repl__reply(req, 404, "{\"code\":\"UnknownSession\"}");
}

/* etcd.c -- the etcd v3 JSON-gateway client (see etcd.h for the interface
 * and the mapping to the gateway's JSON).
 *
 * Layout of this file:
 *   1. parsers of gateway answers (pure, fuzzed by fuzz/fuzz_etcd.c)
 *   2. transport: a pool of connections (a libcurl easy handle driven by
 *      its own multi handle, so a keeper or watch thread can be woken out
 *      of a transfer with curl_multi_wakeup), one attempt at one endpoint,
 *      and the failover loop over endpoints
 *   3. key/value, txn and lease calls
 *   4. the keeper thread
 *   5. the watch thread
 *
 * Failover rule: a request moves on to the next endpoint when nothing was
 * sent (connection refused, name not resolved, connect timeout) or when the
 * request is read-only; a write whose answer was lost is reported, never
 * retried, so a txn is never applied twice behind the caller's back.
 */
#include "control/etcd.h"

#include "common/base64.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_TIMEOUT_MS 5000
#define DEFAULT_PAGE 500
#define MAX_REPLY (256u << 20) /* one answer (or one watch message) */
#define POOL_IDLE_MAX 16
#define CONNECT_TIMEOUT_MAX_MS 2000
#define WATCH_BACKOFF_MAX_MS 2000

/* gRPC status codes used in the gateway's error answers */
enum { GRPC_UNAVAILABLE = 14 };

/* ======================================================================
 * 1. parsers
 * ====================================================================== */

static int grpc_to_ds(long code, const char *msg) {
    switch (code) {
    case 3: /* INVALID_ARGUMENT */
        return msg && strstr(msg, "too large") ? DS_ETOOBIG : DS_EINVAL;
    case 4: return DS_ETIMEDOUT;  /* DEADLINE_EXCEEDED */
    case 5: return DS_ENOTFOUND;  /* NOT_FOUND (lease) */
    case 6: return DS_EEXIST;     /* ALREADY_EXISTS */
    case 7: return DS_EFORBIDDEN; /* PERMISSION_DENIED */
    case 8: return DS_EBUSY;      /* RESOURCE_EXHAUSTED */
    case 9: return DS_ESTATE;     /* FAILED_PRECONDITION */
    case 11: return DS_ERANGE;    /* OUT_OF_RANGE: compacted or future revision */
    case 16: return DS_EAUTH;     /* UNAUTHENTICATED */
    default: return DS_EIO;       /* UNAVAILABLE, INTERNAL, UNKNOWN, ... */
    }
}

static int parse_int64_text(const char *s, size_t n, int64_t *out) {
    size_t i = 0;
    int neg = 0;
    if (i < n && s[i] == '-') neg = 1, i++;
    if (i == n || n - i > 19) return DS_EPARSE;
    uint64_t v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return DS_EPARSE;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > (uint64_t)INT64_MAX + (uint64_t)neg) return DS_EPARSE;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return DS_OK;
}

int etcd__get_int64(const json_value *obj, const char *name, int64_t *out) {
    *out = 0;
    const json_value *v = json_get(obj, name);
    if (!v) return DS_OK;
    if (v->type != JSON_STRING && v->type != JSON_NUMBER) return DS_EPARSE;
    return parse_int64_text(v->u.str.s, v->u.str.len, out);
}

static int is_true(const json_value *obj, const char *name) {
    const json_value *v = json_get(obj, name);
    return v && v->type == JSON_TRUE;
}

static int header_revision(const json_value *obj, int64_t *rev) {
    *rev = 0;
    const json_value *h = json_get(obj, "header");
    if (!h) return DS_OK;
    if (h->type != JSON_OBJECT) return DS_EPARSE;
    return etcd__get_int64(h, "revision", rev);
}

/* as etcd__parse_reply, also returning the gRPC code of an error answer */
static int parse_reply(ds_arena *a, long status, const char *body, size_t len, json_value **obj,
                       long *grpc, char *err, size_t errlen) {
    json_value *v = NULL;
    char jerr[160];
    *obj = NULL;
    *grpc = -1;
    while (len && (body[len - 1] == '\n' || body[len - 1] == '\r' || body[len - 1] == ' ')) len--;
    int ok2xx = status >= 200 && status < 300;
    if (json_parse(a, body, len, 32, &v, jerr, sizeof jerr) != DS_OK || v->type != JSON_OBJECT) {
        if (!ok2xx)
            return ds_seterr(err, errlen, DS_EIO, "HTTP status %ld without a gateway error", status);
        return ds_seterr(err, errlen, DS_EPARSE, "answer is not a JSON object (%s)",
                         v ? "not an object" : jerr);
    }
    const json_value *ev = json_get(v, "error");
    if (ev && !(ev->type == JSON_STRING && ev->u.str.len == 0)) {
        int64_t code = -1;
        const json_value *m = NULL;
        if (ev->type == JSON_OBJECT) { /* stream error: {"error":{"grpc_code":14,...}} */
            if (etcd__get_int64(ev, "grpc_code", &code) != DS_OK) code = -1;
            m = json_get(ev, "message");
        } else {
            if (etcd__get_int64(v, "code", &code) != DS_OK) code = -1;
            m = json_get(v, "message");
            if (!m || m->type != JSON_STRING) m = ev;
        }
        const char *msg = m && m->type == JSON_STRING ? m->u.str.s : "(no message)";
        *grpc = (long)code;
        return ds_seterr(err, errlen, grpc_to_ds((long)code, msg), "etcd: %.200s (gRPC code %lld)",
                         msg, (long long)code);
    }
    if (!ok2xx) return ds_seterr(err, errlen, DS_EIO, "HTTP status %ld", status);
    const json_value *r = json_get(v, "result");
    if (r) {
        if (r->type != JSON_OBJECT)
            return ds_seterr(err, errlen, DS_EPARSE, "\"result\" is not an object");
        v = (json_value *)r;
    }
    *obj = v;
    return DS_OK;
}

int etcd__parse_reply(ds_arena *a, long http_status, const char *body, size_t len,
                      json_value **obj, char *err, size_t errlen) {
    long grpc;
    return parse_reply(a, http_status, body, len, obj, &grpc, err, errlen);
}

static int decode_b64_field(ds_arena *a, const json_value *obj, const char *name, int required,
                            const char **out, size_t *outlen) {
    const json_value *v = json_get(obj, name);
    *out = "";
    *outlen = 0;
    if (!v) return required ? DS_EPARSE : DS_OK;
    if (v->type != JSON_STRING) return DS_EPARSE;
    ds_buf b = DS_BUF_INIT;
    if (base64_decode(&b, v->u.str.s, v->u.str.len, 0) != DS_OK) {
        ds_buf_free(&b);
        return DS_EPARSE;
    }
    char *p = ds_arena_alloc(a, b.len + 1);
    if (b.len) memcpy(p, b.data, b.len);
    p[b.len] = 0;
    *out = p;
    *outlen = b.len;
    ds_buf_free(&b);
    return DS_OK;
}

int etcd__decode_kv(ds_arena *a, const json_value *kv, const char *prefix, size_t strip,
                    etcd__kv *out) {
    memset(out, 0, sizeof *out);
    if (!kv || kv->type != JSON_OBJECT) return DS_EPARSE;
    int rc;
    if ((rc = decode_b64_field(a, kv, "key", 1, &out->key, &out->klen))) return rc;
    if ((rc = decode_b64_field(a, kv, "value", 0, &out->val, &out->vlen))) return rc;
    if ((rc = etcd__get_int64(kv, "create_revision", &out->create_rev)) ||
        (rc = etcd__get_int64(kv, "mod_revision", &out->mod_rev)) ||
        (rc = etcd__get_int64(kv, "version", &out->version)) ||
        (rc = etcd__get_int64(kv, "lease", &out->lease)))
        return rc;
    if (out->klen < strip || (strip && memcmp(out->key, prefix, strip))) return DS_ECORRUPT;
    out->key += strip;
    out->klen -= strip;
    return DS_OK;
}

int etcd__parse_range(ds_arena *a, const json_value *obj, const char *prefix, size_t strip,
                      etcd__kv **kvs, size_t *n, int *more, int64_t *rev) {
    *kvs = NULL;
    *n = 0;
    *more = is_true(obj, "more");
    int rc = header_revision(obj, rev);
    if (rc) return rc;
    const json_value *arr = json_get(obj, "kvs");
    if (!arr) return DS_OK;
    if (arr->type != JSON_ARRAY) return DS_EPARSE;
    etcd__kv *out = ds_arena_alloc(a, (arr->u.arr.n ? arr->u.arr.n : 1) * sizeof *out);
    for (size_t i = 0; i < arr->u.arr.n; i++)
        if ((rc = etcd__decode_kv(a, arr->u.arr.items[i], prefix, strip, &out[i]))) return rc;
    *kvs = out;
    *n = arr->u.arr.n;
    return DS_OK;
}

int etcd__parse_watch_msg(ds_arena *a, const char *line, size_t len, const char *prefix,
                          size_t strip, etcd__watch_msg *out, char *err, size_t errlen) {
    json_value *v;
    long grpc;
    memset(out, 0, sizeof *out);
    int rc = parse_reply(a, 200, line, len, &v, &grpc, err, errlen);
    if (rc) return rc;
    out->created = is_true(v, "created");
    out->canceled = is_true(v, "canceled");
    const json_value *cr = json_get(v, "cancel_reason");
    if (cr && cr->type == JSON_STRING) out->cancel_reason = cr->u.str.s;
    if (header_revision(v, &out->revision) ||
        etcd__get_int64(v, "compact_revision", &out->compact_revision))
        return ds_seterr(err, errlen, DS_EPARSE, "bad revision in a watch message");
    const json_value *evs = json_get(v, "events");
    if (!evs) return DS_OK;
    if (evs->type != JSON_ARRAY)
        return ds_seterr(err, errlen, DS_EPARSE, "watch \"events\" is not an array");
    size_t n = evs->u.arr.n;
    out->events = ds_arena_alloc(a, (n ? n : 1) * sizeof *out->events);
    out->deletes = ds_arena_alloc(a, (n ? n : 1) * sizeof *out->deletes);
    for (size_t i = 0; i < n; i++) {
        const json_value *ev = evs->u.arr.items[i];
        if (ev->type != JSON_OBJECT)
            return ds_seterr(err, errlen, DS_EPARSE, "watch event %zu is not an object", i);
        const json_value *t = json_get(ev, "type");
        int del = 0;
        if (t) {
            if (t->type == JSON_STRING && ds_slice_eq((ds_slice){t->u.str.s, t->u.str.len}, "DELETE"))
                del = 1;
            else if (!(t->type == JSON_STRING &&
                       ds_slice_eq((ds_slice){t->u.str.s, t->u.str.len}, "PUT")))
                return ds_seterr(err, errlen, DS_EPARSE, "watch event %zu has an unknown type", i);
        }
        rc = etcd__decode_kv(a, json_get(ev, "kv"), prefix, strip, &out->events[i]);
        if (rc) return ds_seterr(err, errlen, rc, "watch event %zu: bad kv", i);
        out->deletes[i] = del;
    }
    out->nevents = n;
    return DS_OK;
}

int etcd__framer_feed(etcd__framer *f, const char *p, size_t n,
                      int (*line)(const char *l, size_t n, void *ud), void *ud) {
    size_t max = f->max ? f->max : MAX_REPLY;
    while (n) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        if (f->buf.len + take > max) {
            ds_buf_reset(&f->buf);
            return DS_ETOOBIG;
        }
        if (!nl) {
            ds_buf_append(&f->buf, p, take);
            return 0;
        }
        const char *l = p;
        size_t ll = take;
        if (f->buf.len) {
            ds_buf_append(&f->buf, p, take);
            l = f->buf.data;
            ll = f->buf.len;
        }
        if (ll && l[ll - 1] == '\r') ll--;
        int rc = ll ? line(l, ll, ud) : 0;
        ds_buf_reset(&f->buf);
        if (rc) return rc;
        p = nl + 1;
        n -= take + 1;
    }
    return 0;
}

void etcd__prefix_end(ds_buf *out, const char *prefix, size_t n) {
    while (n > 0 && (unsigned char)prefix[n - 1] == 0xff) n--;
    if (n == 0) {
        ds_buf_putc(out, 0); /* "\0": every key from the start key on */
        return;
    }
    size_t at = out->len;
    ds_buf_append(out, prefix, n);
    out->data[at + n - 1] = (char)((unsigned char)out->data[at + n - 1] + 1);
}

/* ======================================================================
 * 2. transport
 * ====================================================================== */

typedef struct conn {
    CURL *easy;
    CURLM *multi;
    struct curl_slist *headers;
    atomic_int *stop; /* set: a transfer ends as soon as *stop is non-zero */
    struct conn *next;
} conn;

struct etcd {
    char **ep;
    int nep;
    atomic_int cur; /* the endpoint that answered last */
    char *prefix;
    size_t plen;
    atomic_int timeout_ms;
    atomic_int page;
    pthread_mutex_t mu;
    conn *pool;
    int npool;
};

static _Thread_local char tl_err[320];
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

const char *etcd_errmsg(void) { return tl_err; }

/* a key for messages: printable ASCII, other bytes as \xNN, cut at 64 */
static void show_key(char *out, size_t cap, const char *k, size_t kl) {
    size_t o = 0;
    for (size_t i = 0; i < kl && o + 8 < cap; i++) {
        unsigned char c = (unsigned char)k[i];
        if (i == 64) {
            o += (size_t)snprintf(out + o, cap - o, "...");
            break;
        }
        if (c >= 0x20 && c < 0x7f && c != '\\') out[o++] = (char)c;
        else o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
    }
    out[o] = 0;
}

/* records the failure of op (on key, which may be NULL) for etcd_errmsg,
 * logs it unless quiet, and returns rc */
static int fail(int rc, int quiet, const char *op, const char *key, size_t klen, const char *fmt,
                ...) __attribute__((format(printf, 6, 7)));
static int fail(int rc, int quiet, const char *op, const char *key, size_t klen, const char *fmt,
                ...) {
    char msg[200], k[96] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (key) show_key(k, sizeof k, key, klen);
    snprintf(tl_err, sizeof tl_err, "etcd %s%s%s%s: %s", op, key ? " \"" : "", k, key ? "\"" : "",
             msg);
    if (!quiet) ds_warn("%s", tl_err);
    return rc;
}

static conn *conn_new(void) {
    conn *c = ds_calloc(1, sizeof *c);
    c->easy = curl_easy_init();
    c->multi = curl_multi_init();
    if (!c->easy || !c->multi) {
        ds_error("etcd: libcurl could not allocate a handle");
        abort(); /* out of memory: ds_malloc's policy */
    }
    c->headers = curl_slist_append(NULL, "Content-Type: application/json");
    c->headers = curl_slist_append(c->headers, "Expect:");
    return c;
}

static void conn_free(conn *c) {
    if (!c) return;
    curl_multi_cleanup(c->multi);
    curl_easy_cleanup(c->easy);
    curl_slist_free_all(c->headers);
    ds_free(c);
}

static conn *pool_get(etcd *e) {
    pthread_mutex_lock(&e->mu);
    conn *c = e->pool;
    if (c) {
        e->pool = c->next;
        e->npool--;
    }
    pthread_mutex_unlock(&e->mu);
    return c ? c : conn_new();
}

static void pool_put(etcd *e, conn *c) {
    pthread_mutex_lock(&e->mu);
    if (e->npool < POOL_IDLE_MAX) {
        c->next = e->pool;
        e->pool = c;
        e->npool++;
        c = NULL;
    }
    pthread_mutex_unlock(&e->mu);
    conn_free(c);
}

/* where an answer's bytes go: into buf, or through a framer to line() */
typedef struct sink {
    ds_buf *buf;
    int too_big;
    etcd__framer *framer;
    int (*line)(const char *l, size_t n, void *ud);
    void *ud;
    int line_rc;
    atomic_int *stop;
} sink;

static size_t sink_write(char *p, size_t size, size_t nmemb, void *ud) {
    sink *s = ud;
    size_t n = size * nmemb;
    if (s->stop && atomic_load(s->stop)) return 0;
    if (s->framer) {
        s->line_rc = etcd__framer_feed(s->framer, p, n, s->line, s->ud);
        return s->line_rc ? 0 : n;
    }
    if (s->buf->len + n > MAX_REPLY) {
        s->too_big = 1;
        return 0;
    }
    ds_buf_append(s->buf, p, n);
    return n;
}

typedef struct req {
    const char *op; /* for messages: "put", "range", ... */
    const char *key; /* for messages (may be NULL) */
    size_t klen;
    const char *path;
    const ds_buf *body;
    int idempotent; /* safe to send again to another endpoint */
    int timeout_ms; /* 0: the handle's; -1: none (streams) */
    int quiet;      /* QUIET_*: failures that are expected are not logged */
} req;

enum { QUIET_NOTFOUND = 1, QUIET_ALL = 2 };

/* The outcome of one attempt. */
enum { AT_ANSWER, AT_NOT_SENT, AT_LOST };

/* One POST to endpoint ep. Returns DS_OK with *status once an HTTP answer
 * arrived, else an error with *how saying whether anything was sent. */
static int attempt(etcd *e, conn *c, int ep, const req *r, sink *s, long *status, int *how,
                   char *msg, size_t msglen) {
    ds_buf url = DS_BUF_INIT;
    ds_buf_printf(&url, "%s%s", e->ep[ep], r->path);
    int tmo = r->timeout_ms ? r->timeout_ms : atomic_load(&e->timeout_ms);
    CURL *h = c->easy;
    curl_easy_setopt(h, CURLOPT_URL, url.data);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body->data ? r->body->data : "");
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body->len);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, tmo > 0 ? (long)tmo : 0L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(tmo > 0 ? DS_MIN(tmo, CONNECT_TIMEOUT_MAX_MS) : CONNECT_TIMEOUT_MAX_MS));
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 10L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 5L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    ds_buf_free(&url);

    CURLcode res = CURLE_OK;
    int stopped = 0;
    curl_multi_add_handle(c->multi, h);
    for (;;) {
        int running = 0;
        if (c->stop && atomic_load(c->stop)) {
            stopped = 1;
            break;
        }
        CURLMcode mc = curl_multi_perform(c->multi, &running);
        if (mc != CURLM_OK) {
            res = CURLE_RECV_ERROR;
            snprintf(msg, msglen, "libcurl: %s", curl_multi_strerror(mc));
            break;
        }
        if (!running) {
            int q;
            CURLMsg *m;
            while ((m = curl_multi_info_read(c->multi, &q)))
                if (m->msg == CURLMSG_DONE && m->easy_handle == h) res = m->data.result;
            break;
        }
        curl_multi_poll(c->multi, NULL, 0, 1000, NULL);
    }
    curl_multi_remove_handle(c->multi, h);

    *how = AT_LOST;
    if (stopped || (c->stop && atomic_load(c->stop))) {
        snprintf(msg, msglen, "stopped");
        return DS_ESTATE;
    }
    if (res == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
        *how = AT_ANSWER;
        return DS_OK;
    }
    if (s->too_big) {
        snprintf(msg, msglen, "answer larger than %u bytes", MAX_REPLY);
        return DS_ETOOBIG;
    }
    if (res == CURLE_WRITE_ERROR && s->line_rc) {
        snprintf(msg, msglen, "stream handler stopped it");
        return s->line_rc;
    }
    long sent = 0;
    curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &sent);
    if (res == CURLE_COULDNT_CONNECT || res == CURLE_COULDNT_RESOLVE_HOST ||
        res == CURLE_COULDNT_RESOLVE_PROXY || (res == CURLE_OPERATION_TIMEDOUT && sent == 0))
        *how = AT_NOT_SENT;
    if (msg[0] == 0) snprintf(msg, msglen, "%s", curl_easy_strerror(res));
    return res == CURLE_OPERATION_TIMEDOUT ? DS_ETIMEDOUT : DS_EIO;
}

/* Sends r, failing over between endpoints, and parses the answer into *obj
 * (in arena a). c: the connection to use (NULL: one from the pool). */
static int call(etcd *e, conn *c, const req *r, ds_arena *a, json_value **obj) {
    conn *own = c ? NULL : (c = pool_get(e));
    int start = atomic_load(&e->cur), rc = DS_EIO;
    tl_err[0] = 0;
    char msg[200] = "";
    ds_buf body = DS_BUF_INIT;
    for (int i = 0; i < e->nep; i++) {
        int ep = (start + i) % e->nep, how;
        long status = 0, grpc = -1;
        sink s = {.buf = &body, .stop = c->stop};
        ds_buf_reset(&body);
        msg[0] = 0;
        rc = attempt(e, c, ep, r, &s, &status, &how, msg, sizeof msg);
        if (rc == DS_OK) {
            rc = parse_reply(a, status, body.data ? body.data : "", body.len, obj, &grpc, msg,
                             sizeof msg);
            /* "unavailable" (no leader, stopping): another member may answer */
            if (rc == DS_OK || grpc != GRPC_UNAVAILABLE || !r->idempotent) {
                atomic_store(&e->cur, ep);
                break;
            }
        }
        if (rc == DS_ESTATE && how == AT_LOST) break; /* stopped */
        if (i + 1 < e->nep) {
            if (how == AT_NOT_SENT || r->idempotent) {
                ds_debug("etcd %s at %s failed (%s), trying the next endpoint", r->op, e->ep[ep],
                         msg);
                continue;
            }
        }
        /* an answer lost after sending a write: its outcome is unknown */
        char where[300];
        snprintf(where, sizeof where, "%s%s", msg,
                 how == AT_LOST && !r->idempotent && rc != DS_OK ? " (outcome unknown)" : "");
        rc = fail(rc, r->quiet == QUIET_ALL || (r->quiet && rc == DS_ENOTFOUND), r->op, r->key,
                  r->klen, "%s: %s", e->ep[ep], where);
        break;
    }
    if (rc != DS_OK && rc != DS_ESTATE && tl_err[0] == 0)
        fail(rc, r->quiet == QUIET_ALL || (r->quiet && rc == DS_ENOTFOUND), r->op, r->key, r->klen,
             "%s", msg);
    ds_buf_free(&body);
    if (own) pool_put(e, own);
    return rc;
}

/* ======================================================================
 * 3. key/value, transactions, leases
 * ====================================================================== */

int etcd_open(const char *endpoints, const char *prefix, etcd **out, char *err, size_t errlen) {
    *out = NULL;
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return ds_seterr(err, errlen, DS_EIO, "libcurl initialisation failed: %s",
                         curl_easy_strerror(curl_init_rc));
    if (!endpoints || !*endpoints)
        return ds_seterr(err, errlen, DS_EINVAL, "no etcd endpoint given");
    etcd *e = ds_calloc(1, sizeof *e);
    pthread_mutex_init(&e->mu, NULL);
    atomic_init(&e->timeout_ms, DEFAULT_TIMEOUT_MS);
    atomic_init(&e->page, DEFAULT_PAGE);
    atomic_init(&e->cur, 0);
    e->prefix = ds_strdup(prefix ? prefix : "");
    e->plen = strlen(e->prefix);
    const char *p = endpoints;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        while (n && (*p == ' ' || *p == '\t')) p++, n--;
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '/')) n--;
        size_t scheme = !strncmp(p, "http://", 7) ? 7 : !strncmp(p, "https://", 8) ? 8 : 0;
        if (!scheme || n <= scheme || memchr(p, '/', n) != p + scheme - 2 ||
            memchr(p + scheme, '/', n - scheme) || memchr(p, '?', n)) {
            int rc = ds_seterr(err, errlen, DS_EINVAL,
                               "bad etcd endpoint \"%.*s\": expected http://HOST:PORT",
                               (int)DS_MIN(n, 200), p);
            etcd_close(e);
            return rc;
        }
        e->ep = ds_realloc(e->ep, (size_t)(e->nep + 1) * sizeof *e->ep);
        e->ep[e->nep++] = ds_strndup(p, n);
        if (!comma) break;
        p = comma + 1;
    }
    if (e->nep == 0) {
        etcd_close(e);
        return ds_seterr(err, errlen, DS_EINVAL, "no etcd endpoint given");
    }
    *out = e;
    return DS_OK;
}

void etcd_close(etcd *e) {
    if (!e) return;
    while (e->pool) {
        conn *c = e->pool;
        e->pool = c->next;
        conn_free(c);
    }
    for (int i = 0; i < e->nep; i++) ds_free(e->ep[i]);
    ds_free(e->ep);
    ds_free(e->prefix);
    pthread_mutex_destroy(&e->mu);
    ds_free(e);
}

void etcd_set_timeout(etcd *e, int timeout_ms) {
    atomic_store(&e->timeout_ms, timeout_ms > 0 ? timeout_ms : DEFAULT_TIMEOUT_MS);
}

void etcd_set_page_size(etcd *e, int keys) {
    atomic_store(&e->page, keys > 0 ? keys : DEFAULT_PAGE);
}

/* ---- request bodies ---- */

static void put_b64(ds_buf *b, const char *name, const void *p, size_t n) {
    ds_buf_printf(b, "\"%s\":\"", name);
    base64_encode(b, p, n, 0);
    ds_buf_putc(b, '"');
}

/* "name":"base64(prefix + key)" */
static void put_key(etcd *e, ds_buf *b, const char *name, const char *key, size_t klen) {
    ds_buf full = DS_BUF_INIT;
    ds_buf_append(&full, e->prefix, e->plen);
    ds_buf_append(&full, key, klen);
    put_b64(b, name, full.data, full.len);
    ds_buf_free(&full);
}

/* "key":..,"range_end":.. for every key starting with prefix + key */
static void put_prefix_range(etcd *e, ds_buf *b, const char *key, size_t klen) {
    ds_buf full = DS_BUF_INIT, end = DS_BUF_INIT;
    ds_buf_append(&full, e->prefix, e->plen);
    ds_buf_append(&full, key, klen);
    etcd__prefix_end(&end, full.data ? full.data : "", full.len);
    put_b64(b, "key", full.data ? full.data : "", full.len);
    ds_buf_putc(b, ',');
    put_b64(b, "range_end", end.data, end.len);
    ds_buf_free(&full);
    ds_buf_free(&end);
}

static int bad_answer(int rc, const req *r) {
    return fail(rc, 0, r->op, r->key, r->klen, "unexpected answer from the gateway");
}

int etcd_ping(etcd *e, int64_t *rev) {
    tl_err[0] = 0;
    ds_buf body = DS_BUF_INIT;
    ds_buf_puts(&body, "{}");
    req r = {.op = "status", .path = "/v3/maintenance/status", .body = &body, .idempotent = 1};
    ds_arena *a = ds_arena_new(1024);
    json_value *obj;
    int64_t h = 0;
    int rc = call(e, NULL, &r, a, &obj);
    if (rc == DS_OK && header_revision(obj, &h)) rc = bad_answer(DS_EPARSE, &r);
    if (rc == DS_OK && rev) *rev = h;
    ds_arena_free(a);
    ds_buf_free(&body);
    return rc;
}

int etcd_put(etcd *e, const char *key, size_t klen, const void *val, size_t vlen, int64_t lease,
             int64_t *rev) {
    tl_err[0] = 0;
    ds_buf body = DS_BUF_INIT;
    ds_buf_putc(&body, '{');
    put_key(e, &body, "key", key, klen);
    ds_buf_putc(&body, ',');
    put_b64(&body, "value", val ? val : "", vlen);
    if (lease) ds_buf_printf(&body, ",\"lease\":\"%lld\"", (long long)lease);
    ds_buf_putc(&body, '}');
    req r = {.op = "put", .key = key, .klen = klen, .path = "/v3/kv/put", .body = &body};
    ds_arena *a = ds_arena_new(1024);
    json_value *obj;
    int64_t h = 0;
    int rc = call(e, NULL, &r, a, &obj);
    if (rc == DS_OK && header_revision(obj, &h)) rc = bad_answer(DS_EPARSE, &r);
    if (rc == DS_OK && rev) *rev = h;
    ds_arena_free(a);
    ds_buf_free(&body);
    return rc;
}

int etcd_get(etcd *e, const char *key, size_t klen, ds_buf *val, int64_t *mod_rev) {
    tl_err[0] = 0;
    ds_buf body = DS_BUF_INIT;
    ds_buf_putc(&body, '{');
    put_key(e, &body, "key", key, klen);
    ds_buf_putc(&body, '}');
    req r = {.op = "get", .key = key, .klen = klen, .path = "/v3/kv/range", .body = &body,
             .idempotent = 1};
    ds_arena *a = ds_arena_new(4096);
    json_value *obj;
    etcd__kv *kvs;
    size_t n;
    int more;
    int64_t h;
    int rc = call(e, NULL, &r, a, &obj);
    if (rc == DS_OK && (rc = etcd__parse_range(a, obj, e->prefix, e->plen, &kvs, &n, &more, &h)))
        rc = bad_answer(rc, &r);
    if (rc == DS_OK && n == 0) rc = fail(DS_ENOTFOUND, 1, "get", key, klen, "no such key");
    if (rc == DS_OK) {
        if (val) {
            ds_buf_reset(val);
            ds_buf_append(val, kvs[0].val, kvs[0].vlen);
        }
        if (mod_rev) *mod_rev = kvs[0].mod_rev;
    }
    ds_arena_free(a);
    ds_buf_free(&body);
    return rc;
}

int etcd_range(etcd *e, const char *key_prefix, size_t plen, etcd_kv_fn fn, void *ud,
               int64_t *rev) {
    tl_err[0] = 0;
    ds_buf full = DS_BUF_INIT, end = DS_BUF_INIT, start = DS_BUF_INIT, body = DS_BUF_INIT;
    ds_buf_append(&full, e->prefix, e->plen);
    ds_buf_append(&full, key_prefix, plen);
    etcd__prefix_end(&end, full.data ? full.data : "", full.len);
    ds_buf_append(&start, full.data, full.len);
    int64_t at = 0;
    int rc = DS_OK, page = atomic_load(&e->page);
    ds_arena *a = ds_arena_new(64 * 1024);
    req r = {.op = "range", .key = key_prefix, .klen = plen, .path = "/v3/kv/range",
             .body = &body, .idempotent = 1};
    for (;;) {
        ds_buf_reset(&body);
        ds_arena_reset(a);
        ds_buf_putc(&body, '{');
        put_b64(&body, "key", start.data ? start.data : "", start.len);
        ds_buf_putc(&body, ',');
        put_b64(&body, "range_end", end.data, end.len);
        ds_buf_printf(&body, ",\"limit\":\"%d\"", page);
        if (at) ds_buf_printf(&body, ",\"revision\":\"%lld\"", (long long)at);
        ds_buf_putc(&body, '}');
        json_value *obj;
        etcd__kv *kvs;
        size_t n;
        int more;
        int64_t h;
        if ((rc = call(e, NULL, &r, a, &obj))) break;
        if ((rc = etcd__parse_range(a, obj, e->prefix, e->plen, &kvs, &n, &more, &h))) {
            rc = bad_answer(rc, &r);
            break;
        }
        if (!at) at = h;
        for (size_t i = 0; i < n && rc == 0; i++)
            if (fn) rc = fn(kvs[i].key, kvs[i].klen, kvs[i].val, kvs[i].vlen, kvs[i].mod_rev, ud);
        if (rc || !more || n == 0) break;
        /* the next page starts just after the last key */
        ds_buf_reset(&start);
        ds_buf_append(&start, e->prefix, e->plen);
        ds_buf_append(&start, kvs[n - 1].key, kvs[n - 1].klen);
        ds_buf_putc(&start, 0);
    }
    if (rc == DS_OK && rev) *rev = at;
    ds_arena_free(a);
    ds_buf_free(&full);
    ds_buf_free(&end);
    ds_buf_free(&start);
    ds_buf_free(&body);
    return rc;
}

int etcd_delete(etcd *e, const char *key, size_t klen, int is_prefix, int64_t *deleted) {
    tl_err[0] = 0;
    ds_buf body = DS_BUF_INIT;
    ds_buf_putc(&body, '{');
    if (is_prefix) put_prefix_range(e, &body, key, klen);
    else put_key(e, &body, "key", key, klen);
    ds_buf_putc(&body, '}');
    req r = {.op = is_prefix ? "delete prefix" : "delete", .key = key, .klen = klen,
             .path = "/v3/kv/deleterange", .body = &body};
    ds_arena *a = ds_arena_new(1024);
    json_value *obj;
    int64_t d = 0;
    int rc = call(e, NULL, &r, a, &obj);
    if (rc == DS_OK && etcd__get_int64(obj, "deleted", &d)) rc = bad_answer(DS_EPARSE, &r);
    if (rc == DS_OK && deleted) *deleted = d;
    ds_arena_free(a);
    ds_buf_free(&body);
    return rc;
}

int etcd_txn(etcd *e, const etcd_cmp *cmps, size_t ncmp, const etcd_op *ops, size_t nops,
             int64_t *rev) {
    tl_err[0] = 0;
    ds_buf body = DS_BUF_INIT;
    ds_buf_puts(&body, "{\"compare\":[");
    for (size_t i = 0; i < ncmp; i++) {
        const etcd_cmp *c = &cmps[i];
        ds_buf_puts(&body, i ? ",{" : "{");
        put_key(e, &body, "key", c->key, c->klen);
        ds_buf_puts(&body, ",\"result\":\"EQUAL\",");
        switch (c->target) {
        case ETCD_CMP_MOD_REV:
            ds_buf_printf(&body, "\"target\":\"MOD\",\"mod_revision\":\"%lld\"", (long long)c->rev);
            break;
        case ETCD_CMP_CREATE_REV:
            ds_buf_printf(&body, "\"target\":\"CREATE\",\"create_revision\":\"%lld\"",
                          (long long)c->rev);
            break;
        case ETCD_CMP_VALUE:
            ds_buf_puts(&body, "\"target\":\"VALUE\",");
            put_b64(&body, "value", c->value ? c->value : "", c->vlen);
            break;
        default:
            ds_buf_free(&body);
            return fail(DS_EINVAL, 0, "txn", c->key, c->klen, "unknown compare target %d",
                        (int)c->target);
        }
        ds_buf_putc(&body, '}');
    }
    ds_buf_puts(&body, "],\"success\":[");
    for (size_t i = 0; i < nops; i++) {
        const etcd_op *o = &ops[i];
        ds_buf_puts(&body, i ? "," : "");
        if (o->is_delete) {
            ds_buf_puts(&body, "{\"request_delete_range\":{");
            put_key(e, &body, "key", o->key, o->klen);
        } else {
            ds_buf_puts(&body, "{\"request_put\":{");
            put_key(e, &body, "key", o->key, o->klen);
            ds_buf_putc(&body, ',');
            put_b64(&body, "value", o->val ? o->val : "", o->vlen);
            if (o->lease) ds_buf_printf(&body, ",\"lease\":\"%lld\"", (long long)o->lease);
        }
        ds_buf_puts(&body, "}}");
    }
    ds_buf_puts(&body, "]}");
    const char *k0 = nops ? ops[0].key : ncmp ? cmps[0].key : NULL;
    size_t k0len = nops ? ops[0].klen : ncmp ? cmps[0].klen : 0;
    req r = {.op = "txn", .key = k0, .klen = k0len, .path = "/v3/kv/txn", .body = &body};
    ds_arena *a = ds_arena_new(4096);
    json_value *obj;
    int64_t h = 0;
    int rc = call(e, NULL, &r, a, &obj);
    if (rc == DS_OK && header_revision(obj, &h)) rc = bad_answer(DS_EPARSE, &r);
    if (rc == DS_OK) {
        if (rev) *rev = h;
        if (!is_true(obj, "succeeded"))
            rc = fail(DS_ECONDITION, 1, "txn", k0, k0len, "a compare was false");
    }
    ds_arena_free(a);
    ds_buf_free(&body);
    return rc;
}

int etcd_lease_grant(etcd *e, int ttl_s, int64_t *lease) {
    tl_err[0] = 0;
    if (ttl_s <= 0) return fail(DS_EINVAL, 0, "lease grant", NULL, 0, "TTL %d <= 0", ttl_s);
    ds_buf body = DS_BUF_INIT;
    ds_buf_printf(&body, "{\"TTL\":\"%d\"}", ttl_s);
    /* a repeated grant only leaves an unused lease to expire: retry freely */
    req r = {.op = "lease grant", .path = "/v3/lease/grant", .body = &body, .idempotent = 1};
    ds_arena *a = ds_arena_new(1024);
    json_value *obj;
    int64_t id = 0;
    int rc = call(e, NULL, &r, a, &obj);
    if (rc == DS_OK && (etcd__get_int64(obj, "ID", &id) || id == 0))
        rc = bad_answer(DS_EPARSE, &r);
    if (rc == DS_OK) *lease = id;
    ds_arena_free(a);
    ds_buf_free(&body);
    return rc;
}

static int keepalive(etcd *e, conn *c, int64_t lease, int timeout_ms, int quiet, int *ttl_left) {
    ds_buf body = DS_BUF_INIT;
    ds_buf_printf(&body, "{\"ID\":\"%lld\"}", (long long)lease);
    req r = {.op = "lease keepalive", .path = "/v3/lease/keepalive", .body = &body,
             .idempotent = 1, .timeout_ms = timeout_ms, .quiet = quiet};
    ds_arena *a = ds_arena_new(1024);
    json_value *obj;
    int64_t ttl = 0;
    int rc = call(e, c, &r, a, &obj);
    if (rc == DS_OK && etcd__get_int64(obj, "TTL", &ttl)) rc = bad_answer(DS_EPARSE, &r);
    if (rc == DS_OK && ttl <= 0)
        rc = fail(DS_ENOTFOUND, 1, "lease keepalive", NULL, 0, "lease %lld expired",
                  (long long)lease);
    if (rc == DS_OK && ttl_left) *ttl_left = ttl > INT32_MAX ? INT32_MAX : (int)ttl;
    ds_arena_free(a);
    ds_buf_free(&body);
    return rc;
}

int etcd_lease_keepalive(etcd *e, int64_t lease, int *ttl_left) {
    tl_err[0] = 0;
    return keepalive(e, NULL, lease, 0, 0, ttl_left);
}

int etcd_lease_revoke(etcd *e, int64_t lease) {
    tl_err[0] = 0;
    ds_buf body = DS_BUF_INIT;
    ds_buf_printf(&body, "{\"ID\":\"%lld\"}", (long long)lease);
    req r = {.op = "lease revoke", .path = "/v3/lease/revoke", .body = &body, .idempotent = 1,
             .quiet = QUIET_NOTFOUND};
    ds_arena *a = ds_arena_new(1024);
    json_value *obj;
    int rc = call(e, NULL, &r, a, &obj);
    ds_arena_free(a);
    ds_buf_free(&body);
    return rc;
}

/* ======================================================================
 * 4. keeper
 * ====================================================================== */

struct etcd_keeper {
    etcd *e;
    int64_t lease;
    int ttl_s;
    void (*lost)(void *ud);
    void *ud;
    conn *c;
    atomic_int stop;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t deadline_ms; /* when the lease runs out unless renewed */
};

static void cond_init_mono(pthread_cond_t *cv) {
    pthread_condattr_t at;
    pthread_condattr_init(&at);
    pthread_condattr_setclock(&at, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &at);
    pthread_condattr_destroy(&at);
}

/* sleeps until the monotonic time until_ms or until *stop; returns *stop */
static int sleep_until(pthread_mutex_t *mu, pthread_cond_t *cv, atomic_int *stop,
                       uint64_t until_ms) {
    pthread_mutex_lock(mu);
    while (!atomic_load(stop) && ds_now_ms() < until_ms) {
        struct timespec ts = {.tv_sec = (time_t)(until_ms / 1000),
                              .tv_nsec = (long)(until_ms % 1000) * 1000000L};
        pthread_cond_timedwait(cv, mu, &ts);
    }
    pthread_mutex_unlock(mu);
    return atomic_load(stop);
}

static void wake(pthread_mutex_t *mu, pthread_cond_t *cv, atomic_int *stop, conn *c) {
    pthread_mutex_lock(mu);
    atomic_store(stop, 1);
    pthread_cond_broadcast(cv);
    pthread_mutex_unlock(mu);
    curl_multi_wakeup(c->multi);
}

static void *keeper_main(void *arg) {
    etcd_keeper *k = arg;
    uint64_t next = ds_now_ms() + (uint64_t)k->ttl_s * 1000 / 3;
    int failing = 0; /* renewals failing in a row: only the first is logged */
    for (;;) {
        if (sleep_until(&k->mu, &k->cv, &k->stop, next)) break;
        uint64_t t0 = ds_now_ms();
        if (t0 >= k->deadline_ms) goto lost;
        int left = (int)DS_MIN(k->deadline_ms - t0, (uint64_t)atomic_load(&k->e->timeout_ms));
        int ttl = 0;
        int rc = keepalive(k->e, k->c, k->lease, DS_MAX(left, 1), failing ? QUIET_ALL : 0, &ttl);
        if (atomic_load(&k->stop)) break;
        if (rc == DS_OK) {
            if (failing) ds_info("etcd: lease %lld renewed again", (long long)k->lease);
            failing = 0;
            k->deadline_ms = t0 + (uint64_t)ttl * 1000;
            next = t0 + (uint64_t)ttl * 1000 / 3;
            continue;
        }
        if (rc == DS_ENOTFOUND) goto lost;
        /* etcd unreachable: keep trying until the lease must be presumed gone */
        failing++;
        next = DS_MIN(ds_now_ms() + 250, k->deadline_ms);
        continue;
    lost:
        ds_warn("etcd: lease %lld lost (%s)", (long long)k->lease,
                ds_now_ms() >= k->deadline_ms ? "not renewed before its TTL ran out" : "expired");
        if (k->lost && !atomic_load(&k->stop)) k->lost(k->ud);
        break;
    }
    return NULL;
}

int etcd_keeper_start(etcd *e, int ttl_s, void (*lost)(void *ud), void *ud, etcd_keeper **out,
                      int64_t *lease) {
    *out = NULL;
    uint64_t t0 = ds_now_ms();
    int64_t id;
    int rc = etcd_lease_grant(e, ttl_s, &id);
    if (rc) return rc;
    etcd_keeper *k = ds_calloc(1, sizeof *k);
    k->e = e;
    k->lease = id;
    k->ttl_s = ttl_s;
    k->lost = lost;
    k->ud = ud;
    k->c = conn_new();
    k->c->stop = &k->stop;
    k->deadline_ms = t0 + (uint64_t)ttl_s * 1000;
    atomic_init(&k->stop, 0);
    pthread_mutex_init(&k->mu, NULL);
    cond_init_mono(&k->cv);
    if (pthread_create(&k->th, NULL, keeper_main, k)) {
        rc = fail(DS_EIO, 0, "keeper", NULL, 0, "cannot start a thread: %s", strerror(errno));
        etcd_lease_revoke(e, id);
        conn_free(k->c);
        pthread_mutex_destroy(&k->mu);
        pthread_cond_destroy(&k->cv);
        ds_free(k);
        return rc;
    }
    *out = k;
    if (lease) *lease = id;
    return DS_OK;
}

void etcd_keeper_stop(etcd_keeper *k, int revoke) {
    if (!k) return;
    wake(&k->mu, &k->cv, &k->stop, k->c);
    pthread_join(k->th, NULL);
    if (revoke) {
        int rc = etcd_lease_revoke(k->e, k->lease);
        if (rc && rc != DS_ENOTFOUND)
            ds_warn("etcd: revoking lease %lld failed: %s", (long long)k->lease, etcd_errmsg());
    }
    conn_free(k->c);
    pthread_mutex_destroy(&k->mu);
    pthread_cond_destroy(&k->cv);
    ds_free(k);
}

/* ======================================================================
 * 5. watch
 * ====================================================================== */

struct etcd_watch {
    etcd *e;
    ds_buf key, end; /* full keys, the handle's prefix included */
    etcd_watch_fn fn;
    void *ud;
    conn *c;
    atomic_int stop;
    atomic_int detached; /* stopped from fn: the thread frees w */
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int state; /* under mu: 0 starting, 1 running, <0 failed to start */
    int64_t next_rev; /* resume from here (0: from now) */
    int resync;       /* the stream was canceled by a compaction */
    char start_err[320]; /* why the first watch failed (under mu) */
    int created;      /* this connection's watch was confirmed */
    ds_arena *arena;
    etcd__framer framer;
};

static void watch_set_state(etcd_watch *w, int state) {
    pthread_mutex_lock(&w->mu);
    if (w->state == 0) w->state = state;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static int watch_line(const char *l, size_t n, void *ud) {
    etcd_watch *w = ud;
    etcd *e = w->e;
    etcd__watch_msg m;
    char err[240];
    ds_arena_reset(w->arena);
    int rc = etcd__parse_watch_msg(w->arena, l, n, e->prefix, e->plen, &m, err, sizeof err);
    if (rc) return fail(rc, 0, "watch", w->key.data + e->plen, w->key.len - e->plen, "%s", err);
    if (m.created) {
        if (w->next_rev == 0) w->next_rev = m.revision + 1;
        w->created = 1;
        watch_set_state(w, 1);
    }
    for (size_t i = 0; i < m.nevents; i++) {
        if (atomic_load(&w->stop)) return DS_ESTATE;
        etcd__kv *kv = &m.events[i];
        w->fn(m.deletes[i] ? ETCD_EV_DELETE : ETCD_EV_PUT, kv->key, kv->klen, kv->val, kv->vlen,
              kv->mod_rev, w->ud);
        if (kv->mod_rev >= w->next_rev) w->next_rev = kv->mod_rev + 1;
    }
    if (m.canceled) {
        if (m.compact_revision > 0) {
            w->resync = 1;
            return fail(DS_ERANGE, 0, "watch", w->key.data + e->plen, w->key.len - e->plen,
                        "revision %lld compacted (oldest kept %lld): resync",
                        (long long)w->next_rev, (long long)m.compact_revision);
        }
        return fail(DS_EIO, 0, "watch", w->key.data + e->plen, w->key.len - e->plen,
                    "canceled by etcd: %s", m.cancel_reason ? m.cancel_reason : "no reason");
    }
    return 0;
}

/* One stream at endpoint ep, until it fails or the watch stops. */
static int watch_once(etcd_watch *w, int ep, int *how) {
    etcd *e = w->e;
    ds_buf body = DS_BUF_INIT;
    ds_buf_puts(&body, "{\"create_request\":{");
    put_b64(&body, "key", w->key.data, w->key.len);
    ds_buf_putc(&body, ',');
    put_b64(&body, "range_end", w->end.data, w->end.len);
    if (w->next_rev) ds_buf_printf(&body, ",\"start_revision\":\"%lld\"", (long long)w->next_rev);
    ds_buf_puts(&body, "}}");
    req r = {.op = "watch", .path = "/v3/watch", .body = &body, .timeout_ms = -1};
    ds_buf_reset(&w->framer.buf);
    w->created = 0;
    sink s = {.framer = &w->framer, .line = watch_line, .ud = w, .stop = &w->stop};
    long status = 0;
    char msg[200] = "";
    int rc = attempt(e, w->c, ep, &r, &s, &status, how, msg, sizeof msg);
    if (rc == DS_OK) {
        /* the stream ended: either an error answer or a closed connection */
        if (status < 200 || status >= 300) {
            json_value *obj;
            long grpc;
            ds_arena_reset(w->arena);
            rc = parse_reply(w->arena, status, w->framer.buf.data ? w->framer.buf.data : "",
                             w->framer.buf.len, &obj, &grpc, msg, sizeof msg);
            if (rc == DS_OK) rc = DS_EIO;
        } else {
            rc = DS_EIO;
            snprintf(msg, sizeof msg, "stream closed by etcd");
        }
    }
    if (rc != DS_ESTATE && !w->resync && s.line_rc == 0)
        fail(rc, !w->created, "watch", w->key.data + e->plen, w->key.len - e->plen, "%s: %s",
             e->ep[ep], msg);
    ds_buf_free(&body);
    return rc;
}

/* the revision a resync starts after: the store's current one */
static int current_revision(etcd_watch *w, int64_t *rev) {
    etcd *e = w->e;
    ds_buf body = DS_BUF_INIT;
    ds_buf_putc(&body, '{');
    put_b64(&body, "key", w->key.data, w->key.len);
    ds_buf_putc(&body, ',');
    put_b64(&body, "range_end", w->end.data, w->end.len);
    ds_buf_puts(&body, ",\"count_only\":true}");
    req r = {.op = "watch resync", .path = "/v3/kv/range", .body = &body, .idempotent = 1};
    ds_arena *a = ds_arena_new(1024);
    json_value *obj;
    int rc = call(e, w->c, &r, a, &obj);
    if (rc == DS_OK && header_revision(obj, rev)) rc = bad_answer(DS_EPARSE, &r);
    ds_arena_free(a);
    ds_buf_free(&body);
    return rc;
}

static void watch_free(etcd_watch *w) {
    conn_free(w->c);
    ds_buf_free(&w->key);
    ds_buf_free(&w->end);
    ds_buf_free(&w->framer.buf);
    ds_arena_free(w->arena);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    ds_free(w);
}

static void *watch_main(void *arg) {
    etcd_watch *w = arg;
    etcd *e = w->e;
    int ep = atomic_load(&e->cur), tried = 0;
    uint64_t backoff = 0;
    while (!atomic_load(&w->stop)) {
        int how = AT_LOST;
        int rc = watch_once(w, ep, &how);
        if (atomic_load(&w->stop)) break;
        if (w->created) backoff = 0, tried = 0;
        if (w->state == 0 && ++tried >= e->nep) { /* no endpoint confirmed the first watch */
            pthread_mutex_lock(&w->mu);
            snprintf(w->start_err, sizeof w->start_err, "%s", tl_err);
            pthread_mutex_unlock(&w->mu);
            watch_set_state(w, rc < 0 ? rc : DS_EIO);
            break;
        }
        if (w->resync) {
            int64_t h;
            if (current_revision(w, &h) == DS_OK) {
                w->resync = 0;
                if (atomic_load(&w->stop)) break;
                w->fn(ETCD_EV_RESYNC, NULL, 0, NULL, 0, h, w->ud);
                w->next_rev = h + 1;
                continue;
            }
        }
        ep = (ep + 1) % e->nep; /* this endpoint failed: try the next one */
        if (ep == atomic_load(&e->cur) || e->nep == 1) {
            backoff = backoff ? DS_MIN(backoff * 2, WATCH_BACKOFF_MAX_MS) : 100;
            if (sleep_until(&w->mu, &w->cv, &w->stop, ds_now_ms() + backoff)) break;
        }
    }
    if (atomic_load(&w->detached)) watch_free(w);
    return NULL;
}

int etcd_watch_start(etcd *e, const char *key_prefix, size_t plen, int64_t start_rev,
                     etcd_watch_fn fn, void *ud, etcd_watch **out) {
    tl_err[0] = 0;
    *out = NULL;
    if (!fn || start_rev < 0)
        return fail(DS_EINVAL, 0, "watch", key_prefix, plen, "no callback or a negative revision");
    etcd_watch *w = ds_calloc(1, sizeof *w);
    w->e = e;
    ds_buf_append(&w->key, e->prefix, e->plen);
    ds_buf_append(&w->key, key_prefix, plen);
    if (!w->key.data) ds_buf_reserve(&w->key, 1);
    etcd__prefix_end(&w->end, w->key.data, w->key.len);
    w->fn = fn;
    w->ud = ud;
    w->c = conn_new();
    w->c->stop = &w->stop;
    w->next_rev = start_rev;
    w->arena = ds_arena_new(64 * 1024);
    atomic_init(&w->stop, 0);
    atomic_init(&w->detached, 0);
    pthread_mutex_init(&w->mu, NULL);
    cond_init_mono(&w->cv);
    if (pthread_create(&w->th, NULL, watch_main, w)) {
        watch_free(w);
        return fail(DS_EIO, 0, "watch", key_prefix, plen, "cannot start a thread: %s",
                    strerror(errno));
    }
    /* wait until etcd confirms the watch, or every endpoint failed */
    uint64_t until = ds_now_ms() + (uint64_t)atomic_load(&e->timeout_ms);
    pthread_mutex_lock(&w->mu);
    while (w->state == 0 && ds_now_ms() < until) {
        struct timespec ts = {.tv_sec = (time_t)(until / 1000),
                              .tv_nsec = (long)(until % 1000) * 1000000L};
        pthread_cond_timedwait(&w->cv, &w->mu, &ts);
    }
    int state = w->state;
    pthread_mutex_unlock(&w->mu);
    if (state != 1) {
        wake(&w->mu, &w->cv, &w->stop, w->c);
        pthread_join(w->th, NULL);
        char why[320];
        snprintf(why, sizeof why, "%s", w->start_err[0] ? w->start_err : "no answer in time");
        watch_free(w);
        int rc = state < 0 ? state : DS_ETIMEDOUT;
        return fail(rc, 0, "watch", key_prefix, plen, "etcd did not confirm the watch (%.200s)",
                    why);
    }
    *out = w;
    return DS_OK;
}

void etcd_watch_stop(etcd_watch *w) {
    if (!w) return;
    if (pthread_equal(pthread_self(), w->th)) { /* from fn: the thread frees w */
        atomic_store(&w->detached, 1);
        atomic_store(&w->stop, 1);
        pthread_detach(w->th);
        return;
    }
    wake(&w->mu, &w->cv, &w->stop, w->c);
    pthread_join(w->th, NULL);
    watch_free(w);
}

/* api.c -- the front door: dispatch, admission control, authentication and
 * response helpers shared by the REST v1 and DynamoDB APIs (see api.h). */
#include "api/api.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "api/ddb_int.h"
#include "api/sigv4.h"
#include "cluster/cluster.h"
#include "cluster/peer.h"
#include "common/base64.h"
#include "common/json.h"
#include "crypto/crypto.h"

/* ---- responses --------------------------------------------------------- */
static const http_header json_nosniff[] = {{{"X-Content-Type-Options", 22}, {"nosniff", 7}}};

void api_reply_json(http_request *req, int status, ds_buf *body) {
    http_respond(req, status, "application/json", json_nosniff, 1, body->data, body->len);
    ds_buf_free(body);
}

void api_reply_empty(http_request *req, int status) {
    http_respond(req, status, NULL, NULL, 0, NULL, 0);
}

static void error_body(ds_buf *b, const char *code, const char *fmt, va_list ap) {
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    ds_buf_puts(b, "{\"code\":");
    json_write_string(b, code, strlen(code));
    ds_buf_puts(b, ",\"message\":");
    json_write_string(b, msg, strlen(msg));
    ds_buf_putc(b, '}');
}

void api_error(http_request *req, int status, const char *code, const char *fmt, ...) {
    ds_buf b = DS_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    error_body(&b, code, fmt, ap);
    va_end(ap);
    api_reply_json(req, status, &b);
}

static void reply_unavailable(api_ctx *ctx, http_request *req, const char *fmt, ...) {
    ds_buf b = DS_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    error_body(&b, "ServiceUnavailable", fmt, ap);
    va_end(ap);
    char ra[16];
    int n = snprintf(ra, sizeof ra, "%d", ctx->limits.retry_after_s ? ctx->limits.retry_after_s : 1);
    http_header h[2] = {{{"Retry-After", 11}, {ra, (size_t)n}}, json_nosniff[0]};
    http_respond(req, 503, "application/json", h, 2, b.data, b.len);
    ds_buf_free(&b);
}

void api_iso8601(ds_buf *out, int64_t ms) {
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    ds_buf_printf(out, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* ---- admission control ------------------------------------------------- */
static uint64_t resident_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%lu %lu", &size, &rss) != 2) rss = 0;
        fclose(f);
    }
    return (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void refresh_usage(api_ctx *ctx) {
    uint64_t now = ds_now_ms(), at = atomic_load(&ctx->usage_at_ms);
    if (at && now - at < 200) return;
    if (!atomic_compare_exchange_strong(&ctx->usage_at_ms, &at, now)) return;
    uint64_t disk = 0;
    if (ctx->limits.max_disk && engine_disk_usage(ctx->engine, &disk) == DS_OK) {
        atomic_store(&ctx->disk_bytes, disk);
        atomic_store(&ctx->admitted_bytes, 0);
    }
    if (ctx->limits.max_memory) atomic_store(&ctx->mem_bytes, resident_bytes());
}

int api_over_storage_limit(api_ctx *ctx, size_t incoming, const char **which) {
    if (!ctx->limits.max_disk && !ctx->limits.max_memory) return 0;
    refresh_usage(ctx);
    if (ctx->limits.max_disk &&
        atomic_load(&ctx->disk_bytes) + atomic_fetch_add(&ctx->admitted_bytes, incoming) >=
            ctx->limits.max_disk) {
        *which = "disk";
        return 1;
    }
    if (ctx->limits.max_memory && atomic_load(&ctx->mem_bytes) >= ctx->limits.max_memory) {
        *which = "memory";
        return 1;
    }
    return 0;
}

/* ---- authentication ---------------------------------------------------- */
static int starts_with(const ds_slice *s, const char *p) {
    size_t n = strlen(p);
    return s->len >= n && !strncasecmp(s->p, p, n);
}

void api_principal_release(api_principal *p) {
    meta_tenant_release(p->tenant);
    p->tenant = NULL;
    p->admin = 0;
}

static int auth_basic(api_ctx *ctx, const ds_slice *h, api_principal *out, char *err,
                      size_t errlen) {
    ds_buf dec = DS_BUF_INIT;
    const char *p = h->p + 6;
    size_t n = h->len - 6;
    while (n && *p == ' ') p++, n--;
    int rc = base64_decode(&dec, p, n, 0);
    const char *colon = rc == DS_OK ? memchr(dec.data, ':', dec.len) : NULL;
    if (!colon) {
        snprintf(err, errlen, "malformed Basic credentials: expected base64 of KEY:SECRET");
        ds_buf_free(&dec);
        return DS_EAUTH;
    }
    size_t kl = (size_t)(colon - dec.data), sl = dec.len - kl - 1;
    meta_tenant *t = meta_tenant_by_key(ctx->meta, dec.data, kl);
    rc = DS_EAUTH;
    if (t && strlen(t->secret) == sl && crypto_ct_equal(t->secret, colon + 1, sl)) {
        out->tenant = t;
        rc = DS_OK;
    } else {
        snprintf(err, errlen, "unknown access key or wrong secret");
        meta_tenant_release(t);
    }
    crypto_wipe(dec.data, dec.len);
    ds_buf_free(&dec);
    return rc;
}

static int auth_sigv4(api_ctx *ctx, http_request *req, const ds_slice *h, api_principal *out,
                      char *err, size_t errlen) {
    sigv4_auth a;
    int rc = sigv4_parse(h->p, h->len, &a, err, errlen);
    if (rc) return DS_EAUTH;
    meta_tenant *t = meta_tenant_by_key(ctx->meta, a.access_key, strlen(a.access_key));
    if (!t) {
        snprintf(err, errlen, "the access key ID is not known to this server");
        return DS_ENOTFOUND;
    }
    sigv4_header *hs = ds_arena_alloc(req->arena, (req->nheaders ? req->nheaders : 1) * sizeof *hs);
    for (size_t i = 0; i < req->nheaders; i++)
        hs[i].name = req->headers[i].name, hs[i].value = req->headers[i].value;
    sigv4_request sr = {{req->method, strlen(req->method)}, req->path, req->query, hs,
                        req->nheaders, req->body.data, req->body.len};
    rc = sigv4_verify(&a, &sr, t->secret, strlen(t->secret), ds_wall_ms(), err, errlen);
    if (rc) {
        meta_tenant_release(t);
        return DS_EAUTH;
    }
    out->tenant = t;
    return DS_OK;
}

int api_authenticate(api_ctx *ctx, http_request *req, api_principal *out, char *err,
                     size_t errlen) {
    memset(out, 0, sizeof *out);
    const ds_slice *h = http_header_get(req, "authorization");
    if (!h) {
        snprintf(err, errlen, "credentials are required: an Authorization header with an AWS "
                              "Signature Version 4, Basic KEY:SECRET, or the admin Bearer token");
        return DS_EAUTH;
    }
    if (starts_with(h, "Bearer ")) {
        const char *tok = h->p + 7;
        size_t tl = h->len - 7, al = strlen(ctx->admin_token);
        if (al && tl == al && crypto_ct_equal(tok, ctx->admin_token, al)) {
            out->admin = 1;
            return DS_OK;
        }
        snprintf(err, errlen, "the bearer token is not the admin token");
        return DS_EAUTH;
    }
    if (starts_with(h, "Basic ")) return auth_basic(ctx, h, out, err, errlen);
    if (starts_with(h, "AWS4-HMAC-SHA256")) return auth_sigv4(ctx, req, h, out, err, errlen);
    snprintf(err, errlen, "unsupported Authorization scheme: use AWS4-HMAC-SHA256, Basic or Bearer");
    return DS_EAUTH;
}

/* ---- dispatch ---------------------------------------------------------- */
static int path_is(const http_request *req, const char *p) { return ds_slice_eq(req->path, p); }

void api_handle(http_request *req, void *ud) {
    api_ctx *ctx = ud;
    if (path_is(req, "/health")) {
        if (strcmp(req->method, "GET") && strcmp(req->method, "HEAD")) {
            http_header allow = {{"Allow", 5}, {"GET, HEAD", 9}};
            const char *msg = "{\"code\":\"MethodNotAllowed\",\"message\":\"/health answers GET "
                              "and HEAD\"}";
            http_respond(req, 405, "application/json", &allow, 1, msg, strlen(msg));
            return;
        }
        ds_buf b = DS_BUF_INIT;
        ds_buf_puts(&b, "{\"status\":\"ok\"}");
        api_reply_json(req, 200, &b);
        return;
    }
    if (ctx->cluster && req->path.len >= 13 && !memcmp(req->path.p, "/internal/v1/", 13)) {
        /* Not subject to client admission: replication must get through. */
        if (peer_verify(req))
            return api_error(req, 401, "Unauthorized", "internal requests must carry a valid "
                                                       PEER_AUTH_HEADER " signature");
        if (!__atomic_load_n(&ctx->cluster->repl, __ATOMIC_ACQUIRE)) /* still starting */
            return reply_unavailable(ctx, req, "the node is starting; retry");
        if (!strcmp(req->method, "POST") &&
            (node_ops_handle(ctx->cluster, req) || replication_handle(ctx->cluster, req)))
            return;
        return api_error(req, 404, "NotFound", "no such internal endpoint");
    }
    int is_ddb = path_is(req, "/") && !strcmp(req->method, "POST");
    if (ctx->limits.max_inflight && ctx->http &&
        http_server_active_requests(ctx->http) > ctx->limits.max_inflight) {
        if (is_ddb) /* DynamoDB's throttling answer: every SDK backs off and retries it */
            ddb_error(req, 400, "ProvisionedThroughputExceededException",
                      "The level of configured provisioned throughput for the table was "
                      "exceeded: the server is handling its maximum of %ld requests. Retry "
                      "with backoff.",
                      ctx->limits.max_inflight);
        else
            reply_unavailable(ctx, req, "the server is handling its maximum of %ld requests; "
                                        "retry after the Retry-After interval",
                              ctx->limits.max_inflight);
        return;
    }
    int is_rest = req->path.len >= 3 && !memcmp(req->path.p, "/v1", 3) &&
                  (req->path.len == 3 || req->path.p[3] == '/');
    if (is_ddb || is_rest) {
        /* Cluster mode: X-DStore-Read: local reads this member's own copy
         * (router.h); reads run on this thread before the handler returns. */
        int local = ctx->router->needs_wire &&
                    router_read_local_header(http_header_get(req, "x-dstore-read"));
        if (local) router_set_read_local(1);
        if (is_ddb) ddb_handle(ctx, req);
        else rest_handle(ctx, req);
        if (local) router_set_read_local(0);
        return;
    }
    if (path_is(req, "/")) {
        if (!strcmp(req->method, "GET") || !strcmp(req->method, "HEAD")) {
            ds_buf b = DS_BUF_INIT;
            ds_buf_puts(&b, "{\"status\":\"ok\"}");
            api_reply_json(req, 200, &b);
            return;
        }
        api_error(req, 405, "MethodNotAllowed", "/ answers GET (health) and POST (the DynamoDB "
                                                "API)");
        return;
    }
    api_error(req, 404, "NotFound", "no such resource: see docs/api-v1.md for the URLs");
}

int api_replication_mode(const http_request *req, const meta_table *tb, int *async) {
    const ds_slice *h = http_header_get(req, "x-dstore-replication");
    *async = tb->async_default;
    if (!h) return DS_OK;
    if (h->len == 4 && !strncasecmp(h->p, "sync", 4)) return *async = 0, DS_OK;
    if (h->len == 5 && !strncasecmp(h->p, "async", 5)) return *async = 1, DS_OK;
    return DS_EINVAL;
}

void api_unavailable(api_ctx *ctx, http_request *req, const char *what) {
    reply_unavailable(ctx, req, "the node is over its %s limit and refuses writes for now; "
                                "reads and deletes still work",
                      what);
}

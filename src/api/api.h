/* api.h -- the client-facing front door shared by both APIs.
 *
 * api_handle() is the HTTP handler of every client port: it answers
 * /health, applies admission control (the node's limits: requests in flight,
 * memory, disk) and hands the request to the REST v1 API (/v1/...) or the
 * DynamoDB API (POST / with X-Amz-Target). The API layers parse, validate
 * and authenticate, then map each request to reads through the router or to
 * ds_op writes; they never touch storage themselves.
 *
 * Error bodies of the REST API are {"code": ..., "message": ...}
 * (docs/api-v1.md); api_error() writes them.
 */
#ifndef DS_API_H
#define DS_API_H

#include "common/ds.h"
#include "control/meta.h"
#include "net/http.h"
#include "router/router.h"

typedef struct api_limits {
    long max_inflight;    /* requests being handled at once; 0 = unlimited */
    uint64_t max_memory;  /* resident bytes above which writes are refused; 0 = none */
    uint64_t max_disk;    /* stored bytes above which writes are refused; 0 = none */
    int retry_after_s;    /* the Retry-After of 503 answers */
} api_limits;

struct cluster_member;

typedef struct api_ctx {
    meta *meta;
    struct cluster_member *cluster; /* a cluster node: serves /internal/v1/ too (NULL: no) */
    router *router;
    engine *engine;          /* for disk and memory usage only */
    http_server *http;       /* set once the server runs */
    const char *admin_token; /* Bearer token of the admin */
    const char *location;    /* the {location} of resource IDs */
    api_limits limits;
    /* private: cached usage, refreshed at most every 200 ms */
    _Atomic uint64_t usage_at_ms, disk_bytes, mem_bytes;
    _Atomic uint64_t admitted_bytes; /* write bytes admitted since disk_bytes was measured */
} api_ctx;

/* The http_handler_fn of the client port; ud is the api_ctx. */
void api_handle(http_request *req, void *ud);

/* ---- helpers for the API layers ---- */

/* Who sent the request. tenant is a reference (release with
 * api_principal_release). */
typedef struct api_principal {
    int admin;
    meta_tenant *tenant;
} api_principal;

/* Authenticates req: Bearer admin token, AWS SigV4, or Basic KEY:SECRET.
 * Returns DS_OK, DS_ENOTFOUND (SigV4 with an unknown access key) or DS_EAUTH,
 * with a message for the client in err. */
int api_authenticate(api_ctx *ctx, http_request *req, api_principal *out, char *err,
                     size_t errlen);
void api_principal_release(api_principal *p);

/* Responds with a JSON error body {"code","message"}; message is printf-style. */
void api_error(http_request *req, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Responds with status and the JSON in body (which the call consumes). */
void api_reply_json(http_request *req, int status, ds_buf *body);
/* Responds with a status and no body (204). */
void api_reply_empty(http_request *req, int status);

/* Admission of a write of about `incoming` bytes: 1 when the node is over
 * its disk or memory limit (the write is refused; *which names the limit),
 * else 0 and the bytes are counted until the next measurement, so a burst of
 * writes between two measurements cannot overshoot the disk limit by more
 * than about one write. */
int api_over_storage_limit(api_ctx *ctx, size_t incoming, const char **which);

/* Responds 503 ServiceUnavailable with Retry-After: the node is over its
 * `what` ("disk", "memory") limit. */
void api_unavailable(api_ctx *ctx, http_request *req, const char *what);

/* The replication mode of a write to tb: the X-DStore-Replication header
 * ("sync" or "async", any case), else the table's default (sync unless the
 * table was created async). Returns DS_OK with *async set, or DS_EINVAL for
 * another header value (the caller answers 400 in its API's format). */
int api_replication_mode(const http_request *req, const meta_table *tb, int *async);

/* Formats ms since the epoch as ISO 8601 UTC ("2026-11-23T09:00:00Z"). */
void api_iso8601(ds_buf *out, int64_t ms);

/* The REST v1 API (rest.c): handles a request whose path starts with /v1. */
void rest_handle(api_ctx *ctx, http_request *req);

#endif

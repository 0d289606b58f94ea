/* http.h -- dStore's HTTP/1.1 server: one epoll event loop per thread, each
 * with its own SO_REUSEPORT listener on the same port, requests parsed by
 * llhttp (see http_parse.h) and handed to one handler function.
 *
 * What the server does for every API module:
 *  - keep-alive (HTTP/1.1 default, HTTP/1.0 only when asked), pipelining
 *    (requests are dispatched one at a time per connection and answered
 *    strictly in order), chunked request bodies (de-chunked), Expect:
 *    100-continue;
 *  - limits and timeouts, answered with a JSON error body
 *    {"code":"...","message":"..."} and a closed connection:
 *      malformed request                       400 BadRequest
 *      head or trailers too large / too many   431 RequestHeaderFieldsTooLarge
 *      body over max_body_bytes                413 PayloadTooLarge
 *      head or body not received in time       408 RequestTimeout
 *    idle keep-alive connections are closed silently;
 *  - asynchronous completion: a handler may return without responding and
 *    answer later from the loop thread through http_post().
 *
 * Threading: the handler and everything posted with http_post() run on the
 * connection's loop thread and must not block it. Only http_post() and
 * http_server_active_requests() may be called from other threads.
 */
#ifndef DS_HTTP_H
#define DS_HTTP_H

#include <stddef.h>

#include "common/ds.h"

typedef struct http_server http_server;

typedef struct http_header {
    ds_slice name, value;
} http_header;

typedef struct http_request http_request;

/* One request as the handler sees it. Everything it points to (slices,
 * headers, body, arena memory) stays valid until http_respond() returns for
 * it, and not a moment longer. */
struct http_request {
    const char *method;  /* "GET", "PUT", ... static, NUL-terminated */
    ds_slice target;     /* raw request target as sent */
    ds_slice path;       /* target up to '?', still percent-encoded */
    ds_slice query;      /* after '?', empty if none */
    http_header *headers; /* in arrival order; trailers are not included */
    size_t nheaders;
    ds_buf body;         /* complete body, de-chunked (read-only); data never NULL */
    ds_arena *arena;     /* per-request arena, reset after the response is sent */
    int keep_alive;      /* 1 if the connection stays open after the response */
    /* private fields after this comment */
    struct http_conn *conn;
    unsigned char is_head, http_major, http_minor;
};

/* Returns the value of the first header called `name` (ASCII case-insensitive),
 * or NULL if absent. The slice lives as long as the request. */
const ds_slice *http_header_get(const http_request *r, const char *name);

/* Called on the loop thread once per complete request. It must eventually
 * call http_respond() exactly once: before returning, or later via
 * http_post(). */
typedef void (*http_handler_fn)(http_request *req, void *ud);

/* Zero fields take the defaults shown. */
typedef struct http_config {
    const char *host;            /* NULL = "0.0.0.0" */
    int port;                    /* 0 = ephemeral (see http_server_port) */
    int threads;                 /* event loops; 0 = number of CPUs */
    size_t max_header_bytes;     /* 16 KiB: request line + headers (and trailers) -> 431 */
    size_t max_headers;          /* 100 -> 431 */
    size_t max_body_bytes;       /* 16 MiB + 64 KiB -> 413 */
    int header_timeout_ms;       /* 10000: whole head must arrive in time -> 408 + close */
    int body_timeout_ms;         /* 60000: whole body must arrive in time -> 408 + close */
    int idle_timeout_ms;         /* 60000 between keep-alive requests -> close */
    int max_connections;         /* 10000 in total; beyond: accept and close at once */
    http_handler_fn handler;
    void *ud;
} http_config;

/* Binds (SO_REUSEADDR, and one SO_REUSEPORT listener per loop thread, all on
 * the same port) and starts the loop threads. cfg is copied. Returns 0 and
 * the server in *out, DS_EINVAL (no handler, bad host) or DS_EIO with the
 * errno text in err (errlen bytes, may be 0). */
int http_server_start(const http_config *cfg, http_server **out, char *err, size_t errlen);

/* The port the server listens on (the ephemeral one when cfg.port was 0). */
int http_server_port(const http_server *s);

/* Stops accepting, closes idle connections, lets pending requests be answered
 * (with Connection: close) for up to 5 seconds, then closes everything, joins
 * the threads and frees s. Requests still pending after that are abandoned:
 * callers must make sure no worker calls http_post() after stop returns. */
void http_server_stop(http_server *s);

/* Sends the response to req and ends it. Must be called on the request's loop
 * thread: inside the handler or inside a function run by http_post(). content_type
 * may be NULL (no Content-Type); extra headers (not Content-Length, Date,
 * Connection or Server, which are added here) with CR or LF in them are
 * dropped. body/extra may point into the request (its arena or body): they are
 * copied or written before the request is released. HEAD, 1xx, 204 and 304
 * responses carry no body. After it returns req is gone. If the client has
 * disconnected this only frees the request. */
void http_respond(http_request *req, int status, const char *content_type,
                  const http_header *extra, size_t nextra, const void *body, size_t len);

/* Thread-safe: runs fn(arg) soon on req's loop thread (an eventfd-woken
 * queue). req must still be pending (not yet responded). This is how worker
 * threads complete asynchronous requests. */
void http_post(http_request *req, void (*fn)(void *arg), void *arg);

/* 1 if the client disconnected (or half-closed) while the request was
 * pending; respond anyway (for a closed connection it is a no-op that frees
 * the request). Loop thread only. */
int http_request_gone(const http_request *req);

/* Requests dispatched and not yet responded, over all loops (for admission
 * control). Any thread. */
long http_server_active_requests(const http_server *s);

/* The reason phrase for a status code ("Not Found"), "Unknown" if not known. */
const char *http_status_text(int status);

#endif

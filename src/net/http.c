/* http.c -- the HTTP/1.1 server: event loops, connections, responses, timers.
 *
 * Each loop thread owns an epoll instance, a SO_REUSEPORT listener on the
 * shared port, an eventfd for http_post() and stop, and its connections; a
 * connection never changes loops, so nothing per connection is locked.
 * Sockets are edge-triggered (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
 * registered once): conn_run() reads until EAGAIN, or stops early and
 * remembers to come back (a request is pending, output is backed up, or the
 * per-run budget is spent: then the connection goes on the loop's ready list).
 *
 * A connection's life:
 *
 *     accept -> [HEAD] -> [BODY] -> dispatch (pending) -> respond -> [IDLE] -> [HEAD] ...
 *                  \ error / timeout: error response, closing -> linger -> close
 *
 * While a request is pending nothing is read or parsed; pipelined requests
 * wait in the read buffer and are answered in order. If the peer goes away
 * meanwhile the socket is closed but the connection struct stays until the
 * handler responds (http_request_gone() says so). Closing after an error
 * response half-closes (SHUT_WR) and drains input for up to LINGER_MS so the
 * client reads the response instead of a reset.
 *
 * Writes are deferred to the end of the event batch, as Redis does before it
 * sleeps: a response goes on the loop's flush list and all of them are sent
 * together once the batch is done (or has run FLUSH_US). Sending each at once
 * wakes its client in the middle of the batch, and on a machine whose clients
 * share the server's CPUs the woken client preempts the loop: a context
 * switch per few requests (bench/results/2026-12-05-session9.md: GetItem
 * +37%, Query +48%). A response is never held past the batch, and a closing
 * connection flushes at once. The price: a slow request delays the answers
 * computed before it in the same batch by its own duration.
 *
 * Timers: four FIFO lists per loop (head, body, idle, linger), each with one
 * fixed duration, so appending keeps each list sorted by deadline; arming is
 * O(1) and a tick looks only at list heads. epoll_wait sleeps until the
 * earliest head.
 */
#include "net/http.h"

#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "net/http_parse.h"

#define LINGER_MS 2000
#define STOP_GRACE_MS 5000
#define RUN_BUDGET 32          /* requests + reads per conn_run before yielding */
#define OUT_HIGH (256 * 1024)  /* stop parsing while more output than this is unsent */
#define ZEROCOPY_BODY 16384    /* bodies this big are written straight from the caller */
#define FLUSH_US 1000          /* deferred responses wait at most this long into a batch */

enum { T_HEAD, T_BODY, T_IDLE, T_LINGER, T_COUNT, T_NONE = -1 };

typedef struct http_loop http_loop;
typedef struct http_conn http_conn;

struct http_conn {
    http_parser p;         /* first: holds the request */
    http_loop *loop;
    int fd;                /* -1 once closed */
    unsigned pending : 1;  /* a request is with the handler */
    unsigned peer_eof : 1; /* EPOLLRDHUP seen */
    unsigned read_eof : 1; /* read() returned 0 */
    unsigned closing : 1;  /* no more requests: flush, then close */
    unsigned lingering : 1;
    unsigned in_run : 1;
    unsigned served : 1;   /* at least one response sent */
    unsigned in_ready : 1;
    unsigned freed : 1;    /* on the graveyard */
    unsigned drained : 1;  /* a short read emptied the socket: wait for the next EPOLLIN edge */
    unsigned deferred : 1; /* on the loop's flush list */
    ds_buf out;            /* unsent output from out_pos */
    size_t out_pos;
    int tlist;             /* T_* list it is on, or T_NONE */
    uint64_t deadline;
    http_conn *tprev, *tnext; /* timer list */
    http_conn *prev, *next;   /* all connections of the loop */
    http_conn *rprev, *rnext; /* ready list */
    http_conn *fnext;         /* flush list */
};

typedef struct post_item {
    struct post_item *next;
    void (*fn)(void *);
    void *arg;
} post_item;

typedef struct tlist {
    http_conn *head, *tail;
    uint64_t ms;
} tlist;

struct http_loop {
    http_server *srv;
    pthread_t thread;
    int epfd, lfd, efd;
    int listening;          /* lfd is armed in epoll */
    uint64_t listen_resume; /* after EMFILE: re-arm at this time */
    pthread_mutex_t mu;     /* guards the post queue */
    post_item *qhead, *qtail;
    http_conn *conns;       /* all open or pending connections */
    long nconns;
    http_conn *ready_head, *ready_tail;
    http_conn *graveyard;   /* freed after the current event batch */
    http_conn *flush_head, *flush_tail; /* output to send at the end of the batch */
    int batching;           /* inside an event batch: defer output */
    tlist timers[T_COUNT];
    uint64_t now;
    time_t date_sec;
    char date[40];
    int stopping;
    uint64_t stop_deadline;
};

struct http_server {
    http_config cfg;
    int port;
    int nloops;
    http_loop *loops;
    atomic_long active;
    atomic_int nconns;
    atomic_int stopping;
};

static void conn_run(http_conn *c);

/* The loop the current thread runs, for checking that http_respond() is
 * called on the right thread. */
static _Thread_local http_loop *tl_loop;

/* ---- status texts and small formatting helpers -------------------------- */

const char *http_status_text(int status) {
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 507: return "Insufficient Storage";
    default: return "Unknown";
    }
}

static void put_lit(ds_buf *b, const char *s, size_t n) { ds_buf_append(b, s, n); }
#define PUT(b, lit) put_lit((b), (lit), sizeof(lit) - 1)

static void put_u64(ds_buf *b, uint64_t v) {
    char tmp[24];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    ds_buf_append(b, tmp + i, sizeof tmp - i);
}

static int has_crlf(const char *p, size_t n) {
    return memchr(p, '\r', n) || memchr(p, '\n', n);
}

/* ---- timers -------------------------------------------------------------- */

static void timer_unlink(http_conn *c) {
    if (c->tlist == T_NONE) return;
    tlist *t = &c->loop->timers[c->tlist];
    if (c->tprev) c->tprev->tnext = c->tnext;
    else t->head = c->tnext;
    if (c->tnext) c->tnext->tprev = c->tprev;
    else t->tail = c->tprev;
    c->tprev = c->tnext = NULL;
    c->tlist = T_NONE;
}

/* (Re)arms c on list `which` with a deadline of now + that list's duration. */
static void timer_arm(http_conn *c, int which) {
    timer_unlink(c);
    if (which == T_NONE) return;
    tlist *t = &c->loop->timers[which];
    c->tlist = which;
    c->deadline = c->loop->now + t->ms;
    c->tprev = t->tail;
    c->tnext = NULL;
    if (t->tail) t->tail->tnext = c;
    else t->head = c;
    t->tail = c;
}

/* Puts c on the list its state calls for; keeps the deadline if unchanged. */
static void timer_update(http_conn *c) {
    int want;
    if (c->fd < 0 || c->pending) want = T_NONE;
    else if (c->closing || c->lingering) want = T_LINGER;
    else {
        int ph = c->p.phase;
        if (ph == HTTP_PHASE_HEAD || (ph == HTTP_PHASE_IDLE && !c->served)) want = T_HEAD;
        else if (ph == HTTP_PHASE_BODY) want = T_BODY;
        else if (ph == HTTP_PHASE_IDLE) want = T_IDLE;
        else want = T_NONE;
    }
    if (want != c->tlist) timer_arm(c, want);
}

/* ---- connections --------------------------------------------------------- */

static void ready_unlink(http_conn *c) {
    if (!c->in_ready) return;
    http_loop *L = c->loop;
    if (c->rprev) c->rprev->rnext = c->rnext;
    else L->ready_head = c->rnext;
    if (c->rnext) c->rnext->rprev = c->rprev;
    else L->ready_tail = c->rprev;
    c->rprev = c->rnext = NULL;
    c->in_ready = 0;
}

static void ready_push(http_conn *c) {
    if (c->in_ready) return;
    http_loop *L = c->loop;
    c->rprev = L->ready_tail;
    c->rnext = NULL;
    if (L->ready_tail) L->ready_tail->rnext = c;
    else L->ready_head = c;
    L->ready_tail = c;
    c->in_ready = 1;
}

static http_conn *conn_new(http_loop *L, int fd) {
    http_conn *c = ds_calloc(1, sizeof *c);
    const http_config *cfg = &L->srv->cfg;
    http_limits lim = {cfg->max_header_bytes, cfg->max_headers, cfg->max_body_bytes};
    http_parser_init(&c->p, &lim);
    c->loop = L;
    c->fd = fd;
    c->tlist = T_NONE;
    ds_buf_init(&c->out);
    c->next = L->conns;
    if (L->conns) L->conns->prev = c;
    L->conns = c;
    L->nconns++;
    return c;
}

/* Unlinks c from its loop and queues it for freeing at the end of the event
 * batch (an event for it may still be in hand). Needs fd < 0 and !pending. */
static void conn_free(http_conn *c) {
    http_loop *L = c->loop;
    if (c->freed) return;
    c->freed = 1;
    timer_unlink(c);
    ready_unlink(c);
    if (c->prev) c->prev->next = c->next;
    else L->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    L->nconns--;
    c->next = L->graveyard;
    c->prev = NULL;
    L->graveyard = c;
}

static void conn_destroy(http_conn *c) {
    http_parser_free(&c->p);
    ds_buf_free(&c->out);
    ds_free(c);
}

/* Closes the socket now. The struct goes when no request is pending (at once,
 * or when the pending request is answered). */
static void conn_kill(http_conn *c) {
    if (c->fd >= 0) {
        close(c->fd); /* also leaves the epoll set */
        c->fd = -1;
        atomic_fetch_sub(&c->loop->srv->nconns, 1);
    }
    timer_unlink(c);
    ready_unlink(c);
    if (!c->pending && !c->in_run) conn_free(c);
}

static size_t out_pending(const http_conn *c) { return c->out.len - c->out_pos; }

/* Writes what it can of c->out. Kills c on a write error. */
static void conn_flush(http_conn *c) {
    int progress = 0;
    while (c->fd >= 0 && c->out_pos < c->out.len) {
        ssize_t n = send(c->fd, c->out.data + c->out_pos, c->out.len - c->out_pos,
                         MSG_NOSIGNAL);
        if (n > 0) {
            c->out_pos += (size_t)n;
            progress = 1;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break; /* EPOLLOUT (edge) brings us back */
        } else {
            conn_kill(c);
            return;
        }
    }
    if (c->out_pos == c->out.len) {
        c->out_pos = 0;
        if (c->out.cap > 256 * 1024) ds_buf_free(&c->out);
        else ds_buf_reset(&c->out);
    }
    if (progress && c->tlist == T_IDLE) timer_arm(c, T_IDLE); /* a slow reader, not an idle one */
}

/* Flushes c at the end of the event batch; at once outside a batch or when c
 * is closing (conn_run lingers after the last byte). */
static void conn_flush_later(http_conn *c) {
    http_loop *L = c->loop;
    if (!L->batching || c->closing) {
        conn_flush(c);
    } else if (!c->deferred) {
        c->deferred = 1;
        c->fnext = NULL;
        if (L->flush_tail) L->flush_tail->fnext = c;
        else L->flush_head = c;
        L->flush_tail = c;
    }
}

/* Sends what conn_flush_later() deferred. A connection closed meanwhile is
 * on the graveyard, still readable, until sweep(). */
static void flush_deferred(http_loop *L) {
    http_conn *c = L->flush_head;
    L->flush_head = L->flush_tail = NULL;
    while (c) {
        http_conn *next = c->fnext;
        c->fnext = NULL;
        c->deferred = 0;
        if (!c->freed && c->fd >= 0 && out_pending(c)) conn_flush(c);
        c = next;
    }
}

/* The FLUSH_US bound, checked between connections of a batch. */
static void flush_if_late(http_loop *L, uint64_t batch_start) {
    if (L->flush_head && ds_now_us() - batch_start >= FLUSH_US) flush_deferred(L);
}

/* Cached "Date:" value, regenerated once a second. */
static const char *loop_date(http_loop *L) {
    time_t now = time(NULL);
    if (now != L->date_sec) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(L->date, sizeof L->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        L->date_sec = now;
    }
    return L->date;
}

/* Appends the status line and headers of a response to c->out. */
static void put_head(http_conn *c, int status, const char *ctype, const http_header *extra,
                     size_t nextra, size_t len, int send_len, int keep_alive) {
    ds_buf *o = &c->out;
    PUT(o, "HTTP/1.1 ");
    put_u64(o, (uint64_t)status);
    ds_buf_putc(o, ' ');
    ds_buf_puts(o, http_status_text(status));
    PUT(o, "\r\nServer: dstore\r\nDate: ");
    ds_buf_puts(o, loop_date(c->loop));
    if (ctype && *ctype && !has_crlf(ctype, strlen(ctype))) {
        PUT(o, "\r\nContent-Type: ");
        ds_buf_puts(o, ctype);
    }
    if (send_len) {
        PUT(o, "\r\nContent-Length: ");
        put_u64(o, len);
    }
    if (keep_alive) PUT(o, "\r\nConnection: keep-alive\r\n");
    else PUT(o, "\r\nConnection: close\r\n");
    for (size_t i = 0; i < nextra; i++) {
        const http_header *h = &extra[i];
        if (!h->name.len || has_crlf(h->name.p, h->name.len) || memchr(h->name.p, ':', h->name.len) ||
            (h->value.len && has_crlf(h->value.p, h->value.len))) {
            ds_warn("http: dropped a response header with CR, LF or ':' in it");
            continue;
        }
        ds_buf_append(o, h->name.p, h->name.len);
        PUT(o, ": ");
        if (h->value.len) ds_buf_append(o, h->value.p, h->value.len);
        PUT(o, "\r\n");
    }
    PUT(o, "\r\n");
}

/* Appends body to the output, writing a big body straight from the caller's
 * memory when nothing else is queued (only the rest is copied). */
static void put_body(http_conn *c, const void *body, size_t len) {
    if (len >= ZEROCOPY_BODY && c->out_pos == 0 && c->fd >= 0) {
        struct iovec iov[2] = {{c->out.data, c->out.len}, {(void *)body, len}};
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
        ssize_t n;
        do n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            conn_kill(c);
            return;
        }
        size_t sent = n > 0 ? (size_t)n : 0;
        if (sent >= c->out.len) {
            sent -= c->out.len;
            ds_buf_reset(&c->out);
            ds_buf_append(&c->out, (const char *)body + sent, len - sent);
        } else {
            c->out_pos = sent;
            ds_buf_append(&c->out, body, len);
        }
        return;
    }
    ds_buf_append(&c->out, body, len);
}

static void json_escape(ds_buf *b, const char *s) {
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            ds_buf_putc(b, '\\');
            ds_buf_putc(b, (char)ch);
        } else if (ch < 0x20) {
            ds_buf_printf(b, "\\u%04x", ch);
        } else {
            ds_buf_putc(b, (char)ch);
        }
    }
}

/* Queues an error response with Connection: close; c then closes. */
static void conn_error(http_conn *c, int status, const char *msg) {
    if (c->fd < 0 || c->closing) return;
    ds_debug("http: %d %s", status, msg);
    ds_buf body = DS_BUF_INIT;
    PUT(&body, "{\"code\":\"");
    ds_buf_puts(&body, http_error_code(status));
    PUT(&body, "\",\"message\":\"");
    json_escape(&body, msg);
    PUT(&body, "\"}");
    put_head(c, status, "application/json", NULL, 0, body.len, 1, 0);
    ds_buf_append(&c->out, body.data, body.len);
    ds_buf_free(&body);
    c->closing = 1;
}

static void dispatch(http_conn *c) {
    http_server *S = c->loop->srv;
    http_request *req = &c->p.req;
    req->conn = c;
    if (c->loop->stopping) req->keep_alive = 0;
    c->pending = 1;
    timer_unlink(c);
    atomic_fetch_add(&S->active, 1);
    S->cfg.handler(req, S->cfg.ud);
}

/* Half-closes and drains input until EOF or LINGER_MS, so a client still
 * sending (e.g. the body we refused) reads our response rather than a reset. */
static void conn_linger(http_conn *c) {
    if (!c->lingering) {
        if (c->read_eof || c->loop->stopping || shutdown(c->fd, SHUT_WR) < 0) {
            conn_kill(c);
            return;
        }
        c->lingering = 1;
        timer_arm(c, T_LINGER);
    }
    char tmp[16384];
    for (;;) {
        ssize_t n = recv(c->fd, tmp, sizeof tmp, 0);
        if (n > 0) continue;
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        conn_kill(c); /* EOF or error */
        return;
    }
}

/* Drives c as far as it goes without blocking: parses buffered requests and
 * dispatches them one at a time, reads, flushes, closes. May free c (at the
 * end of the event batch). Re-entrant calls (a handler responding inside
 * dispatch) return at once; the outer call carries on. */
static void conn_run(http_conn *c) {
    if (c->in_run) return;
    c->in_run = 1;
    int budget = RUN_BUDGET;
    while (c->fd >= 0 && !c->pending && !c->closing) {
        if (out_pending(c) > OUT_HIGH) { /* the client is slow to read */
            conn_flush(c); /* stopping only after EAGAIN guarantees an EPOLLOUT edge */
            if (c->fd < 0 || out_pending(c) > OUT_HIGH) break;
        }
        int r = http_parser_run(&c->p);
        if (r == HTTP_PARSE_REQUEST) {
            if (budget-- <= 0) {
                ready_push(c);
                break;
            }
            dispatch(c);
            continue;
        }
        if (r == HTTP_PARSE_ERROR) {
            conn_error(c, c->p.err_status, c->p.err_msg);
            break;
        }
        if (http_parser_take_continue(&c->p)) PUT(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
        if (c->read_eof) { /* nothing more will come; a partial request is dropped */
            c->closing = 1;
            break;
        }
        if (budget-- <= 0) {
            ready_push(c);
            break;
        }
        if (c->drained) break;
        size_t avail;
        char *space = http_parser_space(&c->p, &avail);
        if (!avail) { /* cannot happen: the head limit is below the buffer size */
            conn_error(c, 431, "request head too large");
            break;
        }
        ssize_t n = recv(c->fd, space, avail, 0);
        if (n > 0) {
            http_parser_commit(&c->p, (size_t)n);
            /* epoll(7): with edge triggering a short read means the socket is empty */
            if ((size_t)n < avail) c->drained = 1;
        } else if (n == 0) {
            c->read_eof = 1;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            c->drained = 1;
            break;
        } else if (errno != EINTR) {
            conn_kill(c);
        }
    }
    if (c->fd >= 0 && out_pending(c)) conn_flush_later(c);
    if (c->fd >= 0 && c->closing && !out_pending(c)) conn_linger(c);
    if (c->fd >= 0) timer_update(c);
    c->in_run = 0;
    if (c->fd < 0 && !c->pending) conn_free(c);
}

static void conn_event(http_conn *c, uint32_t ev) {
    if (ev & EPOLLRDHUP) c->peer_eof = 1;
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) c->drained = 0;
    if ((ev & EPOLLERR) || ((ev & EPOLLHUP) && !c->lingering && !(ev & EPOLLIN))) {
        conn_kill(c);
        return;
    }
    if (c->lingering) {
        conn_linger(c); /* reads to EOF, error or EAGAIN */
        return;
    }
    conn_run(c);
}

/* ---- the public request API ---------------------------------------------- */

void http_respond(http_request *req, int status, const char *content_type,
                  const http_header *extra, size_t nextra, const void *body, size_t len) {
    http_conn *c = req->conn;
    http_loop *L = c->loop;
    assert(tl_loop == L && "http_respond() called off the request's loop thread");
    if (!c->pending) {
        ds_error("http: http_respond() called twice for one request");
        return;
    }
    c->pending = 0;
    atomic_fetch_sub(&L->srv->active, 1);
    if (status < 100 || status > 999) status = 500;
    if (c->fd >= 0) {
        int keep = req->keep_alive && !L->stopping;
        int no_body = req->is_head || status < 200 || status == 204 || status == 304;
        int send_len = !(status < 200 || status == 204);
        put_head(c, status, content_type, extra, nextra, len, send_len, keep);
        if (!no_body && len) put_body(c, body, len);
        c->served = 1;
        if (!keep) c->closing = 1;
    }
    http_parser_next(&c->p);
    conn_run(c); /* flush, answer the next pipelined request, or free */
}

void http_post(http_request *req, void (*fn)(void *arg), void *arg) {
    http_loop *L = req->conn->loop;
    post_item *q = ds_malloc(sizeof *q);
    q->fn = fn;
    q->arg = arg;
    q->next = NULL;
    pthread_mutex_lock(&L->mu);
    int was_empty = L->qhead == NULL;
    if (L->qtail) L->qtail->next = q;
    else L->qhead = q;
    L->qtail = q;
    pthread_mutex_unlock(&L->mu);
    if (was_empty) {
        uint64_t one = 1;
        ssize_t n;
        do n = write(L->efd, &one, sizeof one);
        while (n < 0 && errno == EINTR);
    }
}

int http_request_gone(const http_request *req) {
    return req->conn->fd < 0 || req->conn->peer_eof;
}

long http_server_active_requests(const http_server *s) {
    return atomic_load(&((http_server *)s)->active);
}

int http_server_port(const http_server *s) { return s->port; }

/* ---- the loop ------------------------------------------------------------ */

static void run_posts(http_loop *L) {
    pthread_mutex_lock(&L->mu);
    post_item *q = L->qhead;
    L->qhead = L->qtail = NULL;
    pthread_mutex_unlock(&L->mu);
    while (q) {
        post_item *next = q->next;
        q->fn(q->arg);
        ds_free(q);
        q = next;
    }
}

static void listen_arm(http_loop *L, int on) {
    if (L->lfd < 0 || L->listening == on) return;
    struct epoll_event ev = {.events = on ? EPOLLIN : 0, .data.ptr = &L->lfd};
    epoll_ctl(L->epfd, EPOLL_CTL_MOD, L->lfd, &ev);
    L->listening = on;
}

static void accept_some(http_loop *L) {
    http_server *S = L->srv;
    for (int i = 0; i < 64 && !L->stopping; i++) {
        int fd = accept4(L->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                ds_warn("http: accept: %s; pausing accepts for 100 ms", strerror(errno));
                listen_arm(L, 0);
                L->listen_resume = L->now + 100;
            }
            return; /* EAGAIN or a lasting error */
        }
        if (atomic_fetch_add(&S->nconns, 1) >= S->cfg.max_connections) {
            atomic_fetch_sub(&S->nconns, 1);
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        http_conn *c = conn_new(L, fd);
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                                 .data.ptr = c};
        if (epoll_ctl(L->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            conn_kill(c);
            continue;
        }
        timer_arm(c, T_HEAD);
    }
}

static void run_timers(http_loop *L) {
    for (int t = 0; t < T_COUNT; t++) {
        http_conn *c;
        while ((c = L->timers[t].head) && c->deadline <= L->now) {
            timer_unlink(c);
            if (t == T_HEAD && c->p.phase == HTTP_PHASE_HEAD) {
                conn_error(c, 408, "request head not received in time");
                conn_run(c);
            } else if (t == T_BODY) {
                conn_error(c, 408, "request body not received in time");
                conn_run(c);
            } else {
                conn_kill(c); /* fresh but silent, idle, or lingering */
            }
        }
    }
    if (!L->listening && L->listen_resume && L->now >= L->listen_resume) {
        L->listen_resume = 0;
        listen_arm(L, 1);
    }
}

static int loop_timeout(http_loop *L) {
    if (L->ready_head) return 0;
    uint64_t next = L->now + 1000;
    for (int t = 0; t < T_COUNT; t++)
        if (L->timers[t].head && L->timers[t].head->deadline < next)
            next = L->timers[t].head->deadline;
    if (L->listen_resume && L->listen_resume < next) next = L->listen_resume;
    if (L->stopping && L->stop_deadline < next) next = L->stop_deadline;
    return next > L->now ? (int)(next - L->now) : 0;
}

static void begin_stop(http_loop *L) {
    L->stopping = 1;
    L->stop_deadline = L->now + STOP_GRACE_MS;
    if (L->lfd >= 0) {
        close(L->lfd);
        L->lfd = -1;
    }
    http_conn *c = L->conns, *next;
    for (; c; c = next) {
        next = c->next;
        if (!c->pending) conn_kill(c);
    }
}

static void sweep(http_loop *L) {
    while (L->graveyard) {
        http_conn *c = L->graveyard;
        L->graveyard = c->next;
        conn_destroy(c);
    }
}

static void *loop_main(void *arg) {
    http_loop *L = arg;
    http_server *S = L->srv;
    struct epoll_event evs[256];
    tl_loop = L;
    L->now = ds_now_ms();
    for (;;) {
        int n = epoll_wait(L->epfd, evs, (int)DS_ARRAY_LEN(evs), loop_timeout(L));
        uint64_t batch_start = ds_now_us();
        L->now = batch_start / 1000;
        L->batching = 1;
        for (int i = 0; i < n; i++) {
            void *ptr = evs[i].data.ptr;
            if (ptr == &L->lfd) {
                accept_some(L);
            } else if (ptr == &L->efd) {
                uint64_t v;
                while (read(L->efd, &v, sizeof v) < 0 && errno == EINTR) {}
                run_posts(L);
                if (atomic_load(&S->stopping) && !L->stopping) begin_stop(L);
            } else {
                conn_event(ptr, evs[i].events);
            }
            flush_if_late(L, batch_start);
        }
        if (L->ready_head) { /* connections that used up their budget last time */
            http_conn *c = L->ready_head, *tail = L->ready_tail;
            while (c) {
                http_conn *next = c == tail ? NULL : c->rnext;
                ready_unlink(c);
                conn_run(c);
                flush_if_late(L, batch_start);
                c = next;
            }
        }
        L->batching = 0;
        flush_deferred(L);
        run_timers(L);
        sweep(L);
        if (L->stopping && (L->nconns == 0 || L->now >= L->stop_deadline)) break;
    }
    /* Late posts may still answer pending requests; then drop what is left. */
    run_posts(L);
    while (L->conns) {
        http_conn *c = L->conns;
        if (c->pending) {
            c->pending = 0;
            atomic_fetch_sub(&S->active, 1);
        }
        c->in_run = 0;
        conn_kill(c);
        if (L->conns == c) conn_free(c); /* was in_run or pending */
    }
    sweep(L);
    return NULL;
}

/* ---- start and stop ------------------------------------------------------ */

static int listen_socket(const struct addrinfo *ai, int port, char *err, size_t errlen) {
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) goto fail;
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
        goto fail;
    struct sockaddr_storage ss;
    memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
    if (ss.ss_family == AF_INET6) ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
    else ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
    if (bind(fd, (struct sockaddr *)&ss, ai->ai_addrlen) < 0 || listen(fd, SOMAXCONN) < 0)
        goto fail;
    return fd;
fail:
    if (err && errlen) snprintf(err, errlen, "listen on port %d: %s", port, strerror(errno));
    if (fd >= 0) close(fd);
    return -1;
}

static int bound_port(int fd) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) return -1;
    if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void loops_free(http_server *S) {
    for (int i = 0; i < S->nloops; i++) {
        http_loop *L = &S->loops[i];
        if (L->lfd >= 0) close(L->lfd);
        if (L->efd >= 0) close(L->efd);
        if (L->epfd >= 0) close(L->epfd);
        pthread_mutex_destroy(&L->mu);
    }
    ds_free(S->loops);
    ds_free(S);
}

int http_server_start(const http_config *cfg, http_server **out, char *err, size_t errlen) {
    struct addrinfo *ai = NULL;
    int started = 0, rc = DS_EIO;
    if (err && errlen) err[0] = 0;
    *out = NULL;
    if (!cfg->handler || cfg->port < 0 || cfg->port > 65535) {
        if (err && errlen) snprintf(err, errlen, "http: no handler or bad port");
        return DS_EINVAL;
    }
    http_server *S = ds_calloc(1, sizeof *S);
    S->cfg = *cfg;
    http_config *c = &S->cfg;
    if (!c->max_header_bytes) c->max_header_bytes = HTTP_DEFAULT_MAX_HEADER_BYTES;
    if (!c->max_headers) c->max_headers = HTTP_DEFAULT_MAX_HEADERS;
    if (!c->max_body_bytes) c->max_body_bytes = HTTP_DEFAULT_MAX_BODY_BYTES;
    if (c->header_timeout_ms <= 0) c->header_timeout_ms = 10000;
    if (c->body_timeout_ms <= 0) c->body_timeout_ms = 60000;
    if (c->idle_timeout_ms <= 0) c->idle_timeout_ms = 60000;
    if (c->max_connections <= 0) c->max_connections = 10000;
    if (c->threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        c->threads = n > 0 ? (int)DS_MIN(n, 256) : 1;
    }
    S->nloops = c->threads;
    S->loops = ds_calloc((size_t)S->nloops, sizeof *S->loops);
    for (int i = 0; i < S->nloops; i++) {
        http_loop *L = &S->loops[i];
        L->srv = S;
        L->lfd = L->efd = L->epfd = -1;
        pthread_mutex_init(&L->mu, NULL);
        L->timers[T_HEAD].ms = (uint64_t)c->header_timeout_ms;
        L->timers[T_BODY].ms = (uint64_t)c->body_timeout_ms;
        L->timers[T_IDLE].ms = (uint64_t)c->idle_timeout_ms;
        L->timers[T_LINGER].ms = LINGER_MS;
    }

    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    int gai = getaddrinfo(c->host ? c->host : "0.0.0.0", "0", &hints, &ai);
    if (gai) {
        if (err && errlen)
            snprintf(err, errlen, "http: host %s: %s", c->host ? c->host : "0.0.0.0", gai_strerror(gai));
        rc = DS_EINVAL;
        goto fail;
    }
    S->port = c->port;
    for (int i = 0; i < S->nloops; i++) {
        http_loop *L = &S->loops[i];
        L->lfd = listen_socket(ai, S->port, err, errlen);
        if (L->lfd < 0) goto fail;
        if (S->port == 0) S->port = bound_port(L->lfd);
        L->epfd = epoll_create1(EPOLL_CLOEXEC);
        L->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (L->epfd < 0 || L->efd < 0) {
            if (err && errlen) snprintf(err, errlen, "http: epoll/eventfd: %s", strerror(errno));
            goto fail;
        }
        struct epoll_event lev = {.events = EPOLLIN, .data.ptr = &L->lfd};
        struct epoll_event eev = {.events = EPOLLIN, .data.ptr = &L->efd};
        if (epoll_ctl(L->epfd, EPOLL_CTL_ADD, L->lfd, &lev) < 0 ||
            epoll_ctl(L->epfd, EPOLL_CTL_ADD, L->efd, &eev) < 0) {
            if (err && errlen) snprintf(err, errlen, "http: epoll_ctl: %s", strerror(errno));
            goto fail;
        }
        L->listening = 1;
    }
    freeaddrinfo(ai);
    ai = NULL;
    for (; started < S->nloops; started++) {
        int e = pthread_create(&S->loops[started].thread, NULL, loop_main, &S->loops[started]);
        if (!e) {
            char name[16];
            snprintf(name, sizeof name, "ds-http-%d", started % 1000);
            pthread_setname_np(S->loops[started].thread, name);
        }
        if (e) {
            if (err && errlen) snprintf(err, errlen, "http: pthread_create: %s", strerror(e));
            goto fail;
        }
    }
    *out = S;
    return DS_OK;
fail:
    if (ai) freeaddrinfo(ai);
    if (started) { /* stop the loops already running */
        atomic_store(&S->stopping, 1);
        for (int i = 0; i < started; i++) {
            uint64_t one = 1;
            if (write(S->loops[i].efd, &one, sizeof one) < 0) {}
            pthread_join(S->loops[i].thread, NULL);
        }
    }
    loops_free(S);
    return rc;
}

void http_server_stop(http_server *s) {
    if (!s) return;
    atomic_store(&s->stopping, 1);
    for (int i = 0; i < s->nloops; i++) {
        uint64_t one = 1;
        ssize_t n;
        do n = write(s->loops[i].efd, &one, sizeof one);
        while (n < 0 && errno == EINTR);
    }
    for (int i = 0; i < s->nloops; i++) pthread_join(s->loops[i].thread, NULL);
    loops_free(s);
}

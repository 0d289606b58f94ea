/* http_parse.c -- one connection's request parser: llhttp callbacks that
 * assemble an http_request whose target and headers are slices into the
 * connection's read buffer, a de-chunked body, the limits (431/413/400) and
 * the read buffer's compaction. See http_parse.h for the buffer layout and
 * the calling protocol; nothing here touches sockets.
 *
 * Slices and llhttp's spans: llhttp reports a field in pieces when it spans
 * two reads (the pieces are then adjacent in the buffer, because every read
 * lands right after the bytes parsed before) or when a header value is folded
 * over lines (obs-fold: the pieces have a gap of CRLF + whitespace). A gap is
 * closed by moving the new piece down over it: those bytes are already
 * consumed and nothing refers to them, so every slice stays one contiguous run
 * of the buffer and nothing is copied twice.
 */
#include "net/http_parse.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

enum { CUR_NONE, CUR_URL, CUR_FIELD, CUR_VALUE };

static const char empty[] = "";

static const ds_slice no_slice = {empty, 0};

static int in_buf(const http_parser *p, const char *x) {
    uintptr_t u = (uintptr_t)x, b = (uintptr_t)p->buf;
    return p->buf && u >= b && u < b + p->cap;
}

const char *http_error_code(int status) {
    switch (status) {
    case 400: return "BadRequest";
    case 408: return "RequestTimeout";
    case 413: return "PayloadTooLarge";
    case 431: return "RequestHeaderFieldsTooLarge";
    default: return "Error";
    }
}

/* Records the first error (later ones are consequences) and returns -1, the
 * value llhttp callbacks use to stop the parser. msg may hold one %zu. */
static int fail(http_parser *p, int status, const char *msg, size_t arg) {
    if (!p->err_status) {
        p->err_status = status;
        p->err_code = http_error_code(status);
        snprintf(p->err_msg, sizeof p->err_msg, msg, arg);
    }
    return -1;
}

/* The head so far, `size` bytes, must fit max_header_bytes. */
static int head_check(http_parser *p, size_t size) {
    if (size > p->lim.max_header_bytes)
        return fail(p, 431, "request line and headers exceed %zu bytes",
                    p->lim.max_header_bytes);
    return 0;
}

/* Size of the head from the message start up to `end` (both in the buffer). */
static size_t head_size(const http_parser *p, const char *end) {
    return p->msg_start ? (size_t)(end - p->msg_start) : 0;
}

/* Appends llhttp's piece [at, at+n) to the slice s (see the file comment). */
static void span_add(http_parser *p, ds_slice *s, const char *at, size_t n) {
    if (n == 0) return;
    if (s->len == 0) {
        s->p = at;
        s->len = n;
    } else if (in_buf(p, s->p) && in_buf(p, at) && s->p + s->len <= at) {
        char *end = (char *)s->p + s->len; /* s->p points into p->buf, ours */
        if (end != at) memmove(end, at, n);
        s->len += n;
    } else { /* never expected: every piece comes from the buffer */
        char *q = ds_arena_alloc(p->req.arena, s->len + n);
        memcpy(q, s->p, s->len);
        memcpy(q + s->len, at, n);
        s->p = q;
        s->len += n;
    }
    if (in_buf(p, s->p) && (!p->ref_end || s->p + s->len > p->ref_end))
        p->ref_end = s->p + s->len;
}

/* Trailers are counted against the header limits but not kept. */
static int trailer_piece(http_parser *p, size_t n, int field) {
    if (field && p->cur != CUR_FIELD) {
        if (++p->ntrailers > p->lim.max_headers)
            return fail(p, 431, "more than %zu trailer fields", p->lim.max_headers);
        p->trailer_bytes += 4; /* ": " and CRLF */
    }
    p->cur = field ? CUR_FIELD : CUR_VALUE;
    p->trailer_bytes += n;
    if (p->trailer_bytes > p->lim.max_header_bytes)
        return fail(p, 431, "trailers exceed %zu bytes", p->lim.max_header_bytes);
    return 0;
}

/* ---- llhttp callbacks ---------------------------------------------------- */

static int cb_message_begin(llhttp_t *ll) {
    http_parser *p = ll->data;
    p->phase = HTTP_PHASE_HEAD;
    p->msg_start = p->ref_end = NULL;
    return 0;
}

static int cb_method(llhttp_t *ll, const char *at, size_t n) {
    http_parser *p = ll->data;
    if (!p->msg_start) p->msg_start = at;
    return head_check(p, head_size(p, at + n));
}

static int cb_url(llhttp_t *ll, const char *at, size_t n) {
    http_parser *p = ll->data;
    p->cur = CUR_URL;
    span_add(p, &p->req.target, at, n);
    return head_check(p, head_size(p, at + n));
}

static int cb_version(llhttp_t *ll, const char *at, size_t n) {
    return head_check(ll->data, head_size(ll->data, at + n));
}

static int cb_header_field(llhttp_t *ll, const char *at, size_t n) {
    http_parser *p = ll->data;
    http_request *r = &p->req;
    if (p->phase == HTTP_PHASE_BODY) return trailer_piece(p, n, 1);
    if (p->cur != CUR_FIELD) {
        if (r->nheaders >= p->lim.max_headers)
            return fail(p, 431, "more than %zu header fields", p->lim.max_headers);
        if (r->nheaders == p->hcap) {
            p->hcap = p->hcap ? p->hcap * 2 : 16;
            r->headers = ds_realloc(r->headers, p->hcap * sizeof *r->headers);
        }
        r->headers[r->nheaders++] = (http_header){no_slice, no_slice};
        p->cur = CUR_FIELD;
    }
    span_add(p, &r->headers[r->nheaders - 1].name, at, n);
    return head_check(p, head_size(p, at + n));
}

/* llhttp 8.1 (non-strict build) lets spaces into field names; RFC 9112 says
 * reject them ("Content-Length : 5" must not become some other header). */
static int cb_header_field_complete(llhttp_t *ll) {
    http_parser *p = ll->data;
    if (p->phase == HTTP_PHASE_BODY || p->req.nheaders == 0) return 0;
    ds_slice n = p->req.headers[p->req.nheaders - 1].name;
    if (memchr(n.p, ' ', n.len) || memchr(n.p, '\t', n.len))
        return fail(p, 400, "malformed request: whitespace in a header name", 0);
    return 0;
}

static int cb_header_value(llhttp_t *ll, const char *at, size_t n) {
    http_parser *p = ll->data;
    http_request *r = &p->req;
    if (p->phase == HTTP_PHASE_BODY) return trailer_piece(p, n, 0);
    p->cur = CUR_VALUE;
    if (r->nheaders == 0) return fail(p, 400, "header value without a name", 0);
    span_add(p, &r->headers[r->nheaders - 1].value, at, n);
    return head_check(p, head_size(p, at + n));
}

static int ascii_ieq(ds_slice s, const char *lit) {
    size_t n = strlen(lit);
    if (s.len != n) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char a = (unsigned char)s.p[i], b = (unsigned char)lit[i];
        if (a >= 'A' && a <= 'Z') a += 32;
        if (b >= 'A' && b <= 'Z') b += 32;
        if (a != b) return 0;
    }
    return 1;
}

const ds_slice *http_header_get(const http_request *r, const char *name) {
    for (size_t i = 0; i < r->nheaders; i++)
        if (ascii_ieq(r->headers[i].name, name)) return &r->headers[i].value;
    return NULL;
}

static int cb_headers_complete(llhttp_t *ll) {
    http_parser *p = ll->data;
    p->cur = CUR_NONE;
    if (p->ref_end && head_check(p, head_size(p, p->ref_end) + 4)) return -1;
    /* No protocol switches (Upgrade, CONNECT): answer as plain HTTP, then close. */
    if (ll->upgrade) {
        ll->upgrade = 0;
        p->close_after = 1;
    }
    int chunked = (ll->flags & F_CHUNKED) != 0;
    if (!chunked && (ll->flags & F_CONTENT_LENGTH) && ll->content_length > p->lim.max_body_bytes)
        return fail(p, 413, "request body exceeds %zu bytes", p->lim.max_body_bytes);
    if (ll->http_major == 1 && ll->http_minor >= 1 && (chunked || ll->content_length > 0)) {
        const ds_slice *e = http_header_get(&p->req, "Expect");
        if (e && ascii_ieq(*e, "100-continue")) p->want_continue = 1;
    }
    if (!chunked && ll->content_length > 0)
        ds_buf_reserve(&p->req.body, (size_t)DS_MIN(ll->content_length, 65536));
    p->phase = HTTP_PHASE_BODY;
    return 0;
}

static int cb_chunk_header(llhttp_t *ll) {
    http_parser *p = ll->data;
    if (ll->content_length > p->lim.max_body_bytes - p->req.body.len)
        return fail(p, 413, "request body exceeds %zu bytes", p->lim.max_body_bytes);
    return 0;
}

static int cb_body(llhttp_t *ll, const char *at, size_t n) {
    http_parser *p = ll->data;
    p->want_continue = 0; /* the client did not wait: no 100 Continue now */
    if (n > p->lim.max_body_bytes - p->req.body.len)
        return fail(p, 413, "request body exceeds %zu bytes", p->lim.max_body_bytes);
    ds_buf_append(&p->req.body, at, n);
    return 0;
}

static int cb_message_complete(llhttp_t *ll) {
    http_parser *p = ll->data;
    http_request *r = &p->req;
    p->want_continue = 0;
    r->method = llhttp_method_name((llhttp_method_t)ll->method);
    r->is_head = ll->method == HTTP_HEAD;
    r->http_major = ll->http_major;
    r->http_minor = ll->http_minor;
    r->keep_alive = llhttp_should_keep_alive(ll) && !p->close_after;
    const char *q = r->target.len ? memchr(r->target.p, '?', r->target.len) : NULL;
    if (q) {
        r->path = (ds_slice){r->target.p, (size_t)(q - r->target.p)};
        r->query = (ds_slice){q + 1, r->target.len - r->path.len - 1};
    } else {
        r->path = r->target;
        r->query = no_slice;
    }
    p->phase = HTTP_PHASE_READY;
    return HPE_PAUSED; /* one request at a time: resumed by http_parser_next() */
}

static const llhttp_settings_t settings = {
    .on_message_begin = cb_message_begin,
    .on_method = cb_method,
    .on_url = cb_url,
    .on_version = cb_version,
    .on_header_field = cb_header_field,
    .on_header_field_complete = cb_header_field_complete,
    .on_header_value = cb_header_value,
    .on_headers_complete = cb_headers_complete,
    .on_chunk_header = cb_chunk_header,
    .on_body = cb_body,
    .on_message_complete = cb_message_complete,
};

/* ---- the parser ---------------------------------------------------------- */

void http_parser_init(http_parser *p, const http_limits *lim) {
    memset(p, 0, sizeof *p);
    p->lim = *lim;
    if (!p->lim.max_header_bytes) p->lim.max_header_bytes = HTTP_DEFAULT_MAX_HEADER_BYTES;
    if (!p->lim.max_headers) p->lim.max_headers = HTTP_DEFAULT_MAX_HEADERS;
    if (!p->lim.max_body_bytes) p->lim.max_body_bytes = HTTP_DEFAULT_MAX_BODY_BYTES;
    p->cap_max = p->lim.max_header_bytes + 16384;
    llhttp_init(&p->ll, HTTP_REQUEST, &settings);
    p->ll.data = p;
    p->req.arena = ds_arena_new(4096);
    ds_buf_init(&p->req.body);
    ds_buf_reserve(&p->req.body, 0); /* body.data is never NULL */
    p->req.target = p->req.path = p->req.query = no_slice;
    p->phase = HTTP_PHASE_IDLE;
}

void http_parser_free(http_parser *p) {
    ds_arena_free(p->req.arena);
    ds_buf_free(&p->req.body);
    ds_free(p->req.headers);
    ds_free(p->buf);
    memset(p, 0, sizeof *p);
}

int http_parser_run(http_parser *p) {
    if (p->phase == HTTP_PHASE_READY) return HTTP_PARSE_REQUEST;
    if (p->phase == HTTP_PHASE_ERROR) return HTTP_PARSE_ERROR;
    while (p->pos < p->len) {
        const char *data = p->buf + p->pos;
        size_t n = p->len - p->pos, used = n;
        int in_body = p->phase == HTTP_PHASE_BODY;
        llhttp_errno_t e = llhttp_execute(&p->ll, data, n);
        if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) {
            used = (size_t)(llhttp_get_error_pos(&p->ll) - data);
        } else if (e != HPE_OK) {
            if (!p->err_status) {
                const char *why = llhttp_get_error_reason(&p->ll);
                p->err_status = 400;
                p->err_code = http_error_code(400);
                snprintf(p->err_msg, sizeof p->err_msg, "malformed request: %s",
                         why ? why : llhttp_errno_name(e));
            }
            p->phase = HTTP_PHASE_ERROR;
            return HTTP_PARSE_ERROR;
        }
        p->pos += used;
        if (in_body || p->phase == HTTP_PHASE_BODY) {
            /* wire bytes of the body, chunk framing included */
            p->body_wire += used;
            if (p->body_wire > 2 * p->lim.max_body_bytes + 65536) {
                fail(p, 413, "request body exceeds %zu bytes", p->lim.max_body_bytes);
                p->phase = HTTP_PHASE_ERROR;
                return HTTP_PARSE_ERROR;
            }
        }
        if (p->phase == HTTP_PHASE_READY) {
            if (e == HPE_PAUSED_UPGRADE) p->req.keep_alive = 0;
            return HTTP_PARSE_REQUEST;
        }
        if (e != HPE_OK) { /* paused without a request: cannot happen */
            fail(p, 400, "malformed request", 0);
            p->phase = HTTP_PHASE_ERROR;
            return HTTP_PARSE_ERROR;
        }
        if (p->phase == HTTP_PHASE_HEAD && head_check(p, head_size(p, p->buf + p->len))) {
            p->phase = HTTP_PHASE_ERROR;
            return HTTP_PARSE_ERROR;
        }
    }
    return HTTP_PARSE_MORE;
}

/* Moves every slice of the request that starts in [lo, hi]
 * of the old buffer to the same offset from `to`. */
static void rebase(http_parser *p, const char *lo, const char *hi, char *to) {
    uintptr_t l = (uintptr_t)lo, h = (uintptr_t)hi;
#define REBASE(ptr)                                                                      \
    do {                                                                                 \
        uintptr_t u_ = (uintptr_t)(ptr);                                                 \
        if (u_ >= l && u_ <= h) (ptr) = to + (u_ - l);                                   \
    } while (0)
    http_request *r = &p->req;
    if (r->target.len) REBASE(r->target.p);
    for (size_t i = 0; i < r->nheaders; i++) {
        if (r->headers[i].name.len) REBASE(r->headers[i].name.p);
        if (r->headers[i].value.len) REBASE(r->headers[i].value.p);
    }
#undef REBASE
}

char *http_parser_space(http_parser *p, size_t *avail) {
    if (p->phase == HTTP_PHASE_READY || p->phase == HTTP_PHASE_ERROR) {
        *avail = p->cap - p->len; /* nothing may move now */
        return p->buf + p->len;
    }
    /* What to keep: the referenced part of the current message (k1, n1 bytes)
     * and the unparsed tail (n2 bytes). */
    const char *k1 = NULL;
    size_t n1 = 0, n2 = p->len - p->pos;
    if (p->msg_start && p->phase == HTTP_PHASE_HEAD) {
        k1 = p->msg_start;
        n1 = (size_t)(p->buf + p->pos - k1);
    } else if (p->msg_start && p->phase == HTTP_PHASE_BODY) {
        k1 = p->msg_start;
        n1 = p->ref_end ? (size_t)(p->ref_end - k1) : 0;
    }
    size_t need = n1 + n2, want = p->phase == HTTP_PHASE_BODY ? 16384 : 2048;
    char *dst = p->buf;
    size_t newcap = p->cap;
    if (p->cap - need < want && p->cap < p->cap_max) {
        newcap = DS_MAX(DS_MAX(p->cap * 2, need + want), (size_t)8192);
        newcap = DS_MIN(newcap, p->cap_max);
        dst = ds_malloc(newcap);
    }
    if (dst != p->buf || (k1 && k1 != p->buf) || p->pos != n1) {
        size_t ref_off = p->ref_end && k1 ? (size_t)(p->ref_end - k1) : 0;
        if (n1) {
            memmove(dst, k1, n1);
            rebase(p, k1, k1 + n1, dst);
        }
        if (n2) memmove(dst + n1, p->buf + p->pos, n2);
        if (k1) {
            p->msg_start = dst;
            p->ref_end = p->ref_end ? dst + ref_off : NULL;
        }
        if (dst != p->buf) {
            ds_free(p->buf);
            p->buf = dst;
            p->cap = newcap;
        }
        p->len = n1 + n2;
        p->pos = n1;
    }
    *avail = p->cap - p->len;
    return p->buf + p->len;
}

void http_parser_commit(http_parser *p, size_t n) {
    p->len += DS_MIN(n, p->cap - p->len);
}

void http_parser_next(http_parser *p) {
    if (p->phase != HTTP_PHASE_READY) return;
    http_request *r = &p->req;
    ds_arena_reset(r->arena);
    if (r->body.cap > (1u << 20)) {
        ds_buf_free(&r->body);
        ds_buf_reserve(&r->body, 0);
    } else {
        ds_buf_reset(&r->body);
    }
    r->method = NULL;
    r->target = r->path = r->query = no_slice;
    r->nheaders = 0;
    r->keep_alive = 0;
    r->is_head = 0;
    p->msg_start = p->ref_end = NULL;
    p->cur = CUR_NONE;
    p->want_continue = p->close_after = 0;
    p->body_wire = p->trailer_bytes = p->ntrailers = 0;
    p->phase = HTTP_PHASE_IDLE;
    llhttp_resume(&p->ll);
    llhttp_resume_after_upgrade(&p->ll);
}

int http_parser_take_continue(http_parser *p) {
    if (!p->want_continue || p->phase != HTTP_PHASE_BODY) return 0;
    p->want_continue = 0;
    return 1;
}

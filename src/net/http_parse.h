/* http_parse.h -- private to src/net: the request parser of one HTTP
 * connection, separate from sockets so the fuzzer can drive it.
 *
 * An http_parser owns the connection's read buffer, its llhttp state, the
 * request being assembled (headers as slices into the read buffer) and the
 * per-request arena. The owner drives it like this:
 *
 *     for (;;) {
 *         r = http_parser_run(p);
 *         if (r == HTTP_PARSE_REQUEST) { use p->req; http_parser_next(p); continue; }
 *         if (r == HTTP_PARSE_ERROR)   { answer p->err_status; stop; }
 *         if (http_parser_take_continue(p)) send "100 Continue";
 *         space = http_parser_space(p, &avail);  read up to avail bytes there;
 *         http_parser_commit(p, n);
 *     }
 *
 * Read buffer layout while a message is in progress:
 *
 *     buf                msg_start          ref_end        pos       len    cap
 *      |  (dropped)      | request line+headers |  consumed | unparsed |free|
 *
 * Slices of the current request point into [msg_start, ref_end). Compaction
 * (in http_parser_space) moves that region to the front of the buffer or into
 * a bigger one and rebases the slices; bytes that nothing references
 * (consumed body bytes, earlier messages) are dropped. While a request is
 * READY nothing moves. In the HEAD phase everything from msg_start is kept,
 * so len - msg_start is the exact size of the head so far (the 431 check).
 */
#ifndef DS_HTTP_PARSE_H
#define DS_HTTP_PARSE_H

#include "llhttp.h"
#include "net/http.h"

#define HTTP_DEFAULT_MAX_HEADER_BYTES (16u * 1024)
#define HTTP_DEFAULT_MAX_HEADERS 100u
#define HTTP_DEFAULT_MAX_BODY_BYTES (16u * 1024 * 1024 + 64 * 1024)

enum { HTTP_PARSE_MORE = 0, HTTP_PARSE_REQUEST = 1, HTTP_PARSE_ERROR = 2 };

enum {
    HTTP_PHASE_IDLE,  /* between messages */
    HTTP_PHASE_HEAD,  /* request line / headers in progress */
    HTTP_PHASE_BODY,  /* body (or trailers) in progress */
    HTTP_PHASE_READY, /* p->req is complete; call http_parser_next() when done */
    HTTP_PHASE_ERROR, /* p->err_* say what to answer; the connection must close */
};

typedef struct http_limits {
    size_t max_header_bytes, max_headers, max_body_bytes;
} http_limits;

typedef struct http_parser {
    http_request req;   /* the request being assembled / ready */
    llhttp_t ll;
    http_limits lim;
    char *buf;          /* the read buffer (see above) */
    size_t cap, cap_max, len, pos;
    const char *msg_start, *ref_end;
    size_t hcap;        /* capacity of req.headers */
    size_t body_wire;   /* bytes consumed in the BODY phase (caps chunk overhead) */
    size_t trailer_bytes, ntrailers;
    int phase, cur, want_continue, close_after;
    int err_status;     /* 400, 408, 413 or 431 when phase == ERROR */
    const char *err_code;
    char err_msg[128];
} http_parser;

/* Initialises p with copies of lim (zero fields take the server defaults).
 * Free with http_parser_free(). */
void http_parser_init(http_parser *p, const http_limits *lim);
void http_parser_free(http_parser *p);

/* Parses the buffered bytes. Returns HTTP_PARSE_REQUEST when p->req is
 * complete (again on every call until http_parser_next()), HTTP_PARSE_ERROR
 * when the input is bad or over a limit (p->err_status/err_code/err_msg; stays
 * so), HTTP_PARSE_MORE when every buffered byte is consumed. */
int http_parser_run(http_parser *p);

/* Where to put more input: compacts or grows the buffer as needed and returns
 * its free tail, *avail bytes (0 only if a READY/ERROR parser has a full
 * buffer). Pointers into the buffer held by the caller become invalid. */
char *http_parser_space(http_parser *p, size_t *avail);

/* n bytes were written at the pointer http_parser_space() returned. */
void http_parser_commit(http_parser *p, size_t n);

/* Ends the READY request: resets its arena, headers and body and resumes
 * parsing what follows it. */
void http_parser_next(http_parser *p);

/* 1 (once) if the head carried Expect: 100-continue, the body has not begun
 * and "HTTP/1.1 100 Continue" should be sent now. */
int http_parser_take_continue(http_parser *p);

/* The JSON error code for 400/408/413/431 ("BadRequest", ...), else "Error". */
const char *http_error_code(int status);

#endif

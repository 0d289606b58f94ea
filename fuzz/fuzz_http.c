/* fuzz_http.c -- libFuzzer driver for the HTTP request parser
 * (src/net/http_parse.c), without sockets.
 *
 * The input is a byte stream as a client would send it. It is parsed twice
 * through the same calls a connection makes (space / commit / run / next):
 * once in one piece and once split at points derived from the data (a few
 * cuts, or many small steps). Checked every time:
 *  - every request is self-consistent (path + '?' + query == target, limits
 *    respected) and every byte it points to is readable (ASan sees stale
 *    slices after the buffer moves);
 *  - an error is one of 400 / 413 / 431 with a JSON code;
 *  - the split run yields the same requests as the whole run (when no size
 *    limit tripped: 431/413 detection may differ by a few bytes with the split).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/http_parse.h"

#define MAX_HEAD 1024
#define MAX_HEADERS 16
#define MAX_BODY 4096

typedef struct result {
    uint64_t digest[64]; /* one per request (first 64) */
    int n, status;
} result;

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++) h = (h ^ c[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t slice_hash(uint64_t h, ds_slice s) {
    h = fnv(h, &s.len, sizeof s.len);
    return fnv(h, s.p, s.len);
}

static void check_request(const http_request *r) {
    if (!r->method || !r->method[0]) abort();
    if (r->path.p != r->target.p || r->path.len > r->target.len) abort();
    const char *q = memchr(r->target.p, '?', r->target.len);
    if (q) {
        if (r->path.len != (size_t)(q - r->target.p)) abort();
        if (r->path.len + 1 + r->query.len != r->target.len) abort();
        if (r->query.len && r->query.p != q + 1) abort();
    } else if (r->path.len != r->target.len || r->query.len) {
        abort();
    }
    if (r->nheaders > MAX_HEADERS || r->body.len > MAX_BODY) abort();
    if (r->keep_alive != 0 && r->keep_alive != 1) abort();
    if (r->body.len && (!r->body.data || r->body.data[r->body.len] != 0)) abort();
    for (size_t i = 0; i < r->nheaders; i++) {
        const http_header *h = &r->headers[i];
        if (memchr(h->name.p, ' ', h->name.len)) abort();
        const ds_slice *v = http_header_get(r, "Host");
        if (v && (v < &r->headers[0].value || v > &r->headers[r->nheaders - 1].value)) abort();
    }
}

static uint64_t request_digest(const http_request *r) {
    uint64_t h = 0xcbf29ce484222325ull;
    h = fnv(h, r->method, strlen(r->method));
    h = slice_hash(h, r->target);
    for (size_t i = 0; i < r->nheaders; i++) {
        h = slice_hash(h, r->headers[i].name);
        h = slice_hash(h, r->headers[i].value);
    }
    h = fnv(h, r->body.data ? r->body.data : "", r->body.len);
    return fnv(h, &r->keep_alive, sizeof r->keep_alive);
}

/* Feeds data to a fresh parser; piece(i) says how many bytes the i-th write
 * carries (as a client's send() calls would). */
static void run(const uint8_t *data, size_t size, const size_t *cuts, size_t ncuts, size_t step,
                result *out) {
    http_parser p;
    http_limits lim = {MAX_HEAD, MAX_HEADERS, MAX_BODY};
    http_parser_init(&p, &lim);
    memset(out, 0, sizeof *out);
    size_t off = 0, ci = 0;
    for (;;) {
        int r = http_parser_run(&p);
        if (r == HTTP_PARSE_REQUEST) {
            check_request(&p.req);
            if (out->n < 64) out->digest[out->n] = request_digest(&p.req);
            out->n++;
            /* handlers may allocate from the arena */
            memset(ds_arena_alloc(p.req.arena, 100), 0x5a, 100);
            http_parser_next(&p);
            continue;
        }
        if (r == HTTP_PARSE_ERROR) {
            if (p.err_status != 400 && p.err_status != 413 && p.err_status != 431) abort();
            if (strcmp(p.err_code, http_error_code(p.err_status))) abort();
            out->status = p.err_status;
            break;
        }
        (void)http_parser_take_continue(&p);
        if (off == size) break;
        size_t want = size - off;
        if (step) want = step < size - off ? step : size - off;
        else if (ci < ncuts && cuts[ci] > off) want = cuts[ci] - off;
        while (ci < ncuts && cuts[ci] <= off + want) ci++;
        size_t avail;
        char *sp = http_parser_space(&p, &avail);
        if (!avail) abort(); /* a parser that wants more must have room */
        size_t n = want < avail ? want : avail;
        memcpy(sp, data + off, n);
        http_parser_commit(&p, n);
        off += n;
    }
    http_parser_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1 << 16) return 0;
    result whole, split;
    run(data, size, NULL, 0, 0, &whole);

    uint64_t h = fnv(0xcbf29ce484222325ull, data, size);
    size_t step = 0, cuts[4] = {0};
    if (size && (h & 3) == 0) {
        step = 1 + (h >> 8) % 7; /* many small writes */
    } else if (size) {
        for (int i = 0; i < 4; i++) cuts[i] = (size_t)((h >> (i * 16)) & 0xffff) % size;
        for (int i = 1; i < 4; i++) /* sort the 4 cuts */
            for (int j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
                size_t t = cuts[j];
                cuts[j] = cuts[j - 1];
                cuts[j - 1] = t;
            }
    }
    run(data, size, cuts, 4, step, &split);

    int limited = whole.status == 413 || whole.status == 431 || split.status == 413 ||
                  split.status == 431;
    int common = whole.n < split.n ? whole.n : split.n;
    if (common > 64) common = 64;
    for (int i = 0; i < common; i++)
        if (whole.digest[i] != split.digest[i]) abort();
    if (!limited && (whole.n != split.n || whole.status != split.status)) abort();
    return 0;
}

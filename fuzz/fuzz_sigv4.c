/* fuzz_sigv4.c -- libFuzzer driver for SigV4 (src/api/sigv4.c): the
 * Authorization header parser and, for headers that parse, the verifier.
 *
 * Input: an Authorization header value, optionally followed by a NUL byte
 * and a request in the AWS test suite's .sreq form
 *     "METHOD target[ HTTP/1.1]\nName:value\n...\n\nbody"
 * (target = path[?query]; at most 16 headers; a line without ':' is a
 * header with an empty value).
 *
 * Every header that parses is verified against a fixed request -- botocore's
 * DynamoDB GetItem of tests/unit/test_sigv4.c, with a repeated header added
 * -- at that request's time; and, when the input carries one, against its
 * own request, at the time of its X-Amz-Date (so captured requests verify).
 * Secret: the AWS test suite's. Checked:
 *  - sigv4_parse returns DS_OK or DS_EINVAL; an error has a message; a
 *    parsed header is well-formed (NUL-terminated fields, 8-digit date,
 *    non-empty SignedHeaders without empty names) and re-serializes to a
 *    header that parses to the same struct;
 *  - sigv4_verify returns DS_OK, DS_EAUTH or DS_EINVAL, with a message
 *    exactly when it fails; the same answer without an error buffer, with a
 *    tiny one, and from the per-thread signing-key cache; and a signature
 *    that verifies does not verify with another secret of the same or a
 *    different length, nor at a time 16 minutes away.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api/sigv4.h"
#include "crypto/crypto.h"

#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define MAX_HEADERS 16
#define MAX_INPUT 8192

static const char fixed_body[] = "{\"TableName\":\"x\"}";
static const sigv4_header fixed_headers[] = {
    {{"Host", 4}, {"127.0.0.1:8000", 14}},
    {{"X-Amz-Target", 12}, {"DynamoDB_20120810.GetItem", 25}},
    {{"Content-Type", 12}, {"application/x-amz-json-1.0", 26}},
    {{"X-Amz-Date", 10}, {"20240501T120000Z", 16}},
    {{"Content-Length", 14}, {"17", 2}},
    {{"X-Dup", 5}, {"  a   b ", 8}},
    {{"x-dup", 5}, {"c", 1}},
};
static const sigv4_request fixed_request = {
    {"POST", 4},
    {"/", 1},
    {"", 0},
    fixed_headers,
    sizeof fixed_headers / sizeof fixed_headers[0],
    fixed_body,
    sizeof fixed_body - 1,
};
#define FIXED_NOW_MS 1714564800000LL /* 2024-05-01T12:00:00Z */

static void check_msg(const char *err, size_t errlen, int should_have) {
    size_t n = strnlen(err, errlen);
    if (n == errlen) abort(); /* not NUL-terminated */
    if (should_have != (n > 0)) abort();
}

static void check_parsed(const sigv4_auth *a) {
    if (strnlen(a->access_key, sizeof a->access_key) == sizeof a->access_key) abort();
    if (strnlen(a->region, sizeof a->region) == sizeof a->region) abort();
    if (strnlen(a->service, sizeof a->service) == sizeof a->service) abort();
    size_t shlen = strnlen(a->signed_headers, sizeof a->signed_headers);
    if (shlen == sizeof a->signed_headers) abort();
    if (!a->access_key[0] || !a->region[0] || !a->service[0] || !shlen) abort();
    if (strlen(a->date) != 8) abort();
    for (int i = 0; i < 8; i++)
        if (a->date[i] < '0' || a->date[i] > '9') abort();
    if (a->signed_headers[0] == ';' || a->signed_headers[shlen - 1] == ';' ||
        strstr(a->signed_headers, ";;"))
        abort();

    /* canonical re-serialization parses to the same struct */
    ds_buf b = DS_BUF_INIT;
    ds_buf_printf(&b,
                  "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, "
                  "Signature=",
                  a->access_key, a->date, a->region, a->service, a->signed_headers);
    crypto_hex(&b, a->signature, sizeof a->signature);
    sigv4_auth again;
    char err[256];
    if (sigv4_parse(b.data, b.len, &again, err, sizeof err) != DS_OK) abort();
    if (memcmp(&again, a, sizeof again)) abort();
    ds_buf_free(&b);
}

/* Verifies r every way the checks above describe; returns its answer. */
static int verify(const sigv4_auth *a, const sigv4_request *r, int64_t now) {
    char err[256], tiny[8];
    int rc = sigv4_verify(a, r, SECRET, sizeof SECRET - 1, now, err, sizeof err);
    if (rc != DS_OK && rc != DS_EAUTH && rc != DS_EINVAL) abort();
    check_msg(err, sizeof err, rc != DS_OK);
    if (sigv4_verify(a, r, SECRET, sizeof SECRET - 1, now, NULL, 0) != rc) abort();
    if (sigv4_verify(a, r, SECRET, sizeof SECRET - 1, now, tiny, sizeof tiny) != rc) abort();
    check_msg(tiny, sizeof tiny, rc != DS_OK);
    if (rc != DS_OK) return rc;
    /* accepted: must depend on the secret (cached key or not) and the time */
    char other[] = SECRET;
    other[sizeof other - 2] ^= 1;
    if (sigv4_verify(a, r, other, sizeof other - 1, now, NULL, 0) != DS_EAUTH) abort();
    if (sigv4_verify(a, r, SECRET, sizeof SECRET - 2, now, NULL, 0) != DS_EAUTH) abort();
    if (sigv4_verify(a, r, SECRET, sizeof SECRET - 1, now, NULL, 0) != DS_OK) abort();
    if (sigv4_verify(a, r, SECRET, sizeof SECRET - 1, now + 16 * 60000LL, NULL, 0) != DS_EAUTH)
        abort();
    return rc;
}

struct alt {
    sigv4_request req;
    sigv4_header h[MAX_HEADERS];
    int64_t now;
};

/* Reads the .sreq form from p[0..n) (borrowed); 0 if there is no request line. */
static int parse_alt(const char *p, size_t n, struct alt *alt) {
    memset(alt, 0, sizeof *alt);
    const char *end = p + n;
    const char *eol = memchr(p, '\n', n);
    if (!eol) eol = end;
    const char *sp = memchr(p, ' ', (size_t)(eol - p));
    if (!sp) return 0;
    alt->req.method = (ds_slice){p, (size_t)(sp - p)};
    const char *target = sp + 1;
    const char *tend = memchr(target, ' ', (size_t)(eol - target));
    if (!tend) tend = eol;
    const char *q = memchr(target, '?', (size_t)(tend - target));
    if (q) {
        alt->req.path = (ds_slice){target, (size_t)(q - target)};
        alt->req.query = (ds_slice){q + 1, (size_t)(tend - q - 1)};
    } else {
        alt->req.path = (ds_slice){target, (size_t)(tend - target)};
    }
    const char *line = eol < end ? eol + 1 : end;
    while (line < end && *line != '\n' && alt->req.nheaders < MAX_HEADERS) {
        const char *le = memchr(line, '\n', (size_t)(end - line));
        if (!le) le = end;
        const char *colon = memchr(line, ':', (size_t)(le - line));
        sigv4_header *h = &alt->h[alt->req.nheaders++];
        if (colon) {
            h->name = (ds_slice){line, (size_t)(colon - line)};
            h->value = (ds_slice){colon + 1, (size_t)(le - colon - 1)};
        } else {
            h->name = (ds_slice){line, (size_t)(le - line)};
            h->value = (ds_slice){le, 0};
        }
        line = le < end ? le + 1 : end;
    }
    if (line < end && *line == '\n') line++;
    alt->req.headers = alt->h;
    alt->req.body = line;
    alt->req.body_len = (size_t)(end - line);

    /* now = its X-Amz-Date when well-formed, else the fixed time */
    alt->now = FIXED_NOW_MS;
    for (size_t i = 0; i < alt->req.nheaders; i++) {
        const sigv4_header *h = &alt->h[i];
        if (h->name.len != 10 || strncasecmp(h->name.p, "x-amz-date", 10)) continue;
        char v[32];
        size_t vn = h->value.len < sizeof v - 1 ? h->value.len : sizeof v - 1;
        memcpy(v, h->value.p, vn);
        v[vn] = 0;
        struct tm tm = {0};
        if (sscanf(v, " %4d%2d%2dT%2d%2d%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                   &tm.tm_min, &tm.tm_sec) == 6 &&
            tm.tm_year >= 1970 && tm.tm_year < 10000) {
            tm.tm_year -= 1900;
            tm.tm_mon -= 1;
            alt->now = (int64_t)timegm(&tm) * 1000;
        }
        break;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > MAX_INPUT) return 0;
    const char *s = (const char *)data;
    const char *nul = memchr(s, 0, size);
    size_t hlen = nul ? (size_t)(nul - s) : size;

    sigv4_auth a;
    char err[256], tiny[4];
    int rc = sigv4_parse(s, hlen, &a, err, sizeof err);
    if (rc != DS_OK && rc != DS_EINVAL) abort();
    check_msg(err, sizeof err, rc != DS_OK);
    sigv4_auth b;
    if (sigv4_parse(s, hlen, &b, NULL, 0) != rc) abort();
    if (sigv4_parse(s, hlen, &b, tiny, sizeof tiny) != rc) abort();
    check_msg(tiny, sizeof tiny, rc != DS_OK);
    if (rc != DS_OK) return 0;
    if (memcmp(&a, &b, sizeof a)) abort();
    check_parsed(&a);

    verify(&a, &fixed_request, FIXED_NOW_MS);
    struct alt alt;
    if (nul && parse_alt(nul + 1, size - hlen - 1, &alt)) verify(&a, &alt.req, alt.now);
    return 0;
}

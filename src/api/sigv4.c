/* sigv4.c -- AWS Signature Version 4 verification (see sigv4.h for what is
 * checked and which canonical forms are accepted, and why). */
#include "api/sigv4.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define SIGV4_MAX_SKEW_MS (15 * 60 * 1000LL)
#define SIGV4_UNSIGNED "UNSIGNED-PAYLOAD"

#define fail(code, err, errlen, ...) ds_seterr(err, errlen, code, __VA_ARGS__)

static int lower(int c) {
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int eq_nocase(const char *a, size_t alen, const char *b, size_t blen) {
    if (alen != blen) return 0;
    for (size_t i = 0; i < alen; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i])) return 0;
    return 1;
}

static int is_digit(char c) {
    return c >= '0' && c <= '9';
}

/* Character classes: whitespace, and what ends an Authorization component's
 * name or value. A table, one load a character (the header is ~200
 * characters, scanned once). */
enum { C_SPACE = 1, C_COMMA = 2, C_EQ = 4 };
static const uint8_t char_class[256] = {
    [' '] = C_SPACE, ['\t'] = C_SPACE, ['\r'] = C_SPACE, ['\n'] = C_SPACE,
    ['\f'] = C_SPACE, ['\v'] = C_SPACE, [','] = C_COMMA,   ['='] = C_EQ,
};
#define CHAR_IS(c, what) (char_class[(unsigned char)(c)] & (what))

static int is_space(char c) {
    return CHAR_IS(c, C_SPACE);
}

/* ---- parsing the Authorization header --------------------------------- */

static int is_tchar(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int copy_field(char *dst, size_t cap, const char *p, size_t n) {
    if (n == 0 || n >= cap) return -1;
    memcpy(dst, p, n);
    dst[n] = 0;
    return 0;
}

static int parse_credential(const char *p, size_t n, sigv4_auth *out, char *err, size_t errlen) {
    const char *part[5];
    size_t plen[5], k = 0, start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || p[i] == '/') {
            if (k == 5) break;
            part[k] = p + start;
            plen[k++] = i - start;
            start = i + 1;
        }
    }
    if (k != 5 || start <= n)
        return fail(DS_EINVAL, err, errlen,
                    "Credential must be <access key>/<YYYYMMDD>/<region>/<service>/aws4_request");
    if (copy_field(out->access_key, sizeof out->access_key, part[0], plen[0]))
        return fail(DS_EINVAL, err, errlen, "Credential has an empty or too long access key");
    if (plen[1] != 8) return fail(DS_EINVAL, err, errlen, "Credential date must be YYYYMMDD");
    for (int i = 0; i < 8; i++)
        if (!is_digit(part[1][i]))
            return fail(DS_EINVAL, err, errlen, "Credential date must be YYYYMMDD");
    memcpy(out->date, part[1], 8);
    out->date[8] = 0;
    if (copy_field(out->region, sizeof out->region, part[2], plen[2]))
        return fail(DS_EINVAL, err, errlen, "Credential has an empty or too long region");
    if (copy_field(out->service, sizeof out->service, part[3], plen[3]))
        return fail(DS_EINVAL, err, errlen, "Credential has an empty or too long service");
    if (plen[4] != 12 || memcmp(part[4], "aws4_request", 12))
        return fail(DS_EINVAL, err, errlen, "Credential must end with /aws4_request");
    return DS_OK;
}

static int parse_signed_headers(const char *p, size_t n, sigv4_auth *out, char *err,
                                size_t errlen) {
    if (n == 0 || n >= sizeof out->signed_headers)
        return fail(DS_EINVAL, err, errlen, "SignedHeaders is empty or too long");
    for (size_t i = 0; i < n; i++) {
        int sep = p[i] == ';';
        if (!sep && !is_tchar(p[i]))
            return fail(DS_EINVAL, err, errlen, "SignedHeaders has an invalid character");
        if (sep && (i == 0 || i == n - 1 || p[i - 1] == ';'))
            return fail(DS_EINVAL, err, errlen, "SignedHeaders has an empty header name");
    }
    memcpy(out->signed_headers, p, n);
    out->signed_headers[n] = 0;
    return DS_OK;
}

int sigv4_parse(const char *s, size_t len, sigv4_auth *out, char *err, size_t errlen) {
    const size_t alglen = sizeof SIGV4_ALGORITHM - 1;
    int have_cred = 0, have_sh = 0, have_sig = 0, rc;
    size_t i = 0;

    memset(out, 0, sizeof *out);
    if (err && errlen) err[0] = 0;
    while (i < len && is_space(s[i]))
        i++;
    if (len - i < alglen || memcmp(s + i, SIGV4_ALGORITHM, alglen) ||
        (len - i > alglen && !is_space(s[i + alglen]) && s[i + alglen] != ','))
        return fail(DS_EINVAL, err, errlen,
                    "Authorization header must start with " SIGV4_ALGORITHM);
    i += alglen;
    for (;;) {
        while (i < len && CHAR_IS(s[i], C_SPACE | C_COMMA))
            i++;
        if (i >= len) break;
        size_t ks = i;
        while (i < len && !CHAR_IS(s[i], C_SPACE | C_COMMA | C_EQ))
            i++;
        if (i >= len || s[i] != '=')
            return fail(DS_EINVAL, err, errlen,
                        "Authorization header component \"%.*s\" has no value",
                        (int)DS_MIN(i - ks, 64), s + ks);
        const char *key = s + ks;
        size_t klen = i - ks;
        size_t vs = ++i;
        while (i < len && !CHAR_IS(s[i], C_SPACE | C_COMMA))
            i++;
        const char *val = s + vs;
        size_t vlen = i - vs;
        if (eq_nocase(key, klen, "Credential", 10)) {
            if (have_cred++) return fail(DS_EINVAL, err, errlen, "Credential appears twice");
            if ((rc = parse_credential(val, vlen, out, err, errlen))) return rc;
        } else if (eq_nocase(key, klen, "SignedHeaders", 13)) {
            if (have_sh++) return fail(DS_EINVAL, err, errlen, "SignedHeaders appears twice");
            if ((rc = parse_signed_headers(val, vlen, out, err, errlen))) return rc;
        } else if (eq_nocase(key, klen, "Signature", 9)) {
            if (have_sig++) return fail(DS_EINVAL, err, errlen, "Signature appears twice");
            if (crypto_unhex(out->signature, sizeof out->signature, val, vlen))
                return fail(DS_EINVAL, err, errlen, "Signature must be 64 hex digits");
        } else {
            return fail(DS_EINVAL, err, errlen, "unknown Authorization header component \"%.*s\"",
                        (int)DS_MIN(klen, 64), key);
        }
    }
    if (!have_cred) return fail(DS_EINVAL, err, errlen, "Authorization header has no Credential");
    if (!have_sh) return fail(DS_EINVAL, err, errlen, "Authorization header has no SignedHeaders");
    if (!have_sig) return fail(DS_EINVAL, err, errlen, "Authorization header has no Signature");
    return DS_OK;
}

/* ---- dates -------------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int num(const char *p, int n) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!is_digit(p[i])) return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

static int to_ms(int y, int mo, int d, int h, int mi, int s, int64_t *ms) {
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
        s < 0 || s > 60)
        return -1;
    int64_t days = days_from_civil(y, (unsigned)mo, (unsigned)d);
    *ms = ((days * 24 + h) * 60 + mi) * 60000LL + s * 1000LL;
    return 0;
}

/* "20150830T123600Z" */
static int parse_amz_date(const char *p, size_t n, int64_t *ms) {
    if (n != 16 || p[8] != 'T' || p[15] != 'Z') return -1;
    return to_ms(num(p, 4), num(p + 4, 2), num(p + 6, 2), num(p + 9, 2), num(p + 11, 2),
                 num(p + 13, 2), ms);
}

/* IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 7231). */
static int parse_http_date(const char *p, size_t n, int64_t *ms, char amz[17]) {
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    if (n != 29 || p[3] != ',' || p[4] != ' ' || p[7] != ' ' || p[11] != ' ' || p[16] != ' ' ||
        p[19] != ':' || p[22] != ':' || memcmp(p + 25, " GMT", 4))
        return -1;
    int mo = 0;
    for (int i = 0; i < 12; i++)
        if (!memcmp(p + 8, months + 3 * i, 3)) mo = i + 1;
    int y = num(p + 12, 4), d = num(p + 5, 2), h = num(p + 17, 2), mi = num(p + 20, 2),
        s = num(p + 23, 2);
    if (to_ms(y, mo, d, h, mi, s, ms)) return -1;
    memcpy(amz, p + 12, 4);
    amz[4] = (char)('0' + mo / 10);
    amz[5] = (char)('0' + mo % 10);
    memcpy(amz + 6, p + 5, 2);
    amz[8] = 'T';
    memcpy(amz + 9, p + 17, 2);
    memcpy(amz + 11, p + 20, 2);
    memcpy(amz + 13, p + 23, 2);
    amz[15] = 'Z';
    amz[16] = 0;
    return 0;
}

/* ---- canonical pieces ----------------------------------------------------- */

static int unreserved(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit((char)c) || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

static void uri_encode(ds_buf *out, const char *p, size_t n, int keep_slash) {
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (unreserved(c) || (keep_slash && c == '/')) {
            ds_buf_putc(out, (char)c);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            ds_buf_append(out, e, 3);
        }
    }
}

static int hexval(char c) {
    if (is_digit(c)) return c - '0';
    c = (char)lower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decodes p[0..n) into out (a '%' not followed by two hex digits
 * stays as is); '+' becomes a space when plus_is_space. */
static void uri_decode(ds_buf *out, const char *p, size_t n, int plus_is_space) {
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (p[i] == '%' && i + 2 < n && (hi = hexval(p[i + 1])) >= 0 &&
            (lo = hexval(p[i + 2])) >= 0) {
            ds_buf_putc(out, (char)(hi << 4 | lo));
            i += 2;
        } else if (p[i] == '+' && plus_is_space) {
            ds_buf_putc(out, ' ');
        } else {
            ds_buf_putc(out, p[i]);
        }
    }
}

/* 1 if normalize_path would leave p as it is: no empty, "." or ".."
 * segment, apart from the empty ones a leading or trailing '/' makes. */
static int path_is_normal(const char *p, size_t n) {
    for (size_t i = 0, s = 0; i <= n; i++) {
        if (i < n && p[i] != '/') continue;
        size_t len = i - s;
        int edge = i == n || s == 0;
        if ((len == 0 && !edge) || (len == 1 && p[s] == '.') ||
            (len == 2 && p[s] == '.' && p[s + 1] == '.'))
            return 0;
        s = i + 1;
    }
    return 1;
}

/* botocore's remove_dot_segments: drops "", "." and ".." (with its parent)
 * segments; keeps a leading '/', and a trailing one if anything remains. */
static void normalize_path(ds_buf *out, const char *p, size_t n) {
    if (path_is_normal(p, n)) {
        ds_buf_append(out, p, n);
        return;
    }
    size_t *starts = ds_malloc((n + 1) * sizeof *starts);
    size_t depth = 0, i = 0;
    ds_buf seg = DS_BUF_INIT;
    while (i <= n) {
        size_t s = i;
        while (i < n && p[i] != '/')
            i++;
        size_t len = i - s;
        if (len == 0 || (len == 1 && p[s] == '.')) {
            /* skip */
        } else if (len == 2 && p[s] == '.' && p[s + 1] == '.') {
            if (depth) seg.len = starts[--depth];
        } else {
            starts[depth++] = seg.len;
            if (depth > 1) ds_buf_putc(&seg, '/');
            ds_buf_append(&seg, p + s, len);
        }
        i++;
    }
    if (n && p[0] == '/') ds_buf_putc(out, '/');
    if (seg.len) ds_buf_append(out, seg.data, seg.len);
    if (n && p[n - 1] == '/' && depth) ds_buf_putc(out, '/');
    ds_buf_free(&seg);
    ds_free(starts);
}

struct qpair {
    const char *name, *value;
    size_t nlen, vlen;
};

static int qpair_cmp(const void *a, const void *b) {
    const struct qpair *x = a, *y = b;
    int c = memcmp(x->name, y->name, DS_MIN(x->nlen, y->nlen));
    if (c || x->nlen != y->nlen) return c ? c : (x->nlen < y->nlen ? -1 : 1);
    c = memcmp(x->value, y->value, DS_MIN(x->vlen, y->vlen));
    if (c || x->vlen != y->vlen) return c ? c : (x->vlen < y->vlen ? -1 : 1);
    return 0;
}

/* The canonical query: pairs split on '&' (empty ones dropped) and at the
 * first '=', then -- when reencode -- percent-decoded (plus_is_space: '+'
 * too) and URI-encoded; sorted by name then value; joined "n=v&n=v". */
static void canonical_query(ds_buf *out, ds_slice q, int reencode, int plus_is_space) {
    if (!q.len) return;
    size_t cap = 1;
    for (size_t i = 0; i < q.len; i++)
        cap += q.p[i] == '&';
    struct qpair *pairs = ds_malloc(cap * sizeof *pairs);
    size_t *offs = ds_malloc(cap * 4 * sizeof *offs);
    ds_buf store = DS_BUF_INIT, tmp = DS_BUF_INIT;
    size_t np = 0, i = 0;

    while (i < q.len) {
        size_t s = i;
        while (i < q.len && q.p[i] != '&')
            i++;
        const char *seg = q.p + s;
        size_t seglen = i - s, eq = 0;
        i++;
        if (!seglen) continue;
        while (eq < seglen && seg[eq] != '=')
            eq++;
        ds_slice part[2] = {{seg, eq},
                            {seg + (eq < seglen ? eq + 1 : seglen), eq < seglen ? seglen - eq - 1 : 0}};
        for (int k = 0; k < 2; k++) {
            offs[4 * np + 2 * k] = store.len;
            if (reencode) {
                ds_buf_reset(&tmp);
                uri_decode(&tmp, part[k].p, part[k].len, plus_is_space);
                uri_encode(&store, tmp.data, tmp.len, 0);
            } else {
                ds_buf_append(&store, part[k].p, part[k].len);
            }
            offs[4 * np + 2 * k + 1] = store.len - offs[4 * np + 2 * k];
        }
        np++;
    }
    for (size_t k = 0; k < np; k++) { /* store no longer moves */
        pairs[k].name = store.data + offs[4 * k];
        pairs[k].nlen = offs[4 * k + 1];
        pairs[k].value = store.data + offs[4 * k + 2];
        pairs[k].vlen = offs[4 * k + 3];
    }
    qsort(pairs, np, sizeof *pairs, qpair_cmp);
    for (size_t k = 0; k < np; k++) {
        if (k) ds_buf_putc(out, '&');
        ds_buf_append(out, pairs[k].name, pairs[k].nlen);
        ds_buf_putc(out, '=');
        ds_buf_append(out, pairs[k].value, pairs[k].vlen);
    }
    ds_buf_free(&store);
    ds_buf_free(&tmp);
    ds_free(offs);
    ds_free(pairs);
}

/* Appends value trimmed, with every run of whitespace made one space. */
static void append_trimall(ds_buf *out, const char *p, size_t n) {
    size_t i = 0;
    int first = 1;
    while (i < n) {
        while (i < n && is_space(p[i]))
            i++;
        if (i >= n) break;
        if (!first) ds_buf_putc(out, ' ');
        first = 0;
        size_t s = i;
        while (i < n && !is_space(p[i]))
            i++;
        ds_buf_append(out, p + s, i - s);
    }
}

/* The first header called name (any case), its value trimmed; 0 if none. */
static int find_header(const sigv4_request *r, const char *name, size_t nlen, ds_slice *v) {
    for (size_t i = 0; i < r->nheaders; i++) {
        if (!eq_nocase(r->headers[i].name.p, r->headers[i].name.len, name, nlen)) continue;
        const char *p = r->headers[i].value.p;
        size_t n = r->headers[i].value.len;
        while (n && is_space(*p))
            p++, n--;
        while (n && is_space(p[n - 1]))
            n--;
        *v = (ds_slice){p, n};
        return 1;
    }
    return 0;
}

/* Appends "name:v1,v2\n" for every signed header, in SignedHeaders order. */
static int canonical_headers(ds_buf *out, const sigv4_auth *a, const sigv4_request *r, char *err,
                             size_t errlen) {
    const char *sh = a->signed_headers;
    size_t shlen = strnlen(sh, sizeof a->signed_headers);
    int has_host = 0;
    for (size_t i = 0; i <= shlen;) {
        size_t s = i;
        while (i < shlen && sh[i] != ';')
            i++;
        if (i - s == 4 && eq_nocase(sh + s, 4, "host", 4)) has_host = 1;
        i++;
    }
    if (!has_host) return fail(DS_EAUTH, err, errlen, "host header must be signed");
    for (size_t i = 0; i < shlen;) {
        size_t s = i;
        while (i < shlen && sh[i] != ';')
            i++;
        const char *name = sh + s;
        size_t nlen = i - s, found = 0;
        i++;
        ds_buf_append(out, name, nlen);
        ds_buf_putc(out, ':');
        for (size_t h = 0; h < r->nheaders; h++) {
            if (!eq_nocase(r->headers[h].name.p, r->headers[h].name.len, name, nlen)) continue;
            if (found++) ds_buf_putc(out, ',');
            append_trimall(out, r->headers[h].value.p, r->headers[h].value.len);
        }
        if (!found)
            return fail(DS_EAUTH, err, errlen, "signed header %.*s is missing", (int)nlen, name);
        ds_buf_putc(out, '\n');
    }
    return DS_OK;
}

/* ---- the signing key, cached per thread ----------------------------------- */

static _Thread_local struct {
    int valid;
    char access_key[129], date[9], region[65], service[65];
    char secret[128];
    size_t secret_len;
    uint8_t key[32];
} sk_cache;

static void signing_key(const sigv4_auth *a, const char *secret, size_t secret_len,
                        uint8_t key[32]) {
    if (sk_cache.valid && sk_cache.secret_len == secret_len &&
        crypto_ct_equal(sk_cache.secret, secret, secret_len) &&
        !strncmp(sk_cache.access_key, a->access_key, sizeof a->access_key) &&
        !strncmp(sk_cache.date, a->date, sizeof a->date) &&
        !strncmp(sk_cache.region, a->region, sizeof a->region) &&
        !strncmp(sk_cache.service, a->service, sizeof a->service)) {
        memcpy(key, sk_cache.key, 32);
        return;
    }
    uint8_t *k0 = ds_malloc(4 + secret_len);
    uint8_t k1[32], k2[32];
    memcpy(k0, "AWS4", 4);
    memcpy(k0 + 4, secret, secret_len);
    crypto_hmac_sha256(k0, 4 + secret_len, a->date, strnlen(a->date, sizeof a->date), k1);
    crypto_hmac_sha256(k1, 32, a->region, strnlen(a->region, sizeof a->region), k2);
    crypto_hmac_sha256(k2, 32, a->service, strnlen(a->service, sizeof a->service), k1);
    crypto_hmac_sha256(k1, 32, "aws4_request", 12, key);
    crypto_wipe(k0, 4 + secret_len);
    crypto_wipe(k1, 32);
    crypto_wipe(k2, 32);
    ds_free(k0);
    if (secret_len <= sizeof sk_cache.secret) {
        sk_cache.valid = 1;
        memcpy(sk_cache.secret, secret, secret_len);
        sk_cache.secret_len = secret_len;
        memcpy(sk_cache.access_key, a->access_key, sizeof a->access_key);
        memcpy(sk_cache.date, a->date, sizeof a->date);
        memcpy(sk_cache.region, a->region, sizeof a->region);
        memcpy(sk_cache.service, a->service, sizeof a->service);
        memcpy(sk_cache.key, key, 32);
    }
}

/* ---- verification ----------------------------------------------------------- */

/* A verification builds its strings in buffers kept per thread, so a thread
 * that has verified a request of this size allocates nothing. (Fresh buffers
 * cost ~25 malloc/free pairs a request, 5% of a GetItem's CPU, all behind the
 * one malloc arena's lock.) A buffer that grew past SCRATCH_KEEP is given
 * back after use; the rest are freed when the thread exits. */
#define SCRATCH_KEEP (64 * 1024)
enum { S_CAND, S_TAIL, S_CREQ, S_STS, S_TMP, S_N };
static _Thread_local ds_buf tl_scratch[S_N];
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *p) {
    ds_buf *b = p;
    for (int i = 0; i < S_N; i++)
        ds_buf_free(&b[i]);
}

static void scratch_key_init(void) {
    (void)pthread_key_create(&scratch_key, scratch_free); /* failing, they live on */
}

static ds_buf *scratch_get(void) {
    static _Thread_local int registered;
    if (!registered) {
        pthread_once(&scratch_once, scratch_key_init);
        pthread_setspecific(scratch_key, tl_scratch);
        registered = 1;
    }
    for (int i = 0; i < S_N; i++)
        ds_buf_reset(&tl_scratch[i]);
    return tl_scratch;
}

static void scratch_put(ds_buf *b) {
    for (int i = 0; i < S_N; i++)
        if (b[i].cap > SCRATCH_KEEP) ds_buf_free(&b[i]);
}

/* A candidate canonical URI or query: a piece of the S_CAND buffer. */
typedef struct {
    size_t off, len;
} candidate;

/* Ends the candidate that starts at c->data + start: keeps it unless an equal
 * one is already in list. */
static void add_candidate(ds_buf *c, candidate *list, size_t *n, size_t start) {
    size_t len = c->len - start;
    for (size_t i = 0; i < *n; i++) {
        if (list[i].len == len && (!len || !memcmp(c->data + list[i].off, c->data + start, len))) {
            c->len = start;
            return;
        }
    }
    list[(*n)++] = (candidate){start, len};
}

int sigv4_verify(const sigv4_auth *a, const sigv4_request *r, const char *secret, size_t secret_len,
                 int64_t now_ms, char *err, size_t errlen) {
    candidate uris[3], queries[4];
    size_t nuri = 0, nq = 0, at;
    char amz[17];
    int64_t t_ms;
    uint8_t key[32], digest[32], sig[32];
    int rc;

    if (err && errlen) err[0] = 0;
    if (!a || !r || (!secret && secret_len)) return fail(DS_EINVAL, err, errlen, "bad arguments");

    /* The request time. */
    ds_slice d, ph;
    if (find_header(r, "x-amz-date", 10, &d)) {
        if (parse_amz_date(d.p, d.len, &t_ms))
            return fail(DS_EAUTH, err, errlen, "X-Amz-Date header is malformed");
        memcpy(amz, d.p, 16);
        amz[16] = 0;
    } else if (find_header(r, "date", 4, &d)) {
        if (parse_http_date(d.p, d.len, &t_ms, amz))
            return fail(DS_EAUTH, err, errlen, "Date header is malformed");
    } else {
        return fail(DS_EAUTH, err, errlen, "request has no X-Amz-Date or Date header");
    }
    if (now_ms - t_ms > SIGV4_MAX_SKEW_MS || t_ms - now_ms > SIGV4_MAX_SKEW_MS)
        return fail(DS_EAUTH, err, errlen,
                    "request date is more than 15 minutes from the server's time");
    if (memcmp(a->date, amz, 8))
        return fail(DS_EAUTH, err, errlen, "credential date does not match the request date");

    ds_buf *sb = scratch_get();
    ds_buf *cand = &sb[S_CAND], *tail = &sb[S_TAIL], *creq = &sb[S_CREQ], *sts = &sb[S_STS],
           *tmp = &sb[S_TMP];

    /* Headers, signed header list and payload hash: the same for every
     * candidate. */
    if ((rc = canonical_headers(tail, a, r, err, errlen))) goto done;
    ds_buf_putc(tail, '\n');
    ds_buf_append(tail, a->signed_headers, strnlen(a->signed_headers, sizeof a->signed_headers));
    ds_buf_putc(tail, '\n');
    crypto_sha256(r->body, r->body_len, digest);
    if (find_header(r, "x-amz-content-sha256", 20, &ph)) {
        append_trimall(tmp, ph.p, ph.len);
        int unsigned_payload = tmp->len == sizeof SIGV4_UNSIGNED - 1 &&
                               !memcmp(tmp->data, SIGV4_UNSIGNED, tmp->len);
        /* An unsigned body could be swapped in transit without breaking the
         * signature: allowed only when there is no body. */
        if (unsigned_payload && r->body_len) {
            rc = fail(DS_EAUTH, err, errlen,
                      "UNSIGNED-PAYLOAD is not accepted for a request with a body: sign the "
                      "body's SHA-256");
            goto done;
        }
        if (!unsigned_payload) {
            uint8_t claimed[32];
            if (crypto_unhex(claimed, 32, tmp->data ? tmp->data : "", tmp->len) ||
                !crypto_ct_equal(claimed, digest, 32)) {
                rc = fail(DS_EAUTH, err, errlen, "x-amz-content-sha256 does not match the body");
                goto done;
            }
        }
        ds_buf_append(tail, tmp->data, tmp->len);
    } else {
        crypto_hex(tail, digest, 32);
    }

    /* Canonical URI candidates (sigv4.h says which client produces which). */
    ds_slice path = r->path.len ? r->path : (ds_slice){"/", 1};
    ds_buf_reset(tmp);
    normalize_path(tmp, path.p, path.len);
    at = cand->len;
    uri_encode(cand, tmp->data ? tmp->data : "", tmp->len, 1); /* A: normalized */
    add_candidate(cand, uris, &nuri, at);
    at = cand->len;
    uri_encode(cand, path.p, path.len, 1); /* A': encoded as sent */
    add_candidate(cand, uris, &nuri, at);
    at = cand->len;
    ds_buf_append(cand, path.p, path.len); /* B: as sent */
    add_candidate(cand, uris, &nuri, at);

    /* Canonical query candidates. */
    at = cand->len;
    canonical_query(cand, r->query, 1, 0); /* decoded, re-encoded, sorted */
    add_candidate(cand, queries, &nq, at);
    if (memchr(r->query.p ? r->query.p : "", '+', r->query.len)) {
        at = cand->len;
        canonical_query(cand, r->query, 1, 1); /* '+' meant a space */
        add_candidate(cand, queries, &nq, at);
    }
    at = cand->len;
    canonical_query(cand, r->query, 0, 0); /* raw pairs, sorted (botocore) */
    add_candidate(cand, queries, &nq, at);
    at = cand->len;
    ds_buf_append(cand, r->query.p ? r->query.p : "", r->query.len); /* as sent */
    add_candidate(cand, queries, &nq, at);

    /* The string to sign, up to the canonical request's hash. */
    ds_buf_append(sts, SIGV4_ALGORITHM "\n", sizeof SIGV4_ALGORITHM);
    ds_buf_append(sts, amz, 16);
    ds_buf_putc(sts, '\n');
    ds_buf_append(sts, a->date, strnlen(a->date, 8));
    ds_buf_putc(sts, '/');
    ds_buf_append(sts, a->region, strnlen(a->region, 64));
    ds_buf_putc(sts, '/');
    ds_buf_append(sts, a->service, strnlen(a->service, 64));
    ds_buf_append(sts, "/aws4_request\n", 14);
    size_t sts_head = sts->len;

    signing_key(a, secret, secret_len, key);
    rc = DS_EAUTH;
    for (size_t u = 0; u < nuri && rc; u++) {
        for (size_t q = 0; q < nq && rc; q++) {
            ds_buf_reset(creq);
            ds_buf_append(creq, r->method.p, r->method.len);
            ds_buf_putc(creq, '\n');
            ds_buf_append(creq, cand->data + uris[u].off, uris[u].len);
            ds_buf_putc(creq, '\n');
            if (queries[q].len) ds_buf_append(creq, cand->data + queries[q].off, queries[q].len);
            ds_buf_putc(creq, '\n');
            ds_buf_append(creq, tail->data, tail->len);
            crypto_sha256(creq->data, creq->len, digest);
            sts->len = sts_head;
            crypto_hex(sts, digest, 32);
            crypto_hmac_sha256(key, 32, sts->data, sts->len, sig);
            if (crypto_ct_equal(sig, a->signature, 32)) rc = DS_OK;
        }
    }
    if (rc) rc = fail(DS_EAUTH, err, errlen, "signature does not match");
    crypto_wipe(key, sizeof key);
    crypto_wipe(sig, sizeof sig);
done:
    scratch_put(sb);
    return rc;
}

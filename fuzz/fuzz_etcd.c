/* fuzz_etcd.c -- libFuzzer driver for the etcd gateway answer parsers
 * (src/control/etcd.c). Corpus: fuzz/corpus/etcd/ (answers captured from
 * etcd 3.4.23's gateway: range, put, txn, lease, errors, watch streams).
 *
 * Every input is read three ways:
 *   1. as one answer (etcd__parse_reply, as with HTTP 200 and 404), then as
 *      a range answer (etcd__parse_range) with and without the "/dstore/"
 *      prefix, and its int64 fields (etcd__get_int64);
 *   2. as a watch stream: fed to the framer in one piece and in chunks whose
 *      sizes come from the input, each line parsed as a watch message;
 *   3. (implicitly) every decoded kv is checked.
 * Properties (a violation aborts):
 *   - the framer yields the same lines however the bytes are chunked, none
 *     containing '\n';
 *   - a decoded key or value is NUL-terminated at its length and, encoded
 *     back to base64, gives exactly the text it came from (strict base64);
 *   - a key decoded with the prefix is the one decoded without it, minus
 *     the prefix; a failed parse returns an error code and a message.
 */
#include "common/base64.h"
#include "control/etcd.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX "/dstore/"
#define PLEN 8

static void check_bytes(const char *p, size_t n, const json_value *src) {
    if (p[n] != 0) abort();
    if (!src) {
        if (n) abort(); /* absent field: empty */
        return;
    }
    ds_buf b = DS_BUF_INIT;
    base64_encode(&b, p, n, 0);
    if (b.len != src->u.str.len || memcmp(b.data, src->u.str.s, b.len)) abort();
    ds_buf_free(&b);
}

static void check_kv(const etcd__kv *kv, const json_value *obj, size_t strip) {
    /* re-encoding needs the full key: the stripped prefix sits just before */
    const json_value *k = json_get(obj, "key"), *v = json_get(obj, "value");
    if (!k) abort();
    check_bytes(kv->key - strip, kv->klen + strip, k);
    if (strip && memcmp(kv->key - strip, PREFIX, strip)) abort();
    check_bytes(kv->val, kv->vlen, v);
}

static void range_checks(ds_arena *a, json_value *obj) {
    etcd__kv *kvs, *kvs2;
    size_t n, n2;
    int more, more2;
    int64_t rev, rev2, x;
    int rc = etcd__parse_range(a, obj, "", 0, &kvs, &n, &more, &rev);
    int rc2 = etcd__parse_range(a, obj, PREFIX, PLEN, &kvs2, &n2, &more2, &rev2);
    if (rc == DS_OK) {
        const json_value *arr = json_get(obj, "kvs");
        for (size_t i = 0; i < n; i++) check_kv(&kvs[i], arr->u.arr.items[i], 0);
        if (rc2 == DS_OK) {
            if (n2 != n || more2 != more || rev2 != rev) abort();
            for (size_t i = 0; i < n; i++) {
                check_kv(&kvs2[i], arr->u.arr.items[i], PLEN);
                if (kvs2[i].klen + PLEN != kvs[i].klen ||
                    memcmp(kvs2[i].key, kvs[i].key + PLEN, kvs2[i].klen))
                    abort();
            }
        } else if (rc2 != DS_ECORRUPT) {
            abort(); /* only the prefix check can fail in addition */
        }
    } else if (rc2 == DS_OK) {
        abort();
    }
    static const char *ints[] = {"ID", "TTL", "deleted", "count", "compact_revision"};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) etcd__get_int64(obj, ints[i], &x);
}

typedef struct lines {
    ds_buf all; /* every line, each followed by '\n' */
    int n;
    ds_arena *a;
    int parse;
} lines;

static int on_line(const char *l, size_t n, void *ud) {
    lines *ls = ud;
    if (n == 0 || memchr(l, '\n', n)) abort();
    ds_buf_append(&ls->all, l, n);
    ds_buf_putc(&ls->all, '\n');
    ls->n++;
    if (!ls->parse) return 0;
    etcd__watch_msg m;
    char err[256];
    err[0] = 0;
    int rc = etcd__parse_watch_msg(ls->a, l, n, PREFIX, PLEN, &m, err, sizeof err);
    if (rc != DS_OK) {
        if (rc >= 0 || err[0] == 0) abort();
        return 0;
    }
    for (size_t i = 0; i < m.nevents; i++) {
        if (m.deletes[i] != 0 && m.deletes[i] != 1) abort();
        if (m.events[i].key[m.events[i].klen] != 0) abort();
        if (m.events[i].val[m.events[i].vlen] != 0) abort();
        if (memcmp(m.events[i].key - PLEN, PREFIX, PLEN)) abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ds_arena *a = ds_arena_new(4096);
    char *text = ds_memdup(data, size); /* exactly size bytes, for ASan */
    char err[256];
    json_value *obj;

    for (int pass = 0; pass < 2; pass++) {
        err[0] = 0;
        int rc = etcd__parse_reply(a, pass ? 404 : 200, text, size, &obj, err, sizeof err);
        if (rc == DS_OK) {
            if (pass || !obj || obj->type != JSON_OBJECT) abort(); /* 404 is never OK */
            range_checks(a, obj);
        } else if (rc >= 0 || err[0] == 0) {
            abort();
        }
    }

    /* the stream: whole, then in chunks of 1..16 bytes chosen by the input */
    lines whole = {DS_BUF_INIT, 0, a, 1}, pieces = {DS_BUF_INIT, 0, a, 0};
    etcd__framer f1 = {DS_BUF_INIT, 1 << 20}, f2 = {DS_BUF_INIT, 1 << 20};
    int r1 = etcd__framer_feed(&f1, text, size, on_line, &whole);
    int r2 = 0;
    for (size_t at = 0, i = 0; at < size && r2 == 0; i++) {
        size_t step = 1 + (size ? data[i % size] % 16 : 0);
        if (step > size - at) step = size - at;
        r2 = etcd__framer_feed(&f2, text + at, step, on_line, &pieces);
        at += step;
    }
    if (r1 != r2 || whole.n != pieces.n || whole.all.len != pieces.all.len ||
        (whole.all.len && memcmp(whole.all.data, pieces.all.data, whole.all.len)))
        abort();
    if (f1.buf.len != f2.buf.len) abort(); /* the same unterminated tail */

    ds_buf_free(&whole.all);
    ds_buf_free(&pieces.all);
    ds_buf_free(&f1.buf);
    ds_buf_free(&f2.buf);
    ds_free(text);
    ds_arena_free(a);
    return 0;
}

/* test_etcd.c -- the etcd client (src/control/etcd.c) against a real etcd.
 *
 * Every test that talks to etcd starts its own server (etcd_server.h: fresh
 * data directory, free loopback ports) through the fixture below, and the
 * helper removes it even when a CHECK fails or the test times out. The
 * parser tests at the top need no server.
 */
#include "control/etcd.h"

#include "etcd_server.h"
#include "t.h"

#include <pthread.h>
#include <stdatomic.h>

/* ---- fixture ------------------------------------------------------------ */

typedef struct fx {
    etcd_server srv;
    etcd *e;
} fx;

static void fx_start(fx *f) {
    char err[256];
    if (etcd_server_start(&f->srv)) T_FAIL("etcd did not start");
    if (etcd_open(f->srv.url, "/dstore/", &f->e, err, sizeof err)) T_FAIL("etcd_open: %s", err);
}

static void fx_end(fx *f) {
    etcd_close(f->e);
    etcd_server_cleanup(&f->srv);
}

static void sleep_ms(int ms) { etcd_server_sleep_ms(ms); }

#define S(lit) lit, sizeof(lit) - 1 /* a literal as (pointer, length) */

static int64_t get_rev(etcd *e, const char *k, size_t kl, ds_buf *val) {
    int64_t mr = -1;
    int rc = etcd_get(e, k, kl, val, &mr);
    return rc == DS_OK ? mr : rc;
}

/* ---- parsers (no server) -------------------------------------------------- */

TEST(open_validates_endpoints) {
    etcd *e = NULL;
    char err[200];
    CHECK_EQ_INT(etcd_open("", "/p/", &e, err, sizeof err), DS_EINVAL);
    CHECK_EQ_INT(etcd_open("localhost:2379", "/p/", &e, err, sizeof err), DS_EINVAL);
    CHECK(strstr(err, "localhost:2379"));
    CHECK_EQ_INT(etcd_open("http://", "/p/", &e, err, sizeof err), DS_EINVAL);
    CHECK_EQ_INT(etcd_open("http://a:1/v3", "/p/", &e, err, sizeof err), DS_EINVAL);
    CHECK_EQ_INT(etcd_open("http://a:1,,http://b:2", "/p/", &e, err, sizeof err), DS_EINVAL);
    CHECK(e == NULL);
    CHECK_EQ_INT(etcd_open("http://a:1, https://b:2/", "/p/", &e, err, sizeof err), DS_OK);
    etcd_close(e);
}

TEST(prefix_end) {
    ds_buf b = DS_BUF_INIT;
    etcd__prefix_end(&b, "ab", 2);
    CHECK_EQ_INT(b.len, 2);
    CHECK_EQ_MEM(b.data, "ac", 2);
    ds_buf_reset(&b);
    etcd__prefix_end(&b, "a\xff\xff", 3);
    CHECK_EQ_INT(b.len, 1);
    CHECK_EQ_MEM(b.data, "b", 1);
    ds_buf_reset(&b);
    etcd__prefix_end(&b, "\xff", 1);
    CHECK_EQ_INT(b.len, 1);
    CHECK_EQ_INT(b.data[0], 0);
    ds_buf_free(&b);
}

TEST(parse_reply_errors_and_ints) {
    ds_arena *a = ds_arena_new(4096);
    json_value *v;
    char err[200];
    const char *nf = "{\"error\":\"etcdserver: requested lease not found\",\"message\":"
                     "\"etcdserver: requested lease not found\",\"code\":5}";
    CHECK_EQ_INT(etcd__parse_reply(a, 404, nf, strlen(nf), &v, err, sizeof err), DS_ENOTFOUND);
    CHECK(strstr(err, "lease not found"));
    const char *se = "{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":\"no leader\"}}\n";
    CHECK_EQ_INT(etcd__parse_reply(a, 200, se, strlen(se), &v, err, sizeof err), DS_EIO);
    CHECK_EQ_INT(etcd__parse_reply(a, 502, "oops", 4, &v, err, sizeof err), DS_EIO);
    CHECK_EQ_INT(etcd__parse_reply(a, 200, "[1]", 3, &v, err, sizeof err), DS_EPARSE);
    const char *ok = "{\"result\":{\"ID\":\"-5\",\"TTL\":\"9223372036854775807\",\"n\":12,"
                     "\"bad\":\"1x\",\"big\":\"9223372036854775808\",\"f\":1.5}}\n";
    CHECK_EQ_INT(etcd__parse_reply(a, 200, ok, strlen(ok), &v, err, sizeof err), DS_OK);
    int64_t x;
    CHECK_EQ_INT(etcd__get_int64(v, "ID", &x), DS_OK);
    CHECK_EQ_INT(x, -5);
    CHECK_EQ_INT(etcd__get_int64(v, "TTL", &x), DS_OK);
    CHECK(x == INT64_MAX);
    CHECK_EQ_INT(etcd__get_int64(v, "n", &x), DS_OK);
    CHECK_EQ_INT(x, 12);
    CHECK_EQ_INT(etcd__get_int64(v, "absent", &x), DS_OK);
    CHECK_EQ_INT(x, 0);
    CHECK_EQ_INT(etcd__get_int64(v, "bad", &x), DS_EPARSE);
    CHECK_EQ_INT(etcd__get_int64(v, "big", &x), DS_EPARSE);
    CHECK_EQ_INT(etcd__get_int64(v, "f", &x), DS_EPARSE);
    ds_arena_free(a);
}

TEST(parse_range_and_watch_messages) {
    ds_arena *a = ds_arena_new(4096);
    json_value *v;
    char err[200];
    /* "/p/k" = L3Avaw==, "v" = dg== ; an absent value is the empty value */
    const char *r = "{\"header\":{\"revision\":\"7\"},\"kvs\":[{\"key\":\"L3Avaw==\",\"value\":"
                    "\"dg==\",\"mod_revision\":\"7\",\"create_revision\":\"3\"},{\"key\":"
                    "\"L3Avaw==\",\"mod_revision\":\"4\"}],\"more\":true,\"count\":\"9\"}";
    CHECK_EQ_INT(etcd__parse_reply(a, 200, r, strlen(r), &v, err, sizeof err), DS_OK);
    etcd__kv *kvs;
    size_t n;
    int more;
    int64_t rev;
    CHECK_EQ_INT(etcd__parse_range(a, v, "/p/", 3, &kvs, &n, &more, &rev), DS_OK);
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(more, 1);
    CHECK_EQ_INT(rev, 7);
    CHECK_EQ_INT(kvs[0].klen, 1);
    CHECK_EQ_MEM(kvs[0].key, "k", 1);
    CHECK_EQ_INT(kvs[0].vlen, 1);
    CHECK_EQ_INT(kvs[0].create_rev, 3);
    CHECK_EQ_INT(kvs[1].vlen, 0);
    /* a key outside the handle's prefix is corrupt */
    CHECK_EQ_INT(etcd__parse_range(a, v, "/q/", 3, &kvs, &n, &more, &rev), DS_ECORRUPT);

    etcd__watch_msg m;
    const char *w = "{\"result\":{\"header\":{\"revision\":\"9\"},\"events\":[{\"kv\":{\"key\":"
                    "\"L3Avaw==\",\"mod_revision\":\"8\",\"value\":\"dg==\"}},{\"type\":\"DELETE\","
                    "\"kv\":{\"key\":\"L3Avaw==\",\"mod_revision\":\"9\"}}]}}";
    CHECK_EQ_INT(etcd__parse_watch_msg(a, w, strlen(w), "/p/", 3, &m, err, sizeof err), DS_OK);
    CHECK_EQ_INT(m.nevents, 2);
    CHECK_EQ_INT(m.deletes[0], 0);
    CHECK_EQ_INT(m.deletes[1], 1);
    CHECK_EQ_INT(m.events[1].mod_rev, 9);
    const char *c = "{\"result\":{\"header\":{},\"canceled\":true,\"compact_revision\":\"9\"}}";
    CHECK_EQ_INT(etcd__parse_watch_msg(a, c, strlen(c), "/p/", 3, &m, err, sizeof err), DS_OK);
    CHECK_EQ_INT(m.canceled, 1);
    CHECK_EQ_INT(m.compact_revision, 9);
    const char *bt = "{\"result\":{\"events\":[{\"type\":\"TOUCH\",\"kv\":{\"key\":\"L3Avaw==\"}}]}}";
    CHECK_EQ_INT(etcd__parse_watch_msg(a, bt, strlen(bt), "/p/", 3, &m, err, sizeof err),
                 DS_EPARSE);
    const char *bb = "{\"result\":{\"events\":[{\"kv\":{\"key\":\"L3Avaw=\"}}]}}";
    CHECK(etcd__parse_watch_msg(a, bb, strlen(bb), "/p/", 3, &m, err, sizeof err) != DS_OK);
    ds_arena_free(a);
}

typedef struct lines {
    char got[8][32];
    int n;
} lines;

static int collect_line(const char *l, size_t n, void *ud) {
    lines *ls = ud;
    if (ls->n < 8) snprintf(ls->got[ls->n++], 32, "%.*s", (int)n, l);
    return 0;
}

TEST(framer_splits_across_chunks) {
    etcd__framer f = {DS_BUF_INIT, 16};
    lines ls = {.n = 0};
    CHECK_EQ_INT(etcd__framer_feed(&f, "ab", 2, collect_line, &ls), 0);
    CHECK_EQ_INT(etcd__framer_feed(&f, "c\n\nde\r\nf", 8, collect_line, &ls), 0);
    CHECK_EQ_INT(ls.n, 2);
    CHECK_EQ_STR(ls.got[0], "abc");
    CHECK_EQ_STR(ls.got[1], "de");
    CHECK_EQ_INT(etcd__framer_feed(&f, "\n", 1, collect_line, &ls), 0);
    CHECK_EQ_STR(ls.got[2], "f");
    CHECK_EQ_INT(etcd__framer_feed(&f, "0123456789abcdefg", 17, collect_line, &ls), DS_ETOOBIG);
    ds_buf_free(&f.buf);
}

/* ---- key/value ------------------------------------------------------------ */

TEST(put_get_delete) {
    fx f;
    fx_start(&f);
    ds_buf v = DS_BUF_INIT;
    int64_t r1 = 0, r2 = 0, mr = 0, n = -1;
    CHECK_EQ_INT(etcd_get(f.e, S("a"), &v, &mr), DS_ENOTFOUND);
    CHECK_EQ_INT(etcd_put(f.e, S("a"), S("one"), 0, &r1), DS_OK);
    CHECK(r1 > 0);
    CHECK_EQ_INT(etcd_get(f.e, S("a"), &v, &mr), DS_OK);
    CHECK_EQ_INT(mr, r1);
    CHECK_EQ_INT(v.len, 3);
    CHECK_EQ_STR(v.data, "one");
    CHECK_EQ_INT(etcd_put(f.e, S("a"), S(""), 0, &r2), DS_OK); /* empty: etcd omits "value" */
    CHECK_EQ_INT(r2, r1 + 1);
    CHECK_EQ_INT(etcd_get(f.e, S("a"), &v, &mr), DS_OK);
    CHECK_EQ_INT(v.len, 0);
    CHECK_EQ_INT(mr, r2);
    CHECK_EQ_INT(etcd_get(f.e, S("a"), NULL, NULL), DS_OK);
    /* the prefix is really there, and really stripped */
    char raw[4096];
    CHECK_EQ_INT(etcd_server_post(&f.srv, "/v3/kv/range", "{\"key\":\"L2RzdG9yZS9h\"}", raw,
                                  sizeof raw),
                 200); /* "/dstore/a" */
    CHECK(strstr(raw, "\"count\":\"1\""));
    CHECK_EQ_INT(etcd_delete(f.e, S("a"), 0, &n), DS_OK);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(etcd_delete(f.e, S("a"), 0, &n), DS_OK);
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(etcd_get(f.e, S("a"), &v, &mr), DS_ENOTFOUND);
    CHECK(strstr(etcd_errmsg(), "\"a\""));
    int64_t rev = 0;
    CHECK_EQ_INT(etcd_ping(f.e, &rev), DS_OK);
    CHECK(rev >= r2 + 1);
    ds_buf_free(&v);
    fx_end(&f);
}

TEST(binary_keys_and_values) {
    fx f;
    fx_start(&f);
    const char k1[] = {'b', 0, 'x', (char)0xff}, k2[] = {'b', 0, (char)0xff, (char)0xff};
    const char val[] = {0, 1, 0, (char)0xfe, 'z', 0};
    ds_buf v = DS_BUF_INIT;
    CHECK_EQ_INT(etcd_put(f.e, k1, sizeof k1, val, sizeof val, 0, NULL), DS_OK);
    CHECK_EQ_INT(etcd_put(f.e, k2, sizeof k2, val, 3, 0, NULL), DS_OK);
    CHECK_EQ_INT(etcd_put(f.e, S("b1"), S("other"), 0, NULL), DS_OK);
    CHECK_EQ_INT(etcd_get(f.e, k1, sizeof k1, &v, NULL), DS_OK);
    CHECK_EQ_INT(v.len, sizeof val);
    CHECK_EQ_MEM(v.data, val, sizeof val);
    CHECK_EQ_INT(etcd_get(f.e, k1, 2, &v, NULL), DS_ENOTFOUND); /* "b\0" is not "b\0x\xff" */
    /* a prefix with NUL and 0xff bytes: range_end math on binary */
    int64_t n = 0;
    CHECK_EQ_INT(etcd_delete(f.e, "b\0", 2, 1, &n), DS_OK);
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(etcd_get(f.e, S("b1"), &v, NULL), DS_OK);
    ds_buf_free(&v);
    fx_end(&f);
}

typedef struct seen {
    int n;
    int ordered;
    char last[64];
    size_t lastlen;
    int stop_at;
    int64_t max_mod;
} seen;

static int count_kv(const char *k, size_t kl, const char *v, size_t vl, int64_t mr, void *ud) {
    seen *s = ud;
    if (s->n && (kl < s->lastlen ? memcmp(k, s->last, kl) <= 0
                                 : memcmp(k, s->last, s->lastlen) < 0 ||
                                       (kl == s->lastlen && !memcmp(k, s->last, kl))))
        s->ordered = 0;
    if (kl < sizeof s->last) memcpy(s->last, k, kl), s->lastlen = kl;
    /* value is "v" + key */
    if (vl != kl + 1 || v[0] != 'v' || memcmp(v + 1, k, kl)) s->ordered = 0;
    if (mr > s->max_mod) s->max_mod = mr;
    s->n++;
    return s->stop_at && s->n == s->stop_at ? 42 : 0;
}

static void put_kv(etcd *e, const char *k) {
    char v[80];
    snprintf(v, sizeof v, "v%s", k);
    if (etcd_put(e, k, strlen(k), v, strlen(v), 0, NULL)) T_FAIL("put %s: %s", k, etcd_errmsg());
}

TEST(range_paginates_consistently) {
    fx f;
    fx_start(&f);
    char k[64];
    /* 1201 keys under r/ (more than etcd_range's page and more than 1000),
     * and neighbours that must not show up */
    for (int i = 0; i < 1201; i++) {
        snprintf(k, sizeof k, "r/%05d", i);
        put_kv(f.e, k);
    }
    put_kv(f.e, "r0");
    put_kv(f.e, "q/zzz");
    put_kv(f.e, "r");
    seen s = {.ordered = 1};
    int64_t rev = 0, now = 0;
    CHECK_EQ_INT(etcd_range(f.e, S("r/"), count_kv, &s, &rev), DS_OK);
    CHECK_EQ_INT(s.n, 1201);
    CHECK(s.ordered);
    CHECK_EQ_INT(etcd_ping(f.e, &now), DS_OK);
    CHECK_EQ_INT(rev, now);
    /* small pages: many round trips, same answer */
    etcd_set_page_size(f.e, 7);
    seen s2 = {.ordered = 1};
    CHECK_EQ_INT(etcd_range(f.e, S("r/"), count_kv, &s2, NULL), DS_OK);
    CHECK_EQ_INT(s2.n, 1201);
    CHECK(s2.ordered);
    /* the callback stops it */
    seen s3 = {.ordered = 1, .stop_at = 10};
    CHECK_EQ_INT(etcd_range(f.e, S("r/"), count_kv, &s3, NULL), 42);
    CHECK_EQ_INT(s3.n, 10);
    /* plen 0: everything under the handle's prefix */
    seen s4 = {.ordered = 1};
    CHECK_EQ_INT(etcd_range(f.e, "", 0, count_kv, &s4, NULL), DS_OK);
    CHECK_EQ_INT(s4.n, 1204);
    /* another handle prefix sees none of it */
    etcd *o;
    char err[100];
    CHECK_EQ_INT(etcd_open(f.srv.url, "/other/", &o, err, sizeof err), DS_OK);
    seen s5 = {.ordered = 1};
    CHECK_EQ_INT(etcd_range(o, "", 0, count_kv, &s5, NULL), DS_OK);
    CHECK_EQ_INT(s5.n, 0);
    etcd_close(o);
    /* the snapshot: pages 2.. are read at the first page's revision */
    etcd_set_page_size(f.e, 500);
    int64_t deleted = 0;
    CHECK_EQ_INT(etcd_delete(f.e, S("r/"), 1, &deleted), DS_OK);
    CHECK_EQ_INT(deleted, 1201);
    seen s6 = {.ordered = 1};
    CHECK_EQ_INT(etcd_range(f.e, S("r/"), count_kv, &s6, NULL), DS_OK);
    CHECK_EQ_INT(s6.n, 0);
    fx_end(&f);
}

/* ---- transactions ------------------------------------------------------------ */

TEST(txn_compare_and_swap) {
    fx f;
    fx_start(&f);
    ds_buf v = DS_BUF_INIT;
    int64_t rev = 0, rev2 = 0;
    /* create-if-absent: CREATE_REV == 0 */
    etcd_cmp absent = {.key = "leader", .klen = 6, .target = ETCD_CMP_CREATE_REV, .rev = 0};
    etcd_op claim[] = {{.key = "leader", .klen = 6, .val = "n1", .vlen = 2},
                       {.key = "epoch", .klen = 5, .val = "1", .vlen = 1}};
    CHECK_EQ_INT(etcd_txn(f.e, &absent, 1, claim, 2, &rev), DS_OK);
    CHECK_EQ_INT(get_rev(f.e, S("leader"), &v), rev);
    CHECK_EQ_INT(get_rev(f.e, S("epoch"), &v), rev); /* both in one revision */
    etcd_op claim2 = {.key = "leader", .klen = 6, .val = "n2", .vlen = 2};
    CHECK_EQ_INT(etcd_txn(f.e, &absent, 1, &claim2, 1, &rev2), DS_ECONDITION);
    CHECK_EQ_INT(rev2, rev); /* nothing written */
    CHECK_EQ_INT(etcd_get(f.e, S("leader"), &v, NULL), DS_OK);
    CHECK_EQ_STR(v.data, "n1");

    /* MOD_REV: succeeds at the current mod revision only */
    etcd_cmp at = {.key = "leader", .klen = 6, .target = ETCD_CMP_MOD_REV, .rev = rev};
    etcd_op bump[] = {{.key = "leader", .klen = 6, .val = "n2", .vlen = 2},
                      {.key = "epoch", .klen = 5, .is_delete = 1}};
    CHECK_EQ_INT(etcd_txn(f.e, &at, 1, bump, 2, &rev2), DS_OK);
    CHECK_EQ_INT(rev2, rev + 1);
    CHECK_EQ_INT(etcd_get(f.e, S("epoch"), &v, NULL), DS_ENOTFOUND);
    CHECK_EQ_INT(etcd_txn(f.e, &at, 1, bump, 1, NULL), DS_ECONDITION); /* stale rev */
    /* MOD_REV 0 and CREATE_REV 0 both mean absent */
    etcd_cmp gone = {.key = "epoch", .klen = 5, .target = ETCD_CMP_MOD_REV, .rev = 0};
    etcd_op e1 = {.key = "epoch", .klen = 5, .val = "2", .vlen = 1};
    CHECK_EQ_INT(etcd_txn(f.e, &gone, 1, &e1, 1, NULL), DS_OK);

    /* VALUE, with binary bytes; several compares must all hold */
    const char bin[] = {'x', 0, 'y'};
    CHECK_EQ_INT(etcd_put(f.e, S("isr"), bin, 3, 0, NULL), DS_OK);
    etcd_cmp both[] = {{.key = "isr", .klen = 3, .target = ETCD_CMP_VALUE, .value = bin, .vlen = 3},
                       {.key = "leader", .klen = 6, .target = ETCD_CMP_VALUE, .value = "n9",
                        .vlen = 2}};
    etcd_op set = {.key = "isr", .klen = 3, .val = "new", .vlen = 3};
    CHECK_EQ_INT(etcd_txn(f.e, both, 2, &set, 1, NULL), DS_ECONDITION);
    both[1].value = "n2";
    CHECK_EQ_INT(etcd_txn(f.e, both, 2, &set, 1, NULL), DS_OK);
    CHECK_EQ_INT(etcd_get(f.e, S("isr"), &v, NULL), DS_OK);
    CHECK_EQ_STR(v.data, "new");
    /* a VALUE compare against an absent key is false */
    etcd_cmp nokey = {.key = "nokey", .klen = 5, .target = ETCD_CMP_VALUE, .value = "", .vlen = 0};
    CHECK_EQ_INT(etcd_txn(f.e, &nokey, 1, &set, 1, NULL), DS_ECONDITION);
    /* no compares: always applies */
    CHECK_EQ_INT(etcd_txn(f.e, NULL, 0, &set, 1, NULL), DS_OK);
    ds_buf_free(&v);
    fx_end(&f);
}

/* ---- leases -------------------------------------------------------------------- */

TEST(lease_expires_and_keepalive) {
    fx f;
    fx_start(&f);
    int64_t l1, l2;
    int ttl = 0;
    CHECK_EQ_INT(etcd_lease_grant(f.e, 2, &l1), DS_OK);
    CHECK_EQ_INT(etcd_lease_grant(f.e, 2, &l2), DS_OK);
    CHECK(l1 != l2);
    CHECK_EQ_INT(etcd_put(f.e, S("n/1"), S("x"), l1, NULL), DS_OK);
    CHECK_EQ_INT(etcd_put(f.e, S("n/2"), S("x"), l2, NULL), DS_OK);
    /* keep l2 alive by hand for 4 s; l1 expires */
    for (int i = 0; i < 8; i++) {
        sleep_ms(500);
        CHECK_EQ_INT(etcd_lease_keepalive(f.e, l2, &ttl), DS_OK);
        CHECK(ttl >= 1 && ttl <= 2);
    }
    CHECK_EQ_INT(etcd_get(f.e, S("n/1"), NULL, NULL), DS_ENOTFOUND);
    CHECK_EQ_INT(etcd_get(f.e, S("n/2"), NULL, NULL), DS_OK);
    CHECK_EQ_INT(etcd_lease_keepalive(f.e, l1, &ttl), DS_ENOTFOUND);
    /* a put on an expired lease fails */
    CHECK_EQ_INT(etcd_put(f.e, S("n/3"), S("x"), l1, NULL), DS_ENOTFOUND);
    /* revoke deletes the lease's keys at once */
    CHECK_EQ_INT(etcd_lease_revoke(f.e, l2), DS_OK);
    CHECK_EQ_INT(etcd_get(f.e, S("n/2"), NULL, NULL), DS_ENOTFOUND);
    CHECK_EQ_INT(etcd_lease_revoke(f.e, l2), DS_ENOTFOUND);
    CHECK_EQ_INT(etcd_lease_grant(f.e, 0, &l1), DS_EINVAL);
    fx_end(&f);
}

static atomic_int lost_calls;
static void on_lost(void *ud) {
    (void)ud;
    atomic_fetch_add(&lost_calls, 1);
}

TEST(keeper_keeps_alive_and_revokes) {
    fx f;
    fx_start(&f);
    etcd_keeper *k;
    int64_t lease;
    CHECK_EQ_INT(etcd_keeper_start(f.e, 2, on_lost, NULL, &k, &lease), DS_OK);
    CHECK_EQ_INT(etcd_put(f.e, S("node/x/details"), S("{}"), lease, NULL), DS_OK);
    sleep_ms(6500); /* > 3 x TTL */
    CHECK_EQ_INT(etcd_get(f.e, S("node/x/details"), NULL, NULL), DS_OK);
    CHECK_EQ_INT(atomic_load(&lost_calls), 0);
    uint64_t t0 = ds_now_ms();
    etcd_keeper_stop(k, 1);
    CHECK(ds_now_ms() - t0 < 1500); /* wakes the thread, no waiting out a sleep */
    CHECK_EQ_INT(etcd_get(f.e, S("node/x/details"), NULL, NULL), DS_ENOTFOUND);
    /* stop without revoke: the lease lives on until its TTL */
    CHECK_EQ_INT(etcd_keeper_start(f.e, 2, on_lost, NULL, &k, &lease), DS_OK);
    CHECK_EQ_INT(etcd_put(f.e, S("node/y"), S("{}"), lease, NULL), DS_OK);
    etcd_keeper_stop(k, 0);
    CHECK_EQ_INT(etcd_get(f.e, S("node/y"), NULL, NULL), DS_OK);
    CHECK_EQ_INT(atomic_load(&lost_calls), 0);
    fx_end(&f);
}

TEST(keeper_reports_loss_when_etcd_is_gone) {
    fx f;
    fx_start(&f);
    etcd_keeper *k;
    int64_t lease;
    CHECK_EQ_INT(etcd_keeper_start(f.e, 2, on_lost, NULL, &k, &lease), DS_OK);
    sleep_ms(1000);
    etcd_server_stop(&f.srv);
    uint64_t t0 = ds_now_ms();
    while (atomic_load(&lost_calls) == 0 && ds_now_ms() - t0 < 6000) sleep_ms(50);
    CHECK_EQ_INT(atomic_load(&lost_calls), 1);
    CHECK(ds_now_ms() - t0 <= 2500); /* within the TTL it last had */
    sleep_ms(300);
    CHECK_EQ_INT(atomic_load(&lost_calls), 1); /* once */
    etcd_keeper_stop(k, 0);
    fx_end(&f);
}

/* ---- watch --------------------------------------------------------------------- */

typedef struct ev {
    etcd_ev type;
    char key[48];
    char val[48];
    int64_t rev;
} ev;

typedef struct evlog {
    pthread_mutex_t mu;
    ev evs[256];
    int n;
} evlog;

#define EVLOG_INIT {PTHREAD_MUTEX_INITIALIZER, {{0}}, 0}

static void on_event(etcd_ev type, const char *k, size_t kl, const char *v, size_t vl,
                     int64_t rev, void *ud) {
    evlog *l = ud;
    pthread_mutex_lock(&l->mu);
    if (l->n < 256) {
        ev *e = &l->evs[l->n++];
        e->type = type;
        snprintf(e->key, sizeof e->key, "%.*s", (int)kl, k ? k : "");
        snprintf(e->val, sizeof e->val, "%.*s", (int)vl, v ? v : "");
        e->rev = rev;
    }
    pthread_mutex_unlock(&l->mu);
}

static int evlog_wait(evlog *l, int n, int ms) {
    uint64_t until = ds_now_ms() + (uint64_t)ms;
    for (;;) {
        pthread_mutex_lock(&l->mu);
        int got = l->n;
        pthread_mutex_unlock(&l->mu);
        if (got >= n || ds_now_ms() > until) return got;
        sleep_ms(10);
    }
}

TEST(watch_sees_puts_and_deletes_in_order) {
    fx f;
    fx_start(&f);
    evlog l = EVLOG_INIT;
    int64_t r0 = 0, r1, r2, r3, r4;
    CHECK_EQ_INT(etcd_put(f.e, S("w/before"), S("old"), 0, &r0), DS_OK);
    etcd_watch *w;
    CHECK_EQ_INT(etcd_watch_start(f.e, S("w/"), 0, on_event, &l, &w), DS_OK);
    CHECK_EQ_INT(etcd_put(f.e, S("w/a"), S("1"), 0, &r1), DS_OK);
    CHECK_EQ_INT(etcd_put(f.e, S("elsewhere"), S("1"), 0, NULL), DS_OK);
    CHECK_EQ_INT(etcd_put(f.e, S("w/b"), S(""), 0, &r2), DS_OK);
    CHECK_EQ_INT(etcd_delete(f.e, S("w/a"), 0, NULL), DS_OK);
    etcd_op two[] = {{.key = "w/c", .klen = 3, .val = "3", .vlen = 1},
                     {.key = "w/b", .klen = 3, .is_delete = 1}};
    CHECK_EQ_INT(etcd_txn(f.e, NULL, 0, two, 2, &r4), DS_OK);
    r3 = r4 - 1;
    CHECK_EQ_INT(evlog_wait(&l, 5, 5000), 5);
    sleep_ms(200);
    CHECK_EQ_INT(l.n, 5); /* nothing from before the watch, nothing outside w/ */
    CHECK(l.evs[0].type == ETCD_EV_PUT);
    CHECK_EQ_STR(l.evs[0].key, "w/a");
    CHECK_EQ_STR(l.evs[0].val, "1");
    CHECK_EQ_INT(l.evs[0].rev, r1);
    CHECK_EQ_STR(l.evs[1].key, "w/b");
    CHECK_EQ_STR(l.evs[1].val, "");
    CHECK_EQ_INT(l.evs[1].rev, r2);
    CHECK(l.evs[2].type == ETCD_EV_DELETE);
    CHECK_EQ_STR(l.evs[2].key, "w/a");
    CHECK_EQ_INT(l.evs[2].rev, r3);
    CHECK(l.evs[3].type == ETCD_EV_PUT && l.evs[3].rev == r4);
    CHECK(l.evs[4].type == ETCD_EV_DELETE && l.evs[4].rev == r4);
    uint64_t t0 = ds_now_ms();
    etcd_watch_stop(w);
    CHECK(ds_now_ms() - t0 < 1000);

    /* from a past revision: the history replays */
    evlog h = EVLOG_INIT;
    CHECK_EQ_INT(etcd_watch_start(f.e, S("w/"), r0, on_event, &h, &w), DS_OK);
    CHECK_EQ_INT(evlog_wait(&h, 6, 5000), 6);
    CHECK_EQ_STR(h.evs[0].key, "w/before");
    CHECK_EQ_INT(h.evs[0].rev, r0);
    CHECK_EQ_INT(h.evs[5].rev, r4);
    etcd_watch_stop(w);
    fx_end(&f);
}

TEST(watch_resumes_after_etcd_restart) {
    fx f;
    fx_start(&f);
    evlog l = EVLOG_INIT;
    etcd_watch *w;
    int64_t revs[6];
    CHECK_EQ_INT(etcd_watch_start(f.e, S("svc/"), 0, on_event, &l, &w), DS_OK);
    CHECK_EQ_INT(etcd_put(f.e, S("svc/1"), S("a"), 0, &revs[0]), DS_OK);
    CHECK_EQ_INT(etcd_put(f.e, S("svc/2"), S("b"), 0, &revs[1]), DS_OK);
    CHECK_EQ_INT(evlog_wait(&l, 2, 5000), 2);
    etcd_server_stop(&f.srv);
    sleep_ms(500); /* the watcher notices and backs off */
    CHECK_EQ_INT(etcd_put(f.e, S("svc/x"), S("x"), 0, NULL), DS_EIO); /* nobody there */
    CHECK(etcd_errmsg()[0] != 0);
    if (etcd_server_restart(&f.srv)) T_FAIL("etcd did not restart");
    /* written at once, probably before the watcher is back: it must resume
     * from its last revision, not from "now" */
    for (int i = 2; i < 6; i++) {
        char k[16];
        snprintf(k, sizeof k, "svc/%d", i + 1);
        CHECK_EQ_INT(etcd_put(f.e, k, strlen(k), "v", 1, 0, &revs[i]), DS_OK);
    }
    CHECK_EQ_INT(evlog_wait(&l, 6, 10000), 6);
    sleep_ms(200);
    CHECK_EQ_INT(l.n, 6);
    for (int i = 0; i < 6; i++) {
        char k[16];
        snprintf(k, sizeof k, "svc/%d", i + 1);
        CHECK_EQ_STR(l.evs[i].key, k);
        CHECK_EQ_INT(l.evs[i].rev, revs[i]);
    }
    etcd_watch_stop(w);
    fx_end(&f);
}

TEST(watch_resyncs_after_compaction) {
    fx f;
    fx_start(&f);
    int64_t r1, r;
    CHECK_EQ_INT(etcd_put(f.e, S("m/k"), S("1"), 0, &r1), DS_OK);
    for (int i = 0; i < 5; i++) CHECK_EQ_INT(etcd_put(f.e, S("m/k"), S("2"), 0, &r), DS_OK);
    char body[100], out[2048];
    snprintf(body, sizeof body, "{\"revision\":\"%lld\",\"physical\":true}", (long long)r);
    CHECK_EQ_INT(etcd_server_post(&f.srv, "/v3/kv/compaction", body, out, sizeof out), 200);
    evlog l = EVLOG_INIT;
    etcd_watch *w;
    CHECK_EQ_INT(etcd_watch_start(f.e, S("m/"), r1, on_event, &l, &w), DS_OK);
    CHECK_EQ_INT(evlog_wait(&l, 1, 5000), 1);
    CHECK(l.evs[0].type == ETCD_EV_RESYNC);
    CHECK(l.evs[0].rev >= r);
    int64_t r2;
    CHECK_EQ_INT(etcd_put(f.e, S("m/k"), S("3"), 0, &r2), DS_OK);
    CHECK_EQ_INT(evlog_wait(&l, 2, 5000), 2);
    CHECK(l.evs[1].type == ETCD_EV_PUT && l.evs[1].rev == r2);
    etcd_watch_stop(w);
    fx_end(&f);
}

static etcd_watch *self_w;
static atomic_int self_calls;
static void stop_self(etcd_ev type, const char *k, size_t kl, const char *v, size_t vl,
                      int64_t rev, void *ud) {
    (void)type, (void)k, (void)kl, (void)v, (void)vl, (void)rev, (void)ud;
    atomic_fetch_add(&self_calls, 1);
    etcd_watch_stop(self_w);
}

TEST(watch_stop_from_callback) {
    fx f;
    fx_start(&f);
    CHECK_EQ_INT(etcd_watch_start(f.e, S("s/"), 0, stop_self, NULL, &self_w), DS_OK);
    etcd_op two[] = {{.key = "s/1", .klen = 3, .val = "1", .vlen = 1},
                     {.key = "s/2", .klen = 3, .val = "2", .vlen = 1}};
    CHECK_EQ_INT(etcd_txn(f.e, NULL, 0, two, 2, NULL), DS_OK);
    sleep_ms(500);
    CHECK_EQ_INT(atomic_load(&self_calls), 1);
    fx_end(&f);
}

/* ---- endpoints, timeouts, threads ------------------------------------------------ */

TEST(failover_to_next_endpoint) {
    fx f;
    fx_start(&f);
    char eps[200], err[100];
    snprintf(eps, sizeof eps, "http://127.0.0.1:%d,%s", etcd_server_free_port(), f.srv.url);
    etcd *e;
    CHECK_EQ_INT(etcd_open(eps, "/dstore/", &e, err, sizeof err), DS_OK);
    int64_t rev, mr;
    CHECK_EQ_INT(etcd_put(e, S("k"), S("v"), 0, &rev), DS_OK); /* refused: safe to move on */
    CHECK_EQ_INT(etcd_get(e, S("k"), NULL, &mr), DS_OK);
    CHECK_EQ_INT(mr, rev);
    etcd_cmp c = {.key = "k", .klen = 1, .target = ETCD_CMP_MOD_REV, .rev = rev};
    etcd_op o = {.key = "k", .klen = 1, .val = "w", .vlen = 1};
    CHECK_EQ_INT(etcd_txn(e, &c, 1, &o, 1, NULL), DS_OK);
    evlog l = EVLOG_INIT;
    etcd_watch *w;
    CHECK_EQ_INT(etcd_watch_start(e, S("k"), 0, on_event, &l, &w), DS_OK);
    CHECK_EQ_INT(etcd_delete(e, S("k"), 0, NULL), DS_OK);
    CHECK_EQ_INT(evlog_wait(&l, 1, 5000), 1);
    etcd_watch_stop(w);
    etcd_close(e);
    /* every endpoint dead: a clear error, quickly */
    snprintf(eps, sizeof eps, "http://127.0.0.1:%d,http://127.0.0.1:%d", etcd_server_free_port(),
             etcd_server_free_port());
    CHECK_EQ_INT(etcd_open(eps, "/dstore/", &e, err, sizeof err), DS_OK);
    uint64_t t0 = ds_now_ms();
    CHECK_EQ_INT(etcd_get(e, S("k"), NULL, NULL), DS_EIO);
    CHECK(strstr(etcd_errmsg(), "127.0.0.1"));
    CHECK_EQ_INT(etcd_watch_start(e, S("k"), 0, on_event, &l, &w), DS_EIO);
    CHECK(ds_now_ms() - t0 < 3000);
    etcd_close(e);
    fx_end(&f);
}

/* a listener that accepts connections and never answers */
static int black_hole(int *port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 16) ||
        getsockname(fd, (struct sockaddr *)&a, &len))
        T_FAIL("black hole: %s", strerror(errno));
    *port = ntohs(a.sin_port);
    return fd;
}

TEST(timeouts_and_unknown_outcomes) {
    fx f;
    fx_start(&f);
    int port, fd = black_hole(&port);
    char eps[200], err[100];
    snprintf(eps, sizeof eps, "http://127.0.0.1:%d,%s", port, f.srv.url);
    etcd *e;
    CHECK_EQ_INT(etcd_open(eps, "/dstore/", &e, err, sizeof err), DS_OK);
    etcd_set_timeout(e, 300);
    /* a write that was sent and not answered is never sent again elsewhere */
    CHECK_EQ_INT(etcd_put(e, S("t"), S("v"), 0, NULL), DS_ETIMEDOUT);
    CHECK(strstr(etcd_errmsg(), "outcome unknown"));
    CHECK_EQ_INT(etcd_get(f.e, S("t"), NULL, NULL), DS_ENOTFOUND);
    /* a read moves on to the next endpoint, which then stays preferred */
    CHECK_EQ_INT(etcd_get(e, S("t"), NULL, NULL), DS_ENOTFOUND);
    CHECK_EQ_INT(etcd_put(e, S("t"), S("v"), 0, NULL), DS_OK);
    etcd_close(e);
    close(fd);
    fx_end(&f);
}

typedef struct worker {
    etcd *e;
    int id;
    int errors;
} worker;

static void *work(void *arg) {
    worker *w = arg;
    ds_buf v = DS_BUF_INIT;
    for (int i = 0; i < 100; i++) {
        char k[32], val[32];
        snprintf(k, sizeof k, "c/%d/%d", w->id, i);
        snprintf(val, sizeof val, "%d-%d", w->id, i);
        if (etcd_put(w->e, k, strlen(k), val, strlen(val), 0, NULL)) w->errors++;
        if (etcd_get(w->e, k, strlen(k), &v, NULL) || strcmp(v.data, val)) w->errors++;
    }
    ds_buf_free(&v);
    return NULL;
}

TEST(one_handle_many_threads) {
    fx f;
    fx_start(&f);
    pthread_t th[8];
    worker ws[8];
    for (int i = 0; i < 8; i++) {
        ws[i] = (worker){f.e, i, 0};
        pthread_create(&th[i], NULL, work, &ws[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ_INT(ws[i].errors, 0);
    }
    seen s = {.ordered = 1};
    CHECK_EQ_INT(etcd_range(f.e, S("c/"), NULL, &s, NULL), DS_OK);
    int64_t n = 0;
    CHECK_EQ_INT(etcd_delete(f.e, S("c/"), 1, &n), DS_OK);
    CHECK_EQ_INT(n, 800);
    fx_end(&f);
}

TEST_MAIN()

/* rangemap.c -- the watched copy of the range map and the node list (see
 * rangemap.h for the records). */
#include "cluster/rangemap.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/json.h"

struct rangemap {
    etcd *e;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    range_rec *r; /* sorted by (table_id, low) */
    size_t nr, cap;
    node_rec *n;  /* sorted by uuid */
    size_t nn, ncap;
    uint64_t version;
    void (*on_change)(void *ud);
    void *on_change_ud;
    etcd_watch *wr, *wn;
};

/* ---- records ------------------------------------------------------------ */

static int copy_str(char *dst, size_t cap, const json_value *v) {
    if (!v || v->type != JSON_STRING || v->u.str.len >= cap) return -1;
    memcpy(dst, v->u.str.s, v->u.str.len + 1);
    return 0;
}

static int get_u64(const json_value *o, const char *name, uint64_t *out) {
    const json_value *v = json_get(o, name);
    if (!v || v->type != JSON_NUMBER || v->u.str.s[0] == '-') return -1;
    char *end;
    unsigned long long x = strtoull(v->u.str.s, &end, 10);
    if (end != v->u.str.s + v->u.str.len) return -1;
    *out = x;
    return 0;
}

static int get_list(const json_value *o, const char *name, char list[][RANGE_UUID_LEN], int *n) {
    const json_value *v = json_get(o, name);
    *n = 0;
    if (!v) return 0;
    if (v->type != JSON_ARRAY || v->u.arr.n > RANGE_MAX_REPLICAS) return -1;
    for (size_t i = 0; i < v->u.arr.n; i++)
        if (copy_str(list[(*n)++], RANGE_UUID_LEN, v->u.arr.items[i])) return -1;
    return 0;
}

/* "tenant/{tenant}/{table}/{low}" -> names and low. */
static int parse_key(const char *key, size_t klen, range_rec *out) {
    if (klen < 7 || memcmp(key, "tenant/", 7)) return -1;
    const char *p = key + 7, *end = key + klen;
    const char *s1 = memchr(p, '/', (size_t)(end - p));
    if (!s1 || (size_t)(s1 - p) >= sizeof out->tenant) return -1;
    const char *s2 = memchr(s1 + 1, '/', (size_t)(end - s1 - 1));
    if (!s2 || (size_t)(s2 - s1 - 1) >= sizeof out->table) return -1;
    memcpy(out->tenant, p, (size_t)(s1 - p));
    out->tenant[s1 - p] = 0;
    memcpy(out->table, s1 + 1, (size_t)(s2 - s1 - 1));
    out->table[s2 - s1 - 1] = 0;
    char low[16];
    size_t ll = (size_t)(end - s2 - 1);
    if (ll == 0 || ll >= sizeof low) return -1;
    memcpy(low, s2 + 1, ll);
    low[ll] = 0;
    char *e;
    unsigned long long v = strtoull(low, &e, 10);
    if (*e || v > UINT32_MAX) return -1;
    out->low = (uint32_t)v;
    return 0;
}

int range_rec_parse(const char *key, size_t klen, const char *val, size_t vlen, range_rec *out) {
    memset(out, 0, sizeof *out);
    if (parse_key(key, klen, out)) return DS_EPARSE;
    ds_arena *a = ds_arena_new(4096);
    json_value *o;
    char err[128];
    int rc = DS_EPARSE;
    uint64_t low, high, epoch = 0;
    if (json_parse(a, val, vlen, 8, &o, err, sizeof err) || o->type != JSON_OBJECT) goto out;
    if (get_u64(o, "table", &out->table_id) || get_u64(o, "lowHash", &low) ||
        get_u64(o, "highHash", &high) || low != out->low || high > UINT32_MAX || high < low)
        goto out;
    if (json_get(o, "epoch") && get_u64(o, "epoch", &epoch)) goto out;
    out->high = (uint32_t)high;
    out->epoch = epoch;
    if (json_get(o, "node") && copy_str(out->leader, sizeof out->leader, json_get(o, "node")))
        goto out;
    if (json_get(o, "uri") && copy_str(out->uri, sizeof out->uri, json_get(o, "uri"))) goto out;
    if (get_list(o, "replicas", out->replicas, &out->nreplicas) ||
        get_list(o, "inSync", out->insync, &out->ninsync))
        goto out;
    rc = DS_OK;
out:
    ds_arena_free(a);
    return rc;
}

void range_rec_key(const range_rec *r, ds_buf *out) {
    ds_buf_printf(out, "tenant/%s/%s/%u", r->tenant, r->table, r->low);
}

static void put_list(ds_buf *b, const char *name, const char list[][RANGE_UUID_LEN], int n) {
    ds_buf_printf(b, ",\"%s\":[", name);
    for (int i = 0; i < n; i++) {
        if (i) ds_buf_putc(b, ',');
        json_write_string(b, list[i], strlen(list[i]));
    }
    ds_buf_putc(b, ']');
}

void range_rec_value(const range_rec *r, ds_buf *out) {
    ds_buf_printf(out, "{\"table\":%llu,\"lowHash\":%u,\"highHash\":%u,\"node\":",
                  (unsigned long long)r->table_id, r->low, r->high);
    json_write_string(out, r->leader, strlen(r->leader));
    ds_buf_puts(out, ",\"uri\":");
    json_write_string(out, r->uri, strlen(r->uri));
    put_list(out, "replicas", r->replicas, r->nreplicas);
    put_list(out, "inSync", r->insync, r->ninsync);
    ds_buf_printf(out, ",\"epoch\":%llu}", (unsigned long long)r->epoch);
}

int range_has(const char list[][RANGE_UUID_LEN], int n, const char *uuid) {
    for (int i = 0; i < n; i++)
        if (!strcmp(list[i], uuid)) return 1;
    return 0;
}

void range_add(char list[][RANGE_UUID_LEN], int *n, const char *uuid) {
    if (range_has((const char(*)[RANGE_UUID_LEN])list, *n, uuid) || *n >= RANGE_MAX_REPLICAS)
        return;
    snprintf(list[(*n)++], RANGE_UUID_LEN, "%s", uuid);
}

void range_remove(char list[][RANGE_UUID_LEN], int *n, const char *uuid) {
    for (int i = 0; i < *n; i++)
        if (!strcmp(list[i], uuid)) {
            memmove(list[i], list[i + 1], (size_t)(*n - i - 1) * RANGE_UUID_LEN);
            (*n)--;
            return;
        }
}

int rangemap_cas(etcd *e, const range_rec *old, const range_rec *nw) {
    ds_buf k = DS_BUF_INIT, v = DS_BUF_INIT;
    range_rec_key(nw, &k);
    range_rec_value(nw, &v);
    etcd_cmp c = {k.data, k.len, old ? ETCD_CMP_MOD_REV : ETCD_CMP_CREATE_REV,
                  old ? old->mod_rev : 0, NULL, 0};
    etcd_op op = {k.data, k.len, v.data, v.len, 0, 0};
    int rc = etcd_txn(e, &c, 1, &op, 1, NULL);
    ds_buf_free(&k);
    ds_buf_free(&v);
    return rc;
}

int rangemap_split(etcd *e, const range_rec *parent, uint32_t mid, range_rec *left,
                   range_rec *right) {
    if (mid <= parent->low || mid > parent->high) return DS_EINVAL;
    *left = *parent;
    *right = *parent;
    left->high = mid - 1;
    right->low = mid;
    left->epoch = right->epoch = parent->epoch + 1;
    ds_buf lk = DS_BUF_INIT, lv = DS_BUF_INIT, rk = DS_BUF_INIT, rv = DS_BUF_INIT;
    range_rec_key(left, &lk);
    range_rec_value(left, &lv);
    range_rec_key(right, &rk);
    range_rec_value(right, &rv);
    etcd_cmp c[2] = {{lk.data, lk.len, ETCD_CMP_MOD_REV, parent->mod_rev, NULL, 0},
                     {rk.data, rk.len, ETCD_CMP_CREATE_REV, 0, NULL, 0}};
    etcd_op op[2] = {{lk.data, lk.len, lv.data, lv.len, 0, 0},
                     {rk.data, rk.len, rv.data, rv.len, 0, 0}};
    int rc = etcd_txn(e, c, 2, op, 2, NULL);
    ds_buf_free(&lk), ds_buf_free(&lv), ds_buf_free(&rk), ds_buf_free(&rv);
    return rc;
}

/* ---- the map ------------------------------------------------------------ */

static int cmp_range(const range_rec *a, uint64_t table, uint32_t low) {
    if (a->table_id != table) return a->table_id < table ? -1 : 1;
    return a->low < low ? -1 : a->low > low ? 1 : 0;
}

/* Removes the entry named by key's tenant/table/low (locked). */
static void drop_range(rangemap *m, const range_rec *k) {
    for (size_t i = 0; i < m->nr; i++)
        if (m->r[i].low == k->low && !strcmp(m->r[i].table, k->table) &&
            !strcmp(m->r[i].tenant, k->tenant)) {
            memmove(&m->r[i], &m->r[i + 1], (m->nr - i - 1) * sizeof *m->r);
            m->nr--;
            return;
        }
}

static void put_range(rangemap *m, const range_rec *r) {
    drop_range(m, r);
    size_t i = 0;
    while (i < m->nr && cmp_range(&m->r[i], r->table_id, r->low) < 0) i++;
    if (m->nr == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 64;
        m->r = ds_realloc(m->r, m->cap * sizeof *m->r);
    }
    memmove(&m->r[i + 1], &m->r[i], (m->nr - i) * sizeof *m->r);
    m->r[i] = *r;
    m->nr++;
}

static node_rec *node_slot(rangemap *m, const char *uuid, size_t ulen, int create) {
    size_t i = 0;
    for (; i < m->nn; i++) {
        int c = strncmp(m->n[i].uuid, uuid, ulen);
        if (c == 0 && m->n[i].uuid[ulen] == 0) return &m->n[i];
        if (c > 0) break;
    }
    if (!create || ulen >= RANGE_UUID_LEN) return NULL;
    if (m->nn == m->ncap) {
        m->ncap = m->ncap ? m->ncap * 2 : 16;
        m->n = ds_realloc(m->n, m->ncap * sizeof *m->n);
    }
    memmove(&m->n[i + 1], &m->n[i], (m->nn - i) * sizeof *m->n);
    memset(&m->n[i], 0, sizeof *m->n);
    memcpy(m->n[i].uuid, uuid, ulen);
    m->nn++;
    return &m->n[i];
}

static void gc_node(rangemap *m, node_rec *n) {
    if (n->alive || n->drain) return;
    size_t i = (size_t)(n - m->n);
    memmove(&m->n[i], &m->n[i + 1], (m->nn - i - 1) * sizeof *m->n);
    m->nn--;
}

/* node/{uuid}/details or node/{uuid}/drain (others ignored). Locked. */
static void apply_node(rangemap *m, const char *key, size_t klen, const char *val, size_t vlen,
                       int is_delete) {
    if (klen < 6 || memcmp(key, "node/", 5)) return;
    const char *u = key + 5, *end = key + klen;
    const char *slash = memchr(u, '/', (size_t)(end - u));
    if (!slash) return;
    size_t ul = (size_t)(slash - u), rl = (size_t)(end - slash - 1);
    int details = rl == 7 && !memcmp(slash + 1, "details", 7);
    int drain = rl == 5 && !memcmp(slash + 1, "drain", 5);
    if (!details && !drain) return;
    node_rec *n = node_slot(m, u, ul, !is_delete);
    if (!n) return;
    if (drain) n->drain = !is_delete;
    else if (is_delete) n->alive = 0;
    else {
        n->alive = 1;
        ds_arena *a = ds_arena_new(1024);
        json_value *o;
        char err[64];
        if (!json_parse(a, val, vlen, 4, &o, err, sizeof err) && o->type == JSON_OBJECT) {
            copy_str(n->uri, sizeof n->uri, json_get(o, "uri"));
            copy_str(n->status, sizeof n->status, json_get(o, "status"));
        }
        ds_arena_free(a);
    }
    gc_node(m, n);
}

static void apply_range(rangemap *m, const char *key, size_t klen, const char *val, size_t vlen,
                        int64_t mod_rev, int is_delete) {
    range_rec r;
    if (is_delete) {
        memset(&r, 0, sizeof r);
        if (!parse_key(key, klen, &r)) drop_range(m, &r);
        return;
    }
    if (range_rec_parse(key, klen, val, vlen, &r)) {
        ds_warn("rangemap: ignoring a malformed range record %.*s", (int)klen, key);
        return;
    }
    r.mod_rev = mod_rev;
    put_range(m, &r);
}

static void changed(rangemap *m) {
    m->version++;
    pthread_cond_broadcast(&m->cv);
}

static int load_range_fn(const char *key, size_t klen, const char *val, size_t vlen,
                         int64_t mod_rev, void *ud) {
    apply_range(ud, key, klen, val, vlen, mod_rev, 0);
    return 0;
}

static int load_node_fn(const char *key, size_t klen, const char *val, size_t vlen,
                        int64_t mod_rev, void *ud) {
    (void)mod_rev;
    apply_node(ud, key, klen, val, vlen, 0);
    return 0;
}

static void notify(rangemap *m) {
    if (m->on_change) m->on_change(m->on_change_ud);
}

static void watch_fn(etcd_ev ev, const char *key, size_t klen, const char *val, size_t vlen,
                     int64_t mod_rev, void *ud, int is_node) {
    rangemap *m = ud;
    pthread_mutex_lock(&m->mu);
    if (ev == ETCD_EV_RESYNC) {
        if (is_node) {
            m->nn = 0;
            etcd_range(m->e, "node/", 5, load_node_fn, m, NULL);
        } else {
            m->nr = 0;
            etcd_range(m->e, "tenant/", 7, load_range_fn, m, NULL);
        }
    } else if (is_node)
        apply_node(m, key, klen, val, vlen, ev == ETCD_EV_DELETE);
    else
        apply_range(m, key, klen, val, vlen, mod_rev, ev == ETCD_EV_DELETE);
    changed(m);
    pthread_mutex_unlock(&m->mu);
    notify(m);
}

static void watch_ranges(etcd_ev ev, const char *key, size_t klen, const char *val, size_t vlen,
                         int64_t mod_rev, void *ud) {
    watch_fn(ev, key, klen, val, vlen, mod_rev, ud, 0);
}

static void watch_nodes(etcd_ev ev, const char *key, size_t klen, const char *val, size_t vlen,
                        int64_t mod_rev, void *ud) {
    watch_fn(ev, key, klen, val, vlen, mod_rev, ud, 1);
}

int rangemap_open(etcd *e, rangemap **out, char *err, size_t errlen) {
    rangemap *m = ds_calloc(1, sizeof *m);
    m->e = e;
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cv, NULL);
    int64_t rev_r = 0, rev_n = 0;
    int rc = etcd_range(e, "tenant/", 7, load_range_fn, m, &rev_r);
    if (!rc) rc = etcd_range(e, "node/", 5, load_node_fn, m, &rev_n);
    if (!rc) rc = etcd_watch_start(e, "tenant/", 7, rev_r + 1, watch_ranges, m, &m->wr);
    if (!rc) rc = etcd_watch_start(e, "node/", 5, rev_n + 1, watch_nodes, m, &m->wn);
    if (rc) {
        snprintf(err, errlen, "cannot read the range map from etcd: %s", ds_strerror(rc));
        rangemap_close(m);
        return rc;
    }
    *out = m;
    return DS_OK;
}

void rangemap_close(rangemap *m) {
    if (!m) return;
    if (m->wr) etcd_watch_stop(m->wr);
    if (m->wn) etcd_watch_stop(m->wn);
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cv);
    ds_free(m->r);
    ds_free(m->n);
    ds_free(m);
}

int rangemap_find(rangemap *m, uint64_t table_id, uint32_t hash, range_rec *out) {
    int rc = DS_ENOTFOUND;
    pthread_mutex_lock(&m->mu);
    size_t lo = 0, hi = m->nr; /* first entry > (table_id, hash) */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cmp_range(&m->r[mid], table_id, hash) <= 0) lo = mid + 1;
        else hi = mid;
    }
    if (lo > 0) {
        const range_rec *r = &m->r[lo - 1];
        if (r->table_id == table_id && hash >= r->low && hash <= r->high) *out = *r, rc = DS_OK;
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

size_t rangemap_ranges(rangemap *m, uint64_t table_id, range_rec **out) {
    pthread_mutex_lock(&m->mu);
    range_rec *v = ds_malloc((m->nr ? m->nr : 1) * sizeof *v);
    size_t n = 0;
    for (size_t i = 0; i < m->nr; i++)
        if (!table_id || m->r[i].table_id == table_id) v[n++] = m->r[i];
    pthread_mutex_unlock(&m->mu);
    *out = v;
    return n;
}

int rangemap_node(rangemap *m, const char *uuid, node_rec *out) {
    pthread_mutex_lock(&m->mu);
    node_rec *n = node_slot(m, uuid, strlen(uuid), 0);
    if (n) *out = *n;
    pthread_mutex_unlock(&m->mu);
    return n ? DS_OK : DS_ENOTFOUND;
}

size_t rangemap_nodes(rangemap *m, node_rec **out) {
    pthread_mutex_lock(&m->mu);
    node_rec *v = ds_malloc((m->nn ? m->nn : 1) * sizeof *v);
    if (m->nn) memcpy(v, m->n, m->nn * sizeof *v);
    size_t n = m->nn;
    pthread_mutex_unlock(&m->mu);
    *out = v;
    return n;
}

uint64_t rangemap_version(rangemap *m) {
    pthread_mutex_lock(&m->mu);
    uint64_t v = m->version;
    pthread_mutex_unlock(&m->mu);
    return v;
}

void rangemap_wait(rangemap *m, uint64_t seen, int timeout_ms) {
    struct timespec ts;
    ds_deadline(&ts, CLOCK_REALTIME, timeout_ms);
    pthread_mutex_lock(&m->mu);
    while (m->version == seen)
        if (pthread_cond_timedwait(&m->cv, &m->mu, &ts)) break;
    pthread_mutex_unlock(&m->mu);
}

void rangemap_on_change(rangemap *m, void (*fn)(void *ud), void *ud) {
    pthread_mutex_lock(&m->mu);
    m->on_change = fn;
    m->on_change_ud = ud;
    pthread_mutex_unlock(&m->mu);
}

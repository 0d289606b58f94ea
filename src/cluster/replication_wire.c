/* replication_wire.c -- the replicate message, catch-up pages and the
 * range position record (formats in replication.h). Decoders trust nothing:
 * every length is checked against the bytes left, and every key must lie in
 * its section's range, so a follower never writes outside the range a
 * section names. */
#include <string.h>

#include "cluster/replication.h"
#include "engine/keycodec.h"

#define SEC_HEADER 64
#define MSG_HEADER 44
#define MUT_PUT 1
#define MUT_DEL 2

typedef struct rd {
    const unsigned char *p, *end;
} rd;

static int rd_need(rd *r, size_t n) { return (size_t)(r->end - r->p) >= n; }
static uint32_t rd_u32(rd *r) {
    uint32_t v = ds_get_u32be(r->p);
    r->p += 4;
    return v;
}
static uint64_t rd_u64(rd *r) {
    uint64_t v = ds_get_u64be(r->p);
    r->p += 8;
    return v;
}

/* Parses count mutations from exactly the bytes of r. puts_only: deletes
 * are malformed; ordered: keys must strictly increase. */
static int parse_muts(ds_arena *a, rd *r, uint32_t count, uint64_t table, uint32_t low,
                      uint32_t high, int puts_only, int ordered, replica_mut **out) {
    /* every mutation takes at least 1 + 4 + 13 bytes: bound the allocation */
    if ((size_t)count > (size_t)(r->end - r->p) / 18) return DS_EPARSE;
    replica_mut *m = count ? ds_arena_alloc(a, count * sizeof *m) : NULL;
    for (uint32_t i = 0; i < count; i++) {
        if (!rd_need(r, 5)) return DS_EPARSE;
        unsigned kind = *r->p++;
        uint32_t kl = rd_u32(r);
        if ((kind != MUT_PUT && kind != MUT_DEL) || (puts_only && kind != MUT_PUT))
            return DS_EPARSE;
        if (kl <= KEYCODEC_PREFIX_LEN || !rd_need(r, kl)) return DS_EPARSE;
        const char *k = (const char *)r->p;
        r->p += kl;
        uint32_t h = ds_get_u32be(k + 8);
        if (ds_get_u64be(k) != table || h < low || h > high) return DS_EPARSE;
        if (ordered && i) {
            const replica_mut *pv = &m[i - 1];
            int c = memcmp(pv->key, k, DS_MIN(pv->klen, (size_t)kl));
            if (c > 0 || (c == 0 && pv->klen >= kl)) return DS_EPARSE;
        }
        m[i].key = k, m[i].klen = kl, m[i].op = NULL;
        m[i].value = NULL, m[i].vlen = 0;
        if (kind == MUT_PUT) {
            if (!rd_need(r, 4)) return DS_EPARSE;
            uint32_t vl = rd_u32(r);
            if (!rd_need(r, vl)) return DS_EPARSE;
            m[i].value = (const char *)r->p, m[i].vlen = vl;
            r->p += vl;
        }
    }
    if (r->p != r->end) return DS_EPARSE;
    *out = m;
    return DS_OK;
}

static int uuid_ok(const unsigned char *p) {
    for (int i = 0; i < REPL_UUID_LEN; i++) {
        unsigned char c = p[i];
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return 0;
    }
    return 1;
}

int repl_wire_decode(ds_arena *a, const void *p, size_t n, repl_wmsg *out) {
    rd r = {p, (const unsigned char *)p + n};
    memset(out, 0, sizeof *out);
    if (!rd_need(&r, MSG_HEADER) || memcmp(r.p, "DSR1", 4)) return DS_EPARSE;
    r.p += 4;
    if (!uuid_ok(r.p)) return DS_EPARSE;
    memcpy(out->sender, r.p, REPL_UUID_LEN);
    out->sender[REPL_UUID_LEN] = 0;
    r.p += REPL_UUID_LEN;
    uint32_t ns = rd_u32(&r);
    if (ns == 0 || ns > REPL_MAX_SECTIONS || ns > (n - MSG_HEADER) / SEC_HEADER)
        return DS_EPARSE;
    repl_wsection *s = ds_arena_calloc(a, ns * sizeof *s);
    for (uint32_t i = 0; i < ns; i++) {
        if (!rd_need(&r, SEC_HEADER)) return DS_EPARSE;
        repl_wsection *x = &s[i];
        x->table_id = rd_u64(&r);
        x->low = rd_u32(&r);
        x->high = rd_u32(&r);
        x->epoch = rd_u64(&r);
        x->prev_epoch = rd_u64(&r);
        x->prev_seq = rd_u64(&r);
        x->seq = rd_u64(&r);
        x->session = rd_u64(&r);
        uint32_t nm = rd_u32(&r), bl = rd_u32(&r);
        if (x->low > x->high || x->prev_epoch > x->epoch || !rd_need(&r, bl)) return DS_EPARSE;
        if (x->seq == x->prev_seq) {
            if (nm) return DS_EPARSE; /* a probe carries nothing */
        } else if (x->seq != x->prev_seq + 1 || x->seq == 0) {
            return DS_EPARSE;
        }
        rd body = {r.p, r.p + bl};
        if (parse_muts(a, &body, nm, x->table_id, x->low, x->high, 0, 0, &x->muts))
            return DS_EPARSE;
        x->nmuts = nm;
        r.p += bl;
    }
    if (r.p != r.end) return DS_EPARSE;
    out->sections = s;
    out->nsections = ns;
    return DS_OK;
}

void repl_wire_header(ds_buf *out, const char *sender_uuid, uint32_t n) {
    ds_buf_append(out, "DSR1", 4);
    char u[REPL_UUID_LEN];
    memset(u, '0', sizeof u);
    memcpy(u, sender_uuid, DS_MIN(strlen(sender_uuid), sizeof u));
    ds_buf_append(out, u, sizeof u);
    ds_buf_put_u32be(out, n);
}

void repl_wire_section(ds_buf *out, const repl_wsection *s, const void *body, size_t blen,
                       uint32_t nmuts) {
    ds_buf_put_u64be(out, s->table_id);
    ds_buf_put_u32be(out, s->low);
    ds_buf_put_u32be(out, s->high);
    ds_buf_put_u64be(out, s->epoch);
    ds_buf_put_u64be(out, s->prev_epoch);
    ds_buf_put_u64be(out, s->prev_seq);
    ds_buf_put_u64be(out, s->seq);
    ds_buf_put_u64be(out, s->session);
    ds_buf_put_u32be(out, nmuts);
    ds_buf_put_u32be(out, (uint32_t)blen);
    if (blen) ds_buf_append(out, body, blen);
}

void repl_wire_muts(ds_buf *out, const replica_mut *m, size_t n) {
    for (size_t i = 0; i < n; i++) {
        ds_buf_putc(out, m[i].value ? MUT_PUT : MUT_DEL);
        ds_buf_put_u32be(out, (uint32_t)m[i].klen);
        ds_buf_append(out, m[i].key, m[i].klen);
        if (m[i].value) {
            ds_buf_put_u32be(out, (uint32_t)m[i].vlen);
            ds_buf_append(out, m[i].value, m[i].vlen);
        }
    }
}

void repl_page_encode(ds_buf *out, int more, uint32_t count, const void *body, size_t blen) {
    ds_buf_append(out, "DSP1", 4);
    ds_buf_putc(out, more ? 1 : 0);
    ds_buf_put_u32be(out, count);
    ds_buf_put_u32be(out, (uint32_t)blen);
    if (blen) ds_buf_append(out, body, blen);
}

int repl_page_decode(ds_arena *a, const void *p, size_t n, uint64_t table_id, uint32_t low,
                     uint32_t high, int *more, replica_mut **muts, size_t *nmuts) {
    rd r = {p, (const unsigned char *)p + n};
    if (!rd_need(&r, 13) || memcmp(r.p, "DSP1", 4) || r.p[4] > 1) return DS_EPARSE;
    *more = r.p[4];
    r.p += 5;
    uint32_t count = rd_u32(&r), bl = rd_u32(&r);
    if ((size_t)(r.end - r.p) != bl) return DS_EPARSE;
    if (parse_muts(a, &r, count, table_id, low, high, 1, 1, muts)) return DS_EPARSE;
    *nmuts = count;
    return DS_OK;
}

void repl_pos_key(ds_buf *out, uint64_t table_id, uint32_t low) {
    ds_buf_append(out, "r/", 2);
    ds_buf_put_u64be(out, table_id);
    ds_buf_put_u32be(out, low);
}

void repl_pos_value(ds_buf *out, uint64_t epoch, uint64_t seq, uint32_t high, int incomplete) {
    ds_buf_put_u64be(out, epoch);
    ds_buf_put_u64be(out, seq);
    ds_buf_put_u32be(out, high);
    ds_buf_putc(out, incomplete ? 1 : 0);
}

int repl_pos_parse(const void *k, size_t kl, const void *v, size_t vl, uint64_t *table_id,
                   uint32_t *low, uint64_t *epoch, uint64_t *seq, uint32_t *high,
                   int *incomplete) {
    const unsigned char *kp = k, *vp = v;
    if (kl != 14 || memcmp(kp, "r/", 2) || vl != 21 || vp[20] > 1) return DS_ECORRUPT;
    *table_id = ds_get_u64be(kp + 2);
    *low = ds_get_u32be(kp + 10);
    *epoch = ds_get_u64be(vp);
    *seq = ds_get_u64be(vp + 8);
    *high = ds_get_u32be(vp + 16);
    *incomplete = vp[20] & 1;
    return *high < *low ? DS_ECORRUPT : DS_OK;
}

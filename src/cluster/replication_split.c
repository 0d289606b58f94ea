/* replication_split.c -- splits by size (replication.h, SPLITS BY SIZE): the
 * size check a range's leader runs on its own thread, and the choice of
 * the split point.
 *
 * Why the leader: seed 002 lets only a range's current master split it, and
 * the leader is the one node that knows both how much the range grows (it
 * commits every write) and that it still leads (the split's txn compares the
 * record it leads by). Why a count and then a scan: counting the bytes
 * shipped is free on the write path but says nothing about deletes and
 * overwrites, so it only decides when to look; the scan of the range's keys
 * (the size check) measures what is really stored and where in the hash
 * span, off the writer thread and without the lock.
 */
#include <stdio.h>
#include <string.h>

#include "cluster/replication_int.h"
#include "engine/keycodec.h"

typedef struct sizecheck {
    struct repl *rp;
    rrange *rr;
    rthread *th;
    uint64_t table, epoch; /* the range and the leadership being checked */
    uint32_t low, high;
    char name[400];
} sizecheck;

int repl_split_point(uint32_t low, uint32_t high, uint64_t width, const uint64_t *bytes,
                     size_t nb, uint64_t split_bytes, uint32_t *mid) {
    uint64_t total = 0;
    for (size_t i = 0; i < nb; i++) total += bytes[i];
    if (!split_bytes || total < split_bytes || low >= high || !width) return 0;
    uint64_t left = 0, best_left = 0, best_diff = UINT64_MAX, best_edge = 0;
    for (size_t i = 1; i < nb; i++) {
        uint64_t edge = low + (uint64_t)i * width;
        if (edge > high) break;
        left += bytes[i - 1];
        uint64_t right = total - left, diff = left > right ? left - right : right - left;
        if (diff < best_diff) best_diff = diff, best_left = left, best_edge = edge;
    }
    /* the closest edge leaves a half empty only when every edge does (its
     * difference is then the total, the largest there is) */
    if (!best_left || best_left == total) return 0;
    *mid = (uint32_t)best_edge;
    return 1;
}

/* Sums the stored bytes (key + sealed value) of x's range into nb buckets
 * of width hashes, and their total. Reads the engine; not locked.
 * DS_ESTATE when replication stops meanwhile, or the iterator's error. */
static int scan(sizecheck *x, uint64_t *bytes, uint64_t width, uint64_t *total) {
    struct repl *rp = x->rp;
    ds_buf lo = DS_BUF_INIT, hi = DS_BUF_INIT;
    keycodec_hash_bounds(&lo, &hi, x->table, x->low, x->high);
    engine_iter *it =
        engine_iter_new(rp->c->engine, ENGINE_CF_DATA, lo.data, lo.len, hi.data, hi.len);
    int rc = DS_OK;
    uint64_t n = 0;
    *total = 0;
    for (engine_iter_seek_first(it); engine_iter_valid(it); engine_iter_next(it)) {
        if ((++n & 4095) == 0 && rp->stopping) {
            rc = DS_ESTATE;
            break;
        }
        size_t kl, vl;
        const char *k = engine_iter_key(it, &kl);
        engine_iter_value(it, &vl);
        if (kl <= KEYCODEC_PREFIX_LEN) continue;
        bytes[(ds_get_u32be(k + 8) - x->low) / width] += kl + vl;
        *total += kl + vl;
    }
    if (rc == DS_OK) rc = engine_iter_status(it);
    engine_iter_free(it);
    ds_buf_free(&lo);
    ds_buf_free(&hi);
    return rc;
}

/* 1 with the range's record in rec if this node still leads it at the
 * epoch and bounds the check began with (a split against anything else
 * would cut a range someone else now decides about). Not locked. */
static int still_leading(sizecheck *x, range_rec *rec) {
    struct repl *rp = x->rp;
    if (rangemap_find(rp->c->map, x->table, x->low, rec) || rec->low != x->low ||
        rec->high != x->high || rec->epoch != x->epoch || strcmp(rec->leader, rp->c->uuid))
        return 0;
    pthread_mutex_lock(&rp->mu);
    int ok = x->rr->leading && !x->rr->fenced && x->rr->lead_epoch == x->epoch;
    pthread_mutex_unlock(&rp->mu);
    return ok;
}

static void size_check(sizecheck *x) {
    struct repl *rp = x->rp;
    uint64_t span = (uint64_t)x->high - x->low + 1;
    uint64_t width = (span + REPL_SIZE_BUCKETS - 1) / REPL_SIZE_BUCKETS;
    size_t nb = (size_t)((span + width - 1) / width);
    uint64_t bytes[REPL_SIZE_BUCKETS] = {0}, total;
    int rc = scan(x, bytes, width, &total);
    if (rc) {
        if (rc != DS_ESTATE)
            ds_warn("replication: %s: the size check failed: %s", x->name, ds_strerror(rc));
        return;
    }
    uint32_t mid;
    if (!repl_split_point(x->low, x->high, width, bytes, nb, rp->o.split_bytes, &mid)) {
        ds_debug("replication: %s: %llu bytes stored: no split", x->name,
                 (unsigned long long)total);
        return;
    }
    range_rec rec, left, right;
    if (!still_leading(x, &rec)) {
        ds_debug("replication: %s: not split: its record or leadership changed", x->name);
        return;
    }
    rc = rangemap_split(rp->c->etcd, &rec, mid, &left, &right);
    if (rc == DS_ECONDITION) { /* the record changed meanwhile: a later check */
        ds_debug("replication: %s: not split: its record changed meanwhile", x->name);
    } else if (rc) {
        ds_warn("replication: %s: splitting it failed: %s", x->name, ds_strerror(rc));
    } else {
        ds_info("replication: %s: %llu bytes stored (limit %llu): split into %u-%u and %u-%u "
                "(epoch %llu)",
                x->name, (unsigned long long)total, (unsigned long long)rp->o.split_bytes,
                left.low, left.high, right.low, right.high, (unsigned long long)left.epoch);
    }
}

static void *sizecheck_main(void *arg) {
    sizecheck *x = arg;
    struct repl *rp = x->rp;
    size_check(x);
    pthread_mutex_lock(&rp->mu);
    rp->sizing = 0;
    atomic_store(&x->th->finished, 1);
    pthread_cond_signal(&rp->cv);
    pthread_mutex_unlock(&rp->mu);
    ds_free(x);
    return NULL;
}

void repl__sizecheck_start(struct repl *rp, rrange *rr) {
    /* reset first: a check that cannot start is not retried every tick */
    rr->grown = 0;
    sizecheck *x = ds_calloc(1, sizeof *x);
    x->rp = rp;
    x->rr = rr;
    x->table = rr->table;
    x->low = rr->low;
    x->high = rr->high;
    x->epoch = rr->lead_epoch;
    repl__range_name(rr, x->name, sizeof x->name);
    rthread *t = ds_calloc(1, sizeof *t);
    x->th = t;
    if (pthread_create(&t->th, NULL, sizecheck_main, x)) {
        ds_error("replication: cannot start a size-check thread");
        ds_free(t);
        ds_free(x);
        return;
    }
    pthread_setname_np(t->th, "ds-repl-size");
    t->next = rp->threads;
    rp->threads = t;
    rp->sizing = 1;
}

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
 *
 * Why the pause (its steps: replication.h): every replica cuts its own copy
 * in two at its own position in the range's write order, and each half
 * continues from there. Under a steady write load the leader and a follower
 * would cut at different positions, the follower's halves would not match
 * the leader's, and it would copy them again: half the range, on every
 * follower, for every split, just when the range is busy. Holding the
 * range's writes until the followers acknowledged the last one gives every
 * replica the same position at the split. The price is a short wait for
 * that one range's writers (the proxy retries the refusals); other ranges
 * do not notice.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cluster/replication_int.h"
#include "engine/keycodec.h"

typedef struct sizecheck {
    struct repl *rp;
    rrange *rr;
    rthread *th;
    uint64_t table, epoch; /* the range and the leadership being checked */
    uint32_t low, high;
    uint64_t seq; /* paused: the range's last seq, which followers must ack */
    char name[400];
} sizecheck;

/* How often a wait for a paused range looks again even unsignalled (a
 * leadership lost meanwhile is not signalled). */
#define PAUSE_SLICE_MS 50

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

/* Pauses x's range if this node still leads it at the epoch and bounds of
 * the check, and notes its last seq. A CALL: every group admitted before
 * has committed and queued its sections, and admit refuses the range's
 * writes from the next group on. DS_OK, or DS_ESTATE (not paused). */
static int call_pause(struct repl *rp, void *ud, replica_group *g) {
    (void)g;
    sizecheck *x = ud;
    pthread_mutex_lock(&rp->mu);
    rrange *rr = x->rr;
    int ok = rr->leading && !rr->fenced && rr->lead_epoch == x->epoch && rr->high == x->high &&
             rr->fstate == FS_OK && !rr->paused;
    if (ok) {
        rr->paused = 1;
        x->seq = rr->last_seq;
    }
    pthread_mutex_unlock(&rp->mu);
    return ok ? DS_OK : DS_ESTATE;
}

static void unpause(sizecheck *x) {
    pthread_mutex_lock(&x->rp->mu);
    x->rr->paused = 0;
    pthread_mutex_unlock(&x->rp->mu);
}

/* The conditions a paused split waits for: 1 met, -1 never will be (stop
 * waiting), 0 not yet. Locked. */
typedef int (*pause_cond)(const sizecheck *x);

static int lost(const sizecheck *x) {
    const rrange *rr = x->rr;
    return x->rp->stopping || !rr->leading || rr->fenced || rr->lead_epoch != x->epoch;
}

/* Every required follower acknowledged x->seq: each holds exactly the
 * leader's copy of the range. */
static int all_acked(const sizecheck *x) {
    if (lost(x)) return -1;
    return repl__frontier(x->rr) >= x->seq;
}

/* This node's copy is cut at the split (its high moved), or another
 * leadership decides about it now. */
static int cut(const sizecheck *x) {
    if (x->rp->stopping) return -1;
    return x->rr->high != x->high || lost(x);
}

/* Waits up to the replication timeout for cond. Returns its last value
 * (0: timed out). Not locked. */
static int wait_paused(sizecheck *x, pause_cond cond) {
    struct repl *rp = x->rp;
    uint64_t deadline = ds_now_ms() + (uint64_t)rp->o.timeout_ms;
    pthread_mutex_lock(&rp->mu);
    int r;
    while (!(r = cond(x))) {
        uint64_t now = ds_now_ms();
        if (now >= deadline) break;
        struct timespec ts;
        ds_deadline(&ts, CLOCK_REALTIME, (int)DS_MIN(deadline - now, PAUSE_SLICE_MS));
        pthread_cond_timedwait(&rp->split_cv, &rp->mu, &ts);
    }
    pthread_mutex_unlock(&rp->mu);
    return r;
}

/* The split of x's range at mid as a quiet point of its writes (the file's
 * comment): pause, wait for the acks, the txn, this node's cut, unpause.
 * Whatever happens, the range is unpaused on return. Not locked. */
static void split_paused(sizecheck *x, uint32_t mid, uint64_t total) {
    struct repl *rp = x->rp;
    uint64_t t0 = ds_now_ms();
    range_rec rec, left, right;
    if (repl__call(rp, call_pause, x)) {
        ds_debug("replication: %s: not split: its leadership changed", x->name);
        return;
    }
    int r = wait_paused(x, all_acked);
    if (r <= 0) {
        unpause(x);
        if (!r)
            ds_info("replication: %s: not split now: its in-sync followers did not acknowledge "
                    "seq %llu within %d ms",
                    x->name, (unsigned long long)x->seq, rp->o.timeout_ms);
        return;
    }
    /* read again: the in-sync set may have changed while it waited */
    if (!still_leading(x, &rec)) {
        unpause(x);
        ds_debug("replication: %s: not split: its record or leadership changed", x->name);
        return;
    }
    int rc = rangemap_split(rp->c->etcd, &rec, mid, &left, &right);
    if (rc == DS_ECONDITION) { /* the record changed meanwhile: a later check */
        unpause(x);
        ds_debug("replication: %s: not split: its record changed meanwhile", x->name);
        return;
    }
    if (rc) {
        /* the outcome is unknown: if the split was made, this node must cut
         * at the paused position before it admits again, so the pause lasts
         * until the map shows the split (and reconcile cuts) or the timeout */
        ds_warn("replication: %s: splitting it failed: %s", x->name, ds_strerror(rc));
        if (!wait_paused(x, cut))
            ds_warn("replication: %s: writes resume without knowing whether the split was made",
                    x->name);
        unpause(x);
        return;
    }
    /* cut now rather than when the watch delivers the records: the sooner
     * writes resume (admit then refuses the old records' epoch) */
    repl__split_copy(rp, &left);
    if (!wait_paused(x, cut))
        ds_warn("replication: %s: split, but this node's copy was not cut within %d ms; "
                "writes resume",
                x->name, rp->o.timeout_ms);
    unpause(x);
    ds_info("replication: %s: %llu bytes stored (limit %llu): split into %u-%u and %u-%u "
            "(epoch %llu; writes paused %llu ms)",
            x->name, (unsigned long long)total, (unsigned long long)rp->o.split_bytes, left.low,
            left.high, right.low, right.high, (unsigned long long)left.epoch,
            (unsigned long long)(ds_now_ms() - t0));
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
    range_rec rec;
    if (!still_leading(x, &rec)) { /* no pause for a range it cannot split */
        ds_debug("replication: %s: not split: its record or leadership changed", x->name);
        return;
    }
    split_paused(x, mid, total);
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
    if (!repl__thread_start(rp, sizecheck_main, x, &x->th, "ds-repl-size")) {
        ds_error("replication: cannot start a size-check thread");
        ds_free(x);
        return;
    }
    rp->sizing = 1;
}

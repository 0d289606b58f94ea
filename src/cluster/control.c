/* control.c -- `dstore control`: placement, leaders, moves and drains (see
 * control.h for what a reconciliation pass decides).
 *
 * Two halves:
 *   - control_plan(), a pure function over a snapshot (tables, ranges,
 *     nodes) that returns the changes to make; the unit tests drive it
 *     directly (tests/unit/test_control.c);
 *   - control_run(), the process: leadership on control/leader, watched
 *     copies of the range map (rangemap.c) and of meta/T/, and the loop that
 *     plans, applies each change by a compare-and-swap, and waits for the
 *     next change or the next tick.
 */
#include "cluster/control.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/json.h"

#define TICK_MS 500
#define ALARM_EVERY_MS 10000

/* ======================================================================== */
/* the planner                                                              */
/* ======================================================================== */

typedef struct pnode {
    control_node n;
    int nrep, nlead; /* replicas and leaderships held (as planned so far) */
} pnode;

typedef struct planner {
    const control_view *v;
    control_plan_opts o;
    pnode *nodes;
    size_t nnodes;
    size_t navail; /* live, non-draining */
    control_change *out;
    size_t nout, cap;
    unsigned char *touched; /* per range: a change was planned */
    int budget;             /* moves that may still start */
} planner;

static pnode *pnode_get(planner *p, const char *uuid) {
    for (size_t i = 0; i < p->nnodes; i++)
        if (!strcmp(p->nodes[i].n.uuid, uuid)) return &p->nodes[i];
    return NULL;
}

static int is_alive(planner *p, const char *uuid) {
    pnode *n = uuid[0] ? pnode_get(p, uuid) : NULL;
    return n && n->n.alive;
}

static int is_avail(planner *p, const char *uuid) {
    pnode *n = uuid[0] ? pnode_get(p, uuid) : NULL;
    return n && n->n.alive && !n->n.drain;
}

static int is_draining(planner *p, const char *uuid) {
    pnode *n = pnode_get(p, uuid);
    return n && n->n.alive && n->n.drain;
}

static uint64_t dead_for(planner *p, const char *uuid) {
    pnode *n = pnode_get(p, uuid);
    return n ? n->n.dead_ms : 0;
}

static const char *node_uri(planner *p, const char *uuid) {
    pnode *n = pnode_get(p, uuid);
    return n ? n->n.uri : "";
}

static void count(planner *p, const char *uuid, int drep, int dlead) {
    pnode *n = pnode_get(p, uuid);
    if (n) n->nrep += drep, n->nlead += dlead;
}

static control_change *emit(planner *p, control_kind kind) {
    if (p->nout == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 16;
        p->out = ds_realloc(p->out, p->cap * sizeof *p->out);
    }
    control_change *c = &p->out[p->nout++];
    memset(c, 0, sizeof *c);
    c->kind = kind;
    return c;
}

static void short_id(char out[9], const char *uuid) {
    size_t n = strnlen(uuid, 8);
    if (!n)
        out[n++] = '-';
    else
        memcpy(out, uuid, n);
    out[n] = 0;
}

/* snprintf that may truncate (log lines) */
static void say(char *dst, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *dst, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
}

static void emit_update(planner *p, size_t ri, const range_rec *nw, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void emit_update(planner *p, size_t ri, const range_rec *nw, const char *fmt, ...) {
    control_change *c = emit(p, CONTROL_UPDATE);
    c->old = p->v->ranges[ri];
    c->nw = *nw;
    say(c->why, sizeof c->why, "%s/%s/%u: ", nw->tenant, nw->table, nw->low);
    size_t n = strlen(c->why);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->why + n, sizeof c->why - n, fmt, ap);
    va_end(ap);
    p->touched[ri] = 1;
}

/* The best node to hold a new replica of r: live, not draining, not in r,
 * fewest replicas, then fewest leaderships, then uuid order. */
static pnode *best_new_home(planner *p, const range_rec *r) {
    pnode *best = NULL;
    for (size_t i = 0; i < p->nnodes; i++) {
        pnode *n = &p->nodes[i];
        if (!n->n.alive || n->n.drain) continue;
        if (r && range_has(r->replicas, r->nreplicas, n->n.uuid)) continue;
        if (!best || n->nrep < best->nrep || (n->nrep == best->nrep && n->nlead < best->nlead))
            best = n;
    }
    return best;
}

/* The member of list (alive; non-draining if prefer_avail finds one) with
 * the fewest leaderships, other than except. */
static pnode *best_leader(planner *p, const char list[][RANGE_UUID_LEN], int n, const char *except,
                          int require_avail) {
    pnode *best = NULL;
    int best_avail = 0;
    for (int i = 0; i < n; i++) {
        if (except && !strcmp(list[i], except)) continue;
        pnode *c = pnode_get(p, list[i]);
        if (!c || !c->n.alive) continue;
        int av = !c->n.drain;
        if (require_avail && !av) continue;
        if (!best || av > best_avail || (av == best_avail && c->nlead < best->nlead))
            best = c, best_avail = av;
    }
    return best;
}

static size_t table_index(const control_view *v, const char *tenant, const char *table) {
    for (size_t i = 0; i < v->ntables; i++)
        if (!strcmp(v->tables[i].tenant, tenant) && !strcmp(v->tables[i].table, table)) return i;
    return (size_t)-1;
}

/* Places one new range [low, high] of table t. */
static void plan_create(planner *p, const control_table *t, uint32_t low, uint32_t high) {
    size_t want = (size_t)p->o.replication_factor;
    if (want > p->navail) want = p->navail;
    control_change *c = emit(p, CONTROL_CREATE);
    range_rec *r = &c->nw;
    snprintf(r->tenant, sizeof r->tenant, "%s", t->tenant);
    snprintf(r->table, sizeof r->table, "%s", t->table);
    r->table_id = t->id;
    r->low = low, r->high = high;
    r->epoch = 1;
    for (size_t i = 0; i < want; i++) {
        pnode *n = best_new_home(p, r);
        if (!n) break;
        range_add(r->replicas, &r->nreplicas, n->n.uuid);
        n->nrep++;
    }
    pnode *lead = best_leader(p, r->replicas, r->nreplicas, NULL, 1);
    snprintf(r->leader, sizeof r->leader, "%s", lead->n.uuid);
    snprintf(r->uri, sizeof r->uri, "%s", lead->n.uri);
    lead->nlead++;
    /* leader first, then the others in their chosen order */
    range_add(r->insync, &r->ninsync, r->leader);
    for (int i = 0; i < r->nreplicas; i++)
        range_add(r->insync, &r->ninsync, r->replicas[i]);
    memcpy(r->replicas, r->insync, sizeof r->replicas);
    say(c->why, sizeof c->why, "%s/%s/%u: new range %u-%u, leader %.8s, %d replicas", r->tenant,
        r->table, low, low, high, r->leader, r->nreplicas);
}

static int cmp_low(const void *a, const void *b) {
    const range_rec *x = *(const range_rec *const *)a, *y = *(const range_rec *const *)b;
    return x->low < y->low ? -1 : x->low > y->low;
}

/* Creation and gap filling for table t (ranges that belong to it: same
 * names, same id). Skipped while stale records of the name remain. */
static void plan_table(planner *p, const control_table *t) {
    const control_view *v = p->v;
    size_t n = 0;
    const range_rec **mine = ds_malloc((v->nranges + 1) * sizeof *mine);
    for (size_t i = 0; i < v->nranges; i++) {
        const range_rec *r = &v->ranges[i];
        if (strcmp(r->tenant, t->tenant) || strcmp(r->table, t->table)) continue;
        if (r->table_id != t->id) goto out; /* a dropped namesake: deleted first */
        mine[n++] = r;
    }
    if (p->navail == 0) {
        if (!n) {
            control_change *c = emit(p, CONTROL_ALARM);
            c->alarm = 1;
            say(c->why, sizeof c->why, "%s/%s: no live node to place the table on", t->tenant,
                t->table);
        }
        goto out;
    }
    if (!n) {
        uint64_t parts = (uint64_t)(p->o.ranges_per_table > 0 ? p->o.ranges_per_table : 1);
        uint64_t span = (1ULL << 32) / parts;
        for (uint64_t i = 0; i < parts; i++) {
            uint64_t lo = i * span, hi = i + 1 == parts ? 0xffffffffULL : (i + 1) * span - 1;
            plan_create(p, t, (uint32_t)lo, (uint32_t)hi);
        }
        goto out;
    }
    if (n) qsort(mine, n, sizeof *mine, cmp_low);
    uint64_t next = 0; /* the first hash not yet covered */
    for (size_t i = 0; i < n; i++) {
        if (mine[i]->low > next) plan_create(p, t, (uint32_t)next, mine[i]->low - 1);
        if ((uint64_t)mine[i]->high + 1 > next) next = (uint64_t)mine[i]->high + 1;
    }
    if (next <= 0xffffffffULL) plan_create(p, t, (uint32_t)next, 0xffffffffU);
out:
    ds_free(mine);
}

/* Replicas of r as the rules see them. */
typedef struct rclass {
    int keep, keep_sync, pending, draining, dead, dead_recent, dead_expired;
} rclass;

static void classify(planner *p, const range_rec *r, rclass *c) {
    memset(c, 0, sizeof *c);
    for (int i = 0; i < r->nreplicas; i++) {
        const char *u = r->replicas[i];
        int sync = range_has(r->insync, r->ninsync, u);
        if (is_avail(p, u)) {
            c->keep++;
            if (sync)
                c->keep_sync++;
            else
                c->pending++;
        } else if (is_draining(p, u))
            c->draining++;
        else {
            c->dead++;
            pnode *n = pnode_get(p, u);
            int drain = n && n->n.drain;
            if (!drain && dead_for(p, u) < (uint64_t)p->o.dead_grace_ms)
                c->dead_recent++;
            else
                c->dead_expired++;
        }
    }
}

static int target_of(planner *p) {
    size_t t = (size_t)p->o.replication_factor;
    return (int)(t < p->navail ? t : p->navail);
}

/* The urgent fixes: failover, fencing, the leader's uri. Returns 1 if a
 * change (or an alarm) was planned for range ri. */
static int plan_urgent(planner *p, size_t ri) {
    const range_rec *r = &p->v->ranges[ri];
    range_rec n = *r;
    char why[320] = "";
    if (!is_alive(p, r->leader)) {
        pnode *c = best_leader(p, r->insync, r->ninsync, NULL, 0);
        if (!c) {
            control_change *a = emit(p, CONTROL_ALARM);
            a->alarm = 1;
            a->old = *r;
            char old[9];
            short_id(old, r->leader);
            say(a->why, sizeof a->why,
                "%s/%s/%u: LEADERLESS: leader %s is dead and no in-sync replica is alive; "
                "waiting for one to return (choosing another would lose acknowledged writes)",
                r->tenant, r->table, r->low, old);
            p->touched[ri] = 1;
            return 1;
        }
        char old[9];
        short_id(old, r->leader);
        count(p, r->leader, 0, -1);
        snprintf(n.leader, sizeof n.leader, "%s", c->n.uuid);
        snprintf(n.uri, sizeof n.uri, "%s", c->n.uri);
        n.epoch = r->epoch + 1;
        c->nlead++;
        say(why, sizeof why, "failover: leader %s is dead, %.8s leads at epoch %llu", old,
            c->n.uuid, (unsigned long long)n.epoch);
    } else if (strcmp(r->uri, node_uri(p, r->leader)) && node_uri(p, r->leader)[0]) {
        snprintf(n.uri, sizeof n.uri, "%s", node_uri(p, r->leader));
        say(why, sizeof why, "leader %.8s now at %s", r->leader, n.uri);
    }
    /* fencing: dead nodes leave the in-sync set (never the leader) */
    int fenced = 0;
    for (int i = 0; i < n.ninsync;) {
        if (strcmp(n.insync[i], n.leader) && !is_alive(p, n.insync[i])) {
            range_remove(n.insync, &n.ninsync, n.insync[i]);
            fenced++;
        } else
            i++;
    }
    range_add(n.insync, &n.ninsync, n.leader);
    if (!why[0] && !fenced) return 0;
    if (fenced) {
        size_t l = strlen(why);
        say(why + l, sizeof why - l, "%s%d dead replica%s left the in-sync set", l ? "; " : "",
            fenced, fenced == 1 ? "" : "s");
    }
    emit_update(p, ri, &n, "%s", why);
    return 1;
}

/* Moves the leadership of range ri to c (an in-sync member), epoch + 1. */
static void plan_transfer(planner *p, size_t ri, pnode *c, const char *reason) {
    const range_rec *r = &p->v->ranges[ri];
    range_rec n = *r;
    count(p, r->leader, 0, -1);
    c->nlead++;
    snprintf(n.leader, sizeof n.leader, "%s", c->n.uuid);
    snprintf(n.uri, sizeof n.uri, "%s", c->n.uri);
    n.epoch = r->epoch + 1;
    emit_update(p, ri, &n, "leadership %.8s -> %.8s at epoch %llu (%s)", r->leader, c->n.uuid,
                (unsigned long long)n.epoch, reason);
}

/* Leader drain, dead-replica trimming, repair, surplus trimming. */
static void plan_range(planner *p, size_t ri) {
    const range_rec *r = &p->v->ranges[ri];
    if (is_draining(p, r->leader)) {
        pnode *c = best_leader(p, r->insync, r->ninsync, r->leader, 1);
        if (c) {
            plan_transfer(p, ri, c, "its node drains");
            return;
        }
    }
    rclass k;
    classify(p, r, &k);
    int target = target_of(p), rf = p->o.replication_factor;
    range_rec n = *r;

    /* dead replicas leave once replaced (or once forgotten) */
    int removed = 0;
    for (int i = 0; i < r->nreplicas; i++) {
        const char *u = r->replicas[i];
        if (is_alive(p, u) || !strcmp(u, r->leader)) continue;
        if (k.keep_sync >= rf || (dead_for(p, u) >= (uint64_t)p->o.dead_forget_ms &&
                                  k.keep_sync >= target && k.keep_sync > 0)) {
            range_remove(n.replicas, &n.nreplicas, u);
            range_remove(n.insync, &n.ninsync, u);
            removed++;
        }
    }
    if (removed) {
        emit_update(p, ri, &n, "%d dead replica%s dropped (%d live in-sync replicas remain)",
                    removed, removed == 1 ? "" : "s", k.keep_sync);
        return;
    }

    /* repair: fewer live non-draining replicas than wanted */
    int missing = target - k.keep - k.dead_recent;
    if (missing > 0) {
        int urgent = DS_MIN(missing, k.dead_expired);
        int added = 0, moving = k.pending > 0;
        for (int i = 0; i < missing; i++) {
            if (i >= urgent && !moving && p->budget <= 0) break;
            pnode *h = best_new_home(p, &n);
            if (!h) break;
            range_add(n.replicas, &n.nreplicas, h->n.uuid);
            h->nrep++;
            added++;
            if (i >= urgent && !moving) moving = 1, p->budget--;
        }
        if (added) {
            emit_update(p, ri, &n, "%d new replica%s to catch up (%d live, %d wanted)", added,
                        added == 1 ? "" : "s", k.keep, target);
            return;
        }
    }

    /* trim: draining replicas, then a surplus, once the rest is in sync */
    if (k.keep_sync < target || k.pending) return;
    int drop = 0;
    for (int i = 0; i < r->nreplicas; i++) {
        const char *u = r->replicas[i];
        if (!is_draining(p, u) || !strcmp(u, r->leader)) continue;
        range_remove(n.replicas, &n.nreplicas, u);
        range_remove(n.insync, &n.ninsync, u);
        count(p, u, -1, 0);
        drop++;
    }
    if (drop) {
        emit_update(p, ri, &n, "%d replica%s moved off draining nodes", drop, drop == 1 ? "" : "s");
        return;
    }
    int surplus = k.keep - target;
    char gone[RANGE_MAX_REPLICAS][RANGE_UUID_LEN];
    int ngone = 0;
    for (; surplus > 0; surplus--) {
        /* the replica on the fullest node goes (a tie spares the leader) */
        pnode *worst = NULL;
        for (int i = 0; i < n.nreplicas; i++) {
            pnode *c = pnode_get(p, n.replicas[i]);
            if (!c || !c->n.alive || c->n.drain) continue;
            int lead = !strcmp(c->n.uuid, n.leader),
                wlead = worst && !strcmp(worst->n.uuid, n.leader);
            if (!worst || c->nrep > worst->nrep ||
                (c->nrep == worst->nrep &&
                 (lead < wlead || (lead == wlead && c->nlead > worst->nlead))))
                worst = c;
        }
        if (!worst) break;
        if (!strcmp(worst->n.uuid, n.leader)) {
            if (ngone) break; /* next pass */
            /* leadership moves first; the replica goes on a later pass */
            pnode *to = best_leader(p, r->insync, r->ninsync, r->leader, 1);
            if (to) plan_transfer(p, ri, to, "its replica is to be released");
            return;
        }
        range_remove(n.replicas, &n.nreplicas, worst->n.uuid);
        range_remove(n.insync, &n.ninsync, worst->n.uuid);
        worst->nrep--;
        snprintf(gone[ngone++], RANGE_UUID_LEN, "%s", worst->n.uuid);
    }
    if (ngone)
        emit_update(p, ri, &n, "move done: replica on %.8s%s released", gone[0],
                    ngone > 1 ? " and others" : "");
}

/* A range that needs nothing: every replica live, non-draining, in sync,
 * as many as wanted, a live leader, and no change planned this pass. */
static int settled(planner *p, size_t ri) {
    const range_rec *r = &p->v->ranges[ri];
    if (p->touched[ri] || !is_avail(p, r->leader)) return 0;
    rclass k;
    classify(p, r, &k);
    return k.keep == r->nreplicas && k.keep_sync == k.keep && k.keep == target_of(p);
}

/* Live non-draining nodes ordered by replicas held, fullest first. */
static size_t avail_by_load(planner *p, pnode **out) {
    size_t n = 0;
    for (size_t i = 0; i < p->nnodes; i++)
        if (p->nodes[i].n.alive && !p->nodes[i].n.drain) out[n++] = &p->nodes[i];
    for (size_t i = 1; i < n; i++) /* insertion sort: a handful of nodes */
        for (size_t j = i; j > 0 && out[j]->nrep > out[j - 1]->nrep; j--) {
            pnode *t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    return n;
}

/* A settled range with a replica on full and none on empty (preferably one
 * that full does not lead), or (size_t)-1. */
static size_t movable_range(planner *p, const pnode *full, const pnode *empty) {
    const control_view *v = p->v;
    for (int pass = 0; pass < 2; pass++)
        for (size_t ri = 0; ri < v->nranges; ri++) {
            const range_rec *r = &v->ranges[ri];
            if (!range_has(r->replicas, r->nreplicas, full->n.uuid) ||
                range_has(r->replicas, r->nreplicas, empty->n.uuid))
                continue;
            if (pass == 0 && !strcmp(r->leader, full->n.uuid)) continue;
            if (settled(p, ri)) return ri;
        }
    return (size_t)-1;
}

static void plan_rebalance(planner *p) {
    pnode **order = ds_malloc((p->nnodes + 1) * sizeof *order);
    while (p->budget > 0) {
        size_t n = avail_by_load(p, order);
        size_t pick = (size_t)-1;
        pnode *full = NULL, *empty = NULL;
        /* the fullest node that can give a range to the emptiest one */
        for (size_t a = 0; a + 1 < n && pick == (size_t)-1; a++)
            for (size_t b = n - 1; b > a && pick == (size_t)-1; b--) {
                if (order[a]->nrep - order[b]->nrep < 2) break;
                pick = movable_range(p, order[a], order[b]);
                full = order[a], empty = order[b];
            }
        if (pick == (size_t)-1) break;
        range_rec nw = p->v->ranges[pick];
        range_add(nw.replicas, &nw.nreplicas, empty->n.uuid);
        empty->nrep++;
        full->nrep--; /* projected: trimmed once the newcomer is in sync */
        p->budget--;
        emit_update(p, pick, &nw, "rebalance: new replica on %.8s (%d) to relieve %.8s (%d)",
                    empty->n.uuid, empty->nrep, full->n.uuid, full->nrep + 1);
    }
    ds_free(order);
}

/* Evens out leaderships, one step: finds the shortest chain from a node
 * with the most leaderships to one with at least 2 fewer, each hop a settled
 * range led by one node with the next in its in-sync set, and moves the
 * leadership along every hop (the nodes in between keep their count).
 * Returns 1 if it planned something. */
static int plan_leaders_once(planner *p) {
    const control_view *v = p->v;
    size_t n = p->nnodes;
    int max = -1, found = -1;
    for (size_t i = 0; i < n; i++)
        if (p->nodes[i].n.alive && !p->nodes[i].n.drain && p->nodes[i].nlead > max)
            max = p->nodes[i].nlead;
    if (max < 2) return 0;
    int *prev = ds_malloc(n * sizeof *prev), *queue = ds_malloc(n * sizeof *queue);
    size_t *via = ds_malloc(n * sizeof *via);
    size_t qh = 0, qt = 0;
    for (size_t i = 0; i < n; i++) {
        prev[i] = -2; /* unseen */
        if (p->nodes[i].n.alive && !p->nodes[i].n.drain && p->nodes[i].nlead == max)
            prev[i] = -1, queue[qt++] = (int)i;
    }
    while (qh < qt && found < 0) {
        pnode *a = &p->nodes[queue[qh++]];
        for (size_t ri = 0; ri < v->nranges && found < 0; ri++) {
            const range_rec *r = &v->ranges[ri];
            if (strcmp(r->leader, a->n.uuid) || !settled(p, ri)) continue;
            for (int k = 0; k < r->ninsync && found < 0; k++) {
                pnode *b = pnode_get(p, r->insync[k]);
                if (!b || b == a || !b->n.alive || b->n.drain) continue;
                size_t bi = (size_t)(b - p->nodes);
                if (prev[bi] != -2) continue;
                prev[bi] = (int)(a - p->nodes), via[bi] = ri;
                if (b->nlead <= max - 2)
                    found = (int)bi;
                else
                    queue[qt++] = (int)bi;
            }
        }
    }
    for (int t = found; t >= 0 && prev[t] >= 0; t = prev[t])
        plan_transfer(p, via[t], &p->nodes[t], "leaders per node evened out");
    ds_free(prev);
    ds_free(queue);
    ds_free(via);
    return found >= 0;
}

static void plan_leaders(planner *p) {
    for (int moves = 0; moves < p->o.max_moves; moves++)
        if (!plan_leaders_once(p)) return;
}

size_t control_plan(const control_view *v, const control_plan_opts *o, control_change **out) {
    planner p;
    memset(&p, 0, sizeof p);
    p.v = v;
    p.o = *o;
    if (p.o.replication_factor <= 0) p.o.replication_factor = 3;
    if (p.o.replication_factor > RANGE_MAX_REPLICAS) p.o.replication_factor = RANGE_MAX_REPLICAS;
    if (p.o.ranges_per_table <= 0) p.o.ranges_per_table = 8;
    if (p.o.max_moves <= 0) p.o.max_moves = 2;
    p.touched = ds_calloc(v->nranges + 1, 1);

    /* nodes: the given ones, plus any uuid a range names that is unknown */
    p.nodes = ds_calloc(v->nnodes + 1, sizeof *p.nodes);
    for (size_t i = 0; i < v->nnodes; i++) {
        p.nodes[p.nnodes++].n = v->nodes[i];
        if (v->nodes[i].alive && !v->nodes[i].drain) p.navail++;
    }
    /* counts of what each node holds; what a dropped table held goes away */
    for (size_t i = 0; i < v->nranges; i++) {
        const range_rec *r = &v->ranges[i];
        size_t t = table_index(v, r->tenant, r->table);
        if (t == (size_t)-1 || v->tables[t].id != r->table_id) continue;
        for (int j = 0; j < r->nreplicas; j++)
            count(&p, r->replicas[j], 1, 0);
        if (r->leader[0]) count(&p, r->leader, 0, 1);
    }

    /* drops first: a dropped table's ranges go, and nothing else happens to them */
    for (size_t i = 0; i < v->nranges; i++) {
        const range_rec *r = &v->ranges[i];
        size_t t = table_index(v, r->tenant, r->table);
        if (t != (size_t)-1 && v->tables[t].id == r->table_id) continue;
        control_change *c = emit(&p, CONTROL_DELETE);
        c->old = *r;
        say(c->why, sizeof c->why, "%s/%s/%u: table %llu dropped: range deleted", r->tenant,
            r->table, r->low, (unsigned long long)r->table_id);
        p.touched[i] = 1;
    }
    for (size_t i = 0; i < v->ntables; i++)
        plan_table(&p, &v->tables[i]);

    /* moves under way: a live replica catching up, or a surplus to trim */
    int moving = 0;
    for (size_t i = 0; i < v->nranges; i++) {
        if (p.touched[i]) continue;
        rclass k;
        classify(&p, &v->ranges[i], &k);
        if (k.pending || k.keep > target_of(&p)) moving++;
    }
    p.budget = p.o.max_moves - moving;

    for (size_t i = 0; i < v->nranges; i++)
        if (!p.touched[i]) plan_urgent(&p, i);
    for (size_t i = 0; i < v->nranges; i++)
        if (!p.touched[i]) plan_range(&p, i);
    plan_rebalance(&p);
    size_t planned = 0;
    for (size_t i = 0; i < p.nout; i++)
        planned += p.out[i].kind != CONTROL_ALARM;
    if (!moving && !planned) plan_leaders(&p); /* only on a quiet cluster */

    ds_free(p.touched);
    ds_free(p.nodes);
    *out = p.out;
    return p.nout;
}

int control_apply(etcd *e, const control_change *c) {
    if (c->kind == CONTROL_CREATE) return rangemap_cas(e, NULL, &c->nw);
    if (c->kind == CONTROL_UPDATE) return rangemap_cas(e, &c->old, &c->nw);
    if (c->kind != CONTROL_DELETE) return DS_EINVAL;
    ds_buf k = DS_BUF_INIT;
    range_rec_key(&c->old, &k);
    etcd_cmp cmp = {k.data, k.len, ETCD_CMP_MOD_REV, c->old.mod_rev, NULL, 0};
    etcd_op op = {k.data, k.len, NULL, 0, 1, 0};
    int rc = etcd_txn(e, &cmp, 1, &op, 1, NULL);
    ds_buf_free(&k);
    return rc;
}

/* ======================================================================== */
/* the process                                                              */
/* ======================================================================== */

typedef struct dead_mark {
    char uuid[RANGE_UUID_LEN];
    uint64_t since_ms;
} dead_mark;

typedef struct ctl {
    etcd *e;
    control_opts o;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t version;      /* bumped by every watched change */
    control_table *tables; /* meta/T/, under mu */
    size_t ntables, tcap;
    int tables_ok;     /* meta/T/ was read */
    volatile int lost; /* the leader lease was lost */
    dead_mark *dead;
    size_t ndead;
    uint64_t last_alarm_ms;
} ctl;

static void poke(ctl *c) {
    pthread_mutex_lock(&c->mu);
    c->version++;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static void on_map_change(void *ud) {
    poke(ud);
}

static void lease_lost(void *ud) {
    ctl *c = ud;
    c->lost = 1;
    poke(c);
}

/* "T/{tenant}/{table}" (after "meta/") -> names. */
static int table_key(const char *key, size_t klen, control_table *t) {
    if (klen < 7 || memcmp(key, "meta/T/", 7)) return -1;
    const char *p = key + 7, *end = key + klen;
    const char *s = memchr(p, '/', (size_t)(end - p));
    if (!s || s == p || (size_t)(s - p) >= sizeof t->tenant || s + 1 >= end ||
        (size_t)(end - s - 1) >= sizeof t->table || memchr(s + 1, '/', (size_t)(end - s - 1)))
        return -1;
    memcpy(t->tenant, p, (size_t)(s - p));
    t->tenant[s - p] = 0;
    memcpy(t->table, s + 1, (size_t)(end - s - 1));
    t->table[end - s - 1] = 0;
    return 0;
}

static void table_drop(ctl *c, const control_table *k) {
    for (size_t i = 0; i < c->ntables; i++)
        if (!strcmp(c->tables[i].tenant, k->tenant) && !strcmp(c->tables[i].table, k->table)) {
            c->tables[i] = c->tables[--c->ntables];
            return;
        }
}

/* Applies a meta/T/ record (c->mu held). */
static void table_put(ctl *c, const char *key, size_t klen, const char *val, size_t vlen) {
    control_table t;
    memset(&t, 0, sizeof t);
    if (table_key(key, klen, &t)) return;
    ds_arena *a = ds_arena_new(1024);
    json_value *o;
    char err[64];
    const json_value *id;
    if (json_parse(a, val, vlen, 8, &o, err, sizeof err) || o->type != JSON_OBJECT ||
        !(id = json_get(o, "id")) || id->type != JSON_NUMBER) {
        ds_warn("control: ignoring an unreadable table record %.*s", (int)klen, key);
        ds_arena_free(a);
        return;
    }
    t.id = strtoull(id->u.str.s, NULL, 10);
    ds_arena_free(a);
    table_drop(c, &t);
    if (c->ntables == c->tcap) {
        c->tcap = c->tcap ? c->tcap * 2 : 16;
        c->tables = ds_realloc(c->tables, c->tcap * sizeof *c->tables);
    }
    c->tables[c->ntables++] = t;
}

static int load_table_fn(const char *key, size_t klen, const char *val, size_t vlen,
                         int64_t mod_rev, void *ud) {
    (void)mod_rev;
    table_put(ud, key, klen, val, vlen);
    return 0;
}

static void watch_tables(etcd_ev ev, const char *key, size_t klen, const char *val, size_t vlen,
                         int64_t mod_rev, void *ud) {
    (void)mod_rev;
    ctl *c = ud;
    pthread_mutex_lock(&c->mu);
    if (ev == ETCD_EV_RESYNC) {
        c->ntables = 0;
        c->tables_ok = etcd_range(c->e, "meta/T/", 7, load_table_fn, c, NULL) == DS_OK;
    } else if (ev == ETCD_EV_DELETE) {
        control_table t;
        if (!table_key(key, klen, &t)) table_drop(c, &t);
    } else
        table_put(c, key, klen, val, vlen);
    c->version++;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* Waits for a change or timeout_ms. */
static void wait_change(ctl *c, uint64_t seen, int timeout_ms) {
    struct timespec ts;
    ds_deadline(&ts, CLOCK_REALTIME, timeout_ms);
    pthread_mutex_lock(&c->mu);
    while (c->version == seen)
        if (pthread_cond_timedwait(&c->cv, &c->mu, &ts)) break;
    pthread_mutex_unlock(&c->mu);
}

static uint64_t version_of(ctl *c) {
    pthread_mutex_lock(&c->mu);
    uint64_t v = c->version;
    pthread_mutex_unlock(&c->mu);
    return v;
}

/* How long uuid has been seen dead (marking it now if new). */
static uint64_t mark_dead(ctl *c, const char *uuid, uint64_t now) {
    for (size_t i = 0; i < c->ndead; i++)
        if (!strcmp(c->dead[i].uuid, uuid)) return now - c->dead[i].since_ms;
    c->dead = ds_realloc(c->dead, (c->ndead + 1) * sizeof *c->dead);
    snprintf(c->dead[c->ndead].uuid, RANGE_UUID_LEN, "%s", uuid);
    c->dead[c->ndead++].since_ms = now;
    return 0;
}

static void unmark_dead(ctl *c, const char *uuid) {
    for (size_t i = 0; i < c->ndead; i++)
        if (!strcmp(c->dead[i].uuid, uuid)) {
            c->dead[i] = c->dead[--c->ndead];
            return;
        }
}

typedef struct view_buf {
    control_node *nodes;
    size_t nn, ncap;
} view_buf;

static control_node *vnode(view_buf *b, const char *uuid) {
    for (size_t i = 0; i < b->nn; i++)
        if (!strcmp(b->nodes[i].uuid, uuid)) return &b->nodes[i];
    if (b->nn == b->ncap) {
        b->ncap = b->ncap ? b->ncap * 2 : 16;
        b->nodes = ds_realloc(b->nodes, b->ncap * sizeof *b->nodes);
    }
    control_node *n = &b->nodes[b->nn++];
    memset(n, 0, sizeof *n);
    snprintf(n->uuid, sizeof n->uuid, "%s", uuid);
    return n;
}

/* Whether the map shows the outcome of change ch yet. */
static int map_shows(rangemap *m, const control_change *ch) {
    const range_rec *k = ch->kind == CONTROL_DELETE ? &ch->old : &ch->nw;
    range_rec *rs;
    size_t n = rangemap_ranges(m, k->table_id, &rs);
    int found = 0, newer = 0;
    for (size_t i = 0; i < n; i++)
        if (rs[i].low == k->low && !strcmp(rs[i].table, k->table) &&
            !strcmp(rs[i].tenant, k->tenant)) {
            found = 1;
            newer = ch->kind == CONTROL_CREATE || rs[i].mod_rev != ch->old.mod_rev;
        }
    ds_free(rs);
    return ch->kind == CONTROL_DELETE ? !found : found && newer;
}

/* One reconciliation pass. Returns how many changes were applied. */
static int reconcile(ctl *c, rangemap *m, const control_plan_opts *po) {
    uint64_t now = ds_now_ms();
    range_rec *ranges;
    size_t nr = rangemap_ranges(m, 0, &ranges);
    node_rec *nodes;
    size_t nn = rangemap_nodes(m, &nodes);
    view_buf vb = {0};
    for (size_t i = 0; i < nn; i++) {
        control_node *n = vnode(&vb, nodes[i].uuid);
        snprintf(n->uri, sizeof n->uri, "%s", nodes[i].uri);
        n->alive = nodes[i].alive;
        n->drain = nodes[i].drain;
    }
    for (size_t i = 0; i < nr; i++) {
        for (int j = 0; j < ranges[i].nreplicas; j++)
            vnode(&vb, ranges[i].replicas[j]);
        for (int j = 0; j < ranges[i].ninsync; j++)
            vnode(&vb, ranges[i].insync[j]);
        if (ranges[i].leader[0]) vnode(&vb, ranges[i].leader);
    }
    for (size_t i = 0; i < vb.nn; i++) {
        if (vb.nodes[i].alive)
            unmark_dead(c, vb.nodes[i].uuid);
        else
            vb.nodes[i].dead_ms = mark_dead(c, vb.nodes[i].uuid, now);
    }
    pthread_mutex_lock(&c->mu);
    int tables_ok = c->tables_ok;
    size_t nt = c->ntables;
    control_table *tables = ds_malloc((nt ? nt : 1) * sizeof *tables);
    if (nt) memcpy(tables, c->tables, nt * sizeof *tables);
    pthread_mutex_unlock(&c->mu);

    int applied = 0;
    if (tables_ok) {
        control_view v = {tables, nt, ranges, nr, vb.nodes, vb.nn};
        control_change *ch;
        size_t n = control_plan(&v, po, &ch);
        unsigned char *done = ds_calloc(n + 1, 1); /* applied: the map must show it */
        int alarms = 0;
        for (size_t i = 0; i < n; i++) {
            if (ch[i].kind == CONTROL_ALARM) {
                if (now - c->last_alarm_ms >= ALARM_EVERY_MS || !c->last_alarm_ms) {
                    ds_error("control: %s", ch[i].why);
                    alarms = 1;
                }
                continue;
            }
            int rc = control_apply(c->e, &ch[i]);
            if (rc == DS_OK) {
                ds_info("control: %s", ch[i].why);
                done[i] = 1;
                applied++;
            } else if (rc == DS_ECONDITION)
                ds_debug("control: %s: changed meanwhile, deciding again", ch[i].why);
            else
                ds_warn("control: %s: not applied: %s", ch[i].why, ds_strerror(rc));
        }
        if (alarms) c->last_alarm_ms = now;
        /* let the map catch up with what we wrote before deciding again */
        uint64_t until = ds_now_ms() + 2000;
        for (size_t i = 0; i < n && applied; i++) {
            if (!done[i]) continue;
            while (!map_shows(m, &ch[i]) && ds_now_ms() < until)
                rangemap_wait(m, rangemap_version(m), 50);
        }
        ds_free(done);
        ds_free(ch);
    }
    /* forget dead marks of nodes nothing refers to any more */
    for (size_t i = 0; i < c->ndead;) {
        int named = 0;
        for (size_t j = 0; j < vb.nn && !named; j++)
            named = !strcmp(vb.nodes[j].uuid, c->dead[i].uuid);
        if (!named)
            c->dead[i] = c->dead[--c->ndead];
        else
            i++;
    }
    ds_free(tables);
    ds_free(vb.nodes);
    ds_free(ranges);
    ds_free(nodes);
    return applied;
}

static void write_config(ctl *c, const control_plan_opts *po) {
    char v[128];
    int n = snprintf(v, sizeof v, "{\"replicationFactor\":%d,\"rangesPerTable\":%d}",
                     po->replication_factor, po->ranges_per_table);
    int rc = etcd_put(c->e, "control/config", 14, v, (size_t)n, 0, NULL);
    if (rc) ds_warn("control: cannot write control/config: %s", ds_strerror(rc));
}

/* Leads until stop or the lease is lost. Returns 0, or -1 if the state
 * could not be read. */
static int lead(ctl *c, volatile sig_atomic_t *stop) {
    control_plan_opts po = {c->o.ranges_per_table, c->o.replication_factor, c->o.dead_grace_ms,
                            c->o.dead_forget_ms, c->o.max_moves};
    rangemap *m = NULL;
    etcd_watch *w = NULL;
    char err[256];
    int rc = rangemap_open(c->e, &m, err, sizeof err);
    if (rc) {
        ds_error("control: %s", err);
        return -1;
    }
    rangemap_on_change(m, on_map_change, c);
    int64_t rev = 0;
    pthread_mutex_lock(&c->mu);
    c->ntables = 0;
    rc = etcd_range(c->e, "meta/T/", 7, load_table_fn, c, &rev);
    c->tables_ok = rc == DS_OK;
    pthread_mutex_unlock(&c->mu);
    if (!rc) rc = etcd_watch_start(c->e, "meta/T/", 7, rev + 1, watch_tables, c, &w);
    if (rc) {
        ds_error("control: cannot read or watch the tables (meta/T/): %s", ds_strerror(rc));
        rangemap_close(m);
        return -1;
    }
    write_config(c, &po);
    ds_info("control: leading (replication factor %d, %d ranges per table)", po.replication_factor,
            po.ranges_per_table);
    uint64_t checked = ds_now_ms();
    while (!*stop && !c->lost) {
        uint64_t seen = version_of(c);
        if (ds_now_ms() - checked >= 2000) {
            /* still the leader? (the key may have gone another way than our lease) */
            ds_buf who = DS_BUF_INIT;
            int rc2 = etcd_get(c->e, "control/leader", 14, &who, NULL);
            int mine = rc2 == DS_OK && who.len == strlen(c->o.uuid) &&
                       !memcmp(who.data, c->o.uuid, who.len);
            ds_buf_free(&who);
            if (rc2 != DS_OK && rc2 != DS_ENOTFOUND)
                mine = 1; /* etcd unreachable: the lease decides */
            if (!mine) {
                ds_warn("control: control/leader is no longer ours; standing down");
                break;
            }
            checked = ds_now_ms();
        }
        int applied = reconcile(c, m, &po);
        if (*stop || c->lost) break;
        if (!applied) wait_change(c, seen, TICK_MS);
    }
    etcd_watch_stop(w);
    rangemap_close(m);
    return 0;
}

int control_run(etcd *e, const control_opts *o, volatile sig_atomic_t *stop) {
    ctl c;
    memset(&c, 0, sizeof c);
    c.e = e;
    c.o = *o;
    if (c.o.ranges_per_table <= 0) c.o.ranges_per_table = 8;
    if (c.o.replication_factor <= 0) c.o.replication_factor = 3;
    if (c.o.replication_factor > RANGE_MAX_REPLICAS) c.o.replication_factor = RANGE_MAX_REPLICAS;
    if (c.o.lease_ttl <= 0) c.o.lease_ttl = 5;
    if (c.o.dead_grace_ms <= 0) c.o.dead_grace_ms = 10000;
    if (c.o.dead_forget_ms <= 0) c.o.dead_forget_ms = 300000;
    if (c.o.max_moves <= 0) c.o.max_moves = 2;
    pthread_mutex_init(&c.mu, NULL);
    pthread_cond_init(&c.cv, NULL);
    if (!c.o.uuid) c.o.uuid = "control";
    const char *uuid = c.o.uuid;
    int status = 0, waiting_logged = 0;
    while (!*stop) {
        etcd_keeper *k = NULL;
        int64_t lease = 0;
        c.lost = 0;
        int rc = etcd_keeper_start(e, c.o.lease_ttl, lease_lost, &c, &k, &lease);
        if (rc) {
            ds_warn("control: cannot get a lease from etcd: %s; retrying", ds_strerror(rc));
            for (int i = 0; i < 10 && !*stop; i++)
                wait_change(&c, version_of(&c), 100);
            continue;
        }
        while (!*stop && !c.lost) {
            etcd_cmp cmp = {"control/leader", 14, ETCD_CMP_CREATE_REV, 0, NULL, 0};
            etcd_op op = {"control/leader", 14, uuid, strlen(uuid), 0, lease};
            rc = etcd_txn(e, &cmp, 1, &op, 1, NULL);
            if (rc == DS_OK) {
                waiting_logged = 0;
                if (lead(&c, stop)) {
                    status = 1;
                    *stop = 1;
                }
                if (c.lost) ds_warn("control: lost the leader lease; campaigning again");
                break;
            }
            if (rc == DS_ECONDITION && !waiting_logged) {
                ds_buf who = DS_BUF_INIT;
                etcd_get(e, "control/leader", 14, &who, NULL);
                ds_info("control: %.*s leads; standing by", (int)who.len, who.data ? who.data : "");
                ds_buf_free(&who);
                waiting_logged = 1;
            } else if (rc != DS_ECONDITION)
                ds_warn("control: campaign failed: %s", ds_strerror(rc));
            for (int i = 0; i < 10 && !*stop && !c.lost; i++)
                wait_change(&c, version_of(&c), 100);
        }
        etcd_keeper_stop(k, 1);
    }
    pthread_mutex_destroy(&c.mu);
    pthread_cond_destroy(&c.cv);
    ds_free(c.tables);
    ds_free(c.dead);
    return status;
}

/* test_control.c -- the control plane's planner (cluster/control.h), without
 * etcd: each test builds a view (tables, ranges, nodes), runs control_plan()
 * and checks the changes; the simulations apply the changes to an in-memory
 * range map, let every leader "catch up" its new replicas (what the leader
 * does in a real cluster), and run again until nothing changes. apply()
 * checks control.h's rules on every change (never add to inSync, a new
 * leader only from inSync with epoch + 1).
 * CHURN_SEED=N reruns the random churn test with another seed; CTL_TRACE=1
 * prints the last passes of a simulation that does not settle. */
#include "t.h"

#include "cluster/control.h"

#define MAXR 256
#define MAXN 16

typedef struct sim {
    control_table tables[8];
    size_t nt;
    range_rec r[MAXR];
    size_t nr;
    control_node n[MAXN];
    size_t nn;
    int64_t rev;
    control_plan_opts o;
} sim;

static void sim_init(sim *s, int nnodes) {
    memset(s, 0, sizeof *s);
    s->o = (control_plan_opts){8, 3, 10000, 300000, 2};
    s->rev = 100;
    for (int i = 0; i < nnodes; i++) {
        control_node *n = &s->n[s->nn++];
        snprintf(n->uuid, sizeof n->uuid, "n%02d-0000-0000-0000-000000000000", i % 100);
        snprintf(n->uri, sizeof n->uri, "http://127.0.0.1:%d/", 7000 + i);
        n->alive = 1;
    }
}

static control_node *node(sim *s, int i) {
    return &s->n[i];
}
static const char *U(sim *s, int i) {
    return s->n[i].uuid;
}

static void add_table(sim *s, const char *tenant, const char *name, uint64_t id) {
    control_table *t = &s->tables[s->nt++];
    memset(t, 0, sizeof *t);
    snprintf(t->tenant, sizeof t->tenant, "%s", tenant);
    snprintf(t->table, sizeof t->table, "%s", name);
    t->id = id;
}

static size_t plan(sim *s, control_change **out) {
    control_view v = {s->tables, s->nt, s->r, s->nr, s->n, s->nn};
    return control_plan(&v, &s->o, out);
}

static range_rec *find(sim *s, const range_rec *k) {
    for (size_t i = 0; i < s->nr; i++)
        if (s->r[i].low == k->low && !strcmp(s->r[i].table, k->table) &&
            !strcmp(s->r[i].tenant, k->tenant))
            return &s->r[i];
    return NULL;
}

/* Applies changes as etcd would (compare on mod_rev). Returns how many applied. */
static int apply(sim *s, control_change *c, size_t n) {
    int applied = 0;
    for (size_t i = 0; i < n; i++) {
        if (c[i].kind == CONTROL_ALARM) continue;
        if (c[i].kind == CONTROL_CREATE) {
            CHECK(find(s, &c[i].nw) == NULL);
            CHECK(s->nr < MAXR);
            s->r[s->nr] = c[i].nw;
            s->r[s->nr++].mod_rev = ++s->rev;
        } else {
            range_rec *r = find(s, &c[i].old);
            CHECK(r != NULL);
            if (r->mod_rev != c[i].old.mod_rev) continue; /* lost the race */
            if (c[i].kind == CONTROL_UPDATE) {
                /* the rules of control.h: never add to inSync; a leader only
                 * from the in-sync set, with a new epoch; inSync within replicas */
                const range_rec *o = &c[i].old, *w = &c[i].nw;
                for (int j = 0; j < w->ninsync; j++) {
                    CHECK(range_has(o->insync, o->ninsync, w->insync[j]));
                    CHECK(range_has(w->replicas, w->nreplicas, w->insync[j]));
                }
                CHECK(range_has(w->insync, w->ninsync, w->leader));
                if (strcmp(o->leader, w->leader)) {
                    CHECK(range_has(o->insync, o->ninsync, w->leader));
                    CHECK_EQ_INT(w->epoch, o->epoch + 1);
                } else
                    CHECK_EQ_INT(w->epoch, o->epoch);
            }
            if (c[i].kind == CONTROL_DELETE) {
                *r = s->r[--s->nr];
            } else {
                *r = c[i].nw;
                r->mod_rev = ++s->rev;
            }
        }
        applied++;
    }
    return applied;
}

static int alive(sim *s, const char *u) {
    for (size_t i = 0; i < s->nn; i++)
        if (!strcmp(s->n[i].uuid, u)) return s->n[i].alive;
    return 0;
}

/* Every live leader brings its live replicas into sync (repl's job).
 * Returns how many ranges changed. */
static int catch_up(sim *s) {
    int n = 0;
    for (size_t i = 0; i < s->nr; i++) {
        range_rec *r = &s->r[i];
        if (!alive(s, r->leader)) continue;
        int changed = 0;
        for (int j = 0; j < r->nreplicas; j++)
            if (alive(s, r->replicas[j]) && !range_has(r->insync, r->ninsync, r->replicas[j])) {
                range_add(r->insync, &r->ninsync, r->replicas[j]);
                changed = 1;
            }
        if (changed) r->mod_rev = ++s->rev, n++;
    }
    return n;
}

/* Plans and applies until nothing changes; returns the passes it took. */
static int converge(sim *s, int max_passes) {
    for (int pass = 1; pass <= max_passes; pass++) {
        control_change *c;
        size_t n = plan(s, &c);
        if (getenv("CTL_TRACE") && pass > max_passes - 12)
            for (size_t i = 0; i < n; i++)
                fprintf(stderr, "  pass %d: %s\n", pass, c[i].why);
        int applied = apply(s, c, n);
        ds_free(c);
        if (!applied && !catch_up(s)) return pass;
    }
    T_FAIL("no fixpoint after %d passes", max_passes);
    return -1;
}

static void holdings(sim *s, const char *u, int *nrep, int *nlead) {
    *nrep = *nlead = 0;
    for (size_t i = 0; i < s->nr; i++) {
        *nrep += range_has(s->r[i].replicas, s->r[i].nreplicas, u);
        *nlead += !strcmp(s->r[i].leader, u);
    }
}

/* Invariants of a settled map: full coverage per table, RF distinct live
 * replicas, leader in sync, in sync within replicas. */
static void check_sound(sim *s, int rf) {
    for (size_t t = 0; t < s->nt; t++) {
        uint64_t next = 0;
        for (;;) {
            range_rec *hit = NULL;
            for (size_t i = 0; i < s->nr; i++)
                if (!strcmp(s->r[i].table, s->tables[t].table) && s->r[i].low == next)
                    hit = &s->r[i];
            CHECK(hit != NULL);
            CHECK_EQ_INT(hit->table_id, s->tables[t].id);
            next = (uint64_t)hit->high + 1;
            if (next > 0xffffffffULL) break;
        }
    }
    for (size_t i = 0; i < s->nr; i++) {
        range_rec *r = &s->r[i];
        CHECK_EQ_INT(r->nreplicas, rf);
        CHECK(range_has(r->insync, r->ninsync, r->leader));
        CHECK(range_has(r->replicas, r->nreplicas, r->leader));
        for (int j = 0; j < r->ninsync; j++)
            CHECK(range_has(r->replicas, r->nreplicas, r->insync[j]));
        for (int j = 0; j < r->nreplicas; j++) {
            CHECK(alive(s, r->replicas[j]));
            for (int k = j + 1; k < r->nreplicas; k++)
                CHECK(strcmp(r->replicas[j], r->replicas[k]));
        }
    }
}

static void check_balanced(sim *s) {
    int minr = 1 << 30, maxr = -1, minl = 1 << 30, maxl = -1;
    for (size_t i = 0; i < s->nn; i++) {
        if (!s->n[i].alive || s->n[i].drain) continue;
        int r, l;
        holdings(s, s->n[i].uuid, &r, &l);
        minr = DS_MIN(minr, r), maxr = DS_MAX(maxr, r);
        minl = DS_MIN(minl, l), maxl = DS_MAX(maxl, l);
    }
    if (maxr - minr > 1) T_FAIL("replicas per node %d..%d", minr, maxr);
    if (maxl - minl > 1) {
        for (size_t i = 0; i < s->nn; i++) {
            int r, l;
            holdings(s, s->n[i].uuid, &r, &l);
            fprintf(stderr, "  node %.3s: %d replicas, %d leaders\n", s->n[i].uuid, r, l);
        }
        for (size_t i = 0; i < s->nr; i++) {
            fprintf(stderr, "  range %s/%u leader %.3s replicas", s->r[i].table, s->r[i].low,
                    s->r[i].leader);
            for (int j = 0; j < s->r[i].nreplicas; j++)
                fprintf(stderr, " %.3s", s->r[i].replicas[j]);
            fprintf(stderr, "\n");
        }
        T_FAIL("leaders per node %d..%d", minl, maxl);
    }
}

/* ---- creation ------------------------------------------------------------ */

TEST(new_table_gets_equal_slices_on_rf_nodes_with_balanced_leaders) {
    sim s;
    sim_init(&s, 3);
    add_table(&s, "acme", "orders", 7);
    control_change *c;
    size_t n = plan(&s, &c);
    CHECK_EQ_INT(n, 8);
    uint64_t next = 0;
    int leads[3] = {0};
    for (size_t i = 0; i < n; i++) {
        CHECK_EQ_INT(c[i].kind, CONTROL_CREATE);
        range_rec *r = &c[i].nw;
        CHECK_EQ_STR(r->tenant, "acme");
        CHECK_EQ_STR(r->table, "orders");
        CHECK_EQ_INT(r->table_id, 7);
        CHECK_EQ_INT(r->low, next);
        CHECK_EQ_INT((uint64_t)r->high - r->low + 1, 1ULL << 29);
        next = (uint64_t)r->high + 1;
        CHECK_EQ_INT(r->nreplicas, 3);
        CHECK_EQ_INT(r->ninsync, 3); /* empty at creation: all in sync */
        CHECK_EQ_INT(r->epoch, 1);
        CHECK_EQ_STR(r->replicas[0], r->leader);
        for (int k = 0; k < 3; k++)
            if (!strcmp(r->leader, U(&s, k))) {
                leads[k]++;
                CHECK_EQ_STR(r->uri, node(&s, k)->uri);
            }
    }
    CHECK_EQ_INT(next, 1ULL << 32);
    for (int k = 0; k < 3; k++)
        CHECK(leads[k] == 2 || leads[k] == 3);
    apply(&s, c, n);
    ds_free(c);
    CHECK_EQ_INT(converge(&s, 10), 1); /* nothing more to do */
}

TEST(replication_is_capped_by_live_nodes_and_grows_when_nodes_join) {
    sim s;
    sim_init(&s, 3);
    node(&s, 1)->alive = node(&s, 2)->alive = 0;
    node(&s, 1)->dead_ms = node(&s, 2)->dead_ms = 1000000;
    s.o.ranges_per_table = 4;
    add_table(&s, "t", "x", 1);
    converge(&s, 10);
    CHECK_EQ_INT(s.nr, 4);
    for (size_t i = 0; i < s.nr; i++)
        CHECK_EQ_INT(s.r[i].nreplicas, 1);
    node(&s, 1)->alive = node(&s, 2)->alive = 1;
    node(&s, 1)->dead_ms = node(&s, 2)->dead_ms = 0;
    converge(&s, 50);
    check_sound(&s, 3);
    check_balanced(&s);
}

TEST(no_live_node_is_an_alarm_not_a_range) {
    sim s;
    sim_init(&s, 1);
    node(&s, 0)->alive = 0;
    add_table(&s, "t", "x", 1);
    control_change *c;
    size_t n = plan(&s, &c);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(c[0].kind, CONTROL_ALARM);
    CHECK(c[0].alarm);
    ds_free(c);
}

TEST(gaps_are_filled_with_one_range_each) {
    sim s;
    sim_init(&s, 3);
    s.o.ranges_per_table = 4;
    add_table(&s, "t", "x", 1);
    converge(&s, 10);
    /* lose the second and the last range */
    range_rec keep[2] = {s.r[0], s.r[2]};
    for (size_t i = 0; i < s.nr; i++) {
        if (s.r[i].low == 0) keep[0] = s.r[i];
        if (s.r[i].low == 2u << 30) keep[1] = s.r[i];
    }
    s.nr = 2;
    s.r[0] = keep[0], s.r[1] = keep[1];
    control_change *c;
    size_t n = plan(&s, &c);
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(c[0].kind, CONTROL_CREATE);
    CHECK_EQ_INT(c[0].nw.low, 1u << 30);
    CHECK_EQ_INT(c[0].nw.high, (2u << 30) - 1);
    CHECK_EQ_INT(c[1].nw.low, 3u << 30);
    CHECK_EQ_INT(c[1].nw.high, 0xffffffffu);
    ds_free(c);
}

/* ---- drops ----------------------------------------------------------------- */

TEST(dropped_table_ranges_are_deleted_and_a_namesake_waits) {
    sim s;
    sim_init(&s, 3);
    s.o.ranges_per_table = 2;
    add_table(&s, "t", "x", 1);
    add_table(&s, "t", "y", 2);
    converge(&s, 10);
    CHECK_EQ_INT(s.nr, 4);
    /* y dropped; x dropped and created again with a new id */
    s.nt = 1;
    s.tables[0].id = 3;
    control_change *c;
    size_t n = plan(&s, &c);
    CHECK_EQ_INT(n, 4);
    for (size_t i = 0; i < n; i++)
        CHECK_EQ_INT(c[i].kind, CONTROL_DELETE);
    apply(&s, c, n);
    ds_free(c);
    CHECK_EQ_INT(s.nr, 0);
    n = plan(&s, &c);
    CHECK_EQ_INT(n, 2);
    for (size_t i = 0; i < n; i++) {
        CHECK_EQ_INT(c[i].kind, CONTROL_CREATE);
        CHECK_EQ_INT(c[i].nw.table_id, 3);
    }
    ds_free(c);
}

/* ---- failures -------------------------------------------------------------- */

static range_rec *first_led_by(sim *s, const char *u) {
    for (size_t i = 0; i < s->nr; i++)
        if (!strcmp(s->r[i].leader, u)) return &s->r[i];
    return NULL;
}

TEST(dead_leader_is_replaced_by_a_live_in_sync_replica_with_a_new_epoch) {
    sim s;
    sim_init(&s, 3);
    add_table(&s, "t", "x", 1);
    converge(&s, 10);
    range_rec before = *first_led_by(&s, U(&s, 0));
    node(&s, 0)->alive = 0;
    control_change *c;
    size_t n = plan(&s, &c);
    int led_before = 0;
    for (size_t i = 0; i < s.nr; i++)
        led_before += !strcmp(s.r[i].leader, U(&s, 0));
    CHECK_EQ_INT(n, s.nr); /* every range: a failover or a fencing */
    int failovers = 0;
    for (size_t i = 0; i < n; i++) {
        CHECK_EQ_INT(c[i].kind, CONTROL_UPDATE);
        range_rec *o = &c[i].old, *w = &c[i].nw;
        CHECK(!range_has(w->insync, w->ninsync, U(&s, 0)));
        CHECK(range_has(w->replicas, w->nreplicas, U(&s, 0))); /* it may come back */
        if (!strcmp(o->leader, U(&s, 0))) {
            failovers++;
            CHECK(strcmp(w->leader, U(&s, 0)));
            CHECK(range_has(o->insync, o->ninsync, w->leader));
            CHECK_EQ_INT(w->epoch, o->epoch + 1);
            const char *uri = !strcmp(w->leader, U(&s, 1)) ? node(&s, 1)->uri : node(&s, 2)->uri;
            CHECK_EQ_STR(w->uri, uri);
        } else {
            CHECK_EQ_STR(w->leader, o->leader);
            CHECK_EQ_INT(w->epoch, o->epoch);
        }
        if (o->low == before.low) CHECK(strcmp(w->leader, U(&s, 0)));
    }
    CHECK_EQ_INT(failovers, led_before);
    apply(&s, c, n);
    ds_free(c);
    /* within the grace period nothing else happens (3 nodes: no spare anyway) */
    CHECK_EQ_INT(converge(&s, 10), 1);
    /* the node returns: the leaders catch it up (catch_up), all back in sync */
    node(&s, 0)->alive = 1;
    converge(&s, 30);
    check_sound(&s, 3);
    for (size_t i = 0; i < s.nr; i++)
        CHECK_EQ_INT(s.r[i].ninsync, 3);
    check_balanced(&s); /* leaders given back */
}

TEST(leader_without_a_live_in_sync_replica_stays_leaderless) {
    sim s;
    sim_init(&s, 3);
    s.o.ranges_per_table = 1;
    add_table(&s, "t", "x", 1);
    converge(&s, 10);
    range_rec *r = &s.r[0];
    /* the followers fell behind earlier: only the leader is in sync */
    r->ninsync = 0;
    range_add(r->insync, &r->ninsync, r->leader);
    for (size_t i = 0; i < 3; i++)
        if (!strcmp(s.n[i].uuid, r->leader)) s.n[i].alive = 0;
    control_change *c;
    size_t n = plan(&s, &c);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(c[0].kind, CONTROL_ALARM);
    CHECK(c[0].alarm);
    CHECK(strstr(c[0].why, "LEADERLESS") != NULL);
    ds_free(c);
}

TEST(dead_follower_leaves_in_sync_at_once_and_replicas_only_when_replaced) {
    sim s;
    sim_init(&s, 4);
    s.o.ranges_per_table = 2;
    add_table(&s, "t", "x", 1);
    node(&s, 3)->alive = 0; /* not there at creation */
    node(&s, 3)->dead_ms = 1000000;
    converge(&s, 10);
    node(&s, 3)->alive = 1;
    node(&s, 3)->dead_ms = 0;
    /* a follower of range 0 dies */
    range_rec *r = &s.r[0];
    int victim = -1;
    for (int i = 0; i < 3; i++)
        if (strcmp(U(&s, i), r->leader) && range_has(r->replicas, r->nreplicas, U(&s, i)))
            victim = i;
    CHECK(victim >= 0);
    node(&s, victim)->alive = 0;
    node(&s, victim)->dead_ms = 1000;
    control_change *c;
    size_t n = plan(&s, &c);
    int saw = 0;
    for (size_t i = 0; i < n; i++) {
        if (c[i].kind != CONTROL_UPDATE) continue;
        if (!range_has(c[i].old.replicas, c[i].old.nreplicas, U(&s, victim))) continue;
        saw++;
        CHECK(!range_has(c[i].nw.insync, c[i].nw.ninsync, U(&s, victim)));
        CHECK(range_has(c[i].nw.replicas, c[i].nw.nreplicas, U(&s, victim)));
        CHECK_EQ_INT(c[i].nw.nreplicas, c[i].old.nreplicas); /* no replacement yet */
    }
    CHECK(saw >= 1);
    apply(&s, c, n);
    ds_free(c);
    CHECK_EQ_INT(converge(&s, 10), 1); /* grace: wait */
    node(&s, victim)->dead_ms = 20000; /* past the grace period: replace */
    n = plan(&s, &c);
    saw = 0;
    for (size_t i = 0; i < n; i++) {
        if (c[i].kind != CONTROL_UPDATE) continue;
        saw++;
        CHECK(range_has(c[i].nw.replicas, c[i].nw.nreplicas, U(&s, 3)));
        CHECK(!range_has(c[i].nw.insync, c[i].nw.ninsync, U(&s, 3))); /* joins by catching up */
    }
    CHECK(saw >= 1);
    apply(&s, c, n);
    ds_free(c);
    catch_up(&s);
    converge(&s, 20);
    for (size_t i = 0; i < s.nr; i++)
        CHECK(!range_has(s.r[i].replicas, s.r[i].nreplicas, U(&s, victim)));
    s.n[victim] = s.n[--s.nn]; /* forgotten */
    check_sound(&s, 3);
}

TEST(leader_uri_follows_its_node) {
    sim s;
    sim_init(&s, 3);
    s.o.ranges_per_table = 1;
    add_table(&s, "t", "x", 1);
    converge(&s, 10);
    for (int i = 0; i < 3; i++)
        if (!strcmp(U(&s, i), s.r[0].leader))
            snprintf(node(&s, i)->uri, 256, "http://127.0.0.1:9999/");
    control_change *c;
    size_t n = plan(&s, &c);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_STR(c[0].nw.uri, "http://127.0.0.1:9999/");
    CHECK_EQ_INT(c[0].nw.epoch, c[0].old.epoch);
    ds_free(c);
}

/* ---- growth, drain --------------------------------------------------------- */

static int moving(sim *s) {
    int m = 0;
    for (size_t i = 0; i < s->nr; i++)
        m += s->r[i].nreplicas > 3 || s->r[i].ninsync < s->r[i].nreplicas;
    return m;
}

TEST(new_node_gets_its_share_two_moves_at_a_time) {
    sim s;
    sim_init(&s, 4);
    add_table(&s, "t", "x", 1);
    add_table(&s, "t", "y", 2);
    node(&s, 3)->alive = 0;
    node(&s, 3)->dead_ms = 1000000;
    converge(&s, 10);
    int r, l;
    holdings(&s, U(&s, 3), &r, &l);
    CHECK_EQ_INT(r, 0);
    node(&s, 3)->alive = 1;
    node(&s, 3)->dead_ms = 0;
    for (int pass = 0; pass < 200; pass++) {
        control_change *c;
        size_t n = plan(&s, &c);
        int applied = apply(&s, c, n);
        ds_free(c);
        CHECK(moving(&s) <= 2);
        for (size_t i = 0; i < s.nr; i++)
            CHECK(s.r[i].ninsync >= 3); /* never below RF in sync */
        if (!catch_up(&s) && !applied) break;
    }
    check_sound(&s, 3);
    check_balanced(&s);
    holdings(&s, U(&s, 3), &r, &l);
    CHECK(r >= 11 && r <= 13); /* 48 replicas over 4 nodes */
    CHECK(l >= 3 && l <= 5);   /* 16 leaders over 4 nodes */
}

TEST(drained_node_ends_up_with_nothing) {
    sim s;
    sim_init(&s, 4);
    add_table(&s, "t", "x", 1);
    converge(&s, 50);
    check_balanced(&s);
    node(&s, 1)->drain = 1;
    int passes = 0;
    for (; passes < 300; passes++) {
        control_change *c;
        size_t n = plan(&s, &c);
        int applied = apply(&s, c, n);
        ds_free(c);
        for (size_t i = 0; i < s.nr; i++)
            CHECK(s.r[i].ninsync >= 3);
        if (!catch_up(&s) && !applied) break;
    }
    int r, l;
    holdings(&s, U(&s, 1), &r, &l);
    CHECK_EQ_INT(r, 0);
    CHECK_EQ_INT(l, 0);
    check_sound(&s, 3);
    check_balanced(&s);
}

TEST(drain_of_a_leader_moves_leadership_first) {
    sim s;
    sim_init(&s, 3);
    s.o.ranges_per_table = 1;
    add_table(&s, "t", "x", 1);
    converge(&s, 10);
    int li = -1;
    for (int i = 0; i < 3; i++)
        if (!strcmp(U(&s, i), s.r[0].leader)) li = i;
    node(&s, li)->drain = 1;
    control_change *c;
    size_t n = plan(&s, &c);
    CHECK_EQ_INT(n, 1);
    CHECK(strcmp(c[0].nw.leader, U(&s, li)));
    CHECK_EQ_INT(c[0].nw.epoch, 2);
    CHECK(range_has(c[0].nw.replicas, c[0].nw.nreplicas, U(&s, li))); /* still a replica */
    apply(&s, c, n);
    ds_free(c);
    converge(&s, 10);
    /* 3 nodes, one draining: two replicas remain */
    CHECK(!range_has(s.r[0].replicas, s.r[0].nreplicas, U(&s, li)));
    CHECK_EQ_INT(s.r[0].nreplicas, 2);
}

TEST(node_restart_rejoins_without_a_replacement) {
    sim s;
    sim_init(&s, 3);
    add_table(&s, "t", "x", 1);
    converge(&s, 10);
    node(&s, 2)->alive = 0;
    node(&s, 2)->dead_ms = 100000; /* past the grace: still no spare node */
    converge(&s, 10);
    for (size_t i = 0; i < s.nr; i++) {
        CHECK(range_has(s.r[i].replicas, s.r[i].nreplicas, U(&s, 2)));
        CHECK(!range_has(s.r[i].insync, s.r[i].ninsync, U(&s, 2)));
    }
    node(&s, 2)->alive = 1;
    node(&s, 2)->dead_ms = 0;
    converge(&s, 20);
    check_sound(&s, 3);
    for (size_t i = 0; i < s.nr; i++)
        CHECK(range_has(s.r[i].insync, s.r[i].ninsync, U(&s, 2)));
}

TEST(replica_dead_past_forget_is_dropped_when_it_cannot_be_replaced) {
    sim s;
    sim_init(&s, 3);
    s.o.ranges_per_table = 2;
    add_table(&s, "t", "x", 1);
    converge(&s, 10);
    node(&s, 2)->alive = 0;
    node(&s, 2)->dead_ms = 400000;
    converge(&s, 10);
    for (size_t i = 0; i < s.nr; i++) {
        CHECK(!range_has(s.r[i].replicas, s.r[i].nreplicas, U(&s, 2)));
        CHECK_EQ_INT(s.r[i].nreplicas, 2);
    }
}

/* Random failures, returns, drains and joins: the rules hold at every step
 * (checked in apply), and a quiet cluster settles sound and balanced. */
TEST(random_churn_keeps_the_rules_and_settles) {
    sim s;
    sim_init(&s, 6);
    add_table(&s, "t", "x", 1);
    add_table(&s, "t", "y", 2);
    add_table(&s, "u", "z", 3);
    converge(&s, 50);
    unsigned seed = getenv("CHURN_SEED") ? (unsigned)atoi(getenv("CHURN_SEED")) : 12345;
    for (int round = 0; round < 300; round++) {
        seed = seed * 1103515245 + 12345;
        int who = (int)((seed >> 16) % s.nn), what = (int)((seed >> 8) % 10);
        control_node *n = node(&s, who);
        int live = 0;
        for (size_t i = 0; i < s.nn; i++)
            live += s.n[i].alive;
        if (what < 2 && n->alive && live > 4)
            n->alive = 0, n->dead_ms = 0;
        else if (what < 4 && !n->alive)
            n->alive = 1, n->dead_ms = 0;
        else if (what == 4)
            n->drain = !n->drain;
        for (size_t i = 0; i < s.nn; i++)
            if (!s.n[i].alive) s.n[i].dead_ms += 3000;
        control_change *c;
        size_t k = plan(&s, &c);
        apply(&s, c, k);
        ds_free(c);
        if ((seed >> 4) % 3) catch_up(&s);
    }
    for (size_t i = 0; i < s.nn; i++)
        s.n[i].alive = 1, s.n[i].drain = 0, s.n[i].dead_ms = 0;
    converge(&s, 500);
    check_sound(&s, 3);
    check_balanced(&s);
}

TEST(records_round_trip_through_rangemap_codec) {
    sim s;
    sim_init(&s, 3);
    s.o.ranges_per_table = 1;
    add_table(&s, "acme", "orders", 42);
    control_change *c;
    size_t n = plan(&s, &c);
    CHECK_EQ_INT(n, 1);
    ds_buf k = DS_BUF_INIT, v = DS_BUF_INIT;
    range_rec_key(&c[0].nw, &k);
    range_rec_value(&c[0].nw, &v);
    CHECK_EQ_STR(k.data, "tenant/acme/orders/0");
    range_rec back;
    CHECK_EQ_INT(range_rec_parse(k.data, k.len, v.data, v.len, &back), DS_OK);
    CHECK_EQ_INT(back.table_id, 42);
    CHECK_EQ_INT(back.high, 0xffffffffu);
    CHECK_EQ_STR(back.leader, c[0].nw.leader);
    CHECK_EQ_INT(back.nreplicas, 3);
    CHECK_EQ_INT(back.ninsync, 3);
    ds_buf_free(&k);
    ds_buf_free(&v);
    ds_free(c);
}

TEST_MAIN()

/* ctl.c -- dstorectl, the admin CLI (ARCHITECTURE.md "Names users see").
 *
 * The same binary as dstore, run under the name dstorectl (the build makes
 * build/dstorectl a link to build/dstore). It reads the cluster's state
 * from etcd (rangemap.h's records, control.h's control/leader and
 * control/config) and prints it for people, or as JSON with --json:
 *
 *   dstorectl [global options] node list
 *   dstorectl [global options] node add
 *   dstorectl [global options] node drain UUID [--no-wait] [--timeout S]
 *   dstorectl [global options] node undrain UUID
 *   dstorectl [global options] node remove UUID [--force]
 *   dstorectl [global options] range list [--tenant T] [--table T]
 *   dstorectl [global options] range split TENANT/TABLE LOWHASH [--at HASH]
 *   dstorectl [global options] status
 *   dstorectl [global options] tenant list | create NAME | drop NAME --yes
 *   dstorectl [global options] table list [--tenant T]
 *
 * Global options: --etcd URL (or DSTORE_ETCD), --etcd-prefix P (or
 * DSTORE_ETCD_PREFIX), --json; the tenant and table commands also need the
 * cluster key, --cluster-key FILE (or DSTORE_CLUSTER_KEY), since tenant
 * records are sealed under a key derived from it (control/meta.h). They may
 * come anywhere on the line.
 *
 * The commands that change the cluster only write what the control plane
 * acts on (node/{uuid}/drain) or remove what it no longer needs
 * (node/{uuid}/...); placement itself is the control plane's (control.h).
 * Exit status: 0 done, 1 failed or refused, 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cluster/peer.h"
#include "cluster/rangemap.h"
#include "common/json.h"
#include "control/etcd.h"
#include "control/meta.h"
#include "crypto/crypto.h"

/* ---- the cluster's state, as read from etcd ------------------------------- */

typedef struct node_row {
    char uuid[64];
    char uri[512];
    char status[32];
    char version[32];
    long long started_ms;
    int registered; /* node/{uuid}/details exists */
    int drain;      /* node/{uuid}/drain exists */
    int replicas, leaders, insync;
} node_row;

typedef struct state {
    node_row *nodes;
    size_t nn, ncap;
    range_rec *ranges;
    size_t nr, rcap;
    int bad_ranges;   /* records that did not parse */
    char leader[128]; /* control/leader ("" if none) */
    int rf;           /* control/config's replicationFactor (3 if unknown) */
    int64_t rev;
} state;

static node_row *row_of(state *s, const char *uuid, size_t ulen) {
    for (size_t i = 0; i < s->nn; i++)
        if (strlen(s->nodes[i].uuid) == ulen && !memcmp(s->nodes[i].uuid, uuid, ulen))
            return &s->nodes[i];
    if (ulen >= sizeof s->nodes[0].uuid) return NULL;
    if (s->nn == s->ncap) {
        s->ncap = s->ncap ? s->ncap * 2 : 8;
        s->nodes = ds_realloc(s->nodes, s->ncap * sizeof *s->nodes);
    }
    node_row *r = &s->nodes[s->nn++];
    memset(r, 0, sizeof *r);
    memcpy(r->uuid, uuid, ulen);
    snprintf(r->status, sizeof r->status, "down");
    return r;
}

static int collect_node(const char *key, size_t klen, const char *val, size_t vlen, int64_t rev,
                        void *ud) {
    (void)rev;
    state *s = ud;
    /* node/{uuid}/details, node/{uuid}/drain */
    if (klen < 6 || memcmp(key, "node/", 5)) return 0;
    const char *u = key + 5, *end = key + klen;
    const char *slash = memchr(u, '/', (size_t)(end - u));
    if (!slash || slash == u) return 0;
    size_t rl = (size_t)(end - slash - 1);
    int details = rl == 7 && !memcmp(slash + 1, "details", 7);
    int drain = rl == 5 && !memcmp(slash + 1, "drain", 5);
    if (!details && !drain) return 0;
    node_row *r = row_of(s, u, (size_t)(slash - u));
    if (!r) return 0;
    if (drain) {
        r->drain = 1;
        return 0;
    }
    r->registered = 1;
    snprintf(r->status, sizeof r->status, "unreadable");
    ds_arena *a = ds_arena_new(1024);
    json_value *j;
    char err[64];
    if (json_parse(a, val, vlen, 0, &j, err, sizeof err) == DS_OK) {
        const json_value *v;
        if ((v = json_get(j, "uri")) && v->type == JSON_STRING)
            snprintf(r->uri, sizeof r->uri, "%s", v->u.str.s);
        if ((v = json_get(j, "status")) && v->type == JSON_STRING)
            snprintf(r->status, sizeof r->status, "%s", v->u.str.s);
        if ((v = json_get(j, "version")) && v->type == JSON_STRING)
            snprintf(r->version, sizeof r->version, "%s", v->u.str.s);
        if ((v = json_get(j, "started")) && v->type == JSON_NUMBER)
            r->started_ms = atoll(v->u.str.s);
    }
    ds_arena_free(a);
    return 0;
}

static int collect_range(const char *key, size_t klen, const char *val, size_t vlen, int64_t rev,
                         void *ud) {
    state *s = ud;
    if (s->nr == s->rcap) {
        s->rcap = s->rcap ? s->rcap * 2 : 64;
        s->ranges = ds_realloc(s->ranges, s->rcap * sizeof *s->ranges);
    }
    if (range_rec_parse(key, klen, val, vlen, &s->ranges[s->nr])) {
        s->bad_ranges++;
        return 0;
    }
    s->ranges[s->nr++].mod_rev = rev;
    return 0;
}

static int cmp_range(const void *a, const void *b) {
    const range_rec *x = a, *y = b;
    int c = strcmp(x->tenant, y->tenant);
    if (!c) c = strcmp(x->table, y->table);
    if (!c) c = x->low < y->low ? -1 : x->low > y->low;
    return c;
}

static int cmp_node(const void *a, const void *b) {
    return strcmp(((const node_row *)a)->uuid, ((const node_row *)b)->uuid);
}

static int is_up(state *s, const char *uuid) {
    for (size_t i = 0; i < s->nn; i++)
        if (!strcmp(s->nodes[i].uuid, uuid)) return s->nodes[i].registered;
    return 0;
}

static void state_free(state *s) {
    ds_free(s->nodes);
    ds_free(s->ranges);
    memset(s, 0, sizeof *s);
}

/* Reads nodes, ranges, the control plane's leader and config. */
static int load_state(etcd *e, state *s, char *err, size_t errlen) {
    memset(s, 0, sizeof *s);
    s->rf = 3;
    int rc = etcd_range(e, "node/", 5, collect_node, s, &s->rev);
    if (!rc) rc = etcd_range(e, "tenant/", 7, collect_range, s, NULL);
    if (rc) {
        state_free(s);
        return ds_seterr(err, errlen, rc, "reading the cluster from etcd: %s", ds_strerror(rc));
    }
    ds_buf b = DS_BUF_INIT;
    if (etcd_get(e, "control/leader", 14, &b, NULL) == DS_OK)
        snprintf(s->leader, sizeof s->leader, "%.*s", (int)b.len, b.data);
    ds_buf_reset(&b);
    if (etcd_get(e, "control/config", 14, &b, NULL) == DS_OK) {
        ds_arena *a = ds_arena_new(512);
        json_value *j;
        char jerr[64];
        const json_value *v;
        if (json_parse(a, b.data, b.len, 4, &j, jerr, sizeof jerr) == DS_OK &&
            (v = json_get(j, "replicationFactor")) && v->type == JSON_NUMBER &&
            atoi(v->u.str.s) > 0)
            s->rf = atoi(v->u.str.s);
        ds_arena_free(a);
    }
    ds_buf_free(&b);
    /* what each node holds; nodes named only by ranges appear as "down" */
    for (size_t i = 0; i < s->nr; i++) {
        range_rec *r = &s->ranges[i];
        for (int j = 0; j < r->nreplicas; j++) {
            node_row *n = row_of(s, r->replicas[j], strlen(r->replicas[j]));
            if (!n) continue;
            n->replicas++;
            n->insync += range_has(r->insync, r->ninsync, r->replicas[j]);
        }
        if (r->leader[0]) {
            node_row *n = row_of(s, r->leader, strlen(r->leader));
            if (n) n->leaders++;
        }
    }
    if (s->nr) qsort(s->ranges, s->nr, sizeof *s->ranges, cmp_range);
    if (s->nn) qsort(s->nodes, s->nn, sizeof *s->nodes, cmp_node);
    return DS_OK;
}

static node_row *find_node(state *s, const char *uuid) {
    for (size_t i = 0; i < s->nn; i++)
        if (!strcmp(s->nodes[i].uuid, uuid)) return &s->nodes[i];
    return NULL;
}

typedef struct range_health {
    int leaderless, under, moving;
} range_health;

/* Under-replicated: fewer live in-sync replicas than the replication factor
 * (also when the cluster has too few nodes to reach it). */
static void health(state *s, const range_rec *r, range_health *h) {
    memset(h, 0, sizeof *h);
    h->leaderless = !r->leader[0] || !is_up(s, r->leader);
    int live_sync = 0, live = 0;
    for (int i = 0; i < r->nreplicas; i++) {
        if (!is_up(s, r->replicas[i])) continue;
        live++;
        live_sync += range_has(r->insync, r->ninsync, r->replicas[i]);
    }
    h->under = live_sync < s->rf;
    h->moving = live > live_sync || r->nreplicas > s->rf;
}

/* ---- output helpers -------------------------------------------------------- */

static void jstr(ds_buf *b, const char *s) {
    json_write_string(b, s, strlen(s));
}

static void jlist(ds_buf *b, const char list[][RANGE_UUID_LEN], int n) {
    ds_buf_putc(b, '[');
    for (int i = 0; i < n; i++) {
        if (i) ds_buf_putc(b, ',');
        jstr(b, list[i]);
    }
    ds_buf_putc(b, ']');
}

static void short_list(char *out, size_t cap, const char list[][RANGE_UUID_LEN], int n) {
    size_t l = 0;
    out[0] = 0;
    for (int i = 0; i < n && l + 10 < cap; i++)
        l += (size_t)snprintf(out + l, cap - l, "%s%.8s", i ? "," : "", list[i]);
    if (!n) snprintf(out, cap, "-");
}

static void emit(ds_buf *b) {
    ds_buf_putc(b, '\n');
    fputs(b->data, stdout);
    fflush(stdout);
    ds_buf_free(b);
}

/* ---- node list --------------------------------------------------------------- */

static void print_node_json(ds_buf *b, const node_row *r) {
    ds_buf_puts(b, "{\"uuid\":");
    jstr(b, r->uuid);
    ds_buf_puts(b, ",\"uri\":");
    jstr(b, r->uri);
    ds_buf_puts(b, ",\"status\":");
    jstr(b, r->status);
    ds_buf_puts(b, ",\"version\":");
    jstr(b, r->version);
    ds_buf_printf(b,
                  ",\"started\":%lld,\"registered\":%s,\"draining\":%s,\"replicas\":%d,"
                  "\"inSync\":%d,\"leaders\":%d}",
                  r->started_ms, r->registered ? "true" : "false", r->drain ? "true" : "false",
                  r->replicas, r->insync, r->leaders);
}

static int node_list_cmd(etcd *e, int as_json) {
    state s;
    char err[256];
    if (load_state(e, &s, err, sizeof err)) {
        fprintf(stderr, "dstorectl: %s\n", err);
        return 1;
    }
    if (as_json) {
        ds_buf b = DS_BUF_INIT;
        ds_buf_puts(&b, "{\"nodes\":[");
        size_t k = 0;
        for (size_t i = 0; i < s.nn; i++) {
            if (!s.nodes[i].registered && !s.nodes[i].drain && !s.nodes[i].replicas) continue;
            if (k++) ds_buf_putc(&b, ',');
            print_node_json(&b, &s.nodes[i]);
        }
        ds_buf_puts(&b, "]}");
        emit(&b);
    } else {
        printf("%-36s  %-8s  %-8s  %-20s  %8s  %7s  %s\n", "NODE", "STATUS", "VERSION",
               "STARTED (UTC)", "REPLICAS", "LEADING", "URI");
        size_t shown = 0;
        for (size_t i = 0; i < s.nn; i++) {
            const node_row *r = &s.nodes[i];
            if (!r->registered && !r->drain && !r->replicas) continue;
            shown++;
            char when[32] = "-", status[48];
            time_t t = (time_t)(r->started_ms / 1000);
            struct tm tm;
            if (r->started_ms && gmtime_r(&t, &tm))
                strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
            snprintf(status, sizeof status, "%s%s", r->status, r->drain ? ",drain" : "");
            printf("%-36s  %-8s  %-8s  %-20s  %8d  %7d  %s\n", r->uuid, status,
                   r->version[0] ? r->version : "-", when, r->replicas, r->leaders,
                   r->uri[0] ? r->uri : "-");
        }
        printf("%zu node%s\n", shown, shown == 1 ? "" : "s");
    }
    state_free(&s);
    return 0;
}

/* ---- node add / drain / undrain / remove --------------------------------------- */

static int node_add_cmd(const char *endpoints, const char *prefix) {
    printf(
        "Nodes join a cluster by starting; there is nothing to register by hand.\n"
        "On the new machine, with a copy of the cluster key file (mode 0600):\n\n"
        "  dstore node --etcd %s --etcd-prefix %s \\\n"
        "      --data /var/lib/dstore --listen HOST:PORT --cluster-key /etc/dstore/cluster.key\n\n"
        "The node registers node/{uuid}/details on a lease; the control plane then moves\n"
        "replicas to it, a bounded number of ranges at a time, until every node holds\n"
        "about the same number. Watch it with `dstorectl node list` and `dstorectl status`.\n",
        endpoints, prefix);
    return 0;
}

static void node_key(ds_buf *k, const char *uuid, const char *leaf) {
    ds_buf_reset(k);
    ds_buf_printf(k, "node/%s/%s", uuid, leaf);
}

static int valid_uuid(const char *u) {
    size_t n = strlen(u);
    if (!n || n >= RANGE_UUID_LEN) return 0;
    for (size_t i = 0; i < n; i++)
        if (u[i] == '/' || (unsigned char)u[i] <= ' ') return 0;
    return 1;
}

/* Loads the cluster's state and finds node uuid in it; 0, or 1 after saying
 * why not (nothing to free then). */
static int load_node(etcd *e, const char *uuid, state *s, node_row **n) {
    char err[256];
    if (load_state(e, s, err, sizeof err)) {
        fprintf(stderr, "dstorectl: %s\n", err);
        return 1;
    }
    if (!(*n = find_node(s, uuid))) {
        fprintf(stderr, "dstorectl: no node %s in the cluster (see `dstorectl node list`)\n", uuid);
        state_free(s);
        return 1;
    }
    return 0;
}

static int node_drain_cmd(etcd *e, const char *uuid, int wait, int timeout_s, int as_json) {
    state s;
    node_row *n;
    if (load_node(e, uuid, &s, &n)) return 1;
    int had_leader = s.leader[0] != 0;
    state_free(&s);
    ds_buf k = DS_BUF_INIT;
    node_key(&k, uuid, "drain");
    int rc = etcd_put(e, k.data, k.len, "{\"drain\":true}", 14, 0, NULL);
    ds_buf_free(&k);
    if (rc) {
        fprintf(stderr, "dstorectl: cannot mark %s for draining: %s\n", uuid, ds_strerror(rc));
        return 1;
    }
    if (!as_json) {
        printf("node %s: draining (the control plane moves its replicas away)\n", uuid);
        if (!had_leader)
            printf("note: no control plane is running; the drain starts when one does\n");
    }
    int left = -1, leading = -1, status = 0;
    time_t deadline = timeout_s > 0 ? time(NULL) + timeout_s : 0;
    for (;;) {
        char err[256];
        if (load_state(e, &s, err, sizeof err)) {
            fprintf(stderr, "dstorectl: %s\n", err);
            return 1;
        }
        n = find_node(&s, uuid);
        int r = n ? n->replicas : 0, l = n ? n->leaders : 0;
        state_free(&s);
        if ((r != left || l != leading) && !as_json) {
            if (r)
                printf("node %s: %d replica%s left (%d leading)\n", uuid, r, r == 1 ? "" : "s", l);
            fflush(stdout);
        }
        left = r, leading = l;
        if (!r || !wait) break;
        if (deadline && time(NULL) >= deadline) {
            status = 1;
            if (!as_json)
                fprintf(stderr,
                        "dstorectl: %d replicas still on %s after %d s; the drain goes on "
                        "(run this again to watch it)\n",
                        r, uuid, timeout_s);
            break;
        }
        usleep(500 * 1000);
    }
    if (as_json) {
        ds_buf b = DS_BUF_INIT;
        ds_buf_puts(&b, "{\"node\":");
        jstr(&b, uuid);
        ds_buf_printf(&b, ",\"draining\":true,\"replicas\":%d,\"leaders\":%d,\"drained\":%s}", left,
                      leading, left ? "false" : "true");
        emit(&b);
    } else if (!left)
        printf("node %s: drained, it holds nothing; remove it with `dstorectl node remove %s`\n",
               uuid, uuid);
    else if (!wait)
        printf("node %s: %d replicas left; `dstorectl node list` shows the progress\n", uuid, left);
    return status;
}

static int node_undrain_cmd(etcd *e, const char *uuid, int as_json) {
    ds_buf k = DS_BUF_INIT;
    node_key(&k, uuid, "drain");
    int64_t n = 0;
    int rc = etcd_delete(e, k.data, k.len, 0, &n);
    ds_buf_free(&k);
    if (rc) {
        fprintf(stderr, "dstorectl: %s\n", ds_strerror(rc));
        return 1;
    }
    if (as_json)
        printf("{\"node\":\"%s\",\"draining\":false}\n", uuid);
    else
        printf("node %s: %s\n", uuid, n ? "no longer draining" : "was not draining");
    return 0;
}

static int node_remove_cmd(etcd *e, const char *uuid, int force, int as_json) {
    state s;
    node_row *n;
    if (load_node(e, uuid, &s, &n)) return 1;
    int replicas = n->replicas, leaders = n->leaders, up = n->registered;
    state_free(&s);
    if (replicas && !force) {
        fprintf(stderr,
                "dstorectl: node %s still holds %d replica%s (%d leading): drain it first "
                "(`dstorectl node drain %s`), or --force to remove it anyway (its replicas are "
                "then replaced as if it had died)\n",
                uuid, replicas, replicas == 1 ? "" : "s", leaders, uuid);
        return 1;
    }
    ds_buf k = DS_BUF_INIT;
    ds_buf_printf(&k, "node/%s/", uuid);
    int64_t gone = 0;
    int rc = etcd_delete(e, k.data, k.len, 1, &gone);
    ds_buf_free(&k);
    if (rc) {
        fprintf(stderr, "dstorectl: cannot remove %s: %s\n", uuid, ds_strerror(rc));
        return 1;
    }
    if (as_json)
        printf("{\"node\":\"%s\",\"removed\":true,\"keys\":%lld,\"replicas\":%d}\n", uuid,
               (long long)gone, replicas);
    else {
        printf("node %s: removed (%lld key%s)\n", uuid, (long long)gone, gone == 1 ? "" : "s");
        if (up)
            printf("note: the node was still running; stop it, or it serves on without being "
                   "part of the cluster's placement until it restarts\n");
    }
    return 0;
}

/* ---- range list ----------------------------------------------------------------- */

static int range_list_cmd(etcd *e, const char *tenant, const char *table, int as_json) {
    state s;
    char err[256];
    if (load_state(e, &s, err, sizeof err)) {
        fprintf(stderr, "dstorectl: %s\n", err);
        return 1;
    }
    ds_buf b = DS_BUF_INIT;
    if (as_json)
        ds_buf_puts(&b, "{\"ranges\":[");
    else
        printf("%-16s  %-20s  %-21s  %-8s  %5s  %-26s  %-26s  %s\n", "TENANT", "TABLE", "HASHES",
               "LEADER", "EPOCH", "REPLICAS", "IN SYNC", "STATE");
    size_t shown = 0;
    for (size_t i = 0; i < s.nr; i++) {
        const range_rec *r = &s.ranges[i];
        if (tenant && strcmp(r->tenant, tenant)) continue;
        if (table && strcmp(r->table, table)) continue;
        range_health h;
        health(&s, r, &h);
        const char *st = h.leaderless ? "LEADERLESS"
                         : h.under    ? "under-replicated"
                         : h.moving   ? "moving"
                                      : "ok";
        if (as_json) {
            if (shown) ds_buf_putc(&b, ',');
            ds_buf_puts(&b, "{\"tenant\":");
            jstr(&b, r->tenant);
            ds_buf_puts(&b, ",\"table\":");
            jstr(&b, r->table);
            ds_buf_printf(&b, ",\"tableId\":%llu,\"lowHash\":%u,\"highHash\":%u,\"leader\":",
                          (unsigned long long)r->table_id, r->low, r->high);
            jstr(&b, r->leader);
            ds_buf_puts(&b, ",\"uri\":");
            jstr(&b, r->uri);
            ds_buf_puts(&b, ",\"replicas\":");
            jlist(&b, r->replicas, r->nreplicas);
            ds_buf_puts(&b, ",\"inSync\":");
            jlist(&b, r->insync, r->ninsync);
            ds_buf_printf(&b, ",\"epoch\":%llu,\"state\":\"%s\"}", (unsigned long long)r->epoch,
                          st);
        } else {
            char hashes[32], reps[128], sync[128];
            snprintf(hashes, sizeof hashes, "%u-%u", r->low, r->high);
            short_list(reps, sizeof reps, r->replicas, r->nreplicas);
            short_list(sync, sizeof sync, r->insync, r->ninsync);
            printf("%-16s  %-20s  %-21s  %-8.8s  %5llu  %-26s  %-26s  %s\n", r->tenant, r->table,
                   hashes, r->leader[0] ? r->leader : "-", (unsigned long long)r->epoch, reps, sync,
                   st);
        }
        shown++;
    }
    if (as_json) {
        ds_buf_puts(&b, "]}");
        emit(&b);
    } else {
        ds_buf_free(&b);
        printf("%zu range%s\n", shown, shown == 1 ? "" : "s");
    }
    if (s.bad_ranges)
        fprintf(stderr, "dstorectl: %d range record%s could not be read\n", s.bad_ranges,
                s.bad_ranges == 1 ? "" : "s");
    state_free(&s);
    return 0;
}

/* ---- status ------------------------------------------------------------------------ */

static int status_cmd(etcd *e, const char *endpoints, int as_json) {
    int64_t rev = 0;
    int rc = etcd_ping(e, &rev);
    state s;
    memset(&s, 0, sizeof s);
    char err[256] = "";
    if (rc == DS_OK) rc = load_state(e, &s, err, sizeof err);
    size_t registered = 0, okay = 0, draining = 0, down = 0, tables = 0;
    size_t leaderless = 0, under = 0, moving = 0;
    for (size_t i = 0; i < s.nn; i++) {
        const node_row *n = &s.nodes[i];
        registered += n->registered;
        okay += n->registered && !strcmp(n->status, "okay");
        draining += n->drain;
        down += !n->registered && n->replicas > 0;
    }
    for (size_t i = 0; i < s.nr; i++) {
        range_health h;
        health(&s, &s.ranges[i], &h);
        leaderless += h.leaderless;
        under += h.under;
        moving += h.moving;
        if (!i || strcmp(s.ranges[i].tenant, s.ranges[i - 1].tenant) ||
            strcmp(s.ranges[i].table, s.ranges[i - 1].table))
            tables++;
    }
    if (as_json) {
        ds_buf b = DS_BUF_INIT;
        ds_buf_puts(&b, "{\"etcd\":");
        jstr(&b, endpoints);
        ds_buf_printf(&b,
                      ",\"reachable\":%s,\"revision\":%lld,\"nodes\":%zu,\"nodesOkay\":%zu,"
                      "\"nodesDraining\":%zu,\"nodesDown\":%zu,\"control\":",
                      rc == DS_OK ? "true" : "false", (long long)rev, registered, okay, draining,
                      down);
        if (s.leader[0])
            jstr(&b, s.leader);
        else
            ds_buf_puts(&b, "null");
        ds_buf_printf(&b,
                      ",\"replicationFactor\":%d,\"tables\":%zu,\"ranges\":%zu,"
                      "\"leaderless\":%zu,\"underReplicated\":%zu,\"moving\":%zu}",
                      s.rf ? s.rf : 3, tables, s.nr, leaderless, under, moving);
        emit(&b);
    } else if (rc == DS_OK) {
        printf("etcd      %s (revision %lld)\n", endpoints, (long long)rev);
        printf("control   %s\n", s.leader[0] ? s.leader
                                             : "none running (nothing is placed or "
                                               "failed over until one starts)");
        printf("nodes     %zu registered, %zu okay, %zu draining, %zu down holding replicas\n",
               registered, okay, draining, down);
        printf("ranges    %zu in %zu table%s, replication factor %d\n", s.nr, tables,
               tables == 1 ? "" : "s", s.rf);
        printf("          %zu leaderless, %zu under-replicated, %zu moving\n", leaderless, under,
               moving);
        if (leaderless)
            printf("WARNING   %zu range%s without a live leader: writes to them fail until an "
                   "in-sync replica returns (`dstorectl range list`)\n",
                   leaderless, leaderless == 1 ? "" : "s");
    } else
        printf("etcd      %s: unreachable (%s)\n", endpoints, err[0] ? err : ds_strerror(rc));
    state_free(&s);
    return rc == DS_OK ? 0 : 1;
}

/* ---- tenants and tables (control/meta.h's etcd backend) ------------------------ */

/* Opens the cluster's metadata as a proxy would (no engine, no replica). */
static int open_meta(etcd *e, const char *key_file, meta **out) {
    char err[512];
    uint8_t ck[32], nk[32];
    if (!key_file || !*key_file) {
        fprintf(stderr, "dstorectl: tenants and tables need the cluster key: --cluster-key FILE "
                        "(or DSTORE_CLUSTER_KEY)\n");
        return -1;
    }
    if (crypto_init()) {
        fprintf(stderr, "dstorectl: libgcrypt 1.10 or newer is required\n");
        return -1;
    }
    if (peer_load_key(key_file, 0, ck, err, sizeof err)) {
        fprintf(stderr, "dstorectl: %s\n", err);
        return -1;
    }
    crypto_random(nk, sizeof nk); /* a proxy's node key: never seals data */
    int rc = meta_open_etcd(e, NULL, NULL, nk, ck, out, err, sizeof err);
    memset(ck, 0, sizeof ck);
    if (rc) {
        fprintf(stderr, "dstorectl: cannot read the tenants: %s\n", err);
        return -1;
    }
    return 0;
}

typedef struct tenant_rows {
    meta *m;
    ds_buf *json;
    size_t n;
} tenant_rows;

static int print_tenant(const meta_tenant *t, void *ud) {
    tenant_rows *tr = ud;
    size_t tables = meta_tenant_table_count(tr->m, t);
    if (tr->json) {
        if (tr->n) ds_buf_putc(tr->json, ',');
        ds_buf_puts(tr->json, "{\"name\":");
        jstr(tr->json, t->name);
        ds_buf_puts(tr->json, ",\"accessKeyId\":");
        jstr(tr->json, t->access_key);
        ds_buf_printf(tr->json, ",\"created\":%lld,\"tables\":%zu}", (long long)t->created_ms,
                      tables);
    } else {
        char when[32] = "-";
        time_t ts = (time_t)(t->created_ms / 1000);
        struct tm tm;
        if (t->created_ms && gmtime_r(&ts, &tm))
            strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
        printf("%-32s  %-24s  %-20s  %zu\n", t->name, t->access_key, when, tables);
    }
    tr->n++;
    return 0;
}

static int tenant_cmd(etcd *e, const char *key_file, const char *verb, const char *name, int yes,
                      int as_json) {
    meta *m;
    if (open_meta(e, key_file, &m)) return 1;
    int status = 0;
    if (!strcmp(verb, "list")) {
        ds_buf b = DS_BUF_INIT;
        tenant_rows tr = {m, as_json ? &b : NULL, 0};
        if (as_json)
            ds_buf_puts(&b, "{\"tenants\":[");
        else
            printf("%-32s  %-24s  %-20s  %s\n", "TENANT", "ACCESS KEY", "CREATED (UTC)", "TABLES");
        meta_tenant_list(m, print_tenant, &tr);
        if (as_json) {
            ds_buf_puts(&b, "]}");
            emit(&b);
        } else
            printf("%zu tenant%s\n", tr.n, tr.n == 1 ? "" : "s");
    } else if (!strcmp(verb, "create")) {
        meta_tenant *t;
        int rc = meta_tenant_create(m, name, NULL, NULL, &t);
        if (rc) {
            fprintf(stderr, "dstorectl: cannot create tenant %s: %s\n", name,
                    rc == DS_EEXIST   ? "it exists"
                    : rc == DS_EINVAL ? "not a valid tenant name"
                                      : ds_strerror(rc));
            status = 1;
        } else {
            if (as_json) {
                ds_buf b = DS_BUF_INIT;
                ds_buf_puts(&b, "{\"name\":");
                jstr(&b, t->name);
                ds_buf_puts(&b, ",\"accessKeyId\":");
                jstr(&b, t->access_key);
                ds_buf_puts(&b, ",\"secretAccessKey\":");
                jstr(&b, t->secret);
                ds_buf_puts(&b, "}");
                emit(&b);
            } else
                printf("tenant %s created\naccess key  %s\nsecret key  %s  (shown once)\n", t->name,
                       t->access_key, t->secret);
            meta_tenant_release(t);
        }
    } else { /* drop */
        if (!yes) {
            fprintf(stderr,
                    "dstorectl: dropping tenant %s deletes its keys and every table: its "
                    "data becomes unreadable at once. Add --yes to do it.\n",
                    name);
            status = 1;
        } else {
            int rc = meta_tenant_drop(m, name, strlen(name));
            if (rc) {
                fprintf(stderr, "dstorectl: cannot drop tenant %s: %s\n", name,
                        rc == DS_ENOTFOUND ? "no such tenant" : ds_strerror(rc));
                status = 1;
            } else if (as_json)
                printf("{\"name\":\"%s\",\"dropped\":true}\n", name);
            else
                printf("tenant %s dropped\n", name);
        }
    }
    meta_close(m);
    return status;
}

typedef struct table_rows {
    state *s;
    ds_buf *json;
    size_t n;
} table_rows;

static void print_table(const meta_table *tb, void *ud) {
    table_rows *tr = ud;
    size_t nr = 0;
    for (size_t i = 0; i < tr->s->nr; i++)
        nr += tr->s->ranges[i].table_id == tb->id;
    if (tr->json) {
        if (tr->n) ds_buf_putc(tr->json, ',');
        ds_buf_puts(tr->json, "{\"tenant\":");
        jstr(tr->json, tb->tenant->name);
        ds_buf_puts(tr->json, ",\"table\":");
        jstr(tr->json, tb->name);
        ds_buf_printf(tr->json, ",\"id\":%llu,\"partitionKey\":", (unsigned long long)tb->id);
        jstr(tr->json, tb->pk_name);
        ds_buf_puts(tr->json, ",\"sortKey\":");
        if (tb->sk_type)
            jstr(tr->json, tb->sk_name);
        else
            ds_buf_puts(tr->json, "null");
        ds_buf_printf(tr->json, ",\"ranges\":%zu}", nr);
    } else
        printf("%-24s  %-32s  %8llu  %-24s  %zu\n", tb->tenant->name, tb->name,
               (unsigned long long)tb->id, tb->sk_type ? "hash+range" : "hash", nr);
    tr->n++;
}

typedef struct tenant_names {
    char (*v)[META_TENANT_MAX + 1];
    size_t n;
} tenant_names;

static int collect_tenant(const meta_tenant *t, void *ud) {
    tenant_names *tn = ud;
    tn->v = ds_realloc(tn->v, (tn->n + 1) * sizeof *tn->v);
    snprintf(tn->v[tn->n++], sizeof tn->v[0], "%s", t->name);
    return 0;
}

static int table_list_cmd(etcd *e, const char *key_file, const char *tenant, int as_json) {
    meta *m;
    if (open_meta(e, key_file, &m)) return 1;
    state s;
    char err[256];
    if (load_state(e, &s, err, sizeof err)) {
        fprintf(stderr, "dstorectl: %s\n", err);
        meta_close(m);
        return 1;
    }
    tenant_names tn = {0};
    meta_tenant_list(m, collect_tenant, &tn);
    ds_buf b = DS_BUF_INIT;
    table_rows tr = {&s, as_json ? &b : NULL, 0};
    if (as_json)
        ds_buf_puts(&b, "{\"tables\":[");
    else
        printf("%-24s  %-32s  %8s  %-24s  %s\n", "TENANT", "TABLE", "ID", "KEY", "RANGES");
    int status = 0, found = !tenant;
    for (size_t i = 0; i < tn.n; i++) {
        if (tenant && strcmp(tenant, tn.v[i])) continue;
        found = 1;
        meta_tenant *t = meta_tenant_get(m, tn.v[i], strlen(tn.v[i]));
        if (!t) continue;
        if (meta_table_list(m, t, NULL, 0, 100000, print_table, &tr))
            fprintf(stderr,
                    "dstorectl: tenant %s has more than 100000 tables; the rest are not "
                    "listed\n",
                    t->name);
        meta_tenant_release(t);
    }
    if (!found) {
        fprintf(stderr, "dstorectl: no tenant %s\n", tenant);
        status = 1;
    }
    if (as_json) {
        ds_buf_puts(&b, "]}");
        if (!status)
            emit(&b);
        else
            ds_buf_free(&b);
    } else if (!status)
        printf("%zu table%s\n", tr.n, tr.n == 1 ? "" : "s");
    ds_free(tn.v);
    state_free(&s);
    meta_close(m);
    return status;
}

/* ---- range split ---------------------------------------------------------------- */

/* Splits the range of TENANT/TABLE starting at low at `at` (default: the
 * middle of its span) through rangemap_split. */
static int range_split_cmd(etcd *e, const char *name, const char *low_s, const char *at_s,
                           int as_json) {
    const char *slash = strchr(name, '/');
    char *end;
    unsigned long long low = strtoull(low_s, &end, 10);
    if (!slash || slash == name || !slash[1] || *end || low > 0xFFFFFFFFull) {
        fprintf(stderr, "dstorectl: usage: range split TENANT/TABLE LOWHASH [--at HASH]\n");
        return 2;
    }
    unsigned long long at = 0;
    if (at_s) {
        at = strtoull(at_s, &end, 10);
        if (*end || !*at_s || at > 0xFFFFFFFFull) {
            fprintf(stderr, "dstorectl: --at takes a hash (0..4294967295)\n");
            return 2;
        }
    }
    for (int attempt = 0; attempt < 5; attempt++) {
        state s;
        char err[256];
        if (load_state(e, &s, err, sizeof err)) {
            fprintf(stderr, "dstorectl: %s\n", err);
            return 1;
        }
        const range_rec *r = NULL;
        for (size_t i = 0; i < s.nr && !r; i++)
            if (s.ranges[i].low == low && strlen(s.ranges[i].tenant) == (size_t)(slash - name) &&
                !strncmp(s.ranges[i].tenant, name, slash - name) &&
                !strcmp(s.ranges[i].table, slash + 1))
                r = &s.ranges[i];
        if (!r) {
            fprintf(stderr, "dstorectl: %s has no range starting at %llu (`dstorectl range list`)\n",
                    name, low);
            state_free(&s);
            return 1;
        }
        uint32_t mid = at_s ? (uint32_t)at : (uint32_t)(r->low + ((uint64_t)r->high - r->low + 1) / 2);
        if (mid <= r->low || mid > r->high) {
            fprintf(stderr, "dstorectl: cannot split %u-%u at %u (it must be in %u..%u)\n", r->low,
                    r->high, mid, r->low + (r->low < r->high), r->high);
            state_free(&s);
            return 1;
        }
        range_rec left, right;
        int rc = rangemap_split(e, r, mid, &left, &right);
        state_free(&s);
        if (rc == DS_ECONDITION) continue; /* changed meanwhile: read again */
        if (rc) {
            fprintf(stderr, "dstorectl: the split failed: %s\n", ds_strerror(rc));
            return 1;
        }
        if (as_json)
            printf("{\"split\":true,\"left\":[%u,%u],\"right\":[%u,%u],\"epoch\":%llu}\n", left.low,
                   left.high, right.low, right.high, (unsigned long long)left.epoch);
        else
            printf("split %s %u-%u into %u-%u and %u-%u (epoch %llu)\n", name, left.low, right.high,
                   left.low, left.high, right.low, right.high, (unsigned long long)left.epoch);
        return 0;
    }
    fprintf(stderr, "dstorectl: the range kept changing; try again\n");
    return 1;
}

/* ---- main ---------------------------------------------------------------------------- */

static void ctl_usage(FILE *out) {
    fprintf(
        out,
        "dstorectl %s -- the dStore cluster's admin CLI\n\n"
        "Usage: dstorectl [--etcd URL] [--etcd-prefix P] [--cluster-key FILE] [--json] COMMAND\n\n"
        "  node list                      nodes, what each holds, draining or down\n"
        "  node add                       how a node joins (it registers itself)\n"
        "  node drain UUID [--no-wait] [--timeout S]\n"
        "                                 move every replica off the node, showing progress\n"
        "  node undrain UUID              cancel a drain\n"
        "  node remove UUID [--force]     forget a node (refused while it holds replicas)\n"
        "  range list [--tenant T] [--table T]\n"
        "                                 ranges: hashes, leader, epoch, replicas, in-sync set\n"
        "  range split TENANT/TABLE LOWHASH [--at HASH]\n"
        "                                 split a range (default: in the middle); no data moves\n"
        "  status                         etcd, control plane, nodes, range health\n"
        "  tenant list                    tenants (needs the cluster key)\n"
        "  tenant create NAME             prints its access key and secret, once\n"
        "  tenant drop NAME --yes         deletes its keys and tables: its data is gone\n"
        "  table list [--tenant T]        tables, their key schema and ranges\n\n"
        "--etcd defaults to $DSTORE_ETCD or http://127.0.0.1:2379; --etcd-prefix to\n"
        "$DSTORE_ETCD_PREFIX or /dstore/; --cluster-key FILE to $DSTORE_CLUSTER_KEY.\n"
        "Output is for people; --json is for scripts.\n"
        "docs/cluster.md describes running a cluster.\n",
        DSTORE_VERSION);
}

int ctl_main(int argc, char **argv) {
    const char *endpoints = getenv("DSTORE_ETCD"), *prefix = getenv("DSTORE_ETCD_PREFIX");
    const char *key_file = getenv("DSTORE_CLUSTER_KEY");
    if (!endpoints || !*endpoints) endpoints = "http://127.0.0.1:2379";
    if (!prefix || !*prefix) prefix = "/dstore/";
    int as_json = 0, no_wait = 0, force = 0, timeout_s = 0, yes = 0;
    const char *tenant = NULL, *table = NULL, *at = NULL;
    const char *pos[4] = {0};
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "--json"))
            as_json = 1;
        else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            ctl_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--etcd") && more)
            endpoints = argv[++i];
        else if (!strcmp(a, "--etcd-prefix") && more)
            prefix = argv[++i];
        else if (!strcmp(a, "--no-wait"))
            no_wait = 1;
        else if (!strcmp(a, "--force"))
            force = 1;
        else if (!strcmp(a, "--yes"))
            yes = 1;
        else if (!strcmp(a, "--cluster-key") && more)
            key_file = argv[++i];
        else if (!strcmp(a, "--timeout") && more)
            timeout_s = atoi(argv[++i]);
        else if (!strcmp(a, "--at") && more)
            at = argv[++i];
        else if (!strcmp(a, "--tenant") && more)
            tenant = argv[++i];
        else if (!strcmp(a, "--table") && more) {
            /* --table T, or --table TENANT/T */
            table = argv[++i];
            const char *slash = strchr(table, '/');
            if (slash) {
                static char tn[128];
                snprintf(tn, sizeof tn, "%.*s", (int)(slash - table), table);
                tenant = tn;
                table = slash + 1;
            }
        } else if (!strncmp(a, "--", 2)) {
            fprintf(stderr, "dstorectl: unknown option %s (see --help)\n", a);
            return 2;
        } else if (npos < 4)
            pos[npos++] = a;
        else {
            ctl_usage(stderr);
            return 2;
        }
    }
#define IS(i, s) (npos > (i) && !strcmp(pos[i], s))
    enum {
        NONE,
        NODE_LIST,
        NODE_ADD,
        NODE_DRAIN,
        NODE_UNDRAIN,
        NODE_REMOVE,
        RANGE_LIST,
        RANGE_SPLIT,
        STATUS,
        TENANT,
        TABLE_LIST
    } cmd = NONE;
    if (IS(0, "node") && IS(1, "list") && npos == 2)
        cmd = NODE_LIST;
    else if (IS(0, "node") && IS(1, "add") && npos == 2)
        cmd = NODE_ADD;
    else if (IS(0, "node") && IS(1, "drain") && npos == 3)
        cmd = NODE_DRAIN;
    else if (IS(0, "node") && IS(1, "undrain") && npos == 3)
        cmd = NODE_UNDRAIN;
    else if (IS(0, "node") && IS(1, "remove") && npos == 3)
        cmd = NODE_REMOVE;
    else if (IS(0, "range") && IS(1, "list") && npos == 2)
        cmd = RANGE_LIST;
    else if (IS(0, "range") && IS(1, "split") && npos == 4)
        cmd = RANGE_SPLIT;
    else if (IS(0, "status") && npos == 1)
        cmd = STATUS;
    else if (IS(0, "tenant") && IS(1, "list") && npos == 2)
        cmd = TENANT;
    else if (IS(0, "tenant") && (IS(1, "create") || IS(1, "drop")) && npos == 3)
        cmd = TENANT;
    else if (IS(0, "table") && IS(1, "list") && npos == 2)
        cmd = TABLE_LIST;
#undef IS
    if (cmd == NONE) {
        ctl_usage(stderr);
        return 2;
    }
    if (npos == 3 && cmd != TENANT && cmd != RANGE_SPLIT && !valid_uuid(pos[2])) {
        fprintf(stderr, "dstorectl: \"%s\" is not a node uuid\n", pos[2]);
        return 2;
    }
    if (cmd == NODE_ADD) return node_add_cmd(endpoints, prefix);
    etcd *e;
    char err[512];
    if (etcd_open(endpoints, prefix, &e, err, sizeof err)) {
        fprintf(stderr, "dstorectl: cannot use etcd at %s: %s\n", endpoints, err);
        return 1;
    }
    int rc = 1;
    switch (cmd) {
    case NODE_LIST:
        rc = node_list_cmd(e, as_json);
        break;
    case NODE_DRAIN:
        rc = node_drain_cmd(e, pos[2], !no_wait, timeout_s, as_json);
        break;
    case NODE_UNDRAIN:
        rc = node_undrain_cmd(e, pos[2], as_json);
        break;
    case NODE_REMOVE:
        rc = node_remove_cmd(e, pos[2], force, as_json);
        break;
    case RANGE_LIST:
        rc = range_list_cmd(e, tenant, table, as_json);
        break;
    case RANGE_SPLIT:
        rc = range_split_cmd(e, pos[2], pos[3], at, as_json);
        break;
    case STATUS:
        rc = status_cmd(e, endpoints, as_json);
        break;
    case TENANT:
        rc = tenant_cmd(e, key_file, pos[1], pos[2], yes, as_json);
        break;
    case TABLE_LIST:
        rc = table_list_cmd(e, key_file, tenant, as_json);
        break;
    default:
        break;
    }
    etcd_close(e);
    return rc;
}

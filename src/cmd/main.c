/* main.c -- the dstore program: `dstore serve` runs proxy, node and control
 * plane in one process (the embedded default of ARCHITECTURE.md); `dstore
 * node`, `dstore proxy` and `dstore control` are the roles of a cluster
 * coordinated through etcd (docs/cluster.md).
 *
 * Start-up order, and the reverse at shutdown (SIGINT / SIGTERM):
 *   identities (DATA/node.id, DATA/control.id) -> RocksDB (DATA/db) ->
 *   the writer (replica) -> metadata (keys, tenants, tables) -> the
 *   development tenant and the admin token -> the HTTP loops -> (node)
 *   etcd and the node's registration on a lease -> (node, on a serve's
 *   directory) the import of its data (cluster/import.h).
 * A SIGKILL at any point loses nothing acknowledged: every acknowledged
 * write was synced to the write-ahead log first.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "cmd/alloc.h"
#include "cluster/cluster.h"
#include "cluster/control.h"
#include "cluster/import.h"
#include "cluster/peer.h"
#include "cluster/replication.h"
#include "cmd/config.h"
#include "control/etcd.h"
#include "control/registry.h"
#include "crypto/crypto.h"
#include "crypto/identity.h"

static void usage(FILE *out) {
    fprintf(out,
            "dstore %s -- a multi-tenant key/value datastore with a REST API and the DynamoDB "
            "API\n\n"
            "Usage:\n"
            "  dstore serve [options]   run everything in one process: both client APIs on\n"
            "                           --listen, data in --data\n"
            "  dstore node --etcd URL --cluster-key FILE --admin-token T [options]\n"
            "                           a data node of a cluster: holds the ranges the control\n"
            "                           plane gives it, replicates them, and serves both client\n"
            "                           APIs (registered as node/{uuid}/details on a lease)\n"
            "  dstore proxy --etcd URL --cluster-key FILE --admin-token T [options]\n"
            "                           both client APIs, each key sent to its range's leader\n"
            "  dstore control --etcd URL --cluster-key FILE [options]\n"
            "                           the control plane: places ranges, chooses leaders,\n"
            "                           moves ranges when nodes join, leave or drain\n"
            "  dstore version           print the version\n\n",
            DSTORE_VERSION);
    config_usage(out);
    fprintf(out, "\nExample:\n  dstore serve --listen 127.0.0.1:8000 --data ./data\n"
                 "  curl -u KEY:SECRET http://127.0.0.1:8000/v1/tenant/dev/table\n"
                 "\nThe REST API is described in docs/api-v1.md.\n");
}

static int split_listen(const char *listen, char *host, size_t hostlen, int *port) {
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen || (size_t)(colon - listen) >= hostlen) return -1;
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || p < 0 || p > 65535) return -1;
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = 0;
    *port = (int)p;
    return 0;
}

static int load_identity(const char *dir, const char *name, ds_identity *id) {
    char path[4200], err[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (identity_load_or_create(path, id, err, sizeof err)) {
        fprintf(stderr, "dstore: %s\n", err);
        return -1;
    }
    return 0;
}

/* The admin token: from the config, else DATA/admin.token, else a new one
 * saved there (0600). *origin says which, for the start-up lines. */
static int admin_token(ds_config *cfg, const char **origin) {
    *origin = "from the configuration";
    if (cfg->admin_token[0]) return 0;
    *origin = "in DATA/admin.token";
    char path[4200], err[512];
    snprintf(path, sizeof path, "%s/admin.token", cfg->data);
    FILE *f = fopen(path, "r");
    if (f) {
        struct stat st;
        if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077)) {
            fprintf(stderr, "dstore: %s is readable by others: chmod 600 it\n", path);
            fclose(f);
            return -1;
        }
        int ok = fgets(cfg->admin_token, sizeof cfg->admin_token, f) != NULL;
        fclose(f);
        cfg->admin_token[strcspn(cfg->admin_token, "\r\n")] = 0;
        if (ok && cfg->admin_token[0]) return 0;
    }
    *origin = NULL; /* made now: printed once */
    unsigned char r[24];
    crypto_random(r, sizeof r);
    ds_buf hex = DS_BUF_INIT;
    crypto_hex(&hex, r, sizeof r);
    snprintf(cfg->admin_token, sizeof cfg->admin_token, "%s", hex.data);
    ds_buf_free(&hex);
    if (identity_write_secret_file(path, cfg->admin_token, strlen(cfg->admin_token), err,
                                   sizeof err)) {
        fprintf(stderr, "dstore: %s\n", err);
        return -1;
    }
    return 0;
}

/* Secrets reach stdout only when the server made them, at the start that
 * made them; otherwise the start-up lines say where they are. */
static int dev_tenant(ds_config *cfg, meta *m) {
    meta_tenant *t = meta_tenant_get(m, "dev", 3);
    int show_secret = 0;
    if (!t) {
        show_secret = !cfg->dev_secret_key[0];
        int rc = meta_tenant_create(m, "dev", cfg->dev_access_key[0] ? cfg->dev_access_key : NULL,
                                    cfg->dev_secret_key[0] ? cfg->dev_secret_key : NULL, &t);
        if (rc == DS_EEXIST && (t = meta_tenant_get(m, "dev", 3))) /* another member won */
            rc = DS_OK, show_secret = 0;
        if (rc) {
            fprintf(stderr, "dstore: cannot create the development tenant: %s\n",
                    ds_strerror(rc));
            return -1;
        }
    } else if ((cfg->dev_access_key[0] && strcmp(cfg->dev_access_key, t->access_key)) ||
               (cfg->dev_secret_key[0] && strcmp(cfg->dev_secret_key, t->secret))) {
        ds_warn("the development tenant already exists with other credentials; keeping them");
    }
    if (show_secret)
        printf("dstore: development tenant \"dev\": access key %s, secret key %s (shown once)\n",
               t->access_key, t->secret);
    else
        printf("dstore: development tenant \"dev\": access key %s (secret as configured or as "
               "shown at its creation)\n", t->access_key);
    meta_tenant_release(t);
    return 0;
}

typedef enum { ROLE_SERVE, ROLE_NODE, ROLE_PROXY, ROLE_CONTROL } role;
static const char *role_names[] = {"serve", "node", "proxy", "control"};

/* Checks the flags a role needs. Returns 0, or 2 after saying what is wrong. */
static int check_role_flags(const ds_config *cfg, role ro) {
    const char *cmd = role_names[ro];
    if (ro == ROLE_SERVE) {
        if (cfg->etcd[0]) {
            fprintf(stderr, "dstore serve: runs without etcd; use `dstore node --etcd ...` to "
                            "join a cluster\n");
            return 2;
        }
        return 0;
    }
    if (!cfg->etcd[0]) {
        fprintf(stderr, "dstore %s: --etcd URL is required (the cluster's etcd endpoints)\n", cmd);
        return 2;
    }
    if (!cfg->cluster_key[0]) {
        fprintf(stderr, "dstore %s: --cluster-key FILE is required: the cluster's shared secret "
                        "(created 0600 by the first member if absent; give every member a copy)\n",
                cmd);
        return 2;
    }
    if (ro != ROLE_CONTROL && !cfg->admin_token[0]) {
        fprintf(stderr, "dstore %s: --admin-token is required in a cluster (every proxy and node "
                        "must accept the same admin token)\n", cmd);
        return 2;
    }
    return 0;
}

/* The cluster part of a node or proxy: etcd, the cluster key, metadata from
 * etcd, the range map. */
static int join_cluster(ds_config *cfg, role ro, const ds_identity *id, replica *r, engine *e,
                        cluster_member *c) {
    char err[1024];
    uint8_t ck[32];
    if (peer_load_key(cfg->cluster_key, 1, ck, err, sizeof err)) {
        fprintf(stderr, "dstore %s: %s\n", role_names[ro], err);
        return -1;
    }
    peer_init(ck);
    snprintf(c->uuid, sizeof c->uuid, "%s", id->uuid);
    c->replica = r;
    c->engine = e;
    c->rpc_timeout_ms = (int)cfg->replication_timeout;
    int rc = etcd_open(cfg->etcd, cfg->etcd_prefix, &c->etcd, err, sizeof err);
    if (!rc) rc = meta_open_etcd(c->etcd, e, r, id->key, ck, &c->meta, err, sizeof err);
    if (!rc) rc = rangemap_open(c->etcd, &c->map, err, sizeof err);
    crypto_wipe(ck, sizeof ck);
    if (rc) {
        fprintf(stderr, "dstore %s: cannot join the cluster at %s: %s\n", role_names[ro],
                cfg->etcd, err);
        return -1;
    }
    return 0;
}

/* meta's and the map's watches stop before etcd closes. */
static void leave_cluster(cluster_member *c) {
    rangemap_close(c->map);
    meta_close(c->meta);
    etcd_close(c->etcd);
    c->map = NULL, c->meta = NULL, c->etcd = NULL;
}

static sigset_t block_stop_signals(void) {
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    return stop;
}

/* `dstore control`: no HTTP port; runs until SIGINT/SIGTERM. */
static volatile sig_atomic_t control_stop;
static void *control_signal_thread(void *arg) {
    sigset_t *stop = arg;
    int sig;
    sigwait(stop, &sig);
    control_stop = 1;
    return NULL;
}

static int run_control(ds_config *cfg) {
    char err[1024];
    uint8_t ck[32];
    if (peer_load_key(cfg->cluster_key, 1, ck, err, sizeof err)) {
        fprintf(stderr, "dstore control: %s\n", err);
        return 1;
    }
    peer_init(ck);
    crypto_wipe(ck, sizeof ck);
    etcd *et;
    if (etcd_open(cfg->etcd, cfg->etcd_prefix, &et, err, sizeof err)) {
        fprintf(stderr, "dstore control: %s\n", err);
        return 1;
    }
    static sigset_t stop;
    stop = block_stop_signals();
    pthread_t th;
    pthread_create(&th, NULL, control_signal_thread, &stop);
    pthread_detach(th);
    control_opts o = {0};
    char uuid[37];
    identity_uuid_v4(uuid);
    o.uuid = uuid;
    o.ranges_per_table = (int)cfg->ranges_per_table;
    o.replication_factor = (int)cfg->replication_factor;
    o.lease_ttl = (int)cfg->lease_ttl;
    printf("dstore: control plane %s on %s\n", uuid, cfg->etcd);
    fflush(stdout);
    int rc = control_run(et, &o, &control_stop);
    etcd_close(et);
    return rc ? 1 : 0;
}

/* At --log-level debug, a thread logs every 10 s what the resident memory is
 * made of (bench/run.py's memory step reads these lines). Started by run()
 * at that level only, stopped before the engine closes. */
#define MEMLOG_INTERVAL_MS 10000
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    pthread_t th;
    engine *e; /* set once the engine is open; NULL on a proxy */
} memlog = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, NULL};

static double mib(uint64_t bytes) {
    return (double)bytes / (1 << 20);
}

/* One debug line: resident = block cache + item cache + memtables + the rest. */
static void memlog_line(engine *e) {
    long pages = 0, page = sysconf(_SC_PAGESIZE);
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%*s %ld", &pages) != 1) pages = 0;
        fclose(f);
    }
    uint64_t rss = (uint64_t)pages * (uint64_t)page;
    engine_memory m = {0};
    if (e) engine_memory_get(e, &m);
    alloc_stats as;
    alloc_get_stats(&as);
    uint64_t counted = m.cache + m.item_cache + m.memtables + m.table_readers;
    ds_debug("memory: resident %.1f MB = block cache %.1f + item cache %.1f + memtables %.1f + "
             "table readers %.1f + the rest %.1f MB; malloc: %.1f MB in use, %.1f MB free in its "
             "heap, %.1f MB mapped",
             mib(rss), mib(m.cache), mib(m.item_cache), mib(m.memtables), mib(m.table_readers),
             rss > counted ? mib(rss - counted) : -mib(counted - rss), mib(as.in_use),
             mib(as.free_resident), mib(as.mapped));
}

static void *memlog_main(void *arg) {
    (void)arg;
    pthread_setname_np(pthread_self(), "ds-memlog");
    pthread_mutex_lock(&memlog.mu);
    while (!memlog.stop) {
        struct timespec ts;
        ds_deadline(&ts, CLOCK_REALTIME, MEMLOG_INTERVAL_MS);
        pthread_cond_timedwait(&memlog.cv, &memlog.mu, &ts);
        if (!memlog.stop) memlog_line(memlog.e); /* under mu: e stays open */
    }
    pthread_mutex_unlock(&memlog.mu);
    return NULL;
}

/* Returns 1 if the thread runs (stop it with memlog_stop), else 0. */
static int memlog_start(void) {
    if (ds_log_level > DS_LOG_DEBUG) return 0;
    return pthread_create(&memlog.th, NULL, memlog_main, NULL) == 0;
}

static void memlog_set_engine(engine *e) {
    pthread_mutex_lock(&memlog.mu);
    memlog.e = e;
    pthread_mutex_unlock(&memlog.mu);
}

static void memlog_stop(void) {
    pthread_mutex_lock(&memlog.mu);
    memlog.stop = 1;
    pthread_cond_signal(&memlog.cv);
    pthread_mutex_unlock(&memlog.mu);
    pthread_join(memlog.th, NULL);
}

/* Runs `dstore serve`, `dstore node` or `dstore proxy`. */
static int run(int argc, char **argv, role ro) {
    const char *cmd = role_names[ro];
    ds_config cfg;
    char err[1024];
    if (config_load(&cfg, argc, argv, err, sizeof err)) {
        fprintf(stderr, "dstore %s: %s\n", cmd, err);
        return 2;
    }
    if (cfg.help) {
        usage(stdout);
        return 0;
    }
    int bad = check_role_flags(&cfg, ro);
    if (bad) return bad;
    static const char *levels[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(cfg.log_level, levels[i])) ds_log_level = i;
    if (strcmp(cfg.durability, "fsync") && strcmp(cfg.durability, "process")) {
        fprintf(stderr, "dstore %s: --durability must be fsync or process, not \"%s\"\n", cmd,
                cfg.durability);
        return 2;
    }
    if (crypto_init()) {
        fprintf(stderr, "dstore: libgcrypt 1.10 or newer is required (AES-256-GCM-SIV)\n");
        return 1;
    }
    if (ro == ROLE_CONTROL) return run_control(&cfg);
    char host[256];
    int port;
    if (split_listen(cfg.listen, host, sizeof host, &port)) {
        fprintf(stderr, "dstore %s: --listen must be HOST:PORT, not \"%s\"\n", cmd, cfg.listen);
        return 2;
    }
    int has_data = ro != ROLE_PROXY;
    if (has_data && mkdir(cfg.data, 0700) && errno != EEXIST) {
        fprintf(stderr, "dstore: cannot create %s: %s\n", cfg.data, strerror(errno));
        return 1;
    }
    if (has_data) chmod(cfg.data, 0700);

    /* Block the stop signals in every thread; main waits for them below. */
    sigset_t stop = block_stop_signals();
    int memlogging = memlog_start(); /* after the mask: the thread inherits it */

    int status = 1;
    ds_identity node_id, control_id;
    engine *e = NULL;
    replica *r = NULL;
    meta *m = NULL;
    router *rt = NULL;
    http_server *hs = NULL;
    api_ctx *ctx = NULL;
    registry *reg = NULL;
    import_job *imp = NULL;
    int import_pending = 0;
    cluster_member cm;
    memset(&cm, 0, sizeof cm);
    memset(&node_id, 0, sizeof node_id), memset(&control_id, 0, sizeof control_id);
    if (!has_data) { /* a proxy keeps nothing: a new identity every start */
        identity_uuid_v4(node_id.uuid);
        crypto_random(node_id.key, sizeof node_id.key);
    } else if (load_identity(cfg.data, "node.id", &node_id) ||
               (ro == ROLE_SERVE && load_identity(cfg.data, "control.id", &control_id)))
        goto out;
    if (has_data) {
        char dbdir[4200];
        snprintf(dbdir, sizeof dbdir, "%s/db", cfg.data);
        engine_opts eo = {.block_cache_bytes = cfg.cache_size,
                          .item_cache_bytes = cfg.item_cache_size ? cfg.item_cache_size
                                                                  : ENGINE_NO_ITEM_CACHE};
        if (engine_open(dbdir, &eo, &e, err, sizeof err)) {
            fprintf(stderr, "dstore: cannot open the store in %s: %s\n", dbdir, err);
            goto out;
        }
        memlog_set_engine(e);
        if (replica_start(e, &r)) {
            fprintf(stderr, "dstore: cannot start the writer thread\n");
            goto out;
        }
        replica_set_fsync(r, !strcmp(cfg.durability, "fsync"));
        if (strcmp(cfg.durability, "fsync"))
            printf("dstore: --durability %s: writes are acknowledged before they reach the disk\n",
                   cfg.durability);
    }
    if (ro == ROLE_NODE && import_prepare(cfg.data, e, cfg.import_serve_data, &import_pending,
                                          err, sizeof err)) {
        fprintf(stderr, "dstore node: %s\n", err);
        goto out;
    }
    const char *token_origin = "from the configuration";
    if (ro == ROLE_SERVE) {
        if (meta_open(e, r, node_id.key, node_id.uuid, control_id.key, &m, err, sizeof err)) {
            fprintf(stderr, "dstore: cannot load the metadata: %s\n", err);
            goto out;
        }
        identity_wipe(&control_id);
        if (admin_token(&cfg, &token_origin)) goto out;
        rt = router_local_new(r);
    } else {
        if (join_cluster(&cfg, ro, &node_id, r, e, &cm)) goto out;
        m = cm.meta;
        rt = router_remote_new(&cm);
    }
    if (dev_tenant(&cfg, m)) goto out;

    ctx = ds_calloc(1, sizeof *ctx);
    ctx->meta = m;
    ctx->router = rt;
    ctx->engine = e;
    ctx->cluster = ro == ROLE_NODE ? &cm : NULL;
    ctx->admin_token = cfg.admin_token;
    ctx->location = cfg.location;
    ctx->limits = (api_limits){cfg.max_inflight, cfg.max_memory, cfg.max_disk,
                               (int)cfg.retry_after};
    /* Replication's writer hooks are in place before any op can arrive:
     * an op committed without them would be acknowledged unreplicated. */
    if (ro == ROLE_NODE) {
        repl_opts ropts = {.timeout_ms = (int)cfg.replication_timeout,
                           .split_bytes = cfg.split_bytes};
        if (repl_start(&cm, &ropts, &cm.repl, err, sizeof err)) {
            fprintf(stderr, "dstore node: cannot start replication: %s\n", err);
            goto out;
        }
    }
    http_config hc = {0};
    hc.host = host;
    hc.port = port;
    hc.threads = (int)cfg.threads;
    /* A proxy's and a node's client loops block on calls to other nodes
     * (router_remote's reads): more loops than cores keep them serving. */
    if (ro != ROLE_SERVE && !hc.threads) hc.threads = 16;
    hc.handler = api_handle;
    hc.ud = ctx;
    if (http_server_start(&hc, &hs, err, sizeof err)) {
        fprintf(stderr, "dstore: cannot listen on %s: %s\n", cfg.listen, err);
        goto out;
    }
    ctx->http = hs;
    if (cfg.advertise[0]) snprintf(cm.uri, sizeof cm.uri, "%.250s", cfg.advertise);
    else snprintf(cm.uri, sizeof cm.uri, "http://%.200s:%d/", host, http_server_port(hs));
    printf("dstore: %s %s%s%s", ro == ROLE_PROXY ? "proxy" : "node", node_id.uuid,
           has_data ? ", data in " : "", has_data ? cfg.data : "");
    if (has_data)
        printf(", block cache %.0f MiB, item cache %.0f MiB", mib(cfg.cache_size),
               mib(cfg.item_cache_size));
    char alloc[96];
    alloc_describe(alloc, sizeof alloc);
    printf(", %s, GCM-SIV on %s\n", alloc, crypto_gcmsiv_impl(0)); /* item-sized texts */
    if (token_origin && !strcmp(token_origin, "in DATA/admin.token"))
        printf("dstore: admin token in %s/admin.token\n", cfg.data);
    else if (token_origin)
        printf("dstore: admin token %s\n", token_origin);
    else printf("dstore: admin token: %s (shown once; kept in %s/admin.token)\n", cfg.admin_token,
                cfg.data);
    if (ro == ROLE_NODE) {
        if (registry_join(cm.etcd, node_id.uuid, cm.uri, (int)cfg.lease_ttl, &reg, err,
                          sizeof err)) {
            fprintf(stderr, "dstore node: cannot join the cluster at %s: %s\n", cfg.etcd, err);
            goto out;
        }
        printf("dstore: node %s joined the cluster at %s as %s\n", node_id.uuid, cfg.etcd, cm.uri);
        if (import_pending && import_start(cfg.data, &cm, rt, &imp, err, sizeof err)) {
            fprintf(stderr, "dstore node: cannot import the serve's data: %s\n", err);
            goto out;
        }
        if (imp) printf("dstore: importing the serve's data from %s/import\n", cfg.data);
    }
    printf("dstore: listening on http://%s:%d\n", host, http_server_port(hs));
    fflush(stdout);

    int sig = 0;
    sigwait(&stop, &sig);
    if (r) {
        replica_stats rs;
        replica_get_stats(r, &rs);
        ds_info("signal %d: stopping; writer: %llu ops in %llu groups and %llu syncs, %llu ms "
                "evaluating, %llu ms committing",
                sig, (unsigned long long)rs.ops, (unsigned long long)rs.groups,
                (unsigned long long)rs.syncs,
                (unsigned long long)rs.eval_us / 1000, (unsigned long long)rs.commit_us / 1000);
    }
    status = 0;
out:
    import_stop(imp);    /* its writes in flight complete through the router */
    registry_leave(reg); /* first: the cluster stops sending us work */
    repl_stop(cm.repl);  /* held ops answer through their loops: before the loops stop */
    http_server_stop(hs);
    repl_free(cm.repl);
    router_free(rt);
    /* meta's watch may submit drops to the writer: it stops first */
    if (ro == ROLE_SERVE) meta_close(m);
    else leave_cluster(&cm);
    replica_stop(r); /* commits what is queued */
    if (memlogging) memlog_stop(); /* before the engine it reads closes */
    engine_close(e);
    ds_free(ctx);
    identity_wipe(&node_id);
    identity_wipe(&control_id);
    return status;
}

int ctl_main(int argc, char **argv); /* ctl.c: the program when run as dstorectl */

int main(int argc, char **argv) {
    const char *base = strrchr(argv[0], '/');
    if (!strcmp(base ? base + 1 : argv[0], "dstorectl")) return ctl_main(argc, argv);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (int ro = ROLE_SERVE; ro <= ROLE_CONTROL; ro++)
        if (!strcmp(argv[1], role_names[ro])) {
            alloc_setup();
            return run(argc - 2, argv + 2, (role)ro);
        }
    if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
        printf("dstore %s\n", DSTORE_VERSION);
        return 0;
    }
    fprintf(stderr, "dstore: unknown command \"%s\" (see dstore --help)\n", argv[1]);
    return 2;
}

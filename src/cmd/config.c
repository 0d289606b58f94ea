/* config.c -- flags, DSTORE_* environment variables and the config file,
 * from one table of options (see config.h). */
#include "cmd/config.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef enum { OPT_STR, OPT_LONG, OPT_SIZE, OPT_FLAG } opt_kind;

typedef struct option_def {
    const char *name;
    opt_kind kind;
    size_t offset, size;
    const char *def;
    const char *help;
} option_def;

#define STR(field) OPT_STR, offsetof(ds_config, field), sizeof(((ds_config *)0)->field)
#define NUM(kind, field) kind, offsetof(ds_config, field), 0

static const option_def options[] = {
    {"listen", STR(listen), "127.0.0.1:8000", "address to serve both client APIs on (HOST:PORT)"},
    {"data", STR(data), "./data", "directory holding all stored data and keys (mode 0700)"},
    {"config", STR(config), "", "config file of `key = value` lines"},
    {"admin-token", STR(admin_token), "",
     "Bearer token of the admin; generated at first start and kept in DATA/admin.token"},
    {"dev-access-key", STR(dev_access_key), "", "access key ID of the development tenant \"dev\""},
    {"dev-secret-key", STR(dev_secret_key), "", "secret access key of the development tenant"},
    {"location", STR(location), "NA", "location part of resource IDs (rid:dStore:T:LOCATION:...)"},
    {"log-level", STR(log_level), "info", "debug, info, warn or error"},
    {"durability", STR(durability), "fsync",
     "fsync: a write is acknowledged once synced to disk; process: once in the write-ahead log "
     "in the OS page cache (survives a crash of dstore, not of the machine)"},
    {"threads", NUM(OPT_LONG, threads), "0", "HTTP event-loop threads (0 = one per CPU)"},
    {"max-inflight", NUM(OPT_LONG, max_inflight), "4096",
     "requests handled at once; beyond it: 503 with Retry-After (0 = no limit)"},
    {"max-memory", NUM(OPT_SIZE, max_memory), "0",
     "resident memory above which writes get 503 (0 = no limit)"},
    {"max-disk", NUM(OPT_SIZE, max_disk), "0",
     "stored bytes above which writes get 503; reads and deletes go on (0 = no limit)"},
    {"cache-size", NUM(OPT_SIZE, cache_size), "256M", "RocksDB block cache"},
    {"item-cache-size", NUM(OPT_SIZE, item_cache_size), "32M",
     "recently read items (up to 2 KiB each) and index entries, checked before RocksDB (0 = none)"},
    {"retry-after", NUM(OPT_LONG, retry_after), "1", "seconds, sent with every 503"},
    {"etcd", STR(etcd), "", "etcd endpoints, comma-separated (cluster roles: node, proxy, control)"},
    {"etcd-prefix", STR(etcd_prefix), "/dstore/", "the cluster's key prefix in etcd"},
    {"advertise", STR(advertise), "",
     "the URL other components reach this node at (default: http://LISTEN/)"},
    {"lease-ttl", NUM(OPT_LONG, lease_ttl), "10",
     "seconds without a keep-alive after which etcd forgets this node"},
    {"cluster-key", STR(cluster_key), "",
     "file holding the cluster's shared secret (created 0600 if absent; every member of a "
     "cluster must use a copy of the same file)"},
    {"replication-factor", NUM(OPT_LONG, replication_factor), "3",
     "control: replicas of each range (capped by the live nodes)"},
    {"ranges-per-table", NUM(OPT_LONG, ranges_per_table), "8",
     "control: hash ranges a new table is cut into"},
    {"replication-timeout", NUM(OPT_LONG, replication_timeout), "2000",
     "node: ms an in-sync follower has to acknowledge a write before it leaves the in-sync set"},
    {"split-bytes", NUM(OPT_SIZE, split_bytes), "256M",
     "node: a range it leads that stores this many bytes is split in two, at the hash that "
     "halves them (0 = only by hand: dstorectl range split)"},
    {"import-serve-data", NUM(OPT_FLAG, import_serve_data), "0",
     "node: DATA was a `dstore serve`'s: bring its tenants, tables and items into the cluster"},
    {"help", NUM(OPT_FLAG, help), "0", "print this help"},
};

static int parse_size(const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *s == '-') return -1;
    switch (toupper((unsigned char)*end)) {
    case 0: break;
    case 'K': v <<= 10, end++; break;
    case 'M': v <<= 20, end++; break;
    case 'G': v <<= 30, end++; break;
    default: return -1;
    }
    if (*end == 'B' || *end == 'b') end++;
    if (*end) return -1;
    *out = v;
    return 0;
}

static int set_option(ds_config *cfg, const option_def *o, const char *val, const char *from,
                      char *err, size_t errlen) {
    char *field = (char *)cfg + o->offset;
    char *end;
    switch (o->kind) {
    case OPT_STR:
        if (strlen(val) >= o->size) {
            snprintf(err, errlen, "%s: %s is too long (at most %zu characters)", from, o->name,
                     o->size - 1);
            return -1;
        }
        strcpy(field, val);
        return 0;
    case OPT_LONG:
        errno = 0;
        long v = strtol(val, &end, 10);
        if (errno || end == val || *end || v < 0) {
            snprintf(err, errlen, "%s: %s must be a non-negative integer, not \"%s\"", from,
                     o->name, val);
            return -1;
        }
        *(long *)field = v;
        return 0;
    case OPT_SIZE:
        if (parse_size(val, (uint64_t *)field)) {
            snprintf(err, errlen, "%s: %s must be a size like 1048576, 512K, 64M or 2G, not \"%s\"",
                     from, o->name, val);
            return -1;
        }
        return 0;
    case OPT_FLAG:
        *(int *)field = !strcmp(val, "1") || !strcmp(val, "true") || !strcmp(val, "yes");
        return 0;
    }
    return -1;
}

static const option_def *find(const char *name, size_t len) {
    for (size_t i = 0; i < sizeof options / sizeof *options; i++)
        if (strlen(options[i].name) == len && !strncmp(options[i].name, name, len))
            return &options[i];
    return NULL;
}

static void env_name(char *out, size_t n, const char *name) {
    size_t j = (size_t)snprintf(out, n, "DSTORE_");
    for (size_t i = 0; name[i] && j + 1 < n; i++)
        out[j++] = name[i] == '-' ? '_' : (char)toupper((unsigned char)name[i]);
    out[j] = 0;
}

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
    return s;
}

static int read_file(ds_config *cfg, const char *path, char *err, size_t errlen) {
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot open config file %s: %s", path, strerror(errno));
        return -1;
    }
    char line[8192];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        char *s = trim(line);
        if (!*s) continue;
        char *eq = strchr(s, '=');
        char from[4200];
        snprintf(from, sizeof from, "%s:%d", path, lineno);
        if (!eq) {
            snprintf(err, errlen, "%s: expected `key = value`", from);
            rc = -1;
            break;
        }
        *eq = 0;
        char *k = trim(s), *v = trim(eq + 1);
        const option_def *o = find(k, strlen(k));
        if (!o || o->kind == OPT_FLAG || !strcmp(o->name, "config")) {
            snprintf(err, errlen, "%s: unknown setting \"%s\" (see dstore serve --help)", from, k);
            rc = -1;
            break;
        }
        rc = set_option(cfg, o, v, from, err, errlen);
    }
    fclose(f);
    return rc;
}

int config_load(ds_config *cfg, int argc, char **argv, char *err, size_t errlen) {
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < sizeof options / sizeof *options; i++)
        set_option(cfg, &options[i], options[i].def, "default", err, errlen);

    /* The config file named by the flag or the environment is read first, so
     * that the environment and the flags override it. */
    const char *file = getenv("DSTORE_CONFIG");
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc) file = argv[i + 1];
        else if (!strncmp(argv[i], "--config=", 9)) file = argv[i] + 9;
    }
    if (file && *file) {
        if (read_file(cfg, file, err, errlen)) return -1;
        snprintf(cfg->config, sizeof cfg->config, "%s", file);
    }
    for (size_t i = 0; i < sizeof options / sizeof *options; i++) {
        char name[64];
        env_name(name, sizeof name, options[i].name);
        const char *v = getenv(name);
        if (v && strcmp(options[i].name, "config") &&
            set_option(cfg, &options[i], v, name, err, errlen))
            return -1;
    }
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2)) {
            snprintf(err, errlen, "unexpected argument \"%s\" (see --help)", a);
            return -1;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t nl = eq ? (size_t)(eq - name) : strlen(name);
        const option_def *o = find(name, nl);
        if (!o) {
            snprintf(err, errlen, "unknown option \"%s\" (see --help)", a);
            return -1;
        }
        const char *val;
        if (o->kind == OPT_FLAG) val = eq ? eq + 1 : "1";
        else if (eq) val = eq + 1;
        else if (i + 1 < argc) val = argv[++i];
        else {
            snprintf(err, errlen, "option --%s needs a value", o->name);
            return -1;
        }
        if (strcmp(o->name, "config") && set_option(cfg, o, val, a, err, errlen)) return -1;
    }
    return 0;
}

void config_usage(FILE *out) {
    fprintf(out, "Options (each also an environment variable and a config-file key):\n");
    for (size_t i = 0; i < sizeof options / sizeof *options; i++) {
        const option_def *o = &options[i];
        char env[64];
        env_name(env, sizeof env, o->name);
        fprintf(out, "  --%-16s %s\n", o->kind == OPT_FLAG ? o->name : o->name, o->help);
        if (o->kind != OPT_FLAG)
            fprintf(out, "  %-18s default: %s; env %s\n", "", *o->def ? o->def : "(none)", env);
    }
}

/* ctl.c -- dstorectl, the admin CLI (ARCHITECTURE.md "Names users see").
 *
 * The same binary as dstore, run under the name dstorectl (the build makes
 * build/dstorectl a link to build/dstore). It reads the cluster's state
 * from etcd and prints it for people, or as JSON with --json:
 *
 *   dstorectl [--etcd URL] [--etcd-prefix P] [--json] node list
 *   dstorectl [--etcd URL] [--etcd-prefix P] [--json] status
 *
 * --etcd and --etcd-prefix also come from DSTORE_ETCD and DSTORE_ETCD_PREFIX.
 * The commands that change the cluster (node add/drain/remove, tenant,
 * table, range) arrive with the control plane (docs/cluster-design.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/json.h"
#include "control/etcd.h"

typedef struct node_row {
    char uuid[64];
    char uri[512];
    char status[32];
    char version[32];
    long long started_ms;
} node_row;

typedef struct node_list {
    node_row *rows;
    size_t n, cap;
} node_list;

static int collect_node(const char *key, size_t klen, const char *val, size_t vlen, int64_t rev,
                        void *ud) {
    (void)rev;
    node_list *nl = ud;
    /* node/{uuid}/details */
    if (klen < 13 || memcmp(key, "node/", 5) || klen - 5 < 8 ||
        memcmp(key + klen - 8, "/details", 8))
        return 0;
    if (nl->n == nl->cap) {
        nl->cap = nl->cap ? nl->cap * 2 : 8;
        nl->rows = ds_realloc(nl->rows, nl->cap * sizeof *nl->rows);
    }
    node_row *r = &nl->rows[nl->n++];
    memset(r, 0, sizeof *r);
    snprintf(r->uuid, sizeof r->uuid, "%.*s", (int)(klen - 13), key + 5);
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
    } else
        snprintf(r->status, sizeof r->status, "unreadable");
    ds_arena_free(a);
    return 0;
}

static int load_nodes(etcd *e, node_list *nl, char *err, size_t errlen) {
    int rc = etcd_range(e, "node/", 5, collect_node, nl, NULL);
    if (rc) return ds_seterr(err, errlen, rc, "reading node/ from etcd: %s", ds_strerror(rc));
    return DS_OK;
}

static void print_node_json(ds_buf *b, const node_row *r) {
    ds_buf_puts(b, "{\"uuid\":");
    json_write_string(b, r->uuid, strlen(r->uuid));
    ds_buf_puts(b, ",\"uri\":");
    json_write_string(b, r->uri, strlen(r->uri));
    ds_buf_puts(b, ",\"status\":");
    json_write_string(b, r->status, strlen(r->status));
    ds_buf_puts(b, ",\"version\":");
    json_write_string(b, r->version, strlen(r->version));
    ds_buf_printf(b, ",\"started\":%lld}", r->started_ms);
}

static int node_list_cmd(etcd *e, int as_json) {
    node_list nl = {0};
    char err[256];
    if (load_nodes(e, &nl, err, sizeof err)) {
        fprintf(stderr, "dstorectl: %s\n", err);
        return 1;
    }
    if (as_json) {
        ds_buf b = DS_BUF_INIT;
        ds_buf_puts(&b, "{\"nodes\":[");
        for (size_t i = 0; i < nl.n; i++) {
            if (i) ds_buf_putc(&b, ',');
            print_node_json(&b, &nl.rows[i]);
        }
        ds_buf_puts(&b, "]}\n");
        fputs(b.data, stdout);
        ds_buf_free(&b);
    } else {
        printf("%-36s  %-8s  %-8s  %-20s  %s\n", "NODE", "STATUS", "VERSION", "STARTED (UTC)", "URI");
        for (size_t i = 0; i < nl.n; i++) {
            const node_row *r = &nl.rows[i];
            char when[32] = "-";
            time_t t = (time_t)(r->started_ms / 1000);
            struct tm tm;
            if (r->started_ms && gmtime_r(&t, &tm)) strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
            printf("%-36s  %-8s  %-8s  %-20s  %s\n", r->uuid, r->status, r->version, when, r->uri);
        }
        printf("%zu node%s\n", nl.n, nl.n == 1 ? "" : "s");
    }
    ds_free(nl.rows);
    return 0;
}

static int status_cmd(etcd *e, const char *endpoints, int as_json) {
    int64_t rev = 0;
    int rc = etcd_ping(e, &rev);
    node_list nl = {0};
    char err[256] = "";
    if (rc == DS_OK) rc = load_nodes(e, &nl, err, sizeof err);
    size_t okay = 0;
    for (size_t i = 0; i < nl.n; i++) okay += !strcmp(nl.rows[i].status, "okay");
    if (as_json) {
        ds_buf b = DS_BUF_INIT;
        ds_buf_puts(&b, "{\"etcd\":");
        json_write_string(&b, endpoints, strlen(endpoints));
        ds_buf_printf(&b, ",\"reachable\":%s,\"revision\":%lld,\"nodes\":%zu,\"nodesOkay\":%zu}\n",
                      rc == DS_OK ? "true" : "false", (long long)rev, nl.n, okay);
        fputs(b.data, stdout);
        ds_buf_free(&b);
    } else if (rc == DS_OK)
        printf("etcd      %s (revision %lld)\nnodes     %zu registered, %zu okay\n", endpoints,
               (long long)rev, nl.n, okay);
    else
        printf("etcd      %s: unreachable (%s)\n", endpoints, err[0] ? err : ds_strerror(rc));
    ds_free(nl.rows);
    return rc == DS_OK ? 0 : 1;
}

static void ctl_usage(FILE *out) {
    fprintf(out, "dstorectl %s -- the dStore cluster's admin CLI\n\n"
                 "Usage:\n"
                 "  dstorectl [--etcd URL] [--etcd-prefix P] [--json] node list\n"
                 "  dstorectl [--etcd URL] [--etcd-prefix P] [--json] status\n\n"
                 "--etcd defaults to $DSTORE_ETCD or http://127.0.0.1:2379; --etcd-prefix to\n"
                 "$DSTORE_ETCD_PREFIX or /dstore/. Output is for people; --json is for scripts.\n",
            DSTORE_VERSION);
}

int ctl_main(int argc, char **argv) {
    const char *endpoints = getenv("DSTORE_ETCD"), *prefix = getenv("DSTORE_ETCD_PREFIX");
    if (!endpoints || !*endpoints) endpoints = "http://127.0.0.1:2379";
    if (!prefix || !*prefix) prefix = "/dstore/";
    int as_json = 0, i = 1;
    for (; i < argc && !strncmp(argv[i], "--", 2); i++) {
        if (!strcmp(argv[i], "--json")) as_json = 1;
        else if (!strcmp(argv[i], "--help")) {
            ctl_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--etcd") && i + 1 < argc) endpoints = argv[++i];
        else if (!strcmp(argv[i], "--etcd-prefix") && i + 1 < argc) prefix = argv[++i];
        else {
            fprintf(stderr, "dstorectl: unknown option %s (see --help)\n", argv[i]);
            return 2;
        }
    }
    int is_nodes = i + 1 < argc && !strcmp(argv[i], "node") && !strcmp(argv[i + 1], "list");
    int is_status = i < argc && !strcmp(argv[i], "status");
    if (!is_nodes && !is_status) {
        ctl_usage(stderr);
        return 2;
    }
    etcd *e;
    char err[512];
    if (etcd_open(endpoints, prefix, &e, err, sizeof err)) {
        fprintf(stderr, "dstorectl: cannot use etcd at %s: %s\n", endpoints, err);
        return 1;
    }
    int rc = is_nodes ? node_list_cmd(e, as_json) : status_cmd(e, endpoints, as_json);
    etcd_close(e);
    return rc;
}

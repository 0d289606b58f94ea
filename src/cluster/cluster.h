/* cluster.h -- what a cluster member (node or proxy) holds, shared by the
 * modules of cluster mode:
 *
 *   module                 role
 *   cluster/peer.c         the internal RPC: signing, verifying, calling
 *   cluster/rangemap.c     the watched range map and node list
 *   cluster/opwire.c       ops, reads and their answers as internal RPC bodies
 *   cluster/node_ops.c     a node's /internal/v1/ op and read endpoints
 *   router/router_remote.c a proxy's router: each key to its range's leader
 *   cluster/replication.c  a leader shipping to followers; followers applying
 *                          and catching up; in-sync set changes; splits by size
 *   cluster/control.c      `dstore control`: placement, leaders, moves, drain
 *   cluster/import.c       a `dstore serve` directory joining a cluster
 *
 * `dstore serve` uses none of this (a cluster of one, ARCHITECTURE.md).
 */
#ifndef DS_CLUSTER_H
#define DS_CLUSTER_H

#include "cluster/rangemap.h"
#include "control/etcd.h"
#include "control/meta.h"
#include "engine/engine.h"
#include "net/http.h"
#include "replica/replica.h"

typedef struct repl repl;

typedef struct cluster_member {
    etcd *etcd;
    rangemap *map;
    meta *meta;
    replica *replica; /* NULL in a proxy */
    engine *engine;   /* NULL in a proxy */
    repl *repl;       /* replication state: NULL in a proxy */
    char uuid[37];    /* this member's */
    char uri[256];    /* advertised: "http://host:port/" */
    int rpc_timeout_ms;
} cluster_member;

/* The /internal/v1/ endpoints of a node. Each returns 1 if it answered req
 * (the caller has already checked the peer signature), 0 if the path is not
 * its own. */
int node_ops_handle(cluster_member *c, http_request *req);
int replication_handle(cluster_member *c, http_request *req);

#endif

/* node_ops.h -- a node's op and read endpoints (node_ops.c): POST
 * /internal/v1/op, /read, /range, /list and /count, bodies and answers as
 * opwire.h describes them. node_ops_handle() itself is declared in
 * cluster.h (the lead's api.c routes /internal/v1/ to it).
 */
#ifndef DS_NODE_OPS_H
#define DS_NODE_OPS_H

#include "cluster/cluster.h"
#include "cluster/opwire.h"

/* Answers a read of the given kind exactly as POST /internal/v1/<kind> with
 * this body would, without HTTP: the answer body goes to out (reset first)
 * and the HTTP status it would carry is returned (200, 400, 404, 421, 503).
 * Runs on the caller's thread (it may wait up to a second for the metadata
 * of a table just created); a is the arena for decoding (reset or free it
 * after; out holds copies). router_remote uses it when the leader it would
 * call is its own member: a node's HTTP loop thread, blocked in a client
 * read, must not wait on a call to its own port. */
int node_ops_read(cluster_member *c, opwire_kind kind, const char *body, size_t len, ds_arena *a,
                  ds_buf *out);

#endif

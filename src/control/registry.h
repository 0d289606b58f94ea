/* registry.h -- a node's membership in the cluster (seed 001's
 * node/{uuid}/details).
 *
 * A node joins by writing, under the cluster's etcd prefix,
 *
 *   KEY                    VALUE                                            LEASE
 *   node/{uuid}/details    {"status":"okay","uri":"http://host:port/",     the node's, TTL
 *                           "version":"0.1.0","started":<ms>}               --lease-ttl
 *
 * and keeping its lease alive from a background thread. The record is how
 * the control plane and the proxies learn that the node exists and where it
 * is; when the node dies its lease expires and the record disappears, which
 * is the failure signal the control plane acts on. A clean leave revokes
 * the lease, so the record disappears at once.
 *
 * If the lease is lost while the node lives (etcd unreachable longer than
 * the TTL), the registry keeps trying to join again on a new lease, once a
 * second, and logs each attempt's failure.
 */
#ifndef DS_REGISTRY_H
#define DS_REGISTRY_H

#include "control/etcd.h"

typedef struct registry registry;

/* Registers node uuid at uri with a lease of ttl_s seconds and keeps it
 * registered until registry_leave(). e must outlive the registry. Returns
 * DS_OK, or a DS_E* code with a message in err if the first registration
 * failed (nothing is left running then). */
int registry_join(etcd *e, const char *uuid, const char *uri, int ttl_s, registry **out, char *err,
                  size_t errlen);

/* Stops keeping the registration and revokes the lease (the record goes at
 * once); frees r. NULL is fine. */
void registry_leave(registry *r);

/* 1 while the node's record is known to be in etcd under a live lease. */
int registry_registered(const registry *r);

#endif

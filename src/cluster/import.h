/* import.h -- a `dstore serve` data directory joins a cluster.
 *
 * `dstore node --data DIR --import-serve-data ...` on a directory a single
 * `dstore serve` used brings that server's tenants, tables and items into
 * the cluster, and then DIR serves as an ordinary node's:
 *
 *   1. import_prepare (before the node joins). The serve's store is
 *      checkpointed to DIR/import (hard links: no copy, no extra space),
 *      then the node's own store is emptied (DATA, INDEX and the serve's
 *      META records) so that the node starts as an empty member: the
 *      serve's table ids were its own and would collide with the
 *      cluster's. "n/table_id" is deleted last, as it marks a serve store,
 *      so a crash anywhere repeats the step.
 *   2. import_start (once the node has joined): a thread opens DIR/import
 *      with the serve's identities (DIR/node.id, DIR/control.id) and
 *        - creates each tenant in the cluster with its access key and
 *          secret, so its clients keep their credentials; a tenant of that
 *          name that exists already (e.g. every member's "dev") keeps its
 *          own credentials and receives the tables;
 *        - creates each table with its schema and settings, and records
 *          the cluster's id for it in DIR/import (a table of that name the
 *          import did not create is a conflict: that table is skipped, and
 *          reported, and DIR/import is kept);
 *        - writes every item through the node's router to its range's
 *          leader, like a client write: replicated, and acknowledged once
 *          durable on every in-sync replica. Each write is conditional on
 *          the item being absent, so an item a client wrote meanwhile wins
 *          and a resumed import (after a stop or a crash) does not write
 *          an item twice. 32 writes are in flight at a time.
 *   3. When every table is copied, DIR/import is removed.
 *
 * What it costs: every item crosses the network once per replica, as when
 * a client writes it; the serve's files live on in DIR/import (hard links)
 * until step 3. An item a client deletes while an interrupted import is
 * being resumed can come back (docs/cluster.md).
 */
#ifndef DS_IMPORT_H
#define DS_IMPORT_H

#include "cluster/cluster.h"
#include "router/router.h"

/* Step 1, on the node's engine e (with its writer r idle) in data_dir.
 * allowed: --import-serve-data was given. Sets *pending when DIR/import
 * holds an import to run (made now, or left by an earlier start). Returns
 * DS_OK, or an error with a message in err (a serve store without
 * `allowed` is one: the node must not start on it). */
int import_prepare(const char *data_dir, engine *e, int allowed, int *pending, char *err,
                   size_t errlen);

typedef struct import_job import_job;

/* Step 2 and 3 on a thread: c is the joined node, rt its router; both must
 * outlive the job. Returns DS_OK and *out, or an error with a message. */
int import_start(const char *data_dir, cluster_member *c, router *rt, import_job **out, char *err,
                 size_t errlen);

/* Stops the job (writes in flight complete first; what is left is resumed
 * at the next start) and frees it. NULL is fine. */
void import_stop(import_job *j);

#endif

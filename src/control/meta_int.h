/* meta_int.h -- what meta.c (the shared logic and the serve backend) and
 * meta_etcd.c (the etcd backend) share. Not for other modules; the unit
 * tests may include it.
 *
 * Both backends keep the same in-memory state (struct meta's maps) and the
 * same record formats (meta.h); they differ in where records live, how a set
 * of mutations is committed, and how changes made elsewhere arrive:
 *
 *   serve  META column family; one DS_OP_META op through the replica;
 *          nothing else writes, so memory is updated directly.
 *   etcd   "meta/" in etcd; one etcd txn with compares; every record change
 *          (our own and other processes') is applied to memory by one
 *          function, meta__etcd_apply(), fed by the load, the txn results
 *          and the watch.
 *
 * The public entry points in meta.c check m->ec and hand the etcd cases to
 * the meta__etcd_* functions below.
 *
 * LOCKS
 *   change  (mutex) serializes this process's create/drop/set_extra end to
 *           end, network round trips included. Taken before lock.
 *   lock    (rwlock) guards the maps, next_table_id, every object's rev and
 *           a table's extra. Lookups read-lock; the etcd watch thread
 *           write-locks to apply events. Never held across I/O.
 *   wait_mu + wait_cv  meta_table_wait_id(): signalled after tables were
 *           added to the maps.
 */
#ifndef DS_META_INT_H
#define DS_META_INT_H

#include <pthread.h>

#include "common/dict.h"
#include "control/etcd.h"
#include "control/meta.h"

/* The etcd backend's own state (meta_etcd.c). */
typedef struct meta__etcd_state {
    etcd_watch *watch;
    dict *ktc;              /* tenant name -> ds_buf*: the sealed ctl/tenant/ record */
    /* Record keys this process changed locally ahead of the watch: key ->
     * (void *)(intptr_t)revision. A watch event for such a key with an
     * older revision is stale (our newer state is already applied) and is
     * skipped; the event of that revision itself removes the entry. */
    dict *seen;
    int64_t table_id_rev;   /* mod revision of meta/n/table_id (0: absent) */
    int64_t watch_rev;      /* the last revision the watch delivered (or the load read) */
    int64_t skip_until;     /* after a resync: events up to here are in the re-read */
    _Atomic long resyncs;   /* for the tests */
} meta__etcd_state;

struct meta {
    engine *e;               /* serve: the META CF. etcd: this node's stats (NULL: a proxy) */
    replica *r;              /* NULL: a proxy (etcd mode only) */
    etcd *ec;                /* NULL: serve mode */
    uint8_t meta_key[32];    /* seals t/ records: node meta key (serve), cluster meta key (etcd) */
    uint8_t control_key[32]; /* derived from Kc (serve) or the cluster key (etcd): seals ctl/ */
    uint8_t node_key[32];    /* Kn */
    pthread_rwlock_t lock;
    pthread_mutex_t change;
    pthread_mutex_t wait_mu;
    pthread_cond_t wait_cv;
    dict *tenants;           /* name -> meta_tenant* */
    dict *keys;              /* access key -> meta_tenant* */
    dict *tables;            /* "tenant/table" -> meta_table* */
    dict *by_id;             /* table id (u64 BE) -> meta_table* */
    uint64_t next_table_id;
    ds_buf orphans;          /* serve, at open: T/ keys of tables without a tenant */
    meta__etcd_state es;
};

/* ---- mutations: the record puts and deletes of one commit ---------------- */
typedef struct meta__mut {
    ds_buf key, val;         /* record key (no "meta/" prefix), value (empty: delete) */
    int is_delete;
} meta__mut;

typedef struct meta__muts {
    meta__mut *v;
    size_t n, cap;
} meta__muts;

/* Appends an empty mutation and returns it (valid until the next call). */
meta__mut *meta__mut_new(meta__muts *mu, int is_delete);
void meta__muts_free(meta__muts *mu);

/* ---- records (meta.h's layout) ------------------------------------------- */
void meta__tenant_key(ds_buf *k, const char *name);
void meta__ctl_tenant_key(ds_buf *k, const char *name);
void meta__table_key(ds_buf *k, const char *tenant, const char *name);

/* Appends t's sealed tenant record (t/ key k) to out. */
int meta__tenant_record(meta *m, const meta_tenant *t, const ds_buf *k, ds_buf *out);
/* Appends tb's T/ record with extra (NULL: "{}") to v. */
void meta__table_record(ds_buf *v, const meta_table *tb, const char *extra);

/* Opens the tenant record v of key k ("t/{name}") with m->meta_key and
 * derives the data key with ktc. *out: a new tenant holding one reference
 * (rev 0). Errors (crypto, DS_ECORRUPT) come with a message in err. */
int meta__tenant_parse(meta *m, const char *k, size_t kl, const char *v, size_t vl,
                       const uint8_t ktc[32], meta_tenant **out, char *err, size_t errlen);
/* Parses the table record v of key k ("T/{tenant}/{table}") into a new table
 * of tenant t (which gains a reference). *out holds one reference (rev 0). */
int meta__table_parse(const char *k, size_t kl, const char *v, size_t vl, meta_tenant *t,
                      meta_table **out, char *err, size_t errlen);
/* Loads tb's node-local statistics (META s/{id}) when m->e is set. */
void meta__load_stats(meta *m, meta_table *tb);

/* ---- the maps (m->lock held for writing) --------------------------------- */
/* Adds t under its name and access key; the maps take the caller's reference. */
void meta__index_tenant(meta *m, meta_tenant *t);
/* Removes t from the maps (only the entries that point to t). Returns 1
 * when t was in them: the caller then owns the maps' reference. */
int meta__unindex_tenant(meta *m, meta_tenant *t);
/* Adds tb by name and id; the maps take the caller's reference. */
void meta__index_table(meta *m, meta_table *tb);
/* Removes tb by name and id (entries pointing to tb only). Returns 1 when
 * tb was in them: the caller then owns the maps' reference. */
int meta__unindex_table(meta *m, meta_table *tb);
/* References to every table of t (caller releases each, frees *v). */
void meta__tables_of(meta *m, const meta_tenant *t, meta_table ***v, size_t *n);
/* Wakes meta_table_wait_id() callers (call without m->lock). */
void meta__tables_added(meta *m);

/* Submits a DS_OP_DROP_TABLE for tb to m->r (nothing when m->r is NULL),
 * with the deletes in mu (META CF). wait: block until the writer is done
 * and return its status; else the op runs on its own (tb is retained for
 * it). Call without m->lock. */
int meta__drop_data(meta *m, meta_table *tb, meta__muts *mu, int wait);

void meta__derive(uint8_t out[32], const void *ikm, size_t ikmlen, const void *salt,
                  size_t saltlen, const char *info);
void meta__tenant_data_key(meta *m, meta_tenant *t, const uint8_t ktc[32]);

/* ---- the etcd backend (meta_etcd.c) -------------------------------------- */
/* Loads everything and starts the watch (m's keys, maps and locks set up). */
int meta__etcd_start(meta *m, char *err, size_t errlen);
/* Stops the watch and frees the backend's state. */
void meta__etcd_stop(meta *m);
/* The public operations, after validation; m->change held by the caller.
 * tenant_create takes ownership of t (name, access key, secret, created and
 * ktn filled in). */
int meta__etcd_tenant_create(meta *m, meta_tenant *t, meta_tenant **out);
int meta__etcd_tenant_drop(meta *m, const char *name, size_t len);
int meta__etcd_table_create(meta *m, meta_tenant *t, meta_table *tb, meta_table **out);
int meta__etcd_table_drop(meta *m, meta_table *tb);
int meta__etcd_set_extra(meta *m, meta_table *tb, const char *extra);

/* For the tests: how many times the watch re-read everything after etcd
 * compacted past it. */
long meta__etcd_resyncs(meta *m);

#endif

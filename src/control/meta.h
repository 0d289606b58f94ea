/* meta.h -- tenants, tables, credentials and the key hierarchy.
 *
 * Two backends hold the same records (layouts below), chosen at open:
 *
 *   meta_open       `dstore serve`: the control plane is embedded and its
 *                   records live in the node's RocksDB META column family.
 *                   Changes go through the replica as DS_OP_META ops, so they
 *                   are durable before they are visible and ordered with the
 *                   data writes.
 *   meta_open_etcd  cluster mode: the records live in etcd under "meta/",
 *                   shared by every proxy and node. Each change is one etcd
 *                   transaction whose compares make names, access keys and
 *                   table ids unique cluster-wide; a watch applies the
 *                   changes other processes make within milliseconds.
 *
 * Either way everything is loaded into memory at open; lookups on the
 * request path (access key -> tenant, tenant+name -> table, id -> table) are
 * hash lookups under a read lock, and a change made through this handle is
 * visible through it when the call returns.
 *
 * Keys (seed 001, "UUIDs and Keys"; ARCHITECTURE.md "Keys and identities"):
 *
 *   Kn   node key           data/node.id (0600), the node's own
 *   Kc   control key        data/control.id (0600), the embedded control plane's
 *   Knc  node-per-control   made by the control plane, stored sealed under Kc
 *   Ktc  tenant-per-control made by the control plane, stored sealed under Kc
 *   Ktn  tenant-per-node    made by the node, stored sealed under the node meta key
 *
 *   node meta key    = HKDF-SHA256(ikm = Kn XOR Knc, salt = node uuid, info = "dstore/node-meta/v1")
 *   tenant data key  = HKDF-SHA256(ikm = Kn || Ktn || Ktc, salt = tenant name,
 *                                  info = "dstore/tenant-data/v1")
 *
 * so no single component's secret decrypts a tenant's data. Dropping a tenant
 * deletes Ktc and Ktn at once: its data is unreadable before compaction has
 * even reclaimed the space.
 *
 * META column family layout (all keys ASCII; names cannot contain '/'):
 *
 *   KEY                        VALUE
 *   n/table_id                 u64 BE: the next table id (ids are never reused)
 *   t/{tenant}                 sealed(node meta key) JSON {"accessKeyId","secret","created","ktn"}
 *   T/{tenant}/{table}         JSON {"id","created","idType","pk":{"name","type"},"sk":{..}|null,
 *                              "extra":{...}[,"replication":"async"]}  (extra: API-specific settings, e.g. DynamoDB's
 *                              BillingMode and ProvisionedThroughput; opaque to meta)
 *   s/{table id u64 BE}        16 bytes: item count, size bytes (u64 BE each), written by the writer
 *   ctl/node/{uuid}            sealed(Kc) 32 bytes Knc
 *   ctl/tenant/{tenant}        sealed(Kc) 32 bytes Ktc
 *
 * Sealed values use crypto_seal with the record's META key as associated
 * data, so a sealed record copied under another key does not open.
 *
 * etcd layout (meta_open_etcd). The same record keys and values under
 * "meta/" (the etcd handle adds its own prefix, e.g. "/dstore/"); the
 * associated data of a sealed value is the record key WITHOUT "meta/":
 *
 *   KEY                        VALUE
 *   meta/n/table_id            u64 BE: the next table id, cluster-wide
 *   meta/t/{tenant}            sealed(cluster meta key) tenant JSON as above
 *   meta/k/{accessKeyId}       the tenant's name: makes access keys unique
 *   meta/T/{tenant}/{table}    table JSON as above
 *   meta/ctl/tenant/{tenant}   sealed(control key) 32 bytes Ktc
 *
 *   cluster meta key = HKDF-SHA256(ikm = cluster key, no salt, info = "dstore/cluster-meta/v1")
 *   control key      = HKDF-SHA256(ikm = cluster key, no salt, info = "dstore/control-meta/v1")
 *
 * Every process of the cluster must read the tenant records, so they are
 * sealed under a key derived from the cluster key, not the node meta key
 * (ctl/node/{uuid} and Knc are not used in etcd mode). The tenant data key is
 * derived as above from the node's own Kn, so it differs per node (seed
 * 001); a proxy has a node key too and never seals data. Statistics (s/{id})
 * stay in each node's META column family: item_count and size_bytes are this
 * node's share.
 *
 *   CHANGE          ONE TXN: COMPARES                  OPS
 *   tenant create   t/ and k/ absent                   put ctl/tenant/, t/, k/
 *   tenant drop     t/ and n/table_id unchanged        delete ctl/tenant/, t/, k/, every T/{tenant}/...
 *                   since read (no table created       (more than 125 tables: the rest of the
 *                   meanwhile)                         T/ in further txns)
 *   table create    n/table_id unchanged, T/ absent,   put T/, n/table_id = id + 1
 *                   t/ unchanged (tenant still there)  (a failed compare re-reads and retries)
 *   table drop      T/ unchanged                       delete T/
 *   set extra       T/ unchanged                       put T/
 */
#ifndef DS_META_H
#define DS_META_H

#include <stdatomic.h>

#include "common/ds.h"
#include "control/etcd.h"
#include "engine/engine.h"
#include "engine/keycodec.h"
#include "replica/replica.h"

#define META_NAME_MAX 255
#define META_TENANT_MAX 64

typedef struct meta meta;

typedef enum { META_ID_STRING = 0, META_ID_INTEGER, META_ID_BYTES } meta_id_type;

typedef struct meta_tenant {
    char name[META_TENANT_MAX + 1];
    char access_key[32];
    char secret[64];           /* the tenant's secret access key */
    int64_t created_ms;
    uint8_t data_key[32];      /* derived; seals every value of the tenant */
    /* private */
    uint8_t ktn[32];
    atomic_int refs;
    atomic_int dropped;
    size_t ntables;
    int64_t rev;               /* etcd: mod revision of the t/ record */
} meta_tenant;

struct meta_table {
    uint64_t id;
    meta_tenant *tenant;       /* the table holds a reference */
    char name[META_NAME_MAX + 1];
    meta_id_type id_type;      /* the REST v1 ID type (mirrors pk_type) */
    key_type pk_type, sk_type; /* sk_type 0: no sort key */
    char pk_name[META_NAME_MAX + 1], sk_name[META_NAME_MAX + 1];
    int64_t created_ms;
    int async_default;         /* cluster: writes without X-DStore-Replication are async */
    /* Estimates maintained by the writer thread (exact after each commit,
     * but read without a lock). */
    _Atomic int64_t item_count, size_bytes;
    /* private */
    atomic_int refs;
    atomic_int dropped;
    char *extra;               /* JSON object text; read with meta_table_extra() */
    int64_t rev;               /* etcd: mod revision of the T/ record */
};

/* Opens the metadata over an engine and a running replica: loads (or on
 * first start creates) the control-plane records and derives the keys.
 * node and control are the two component identities. */
int meta_open(engine *e, replica *r, const uint8_t node_key[32], const char *node_uuid,
              const uint8_t control_key[32], meta **out, char *err, size_t errlen);

/* Opens the metadata kept in etcd (cluster mode): reads every record under
 * "meta/" at one revision, then watches "meta/" from the next one so that
 * changes made by other processes are applied as they happen (a watch
 * thread; after etcd compacted past it, it re-reads everything).
 *   ec           the process's etcd handle; must outlive m
 *   e, r         the node's engine and replica, or NULL on a proxy. With e,
 *                tables get this node's statistics; with r, a table that
 *                disappears (dropped here or elsewhere) gets a
 *                DS_OP_DROP_TABLE op, range-deleting this node's copy.
 *   node_key     this process's Kn (tenant data keys derive from it)
 *   cluster_key  the cluster's key: seals tenant records and Ktc
 * Returns DS_OK and *out; an etcd error (DS_EIO, DS_ETIMEDOUT, ...) or a
 * record that does not open (DS_ECORRUPT: most likely another cluster key)
 * with a message in err.
 * Shutdown: meta_close(m) stops the watch, so call it BEFORE replica_stop(r)
 * and etcd_close(ec). */
int meta_open_etcd(etcd *ec, engine *e, replica *r, const uint8_t node_key[32],
                   const uint8_t cluster_key[32], meta **out, char *err, size_t errlen);

/* Stops the etcd watch (if any) first, then frees m. References handed out
 * stay valid until released. */
void meta_close(meta *m);

/* ---- tenants ----
 * meta_tenant_* returning a meta_tenant * give the caller a reference:
 * release it with meta_tenant_release().
 *
 * "Blocks until durable" below means, in etcd mode, until etcd has applied
 * the transaction; the change is then visible through this handle. etcd
 * errors pass through: DS_EIO or DS_ETIMEDOUT leave the outcome unknown (see
 * etcd.h), DS_EBUSY means the change kept losing races with other writers. */
int meta_valid_tenant_name(const char *name, size_t len);
/* Creates a tenant. access_key/secret NULL = generate. On success *out is a
 * reference to the new tenant (its secret is readable there). DS_EEXIST if
 * the name or the access key is taken; DS_EINVAL for a bad name. Blocks until
 * the record is durable. */
int meta_tenant_create(meta *m, const char *name, const char *access_key, const char *secret,
                       meta_tenant **out);
meta_tenant *meta_tenant_get(meta *m, const char *name, size_t len);
meta_tenant *meta_tenant_by_key(meta *m, const char *access_key, size_t len);
void meta_tenant_release(meta_tenant *t);
/* Calls fn for each tenant in name order until fn returns non-zero. */
void meta_tenant_list(meta *m, int (*fn)(const meta_tenant *t, void *ud), void *ud);
/* Drops a tenant and all its tables. DS_ENOTFOUND. Blocks until durable. */
int meta_tenant_drop(meta *m, const char *name, size_t len);
size_t meta_tenant_table_count(meta *m, const meta_tenant *t);

/* ---- tables ---- */
int meta_valid_table_name(const char *name, size_t len);
typedef struct meta_table_spec {
    meta_id_type id_type;       /* REST v1 tables: pk "id" of this type */
    const char *pk_name;        /* NULL: "id" */
    key_type pk_type;           /* 0: from id_type */
    const char *sk_name;        /* NULL: no sort key */
    key_type sk_type;
    const char *extra;          /* NULL or a JSON object's text, kept with the table */
    int async_default;          /* writes are async unless a request asks for sync */
} meta_table_spec;
/* Creates a table in tenant t. DS_EEXIST, DS_EINVAL. *out (optional) gets a
 * reference. Blocks until durable. */
int meta_table_create(meta *m, meta_tenant *t, const char *name, size_t len,
                      const meta_table_spec *spec, meta_table **out);
meta_table *meta_table_get(meta *m, const meta_tenant *t, const char *name, size_t len);
/* The table with this id (ids are unique cluster-wide and never reused), or
 * NULL: a reference, or NULL. */
meta_table *meta_table_by_id(meta *m, uint64_t id);
/* As meta_table_by_id, but when the table is not known yet waits up to
 * timeout_ms for it to arrive (etcd mode: a node may receive an op for a
 * table created a moment ago whose record its watch has not applied yet).
 * Returns NULL at once when the id is below the next table id this handle
 * has seen (the table was dropped), else NULL after the timeout. */
meta_table *meta_table_wait_id(meta *m, uint64_t id, int timeout_ms);
void meta_table_retain(meta_table *tb);
void meta_table_release(meta_table *tb);
/* Lists t's table names in order, starting after `after` (NULL: from the
 * start), at most limit; calls fn for each. Returns 1 if more remain. */
int meta_table_list(meta *m, const meta_tenant *t, const char *after, size_t after_len,
                    size_t limit, void (*fn)(const meta_table *tb, void *ud), void *ud);
/* Drops a table: it disappears at once; its data is range-deleted after
 * every write queued before the drop. DS_ENOTFOUND. Blocks until durable. */
int meta_table_drop(meta *m, meta_tenant *t, const char *name, size_t len);

/* Copies the table's extra settings (a JSON object's text, "{}" if none)
 * into out. */
void meta_table_extra(meta *m, const meta_table *tb, ds_buf *out);
/* Replaces the table's extra settings with extra (a JSON object's text).
 * Blocks until durable. DS_ENOTFOUND if the table was dropped. */
int meta_table_set_extra(meta *m, meta_table *tb, const char *extra, size_t len);

/* The META key of a table's statistics record (written by the replica). */
void meta_stats_key(ds_buf *out, uint64_t table_id);

#endif

/* etcd.h -- dStore's etcd v3 client: key/value, transactions, leases and
 * watches through etcd's JSON gateway (/v3/...), over libcurl.
 *
 * The cluster's coordination (ARCHITECTURE.md: leaders, in-sync sets, epochs,
 * node liveness, the range map) is built on this module, and it is the only
 * module that sees etcd's wire conventions: base64 keys and values and
 * 64-bit integers written as JSON strings. Callers pass and receive raw bytes
 * and int64_t.
 *
 * HANDLE AND THREADS
 *   One `etcd` handle per process role, shared by every thread: all calls
 *   are thread-safe. Requests borrow a libcurl easy handle from a
 *   mutex-protected pool (keep-alive connections are reused), so concurrent
 *   calls run in parallel. Every key is prefixed with the handle's prefix
 *   ("/dstore/"); callbacks receive keys WITHOUT it. Keys and values are
 *   arbitrary bytes (NUL included).
 *
 * ENDPOINTS AND RETRIES
 *   The endpoint list is tried in order starting from the last one that
 *   worked. A request moves to the next endpoint only when that cannot apply
 *   a write twice: on a connection that could not be made (nothing sent), or
 *   for read-only requests (range, keepalive, status) on any transport error
 *   or an "unavailable" answer. A write whose answer was lost after sending
 *   fails with DS_EIO or DS_ETIMEDOUT: its outcome is UNKNOWN (re-read before
 *   deciding anything -- a txn may have applied even though this says it
 *   did not get an answer). DS_ECONDITION from etcd_txn always means etcd
 *   answered "compare failed".
 *
 * ERRORS
 *   Every call returns DS_OK or a negative DS_E* code:
 *     DS_ENOTFOUND   key absent (etcd_get), lease expired or unknown
 *     DS_ECONDITION  etcd_txn: a compare was false, nothing was applied
 *     DS_EIO         transport failure, no endpoint reachable, etcd
 *                    unavailable or an unexpected answer
 *     DS_ETIMEDOUT   the request timed out (default 5 s, etcd_set_timeout)
 *     DS_EINVAL      a bad argument, or etcd rejected the request as invalid
 *     DS_ETOOBIG     a request or answer over the size limits
 *     DS_ERANGE      a revision was compacted
 *     DS_EPARSE      an answer that is not the gateway's JSON
 *   Failures are logged (ds_warn) with the endpoint, the operation and the
 *   key; values are never logged (they may be secrets). etcd_errmsg() gives
 *   the calling thread's last failure message.
 *
 * HOW CALLS MAP TO THE GATEWAY (POST, JSON body; int64 as "decimal string",
 * bytes as standard base64 with padding; etcd omits zero-valued fields,
 * so an absent "value" is the empty value, an absent "succeeded" is false)
 *
 *   CALL               PATH                  REQUEST                       ANSWER USED
 *   etcd_put           /v3/kv/put            key, value, lease             header.revision
 *   etcd_get           /v3/kv/range          key                           kvs[0].value, .mod_revision
 *   etcd_range         /v3/kv/range          key, range_end, limit,        kvs[], more, header.revision
 *                                            revision (pages 2..n)
 *   etcd_delete        /v3/kv/deleterange    key, range_end if prefix      deleted
 *   etcd_txn           /v3/kv/txn            compare[] {key, target        succeeded, header.revision
 *                                            MOD|VALUE|CREATE, result
 *                                            EQUAL, mod_revision|value|
 *                                            create_revision}, success[]
 *                                            {request_put|request_delete_range}
 *   etcd_lease_grant   /v3/lease/grant       TTL                           ID, TTL, error
 *   etcd_lease_keepalive /v3/lease/keepalive ID (a one-message stream)     result.TTL (absent = expired)
 *   etcd_lease_revoke  /v3/lease/revoke      ID                            (error code 5 = not found)
 *   etcd_ping          /v3/maintenance/status {}                           header.revision
 *   etcd_watch_*       /v3/watch             create_request {key,          a stream of lines
 *                                            range_end, start_revision}    {"result":{created|canceled,
 *                                                                          compact_revision, events[]
 *                                                                          {type PUT|DELETE, kv}}}
 *   Errors come as HTTP 4xx/5xx with {"error","message","code":gRPC code},
 *   or inside a stream as {"error":{"grpc_code","message",...}}.
 *   A prefix's range_end is the prefix with its last byte below 0xff
 *   incremented (trailing 0xff bytes dropped; "\0" when none is left).
 *
 * WHAT etcd 3.4.23's GATEWAY DOES (observed; the docs are silent on most)
 *   - Fields with zero values are omitted: "value" of an empty value,
 *     "succeeded" of a failed txn, "kvs"/"count" of an empty range, "TTL" of
 *     an expired lease in a keepalive answer, "revision" in the header of a
 *     watch canceled by compaction. Absent means zero or empty here.
 *   - int64 fields are strings ("7"); requests accept strings or numbers.
 *   - /v3/lease/keepalive answers one stream line {"result":{...}}\n and
 *     ends; an unknown lease is not an error there, only a missing TTL.
 *   - A put or grant on an unknown lease is HTTP 404 with gRPC code 5.
 *   - Error answers also carry an HTTP trailer (Grpc-Trailer-Content-Type),
 *     which libcurl consumes.
 *   - /v3/watch sends {"result":{"created":true,...}} first (its header
 *     revision is the store's, so a watch "from now" resumes after it),
 *     then one line per batch of events. A watch canceled by compaction
 *     ({"canceled":true,"compact_revision":N}) leaves the HTTP stream open:
 *     the client must close it. A watch created at a compacted revision is
 *     first "created" and then canceled.
 */
#ifndef DS_ETCD_H
#define DS_ETCD_H

#include "common/ds.h"
#include "common/json.h"

typedef struct etcd etcd;

/* Opens a client for endpoints, a comma-separated list of base URLs
 * ("http://127.0.0.1:2379,http://10.0.0.2:2379"), with prefix prepended to
 * every key (copied; "" for none). Does not contact etcd (see etcd_ping).
 * Returns DS_OK and *out, or DS_EINVAL with a message in err for a malformed
 * list. Close with etcd_close() once no other call is running. */
int etcd_open(const char *endpoints, const char *prefix, etcd **out, char *err, size_t errlen);

/* Frees the handle. Every keeper and watch on it must be stopped first. */
void etcd_close(etcd *e);

/* Per-request timeout in milliseconds (default 5000) and the number of keys
 * etcd_range fetches per page (default 500). Thread-safe; affect requests
 * that start afterwards. */
void etcd_set_timeout(etcd *e, int timeout_ms);
void etcd_set_page_size(etcd *e, int keys);

/* The last failure message of an etcd_* call on the calling thread ("" if
 * none). Valid until the thread's next etcd_* call. */
const char *etcd_errmsg(void);

/* Asks an endpoint for its status. Returns DS_OK and the store revision
 * (rev may be NULL) once some endpoint answers. */
int etcd_ping(etcd *e, int64_t *rev);

/* ---- key/value --------------------------------------------------------- */

/* Writes key = val, attached to lease (0 = none). *rev (may be NULL) gets
 * the revision of the write. key and val are only read during the call. */
int etcd_put(etcd *e, const char *key, size_t klen, const void *val, size_t vlen, int64_t lease,
             int64_t *rev);

/* Reads key. Returns DS_OK with the value in val (reset first; may be NULL
 * to test existence) and its mod revision in *mod_rev (may be NULL), or
 * DS_ENOTFOUND. */
int etcd_get(etcd *e, const char *key, size_t klen, ds_buf *val, int64_t *mod_rev);

/* Called for each key of a range, in key order. key (without the handle's
 * prefix) and val are valid only during the call. Return 0 to go on; any
 * other value stops the range, and etcd_range returns it. */
typedef int (*etcd_kv_fn)(const char *key, size_t klen, const char *val, size_t vlen,
                          int64_t mod_rev, void *ud);

/* Calls fn for every key starting with key_prefix (plen 0: every key under
 * the handle's prefix). Large ranges are read in pages, all at the revision
 * of the first page, so fn sees one consistent snapshot; *rev (may be NULL)
 * gets that revision. Returns DS_OK, fn's non-zero value, or an error (after
 * fn may have been called for some keys; DS_ERANGE if etcd compacted the
 * snapshot's revision between pages: read again). */
int etcd_range(etcd *e, const char *key_prefix, size_t plen, etcd_kv_fn fn, void *ud,
               int64_t *rev);

/* Deletes key, or with is_prefix every key starting with it. *deleted (may be
 * NULL) gets how many keys went; deleting nothing is DS_OK with 0. */
int etcd_delete(etcd *e, const char *key, size_t klen, int is_prefix, int64_t *deleted);

/* ---- transactions (compare-and-swap) ------------------------------------ */

typedef enum {
    ETCD_CMP_MOD_REV,    /* the key's mod revision == rev (0: absent) */
    ETCD_CMP_VALUE,      /* the key's value == value/vlen (false when absent) */
    ETCD_CMP_CREATE_REV, /* the key's create revision == rev (0: absent) */
} etcd_cmp_target;

/* An equality compare. Unused fields are ignored. */
typedef struct etcd_cmp {
    const char *key;
    size_t klen;
    etcd_cmp_target target;
    int64_t rev;
    const void *value;
    size_t vlen;
} etcd_cmp;

/* A put (is_delete 0; val, vlen, lease) or a delete of one key. */
typedef struct etcd_op {
    const char *key;
    size_t klen;
    const void *val;
    size_t vlen;
    int is_delete;
    int64_t lease;
} etcd_op;

/* Applies every op atomically if every compare holds. Returns DS_OK when
 * applied (*rev, may be NULL: the revision after it), DS_ECONDITION when a
 * compare was false (nothing applied; *rev: the store revision seen), or a
 * transport error (outcome unknown, see ENDPOINTS AND RETRIES). etcd limits
 * a txn to 128 operations by default (DS_EINVAL beyond). */
int etcd_txn(etcd *e, const etcd_cmp *cmps, size_t ncmp, const etcd_op *ops, size_t nops,
             int64_t *rev);

/* ---- leases -------------------------------------------------------------- */

/* Grants a lease of ttl_s seconds (etcd may raise a small TTL to its
 * minimum). Returns its id in *lease. */
int etcd_lease_grant(etcd *e, int ttl_s, int64_t *lease);

/* Renews lease once. *ttl_left (may be NULL) gets the seconds it now has.
 * DS_ENOTFOUND if it already expired (its keys are gone). */
int etcd_lease_keepalive(etcd *e, int64_t lease, int *ttl_left);

/* Revokes lease, deleting its keys. DS_ENOTFOUND if it already expired. */
int etcd_lease_revoke(etcd *e, int64_t lease);

/* A lease renewed by a background thread every TTL/3. If it expires, or if
 * no renewal succeeds before the TTL last granted runs out (etcd unreachable:
 * the lease must be presumed lost), lost(ud) is called once from the keeper's
 * thread and the keeper stops renewing; the holder must then stop acting on
 * what the lease stood for (leadership, liveness). */
typedef struct etcd_keeper etcd_keeper;

/* Grants a lease of ttl_s seconds and starts renewing it. Returns DS_OK with
 * *out and *lease, or the grant's error. lost may be NULL. */
int etcd_keeper_start(etcd *e, int ttl_s, void (*lost)(void *ud), void *ud, etcd_keeper **out,
                      int64_t *lease);

/* Stops the keeper (returning after its thread has ended; lost is never
 * called afterwards) and frees it; with revoke, also revokes the lease so its
 * keys go at once. Must not be called from lost(). */
void etcd_keeper_stop(etcd_keeper *k, int revoke);

/* ---- watch --------------------------------------------------------------- */

typedef enum { ETCD_EV_PUT, ETCD_EV_DELETE, ETCD_EV_RESYNC } etcd_ev;

/* PUT and DELETE: key (without the handle's prefix), val (empty for a
 * delete) and mod_rev, in revision order; pointers valid during the call.
 * RESYNC (key and val NULL): etcd compacted past the revision the watch had
 * to resume from, so events were lost. The caller must re-read the prefix
 * with etcd_range (it may do so inside fn); mod_rev is a revision H the
 * watch resumes after, and the re-read's revision R >= H, so events that
 * follow with mod_rev <= R are already in the re-read and must be skipped. */
typedef void (*etcd_watch_fn)(etcd_ev ev, const char *key, size_t klen, const char *val,
                              size_t vlen, int64_t mod_rev, void *ud);

typedef struct etcd_watch etcd_watch;

/* Watches every key starting with key_prefix from start_rev (0: changes
 * after now) on a background thread that calls fn, one call at a time.
 * Returns once etcd has confirmed the watch (so with start_rev 0 every later
 * write is seen), or an error if no endpoint did within the timeout.
 * Afterwards the thread reconnects after any failure (backing off up to 2 s,
 * trying each endpoint), resuming from the revision after the last event it
 * delivered, so no event is lost or repeated -- except across a RESYNC. */
int etcd_watch_start(etcd *e, const char *key_prefix, size_t plen, int64_t start_rev,
                     etcd_watch_fn fn, void *ud, etcd_watch **out);

/* Stops the watch and frees it; returns after its thread has ended, and fn
 * is never called afterwards. May be called from fn (it then returns at
 * once, and the thread ends when fn returns). */
void etcd_watch_stop(etcd_watch *w);

/* ---- internals, exposed for fuzz/fuzz_etcd.c and the unit tests ----------
 * The gateway answer parsers. All results live in the arena a. */

/* One decoded key/value (key with the strip bytes of prefix removed). */
typedef struct etcd__kv {
    const char *key; /* arena copies, NUL-terminated at their length */
    size_t klen;
    const char *val;
    size_t vlen;
    int64_t create_rev, mod_rev, version, lease;
} etcd__kv;

/* Parses an answer body: the JSON object, unwrapped from a stream's
 * {"result":...}. An error answer ({"error","code"} or a stream's
 * {"error":{"grpc_code","message"}}) returns its DS_E* code (gRPC code
 * mapped) with the message in err; a non-2xx status without one is DS_EIO. */
int etcd__parse_reply(ds_arena *a, long http_status, const char *body, size_t len,
                      json_value **obj, char *err, size_t errlen);

/* Reads an int64 member (a decimal string or a JSON integer; absent = 0).
 * DS_EPARSE when it is anything else or out of range. */
int etcd__get_int64(const json_value *obj, const char *name, int64_t *out);

/* Decodes a mvccpb.KeyValue object. DS_ECORRUPT if the key does not start
 * with the strip bytes of prefix; DS_EPARSE on bad base64 or integers. */
int etcd__decode_kv(ds_arena *a, const json_value *kv, const char *prefix, size_t strip,
                    etcd__kv *out);

/* Parses a range answer: kvs[] into *kvs (n of them), "more", the header
 * revision. */
int etcd__parse_range(ds_arena *a, const json_value *obj, const char *prefix, size_t strip,
                      etcd__kv **kvs, size_t *n, int *more, int64_t *rev);

/* One parsed watch stream message. */
typedef struct etcd__watch_msg {
    int created, canceled;
    int64_t revision;         /* header.revision (0 when absent) */
    int64_t compact_revision; /* > 0: canceled because of compaction */
    const char *cancel_reason;
    size_t nevents;
    etcd__kv *events;
    int *deletes; /* per event: 1 = DELETE, 0 = PUT */
} etcd__watch_msg;

int etcd__parse_watch_msg(ds_arena *a, const char *line, size_t len, const char *prefix,
                          size_t strip, etcd__watch_msg *out, char *err, size_t errlen);

/* Splits a stream into newline-terminated messages: feed bytes as they
 * arrive; line() is called for each complete non-empty line (without the
 * newline); a non-zero return stops and is returned. A line longer than max
 * bytes is DS_ETOOBIG. */
typedef struct etcd__framer {
    ds_buf buf;
    size_t max;
} etcd__framer;

int etcd__framer_feed(etcd__framer *f, const char *p, size_t n,
                      int (*line)(const char *l, size_t n, void *ud), void *ud);

/* The range_end for every key starting with prefix (see the table above). */
void etcd__prefix_end(ds_buf *out, const char *prefix, size_t n);

#endif

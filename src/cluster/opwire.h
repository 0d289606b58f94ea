/* opwire.h -- ops, reads and their answers as the bodies of the internal RPC
 * (peer.h): what a proxy's router_remote sends to a range leader and what
 * the node's /internal/v1/ endpoints (node_ops.c) answer.
 *
 * Every body is one JSON object (compact, UTF-8). Binary strings (storage
 * keys) are base64 (standard alphabet, padded); items are the item codec's
 * bytes (engine/item.h) in base64, so every item type crosses exactly. 64-bit
 * integers are JSON numbers (our parser keeps their text). Unknown members
 * are ignored (a newer sender may add some); a missing required member, a
 * member of the wrong type, bad base64 or a bad item encoding is DS_EPARSE.
 *
 * POST /internal/v1/op -- one DS_OP_WRITE (META and DROP_TABLE ops never
 * cross the wire):
 *
 *   MEMBER        TYPE      REQ  DESCRIPTION
 *   table         number    yes  table id (u64)
 *   kind          string    yes  "write"
 *   key           base64    yes  data CF key (keycodec_data_key)
 *   ikey          base64    yes  index CF key (keycodec_index_key)
 *   hash          number    yes  the key's hash (u32)
 *   precond       string    no   "none" (default) | "exists" | "notExists"
 *   delete        bool      no   is_delete
 *   item          base64    no   the new item of a plain put (apply absent)
 *   applyKind     string    no   a kind registered with opwire_register_apply
 *   apply         any JSON  no   with applyKind: the op's apply_wire, embedded as is
 *   wantOld       bool      no   answer with the previous item
 *   maxItemBytes  number    no   0 / absent: no limit
 *   async         bool      no   acknowledge once the leader has it
 *
 *   answer (HTTP 200, whatever the op's outcome):
 *   status        number    yes  DS_OK or a DS_E* code (common/ds.h), as a number
 *   err           string    no   the message of a DS_EINVAL failure
 *   old           base64    no   the previous item, when wantOld and it existed
 *                                (also on DS_ECONDITION when the apply kept it)
 *   new           base64    no   the item as written, for ops with an apply (a
 *                                plain put's new item is the one it sent)
 *
 * POST /internal/v1/read, /range, /list, /count -- reads of a table:
 *
 *   MEMBER        TYPE      USED BY            DESCRIPTION
 *   table         number    all                table id
 *   key           base64    read               the data key
 *   lo, hi        base64    range list count   [lo, hi); "" = unbounded
 *   after         base64    range (optional)   start just after this data key
 *   reverse       bool      range              descending
 *   limit         number    range list         range: items per page; list: entries
 *   bytes         number    range              stored bytes per page (0: no limit)
 *   start         base64    list               first index key >= start
 *   spans         array     range list count   [[low, high], ...]: the inclusive hash
 *                                              intervals asked for; list and count
 *                                              see only index entries whose hash is
 *                                              in one (a node holds other ranges too)
 *
 *   answers (HTTP 200):
 *   read   {"status":S, "item":base64}                  item when S is DS_OK
 *   range  {"entries":[[key, item, storedLen], ...], "more":bool, "status":S}
 *   list   {"entries":[[ikey, item], ...], "more":bool, "status":S}
 *   count  {"status":S, "n":N}
 *
 *   range: "more" is set when the page stopped on its limit (items or bytes)
 *   with entries left; the next page starts after the last key.
 *
 * Errors that are not an op's outcome are HTTP statuses with a body
 * {"code":..., "message":...}:
 *   400 BadRequest       the body does not decode
 *   404 TableNotFound    the node does not know the table (after a short wait)
 *   421 NotLeader        the node does not lead the range (op: in its range map,
 *                        or its writer's admit hook refused the op unwritten) or
 *                        is not in the range's in-sync set (reads); carries
 *                        "epoch": the range's epoch as the node sees it. Nothing
 *                        ran: the router retries.
 *   503 Unavailable      the node cannot serve now (no replica, shutting down);
 *                        nothing ran.
 *
 * Apply kinds: an op whose condition or update runs on the leader carries an
 * apply_kind and an apply_wire (replica.h); the kind's decoder, registered on
 * every member by the module that owns the apply (api/ddb_write.c "ddb",
 * api/rest.c "merge"), rebuilds op->apply and op->apply_arg on the node.
 */
#ifndef DS_OPWIRE_H
#define DS_OPWIRE_H

#include "common/ds.h"
#include "common/json.h"
#include "engine/item.h"
#include "replica/replica.h"

/* ---- ops ------------------------------------------------------------------ */

/* Appends the op request of op (a DS_OP_WRITE with its table set) to out.
 * Returns DS_OK, or DS_EINVAL (another kind, an apply without apply_kind or
 * apply_wire, an item that does not encode; out may then hold a partial
 * body). op is only read. */
int opwire_encode_op(ds_buf *out, const ds_op *op);

/* Decodes an op request into op, which the caller has ds_op_init()ed with
 * the arena everything decoded goes to (items, apply_kind, the apply tree).
 * Sets op's key, ikey, hash, precond, is_delete, item, apply_kind,
 * want_old, max_item_bytes and async; *table_id; and *apply to the apply
 * member's tree (NULL if none), to hand to opwire_apply_build(). Leaves
 * op->table, apply_wire and the callbacks alone. Returns DS_OK or DS_EPARSE
 * with a message in err. On error op's buffers may hold data: ds_op_release
 * it as usual. */
int opwire_decode_op(const char *body, size_t len, ds_op *op, uint64_t *table_id,
                     const json_value **apply, char *err, size_t errlen);

/* An op's outcome. */
typedef struct opwire_answer {
    int status;
    const char *err;      /* "" when none */
    item_value *old_item; /* NULL when absent */
    item_value *new_item; /* NULL when absent */
} opwire_answer;

/* Appends the answer {"status",...} to out (err NULL or "" for none; the
 * items when not NULL). Returns DS_OK or DS_EINVAL (an item that does not
 * encode). */
int opwire_encode_answer(ds_buf *out, const opwire_answer *ans);

/* Decodes an op answer; strings and items live in a. DS_OK or DS_EPARSE. */
int opwire_decode_answer(ds_arena *a, const char *body, size_t len, opwire_answer *out, char *err,
                         size_t errlen);

/* ---- reads ------------------------------------------------------------------ */

typedef enum { OPWIRE_READ = 1, OPWIRE_RANGE, OPWIRE_LIST, OPWIRE_COUNT } opwire_kind;

/* An inclusive interval of hashes (one range's [low, high]). */
typedef struct opwire_span {
    uint32_t low, high;
} opwire_span;

typedef struct opwire_query {
    uint64_t table;
    ds_slice key;    /* READ */
    ds_slice lo, hi; /* RANGE, LIST, COUNT; len 0 = unbounded */
    ds_slice after;  /* RANGE, when has_after */
    int has_after;
    int reverse;        /* RANGE */
    ds_slice start;     /* LIST */
    size_t limit;       /* RANGE (per page), LIST */
    size_t max_bytes;   /* RANGE; 0 = no limit */
    opwire_span *spans; /* RANGE, LIST, COUNT */
    size_t nspans;
} opwire_query;

/* The request path of a kind: "internal/v1/read", ... (static). */
const char *opwire_path(opwire_kind kind);

/* Appends the request body of a read of the given kind. q is only read. */
void opwire_encode_query(ds_buf *out, opwire_kind kind, const opwire_query *q);

/* Decodes a read request; the slices and spans live in a. DS_OK or
 * DS_EPARSE (also for spans with low > high, or none where required). */
int opwire_decode_query(ds_arena *a, opwire_kind kind, const char *body, size_t len,
                        opwire_query *out, char *err, size_t errlen);

/* One entry of a range or list answer. */
typedef struct opwire_entry {
    ds_slice key; /* range: data key; list: index key */
    item_value *item;
    size_t stored_len; /* range only */
} opwire_entry;

typedef struct opwire_result {
    int status;
    item_value *item;      /* READ, when status is DS_OK */
    opwire_entry *entries; /* RANGE, LIST */
    size_t n;
    int more;       /* RANGE, LIST */
    uint64_t count; /* COUNT */
} opwire_result;

/* Appends a whole answer. DS_OK or DS_EINVAL (an item that does not encode). */
int opwire_encode_result(ds_buf *out, opwire_kind kind, const opwire_result *r);

/* Decodes an answer of the given kind; keys and items live in a. DS_OK or
 * DS_EPARSE. */
int opwire_decode_result(ds_arena *a, opwire_kind kind, const char *body, size_t len,
                         opwire_result *out, char *err, size_t errlen);

/* Streaming form of a range or list answer, for a node that walks its
 * store: begin, add each entry (stored_len < 0 for a list entry), end. The
 * result is what opwire_encode_result writes for the same entries. add
 * returns DS_OK or DS_EINVAL (an item that does not encode). */
void opwire_entries_begin(ds_buf *out);
int opwire_entries_add(ds_buf *out, const char *key, size_t klen, const item_value *item,
                       long long stored_len);
void opwire_entries_end(ds_buf *out, int status, int more);

/* ---- apply kinds ---------------------------------------------------------------
 * A decoder rebuilds op->apply and op->apply_arg (allocating in op->arena)
 * from the apply tree (which lives in op->arena) and the node's own table tb
 * (a reference the caller holds as long as the op). Returns DS_OK, or
 * DS_EINVAL / DS_EPARSE with a message in err: the op then fails with that
 * status without running. */
typedef int (*opwire_apply_fn)(ds_op *op, meta_table *tb, const json_value *wire, char *err,
                               size_t errlen);

/* Registers kind (a static string) -> fn. Call before any other thread runs
 * (the owners register from a constructor). At most 16 kinds. */
void opwire_register_apply(const char *kind, opwire_apply_fn fn);

/* Runs the decoder of op->apply_kind. DS_OK, DS_EINVAL for an unknown kind,
 * or the decoder's error. */
int opwire_apply_build(ds_op *op, meta_table *tb, const json_value *wire, char *err, size_t errlen);

/* Helpers for apply encoders and decoders: an item as a base64 string of its
 * item codec bytes. put appends the quoted string (DS_EINVAL if v does not
 * encode); get decodes member name of obj into a (DS_ENOTFOUND if absent,
 * DS_EPARSE if malformed). */
int opwire_put_item(ds_buf *out, const item_value *v);
int opwire_get_item(ds_arena *a, const json_value *obj, const char *name, item_value **out);

#endif

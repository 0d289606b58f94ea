/* fuzz_opwire.c -- libFuzzer driver for the internal RPC bodies
 * (cluster/opwire.h): the input goes to every decoder (op request, op
 * answer, the four read requests and their answers). Whatever decodes must
 * encode again and decode to the same values, and the second encoding must
 * be byte-identical to the first (the encoders are deterministic). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/opwire.h"
#include "control/meta.h"

static int dummy_apply(ds_op *op, const item_value *old, item_value **out) {
    (void)op, (void)old, (void)out;
    return DS_OK;
}

static void same_buf(const ds_buf *a, const ds_buf *b) {
    if (a->len != b->len || (a->len && memcmp(a->data, b->data, a->len))) abort();
}

static void same_item(const item_value *a, const item_value *b) {
    if (!a != !b || (a && !item_identical(a, b))) abort();
}

static void fuzz_op(ds_arena *a, const char *data, size_t size) {
    ds_op op, back;
    uint64_t id;
    const json_value *apply;
    ds_op_init(&op, DS_OP_WRITE, a);
    if (opwire_decode_op(data, size, &op, &id, &apply, NULL, 0) == DS_OK) {
        meta_table tb;
        memset(&tb, 0, sizeof tb);
        tb.id = id;
        op.table = &tb;
        if (apply) {
            op.apply = dummy_apply;
            json_write(&op.apply_wire, apply);
        }
        ds_buf b1 = DS_BUF_INIT, b2 = DS_BUF_INIT;
        if (opwire_encode_op(&b1, &op) != DS_OK) abort();
        ds_op_init(&back, DS_OP_WRITE, a);
        uint64_t id2;
        const json_value *apply2;
        if (opwire_decode_op(b1.data, b1.len, &back, &id2, &apply2, NULL, 0) != DS_OK) abort();
        if (id2 != id || back.hash != op.hash || back.precond != op.precond ||
            back.is_delete != op.is_delete || back.want_old != op.want_old ||
            back.max_item_bytes != op.max_item_bytes || back.async != op.async || !apply2 != !apply)
            abort();
        same_buf(&back.key, &op.key);
        same_buf(&back.ikey, &op.ikey);
        same_item(back.item, op.item);
        if (apply && strcmp(back.apply_kind, op.apply_kind)) abort();
        back.table = &tb;
        if (apply2) {
            back.apply = dummy_apply;
            json_write(&back.apply_wire, apply2);
        }
        if (opwire_encode_op(&b2, &back) != DS_OK) abort();
        same_buf(&b1, &b2);
        ds_buf_free(&b1), ds_buf_free(&b2);
        ds_op_release(&back);
    }
    ds_op_release(&op);
}

static void fuzz_answer(ds_arena *a, const char *data, size_t size) {
    opwire_answer x, y;
    if (opwire_decode_answer(a, data, size, &x, NULL, 0) != DS_OK) return;
    ds_buf b1 = DS_BUF_INIT, b2 = DS_BUF_INIT;
    if (opwire_encode_answer(&b1, &x) != DS_OK) abort();
    if (opwire_decode_answer(a, b1.data, b1.len, &y, NULL, 0) != DS_OK) abort();
    if (x.status != y.status || strcmp(x.err, y.err)) abort();
    same_item(x.old_item, y.old_item);
    same_item(x.new_item, y.new_item);
    if (opwire_encode_answer(&b2, &y) != DS_OK) abort();
    same_buf(&b1, &b2);
    ds_buf_free(&b1), ds_buf_free(&b2);
}

static void fuzz_query(ds_arena *a, opwire_kind k, const char *data, size_t size) {
    opwire_query q, r;
    if (opwire_decode_query(a, k, data, size, &q, NULL, 0) != DS_OK) return;
    ds_buf b1 = DS_BUF_INIT, b2 = DS_BUF_INIT;
    opwire_encode_query(&b1, k, &q);
    if (opwire_decode_query(a, k, b1.data, b1.len, &r, NULL, 0) != DS_OK) abort();
    opwire_encode_query(&b2, k, &r);
    same_buf(&b1, &b2);
    if (q.table != r.table || q.nspans != r.nspans || q.limit != r.limit) abort();
    ds_buf_free(&b1), ds_buf_free(&b2);
}

static void fuzz_result(ds_arena *a, opwire_kind k, const char *data, size_t size) {
    opwire_result x, y;
    if (opwire_decode_result(a, k, data, size, &x, NULL, 0) != DS_OK) return;
    ds_buf b1 = DS_BUF_INIT, b2 = DS_BUF_INIT;
    if (opwire_encode_result(&b1, k, &x) != DS_OK) abort();
    if (opwire_decode_result(a, k, b1.data, b1.len, &y, NULL, 0) != DS_OK) abort();
    if (x.status != y.status || x.n != y.n || x.more != y.more || x.count != y.count) abort();
    if (k == OPWIRE_READ) same_item(x.item, y.item);
    for (size_t i = 0; i < x.n; i++)
        same_item(x.entries[i].item, y.entries[i].item);
    if (opwire_encode_result(&b2, k, &y) != DS_OK) abort();
    same_buf(&b1, &b2);
    ds_buf_free(&b1), ds_buf_free(&b2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ds_arena *a = ds_arena_new(4096);
    const char *d = (const char *)data;
    fuzz_op(a, d, size);
    fuzz_answer(a, d, size);
    for (opwire_kind k = OPWIRE_READ; k <= OPWIRE_COUNT; k++) {
        fuzz_query(a, k, d, size);
        fuzz_result(a, k, d, size);
    }
    ds_arena_free(a);
    return 0;
}

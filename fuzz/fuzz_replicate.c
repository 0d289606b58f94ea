/* fuzz_replicate.c -- libFuzzer driver for the replication wire decoders
 * (cluster/replication.h): the replicate message and catch-up pages.
 * Whatever decodes must re-encode to the same bytes, and every key must lie
 * in its section's range (the follower relies on it). The first input byte
 * picks the decoder. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/replication.h"

static void check_keys(const replica_mut *m, size_t n, uint64_t table, uint32_t lo, uint32_t hi) {
    for (size_t i = 0; i < n; i++) {
        if (m[i].klen <= 12 || ds_get_u64be(m[i].key) != table) abort();
        uint32_t h = ds_get_u32be(m[i].key + 8);
        if (h < lo || h > hi) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    ds_arena *a = ds_arena_new(4096);
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    if (data[0] & 1) {
        int more;
        replica_mut *m;
        size_t nm;
        if (repl_page_decode(a, p, n, 1, 0, 0x7fffffff, &more, &m, &nm) == DS_OK) {
            check_keys(m, nm, 1, 0, 0x7fffffff);
            ds_buf body = DS_BUF_INIT, out = DS_BUF_INIT;
            repl_wire_muts(&body, m, nm);
            repl_page_encode(&out, more, (uint32_t)nm, body.data, body.len);
            if (out.len != n || memcmp(out.data, p, n)) abort();
            ds_buf_free(&body), ds_buf_free(&out);
        }
    } else {
        repl_wmsg msg;
        if (repl_wire_decode(a, p, n, &msg) == DS_OK) {
            ds_buf out = DS_BUF_INIT, body = DS_BUF_INIT;
            repl_wire_header(&out, msg.sender, (uint32_t)msg.nsections);
            for (size_t i = 0; i < msg.nsections; i++) {
                const repl_wsection *s = &msg.sections[i];
                check_keys(s->muts, s->nmuts, s->table_id, s->low, s->high);
                if (s->seq != s->prev_seq && s->seq != s->prev_seq + 1) abort();
                ds_buf_reset(&body);
                repl_wire_muts(&body, s->muts, s->nmuts);
                repl_wire_section(&out, s, body.data, body.len, (uint32_t)s->nmuts);
            }
            if (out.len != n || memcmp(out.data, p, n)) abort();
            ds_buf_free(&out), ds_buf_free(&body);
        }
    }
    ds_arena_free(a);
    return 0;
}

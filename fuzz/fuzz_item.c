/* fuzz_item.c -- libFuzzer driver for the item codec: decode arbitrary
 * bytes; whatever decodes must re-encode to the same bytes, decode again to
 * an identical tree, and render as JSON without trouble. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/item.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ds_arena *a = ds_arena_new(4096);
    item_value *v = NULL, *v2 = NULL;
    if (item_decode(a, data, size, &v) == DS_OK) {
        ds_buf b = DS_BUF_INIT, j = DS_BUF_INIT;
        if (item_encode(&b, v) != DS_OK) abort();
        if (b.len != size || memcmp(b.data, data, size)) abort();
        if (item_decode(a, b.data, b.len, &v2) != DS_OK) abort();
        if (!item_identical(v, v2)) abort();
        item_to_json(&j, v);
        if (v->type == ITEM_M && v->u.m.n)
            if (item_get(v, v->u.m.attrs[0].name, v->u.m.attrs[0].name_len) == NULL) abort();
        ds_buf_free(&b);
        ds_buf_free(&j);
    }
    ds_arena_free(a);
    return 0;
}

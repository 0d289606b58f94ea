/* fuzz_ddb_item.c -- libFuzzer driver for DynamoDB JSON items: parse the
 * input as JSON and convert it with ddb_item_from_json; whatever converts
 * must write back with ddb_item_to_json, re-parse, re-convert to an
 * identical tree, write the same bytes again, survive the storage codec,
 * and have a size no smaller than its attribute names. The conversion
 * must also be deterministic about failing: a second attempt on the same
 * tree returns the same code and message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/ddb_item.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ds_arena *a = ds_arena_new(4096);
    json_value *j = NULL, *j2 = NULL;
    item_value *v = NULL, *v2 = NULL, *v3 = NULL;
    char err[512], err2[512];
    if (json_parse(a, (const char *)data, size, 100, &j, NULL, 0) != DS_OK) goto done;
    int rc = ddb_item_from_json(a, j, &v, err, sizeof err);
    if (rc != DS_OK) {
        if (rc != DS_EINVAL && rc != DS_EPARSE) abort();
        if (!err[0]) abort(); /* every failure explains itself */
        if (ddb_item_from_json(a, j, &v2, err2, sizeof err2) != rc || strcmp(err, err2)) abort();
        goto done;
    }
    ds_buf out = DS_BUF_INIT, out2 = DS_BUF_INIT, enc = DS_BUF_INIT;
    ddb_item_to_json(&out, v);
    if (json_parse(a, out.data, out.len, 100, &j2, NULL, 0) != DS_OK) abort();
    if (ddb_item_from_json(a, j2, &v2, err, sizeof err) != DS_OK) abort();
    if (!item_identical(v, v2)) abort();
    ddb_item_to_json(&out2, v2);
    if (out.len != out2.len || memcmp(out.data, out2.data, out.len)) abort();
    if (item_encode(&enc, v) != DS_OK) abort();
    if (item_decode(a, enc.data, enc.len, &v3) != DS_OK || !item_identical(v, v3)) abort();
    size_t names = 0;
    for (size_t i = 0; i < v->u.m.n; i++)
        names += v->u.m.attrs[i].name_len;
    if (ddb_item_size(v) < names) abort();
    if (ddb_write_units(ddb_item_size(v)) < 1.0 || ddb_read_units(ddb_item_size(v), 0) < 0.5)
        abort();
    ds_buf_free(&out);
    ds_buf_free(&out2);
    ds_buf_free(&enc);
done:
    ds_arena_free(a);
    return 0;
}

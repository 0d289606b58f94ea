/* fuzz_keycodec.c -- libFuzzer driver for the key codec. The first byte picks
 * the component types (two bits each); the rest is decoded component by
 * component. Every component that decodes must re-encode to exactly the
 * bytes it was decoded from (the encoding is canonical), and its value must
 * be usable as a key (hash, data key). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/keycodec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    ds_arena *a = ds_arena_new(1024);
    ds_buf b = DS_BUF_INIT;
    unsigned types = data[0];
    const char *p = (const char *)data + 1, *end = (const char *)data + size;
    for (int i = 0; i < 4 && p < end; i++) {
        key_type t = (key_type)(1 + ((types >> (2 * i)) & 3) % 3);
        const char *start = p;
        key_part kp;
        if (keycodec_decode_component(a, t, &p, end, &kp) != DS_OK) break;
        if (p <= start || p > end || kp.type != t) abort();
        ds_buf_reset(&b);
        if (keycodec_put_component(&b, &kp) != DS_OK) abort();
        if (b.len != (size_t)(p - start) || memcmp(b.data, start, b.len)) abort();
        uint32_t h;
        if (keycodec_hash(&kp, &h) != DS_OK) abort();
        ds_buf_reset(&b);
        if (keycodec_data_key(&b, 1, h, &kp, NULL) != DS_OK) abort();
        if (t != KEY_N) {
            ds_buf_reset(&b);
            if (keycodec_put_prefix(&b, &kp) != DS_OK) abort();
            if (b.len + 2 != (size_t)(p - start) || memcmp(b.data, start, b.len)) abort();
        }
    }
    ds_buf_free(&b);
    ds_arena_free(a);
    return 0;
}

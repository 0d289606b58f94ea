/* fuzz_json.c -- libFuzzer driver for the JSON parser and writer
 * (src/common/json.c). Corpus: fuzz/corpus/json/, dictionary: fuzz/json.dict.
 *
 * For every input: parse it (errors are fine, crashes and sanitizer reports
 * are not). When it parses, check the properties the API layers rely on:
 *   1. json_write's output is valid UTF-8 and parses again;
 *   2. the re-parsed tree equals the first one, member for member;
 *   3. writing the re-parsed tree gives byte-identical output (a fixpoint);
 *   4. every string and number in the tree is NUL-terminated at len, every
 *      string is valid UTF-8 and json_get finds each object's members.
 * A violation calls abort(), which both libFuzzer and the replay runner
 * (tests/unit/replay_main.c) report as a failure.
 */
#include "common/json.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tree_eq(const json_value *a, const json_value *b) {
    if (a->type != b->type) return 0;
    switch (a->type) {
    case JSON_NULL:
    case JSON_FALSE:
    case JSON_TRUE:
        return 1;
    case JSON_NUMBER:
    case JSON_STRING:
        return a->u.str.len == b->u.str.len && !memcmp(a->u.str.s, b->u.str.s, a->u.str.len);
    case JSON_ARRAY:
        if (a->u.arr.n != b->u.arr.n) return 0;
        for (size_t i = 0; i < a->u.arr.n; i++)
            if (!tree_eq(a->u.arr.items[i], b->u.arr.items[i])) return 0;
        return 1;
    case JSON_OBJECT:
        if (a->u.obj.n != b->u.obj.n) return 0;
        for (size_t i = 0; i < a->u.obj.n; i++) {
            const json_member *x = &a->u.obj.members[i], *y = &b->u.obj.members[i];
            if (x->key_len != y->key_len || memcmp(x->key, y->key, x->key_len)) return 0;
            if (!tree_eq(x->value, y->value)) return 0;
        }
        return 1;
    }
    return 0;
}

static void check_tree(const json_value *v) {
    switch (v->type) {
    case JSON_NUMBER:
    case JSON_STRING:
        if (v->u.str.s[v->u.str.len] != 0) abort();
        if (v->type == JSON_STRING && !json_utf8_valid(v->u.str.s, v->u.str.len)) abort();
        break;
    case JSON_ARRAY:
        for (size_t i = 0; i < v->u.arr.n; i++)
            check_tree(v->u.arr.items[i]);
        break;
    case JSON_OBJECT:
        for (size_t i = 0; i < v->u.obj.n; i++) {
            const json_member *m = &v->u.obj.members[i];
            if (m->key[m->key_len] != 0 || !json_utf8_valid(m->key, m->key_len)) abort();
            /* keys are unique, so lookup must find this very member */
            if (json_get_n(v, m->key, m->key_len) != m->value) abort();
            check_tree(m->value);
        }
        break;
    default:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ds_arena *a = ds_arena_new(4096);
    json_value *v = NULL, *w = NULL;
    char err[512]; /* long enough for any message, so the offset is never cut */
    ds_buf b1 = DS_BUF_INIT, b2 = DS_BUF_INIT;

    /* a copy of exactly size bytes, so ASan sees any read past the end */
    char *text = ds_memdup(data, size);
    int rc = json_parse(a, text, size, 0, &v, err, sizeof err);
    ds_free(text);
    if (rc != DS_OK) {
        if (rc != DS_EPARSE || v != NULL || !strstr(err, " at offset ")) abort();
        goto strings;
    }
    check_tree(v);
    json_write(&b1, v);
    if (!json_utf8_valid(b1.data, b1.len)) abort();
    if (json_parse(a, b1.data, b1.len, 0, &w, err, sizeof err) != DS_OK) {
        fprintf(stderr, "written JSON does not parse: %s\n", err);
        abort();
    }
    if (!tree_eq(v, w)) abort();
    json_write(&b2, w);
    if (b1.len != b2.len || memcmp(b1.data, b2.data, b1.len)) abort();

strings:
    /* the string writer alone on the raw bytes: always a valid JSON string,
     * which decodes back to the input when that was valid UTF-8 */
    ds_buf_reset(&b2);
    json_write_string(&b2, (const char *)data, size);
    if (json_parse(a, b2.data, b2.len, 0, &w, err, sizeof err) != DS_OK) abort();
    if (w->type != JSON_STRING) abort();
    if (json_utf8_valid((const char *)data, size) &&
        (w->u.str.len != size || memcmp(w->u.str.s, data, size)))
        abort();
    ds_buf_free(&b1);
    ds_buf_free(&b2);
    ds_arena_free(a);
    return 0;
}

/* dict.c -- chained hash table from byte strings to pointers (see dict.h). */
#include "common/dict.h"

#include <string.h>

typedef struct dict_entry {
    struct dict_entry *next;
    uint64_t hash;
    void *value;
    size_t len;
    char key[];
} dict_entry;

struct dict {
    dict_entry **slots;
    size_t mask, count;
};

static uint64_t fnv1a(const void *p, size_t n) {
    const unsigned char *c = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ c[i]) * 1099511628211ull;
    return h;
}

dict *dict_new(void) {
    dict *d = ds_calloc(1, sizeof *d);
    d->mask = 15;
    d->slots = ds_calloc(d->mask + 1, sizeof *d->slots);
    return d;
}

void dict_free(dict *d) {
    if (!d) return;
    for (size_t i = 0; i <= d->mask; i++) {
        dict_entry *e = d->slots[i];
        while (e) {
            dict_entry *n = e->next;
            ds_free(e);
            e = n;
        }
    }
    ds_free(d->slots);
    ds_free(d);
}

static dict_entry **find(const dict *d, const void *key, size_t len, uint64_t h) {
    dict_entry **pp = &d->slots[h & d->mask];
    while (*pp && !((*pp)->hash == h && (*pp)->len == len && !memcmp((*pp)->key, key, len)))
        pp = &(*pp)->next;
    return pp;
}

void *dict_get(const dict *d, const void *key, size_t len) {
    dict_entry *e = *find(d, key, len, fnv1a(key, len));
    return e ? e->value : NULL;
}

static void grow(dict *d) {
    size_t nmask = d->mask * 2 + 1;
    dict_entry **ns = ds_calloc(nmask + 1, sizeof *ns);
    for (size_t i = 0; i <= d->mask; i++) {
        dict_entry *e = d->slots[i];
        while (e) {
            dict_entry *n = e->next;
            e->next = ns[e->hash & nmask];
            ns[e->hash & nmask] = e;
            e = n;
        }
    }
    ds_free(d->slots);
    d->slots = ns;
    d->mask = nmask;
}

void *dict_set(dict *d, const void *key, size_t len, void *value) {
    uint64_t h = fnv1a(key, len);
    dict_entry **pp = find(d, key, len, h);
    if (*pp) {
        void *old = (*pp)->value;
        (*pp)->value = value;
        return old;
    }
    dict_entry *e = ds_malloc(sizeof *e + len);
    e->next = NULL;
    e->hash = h;
    e->value = value;
    e->len = len;
    memcpy(e->key, key, len);
    *pp = e;
    if (++d->count > d->mask) grow(d);
    return NULL;
}

void *dict_del(dict *d, const void *key, size_t len) {
    dict_entry **pp = find(d, key, len, fnv1a(key, len));
    dict_entry *e = *pp;
    if (!e) return NULL;
    void *v = e->value;
    *pp = e->next;
    ds_free(e);
    d->count--;
    return v;
}

size_t dict_count(const dict *d) { return d->count; }

int dict_each(const dict *d, int (*fn)(const void *, size_t, void *, void *), void *ud) {
    for (size_t i = 0; i <= d->mask; i++)
        for (dict_entry *e = d->slots[i], *n; e; e = n) {
            n = e->next; /* fn may delete e */
            int rc = fn(e->key, e->len, e->value, ud);
            if (rc) return rc;
        }
    return 0;
}

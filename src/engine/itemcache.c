/* itemcache.c -- see itemcache.h.
 *
 * A shard is a chained hash table (buckets double when the entries outnumber
 * them) and a doubly linked LRU list through the same entries; an entry is
 * one allocation holding its key and value. A hit moves the entry to the
 * front of its shard's list; a fill evicts from the back until the shard is
 * within its share of the budget.
 */
#include "engine/itemcache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/murmur3.h"

#define SHARD_BITS 6
#define SHARDS (1 << SHARD_BITS)
#define ENTRY_OVERHEAD 16 /* allocator's rounding and header, roughly */

typedef struct entry {
    struct entry *chain;      /* next in the bucket */
    struct entry *prev, *next; /* LRU: prev is more recent */
    uint32_t hash, klen, vlen;
    unsigned char space; /* keys of different spaces never match */
    char kv[]; /* key, then value */
} entry;

typedef struct {
    pthread_mutex_t mu;
    uint64_t gen; /* bumped by every write's begin and end */
    int writing;  /* writes begun and not ended: no fill lands meanwhile */
    entry **buckets;
    size_t nbuckets, count, bytes, budget;
    entry *head, *tail; /* most and least recently used */
} __attribute__((aligned(64))) shard;

struct itemcache {
    shard shards[SHARDS];
};

static size_t entry_bytes(size_t kl, size_t vl) {
    return sizeof(entry) + kl + vl + ENTRY_OVERHEAD;
}

static shard *shard_of(itemcache *c, uint32_t hash) {
    return &c->shards[hash >> (32 - SHARD_BITS)]; /* the top bits; buckets use the low ones */
}

itemcache *itemcache_new(size_t budget) {
    if (!budget) return NULL;
    /* shards are 64-byte aligned (no false sharing between their locks):
     * malloc promises only 16 */
    void *mem = NULL;
    if (posix_memalign(&mem, 64, sizeof(itemcache))) {
        ds_error("itemcache: out of memory");
        abort();
    }
    itemcache *c = memset(mem, 0, sizeof *c);
    for (int i = 0; i < SHARDS; i++) {
        shard *s = &c->shards[i];
        pthread_mutex_init(&s->mu, NULL);
        s->budget = budget / SHARDS;
        s->nbuckets = 64;
        s->buckets = ds_calloc(s->nbuckets, sizeof *s->buckets);
    }
    return c;
}

static void shard_drop_all(shard *s) {
    for (entry *e = s->head, *n; e; e = n) {
        n = e->next;
        ds_free(e);
    }
    memset(s->buckets, 0, s->nbuckets * sizeof *s->buckets);
    s->head = s->tail = NULL;
    s->count = s->bytes = 0;
}

void itemcache_free(itemcache *c) {
    if (!c) return;
    for (int i = 0; i < SHARDS; i++) {
        shard_drop_all(&c->shards[i]);
        ds_free(c->shards[i].buckets);
        pthread_mutex_destroy(&c->shards[i].mu);
    }
    ds_free(c);
}

/* The link that points at k's entry (or at the NULL ending its chain). */
static entry **find(shard *s, uint32_t hash, unsigned char space, const void *k, size_t kl) {
    entry **p = &s->buckets[hash & (s->nbuckets - 1)];
    for (; *p; p = &(*p)->chain)
        if ((*p)->hash == hash && (*p)->klen == kl && (*p)->space == space &&
            !memcmp((*p)->kv, k, kl))
            break;
    return p;
}

/* The spaces hash with different seeds, so their keys spread independently. */
uint32_t itemcache_hash(unsigned char space, const void *k, size_t kl) {
    return murmur3_32(k, kl, space);
}

static void lru_unlink(shard *s, entry *e) {
    if (e->prev) e->prev->next = e->next;
    else s->head = e->next;
    if (e->next) e->next->prev = e->prev;
    else s->tail = e->prev;
}

static void lru_push_front(shard *s, entry *e) {
    e->prev = NULL;
    e->next = s->head;
    if (s->head) s->head->prev = e;
    s->head = e;
    if (!s->tail) s->tail = e;
}

/* The link that points at e itself. */
static entry **link_of(shard *s, entry *e) {
    entry **p = &s->buckets[e->hash & (s->nbuckets - 1)];
    while (*p != e)
        p = &(*p)->chain;
    return p;
}

/* Unlinks the entry *p points at from its chain and the LRU, and frees it. */
static void remove_at(shard *s, entry **p) {
    entry *e = *p;
    *p = e->chain;
    lru_unlink(s, e);
    s->count--;
    s->bytes -= entry_bytes(e->klen, e->vlen);
    ds_free(e);
}

static void grow(shard *s) {
    size_t n = s->nbuckets * 2;
    entry **b = ds_calloc(n, sizeof *b);
    for (size_t i = 0; i < s->nbuckets; i++) {
        for (entry *e = s->buckets[i], *next; e; e = next) {
            next = e->chain;
            e->chain = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    }
    ds_free(s->buckets);
    s->buckets = b;
    s->nbuckets = n;
}

int itemcache_get(itemcache *c, unsigned char space, const void *k, size_t kl,
                  char out[ITEMCACHE_MAX_VALUE], size_t *vl, itemcache_ticket *t) {
    if (!c) return 0;
    uint32_t hash = itemcache_hash(space, k, kl);
    shard *s = shard_of(c, hash);
    pthread_mutex_lock(&s->mu);
    entry *e = *find(s, hash, space, k, kl);
    if (e) {
        if (s->head != e) {
            lru_unlink(s, e);
            lru_push_front(s, e);
        }
        memcpy(out, e->kv + e->klen, e->vlen);
        *vl = e->vlen;
    } else {
        t->hash = hash;
        t->space = space;
        t->gen = s->gen;
    }
    pthread_mutex_unlock(&s->mu);
    return e != NULL;
}

void itemcache_fill(itemcache *c, const itemcache_ticket *t, const void *k, size_t kl,
                    const void *v, size_t vl) {
    if (!c || vl > ITEMCACHE_MAX_VALUE) return;
    shard *s = shard_of(c, t->hash);
    size_t need = entry_bytes(kl, vl);
    if (need > s->budget) return;
    entry *n = ds_malloc(sizeof *n + kl + vl);
    n->hash = t->hash;
    n->klen = (uint32_t)kl;
    n->vlen = (uint32_t)vl;
    n->space = t->space;
    memcpy(n->kv, k, kl);
    memcpy(n->kv + kl, v, vl);
    pthread_mutex_lock(&s->mu);
    if (s->gen != t->gen || s->writing) { /* a write came in between: the value may be old */
        pthread_mutex_unlock(&s->mu);
        ds_free(n);
        return;
    }
    entry **p = find(s, t->hash, t->space, k, kl);
    if (*p) remove_at(s, p); /* another reader filled it meanwhile */
    while (s->bytes + need > s->budget && s->tail)
        remove_at(s, link_of(s, s->tail));
    if (s->count >= s->nbuckets) grow(s);
    p = &s->buckets[t->hash & (s->nbuckets - 1)];
    n->chain = *p;
    *p = n;
    lru_push_front(s, n);
    s->count++;
    s->bytes += need;
    pthread_mutex_unlock(&s->mu);
}

/* Drops k (every entry when k is NULL) from s, moves its generation and
 * counts a write in (+1) or out (-1). */
static void shard_write(shard *s, uint32_t hash, unsigned char space, const void *k, size_t kl,
                        int delta) {
    pthread_mutex_lock(&s->mu);
    if (!k) {
        shard_drop_all(s);
    } else {
        entry **p = find(s, hash, space, k, kl);
        if (*p) remove_at(s, p);
    }
    s->gen++;
    s->writing += delta;
    pthread_mutex_unlock(&s->mu);
}

static void write_mark(itemcache *c, unsigned char space, const void *k, size_t kl, int delta) {
    if (!c) return;
    if (k) {
        uint32_t hash = itemcache_hash(space, k, kl);
        shard_write(shard_of(c, hash), hash, space, k, kl, delta);
        return;
    }
    for (int i = 0; i < SHARDS; i++)
        shard_write(&c->shards[i], 0, 0, NULL, 0, delta);
}

void itemcache_write_begin(itemcache *c, unsigned char space, const void *k, size_t kl) {
    write_mark(c, space, k, kl, +1);
}

void itemcache_write_end(itemcache *c, unsigned char space, const void *k, size_t kl) {
    write_mark(c, space, k, kl, -1);
}

size_t itemcache_usage(itemcache *c) {
    size_t n = 0;
    if (!c) return 0;
    for (int i = 0; i < SHARDS; i++) {
        pthread_mutex_lock(&c->shards[i].mu);
        n += c->shards[i].bytes;
        pthread_mutex_unlock(&c->shards[i].mu);
    }
    return n;
}

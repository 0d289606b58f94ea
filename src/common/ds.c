/* ds.c -- status names, allocation wrappers, byte buffers, arenas, logging
 * and clocks: the small things every module leans on (see ds.h). */
#include "common/ds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <pthread.h>

const char *ds_strerror(int code) {
    switch (code) {
    case DS_OK: return "ok";
    case DS_ENOMEM: return "out of memory";
    case DS_EINVAL: return "invalid input";
    case DS_ENOTFOUND: return "not found";
    case DS_EEXIST: return "already exists";
    case DS_EIO: return "I/O error";
    case DS_ECORRUPT: return "stored data is corrupt";
    case DS_EAUTH: return "authentication failed";
    case DS_EFORBIDDEN: return "forbidden";
    case DS_EBUSY: return "busy, retry later";
    case DS_ETOOBIG: return "too large";
    case DS_ECRYPTO: return "cryptographic failure";
    case DS_EPARSE: return "parse error";
    case DS_ECONDITION: return "condition not met";
    case DS_ESTATE: return "wrong state";
    case DS_ENOSPACE: return "out of disk space";
    case DS_ETIMEDOUT: return "timed out";
    case DS_ERANGE: return "out of range";
    }
    return "unknown error";
}

int ds_seterr(char *err, size_t errlen, int code, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* ---- allocation -------------------------------------------------------- */
static void oom(size_t n) {
    fprintf(stderr, "dstore: out of memory allocating %zu bytes\n", n);
    abort();
}

void *ds_malloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) oom(n);
    return p;
}

void *ds_calloc(size_t count, size_t size) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) oom(count * size);
    return p;
}

void *ds_realloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) oom(n);
    return q;
}

char *ds_strdup(const char *s) { return ds_memdup(s, strlen(s) + 1); }

char *ds_strndup(const char *s, size_t n) {
    char *p = ds_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

void *ds_memdup(const void *p, size_t n) {
    void *q = ds_malloc(n);
    if (n) memcpy(q, p, n);
    return q;
}

void ds_free(void *p) { free(p); }

/* ---- byte buffers ------------------------------------------------------ */
void ds_buf_init(ds_buf *b) { b->data = NULL, b->len = b->cap = 0; }

void ds_buf_free(ds_buf *b) {
    free(b->data);
    ds_buf_init(b);
}

void ds_buf_reset(ds_buf *b) {
    b->len = 0;
    if (b->data) b->data[0] = 0;
}

void ds_buf_grow(ds_buf *b, size_t need) {
    if (need <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap *= 2;
    b->data = ds_realloc(b->data, cap);
    b->cap = cap;
}

void ds_buf_vprintf(ds_buf *b, const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    ds_buf_reserve(b, 64);
    int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    if (n < 0) n = 0;
    if ((size_t)n >= b->cap - b->len) {
        ds_buf_reserve(b, (size_t)n);
        vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap2);
    }
    va_end(ap2);
    b->len += (size_t)n;
}

void ds_buf_printf(ds_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    ds_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void ds_buf_put_u32be(ds_buf *b, uint32_t v) {
    unsigned char c[4];
    ds_put_u32be(c, v);
    ds_buf_append(b, c, 4);
}

void ds_buf_put_u64be(ds_buf *b, uint64_t v) {
    unsigned char c[8];
    ds_put_u64be(c, v);
    ds_buf_append(b, c, 8);
}

char *ds_buf_detach(ds_buf *b, size_t *len) {
    if (!b->data) ds_buf_reserve(b, 0), b->data[0] = 0;
    char *p = b->data;
    if (len) *len = b->len;
    ds_buf_init(b);
    return p;
}

/* ---- arenas ------------------------------------------------------------ */
/* A chain of blocks; allocations bump a pointer in the newest block. A
 * request larger than a quarter of the block size gets a block of its own so
 * big allocations do not waste the rest of a block. */
typedef struct arena_block {
    struct arena_block *next;
    size_t size, used;
    _Alignas(16) char mem[];
} arena_block;

struct ds_arena {
    arena_block *head;
    arena_block *spare;  /* standard-size blocks kept by reset for reuse */
    size_t nspare;
    size_t block_size;
    size_t total;
};

/* Blocks an arena keeps across resets: enough for a large request to be
 * served again without malloc and page faults, bounded so an idle
 * connection's arena does not hold much. */
#define ARENA_MAX_SPARE 32

ds_arena *ds_arena_new(size_t first_block) {
    ds_arena *a = ds_calloc(1, sizeof *a);
    a->block_size = first_block < 1024 ? 1024 : first_block;
    return a;
}

static void free_chain(arena_block *b) {
    while (b) {
        arena_block *n = b->next;
        free(b);
        b = n;
    }
}

static void arena_drop(ds_arena *a) {
    free_chain(a->head);
    free_chain(a->spare);
    a->head = a->spare = NULL;
    a->nspare = 0;
    a->total = 0;
}

void ds_arena_free(ds_arena *a) {
    if (!a) return;
    arena_drop(a);
    free(a);
}

void ds_arena_reset(ds_arena *a) {
    arena_block *b = a->head;
    while (b) {
        arena_block *n = b->next;
        if (b->size == a->block_size && a->nspare < ARENA_MAX_SPARE) {
            b->used = 0;
            b->next = a->spare;
            a->spare = b;
            a->nspare++;
        } else
            free(b);
        b = n;
    }
    a->head = NULL;
    a->total = 0;
}

void *ds_arena_alloc(ds_arena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    arena_block *b = a->head;
    if (!b || b->size - b->used < n) {
        size_t size = a->block_size;
        if (n > size / 4) size = n;
        arena_block *nb;
        if (size == a->block_size && a->spare) {
            nb = a->spare;
            a->spare = nb->next;
            a->nspare--;
        } else
            nb = ds_malloc(sizeof *nb + size);
        nb->size = size;
        nb->used = 0;
        if (size == n && b) {
            /* dedicated block: link behind the current one to keep using it */
            nb->next = b->next;
            b->next = nb;
            nb->used = n;
            a->total += n;
            return nb->mem;
        }
        nb->next = b;
        a->head = b = nb;
    }
    void *p = b->mem + b->used;
    b->used += n;
    a->total += n;
    return p;
}

void *ds_arena_calloc(ds_arena *a, size_t n) {
    void *p = ds_arena_alloc(a, n);
    memset(p, 0, n);
    return p;
}

char *ds_arena_strndup(ds_arena *a, const char *s, size_t n) {
    char *p = ds_arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

void *ds_arena_memdup(ds_arena *a, const void *p, size_t n) {
    void *q = ds_arena_alloc(a, n);
    if (n) memcpy(q, p, n);
    return q;
}

size_t ds_arena_used(const ds_arena *a) { return a->total; }

/* ---- logging and clocks ------------------------------------------------ */
int ds_log_level = DS_LOG_INFO;

void ds_log(int level, const char *fmt, ...) {
    static const char *names[] = {"debug", "info", "warn", "error"};
    if (level < ds_log_level) return;
    char line[2048];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, names[level & 3]);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = strlen(line);
    line[len++] = '\n';
    fwrite(line, 1, len, stderr); /* one write per line: no interleaving */
}

uint64_t ds_now_ms(void) { return ds_now_us() / 1000; }

uint64_t ds_now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int64_t ds_wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ds_deadline(struct timespec *ts, int clock, long ms) {
    clock_gettime((clockid_t)clock, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) ts->tv_sec++, ts->tv_nsec -= 1000000000L;
}

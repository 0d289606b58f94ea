/* ds.h -- what every dStore module shares: status codes, the allocation
 * wrappers, growable byte buffers, request-scoped arenas and logging.
 *
 * Conventions (see docs/architecture.md and ../shared/STYLE.md):
 *  - Functions return int: DS_OK (0) or a negative DS_E* code; results come
 *    back through out-parameters. ds_strerror() names every code.
 *  - ds_malloc() and friends never return NULL: out of memory aborts, since a
 *    server that cannot allocate cannot answer anyone truthfully.
 *  - A ds_buf owns its bytes; ds_buf_free() releases them. Its data is always
 *    NUL-terminated (not counted in len) so it can be used as a C string.
 *  - A ds_arena hands out memory that lives until ds_arena_reset() or
 *    ds_arena_free(): the lifetime of one request.
 */
#ifndef DS_H
#define DS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define DSTORE_VERSION "0.1.0"

/* ---- status codes ------------------------------------------------------ */
enum {
    DS_OK = 0,
    DS_ENOMEM = -1,    /* out of memory (normally aborts instead) */
    DS_EINVAL = -2,    /* malformed or invalid argument / input */
    DS_ENOTFOUND = -3, /* no such thing */
    DS_EEXIST = -4,    /* already exists */
    DS_EIO = -5,       /* storage or OS I/O failed */
    DS_ECORRUPT = -6,  /* stored data failed a check (bad tag, bad codec) */
    DS_EAUTH = -7,     /* authentication failed */
    DS_EFORBIDDEN = -8,/* authenticated but not allowed */
    DS_EBUSY = -9,     /* over a limit right now: retry later */
    DS_ETOOBIG = -10,  /* exceeds a size limit */
    DS_ECRYPTO = -11,  /* cryptographic library failure */
    DS_EPARSE = -12,   /* syntax error in a parsed format */
    DS_ECONDITION = -13, /* a condition on the write was false */
    DS_ESTATE = -14,   /* wrong state for the operation (e.g. closing) */
    DS_ENOSPACE = -15, /* disk full or over the disk limit */
    DS_ETIMEDOUT = -16,
    DS_ERANGE = -17,   /* value out of range */
};

/* Returns a static, human-readable name for a DS_E* code (never NULL). */
const char *ds_strerror(int code);

/* Writes a printf-style message into err (errlen bytes, NUL-terminated,
 * truncated; nothing when err is NULL or errlen 0) and returns code: the
 * one way a function hands its caller both a status and a message. */
int ds_seterr(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- allocation -------------------------------------------------------- */
/* All abort the process on out-of-memory; none returns NULL (ds_malloc(0)
 * returns a unique pointer). Free with ds_free() (plain free()). */
void *ds_malloc(size_t n);
void *ds_calloc(size_t count, size_t size);
void *ds_realloc(void *p, size_t n);
char *ds_strdup(const char *s);
char *ds_strndup(const char *s, size_t n);
void *ds_memdup(const void *p, size_t n);
void ds_free(void *p);

/* ---- byte buffers ------------------------------------------------------ */
typedef struct ds_buf {
    char *data;  /* NUL-terminated after every operation; NULL when cap==0 */
    size_t len;
    size_t cap;
} ds_buf;

#define DS_BUF_INIT {NULL, 0, 0}

void ds_buf_init(ds_buf *b);
void ds_buf_free(ds_buf *b);           /* releases the bytes, back to empty */
void ds_buf_reset(ds_buf *b);          /* len = 0, keeps the capacity */
void ds_buf_grow(ds_buf *b, size_t need); /* cap >= need (doubling); see ds_buf_reserve */
/* The appends are inline: encoders call them per byte and per field, and
 * the common case is a compare and a copy. */
static inline void ds_buf_reserve(ds_buf *b, size_t extra) { /* room for len+extra+1 bytes */
    if (b->len + extra + 1 > b->cap) ds_buf_grow(b, b->len + extra + 1);
}
static inline void ds_buf_append(ds_buf *b, const void *p, size_t n) {
    ds_buf_reserve(b, n);
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
}
static inline void ds_buf_puts(ds_buf *b, const char *s) { ds_buf_append(b, s, strlen(s)); }
static inline void ds_buf_putc(ds_buf *b, char c) {
    ds_buf_reserve(b, 1);
    b->data[b->len++] = c;
    b->data[b->len] = 0;
}
void ds_buf_printf(ds_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void ds_buf_vprintf(ds_buf *b, const char *fmt, va_list ap);
/* Big-endian fixed-width appends (for key codecs and wire formats). */
void ds_buf_put_u32be(ds_buf *b, uint32_t v);
void ds_buf_put_u64be(ds_buf *b, uint64_t v);
/* Hands the bytes to the caller (who must ds_free them) and empties b. */
char *ds_buf_detach(ds_buf *b, size_t *len);

static inline uint32_t ds_get_u32be(const void *p) {
    const unsigned char *c = p;
    return (uint32_t)c[0] << 24 | (uint32_t)c[1] << 16 | (uint32_t)c[2] << 8 | c[3];
}
static inline uint64_t ds_get_u64be(const void *p) {
    const unsigned char *c = p;
    return (uint64_t)ds_get_u32be(c) << 32 | ds_get_u32be(c + 4);
}
static inline void ds_put_u32be(void *p, uint32_t v) {
    unsigned char *c = p;
    c[0] = v >> 24; c[1] = v >> 16; c[2] = v >> 8; c[3] = v;
}
static inline void ds_put_u64be(void *p, uint64_t v) {
    ds_put_u32be(p, (uint32_t)(v >> 32));
    ds_put_u32be((unsigned char *)p + 4, (uint32_t)v);
}

/* ---- arenas ------------------------------------------------------------ */
typedef struct ds_arena ds_arena;

ds_arena *ds_arena_new(size_t first_block);
void ds_arena_free(ds_arena *a);   /* frees every allocation and a itself */
void ds_arena_reset(ds_arena *a);  /* frees every allocation, keeps a */
/* 16-byte aligned memory valid until reset/free; never NULL. */
void *ds_arena_alloc(ds_arena *a, size_t n);
void *ds_arena_calloc(ds_arena *a, size_t n);
char *ds_arena_strndup(ds_arena *a, const char *s, size_t n);
void *ds_arena_memdup(ds_arena *a, const void *p, size_t n);
/* Bytes handed out so far (for limits on per-request memory). */
size_t ds_arena_used(const ds_arena *a);

/* ---- slices ------------------------------------------------------------ */
/* A borrowed run of bytes; its owner says how long it stays valid. */
typedef struct ds_slice {
    const char *p;
    size_t len;
} ds_slice;

static inline int ds_slice_eq(ds_slice s, const char *lit) {
    size_t n = 0;
    while (lit[n]) n++;
    if (n != s.len) return 0;
    for (size_t i = 0; i < n; i++)
        if (s.p[i] != lit[i]) return 0;
    return 1;
}

/* ---- logging ----------------------------------------------------------- */
enum { DS_LOG_DEBUG, DS_LOG_INFO, DS_LOG_WARN, DS_LOG_ERROR };
extern int ds_log_level; /* messages below this level are dropped */
/* Writes one line to stderr with a timestamp. Never log secrets. */
void ds_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define ds_debug(...) ds_log(DS_LOG_DEBUG, __VA_ARGS__)
#define ds_info(...) ds_log(DS_LOG_INFO, __VA_ARGS__)
#define ds_warn(...) ds_log(DS_LOG_WARN, __VA_ARGS__)
#define ds_error(...) ds_log(DS_LOG_ERROR, __VA_ARGS__)

/* Monotonic and wall clocks. */
uint64_t ds_now_ms(void);      /* CLOCK_MONOTONIC, milliseconds */
uint64_t ds_now_us(void);      /* CLOCK_MONOTONIC, microseconds */
int64_t ds_wall_ms(void);      /* CLOCK_REALTIME, ms since the epoch */
struct timespec;
/* *ts = now on `clock` + ms: the deadline of a pthread_cond_timedwait on a
 * condition variable using that clock (CLOCK_REALTIME by default). */
void ds_deadline(struct timespec *ts, int clock, long ms);

#define DS_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define DS_MIN(a, b) ((a) < (b) ? (a) : (b))
#define DS_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif

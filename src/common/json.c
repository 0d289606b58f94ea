/* json.c -- strict RFC 8259 JSON: parser into an arena tree, and writers.
 *
 * The parser is on the path of every request, so it is written for speed:
 *
 *  - It is iterative, not recursive: one loop with an explicit stack of open
 *    containers, so a hostile max_depth cannot overflow the C stack.
 *  - The members of an open array or object collect on a scratch stack (on
 *    the C stack for small documents, the heap beyond that); when the
 *    container closes they are copied into the arena in one allocation of
 *    exactly the right size.
 *  - Strings are scanned sixteen bytes at a time (SSE2; eight, SWAR, where
 *    there is no SSE2) for the four things that end a plain run: '"', '\\',
 *    a control byte or a non-ASCII byte.
 *    UTF-8 is validated inline. A string without escapes is copied with one
 *    memcpy; one with escapes is decoded by memcpy of the runs between them.
 *  - Duplicate keys are found when an object closes: pairwise for small
 *    objects (at most DUP_SMALL members), by sorting a copy for larger ones,
 *    so a 100,000-member object costs O(n log n), never O(n^2). The error
 *    names the first member (in document order) whose key appeared before.
 *
 * The input need not be NUL-terminated and is never read past len. The tree
 * never points into it: every string and number is copied into the arena
 * (NUL-terminated; len is authoritative because strings may contain NUL).
 */
#include "common/json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define DUP_SMALL 16 /* objects up to this size are checked pairwise */

/* Bytes that end a plain run inside a string, for reading and for writing:
 * '"', '\\', control characters and every byte of a multi-byte sequence. */
/* clang-format off */
static const unsigned char str_special[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};
/* clang-format on */

#define REP8(c) (0x0101010101010101ull * (uint64_t)(c))

/* Nonzero if any byte of w is special (see str_special). Exact about whether
 * some byte is special, not about which one. */
static inline uint64_t swar_special(uint64_t w) {
    uint64_t q = w ^ REP8('"'), b = w ^ REP8('\\');
    uint64_t has_q = (q - REP8(1)) & ~q;
    uint64_t has_b = (b - REP8(1)) & ~b;
    uint64_t has_ctl = (w - REP8(0x20)) & ~w;
    return (has_q | has_b | has_ctl | w) & REP8(0x80);
}

/* Advances p over plain string bytes, stopping at the first special byte or
 * at end. With SSE2 (every x86-64) 16 bytes a step: '"', '\\', and one signed
 * compare for the rest (below 0x20 as signed bytes are exactly the control
 * bytes and those of 0x80 and up); the mask says which byte stopped it. */
static inline const unsigned char *skip_plain(const unsigned char *p, const unsigned char *end) {
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(0x20);
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i hit =
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                         _mm_cmplt_epi8(v, space));
        unsigned m = (unsigned)_mm_movemask_epi8(hit);
        if (m) return p + __builtin_ctz(m);
        p += 16;
    }
#endif
    while (end - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        if (swar_special(w)) {
            while (!str_special[*p])
                p++; /* one of these 8 bytes stops it */
            return p;
        }
        p += 8;
    }
    while (p < end && !str_special[*p])
        p++;
    return p;
}

/* The length of the well-formed UTF-8 sequence at p (1..4), or, when it is
 * ill-formed, minus the length of its maximal subpart (Unicode 3.9 D93b), the
 * run of bytes to replace with one U+FFFD. Rejects overlong forms, encoded
 * surrogates and code points above U+10FFFF. p < end. */
static inline int utf8_seq(const unsigned char *p, const unsigned char *end) {
    unsigned c = p[0];
    size_t avail = (size_t)(end - p);
    if (c < 0x80) return 1;
    if (c < 0xc2) return -1;
    if (c < 0xe0) return avail >= 2 && (p[1] & 0xc0) == 0x80 ? 2 : -1;
    unsigned lo = 0x80, hi = 0xbf;
    int n;
    if (c < 0xf0) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c < 0xf5) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else {
        return -1;
    }
    if (avail < 2 || p[1] < lo || p[1] > hi) return -1;
    if (avail < 3 || (p[2] & 0xc0) != 0x80) return -2;
    if (n == 3) return 3;
    if (avail < 4 || (p[3] & 0xc0) != 0x80) return -3;
    return 4;
}

/* Why the sequence at p is ill-formed (slow path, for error messages). */
static const char *utf8_reason(const unsigned char *p, const unsigned char *end) {
    unsigned c = p[0];
    if (c >= 0x80 && c < 0xc0) return "unexpected continuation byte";
    if (c == 0xc0 || c == 0xc1) return "overlong encoding";
    if (c >= 0xf5) return "byte never valid in UTF-8 (above U+10FFFF)";
    if (end - p < 2 || (p[1] & 0xc0) != 0x80) return "truncated sequence";
    if (c == 0xe0 && p[1] < 0xa0) return "overlong encoding";
    if (c == 0xf0 && p[1] < 0x90) return "overlong encoding";
    if (c == 0xed && p[1] >= 0xa0) return "encoded surrogate U+D800..U+DFFF";
    if (c == 0xf4 && p[1] >= 0x90) return "code point above U+10FFFF";
    return "truncated sequence";
}

int json_utf8_valid(const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        if (end - p >= 8) {
            uint64_t w;
            memcpy(&w, p, 8);
            if (!(w & REP8(0x80))) {
                p += 8;
                continue;
            }
        }
        int k = utf8_seq(p, end);
        if (k < 0) return 0;
        p += k;
    }
    return 1;
}

/* ---- parser ------------------------------------------------------------ */

/* One entry of the scratch stack: a member of an open object (key and
 * value) or an item of an open array (value only). */
typedef struct slot {
    const char *key;
    size_t key_len;
    size_t key_off; /* offset of the key's opening quote, for messages */
    json_value *value;
} slot;

typedef struct frame {
    json_type type; /* JSON_ARRAY or JSON_OBJECT */
    size_t mark;    /* index of its first slot */
} frame;

typedef struct parser {
    ds_arena *a;
    const unsigned char *start, *end;
    char *err;
    size_t errlen;
    slot *slots;
    size_t nslots, capslots;
    frame *frames;
    size_t nframes, capframes;
    int slots_heap, frames_heap;
} parser;

/* Writes "<message> at offset N" into the caller's err; returns DS_EPARSE. */
static int perr(parser *ps, const unsigned char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int perr(parser *ps, const unsigned char *at, const char *fmt, ...) {
    if (ps->err && ps->errlen) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(ps->err, ps->errlen, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < ps->errlen)
            snprintf(ps->err + n, ps->errlen - (size_t)n, " at offset %zu",
                     (size_t)(at - ps->start));
    }
    return DS_EPARSE;
}

/* Describes the byte at p for a message: 'x' or byte 0xNN. */
static const char *show_byte(char *tmp, size_t n, const unsigned char *p) {
    if (*p >= 0x21 && *p < 0x7f)
        snprintf(tmp, n, "'%c'", *p);
    else
        snprintf(tmp, n, "byte 0x%02x", *p);
    return tmp;
}

static void push_slot(parser *ps, slot s) {
    if (ps->nslots == ps->capslots) {
        size_t cap = ps->capslots * 2;
        if (ps->slots_heap) {
            ps->slots = ds_realloc(ps->slots, cap * sizeof *ps->slots);
        } else {
            slot *n = ds_malloc(cap * sizeof *n);
            memcpy(n, ps->slots, ps->nslots * sizeof *n);
            ps->slots = n;
            ps->slots_heap = 1;
        }
        ps->capslots = cap;
    }
    ps->slots[ps->nslots++] = s;
}

static void push_frame(parser *ps, json_type t) {
    if (ps->nframes == ps->capframes) {
        size_t cap = ps->capframes * 2;
        if (ps->frames_heap) {
            ps->frames = ds_realloc(ps->frames, cap * sizeof *ps->frames);
        } else {
            frame *n = ds_malloc(cap * sizeof *n);
            memcpy(n, ps->frames, ps->nframes * sizeof *n);
            ps->frames = n;
            ps->frames_heap = 1;
        }
        ps->capframes = cap;
    }
    ps->frames[ps->nframes++] = (frame){t, ps->nslots};
}

static inline int hexval(unsigned c) {
    if (c - '0' < 10) return (int)(c - '0');
    c |= 0x20;
    if (c - 'a' < 6) return (int)(c - 'a' + 10);
    return -1;
}

/* The value of 4 hex digits at p, or -1. */
static inline long hex4(const unsigned char *p) {
    int a = hexval(p[0]), b = hexval(p[1]), c = hexval(p[2]), d = hexval(p[3]);
    if ((a | b | c | d) < 0) return -1;
    return (long)a << 12 | b << 8 | c << 4 | d;
}

static inline char *put_utf8(char *d, unsigned long cp) {
    if (cp < 0x80) {
        *d++ = (char)cp;
    } else if (cp < 0x800) {
        *d++ = (char)(0xc0 | cp >> 6);
        *d++ = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *d++ = (char)(0xe0 | cp >> 12);
        *d++ = (char)(0x80 | (cp >> 6 & 0x3f));
        *d++ = (char)(0x80 | (cp & 0x3f));
    } else {
        *d++ = (char)(0xf0 | cp >> 18);
        *d++ = (char)(0x80 | (cp >> 12 & 0x3f));
        *d++ = (char)(0x80 | (cp >> 6 & 0x3f));
        *d++ = (char)(0x80 | (cp & 0x3f));
    }
    return d;
}

/* Decodes the escapes of the raw string body [s, e) (already checked for
 * control bytes and UTF-8 by the scan) into dst; sets *outlen. */
static int unescape(parser *ps, const unsigned char *s, const unsigned char *e, char *dst,
                    size_t *outlen) {
    char *d = dst;
    while (s < e) {
        const unsigned char *bs = memchr(s, '\\', (size_t)(e - s));
        if (!bs) {
            memcpy(d, s, (size_t)(e - s));
            d += e - s;
            break;
        }
        memcpy(d, s, (size_t)(bs - s));
        d += bs - s;
        s = bs + 2; /* the scan guarantees a byte after every backslash */
        switch (bs[1]) {
        case '"':
            *d++ = '"';
            break;
        case '\\':
            *d++ = '\\';
            break;
        case '/':
            *d++ = '/';
            break;
        case 'b':
            *d++ = '\b';
            break;
        case 'f':
            *d++ = '\f';
            break;
        case 'n':
            *d++ = '\n';
            break;
        case 'r':
            *d++ = '\r';
            break;
        case 't':
            *d++ = '\t';
            break;
        case 'u': {
            long cp = e - s >= 4 ? hex4(s) : -1;
            if (cp < 0) return perr(ps, bs, "invalid \\u escape (needs 4 hex digits)");
            s += 4;
            if (cp >= 0xdc00 && cp <= 0xdfff)
                return perr(ps, bs, "unpaired low surrogate \\u%04lX", (unsigned long)cp);
            if (cp >= 0xd800 && cp <= 0xdbff) {
                long lo = -1;
                if (e - s >= 6 && s[0] == '\\' && s[1] == 'u') lo = hex4(s + 2);
                if (lo < 0xdc00 || lo > 0xdfff)
                    return perr(ps, bs,
                                "unpaired high surrogate \\u%04lX (must be followed by a "
                                "\\uDC00..\\uDFFF escape)",
                                (unsigned long)cp);
                s += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            d = put_utf8(d, (unsigned long)cp);
            break;
        }
        default: {
            char tmp[16];
            return perr(ps, bs, "invalid escape \\%s in string",
                        show_byte(tmp, sizeof tmp, bs + 1));
        }
        }
    }
    *outlen = (size_t)(d - dst);
    return DS_OK;
}

/* Parses the string whose opening quote is at *pp into an arena copy. */
static int parse_string(parser *ps, const unsigned char **pp, const char **out, size_t *outlen) {
    const unsigned char *open = *pp, *s = open + 1, *q = s, *end = ps->end;
    int esc = 0;
    for (;;) {
        q = skip_plain(q, end);
        if (q >= end) return perr(ps, open, "unterminated string starting");
        unsigned c = *q;
        if (c == '"') break;
        if (c == '\\') {
            if (end - q < 2) return perr(ps, open, "unterminated string starting");
            esc = 1;
            q += 2;
        } else if (c < 0x20) {
            return perr(ps, q, "control character 0x%02x in string (must be escaped)", c);
        } else {
            int k = utf8_seq(q, end);
            if (k < 0)
                return perr(ps, q, "invalid UTF-8 in string: %s (byte 0x%02x)", utf8_reason(q, end),
                            c);
            q += k;
        }
    }
    size_t raw = (size_t)(q - s);
    char *dst = ds_arena_alloc(ps->a, raw + 1);
    size_t n = raw;
    if (esc) {
        int rc = unescape(ps, s, q, dst, &n);
        if (rc) return rc;
    } else {
        memcpy(dst, s, raw);
    }
    dst[n] = 0;
    *out = dst;
    *outlen = n;
    *pp = q + 1;
    return DS_OK;
}

#define IS_DIGIT(c) ((unsigned)(c) - '0' < 10)

/* Checks the RFC 8259 number grammar at *pp and copies its text. */
static int parse_number(parser *ps, const unsigned char **pp, json_value *v) {
    const unsigned char *s = *pp, *p = s, *end = ps->end;
    if (*p == '-') p++;
    if (p >= end || !IS_DIGIT(*p)) return perr(ps, p, "expected digit after '-' in number");
    if (*p == '0') {
        p++;
        if (p < end && IS_DIGIT(*p)) return perr(ps, p - 1, "leading zero in number");
    } else {
        while (p < end && IS_DIGIT(*p))
            p++;
    }
    if (p < end && *p == '.') {
        p++;
        if (p >= end || !IS_DIGIT(*p)) return perr(ps, p, "expected digit after '.' in number");
        while (p < end && IS_DIGIT(*p))
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (p >= end || !IS_DIGIT(*p)) return perr(ps, p, "expected digit in exponent of number");
        while (p < end && IS_DIGIT(*p))
            p++;
    }
    v->type = JSON_NUMBER;
    v->u.str.s = ds_arena_strndup(ps->a, (const char *)s, (size_t)(p - s));
    v->u.str.len = (size_t)(p - s);
    *pp = p;
    return DS_OK;
}

static int slot_key_eq(const slot *x, const slot *y) {
    return x->key_len == y->key_len && memcmp(x->key, y->key, x->key_len) == 0;
}

/* Orders by key (length first: any total order will do), then position. */
static int slot_cmp(const void *x, const void *y) {
    const slot *a = x, *b = y;
    if (a->key_len != b->key_len) return a->key_len < b->key_len ? -1 : 1;
    int c = memcmp(a->key, b->key, a->key_len);
    if (c) return c;
    return a->key_off < b->key_off ? -1 : a->key_off > b->key_off;
}

static int dup_error(parser *ps, const slot *d) {
    ds_buf b = DS_BUF_INIT;
    size_t n = d->key_len;
    if (n > 40) { /* keep messages short; cut at a character boundary */
        n = 40;
        while (n > 0 && ((unsigned char)d->key[n] & 0xc0) == 0x80)
            n--;
    }
    json_write_string(&b, d->key, n);
    int rc =
        perr(ps, ps->start + d->key_off, "duplicate key %s%s", b.data, n < d->key_len ? "..." : "");
    ds_buf_free(&b);
    return rc;
}

/* Finds a key that occurs twice among the n slots at sl (which it may
 * reorder: they are about to be dropped). */
static int check_dups(parser *ps, slot *sl, size_t n) {
    if (n <= DUP_SMALL) {
        for (size_t i = 1; i < n; i++)
            for (size_t j = 0; j < i; j++)
                if (slot_key_eq(&sl[i], &sl[j])) return dup_error(ps, &sl[i]);
        return DS_OK;
    }
    qsort(sl, n, sizeof *sl, slot_cmp);
    const slot *first = NULL;
    for (size_t i = 1; i < n; i++)
        if (slot_key_eq(&sl[i - 1], &sl[i]) && (!first || sl[i].key_off < first->key_off))
            first = &sl[i];
    return first ? dup_error(ps, first) : DS_OK;
}

/* Moves the slots of the innermost open container into v; pops it. */
static int close_container(parser *ps, json_value *v) {
    frame f = ps->frames[--ps->nframes];
    slot *sl = ps->slots + f.mark;
    size_t n = ps->nslots - f.mark;
    v->type = f.type;
    if (f.type == JSON_ARRAY) {
        json_value **items = n ? ds_arena_alloc(ps->a, n * sizeof *items) : NULL;
        for (size_t i = 0; i < n; i++)
            items[i] = sl[i].value;
        v->u.arr.items = items;
        v->u.arr.n = n;
    } else {
        json_member *m = n ? ds_arena_alloc(ps->a, n * sizeof *m) : NULL;
        for (size_t i = 0; i < n; i++)
            m[i] = (json_member){sl[i].key, sl[i].key_len, sl[i].value};
        v->u.obj.members = m;
        v->u.obj.n = n;
        if (n > 1) {
            int rc = check_dups(ps, sl, n);
            if (rc) return rc;
        }
    }
    ps->nslots = f.mark;
    return DS_OK;
}

#define SKIP_WS(p, end)                                                                            \
    while ((p) < (end) && (*(p) == ' ' || *(p) == '\n' || *(p) == '\r' || *(p) == '\t'))           \
    (p)++

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        rc = perr(&ps, __VA_ARGS__);                                                               \
        goto out;                                                                                  \
    } while (0)

#define CHECK_RC(expr)                                                                             \
    do {                                                                                           \
        if ((rc = (expr)) != DS_OK) goto out;                                                      \
    } while (0)

int json_parse(ds_arena *a, const char *text, size_t len, int max_depth, json_value **out,
               char *err, size_t errlen) {
    slot slot_buf[64];
    frame frame_buf[32];
    parser ps = {
        .a = a,
        .start = (const unsigned char *)text,
        .end = (const unsigned char *)text + len,
        .err = err,
        .errlen = errlen,
        .slots = slot_buf,
        .capslots = DS_ARRAY_LEN(slot_buf),
        .frames = frame_buf,
        .capframes = DS_ARRAY_LEN(frame_buf),
    };
    const unsigned char *p = ps.start, *end = ps.end;
    size_t depth_limit = max_depth > 0 ? (size_t)max_depth : JSON_DEFAULT_MAX_DEPTH;
    json_value *v = NULL;
    int rc = DS_OK;
    char tmp[16];

    *out = NULL;
    if (err && errlen) err[0] = 0;

value:
    SKIP_WS(p, end);
    if (p >= end) {
        if (ps.nframes == 0) FAIL(p, "expected a JSON value, found end of input");
        FAIL(p, "expected a value, found end of input");
    }
    switch (*p) {
    case '{':
    case '[':
        if (ps.nframes >= depth_limit) FAIL(p, "nesting deeper than %zu", depth_limit);
        push_frame(&ps, *p == '{' ? JSON_OBJECT : JSON_ARRAY);
        p++;
        SKIP_WS(p, end);
        if (p < end && *p == (ps.frames[ps.nframes - 1].type == JSON_OBJECT ? '}' : ']')) {
            p++;
            v = ds_arena_alloc(a, sizeof *v);
            CHECK_RC(close_container(&ps, v));
            goto have_value;
        }
        if (ps.frames[ps.nframes - 1].type == JSON_OBJECT) goto key;
        goto value;
    case '"':
        v = ds_arena_alloc(a, sizeof *v);
        v->type = JSON_STRING;
        CHECK_RC(parse_string(&ps, &p, &v->u.str.s, &v->u.str.len));
        goto have_value;
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
        v = ds_arena_alloc(a, sizeof *v);
        CHECK_RC(parse_number(&ps, &p, v));
        goto have_value;
    case 't':
        if (end - p >= 4 && memcmp(p, "true", 4) == 0) {
            v = ds_arena_alloc(a, sizeof *v);
            v->type = JSON_TRUE;
            p += 4;
            goto have_value;
        }
        FAIL(p, "invalid literal (expected true, false or null)");
    case 'f':
        if (end - p >= 5 && memcmp(p, "false", 5) == 0) {
            v = ds_arena_alloc(a, sizeof *v);
            v->type = JSON_FALSE;
            p += 5;
            goto have_value;
        }
        FAIL(p, "invalid literal (expected true, false or null)");
    case 'n':
        if (end - p >= 4 && memcmp(p, "null", 4) == 0) {
            v = ds_arena_alloc(a, sizeof *v);
            v->type = JSON_NULL;
            p += 4;
            goto have_value;
        }
        FAIL(p, "invalid literal (expected true, false or null)");
    case '+':
    case '.':
        FAIL(p, "invalid number (must start with '-' or a digit)");
    default:
        FAIL(p, "expected a value, found %s", show_byte(tmp, sizeof tmp, p));
    }

key:
    /* p is at the first non-blank after '{' or ',' */
    if (p >= end) FAIL(p, "expected string key in object, found end of input");
    if (*p != '"')
        FAIL(p, "expected string key in object, found %s", show_byte(tmp, sizeof tmp, p));
    {
        slot s = {.key_off = (size_t)(p - ps.start)};
        CHECK_RC(parse_string(&ps, &p, &s.key, &s.key_len));
        push_slot(&ps, s);
    }
    SKIP_WS(p, end);
    if (p >= end || *p != ':') FAIL(p, "expected ':' after object key");
    p++;
    goto value;

have_value:
    if (ps.nframes == 0) goto done;
    {
        frame *top = &ps.frames[ps.nframes - 1];
        int is_obj = top->type == JSON_OBJECT;
        if (is_obj)
            ps.slots[ps.nslots - 1].value = v;
        else
            push_slot(&ps, (slot){.value = v});
        SKIP_WS(p, end);
        if (p >= end)
            FAIL(p, "unexpected end of input in %s (expected ',' or '%c')",
                 is_obj ? "object" : "array", is_obj ? '}' : ']');
        if (*p == ',') {
            p++;
            SKIP_WS(p, end);
            if (p < end && *p == (is_obj ? '}' : ']'))
                FAIL(p, "trailing comma in %s", is_obj ? "object" : "array");
            if (is_obj) goto key;
            goto value;
        }
        if (*p == (is_obj ? '}' : ']')) {
            p++;
            v = ds_arena_alloc(a, sizeof *v);
            CHECK_RC(close_container(&ps, v));
            goto have_value;
        }
        FAIL(p, "expected ',' or '%c' after %s, found %s", is_obj ? '}' : ']',
             is_obj ? "object member" : "array element", show_byte(tmp, sizeof tmp, p));
    }

done:
    SKIP_WS(p, end);
    if (p < end)
        FAIL(p, "unexpected %s after the JSON value (trailing garbage)",
             show_byte(tmp, sizeof tmp, p));
    *out = v;

out:
    if (ps.slots_heap) ds_free(ps.slots);
    if (ps.frames_heap) ds_free(ps.frames);
    return rc;
}

/* ---- lookup ------------------------------------------------------------ */

json_value *json_get_n(const json_value *obj, const char *key, size_t key_len) {
    if (!obj || obj->type != JSON_OBJECT) return NULL;
    const json_member *m = obj->u.obj.members;
    for (size_t i = 0; i < obj->u.obj.n; i++)
        if (m[i].key_len == key_len && memcmp(m[i].key, key, key_len) == 0) return m[i].value;
    return NULL;
}

json_value *json_get(const json_value *obj, const char *key) {
    return json_get_n(obj, key, strlen(key));
}

/* ---- writers ----------------------------------------------------------- */

void json_write_string(ds_buf *b, const char *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s, *end = p + len, *run = p;
    ds_buf_reserve(b, len + 2);
    ds_buf_putc(b, '"');
    for (;;) {
        p = skip_plain(p, end);
        if (p >= end) break;
        unsigned c = *p;
        if (c >= 0x80) {
            int k = utf8_seq(p, end);
            if (k > 0) { /* valid: stays in the run */
                p += k;
                continue;
            }
            ds_buf_append(b, run, (size_t)(p - run));
            ds_buf_append(b, "\xef\xbf\xbd", 3); /* U+FFFD */
            p += -k;
            run = p;
            continue;
        }
        ds_buf_append(b, run, (size_t)(p - run));
        char e[6] = {'\\', 0};
        size_t n = 2;
        switch (c) {
        case '"':
            e[1] = '"';
            break;
        case '\\':
            e[1] = '\\';
            break;
        case '\b':
            e[1] = 'b';
            break;
        case '\f':
            e[1] = 'f';
            break;
        case '\n':
            e[1] = 'n';
            break;
        case '\r':
            e[1] = 'r';
            break;
        case '\t':
            e[1] = 't';
            break;
        default:
            memcpy(e + 1, "u00", 3);
            e[4] = hex[c >> 4];
            e[5] = hex[c & 15];
            n = 6;
        }
        ds_buf_append(b, e, n);
        p++;
        run = p;
    }
    ds_buf_append(b, run, (size_t)(p - run));
    ds_buf_putc(b, '"');
}

static size_t child_count(const json_value *v) {
    return v->type == JSON_ARRAY ? v->u.arr.n : v->u.obj.n;
}

/* Writes child i of container c (with its key, for an object) up to the
 * value, and returns the value. */
static const json_value *open_child(ds_buf *b, const json_value *c, size_t i) {
    if (c->type == JSON_ARRAY) return c->u.arr.items[i];
    const json_member *m = &c->u.obj.members[i];
    json_write_string(b, m->key, m->key_len);
    ds_buf_putc(b, ':');
    return m->value;
}

/* Iterative, like the parser, so any tree it built can be written whatever
 * its depth. */
void json_write(ds_buf *b, const json_value *v) {
    struct wframe {
        const json_value *c; /* an open array or object */
        size_t i;            /* the child being written */
    } local[32], *st = local;
    size_t n = 0, cap = DS_ARRAY_LEN(local);

    for (;;) {
        switch (v->type) {
        case JSON_NULL:
            ds_buf_append(b, "null", 4);
            break;
        case JSON_FALSE:
            ds_buf_append(b, "false", 5);
            break;
        case JSON_TRUE:
            ds_buf_append(b, "true", 4);
            break;
        case JSON_NUMBER:
            ds_buf_append(b, v->u.str.s, v->u.str.len);
            break;
        case JSON_STRING:
            json_write_string(b, v->u.str.s, v->u.str.len);
            break;
        case JSON_ARRAY:
        case JSON_OBJECT:
            ds_buf_putc(b, v->type == JSON_ARRAY ? '[' : '{');
            if (child_count(v) == 0) {
                ds_buf_putc(b, v->type == JSON_ARRAY ? ']' : '}');
                break;
            }
            if (n == cap) {
                struct wframe *ns = ds_malloc(2 * cap * sizeof *ns);
                memcpy(ns, st, n * sizeof *ns);
                if (st != local) ds_free(st);
                st = ns;
                cap *= 2;
            }
            st[n++] = (struct wframe){v, 0};
            v = open_child(b, v, 0);
            continue;
        }
        /* v is written: move to the next sibling, closing finished parents */
        for (;;) {
            if (n == 0) goto done;
            struct wframe *top = &st[n - 1];
            if (++top->i < child_count(top->c)) {
                ds_buf_putc(b, ',');
                v = open_child(b, top->c, top->i);
                break;
            }
            ds_buf_putc(b, top->c->type == JSON_ARRAY ? ']' : '}');
            n--;
        }
    }
done:
    if (st != local) ds_free(st);
}

int json_number_valid(const char *s, size_t len) {
    size_t i = 0;
    if (i < len && s[i] == '-') i++;
    if (i >= len) return 0;
    if (s[i] == '0') i++;
    else if (s[i] >= '1' && s[i] <= '9')
        while (i < len && s[i] >= '0' && s[i] <= '9') i++;
    else
        return 0;
    if (i < len && s[i] == '.') {
        size_t d = ++i;
        while (i < len && s[i] >= '0' && s[i] <= '9') i++;
        if (i == d) return 0;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-')) i++;
        size_t d = i;
        while (i < len && s[i] >= '0' && s[i] <= '9') i++;
        if (i == d) return 0;
    }
    return i == len;
}

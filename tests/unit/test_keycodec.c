/* test_keycodec.c -- storage keys: round trips, memcmp order == DynamoDB
 * order (S/B bytes, N numerically), composite order, prefixes, layout. */
#include "common/decimal.h"
#include "common/murmur3.h"
#include "engine/keycodec.h"
#include "t.h"

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint64_t rnd(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}

static int memcmp_len(const char *a, size_t al, const char *b, size_t bl) {
    int c = memcmp(a, b, al < bl ? al : bl);
    if (c) return c < 0 ? -1 : 1;
    return al == bl ? 0 : al < bl ? -1 : 1;
}

static void enc(ds_buf *b, key_type t, const char *p, size_t n) {
    key_part kp = {t, p, n};
    ds_buf_reset(b);
    CHECK_EQ_INT(keycodec_put_component(b, &kp), DS_OK);
}

static void roundtrip(key_type t, const char *p, size_t n, const char *want, size_t wl) {
    ds_buf b = DS_BUF_INIT;
    ds_arena *a = ds_arena_new(256);
    enc(&b, t, p, n);
    ds_buf_append(&b, "tail", 4);
    const char *q = b.data;
    key_part out;
    CHECK_EQ_INT(keycodec_decode_component(a, t, &q, b.data + b.len, &out), DS_OK);
    CHECK_EQ_INT(out.type, t);
    CHECK_EQ_INT(out.len, wl);
    CHECK_EQ_MEM(out.p, want, wl);
    CHECK_EQ_INT(out.p[out.len], 0);
    CHECK(q == b.data + b.len - 4);
    /* every truncation fails cleanly */
    for (size_t cut = 0; cut < b.len - 4; cut++) {
        q = b.data;
        CHECK_EQ_INT(keycodec_decode_component(a, t, &q, b.data + cut, &out), DS_ECORRUPT);
    }
    ds_arena_free(a);
    ds_buf_free(&b);
}

TEST(roundtrips) {
    roundtrip(KEY_S, "", 0, "", 0);
    roundtrip(KEY_S, "hello", 5, "hello", 5);
    roundtrip(KEY_S, "h\xc3\xa9llo", 6, "h\xc3\xa9llo", 6);
    roundtrip(KEY_B, "\0", 1, "\0", 1);
    roundtrip(KEY_B, "\0\0\x01\xff\0", 5, "\0\0\x01\xff\0", 5);
    roundtrip(KEY_B, "a\0b", 3, "a\0b", 3);
    roundtrip(KEY_N, "0", 1, "0", 1);
    roundtrip(KEY_N, "-0.0", 4, "0", 1);
    roundtrip(KEY_N, "1.50", 4, "1.5", 3);
    roundtrip(KEY_N, "-123e2", 6, "-12300", 6);
    roundtrip(KEY_N, "12345678901234567890123456789012345678", 38,
              "12345678901234567890123456789012345678", 38);
    roundtrip(KEY_N, "-1234567890123456789012345678901234567", 38,
              "-1234567890123456789012345678901234567", 38);
    ds_buf t = DS_BUF_INIT;
    decimal d;
    CHECK_EQ_INT(decimal_parse("1e-130", 6, &d), DS_OK);
    decimal_format(&t, &d);
    roundtrip(KEY_N, "1e-130", 6, t.data, t.len);
    ds_buf_reset(&t);
    CHECK_EQ_INT(decimal_parse("-9.9999999999999999999999999999999999999E+125", 45, &d), DS_OK);
    decimal_format(&t, &d);
    roundtrip(KEY_N, "-9.9999999999999999999999999999999999999E+125", 45, t.data, t.len);
    ds_buf_free(&t);
    /* sizes: N at most KEYCODEC_N_MAX */
    ds_buf b = DS_BUF_INIT;
    enc(&b, KEY_N, "-12345678901234567890123456789012345678", 39);
    CHECK_EQ_INT(b.len, KEYCODEC_N_MAX);
    enc(&b, KEY_N, "0", 1);
    CHECK_EQ_INT(b.len, 1);
    enc(&b, KEY_S, "ab", 2);
    CHECK_EQ_INT(b.len, 4);
    CHECK_EQ_MEM(b.data, "ab\0\x01", 4);
    ds_buf_free(&b);
}

TEST(bad_input) {
    ds_buf b = DS_BUF_INIT;
    key_part bad = {KEY_N, "1x", 2};
    CHECK_EQ_INT(keycodec_put_component(&b, &bad), DS_EINVAL);
    key_part big = {KEY_N, "1e999", 5};
    CHECK_EQ_INT(keycodec_put_component(&b, &big), DS_ERANGE);
    uint32_t h;
    CHECK_EQ_INT(keycodec_hash(&bad, &h), DS_EINVAL);
    key_part ok = {KEY_S, "k", 1};
    CHECK_EQ_INT(b.len, 0);
    /* a failing sort key leaves out unchanged */
    ds_buf_puts(&b, "keep");
    CHECK_EQ_INT(keycodec_data_key(&b, 1, 2, &ok, &bad), DS_EINVAL);
    CHECK_EQ_INT(b.len, 4);
    CHECK_EQ_INT(keycodec_index_key(&b, 1, &bad, NULL), DS_EINVAL);
    CHECK_EQ_INT(b.len, 4);
    CHECK_EQ_INT(keycodec_put_prefix(&b, &(key_part){KEY_N, "1", 1}), DS_EINVAL);
    /* malformed encodings */
    ds_arena *a = ds_arena_new(256);
    static const struct {
        key_type t;
        const char *p;
        size_t n;
    } m[] = {
        {KEY_S, "abc", 3},
        {KEY_S, "a\0", 2},
        {KEY_S, "a\0\x02", 3},
        {KEY_B, "\0\x00", 2},
        {KEY_N, "", 0},
        {KEY_N, "\x04", 1},
        {KEY_N, "\x00", 1},
        {KEY_N, "\x03", 1},
        {KEY_N, "\x03\x80", 2},
        {KEY_N, "\x03\x80\x00", 3},
        {KEY_N, "\x03\x80\x65\x00", 4},     /* 101 > 100 */
        {KEY_N, "\x03\x80\x02\x00", 4},     /* digits 0,1: leading zero */
        {KEY_N, "\x03\x80\x0b\x01\x00", 5}, /* 1,0,0,0: trailing zeros */
        {KEY_N, "\x01\x7f\xff", 3},         /* negative with no digits */
        {(key_type)9, "\x02", 1},
    };
    for (size_t i = 0; i < DS_ARRAY_LEN(m); i++) {
        const char *q = m[i].p;
        key_part out;
        if (keycodec_decode_component(a, m[i].t, &q, m[i].p + m[i].n, &out) != DS_ECORRUPT)
            T_FAIL("malformed case %zu decoded", i);
    }
    /* 20 digit pairs (40 digits) is too many */
    char n40[64] = "\x03\x80";
    memset(n40 + 2, 12, 20);
    n40[22] = 0;
    const char *q = n40;
    key_part out;
    CHECK_EQ_INT(keycodec_decode_component(a, KEY_N, &q, n40 + 23, &out), DS_ECORRUPT);
    ds_arena_free(a);
    ds_buf_free(&b);
}

static size_t rnd_bytes(char *p, size_t max) {
    size_t n = rnd() % (max + 1);
    static const char alpha[] = {0, 1, 'a', 'b', 0x7f, (char)0x80, (char)0xfe, (char)0xff};
    for (size_t i = 0; i < n; i++)
        p[i] = rnd() % 3 ? alpha[rnd() % sizeof alpha] : (char)rnd();
    return n;
}

TEST(bytes_order_is_memcmp_order) {
    ds_buf ea = DS_BUF_INIT, eb = DS_BUF_INIT;
    for (int i = 0; i < 200000; i++) {
        char a[8], b[8];
        size_t al = rnd_bytes(a, 6), bl = rnd_bytes(b, 6);
        key_type t = i % 2 ? KEY_S : KEY_B;
        enc(&ea, t, a, al);
        enc(&eb, t, b, bl);
        int want = memcmp_len(a, al, b, bl), got = memcmp_len(ea.data, ea.len, eb.data, eb.len);
        if (want != got) T_FAIL("order of %zu/%zu-byte values: %d vs %d", al, bl, want, got);
    }
    ds_buf_free(&ea);
    ds_buf_free(&eb);
}

static size_t rnd_number(char *p) {
    int digits = 1 + (int)(rnd() % 40);
    size_t n = 0;
    if (rnd() % 2) p[n++] = '-';
    for (int i = 0; i < digits; i++)
        p[n++] = (char)('0' + rnd() % (rnd() % 4 ? 10 : 2));
    if (rnd() % 2) {
        size_t at = 1 + rnd() % (size_t)digits;
        memmove(p + at + 1, p + at, n - at);
        p[at] = '.';
        n++;
    }
    n += (size_t)sprintf(p + n, "e%d", (int)(rnd() % 270) - 135);
    return n;
}

TEST(number_order_is_memcmp_order) {
    ds_buf ea = DS_BUF_INIT, eb = DS_BUF_INIT;
    int compared = 0;
    for (int i = 0; i < 300000; i++) {
        char a[64], b[64];
        size_t al = rnd_number(a), bl = rnd_number(b);
        if (i % 5 == 0) memcpy(b, a, bl = al); /* equal values */
        decimal da, db;
        if (decimal_parse(a, al, &da) || decimal_parse(b, bl, &db)) continue;
        if (i % 7 == 0) db.sign = (int8_t)-da.sign; /* flip sign classes */
        if (i % 11 == 0) db.exp = da.exp;           /* same exponent */
        ds_buf t = DS_BUF_INIT;
        decimal_format(&t, &db);
        enc(&ea, KEY_N, a, al);
        enc(&eb, KEY_N, t.data, t.len);
        int want = decimal_cmp(&da, &db), got = memcmp_len(ea.data, ea.len, eb.data, eb.len);
        if (want != got) T_FAIL("order of %.*s vs %s: %d vs %d", (int)al, a, t.data, want, got);
        ds_buf_free(&t);
        compared++;
    }
    CHECK(compared > 100000);
    ds_buf_free(&ea);
    ds_buf_free(&eb);
}

TEST(composite_order) {
    ds_buf ea = DS_BUF_INIT, eb = DS_BUF_INIT;
    for (int i = 0; i < 100000; i++) {
        char pa[8], pb[8], sa[8], sb[8];
        size_t pal = rnd_bytes(pa, 3), pbl = rnd_bytes(pb, 3);
        size_t sal = rnd_bytes(sa, 3), sbl = rnd_bytes(sb, 3);
        if (i % 3 == 0) memcpy(pb, pa, pbl = pal);
        key_part ka = {KEY_S, pa, pal}, kb = {KEY_S, pb, pbl};
        key_part xa = {KEY_B, sa, sal}, xb = {KEY_B, sb, sbl};
        ds_buf_reset(&ea);
        ds_buf_reset(&eb);
        CHECK_EQ_INT(keycodec_index_key(&ea, 5, &ka, &xa), DS_OK);
        CHECK_EQ_INT(keycodec_index_key(&eb, 5, &kb, &xb), DS_OK);
        int want = memcmp_len(pa, pal, pb, pbl);
        if (!want) want = memcmp_len(sa, sal, sb, sbl);
        CHECK_EQ_INT(memcmp_len(ea.data, ea.len, eb.data, eb.len), want);
        /* decode back both parts */
        ds_arena *ar = ds_arena_new(128);
        const char *q = ea.data + 8;
        key_part o1, o2;
        CHECK_EQ_INT(keycodec_decode_component(ar, KEY_S, &q, ea.data + ea.len, &o1), DS_OK);
        CHECK_EQ_INT(keycodec_decode_component(ar, KEY_B, &q, ea.data + ea.len, &o2), DS_OK);
        CHECK(q == ea.data + ea.len);
        CHECK(o1.len == pal && !memcmp(o1.p, pa, pal) && o2.len == sal && !memcmp(o2.p, sa, sal));
        ds_arena_free(ar);
    }
    /* numbers then strings */
    key_part n1 = {KEY_N, "-1", 2}, n2 = {KEY_N, "2", 1}, s1 = {KEY_S, "zzz", 3},
             s2 = {KEY_S, "a", 1};
    ds_buf_reset(&ea);
    ds_buf_reset(&eb);
    CHECK_EQ_INT(keycodec_data_key(&ea, 1, 7, &n1, &s1), DS_OK);
    CHECK_EQ_INT(keycodec_data_key(&eb, 1, 7, &n2, &s2), DS_OK);
    CHECK(memcmp_len(ea.data, ea.len, eb.data, eb.len) < 0);
    ds_buf_free(&ea);
    ds_buf_free(&eb);
}

TEST(prefix_property) {
    ds_buf pre = DS_BUF_INIT, full = DS_BUF_INIT, hi = DS_BUF_INIT;
    for (int i = 0; i < 100000; i++) {
        char p[8], s[12];
        size_t pl = rnd_bytes(p, 3), sl = rnd_bytes(s, 5);
        if (i % 2) { /* make p a real prefix of s half the time */
            memcpy(s, p, pl);
            if (sl < pl) sl = pl;
        }
        int is_prefix = sl >= pl && !memcmp(s, p, pl);
        key_part kp = {KEY_S, p, pl};
        ds_buf_reset(&pre);
        CHECK_EQ_INT(keycodec_put_prefix(&pre, &kp), DS_OK);
        enc(&full, KEY_S, s, sl);
        int starts = full.len >= pre.len && !memcmp(full.data, pre.data, pre.len);
        CHECK_EQ_INT(starts, is_prefix);
        /* the scan range [pre, successor(pre)) holds exactly the matches */
        ds_buf_reset(&hi);
        ds_buf_append(&hi, pre.data, pre.len);
        int bounded = keycodec_successor(&hi) == 0;
        int in = memcmp_len(full.data, full.len, pre.data, pre.len) >= 0 &&
                 (!bounded || memcmp_len(full.data, full.len, hi.data, hi.len) < 0);
        CHECK_EQ_INT(in, is_prefix);
    }
    ds_buf_free(&pre);
    ds_buf_free(&full);
    ds_buf_free(&hi);
}

TEST(successor) {
    ds_buf b = DS_BUF_INIT;
    ds_buf_append(&b, "ab\xff\xff", 4);
    CHECK_EQ_INT(keycodec_successor(&b), 0);
    CHECK_EQ_INT(b.len, 2);
    CHECK_EQ_MEM(b.data, "ac", 2);
    ds_buf_reset(&b);
    ds_buf_append(&b, "\xff", 1);
    CHECK_EQ_INT(keycodec_successor(&b), -1);
    CHECK_EQ_INT(b.len, 0);
    ds_buf_free(&b);
}

TEST(layout_hash_bounds) {
    key_part pk = {KEY_S, "user#1", 6}, sk = {KEY_N, "10.0", 4};
    uint32_t h;
    CHECK_EQ_INT(keycodec_hash(&pk, &h), DS_OK);
    CHECK(h == murmur3_32("user#1", 6, 0));
    key_part n1 = {KEY_N, "1.0", 3}, n2 = {KEY_N, "1", 1}, n3 = {KEY_N, "100e-2", 6};
    uint32_t h1, h2, h3;
    CHECK_EQ_INT(keycodec_hash(&n1, &h1), DS_OK);
    CHECK_EQ_INT(keycodec_hash(&n2, &h2), DS_OK);
    CHECK_EQ_INT(keycodec_hash(&n3, &h3), DS_OK);
    CHECK(h1 == h2 && h2 == h3 && h1 == murmur3_32("1", 1, 0));
    key_part b = {KEY_B, "\0\1", 2};
    CHECK_EQ_INT(keycodec_hash(&b, &h1), DS_OK);
    CHECK(h1 == murmur3_32("\0\1", 2, 0));

    ds_buf k = DS_BUF_INIT, lo = DS_BUF_INIT, hi = DS_BUF_INIT;
    CHECK_EQ_INT(keycodec_data_key(&k, 0x0102030405060708ull, 0xA1B2C3D4u, &pk, &sk), DS_OK);
    CHECK_EQ_MEM(k.data, "\x01\x02\x03\x04\x05\x06\x07\x08\xA1\xB2\xC3\xD4user#1\0\x01", 20);
    CHECK_EQ_INT(k.len, 20 + 4); /* 10 -> class, exp, one pair, terminator */
    CHECK_EQ_MEM(k.data + 20, "\x03\x83\x0b\x00", 4);
    ds_buf_reset(&k);
    CHECK_EQ_INT(keycodec_index_key(&k, 9, &pk, NULL), DS_OK);
    CHECK_EQ_INT(k.len, 16);
    CHECK_EQ_MEM(k.data, "\0\0\0\0\0\0\0\x09user#1\0\x01", 16);

    /* the two keys of one item convert into each other */
    ds_buf dk = DS_BUF_INIT, ik = DS_BUF_INIT, conv = DS_BUF_INIT;
    CHECK_EQ_INT(keycodec_data_key(&dk, 9, h, &pk, &sk), DS_OK);
    CHECK_EQ_INT(keycodec_index_key(&ik, 9, &pk, &sk), DS_OK);
    keycodec_index_key_of(&conv, dk.data, dk.len);
    CHECK_EQ_INT(conv.len, ik.len);
    CHECK_EQ_MEM(conv.data, ik.data, ik.len);
    keycodec_data_key_of(&conv, ik.data, ik.len, h);
    CHECK_EQ_INT(conv.len, dk.len);
    CHECK_EQ_MEM(conv.data, dk.data, dk.len);
    ds_buf_free(&dk), ds_buf_free(&ik), ds_buf_free(&conv);

    keycodec_table_bounds(&lo, &hi, 9);
    CHECK_EQ_INT(lo.len, 8);
    CHECK(memcmp_len(k.data, k.len, lo.data, lo.len) > 0 &&
          memcmp_len(k.data, k.len, hi.data, hi.len) < 0);
    CHECK(ds_get_u64be(hi.data) == 10);

    keycodec_hash_bounds(&lo, &hi, 3, 0x10, 0x20);
    CHECK_EQ_INT(lo.len, 12);
    CHECK_EQ_INT(hi.len, 12);
    CHECK(ds_get_u32be(lo.data + 8) == 0x10 && ds_get_u32be(hi.data + 8) == 0x21);
    for (uint32_t hh = 0x0e; hh < 0x23; hh++) {
        ds_buf_reset(&k);
        CHECK_EQ_INT(keycodec_data_key(&k, 3, hh, &pk, NULL), DS_OK);
        int in = memcmp_len(k.data, k.len, lo.data, lo.len) >= 0 &&
                 memcmp_len(k.data, k.len, hi.data, hi.len) < 0;
        CHECK_EQ_INT(in, hh >= 0x10 && hh <= 0x20);
    }
    keycodec_hash_bounds(&lo, &hi, 3, 0x80000000u, 0xffffffffu);
    CHECK_EQ_INT(hi.len, 8);
    CHECK(ds_get_u64be(hi.data) == 4);
    ds_buf_reset(&k);
    CHECK_EQ_INT(keycodec_data_key(&k, 3, 0xffffffffu, &pk, NULL), DS_OK);
    CHECK(memcmp_len(k.data, k.len, hi.data, hi.len) < 0);
    ds_buf_free(&k);
    ds_buf_free(&lo);
    ds_buf_free(&hi);
}

TEST_MAIN()

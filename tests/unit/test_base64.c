/* test_base64.c -- RFC 4648 base64 (src/common/base64.c): the §10 test
 * vectors in both alphabets, strict rejection of malformed input, and round
 * trips of random bytes of every length from 0 to 300. */
#include "common/base64.h"
#include "t.h"

static void enc_is(const char *in, size_t n, int url, const char *expect) {
    ds_buf b = DS_BUF_INIT;
    base64_encode(&b, in, n, url);
    CHECK_EQ_STR(b.data ? b.data : "", expect);
    CHECK_EQ_INT(b.len, strlen(expect));
    CHECK_EQ_INT(base64_encoded_len(n, url), strlen(expect));
    ds_buf_free(&b);
}

static void dec_is(const char *in, int url, const char *expect, size_t n) {
    ds_buf b = DS_BUF_INIT;
    int rc = base64_decode(&b, in, strlen(in), url);
    if (rc != DS_OK) T_FAIL("decode(\"%s\", url=%d) = %d", in, url, rc);
    CHECK_EQ_INT(b.len, n);
    if (n) CHECK_EQ_MEM(b.data, expect, n);
    if (b.data) CHECK_EQ_INT(b.data[b.len], 0);
    ds_buf_free(&b);
}

/* Rejected, and the buffer's earlier contents are left alone. */
static void dec_bad(const char *in, size_t n, int url, int line) {
    ds_buf b = DS_BUF_INIT;
    ds_buf_puts(&b, "keep");
    int rc = base64_decode(&b, in, n, url);
    if (rc != DS_EINVAL)
        T_FAIL("line %d: decode(\"%.*s\", url=%d) = %d, expected DS_EINVAL", line, (int)n, in, url,
               rc);
    CHECK_EQ_INT(b.len, 4);
    CHECK_EQ_STR(b.data, "keep");
    ds_buf_free(&b);
}
#define BAD(lit, url) dec_bad(lit, sizeof(lit) - 1, url, __LINE__)

static const struct {
    const char *raw, *std, *url;
} rfc[] = {
    {"", "", ""},
    {"f", "Zg==", "Zg"},
    {"fo", "Zm8=", "Zm8"},
    {"foo", "Zm9v", "Zm9v"},
    {"foob", "Zm9vYg==", "Zm9vYg"},
    {"fooba", "Zm9vYmE=", "Zm9vYmE"},
    {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
};

TEST(rfc4648_vectors_encode) {
    for (size_t i = 0; i < DS_ARRAY_LEN(rfc); i++) {
        enc_is(rfc[i].raw, strlen(rfc[i].raw), 0, rfc[i].std);
        enc_is(rfc[i].raw, strlen(rfc[i].raw), 1, rfc[i].url);
    }
}

TEST(rfc4648_vectors_decode) {
    for (size_t i = 0; i < DS_ARRAY_LEN(rfc); i++) {
        size_t n = strlen(rfc[i].raw);
        dec_is(rfc[i].std, 0, rfc[i].raw, n);
        dec_is(rfc[i].url, 1, rfc[i].raw, n);
        dec_is(rfc[i].std, 1, rfc[i].raw, n); /* url accepts padding */
    }
}

TEST(alphabets_differ_in_62_and_63) {
    enc_is("\xfb\xef\xbe", 3, 0, "++++");
    enc_is("\xfb\xef\xbe", 3, 1, "----");
    enc_is("\xff\xff\xff", 3, 0, "////");
    enc_is("\xff\xff\xff", 3, 1, "____");
    enc_is("\xfb\xff", 2, 0, "+/8=");
    enc_is("\xfb\xff", 2, 1, "-_8");
    enc_is("\0\0\0", 3, 0, "AAAA");
    dec_is("+/8=", 0, "\xfb\xff", 2);
    dec_is("-_8", 1, "\xfb\xff", 2);
    dec_is("-_8=", 1, "\xfb\xff", 2);
    BAD("-_8=", 0);
    BAD("+/8=", 1);
    BAD("+/8", 1);
}

TEST(rejects) {
    /* length and padding, standard alphabet */
    BAD("Z", 0);
    BAD("Zg", 0); /* padding required */
    BAD("Zg=", 0);
    BAD("Zm9", 0);
    BAD("Zm9vY", 0);
    BAD("Zg===", 0);
    BAD("Zm9vY===", 0);
    BAD("=", 0);
    BAD("==", 0);
    BAD("====", 0);
    BAD("A===", 0);
    BAD("=Zg=", 0);
    BAD("Z=g=", 0);
    BAD("Zg==Zg==", 0); /* padding in the middle */
    BAD("Zm8==", 0);
    /* non-zero trailing bits */
    BAD("Zh==", 0);
    BAD("Zm9=", 0);
    BAD("Zh", 1);
    BAD("Zm9", 1);
    BAD("AB==", 0);
    BAD("AAB=", 0);
    /* characters outside the alphabet */
    BAD("Zm9v\n", 0);
    BAD(" Zm9v", 0);
    BAD("Zm 9v", 0);
    BAD("Zm9v\r\n", 0);
    BAD("Zm.v", 0);
    BAD("Zm9\xc3", 0);
    dec_bad("Zm\0v", 4, 0, __LINE__);
    dec_bad("Zm\0v", 4, 1, __LINE__);
    /* url alphabet: length and padding */
    BAD("Z", 1);
    BAD("Zm9vY", 1);
    BAD("Zg=", 1); /* padding, if present, must be complete */
    BAD("Zm9vYg=", 1);
    BAD("Zm8==", 1);
    BAD("Zm9v=", 1);
    BAD("Zm9v====", 1);
    BAD("==", 1);
}

TEST(appends) {
    ds_buf b = DS_BUF_INIT;
    ds_buf_puts(&b, "x:");
    base64_encode(&b, "foo", 3, 0);
    CHECK_EQ_STR(b.data, "x:Zm9v");
    CHECK_EQ_INT(base64_decode(&b, "YmFy", 4, 0), DS_OK);
    CHECK_EQ_STR(b.data, "x:Zm9vbar");
    ds_buf_free(&b);
    ds_buf e = DS_BUF_INIT;
    CHECK_EQ_INT(base64_decode(&e, "", 0, 0), DS_OK);
    CHECK_EQ_INT(e.len, 0);
    ds_buf_free(&e);
}

TEST(encoded_len) {
    size_t std[] = {0, 4, 4, 4, 8, 8, 8, 12};
    size_t url[] = {0, 2, 3, 4, 6, 7, 8, 10};
    for (size_t n = 0; n < DS_ARRAY_LEN(std); n++) {
        CHECK_EQ_INT(base64_encoded_len(n, 0), std[n]);
        CHECK_EQ_INT(base64_encoded_len(n, 1), url[n]);
    }
}

TEST(random_round_trips) {
    unsigned char raw[300];
    uint32_t x = 12345;
    for (size_t n = 0; n <= sizeof raw; n++) {
        for (size_t i = 0; i < n; i++) {
            x = x * 1103515245u + 12345u;
            raw[i] = (unsigned char)(x >> 16);
        }
        for (int url = 0; url <= 1; url++) {
            ds_buf e = DS_BUF_INIT, d = DS_BUF_INIT;
            base64_encode(&e, raw, n, url);
            CHECK_EQ_INT(e.len, base64_encoded_len(n, url));
            CHECK_EQ_INT(base64_decode(&d, e.data, e.len, url), DS_OK);
            CHECK_EQ_INT(d.len, n);
            if (n) CHECK_EQ_MEM(d.data, raw, n);
            if (url) { /* padded form decodes too */
                while (e.len % 4)
                    ds_buf_putc(&e, '=');
                ds_buf_reset(&d);
                CHECK_EQ_INT(base64_decode(&d, e.data, e.len, 1), DS_OK);
                CHECK_EQ_INT(d.len, n);
                if (n) CHECK_EQ_MEM(d.data, raw, n);
            } else if (n % 3) { /* unpadded standard is refused */
                size_t m = e.len;
                while (e.data[m - 1] == '=')
                    m--;
                ds_buf_reset(&d);
                CHECK_EQ_INT(base64_decode(&d, e.data, m, 0), DS_EINVAL);
            }
            ds_buf_free(&e);
            ds_buf_free(&d);
        }
    }
}

/* Every single-character change to a valid encoding either decodes to
 * something that re-encodes to exactly that text, or is rejected: the
 * encoding is canonical. */
TEST(canonical) {
    const char *alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_=.";
    const char *base[] = {"Zg==", "Zm8=", "Zm9v", "Zg", "Zm8"};
    for (size_t bi = 0; bi < DS_ARRAY_LEN(base); bi++) {
        for (int url = 0; url <= 1; url++) {
            char s[8];
            size_t n = strlen(base[bi]);
            for (size_t pos = 0; pos < n; pos++) {
                for (const char *c = alpha; *c; c++) {
                    memcpy(s, base[bi], n);
                    s[pos] = *c;
                    ds_buf d = DS_BUF_INIT, e = DS_BUF_INIT;
                    if (base64_decode(&d, s, n, url) == DS_OK) {
                        base64_encode(&e, d.data, d.len, url);
                        int padded = n % 4 == 0 && s[n - 1] == '=';
                        if (url && padded)
                            while (e.len % 4)
                                ds_buf_putc(&e, '=');
                        CHECK_EQ_INT(e.len, n);
                        CHECK_EQ_MEM(e.data, s, n);
                    }
                    ds_buf_free(&d);
                    ds_buf_free(&e);
                }
            }
        }
    }
}

TEST_MAIN()

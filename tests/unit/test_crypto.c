/* test_crypto.c -- crypto.h against published vectors: RFC 8452 (AES-256-GCM-
 * SIV, Appendix C.2), RFC 5869 (HKDF-SHA256, A.1-A.3), RFC 4231 (HMAC-
 * SHA256), FIPS 180-2 examples (SHA-256); then the sealed envelope's
 * round trip and every way a tampered envelope must fail; and a timing
 * benchmark that prints, never asserts. */
#include <ctype.h>

#include "common/ds.h"
#include "crypto/crypto.h"
#include "crypto/gcmsiv.h"
#include "t.h"

/* Decodes a hex literal into a fresh buffer (test helper; aborts on bad
 * input). *n gets the byte count. */
static uint8_t *hx(const char *hex, size_t *n) {
    size_t len = strlen(hex);
    uint8_t *b = ds_malloc(len / 2 + 1);
    if (crypto_unhex(b, len / 2, hex, len) != DS_OK) T_FAIL("bad hex in test: %s", hex);
    if (n) *n = len / 2;
    return b;
}

static void check_hex(const void *p, size_t n, const char *want) {
    ds_buf b = DS_BUF_INIT;
    crypto_hex(&b, p, n);
    if (strcmp(b.data ? b.data : "", want)) T_FAIL("got %s\n  want %s", b.data, want);
    ds_buf_free(&b);
}

TEST(init_is_idempotent) {
    CHECK_EQ_INT(crypto_init(), DS_OK);
    CHECK_EQ_INT(crypto_init(), DS_OK);
}

/* ---- SHA-256 / HMAC / HKDF ------------------------------------------------ */

TEST(sha256_fips180_vectors) {
    uint8_t d[32];
    crypto_sha256("abc", 3, d);
    check_hex(d, 32, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    crypto_sha256(NULL, 0, d);
    check_hex(d, 32, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    crypto_sha256(m, strlen(m), d);
    check_hex(d, 32, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(hmac_sha256_rfc4231) {
    uint8_t d[32], key[131], data[50];
    memset(key, 0x0b, 20);
    crypto_hmac_sha256(key, 20, "Hi There", 8, d); /* 4.2 */
    check_hex(d, 32, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    crypto_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, d); /* 4.3 */
    check_hex(d, 32, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    memset(key, 0xaa, 20); /* 4.4 */
    memset(data, 0xdd, 50);
    crypto_hmac_sha256(key, 20, data, 50, d);
    check_hex(d, 32, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
    for (int i = 0; i < 25; i++)
        key[i] = (uint8_t)(i + 1); /* 4.5 */
    memset(data, 0xcd, 50);
    crypto_hmac_sha256(key, 25, data, 50, d);
    check_hex(d, 32, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
    memset(key, 0xaa, 131); /* 4.7: key longer than the block */
    const char *m6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    crypto_hmac_sha256(key, 131, m6, strlen(m6), d);
    check_hex(d, 32, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    const char *m7 = "This is a test using a larger than block-size key and a larger than "
                     "block-size data. The key needs to be hashed before being used by "
                     "the HMAC algorithm."; /* 4.8 */
    crypto_hmac_sha256(key, 131, m7, strlen(m7), d);
    check_hex(d, 32, "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

TEST(hmac_empty_key_equals_zero_key) {
    uint8_t a[32], b[32];
    crypto_hmac_sha256(NULL, 0, "x", 1, a);
    crypto_hmac_sha256("\0\0\0\0", 4, "x", 1, b);
    CHECK_EQ_MEM(a, b, 32);
}

TEST(hkdf_sha256_rfc5869) {
    uint8_t okm[82];
    size_t n;
    /* A.1 */
    uint8_t *ikm = hx("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", NULL);
    uint8_t *salt = hx("000102030405060708090a0b0c", NULL);
    uint8_t *info = hx("f0f1f2f3f4f5f6f7f8f9", NULL);
    CHECK_EQ_INT(crypto_hkdf_sha256(salt, 13, ikm, 22, info, 10, okm, 42), DS_OK);
    check_hex(okm, 42,
              "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
              "34007208d5b887185865");
    /* A.2: 80-byte inputs, 82-byte output (three HMAC blocks) */
    uint8_t ikm2[80], salt2[80], info2[80];
    for (int i = 0; i < 80; i++) {
        ikm2[i] = (uint8_t)i;
        salt2[i] = (uint8_t)(0x60 + i);
        info2[i] = (uint8_t)(0xb0 + i);
    }
    CHECK_EQ_INT(crypto_hkdf_sha256(salt2, 80, ikm2, 80, info2, 80, okm, 82), DS_OK);
    check_hex(okm, 82,
              "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
              "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
              "cc30c58179ec3e87c14c01d5c1f3434f1d87");
    /* A.3: empty salt and info */
    CHECK_EQ_INT(crypto_hkdf_sha256(NULL, 0, ikm, 22, NULL, 0, okm, 42), DS_OK);
    check_hex(okm, 42,
              "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
              "9d201395faa4b61a96c8");
    /* Length limit: 255 blocks. */
    uint8_t *big = ds_malloc(255 * 32 + 1);
    CHECK_EQ_INT(crypto_hkdf_sha256(NULL, 0, ikm, 22, NULL, 0, big, 255 * 32), DS_OK);
    CHECK_EQ_INT(crypto_hkdf_sha256(NULL, 0, ikm, 22, NULL, 0, big, 255 * 32 + 1), DS_EINVAL);
    (void)n;
    ds_free(big);
    ds_free(ikm);
    ds_free(salt);
    ds_free(info);
}

/* ---- helpers --------------------------------------------------------------- */

TEST(hex_and_unhex) {
    uint8_t b[4];
    check_hex("\x00\x01\xab\xff", 4, "0001abff");
    CHECK_EQ_INT(crypto_unhex(b, 4, "0001ABff", 8), DS_OK);
    CHECK_EQ_MEM(b, "\x00\x01\xab\xff", 4);
    CHECK_EQ_INT(crypto_unhex(b, 4, "0001abf", 7), DS_EINVAL);
    CHECK_EQ_INT(crypto_unhex(b, 4, "0001abfg", 8), DS_EINVAL);
    CHECK_EQ_INT(crypto_unhex(b, 3, "0001abff", 8), DS_EINVAL);
    /* every character, in either place of a digit pair */
    for (int c = 0; c < 256; c++) {
        const char *digits = "0123456789abcdef", *at = c ? strchr(digits, tolower(c)) : NULL;
        char pair[2][2] = {{(char)c, '5'}, {'5', (char)c}};
        for (int k = 0; k < 2; k++) {
            int rc = crypto_unhex(b, 1, pair[k], 2);
            if (!at) {
                CHECK_EQ_INT(rc, DS_EINVAL);
                CHECK_EQ_INT(b[0], 0); /* wiped */
                continue;
            }
            CHECK_EQ_INT(rc, DS_OK);
            int v = (int)(at - digits);
            CHECK_EQ_INT(b[0], k ? 0x50 | v : v << 4 | 5);
        }
    }
}

TEST(ct_equal) {
    CHECK(crypto_ct_equal("abcd", "abcd", 4));
    CHECK(!crypto_ct_equal("abcd", "abce", 4));
    CHECK(crypto_ct_equal("", "", 0));
}

TEST(random_and_nonce_differ) {
    uint8_t a[32], b[32];
    crypto_random(a, 32);
    crypto_random(b, 32);
    CHECK(memcmp(a, b, 32) != 0);
    crypto_nonce(a, 32);
    crypto_nonce(b, 32);
    CHECK(memcmp(a, b, 32) != 0);
}

/* ---- AES-256-GCM-SIV: RFC 8452 Appendix C.2 -------------------------------- */

struct siv_vector {
    const char *key, *nonce, *aad, *pt, *ct_tag; /* ct_tag = ciphertext || tag */
};

static const struct siv_vector siv_vectors[] = {
    /* empty plaintext, empty AAD */
    {"0100000000000000000000000000000000000000000000000000000000000000", "030000000000000000000000",
     "", "", "07f5f4169bbf55a8400cd47ea6fd400f"},
    {"0100000000000000000000000000000000000000000000000000000000000000", "030000000000000000000000",
     "", "0100000000000000", "c2ef328e5c71c83b843122130f7364b761e0b97427e3df28"},
    {"0100000000000000000000000000000000000000000000000000000000000000", "030000000000000000000000",
     "", "010000000000000000000000", "9aab2aeb3faa0a34aea8e2b18ca50da9ae6559e48fd10f6e5c9ca17e"},
    {"0100000000000000000000000000000000000000000000000000000000000000", "030000000000000000000000",
     "",
     "0100000000000000000000000000000002000000000000000000000000000000"
     "0300000000000000000000000000000004000000000000000000000000000000",
     "c2d5160a1f8683834910acdafc41fbb1632d4a353e8b905ec9a5499ac34f96c7"
     "e1049eb080883891a4db8caaa1f99dd004d80487540735234e3744512c6f90ce"
     "112864c269fc0d9d88c61fa47e39aa08"},
    /* with AAD */
    {"0100000000000000000000000000000000000000000000000000000000000000", "030000000000000000000000",
     "01", "0200000000000000", "1de22967237a813291213f267e3b452f02d01ae33e4ec854"},
    {"0100000000000000000000000000000000000000000000000000000000000000", "030000000000000000000000",
     "010000000000000000000000", "02000000", "22b3f4cd1835e517741dfddccfa07fa4661b74cf"},
    {"0100000000000000000000000000000000000000000000000000000000000000", "030000000000000000000000",
     "010000000000000000000000000000000200", "0300000000000000000000000000000004000000",
     "43dd0163cdb48f9fe3212bf61b201976067f342bb879ad976d8242acc188ab59cabfe307"},
    /* random-looking keys and nonces */
    {"e66021d5eb8e4f4066d4adb9c33560e4f46e44bb3da0015c94f7088736864200", "e0eaf5284d884a0e77d31646",
     "", "", "169fbb2fbf389a995f6390af22228a62"},
    {"bae8e37fc83441b16034566b7a806c46bb91c3c5aedb64a6c590bc84d1a5e269", "e4b47801afc0577e34699b9e",
     "4fbdc66f14", "671fdd", "0eaccb93da9bb81333aee0c785b240d319719d"},
    {"3c535de192eaed3822a2fbbe2ca9dfc88255e14a661b8aa82cc54236093bbc23", "688089e55540db1872504e1c",
     "734320ccc9d9bbbb19cb81b2af4ecbc3e72834321f7aa0f70b7282b4f33df23f167541",
     "ced532ce4159b035277d4dfbb7db62968b13cd4eec",
     "626660c26ea6612fb17ad91e8e767639edd6c9faee9d6c7029675b89eaf4ba1ded1a286594"},
};

/* Every vector through the implementation in use, then through libgcrypt
 * (on a CPU without AES-NI both runs are libgcrypt's). */
static void check_rfc8452_vectors(void) {
    for (size_t i = 0; i < DS_ARRAY_LEN(siv_vectors); i++) {
        const struct siv_vector *v = &siv_vectors[i];
        size_t aadlen, ptlen, ctlen;
        uint8_t *key = hx(v->key, NULL), *nonce = hx(v->nonce, NULL);
        uint8_t *aad = hx(v->aad, &aadlen), *pt = hx(v->pt, &ptlen);
        uint8_t *want = hx(v->ct_tag, &ctlen);
        CHECK_EQ_INT(ctlen, ptlen + 16);
        uint8_t *ct = ds_malloc(ptlen + 1), *back = ds_malloc(ptlen + 1), tag[16];
        CHECK_EQ_INT(crypto_gcmsiv_seal(key, nonce, aad, aadlen, pt, ptlen, ct, tag), DS_OK);
        if (memcmp(ct, want, ptlen) || memcmp(tag, want + ptlen, 16))
            T_FAIL("vector %zu: ciphertext or tag differs", i);
        CHECK_EQ_INT(crypto_gcmsiv_open(key, nonce, aad, aadlen, want, ptlen, want + ptlen, back),
                     DS_OK);
        CHECK_EQ_MEM(back, pt, ptlen);
        /* in place */
        memcpy(back, pt, ptlen);
        CHECK_EQ_INT(crypto_gcmsiv_seal(key, nonce, aad, aadlen, back, ptlen, back, tag), DS_OK);
        CHECK_EQ_MEM(back, want, ptlen);
        ds_free(key), ds_free(nonce), ds_free(aad), ds_free(pt), ds_free(want);
        ds_free(ct), ds_free(back);
    }
}

TEST(gcmsiv_rfc8452_c2_vectors) {
    printf("  GCM-SIV implementation: %s\n", crypto_gcmsiv_impl(0));
    CHECK_EQ_STR(crypto_gcmsiv_impl(2048), "libgcrypt"); /* libgcrypt's bulk path from 2 KiB */
    check_rfc8452_vectors();
    crypto_use_libgcrypt(1);
    CHECK_EQ_STR(crypto_gcmsiv_impl(0), "libgcrypt");
    check_rfc8452_vectors();
}

TEST(gcmsiv_open_rejects_bad_tag_and_wipes) {
    const struct siv_vector *v = &siv_vectors[3];
    size_t ptlen, ctlen;
    uint8_t *key = hx(v->key, NULL), *nonce = hx(v->nonce, NULL);
    uint8_t *pt = hx(v->pt, &ptlen), *ct = hx(v->ct_tag, &ctlen);
    uint8_t out[64];
    ct[ptlen + 15] ^= 0x01;
    memset(out, 0x55, sizeof out);
    CHECK_EQ_INT(crypto_gcmsiv_open(key, nonce, NULL, 0, ct, ptlen, ct + ptlen, out), DS_ECORRUPT);
    for (size_t i = 0; i < ptlen; i++)
        CHECK_EQ_INT(out[i], 0);
    ct[ptlen + 15] ^= 0x01;
    nonce[0] ^= 1; /* wrong nonce */
    CHECK_EQ_INT(crypto_gcmsiv_open(key, nonce, NULL, 0, ct, ptlen, ct + ptlen, out), DS_ECORRUPT);
    ds_free(key), ds_free(nonce), ds_free(pt), ds_free(ct);
}

/* ---- the envelope ---------------------------------------------------------- */

static const uint8_t K1[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                               17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const uint8_t K2[32] = {32, 2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                               17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 1};

/* gcmsiv.c against libgcrypt on random keys, nonces and AAD (split in two
 * pieces, as the envelope feeds it) and every length from 0 to 300 bytes plus
 * longer ones on both sides of the 2 KiB switch-over: the same ciphertext and
 * tag; each opens the other's; a flipped bit fails and wipes the output. */
TEST(gcmsiv_fast_matches_libgcrypt) {
    if (!gcmsiv_available()) {
        printf("  no AES-NI on this CPU: only libgcrypt runs here\n");
        return;
    }
    static const size_t longer[] = {1000, 2047, 2048, 4096, 4097, 65536 + 13};
    enum { MAXLEN = 65536 + 13 };
    uint8_t *pt = ds_malloc(MAXLEN), *c1 = ds_malloc(MAXLEN), *c2 = ds_malloc(MAXLEN);
    uint8_t *back = ds_malloc(MAXLEN), key[32], nonce[12], aad[80], t1[16], t2[16];
    crypto_use_libgcrypt(1);
    for (size_t round = 0; round < 300 + DS_ARRAY_LEN(longer); round++) {
        size_t n = round < 300 ? round : longer[round - 300];
        size_t a1 = round % 3, a2 = (round * 7) % (sizeof aad - 2);
        crypto_nonce(key, sizeof key);
        crypto_nonce(nonce, sizeof nonce);
        crypto_nonce(aad, sizeof aad);
        crypto_nonce(pt, n);
        CHECK_EQ_INT(gcmsiv_seal(key, nonce, aad, a1, aad + a1, a2, pt, n, c1, t1), DS_OK);
        CHECK_EQ_INT(crypto_gcmsiv_seal(key, nonce, aad, a1 + a2, pt, n, c2, t2), DS_OK);
        if (memcmp(c1, c2, n) || memcmp(t1, t2, 16))
            T_FAIL("length %zu, aad %zu+%zu: gcmsiv.c and libgcrypt differ", n, a1, a2);
        CHECK_EQ_INT(gcmsiv_open(key, nonce, aad, a1 + a2, NULL, 0, c2, n, t2, back), DS_OK);
        CHECK(n == 0 || !memcmp(back, pt, n));
        CHECK_EQ_INT(crypto_gcmsiv_open(key, nonce, aad, a1 + a2, c1, n, t1, back), DS_OK);
        CHECK(n == 0 || !memcmp(back, pt, n));
        if (n) {
            c1[round % n] ^= (uint8_t)(1u << (round % 8));
            memset(back, 0x55, n);
            CHECK_EQ_INT(gcmsiv_open(key, nonce, aad, a1, aad + a1, a2, c1, n, t1, back),
                         DS_ECORRUPT);
            for (size_t i = 0; i < n; i++)
                if (back[i]) T_FAIL("length %zu: byte %zu not wiped", n, i);
        }
        t2[round % 16] ^= 0x80;
        CHECK_EQ_INT(gcmsiv_open(key, nonce, aad, a1, aad + a1, a2, c2, n, t2, back), DS_ECORRUPT);
        /* in place */
        memcpy(back, pt, n);
        CHECK_EQ_INT(gcmsiv_seal(key, nonce, aad, a1, aad + a1, a2, back, n, back, t1), DS_OK);
        CHECK(n == 0 || !memcmp(back, c2, n));
    }
    crypto_use_libgcrypt(0);
    /* envelopes sealed by either open with the other */
    for (size_t i = 0; i < 4; i++) {
        size_t n = (size_t[]){0, 100, 2047, 3000}[i];
        ds_buf e1 = DS_BUF_INIT, e2 = DS_BUF_INIT, o1 = DS_BUF_INIT, o2 = DS_BUF_INIT;
        CHECK_EQ_INT(crypto_seal(&e1, K1, aad, 40, pt, n), DS_OK);
        crypto_use_libgcrypt(1);
        CHECK_EQ_INT(crypto_seal(&e2, K1, aad, 40, pt, n), DS_OK);
        CHECK_EQ_INT(crypto_open(&o1, K1, aad, 40, e1.data, e1.len), DS_OK);
        crypto_use_libgcrypt(0);
        CHECK_EQ_INT(crypto_open(&o2, K1, aad, 40, e2.data, e2.len), DS_OK);
        CHECK_EQ_INT(o1.len, n);
        CHECK_EQ_INT(o2.len, n);
        CHECK(n == 0 || (!memcmp(o1.data, pt, n) && !memcmp(o2.data, pt, n)));
        ds_buf_free(&e1), ds_buf_free(&e2), ds_buf_free(&o1), ds_buf_free(&o2);
    }
    ds_free(pt), ds_free(c1), ds_free(c2), ds_free(back);
}

TEST(envelope_round_trip_and_layout) {
    static const char aad[] = "t/users/\x00\x01key";
    size_t aadlen = sizeof aad - 1;
    const char *pt = "hello, encrypted world";
    size_t ptlen = strlen(pt);
    ds_buf env = DS_BUF_INIT, out = DS_BUF_INIT;
    ds_buf_puts(&env, "prefix"); /* seal appends */
    CHECK_EQ_INT(crypto_seal(&env, K1, aad, aadlen, pt, ptlen), DS_OK);
    CHECK_EQ_INT(env.len, 6 + CRYPTO_ENVELOPE_OVERHEAD + ptlen);
    const uint8_t *e = (const uint8_t *)env.data + 6;
    CHECK_EQ_INT(e[0], 1);
    /* The layout is what crypto.h says: GCM-SIV with AAD = version || aad. */
    uint8_t aad2[15], ct[64], tag[16];
    aad2[0] = 1;
    memcpy(aad2 + 1, aad, aadlen);
    CHECK_EQ_INT(crypto_gcmsiv_seal(K1, e + 1, aad2, 1 + aadlen, pt, ptlen, ct, tag), DS_OK);
    CHECK_EQ_MEM(e + 13, ct, ptlen);
    CHECK_EQ_MEM(e + 13 + ptlen, tag, 16);

    ds_buf_puts(&out, "x");
    CHECK_EQ_INT(crypto_open(&out, K1, aad, aadlen, e, env.len - 6), DS_OK);
    CHECK_EQ_INT(out.len, 1 + ptlen);
    CHECK_EQ_MEM(out.data + 1, pt, ptlen);
    CHECK_EQ_INT(out.data[out.len], 0);

    /* Two seals of the same value differ (fresh nonce). */
    ds_buf env2 = DS_BUF_INIT;
    CHECK_EQ_INT(crypto_seal(&env2, K1, aad, aadlen, pt, ptlen), DS_OK);
    CHECK(memcmp(env2.data, e, env2.len) != 0);
    ds_buf_free(&env), ds_buf_free(&env2), ds_buf_free(&out);
}

TEST(envelope_empty_value) {
    ds_buf env = DS_BUF_INIT, out = DS_BUF_INIT;
    CHECK_EQ_INT(crypto_seal(&env, K1, "k", 1, NULL, 0), DS_OK);
    CHECK_EQ_INT(env.len, CRYPTO_ENVELOPE_OVERHEAD);
    CHECK_EQ_INT(crypto_open(&out, K1, "k", 1, env.data, env.len), DS_OK);
    CHECK_EQ_INT(out.len, 0);
    CHECK_EQ_INT(crypto_open(&out, K1, "j", 1, env.data, env.len), DS_ECORRUPT);
    ds_buf_free(&env), ds_buf_free(&out);
}

/* Every tampering must fail with DS_ECORRUPT and leave out untouched. */
static void expect_corrupt(const uint8_t *key, const char *aad, const void *env, size_t len) {
    ds_buf out = DS_BUF_INIT;
    ds_buf_puts(&out, "keep");
    CHECK_EQ_INT(crypto_open(&out, key, aad, strlen(aad), env, len), DS_ECORRUPT);
    CHECK_EQ_INT(out.len, 4);
    CHECK_EQ_STR(out.data, "keep");
    ds_buf_free(&out);
}

TEST(envelope_rejects_tampering) {
    char pt[300];
    for (size_t i = 0; i < sizeof pt; i++)
        pt[i] = (char)('a' + i % 26);
    const char *aad = "tenant/t1/table/users/key/alice";
    ds_buf env = DS_BUF_INIT;
    CHECK_EQ_INT(crypto_seal(&env, K1, aad, strlen(aad), pt, sizeof pt), DS_OK);
    uint8_t *e = (uint8_t *)env.data;
    size_t n = env.len;

    e[13 + 100] ^= 0x04; /* flipped ciphertext bit */
    expect_corrupt(K1, aad, e, n);
    e[13 + 100] ^= 0x04;
    e[n - 1] ^= 0x80; /* flipped tag bit */
    expect_corrupt(K1, aad, e, n);
    e[n - 1] ^= 0x80;
    e[5] ^= 0x01; /* flipped nonce bit */
    expect_corrupt(K1, aad, e, n);
    e[5] ^= 0x01;
    e[0] = 2; /* unknown version */
    expect_corrupt(K1, aad, e, n);
    e[0] = 1;
    /* The same envelope copied under another storage key. */
    expect_corrupt(K1, "tenant/t1/table/users/key/mallory", e, n);
    expect_corrupt(K2, aad, e, n);                            /* wrong key */
    expect_corrupt(K1, aad, e, n - 1);                        /* truncated */
    expect_corrupt(K1, aad, e, CRYPTO_ENVELOPE_OVERHEAD - 1); /* too short */
    expect_corrupt(K1, aad, e, 0);

    ds_buf out = DS_BUF_INIT; /* and the original still opens */
    CHECK_EQ_INT(crypto_open(&out, K1, aad, strlen(aad), e, n), DS_OK);
    CHECK_EQ_MEM(out.data, pt, sizeof pt);
    ds_buf_free(&out), ds_buf_free(&env);
}

/* The nonce pool is per process: a forked child must not hand out the
 * nonces its parent is about to use. */
TEST(envelope_nonces_differ_across_fork) {
    ds_buf a = DS_BUF_INIT, b = DS_BUF_INIT;
    int fds[2];
    CHECK_EQ_INT(crypto_seal(&a, K1, "k", 1, "v", 1), DS_OK); /* fills the pool */
    CHECK_EQ_INT(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        ds_buf c = DS_BUF_INIT;
        if (crypto_seal(&c, K1, "k", 1, "v", 1)) _exit(1);
        if (write(fds[1], c.data + 1, 12) != 12) _exit(1);
        _exit(0);
    }
    uint8_t child_nonce[12];
    CHECK_EQ_INT(read(fds[0], child_nonce, 12), 12);
    waitpid(pid, NULL, 0);
    CHECK_EQ_INT(crypto_seal(&b, K1, "k", 1, "v", 1), DS_OK);
    CHECK(memcmp(child_nonce, b.data + 1, 12) != 0);
    CHECK(memcmp(a.data + 1, b.data + 1, 12) != 0);
    ds_buf_free(&a), ds_buf_free(&b);
}

/* Handles are per thread: seal and open from several threads at once. */
#include <pthread.h>
static void *thread_body(void *arg) {
    const uint8_t *key = arg;
    for (int i = 0; i < 2000; i++) {
        char pt[64];
        int n = snprintf(pt, sizeof pt, "value %d", i);
        ds_buf env = DS_BUF_INIT, out = DS_BUF_INIT;
        if (crypto_seal(&env, key, "aad", 3, pt, (size_t)n) ||
            crypto_open(&out, key, "aad", 3, env.data, env.len) || out.len != (size_t)n ||
            memcmp(out.data, pt, (size_t)n))
            return (void *)1;
        ds_buf_free(&env), ds_buf_free(&out);
    }
    return NULL;
}

TEST(envelope_threads) {
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        CHECK_EQ_INT(pthread_create(&th[i], NULL, thread_body, (void *)(i & 1 ? K1 : K2)), 0);
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(th[i], &r);
        CHECK(r == NULL);
    }
}

/* ---- benchmark (printed, not asserted) ------------------------------------ */

static void bench(size_t size) {
    char *pt = ds_malloc(size);
    memset(pt, 'v', size);
    const char *aad = "tenant/t1/table/users/key/alice";
    ds_buf env = DS_BUF_INIT, out = DS_BUF_INIT;
    int iters = size > 1000 ? 20000 : 100000;
    crypto_seal(&env, K1, aad, strlen(aad), pt, size); /* warm up the handle */
    uint64_t t0 = ds_now_us();
    for (int i = 0; i < iters; i++) {
        ds_buf_reset(&env);
        crypto_seal(&env, K1, aad, strlen(aad), pt, size);
    }
    uint64_t t1 = ds_now_us();
    for (int i = 0; i < iters; i++) {
        ds_buf_reset(&out);
        if (crypto_open(&out, K1, aad, strlen(aad), env.data, env.len)) T_FAIL("open failed");
    }
    uint64_t t2 = ds_now_us();
    printf("  bench %5zu bytes, %-9s: seal %.2f us, open %.2f us\n", size,
           crypto_gcmsiv_impl(size), (double)(t1 - t0) / iters, (double)(t2 - t1) / iters);
    ds_buf_free(&env), ds_buf_free(&out);
    ds_free(pt);
}

TEST(bench_seal_open) {
    uint8_t nonce[12];
    uint64_t t0 = ds_now_us();
    for (int i = 0; i < 100000; i++)
        crypto_nonce(nonce, sizeof nonce);
    printf("  bench crypto_nonce(12): %.2f us\n", (double)(ds_now_us() - t0) / 100000);
    static const size_t sizes[] = {100, 1024, 2048, 4096};
    for (size_t i = 0; i < DS_ARRAY_LEN(sizes); i++) bench(sizes[i]);
    if (strcmp(crypto_gcmsiv_impl(0), "libgcrypt")) {
        crypto_use_libgcrypt(1);
        for (size_t i = 0; i < DS_ARRAY_LEN(sizes); i++) bench(sizes[i]);
    }
}

TEST_MAIN()

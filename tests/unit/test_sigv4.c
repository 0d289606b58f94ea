/* test_sigv4.c -- SigV4 verification against published vectors and real
 * clients.
 *
 *  - The AWS SigV4 test suite (credentials AKIDEXAMPLE /
 *    wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, 20150830T123600Z, us-east-1,
 *    service "service"): each request (.sreq) with its published
 *    Authorization header (.authz).
 *  - The worked example of the AWS General Reference (IAM ListUsers).
 *  - Requests signed by botocore 1.29.27 (SigV4Auth on AWSRequest) and by
 *    curl 7.88.1 (--aws-sigv4 "aws:amz:us-east-1:dstore"), captured on the
 *    wire and pasted here as fixtures; now_ms is pinned to their dates.
 *  - Requests signed here by a minimal signer, then tampered with.
 */
#include <time.h>

#include "api/sigv4.h"
#include "common/ds.h"
#include "crypto/crypto.h"
#include "t.h"

#define SUITE_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

/* ms since the epoch of "YYYYMMDDTHHMMSSZ". */
static int64_t ms_of(const char *amz) {
    struct tm tm = {0};
    if (sscanf(amz, "%4d%2d%2dT%2d%2d%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec) != 6)
        T_FAIL("bad date %s", amz);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000;
}

/* A request parsed from the test suite's .sreq form:
 *   "METHOD target HTTP/1.1\nName:value\n...\n\nbody"
 * Header values keep their spacing (the verifier must trim). */
struct parsed {
    sigv4_request req;
    sigv4_header h[16];
    char *text;
};

static void parse_sreq(struct parsed *pr, const char *sreq) {
    memset(pr, 0, sizeof *pr);
    pr->text = ds_strdup(sreq);
    char *t = pr->text;
    char *eol = strchr(t, '\n');
    if (!eol) eol = t + strlen(t);
    char *sp1 = memchr(t, ' ', (size_t)(eol - t));
    char *sp2 = eol;
    while (sp2 > sp1 && *sp2 != ' ')
        sp2--;
    pr->req.method = (ds_slice){t, (size_t)(sp1 - t)};
    char *target = sp1 + 1;
    size_t tlen = (size_t)(sp2 - target);
    char *q = memchr(target, '?', tlen);
    if (q) {
        pr->req.path = (ds_slice){target, (size_t)(q - target)};
        pr->req.query = (ds_slice){q + 1, (size_t)(target + tlen - q - 1)};
    } else {
        pr->req.path = (ds_slice){target, tlen};
        pr->req.query = (ds_slice){"", 0};
    }
    char *line = *eol ? eol + 1 : eol;
    size_t n = 0;
    while (*line && *line != '\n') {
        char *end = strchr(line, '\n');
        if (!end) end = line + strlen(line);
        char *colon = memchr(line, ':', (size_t)(end - line));
        if (!colon || n == 16) T_FAIL("bad header line in fixture");
        pr->h[n].name = (ds_slice){line, (size_t)(colon - line)};
        pr->h[n].value = (ds_slice){colon + 1, (size_t)(end - colon - 1)};
        n++;
        line = *end ? end + 1 : end;
    }
    pr->req.headers = pr->h;
    pr->req.nheaders = n;
    if (*line == '\n') line++;
    pr->req.body = line;
    pr->req.body_len = strlen(line);
}

static int verify_text(const char *sreq, const char *authz, const char *secret, int64_t now,
                       char *err, size_t errlen) {
    struct parsed pr;
    sigv4_auth a;
    parse_sreq(&pr, sreq);
    int rc = sigv4_parse(authz, strlen(authz), &a, err, errlen);
    if (rc == DS_OK) rc = sigv4_verify(&a, &pr.req, secret, strlen(secret), now, err, errlen);
    ds_free(pr.text);
    return rc;
}

#define EXPECT_OK(sreq, authz, secret, now)                                                        \
    do {                                                                                           \
        char e_[256];                                                                              \
        int rc_ = verify_text(sreq, authz, secret, now, e_, sizeof e_);                            \
        if (rc_ != DS_OK) T_FAIL("rejected (%d): %s\n  request: %s", rc_, e_, sreq);               \
    } while (0)

#define EXPECT_FAIL(sreq, authz, secret, now, msg)                                                 \
    do {                                                                                           \
        char e_[256];                                                                              \
        int rc_ = verify_text(sreq, authz, secret, now, e_, sizeof e_);                            \
        if (rc_ != DS_EAUTH) T_FAIL("expected DS_EAUTH, got %d (%s)", rc_, e_);                    \
        CHECK_EQ_STR(e_, msg);                                                                     \
    } while (0)

/* ---- the AWS SigV4 test suite ------------------------------------------- */

#define SUITE_AUTH(signed, sig)                                                                    \
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "            \
    "SignedHeaders=" signed ", Signature=" sig
#define HD "Host:example.amazonaws.com\nX-Amz-Date:20150830T123600Z\n"

struct suite_case {
    const char *name, *sreq, *authz;
};

static const struct suite_case suite[] = {
    {"get-vanilla", "GET / HTTP/1.1\n" HD,
     SUITE_AUTH("host;x-amz-date",
                "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")},
    {"get-vanilla-query", "GET / HTTP/1.1\n" HD,
     SUITE_AUTH("host;x-amz-date",
                "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")},
    {"get-vanilla-empty-query-key", "GET /?Param1=value1 HTTP/1.1\n" HD,
     SUITE_AUTH("host;x-amz-date",
                "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb")},
    {"get-vanilla-query-order-key", "GET /?Param1=value2&Param1=Value1 HTTP/1.1\n" HD,
     SUITE_AUTH("host;x-amz-date",
                "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1")},
    {"get-vanilla-query-order-key-case", "GET /?Param2=value2&Param1=value1 HTTP/1.1\n" HD,
     SUITE_AUTH("host;x-amz-date",
                "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500")},
    {"get-vanilla-query-order-value", "GET /?Param1=value2&Param1=value1 HTTP/1.1\n" HD,
     SUITE_AUTH("host;x-amz-date",
                "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694")},
    {"get-vanilla-query-unreserved",
     "GET /?-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz="
     "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz HTTP/1.1\n" HD,
     SUITE_AUTH("host;x-amz-date",
                "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197")},
    {"get-vanilla-utf8-query", "GET /?\xe1\x88\xb4=bar HTTP/1.1\n" HD,
     SUITE_AUTH("host;x-amz-date",
                "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04")},
    {"get-header-key-duplicate",
     "GET / HTTP/1.1\nHost:example.amazonaws.com\nMy-Header1:value2\nMy-Header1:value2\n"
     "My-Header1:value1\nX-Amz-Date:20150830T123600Z\n",
     SUITE_AUTH("host;my-header1;x-amz-date",
                "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea")},
    {"get-header-value-order",
     "GET / HTTP/1.1\nHost:example.amazonaws.com\nMy-Header1:value4\nMy-Header1:value1\n"
     "My-Header1:value3\nMy-Header1:value2\nX-Amz-Date:20150830T123600Z\n",
     SUITE_AUTH("host;my-header1;x-amz-date",
                "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01")},
    {"get-header-value-trim",
     "GET / HTTP/1.1\nHost:example.amazonaws.com\nMy-Header1: value1\n"
     "My-Header2: \"a   b   c\"\nX-Amz-Date:20150830T123600Z\n",
     SUITE_AUTH("host;my-header1;my-header2;x-amz-date",
                "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736")},
    {"get-unreserved",
     "GET /-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz HTTP/1.1\n" HD,
     SUITE_AUTH("host;x-amz-date",
                "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f")},
    {"get-utf8", "GET /\xe1\x88\xb4 HTTP/1.1\n" HD,
     SUITE_AUTH("host;x-amz-date",
                "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85")},
    {"normalize-path/get-space", "GET /example space/ HTTP/1.1\n" HD,
     SUITE_AUTH("host;x-amz-date",
                "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741")},
    {"normalize-path/get-relative", "GET /example/.. HTTP/1.1\n" HD,
     SUITE_AUTH("host;x-amz-date",
                "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")},
    {"normalize-path/get-relative-relative", "GET /example1/example2/../.. HTTP/1.1\n" HD,
     SUITE_AUTH("host;x-amz-date",
                "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")},
    {"normalize-path/get-slash", "GET // HTTP/1.1\n" HD,
     SUITE_AUTH("host;x-amz-date",
                "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")},
    {"normalize-path/get-slash-dot-slash", "GET /./ HTTP/1.1\n" HD,
     SUITE_AUTH("host;x-amz-date",
                "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")},
    {"normalize-path/get-slash-pointless-dot", "GET /./example HTTP/1.1\n" HD,
     SUITE_AUTH("host;x-amz-date",
                "ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5")},
    {"normalize-path/get-slashes", "GET //example// HTTP/1.1\n" HD,
     SUITE_AUTH("host;x-amz-date",
                "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84")},
    {"post-vanilla", "POST / HTTP/1.1\n" HD,
     SUITE_AUTH("host;x-amz-date",
                "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b")},
    {"post-vanilla-query", "POST /?Param1=value1 HTTP/1.1\n" HD,
     SUITE_AUTH("host;x-amz-date",
                "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11")},
    {"post-header-key-case", "POST / HTTP/1.1\n" HD,
     SUITE_AUTH("host;x-amz-date",
                "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b")},
    {"post-header-key-sort",
     "POST / HTTP/1.1\nHost:example.amazonaws.com\nMy-Header1:value1\n"
     "X-Amz-Date:20150830T123600Z\n",
     SUITE_AUTH("host;my-header1;x-amz-date",
                "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c")},
    {"post-header-value-case",
     "POST / HTTP/1.1\nHost:example.amazonaws.com\nMy-Header1:VALUE1\n"
     "X-Amz-Date:20150830T123600Z\n",
     SUITE_AUTH("host;my-header1;x-amz-date",
                "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d")},
    {"post-x-www-form-urlencoded",
     "POST / HTTP/1.1\nContent-Type:application/x-www-form-urlencoded\n"
     "Host:example.amazonaws.com\nX-Amz-Date:20150830T123600Z\n\nParam1=value1",
     SUITE_AUTH("content-type;host;x-amz-date",
                "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a")},
    {"post-sts-token/post-sts-header-before",
     "POST / HTTP/1.1\n" HD
     "X-Amz-Security-Token:AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWL"
     "WsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUp"
     "p2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rK"
     "wT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQw"
     "j2ICCR/oLxBA==\n",
     SUITE_AUTH("host;x-amz-date;x-amz-security-token",
                "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead")},
    {"post-sts-token/post-sts-header-after",
     "POST / HTTP/1.1\n" HD "X-Amz-Security-Token:AQoDYXdzEPT//////////wEXAMPLE\n",
     SUITE_AUTH("host;x-amz-date",
                "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b")},
};

TEST(aws_test_suite) {
    int64_t now = ms_of("20150830T123600Z");
    for (size_t i = 0; i < DS_ARRAY_LEN(suite); i++) {
        char e[256];
        int rc = verify_text(suite[i].sreq, suite[i].authz, SUITE_SECRET, now, e, sizeof e);
        if (rc != DS_OK) T_FAIL("%s: rejected: %s", suite[i].name, e);
    }
}

TEST(aws_test_suite_wrong_secret_fails) {
    int64_t now = ms_of("20150830T123600Z");
    for (size_t i = 0; i < DS_ARRAY_LEN(suite); i++)
        EXPECT_FAIL(suite[i].sreq, suite[i].authz, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ", now,
                    "signature does not match");
}

/* AWS General Reference, "Examples of the complete Signature Version 4
 * signing process": IAM ListUsers. */
TEST(aws_general_reference_iam_listusers) {
    EXPECT_OK("GET /?Action=ListUsers&Version=2010-05-08 HTTP/1.1\n"
              "Host:iam.amazonaws.com\n"
              "Content-Type:application/x-www-form-urlencoded; charset=utf-8\n"
              "X-Amz-Date:20150830T123600Z\n",
              "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
              "SignedHeaders=content-type;host;x-amz-date, "
              "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
              SUITE_SECRET, ms_of("20150830T123600Z"));
}

/* ---- real clients ---------------------------------------------------------- */

/* botocore 1.29.27: SigV4Auth(Credentials('AKIDEXAMPLE', SUITE_SECRET),
 * service, 'us-east-1').add_auth(AWSRequest(...)) at 2024-05-01T12:00:00Z.
 * botocore signs the path normalized and percent-encoded again ("%20" ->
 * "%2520"), and params given as a dict travel as "a+b" but are signed as
 * "a%20b". Host is added by its HTTP client. */
#define BOTO_AUTH(svc, signed, sig)                                                                \
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240501/us-east-1/" svc "/aws4_request, "            \
    "SignedHeaders=" signed ", Signature=" sig

TEST(botocore_fixtures) {
    int64_t now = ms_of("20240501T120000Z");
    EXPECT_OK("GET /v1/tenant/t/table/x/id/a%20b HTTP/1.1\nHost: 127.0.0.1:8000\n"
              "X-Amz-Date: 20240501T120000Z\n",
              BOTO_AUTH("dstore", "host;x-amz-date",
                        "5660a6d63fa95fa94975549925a34bc345764dc3c1e1daea229b2bc09aa67f96"),
              SUITE_SECRET, now);
    EXPECT_OK("GET /v1/tenant/t/table/x/id/caf%C3%A9 HTTP/1.1\nHost: 127.0.0.1:8000\n"
              "X-Amz-Date: 20240501T120000Z\n",
              BOTO_AUTH("dstore", "host;x-amz-date",
                        "8c0f78bbea6221b1316ba0a8869fd085abdcec6764e46e6e474cdf832cf618f5"),
              SUITE_SECRET, now);
    EXPECT_OK("PUT /v1/tenant/t/table/x/id/a%20b?ttl=60&b=2&a=1 HTTP/1.1\n"
              "Host: 127.0.0.1:8000\nX-Amz-Date: 20240501T120000Z\nContent-Length: 7\n\n"
              "{\"v\":1}",
              BOTO_AUTH("dstore", "host;x-amz-date",
                        "386e9a7ccfbdfa4af3342529a4e498a04c3126dfa385ab509a6ebf59e32943bd"),
              SUITE_SECRET, now);
    EXPECT_OK("GET /v1/tenant/t/table/x?limit=10&start=a+b%2Fc HTTP/1.1\n"
              "Host: 127.0.0.1:8000\nX-Amz-Date: 20240501T120000Z\n",
              BOTO_AUTH("dstore", "host;x-amz-date",
                        "9e789181657d99d270660563522e189ec882fa90f1d2209e88a488fc58f49ce3"),
              SUITE_SECRET, now);
    EXPECT_OK("POST / HTTP/1.1\nHost: 127.0.0.1:8000\n"
              "X-Amz-Target: DynamoDB_20120810.GetItem\n"
              "Content-Type: application/x-amz-json-1.0\nX-Amz-Date: 20240501T120000Z\n"
              "Content-Length: 17\n\n{\"TableName\":\"x\"}",
              BOTO_AUTH("dynamodb", "content-type;host;x-amz-date;x-amz-target",
                        "b8b19840c43e53052dac1342a19fc79386d78b4967628b649e248c0a2f468a55"),
              SUITE_SECRET, now);
    /* The same DynamoDB request with another body is refused. */
    EXPECT_FAIL("POST / HTTP/1.1\nHost: 127.0.0.1:8000\n"
                "X-Amz-Target: DynamoDB_20120810.GetItem\n"
                "Content-Type: application/x-amz-json-1.0\nX-Amz-Date: 20240501T120000Z\n"
                "Content-Length: 17\n\n{\"TableName\":\"y\"}",
                BOTO_AUTH("dynamodb", "content-type;host;x-amz-date;x-amz-target",
                          "b8b19840c43e53052dac1342a19fc79386d78b4967628b649e248c0a2f468a55"),
                SUITE_SECRET, now, "signature does not match");
}

/* curl 7.88.1 --aws-sigv4 "aws:amz:us-east-1:dstore" -u AKIDEXAMPLE:<secret>,
 * captured on the wire at 2026-11-23T08:51:55Z. curl 7.x signs the path and
 * the query exactly as sent (no re-encoding, no sorting). */
#define CURL_AUTH(signed, sig)                                                                     \
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261123/us-east-1/dstore/aws4_request, "             \
    "SignedHeaders=" signed ", Signature=" sig
#define CURL_HD                                                                                    \
    "Host: 127.0.0.1:33569\nAuthorization: ignored-by-the-verifier\n"                              \
    "X-Amz-Date: 20261123T085155Z\nUser-Agent: curl/7.88.1\nAccept: */*\n"

TEST(curl_fixtures) {
    int64_t now = ms_of("20261123T085155Z");
    EXPECT_OK("GET /v1/tenant/t/table/x/id/a%20b HTTP/1.1\n" CURL_HD,
              CURL_AUTH("host;x-amz-date",
                        "92f1b655387a024228e17424434ecb0ed6caa39d541d0582a8ea6747edb67819"),
              SUITE_SECRET, now);
    EXPECT_OK("GET /v1/tenant/t/table/x/id/caf%C3%A9 HTTP/1.1\n" CURL_HD,
              CURL_AUTH("host;x-amz-date",
                        "235eff3f7675cf802a031ed3a6151d2c9eb409bd5814114524ffa9f07e128bd7"),
              SUITE_SECRET, now);
    EXPECT_OK("GET /v1/tenant/t/table/x/id/k1?b=2&a=1 HTTP/1.1\n" CURL_HD,
              CURL_AUTH("host;x-amz-date",
                        "a5194dcd51d665b6e17a492ca3755a34b89c3812b4f99022edfedfbb7cf34b81"),
              SUITE_SECRET, now);
    EXPECT_OK("PUT /v1/tenant/t/table/x/id/k1 HTTP/1.1\n" CURL_HD
              "Content-Type: application/json\nContent-Length: 7\n\n{\"v\":1}",
              CURL_AUTH("content-type;host;x-amz-date",
                        "45d3f76aeddfceac63c43510fd9c0cbb7694bddacd75dbd3853d9051455d54ce"),
              SUITE_SECRET, now);
    /* Another key with the same signature is refused. */
    EXPECT_FAIL("GET /v1/tenant/t/table/x/id/a%20c HTTP/1.1\n" CURL_HD,
                CURL_AUTH("host;x-amz-date",
                          "92f1b655387a024228e17424434ecb0ed6caa39d541d0582a8ea6747edb67819"),
                SUITE_SECRET, now, "signature does not match");
}

/* ---- requests signed here, then tampered with ------------------------------ */

#define SECRET "s3cr3t/KEY+example"
#define DATE "20240601T101500Z"

/* Signs "PUT /v1/tenant/t/table/x/id/k?a=1" with host, x-amz-date and
 * x-amz-content-sha256 (its value given: a body hash or UNSIGNED-PAYLOAD),
 * the way the AWS docs describe. Returns the Authorization header. */
static char *sign_put(const char *secret, const char *date_hdr, const char *content_sha) {
    ds_buf creq = DS_BUF_INIT, sts = DS_BUF_INIT, out = DS_BUF_INIT;
    uint8_t k[32], k2[32], d[32];
    ds_buf_printf(&creq,
                  "PUT\n/v1/tenant/t/table/x/id/k\na=1\nhost:localhost:8000\n"
                  "x-amz-content-sha256:%s\nx-amz-date:%s\n\n"
                  "host;x-amz-content-sha256;x-amz-date\n%s",
                  content_sha, date_hdr, content_sha);
    crypto_sha256(creq.data, creq.len, d);
    ds_buf_printf(&sts, "AWS4-HMAC-SHA256\n%s\n%.8s/us-east-1/dstore/aws4_request\n", date_hdr,
                  date_hdr);
    crypto_hex(&sts, d, 32);
    ds_buf key = DS_BUF_INIT;
    ds_buf_printf(&key, "AWS4%s", secret);
    crypto_hmac_sha256(key.data, key.len, date_hdr, 8, k);
    crypto_hmac_sha256(k, 32, "us-east-1", 9, k2);
    crypto_hmac_sha256(k2, 32, "dstore", 6, k);
    crypto_hmac_sha256(k, 32, "aws4_request", 12, k2);
    crypto_hmac_sha256(k2, 32, sts.data, sts.len, d);
    ds_buf_printf(&out,
                  "AWS4-HMAC-SHA256 Credential=AKID/%.8s/us-east-1/dstore/aws4_request,"
                  "SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature=",
                  date_hdr);
    crypto_hex(&out, d, 32);
    ds_buf_free(&creq), ds_buf_free(&sts), ds_buf_free(&key);
    return ds_buf_detach(&out, NULL);
}

static char *body_hash(const char *body) {
    uint8_t d[32];
    ds_buf b = DS_BUF_INIT;
    crypto_sha256(body, strlen(body), d);
    crypto_hex(&b, d, 32);
    return ds_buf_detach(&b, NULL);
}

static char *put_req(const char *date_hdr, const char *content_sha, const char *body) {
    ds_buf b = DS_BUF_INIT;
    ds_buf_printf(&b,
                  "PUT /v1/tenant/t/table/x/id/k?a=1 HTTP/1.1\nHost: localhost:8000\n"
                  "X-Amz-Date: %s\nX-Amz-Content-Sha256: %s\n\n%s",
                  date_hdr, content_sha, body);
    return ds_buf_detach(&b, NULL);
}

TEST(generated_request_and_tampering) {
    const char *body = "{\"name\":\"alice\"}";
    char *h = body_hash(body);
    char *authz = sign_put(SECRET, DATE, h);
    int64_t now = ms_of(DATE);
    char *req = put_req(DATE, h, body);
    EXPECT_OK(req, authz, SECRET, now);
    EXPECT_OK(req, authz, SECRET, now + 14 * 60 * 1000); /* within 15 minutes */
    EXPECT_OK(req, authz, SECRET, now - 15 * 60 * 1000);

    /* tampered body: the declared hash no longer matches */
    char *bad = put_req(DATE, h, "{\"name\":\"mallory\"}");
    EXPECT_FAIL(bad, authz, SECRET, now, "x-amz-content-sha256 does not match the body");
    ds_free(bad);
    /* tampered body and a hash recomputed for it: the signature breaks */
    char *h2 = body_hash("{\"name\":\"mallory\"}");
    bad = put_req(DATE, h2, "{\"name\":\"mallory\"}");
    EXPECT_FAIL(bad, authz, SECRET, now, "signature does not match");
    ds_free(bad);
    /* wrong secret */
    EXPECT_FAIL(req, authz, "s3cr3t/KEY+examplf", now, "signature does not match");
    /* stale and future dates */
    EXPECT_FAIL(req, authz, SECRET, now + 16 * 60 * 1000,
                "request date is more than 15 minutes from the server's time");
    EXPECT_FAIL(req, authz, SECRET, now - 16 * 60 * 1000,
                "request date is more than 15 minutes from the server's time");
    /* wrong date: X-Amz-Date changed after signing */
    bad = put_req("20240601T101501Z", h, body);
    EXPECT_FAIL(bad, authz, SECRET, now, "signature does not match");
    ds_free(bad);
    /* wrong date: credential scope day differs from X-Amz-Date */
    char *authz2 = ds_strdup(authz);
    char *scope = strstr(authz2, "/20240601/");
    memcpy(scope + 1, "20240602", 8);
    EXPECT_FAIL(req, authz2, SECRET, now, "credential date does not match the request date");
    ds_free(authz2);
    /* tampered query, path and host */
    bad = put_req(DATE, h, body);
    memcpy(strstr(bad, "a=1"), "a=2", 3);
    EXPECT_FAIL(bad, authz, SECRET, now, "signature does not match");
    memcpy(strstr(bad, "a=2"), "a=1", 3);
    memcpy(strstr(bad, "id/k"), "id/j", 4);
    EXPECT_FAIL(bad, authz, SECRET, now, "signature does not match");
    ds_free(bad);
    /* signature hex never appears in an error message */
    char e[256];
    CHECK_EQ_INT(verify_text(req, authz, "wrong", now, e, sizeof e), DS_EAUTH);
    CHECK(strlen(e) < 40);

    ds_free(h), ds_free(h2), ds_free(authz), ds_free(req);
}

/* An unsigned payload leaves the body out of the signature, so a body
 * could be swapped in transit: only body-less requests may use it. */
TEST(unsigned_payload_only_without_a_body) {
    char *authz = sign_put(SECRET, DATE, "UNSIGNED-PAYLOAD");
    char *req = put_req(DATE, "UNSIGNED-PAYLOAD", "anything at all");
    EXPECT_FAIL(req, authz, SECRET, ms_of(DATE),
                "UNSIGNED-PAYLOAD is not accepted for a request with a body: sign the body's SHA-256");
    ds_free(req);
    req = put_req(DATE, "UNSIGNED-PAYLOAD", "");
    EXPECT_OK(req, authz, SECRET, ms_of(DATE));
    ds_free(req), ds_free(authz);
}

TEST(missing_and_unsigned_headers) {
    int64_t now = ms_of("20150830T123600Z");
    /* a header named in SignedHeaders but absent */
    EXPECT_FAIL("GET / HTTP/1.1\n" HD,
                SUITE_AUTH("host;my-header1;x-amz-date",
                           "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"),
                SUITE_SECRET, now, "signed header my-header1 is missing");
    /* host not signed */
    EXPECT_FAIL("GET / HTTP/1.1\n" HD,
                SUITE_AUTH("x-amz-date",
                           "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
                SUITE_SECRET, now, "host header must be signed");
    /* no date at all */
    EXPECT_FAIL(
        "GET / HTTP/1.1\nHost:example.amazonaws.com\n",
        SUITE_AUTH("host", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        SUITE_SECRET, now, "request has no X-Amz-Date or Date header");
    EXPECT_FAIL(
        "GET / HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:2015-08-30\n",
        SUITE_AUTH("host", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        SUITE_SECRET, now, "X-Amz-Date header is malformed");
    /* an unsigned header may be changed freely (post-sts-header-after) */
    EXPECT_OK("GET / HTTP/1.1\n" HD "User-Agent: whatever\n",
              SUITE_AUTH("host;x-amz-date",
                         "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
              SUITE_SECRET, now);
    /* a signed header's value changed */
    EXPECT_FAIL("POST / HTTP/1.1\nHost:example.amazonaws.com\nMy-Header1:value2\n"
                "X-Amz-Date:20150830T123600Z\n",
                SUITE_AUTH("host;my-header1;x-amz-date",
                           "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"),
                SUITE_SECRET, now, "signature does not match");
}

/* A request dated by the HTTP Date header instead of X-Amz-Date: the string
 * to sign carries the date in ISO 8601 basic form. */
TEST(date_header_instead_of_x_amz_date) {
    ds_buf creq = DS_BUF_INIT, sts = DS_BUF_INIT, authz = DS_BUF_INIT;
    uint8_t k[32], k2[32], d[32];
    ds_buf_puts(&creq, "GET\n/\n\ndate:Sat, 01 Jun 2024 10:15:00 GMT\nhost:h\n\ndate;host\n"
                       "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    crypto_sha256(creq.data, creq.len, d);
    ds_buf_puts(&sts, "AWS4-HMAC-SHA256\n20240601T101500Z\n20240601/r/s/aws4_request\n");
    crypto_hex(&sts, d, 32);
    crypto_hmac_sha256("AWS4x", 5, "20240601", 8, k);
    crypto_hmac_sha256(k, 32, "r", 1, k2);
    crypto_hmac_sha256(k2, 32, "s", 1, k);
    crypto_hmac_sha256(k, 32, "aws4_request", 12, k2);
    crypto_hmac_sha256(k2, 32, sts.data, sts.len, d);
    ds_buf_puts(&authz, "AWS4-HMAC-SHA256 Credential=A/20240601/r/s/aws4_request, "
                        "SignedHeaders=date;host, Signature=");
    crypto_hex(&authz, d, 32);
    EXPECT_OK("GET / HTTP/1.1\nDate: Sat, 01 Jun 2024 10:15:00 GMT\nHost: h\n", authz.data, "x",
              ms_of("20240601T101500Z"));
    EXPECT_FAIL("GET / HTTP/1.1\nDate: Sat, 01 Jun 2024 10:15:00 GMT\nHost: h\n", authz.data, "x",
                ms_of("20240601T110000Z"),
                "request date is more than 15 minutes from the server's time");
    ds_buf_free(&creq), ds_buf_free(&sts), ds_buf_free(&authz);
}

TEST(signing_key_cache_does_not_mix_secrets) {
    int64_t now = ms_of("20150830T123600Z");
    const struct suite_case *c = &suite[0];
    EXPECT_OK(c->sreq, c->authz, SUITE_SECRET, now);
    EXPECT_FAIL(c->sreq, c->authz, "another secret", now, "signature does not match");
    EXPECT_OK(c->sreq, c->authz, SUITE_SECRET, now);
}

/* ---- parsing the Authorization header ------------------------------------ */

#define SIG64 "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
#define SIG63 "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf3" /* one digit short */

TEST(parse_variants) {
    const char *ok[] = {
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date, Signature=" SIG64,
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request,"
        "SignedHeaders=content-type;host;x-amz-date,Signature=" SIG64,
        "  AWS4-HMAC-SHA256   Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request ,  "
        "SignedHeaders=content-type;host;x-amz-date ,Signature=" SIG64 "  ",
        "AWS4-HMAC-SHA256 Signature=" SIG64 ", SignedHeaders=content-type;host;x-amz-date, "
        "Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request",
        /* every whitespace character separates, as before the character table */
        "AWS4-HMAC-SHA256\tCredential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request,\r\n"
        "\fSignedHeaders=content-type;host;x-amz-date\v,Signature=" SIG64 "\n",
    };
    for (size_t i = 0; i < DS_ARRAY_LEN(ok); i++) {
        sigv4_auth a;
        char err[200];
        int rc = sigv4_parse(ok[i], strlen(ok[i]), &a, err, sizeof err);
        if (rc) T_FAIL("variant %zu: %s", i, err);
        CHECK_EQ_STR(a.access_key, "AKIDEXAMPLE");
        CHECK_EQ_STR(a.date, "20150830");
        CHECK_EQ_STR(a.region, "us-east-1");
        CHECK_EQ_STR(a.service, "iam");
        CHECK_EQ_STR(a.signed_headers, "content-type;host;x-amz-date");
        CHECK_EQ_INT(a.signature[0], 0x5f);
        CHECK_EQ_INT(a.signature[31], 0x31);
    }
}

TEST(parse_errors) {
    struct {
        const char *in, *msg;
    } bad[] = {
        {"", "Authorization header must start with AWS4-HMAC-SHA256"},
        {"Basic dXNlcjpwYXNz", "Authorization header must start with AWS4-HMAC-SHA256"},
        {"AWS4-HMAC-SHA256X Credential=a/20150830/r/s/aws4_request",
         "Authorization header must start with AWS4-HMAC-SHA256"},
        {"AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_request, SignedHeaders=host",
         "Authorization header has no Signature"},
        {"AWS4-HMAC-SHA256 SignedHeaders=host, Signature=" SIG64,
         "Authorization header has no Credential"},
        {"AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_request, Signature=" SIG64,
         "Authorization header has no SignedHeaders"},
        {"AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_request, SignedHeaders=host, "
         "Signature=abc",
         "Signature must be 64 hex digits"},
        {"AWS4-HMAC-SHA256 Credential=A/2015083/r/s/aws4_request, SignedHeaders=host, "
         "Signature=" SIG64,
         "Credential date must be YYYYMMDD"},
        {"AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws5_request, SignedHeaders=host, "
         "Signature=" SIG64,
         "Credential must end with /aws4_request"},
        {"AWS4-HMAC-SHA256 Credential=A/20150830/r/aws4_request, SignedHeaders=host, "
         "Signature=" SIG64,
         "Credential must be <access key>/<YYYYMMDD>/<region>/<service>/aws4_request"},
        {"AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_request/x, SignedHeaders=host, "
         "Signature=" SIG64,
         "Credential must be <access key>/<YYYYMMDD>/<region>/<service>/aws4_request"},
        {"AWS4-HMAC-SHA256 Credential=/20150830/r/s/aws4_request, SignedHeaders=host, "
         "Signature=" SIG64,
         "Credential has an empty or too long access key"},
        {"AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_request, SignedHeaders=host;;a, "
         "Signature=" SIG64,
         "SignedHeaders has an empty header name"},
        {"AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_request, SignedHeaders=host, "
         "Signature=" SIG64 ", Signature=" SIG64,
         "Signature appears twice"},
        {"AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_request, SignedHeaders=host, "
         "Signature=" SIG64 ", Extra=1",
         "unknown Authorization header component \"Extra\""},
        {"AWS4-HMAC-SHA256 Credential",
         "Authorization header component \"Credential\" has no value"},
        {"AWS4-HMAC-SHA256 Credential =A/20150830/r/s/aws4_request",
         "Authorization header component \"Credential\" has no value"},
        {"AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_request, SignedHeaders=host, "
         "Signature=" SIG63 "g",
         "Signature must be 64 hex digits"},
    };
    for (size_t i = 0; i < DS_ARRAY_LEN(bad); i++) {
        sigv4_auth a;
        char err[200];
        CHECK_EQ_INT(sigv4_parse(bad[i].in, strlen(bad[i].in), &a, err, sizeof err), DS_EINVAL);
        if (strcmp(err, bad[i].msg))
            T_FAIL("case %zu: got \"%s\"\n  want \"%s\"", i, err, bad[i].msg);
    }
}

/* ---- cost (printed, not asserted) -------------------------------------------- */

TEST(bench_verify) {
    const struct suite_case *c = &suite[0];
    struct parsed pr;
    sigv4_auth a;
    parse_sreq(&pr, c->sreq);
    CHECK_EQ_INT(sigv4_parse(c->authz, strlen(c->authz), &a, NULL, 0), DS_OK);
    int64_t now = ms_of("20150830T123600Z");
    int n = 50000;
    uint64_t t0 = ds_now_us();
    for (int i = 0; i < n; i++)
        if (sigv4_verify(&a, &pr.req, SUITE_SECRET, strlen(SUITE_SECRET), now, NULL, 0))
            T_FAIL("verify failed");
    uint64_t t1 = ds_now_us();
    printf("  bench sigv4_verify get-vanilla: %.2f us\n", (double)(t1 - t0) / n);
    ds_free(pr.text);
}

TEST_MAIN()

/* test_peer.c -- the internal RPC (src/cluster/peer.c): a signed call to a
 * real http_server is accepted; a wrong key, an altered body, a replayed old
 * signature and a missing one are refused. */
#include "cluster/peer.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "crypto/crypto.h"
#include "t.h"

/* Answers 200 with the body echoed when the signature verifies, else 401. */
static void handler(http_request *req, void *ud) {
    (void)ud;
    if (peer_verify(req)) {
        http_respond(req, 401, "text/plain", NULL, 0, "no", 2);
        return;
    }
    http_respond(req, 200, "application/json", NULL, 0, req->body.data, req->body.len);
}

static http_server *start(char *base, size_t n) {
    http_config hc = {0};
    hc.host = "127.0.0.1";
    hc.threads = 1;
    hc.handler = handler;
    http_server *s;
    char err[256];
    if (http_server_start(&hc, &s, err, sizeof err)) T_FAIL("http_server_start: %s", err);
    snprintf(base, n, "http://127.0.0.1:%d/", http_server_port(s));
    return s;
}

/* A raw request with its own X-DStore-Auth header, answered status. */
static long raw(const char *base, const char *auth, const char *body) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "curl -s -o /dev/null -w '%%{http_code}' -H '%s' --data-binary '%s' %sinternal/v1/x",
             auth, body, base);
    FILE *p = popen(cmd, "r");
    long code = 0;
    if (!p || fscanf(p, "%ld", &code) != 1) code = -1;
    if (p) pclose(p);
    return code;
}

TEST(signed_calls) {
    crypto_init();
    uint8_t key[32];
    memset(key, 7, sizeof key);
    peer_init(key);
    char base[64];
    http_server *s = start(base, sizeof base);
    long status = 0;
    ds_buf resp = DS_BUF_INIT;
    CHECK_EQ_INT(peer_call(base, "internal/v1/x", "{\"a\":1}", 7, 2000, &status, &resp), DS_OK);
    CHECK_EQ_INT(status, 200);
    CHECK_EQ_MEM(resp.data, "{\"a\":1}", 7);
    /* the same call with an empty body, and with a leading slash on the path */
    CHECK_EQ_INT(peer_call(base, "/internal/v1/x", "", 0, 2000, &status, &resp), DS_OK);
    CHECK_EQ_INT(status, 200);

    /* unsigned, garbage, stale and forged signatures */
    CHECK_EQ_INT(raw(base, "X-Other: 1", "{}"), 401);
    CHECK_EQ_INT(raw(base, PEER_AUTH_HEADER ": 1.abc", "{}"), 401);
    char auth[256];
    snprintf(auth, sizeof auth, PEER_AUTH_HEADER ": 1000.%064d", 0);
    CHECK_EQ_INT(raw(base, auth, "{}"), 401);

    /* a fresh, well-formed signature made with another key is refused */
    uint8_t mac[32];
    char ms[24], msg[128];
    snprintf(ms, sizeof ms, "%lld", (long long)ds_wall_ms());
    int ml = snprintf(msg, sizeof msg, "%s\n/internal/v1/x\n{}", ms);
    crypto_hmac_sha256("another key", 11, msg, (size_t)ml, mac);
    ds_buf hex = DS_BUF_INIT;
    crypto_hex(&hex, mac, 32);
    snprintf(auth, sizeof auth, PEER_AUTH_HEADER ": %s.%s", ms, hex.data);
    CHECK_EQ_INT(raw(base, auth, "{}"), 401);
    ds_buf_free(&hex);

    /* a signature made with the real RPC key passes, and fails for another body */
    uint8_t rk[32];
    crypto_hkdf_sha256(NULL, 0, key, 32, "dstore/internal-rpc/v1", 22, rk, 32);
    crypto_hmac_sha256(rk, 32, msg, (size_t)ml, mac);
    crypto_hex(&hex, mac, 32);
    snprintf(auth, sizeof auth, PEER_AUTH_HEADER ": %s.%s", ms, hex.data);
    CHECK_EQ_INT(raw(base, auth, "{}"), 200);
    CHECK_EQ_INT(raw(base, auth, "[]"), 401);
    ds_buf_free(&hex);

    /* nothing listening: DS_EIO, so the caller knows nothing was sent */
    http_server_stop(s);
    CHECK_EQ_INT(peer_call(base, "internal/v1/x", "{}", 2, 1000, &status, &resp), DS_EIO);
    ds_buf_free(&resp);
}

TEST(key_file) {
    crypto_init();
    char dir[] = "/tmp/dstore-peer-XXXXXX", path[128], err[256];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/cluster.key", dir);
    uint8_t a[32], b[32];
    CHECK_EQ_INT(peer_load_key(path, 0, a, err, sizeof err), DS_ENOTFOUND);
    CHECK_EQ_INT(peer_load_key(path, 1, a, err, sizeof err), DS_OK);
    struct stat st;
    CHECK_EQ_INT(stat(path, &st), 0);
    CHECK_EQ_INT(st.st_mode & 0777, 0600);
    CHECK_EQ_INT(peer_load_key(path, 0, b, err, sizeof err), DS_OK);
    CHECK_EQ_MEM(a, b, 32);
    chmod(path, 0644);
    CHECK(peer_load_key(path, 0, b, err, sizeof err) != DS_OK);
    unlink(path);
    rmdir(dir);
}

TEST_MAIN()

/* peer.c -- the internal RPC between cluster members (see peer.h). */
#include "cluster/peer.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "crypto/identity.h"

static uint8_t rpc_key[32];
static int rpc_ready;

void peer_init(const uint8_t cluster_key[32]) {
    const char *info = "dstore/internal-rpc/v1";
    crypto_hkdf_sha256(NULL, 0, cluster_key, 32, info, strlen(info), rpc_key, 32);
    rpc_ready = 1;
}

int peer_enabled(void) { return rpc_ready; }

/* hex HMAC of "<ms>\n<path>\n" || body into out (65 bytes). */
static void sign(char out[65], const char *ms, size_t mslen, const char *path, size_t plen,
                 const void *body, size_t len) {
    ds_buf m = DS_BUF_INIT, hex = DS_BUF_INIT;
    ds_buf_append(&m, ms, mslen);
    ds_buf_putc(&m, '\n');
    ds_buf_append(&m, path, plen);
    ds_buf_putc(&m, '\n');
    ds_buf_append(&m, body, len);
    uint8_t mac[32];
    crypto_hmac_sha256(rpc_key, 32, m.data, m.len, mac);
    crypto_hex(&hex, mac, 32);
    memcpy(out, hex.data, 64);
    out[64] = 0;
    ds_buf_free(&m);
    ds_buf_free(&hex);
}

int peer_verify(const http_request *req) {
    if (!rpc_ready) return DS_EAUTH;
    const ds_slice *h = http_header_get(req, PEER_AUTH_HEADER);
    if (!h || h->len < 66 || h->len > 90) return DS_EAUTH;
    const char *dot = memchr(h->p, '.', h->len);
    if (!dot || (size_t)(h->p + h->len - dot - 1) != 64) return DS_EAUTH;
    char ms[24];
    size_t mslen = (size_t)(dot - h->p);
    if (mslen == 0 || mslen >= sizeof ms) return DS_EAUTH;
    memcpy(ms, h->p, mslen);
    ms[mslen] = 0;
    char *end;
    long long t = strtoll(ms, &end, 10);
    if (*end) return DS_EAUTH;
    long long now = (long long)ds_wall_ms();
    if (t < now - PEER_SKEW_MS || t > now + PEER_SKEW_MS) return DS_EAUTH;
    char want[65];
    sign(want, ms, mslen, req->path.p, req->path.len, req->body.data, req->body.len);
    return crypto_ct_equal(want, dot + 1, 64) ? DS_OK : DS_EAUTH;
}

/* ---- the client side ---------------------------------------------------- */

static pthread_key_t easy_key;
static pthread_once_t easy_once = PTHREAD_ONCE_INIT;

static void easy_free(void *h) { curl_easy_cleanup(h); }
static void easy_init(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    pthread_key_create(&easy_key, easy_free);
}

static CURL *thread_easy(void) {
    pthread_once(&easy_once, easy_init);
    CURL *h = pthread_getspecific(easy_key);
    if (!h) {
        h = curl_easy_init();
        pthread_setspecific(easy_key, h);
    }
    return h;
}

static size_t sink(char *p, size_t sz, size_t n, void *ud) {
    ds_buf_append(ud, p, sz * n);
    return sz * n;
}

int peer_call(const char *base_uri, const char *path, const void *body, size_t len,
              int timeout_ms, long *status, ds_buf *resp) {
    CURL *h = thread_easy();
    if (!h) return DS_EIO;
    ds_buf url = DS_BUF_INIT;
    size_t bl = strlen(base_uri);
    ds_buf_append(&url, base_uri, bl);
    if (bl && base_uri[bl - 1] == '/') url.len--;
    if (path[0] != '/') ds_buf_putc(&url, '/');
    ds_buf_puts(&url, path);
    /* The signed path is the request target's path as the server sees it. */
    const char *p = strstr(url.data, "://");
    p = p ? strchr(p + 3, '/') : NULL;
    const char *upath = p ? p : "/";

    char ms[24], auth[128], sig[65];
    int msl = snprintf(ms, sizeof ms, "%lld", (long long)ds_wall_ms());
    sign(sig, ms, (size_t)msl, upath, strlen(upath), body, len);
    snprintf(auth, sizeof auth, PEER_AUTH_HEADER ": %s.%s", ms, sig);
    struct curl_slist *hdrs = curl_slist_append(NULL, auth);
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, "Expect:");

    ds_buf_reset(resp);
    curl_easy_reset(h); /* keeps the connection cache */
    /* one kept-alive connection per member, for clusters of up to 64 */
    curl_easy_setopt(h, CURLOPT_MAXCONNECTS, 64L);
    curl_easy_setopt(h, CURLOPT_URL, url.data);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, len ? body : "");
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(timeout_ms < 1000 ? timeout_ms : 1000));
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    CURLcode res = curl_easy_perform(h);
    curl_slist_free_all(hdrs);
    ds_buf_free(&url);
    if (res == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
        return DS_OK;
    }
    if (res == CURLE_COULDNT_CONNECT || res == CURLE_COULDNT_RESOLVE_HOST) return DS_EIO;
    if (res == CURLE_OPERATION_TIMEDOUT) {
        long sent = 0;
        curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &sent);
        return sent ? DS_ETIMEDOUT : DS_EIO;
    }
    return DS_ESTATE;
}

int peer_load_key(const char *path, int create, uint8_t key[32], char *err, size_t errlen) {
    if (!create && access(path, F_OK) != 0) {
        snprintf(err, errlen, "cluster key file %s does not exist", path);
        return DS_ENOTFOUND;
    }
    ds_identity id;
    int rc = identity_load_or_create(path, &id, err, errlen);
    if (rc) return rc;
    memcpy(key, id.key, 32);
    identity_wipe(&id);
    return DS_OK;
}

/* peer.h -- the internal RPC between cluster members (proxy -> node,
 * node -> node): authenticated HTTP/1.1 POSTs on the members' own ports
 * under /internal/v1/.
 *
 * Every member of a cluster holds the cluster key (a 32-byte secret in a
 * file only its owner can read, `--cluster-key FILE`). From it, peer_init()
 * derives the RPC key K = HKDF-SHA256(cluster key, info "dstore/internal-rpc/v1").
 * Each request carries
 *
 *   HEADER           VALUE
 *   X-DStore-Auth    "<unix ms>.<hex HMAC-SHA256(K, "<unix ms>\n<path>\n" || body)>"
 *
 * and the receiver refuses (401) a missing or wrong signature, or a
 * timestamp more than PEER_SKEW_MS away from its clock, so a request
 * captured on the wire is useless after that window and a body cannot be
 * altered. Nothing secret is ever logged.
 *
 * Calls run on the caller's thread with a libcurl easy handle kept per
 * thread (keep-alive connections are reused across calls).
 */
#ifndef DS_PEER_H
#define DS_PEER_H

#include "common/ds.h"
#include "net/http.h"

#define PEER_SKEW_MS 30000
#define PEER_AUTH_HEADER "X-DStore-Auth"

/* Sets the process-wide RPC key from the cluster key. Call once at start,
 * before any other peer call. */
void peer_init(const uint8_t cluster_key[32]);

/* 1 once peer_init() ran (the process is a cluster member). */
int peer_enabled(void);

/* Checks req's X-DStore-Auth. Returns DS_OK or DS_EAUTH. */
int peer_verify(const http_request *req);

/* POSTs body to base_uri + path ("http://127.0.0.1:7001/" + "internal/v1/op";
 * slashes are joined sensibly), signed, waiting at most timeout_ms.
 * Returns DS_OK with the answer's status and body (resp is reset first), or
 *   DS_EIO        the connection could not be made: nothing was sent;
 *   DS_ETIMEDOUT  no complete answer in time: the request MAY have run;
 *   DS_ESTATE     the connection broke after sending: it MAY have run. */
int peer_call(const char *base_uri, const char *path, const void *body, size_t len,
              int timeout_ms, long *status, ds_buf *resp);

/* Reads the cluster key from path (created with a fresh random key, mode
 * 0600, when absent and create is set). Refuses a file others can read. */
int peer_load_key(const char *path, int create, uint8_t key[32], char *err, size_t errlen);

#endif

/* sigv4.h -- AWS Signature Version 4 verification for dStore's REST and
 * DynamoDB APIs.
 *
 * Clients sign requests with an access key id and a secret (curl
 * --aws-sigv4, botocore/boto3, the AWS SDKs). The API front end parses the
 * Authorization header with sigv4_parse(), looks up the secret for
 * auth.access_key, checks that auth.region/auth.service are ones it serves,
 * and calls sigv4_verify() with the request as received. This module knows
 * nothing of HTTP parsing or of where secrets live.
 *
 * What is verified (AWS General Reference, "Create a signed AWS API
 * request"):
 *   canonical request = METHOD \n CanonicalURI \n CanonicalQuery \n
 *                       CanonicalHeaders \n SignedHeaders \n PayloadHash
 *   string to sign    = "AWS4-HMAC-SHA256" \n X-Amz-Date \n
 *                       date/region/service/aws4_request \n hex(sha256(creq))
 *   signing key       = HMAC chain "AWS4"+secret, date, region, service,
 *                       "aws4_request"
 * The signature is compared in constant time; the expected value is never
 * revealed. The request time (X-Amz-Date, else Date) must be within 15
 * minutes of the server's clock and its day must equal the credential's.
 * The payload hash is x-amz-content-sha256 when present (checked against
 * the body unless it is UNSIGNED-PAYLOAD, which is refused when there is a
 * body), else the SHA-256 of the body.
 *
 * Canonical URI and query: clients disagree, so several canonical forms are
 * tried and the request is accepted if any of them matches:
 *   URI  A  path normalized (dot segments and empty segments removed) and
 *           then URI-encoded, '%' included -- so "/a%20b" is signed as
 *           "/a%2520b". AWS's rule for every service but S3 ("encode
 *           twice"); botocore's SigV4Auth (SigV4Auth._normalize_url_path:
 *           remove_dot_segments, then quote(path, safe='/~')), the AWS SDKs,
 *           the AWS test suite, and curl >= 8.x for services other than s3.
 *        A' the same encoding without normalization (curl 8.x: its URL
 *           parser already removed dot segments but keeps "//").
 *        B  the path exactly as sent: S3-style signers and curl 7.x (checked
 *           with curl 7.88.1: "/id/a%20b" is signed as "/id/a%20b").
 *   query: names and values percent-decoded then re-encoded (unreserved
 *           A-Za-z0-9-_.~ kept), sorted by name then value; also with '+'
 *           decoded as a space when the query has a '+' (botocore sends
 *           spaces in params as '+' but signs "%20"; curl 8.x does the
 *           same); and the raw query exactly as sent (curl 7.x signs it
 *           unsorted and unencoded).
 * The price of accepting several forms: a request signed for one path can
 * be replayed (within 15 minutes) to another path whose canonical form in
 * another variant is equal, e.g. a signature for key "a%20b" (URI B) also
 * fits the key "a b" (URI A), and "/x/../y" fits "/y". Routers must treat
 * paths with dot segments as the normalized path (or reject them).
 */
#ifndef DS_SIGV4_H
#define DS_SIGV4_H

#include <stddef.h>
#include <stdint.h>

#include "common/ds.h"

/* A parsed Authorization header. All strings are NUL-terminated copies. */
typedef struct sigv4_auth {
    char access_key[129];
    char date[9]; /* credential scope date, YYYYMMDD */
    char region[65];
    char service[65];
    char signed_headers[1024]; /* as sent: "host;x-amz-date" */
    uint8_t signature[32];
} sigv4_auth;

/* Parses "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/iam/aws4_request,
 * SignedHeaders=host;x-amz-date, Signature=<64 hex>" from authorization[0..len)
 * into *out. Components may come in any order, separated by commas and/or
 * spaces. Returns DS_OK, or DS_EINVAL with a message for the client in err
 * (errlen bytes, may be NULL/0). */
int sigv4_parse(const char *authorization, size_t len, sigv4_auth *out, char *err, size_t errlen);

typedef struct sigv4_header {
    ds_slice name, value; /* as received; name in any case */
} sigv4_header;

/* The request as received. Everything is borrowed for the call only. */
typedef struct sigv4_request {
    ds_slice method;
    ds_slice path;  /* raw, still percent-encoded, without the query */
    ds_slice query; /* raw, without the '?'; empty if none */
    const sigv4_header *headers;
    size_t nheaders; /* repeated names allowed: joined with ',' in order */
    const void *body;
    size_t body_len;
} sigv4_request;

/* Verifies req against auth with the secret for auth->access_key, at server
 * time now_ms (ms since the epoch). Returns DS_OK, DS_EAUTH with one of
 * these messages in err:
 *   "signature does not match"
 *   "request date is more than 15 minutes from the server's time"
 *   "request has no X-Amz-Date or Date header" / "... header is malformed"
 *   "credential date does not match the request date"
 *   "signed header <name> is missing"
 *   "host header must be signed"
 *   "x-amz-content-sha256 does not match the body"
 * or DS_EINVAL for an unusable argument. Thread-safe; keeps a per-thread
 * cache of the last signing key (it changes once a day per credential). */
int sigv4_verify(const sigv4_auth *auth, const sigv4_request *req, const char *secret,
                 size_t secret_len, int64_t now_ms, char *err, size_t errlen);

#endif

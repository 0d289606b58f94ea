"""DynamoDB API: the wire protocol (POST / with X-Amz-Target, SigV4) and
authentication errors.

Docs:
- Developer Guide, "DynamoDB low-level API" (POST /, X-Amz-Target:
  DynamoDB_20120810.<Op>, Content-Type application/x-amz-json-1.0, SigV4).
- Developer Guide, "Error handling with DynamoDB" (Programming.Errors):
  HTTP 400 + exception name in __type + message; UnrecognizedClientException
  "The Access Key ID or security token is invalid"; SerializationException;
  HTTP 413 for a request over the size limit.
- API Reference, "Common Errors": IncompleteSignature, RequestExpired (date
  stamp more than 15 minutes off).
"""

import datetime
import http.client
import json
import re

import botocore.auth
import botocore.awsrequest
import botocore.credentials

from ddb_fixtures import *  # noqa: F401,F403


def test_get_root_unsigned_is_200(server):
    # DynamoDB answers an unsigned GET / with 200 (its health check endpoint).
    c = dc.Client(HOST, server.port)
    try:
        r = c.get("/")
        assert r.status == 200, r
    finally:
        c.close()


def test_list_tables_works_and_has_request_id(ddb):
    r = ddb.list_tables()
    assert isinstance(r["TableNames"], list)
    md = r["ResponseMetadata"]
    assert md["HTTPStatusCode"] == 200
    # x-amzn-RequestId is in every response (Error handling, Error components example),
    # one per request: ours are UUID-shaped, a per-thread random base and a counter.
    assert md.get("RequestId"), md
    ids = [md["RequestId"]] + [ddb.list_tables()["ResponseMetadata"]["RequestId"] for _ in range(3)]
    for rid in ids:
        assert re.fullmatch(r"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}", rid), rid
    assert len(set(ids)) == len(ids), ids


def test_raw_request_content_type_and_json(server):
    r = raw_ddb(server, "ListTables", {})
    assert r.status == 200, r
    # DynamoDB low-level API: responses are application/x-amz-json-1.0
    assert (r.header("Content-Type") or "").split(";")[0].strip() == AMZ_JSON, r.headers
    body = r.json()
    assert isinstance(body.get("TableNames"), list), body


def test_wrong_secret_refused(server):
    c = ddb_client(server, server.dev_key, server.dev_secret + "x")
    e = expect_error(("InvalidSignatureException", "UnrecognizedClientException"), c.list_tables)
    assert http_status(e) == 400, e.response


def test_unknown_access_key_unrecognized_client(server):
    c = ddb_client(server, "AKIDNOSUCHKEY0000000", "whatever-secret")
    e = expect_error("UnrecognizedClientException", c.list_tables)
    assert http_status(e) == 400, e.response


def test_tampered_body_refused(server):
    # Sign one body and send another: the signature covers the payload hash.
    c = dc.Client(HOST, server.port)
    try:
        auth = dc.SigV4(server.dev_key, server.dev_secret, service="dynamodb")
        auth.sign_body = b'{"Limit": 1}'
        r = c.request("POST", "/", body=b'{"Limit": 2}',
                      headers={"X-Amz-Target": TARGET_PREFIX + "ListTables"}, auth=auth,
                      content_type=AMZ_JSON)
    finally:
        c.close()
    assert r.status == 400, r
    assert error_type(r) in ("InvalidSignatureException", "UnrecognizedClientException"), r


def test_stale_date_refused(server):
    # A request signed 20 minutes ago: more than 15 minutes off (Common Errors, RequestExpired;
    # real DynamoDB says "InvalidSignatureException: Signature expired").
    for skew in (datetime.timedelta(minutes=-20), datetime.timedelta(minutes=20)):
        r = raw_ddb(server, "ListTables", {}, skew=skew)
        assert 400 <= r.status < 500, r
        assert error_type(r) in ("InvalidSignatureException", "RequestExpired"), r
    # sanity: the same request with the right clock works
    assert raw_ddb(server, "ListTables", {}).status == 200


def test_altered_amz_date_refused(server):
    # Sign with botocore, then change X-Amz-Date (the date is part of the signature).
    creds = botocore.credentials.Credentials(server.dev_key, server.dev_secret)
    url = "http://%s:%d/" % (HOST, server.port)
    req = botocore.awsrequest.AWSRequest(method="POST", url=url, data=b"{}", headers={
        "X-Amz-Target": TARGET_PREFIX + "ListTables", "Content-Type": AMZ_JSON})
    botocore.auth.SigV4Auth(creds, "dynamodb", "us-east-1").add_auth(req)
    hdrs = dict(req.headers.items())
    old = datetime.datetime.strptime(hdrs["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
    hdrs["X-Amz-Date"] = (old - datetime.timedelta(hours=1)).strftime("%Y%m%dT%H%M%SZ")
    conn = http.client.HTTPConnection(HOST, server.port, timeout=30)
    try:
        conn.request("POST", "/", body=b"{}", headers=hdrs)
        r = conn.getresponse()
        status, body = r.status, r.read()
    finally:
        conn.close()
    assert 400 <= status < 500, (status, body)
    t = json.loads(body).get("__type", "").rsplit("#", 1)[-1]
    assert t in ("InvalidSignatureException", "RequestExpired", "IncompleteSignatureException"), body


def test_unsigned_post_refused(server):
    r = raw_ddb(server, "ListTables", {}, sign=False)
    assert r.status == 400, r
    # Error handling: MissingAuthenticationTokenException ("Request must contain a valid
    # (registered) AWS Access Key ID"); Common Errors: MissingAuthenticationToken.
    assert error_type(r) in ("MissingAuthenticationTokenException", "MissingAuthenticationToken",
                             "UnrecognizedClientException", "IncompleteSignatureException"), r


def test_unknown_operation(server):
    r = raw_ddb(server, "FrobnicateTable", {})
    assert r.status == 400, r
    assert error_type(r) == "UnknownOperationException", r
    # another API version's prefix is not this API
    r = raw_ddb(server, None, {}, headers={"X-Amz-Target": "DynamoDB_20111205.ListTables"})
    assert r.status == 400, r
    assert error_type(r) == "UnknownOperationException", r


def test_malformed_json_serialization_exception(server):
    for body in (b"{", b'{"TableName": }', b"not json at all"):
        r = raw_ddb(server, "DescribeTable", body)
        assert r.status == 400, (body, r)
        assert error_type(r) == "SerializationException", (body, r)


def test_wrong_json_type_serialization_or_validation(server):
    # "Limit" must be an integer: DynamoDB refuses a string there.
    r = raw_ddb(server, "ListTables", {"Limit": "ten"})
    assert r.status == 400, r
    assert error_type(r) in ("SerializationException", "ValidationException"), r


def test_error_body_shape(server):
    # Error components: __type "…#ResourceNotFoundException" and a message.
    r = raw_ddb(server, "DescribeTable", {"TableName": unique("nosuch")})
    assert r.status == 400, r
    body = r.json()
    assert body["__type"].rsplit("#", 1)[-1] == "ResourceNotFoundException", body
    msg = body.get("message") or body.get("Message")
    assert isinstance(msg, str) and msg, body


def test_body_over_16mb_is_413(server):
    # Error handling: requests over the size limit are refused with HTTP 413. DynamoDB's
    # 16 MB is a data limit (BatchWriteItem/BatchGetItem); the HTTP body may carry some JSON
    # envelope beyond it, so the test sends 17 MiB, clearly over.
    size = 17 * 1024 * 1024
    body = b'{"TableName":"x","Item":{"pk":{"S":"' + b"a" * (size - 40) + b'"}}}'
    creds = botocore.credentials.Credentials(server.dev_key, server.dev_secret)
    url = "http://%s:%d/" % (HOST, server.port)
    req = botocore.awsrequest.AWSRequest(method="POST", url=url, data=body, headers={
        "X-Amz-Target": TARGET_PREFIX + "PutItem", "Content-Type": AMZ_JSON})
    botocore.auth.SigV4Auth(creds, "dynamodb", "us-east-1").add_auth(req)
    hdrs = dict(req.headers.items())
    hdrs["Content-Length"] = str(len(body))
    raw = dc.RawConn(HOST, server.port, timeout=30)
    try:
        head = "POST / HTTP/1.1\r\nHost: %s:%d\r\n" % (HOST, server.port)
        head += "".join("%s: %s\r\n" % (k, v) for k, v in hdrs.items()) + "\r\n"
        raw.send(head.encode("latin-1"))
        try:
            for i in range(0, len(body), 1 << 20):
                raw.send(body[i:i + (1 << 20)])
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before reading it all
        resp = raw.read_response(timeout=30)
    finally:
        raw.close()
    assert resp is not None, "server closed the connection without an answer"
    assert resp[0] == 413, (resp[0], resp[2][:400])
    # and the server still works
    assert raw_ddb(server, "ListTables", {}).status == 200

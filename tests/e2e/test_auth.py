"""Authentication: SigV4 (botocore's signer and curl's), Basic, Bearer."""

import datetime
import hashlib
import json
import subprocess
import uuid

import dstore_client as dc
from conftest import create_tenant, unique


def test_sigv4_tables_and_entries(server):
    c = server.dev()  # botocore SigV4
    t = unique("sig")
    dc.assert_status(c.put(dc.table_path("dev", t), {"idType": "String"}), 201, c)
    dc.assert_status(c.get(dc.table_path("dev", t)), 200, c)
    for eid in ("plain", "with space/and slash", "\u00fcnic\u00f8de", "q?&=+"):
        p = dc.entry_path("dev", t, eid)
        dc.assert_status(c.put(p, {"v": eid}), 201, c)
        r = c.get(p)
        dc.assert_status(r, 200, c)
        assert r.json() == {"v": eid}
        dc.assert_status(c.post(p, {"w": 1}), 200, c)
    # query strings are part of the signature
    r = c.get(dc.ids_path("dev", t, dc.qs(limit=2, after="plain", prefix="w")))
    dc.assert_status(r, 200, c)
    assert [i["id"] for i in r.json()["items"]] == ["with space/and slash"], r
    r = c.get(dc.ids_path("dev", t, "count"))
    dc.assert_status(r, 200, c)
    assert r.json() == {"count": 4}
    r = c.get(dc.tables_path("dev") + "?" + dc.qs(limit=1000))
    dc.assert_status(r, 200, c)
    dc.assert_status(c.delete(dc.entry_path("dev", t, "plain")), 204, c)
    dc.assert_status(c.delete(dc.table_path("dev", t)), 204, c)


def test_sigv4_any_region_and_service(server):
    for region, service in (("eu-central-1", "dynamodb"), ("local", "s3"), ("us-west-2", "execute-api")):
        c = server.client(dc.SigV4(server.dev_key, server.dev_secret, region=region, service=service))
        dc.assert_status(c.get(dc.tables_path("dev")), 200, c)


def test_sigv4_tampered_body_401(server):
    c = server.dev()
    t = unique("tamper")
    dc.assert_status(c.put(dc.table_path("dev", t)), 201, c)
    auth = dc.SigV4(server.dev_key, server.dev_secret)
    auth.sign_body = b'{"amount":100}'
    path = dc.entry_path("dev", t, "x")
    r = c.put(path, b'{"amount":999}', auth=auth)  # same length, other bytes
    dc.assert_error(r, 401, "Unauthorized", c)
    dc.assert_error(c.get(path), 404, "EntryNotFound", c)
    # tampered patch
    dc.assert_status(c.put(path, b'{"amount":100}'), 201, c)
    auth.sign_body = b'{"amount":101}'
    dc.assert_error(c.post(path, b'{"amount":555}', auth=auth), 401, "Unauthorized", c)
    assert c.get(path).json() == {"amount": 100}


def test_sigv4_content_sha256_header_must_match_body(server):
    c = server.dev()
    t = unique("sha")
    dc.assert_status(c.put(dc.table_path("dev", t)), 201, c)
    path = dc.entry_path("dev", t, "x")
    signed = b'{"amount":100}'
    # the signature covers an X-Amz-Content-SHA256 of one body; another is sent
    hdr = {"X-Amz-Content-SHA256": hashlib.sha256(signed).hexdigest()}
    r = c.put(path, b'{"amount":999}', headers=hdr)
    dc.assert_error(r, 401, "Unauthorized", c)
    dc.assert_error(c.get(path), 404, "EntryNotFound", c)
    # with the matching body the same scheme works
    dc.assert_status(c.put(path, signed, headers=hdr), 201, c)


def test_sigv4_unsigned_payload_cannot_carry_a_body(server):
    # UNSIGNED-PAYLOAD leaves the body outside the signature, so a tampered
    # body would go unnoticed: a write signed that way must not be accepted.
    c = server.dev()
    t = unique("unsigned")
    dc.assert_status(c.put(dc.table_path("dev", t)), 201, c)
    path = dc.entry_path("dev", t, "x")
    r = c.put(path, b'{"amount":999}', headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    dc.assert_error(r, 401, "Unauthorized", c)
    dc.assert_error(c.get(path), 404, "EntryNotFound", c)


def test_sigv4_tampered_path_and_query_401(server):
    c = server.dev()
    t = unique("tamper")
    dc.assert_status(c.put(dc.table_path("dev", t)), 201, c)
    auth = dc.SigV4(server.dev_key, server.dev_secret)
    # sign one request, send its headers with another path
    hdrs = {"Host": "%s:%d" % server.addr}
    auth.apply("GET", "http://%s:%d%s" % (server.addr + (dc.ids_path("dev", t, "limit=1"),)), hdrs, None)
    r = c.get(dc.ids_path("dev", t, "limit=2"), auth=dc.NoAuth(), headers=hdrs)
    dc.assert_error(r, 401, "Unauthorized", c)
    r = c.get(dc.table_path("dev", t), auth=dc.NoAuth(), headers=hdrs)
    dc.assert_error(r, 401, "Unauthorized", c)


def test_sigv4_wrong_secret_and_unknown_key_401(server):
    for auth in (dc.SigV4(server.dev_key, server.dev_secret + "x"),
                 dc.SigV4("AKIDUNKNOWN" + uuid.uuid4().hex[:8].upper(), server.dev_secret)):
        c = server.client(auth)
        dc.assert_error(c.get(dc.tables_path("dev")), 401, "Unauthorized", c)
        dc.assert_error(c.put(dc.table_path("dev", unique("no"))), 401, "Unauthorized", c)


def test_sigv4_stale_or_future_date_401(server):
    for minutes in (-20, 20):
        auth = dc.SigV4(server.dev_key, server.dev_secret, skew=datetime.timedelta(minutes=minutes))
        c = server.client(auth)
        r = c.get(dc.tables_path("dev"))
        dc.assert_error(r, 401, "Unauthorized", c)
    # a few minutes off is accepted (the window is 15 minutes)
    for minutes in (-3, 3):
        auth = dc.SigV4(server.dev_key, server.dev_secret, skew=datetime.timedelta(minutes=minutes))
        c = server.client(auth)
        dc.assert_status(c.get(dc.tables_path("dev")), 200, c)


def test_missing_or_garbage_authorization_401(server):
    c = server.client()
    p = dc.tables_path("dev")
    dc.assert_error(c.get(p), 401, "Unauthorized", c)
    for h in ("AWS4-HMAC-SHA256 garbage", "AWS4-HMAC-SHA256 Credential=x, SignedHeaders=host, Signature=00",
              "Basic !!!notbase64", "Basic " + "Zm9v", "Digest x", "Bearer", ""):
        r = c.get(p, headers={"Authorization": h})
        dc.assert_error(r, 401, "Unauthorized", c)


def test_basic_auth(server):
    c = server.dev_basic()
    t = unique("basic")
    dc.assert_status(c.put(dc.table_path("dev", t)), 201, c)
    dc.assert_status(c.put(dc.entry_path("dev", t, "k"), {"b": 1}), 201, c)
    assert c.get(dc.entry_path("dev", t, "k")).json() == {"b": 1}
    bad = server.client(dc.Basic(server.dev_key, server.dev_secret + "x"))
    dc.assert_error(bad.get(dc.entry_path("dev", t, "k")), 401, "Unauthorized", bad)
    bad = server.client(dc.Basic("nobody", server.dev_secret))
    dc.assert_error(bad.get(dc.entry_path("dev", t, "k")), 401, "Unauthorized", bad)


def test_admin_bearer_reaches_tenant_data(server, admin):
    t = create_tenant(server)
    c = t.sigv4()
    dc.assert_status(c.put(dc.table_path(t.name, "tbl")), 201, c)
    dc.assert_status(c.put(dc.entry_path(t.name, "tbl", "k"), {"x": 1}), 201, c)
    r = admin.get(dc.entry_path(t.name, "tbl", "k"))
    dc.assert_status(r, 200, admin)
    assert r.json() == {"x": 1}
    dc.assert_status(admin.put(dc.entry_path(t.name, "tbl", "k2"), {"by": "admin"}), 201, admin)
    assert c.get(dc.entry_path(t.name, "tbl", "k2")).json() == {"by": "admin"}
    bad = server.client(dc.Bearer(server.admin_token + "x"))
    dc.assert_error(bad.get(dc.entry_path(t.name, "tbl", "k")), 401, "Unauthorized", bad)


def curl(server, *args, key=None, secret=None):
    key = key or server.dev_key
    secret = secret or server.dev_secret
    cmd = ["curl", "-s", "-S", "--max-time", "20", "-o", "-", "-w", "\n%{http_code}",
           "--aws-sigv4", "aws:amz:us-east-1:dstore", "-u", "%s:%s" % (key, secret)] + list(args)
    p = subprocess.run(cmd, capture_output=True, timeout=30)
    assert p.returncode == 0, (cmd, p.stderr)
    out = p.stdout.decode()
    body, _, code = out.rpartition("\n")
    return int(code), body


def test_curl_aws_sigv4(server):
    base = "http://%s:%d" % server.addr
    code, body = curl(server, base + "/v1/tenant/dev/table")
    assert code == 200, (code, body)
    assert isinstance(json.loads(body)["tables"], list)

    t = unique("curl")
    code, body = curl(server, "-X", "PUT", base + "/v1/tenant/dev/table/" + t)
    assert code == 201, (code, body)
    doc = '{"via":"curl","n":1.50}'
    code, body = curl(server, "-X", "PUT", "-H", "Content-Type: application/json", "--data-binary", doc,
                      base + "/v1/tenant/dev/table/%s/id/fromcurl" % t)
    assert code == 201, (code, body)
    assert json.loads(body) == {"id": "fromcurl"}
    code, body = curl(server, base + "/v1/tenant/dev/table/%s/id/fromcurl" % t)
    assert code == 200 and dc.exact(body) == dc.exact(doc), (code, body)
    code, body = curl(server, base + "/v1/tenant/dev/table/%s/id?limit=10" % t)
    assert code == 200 and json.loads(body)["items"][0]["id"] == "fromcurl", (code, body)
    code, body = curl(server, "-X", "POST", "-H", "Content-Type: application/json", "--data-binary",
                      '{"n":null}', base + "/v1/tenant/dev/table/%s/id/fromcurl" % t)
    assert code == 200 and json.loads(body) == {"via": "curl"}, (code, body)
    # percent-encoded ids and a query string, signed by curl
    for seg, eid in (("a%2Fb", "a/b"), ("with%20space", "with space"), ("caf%C3%A9", "caf\u00e9")):
        code, body = curl(server, "-X", "PUT", "-H", "Content-Type: application/json", "--data-binary", '{"e":1}',
                          base + "/v1/tenant/dev/table/%s/id/%s" % (t, seg))
        assert code == 201 and json.loads(body) == {"id": eid}, (seg, code, body)
    code, body = curl(server, base + "/v1/tenant/dev/table/%s/id?prefix=a&limit=5" % t)
    assert code == 200 and [i["id"] for i in json.loads(body)["items"]] == ["a/b"], (code, body)
    # wrong secret through curl
    code, body = curl(server, base + "/v1/tenant/dev/table", secret="wrong-secret")
    assert code == 401 and json.loads(body)["code"] == "Unauthorized", (code, body)

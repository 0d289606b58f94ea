"""Tenant administration: /v1/tenant and /v1/tenant/{tenant}."""

import re

import dstore_client as dc
from conftest import create_tenant, unique

RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def test_create_returns_credentials_once(server, admin):
    name = unique("acme")
    r = admin.put(dc.tenant_path(name))
    dc.assert_status(r, 201, admin)
    body = r.json()
    assert body["tenant"] == name
    assert body["rid"] == "rid:dStore:%s:NA:tenant:%s" % (name, name)
    key, secret = body.get("accessKeyId"), body.get("secretAccessKey")
    assert isinstance(key, str) and key and isinstance(secret, str) and secret, body

    r = admin.get(dc.tenant_path(name))
    dc.assert_status(r, 200, admin)
    got = r.json()
    assert got["tenant"] == name and got["accessKeyId"] == key, got
    assert got["rid"] == body["rid"], got
    assert isinstance(got.get("created"), str) and RFC3339_UTC.match(got["created"]), got
    assert got.get("tables") == 0, got
    assert "secretAccessKey" not in got and secret not in r.text, r

    r = admin.get("/v1/tenant")
    dc.assert_status(r, 200, admin)
    assert secret not in r.text and "secretAccessKey" not in r.text
    entries = [t for t in r.json()["tenants"] if t["tenant"] == name]
    assert len(entries) == 1, r
    assert entries[0]["accessKeyId"] == key and isinstance(entries[0].get("created"), str)

    # the tenant reads itself too, still without the secret
    c = server.client(dc.SigV4(key, secret))
    r = c.get(dc.tenant_path(name))
    dc.assert_status(r, 200, c)
    assert r.json()["tenant"] == name and secret not in r.text


def test_secrets_differ_between_tenants(admin):
    a = admin.put(dc.tenant_path(unique("a"))).json()
    b = admin.put(dc.tenant_path(unique("b"))).json()
    assert a["accessKeyId"] != b["accessKeyId"]
    assert a["secretAccessKey"] != b["secretAccessKey"]


def test_recreate_409(admin):
    name = unique("dup")
    dc.assert_status(admin.put(dc.tenant_path(name)), 201, admin)
    r = admin.put(dc.tenant_path(name))
    dc.assert_error(r, 409, "TenantExists", admin)


def test_tables_count(server, admin):
    t = create_tenant(server)
    c = t.sigv4()
    for n in ("one", "two"):
        dc.assert_status(c.put(dc.table_path(t.name, n)), 201, c)
    r = admin.get(dc.tenant_path(t.name))
    assert r.json()["tables"] == 2, r


def test_list_contains_created(admin):
    names = [unique("lst") for _ in range(3)]
    for n in names:
        dc.assert_status(admin.put(dc.tenant_path(n)), 201, admin)
    r = admin.get("/v1/tenant")
    dc.assert_status(r, 200, admin)
    listed = [t["tenant"] for t in r.json()["tenants"]]
    for n in names + ["dev"]:
        assert listed.count(n) == 1, (n, listed)


def test_delete_then_404(server, admin):
    t = create_tenant(server)
    c = t.sigv4()
    dc.assert_status(c.put(dc.table_path(t.name, "tbl")), 201, c)
    dc.assert_status(c.put(dc.entry_path(t.name, "tbl", "k"), {"v": 1}), 201, c)

    r = admin.delete(dc.tenant_path(t.name))
    dc.assert_status(r, 204, admin)
    assert r.body == b""
    dc.assert_error(admin.get(dc.tenant_path(t.name)), 404, "TenantNotFound", admin)
    dc.assert_error(admin.delete(dc.tenant_path(t.name)), 404, "TenantNotFound", admin)
    listed = [x["tenant"] for x in admin.get("/v1/tenant").json()["tenants"]]
    assert t.name not in listed

    # the deleted tenant's credentials no longer open anything
    r = c.get(dc.entry_path(t.name, "tbl", "k"))
    assert r.status in (401, 403), r

    # re-created under the same name: a new, empty tenant
    t2 = create_tenant(server, t.name)
    assert t2.secret != t.secret
    c2 = t2.sigv4()
    r = c2.get(dc.tables_path(t2.name))
    dc.assert_status(r, 200, c2)
    assert r.json()["tables"] == [], r
    assert admin.get(dc.tenant_path(t2.name)).json()["tables"] == 0
    r = c.get(dc.tables_path(t2.name))  # the old secret does not open the new tenant
    assert r.status in (401, 403), r


def test_invalid_names_400(admin):
    bad = ["a" * 65, "a b", "a*b", "caf\u00e9", "a:b", "a%b", "semi;colon", "x@y"]
    for name in bad:
        r = admin.put(dc.tenant_path(name))
        dc.assert_error(r, 400, "InvalidName", admin)
    for name in ("a" * 64, "Z", "A-z_0.9"):
        r = admin.put(dc.tenant_path(name))
        dc.assert_status(r, 201, admin)
        dc.assert_status(admin.get(dc.tenant_path(name)), 200, admin)


def test_admin_auth_required(server):
    nobody = server.client()
    wrong = server.client(dc.Bearer("not-the-token"))
    for c in (nobody, wrong):
        dc.assert_error(c.get("/v1/tenant"), 401, "Unauthorized", c)
        name = unique("noauth")
        dc.assert_error(c.put(dc.tenant_path(name)), 401, "Unauthorized", c)
        dc.assert_error(c.get(dc.tenant_path("dev")), 401, "Unauthorized", c)
        dc.assert_error(c.delete(dc.tenant_path("dev")), 401, "Unauthorized", c)
    # nothing was created
    admin = server.admin()
    listed = [x["tenant"] for x in admin.get("/v1/tenant").json()["tenants"]]
    assert "dev" in listed


def test_tenant_cannot_administer(server, admin):
    t = create_tenant(server)
    other = create_tenant(server)
    for c in (t.sigv4(), t.basic(), server.dev()):
        dc.assert_error(c.get("/v1/tenant"), 403, "Forbidden", c)
        name = unique("evil")
        dc.assert_error(c.put(dc.tenant_path(name)), 403, "Forbidden", c)
        dc.assert_error(admin.get(dc.tenant_path(name)), 404, "TenantNotFound", admin)
        dc.assert_error(c.delete(dc.tenant_path(other.name)), 403, "Forbidden", c)
        dc.assert_error(c.get(dc.tenant_path(other.name)), 403, "Forbidden", c)
    dc.assert_status(admin.get(dc.tenant_path(other.name)), 200, admin)


def test_admin_on_missing_tenant_404(admin):
    ghost = unique("ghost")
    dc.assert_error(admin.get(dc.tenant_path(ghost)), 404, "TenantNotFound", admin)
    dc.assert_error(admin.delete(dc.tenant_path(ghost)), 404, "TenantNotFound", admin)
    dc.assert_error(admin.get(dc.tables_path(ghost)), 404, "TenantNotFound", admin)
    dc.assert_error(admin.put(dc.table_path(ghost, "tbl")), 404, "TenantNotFound", admin)
    dc.assert_error(admin.get(dc.entry_path(ghost, "tbl", "x")), 404, "TenantNotFound", admin)

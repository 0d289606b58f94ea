"""Tenant isolation: one tenant's credentials never reach another's data, and
cannot tell an existing tenant from a missing one."""

import pytest

import dstore_client as dc
from conftest import create_tenant, unique


@pytest.fixture(scope="module")
def pair(server):
    a = create_tenant(server, unique("ta"))
    b = create_tenant(server, unique("tb"))
    ca = a.sigv4()
    dc.assert_status(ca.put(dc.table_path(a.name, "secret-table")), 201, ca)
    dc.assert_status(ca.put(dc.entry_path(a.name, "secret-table", "e1"), {"owner": "A"}), 201, ca)
    return a, b


def attempts(tenant, table="secret-table", entry="e1"):
    """Every operation under /v1/tenant/{tenant}/... : (method, path, body)."""
    return [
        ("GET", dc.tenant_path(tenant), None),
        ("GET", dc.tables_path(tenant), None),
        ("GET", dc.table_path(tenant, table), None),
        ("PUT", dc.table_path(tenant, "new-table"), None),
        ("DELETE", dc.table_path(tenant, table), None),
        ("GET", dc.entry_path(tenant, table, entry), None),
        ("PUT", dc.entry_path(tenant, table, "e2"), {"by": "B"}),
        ("PUT", dc.entry_path(tenant, table, entry), {"by": "B"}),
        ("POST", dc.entry_path(tenant, table, entry), {"owner": "B"}),
        ("DELETE", dc.entry_path(tenant, table, entry), None),
        ("GET", dc.ids_path(tenant, table), None),
        ("GET", dc.ids_path(tenant, table, "count"), None),
        ("GET", dc.ids_path(tenant, table, "prefix=e"), None),
        ("GET", dc.entry_path(tenant, "no-such-table", entry), None),
    ]


def normalized(resp, name):
    body = resp.json()
    return resp.status, body.get("code"), body.get("message", "").replace(name, "<T>")


def test_other_tenant_forbidden(server, pair):
    a, b = pair
    for cb in (b.sigv4(), b.basic()):
        for method, path, body in attempts(a.name):
            r = cb.request(method, path, body)
            dc.assert_error(r, 403, "Forbidden", cb)
    # A's data is untouched
    ca = a.sigv4()
    assert ca.get(dc.entry_path(a.name, "secret-table", "e1")).json() == {"owner": "A"}
    dc.assert_error(ca.get(dc.entry_path(a.name, "secret-table", "e2")), 404, "EntryNotFound", ca)
    assert ca.get(dc.tables_path(a.name)).json()["tables"] == ["secret-table"]


def test_existence_not_revealed(server, pair):
    a, b = pair
    ghost = unique("ghost")
    cb = b.sigv4()
    for (m1, p1, b1), (m2, p2, b2) in zip(attempts(a.name), attempts(ghost)):
        r1 = cb.request(m1, p1, b1)
        r2 = cb.request(m2, p2, b2)
        assert normalized(r1, a.name) == normalized(r2, ghost), (m1, p1, r1, p2, r2)
        assert r1.status == 403, (m1, p1, r1)
    # a missing table in an existing tenant looks the same as an existing one
    r1 = cb.get(dc.table_path(a.name, "secret-table"))
    r2 = cb.get(dc.table_path(a.name, "no-such-table"))
    assert normalized(r1, "secret-table") == normalized(r2, "no-such-table"), (r1, r2)


def test_lists_are_separate_and_same_names_hold_separate_data(server, pair):
    a, b = pair
    ca, cb = a.sigv4(), b.sigv4()
    dc.assert_status(cb.put(dc.table_path(b.name, "b-only")), 201, cb)
    dc.assert_status(ca.put(dc.table_path(a.name, "shared")), 201, ca)
    dc.assert_status(cb.put(dc.table_path(b.name, "shared")), 201, cb)
    dc.assert_status(ca.put(dc.entry_path(a.name, "shared", "same"), {"from": "A"}), 201, ca)
    dc.assert_status(cb.put(dc.entry_path(b.name, "shared", "same"), {"from": "B"}), 201, cb)
    assert ca.get(dc.entry_path(a.name, "shared", "same")).json() == {"from": "A"}
    assert cb.get(dc.entry_path(b.name, "shared", "same")).json() == {"from": "B"}
    dc.assert_status(cb.put(dc.entry_path(b.name, "shared", "b-extra"), {"from": "B"}), 201, cb)

    la = ca.get(dc.tables_path(a.name)).json()["tables"]
    lb = cb.get(dc.tables_path(b.name)).json()["tables"]
    assert "b-only" not in la and "secret-table" not in lb, (la, lb)
    assert "shared" in la and "shared" in lb
    ia = ca.get(dc.ids_path(a.name, "shared")).json()["items"]
    assert ia == [{"id": "same", "value": {"from": "A"}}], ia
    assert ca.get(dc.ids_path(a.name, "shared", "count")).json() == {"count": 1}
    assert cb.get(dc.ids_path(b.name, "shared", "count")).json() == {"count": 2}

    # deleting B's table leaves A's same-named table alone
    dc.assert_status(cb.delete(dc.table_path(b.name, "shared")), 204, cb)
    assert ca.get(dc.entry_path(a.name, "shared", "same")).json() == {"from": "A"}


def test_dev_tenant_is_isolated_too(server, pair):
    a, _ = pair
    dev = server.dev()
    dc.assert_error(dev.get(dc.entry_path(a.name, "secret-table", "e1")), 403, "Forbidden", dev)
    ca = a.sigv4()
    dc.assert_error(ca.get(dc.tables_path("dev")), 403, "Forbidden", ca)

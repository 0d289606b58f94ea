"""Tables: /v1/tenant/{tenant}/table[/{table}]."""

import random
import re
import time

import dstore_client as dc
from conftest import create_tenant, unique


def wait_for(fn, timeout=10.0, interval=0.2):
    """Call fn() until it returns a truthy value or timeout; return the last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def check_description(body, tenant, table, id_type):
    assert body.get("tenant") == tenant, body
    assert body.get("table") == table, body
    assert body.get("rid") == "rid:dStore:%s:NA:table:%s" % (tenant, table), body
    assert body.get("idType") == id_type, body
    for k in ("itemCount", "sizeBytes"):
        assert isinstance(body.get(k), int) and not isinstance(body.get(k), bool), (k, body)
        assert body[k] >= 0, body
    assert isinstance(body.get("created"), str), body
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$", body["created"]), body


def test_create_each_id_type(dev):
    for id_type in ("String", "Integer", "Bytes"):
        name = unique("typ")
        r = dev.put(dc.table_path("dev", name), {"idType": id_type})
        dc.assert_status(r, 201, dev)
        check_description(r.json(), "dev", name, id_type)
        r = dev.get(dc.table_path("dev", name))
        dc.assert_status(r, 200, dev)
        check_description(r.json(), "dev", name, id_type)
        assert r.json()["itemCount"] == 0


def test_default_id_type_is_string(dev):
    for body in (None, {}):
        name = unique("def")
        r = dev.put(dc.table_path("dev", name), body)
        dc.assert_status(r, 201, dev)
        assert r.json()["idType"] == "String", r
        assert dev.get(dc.table_path("dev", name)).json()["idType"] == "String"


def test_bad_id_type_400(dev):
    for body in ({"idType": "Number"}, {"idType": "string"}, {"idType": ""}, {"idType": 5},
                 [1], "String"):
        name = unique("bad")
        r = dev.put(dc.table_path("dev", name), body)
        dc.assert_error(r, 400, dc.CODES_400, dev)
        dc.assert_error(dev.get(dc.table_path("dev", name)), 404, "TableNotFound", dev)
    r = dev.put(dc.table_path("dev", unique("bad")), b'{"idType": ')
    dc.assert_error(r, 400, "InvalidJson", dev)


def test_create_existing_409(dev, table_factory):
    name = table_factory("Integer")
    r = dev.put(dc.table_path("dev", name), {"idType": "Bytes"})
    dc.assert_error(r, 409, "TableExists", dev)
    assert dev.get(dc.table_path("dev", name)).json()["idType"] == "Integer"


def test_item_count_and_size_grow(dev, table_factory):
    name = table_factory()
    before = dev.get(dc.table_path("dev", name)).json()
    assert before["itemCount"] == 0, before
    for i in range(5):
        dc.assert_status(dev.put(dc.entry_path("dev", name, "e%d" % i), {"i": i, "pad": "x" * 500}), 201, dev)

    def settled():
        d = dev.get(dc.table_path("dev", name)).json()
        return d if d["itemCount"] == 5 else None
    d = wait_for(settled, timeout=10)
    last = dev.get(dc.table_path("dev", name)).json()
    assert d, "itemCount never reached 5: %r" % last
    assert d["sizeBytes"] > 0, d


def test_list_order_and_pagination(server):
    t = create_tenant(server)
    c = t.sigv4()
    names = ["zeta", "Alpha", "beta", "b.c", "B-9", "a_b", "0ne", "beta2", "m" * 255]
    shuffled = names[:]
    random.shuffle(shuffled)
    for n in shuffled:
        dc.assert_status(c.put(dc.table_path(t.name, n)), 201, c)
    expect = sorted(names, key=lambda s: s.encode())

    r = c.get(dc.tables_path(t.name))
    dc.assert_status(r, 200, c)
    assert r.json()["tables"] == expect, r
    assert "next" not in r.json(), r

    got, after, pages = [], None, 0
    while True:
        q = dc.qs(limit=4, after=after)
        r = c.get(dc.tables_path(t.name) + "?" + q)
        dc.assert_status(r, 200, c)
        body = r.json()
        assert len(body["tables"]) <= 4, body
        got += body["tables"]
        pages += 1
        if "next" not in body:
            break
        after = body["next"]
        assert pages < 10
    assert got == expect
    assert pages == 3  # 4 + 4 + 1

    r = c.get(dc.tables_path(t.name) + "?" + dc.qs(limit=len(names)))
    assert r.json()["tables"] == expect and "next" not in r.json(), r


def test_delete_then_404_and_entries_gone(dev, table_factory):
    name = table_factory()
    for i in range(3):
        dc.assert_status(dev.put(dc.entry_path("dev", name, "k%d" % i), {"i": i}), 201, dev)
    r = dev.delete(dc.table_path("dev", name))
    dc.assert_status(r, 204, dev)
    assert r.body == b""
    dc.assert_error(dev.get(dc.table_path("dev", name)), 404, "TableNotFound", dev)
    dc.assert_error(dev.delete(dc.table_path("dev", name)), 404, "TableNotFound", dev)
    dc.assert_error(dev.get(dc.entry_path("dev", name, "k0")), 404, "TableNotFound", dev)
    dc.assert_error(dev.put(dc.entry_path("dev", name, "k9"), {"a": 1}), 404, "TableNotFound", dev)
    dc.assert_error(dev.get(dc.ids_path("dev", name)), 404, "TableNotFound", dev)
    assert name not in dev.get(dc.tables_path("dev") + "?limit=1000&after=" + dc.quote_seg(name[:-1])).json()["tables"]

    # same name again: empty
    dc.assert_status(dev.put(dc.table_path("dev", name)), 201, dev)
    dc.assert_error(dev.get(dc.entry_path("dev", name, "k0")), 404, "EntryNotFound", dev)
    r = dev.get(dc.ids_path("dev", name))
    dc.assert_status(r, 200, dev)
    assert r.json()["items"] == [], r
    assert dev.get(dc.ids_path("dev", name, "count")).json() == {"count": 0}
    assert dev.get(dc.table_path("dev", name)).json()["itemCount"] == 0
    dc.assert_status(dev.put(dc.entry_path("dev", name, "k0"), {"new": True}), 201, dev)


def test_invalid_table_names_400(dev):
    for name in ("ab", "x", "a" * 256, "a b", "a*b", "t\u00e4ble", "a:b", "a%b", "a,b"):
        r = dev.put(dc.table_path("dev", name))
        dc.assert_error(r, 400, "InvalidName", dev)
    for name in ("abc", "a" * 255, "A-z_0.9"):
        dc.assert_status(dev.put(dc.table_path("dev", name)), 201, dev)
        dc.assert_status(dev.get(dc.table_path("dev", name)), 200, dev)


def test_missing_table_404(dev):
    name = unique("missing")
    dc.assert_error(dev.get(dc.table_path("dev", name)), 404, "TableNotFound", dev)
    dc.assert_error(dev.get(dc.entry_path("dev", name, "x")), 404, "TableNotFound", dev)


def test_two_thousand_tables(server):
    t = create_tenant(server)
    c = t.basic()  # one keep-alive connection
    names = ["tb%05d" % i for i in range(2000)]
    order = names[:]
    random.shuffle(order)
    t0 = time.monotonic()
    for n in order:
        r = c.put(dc.table_path(t.name, n))
        dc.assert_status(r, 201, c)
    created = time.monotonic() - t0
    assert created < 60, "creating 2000 tables took %.1f s" % created

    for limit in (1000, 333):
        got, after = [], None
        while True:
            r = c.get(dc.tables_path(t.name) + "?" + dc.qs(limit=limit, after=after))
            dc.assert_status(r, 200, c)
            body = r.json()
            assert len(body["tables"]) <= limit
            got += body["tables"]
            if "next" not in body:
                break
            after = body["next"]
            assert len(got) <= 2000
        assert got == names, (len(got), got[:3], got[-3:])

    # default page: follow next without a limit
    got, after = [], None
    for _ in range(2001):
        r = c.get(dc.tables_path(t.name) + ("?" + dc.qs(after=after) if after else ""))
        body = r.json()
        got += body["tables"]
        if "next" not in body:
            break
        after = body["next"]
    assert got == names
    assert server.admin().get(dc.tenant_path(t.name)).json()["tables"] == 2000

    t0 = time.monotonic()
    for n in order:
        dc.assert_status(c.delete(dc.table_path(t.name, n)), 204, c)
    deleted = time.monotonic() - t0
    assert deleted < 60, "deleting 2000 tables took %.1f s" % deleted
    r = c.get(dc.tables_path(t.name))
    assert r.json()["tables"] == [], r

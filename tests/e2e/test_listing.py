"""Listing and counting: GET .../table/{table}/id?prefix=&limit=&after= and ?count."""

import random
import uuid

import pytest

import dstore_client as dc
from dstore_client import exact


def make_table(c, id_type):
    name = "lst-%s-%s" % (id_type.lower(), uuid.uuid4().hex[:8])
    dc.assert_status(c.put(dc.table_path("dev", name), {"idType": id_type}), 201, c)
    return name


def list_all(c, table, limit=None, prefix=None, max_pages=100):
    """Follow `next` to the end; returns (items, pages)."""
    items, after, pages = [], None, []
    while True:
        q = dc.qs(prefix=prefix, limit=limit, after=after)
        r = c.get(dc.ids_path("dev", table, q))
        dc.assert_status(r, 200, c)
        body = r.json()
        pages.append(body)
        items += body["items"]
        if "next" not in body:
            break
        nxt = body["next"]
        after = nxt if isinstance(nxt, str) else str(nxt)
        assert len(pages) < max_pages, "pagination does not end"
    return items, pages


STRING_SPECIAL = ["a", "a0", "ab", "B", "Z", "\u00e9t\u00e9", "\U0001F600", "~tilde", " space",
                  "p1", "p1/", "p10/x"]


@pytest.fixture(scope="module")
def string_table(server):
    c = server.dev_basic()
    t = make_table(c, "String")
    ids = ["p1/%03d" % i for i in range(120)] + ["p2/%03d" % i for i in range(118)] + STRING_SPECIAL
    assert len(ids) == 250
    order = ids[:]
    random.shuffle(order)
    for i in order:
        dc.assert_status(c.put(dc.entry_path("dev", t, i), {"id": i, "n": len(i)}), 201, c)
    return t, ids


def test_string_pages_cover_all_in_order(dev, string_table):
    t, ids = string_table
    items, pages = list_all(dev, t, limit=100)
    assert [len(p["items"]) for p in pages] == [100, 100, 50], [len(p["items"]) for p in pages]
    got = [it["id"] for it in items]
    assert got == sorted(ids, key=lambda s: s.encode("utf-8")), got
    for it in items:
        assert it["value"] == {"id": it["id"], "n": len(it["id"])}, it
    assert "next" in pages[0] and "next" in pages[1] and "next" not in pages[2]


def test_default_limit_is_100(dev, string_table):
    t, ids = string_table
    r = dev.get(dc.ids_path("dev", t))
    dc.assert_status(r, 200, dev)
    assert len(r.json()["items"]) == 100 and "next" in r.json(), len(r.json()["items"])
    items, pages = list_all(dev, t)
    assert len(items) == 250 and len(pages) == 3


def test_limit_1000_and_over(dev, string_table):
    t, ids = string_table
    r = dev.get(dc.ids_path("dev", t, "limit=1000"))
    dc.assert_status(r, 200, dev)
    assert len(r.json()["items"]) == 250 and "next" not in r.json()
    for bad in ("1001", "5000", "abc", "-1"):
        r = dev.get(dc.ids_path("dev", t, "limit=" + bad))
        dc.assert_error(r, 400, dc.CODES_400, dev)


def test_after_is_exclusive_and_need_not_exist(dev, string_table):
    t, ids = string_table
    want = sorted(ids, key=lambda s: s.encode())
    r = dev.get(dc.ids_path("dev", t, dc.qs(limit=5, after="p1/004")))
    assert [it["id"] for it in r.json()["items"]] == ["p1/%03d" % i for i in range(5, 10)], r
    # an `after` that is not an id starts at the next one
    r = dev.get(dc.ids_path("dev", t, dc.qs(limit=3, after="p1/004x")))
    assert [it["id"] for it in r.json()["items"]] == ["p1/005", "p1/006", "p1/007"], r
    r = dev.get(dc.ids_path("dev", t, dc.qs(after=want[-1])))
    assert r.json()["items"] == [] and "next" not in r.json(), r


def test_prefix(dev, string_table):
    t, ids = string_table
    items, pages = list_all(dev, t, limit=50, prefix="p1/")
    got = [it["id"] for it in items]
    assert got == ["p1/"] + ["p1/%03d" % i for i in range(120)], got
    assert len(pages) == 3
    items, _ = list_all(dev, t, prefix="p1")
    assert [it["id"] for it in items] == sorted([i for i in ids if i.startswith("p1")], key=str.encode)
    items, _ = list_all(dev, t, prefix="\u00e9")
    assert [it["id"] for it in items] == ["\u00e9t\u00e9"]
    r = dev.get(dc.ids_path("dev", t, dc.qs(prefix="nothing-here")))
    dc.assert_status(r, 200, dev)
    assert r.json()["items"] == [] and "next" not in r.json(), r
    # prefix with after
    r = dev.get(dc.ids_path("dev", t, dc.qs(prefix="p2/", after="p2/115")))
    assert [it["id"] for it in r.json()["items"]] == ["p2/116", "p2/117"], r


def test_count(dev, string_table):
    t, ids = string_table
    r = dev.get(dc.ids_path("dev", t, "count"))
    dc.assert_status(r, 200, dev)
    assert r.json() == {"count": 250}, r
    for prefix, n in (("p1/", 121), ("p2/", 118), ("p1", 123), ("a", 3), ("zzz", 0), ("\U0001F600", 1),
                      ("p10", 1)):
        assert n == len([i for i in ids if i.startswith(prefix)])
        r = dev.get(dc.ids_path("dev", t, "count&" + dc.qs(prefix=prefix)))
        dc.assert_status(r, 200, dev)
        assert r.json() == {"count": n}, (prefix, r)


INT_IDS = [-9223372036854775808, -1000, -10, -2, -1, 0, 1, 3, 20, 100, 255, 256, 9223372036854775807]


def test_integer_order(server):
    c = server.dev_basic()
    t = make_table(c, "Integer")
    rnd = random.Random(7)
    ids = set(INT_IDS)
    while len(ids) < 250:
        ids.add(rnd.randint(-10**12, 10**12))
    ids = list(ids)
    rnd.shuffle(ids)
    for i in ids:
        dc.assert_status(c.put(dc.entry_path("dev", t, i), {"v": i}), 201, c)
    items, pages = list_all(c, t, limit=100)
    assert len(pages) == 3
    got = [it["id"] for it in items]
    assert all(isinstance(x, int) for x in got), got[:5]
    assert got == sorted(ids), got
    for it in items:
        assert it["value"] == {"v": it["id"]}
    # ids are JSON numbers written exactly (no float rounding of 19-digit ids)
    r = c.get(dc.ids_path("dev", t, "limit=1"))
    first = exact(r.body)
    items_pair = dict((k, v) for k, v in first[1])["items"]
    id_pair = dict((k, v) for k, v in items_pair[0][1])["id"]
    assert id_pair == ("num", "-9223372036854775808"), r.text
    # small explicit check: -10 < -2 < 3 < 20
    small = [x for x in got if x in (-10, -2, 3, 20)]
    assert small == [-10, -2, 3, 20]
    r = c.get(dc.ids_path("dev", t, "count"))
    assert r.json() == {"count": 250}, r
    # prefix is not for Integer tables
    r = c.get(dc.ids_path("dev", t, dc.qs(prefix="1")))
    dc.assert_error(r, 400, dc.CODES_400, c)
    r = c.get(dc.ids_path("dev", t, "count&" + dc.qs(prefix="1")))
    dc.assert_error(r, 400, dc.CODES_400, c)
    # after=-2 continues with 0? no: with the next id above -2
    above = sorted(x for x in ids if x > -2)[:3]
    r = c.get(dc.ids_path("dev", t, dc.qs(after="-2", limit=3)))
    assert [it["id"] for it in r.json()["items"]] == above, r


def test_bytes_order_and_prefix(server):
    c = server.dev_basic()
    t = make_table(c, "Bytes")
    rnd = random.Random(11)
    ids = {b"\x00", b"\x00\x00", b"\x7f", b"\x80", b"\xff", b"\xff\xff", b"abc", b"abcd", b"abc\x00", b"abd"}
    while len(ids) < 250:
        ids.add(bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 12))))
    for i in ids:
        dc.assert_status(c.put(dc.entry_path("dev", t, i), {"hex": i.hex()}), 201, c)
    items, pages = list_all(c, t, limit=100)
    assert len(pages) == 3
    got = [dc.b64url_decode(it["id"]) for it in items]
    assert got == sorted(ids), [g.hex() for g in got[:10]]
    for it in items:
        assert it["id"] == dc.b64url(dc.b64url_decode(it["id"])), it  # canonical, unpadded
        assert it["value"] == {"hex": dc.b64url_decode(it["id"]).hex()}
    # prefix in base64url: b"abc" -> "YWJj"
    want = sorted(i for i in ids if i.startswith(b"abc"))
    items, _ = list_all(c, t, prefix=dc.b64url(b"abc"))
    assert [dc.b64url_decode(it["id"]) for it in items] == want
    r = c.get(dc.ids_path("dev", t, "count&" + dc.qs(prefix=dc.b64url(b"abc"))))
    assert r.json() == {"count": len(want)}, r
    r = c.get(dc.ids_path("dev", t, "count"))
    assert r.json() == {"count": 250}, r


def test_listing_after_deletes(server):
    c = server.dev_basic()
    t = make_table(c, "String")
    ids = ["k%03d" % i for i in range(30)]
    for i in ids:
        dc.assert_status(c.put(dc.entry_path("dev", t, i), {"i": i}), 201, c)
    for i in ids[::3]:
        dc.assert_status(c.delete(dc.entry_path("dev", t, i)), 204, c)
    left = [i for i in ids if i not in ids[::3]]
    items, _ = list_all(c, t, limit=7)
    assert [it["id"] for it in items] == left
    assert c.get(dc.ids_path("dev", t, "count")).json() == {"count": len(left)}
    # a patched value shows in the listing
    dc.assert_status(c.post(dc.entry_path("dev", t, left[0]), {"patched": True}), 200, c)
    items, _ = list_all(c, t, limit=1000)
    assert items[0] == {"id": left[0], "value": {"i": left[0], "patched": True}}, items[0]


def test_next_only_when_more_remain(dev, string_table):
    t, ids = string_table
    items, pages = list_all(dev, t, limit=125)
    assert [len(p["items"]) for p in pages] == [125, 125], [len(p["items"]) for p in pages]
    assert "next" not in pages[-1], pages[-1].get("next")
    r = dev.get(dc.ids_path("dev", t, "limit=250"))
    assert len(r.json()["items"]) == 250 and "next" not in r.json(), "a full last page still has next"
    r = dev.get(dc.ids_path("dev", t, "limit=249"))
    assert len(r.json()["items"]) == 249 and "next" in r.json()


def test_listed_values_are_exact(server):
    c = server.dev_basic()
    t = make_table(c, "String")
    raw = '{"z":1.50,"a":[12345678901234567890123456789012345678,-0.0],"\u00e9":"\U0001F600","m":{"y":1,"b":2}}'
    dc.assert_status(c.put(dc.entry_path("dev", t, "only"), raw), 201, c)
    r = c.get(dc.ids_path("dev", t))
    dc.assert_status(r, 200, c)
    body = exact(r.body)
    items = dict((k, v) for k, v in body[1])["items"]
    value = dict((k, v) for k, v in items[0][1])["value"]
    assert value == exact(raw), r.text

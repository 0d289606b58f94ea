"""Entries: PUT / GET / POST (JSON Merge Patch) / DELETE on
/v1/tenant/{tenant}/table/{table}/id/{id}, bodies and IDs."""

import hashlib
import json
import uuid

import pytest

import dstore_client as dc
from dstore_client import exact, exact_unordered


@pytest.fixture(scope="module")
def tables(server):
    """One table of each ID type in the dev tenant."""
    c = server.dev()
    names = {}
    for t in ("String", "Integer", "Bytes"):
        name = "ent-%s-%s" % (t.lower(), uuid.uuid4().hex[:8])
        dc.assert_status(c.put(dc.table_path("dev", name), {"idType": t}), 201, c)
        names[t] = name
    return names


def new_id():
    return "e-" + uuid.uuid4().hex


def put_get_exact(c, table, raw, entry_id=None):
    """PUT the raw JSON text, GET it back, compare exactly (order, numbers,
    strings). Returns the GET response."""
    entry_id = entry_id or new_id()
    path = dc.entry_path("dev", table, entry_id)
    r = c.put(path, raw)
    dc.assert_status(r, 201, c)
    r = c.get(path)
    dc.assert_status(r, 200, c)
    assert exact(r.body) == exact(raw), "stored %s\n   got %s" % (raw, r.text)
    return r


def test_put_201_get_and_409(dev, tables):
    t = tables["String"]
    eid = new_id()
    path = dc.entry_path("dev", t, eid)
    r = dev.put(path, {"name": "first", "n": 1})
    dc.assert_status(r, 201, dev)
    assert r.json() == {"id": eid}, r
    r = dev.put(path, {"name": "second"})
    dc.assert_error(r, 409, "EntryExists", dev)
    r = dev.get(path)
    dc.assert_status(r, 200, dev)
    assert r.json() == {"name": "first", "n": 1}, r


def test_nested_and_member_order(dev, tables):
    raw = ('{"z":1,"a":{"y":[1,2,{"x":null,"w":[[],[{}]]}],"b":true,"c":false},'
           '"m":"x","e":[],"o":{},"B":"upper","_":null}')
    put_get_exact(dev, tables["String"], raw)


def test_whitespace_is_not_content(dev, tables):
    raw = ' \n{ "b" : [ 1 ,\t2 ] ,\r\n "a" : { } }\n '
    put_get_exact(dev, tables["String"], raw)


def test_empty_object(dev, tables):
    r = put_get_exact(dev, tables["String"], "{}")
    assert r.json() == {}


def test_numbers_keep_exact_digits(dev, tables):
    raw = ('{"a":1.50,"b":12345678901234567890123456789012345678,"d":-0.0,"e":-0,'
           '"f":0.1,"g":1E+2,"h":-1.25e-7,"i":100,"j":[3.0,2.50,0.000],'
           '"k":-12345678901234567890123456789012345678,"l":1.0000000000000000000000000000000000001,'
           '"m":9223372036854775808,"n":123456789012345678901234567890e-20,"o":1e100,"p":1E-100}')
    r = put_get_exact(dev, tables["String"], raw)
    for lit in ("1.50", "12345678901234567890123456789012345678", "-0.0", "2.50", "0.000"):
        assert lit in r.text, (lit, r.text)


def test_number_1e400_kept(dev, tables):
    # the issue asks for 1e400 to round-trip with its exact text (no float conversion)
    r = put_get_exact(dev, tables["String"], '{"huge":1e400,"tiny":-1e-400}')
    assert "1e400" in r.text and "-1e-400" in r.text, r.text


def test_unicode_raw_and_escaped(dev, tables):
    raw = ('{"raw":"\u65e5\u672c\u8a9e \u00e9","esc":"\\u00e9\\u65e5",'
           '"astral_raw":"\U0001F600\U0001D11E","astral_esc":"\\ud83d\\ude00",'
           '"ctl":"tab\\there\\nnl \\"q\\" \\\\ \\/ \\b\\f\\r","\u043a\u043b\u044e\u0447":"\u0437\u043d",'
           '"\\u00fcber":1,"\U0001F511":"key is astral"}')
    r = put_get_exact(dev, tables["String"], raw)
    body = r.json()
    assert body["astral_esc"] == "\U0001F600" and body["astral_raw"] == "\U0001F600\U0001D11E"
    assert body["\u00fcber"] == 1 and body["\U0001F511"] == "key is astral"


def test_nul_in_string(dev, tables):
    raw = '{"nul":"a\\u0000b","\\u0000":"key"}'
    r = put_get_exact(dev, tables["String"], raw)
    assert r.json()["nul"] == "a\x00b"


def test_deep_nesting(dev, tables):
    raw = '{"d":' + '{"x":[' * 20 + '1' + ']}' * 20 + '}'
    put_get_exact(dev, tables["String"], raw)


def test_merge_patch(dev, tables):
    t = tables["String"]
    path = dc.entry_path("dev", t, new_id())
    base = '{"a":"b","c":{"d":"e","f":"g"},"n":1.50,"arr":[1,2,3],"keep":"x","big":12345678901234567890123456789}'
    dc.assert_status(dev.put(path, base), 201, dev)
    patch = ('{"a":"z","c":{"f":null,"h":{"i":null,"j":7}},"arr":[9],"new":{"x":null,"y":2.0},'
             '"missing":null}')
    r = dev.post(path, patch)
    dc.assert_status(r, 200, dev)
    want = exact_unordered('{"a":"z","c":{"d":"e","h":{"j":7}},"n":1.50,"arr":[9],"keep":"x",'
                           '"big":12345678901234567890123456789,"new":{"y":2.0}}')
    assert exact_unordered(r.body) == want, r.text
    g = dev.get(path)
    dc.assert_status(g, 200, dev)
    assert exact_unordered(g.body) == want, g.text

    # replace an object by a scalar and a scalar by an object
    r = dev.post(path, '{"c":"flat","a":{"deep":{"er":1}}}')
    dc.assert_status(r, 200, dev)
    assert r.json()["c"] == "flat" and r.json()["a"] == {"deep": {"er": 1}}, r
    # an empty patch changes nothing
    before = dev.get(path).json()
    r = dev.post(path, "{}")
    dc.assert_status(r, 200, dev)
    assert r.json() == before
    assert dev.get(path).json() == before


# RFC 7396 appendix A, the cases whose target and patch are objects
RFC7396 = [
    ('{"a":"b"}', '{"a":"c"}', '{"a":"c"}'),
    ('{"a":"b"}', '{"b":"c"}', '{"a":"b","b":"c"}'),
    ('{"a":"b"}', '{"a":null}', '{}'),
    ('{"a":"b","b":"c"}', '{"a":null}', '{"b":"c"}'),
    ('{"a":["b"]}', '{"a":"c"}', '{"a":"c"}'),
    ('{"a":"c"}', '{"a":["b"]}', '{"a":["b"]}'),
    ('{"a":{"b":"c"}}', '{"a":{"b":"d","c":null}}', '{"a":{"b":"d"}}'),
    ('{"a":[{"b":"c"}]}', '{"a":[1]}', '{"a":[1]}'),
    ('{"e":null}', '{"a":1}', '{"e":null,"a":1}'),
    ('{}', '{"a":{"bb":{"ccc":null}}}', '{"a":{"bb":{}}}'),
]


@pytest.mark.parametrize("target,patch,result", RFC7396)
def test_merge_patch_rfc7396(dev, tables, target, patch, result):
    path = dc.entry_path("dev", tables["String"], new_id())
    dc.assert_status(dev.put(path, target), 201, dev)
    r = dev.post(path, patch)
    dc.assert_status(r, 200, dev)
    assert exact_unordered(r.body) == exact_unordered(result), r.text
    assert exact_unordered(dev.get(path).body) == exact_unordered(result)


def test_merge_patch_missing_404(dev, tables):
    path = dc.entry_path("dev", tables["String"], new_id())
    dc.assert_error(dev.post(path, {"a": 1}), 404, "EntryNotFound", dev)
    dc.assert_error(dev.get(path), 404, "EntryNotFound", dev)


def test_merge_patch_bad_bodies(dev, tables):
    path = dc.entry_path("dev", tables["String"], new_id())
    dc.assert_status(dev.put(path, {"a": 1}), 201, dev)
    dc.assert_error(dev.post(path, b'{"a":'), 400, "InvalidJson", dev)
    for body in ("[1]", '"s"', "null", "3"):
        dc.assert_error(dev.post(path, body), 400, dc.CODES_400, dev)
    assert dev.get(path).json() == {"a": 1}


def test_delete(dev, tables):
    path = dc.entry_path("dev", tables["String"], new_id())
    dc.assert_status(dev.put(path, {"a": 1}), 201, dev)
    r = dev.delete(path)
    dc.assert_status(r, 204, dev)
    assert r.body == b""
    dc.assert_error(dev.get(path), 404, "EntryNotFound", dev)
    dc.assert_error(dev.delete(path), 404, "EntryNotFound", dev)
    dc.assert_error(dev.post(path, {"a": 2}), 404, "EntryNotFound", dev)
    # and it can be created again
    dc.assert_status(dev.put(path, {"b": 2}), 201, dev)
    assert dev.get(path).json() == {"b": 2}


@pytest.mark.parametrize("body", [b"not json", b'{"a":', b'{"a":1}garbage', b"{'a':1}", b'{"a":01}',
                                  b'{"a":NaN}', b'{"a":1,}', b'{"a" 1}', b'{"a":"unterminated}',
                                  b'{"a":tru}', b'{"a":"\\x"}'])
def test_body_not_json_400(dev, tables, body):
    path = dc.entry_path("dev", tables["String"], new_id())
    dc.assert_error(dev.put(path, body), 400, "InvalidJson", dev)
    dc.assert_error(dev.get(path), 404, "EntryNotFound", dev)


def test_body_empty_or_bad_utf8_400(dev, tables):
    for body in (b"", b'{"a":"\xff\xfe"}', b'{"a":"\xc3"}'):
        path = dc.entry_path("dev", tables["String"], new_id())
        dc.assert_error(dev.put(path, body), 400, dc.CODES_400, dev)
        dc.assert_error(dev.get(path), 404, "EntryNotFound", dev)


@pytest.mark.parametrize("body", ["[1,2]", "[]", '"a string"', "42", "null", "true"])
def test_body_not_object_400(dev, tables, body):
    path = dc.entry_path("dev", tables["String"], new_id())
    dc.assert_error(dev.put(path, body), 400, dc.CODES_400, dev)
    dc.assert_error(dev.get(path), 404, "EntryNotFound", dev)


def big_value(n_bytes):
    """A JSON object whose text is exactly n_bytes long."""
    head, tail = '{"pad":"', '"}'
    return head + "x" * (n_bytes - len(head) - len(tail)) + tail


def test_entry_size_limit_413(dev, tables):
    t = tables["String"]
    ok = big_value(390_000)
    path = dc.entry_path("dev", t, new_id())
    dc.assert_status(dev.put(path, ok), 201, dev)
    r = dev.get(path)
    dc.assert_status(r, 200, dev)
    assert hashlib.sha256(json.dumps(r.json()).encode()).digest() == \
        hashlib.sha256(json.dumps(json.loads(ok)).encode()).digest()

    path2 = dc.entry_path("dev", t, new_id())
    r = dev.put(path2, big_value(450_000))
    dc.assert_error(r, 413, "PayloadTooLarge", dev)
    dc.assert_error(dev.get(path2), 404, "EntryNotFound", dev)


def test_merge_patch_over_limit_413(dev, tables):
    path = dc.entry_path("dev", tables["String"], new_id())
    dc.assert_status(dev.put(path, {"a": "y" * 250_000}), 201, dev)
    r = dev.post(path, {"b": "z" * 250_000})
    dc.assert_error(r, 413, "PayloadTooLarge", dev)
    body = dev.get(path).json()
    assert set(body) == {"a"} and len(body["a"]) == 250_000


STRING_IDS = ["has space", "a/b/c", "/leading", "trailing/", "unicod\u00e9\u65e5\u672c", "emoji\U0001F600",
              "percent%25literal", "q?x=1&y=2", "hash#frag", "plus+sign", "tilde~", "semi;colon",
              "quote\"'", "back\\slash", "x", "a" * 2048, "\u00e9" * 1024]


def test_string_ids(dev, tables):
    t = tables["String"]
    for eid in STRING_IDS:
        path = dc.entry_path("dev", t, eid)
        r = dev.put(path, {"for": eid})
        dc.assert_status(r, 201, dev)
        assert r.json() == {"id": eid}, r
    for eid in STRING_IDS:
        r = dev.get(dc.entry_path("dev", t, eid))
        dc.assert_status(r, 200, dev)
        assert r.json() == {"for": eid}, (eid, r)
    # a%2Fb and a/b are different URLs: the first is the id "a/b"
    dc.assert_status(dev.put(dc.entry_path("dev", t, "d1/d2"), {"slash": 1}), 201, dev)
    r = dev.get(dc.table_path("dev", t) + "/id/d1%2Fd2")
    assert r.json() == {"slash": 1}, r


def test_string_id_too_long(dev, tables):
    t = tables["String"]
    for eid in ("a" * 2049, "\u00e9" * 1024 + "a"):
        path = dc.entry_path("dev", t, eid)
        dc.assert_error(dev.put(path, {"a": 1}), 400, "InvalidId", dev)
        dc.assert_error(dev.get(path), 400, "InvalidId", dev)


def test_integer_ids(dev, tables):
    t = tables["Integer"]
    for n in (-42, 0, 7, 9223372036854775807, -9223372036854775808):
        path = dc.entry_path("dev", t, n)
        r = dev.put(path, {"n": str(n)})
        dc.assert_status(r, 201, dev)
        assert exact(r.body) == ("{}", [["id", ("num", str(n))]]), r.text
        r = dev.get(path)
        dc.assert_status(r, 200, dev)
        assert r.json() == {"n": str(n)}
    dc.assert_error(dev.put(dc.entry_path("dev", t, 7), {"again": 1}), 409, "EntryExists", dev)


@pytest.mark.parametrize("bad", ["007", "00", "+1", "1.5", "9223372036854775808", "-9223372036854775809",
                                 "abc", "1e3", " 1", "1 ", "-", "0x10", "--1", "12a"])
def test_integer_ids_invalid(dev, tables, bad):
    path = dc.table_path("dev", tables["Integer"]) + "/id/" + dc.quote_seg(bad)
    dc.assert_error(dev.put(path, {"a": 1}), 400, "InvalidId", dev)
    dc.assert_error(dev.get(path), 400, "InvalidId", dev)


def test_bytes_ids(dev, tables):
    t = tables["Bytes"]
    for raw in (b"\x00", b"\xff\xfe\xfd", b"hello world", b"\xfb\xff", b"\x00\x00", bytes(range(256)) * 8):
        path = dc.entry_path("dev", t, raw)
        r = dev.put(path, {"len": len(raw)})
        dc.assert_status(r, 201, dev)
        assert r.json() == {"id": dc.b64url(raw)}, r
        r = dev.get(path)
        dc.assert_status(r, 200, dev)
        assert r.json() == {"len": len(raw)}
    # b"\x00" and b"\x00\x00" are different ids
    assert dev.get(dc.entry_path("dev", t, b"\x00")).json() == {"len": 1}


@pytest.mark.parametrize("bad", ["AP+/", "A", "!!!!", "a b", "AAAAA", "\u00e9\u00e9"])
def test_bytes_ids_invalid(dev, tables, bad):
    path = dc.table_path("dev", tables["Bytes"]) + "/id/" + dc.quote_seg(bad)
    dc.assert_error(dev.put(path, {"a": 1}), 400, "InvalidId", dev)


def test_bytes_id_padding_rejected(dev, tables):
    # "written in the URL as base64url without padding"
    path = dc.table_path("dev", tables["Bytes"]) + "/id/" + dc.quote_seg("AQ==")
    dc.assert_error(dev.put(path, {"a": 1}), 400, "InvalidId", dev)


def test_bytes_id_too_long(dev, tables):
    path = dc.entry_path("dev", tables["Bytes"], b"\x01" * 2049)
    dc.assert_error(dev.put(path, {"a": 1}), 400, "InvalidId", dev)


def test_concurrent_creates_one_winner(server, tables):
    """PUT creates atomically: racing creators of one id get exactly one 201."""
    import threading
    t = tables["String"]
    for round_no in range(5):
        eid = new_id()
        statuses = []
        barrier = threading.Barrier(12)

        def racer(k):
            c = server.dev_basic()
            barrier.wait()
            r = c.put(dc.entry_path("dev", t, eid), {"winner": k})
            statuses.append((r.status, k))
            c.close()
        threads = [threading.Thread(target=racer, args=(k,)) for k in range(12)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(30)
        wins = [k for st, k in statuses if st == 201]
        assert len(wins) == 1 and all(st in (201, 409) for st, _ in statuses), statuses
        assert server.dev().get(dc.entry_path("dev", t, eid)).json() == {"winner": wins[0]}


def test_concurrent_merge_patches_all_apply(server, tables):
    """Concurrent patches of different members of one entry: none is lost."""
    import threading
    t = tables["String"]
    path = dc.entry_path("dev", t, new_id())
    dc.assert_status(server.dev().put(path, {"base": 0}), 201)
    errors = []

    def patcher(k):
        c = server.dev_basic()
        for j in range(10):
            r = c.post(path, {"t%d_%d" % (k, j): j})
            if r.status != 200:
                errors.append(r)
        c.close()
    threads = [threading.Thread(target=patcher, args=(k,)) for k in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert not errors, errors[:3]
    body = server.dev().get(path).json()
    missing = [("t%d_%d" % (k, j)) for k in range(8) for j in range(10) if body.get("t%d_%d" % (k, j)) != j]
    assert not missing and body["base"] == 0, "lost patches: %s" % missing

"""Overload limits: --max-inflight and --max-disk answer 503
ServiceUnavailable with Retry-After and change nothing."""

import json
import secrets
import select
import threading

import dstore_client as dc
from conftest import HOST


def check_503(status, headers, body):
    assert status == 503
    ra = headers.get("retry-after")
    assert ra is not None and ra.strip().isdigit(), "503 without a Retry-After in seconds: %r" % headers
    b = json.loads(body)
    assert b.get("code") == "ServiceUnavailable" and b.get("message"), b


def test_max_inflight(fresh_server):
    s = fresh_server(extra_args=["--max-inflight", "2", "--threads", "2", "--max-memory", "2000000000"])
    c = s.dev_basic()
    dc.assert_status(c.put(dc.table_path("dev", "busy")), 201, c)
    auth = dc.basic_header(s.dev_key, s.dev_secret)

    n = 64
    values = {}
    for i in range(n):
        values["e%02d" % i] = {"i": i, "pad": secrets.token_hex(150_000)}  # ~300 KB
    results = {}
    barrier = threading.Barrier(n, timeout=30)

    def one(eid):
        body = json.dumps(values[eid]).encode()
        req = dc.raw_request("PUT", dc.entry_path("dev", "busy", eid), s.addr,
                             [auth, ("Content-Type", "application/json")], body)
        half = len(req) // 2
        conn = None
        try:
            conn = dc.RawConn(HOST, s.port, timeout=60)
            conn.send(req[:half])  # headers and half the body: the request is in flight
            barrier.wait()
            # a server may refuse before reading the body: take its answer first
            early = select.select([conn.sock], [], [], 0)[0]
            if not early:
                try:
                    conn.send(req[half:])
                except OSError:
                    pass
            results[eid] = conn.read_response(timeout=60) or "closed without an answer"
        except threading.BrokenBarrierError:
            results[eid] = "barrier"
        except OSError as e:
            results[eid] = "no answer: %r" % e
        finally:
            if conn is not None:
                conn.close()

    threads = [threading.Thread(target=one, args=(eid,)) for eid in values]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    statuses = {eid: (r[0] if isinstance(r, tuple) else r) for eid, r in results.items()}
    assert len(results) == n
    weird = {k: v for k, v in statuses.items() if v not in (201, 503)}
    assert not weird, "answers other than 201/503: %s" % weird
    got201 = [e for e, st in statuses.items() if st == 201]
    got503 = [e for e, st in statuses.items() if st == 503]
    assert got503, "64 concurrent 300 KB PUTs with --max-inflight 2 and no 503"
    assert got201, "every request refused"
    for e in got503:
        check_503(*results[e])

    c = s.dev_basic()
    for e in got201:
        r = c.get(dc.entry_path("dev", "busy", e))
        dc.assert_status(r, 200, c)
        assert r.json() == values[e], e
    for e in got503:
        dc.assert_error(c.get(dc.entry_path("dev", "busy", e)), 404, "EntryNotFound", c)
    assert c.get(dc.ids_path("dev", "busy", "count")).json() == {"count": len(got201)}
    # once the burst is over, requests are served again
    dc.assert_status(c.put(dc.entry_path("dev", "busy", "after"), {"ok": 1}), 201, c)


def test_max_disk(fresh_server):
    s = fresh_server(extra_args=["--max-disk", "2000000"])
    c = s.dev_basic()
    dc.assert_status(c.put(dc.table_path("dev", "full")), 201, c)
    acked, refused = {}, None
    for i in range(200):
        eid = "big%03d" % i
        v = {"i": i, "pad": secrets.token_urlsafe(225_000)}  # ~300 KB, incompressible
        r = c.put(dc.entry_path("dev", "full", eid), v)
        if r.status == 503:
            refused = (eid, r)
            break
        dc.assert_status(r, 201, c)
        acked[eid] = v
    assert refused, "200 writes of 300 KB (60 MB) with --max-disk 2000000 and never a 503"
    eid, r = refused
    check_503(r.status, {k.lower(): v for k, v in r.headers.items()}, r.body)
    dc.assert_error(c.get(dc.entry_path("dev", "full", eid)), 404, "EntryNotFound", c)
    # reads still work and every acknowledged write is intact
    for k, v in acked.items():
        r = c.get(dc.entry_path("dev", "full", k))
        dc.assert_status(r, 200, c)
        assert r.json() == v, k
    r = c.get(dc.ids_path("dev", "full", "count"))
    dc.assert_status(r, 200, c)
    assert r.json() == {"count": len(acked)}
    # still full: another big write is refused and changes nothing
    r = c.put(dc.entry_path("dev", "full", "again"), {"pad": secrets.token_urlsafe(225_000)})
    assert r.status == 503, r
    dc.assert_error(c.get(dc.entry_path("dev", "full", "again")), 404, "EntryNotFound", c)
    # deletes are allowed while full
    for k in list(acked)[:3]:
        dc.assert_status(c.delete(dc.entry_path("dev", "full", k)), 204, c)
        dc.assert_error(c.get(dc.entry_path("dev", "full", k)), 404, "EntryNotFound", c)
    dc.assert_status(c.get("/health"), 200, c)

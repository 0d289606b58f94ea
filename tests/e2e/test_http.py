"""HTTP/1.1 robustness over raw sockets: keep-alive, pipelining, chunked
bodies, Expect: 100-continue, malformed and oversized requests, stalled and
vanishing clients. The last test checks the server survived all of it."""

import json
import socket
import threading
import time
import uuid

import pytest

import dstore_client as dc
from conftest import HOST


@pytest.fixture(scope="module")
def server(module_server):
    """This module abuses its server: it gets one of its own."""
    return module_server


@pytest.fixture(scope="module")
def table(server):
    c = server.dev()
    name = "http-" + uuid.uuid4().hex[:8]
    dc.assert_status(c.put(dc.table_path("dev", name)), 201, c)
    return name


def auth(server):
    return dc.basic_header(server.dev_key, server.dev_secret)


def conn(server, timeout=10):
    return dc.RawConn(HOST, server.port, timeout)


def closed_or_status(c, statuses, timeout=10):
    """The server either answers with one of `statuses` or closes the connection."""
    try:
        r = c.read_response(timeout=timeout)
    except (ConnectionError, OSError) as e:
        if isinstance(e, socket.timeout):
            raise AssertionError("server neither answered nor closed within %s s" % timeout)
        return None
    if r is None:
        return None
    assert r[0] in statuses, "status %s, body %r" % (r[0], r[2][:200])
    return r


def test_keep_alive(server):
    c = conn(server)
    for _ in range(5):
        c.send(dc.raw_request("GET", "/health", server.addr))
        st, h, body = c.read_response()
        assert st == 200 and json.loads(body) == {"status": "ok"}
        assert h.get("connection", "").lower() != "close"
    c.send(dc.raw_request("GET", "/v1/version", server.addr))
    st, h, body = c.read_response()
    assert st == 200 and json.loads(body)["api"][0] == 1
    c.close()


def test_pipelined_requests_in_order(server, table):
    c = conn(server)
    eid = "pipe-" + uuid.uuid4().hex[:8]
    p = dc.entry_path("dev", table, eid)
    body = b'{"piped":1.50}'
    reqs = (dc.raw_request("GET", "/health", server.addr)
            + dc.raw_request("PUT", p, server.addr, [auth(server), ("Content-Type", "application/json")], body)
            + dc.raw_request("GET", "/v1/version", server.addr)
            + dc.raw_request("GET", p, server.addr, [auth(server)])
            + dc.raw_request("GET", "/no-such-url", server.addr, [auth(server)])
            + dc.raw_request("DELETE", p, server.addr, [auth(server)])
            + dc.raw_request("GET", p, server.addr, [auth(server)]))
    c.send(reqs)
    got = [c.read_response() for _ in range(7)]
    assert all(g is not None for g in got), got
    shown = "\n".join("  %s -> %s %s" % (name, g[0], g[2][:100]) for name, g in zip(
        ["GET /health", "PUT entry", "GET /v1/version", "GET entry", "GET /no-such-url", "DELETE entry",
         "GET entry"], got))
    assert [g[0] for g in got] == [200, 201, 200, 200, 404, 204, 404], "pipelined answers:\n" + shown
    assert json.loads(got[0][2]) == {"status": "ok"}
    assert "api" in json.loads(got[2][2])
    assert dc.exact(got[3][2]) == dc.exact(body)
    assert json.loads(got[6][2])["code"] == "EntryNotFound"
    c.close()


def test_pipelined_writes_all_applied(server, table):
    """Pipelined PUTs of distinct ids: each gets 201 and each exists afterwards."""
    c = conn(server)
    tag = uuid.uuid4().hex[:6]
    ids = ["pw-%s-%d" % (tag, i) for i in range(8)]
    reqs = b"".join(dc.raw_request("PUT", dc.entry_path("dev", table, i), server.addr,
                                   [auth(server), ("Content-Type", "application/json")],
                                   json.dumps({"id": i}).encode()) for i in ids)
    c.send(reqs)
    got = [c.read_response() for _ in ids]
    c.close()
    answers = "\n".join("  PUT %s -> %s %s" % (i, g and g[0], g and g[2][:100]) for i, g in zip(ids, got))
    assert all(g is not None and g[0] == 201 and json.loads(g[2]) == {"id": i} for i, g in zip(ids, got)), \
        "pipelined answers:\n" + answers
    cl = server.dev()
    missing = [i for i in ids if cl.get(dc.entry_path("dev", table, i)).status != 200]
    assert not missing, "acknowledged (201) pipelined writes missing: %s" % missing


def test_pipelined_in_separate_tiny_writes(server):
    c = conn(server)
    data = dc.raw_request("GET", "/health", server.addr) * 3
    for i in range(len(data)):
        c.send(data[i:i + 1])
    for _ in range(3):
        st, _, body = c.read_response()
        assert st == 200
    c.close()


def test_chunked_put(server, table):
    eid = "chunk-" + uuid.uuid4().hex[:8]
    p = dc.entry_path("dev", table, eid)
    doc = b'{"chunked":true,"list":[1,2,3],"text":"' + b"y" * 5000 + b'"}'
    pieces = [doc[:7], doc[7:100], doc[100:4097], doc[4097:]]
    body = b"".join(b"%x\r\n%s\r\n" % (len(x), x) for x in pieces) + b"0\r\n\r\n"
    c = conn(server)
    c.send(dc.raw_request("PUT", p, server.addr,
                          [auth(server), ("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")],
                          body))
    st, _, rb = c.read_response()
    assert st == 201, rb
    c.send(dc.raw_request("GET", p, server.addr, [auth(server)]))
    st, _, rb = c.read_response()
    assert st == 200 and json.loads(rb) == json.loads(doc)
    c.close()


def test_content_length_and_chunked_no_smuggling(server, table):
    """Both Content-Length and Transfer-Encoding: either refused (400, then the
    connection closes) or the chunked framing wins; never Content-Length."""
    eid = "smug-" + uuid.uuid4().hex[:8]
    p = dc.entry_path("dev", table, eid)
    doc = b'{"framing":"chunked"}'
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(doc), doc)
    smuggled = dc.raw_request("GET", "/no-such-url-smuggled", server.addr)
    c = conn(server)
    c.send(dc.raw_request("PUT", p, server.addr,
                          [auth(server), ("Content-Type", "application/json"), ("Content-Length", "4"),
                           ("Transfer-Encoding", "chunked")], chunked + smuggled))
    r = c.read_response(timeout=10)
    if r is None or r[0] == 400:
        # refused: nothing more may be read from this connection as a request
        try:
            nxt = c.read_response(timeout=3)
        except (socket.timeout, ConnectionError):
            nxt = None
        assert nxt is None, "after refusing the ambiguous request the server answered more: %r" % (nxt,)
        dc.assert_error(server.dev().get(p), 404, "EntryNotFound")
    else:
        assert r[0] == 201, r
        nxt = c.read_response(timeout=10)
        assert nxt is not None and nxt[0] == 404 and json.loads(nxt[2])["code"] == "NotFound", nxt
        assert server.dev().get(p).json() == {"framing": "chunked"}
    c.close()


def test_expect_100_continue(server, table):
    eid = "expect-" + uuid.uuid4().hex[:8]
    p = dc.entry_path("dev", table, eid)
    body = b'{"expected":true}'
    c = conn(server)
    head = dc.raw_request("PUT", p, server.addr,
                          [auth(server), ("Content-Type", "application/json"), ("Expect", "100-continue"),
                           ("Content-Length", str(len(body)))], b"")
    c.send(head)
    interim = c.read_response(timeout=3)
    assert interim is not None and interim[0] == 100, "no 100 Continue: %r" % (interim,)
    c.send(body)
    st, _, rb = c.read_response()
    assert st == 201, rb
    c.send(dc.raw_request("GET", p, server.addr, [auth(server)]))
    st, _, rb = c.read_response()
    assert st == 200 and json.loads(rb) == {"expected": True}
    c.close()


def test_expect_100_continue_refused_early(server):
    # a request that will be refused (no credentials) need not send its body
    c = conn(server)
    c.send(dc.raw_request("PUT", "/v1/tenant/dev/table/x-expect", server.addr,
                          [("Expect", "100-continue"), ("Content-Length", "10")], b""))
    r = c.read_response(timeout=5)
    assert r is not None and r[0] in (100, 401), r
    if r[0] == 100:
        c.send(b"0123456789")
        r = c.read_response(timeout=5)
        assert r[0] == 401
    c.close()


@pytest.mark.parametrize("garbage", [
    b"\x00\x01\x02garbage\r\n\r\n",
    b"GARBAGE\r\n\r\n",
    b"GET /health HTTP/9.9\r\nHost: x\r\n\r\n",
    b"GET /health HTTP/1.1\r\nHost: x\r\nBad Header Without Colon\r\n\r\n",
    b"GET  HTTP/1.1\r\n\r\n",
    b"PUT /v1/tenant/dev/table/xyz HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    b"PUT /v1/tenant/dev/table/xyz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"PUT /v1/tenant/dev/table/xyz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n{}",
    b"PUT /v1/tenant/dev/table/xyz HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    b"PUT /v1/tenant/dev/table/xyz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
])
def test_garbage_request(server, garbage):
    c = conn(server)
    c.send(garbage)
    closed_or_status(c, (400, 505))
    c.close()


def test_huge_header(server):
    c = conn(server)
    try:
        c.send(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n")
    except OSError:
        pass  # closed while we were still sending: allowed
    closed_or_status(c, (431,))
    c.close()


def test_many_headers(server):
    c = conn(server)
    hs = b"".join(b"X-H%d: v\r\n" % i for i in range(2000))
    try:
        c.send(b"GET /health HTTP/1.1\r\nHost: x\r\n" + hs + b"\r\n")
    except OSError:
        pass
    closed_or_status(c, (431,))
    c.close()


def test_long_url(server):
    c = conn(server)
    try:
        c.send(b"GET /" + b"a" * 200_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    except OSError:
        pass
    closed_or_status(c, (400, 404, 414, 431))
    c.close()


def test_request_body_over_16_mib(server, table):
    p = dc.entry_path("dev", table, "huge")
    size = 17 * 1024 * 1024
    c = conn(server, timeout=30)
    c.send(dc.raw_request("PUT", p, server.addr,
                          [auth(server), ("Content-Type", "application/json"), ("Content-Length", str(size))], b""))

    def feed():
        chunk = b" " * 65536
        try:
            for _ in range(size // len(chunk)):
                c.sock.sendall(chunk)
        except OSError:
            pass
    t = threading.Thread(target=feed, daemon=True)
    t.start()
    r = c.read_response(timeout=30)
    assert r is not None and r[0] == 413, r and (r[0], r[2][:200])
    assert json.loads(r[2])["code"] == "PayloadTooLarge"
    t.join(30)
    c.close()


def test_stalled_clients_do_not_block_others(server):
    stalled = []
    for i in range(40):
        s = conn(server)
        if i % 2:
            s.send(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # headers never end
        else:
            s.send(b"PUT /v1/tenant/dev/table/t/id/x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"a\":")
        stalled.append(s)
    idle = [conn(server) for _ in range(20)]  # connected, never send
    try:
        c = server.client()
        for _ in range(20):
            t0 = time.monotonic()
            r = c.get("/health")
            assert r.status == 200
            assert time.monotonic() - t0 < 1.0, "health took %.2f s with stalled clients" % (time.monotonic() - t0)
        # fresh connections too
        for _ in range(10):
            t0 = time.monotonic()
            x = conn(server, timeout=5)
            x.send(dc.raw_request("GET", "/health", server.addr))
            assert x.read_response(timeout=5)[0] == 200
            x.close()
            assert time.monotonic() - t0 < 1.0
    finally:
        for s in stalled + idle:
            s.close()


def test_disconnect_mid_body(server, table):
    p = dc.entry_path("dev", table, "cut-" + uuid.uuid4().hex[:8])
    for _ in range(20):
        c = conn(server)
        c.send(dc.raw_request("PUT", p, server.addr,
                              [auth(server), ("Content-Type", "application/json"), ("Content-Length", "1000")],
                              b'{"a":"' + b"x" * 400))
        c.close()
    # a chunked body cut off
    c = conn(server)
    c.send(dc.raw_request("PUT", p, server.addr,
                          [auth(server), ("Transfer-Encoding", "chunked")], b"10\r\n{\"a\":"))
    c.close()
    time.sleep(0.2)
    cl = server.dev()
    dc.assert_error(cl.get(p), 404, "EntryNotFound", cl)
    dc.assert_status(cl.get("/health"), 200, cl)


def test_reset_connections(server):
    import struct
    for _ in range(20):
        s = socket.create_connection(server.addr)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.sendall(dc.raw_request("GET", "/v1/version", server.addr))
        s.close()  # RST, possibly before the answer is written
    c = server.client()
    assert c.get("/health").status == 200


def test_http10_and_connection_close(server):
    c = conn(server)
    c.send(b"GET /health HTTP/1.0\r\n\r\n")
    st, _, body = c.read_response()
    assert st == 200 and json.loads(body) == {"status": "ok"}
    assert c.closed_by_peer(5), "HTTP/1.0 without keep-alive: connection left open"
    c.close()
    c = conn(server)
    c.send(dc.raw_request("GET", "/health", server.addr, [("Connection", "close")]))
    st, _, body = c.read_response()
    assert st == 200
    assert c.closed_by_peer(5), "Connection: close not honoured"
    c.close()


def test_many_concurrent_connections(server):
    conns = [conn(server) for _ in range(200)]
    try:
        for c in conns:
            c.send(dc.raw_request("GET", "/health", server.addr))
        for c in conns:
            r = c.read_response(timeout=10)
            assert r is not None and r[0] == 200
        for c in conns[::7]:  # still usable (keep-alive)
            c.send(dc.raw_request("GET", "/v1/version", server.addr))
            assert c.read_response(timeout=10)[0] == 200
    finally:
        for c in conns:
            c.close()


def test_zz_server_survived(server, table):
    assert server.alive(), "the server process died:\n" + server.log_tail()
    c = server.dev()
    dc.assert_status(c.get("/health"), 200, c)
    p = dc.entry_path("dev", table, "after-abuse")
    dc.assert_status(c.put(p, {"still": "working"}), 201, c)
    assert c.get(p).json() == {"still": "working"}

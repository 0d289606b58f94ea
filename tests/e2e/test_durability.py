"""Durability: acknowledged writes survive SIGKILL; everything survives a
clean restart (data, tenants, credentials)."""

import os
import secrets
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import dstore_client as dc
from conftest import HOST, create_tenant, syncshim


def hammer(server, table, prefix, seconds=2.0, nthreads=4):
    """Threads write as fast as they can (mostly PUTs of new ids, some merge
    patches and deletes of their own acknowledged ids); after `seconds` the
    server is SIGKILLed. Returns {id: value or None (deleted)} for every id
    whose last operation was acknowledged; ids with an unanswered operation
    in flight at the kill are left out (either outcome is allowed)."""
    states = [dict() for _ in range(nthreads)]
    stop = threading.Event()
    errors = []

    def worker(tid):
        c = dc.Client(HOST, server.port, dc.Basic(server.dev_key, server.dev_secret), timeout=10)
        state = states[tid]
        live = []  # acknowledged, not deleted
        n = 0
        try:
            while not stop.is_set():
                if n % 5 == 4 and live:
                    eid = live[(n * 7) % len(live)]
                    op, path = "POST", dc.entry_path("dev", table, eid)
                    body = {"patch%d" % n: n}
                    want = dict(state[eid], **body)
                    ok = 200
                elif n % 11 == 10 and live:
                    eid = live.pop((n * 3) % len(live))
                    op, path, body, want, ok = "DELETE", dc.entry_path("dev", table, eid), None, None, 204
                else:
                    eid = "%s-%d-%06d" % (prefix, tid, n)
                    op, path = "PUT", dc.entry_path("dev", table, eid)
                    body = want = {"id": eid, "n": n, "pad": secrets.token_hex(48)}
                    ok = 201
                state.pop(eid, None)  # unknown until answered
                try:
                    r = c.request(op, path, body=body)
                except (OSError, dc.http.client.HTTPException):
                    break  # the server died under us
                if r.status == ok:
                    state[eid] = want
                    if op == "PUT":
                        live.append(eid)
                else:
                    errors.append((op, eid, r))
                    break
                n += 1
        finally:
            c.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(nthreads)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.wait()
    stop.set()
    for t in threads:
        t.join(15)
    server.kill9()  # bookkeeping (log file) only; the process is gone
    assert not errors, "unexpected answers while writing: %s" % errors[:3]
    out = {}
    for d in states:
        out.update(d)
    return out


def verify(server, table, expected):
    """Every id in `expected` reads back with its value; returns the missing/wrong ones."""
    items = list(expected.items())
    bad = []

    def check(chunk):
        c = dc.Client(HOST, server.port, dc.Basic(server.dev_key, server.dev_secret), timeout=20)
        out = []
        for eid, v in chunk:
            r = c.get(dc.entry_path("dev", table, eid))
            if v is None:
                if r.status != 404:
                    out.append((eid, "acknowledged delete undone", r))
            elif r.status != 200 or r.json() != v:
                out.append((eid, v, r))
        c.close()
        return out

    chunks = [items[i::4] for i in range(4)]
    with ThreadPoolExecutor(4) as ex:
        for res in ex.map(check, chunks):
            bad += res
    return bad


def test_sigkill_during_writes_twice(fresh_server):
    s = fresh_server()
    c = s.dev_basic()
    dc.assert_status(c.put(dc.table_path("dev", "durable")), 201, c)
    # acknowledged deletes and patches are durable too
    for i in range(20):
        dc.assert_status(c.put(dc.entry_path("dev", "durable", "pre-%02d" % i), {"i": i}), 201, c)
    for i in range(0, 20, 2):
        dc.assert_status(c.delete(dc.entry_path("dev", "durable", "pre-%02d" % i)), 204, c)
    for i in range(1, 20, 4):
        dc.assert_status(c.post(dc.entry_path("dev", "durable", "pre-%02d" % i), {"p": True}), 200, c)
    c.close()

    all_acked = {}
    for round_no in (1, 2):
        acked = hammer(s, "durable", "r%d" % round_no)
        assert len(acked) >= 50, "only %d writes acknowledged in 2 s (round %d)" % (len(acked), round_no)
        assert any(v is None for v in acked.values()) and any(
            any(k.startswith("patch") for k in v) for v in acked.values() if v), "no deletes/patches acknowledged"
        all_acked.update(acked)
        s.start(new_port=True)
        bad = verify(s, "durable", all_acked)
        assert not bad, "round %d: %d of %d acknowledged writes lost or wrong after SIGKILL, e.g. %s" % (
            round_no, len(bad), len(all_acked), bad[:5])
        c = s.dev_basic()
        for i in range(20):
            r = c.get(dc.entry_path("dev", "durable", "pre-%02d" % i))
            if i % 2 == 0:
                dc.assert_error(r, 404, "EntryNotFound", c)
            else:
                want = {"i": i, "p": True} if i % 4 == 1 else {"i": i}
                assert r.status == 200 and r.json() == want, (i, r)
        n = c.get(dc.ids_path("dev", "durable", "count")).json()["count"]
        live = len([v for v in all_acked.values() if v is not None])
        assert n >= live + 10, (n, live)


def test_clean_restart_keeps_everything(fresh_server):
    s = fresh_server()
    admin, dev = s.admin(), s.dev()
    t = create_tenant(s, "keeper")
    ct = t.sigv4()
    dc.assert_status(ct.put(dc.table_path("keeper", "ints"), {"idType": "Integer"}), 201, ct)
    for i in (-5, 3, 100):
        dc.assert_status(ct.put(dc.entry_path("keeper", "ints", i), {"v": "1.50", "i": i}), 201, ct)
    dc.assert_status(dev.put(dc.table_path("dev", "strs")), 201, dev)
    raw = '{"z":1.50,"a":[12345678901234567890123456789012345678,"\u00e9\U0001F600"],"m":{"b":null}}'
    dc.assert_status(dev.put(dc.entry_path("dev", "strs", "one/two"), raw), 201, dev)
    dc.assert_status(dev.put(dc.entry_path("dev", "strs", "gone"), {"x": 1}), 201, dev)
    dc.assert_status(dev.delete(dc.entry_path("dev", "strs", "gone")), 204, dev)
    dead = create_tenant(s, "dead-tenant")
    dc.assert_status(admin.delete(dc.tenant_path(dead.name)), 204, admin)
    desc_before = dev.get(dc.table_path("dev", "strs")).json()
    tenant_before = admin.get(dc.tenant_path("keeper")).json()

    rc = s.stop()
    assert rc in (0, -signal.SIGTERM), "SIGTERM did not stop the server cleanly: %r" % (rc,)
    s.start()
    admin, dev, ct = s.admin(), s.dev(), s.client(dc.SigV4(t.key, t.secret))

    r = dev.get(dc.entry_path("dev", "strs", "one/two"))
    dc.assert_status(r, 200, dev)
    assert dc.exact(r.body) == dc.exact(raw), r.text
    dc.assert_error(dev.get(dc.entry_path("dev", "strs", "gone")), 404, "EntryNotFound", dev)
    desc = dev.get(dc.table_path("dev", "strs")).json()
    assert desc["idType"] == "String" and desc["created"] == desc_before["created"], (desc, desc_before)

    r = ct.get(dc.ids_path("keeper", "ints"))
    dc.assert_status(r, 200, ct)
    assert [it["id"] for it in r.json()["items"]] == [-5, 3, 100], r
    assert ct.get(dc.table_path("keeper", "ints")).json()["idType"] == "Integer"
    got = admin.get(dc.tenant_path("keeper")).json()
    assert got["accessKeyId"] == tenant_before["accessKeyId"] and got["created"] == tenant_before["created"]
    assert got["tables"] == 1, got
    dc.assert_error(admin.get(dc.tenant_path(dead.name)), 404, "TenantNotFound", admin)
    cd = s.client(dc.SigV4(dead.key, dead.secret))
    r = cd.get(dc.tables_path(dead.name))
    assert r.status in (401, 403), r
    # a tenant created before the restart cannot be created again
    dc.assert_error(admin.put(dc.tenant_path("keeper")), 409, "TenantExists", admin)
    dc.assert_error(dev.put(dc.table_path("dev", "strs")), 409, "TableExists", dev)


def test_durability_process_survives_sigkill(fresh_server):
    """--durability process acknowledges before fsync; the write-ahead log is
    still written to the kernel before the answer, so a SIGKILL of dstore (not
    of the machine) loses nothing acknowledged."""
    s = fresh_server(extra_args=["--durability", "process"])
    c = s.dev_basic()
    dc.assert_status(c.put(dc.table_path("dev", "fast")), 201, c)
    c.close()
    acked = hammer(s, "fast", "p")
    assert len(acked) >= 50, "only %d writes acknowledged in 2 s" % len(acked)
    s.start(new_port=True)
    bad = verify(s, "fast", acked)
    assert not bad, "%d of %d acknowledged writes lost after SIGKILL, e.g. %s" % (
        len(bad), len(acked), bad[:5])


def test_durability_value_checked(tmp_path):
    import subprocess
    from conftest import DSTORE_BIN
    p = subprocess.run([DSTORE_BIN, "serve", "--durability", "sometimes", "--data", str(tmp_path)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "--durability must be fsync or process" in p.stderr, p.stderr


# ---- a power cut, simulated: build/tests/syncshim.so (tests/e2e/syncshim.c)

def cut_power(server, journal):
    """After a SIGKILL: cuts every write-ahead log file back to the bytes its
    last fsync made durable (a file never synced to nothing), which is what a
    power cut leaves of it. Returns the number of bytes cut."""
    synced = {}
    if os.path.exists(journal):
        for line in open(journal):
            path, size = line.rsplit(" ", 1)
            synced[path] = max(synced.get(path, 0), int(size))
    db = os.path.join(server.data_dir, "db")
    cut = 0
    for name in os.listdir(db):
        if name.endswith(".log"):
            path = os.path.join(db, name)
            keep = synced.get(os.path.realpath(path), 0)
            size = os.path.getsize(path)
            if size > keep:
                os.truncate(path, keep)
                cut += size - keep
    return cut


def power_cut_round(fresh_server, tmp_path, extra_args):
    journal = str(tmp_path / "synced")
    s = fresh_server(extra_args=extra_args, env={"LD_PRELOAD": syncshim(), "SYNCSHIM_JOURNAL": journal})
    c = s.dev_basic()
    dc.assert_status(c.put(dc.table_path("dev", "power")), 201, c)
    c.close()
    acked = hammer(s, "power", "pc", nthreads=8)
    assert len(acked) >= 50, "only %d writes acknowledged in 2 s" % len(acked)
    cut = cut_power(s, journal)
    s.start(new_port=True)
    return s, acked, cut, verify(s, "power", acked)


def test_acknowledged_writes_survive_a_power_cut(fresh_server, tmp_path):
    """Writers hammer the server (puts, patches, deletes: group commits), it
    is SIGKILLed, and every WAL loses what was written after its last fsync.
    Every acknowledged write must still read back."""
    s, acked, cut, bad = power_cut_round(fresh_server, tmp_path, [])
    assert not bad, "%d of %d acknowledged writes lost after a power cut (%d WAL bytes cut), e.g. %s" % (
        len(bad), len(acked), cut, bad[:5])


def test_power_cut_simulation_bites(fresh_server, tmp_path):
    """The control for the test above: with --durability process nothing is
    fsynced, so the same power cut must lose acknowledged writes. If it did
    not, the simulation would prove nothing."""
    s, acked, cut, bad = power_cut_round(fresh_server, tmp_path, ["--durability", "process"])
    assert cut > 0 and bad, "a power cut under --durability process lost nothing (%d bytes cut)" % cut


def test_no_read_sees_a_write_before_its_sync(fresh_server):
    """With a slow disk (each WAL fsync takes 400 ms), a put is written to the
    log at once and acknowledged only after its fsync. Readers polling the
    item, and listing the table, meanwhile must keep seeing the old value
    until that fsync is done: a value a power cut could take back is never
    served."""
    s = fresh_server(env={"LD_PRELOAD": syncshim(), "SYNCSHIM_DELAY_MS": "400"})
    c = s.dev_basic()
    dc.assert_status(c.put(dc.table_path("dev", "slow")), 201, c)
    path = dc.entry_path("dev", "slow", "x")
    dc.assert_status(c.put(path, {"v": 1}), 201, c)
    seen = {}
    stop = threading.Event()

    def reader(kind):
        r = s.dev_basic()
        while not stop.is_set():
            if kind == "get":
                v = r.get(path).json().get("v")
            else:
                items = r.get(dc.ids_path("dev", "slow")).json()["items"]
                v = items[0]["value"].get("v") if items else None
            if v == 2 and kind not in seen:
                seen[kind] = time.monotonic()
        r.close()

    readers = [threading.Thread(target=reader, args=(k,), daemon=True) for k in ("get", "list")]
    for t in readers:
        t.start()
    try:
        time.sleep(0.2)
        t0 = time.monotonic()
        dc.assert_status(c.post(path, {"v": 2}), 200, c)
        acked = time.monotonic()
        time.sleep(0.2)
    finally:
        stop.set()
        for t in readers:
            t.join(10)
    assert acked - t0 >= 0.35, "the put was acknowledged in %.3f s: the slow disk is not in effect" % (
        acked - t0)
    for kind in ("get", "list"):
        assert kind in seen, "%s never saw the new value" % kind
        assert seen[kind] - t0 >= 0.35, "%s saw the new value %.3f s after the put, before its fsync" % (
            kind, seen[kind] - t0)

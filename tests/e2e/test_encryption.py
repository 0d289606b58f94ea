"""Encryption at rest: no entry value ever reaches the data directory (or the
log) in plaintext, while running and after a clean stop that flushes."""

import os
import secrets
import signal
import uuid

import dstore_client as dc


def scan(data_dir, needles):
    """Return (hits, n_files, n_bytes): hits lists (path, needle) for every
    file under data_dir containing a needle."""
    hits, n_files, n_bytes = [], 0, 0
    for root, _dirs, files in os.walk(data_dir):
        for f in files:
            p = os.path.join(root, f)
            try:
                with open(p, "rb") as fh:
                    data = fh.read()
            except OSError:
                continue  # removed meanwhile (compaction)
            n_files += 1
            n_bytes += len(data)
            for n in needles:
                if n in data:
                    hits.append((os.path.relpath(p, data_dir), n))
    return hits, n_files, n_bytes


def test_values_never_in_plaintext(fresh_server):
    s = fresh_server()
    c = s.dev_basic()
    marker = "PLAINTEXT-MARKER-" + uuid.uuid4().hex
    marker2 = "PATCHED-MARKER-" + uuid.uuid4().hex
    member = "MEMBER-MARKER-" + uuid.uuid4().hex
    for t, id_type in (("enc", "String"), ("encint", "Integer"), ("encbytes", "Bytes")):
        dc.assert_status(c.put(dc.table_path("dev", t), {"idType": id_type}), 201, c)
    values = {}
    for i in range(200):
        v = {"secret": marker, "n": i, member: [marker, {"deep": marker + str(i)}],
             "noise": secrets.token_hex(1000)}
        values["k%03d" % i] = v
        dc.assert_status(c.put(dc.entry_path("dev", "enc", "k%03d" % i), v), 201, c)
    dc.assert_status(c.put(dc.entry_path("dev", "encint", 42), {"m": marker}), 201, c)
    dc.assert_status(c.put(dc.entry_path("dev", "encbytes", b"\x01\x02"), {"m": marker}), 201, c)
    big = {"big": (marker + secrets.token_hex(32)) * 2000}
    dc.assert_status(c.put(dc.entry_path("dev", "enc", "big"), big), 201, c)
    dc.assert_status(c.post(dc.entry_path("dev", "enc", "k000"), {"p": marker2}), 200, c)
    values["k000"]["p"] = marker2
    # a deleted entry's value must not linger in plaintext either
    dc.assert_status(c.put(dc.entry_path("dev", "enc", "gone"), {"m": marker2}), 201, c)
    dc.assert_status(c.delete(dc.entry_path("dev", "enc", "gone")), 204, c)

    needles = [marker.encode(), marker2.encode(), member.encode()]
    hits, n_files, n_bytes = scan(s.data_dir, needles)
    assert n_files > 0, "the data directory is empty while running"
    assert hits == [], "plaintext found while running: %s" % hits

    rc = s.stop()
    hits, n_files, n_bytes = scan(s.data_dir, needles)
    assert hits == [], "plaintext found after SIGTERM: %s" % hits
    # positive control: the (incompressible) data really is in the data directory
    assert n_bytes > 400_000, "only %d bytes under --data after writing ~900 KB of random values" % n_bytes
    log = s.log_bytes()
    for n in needles:
        assert n not in log, "value marker %r appears in the server log" % n
    assert rc in (0, -signal.SIGTERM), "SIGTERM did not stop the server cleanly: %r" % (rc,)

    # the data is readable again after a restart (keys persisted, not just in memory)
    s.start()
    c = s.dev_basic()
    for k in ("k000", "k001", "k199"):
        r = c.get(dc.entry_path("dev", "enc", k))
        dc.assert_status(r, 200, c)
        assert r.json() == values[k]
    assert c.get(dc.entry_path("dev", "enc", "big")).json() == big
    assert c.get(dc.entry_path("dev", "encint", 42)).json() == {"m": marker}
    hits, _, _ = scan(s.data_dir, needles)
    assert hits == [], "plaintext found after restart: %s" % hits

"""Cluster membership: `dstore node --etcd URL` registers itself in a real etcd.

Issue 4 and docs/cluster-design.md: a node writes node/{uuid}/details =
{"status":"okay","uri":...} under the cluster prefix, on a lease it keeps alive;
a clean stop revokes the lease (the record goes at once); a SIGKILLed node's
record disappears when its lease expires; and a node works on its own (it
serves the client APIs whatever etcd says).
"""
import base64
import json
import os
import re
import signal
import time
import urllib.request

import pytest

from cluster_fixtures import etcd  # noqa: F401  (the real-etcd fixture)
from conftest import DstoreServer

PREFIX = "/dstore-test/"


class NodeServer(DstoreServer):
    """A `dstore node`; the nodes of one test share a cluster key file and
    credentials (tenants live in etcd, shared by the cluster)."""

    def __init__(self, etcd_url, key_file, extra_args=(), name="node", like=None):
        super().__init__(extra_args=extra_args, name=name)
        self.etcd_url = etcd_url
        self.key_file = key_file
        if like is not None:
            self.admin_token, self.dev_key, self.dev_secret = \
                like.admin_token, like.dev_key, like.dev_secret

    def command(self):
        args = super().command()
        args[1] = "node"
        return args + ["--etcd", self.etcd_url, "--etcd-prefix", PREFIX, "--lease-ttl", "2",
                       "--cluster-key", self.key_file]

    def uuid(self, timeout=10):
        # /health answers before the node has joined: wait for its line
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(r"node ([0-9a-f-]{36}) joined the cluster", self.log_text())
            if m or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert m, "the node did not say it joined:\n" + self.log_tail()
        return m.group(1)


def etcd_nodes(etcd_url):
    """{uuid: details} of every node/{uuid}/details under PREFIX, read through the gateway."""
    key = (PREFIX + "node/").encode()
    end = key[:-1] + bytes([key[-1] + 1])
    body = json.dumps({"key": base64.b64encode(key).decode(),
                       "range_end": base64.b64encode(end).decode()}).encode()
    req = urllib.request.Request(etcd_url.rstrip("/") + "/v3/kv/range", data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        out = json.loads(r.read())
    found = {}
    for kv in out.get("kvs", []):
        k = base64.b64decode(kv["key"]).decode()
        m = re.fullmatch(re.escape(PREFIX) + r"node/([^/]+)/details", k)
        if m:
            found[m.group(1)] = (json.loads(base64.b64decode(kv["value"])), kv.get("lease"))
    return found


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError("timed out after %.1f s waiting for %s" % (timeout, what))


@pytest.fixture
def nodes(etcd, tmp_path):  # noqa: F811
    made = []
    key_file = str(tmp_path / "cluster.key")  # created by the first node

    def make(**kw):
        n = NodeServer(etcd, key_file, like=made[0] if made else None, **kw)
        made.append(n)
        n.start()
        return n

    yield make
    for n in made:
        n.cleanup()


def test_nodes_register_with_their_uri_on_a_lease(etcd, nodes):  # noqa: F811
    ns = [nodes(name="node %d" % i) for i in range(3)]
    uuids = [n.uuid() for n in ns]
    assert len(set(uuids)) == 3
    reg = etcd_nodes(etcd)
    for n, u in zip(ns, uuids):
        assert u in reg, "node %s not registered: %r" % (u, reg)
        details, lease = reg[u]
        assert details["status"] == "okay"
        assert details["uri"] == "http://127.0.0.1:%d/" % n.port
        assert lease and int(lease) != 0, "the record must hang on a lease"
    # each node serves the client API, on the cluster's shared metadata (writes
    # need ranges, which the control plane places: test_cluster_data.py)
    for i, n in enumerate(ns):
        c = n.dev()
        r = c.put("/v1/tenant/dev/table/alone%d" % i)
        assert r.status == 201, r
        for m in ns:  # the others learn of it through their watch of etcd
            mc = m.dev()
            wait_for(lambda: mc.get("/v1/tenant/dev/table/alone%d" % i).status == 200, 5,
                     "table alone%d on every node" % i)


def test_lease_outlives_its_ttl_while_the_node_lives(etcd, nodes):  # noqa: F811
    n = nodes()
    u = n.uuid()
    time.sleep(5)  # 2.5 times the 2 s lease: the keeper must have renewed it
    assert u in etcd_nodes(etcd)


def test_clean_stop_removes_the_record_at_once(etcd, nodes):  # noqa: F811
    n = nodes()
    u = n.uuid()
    assert u in etcd_nodes(etcd)
    n.stop()
    assert u not in etcd_nodes(etcd), "a clean stop must revoke the lease"


def test_killed_node_disappears_when_its_lease_expires(etcd, nodes):  # noqa: F811
    a, b = nodes(name="victim"), nodes(name="survivor")
    ua, ub = a.uuid(), b.uuid()
    os.kill(a.proc.pid, signal.SIGKILL)
    a.proc.wait()
    wait_for(lambda: ua not in etcd_nodes(etcd), 8, "the killed node's record to expire")
    assert ub in etcd_nodes(etcd)


def test_node_needs_etcd_and_serve_refuses_it(tmp_path):
    import subprocess
    from conftest import DSTORE_BIN
    r = subprocess.run([DSTORE_BIN, "node", "--data", str(tmp_path / "d")], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 2 and "--etcd" in r.stderr
    r = subprocess.run([DSTORE_BIN, "serve", "--data", str(tmp_path / "d"), "--etcd",
                        "http://127.0.0.1:1"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "dstore node" in r.stderr


def test_cluster_roles_need_a_cluster_key_and_an_admin_token(tmp_path):
    import subprocess
    from conftest import DSTORE_BIN
    etcd_arg = ["--etcd", "http://127.0.0.1:1"]
    for role in ("node", "proxy", "control"):
        r = subprocess.run([DSTORE_BIN, role, "--data", str(tmp_path / "d")] + etcd_arg,
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 2 and "--cluster-key" in r.stderr, (role, r.stderr)
    for role in ("node", "proxy"):
        r = subprocess.run([DSTORE_BIN, role, "--data", str(tmp_path / "d"), "--cluster-key",
                            str(tmp_path / "k")] + etcd_arg, capture_output=True, text=True,
                           timeout=10)
        assert r.returncode == 2 and "--admin-token" in r.stderr, (role, r.stderr)


def test_node_without_reachable_etcd_fails_clearly(tmp_path):
    import subprocess
    from conftest import DSTORE_BIN, free_port
    r = subprocess.run([DSTORE_BIN, "node", "--data", str(tmp_path / "d"), "--listen",
                        "127.0.0.1:%d" % free_port(), "--etcd", "http://127.0.0.1:%d" % free_port(),
                        "--cluster-key", str(tmp_path / "k"), "--admin-token", "x" * 20],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "cannot join the cluster" in r.stderr


def dstorectl(*args, etcd_url):
    import subprocess
    from conftest import DSTORE_BIN
    ctl = os.path.join(os.path.dirname(DSTORE_BIN), "dstorectl")
    return subprocess.run([ctl, "--etcd", etcd_url, "--etcd-prefix", PREFIX] + list(args),
                          capture_output=True, text=True, timeout=20)


def test_dstorectl_lists_nodes_for_people_and_scripts(etcd, nodes):  # noqa: F811
    ns = [nodes(name="node %d" % i) for i in range(2)]
    uuids = {n.uuid() for n in ns}
    r = dstorectl("node", "list", etcd_url=etcd)
    assert r.returncode == 0, r.stderr
    for n in ns:
        line = next((l for l in r.stdout.splitlines() if l.startswith(n.uuid())), None)
        assert line and "okay" in line and "http://127.0.0.1:%d/" % n.port in line, r.stdout
    assert "2 nodes" in r.stdout
    r = dstorectl("--json", "node", "list", etcd_url=etcd)
    assert r.returncode == 0, r.stderr
    listed = {n["uuid"]: n for n in json.loads(r.stdout)["nodes"]}
    assert set(listed) == uuids
    assert all(n["status"] == "okay" and n["uri"].startswith("http://127.0.0.1:") for n in listed.values())
    r = dstorectl("--json", "status", etcd_url=etcd)
    st = json.loads(r.stdout)
    assert r.returncode == 0 and st["reachable"] is True and st["nodes"] == 2 and st["nodesOkay"] == 2
    ns[0].stop()
    st = json.loads(dstorectl("--json", "status", etcd_url=etcd).stdout)
    assert st["nodes"] == 1


def test_dstorectl_says_when_etcd_is_unreachable():
    from conftest import free_port
    r = dstorectl("status", etcd_url="http://127.0.0.1:%d" % free_port())
    assert r.returncode == 1
    assert "unreachable" in r.stdout or "cannot" in r.stderr
    r = dstorectl("frobnicate", etcd_url="http://127.0.0.1:1")
    assert r.returncode == 2 and "Usage" in r.stderr

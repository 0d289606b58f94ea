"""A real etcd for the cluster end-to-end tests (issue 4).

EtcdServer starts Debian's /usr/bin/etcd (etcd-server; $ETCD_BIN overrides)
as a single-member cluster on two free loopback ports (client and peer), in
a temporary directory (data/ and etcd.log), waits until GET /health answers
{"health":"true"} (falling back to POST /v3/maintenance/status), and stops it
by PID: SIGTERM, then SIGKILL after 5 s. restart() keeps the data directory
and the ports, so clients and watches can resume. cleanup() always removes
the directory ($DSTORE_E2E_KEEP keeps it).

The pytest fixture `etcd` yields the client URL ("http://127.0.0.1:PORT") of
a fresh etcd per test; `etcd_server` yields the EtcdServer itself (to stop,
restart or read its log). Test modules import what they use:

    from cluster_fixtures import etcd, etcd_server  # noqa: F401

A missing etcd binary is an error, never a skip. A failing test's report
carries the tail of the etcd log (printed at teardown, which pytest shows only
for failures).
"""

import json
import os
import shutil
import socket
import sys
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conftest import DSTORE_BIN, DstoreServer, ManagedProcess  # noqa: E402

HOST = "127.0.0.1"
ETCD_BIN = os.environ.get("ETCD_BIN") or "/usr/bin/etcd"
START_TIMEOUT = 20.0


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((HOST, 0))
    port = s.getsockname()[1]
    s.close()
    return port


class EtcdServer(ManagedProcess):
    """One etcd process with its own temporary directory."""

    def __init__(self, name="etcd"):
        if not (os.path.isfile(ETCD_BIN) and os.access(ETCD_BIN, os.X_OK)):
            raise RuntimeError("etcd not found at %s (install Debian's etcd-server "
                               "or set ETCD_BIN)" % ETCD_BIN)
        self.name = name
        self.root = tempfile.mkdtemp(prefix="dstore-etcd-")
        self.data_dir = os.path.join(self.root, "data")
        self.log_path = os.path.join(self.root, "etcd.log")
        self.client_port = None
        self.peer_port = None
        self.proc = None
        self._log = None

    @property
    def url(self):
        return "http://%s:%d" % (HOST, self.client_port)

    @property
    def peer_url(self):
        return "http://%s:%d" % (HOST, self.peer_port)

    def command(self):
        return [ETCD_BIN, "--name", "default", "--data-dir", self.data_dir,
                "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
                "--listen-peer-urls", self.peer_url, "--initial-advertise-peer-urls", self.peer_url,
                "--initial-cluster", "default=" + self.peer_url, "--initial-cluster-state", "new",
                "--logger", "zap", "--log-level", "warn"]

    # ---- process control

    def start(self):
        """Picks free ports and starts etcd; retries with new ports when the
        ones picked were taken meanwhile."""
        last = None
        for _ in range(3):
            self.client_port, self.peer_port = free_port(), free_port()
            if self.client_port == self.peer_port:
                continue
            try:
                return self._spawn()
            except RuntimeError as e:
                last = e
                # a half-initialised data dir must not be reused with other ports
                shutil.rmtree(self.data_dir, ignore_errors=True)
                if "in use" not in self.log_tail(20).lower():
                    break
        raise RuntimeError("%s did not start: %s\n--- log ---\n%s" % (self.name, last, self.log_tail()))

    def restart(self):
        """Stops etcd and starts it again on the same data directory and ports."""
        self.stop()
        try:
            return self._spawn()
        except RuntimeError as e:
            raise RuntimeError("%s did not restart: %s\n--- log ---\n%s"
                               % (self.name, e, self.log_tail()))

    def _spawn(self):
        self._log = open(self.log_path, "ab")
        self._log.write(("\n==== start %s: %s\n" % (time.strftime("%H:%M:%S"),
                                                     " ".join(self.command()))).encode())
        self._log.flush()
        self.proc = subprocess.Popen(self.command(), stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=self.root)
        try:
            self.wait_ready()
        except RuntimeError:
            self.stop()
            raise
        return self

    def _get(self, path, body=None, timeout=2.0):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method="POST" if data else "GET",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read().decode() or "{}")

    def ready(self):
        """True when /health says healthy or, failing that, /v3/maintenance/status answers."""
        try:
            status, body = self._get("/health")
            if status == 200 and body.get("health") == "true":
                return True
        except (OSError, ValueError, urllib.error.URLError):
            pass
        try:
            status, body = self._get("/v3/maintenance/status", {})
            return status == 200 and "header" in body
        except (OSError, ValueError, urllib.error.URLError):
            return False

    def wait_ready(self, timeout=START_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("exited with status %s" % self.proc.returncode)
            if self.ready():
                return
            time.sleep(0.05)
        raise RuntimeError("not ready within %.0f s" % timeout)


def _fresh_etcd():
    """Starts an EtcdServer; the generator's end stops and removes it."""
    s = EtcdServer()
    try:
        s.start()
        yield s
    finally:
        # captured teardown output is shown only when the test failed
        print("--- etcd log tail (%s) ---\n%s" % (s.log_path, s.log_tail(40)))
        s.cleanup()


# Each fixture stands alone (neither requests the other), so a test module
# may import just the one it uses.
@pytest.fixture
def etcd_server():
    """A fresh etcd for one test (an EtcdServer), always stopped and removed afterwards."""
    yield from _fresh_etcd()


@pytest.fixture
def etcd():
    """The client URL ("http://127.0.0.1:PORT") of a fresh etcd for one test."""
    for s in _fresh_etcd():
        yield s.url


# ==========================================================================
# The cluster harness (issue 4): etcd + a control plane + nodes + a proxy,
# every process on free loopback ports in its own temporary directory, all
# sharing one cluster key file and one admin token, all stopped by PID at the
# end (also on failure). A failing test's report carries each process's log
# tail (conftest's hook reads item._dstore_servers).
#
#     def test_x(cluster):
#         cluster.start_control()
#         nodes = [cluster.add_node() for _ in range(3)]
#         proxy = cluster.start_proxy()
#         ...
#         cluster.ranges()          # the range records, from etcd
#         cluster.ctl("status")     # dstorectl, on this cluster
#
# Command lines (the lead wires them in src/cmd/main.c):
#   dstore node    --etcd URL --etcd-prefix P --data DIR --listen H:P --cluster-key FILE
#                  --admin-token T --lease-ttl S
#   dstore proxy   --etcd URL --etcd-prefix P --listen H:P --cluster-key FILE --admin-token T
#   dstore control --etcd URL --etcd-prefix P --cluster-key FILE --lease-ttl S
#                  [--replication-factor N] [--ranges-per-table N]
# ==========================================================================

import base64 as _b64
import re as _re
import secrets as _secrets
import threading as _threading

CLUSTER_PREFIX = "/dstore-e2e/"
MAX_HASH = 4294967295


class EtcdClient:
    """etcd's JSON gateway (/v3/*), with the cluster prefix added to keys.
    Values are str (JSON text) or bytes."""

    def __init__(self, url, prefix=CLUSTER_PREFIX):
        self.url = url.rstrip("/")
        self.prefix = prefix

    @staticmethod
    def _b(s):
        return _b64.b64encode(s if isinstance(s, bytes) else s.encode()).decode()

    def call(self, path, body, timeout=5.0):
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read().decode() or "{}")

    def _key(self, key):
        return (self.prefix + key).encode()

    def put(self, key, value, lease=0):
        body = {"key": self._b(self._key(key)), "value": self._b(value)}
        if lease:
            body["lease"] = str(lease)
        return self.call("/v3/kv/put", body)

    def get(self, key):
        """(value str, mod_revision int) or None."""
        out = self.call("/v3/kv/range", {"key": self._b(self._key(key))})
        kvs = out.get("kvs") or []
        if not kvs:
            return None
        return _b64.b64decode(kvs[0].get("value", "")).decode(), int(kvs[0]["mod_revision"])

    def range(self, prefix):
        """[(key without the cluster prefix, value str, mod_revision)] in key order."""
        k = self._key(prefix)
        end = k[:-1] + bytes([k[-1] + 1])
        out = self.call("/v3/kv/range", {"key": self._b(k), "range_end": self._b(end)})
        strip = len(self.prefix)
        return [(_b64.b64decode(kv["key"]).decode()[strip:],
                 _b64.b64decode(kv.get("value", "")).decode(), int(kv["mod_revision"]))
                for kv in out.get("kvs") or []]

    def delete(self, key, prefix=False):
        k = self._key(key)
        body = {"key": self._b(k)}
        if prefix:
            body["range_end"] = self._b(k[:-1] + bytes([k[-1] + 1]))
        return int(self.call("/v3/kv/deleterange", body).get("deleted", 0))

    def replace(self, key, mod_rev, value):
        """Compare-and-swap on the key's mod revision. True if applied."""
        k = self._b(self._key(key))
        out = self.call("/v3/kv/txn", {
            "compare": [{"key": k, "target": "MOD", "result": "EQUAL", "mod_revision": str(mod_rev)}],
            "success": [{"request_put": {"key": k, "value": self._b(value)}}]})
        return bool(out.get("succeeded"))

    def lease_grant(self, ttl):
        return int(self.call("/v3/lease/grant", {"TTL": str(ttl)})["ID"])

    def lease_keepalive(self, lease):
        self.call("/v3/lease/keepalive", {"ID": str(lease)})

    def lease_revoke(self, lease):
        try:
            self.call("/v3/lease/revoke", {"ID": str(lease)})
        except urllib.error.HTTPError:
            pass


class FakeNode:
    """A node/{uuid}/details record on a kept-alive lease, with no process
    behind it: enough for the control plane, which only reads the record.
    die() stops the keep-alive and revokes the lease (the record goes at
    once, as when a node's lease expires)."""

    def __init__(self, etcd_client, uuid=None, ttl=2):
        import uuid as _uuid
        self.ec = etcd_client
        self.uuid = uuid or str(_uuid.uuid4())
        self.uri = "http://127.0.0.1:%d/" % free_port()
        self.ttl = ttl
        self.lease = None
        self._stop = None
        self._thread = None

    def start(self):
        self.lease = self.ec.lease_grant(self.ttl)
        self.ec.put("node/%s/details" % self.uuid,
                    json.dumps({"status": "okay", "uri": self.uri, "version": "fake"}), self.lease)
        self._stop = _threading.Event()
        self._thread = _threading.Thread(target=self._keep, daemon=True)
        self._thread.start()
        return self

    def _keep(self):
        while not self._stop.wait(self.ttl / 3.0):
            try:
                self.ec.lease_keepalive(self.lease)
            except (OSError, ValueError, urllib.error.URLError):
                pass

    def die(self):
        if self._stop:
            self._stop.set()
            self._thread.join()
            self._stop = None
        if self.lease:
            self.ec.lease_revoke(self.lease)
            self.lease = None

    def alive(self):
        return self._stop is not None


class FakeLeaders:
    """Does for fake nodes what a range leader does: brings every live
    replica of its ranges into the in-sync set (by compare-and-swap on the
    record), as if it had caught up. Runs on a thread until stop()."""

    def __init__(self, cluster, alive_fn, period=0.2):
        self.cluster = cluster
        self.alive_fn = alive_fn
        self.period = period
        self._stop = _threading.Event()
        self._thread = _threading.Thread(target=self._run, daemon=True)
        self.paused = False

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join()

    def _run(self):
        while not self._stop.wait(self.period):
            if self.paused:
                continue
            try:
                for key, rec, rev in self.cluster.range_records():
                    if not self.alive_fn(rec.get("node", "")):
                        continue
                    want = [u for u in rec.get("replicas", []) if self.alive_fn(u)]
                    missing = [u for u in want if u not in rec.get("inSync", [])]
                    if missing:
                        rec["inSync"] = rec.get("inSync", []) + missing
                        self.cluster.etcd.replace(key, rev, json.dumps(rec))
            except (OSError, ValueError, urllib.error.URLError):
                pass


class ClusterProcess(DstoreServer):
    """One `dstore node` or `dstore proxy` (DstoreServer's process control,
    /health readiness, logs and clients), on the cluster's etcd, key and
    admin token."""

    def __init__(self, cluster, role, name, extra_args=()):
        super().__init__(extra_args=extra_args, name=name)
        self.cluster = cluster
        self.role = role
        self.admin_token = cluster.admin_token

    def command(self):
        args = [DSTORE_BIN, self.role, "--listen", "%s:%d" % (HOST, self.port),
                "--etcd", self.cluster.etcd_url, "--etcd-prefix", self.cluster.prefix,
                "--cluster-key", self.cluster.key_file, "--admin-token", self.admin_token,
                "--lease-ttl", str(self.cluster.lease_ttl)]
        if self.role == "node":
            args += ["--data", self.data_dir]
        return args + self.extra_args

    @property
    def uri(self):
        return "http://%s:%d/" % (HOST, self.port)

    def uuid(self, timeout=15):
        """The node's uuid, from its start-up line "node UUID ..."."""
        deadline = time.monotonic() + timeout
        while True:
            m = _re.search(r"node ([0-9a-f-]{36})", self.log_text())
            if m or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert m, "%s did not print its uuid:\n%s" % (self.name, self.log_tail())
        return m.group(1)


class ControlProcess(ManagedProcess):
    """One `dstore control` (no port): started, stopped and killed by PID."""

    def __init__(self, cluster, name="control", extra_args=()):
        self.cluster = cluster
        self.name = name
        self.extra_args = list(extra_args)
        self.root = tempfile.mkdtemp(prefix="dstore-ctl-")
        self.log_path = os.path.join(self.root, "control.log")
        self.proc = None
        self._log = None

    def command(self):
        return [DSTORE_BIN, "control", "--etcd", self.cluster.etcd_url,
                "--etcd-prefix", self.cluster.prefix, "--cluster-key", self.cluster.key_file,
                "--lease-ttl", str(self.cluster.lease_ttl)] + self.extra_args

    def start(self):
        self._log = open(self.log_path, "ab")
        self._log.write(("\n==== start %s: %s\n" % (time.strftime("%H:%M:%S"),
                                                     " ".join(self.command()))).encode())
        self._log.flush()
        self.proc = subprocess.Popen(self.command(), stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=self.root)
        time.sleep(0.2)
        if self.proc.poll() is not None:
            raise RuntimeError("%s exited at once (status %s):\n%s"
                               % (self.name, self.proc.returncode, self.log_tail()))
        return self


def wait_for(cond, timeout, what, interval=0.1):
    """Polls cond() until it returns a true value (returned), or fails."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out after %.1f s waiting for %s (last: %r)" % (timeout, what, last))


class Cluster:
    """A whole cluster on one etcd. Every process it starts is stopped by
    cleanup(), which the `cluster` fixture always calls."""

    def __init__(self, etcd_server, registry, lease_ttl=2):
        self.etcd_server = etcd_server
        self.etcd_url = etcd_server.url
        self.prefix = CLUSTER_PREFIX
        self.etcd = EtcdClient(self.etcd_url, self.prefix)
        self.root = tempfile.mkdtemp(prefix="dstore-cluster-")
        self.key_file = os.path.join(self.root, "cluster.key")  # created by the first process
        self.admin_token = "adm-" + _secrets.token_hex(16)
        self.lease_ttl = lease_ttl
        self.registry = registry  # the test item's list of processes (for failure logs)
        self.controls, self.nodes, self.proxies, self.fakes = [], [], [], []
        self._helpers = []

    # ---- processes

    def start_control(self, extra_args=(), wait_leader=True):
        c = ControlProcess(self, name="control %d" % (len(self.controls) + 1), extra_args=extra_args)
        self.controls.append(c)
        self.registry.append(c)
        c.start()
        if wait_leader:
            wait_for(lambda: self.etcd.get("control/leader"), 15, "a control plane to lead")
        return c

    def add_node(self, extra_args=(), start=True):
        n = ClusterProcess(self, "node", "node %d" % (len(self.nodes) + 1), extra_args)
        self.nodes.append(n)
        self.registry.append(n)
        if start:
            n.start()
            n.node_uuid = n.uuid()
            wait_for(lambda: self.etcd.get("node/%s/details" % n.node_uuid), 15,
                     "%s to register" % n.name)
        return n

    def start_proxy(self, extra_args=()):
        p = ClusterProcess(self, "proxy", "proxy %d" % (len(self.proxies) + 1), extra_args)
        self.proxies.append(p)
        self.registry.append(p)
        p.start()
        return p

    def fake_node(self):
        f = FakeNode(self.etcd, ttl=self.lease_ttl).start()
        self.fakes.append(f)
        return f

    def fake_leaders(self):
        """Catch-up simulation for fake nodes (see FakeLeaders)."""
        def is_alive(u):
            return any(f.uuid == u and f.alive() for f in self.fakes)
        h = FakeLeaders(self, is_alive).start()
        self._helpers.append(h)
        return h

    def node_by_uuid(self, uuid):
        return next(n for n in self.nodes if getattr(n, "node_uuid", None) == uuid)

    def cleanup(self):
        for h in self._helpers:
            h.stop()
        for p in self.proxies:
            p.cleanup()
        for c in self.controls:
            c.stop()
        for n in self.nodes:
            n.cleanup()
        for f in self.fakes:
            f.die()
        for c in self.controls:
            c.cleanup()
        if not os.environ.get("DSTORE_E2E_KEEP"):
            shutil.rmtree(self.root, ignore_errors=True)

    # ---- state

    def range_records(self):
        """[(key, record dict, mod_revision)] of every range (tenant/...)."""
        return [(k, json.loads(v), rev) for k, v, rev in self.etcd.range("tenant/")]

    def ranges(self, tenant=None, table=None):
        out = []
        for k, rec, rev in self.range_records():
            _, tn, tb, low = k.split("/", 3)
            if (tenant and tn != tenant) or (table and tb != table):
                continue
            rec.update(tenant=tn, tableName=tb, key=k, modRevision=rev)
            out.append(rec)
        return sorted(out, key=lambda r: (r["tenant"], r["tableName"], r["lowHash"]))

    def live_uuids(self):
        out = set()
        for k, v, _ in self.etcd.range("node/"):
            m = _re.fullmatch(r"node/([^/]+)/details", k)
            if m:
                out.add(m.group(1))
        return out

    def holdings(self):
        """{uuid: (replicas, leaderships)} over every range."""
        h = {}
        for r in self.ranges():
            for u in r.get("replicas", []):
                rep, lead = h.get(u, (0, 0))
                h[u] = (rep + 1, lead)
            u = r.get("node", "")
            rep, lead = h.get(u, (0, 0))
            h[u] = (rep, lead + 1)
        return h

    def ctl(self, *args, check=True, timeout=60):
        """Runs dstorectl on this cluster; returns the CompletedProcess."""
        exe = os.path.join(os.path.dirname(DSTORE_BIN), "dstorectl")
        r = subprocess.run([exe, "--etcd", self.etcd_url, "--etcd-prefix", self.prefix] + list(args),
                           capture_output=True, text=True, timeout=timeout)
        if check:
            assert r.returncode == 0, "dstorectl %s: exit %d\n%s%s" % (
                " ".join(args), r.returncode, r.stdout, r.stderr)
        return r

    def ctl_json(self, *args):
        return json.loads(self.ctl("--json", *args).stdout)

    def put_table_record(self, tenant, table, table_id):
        """A meta/T/ record as the meta module writes it (for control-only tests)."""
        self.etcd.put("meta/T/%s/%s" % (tenant, table),
                      json.dumps({"id": table_id, "created": int(time.time() * 1000),
                                  "idType": "String", "pk": {"name": "id", "type": "S"},
                                  "sk": None, "extra": {}}))


@pytest.fixture
def cluster(request):
    """A Cluster on a fresh etcd; every process stopped at the end."""
    registry = []
    request.node._dstore_servers = registry
    for s in _fresh_etcd():
        c = Cluster(s, registry)
        try:
            yield c
        finally:
            c.cleanup()


# ---- data-path helpers -------------------------------------------------------

def murmur3_32(data, seed=0):
    """MurmurHash3_x86_32, as src/common/murmur3.c: a key's placement hash is
    murmur3_32 of its partition key's bytes (S: UTF-8)."""
    if isinstance(data, str):
        data = data.encode()
    c1, c2, m = 0xcc9e2d51, 0x1b873593, 0xffffffff
    h = seed
    n = len(data) // 4
    for i in range(n):
        k = int.from_bytes(data[4 * i:4 * i + 4], "little")
        k = (k * c1) & m
        k = ((k << 15) | (k >> 17)) & m
        k = (k * c2) & m
        h ^= k
        h = ((h << 13) | (h >> 19)) & m
        h = (h * 5 + 0xe6546b64) & m
    tail = data[4 * n:]
    k = 0
    if len(tail) >= 3:
        k ^= tail[2] << 16
    if len(tail) >= 2:
        k ^= tail[1] << 8
    if tail:
        k ^= tail[0]
        k = (k * c1) & m
        k = ((k << 15) | (k >> 17)) & m
        k = (k * c2) & m
        h ^= k
    h ^= len(data)
    h ^= h >> 16
    h = (h * 0x85ebca6b) & m
    h ^= h >> 13
    h = (h * 0xc2b2ae35) & m
    h ^= h >> 16
    return h


def covers_hash_space(ranges):
    """True when one table's ranges cover 0..2^32-1 without gap or overlap."""
    next_low = 0
    for r in sorted(ranges, key=lambda r: r["lowHash"]):
        if r["lowHash"] != next_low:
            return False
        next_low = r["highHash"] + 1
    return bool(ranges) and next_low == MAX_HASH + 1


def range_of(ranges, key):
    """The range record (of one table's ranges) holding key's hash."""
    h = murmur3_32(key)
    for r in ranges:
        if r["lowHash"] <= h <= r["highHash"]:
            return r
    raise AssertionError("no range holds hash %d of %r" % (h, key))

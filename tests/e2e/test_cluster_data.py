"""Cluster mode end to end (issue 4, "Done means"): a real etcd, `dstore
control`, three `dstore node`s and a `dstore proxy` on loopback, driven with
boto3 (DynamoDB API) and the REST API through the proxy.

  - writes through the proxy land on every replica of their range, and reads
    find them through any node;
  - SIGKILL of a range leader during a stream of sync writes: the proxy fails
    over, and every acknowledged write is readable afterwards;
  - a node added during writes gets its share of ranges with no write lost
    and no client error beyond retried ones; a drained node ends up with
    nothing and is removed;
  - a node stopped and restarted catches up and rejoins the in-sync sets.

Reading one replica's own copy: each node also serves the client APIs, and a
request with `X-DStore-Read: local` is answered from that node's local
store instead of being routed to the range leader.
"""
import os
import signal
import threading
import time

import boto3.session
import botocore.config
import botocore.exceptions
import pytest

import dstore_client as dc
from cluster_fixtures import (HOST, cluster, covers_hash_space, range_of,  # noqa: F401
                              wait_for)
from conftest import create_tenant, unique

LOCAL = {"X-DStore-Read": "local"}
T = "items"  # the DynamoDB table of every test
_SESSION = boto3.session.Session()


def ddb(server, tenant, attempts=1, local=False):
    """A boto3 DynamoDB client on server (a proxy or a node). attempts > 1
    lets botocore retry what it considers retryable (throttling, 5xx)."""
    cfg = botocore.config.Config(retries={"max_attempts": attempts, "mode": "standard"},
                                 connect_timeout=5, read_timeout=30)
    c = _SESSION.client("dynamodb", endpoint_url="http://%s:%d" % (HOST, server.port),
                        region_name="us-east-1", aws_access_key_id=tenant.key,
                        aws_secret_access_key=tenant.secret, config=cfg)
    if local:
        def add_header(request, **kw):
            request.headers["X-DStore-Read"] = "local"
        c.meta.events.register("before-sign.dynamodb.GetItem", add_header)
    return c


def settled(cluster, tenant, table, rf=3):  # noqa: F811
    """The table's ranges once each has rf replicas, all in sync, led by a live node."""
    rs = cluster.ranges(tenant=tenant, table=table)
    live = cluster.live_uuids()
    if not covers_hash_space(rs):
        return None
    for r in rs:
        if len(r["replicas"]) != rf or sorted(r["inSync"]) != sorted(r["replicas"]):
            return None
        if r["node"] not in live:
            return None
    return rs


def start_three(cluster, control_args=(), node_args=()):  # noqa: F811
    """control + 3 nodes + proxy, a tenant, and the DynamoDB table T ready
    (the extra arguments go to the control plane and to each node)."""
    cluster.start_control(extra_args=control_args)
    for _ in range(3):
        cluster.add_node(extra_args=node_args)
    proxy = cluster.start_proxy()
    tenant = create_tenant(proxy, unique("tn"))
    c = ddb(proxy, tenant)
    c.create_table(TableName=T, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                   AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                   BillingMode="PAY_PER_REQUEST")
    wait_for(lambda: settled(cluster, tenant.name, T), 30, "the ranges of table t")
    return cluster, proxy, tenant


@pytest.fixture
def three(cluster):  # noqa: F811
    """start_three with the default settings."""
    return start_three(cluster)


class Writers:
    """Threads putting distinct items through a proxy as fast as they can,
    recording every acknowledged write (key -> value) and every error.
    value_bytes pads each value to that length."""

    def __init__(self, proxy, tenant, n=3, attempts=1, prefix="w", keep=None, value_bytes=0):
        self.clients = [ddb(proxy, tenant, attempts=attempts) for _ in range(n)]
        self.prefix = prefix
        self.keep = keep  # None, or key -> bool: write only the keys it accepts
        self.value_bytes = value_bytes
        self.acked = {}
        self.errors = []
        self.ack_times = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                         for i in range(n)]

    def _run(self, i):
        c = self.clients[i]
        seq = 0
        while not self._stop.is_set():
            key = "%s%d-%d" % (self.prefix, i, seq)
            val = ("v%d" % seq).ljust(self.value_bytes, "x")
            seq += 1
            if self.keep and not self.keep(key):
                continue
            try:
                c.put_item(TableName=T, Item={"id": {"S": key}, "v": {"S": val}})
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                with self._lock:
                    self.errors.append((time.monotonic(), key, str(e)[:200]))
                time.sleep(0.05)
                continue
            with self._lock:
                self.acked[key] = val
                self.ack_times.append(time.monotonic())

    def start(self):
        for t in self._threads:
            t.start()
        return self

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(60)

    def acks_after(self, t0):
        with self._lock:
            return sum(1 for t in self.ack_times if t > t0)


def check_all_readable(proxy, tenant, acked):
    c = ddb(proxy, tenant, attempts=3)
    missing = []
    for key, val in acked.items():
        got = c.get_item(TableName=T, Key={"id": {"S": key}}, ConsistentRead=True).get("Item")
        if not got or got["v"]["S"] != val:
            missing.append((key, val, got))
    assert not missing, "%d of %d acknowledged writes lost, e.g. %r" % (
        len(missing), len(acked), missing[:5])


def check_on_replicas(cluster, tenant, keys):  # noqa: F811
    """Every key is in the local copy of every in-sync replica of its range."""
    rs = cluster.ranges(tenant=tenant.name, table=T)
    locals_ = {n.node_uuid: ddb(n, tenant, local=True) for n in cluster.nodes if n.alive()}
    missing = []
    for key, val in keys.items():
        r = range_of(rs, key)
        for u in r["inSync"]:
            assert u in locals_, "in-sync replica %s of %r is not a running node" % (u, r)
            got = locals_[u].get_item(TableName=T, Key={"id": {"S": key}}).get("Item")
            if not got or got["v"]["S"] != val:
                missing.append((key, u[:8], got))
    assert not missing, "%d copies missing, e.g. %r" % (len(missing), missing[:5])


# ---- the tests ------------------------------------------------------------------


def test_writes_land_on_every_replica_and_any_node_reads_them(three):
    cluster, proxy, tenant = three
    c = ddb(proxy, tenant)
    items = {"k%03d" % i: "value %d" % i for i in range(120)}
    for k, v in items.items():
        c.put_item(TableName=T, Item={"id": {"S": k}, "v": {"S": v}})
    check_on_replicas(cluster, tenant, items)
    # every node answers for every key (routing it to the leader when needed)
    for n in cluster.nodes:
        nc = ddb(n, tenant)
        for k in list(items)[:20]:
            assert nc.get_item(TableName=T, Key={"id": {"S": k}})["Item"]["v"]["S"] == items[k]
    # queries and scans through the proxy see everything
    seen = set()
    kw = {"TableName": T}
    while True:
        page = c.scan(**kw)
        seen.update(i["id"]["S"] for i in page["Items"])
        if "LastEvaluatedKey" not in page:
            break
        kw["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    assert seen == set(items)

    # the REST API, same cluster: a table, entries, listing
    rest = proxy.client(dc.SigV4(tenant.key, tenant.secret))
    dc.assert_status(rest.put(dc.table_path(tenant.name, "rest")), 201, rest)
    wait_for(lambda: settled(cluster, tenant.name, "rest"), 30, "the ranges of table r")
    for i in range(40):
        dc.assert_status(rest.put(dc.entry_path(tenant.name, "rest", "e%02d" % i), {"n": i}), 201, rest)
    rs = cluster.ranges(tenant=tenant.name, table="rest")
    for i in range(40):
        key = "e%02d" % i
        for u in range_of(rs, key)["inSync"]:
            n = cluster.node_by_uuid(u)
            nc = n.client(dc.SigV4(tenant.key, tenant.secret))
            r = nc.get(dc.entry_path(tenant.name, "rest", key), headers=LOCAL)
            dc.assert_status(r, 200, nc)
            assert r.json()["n"] == i
    # listing merges the leaders' answers in ID order, each entry once (every
    # node's index also holds its other ranges: they must not leak in twice)
    want = ["e%02d" % i for i in range(40)]
    r = rest.get(dc.ids_path(tenant.name, "rest", dc.qs(prefix="e", limit=100)))
    dc.assert_status(r, 200, rest)
    assert [x["id"] for x in r.json()["items"]] == want
    assert [x["value"]["n"] for x in r.json()["items"]] == list(range(40))
    got, after = [], None
    for _ in range(20):  # pages of 7 across range boundaries
        r = rest.get(dc.ids_path(tenant.name, "rest", dc.qs(limit=7, after=after)))
        dc.assert_status(r, 200, rest)
        got += [x["id"] for x in r.json()["items"]]
        after = r.json().get("next")
        if not after:
            break
    assert got == want
    r = rest.get(dc.ids_path(tenant.name, "rest", dc.qs(count=True, prefix="e")))
    dc.assert_status(r, 200, rest)
    assert r.json() == {"count": 40}


def test_sigkill_of_a_leader_during_sync_writes_loses_no_acknowledged_write(three):
    cluster, proxy, tenant = three
    w = Writers(proxy, tenant, n=3).start()
    try:
        wait_for(lambda: len(w.acked) >= 100, 30, "writes to flow")
        h = cluster.holdings()
        victim_uuid = max((u for u in h if u), key=lambda u: h[u][1])
        victim = cluster.node_by_uuid(victim_uuid)
        victim.kill9()
        t_kill = time.monotonic()
        # the control plane notices when the lease expires and fails over
        wait_for(lambda: all(r["node"] != victim_uuid
                             for r in cluster.ranges(tenant=tenant.name, table=T)),
                 30, "new leaders for the dead node's ranges")
        wait_for(lambda: w.acks_after(time.monotonic() - 0.5) > 20, 30,
                 "writes to flow again after the failover")
        time.sleep(1)
    finally:
        w.stop()
    assert w.acks_after(t_kill) > 0
    check_all_readable(proxy, tenant, w.acked)
    # the survivors hold every acknowledged write
    check_on_replicas(cluster, tenant, w.acked)
    late = [e for e in w.errors if e[0] > t_kill + 15]
    assert not late, "errors long after the failover: %r" % late[:5]


def test_a_node_added_during_writes_gets_its_share_and_a_drained_one_leaves(three):
    cluster, proxy, tenant = three
    w = Writers(proxy, tenant, n=2, attempts=5).start()
    try:
        wait_for(lambda: len(w.acked) >= 50, 30, "writes to flow")
        new = cluster.add_node()

        def has_share():
            rs = settled(cluster, tenant.name, T)
            if not rs:
                return None
            h = cluster.holdings()
            reps = sorted(h.get(n.node_uuid, (0, 0))[0] for n in cluster.nodes)
            return reps[0] >= 5 and reps[-1] - reps[0] <= 1 and reps
        wait_for(has_share, 120, "the new node to hold its share of replicas", interval=0.5)
        n_before = len(w.acked)
        wait_for(lambda: len(w.acked) > n_before + 20, 30, "writes to go on")
    finally:
        w.stop()
    assert not w.errors, "client errors (after the SDK's retries): %r" % w.errors[:5]
    check_all_readable(proxy, tenant, w.acked)
    check_on_replicas(cluster, tenant, w.acked)

    # drain the new node: it ends up with nothing, then it is removed
    r = cluster.ctl("node", "drain", new.node_uuid, "--timeout", "120", timeout=150)
    assert "drained" in r.stdout, r.stdout + r.stderr
    wait_for(lambda: settled(cluster, tenant.name, T), 60, "every range fully replicated")
    assert new.node_uuid not in str(cluster.ranges())
    new.stop()
    r = cluster.ctl("node", "remove", new.node_uuid)
    assert "removed" in r.stdout
    check_all_readable(proxy, tenant, w.acked)


@pytest.mark.parametrize("how", ["stop", "kill9"])
def test_a_restarted_node_catches_up_and_rejoins_the_in_sync_sets(three, how):
    cluster, proxy, tenant = three
    w = Writers(proxy, tenant, n=2).start()
    try:
        wait_for(lambda: len(w.acked) >= 50, 30, "writes to flow")
        # a node that leads nothing, if there is one (else any)
        h = cluster.holdings()
        node = min(cluster.nodes, key=lambda n: h.get(n.node_uuid, (0, 0))[1])
        node.stop() if how == "stop" else node.kill9()
        wait_for(lambda: all(node.node_uuid not in r["inSync"]
                             for r in cluster.ranges(tenant=tenant.name, table=T)),
                 30, "the stopped node to leave the in-sync sets")
        n_down = len(w.acked)
        wait_for(lambda: len(w.acked) > n_down + 100, 30, "writes while it is down")
        node.start()
        wait_for(lambda: settled(cluster, tenant.name, T), 60,
                 "the restarted node back in every in-sync set")
        assert all(node.node_uuid in r["inSync"] for r in cluster.ranges(tenant=tenant.name, table=T))
        time.sleep(0.5)
    finally:
        w.stop()
    check_all_readable(proxy, tenant, w.acked)
    check_on_replicas(cluster, tenant, w.acked)


def test_writes_go_on_without_a_control_plane(three):
    """docs/cluster.md: the control plane's death costs nothing on the data
    path: leaders still drop a dead follower from their in-sync sets and go
    on; only the dead node's own ranges wait (no failover) until a control
    plane is back."""
    cluster, proxy, tenant = three
    cluster.controls[0].kill9()
    # writes to the dead node's ranges wait (up to the proxy's 10 s), so many writers
    w = Writers(proxy, tenant, n=8).start()
    try:
        wait_for(lambda: len(w.acked) >= 50, 30, "writes to flow without a control plane")
        h = cluster.holdings()
        node = min(cluster.nodes, key=lambda n: h.get(n.node_uuid, (0, 0))[1])
        node.kill9()
        u = node.node_uuid

        def fenced():
            rs = cluster.ranges(tenant=tenant.name, table=T)
            return all(u not in r["inSync"] for r in rs if r["node"] != u) and rs
        rs = wait_for(fenced, 30, "the leaders to drop the dead follower on their own")
        assert any(r["node"] == u for r in rs), "nothing fails over without a control plane"
        # writers that avoid the dead leader's ranges must not wait on it
        w2 = Writers(proxy, tenant, n=2, prefix="live",
                     keep=lambda k: range_of(rs, k)["node"] != u).start()
        try:
            wait_for(lambda: len(w2.acked) > 30, 30, "writes to the other ranges")
        finally:
            w2.stop()
        assert not w2.errors, "writes to live leaders' ranges failed: %s" % w2.errors[:3]
        live_acked = dict(w2.acked)
        cluster.start_control()
        wait_for(lambda: all(r["node"] != u for r in cluster.ranges(tenant=tenant.name, table=T)),
                 30, "failover once a control plane is back")
        node.start()
        wait_for(lambda: settled(cluster, tenant.name, T), 60, "every replica back in sync")
        n_back = len(w.acked)
        wait_for(lambda: len(w.acked) > n_back + 50, 30, "writes to go on")
    finally:
        w.stop()
    w.acked.update(live_acked)
    check_all_readable(proxy, tenant, w.acked)
    check_on_replicas(cluster, tenant, w.acked)


def test_async_is_acked_by_the_leader_alone_and_sync_waits_for_the_in_sync_set(three):
    """A table created with "replication": "async" acknowledges writes once
    the leader has them; X-DStore-Replication: sync overrides it, and a sync
    write is acknowledged only when every follower left in the in-sync set
    has it. With both followers of a range stopped (SIGSTOP: alive to etcd
    for a lease TTL, silent to the leader), the async write's answer comes
    while they are still in the in-sync set, the sync write's only after the
    leader has dropped them from it."""
    cluster, proxy, tenant = three
    rest = proxy.client(dc.SigV4(tenant.key, tenant.secret))
    dc.assert_status(rest.put(dc.table_path(tenant.name, "lazy"), {"replication": "async"}), 201, rest)
    r = rest.get(dc.table_path(tenant.name, "lazy"))
    dc.assert_status(r, 200, rest)
    assert r.json()["replication"] == "async"
    r = rest.put(dc.table_path(tenant.name, "bad"), {"replication": "quorum"})
    dc.assert_error(r, 400, "InvalidParameter", rest)
    wait_for(lambda: settled(cluster, tenant.name, "lazy"), 30, "the ranges of lazy")
    rs = cluster.ranges(tenant=tenant.name, table="lazy")
    rec = range_of(rs, "k0")
    k2 = next("k%d" % i for i in range(1, 10000) if range_of(rs, "k%d" % i)["lowHash"] == rec["lowHash"])
    followers = [cluster.node_by_uuid(u) for u in rec["inSync"] if u != rec["node"]]
    assert len(followers) == 2, rec
    for n in followers:
        os.kill(n.proc.pid, signal.SIGSTOP)
    try:
        dc.assert_status(rest.put(dc.entry_path(tenant.name, "lazy", "k0"), {"a": 1}), 201, rest)
        now = range_of(cluster.ranges(tenant=tenant.name, table="lazy"), "k0")
        assert all(n.node_uuid in now["inSync"] for n in followers), \
            "an async write waited for its followers: %r" % now
        r = rest.request("PUT", dc.entry_path(tenant.name, "lazy", k2), body='{"b":2}',
                         headers={"X-DStore-Replication": "sync"})
        dc.assert_status(r, 201, rest)
        now = range_of(cluster.ranges(tenant=tenant.name, table="lazy"), k2)
        assert not any(n.node_uuid in now["inSync"] for n in followers), \
            "a sync write was acknowledged while silent followers were in the in-sync set: %r" % now
    finally:
        for n in followers:
            os.kill(n.proc.pid, signal.SIGCONT)
    wait_for(lambda: settled(cluster, tenant.name, "lazy"), 60, "the followers back in sync")
    for key, want in (("k0", {"a": 1}), (k2, {"b": 2})):
        r = rest.get(dc.entry_path(tenant.name, "lazy", key))
        dc.assert_status(r, 200, rest)
        assert r.json() == want

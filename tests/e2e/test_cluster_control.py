"""The control plane on a real etcd (issue 4; src/cluster/control.h), with
fake nodes: node/{uuid}/details records on leases with no process behind
them, and a helper that does what range leaders do (bring caught-up replicas
into the in-sync set). So these tests see `dstore control` and `dstorectl`
alone: placement, failover, fencing, rebalancing, drain, removal and
leadership of the control plane itself.

The data path (real nodes, proxy, replication) is tested in
test_cluster_data.py.
"""
import json
import os
import signal
import time


from cluster_fixtures import cluster, covers_hash_space, wait_for  # noqa: F401


def settled(cluster, table, n=8, rf=3):  # noqa: F811
    rs = cluster.ranges(table=table)
    if len(rs) != n or not covers_hash_space(rs):
        return None
    for r in rs:
        if len(r["replicas"]) != rf or sorted(r["inSync"]) != sorted(r["replicas"]):
            return None
    return rs


def test_a_new_table_gets_ranges_on_three_nodes(cluster):  # noqa: F811
    fakes = [cluster.fake_node() for _ in range(3)]
    cluster.start_control()
    cluster.put_table_record("acme", "orders", 7)
    rs = wait_for(lambda: settled(cluster, "orders"), 15, "8 ranges of acme/orders")
    uris = {f.uuid: f.uri for f in fakes}
    leaders = {}
    for r in rs:
        assert r["table"] == 7 and r["tenant"] == "acme"
        assert r["epoch"] == 1
        assert r["node"] in r["replicas"] and r["node"] in r["inSync"]
        assert r["uri"] == uris[r["node"]]
        assert r["highHash"] - r["lowHash"] + 1 == 1 << 29
        leaders[r["node"]] = leaders.get(r["node"], 0) + 1
    assert sorted(leaders.values()) == [2, 3, 3], leaders

    # dstorectl shows the same, for scripts and for people
    listed = cluster.ctl_json("range", "list", "--table", "acme/orders")["ranges"]
    assert [(r["lowHash"], r["leader"], r["replicas"], r["epoch"]) for r in listed] == \
        [(r["lowHash"], r["node"], r["replicas"], r["epoch"]) for r in rs]
    assert all(r["state"] == "ok" for r in listed)
    text = cluster.ctl("range", "list").stdout
    assert "acme" in text and "orders" in text and "0-536870911" in text and "8 ranges" in text
    st = cluster.ctl_json("status")
    assert st["control"] and st["ranges"] == 8 and st["tables"] == 1
    assert st["leaderless"] == 0 and st["underReplicated"] == 0 and st["nodes"] == 3
    nodes = {n["uuid"]: n for n in cluster.ctl_json("node", "list")["nodes"]}
    assert sum(n["replicas"] for n in nodes.values()) == 24
    assert sorted(n["leaders"] for n in nodes.values()) == [2, 3, 3]


def test_dropped_table_loses_its_ranges(cluster):  # noqa: F811
    [cluster.fake_node() for _ in range(3)]
    cluster.start_control()
    cluster.put_table_record("acme", "a", 1)
    cluster.put_table_record("acme", "b", 2)
    wait_for(lambda: settled(cluster, "a") and settled(cluster, "b"), 15, "ranges of both tables")
    cluster.etcd.delete("meta/T/acme/a")
    wait_for(lambda: not cluster.ranges(table="a"), 10, "the dropped table's ranges to go")
    assert len(cluster.ranges(table="b")) == 8
    # dropped and created again under the same name: new id, new ranges
    cluster.put_table_record("acme", "b", 3)
    wait_for(lambda: (lambda rs: len(rs) == 8 and all(r["table"] == 3 for r in rs))(
        cluster.ranges(table="b")), 15, "the ranges of the new acme/b")


def test_a_dead_leader_is_replaced_from_the_in_sync_set(cluster):  # noqa: F811
    fakes = [cluster.fake_node() for _ in range(3)]
    ctl = cluster.start_control()
    cluster.put_table_record("acme", "t", 1)
    before = {r["lowHash"]: r for r in wait_for(lambda: settled(cluster, "t"), 15, "ranges")}
    victim = fakes[0]
    victim.die()

    def failed_over():
        rs = cluster.ranges(table="t")
        return all(r["node"] != victim.uuid and victim.uuid not in r["inSync"] for r in rs) and rs
    rs = wait_for(failed_over, 10, "every range led by a live node, the dead one out of sync")
    uris = {f.uuid: f.uri for f in fakes}
    for r in rs:
        old = before[r["lowHash"]]
        if old["node"] == victim.uuid:
            assert r["node"] in old["inSync"]
            assert r["epoch"] == old["epoch"] + 1
            assert r["uri"] == uris[r["node"]]
        else:
            assert r["node"] == old["node"] and r["epoch"] == old["epoch"]
        assert victim.uuid in r["replicas"], "3 nodes: no spare, it stays a replica to catch up"
    st = cluster.ctl_json("status")
    assert st["leaderless"] == 0 and st["underReplicated"] == 8 and st["nodesDown"] == 1
    assert "failover" in ctl.log_text()


def test_a_range_without_a_live_in_sync_replica_stays_leaderless(cluster):  # noqa: F811
    fakes = [cluster.fake_node() for _ in range(3)]
    ctl = cluster.start_control(extra_args=["--ranges-per-table", "1"])
    cluster.put_table_record("acme", "t", 1)
    (r,) = wait_for(lambda: settled(cluster, "t", n=1), 15, "the range")
    # the leader alone is in sync (its followers fell behind), then it dies
    rec = dict(r)
    key = rec.pop("key")
    rev = rec.pop("modRevision")
    rec.pop("tenant"), rec.pop("tableName")
    rec["inSync"] = [rec["node"]]
    assert cluster.etcd.replace(key, rev, json.dumps(rec))
    next(f for f in fakes if f.uuid == rec["node"]).die()
    wait_for(lambda: "LEADERLESS" in ctl.log_text(), 10, "the control plane to report it")
    time.sleep(1)
    (after,) = cluster.ranges(table="t")
    assert after["node"] == rec["node"] and after["epoch"] == rec["epoch"], \
        "no other replica may lead: it could lack acknowledged writes"
    assert cluster.ctl_json("status")["leaderless"] == 1
    assert "WARNING" in cluster.ctl("status").stdout


def test_a_node_joins_gets_its_share_then_drains_and_is_removed(cluster):  # noqa: F811
    fakes = [cluster.fake_node() for _ in range(3)]
    cluster.fake_leaders()
    cluster.start_control()
    cluster.put_table_record("acme", "x", 1)
    cluster.put_table_record("acme", "y", 2)
    wait_for(lambda: settled(cluster, "x") and settled(cluster, "y"), 15, "ranges")
    new = cluster.fake_node()
    most_moving = 0

    def balanced():
        nonlocal most_moving
        rs = cluster.ranges()
        moving = sum(1 for r in rs if len(r["replicas"]) > 3 or len(r["inSync"]) < len(r["replicas"]))
        most_moving = max(most_moving, moving)
        for r in rs:
            assert len(r["inSync"]) >= 3, "a move never lowers the in-sync count: %r" % r
        h = cluster.holdings()
        reps = [h.get(f.uuid, (0, 0))[0] for f in fakes + [new]]
        leads = [h.get(f.uuid, (0, 0))[1] for f in fakes + [new]]
        return max(reps) - min(reps) <= 1 and max(leads) - min(leads) <= 1 and \
            all(len(r["replicas"]) == 3 for r in rs) and (reps, leads)
    reps, leads = wait_for(balanced, 60, "the new node to get its share", interval=0.05)
    assert reps[-1] == 12 and 3 <= leads[-1] <= 5, (reps, leads)
    assert most_moving <= 2, "at most 2 ranges move at a time, saw %d" % most_moving

    # drain the new node again: progress lines, then nothing left
    r = cluster.ctl("node", "drain", new.uuid, "--timeout", "60")
    assert "drained" in r.stdout, r.stdout
    assert new.uuid not in json.dumps(cluster.ranges())
    listed = {n["uuid"]: n for n in cluster.ctl_json("node", "list")["nodes"]}
    assert listed[new.uuid]["draining"] and listed[new.uuid]["replicas"] == 0
    # a node holding replicas is not removed without --force
    r = cluster.ctl("node", "remove", fakes[0].uuid, check=False)
    assert r.returncode == 1 and "holds" in r.stderr
    new.die()
    r = cluster.ctl("node", "remove", new.uuid)
    assert "removed" in r.stdout
    assert not cluster.etcd.range("node/%s/" % new.uuid)
    assert new.uuid not in {n["uuid"] for n in cluster.ctl_json("node", "list")["nodes"]}


def test_drain_without_waiting_and_undrain(cluster):  # noqa: F811
    fakes = [cluster.fake_node() for _ in range(4)]
    cluster.fake_leaders()
    cluster.start_control(extra_args=["--ranges-per-table", "4"])
    cluster.put_table_record("acme", "x", 1)
    wait_for(lambda: settled(cluster, "x", n=4), 15, "ranges")
    out = cluster.ctl_json("node", "drain", fakes[1].uuid, "--no-wait")
    assert out["node"] == fakes[1].uuid and out["draining"] is True
    wait_for(lambda: fakes[1].uuid not in json.dumps(cluster.ranges()), 30, "the drain")
    assert cluster.etcd.get("node/%s/drain" % fakes[1].uuid)
    r = cluster.ctl("node", "undrain", fakes[1].uuid)
    assert "no longer draining" in r.stdout
    assert cluster.etcd.get("node/%s/drain" % fakes[1].uuid) is None
    # an unknown node cannot be drained
    r = cluster.ctl("node", "drain", "00000000-0000-0000-0000-000000000000", check=False)
    assert r.returncode == 1 and "no node" in r.stderr


def test_a_dead_replica_is_replaced_after_the_grace_period(cluster):  # noqa: F811
    fakes = [cluster.fake_node() for _ in range(4)]
    cluster.fake_leaders()
    cluster.start_control(extra_args=["--ranges-per-table", "4"])
    cluster.put_table_record("acme", "x", 1)
    wait_for(lambda: settled(cluster, "x", n=4), 15, "ranges")
    victim = fakes[0]
    victim.die()
    t0 = time.monotonic()
    # replaced (~10 s grace), then dropped once the replacement is in sync
    wait_for(lambda: settled(cluster, "x", n=4) and victim.uuid not in json.dumps(cluster.ranges()),
             40, "the dead node's replicas to be replaced")
    assert time.monotonic() - t0 >= 5, "replacement must wait for the grace period"


def test_one_control_plane_leads_and_another_takes_over(cluster):  # noqa: F811
    [cluster.fake_node() for _ in range(3)]
    a = cluster.start_control()
    leader, _ = cluster.etcd.get("control/leader")
    b = cluster.start_control(wait_leader=False)
    time.sleep(1.5)
    assert cluster.etcd.get("control/leader")[0] == leader, "the first one keeps leading"
    assert json.loads(cluster.etcd.get("control/config")[0])["replicationFactor"] == 3
    a.stop()  # a clean stop revokes its lease: b takes over at once
    wait_for(lambda: (cluster.etcd.get("control/leader") or ("",))[0] not in ("", leader), 10,
             "the standby to lead")
    cluster.put_table_record("acme", "later", 9)
    wait_for(lambda: settled(cluster, "later"), 15, "the new leader to place a table")
    # SIGKILL: the lease expires, then the other one (restarted) leads
    a.start()
    leader_b = cluster.etcd.get("control/leader")[0]
    os.kill(b.proc.pid, signal.SIGKILL)
    b.proc.wait()
    wait_for(lambda: (cluster.etcd.get("control/leader") or ("",))[0] not in ("", leader_b), 15,
             "a control plane to lead again after a SIGKILL")


def test_dstorectl_node_add_explains_and_usage_errors(cluster):  # noqa: F811
    r = cluster.ctl("node", "add")
    assert "dstore node --etcd %s" % cluster.etcd_url in r.stdout
    r = cluster.ctl("range", "frob", check=False)
    assert r.returncode == 2 and "Usage" in r.stderr
    r = cluster.ctl("node", "remove", "a/b", check=False)
    assert r.returncode == 2
    st = cluster.ctl_json("status")
    assert st["control"] is None and st["ranges"] == 0
    assert "none running" in cluster.ctl("status").stdout


def test_dstorectl_tenants_and_tables(cluster):  # noqa: F811
    [cluster.fake_node() for _ in range(3)]
    cluster.start_control()  # creates the cluster key file
    key = ["--cluster-key", cluster.key_file]
    r = cluster.ctl("tenant", "list", check=False)
    assert r.returncode == 1 and "cluster key" in r.stderr
    made = cluster.ctl_json(*key, "tenant", "create", "acme")
    assert made["name"] == "acme" and made["accessKeyId"] and made["secretAccessKey"]
    r = cluster.ctl(*key, "tenant", "create", "acme", check=False)
    assert r.returncode == 1 and "exists" in r.stderr
    listed = cluster.ctl_json(*key, "tenant", "list")["tenants"]
    assert [(t["name"], t["accessKeyId"], t["tables"]) for t in listed] == \
        [("acme", made["accessKeyId"], 0)]
    assert "secret" not in json.dumps(listed).lower()
    assert "acme" in cluster.ctl(*key, "tenant", "list").stdout
    # a table (as the API would create it): listed with its ranges
    cluster.put_table_record("acme", "orders", 77)
    wait_for(lambda: settled(cluster, "orders"), 15, "ranges of acme/orders")
    tables = cluster.ctl_json(*key, "table", "list", "--tenant", "acme")["tables"]
    assert [(t["table"], t["id"], t["ranges"]) for t in tables] == [("orders", 77, 8)]
    r = cluster.ctl(*key, "tenant", "drop", "acme", check=False)
    assert r.returncode == 1 and "--yes" in r.stderr
    cluster.ctl(*key, "tenant", "drop", "acme", "--yes")
    assert cluster.ctl_json(*key, "tenant", "list")["tenants"] == []
    # its tables went with it, and so do their ranges
    wait_for(lambda: not cluster.ranges(table="orders"), 10, "the dropped tenant's ranges to go")

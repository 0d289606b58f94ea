"""Range splits (issue 4: "Ranges split when they grow past a size"), end to
end: a real etcd, `dstore control`, three `dstore node`s and a proxy.

A split rewrites a range record [low, high] as [low, mid-1] and creates
[mid, high] in one etcd transaction, both at epoch + 1; every replica
already holds both halves, so no data moves (each node starts the child at
the parent's position). The test writes a stream of sync writes through the
proxy, splits ranges while it runs, and checks that every acknowledged write
is readable through the proxy and on every in-sync replica's own copy, that
the ranges still cover the hash space, and that no node re-copied a range.
"""
import time

from cluster_fixtures import cluster, covers_hash_space, wait_for  # noqa: F401
from test_cluster_data import (T, Writers, check_all_readable, check_on_replicas,  # noqa: F401
                               settled, three)

FULL_COPY = "streaming the leader's copy"


def copies(cluster):  # noqa: F811
    """How many full catch-ups (snapshot streams) the nodes have served or pulled."""
    return sum(n.log_text().count(FULL_COPY) for n in cluster.nodes)


def splits_logged(cluster):  # noqa: F811
    return sum(n.log_text().count("(no copy)") for n in cluster.nodes)


def split(cluster, tenant, low, at=None, check=True):  # noqa: F811
    args = ["range", "split", "%s/%s" % (tenant.name, T), str(low)]
    if at is not None:
        args += ["--at", str(at)]
    return cluster.ctl(*args, check=check)


def test_manual_splits_copy_nothing_and_lose_nothing(three):
    cluster, proxy, tenant = three
    rs0 = cluster.ranges(tenant=tenant.name, table=T)
    copies0 = copies(cluster)
    # 1. quiet splits: data written, no write in flight -> no node copies anything
    w = Writers(proxy, tenant, n=3, attempts=8).start()
    try:
        wait_for(lambda: len(w.acked) >= 150, 30, "150 acknowledged writes")
    finally:
        w.stop()
    first = min(rs0, key=lambda r: r["lowHash"])
    split(cluster, tenant, first["lowHash"])  # in the middle
    mid = first["lowHash"] + (first["highHash"] - first["lowHash"] + 1) // 2
    wait_for(lambda: settled(cluster, tenant.name, T), 30, "the split ranges in sync")
    split(cluster, tenant, mid)               # its right half, in the middle again
    last = max(rs0, key=lambda r: r["lowHash"])
    at = last["lowHash"] + 12345
    split(cluster, tenant, last["lowHash"], at=at)
    # a bad split point, or a range that does not exist, is refused
    assert split(cluster, tenant, last["lowHash"], at=last["lowHash"], check=False).returncode
    assert split(cluster, tenant, last["lowHash"] + 1, check=False).returncode
    rs = wait_for(lambda: settled(cluster, tenant.name, T), 30, "the split ranges in sync")
    assert len(rs) == len(rs0) + 3, rs
    assert covers_hash_space(rs)
    lows = {r["lowHash"] for r in rs}
    assert {mid, at, mid + (first["highHash"] - mid + 1) // 2} <= lows
    assert all(r["epoch"] >= 2 for r in rs if r["lowHash"] in lows - {x["lowHash"] for x in rs0})
    check_on_replicas(cluster, tenant, w.acked)
    assert copies(cluster) == copies0, "a split made a node copy a range"
    assert splits_logged(cluster) >= 3 * 3  # each of 3 replicas, 3 splits

    # 2. splits during a stream of sync writes: every acknowledged write
    # survives, on every in-sync replica (a write in flight at the split
    # may make a follower catch up: correct, only slower)
    acked = dict(w.acked)
    w = Writers(proxy, tenant, n=3, attempts=8, prefix="x").start()
    try:
        wait_for(lambda: len(w.acked) >= 100, 30, "100 acknowledged writes")
        for r in sorted(cluster.ranges(tenant=tenant.name, table=T),
                        key=lambda r: r["lowHash"])[::3]:
            split(cluster, tenant, r["lowHash"])
            time.sleep(0.3)
        t0 = time.monotonic()
        wait_for(lambda: w.acks_after(t0) >= 200, 60, "200 writes after the splits")
    finally:
        w.stop()
    acked.update(w.acked)
    rs = wait_for(lambda: settled(cluster, tenant.name, T), 60, "the split ranges in sync")
    assert covers_hash_space(rs)
    check_all_readable(proxy, tenant, acked)
    check_on_replicas(cluster, tenant, acked)

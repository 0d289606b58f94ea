"""Range splits (issue 4: "Ranges split when they grow past a size"), end to
end: a real etcd, `dstore control`, three `dstore node`s and a proxy.

A split rewrites a range record [low, high] as [low, mid-1] and creates
[mid, high] in one etcd transaction, both at epoch + 1; every replica
already holds both halves, so no data moves (each node starts the child at
the parent's position). The manual test writes a stream of sync writes
through the proxy, splits ranges while it runs (`dstorectl range split`),
and checks that every acknowledged write is readable through the proxy and
on every in-sync replica's own copy, that the ranges still cover the hash
space, and that no node re-copied a range. The automatic test starts a
table with one range on nodes with a small --split-bytes and writes until
the leaders have split it several times over; since a leader pauses the
range's writes around its split until its followers hold exactly its copy,
no follower copies a half afterwards even under that steady load, and the
writers (no client-side retries) see no error.
"""
import collections
import re
import time

from cluster_fixtures import cluster, covers_hash_space, range_of, wait_for  # noqa: F401
from test_cluster_data import (T, Writers, check_all_readable, check_on_replicas,  # noqa: F401
                               ddb, settled, start_three, three)

FULL_COPY = "streaming the leader's copy"


def copies(cluster):  # noqa: F811
    """How many full catch-ups (snapshot streams) the nodes have served or pulled."""
    return sum(n.log_text().count(FULL_COPY) for n in cluster.nodes)


# What a catch-up prints when it copies a range (replication_catchup.c): the
# follower as it starts streaming, the leader as it registers the follower
# for it; and what a leader prints when a follower's copy does not match its
# own (replication.c, fol_failed), the cause of such copies. Each names the
# range by its lowHash (group 1).
COPY_LINES = (
    re.compile(r"/(\d+): streaming the leader's copy"),
    re.compile(r"table \d+/(\d+): follower \S+ registered \(snapshot\)"),
    re.compile(r"follower \S+ of \S+/(\d+) failed \((its copy diverged|it knows a newer epoch)\)"),
)
# The control plane moving a range's leadership (control.c, plan_transfer).
MOVE_LINE = re.compile(r"control: \S+/(\d+): leadership \S+ -> \S+ at epoch")


def log_marks(cluster):  # noqa: F811
    """Each node's and control plane's log length now, to read only what
    they log later."""
    return {id(p): len(p.log_bytes()) for p in cluster.nodes + cluster.controls}


def lows_logged_since(procs, marks, patterns):
    """{lowHash: [line, ...]} of the lines procs logged after marks that
    match one of patterns."""
    found = collections.defaultdict(list)
    for p in procs:
        new = p.log_bytes()[marks.get(id(p), 0):].decode("utf-8", errors="replace")
        for line in new.splitlines():
            for pat in patterns:
                m = pat.search(line)
                if m:
                    found[int(m.group(1))].append(line)
    return dict(found)


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


SPLIT_BYTES = 65536
AUTO_SPLIT = "bytes stored (limit"  # the leader's log line for a split it made


def scan_ids(proxy, tenant):  # noqa: F811
    """Every item id a paged Scan through the proxy returns, in a Counter."""
    c = ddb(proxy, tenant, attempts=3)
    seen = collections.Counter()
    kw = {"TableName": T}
    while True:
        page = c.scan(**kw)
        seen.update(i["id"]["S"] for i in page["Items"])
        if "LastEvaluatedKey" not in page:
            return seen
        kw["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_leaders_split_ranges_as_they_grow(cluster):  # noqa: F811
    cluster, proxy, tenant = start_three(cluster, control_args=["--ranges-per-table", "1"],
                                         node_args=["--split-bytes", str(SPLIT_BYTES)])
    assert len(cluster.ranges(tenant=tenant.name, table=T)) == 1
    # the cluster is formed (every replica in sync) and the first write
    # landed: whatever the formation copied is logged before these marks
    ddb(proxy, tenant, attempts=8).put_item(TableName=T, Item={"id": {"S": "first"},
                                                                "v": {"S": "1"}})
    marks = log_marks(cluster)
    # 3000 items of ~210 bytes (key + value; more once stored and sealed):
    # over 600 KB, nine times the limit. attempts=1: botocore retries
    # nothing, so any refusal the proxy did not absorb is an error here
    w = Writers(proxy, tenant, n=3, attempts=1, prefix="s", value_bytes=200).start()
    try:
        wait_for(lambda: len(w.acked) >= 3000, 180, "3000 acknowledged writes", interval=0.5)
    finally:
        w.stop()
    acked = dict(w.acked, first="1")
    plain = sum(len(k) + len(v) for k, v in acked.items())
    assert plain > 8 * SPLIT_BYTES, plain

    def split_enough():
        """The ranges once settled with none far over the limit (a range is
        checked every SPLIT_BYTES/8 bytes it grows, and after each split)."""
        rs = settled(cluster, tenant.name, T)
        if not rs:
            return None
        held = collections.Counter()
        for k, v in acked.items():
            held[range_of(rs, k)["lowHash"]] += len(k) + len(v)
        return rs if max(held.values()) <= 2 * SPLIT_BYTES else None

    rs = wait_for(split_enough, 90, "the ranges split down to the limit", interval=0.5)
    assert len(rs) >= 4, rs
    assert covers_hash_space(rs)
    live = cluster.live_uuids()
    for r in rs:
        assert r["epoch"] >= 2, r  # every range came out of a split
        assert len(set(r["replicas"])) == 3 and set(r["replicas"]) <= live, r
        assert r["node"] in r["replicas"] and r["node"] in r["inSync"], r
    # each split was made by one leader, once: one log line per new range
    assert sum(n.log_text().count(AUTO_SPLIT) for n in cluster.nodes) == len(rs) - 1
    # ... as a quiet point of the range's writes: every replica cut its copy
    # at the same position, so no follower's halves differed from the
    # leader's and none was copied again. What can still copy a range is
    # the control plane moving its leadership under load (it evens out
    # leaderships after splits; docs/cluster.md, "Not yet"): a write in
    # flight on the old leader makes that node's copy differ
    copied = lows_logged_since(cluster.nodes, marks, COPY_LINES)
    moved = lows_logged_since(cluster.controls, marks, (MOVE_LINE,))
    by_split = {low: lines for low, lines in copied.items() if low not in moved}
    assert not by_split, "a split made a follower copy a range: %r" % by_split
    print("ranges copied after a leadership move: %d of %d moved" % (len(copied), len(moved)))
    assert not w.errors, "%d client errors, e.g. %r" % (len(w.errors), w.errors[:3])

    check_all_readable(proxy, tenant, acked)
    check_on_replicas(cluster, tenant, acked)
    # a Scan over every range returns every item once; the only items it
    # may hold beyond the acknowledged ones are writes whose outcome the
    # client did not learn (an error after the leader may have applied them)
    seen = scan_ids(proxy, tenant)
    assert not [k for k, n in seen.items() if n > 1], "items returned twice"
    assert not set(acked) - set(seen), "acknowledged items missing from the scan"
    unknown = {k for _, k, _ in w.errors}
    assert not set(seen) - set(acked) - unknown, "items nobody wrote"

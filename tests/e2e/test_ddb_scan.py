"""DynamoDB API: Scan.

Docs: API Reference Scan ("A single Scan operation reads up to the maximum
number of items set (if using the Limit parameter) or a maximum of 1 MB of
data and then applies any filtering"; LastEvaluatedKey / ExclusiveStartKey;
Segment / TotalSegments for parallel scans: Segment must be less than
TotalSegments, and both or neither are given; Select COUNT; FilterExpression:
Count <= ScannedCount). Developer Guide "Scan" (Scan.ParallelScan) and
Constraints (1 MB result size).
"""

import pytest

from ddb_fixtures import *  # noqa: F401,F403

N_ITEMS = 120


def scan_all(client, **kw):
    items, pages = [], []
    while True:
        r = client.scan(**kw)
        pages.append(r)
        items += r.get("Items", [])
        if "LastEvaluatedKey" not in r:
            return items, pages
        kw["ExclusiveStartKey"] = r["LastEvaluatedKey"]
        assert len(pages) < 2000


def batch_put(client, table, items):
    for i in range(0, len(items), 25):
        reqs = {table: [{"PutRequest": {"Item": it}} for it in items[i:i + 25]]}
        for _ in range(50):
            r = client.batch_write_item(RequestItems=reqs)
            reqs = r.get("UnprocessedItems") or {}
            if not reqs:
                break
        assert not reqs, "unprocessed items remained"


@pytest.fixture(scope="module")
def stable(mddb, module_tables):
    t = module_tables(hash_key=("pk", "S"), range_key=("sk", "N"), prefix="scan")
    items = [{"pk": S("p%02d" % (i % 30)), "sk": N(i), "v": N(i % 7)} for i in range(N_ITEMS)]
    batch_put(mddb, t, items)
    return t


def keys(items):
    return [(i["pk"]["S"], int(i["sk"]["N"])) for i in items]


ALL_KEYS = sorted(("p%02d" % (i % 30), i) for i in range(N_ITEMS))


def test_scan_all_once_across_pages(mddb, stable):
    items, pages = scan_all(mddb, TableName=stable)
    assert sorted(keys(items)) == ALL_KEYS
    for limit in (1, 7, 50):
        items, pages = scan_all(mddb, TableName=stable, Limit=limit)
        k = keys(items)
        assert len(k) == len(set(k)) == N_ITEMS, (limit, len(k), len(set(k)))
        assert sorted(k) == ALL_KEYS
        assert all(len(p["Items"]) <= limit for p in pages)
        assert len(pages) >= N_ITEMS // limit


def test_parallel_scan_segments(mddb, stable):
    seen = []
    per_segment = []
    for seg in range(4):
        items, _ = scan_all(mddb, TableName=stable, Segment=seg, TotalSegments=4, Limit=9)
        per_segment.append(set(keys(items)))
        seen += keys(items)
    assert len(seen) == len(set(seen)), "segments overlap"
    assert sorted(seen) == ALL_KEYS, "segments' union is not the table"
    for a in range(4):
        for b in range(a + 1, 4):
            assert not (per_segment[a] & per_segment[b])
    # one segment is the whole table
    items, _ = scan_all(mddb, TableName=stable, Segment=0, TotalSegments=1)
    assert sorted(keys(items)) == ALL_KEYS


def test_parallel_scan_many_segments(mddb, stable):
    # more segments than items in some segments: still a partition of the table
    seen = []
    for seg in range(16):
        items, _ = scan_all(mddb, TableName=stable, Segment=seg, TotalSegments=16)
        seen += keys(items)
    assert sorted(seen) == ALL_KEYS


def test_scan_filter_counts(mddb, stable):
    items, pages = scan_all(mddb, TableName=stable, FilterExpression="v = :z", ExpressionAttributeValues={":z": N(0)})
    want = sorted(("p%02d" % (i % 30), i) for i in range(N_ITEMS) if i % 7 == 0)
    assert sorted(keys(items)) == want
    assert sum(p["Count"] for p in pages) == len(want)
    assert sum(p["ScannedCount"] for p in pages) == N_ITEMS


def test_scan_select_count_and_projection(mddb, stable):
    _, pages = scan_all(mddb, TableName=stable, Select="COUNT")
    assert sum(p["Count"] for p in pages) == N_ITEMS
    assert not any(p.get("Items") for p in pages)
    items, _ = scan_all(mddb, TableName=stable, ProjectionExpression="sk")
    assert len(items) == N_ITEMS and all(set(i) == {"sk"} for i in items)


def test_scan_errors(ddb_raw, stable):
    c = ddb_raw
    for kw in (dict(Segment=4, TotalSegments=4), dict(Segment=5, TotalSegments=4), dict(Segment=0),
               dict(TotalSegments=4), dict(Segment=-1, TotalSegments=4), dict(Segment=0, TotalSegments=0),
               dict(Segment=0, TotalSegments=1000001), dict(Limit=0),
               dict(FilterExpression="v = :undefined"),
               dict(Select="COUNT", ProjectionExpression="v")):
        validation_error(c.scan, TableName=stable, **kw)
    expect_error("ResourceNotFoundException", c.scan, TableName=unique("missing"))


def test_scan_after_deletes_and_resume(ddb, make_table):
    t = make_table()
    for i in range(20):
        ddb.put_item(TableName=t, Item={"pk": S("k%02d" % i)})
    for i in range(0, 20, 2):
        ddb.delete_item(TableName=t, Key={"pk": S("k%02d" % i)})
    items, _ = scan_all(ddb, TableName=t)
    assert sorted(i["pk"]["S"] for i in items) == ["k%02d" % i for i in range(1, 20, 2)]
    # resume from a key that was deleted in between
    r = ddb.scan(TableName=t, Limit=3)
    first = [i["pk"]["S"] for i in r["Items"]]
    ddb.delete_item(TableName=t, Key=r["LastEvaluatedKey"])
    rest, _ = scan_all(ddb, TableName=t, ExclusiveStartKey=r["LastEvaluatedKey"], Limit=3)
    names = first + [i["pk"]["S"] for i in rest]
    assert len(names) == len(set(names)) == 10, names
    assert sorted(names) == ["k%02d" % i for i in range(1, 20, 2)]


def test_scan_empty_table(ddb, make_table):
    t = make_table()
    r = ddb.scan(TableName=t)
    assert r["Items"] == [] and r["Count"] == 0 and r["ScannedCount"] == 0, r
    assert "LastEvaluatedKey" not in r


def test_scan_page_stops_at_1mb(ddb, make_table):
    # ~300 items of 10 KB (3 MB): a Scan without Limit must stop at 1 MB of data and
    # hand back a LastEvaluatedKey; all pages together give every item once.
    t = make_table()
    pad = "x" * (10 * 1024)
    items = [{"pk": S("big%03d" % i), "d": S(pad)} for i in range(300)]
    batch_put(ddb, t, items)
    one = item_size(items[0])
    r = ddb.scan(TableName=t)
    assert "LastEvaluatedKey" in r, "a 3 MB table came back in one page"
    returned = sum(item_size(i) for i in r["Items"])
    assert r["Items"], r.keys()
    assert returned <= 1024 * 1024 + one, "first page holds %d bytes of items (> 1 MB)" % returned
    assert returned >= 512 * 1024, "first page holds only %d bytes" % returned
    got, pages = scan_all(ddb, TableName=t)
    names = [i["pk"]["S"] for i in got]
    assert len(names) == len(set(names)) == 300
    assert len(pages) >= 3
    for p in pages:
        assert sum(item_size(i) for i in p["Items"]) <= 1024 * 1024 + one
    # the same limit holds for Query (one partition of 3 MB)
    tq = make_table(hash_key=("pk", "S"), range_key=("sk", "N"))
    batch_put(ddb, tq, [{"pk": S("one"), "sk": N(i), "d": S(pad)} for i in range(300)])
    r = ddb.query(TableName=tq, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S("one")})
    assert "LastEvaluatedKey" in r
    assert sum(item_size(i) for i in r["Items"]) <= 1024 * 1024 + one + 10

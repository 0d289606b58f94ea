"""DynamoDB API: ReturnConsumedCapacity.

Docs: Developer Guide "DynamoDB read and write operations"
(read-write-operations.html): reads are rounded up to 4 KB, a strongly
consistent read of up to 4 KB is one read unit, an eventually consistent one
half; GetItem: round the item size up to the next 4 KB, divide by two for
eventually consistent; Query: the sum of the sizes of the items read, rounded
up to 4 KB; writes are rounded up to 1 KB, one write unit per KB; PutItem
replacing an item counts the larger of the two. Constraints: 1 KB = 1024 bytes.
API Reference ReturnConsumedCapacity: INDEXES = aggregate plus the table and
each index; TOTAL = aggregate only; NONE = no ConsumedCapacity.
Item sizes follow "Item sizes and formats" (names + values); the items here
are far from the rounding boundaries.
"""

from ddb_fixtures import *  # noqa: F401,F403


def item_of(pk, size):
    """An item of about `size` bytes (pk + one string attribute)."""
    base = {"pk": S(pk), "d": S("")}
    pad = size - item_size(base)
    return {"pk": S(pk), "d": S("x" * pad)}


def cap(resp, table):
    cc = resp.get("ConsumedCapacity")
    assert isinstance(cc, dict), "no ConsumedCapacity in %r" % {k: v for k, v in resp.items() if k != "Items"}
    assert cc.get("TableName") == table, cc
    return cc


def test_putitem_write_units(ddb, make_table):
    t = make_table()
    small = item_of("s", 100)
    r = ddb.put_item(TableName=t, Item=small, ReturnConsumedCapacity="TOTAL")
    assert cap(r, t)["CapacityUnits"] == 1.0, r["ConsumedCapacity"]
    big = item_of("b", 1536)                       # 1.5 KB -> 2 write units
    r = ddb.put_item(TableName=t, Item=big, ReturnConsumedCapacity="TOTAL")
    assert cap(r, t)["CapacityUnits"] == 2.0, r["ConsumedCapacity"]
    r = ddb.put_item(TableName=t, Item=item_of("c", 5 * 1024 - 300), ReturnConsumedCapacity="TOTAL")
    assert cap(r, t)["CapacityUnits"] == 5.0, r["ConsumedCapacity"]
    # replacing the 1.5 KB item with a small one: the larger of the two counts
    r = ddb.put_item(TableName=t, Item=item_of("b", 100), ReturnConsumedCapacity="TOTAL")
    assert cap(r, t)["CapacityUnits"] == 2.0, r["ConsumedCapacity"]


def test_getitem_read_units(ddb, make_table):
    t = make_table()
    ddb.put_item(TableName=t, Item=item_of("five", 5 * 1024))   # 5 KB -> 8 KB -> 2 units strong
    ddb.put_item(TableName=t, Item=item_of("one", 1000))
    r = ddb.get_item(TableName=t, Key={"pk": S("five")}, ReturnConsumedCapacity="TOTAL")
    assert cap(r, t)["CapacityUnits"] == 1.0, r["ConsumedCapacity"]
    r = ddb.get_item(TableName=t, Key={"pk": S("five")}, ConsistentRead=True, ReturnConsumedCapacity="TOTAL")
    assert cap(r, t)["CapacityUnits"] == 2.0, r["ConsumedCapacity"]
    r = ddb.get_item(TableName=t, Key={"pk": S("one")}, ReturnConsumedCapacity="TOTAL")
    assert cap(r, t)["CapacityUnits"] == 0.5, r["ConsumedCapacity"]
    r = ddb.get_item(TableName=t, Key={"pk": S("one")}, ConsistentRead=True, ReturnConsumedCapacity="TOTAL")
    assert cap(r, t)["CapacityUnits"] == 1.0, r["ConsumedCapacity"]
    # a projection does not change what is read
    r = ddb.get_item(TableName=t, Key={"pk": S("five")}, ConsistentRead=True, ProjectionExpression="pk",
                     ReturnConsumedCapacity="TOTAL")
    assert cap(r, t)["CapacityUnits"] == 2.0, r["ConsumedCapacity"]


def test_indexes_and_none(ddb, make_table):
    t = make_table()
    r = ddb.put_item(TableName=t, Item=item_of("i", 1536), ReturnConsumedCapacity="INDEXES")
    cc = cap(r, t)
    assert cc["CapacityUnits"] == 2.0, cc
    assert cc["Table"]["CapacityUnits"] == 2.0, cc
    assert not cc.get("GlobalSecondaryIndexes") and not cc.get("LocalSecondaryIndexes"), cc
    r = ddb.get_item(TableName=t, Key={"pk": S("i")}, ConsistentRead=True, ReturnConsumedCapacity="INDEXES")
    cc = cap(r, t)
    assert cc["CapacityUnits"] == 1.0 and cc["Table"]["CapacityUnits"] == 1.0, cc
    # NONE, and the default, return no ConsumedCapacity
    for kw in ({}, {"ReturnConsumedCapacity": "NONE"}):
        assert "ConsumedCapacity" not in ddb.get_item(TableName=t, Key={"pk": S("i")}, **kw)
        assert "ConsumedCapacity" not in ddb.put_item(TableName=t, Item=item_of("j", 10), **kw)


def test_query_read_units(ddb, make_table):
    t = make_table(hash_key=("pk", "S"), range_key=("sk", "N"))
    for i in range(10):
        it = item_of("q", 900)
        it["sk"] = N(i)
        it["v"] = N(i)
        ddb.put_item(TableName=t, Item=it)
    # about 9,000 bytes read -> 12 KB -> 3 units strongly consistent, 1.5 eventually
    for mode in ("TOTAL", "INDEXES"):
        r = ddb.query(TableName=t, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S("q")},
                      ConsistentRead=True, ReturnConsumedCapacity=mode)
        assert r["Count"] == 10
        assert cap(r, t)["CapacityUnits"] == 3.0, r["ConsumedCapacity"]
        if mode == "INDEXES":
            assert r["ConsumedCapacity"]["Table"]["CapacityUnits"] == 3.0, r["ConsumedCapacity"]
    r = ddb.query(TableName=t, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S("q")},
                  ReturnConsumedCapacity="TOTAL")
    assert cap(r, t)["CapacityUnits"] == 1.5, r["ConsumedCapacity"]
    # a filter does not reduce what is read
    r = ddb.query(TableName=t, KeyConditionExpression="pk = :p", FilterExpression="v = :zero",
                  ExpressionAttributeValues={":p": S("q"), ":zero": N(0)}, ConsistentRead=True,
                  ReturnConsumedCapacity="TOTAL")
    assert r["Count"] == 1 and r["ScannedCount"] == 10
    assert cap(r, t)["CapacityUnits"] == 3.0, r["ConsumedCapacity"]


def test_delete_and_update_write_units(ddb, make_table):
    t = make_table()
    ddb.put_item(TableName=t, Item=item_of("d", 2500))         # 2.5 KB -> 3 units
    r = ddb.update_item(TableName=t, Key={"pk": S("d")}, UpdateExpression="SET n = :n",
                        ExpressionAttributeValues={":n": N(1)}, ReturnConsumedCapacity="TOTAL")
    assert cap(r, t)["CapacityUnits"] == 3.0, r["ConsumedCapacity"]
    r = ddb.delete_item(TableName=t, Key={"pk": S("d")}, ReturnConsumedCapacity="TOTAL")
    assert cap(r, t)["CapacityUnits"] == 3.0, r["ConsumedCapacity"]

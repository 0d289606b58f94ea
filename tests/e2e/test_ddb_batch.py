"""DynamoDB API: BatchWriteItem and BatchGetItem.

Docs: API Reference BatchWriteItem ("up to 25 put or delete requests";
ValidationException when "there are more than 25 requests in the batch" and
when "you try to perform multiple operations on the same item in the same
BatchWriteItem request"; UnprocessedItems to retry). API Reference
BatchGetItem ("up to 100 items"; "If you request more than 100 items,
BatchGetItem returns a ValidationException"; UnprocessedKeys to retry;
ProjectionExpression per table; duplicate keys are a ValidationException).
"""

from ddb_fixtures import *  # noqa: F401,F403


def write_all(client, request_items):
    if not request_items:
        return
    for _ in range(50):
        r = client.batch_write_item(RequestItems=request_items)
        request_items = r.get("UnprocessedItems") or {}
        if not request_items:
            return
    raise AssertionError("UnprocessedItems never drained")


def get_all(client, request_items):
    """BatchGetItem, retrying UnprocessedKeys; returns {table: [items]}."""
    out = {}
    for _ in range(50):
        r = client.batch_get_item(RequestItems=request_items)
        for t, items in r.get("Responses", {}).items():
            out.setdefault(t, []).extend(items)
        request_items = r.get("UnprocessedKeys") or {}
        if not request_items:
            return out
    raise AssertionError("UnprocessedKeys never drained")


def test_batch_write_puts_and_deletes_two_tables(ddb, make_table):
    t1 = make_table()
    t2 = make_table(hash_key=("h", "N"), range_key=("r", "S"))
    r = ddb.batch_write_item(RequestItems={
        t1: [{"PutRequest": {"Item": {"pk": S("a%d" % i), "v": N(i)}}} for i in range(13)],
        t2: [{"PutRequest": {"Item": {"h": N(i), "r": S("x"), "v": S("t2")}}} for i in range(12)],
    })
    assert isinstance(r.get("UnprocessedItems", {}), dict)
    write_all(ddb, r.get("UnprocessedItems") or {})
    for i in range(13):
        assert_item(get(ddb, t1, {"pk": S("a%d" % i)}), {"pk": S("a%d" % i), "v": N(i)})
    for i in range(12):
        assert_item(get(ddb, t2, {"h": N(i), "r": S("x")}), {"h": N(i), "r": S("x"), "v": S("t2")})
    # deletes mixed with puts, deleting a missing item is fine, a put replaces
    write_all(ddb, {
        t1: [{"DeleteRequest": {"Key": {"pk": S("a%d" % i)}}} for i in range(5)]
        + [{"DeleteRequest": {"Key": {"pk": S("never-existed")}}},
           {"PutRequest": {"Item": {"pk": S("a7"), "v": S("replaced")}}}],
        t2: [{"DeleteRequest": {"Key": {"h": N(0), "r": S("x")}}}],
    })
    for i in range(5):
        assert get(ddb, t1, {"pk": S("a%d" % i)}) is None
    assert_item(get(ddb, t1, {"pk": S("a7")}), {"pk": S("a7"), "v": S("replaced")})
    assert get(ddb, t1, {"pk": S("a5")}) is not None
    assert get(ddb, t2, {"h": N(0), "r": S("x")}) is None
    assert get(ddb, t2, {"h": N(1), "r": S("x")}) is not None


def test_batch_write_limits_and_errors(ddb, ddb_raw, make_table):
    t1 = make_table()
    t2 = make_table()
    # 26 requests (over two tables) -> ValidationException, nothing written
    validation_error(ddb_raw.batch_write_item, RequestItems={
        t1: [{"PutRequest": {"Item": {"pk": S("x%d" % i)}}} for i in range(13)],
        t2: [{"PutRequest": {"Item": {"pk": S("y%d" % i)}}} for i in range(13)]})
    assert get(ddb, t1, {"pk": S("x0")}) is None and get(ddb, t2, {"pk": S("y0")}) is None
    # exactly 25 is fine
    write_all(ddb, {t1: [{"PutRequest": {"Item": {"pk": S("z%d" % i)}}} for i in range(25)]})
    assert get(ddb, t1, {"pk": S("z24")}) is not None
    # duplicate keys in one batch (put+put, put+delete) -> ValidationException
    validation_error(ddb_raw.batch_write_item, RequestItems={t1: [
        {"PutRequest": {"Item": {"pk": S("dup"), "v": N(1)}}},
        {"PutRequest": {"Item": {"pk": S("dup"), "v": N(2)}}}]})
    validation_error(ddb_raw.batch_write_item, RequestItems={t1: [
        {"PutRequest": {"Item": {"pk": S("dup")}}}, {"DeleteRequest": {"Key": {"pk": S("dup")}}}]})
    assert get(ddb, t1, {"pk": S("dup")}) is None
    # the same key in two different tables is not a duplicate
    write_all(ddb, {t1: [{"PutRequest": {"Item": {"pk": S("same")}}}],
                    t2: [{"PutRequest": {"Item": {"pk": S("same")}}}]})
    # empty request, empty table list, a request with both or neither of Put/Delete
    validation_error(ddb_raw.batch_write_item, RequestItems={})
    validation_error(ddb_raw.batch_write_item, RequestItems={t1: []})
    validation_error(ddb_raw.batch_write_item, RequestItems={t1: [{}]})
    # a bad key in one request fails the whole batch
    validation_error(ddb_raw.batch_write_item, RequestItems={t1: [
        {"PutRequest": {"Item": {"pk": S("good")}}}, {"PutRequest": {"Item": {"pk": N(1)}}}]})
    assert get(ddb, t1, {"pk": S("good")}) is None
    # an item over 400 KB fails the batch (Constraints: item size)
    validation_error(ddb_raw.batch_write_item, RequestItems={t1: [
        {"PutRequest": {"Item": {"pk": S("small")}}},
        {"PutRequest": {"Item": {"pk": S("huge"), "d": S("x" * (401 * 1024))}}}]})
    assert get(ddb, t1, {"pk": S("small")}) is None and get(ddb, t1, {"pk": S("huge")}) is None
    # a missing table
    expect_error("ResourceNotFoundException", ddb.batch_write_item, RequestItems={
        unique("missing"): [{"PutRequest": {"Item": {"pk": S("a")}}}]})


def test_batch_get_100_keys_two_tables(ddb, make_table):
    t1 = make_table()
    t2 = make_table(hash_key=("h", "N"))
    write_all(ddb, {t1: [{"PutRequest": {"Item": {"pk": S("k%02d" % i), "v": N(i), "pad": S("p")}}}
                         for i in range(25)]})
    for base in range(0, 60, 25):
        write_all(ddb, {t2: [{"PutRequest": {"Item": {"h": N(i), "w": S("w%d" % i)}}}
                             for i in range(base, min(base + 25, 60))]})
    req = {
        t1: {"Keys": [{"pk": S("k%02d" % i)} for i in range(25)] + [{"pk": S("absent%d" % i)} for i in range(15)],
             "ProjectionExpression": "pk, v"},
        t2: {"Keys": [{"h": N(i)} for i in range(60)], "ConsistentRead": True},
    }
    out = get_all(ddb, req)
    got1 = sorted((i["pk"]["S"], i["v"]["N"]) for i in out.get(t1, []))
    assert got1 == [("k%02d" % i, str(i)) for i in range(25)], got1
    assert all(set(i) == {"pk", "v"} for i in out[t1]), "ProjectionExpression not applied"
    got2 = sorted(int(i["h"]["N"]) for i in out.get(t2, []))
    assert got2 == list(range(60)), got2
    assert all(i["w"] == S("w%s" % i["h"]["N"]) for i in out[t2])


def test_batch_get_16mb_partial_result(ddb, make_table):
    # API Reference BatchGetItem: "A single operation can retrieve up to 16 MB of data ...
    # if you ask to retrieve 100 items, but each individual item is 300 KB in size, the system
    # returns 52 items (so as not to exceed the 16 MB limit). It also returns an appropriate
    # UnprocessedKeys value so you can get the next page of results."
    t = make_table()
    pad = "x" * (300 * 1024)
    n = 60                                                   # 60 x 300 KB = 18 MB
    for i in range(n):
        ddb.put_item(TableName=t, Item={"pk": S("big%02d" % i), "d": S(pad)})
    keys = [{"pk": S("big%02d" % i)} for i in range(n)]
    r = ddb.batch_get_item(RequestItems={t: {"Keys": keys}})
    first = r["Responses"].get(t, [])
    assert 0 < len(first) < n, len(first)
    assert sum(item_size(i) for i in first) <= 16 * 1024 * 1024, "first response holds more than 16 MB"
    unprocessed = r.get("UnprocessedKeys", {}).get(t, {}).get("Keys", [])
    assert len(first) + len(unprocessed) == n, (len(first), len(unprocessed))
    got = {i["pk"]["S"] for i in first}
    out = get_all(ddb, r["UnprocessedKeys"])
    more = [i["pk"]["S"] for i in out.get(t, [])]
    assert not (got & set(more)), "an item came back twice"
    assert got | set(more) == {"big%02d" % i for i in range(n)}


def test_batch_get_limits_and_errors(ddb, ddb_raw, make_table):
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": S("a")})
    validation_error(ddb_raw.batch_get_item, RequestItems={t: {"Keys": [{"pk": S("k%d" % i)} for i in range(101)]}})
    validation_error(ddb_raw.batch_get_item, RequestItems={t: {"Keys": [{"pk": S("a")}, {"pk": S("a")}]}})
    validation_error(ddb_raw.batch_get_item, RequestItems={t: {"Keys": []}})
    validation_error(ddb_raw.batch_get_item, RequestItems={})
    validation_error(ddb_raw.batch_get_item, RequestItems={t: {"Keys": [{"pk": N(1)}]}})
    validation_error(ddb_raw.batch_get_item, RequestItems={t: {"Keys": [{"pk": S("a")}],
                                                               "ProjectionExpression": "name"}})
    expect_error("ResourceNotFoundException", ddb.batch_get_item,
                 RequestItems={unique("missing"): {"Keys": [{"pk": S("a")}]}})
    # exactly 100 is fine
    out = get_all(ddb, {t: {"Keys": [{"pk": S("a")}] + [{"pk": S("k%d" % i)} for i in range(99)]}})
    assert out.get(t) == [{"pk": S("a")}], out


def test_batch_get_attributes_to_get_and_names(ddb, make_table):
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": S("a"), "name": S("n"), "x": N(1)})
    out = get_all(ddb, {t: {"Keys": [{"pk": S("a")}], "ProjectionExpression": "#n",
                            "ExpressionAttributeNames": {"#n": "name"}}})
    assert out[t] == [{"name": S("n")}], out
    out = get_all(ddb, {t: {"Keys": [{"pk": S("a")}], "AttributesToGet": ["x"]}})
    assert out[t] == [{"x": N(1)}], out

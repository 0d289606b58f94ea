"""DynamoDB API: Query.

Docs: API Reference Query (KeyConditionExpression: partition key equality, sort
key = < <= > >= BETWEEN begins_with; ScanIndexForward; Limit, ExclusiveStartKey,
LastEvaluatedKey; FilterExpression applied after the read, so Count <=
ScannedCount; Select COUNT; ProjectionExpression). Developer Guide "Query
operations" (Query.KeyConditionExpressions): "If the data type of the sort
key is Number, the results are returned in numeric order. Otherwise, the
results are returned in order of UTF-8 bytes"; "Binary ... unsigned"
(HowItWorks.NamingRulesDataTypes: binary compared as unsigned bytes).
begins_with is for String and Binary sort keys only.
"""

import decimal
import random

import pytest

from ddb_fixtures import *  # noqa: F401,F403

NUM_SKS = ["-10", "-2.5", "0", "3", "20", "100", "0.001", "-0.001", "1E+20", "-1E+20", "7.5", "1E-130", "-1E-130",
           "9.9999999999999999999999999999999999999E+125", "-9.9999999999999999999999999999999999999E+125",
           "12345678901234567890123456789012345678", "0.12345678901234567890123456789012345678", "-99", "-100",
           "99.99", "100.01"]
STR_SKS = ["a", "B", "b", "aa", "ab", "a\u00e4", "\u00e4", "z", "~", "\u20ac", "\U0001F600", "\uff5e",
           "A", "0", " ", "abc", "abd", "\u00ff", "a\x00", "a\x00b", "a\x01", "\x00"]
BIN_SKS = [b"\x00", b"\x01", b"\x7f", b"\x80", b"\xff", b"\x00\x00", b"\x80\x00", b"\x01\x02", b"\x01\x03",
           b"\xfe\xff", b"\x00\x01", b"\x00\xff", b"\xff\x00", b"\xff\xff"]


def num_sorted(vals):
    return sorted(vals, key=decimal.Decimal)


def utf8_sorted(vals):
    return sorted(vals, key=lambda s: s.encode("utf-8"))


def query_all(client, **kw):
    """Every page of a Query; returns (items, pages)."""
    items, pages = [], []
    while True:
        r = client.query(**kw)
        pages.append(r)
        items += r.get("Items", [])
        if "LastEvaluatedKey" not in r:
            return items, pages
        kw["ExclusiveStartKey"] = r["LastEvaluatedKey"]
        assert len(pages) < 1000


@pytest.fixture(scope="module")
def qtables(mddb, module_tables):
    tn = module_tables(hash_key=("pk", "S"), range_key=("sk", "N"), prefix="qn")
    ts = module_tables(hash_key=("pk", "S"), range_key=("sk", "S"), prefix="qs")
    tb = module_tables(hash_key=("pk", "B"), range_key=("sk", "B"), prefix="qb")
    rnd = random.Random(7)
    for p in ("p", "q", "r"):
        for sk in rnd.sample(NUM_SKS, len(NUM_SKS)):
            mddb.put_item(TableName=tn, Item={"pk": S(p), "sk": N(sk), "v": N(len(sk)), "tag": S(p + sk)})
        for sk in rnd.sample(STR_SKS, len(STR_SKS)):
            mddb.put_item(TableName=ts, Item={"pk": S(p), "sk": S(sk)})
        for sk in rnd.sample(BIN_SKS, len(BIN_SKS)):
            mddb.put_item(TableName=tb, Item={"pk": B(p.encode()), "sk": B(sk)})
    return {"N": tn, "S": ts, "B": tb}


def nums(items):
    return [i["sk"]["N"] for i in items]


def as_dec(vals):
    return [decimal.Decimal(v) for v in vals]


def test_numeric_sort_order(mddb, qtables):
    r = mddb.query(TableName=qtables["N"], KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S("p")})
    assert as_dec(nums(r["Items"])) == as_dec(num_sorted(NUM_SKS)), nums(r["Items"])
    assert r["Count"] == len(NUM_SKS) == r["ScannedCount"], r
    assert all(i["pk"] == S("p") for i in r["Items"])
    r = mddb.query(TableName=qtables["N"], KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S("p")},
                   ScanIndexForward=False)
    assert as_dec(nums(r["Items"])) == as_dec(num_sorted(NUM_SKS))[::-1]


@pytest.mark.parametrize("cond,vals,pred", [
    ("sk = :a", {":a": "3"}, lambda x: x == 3),
    ("sk < :a", {":a": "0"}, lambda x: x < 0),
    ("sk <= :a", {":a": "0"}, lambda x: x <= 0),
    ("sk > :a", {":a": "3"}, lambda x: x > 3),
    ("sk >= :a", {":a": "3"}, lambda x: x >= 3),
    ("sk BETWEEN :a AND :b", {":a": "-2.5", ":b": "20"}, lambda x: -2.5 <= x <= 20),
    ("sk BETWEEN :a AND :b", {":a": "-3", ":b": "-3"}, lambda x: False),
])
def test_numeric_key_conditions(mddb, qtables, cond, vals, pred):
    ev = {":p": S("q")}
    ev.update({k: N(v) for k, v in vals.items()})
    for forward in (True, False):
        r = mddb.query(TableName=qtables["N"], KeyConditionExpression="pk = :p AND " + cond,
                       ExpressionAttributeValues=ev, ScanIndexForward=forward)
        want = [v for v in num_sorted(NUM_SKS) if pred(decimal.Decimal(v))]
        if not forward:
            want = want[::-1]
        assert as_dec(nums(r["Items"])) == as_dec(want), (cond, forward, nums(r["Items"]))
        assert all(i["pk"] == S("q") for i in r["Items"])


def test_key_condition_operand_order_and_parens(mddb, qtables):
    # KeyConditionExpression is "pk = :p AND <sort key condition>"; parentheses around each
    # condition and the two conditions in either order express the same thing.
    r = mddb.query(TableName=qtables["N"], KeyConditionExpression="(sk > :a) AND (pk = :p)",
                   ExpressionAttributeValues={":p": S("p"), ":a": N(20)})
    assert as_dec(nums(r["Items"])) == as_dec([v for v in num_sorted(NUM_SKS) if decimal.Decimal(v) > 20])


def test_string_sort_is_utf8_bytewise(mddb, qtables):
    items, _ = query_all(mddb, TableName=qtables["S"], KeyConditionExpression="pk = :p",
                         ExpressionAttributeValues={":p": S("r")})
    assert [i["sk"]["S"] for i in items] == utf8_sorted(STR_SKS)
    # begins_with, <, BETWEEN on strings
    r = mddb.query(TableName=qtables["S"], KeyConditionExpression="pk = :p AND begins_with(sk, :b)",
                   ExpressionAttributeValues={":p": S("r"), ":b": S("a")})
    assert [i["sk"]["S"] for i in r["Items"]] == utf8_sorted([s for s in STR_SKS if s.startswith("a")])
    r = mddb.query(TableName=qtables["S"], KeyConditionExpression="pk = :p AND sk < :b",
                   ExpressionAttributeValues={":p": S("r"), ":b": S("\u00e4")})
    assert [i["sk"]["S"] for i in r["Items"]] == \
        utf8_sorted([s for s in STR_SKS if s.encode() < "\u00e4".encode()])
    r = mddb.query(TableName=qtables["S"], KeyConditionExpression="pk = :p AND sk BETWEEN :a AND :b",
                   ExpressionAttributeValues={":p": S("r"), ":a": S("\u20ac"), ":b": S("\U0001F600")})
    # U+FF5E (EF BD 9E) sorts before U+1F600 (F0 9F 98 80) in UTF-8 (in UTF-16 it would not)
    assert [i["sk"]["S"] for i in r["Items"]] == ["\u20ac", "\uff5e", "\U0001F600"]


def test_binary_sort_is_unsigned_bytewise(mddb, qtables):
    items, _ = query_all(mddb, TableName=qtables["B"], KeyConditionExpression="pk = :p",
                         ExpressionAttributeValues={":p": B(b"p")})
    assert [bytes(i["sk"]["B"]) for i in items] == sorted(BIN_SKS)
    r = mddb.query(TableName=qtables["B"], KeyConditionExpression="pk = :p AND begins_with(sk, :b)",
                   ExpressionAttributeValues={":p": B(b"p"), ":b": B(b"\x01")})
    assert [bytes(i["sk"]["B"]) for i in r["Items"]] == [b"\x01", b"\x01\x02", b"\x01\x03"]
    r = mddb.query(TableName=qtables["B"], KeyConditionExpression="pk = :p AND sk > :b",
                   ExpressionAttributeValues={":p": B(b"p"), ":b": B(b"\x7f")})
    assert [bytes(i["sk"]["B"]) for i in r["Items"]] == sorted(b for b in BIN_SKS if b > b"\x7f")


def test_paging_covers_everything_once(mddb, qtables):
    for limit in (1, 2, 3, 5):
        for forward in (True, False):
            items, pages = query_all(mddb, TableName=qtables["N"], KeyConditionExpression="pk = :p",
                                     ExpressionAttributeValues={":p": S("p")}, Limit=limit,
                                     ScanIndexForward=forward)
            for pg in pages:
                assert len(pg["Items"]) <= limit, pg
                assert pg["Count"] == len(pg["Items"])
            want = as_dec(num_sorted(NUM_SKS))
            assert as_dec(nums(items)) == (want if forward else want[::-1]), (limit, forward)
            assert len(pages) >= len(NUM_SKS) // limit
            # LastEvaluatedKey holds the key of the last item of its page
            for pg in pages:
                if "LastEvaluatedKey" in pg and pg["Items"]:
                    last = pg["Items"][-1]
                    assert pg["LastEvaluatedKey"] == {"pk": last["pk"], "sk": last["sk"]}, pg


def test_resume_after_start_key_deleted(ddb, make_table):
    # ExclusiveStartKey is a position: paging goes on correctly even if that item is gone.
    t = make_table(hash_key=("pk", "S"), range_key=("sk", "N"))
    for i in range(10):
        ddb.put_item(TableName=t, Item={"pk": S("p"), "sk": N(i)})
    r = ddb.query(TableName=t, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S("p")}, Limit=4)
    assert nums(r["Items"]) == ["0", "1", "2", "3"]
    ddb.delete_item(TableName=t, Key=r["LastEvaluatedKey"])
    rest, _ = query_all(ddb, TableName=t, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S("p")},
                        ExclusiveStartKey=r["LastEvaluatedKey"], Limit=4)
    assert nums(rest) == [str(i) for i in range(4, 10)]


def test_paging_with_filter(mddb, qtables):
    # Limit counts items read before the filter: pages may be short or empty, but all matches come.
    items, pages = query_all(mddb, TableName=qtables["N"], KeyConditionExpression="pk = :p",
                             FilterExpression="v = :one", ExpressionAttributeValues={":p": S("p"), ":one": N(1)},
                             Limit=2)
    assert as_dec(nums(items)) == as_dec(num_sorted(["0", "3"])), nums(items)
    assert sum(pg["ScannedCount"] for pg in pages) == len(NUM_SKS)
    assert all(pg["ScannedCount"] <= 2 for pg in pages)


def test_filter_expression_counts(mddb, qtables):
    r = mddb.query(TableName=qtables["N"], KeyConditionExpression="pk = :p", FilterExpression="v > :two",
                   ExpressionAttributeValues={":p": S("p"), ":two": N(2)})
    want = [s for s in num_sorted(NUM_SKS) if len(s) > 2]
    assert as_dec(nums(r["Items"])) == as_dec(want)
    assert r["Count"] == len(want) < r["ScannedCount"] == len(NUM_SKS), r


def test_query_filter_on_key_attribute_rejected(mddb, qtables):
    # Developer Guide, Query.FilterExpression: "A filter expression cannot contain partition key
    # or sort key attributes"; API Reference Query, FilterExpression: "A FilterExpression does not
    # allow key attributes."
    validation_error(mddb.query, TableName=qtables["N"], KeyConditionExpression="pk = :p",
                     FilterExpression="sk > :two", ExpressionAttributeValues={":p": S("p"), ":two": N(2)})
    validation_error(mddb.query, TableName=qtables["N"], KeyConditionExpression="pk = :p",
                     FilterExpression="pk = :p AND v > :two", ExpressionAttributeValues={":p": S("p"), ":two": N(2)})


def test_select_count(mddb, qtables):
    r = mddb.query(TableName=qtables["N"], KeyConditionExpression="pk = :p AND sk > :z", Select="COUNT",
                   ExpressionAttributeValues={":p": S("p"), ":z": N(0)})
    assert r["Count"] == len([s for s in NUM_SKS if decimal.Decimal(s) > 0]), r
    assert not r.get("Items"), r


def test_select_all_attributes(mddb, qtables):
    r = mddb.query(TableName=qtables["N"], KeyConditionExpression="pk = :p AND sk = :s", Select="ALL_ATTRIBUTES",
                   ExpressionAttributeValues={":p": S("p"), ":s": N(3)})
    assert r["Items"] == [{"pk": S("p"), "sk": N(3), "v": N(1), "tag": S("p3")}], r["Items"]


def test_projection(mddb, qtables):
    r = mddb.query(TableName=qtables["N"], KeyConditionExpression="pk = :p AND sk = :s",
                   ExpressionAttributeValues={":p": S("p"), ":s": N(3)}, ProjectionExpression="tag, #v",
                   ExpressionAttributeNames={"#v": "v"})
    assert r["Items"] == [{"tag": S("p3"), "v": N(1)}], r["Items"]
    r = mddb.query(TableName=qtables["N"], KeyConditionExpression="pk = :p AND sk = :s",
                   ExpressionAttributeValues={":p": S("p"), ":s": N(3)}, Select="SPECIFIC_ATTRIBUTES",
                   ProjectionExpression="sk")
    assert r["Items"] == [{"sk": N(3)}], r["Items"]


def test_only_queried_partition(mddb, qtables):
    for p in ("p", "q", "r"):
        items, _ = query_all(mddb, TableName=qtables["N"], KeyConditionExpression="pk = :p",
                             ExpressionAttributeValues={":p": S(p)}, Limit=4)
        assert len(items) == len(NUM_SKS)
        assert {i["pk"]["S"] for i in items} == {p}
        assert {i["tag"]["S"] for i in items} == {p + s for s in NUM_SKS}
    r = mddb.query(TableName=qtables["N"], KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S("nobody")})
    assert r["Items"] == [] and r["Count"] == 0, r
    assert "LastEvaluatedKey" not in r


def test_hash_only_table_query(ddb, make_table):
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": S("one"), "v": N(1)})
    ddb.put_item(TableName=t, Item={"pk": S("two"), "v": N(2)})
    r = ddb.query(TableName=t, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S("one")})
    assert r["Items"] == [{"pk": S("one"), "v": N(1)}], r


def test_hash_only_table_sort_condition_rejected(ddb_raw, make_table):
    t = make_table()
    validation_error(ddb_raw.query, TableName=t, KeyConditionExpression="pk = :p AND sk = :s",
                     ExpressionAttributeValues={":p": S("a"), ":s": S("b")})


def test_query_errors(ddb_raw, qtables):
    c, t = ddb_raw, qtables["N"]
    bad = [
        dict(),                                                                   # no key condition
        dict(KeyConditionExpression="sk = :s", ExpressionAttributeValues={":s": N(1)}),   # no partition key
        dict(KeyConditionExpression="pk > :p", ExpressionAttributeValues={":p": S("p")}),  # not equality
        dict(KeyConditionExpression="pk = :p OR sk = :s", ExpressionAttributeValues={":p": S("p"), ":s": N(1)}),
        dict(KeyConditionExpression="pk = :p AND v = :s", ExpressionAttributeValues={":p": S("p"), ":s": N(1)}),
        dict(KeyConditionExpression="pk = :p AND sk <> :s", ExpressionAttributeValues={":p": S("p"), ":s": N(1)}),
        dict(KeyConditionExpression="pk = :p AND begins_with(sk, :s)",                # N sort key
             ExpressionAttributeValues={":p": S("p"), ":s": N(1)}),
        dict(KeyConditionExpression="pk = :p AND sk BETWEEN :b AND :a",              # lower > upper
             ExpressionAttributeValues={":p": S("p"), ":a": N(1), ":b": N(5)}),
        dict(KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": N(1)}),   # wrong key type
        dict(KeyConditionExpression="pk = :p AND sk > :a AND sk < :b",
             ExpressionAttributeValues={":p": S("p"), ":a": N(1), ":b": N(5)}),
        dict(KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S("p")}, Limit=0),
        dict(KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S("p")}, Select="COUNT",
             ProjectionExpression="v"),
        # SPECIFIC_ATTRIBUTES needs a projection; ALL_PROJECTED_ATTRIBUTES is for indexes only
        dict(KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S("p")},
             Select="SPECIFIC_ATTRIBUTES"),
        dict(KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S("p")},
             Select="ALL_PROJECTED_ATTRIBUTES"),
        dict(KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S("p")}, Select="BOGUS"),
    ]
    for kw in bad:
        validation_error(c.query, TableName=t, **kw)
    expect_error("ResourceNotFoundException", c.query, TableName=unique("missing"),
                 KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S("p")})

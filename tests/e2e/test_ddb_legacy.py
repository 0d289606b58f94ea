"""DynamoDB API: the legacy conditional parameters.

Docs: Developer Guide "Legacy conditional parameters" (LegacyConditionalParameters):
Expected (Exists true/false, Value, ComparisonOperator + AttributeValueList),
ConditionalOperator (AND default, OR), AttributeUpdates (PUT, ADD, DELETE),
KeyConditions, QueryFilter, ScanFilter, AttributesToGet; comparison operators
EQ NE LE LT GE GT NOT_NULL NULL CONTAINS NOT_CONTAINS BEGINS_WITH IN BETWEEN.
Mixing legacy and expression parameters in one request is a ValidationException.
"""

import decimal

import pytest

from ddb_fixtures import *  # noqa: F401,F403


def _put_cond(client, t, item, expected, **kw):
    try:
        client.put_item(TableName=t, Item=item, Expected=expected, **kw)
        return True
    except ClientError as e:
        assert err_code(e) == "ConditionalCheckFailedException", e.response
        return False


def test_expected_exists(ddb, make_table):
    t = make_table()
    assert _put_cond(ddb, t, {"pk": S("k"), "v": S("1")}, {"pk": {"Exists": False}})
    assert not _put_cond(ddb, t, {"pk": S("k"), "v": S("2")}, {"pk": {"Exists": False}})
    assert get(ddb, t, {"pk": S("k")})["v"] == S("1")
    # Exists true with a Value (Exists defaults to true when a Value is given)
    assert not _put_cond(ddb, t, {"pk": S("k"), "v": S("3")}, {"v": {"Value": S("9")}})
    assert _put_cond(ddb, t, {"pk": S("k"), "v": S("3")}, {"v": {"Value": S("1"), "Exists": True}})
    assert _put_cond(ddb, t, {"pk": S("k"), "v": S("4")}, {"v": {"Value": S("3")}})
    assert get(ddb, t, {"pk": S("k")})["v"] == S("4")


def test_expected_exists_errors(ddb_raw, make_table):
    t = make_table()
    # Exists true without a Value; Exists false with a Value
    validation_error(ddb_raw.put_item, TableName=t, Item={"pk": S("k")}, Expected={"v": {"Exists": True}})
    validation_error(ddb_raw.put_item, TableName=t, Item={"pk": S("k")},
                     Expected={"v": {"Exists": False, "Value": S("x")}})


@pytest.fixture(scope="module")
def legacy_item_table(mddb, module_tables):
    t = module_tables(prefix="legacy")
    mddb.put_item(TableName=t, Item={"pk": S("i"), "n": N(5), "s": S("hello"), "ss": {"SS": ["a", "b"]},
                                     "l": {"L": [S("x")]}, "b": B(b"\x01\x02")})
    return t


OPS = [
    ("n", "EQ", [N(5)], True), ("n", "EQ", [N(6)], False), ("n", "NE", [N(6)], True),
    ("n", "LE", [N(5)], True), ("n", "LT", [N(5)], False), ("n", "GE", [N(5)], True),
    ("n", "GT", [N(4)], True), ("n", "GT", [N(5)], False),
    ("n", "NOT_NULL", [], True), ("nope", "NOT_NULL", [], False),
    ("nope", "NULL", [], True), ("n", "NULL", [], False),
    ("s", "CONTAINS", [S("ell")], True), ("s", "CONTAINS", [S("z")], False),
    ("ss", "CONTAINS", [S("a")], True), ("ss", "NOT_CONTAINS", [S("a")], False),
    ("ss", "NOT_CONTAINS", [S("q")], True), ("l", "CONTAINS", [S("x")], True),
    ("s", "BEGINS_WITH", [S("he")], True), ("s", "BEGINS_WITH", [S("lo")], False),
    ("b", "BEGINS_WITH", [B(b"\x01")], True),
    ("n", "IN", [N(1), N(5)], True), ("n", "IN", [N(1), N(2)], False),
    ("n", "BETWEEN", [N(5), N(9)], True), ("n", "BETWEEN", [N(6), N(9)], False),
    ("s", "BETWEEN", [S("a"), S("i")], True),
]


@pytest.mark.parametrize("attr,op,args,expected", OPS, ids=["%s %s %s" % (o[0], o[1], len(o[2])) for o in OPS])
def test_expected_comparison_operators(mddb, legacy_item_table, attr, op, args, expected):
    item = get(mddb, legacy_item_table, {"pk": S("i")})
    cond = {"ComparisonOperator": op}
    if args:
        cond["AttributeValueList"] = args
    assert _put_cond(mddb, legacy_item_table, item, {attr: cond}) is expected


def test_expected_operator_argument_count(ddb_raw, legacy_item_table):
    item = {"pk": S("i"), "n": N(5)}
    for op, args in (("EQ", []), ("EQ", [N(1), N(2)]), ("BETWEEN", [N(1)]), ("NULL", [N(1)])):
        validation_error(ddb_raw.put_item, TableName=legacy_item_table, Item=item,
                         Expected={"n": {"ComparisonOperator": op, "AttributeValueList": args}})


def test_conditional_operator_or(ddb, make_table):
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": S("k"), "a": N(1), "b": N(2)})
    expected = {"a": {"ComparisonOperator": "EQ", "AttributeValueList": [N(1)]},
                "b": {"ComparisonOperator": "EQ", "AttributeValueList": [N(99)]}}
    assert not _put_cond(ddb, t, {"pk": S("k"), "v": S("and")}, expected)
    assert not _put_cond(ddb, t, {"pk": S("k"), "v": S("and")}, expected, ConditionalOperator="AND")
    assert _put_cond(ddb, t, {"pk": S("k"), "v": S("or")}, expected, ConditionalOperator="OR")
    assert get(ddb, t, {"pk": S("k")})["v"] == S("or")


def test_expected_on_update_and_delete(ddb, make_table):
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": S("k"), "v": N(1)})
    expect_error("ConditionalCheckFailedException", ddb.delete_item, TableName=t, Key={"pk": S("k")},
                 Expected={"v": {"Value": N(2)}})
    expect_error("ConditionalCheckFailedException", ddb.update_item, TableName=t, Key={"pk": S("k")},
                 AttributeUpdates={"v": {"Action": "PUT", "Value": N(3)}}, Expected={"v": {"Value": N(2)}})
    ddb.update_item(TableName=t, Key={"pk": S("k")}, AttributeUpdates={"v": {"Action": "PUT", "Value": N(3)}},
                    Expected={"v": {"Value": N(1)}})
    assert get(ddb, t, {"pk": S("k")})["v"] == N(3)
    ddb.delete_item(TableName=t, Key={"pk": S("k")}, Expected={"v": {"Value": N(3)}})
    assert get(ddb, t, {"pk": S("k")}) is None


def test_attribute_updates(ddb, make_table):
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": S("u"), "keep": S("k"), "gone": S("g"), "n": N(10),
                                    "ss": {"SS": ["a", "b", "c"]}})
    r = ddb.update_item(TableName=t, Key={"pk": S("u")}, ReturnValues="ALL_NEW", AttributeUpdates={
        "p": {"Action": "PUT", "Value": S("put")},
        "n": {"Action": "ADD", "Value": N(5)},
        "new_n": {"Action": "ADD", "Value": N(3)},
        "ss": {"Action": "DELETE", "Value": {"SS": ["a"]}},
        "added_set": {"Action": "ADD", "Value": {"SS": ["x"]}},
        "gone": {"Action": "DELETE"},
        "keep": {"Value": S("kept")},          # Action defaults to PUT
    })
    want = {"pk": S("u"), "keep": S("kept"), "n": N(15), "new_n": N(3), "p": S("put"),
            "ss": {"SS": ["b", "c"]}, "added_set": {"SS": ["x"]}}
    assert_item(r["Attributes"], want)
    assert_item(get(ddb, t, {"pk": S("u")}), want)
    # AttributeUpdates on a missing item creates it
    ddb.update_item(TableName=t, Key={"pk": S("new")}, AttributeUpdates={"c": {"Action": "ADD", "Value": N(1)}})
    assert_item(get(ddb, t, {"pk": S("new")}), {"pk": S("new"), "c": N(1)})


@pytest.fixture(scope="module")
def legacy_query_table(mddb, module_tables):
    t = module_tables(hash_key=("pk", "S"), range_key=("sk", "N"), prefix="lq")
    for p in ("a", "b"):
        for i in range(1, 7):
            mddb.put_item(TableName=t, Item={"pk": S(p), "sk": N(i), "v": N(i * 10), "x": S("x%d" % i)})
    return t


def _sks(items):
    return [int(decimal.Decimal(i["sk"]["N"])) for i in items]


def test_key_conditions(mddb, legacy_query_table):
    t = legacy_query_table
    eq = {"ComparisonOperator": "EQ", "AttributeValueList": [S("a")]}
    cases = [
        (None, [1, 2, 3, 4, 5, 6]),
        ({"ComparisonOperator": "EQ", "AttributeValueList": [N(3)]}, [3]),
        ({"ComparisonOperator": "LT", "AttributeValueList": [N(3)]}, [1, 2]),
        ({"ComparisonOperator": "LE", "AttributeValueList": [N(3)]}, [1, 2, 3]),
        ({"ComparisonOperator": "GT", "AttributeValueList": [N(4)]}, [5, 6]),
        ({"ComparisonOperator": "GE", "AttributeValueList": [N(4)]}, [4, 5, 6]),
        ({"ComparisonOperator": "BETWEEN", "AttributeValueList": [N(2), N(4)]}, [2, 3, 4]),
    ]
    for skc, want in cases:
        kc = {"pk": eq}
        if skc:
            kc["sk"] = skc
        r = mddb.query(TableName=t, KeyConditions=kc)
        assert _sks(r["Items"]) == want, (skc, r["Items"])
        assert all(i["pk"] == S("a") for i in r["Items"])


def test_query_filter_and_attributes_to_get(mddb, legacy_query_table):
    r = mddb.query(TableName=legacy_query_table,
                   KeyConditions={"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [S("b")]}},
                   QueryFilter={"v": {"ComparisonOperator": "GT", "AttributeValueList": [N(30)]},
                                "x": {"ComparisonOperator": "NE", "AttributeValueList": [S("x6")]}},
                   AttributesToGet=["sk", "x"])
    assert r["Items"] == [{"sk": N(4), "x": S("x4")}, {"sk": N(5), "x": S("x5")}], r["Items"]
    assert r["Count"] == 2 and r["ScannedCount"] == 6, r
    r = mddb.query(TableName=legacy_query_table,
                   KeyConditions={"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [S("b")]}},
                   QueryFilter={"v": {"ComparisonOperator": "GT", "AttributeValueList": [N(50)]},
                                "x": {"ComparisonOperator": "EQ", "AttributeValueList": [S("x1")]}},
                   ConditionalOperator="OR")
    assert _sks(r["Items"]) == [1, 6], r["Items"]


def test_scan_filter(mddb, legacy_query_table):
    r = mddb.scan(TableName=legacy_query_table,
                  ScanFilter={"sk": {"ComparisonOperator": "IN", "AttributeValueList": [N(2), N(5)]}},
                  AttributesToGet=["pk", "sk"])
    got = sorted((i["pk"]["S"], int(i["sk"]["N"])) for i in r["Items"])
    assert got == [("a", 2), ("a", 5), ("b", 2), ("b", 5)], r["Items"]
    assert all(set(i) == {"pk", "sk"} for i in r["Items"]), r["Items"]
    assert r["ScannedCount"] == 12, r


def test_attributes_to_get_on_get_item(mddb, legacy_query_table):
    r = mddb.get_item(TableName=legacy_query_table, Key={"pk": S("a"), "sk": N(2)}, AttributesToGet=["v", "nope"])
    assert r["Item"] == {"v": N(20)}, r


MIXED = {
    "GetItem AttributesToGet+ProjectionExpression": ("get_item", dict(
        Key={"pk": S("a"), "sk": N(2)}, AttributesToGet=["v"], ProjectionExpression="x")),
    "PutItem Expected+ConditionExpression": ("put_item", dict(
        Item={"pk": S("a"), "sk": N(99)}, Expected={"pk": {"Exists": False}},
        ConditionExpression="attribute_not_exists(pk)")),
    "UpdateItem AttributeUpdates+UpdateExpression": ("update_item", dict(
        Key={"pk": S("a"), "sk": N(99)}, AttributeUpdates={"v": {"Action": "PUT", "Value": N(1)}},
        UpdateExpression="SET v = :v", ExpressionAttributeValues={":v": N(1)})),
    "UpdateItem AttributeUpdates+ConditionExpression": ("update_item", dict(
        Key={"pk": S("a"), "sk": N(99)}, AttributeUpdates={"v": {"Action": "PUT", "Value": N(1)}},
        ConditionExpression="attribute_not_exists(pk)")),
    "Query KeyConditions+FilterExpression": ("query", dict(
        KeyConditions={"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [S("a")]}},
        FilterExpression="v > :v", ExpressionAttributeValues={":v": N(1)})),
    "Query KeyConditions+ProjectionExpression": ("query", dict(
        KeyConditions={"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [S("a")]}},
        ProjectionExpression="v")),
    "Query KeyConditionExpression+AttributesToGet": ("query", dict(
        KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S("a")}, AttributesToGet=["v"])),
    "Query KeyConditionExpression+QueryFilter": ("query", dict(
        KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S("a")},
        QueryFilter={"v": {"ComparisonOperator": "GT", "AttributeValueList": [N(1)]}})),
    "Scan ScanFilter+ProjectionExpression": ("scan", dict(
        ScanFilter={"v": {"ComparisonOperator": "GT", "AttributeValueList": [N(1)]}}, ProjectionExpression="v")),
}


@pytest.mark.parametrize("case", sorted(MIXED))
def test_mixing_legacy_and_expressions_rejected(ddb_raw, legacy_query_table, case):
    # Developer Guide, LegacyConditionalParameters: "DynamoDB does not allow mixing legacy
    # conditional parameters and expression parameters in a single call."
    op, kw = MIXED[case]
    validation_error(getattr(ddb_raw, op), TableName=legacy_query_table, **kw)
    assert get(ddb_raw, legacy_query_table, {"pk": S("a"), "sk": N(99)}) is None


def test_key_conditions_errors(ddb_raw, legacy_query_table):
    t = legacy_query_table
    # hash key must be EQ
    validation_error(ddb_raw.query, TableName=t,
                     KeyConditions={"pk": {"ComparisonOperator": "GT", "AttributeValueList": [S("a")]}})
    # a non-key attribute in KeyConditions
    validation_error(ddb_raw.query, TableName=t,
                     KeyConditions={"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [S("a")]},
                                    "v": {"ComparisonOperator": "EQ", "AttributeValueList": [N(1)]}})

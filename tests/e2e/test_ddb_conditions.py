"""DynamoDB API: ConditionExpression on PutItem, UpdateItem and DeleteItem.

Docs: Developer Guide "Condition and filter expressions, operators, and
functions" (Expressions.OperatorsAndFunctions): comparators = <> < <= > >=,
BETWEEN, IN, AND/OR/NOT with precedence NOT > AND > OR, parentheses, functions
attribute_exists, attribute_not_exists, attribute_type, begins_with, contains,
size; "Example: conditional writes" (attribute_not_exists to insert only if
absent -> ConditionalCheckFailedException). "Document paths" (a.b[1].c).
API Reference PutItem/UpdateItem/DeleteItem: ConditionalCheckFailedException.
"""

import pytest

from ddb_fixtures import *  # noqa: F401,F403

ITEM = {
    "pk": S("c1"),
    "n": N(5),
    "s": S("hello world"),
    "b": B(b"\x01\x02\x03"),
    "t": {"BOOL": True},
    "z": {"NULL": True},
    "ss": {"SS": ["a", "b", "c"]},
    "ns": {"NS": ["1", "2"]},
    "bs": {"BS": [b"\x01", b"\x02"]},
    "l": {"L": [S("x"), N(2), {"M": {"c": S("deep")}}]},
    "a": {"M": {"b": {"L": [N(0), {"M": {"c": N(42)}}]}}},
    "name": S("reserved word as an attribute name"),
}

VALUES = {
    ":zero": N(0), ":one": N(1), ":two": N(2), ":three": N(3), ":five": N(5), ":six": N(6),
    ":seven": N(7), ":ten": N(10), ":eleven": N(11), ":fortytwo": N(42),
    ":fives": S("5"), ":hello": S("hello"), ":hw": S("hello world"), ":he": S("he"), ":wo": S("wo"),
    ":wor": S("wor"), ":i": S("i"), ":a": S("a"), ":z": S("z"), ":x": S("x"), ":deep": S("deep"),
    ":b01": B(b"\x01"), ":b02": B(b"\x02"), ":b0102": B(b"\x01\x02"),
    ":S": S("S"), ":N": S("N"), ":B": S("B"), ":SS": S("SS"), ":NS": S("NS"), ":BS": S("BS"),
    ":L": S("L"), ":M": S("M"), ":BOOL": S("BOOL"), ":NULL": S("NULL"),
    ":true": {"BOOL": True}, ":null": {"NULL": True},
    ":ssab": {"SS": ["a", "b", "c"]},
}
NAMES = {"#n": "name", "#nope": "nope", "#s": "s"}

CASES = [
    # comparators
    ("n = :five", True), ("n <> :five", False), ("n < :six", True), ("n <= :five", True),
    ("n < :five", False), ("n > :five", False), ("n >= :five", True), ("n >= :six", False),
    ("n > :one", True), ("n = :fives", False), ("n <> :fives", True),
    ("s = :hw", True), ("s < :i", True), ("s > :hello", True), ("s <= :hello", False),
    ("b = :b0102", False), ("b > :b0102", True), ("t = :true", True), ("z = :null", True),
    ("ss = :ssab", True),
    # BETWEEN, IN
    ("n BETWEEN :one AND :five", True), ("n BETWEEN :five AND :ten", True),
    ("n BETWEEN :six AND :ten", False), ("s BETWEEN :he AND :i", True),
    ("n IN (:one, :five)", True), ("n IN (:one, :six, :seven)", False), ("n IN (:five)", True),
    ("s IN (:hello, :hw)", True),
    # functions
    ("attribute_exists(s)", True), ("attribute_exists(nope)", False),
    ("attribute_not_exists(nope)", True), ("attribute_not_exists(s)", False),
    ("attribute_exists(a.b[1].c)", True), ("attribute_exists(a.b[2])", False),
    ("attribute_exists(l[2].c)", True), ("attribute_not_exists(l[3])", True),
    ("attribute_type(s, :S)", True), ("attribute_type(n, :S)", False), ("attribute_type(n, :N)", True),
    ("attribute_type(b, :B)", True), ("attribute_type(ss, :SS)", True), ("attribute_type(ns, :NS)", True),
    ("attribute_type(bs, :BS)", True), ("attribute_type(l, :L)", True), ("attribute_type(a, :M)", True),
    ("attribute_type(t, :BOOL)", True), ("attribute_type(z, :NULL)", True), ("attribute_type(ss, :L)", False),
    ("attribute_type(nope, :S)", False),
    ("begins_with(s, :he)", True), ("begins_with(s, :wo)", False), ("begins_with(s, :hw)", True),
    ("begins_with(b, :b01)", True), ("begins_with(b, :b02)", False), ("begins_with(nope, :he)", False),
    ("contains(s, :wor)", True), ("contains(s, :z)", False),
    ("contains(ss, :a)", True), ("contains(ss, :z)", False), ("contains(ns, :two)", True),
    ("contains(ns, :five)", False), ("contains(bs, :b02)", True), ("contains(l, :x)", True),
    ("contains(l, :deep)", False),
    ("size(s) = :eleven", True), ("size(s) > :ten", True), ("size(ss) = :three", True),
    ("size(ns) = :two", True), ("size(l) = :three", True), ("size(a) = :one", True),
    ("size(b) = :three", True), ("size(a.b) = :two", True), ("size(nope) = :zero", False),
    # document paths
    ("a.b[1].c = :fortytwo", True), ("a.b[0] = :zero", True), ("a.b[5].c = :fortytwo", False),
    ("l[2].c = :deep", True), ("l[0] = :x", True), ("l[1] = :x", False),
    # missing attributes never compare equal
    ("nope = :five", False), ("nope < :five", False), ("nope BETWEEN :one AND :ten", False),
    # logic, parentheses, precedence (NOT > AND > OR)
    ("n = :five AND s = :hello", False), ("n = :five AND s = :hw", True),
    ("n = :five OR s = :x", True), ("n = :six OR s = :x", False),
    ("NOT n = :five", False), ("NOT n = :six", True), ("NOT (n = :six OR n = :seven)", True),
    ("NOT attribute_exists(nope)", True),
    ("n = :five OR n = :six AND attribute_not_exists(t)", True),
    ("(n = :five OR n = :six) AND attribute_not_exists(t)", False),
    ("NOT n = :six AND n = :six", False),
    ("(n = :five)", True), ("(n = :one OR (s = :hw AND (t = :true)))", True),
    # names
    ("#n = :hello", False), ("attribute_exists(#n)", True), ("attribute_not_exists(#nope)", True),
    ("size(#s) = :eleven", True),
]


@pytest.fixture(scope="module")
def cond_table(mddb, module_tables):
    t = module_tables(prefix="cond")
    mddb.put_item(TableName=t, Item=ITEM)
    return t


def holds(client, table, expr):
    """True if `expr` holds on ITEM: a conditional PutItem of the very same item
    succeeds; False on ConditionalCheckFailedException."""
    kw = exprs_subset(expr, NAMES, VALUES)
    try:
        client.put_item(TableName=table, Item=ITEM, ConditionExpression=expr, **kw)
        return True
    except ClientError as e:
        assert err_code(e) == "ConditionalCheckFailedException", (expr, e.response)
        assert http_status(e) == 400
        return False


@pytest.mark.parametrize("expr,expected", CASES, ids=[c[0] for c in CASES])
def test_condition(mddb, cond_table, expr, expected):
    assert holds(mddb, cond_table, expr) is expected, expr


def test_condition_cases_left_item_unchanged(mddb, cond_table):
    assert_item(get(mddb, cond_table, {"pk": S("c1")}), ITEM)


def test_insert_if_absent(ddb, make_table):
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": S("k"), "v": S("first")}, ConditionExpression="attribute_not_exists(pk)")
    e = expect_error("ConditionalCheckFailedException", ddb.put_item, TableName=t,
                     Item={"pk": S("k"), "v": S("second")}, ConditionExpression="attribute_not_exists(pk)")
    assert http_status(e) == 400
    assert get(ddb, t, {"pk": S("k")})["v"] == S("first")


def test_condition_on_missing_item(ddb, make_table):
    t = make_table()
    # no item: attribute_exists fails, comparisons fail, attribute_not_exists passes
    for expr, kw in (("attribute_exists(pk)", {}), ("v = :v", {"ExpressionAttributeValues": {":v": N(1)}})):
        expect_error("ConditionalCheckFailedException", ddb.put_item, TableName=t, Item={"pk": S("m")},
                     ConditionExpression=expr, **kw)
        expect_error("ConditionalCheckFailedException", ddb.update_item, TableName=t, Key={"pk": S("m")},
                     UpdateExpression="SET w = :w", ConditionExpression=expr,
                     ExpressionAttributeValues=dict(kw.get("ExpressionAttributeValues", {}), **{":w": N(2)}))
        expect_error("ConditionalCheckFailedException", ddb.delete_item, TableName=t, Key={"pk": S("m")},
                     ConditionExpression=expr, **kw)
    assert get(ddb, t, {"pk": S("m")}) is None


def test_condition_on_update_and_delete(ddb, make_table):
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": S("k"), "ver": N(1), "v": S("a")})
    # optimistic locking: update only if ver matches
    ddb.update_item(TableName=t, Key={"pk": S("k")}, UpdateExpression="SET v = :v, ver = ver + :one",
                    ConditionExpression="ver = :expected",
                    ExpressionAttributeValues={":v": S("b"), ":one": N(1), ":expected": N(1)})
    expect_error("ConditionalCheckFailedException", ddb.update_item, TableName=t, Key={"pk": S("k")},
                 UpdateExpression="SET v = :v, ver = ver + :one", ConditionExpression="ver = :expected",
                 ExpressionAttributeValues={":v": S("c"), ":one": N(1), ":expected": N(1)})
    assert_item(get(ddb, t, {"pk": S("k")}), {"pk": S("k"), "ver": N(2), "v": S("b")})
    # delete with a failing then a passing condition
    expect_error("ConditionalCheckFailedException", ddb.delete_item, TableName=t, Key={"pk": S("k")},
                 ConditionExpression="v = :v", ExpressionAttributeValues={":v": S("a")})
    assert get(ddb, t, {"pk": S("k")}) is not None
    ddb.delete_item(TableName=t, Key={"pk": S("k")}, ConditionExpression="v = :v AND ver BETWEEN :lo AND :hi",
                    ExpressionAttributeValues={":v": S("b"), ":lo": N(0), ":hi": N(5)})
    assert get(ddb, t, {"pk": S("k")}) is None


def test_condition_expression_errors(ddb_raw, make_table):
    t = make_table()
    ddb_raw.put_item(TableName=t, Item={"pk": S("k"), "v": N(1)})
    bad = [
        ("v = :undefined", {}),                                   # undefined value
        ("v = :v", {"ExpressionAttributeValues": {":v": N(1), ":unused": N(2)}}),   # unused value
        ("#x = :v", {"ExpressionAttributeValues": {":v": N(1)}}),  # undefined name
        ("v = :v", {"ExpressionAttributeValues": {":v": N(1)}, "ExpressionAttributeNames": {"#u": "v"}}),
        ("name = :v", {"ExpressionAttributeValues": {":v": N(1)}}),   # reserved word
        ("v = = :v", {"ExpressionAttributeValues": {":v": N(1)}}),    # syntax
        ("no_such_function(v)", {}),
        ("begins_with(v)", {}),                                    # wrong arity
        ("size(v)", {}),                                            # size() alone is not a condition
        ("attribute_type(v, :t)", {"ExpressionAttributeValues": {":t": S("XX")}}),  # bad type name
        ("v = :v", {"ExpressionAttributeValues": {"v": N(1)}}),      # value name without ':'
        ("#n = :v", {"ExpressionAttributeValues": {":v": N(1)},     # name placeholder without '#'
                     "ExpressionAttributeNames": {"#n": "v", "n": "v"}}),
        ("", {}),                                                   # empty expression
    ]
    for expr, kw in bad:
        validation_error(ddb_raw.put_item, TableName=t, Item={"pk": S("k"), "v": N(9)},
                         ConditionExpression=expr, **kw)
    assert_item(get(ddb_raw, t, {"pk": S("k")}), {"pk": S("k"), "v": N(1)})


def test_in_operand_limit(ddb, ddb_raw, make_table):
    # IN takes up to 100 values (Condition and filter expressions, comparison syntax).
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": S("k"), "v": N(100)})
    vals = {":v%d" % i: N(i + 1) for i in range(100)}
    ddb.put_item(TableName=t, Item={"pk": S("k"), "v": N(100)},
                 ConditionExpression="v IN (%s)" % ", ".join(sorted(vals)), ExpressionAttributeValues=vals)
    vals[":v100"] = N(1000)
    validation_error(ddb_raw.put_item, TableName=t, Item={"pk": S("k"), "v": N(100)},
                     ConditionExpression="v IN (%s)" % ", ".join(sorted(vals)), ExpressionAttributeValues=vals)


def test_return_values_on_condition_check_failure_raw(server, ddb, make_table):
    # The same parameter sent on the wire directly (the installed botocore predates it):
    # API Reference PutItem, ReturnValuesOnConditionCheckFailure ALL_OLD returns the item's
    # attributes with the ConditionalCheckFailedException (its "Item" member).
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": S("k"), "v": N(1)})
    r = raw_ddb(server, "PutItem", {"TableName": t, "Item": {"pk": {"S": "k"}, "v": {"N": "2"}},
                                    "ConditionExpression": "attribute_not_exists(pk)",
                                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD"})
    assert r.status == 400, r
    assert error_type(r) == "ConditionalCheckFailedException", r
    assert r.json().get("Item") == {"pk": {"S": "k"}, "v": {"N": "1"}}, r
    r = raw_ddb(server, "PutItem", {"TableName": t, "Item": {"pk": {"S": "k"}, "v": {"N": "2"}},
                                    "ConditionExpression": "attribute_not_exists(pk)",
                                    "ReturnValuesOnConditionCheckFailure": "NONE"})
    assert error_type(r) == "ConditionalCheckFailedException", r
    assert "Item" not in r.json(), r
    assert get(ddb, t, {"pk": S("k")})["v"] == N(1)


def test_return_values_on_condition_check_failure(ddb, make_table):
    import botocore.session
    shape = botocore.session.get_session().get_service_model("dynamodb").operation_model("PutItem").input_shape
    if "ReturnValuesOnConditionCheckFailure" not in shape.members:
        pytest.skip("the installed botocore (%s) has no ReturnValuesOnConditionCheckFailure parameter "
                    "in its DynamoDB service model" % botocore.__version__)
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": S("k"), "v": N(1)})
    e = expect_error("ConditionalCheckFailedException", ddb.put_item, TableName=t, Item={"pk": S("k"), "v": N(2)},
                     ConditionExpression="attribute_not_exists(pk)", ReturnValuesOnConditionCheckFailure="ALL_OLD")
    assert_item(e.response["Item"], {"pk": S("k"), "v": N(1)})

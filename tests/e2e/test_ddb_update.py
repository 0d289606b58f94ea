"""DynamoDB API: UpdateItem with UpdateExpression.

Docs: Developer Guide "Update expressions" (Expressions.UpdateExpressions):
SET (+, -, if_not_exists, list_append, nested paths, list elements - "If the
element doesn't already exist, SET appends it at the end of the list"), REMOVE
(attributes and list elements: remaining elements shift), ADD (numbers: adds,
missing attribute starts at 0; sets: adds elements), DELETE (removes elements
from a set); each clause at most once; all operands are read from the item as
it was before the update. API Reference UpdateItem: ReturnValues NONE |
ALL_OLD | UPDATED_OLD | ALL_NEW | UPDATED_NEW; key attributes cannot be
updated. Expression attribute names/values: unused or undefined ones are
errors; reserved words need #names (Developer Guide "Reserved words").
"""

import decimal

from ddb_fixtures import *  # noqa: F401,F403


def upd(client, t, key, expr, values=None, names=None, **kw):
    args = dict(TableName=t, Key=key, UpdateExpression=expr, **kw)
    if values:
        args["ExpressionAttributeValues"] = values
    if names:
        args["ExpressionAttributeNames"] = names
    return client.update_item(**args)


def test_update_creates_item(ddb, make_table):
    t = make_table()
    r = upd(ddb, t, {"pk": S("new")}, "SET a = :a", {":a": S("x")})
    assert "Attributes" not in r, r
    assert_item(get(ddb, t, {"pk": S("new")}), {"pk": S("new"), "a": S("x")})


def test_set_arithmetic(ddb, make_table):
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": S("k"), "n": N(10), "d": N("0.1")})
    upd(ddb, t, {"pk": S("k")}, "SET x = n + :one, y = n - :three, n = n + :big, d = d + :d, e = :two - n",
        {":one": N(1), ":three": N(3), ":big": N("1E+30"), ":d": N("0.2"), ":two": N(2)})
    got = get(ddb, t, {"pk": S("k")})
    assert decimal.Decimal(got["x"]["N"]) == 11, got
    assert decimal.Decimal(got["y"]["N"]) == 7, got
    # SET reads the old item: e uses n = 10, not the new n
    assert decimal.Decimal(got["e"]["N"]) == -8, got
    # exact decimal arithmetic, 38 digits
    assert decimal.Decimal(got["n"]["N"]) == decimal.Decimal("1000000000000000000000000000010"), got
    assert decimal.Decimal(got["d"]["N"]) == decimal.Decimal("0.3"), got


def test_arithmetic_overflow_rejected(ddb, make_table):
    # UpdateItem errors: "Number overflow. Attempting to store a number with magnitude larger
    # than supported range." (largest: 9.9999999999999999999999999999999999999E+125)
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": S("o"), "n": N("9.9999999999999999999999999999999999999E+125")})
    validation_error(upd, ddb, t, {"pk": S("o")}, "SET n = n + :v", {":v": N("1E+125")})
    validation_error(upd, ddb, t, {"pk": S("o")}, "ADD n :v", {":v": N("1E+125")})
    validation_error(upd, ddb, t, {"pk": S("o")}, "SET m = :neg - n", {":neg": N("-1E+125")})
    got = get(ddb, t, {"pk": S("o")})
    assert set(got) == {"pk", "n"}
    assert decimal.Decimal(got["n"]["N"]) == decimal.Decimal("9.9999999999999999999999999999999999999E+125")


def test_set_swap_reads_old_values(ddb, make_table):
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": S("k"), "a": S("A"), "b": S("B")})
    upd(ddb, t, {"pk": S("k")}, "SET a = b, b = a")
    assert_item(get(ddb, t, {"pk": S("k")}), {"pk": S("k"), "a": S("B"), "b": S("A")})


def test_if_not_exists(ddb, make_table):
    t = make_table()
    for expected in (1, 2, 3):
        upd(ddb, t, {"pk": S("c")}, "SET c = if_not_exists(c, :zero) + :one, init = if_not_exists(init, :n)",
            {":zero": N(0), ":one": N(1), ":n": N(expected)})
        got = get(ddb, t, {"pk": S("c")})
        assert got["c"] == N(expected), got
        assert got["init"] == N(1), got


def test_list_append(ddb, make_table):
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": S("l"), "l": {"L": [S("b")]}})
    upd(ddb, t, {"pk": S("l")}, "SET l = list_append(l, :more)", {":more": {"L": [S("c"), S("d")]}})
    upd(ddb, t, {"pk": S("l")}, "SET l = list_append(:front, l)", {":front": {"L": [S("a")]}})
    assert get(ddb, t, {"pk": S("l")})["l"] == {"L": [S("a"), S("b"), S("c"), S("d")]}
    # append to a list that may not exist yet
    upd(ddb, t, {"pk": S("l")}, "SET m = list_append(if_not_exists(m, :empty), :v)",
        {":empty": {"L": []}, ":v": {"L": [N(1)]}})
    assert get(ddb, t, {"pk": S("l")})["m"] == {"L": [N(1)]}


def test_set_nested_paths_and_list_index(ddb, make_table):
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": S("n"), "m": {"M": {"x": {"M": {}}}},
                                    "l": {"L": [S("a"), S("b"), S("c")]}})
    upd(ddb, t, {"pk": S("n")}, "SET m.x.y = :v, m.z = :w, l[1] = :b, l[10] = :end, #odd.q = :q",
        {":v": N(1), ":w": S("w"), ":b": S("B"), ":end": S("end"), ":q": N(9)}, {"#odd": "m"})
    got = get(ddb, t, {"pk": S("n")})
    assert_item(got, {"pk": S("n"),
                      "m": {"M": {"x": {"M": {"y": N(1)}}, "z": S("w"), "q": N(9)}},
                      "l": {"L": [S("a"), S("B"), S("c"), S("end")]}})
    # a parent that does not exist -> invalid document path
    validation_error(upd, ddb, t, {"pk": S("n")}, "SET nope.x = :v", {":v": N(1)})
    validation_error(upd, ddb, t, {"pk": S("n")}, "SET m.nope.x = :v", {":v": N(1)})
    # indexing something that is not a list
    validation_error(upd, ddb, t, {"pk": S("n")}, "SET m[0] = :v", {":v": N(1)})
    assert_item(get(ddb, t, {"pk": S("n")}), got)


def test_set_and_remove_deep_document_paths(ddb, make_table):
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": S("p"), "a": {"M": {"b": {"L": [N(0), {"M": {"c": N(42)}}, N(2)]}}}})
    upd(ddb, t, {"pk": S("p")}, "SET a.b[1].c = a.b[1].c + :one, a.b[1].d = :d REMOVE a.b[0]",
        {":one": N(1), ":d": S("new")})
    assert_item(get(ddb, t, {"pk": S("p")}),
                {"pk": S("p"), "a": {"M": {"b": {"L": [{"M": {"c": N(43), "d": S("new")}}, N(2)]}}}})


def test_remove(ddb, make_table):
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": S("r"), "a": S("1"), "b": S("2"),
                                    "l": {"L": [S("a"), S("b"), S("c"), S("d"), S("e")]},
                                    "m": {"M": {"x": N(1), "y": N(2)}}})
    upd(ddb, t, {"pk": S("r")}, "REMOVE a, l[0], l[2], m.x, nope")
    # indexes refer to the list before the update; the rest shift down
    assert_item(get(ddb, t, {"pk": S("r")}), {"pk": S("r"), "b": S("2"),
                                              "l": {"L": [S("b"), S("d"), S("e")]},
                                              "m": {"M": {"y": N(2)}}})
    # removing past the end of a list changes nothing
    upd(ddb, t, {"pk": S("r")}, "REMOVE l[7]")
    assert get(ddb, t, {"pk": S("r")})["l"] == {"L": [S("b"), S("d"), S("e")]}


def test_add_number_and_set(ddb, make_table):
    t = make_table()
    # ADD on a missing item creates it; a missing number starts at 0
    upd(ddb, t, {"pk": S("a")}, "ADD cnt :five, tags :t, ns :n",
        {":five": N(5), ":t": {"SS": ["x", "y"]}, ":n": {"NS": ["1"]}})
    assert_item(get(ddb, t, {"pk": S("a")}), {"pk": S("a"), "cnt": N(5), "tags": {"SS": ["x", "y"]},
                                              "ns": {"NS": ["1"]}})
    upd(ddb, t, {"pk": S("a")}, "ADD cnt :m, tags :t", {":m": N("-7.5"), ":t": {"SS": ["y", "z"]}})
    got = get(ddb, t, {"pk": S("a")})
    assert decimal.Decimal(got["cnt"]["N"]) == decimal.Decimal("-2.5"), got
    assert sorted(got["tags"]["SS"]) == ["x", "y", "z"], got


def test_delete_from_set(ddb, make_table):
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": S("d"), "ss": {"SS": ["a", "b", "c"]}, "ns": {"NS": ["1", "2"]},
                                    "bs": {"BS": [b"\x01", b"\x02"]}})
    upd(ddb, t, {"pk": S("d")}, "DELETE ss :v, ns :n, bs :b",
        {":v": {"SS": ["a", "zz"]}, ":n": {"NS": ["2.0"]}, ":b": {"BS": [b"\x01"]}})
    got = get(ddb, t, {"pk": S("d")})
    assert sorted(got["ss"]["SS"]) == ["b", "c"], got
    assert [decimal.Decimal(x) for x in got["ns"]["NS"]] == [1], got
    assert got["bs"]["BS"] == [b"\x02"], got
    # deleting every element removes the attribute (a set cannot be empty)
    upd(ddb, t, {"pk": S("d")}, "DELETE ns :n", {":n": {"NS": ["1"]}})
    assert "ns" not in get(ddb, t, {"pk": S("d")})


def test_all_clauses_together(ddb, make_table):
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": S("all"), "a": N(1), "gone": S("x"), "s": {"SS": ["p", "q"]}})
    upd(ddb, t, {"pk": S("all")}, "SET a = a + :one REMOVE gone ADD c :one DELETE s :p",
        {":one": N(1), ":p": {"SS": ["p"]}})
    assert_item(get(ddb, t, {"pk": S("all")}), {"pk": S("all"), "a": N(2), "c": N(1), "s": {"SS": ["q"]}})


def test_return_values_exact(ddb, make_table):
    t = make_table()
    old = {"pk": S("rv"), "a": N(1), "b": N(2), "c": N(3)}
    expr, vals = "SET a = :ten, d = :four", {":ten": N(10), ":four": N(4)}
    new = {"pk": S("rv"), "a": N(10), "b": N(2), "c": N(3), "d": N(4)}
    expected = {
        "NONE": None,
        "ALL_OLD": old,
        "UPDATED_OLD": {"a": N(1)},
        "ALL_NEW": new,
        "UPDATED_NEW": {"a": N(10), "d": N(4)},
    }
    for rv, want in expected.items():
        ddb.put_item(TableName=t, Item=old)
        r = upd(ddb, t, {"pk": S("rv")}, expr, vals, ReturnValues=rv)
        if want is None:
            assert "Attributes" not in r, (rv, r)
        else:
            assert_item(r.get("Attributes"), want)
        assert_item(get(ddb, t, {"pk": S("rv")}), new)


def test_return_values_on_new_item(ddb, make_table):
    t = make_table()
    r = upd(ddb, t, {"pk": S("fresh")}, "SET a = :a", {":a": N(1)}, ReturnValues="ALL_OLD")
    assert "Attributes" not in r, r
    r = upd(ddb, t, {"pk": S("fresh2")}, "SET a = :a", {":a": N(1)}, ReturnValues="ALL_NEW")
    assert_item(r["Attributes"], {"pk": S("fresh2"), "a": N(1)})


def test_update_key_attribute_rejected(ddb, make_table):
    t = make_table()
    tr = make_table(hash_key=("h", "S"), range_key=("r", "N"))
    ddb.put_item(TableName=t, Item={"pk": S("k")})
    validation_error(upd, ddb, t, {"pk": S("k")}, "SET pk = :v", {":v": S("other")})
    validation_error(upd, ddb, t, {"pk": S("k")}, "REMOVE pk")
    validation_error(upd, ddb, tr, {"h": S("a"), "r": N(1)}, "SET r = :v", {":v": N(2)})
    validation_error(upd, ddb, tr, {"h": S("a"), "r": N(1)}, "ADD r :v", {":v": N(2)})
    assert get(ddb, tr, {"h": S("a"), "r": N(1)}) is None
    assert_item(get(ddb, t, {"pk": S("k")}), {"pk": S("k")})


def test_expression_attribute_errors(ddb_raw, make_table):
    t = make_table()
    c = ddb_raw
    c.put_item(TableName=t, Item={"pk": S("e"), "a": N(1), "s": S("str"), "l": {"L": []}})
    k = {"pk": S("e")}
    bad = [
        # unused value / unused name
        ("SET a = :v", {":v": N(1), ":unused": N(2)}, None),
        ("SET a = :v", {":v": N(1)}, {"#unused": "a"}),
        # undefined value / name
        ("SET a = :nope", None, None),
        ("SET #nope = :v", {":v": N(1)}, None),
        # overlapping paths
        ("SET a = :v, a.b = :w", {":v": {"M": {}}, ":w": N(1)}, None),
        ("SET a = :v REMOVE a", {":v": N(1)}, None),
        ("SET l[0] = :v, l[0] = :w", {":v": N(1), ":w": N(2)}, None),
        ("SET a = :v, a = :w", {":v": N(1), ":w": N(2)}, None),
        # a clause twice
        ("SET a = :v SET b = :w", {":v": N(1), ":w": N(2)}, None),
        ("REMOVE a REMOVE s", None, None),
        # reserved words used bare
        ("SET name = :v", {":v": N(1)}, None),
        ("SET status = :v", {":v": N(1)}, None),
        ("SET data = :v", {":v": N(1)}, None),
        ("REMOVE comment", None, None),
        # operand types
        ("SET a = s + :one", {":one": N(1)}, None),
        ("ADD s :one", {":one": N(1)}, None),
        ("ADD l :one", {":one": N(1)}, None),
        ("DELETE a :v", {":v": {"SS": ["x"]}}, None),
        ("ADD a :v", {":v": {"SS": ["x"]}}, None),
        ("SET l = list_append(l, :n)", {":n": N(1)}, None),
        ("SET x = :empty", {":empty": {"SS": []}}, None),
        ("ADD x :ns", {":ns": {"NS": ["1", "1"]}}, None),
        # arithmetic on a missing attribute
        ("SET a = nope + :one", {":one": N(1)}, None),
        # syntax
        ("SET", None, None),
        ("SET a :v", {":v": N(1)}, None),
        ("FROB a", None, None),
        ("", None, None),
        ("SET a = :v,", {":v": N(1)}, None),
    ]
    for expr, vals, names in bad:
        validation_error(upd, c, t, k, expr, vals, names)
    assert_item(get(c, t, k), {"pk": S("e"), "a": N(1), "s": S("str"), "l": {"L": []}})


def test_set_type_mismatch(ddb, make_table):
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": S("m"), "ss": {"SS": ["a"]}})
    validation_error(upd, ddb, t, {"pk": S("m")}, "ADD ss :v", {":v": {"NS": ["1"]}})
    validation_error(upd, ddb, t, {"pk": S("m")}, "DELETE ss :v", {":v": {"NS": ["1"]}})
    validation_error(upd, ddb, t, {"pk": S("m")}, "DELETE ss :v", {":v": S("a")})
    assert get(ddb, t, {"pk": S("m")})["ss"] == {"SS": ["a"]}


def test_reserved_word_with_placeholder_works(ddb, make_table):
    t = make_table()
    upd(ddb, t, {"pk": S("w")}, "SET #n = :v, #s = :s", {":v": S("nm"), ":s": S("ok")},
        {"#n": "name", "#s": "status"})
    assert_item(get(ddb, t, {"pk": S("w")}), {"pk": S("w"), "name": S("nm"), "status": S("ok")})


def test_update_with_no_expression_and_no_attributes(ddb, make_table):
    # UpdateItem with neither UpdateExpression nor AttributeUpdates creates the item with the key
    # only, if it does not exist (API Reference UpdateItem: "edits an existing item's attributes,
    # or adds a new item to the table if it does not already exist").
    t = make_table()
    ddb.update_item(TableName=t, Key={"pk": S("bare")})
    assert_item(get(ddb, t, {"pk": S("bare")}), {"pk": S("bare")})

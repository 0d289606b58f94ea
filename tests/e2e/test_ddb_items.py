"""DynamoDB API: PutItem, GetItem, DeleteItem and the data types.

Docs: API Reference PutItem / GetItem / DeleteItem, AttributeValue;
Developer Guide "Supported data types and naming rules" (HowItWorks.NamingRulesDataTypes):
Number: up to 38 digits of precision, positive range 1E-130 to
9.9999999999999999999999999999999999999E+125, negative likewise, "leading and
trailing zeroes are trimmed"; Binary is base64 on the wire; sets: all elements
of one type, values unique, order not preserved, no empty sets; empty String
and Binary allowed for non-key attributes. "Projection expressions".
"""

import decimal

from ddb_fixtures import *  # noqa: F401,F403


def every_type_item(pk):
    return {
        "pk": S(pk),
        "s": S("héllo ✓ 😀"),
        "n": N("-12.5"),
        "int": N("42"),
        "b": B(bytes(range(256))),
        "t": {"BOOL": True},
        "f": {"BOOL": False},
        "z": {"NULL": True},
        "ss": {"SS": ["a", "b", "ç"]},
        "ns": {"NS": ["1", "2.5", "-3", "1E+10"]},
        "bs": {"BS": [b"\x00", b"\xff", b"ab"]},
        "l": {"L": [S("x"), N("1"), B(b"\x01"), {"BOOL": False}, {"NULL": True},
                    {"M": {"k": S("v")}}, {"L": [N("2")]}, {"SS": ["q"]}, {"NS": ["7"]},
                    {"BS": [b"\x02"]}]},
        "m": {"M": {"innr": {"M": {"x": N("1"), "l": {"L": [S("a"), {"M": {"deep": {"BOOL": True}}}]}}},
                    "empty_l": {"L": []}, "empty_m": {"M": {}}}},
        "es": S(""),
        "eb": B(b""),
        "el": {"L": []},
        "em": {"M": {}},
    }


def test_put_get_every_type(ddb, make_table):
    t = make_table()
    item = every_type_item("all")
    r = ddb.put_item(TableName=t, Item=item)
    assert "Attributes" not in r, r  # ReturnValues NONE is the default
    got = get(ddb, t, {"pk": S("all")})
    assert_item(got, item)
    # binary comes back as the same bytes
    assert got["b"]["B"] == bytes(range(256))
    assert got["s"]["S"] == "héllo ✓ 😀"


def test_put_replaces_whole_item(ddb, make_table):
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": S("k"), "a": S("1"), "b": S("2")})
    ddb.put_item(TableName=t, Item={"pk": S("k"), "c": S("3")})
    assert_item(get(ddb, t, {"pk": S("k")}), {"pk": S("k"), "c": S("3")})


def test_get_missing_item_has_no_item(ddb, make_table):
    t = make_table()
    r = ddb.get_item(TableName=t, Key={"pk": S("nope")})
    assert "Item" not in r, r


def test_consistent_read_accepted(ddb, make_table):
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": S("c"), "v": N(1)})
    for cr in (True, False):
        r = ddb.get_item(TableName=t, Key={"pk": S("c")}, ConsistentRead=cr)
        assert_item(r["Item"], {"pk": S("c"), "v": N(1)})


def test_delete_item(ddb, make_table):
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": S("d"), "v": N(1)})
    r = ddb.delete_item(TableName=t, Key={"pk": S("d")})
    assert "Attributes" not in r, r
    assert get(ddb, t, {"pk": S("d")}) is None
    # deleting a missing item is not an error
    ddb.delete_item(TableName=t, Key={"pk": S("d")})
    # ReturnValues ALL_OLD
    ddb.put_item(TableName=t, Item={"pk": S("d"), "v": N(2)})
    r = ddb.delete_item(TableName=t, Key={"pk": S("d")}, ReturnValues="ALL_OLD")
    assert_item(r["Attributes"], {"pk": S("d"), "v": N(2)})
    r = ddb.delete_item(TableName=t, Key={"pk": S("d")}, ReturnValues="ALL_OLD")
    assert "Attributes" not in r, r


def test_put_return_values(ddb, ddb_raw, make_table):
    t = make_table()
    r = ddb.put_item(TableName=t, Item={"pk": S("r"), "v": N(1)}, ReturnValues="ALL_OLD")
    assert "Attributes" not in r, r
    r = ddb.put_item(TableName=t, Item={"pk": S("r"), "v": N(2)}, ReturnValues="ALL_OLD")
    assert_item(r["Attributes"], {"pk": S("r"), "v": N(1)})
    # PutItem: ReturnValues is NONE or ALL_OLD only
    for rv in ("ALL_NEW", "UPDATED_OLD", "UPDATED_NEW", "BOGUS"):
        validation_error(ddb_raw.put_item, TableName=t, Item={"pk": S("r")}, ReturnValues=rv)
    assert_item(get(ddb, t, {"pk": S("r")}), {"pk": S("r"), "v": N(2)})


def test_hash_range_items(ddb, make_table):
    t = make_table(hash_key=("h", "N"), range_key=("r", "B"))
    ddb.put_item(TableName=t, Item={"h": N(1), "r": B(b"\x00"), "v": S("a")})
    ddb.put_item(TableName=t, Item={"h": N(1), "r": B(b"\x00\x00"), "v": S("b")})
    ddb.put_item(TableName=t, Item={"h": N("1.0"), "r": B(b"\x00"), "v": S("c")})  # same key as the first
    assert get(ddb, t, {"h": N(1), "r": B(b"\x00")})["v"] == S("c")
    assert get(ddb, t, {"h": N(1), "r": B(b"\x00\x00")})["v"] == S("b")
    assert get(ddb, t, {"h": N(1), "r": B(b"\x01")}) is None


# --------------------------------------------------------------------------
# numbers


def test_numbers_38_digits_exact(ddb, make_table):
    t = make_table()
    vals = ["12345678901234567890123456789012345678", "-12345678901234567890123456789012345678",
            "0.12345678901234567890123456789012345678", "1234567890123456789.0123456789012345678",
            "99999999999999999999999999999999999999", "1E-130", "-1E-130",
            "9.9999999999999999999999999999999999999E+125", "-9.9999999999999999999999999999999999999E+125",
            "0", "-0.5", "3.14159265358979323846264338327950288"]
    item = {"pk": S("nums")}
    for i, v in enumerate(vals):
        item["n%d" % i] = N(v)
    item["ns"] = {"NS": vals[:6]}
    ddb.put_item(TableName=t, Item=item)
    got = get(ddb, t, {"pk": S("nums")})
    for i, v in enumerate(vals):
        assert decimal.Decimal(got["n%d" % i]["N"]) == decimal.Decimal(v), (v, got["n%d" % i])
    assert_item(got, item)
    # numbers as keys too
    tn = make_table(hash_key=("k", "N"))
    for v in vals:
        ddb.put_item(TableName=tn, Item={"k": N(v), "orig": S(v)})
    for v in vals:
        g = get(ddb, tn, {"k": N(v)})
        assert g is not None and g["orig"] == S(v) and decimal.Decimal(g["k"]["N"]) == decimal.Decimal(v), (v, g)


def test_numbers_trimmed_zeros(ddb, make_table):
    # "Leading and trailing zeroes are trimmed."
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": S("z"), "a": N("0012.500"), "b": N("100"), "c": N("-000.250")})
    got = get(ddb, t, {"pk": S("z")})
    assert got["a"] == N("12.5"), got
    assert decimal.Decimal(got["b"]["N"]) == 100, got
    assert got["c"] == N("-0.25"), got


def test_numbers_out_of_range_rejected(ddb, ddb_raw, make_table):
    t = make_table()
    bad = ["1E-131", "-1E-131", "1E+126", "-1E+126", "10E+125",
           "123456789012345678901234567890123456789",          # 39 significant digits
           "1.23456789012345678901234567890123456789",
           "not-a-number", "", "1e", "--1", "0x10", "Infinity", "NaN"]
    for v in bad:
        validation_error(ddb_raw.put_item, TableName=t, Item={"pk": S("bad"), "n": N(v)})
        # and inside a set / a list
        validation_error(ddb_raw.put_item, TableName=t, Item={"pk": S("bad"), "n": {"NS": [v]}})
        validation_error(ddb_raw.put_item, TableName=t, Item={"pk": S("bad"), "n": {"L": [N(v)]}})
    assert get(ddb, t, {"pk": S("bad")}) is None
    # a key number out of range
    tn = make_table(hash_key=("k", "N"))
    validation_error(ddb_raw.put_item, TableName=tn, Item={"k": N("1E+126")})
    validation_error(ddb_raw.get_item, TableName=tn, Key={"k": N("1E-131")})


# --------------------------------------------------------------------------
# sets


def test_empty_sets_rejected(ddb_raw, make_table):
    t = make_table()
    for st in ("SS", "NS", "BS"):
        validation_error(ddb_raw.put_item, TableName=t, Item={"pk": S("e"), "x": {st: []}})
        validation_error(ddb_raw.put_item, TableName=t, Item={"pk": S("e"), "x": {"M": {"y": {st: []}}}})


def test_duplicate_set_elements_rejected(ddb, ddb_raw, make_table):
    t = make_table()
    for v in ({"SS": ["a", "a"]}, {"NS": ["1", "1"]}, {"NS": ["1", "1.0"]}, {"NS": ["5", "05.00"]},
              {"BS": [b"\x01", b"\x01"]}):
        validation_error(ddb_raw.put_item, TableName=t, Item={"pk": S("dup"), "x": v})
    assert get(ddb, t, {"pk": S("dup")}) is None


def test_sets_unordered_and_unique(ddb, make_table):
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": S("s"), "ss": {"SS": ["b", "a"]}, "ns": {"NS": ["2", "10"]}})
    ddb.update_item(TableName=t, Key={"pk": S("s")}, UpdateExpression="ADD ss :v, ns :n",
                    ExpressionAttributeValues={":v": {"SS": ["a", "c"]}, ":n": {"NS": ["10.0", "3"]}})
    got = get(ddb, t, {"pk": S("s")})
    assert sorted(got["ss"]["SS"]) == ["a", "b", "c"], got
    assert sorted(decimal.Decimal(x) for x in got["ns"]["NS"]) == [2, 3, 10], got


def test_set_element_types(ddb_raw, make_table):
    t = make_table()
    # wrong element types inside a set
    for v in ({"NS": ["a"]}, {"SS": [1]}, {"SS": ["a", 1]}):
        expect_error(("ValidationException", "SerializationException"), ddb_raw.put_item, TableName=t,
                     Item={"pk": S("t"), "x": v})


# --------------------------------------------------------------------------
# malformed attribute values and keys


def test_attribute_value_shape_errors(ddb_raw, make_table):
    t = make_table()
    for v in ({"S": "a", "N": "1"}, {}, {"NULL": False}):
        expect_error(("ValidationException", "SerializationException"), ddb_raw.put_item, TableName=t,
                     Item={"pk": S("v"), "x": v})


def test_key_wrong_type_or_missing(ddb, ddb_raw, make_table):
    t = make_table()
    tr = make_table(hash_key=("h", "S"), range_key=("r", "N"))
    ddb.put_item(TableName=t, Item={"pk": S("1")})
    cases = [
        (ddb_raw.get_item, dict(TableName=t, Key={"pk": N(1)})),                  # wrong type
        (ddb_raw.get_item, dict(TableName=t, Key={})),                            # no key
        (ddb_raw.get_item, dict(TableName=t, Key={"other": S("1")})),             # not the key
        (ddb_raw.get_item, dict(TableName=t, Key={"pk": S("1"), "x": S("y")})),   # extra attribute
        (ddb_raw.put_item, dict(TableName=t, Item={"x": S("no key")})),            # item without key
        (ddb_raw.put_item, dict(TableName=t, Item={"pk": B(b"1")})),               # wrong key type
        (ddb_raw.put_item, dict(TableName=t, Item={"pk": S("")})),                 # empty string key
        (ddb_raw.delete_item, dict(TableName=t, Key={"pk": N(1)})),
        (ddb_raw.get_item, dict(TableName=tr, Key={"h": S("a")})),                 # missing range key
        (ddb_raw.put_item, dict(TableName=tr, Item={"h": S("a"), "v": S("x")})),   # missing range key
        (ddb_raw.put_item, dict(TableName=tr, Item={"h": S("a"), "r": S("1")})),   # range key type
    ]
    for fn, kw in cases:
        validation_error(fn, **kw)
    assert_item(get(ddb, t, {"pk": S("1")}), {"pk": S("1")})


def test_missing_table(ddb):
    name = unique("missing")
    expect_error("ResourceNotFoundException", ddb.get_item, TableName=name, Key={"pk": S("a")})
    expect_error("ResourceNotFoundException", ddb.put_item, TableName=name, Item={"pk": S("a")})
    expect_error("ResourceNotFoundException", ddb.delete_item, TableName=name, Key={"pk": S("a")})


# --------------------------------------------------------------------------
# projections


def test_projection_expression(ddb, make_table):
    t = make_table()
    ddb.put_item(TableName=t, Item=every_type_item("p"))
    r = ddb.get_item(TableName=t, Key={"pk": S("p")}, ProjectionExpression="s, m.innr.x, l[1], l[5].k, nope")
    assert_item(r["Item"], {
        "s": S("héllo ✓ 😀"),
        "m": {"M": {"innr": {"M": {"x": N("1")}}}},
        "l": {"L": [N("1"), {"M": {"k": S("v")}}]},
    })
    # with names, including a reserved word and a name with a dot in it
    ddb.put_item(TableName=t, Item={"pk": S("q"), "name": S("n"), "a.b": S("dotted"), "a": {"M": {"b": S("nested")}}})
    r = ddb.get_item(TableName=t, Key={"pk": S("q")}, ProjectionExpression="#n, #ab",
                     ExpressionAttributeNames={"#n": "name", "#ab": "a.b"})
    assert_item(r["Item"], {"name": S("n"), "a.b": S("dotted")})
    r = ddb.get_item(TableName=t, Key={"pk": S("q")}, ProjectionExpression="a.b")
    assert_item(r["Item"], {"a": {"M": {"b": S("nested")}}})


def test_projection_errors(ddb_raw, make_table):
    t = make_table()
    ddb_raw.put_item(TableName=t, Item={"pk": S("q"), "v": S("x")})
    # reserved word used bare; undefined #name; unused #name; syntax error
    validation_error(ddb_raw.get_item, TableName=t, Key={"pk": S("q")}, ProjectionExpression="name")
    validation_error(ddb_raw.get_item, TableName=t, Key={"pk": S("q")}, ProjectionExpression="#x")
    validation_error(ddb_raw.get_item, TableName=t, Key={"pk": S("q")}, ProjectionExpression="v",
                     ExpressionAttributeNames={"#unused": "v"})
    validation_error(ddb_raw.get_item, TableName=t, Key={"pk": S("q")}, ProjectionExpression="v,,")
    # the same path twice, or a path and its parent, overlap
    validation_error(ddb_raw.get_item, TableName=t, Key={"pk": S("q")}, ProjectionExpression="v, v")
    validation_error(ddb_raw.get_item, TableName=t, Key={"pk": S("q")}, ProjectionExpression="v, v.w")


def test_attribute_names_case_and_unicode(ddb, make_table):
    # names are case-sensitive UTF-8
    t = make_table()
    item = {"pk": S("u"), "A": N(1), "a": N(2), "ÄÖ": N(3), "with space": N(4), "😀": N(5)}
    ddb.put_item(TableName=t, Item=item)
    assert_item(get(ddb, t, {"pk": S("u")}), item)

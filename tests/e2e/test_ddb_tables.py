"""DynamoDB API: tables and tenancy.

Docs (API Reference): CreateTable, DescribeTable, ListTables, UpdateTable,
DeleteTable, DescribeEndpoints; TableDescription data type. Developer Guide:
"Supported data types and naming rules" (table names: 3-255 characters of
a-z A-Z 0-9 _ - .), Constraints (key attributes S, N or B).
"""

import datetime
import decimal
import json

from ddb_fixtures import *  # noqa: F401,F403


def _key_schema(hash_key, range_key=None):
    ks = [{"AttributeName": hash_key, "KeyType": "HASH"}]
    if range_key:
        ks.append({"AttributeName": range_key, "KeyType": "RANGE"})
    return ks


def _check_description(t, name, attrs, schema):
    assert t["TableName"] == name, t
    assert sorted(t["KeySchema"], key=lambda k: k["KeyType"]) == sorted(schema, key=lambda k: k["KeyType"]), t
    assert t["KeySchema"][0]["KeyType"] == "HASH", t
    assert sorted(t["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == \
        sorted(attrs, key=lambda a: a["AttributeName"]), t
    assert t["TableStatus"] in ("CREATING", "ACTIVE"), t
    assert isinstance(t["CreationDateTime"], datetime.datetime), t
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((now - t["CreationDateTime"]).total_seconds()) < 3600, (t["CreationDateTime"], now)
    assert isinstance(t.get("TableArn"), str) and t["TableArn"].startswith("arn:"), t
    assert t["TableArn"].endswith(":table/" + name), t
    assert t["ItemCount"] == 0, t
    assert t["TableSizeBytes"] == 0, t


def test_create_hash_only_each_key_type(ddb, make_table):
    for typ in ("S", "N", "B"):
        name = unique("ct" + typ.lower())
        attrs = [{"AttributeName": "k", "AttributeType": typ}]
        r = ddb.create_table(TableName=name, AttributeDefinitions=attrs, KeySchema=_key_schema("k"),
                             BillingMode="PAY_PER_REQUEST")
        make_table.made.append(name)
        _check_description(r["TableDescription"], name, attrs, _key_schema("k"))
        t = wait_active(ddb, name)
        _check_description(t, name, attrs, _key_schema("k"))
        assert t["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST", t


def test_create_hash_range_key_types(ddb, make_table):
    for ht, rt in (("S", "N"), ("N", "B"), ("B", "S")):
        name = unique("chr")
        attrs = [{"AttributeName": "h", "AttributeType": ht}, {"AttributeName": "r", "AttributeType": rt}]
        r = ddb.create_table(TableName=name, AttributeDefinitions=attrs, KeySchema=_key_schema("h", "r"),
                             ProvisionedThroughput={"ReadCapacityUnits": 3, "WriteCapacityUnits": 4})
        make_table.made.append(name)
        _check_description(r["TableDescription"], name, attrs, _key_schema("h", "r"))
        t = wait_active(ddb, name)
        _check_description(t, name, attrs, _key_schema("h", "r"))
        assert t["ProvisionedThroughput"]["ReadCapacityUnits"] == 3, t
        assert t["ProvisionedThroughput"]["WriteCapacityUnits"] == 4, t


def test_create_duplicate_resource_in_use(ddb, make_table):
    name = make_table()
    expect_error("ResourceInUseException", ddb.create_table, TableName=name,
                 AttributeDefinitions=[{"AttributeName": "x", "AttributeType": "N"}],
                 KeySchema=_key_schema("x"), BillingMode="PAY_PER_REQUEST")
    # the original table is untouched
    t = ddb.describe_table(TableName=name)["Table"]
    assert t["KeySchema"] == _key_schema("pk"), t


def test_create_bad_names(ddb_raw):
    ok_attrs = [{"AttributeName": "k", "AttributeType": "S"}]
    for bad in ("ab", "a" * 256, "bad name", "bad/name", "tbl$", "über-table", ""):
        validation_error(ddb_raw.create_table, TableName=bad, AttributeDefinitions=ok_attrs,
                         KeySchema=_key_schema("k"), BillingMode="PAY_PER_REQUEST")


def test_create_name_edge_lengths_and_chars(ddb, make_table):
    # 3 and 255 characters, every allowed character class.
    for name in ("a.b", ("Z9_-." + unique("e"))[:255].ljust(255, "x")):
        make_table(name=name)
        assert ddb.describe_table(TableName=name)["Table"]["TableName"] == name


def test_create_missing_attribute_definitions(ddb_raw):
    validation_error(ddb_raw.create_table, TableName=unique("noattr"), KeySchema=_key_schema("k"),
                     BillingMode="PAY_PER_REQUEST")


def test_create_key_schema_mismatch(ddb_raw):
    cases = [
        # key attribute not defined
        ([{"AttributeName": "a", "AttributeType": "S"}], _key_schema("k")),
        # a defined attribute that is not a key
        ([{"AttributeName": "k", "AttributeType": "S"}, {"AttributeName": "extra", "AttributeType": "S"}],
         _key_schema("k")),
        # two HASH keys
        ([{"AttributeName": "a", "AttributeType": "S"}, {"AttributeName": "b", "AttributeType": "S"}],
         [{"AttributeName": "a", "KeyType": "HASH"}, {"AttributeName": "b", "KeyType": "HASH"}]),
        # RANGE without HASH
        ([{"AttributeName": "a", "AttributeType": "S"}], [{"AttributeName": "a", "KeyType": "RANGE"}]),
        # key type that cannot be a key (only S, N, B)
        ([{"AttributeName": "k", "AttributeType": "BOOL"}], _key_schema("k")),
        ([{"AttributeName": "k", "AttributeType": "M"}], _key_schema("k")),
        # empty key schema
        ([{"AttributeName": "k", "AttributeType": "S"}], []),
    ]
    for attrs, schema in cases:
        validation_error(ddb_raw.create_table, TableName=unique("mism"), AttributeDefinitions=attrs,
                         KeySchema=schema, BillingMode="PAY_PER_REQUEST")


def test_create_provisioned_needs_throughput(ddb_raw):
    # CreateTable: ProvisionedThroughput is required when BillingMode is PROVISIONED (the default).
    validation_error(ddb_raw.create_table, TableName=unique("nothr"),
                     AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                     KeySchema=_key_schema("k"))


def test_describe_missing_table(ddb):
    expect_error("ResourceNotFoundException", ddb.describe_table, TableName=unique("missing"))


def test_list_tables_paging(ddb_tenant):
    c = ddb_tenant.client
    assert c.list_tables()["TableNames"] == []
    names = ["tp-%02d-%s" % (i, unique("x")[-6:]) for i in range(25)]
    for n in names:
        create_table(c, n, wait=False)
    for n in names:
        wait_active(c, n)
    everything = c.list_tables()
    assert sorted(everything["TableNames"]) == sorted(names), everything
    assert "LastEvaluatedTableName" not in everything, everything

    seen, kw, pages = [], {"Limit": 7}, 0
    while True:
        r = c.list_tables(**kw)
        pages += 1
        assert len(r["TableNames"]) <= 7, r
        seen += r["TableNames"]
        if "LastEvaluatedTableName" not in r:
            break
        assert r["LastEvaluatedTableName"] == r["TableNames"][-1], r
        kw = {"Limit": 7, "ExclusiveStartTableName": r["LastEvaluatedTableName"]}
        assert pages < 10, "paging does not end"
    assert len(seen) == len(set(seen)) == 25, seen
    assert set(seen) == set(names)
    assert pages >= 4


def test_list_tables_limit_bounds(ddb_raw):
    # ListTables Limit: 1..100.
    validation_error(ddb_raw.list_tables, Limit=0)
    validation_error(ddb_raw.list_tables, Limit=101)
    assert isinstance(ddb_raw.list_tables(Limit=100)["TableNames"], list)


def test_update_table_billing_and_throughput(ddb, make_table):
    name = make_table()
    t = ddb.describe_table(TableName=name)["Table"]
    assert t["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST", t
    r = ddb.update_table(TableName=name, BillingMode="PROVISIONED",
                         ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 7})
    assert r["TableDescription"]["TableName"] == name, r
    t = wait_active(ddb, name)
    assert t["BillingModeSummary"]["BillingMode"] == "PROVISIONED", t
    assert t["ProvisionedThroughput"]["ReadCapacityUnits"] == 5, t
    assert t["ProvisionedThroughput"]["WriteCapacityUnits"] == 7, t
    ddb.update_table(TableName=name, ProvisionedThroughput={"ReadCapacityUnits": 10, "WriteCapacityUnits": 11})
    t = wait_active(ddb, name)
    assert t["ProvisionedThroughput"]["ReadCapacityUnits"] == 10, t
    assert t["ProvisionedThroughput"]["WriteCapacityUnits"] == 11, t
    # data survives the change
    ddb.put_item(TableName=name, Item={"pk": S("x"), "v": N(1)})
    assert_item(get(ddb, name, {"pk": S("x")}), {"pk": S("x"), "v": N(1)})


def test_update_missing_table(ddb):
    expect_error("ResourceNotFoundException", ddb.update_table, TableName=unique("missing"),
                 BillingMode="PAY_PER_REQUEST")


def test_delete_table(ddb, make_table):
    name = make_table()
    ddb.put_item(TableName=name, Item={"pk": S("a")})
    r = ddb.delete_table(TableName=name)
    assert r["TableDescription"]["TableName"] == name, r
    assert r["TableDescription"]["TableStatus"] in ("DELETING", "ACTIVE"), r
    wait_gone(ddb, name)
    assert name not in ddb.list_tables(Limit=100).get("TableNames", [])
    expect_error("ResourceNotFoundException", ddb.get_item, TableName=name, Key={"pk": S("a")})
    expect_error("ResourceNotFoundException", ddb.delete_table, TableName=name)
    # the name can be used again, and the new table is empty
    create_table(ddb, name, hash_key=("pk", "S"))
    make_table.made.append(name)
    assert get(ddb, name, {"pk": S("a")}) is None


def test_describe_endpoints(ddb):
    r = ddb.describe_endpoints()
    eps = r["Endpoints"]
    assert isinstance(eps, list) and eps, r
    for ep in eps:
        assert isinstance(ep["Address"], str) and ep["Address"], ep
        assert isinstance(ep["CachePeriodInMinutes"], int), ep


def test_item_count_visible_in_describe(ddb, make_table):
    # DescribeTable ItemCount / TableSizeBytes: updated "approximately every six hours",
    # so only their types and lower bounds are checked.
    name = make_table()
    for i in range(3):
        ddb.put_item(TableName=name, Item={"pk": S("i%d" % i), "pad": S("x" * 100)})
    t = ddb.describe_table(TableName=name)["Table"]
    assert isinstance(t["ItemCount"], int) and t["ItemCount"] >= 0, t
    assert isinstance(t["TableSizeBytes"], int) and t["TableSizeBytes"] >= 0, t


# --------------------------------------------------------------------------
# tenancy


def test_tenants_see_only_their_tables(server, ddb, make_table):
    other = DdbTenant(server)
    mine = make_table()
    ddb.put_item(TableName=mine, Item={"pk": S("secret"), "v": S("dev's")})
    # the other tenant sees nothing of it
    assert mine not in other.client.list_tables(Limit=100)["TableNames"]
    expect_error("ResourceNotFoundException", other.client.describe_table, TableName=mine)
    expect_error("ResourceNotFoundException", other.client.get_item, TableName=mine, Key={"pk": S("secret")})
    expect_error("ResourceNotFoundException", other.client.put_item, TableName=mine, Item={"pk": S("x")})
    expect_error("ResourceNotFoundException", other.client.scan, TableName=mine)
    expect_error("ResourceNotFoundException", other.client.query, TableName=mine, KeyConditionExpression="pk = :p",
                 ExpressionAttributeValues={":p": S("secret")})
    expect_error("ResourceNotFoundException", other.client.batch_get_item,
                 RequestItems={mine: {"Keys": [{"pk": S("secret")}]}})
    expect_error("ResourceNotFoundException", other.client.delete_table, TableName=mine)
    expect_error("ResourceNotFoundException", other.client.update_table, TableName=mine,
                 BillingMode="PAY_PER_REQUEST")
    # the same name in the other tenant is a different table
    create_table(other.client, mine, hash_key=("pk", "S"))
    assert other.client.get_item(TableName=mine, Key={"pk": S("secret")}).get("Item") is None
    other.client.put_item(TableName=mine, Item={"pk": S("secret"), "v": S("other's")})
    assert get(ddb, mine, {"pk": S("secret")})["v"] == S("dev's")
    assert get(other.client, mine, {"pk": S("secret")})["v"] == S("other's")
    # and dropping it there leaves ours alone
    other.client.delete_table(TableName=mine)
    wait_gone(other.client, mine)
    assert get(ddb, mine, {"pk": S("secret")})["v"] == S("dev's")
    assert other.client.list_tables()["TableNames"] == []


def test_rest_table_visible_with_hash_key_id(server, ddb, table_factory):
    for id_type, ddb_type in (("String", "S"), ("Integer", "N"), ("Bytes", "B")):
        name = table_factory(id_type)
        assert _listed(ddb, name), name
        t = ddb.describe_table(TableName=name)["Table"]
        assert t["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}], t
        assert t["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": ddb_type}], t
        assert t["TableStatus"] == "ACTIVE", t


def _listed(client, name):
    kw = {}
    while True:
        r = client.list_tables(**kw)
        if name in r["TableNames"]:
            return True
        if "LastEvaluatedTableName" not in r:
            return False
        kw = {"ExclusiveStartTableName": r["LastEvaluatedTableName"]}


def test_rest_entry_visible_through_getitem(server, ddb, dev, table_factory):
    name = table_factory("String")
    body = {"s": "héllo", "n": 12.50, "i": -7, "t": True, "f": False, "z": None,
            "l": [1, "a", [True], {"k": None}], "m": {"k": "v", "deep": {"x": 3}}}
    r = dev.put(dc.entry_path("dev", name, "e1"), body)
    dc.assert_status(r, 201, dev)
    item = get(ddb, name, {"id": S("e1")})
    assert_item(item, {
        "id": S("e1"), "s": S("héllo"), "n": N("12.5"), "i": N("-7"), "t": {"BOOL": True},
        "f": {"BOOL": False}, "z": {"NULL": True},
        "l": {"L": [N(1), S("a"), {"L": [{"BOOL": True}]}, {"M": {"k": {"NULL": True}}}]},
        "m": {"M": {"k": S("v"), "deep": {"M": {"x": N(3)}}}},
    })
    # Integer and Bytes tables: the key is N / B
    ni = table_factory("Integer")
    dc.assert_status(dev.put(dc.entry_path("dev", ni, 42), {"v": "int"}), 201, dev)
    assert_item(get(ddb, ni, {"id": N(42)}), {"id": N(42), "v": S("int")})
    nb = table_factory("Bytes")
    dc.assert_status(dev.put(dc.entry_path("dev", nb, b"\x00\xff\x10"), {"v": "bin"}), 201, dev)
    assert_item(get(ddb, nb, {"id": B(b"\x00\xff\x10")}), {"id": B(b"\x00\xff\x10"), "v": S("bin")})


def test_putitem_visible_through_rest(server, ddb, dev, table_factory):
    name = table_factory("String")
    ddb.put_item(TableName=name, Item={
        "id": S("p1"), "s": S("hello"), "n": N("7.25"), "t": {"BOOL": True}, "z": {"NULL": True},
        "l": {"L": [N(1), S("x")]}, "m": {"M": {"a": S("b")}}})
    r = dev.get(dc.entry_path("dev", name, "p1"))
    dc.assert_status(r, 200, dev)
    body = json.loads(r.body, parse_float=decimal.Decimal, parse_int=decimal.Decimal)
    if "id" in body:
        assert body.pop("id") == "p1", body
    assert body == {"s": "hello", "n": decimal.Decimal("7.25"), "t": True, "z": None,
                    "l": [decimal.Decimal(1), "x"], "m": {"a": "b"}}, body
    # DeleteItem removes it for REST too
    ddb.delete_item(TableName=name, Key={"id": S("p1")})
    dc.assert_error(dev.get(dc.entry_path("dev", name, "p1")), 404, "EntryNotFound", dev)
    # and DeleteTable drops the table for REST
    ddb.delete_table(TableName=name)
    wait_gone(ddb, name)
    dc.assert_error(dev.get(dc.table_path("dev", name)), 404, "TableNotFound", dev)


def test_rest_sees_ddb_created_table(server, ddb, dev, make_table):
    # a table created through the DynamoDB API is a table of the tenant for REST as well
    name = make_table(hash_key=("id", "S"))
    r = dev.get(dc.table_path("dev", name))
    dc.assert_status(r, 200, dev)
    assert r.json()["table"] == name

"""DynamoDB API: size and shape limits.

Docs: Developer Guide "Constraints in Amazon DynamoDB" (Constraints.html, formerly
"Service, account, and table quotas"): 1 KB = 1024 bytes; item size at most
400 KB, names included; partition key value 1..2048 bytes, sort key value
1..1024 bytes; "DynamoDB supports nested attributes up to 32 levels deep";
"The maximum length of any expression string is 4 KB". API Reference PutItem /
UpdateItem ValidationException messages "Item size has exceeded the maximum
allowed size" / "Item size to update has exceeded the maximum allowed size",
"Nesting Levels have exceeded supported limits".
"""

import concurrent.futures

import boto3
import botocore.config

from conftest import syncshim
from ddb_fixtures import *  # noqa: F401,F403

KB = 1024


def test_item_over_400kb_rejected(ddb, ddb_raw, make_table):
    t = make_table()
    # pk "k": name 2 + value 1 bytes; attribute "d": name 1 byte
    fixed = len("pk") + len("k") + len("d")
    e = validation_error(ddb_raw.put_item, TableName=t, Item={"pk": S("k"), "d": S("x" * (400 * KB - fixed + 1))})
    assert "Item size has exceeded the maximum allowed size" in e.response["Error"]["Message"], e.response
    assert get(ddb, t, {"pk": S("k")}) is None
    # names count too: a long name pushes a 400 KB - 10 value over the limit
    validation_error(ddb_raw.put_item, TableName=t, Item={"pk": S("k"), "n" * 100: S("x" * (400 * KB - 10))})
    # binary counts its bytes
    validation_error(ddb_raw.put_item, TableName=t, Item={"pk": S("k"), "d": B(b"\0" * (400 * KB))})
    # just under the limit is accepted and reads back whole
    ok = "y" * (400 * KB - fixed - 64)
    ddb.put_item(TableName=t, Item={"pk": S("k"), "d": S(ok)})
    assert get(ddb, t, {"pk": S("k")})["d"]["S"] == ok


def test_update_over_400kb_rejected(ddb, ddb_raw, make_table):
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": S("u"), "a": S("a" * (300 * KB))})
    e = validation_error(ddb_raw.update_item, TableName=t, Key={"pk": S("u")}, UpdateExpression="SET b = :b",
                         ExpressionAttributeValues={":b": S("b" * (150 * KB))})
    assert "maximum allowed size" in e.response["Error"]["Message"], e.response
    got = get(ddb, t, {"pk": S("u")})
    assert set(got) == {"pk", "a"} and len(got["a"]["S"]) == 300 * KB
    # the same via list_append growth
    ddb.put_item(TableName=t, Item={"pk": S("l"), "l": {"L": [S("z" * (250 * KB))]}})
    validation_error(ddb_raw.update_item, TableName=t, Key={"pk": S("l")},
                     UpdateExpression="SET l = list_append(l, l)")
    assert len(get(ddb, t, {"pk": S("l")})["l"]["L"]) == 1


def test_partition_key_length(ddb, ddb_raw, make_table):
    t = make_table()
    tb = make_table(hash_key=("pk", "B"))
    ddb.put_item(TableName=t, Item={"pk": S("k" * 2048)})
    ddb.put_item(TableName=t, Item={"pk": S("\u00e9" * 1024)})            # 2048 UTF-8 bytes
    ddb.put_item(TableName=tb, Item={"pk": B(b"\xff" * 2048)})
    assert get(ddb, t, {"pk": S("k" * 2048)}) is not None
    assert get(ddb, tb, {"pk": B(b"\xff" * 2048)}) is not None
    for item in ({"pk": S("k" * 2049)}, {"pk": S("\u00e9" * 1024 + "x")}):
        validation_error(ddb_raw.put_item, TableName=t, Item=item)
    validation_error(ddb_raw.put_item, TableName=tb, Item={"pk": B(b"\xff" * 2049)})
    validation_error(ddb_raw.get_item, TableName=t, Key={"pk": S("k" * 2049)})
    validation_error(ddb_raw.put_item, TableName=tb, Item={"pk": B(b"")})  # at least 1 byte


def test_sort_key_length(ddb, ddb_raw, make_table):
    t = make_table(hash_key=("pk", "S"), range_key=("sk", "S"))
    tb = make_table(hash_key=("pk", "S"), range_key=("sk", "B"))
    ddb.put_item(TableName=t, Item={"pk": S("p"), "sk": S("s" * 1024)})
    ddb.put_item(TableName=t, Item={"pk": S("p"), "sk": S("\u20ac" * 341 + "x")})   # 1024 bytes
    ddb.put_item(TableName=tb, Item={"pk": S("p"), "sk": B(b"\x01" * 1024)})
    assert get(ddb, t, {"pk": S("p"), "sk": S("s" * 1024)}) is not None
    for sk in ("s" * 1025, "\u20ac" * 342):
        validation_error(ddb_raw.put_item, TableName=t, Item={"pk": S("p"), "sk": S(sk)})
    validation_error(ddb_raw.put_item, TableName=tb, Item={"pk": S("p"), "sk": B(b"\x01" * 1025)})
    validation_error(ddb_raw.put_item, TableName=t, Item={"pk": S("p"), "sk": S("")})
    r = ddb.query(TableName=t, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S("p")})
    assert r["Count"] == 2


def _nest(depth, leaf=None, kind="M"):
    v = leaf or S("leaf")
    for i in range(depth):
        v = {"M": {"x": v}} if (kind == "M" or (kind == "ML" and i % 2)) else {"L": [v]}
    return v


def test_nesting_depth(ddb, ddb_raw, make_table):
    # "up to 32 levels deep": 31 nested documents are within the limit whichever way the
    # top-level attribute is counted; 33 are beyond it either way.
    t = make_table()
    for kind in ("M", "L", "ML"):
        ddb.put_item(TableName=t, Item={"pk": S(kind), "a": _nest(31, kind=kind)})
        got = get(ddb, t, {"pk": S(kind)})
        assert_item(got, {"pk": S(kind), "a": _nest(31, kind=kind)})
        e = validation_error(ddb_raw.put_item, TableName=t, Item={"pk": S(kind + "deep"), "a": _nest(33, kind=kind)})
        assert "Nesting Levels have exceeded supported limits" in e.response["Error"]["Message"], e.response
        # far deeper: refused too (a JSON parser's own depth limit may answer first)
        expect_error(("ValidationException", "SerializationException"), ddb_raw.put_item, TableName=t,
                     Item={"pk": S(kind + "deep"), "a": _nest(60, kind=kind)})
        assert get(ddb, t, {"pk": S(kind + "deep")}) is None
    # and an update that would nest too deep
    validation_error(ddb_raw.update_item, TableName=t, Key={"pk": S("M")}, UpdateExpression="SET b = :v",
                     ExpressionAttributeValues={":v": _nest(33)})


def _expr_of_length(n):
    # a few conditions (well under the 300 operators/functions an expression may hold),
    # padded with blanks to exactly n bytes
    e = " OR ".join(["attribute_not_exists(zz)"] * 10)
    return e + " " * (n - len(e))


def test_expression_length_4kb(ddb, ddb_raw, make_table):
    t = make_table()
    ok, too_long = _expr_of_length(4 * KB), _expr_of_length(4 * KB + 1)
    assert len(ok) == 4096 and len(too_long) == 4097
    ddb.put_item(TableName=t, Item={"pk": S("e")}, ConditionExpression=ok)
    validation_error(ddb_raw.put_item, TableName=t, Item={"pk": S("e2")}, ConditionExpression=too_long)
    assert get(ddb, t, {"pk": S("e2")}) is None
    # update expressions too
    upd_ok = "SET a = :v" + " " * (4 * KB - len("SET a = :v"))
    ddb.update_item(TableName=t, Key={"pk": S("e")}, UpdateExpression=upd_ok, ExpressionAttributeValues={":v": N(1)})
    validation_error(ddb_raw.update_item, TableName=t, Key={"pk": S("e")}, UpdateExpression=upd_ok + " ",
                     ExpressionAttributeValues={":v": N(2)})
    assert get(ddb, t, {"pk": S("e")})["a"] == N(1)


def test_attribute_name_rules(ddb, ddb_raw, make_table):
    # names: at least one character; key attribute names are limited by the key schema
    t = make_table()
    validation_error(ddb_raw.put_item, TableName=t, Item={"pk": S("a"), "": S("empty name")})
    long_name = "n" * 1000
    ddb.put_item(TableName=t, Item={"pk": S("a"), long_name: S("v")})
    assert get(ddb, t, {"pk": S("a")})[long_name] == S("v")


def test_over_max_inflight_is_throttled_and_loses_nothing(fresh_server):
    # Error handling (developer guide): throttling is ProvisionedThroughputExceededException,
    # HTTP 400, which the SDKs retry with backoff. A throttled write must change nothing.
    # Each WAL fsync takes 50 ms, so writes stay in flight long enough for a third to find two
    # ahead of it: without the delay, whether 64 Python threads ever had three at the server at
    # once depended on the machine's load, and on a busy one they did not.
    s = fresh_server(extra_args=["--max-inflight", "2", "--threads", "2"],
                     env={"LD_PRELOAD": syncshim(), "SYNCSHIM_DELAY_MS": "50"})
    c = boto3.client("dynamodb", endpoint_url="http://%s:%d" % s.addr, region_name="us-east-1",
                     aws_access_key_id=s.dev_key, aws_secret_access_key=s.dev_secret,
                     config=botocore.config.Config(retries={"max_attempts": 1},
                                                   max_pool_connections=64))
    c.create_table(TableName="throttle", BillingMode="PAY_PER_REQUEST",
                   AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                   KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    big = "x" * 300000

    def put(i):
        try:
            c.put_item(TableName="throttle", Item={"pk": {"S": str(i)}, "v": {"S": big}})
            return "ok"
        except c.exceptions.ProvisionedThroughputExceededException:
            return "throttled"

    with concurrent.futures.ThreadPoolExecutor(64) as ex:
        results = list(ex.map(put, range(128)))
    assert "throttled" in results, "128 concurrent 300 KB PutItems with --max-inflight 2 never throttled"
    for i, res in enumerate(results):
        got = c.get_item(TableName="throttle", Key={"pk": {"S": str(i)}}).get("Item")
        if res == "ok":
            assert got is not None and got["v"]["S"] == big, "acknowledged PutItem %d lost" % i
        else:
            assert got is None, "throttled PutItem %d was applied" % i

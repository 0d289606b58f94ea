"""The X-DStore-Replication request header (docs/cluster-design.md, "The
write path"): "sync" (the default) or "async" on every write of both APIs.
`dstore serve` is a cluster of one, where both mean the same; any other value
is refused with 400 and writes nothing."""

import uuid

from ddb_fixtures import *  # noqa: F401,F403
import dstore_client as dc

HDR = "X-DStore-Replication"


def test_rest_writes_take_sync_and_async(dev):
    name = "repl-" + uuid.uuid4().hex[:8]
    dc.assert_status(dev.put(dc.table_path("dev", name), {"idType": "String"}), 201, dev)
    path = dc.entry_path("dev", name, "e1")
    r = dev.request("PUT", path, body='{"a":1}', headers={HDR: "async"})
    dc.assert_status(r, 201, dev)
    r = dev.request("POST", path, body='{"b":2}', headers={HDR: "sync"})
    dc.assert_status(r, 200, dev)
    assert r.json() == {"a": 1, "b": 2}, r
    r = dev.request("POST", path, body='{"c":3}', headers={HDR: "ASYNC"})
    dc.assert_status(r, 200, dev)
    for bad in ("", "quorum", "async,sync", "syncx"):
        r = dev.request("POST", path, body='{"d":4}', headers={HDR: bad})
        dc.assert_error(r, 400, "InvalidParameter", dev)
        r = dev.request("DELETE", path, headers={HDR: bad})
        dc.assert_error(r, 400, "InvalidParameter", dev)
    r = dev.get(path)
    assert r.json() == {"a": 1, "b": 2, "c": 3}, r
    dc.assert_status(dev.request("DELETE", path, headers={HDR: "async"}), 204, dev)
    dc.assert_status(dev.delete(dc.table_path("dev", name)), 204, dev)


def test_ddb_writes_take_sync_and_async(server, ddb, make_table):
    t = make_table()
    item = {"pk": {"S": "k"}, "v": {"N": "1"}}
    r = raw_ddb(server, "PutItem", {"TableName": t, "Item": item}, headers={HDR: "async"})
    assert r.status == 200, r
    r = raw_ddb(server, "UpdateItem", {"TableName": t, "Key": {"pk": {"S": "k"}},
                                       "UpdateExpression": "SET v = v + :one",
                                       "ConditionExpression": "v = :one",
                                       "ExpressionAttributeValues": {":one": {"N": "1"}},
                                       "ReturnValues": "ALL_NEW"}, headers={HDR: "sync"})
    assert r.status == 200, r
    assert r.json()["Attributes"]["v"] == {"N": "2"}, r
    for bad in ("", "both", "asynchronous"):
        for target, body in (("PutItem", {"TableName": t, "Item": item}),
                             ("DeleteItem", {"TableName": t, "Key": {"pk": {"S": "k"}}}),
                             ("UpdateItem", {"TableName": t, "Key": {"pk": {"S": "k"}},
                                             "UpdateExpression": "SET w = :one",
                                             "ExpressionAttributeValues": {":one": {"N": "1"}}}),
                             ("BatchWriteItem", {"RequestItems": {t: [{"PutRequest": {"Item": item}}]}})):
            r = raw_ddb(server, target, body, headers={HDR: bad})
            assert r.status == 400 and error_type(r) == "ValidationException", (target, bad, r)
    got = ddb.get_item(TableName=t, Key={"pk": {"S": "k"}})["Item"]
    assert got == {"pk": {"S": "k"}, "v": {"N": "2"}}, got
    r = raw_ddb(server, "BatchWriteItem",
                {"RequestItems": {t: [{"DeleteRequest": {"Key": {"pk": {"S": "k"}}}}]}},
                headers={HDR: "async"})
    assert r.status == 200, r

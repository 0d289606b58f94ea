"""A `dstore serve` data directory joins a cluster (issue 4, cluster/import.h).

A single server gets a tenant with a REST v1 table and a DynamoDB table, and
a table in its "dev" tenant; it stops. A cluster (control plane, two fresh
nodes, a proxy) then gains a node started on the serve's data directory:
  - without --import-serve-data it refuses to start, saying what to do, and
    the directory is left as it was;
  - with it, every tenant, table and item reaches the cluster: the tenant's
    own credentials work through the proxy, every item reads back (REST and
    DynamoDB), listings return each item once, items land on RF replicas,
    and the dev table joins the cluster's own dev tenant;
  - DATA/import disappears when the import is done, and a restart of the
    node imports nothing again.
"""
import os
import time

import pytest

import dstore_client as dc
from cluster_fixtures import cluster, wait_for  # noqa: F401
from conftest import DstoreServer, Tenant, create_tenant
from test_cluster_data import ddb, settled

N_REST = 300
N_DDB = 300


def _put_rest(client, tenant, table, n):
    for i in range(n):
        r = client.put(dc.entry_path(tenant, table, "e%04d" % i), {"n": i, "tag": "x" * (i % 40)})
        dc.assert_status(r, 201, client)


def _fill_serve(serve, n_ddb=N_DDB):
    """The serve's data: returns (tenant, [(pk, sk)] of table orders)."""
    acme = create_tenant(serve, "acme")
    c = acme.sigv4()
    dc.assert_status(c.put(dc.table_path("acme", "notes")), 201, c)
    _put_rest(c, "acme", "notes", N_REST)
    d = ddb(serve, acme)
    d.create_table(TableName="orders",
                   KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                              {"AttributeName": "sk", "KeyType": "RANGE"}],
                   AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                         {"AttributeName": "sk", "AttributeType": "N"}],
                   BillingMode="PAY_PER_REQUEST")
    keys = [("c%02d" % (i % 30), i) for i in range(n_ddb)]
    for start in range(0, len(keys), 25):
        d.batch_write_item(RequestItems={"orders": [
            {"PutRequest": {"Item": {"pk": {"S": pk}, "sk": {"N": str(sk)},
                                     "amount": {"N": "%d.5" % sk}, "tags": {"SS": ["a", pk]}}}}
            for pk, sk in keys[start:start + 25]]})
    dev = serve.dev()
    dc.assert_status(dev.put(dc.table_path("dev", "devtab")), 201, dev)
    _put_rest(dev, "dev", "devtab", 20)
    return acme, keys


def _list_all(client, tenant, table):
    ids, after = [], None
    while True:
        r = client.get(dc.ids_path(tenant, table, dc.qs(limit=1000, after=after) if after else
                                   "limit=1000"))
        dc.assert_status(r, 200, client)
        body = r.json()
        ids += [it["id"] for it in body["items"]]
        if "next" not in body:
            return ids
        after = ids[-1]


def _scan_all(d, table):
    items, kw = [], {}
    while True:
        out = d.scan(TableName=table, ConsistentRead=True, **kw)
        items += out["Items"]
        if "LastEvaluatedKey" not in out:
            return items
        kw = {"ExclusiveStartKey": out["LastEvaluatedKey"]}


def _joining_node(cluster, data_dir):  # noqa: F811
    """A node on the serve's directory, not started."""
    n = cluster.add_node(start=False)
    n.data_dir = data_dir
    return n


def _check_imported(cluster, proxy, acme, keys):  # noqa: F811
    """Every item of the serve, through the proxy, on the tenant's own credentials."""
    tenant = Tenant(proxy, "acme", acme.key, acme.secret)
    c = tenant.sigv4()
    for i in range(N_REST):
        r = c.get(dc.entry_path("acme", "notes", "e%04d" % i))
        dc.assert_status(r, 200, c)
        assert r.json() == {"n": i, "tag": "x" * (i % 40)}, r.json()
    assert _list_all(c, "acme", "notes") == ["e%04d" % i for i in range(N_REST)]

    d = ddb(proxy, tenant)
    desc = d.describe_table(TableName="orders")["Table"]
    assert {k["AttributeName"]: k["KeyType"] for k in desc["KeySchema"]} == {"pk": "HASH",
                                                                             "sk": "RANGE"}
    for pk, sk in keys[::7]:
        it = d.get_item(TableName="orders", Key={"pk": {"S": pk}, "sk": {"N": str(sk)}},
                        ConsistentRead=True)["Item"]
        assert it["amount"] == {"N": "%d.5" % sk} and sorted(it["tags"]["SS"]) == sorted(["a", pk])
    q = d.query(TableName="orders", KeyConditionExpression="pk = :p",
                ExpressionAttributeValues={":p": {"S": "c07"}}, ConsistentRead=True)["Items"]
    assert [int(i["sk"]["N"]) for i in q] == sorted(sk for pk, sk in keys if pk == "c07")
    scanned = sorted((i["pk"]["S"], int(i["sk"]["N"])) for i in _scan_all(d, "orders"))
    assert scanned == sorted(keys)
    return c


def test_a_serve_directory_joins_a_cluster(cluster, fresh_server):  # noqa: F811
    serve = fresh_server()
    acme, keys = _fill_serve(serve)
    serve.stop()
    data_dir = serve.data_dir

    cluster.start_control()
    cluster.add_node()
    cluster.add_node()
    proxy = cluster.start_proxy()
    # a table of the cluster's own first: the serve's table ids are taken
    other = create_tenant(proxy, "other")
    oc = other.sigv4()
    dc.assert_status(oc.put(dc.table_path("other", "own")), 201, oc)
    dc.assert_status(oc.put(dc.entry_path("other", "own", "e0001"), {"mine": True}), 201, oc)

    # without the flag: refused, and the directory is untouched
    joining = _joining_node(cluster, data_dir)
    with pytest.raises(RuntimeError):
        joining.start()
    assert "--import-serve-data" in joining.log_text(), joining.log_tail()
    assert not os.path.exists(os.path.join(data_dir, "import"))

    joining.extra_args.append("--import-serve-data")
    joining.start()
    joining.node_uuid = joining.uuid()
    wait_for(lambda: "import: done" in joining.log_text(), 90, "the import to finish")
    assert not os.path.exists(os.path.join(data_dir, "import"))
    assert "import: finished with errors" not in joining.log_text()

    c = _check_imported(cluster, proxy, acme, keys)
    # the cluster's table kept its own item, and only it
    assert _list_all(oc, "other", "own") == ["e0001"]
    assert oc.get(dc.entry_path("other", "own", "e0001")).json() == {"mine": True}
    # the dev table joined the cluster's own dev tenant
    assert _list_all(proxy.admin(), "dev", "devtab") == ["e%04d" % i for i in range(20)]
    # every range of the imported tables reaches RF in-sync replicas
    for table in ("notes", "orders"):
        wait_for(lambda: settled(cluster, "acme", table), 60, "the ranges of " + table)

    # a restart imports nothing again, and the data is still there
    mark = len(joining.log_text())
    joining.restart()
    time.sleep(1.0)
    assert "import:" not in joining.log_text()[mark:]
    r = c.get(dc.entry_path("acme", "notes", "e0123"))
    dc.assert_status(r, 200, c)
    assert r.json()["n"] == 123


def test_an_import_killed_midway_resumes(cluster, fresh_server):  # noqa: F811
    serve = fresh_server()
    acme, keys = _fill_serve(serve, n_ddb=4000)
    serve.stop()

    cluster.start_control()
    cluster.add_node()
    cluster.add_node()
    proxy = cluster.start_proxy()
    joining = _joining_node(cluster, serve.data_dir)
    joining.extra_args.append("--import-serve-data")
    joining.start()
    wait_for(lambda: "copying table acme/orders" in joining.log_text(), 60,
             "the import to reach table orders", interval=0.01)
    joining.kill9()
    assert "import: done" not in joining.log_text(), "the import finished before the kill"
    assert os.path.exists(os.path.join(serve.data_dir, "import"))

    mark = len(joining.log_text())
    joining.start()
    wait_for(lambda: "import: done" in joining.log_text()[mark:], 90, "the resumed import")
    resumed = joining.log_text()[mark:]
    assert "copying table acme/notes" not in resumed  # finished before the kill: not again
    assert "copying table acme/orders" in resumed
    _check_imported(cluster, proxy, acme, keys)

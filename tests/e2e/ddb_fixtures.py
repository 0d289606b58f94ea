"""Fixtures and helpers for the DynamoDB API end-to-end tests (tests/e2e/test_ddb_*.py).

They reuse conftest.py's `server` fixture (one `dstore serve` for the session,
started with --dev-access-key/--dev-secret-key) and talk to it with the real
AWS SDK: boto3/botocore from Debian, run by /usr/bin/python3.

Every expectation in the test_ddb_* files comes from DynamoDB's documentation
(Developer Guide and API Reference, cited next to each test), never from what
dStore happens to answer.

Test modules import what they use:  from ddb_fixtures import *  # noqa
"""

import datetime
import decimal
import json
import os
import re
import sys
import time

import boto3
import boto3.session
import botocore.auth
import botocore.awsrequest
import botocore.config
import botocore.credentials
import botocore.exceptions
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dstore_client as dc  # noqa: E402
from conftest import HOST, create_tenant, unique  # noqa: E402

ClientError = botocore.exceptions.ClientError

# One boto3 session: its loader caches the service model, so clients are cheap.
_SESSION = boto3.session.Session()

TARGET_PREFIX = "DynamoDB_20120810."
AMZ_JSON = "application/x-amz-json-1.0"


def ddb_client(server, key=None, secret=None, validate=True, read_timeout=60):
    """A boto3 DynamoDB client on `server`, as the brief prescribes (us-east-1,
    one attempt, no retries). validate=False turns off botocore's client-side
    parameter validation so that the SERVER's validation is what is tested."""
    cfg = botocore.config.Config(retries={"max_attempts": 1}, parameter_validation=validate,
                                 connect_timeout=5, read_timeout=read_timeout)
    return _SESSION.client(
        "dynamodb",
        endpoint_url="http://%s:%d" % (HOST, server.port),
        region_name="us-east-1",
        aws_access_key_id=key if key is not None else server.dev_key,
        aws_secret_access_key=secret if secret is not None else server.dev_secret,
        config=cfg,
    )


# --------------------------------------------------------------------------
# errors


def err_code(e):
    return e.response.get("Error", {}).get("Code")


def http_status(e):
    return e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")


def expect_error(code, fn, *args, **kwargs):
    """Call fn(*args, **kwargs); it must raise ClientError with Error.Code
    `code` (or one of a tuple). DynamoDB's client errors are HTTP 400
    (Developer Guide, "Error handling with DynamoDB", Error messages and codes).
    Returns the ClientError."""
    codes = code if isinstance(code, tuple) else (code,)
    try:
        r = fn(*args, **kwargs)
    except ClientError as e:
        assert err_code(e) in codes, "expected %s, got %s: %s" % (codes, err_code(e), e.response)
        st = http_status(e)
        assert st is not None and 400 <= st < 500, "expected a 4xx status, got %s: %s" % (st, e.response)
        return e
    raise AssertionError("expected %s, but the call succeeded: %r" % (codes, _short(r)))


def _short(r):
    s = repr(r)
    return s if len(s) < 800 else s[:800] + "..."


def validation_error(fn, *args, **kwargs):
    return expect_error("ValidationException", fn, *args, **kwargs)


# --------------------------------------------------------------------------
# tables


def wait_active(client, name, timeout=15.0):
    """Poll DescribeTable until TableStatus is ACTIVE (CreateTable may answer
    CREATING: API Reference, CreateTable). Returns the Table description."""
    deadline = time.monotonic() + timeout
    while True:
        t = client.describe_table(TableName=name)["Table"]
        if t["TableStatus"] == "ACTIVE":
            return t
        if time.monotonic() > deadline:
            raise AssertionError("table %s not ACTIVE after %.0f s: %s" % (name, timeout, t))
        time.sleep(0.05)


def wait_gone(client, name, timeout=15.0):
    """Poll until DescribeTable answers ResourceNotFoundException (a deleted
    table may be DELETING for a while: API Reference, DeleteTable)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            t = client.describe_table(TableName=name)["Table"]
        except ClientError as e:
            assert err_code(e) == "ResourceNotFoundException", e.response
            return
        assert t["TableStatus"] == "DELETING", t
        if time.monotonic() > deadline:
            raise AssertionError("table %s still there after %.0f s: %s" % (name, timeout, t))
        time.sleep(0.05)


def create_table(client, name, hash_key=("pk", "S"), range_key=None, billing="PAY_PER_REQUEST", wait=True):
    attrs = [{"AttributeName": hash_key[0], "AttributeType": hash_key[1]}]
    schema = [{"AttributeName": hash_key[0], "KeyType": "HASH"}]
    if range_key:
        attrs.append({"AttributeName": range_key[0], "AttributeType": range_key[1]})
        schema.append({"AttributeName": range_key[0], "KeyType": "RANGE"})
    kw = dict(TableName=name, AttributeDefinitions=attrs, KeySchema=schema)
    if billing == "PAY_PER_REQUEST":
        kw["BillingMode"] = "PAY_PER_REQUEST"
    else:
        kw["ProvisionedThroughput"] = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    r = client.create_table(**kw)
    if wait:
        wait_active(client, name)
    return r


class TableMaker:
    """make(hash_key=("pk","S"), range_key=None) -> name; drops them at the end."""

    def __init__(self, client):
        self.client = client
        self.made = []

    def __call__(self, hash_key=("pk", "S"), range_key=None, name=None, prefix="ddb"):
        name = name or unique(prefix)
        create_table(self.client, name, hash_key, range_key)
        self.made.append(name)
        return name

    def cleanup(self):
        for n in self.made:
            try:
                self.client.delete_table(TableName=n)
            except Exception:
                pass


class DdbTenant:
    """A fresh tenant (REST admin API) with boto3 clients on its credentials."""

    def __init__(self, server):
        self.tenant = create_tenant(server)
        self.name = self.tenant.name
        self.client = ddb_client(server, self.tenant.key, self.tenant.secret)
        self.raw = ddb_client(server, self.tenant.key, self.tenant.secret, validate=False)


# --------------------------------------------------------------------------
# fixtures


@pytest.fixture
def ddb(server):
    """boto3 client for the development tenant."""
    return ddb_client(server)


@pytest.fixture
def ddb_raw(server):
    """Same, without botocore's client-side parameter validation."""
    return ddb_client(server, validate=False)


@pytest.fixture
def make_table(ddb):
    m = TableMaker(ddb)
    yield m
    m.cleanup()


@pytest.fixture(scope="module")
def mddb(server):
    """Module-scoped client (for module-scoped tables)."""
    return ddb_client(server)


@pytest.fixture(scope="module")
def module_tables(mddb):
    m = TableMaker(mddb)
    yield m
    m.cleanup()


@pytest.fixture
def ddb_tenant(server):
    return DdbTenant(server)


# --------------------------------------------------------------------------
# attribute values


def S(v):
    return {"S": v}


def N(v):
    return {"N": str(v)}


def B(v):
    return {"B": bytes(v)}


def norm(av):
    """An AttributeValue (as botocore returns it) -> a comparable Python value:
    numbers as Decimal (exact), sets as frozensets (sets are unordered:
    Developer Guide, Supported data types, Sets)."""
    assert isinstance(av, dict) and len(av) == 1, "not one AttributeValue: %r" % (av,)
    (t, v), = av.items()
    if t == "S":
        return ("S", v)
    if t == "N":
        return ("N", decimal.Decimal(v))
    if t == "B":
        return ("B", bytes(v))
    if t == "BOOL":
        return ("BOOL", bool(v))
    if t == "NULL":
        return ("NULL", bool(v))
    if t == "SS":
        return ("SS", frozenset(v))
    if t == "NS":
        return ("NS", frozenset(decimal.Decimal(x) for x in v))
    if t == "BS":
        return ("BS", frozenset(bytes(x) for x in v))
    if t == "L":
        return ("L", tuple(norm(x) for x in v))
    if t == "M":
        return ("M", tuple(sorted((k, norm(x)) for k, x in v.items())))
    raise AssertionError("unknown type %r in %r" % (t, av))


def norm_item(item):
    assert isinstance(item, dict), item
    return {k: norm(v) for k, v in item.items()}


def assert_item(actual, expected):
    assert actual is not None, "no item returned"
    assert norm_item(actual) == norm_item(expected), "\nactual:   %r\nexpected: %r" % (actual, expected)


def get(client, table, key, **kw):
    """GetItem -> the Item or None (no Item member when there is no such item:
    API Reference, GetItem response)."""
    return client.get_item(TableName=table, Key=key, ConsistentRead=True, **kw).get("Item")


def item_size(item):
    """Item size by the Developer Guide's rules ("Item sizes and formats"):
    names + values; S = UTF-8 bytes, B = raw bytes, N ~ 1 byte per 2
    significant digits + 1, BOOL/NULL = 1, L/M = 3 + elements (+1 each)."""
    return sum(len(k.encode()) + _val_size(v) for k, v in item.items())


def _val_size(av):
    (t, v), = av.items()
    if t == "S":
        return len(v.encode())
    if t == "B":
        return len(bytes(v))
    if t == "N":
        digits = len(re.sub(r"[^0-9]", "", v.split("E")[0].split("e")[0]).strip("0")) or 1
        return (digits + 1) // 2 + 1
    if t in ("BOOL", "NULL"):
        return 1
    if t == "SS":
        return sum(len(x.encode()) for x in v)
    if t == "BS":
        return sum(len(bytes(x)) for x in v)
    if t == "NS":
        return sum(_val_size({"N": x}) for x in v)
    if t == "L":
        return 3 + sum(1 + _val_size(x) for x in v)
    if t == "M":
        return 3 + sum(1 + len(k.encode()) + _val_size(x) for k, x in v.items())
    raise AssertionError(t)


def exprs_subset(expr, names=None, values=None):
    """Only the #names and :values that `expr` uses (DynamoDB refuses unused
    ones: Developer Guide, Expression attribute names / values)."""
    out = {}
    if values:
        used = set(re.findall(r":[A-Za-z0-9_]+", expr))
        v = {k: x for k, x in values.items() if k in used}
        if v:
            out["ExpressionAttributeValues"] = v
    if names:
        used = set(re.findall(r"#[A-Za-z0-9_]+", expr))
        n = {k: x for k, x in names.items() if k in used}
        if n:
            out["ExpressionAttributeNames"] = n
    return out


# --------------------------------------------------------------------------
# raw protocol requests (SigV4 by botocore's signer)


def raw_ddb(server, target, body, key=None, secret=None, headers=None, skew=None, sign=True,
            content_type=AMZ_JSON):
    """POST / with X-Amz-Target: DynamoDB_20120810.<target>; returns a
    dstore_client.Response. body: dict/str/bytes."""
    c = dc.Client(HOST, server.port, timeout=60)
    try:
        hdrs = {"X-Amz-Target": TARGET_PREFIX + target if target else None}
        hdrs = {k: v for k, v in hdrs.items() if v is not None}
        if headers:
            hdrs.update(headers)
        auth = dc.NoAuth()
        if sign:
            auth = dc.SigV4(key or server.dev_key, secret or server.dev_secret,
                            region="us-east-1", service="dynamodb", skew=skew)
        return c.request("POST", "/", body=body, headers=hdrs, auth=auth, content_type=content_type)
    finally:
        c.close()


def error_type(resp):
    """The exception name of a raw DynamoDB error answer: `__type` is
    "<namespace>#<Name>" (Developer Guide, Error handling, Error components)."""
    body = resp.json()
    t = body.get("__type") or body.get("code") or ""
    return t.rsplit("#", 1)[-1]


__all__ = [n for n in dir() if not n.startswith("__")]

"""DynamoDB API through the AWS CLI v2 (Debian's awscli, /usr/bin/aws): the
session a user would type, as in the README. Credentials come from the
environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION);
--endpoint-url points the CLI at dStore. Docs: AWS CLI Command Reference,
`aws dynamodb create-table | put-item | get-item | query | scan | update-item |
delete-item | list-tables | describe-table | delete-table`.
"""

import json
import os
import shutil
import subprocess
import tempfile

import pytest

from ddb_fixtures import *  # noqa: F401,F403

AWS = "/usr/bin/aws"


@pytest.fixture
def aws(server):
    if not os.access(AWS, os.X_OK):
        pytest.fail("%s is missing: the AWS CLI v2 (Debian package awscli) is part of the test setup" % AWS)
    home = tempfile.mkdtemp(prefix="dstore-aws-home-")
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": home,
        "AWS_ACCESS_KEY_ID": server.dev_key,
        "AWS_SECRET_ACCESS_KEY": server.dev_secret,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_PAGER": "",
        "AWS_CONFIG_FILE": os.path.join(home, "config"),
        "AWS_SHARED_CREDENTIALS_FILE": os.path.join(home, "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_MAX_ATTEMPTS": "1",
        "LANG": "C.UTF-8",
    }
    endpoint = "http://127.0.0.1:%d" % server.port

    def run(*args, ok=True):
        cmd = [AWS, "--endpoint-url", endpoint, "--output", "json", "dynamodb"] + list(args)
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        if ok:
            assert p.returncode == 0, "%s\nexit %d\nstdout: %s\nstderr: %s" % (
                " ".join(cmd), p.returncode, p.stdout, p.stderr)
            return json.loads(p.stdout) if p.stdout.strip() else None
        return p

    yield run
    shutil.rmtree(home, ignore_errors=True)


def test_cli_session(aws):
    # Each `aws` run costs a few seconds of start-up here, so the session is kept short.
    t = unique("cli")
    r = aws("create-table", "--table-name", t,
            "--attribute-definitions", "AttributeName=pk,AttributeType=S", "AttributeName=sk,AttributeType=N",
            "--key-schema", "AttributeName=pk,KeyType=HASH", "AttributeName=sk,KeyType=RANGE",
            "--billing-mode", "PAY_PER_REQUEST")
    assert r["TableDescription"]["TableName"] == t
    assert r["TableDescription"]["TableStatus"] in ("CREATING", "ACTIVE")
    try:
        for _ in range(20):
            d = aws("describe-table", "--table-name", t)["Table"]
            if d["TableStatus"] == "ACTIVE":
                break
        assert d["TableStatus"] == "ACTIVE", d
        assert {k["AttributeName"]: k["KeyType"] for k in d["KeySchema"]} == {"pk": "HASH", "sk": "RANGE"}

        aws("put-item", "--table-name", t, "--item",
            json.dumps({"pk": {"S": "users"}, "sk": {"N": "1"}, "name": {"S": "ada"}, "tags": {"SS": ["x", "ada"]}}))
        r = aws("batch-write-item", "--request-items", json.dumps({t: [
            {"PutRequest": {"Item": {"pk": {"S": "users"}, "sk": {"N": "2"}, "name": {"S": "grace"}}}},
            {"PutRequest": {"Item": {"pk": {"S": "users"}, "sk": {"N": "3"}, "name": {"S": "linus"}}}},
            {"PutRequest": {"Item": {"pk": {"S": "other"}, "sk": {"N": "1"}}}}]}))
        assert not r.get("UnprocessedItems"), r

        g = aws("get-item", "--table-name", t, "--key", json.dumps({"pk": {"S": "users"}, "sk": {"N": "1"}}))
        assert g["Item"]["name"] == {"S": "ada"}, g
        assert sorted(g["Item"]["tags"]["SS"]) == ["ada", "x"], g

        q = aws("query", "--table-name", t, "--key-condition-expression", "pk = :p AND sk >= :s",
                "--expression-attribute-values", json.dumps({":p": {"S": "users"}, ":s": {"N": "2"}}))
        assert [i["name"]["S"] for i in q["Items"]] == ["grace", "linus"], q
        assert q["Count"] == 2

        p = aws("put-item", "--table-name", t, "--item", json.dumps({"pk": {"S": "users"}, "sk": {"N": "1"}}),
                "--condition-expression", "attribute_not_exists(pk)", ok=False)
        assert p.returncode != 0 and "ConditionalCheckFailedException" in p.stderr, p.stderr

        s = aws("scan", "--table-name", t)
        assert s["Count"] == 4, s
        assert sorted((i["pk"]["S"], i["sk"]["N"]) for i in s["Items"]) == \
            [("other", "1"), ("users", "1"), ("users", "2"), ("users", "3")]

        assert t in aws("list-tables")["TableNames"]   # the CLI follows LastEvaluatedTableName itself
    finally:
        d = aws("delete-table", "--table-name", t)
        assert d["TableDescription"]["TableName"] == t
    for _ in range(20):
        p = aws("describe-table", "--table-name", t, ok=False)
        if p.returncode != 0:
            break
    assert "ResourceNotFoundException" in p.stderr, p.stderr


def test_cli_bad_credentials(server):
    env = {"PATH": "/usr/bin:/bin", "HOME": tempfile.gettempdir(), "AWS_ACCESS_KEY_ID": "AKIDNOSUCHKEY0000000",
           "AWS_SECRET_ACCESS_KEY": "nope", "AWS_DEFAULT_REGION": "us-east-1", "AWS_PAGER": "",
           "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_MAX_ATTEMPTS": "1"}
    p = subprocess.run([AWS, "--endpoint-url", "http://127.0.0.1:%d" % server.port, "dynamodb", "list-tables"],
                       env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert "UnrecognizedClientException" in p.stderr, p.stderr

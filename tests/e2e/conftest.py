"""Harness for dStore's end-to-end tests: start the real `dstore serve` on a
free loopback port with a temporary data directory, hand tests clients for
the admin and the development tenant, and always stop the server (SIGTERM,
then SIGKILL after 5 s) even when a test fails. A failing test's report
carries the tail of the server's log.

The binary is $DSTORE_BIN, default <repo>/build/dstore. A missing binary is an
error, never a skip.
"""

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dstore_client as dc  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DSTORE_BIN = os.environ.get("DSTORE_BIN") or os.path.join(REPO, "build", "dstore")
HOST = "127.0.0.1"
START_TIMEOUT = 20.0


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((HOST, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def unique(prefix="t"):
    """A fresh name valid as a tenant or table name."""
    return "%s-%s" % (prefix, uuid.uuid4().hex[:12])


# What AddressSanitizer, LeakSanitizer and UBSan print (`make asan`): a
# process whose log has one fails the test that stopped it.
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", ": runtime error: ")
_SANITIZER_REPORTS = []


class ManagedProcess:
    """What every process a test starts shares: it runs as self.proc, writes
    to self.log_path (self._log open while it runs) and lives in self.root.
    Stopped by PID: SIGTERM, then SIGKILL after a timeout."""

    proc = None
    _log = None

    def _before_stop(self):
        """Hook: what to close before the process goes (clients)."""

    def _close_log(self):
        if self._log is not None:
            self._log.close()
            self._log = None

    def stop(self, timeout=5.0):
        """SIGTERM, wait up to `timeout`, then SIGKILL. Returns the exit status."""
        self._before_stop()
        rc = None
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                rc = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
                rc = "killed after SIGTERM timeout"
        elif self.proc is not None:
            rc = self.proc.returncode
        self._close_log()
        return rc

    def kill9(self):
        self._before_stop()
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self._close_log()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def sanitizer_report(self):
        """The first sanitizer report in the log (with some context), or None."""
        text = self.log_text()
        hits = [i for i in (text.find(m) for m in SANITIZER_MARKS) if i >= 0]
        return text[max(0, min(hits) - 300):min(hits) + 4000] if hits else None

    def cleanup(self):
        self.stop()
        report = self.sanitizer_report()
        if report:
            _SANITIZER_REPORTS.append((self.name, report))
        if not os.environ.get("DSTORE_E2E_KEEP"):
            shutil.rmtree(self.root, ignore_errors=True)

    def log_bytes(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()
        except OSError:
            return b""

    def log_text(self):
        return self.log_bytes().decode("utf-8", errors="replace")

    def log_tail(self, n=60):
        return "\n".join(self.log_text().splitlines()[-n:])


class DstoreServer(ManagedProcess):
    """One `dstore serve` process with its own temporary directory.

    root/data is --data, root/server.log collects stdout and stderr (outside
    the data directory, so scanning the data directory never sees the log).
    """

    def __init__(self, extra_args=(), env=None, use_flags=True, name="server"):
        if not os.path.isfile(DSTORE_BIN) or not os.access(DSTORE_BIN, os.X_OK):
            raise RuntimeError("dstore binary not found or not executable: %s "
                               "(set DSTORE_BIN or run `make build/dstore`)" % DSTORE_BIN)
        self.name = name
        self.root = tempfile.mkdtemp(prefix="dstore-e2e-")
        self.data_dir = os.path.join(self.root, "data")
        os.makedirs(self.data_dir)
        self.log_path = os.path.join(self.root, "server.log")
        self.admin_token = "adm-" + secrets.token_hex(16)
        self.dev_key = "AKIDDEV" + secrets.token_hex(6).upper()
        self.dev_secret = secrets.token_urlsafe(30)
        self.extra_args = list(extra_args)
        self.env = dict(env or {})
        self.use_flags = use_flags  # False: caller supplies the credentials some other way
        self.port = None
        self.proc = None
        self._log = None
        self._clients = []

    # ---- process control

    def command(self):
        args = [DSTORE_BIN, "serve", "--listen", "%s:%d" % (HOST, self.port), "--data", self.data_dir]
        if self.use_flags:
            args += ["--admin-token", self.admin_token,
                     "--dev-access-key", self.dev_key, "--dev-secret-key", self.dev_secret]
        return args + self.extra_args

    def start(self, new_port=False):
        last_err = None
        for attempt in range(3):
            if self.port is None or new_port or attempt > 0:
                self.port = free_port()
            self._log = open(self.log_path, "ab")
            self._log.write(("\n==== start %s: %s\n" % (time.strftime("%H:%M:%S"),
                                                         " ".join(self.command()))).encode())
            self._log.flush()
            env = dict(os.environ)
            env.update(self.env)
            self.proc = subprocess.Popen(self.command(), stdout=self._log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env, cwd=self.root)
            try:
                self.wait_ready()
                return self
            except RuntimeError as e:
                last_err = e
                exited = self.proc.poll() is not None
                self.stop()
                if not (exited and "in use" in self.log_tail(10).lower()):
                    break
        raise RuntimeError("%s did not start: %s\n--- log ---\n%s" % (self.name, last_err, self.log_tail()))

    def wait_ready(self, timeout=START_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("exited with status %s" % self.proc.returncode)
            try:
                c = dc.Client(HOST, self.port, timeout=2)
                r = c.get("/health")
                c.close()
                if r.status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("GET /health did not answer 200 within %.0f s" % timeout)

    def listening_line_seen(self):
        return ("listening on http://%s:%d" % (HOST, self.port)) in self.log_text()

    def _before_stop(self):
        for c in self._clients:
            c.close()

    def restart(self):
        self.stop()
        return self.start()

    # ---- clients

    def client(self, auth=None, timeout=30.0):
        c = dc.Client(HOST, self.port, auth, timeout)
        self._clients.append(c)
        return c

    def admin(self):
        return self.client(dc.Bearer(self.admin_token))

    def dev(self):
        return self.client(dc.SigV4(self.dev_key, self.dev_secret))

    def dev_basic(self):
        return self.client(dc.Basic(self.dev_key, self.dev_secret))

    @property
    def addr(self):
        return (HOST, self.port)


class Tenant:
    """A tenant created through the admin API, with a client on its credentials."""

    def __init__(self, server, name, key, secret):
        self.server, self.name, self.key, self.secret = server, name, key, secret

    def sigv4(self):
        return self.server.client(dc.SigV4(self.key, self.secret))

    def basic(self):
        return self.server.client(dc.Basic(self.key, self.secret))


def syncshim():
    """build/tests/syncshim.so (tests/e2e/syncshim.c), for LD_PRELOAD: records what each WAL
    fsync made durable (SYNCSHIM_JOURNAL) and can make each one slower (SYNCSHIM_DELAY_MS)."""
    path = os.path.join(os.path.dirname(DSTORE_BIN), "tests", "syncshim.so")
    assert os.path.isfile(path), "%s is missing: `make test` builds it" % path
    return path


def create_tenant(server, name=None):
    name = name or unique("tn")
    admin = server.admin()
    r = admin.put(dc.tenant_path(name))
    dc.assert_status(r, 201, admin)
    body = r.json()
    return Tenant(server, name, body["accessKeyId"], body["secretAccessKey"])


# --------------------------------------------------------------------------
# fixtures

_LONG_LIVED = []  # servers shared by many tests (their logs go with every failure)


@pytest.fixture(scope="session")
def server():
    s = DstoreServer(name="session server")
    _LONG_LIVED.append(s)
    try:
        s.start()
        yield s
    finally:
        s.cleanup()
        _LONG_LIVED.remove(s)
        _fail_on_sanitizer_reports()


@pytest.fixture(scope="module")
def module_server():
    """A server of the module's own, for tests that abuse it."""
    s = DstoreServer(name="module server")
    _LONG_LIVED.append(s)
    try:
        s.start()
        yield s
    finally:
        s.cleanup()
        _LONG_LIVED.remove(s)
        _fail_on_sanitizer_reports()


@pytest.fixture(autouse=True)
def _shared_server_survives():
    """A shared server that dies during a test fails that test (at teardown)
    and is restarted on its data directory, so later tests still run."""
    yield
    for s in list(_LONG_LIVED):
        if s.proc is not None and not s.alive():
            rc = s.proc.returncode
            tail = s.log_tail(20)
            s.stop()
            s.start()
            pytest.fail("the %s died during this test (exit status %s); restarted it. Log tail:\n%s"
                        % (s.name, rc, tail))
    _fail_on_sanitizer_reports()


def _fail_on_sanitizer_reports():
    if _SANITIZER_REPORTS:
        reports = list(_SANITIZER_REPORTS)
        _SANITIZER_REPORTS.clear()
        pytest.fail("".join("sanitizer report from %s:\n%s\n" % r for r in reports))


@pytest.fixture
def fresh_server(request):
    """Factory for function-scoped servers: fresh_server(extra_args=[...], env={...})."""
    made = []
    request.node._dstore_servers = made

    def make(extra_args=(), env=None, use_flags=True, start=True):
        s = DstoreServer(extra_args, env, use_flags, name="fresh server %d" % (len(made) + 1))
        made.append(s)
        if start:
            s.start()
        return s

    yield make
    for s in made:
        s.cleanup()


@pytest.fixture
def admin(server):
    return server.admin()


@pytest.fixture
def dev(server):
    return server.dev()


@pytest.fixture
def tenant_factory(server):
    def make(name=None):
        return create_tenant(server, name)
    return make


@pytest.fixture
def table_factory(server):
    """Create a table in the dev tenant: table_factory(id_type=None) -> name."""
    c = server.dev()

    def make(id_type=None, name=None):
        name = name or unique("tbl")
        body = {"idType": id_type} if id_type else None
        r = c.put(dc.table_path("dev", name), body)
        dc.assert_status(r, 201, c)
        return name
    return make


# --------------------------------------------------------------------------
# show server logs for failing tests


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        servers = list(getattr(item, "_dstore_servers", [])) + list(_LONG_LIVED)
        for s in servers:
            rep.sections.append(("dstore log: %s (%s)" % (s.name, s.log_path), s.log_tail(40)))

"""A real etcd for the cluster end-to-end tests (issue 4).

EtcdServer starts Debian's /usr/bin/etcd (etcd-server; $ETCD_BIN overrides)
as a single-member cluster on two free loopback ports (client and peer), in
a temporary directory (data/ and etcd.log), waits until GET /health answers
{"health":"true"} (falling back to POST /v3/maintenance/status), and stops it
by PID: SIGTERM, then SIGKILL after 5 s. restart() keeps the data directory
and the ports, so clients and watches can resume. cleanup() always removes
the directory ($DSTORE_E2E_KEEP keeps it).

The pytest fixture `etcd` yields the client URL ("http://127.0.0.1:PORT") of
a fresh etcd per test; `etcd_server` yields the EtcdServer itself (to stop,
restart or read its log). Test modules import what they use:

    from cluster_fixtures import etcd, etcd_server  # noqa: F401

A missing etcd binary is an error, never a skip. A failing test's report
carries the tail of the etcd log (printed at teardown, which pytest shows only
for failures).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest

HOST = "127.0.0.1"
ETCD_BIN = os.environ.get("ETCD_BIN") or "/usr/bin/etcd"
START_TIMEOUT = 20.0


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((HOST, 0))
    port = s.getsockname()[1]
    s.close()
    return port


class EtcdServer:
    """One etcd process with its own temporary directory."""

    def __init__(self, name="etcd"):
        if not (os.path.isfile(ETCD_BIN) and os.access(ETCD_BIN, os.X_OK)):
            raise RuntimeError("etcd not found at %s (install Debian's etcd-server "
                               "or set ETCD_BIN)" % ETCD_BIN)
        self.name = name
        self.root = tempfile.mkdtemp(prefix="dstore-etcd-")
        self.data_dir = os.path.join(self.root, "data")
        self.log_path = os.path.join(self.root, "etcd.log")
        self.client_port = None
        self.peer_port = None
        self.proc = None
        self._log = None

    @property
    def url(self):
        return "http://%s:%d" % (HOST, self.client_port)

    @property
    def peer_url(self):
        return "http://%s:%d" % (HOST, self.peer_port)

    def command(self):
        return [ETCD_BIN, "--name", "default", "--data-dir", self.data_dir,
                "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
                "--listen-peer-urls", self.peer_url, "--initial-advertise-peer-urls", self.peer_url,
                "--initial-cluster", "default=" + self.peer_url, "--initial-cluster-state", "new",
                "--logger", "zap", "--log-level", "warn"]

    # ---- process control

    def start(self):
        """Picks free ports and starts etcd; retries with new ports when the
        ones picked were taken meanwhile."""
        last = None
        for _ in range(3):
            self.client_port, self.peer_port = free_port(), free_port()
            if self.client_port == self.peer_port:
                continue
            try:
                return self._spawn()
            except RuntimeError as e:
                last = e
                # a half-initialised data dir must not be reused with other ports
                shutil.rmtree(self.data_dir, ignore_errors=True)
                if "in use" not in self.log_tail(20).lower():
                    break
        raise RuntimeError("%s did not start: %s\n--- log ---\n%s" % (self.name, last, self.log_tail()))

    def restart(self):
        """Stops etcd and starts it again on the same data directory and ports."""
        self.stop()
        try:
            return self._spawn()
        except RuntimeError as e:
            raise RuntimeError("%s did not restart: %s\n--- log ---\n%s"
                               % (self.name, e, self.log_tail()))

    def _spawn(self):
        self._log = open(self.log_path, "ab")
        self._log.write(("\n==== start %s: %s\n" % (time.strftime("%H:%M:%S"),
                                                     " ".join(self.command()))).encode())
        self._log.flush()
        self.proc = subprocess.Popen(self.command(), stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=self.root)
        try:
            self.wait_ready()
        except RuntimeError:
            self.stop()
            raise
        return self

    def _get(self, path, body=None, timeout=2.0):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method="POST" if data else "GET",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read().decode() or "{}")

    def ready(self):
        """True when /health says healthy or, failing that, /v3/maintenance/status answers."""
        try:
            status, body = self._get("/health")
            if status == 200 and body.get("health") == "true":
                return True
        except (OSError, ValueError, urllib.error.URLError):
            pass
        try:
            status, body = self._get("/v3/maintenance/status", {})
            return status == 200 and "header" in body
        except (OSError, ValueError, urllib.error.URLError):
            return False

    def wait_ready(self, timeout=START_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("exited with status %s" % self.proc.returncode)
            if self.ready():
                return
            time.sleep(0.05)
        raise RuntimeError("not ready within %.0f s" % timeout)

    def stop(self, timeout=5.0):
        """SIGTERM by PID, wait up to `timeout`, then SIGKILL. Keeps the data."""
        rc = None
        if self.proc is not None:
            if self.proc.poll() is None:
                try:
                    os.kill(self.proc.pid, signal.SIGTERM)
                    rc = self.proc.wait(timeout)
                except ProcessLookupError:
                    pass
                except subprocess.TimeoutExpired:
                    os.kill(self.proc.pid, signal.SIGKILL)
                    self.proc.wait()
                    rc = "killed after SIGTERM timeout"
            else:
                rc = self.proc.returncode
        if self._log is not None:
            self._log.close()
            self._log = None
        return rc

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def cleanup(self):
        self.stop()
        if not os.environ.get("DSTORE_E2E_KEEP"):
            shutil.rmtree(self.root, ignore_errors=True)

    # ---- logs

    def log_tail(self, n=60):
        try:
            with open(self.log_path, "rb") as f:
                text = f.read().decode("utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-n:])


def _fresh_etcd():
    """Starts an EtcdServer; the generator's end stops and removes it."""
    s = EtcdServer()
    try:
        s.start()
        yield s
    finally:
        # captured teardown output is shown only when the test failed
        print("--- etcd log tail (%s) ---\n%s" % (s.log_path, s.log_tail(40)))
        s.cleanup()


# Each fixture stands alone (neither requests the other), so a test module
# may import just the one it uses.
@pytest.fixture
def etcd_server():
    """A fresh etcd for one test (an EtcdServer), always stopped and removed afterwards."""
    yield from _fresh_etcd()


@pytest.fixture
def etcd():
    """The client URL ("http://127.0.0.1:PORT") of a fresh etcd for one test."""
    for s in _fresh_etcd():
        yield s.url

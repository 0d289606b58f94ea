"""Service endpoints, command line, configuration and generic errors."""

import os
import subprocess
import time

import dstore_client as dc
from conftest import DSTORE_BIN, HOST, unique


def test_health(server):
    c = server.client()  # no authentication
    r = c.get("/health")
    dc.assert_status(r, 200, c)
    assert r.json() == {"status": "ok"}


def test_version_shape(server):
    c = server.client()
    r = c.get("/v1/version")
    dc.assert_status(r, 200, c)
    body = r.json()
    api = body.get("api")
    assert isinstance(api, list) and len(api) == 2, body
    assert all(isinstance(x, int) and not isinstance(x, bool) for x in api), body
    assert api[0] == 1, body
    assert isinstance(body.get("server"), str) and body["server"], body


def test_json_content_type(server, admin):
    r = server.client().get("/health")
    assert (r.header("Content-Type") or "").startswith("application/json"), r.headers
    r = admin.get("/v1/tenant/dev/table/" + unique("nope"))
    assert r.status == 404, r
    assert (r.header("Content-Type") or "").startswith("application/json"), r.headers


def test_listening_line_printed(server):
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not server.listening_line_seen():
        time.sleep(0.1)
    assert server.listening_line_seen(), (
        "no 'listening on http://%s:%d' line in the server's output:\n%s"
        % (HOST, server.port, server.log_tail()))


def test_startup_line_names_the_allocator(server):
    """The server runs on jemalloc with its background purging thread
    (src/cmd/alloc.c): glibc's malloc let its free memory grow with the data
    stored, and jemalloc purging from request threads had half-second p99s.
    A MALLOC=glibc build (make asan; the Makefile passes MALLOC down) runs on
    glibc's malloc with one arena instead."""
    line = [ln for ln in server.log_text().splitlines() if ln.startswith("dstore: node ")]
    assert line, "no startup line:\n%s" % server.log_tail()
    if os.environ.get("MALLOC", "jemalloc") == "jemalloc":
        assert ", jemalloc 5." in line[-1] and ", background purging," in line[-1], (
            "the startup line does not say jemalloc with background purging: %s" % line[-1])
    else:
        assert ", glibc malloc, one arena," in line[-1], line[-1]


def test_startup_line_names_the_gcmsiv_implementation(server):
    """Values are sealed with AES-256-GCM-SIV by src/crypto/gcmsiv.c where the
    CPU has AES-NI and PCLMULQDQ (every x86-64 CPU of the last decade), by
    libgcrypt elsewhere; the startup line says which."""
    line = [ln for ln in server.log_text().splitlines() if ln.startswith("dstore: node ")]
    assert line, "no startup line:\n%s" % server.log_tail()
    with open("/proc/cpuinfo") as f:
        flags = next((ln.split() for ln in f if ln.startswith("flags")), [])
    want = "AES-NI" if ("aes" in flags and "pclmulqdq" in flags) else "libgcrypt"
    assert line[-1].endswith(", GCM-SIV on %s" % want), line[-1]


def test_help_mentions_every_flag():
    p = subprocess.run([DSTORE_BIN, "serve", "--help"], capture_output=True, timeout=10)
    out = (p.stdout + p.stderr).decode("utf-8", "replace")
    assert p.returncode == 0, "exit %s: %s" % (p.returncode, out)
    for flag in ("--listen", "--data", "--config", "--admin-token", "--dev-access-key",
                 "--dev-secret-key", "--max-inflight", "--max-disk", "--max-memory",
                 "--threads", "--location"):
        assert flag in out, "%s not in `dstore serve --help`:\n%s" % (flag, out)


def test_unknown_url_404(admin):
    for path in ("/nope", "/v1/nope", "/v1/tenant/dev/table/abc/nope", "/v2/version"):
        r = admin.get(path)
        dc.assert_error(r, 404, "NotFound", admin)


def test_wrong_method_405(server, admin):
    c = server.client()
    r = c.delete("/health")
    dc.assert_error(r, 405, "MethodNotAllowed", c)
    allow = r.header("Allow")
    assert allow and "GET" in [m.strip() for m in allow.split(",")], r.headers

    r = c.post("/v1/version", {})
    dc.assert_error(r, 405, "MethodNotAllowed", c)
    assert r.header("Allow") and "GET" in r.header("Allow"), r.headers

    # a table URL allows GET, PUT, DELETE but not PATCH
    r = admin.request("PATCH", dc.table_path("dev", unique("tbl")), {})
    dc.assert_error(r, 405, "MethodNotAllowed", admin)
    allow = {m.strip() for m in (r.header("Allow") or "").split(",")}
    assert {"GET", "PUT", "DELETE"} <= allow, r.headers


def test_admin_token_from_env(fresh_server):
    s = fresh_server(use_flags=False, start=False)
    token = "envtok-" + unique("x")
    s.env["DSTORE_ADMIN_TOKEN"] = token
    s.extra_args += ["--dev-access-key", s.dev_key, "--dev-secret-key", s.dev_secret]
    s.start()
    r = s.client(dc.Bearer(token)).get("/v1/tenant")
    assert r.status == 200, r
    r = s.client(dc.Bearer(s.admin_token)).get("/v1/tenant")
    dc.assert_error(r, 401, "Unauthorized")


def test_config_file(fresh_server):
    s = fresh_server(use_flags=False, start=False)
    token = "cfgtok-" + unique("x")
    key = "AKIDCFG" + unique("k")[-8:].upper()
    secret = "cfg-secret-" + unique("s")
    cfg = os.path.join(s.root, "dstore.conf")
    with open(cfg, "w") as f:
        f.write("admin-token = %s\n" % token)
        f.write("dev-access-key = %s\n" % key)
        f.write("dev-secret-key = %s\n" % secret)
    s.extra_args += ["--config", cfg]
    s.start()
    r = s.client(dc.Bearer(token)).get("/v1/tenant")
    assert r.status == 200, r
    r = s.client(dc.SigV4(key, secret)).get(dc.tables_path("dev"))
    assert r.status == 200, r
    r = s.client(dc.Basic(key, "wrong" + secret)).get(dc.tables_path("dev"))
    dc.assert_error(r, 401, "Unauthorized")


def test_location_flag_sets_rid(fresh_server):
    s = fresh_server(extra_args=["--location", "EU1"])
    c = s.dev()
    r = c.put(dc.table_path("dev", "located"))
    dc.assert_status(r, 201, c)
    assert r.json()["rid"] == "rid:dStore:dev:EU1:table:located", r

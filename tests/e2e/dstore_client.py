"""A small client for dStore's REST v1 API, used by the end-to-end tests.

Only the standard library plus botocore: requests go through http.client on a
keep-alive connection; SigV4 signatures come from botocore's real signer
(botocore.auth.SigV4Auth), so the server is checked against what AWS clients
send. RawConn speaks HTTP over a bare socket for malformed or unusual requests.

Paths passed to Client.request() are already percent-encoded; use quote_seg()
(or the *_path helpers) to build them.
"""

import base64
import datetime
import http.client
import json
import socket
import time
import urllib.parse

import botocore.auth
import botocore.awsrequest
import botocore.credentials

# --------------------------------------------------------------------------
# paths


def quote_seg(s):
    """Percent-encode one path segment (every reserved byte, '/' included)."""
    if isinstance(s, int):
        s = str(s)
    return urllib.parse.quote(s, safe="")


def b64url(raw):
    """Bytes -> base64url without padding (RFC 4648 section 5)."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def tenant_path(tenant):
    return "/v1/tenant/" + quote_seg(tenant)


def tables_path(tenant):
    return tenant_path(tenant) + "/table"


def table_path(tenant, table):
    return tables_path(tenant) + "/" + quote_seg(table)


def ids_path(tenant, table, query=None):
    p = table_path(tenant, table) + "/id"
    if query:
        p += "?" + query
    return p


def entry_path(tenant, table, entry_id):
    """entry_id: str (String table, given decoded), int (Integer table) or
    bytes (Bytes table, encoded as base64url)."""
    if isinstance(entry_id, (bytes, bytearray)):
        seg = b64url(bytes(entry_id))
    else:
        seg = quote_seg(entry_id)
    return table_path(tenant, table) + "/id/" + seg


def qs(**params):
    """Query string from keyword arguments (None values are left out; a True
    value gives a bare key, e.g. qs(count=True) -> 'count')."""
    parts = []
    for k, v in params.items():
        if v is None:
            continue
        if v is True:
            parts.append(quote_seg(k))
        else:
            parts.append(quote_seg(k) + "=" + quote_seg(v))
    return "&".join(parts)


# --------------------------------------------------------------------------
# JSON helpers that keep number text and member order


def exact(text):
    """Parse JSON keeping member order (objects become lists of pairs) and
    number text (numbers become their literal strings), so comparing two
    parses compares the JSON values exactly, not after float conversion."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8")
    return json.loads(
        text,
        object_pairs_hook=lambda pairs: ("{}", [list(p) for p in pairs]),
        parse_float=lambda s: ("num", s),
        parse_int=lambda s: ("num", s),
        parse_constant=lambda s: ("const", s),
    )


def exact_unordered(text):
    """Like exact() but objects become dicts (member order ignored)."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8")
    return json.loads(
        text,
        parse_float=lambda s: ("num", s),
        parse_int=lambda s: ("num", s),
        parse_constant=lambda s: ("const", s),
    )


# --------------------------------------------------------------------------
# authentication


class Auth:
    def apply(self, method, url, headers, body):
        """Add authentication headers to `headers` (a dict) in place."""
        raise NotImplementedError


class NoAuth(Auth):
    def apply(self, method, url, headers, body):
        pass


class Bearer(Auth):
    def __init__(self, token):
        self.token = token

    def apply(self, method, url, headers, body):
        headers["Authorization"] = "Bearer " + self.token


class Basic(Auth):
    def __init__(self, key, secret):
        self.key, self.secret = key, secret

    def apply(self, method, url, headers, body):
        cred = base64.b64encode(("%s:%s" % (self.key, self.secret)).encode()).decode()
        headers["Authorization"] = "Basic " + cred


class _FixedTimeSigV4Auth(botocore.auth.SigV4Auth):
    """botocore's SigV4 signer with a chosen clock (for stale-date tests)."""

    def __init__(self, credentials, service_name, region_name, when):
        super().__init__(credentials, service_name, region_name)
        self._when = when

    def add_auth(self, request):
        request.context["timestamp"] = self._when.strftime(botocore.auth.SIGV4_TIMESTAMP)
        self._modify_request_before_signing(request)
        canonical_request = self.canonical_request(request)
        string_to_sign = self.string_to_sign(request, canonical_request)
        signature = self.signature(string_to_sign, request)
        self._inject_signature_to_request(request, signature)


class SigV4(Auth):
    """AWS Signature Version 4 by botocore. `skew` (a timedelta) shifts the
    signing clock; `sign_body` lets a test sign one body and send another."""

    def __init__(self, key, secret, region="us-east-1", service="dstore", skew=None):
        self.key, self.secret = key, secret
        self.region, self.service, self.skew = region, service, skew
        self.sign_body = None  # if set, bytes signed instead of the real body

    def apply(self, method, url, headers, body):
        creds = botocore.credentials.Credentials(self.key, self.secret)
        if self.skew is None:
            signer = botocore.auth.SigV4Auth(creds, self.service, self.region)
        else:
            when = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) + self.skew
            signer = _FixedTimeSigV4Auth(creds, self.service, self.region, when)
        signed_body = self.sign_body if self.sign_body is not None else body
        req = botocore.awsrequest.AWSRequest(
            method=method, url=url, data=signed_body or b"", headers=dict(headers)
        )
        signer.add_auth(req)
        for k, v in req.headers.items():
            headers[k] = v


# --------------------------------------------------------------------------
# responses and the keep-alive client


class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers  # http.client.HTTPMessage (case-insensitive)
        self.body = body

    @property
    def text(self):
        return self.body.decode("utf-8", errors="replace")

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def header(self, name):
        return self.headers.get(name) if self.headers is not None else None

    def __repr__(self):
        t = self.text
        if len(t) > 600:
            t = t[:600] + "...(%d bytes)" % len(self.body)
        return "<HTTP %s %s>" % (self.status, t)


def _encode_body(body):
    if body is None:
        return None
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


class Client:
    """A keep-alive HTTP/1.1 client for one server with one default Auth."""

    def __init__(self, host, port, auth=None, timeout=30.0):
        self.host, self.port = host, port
        self.auth = auth or NoAuth()
        self.timeout = timeout
        self._conn = None
        self.last_request = None  # (method, path, headers, body) for messages

    def with_auth(self, auth):
        return Client(self.host, self.port, auth, self.timeout)

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self):
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self._conn

    def request(self, method, path, body=None, headers=None, auth=None, content_type="application/json"):
        data = _encode_body(body)
        hdrs = {"Host": "%s:%d" % (self.host, self.port)}
        if data is not None and content_type:
            hdrs["Content-Type"] = content_type
        if headers:
            hdrs.update(headers)
        url = "http://%s:%d%s" % (self.host, self.port, path)
        (auth or self.auth).apply(method, url, hdrs, data)
        self.last_request = (method, path, hdrs, data)
        attempts = 2 if method in ("GET", "HEAD") else 1
        for attempt in range(attempts):
            conn = self._connection()
            try:
                conn.request(method, path, body=data, headers=hdrs)
                r = conn.getresponse()
                payload = r.read()
                resp = Response(r.status, r.reason, r.headers, payload)
                if r.will_close:
                    self.close()
                return resp
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt + 1 >= attempts:
                    raise
            except Exception:
                self.close()
                raise
        raise AssertionError("unreachable")

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body=body, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


def describe(resp, req=None):
    """One readable line for assertion messages."""
    s = repr(resp)
    if req is not None:
        s = "%s %s -> %s" % (req[0], req[1], s)
    return s


def assert_status(resp, status, client=None):
    """Assert resp.status (an int or a tuple of ints); the message shows the request."""
    ok = resp.status in status if isinstance(status, tuple) else resp.status == status
    if not ok:
        req = client.last_request if client is not None else None
        raise AssertionError("expected HTTP %s, got %s" % (status, describe(resp, req)))
    return resp


def assert_error(resp, status, code=None, client=None):
    """Assert an error answer: the status, a JSON body with the stable `code`
    (one of `code` if a tuple) and a non-empty `message`."""
    assert_status(resp, status, client)
    try:
        body = resp.json()
    except Exception:
        raise AssertionError("error body is not JSON: %r" % (resp,))
    assert isinstance(body, dict), resp
    if code is not None:
        codes = code if isinstance(code, tuple) else (code,)
        assert body.get("code") in codes, "expected code %s, got %r" % (codes, resp)
    assert isinstance(body.get("message"), str) and body["message"], "no message: %r" % (resp,)
    return body


CODES_400 = ("BadRequest", "InvalidJson", "InvalidId", "InvalidName", "InvalidParameter")


# --------------------------------------------------------------------------
# raw sockets


class RawConn:
    """HTTP over a bare socket: send any bytes, read responses one by one."""

    def __init__(self, host, port, timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.eof = False

    def send(self, data):
        self.sock.sendall(data)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _fill(self, deadline):
        if self.eof:
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("timed out waiting for the server")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def _read_until(self, sep, deadline):
        while sep not in self.buf:
            if not self._fill(deadline):
                return None
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def _read_n(self, n, deadline):
        while len(self.buf) < n:
            if not self._fill(deadline):
                raise ConnectionError("connection closed inside a body")
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_response(self, timeout=10.0, head_request=False):
        """Read one response. Returns (status, headers dict lower-case -> value,
        body bytes), or None if the server closed the connection first."""
        deadline = time.monotonic() + timeout
        head = self._read_until(b"\r\n\r\n", deadline)
        if head is None:
            return None
        lines = head.decode("latin-1").split("\r\n")
        status_line = lines[0]
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise AssertionError("bad status line %r" % status_line)
        status = int(parts[1])
        headers = {}
        for line in lines[1:]:
            if not line:
                continue
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        if 100 <= status < 200 or status in (204, 304) or head_request:
            return status, headers, b""
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size_line = self._read_until(b"\r\n", deadline)
                if size_line is None:
                    raise ConnectionError("closed inside chunked body")
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    # trailers until an empty line
                    while True:
                        t = self._read_until(b"\r\n", deadline)
                        if t is None or t == b"\r\n":
                            break
                    break
                body += self._read_n(size, deadline)
                self._read_n(2, deadline)
            return status, headers, body
        if "content-length" in headers:
            return status, headers, self._read_n(int(headers["content-length"]), deadline)
        # read until close
        while self._fill(deadline):
            pass
        body, self.buf = self.buf, b""
        return status, headers, body

    def closed_by_peer(self, timeout=5.0):
        """True if the server closes the connection (EOF or reset) within timeout
        without sending anything more."""
        deadline = time.monotonic() + timeout
        try:
            while not self.eof:
                if not self._fill(deadline):
                    break
                if self.buf:
                    return False
        except socket.timeout:
            return False
        return self.eof and not self.buf


def raw_request(method, path, host_port, headers=None, body=b"", version="HTTP/1.1"):
    """Bytes of one HTTP request. headers: list of (name, value)."""
    host, port = host_port
    hs = [("Host", "%s:%d" % (host, port))]
    if headers:
        hs += list(headers)
    names = {k.lower() for k, _ in hs}
    if body and "content-length" not in names and "transfer-encoding" not in names:
        hs.append(("Content-Length", str(len(body))))
    out = "%s %s %s\r\n" % (method, path, version)
    out += "".join("%s: %s\r\n" % (k, v) for k, v in hs)
    out += "\r\n"
    return out.encode("latin-1") + (body or b"")


def basic_header(key, secret):
    return ("Authorization", "Basic " + base64.b64encode(("%s:%s" % (key, secret)).encode()).decode())

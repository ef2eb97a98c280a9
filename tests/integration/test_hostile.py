"""Hostile input (issue 9): oversized request lines, parameters, headers and
bodies, endless and stalled bodies, deep JSON and a crowd of idle
connections against the real hs-ingress. Each gets a 4xx (413, 414, 431,
400) or, where HTTP cannot answer, a closed connection, within a bounded
time; afterwards the ingress still answers /healthz and an API call at
once, and its RSS grows by no more than a few tens of MB over the suite.

Raw sockets throughout: urllib cannot send most of this.

Run: python3 tests/integration/test_hostile.py <build>/bin
"""
import hashlib
import hmac
import json
import os
import re
import select
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Browser, api, b64url, main  # noqa: E402

VALGRIND = os.environ.get("HS_DEV_VALGRIND") == "1"
SLOW = 5.0 if VALGRIND else 1.0
# The ingress's limits (producers/ingress/ingress_http.h): its inactivity
# time-out and the longest a request body may take to arrive.
CONN_TIMEOUT = 30
BODY_TIME_MAX = 30
RSS_GROWTH_MAX_KB = 40 * 1024  # plain build; sanitizers: see rss_bound_kb

HOOKS_SECRET = b64url(24)
PROVIDERS = {"providers": {"hooks": {
    "authorize_url": "https://hooks.example/authorize",
    "token_url": "https://hooks.example/token",
    "scopes": ["read"], "client_id": "test",
    "client_secret_env": "HS_HOOKS_CLIENT_SECRET",
    "webhook": {"scheme": "hmac-sha256", "secret_env": "HS_HOOKS_SECRET",
                "header": "X-Hub-Signature-256", "prefix": "sha256="}}}}
ENV = {"HS_HOOKS_SECRET": HOOKS_SECRET, "HS_HOOKS_CLIENT_SECRET": b64url(24)}

KB = 1024
MB = 1024 * 1024
STATE = {}


# ---- raw HTTP ------------------------------------------------------------

class Answer:
    def __init__(self):
        self.status = None    # None: no response at all
        self.headers = {}
        self.body = b""
        self.closed = False   # the server closed (or reset) the connection
        self.sent = 0         # bytes of the request we got out
        self.elapsed = 0.0

    def __repr__(self):
        return "Answer(status=%r, closed=%r, sent=%d, %.1fs, %r)" % (
            self.status, self.closed, self.sent, self.elapsed,
            self.body[:200])


def addr(stack):
    u = urllib.parse.urlparse(stack.ingress)
    return u.hostname, u.port


def chunks(data, size=64 * KB):
    for i in range(0, len(data), size):
        yield data[i:i + size]


def exchange(stack, head, body=(), timeout=20, pause=0.0):
    """Sends head, then each chunk of body (pause seconds apart), while
    watching for an answer: sending stops as soon as the server answers
    or closes. Returns an Answer once a whole response is read, the
    connection is closed, or timeout seconds have passed."""
    a = Answer()
    t0 = time.time()
    deadline = t0 + timeout * SLOW
    s = socket.create_connection(addr(stack), timeout=10)
    s.setblocking(False)
    pending = [head] if isinstance(head, bytes) else list(head)
    body = iter(body)
    buf = b""
    more = True
    try:
        while time.time() < deadline:
            if not pending and more:
                try:
                    pending.append(next(body))
                    if pause and a.sent:
                        time.sleep(pause)
                except StopIteration:
                    more = False
            # poll, not select: the idle crowd takes descriptors past 1024
            p = select.poll()
            p.register(s, select.POLLIN | (select.POLLOUT if pending else 0))
            ev = dict(p.poll(max(0, min(500, int((deadline - time.time()) *
                                                 1000)))))
            r = ev.get(s.fileno(), 0) & (select.POLLIN | select.POLLHUP |
                                          select.POLLERR)
            w = ev.get(s.fileno(), 0) & select.POLLOUT
            if r:
                try:
                    got = s.recv(256 * KB)
                except (ConnectionResetError, BrokenPipeError):
                    got = b""
                if not got:
                    a.closed = True
                    break
                buf += got
                if parse(a, buf):
                    break
                pending = []  # answered: stop sending
                more = False
                continue
            if w and pending:
                try:
                    n = s.send(pending[0])
                except (ConnectionResetError, BrokenPipeError):
                    a.closed = True
                    # The answer may still be in our receive buffer.
                    try:
                        buf += s.recv(256 * KB)
                    except OSError:
                        pass
                    break
                a.sent += n
                pending[0] = pending[0][n:]
                if not pending[0]:
                    pending.pop(0)
    finally:
        if buf and a.status is None:
            parse(a, buf)
        s.close()
    a.elapsed = time.time() - t0
    return a


def parse(a, buf):
    """Fills a from buf; True once the whole response is there."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return False
    lines = buf[:end].decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
    if not m:
        return False
    a.status = int(m.group(1))
    a.headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        a.headers[k.strip().lower()] = v.strip()
    a.body = buf[end + 4:]
    n = int(a.headers.get("content-length", "0"))
    return len(a.body) >= n


def request(method, target, headers=(), body=None, length=None):
    """The head of a request (bytes); Content-Length from body or length."""
    lines = ["%s %s HTTP/1.1" % (method, target), "Host: 127.0.0.1"]
    lines += list(headers)
    if length is None and body is not None:
        length = len(body)
    if length is not None:
        lines.append("Content-Length: %d" % length)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def json_error(a):
    assert a.headers.get("content-type") == "application/json", a
    return json.loads(a.body)["error"]


def expect(a, *statuses, closed_ok=False, within=None):
    """a has one of statuses (or, when closed_ok, was closed without
    one), within seconds if given."""
    ok = a.status in statuses or (closed_ok and a.status is None and
                                  a.closed)
    print("  answer %s after %.1fs, %d bytes sent%s" % (
        a.status or "none", a.elapsed, a.sent,
        ", connection closed" if a.closed else ""))
    assert ok, "expected %s%s, got %r" % (
        statuses, " or a closed connection" if closed_ok else "", a)
    if within is not None:
        assert a.elapsed < within * SLOW, "took %.1fs: %r" % (a.elapsed, a)


# ---- the ingress process ---------------------------------------------------

def ingress_pid(stack):
    port = addr(stack)[1]
    out = subprocess.run(["ss", "-ltnpH", "sport = :%d" % port],
                         capture_output=True, timeout=10).stdout.decode()
    m = re.search(r"pid=(\d+)", out)
    assert m, "no process listens on port %d: %r" % (port, out)
    return int(m.group(1))


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


def rss_bound_kb(pid):
    """RSS_GROWTH_MAX_KB, larger under ASan (its quarantine keeps freed
    memory, up to 256 MB) and valgrind (its own bookkeeping)."""
    with open("/proc/%d/maps" % pid) as f:
        asan = "libasan" in f.read()
    return RSS_GROWTH_MAX_KB * (3 if asan or VALGRIND else 1)


def still_serving(stack, what):
    """/healthz and an authenticated API call answer at once."""
    t0 = time.time()
    a = exchange(stack, request("GET", "/healthz"), timeout=5)
    assert a.status == 200, "after %s /healthz: %r" % (what, a)
    r = api(stack.ingress + "/api/me", stack.token)
    assert r.status == 200, "after %s /api/me: %d %s" % (what, r.status,
                                                       r.text)
    took = time.time() - t0
    assert took < 2 * SLOW, "after %s the ingress took %.1fs" % (what, took)
    assert ingress_pid(stack) == STATE["pid"], "the ingress restarted"


def case(fn):
    """A test that ends by checking that the ingress still serves."""
    def run(stack):
        fn(stack)
        still_serving(stack, fn.__name__)
    run.__name__ = fn.__name__
    return run


def bearer(stack):
    return "Authorization: Bearer " + stack.token


def auth_code(stack):
    r = api(stack.ingress + "/api/provider-auth-code", stack.token, {})
    assert r.status == 201, (r.status, r.text)
    return r.json()["code"]


# ---- background clients: slow, stalled and idle ----------------------------

class Background(threading.Thread):
    def __init__(self, name, fn, stack):
        super().__init__(name=name, daemon=True)
        self.fn, self.stack = fn, stack
        self.result = self.error = None

    def run(self):
        try:
            self.result = self.fn(self.stack)
        except Exception as e:  # reported by the test that joins it
            self.error = e

    def outcome(self):
        self.join(120 * SLOW)
        assert not self.is_alive(), self.name + " never ended"
        if self.error:
            raise self.error
        return self.result


def stalled_body(stack):
    """Content-Length within the limit, 100 bytes sent, then nothing."""
    head = request("POST", "/api/agents",
                   [bearer(stack), "Content-Type: application/json"],
                   length=8000)
    return exchange(stack, head, [b" " * 100], timeout=CONN_TIMEOUT + 30)


def trickled_body(stack):
    """Content-Length within the limit, one byte every second: alive for
    the inactivity time-out, but never done."""
    head = request("POST", "/api/agents",
                   [bearer(stack), "Content-Type: application/json"],
                   length=8000)
    return exchange(stack, head, (b" " for _ in range(8000)),
                    timeout=BODY_TIME_MAX + 30, pause=1.0)


def idle_crowd(stack, n=2000):
    """n connections at once that send nothing; the ingress must keep
    answering meanwhile and close them after its inactivity time-out."""
    socks = []
    t0 = time.time()
    for _ in range(n):
        s = socket.create_connection(addr(stack), timeout=10)
        socks.append(s)
    opened = time.time() - t0
    a = exchange(stack, request("GET", "/healthz"), timeout=5)
    during = (a.status, a.elapsed)
    closed_at = []
    deadline = time.time() + (CONN_TIMEOUT + 30) * SLOW
    poll = select.poll()
    by_fd = {}
    for s in socks:
        poll.register(s, select.POLLIN)
        by_fd[s.fileno()] = s
    while by_fd and time.time() < deadline:
        for fd, _ in poll.poll(1000):
            s = by_fd.pop(fd)
            poll.unregister(fd)
            try:
                got = s.recv(1024)
            except OSError:
                got = b""
            assert not got, "an idle connection got %r" % got[:100]
            closed_at.append(time.time() - t0)
    for s in socks:
        s.close()
    return {"opened_s": opened, "during": during, "left_open": len(by_fd),
            "closed_by_s": max(closed_at) if closed_at else None}


# ---- tests -----------------------------------------------------------------

def test_start(stack):
    """Warms up, notes the ingress's pid and RSS, and starts the clients
    that take the inactivity time-out to judge."""
    STATE["pid"] = ingress_pid(stack)
    for _ in range(20):
        still_serving(stack, "warm-up")
    auth_code(stack)
    STATE["rss0"] = rss_kb(STATE["pid"])
    print("  ingress pid %d, RSS %d KiB" % (STATE["pid"], STATE["rss0"]))
    for name, fn in (("stalled", stalled_body), ("trickled", trickled_body),
                     ("idle", idle_crowd)):
        STATE[name] = Background(name, fn, stack)
        STATE[name].start()


# Request line and query.

@case
def test_url_of_100k_is_414(stack):
    a = exchange(stack, request("GET", "/web/provider-auth/" + "a" * 100 * KB))
    expect(a, 414, within=5)


@case
def test_url_of_1m_is_414_or_closed(stack):
    head = request("GET", "/healthz?x=" + "a" * MB)
    a = exchange(stack, chunks(head))
    expect(a, 414, closed_ok=True, within=5)


@case
def test_query_of_10000_parameters_is_414(stack):
    q = "&".join("p%d=v" % i for i in range(10000))
    a = exchange(stack, request("GET", "/no-auth/provider-token/demo?" + q))
    expect(a, 414, within=5)


@case
def test_seventeen_parameters_that_fit_are_400(stack):
    q = "&".join("p%d=v" % i for i in range(17))
    a = exchange(stack, request("GET", "/no-auth/provider-token/demo?" + q))
    expect(a, 400, within=5)


@case
def test_state_of_64k_is_414(stack):
    a = exchange(stack, request(
        "GET", "/no-auth/provider-token/demo?code=x&state=" + "s" * 64 * KB))
    expect(a, 414, within=5)


@case
def test_code_of_64k_is_414(stack):
    a = exchange(stack, request("GET", "/web/provider-auth/demo?code=" +
                                "c" * 64 * KB))
    expect(a, 414, within=5)


# Headers.

@case
def test_header_of_64k_is_431(stack):
    a = exchange(stack, request("GET", "/healthz", ["X-Big: " + "h" * 64 * KB]))
    expect(a, 431, within=5)


@case
def test_header_of_1m_is_431_or_closed(stack):
    head = request("GET", "/api/me", [bearer(stack), "X-Big: " + "h" * MB])
    a = exchange(stack, chunks(head))
    expect(a, 431, closed_ok=True, within=5)


@case
def test_10000_small_headers_are_431(stack):
    head = request("GET", "/healthz", ["X-H%d: v" % i for i in range(10000)])
    a = exchange(stack, chunks(head))
    expect(a, 431, closed_ok=True, within=5)


@case
def test_cookie_of_64k_with_thousands_of_cookies_is_431(stack):
    cookies = "; ".join("c%d=%s" % (i, "v" * 8) for i in range(5000))
    assert len(cookies) > 64 * KB
    a = exchange(stack, request("GET", "/web/provider-auth/demo?code=x",
                                ["Cookie: " + cookies]))
    expect(a, 431, within=5)


# Bodies.

def post_json(stack, path, size, fill=b" ", auth=True):
    headers = ["Content-Type: application/json"]
    if auth:
        headers.append(bearer(stack))
    head = request("POST", path, headers, length=size)

    def body():
        left = size
        while left:
            n = min(left, 64 * KB)
            yield fill * n
            left -= n
    return exchange(stack, head, body(), timeout=60)


@case
def test_json_body_of_1m_is_413(stack):
    a = post_json(stack, "/api/provider-auth-code", MB)
    expect(a, 413, within=5)
    assert json_error(a) == "too_large"


@case
def test_json_body_of_64m_is_413_before_it_is_read(stack):
    a = post_json(stack, "/api/agents", 64 * MB)
    expect(a, 413, within=5)
    assert json_error(a) == "too_large"
    assert a.sent < 16 * MB, "the ingress read %d bytes first" % a.sent


@case
def test_unauthenticated_json_body_of_1m_is_413(stack):
    a = post_json(stack, "/no-auth/check-signup", MB)
    expect(a, 413, within=5)
    assert json_error(a) == "too_large"


@case
def test_form_body_of_1m_is_413_page(stack):
    code = auth_code(stack)
    body = ("csrf=" + "x" * MB).encode()
    head = request("POST", "/web/provider-auth/demo?code=" + code,
                   ["Content-Type: application/x-www-form-urlencoded"],
                   length=len(body))
    a = exchange(stack, head, chunks(body))
    expect(a, 413, within=5)
    assert a.headers.get("content-type", "").startswith("text/html"), a


@case
def test_webhook_body_of_64m_is_413(stack):
    size = 64 * MB
    head = request("POST", "/no-auth/webhooks/hooks",
                   ["Content-Type: application/json",
                    "X-Hub-Signature-256: sha256=" + "0" * 64], length=size)
    a = exchange(stack, head, (b"x" * (64 * KB) for _ in range(size // 65536)),
                 timeout=60)
    expect(a, 413, within=5)
    assert json_error(a) == "too_large"
    assert a.sent < 16 * MB, "the ingress read %d bytes first" % a.sent


@case
def test_webhook_within_its_limit_still_works(stack):
    body = json.dumps({"pad": "p" * 200 * KB}).encode()
    mac = hmac.new(HOOKS_SECRET.encode(), body, hashlib.sha256).hexdigest()
    r = Browser().request(stack.ingress + "/no-auth/webhooks/hooks", body,
                          {"Content-Type": "application/json",
                           "X-Hub-Signature-256": "sha256=" + mac}, "POST")
    assert r.status == 200, (r.status, r.text)


@case
def test_endless_chunked_body_is_cut_off(stack):
    """Transfer-Encoding: chunked, 8 MB offered at about 4 MB/s: the
    ingress stops it long before the end (413 or a closed connection:
    HTTP has no way to answer in the middle of a body)."""
    head = request("POST", "/api/agents",
                   [bearer(stack), "Content-Type: application/json",
                    "Transfer-Encoding: chunked"])
    chunk = b"%x\r\n%s\r\n" % (64 * KB, b" " * (64 * KB))
    a = exchange(stack, head, (chunk for _ in range(128)), timeout=30,
                 pause=1.0 / 64)
    expect(a, 413, closed_ok=True)
    assert a.sent < 4 * MB, "the ingress took %d bytes" % a.sent


@case
def test_content_length_far_beyond_what_is_sent_is_413(stack):
    """A slowloris body that announces 10 GB: refused from its headers."""
    head = request("POST", "/api/agents",
                   [bearer(stack), "Content-Type: application/json"],
                   length=10 * 1024 * MB)
    a = exchange(stack, head, [b"[" * 1000], timeout=CONN_TIMEOUT + 15)
    expect(a, 413, within=5)


@case
def test_json_nested_100000_deep_is_413(stack):
    a = post_json(stack, "/api/agents", 100000, fill=b"[")
    expect(a, 413, within=5)


@case
def test_json_nested_within_the_size_limit_is_400(stack):
    body = b"[" * 15000 + b"]" * 1000
    head = request("POST", "/api/agents",
                   [bearer(stack), "Content-Type: application/json"],
                   length=len(body))
    a = exchange(stack, head, [body])
    expect(a, 400, within=5)
    assert json_error(a) == "invalid_json"


@case
def test_stalled_body_is_cut_off_by_the_time_out(stack):
    a = STATE["stalled"].outcome()
    expect(a, 408, closed_ok=True)
    assert a.elapsed < (CONN_TIMEOUT + 10) * SLOW, a


@case
def test_trickled_body_is_cut_off(stack):
    a = STATE["trickled"].outcome()
    expect(a, 408, closed_ok=True)
    assert a.elapsed < (BODY_TIME_MAX + 10) * SLOW, a


@case
def test_2000_idle_connections(stack):
    got = STATE["idle"].outcome()
    print("  idle crowd: %r" % got)
    status, took = got["during"]
    assert status == 200 and took < 2 * SLOW, got
    assert got["left_open"] == 0, got
    assert got["closed_by_s"] < (CONN_TIMEOUT + 15) * SLOW, got


def test_rss_stayed_bounded(stack):
    time.sleep(1)
    rss = rss_kb(STATE["pid"])
    print("  ingress RSS %d KiB -> %d KiB (%+d KiB)" % (
        STATE["rss0"], rss, rss - STATE["rss0"]))
    assert rss - STATE["rss0"] < rss_bound_kb(STATE["pid"]), (
        STATE["rss0"], rss)


if __name__ == "__main__":
    main([test_start,
          test_url_of_100k_is_414,
          test_url_of_1m_is_414_or_closed,
          test_query_of_10000_parameters_is_414,
          test_seventeen_parameters_that_fit_are_400,
          test_state_of_64k_is_414,
          test_code_of_64k_is_414,
          test_header_of_64k_is_431,
          test_header_of_1m_is_431_or_closed,
          test_10000_small_headers_are_431,
          test_cookie_of_64k_with_thousands_of_cookies_is_431,
          test_json_body_of_1m_is_413,
          test_json_body_of_64m_is_413_before_it_is_read,
          test_unauthenticated_json_body_of_1m_is_413,
          test_form_body_of_1m_is_413_page,
          test_webhook_body_of_64m_is_413,
          test_webhook_within_its_limit_still_works,
          test_endless_chunked_body_is_cut_off,
          test_content_length_far_beyond_what_is_sent_is_413,
          test_json_nested_100000_deep_is_413,
          test_json_nested_within_the_size_limit_is_400,
          test_stalled_body_is_cut_off_by_the_time_out,
          test_trickled_body_is_cut_off,
          test_2000_idle_connections,
          test_rss_stayed_bounded],
         extra_env=ENV, providers=PROVIDERS)

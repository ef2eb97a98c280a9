"""Operators' view (issue 8): /metrics of every program after a flow,
parsed by the Prometheus client's own text parser; /readyz following
PostgreSQL and Kafka.

Run: python3 tests/integration/test_ops.py <build>/bin
"""
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Browser, free_port, main, wait_for  # noqa: E402

try:
    from prometheus_client.parser import text_string_to_metric_families
    import yaml
except ImportError:  # a python3 of its own (pyenv) next to Debian's package
    sys.path.append("/usr/lib/python3/dist-packages")
    from prometheus_client.parser import text_string_to_metric_families
    import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
OPENAPI = os.path.join(ROOT, "schemas", "openapi.yaml")

SLOW = 2.5 if os.environ.get("HS_DEV_VALGRIND") == "1" else 1.0
ENV = {"HS_DEMO_ACCESS_TTL": str(int(4 * SLOW)),
       "HS_REFRESH_AHEAD": str(int(2 * SLOW))}


def worker_ports(stack):
    """{program: [metrics port, ...]} from the stack's log."""
    ports = {}
    with open(stack.log_path, "rb") as f:
        for line in f.read().decode("utf-8", "replace").splitlines():
            m = re.search(r'"svc":"(hs-[a-z]+)","event":"metrics.listening",'
                          r'"port":(\d+)', line)
            if m:
                ports.setdefault(m.group(1), []).append(int(m.group(2)))
    return ports


def scrape(url):
    """{(name, frozenset(labels)): value}; the text must parse."""
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = r.read().decode()
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            key = (s.name, frozenset(s.labels.items()))
            out[key] = out.get(key, 0) + s.value
    return out


def scrape_all(stack):
    """The ingress and every worker (instances of one program summed)."""
    got = {"hs-ingress": scrape(stack.ingress + "/metrics")}
    for prog, ports in worker_ports(stack).items():
        total = {}
        for p in ports:
            for k, v in scrape("http://127.0.0.1:%d/metrics" % p).items():
                total[k] = total.get(k, 0) + v
        got[prog] = total
    return got


def val(m, name, **labels):
    return m.get((name, frozenset(labels.items())), 0)


def test_metrics_move_with_a_flow(stack):
    ports = wait_for(lambda: (lambda p: p if len(p.get("hs-exchange", [])) == 2
                              and "hs-broadcaster" in p and
                              "hs-refresher" in p else None)(
                                  worker_ports(stack)),
                     what="every worker's metrics port")
    assert len(ports["hs-exchange"]) == 2
    before = scrape_all(stack)
    agent = stack.agent()
    agent.login()
    agent.connect()
    # A refresh (the demo tokens live 4 s).
    wait_for(lambda: val(scrape_all(stack)["hs-refresher"],
                         "hs_refreshes_total", outcome="ok") >= 1,
             timeout=30 * SLOW, what="a refresh to be counted")
    after = scrape_all(stack)
    ing, ex = after["hs-ingress"], after["hs-exchange"]
    cb = dict(route="/no-auth/provider-token/{p}", status="302")
    assert val(ing, "hs_http_requests_total", **cb) == \
        val(before["hs-ingress"], "hs_http_requests_total", **cb) + 1
    assert val(ing, "hs_callbacks_emitted_total", provider="demo") == \
        val(before["hs-ingress"], "hs_callbacks_emitted_total",
            provider="demo") + 1
    assert val(ing, "hs_http_request_duration_seconds_count",
               route="/no-auth/provider-token/{p}") >= 1
    assert ("hs_longpolls_open", frozenset()) in ing
    assert val(ex, "hs_exchanges_total", provider="demo", outcome="ok") == \
        val(before["hs-exchange"], "hs_exchanges_total", provider="demo",
            outcome="ok") + 1
    assert val(ex, "hs_worker_messages_total", topic="hs.callbacks",
               outcome="ok") >= 1
    assert any(k[0] == "hs_consumer_lag" for k in ex), sorted(ex)[:20]
    bc = after["hs-broadcaster"]
    assert val(bc, "hs_broadcasts_total", type="token.issued") >= \
        val(before["hs-broadcaster"], "hs_broadcasts_total",
            type="token.issued") + 1
    assert val(bc, "hs_me_messages_total") >= 1
    # A 404 is counted under its status, not under a URL of its own.
    assert Browser().get(stack.ingress + "/no/such/path").status == 404
    # (counted once the answer is sent: a moment after the client has it)
    ing = wait_for(lambda: (lambda m: m if val(
        m, "hs_http_requests_total", route="unknown", status="404") >= 1
        else None)(scrape(stack.ingress + "/metrics")),
        what="the 404 to be counted")
    assert not any("/no/such" in str(k) for k in ing)


class Proxy:
    """A TCP forwarder that can be cut (every connection closed, the port
    refused) and opened again on the same port."""

    def __init__(self, target):
        self.target, self.port = target, free_port()
        self.socks, self.lsock = [], None
        self.open()

    def open(self):
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", self.port))
        self.lsock.listen(16)
        threading.Thread(target=self._accept, args=(self.lsock,),
                         daemon=True).start()

    def _accept(self, lsock):
        while True:
            try:
                c, _ = lsock.accept()
            except OSError:
                return
            if isinstance(self.target, str):  # a Unix socket
                u = socket.socket(socket.AF_UNIX)
                u.connect(self.target)
            else:
                u = socket.create_connection(self.target)
            self.socks += [c, u]
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pipe, args=(a, b),
                                 daemon=True).start()

    @staticmethod
    def _pipe(a, b):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                b.sendall(d)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        # shutdown first: close alone does not wake a thread in accept().
        try:
            self.lsock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.lsock.close()
        for s in self.socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass
        self.socks = []


def readyz(url):
    r = Browser().get(url + "/readyz")
    return r.status, (r.json() if r.status in (200, 503) else None)


def became(url, status, within):
    t0 = time.time()
    wait_for(lambda: readyz(url)[0] == status, timeout=within,
             what="/readyz %d" % status)
    return time.time() - t0


def test_readyz_follows_postgres_and_kafka(stack):
    # PostgreSQL: a second ingress reaches it through a proxy we cut.
    host = re.search(r"host=(\S+)", stack.pg)
    port = re.search(r"port=(\d+)", stack.pg)
    assert host and port, stack.pg
    h, pt = host.group(1), int(port.group(1))
    proxy = Proxy("%s/.s.PGSQL.%d" % (h, pt) if h.startswith("/")
                  else (h, pt))
    pg_url = re.sub(r"port=\d+", "port=%d" % proxy.port,
                    re.sub(r"host=\S+", "host=127.0.0.1", stack.pg))
    ing = stack.start_ingress(HS_PG_URL=pg_url)
    assert readyz(ing) == (200, {"status": "ready", "kafka": "ok",
                                 "postgres": "ok"})
    proxy.cut()
    took = became(ing, 503, 5)
    print("  readyz: 503 %.1f s after PostgreSQL went away" % took)
    assert took < 5
    assert readyz(ing)[1]["postgres"] == "unreachable"
    assert readyz(ing)[1]["kafka"] == "ok"
    proxy.open()
    became(ing, 200, 15 * SLOW)
    # Kafka: hs-dev takes every broker down, then up.
    stack.proc.send_signal(signal.SIGRTMIN)
    try:
        took = became(stack.ingress, 503, 5)
        print("  readyz: 503 %.1f s after Kafka went away" % took)
        assert took < 5
        assert readyz(stack.ingress)[1]["kafka"] == "unreachable"
    finally:
        stack.proc.send_signal(signal.SIGRTMIN + 1)
    became(stack.ingress, 200, 30 * SLOW)


def test_openapi_matches_the_served_routes(stack):
    with open(OPENAPI) as f:
        doc = yaml.safe_load(f)
    documented = {(m.upper(), path) for path, ops in doc["paths"].items()
                  for m in ops if m in ("get", "head", "post", "delete")}
    r = subprocess.run([os.path.join(stack.bindir, "hs-ingress"),
                        "--routes"], capture_output=True, timeout=30)
    served = {tuple(line.split(" ", 1))
              for line in r.stdout.decode().splitlines()}
    assert r.returncode == 0 and served, r
    assert documented == served, (documented - served, served - documented)
    # A real validator: Redocly CLI (npm, tests/api), strict rules.
    api_dir = os.path.join(ROOT, "tests", "api")
    r = subprocess.run(["npx", "--no-install", "redocly", "lint", "--config",
                        "redocly.yaml", OPENAPI], cwd=api_dir,
                       capture_output=True, timeout=120)
    assert r.returncode == 0, (r.stdout + r.stderr).decode()[-3000:]
    # The running ingress answers each under its template (not as an
    # unknown route, not 405).
    for method, path in sorted(documented):
        url = stack.ingress + path.replace("{p}", "demo").replace(
            "{id}", "x")
        body = b"{}" if method == "POST" else None
        r = Browser().request(url, body, {"Content-Type":
                                          "application/json"}, method)
        assert r.status != 405, (method, path, r.status)
    counted = {dict(k[1]).get("route") for k in
               scrape(stack.ingress + "/metrics")
               if k[0] == "hs_http_requests_total"}
    assert {p for _, p in documented} <= counted, \
        {p for _, p in documented} - counted


if __name__ == "__main__":
    main([test_metrics_move_with_a_flow,
          test_openapi_matches_the_served_routes,
          test_readyz_follows_postgres_and_kafka], extra_env=ENV)

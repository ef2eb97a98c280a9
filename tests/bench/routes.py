"""Benchmark module (tests/bench/run): the HTTP rows.

  python3 tests/bench/routes.py --bin DIR --rows FILE [--quick]

On hs-dev with no exchange worker (the callbacks pile up in the mock
cluster, nothing consumes them), against nginx serving `return 302` on
127.0.0.1, with the same wrk settings and the same Lua script
(tests/bench/paths.lua: request paths from a file, a Cookie header):

- callback route, wrk 2 threads, keep-alive, 64 and 512 connections:
  valid, distinct sealed states bound to the browser cookie sent
  (hs-bench-states), each answered 302 only after its audit record and
  its event were acknowledged (acks=all);
- the callback route paced at half its 512-connection rate (wrk's delay()
  per connection): p50/p99;
- start route, the same: a distinct one-time code per request (rows put
  in auth_codes) and a remember cookie, so each is a 302 to the provider
  after the code is consumed, the handshake inserted and recorded;
- memory: hs-ingress RSS idle, after 100,000 callbacks (warm) and after
  1,000,000 (flat is the goal); hs-dev's (mock cluster) printed.

Any answer other than 302 fails the module. Everything stops by itself.
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
from harness import Stack, free_port  # noqa: E402
import benchlib  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
LUA = os.path.join(HERE, "paths.lua")
NGINX_CONF = """daemon off;
worker_processes 2;
pid %(dir)s/nginx.pid;
error_log %(dir)s/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  client_body_temp_path %(dir)s/body;
  proxy_temp_path %(dir)s/proxy;
  fastcgi_temp_path %(dir)s/fastcgi;
  uwsgi_temp_path %(dir)s/uwsgi;
  scgi_temp_path %(dir)s/scgi;
  server {
    listen 127.0.0.1:%(port)d;
    location / { return 302 /web/handshake/x; }
  }
}
"""


def log(*a):
    print("http:", *a, file=sys.stderr, flush=True)


def wrk(url, prefix, cookie, conns, seconds, delay_ms=0):
    """One wrk run (2 threads); its RESULT line as a dict."""
    cmd = ["wrk", "-t2", "-c%d" % conns, "-d%ds" % seconds, "--timeout",
           "10s", "-s", LUA, url, "--", prefix, cookie]
    if delay_ms:
        cmd.append(str(delay_ms))
    out = subprocess.run(cmd, capture_output=True, text=True,
                         timeout=seconds + 60).stdout
    m = re.search(r"RESULT (.*)", out)
    if not m:
        raise RuntimeError("wrk printed no result:\n" + out)
    r = {k: float(v) for k, v in (x.split("=") for x in m.group(1).split())}
    r["rps"] = (r["requests"] - r["busy_503"]) / r["seconds"]  # 302s only
    return r


def mint(env, bindir, args):
    out = subprocess.run([os.path.join(bindir, "hs-bench-states")] + args,
                         env=env, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError("hs-bench-states: " + out.stderr)
    return out.stdout.strip()


def split(path, parts=2):
    """path -> path.0, path.1 (alternate lines): one file a wrk thread."""
    outs = [open("%s.%d" % (path, i), "w") for i in range(parts)]
    with open(path) as f:
        for i, line in enumerate(f):
            outs[i % parts].write(line)
    for o in outs:
        o.close()


def emitted(stack):
    text = urllib.request.urlopen(stack.ingress + "/metrics",
                                  timeout=10).read().decode()
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith("hs_callbacks_emitted_total"))


def ingress_pid(stack):
    out = subprocess.run(["ps", "--ppid", str(stack.proc.pid), "-o",
                          "pid=,comm="], capture_output=True, text=True).stdout
    for line in out.splitlines():
        pid, name = line.split(None, 1)
        if name.strip() == "hs-ingress":
            return int(pid)
    raise RuntimeError("no hs-ingress under hs-dev")


def check(r, what):
    """503 is the answer to overload (no database connection free within
    INGRESS_POOL_WAIT_MS): counted, reported; anything else fails."""
    if r["not_302"] or r["errors"] > r["busy_503"]:
        raise RuntimeError("%s: %d answers other than 302 or 503, %d "
                           "errors" % (what, r["not_302"], r["errors"]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--rows", required=True)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    secs = 3 if a.quick else 10
    total = 100000 if a.quick else 1000000
    tmp = tempfile.mkdtemp(prefix="hs-bench-http.")
    os.chmod(tmp, 0o755)
    nginx = stack = None
    try:
        port = free_port()
        os.makedirs(os.path.join(tmp, "nginx"))
        conf = os.path.join(tmp, "nginx", "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF % {"dir": os.path.join(tmp, "nginx"),
                                  "port": port})
        nginx = subprocess.Popen(["nginx", "-p", os.path.join(tmp, "nginx"),
                                  "-c", conf], stderr=subprocess.DEVNULL)
        stack = Stack(a.bin, workers=0, extra_env={
            "HS_LOG_LEVEL": "warn", "HS_DEV_PG_STATEMENTS": "none"})
        pid = ingress_pid(stack)
        idle = benchlib.rss_kib(pid) / 1024.0
        ng = "http://127.0.0.1:%d" % port

        # Callback paths: distinct valid states, more than one run sends.
        cb = os.path.join(tmp, "cb")
        cookie = mint(stack.env, a.bin, ["callback",
                                         str(60000 if a.quick else 400000),
                                         cb])
        split(cb)
        res = {}
        for conns in (64, 512):
            res["nginx", conns] = wrk(ng, cb, cookie, conns, secs)
            res["cb", conns] = r = wrk(stack.ingress, cb, cookie, conns, secs)
            check(r, "callback route")
            log("%d connections: callback %.0f/s (p99 %.1f ms), nginx %.0f/s"
                % (conns, r["rps"], r["p99_ms"], res["nginx", conns]["rps"]))
        half = res["cb", 512]["rps"] / 2
        paced = wrk(stack.ingress, cb, cookie, 64, secs,
                    max(1, int(64 * 1000 / half)))
        check(paced, "paced callback route")
        log("paced at %.0f/s: p50 %.1f p99 %.1f ms" % (
            paced["rps"], paced["p50_ms"], paced["p99_ms"]))

        # Start paths: one-time codes of benchuser, in auth_codes.
        stack.psql("INSERT INTO users (id, issuer, subject) VALUES "
                   "('benchuser', 'bench', 'bench') ON CONFLICT DO NOTHING")
        n_codes = 10000 if a.quick else 100000
        for conns in (64, 512):
            # Codes of its own for each run (wrk reads its files afresh).
            st = os.path.join(tmp, "st%d" % conns)
            codes = st + ".codes"
            scookie = mint(stack.env, a.bin, ["start", str(n_codes),
                                              "benchuser", st, codes])
            split(st)
            with open(codes) as f:
                rows = "".join("%s\tbenchuser\tBENCH\t2099-01-01\n" %
                               h.strip() for h in f)
            subprocess.run(["psql", stack.pg, "-qc", "\\copy auth_codes "
                            "(code_hash, user_id, user_code, expires_at) "
                            "FROM STDIN"], input=rows.encode(), check=True,
                           timeout=300)
            res["start", conns] = r = wrk(stack.ingress, st, scookie, conns,
                                          secs)
            check(r, "start route")
            if r["requests"] - r["busy_503"] >= n_codes:
                raise RuntimeError("start route: codes ran out")
            log("%d connections: start %.0f/s (p99 %.1f ms)" % (
                conns, r["rps"], r["p99_ms"]))

        # Memory over 1,000,000 callbacks (all runs count).
        warm = None
        while True:
            n = emitted(stack)
            if warm is None and n >= total / 10:
                warm = benchlib.rss_kib(pid) / 1024.0
            if n >= total:
                break
            check(wrk(stack.ingress, cb, cookie, 64, secs), "callbacks")
        end = benchlib.rss_kib(pid) / 1024.0
        dev = benchlib.rss_kib(stack.proc.pid) / 1024.0
        log("ingress RSS idle %.1f, after %d callbacks %.1f, after %d %.1f "
            "MiB (hs-dev %.0f MiB)" % (idle, total / 10, warm, n, end, dev))
    finally:
        if stack:
            stack.stop()
        if nginx:
            nginx.send_signal(signal.SIGTERM)
            nginx.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)

    row = benchlib.row
    for conns in (64, 512):
        ngx = res["nginx", conns]["rps"]
        cbr, stt = res["cb", conns], res["start", conns]
        row(a.rows, "callback route, %d conns (req/s), vs nginx 302" % conns,
            cbr["rps"], ngx, "req/s", ">= 50 % of nginx" if conns == 512
            else None, cbr["rps"] >= 0.5 * ngx if conns == 512 else None,
            "p50 %.1f p99 %.1f ms (nginx p99 %.1f)" % (
                cbr["p50_ms"], cbr["p99_ms"], res["nginx", conns]["p99_ms"]))
        row(a.rows, "start route, %d conns (req/s), vs nginx 302" % conns,
            stt["rps"], ngx, "req/s", ">= 80 % of nginx",
            stt["rps"] >= 0.8 * ngx,
            "p50 %.1f p99 %.1f ms; %d answered 503 (busy), not counted" % (
                stt["p50_ms"], stt["p99_ms"], stt["busy_503"]))
    row(a.rows, "callback route paced at %.0f/s: p99 (ms), vs nginx p99"
        % paced["rps"], paced["p99_ms"], res["nginx", 64]["p99_ms"], "ms",
        "<= 20 ms", paced["p99_ms"] <= 20,
        "half the 512-connection rate; p50 %.1f ms, max %.1f ms" % (
            paced["p50_ms"], paced["max_ms"]))
    row(a.rows, "ingress RSS after %.0fk callbacks (MiB), vs after %.0fk"
        % (n / 1000, total / 10000), end, warm, "MiB",
        "no growth after warm-up", end - warm <= max(2.0, 0.1 * warm),
        "idle %.1f MiB; hs-dev (mock cluster, keeps every event) %.0f MiB"
        % (idle, dev))


if __name__ == "__main__":
    main()

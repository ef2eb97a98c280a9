"""Benchmark (not a test): N concurrent pending long polls on one hs-ingress,
all answered after their results are committed (issue 3).

Run: python3 tests/bench/longpoll.py --bin <build>/bin [--rows F] [--quick]
(tests/bench/run), or <build>/bin [N] alone

It starts hs-dev (mock Kafka, private PostgreSQL) plus one more hs-ingress
whose process it measures, inserts N add-in sessions, opens N
GET /addons/sessions/{id}?wait=30 on that ingress, measures its RSS and
descriptors while they are parked, then commits the results in batches of
BATCH through hs_poll_finish (the function hs-exchange calls, so NOTIFY
wakes the ingress) and times each answer from the moment its batch was
sent (an upper bound of commit-to-answer). The baseline, in the same run:
the same ingress idle (RSS, descriptors) and GET /healthz round trips.
Exits 1 when a poll is lost or a target (RSS < 64 MiB, p99 < 100 ms) is
missed. Everything targets 127.0.0.1 and stops by itself.
"""
import argparse
import asyncio
import base64
import hashlib
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
from harness import Stack  # noqa: E402
import benchlib  # noqa: E402

BATCH = 50
BATCH_GAP_S = 0.05      # 1,000 results a second
RSS_TARGET_MIB = 64
P99_TARGET_MS = 100


def b64(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def proc_figures(pid):
    with open("/proc/%d/status" % pid) as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS"))
    return rss / 1024.0, len(os.listdir("/proc/%d/fd" % pid))


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * p / 100.0))]


async def request(port, path, close=True):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(("GET %s HTTP/1.1\r\nHost: bench\r\n%s\r\n" % (
        path, "Connection: close\r\n" if close else "")).encode())
    await w.drain()
    return r, w


async def healthz_baseline(port, n=2000):
    lat = []
    for _ in range(n):
        t0 = time.perf_counter()
        r, w = await request(port, "/healthz")
        await r.read()
        lat.append((time.perf_counter() - t0) * 1000)
        w.close()
    return lat


async def one_poll(port, sid, answers, errors):
    try:
        r, w = await request(port, "/addons/sessions/%s?wait=30" % sid)
    except OSError as e:
        errors.append(repr(e))
        return
    line = await r.readline()
    t = time.perf_counter()
    await r.read()
    w.close()
    answers[sid] = (t, line.split(b" ")[1] if line else b"none")


async def bench(stack, port, pid, n):
    idle_rss, idle_fds = proc_figures(pid)
    base = await healthz_baseline(port)
    sids = [b64(os.urandom(32)) for _ in range(n)]
    keys = {s: b64(hashlib.sha256(s.encode()).digest()) for s in sids}
    stack.psql("INSERT INTO users (id, issuer, subject) VALUES "
               "('benchuser', 'bench', 'bench') ON CONFLICT DO NOTHING")
    uid = "benchuser"
    rows = "\n".join("%s\tsession\t%s" % (keys[s], "2099-01-01") for s in sids)
    subprocess.run(["psql", stack.pg, "-qc", "\\copy polls (key_hash, kind, "
                    "expires_at) FROM STDIN"], input=rows.encode(),
                   check=True, timeout=120)
    answers, errors = {}, []
    t_open = time.perf_counter()
    tasks = []
    for i in range(0, n, 500):  # within the listen backlog
        tasks += [asyncio.ensure_future(one_poll(port, s, answers, errors))
                  for s in sids[i:i + 500]]
        await asyncio.sleep(0.05)
    await asyncio.sleep(2.0)
    open_s = time.perf_counter() - t_open
    held_rss, held_fds = proc_figures(pid)
    early = len(answers)
    psql = await asyncio.create_subprocess_exec(
        "psql", stack.pg, "-qAt", "-v", "ON_ERROR_STOP=1",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    sent = {}
    for i in range(0, n, BATCH):
        batch = sids[i:i + BATCH]
        arr = ",".join("'%s'" % keys[s] for s in batch)
        t = time.perf_counter()
        for s in batch:
            sent[s] = t
        psql.stdin.write(("SELECT count(*) FROM (SELECT hs_poll_finish(k, "
                          "'%s', 'demo', NULL) FROM unnest(ARRAY[%s]) k) "
                          "x;\n" % (uid, arr)).encode())
        await psql.stdin.drain()
        await psql.stdout.readline()
        await asyncio.sleep(BATCH_GAP_S)
    psql.stdin.close()
    await psql.wait()
    await asyncio.wait_for(asyncio.gather(*tasks), 40)
    lat = [(answers[s][0] - sent[s]) * 1000 for s in sids if s in answers]
    ok = sum(1 for s in sids if s in answers and answers[s][1] == b"200")
    return {
        "n": n, "idle_rss": idle_rss, "idle_fds": idle_fds,
        "held_rss": held_rss, "held_fds": held_fds, "open_s": open_s,
        "early": early, "ok": ok, "errors": errors, "lat": lat,
        "base": base,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bindir", nargs="?")
    ap.add_argument("n", nargs="?", type=int)
    ap.add_argument("--bin")
    ap.add_argument("--rows", help="append the table rows here (benchlib)")
    ap.add_argument("--quick", action="store_true", help="2,000 polls")
    a = ap.parse_args()
    bindir = a.bin or a.bindir
    n = a.n or (2000 if a.quick else 10000)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < n + 1000:
        print("bench: need %d file descriptors, the limit is %d" % (n + 1000,
                                                                   hard))
        sys.exit(1)
    stack = Stack(bindir, extra_env={"HS_LOG_LEVEL": "warn"}, workers=1)
    try:
        url = stack.start_ingress(HS_LOG_LEVEL="warn")
        proc = stack.extra[-1]
        res = asyncio.run(bench(stack, int(url.rsplit(":", 1)[1]), proc.pid,
                                n))
    finally:
        stack.stop()
    lat, base = res["lat"], res["base"]
    p50, p99, mx = pct(lat, 50), pct(lat, 99), max(lat)
    b50, b99 = pct(base, 50), pct(base, 99)
    print("long polls held           %d (opened in %.1f s)" % (
        res["n"], res["open_s"]))
    print("answered 200 after commit %d (early: %d, errors: %d)" % (
        res["ok"], res["early"], len(res["errors"])))
    print("ingress RSS               idle %.1f MiB, holding %.1f MiB "
          "(+%.1f KiB per poll; target < %d MiB)" % (
              res["idle_rss"], res["held_rss"],
              (res["held_rss"] - res["idle_rss"]) * 1024 / res["n"],
              RSS_TARGET_MIB))
    print("ingress descriptors       idle %d, holding %d" % (
        res["idle_fds"], res["held_fds"]))
    print("wake-up latency (ms)      p50 %.1f  p99 %.1f  max %.1f "
          "(target p99 < %d)" % (p50, p99, mx, P99_TARGET_MS))
    print("baseline GET /healthz (ms) p50 %.2f  p99 %.2f" % (b50, b99))
    print("ratio wake-up/healthz     p50 %.1fx  p99 %.1fx" % (p50 / b50,
                                                            p99 / b99))
    complete = res["ok"] == res["n"] and res["early"] == 0
    rss_ok, p99_ok = res["held_rss"] < RSS_TARGET_MIB, p99 < P99_TARGET_MS
    if a.rows:
        what = "%d long polls" % n
        benchlib.row(a.rows, what + ": ingress RSS (MiB), vs idle",
                     res["held_rss"], res["idle_rss"], "MiB",
                     "< %d MiB" % RSS_TARGET_MIB, rss_ok,
                     "%.1f KiB a poll" % ((res["held_rss"] - res["idle_rss"])
                                          * 1024 / n))
        benchlib.row(a.rows, what + ": descriptors, vs idle",
                     res["held_fds"], res["idle_fds"], "fds")
        benchlib.row(a.rows, what + ": wake-up p50 (ms), vs GET /healthz",
                     p50, b50, "ms")
        benchlib.row(a.rows, what + ": wake-up p99 (ms), vs GET /healthz",
                     p99, b99, "ms", "< %d ms" % P99_TARGET_MS, p99_ok,
                     "max %.1f ms; answered %d/%d" % (mx, res["ok"], n))
        sys.exit(0 if complete else 1)
    good = complete and rss_ok and p99_ok
    print("result                    %s" % ("PASS" if good else "FAIL"))
    sys.exit(0 if good else 1)


if __name__ == "__main__":
    main()

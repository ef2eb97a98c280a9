"""Benchmark (not a test): end to end, callback -> sealed message on hs.me
(issue 10), with 1 and 2 exchange workers.

Run: python3 tests/bench/e2e.py --bin <build>/bin --rows F [--quick]
(tests/bench/run). Without --rows it prints the figures only.

For each worker count it starts hs-dev (tests/integration/harness.py: mock
Kafka cluster, private PostgreSQL, the demo provider with no latency,
hs-ingress, N hs-exchange, hs-broadcaster, hs-refresher) and
hs-bench-tap (tests/bench/tap/), which prints every hs.me message as it
is read: "<handshake id> <receive ms> ...". Then:

  users    64 users (--quick 16), each with an API token and one agent, written
           straight into PostgreSQL (the agents through POST /api/agents):
           one user would make every handshake update the same
           provider_tokens row and land on one hs.tokens/hs.me partition.
  prepare  handshakes driven as a browser does (one-time code from the
           API, start route, confirmation, the demo provider's authorize)
           up to the callback URL and the browser's cookies, in threads;
           the callback itself is not sent. The provider's codes live 60 s,
           so every batch is prepared just before it is fired.
  probe    the ceiling of one Kafka hop in the same run: hs-bench-tap
           --probe produces to hs.me as the broadcaster does (idempotent,
           acks=all, HS_KAFKA_OPTS) and reads back, one record at a time.
  peak     1,500 callbacks (--quick 300) fired by FIRE_THREADS threads on
           keep-alive connections as fast as they are answered; the peak
           is the completion rate seen by the tap between the 10th and the
           90th percentile of arrivals.
  fixed    callbacks at half the peak for 15 s (--quick 3 s; fewer when
           the codes could expire first), each on its schedule (send time
           stamped just before the request); latency = tap receive time -
           send time; sustained = arrivals per second.

Every fired callback must be answered 302 to /web/handshake/<id>, its
handshake must reach hs.me exactly once and end 'complete' in PostgreSQL,
and the demo provider must have had exactly one token request for it;
otherwise the module exits 1 (a missed latency target is only a row marked
NO). The latency ceiling is three bare hops (a handshake crosses
hs.callbacks, hs.tokens and hs.me), at the same percentile.

Where the time goes (the notes of the latency rows), per handshake of the
fixed-rate run, from the clocks along its way (STAGES): ingress (callback
sent -> its hs.callbacks record produced), to claim (-> the exchange's
claim in PostgreSQL: the hop, the exchange's poll), provider (-> the store
transaction begins: the code exchange), store+relay (-> its token.issued
produced to hs.tokens: the transaction with its held audit record, the
commit, the outbox relay), to fanout (-> the hs.me message built: the
hop, the broadcaster), hs.me (-> read by the tap). Everything is on
127.0.0.1 and stops by PID.
"""
import argparse
import base64
import hashlib
import http.client
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "integration"))
from harness import Browser, Stack, api, browser_to_provider  # noqa: E402
import benchlib  # noqa: E402

P50_TARGET_MS = 15
P99_TARGET_MS = 50
# fetch.wait.max.ms=1 for every client, ours and the tap's probe alike: the
# mock cluster holds an empty fetch until that time runs out, where a real
# broker answers as soon as a record arrives (fetch.min.bytes=1); with the
# harness's 5 ms each of the three hops waited 2.5 ms on average for
# nothing.
ENV = {"HS_LOG_LEVEL": "warn", "HS_DEV_PG_STATEMENTS": "none",
       "HS_KAFKA_OPTS": "fetch.wait.max.ms=1,linger.ms=1"}
FIRE_THREADS = 16      # peak: callbacks in flight at once
RATE_THREADS = 8       # fixed rate: senders (each waits for its slot)
CODE_LIFE_S = 50       # the demo provider's codes live 60 s
FIXED_MAX = 4000       # handshakes of one fixed-rate run at most


def b64(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def log(msg):
    print("e2e: " + msg, flush=True)


class BenchError(Exception):
    """The bench could not run, or lost a handshake."""


# ---- hs-bench-tap -----------------------------------------------------------

class Tap:
    """hs-bench-tap on hs.me from its end: seen[hid] = [(recv ms, type,
    event ts ms)], one entry per message."""

    def __init__(self, stack):
        self.lock = threading.Lock()
        self.seen = {}
        self.other = 0
        self.cond = threading.Condition(self.lock)
        self.proc = subprocess.Popen(
            [os.path.join(stack.bindir, "hs-bench-tap")], env=stack.env,
            stdout=subprocess.PIPE, stderr=stack.log)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("# ready"):
            self.stop()
            raise BenchError("hs-bench-tap did not start: %r" % line)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in self.proc.stdout:
            f = raw.decode().split()
            if len(f) < 4:
                continue
            with self.cond:
                if f[0] in ("?", "-"):
                    self.other += 1
                else:
                    self.seen.setdefault(f[0], []).append(
                        (float(f[1]), f[2], int(f[3])))
                self.cond.notify_all()

    def wait(self, hids, timeout):
        """Returns once every hid was seen, or after timeout seconds."""
        deadline = time.time() + timeout
        with self.cond:
            while time.time() < deadline:
                if all(h in self.seen for h in hids):
                    return True
                self.cond.wait(0.2)
        return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()  # by PID: our own child
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def probe_hop(stack, n, gap_ms, skip=10):
    """Latencies (ms) of n bare produce -> read round trips on hs.me, and
    how long each produce + flush call took (the producer's ack wait).
    The first `skip` records are not counted: a new producer's first one
    waits for its connections and its idempotent producer id."""
    r = subprocess.run([os.path.join(stack.bindir, "hs-bench-tap"),
                        "--probe", str(n + skip), "--gap-ms", str(gap_ms)],
                       env=stack.env, capture_output=True, timeout=120)
    lines = [l.split() for l in r.stdout.decode().splitlines()]
    lat = [float(f[2]) for f in lines
           if f[0] == "probe" and int(f[1]) >= skip]
    calls = [float(f[2]) for f in lines
             if f[0] == "call" and int(f[1]) >= skip]
    if r.returncode != 0 or len(lat) != n:
        raise BenchError("hs-bench-tap --probe: %d of %d back (%s)" % (
            len(lat), n, r.stderr.decode()[-300:]))
    return lat, calls


# ---- users, preparing and firing --------------------------------------------

def make_users(stack, n):
    """n users with an API token and one agent each: [(token, agent_id)]."""
    users, sql = [], []
    for i in range(n):
        uid, tok = b64(os.urandom(16)), "hst_" + b64(os.urandom(32))
        users.append((uid, tok))
        sql.append("INSERT INTO users (id, issuer, subject, email, name) "
                   "VALUES ('%s', 'hs-bench', 'bench-%s', 'b%d@example.com',"
                   " 'Bench %d');" % (uid, uid, i, i))
        sql.append("INSERT INTO api_tokens (token_hash, user_id) VALUES "
                   "('%s', '%s');" % (b64(hashlib.sha256(tok.encode())
                                          .digest()), uid))
    stack.psql(" ".join(sql))
    out = []
    for _, tok in users:
        r = api(stack.ingress + "/api/agents", tok,
                {"public_key": b64(os.urandom(32)), "name": "bench"}, "POST")
        if r.status != 201:
            raise BenchError("POST /api/agents answered %d: %s" % (
                r.status, r.text[:200]))
        out.append((tok, r.json()["agent_id"]))
    return out


def cookie_header(browser, url):
    req = urllib.request.Request(url)
    browser.jar.add_cookie_header(req)
    return req.get_header("Cookie") or ""


def prepare(stack, users, n, threads):
    """n handshakes up to their callback: [(path?query, Cookie header,
    prepared at)], in threads, each its own browser."""
    out, errors = [], []
    lock = threading.Lock()
    todo = list(range(n))

    def run():
        b = Browser()
        while True:
            with lock:
                if not todo or errors:
                    return
                i = todo.pop()
            tok, agent = users[i % len(users)]
            try:
                r = api(stack.ingress + "/api/provider-auth-code", tok,
                        {"agent_id": agent}, "POST")
                if r.status != 201:
                    raise BenchError("provider-auth-code answered %d" %
                                     r.status)
                authorize = browser_to_provider(
                    b, "%s/web/provider-auth/demo?code=%s" % (
                        stack.ingress, r.json()["code"]))
                r = Browser().get(authorize)
                if r.status != 302:
                    raise BenchError("the provider answered %d" % r.status)
                cb = r.location
                u = urllib.parse.urlsplit(cb)
                item = (u.path + "?" + u.query, cookie_header(b, cb),
                        time.time())
            except Exception as e:
                with lock:
                    errors.append(repr(e))
                return
            with lock:
                out.append(item)

    ts = [threading.Thread(target=run, daemon=True) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(300)
    if errors or len(out) != n:
        raise BenchError("preparing handshakes: %d of %d (%s)" % (
            len(out), n, errors[:3]))
    return out


def fire(stack, items, threads, rate=None):
    """Sends every prepared callback: all at once from `threads` keep-alive
    connections, or item i at start + i / rate. Returns [(send ms, hid,
    answer ms, lateness ms)] in item order; raises when a callback was
    not acknowledged (a 503 is sent again, as a person reloads)."""
    u = urllib.parse.urlsplit(stack.ingress)
    res = [None] * len(items)
    errors = []
    lock = threading.Lock()
    nxt = [0]
    start = time.time() + 0.2
    refused = [0]

    def run():
        conn = None
        while True:
            with lock:
                i = nxt[0]
                if i >= len(items) or errors:
                    break
                nxt[0] += 1
            path, cookie, _ = items[i]
            late = 0.0
            if rate:
                due = start + i / rate
                wait = due - time.time()
                if wait > 0:
                    time.sleep(wait)
                late = max(0.0, time.time() - due) * 1000
            for attempt in range(50):
                if conn is None:
                    conn = http.client.HTTPConnection(u.hostname, u.port,
                                                      timeout=15)
                t = time.time() * 1000
                try:
                    conn.request("GET", path, headers={"Cookie": cookie})
                    r = conn.getresponse()
                    r.read()
                except (OSError, http.client.HTTPException) as e:
                    conn.close()
                    conn = None
                    if attempt == 0:  # a keep-alive the server closed
                        continue
                    with lock:
                        errors.append("callback: %r" % e)
                    return
                done = time.time() * 1000
                if r.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
                loc = r.getheader("Location") or ""
                if r.status == 302 and loc.startswith("/web/handshake/"):
                    res[i] = (t, loc.rsplit("/", 1)[1], done, late)
                    break
                if r.status != 503:
                    with lock:
                        errors.append("callback answered %d %s" % (
                            r.status, loc))
                    return
                with lock:
                    refused[0] += 1
                time.sleep(0.2)
            else:
                with lock:
                    errors.append("callback answered 503 50 times")
                return
        if conn:
            conn.close()

    ts = [threading.Thread(target=run, daemon=True) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(600)
    if errors or any(r is None for r in res):
        raise BenchError("callbacks not acknowledged: %d of %d (%s)" % (
            sum(1 for r in res if r is None), len(items), errors[:3]))
    return res, refused[0]


# ---- one stack --------------------------------------------------------------

def arrivals(tap, sent, what, timeout=None):
    """Waits for every handshake of sent on hs.me; returns [(send ms,
    receive ms, hid)]. Lost or repeated ones raise."""
    hids = [s[1] for s in sent]
    timeout = timeout or max(90, len(hids) / 10)
    tap.wait(hids, timeout)
    with tap.lock:
        got = {h: list(tap.seen.get(h, [])) for h in hids}
    lost = [h for h in hids if not got[h]]
    twice = [h for h in hids if len(got[h]) > 1]
    bad = [h for h in hids if got[h] and got[h][0][1] != "token.issued"]
    if lost or twice or bad:
        raise BenchError("%s: %d of %d handshakes not on hs.me within %d s, "
                         "%d there more than once, %d not token.issued "
                         "(e.g. %s)" % (what, len(lost), len(hids), timeout,
                                        len(twice), len(bad),
                                        (lost + twice + bad)[:3]))
    return [(s[0], got[s[1]][0][0], s[1], got[s[1]][0][2]) for s in sent]


def window_rate(recv):
    """Arrivals per second between the 10th and the 90th percentile."""
    r = sorted(recv)
    a, b = r[len(r) // 10], r[len(r) * 9 // 10]
    n = len(r) * 9 // 10 - len(r) // 10
    return n / ((b - a) / 1000.0) if b > a else None


# Where a handshake's time goes, from the clocks along its way (one
# machine, one clock): the callback's send (Python), the Kafka timestamp of
# its hs.callbacks record (the ingress's produce call), PostgreSQL's
# claimed_at (the exchange's claim) and finished_at (the start of the
# store transaction, after the provider answered), the Kafka timestamp of
# its token.issued on hs.tokens (the outbox relay's produce, after commit),
# the hs.me event's ts (the broadcaster built it) and the tap's read.
STAGES = ("ingress", "to claim", "provider", "store+relay", "to fanout",
          "hs.me")


def topic_times(stack, base):
    """{handshake id: Kafka timestamp} of the records of topic base (all of
    it: hs-bench-tap --from beginning --to-end)."""
    r = subprocess.run([os.path.join(stack.bindir, "hs-bench-tap"), "--topic",
                        base, "--from", "beginning", "--to-end"],
                       env=stack.env, capture_output=True, timeout=120)
    out = {}
    for line in r.stdout.decode().splitlines():
        f = line.split()
        if len(f) >= 7 and f[0] not in ("#", "?", "-"):
            out.setdefault(f[0], float(f[6]))
    return out


def breakdown(stack, lat):
    """Where the time of the handshakes of lat went: ({stage: median ms},
    {stage: mean ms over the slowest 1 %}, [(latency, (ms of each stage),
    hid, send ms)])."""
    ts = {}
    hids = [x[2] for x in lat]
    for i in range(0, len(hids), 2000):
        out = stack.psql(
            "SELECT id, extract(epoch FROM claimed_at) * 1000, "
            "extract(epoch FROM finished_at) * 1000 FROM handshakes WHERE "
            "id IN (%s)" % ",".join("'%s'" % h for h in hids[i:i + 2000]))
        for line in out.splitlines():
            h, c, f = line.split("|")
            ts[h] = (float(c), float(f))
    cbs = topic_times(stack, "hs.callbacks")
    toks = topic_times(stack, "hs.tokens")
    each = []
    for send, recv, h, me_ts in lat:
        if h in ts and h in cbs and h in toks:
            c, f = ts[h]
            each.append((recv - send, (cbs[h] - send, c - cbs[h], f - c,
                                       toks[h] - f, me_ts - toks[h],
                                       recv - me_ts), h, send))
    if not each:
        return {}, {}, []
    med = {k: benchlib.pct([e[1][i] for e in each], 50)
           for i, k in enumerate(STAGES)}
    each.sort()
    tail = each[len(each) * 99 // 100:]
    slow = {k: sum(e[1][i] for e in tail) / len(tail)
            for i, k in enumerate(STAGES)}
    return med, slow, each


def dump(path, workers, phase, each):
    with open(path, "a") as f:
        for e in each:
            f.write(json.dumps({"workers": workers, "phase": phase,
                                "id": e[2], "sent": e[3], "ms": e[0],
                                "stages": dict(zip(STAGES, e[1]))}) + "\n")


def check_store(stack, hids, base_requests):
    """Every handshake complete in PostgreSQL; one token request each."""
    states = {}
    for i in range(0, len(hids), 2000):
        out = stack.psql("SELECT id, status FROM handshakes WHERE id IN (%s)"
                         % ",".join("'%s'" % h for h in hids[i:i + 2000]))
        for line in out.splitlines():
            h, s = line.split("|")
            states[h] = s
    bad = [h for h in hids if states.get(h) != "complete"]
    st = stack.stats()
    requests = st["token_requests"] - st.get("faulted", 0) - base_requests
    if bad or requests != len(hids):
        raise BenchError("PostgreSQL: %d of %d handshakes not complete "
                         "(e.g. %s); the provider had %d token requests for "
                         "them" % (len(bad), len(hids),
                                   [(h, states.get(h)) for h in bad[:3]],
                                   requests))
    return len(hids)


def run_stack(bindir, workers, q):
    stack = Stack(bindir, extra_env=ENV, workers=workers)
    tap = None
    ok = False
    try:
        tap = Tap(stack)
        users = make_users(stack, q["users"])
        base = stack.stats()
        base_requests = base["token_requests"] - base.get("faulted", 0)
        fired = []

        # Warm-up: the consumer groups of the mock cluster form, every
        # connection opens; not measured.
        items = prepare(stack, users, q["warm"], 4)
        sent, _ = fire(stack, items, 2)
        arrivals(tap, sent, "warm-up", timeout=120)
        fired += [s[1] for s in sent]

        hop, flush = probe_hop(stack, q["probe"], 10)

        # Peak.
        t0 = time.time()
        items = prepare(stack, users, q["peak"], q["prep_threads"])
        prep_rate = len(items) / (time.time() - t0)
        sent, refused_peak = fire(stack, items, FIRE_THREADS)
        lat = peak_all = arrivals(tap, sent, "peak")
        fired += [s[1] for s in sent]
        first = min(s[0] for s in sent)
        accept = len(sent) / ((max(s[2] for s in sent) - first) / 1000.0)
        peak = window_rate([x[1] for x in lat])
        peak_lat = [x[1] - x[0] for x in lat]
        log("%d workers: peak %.0f handshakes/s (callbacks accepted at %.0f/s,"
            " prepared at %.0f/s; latency under the burst p50 %.0f ms, max "
            "%.0f ms)" % (workers, peak, accept, prep_rate,
                          benchlib.pct(peak_lat, 50), max(peak_lat)))

        # Fixed rate at half the peak.
        rate = peak / 2.0
        # A code waits at most n / min(rate, prep_rate) s to be used.
        n = int(min(rate * q["duration"], q.get("fixed_max", FIXED_MAX),
                    CODE_LIFE_S * min(rate, prep_rate)))
        items = prepare(stack, users, n, q["prep_threads"])
        sent, refused_fixed = fire(stack, items, RATE_THREADS, rate)
        oldest = max(s[0] / 1000.0 - it[2] for s, it in zip(sent, items))
        lat = arrivals(tap, sent, "fixed rate")
        fired += [s[1] for s in sent]
        ms = [x[1] - x[0] for x in lat]
        sends = [x[0] for x in lat]
        recvs = [x[1] for x in lat]
        offered = (len(sends) - 1) / ((max(sends) - min(sends)) / 1000.0)
        sustained = (len(recvs) - 1) / ((max(recvs) - min(recvs)) / 1000.0)
        late = [s[3] for s in sent]
        split, tail, each = breakdown(stack, lat)
        each_peak = breakdown(stack, peak_all)[2]
        if q.get("dump"):
            dump(q["dump"], workers, "fixed", each)
            dump(q["dump"], workers, "peak", each_peak)
        # Under the burst the exchange always has work: the mean time
        # between two claims, times the workers, is what one handshake
        # costs one. (A batch's claims share one timestamp: the median gap
        # would be 0.)
        claims = sorted(e[3] + e[1][0] + e[1][1] for e in each_peak)
        claims = claims[len(claims) // 10:len(claims) * 9 // 10]
        service = workers * (claims[-1] - claims[0]) / (
            len(claims) - 1) if len(claims) > 2 else None
        checked = check_store(stack, fired, base_requests)
        time.sleep(1)  # a repeated message would be on its way
        with tap.lock:
            twice = [h for h in fired if len(tap.seen.get(h, ())) > 1]
            foreign = len(set(tap.seen) - set(fired))
        if twice or foreign:
            raise BenchError("%d handshakes on hs.me more than once, %d "
                             "messages of handshakes not fired" % (
                                 len(twice), foreign))
        with open(stack.log_path, "rb") as f:
            died = b'"event":"dev.child_exited"' in f.read()
        if died:
            raise BenchError("a service of the stack exited; see " +
                             stack.log_path)
        ok = True
        return {
            "workers": workers, "hop": hop, "flush": flush,
            "service": service, "peak": peak, "accept": accept,
            "rate": rate, "n": len(lat), "lat": ms, "offered": offered,
            "sustained": sustained, "late_p99": benchlib.pct(late, 99),
            "late_max": max(late), "split": split, "tail": tail,
            "checked": checked,
            "refused": refused_peak + refused_fixed, "oldest_code_s": oldest,
            "prep_rate": prep_rate, "peak_n": q["peak"],
        }
    finally:
        if tap:
            tap.stop()
        stack.stop()
        if ok and not os.environ.get("HS_BENCH_KEEP"):
            shutil.rmtree(stack.tmp, ignore_errors=True)
        else:
            log("stack log kept: " + stack.log_path)


def report(r, rows):
    w = r["workers"]
    lat, hop = r["lat"], r["hop"]
    p50, p99, mx = (benchlib.pct(lat, 50), benchlib.pct(lat, 99), max(lat))
    h50, h99 = benchlib.pct(hop, 50), benchlib.pct(hop, 99)
    split = ", ".join("%s %.1f" % (k, v) for k, v in r["split"].items())
    service = "-" if r["service"] is None else "%.2f" % r["service"]
    tail = ", ".join("%s %.1f" % (k, v) for k, v in r["tail"].items())
    log("%d workers: fixed %.0f/s for %d handshakes: latency p50 %.1f p99 "
        "%.1f max %.1f ms; offered %.0f/s, sustained %.0f/s; sender late p99"
        " %.1f ms" % (w, r["rate"], r["n"], p50, p99, mx, r["offered"],
                      r["sustained"], r["late_p99"]))
    log("%d workers: bare hs.me hop p50 %.2f p99 %.2f ms (produce + flush "
        "call p50 %.1f ms); median of each stage (ms): %s; slowest 1 %%: %s;"
        " exchange time per handshake under the burst %s ms" % (
            w, h50, h99, benchlib.pct(r["flush"], 50), split, tail,
            service))
    if not rows:
        return
    what = "e2e %d exch" % w
    at = "at %.0f/s" % r["rate"]
    kept = r["sustained"] >= 0.95 * r["rate"]
    benchlib.row(rows, "%s: latency p50 (ms) %s, vs 3 bare Kafka hops" % (
        what, at), p50, 3 * h50, "ms", "<= %d ms" % P50_TARGET_MS,
        p50 <= P50_TARGET_MS,
        "callback sent -> sealed message read on hs.me, %d handshakes, "
        "%d users; ceiling: 3 x p50 of a bare produce(acks=all)->read on "
        "hs.me (hs-bench-tap --probe, %.2f ms); median of each stage (ms): "
        "%s" % (
            r["n"], r["users"], h50, split))
    benchlib.row(rows, "%s: latency p99 (ms) %s, vs 3 bare Kafka hops" % (
        what, at), p99, 3 * h99, "ms", "<= %d ms" % P99_TARGET_MS,
        p99 <= P99_TARGET_MS,
        "max %.1f ms; ceiling: 3 x p99 of the bare hop (%.2f ms); the "
        "slowest 1 %% spent (mean ms): %s; sender behind schedule p99 %.1f "
        "ms, max %.1f ms" % (mx, h99, tail, r["late_p99"], r["late_max"]))
    benchlib.row(rows, "%s: sustained handshakes/s, vs peak" % what,
                 r["sustained"], r["peak"], "1/s",
                 ">= 95 %% of %.0f/s offered (half the peak)" % r["rate"],
                 kept, "offered %.0f/s; every handshake on hs.me once and "
                 "complete in PostgreSQL, one token request each (%d "
                 "checked); callbacks answered 503 (sent again): %d; the "
                 "oldest provider code was %.0f s old when sent" % (
                     r["offered"], r["checked"], r["refused"],
                     r["oldest_code_s"]))
    benchlib.row(rows, "%s: peak handshakes/s, vs callbacks accepted/s" % what,
                 r["peak"], r["accept"], "1/s", None, None,
                 "%d callbacks from %d keep-alive connections at once; "
                 "completion rate on hs.me between the 10th and 90th "
                 "percentile of arrivals; the ceiling is how fast the "
                 "ingress acknowledged the same callbacks; under the burst "
                 "an exchange worker spent %s ms per handshake (mean time "
                 "between claims x workers); a produce + hs_kafka_flush as "
                 "the services call it took p50 %.1f ms, p99 %.1f ms "
                 "(probe)" % (r["peak_n"], FIRE_THREADS,
                              service,
                              benchlib.pct(r["flush"], 50),
                              benchlib.pct(r["flush"], 99)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--rows", help="append the table rows here (benchlib)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--dump", help="append each handshake of the fixed-rate "
                    "runs here (JSON lines: latency, ms of each stage)")
    ap.add_argument("--smoke", action="store_true",
                    help="a handful of handshakes: checks the module only")
    a = ap.parse_args()
    if a.smoke:
        q = {"users": 2, "warm": 3, "probe": 20, "peak": 8, "duration": 1.0,
             "prep_threads": 2, "fixed_max": 6}
    elif a.quick:
        q = {"users": 16, "warm": 20, "probe": 100, "peak": 300,
             "duration": 3.0, "prep_threads": 6}
    else:
        q = {"users": 64, "warm": 50, "probe": 400, "peak": 1500,
             "duration": 15.0, "prep_threads": 8}
    q["dump"] = a.dump
    if not shutil.which("psql"):
        log("psql is required (scripts/setup installs it)")
        sys.exit(1)
    t0 = time.time()
    results = []
    try:
        for w in [int(x) for x in a.workers.split(",")]:
            r = run_stack(a.bin, w, q)
            r["users"] = q["users"]
            results.append(r)
            report(r, a.rows)
    except (BenchError, RuntimeError, AssertionError, OSError,
            subprocess.SubprocessError) as e:
        log("FAILED: %s" % e)
        sys.exit(1)
    log("done in %.0f s" % (time.time() - t0))


if __name__ == "__main__":
    main()

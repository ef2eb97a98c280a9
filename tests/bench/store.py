"""Benchmark (not a test): the exchange worker's storage path against
pgbench on the same PostgreSQL (issue 10, "persistence").

Run: python3 tests/bench/store.py --bin <build>/bin --rows FILE [--quick]

Starts hs-dev (mock Kafka, private PostgreSQL with the migrations; no
workers), then on its PostgreSQL, each for the same duration:

  ours      hs-bench-store (tests/bench/store/main.c): pre-inserted connect
            handshakes taken B at a time as a consumer batch is, claimed
            with exchange_claim_all(), stored with exchange_store_all() and
            the outbox relayed to the mock cluster once per batch
            (hs_outbox_relay) -- hs-exchange's own SQL and C
            (exchange_handle_batch) -- the provider replaced by a canned
            token response; 1 thread with B=1 (every message alone) and
            B=64 (a backlog: hs-exchange takes up to 64), 16 threads with
            B=1, 16 and 64, one connection each; committed handshakes per
            second
  ceiling   pgbench, a custom script: one single-row upsert (INSERT ... ON
            CONFLICT DO UPDATE) of a row the size of what one handshake
            stores (its provider_tokens row plus its outbox row, measured
            after an untimed warm-up that leaves its outbox rows), -c 1 and
            -c 16 -j 2, at the server's own synchronous_commit (printed)

Target: >= 50 % of pgbench at 16 clients, judged at saturation (B=64). Exits 1 only when the bench could
not run. Everything uses the private server's Unix socket; every process
started here is stopped by its PID.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "integration"))
from harness import Stack  # noqa: E402
import benchlib  # noqa: E402

TARGET = 0.5
BATCH = 16
BATCH_MAX = 64  # HS_WORKER_BATCH: what a worker takes under a backlog


def psql(pg, sql):
    return subprocess.run(["psql", pg, "-XAtqc", sql], check=True,
                          capture_output=True, text=True,
                          timeout=120).stdout.strip()


def ours(a, stack, threads, seconds, count, batch=1, relay=1):
    env = dict(stack.env)
    env["HS_LOG_LEVEL"] = "error"
    cmd = [os.path.join(a.bin, "hs-bench-store"), "--count", str(count),
           "--threads", str(threads), "--seconds", str(seconds),
           "--batch", str(batch), "--relay", str(relay)]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=env, text=True)
    try:
        out, err = p.communicate(timeout=seconds + 120)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        raise RuntimeError("hs-bench-store did not finish")
    if p.returncode != 0:
        raise RuntimeError("hs-bench-store failed (%d): %s" %
                           (p.returncode, err.strip()[-500:]))
    r = json.loads(out.strip().splitlines()[-1])
    print("store: ours T=%d batch=%d: %d handshakes in %.1f s = %.0f/s, "
          "%.2f statements and %.2f commits each, %d errors %s" % (
              threads, batch, r["handshakes"], r["seconds"], r["rate"],
              r["statements_per"], r["commits_per"], r["errors"],
              r["first_error"]), flush=True)
    return r


def pgbench(a, stack, clients, seconds, size):
    script = os.path.join(stack.tmp, "upsert.sql")
    with open(script, "w") as f:
        f.write("\\set id random(1, 10000000)\n"
                "INSERT INTO bench_rows (id, payload) VALUES (:id, "
                "convert_to(lpad(:id::text, %d, md5(:id::text)), 'UTF8')) "
                "ON CONFLICT (id) DO UPDATE SET payload = EXCLUDED.payload;\n"
                % size)
    cmd = ["pgbench", "-n", "-f", script, "-c", str(clients),
           "-j", "2" if clients > 1 else "1", "-T", str(seconds), stack.pg]
    p = subprocess.run(cmd, capture_output=True, text=True,
                       timeout=seconds + 120)
    if p.returncode != 0:
        raise RuntimeError("pgbench failed: " + p.stderr.strip()[-500:])
    tps = None
    for line in p.stdout.splitlines():
        if line.startswith("tps = "):
            tps = float(line.split()[2])
    if tps is None:
        raise RuntimeError("pgbench printed no tps")
    print("store: pgbench -c %d: %.0f TPS" % (clients, tps), flush=True)
    return tps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--rows", default=os.path.join(tempfile.gettempdir(),
                                                   "store.rows"))
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    seconds = 5 if a.quick else 20
    # Durable as deployed (fsync, synchronous_commit on), both sides.
    stack = Stack(a.bin, workers=0, extra_env={
        "HS_LOG_LEVEL": "warn", "HS_DEV_PG_STATEMENTS": "none",
        "HS_DEV_PG_DURABLE": "1"})
    try:
        sc = psql(stack.pg, "SHOW synchronous_commit")
        fs = psql(stack.pg, "SHOW fsync")
        dur = "synchronous_commit=%s, fsync=%s" % (sc, fs)
        print("store: server %s (both sides)" % dur, flush=True)
        # Untimed, not relayed: its outbox rows give the size of one.
        ours(a, stack, 1, 1, 200, relay=0)
        size = int(float(psql(
            stack.pg,
            "SELECT (SELECT avg(pg_column_size(t.*)) FROM provider_tokens t)"
            " + (SELECT avg(pg_column_size(o.*)) FROM outbox o)")))
        # Handshake pools: more than can be done in the time (the run ends
        # early, and says so, when a pool is used up).
        r1 = ours(a, stack, 1, seconds, 2000 * seconds)
        r1b = ours(a, stack, 1, seconds, 5000 * seconds, BATCH_MAX)
        r16 = ours(a, stack, 16, seconds, 5000 * seconds)
        rb = ours(a, stack, 16, seconds, 10000 * seconds, BATCH)
        rm = ours(a, stack, 16, seconds, 10000 * seconds, BATCH_MAX)
        print("store: one handshake stores ~%d bytes (provider_tokens + "
              "outbox row)" % size, flush=True)
        psql(stack.pg, "CREATE TABLE bench_rows (id bigint PRIMARY KEY, "
             "payload bytea NOT NULL)")
        # payload: the row's bytes less the tuple header and the id.
        payload = max(1, size - 40)
        p1 = pgbench(a, stack, 1, seconds, payload)
        p16 = pgbench(a, stack, 16, seconds, payload)
    finally:
        stack.stop()

    def cost(r):
        return ("one handshake = %.2f statements, %.3f commits (pgbench: 1, "
                "1), outbox relay included" % (r["statements_per"],
                                               r["commits_per"]))
    benchlib.row(a.rows, "persistence, 1 client", r1["rate"], p1,
                 "handshakes/s vs upserts/s",
                 note="%s; %s; row %d B" % (cost(r1), dur, size))
    benchlib.row(a.rows, "persistence, 1 client, %d handshakes a batch"
                 % BATCH_MAX, r1b["rate"], p1, "handshakes/s vs upserts/s",
                 note=cost(r1b))
    benchlib.row(a.rows, "persistence, 16 clients, 1 handshake a batch",
                 r16["rate"], p16, "handshakes/s vs upserts/s",
                 note=cost(r16) + "; each callback consumed alone")
    benchlib.row(a.rows, "persistence, 16 clients, %d handshakes a batch"
                 % BATCH, rb["rate"], p16, "handshakes/s vs upserts/s",
                 note=cost(rb))
    ratio = rm["rate"] / p16
    benchlib.row(a.rows, "persistence, 16 clients, %d handshakes a batch"
                 % BATCH_MAX, rm["rate"], p16, "handshakes/s vs upserts/s",
                 ">= 50 % of pgbench upsert", ratio >= TARGET,
                 note=cost(rm) + "; exchange_handle_batch at saturation "
                 "(a worker takes up to %d): claims in one statement, "
                 "results in one transaction, one relay" % BATCH_MAX)
    for r in (r1, r1b, r16, rb, rm):
        if r["errors"]:
            print("store: %d errors (%s)" % (r["errors"], r["first_error"]))
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

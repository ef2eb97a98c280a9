"""Benchmark (not a test): hs-replay --verify over N audit events (issue 6).

Run: python3 tests/bench/replay.py <build>/bin [N]   (not in tests/bench/run)

It starts hs-dev (mock Kafka cluster), has hs-replay-gen produce N signed
audit events from 4 producers to hs.audit, then reads the whole topic
twice, each under /usr/bin/time: kcat to /dev/null (the baseline: reading
the same bytes with librdkafka and nothing else) and hs-replay --verify
--format jsonl to /dev/null (decode, Ed25519 verify, seq tracking, one JSON
line per event). Prints both rates, both peak RSS and their ratios. Exits
1 when hs-replay finds a problem or its peak RSS is over RSS_TARGET_MIB
(memory must not grow with the events). Targets 127.0.0.1, ends by itself.
"""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
from harness import Stack  # noqa: E402

RSS_TARGET_MIB = 128


def timed(cmd, env):
    """Runs cmd under /usr/bin/time -v; (seconds, peak RSS KiB, rc, err,
    CPU seconds)."""
    t0 = time.monotonic()
    r = subprocess.run(["/usr/bin/time", "-v"] + cmd, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       timeout=3600)
    dt = time.monotonic() - t0
    err = r.stderr.decode("utf-8", "replace")
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", err)
    cpu = sum(float(x) for x in re.findall(
        r"(?:User|System) time \(seconds\): ([\d.]+)", err))
    return dt, int(m.group(1)) if m else 0, r.returncode, err, cpu


def main():
    bindir = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000000
    # The mock cluster keeps about 5 MB per partition: room for them all.
    stack = Stack(bindir, extra_env={
        "HS_DEV_AUDIT_PARTITIONS": str(max(3, n // 4000))})
    try:
        env = dict(stack.env)
        t0 = time.monotonic()
        # Large batches: the mock cluster serves a batch per partition and
        # fetch, as a real broker's log would hold them.
        subprocess.run([os.path.join(bindir, "hs-replay-gen"), "--brokers",
                        stack.kafka, "--events", str(n)],
                       env=dict(env, HS_KAFKA_OPTS="linger.ms=200,"
                                "batch.num.messages=10000,"
                                "batch.size=4000000"),
                       check=True, timeout=3600)
        print("produced %d signed events in %.1f s" % (
            n, time.monotonic() - t0), flush=True)
        kt, krss, krc, kerr, kcpu = timed(
            ["kcat", "-b", stack.kafka, "-X", "fetch.wait.max.ms=5", "-C",
             "-t", "hs.audit", "-o", "beginning", "-e", "-q", "-f", "%s"],
            env)
        assert krc == 0, kerr[-2000:]
        rt, rrss, rrc, rerr, rcpu = timed(
            [os.path.join(bindir, "hs-replay"), "--brokers", stack.kafka,
             "--verify", "--format", "jsonl"], env)
        summary = [line for line in rerr.splitlines()
                   if line.startswith("verified")]
        m = re.match(r"verified (\d+) events", summary[0] if summary else "")
        total = int(m.group(1)) if m else 0
        assert total >= n, (total, rerr[-2000:])
        print("events on hs.audit: %d" % total)
        print("baseline kcat:      %8.0f events/s, %5.1f s CPU, peak RSS "
              "%6d KiB" % (total / kt, kcpu, krss))
        print("hs-replay --verify: %8.0f events/s, %5.1f s CPU, peak RSS "
              "%6d KiB" % (total / rt, rcpu, rrss))
        print("ratio hs-replay/kcat: rate %.2f, CPU %.2f, RSS %.2f" % (
            kt / rt, rcpu / max(kcpu, 0.01), rrss / max(krss, 1)))
        print(summary[0] if summary else rerr[-2000:])
        ok = rrc == 0 and rrss <= RSS_TARGET_MIB * 1024
        if not ok:
            print("FAIL: hs-replay exit %d, RSS target %d MiB" % (
                rrc, RSS_TARGET_MIB))
        sys.exit(0 if ok else 1)
    finally:
        stack.stop()


if __name__ == "__main__":
    main()

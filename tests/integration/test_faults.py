"""The fault matrix (issue 9): the promise of SPEC §4 under the faults
production brings. A callback acknowledged to the browser is never lost,
a code is exchanged at most once, and what cannot succeed fails visibly.
Each test runs connect handshakes under load (tests/integration/load.py),
injects one kind of fault, and checks the database, the demo provider's
count of token requests and what the browser was told. The provider's
own faults are in test_provider_faults.py, hostile HTTP input in
test_hostile.py.

Run: python3 tests/integration/test_faults.py <build>/bin
"""
import functools
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import provider_control, main, wait_for  # noqa: E402
from load import Load, settle, stop_all  # noqa: E402

# A claim a killed worker left open ends as "interrupted" after this long
# (HS_EXCHANGE_STALE, default 120 s): short here so the test does not wait.
STALE_S = 10
KAFKA_TIMEOUT_S = 3  # HS_KAFKA_TIMEOUT_MS: how long a produce may wait
WORKERS = []  # the hs-exchange processes this suite started, running


def worker(stack, log=None):
    env = dict(stack.env)
    env.update({"HS_SIGNIN_PROVIDER": "demo",
                "HS_EXCHANGE_STALE": str(STALE_S)})
    p = stack.spawn("hs-exchange", env, log)
    WORKERS.append(p)
    return p


def workers(stack, n):
    """Exactly n hs-exchange processes running (hs-dev starts none)."""
    while len(WORKERS) > n:
        stop(WORKERS[0])
    while len(WORKERS) < n:
        worker(stack)


def settled_workers(stack, n):
    """Exactly n hs-exchange processes, all started afresh, once their
    group has settled (a rebalance still running when a test acts would
    make its outcome depend on the mock coordinator's timers)."""
    workers(stack, 0)
    with open(stack.log_path, "rb") as f:
        start = len(f.read())
    for _ in range(n):
        worker(stack)
    wait_for(lambda: stack.group_settled(b"hs-exchange", n, start),
             timeout=90, what="the exchange group to settle")


def stop(p, sig=signal.SIGTERM, timeout=60):
    p.send_signal(sig)
    rc = p.wait(timeout)
    WORKERS.remove(p)
    return rc


def agent_of(stack):
    if not hasattr(stack, "load_agent"):
        stack.load_agent = stack.agent()
        stack.load_agent.login()
    return stack.load_agent


def log_count(stack, pattern):
    with open(stack.log_path, "rb") as f:
        return len(re.findall(pattern, f.read()))


def readyz(stack):
    try:
        with urllib.request.urlopen(stack.ingress + "/readyz", timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


def report(name, figures):
    print("  %s: %s" % (name, " ".join("%s=%s" % kv for kv in
                                       figures.items())), flush=True)


def fault_test(t):
    """A failing test stops its load, so the next starts clean."""
    @functools.wraps(t)
    def run(stack):
        try:
            t(stack)
        finally:
            stop_all()
    return run


def exchanging(stack):
    return set(stack.psql("SELECT id FROM handshakes WHERE "
                          "status = 'exchanging'").split())


def claimed_in(path):
    with open(path, "rb") as f:
        return set(m.decode() for m in re.findall(
            rb'"event":"exchange\.claimed","handshake_id":"([^"]+)"',
            f.read()))


@fault_test
def test_exchange_worker_killed_mid_batch(stack):
    # The victim logs to a file of its own, so the claims it held when it
    # died are known: a worker claims a batch, so it may hold several.
    workers(stack, 0)
    victim_log = os.path.join(stack.tmp, "victim.log")
    with open(victim_log, "wb") as log:
        victim = worker(stack, log)
    worker(stack)
    load = Load(stack, agent_of(stack), threads=4, n=240).start()
    load.wait_acked(60)
    # Token calls made slow until the victim holds a claim: it dies holding
    # it, its code possibly spent. That handshake fails as "interrupted"
    # after HS_EXCHANGE_STALE; its event, redelivered to the other worker,
    # waits for that instead of calling the provider again.
    provider_control(stack, delay_ms=3000)
    wait_for(lambda: claimed_in(victim_log) & exchanging(stack),
             timeout=20, what="the victim to hold a claim")
    stop(victim, signal.SIGKILL)
    held = claimed_in(victim_log) & exchanging(stack)
    with open(victim_log, "rb") as log:  # the stack log is checked whole
        stack.log.write(log.read())
        stack.log.flush()
    provider_control(stack, delay_ms=0)
    load.wait_acked(120)
    worker(stack)  # the restart
    load.finish()
    f = settle(stack, load, timeout=STALE_S + 120, allow_interrupted=True)
    f["held_by_victim"] = len(held)
    report("kill -9", f)
    assert f["acked"] == 240 and held and f["interrupted"] == len(held)
    assert set(stack.psql("SELECT id FROM handshakes WHERE "
                          "status = 'failed' AND error = 'interrupted'").split()) == held


@fault_test
def test_rebalances_under_load(stack):
    workers(stack, 3)
    dup0 = log_count(stack, rb'"event":"exchange\.duplicate"')
    load = Load(stack, agent_of(stack), threads=4, n=300).start()
    load.wait_acked(60)
    worker(stack)  # a fourth joins
    load.wait_acked(150)
    assert stop(WORKERS[0]) == 0  # one leaves
    load.wait_acked(220)
    worker(stack)
    load.finish()
    f = settle(stack, load)
    f["redelivered"] = log_count(stack, rb'"event":"exchange\.duplicate"') - dup0
    report("rebalances", f)
    assert f["acked"] == 300 and f["interrupted"] == 0


@fault_test
def test_kafka_errors_are_503_not_losses(stack):
    workers(stack, 2)
    load = Load(stack, agent_of(stack), threads=4).start()
    load.wait_acked(20)
    # Retriable errors librdkafka rides out: a lost leader, a request timed
    # out, a dropped connection; then leaders moving, and one broker down.
    stack.control("produce-errors 30 6")    # NOT_LEADER_OR_FOLLOWER
    stack.control("produce-errors 30 7")    # REQUEST_TIMED_OUT
    stack.control("produce-errors 10 -195")  # connection dropped
    load.wait_acked(len(load.acked) + 20)
    stack.control("leaders rotate")
    load.wait_acked(len(load.acked) + 20)
    stack.control("broker 2 down")
    load.wait_acked(len(load.acked) + 20, timeout=60)
    stack.control("broker 2 up")
    stack.control("leaders rotate")
    # The whole cluster away for longer than a produce may wait
    # (HS_KAFKA_TIMEOUT_MS): the ingress must answer 503, not acknowledge.
    refused = load.refused
    stack.control("kafka down")
    wait_for(lambda: load.refused > refused, timeout=30,
             what="a 503 while Kafka is down")
    time.sleep(2)
    stack.control("kafka up")
    load.wait_acked(len(load.acked) + 20, timeout=90)
    load.stop()
    f = settle(stack, load, timeout=120)
    f["slowest_callback_s"] = round(load.slowest, 1)
    report("kafka faults", f)
    assert f["refused_503"] > 0
    # A callback makes two writes (its audit record, then the event), each
    # bounded by HS_KAFKA_TIMEOUT_MS + 1.5 s: however many requests queue
    # up behind an unwritable audit trail, none waits longer than that,
    # not one time-out for every request ahead of it.
    assert load.slowest < 2 * (KAFKA_TIMEOUT_S + 1.5) + 3, load.slowest


@fault_test
def test_postgres_restarted_under_load(stack):
    workers(stack, 2)
    load = Load(stack, agent_of(stack), threads=4).start()
    load.wait_acked(30)
    stack.control("postgres stop")
    wait_for(lambda: readyz(stack) == 503, timeout=10,
             what="readyz to report PostgreSQL gone")
    time.sleep(3)
    stack.control("postgres start")
    wait_for(lambda: readyz(stack) == 200, timeout=30,
             what="readyz to report PostgreSQL back")
    load.wait_acked(len(load.acked) + 40, timeout=90)
    load.stop()
    f = settle(stack, load, timeout=120)
    report("postgres restart", f)
    assert f["interrupted"] == 0


@fault_test
def test_sigterm_under_load_finishes_in_flight(stack):
    settled_workers(stack, 2)
    dup0 = log_count(stack, rb'"event":"exchange\.duplicate"')
    load = Load(stack, agent_of(stack), threads=4, n=200).start()
    load.wait_acked(60)
    rc = stop(WORKERS[0])
    assert rc == 0, "hs-exchange exited %d on SIGTERM" % rc
    load.finish()
    f = settle(stack, load)
    # It committed what it finished before it left, and the survivor kept
    # its own partitions through the rebalance (cooperative-sticky): no
    # message was handled twice.
    f["redelivered"] = log_count(stack, rb'"event":"exchange\.duplicate"') - dup0
    report("SIGTERM", f)
    assert f["interrupted"] == 0 and f["redelivered"] == 0


if __name__ == "__main__":
    main([test_exchange_worker_killed_mid_batch,
          test_rebalances_under_load,
          test_kafka_errors_are_503_not_losses,
          test_postgres_restarted_under_load,
          test_sigterm_under_load_finishes_in_flight],
         # The mock cluster keeps about 5 MB a partition: room for the
         # whole audit trail of the suite, which hs-replay verifies.
         workers=0, extra_env={"HS_DEV_AUDIT_PARTITIONS": "12",
                               "HS_KAFKA_TIMEOUT_MS":
                               str(KAFKA_TIMEOUT_S * 1000)})

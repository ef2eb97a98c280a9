"""hs-exchange takes the callbacks that have arrived as one batch: their
claims in one statement, their results in one transaction
(exchange_handle_batch). Each handshake must end as it would alone.

Run: python3 tests/integration/test_exchange_batch.py <build>/bin

One exchange worker; it is stopped (SIGSTOP, by its PID) while the
callbacks are sent, so they wait on hs.callbacks and arrive together when
it is continued.
"""
import base64
import hashlib
import os
import signal
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Agent, Browser, b64url, browser_to_provider,  # noqa: E402
                     main, provider_control, wait_for)


def new_user(stack):
    """A user of its own with an API token (as hs-dev makes the demo
    user): connects of different users are batched together."""
    uid = b64url(16)[:22]
    token = "hst_" + b64url(32)
    digest = base64.urlsafe_b64encode(
        hashlib.sha256(token.encode()).digest()).decode().rstrip("=")
    stack.psql("INSERT INTO users (id, email, name) VALUES ('%s', "
               "'%s@example.com', 'Batch User')" % (uid, uid))
    stack.psql("INSERT INTO api_tokens (token_hash, user_id) VALUES "
               "('%s', '%s')" % (digest, uid))
    return uid, token


def begin(stack, token=None):
    """A connect up to the provider's redirect; returns (agent process,
    browser, callback url)."""
    agent = stack.agent()
    agent.login(token)
    browser = Browser()
    p, url, _ = agent.start_connect(timeout=60)
    cb = Browser().get(browser_to_provider(browser, url)).location
    return agent, p, browser, cb


def exchange_pids(stack):
    out = subprocess.run(["pgrep", "-P", str(stack.proc.pid), "-x",
                          "hs-exchange"], capture_output=True, text=True)
    pids = [int(x) for x in out.stdout.split()]
    assert pids, "hs-dev runs an hs-exchange"
    return pids


def batches(stack):
    """The "exchange.batch" lines logged so far."""
    with open(stack.log_path, "rb") as f:
        return [l for l in f.read().splitlines()
                if b'"event":"exchange.batch"' in l]


def test_a_batch_ends_each_handshake_as_alone(stack):
    """Four users, a fifth connecting twice (same user and provider: the
    second result is stored on its own, after the first), a callback
    sent twice (a duplicate in the batch: exchanged once) and a declined
    one: each handshake ends as it would alone, one token request per
    code."""
    users = [new_user(stack) for _ in range(4)]
    flows = [begin(stack, token) for _, token in users]
    twice = new_user(stack)
    flows += [begin(stack, twice[1]), begin(stack, twice[1])]
    denied = begin(stack)
    before = stack.stats()["token_requests"]
    logged = len(batches(stack))
    pids = exchange_pids(stack)
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        pages = []
        for _, _, browser, cb in flows:
            r = browser.get(cb)
            assert r.status == 302, (r.status, r.text)
            pages.append(r.location)
        r = flows[0][2].get(flows[0][3])  # the same callback again
        assert r.status == 302, (r.status, r.text)
        state = dict(urllib.parse.parse_qsl(denied[3].split("?", 1)[1]))
        r = denied[2].get(denied[3].split("?", 1)[0] + "?" +
                          urllib.parse.urlencode(
                              {"error": "access_denied",
                               "state": state["state"]}))
        assert r.status == 302, (r.status, r.text)
        time.sleep(0.5)  # every event on hs.callbacks before the worker
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    for agent, p, _, _ in flows:
        rc, out, err = Agent.finish(p)
        assert rc == 0 and "connected demo" in out, (rc, out, err)
    rc, out, err = Agent.finish(denied[1])
    assert rc == 3 and "access_denied" in out, (rc, out, err)
    assert stack.stats()["token_requests"] == before + len(flows), \
        "one token request per code"
    sizes = [int(l.split(b'"events":')[1].split(b",")[0].rstrip(b"}"))
             for l in batches(stack)[logged:]]
    assert sizes and max(sizes) >= 2, \
        "the callbacks arrived as a batch: %r" % sizes
    for page in pages:
        hid = page.rsplit("/", 1)[1]
        assert stack.psql("SELECT status FROM handshakes WHERE id = '%s'" %
                          hid) == "complete"
    for uid, _ in users:
        assert stack.psql("SELECT count(*) FROM provider_tokens WHERE "
                          "user_id = '%s' AND provider = 'demo'" %
                          uid) == "1"
    # The user who connected twice: one row, stored twice (generation 1
    # at its insert, 2 after the second), holding an issued token.
    assert stack.psql("SELECT generation FROM provider_tokens WHERE "
                      "user_id = '%s' AND provider = 'demo'" %
                      twice[0]) == "2"
    for agent, _, _, _ in flows:
        tok = agent.run("token", "demo").stdout.decode().strip()
        issued = [t["access_token"] for t in stack.stats()["issued"]]
        assert tok in issued, "the agent holds an issued token"
    wait_for(lambda: stack.psql("SELECT count(*) FROM outbox") == "0",
             what="the outbox relayed")


def test_failed_while_exchanging_keeps_nothing(stack):
    """A handshake failed (as interrupted, by another worker) while its
    token call runs: the store of its result keeps nothing of the token,
    no row and no event."""
    uid, token = new_user(stack)
    agent, p, browser, cb = begin(stack, token)
    before = stack.stats()["token_requests"]
    events = len(stack.kcat_list("hs.tokens"))
    provider_control(stack, delay_ms=2000)
    try:
        r = browser.get(cb)
        assert r.status == 302, (r.status, r.text)
        hid = r.location.rsplit("/", 1)[1]
        wait_for(lambda: stack.psql("SELECT status FROM handshakes WHERE "
                                    "id = '%s'" % hid) == "exchanging",
                 what="the claim")
        stack.psql("UPDATE handshakes SET status = 'failed', error = "
                   "'interrupted', finished_at = now() WHERE id = '%s'" % hid)
    finally:
        provider_control(stack, delay_ms=0)
    marker = ('"event":"exchange.store_failed","handshake_id":"%s"' %
              hid).encode()
    wait_for(lambda: marker in open(stack.log_path, "rb").read(),
             what="the store to find the handshake failed")
    p.kill()
    p.wait()
    assert stack.stats()["token_requests"] == before + 1
    assert stack.psql("SELECT status || ' ' || error FROM handshakes WHERE "
                      "id = '%s'" % hid) == "failed interrupted"
    assert stack.psql("SELECT count(*) FROM provider_tokens WHERE user_id = "
                      "'%s'" % uid) == "0"
    assert len(stack.kcat_list("hs.tokens")) == events, "no token.issued"


if __name__ == "__main__":
    main([test_a_batch_ends_each_handshake_as_alone,
          test_failed_while_exchanging_keeps_nothing], workers=1)

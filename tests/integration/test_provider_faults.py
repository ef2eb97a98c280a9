"""The provider's token endpoint failing during the code exchange (issue 9,
fault matrix): slow, 500, connection closed, malformed JSON.

For each fault: (a) one faulted call, then the retry succeeds: the
handshake completes, the agent holds the token the provider issued, the
code was exchanged once, nothing went to hs.dlq; (b) the fault persists:
the agent's `connect` fails with the reason, the status page says so, an
add-in session's poll says so, and hs.dlq holds exactly one message for
each handshake, "provider_unavailable: <reason>".

Run: python3 tests/integration/test_provider_faults.py <build>/bin
"""
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import provider_control, Browser, api, browser_to_provider, main, wait_for  # noqa

# Small, so that "slow" costs seconds: each call gives up after this. Under
# valgrind (HS_DEV_VALGRIND=1) a local call itself takes longer.
VALGRIND = os.environ.get("HS_DEV_VALGRIND") == "1"
TIMEOUT_MS = 3000 if VALGRIND else 1000
ATTEMPTS = 3  # HS_EXCHANGE_ATTEMPTS' default

# fault -> (the reason the flow fails with, words of its status page)
FAULTS = {
    "slow": ("provider_timeout", "did not answer in time"),
    "500": ("temporarily_unavailable", "had a problem on its side"),
    "close": ("provider_unreachable", "provider_unreachable"),
    "malformed": ("invalid_token_response", "an answer we could not use"),
}


def set_fault(stack, fault, count=0):
    q = {"code_fault": fault, "code_fault_count": count}
    if fault == "slow":
        q["code_fault_ms"] = TIMEOUT_MS + 700  # past the client's time-out
    provider_control(stack, **q)


def through_provider(browser, start_url):
    """Confirmation page -> provider -> our callback; returns (code,
    status page path)."""
    cb = Browser().get(browser_to_provider(browser, start_url)).location
    assert cb and "/no-auth/provider-token/demo?" in cb, cb
    code = urllib.parse.parse_qs(urllib.parse.urlparse(cb).query)["code"][0]
    r = browser.get(cb)
    assert r.status == 302 and r.location.startswith("/web/handshake/"), \
        (r.status, r.text)
    return code, r.location


def connect(stack):
    """One connect through a browser; returns (agent, rc, stdout, code,
    status page path, browser, handshake id)."""
    agent = stack.agent()
    agent.login()
    browser = Browser()
    p, url, _ = agent.start_connect(timeout=60)
    code, path = through_provider(browser, url)
    rc, out, err = agent.finish(p, timeout=90)
    return agent, rc, out + err, code, path, browser, path.rsplit("/", 1)[1]


def final_page(stack, browser, path):
    return wait_for(lambda: (lambda r: r if "updates by itself" not in r.text
                             else None)(browser.get(stack.ingress + path)),
                    what="the final status page")


RECOVERED = []  # handshakes that completed after a faulted call
FAILED = []     # (handshake id, reason) of those that failed for good


def dead_letters(stack, hids):
    """{hid: [payload, ...]} of the hs.dlq messages keyed by the handshake
    ids hids, once every one of them has at least one (30 s at most) and
    a little later, so a second one would be seen."""
    def keys():
        return [(p, o, k) for p, o, k in stack.kcat_list("hs.dlq")
                if k in hids]
    wait_for(lambda: {k for _, _, k in keys()} >= set(hids), timeout=30,
             what="the dead letters")
    time.sleep(0.3)
    out = {h: [] for h in hids}
    for p, o, k in keys():
        out[k].append(stack.kcat_get("hs.dlq", p, o))
    return out


def logged(stack, needle):
    with open(stack.log_path, "rb") as f:
        return f.read().count(needle.encode())


def once_then_success(stack, fault):
    before = stack.stats()
    agent, rc, out, code, path, browser, hid = connect(stack)
    assert rc == 0 and "connected demo" in out, (fault, rc, out)
    s = stack.stats()
    assert s["faulted"] == before["faulted"] + 1, (fault, s["faulted"])
    issued = [t for t in s["issued"] if t["code"] == code]
    assert len(issued) == 1, "%s: the code was exchanged %d times" % (
        fault, len(issued))
    tok = agent.run("token", "demo").stdout.decode().strip()
    assert tok == issued[0]["access_token"], fault
    assert stack.psql("SELECT status FROM handshakes WHERE id = '%s'" %
                      hid) == "complete"
    assert "Connected" in final_page(stack, browser, path).text
    assert logged(stack, '"event":"exchange.retry","handshake_id":"%s"' %
                  hid) == 1, fault
    RECOVERED.append(hid)  # no dead letter: checked at the end


def persistent(stack, fault):
    error, words = FAULTS[fault]
    set_fault(stack, fault)
    try:
        before = stack.stats()
        agent, rc, out, code, path, browser, hid = connect(stack)
        assert rc != 0 and "connect failed: %s" % error in out, \
            (fault, rc, out)
        assert stack.stats()["faulted"] == before["faulted"] + ATTEMPTS
        assert not [t for t in stack.stats()["issued"] if t["code"] == code]
        assert stack.psql("SELECT status || ' ' || error FROM handshakes "
                          "WHERE id = '%s'" % hid) == "failed " + error
        page = final_page(stack, browser, path).text
        assert "Connecting failed" in page and words in page, (fault, page)
        assert "Nothing was connected" in page
        # An add-in session: its poll says so too.
        r = api(stack.ingress + "/addons/sessions", body={}, method="POST")
        assert r.status == 201, r.text
        sess = r.json()
        _, spath = through_provider(Browser(), sess["transit_url"])
        r = wait_for(lambda: (lambda r: r if r.status != 202 else None)(
            Browser().get(stack.ingress + "/addons/sessions/" +
                          sess["session_id"] + "?wait=10")),
            timeout=60, what="the session's poll")
        assert r.status == 403 and r.json()["error"] == error, \
            (fault, r.status, r.text)
        shid = spath.rsplit("/", 1)[1]
    finally:
        provider_control(stack, code_fault="none")
    for h, dl in dead_letters(stack, [hid, shid]).items():
        assert len(dl) == 1, (fault, len(dl))
        assert ("provider_unavailable: " + error).encode() in dl[0], dl[0]
        assert b"hs-exchange" in dl[0] and b"hs.callbacks" in dl[0]
        # ATTEMPTS - 1 retries logged, and a code never leaves the worker.
        assert logged(stack, '"event":"exchange.retry","handshake_id":"%s"'
                      % h) == ATTEMPTS - 1
    assert code.encode() not in open(stack.log_path, "rb").read()
    FAILED.extend([(hid, error), (shid, error)])


def test_slow_once_then_success(stack):
    set_fault(stack, "slow", 1)
    t0 = time.time()
    once_then_success(stack, "slow")
    assert time.time() - t0 < (60 if VALGRIND else 20)


def test_slow_persistent_fails_visibly(stack):
    persistent(stack, "slow")


def test_500_once_then_success(stack):
    set_fault(stack, "500", 1)
    once_then_success(stack, "500")


def test_500_persistent_fails_visibly(stack):
    persistent(stack, "500")


def test_close_once_then_success(stack):
    set_fault(stack, "close", 1)
    once_then_success(stack, "close")


def test_close_persistent_fails_visibly(stack):
    persistent(stack, "close")


def test_malformed_once_then_success(stack):
    set_fault(stack, "malformed", 1)
    once_then_success(stack, "malformed")


def test_malformed_persistent_fails_visibly(stack):
    persistent(stack, "malformed")


def test_429_and_503_are_retried(stack):
    for fault in ("429", "503"):
        set_fault(stack, fault, 2)  # two of the three calls
        once_then_success_n(stack, fault, 2)


def once_then_success_n(stack, fault, n):
    before = stack.stats()["faulted"]
    agent, rc, out, code, path, browser, hid = connect(stack)
    assert rc == 0 and "connected demo" in out, (fault, rc, out)
    assert stack.stats()["faulted"] == before + n
    assert len([t for t in stack.stats()["issued"]
                if t["code"] == code]) == 1
    RECOVERED.append(hid)


def test_dead_letters_only_for_the_failures(stack):
    """Every flow that failed for good left exactly one dead letter, and
    none that recovered left any (each would have come before its
    result)."""
    assert len(RECOVERED) >= 6 and len(FAILED) >= 8
    keys = [k for _, _, k in stack.kcat_list("hs.dlq")]
    assert not set(RECOVERED) & set(keys), "a recovered flow dead-lettered"
    assert sorted(keys) == sorted(h for h, _ in FAILED), keys


def test_control_refuses_unknown_faults(stack):
    for q in ({"code_fault": "teapot"}, {"code_fault_count": "1"},
              {"code_fault": "500", "code_fault_count": "-1"},
              {"code_fault": "slow", "code_fault_ms": "x"}):
        req = urllib.request.Request(
            stack.provider + "/control?" + urllib.parse.urlencode(q),
            data=b"", method="POST")
        try:
            urllib.request.urlopen(req, timeout=5)
            raise AssertionError("accepted %r" % q)
        except urllib.error.HTTPError as e:
            assert e.code == 400, q


if __name__ == "__main__":
    main([test_slow_once_then_success,
          test_slow_persistent_fails_visibly,
          test_500_once_then_success,
          test_500_persistent_fails_visibly,
          test_close_once_then_success,
          test_close_persistent_fails_visibly,
          test_malformed_once_then_success,
          test_malformed_persistent_fails_visibly,
          test_429_and_503_are_retried,
          test_dead_letters_only_for_the_failures,
          test_control_refuses_unknown_faults],
         extra_env={"HS_HTTP_TIMEOUT_MS": str(TIMEOUT_MS)})

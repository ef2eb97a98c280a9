"""Load for the fault tests and the soak: connect handshakes in threads,
each the way a browser goes through one (one-time code from the API,
the ingress's start route, the demo provider, the callback), and the
checks that none was lost or done twice. Standard library only.
"""
import json
import os
import random
import threading
import time
import urllib.parse

from harness import Browser, api, browser_to_provider, wait_for

RUNNING = []  # every Load started and not yet stopped


def stop_all():
    """Stops every load still running (a test that failed midway)."""
    for load in list(RUNNING):
        load.running = False
        load.finish(60)


class Load:
    """Handshakes of one user (one agent) until stop() or n are done.
    acked: {handshake id: provider code} of every callback the ingress
    acknowledged (302). A callback answered 503 is tried again, as a
    person reloads the page, up to `reloads` times; refused counts the
    503s. Start-route failures (the stack is down) are counted and the
    handshake is begun again."""

    def __init__(self, stack, agent, threads=4, n=None, seed=0,
                 reloads=200, pause=0.0, rate=None):
        self.stack = stack
        with open(os.path.join(agent.home, "config.json")) as f:
            self.agent_id = json.load(f)["agent_id"]
        self.n = n
        base = stack.stats()
        self.base_requests = base["token_requests"] - base.get("faulted", 0)
        self.base_codes = {t["code"] for t in base["issued"]}
        self.rng = random.Random(seed)
        self.reloads = reloads
        self.pause = pause
        self.lock = threading.Lock()
        self.acked = {}
        self.refused = 0
        self.start_failures = 0
        self.lost = []  # callbacks never acknowledged after every reload
        self.slowest = 0.0  # seconds, the slowest answer to a callback
        self.errors = []
        self.started = 0
        self.rate = rate  # handshakes begun per second, all threads
        self.next_at = time.time()
        self.running = True
        self.threads = [threading.Thread(target=self._run, daemon=True)
                        for _ in range(threads)]

    def start(self):
        RUNNING.append(self)
        for t in self.threads:
            t.start()
        return self

    def stop(self, timeout=600):
        """Begins no more handshakes; returns once the begun ones ended."""
        self.running = False
        return self.finish(timeout)

    def finish(self, timeout=600):
        """Returns once all n handshakes ended."""
        for t in self.threads:
            t.join(timeout)
        if self in RUNNING:
            RUNNING.remove(self)
        assert not self.errors, self.errors[:3]
        return self

    def wait_acked(self, count, timeout=120):
        wait_for(lambda: len(self.acked) >= count or self.errors,
                 timeout=timeout, what="%d acknowledged callbacks" % count)
        assert not self.errors, self.errors[:3]

    def _take(self):
        with self.lock:
            if not self.running or (self.n is not None and
                                    self.started >= self.n):
                return False
            self.started += 1
            wait = 0.0
            if self.rate:
                self.next_at = max(self.next_at + 1.0 / self.rate,
                                   time.time() - 1.0)
                wait = self.next_at - time.time()
        if wait > 0:
            time.sleep(wait)
        return True

    def _run(self):
        browser = Browser()
        while self._take():
            try:
                self._one(browser)
            except Exception as e:  # a bug in the test, not a fault
                with self.lock:
                    self.errors.append(repr(e))
                return
            if self.pause:
                time.sleep(self.pause)

    def _begin(self, browser):
        """Start route to the provider's callback URL, or None."""
        s = self.stack
        r = api(s.ingress + "/api/provider-auth-code", s.token,
                {"agent_id": self.agent_id}, "POST")
        if r.status != 201:
            return None
        url = "%s/web/provider-auth/demo?code=%s" % (s.ingress,
                                                     r.json()["code"])
        try:
            authorize = browser_to_provider(browser, url)
        except AssertionError:
            return None
        r = Browser().get(authorize)
        if r.status != 302:
            return None
        return r.location

    def _one(self, browser):
        cb = None
        for _ in range(self.reloads):
            cb = self._begin(browser)
            if cb:
                break
            with self.lock:
                self.start_failures += 1
            time.sleep(0.2)
        if not cb:
            raise RuntimeError("no handshake could start in %d tries" %
                               self.reloads)
        code = urllib.parse.parse_qs(urllib.parse.urlparse(cb).query)["code"][0]
        for _ in range(self.reloads):
            t0 = time.time()
            r = browser.get(cb)
            with self.lock:
                self.slowest = max(self.slowest, time.time() - t0)
            if r.status == 302 and r.location.startswith("/web/handshake/"):
                with self.lock:
                    self.acked[r.location.rsplit("/", 1)[1]] = code
                return
            if r.status != 503:
                raise RuntimeError("callback answered %d: %s" %
                                   (r.status, r.text[:200]))
            with self.lock:
                self.refused += 1
            time.sleep(0.2 + self.rng.random() * 0.3)
        with self.lock:
            self.lost.append(cb)


def final_states(stack, hids):
    """{handshake id: "complete" | "failed <error>" | other status}."""
    out = {}
    ids = list(hids)
    for i in range(0, len(ids), 5000):
        rows = stack.psql(
            "SELECT id, status, coalesce(error, '') FROM handshakes WHERE id "
            "IN (%s)" % ",".join("'%s'" % h for h in ids[i:i + 5000]))
        for line in rows.splitlines():
            hid, status, error = line.split("|")
            out[hid] = status + (" " + error if error else "")
    return out


def settle(stack, load, timeout=180, allow_interrupted=False):
    """Waits until every acknowledged handshake has its final state; then
    checks that each completed, its code was exchanged once (the demo
    provider counts every token request), and the audit trail holds one
    exchange.succeeded for each. With allow_interrupted, a handshake whose
    worker died holding it may have failed as "interrupted" instead (its
    code may have been spent: never exchanged twice). Returns a dict of
    figures."""
    hids = set(load.acked)

    def done():
        st = final_states(stack, hids)
        return all(v == "complete" or v.startswith("failed")
                   for v in st.values()) and len(st) == len(hids) and st

    states = wait_for(done, timeout=timeout, what="every handshake to end")
    bad = {h: v for h, v in states.items() if v != "complete" and not (
        allow_interrupted and v == "failed interrupted")}
    assert not bad, "handshakes that did not complete: %r" % (
        list(bad.items())[:10],)
    assert not load.lost, "callbacks never acknowledged: %d" % len(load.lost)
    stats = stack.stats()
    issued = [t["code"] for t in stats["issued"]
              if t["code"] not in load.base_codes]
    assert len(set(issued)) == len(issued), "a code was issued twice"
    requests = (stats["token_requests"] - stats.get("faulted", 0) -
                load.base_requests)
    # Every token request of the run was answered with tokens: a code
    # presented a second time would have been refused, and counted.
    assert requests == len(issued), \
        "%d token requests for %d codes" % (requests, len(issued))
    complete = [h for h, v in states.items() if v == "complete"]
    exchanged = set(issued)  # once: in the comprehension it was O(n^2)
    missing = [h for h in complete if load.acked[h] not in exchanged]
    assert not missing, "complete without an exchange: %d" % len(missing)
    return {"acked": len(hids), "complete": len(complete),
            "interrupted": len(hids) - len(complete),
            "refused_503": load.refused, "start_failures":
            load.start_failures, "token_requests": stats["token_requests"],
            "codes_exchanged": len(issued)}

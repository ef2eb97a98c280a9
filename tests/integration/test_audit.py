"""The audit trail (issue 6): every step of every flow on hs.audit, signed,
and hs-replay --verify.

One hs-dev stack runs a connect, a sign-up, a loopback sign-in, a refused
callback, a refresh and a disconnect, then an add-in session, an API token
revocation and a connect while hs.audit is offline; hs-replay reads
hs.audit: --verify accepts the trail, each handshake's actions come in the
expected order, nothing held back was reported done while the trail could
not be written, one event
altered by one byte and re-produced is named, one event left out of a copy
of the topic is named as a gap, and no audit event holds a secret.

Run: python3 tests/integration/test_audit.py <build>/bin
"""
import http.client
import json
import os
import subprocess
import threading
import urllib.parse
import urllib.request
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (provider_control, Browser, api, browser_to_provider, csrf_of,  # noqa
                     main, wait_for)

SLOW = 2.5 if os.environ.get("HS_DEV_VALGRIND") == "1" else 1.0
ENV = {"HS_DEMO_ACCESS_TTL": str(int(4 * SLOW)),
       "HS_REFRESH_AHEAD": str(int(2 * SLOW)),
       # A held answer waits this long for hs.audit before giving up.
       "HS_KAFKA_TIMEOUT_MS": str(int(1500 * SLOW))}
SEEN = {}


def replay(stack, *args, env=None):
    e = dict(stack.env)
    e.update(env or {})
    r = subprocess.run([os.path.join(stack.bindir, "hs-replay"), "--brokers",
                        stack.kafka] + list(args), capture_output=True,
                       timeout=120, env=e)
    assert b"Sanitizer" not in r.stderr, r.stderr.decode()
    return r


def events(stack, *args):
    r = replay(stack, "--format", "jsonl", *args)
    assert r.returncode == 0, r.stderr.decode()
    return [json.loads(line) for line in r.stdout.decode().splitlines()]


def actions_of(evs, handshake_id):
    return [e["action"] for e in sorted(
        (e for e in evs if e.get("handshake_id") == handshake_id),
        key=lambda e: (e["ts"], e["svc"], e["seq"]))]


def test_flows_leave_a_verified_trail_in_order(stack):
    agent = stack.agent()
    agent.login()
    hid = agent.connect()
    # A sign-up.
    signer = stack.agent()
    p, url, _ = signer.start_login("demo")
    b = Browser()
    r = b.get(Browser().get(browser_to_provider(b, url)).location)
    assert r.status == 302, (r.status, r.text)
    sid = r.location.rsplit("/", 1)[1]
    assert signer.finish(p)[0] == 0
    # A loopback sign-in: the browser brings hs-agent's listener a handle.
    p, url = stack.agent().start_loopback_login()
    b = Browser()
    r = b.get(Browser().get(browser_to_provider(b, url)).location)
    assert r.status == 302, (r.status, r.text)
    status_url = stack.ingress + r.location
    lid = r.location.rsplit("/", 1)[1]
    page = wait_for(lambda: (lambda pg: pg if "Authorize hs-agent" in
                             pg.text else None)(b.get(status_url)),
                    what="the Authorize page")
    r = b.post_form(status_url, {"csrf": csrf_of(page.text)})
    assert r.status == 302, (r.status, r.text)
    assert b.get(r.location).status == 200
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, (out, err)
    # A refused callback (a forged state).
    assert Browser().get(stack.ingress + "/no-auth/provider-token/demo?"
                         "code=x&state=forged").status == 400
    # A refresh, then a disconnect.
    # (generation > 1 would not do: sign-ins of the same account
    # reconnect too)
    wait_for(lambda: b"token.refreshed" in stack.kcat_raw("hs.audit"),
             timeout=20 * SLOW, what="a refresh")
    assert agent.run("disconnect", "demo").returncode == 0
    wait_for(lambda: b"token.revoked" in stack.kcat_raw("hs.audit"),
             timeout=20 * SLOW, what="the revocation")
    time.sleep(1)
    evs = events(stack)
    SEEN["events"] = evs
    assert actions_of(evs, hid)[:3] == [
        "handshake.started", "callback.received", "exchange.succeeded"], \
        actions_of(evs, hid)
    assert "broadcast.sent" in actions_of(evs, hid)
    assert actions_of(evs, sid)[:4] == [
        "handshake.started", "callback.received", "exchange.succeeded",
        "signup.completed"], actions_of(evs, sid)
    assert set(actions_of(evs, sid)[4:]) <= {"broadcast.sent"}
    # (broadcast.sent goes its own way once the token is stored)
    assert [a for a in actions_of(evs, lid) if a != "broadcast.sent"] == [
        "handshake.started", "callback.received", "exchange.succeeded",
        "signup.completed", "loopback.authorized"], actions_of(evs, lid)
    lb_user = [e for e in evs if e.get("handshake_id") == lid and
               e["action"] == "signup.completed"][0]["user_id"]
    after = [e["action"] for e in evs if e.get("user_id") == lb_user and
             e["action"] == "api_token.issued" and e["reason"] == "loopback"]
    assert after == ["api_token.issued"], after
    mine = {e["action"]: e for e in evs if e.get("handshake_id") == sid}
    assert mine["handshake.started"]["reason"] == "signup", mine
    user = mine["exchange.succeeded"]["user_id"]
    issued = [e for e in evs if e["action"] == "api_token.issued" and
              e.get("user_id") == user]
    # (the demo provider signs everyone in as one user)
    assert sorted(e["reason"] for e in issued) == ["loopback", "signup"], \
        issued
    acts = {e["action"] for e in evs}
    for a in ("callback.rejected", "token.refreshed", "provider.disconnected",
              "token.revoked"):
        assert a in acts, (a, acts)
    rej = [e for e in evs if e["action"] == "callback.rejected"][0]
    assert rej["outcome"] == "rejected" and rej["reason"], rej
    assert rej["client_ip"] == "127.0.0.1" and rej["user_agent"], rej
    assert {e["svc"].split("/")[0] for e in evs} >= {
        "hs-ingress", "hs-exchange", "hs-broadcaster", "hs-refresher"}
    r = replay(stack, "--verify", "--format", "jsonl")
    assert r.returncode == 0, r.stderr.decode()
    # Filters.
    only = events(stack, "--action", "provider.disconnected")
    assert only and all(e["action"] == "provider.disconnected" for e in only)


def audit_offline(stack, down):
    """hs-dev takes hs.audit's partitions offline or back."""
    stack.control("audit down" if down else "audit up")


def status_of(stack, hid):
    return stack.psql("SELECT status FROM handshakes WHERE id = '%s'" % hid)


def test_an_unwritable_trail_holds_the_answers(stack):
    """hs.audit offline: no security-relevant step is reported done, and
    none is lost; back online, each is done once and the trail verifies,
    the steps undone meanwhile marked aborted."""
    agent = stack.agent()
    agent.login()
    agent.connect()
    # An add-in session signed in, its API token not collected yet.
    sess = api(stack.ingress + "/addons/sessions", body={},
               method="POST").json()
    b = Browser()
    r = b.get(Browser().get(browser_to_provider(b, sess["transit_url"])
                            ).location)
    assert r.status == 302
    sess_hid = r.location.rsplit("/", 1)[1]
    wait_for(lambda: status_of(stack, sess_hid) == "complete",
             what="the session's sign-in")
    # A connect whose token request is slow: hs.audit goes offline while
    # the exchange waits for the provider.
    provider_control(stack, delay_ms=1500)
    p, url, _ = agent.start_connect(timeout=120)
    b = Browser()
    r = b.get(Browser().get(browser_to_provider(b, url)).location)
    assert r.status == 302
    slow_hid = r.location.rsplit("/", 1)[1]
    audit_offline(stack, True)
    try:
        provider_control(stack, delay_ms=0)
        # hs-ingress: every held answer is a 503 that says why.
        sid_url = stack.ingress + "/addons/sessions/" + sess["session_id"]
        for r in (Browser().get(sid_url),
                  api(stack.ingress + "/addons/sessions", body={},
                      method="POST"),
                  api(stack.ingress + "/api/providers/demo",
                      token=stack.token, method="DELETE"),
                  api(stack.ingress + "/api/token", token=stack.token,
                      method="DELETE")):
            assert r.status == 503, (r.status, r.text)
            assert r.json()["error"] == "audit_unavailable", r.text
        other = stack.agent()  # an agent of its own: its own me-channel
        other.login()
        q, q_url, _ = other.start_connect(timeout=120)
        qb = Browser()
        page = qb.get(q_url)
        r = qb.post_form(q_url, {"csrf": csrf_of(page.text)})
        assert r.status == 503 and "audit trail" in r.text, r.status
        assert r.location is None
        # hs-exchange holds the token it got: nothing stored or announced.
        wait_for(lambda: b'"svc":"hs-exchange","event":"audit.write_failed"'
                 in open(stack.log_path, "rb").read(), timeout=30 * SLOW,
                 what="hs-exchange to fail to record")
        assert status_of(stack, slow_hid) == "exchanging"
    finally:
        audit_offline(stack, False)
    # Back: the slow connect completes; nothing held back was consumed.
    wait_for(lambda: status_of(stack, slow_hid) == "complete", timeout=30,
             what="the held exchange to complete")
    assert agent.finish(p)[0] == 0
    # The connect refused meanwhile: its link still works (nothing used).
    r = qb.get(Browser().get(browser_to_provider(qb, q_url)).location)
    assert r.status == 302, (r.status, r.text)
    assert other.finish(q)[0] == 0
    r = Browser().get(sid_url)
    assert r.status == 200, (r.status, r.text)
    sess_token = r.json()["access_token"]
    me = api(stack.ingress + "/api/me", token=stack.token)
    assert me.status == 200
    assert [x["name"] for x in me.json()["providers"]] == ["demo"], me.text
    # A revocation: the token stops working; the record names it by the
    # same fingerprint as its issue.
    lo = stack.agent()
    lo.login(token=sess_token)
    r = lo.run("logout")
    assert r.returncode == 0 and b"revoked and removed" in r.stdout, r
    r = api(stack.ingress + "/api/me", token=sess_token)
    assert r.status == 401, r.status
    r = api(stack.ingress + "/api/token", token=sess_token, method="DELETE")
    assert r.status == 401, r.status
    time.sleep(1)
    evs = events(stack)
    aborted = {e["action"] for e in evs if e["outcome"] == "aborted"}
    assert aborted >= {"api_token.issued", "session.created",
                       "provider.disconnected", "api_token.revoked",
                       "handshake.started", "exchange.succeeded"}, aborted
    assert all(e["reason"] == "audit_unavailable" for e in evs
               if e["outcome"] == "aborted")
    ok = [a for a in actions_of(evs, slow_hid)
          if a in ("exchange.succeeded", "broadcast.sent")]
    assert ok[0] == "exchange.succeeded", actions_of(evs, slow_hid)
    issued = [e for e in evs if e["action"] == "api_token.issued" and
              e["outcome"] == "ok" and e["reason"] == "session"]
    revoked = [e for e in evs if e["action"] == "api_token.revoked" and
               e["outcome"] == "ok"]
    assert len(revoked) == 1 and revoked[0]["fingerprint"] in {
        e["fingerprint"] for e in issued}, (revoked, issued)
    # The add-in session's steps, in order, then its one API token.
    assert actions_of(evs, sess_hid)[:4] == [
        "handshake.started", "callback.received", "exchange.succeeded",
        "signup.completed"], actions_of(evs, sess_hid)
    signup = [e for e in evs if e["action"] == "signup.completed" and
              e.get("handshake_id") == sess_hid]
    assert signup[0]["reason"] == "session", signup
    # (one producer, the ingress: its seq gives the order)
    assert [e["outcome"] for e in sorted(evs, key=lambda e: e["seq"])
            if e["action"] == "api_token.issued" and
            e.get("user_id") == signup[0]["user_id"] and
            e["reason"] in ("session", "audit_unavailable")] == [
                "aborted", "ok"], \
        [e for e in evs if e["action"] == "api_token.issued"]
    r = replay(stack, "--verify", "--format", "jsonl")
    assert r.returncode == 0, r.stderr.decode()


def start_paths(stack, user, n):
    """n start-route paths of user, each with a one-time code in
    auth_codes, and the Cookie header they go with (hs-bench-states)."""
    out, codes = os.path.join(stack.tmp, "starts"), os.path.join(
        stack.tmp, "starts.codes")
    stack.psql("INSERT INTO users (id, issuer, subject) VALUES ('%s', "
               "'test', '%s') ON CONFLICT DO NOTHING" % (user, user))
    r = subprocess.run([os.path.join(stack.bindir, "hs-bench-states"),
                        "start", str(n), user, out, codes], env=stack.env,
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    for h in open(codes).read().split():
        stack.psql("INSERT INTO auth_codes (code_hash, user_id, user_code, "
                   "expires_at) VALUES ('%s', '%s', 'T', now() + "
                   "interval '1 hour')" % (h, user))
    return open(out).read().split(), r.stdout.decode().strip()


def get_all(base, paths, cookie):
    """GETs every path at once, each on a connection of its own: [(status,
    Location, body)]."""
    u = urllib.parse.urlparse(base)
    res = [None] * len(paths)

    def one(i):
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
        c.request("GET", paths[i], headers={"Cookie": cookie})
        r = c.getresponse()
        res[i] = (r.status, r.getheader("Location"), r.read().decode())
        c.close()
    ts = [threading.Thread(target=one, args=(i,)) for i in range(len(paths))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return res


def held_counts(base):
    text = urllib.request.urlopen(base + "/metrics", timeout=10).read()
    return {w: sum(float(line.split()[-1]) for line in
                   text.decode().splitlines()
                   if line.startswith('hs_held_transactions_total{wait="%s"'
                                      % w))
            for w in ("suspended", "inline")}


def test_held_answers_past_the_pool_bound(stack):
    """An ingress with one thread (4 PostgreSQL connections) keeps at most
    3 transactions open while their records wait; the 4th and later wait
    on the thread instead. Both ways give the same answers: 503 while
    hs.audit is offline, each code still unused; 302 once it is back, each
    code used once."""
    n = 8
    base = stack.start_ingress(HS_THREADS="1")
    paths, cookie = start_paths(stack, "pooluser", n)
    audit_offline(stack, True)
    try:
        got = get_all(base, paths, cookie)
    finally:
        audit_offline(stack, False)
    assert all(st == 503 and "audit trail" in body
               for st, _, body in got), got
    held = held_counts(base)
    assert held["suspended"] >= 1 and held["inline"] >= 1 and \
        held["suspended"] + held["inline"] == n, held
    assert stack.psql("SELECT count(*) FROM auth_codes WHERE user_id = "
                      "'pooluser' AND used_at IS NULL") == str(n)
    got = get_all(base, paths, cookie)
    assert all(st == 302 and "/authorize?" in loc for st, loc, _ in got), got
    assert stack.psql("SELECT count(*) FROM handshakes WHERE user_id = "
                      "'pooluser'") == str(n)
    got = get_all(base, paths, cookie)
    assert all(st == 400 and "already used" in body
               for st, _, body in got), got


def test_an_altered_event_is_named(stack):
    evs = SEEN["events"]
    victim = [e for e in evs if e["action"] == "exchange.succeeded"][0]
    raw = stack.kcat_get("hs.audit", victim["partition"], victim["offset"])
    i = raw.index(b"exchange.succeeded") + 2
    bad = raw[:i] + bytes([raw[i] ^ 0x01]) + raw[i + 1:]
    part = victim["partition"]
    end = 1 + max(int(o) for p, o, _ in stack.kcat_list("hs.audit")
                  if int(p) == part)
    stack.kcat_put("hs.audit", part, victim.get("user_id") or
                   victim["handshake_id"], bad)
    # Other events may land in that partition meanwhile (refreshes go on):
    # find the copy by its bytes.
    at = wait_for(lambda: next((o for o in range(end, end + 50) if
                                stack.kcat_get("hs.audit", part, o) == bad),
                               None), what="the altered copy")
    r = replay(stack, "--verify", "--format", "jsonl")
    assert r.returncode == 1, r.stderr.decode()
    errs = [line for line in r.stderr.decode().splitlines()
            if "hs.audit[" in line]
    assert errs and all("hs.audit[%d]@%d" % (victim["partition"], at) in
                        line for line in errs), errs


def test_a_missing_event_is_named(stack):
    evs = SEEN["events"]
    by_svc = {}
    for e in evs:
        by_svc.setdefault(e["svc"], []).append(e)
    svc, mine = max(by_svc.items(), key=lambda kv: len(kv[1]))
    mine.sort(key=lambda e: e["seq"])
    assert len(mine) >= 3, mine
    dropped = mine[len(mine) // 2]
    # A copy of the trail under another prefix, without that one event.
    for e in evs:
        if e is dropped:
            continue
        raw = stack.kcat_get("hs.audit", e["partition"], e["offset"])
        stack.kcat_put("copy.hs.audit", 0,
                       e.get("user_id") or e.get("handshake_id") or "k", raw)
    r = replay(stack, "--verify", env={"HS_TOPIC_PREFIX": "copy."})
    assert r.returncode == 1, r.stderr.decode()
    gaps = [line for line in r.stderr.decode().splitlines()
            if line.startswith("gap")]
    assert len(gaps) == 1, r.stderr.decode()
    assert svc in gaps[0] and str(dropped["seq"]) in gaps[0], gaps
    # Replay has no side effects: the copy is unchanged and a second run
    # says the same (it assigns partitions and commits nothing).
    def problems(res):  # (not the summary, whose memory figure varies)
        return [line for line in res.stderr.decode().splitlines()
                if line.startswith("gap") or ".hs.audit[" in line]

    before = stack.kcat_list("copy.hs.audit")
    again = replay(stack, "--verify", env={"HS_TOPIC_PREFIX": "copy."})
    assert (again.returncode, again.stdout, problems(again)) == (
        r.returncode, r.stdout, problems(r))
    assert stack.kcat_list("copy.hs.audit") == before


def test_no_secret_in_the_audit_trail(stack):
    secrets = stack.provider_secrets()
    assert len(secrets) > 20
    audit = stack.kcat_raw("hs.audit")
    assert audit.count(b"exchange.succeeded") >= 1
    for x in secrets:
        assert x.encode() not in audit, "a secret is on hs.audit"


if __name__ == "__main__":
    main([test_flows_leave_a_verified_trail_in_order,
          test_an_unwritable_trail_holds_the_answers,
          test_held_answers_past_the_pool_bound,
          test_an_altered_event_is_named,
          test_a_missing_event_is_named,
          test_no_secret_in_the_audit_trail], extra_env=ENV,
         verify_audit=False)  # it alters the trail on purpose

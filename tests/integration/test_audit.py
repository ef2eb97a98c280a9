"""The audit trail (issue 6): every step of every flow on hs.audit, signed,
and hs-replay --verify.

One hs-dev stack runs a connect, a sign-up, a refused callback, a refresh
and a disconnect; then hs-replay reads hs.audit: --verify accepts the
trail, each handshake's actions come in the expected order, one event
altered by one byte and re-produced is named, one event left out of a copy
of the topic is named as a gap, and no audit event holds a secret.

Run: python3 tests/integration/test_audit.py <build>/bin
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Browser, browser_to_provider, main, wait_for  # noqa: E402

SLOW = 2.5 if os.environ.get("HS_DEV_VALGRIND") == "1" else 1.0
ENV = {"HS_DEMO_ACCESS_TTL": str(int(4 * SLOW)),
       "HS_REFRESH_AHEAD": str(int(2 * SLOW))}
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
    # A connect.
    p, url, _ = agent.start_connect()
    b = Browser()
    cb = Browser().get(browser_to_provider(b, url)).location
    r = b.get(cb)
    assert r.status == 302
    hid = r.location.rsplit("/", 1)[1]
    assert agent.finish(p)[0] == 0
    # A sign-up.
    signer = stack.agent()
    p, url, _ = signer.start_login("demo")
    b = Browser()
    r = b.get(Browser().get(browser_to_provider(b, url)).location)
    assert r.status == 302, (r.status, r.text)
    sid = r.location.rsplit("/", 1)[1]
    assert signer.finish(p)[0] == 0
    # A refused callback (a forged state).
    assert Browser().get(stack.ingress + "/no-auth/provider-token/demo?"
                         "code=x&state=forged").status == 400
    # A refresh, then a disconnect.
    wait_for(lambda: stack.psql("SELECT count(*) FROM provider_tokens WHERE "
                                "generation > 1") != "0",
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
    assert actions_of(evs, sid)[:3] == [
        "handshake.started", "callback.received", "exchange.succeeded"], \
        actions_of(evs, sid)
    assert set(actions_of(evs, sid)[3:]) <= {"broadcast.sent"}
    mine = {e["action"]: e for e in evs if e.get("handshake_id") == sid}
    assert mine["handshake.started"]["reason"] == "signup", mine
    user = mine["exchange.succeeded"]["user_id"]
    issued = [e for e in evs if e["action"] == "api_token.issued" and
              e.get("user_id") == user]
    assert [e["reason"] for e in issued] == ["signup"], issued
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


def test_no_secret_in_the_audit_trail(stack):
    s = stack.stats()
    secrets = {stack.token}
    for t in s["issued"]:
        secrets.update([t["access_token"], t["refresh_token"], t["code"],
                        t["code_verifier"]])
    for t in s["refreshes"]:
        secrets.update([t["access_token"], t["refresh_token"]])
    audit = stack.kcat_raw("hs.audit")
    assert audit.count(b"exchange.succeeded") >= 1
    for x in secrets:
        assert x.encode() not in audit, "a secret is on hs.audit"


if __name__ == "__main__":
    main([test_flows_leave_a_verified_trail_in_order,
          test_an_altered_event_is_named,
          test_a_missing_event_is_named,
          test_no_secret_in_the_audit_trail], extra_env=ENV,
         verify_audit=False)  # it alters the trail on purpose

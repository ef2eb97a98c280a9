"""The token lifecycle (issue 5): refresh ahead of expiry, failures,
re-authorization, revocation and disconnect.

One hs-dev whose demo provider issues access tokens that live TTL seconds
and rotates the refresh token on every use (a rotated token presented
again is counted as a reuse and kills the grant, as real providers do).
hs-refresher runs with HS_REFRESH_AHEAD = AHEAD, so a connection is
refreshed every TTL - AHEAD..TTL - 0.75 * AHEAD seconds. The provider's
/control switches its failures (500, invalid_grant, a delay), SIGUSR1 and
SIGUSR2 take it down and bring it back.

Every test leaves no connection behind it that later fault tests could
push into reauth_required without meaning to: it disconnects what it made.

Run: python3 tests/integration/test_refresh.py <build>/bin
"""
import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Browser, api, b64url, browser_to_provider,  # noqa: E402
                     main, provider_control, wait_for)

# Services under valgrind run many times slower: stretch the clock.
SLOW = 2.5 if os.environ.get("HS_DEV_VALGRIND") == "1" else 1.0
TTL = int(6 * SLOW)
AHEAD = int(3 * SLOW)
ATTEMPTS = 4
ENV = {"HS_DEMO_ACCESS_TTL": str(TTL), "HS_REFRESH_AHEAD": str(AHEAD),
       "HS_REFRESH_RETRY": "1", "HS_REFRESH_ATTEMPTS": str(ATTEMPTS),
       "HS_HTTP_TIMEOUT_MS": str(int(1500 * SLOW))}
SECRETS = set()


# ---- helpers ----------------------------------------------------------
control = provider_control


def provider_pid(stack):
    """The demo provider hs-dev started (a child of our hs-dev)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if ppid == stack.proc.pid and b"hs-demo-provider" in cmd:
            return int(pid)
    raise AssertionError("no demo provider process")


def provider_up(stack, pid):
    """SIGUSR2, then waits until the provider answers again."""
    os.kill(pid, signal.SIGUSR2)

    def answers():
        try:
            return stack.stats() is not None
        except OSError:
            return False
    wait_for(answers, timeout=10, what="the provider back up")


def new_user(stack, name):
    """A user with an API token, straight in the database."""
    token = b64url(32)
    h = base64.urlsafe_b64encode(
        hashlib.sha256(token.encode()).digest()).decode().rstrip("=")
    uid = b64url(16)
    stack.psql("INSERT INTO users (id, email, name) VALUES ('%s', "
               "'%s@example.com', '%s'); INSERT INTO api_tokens (token_hash,"
               " user_id) VALUES ('%s', '%s')" % (uid, name, name, h, uid))
    return uid, token


def connect(stack, token):
    """Connects demo for the token's user in a browser (no agent)."""
    r = api(stack.ingress + "/api/provider-auth-code", token, {})
    assert r.status == 201, r.text
    url = "%s/web/provider-auth/demo?code=%s" % (stack.ingress,
                                                  r.json()["code"])
    b = Browser()
    cb = Browser().get(browser_to_provider(b, url)).location
    r = b.get(cb)
    assert r.status == 302, (r.status, r.text)


def row(stack, uid, cols="status, attempts, coalesce(last_error, '')"):
    return stack.psql("SELECT %s FROM provider_tokens WHERE user_id = '%s' "
                      "AND provider = 'demo'" % (cols, uid))


def grant_of(stats, access_token):
    """The provider's grant (its index) that issued access_token, at the
    code exchange or at a refresh."""
    for i, t in enumerate(stats["issued"]):
        if t["access_token"] == access_token:
            return i
    for t in stats["refreshes"]:
        if t["access_token"] == access_token:
            return t["grant"]
    raise AssertionError("token not issued by the provider")


def stored_token(stack, token):
    r = api(stack.ingress + "/api/providers/demo/token", token)
    assert r.status == 200, (r.status, r.text)
    return r.json()


def userinfo(stack, access_token):
    req = urllib.request.Request(stack.provider + "/userinfo", headers={
        "Authorization": "Bearer " + access_token})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def disconnect(stack, token):
    r = api(stack.ingress + "/api/providers/demo", token, method="DELETE")
    assert r.status == 204, (r.status, r.text)


def remember(stack):
    """Every token the provider handed out is a secret to look for."""
    s = stack.stats()
    for t in s["issued"]:
        SECRETS.update([t["access_token"], t["refresh_token"]])
    for t in s["refreshes"]:
        SECRETS.update([t["access_token"], t["refresh_token"]])


def logged(stack, event, **kv):
    """1 when the stack's log has a line of event with these fields."""
    want = [b'"event":"%s"' % event.encode()] + [
        b'"%s":%s' % (k.encode(), json.dumps(v).encode())
        for k, v in kv.items()]
    with open(stack.log_path, "rb") as f:
        return any(all(w in line for w in want) for line in f)


def stored_by_agent(agent, provider="demo"):
    """The access token in the agent's store (tokens/<p>.json), which
    `listen` keeps current; `hs-agent token` would ask the server for a
    token this short-lived."""
    with open(os.path.join(agent.home, "tokens", provider + ".json")) as f:
        return json.load(f)["access_token"]


def listen(agent):
    return subprocess.Popen([agent.bin, "--home", agent.home, "listen"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=agent.env)


def stop_listen(p):
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    assert b"Sanitizer" not in err, err.decode()
    return out.decode()


# ---- tests ------------------------------------------------------------
def test_connection_stays_usable_and_agent_holds_the_newest(stack):
    agent = stack.agent()
    agent.login()
    agent.connect()
    lp = listen(agent)
    first = agent.run("token", "demo").stdout.decode().strip()
    # Several expiries pass with no user action.
    deadline = time.time() + 3 * TTL + 1
    while time.time() < deadline:
        time.sleep(1)
        assert userinfo(stack, stored_token(stack, stack.token)[
            "access_token"]) == 200
    # The agent holds the newest token the provider issued (a refresh in
    # flight has a moment to arrive), and it works.
    g = grant_of(stack.stats(), first)
    wait_for(lambda: stored_by_agent(agent) == [
        x for x in stack.stats()["refreshes"] if x["grant"] == g][-1][
        "access_token"], timeout=5 * SLOW, what="the newest token")
    held = stored_by_agent(agent)
    assert userinfo(stack, held) == 200
    out = stop_listen(lp)
    s = stack.stats()
    mine = [x for x in s["refreshes"] if x["grant"] == g]
    assert len(mine) >= 3, (len(mine), out)
    assert out.count("token.refreshed demo") >= 3, out
    # `hs-agent token` gives a live one (from the server when the stored
    # one has under 30 s left, as here).
    now = agent.run("token", "demo").stdout.decode().strip()
    assert userinfo(stack, now) == 200
    assert userinfo(stack, first) == 401  # the first one has expired
    assert s["refresh_reuse"] == 0
    disconnect(stack, stack.token)


def test_token_route(stack):
    uid, token = new_user(stack, "route")
    r = api(stack.ingress + "/api/providers/demo/token")
    assert r.status == 401 and r.json()["error"] == "unauthorized"
    r = api(stack.ingress + "/api/providers/demo/token", token)
    assert r.status == 404 and r.json()["error"] == "not_connected", r.text
    r = api(stack.ingress + "/api/providers/bad-name/token", token)
    assert r.status == 404, r.text
    r = api(stack.ingress + "/api/providers/demo/token", token,
            method="POST", body={})
    assert r.status == 405, r.text
    connect(stack, token)
    wait_for(lambda: row(stack, uid, "status") == "active", what="connected")
    t = stored_token(stack, token)
    assert set(t) == {"access_token", "token_type", "expires_at", "scopes"}
    assert t["token_type"] == "Bearer" and "read" in t["scopes"]
    assert abs(t["expires_at"] / 1000 - time.time() - TTL) < TTL
    # A token about to expire (its refresh not yet due): 503 refreshing,
    # and the refresh is asked for at once.
    stack.psql("UPDATE provider_tokens SET expires_at = now() + interval "
               "'1 second', updated_at = now() - interval '1 hour', "
               "refresh_at = now() + interval '1 hour' WHERE "
               "user_id = '%s'" % uid)
    r = api(stack.ingress + "/api/providers/demo/token", token)
    assert r.status == 503 and r.json()["error"] == "refreshing", r.text
    assert r.headers["Retry-After"] == "2"
    t2 = wait_for(lambda: api(stack.ingress + "/api/providers/demo/token",
                              token).status == 200 and
                  stored_token(stack, token), timeout=10 * SLOW,
                  what="the asked-for refresh")
    assert t2["access_token"] != t["access_token"]
    # Expired with nothing to refresh it: only a new consent helps.
    stack.psql("UPDATE provider_tokens SET expires_at = now() - interval "
               "'1 second', refresh_enc = NULL, refresh_at = NULL WHERE "
               "user_id = '%s'" % uid)
    r = api(stack.ingress + "/api/providers/demo/token", token)
    assert r.status == 409 and r.json()["error"] == "reauth_required", r.text
    disconnect(stack, token)


def test_disconnect_revokes_and_tells_agents(stack):
    agent = stack.agent()
    uid, token = new_user(stack, "disc")
    agent.login(token=token)
    agent.connect()
    lp = listen(agent)
    time.sleep(1)
    at = stored_token(stack, token)["access_token"]
    s = stack.stats()
    g = [x for x in s["refreshes"] if x["access_token"] == at]
    rt = g[-1]["refresh_token"] if g else [
        x for x in s["issued"] if x["access_token"] == at][0]["refresh_token"]
    r = api(stack.ingress + "/api/providers/demo", token, method="DELETE")
    assert r.status == 204 and r.body == b"", (r.status, r.text)
    assert row(stack, uid) == ""
    # Revoked at the provider (refresh token first), by hs-refresher.
    wait_for(lambda: {x["token"] for x in stack.stats()["revoked"]} >=
             {rt, at}, timeout=10 * SLOW, what="revocation")
    hints = [x["hint"] for x in stack.stats()["revoked"]
             if x["token"] in (rt, at)]
    assert hints == ["refresh_token", "access_token"], hints
    # Logged once the provider answered: after the revocation it recorded.
    wait_for(lambda: logged(stack, "revoke.succeeded", user_id=uid),
             timeout=10 * SLOW, what="revoke.succeeded")
    assert userinfo(stack, at) == 401
    assert stack.psql("SELECT count(*) FROM revocations") == "0"
    wait_for(lambda: not os.path.exists(
        os.path.join(agent.home, "tokens", "demo.json")), timeout=10 * SLOW,
        what="the agent to drop its token")
    out = stop_listen(lp)
    assert "provider.disconnected demo" in out, out
    r = api(stack.ingress + "/api/providers/demo", token, method="DELETE")
    assert r.status == 404 and r.json()["error"] == "not_connected"
    r = api(stack.ingress + "/api/providers/demo/token", token)
    assert r.status == 404


def test_revocation_is_retried_while_the_provider_is_down(stack):
    uid, token = new_user(stack, "revdown")
    connect(stack, token)
    wait_for(lambda: row(stack, uid, "status") == "active", what="connected")
    at = stored_token(stack, token)["access_token"]
    pid = provider_pid(stack)
    os.kill(pid, signal.SIGUSR1)
    try:
        disconnect(stack, token)
        wait_for(lambda: stack.psql("SELECT max(attempts) FROM revocations")
                 in ("1", "2", "3"), timeout=10 * SLOW, what="a retry")
    finally:
        provider_up(stack, pid)
    wait_for(lambda: at in {x["token"] for x in stack.stats()["revoked"]},
             timeout=15 * SLOW, what="revocation after the outage")
    assert stack.psql("SELECT count(*) FROM revocations") == "0"


def test_three_refreshers_refresh_each_token_once_per_expiry(stack):
    for _ in range(2):  # hs-dev runs one; three in all
        stack.extra.append(subprocess.Popen(
            [os.path.join(stack.bindir, "hs-refresher")], env=stack.env,
            stdout=stack.log, stderr=stack.log))
    users = [new_user(stack, "many%d" % i) for i in range(24)]
    for _, token in users:
        connect(stack, token)
    grants = {}
    for uid, token in users:
        wait_for(lambda: row(stack, uid, "status") == "active",
                 what="connected")
        grants[uid] = grant_of(stack.stats(),
                               stored_token(stack, token)["access_token"])
    time.sleep(3 * TTL)
    s = stack.stats()
    now_ms = time.time() * 1000
    assert s["refresh_reuse"] == 0, "a rotated refresh token was used twice"
    by_grant = {}
    for x in s["refreshes"]:
        by_grant.setdefault(x["grant"], []).append(x["at_ms"])
    low = (TTL - AHEAD) * 1000 - 300  # earlier would be a second refresh
    all_gaps = []
    for uid, token in users:
        t = stored_token(stack, token)
        assert userinfo(stack, t["access_token"]) == 200
        times = by_grant[grants[uid]]
        assert len(times) >= 2, (uid, times)
        gaps = [b - a for a, b in zip(times, times[1:])]
        all_gaps += gaps
        assert min(gaps) >= low, ("refreshed twice for one expiry", gaps)
        assert max(gaps) <= TTL * 1000, ("an expiry was missed", gaps)
        assert now_ms - times[-1] <= TTL * 1000, "the token has expired"
        assert row(stack, uid) == "active|0|"
    print("  %d connections, 3 refreshers: %d refreshes, gaps %d..%d ms "
          "(allowed %d..%d), refresh tokens reused: %d" % (
              len(users), sum(len(by_grant[grants[u]]) for u, _ in users),
              min(all_gaps), max(all_gaps), low, TTL * 1000,
              s["refresh_reuse"]), flush=True)
    remember(stack)
    for _, token in users:
        disconnect(stack, token)
    wait_for(lambda: stack.psql("SELECT count(*) FROM revocations") == "0",
             timeout=20 * SLOW, what="the revocations")


def test_provider_down_is_retried_then_refreshed(stack):
    pid = provider_pid(stack)
    uid, token = new_user(stack, "down")
    connect(stack, token)
    wait_for(lambda: row(stack, uid, "status") == "active", what="connected")
    before = stored_token(stack, token)["access_token"]
    os.kill(pid, signal.SIGUSR1)
    try:
        stack.psql("UPDATE provider_tokens SET refresh_at = now() WHERE "
                   "user_id = '%s'" % uid)
        wait_for(lambda: row(stack, uid).startswith("active|1|"),
                 timeout=10 * SLOW, what="a failed try")
        assert row(stack, uid) == "active|1|provider_unreachable"
        # Back-off: the next try is scheduled ahead, not at once.
        assert stack.psql("SELECT refresh_at > now() FROM provider_tokens "
                          "WHERE user_id = '%s'" % uid) == "t"
    finally:
        provider_up(stack, pid)
    wait_for(lambda: row(stack, uid) == "active|0|", timeout=15 * SLOW,
             what="the refresh after the outage")
    assert stored_token(stack, token)["access_token"] != before
    disconnect(stack, token)


def test_provider_500_is_retried_then_refreshed(stack):
    uid, token = new_user(stack, "five")
    connect(stack, token)
    wait_for(lambda: row(stack, uid, "status") == "active", what="connected")
    control(stack, fail="500")
    try:
        stack.psql("UPDATE provider_tokens SET refresh_at = now() WHERE "
                   "user_id = '%s'" % uid)
        wait_for(lambda: row(stack, uid).startswith("active|1|"),
                 timeout=10 * SLOW, what="a failed try")
        assert row(stack, uid) == "active|1|provider_error"
    finally:
        control(stack, fail="none")
    wait_for(lambda: row(stack, uid) == "active|0|", timeout=15 * SLOW,
             what="the refresh after the 500s")
    # Each outcome is logged, with the user and the reason.
    assert logged(stack, "refresh.retry", user_id=uid,
                  reason="provider_error", attempt=1)
    assert logged(stack, "refresh.succeeded", user_id=uid)
    disconnect(stack, token)


def test_slow_provider_times_out_and_is_retried(stack):
    uid, token = new_user(stack, "slow")
    connect(stack, token)
    wait_for(lambda: row(stack, uid, "status") == "active", what="connected")
    before = stored_token(stack, token)["access_token"]
    # The provider answers after our time-out, having rotated meanwhile;
    # it honours the rotated token again within its grace period.
    control(stack, delay_ms=str(int(3000 * SLOW)), grace_s="120")
    try:
        stack.psql("UPDATE provider_tokens SET refresh_at = now() WHERE "
                   "user_id = '%s'" % uid)
        wait_for(lambda: row(stack, uid).startswith("active|1|"),
                 timeout=15 * SLOW, what="a timed-out try")
        assert row(stack, uid) == "active|1|provider_timeout"
    finally:
        control(stack, delay_ms="0")
    wait_for(lambda: row(stack, uid) == "active|0|", timeout=15 * SLOW,
             what="the refresh after the time-out")
    after = stored_token(stack, token)["access_token"]
    assert after != before and userinfo(stack, after) == 200
    control(stack, grace_s="0")
    assert stack.stats()["refresh_reuse"] == 0
    disconnect(stack, token)


def test_failures_are_not_retried_forever(stack):
    uid, token = new_user(stack, "forever")
    connect(stack, token)
    wait_for(lambda: row(stack, uid, "status") == "active", what="connected")
    control(stack, fail="500")
    try:
        stack.psql("UPDATE provider_tokens SET refresh_at = now() WHERE "
                   "user_id = '%s'" % uid)
        wait_for(lambda: row(stack, uid).startswith("reauth_required"),
                 timeout=30 * SLOW, what="the last try")
    finally:
        control(stack, fail="none")
    assert row(stack, uid) == "reauth_required|%d|provider_error" % ATTEMPTS
    assert stack.psql("SELECT refresh_at IS NULL FROM provider_tokens "
                      "WHERE user_id = '%s'" % uid) == "t"
    r = api(stack.ingress + "/api/providers/demo/token", token)
    assert r.status == 409 and r.json()["error"] == "reauth_required"
    disconnect(stack, token)


def test_invalid_grant_asks_to_reauthorize_then_reconnect_heals(stack):
    agent = stack.agent()
    uid, token = new_user(stack, "reauth")
    agent.login(token=token)
    connect(stack, token)
    wait_for(lambda: row(stack, uid, "status") == "active", what="connected")
    lp = listen(agent)
    time.sleep(1)
    control(stack, fail="invalid_grant")
    try:
        stack.psql("UPDATE provider_tokens SET refresh_at = now() WHERE "
                   "user_id = '%s'" % uid)
        wait_for(lambda: row(stack, uid).startswith("reauth_required"),
                 timeout=10 * SLOW, what="reauth_required")
    finally:
        control(stack, fail="none")
    # invalid_grant is final at once: one try, no back-off.
    assert row(stack, uid) == "reauth_required|1|invalid_grant"
    assert logged(stack, "refresh.reauth_required", user_id=uid,
                  reason="invalid_grant")
    r = api(stack.ingress + "/api/me", token)
    assert {"name": "demo", "status": "reauth_required"}.items() <= \
        r.json()["providers"][0].items(), r.text
    time.sleep(2 * SLOW)
    out = stop_listen(lp)
    assert "reauth.required demo" in out, out
    assert "hs-agent connect demo" in out, out
    # A new consent makes it active again, and it refreshes again.
    connect(stack, token)
    wait_for(lambda: row(stack, uid) == "active|0|", what="reconnected")
    first = stored_token(stack, token)["access_token"]
    wait_for(lambda: stored_token(stack, token)["access_token"] != first,
             timeout=2 * TTL, what="a refresh after the reconnect")
    disconnect(stack, token)


def test_refresher_checks_its_configuration(stack):
    prog = os.path.join(stack.bindir, "hs-refresher")
    r = subprocess.run([prog, "--check-config"], env=stack.env,
                       capture_output=True, timeout=30)
    assert r.returncode == 0 and b"configuration ok" in r.stdout, r
    for var, bad in (("HS_REFRESH_AHEAD", "0"), ("HS_REFRESH_RETRY", "x"),
                     ("HS_REFRESH_ATTEMPTS", "101"),
                     ("HS_PROVIDERS", "/nonexistent.json")):
        e = dict(stack.env, **{var: bad})
        r = subprocess.run([prog, "--check-config"], env=e,
                           capture_output=True, timeout=30)
        lines = r.stderr.decode().strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and var in lines[0], r
    r = subprocess.run([prog, "--help"], capture_output=True, timeout=30)
    assert r.returncode == 0 and b"HS_REFRESH_AHEAD" in r.stdout


def test_no_secret_in_topics_database_or_logs(stack):
    remember(stack)
    assert SECRETS
    stack.assert_no_secret(SECRETS)


if __name__ == "__main__":
    main([test_connection_stays_usable_and_agent_holds_the_newest,
          test_token_route,
          test_disconnect_revokes_and_tells_agents,
          test_revocation_is_retried_while_the_provider_is_down,
          test_three_refreshers_refresh_each_token_once_per_expiry,
          test_provider_down_is_retried_then_refreshed,
          test_provider_500_is_retried_then_refreshed,
          test_slow_provider_times_out_and_is_retried,
          test_failures_are_not_retried_forever,
          test_invalid_grant_asks_to_reauthorize_then_reconnect_heals,
          test_refresher_checks_its_configuration,
          test_no_secret_in_topics_database_or_logs],
         extra_env=ENV)

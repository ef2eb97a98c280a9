"""The connect flow end to end, on the real processes (issue 2).

Run: python3 tests/integration/test_connect.py <build>/bin
"""
import concurrent.futures
import os
import re
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Agent, Browser, api, browser_to_provider,  # noqa: E402
                     csrf_of, main, wait_for)

# A second catalog entry to prove that a state of "demo" is refused at
# another provider's callback (mix-up). It is never contacted.
PROVIDERS = {"providers": {"other": {
    "authorize_url": "https://other.invalid/authorize",
    "token_url": "https://other.invalid/token",
    "scopes": ["read"], "client_id": "x",
    "client_secret_env": "HS_DEMO_CLIENT_SECRET"}}}

SEEN = {"codes": set(), "states": set()}


def connect(stack, agent=None, browser=None):
    """One full connect; returns (agent, browser, callback url, status)."""
    agent = agent or stack.agent()
    if not os.path.exists(os.path.join(agent.home, "config.json")):
        agent.login()
    browser = browser or Browser()
    p, url, user_code = agent.start_connect()
    page = browser.get(url)
    if page.status == 200:
        assert user_code in page.text, "the page must show the agent's code"
    authorize = browser_to_provider(browser, url)
    cb = Browser().get(authorize).location
    q = urllib.parse.parse_qs(urllib.parse.urlparse(cb).query)
    SEEN["codes"].update(q.get("code", []))
    r = browser.get(cb)
    assert r.status == 302 and r.location.startswith("/web/handshake/"), \
        (r.status, r.text)
    rc, out, err = agent.finish(p)
    return agent, browser, cb, r.location, rc, out


def count(stack, topic):
    return len(stack.kcat_list(topic))


def test_connect_delivers_the_exact_token(stack):
    before = stack.stats()["token_requests"]
    agent, browser, cb, page, rc, out = connect(stack)
    assert rc == 0 and "connected demo" in out, (rc, out)
    issued = stack.stats()["issued"][-1]["access_token"]
    tok = agent.run("token", "demo").stdout.decode().strip()
    assert tok == issued, "the agent must hold the token the provider issued"
    assert stack.stats()["token_requests"] == before + 1
    r = browser.get(stack.ingress + page)
    assert r.status == 200 and "Connected" in r.text
    me = api(stack.ingress + "/api/me", stack.token).json()
    assert [p["name"] for p in me["providers"]] == ["demo"]
    assert me["providers"][0]["scopes"] == ["openid", "email", "read",
                                             "profile"], me
    for h in ("Content-Security-Policy", "X-Frame-Options",
              "Referrer-Policy", "X-Request-Id"):
        assert r.headers.get(h), h
    assert r.headers["Cache-Control"] == "no-store"


def test_remembered_browser_skips_confirmation(stack):
    agent, browser, _, _, rc, _ = connect(stack)
    assert rc == 0
    p, url, _ = agent.start_connect()
    r = Browser().get(url)  # another browser: asked to confirm
    assert r.status == 200 and "Continue" in r.text, r.status
    r = browser.get(url)  # the remembered one goes straight on
    assert r.status == 302 and "/authorize?" in r.location, r.status
    p.kill()
    p.wait()


def begin(stack, browser=None):
    """Starts a connect up to the provider; returns (agent process, browser,
    authorize url, callback url)."""
    agent = stack.agent()
    agent.login()
    browser = browser or Browser()
    p, url, _ = agent.start_connect(timeout=30)
    authorize = browser_to_provider(browser, url)
    cb = Browser().get(authorize).location
    return p, browser, authorize, cb


def assert_refused(stack, browser, url, reason):
    n = count(stack, "hs.callbacks")
    r = browser.get(url)
    assert r.status == 400, (reason, r.status, r.text)
    assert "<h1>" in r.text and "Start again" in r.text or \
        "another browser" in r.text or "different provider" in r.text, r.text
    assert count(stack, "hs.callbacks") == n, reason + ": emitted an event"


def test_bad_callbacks_are_refused_and_emit_nothing(stack):
    p, browser, authorize, cb = begin(stack)
    base, query = cb.split("?", 1)
    q = dict(urllib.parse.parse_qsl(query))
    state = q["state"]

    def url(**params):
        return base + "?" + urllib.parse.urlencode(params)

    forged = "dev." + "A" * 200
    assert_refused(stack, browser, url(code=q["code"]), "missing state")
    assert_refused(stack, browser, url(code=q["code"], state=forged),
                   "forged state")
    assert_refused(stack, browser,
                   url(code=q["code"], state=state[:len(state) // 2]),
                   "truncated state")
    flipped = state[:-5] + ("A" if state[-5] != "A" else "B") + state[-4:]
    assert_refused(stack, browser, url(code=q["code"], state=flipped),
                   "tampered state")
    assert_refused(stack, browser,
                   stack.ingress + "/no-auth/provider-token/other?" +
                   urllib.parse.urlencode(q), "state of another provider")
    assert_refused(stack, Browser(), cb, "missing binding cookie")
    p2, b2, _, _ = begin(stack)  # b2 holds its own binding cookie
    assert_refused(stack, b2, cb, "foreign binding cookie")
    assert_refused(stack, browser, cb + "&state=" + state,
                   "duplicate parameter")
    # Over the 4 KiB a connection may use (INGRESS_CONN_MEMORY),
    # libmicrohttpd itself answers 414: still 4xx, still nothing emitted.
    n = count(stack, "hs.callbacks")
    r = browser.get(url(code="x" * 5000, state=state))
    assert r.status in (400, 414), ("oversized code", r.status)
    assert count(stack, "hs.callbacks") == n
    assert_refused(stack, browser, url(code="a\x01b", state=state),
                   "control character")
    assert_refused(stack, browser, url(code="c", error="access_denied",
                                       state=state), "code and error")
    for proc in (p, p2):
        proc.kill()
        proc.wait()


def test_expired_state_is_refused(stack):
    ingress = stack.start_ingress(HS_STATE_TTL="1")
    agent = stack.agent()
    agent.login(server=ingress)
    browser = Browser()
    p, url, _ = agent.start_connect(timeout=30, server=ingress)
    authorize = browser_to_provider(browser, url)
    cb = Browser().get(authorize).location
    time.sleep(2.2)
    n = count(stack, "hs.callbacks")
    r = browser.get(cb)
    assert r.status == 400 and "expired" in r.text, (r.status, r.text)
    assert count(stack, "hs.callbacks") == n
    p.kill()
    p.wait()


def test_access_denied_fails_the_agent(stack):
    p, browser, authorize, cb = begin(stack)
    state = dict(urllib.parse.parse_qsl(cb.split("?", 1)[1]))["state"]
    base = cb.split("?", 1)[0]
    r = browser.get(base + "?" + urllib.parse.urlencode(
        {"error": "access_denied", "error_description": "<script>x</script>",
         "state": state}))
    assert r.status == 302, (r.status, r.text)
    rc, out, err = Agent.finish(p)
    assert rc == 3 and "connect failed: access_denied" in out, (rc, out, err)
    page = wait_for(lambda: (lambda r: r if "declined" in r.text else None)(
        browser.get(stack.ingress + r.location)), what="declined page")
    assert "<script>" not in page.text


def test_refusals(stack):
    t = stack.token
    r = api(stack.ingress + "/api/provider-auth-code", None, {})
    assert r.status == 401 and r.headers.get("WWW-Authenticate")
    r = api(stack.ingress + "/api/provider-auth-code", "hst_wrong", {})
    assert r.status == 401
    code = api(stack.ingress + "/api/provider-auth-code", t, {}).json()["code"]
    url = stack.ingress + "/web/provider-auth/demo?code=" + code
    b = Browser()
    page = b.get(url)
    assert page.status == 200
    r = b.post_form(url, {})
    assert r.status == 403, r.status
    r = b.post_form(url, {"csrf": "A" * 43})
    assert r.status == 403, r.status
    r = b.post_form(url, {"csrf": re.search(r'value="([^"]+)"',
                                            page.text).group(1)})
    assert r.status == 302
    r = Browser().get(url)
    assert r.status == 400, "a used code must be refused"
    r = Browser().get(stack.ingress + "/web/provider-auth/demo?code=" + "B" * 43)
    assert r.status == 400
    r = Browser().get(stack.ingress + "/web/provider-auth/nosuch?code=x")
    assert r.status == 404
    r = Browser().get(stack.ingress + "/web/provider-auth/demo")
    assert r.status == 400
    r = api(stack.ingress + "/api/agents", t, {"public_key": "short",
                                               "name": "x"})
    assert r.status == 400 and r.json()["error"] == "invalid_public_key"


def test_replays_exchange_the_code_once(stack):
    p, browser, authorize, cb = begin(stack)
    before = stack.stats()["token_requests"]
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda _: browser.get(cb), range(20)))
    for r in results:
        assert r.status == 302 and r.location.startswith("/web/handshake/"), \
            r.status
    rc, out, _ = Agent.finish(p)
    assert rc == 0, out
    hid = results[0].location.rsplit("/", 1)[1]
    # Re-deliver the same event: 5 times to its partition and once to
    # every partition, so both exchange workers see it.
    msgs = [m for m in stack.kcat_list("hs.callbacks") if m[2] == hid]
    assert msgs, "the callback event is on hs.callbacks"
    part, off, _ = msgs[0]
    raw = stack.kcat_get("hs.callbacks", part, off)
    for _ in range(5):
        stack.kcat_put("hs.callbacks", part, hid, raw)
    for partition in range(6):
        stack.kcat_put("hs.callbacks", partition, hid, raw)
    time.sleep(4)
    assert stack.stats()["token_requests"] == before + 1, \
        "one token request for one code"
    uid = stack.psql("SELECT user_id FROM handshakes WHERE id = '%s'" % hid)
    assert stack.psql("SELECT count(*) FROM provider_tokens WHERE user_id = "
                      "'%s'" % uid) == "1"
    assert stack.psql("SELECT status FROM handshakes WHERE id = '%s'" %
                      hid) == "complete"
    r = browser.get(stack.ingress + results[0].location)
    assert "Connected" in r.text


def test_claim_left_by_a_dead_worker_ends_once(stack):
    """A worker claimed the handshake and died before finishing: the
    event's redelivery waits while the claim is young, then fails the flow
    as interrupted; the code is never exchanged (SECURITY 18, 19)."""
    agent = stack.agent()
    agent.login()
    browser = Browser()
    p, url, _ = agent.start_connect(timeout=60)
    authorize = browser_to_provider(browser, url)
    hid = stack.psql("SELECT id FROM handshakes WHERE status = 'started' "
                     "ORDER BY created_at DESC LIMIT 1")
    stack.psql("UPDATE handshakes SET status = 'exchanging', claimed_at = "
               "now() WHERE id = '%s'" % hid)
    before = stack.stats()["token_requests"]
    cb = Browser().get(authorize).location
    r = browser.get(cb)
    assert r.status == 302 and r.location.endswith(hid), r.location
    time.sleep(2)  # the young claim holds the event back
    assert stack.psql("SELECT status FROM handshakes WHERE id = '%s'" %
                      hid) == "exchanging"
    stack.psql("UPDATE handshakes SET claimed_at = now() - interval "
               "'10 minutes' WHERE id = '%s'" % hid)
    rc, out, err = Agent.finish(p)
    assert rc == 3 and "interrupted" in out, (rc, out, err)
    assert stack.psql("SELECT status || ' ' || error FROM handshakes WHERE "
                      "id = '%s'" % hid) == "failed interrupted"
    assert stack.stats()["token_requests"] == before


def test_kafka_down_is_503(stack):
    ingress = stack.start_ingress(HS_KAFKA_BROKERS="127.0.0.1:1",
                                  HS_KAFKA_TIMEOUT_MS="1000")
    agent = stack.agent()
    agent.login()  # through the main ingress
    browser = Browser()
    p, url, _ = agent.start_connect(timeout=30)
    # Started there, it would stop at once: handshake.started cannot be
    # recorded. Started on the main ingress, the answer comes back here.
    r = browser.get(url.replace(stack.ingress, ingress))
    r = browser.post_form(url.replace(stack.ingress, ingress),
                          {"csrf": csrf_of(r.text)})
    assert r.status == 503 and "audit trail" in r.text, r.status
    authorize = browser_to_provider(browser, url)
    cb = Browser().get(authorize).location.replace(stack.ingress, ingress)
    r = browser.get(cb)
    assert r.status == 503 and "Nothing was connected" in r.text, r.status
    p.kill()
    p.wait()


def test_no_secret_in_topics_database_or_logs(stack):
    stats = stack.stats()
    secrets = set(SEEN["codes"])
    for i in stats["issued"]:
        secrets.update([i["access_token"], i["refresh_token"], i["code"],
                        i["code_verifier"]])
    secrets.add(stack.token)
    assert len(secrets) > 10
    blobs = stack.secret_blobs()
    assert blobs["hs.callbacks"] and blobs["hs.tokens"] and blobs["hs.me"]
    assert blobs["hs.audit"].count(b"exchange.succeeded") >= 3
    assert b"provider_tokens" in blobs["pg_dump"]
    stack.assert_no_secret(secrets)

if __name__ == "__main__":
    main([test_connect_delivers_the_exact_token,
          test_remembered_browser_skips_confirmation,
          test_bad_callbacks_are_refused_and_emit_nothing,
          test_expired_state_is_refused,
          test_access_denied_fails_the_agent,
          test_refusals,
          test_replays_exchange_the_code_once,
          test_claim_left_by_a_dead_worker_ends_once,
          test_kafka_down_is_503,
          test_no_secret_in_topics_database_or_logs],
         providers=PROVIDERS)

"""Sign-in flows end to end on the real processes (issue 3): the agent's
signup with check-signup, add-in sessions with long polls, every status of
SPEC §3, ID token checks, and a long poll woken through another ingress.

Run: python3 tests/integration/test_signin.py <build>/bin
"""
import base64
import concurrent.futures
import hashlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (provider_control, Browser, api, b64url, browser_to_provider,  # noqa: E402
                     main, wait_for)

SEEN = set()  # every secret a test saw: none may leak


def through_provider(stack, browser, start_url):
    """Confirmation page -> POST -> provider -> our callback; returns the
    status page path the callback redirects to."""
    authorize = browser_to_provider(browser, start_url)
    cb = Browser().get(authorize).location
    assert cb and "/no-auth/provider-token/demo?" in cb, cb
    SEEN.update(urllib.parse.parse_qs(urllib.parse.urlparse(cb).query)
                .get("code", []))
    r = browser.get(cb)
    assert r.status == 302 and r.location.startswith("/web/handshake/"), \
        (r.status, r.text)
    return r.location


def final_page(stack, browser, path):
    return wait_for(lambda: (lambda r: r if "onnecting" not in r.text
                             else None)(browser.get(stack.ingress + path)),
                    what="the final status page")


def check_signup(stack, token, wait=None, base=None):
    url = (base or stack.ingress) + "/no-auth/check-signup"
    if wait is not None:
        url += "?wait=%d" % wait
    return api(url, body={"token": token}, method="POST")


def new_session(stack, base=None):
    r = api((base or stack.ingress) + "/addons/sessions", body={},
            method="POST")
    assert r.status == 201, (r.status, r.text)
    s = r.json()
    assert set(s) == {"session_id", "transit_url", "user_code", "expires_in"}
    assert s["expires_in"] == 600 and re.match(r"^[A-Z0-9]{4}-[A-Z0-9]{4}$",
                                               s["user_code"])
    assert s["session_id"] not in s["transit_url"]
    SEEN.add(s["session_id"])
    return s


def poll_session(stack, sid, wait=None, base=None):
    url = (base or stack.ingress) + "/addons/sessions/" + sid
    if wait is not None:
        url += "?wait=%d" % wait
    return Browser().get(url)


def start_signup(stack):
    token = b64url(32)
    SEEN.add(token)
    signup_id = base64.urlsafe_b64encode(
        hashlib.sha256(token.encode()).digest()).rstrip(b"=").decode()
    return token, "%s/web/provider-auth/demo?signup_id=%s" % (
        stack.ingress, signup_id)


# ---- done when 1: sign in from nothing, then connect -------------------

def test_agent_login_then_connect(stack):
    provider_control(stack, subject="alice")
    agent = stack.agent()
    p, url, code = agent.start_login("demo")
    assert "signup_id=" in url and "token" not in url.split("?", 1)[1]
    browser = Browser()
    page = browser.get(url)
    assert page.status == 200 and code in page.text, page.text
    assert "asking to sign you in" in page.text
    status_path = through_provider(stack, browser, url)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, (out, err)
    assert b"signed in as alice@example.com" in out, out
    assert "Signed in." in final_page(stack, browser, status_path).text
    uid = stack.psql("SELECT id FROM users WHERE subject = 'alice'")
    assert stack.psql("SELECT issuer FROM users WHERE id = '%s'" % uid) == \
        stack.provider
    # The stored API token works: connect the same provider with it.
    p2, curl, ccode = agent.start_connect()
    through_provider(stack, Browser(), curl)
    rc, out, err = agent.finish(p2)
    assert rc == 0 and "connected demo" in out, (rc, out, err)
    # Signing in again finds the same user (issuer, subject), never a
    # second one.
    token, url = start_signup(stack)
    through_provider(stack, Browser(), url)
    r = wait_for(lambda: (lambda r: r if r.status == 200 else None)(
        check_signup(stack, token, wait=5)), what="complete")
    assert r.json()["user"]["id"] == uid
    assert stack.psql("SELECT count(*) FROM users WHERE subject = "
                      "'alice'") == "1"
    provider_control(stack, subject="demo")


# ---- done when 2: every status of check-signup -------------------------

def test_check_signup_statuses(stack):
    token, url = start_signup(stack)
    # Unknown to the server yet: pending (the agent polls first).
    r = check_signup(stack, token)
    assert r.status == 202 and r.json() == {"status": "pending"}, r.text
    r = check_signup(stack, token)
    assert r.status == 429 and r.headers["Retry-After"] == "1", r.text
    time.sleep(1.1)
    assert check_signup(stack, token).status == 202
    t0 = time.time()
    r = check_signup(stack, token, wait=1)
    assert r.status == 202 and 0.9 < time.time() - t0 < 3, time.time() - t0
    for bad in ({"token": "short"}, {"token": 5}, {}, {"token": "a" * 200}):
        r = api(stack.ingress + "/no-auth/check-signup", body=bad,
                method="POST")
        assert r.status == 400 and r.json()["error"] == "invalid_request"
    r = check_signup(stack, token, wait=31)
    assert r.status == 400, r.text
    browser = Browser()
    through_provider(stack, browser, url)
    r = wait_for(lambda: (lambda r: r if r.status == 200 else None)(
        check_signup(stack, token, wait=5)), what="complete")
    body = r.json()
    assert body["status"] == "complete" and body["provider"] == "demo"
    assert body["user"]["email"] == "demo@example.com"
    SEEN.add(body["access_token"])
    me = api(stack.ingress + "/api/me", token=body["access_token"])
    assert me.status == 200 and me.json()["user"]["id"] == body["user"]["id"]
    # Exactly once.
    r = check_signup(stack, token)
    assert r.status == 410 and r.json()["error"] == "consumed", r.text
    # The same signup_id cannot start a second flow.
    r = Browser().get(url)
    assert r.status == 400, r.status
    # Expired: 10 minutes after start (moved back in time here).
    token2, url2 = start_signup(stack)
    assert check_signup(stack, token2).status == 202
    stack.psql("UPDATE polls SET expires_at = now() - interval '1 second' "
               "WHERE kind = 'signup' AND status = 'pending'")
    r = check_signup(stack, token2)
    assert r.status == 410 and r.json()["error"] == "expired", r.text
    assert Browser().get(url2).status == 400


def deny(stack, url):
    """Starts the flow and answers the callback with access_denied."""
    browser = Browser()
    authorize = browser_to_provider(browser, url)
    state = urllib.parse.parse_qs(urllib.parse.urlparse(authorize).query)[
        "state"][0]
    r = browser.get(stack.ingress + "/no-auth/provider-token/demo?" +
                    urllib.parse.urlencode({"error": "access_denied",
                                            "state": state}))
    assert r.status == 302, (r.status, r.text)
    return browser, r.location


def test_denied_signup_fails_visibly(stack):
    token, url = start_signup(stack)
    browser, status_path = deny(stack, url)
    r = wait_for(lambda: (lambda r: r if r.status == 200 else None)(
        check_signup(stack, token, wait=5)), what="failed")
    assert r.json()["status"] == "failed"
    assert r.json()["error"] == "access_denied", r.text
    page = final_page(stack, browser, status_path)
    assert "You declined access at Demo. Nobody was signed in." in page.text


def test_denied_login_exits_3(stack):
    agent = stack.agent()
    p, url, _ = agent.start_login("demo")
    deny(stack, url)
    rc, out, err = agent.finish(p)
    assert rc == 3 and "login failed: access_denied" in out, (rc, out, err)
    assert not os.path.exists(os.path.join(agent.home, "config.json"))


# ---- done when 5: ID tokens that must be refused -----------------------

def test_bad_id_tokens_fail_the_flow(stack):
    before = stack.psql("SELECT count(*) FROM users")
    for fault in ("wrong_aud", "wrong_iss", "expired", "wrong_nonce",
                  "missing"):
        token, url = start_signup(stack)
        provider_control(stack, id_token=fault)
        browser = Browser()
        status_path = through_provider(stack, browser, url)
        r = wait_for(lambda: (lambda r: r if r.status == 200 else None)(
            check_signup(stack, token, wait=5)), what=fault)
        assert r.json() == {"status": "failed", "error": "invalid_id_token",
                            "message": "The sign-in failed; start again."}, \
            (fault, r.text)
        page = final_page(stack, browser, status_path)
        assert "identity we could not trust" in page.text, (fault, page.text)
        with open(stack.log_path, "rb") as f:
            assert (b'"reason":"%s"' % fault.encode()) in f.read() or \
                fault == "missing"
    assert stack.psql("SELECT count(*) FROM users") == before


# ---- done when 2: every status of sessions ------------------------------

def test_session_statuses(stack):
    s = new_session(stack)
    sid = s["session_id"]
    r = poll_session(stack, sid)
    assert r.status == 202 and r.json() == {"status": "pending"}
    r = poll_session(stack, sid)
    assert r.status == 429 and r.headers["Retry-After"] == "1"
    assert poll_session(stack, b64url(32)).status == 404
    assert poll_session(stack, "x").status == 404
    assert poll_session(stack, sid, wait=99).status == 400
    browser = Browser()
    page = browser.get(s["transit_url"])
    assert page.status == 200 and s["user_code"] in page.text, page.text
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        fut = ex.submit(poll_session, stack, sid, 12)
        time.sleep(0.3)
        status_path = through_provider(stack, browser, s["transit_url"])
        r = fut.result()
    assert r.status == 200, (r.status, r.text)
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0
    SEEN.add(body["access_token"])
    assert api(stack.ingress + "/api/me",
               token=body["access_token"]).status == 200
    assert "Signed in." in final_page(stack, browser, status_path).text
    r = poll_session(stack, sid)
    assert r.status == 410 and r.json()["error"] == "consumed"
    # The transit URL is single-use.
    assert Browser().get(s["transit_url"]).status == 400
    # A transit URL lives 120 s; a session 10 minutes.
    s2 = new_session(stack)
    stack.psql("UPDATE polls SET transit_expires_at = now() WHERE "
               "handshake_id IS NULL AND kind = 'session'")
    assert Browser().get(s2["transit_url"]).status == 400
    stack.psql("UPDATE polls SET expires_at = now() WHERE handshake_id IS "
               "NULL AND kind = 'session'")
    r = poll_session(stack, s2["session_id"])
    assert r.status == 410 and r.json()["error"] == "expired"
    # Denied.
    s3 = new_session(stack)
    browser, status_path = deny(stack, s3["transit_url"])
    r = wait_for(lambda: (lambda r: r if r.status != 202 else None)(
        poll_session(stack, s3["session_id"], wait=5)), what="denied")
    assert r.status == 403 and r.json()["error"] == "access_denied", r.text
    assert "Nobody was signed in" in final_page(stack, browser,
                                                status_path).text


# ---- done when 3: woken through another ingress ------------------------

def test_long_poll_woken_through_another_ingress(stack):
    other = stack.start_ingress()
    s = new_session(stack)  # created on the first ingress
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        t0 = time.time()
        fut = ex.submit(poll_session, stack, s["session_id"], 14, other)
        time.sleep(0.5)
        assert not fut.done()
        through_provider(stack, Browser(), s["transit_url"])
        r = fut.result()
    assert r.status == 200 and r.json()["access_token"], (r.status, r.text)
    assert time.time() - t0 < 12, "woken by the result, not the deadline"
    SEEN.add(r.json()["access_token"])


def test_client_that_leaves_frees_its_slot(stack):
    s = new_session(stack)
    port = int(stack.ingress.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(("GET /addons/sessions/%s?wait=25 HTTP/1.1\r\nHost: x\r\n"
                  "\r\n" % s["session_id"]).encode())
    time.sleep(0.5)
    with open(stack.log_path, "rb") as f:
        before = f.read().count(b'"event":"poll.client_left"')
    t0 = time.time()
    sock.close()

    def left():
        with open(stack.log_path, "rb") as f:
            return f.read().count(b'"event":"poll.client_left"') > before
    wait_for(left, timeout=5, what="the slot to be freed")
    assert time.time() - t0 < 2


def test_signin_provider_configuration(stack):
    # Without HS_SIGNIN_PROVIDER there are no add-in sessions: a clear 503.
    other = stack.start_ingress(HS_SIGNIN_PROVIDER="")
    r = api(other + "/addons/sessions", body={}, method="POST")
    assert r.status == 503 and r.json()["error"] == "signin_unavailable", \
        r.text
    # One that is not a sign-in provider of the catalog stops the start.
    env = dict(stack.env, HS_SIGNIN_PROVIDER="nosuch",
               HS_PUBLIC_URL="http://127.0.0.1:1")
    r = subprocess.run([os.path.join(stack.bindir, "hs-ingress"),
                        "--check-config"], env=env, capture_output=True,
                       timeout=30)
    assert r.returncode == 2, r
    assert b"HS_SIGNIN_PROVIDER" in r.stderr and len(
        r.stderr.strip().splitlines()) == 1, r.stderr


def test_no_secret_leaks(stack):
    assert len(SEEN) > 5
    stack.assert_no_secret(SEEN)

if __name__ == "__main__":
    main([test_agent_login_then_connect,
          test_check_signup_statuses,
          test_denied_signup_fails_visibly,
          test_denied_login_exits_3,
          test_bad_id_tokens_fail_the_flow,
          test_session_statuses,
          test_long_poll_woken_through_another_ingress,
          test_client_that_leaves_frees_its_slot,
          test_signin_provider_configuration,
          test_no_secret_leaks])

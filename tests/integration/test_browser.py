"""Sign-in in a real browser through a real OpenID provider (issue 3).

Debian Chromium, driven by playwright-core (tests/browser/drive.mjs),
signs in on the provider's own pages: panva/oidc-provider
(tests/browser/oidc_server.mjs) on 127.0.0.1. Covers the signup flow from
an empty database to a working connect, the session flow, and the deny
path; each checks what the final page says and what the poll returns.

Run: python3 tests/integration/test_browser.py <build>/bin
"""
import concurrent.futures
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
                     free_port, main, wait_for)

HERE = os.path.dirname(os.path.abspath(__file__))
BROWSER_DIR = os.path.join(HERE, "..", "browser")
SECRET = b64url(24)
# Services under valgrind run many times slower: stretch the clock.
SLOW = 2.5 if os.environ.get("HS_DEV_VALGRIND") == "1" else 1.0
ACCESS_TTL = int(8 * SLOW)


def drive(url, *args):
    r = subprocess.run(["node", os.path.join(BROWSER_DIR, "drive.mjs"), url,
                        "--timeout", "60000"] + list(args),
                       capture_output=True, timeout=120)
    out = r.stdout.decode().strip().splitlines()
    assert out, r.stderr.decode()
    res = json.loads(out[-1])
    assert r.returncode == 0, res
    return res


def test_login_from_empty_database_then_connect(stack):
    assert stack.psql("SELECT count(*) FROM users WHERE issuer = '%s'" %
                      OIDC["issuer"]) == "0"
    agent = stack.agent()
    p, url, code = agent.start_login("oidc", timeout=90)
    res = drive(url, "--login", "alice")
    assert res["steps"] == ["confirm", "provider-login", "provider-consent"], \
        res
    assert "Signed in." in res["text"], res
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, (out, err)
    assert b"signed in as alice@example.com" in out, out
    assert stack.psql("SELECT subject FROM users WHERE issuer = '%s'" %
                      OIDC["issuer"]) == "alice"
    # The API token the agent stored connects a provider.
    cp, curl, _ = agent.start_connect()
    b = Browser()
    authorize = browser_to_provider(b, curl)
    r = b.get(Browser().get(authorize).location)
    assert r.status == 302, r.text
    rc, out, err = agent.finish(cp)
    assert rc == 0 and "connected demo" in out, (rc, out, err)


def test_session_in_the_browser(stack):
    r = api(stack.ingress + "/addons/sessions", body={}, method="POST")
    assert r.status == 201
    s = r.json()
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        fut = ex.submit(Browser().get, stack.ingress + "/addons/sessions/" +
                        s["session_id"] + "?wait=14")
        res = drive(s["transit_url"], "--login", "bob")
        poll = fut.result()
    assert "Signed in." in res["text"], res
    assert poll.status == 200, (poll.status, poll.text)
    me = api(stack.ingress + "/api/me", token=poll.json()["access_token"])
    assert me.json()["user"]["email"] == "bob@example.com", me.text


def test_denied_at_the_provider(stack):
    r = api(stack.ingress + "/addons/sessions", body={}, method="POST")
    s = r.json()
    res = drive(s["transit_url"], "--login", "carol", "--deny")
    assert res["steps"][-1] == "provider-deny", res
    assert "You declined access at Oidc. Nobody was signed in." in \
        res["text"], res
    poll = Browser().get(stack.ingress + "/addons/sessions/" +
                         s["session_id"] + "?wait=5")
    assert poll.status == 403 and poll.json()["error"] == "access_denied"


def at_provider(access_token):
    """The real provider's userinfo answer to access_token: its status."""
    req = urllib.request.Request(OIDC["issuer"] + "/me", headers={
        "Authorization": "Bearer " + access_token})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_connection_stays_usable_across_expiries(stack):
    """Issue 5, done 1: oidc-provider issues access tokens that live
    ACCESS_TTL seconds and rotates the refresh token on every use (a used
    one presented again is refused and kills the grant). With no user
    action the connection keeps working across several expiries, and the
    agent, listening on the me-channel, always holds the newest token."""
    agent = stack.agent()
    p, url, _ = agent.start_login("oidc", timeout=90)
    res = drive(url, "--login", "dave")
    assert "Signed in." in res["text"], res
    assert agent.finish(p)[0] == 0
    lp = subprocess.Popen([agent.bin, "--home", agent.home, "listen"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=agent.env)
    # The agent has no oidc token yet (sign-in delivers an API token):
    # `token` falls back to the API.
    first = agent.run("token", "oidc").stdout.decode().strip()
    assert at_provider(first) == 200
    deadline = time.time() + 3 * ACCESS_TTL + 2
    while time.time() < deadline:
        time.sleep(2)
        r = agent.run("token", "oidc")
        assert r.returncode == 0, r.stderr
        assert at_provider(r.stdout.decode().strip()) == 200
    # The token `listen` stored is the one the server holds now (a
    # refresh in flight has a moment to arrive), and it is live.
    with open(os.path.join(agent.home, "config.json")) as f:
        api_token = json.load(f)["api_token"]

    def held():
        with open(os.path.join(agent.home, "tokens", "oidc.json")) as f:
            return json.load(f)["access_token"]

    def newest():
        return api(stack.ingress + "/api/providers/oidc/token",
                   token=api_token).json()["access_token"]
    wait_for(lambda: held() == newest(), timeout=5 * SLOW,
             what="the agent to hold the newest token")
    assert held() != first and at_provider(held()) == 200
    lp.send_signal(signal.SIGINT)
    out = lp.communicate(timeout=30)[0].decode()
    assert out.count("token.refreshed oidc") >= 3, out
    assert at_provider(first) == 401  # expired long ago
    assert stack.psql("SELECT status || attempts FROM provider_tokens "
                      "WHERE provider = 'oidc' AND user_id = (SELECT id "
                      "FROM users WHERE subject = 'dave')") == "active0"


OIDC = {}


def setup(stack_kw):
    """Starts oidc-provider with our callback as its redirect URI."""
    port, oidc_port = free_port(), free_port()
    proc = subprocess.Popen(
        ["node", os.path.join(BROWSER_DIR, "oidc_server.mjs"), "--port",
         str(oidc_port), "--client-id", "handshake", "--client-secret",
         SECRET, "--redirect-uri",
         "http://127.0.0.1:%d/no-auth/provider-token/oidc" % port,
         "--access-ttl", str(ACCESS_TTL)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    line = proc.stdout.readline().decode().split()
    assert line and line[0] == "issuer", "oidc-provider did not start"
    issuer = OIDC["issuer"] = line[1]
    stack_kw.update(port=port, extra_env={
        "HS_OIDC_CLIENT_SECRET": SECRET, "HS_SIGNIN_PROVIDER": "oidc",
        "HS_REFRESH_AHEAD": str(ACCESS_TTL // 2)},
        providers={"providers": {"oidc": {
            # Only the issuer: the URLs come from OpenID discovery.
            "issuer": issuer,
            "scopes": ["openid", "email", "profile"],
            "client_id": "handshake",
            "client_secret_env": "HS_OIDC_CLIENT_SECRET",
            "token_auth": "client_secret_basic", "pkce": True,
            "refresh": True, "signin": True}}})

    def cleanup():
        proc.terminate()
        proc.wait(10)
    return cleanup


if __name__ == "__main__":
    main([test_login_from_empty_database_then_connect,
          test_connection_stays_usable_across_expiries,
          test_session_in_the_browser,
          test_denied_at_the_provider], setup=setup)

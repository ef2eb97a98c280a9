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
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Browser, api, b64url, browser_to_provider,  # noqa: E402
                     free_port, main)

HERE = os.path.dirname(os.path.abspath(__file__))
BROWSER_DIR = os.path.join(HERE, "..", "browser")
SECRET = b64url(24)


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


OIDC = {}


def setup(stack_kw):
    """Starts oidc-provider with our callback as its redirect URI."""
    port, oidc_port = free_port(), free_port()
    proc = subprocess.Popen(
        ["node", os.path.join(BROWSER_DIR, "oidc_server.mjs"), "--port",
         str(oidc_port), "--client-id", "handshake", "--client-secret",
         SECRET, "--redirect-uri",
         "http://127.0.0.1:%d/no-auth/provider-token/oidc" % port],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    line = proc.stdout.readline().decode().split()
    assert line and line[0] == "issuer", "oidc-provider did not start"
    issuer = OIDC["issuer"] = line[1]
    stack_kw.update(port=port, extra_env={
        "HS_OIDC_CLIENT_SECRET": SECRET, "HS_SIGNIN_PROVIDER": "oidc"},
        providers={"providers": {"oidc": {
            # Only the issuer: the URLs come from OpenID discovery.
            "issuer": issuer,
            "scopes": ["openid", "email", "profile"],
            "client_id": "handshake",
            "client_secret_env": "HS_OIDC_CLIENT_SECRET",
            "token_auth": "client_secret_basic", "pkce": True,
            "signin": True}}})

    def cleanup():
        proc.terminate()
        proc.wait(10)
    return cleanup


if __name__ == "__main__":
    main([test_login_from_empty_database_then_connect,
          test_session_in_the_browser,
          test_denied_at_the_provider], setup=setup)

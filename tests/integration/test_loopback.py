"""The loopback flow, the integration routes and the provider catalog end
to end, on the real processes (issue 4): hs-agent login --loopback with its own listener, the
"Authorize" POST as the only way to a handle, single use within 60 s,
open-redirect payloads in every parameter, the allow list checked at
start, the connect flow through /integration/{p}/login and /callback, and
the catalog: checked at start, its quirks in the authorize request.

Run: python3 tests/integration/test_loopback.py <build>/bin
"""
import json
import os
import re
import subprocess
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Browser, api, browser_to_provider, csrf_of,  # noqa: E402
                     free_port, main, wait_for)

FIXED_PORT = free_port()
REQUESTERS = ("hs-agent=http://127.0.0.1:*/callback,"
              "fixed=http://127.0.0.1:%d/cb,"
              "ide=vscode://acme.handshake/did-auth" % FIXED_PORT)
SEEN = set()  # every handle and API token a test saw: none may leak


def loopback_count(stack):
    return int(stack.psql("SELECT count(*) FROM handshakes WHERE flow = "
                          "'loopback'"))


def handle_count(stack):
    return int(stack.psql("SELECT count(*) FROM loopback_handles"))


def start_url(stack, query):
    return "%s/web/provider-auth/demo?%s" % (stack.ingress, query)


def sign_in(stack, browser, url):
    """Start -> provider (no confirmation page) -> callback; returns the
    status page path once it asks to authorize."""
    r = browser.get(url)
    assert r.status == 302 and r.location.startswith(stack.provider), \
        (r.status, r.text)
    assert "redirect_uri=" + urllib.parse.quote(
        stack.ingress + "/no-auth/provider-token/demo", safe="") in \
        r.location
    cb = Browser().get(r.location).location
    assert cb and "/no-auth/provider-token/demo?" in cb, cb
    r = browser.get(cb)
    assert r.status == 302 and r.location.startswith("/web/handshake/"), \
        (r.status, r.text)
    path = r.location
    wait_for(lambda: "Authorize" in browser.get(stack.ingress + path).text,
             what="the Authorize page")
    return path


def authorize(stack, browser, path):
    """GET the Authorize page, POST its form; returns the POST's answer."""
    page = browser.get(stack.ingress + path)
    assert page.status == 200, (page.status, page.text)
    return browser.post_form(stack.ingress + path,
                             {"csrf": csrf_of(page.text)})


def handle_of(location, prefix):
    assert location.startswith(prefix + "?code="), location
    code = location[len(prefix) + 6:]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", code), location
    SEEN.add(code)
    return code


def redeem(stack, code):
    r = api(stack.ingress + "/no-auth/loopback-token", body={"code": code},
            method="POST")
    if r.status == 200:
        SEEN.add(r.json()["access_token"])
    return r


# ---- done when 1 -------------------------------------------------------

def test_agent_signs_in_through_its_own_listener(stack):
    """hs-agent listens on 127.0.0.1, the browser brings it the handle
    after "Authorize", the agent redeems it, and its API token works."""
    agent = stack.agent()
    p, url = agent.start_loopback_login()
    q = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)
    assert q["request_from"] == ["hs-agent"], url
    port = int(q["port"][0])
    browser = Browser()
    path = sign_in(stack, browser, url)
    page = browser.get(stack.ingress + path)
    assert "Authorize hs-agent" in page.text, page.text
    assert page.headers["X-Frame-Options"] == "DENY"
    # The form's 302 may only lead to the requester's own origin.
    assert "form-action 'self' http://127.0.0.1:%d" % port in \
        page.headers["Content-Security-Policy"], page.headers
    r = browser.post_form(stack.ingress + path,
                          {"csrf": csrf_of(page.text)})
    assert r.status == 302, (r.status, r.text)
    code = handle_of(r.location, "http://127.0.0.1:%d/callback" % port)
    # The browser follows the redirect to the agent's real listener.
    landing = browser.get(r.location)
    assert landing.status == 200 and "close this tab" in landing.text
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, (out, err)
    assert b"signed in as " in out, out
    # The agent's token works on /api/me; the handle is spent.
    r = subprocess.run([agent.bin, "--home", agent.home, "connect", "demo",
                        "--no-browser", "--timeout", "1"],
                       capture_output=True, timeout=30, env=agent.env)
    assert b"not logged in" not in r.stderr, r.stderr
    r = redeem(stack, code)
    assert r.status == 400 and r.json()["error"] == "invalid_code" and \
        "used already" in r.json()["message"], r.text
    # The page now says it is done; a second POST mints nothing.
    r = browser.post_form(stack.ingress + path,
                          {"csrf": csrf_of(page.text)})
    assert r.status == 409 and not r.location, (r.status, r.text)
    assert "authorized already" in browser.get(stack.ingress + path).text


def test_handle_is_single_use_and_lives_60_seconds(stack):
    browser = Browser()
    path = sign_in(stack, browser, start_url(stack, "request_from=hs-agent"
                                                    "&port=4321"))
    r = authorize(stack, browser, path)
    code = handle_of(r.location, "http://127.0.0.1:4321/callback")
    r = redeem(stack, code)
    assert r.status == 200, r.text
    body = r.json()
    assert set(body) == {"access_token", "token_type", "user"}
    assert body["token_type"] == "Bearer" and body["user"]["email"]
    me = api(stack.ingress + "/api/me", body["access_token"])
    assert me.status == 200 and me.json()["user"]["id"] == \
        body["user"]["id"], me.text
    r = redeem(stack, code)
    assert r.status == 400 and "used already" in r.json()["message"]
    # Age: a handle 59 s old still works, one 61 s old does not.
    for age, ok in ((59, True), (61, False)):
        browser = Browser()
        path = sign_in(stack, browser, start_url(
            stack, "request_from=hs-agent&port=4321"))
        code = handle_of(authorize(stack, browser, path).location,
                         "http://127.0.0.1:4321/callback")
        hid = path.rsplit("/", 1)[1]
        stack.psql("UPDATE loopback_handles SET created_at = now() - "
                   "interval '%d seconds' WHERE handshake_id = '%s'"
                   % (age, hid))
        r = redeem(stack, code)
        if ok:
            assert r.status == 200, r.text
        else:
            assert r.status == 400 and "older than 60 seconds" in \
                r.json()["message"], r.text
    for bad in ({}, {"code": 5}, {"code": "short"}, {"code": "x" * 43},
                {"code": "A" * 43}):
        r = api(stack.ingress + "/no-auth/loopback-token", body=bad,
                method="POST")
        assert r.status == 400, (bad, r.status, r.text)
    r = api(stack.ingress + "/no-auth/loopback-token", method="GET")
    assert r.status == 405


# ---- done when 2 -------------------------------------------------------

def test_no_handle_without_the_authorize_post(stack):
    browser = Browser()
    path = sign_in(stack, browser, start_url(stack, "request_from=hs-agent"
                                                    "&port=4322"))
    before = handle_count(stack)
    # A GET only shows the page.
    page = browser.get(stack.ingress + path)
    assert page.status == 200 and not page.location
    csrf = csrf_of(page.text)
    # A POST without the CSRF token, with a wrong one, or with one made for
    # another handshake.
    for fields in ({}, {"csrf": ""}, {"csrf": "A" * 43},
                   {"csrf": csrf[:-1] + ("A" if csrf[-1] != "A" else "B")}):
        r = browser.post_form(stack.ingress + path, fields)
        assert r.status == 403 and not r.location, (fields, r.status)
    # Another browser: with or without the right CSRF token.
    other = Browser()
    for fields in ({"csrf": csrf}, {}):
        r = other.post_form(stack.ingress + path, fields)
        assert r.status == 403 and not r.location, (r.status, r.text)
    assert other.get(stack.ingress + path).status == 403
    # The CSRF token of this browser does not fit another handshake.
    path2 = sign_in(stack, browser, start_url(stack, "request_from=hs-agent"
                                                     "&port=4322"))
    r = browser.post_form(stack.ingress + path2, {"csrf": csrf})
    assert r.status == 403 and not r.location
    assert handle_count(stack) == before
    # Extra fields or a query on the POST change nothing of the target.
    r = browser.post_form(stack.ingress + path + "?redirect=//evil",
                          {"csrf": csrf, "redirect_uri": "http://evil/",
                           "port": "1"})
    assert r.status == 302
    handle_of(r.location, "http://127.0.0.1:4322/callback")


def test_denied_sign_in_authorizes_nothing(stack):
    browser = Browser()
    r = browser.get(start_url(stack, "request_from=hs-agent&port=4326"))
    state = urllib.parse.parse_qs(urllib.parse.urlparse(r.location).query)[
        "state"][0]
    r = browser.get(stack.ingress + "/no-auth/provider-token/demo?" +
                    urllib.parse.urlencode({"error": "access_denied",
                                            "state": state}))
    assert r.status == 302, (r.status, r.text)
    path = r.location
    page = wait_for(lambda: (lambda p: p if "declined" in p.text else None)(
        browser.get(stack.ingress + path)), what="the declined page")
    assert "Nobody was signed in" in page.text and "csrf" not in page.text
    before = handle_count(stack)
    r = browser.post_form(stack.ingress + path, {"csrf": "A" * 43})
    assert r.status == 409 and not r.location, (r.status, r.text)
    assert handle_count(stack) == before


# request_from / port values that must never produce a redirect.
PAYLOADS = [
    "//evil.example", "\\\\evil.example", "http://127.0.0.1.evil.example",
    "http://127.0.0.1@evil.example", "http://evil.example",
    "https://evil.example/", "%2F%2Fevil.example", "%5C%5Cevil.example",
    "/\\evil.example", "javascript:alert(1)", "hs-agent@evil.example",
    "hs-agent/../evil", "hs-agent%00", "hs-agent ", "HS-AGENT", "hs-agent#",
    "hs-agent?x=//evil", "127.0.0.1", "evil", "", "http:%2F%2Fevil.example",
    "hs-agent%2Fevil", "1@evil.example", "80/evil",
    "80#@evil.example", "80%2F%2Fevil.example", "0", "65536", "-1", "1e3",
    "080", "80,81", "+80", "0x50", " 80",
]


def test_open_redirect_payloads_never_redirect(stack):
    before = loopback_count(stack)
    queries = []
    for v in PAYLOADS:
        enc = urllib.parse.quote(v, safe="%")
        queries.append("request_from=%s&port=4323" % enc)
        queries.append("request_from=%s" % enc)
        queries.append("request_from=hs-agent&port=%s" % enc)
        queries.append("request_from=ide&port=%s" % enc)
        queries.append("request_from=fixed&port=%s" % enc)
    queries += [
        "request_from=hs-agent",  # an any-port entry needs its port
        "request_from=fixed&port=%d" % FIXED_PORT,  # fixed: no port
        "request_from=ide&port=80",
        "request_from=hs-agent&port=4323&redirect_uri=http://evil.example",
        "request_from=hs-agent&port=4323&redirect=//evil.example",
        "request_from=hs-agent&port=4323&next=//evil.example",
        "request_from=hs-agent&port=4323&port=4324",
        "request_from=hs-agent&request_from=ide&port=4323",
        "request_from=hs-agent&port=4323&code=x",
        "port=4323",
    ]
    for q in queries:
        r = Browser().get(start_url(stack, q))
        location = r.location or ""
        assert r.status == 400 and not location, (q, r.status, location)
    # The same on the integration alias.
    r = Browser().get(stack.ingress + "/integration/demo/login?request_from="
                      "%2F%2Fevil.example")
    assert r.status == 400 and not r.location
    assert loopback_count(stack) == before
    # Payloads in the path never reach a loopback start either.
    for path in ("/web/provider-auth/%2F%2Fevil.example?request_from="
                 "hs-agent&port=1", "/web/provider-auth/demo/..%2Fevil?"
                 "request_from=hs-agent&port=1"):
        r = Browser().get(stack.ingress + path)
        assert r.status == 404 and not r.location, (path, r.status)


def test_fixed_port_and_private_scheme_entries(stack):
    browser = Browser()
    path = sign_in(stack, browser, start_url(stack, "request_from=fixed"))
    r = authorize(stack, browser, path)
    handle_of(r.location, "http://127.0.0.1:%d/cb" % FIXED_PORT)
    browser = Browser()
    path = sign_in(stack, browser, start_url(stack, "request_from=ide"))
    page = browser.get(stack.ingress + path)
    assert "form-action 'self' vscode:" in \
        page.headers["Content-Security-Policy"]
    r = browser.post_form(stack.ingress + path, {"csrf": csrf_of(page.text)})
    handle_of(r.location, "vscode://acme.handshake/did-auth")


def test_non_loopback_entries_are_refused_at_start(stack):
    for spec in ("x=https://evil.example/cb", "x=http://evil.example/cb",
                 "x=http://127.0.0.1.evil.example/cb",
                 "x=http://127.0.0.1@evil.example/cb", "x=//evil.example",
                 "x=javascript:alert(1)", "x=http://127.0.0.1/cb?next=//e",
                 "x=http://[::1]:*/a/../b", "x=data:text/html,x",
                 "x=http://127.0.0.1:*/cb,x=vscode://a/b"):
        env = dict(stack.env, HS_REQUESTERS=spec,
                   HS_PUBLIC_URL="http://127.0.0.1:1")
        r = subprocess.run([os.path.join(stack.bindir, "hs-ingress"),
                            "--check-config"], env=env, capture_output=True,
                           timeout=30)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and \
            b"HS_REQUESTERS: " in lines[0], (spec, r.returncode, r.stderr)


def test_signin_provider_required(stack):
    # A provider not marked "signin" cannot start a loopback flow.
    r = Browser().get(stack.ingress + "/web/provider-auth/plain?"
                      "request_from=hs-agent&port=4325")
    assert r.status == 400 and not r.location
    assert "cannot be used to sign in" in r.text


# ---- done when 4 -------------------------------------------------------

def test_integration_routes_run_the_connect_flow(stack):
    agent = stack.agent()
    agent.login()
    p, url, user_code = agent.start_connect()
    q = urllib.parse.urlparse(url).query
    url = "%s/integration/demo/login?%s" % (stack.ingress, q)
    browser = Browser()
    page = browser.get(url)
    assert page.status == 200 and user_code in page.text
    # The form posts back to the path it was served on.
    assert 'action="?code=' in page.text, page.text
    authorize_url = browser_to_provider(browser, url)
    want = stack.ingress + "/integration/demo/callback"
    assert urllib.parse.parse_qs(urllib.parse.urlparse(authorize_url).query)[
        "redirect_uri"] == [want], authorize_url
    cb = Browser().get(authorize_url).location
    assert cb.startswith(want + "?"), cb
    r = browser.get(cb)
    assert r.status == 302 and r.location.startswith("/web/handshake/")
    rc, out, err = agent.finish(p)
    assert rc == 0 and "connected demo" in out, (rc, out, err)
    issued = stack.stats()["issued"][-1]["access_token"]
    assert agent.run("token", "demo").stdout.decode().strip() == issued


# ---- done when 3 -------------------------------------------------------

def check_config(stack, **env):
    e = dict(stack.env, HS_PUBLIC_URL="http://127.0.0.1:1")
    for k in [k for k in e if k.endswith(("_CLIENT_ID", "_CLIENT_SECRET"))
              and k != "HS_DEMO_CLIENT_SECRET"]:
        del e[k]
    e.update(env)
    r = subprocess.run([os.path.join(stack.bindir, "hs-ingress"),
                        "--check-config"], env=e, capture_output=True,
                       timeout=30)
    return r.returncode, r.stderr.decode().strip().splitlines()


def test_catalog_is_checked_at_start(stack):
    shipped = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           "..", "..", "schemas", "providers.json")
    rc, err = check_config(stack, HS_PROVIDERS=shipped)
    assert rc == 2 and len(err) == 1 and "every provider is disabled" in \
        err[0], (rc, err)
    rc, err = check_config(stack, HS_PROVIDERS=shipped,
                           HS_GITHUB_CLIENT_ID="Iv1.x", HS_SIGNIN_PROVIDER="")
    assert rc == 2 and len(err) == 1 and 'provider "github": ' \
        "HS_GITHUB_CLIENT_SECRET (its client_secret_env) is not set" in \
        err[0], (rc, err)
    rc, err = check_config(stack, HS_PROVIDERS=shipped,
                           HS_GITHUB_CLIENT_ID="Iv1.x",
                           HS_GITHUB_CLIENT_SECRET="s", HS_SIGNIN_PROVIDER="")
    assert rc == 0, (rc, err)
    for body, want in (
            ({"acme": {"authorize_url": "https://a.example/a", "scopes":
                       ["x"], "client_id": "c", "client_secret_env":
                       "HS_DEMO_CLIENT_SECRET", "token_url":
                       "https://a.example/t", "scope": "x"}},
             'provider "acme": unknown key "scope"'),
            ({"acme": {"authorize_url": "http://a.example/a", "scopes": ["x"],
                       "client_id": "c", "token_url": "https://a.example/t",
                       "client_secret_env": "HS_DEMO_CLIENT_SECRET"}},
             'provider "acme": "authorize_url" must be an https URL'),
            ({"acme": {"authorize_url": "https://a.example/a",
                       "scopes": ["x"], "client_id": "c",
                       "client_secret_env": "HS_DEMO_CLIENT_SECRET"}},
             'provider "acme": "token_url" is required'),
            ({"ac-me": {}}, 'provider name "ac-me" must match'),
            ({"acme": {"authorize_url": "https://a.example/a",
                       "token_url": "https://a.example/t", "scopes": ["x"],
                       "client_id": "c", "client_secret_env":
                       "HS_DEMO_CLIENT_SECRET",
                       "authorize_params": {"redirect_uri": "https://e/"}}},
             'provider "acme": "authorize_params" cannot set '
             '"redirect_uri"')):
        path = os.path.join(stack.tmp, "bad.json")
        with open(path, "w") as f:
            json.dump({"providers": body}, f)
        rc, err = check_config(stack, HS_PROVIDERS=path,
                               HS_INSECURE_HTTP="0", HS_SIGNIN_PROVIDER="")
        assert rc == 2 and len(err) == 1 and want in err[0], (want, rc, err)


def test_catalog_quirks_reach_the_authorize_url(stack):
    code = api(stack.ingress + "/api/provider-auth-code", stack.token,
               body={}, method="POST").json()["code"]
    location = browser_to_provider(
        Browser(), "%s/web/provider-auth/plain?code=%s" % (stack.ingress,
                                                          code))
    q = urllib.parse.parse_qs(urllib.parse.urlparse(location).query)
    assert location.startswith("https://plain.invalid/authorize?")
    assert q["scope"] == ["read,write"], location
    assert q["audience"] == ["api.example"] and q["prompt"] == ["consent"]
    assert q["response_type"] == ["code"] and len(q["state"]) == 1


def test_no_secret_leaks(stack):
    assert len(SEEN) >= 8
    stack.assert_no_secret(SEEN)


PLAIN = {"providers": {"plain": {
    "authorize_url": "https://plain.invalid/authorize",
    "token_url": "https://plain.invalid/token",
    "scopes": ["read", "write"], "client_id": "x",
    "client_secret_env": "HS_DEMO_CLIENT_SECRET", "scope_separator": ",",
    "authorize_params": {"audience": "api.example", "prompt": "consent"}}}}

if __name__ == "__main__":
    main([test_agent_signs_in_through_its_own_listener,
          test_handle_is_single_use_and_lives_60_seconds,
          test_no_handle_without_the_authorize_post,
          test_denied_sign_in_authorizes_nothing,
          test_open_redirect_payloads_never_redirect,
          test_fixed_port_and_private_scheme_entries,
          test_non_loopback_entries_are_refused_at_start,
          test_signin_provider_required,
          test_integration_routes_run_the_connect_flow,
          test_catalog_is_checked_at_start,
          test_catalog_quirks_reach_the_authorize_url,
          test_no_secret_leaks],
         extra_env={"HS_REQUESTERS": REQUESTERS}, providers=PLAIN)

#!/usr/bin/env python3
"""Self-check of the browser-test tools, without the handshake server.

Starts oidc_server.mjs (panva/oidc-provider) on a free port and a tiny
http.server standing in for the client's redirect URI
(http://127.0.0.1:<port2>/web/handshake/cb, any GET answers "done"), then:

  allow: drive.mjs signs in on the provider's own login and consent pages;
         the redirect carries code= and our state; the code is exchanged at
         the token endpoint (client_secret_basic + code_verifier) for an
         id_token with our nonce and aud, and userinfo gives the email.
  deny:  drive.mjs --deny cancels on the consent page; the redirect carries
         error=access_denied and our state.

Kills only the processes it started. Needs scripts/setup-browser first.
Run: python3 tests/browser/selfcheck.py   (prints "2 passed, 0 failed")
"""
import base64
import hashlib
import http.server
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT_ID = "selfcheck"
CLIENT_SECRET = secrets.token_urlsafe(24)
DEADLINE = time.monotonic() + 55  # the whole check stops by itself


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def left():
    return max(1.0, DEADLINE - time.monotonic())


class Done(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"<!doctype html><title>done</title><body>done</body>"
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except ConnectionError:
            pass  # the browser closed first (it is done, or closing)

    def log_message(self, *a):
        pass


def start_provider(port, redirect):
    p = subprocess.Popen(
        ["node", os.path.join(HERE, "oidc_server.mjs"), "--port", str(port),
         "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET,
         "--redirect-uri", redirect],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = [None]

    def read():
        line[0] = p.stdout.readline().decode()
    t = threading.Thread(target=read, daemon=True)
    t.start()
    t.join(20)
    want = "issuer http://127.0.0.1:%d\n" % port
    if line[0] != want:
        p.kill()
        raise AssertionError("oidc_server.mjs printed %r, not %r; stderr: %s"
                             % (line[0], want, p.stderr.read().decode()))
    # Drain stderr (its development warnings) so it never blocks.
    threading.Thread(target=p.stderr.read, daemon=True).start()
    return p


def get_json(url, data=None, headers=None):
    req = urllib.request.Request(url, data=data, headers=headers or {})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


def drive(url, *extra):
    # Its own process group: on a hang, node and its Chromium go together.
    p = subprocess.Popen(
        ["node", os.path.join(HERE, "drive.mjs"), url,
         "--until", "/web/handshake/",
         "--timeout", str(int(min(20, left()) * 1000))] + list(extra),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True)
    try:
        out, err = p.communicate(timeout=left())
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        raise
    lines = out.decode().strip().splitlines()
    assert lines, "drive.mjs printed nothing; stderr: %s" % err.decode()
    res = json.loads(lines[-1])
    assert p.returncode == 0, (res, err.decode()[-2000:])
    return res


def authorize(issuer, redirect, state, nonce, verifier):
    meta = get_json(issuer + "/.well-known/openid-configuration")
    assert meta["issuer"] == issuer, meta["issuer"]
    challenge = b64url(hashlib.sha256(verifier.encode()).digest())
    q = urllib.parse.urlencode({
        "response_type": "code", "client_id": CLIENT_ID,
        "redirect_uri": redirect, "scope": "openid email profile",
        "state": state, "nonce": nonce, "code_challenge": challenge,
        "code_challenge_method": "S256"})
    return meta, meta["authorization_endpoint"] + "?" + q


def check_allow(issuer, redirect):
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    verifier = secrets.token_urlsafe(48)
    meta, url = authorize(issuer, redirect, state, nonce, verifier)
    res = drive(url, "--login", "alice")
    assert res["steps"] == ["provider-login", "provider-consent"], res
    assert res["text"].strip() == "done", res
    final = urllib.parse.urlsplit(res["url"])
    assert final.path == "/web/handshake/cb", res["url"]
    q = urllib.parse.parse_qs(final.query)
    assert q.get("state") == [state], q.get("state")
    assert "code" in q and "error" not in q, list(q)
    assert q.get("iss") == [issuer], q.get("iss")  # RFC 9207, on by default

    basic = base64.b64encode(("%s:%s" % (
        urllib.parse.quote(CLIENT_ID, safe=""),
        urllib.parse.quote(CLIENT_SECRET, safe=""))).encode()).decode()
    tok = get_json(meta["token_endpoint"], urllib.parse.urlencode({
        "grant_type": "authorization_code", "code": q["code"][0],
        "redirect_uri": redirect, "code_verifier": verifier}).encode(),
        {"Authorization": "Basic " + basic,
         "Content-Type": "application/x-www-form-urlencoded"})
    assert tok["token_type"] == "Bearer", tok["token_type"]
    assert "refresh_token" not in tok, "no offline_access, no refresh token"
    claims = json.loads(b64url_decode(tok["id_token"].split(".")[1]))
    assert claims["nonce"] == nonce, claims.get("nonce")
    assert claims["aud"] == CLIENT_ID, claims.get("aud")
    assert claims["iss"] == issuer, claims.get("iss")
    assert claims["sub"] == "alice", claims.get("sub")
    # Code flow: oidc-provider (conformIdTokenClaims) keeps scope claims out
    # of the ID token; they are served by userinfo.
    assert "email" not in claims, claims

    info = get_json(meta["userinfo_endpoint"],
                    headers={"Authorization": "Bearer " + tok["access_token"]})
    assert info["sub"] == "alice", info
    assert info["email"] == "alice@example.com", info
    assert info["name"] == "User alice", info


def check_deny(issuer, redirect):
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    verifier = secrets.token_urlsafe(48)
    _, url = authorize(issuer, redirect, state, nonce, verifier)
    res = drive(url, "--login", "bob", "--deny")
    assert res["steps"] == ["provider-login", "provider-deny"], res
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(res["url"]).query)
    assert q.get("error") == ["access_denied"], res["url"]
    assert q.get("state") == [state], q.get("state")
    assert "code" not in q, list(q)


def main():
    port, port2 = free_port(), free_port()
    redirect = "http://127.0.0.1:%d/web/handshake/cb" % port2
    issuer = "http://127.0.0.1:%d" % port
    web = http.server.ThreadingHTTPServer(("127.0.0.1", port2), Done)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    provider = None
    passed = failed = 0
    try:
        provider = start_provider(port, redirect)
        for check in (check_allow, check_deny):
            try:
                check(issuer, redirect)
                passed += 1
                print("ok %s" % check.__name__, flush=True)
            except Exception as e:  # report and go on to the next check
                failed += 1
                print("FAIL %s: %r" % (check.__name__, e), flush=True)
    finally:
        if provider is not None:
            provider.terminate()
            try:
                rc = provider.wait(5)
            except subprocess.TimeoutExpired:
                provider.kill()
                provider.wait()
                rc = "killed"
            if rc != 0:
                failed += 1
                print("FAIL oidc_server.mjs exit on SIGTERM: %s" % rc)
        web.shutdown()
        web.server_close()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Several environments (issue 7): a shared development app with one
callback URL, and the routing of each callback to the environment that
started the flow.

The hs-dev stack is environment "dev"; a second hs-ingress is "qa", on the
same keys (shared here with Kafka, PostgreSQL and the workers, for
simplicity). The demo provider is marked use_auth_origin in qa's catalog
and qa's HS_AUTH_ORIGIN is dev's URL, so qa's flows come back to dev's
callback URL, and dev sends each on to qa (HS_ENV_ROUTES).

Run: python3 tests/integration/test_envs.py <build>/bin
"""
import hashlib
import hmac
import http.server
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Browser, b64url, browser_to_provider,  # noqa: E402
                     free_port, main, wait_for)

QA_PORT = free_port()
QA = "http://127.0.0.1:%d" % QA_PORT
SLACK_SECRET = b64url(24)
HOOKS_SECRET = b64url(24)
ENV = {"HS_ENV_ROUTES": "qa=%s,ops=http://127.0.0.1:9" % QA,
       "HS_SLACK_SIGNING_SECRET": SLACK_SECRET,
       "HS_HOOKS_SECRET": HOOKS_SECRET,
       "HS_SLACK_CLIENT_SECRET": b64url(24)}


def webhook_provider(webhook):
    return {"authorize_url": "https://slack.com/oauth/v2/authorize",
            "token_url": "https://slack.com/api/oauth.v2.access",
            "scopes": ["commands"], "client_id": "test",
            "client_secret_env": "HS_SLACK_CLIENT_SECRET",
            "webhook": webhook}


PROVIDERS = {"providers": {
    "slack": webhook_provider({"scheme": "slack",
                               "secret_env": "HS_SLACK_SIGNING_SECRET"}),
    "hooks": webhook_provider({"scheme": "hmac-sha256",
                               "secret_env": "HS_HOOKS_SECRET",
                               "header": "X-Hub-Signature-256",
                               "prefix": "sha256="})}}
SEEN = {}


def qa_catalog(stack):
    with open(stack.env["HS_PROVIDERS"]) as f:
        cat = json.load(f)
    cat["providers"]["demo"]["use_auth_origin"] = True
    path = os.path.join(stack.tmp, "qa-providers.json")
    with open(path, "w") as f:
        json.dump(cat, f)
    return path


def qa_ingress(stack):
    if "qa" not in SEEN:
        SEEN["qa"] = stack.start_ingress(
            port=QA_PORT, HS_ENV="qa", HS_AUTH_ORIGIN=stack.ingress,
            HS_PROVIDERS=qa_catalog(stack))
    return SEEN["qa"]


def callbacks(stack):
    return len(stack.kcat_list("hs.callbacks"))


def test_a_qa_flow_completes_through_the_dev_callback(stack):
    qa = qa_ingress(stack)
    agent = stack.agent()
    agent.login(server=qa)
    p, url, _ = agent.start_connect()
    assert url.startswith(QA + "/web/provider-auth/demo?"), url
    b = Browser()
    authorize = browser_to_provider(b, url)
    # use_auth_origin: the redirect URI is on HS_AUTH_ORIGIN (dev's URL).
    q = urllib.parse.parse_qs(urllib.parse.urlparse(authorize).query)
    assert q["redirect_uri"] == [stack.ingress +
                                 "/no-auth/provider-token/demo"], q
    assert q["state"][0].startswith("qa."), q["state"]
    cb = Browser().get(authorize).location
    assert cb.startswith(stack.ingress + "/no-auth/provider-token/demo?")
    SEEN["cb"] = cb
    before = callbacks(stack)
    # dev routes it to qa: same path, same query.
    r = b.get(cb)
    assert r.status == 302, (r.status, r.text)
    assert r.location.startswith(QA + "/no-auth/provider-token/demo?")
    assert urllib.parse.parse_qs(urllib.parse.urlparse(r.location).query) \
        == urllib.parse.parse_qs(urllib.parse.urlparse(cb).query)
    assert callbacks(stack) == before  # dev emitted nothing
    r = b.get(r.location)
    assert r.status == 302 and r.location.startswith("/web/handshake/"), \
        (r.status, r.text)
    # The token request repeated the redirect URI: the demo provider
    # refuses a token request whose redirect_uri differs from the
    # authorize request's, so a connected agent proves they matched.
    rc, out, err = agent.finish(p)
    assert rc == 0 and "connected demo" in out, (rc, out, err)


def test_unknown_and_tampered_environments_are_refused(stack):
    qa = qa_ingress(stack)
    cb = SEEN["cb"]
    state = urllib.parse.parse_qs(urllib.parse.urlparse(cb).query)["state"][0]
    rest = state.split(".", 1)[1]

    def with_state(base, s):
        u = urllib.parse.urlparse(cb)
        q = urllib.parse.parse_qs(u.query)
        q["state"] = [s]
        return base + u.path + "?" + urllib.parse.urlencode(q, doseq=True)

    before = callbacks(stack)
    # An environment with no route.
    r = Browser().get(with_state(stack.ingress, "zz." + rest))
    assert r.status == 400 and r.location is None, r.status
    assert "does not know" in r.text
    # qa's state renamed to dev: dev opens it and finds qa sealed inside.
    r = Browser().get(with_state(stack.ingress, "dev." + rest))
    assert r.status == 400 and r.location is None, r.status
    # A dev state renamed to qa: routed, then refused by qa.
    agent = stack.agent()
    agent.login()
    p, url, _ = agent.start_connect(timeout=30)
    dev_cb = Browser().get(browser_to_provider(Browser(), url)).location
    dev_state = urllib.parse.parse_qs(
        urllib.parse.urlparse(dev_cb).query)["state"][0]
    assert dev_state.startswith("dev.")
    r = Browser().get(with_state(stack.ingress,
                                 "qa." + dev_state.split(".", 1)[1]))
    assert r.status == 302 and r.location.startswith(QA), r.status
    r = Browser().get(r.location)
    assert r.status == 400 and r.location is None, r.status
    assert callbacks(stack) == before
    p.kill()
    p.wait()
    # qa itself refuses a state of an environment it has no route to.
    r = Browser().get(with_state(qa, "zz." + rest))
    assert r.status == 400, r.status


def test_auth_origin_is_required_by_use_auth_origin(stack):
    env = dict(stack.env, HS_PROVIDERS=qa_catalog(stack),
               HS_PUBLIC_URL="http://127.0.0.1:1")
    env.pop("HS_AUTH_ORIGIN", None)
    r = subprocess.run([os.path.join(stack.bindir, "hs-ingress"),
                        "--check-config"], env=env, capture_output=True,
                       timeout=30)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and \
        b"HS_AUTH_ORIGIN" in lines[0], (r.returncode, r.stderr)
    for bad in ("qa", "qa=ftp://x", "QA=http://127.0.0.1:1",
                "qa=http://127.0.0.1:1/path", "qa=http://a.example"):
        env = dict(stack.env, HS_ENV_ROUTES=bad,
                   HS_PUBLIC_URL="http://127.0.0.1:1")
        env.pop("HS_INSECURE_HTTP", None)
        r = subprocess.run([os.path.join(stack.bindir, "hs-ingress"),
                            "--check-config"], env=env, capture_output=True,
                           timeout=30)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and \
            b"HS_ENV_ROUTES" in lines[0], (bad, r.returncode, r.stderr)


# ---- webhooks through hs.webhooks and hs-relay --------------------------

class Sink:
    """A local HTTP server in the private environment: records each
    request; answers the status set for its path (200 otherwise)."""

    def __init__(self):
        self.got = []
        self.status = {}
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                sink.got.append((self.path, list(self.headers.items()),
                                 body))
                self.send_response(sink.status.get(self.path, 200))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                      Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever,
                         daemon=True).start()


def relays(stack):
    """A relay and its local server for "dev" and for "qa"."""
    if "sinks" not in SEEN:
        SEEN["sinks"] = {}
        for env in ("dev", "qa"):
            sink = Sink()
            stack.spawn("hs-relay", dict(stack.env, HS_ENV=env,
                                         HS_RELAY_URL=sink.url))
            SEEN["sinks"][env] = sink
        wait_for(lambda: open(stack.log_path, "rb").read().count(
            b'"svc":"hs-relay","event":"kafka.rebalance","change":"assign"')
            >= 2, timeout=60, what="both relays to join")
    return SEEN["sinks"]


def slack_sign(body, ts, secret=SLACK_SECRET):
    base = b"v0:" + str(ts).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def post(url, body, headers):
    return Browser().request(url, body, headers, "POST")


def slack_post(stack, body, env=None, ts=None, sig=None, extra=None):
    ts = int(time.time()) if ts is None else ts
    h = {"Content-Type": "application/x-www-form-urlencoded",
         "X-Slack-Request-Timestamp": str(ts),
         "X-Slack-Signature": sig or slack_sign(body, ts)}
    h.update(extra or {})
    url = stack.ingress + "/no-auth/webhooks/slack"
    if env:
        url += "?env=" + env
    return post(url, body, h), h


def published(stack):
    """Requests on hs.webhooks (answers left out)."""
    return stack.kcat_raw("hs.webhooks").count(b"webhook.received")


def test_signed_webhooks_reach_the_local_server(stack):
    sinks = relays(stack)
    body = b"payload=" + urllib.parse.quote(json.dumps(
        {"type": "block_actions", "n": 1})).encode()
    r, sent = slack_post(stack, body, env="qa", extra={"X-Custom": "kept"})
    assert r.status == 200 and r.text == "", (r.status, r.text)
    wait_for(lambda: sinks["qa"].got, timeout=30, what="the qa relay")
    path, headers, got = sinks["qa"].got[0]
    assert path == "/no-auth/webhooks/slack?env=qa", path
    assert got == body
    hdrs = {k.lower(): v for k, v in headers}
    for k, v in sent.items():
        assert hdrs.get(k.lower()) == v, (k, hdrs)
    # One for dev: only dev's relay delivers it (and qa's was not).
    body2 = b"payload=%7B%22n%22%3A2%7D"
    assert slack_post(stack, body2)[0].status == 200
    wait_for(lambda: sinks["dev"].got, timeout=30, what="the dev relay")
    assert [g[2] for g in sinks["dev"].got] == [body2]
    assert len(sinks["qa"].got) == 1
    # The local answer goes back on hs.webhooks; the request is sealed.
    sinks["qa"].status["/no-auth/webhooks/slack?env=qa"] = 500
    assert slack_post(stack, b"payload=3", env="qa")[0].status == 200
    wait_for(lambda: b'"event":"webhook.relayed"' in
             open(stack.log_path, "rb").read() and
             b'"status":500' in open(stack.log_path, "rb").read(),
             timeout=30, what="the 500 to be relayed back")
    raw = stack.kcat_raw("hs.webhooks")
    assert raw.count(b"webhook.relayed") >= 3, raw.count(b"webhook.relayed")
    assert b"block_actions" not in raw and SLACK_SECRET.encode() not in raw
    # The generic HMAC scheme.
    body3 = b'{"event":"push"}'
    mac = hmac.new(HOOKS_SECRET.encode(), body3, hashlib.sha256).hexdigest()
    r = post(stack.ingress + "/no-auth/webhooks/hooks", body3,
             {"Content-Type": "application/json",
              "X-Hub-Signature-256": "sha256=" + mac})
    assert r.status == 200, (r.status, r.text)
    wait_for(lambda: any(g[2] == body3 for g in sinks["dev"].got),
             timeout=30, what="the hmac-signed request")


def test_forged_stale_replayed_and_unsigned_are_refused(stack):
    sinks = relays(stack)
    before = published(stack)
    delivered = (len(sinks["dev"].got), len(sinks["qa"].got))
    body = b"payload=%7B%22n%22%3A9%7D"
    now = int(time.time())
    r, _ = slack_post(stack, body, sig=slack_sign(body, now, "wrong-secret"))
    assert r.status == 401 and r.json()["error"] == "bad_signature", r.text
    r, _ = slack_post(stack, body, ts=now - 301)
    assert r.status == 401 and r.json()["error"] == "stale", r.text
    # (a minute past the window: the ingress's clock has moved on since
    # `now`, by over a second under valgrind)
    r, _ = slack_post(stack, body, ts=int(time.time()) + 360)
    assert r.status == 401 and r.json()["error"] == "stale", r.text
    r = post(stack.ingress + "/no-auth/webhooks/slack", body,
             {"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 401 and r.json()["error"] == "unsigned", r.text
    # A changed body under a good signature.
    r, _ = slack_post(stack, body + b"x", sig=slack_sign(body, now), ts=now)
    assert r.status == 401 and r.json()["error"] == "bad_signature", r.text
    r = post(stack.ingress + "/no-auth/webhooks/hooks", b"{}",
             {"X-Hub-Signature-256": "sha256=" + "0" * 64})
    assert r.status == 401 and r.json()["error"] == "bad_signature", r.text
    r, _ = slack_post(stack, body, env="zz")
    assert r.status == 400 and r.json()["error"] == "unknown_env", r.text
    big = b"payload=" + b"x" * (256 * 1024)
    r, _ = slack_post(stack, big)
    assert r.status == 413, r.status
    r = post(stack.ingress + "/no-auth/webhooks/demo", body, {})
    assert r.status == 404, r.status
    assert published(stack) == before
    # Replayed: the same signed request twice.
    r, sent = slack_post(stack, body, ts=now)
    assert r.status == 200, (r.status, r.text)
    r = post(stack.ingress + "/no-auth/webhooks/slack", body, sent)
    assert r.status == 401 and r.json()["error"] == "replayed", r.text
    assert published(stack) == before + 1
    wait_for(lambda: len(sinks["dev"].got) == delivered[0] + 1, timeout=30,
             what="the one good request")
    time.sleep(1)
    assert (len(sinks["dev"].got), len(sinks["qa"].got)) == (
        delivered[0] + 1, delivered[1])
    audit = stack.kcat_raw("hs.audit")
    for a in (b"webhook.received", b"webhook.rejected", b"webhook.relayed"):
        assert a in audit, a
    # hs-relay checks its configuration.
    e = dict(stack.env)
    e.pop("HS_RELAY_URL", None)
    r = subprocess.run([os.path.join(stack.bindir, "hs-relay"),
                        "--check-config"], env=e, capture_output=True,
                       timeout=30)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and \
        b"HS_RELAY_URL" in lines[0], r.stderr


def joined(stack, n):
    wait_for(lambda: open(stack.log_path, "rb").read().count(
        b'"svc":"hs-relay","event":"kafka.rebalance","change":"assign"')
        >= n, timeout=60, what="%d relay assignments" % n)


def dlq(stack, *args):
    r = subprocess.run([os.path.join(stack.bindir, "hs-dlq"), "--brokers",
                        stack.kafka] + list(args), capture_output=True,
                       timeout=60, env=stack.env)
    assert b"Sanitizer" not in r.stderr, r.stderr
    return r


def letters(stack):
    r = dlq(stack, "list")
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.decode().splitlines()]


def test_a_dead_letter_is_listed_and_redriven_once_fixed(stack):
    relays(stack)  # two relays joined already
    sink = Sink()
    # Environment "ops" gets a relay whose keys are wrong: it cannot open
    # the request, and dead-letters it.
    bad = stack.spawn("hs-relay", dict(stack.env, HS_ENV="ops",
                                       HS_RELAY_URL=sink.url,
                                       HS_SECRET_KEYS="it9:" + b64url(32)))
    joined(stack, 3)
    body = b"payload=%7B%22ops%22%3A1%7D"
    assert slack_post(stack, body, env="ops")[0].status == 200
    dead = wait_for(lambda: [x for x in letters(stack)
                             if x["topic"] == "hs.webhooks"],
                    timeout=30, what="the dead letter")
    assert len(dead) == 1 and dead[0]["reason"] == "unreadable_sealed_part" \
        and dead[0]["svc"] == "hs-relay" and not dead[0]["redriven"], dead
    assert sink.got == []
    # Fixed: the relay restarts with the right keys; the letter goes back.
    bad.terminate()
    bad.wait(30)
    stack.spawn("hs-relay", dict(stack.env, HS_ENV="ops",
                                 HS_RELAY_URL=sink.url))
    joined(stack, 4)
    r = dlq(stack, "redrive", dead[0]["dlq"])
    assert r.returncode == 0 and b"redriven to hs.webhooks" in r.stdout, r
    wait_for(lambda: sink.got, timeout=30, what="the re-driven request")
    assert sink.got[0][2] == body
    # Once: a second redrive says so and sends nothing.
    r = dlq(stack, "redrive", dead[0]["dlq"])
    assert r.returncode == 0 and b"redriven already" in r.stdout, r
    assert [x["redriven"] for x in letters(stack)
            if x["dlq"] == dead[0]["dlq"]] == [True]
    r = dlq(stack, "redrive", "0:999999")
    assert r.returncode == 1 and b"not a dead letter" in r.stderr, r
    assert dlq(stack, "bogus").returncode == 2
    time.sleep(2)
    assert len(sink.got) == 1


if __name__ == "__main__":
    main([test_a_qa_flow_completes_through_the_dev_callback,
          test_unknown_and_tampered_environments_are_refused,
          test_auth_origin_is_required_by_use_auth_origin,
          test_signed_webhooks_reach_the_local_server,
          test_forged_stale_replayed_and_unsigned_are_refused,
          test_a_dead_letter_is_listed_and_redriven_once_fixed],
         extra_env=ENV, providers=PROVIDERS)

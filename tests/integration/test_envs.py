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
import json
import os
import subprocess
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Browser, browser_to_provider, free_port,  # noqa: E402
                     main)

QA_PORT = free_port()
QA = "http://127.0.0.1:%d" % QA_PORT
ENV = {"HS_ENV_ROUTES": "qa=" + QA}
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


if __name__ == "__main__":
    main([test_a_qa_flow_completes_through_the_dev_callback,
          test_unknown_and_tampered_environments_are_refused,
          test_auth_origin_is_required_by_use_auth_origin], extra_env=ENV)

"""Integration harness: starts the real stack (hs-dev: mock Kafka cluster,
private PostgreSQL, demo provider, hs-ingress, hs-exchange x2,
hs-broadcaster) and gives tests a browser with a cookie jar, an agent,
kcat and psql. Standard library only. Every wait is bounded.
"""
import base64
import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def b64url(n):
    return base64.urlsafe_b64encode(os.urandom(n)).rstrip(b"=").decode()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    @property
    def location(self):
        return self.headers.get("Location")

    def json(self):
        return json.loads(self.body)


class Browser:
    """A browser that keeps cookies and follows no redirect by itself."""

    def __init__(self):
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), NoRedirect())

    def request(self, url, data=None, headers=None, method=None):
        req = urllib.request.Request(url, data=data, headers=headers or {},
                                     method=method)
        try:
            with self.opener.open(req, timeout=15) as r:
                return Response(r.status, r.headers, r.read())
        except urllib.error.HTTPError as e:
            return Response(e.code, e.headers, e.read())

    def get(self, url, **kw):
        return self.request(url, **kw)

    def post_form(self, url, fields):
        return self.request(url, urllib.parse.urlencode(fields).encode(),
                            {"Content-Type":
                             "application/x-www-form-urlencoded"}, "POST")


def api(url, token=None, body=None, method=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    data = json.dumps(body).encode() if body is not None else None
    return Browser().request(url, data, headers, method)


class Stack:
    """One hs-dev with its own data directory, keys and log file."""

    def __init__(self, bindir, extra_env=None, workers=2, providers=None,
                 port=None):
        self.bindir = bindir
        self.tmp = tempfile.mkdtemp(prefix="hs-it.")
        os.chmod(self.tmp, 0o755)
        self.data = os.path.join(self.tmp, "data")
        self.log_path = os.path.join(self.tmp, "stack.log")
        self.port = port or free_port()
        self.env = dict(os.environ)
        self.env.update({
            "HS_SECRET_KEYS": "it1:" + b64url(32),
            "HS_DEMO_CLIENT_SECRET": b64url(24),
            "HS_KAFKA_OPTS": "fetch.wait.max.ms=5,linger.ms=1",
            "HS_LOG_LEVEL": "debug",
        })
        self.env.update(extra_env or {})
        args = [os.path.join(bindir, "hs-dev"), "--port", str(self.port),
                "--data", self.data, "--workers", str(workers)]
        if providers:
            path = os.path.join(self.tmp, "providers.json")
            with open(path, "w") as f:
                json.dump(providers, f)
            args += ["--providers", path]
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE,
                                     stderr=self.log, env=self.env)
        self.info = {}
        deadline = time.time() + 90
        while time.time() < deadline:
            line = self.proc.stdout.readline().decode()
            if not line:
                raise RuntimeError("hs-dev exited early; see " + self.log_path)
            key, _, value = line.strip().partition(" ")
            if key == "ready":
                break
            self.info[key] = value
        else:
            raise RuntimeError("hs-dev not ready in 90 s")
        self.ingress = self.info["ingress"]
        self.kafka = self.info["kafka"]
        self.pg = self.info["postgres"]
        self.token = self.info["demo-token"]
        self.provider = self.info["provider"]
        self.extra = []
        self.env["HS_KAFKA_BROKERS"] = self.kafka
        self.env["HS_PG_URL"] = self.pg
        self.env["HS_PROVIDERS"] = os.path.join(self.data, "providers.json")
        self.env["HS_INSECURE_HTTP"] = "1"
        # The mock coordinator waits 3 s for a new group's members and
        # rebalances as each joins (9 s after one left): a test started
        # sooner could wait 20 s for its first handshake. (The groups'
        # moves are logged at info: a quieter stack, the benchmarks' and
        # the soak's, does its own warming up.)
        if self.env["HS_LOG_LEVEL"] in ("debug", "info"):
            wait_for(lambda: self.group_settled(b"hs-broadcaster", 1) and (
                not workers or self.group_settled(b"hs-exchange", workers)),
                timeout=120, what="hs-dev's consumer groups to form")

    def group_settled(self, svc, members, since=0):
        """Whether the consumer group of the workers svc (bytes) started
        after byte since of the log has settled: members of them each own
        some partitions of their topic, and together all."""
        with open(self.log_path, "rb") as f:
            log = f.read()[since:]
        m = re.search(rb'"svc":"' + svc + rb'","event":"worker\.started",'
                      rb'"group":"[^"]*","topic":"([^"]+)"', log)
        if not m:
            return False
        parts = self.partitions(m.group(1).decode())
        moves = re.findall(rb'"svc":"' + svc + rb'","event":"kafka\.rebalance",'
                           rb'"change":"(assign|revoke)","partitions":(\d+)',
                           log)
        owned = sum(int(k) if c == b"assign" else -int(k) for c, k in moves)
        given = sum(1 for c, k in moves if c == b"assign" and int(k) > 0)
        return parts and owned == parts and given >= members

    def partitions(self, topic):
        """topic's partition count (kcat, once a topic); 0 when unknown."""
        known = self.__dict__.setdefault("_partitions", {})
        if not known.get(topic):
            out = subprocess.run(["kcat", "-b", self.kafka, "-L", "-t",
                                  topic], capture_output=True,
                                 timeout=30).stdout
            m = re.search(rb"with (\d+) partitions", out)
            known[topic] = int(m.group(1)) if m else 0
        return known[topic]

    def spawn(self, prog, env, log=None):
        """Starts one of our programs next to the stack, logging to its
        log (or to the file log), under valgrind as hs-dev runs its
        children when HS_DEV_VALGRIND=1; stopped with the stack."""
        argv = [os.path.join(self.bindir, prog)]
        if os.environ.get("HS_DEV_VALGRIND") == "1":
            argv = ["valgrind", "-q", "--leak-check=full",
                    "--errors-for-leak-kinds=definite",
                    "--show-leak-kinds=definite"] + argv
        out = self.log if log is None else log
        p = subprocess.Popen(argv, stdout=out, stderr=out, env=env)
        self.extra.append(p)
        return p

    def start_ingress(self, port=None, **env):
        """Starts another hs-ingress on the same PostgreSQL and keys."""
        port = port or free_port()
        e = dict(self.env)
        e.update({"HS_LISTEN": "127.0.0.1:%d" % port,
                  "HS_PUBLIC_URL": "http://127.0.0.1:%d" % port})
        e.update(env)
        self.spawn("hs-ingress", e)
        url = "http://127.0.0.1:%d" % port
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                urllib.request.urlopen(url + "/healthz", timeout=2)
                return url
            except Exception:
                time.sleep(0.1)
        raise RuntimeError("extra ingress did not start")

    def stop(self):
        for p in self.extra:
            p.terminate()
        for p in self.extra:
            try:
                p.wait(30)  # valgrind's exit checks take a while
            except subprocess.TimeoutExpired:
                p.kill()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()

    # ---- tools --------------------------------------------------------
    def control(self, command):
        """A fault command to hs-dev's control FIFO (see hs-dev --help);
        returns once hs-dev has carried it out."""
        marker = ('"command":"%s"' % command).encode()
        before = open(self.log_path, "rb").read().count(marker)
        with open(self.info["control"], "w") as f:
            f.write(command + "\n")
        wait_for(lambda: open(self.log_path, "rb").read().count(marker) >
                 before, timeout=5, what="hs-dev to do " + command)

    def stats(self):
        with urllib.request.urlopen(self.provider + "/stats", timeout=5) as r:
            return json.load(r)

    def provider_secrets(self):
        """Every code, verifier and token the demo provider issued, and
        the demo API token."""
        s = self.stats()
        secrets = {self.token}
        for t in s["issued"]:
            secrets.update([t["access_token"], t["refresh_token"], t["code"],
                            t["code_verifier"]])
        for t in s["refreshes"]:
            secrets.update([t["access_token"], t["refresh_token"]])
        return {x for x in secrets if x}

    def psql(self, sql):
        out = subprocess.run(["psql", self.pg, "-Atc", sql], check=True,
                             capture_output=True, timeout=30)
        return out.stdout.decode().strip()

    def kcat_list(self, topic):
        """[(partition, offset, key)] of every message in topic."""
        out = subprocess.run(
            ["kcat", "-b", self.kafka, "-C", "-t", topic, "-o", "beginning",
             "-e", "-q", "-f", "%p %o %k\\n"], capture_output=True,
            timeout=60).stdout.decode()
        return [tuple(l.split(" ", 2)) for l in out.splitlines() if l]

    def kcat_raw(self, topic):
        """All payloads of topic concatenated (for secret scans)."""
        return subprocess.run(
            ["kcat", "-b", self.kafka, "-C", "-t", topic, "-o", "beginning",
             "-e", "-q", "-f", "%k\\n%s\\n"], capture_output=True,
            timeout=60).stdout

    def kcat_get(self, topic, partition, offset):
        return subprocess.run(
            ["kcat", "-b", self.kafka, "-C", "-t", topic, "-p",
             str(partition), "-o", str(offset), "-c", "1", "-e", "-q", "-f",
             "%s"], capture_output=True, timeout=60).stdout

    def kcat_put(self, topic, partition, key, payload):
        path = os.path.join(self.tmp, "msg.bin")
        with open(path, "wb") as f:
            f.write(payload)
        subprocess.run(["kcat", "-b", self.kafka, "-P", "-t", topic, "-p",
                        str(partition), "-k", key, path], check=True,
                       capture_output=True, timeout=60)

    def agent(self, home=None):
        return Agent(self, home or tempfile.mkdtemp(dir=self.tmp))

    def secret_blobs(self):
        """Every place a secret must never be: the topics, a database
        dump, the services' logs and PostgreSQL's statement log."""
        blobs = {t: self.kcat_raw(t) for t in ("hs.callbacks", "hs.tokens",
                                                "hs.me", "hs.dlq",
                                                "hs.audit")}
        blobs["pg_dump"] = subprocess.run(
            ["pg_dump", self.pg], capture_output=True, timeout=60).stdout
        with open(self.log_path, "rb") as f:
            blobs["logs"] = f.read()
        with open(os.path.join(self.data, "postgres.log"), "rb") as f:
            blobs["postgres.log"] = f.read()
        return blobs

    def assert_no_secret(self, secrets):
        for name, blob in self.secret_blobs().items():
            for s in secrets:
                assert s.encode() not in blob, "a secret is in " + name


class Agent:
    def __init__(self, stack, home):
        self.stack = stack
        self.home = home
        self.bin = os.path.join(stack.bindir, "hs-agent")
        self.env = dict(stack.env)

    def run(self, *args, stdin=None, timeout=60):
        r = subprocess.run([self.bin, "--home", self.home] + list(args),
                           input=stdin, capture_output=True,
                           timeout=timeout, env=self.env)
        assert b"Sanitizer" not in r.stderr, r.stderr.decode()
        return r

    def login(self, token=None, server=None):
        r = self.run("--server", server or self.stack.ingress, "--brokers",
                     self.stack.kafka, "login", "--with-token",
                     stdin=((token or self.stack.token) + "\n").encode())
        assert r.returncode == 0, r.stderr
        return r

    def start_connect(self, provider="demo", timeout=60, server=None):
        """Starts `connect`; returns (process, url, user_code)."""
        args = [self.bin, "--home", self.home]
        if server:
            args += ["--server", server]
        p = subprocess.Popen(args + ["connect", provider, "--no-browser",
                                     "--timeout", str(timeout)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=self.env)
        return (p,) + self._url_and_code(p)

    def connect(self, provider="demo"):
        """`connect` through a browser, to the end; the handshake id."""
        p, url, _ = self.start_connect(provider)
        b = Browser()
        r = b.get(Browser().get(browser_to_provider(b, url)).location)
        assert r.status == 302, (r.status, r.text)
        rc, out, err = self.finish(p)
        assert rc == 0, (out, err)
        return r.location.rsplit("/", 1)[1]

    def start_login(self, provider, timeout=60):
        """Starts `login <provider> --no-browser`; returns (process, url,
        user_code)."""
        p = subprocess.Popen(
            [self.bin, "--home", self.home, "--server", self.stack.ingress,
             "--brokers", self.stack.kafka, "login", provider,
             "--no-browser", "--timeout", str(timeout)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env)
        return (p,) + self._url_and_code(p)

    def start_loopback_login(self, provider="demo", timeout=60):
        """Starts `login <provider> --loopback --no-browser`; returns
        (process, url)."""
        p = subprocess.Popen(
            [self.bin, "--home", self.home, "--server", self.stack.ingress,
             "--brokers", self.stack.kafka, "login", provider, "--loopback",
             "--no-browser", "--timeout", str(timeout)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env)
        while True:
            line = p.stdout.readline().decode()
            assert line, p.stderr.read()
            if line.startswith("  http"):
                return p, line.strip()

    def _url_and_code(self, p):
        url = code = None
        deadline = time.time() + 30
        while time.time() < deadline and not (url and code):
            line = p.stdout.readline().decode()
            if not line:
                break
            if line.startswith("  http"):
                url = line.strip()
            m = re.search(r"shows the code: (\S+)", line)
            if m:
                code = m.group(1)
        assert url and code, "the agent printed no URL: %r" % (
            p.stderr.read() if p.poll() is not None else "")
        return url, code

    @staticmethod
    def finish(p, timeout=60):
        out, err = p.communicate(timeout=timeout)
        assert b"Sanitizer" not in err, err.decode()
        return p.returncode, out.decode(), err.decode()


def provider_control(stack, **q):
    """POST /control to the demo provider (see hs-demo-provider)."""
    req = urllib.request.Request(
        stack.provider + "/control?" + urllib.parse.urlencode(q),
        data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=5) as r:
        assert r.status == 200


def csrf_of(page):
    m = re.search(r'name="csrf" value="([^"]+)"', page)
    assert m, "no csrf field in the page"
    return m.group(1)


def browser_to_provider(browser, url):
    """Confirmation page -> POST -> the provider's authorize URL."""
    r = browser.get(url)
    if r.status == 302:  # remembered browser
        return r.location
    assert r.status == 200, (r.status, r.text)
    r = browser.post_form(url, {"csrf": csrf_of(r.text)})
    assert r.status == 302, (r.status, r.text)
    return r.location


def wait_for(cond, timeout=30, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def run_tests(tests, stack):
    passed = failed = 0
    for t in tests:
        name = t.__name__
        t0 = time.time()
        try:
            t(stack)
            passed += 1
            print("PASS %s (%.1fs)" % (name, time.time() - t0), flush=True)
        except Exception:
            failed += 1
            print("FAIL %s" % name, flush=True)
            traceback.print_exc()
    return passed, failed


def audit_verified(stack):
    """hs-replay --verify over the whole audit trail the suite left: every
    signature good, no producer's seq missing or repeated; and none of the
    codes and tokens the demo provider issued is in it."""
    prog = os.path.join(stack.bindir, "hs-replay")
    if not os.path.exists(prog):
        return True
    time.sleep(1)  # events of the last steps still on their way
    r = subprocess.run([prog, "--brokers", stack.kafka, "--verify",
                        "--format", "jsonl"], env=stack.env,
                       capture_output=True, timeout=300)
    if r.returncode != 0 or b"Sanitizer" in r.stderr:
        print("FAIL hs-replay --verify on the suite's audit trail:")
        print(r.stderr.decode("utf-8", "replace")[-3000:])
        return False
    secrets = stack.provider_secrets()
    audit = stack.kcat_raw("hs.audit")
    leaked = [x for x in secrets if x.encode() in audit]
    if leaked:
        print("FAIL a secret is on hs.audit (%d of %d)" % (len(leaked),
                                                          len(secrets)))
        return False
    return True


def main(tests, setup=None, verify_audit=True, **stack_kw):
    """Runs tests on one Stack; setup(stack_kw) may start what the stack
    needs first and returns a cleanup function. verify_audit: the suite's
    audit trail must pass hs-replay --verify."""
    bindir = sys.argv[1]
    if not shutil.which("kcat") or not shutil.which("psql"):
        print("kcat and psql are required (scripts/setup installs them)")
        sys.exit(1)
    cleanup = setup(stack_kw) if setup else None
    try:
        stack = Stack(bindir, **stack_kw)
        try:
            passed, failed = run_tests(tests, stack)
            if verify_audit and not audit_verified(stack):
                failed += 1
        finally:
            stack.stop()
    finally:
        if cleanup:
            cleanup()
    # Every process of the stack logs here: a sanitizer report or a
    # service that died while the tests ran fails the run.
    with open(stack.log_path, "rb") as f:
        log = f.read()
    for marker in (b"ERROR: AddressSanitizer", b"runtime error:",
                   b"ERROR: LeakSanitizer", b'"event":"dev.child_exited"',
                   b'"event":"dev.child_killed"'):
        if marker in log:
            failed += 1
            print("FAIL stack log contains %r" % marker.decode())
    # valgrind -q (HS_DEV_VALGRIND=1) prints only its reports, as ==pid==.
    reports = re.findall(rb"^==\d+== .*$", log, re.M)
    if reports:
        failed += 1
        print("FAIL valgrind reported:")
        for line in reports[:40]:
            print("  " + line.decode("utf-8", "replace"))
    if failed:
        print("stack log: " + stack.log_path)
        with open(stack.log_path, "rb") as f:
            sys.stdout.write(f.read()[-6000:].decode("utf-8", "replace"))
    else:
        shutil.rmtree(stack.tmp, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)

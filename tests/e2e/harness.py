"""
harness: shared helpers for llmbatch's end-to-end tests (python unittest).

  REPO, LLMBATCH           where the sources and the binary are
  Mock(*args, log=True)    the mock API server (tests/mockapi/server.py) as a
                           context manager: .url .port .stats() .reset()
                           .config(**kw) .log_entries() .stop()
  run(args, ...)           runs llmbatch to completion -> CompletedProcess
  start(args, ...)         starts llmbatch (for kill tests) -> Popen;
                           collect(p) waits and returns a CompletedProcess
  write_jobs(path, n, ...) writes an input file, returns the custom_ids
  write_lines(path, lines) writes JSON lines as given
  wait_until(pred, timeout) polls a condition, bounded in time
  out_paths(d, results)    (results, errors, report) as llmbatch names them
  FakeServer(reply)        the one scripted server for nasty replies
  chat_reply(...)          a well-formed chat.completion body
  read_jsonl, custom_ids, tmpdir

Nothing here talks to the network except to 127.0.0.1.
"""

import gzip
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

REPO = os.path.abspath(os.environ.get("LLMB_SRC") or
                       os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
LLMBATCH = os.environ.get("LLMBATCH") or os.path.join(REPO, "build", "llmbatch")
MOCK_SERVER = os.path.join(REPO, "tests", "mockapi", "server.py")

OPENAI_TEST_KEY = "sk-test-0000000000000000aaaa"
ANTHROPIC_TEST_KEY = "sk-ant-test-000000000000bbbb"


def tmpdir():
    """A TemporaryDirectory under /tmp (use as a context manager)."""
    return tempfile.TemporaryDirectory(prefix="llmb-e2e-", dir="/tmp")


# ---------------------------------------------------------------- the mock

class Mock:
    """The mock API server on a free loopback port.

    Mock("--faults", "500=0.1", "--rpm", "600") passes its args to server.py.
    With log=True the server logs every request (see log_entries())."""

    def __init__(self, *args, log=True, start=True):
        self.args = [str(a) for a in args]
        self.want_log = log
        self.proc = None
        self.port = None
        self.url = None
        self._dir = None
        if start:
            self.start()

    def start(self):
        self._dir = tempfile.TemporaryDirectory(prefix="llmb-mock-", dir="/tmp")
        d = self._dir.name
        self.port_file = os.path.join(d, "port")
        self.log_path = os.path.join(d, "requests.log") if self.want_log else None
        self.stderr_path = os.path.join(d, "stderr")
        cmd = [sys.executable, MOCK_SERVER, "--port", "0", "--port-file", self.port_file]
        if self.log_path:
            cmd += ["--log", self.log_path]
        cmd += self.args
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=self._err)
        deadline = time.monotonic() + 10
        try:
            while not os.path.exists(self.port_file):
                self._check_alive()
                if time.monotonic() > deadline:
                    raise RuntimeError("mock server did not write its port file")
                time.sleep(0.02)
            with open(self.port_file) as f:
                self.port = int(f.read().strip())
            self.url = "http://127.0.0.1:%d" % self.port
            while True:
                self._check_alive()
                try:
                    with urllib.request.urlopen(self.url + "/_health", timeout=1) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("mock server is not healthy")
                time.sleep(0.02)
        except BaseException:
            self.stop()
            raise
        return self

    def _check_alive(self):
        if self.proc.poll() is not None:
            raise RuntimeError("mock server exited (%s): %s"
                               % (self.proc.returncode, self.stderr_text()))

    def stderr_text(self):
        try:
            with open(self.stderr_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def _call(self, method, path, payload=None):
        data = json.dumps(payload).encode() if payload is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def stats(self):
        """The server's counters (see server.py GET /_stats)."""
        return self._call("GET", "/_stats")

    def reset(self, all=False):
        """Zeroes counters; all=True also refills buckets and forgets
        fail_first / exhaust-after progress and reseeds the random stream."""
        return self._call("POST", "/_reset?all=1" if all else "/_reset")

    def config(self, **kw):
        """Changes settings at run time: faults="500=0.5", rpm=, tpm=,
        usage=, slow_ms=, latency_ms=, cached_ratio=, exhausted_keys=[...],
        invalid_keys=[...], exhaust_after={key: n}, no_ratelimit_headers=,
        seed=."""
        return self._call("POST", "/_config", kw)

    def log_entries(self):
        """The parsed request log (one dict per API request)."""
        if not self.log_path or not os.path.exists(self.log_path):
            return []
        out = []
        with open(self.log_path, encoding="utf-8") as f:
            for line in f:
                if line.endswith("\n"):
                    out.append(json.loads(line))
        return out

    def stop(self):
        """SIGTERM, wait up to 5 s, then SIGKILL.  Returns the exit code."""
        p = self.proc
        rc = None
        if p is not None:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            rc = p.returncode
            self._err.close()
        self.proc = None
        return rc

    def cleanup(self):
        self.stop()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()
        return False


# ---------------------------------------------------------------- llmbatch

def _env(env):
    e = dict(os.environ)
    e["OPENAI_API_KEY"] = OPENAI_TEST_KEY
    e["ANTHROPIC_API_KEY"] = ANTHROPIC_TEST_KEY
    for k, v in (env or {}).items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    return e


def run(args, env=None, timeout=120, input=None):
    """Runs llmbatch with args to completion (text mode, output captured).

    env is merged over os.environ + the test API keys; a None value removes
    a variable."""
    return subprocess.run([LLMBATCH] + [str(a) for a in args], env=_env(env),
                          input=input, timeout=timeout, capture_output=True, text=True,
                          stdin=None if input is not None else subprocess.DEVNULL)


def start(args, env=None, **popen_kw):
    """Starts llmbatch and returns the Popen (for signal tests).

    stdout/stderr go to temporary files unless given, so a chatty child never
    blocks on a full pipe; collect(p) returns them."""
    outs = {}
    for name in ("stdout", "stderr"):
        if name not in popen_kw:
            outs[name] = popen_kw[name] = tempfile.TemporaryFile(dir="/tmp")
    popen_kw.setdefault("stdin", subprocess.DEVNULL)
    p = subprocess.Popen([LLMBATCH] + [str(a) for a in args], env=_env(env), **popen_kw)
    p._harness_files = outs
    return p


def collect(p, timeout=60):
    """Waits for a start()ed process; returns a CompletedProcess (text)."""
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        raise
    texts = {}
    for name in ("stdout", "stderr"):
        f = getattr(p, "_harness_files", {}).get(name)
        if f is None:
            texts[name] = None
            continue
        f.seek(0)
        texts[name] = f.read().decode("utf-8", errors="replace")
        f.close()
    return subprocess.CompletedProcess(p.args, p.returncode, texts["stdout"], texts["stderr"])


# ---------------------------------------------------------------- files

_WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima "
          "mike november oscar papa quebec romeo sierra tango uniform victor whiskey "
          "xray yankee zulu").split()


def write_jobs(path, n, shape="openai", gz=False, model="mock-model", dup_ratio=0.0,
               max_tokens=16, faults=None, seed=1):
    """Writes n jobs to path and returns their custom_ids ("job-%06d").

    shape: "openai"    {"custom_id","method","url":"/v1/chat/completions","body"}
           "anthropic" {"custom_id","params"}  (for /v1/messages)
           "bare"      {"model","messages"}     (no id: numbered by line)
           "prompt"    {"prompt"}               (no id: numbered by line)
    openai/anthropic bodies carry metadata.custom = the custom_id, which the
    mock logs; max_tokens=None leaves the limit out.
    dup_ratio: round(n*dup_ratio) lines (chosen by seed) reuse the body of an
    earlier line byte for byte, under their own custom_id.
    faults: {index: "mock:fail=500", ...} or a callable(index) -> str|None;
    the directive is appended to that job's prompt text."""
    rng = random.Random(seed)
    ids = ["job-%06d" % i for i in range(n)]
    ndup = int(round(n * dup_ratio))
    dups = set(rng.sample(range(1, n), min(ndup, max(0, n - 1)))) if ndup else set()
    bodies = []
    opener = gzip.open if gz else open
    with opener(path, "wt", encoding="utf-8") as f:
        for i in range(n):
            if i in dups:
                body = bodies[rng.randrange(i)]
            else:
                words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 30)))
                text = "Prompt %d: %s" % (i, words)
                d = faults(i) if callable(faults) else (faults or {}).get(i)
                if d:
                    text += " " + d
                body = _body(shape, text, model, max_tokens, ids[i])
            bodies.append(body)
            if shape == "openai":
                line = {"custom_id": ids[i], "method": "POST",
                        "url": "/v1/chat/completions", "body": body}
            elif shape == "anthropic":
                line = {"custom_id": ids[i], "params": body}
            else:
                line = body
            f.write(json.dumps(line, separators=(",", ":")) + "\n")
    return ids


def _body(shape, text, model, max_tokens, cid):
    if shape == "prompt":
        return {"prompt": text}
    b = {"model": model, "messages": [{"role": "user", "content": text}]}
    if shape == "bare":
        return b
    if shape not in ("openai", "anthropic"):
        raise ValueError("unknown shape %r" % shape)
    if max_tokens is not None:
        b["max_tokens"] = max_tokens
    b["metadata"] = {"custom": cid}
    return b


def read_jsonl(path):
    """All JSON lines of a file, gunzipped if it starts with the gzip magic."""
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    opener = gzip.open if gz else open
    out = []
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                out.append(json.loads(line))
    return out


def custom_ids(path):
    """The custom_id of every line of a results/errors file, in file order."""
    return [r.get("custom_id") for r in read_jsonl(path)]


# ---------------------------------------------------------------- fake servers

class FakeServer:
    """The one scripted HTTP server for replies the mock does not make
    (nasty, odd or hostile ones), on a free 127.0.0.1 port.

        def reply(req):          # req: method, path, headers, body (bytes), n
            return 200, [("x-request-id", "r1")], b'{"ok":true}'
        with FakeServer(reply) as srv:
            run([... "--base-url", srv.url])
            srv.requests         # every request seen, in arrival order

    reply may return a dict/list as the body (sent as JSON).  Requests are
    served on threads; reply must be thread-safe (srv.lock is there)."""

    class Request:
        def __init__(self, method, path, headers, body, n):
            self.method, self.path, self.headers, self.body, self.n = \
                method, path, headers, body, n

        def json(self):
            try:
                return json.loads(self.body)
            except ValueError:
                return None

    def __init__(self, reply):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        outer = self
        self.reply = reply
        self.lock = threading.Lock()
        self.requests = []

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _serve(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                with outer.lock:
                    req = FakeServer.Request(self.command, self.path, dict(self.headers),
                                             body, len(outer.requests))
                    outer.requests.append(req)
                status, hdrs, out = outer.reply(req)
                if not isinstance(out, (bytes, bytearray)):
                    out = json.dumps(out).encode()
                self.send_response(status)
                names = set()
                for k, v in hdrs or []:
                    self.send_header(k, v)
                    names.add(k.lower())
                if "content-type" not in names:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                try:
                    self.wfile.write(out)
                except (BrokenPipeError, ConnectionResetError):
                    pass            # the client stopped waiting: fine

            do_POST = do_GET = _serve

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        return False


def chat_reply(text="ok", model="mock-model", prompt_tokens=3, completion_tokens=2):
    """A well-formed chat.completion body."""
    return {"id": "chatcmpl-fake", "object": "chat.completion", "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}


def wait_until(pred, timeout=20.0, step=0.02):
    """Polls pred until it returns something true (returned) or timeout
    seconds pass (None)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return None


def write_lines(path, lines, gz=False):
    """Writes lines (str, or objects dumped compactly) one per line."""
    opener = gzip.open if gz else open
    with opener(path, "wt", encoding="utf-8") as f:
        for l in lines:
            f.write((l if isinstance(l, str) else json.dumps(l, separators=(",", ":"))) + "\n")


def out_paths(d, results="out.jsonl"):
    """(results, errors, report) paths under d, named as llmbatch derives them
    (out.jsonl -> out.errors.jsonl, out.report.json; .jsonl.gz likewise)."""
    for ext in (".jsonl.gz", ".jsonl"):
        if results.endswith(ext):
            stem = results[:-len(ext)]
            return (os.path.join(d, results), os.path.join(d, stem + ".errors" + ext),
                    os.path.join(d, stem + ".report.json"))
    return (os.path.join(d, results), os.path.join(d, results + ".errors"),
            os.path.join(d, results + ".report.json"))


def main():
    """unittest.main for the test files: exits 77 (ctest's SKIP_RETURN_CODE)
    when every test of the file was skipped, so ctest shows it as skipped."""
    prog = unittest.main(exit=False)
    r = prog.result
    if not r.wasSuccessful():
        sys.exit(1)
    if r.testsRun and len(r.skipped) == r.testsRun:
        sys.exit(77)
    sys.exit(0)

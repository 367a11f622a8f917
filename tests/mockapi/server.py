#!/usr/bin/env python3
"""
mockapi: an OpenAI- and Anthropic-compatible HTTP server on loopback, for
llmbatch's end-to-end tests.  Python 3.11 standard library only.

What it owns: a fake provider that answers deterministically, bills every
request it processed in integer picodollars (the test oracle for the spend
cap), enforces per-key rate limits, and injects faults from a seeded random
stream.  /_stats exposes the counters the tests assert on.

Invariants:
  * Money is integer picodollars everywhere (prices converted exactly with
    Decimal); floats never accumulate money.
  * A request is billed when it was processed and a 2xx was decided for it:
    billed_ok if the whole 2xx response was written, billed_fault if the
    server then broke the reply (reset, truncate, badjson) or the client was
    gone.  Error statuses are never billed.
  * All shared state (counters, buckets, random stream) changes under one
    lock; the log has its own lock and is flushed per line.

Modules: mockcommon.py (reply helpers), livefaults.py (redirect, unknown
path and key-quoting fault modes), batchapi.py + files.py + batches_openai.py
+ batches_anthropic.py (OpenAI Files/Batches and Anthropic Message Batches,
advancing with time; rows billed at half the live price).

Live fault modes (see --help): --faults kinds 429 500 502 503 529 reset
truncate badjson slow nousage 301 307 401 403 404; --redirect CODE;
--not-found-paths; --echo-key; directives mock:fail=NNN,
mock:fail_first=N:NNN, mock:sleep=MS, mock:echo_key, mock:unknown_url;
--rpm with --burst.

Run `server.py --help` for the command line.  Control endpoints (no auth):
GET /_health, GET /_stats, POST /_reset[?all=1], POST /_config (JSON),
GET /_batches, POST /_batch/<id>/expire, POST /_batch/<id>/fail.
"""

import argparse
import email.utils
import hashlib
import io
import json
import math
import os
import random
import re
import select
import signal
import socket
import struct
import sys
import threading
import time
from datetime import datetime, timezone
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mockcommon import (REASONS, Outcome, jbytes, error_outcome,  # noqa: E402
                        hexid)
import batchapi  # noqa: E402
import livefaults  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_PRICES = os.path.join(HERE, "..", "..", "samples", "prices.json")
DEFAULT_LIMIT = 4096

FAULT_KINDS = ("429", "500", "502", "503", "529", "reset", "truncate",
               "badjson", "slow", "nousage", "301", "307", "401", "403", "404")

OPENAI_PATHS = {
    "/v1/chat/completions": "chat",
    "/v1/completions": "completions",
    "/v1/embeddings": "embeddings",
    "/v1/responses": "responses",
}
ANTHROPIC_PATHS = {"/v1/messages": "messages"}

NONTEXT_TYPES = {"image_url", "image", "input_image", "input_audio", "audio",
                 "file", "input_file", "document"}

HELP_EPILOG = """\
live fault modes (--faults kind=prob,...; also _config faults="..."):
  429 500 502 503 529    an error status (429 with a random retry hint form)
  reset truncate badjson slow nousage   broken replies (billed as faults)
  301 307                a redirect with Location: http://HOST/v2/...
  401 403                auth errors (the key quoted with --echo-key)
  404                    404 unknown_url "Unknown request URL: POST /v1/..."
setup modes: --redirect CODE, --not-found-paths P,..., --echo-key
  (_config redirect=, not_found_paths=[..], echo_key=true)
directives in a request body: mock:fail=NNN (any status; 301/302/307/308
  answer a redirect; 401/403 quote the key with echo on), mock:fail_first=
  N:NNN, mock:sleep=MS, mock:echo_key, mock:unknown_url (404 unknown_url)
burst limiter: --rpm 2400 --burst 10 = bucket of 10 refilled at 40/s, with
  x-ratelimit-{limit,remaining,reset}-requests on every reply
batch APIs: see batchapi.py; _config keys batch_step_ms, batch_rows_per_step,
  batch_expire_after_rows, enqueued_token_limit, control_faults,
  openai_max_requests, openai_max_file_bytes, anthropic_max_requests,
  anthropic_max_bytes; hooks GET /_batches, POST /_batch/ID/expire|fail
"""

DIRECTIVE_FAIL = re.compile(rb"mock:fail=(\d{3})")
DIRECTIVE_FAIL_FIRST = re.compile(rb"mock:fail_first=(\d+):(\d{3})")
DIRECTIVE_SLEEP = re.compile(rb"mock:sleep=(\d+)")


# ---------------------------------------------------------------- prices

def usd_per_1m_to_pusd(v):
    """USD per 1M tokens -> integer picodollars per token, exactly."""
    return int((Decimal(str(v)) * 10 ** 6).to_integral_value())


class Prices:
    """The price table: exact model match, then longest prefix."""

    def __init__(self, path):
        self.table = {}
        self.path = path
        if not path:
            return
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f, parse_float=Decimal)
        except FileNotFoundError:
            print("mockapi: no price table at %s; every model is unpriced" % path,
                  file=sys.stderr)
            return
        models = doc.get("models", doc) if isinstance(doc, dict) else {}
        for name, p in models.items():
            if not isinstance(p, dict):
                continue
            inp = usd_per_1m_to_pusd(p.get("input", 0))
            mo = p.get("max_output_tokens")
            self.table[name] = {
                "input": inp,
                "cached_input": usd_per_1m_to_pusd(p["cached_input"])
                if "cached_input" in p else inp,
                "cache_write": usd_per_1m_to_pusd(p["cache_write"])
                if "cache_write" in p else inp,
                "output": usd_per_1m_to_pusd(p.get("output", 0)),
                "max_output_tokens": int(mo) if mo else None,
            }

    def lookup(self, model):
        if not isinstance(model, str):
            return None
        if model in self.table:
            return self.table[model]
        best = None
        for name in self.table:
            if model.startswith(name) and (best is None or len(name) > len(best)):
                best = name
        return self.table[best] if best is not None else None


# ---------------------------------------------------------------- rate limits

class Bucket:
    """Continuous token bucket: announced limit per minute, refill limit/60 per
    second, capacity `burst` (default: the whole limit), starting full."""

    def __init__(self, limit, now, burst=None):
        self.limit = int(limit)
        self.cap = float(burst if burst else limit)
        self.rate = limit / 60.0
        self.level = self.cap
        self.t = now

    def refill(self, now):
        if now > self.t:
            self.level = min(self.cap, self.level + (now - self.t) * self.rate)
            self.t = now

    def wait_for(self, amount):
        """Seconds until `amount` is available (0 if it is now)."""
        if self.level >= amount:
            return 0.0
        return (amount - self.level) / self.rate

    def time_to_full(self):
        return (self.cap - self.level) / self.rate if self.rate > 0 else 0.0


def go_duration(sec):
    """Seconds -> Go time.Duration string at ms precision, rounded up."""
    ms = int(math.ceil(sec * 1000.0 - 1e-6)) if sec > 0 else 0
    if ms <= 0:
        return "0s"
    if ms < 1000:
        return "%dms" % ms
    h, rem = divmod(ms, 3600000)
    m, rem = divmod(rem, 60000)
    s, frac = divmod(rem, 1000)
    out = ""
    if h:
        out += "%dh" % h
    if h or m:
        out += "%dm" % m
    out += ("%d" % s) if frac == 0 else ("%d.%03d" % (s, frac)).rstrip("0")
    return out + "s"


def rfc3339(epoch):
    # Round up to the second so the announced time is never early.
    return datetime.fromtimestamp(math.ceil(epoch), timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- prompts

def text_of(v):
    """Readable text of a content value (string, parts list, part)."""
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, list):
        return "\n".join(t for t in (text_of(x) for x in v) if t)
    if isinstance(v, dict):
        if v.get("type") in NONTEXT_TYPES:
            return ""
        for k in ("text", "content", "input"):
            if k in v:
                return text_of(v[k])
        return ""
    return str(v)


def text_bytes(v, tokens):
    """Prompt size as llmbatch's job.c counts it: UTF-8 bytes of every string
    under the prompt fields; integers (token ids, in prompt/input) count 4;
    non-text parts count nothing."""
    if isinstance(v, str):
        return len(v.encode("utf-8"))
    if isinstance(v, bool):
        return 0
    if isinstance(v, int):
        return 4 if tokens else 0
    if isinstance(v, list):
        return sum(text_bytes(x, tokens) for x in v)
    if isinstance(v, dict):
        if v.get("type") in NONTEXT_TYPES:
            return 0
        return sum(text_bytes(x, tokens) for x in v.values())
    return 0


def prompt_info(kind, req):
    """(full prompt text, last user message text) of a parsed request."""
    if kind in ("chat", "messages"):
        msgs = req.get("messages") or []
        parts = [text_of(req.get("system"))] if kind == "messages" else []
        last = ""
        for m in msgs if isinstance(msgs, list) else []:
            if isinstance(m, dict):
                t = text_of(m.get("content"))
                parts.append(t)
                if m.get("role") == "user":
                    last = t
        return "\n".join(p for p in parts if p), last
    if kind == "completions":
        t = text_of(req.get("prompt"))
        return t, t
    if kind == "embeddings":
        t = text_of(req.get("input"))
        return t, t
    # responses
    inp = req.get("input")
    last = ""
    if isinstance(inp, list):
        for m in inp:
            if isinstance(m, dict) and m.get("role", "user") == "user":
                last = text_of(m.get("content"))
            elif isinstance(m, str):
                last = m
    else:
        last = text_of(inp)
    t = "\n".join(x for x in (text_of(req.get("instructions")), text_of(inp)) if x)
    return t, last


def request_limit(req):
    """Output limit the request asks for, or None."""
    for k in ("max_completion_tokens", "max_tokens", "max_output_tokens"):
        v = req.get(k)
        if v is not None:
            return v
    return None


# ---------------------------------------------------------------- state

class KeyState:
    def __init__(self):
        self.req = None
        self.tok = None
        self.successes = 0


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.log_lock = threading.Lock()
        self.args = args
        self.prices = Prices(args.prices)
        self.rng = random.Random(args.seed)
        self.faults = parse_faults(args.faults)
        self.exhausted = set(split_list(args.exhausted_keys))
        self.invalid = set(split_list(args.invalid_keys))
        self.exhaust_after = parse_exhaust_after(args.exhaust_after)
        self.keys = {}
        self.fail_first = {}
        self.not_found = set(split_list(args.not_found_paths))
        self.log = open(args.log, "a", encoding="utf-8") if args.log else None
        self.reset_counters()

    def reset_counters(self):
        self.stats = {
            "received": 0, "by_status": {}, "by_fault": {}, "by_path": {},
            "billed_ok_pusd": 0, "billed_fault_pusd": 0,
            "billed_ok_requests": 0, "billed_fault_requests": 0,
            "unpriced": 0, "rate_limited": 0,
            "prompt_tokens": 0, "completion_tokens": 0,
            "connections": 0, "in_flight": 0, "max_in_flight": 0,
            "by_key": {},
        }
        self.stats.update(batchapi.fresh_stats())
        self.bodies = {}

    def reset_all(self):
        self.reset_counters()
        self.keys = {}
        self.fail_first = {}
        self.rng = random.Random(self.args.seed)
        self.batches.clear()

    def key_state(self, key, now):
        ks = self.keys.get(key)
        if ks is None:
            ks = self.keys[key] = KeyState()
        a = self.args
        if a.rpm and ks.req is None:
            ks.req = Bucket(a.rpm, now, a.burst)
        if a.tpm and ks.tok is None:
            ks.tok = Bucket(a.tpm, now)
        if ks.req:
            ks.req.refill(now)
        if ks.tok:
            ks.tok.refill(now)
        return ks

    def snapshot(self):
        s = json.loads(json.dumps(self.stats))
        counts = self.bodies.values()
        s["distinct_bodies"] = len(self.bodies)
        s["max_body_count"] = max(counts, default=0)
        s["body_counts_over_1"] = sum(1 for c in counts if c > 1)
        self.batches.snapshot_into(s)
        return s

    def write_log(self, rec):
        if not self.log:
            return
        line = json.dumps(rec, separators=(",", ":")) + "\n"
        with self.log_lock:
            try:
                self.log.write(line)
                self.log.flush()
            except ValueError:      # closed at shutdown
                pass


def split_list(s):
    return [x.strip() for x in (s or "").split(",") if x.strip()]


def parse_faults(spec):
    out = []
    for item in split_list(spec):
        kind, sep, prob = item.partition("=")
        if kind not in FAULT_KINDS or not sep:
            raise ValueError("bad fault %r (kinds: %s)" % (item, ", ".join(FAULT_KINDS)))
        p = float(prob)
        if not 0.0 <= p <= 1.0:
            raise ValueError("fault probability out of [0,1]: %r" % item)
        out.append((kind, p))
    return out


def parse_exhaust_after(items):
    out = {}
    for item in items or []:
        k, sep, n = item.rpartition("=")
        if not sep or not k:
            raise ValueError("--exhaust-after wants KEY=N, got %r" % item)
        out[k] = int(n)
    return out


def last4(key):
    return key[-4:] if key else ""


# ---------------------------------------------------------------- replies

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mockapi/1.0"
    sys_version = ""
    timeout = 300            # idle keep-alive connections are dropped after this

    S = None                 # the State, set in main()

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        with self.S.lock:
            self.S.stats["connections"] += 1

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_DELETE(self):
        self.dispatch("DELETE")

    # -- plumbing

    def read_body(self):
        """The raw request body, or None if the client went away."""
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        try:
            if "chunked" in te:
                out = bytearray()
                while True:
                    line = self.rfile.readline(65537)
                    if not line:
                        return None
                    size = int(line.split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while True:
                            t = self.rfile.readline(65537)
                            if t in (b"\r\n", b"\n", b""):
                                break
                        return bytes(out)
                    chunk = self.rfile.read(size)
                    if len(chunk) < size:
                        return None
                    out += chunk
                    self.rfile.readline()
            n = int(self.headers.get("Content-Length") or 0)
            if n <= 0:
                return b""
            data = self.rfile.read(n)
            return data if len(data) == n else None
        except (OSError, ValueError):
            return None

    def write_response(self, status, headers, body, content_length=None, send=None):
        """One write for status line, headers and body (no Nagle stalls)."""
        if content_length is None:
            content_length = len(body)
        lines = ["HTTP/1.1 %d %s" % (status, REASONS.get(status, "Status")),
                 "Date: " + self.date_time_string(),
                 "Server: " + self.server_version]
        for k, v in headers:
            lines.append("%s: %s" % (k, v))
        lines.append("Content-Length: %d" % content_length)
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + (body if send is None else send))

    def client_gone(self):
        """True if the peer has closed its side (EOF pending)."""
        try:
            p = select.poll()
            p.register(self.connection, select.POLLIN | select.POLLHUP | select.POLLERR)
            ev = p.poll(0)
            if not ev:
                return False
            if ev[0][1] & (select.POLLHUP | select.POLLERR):
                return True
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def reset_connection(self):
        """Close with SO_LINGER 0: the peer sees a TCP RST, no response."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
        except OSError:
            pass
        for f in (self.rfile, self.wfile, self.connection):
            try:
                f.close()
            except OSError:
                pass
        self.wfile = io.BytesIO()   # http.server flushes wfile after the handler

    def send_json(self, status, obj):
        self.write_response(status, [("Content-Type", "application/json")], jbytes(obj))

    # -- control endpoints

    def control(self, method, path, query):
        S = self.S
        body = self.read_body()
        if body is None:
            self.close_connection = True
            return
        if path == "/_health" and method == "GET":
            self.write_response(200, [("Content-Type", "text/plain")], b"ok")
        elif path == "/_stats" and method == "GET":
            with S.lock:
                snap = S.snapshot()
            self.send_json(200, snap)
        elif path == "/_reset" and method == "POST":
            with S.lock:
                if "all=1" in query:
                    S.reset_all()
                else:
                    S.reset_counters()
            self.send_json(200, {"ok": True})
        elif path == "/_config" and method == "POST":
            try:
                self.apply_config(json.loads(body or b"{}"))
            except (ValueError, TypeError, AttributeError) as e:
                self.send_json(400, {"error": str(e)})
                return
            self.send_json(200, {"ok": True})
        elif path.startswith("/_batch"):
            self.send_json(*batchapi.control(S, method, path, body))
        else:
            self.send_json(404, {"error": "no such control endpoint"})

    def apply_config(self, cfg):
        S = self.S
        with S.lock:
            a = S.args
            if "faults" in cfg:
                S.faults = parse_faults(cfg["faults"])
            for k in ("slow_ms", "latency_ms", "rpm", "tpm", "burst", "redirect"):
                if k in cfg:
                    setattr(a, k, int(cfg[k] or 0))
            if a.redirect not in (0, 301, 302, 307, 308):
                raise ValueError("redirect must be 0, 301, 302, 307 or 308")
            if "rpm" in cfg or "tpm" in cfg or "burst" in cfg:
                S.keys = {}
            if "echo_key" in cfg:
                a.echo_key = bool(cfg["echo_key"])
            if "not_found_paths" in cfg:
                S.not_found = set(cfg["not_found_paths"] or [])
            S.batches.configure(cfg)
            if "usage" in cfg:
                if cfg["usage"] not in ("exact", "worst", "random"):
                    raise ValueError("usage must be exact|worst|random")
                a.usage = cfg["usage"]
            for k in ("cached_ratio", "cache_write_ratio"):
                if k in cfg:
                    setattr(a, k, float(cfg[k]))
            if "no_ratelimit_headers" in cfg:
                a.no_ratelimit_headers = bool(cfg["no_ratelimit_headers"])
            if "exhausted_keys" in cfg:
                S.exhausted = set(cfg["exhausted_keys"])
            if "invalid_keys" in cfg:
                S.invalid = set(cfg["invalid_keys"])
            if "exhaust_after" in cfg:
                S.exhaust_after = {k: int(v) for k, v in cfg["exhaust_after"].items()}
            if "seed" in cfg:
                S.rng = random.Random(cfg["seed"])

    # -- the API

    def dispatch(self, method):
        path, _, query = self.path.partition("?")
        if path.startswith("/_"):
            self.control(method, path, query)
            return
        if batchapi.owns(path):
            self.batch_call(method, path, query)
            return
        S = self.S
        t0 = time.time()
        body = self.read_body()
        if body is None:
            self.close_connection = True
            return
        sha = hashlib.sha256(body).hexdigest()
        with S.lock:
            st = S.stats
            st["received"] += 1
            st["by_path"][path] = st["by_path"].get(path, 0) + 1
            st["in_flight"] += 1
            st["max_in_flight"] = max(st["max_in_flight"], st["in_flight"])
            if method == "POST":
                S.bodies[sha] = S.bodies.get(sha, 0) + 1
        key = req = None
        try:
            m = DIRECTIVE_SLEEP.search(body)
            if m:
                time.sleep(int(m.group(1)) / 1000.0)
            if S.args.latency_ms:
                time.sleep(S.args.latency_ms / 1000.0)
            try:
                key, req, out = self.process(method, path, body, sha)
            except Exception as e:  # a mock bug must not look like a network fault
                print("mockapi: internal error: %r" % e, file=sys.stderr)
                out = error_outcome("openai", 500, "mock internal error: %r" % e)
            if out.fault == "slow":
                time.sleep(S.args.slow_ms / 1000.0)
            gone = out.billable and out.fault != "reset" and self.client_gone()
            if not out.billable:
                billed = None
            elif gone or out.fault in ("reset", "truncate", "badjson"):
                billed = "fault"
            else:
                billed = "ok"
            # Account before answering, so a client that has its reply also
            # finds it in /_stats and the log.
            self.account(out, billed, key, req, path, sha, t0)
        except BaseException:
            with S.lock:
                S.stats["in_flight"] -= 1
            raise
        if gone:
            self.close_connection = True
        elif out.fault == "reset":
            self.reset_connection()
        elif not self.send_outcome(out) and billed == "ok":
            with S.lock:            # the client went away mid-write
                st = S.stats
                st["billed_ok_pusd"] -= out.pusd
                st["billed_ok_requests"] -= 1
                st["billed_fault_pusd"] += out.pusd
                st["billed_fault_requests"] += 1

    def account(self, out, billed, key, req, path, sha, t0):
        """Counts the request in /_stats (ending it in flight) and logs it."""
        S = self.S
        status = 0 if out.fault == "reset" else out.status
        with S.lock:
            st = S.stats
            st["in_flight"] -= 1
            k = str(status)
            st["by_status"][k] = st["by_status"].get(k, 0) + 1
            if out.fault:
                st["by_fault"][out.fault] = st["by_fault"].get(out.fault, 0) + 1
            if key is not None:
                bk = st["by_key"].setdefault(last4(key), {"requests": 0, "ok": 0, "429": 0})
                bk["requests"] += 1
                if 200 <= status < 300 and billed != "fault":
                    bk["ok"] += 1
                if out.status == 429:
                    bk["429"] += 1
            if billed:
                st["billed_%s_pusd" % billed] += out.pusd
                st["billed_%s_requests" % billed] += 1
                st["prompt_tokens"] += out.prompt_tokens
                st["completion_tokens"] += out.completion_tokens
                if out.unpriced:
                    st["unpriced"] += 1
        custom = None
        if isinstance(req, dict) and isinstance(req.get("metadata"), dict):
            custom = req["metadata"].get("custom")
        S.write_log({
            "t": t0, "key": last4(key) if key else None, "path": path,
            "status": status, "fault": out.fault, "body_sha256": sha,
            "custom": custom, "billed": billed,
            "billed_pusd": out.pusd if billed else 0,
            "prompt_tokens": out.prompt_tokens if billed else 0,
            "completion_tokens": out.completion_tokens if billed else 0,
        })

    def send_outcome(self, out):
        """Writes the reply (cut short for "truncate"); False if the write failed."""
        try:
            if out.fault == "truncate":
                self.close_connection = True
                self.write_response(out.status, out.headers, out.body,
                                    content_length=len(out.body) + 64,
                                    send=out.body[:len(out.body) // 2])
            else:
                self.write_response(out.status, out.headers, out.body)
            return True
        except OSError:
            self.close_connection = True
            return False

    def process(self, method, path, body, sha):
        """Decides the answer: (key, parsed request, Outcome)."""
        S = self.S
        a = S.args
        if path in ANTHROPIC_PATHS:
            dialect, kind = "anthropic", ANTHROPIC_PATHS[path]
        elif path in OPENAI_PATHS:
            dialect, kind = "openai", OPENAI_PATHS[path]
        elif path == "/v1/models":
            kind = "models"
            dialect = ("anthropic" if self.headers.get("x-api-key")
                       and not self.headers.get("Authorization") else "openai")
        else:
            out = error_outcome("openai", 404, "Invalid URL (%s %s)" % (method, path))
            return None, None, self.stamp(out, "openai", None, 0)
        want = "GET" if kind == "models" else "POST"
        if method != want:
            out = error_outcome(dialect, 405, "Method %s not allowed on %s" % (method, path))
            return None, None, self.stamp(out, dialect, None, 0)

        key = None
        out = self.setup_fault(dialect, method, path)
        if out is None:
            key, out = self.authenticate(dialect, body)
        if out is not None:
            return key, None, self.stamp(out, dialect, None, 0)

        now = time.time()
        if kind == "models":
            with S.lock:
                ks = S.key_state(key, now)
                out = self.models_outcome(dialect)
                return key, None, self.stamp(out, dialect, ks, now)

        with S.lock:
            ks = S.key_state(key, now)
            if self.is_exhausted(key, ks):
                return key, None, self.stamp(self.quota_outcome(dialect, key, body), dialect,
                                             ks, now)

        # -- the request body
        try:
            req = json.loads(body)
        except (ValueError, UnicodeDecodeError) as e:
            out = error_outcome(dialect, 400, "We could not parse the JSON body of your "
                                "request. (%s)" % e)
            return key, None, self.stamp(out, dialect, ks, now)
        problem = validate(kind, req)
        if problem:
            out = error_outcome(dialect, 400, problem)
            return key, req if isinstance(req, dict) else None, self.stamp(out, dialect, ks, now)

        price = S.prices.lookup(req.get("model"))
        n = req.get("n") if kind in ("chat", "completions") else 1
        n = n if isinstance(n, int) and n >= 1 else 1
        limit = request_limit(req)
        worst_limit = limit or (price and price["max_output_tokens"]) or DEFAULT_LIMIT
        weight = -(-sum(text_bytes(req.get(f), f in ("input", "prompt"))
                        for f in ("messages", "prompt", "input", "system", "instructions"))
                   // 4)
        if kind != "embeddings":
            weight += worst_limit * n

        with S.lock:
            # -- rate limits (per key)
            ks = S.key_state(key, now)
            out = self.rate_check(dialect, req, ks, weight)
            if out:
                S.stats["rate_limited"] += 1
                return key, req, self.stamp(out, dialect, ks, now)
            if ks.req:
                ks.req.level -= 1
            if ks.tok:
                ks.tok.level -= weight

            # -- deterministic directives
            code = directive_code(S, body, sha)
            special = None
            if code in livefaults.REDIRECTS or (code in (401, 403) and self.echo(body)):
                special = self.special(dialect, code, method, path, key, body)
            elif b"mock:unknown_url" in body:
                special = livefaults.not_found_outcome(dialect, method, path)
            if special:
                return key, req, self.stamp(special, dialect, ks, now)
            if code is not None and code >= 300:
                hdrs = []
                if code == 429:
                    hdrs = [("retry-after", "1")]
                    if dialect == "openai":
                        hdrs.append(("retry-after-ms", "100"))
                out = error_outcome(dialect, code, "mock:fail directive (%d)" % code,
                                    headers=hdrs)
                return key, req, self.stamp(out, dialect, ks, now)

            # -- injected faults
            fault = None
            r = S.rng.random()
            acc = 0.0
            for fk, p in S.faults:
                acc += p
                if r < acc:
                    fault = fk
                    break
            if fault and fault[0].isdigit():
                out = (self.special(dialect, int(fault), method, path, key, body)
                       or self.fault_status_outcome(dialect, int(fault)))
                out.fault = fault
                return key, req, self.stamp(out, dialect, ks, now)

            # -- success (re-check exhaustion atomically with the count)
            if self.is_exhausted(key, ks):
                return key, req, self.stamp(self.quota_outcome(dialect, key, body), dialect,
                                            ks, now)
            ks.successes += 1
            out = self.success_outcome(kind, dialect, req, body, price, limit, n)
            out.fault = fault
            if fault == "badjson":
                out.body = b"<html><body>502 upstream hiccup" + b"x" * 17 + b"</body></html"
            elif fault == "nousage":
                doc = json.loads(out.body)
                doc.pop("usage", None)
                out.body = jbytes(doc)
            return key, req, self.stamp(out, dialect, ks, now)

    def is_exhausted(self, key, ks):
        S = self.S
        if key in S.exhausted:
            return True
        n = S.exhaust_after.get(key)
        return n is not None and ks.successes >= n

    def echo(self, body):
        return bool(self.S.args.echo_key or (body and b"mock:echo_key" in body))

    def quota_outcome(self, dialect, key, body):
        return livefaults.quota_outcome(dialect, key, self.echo(body))

    def special(self, dialect, code, method, path, key, body):
        """The reply of an injected redirect / 401 / 403 / 404, else None."""
        return livefaults.special_outcome(dialect, code, method, path,
                                          self.headers.get("Host"), key, self.echo(body),
                                          last4(key))

    def setup_fault(self, dialect, method, path):
        """The reply of a configured setup mistake (redirect, unknown path), or None."""
        if self.S.args.redirect:
            return livefaults.redirect_outcome(self.S.args.redirect,
                                               self.headers.get("Host"), path)
        if path in self.S.not_found:
            return livefaults.not_found_outcome(dialect, method, path)
        return None

    def authenticate(self, dialect, body):
        """(key, None) for a usable key, else (key or None, the error Outcome)."""
        if dialect == "anthropic":
            key = self.headers.get("x-api-key")
            if not key:
                return None, error_outcome(dialect, 401, "x-api-key header is required")
            if not self.headers.get("anthropic-version"):
                return key, error_outcome(dialect, 400, "anthropic-version: header is required")
        else:
            auth = self.headers.get("Authorization") or ""
            key = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
            if not key:
                out = error_outcome(dialect, 401,
                                    "You didn't provide an API key. You need to provide "
                                    "your API key in an Authorization header using Bearer "
                                    "auth (i.e. Authorization: Bearer YOUR_KEY).", code="")
                out.body = out.body.replace(b'"code":""', b'"code":null')
                return None, out
        if key in self.S.invalid:
            return key, livefaults.auth_outcome(dialect, 401, key, self.echo(body), last4(key))
        return key, None

    def batch_call(self, method, path, query):
        """A Files / Batches / Message Batches call (see batchapi.py): no rate
        limits; auth, setup faults and control faults apply; logged."""
        S = self.S
        t0 = time.time()
        body = self.read_body()
        if body is None:
            self.close_connection = True
            return
        dialect = batchapi.dialect_of(path)
        key, fault, call = None, None, None
        out = self.setup_fault(dialect, method, path)
        if out is None:
            key, out = self.authenticate(dialect, body)
        if out is None:
            with S.lock:
                if self.is_exhausted(key, S.key_state(key, t0)):
                    out = self.quota_outcome(dialect, key, body)
        if out is None:
            try:
                out, fault, call = batchapi.handle(S, method, path, query, body, key,
                                                   self.headers)
            except Exception as e:  # a mock bug must not look like a network fault
                print("mockapi: internal error: %r" % e, file=sys.stderr)
                out = error_outcome(dialect, 500, "mock internal error: %r" % e)
        status = 0 if fault in ("reset", "reset_after") else out.status
        with S.lock:
            st = S.stats
            st["control_calls"] += 1
            k = str(status)
            st["control_by_status"][k] = st["control_by_status"].get(k, 0) + 1
            if fault:
                st["control_faults"][fault] = st["control_faults"].get(fault, 0) + 1
        S.write_log({
            "t": t0, "kind": "control", "method": method, "path": path,
            "key": last4(key) if key else None, "status": status, "fault": fault,
            "batch_id": call.batch_id if call else None,
            "file_id": call.file_id if call else None,
            "body_sha256": hashlib.sha256(body).hexdigest(), "custom": None,
            "billed": None, "billed_pusd": 0, "prompt_tokens": 0, "completion_tokens": 0})
        if fault in ("reset", "reset_after"):
            self.reset_connection()
            return
        self.send_outcome(self.stamp(out, dialect, None, 0))

    def rate_check(self, dialect, req, ks, weight):
        """A 429 Outcome if the key's buckets cannot take this request."""
        wait, what, limit = 0.0, None, 0
        if ks.req and ks.req.level < 1:
            wait, what, limit = ks.req.wait_for(1), "requests", ks.req.limit
        too_large = False
        if ks.tok and ks.tok.level < weight:
            too_large = weight > ks.tok.cap
            w = ks.tok.time_to_full() if too_large else ks.tok.wait_for(weight)
            if what is None or w > wait:
                wait, what, limit = w, "tokens", ks.tok.limit
        if what is None:
            return None
        ms = max(1, int(math.ceil(wait * 1000.0)))
        model = req.get("model")
        if dialect == "anthropic":
            msg = ("This request would exceed the rate limit for your organization of "
                   "%d %s per minute. Please retry after %d ms." % (limit, what, ms))
            return error_outcome(dialect, 429, msg,
                                 headers=[("retry-after", str(int(math.ceil(ms / 1000.0))))])
        if too_large:
            msg = ("Request too large for %s on tokens per min (TPM): Limit %d, "
                   "Requested %d." % (model, limit, weight))
        else:
            msg = ("Rate limit reached for %s in organization org-mock on %s per min "
                   "(%s): Limit %d. Please try again in %dms."
                   % (what, model, "RPM" if what == "requests" else "TPM", limit, ms))
        return error_outcome(dialect, 429, msg, etype=what, code="rate_limit_exceeded",
                             headers=[("retry-after-ms", str(ms)),
                                      ("retry-after", str(int(math.ceil(ms / 1000.0))))])

    def fault_status_outcome(self, dialect, code):
        """An injected error status (429 with a random form of retry hint)."""
        S = self.S
        hdrs = []
        if code == 429:
            form = S.rng.choice(("seconds", "ms", "date", "none"))
            if form == "seconds":
                hdrs.append(("retry-after", "1"))
            elif form == "ms":
                hdrs.append(("retry-after-ms", str(S.rng.randint(20, 300))))
            elif form == "date":
                hdrs.append(("retry-after", email.utils.formatdate(time.time() + 2,
                                                                    usegmt=True)))
            return error_outcome(dialect, 429, "Rate limit reached for requests (injected).",
                                 etype="requests" if dialect == "openai" else None,
                                 code="rate_limit_exceeded", headers=hdrs)
        msg = {500: "The server had an error while processing your request.",
               502: "Bad gateway.", 503: "The engine is currently overloaded.",
               529: "Overloaded"}[code]
        return error_outcome(dialect, code, msg)

    def stamp(self, out, dialect, ks, now):
        """Adds the request id, content type and rate-limit headers."""
        a = self.S.args
        h = [("Content-Type", out.ctype or "application/json"),
             ("request-id" if dialect == "anthropic" else "x-request-id", "req_" + hexid())]
        if dialect == "openai":
            h.append(("openai-processing-ms", "1"))
        if ks is not None and not a.no_ratelimit_headers:
            for what, b in (("requests", ks.req), ("tokens", ks.tok)):
                if b is None:
                    continue
                remaining = max(0, int(math.floor(b.level)))
                if dialect == "anthropic":
                    h += [("anthropic-ratelimit-%s-limit" % what, str(b.limit)),
                          ("anthropic-ratelimit-%s-remaining" % what, str(remaining)),
                          ("anthropic-ratelimit-%s-reset" % what,
                           rfc3339(now + b.time_to_full()))]
                else:
                    h += [("x-ratelimit-limit-%s" % what, str(b.limit)),
                          ("x-ratelimit-remaining-%s" % what, str(remaining)),
                          ("x-ratelimit-reset-%s" % what, go_duration(b.time_to_full()))]
        out.headers = h + out.headers
        return out

    def models_outcome(self, dialect):
        names = sorted(set(self.S.prices.table) | {"mock-model"})
        if dialect == "anthropic":
            data = [{"type": "model", "id": n, "display_name": n,
                     "created_at": "2025-01-01T00:00:00Z"} for n in names]
            return Outcome(200, jbytes({"data": data, "has_more": False,
                                        "first_id": names[0], "last_id": names[-1]}))
        data = [{"id": n, "object": "model", "created": 1700000000, "owned_by": "mock"}
                for n in names]
        return Outcome(200, jbytes({"object": "list", "data": data}))

    def usage_numbers(self, kind, body, prompt, price, limit, n):
        """(prompt total, cached, cache_write, completion) under --usage."""
        a = self.S.args
        completes = kind != "embeddings"
        worst_p = len(body)
        worst_c = ((limit or (price and price["max_output_tokens"]) or DEFAULT_LIMIT) * n
                   if completes else 0)
        if a.usage == "worst":
            p, c = worst_p, worst_c
        elif a.usage == "random":
            p = self.S.rng.randint(0, worst_p)
            c = self.S.rng.randint(0, worst_c)
        else:
            p = -(-len(body) // 4)
            h = int(hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:8], 16)
            c = min(limit or DEFAULT_LIMIT, 5 + h % 20) * n if completes else 0
        cached = write = 0
        if kind in ("chat", "responses", "messages"):
            cached = int(p * a.cached_ratio)
        if kind == "messages":
            write = min(p - cached, int(p * a.cache_write_ratio))
        return p, cached, write, c

    def success_outcome(self, kind, dialect, req, body, price, limit, n):
        model = req.get("model")
        prompt, last = prompt_info(kind, req)
        psha = hashlib.sha256(prompt.encode("utf-8")).hexdigest()
        text = "echo: " + last[:40] + " #" + psha[:8]
        p, cached, write, c = self.usage_numbers(kind, body, prompt, price, limit, n)
        eff_limit = (limit or DEFAULT_LIMIT)
        finish = "length" if c and c >= eff_limit * n else "stop"
        created = int(time.time())
        if kind == "chat":
            doc = {"id": "chatcmpl-" + hexid(), "object": "chat.completion",
                   "created": created, "model": model,
                   "choices": [{"index": i, "message": {"role": "assistant", "content": text,
                                                        "refusal": None},
                                "logprobs": None, "finish_reason": finish}
                               for i in range(n)],
                   "usage": {"prompt_tokens": p, "completion_tokens": c,
                             "total_tokens": p + c,
                             "prompt_tokens_details": {"cached_tokens": cached,
                                                       "audio_tokens": 0},
                             "completion_tokens_details": {
                                 "reasoning_tokens": 0, "audio_tokens": 0,
                                 "accepted_prediction_tokens": 0,
                                 "rejected_prediction_tokens": 0}},
                   "system_fingerprint": "fp_mock"}
        elif kind == "completions":
            doc = {"id": "cmpl-" + hexid(), "object": "text_completion", "created": created,
                   "model": model,
                   "choices": [{"text": text, "index": i, "logprobs": None,
                                "finish_reason": finish} for i in range(n)],
                   "usage": {"prompt_tokens": p, "completion_tokens": c,
                             "total_tokens": p + c}}
        elif kind == "embeddings":
            inputs = req.get("input")
            inputs = inputs if isinstance(inputs, list) and inputs and \
                not isinstance(inputs[0], int) else [inputs]
            data = []
            for i, x in enumerate(inputs):
                d = hashlib.sha256(json.dumps(x).encode("utf-8")).digest()
                vec = [round((d[j] - 127.5) / 127.5, 6) for j in range(8)]
                data.append({"object": "embedding", "index": i, "embedding": vec})
            doc = {"object": "list", "data": data, "model": model,
                   "usage": {"prompt_tokens": p, "total_tokens": p}}
        elif kind == "responses":
            doc = {"id": "resp_" + hexid(), "object": "response", "created_at": created,
                   "status": "completed", "model": model,
                   "output": [{"type": "message", "id": "msg_" + hexid(),
                               "status": "completed", "role": "assistant",
                               "content": [{"type": "output_text", "text": text,
                                            "annotations": []}]}],
                   "usage": {"input_tokens": p,
                             "input_tokens_details": {"cached_tokens": cached},
                             "output_tokens": c,
                             "output_tokens_details": {"reasoning_tokens": 0},
                             "total_tokens": p + c}}
        else:  # messages
            doc = {"id": "msg_" + hexid(), "type": "message", "role": "assistant",
                   "model": model, "content": [{"type": "text", "text": text}],
                   "stop_reason": "max_tokens" if finish == "length" else "end_turn",
                   "stop_sequence": None,
                   "usage": {"input_tokens": p - cached - write,
                             "cache_creation_input_tokens": write,
                             "cache_read_input_tokens": cached,
                             "output_tokens": c}}
        out = Outcome(200, jbytes(doc))
        out.billable = True
        out.prompt_tokens = p
        out.completion_tokens = c
        if price is None:
            out.unpriced = True
        else:
            out.pusd = ((p - cached - write) * price["input"] + cached * price["cached_input"]
                        + write * price["cache_write"] + c * price["output"])
        return out


def directive_code(S, body, sha):
    """The status a mock:fail / mock:fail_first directive asks for, or None
    (counts fail_first attempts per body; under S.lock)."""
    m = DIRECTIVE_FAIL.search(body)
    code = int(m.group(1)) if m else None
    m = DIRECTIVE_FAIL_FIRST.search(body)
    if code is None and m:
        seen = S.fail_first.get(sha, 0) + 1
        S.fail_first[sha] = seen
        if seen <= int(m.group(1)):
            code = int(m.group(2))
    return code


class RowProcessor:
    """Processes one batch row as a live request is processed (validation,
    mock:fail / mock:fail_first directives, usage, price), without auth or
    rate limits: an Outcome at the LIVE price.  Called under S.lock."""

    usage_numbers = Handler.usage_numbers
    success_outcome = Handler.success_outcome

    def __init__(self, S):
        self.S = S

    def __call__(self, dialect, kind, req, body):
        problem = validate(kind, req)
        if problem:
            return error_outcome(dialect, 400, problem)
        code = directive_code(self.S, body, hashlib.sha256(body).hexdigest())
        if code is not None and code >= 300:
            return error_outcome(dialect, code, "mock:fail directive (%d)" % code)
        price = self.S.prices.lookup(req.get("model"))
        n = req.get("n") if kind in ("chat", "completions") else 1
        n = n if isinstance(n, int) and not isinstance(n, bool) and n >= 1 else 1
        return self.success_outcome(kind, dialect, req, body, price, request_limit(req), n)


def validate(kind, req):
    """A 400 message if the request is malformed for its endpoint, else None."""
    if not isinstance(req, dict):
        return "The request body must be a JSON object."
    if not isinstance(req.get("model"), str) or not req["model"]:
        return "you must provide a model parameter"
    if kind in ("chat", "messages"):
        if not isinstance(req.get("messages"), list) or not req["messages"]:
            return "messages: field required (a non-empty array)"
    elif kind == "completions" and "prompt" not in req:
        return "prompt: field required"
    elif kind in ("embeddings", "responses") and "input" not in req:
        return "input: field required"
    if kind == "messages" and "max_tokens" not in req:
        return "max_tokens: Field required"
    for k in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
        v = req.get(k)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            return "%s: must be an integer >= 1" % k
    n = req.get("n")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        return "n: must be an integer >= 1"
    return None


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # Peers that hang up are part of the tests; anything else is a bug.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


def parse_args(argv):
    ap = argparse.ArgumentParser(description="Mock OpenAI/Anthropic API for llmbatch tests.",
                                 epilog=HELP_EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=0, help="port (0 = pick a free one)")
    ap.add_argument("--port-file", help="write the bound port here (atomically)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--prices", default=DEFAULT_PRICES, help="price table (USD per 1M tokens)")
    ap.add_argument("--usage", choices=("exact", "worst", "random"), default="exact")
    ap.add_argument("--cached-ratio", type=float, default=0.0,
                    help="fraction of prompt tokens reported as cached (chat, responses, messages)")
    ap.add_argument("--cache-write-ratio", type=float, default=0.0,
                    help="fraction of prompt tokens reported as cache writes (messages)")
    ap.add_argument("--faults", default="", help="kind=prob,... kinds: " + ",".join(FAULT_KINDS))
    ap.add_argument("--slow-ms", type=int, default=3000)
    ap.add_argument("--latency-ms", type=int, default=0, help="delay before every API reply")
    ap.add_argument("--rpm", type=int, default=0, help="requests per minute per key")
    ap.add_argument("--burst", type=int, default=0,
                    help="request bucket capacity (default: the whole --rpm); refilled "
                    "at rpm/60 per second, like OpenAI's limiter")
    ap.add_argument("--tpm", type=int, default=0, help="tokens per minute per key")
    ap.add_argument("--no-ratelimit-headers", action="store_true")
    ap.add_argument("--exhausted-keys", default="")
    ap.add_argument("--exhaust-after", action="append", default=[], metavar="KEY=N")
    ap.add_argument("--invalid-keys", default="")
    ap.add_argument("--echo-key", action="store_true",
                    help="401/403/quota error bodies quote the caller's whole key")
    ap.add_argument("--redirect", type=int, default=0, choices=(0,) + livefaults.REDIRECTS,
                    help="answer every API request with this redirect status")
    ap.add_argument("--not-found-paths", default="",
                    help="comma-separated API paths that always answer 404 unknown_url")
    ap.add_argument("--log", help="append one JSON line per API request and control call")
    batchapi.add_args(ap)
    args = ap.parse_args(argv)
    try:
        parse_faults(args.faults)
        parse_exhaust_after(args.exhaust_after)
        batchapi.parse_control_faults(args.control_faults)
    except ValueError as e:
        ap.error(str(e))
    return args


def main(argv=None):
    args = parse_args(argv)
    Handler.S = State(args)
    batchapi.init(Handler.S, RowProcessor(Handler.S), OPENAI_PATHS, last4)
    httpd = Server(("127.0.0.1", args.port), Handler)
    port = httpd.server_address[1]
    if args.port_file:
        tmp = "%s.tmp.%d" % (args.port_file, os.getpid())
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.port_file)

    def stop(signum, frame):
        threading.Thread(target=httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        httpd.serve_forever(poll_interval=0.1)
    finally:
        httpd.server_close()
        if Handler.S.log:
            with Handler.S.log_lock:
                Handler.S.log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

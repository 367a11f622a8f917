"""
batchapi: the asynchronous side of the mock API -- OpenAI Files + Batches and
Anthropic Message Batches -- sharing one in-memory store and one clock.

What it owns: the Store (files, batches, their rows), the time-driven state
machine that advances every batch, the processing and half-price billing of
batch rows, the control-call faults, and the routing of /v1/files*,
/v1/batches*, /v1/messages/batches* and of the /_batch* test hooks.  The wire
shapes of each provider live in files.py, batches_openai.py and
batches_anthropic.py.

Invariants:
  * Every change to the Store happens under S.lock (the server's one state
    lock); the ticker thread takes the same lock.
  * A batch moves one state per step (batch_step_ms); a terminal batch
    (completed, failed, expired, cancelled) never changes again.
  * A row is processed at most once, by the same code as a live request
    (validation, mock:fail / mock:fail_first directives, usage); a succeeded
    row is billed ceil(live_pusd / 2) into billed_ok_pusd and billed_batch_pusd
    at the instant it is processed, whether or not anyone ever polls.
  * Batches and files belong to the key that created them; another key gets
    404 (each key is its own organization).

Time model (step = batch_step_ms):
  OpenAI:    validating --1 step--> in_progress --rows--> finalizing --1 step-->
             completed; in_progress processes rows_per_step rows per step
             (default ceil(total/3)).  Validation failures and the enqueued
             token limit end in failed at the first step.
  Anthropic: in_progress --rows--> ended (no validating/finalizing phase).
  cancel:    -> cancelling --1 step--> cancelled (unprocessed rows cancelled).
  expire:    batch_expire_after_rows=N (read when a batch is created) expires
             it after N rows; POST /_batch/<id>/expire expires it at once.
"""

import json
import math
import random
import re
import threading
import time
from urllib.parse import parse_qs

from mockcommon import Outcome, error_outcome, hexid, jbytes
import batches_anthropic
import batches_openai
import files

CONTROL_FAULT_KINDS = ("429", "500", "503", "reset", "reset_after")
ACTIVE = ("validating", "in_progress", "finalizing", "cancelling")
TERMINAL = ("completed", "failed", "expired", "cancelled")

MB = 1000 * 1000
DEFAULTS = {
    "batch_step_ms": 200,
    "batch_rows_per_step": 0,
    "batch_expire_after_rows": -1,
    "enqueued_token_limit": 0,
    "openai_max_requests": 50000,
    "openai_max_file_bytes": 200 * MB,
    "anthropic_max_requests": 100000,
    "anthropic_max_bytes": 256 * MB,
}


def add_args(ap):
    """Adds the batch options to the server's argument parser."""
    g = ap.add_argument_group("batch APIs (OpenAI Files/Batches, Anthropic Message Batches)")
    g.add_argument("--batch-step-ms", type=int, default=DEFAULTS["batch_step_ms"],
                   help="time per batch state step (default 200)")
    g.add_argument("--batch-rows-per-step", type=int, default=0,
                   help="rows processed per step (0 = a third of the batch)")
    g.add_argument("--batch-expire-after-rows", type=int, default=-1,
                   help="new batches expire after N processed rows (-1 = never)")
    g.add_argument("--enqueued-token-limit", type=int, default=0,
                   help="prompt tokens enqueued per key and model (0 = no limit)")
    g.add_argument("--control-faults", default="",
                   help="faults on batch/file calls: kind=prob,... kinds: "
                   + ",".join(CONTROL_FAULT_KINDS))
    for k in ("openai_max_requests", "openai_max_file_bytes",
              "anthropic_max_requests", "anthropic_max_bytes"):
        g.add_argument("--" + k.replace("_", "-"), type=int, default=DEFAULTS[k])


def parse_control_faults(spec):
    out = []
    for item in [x.strip() for x in (spec or "").split(",") if x.strip()]:
        kind, sep, prob = item.partition("=")
        if kind not in CONTROL_FAULT_KINDS or not sep:
            raise ValueError("bad control fault %r (kinds: %s)"
                             % (item, ", ".join(CONTROL_FAULT_KINDS)))
        p = float(prob)
        if not 0.0 <= p <= 1.0:
            raise ValueError("control fault probability out of [0,1]: %r" % item)
        out.append((kind, p))
    return out


def fresh_stats():
    """The batch counters that /_stats carries next to the live ones."""
    return {
        "billed_batch_pusd": 0, "billed_batch_requests": 0,
        "batch_prompt_tokens": 0, "batch_completion_tokens": 0,
        "batch_rows": {"succeeded": 0, "errored": 0, "expired": 0, "cancelled": 0},
        "batches_created": 0, "files_created": 0,
        "control_calls": 0, "control_by_status": {}, "control_faults": {},
        "batch_by_key": {},
    }


class Row:
    """One request of a batch: where it came from and how it ended."""

    __slots__ = ("line", "custom_id", "kind", "req", "body", "tokens", "state",
                 "outcome", "request_id", "row_id")

    def __init__(self, line, custom_id, kind, req):
        self.line = line
        self.custom_id = custom_id
        self.kind = kind
        self.req = req
        self.body = jbytes(req)
        self.tokens = -(-len(self.body) // 4)   # enqueued prompt tokens
        self.state = None          # None | ok | error | expired | cancelled
        self.outcome = None
        self.request_id = None
        self.row_id = None


class Batch:
    def __init__(self, dialect, key, seq, now, store):
        self.dialect = dialect
        self.key = key
        self.seq = seq
        self.created = now
        self.status = "validating" if dialect == "openai" else "in_progress"
        self.times = {}
        self.rows = []
        self.validated = dialect == "anthropic"
        self.pos = 0
        n = store.cfg["batch_expire_after_rows"]
        self.expire_after = n if n >= 0 else None
        self.t_next = now + store.step()
        self.model = None
        self.endpoint = None
        self.input_file_id = None
        self.metadata = None
        self.errors = None
        self.output_file_id = None
        self.error_file_id = None
        self.results = None        # Anthropic results JSONL (bytes)
        self.id = None
        self.counts = {"ok": 0, "error": 0, "expired": 0, "cancelled": 0}

    @property
    def enqueued(self):
        return sum(r.tokens for r in self.rows)


class Store:
    """Files and batches of every key, and the engine that advances them."""

    def __init__(self, S, rowproc, openai_kinds, last4):
        self.S = S
        self.rowproc = rowproc          # (dialect, kind, req, body) -> Outcome, under S.lock
        self.openai_kinds = openai_kinds
        self.last4 = last4
        a = S.args
        self.cfg = {k: getattr(a, k) for k in DEFAULTS}
        self.control_faults = parse_control_faults(a.control_faults)
        self.crng = random.Random("control:%s" % a.seed)
        self.clear()

    def clear(self):
        self.batches = {}
        self.files = {}
        self.seq = 0

    def next_seq(self):
        self.seq += 1
        return self.seq

    def step(self):
        return max(0.001, self.cfg["batch_step_ms"] / 1000.0)

    def configure(self, cfg):
        """Applies the batch keys of a /_config document (under S.lock)."""
        for k in DEFAULTS:
            if k in cfg:
                self.cfg[k] = int(cfg[k])
        if "control_faults" in cfg:
            self.control_faults = parse_control_faults(cfg["control_faults"])
        if "seed" in cfg:
            self.crng = random.Random("control:%s" % cfg["seed"])

    # -- the engine

    def advance_all(self, now):
        for b in list(self.batches.values()):
            self.advance(b, now)

    def advance(self, b, now):
        while b.status not in TERMINAL and now >= b.t_next:
            t = b.t_next
            b.t_next += self.step()
            self.transition(b, t)

    def module(self, b):
        return batches_openai if b.dialect == "openai" else batches_anthropic

    def validate(self, b, t):
        """OpenAI: parse the input file; False if the batch failed."""
        if b.validated:
            return True
        b.validated = True
        errors = batches_openai.parse_rows(self, b)
        if not errors:
            errors = self.token_limit_errors(b)
        if errors:
            b.rows = []
            self.set_failed(b, t, errors)
            return False
        return True

    def transition(self, b, t):
        if b.status == "validating":
            if self.validate(b, t):
                b.status = "in_progress"
                b.times["in_progress"] = t
        elif b.status == "in_progress":
            k = self.cfg["batch_rows_per_step"] or -(-len(b.rows) // 3)
            for _ in range(max(1, k)):
                if b.pos >= len(b.rows):
                    break
                if b.expire_after is not None and b.pos >= b.expire_after:
                    break
                self.run_row(b, b.rows[b.pos])
                b.pos += 1
            if (b.expire_after is not None and b.pos >= b.expire_after
                    and b.pos < len(b.rows)):
                self.end(b, t, "expired")
            elif b.pos >= len(b.rows):
                if b.dialect == "openai":
                    b.status = "finalizing"
                    b.times["finalizing"] = t
                else:
                    self.end(b, t, "completed")
        elif b.status == "finalizing":
            self.end(b, t, "completed")
        elif b.status == "cancelling":
            self.end(b, t, "cancelled")

    def end(self, b, t, status):
        """Terminal state: unprocessed rows expire or are cancelled; results written."""
        left = {"expired": "expired", "cancelled": "cancelled"}.get(status)
        if left:
            for r in b.rows[b.pos:]:
                r.state = left
                r.row_id = "batch_req_" + hexid(16)
                b.counts[left] += 1
                self.S.stats["batch_rows"][left] += 1
            b.pos = len(b.rows)
        b.status = status
        b.times[status] = t
        self.module(b).finalize(self, b)

    def set_failed(self, b, t, errors):
        b.errors = errors
        b.status = "failed"
        b.times["failed"] = t
        if any(r.state for r in b.rows):
            self.module(b).finalize(self, b)

    def token_limit_errors(self, b):
        limit = self.cfg["enqueued_token_limit"]
        if not limit or b.model is None:
            return []
        used = self.enqueued_for(b.key, b.model, exclude=b)
        if used + b.enqueued <= limit:
            return []
        return [{"code": "token_limit_exceeded",
                 "message": "Enqueued token limit reached for %s in organization "
                 "org-mock. Limit: %s enqueued tokens. Please try again once some "
                 "in_progress batches have been completed." % (b.model, format(limit, ",")),
                 "param": None, "line": None}]

    def enqueued_for(self, key, model, exclude=None):
        return sum(r.tokens for x in self.batches.values()
                   if x is not exclude and x.key == key and x.validated
                   and x.status in ACTIVE for r in x.rows if r.req.get("model") == model)

    def run_row(self, b, r):
        S = self.S
        out = self.rowproc(b.dialect, r.kind, r.req, r.body)
        r.outcome = out
        r.request_id = "req_" + hexid()
        r.row_id = "batch_req_" + hexid(16)
        st = S.stats
        bk = st["batch_by_key"].setdefault(self.last4(b.key), {
            "rows_ok": 0, "rows_error": 0, "billed_pusd": 0})
        billed = 0
        if out.status == 200:
            r.state = "ok"
            b.counts["ok"] += 1
            st["batch_rows"]["succeeded"] += 1
            billed = (out.pusd + 1) // 2
            out.pusd = billed
            st["billed_ok_pusd"] += billed
            st["billed_ok_requests"] += 1
            st["billed_batch_pusd"] += billed
            st["billed_batch_requests"] += 1
            st["prompt_tokens"] += out.prompt_tokens
            st["completion_tokens"] += out.completion_tokens
            st["batch_prompt_tokens"] += out.prompt_tokens
            st["batch_completion_tokens"] += out.completion_tokens
            if out.unpriced:
                st["unpriced"] += 1
            bk["rows_ok"] += 1
            bk["billed_pusd"] += billed
        else:
            r.state = "error"
            b.counts["error"] += 1
            st["batch_rows"]["errored"] += 1
            bk["rows_error"] += 1
        S.write_log({
            "t": time.time(), "kind": "batch_row", "key": self.last4(b.key),
            "path": b.endpoint or "/v1/messages", "status": out.status, "fault": None,
            "batch_id": b.id, "custom": r.custom_id,
            "body_sha256": None, "billed": "ok" if billed or out.status == 200 else None,
            "billed_pusd": billed,
            "prompt_tokens": out.prompt_tokens if out.status == 200 else 0,
            "completion_tokens": out.completion_tokens if out.status == 200 else 0,
        })

    def add_batch(self, b, prefix):
        b.id = prefix + hexid(12)
        self.batches[b.id] = b
        self.S.stats["batches_created"] += 1
        return b

    def owned_batch(self, bid, key, dialect):
        b = self.batches.get(bid)
        if b is None or b.key != key or b.dialect != dialect:
            return None
        return b

    def cancel(self, b, now):
        b.status = "cancelling"
        b.times["cancelling"] = now
        b.t_next = now + self.step()

    def force(self, b, what, now, doc):
        """Test hook: expire or fail a batch now.  False if it is terminal."""
        self.advance(b, now)
        if b.status in TERMINAL:
            return False
        if what == "expire":
            if b.status == "validating" and not self.validate(b, now):
                return True
            self.end(b, now, "expired")
        else:
            self.set_failed(b, now, [{
                "code": str(doc.get("code") or "server_error"),
                "message": str(doc.get("message") or "The batch failed (forced by the test)."),
                "param": None, "line": None}])
        return True

    def snapshot_into(self, s):
        by = {}
        for b in self.batches.values():
            by[b.status] = by.get(b.status, 0) + 1
        s["batches_by_status"] = by
        s["billed_total_pusd"] = s["billed_ok_pusd"] + s["billed_fault_pusd"]
        s["billed_live_pusd"] = s["billed_total_pusd"] - s["billed_batch_pusd"]


def init(S, rowproc, openai_kinds, last4):
    """Creates S.batches and starts the ticker thread that advances batches."""
    S.batches = Store(S, rowproc, openai_kinds, last4)

    def tick():
        while True:
            with S.lock:
                step = S.batches.step()
                S.batches.advance_all(time.time())
            time.sleep(min(0.05, max(0.005, step / 4)))

    threading.Thread(target=tick, name="batch-ticker", daemon=True).start()


# ---------------------------------------------------------------- routing

OWNED = re.compile(r"^/v1/(files|batches|messages/batches)(/|$)")


def owns(path):
    """True for the paths this module answers."""
    return bool(OWNED.match(path))


ROUTES = [
    ("openai", "POST", re.compile(r"^/v1/files$"), files.upload),
    ("openai", "GET", re.compile(r"^/v1/files$"), files.list_files),
    ("openai", "GET", re.compile(r"^/v1/files/([^/]+)$"), files.retrieve),
    ("openai", "DELETE", re.compile(r"^/v1/files/([^/]+)$"), files.delete),
    ("openai", "GET", re.compile(r"^/v1/files/([^/]+)/content$"), files.content),
    ("openai", "POST", re.compile(r"^/v1/batches$"), batches_openai.create),
    ("openai", "GET", re.compile(r"^/v1/batches$"), batches_openai.list_batches),
    ("openai", "GET", re.compile(r"^/v1/batches/([^/]+)$"), batches_openai.retrieve),
    ("openai", "POST", re.compile(r"^/v1/batches/([^/]+)/cancel$"), batches_openai.cancel),
    ("anthropic", "POST", re.compile(r"^/v1/messages/batches$"), batches_anthropic.create),
    ("anthropic", "GET", re.compile(r"^/v1/messages/batches$"), batches_anthropic.list_batches),
    ("anthropic", "GET", re.compile(r"^/v1/messages/batches/([^/]+)$"),
     batches_anthropic.retrieve),
    ("anthropic", "DELETE", re.compile(r"^/v1/messages/batches/([^/]+)$"),
     batches_anthropic.delete),
    ("anthropic", "POST", re.compile(r"^/v1/messages/batches/([^/]+)/cancel$"),
     batches_anthropic.cancel),
    ("anthropic", "GET", re.compile(r"^/v1/messages/batches/([^/]+)/results$"),
     batches_anthropic.results),
]


def dialect_of(path):
    return "anthropic" if path.startswith("/v1/messages/") else "openai"


class Call:
    """One control call as the route functions see it."""

    def __init__(self, store, key, body, query, headers, now):
        self.store = store
        self.key = key
        self.body = body
        self.query = {k: v[-1] for k, v in parse_qs(query).items()}
        self.headers = headers
        self.now = now
        self.batch_id = None
        self.file_id = None

    def base_url(self):
        return "http://" + (self.headers.get("Host") or "127.0.0.1")


def pick_fault(store):
    r = store.crng.random()
    acc = 0.0
    for kind, p in store.control_faults:
        acc += p
        if r < acc:
            return kind
    return None


def fault_outcome(dialect, kind):
    if kind == "429":
        hdrs = [("retry-after", "1")]
        if dialect == "openai":
            hdrs.append(("retry-after-ms", "150"))
        return error_outcome(dialect, 429, "Rate limit reached for batch API requests "
                             "(injected).", code="rate_limit_exceeded", headers=hdrs,
                             etype="requests" if dialect == "openai" else None)
    msg = {"500": "The server had an error while processing your request.",
           "503": "The server is overloaded or not ready yet."}[kind]
    return error_outcome(dialect, int(kind), msg)


def handle(S, method, path, query, body, key, headers):
    """Answers one authenticated control call: (Outcome, fault, Call).

    fault is None, a status fault ("429", "500", "503": nothing happened),
    "reset" (nothing happened, drop the connection) or "reset_after" (the
    call took effect, then the connection is dropped)."""
    dialect = dialect_of(path)
    with S.lock:
        store = S.batches
        now = time.time()
        call = Call(store, key, body, query, headers, now)
        fault = pick_fault(store)
        if fault in ("429", "500", "503"):
            return fault_outcome(dialect, fault), fault, call
        if fault == "reset":
            return Outcome(0, b""), fault, call
        store.advance_all(now)
        for d, m, rx, fn in ROUTES:
            mt = rx.match(path)
            if mt and d == dialect:
                if m != method:
                    continue
                out = fn(call, *mt.groups())
                break
        else:
            if any(rx.match(path) for _, _, rx, _ in ROUTES):
                out = error_outcome(dialect, 405, "Method %s not allowed on %s" % (method, path))
            else:
                out = error_outcome(dialect, 404, "Invalid URL (%s %s)" % (method, path))
        return out, fault, call


def control(S, method, path, body):
    """The /_batch* test hooks: (status, JSON object).

    GET  /_batches                 every batch: id, dialect, key, status, rows
    POST /_batch/<id>/expire       expire now (finished rows kept)
    POST /_batch/<id>/fail         fail now; body {"code":..,"message":..}
    """
    with S.lock:
        store = S.batches
        now = time.time()
        if path == "/_batches" and method == "GET":
            store.advance_all(now)
            return 200, {"data": [{
                "id": b.id, "dialect": b.dialect, "key": store.last4(b.key),
                "status": b.status, "rows": len(b.rows), "processed": b.pos,
                "counts": dict(b.counts), "model": b.model,
                "metadata": b.metadata} for b in sorted(store.batches.values(),
                                                         key=lambda x: x.seq)]}
        m = re.match(r"^/_batch/([^/]+)/(expire|fail)$", path)
        if not m or method != "POST":
            return 404, {"error": "no such control endpoint"}
        b = store.batches.get(m.group(1))
        if b is None:
            return 404, {"error": "no such batch"}
        try:
            doc = json.loads(body or b"{}")
        except ValueError:
            doc = {}
        if not store.force(b, m.group(2), now, doc if isinstance(doc, dict) else {}):
            return 409, {"error": "batch is %s" % b.status}
        return 200, {"ok": True, "status": b.status}


def epoch_int(t):
    return int(math.floor(t)) if t is not None else None

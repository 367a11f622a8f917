#!/usr/bin/env python3
"""The mock API server's own tests: talks to it directly (not via llmbatch)."""

import email.utils
import hashlib
import http.client
import json
import os
import re
import sys
import threading
import time
import unittest
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Mock, tmpdir  # noqa: E402

KEY = "sk-test-0000000000000000aaaa"
AKEY = "sk-ant-test-000000000000bbbb"

PRICES = {
    "updated": "2025-01-01", "source": "test",
    "models": {
        "mock-model": {"input": 0.15, "cached_input": 0.075, "cache_write": 0.1875,
                       "output": 0.6, "max_output_tokens": 1000},
        "mock-model-big": {"input": 3, "cached_input": 0.3, "cache_write": 3.75,
                           "output": 15, "max_output_tokens": 8192},
    },
}


def pusd(usd_per_1m):
    return int((Decimal(str(usd_per_1m)) * 10 ** 6).to_integral_value())


def chat_body(text, model="mock-model", max_tokens=16, **extra):
    b = {"model": model, "messages": [{"role": "user", "content": text}]}
    if max_tokens is not None:
        b["max_tokens"] = max_tokens
    b.update(extra)
    return json.dumps(b).encode()


class Client:
    """A keep-alive connection to the mock."""

    def __init__(self, mock, timeout=10):
        self.conn = http.client.HTTPConnection("127.0.0.1", mock.port, timeout=timeout)

    def post(self, path, body, key=KEY, anthropic=False, headers=None):
        h = {"Content-Type": "application/json"}
        if anthropic:
            if key:
                h["x-api-key"] = key
            h["anthropic-version"] = "2023-06-01"
        elif key:
            h["Authorization"] = "Bearer " + key
        h.update(headers or {})
        self.conn.request("POST", path, body, h)
        r = self.conn.getresponse()
        data = r.read()
        return r, data

    def get(self, path, key=KEY):
        self.conn.request("GET", path, headers={"Authorization": "Bearer " + key} if key else {})
        r = self.conn.getresponse()
        return r, r.read()

    def close(self):
        self.conn.close()


GO_DUR = re.compile(r"^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:([\d.]+)s)?(?:(\d+)ms)?$")


def parse_go_duration(s):
    m = GO_DUR.match(s)
    if not m or not any(m.groups()):
        raise ValueError(s)
    h, mi, sec, ms = m.groups()
    return int(h or 0) * 3600 + int(mi or 0) * 60 + float(sec or 0) + int(ms or 0) / 1000.0


class MockBase(unittest.TestCase):
    """Starts mocks with the test price table (no tests of its own)."""

    @classmethod
    def setUpClass(cls):
        cls._tmp = tmpdir()
        cls.prices = os.path.join(cls._tmp.name, "prices.json")
        with open(cls.prices, "w") as f:
            json.dump(PRICES, f)

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def mock(self, *args, **kw):
        m = Mock("--prices", self.prices, *args, **kw)
        self.addCleanup(m.cleanup)
        return m

    def client(self, m, timeout=10):
        c = Client(m, timeout)
        self.addCleanup(c.close)
        return c


class MockTest(MockBase):

    # ------------------------------------------------------------ shapes

    def test_shapes_usage_and_ids(self):
        m = self.mock()
        c = self.client(m)
        r, d = c.post("/v1/chat/completions", chat_body("hello there"))
        self.assertEqual(r.status, 200)
        self.assertRegex(r.getheader("x-request-id"), r"^req_[0-9a-f]+$")
        doc = json.loads(d)
        self.assertEqual(doc["object"], "chat.completion")
        self.assertTrue(doc["choices"][0]["message"]["content"].startswith("echo: hello there #"))
        u = doc["usage"]
        self.assertIn("cached_tokens", u["prompt_tokens_details"])
        self.assertIn("reasoning_tokens", u["completion_tokens_details"])
        self.assertEqual(u["total_tokens"], u["prompt_tokens"] + u["completion_tokens"])

        body = json.dumps({"model": "mock-model", "max_tokens": 50,
                           "messages": [{"role": "user", "content": "hi claude"}]}).encode()
        r, d = c.post("/v1/messages", body, key=AKEY, anthropic=True)
        self.assertEqual(r.status, 200)
        self.assertRegex(r.getheader("request-id"), r"^req_[0-9a-f]+$")
        doc = json.loads(d)
        self.assertEqual((doc["type"], doc["role"]), ("message", "assistant"))
        self.assertEqual(doc["content"][0]["type"], "text")
        self.assertIn(doc["stop_reason"], ("end_turn", "max_tokens"))
        self.assertEqual(set(doc["usage"]), {"input_tokens", "output_tokens",
                                             "cache_creation_input_tokens",
                                             "cache_read_input_tokens"})

        r, d = c.post("/v1/embeddings", json.dumps({"model": "emb", "input": "x"}).encode())
        self.assertEqual(r.status, 200)
        self.assertTrue(r.getheader("x-request-id").startswith("req_"))
        doc = json.loads(d)
        self.assertEqual(len(doc["data"][0]["embedding"]), 8)
        self.assertGreater(doc["usage"]["prompt_tokens"], 0)

        r, d = c.post("/v1/responses", json.dumps({"model": "mock-model", "input": "yo",
                                                   "max_output_tokens": 3}).encode())
        doc = json.loads(d)
        self.assertEqual(doc["output"][0]["content"][0]["type"], "output_text")
        self.assertLessEqual(doc["usage"]["output_tokens"], 3)
        self.assertIn("input_tokens", doc["usage"])

        r, d = c.post("/v1/completions", json.dumps({"model": "mock-model", "prompt": "p",
                                                     "n": 2}).encode())
        self.assertEqual(len(json.loads(d)["choices"]), 2)

        r, d = c.get("/v1/models")
        self.assertEqual(r.status, 200)
        self.assertIn("mock-model", [x["id"] for x in json.loads(d)["data"]])

        # errors: unknown path, no /v1 prefix, bad JSON, missing key / version
        self.assertEqual(c.post("/v1/nope", b"{}")[0].status, 404)
        self.assertEqual(c.post("/chat/completions", chat_body("x"))[0].status, 404)
        r, d = c.post("/v1/chat/completions", b"{not json")
        self.assertEqual(r.status, 400)
        self.assertEqual(json.loads(d)["error"]["type"], "invalid_request_error")
        self.assertEqual(c.post("/v1/chat/completions", chat_body("x"), key=None)[0].status, 401)
        r, d = c.post("/v1/messages", body, key=AKEY, headers={"x-api-key": AKEY})
        self.assertEqual(r.status, 400)   # no anthropic-version
        self.assertEqual(json.loads(d)["type"], "error")
        self.assertEqual(c.post("/v1/messages", body, key=None, anthropic=True)[0].status, 401)

        # deterministic text, stats and log
        d1 = json.loads(c.post("/v1/chat/completions", chat_body("same"))[1])
        d2 = json.loads(c.post("/v1/chat/completions", chat_body("same"))[1])
        self.assertEqual(d1["choices"][0]["message"]["content"],
                         d2["choices"][0]["message"]["content"])
        self.assertEqual(d1["usage"], d2["usage"])
        s = m.stats()
        # repeats: the anthropic body 3x, chat_body("x") 2x, chat_body("same") 2x
        self.assertEqual(s["max_body_count"], 3)
        self.assertEqual(s["body_counts_over_1"], 3)
        self.assertEqual(s["by_status"]["404"], 2)
        self.assertEqual(s["by_key"][KEY[-4:]]["ok"], 7)
        log = m.log_entries()
        self.assertEqual(len(log), s["received"])
        self.assertEqual(log[0]["body_sha256"], hashlib.sha256(chat_body("hello there")).hexdigest())
        self.assertEqual(log[0]["key"], "aaaa")
        m.reset()
        s = m.stats()
        self.assertEqual((s["received"], s["distinct_bodies"], s["billed_ok_pusd"]), (0, 0, 0))
        self.assertEqual(m.stop(), 0)   # clean exit on SIGTERM

    # ------------------------------------------------------------ billing

    def test_billing_exact(self):
        m = self.mock("--cached-ratio", "0.5")
        c = self.client(m)
        pr = PRICES["models"]
        expect = 0
        bodies = [chat_body("bill %d " % i * (i + 1), max_tokens=8 + i) for i in range(6)]
        bodies.append(chat_body("big", model="mock-model-big-2024", max_tokens=3))
        bodies.append(chat_body("none", model="unknown-model"))
        for b in bodies:
            r, d = c.post("/v1/chat/completions", b)
            self.assertEqual(r.status, 200)
            u = json.loads(d)["usage"]
            req = json.loads(b)
            p = -(-len(b) // 4)
            self.assertEqual(u["prompt_tokens"], p)
            self.assertLessEqual(u["completion_tokens"], req["max_tokens"])
            cached = int(p * 0.5)
            self.assertEqual(u["prompt_tokens_details"]["cached_tokens"], cached)
            name = "mock-model-big" if req["model"].startswith("mock-model-big") else \
                "mock-model" if req["model"] == "mock-model" else None
            if name:
                pp = pr[name]
                expect += ((p - cached) * pusd(pp["input"]) + cached * pusd(pp["cached_input"])
                           + u["completion_tokens"] * pusd(pp["output"]))
        # anthropic with cache writes
        body = json.dumps({"model": "mock-model", "max_tokens": 5,
                           "messages": [{"role": "user", "content": "c" * 100}]}).encode()
        m.config(cache_write_ratio=0.25)
        r, d = c.post("/v1/messages", body, key=AKEY, anthropic=True)
        u = json.loads(d)["usage"]
        total = u["input_tokens"] + u["cache_read_input_tokens"] + u["cache_creation_input_tokens"]
        self.assertEqual(total, -(-len(body) // 4))
        self.assertGreater(u["cache_creation_input_tokens"], 0)
        pp = pr["mock-model"]
        expect += (u["input_tokens"] * pusd(pp["input"])
                   + u["cache_read_input_tokens"] * pusd(pp["cached_input"])
                   + u["cache_creation_input_tokens"] * pusd(pp["cache_write"])
                   + u["output_tokens"] * pusd(pp["output"]))
        s = m.stats()
        self.assertEqual(s["billed_ok_pusd"], expect)
        self.assertEqual(s["billed_fault_pusd"], 0)
        self.assertEqual(s["unpriced"], 1)
        self.assertEqual(sum(e["billed_pusd"] for e in m.log_entries()), expect)

    def test_usage_worst(self):
        m = self.mock("--usage", "worst")
        c = self.client(m)
        b = chat_body("w", max_tokens=7, n=3)
        u = json.loads(c.post("/v1/chat/completions", b)[1])["usage"]
        self.assertEqual((u["prompt_tokens"], u["completion_tokens"]), (len(b), 21))
        b = chat_body("w", max_tokens=None)          # model's max_output_tokens
        u = json.loads(c.post("/v1/chat/completions", b)[1])["usage"]
        self.assertEqual(u["completion_tokens"], 1000)
        b = chat_body("w", model="other", max_tokens=None)
        u = json.loads(c.post("/v1/chat/completions", b)[1])["usage"]
        self.assertEqual(u["completion_tokens"], 4096)
        m.config(usage="random")
        for _ in range(20):
            b = chat_body("r", max_tokens=9)
            u = json.loads(c.post("/v1/chat/completions", b)[1])["usage"]
            self.assertTrue(0 <= u["prompt_tokens"] <= len(b))
            self.assertTrue(0 <= u["completion_tokens"] <= 9)

    # ------------------------------------------------------------ faults

    def forced(self, kind, *extra):
        m = self.mock("--faults", kind + "=1.0", *extra)
        return m, self.client(m)

    def test_fault_statuses(self):
        m, c = self.forced("500")
        for code in ("500", "502", "503", "529"):
            m.config(faults=code + "=1.0")
            m.reset()
            r, d = c.post("/v1/chat/completions", chat_body("f"))
            self.assertEqual(r.status, int(code))
            self.assertIn("error", json.loads(d))
            r, d = c.post("/v1/messages", chat_body("f"), key=AKEY, anthropic=True)
            self.assertEqual(r.status, int(code))
            self.assertEqual(json.loads(d)["type"], "error")
            s = m.stats()
            self.assertEqual(s["by_fault"][code], 2)
            self.assertEqual(s["billed_ok_pusd"] + s["billed_fault_pusd"], 0)

    def test_fault_429_forms(self):
        m, c = self.forced("429")
        forms = set()
        for i in range(40):
            r, d = c.post("/v1/chat/completions", chat_body("r%d" % i))
            self.assertEqual(r.status, 429)
            self.assertEqual(json.loads(d)["error"]["code"], "rate_limit_exceeded")
            ra, ms = r.getheader("retry-after"), r.getheader("retry-after-ms")
            if ms is not None:
                self.assertGreater(int(ms), 0)
                forms.add("ms")
            elif ra is None:
                forms.add("none")
            elif ra.isdigit():
                forms.add("seconds")
            else:
                self.assertIsNotNone(email.utils.parsedate_to_datetime(ra))
                forms.add("date")
        self.assertEqual(forms, {"ms", "none", "seconds", "date"})

    def test_fault_reset(self):
        m, c = self.forced("reset")
        with self.assertRaises((ConnectionResetError, http.client.RemoteDisconnected)):
            c.post("/v1/chat/completions", chat_body("x"))
        s = m.stats()
        self.assertEqual(s["by_fault"]["reset"], 1)
        self.assertGreater(s["billed_fault_pusd"], 0)
        self.assertEqual(s["billed_ok_pusd"], 0)

    def test_fault_truncate(self):
        m, c = self.forced("truncate")
        with self.assertRaises(http.client.IncompleteRead):
            c.post("/v1/chat/completions", chat_body("x"))
        self.assertGreater(m.stats()["billed_fault_pusd"], 0)

    def test_fault_badjson_nousage(self):
        m, c = self.forced("badjson")
        r, d = c.post("/v1/chat/completions", chat_body("x"))
        self.assertEqual(r.status, 200)
        with self.assertRaises(ValueError):
            json.loads(d)
        self.assertGreater(m.stats()["billed_fault_pusd"], 0)

        m.config(faults="nousage=1.0")
        m.reset()
        r, d = c.post("/v1/chat/completions", chat_body("x"))
        doc = json.loads(d)
        self.assertEqual(r.status, 200)
        self.assertNotIn("usage", doc)
        self.assertIn("choices", doc)
        s = m.stats()
        self.assertGreater(s["billed_ok_pusd"], 0)
        self.assertEqual(s["by_fault"]["nousage"], 1)

    def test_fault_slow(self):
        m, c = self.forced("slow", "--slow-ms", "300")
        t = time.monotonic()
        r, d = c.post("/v1/chat/completions", chat_body("x"))
        self.assertEqual(r.status, 200)
        self.assertGreaterEqual(time.monotonic() - t, 0.3)
        self.assertGreater(m.stats()["billed_ok_pusd"], 0)
        # the client gives up before the reply: billed as a fault
        m.reset()
        c2 = Client(m, timeout=0.1)
        with self.assertRaises(OSError):
            c2.post("/v1/chat/completions", chat_body("y"))
        c2.close()
        deadline = time.monotonic() + 3
        while m.stats()["billed_fault_pusd"] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        s = m.stats()
        self.assertGreater(s["billed_fault_pusd"], 0)
        self.assertEqual(s["billed_ok_pusd"], 0)

    # ------------------------------------------------------------ rate limits

    def test_rpm_burst(self):
        m = self.mock("--rpm", "60")
        c = self.client(m)
        n429 = 0
        for i in range(70):
            r, d = c.post("/v1/chat/completions", chat_body("b%d" % i))
            limit = int(r.getheader("x-ratelimit-limit-requests"))
            remaining = int(r.getheader("x-ratelimit-remaining-requests"))
            reset = parse_go_duration(r.getheader("x-ratelimit-reset-requests"))
            self.assertEqual(limit, 60)
            self.assertTrue(0 <= remaining <= 60)
            self.assertTrue(0 <= reset <= 60)
            if r.status == 429:
                n429 += 1
                err = json.loads(d)["error"]
                self.assertEqual((err["type"], err["code"]), ("requests", "rate_limit_exceeded"))
                ms = int(r.getheader("retry-after-ms"))
                self.assertTrue(0 < ms <= 1000)
                self.assertEqual(int(r.getheader("retry-after")), 1)
        self.assertGreaterEqual(n429, 9)
        self.assertEqual(m.stats()["by_key"]["aaaa"]["429"], n429)
        # another key has its own bucket
        r, _ = c.post("/v1/chat/completions", chat_body("other"), key="sk-other-1111")
        self.assertEqual(r.status, 200)
        # Anthropic headers
        body = json.dumps({"model": "mock-model", "max_tokens": 5,
                           "messages": [{"role": "user", "content": "x"}]}).encode()
        r, _ = c.post("/v1/messages", body, key=AKEY, anthropic=True)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.getheader("anthropic-ratelimit-requests-limit"), "60")
        self.assertEqual(r.getheader("anthropic-ratelimit-requests-remaining"), "59")
        reset = r.getheader("anthropic-ratelimit-requests-reset")
        self.assertRegex(reset, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

    def test_tpm_and_no_headers(self):
        m = self.mock("--tpm", "1000")
        c = self.client(m)
        statuses = [c.post("/v1/chat/completions", chat_body("t", max_tokens=400))[0]
                    for _ in range(3)]
        self.assertEqual([r.status for r in statuses], [200, 200, 429])
        r = statuses[2]
        self.assertEqual(r.getheader("x-ratelimit-limit-tokens"), "1000")
        self.assertGreater(int(r.getheader("retry-after-ms")), 0)
        self.assertIsNone(r.getheader("x-ratelimit-limit-requests"))
        r, d = c.post("/v1/chat/completions", chat_body("t", max_tokens=5000))
        self.assertEqual(r.status, 429)
        self.assertEqual(json.loads(d)["error"]["type"], "tokens")
        m.config(no_ratelimit_headers=True)
        r, _ = c.post("/v1/chat/completions", chat_body("t", max_tokens=1))
        self.assertFalse([h for h, _ in r.getheaders() if "ratelimit" in h.lower()])

    # ------------------------------------------------------------ keys

    def test_keys(self):
        m = self.mock("--exhausted-keys", "sk-dead-0001", "--invalid-keys", "sk-bad-0002",
                      "--exhaust-after", "sk-few-0003=2")
        c = self.client(m)
        r, d = c.post("/v1/chat/completions", chat_body("k"), key="sk-dead-0001")
        self.assertEqual(r.status, 429)
        self.assertEqual(json.loads(d)["error"]["code"], "insufficient_quota")
        r, d = c.post("/v1/messages", chat_body("k"), key="sk-dead-0001", anthropic=True)
        self.assertEqual(r.status, 400)
        self.assertIn("credit balance", json.loads(d)["error"]["message"])
        r, d = c.post("/v1/chat/completions", chat_body("k"), key="sk-bad-0002")
        self.assertEqual(r.status, 401)
        self.assertEqual(json.loads(d)["error"]["code"], "invalid_api_key")
        self.assertNotIn("sk-bad-0002", d.decode())
        r, d = c.post("/v1/messages", chat_body("k"), key="sk-bad-0002", anthropic=True)
        self.assertEqual((r.status, json.loads(d)["error"]["type"]), (401, "authentication_error"))
        self.assertEqual(c.get("/v1/models", key="sk-bad-0002")[0].status, 401)
        got = [c.post("/v1/chat/completions", chat_body("k%d" % i), key="sk-few-0003")[0].status
               for i in range(4)]
        self.assertEqual(got, [200, 200, 429, 429])
        self.assertEqual(m.stats()["billed_fault_pusd"], 0)

    # ------------------------------------------------------------ directives

    def test_directives(self):
        m = self.mock()
        c = self.client(m)
        r, d = c.post("/v1/chat/completions", chat_body("x mock:fail=400"))
        self.assertEqual(r.status, 400)
        self.assertEqual(json.loads(d)["error"]["type"], "invalid_request_error")
        r, d = c.post("/v1/messages", chat_body("x mock:fail=529"), key=AKEY, anthropic=True)
        self.assertEqual((r.status, json.loads(d)["error"]["type"]), (529, "overloaded_error"))
        b = chat_body("y mock:fail_first=2:503")
        self.assertEqual([c.post("/v1/chat/completions", b)[0].status for _ in range(3)],
                         [503, 503, 200])
        t = time.monotonic()
        self.assertEqual(c.post("/v1/chat/completions", chat_body("z mock:sleep=200"))[0].status,
                         200)
        self.assertGreaterEqual(time.monotonic() - t, 0.2)
        s = m.stats()
        self.assertEqual(s["billed_ok_requests"], 2)
        self.assertEqual(s["max_body_count"], 3)

    # ------------------------------------------------------------ concurrency

    def test_many_keepalive_connections(self):
        m = self.mock("--latency-ms", "200")
        n = 300
        errors = []
        barrier = threading.Barrier(n)

        def worker(i):
            try:
                c = Client(m, timeout=30)
                barrier.wait(timeout=20)
                for j in range(2):
                    r, d = c.post("/v1/chat/completions", chat_body("c%d-%d" % (i, j)))
                    if r.status != 200:
                        errors.append(r.status)
                c.close()
            except Exception as e:  # noqa: BLE001 - collect, assert below
                errors.append(repr(e))

        ts = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        self.assertEqual(errors, [])
        s = m.stats()
        self.assertEqual(s["by_status"]["200"], 2 * n)
        self.assertGreaterEqual(s["max_in_flight"], 64)



# ---------------------------------------------------------------- batch APIs

def call(m, method, path, body=None, key=KEY, anthropic=False, ctype="application/json",
         headers=None):
    """One request on a fresh connection: (status, headers dict, body bytes)."""
    h = {}
    if body is not None:
        h["Content-Type"] = ctype
    if anthropic:
        if key:
            h["x-api-key"] = key
        h["anthropic-version"] = "2023-06-01"
    elif key:
        h["Authorization"] = "Bearer " + key
    h.update(headers or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    c = http.client.HTTPConnection("127.0.0.1", m.port, timeout=10)
    try:
        c.request(method, path, body, h)
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def jcall(m, method, path, body=None, **kw):
    st, h, d = call(m, method, path, body, **kw)
    return st, json.loads(d) if d else None


def upload(m, data, purpose="batch", key=KEY):
    bnd = "----mockbnd7a1"
    body = ("--%s\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n%s\r\n"
            "--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"in.jsonl\"\r\n"
            "Content-Type: application/jsonl\r\n\r\n" % (bnd, purpose, bnd)).encode()
    body += data + ("\r\n--%s--\r\n" % bnd).encode()
    return jcall(m, "POST", "/v1/files", body, key=key,
                 ctype="multipart/form-data; boundary=" + bnd)


def jsonl(rows):
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def oa_line(cid, text, model="mock-model", url="/v1/chat/completions", max_tokens=12):
    return {"custom_id": cid, "method": "POST", "url": url,
            "body": {"model": model, "max_tokens": max_tokens,
                     "messages": [{"role": "user", "content": text}]}}


def lines_of(data):
    return [json.loads(x) for x in data.decode().splitlines() if x]


def live_cost(usage, model="mock-model", anthropic=False):
    """Live price of a reply's usage in picodollars (no cache ratios)."""
    pp = PRICES["models"][model]
    if anthropic:
        p, c = usage["input_tokens"], usage["output_tokens"]
    else:
        p, c = usage["prompt_tokens"], usage["completion_tokens"]
    return p * pusd(pp["input"]) + c * pusd(pp["output"])


class BatchTest(MockBase):
    """One mock for the whole class (starting one costs more than most of
    these tests): each test resets it and sets every knob it relies on."""

    BASE = {"batch_step_ms": 50, "batch_rows_per_step": 0, "batch_expire_after_rows": -1,
            "enqueued_token_limit": 0, "control_faults": "", "openai_max_requests": 50000,
            "openai_max_file_bytes": 200 * 10 ** 6, "anthropic_max_requests": 100000,
            "anthropic_max_bytes": 256 * 10 ** 6, "invalid_keys": [], "exhausted_keys": [],
            "echo_key": False, "redirect": 0, "not_found_paths": [], "faults": "",
            "rpm": 0, "burst": 0, "seed": 1}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.shared = Mock("--prices", cls.prices)

    @classmethod
    def tearDownClass(cls):
        cls.shared.cleanup()
        super().tearDownClass()

    def bmock(self, **cfg):
        m = self.shared
        m.config(**self.BASE)
        m.reset(all=True)
        m.config(**cfg)
        self.log0 = len(m.log_entries())
        return m

    def wait(self, m, path, done, anthropic=False, key=None, timeout=10):
        """Polls a batch until done(obj); returns (obj, statuses seen in order)."""
        seen = []
        deadline = time.monotonic() + timeout
        while True:
            st, b = jcall(m, "GET", path, anthropic=anthropic,
                          key=key or (AKEY if anthropic else KEY))
            self.assertEqual(st, 200, b)
            s = b.get("status") or b.get("processing_status")
            if not seen or seen[-1] != s:
                seen.append(s)
            if done(b):
                return b, seen
            self.assertLess(time.monotonic(), deadline, "batch stuck in %s" % seen)
            time.sleep(0.01)

    def create_openai(self, m, rows, metadata=None, key=KEY, endpoint="/v1/chat/completions"):
        st, f = upload(m, jsonl(rows), key=key)
        self.assertEqual(st, 200, f)
        st, b = jcall(m, "POST", "/v1/batches", {
            "input_file_id": f["id"], "endpoint": endpoint, "completion_window": "24h",
            "metadata": metadata}, key=key)
        self.assertEqual(st, 200, b)
        return b

    def content(self, m, fid, key=KEY):
        st, h, d = call(m, "GET", "/v1/files/%s/content" % fid, key=key)
        self.assertEqual(st, 200)
        return lines_of(d)

    # ------------------------------------------------------------ OpenAI

    def test_openai_lifecycle_counts_files_billing(self):
        m = self.bmock(batch_rows_per_step=4)
        rows = [oa_line("row-%02d" % i, "batch prompt %d" % i) for i in range(20)]
        rows[5] = oa_line("row-05", "refused mock:fail=400")
        st, f = upload(m, jsonl(rows))
        self.assertEqual((f["object"], f["purpose"], f["bytes"]),
                         ("file", "batch", len(jsonl(rows))))
        self.assertRegex(f["id"], r"^file-")
        st, f2 = jcall(m, "GET", "/v1/files/" + f["id"])
        self.assertEqual(f2["id"], f["id"])
        self.assertEqual(self.content(m, f["id"]), rows)
        md = {"run": "r1", "part": "3"}
        st, b = jcall(m, "POST", "/v1/batches", {
            "input_file_id": f["id"], "endpoint": "/v1/chat/completions",
            "completion_window": "24h", "metadata": md})
        self.assertEqual(st, 200, b)
        self.assertEqual((b["object"], b["status"], b["metadata"], b["completion_window"]),
                         ("batch", "validating", md, "24h"))
        self.assertEqual(b["request_counts"], {"total": 0, "completed": 0, "failed": 0})
        self.assertIsNone(b["errors"])
        self.assertEqual(b["expires_at"], b["created_at"] + 86400)
        for k in ("in_progress_at", "finalizing_at", "completed_at", "failed_at",
                  "expired_at", "cancelling_at", "cancelled_at", "output_file_id",
                  "error_file_id"):
            self.assertIsNone(b[k], k)
        counts = []

        def done(o):
            counts.append(o["request_counts"]["completed"] + o["request_counts"]["failed"])
            return o["status"] == "completed"

        b, seen = self.wait(m, "/v1/batches/" + b["id"], done)
        self.assertEqual(seen, ["validating", "in_progress", "finalizing", "completed"])
        self.assertTrue(any(0 < c < 20 for c in counts), counts)     # counts move
        self.assertEqual(counts, sorted(counts))
        self.assertEqual(b["request_counts"], {"total": 20, "completed": 19, "failed": 1})
        self.assertTrue(b["created_at"] <= b["in_progress_at"] <= b["finalizing_at"]
                        <= b["completed_at"])
        out = self.content(m, b["output_file_id"])
        self.assertEqual(len(out), 19)
        ids = [o["custom_id"] for o in out]
        self.assertEqual(set(ids), {r["custom_id"] for r in rows} - {"row-05"})
        self.assertNotEqual(ids, sorted(ids))                         # shuffled
        for o in out:
            self.assertRegex(o["id"], r"^batch_req_")
            self.assertIsNone(o["error"])
            self.assertEqual(o["response"]["status_code"], 200)
            self.assertRegex(o["response"]["request_id"], r"^req_")
            self.assertEqual(o["response"]["body"]["object"], "chat.completion")
        err = self.content(m, b["error_file_id"])
        self.assertEqual(len(err), 1)
        self.assertEqual((err[0]["custom_id"], err[0]["response"]["status_code"], err[0]["error"]),
                         ("row-05", 400, None))
        self.assertIn("error", err[0]["response"]["body"])
        # billing: every succeeded row at half its live price (rounded up)
        expect = sum(-(-live_cost(o["response"]["body"]["usage"]) // 2) for o in out)
        s = m.stats()
        self.assertEqual(s["billed_batch_pusd"], expect)
        self.assertEqual(s["billed_ok_pusd"], expect)
        self.assertEqual((s["billed_batch_requests"], s["billed_live_pusd"]), (19, 0))
        self.assertEqual(s["batch_rows"], {"succeeded": 19, "errored": 1, "expired": 0,
                                           "cancelled": 0})
        self.assertEqual(s["batch_by_key"]["aaaa"]["billed_pusd"], expect)
        # the same body live costs twice as much (exactly, up to the rounding)
        body = json.dumps(rows[0]["body"], separators=(",", ":")).encode()
        st, live = jcall(m, "POST", "/v1/chat/completions", body)
        live_p = m.stats()["billed_live_pusd"]
        self.assertEqual(live_p, live_cost(live["usage"]))
        row0 = [o for o in out if o["custom_id"] == "row-00"][0]
        self.assertEqual(row0["response"]["body"]["usage"], live["usage"])
        self.assertEqual(m.stats()["billed_total_pusd"], expect + live_p)
        # the log: control calls with the batch id, one billed line per row
        log = m.log_entries()[self.log0:]
        ctl = [e for e in log if e.get("kind") == "control"]
        self.assertTrue(any(e["path"] == "/v1/batches" and e["method"] == "POST"
                            and e["batch_id"] == b["id"] and e["key"] == "aaaa" for e in ctl))
        brow = [e for e in log if e.get("kind") == "batch_row"]
        self.assertEqual(len(brow), 20)
        self.assertEqual(sum(e["billed_pusd"] for e in brow), expect)
        self.assertEqual(sorted(e["custom"] for e in brow), sorted(r["custom_id"] for r in rows))
        self.assertFalse([e for e in log if KEY in json.dumps(e)])

    def test_openai_expire_cancel_and_forced(self):
        m = self.bmock(batch_rows_per_step=1, batch_expire_after_rows=3)
        b = self.create_openai(m, [oa_line("e%d" % i, "x%d" % i) for i in range(8)],
                               metadata={"k": "v"})
        b, seen = self.wait(m, "/v1/batches/" + b["id"], lambda o: o["status"] == "expired")
        self.assertEqual(seen, ["validating", "in_progress", "expired"])
        self.assertIsNotNone(b["expired_at"])
        self.assertEqual(b["request_counts"], {"total": 8, "completed": 3, "failed": 0})
        self.assertEqual(len(self.content(m, b["output_file_id"])), 3)
        err = self.content(m, b["error_file_id"])
        self.assertEqual(len(err), 5)
        for e in err:
            self.assertIsNone(e["response"])
            self.assertEqual(e["error"]["code"], "batch_expired")
        s = m.stats()
        self.assertEqual((s["billed_batch_requests"], s["batch_rows"]["expired"]), (3, 5))

        m.config(batch_expire_after_rows=-1, batch_step_ms=100)
        b = self.create_openai(m, [oa_line("c%d" % i, "y%d" % i) for i in range(8)])
        self.wait(m, "/v1/batches/" + b["id"],
                  lambda o: o["request_counts"]["completed"] >= 2)
        st, c = jcall(m, "POST", "/v1/batches/%s/cancel" % b["id"])
        self.assertEqual((st, c["status"]), (200, "cancelling"))
        self.assertIsNotNone(c["cancelling_at"])
        b, seen = self.wait(m, "/v1/batches/" + b["id"], lambda o: o["status"] == "cancelled")
        self.assertEqual(seen[-2:], ["cancelling", "cancelled"])
        done = b["request_counts"]["completed"]
        self.assertTrue(2 <= done < 8, b)
        err = self.content(m, b["error_file_id"])
        self.assertEqual(len(err), 8 - done)
        self.assertEqual({e["error"]["code"] for e in err}, {"batch_cancelled"})
        self.assertEqual(len(self.content(m, b["output_file_id"])), done)
        st, e = jcall(m, "POST", "/v1/batches/%s/cancel" % b["id"])
        self.assertEqual(st, 200)                     # cancelling a cancelled batch: no-op
        # forced states
        m.config(batch_step_ms=2000)
        b1 = self.create_openai(m, [oa_line("f1", "z")])
        b2 = self.create_openai(m, [oa_line("f2", "z")])
        st, _ = jcall(m, "POST", "/_batch/%s/expire" % b1["id"], key=None)
        self.assertEqual(st, 200)
        st, o = jcall(m, "GET", "/v1/batches/" + b1["id"])
        self.assertEqual((o["status"], o["request_counts"]["total"]), ("expired", 1))
        self.assertEqual(self.content(m, o["error_file_id"])[0]["error"]["code"],
                         "batch_expired")
        st, _ = jcall(m, "POST", "/_batch/%s/fail" % b2["id"],
                      {"code": "server_error", "message": "boom"}, key=None)
        st, o = jcall(m, "GET", "/v1/batches/" + b2["id"])
        self.assertEqual((o["status"], o["errors"]["data"][0]["message"]), ("failed", "boom"))
        self.assertIsNotNone(o["failed_at"])
        self.assertEqual(jcall(m, "POST", "/_batch/%s/fail" % b2["id"], key=None)[0], 409)
        st, e = jcall(m, "POST", "/v1/batches/%s/cancel" % b2["id"])
        self.assertEqual(st, 409)
        self.assertIn("failed", e["error"]["message"])

    def test_openai_validation_failures_and_limits(self):
        m = self.bmock()
        good = oa_line("a", "p")
        bad = jsonl([good, oa_line("a", "dup"), oa_line("b", "p", url="/v1/embeddings"),
                     oa_line("c", "p", model="mock-model-big"), {"custom_id": "d"}])
        bad += b"{not json\n"
        st, f = upload(m, bad)
        st, b = jcall(m, "POST", "/v1/batches", {"input_file_id": f["id"],
                                                 "endpoint": "/v1/chat/completions",
                                                 "completion_window": "24h"})
        b, seen = self.wait(m, "/v1/batches/" + b["id"], lambda o: o["status"] == "failed")
        self.assertEqual(seen, ["validating", "failed"])
        self.assertEqual(b["errors"]["object"], "list")
        got = [(e["code"], e["line"], e["param"]) for e in b["errors"]["data"]]
        self.assertEqual(got, [("duplicate_custom_id", 2, "custom_id"),
                               ("invalid_url", 3, "url"),
                               ("mismatched_model", 4, "body.model"),
                               ("missing_required_parameter", 5, "method"),
                               ("invalid_json_line", 6, None)])
        self.assertIsNotNone(b["failed_at"])
        self.assertIsNone(b["output_file_id"])
        self.assertEqual(b["request_counts"]["total"], 0)
        self.assertEqual(m.stats()["billed_ok_pusd"], 0)
        # synchronous refusals
        st, f = upload(m, jsonl([good]))
        for doc, code, param in (
                ({"input_file_id": f["id"], "endpoint": "/v1/nope", "completion_window": "24h"},
                 400, "endpoint"),
                ({"input_file_id": f["id"], "endpoint": "/v1/chat/completions",
                  "completion_window": "1h"}, 400, "completion_window"),
                ({"input_file_id": "file-none", "endpoint": "/v1/chat/completions",
                  "completion_window": "24h"}, 404, "input_file_id"),
                ({"endpoint": "/v1/chat/completions", "completion_window": "24h"},
                 400, "input_file_id"),
                ({"input_file_id": f["id"], "endpoint": "/v1/chat/completions",
                  "completion_window": "24h", "metadata": {"k": 1}}, 400, "metadata")):
            st, e = jcall(m, "POST", "/v1/batches", doc)
            self.assertEqual((st, e["error"]["param"]), (code, param), doc)
        # another key sees nothing of this key's files and batches
        st, e = jcall(m, "POST", "/v1/batches", {"input_file_id": f["id"],
                                                 "endpoint": "/v1/chat/completions",
                                                 "completion_window": "24h"},
                      key="sk-other-9999")
        self.assertEqual(st, 404)
        self.assertEqual(jcall(m, "GET", "/v1/batches/" + b["id"], key="sk-other-9999")[0], 404)
        # size and count limits
        m.config(openai_max_file_bytes=200, openai_max_requests=2)
        st, e = upload(m, b"x" * 201)
        self.assertEqual((st, e["error"]["type"]), (400, "invalid_request_error"))
        self.assertIn("200", e["error"]["message"])
        self.assertEqual(upload(m, b"x" * 201, purpose="user_data")[0], 200)
        m.config(openai_max_file_bytes=10 ** 6)
        b = self.create_openai(m, [oa_line("r%d" % i, "p") for i in range(3)])
        b, _ = self.wait(m, "/v1/batches/" + b["id"], lambda o: o["status"] == "failed")
        self.assertEqual(b["errors"]["data"][0]["code"], "too_many_requests")
        st, e = jcall(m, "POST", "/v1/files", b"{}")
        self.assertEqual(st, 400)

    def test_token_limit_exceeded(self):
        m = self.bmock(batch_rows_per_step=1, enqueued_token_limit=120, batch_step_ms=100)
        rows = [oa_line("t%d" % i, "tokens %d" % i) for i in range(4)]   # 23 tokens each
        b1 = self.create_openai(m, rows)
        self.wait(m, "/v1/batches/" + b1["id"], lambda o: o["status"] == "in_progress")
        b2 = self.create_openai(m, rows[:2])
        b2, seen = self.wait(m, "/v1/batches/" + b2["id"], lambda o: o["status"] == "failed")
        e = b2["errors"]["data"][0]
        self.assertEqual(e["code"], "token_limit_exceeded")
        self.assertIn("mock-model", e["message"])
        # another model has its own queue
        b3 = self.create_openai(m, [oa_line("u", "v", model="mock-model-big")])
        self.wait(m, "/v1/batches/" + b3["id"], lambda o: o["status"] == "completed")
        # once the first batch is over, the same batch fits
        self.wait(m, "/v1/batches/" + b1["id"], lambda o: o["status"] == "completed")
        b4 = self.create_openai(m, rows[:2])
        self.wait(m, "/v1/batches/" + b4["id"], lambda o: o["status"] == "completed")
        # Anthropic: refused at creation with 429
        reqs = [{"custom_id": "a%d" % i, "params": json.loads(chat_body("a%d" % i * 60))}
                for i in range(4)]
        st, h, d = call(m, "POST", "/v1/messages/batches", {"requests": reqs}, key=AKEY,
                        anthropic=True)
        self.assertEqual((st, json.loads(d)["error"]["type"]), (429, "rate_limit_error"))
        self.assertIn("retry-after", h)

    def test_openai_list_pagination(self):
        m = self.bmock()
        ids = [self.create_openai(m, [oa_line("p", "q")], metadata={"n": str(i)})["id"]
               for i in range(5)]
        st, page = jcall(m, "GET", "/v1/batches?limit=2")
        self.assertEqual(page["object"], "list")
        self.assertEqual([b["id"] for b in page["data"]], ids[::-1][:2])   # newest first
        self.assertEqual((page["first_id"], page["last_id"], page["has_more"]),
                         (ids[4], ids[3], True))
        got = [b["id"] for b in page["data"]]
        while page["has_more"]:
            st, page = jcall(m, "GET", "/v1/batches?limit=2&after=" + page["last_id"])
            got += [b["id"] for b in page["data"]]
        self.assertEqual(got, ids[::-1])
        self.assertEqual(jcall(m, "GET", "/v1/batches?limit=2&after=" + ids[0])[1]["data"], [])
        st, page = jcall(m, "GET", "/v1/batches")
        self.assertEqual([b["metadata"]["n"] for b in page["data"]], ["4", "3", "2", "1", "0"])
        self.assertEqual(jcall(m, "GET", "/v1/batches?limit=0")[0], 400)
        self.assertEqual(jcall(m, "GET", "/v1/batches", key="sk-other-9999")[1]["data"], [])

    # ------------------------------------------------------------ Anthropic

    def areq(self, cid, text, **extra):
        p = {"model": "mock-model", "max_tokens": 10,
             "messages": [{"role": "user", "content": text}]}
        p.update(extra)
        return {"custom_id": cid, "params": p}

    def test_anthropic_lifecycle_results_billing(self):
        m = self.bmock(batch_rows_per_step=3)
        reqs = [self.areq("req_%d" % i, "anthropic %d" % i) for i in range(12)]
        reqs[3] = self.areq("req_3", "no mock:fail=529")
        del reqs[4]["params"]["max_tokens"]                   # invalid params: errored row
        st, h, d = call(m, "POST", "/v1/messages/batches", {"requests": reqs}, key=AKEY,
                        anthropic=True)
        self.assertEqual(st, 200, d)
        self.assertIn("request-id", h)
        b = json.loads(d)
        self.assertRegex(b["id"], r"^msgbatch_")
        self.assertEqual((b["type"], b["processing_status"], b["results_url"], b["ended_at"]),
                         ("message_batch", "in_progress", None, None))
        self.assertEqual(b["request_counts"], {"processing": 12, "succeeded": 0, "errored": 0,
                                               "canceled": 0, "expired": 0})
        self.assertRegex(b["created_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
        path = "/v1/messages/batches/" + b["id"]
        st, e = jcall(m, "GET", path + "/results", key=AKEY, anthropic=True)
        self.assertEqual(st, 400)
        procs = []

        def done(o):
            procs.append(o["request_counts"]["processing"])
            return o["processing_status"] == "ended"

        b, seen = self.wait(m, path, done, anthropic=True)
        self.assertEqual(seen, ["in_progress", "ended"])
        self.assertTrue(any(0 < p < 12 for p in procs), procs)
        self.assertEqual(b["request_counts"], {"processing": 0, "succeeded": 10, "errored": 2,
                                               "canceled": 0, "expired": 0})
        self.assertIsNotNone(b["ended_at"])
        self.assertTrue(b["results_url"].endswith(path + "/results"))
        self.assertTrue(b["results_url"].startswith("http://127.0.0.1:%d/" % m.port))
        st, h, d = call(m, "GET", path + "/results", key=AKEY, anthropic=True)
        self.assertEqual(st, 200)
        res = lines_of(d)
        ids = [r["custom_id"] for r in res]
        self.assertEqual(sorted(ids), sorted(r["custom_id"] for r in reqs))
        self.assertNotEqual(ids, [r["custom_id"] for r in reqs])      # shuffled
        by = {r["custom_id"]: r["result"] for r in res}
        self.assertEqual(by["req_3"]["type"], "errored")
        self.assertEqual(by["req_3"]["error"]["type"], "error")
        self.assertEqual(by["req_3"]["error"]["error"]["type"], "overloaded_error")
        self.assertEqual(by["req_4"]["error"]["error"]["type"], "invalid_request_error")
        ok = [r for r in by.values() if r["type"] == "succeeded"]
        self.assertEqual(ok[0]["message"]["type"], "message")
        expect = sum(-(-live_cost(r["message"]["usage"], anthropic=True) // 2) for r in ok)
        s = m.stats()
        self.assertEqual((s["billed_batch_pusd"], s["billed_ok_pusd"]), (expect, expect))
        # other keys and other dialects do not see it
        self.assertEqual(jcall(m, "GET", path, key="sk-ant-other", anthropic=True)[0], 404)
        self.assertEqual(jcall(m, "GET", "/v1/batches/" + b["id"])[0], 404)
        st, dl = jcall(m, "DELETE", path, key=AKEY, anthropic=True)
        self.assertEqual((st, dl["type"]), (200, "message_batch_deleted"))
        self.assertEqual(jcall(m, "GET", path, key=AKEY, anthropic=True)[0], 404)

    def test_anthropic_validation_cancel_expire_list(self):
        m = self.bmock(batch_rows_per_step=1)
        for cid in ("has space", "x" * 65, "", "dot.ted", "ünï", 7):
            st, e = jcall(m, "POST", "/v1/messages/batches",
                          {"requests": [self.areq(cid, "p")]}, key=AKEY, anthropic=True)
            self.assertEqual((st, e["type"], e["error"]["type"]),
                             (400, "error", "invalid_request_error"), cid)
            self.assertIn("custom_id", e["error"]["message"])
        ok_id = "A-z_0-9" + "x" * 57
        self.assertEqual(len(ok_id), 64)
        st, e = jcall(m, "POST", "/v1/messages/batches",
                      {"requests": [self.areq("d", "1"), self.areq("d", "2")]},
                      key=AKEY, anthropic=True)
        self.assertEqual(st, 400)
        self.assertIn("Duplicate", e["error"]["message"])
        self.assertEqual(jcall(m, "POST", "/v1/messages/batches", {"requests": []},
                               key=AKEY, anthropic=True)[0], 400)
        m.config(anthropic_max_requests=3, anthropic_max_bytes=2000)
        many = {"requests": [self.areq("m%d" % i, "p") for i in range(4)]}
        self.assertEqual(jcall(m, "POST", "/v1/messages/batches", many, key=AKEY,
                               anthropic=True)[0], 400)
        big = {"requests": [self.areq("big", "b" * 3000)]}
        st, e = jcall(m, "POST", "/v1/messages/batches", big, key=AKEY, anthropic=True)
        self.assertEqual((st, e["error"]["type"]), (413, "request_too_large"))
        # cancel
        m.config(batch_step_ms=100)
        st, b = jcall(m, "POST", "/v1/messages/batches",
                      {"requests": [self.areq(ok_id, "c0"), self.areq("c1", "c1"),
                                    self.areq("c2", "c2")]}, key=AKEY, anthropic=True)
        self.assertEqual(st, 200, b)
        path = "/v1/messages/batches/" + b["id"]
        self.wait(m, path, lambda o: o["request_counts"]["succeeded"] >= 1, anthropic=True)
        st, c = jcall(m, "POST", path + "/cancel", key=AKEY, anthropic=True)
        self.assertEqual((st, c["processing_status"]), (200, "canceling"))
        self.assertIsNotNone(c["cancel_initiated_at"])
        b, _ = self.wait(m, path, lambda o: o["processing_status"] == "ended", anthropic=True)
        rc = b["request_counts"]
        self.assertEqual(rc["succeeded"] + rc["canceled"], 3)
        self.assertGreaterEqual(rc["canceled"], 1)
        res = lines_of(call(m, "GET", path + "/results", key=AKEY, anthropic=True)[2])
        self.assertEqual(sum(1 for r in res if r["result"] == {"type": "canceled"}),
                         rc["canceled"])
        self.assertEqual(jcall(m, "POST", path + "/cancel", key=AKEY, anthropic=True)[0], 400)
        # expire
        m.config(batch_step_ms=30, batch_expire_after_rows=1)
        st, b = jcall(m, "POST", "/v1/messages/batches",
                      {"requests": [self.areq("e1", "1"), self.areq("e2", "2")]},
                      key=AKEY, anthropic=True)
        path = "/v1/messages/batches/" + b["id"]
        b, _ = self.wait(m, path, lambda o: o["processing_status"] == "ended", anthropic=True)
        self.assertEqual((b["request_counts"]["succeeded"], b["request_counts"]["expired"]),
                         (1, 1))
        res = lines_of(call(m, "GET", path + "/results", key=AKEY, anthropic=True)[2])
        self.assertEqual(sorted(r["result"]["type"] for r in res), ["expired", "succeeded"])
        # list: newest first, after_id / before_id pagination
        m.config(batch_expire_after_rows=-1)
        st, page = jcall(m, "GET", "/v1/messages/batches?limit=1", key=AKEY, anthropic=True)
        self.assertEqual((page["data"][0]["id"], page["has_more"]), (b["id"], True))
        st, p2 = jcall(m, "GET", "/v1/messages/batches?limit=5&after_id=" + page["last_id"],
                       key=AKEY, anthropic=True)
        self.assertEqual((len(p2["data"]), p2["has_more"]), (1, False))
        st, p3 = jcall(m, "GET", "/v1/messages/batches?before_id=" + p2["first_id"],
                       key=AKEY, anthropic=True)
        self.assertEqual([x["id"] for x in p3["data"]], [b["id"]])

    # ------------------------------------------------------------ control calls

    def test_control_faults_and_auth(self):
        m = self.bmock(control_faults="429=0.3,500=0.2,reset=0.1",
                       invalid_keys=["sk-bad-0002"], exhausted_keys=["tok-dead-03"])
        got = {}
        for i in range(80):
            try:
                st, h, d = call(m, "GET", "/v1/batches")
            except (ConnectionError, http.client.RemoteDisconnected):
                st = "reset"
            got[st] = got.get(st, 0) + 1
            if st == 429:
                self.assertEqual(h["retry-after"], "1")
                self.assertEqual(json.loads(d)["error"]["code"], "rate_limit_exceeded")
        self.assertEqual(set(got), {200, 429, 500, "reset"}, got)
        self.assertTrue(10 <= got[429] <= 40 and 5 <= got[500] <= 30 and got["reset"] >= 2, got)
        s = m.stats()
        self.assertEqual(s["control_faults"], {"429": got[429], "500": got[500],
                                               "reset": got["reset"]})
        self.assertEqual(s["control_calls"], 80)
        # live requests draw nothing from the control fault stream
        self.assertEqual([call(m, "POST", "/v1/chat/completions", chat_body("l%d" % i))[0]
                          for i in range(10)], [200] * 10)
        # reset after the effect: the batch exists, the client never saw its id
        m.config(control_faults="")
        st, f = upload(m, jsonl([oa_line("r", "s")]))
        m.config(control_faults="reset_after=1")
        with self.assertRaises((ConnectionError, http.client.RemoteDisconnected)):
            call(m, "POST", "/v1/batches", {"input_file_id": f["id"],
                                            "endpoint": "/v1/chat/completions",
                                            "completion_window": "24h",
                                            "metadata": {"intent": "i-1"}})
        m.config(control_faults="")
        st, page = jcall(m, "GET", "/v1/batches")
        self.assertEqual([b["metadata"] for b in page["data"]], [{"intent": "i-1"}])
        # keys: checked like live requests
        st, e = jcall(m, "GET", "/v1/batches", key="sk-bad-0002")
        self.assertEqual((st, e["error"]["code"]), (401, "invalid_api_key"))
        st, e = jcall(m, "POST", "/v1/batches", {}, key="tok-dead-03")
        self.assertEqual((st, e["error"]["code"]), (429, "insufficient_quota"))
        self.assertEqual(jcall(m, "GET", "/v1/batches", key=None)[0], 401)
        st, h, d = call(m, "GET", "/v1/messages/batches", key=AKEY,
                        headers={"anthropic-version": ""})
        self.assertEqual(call(m, "GET", "/v1/messages/batches", key=None, anthropic=True)[0], 401)
        self.assertEqual(call(m, "GET", "/v1/messages/batches", key="tok-dead-03",
                              anthropic=True)[0], 400)

    # ------------------------------------------------------------ live setup-slip modes

    def test_echo_key_modes(self):
        keys = ("tok-abc123def456", "0123456789abcdef0123", "sk-ant-api03-QQQQ-wxyz")
        m = self.bmock(invalid_keys=list(keys[:2]), exhausted_keys=[keys[2]])
        # without echo the key never appears
        for k in keys[:2]:
            st, h, d = call(m, "POST", "/v1/chat/completions", chat_body("e"), key=k)
            self.assertEqual(st, 401)
            self.assertNotIn(k.encode(), d)
        m.config(echo_key=True)
        for k in keys[:2]:
            st, h, d = call(m, "POST", "/v1/chat/completions", chat_body("e"), key=k)
            self.assertEqual(st, 401)
            self.assertIn("Incorrect API key provided: " + k, json.loads(d)["error"]["message"])
            st, h, d = call(m, "POST", "/v1/messages", chat_body("e"), key=k, anthropic=True)
            self.assertEqual((st, json.loads(d)["error"]["type"]), (401, "authentication_error"))
            self.assertIn(k.encode(), d)
            st, h, d = call(m, "GET", "/v1/batches", key=k)        # control calls too
            self.assertIn(k.encode(), d)
        st, h, d = call(m, "POST", "/v1/chat/completions", chat_body("q"), key=keys[2])
        self.assertEqual((st, json.loads(d)["error"]["code"]), (429, "insufficient_quota"))
        self.assertIn(keys[2].encode(), d)
        st, h, d = call(m, "POST", "/v1/messages", chat_body("q"), key=keys[2], anthropic=True)
        self.assertEqual(st, 400)
        self.assertIn(keys[2].encode(), d)
        # per-request directive and 403
        m.config(echo_key=False)
        st, h, d = call(m, "POST", "/v1/chat/completions",
                        chat_body("x mock:fail=403 mock:echo_key"), key="tok-zzz-777")
        self.assertEqual((st, json.loads(d)["error"]["type"]), (403, "permission_error"))
        self.assertIn(b"tok-zzz-777", d)
        st, h, d = call(m, "POST", "/v1/chat/completions", chat_body("x mock:fail=403"),
                        key="tok-zzz-777")
        self.assertEqual(st, 403)
        self.assertNotIn(b"tok-zzz-777", d)
        m.config(faults="401=1.0", echo_key=True)
        st, h, d = call(m, "POST", "/v1/chat/completions", chat_body("y"), key="tok-fff-1")
        self.assertEqual(st, 401)
        self.assertIn(b"tok-fff-1", d)
        self.assertEqual(m.stats()["billed_ok_pusd"], 0)

    def test_redirect_and_unknown_path(self):
        m = self.bmock(redirect=301)
        for path in ("/v1/chat/completions", "/v1/batches", "/v1/models"):
            st, h, d = call(m, "POST" if "chat" in path else "GET", path,
                            chat_body("r") if "chat" in path else None)
            self.assertEqual(st, 301, path)
            self.assertEqual(h["location"], "http://127.0.0.1:%d/v2/%s" % (m.port, path[4:]))
        m.config(redirect=307)
        self.assertEqual(call(m, "POST", "/v1/chat/completions", chat_body("r"))[0], 307)
        m.config(redirect=0)
        st, h, d = call(m, "POST", "/v1/chat/completions", chat_body("r mock:fail=307"))
        self.assertEqual(st, 307)
        self.assertTrue(h["location"].endswith("/v2/chat/completions"))
        self.assertEqual(call(m, "POST", "/v1/chat/completions", chat_body("r"))[0], 200)
        # the endpoint path answers 404 unknown_url for every job
        m.config(not_found_paths=["/v1/chat/completions"])
        for i in range(3):
            st, h, d = call(m, "POST", "/v1/chat/completions", chat_body("job %d" % i))
            self.assertEqual(st, 404)
            e = json.loads(d)["error"]
            self.assertEqual((e["type"], e["code"]), ("invalid_request_error", "unknown_url"))
            self.assertTrue(e["message"].startswith(
                "Unknown request URL: POST /v1/chat/completions."))
        self.assertEqual(call(m, "POST", "/v1/completions",
                              json.dumps({"model": "m", "prompt": "p"}).encode())[0], 200)
        m.config(not_found_paths=[])
        st, h, d = call(m, "POST", "/v1/completions",
                        json.dumps({"model": "m", "prompt": "p mock:unknown_url"}))
        self.assertEqual((st, json.loads(d)["error"]["code"]), (404, "unknown_url"))
        st, h, d = call(m, "POST", "/v1/completions",            # a plain per-job 404
                        json.dumps({"model": "m", "prompt": "p mock:fail=404"}))
        self.assertEqual(st, 404)
        self.assertEqual(json.loads(d)["error"]["message"], "mock:fail directive (404)")
        m.config(faults="404=1.0")
        st, h, d = call(m, "POST", "/v1/embeddings", json.dumps({"model": "e", "input": "i"}))
        self.assertEqual((st, json.loads(d)["error"]["code"]), (404, "unknown_url"))
        s = m.stats()
        self.assertEqual((s["by_status"]["301"], s["by_status"]["307"]), (2, 2))
        self.assertEqual(s["by_fault"]["404"], 1)
        self.assertEqual(s["by_status"]["404"], 6)
        self.assertEqual(s["billed_ok_requests"], 2)

    def test_burst_bucket(self):
        # 120/min with a burst of 10: slow refill (2/s), so a loaded machine
        # that spreads the 20 requests over a second still sees about 10 pass
        m = self.bmock(rpm=120, burst=10)
        n = 20
        res = []
        barrier = threading.Barrier(n)

        def worker(i):
            barrier.wait(timeout=10)
            res.append(call(m, "POST", "/v1/chat/completions", chat_body("burst %d" % i)))

        ts = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(30)
        ok = [r for r in res if r[0] == 200]
        limited = [r for r in res if r[0] == 429]
        self.assertEqual(len(ok) + len(limited), n)
        self.assertTrue(10 <= len(ok) <= 13, len(ok))     # the burst, plus a little refill
        for st, h, d in res:
            self.assertEqual(h["x-ratelimit-limit-requests"], "120")
            self.assertLessEqual(int(h["x-ratelimit-remaining-requests"]), 10)
            self.assertLessEqual(parse_go_duration(h["x-ratelimit-reset-requests"]), 5.0)
        for st, h, d in limited:
            self.assertTrue(0 < int(h["retry-after-ms"]) <= 500)
            self.assertEqual(h["x-ratelimit-remaining-requests"], "0")
        time.sleep(0.6)                                    # 2/s: one comes back
        st, h, d = call(m, "POST", "/v1/chat/completions", chat_body("after"))
        self.assertEqual(st, 200)
        self.assertEqual([go_duration_fmt(x) for x in (360, 1.5, 0.12, 0.25)],
                         ["6m0s", "1.5s", "120ms", "250ms"])


def go_duration_fmt(sec):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "mockapi"))
    import server  # noqa: E402 - the mock's own formatter
    return server.go_duration(sec)


if __name__ == "__main__":
    from harness import main
    main()

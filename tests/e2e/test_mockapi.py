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


class MockTest(unittest.TestCase):
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
        for code in ("500", "502", "503", "529"):
            m, c = self.forced(code)
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

        m, c = self.forced("nousage")
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


if __name__ == "__main__":
    from harness import main
    main()

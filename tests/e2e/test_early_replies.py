#!/usr/bin/env python3
"""Replies that come before the request body has gone out, and what counts
as possibly billed, against bare HTTP/1.1 servers on 127.0.0.1 (sockets, no
framework; each bounded by socket timeouts):
  - a whole reply sent before the server reads an 8 MB body is the answer,
    kept whole, plain or gzip'd (libcurl counts the compressed bytes before it
    hands over the decoded ones, so a compressed reply must not be cut at
    the count);
  - a request that went out whole and was then lost (the reused connection
    dies, libcurl's resend finds the server gone) stays possibly billed:
    libcurl zeroes its upload count before that resend, which must not read
    as "never sent"."""

import gzip
import json
import os
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import read_jsonl, run, tmpdir  # noqa: E402

KEY = "sk-test-early-000000000000000000abcd"


def reply_bytes(content):
    return json.dumps({"id": "x", "object": "chat.completion", "created": 1,
                       "model": "gpt-4o-mini",
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                    "finish_reason": "stop"}],
                       "usage": {"prompt_tokens": 3, "completion_tokens": 1,
                                 "total_tokens": 4}}).encode()


def read_head(c):
    d = b""
    while b"\r\n\r\n" not in d:
        x = c.recv(65536)
        if not x:
            return None, b""
        d += x
    return d.split(b"\r\n\r\n", 1)


def read_request(c):
    """The whole request body, or None if the connection ended first."""
    head, rest = read_head(c)
    if head is None:
        return None
    n = [int(l.split(b":")[1]) for l in head.split(b"\r\n")
         if l.lower().startswith(b"content-length:")][0]
    while len(rest) < n:
        x = c.recv(65536)
        if not x:
            return None
        rest += x
    return rest


def listener(rcvbuf=None):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.bind(("127.0.0.1", 0))
    s.listen(4)
    s.settimeout(30)
    return s


def serve_once(lst, handle):
    """A thread that accepts one connection on lst (30 s at most), gives it
    to handle with a 20 s socket timeout, then closes it."""
    def serve():
        try:
            c, _ = lst.accept()
        except OSError:
            return
        c.settimeout(20)
        try:
            handle(c)
        except OSError:
            pass
        finally:
            c.close()
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return t


def write_input(path, n, prompt):
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps({"custom_id": "e%d" % i, "method": "POST",
                                "url": "/v1/chat/completions",
                                "body": {"model": "gpt-4o-mini", "max_tokens": 100,
                                         "messages": [{"role": "user", "content": prompt + str(i)}]}})
                    + "\n")


class EarlyReplies(unittest.TestCase):
    def run_llmb(self, port, n, prompt, extra=()):
        tmp = tmpdir()
        self.addCleanup(tmp.cleanup)
        inp = os.path.join(tmp.name, "in.jsonl")
        out = os.path.join(tmp.name, "out.jsonl")
        write_input(inp, n, prompt)
        r = run(["run", inp, "-o", out, "--base-url", "http://127.0.0.1:%d" % port,
                 "--concurrency", "1", "--max-retries", "0", "--no-progress",
                 "--timeout", "20"] + list(extra), env={"OPENAI_API_KEY": KEY}, timeout=90)
        with open(os.path.join(tmp.name, "out.report.json")) as f:
            report = json.load(f)
        return r, read_jsonl(out), read_jsonl(os.path.join(tmp.name, "out.errors.jsonl")), report

    def test_whole_early_reply_is_kept(self):
        content = "y" * 100000              # decoded: several 16 KiB pieces
        for encoding in ("gzip", ""):
            with self.subTest(encoding=encoding or "none"):
                lst = listener(rcvbuf=4096)     # the body stalls in the kernel
                self.addCleanup(lst.close)

                def answer_early(c, encoding=encoding):
                    read_head(c)                # never the body
                    body = reply_bytes(content)
                    if encoding:
                        body = gzip.compress(body)
                    enc = b"Content-Encoding: gzip\r\n" if encoding else b""
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + enc +
                              b"Content-Length: %d\r\n\r\n" % len(body) + body)
                    time.sleep(3)

                t = serve_once(lst, answer_early)
                r, ok, errs, _ = self.run_llmb(lst.getsockname()[1], 1, "pad " * 2000000)
                t.join(30)
                self.assertEqual(errs, [], r.stderr)
                self.assertEqual(len(ok), 1, r.stderr)
                self.assertEqual(ok[0]["response"]["status_code"], 200)
                self.assertEqual(ok[0]["response"]["body"]["choices"][0]["message"]["content"],
                                 content)

    def test_lost_after_a_whole_send_stays_possibly_billed(self):
        lst = listener()
        got = []

        def answer_then_vanish(c):
            got.append(read_request(c))
            body = reply_bytes("ok")
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(body) + body)
            got.append(read_request(c))     # the whole second request, no reply
            lst.close()                     # libcurl's resend finds nobody

        t = serve_once(lst, answer_then_vanish)
        r, ok, errs, report = self.run_llmb(lst.getsockname()[1], 2, "hi ")
        t.join(30)
        self.assertEqual(len([g for g in got if g is not None]), 2, r.stderr)
        self.assertEqual(len(ok), 1, r.stderr)
        self.assertGreater(report["cost_usd"]["possibly_billed_failures"], 0, report["cost_usd"])
        self.assertNotIn(KEY, r.stderr)


if __name__ == "__main__":
    unittest.main()

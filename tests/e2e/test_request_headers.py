#!/usr/bin/env python3
"""What a live request carries, seen by a bare HTTP/1.1 server on 127.0.0.1
(a socket, no framework): one User-Agent naming llmbatch and libcurl, one
Accept-Encoding naming only encodings this libcurl decodes, no Expect (no
100-continue wait on large bodies), the key only in Authorization; and a
reply compressed with each offered encoding that Python can make (gzip,
deflate) is decoded before it is stored."""

import gzip
import json
import os
import socket
import sys
import threading
import unittest
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import read_jsonl, run, tmpdir  # noqa: E402

KEY = "sk-test-headers-0000000000000000abcd"
REPLY = {"id": "chatcmpl-h", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
         "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                      "finish_reason": "stop"}],
         "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}


class RawServer:
    """Answers each request with REPLY compressed by `encode`, records the
    request heads; at most `limit` connections, each with a 10 s timeout."""

    def __init__(self, encoding, limit=20):
        self.encoding = encoding
        self.heads = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(30)
        self.port = self.sock.getsockname()[1]
        self.t = threading.Thread(target=self.serve, args=(limit,), daemon=True)
        self.t.start()

    def body(self):
        raw = json.dumps(REPLY).encode()
        if self.encoding == "gzip":
            return gzip.compress(raw)
        if self.encoding == "deflate":
            return zlib.compress(raw)
        return raw

    def serve(self, limit):
        for _ in range(limit):
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            c.settimeout(10)
            try:
                self.answer(c)
            except OSError:
                pass
            finally:
                c.close()

    def answer(self, c):
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 1 << 20:
            chunk = c.recv(65536)
            if not chunk:
                return
            data += chunk
        head, rest = data.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        hdrs = [tuple(x.strip() for x in l.split(":", 1)) for l in lines[1:]]
        n = int(dict((k.lower(), v) for k, v in hdrs).get("content-length", "0"))
        while len(rest) < n:
            chunk = c.recv(65536)
            if not chunk:
                return
            rest += chunk
        self.heads.append(hdrs)
        body = self.body()
        enc = b"Content-Encoding: %s\r\n" % self.encoding.encode() if self.encoding else b""
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + enc +
                  b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)

    def close(self):
        self.sock.close()


class RequestHeaders(unittest.TestCase):
    def run_against(self, encoding):
        srv = RawServer(encoding)
        self.addCleanup(srv.close)
        tmp = tmpdir()
        self.addCleanup(tmp.cleanup)
        inp = os.path.join(tmp.name, "in.jsonl")
        with open(inp, "w") as f:
            for i in range(3):
                f.write(json.dumps({"custom_id": "h%d" % i, "method": "POST",
                                    "url": "/v1/chat/completions",
                                    "body": {"model": "gpt-4o-mini",
                                             "messages": [{"role": "user", "content": "hi %d" % i}]}})
                        + "\n")
        out = os.path.join(tmp.name, "out.jsonl")
        r = run(["run", inp, "-o", out, "--base-url", "http://127.0.0.1:%d" % srv.port,
                 "--max-retries", "0", "--no-progress"], env={"OPENAI_API_KEY": KEY}, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn(KEY, r.stderr + r.stdout)
        ok = read_jsonl(out)
        self.assertEqual(sorted(o["custom_id"] for o in ok), ["h0", "h1", "h2"])
        for o in ok:
            self.assertEqual(o["response"]["body"], REPLY)
        self.assertEqual(len(srv.heads), 3)
        return srv.heads

    def test_headers_and_decoding(self):
        for encoding in ("gzip", "deflate", ""):
            with self.subTest(encoding=encoding):
                for hdrs in self.run_against(encoding):
                    names = [k.lower() for k, _ in hdrs]
                    get = dict((k.lower(), v) for k, v in hdrs)
                    for one in ("user-agent", "accept-encoding", "authorization", "host"):
                        self.assertEqual(names.count(one), 1, (one, hdrs))
                    self.assertRegex(get["user-agent"], r"^llmbatch/\S+ libcurl/\d")
                    offered = [e.strip() for e in get["accept-encoding"].split(",")]
                    self.assertIn("gzip", offered)
                    self.assertIn("deflate", offered)
                    self.assertTrue(set(offered) <= {"gzip", "deflate", "br", "zstd"}, offered)
                    self.assertNotIn("expect", names)
                    self.assertEqual(get["authorization"], "Bearer " + KEY)
                    self.assertEqual(sum(KEY in v for _, v in hdrs), 1)


if __name__ == "__main__":
    unittest.main()

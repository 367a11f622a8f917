"""
TLS and HTTP/2 against a real server: nginx on 127.0.0.1 with a self-signed
certificate (made by openssl for the test) and http2 on.
  - with --cacert the run verifies the certificate and completes;
  - every request arrives as HTTP/2.0, multiplexed over very few connections
    (nginx's access log records the protocol and the connection serial);
  - without --cacert the certificate is refused: no request reaches nginx's
    handler, the run stops (exit 5) with every job pending, and the same
    command with --cacert completes them;
  - --insecure works and prints a warning.
The pool's connection caps over TLS (runner/pool.h, POOL_H2_STREAMS):
  - a burst over HTTP/2 rides on a few connections, not one per request;
  - a TLS server that speaks only HTTP/1.1 lifts the cap after its first
    reply: more connections than the cap, and no request sent twice;
  - a server allowing only 4 streams per connection still gets every job,
    once;
  - a server that answers before reading the body (nginx's `return`) gives
    every job its reply once: 30 KB bodies over HTTP/2 in a large pool, and
    100 KB bodies over plain HTTP/1.1; bodies over HTTP/2's 64 KiB stream
    window (100 KB, 1 MB) get their replies too, and an early 413 is a 413;
  - a silent server: --timeout still ends every attempt over TLS.
"""
import json
import os
import shutil
import socket
import time
import subprocess
import unittest

from harness import LLMBATCH, read_jsonl, tmpdir, write_jobs
from nginx_util import REPLY, free_port, nginx_binary

CONF = """
worker_processes 1;
daemon off;
error_log {d}/error.log warn;
pid {d}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  log_format p '$server_protocol $connection $server_port';
  access_log {d}/access.log p;
  ssl_certificate {d}/cert.pem;
  ssl_certificate_key {d}/key.pem;
  client_max_body_size 8m;
  server {{
    listen 127.0.0.1:{port} ssl http2;
    http2_max_concurrent_streams 128;
    location / {{
      default_type application/json;
      add_header x-request-id req_tls;
      return 200 '{reply}';
    }}
  }}
  server {{
    listen 127.0.0.1:{h1port} ssl;
    location / {{
      default_type application/json;
      return 200 '{reply}';
    }}
  }}
  server {{
    listen 127.0.0.1:{fewport} ssl http2;
    http2_max_concurrent_streams 4;
    location / {{
      default_type application/json;
      return 200 '{reply}';
    }}
  }}
  server {{
    listen 127.0.0.1:{silentport} ssl http2;
    proxy_read_timeout 60s;
    location / {{ proxy_pass http://127.0.0.1:{deadport}; }}
  }}
  server {{
    listen 127.0.0.1:{limitport} ssl http2;
    client_max_body_size 64k;
    location / {{
      default_type application/json;
      return 200 '{reply}';
    }}
  }}
  server {{
    listen 127.0.0.1:{plainport};
    location / {{
      default_type application/json;
      return 200 '{reply}';
    }}
  }}
}}
"""


@unittest.skipUnless(shutil.which("openssl") and nginx_binary(), "needs openssl and nginx")
class TlsHttp2(unittest.TestCase):
    def setUp(self):
        self.tmp = tmpdir()
        self.d = self.tmp.name
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", os.path.join(self.d, "key.pem"),
                        "-out", os.path.join(self.d, "cert.pem"), "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True, timeout=60)
        self.port, self.h1port, self.fewport, self.plainport, self.silentport, self.limitport = \
            (free_port() for _ in range(6))
        # an upstream that accepts connections (the kernel's backlog) and
        # never answers: behind nginx, a server that goes silent
        self.dead = socket.socket()
        self.dead.bind(("127.0.0.1", 0))
        self.dead.listen(64)
        conf = os.path.join(self.d, "nginx.conf")
        with open(conf, "w") as f:
            f.write(CONF.format(d=self.d, port=self.port, h1port=self.h1port,
                                fewport=self.fewport, plainport=self.plainport,
                                silentport=self.silentport, limitport=self.limitport, deadport=self.dead.getsockname()[1],
                                reply=REPLY))
        self.ng = subprocess.Popen([nginx_binary(), "-c", conf, "-p", self.d],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = "https://127.0.0.1:%d" % self.port
        for url in (self.url, "https://127.0.0.1:%d" % self.h1port,
                    "https://127.0.0.1:%d" % self.fewport, "http://127.0.0.1:%d" % self.plainport):
            for _ in range(100):
                r = subprocess.run(["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}",
                                    url + "/v1/chat/completions", "-d", "{}"],
                                   capture_output=True, text=True, timeout=10)
                if r.stdout == "200":
                    break
        open(os.path.join(self.d, "access.log"), "w").close()   # forget the probe
        subprocess.run(["kill", "-USR1", str(self.ng.pid)])      # reopen the log

    def tearDown(self):
        self.dead.close()
        self.ng.terminate()
        self.ng.wait(10)
        self.tmp.cleanup()

    def run_llmb(self, out, extra, n=300, url=None, concurrency=32, retries=1, **job_args):
        inp = os.path.join(self.d, "in.jsonl")
        write_jobs(inp, n, model="gpt-4o-mini", **job_args)
        env = dict(os.environ, OPENAI_API_KEY="sk-test-tls-000000000000abcd")
        return subprocess.run([LLMBATCH, "run", inp, "-o", os.path.join(self.d, out),
                               "--base-url", url or self.url, "--concurrency", str(concurrency),
                               "--max-retries", str(retries), "--no-progress"] + extra,
                              capture_output=True, text=True, env=env, timeout=120)

    def log(self, port=None):
        """[protocol, connection] per request nginx served on port (default: h2)."""
        port = str(port or self.port)
        with open(os.path.join(self.d, "access.log")) as f:
            return [l.split()[:2] for l in f if l.strip() and l.split()[2:] == [port]]

    def check_once(self, out, n, port):
        """Every job has its reply, and nginx saw each request exactly once
        (llmbatch retries would show as extra requests)."""
        ok = read_jsonl(os.path.join(self.d, out))
        self.assertEqual(len(ok), n)
        self.assertEqual(len(set(r["custom_id"] for r in ok)), n)
        self.assertEqual(read_jsonl(os.path.join(self.d, out.replace(".jsonl", ".errors.jsonl"))), [])
        log = self.log(port)
        self.assertEqual(len(log), n)
        return log

    def test_verified_http2_multiplexed(self):
        r = self.run_llmb("ok.jsonl", ["--cacert", os.path.join(self.d, "cert.pem")])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(read_jsonl(os.path.join(self.d, "ok.jsonl"))), 300)
        log = self.log()
        self.assertEqual(len(log), 300)
        self.assertTrue(all(p == "HTTP/2.0" for p, _ in log), set(p for p, _ in log))
        conns = set(c for _, c in log)
        self.assertLessEqual(len(conns), 4, "HTTP/2 should multiplex: %d connections" % len(conns))

    def test_http2_burst_rides_on_few_connections(self):
        """600 requests at once over HTTP/2 (concurrency 600: two multi
        handles of 300) open at most 4 connections per handle, not one per
        request."""
        r = self.run_llmb("burst.jsonl", ["--cacert", os.path.join(self.d, "cert.pem"),
                                          "--no-slow-start"], n=600, concurrency=600)
        self.assertEqual(r.returncode, 0, r.stderr)
        log = self.check_once("burst.jsonl", 600, self.port)
        self.assertTrue(all(p == "HTTP/2.0" for p, _ in log))
        conns = set(c for _, c in log)
        self.assertLessEqual(len(conns), 8, "%d connections" % len(conns))

    def test_http1_over_tls_lifts_the_cap(self):
        """A TLS server without HTTP/2: the first reply shows HTTP/1.1 and
        the cap (2 connections at concurrency 64) is lifted; transfers held
        back are started afresh, none is sent twice."""
        r = self.run_llmb("h1.jsonl", ["--cacert", os.path.join(self.d, "cert.pem"),
                                       "--no-slow-start"], n=400, concurrency=64,
                          url="https://127.0.0.1:%d" % self.h1port)
        self.assertEqual(r.returncode, 0, r.stderr)
        log = self.check_once("h1.jsonl", 400, self.h1port)
        self.assertTrue(all(p == "HTTP/1.1" for p, _ in log))
        self.assertGreater(len(set(c for _, c in log)), 2)

    def test_few_streams_per_connection(self):
        """A server allowing 4 streams per connection: more requests than
        the connections can carry wait their turn; every job ends once."""
        r = self.run_llmb("few.jsonl", ["--cacert", os.path.join(self.d, "cert.pem"),
                                        "--no-slow-start"], n=300, concurrency=64,
                          url="https://127.0.0.1:%d" % self.fewport)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.check_once("few.jsonl", 300, self.fewport)

    def test_early_reply_to_a_large_body(self):
        """Plain HTTP/1.1, 100 KB bodies, a server that answers without
        reading them: each job gets its reply once."""
        r = self.run_llmb("big.jsonl", ["--no-slow-start"], n=60, concurrency=600,
                          url="http://127.0.0.1:%d" % self.plainport,
                          faults=lambda i: "pad " * 25000)   # ~100 KB of prompt
        self.assertEqual(r.returncode, 0, r.stderr)
        self.check_once("big.jsonl", 60, self.plainport)

    def test_early_reply_to_a_body_over_http2(self):
        """HTTP/2 at concurrency 600 (the large-pool settings), 30 KB bodies,
        a server that answers without reading them: each job gets its reply
        once."""
        r = self.run_llmb("h2big.jsonl", ["--cacert", os.path.join(self.d, "cert.pem"),
                                          "--no-slow-start"], n=60, concurrency=600,
                          faults=lambda i: "pad " * 7500)   # ~30 KB of prompt
        self.assertEqual(r.returncode, 0, r.stderr)
        self.check_once("h2big.jsonl", 60, self.port)

    def test_early_reply_to_a_body_over_the_stream_window(self):
        """Bodies over HTTP/2's 64 KiB stream window (100 KB and 1 MB), in
        both pool modes, answered before the server reads them: the reply
        ends the transfer.  libcurl 7.88 by itself fails every one with a
        framing error, or waits for a send window until --timeout.  It
        still loses some replies before they reach us (README: up to half
        of the attempts here), which are retried."""
        for conc, pads in ((32, 25000), (600, 25000), (600, 250000)):
            out = "win%d_%d.jsonl" % (conc, pads)
            open(os.path.join(self.d, "access.log"), "w").close()
            r = self.run_llmb(out, ["--cacert", os.path.join(self.d, "cert.pem"),
                                    "--no-slow-start", "--timeout", "30"],
                              n=40, concurrency=conc, retries=6,
                              faults=lambda i, p=pads: "pad " * p)
            self.assertEqual(r.returncode, 0, r.stderr)
            ok = read_jsonl(os.path.join(self.d, out))
            self.assertEqual(sorted(o["custom_id"] for o in ok),
                             sorted(set(o["custom_id"] for o in ok)))
            self.assertEqual(len(ok), 40)
            self.assertTrue(all(o["response"]["status_code"] == 200 for o in ok))
            self.assertIn(" 0 timeouts", r.stderr)
            # without the fix every attempt fails (7 requests per job) or
            # waits for its timeout
            self.assertLess(len(self.log()), 40 * 3, r.stderr)

    def test_early_413_to_a_large_body(self):
        """An early error reply to a 100 KB body over HTTP/2 (nginx's own
        body limit: a 413 sent before it reads the body, as a gateway sends
        an early 429): seen as that status, and nothing is billed.  The few
        replies libcurl 7.88 loses (README) are network errors, and not
        possibly billed either, since their bodies left only in part."""
        r = self.run_llmb("limit.jsonl", ["--cacert", os.path.join(self.d, "cert.pem"),
                                          "--no-slow-start", "--timeout", "30"],
                          n=20, concurrency=300, retries=0,
                          url="https://127.0.0.1:%d" % self.limitport,
                          faults=lambda i: "pad " * 25000)
        self.assertNotEqual(r.returncode, 0)
        errs = read_jsonl(os.path.join(self.d, "limit.errors.jsonl"))
        self.assertEqual(len(errs), 20, r.stderr)
        seen = [e for e in errs if (e.get("response") or {}).get("status_code") == 413]
        self.assertGreater(len(seen), 0, errs[:3])
        self.assertTrue(all(e in seen or "framing" in e["error"]["message"] for e in errs), errs)
        with open(os.path.join(self.d, "limit.report.json")) as f:
            cost = json.load(f)["cost_usd"]
        self.assertEqual((cost["total_pp"], cost["possibly_billed_failures"]), (0, 0),
                         (cost, r.stderr))

    def test_silent_server_times_out(self):
        """Over TLS + HTTP/2, a server that never answers: --timeout ends
        each attempt (libcurl's timer must not be lost between passes), for
        `run` and for `keys`."""
        t0 = time.monotonic()
        # concurrency 300: the epoll pool, whose TLS deadlines are read back
        # after each curl_multi_socket_all
        r = self.run_llmb("silent.jsonl", ["--cacert", os.path.join(self.d, "cert.pem"),
                                           "--timeout", "2", "--max-retries", "0",
                                           "--no-slow-start"], n=24, concurrency=300,
                          url="https://127.0.0.1:%d" % self.silentport)
        self.assertLess(time.monotonic() - t0, 25, r.stderr)
        errs = read_jsonl(os.path.join(self.d, "silent.errors.jsonl"))
        self.assertEqual(len(errs), 24, r.stderr)
        self.assertTrue(all("timed out" in json.dumps(e).lower() or "timeout" in json.dumps(e)
                            for e in errs), errs[0])
        t0 = time.monotonic()
        k = subprocess.run([LLMBATCH, "keys", "--base-url", "https://127.0.0.1:%d" % self.silentport,
                            "--cacert", os.path.join(self.d, "cert.pem"), "--timeout", "2"],
                           capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, OPENAI_API_KEY="sk-test-tls-000000000000abcd"))
        self.assertLess(time.monotonic() - t0, 15, k.stdout + k.stderr)
        self.assertNotEqual(k.returncode, 0)

    def test_unverified_certificate_stops_the_run(self):
        """A certificate that does not verify would fail every job: the run
        stops with exit 5 and a clear message, and every job stays pending,
        so the same command with --cacert then completes them all."""
        r = self.run_llmb("bad.jsonl", [])
        self.assertEqual(r.returncode, 5, r.stderr)
        self.assertIn("TLS", r.stderr)
        self.assertIn("--cacert", r.stderr)
        self.assertEqual(read_jsonl(os.path.join(self.d, "bad.jsonl")), [])
        self.assertEqual(read_jsonl(os.path.join(self.d, "bad.errors.jsonl")), [])
        self.assertEqual(self.log(), [])
        r = self.run_llmb("bad.jsonl", ["--cacert", os.path.join(self.d, "cert.pem")])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(read_jsonl(os.path.join(self.d, "bad.jsonl"))), 300)

    def test_insecure_warns_and_works(self):
        r = self.run_llmb("ins.jsonl", ["--insecure"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("NOT verified", r.stderr)
        self.assertEqual(len(read_jsonl(os.path.join(self.d, "ins.jsonl"))), 300)


if __name__ == "__main__":
    from harness import main
    main()

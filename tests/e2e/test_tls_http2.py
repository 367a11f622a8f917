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
"""
import json
import os
import shutil
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
  log_format p '$server_protocol $connection';
  access_log {d}/access.log p;
  server {{
    listen 127.0.0.1:{port} ssl http2;
    ssl_certificate {d}/cert.pem;
    ssl_certificate_key {d}/key.pem;
    http2_max_concurrent_streams 128;
    location / {{
      default_type application/json;
      add_header x-request-id req_tls;
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
        self.port = free_port()
        conf = os.path.join(self.d, "nginx.conf")
        with open(conf, "w") as f:
            f.write(CONF.format(d=self.d, port=self.port, reply=REPLY))
        self.ng = subprocess.Popen([nginx_binary(), "-c", conf, "-p", self.d],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = "https://127.0.0.1:%d" % self.port
        for _ in range(100):
            r = subprocess.run(["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}",
                                self.url + "/v1/chat/completions", "-d", "{}"],
                               capture_output=True, text=True, timeout=10)
            if r.stdout == "200":
                break
        open(os.path.join(self.d, "access.log"), "w").close()   # forget the probe
        subprocess.run(["kill", "-USR1", str(self.ng.pid)])      # reopen the log

    def tearDown(self):
        self.ng.terminate()
        self.ng.wait(10)
        self.tmp.cleanup()

    def run_llmb(self, out, extra):
        inp = os.path.join(self.d, "in.jsonl")
        write_jobs(inp, 300, model="gpt-4o-mini")
        env = dict(os.environ, OPENAI_API_KEY="sk-test-tls-000000000000abcd")
        return subprocess.run([LLMBATCH, "run", inp, "-o", os.path.join(self.d, out),
                               "--base-url", self.url, "--concurrency", "32",
                               "--max-retries", "1", "--no-progress"] + extra,
                              capture_output=True, text=True, env=env, timeout=120)

    def log(self):
        with open(os.path.join(self.d, "access.log")) as f:
            return [l.split() for l in f if l.strip()]

    def test_verified_http2_multiplexed(self):
        r = self.run_llmb("ok.jsonl", ["--cacert", os.path.join(self.d, "cert.pem")])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(read_jsonl(os.path.join(self.d, "ok.jsonl"))), 300)
        log = [e for e in self.log() if len(e) == 2]
        self.assertEqual(len(log), 300)
        self.assertTrue(all(p == "HTTP/2.0" for p, _ in log), set(p for p, _ in log))
        conns = set(c for _, c in log)
        self.assertLessEqual(len(conns), 4, "HTTP/2 should multiplex: %d connections" % len(conns))

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

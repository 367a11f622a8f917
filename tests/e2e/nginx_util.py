"""
nginx_util: a throwaway nginx on 127.0.0.1 that answers every request with a
fixed chat completion (with usage), for tests that need more requests per
second than the Python mock can serve.  Used as a context manager:

    with Nginx() as ng:   # ng.url = "http://127.0.0.1:PORT"
        ...
"""
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

REPLY = ('{"id":"chatcmpl-fixed","object":"chat.completion","created":1,'
         '"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant",'
         '"content":"a fixed reply from nginx"},"finish_reason":"stop"}],'
         '"usage":{"prompt_tokens":20,"completion_tokens":7,"total_tokens":27}}')

CONF = """
worker_processes 1;
daemon off;
error_log {dir}/error.log warn;
pid {dir}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  client_body_buffer_size 64k;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{
      default_type application/json;
      add_header x-request-id req_nginx;
      return 200 '{reply}';
    }}
  }}
}}
"""


def nginx_binary():
    for p in ("/usr/sbin/nginx", shutil.which("nginx") or ""):
        if p and os.path.exists(p):
            return p
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Nginx:
    def __init__(self):
        self.bin = nginx_binary()
        if not self.bin:
            raise RuntimeError("nginx is not installed (tests/run.sh installs nginx-light)")
        self.dir = tempfile.mkdtemp(prefix="llmb-nginx-", dir="/tmp")
        self.proc = None

    def __enter__(self):
        for _ in range(5):
            self.port = free_port()
            conf = os.path.join(self.dir, "nginx.conf")
            with open(conf, "w") as f:
                f.write(CONF.format(dir=self.dir, port=self.port, reply=REPLY))
            self.proc = subprocess.Popen([self.bin, "-c", conf, "-p", self.dir],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.url = "http://127.0.0.1:%d" % self.port
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    urllib.request.urlopen(self.url + "/v1/chat/completions", data=b"{}",
                                           timeout=1).read()
                    return self
                except OSError:
                    time.sleep(0.05)
            self._stop()
        raise RuntimeError("nginx did not start")

    def _stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __exit__(self, *exc):
        self._stop()
        shutil.rmtree(self.dir, ignore_errors=True)

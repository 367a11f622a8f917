"""
run_core_util: small helpers for test_run_core.py and test_run_input.py.

  check_result_line(tc, rec)   asserts one results line has the OpenAI batch output shape
  echo_text(prompt, last)      the text the mock answers for a prompt
  input_bodies(path)           custom_id -> request body, from an openai/anthropic job file
  IdServer()                   a FakeServer answering with known request ids
  peak_rss_kb(cmd)             peak RSS (KiB) of a command run in a fresh wrapper process
  scan_files(dir)              the bytes of every file under dir (for secret greps)

Only 127.0.0.1 is ever contacted.
"""

import gzip
import hashlib
import json
import os
import re
import subprocess
import sys

from harness import FakeServer

REQ_ID = re.compile(r"^req_[0-9a-f]{8,}$")


def check_result_line(tc, rec, request_id_re=REQ_ID):
    """One successful results line: id batch_req_..., custom_id, response
    {status_code 200, request_id, body (a JSON object)}, error null."""
    tc.assertIsInstance(rec, dict)
    tc.assertIsInstance(rec.get("id"), str, rec)
    tc.assertTrue(rec["id"].startswith("batch_req_"), rec["id"])
    tc.assertGreater(len(rec["id"]), len("batch_req_"))
    tc.assertIsInstance(rec.get("custom_id"), str, rec)
    tc.assertIn("error", rec)
    tc.assertIsNone(rec["error"], rec)
    resp = rec.get("response")
    tc.assertIsInstance(resp, dict, rec)
    tc.assertEqual(resp.get("status_code"), 200, rec)
    rid = resp.get("request_id")
    tc.assertIsInstance(rid, str, rec)
    if request_id_re is not None:
        tc.assertRegex(rid, request_id_re)
    tc.assertIsInstance(resp.get("body"), dict, rec)


def echo_text(prompt, last):
    """What the mock puts in its answer: "echo: " + last[:40] + " #" + sha8(prompt)."""
    return "echo: " + last[:40] + " #" + hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:8]


def chat_prompt(messages):
    """(full prompt, last user text) of a chat message list with string contents."""
    parts, last = [], ""
    for m in messages:
        c = m.get("content")
        if isinstance(c, str) and c:
            parts.append(c)
            if m.get("role") == "user":
                last = c
    return "\n".join(parts), last


def input_bodies(path):
    """custom_id -> body (openai lines) or params (anthropic lines)."""
    with open(path, "rb") as f:
        opener = gzip.open if f.read(2) == b"\x1f\x8b" else open
    out = {}
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                d = json.loads(line)
                out[d["custom_id"]] = d.get("body", d.get("params"))
    return out


def scan_files(root):
    """{path: bytes} for every regular file under root (gzip files also gunzipped)."""
    out = {}
    for dp, _dn, fn in os.walk(root):
        for name in fn:
            p = os.path.join(dp, name)
            try:
                with open(p, "rb") as f:
                    data = f.read()
            except OSError:
                continue
            if data[:2] == b"\x1f\x8b":
                try:
                    data += gzip.decompress(data)
                except (OSError, EOFError):
                    pass
            out[p] = data
    return out


# ---------------------------------------------------------------- IdServer

def IdServer():
    """A FakeServer that answers every POST with 200, header x-request-id (or
    request-id on /messages) = "rid-oai-<metadata.custom>" /
    "rid-anth-<metadata.custom>", and a JSON body kept in .bodies[custom];
    .seen lists what each request carried."""
    bodies, seen = {}, []

    def reply(req):
        r = req.json()
        r = r if isinstance(r, dict) else {}
        custom = (r.get("metadata") or {}).get("custom")
        anth = req.path.endswith("/messages")
        h = {k.lower(): v for k, v in req.headers.items()}
        seen.append({"path": req.path, "custom": custom, "x-api-key": h.get("x-api-key"),
                     "anthropic-version": h.get("anthropic-version"),
                     "authorization": h.get("authorization")})
        body = {"id": "obj-" + str(custom), "object": "chat.completion", "model": r.get("model"),
                "custom_echo": custom, "nested": {"a": [1, 2.5, None, True, "x\u00e9"]},
                "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
                if not anth else {"input_tokens": 3, "output_tokens": 2}}
        if anth:
            body = dict(body, type="message", content=[{"type": "text", "text": "hi"}])
        else:
            body["choices"] = [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                                "finish_reason": "stop"}]
        bodies[custom] = body
        rid = "rid-%s-%s" % ("anth" if anth else "oai", custom)
        return 200, [("request-id" if anth else "x-request-id", rid)], body

    srv = FakeServer(reply)
    srv.bodies, srv.seen = bodies, seen
    return srv


# ---------------------------------------------------------------- memory

_WRAPPER = r"""
import resource, subprocess, sys
r = subprocess.run(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                   stderr=subprocess.STDOUT)
sys.stdout.write("%d %d\n" % (resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
                              r.returncode))
sys.stdout.write(r.stdout.decode("utf-8", "replace")[:4000])
"""


def peak_rss_kb(cmd, env=None, timeout=120):
    """(peak RSS in KiB, exit code, start of its output) of cmd, measured as the
    RUSAGE_CHILDREN maximum of a fresh python wrapper whose only child is cmd."""
    p = subprocess.run([sys.executable, "-c", _WRAPPER] + [str(c) for c in cmd],
                       capture_output=True, text=True, timeout=timeout, env=env)
    first, _, rest = p.stdout.partition("\n")
    kb, rc = first.split()
    return int(kb), int(rc), rest

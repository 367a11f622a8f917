"""
A key is never shown, whatever its shape.  A server that quotes the
caller's key -- in a 401, a quota 429, a 403, even in a successful body --
must not get it onto the terminal, into the results, errors, report or
checkpoint, or into `llmbatch keys` output.  Keys of other shapes than
sk-...: tok-..., plain hex, Anthropic-style.
"""
import json
import os
import unittest

from harness import FakeServer, chat_reply, read_jsonl, run, tmpdir, write_jobs
from run_core_util import scan_files

KEYS = {
    "tok": "tok-live-4f1c2b9a7e3d5c6b8a9f0e1d",          # 401: quotes the key
    "hex": "9f8e7d6c5b4a39281706f5e4d3c2b1a0",            # 429 quota, quotes it
    "good": "abcDEF0123456789ghiJKL-works",               # works, echoes it in bodies
    "anth": "sk-ant-api03-Zq9Yx8Wv7Ut6Sr5Qp4On3Ml2Kj1",    # 403, quotes it
}


def caller_key(req):
    h = {k.lower(): v for k, v in req.headers.items()}
    if "x-api-key" in h:
        return h["x-api-key"]
    return h.get("authorization", "").replace("Bearer ", "")


def reply(req):
    key = caller_key(req)
    err = lambda st, typ, code, msg: (st, [], {"error": {"message": msg, "type": typ,
                                                         "code": code}})
    if key == KEYS["tok"]:
        return err(401, "invalid_request_error", "invalid_api_key",
                   "Incorrect API key provided: %s. You can find your API key at ..." % key)
    if key == KEYS["hex"]:
        return err(429, "insufficient_quota", "insufficient_quota",
                   "You exceeded your current quota (key %s)" % key)
    if key == KEYS["anth"]:
        return 403, [("request-id", "req_" + key)], {
            "type": "error", "error": {"type": "permission_error",
                                       "message": "key %s may not use this model" % key}}
    if req.path.endswith("/models"):
        return 200, [], {"object": "list", "data": [], "note": "hello " + key}
    body = chat_reply()
    body["system_fingerprint"] = "fp_" + key
    return 200, [("x-request-id", "req_" + key)], body


class KeyMasking(unittest.TestCase):

    def write_keys(self, d):
        path = os.path.join(d, "keys.txt")
        with open(path, "w") as f:
            for name in ("tok", "hex", "good"):
                f.write(KEYS[name] + " dialect=openai\n")
            f.write(KEYS["anth"] + " dialect=anthropic\n")
        os.chmod(path, 0o600)
        return path

    def assertNoKey(self, where, text):
        for name, k in KEYS.items():
            self.assertNotIn(k, text, "%s key shown in %s" % (name, where))
            self.assertNotIn(k[len(k) // 2:], text, "half of the %s key in %s" % (name, where))

    def test_no_key_reaches_any_file_or_the_terminal(self):
        with tmpdir() as d, FakeServer(reply) as srv:
            keys = self.write_keys(d)
            inp = os.path.join(d, "in.jsonl")
            write_jobs(inp, 20)
            inp2 = os.path.join(d, "in2.jsonl")
            write_jobs(inp2, 5, shape="anthropic", model="claude-haiku-4-5")
            out = os.path.join(d, "out.jsonl")
            r = run(["run", inp, "-o", out, "--base-url", srv.url, "--keys-file", keys,
                     "--status-file", os.path.join(d, "status.json"),
                     "--metrics", os.path.join(d, "metrics.prom")],
                    env={"OPENAI_API_KEY": None, "ANTHROPIC_API_KEY": None})
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertNoKey("stderr", r.stderr + r.stdout)
            self.assertEqual(len(read_jsonl(out)), 20)
            # the keys the server refused are named by fingerprint, with its reason
            self.assertIn("invalid", r.stderr)
            self.assertIn("exhausted", r.stderr)
            self.assertIn("****", json.dumps(read_jsonl(out)[0]))

            out2 = os.path.join(d, "out2.jsonl")
            r2 = run(["run", inp2, "-o", out2, "--base-url", srv.url, "--keys-file", keys],
                     env={"OPENAI_API_KEY": None, "ANTHROPIC_API_KEY": None})
            self.assertEqual(r2.returncode, 4, r2.stderr)
            self.assertNoKey("stderr", r2.stderr + r2.stdout)

            k = run(["keys", "--keys-file", keys, "--base-url", srv.url],
                    env={"OPENAI_API_KEY": None, "ANTHROPIC_API_KEY": None})
            self.assertNoKey("llmbatch keys", k.stdout + k.stderr)
            self.assertIn("invalid", k.stdout)

            for path, data in scan_files(d).items():
                if path == keys:
                    continue
                self.assertNoKey(path, data.decode("utf-8", "replace"))
            self.assertGreater(len(srv.requests), 20)


def escaped(key, every=False):
    """The key as JSON string text with escapes a JSON reader decodes away."""
    if every:
        return "".join("\\u%04x" % ord(ch) for ch in key)
    return key.replace("-", "\\u002d")


def escaping_reply(req):
    """Quotes the caller's key behind JSON escapes, in errors and successes."""
    key = caller_key(req)
    if req.path.endswith("/models"):
        return 401, [], ('{"error":{"message":"Incorrect API key provided: %s",'
                         '"type":"invalid_request_error","code":"invalid_api_key"}}'
                         % escaped(key, every=True)).encode()
    if b"esc400" in req.body:
        return 400, [], ('{"error":{"message":"bad key %s","type":"invalid_request_error"}}'
                         % escaped(key)).encode()
    body = json.dumps(chat_reply())[:-1] + ',"echo":"%s"}' % escaped(key, every=True)
    return 200, [], body.encode()


class EscapedKeys(unittest.TestCase):
    """A key hidden behind JSON escapes is still a key once decoded."""

    def test_escaped_key_is_masked_everywhere(self):
        key = "tok-0123456789abcdefghij"
        with tmpdir() as d, FakeServer(escaping_reply) as srv:
            keys = os.path.join(d, "keys.txt")
            with open(keys, "w") as f:
                f.write(key + " dialect=openai\n")
            os.chmod(keys, 0o600)
            inp = os.path.join(d, "in.jsonl")
            write_jobs(inp, 6, faults={2: "esc400"})
            out = os.path.join(d, "out.jsonl")
            env = {"OPENAI_API_KEY": None, "ANTHROPIC_API_KEY": None}
            r = run(["run", inp, "-o", out, "--base-url", srv.url, "--keys-file", keys],
                    env=env)
            self.assertEqual(r.returncode, 1, r.stderr)
            k = run(["keys", "--keys-file", keys, "--base-url", srv.url], env=env)
            self.assertIn("invalid", k.stdout)
            texts = {"stderr": r.stderr + k.stdout + k.stderr}
            for path, data in scan_files(d).items():
                if path != keys:
                    texts[path] = data.decode("utf-8", "replace")
            for path in (out, os.path.join(d, "out.errors.jsonl")):
                for line in read_jsonl(path):       # decoded, as any reader would
                    texts[path + " (decoded)"] = json.dumps(line, ensure_ascii=False)
            for where, text in texts.items():
                self.assertNotIn(key, text, "key shown in " + where)
                self.assertNotIn(key[8:], text, "most of the key shown in " + where)
            self.assertEqual(len(read_jsonl(out)), 5)


if __name__ == "__main__":
    from harness import main
    main()

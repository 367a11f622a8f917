#!/usr/bin/env python3
"""llmbatch run, input side: line shapes, output format, gzip
input/output, stdin, validation before sending, --skip-invalid, base URL
joining, and flat peak RSS of the streaming validation pass."""

import gzip
import json
import os
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (LLMBATCH, Mock, custom_ids, read_jsonl, run, tmpdir,  # noqa: E402
                     write_jobs, write_lines, ANTHROPIC_TEST_KEY, _env)
from run_core_util import (IdServer, chat_prompt, check_result_line, echo_text,  # noqa: E402
                           input_bodies, peak_rss_kb)


def chat_line(cid, text, url="/v1/chat/completions"):
    return {"custom_id": cid, "method": "POST", "url": url,
            "body": {"model": "mock-model", "max_tokens": 8,
                     "messages": [{"role": "user", "content": text}],
                     "metadata": {"custom": cid}}}


def errors_path(d, base="out"):
    return os.path.join(d, base + ".errors.jsonl")


class Shapes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mock = Mock()

    @classmethod
    def tearDownClass(cls):
        cls.mock.cleanup()

    def setUp(self):
        self.mock.reset(all=True)

    def test_openai_urls_end_to_end(self):
        lines = [
            {"custom_id": "chat-1", "method": "POST", "url": "/v1/chat/completions",
             "body": {"model": "mock-model", "max_tokens": 8,
                      "messages": [{"role": "user", "content": "hello chat"}]}},
            {"custom_id": "emb-1", "method": "POST", "url": "/v1/embeddings",
             "body": {"model": "mock-model", "input": "hello embeddings"}},
            {"custom_id": "resp-1", "method": "POST", "url": "/v1/responses",
             "body": {"model": "mock-model", "max_output_tokens": 8,
                      "input": "hello responses"}},
            {"custom_id": "cmpl-1", "method": "POST", "url": "/v1/completions",
             "body": {"model": "mock-model", "max_tokens": 8, "prompt": "hello completions"}},
        ]
        with tmpdir() as d:
            inp = os.path.join(d, "in.jsonl")
            out = os.path.join(d, "out.jsonl")
            write_lines(inp, lines)
            r = run(["run", inp, "-o", out, "--base-url", self.mock.url])
            self.assertEqual(r.returncode, 0, r.stderr)
            st = self.mock.stats()
            self.assertEqual(st["by_path"], {"/v1/chat/completions": 1, "/v1/embeddings": 1,
                                             "/v1/responses": 1, "/v1/completions": 1})
            self.assertEqual(st["by_status"], {"200": 4})
            res = {x["custom_id"]: x for x in read_jsonl(out)}
            self.assertEqual(sorted(res), ["chat-1", "cmpl-1", "emb-1", "resp-1"])
            for rec in res.values():
                check_result_line(self, rec)
            self.assertEqual(len({x["response"]["request_id"] for x in res.values()}), 4)
            self.assertEqual(len({x["id"] for x in res.values()}), 4)
            b = res["chat-1"]["response"]["body"]
            self.assertEqual(b["object"], "chat.completion")
            self.assertEqual(b["choices"][0]["message"]["content"],
                             echo_text("hello chat", "hello chat"))
            b = res["emb-1"]["response"]["body"]
            self.assertEqual(b["object"], "list")
            self.assertEqual(len(b["data"][0]["embedding"]), 8)
            b = res["resp-1"]["response"]["body"]
            self.assertEqual(b["object"], "response")
            self.assertEqual(b["output"][0]["content"][0]["text"],
                             echo_text("hello responses", "hello responses"))
            b = res["cmpl-1"]["response"]["body"]
            self.assertEqual(b["object"], "text_completion")
            self.assertEqual(b["choices"][0]["text"],
                             echo_text("hello completions", "hello completions"))
            self.assertEqual(read_jsonl(errors_path(d)), [])

    def test_anthropic_lines(self):
        with tmpdir() as d:
            inp = os.path.join(d, "in.jsonl")
            out = os.path.join(d, "out.jsonl")
            ids = write_jobs(inp, 20, shape="anthropic")
            bodies = input_bodies(inp)
            r = run(["run", inp, "-o", out, "--base-url", self.mock.url])
            self.assertEqual(r.returncode, 0, r.stderr)
            st = self.mock.stats()
            # The mock answers 401 without x-api-key and 400 without
            # anthropic-version: all 200 means both were sent.
            self.assertEqual(st["by_path"], {"/v1/messages": 20})
            self.assertEqual(st["by_status"], {"200": 20})
            self.assertEqual(st["by_key"][ANTHROPIC_TEST_KEY[-4:]]["ok"], 20)
            recs = read_jsonl(out)
            self.assertEqual(sorted(x["custom_id"] for x in recs), ids)
            for rec in recs:
                check_result_line(self, rec)
                body = rec["response"]["body"]
                self.assertEqual(body["type"], "message")
                prompt, last = chat_prompt(bodies[rec["custom_id"]]["messages"])
                self.assertEqual(body["content"][0]["text"], echo_text(prompt, last))

    def test_bare_and_prompt_lines_numbered_by_line(self):
        lines = [
            '{"prompt":"first prompt"}',                                              # 1
            '',                                                                       # 2
            '{"model":"mock-model","messages":[{"role":"user","content":"bare one"}]}',  # 3
            '   ',                                                                    # 4
            '',                                                                       # 5
            '{"prompt":"sixth prompt"}',                                              # 6
        ]
        with tmpdir() as d:
            inp = os.path.join(d, "in.jsonl")
            out = os.path.join(d, "out.jsonl")
            write_lines(inp, lines)
            r = run(["run", inp, "-o", out, "--base-url", self.mock.url,
                     "--model", "mock-model", "--max-tokens", "3"])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(self.mock.stats()["received"], 3)
            res = {x["custom_id"]: x for x in read_jsonl(out)}
            self.assertEqual(sorted(res), ["line-1", "line-3", "line-6"])
            for cid, text in (("line-1", "first prompt"), ("line-3", "bare one"),
                              ("line-6", "sixth prompt")):
                rec = res[cid]
                check_result_line(self, rec)
                body = rec["response"]["body"]
                self.assertEqual(body["model"], "mock-model")
                self.assertEqual(body["choices"][0]["message"]["content"],
                                 echo_text(text, text))
                # --max-tokens 3 reached the server: the mock never answers more.
                self.assertLessEqual(body["usage"]["completion_tokens"], 3)

    def test_bare_prompt_without_model_is_input_error(self):
        with tmpdir() as d:
            inp = os.path.join(d, "in.jsonl")
            write_lines(inp, ['{"prompt":"a"}', '{"prompt":"b"}'])
            r = run(["run", inp, "-o", os.path.join(d, "out.jsonl"),
                     "--base-url", self.mock.url])
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("model", r.stderr)
            self.assertEqual(self.mock.stats()["received"], 0)

    def test_request_id_and_body_are_the_servers(self):
        """request_id is exactly the x-request-id / request-id header and body
        is exactly the JSON the server sent, for both dialects."""
        with IdServer() as srv, tmpdir() as d:
            inp = os.path.join(d, "in.jsonl")
            out = os.path.join(d, "out.jsonl")
            write_jobs(inp, 6, shape="openai")
            r = run(["run", inp, "-o", out, "--base-url", srv.url])
            self.assertEqual(r.returncode, 0, r.stderr)
            recs = read_jsonl(out)
            self.assertEqual(len(recs), 6)
            for rec in recs:
                check_result_line(self, rec, request_id_re=None)
                cid = rec["custom_id"]
                self.assertEqual(rec["response"]["request_id"], "rid-oai-" + cid)
                self.assertEqual(rec["response"]["body"], srv.bodies[cid])

            inp2 = os.path.join(d, "in2.jsonl")
            out2 = os.path.join(d, "out2.jsonl")
            write_jobs(inp2, 4, shape="anthropic")
            r = run(["run", inp2, "-o", out2, "--base-url", srv.url])
            self.assertEqual(r.returncode, 0, r.stderr)
            recs = read_jsonl(out2)
            self.assertEqual(len(recs), 4)
            for rec in recs:
                check_result_line(self, rec, request_id_re=None)
                cid = rec["custom_id"]
                self.assertEqual(rec["response"]["request_id"], "rid-anth-" + cid)
                self.assertEqual(rec["response"]["body"], srv.bodies[cid])
            anth = [s for s in srv.seen if s["path"].endswith("/messages")]
            self.assertEqual(len(anth), 4)
            for s in anth:
                self.assertEqual(s["path"], "/v1/messages")
                self.assertEqual(s["x-api-key"], ANTHROPIC_TEST_KEY)
                self.assertEqual(s["anthropic-version"], "2023-06-01")


class GzipAndStdin(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mock = Mock()

    @classmethod
    def tearDownClass(cls):
        cls.mock.cleanup()

    def setUp(self):
        self.mock.reset(all=True)

    def test_gz_output_is_gzip(self):
        with tmpdir() as d:
            inp = os.path.join(d, "in.jsonl")
            ids = write_jobs(inp, 30, faults={4: "mock:fail=400"})
            out = os.path.join(d, "out.jsonl.gz")
            r = run(["run", inp, "-o", out, "--base-url", self.mock.url])
            self.assertEqual(r.returncode, 1, r.stderr)
            err = os.path.join(d, "out.errors.jsonl.gz")
            self.assertTrue(os.path.exists(err), os.listdir(d))
            for path, want in ((out, [i for i in ids if i != "job-000004"]),
                               (err, ["job-000004"])):
                with open(path, "rb") as f:
                    raw = f.read()
                self.assertEqual(raw[:2], b"\x1f\x8b", path)
                text = gzip.decompress(raw).decode("utf-8")   # must not raise
                self.assertTrue(text.endswith("\n"))
                recs = [json.loads(x) for x in text.splitlines() if x.strip()]
                self.assertEqual(sorted(x["custom_id"] for x in recs), want)
            for rec in read_jsonl(out):
                check_result_line(self, rec)

    def _run_expect_all(self, inp, ids, d, tag):
        out = os.path.join(d, "out-%s.jsonl" % tag)
        self.mock.reset()
        r = run(["run", inp, "-o", out, "--base-url", self.mock.url])
        self.assertEqual(r.returncode, 0, "%s: %s" % (tag, r.stderr))
        self.assertEqual(sorted(custom_ids(out)), sorted(ids), tag)
        self.assertEqual(self.mock.stats()["received"], len(ids), tag)

    def test_gzip_detected_by_magic_not_name(self):
        with tmpdir() as d:
            a = os.path.join(d, "a.jsonl.gz")          # gzip, named .gz
            ids = write_jobs(a, 25, gz=True)
            self._run_expect_all(a, ids, d, "gz-named-gz")
            b = os.path.join(d, "b.jsonl")             # gzip, NOT named .gz
            with open(a, "rb") as f, open(b, "wb") as g:
                g.write(f.read())
            self._run_expect_all(b, ids, d, "gz-named-plain")
            c = os.path.join(d, "c.jsonl.gz")          # plain, named .gz
            ids_c = write_jobs(c, 25, gz=False, seed=7)
            with open(c, "rb") as f:
                self.assertNotEqual(f.read(2), b"\x1f\x8b")
            self._run_expect_all(c, ids_c, d, "plain-named-gz")

    def test_multi_member_gzip(self):
        with tmpdir() as d:
            lines = [chat_line("mm-%03d" % i, "multi member %d" % i) for i in range(30)]
            raw = b""
            for part in (lines[:10], lines[10:11], lines[11:]):
                raw += gzip.compress("".join(json.dumps(x) + "\n" for x in part).encode())
            inp = os.path.join(d, "in.jsonl.gz")
            with open(inp, "wb") as f:
                f.write(raw)
            self._run_expect_all(inp, [x["custom_id"] for x in lines], d, "multi")

    def test_stdin_input(self):
        with tmpdir() as d:
            src = os.path.join(d, "src.jsonl")
            ids = write_jobs(src, 20)
            with open(src, encoding="utf-8") as f:
                data = f.read()
            out = os.path.join(d, "out.jsonl")
            r = run(["run", "-", "-o", out, "--base-url", self.mock.url], input=data)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(sorted(custom_ids(out)), ids)
            self.assertEqual(self.mock.stats()["received"], 20)
            self.assertRegex(r.stderr.lower(), r"resum", "stdin run must say resume is impossible")
            self.assertRegex(r.stderr.lower(),
                             r"(cannot|can't|can not|not possible|impossible|unable)[^\n]*resum"
                             r"|resum[^\n]*(impossible|not possible)")

    def test_stdin_invalid_line_names_stdin(self):
        data = (json.dumps(chat_line("a", "x")) + "\n" + '{"custom_id": oops}\n')
        with tmpdir() as d:
            r = run(["run", "-", "-o", os.path.join(d, "out.jsonl"), "--base-url",
                     self.mock.url], input=data)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertEqual(self.mock.stats()["received"], 0)
            # named as stdin, not by a temporary spool file the user never saw
            self.assertRegex(r.stderr, r"(^|\s)(-|<stdin>|stdin|\(stdin\)):2:", r.stderr)
            self.assertNotIn("llmbatch-stdin-", r.stderr)

    def test_stdin_gzip_input(self):
        with tmpdir() as d:
            src = os.path.join(d, "src.jsonl.gz")
            ids = write_jobs(src, 15, gz=True)
            with open(src, "rb") as f:
                data = f.read()
            out = os.path.join(d, "out.jsonl")
            r = subprocess.run([LLMBATCH, "run", "-", "-o", out, "--base-url", self.mock.url],
                               input=data, capture_output=True, env=_env(None), timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(sorted(custom_ids(out)), ids)


class Validation(unittest.TestCase):
    """Invalid input: exit 2, nothing sent, stderr names FILE:LINE and the problem."""

    @classmethod
    def setUpClass(cls):
        cls.mock = Mock()

    @classmethod
    def tearDownClass(cls):
        cls.mock.cleanup()

    def setUp(self):
        self.mock.reset(all=True)

    def _invalid(self, bad_line, lineno, words, nvalid=300, gz=False, raw=None):
        """nvalid good lines with bad_line at lineno (1-based); runs; checks."""
        with tmpdir() as d:
            name = "in.jsonl.gz" if gz else "in.jsonl"
            inp = os.path.join(d, name)
            lines = [chat_line("ok-%05d" % i, "valid %d" % i) for i in range(nvalid)]
            if bad_line is not None:
                lines.insert(lineno - 1, bad_line)
            write_lines(inp, lines, gz=gz)
            if raw is not None:
                with open(inp, "rb") as f:
                    data = f.read()
                with open(inp, "wb") as f:
                    f.write(raw(data))
            out = os.path.join(d, "out.jsonl")
            r = run(["run", inp, "-o", out, "--base-url", self.mock.url])
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertEqual(self.mock.stats()["received"], 0, "a request was sent")
            if lineno is None:
                m = re.search(re.escape(inp) + r":(\d+)", r.stderr)
                self.assertIsNotNone(m, "stderr must name FILE:LINE: %r" % r.stderr)
                where = m.group(0)
            else:
                where = "%s:%d" % (inp, lineno)
                self.assertIn(where, r.stderr)
            msg = r.stderr[r.stderr.index(where) + len(where):].split("\n", 1)[0].lower()
            for w in words:
                self.assertRegex(msg, w, r.stderr)
            if os.path.exists(out):
                self.assertEqual(read_jsonl(out), [])
            return msg

    def test_malformed_json(self):
        self._invalid('{"custom_id":"x","method":"POST",', 300, [r"json|pars|malformed"])

    def test_not_an_object(self):
        self._invalid('[1,2,3]', 17, [r"not a json object"])

    def test_missing_custom_id(self):
        bad = chat_line("z", "no id")
        del bad["custom_id"]
        self._invalid(bad, 250, [r"custom_id"])

    def test_duplicate_custom_id_names_both_lines(self):
        msg = self._invalid(chat_line("ok-00003", "again"), 280, [r"duplicate", r"custom_id"])
        # ok-00003 is first on line 4: the message names it.
        self.assertRegex(msg, r"\b4\b")

    def test_unsupported_url(self):
        self._invalid(chat_line("img", "x", url="/v1/images/generations"), 120,
                      [r"url|unsupported"])

    def test_method_get(self):
        bad = chat_line("g", "x")
        bad["method"] = "GET"
        self._invalid(bad, 61, [r"method|post|get"])

    def test_truncated_gzip(self):
        self._invalid(None, None, [r"gzip|truncat|unexpected end|corrupt"], gz=True,
                      raw=lambda b: b[:len(b) * 2 // 3])

    def test_corrupt_gzip(self):
        def flip(b):
            b = bytearray(b)
            b[len(b) // 2] ^= 0xFF
            return bytes(b)
        self._invalid(None, None, [r"gzip|corrupt|invalid|crc|check"], gz=True, raw=flip)

    def test_skip_invalid(self):
        with tmpdir() as d:
            inp = os.path.join(d, "in.jsonl")
            good = [chat_line("g-%02d" % i, "good %d" % i) for i in range(8)]
            nocid = chat_line("z", "no id")
            del nocid["custom_id"]
            lines = [good[0], good[1], '{broken json', good[2], good[3],
                     nocid, good[4], chat_line("g-01", "dup of line 2"),
                     chat_line("u-1", "bad url", url="/v1/fine_tuning/jobs"),
                     good[5], good[6], good[7]]
            write_lines(inp, lines)
            out = os.path.join(d, "out.jsonl")
            r = run(["run", inp, "-o", out, "--base-url", self.mock.url, "--skip-invalid"])
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertEqual(sorted(custom_ids(out)), ["g-%02d" % i for i in range(8)])
            st = self.mock.stats()
            self.assertEqual(st["received"], 8)
            self.assertEqual(st["max_body_count"], 1)
            errs = read_jsonl(errors_path(d))
            self.assertEqual(len(errs), 4, errs)
            by = {}
            for e in errs:
                by.setdefault(e["custom_id"], []).append(e)
                self.assertIsInstance(e.get("error"), dict, e)
                self.assertTrue(e["error"].get("code"), e)
                self.assertTrue(e["error"].get("message"), e)
                self.assertTrue(str(e.get("id", "")).startswith("batch_req_"), e)
            # malformed line 3 and id-less line 6 are named by line; the
            # duplicate and the bad url keep their own custom_id.
            self.assertEqual(sorted(by), ["g-01", "line-3", "line-6", "u-1"])
            self.assertRegex(by["g-01"][0]["error"]["message"].lower(), "duplicate")
            self.assertRegex(by["u-1"][0]["error"]["message"].lower(), "url")
            self.assertRegex(by["line-6"][0]["error"]["message"], "custom_id")
            with open(os.path.join(d, "out.report.json"), encoding="utf-8") as f:
                rep = json.load(f)
            self.assertEqual(rep["jobs"]["succeeded"], 8)


class BaseUrl(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mock = Mock()

    @classmethod
    def tearDownClass(cls):
        cls.mock.cleanup()

    def _go(self, shape, base=None, env=None):
        self.mock.reset(all=True)
        with tmpdir() as d:
            inp = os.path.join(d, "in.jsonl")
            ids = write_jobs(inp, 5, shape=shape)
            out = os.path.join(d, "out.jsonl")
            args = ["run", inp, "-o", out]
            if base is not None:
                args += ["--base-url", base]
            r = run(args, env=env)
            tag = "%s %s %s" % (shape, base, env)
            self.assertEqual(r.returncode, 0, tag + ": " + r.stderr)
            self.assertEqual(sorted(custom_ids(out)), ids, tag)
            want = "/v1/messages" if shape == "anthropic" else "/v1/chat/completions"
            self.assertEqual(self.mock.stats()["by_path"], {want: 5}, tag)

    def test_base_url_forms(self):
        u = self.mock.url
        for base in (u, u + "/", u + "/v1", u + "/v1/"):
            with self.subTest(base=base):
                self._go("openai", base)
        for base in (u, u + "/v1"):
            with self.subTest(base=base, shape="anthropic"):
                self._go("anthropic", base)

    def test_base_url_from_env(self):
        u = self.mock.url
        self._go("openai", env={"OPENAI_BASE_URL": u})
        self._go("openai", env={"OPENAI_BASE_URL": u + "/v1"})
        self._go("anthropic", env={"ANTHROPIC_BASE_URL": u + "/v1/"})


class Memory(unittest.TestCase):
    @unittest.skipIf(os.environ.get("LLMB_SANITIZED"),
                     "peak RSS means nothing under AddressSanitizer (shadow memory, quarantine)")
    def test_peak_rss_flat_validation(self):
        """Peak RSS of the streaming validation pass (llmbatch estimate) on a
        1M-line gzip input is within 8 MB of that on a 1k-line input."""
        with tmpdir() as d:
            def gen(path, n):
                # bare {"prompt":...} lines: ids are line numbers, so nothing
                # per line needs keeping; prompts differ and have varied length
                with gzip.open(path, "wb", compresslevel=1) as f:
                    step = 20000
                    for s in range(0, n, step):
                        f.write(b"".join(b'{"prompt":"p%d %s"}\n' % (i, b"w" * (i % 64))
                                         for i in range(s, min(n, s + step))))
            small = os.path.join(d, "small.jsonl.gz")
            big = os.path.join(d, "big.jsonl.gz")
            gen(small, 1000)
            gen(big, 1000000)
            cmd = [LLMBATCH, "estimate", "--model", "mock-model", "--max-tokens", "4"]
            kb_small, rc, err = peak_rss_kb(cmd + [small])
            self.assertEqual(rc, 0, err)
            self.assertRegex(err, r"\b1000 jobs")
            kb_big, rc, err = peak_rss_kb(cmd + [big], timeout=150)
            self.assertEqual(rc, 0, err)
            self.assertRegex(err, r"\b1000000 jobs", "estimate did not read all 1M lines")
            self.assertLessEqual(kb_big, kb_small + 8 * 1024,
                                 "peak RSS %d KiB on 1M lines vs %d KiB on 1k lines"
                                 % (kb_big, kb_small))


if __name__ == "__main__":
    from harness import main
    main()

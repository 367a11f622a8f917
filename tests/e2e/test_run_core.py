#!/usr/bin/env python3
"""llmbatch run, core loop: exactly-once under mixed faults, no
duplicate sends without faults, --concurrency bound, permanent errors not
retried, bounded retries, keys never printed, SIGINT/SIGTERM + resume,
exit codes."""

import collections
import json
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Mock, collect, custom_ids, read_jsonl, run, start,  # noqa: E402
                     out_paths, tmpdir, write_jobs)
from run_core_util import (chat_prompt, check_result_line, echo_text,  # noqa: E402
                           input_bodies, scan_files)


paths = out_paths


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def check_answer(tc, rec, bodies):
    """The body answers this job's own prompt (results are never crossed)."""
    prompt, last = chat_prompt(bodies[rec["custom_id"]]["messages"])
    tc.assertEqual(rec["response"]["body"]["choices"][0]["message"]["content"],
                   echo_text(prompt, last), rec["custom_id"])


class Faults(unittest.TestCase):
    def _faults_run(self, n, faults, max_retries=3, deadline_s=90):
        """n jobs (every 997th a permanent 400) under faults: every custom_id
        exactly once across results + errors, bounded retries, consistent report."""
        perm = {i: "mock:fail=400" for i in range(7, n, 997)}
        with Mock("--faults", faults, "--slow-ms", "2500") as m, tmpdir() as d:
            inp = os.path.join(d, "in.jsonl.gz")
            ids = write_jobs(inp, n, gz=True, faults=perm)
            bodies = input_bodies(inp)
            out, err, rep_path = paths(d)
            p = start(["run", inp, "-o", out, "--base-url", m.url, "--concurrency", "96",
                       "--timeout", "2", "--max-retries", str(max_retries), "--no-progress"])
            t0 = time.monotonic()
            while p.poll() is None and time.monotonic() - t0 < deadline_s:
                time.sleep(0.2)
            stuck = p.poll() is None
            if stuck:
                p.send_signal(signal.SIGINT)
            r = collect(p, timeout=60)
            res = read_jsonl(out)
            errs = read_jsonl(err)
            rid = [x["custom_id"] for x in res]
            eid = [x["custom_id"] for x in errs]
            self.assertEqual(len(rid), len(set(rid)), "duplicate results lines")
            self.assertEqual(len(eid), len(set(eid)), "duplicate errors lines")
            self.assertEqual(set(rid) & set(eid), set(), "a job in both files")
            if stuck:
                st = m.stats()
                self.fail("%d jobs under faults %r not done after %d s: %d results, %d errors,"
                          " mock received %d (throughput collapsed)"
                          % (n, faults, deadline_s, len(res), len(errs), st["received"]))
            self.assertIn(r.returncode, (0, 1), r.stderr[-3000:])
            self.assertEqual(sorted(rid + eid), ids, "every custom_id exactly once")
            self.assertEqual(r.returncode, 1 if errs else 0)

            for rec in res:
                check_result_line(self, rec)
                check_answer(self, rec, bodies)
            perm_ids = {ids[i] for i in perm}
            self.assertTrue(perm_ids <= set(eid), "permanent 400s must fail")
            for e in errs:
                self.assertIsInstance(e.get("error"), dict, e)
                if e["custom_id"] in perm_ids:
                    self.assertEqual(e["response"]["status_code"], 400, e)
                else:   # every attempt failed transiently
                    self.assertEqual(e["error"].get("code"), "max_retries_exceeded", e)
                    self.assertRegex(e["error"].get("message", ""),
                                     r"^gave up after %d attempts \(" % (max_retries + 1), e)

            st = m.stats()
            self.assertLessEqual(st["received"], n * (max_retries + 1), "retries unbounded")
            self.assertGreater(sum(st["by_fault"].values()), 0.15 * n, "faults not injected?")
            # permanent 400s were sent exactly once each
            log = collections.Counter(e["custom"] for e in m.log_entries())
            for cid in perm_ids:
                self.assertEqual(log[cid], 1, "400 for %s was retried" % cid)

            rep = load(rep_path)
            self.assertEqual(rep["jobs"]["total"], n)
            self.assertEqual(rep["jobs"]["succeeded"], len(res))
            self.assertEqual(rep["jobs"]["failed"], len(errs))
            self.assertEqual(rep["jobs"]["pending"], 0)
            h = rep["http"]
            self.assertEqual(h["requests_sent"], st["received"])
            self.assertEqual(h["requests_sent"], n + h["retries"])
            self.assertEqual(sum(h["by_status"].values()) + h["network_errors"] + h["timeouts"],
                             h["requests_sent"], h)
            self.assertEqual(h["by_status"].get("400", 0), len(perm_ids))
            self.assertEqual(h["rate_limited_429"], h["by_status"].get("429", 0))
            self.assertEqual(h["by_status"].get("429", 0), st["by_status"].get("429", 0))

    def test_mixed_faults_10k_exactly_once(self):
        """10k jobs, 30 % mixed faults including 429s with small retry hints."""
        self._faults_run(10000, "429=0.05,500=0.04,503=0.04,529=0.03,reset=0.04,"
                         "truncate=0.03,badjson=0.03,slow=0.01,nousage=0.03")

    def test_mixed_faults_without_429_exactly_once(self):
        """The same property under the faults other than 429 (3k jobs)."""
        self._faults_run(3000, "500=0.06,503=0.05,529=0.04,reset=0.05,"
                         "truncate=0.04,badjson=0.04,slow=0.01,nousage=0.02")

    def test_no_faults_each_job_sent_once_and_concurrency_bound(self):
        n, conc = 1500, 12
        with Mock("--latency-ms", "15") as m, tmpdir() as d:
            inp = os.path.join(d, "in.jsonl")
            ids = write_jobs(inp, n)
            bodies = input_bodies(inp)
            out, err, rep_path = paths(d)
            r = run(["run", inp, "-o", out, "--base-url", m.url,
                     "--concurrency", str(conc)])
            self.assertEqual(r.returncode, 0, r.stderr[-2000:])
            st = m.stats()
            self.assertEqual(st["received"], n)
            self.assertEqual(st["distinct_bodies"], n)
            self.assertEqual(st["max_body_count"], 1, "a job was sent twice")
            self.assertLessEqual(st["max_in_flight"], conc)
            res = read_jsonl(out)
            self.assertEqual(sorted(x["custom_id"] for x in res), ids)
            for rec in res:
                check_result_line(self, rec)
                check_answer(self, rec, bodies)
            self.assertEqual(len({x["response"]["request_id"] for x in res}), n)
            self.assertEqual(len({x["id"] for x in res}), n)
            self.assertEqual(read_jsonl(err), [])
            rep = load(rep_path)
            self.assertEqual(rep["exit_code"], 0)
            self.assertEqual(rep["http"]["requests_sent"], n)
            self.assertEqual(rep["http"]["retries"], 0)


class Outcomes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mock = Mock()

    @classmethod
    def tearDownClass(cls):
        cls.mock.cleanup()

    def setUp(self):
        self.mock.reset(all=True)
        self.log0 = len(self.mock.log_entries())   # the log spans the class's tests

    def sends(self):
        """custom_id -> requests the mock received in this test."""
        return collections.Counter(e["custom"] for e in self.mock.log_entries()[self.log0:])

    def test_permanent_errors_not_retried(self):
        """400, 404 and 422 end a job at once.  (A 404 counts as the job's
        own only once its endpoint has answered something else: the 404s sit
        last and the run is narrow, so successes come first.)"""
        final = {0: 400, 1: 400, 28: 404, 29: 404, 4: 422, 5: 422}
        faults = {i: "mock:fail=%d" % code for i, code in final.items()}
        faults.update({6: "mock:fail_first=2:500", 7: "mock:fail_first=2:500",
                       8: "mock:fail_first=2:500"})
        with tmpdir() as d:
            inp = os.path.join(d, "in.jsonl")
            ids = write_jobs(inp, 30, faults=faults)
            out, err, rep_path = paths(d)
            r = run(["run", inp, "-o", out, "--base-url", self.mock.url, "--concurrency", "4"])
            self.assertEqual(r.returncode, 1, r.stderr)
            errs = {e["custom_id"]: e for e in read_jsonl(err)}
            self.assertEqual(sorted(errs), sorted(ids[i] for i in final))
            res = custom_ids(out)
            self.assertEqual(sorted(res), sorted(ids[i] for i in range(30) if i not in final))
            log = self.sends()
            for i in final:
                self.assertEqual(log[ids[i]], 1, "permanent error retried: %s" % ids[i])
            for i in range(6, 9):
                self.assertEqual(log[ids[i]], 3, "fail_first=2 needs exactly 3 sends")
            for i in range(30):
                if i not in final and i not in (6, 7, 8):
                    self.assertEqual(log[ids[i]], 1)
            for i, code in final.items():
                e = errs[ids[i]]
                self.assertTrue(str(e.get("id", "")).startswith("batch_req_"), e)
                self.assertIsInstance(e["error"], dict, e)
                self.assertIsInstance(e["error"].get("code"), str, e)
                self.assertTrue(e["error"]["code"], e)
                self.assertIn("mock:fail directive (%d)" % code, e["error"].get("message", ""), e)
                self.assertEqual(e["response"]["status_code"], code, e)
                self.assertEqual(e["response"]["body"]["error"]["message"],
                                 "mock:fail directive (%d)" % code, e)
            rep = load(rep_path)
            self.assertEqual(rep["exit_code"], 1)
            self.assertEqual(rep["jobs"]["failed"], 6)

    def test_error_lines_carry_request_id(self):
        """The errors file keeps the server's x-request-id like results do."""
        with tmpdir() as d:
            inp = os.path.join(d, "in.jsonl")
            ids = write_jobs(inp, 3, faults={1: "mock:fail=400"})
            out, err, _ = paths(d)
            r = run(["run", inp, "-o", out, "--base-url", self.mock.url])
            self.assertEqual(r.returncode, 1, r.stderr)
            e = read_jsonl(err)
            self.assertEqual([x["custom_id"] for x in e], [ids[1]])
            self.assertRegex(e[0]["response"].get("request_id") or "", r"^req_[0-9a-f]+$", e)

    def test_max_retries_exceeded_lists_statuses(self):
        with tmpdir() as d:
            inp = os.path.join(d, "in.jsonl")
            ids = write_jobs(inp, 6, faults={0: "mock:fail=500", 1: "mock:fail=503",
                                             2: "mock:fail=500"})
            out, err, _ = paths(d)
            r = run(["run", inp, "-o", out, "--base-url", self.mock.url,
                     "--max-retries", "1"])
            self.assertEqual(r.returncode, 1, r.stderr)
            errs = {e["custom_id"]: e for e in read_jsonl(err)}
            self.assertEqual(sorted(errs), ids[:3])
            self.assertEqual(sorted(custom_ids(out)), ids[3:])
            for i, code in ((0, 500), (1, 503), (2, 500)):
                e = errs[ids[i]]
                self.assertEqual(e["error"]["code"], "max_retries_exceeded", e)
                self.assertIn(str(code), e["error"]["message"], e)
                self.assertEqual(e["response"]["status_code"], code, e)
            log = self.sends()
            for i in range(3):
                self.assertEqual(log[ids[i]], 2, "--max-retries 1 means 2 attempts")

    def test_exit_code_0_when_all_succeed(self):
        with tmpdir() as d:
            inp = os.path.join(d, "in.jsonl")
            ids = write_jobs(inp, 10)
            out, err, rep = paths(d)
            r = run(["run", inp, "-o", out, "--base-url", self.mock.url])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(sorted(custom_ids(out)), ids)
            self.assertEqual(load(rep)["exit_code"], 0)


class Secrets(unittest.TestCase):
    OKEY = "sk-proj-DistinctiveSecret7Qx9LmZp4WvT3nK8ytr2"
    AKEY = "sk-ant-api03-AnthropicSecret5Hh2Jk8Ll0Qq4Zx6pWn"

    def test_keys_never_printed(self):
        env = {"OPENAI_API_KEY": self.OKEY, "ANTHROPIC_API_KEY": self.AKEY}
        with Mock("--faults", "500=0.2") as m, tmpdir() as d:
            inp = os.path.join(d, "in.jsonl")
            write_jobs(inp, 40, faults={3: "mock:fail=400", 5: "mock:fail=500"})
            inp2 = os.path.join(d, "in2.jsonl")
            write_jobs(inp2, 20, shape="anthropic", faults={2: "mock:fail=400"})
            outs = []
            for src, res in ((inp, "out.jsonl"), (inp2, "a.jsonl.gz")):
                out, err, rep = paths(d, res)
                r = run(["run", src, "-o", out, "--base-url", m.url, "--max-retries", "2",
                         "--status-file", os.path.join(d, res + ".status.json"),
                         "--metrics", os.path.join(d, res + ".prom")], env=env)
                self.assertEqual(r.returncode, 1, r.stderr)
                outs.append(r.stdout + r.stderr)
                self.assertTrue(os.path.exists(rep))
            # a resume run too (prints whatever it prints on reuse)
            r = run(["run", inp, "-o", os.path.join(d, "out.jsonl"), "--base-url", m.url],
                    env=env)
            outs.append(r.stdout + r.stderr)
            # both keys were really used
            self.assertGreater(m.stats()["by_key"][self.OKEY[-4:]]["ok"], 0)
            self.assertGreater(m.stats()["by_key"][self.AKEY[-4:]]["ok"], 0)
            files = scan_files(d)
            self.assertTrue(any(p.endswith(".ckpt") for p in files), list(files))
            for key in (self.OKEY, self.AKEY):
                for frag in (key, key[:-4], key[8:24]):
                    b = frag.encode()
                    for p, data in files.items():
                        if p.startswith(inp):
                            continue
                        self.assertNotIn(b, data, "key material in %s" % p)
                    for text in outs:
                        self.assertNotIn(frag, text, "key material printed")
            with open(paths(d)[2], encoding="utf-8") as f:
                rep = f.read()
            self.assertRegex(rep, r"(\.\.\.|\u2026)" + self.OKEY[-4:])

    def test_api_key_on_command_line_refused(self):
        key = "sk-cmdline-NeverAccepted1234"
        with Mock() as m, tmpdir() as d:
            inp = os.path.join(d, "in.jsonl")
            write_jobs(inp, 3)
            for flag in (["--api-key", key], ["--api-key=" + key]):
                r = run(["run", inp, "-o", os.path.join(d, "out.jsonl"),
                         "--base-url", m.url] + flag)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertNotIn(key, r.stdout + r.stderr)
            self.assertEqual(m.stats()["received"], 0)


class Signals(unittest.TestCase):
    def _interrupt_and_resume(self, sig, want_rc, results):
        n, conc = 240, 8
        with Mock("--latency-ms", "250") as m, tmpdir() as d:
            inp = os.path.join(d, "in.jsonl")
            ids = write_jobs(inp, n)
            out, err, rep_path = paths(d, results)
            args = ["run", inp, "-o", out, "--base-url", m.url, "--concurrency", str(conc),
                    "--grace", "3", "--commit-every", "5"]
            p = start(args)
            deadline = time.monotonic() + 30
            try:
                while m.stats()["received"] < 40:
                    self.assertIsNone(p.poll(), "run ended before the signal")
                    self.assertLess(time.monotonic(), deadline, "mock got too few requests")
                    time.sleep(0.05)
            except BaseException:
                p.kill()
                collect(p)
                raise
            p.send_signal(sig)
            t_sig = time.monotonic()
            r = collect(p, timeout=30)   # grace 3 s: far below this
            self.assertLess(time.monotonic() - t_sig, 3 + 12, "did not stop within the grace")
            self.assertEqual(r.returncode, want_rc, r.stderr[-2000:])
            self.assertTrue(os.path.exists(out) and os.path.exists(err)
                            and os.path.exists(rep_path), os.listdir(d))
            first = custom_ids(out)       # parses every line: no torn line
            self.assertGreater(len(first), 0)
            self.assertLess(len(first), n)
            self.assertEqual(len(first), len(set(first)))
            self.assertEqual(read_jsonl(err), [])
            rep = load(rep_path)
            self.assertEqual(rep["exit_code"], want_rc)
            self.assertEqual(rep["jobs"]["succeeded"], len(first))
            self.assertEqual(rep["jobs"]["pending"], n - len(first))

            m.config(latency_ms=0)
            r2 = run(args)
            self.assertEqual(r2.returncode, 0, r2.stderr[-2000:])
            res = custom_ids(out)
            self.assertEqual(len(res), len(set(res)), "duplicate after resume")
            self.assertEqual(sorted(res), ids)
            self.assertEqual(res[:len(first)], first, "committed lines changed")
            self.assertEqual(read_jsonl(err), [])
            # jobs done before the signal were not sent again
            self.assertLessEqual(m.stats()["received"], n + conc)
            log = collections.Counter(e["custom"] for e in m.log_entries())
            for cid in first:
                self.assertEqual(log[cid], 1, cid)

    def test_sigint_exit_130_and_resume(self):
        self._interrupt_and_resume(signal.SIGINT, 130, "out.jsonl")

    def test_sigterm_exit_143_and_resume_gz(self):
        self._interrupt_and_resume(signal.SIGTERM, 143, "out.jsonl.gz")

    def test_second_sigint_exits_at_once(self):
        n, conc = 400, 4
        with Mock("--latency-ms", "100") as m, tmpdir() as d:
            inp = os.path.join(d, "in.jsonl")
            ids = write_jobs(inp, n)
            out, err, rep_path = paths(d)
            args = ["run", inp, "-o", out, "--base-url", m.url, "--concurrency", str(conc),
                    "--grace", "60"]
            p = start(args)
            try:
                deadline = time.monotonic() + 30
                while m.stats()["received"] < 2 * conc:
                    self.assertIsNone(p.poll(), "run ended early")
                    self.assertLess(time.monotonic(), deadline, "too few requests")
                    time.sleep(0.05)
                m.config(latency_ms=20000)      # from now on every reply takes 20 s
                deadline = time.monotonic() + 30
                while m.stats()["in_flight"] < conc:
                    self.assertIsNone(p.poll(), "run ended early")
                    self.assertLess(time.monotonic(), deadline, "requests never in flight")
                    time.sleep(0.05)
                time.sleep(0.5)
                p.send_signal(signal.SIGINT)
                time.sleep(0.7)
                self.assertIsNone(p.poll(), "first SIGINT must wait for the grace period")
                p.send_signal(signal.SIGINT)
                t2 = time.monotonic()
                r = collect(p, timeout=40)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            # at once: long before the 20 s replies or the 60 s grace
            self.assertLess(time.monotonic() - t2, 10)
            self.assertEqual(r.returncode, 130, r.stderr[-2000:])
            answered = {e["custom"] for e in m.log_entries() if e["status"] == 200}
            first = custom_ids(out) if os.path.exists(out) else []
            self.assertLessEqual(set(first), answered)
            self.assertLess(len(first), n)
            m.config(latency_ms=0)
            r2 = run(args)
            self.assertEqual(r2.returncode, 0, r2.stderr[-2000:])
            res = custom_ids(out)
            self.assertEqual(len(res), len(set(res)), "duplicate after resume")
            self.assertEqual(sorted(res), ids)
            self.assertEqual(read_jsonl(err), [])

if __name__ == "__main__":
    from harness import main
    main()

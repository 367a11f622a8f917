"""
e2e: the cost report (fields, exits 1 and 3, human summary), `llmbatch
estimate`, `llmbatch report RESULTS|CHECKPOINT`, and the price table (dated
snapshots by prefix, OpenAI cached tokens, Anthropic cache reads/writes).
"""

import json
import os
import random
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (Mock, run, read_jsonl, tmpdir, out_paths, write_lines, OPENAI_TEST_KEY,  # noqa: E402
                     ANTHROPIC_TEST_KEY)
from budget_util import (usd_to_pusd, reservation, openai_line, anthropic_line,  # noqa: E402
                         body_of, load_json, price)

_WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo".split()


def _text(rng, i):
    return "Prompt %d: %s" % (i, " ".join(rng.choice(_WORDS)
                                          for _ in range(rng.randint(2, 20))))


def _paths(d):
    return (os.path.join(d, "in.jsonl"),) + out_paths(d)


def _lines(n, seed=1, **kw):
    rng = random.Random(seed)
    return [openai_line("j-%04d" % j, _text(rng, j), **kw) for j in range(n)]


def _num(s):
    return float(s.replace(",", ""))


class ReportFields(unittest.TestCase):
    def check_fields(self, r):
        for k in ("total", "succeeded", "failed", "pending"):
            self.assertIsInstance(r["jobs"][k], int, k)
        for k in ("total", "budget", "reserved_unconfirmed", "estimated"):
            self.assertIn(k, r["cost_usd"])
        self.assertIsInstance(r["cost_usd"]["total_pp"], int)
        for k in ("input", "cached_input", "cache_write", "output", "reasoning"):
            self.assertIsInstance(r["tokens"][k], int, k)
        self.assertIsInstance(r["by_model"], dict)
        for m, v in r["by_model"].items():
            for k in ("requests", "input_tokens", "output_tokens", "cost_usd"):
                self.assertIn(k, v, m)
        self.assertIsInstance(r["by_key"], dict)
        for k in ("requests_sent", "retries", "by_status", "network_errors", "timeouts"):
            self.assertIn(k, r["http"], k)
        lat = r["latency_ms"]
        self.assertLessEqual(lat["p50"], lat["p90"])
        self.assertLessEqual(lat["p90"], lat["p99"])
        self.assertGreater(r["elapsed_s"], 0)
        self.assertLess(r["elapsed_s"], 600)
        self.assertTrue(r["prices"]["file"].endswith(".json"))
        self.assertRegex(r["prices"]["updated"], r"^\d{4}-\d{2}-\d{2}$")

    def test_report_on_exit_1(self):
        lines = _lines(20, seed=2)
        lines[5]["body"]["messages"][0]["content"] += " mock:fail=400"
        with Mock("--usage", "random") as mock, tmpdir() as d:
            inp, out, errs, rep = _paths(d)
            write_lines(inp, lines)
            p = run(["run", inp, "-o", out, "--base-url", mock.url, "--budget", "1",
                     "--no-progress"])
            self.assertEqual(p.returncode, 1, p.stderr)
            r = load_json(rep)
            self.check_fields(r)
            st = mock.stats()
            self.assertEqual(r["jobs"], dict(r["jobs"], total=20, succeeded=19, failed=1,
                                             pending=0))
            self.assertEqual(r["cost_usd"]["total_pp"], st["billed_ok_pusd"])
            self.assertAlmostEqual(r["cost_usd"]["budget"], 1.0)
            self.assertEqual(r["tokens"]["input"], st["prompt_tokens"])
            self.assertEqual(r["tokens"]["output"], st["completion_tokens"])
            self.assertEqual(r["http"]["requests_sent"], st["received"])
            self.assertEqual({k: v for k, v in r["http"]["by_status"].items() if v},
                             st["by_status"])
            mm = r["by_model"]["mock-model"]
            # "requests" may count replies or requests sent (ambiguous)
            self.assertIn(mm["requests"], (19, 20))
            self.assertEqual(mm["input_tokens"], st["prompt_tokens"])
            # keys are named by a fingerprint, never in full
            used = [k for k, v in r["by_key"].items() if v["requests"]]
            self.assertEqual(len(used), 1, r["by_key"])
            self.assertTrue(used[0].endswith(OPENAI_TEST_KEY[-4:]), used)
            self.assertEqual(r["by_key"][used[0]]["requests"], st["received"])
            with open(rep, encoding="utf-8") as f:
                self.assertNotIn(OPENAI_TEST_KEY, f.read())
            # a human summary on stderr
            self.assertIn("mock-model", p.stderr)
            self.assertRegex(p.stderr, r"\$\d+\.\d+")
            self.assertNotIn(OPENAI_TEST_KEY, p.stderr)

    def test_report_on_exit_3_and_custom_path(self):
        lines = _lines(40, seed=3, max_tokens=100)
        one = reservation(body_of(lines[0]))
        with Mock("--usage", "worst") as mock, tmpdir() as d:
            inp, out, errs, _ = _paths(d)
            rep = os.path.join(d, "elsewhere.json")
            write_lines(inp, lines)
            budget = "%.8f" % (one * 5.5 / 1e12)
            p = run(["run", inp, "-o", out, "--base-url", mock.url, "--budget", budget,
                     "--report", rep, "--concurrency", 4, "--no-progress"])
            self.assertEqual(p.returncode, 3, p.stderr)
            self.assertFalse(os.path.exists(os.path.join(d, "out.report.json")))
            r = load_json(rep)
            self.check_fields(r)
            self.assertGreater(r["jobs"]["pending"], 0)
            self.assertEqual(r["jobs"]["succeeded"] + r["jobs"]["pending"], 40)
            self.assertEqual(r["cost_usd"]["total_pp"], mock.stats()["billed_ok_pusd"])
            self.assertLessEqual(r["cost_usd"]["total_pp"], usd_to_pusd(budget))
            # the exit-3 message: spend, jobs remaining, rerun with a larger --budget
            self.assertIn(str(r["jobs"]["pending"]), p.stderr)
            self.assertRegex(p.stderr, r"(?i)larger --budget|increase.*budget")


class SummaryAmounts(unittest.TestCase):
    def test_exit3_summary_states_the_budget(self):
        # The human summary at the cap must show the budget the user gave
        # ($0.0035), not a rounded "$0.00".
        lines = _lines(30, seed=15, max_tokens=100)
        with Mock("--usage", "worst") as mock, tmpdir() as d:
            inp, out, errs, rep = _paths(d)
            write_lines(inp, lines)
            p = run(["run", inp, "-o", out, "--base-url", mock.url, "--budget", "0.0035",
                     "--concurrency", 2, "--no-progress"])
            self.assertEqual(p.returncode, 3, p.stderr)
            self.assertRegex(p.stderr, r"\$0\.00350*\b", p.stderr)
            self.assertNotRegex(p.stderr, r"\$0\.00 budget", p.stderr)


class Breakdown(unittest.TestCase):
    def test_by_model_and_by_key_add_up_to_total(self):
        """Every charged picodollar (also the reservations of failed attempts
        that may have been billed, and of replies without usage) belongs to
        some model and some key: the breakdowns add up to cost_usd.total."""
        lines = _lines(16, seed=21, max_tokens=40)
        lines += [openai_line("g-%d" % j, "other model %d" % j, model="gpt-4o-mini",
                              max_tokens=40) for j in range(8)]
        lines[3]["body"]["messages"][0]["content"] += " mock:fail_first=1:500"
        lines[20]["body"]["messages"][0]["content"] += " mock:fail_first=1:503"
        with Mock("--faults", "nousage=0.2", "--seed", "3") as mock, tmpdir() as d:
            inp, out, errs, rep = _paths(d)
            write_lines(inp, lines)
            p = run(["run", inp, "-o", out, "--base-url", mock.url, "--budget", "1", "-q"])
            self.assertEqual(p.returncode, 0, p.stderr)
            r = load_json(rep)
            c = r["cost_usd"]
            self.assertGreater(c["possibly_billed_failures"], 0)
            self.assertGreater(c["estimated"], 0)
            by_model = sum(v["cost_usd"] for v in r["by_model"].values())
            by_key = sum(v["cost_usd"] for v in r["by_key"].values())
            self.assertAlmostEqual(by_model, c["total"], delta=1e-12,
                                   msg="by_model %r vs cost_usd %r" % (r["by_model"], c))
            self.assertAlmostEqual(by_key, c["total"], delta=1e-12,
                                   msg="by_key %r vs cost_usd %r" % (r["by_key"], c))


class Estimate(unittest.TestCase):
    def setUp(self):
        self._td = tmpdir()
        self.d = self._td.name
        self.inp = os.path.join(self.d, "in.jsonl")
        rng = random.Random(11)
        self.lines = [openai_line("e-%d" % j, _text(rng, j), max_tokens=64)
                      for j in range(10)]
        self.lines += [openai_line("f-%d" % j, _text(rng, j), model="gpt-4o-mini-2024-07-18",
                                   max_tokens=None) for j in range(5)]
        write_lines(self.inp, self.lines)
        self.worst = {}
        for l in self.lines:
            m = l["body"]["model"]
            self.worst[m] = self.worst.get(m, 0) + reservation(l["body"])
        self.mock = Mock()

    def tearDown(self):
        self.mock.cleanup()
        self._td.cleanup()

    def estimate(self, *extra):
        env = {"OPENAI_BASE_URL": self.mock.url + "/v1",
               "ANTHROPIC_BASE_URL": self.mock.url}
        p = run(["estimate", self.inp] + list(extra), env=env)
        self.assertEqual(self.mock.stats()["received"], 0, "estimate sent requests")
        return p, p.stdout + p.stderr

    def test_estimate_prints_counts_costs_and_batch(self):
        p, text = self.estimate()
        self.assertEqual(p.returncode, 0, text)
        self.assertRegex(text, r"\b15 jobs\b")
        self.assertRegex(text, r"(?i)input tok\w*[^\n]*\d")
        # one line per model, the dated snapshot priced like gpt-4o-mini
        for m in ("mock-model", "gpt-4o-mini-2024-07-18"):
            ml = [l for l in text.splitlines() if l.startswith(m)]
            self.assertEqual(len(ml), 1, text)
            self.assertNotRegex(ml[0], r"(?i)unpriced|n/a", ml[0])
        worst_total = sum(self.worst.values()) / 1e12
        m = re.search(r"(?i)worst case \$([\d,.]+)", text)
        self.assertIsNotNone(m, text)
        self.assertAlmostEqual(_num(m.group(1)), worst_total, delta=0.00006)
        # the 50%-off batch APIs, for comparison
        bl = [l for l in text.splitlines() if "50%" in l]
        self.assertTrue(bl, text)
        m = re.search(r"(?i)worst case \$([\d,.]+)", bl[0])
        self.assertIsNotNone(m, bl[0])
        self.assertAlmostEqual(_num(m.group(1)), worst_total / 2, delta=0.00006)
        # the per-model worst case of the dated snapshot uses gpt-4o-mini prices
        ml = [l for l in text.splitlines() if l.startswith("gpt-4o-mini-2024-07-18")][0]
        self.assertIn("%.4f" % (self.worst["gpt-4o-mini-2024-07-18"] / 1e12), ml)

    def test_estimate_budget_fits(self):
        p, text = self.estimate("--budget", "50")
        self.assertEqual(p.returncode, 0, text)
        self.assertNotIn("NOT fit", text)
        self.assertRegex(text, r"(?i)\bfits\b")

    def test_estimate_budget_does_not_fit(self):
        p, text = self.estimate("--budget", "0.05")
        self.assertEqual(p.returncode, 0, text)
        self.assertIn("does NOT fit", text)

    def test_estimate_states_the_budget_it_compares_with(self):
        # A $0.001 budget must not be shown as "$0.00".
        p, text = self.estimate("--budget", "0.001")
        self.assertEqual(p.returncode, 0, text)
        self.assertIn("does NOT fit", text)
        bl = [l for l in text.splitlines() if "NOT fit" in l][0]
        self.assertRegex(bl, r"\$0\.0010*\b", bl)

    def test_estimate_unpriced_model(self):
        write_lines(self.inp, self.lines + [openai_line("z", "hi", model="zz-unknown")])
        p, text = self.estimate("--budget", "50")
        self.assertEqual(p.returncode, 0, text)
        self.assertIn("zz-unknown", text)
        self.assertRegex(text, r"(?i)unpriced|not in the price table")


class ReportCommand(unittest.TestCase):
    def test_report_results_matches_mock(self):
        lines = _lines(30, seed=4, max_tokens=50)
        for gz in (False, True):
            with self.subTest(gz=gz), \
                    Mock("--usage", "random", "--cached-ratio", "0.3") as mock, tmpdir() as d:
                inp, out, errs, rep = _paths(d)
                if gz:
                    out += ".gz"
                write_lines(inp, lines)
                p = run(["run", inp, "-o", out, "--base-url", mock.url, "-q"])
                self.assertEqual(p.returncode, 0, p.stderr)
                st = mock.stats()
                p = run(["report", out])
                self.assertEqual(p.returncode, 0, p.stderr)
                r = json.loads(p.stdout)
                self.assertEqual(r["cost_usd"]["total_pp"], st["billed_ok_pusd"])
                self.assertEqual(r["tokens"]["input"], st["prompt_tokens"])
                self.assertEqual(r["tokens"]["output"], st["completion_tokens"])
                cached = sum(x["response"]["body"]["usage"]["prompt_tokens_details"]
                             ["cached_tokens"] for x in read_jsonl(out))
                self.assertGreater(cached, 0)
                self.assertEqual(r["tokens"]["cached_input"], cached)
                self.assertEqual(r["by_model"]["mock-model"]["requests"], 30)

    def test_report_checkpoint_of_stopped_run(self):
        lines = _lines(40, seed=5, max_tokens=100)
        one = reservation(body_of(lines[0]))
        with Mock("--usage", "worst") as mock, tmpdir() as d:
            inp, out, errs, rep = _paths(d)
            write_lines(inp, lines)
            budget = "%.8f" % (one * 8.5 / 1e12)
            p = run(["run", inp, "-o", out, "--base-url", mock.url, "--budget", budget,
                     "--concurrency", 3, "-q"])
            self.assertEqual(p.returncode, 3, p.stderr)
            rr = load_json(rep)
            p = run(["report", out + ".ckpt"])
            self.assertEqual(p.returncode, 0, p.stderr)
            r = json.loads(p.stdout)
            self.assertEqual(r["jobs"]["total"], 40)
            self.assertEqual(r["jobs"]["pending"], rr["jobs"]["pending"])
            self.assertGreater(r["jobs"]["pending"], 0)
            self.assertEqual(r["jobs"]["done"], rr["jobs"]["succeeded"] + rr["jobs"]["failed"])
            self.assertEqual(r["jobs"]["done"] + r["jobs"]["pending"], 40)
            self.assertAlmostEqual(r["cost_usd"]["total"], rr["cost_usd"]["total"],
                                   delta=1e-12)
            self.assertAlmostEqual(r["cost_usd"]["total"],
                                   mock.stats()["billed_ok_pusd"] / 1e12, delta=1e-12)
            self.assertIn("pending", p.stderr + p.stdout)


class Prices(unittest.TestCase):
    def test_dated_snapshot_priced_in_run(self):
        rng = random.Random(12)
        lines = [openai_line("s-%d" % j, _text(rng, j), model="gpt-4o-mini-2024-07-18",
                             max_tokens=30) for j in range(8)]
        with Mock("--usage", "random", "--cached-ratio", "0.5") as mock, tmpdir() as d:
            inp, out, errs, rep = _paths(d)
            write_lines(inp, lines)
            p = run(["run", inp, "-o", out, "--base-url", mock.url, "--budget", "1", "-q"])
            self.assertEqual(p.returncode, 0, p.stderr)
            r = load_json(rep)
            bm = r["by_model"]["gpt-4o-mini-2024-07-18"]
            self.assertIs(bm["priced"], True)
            st = mock.stats()
            self.assertEqual(st["unpriced"], 0)
            self.assertGreater(st["billed_ok_pusd"], 0)
            self.assertEqual(r["cost_usd"]["total_pp"], st["billed_ok_pusd"])
            # and the price is gpt-4o-mini's, recomputed from the replies
            pr = price("gpt-4o-mini")
            want = 0
            for x in read_jsonl(out):
                u = x["response"]["body"]["usage"]
                c = u["prompt_tokens_details"]["cached_tokens"]
                want += ((u["prompt_tokens"] - c) * pr["input"] + c * pr["cached_input"]
                         + u["completion_tokens"] * pr["output"])
            self.assertEqual(r["cost_usd"]["total_pp"], want)

    def test_prices_file_override(self):
        lines = _lines(10, seed=14, max_tokens=20)
        with Mock() as mock, tmpdir() as d:
            prices = os.path.join(d, "myprices.json")
            with open(prices, "w") as f:
                json.dump({"updated": "2025-02-03", "source": "test",
                           "models": {"mock-model": {
                               "input": 3.0, "cached_input": 3.0, "cache_write": 3.0,
                               "output": 7.0, "max_output_tokens": 100}}}, f)
            inp, out, errs, rep = _paths(d)
            write_lines(inp, lines)
            p = run(["run", inp, "-o", out, "--base-url", mock.url, "--budget", "1",
                     "--prices", prices, "-q"])
            self.assertEqual(p.returncode, 0, p.stderr)
            r = load_json(rep)
            self.assertEqual(r["prices"]["updated"], "2025-02-03")
            self.assertEqual(os.path.realpath(r["prices"]["file"]), os.path.realpath(prices))
            want = sum(x["response"]["body"]["usage"]["prompt_tokens"] * 3 * 10 ** 6
                       + x["response"]["body"]["usage"]["completion_tokens"] * 7 * 10 ** 6
                       for x in read_jsonl(out))
            self.assertEqual(r["cost_usd"]["total_pp"], want)
            # estimate uses the override too
            pe = run(["estimate", inp, "--prices", prices])
            self.assertEqual(pe.returncode, 0, pe.stderr)
            worst = sum(len(json.dumps(l["body"], separators=(",", ":"))) * 3 + 20 * 7
                        for l in lines) / 1e6
            m = re.search(r"(?i)worst case \$([\d,.]+)", pe.stdout + pe.stderr)
            self.assertIsNotNone(m, pe.stdout + pe.stderr)
            self.assertAlmostEqual(_num(m.group(1)), worst, delta=0.00006)
            # a broken price table is a usage error, nothing sent
            with open(prices, "w") as f:
                f.write('{"models": {"mock-model": {"input": "cheap"}}}')
            mock.reset()
            p = run(["run", inp, "-o", os.path.join(d, "o2.jsonl"), "--base-url", mock.url,
                     "--budget", "1", "--prices", prices, "-q"])
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn("myprices.json", p.stderr)
            self.assertEqual(mock.stats()["received"], 0)

    def test_anthropic_cache_tokens_billed_exactly(self):
        rng = random.Random(13)
        lines = [anthropic_line("m-%d" % j, _text(rng, j) * 3,
                                model=rng.choice(["claude-sonnet-4-5", "claude-haiku-4-5",
                                                  "claude-opus-4-1-20250805"]),
                                max_tokens=rng.choice([20, 100]))
                 for j in range(24)]
        with Mock("--usage", "random", "--cached-ratio", "0.3",
                  "--cache-write-ratio", "0.4") as mock, tmpdir() as d:
            inp, out, errs, rep = _paths(d)
            write_lines(inp, lines)
            p = run(["run", inp, "-o", out, "--base-url", mock.url, "--budget", "5", "-q"])
            self.assertEqual(p.returncode, 0, p.stderr)
            st = mock.stats()
            self.assertEqual(st["by_path"], {"/v1/messages": 24})
            r = load_json(rep)
            self.assertEqual(r["cost_usd"]["total_pp"], st["billed_ok_pusd"])
            res = read_jsonl(out)
            us = [x["response"]["body"]["usage"] for x in res]
            cr = sum(u["cache_read_input_tokens"] for u in us)
            cw = sum(u["cache_creation_input_tokens"] for u in us)
            self.assertGreater(cr, 0)
            self.assertGreater(cw, 0)
            self.assertEqual(r["tokens"]["cached_input"], cr)
            self.assertEqual(r["tokens"]["cache_write"], cw)
            self.assertEqual(r["tokens"]["output"], sum(u["output_tokens"] for u in us))
            # cost recomputed from the replies with the table's prices
            want = 0
            for x, l in zip(sorted(res, key=lambda x: x["custom_id"]),
                            sorted(lines, key=lambda l: l["custom_id"])):
                u = x["response"]["body"]["usage"]
                pr = price(l["params"]["model"])
                want += (u["input_tokens"] * pr["input"]
                         + u["cache_creation_input_tokens"] * pr["cache_write"]
                         + u["cache_read_input_tokens"] * pr["cached_input"]
                         + u["output_tokens"] * pr["output"])
            self.assertEqual(r["cost_usd"]["total_pp"], want)
            with open(rep, encoding="utf-8") as f:
                self.assertNotIn(ANTHROPIC_TEST_KEY, f.read())


if __name__ == "__main__":
    from harness import main
    main()

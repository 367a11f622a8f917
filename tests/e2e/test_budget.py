"""
e2e: the hard spend cap (--budget), its accounting, resume across the cap,
alerts, the up-front concurrency warning and unpriced models.

The mock server bills every request it processed in exact picodollars with
the same price table; it is the oracle: whatever it billed must never exceed
--budget, and llmbatch's report must never claim less than it billed.
"""

import json
import os
import random
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (Mock, run, start, collect, read_jsonl, custom_ids, tmpdir,  # noqa: E402
                     out_paths, write_lines)
from budget_util import (usd_to_pusd, reservation, openai_line,  # noqa: E402
                         body_of, body_sha, load_json, billed_total, compact)

_WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo".split()


def _text(rng, i):
    return "Prompt %d: %s" % (i, " ".join(rng.choice(_WORDS)
                                          for _ in range(rng.randint(2, 20))))


def _paths(d):
    return (os.path.join(d, "in.jsonl"),) + out_paths(d)


class RandomizedCap(unittest.TestCase):
    """>= 50 randomized runs at concurrency 1..256 with faults: the mock's
    billed total never exceeds --budget."""

    RUNS = 54
    TIME_LIMIT = 80.0

    def test_randomized_cap(self):
        master = random.Random(int(os.environ.get("LLMB_BUDGET_SEED", "20260311")))
        t_start = time.monotonic()
        capped = done = 0
        with Mock("--usage", "worst") as mock, tmpdir() as top:
            for i in range(self.RUNS):
                if time.monotonic() - t_start > self.TIME_LIMIT:
                    break
                rng = random.Random(master.getrandbits(32))
                conc = rng.choice([1, 2, 4, rng.randint(1, 256), rng.randint(1, 256),
                                   rng.randint(64, 256)])
                n = rng.randint(40, 150) if conc >= 8 else rng.randint(40, 60)
                lines = []
                for j in range(n):
                    mt = rng.choice([1, 8, 16, 64, 200, 500]) \
                        if rng.random() > 0.05 else None
                    nn = rng.choice([None, None, None, 2, 3])
                    lines.append(openai_line("r%d-%05d" % (i, j), _text(rng, j),
                                             max_tokens=mt, n=nn))
                total_res = sum(reservation(body_of(l)) for l in lines)
                # Budgets between ~ one job's worth and a bit more than all
                # of them (worst-case usage bills ~85-100% of a reservation),
                # so that the cap is hit in most runs.
                frac = rng.choice([0.02, 0.1, 0.3, 0.5, 0.7, 0.9, 1.3])
                budget = "%.8f" % (total_res * frac * rng.uniform(0.8, 1.2) / 1e12)
                budget_pp = usd_to_pusd(budget)
                kinds = ["500", "503", "502", "reset", "truncate", "badjson", "nousage"]
                chosen = rng.sample(kinds, rng.randint(0, 4))
                tot_p = rng.uniform(0.0, 0.25 if conc >= 8 else 0.08)
                faults = []
                for k in chosen:
                    faults.append("%s=%.3f" % (k, tot_p / max(1, len(chosen))))
                if rng.random() < 0.25:
                    faults.append("429=0.01")
                usage = rng.choice(["worst", "random"])
                mock.reset(all=True)
                mseed = rng.getrandbits(31)
                mock.config(faults=",".join(faults), usage=usage, seed=mseed)
                retries = rng.randint(0, 2)
                d = os.path.join(top, "run%d" % i)
                os.mkdir(d)
                inp, out, errs, rep = _paths(d)
                write_lines(inp, lines)
                args = ["run", inp, "-o", out, "--base-url", mock.url,
                        "--budget", budget, "--concurrency", conc,
                        "--max-retries", retries, "--timeout", 2, "-q"]
                desc = ("run %d: %d jobs, conc %d, budget %s, faults %s, usage %s, "
                        "retries %d, mock seed %d"
                        % (i, n, conc, budget, ",".join(faults), usage, retries, mseed))
                try:
                    p = run(args, timeout=30)
                except subprocess.TimeoutExpired:
                    if os.environ.get("LLMB_BUDGET_KEEP"):   # keep the input to debug
                        shutil.copy(inp, os.environ["LLMB_BUDGET_KEEP"])
                    self.fail("%s: llmbatch did not finish within 30 s (mock stats %s)"
                              % (desc, mock.stats()))
                st = mock.stats()
                billed = billed_total(st)
                self.assertLessEqual(billed, budget_pp,
                                     "%s: the mock billed %d pusd > budget %d pusd"
                                     % (desc, billed, budget_pp))
                self.assertTrue(os.path.exists(rep), "%s: no report (rc %d) %s"
                                % (desc, p.returncode, p.stderr[-2000:]))
                r = load_json(rep)
                jobs = r["jobs"]
                if jobs["pending"] > 0:
                    self.assertEqual(p.returncode, 3, "%s: jobs pending, %s" % (desc, p.stderr))
                    capped += 1
                else:
                    self.assertEqual(p.returncode, 1 if jobs["failed"] else 0,
                                     "%s: %s" % (desc, p.stderr[-2000:]))
                    done += 1
                self.assertEqual(jobs["total"], n, desc)
                self.assertEqual(jobs["succeeded"] + jobs["failed"] + jobs["pending"], n, desc)
                nres = len(read_jsonl(out)) if os.path.exists(out) else 0
                nerr = len(read_jsonl(errs)) if os.path.exists(errs) else 0
                self.assertEqual((nres, nerr), (jobs["succeeded"], jobs["failed"]), desc)
                tpp = r["cost_usd"]["total_pp"]
                self.assertGreaterEqual(tpp, billed,
                                        "%s: report total %d pusd < mock billed %d pusd"
                                        % (desc, tpp, billed))
                self.assertLessEqual(tpp, budget_pp, "%s: report total over budget" % desc)
                self.assertAlmostEqual(r["cost_usd"]["budget"], float(budget),
                                       delta=1e-12, msg=desc)
        ran = capped + done
        if os.environ.get("LLMB_E2E_VERBOSE"):
            print("randomized cap: %d runs, %d capped, %.1f s"
                  % (ran, capped, time.monotonic() - t_start), file=sys.stderr)
        self.assertGreaterEqual(ran, 50, "only %d randomized runs fit in the time limit" % ran)
        # The runs must really exercise the cap.
        self.assertGreaterEqual(capped, ran // 2, "cap hit in only %d of %d runs" % (capped, ran))


class ExactAccounting(unittest.TestCase):
    """No cap hit, faults on: the report's total equals the mock's billed
    2xx-with-usage total exactly, plus the reservations of attempts that may
    have been billed (5xx, reset, truncated / invalid 2xx) and of 2xx
    replies without usage."""

    def test_exact_total(self):
        rng = random.Random(7)
        lines = [openai_line("x-%04d" % j, _text(rng, j),
                             max_tokens=rng.choice([4, 16, 50, None]),
                             n=rng.choice([None, 2]))
                 for j in range(150)]
        res_by_sha = {body_sha(body_of(l)): reservation(body_of(l)) for l in lines}
        with Mock("--usage", "random", "--seed", "5", "--faults",
                  "500=0.06,502=0.03,503=0.05,reset=0.05,truncate=0.05,badjson=0.05,"
                  "nousage=0.08,429=0.02") as mock, tmpdir() as d:
            inp, out, errs, rep = _paths(d)
            write_lines(inp, lines)
            p = run(["run", inp, "-o", out, "--base-url", mock.url, "--budget", "100",
                     "--concurrency", 16, "--max-retries", 8, "--timeout", 5, "-q"],
                    timeout=90)
            self.assertIn(p.returncode, (0, 1), p.stderr)
            r = load_json(rep)
            st = mock.stats()
            log = mock.log_entries()
            self.assertEqual(len(log), st["received"])
            unknown = [e for e in log if e["body_sha256"] not in res_by_sha]
            self.assertEqual(unknown, [], "requests whose body is not an input body")
            ok = nousage_billed = nousage_res = failed_res = 0
            kinds = {}
            for e in log:
                f, s = e["fault"], e["status"]
                kinds[f or str(s)] = kinds.get(f or str(s), 0) + 1
                res = res_by_sha[e["body_sha256"]]
                if f == "nousage":
                    nousage_billed += e["billed_pusd"]
                    nousage_res += res
                elif f in ("reset", "truncate", "badjson") or s >= 500:
                    failed_res += res
                elif 200 <= s < 300:
                    self.assertEqual(e["billed"], "ok", e)
                    ok += e["billed_pusd"]
            for k in ("500", "503", "reset", "truncate", "badjson", "nousage"):
                self.assertGreater(kinds.get(k, 0), 0, "fault %s never happened: %s"
                                   % (k, kinds))
            self.assertEqual(ok, st["billed_ok_pusd"] - nousage_billed)
            expected = ok + failed_res + nousage_res
            c = r["cost_usd"]
            self.assertEqual(c["total_pp"], expected,
                             "report total %d pusd, expected %d = ok %d + possibly billed "
                             "failures %d + no-usage reservations %d (faults %s)"
                             % (c["total_pp"], expected, ok, failed_res, nousage_res, kinds))
            self.assertAlmostEqual(c["possibly_billed_failures"], failed_res / 1e12,
                                   delta=1e-9)
            self.assertAlmostEqual(c["estimated"], nousage_res / 1e12, delta=1e-9)
            self.assertAlmostEqual(c["total"], expected / 1e12, delta=1e-9)
            self.assertGreaterEqual(c["total_pp"], billed_total(st))


class CapBoundary(unittest.TestCase):
    """The cap is exact to the picodollar: a job whose reservation equals
    the budget runs; one picodollar less and nothing is sent.  This pins the
    reservation rule: body bytes (+1024 with tools, + part_tokens per
    non-text part) at the dearest input price, plus the output limit
    (max_tokens / max_completion_tokens / the model's max_output_tokens)
    times n."""

    IMG = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}

    def cases(self):
        text = "Prompt 0: exactly at the cap"
        msgs = [{"role": "user", "content": text}]
        chat = "/v1/chat/completions"
        return {
            "max_tokens": (chat, {"model": "mock-model", "messages": msgs,
                                  "max_tokens": 33}, 0),
            "n3": (chat, {"model": "mock-model", "messages": msgs, "max_tokens": 7,
                          "n": 3}, 0),
            "max_completion_tokens": (chat, {"model": "mock-model", "messages": msgs,
                                             "max_completion_tokens": 21}, 0),
            "model_limit": (chat, {"model": "mock-model", "messages": msgs}, 0),
            "tools": (chat, {"model": "mock-model", "messages": msgs, "max_tokens": 5,
                             "tools": [{"type": "function", "function": {
                                 "name": "f", "parameters": {"type": "object"}}}]}, 0),
            "image_parts": (chat, {"model": "mock-model", "max_tokens": 9, "messages": [
                {"role": "user", "content": [{"type": "text", "text": text},
                                             self.IMG, self.IMG]}]}, 2),
            "gpt-4o-mini": (chat, {"model": "gpt-4o-mini", "messages": msgs,
                                   "max_tokens": 100}, 0),
            "embeddings": ("/v1/embeddings", {"model": "text-embedding-3-small",
                                              "input": text}, 0),
        }

    @classmethod
    def setUpClass(cls):
        cls.mock = Mock("--usage", "worst")

    @classmethod
    def tearDownClass(cls):
        cls.mock.cleanup()

    def _one(self, url, body, parts, delta):
        res = reservation(body, embeddings=url.endswith("embeddings"), parts=parts)
        budget_pp = res + delta
        mock = self.mock
        mock.reset(all=True)
        with tmpdir() as d:
            inp, out, errs, rep = _paths(d)
            write_lines(inp, [{"custom_id": "b-0", "method": "POST", "url": url,
                               "body": body}])
            budget = "%d.%012d" % divmod(budget_pp, 10 ** 12)
            p = run(["run", inp, "-o", out, "--base-url", mock.url, "--budget", budget, "-q"])
            return p, mock.stats(), load_json(rep) if os.path.exists(rep) else None

    def test_reservation_equal_to_budget_runs(self):
        for name, (url, body, parts) in self.cases().items():
            with self.subTest(name):
                p, st, r = self._one(url, body, parts, 0)
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertEqual(st["received"], 1)
                self.assertEqual(r["cost_usd"]["total_pp"], st["billed_ok_pusd"])

    def test_one_picodollar_short_sends_nothing(self):
        for name, (url, body, parts) in self.cases().items():
            with self.subTest(name):
                p, st, r = self._one(url, body, parts, -1)
                self.assertEqual(p.returncode, 3, p.stderr)
                self.assertEqual(st["received"], 0)
                self.assertIsNotNone(r, "no report on exit 3")
                self.assertEqual(r["jobs"]["pending"], 1)
                self.assertEqual(r["cost_usd"]["total_pp"], 0)

    def test_nontext_part_without_part_tokens_refused(self):
        mock = self.mock
        mock.reset(all=True)
        with tmpdir() as d:
            prices = os.path.join(d, "prices.json")
            with open(prices, "w") as f:
                json.dump({"updated": "2026-01-01", "models": {
                    "mock-model": {"input": 1.0, "output": 2.0,
                                   "max_output_tokens": 4096}}}, f)
            url, body, parts = self.cases()["image_parts"]
            inp, out, errs, rep = _paths(d)
            write_lines(inp, [openai_line("t-0", "fine"),
                              {"custom_id": "b-1", "method": "POST", "url": url,
                               "body": body}])
            p = run(["run", inp, "-o", out, "--base-url", mock.url, "--budget", "1",
                     "--prices", prices])
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertRegex(p.stderr, r"(?i)(line\D{0,3}2\b|in\.jsonl:2\b)")
            self.assertEqual(mock.stats()["received"], 0)


class TimeoutsPossiblyBilled(unittest.TestCase):
    """A request that timed out may have been billed (the mock does bill it
    when it finishes processing after the client left): it stays charged at
    its reservation, and the cap still holds."""

    def test_timeout_charged_at_reservation(self):
        rng = random.Random(9)
        slow = {1, 4, 7}
        lines = [openai_line("t-%d" % j, _text(rng, j) + (" mock:sleep=3500" if j in slow
                                                             else ""), max_tokens=40)
                 for j in range(10)]
        res = {l["custom_id"]: reservation(body_of(l)) for l in lines}
        with Mock("--usage", "worst") as mock, tmpdir() as d:
            inp, out, errs, rep = _paths(d)
            write_lines(inp, lines)
            budget = "%.8f" % (sum(res.values()) * 1.5 / 1e12)
            p = run(["run", inp, "-o", out, "--base-url", mock.url, "--budget", budget,
                     "--timeout", 2, "--max-retries", 0, "--concurrency", 10, "-q"])
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertEqual(sorted(custom_ids(errs)), ["t-1", "t-4", "t-7"])
            # let the mock finish (and bill) the abandoned requests
            deadline = time.monotonic() + 10
            while mock.stats()["billed_fault_requests"] < 3 and time.monotonic() < deadline:
                time.sleep(0.1)
            st = mock.stats()
            self.assertEqual(st["billed_fault_requests"], 3)
            r = load_json(rep)
            c = r["cost_usd"]
            slow_res = sum(res["t-%d" % j] for j in slow)
            self.assertEqual(c["total_pp"], st["billed_ok_pusd"] + slow_res)
            self.assertGreaterEqual(c["total_pp"], billed_total(st))
            self.assertAlmostEqual(c["possibly_billed_failures"], slow_res / 1e12, delta=1e-12)
            self.assertGreaterEqual(r["http"]["timeouts"], 3)


class Unpriced(unittest.TestCase):
    def _lines(self):
        rng = random.Random(3)
        lines = [openai_line("u-%d" % j, _text(rng, j)) for j in range(5)]
        lines[2] = openai_line("u-2", "who prices me?", model="no-such-model-zz")
        return lines

    def test_unpriced_refused_with_budget(self):
        with Mock() as mock, tmpdir() as d:
            inp, out, errs, rep = _paths(d)
            write_lines(inp, self._lines())
            p = run(["run", inp, "-o", out, "--base-url", mock.url, "--budget", "5"])
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertRegex(p.stderr, r"(?i)(line\D{0,3}3\b|in\.jsonl:3\b)", p.stderr)
            self.assertIn("no-such-model-zz", p.stderr)
            self.assertEqual(mock.stats()["received"], 0)

    def test_unpriced_runs_without_budget(self):
        with Mock() as mock, tmpdir() as d:
            inp, out, errs, rep = _paths(d)
            write_lines(inp, self._lines())
            p = run(["run", inp, "-o", out, "--base-url", mock.url, "-q"])
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(mock.stats()["received"], 5)
            r = load_json(rep)
            bm = r["by_model"]
            self.assertIn("no-such-model-zz", bm)
            self.assertIs(bm["no-such-model-zz"]["priced"], False)
            self.assertIs(bm["mock-model"]["priced"], True)
            self.assertEqual(bm["no-such-model-zz"]["requests"], 1)
            # The priced part is still exact.
            self.assertEqual(r["cost_usd"]["total_pp"], mock.stats()["billed_ok_pusd"])


class NoUsage(unittest.TestCase):
    def test_reply_without_usage_charged_reservation(self):
        rng = random.Random(4)
        lines = [openai_line("n-%d" % j, _text(rng, j), max_tokens=rng.choice([8, 30]))
                 for j in range(12)]
        with Mock("--faults", "nousage=1.0") as mock, tmpdir() as d:
            inp, out, errs, rep = _paths(d)
            write_lines(inp, lines)
            p = run(["run", inp, "-o", out, "--base-url", mock.url, "--budget", "1", "-q"])
            self.assertEqual(p.returncode, 0, p.stderr)
            r = load_json(rep)
            c = r["cost_usd"]
            want = sum(reservation(body_of(l)) for l in lines)
            self.assertEqual(c["total_pp"], want)
            self.assertGreater(c["estimated"], 0)
            self.assertAlmostEqual(c["estimated"], c["total"], delta=1e-12)
            self.assertGreaterEqual(c["total_pp"], mock.stats()["billed_ok_pusd"])
            self.assertEqual(len(read_jsonl(out)), 12)


class ResumeAcrossCap(unittest.TestCase):
    def test_resume_with_larger_budget(self):
        rng = random.Random(5)
        lines = [openai_line("c-%03d" % j, _text(rng, j), max_tokens=100) for j in range(60)]
        res = reservation(body_of(lines[0]))
        total_res = sum(reservation(body_of(l)) for l in lines)
        with Mock("--usage", "worst") as mock, tmpdir() as d:
            inp, out, errs, rep = _paths(d)
            write_lines(inp, lines)
            base = ["run", inp, "-o", out, "--base-url", mock.url, "--concurrency", 32, "-q"]
            b1 = "%.6f" % (total_res * 0.3 / 1e12)
            p1 = run(base + ["--budget", b1])
            self.assertEqual(p1.returncode, 3, p1.stderr)
            self.assertRegex(p1.stderr, r"(?i)budget")
            r1 = load_json(rep)
            spent1 = r1["cost_usd"]["total_pp"]
            st1 = mock.stats()
            self.assertLessEqual(billed_total(st1), usd_to_pusd(b1))
            done1 = set(custom_ids(out))
            self.assertEqual(len(done1), r1["jobs"]["succeeded"])
            self.assertGreater(r1["jobs"]["pending"], 0)
            n_log1 = len(mock.log_entries())

            # Only a little more than run 1 spent: the cap covers both runs
            # together, so run 2 can add at most b2 - spent1.
            b2 = "%.6f" % ((spent1 + 3 * res) / 1e12)
            p2 = run(base + ["--budget", b2])
            self.assertEqual(p2.returncode, 3, p2.stderr)
            r2 = load_json(rep)
            st2 = mock.stats()
            self.assertLessEqual(billed_total(st2), usd_to_pusd(b2),
                                 "two runs together billed more than the second --budget")
            self.assertGreaterEqual(r2["cost_usd"]["total_pp"], spent1)
            self.assertLessEqual(r2["cost_usd"]["total_pp"], usd_to_pusd(b2))
            self.assertEqual(r2["cost_usd"]["total_pp"], st2["billed_ok_pusd"])
            self.assertGreater(len(custom_ids(out)), len(done1))

            b3 = "%.6f" % (total_res * 2 / 1e12)
            p3 = run(base + ["--budget", b3])
            self.assertEqual(p3.returncode, 0, p3.stderr)
            r3 = load_json(rep)
            self.assertEqual(r3["jobs"]["succeeded"], 60)
            self.assertEqual(r3["jobs"]["pending"], 0)
            log = mock.log_entries()
            later = [e["custom"] for e in log[n_log1:]]
            self.assertFalse(set(later) & done1, "done jobs were sent again")
            counts = {}
            for e in log:
                counts[e["custom"]] = counts.get(e["custom"], 0) + 1
            self.assertEqual(len(counts), 60)
            self.assertEqual(max(counts.values()), 1, "a job was sent twice")
            ids = custom_ids(out)
            self.assertEqual(sorted(ids), sorted(l["custom_id"] for l in lines))
            st3 = mock.stats()
            # The cumulative report covers the spend of all three runs.
            self.assertEqual(r3["cost_usd"]["total_pp"], st3["billed_ok_pusd"])
            self.assertLessEqual(r3["cost_usd"]["total_pp"], usd_to_pusd(b3))
            self.assertGreaterEqual(r3["cost_usd"]["total_pp"], r2["cost_usd"]["total_pp"])


class CapAcrossCrash(unittest.TestCase):
    """kill -9 while requests are in flight, then rerun with the same
    --budget: whatever the mock billed over both runs stays within the
    budget (requests in flight at the crash count as possibly billed)."""

    def test_kill9_then_resume_same_budget(self):
        rng = random.Random(10)
        lines = [openai_line("k-%03d" % j, _text(rng, j), max_tokens=50) for j in range(80)]
        total_res = sum(reservation(body_of(l)) for l in lines)
        budget = "%.8f" % (total_res * 0.5 / 1e12)
        with Mock("--usage", "worst", "--latency-ms", "300") as mock, tmpdir() as d:
            inp, out, errs, rep = _paths(d)
            write_lines(inp, lines)
            base = ["run", inp, "-o", out, "--base-url", mock.url, "--concurrency", 16, "-q"]
            args = base + ["--budget", budget]
            p = start(args)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                st = mock.stats()
                if st["billed_ok_requests"] >= 20 and st["in_flight"] > 0:
                    break
                if p.poll() is not None:
                    break
                time.sleep(0.02)
            self.assertIsNone(p.poll(), "the run ended before it could be killed")
            p.kill()
            collect(p)
            deadline = time.monotonic() + 10
            while mock.stats()["in_flight"] and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.4)
            mid = mock.stats()
            self.assertGreater(mid["billed_ok_requests"], 0)
            p2 = run(args, timeout=60)
            self.assertIn(p2.returncode, (0, 3), p2.stderr)
            st = mock.stats()
            billed = billed_total(st)
            self.assertLessEqual(billed, usd_to_pusd(budget),
                                 "the two runs billed %d pusd > budget %d pusd"
                                 % (billed, usd_to_pusd(budget)))
            r = load_json(rep)
            self.assertGreaterEqual(r["cost_usd"]["total_pp"], billed)
            self.assertLessEqual(r["cost_usd"]["total_pp"], usd_to_pusd(budget))
            ids = custom_ids(out)
            self.assertEqual(len(ids), len(set(ids)), "duplicate result lines")
            self.assertEqual(len(ids), r["jobs"]["succeeded"])
            # A larger budget finishes the batch, exactly once, and the
            # report still never claims less than the provider billed.
            big = "%.8f" % (total_res * 3 / 1e12)
            p3 = run(base + ["--budget", big], timeout=60)
            self.assertEqual(p3.returncode, 0, p3.stderr)
            ids = custom_ids(out)
            self.assertEqual(sorted(ids), sorted(l["custom_id"] for l in lines))
            st = mock.stats()
            r = load_json(rep)
            self.assertGreaterEqual(r["cost_usd"]["total_pp"], billed_total(st))
            self.assertLessEqual(r["cost_usd"]["total_pp"], usd_to_pusd(big))


class Alerts(unittest.TestCase):
    def test_alert_at(self):
        rng = random.Random(6)
        lines = [openai_line("a-%03d" % j, _text(rng, j), max_tokens=20) for j in range(40)]
        # --usage worst bills input at 1.00/M and output in full: the whole
        # run spends exactly `bill`; a budget of bill/0.85 is crossed at 50 %
        # and 80 % but never at 95 %, and every job still fits.
        bill = sum(len(compact(body_of(l))) * 10 ** 6 + 20 * 2 * 10 ** 6 for l in lines)
        budget = "%.8f" % (bill / 0.85 / 1e12)
        with Mock("--usage", "worst") as mock, tmpdir() as d:
            inp, out, errs, rep = _paths(d)
            write_lines(inp, lines)
            p = run(["run", inp, "-o", out, "--base-url", mock.url, "--budget", budget,
                     "--alert-at", "50,80,95", "--concurrency", 4, "-q"])
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(mock.stats()["billed_ok_pusd"], bill)
            alert_lines = [l for l in p.stderr.splitlines() if "alert" in l.lower()]
            self.assertTrue(any("50%" in l for l in alert_lines), p.stderr)
            self.assertTrue(any("80%" in l for l in alert_lines), p.stderr)
            self.assertFalse(any("95%" in l for l in alert_lines), p.stderr)
            r = load_json(rep)
            alerts = {a["percent"]: a["crossed"] for a in r["alerts"]}
            self.assertEqual(alerts, {50: True, 80: True, 95: False})


class ConcurrencyWarning(unittest.TestCase):
    def test_warns_about_max_tokens(self):
        rng = random.Random(8)
        lines = [openai_line("w-%d" % j, _text(rng, j), model="gpt-4o", max_tokens=None)
                 for j in range(6)]
        with Mock() as mock, tmpdir() as d:
            inp, out, errs, rep = _paths(d)
            write_lines(inp, lines)
            p = run(["run", inp, "-o", out, "--base-url", mock.url, "--budget", "0.5",
                     "--concurrency", 64])
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("max_tokens", p.stderr)
            self.assertRegex(p.stderr, r"(?i)warn")

    def test_no_warning_when_reservations_fit(self):
        rng = random.Random(8)
        lines = [openai_line("w-%d" % j, _text(rng, j), max_tokens=16) for j in range(6)]
        with Mock() as mock, tmpdir() as d:
            inp, out, errs, rep = _paths(d)
            write_lines(inp, lines)
            p = run(["run", inp, "-o", out, "--base-url", mock.url, "--budget", "100",
                     "--concurrency", 8])
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertNotIn("max_tokens", p.stderr)


if __name__ == "__main__":
    from harness import main
    main()

#!/usr/bin/env python3
"""--via batch: the same job file through the OpenAI Batch API and Anthropic
Message Batches (the mock's faithful implementations), with the live
guarantees: every job ends in exactly one line in the live output format,
each job is billed at most once (the mock's batch_row log), the report's
spend equals what the mock billed, the spend cap holds, kill -9 at any
instant then a rerun neither loses nor resubmits jobs, expired rows are
resubmitted, --no-wait exits 6 and a rerun collects."""

import json
import os
import random
import sys
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Mock, collect, run, start, tmpdir, write_jobs  # noqa: E402

PP_PER_USD = 10 ** 12
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
with open(os.path.join(REPO, "samples", "prices.json")) as _f:
    PRICES = json.load(_f)


def batch_cost(ok_lines):
    """Picodollars of these result lines at the batch price (rates halved,
    rounded up per token), from the usage each line carries."""
    total = 0
    for x in ok_lines:
        body = x["response"]["body"]
        p = PRICES["models"][body["model"]]
        rate_in = -(-round(p["input"] * 10 ** 6) // 2)
        rate_out = -(-round(p["output"] * 10 ** 6) // 2)
        u = body["usage"]
        total += u["prompt_tokens"] * rate_in + u["completion_tokens"] * rate_out
    return total


def read_lines(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(x) for x in f if x.strip()]


class Job:
    def __init__(self, d, mock, n, name="in", shape="openai", models=("gpt-4o", "gpt-4o-mini"),
                 faults=None, extra=(), ids=None):
        self.d = d
        self.mock = mock
        self.inp = os.path.join(d, name + ".jsonl")
        self.out = os.path.join(d, name + ".out.jsonl")
        self.errs = os.path.join(d, name + ".out.errors.jsonl")
        self.rep = os.path.join(d, name + ".out.report.json")
        self.state = self.out + ".ckpt.batches"
        write_jobs(self.inp, n, shape=shape, faults=faults)
        # several models, and ids that Anthropic's pattern refuses
        with open(self.inp, encoding="utf-8") as f:
            lines = f.read().splitlines()
        self.ids = []
        with open(self.inp, "w", encoding="utf-8") as f:
            for i, l in enumerate(lines):
                o = json.loads(l)
                body = o["body"] if shape == "openai" else o["params"]
                body["model"] = models[i % len(models)]
                o["custom_id"] = ids(i) if ids else "job %d/ä" % i
                self.ids.append(o["custom_id"])
                f.write(json.dumps(o, ensure_ascii=False) + "\n")
        self.n = n
        self.cmd = ["run", self.inp, "-o", self.out, "--base-url", mock.url, "--via", "batch",
                    "--poll", "0.05", "-q"] + list(extra)

    def run(self, *more, timeout=60):
        return run(self.cmd + list(more), timeout=timeout)

    def results(self):
        return read_lines(self.out), read_lines(self.errs)

    def report(self):
        with open(self.rep) as f:
            return json.load(f)


class BatchTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mock = Mock("--batch-step-ms", "30")

    @classmethod
    def tearDownClass(cls):
        cls.mock.stop()

    def setUp(self):
        self.mock.reset(all=True)
        self.mock.config(batch_step_ms=30, batch_rows_per_step=0, batch_expire_after_rows=-1,
                         control_faults="", enqueued_token_limit=0)
        self.log_start = len(self.mock.log_entries())
        self.tmp = tmpdir()
        self.d = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def hook(self, path):
        req = urllib.request.Request(self.mock.url + path, data=b"{}", method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def batches(self):
        with urllib.request.urlopen(self.mock.url + "/_batches", timeout=10) as r:
            return json.loads(r.read())["data"]

    def billed_rows(self):
        """custom ids ("j<ordinal>") the mock billed, with their counts."""
        seen = {}
        for e in self.mock.log_entries()[self.log_start:]:
            if e.get("kind") == "batch_row" and e.get("billed_pusd"):
                seen[e["custom"]] = seen.get(e["custom"], 0) + 1
        return seen

    def check_exactly_once(self, job, all_done=True):
        ok, bad = job.results()
        ids = [x["custom_id"] for x in ok + bad]
        self.assertEqual(len(ids), len(set(ids)), "a job has two lines")
        self.assertTrue(set(ids) <= set(job.ids))
        if all_done:
            self.assertEqual(sorted(ids), sorted(job.ids))
        for x in ok:      # the live results format
            self.assertTrue(x["id"].startswith("batch_req_"))
            self.assertEqual(x["response"]["status_code"], 200)
            self.assertIsNone(x["error"])
            self.assertIn("usage", x["response"]["body"])
        for x in bad:
            self.assertIsInstance(x["error"], dict)
        billed = self.billed_rows()
        self.assertTrue(all(v == 1 for v in billed.values()), "a job was billed twice")
        return ok, bad

    def check_money(self, job):
        st = self.mock.stats()
        rep = job.report()
        self.assertEqual(rep["cost_usd"]["total_pp"], st["billed_batch_pusd"])
        return rep

    # ------------------------------------------------------------ tests

    def test_openai_several_models_and_parts(self):
        job = Job(self.d, self.mock, 40, faults={7: "mock:fail=400"},
                  extra=["--batch-size", "6", "--budget", "5"])
        r = job.run()
        self.assertEqual(r.returncode, 1, r.stderr)      # one job failed for good
        ok, bad = self.check_exactly_once(job)
        self.assertEqual(len(bad), 1)
        self.assertEqual(bad[0]["custom_id"], "job 7/ä")
        self.assertEqual(bad[0]["response"]["status_code"], 400)
        st = self.mock.stats()
        self.assertGreaterEqual(st["batches_created"], 8)     # 2 models, 6 per part
        rep = self.check_money(job)
        parts = rep["batches"]
        self.assertEqual(sum(p["jobs"] for p in parts), 40)
        self.assertTrue(all(p["jobs"] <= 6 for p in parts))
        self.assertEqual({p["model"] for p in parts}, {"gpt-4o", "gpt-4o-mini"})
        self.assertEqual(sum(p["cost_pusd"] for p in parts), st["billed_batch_pusd"])
        # every succeeded row cost its usage at half the table's price
        self.assertEqual(rep["cost_usd"]["total_pp"], batch_cost(ok))
        # rows from a batch are marked, so `llmbatch report RESULTS` prices them
        # at batch prices too
        self.assertTrue(all(l.get("llmbatch") == {"via": "batch"} for l in ok))
        rr = run(["report", job.out])
        self.assertEqual(rr.returncode, 0, rr.stderr)
        self.assertEqual(json.loads(rr.stdout)["cost_usd"]["total_pp"], batch_cost(ok))
        self.assertEqual(json.loads(rr.stdout)["batch_rows"], len(ok))

    def test_anthropic_ids_mapped(self):
        job = Job(self.d, self.mock, 15, shape="anthropic",
                  models=("claude-sonnet-4", "claude-3-5-haiku"),
                  extra=["--batch-size", "4", "--budget", "5"],
                  ids=lambda i: "id with spaces & ü #%d" % i + "x" * 70)
        r = job.run()
        self.assertEqual(r.returncode, 0, r.stderr)
        ok, _ = self.check_exactly_once(job)
        self.assertEqual(ok[0]["response"]["body"]["type"], "message")
        self.check_money(job)
        self.assertTrue(all(b["dialect"] == "anthropic" for b in self.batches()))

    def test_no_wait_then_rerun_and_expiry(self):
        self.mock.config(batch_step_ms=400, batch_rows_per_step=2)
        job = Job(self.d, self.mock, 20, extra=["--batch-size", "10", "--budget", "5"])
        r = job.run("--no-wait")
        self.assertEqual(r.returncode, 6, r.stderr)
        ok, bad = job.results()
        self.assertEqual(len(ok) + len(bad), 0)
        # let a few rows finish, then expire every batch: finished rows are
        # kept, the rest go back into a later batch
        time.sleep(1.0)
        for b in self.batches():
            self.hook("/_batch/%s/expire" % b["id"])
        self.mock.config(batch_step_ms=30, batch_rows_per_step=0)
        r = job.run()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.check_exactly_once(job)
        rep = self.check_money(job)
        self.assertTrue(any(p["rows_back"] > 0 for p in rep["batches"]), rep["batches"])
        self.assertGreater(self.mock.stats()["batch_rows"]["expired"], 0)

    def test_fallback_live_sends_unrun_rows_live(self):
        # the batch expires after 3 rows; the other 7 go live, at live prices
        self.mock.config(batch_expire_after_rows=3)
        job = Job(self.d, self.mock, 10, models=("gpt-4o",),
                  extra=["--batch-size", "10", "--fallback", "live", "--budget", "5"])
        r = job.run()
        self.assertEqual(r.returncode, 0, r.stderr)
        ok, _ = self.check_exactly_once(job)
        st = self.mock.stats()
        self.assertEqual(st["billed_batch_requests"], 3)
        self.assertEqual(st["batch_rows"]["expired"], 7)
        self.assertEqual(st["batches_created"], 1)
        live = [e for e in self.mock.log_entries()[self.log_start:]
                if e.get("path") == "/v1/chat/completions" and e.get("kind") != "batch_row"]
        self.assertEqual(len(live), 7)
        rep = job.report()
        self.assertEqual(rep["batches"][0]["rows_back"], 7)
        self.assertEqual(rep["cost_usd"]["total_pp"], st["billed_ok_pusd"])

    def test_budget_stops_part_way(self):
        # gpt-4o: 16 output tokens at $5/M + input, about $0.0002 per job at
        # batch prices; a cap that holds a few parts, not all
        job = Job(self.d, self.mock, 60, models=("gpt-4o",),
                  extra=["--batch-size", "10", "--budget", "0.004"])
        r = job.run()
        self.assertEqual(r.returncode, 3, r.stderr)
        ok, bad = self.check_exactly_once(job, all_done=False)
        self.assertGreater(len(ok), 0)
        self.assertLess(len(ok) + len(bad), 60)
        st = self.mock.stats()
        self.assertLessEqual(st["billed_batch_pusd"], 4 * 10 ** 9)
        self.check_money(job)

    def test_control_faults(self):
        self.mock.config(control_faults="429=0.15,500=0.15,reset=0.1,reset_after=0.2", seed=7)
        job = Job(self.d, self.mock, 30, extra=["--batch-size", "5"])
        r = job.run()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.check_exactly_once(job)
        st = self.mock.stats()
        self.assertGreater(sum(st["control_faults"].values()), 0)
        with open(job.state) as f:
            state = json.load(f)
        # a create that was performed but whose answer was lost is adopted, not repeated
        self.assertEqual(st["batches_created"], len(state["parts"]))
        self.assertEqual(st["billed_batch_requests"], 30)
        self.check_money(job)

    def test_kill9_anywhere_then_rerun(self):
        self.kill_loop(Job(self.d, self.mock, 40, extra=["--batch-size", "5", "--budget", "5"]),
                       8)

    def test_kill9_anthropic(self):
        self.kill_loop(Job(self.d, self.mock, 20, shape="anthropic",
                           models=("claude-sonnet-4", "claude-3-5-haiku"),
                           extra=["--batch-size", "4", "--budget", "5"]), 5)

    def kill_loop(self, job, rounds):
        rng = random.Random(int(os.environ.get("LLMB_KILL_SEED", "3")))
        self.mock.config(batch_step_ms=60, control_faults="reset_after=0.1", seed=3)
        kills = 0
        for _ in range(rounds):
            p = start(job.cmd)
            time.sleep(rng.uniform(0.02, 0.5))
            if p.poll() is None:
                p.kill()
                kills += 1
            collect(p)
            self.check_exactly_once(job, all_done=False)
        self.assertGreater(kills, 0)
        self.mock.config(control_faults="")
        r = job.run()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.check_exactly_once(job)
        st = self.mock.stats()
        self.assertEqual(st["billed_batch_requests"], job.n)
        # no phantom spend: what was at stake at a kill was collected later
        self.check_money(job)


class BatchDecisionTest(BatchTest):
    """`llmbatch cancel`, and an intent whose batch id was never recorded."""

    # the tests of BatchTest are not run twice
    test_openai_several_models_and_parts = None
    test_anthropic_ids_mapped = None
    test_no_wait_then_rerun_and_expiry = None
    test_budget_stops_part_way = None
    test_control_faults = None
    test_kill9_anywhere_then_rerun = None

    def api(self, method, path, body=None, ctype="application/json"):
        from harness import OPENAI_TEST_KEY
        req = urllib.request.Request(self.mock.url + path, data=body, method=method,
                                     headers={"Authorization": "Bearer " + OPENAI_TEST_KEY,
                                              "Content-Type": ctype})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def duplicate_batch(self, run_id, part):
        """A second batch carrying part's metadata (as a lost answer plus a
        blind retry would leave), with a row llmbatch never sent."""
        line = json.dumps({"custom_id": "zz", "method": "POST", "url": "/v1/chat/completions",
                           "body": {"model": "gpt-4o", "max_tokens": 4,
                                    "messages": [{"role": "user", "content": "x"}]}})
        b = "----llmbtest"
        body = ("--%s\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n"
                "--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.jsonl\"\r\n"
                "Content-Type: application/jsonl\r\n\r\n%s\n\r\n--%s--\r\n"
                % (b, b, line, b)).encode()
        f = self.api("POST", "/v1/files", body, "multipart/form-data; boundary=" + b)
        doc = {"input_file_id": f["id"], "endpoint": "/v1/chat/completions",
               "completion_window": "24h",
               "metadata": {"llmbatch_run": run_id, "llmbatch_part": str(part)}}
        return self.api("POST", "/v1/batches", json.dumps(doc).encode())["id"]

    def forget_batch_id(self, job):
        with open(job.state) as f:
            st = json.load(f)
        p = st["parts"][0]
        bid = p["batch_id"]
        p["state"], p["batch_id"] = "intent", ""
        with open(job.state, "w") as f:
            json.dump(st, f)
        return st["run"], bid

    def test_cancel_collects_partial_results(self):
        self.mock.config(batch_step_ms=300, batch_rows_per_step=2)
        job = Job(self.d, self.mock, 24, extra=["--batch-size", "12"])
        r = job.run("--no-wait")
        self.assertEqual(r.returncode, 6, r.stderr)
        # a live run would send the jobs of the open batches again: refused
        r = run(["run", job.inp, "-o", job.out, "--base-url", self.mock.url, "-q"])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--via batch", r.stderr)
        time.sleep(0.8)
        r = run(["cancel", job.out, "--base-url", self.mock.url, "--poll", "0.05", "-q"])
        self.assertEqual(r.returncode, 0, r.stderr)
        ok, bad = self.check_exactly_once(job, all_done=False)
        self.assertGreater(len(ok), 0)
        self.assertLess(len(ok) + len(bad), 24)
        self.assertGreater(self.mock.stats()["batch_rows"]["cancelled"], 0)
        self.assertTrue(all(b["status"] == "cancelled" for b in self.batches()))
        self.check_money(job)
        # the rest is still pending: the same command finishes it
        self.mock.config(batch_step_ms=30, batch_rows_per_step=0)
        r = job.run()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.check_exactly_once(job)
        self.check_money(job)

    def test_lost_batch_id_adopted_or_decided_by_the_user(self):
        self.mock.config(batch_step_ms=400, batch_rows_per_step=1)
        job = Job(self.d, self.mock, 8, models=("gpt-4o",), extra=["--batch-size", "8"])
        self.assertEqual(job.run("--no-wait").returncode, 6)
        # the id never reached the state file: the listing finds the batch
        run_id, bid = self.forget_batch_id(job)
        r = job.run("--no-wait")
        self.assertEqual(r.returncode, 6, r.stderr)
        self.assertEqual(self.mock.stats()["batches_created"], 1)
        with open(job.state) as f:
            self.assertEqual(json.load(f)["parts"][0]["batch_id"], bid)
        # two candidates: undecidable -> exit 5 naming both, then the user decides
        self.forget_batch_id(job)
        dup = self.duplicate_batch(run_id, 1)
        r = job.run()
        self.assertEqual(r.returncode, 5, r.stderr)
        self.assertIn(bid, r.stderr)
        self.assertIn(dup, r.stderr)
        self.assertIn("--adopt-batch", r.stderr)
        self.mock.config(batch_step_ms=30, batch_rows_per_step=0)
        r = job.run("--adopt-batch", bid)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.check_exactly_once(job)
        self.assertEqual(self.mock.stats()["batches_created"], 2)    # no third one


class BatchTokenLimitTest(BatchTest):
    """The provider's enqueued-token limit: a batch that fails on it is not a
    job failure (its jobs go again in smaller parts), and
    --max-enqueued-tokens keeps under it so that it does not happen."""

    for _n in dir(BatchTest):
        if _n.startswith("test_"):
            locals()[_n] = None
    del _n

    def token_failures(self):
        return [b for b in self.batches() if b["status"] == "failed"]

    def test_token_limit_failure_resubmits_smaller(self):
        job = Job(self.d, self.mock, 16, models=("gpt-4o",), extra=["--batch-size", "16"])
        # about 60 prompt tokens per row in the mock's count: 16 rows do not fit
        self.mock.config(enqueued_token_limit=400)
        r = job.run()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.check_exactly_once(job)
        self.assertGreater(len(self.token_failures()), 0)
        rep = self.check_money(job)
        self.assertTrue(any("token_limit_exceeded" in p["note"] for p in rep["batches"]))
        self.assertEqual(self.mock.stats()["billed_batch_requests"], 16)

    def test_max_enqueued_tokens_avoids_the_failure(self):
        job = Job(self.d, self.mock, 16, models=("gpt-4o",), extra=["--batch-size", "16"])
        self.mock.config(enqueued_token_limit=400)
        r = job.run("--max-enqueued-tokens", "300")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.check_exactly_once(job)
        self.assertEqual(self.token_failures(), [])
        self.assertGreater(len(job.report()["batches"]), 1)


    def test_anthropic_queue_limit_429_is_not_a_job_failure(self):
        job = Job(self.d, self.mock, 12, shape="anthropic", models=("claude-sonnet-4",),
                  extra=["--batch-size", "12"])
        self.mock.config(enqueued_token_limit=400)
        r = job.run()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.check_exactly_once(job)
        rep = self.check_money(job)
        self.assertTrue(any("429" in p["note"] for p in rep["batches"]), rep["batches"])
        self.assertGreater(len(self.batches()), 1)


class BatchAnthropicResumeTest(BatchDecisionTest):
    """Anthropic has no metadata: a lost batch id is found in the listing by
    its request count and creation time."""

    for _n in dir(BatchDecisionTest):
        if _n.startswith("test_"):
            locals()[_n] = None
    del _n

    def test_lost_anthropic_batch_id_adopted(self):
        self.mock.config(batch_step_ms=400, batch_rows_per_step=1)
        job = Job(self.d, self.mock, 6, shape="anthropic", models=("claude-sonnet-4",),
                  extra=["--batch-size", "6"])
        self.assertEqual(job.run("--no-wait").returncode, 6)
        _, bid = self.forget_batch_id(job)
        self.mock.config(batch_step_ms=30, batch_rows_per_step=0)
        r = job.run()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(self.batches()), 1)
        self.check_exactly_once(job)
        self.check_money(job)
        with open(job.state) as f:
            self.assertEqual(json.load(f)["parts"][0]["batch_id"], bid)


if __name__ == "__main__":
    unittest.main()

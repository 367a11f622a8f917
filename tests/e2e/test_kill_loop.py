#!/usr/bin/env python3
"""SIGKILL the runner at random points, again and again, against a
faulty mock, rerun the same command each time, then run to completion.

Asserts exactly once across results + errors, gzip outputs that decode
(Python gzip and `gzip -t`), the checkpoint loadable and never going back
after each kill, and money: the final report's total is at least what the
mock billed and at most the budget.

Knobs for diagnosis (defaults are the test): LLMB_KILL_JOBS, LLMB_KILL_COUNT,
LLMB_KILL_SEED, LLMB_KILL_FAULTS (the mock's --faults)."""

import os
import random
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Mock, collect, run, start, tmpdir, write_jobs  # noqa: E402
from ckpt_util import (PP_PER_USD, billed_pp, check_outputs, ckpt_done_count,  # noqa: E402
                       LogTail, committed_ids, read_report_file, report, requested_ids,
                       wait_mock_idle)

NJOBS = int(os.environ.get("LLMB_KILL_JOBS", "20000"))
KILLS = int(os.environ.get("LLMB_KILL_COUNT", "20"))
FAULTS = os.environ.get("LLMB_KILL_FAULTS",
                        "429=0.03,500=0.03,502=0.02,503=0.02,reset=0.03,truncate=0.03")
FINISH_S = 150  # the whole test must end by then (the final run gets at least 60 s)
BUDGET = 100  # USD; mock-model is cheap: never reached


class KillLoop(unittest.TestCase):

    def test_sigkill_loop_gz_exactly_once_and_money(self):
        rng = random.Random(int(os.environ.get("LLMB_KILL_SEED", "5")))
        t_begin = time.monotonic()
        with tmpdir() as d, Mock("--faults", FAULTS, "--latency-ms", "4", "--seed", "7",
                                 log=True) as mock:
            inp = os.path.join(d, "in.jsonl")
            out = os.path.join(d, "out.jsonl.gz")
            errs = os.path.join(d, "out.errors.jsonl.gz")
            ckpt = out + ".ckpt"
            ids = write_jobs(inp, NJOBS)
            # --rpm bounds the pace (650/s: the 20 kill intervals of this seed add up
            # to 24 s, ~15.6k jobs), so the job outlasts the kills on a
            # fast machine as on a slow one
            cmd = ["run", inp, "-o", out, "--base-url", mock.url, "--budget", BUDGET,
                   "--concurrency", 64, "--commit-every", 500, "-q", "--rpm", 39000]

            kills, last_done = 0, 0
            committed, resent, tail = set(), set(), LogTail(mock)

            def check_no_resend():
                # requests since the last kill must not name a job that was
                # committed before it
                nonlocal committed
                wait_mock_idle(mock)
                resent.update(set(requested_ids(tail.new_entries())) & committed)
                committed = committed_ids(ckpt, out, errs)
            for attempt in range(KILLS + 15):
                if kills >= KILLS:
                    break
                self.assertLess(time.monotonic() - t_begin, 150, "kill loop too slow")
                p = start(cmd)
                time.sleep(rng.uniform(0.2, 2.0))
                if p.poll() is None:
                    p.kill()
                    kills += 1
                r = collect(p, timeout=30)
                check_no_resend()
                if r.returncode != -9:
                    # it ended by itself before the kill: must be a clean end
                    self.assertIn(r.returncode, (0, 1), "run ended with %s: %s"
                                  % (r.returncode, r.stderr[-2000:]))
                    break
                # the checkpoint is loadable and never goes back
                if os.path.exists(ckpt):
                    rep = report(self, ckpt)
                    jobs = rep["jobs"]
                    self.assertEqual(jobs["done"] + jobs["pending"], jobs["total"], rep)
                    self.assertGreaterEqual(jobs["done"], last_done,
                                            "committed jobs went back after kill %d" % kills)
                    last_done = jobs["done"]
            self.assertGreaterEqual(kills, KILLS,
                                    "the run finished before %d kills (only %d); "
                                    "raise LLMB_KILL_JOBS" % (KILLS, kills))

            t_kills = time.monotonic() - t_begin
            # run to completion (bounded in time: a stuck or crawling run fails
            # with its progress in the message)
            status = os.path.join(d, "status.json")
            limit = max(60.0, FINISH_S - (time.monotonic() - t_begin))
            p = start(cmd + ["--status-file", status])
            try:
                r = collect(p, timeout=limit)
            except Exception:
                try:
                    with open(status) as f:
                        st = f.read()
                except OSError:
                    st = "(no status file)"
                self.fail("the final resumed run did not finish within %.0f s (%d jobs; "
                          "kill phase %.1f s, %d done after it); status: %s; mock: %s"
                          % (limit, NJOBS, t_kills, last_done, st, mock.stats()))
            self.assertIn(r.returncode, (0, 1), r.stderr[-2000:])
            check_no_resend()
            self.assertFalse(resent, "%d jobs committed before a kill were sent again by "
                             "the resumed run, e.g. %s" % (len(resent), sorted(resent)[:5]))

            ok_ids, err_ids = check_outputs(self, out, errs, ids)
            self.assertGreater(len(ok_ids), NJOBS * 0.9)

            rep = read_report_file(os.path.join(d, "out.report.json"))
            self.assertEqual(rep["jobs"]["total"], NJOBS)
            self.assertEqual(rep["jobs"]["pending"], 0)
            self.assertEqual(rep["jobs"]["succeeded"], len(ok_ids))
            self.assertEqual(rep["jobs"]["failed"], len(err_ids))
            total_pp = int(rep["cost_usd"]["total_pp"])
            billed = billed_pp(mock)
            self.assertGreaterEqual(total_pp, billed,
                                    "report total %d pp < mock billed %d pp" % (total_pp, billed))
            self.assertLessEqual(total_pp, BUDGET * PP_PER_USD)
            self.assertEqual(report(self, ckpt)["jobs"]["done"], NJOBS)
            self.assertEqual(ckpt_done_count(ckpt), NJOBS)

            # a finished job: rerunning sends nothing and keeps its exit code
            before = mock.stats()["received"]
            r2 = run(cmd, timeout=60)
            self.assertEqual(r2.returncode, r.returncode, r2.stderr[-2000:])
            self.assertEqual(mock.stats()["received"], before)
            check_outputs(self, out, errs, ids)
            sys.stderr.write("\n[kill loop] %d jobs, %d kills, %.1f s, final rc %d, "
                             "%d errors (kill phase %.1f s, %d done after it)\n"
                             % (NJOBS, kills, time.monotonic() - t_begin, r.returncode,
                                len(err_ids), t_kills, last_done))


if __name__ == "__main__":
    from harness import main
    main()

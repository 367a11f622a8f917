#!/usr/bin/env python3
"""run --ordered and run --retry-failed (issue 14), end to end.

These need the run wired to runner/reorder and runner/retry_failed; until
`llmbatch --help` lists both flags the tests are skipped (they say so).

--ordered: with faults and .gz outputs, both files end in input order with
every job exactly once; a kill -9 at each step of the reorder protocol
(LLMBATCH_TEST_KILL_AT=reorder:N) loses nothing, and rerunning finishes it
without sending anything.
--retry-failed: after a run where every job failed with 500, a rerun against
a healthy server sends only the failed jobs, and each job ends exactly once,
also with a kill -9 at each step of the swap (retry:N); =CODES narrows it.
"""

import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import LLMBATCH, Mock, read_jsonl, run, tmpdir, write_jobs  # noqa: E402


def _wired():
    try:
        r = subprocess.run([LLMBATCH, "--help"], capture_output=True, text=True, timeout=10)
    except OSError:
        return False
    return "--ordered" in r.stdout and "--retry-failed" in r.stdout


WIRED = _wired()
SKIP = "the run is not wired to --ordered / --retry-failed yet"


def ids_of(path):
    return [x["custom_id"] for x in read_jsonl(path)] if os.path.exists(path) else []


def errors_of(out):
    base = out[:-3] if out.endswith(".gz") else out
    stem, ext = os.path.splitext(base)
    return stem + ".errors" + ext + (".gz" if out.endswith(".gz") else "")


@unittest.skipUnless(WIRED, SKIP)
class Ordered(unittest.TestCase):
    N = 150

    def check_ordered_once(self, out, n):
        res, err = ids_of(out), ids_of(errors_of(out))
        self.assertEqual(res, sorted(res))
        self.assertEqual(err, sorted(err))
        self.assertEqual(sorted(res + err), ["job-%06d" % i for i in range(n)])
        d = os.path.dirname(out)
        self.assertEqual([x for x in os.listdir(d) if x.endswith(".tmp")], [])
        with open(out + ".ckpt") as f:
            ck = json.load(f)
        self.assertTrue(ck.get("ordered"))
        self.assertNotIn("reorder", ck)
        self.assertEqual(ck["results_size"], os.path.getsize(out))
        self.assertEqual(ck["errors_size"], os.path.getsize(errors_of(out)))

    def test_faults_gzip(self):
        with Mock("--faults", "500=0.3,429=0.1") as mock, tmpdir() as d:
            inp = os.path.join(d, "in.jsonl")
            faults = {i: "mock:fail=400" for i in range(7, self.N, 23)}
            write_jobs(inp, self.N, faults=faults)
            out = os.path.join(d, "out.jsonl.gz")
            r = run(["run", inp, "-o", out, "--base-url", mock.url, "--ordered",
                     "--concurrency", "16", "--max-retries", "6", "-q"])
            self.assertIn(r.returncode, (0, 1), r.stderr)
            self.check_ordered_once(out, self.N)
            self.assertGreaterEqual(len(ids_of(errors_of(out))), len(faults))

    def test_kill_9_at_each_step(self):
        for step in (1, 2, 3, 4):
            with self.subTest(step=step), Mock() as mock, tmpdir() as d:
                inp = os.path.join(d, "in.jsonl")
                faults = {i: "mock:fail=400" for i in range(3, self.N, 11)}
                write_jobs(inp, self.N, faults=faults)
                out = os.path.join(d, "out.jsonl.gz")
                args = ["run", inp, "-o", out, "--base-url", mock.url, "--ordered",
                        "--concurrency", "16", "-q"]
                r = run(args, env={"LLMBATCH_TEST_KILL_AT": "reorder:%d" % step})
                self.assertEqual(r.returncode, -9, r.stderr)
                sent = mock.stats()["received"]
                r = run(args)
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertEqual(mock.stats()["received"], sent, "a resumed reorder sent jobs")
                self.check_ordered_once(out, self.N)


@unittest.skipUnless(WIRED, SKIP)
class RetryFailed(unittest.TestCase):
    N = 80

    def failed_run(self, d, gz=True):
        inp = os.path.join(d, "in.jsonl")
        write_jobs(inp, self.N)
        out = os.path.join(d, "out.jsonl" + (".gz" if gz else ""))
        with Mock("--faults", "500=1.0") as bad:
            r = run(["run", inp, "-o", out, "--base-url", bad.url, "--max-retries", "1",
                     "--concurrency", "16", "-q"])
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(len(ids_of(errors_of(out))), self.N)
        return inp, out

    def check_once(self, out):
        res, err = ids_of(out), ids_of(errors_of(out))
        self.assertEqual(sorted(res + err), ["job-%06d" % i for i in range(self.N)])

    def test_only_failed_jobs_are_sent_again(self):
        with tmpdir() as d:
            inp, out = self.failed_run(d)
            with Mock() as good:
                r = run(["run", inp, "-o", out, "--base-url", good.url, "--retry-failed", "-q"])
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(good.stats()["received"], self.N)
            self.assertEqual(len(ids_of(out)), self.N)
            self.assertEqual(ids_of(errors_of(out)), [])
            self.check_once(out)
            with open(out + ".ckpt") as f:
                ck = json.load(f)
            self.assertEqual(ck["stats"]["failed"], 0)
            self.assertNotIn("retry_swap", ck)

    def test_codes_narrow_it(self):
        with tmpdir() as d:
            inp, out = self.failed_run(d, gz=False)
            with Mock() as good:
                r = run(["run", inp, "-o", out, "--base-url", good.url,
                         "--retry-failed=invalid_request_error,4xx", "-q"])
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertEqual(good.stats()["received"], 0)
            self.assertEqual(len(ids_of(errors_of(out))), self.N)
            r = run(["run", inp, "-o", out, "--retry-failed=5x"])
            self.assertEqual(r.returncode, 2)
            self.assertIn('"5x"', r.stderr)

    def test_kill_9_at_each_step(self):
        for step in (1, 2, 3):
            with self.subTest(step=step), tmpdir() as d:
                inp, out = self.failed_run(d)
                with Mock() as good:
                    args = ["run", inp, "-o", out, "--base-url", good.url, "--retry-failed", "-q"]
                    r = run(args, env={"LLMBATCH_TEST_KILL_AT": "retry:%d" % step})
                    self.assertEqual(r.returncode, -9, r.stderr)
                    self.assertEqual(good.stats()["received"], 0)
                    r = run(args)
                    self.assertEqual(r.returncode, 0, r.stderr)
                    self.assertEqual(good.stats()["received"], self.N)
                self.check_once(out)
                self.assertEqual(ids_of(errors_of(out)), [])
                self.assertEqual([x for x in os.listdir(d) if x.endswith(".tmp")], [])


if __name__ == "__main__":
    unittest.main()

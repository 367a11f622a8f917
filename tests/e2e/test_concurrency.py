"""
Concurrency at start-up and against the open-file limit.

- Plain HTTP/1.1 start-up is not serialised: CURLOPT_PIPEWAIT (wait for a
  connection that may multiplex) is only for https URLs, so over http:// a
  key's whole first window (4 requests, until a reply shows its limits) goes
  out before the first reply, and the window then doubles per round trip.
  Measured from the mock's
  log: each request's start time, against a server that holds every reply for
  300 ms, so requests that started within 300 ms of the first one were all in
  flight together.
- --concurrency above the soft open-file limit: the soft limit is raised to
  the hard one and the run completes; when even the hard limit is too small,
  the concurrency is lowered with one warning and the run completes.
"""
import os
import resource
import subprocess
import unittest

from harness import LLMBATCH, OPENAI_TEST_KEY, Mock, read_jsonl, run, tmpdir, write_jobs
from nginx_util import Nginx, nginx_binary

LATENCY_MS = 300


def nofile(soft, hard):
    """A preexec_fn that sets RLIMIT_NOFILE in the child only."""
    def set_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return set_limit


class HttpStartup(unittest.TestCase):
    def test_first_wave_is_not_serialised(self):
        with Mock("--latency-ms", str(LATENCY_MS)) as m, tmpdir() as d:
            inp = os.path.join(d, "in.jsonl")
            out = os.path.join(d, "out.jsonl")
            write_jobs(inp, 20)
            r = run(["run", inp, "-o", out, "--base-url", m.url, "--concurrency", "20",
                     "--no-progress"])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(len(read_jsonl(out)), 20)
            starts = sorted(e["t"] for e in m.log_entries())
            self.assertEqual(len(starts), 20)
            # every reply takes >= LATENCY_MS, so these were all in flight at once
            together = sum(1 for t in starts if t < starts[0] + LATENCY_MS / 1000.0)
            # with PIPEWAIT on http://, the first request was alone until its reply
            self.assertGreaterEqual(together, 4,
                                    "only %d requests started before the first reply "
                                    "could arrive: start-up is serialised" % together)
            # slow start doubles each round trip: 4, 8, then the last 8; a
            # serialised start would need many more rounds
            self.assertLess(starts[-1] - starts[0], 10 * LATENCY_MS / 1000.0,
                            "20 jobs took 10 round trips or more to start")

    def test_no_slow_start_sends_the_whole_first_wave(self):
        """--no-slow-start (servers you run yourself): every slot starts at once."""
        with Mock("--latency-ms", str(LATENCY_MS)) as m, tmpdir() as d:
            inp = os.path.join(d, "in.jsonl")
            out = os.path.join(d, "out.jsonl")
            write_jobs(inp, 20)
            r = run(["run", inp, "-o", out, "--base-url", m.url, "--concurrency", "20",
                     "--no-progress", "--no-slow-start"])
            self.assertEqual(r.returncode, 0, r.stderr)
            starts = sorted(e["t"] for e in m.log_entries())
            together = sum(1 for t in starts if t < starts[0] + LATENCY_MS / 1000.0)
            self.assertGreaterEqual(together, 15, "only %d in the first wave" % together)


@unittest.skipUnless(nginx_binary(), "needs nginx")
class OpenFileLimit(unittest.TestCase):
    N = 2000

    def run_limited(self, soft, hard):
        hard_now = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        if hard_now != resource.RLIM_INFINITY and hard_now < hard:
            self.skipTest("the hard open-file limit is %d, below %d" % (hard_now, hard))
        with Nginx() as ng, tmpdir() as d:
            inp = os.path.join(d, "in.jsonl")
            out = os.path.join(d, "out.jsonl")
            write_jobs(inp, self.N)
            r = subprocess.run([LLMBATCH, "run", inp, "-o", out, "--base-url", ng.url,
                                "--concurrency", str(self.N), "--no-progress"],
                               env=dict(os.environ, OPENAI_API_KEY=OPENAI_TEST_KEY), capture_output=True, text=True, timeout=120,
                               stdin=subprocess.DEVNULL, preexec_fn=nofile(soft, hard))
            results = read_jsonl(out) if os.path.exists(out) else []
            return r, results

    def test_soft_limit_is_raised(self):
        # without the raise, 2000 sockets at a soft limit of 256 fail: exit 5
        r, results = self.run_limited(256, 4096)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(results), self.N)
        self.assertNotIn("--concurrency", r.stderr)

    def test_hard_limit_lowers_concurrency_with_one_warning(self):
        r, results = self.run_limited(256, 256)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(results), self.N)
        warnings = [l for l in r.stderr.splitlines() if "--concurrency 2000 needs" in l]
        self.assertEqual(len(warnings), 1, r.stderr)
        self.assertIn("limit is 256", warnings[0])
        lowered = int(warnings[0].rsplit("using --concurrency ", 1)[1])
        self.assertGreater(lowered, 0)
        self.assertLess(lowered, 256)


if __name__ == "__main__":
    unittest.main()

"""
Long waits are explained, and --max-wait bounds them.  A server that asks
for a retry an hour away must not leave the run idle with nothing on screen:
a log line names the reason and when the wait ends.  With --max-wait, a key
whose rate limit asks for longer counts as exhausted for this run (exit 4
when no key is left).
"""
import json
import os
import signal
import time
import unittest

from harness import FakeServer, collect, out_paths, read_jsonl, run, start, tmpdir, write_jobs


def hour_429(req):
    return 429, [("retry-after", "3600")], {
        "error": {"message": "Rate limit reached for requests", "type": "requests",
                  "code": "rate_limit_exceeded"}}


class LongWaits(unittest.TestCase):

    def test_an_hour_long_retry_after_is_explained(self):
        with tmpdir() as d, FakeServer(hour_429) as srv:
            inp = os.path.join(d, "in.jsonl")
            write_jobs(inp, 1)
            out, err, _ = out_paths(d)
            errf = open(os.path.join(d, "stderr"), "w+b")
            status = os.path.join(d, "status.json")
            p = start(["run", inp, "-o", out, "--base-url", srv.url, "--no-progress",
                       "--status-file", status], stderr=errf)
            deadline, text = time.monotonic() + 20, ""
            while time.monotonic() < deadline and "llmbatch: waiting" not in text:
                time.sleep(0.2)
                errf.seek(0)
                text = errf.read().decode("utf-8", "replace")
            time.sleep(1.2)                 # the status file is rewritten every second
            with open(status) as f:
                waiting = json.load(f).get("waiting")
            p.send_signal(signal.SIGINT)
            collect(p, timeout=30)
            errf.close()
            self.assertEqual(p.returncode, 130)
            line = [l for l in text.splitlines() if "llmbatch: waiting" in l]
            self.assertTrue(line, text)
            self.assertRegex(line[0], r"waiting 3[56]\d\d s, until \d\d:\d\d:\d\d UTC")
            self.assertIn("retry-after", line[0])
            self.assertIsNotNone(waiting, "the status file does not show the wait")
            self.assertGreater(waiting["seconds"], 3000)
            self.assertIn("retry-after", waiting["why"])
            self.assertEqual(len(srv.requests), 1)
            self.assertEqual(read_jsonl(err) if os.path.exists(err) else [], [])

    def test_max_wait_exhausts_a_key_that_asks_for_longer(self):
        with tmpdir() as d, FakeServer(hour_429) as srv:
            inp = os.path.join(d, "in.jsonl")
            write_jobs(inp, 3)
            out, err, rep = out_paths(d)
            t0 = time.monotonic()
            r = run(["run", inp, "-o", out, "--base-url", srv.url, "--max-wait", "5", "-q"],
                    timeout=60)
            self.assertEqual(r.returncode, 4, r.stderr)
            self.assertLess(time.monotonic() - t0, 30)
            self.assertEqual(read_jsonl(err) if os.path.exists(err) else [], [],
                             "the jobs stay pending")
            with open(rep) as f:
                keys = json.load(f)["by_key"]
            (k,) = [v for v in keys.values() if v["requests"]]
            self.assertEqual(k["state"], "exhausted")
            self.assertIn("--max-wait", k["reason"])


if __name__ == "__main__":
    from harness import main
    main()

"""
test_demo: samples/demo.sh runs end to end against the bundled mock and
exits 0 (10.11: it used to exit 141, `gzip -dc | head` under pipefail).
It uses the binary under test (LLMBATCH) and installs nothing.
"""

import gzip
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import LLMBATCH, REPO, tmpdir  # noqa: E402


class Demo(unittest.TestCase):
    def run_demo(self, out, *args):
        env = dict(os.environ, LLMB_NO_INSTALL="1", LLMB_DEMO_OUT=out, LLMBATCH=LLMBATCH)
        return subprocess.run(["bash", os.path.join(REPO, "samples", "demo.sh")] + list(args),
                              env=env, capture_output=True, text=True, timeout=300,
                              stdin=subprocess.DEVNULL)

    def test_demo_exits_0_with_its_outputs(self):
        with tmpdir() as d:
            out = os.path.join(d, "demo")
            r = self.run_demo(out, "--no-progress")
            self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr[-2000:])
            with gzip.open(os.path.join(out, "results.jsonl.gz"), "rt") as f:
                ok = [json.loads(l) for l in f]
            with gzip.open(os.path.join(out, "results.errors.jsonl.gz"), "rt") as f:
                bad = [json.loads(l) for l in f]
            with gzip.open(os.path.join(REPO, "samples", "demo.jsonl.gz"), "rt") as f:
                want = sum(1 for l in f if l.strip())
            self.assertEqual(len(ok) + len(bad), want)
            self.assertEqual(len({x["custom_id"] for x in ok + bad}), want)
            with open(os.path.join(out, "results.report.json")) as f:
                self.assertIsInstance(json.load(f), dict)
            self.assertIn("first result:", r.stdout)
            self.assertIn('"custom_id"', r.stdout.split("first result:")[1])
            # rerunning resumes and finds nothing left to do
            r = self.run_demo(out, "--no-progress")
            self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr[-2000:])
            self.assertIn("resuming", r.stderr)


if __name__ == "__main__":
    unittest.main()

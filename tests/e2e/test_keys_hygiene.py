"""
test_keys_hygiene: the smaller keys-file and metrics rules of 10.11.

- A key listed twice is used once (one series, one by_key entry, its rpm=
  not counted twice), with a warning that never shows the key.
- Keys that share a label or last four characters are separate series.
- Prometheus label values are escaped (backslash, double quote).
- A keys file other users may read gets one warning (as ssh does).
- A UTF-8 byte order mark at the start of the keys file is skipped.
- --budget above the largest amount states that amount.
"""

import json
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Mock, run, tmpdir, write_jobs  # noqa: E402

KEY_A = "tok-alpha-000000000000000zzzz"
KEY_B = "tok-bravo-111111111111111zzzz"   # same last four as KEY_A

# one sample line of the text format: name{l="v",...} value
SAMPLE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\[\\"n]|[^\\"\n])*"'
                    r'(,[a-zA-Z_][a-zA-Z0-9_]*="(\\[\\"n]|[^\\"\n])*")*)?\})? \S+$')


class KeysHygiene(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mock = Mock()

    @classmethod
    def tearDownClass(cls):
        cls.mock.cleanup()

    def go(self, d, keys_text, mode=0o600, n=6, binary=False):
        inp = os.path.join(d, "in.jsonl")
        out = os.path.join(d, "out.jsonl")
        keys = os.path.join(d, "keys.txt")
        metrics = os.path.join(d, "m.prom")
        write_jobs(inp, n)
        with open(keys, "wb" if binary else "w") as f:
            f.write(keys_text)
        os.chmod(keys, mode)
        r = run(["run", inp, "-o", out, "--base-url", self.mock.url, "--keys-file", keys,
                 "--metrics", metrics])
        with open(metrics) as f:
            prom = f.read()
        with open(os.path.join(d, "out.report.json")) as f:
            report = json.load(f)
        return r, prom, report

    def key_series(self, prom):
        return sorted({m.group(1) for m in re.finditer(r'llmbatch_key_state\{key="((?:\\.|[^"])*)"',
                                                      prom)})

    def test_duplicate_key_used_once(self):
        with tmpdir() as d:
            r, prom, report = self.go(d, "%s rpm=6000\n%s rpm=6000\n" % (KEY_A, KEY_A))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stderr.count("same key as an earlier line"), 1, r.stderr)
            self.assertIn("keys.txt:2", r.stderr)
            self.assertNotIn(KEY_A, r.stderr + prom + json.dumps(report))
            self.assertEqual(len(self.key_series(prom)), 1, prom)
            self.assertEqual(len(report["by_key"]), 1, report["by_key"])

    def test_same_fingerprint_two_series(self):
        with tmpdir() as d:
            r, prom, report = self.go(d, "%s\n%s\n" % (KEY_A, KEY_B), n=12)
            self.assertEqual(r.returncode, 0, r.stderr)
            series = self.key_series(prom)
            self.assertEqual(len(series), 2, prom)
            self.assertEqual(len(report["by_key"]), 2, report["by_key"])
            self.assertNotIn(KEY_A, prom)
            self.assertNotIn(KEY_B, prom)

    def test_label_values_escaped(self):
        with tmpdir() as d:
            r, prom, report = self.go(d, '%s label=we"ird\\x\n' % KEY_A)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn('key="we\\"ird\\\\x"', prom)
            for line in prom.splitlines():
                if line and not line.startswith("#"):
                    self.assertRegex(line, SAMPLE)

    def test_mode_warning(self):
        with tmpdir() as d:
            r, prom, report = self.go(d, "%s\n" % KEY_A, mode=0o644)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stderr.count("chmod 600"), 1, r.stderr)
            self.assertIn("0644", r.stderr)
        with tmpdir() as d:
            r, prom, report = self.go(d, "%s\n" % KEY_A, mode=0o600)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertNotIn("chmod 600", r.stderr)

    def test_bom_skipped(self):
        with tmpdir() as d:
            r, prom, report = self.go(d, b"\xef\xbb\xbf" + KEY_A.encode() + b"\n", binary=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(self.key_series(prom), ["...zzzz"])

    def test_budget_above_the_largest(self):
        r = run(["run", "in.jsonl", "-o", "out.jsonl", "--budget", "100000000"])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("largest allowed amount, 9223372 USD", r.stderr)
        r = run(["run", "in.jsonl", "-o", "out.jsonl", "--budget", "-3"])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("positive amount", r.stderr)


if __name__ == "__main__":
    unittest.main()

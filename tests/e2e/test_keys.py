"""
test_keys: the API key pool against the mock server.

  - one key of three exhausted mid-run: the others finish, every custom_id
    exactly once, the exhausted key is not used again, the report says so;
  - every key exhausted: exit 4 with each key's state in the report; the
    same command with a good key resumes and completes without duplicates;
  - an invalid key (401) among good ones; an exhausted Anthropic key;
  - per-key rpm= from the keys file is a ceiling even when the server
    announces nothing;
  - the report's by_key numbers agree with the mock's own log;
  - `llmbatch keys` (valid / invalid / exhausted, --probe limits, exit codes);
  - bad keys files: exit 2, file:line, nothing sent;
  - no secret ever appears in output, files, or messages.
"""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Mock, run, write_jobs, custom_ids, read_jsonl, tmpdir, REPO  # noqa: E402
from ratelimit_util import (write_keys, files_text, assert_no_secrets,  # noqa: E402
                            max_window)

PRICES = os.path.join(REPO, "samples", "prices.json")

K1 = "sk-test-exhaust-0000000000k1k1"
K2 = "sk-test-goodtwo-0000000000k2k2"
K3 = "sk-test-goodthr-0000000000k3k3"
K4 = "sk-test-goodfou-0000000000k4k4"
KA1 = "sk-ant-test-credit-00000000a1a1"
KA2 = "sk-ant-test-good-0000000000a2a2"
ALL = [K1, K2, K3, K4, KA1, KA2]

# keys must come only from the keys file in these tests
NOENV = {"OPENAI_API_KEY": None, "ANTHROPIC_API_KEY": None}


def run_args(inp, out, mock, keys, *extra):
    return ["run", inp, "-o", out, "--base-url", mock.url, "--prices", PRICES,
            "--keys-file", keys, "--no-progress"] + [str(x) for x in extra]


def report(out):
    with open(out.replace(".jsonl", ".report.json")) as f:
        return json.load(f)


class KeysTest(unittest.TestCase):

    def no_secrets(self, d, r, keys_file=None):
        skip = ()
        if keys_file:
            with open(keys_file) as f:
                skip = (f.read(),)
        assert_no_secrets(self, ALL, r.stdout, r.stderr, files_text(d), skip=skip)

    def assert_done_once(self, out, ids):
        got = custom_ids(out)
        self.assertEqual(len(got), len(set(got)), "duplicate result lines")
        self.assertEqual(sorted(got), sorted(ids))
        errs = out.replace(".jsonl", ".errors.jsonl")
        self.assertEqual(custom_ids(errs) if os.path.exists(errs) else [], [])

    # ------------------------------------------------------------ run

    def test_one_key_exhausted_midrun(self):
        conc = 4
        with tmpdir() as d, Mock("--latency-ms", 30, "--exhaust-after", K1 + "=15") as m:
            inp = os.path.join(d, "in.jsonl")
            out = os.path.join(d, "out.jsonl")
            keys = write_keys(os.path.join(d, "keys.txt"), [
                "# pool", K1 + " label=alpha", K2, K3 + " label=gamma  # third"])
            ids = write_jobs(inp, 150)
            r = run(run_args(inp, out, m, keys, "--concurrency", conc), env=NOENV)
            self.assertEqual(r.returncode, 0, r.stderr[-3000:])
            self.assert_done_once(out, ids)

            log = sorted(m.log_entries(), key=lambda e: e["t"])
            k1 = [e for e in log if e["key"] == "k1k1"]
            quota = [e for e in k1 if e["status"] != 200]
            self.assertEqual(sum(1 for e in k1 if e["status"] == 200), 15)
            self.assertGreaterEqual(len(quota), 1, "the key was never exhausted")
            # once the first quota error is back, no new request uses the key:
            # only those already in flight at that moment may follow it
            after = [e for e in k1 if e["t"] > quota[0]["t"]]
            self.assertLessEqual(len(after), conc - 1,
                                 "exhausted key used again: %d requests after the "
                                 "first quota error" % len(after))
            # the other keys did the rest, each job billed once
            ok = [e["custom"] for e in log if e["status"] == 200]
            self.assertEqual(sorted(ok), sorted(ids), "each job billed exactly once")
            for k in ("k2k2", "k3k3"):
                self.assertGreater(sum(1 for e in log if e["key"] == k), 10)

            rep = report(out)
            bk = rep["by_key"]
            self.assertEqual(set(bk), {"alpha", "...k2k2", "gamma"})
            self.assertEqual(bk["alpha"]["state"], "exhausted")
            self.assertEqual(bk["...k2k2"]["state"], "ok")
            self.assertEqual(bk["gamma"]["state"], "ok")
            self.assertEqual(bk["alpha"]["requests"], len(k1))
            self.assertEqual(rep["exit_code"], 0)
            self.no_secrets(d, r, keys)

    def test_all_keys_exhausted_then_rerun(self):
        conc = 4
        with tmpdir() as d, Mock("--latency-ms", 10,
                                 "--exhausted-keys", K1 + "," + K2) as m:
            inp = os.path.join(d, "in.jsonl")
            out = os.path.join(d, "out.jsonl")
            keys = write_keys(os.path.join(d, "keys.txt"), [K1 + " label=first", K2])
            ids = write_jobs(inp, 40)
            args = run_args(inp, out, m, keys, "--concurrency", conc)
            r = run(args, env=NOENV)
            self.assertEqual(r.returncode, 4, r.stderr[-3000:])
            self.no_secrets(d, r, keys)
            rep = report(out)
            self.assertEqual(rep["exit_code"], 4)
            self.assertEqual(rep["by_key"]["first"]["state"], "exhausted")
            self.assertEqual(rep["by_key"]["...k2k2"]["state"], "exhausted")
            self.assertTrue(rep["by_key"]["first"]["reason"])
            self.assertEqual(rep["jobs"]["succeeded"], 0)
            self.assertEqual(rep["jobs"]["failed"], 0, "no job may fail for a key problem")
            self.assertEqual(rep["jobs"]["pending"], 40)
            st = m.stats()
            self.assertEqual(st["billed_ok_requests"], 0)
            # it stopped admitting: a handful of requests per key, not 40 each
            for k in ("k1k1", "k2k2"):
                self.assertLessEqual(st["by_key"][k]["requests"], conc + 1)
            if os.path.exists(out):
                self.assertEqual(custom_ids(out), [])
            errs = out.replace(".jsonl", ".errors.jsonl")
            if os.path.exists(errs):
                self.assertEqual(custom_ids(errs), [], "jobs were failed, not left pending")

            # the same command with a good key in the keys file resumes
            write_keys(keys, [K3 + " label=fresh"])
            r2 = run(args, env=NOENV)
            self.assertEqual(r2.returncode, 0, r2.stderr[-3000:])
            self.assert_done_once(out, ids)
            log = m.log_entries()
            ok = [e["custom"] for e in log if e["status"] == 200]
            self.assertEqual(sorted(ok), sorted(ids), "each job billed exactly once")
            self.assertTrue(all(e["key"] == "k3k3" for e in log if e["status"] == 200))
            rep2 = report(out)
            self.assertEqual(rep2["exit_code"], 0)
            self.assertEqual(rep2["jobs"]["succeeded"], 40)
            self.assertEqual(rep2["by_key"]["fresh"]["state"], "ok")
            self.no_secrets(d, r2, keys)

            # and the same again from the environment instead of a file
            r3 = run(args[:args.index("--keys-file")] + args[args.index("--keys-file") + 2:],
                     env={"OPENAI_API_KEY": K4, "ANTHROPIC_API_KEY": None})
            self.assertEqual(r3.returncode, 0, r3.stderr[-3000:])
            self.assert_done_once(out, ids)
            self.assertEqual(m.stats()["billed_ok_requests"], 40, "nothing sent again")

    def test_invalid_key_among_good(self):
        conc = 4
        with tmpdir() as d, Mock("--latency-ms", 10, "--invalid-keys", K3) as m:
            inp = os.path.join(d, "in.jsonl")
            out = os.path.join(d, "out.jsonl")
            keys = write_keys(os.path.join(d, "keys.txt"), [K2, K3 + " label=revoked", K4])
            ids = write_jobs(inp, 60)
            r = run(run_args(inp, out, m, keys, "--concurrency", conc), env=NOENV)
            self.assertEqual(r.returncode, 0, r.stderr[-3000:])
            self.assert_done_once(out, ids)
            st = m.stats()
            self.assertLessEqual(st["by_key"]["k3k3"]["requests"], conc)
            self.assertEqual(st["by_key"]["k3k3"]["ok"], 0)
            self.assertEqual(st["billed_ok_requests"], 60)
            bk = report(out)["by_key"]
            self.assertEqual(bk["revoked"]["state"], "invalid")
            self.assertEqual(bk["revoked"]["requests"], st["by_key"]["k3k3"]["requests"])
            self.assertEqual(bk["...k2k2"]["state"], "ok")
            self.assertEqual(bk["...k4k4"]["state"], "ok")
            self.no_secrets(d, r, keys)

    def test_anthropic_key_exhausted(self):
        with tmpdir() as d, Mock("--latency-ms", 10, "--exhausted-keys", KA1) as m:
            inp = os.path.join(d, "in.jsonl")
            out = os.path.join(d, "out.jsonl")
            keys = write_keys(os.path.join(d, "keys.txt"),
                              [KA1 + " label=claude-a", KA2 + " dialect=anthropic"])
            ids = write_jobs(inp, 30, shape="anthropic")
            r = run(run_args(inp, out, m, keys, "--concurrency", 4), env=NOENV)
            self.assertEqual(r.returncode, 0, r.stderr[-3000:])
            self.assert_done_once(out, ids)
            bk = report(out)["by_key"]
            self.assertEqual(bk["claude-a"]["state"], "exhausted")
            self.assertEqual(bk["...a2a2"]["state"], "ok")
            self.assertLessEqual(m.stats()["by_key"]["a1a1"]["requests"], 4)
            self.no_secrets(d, r, keys)

    def test_keys_file_rpm_is_a_ceiling(self):
        """rpm=120 on the only key, a server that announces nothing: at most
        120*W/60 + 1 requests in any W-second window."""
        with tmpdir() as d, Mock("--latency-ms", 5) as m:
            inp = os.path.join(d, "in.jsonl")
            out = os.path.join(d, "out.jsonl")
            keys = write_keys(os.path.join(d, "keys.txt"), [K2 + " label=slow rpm=120"])
            ids = write_jobs(inp, 10)
            r = run(run_args(inp, out, m, keys), env=NOENV, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr[-3000:])
            self.assert_done_once(out, ids)
            ts = sorted(e["t"] for e in m.log_entries())
            for w in (1, 2):
                got = max_window(ts, w - 0.05)  # arrival jitter
                self.assertLessEqual(got, 120 * w / 60 + 1,
                                     "rpm=120 from the keys file ignored: %d requests "
                                     "in %d s (%d requests over %.2f s)"
                                     % (got, w, len(ts), ts[-1] - ts[0]))

    def test_report_by_key_matches_mock(self):
        """Two keys, 15% injected 429s: per key, the report's requests,
        tokens, cost and 429s equal the mock's own accounting."""
        with tmpdir() as d, Mock("--latency-ms", 5, "--faults", "429=0.15",
                                 "--seed", 3) as m:
            inp = os.path.join(d, "in.jsonl")
            out = os.path.join(d, "out.jsonl")
            keys = write_keys(os.path.join(d, "keys.txt"), [K2 + " label=two", K4])
            ids = write_jobs(inp, 60)
            r = run(run_args(inp, out, m, keys, "--concurrency", 8), env=NOENV)
            self.assertEqual(r.returncode, 0, r.stderr[-3000:])
            self.assert_done_once(out, ids)
            log = m.log_entries()
            rep = report(out)
            names = {"k2k2": "two", "k4k4": "...k4k4"}
            total429 = 0
            for last4, name in names.items():
                mine = [e for e in log if e["key"] == last4]
                bk = rep["by_key"][name]
                n429 = sum(1 for e in mine if e["status"] == 429)
                total429 += n429
                self.assertEqual(bk["requests"], len(mine), name)
                self.assertEqual(bk["rate_limited_429"], n429, name)
                self.assertEqual(bk["tokens_in"], sum(e["prompt_tokens"] for e in mine), name)
                self.assertEqual(bk["tokens_out"],
                                 sum(e["completion_tokens"] for e in mine), name)
                billed = sum(e["billed_pusd"] for e in mine)
                self.assertAlmostEqual(bk["cost_usd"], billed / 1e12, places=9)
                self.assertEqual(bk["state"], "ok")
                self.assertGreater(len(mine), 5, "work spread over both keys")
            self.assertGreater(total429, 0, "the faults produced 429s")
            self.assertEqual(sum(b["requests"] for b in rep["by_key"].values()),
                             rep["http"]["requests_sent"])
            self.assertAlmostEqual(sum(b["cost_usd"] for b in rep["by_key"].values()),
                                   rep["cost_usd"]["total"], places=9)
            self.no_secrets(d, r, keys)

    # ------------------------------------------------------------ bad files

    def test_bad_keys_file(self):
        with tmpdir() as d, Mock() as m:
            inp = os.path.join(d, "in.jsonl")
            out = os.path.join(d, "out.jsonl")
            write_jobs(inp, 5)
            keys = write_keys(os.path.join(d, "keys.txt"),
                              ["# ok", K2 + " label=fine", K3 + " rpm=fast"])
            r = run(run_args(inp, out, m, keys), env=NOENV)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("keys.txt:3", r.stderr)
            assert_no_secrets(self, ALL, r.stdout, r.stderr)
            self.assertEqual(m.stats()["received"], 0, "nothing may be sent")

            # two keys pasted on one line: an error that does not echo them
            write_keys(keys, [K2 + " " + K3])
            r = run(run_args(inp, out, m, keys), env=NOENV)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("keys.txt:1", r.stderr)
            assert_no_secrets(self, ALL, r.stdout, r.stderr)

            r = run(["keys", "--keys-file", keys, "--base-url", m.url], env=NOENV)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("keys.txt:1", r.stderr)
            assert_no_secrets(self, ALL, r.stdout, r.stderr)
            self.assertEqual(m.stats()["received"], 0)

    # ------------------------------------------------------------ llmbatch keys

    def test_keys_command(self):
        with tmpdir() as d, Mock("--rpm", 600, "--tpm", 90000,
                                 "--invalid-keys", K3, "--exhausted-keys", K4) as m:
            good = write_keys(os.path.join(d, "good.txt"),
                              [K2 + " label=main", KA2 + " label=claude"])
            r = run(["keys", "--keys-file", good, "--base-url", m.url], env=NOENV)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            lines = r.stdout.splitlines()
            main = [ln for ln in lines if ln.startswith("main")]
            self.assertEqual(len(main), 1, r.stdout)
            self.assertIn("valid", main[0])
            self.assertNotIn("invalid", main[0])
            self.assertTrue(any(ln.startswith("claude") and "valid" in ln for ln in lines),
                            r.stdout)
            assert_no_secrets(self, ALL, r.stdout, r.stderr)
            st = m.stats()
            self.assertEqual(st["billed_ok_requests"], 0, "checking keys must not spend")
            self.assertEqual(set(st["by_path"]), {"/v1/models"})

            mixed = write_keys(os.path.join(d, "mixed.txt"),
                               [K2 + " label=main", K3, K4 + " label=broke"])
            r = run(["keys", "--keys-file", mixed, "--base-url", m.url], env=NOENV)
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            lines = r.stdout.splitlines()
            bad = [ln for ln in lines if ln.startswith("...k3k3")]
            self.assertEqual(len(bad), 1, r.stdout)
            self.assertIn("invalid", bad[0])
            self.assertTrue(any(ln.startswith("main") and " valid" in ln for ln in lines))
            assert_no_secrets(self, ALL, r.stdout, r.stderr)

            # --probe reads the announced limits (and says it costs a little)
            r = run(["keys", "--keys-file", good, "--base-url", m.url, "--probe"], env=NOENV)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("600", r.stdout)
            self.assertIn("90000", r.stdout)
            self.assertIn("millionth", r.stdout + r.stderr)
            assert_no_secrets(self, ALL, r.stdout, r.stderr)
            self.assertLessEqual(m.stats()["billed_ok_requests"], 2)

            # no keys at all: a usage error, not a crash
            r = run(["keys", "--base-url", m.url], env=NOENV)
            self.assertEqual(r.returncode, 2, r.stdout + r.stderr)


if __name__ == "__main__":
    from harness import main
    main()

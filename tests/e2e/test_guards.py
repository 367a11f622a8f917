"""
test_guards: one run per output set (10.1) and the path checks every run
makes before it touches anything (10.2).

Lock: a second run on the same outputs (plain, --fresh, from stdin) is
refused at once with exit 2 naming the holder's pid, and the first run
finishes untouched; a run killed with SIGKILL leaves a stale lock file that
does not block the resume.  Paths: every pair of roles (input, results,
errors, report, checkpoint, lock file, --status-file, --metrics, the cache
database) that names one file by the same string, a relative and an
absolute path, a symlink or a hard link is refused with exit 2 naming both
roles; a side file whose directory is missing or read-only is refused at
start.  A refused run sends nothing and creates nothing.
"""

import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (wait_until, LLMBATCH, REPO, Mock, _env, collect, read_jsonl, run, start,  # noqa: E402
                     tmpdir, write_jobs)


SECOND_KEY = "sk-second-run-000000000000qqqq"
SECOND = {"OPENAI_API_KEY": SECOND_KEY}


def lock_holder(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def listing(d):
    return sorted(os.listdir(d))


class Lock(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mock = Mock("--latency-ms", "150")

    @classmethod
    def tearDownClass(cls):
        cls.mock.cleanup()

    def setUp(self):
        self.mock.reset(all=True)

    def slow_first(self, d, n=40, extra=()):
        inp = os.path.join(d, "in.jsonl")
        out = os.path.join(d, "out.jsonl")
        ids = write_jobs(inp, n)
        p = start(["run", inp, "-o", out, "--base-url", self.mock.url, "--concurrency", 2,
                   "--commit-every", 1, "-q"] + list(extra))
        lock = out + ".ckpt.lock"
        self.assertTrue(wait_until(lambda: str(p.pid) in lock_holder(lock)),
                        "the first run did not write its pid into %s" % lock)
        return inp, out, ids, p

    def assert_second_sent_nothing(self):
        # the second run has its own key: the mock counts requests per key
        self.assertNotIn(SECOND_KEY[-4:], self.mock.stats()["by_key"],
                         "the refused run sent requests")

    def finish_first(self, p, out, ids):
        r = collect(p, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        got = sorted(x["custom_id"] for x in read_jsonl(out))
        self.assertEqual(got, sorted(ids), "the first run's results are not intact")
        self.assertFalse(os.path.exists(out + ".ckpt.lock"),
                         "the lock file outlived the run that held it")

    def test_second_run_refused_naming_the_holder(self):
        with tmpdir() as d:
            inp, out, ids, p = self.slow_first(d)
            r = run(["run", inp, "-o", out, "--base-url", self.mock.url], timeout=30,
                    env=SECOND)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("pid %d" % p.pid, r.stderr)
            self.assertIn("in use by another llmbatch run", r.stderr)
            self.assert_second_sent_nothing()
            self.finish_first(p, out, ids)

    def test_fresh_never_moves_files_of_a_running_run(self):
        with tmpdir() as d:
            inp, out, ids, p = self.slow_first(d)
            self.assertTrue(wait_until(lambda: os.path.exists(out + ".ckpt")))
            r = run(["run", inp, "-o", out, "--base-url", self.mock.url, "--fresh"], timeout=30,
                    env=SECOND)
            self.assert_second_sent_nothing()
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("pid %d" % p.pid, r.stderr)
            self.assertEqual([f for f in listing(d) if ".old-" in f], [],
                             "--fresh moved files aside under a running run")
            self.finish_first(p, out, ids)

    def test_other_outputs_same_checkpoint_refused(self):
        # the lock is tied to the checkpoint: --checkpoint names the set
        with tmpdir() as d:
            inp, out, ids, p = self.slow_first(d)
            r = run(["run", inp, "-o", os.path.join(d, "other.jsonl"), "--checkpoint",
                     out + ".ckpt", "--base-url", self.mock.url], timeout=30)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("pid %d" % p.pid, r.stderr)
            self.assertFalse(os.path.exists(os.path.join(d, "other.jsonl")))
            self.finish_first(p, out, ids)

    def test_another_set_never_writes_over_or_moves_a_running_runs_outputs(self):
        """A second run with its own checkpoint that names the first run's
        results or errors file as one of its own files (a report, errors
        with --fresh, results) is refused: the outputs are held while a run
        goes."""
        with tmpdir() as d:
            inp, out, ids, p = self.slow_first(d)
            errs = os.path.join(d, "out.errors.jsonl")
            self.assertTrue(wait_until(lambda: os.path.exists(errs)))
            for args in (["-o", os.path.join(d, "b.jsonl"), "--report", out],
                         ["-o", os.path.join(d, "c.jsonl"), "--errors", errs, "--fresh"],
                         ["-o", os.path.join(d, "e.jsonl"), "--status-file", errs]):
                with self.subTest(args=args):
                    r = run(["run", inp, "--base-url", self.mock.url] + args, timeout=30,
                            env=SECOND)
                    self.assertEqual(r.returncode, 2, r.stderr)
                    self.assertIn("an output of another llmbatch run", r.stderr)
            self.assert_second_sent_nothing()
            self.assertEqual([f for f in listing(d) if ".old-" in f], [],
                             "--fresh moved a running run's file aside")
            self.finish_first(p, out, ids)

    def test_stdin_runs_lock_too(self):
        with tmpdir() as d:
            inp = os.path.join(d, "in.jsonl")
            out = os.path.join(d, "out.jsonl")
            ids = write_jobs(inp, 40)
            with open(inp, "rb") as f:
                p = start(["run", "-", "-o", out, "--base-url", self.mock.url,
                           "--concurrency", 2, "-q"], stdin=f)
                lock = out + ".ckpt.lock"
                self.assertTrue(wait_until(lambda: str(p.pid) in lock_holder(lock)))
                with open(inp) as g:
                    r = run(["run", "-", "-o", out, "--base-url", self.mock.url], input=g.read(),
                            timeout=30)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn("pid %d" % p.pid, r.stderr)
                self.finish_first(p, out, ids)

    def test_kill9_leaves_a_stale_lock_that_does_not_block(self):
        with tmpdir() as d:
            inp, out, ids, p = self.slow_first(d, n=60)
            self.assertTrue(wait_until(lambda: len(read_jsonl(out)) >= 3 if os.path.exists(out)
                                     else False), "no results before the kill")
            p.send_signal(signal.SIGKILL)
            collect(p, timeout=30)
            lock = out + ".ckpt.lock"
            self.assertTrue(os.path.exists(lock), "expected the killed run's lock file")
            self.assertIn(str(p.pid), lock_holder(lock))
            r = run(["run", inp, "-o", out, "--base-url", self.mock.url, "--concurrency", 16],
                    timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("resuming", r.stderr)
            got = [x["custom_id"] for x in read_jsonl(out)]
            self.assertEqual(sorted(got), sorted(ids))
            self.assertEqual(len(got), len(set(got)), "a job has two result lines")
            self.assertFalse(os.path.exists(lock))


class Paths(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mock = Mock()

    @classmethod
    def tearDownClass(cls):
        cls.mock.cleanup()

    def refused(self, d, args, roles, cwd=None, env=None):
        """Runs llmbatch; asserts exit 2, a message naming each of roles, nothing
        sent and nothing created in d."""
        before = listing(d)
        sent = self.mock.stats()["received"]
        r = subprocess.run([LLMBATCH] + [str(a) for a in args], env=_env(env), cwd=cwd,
                           capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 2, r.stderr)
        for role in roles:
            self.assertIn(role, r.stderr)
        self.assertEqual(listing(d), before, "a refused run created or moved files")
        self.assertEqual(self.mock.stats()["received"], sent, "a refused run sent requests")
        return r

    def setup_dir(self, d):
        inp = os.path.join(d, "in.jsonl")
        write_jobs(inp, 3)
        return inp, os.path.join(d, "out.jsonl")

    def test_same_string(self):
        pairs = [("--status-file", "out.jsonl", "the results file"),
                 ("--metrics", "out.jsonl.ckpt", "the checkpoint"),
                 ("--metrics", "out.report.json", "the report"),
                 ("--status-file", "out.errors.jsonl", "the errors file"),
                 ("--status-file", "out.jsonl.ckpt.lock", "the lock file"),
                 ("--errors", "in.jsonl", "the input"),
                 ("--checkpoint", "out.report.json", "the report")]
        for flag, name, role in pairs:
            with self.subTest(flag=flag, name=name), tmpdir() as d:
                inp, out = self.setup_dir(d)
                r = self.refused(d, ["run", inp, "-o", out, "--base-url", self.mock.url,
                                     flag, os.path.join(d, name)], [role])
                if flag.startswith("--") and flag in ("--status-file", "--metrics"):
                    self.assertIn(flag, r.stderr)

    def test_no_output_is_named_like_a_side_file_of_another(self):
        """Temporary and side files the run derives from its outputs
        (NAME.tmp of atomic writes, the checkpoint's timeline and batch state,
        the reorder and retry staging files) are roles too."""
        cases = [(["-o", "st.json.tmp", "--status-file", "st.json"], "--status-file"),
                 (["-o", "r.json.tmp", "--report", "r.json"], "the report"),
                 (["-o", "h.html.tmp", "--html", "h.html"], "--html"),
                 (["-o", "g.jsonl", "--errors", "g.jsonl.ckpt.timeline.json"], "the timeline"),
                 (["-o", "h.jsonl", "--errors", "h.jsonl.ckpt.tmp"], "the checkpoint"),
                 (["-o", "k.jsonl", "--errors", "k.jsonl.reorder.tmp", "--ordered"],
                  "reorder"),
                 (["-o", "m.jsonl", "--metrics", "m.errors.jsonl.retry.tmp"], "retry"),
                 (["-o", "b.jsonl", "--status-file", "b.jsonl.ckpt.batches"], "batch state"),
                 (["-o", "a.jsonl", "--html", "a.jsonl.ckpt.timeline.json"], "the timeline")]
        for args, role in cases:
            with self.subTest(args=args), tmpdir() as d:
                inp, _ = self.setup_dir(d)
                args = [a if a.startswith("-") else os.path.join(d, a) for a in args]
                self.refused(d, ["run", inp, "--base-url", self.mock.url] + args, [role])

    def test_read_only_roles(self):
        # a side file must not replace the keys file or the price table
        with tmpdir() as d:
            inp, out = self.setup_dir(d)
            keys = os.path.join(d, "keys.txt")
            with open(keys, "w") as f:
                f.write("sk-test-0000000000000000aaaa\n")
            os.chmod(keys, 0o600)
            self.refused(d, ["run", inp, "-o", out, "--base-url", self.mock.url,
                             "--keys-file", keys, "--metrics", keys],
                         ["--metrics", "--keys-file"])
            prices = os.path.join(d, "prices.json")
            with open(os.path.join(REPO, "samples", "prices.json")) as f, open(prices, "w") as g:
                g.write(f.read())
            self.refused(d, ["run", inp, "-o", out, "--base-url", self.mock.url,
                             "--prices", prices, "--status-file", prices],
                         ["--status-file", "--prices"])

    def test_status_and_metrics_same_file(self):
        with tmpdir() as d:
            inp, out = self.setup_dir(d)
            s = os.path.join(d, "side.txt")
            self.refused(d, ["run", inp, "-o", out, "--base-url", self.mock.url,
                             "--status-file", s, "--metrics", s], ["--status-file", "--metrics"])

    def test_relative_vs_absolute(self):
        with tmpdir() as d:
            inp, out = self.setup_dir(d)
            os.mkdir(os.path.join(d, "sub"))
            self.refused(d, ["run", "in.jsonl", "-o", "out.jsonl", "--base-url", self.mock.url,
                             "--status-file", os.path.join(d, "sub", "..", "out.jsonl")],
                         ["--status-file", "the results file"], cwd=d)

    def test_symlink(self):
        with tmpdir() as d:
            inp, out = self.setup_dir(d)
            link = os.path.join(d, "link.prom")
            os.symlink("in.jsonl", link)                     # to an existing file
            self.refused(d, ["run", inp, "-o", out, "--base-url", self.mock.url,
                             "--metrics", link], ["--metrics", "the input"])
            with open(inp, "rb") as f:
                self.assertEqual(len(f.read().splitlines()), 3, "the input was replaced")
            dangling = os.path.join(d, "dangling.json")
            os.symlink("out.jsonl.ckpt", dangling)           # to a file not yet written
            self.refused(d, ["run", inp, "-o", out, "--base-url", self.mock.url,
                             "--status-file", dangling], ["--status-file", "the checkpoint"])

    def test_hard_link(self):
        with tmpdir() as d:
            inp, out = self.setup_dir(d)
            hard = os.path.join(d, "report.json")
            os.link(inp, hard)
            self.refused(d, ["run", inp, "-o", out, "--base-url", self.mock.url,
                             "--report", hard], ["the report", "the input"])

    def test_cache_database(self):
        with tmpdir() as d:
            inp, out = self.setup_dir(d)
            cache = os.path.join(d, "cache")
            os.mkdir(cache)
            self.refused(d, ["run", inp, "-o", out, "--base-url", self.mock.url,
                             "--cache", cache, "--status-file",
                             os.path.join(cache, "llmbatch-cache.sqlite")],
                         ["--status-file", "the cache database"])

    def test_missing_directory(self):
        for flag in ("--status-file", "--metrics", "--report", "--errors", "-o", "--checkpoint"):
            with self.subTest(flag=flag), tmpdir() as d:
                inp, out = self.setup_dir(d)
                args = ["run", inp, "-o", out, "--base-url", self.mock.url]
                target = os.path.join(d, "nodir", "f.json")
                if flag == "-o":
                    args[3] = target
                else:
                    args += [flag, target]
                r = self.refused(d, args, ["does not exist", os.path.join(d, "nodir")])
                self.assertIn("f.json", r.stderr)

    def test_side_file_is_a_directory(self):
        with tmpdir() as d:
            inp, out = self.setup_dir(d)
            os.mkdir(os.path.join(d, "adir"))
            self.refused(d, ["run", inp, "-o", out, "--base-url", self.mock.url,
                             "--metrics", os.path.join(d, "adir")], ["--metrics", "directory"])

    @unittest.skipUnless(os.geteuid() != 0 or os.path.exists("/usr/bin/setpriv"),
                         "root without setpriv: permissions are not enforced")
    def test_read_only_directory(self):
        with tmpdir() as d:
            os.chmod(d, 0o755)
            inp, out = self.setup_dir(d)
            os.chmod(inp, 0o644)
            outs = os.path.join(d, "outs")
            ro = os.path.join(d, "ro")
            os.mkdir(outs)
            os.mkdir(ro)
            os.chmod(outs, 0o777)
            os.chmod(ro, 0o555)
            prefix = []
            if os.geteuid() == 0:   # root ignores modes: run as nobody
                prefix = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534",
                          "--clear-groups"]
            for flag in ("--status-file", "--metrics", "--report"):
                with self.subTest(flag=flag):
                    sent = self.mock.stats()["received"]
                    r = subprocess.run(prefix + [LLMBATCH, "run", inp, "-o",
                                                 os.path.join(outs, "out.jsonl"),
                                                 "--base-url", self.mock.url, flag,
                                                 os.path.join(ro, "side")],
                                       env=_env(None), capture_output=True, text=True,
                                       timeout=60, stdin=subprocess.DEVNULL)
                    self.assertEqual(r.returncode, 2, r.stderr)
                    self.assertIn("not writable", r.stderr)
                    self.assertIn(flag if flag != "--report" else "the report", r.stderr)
                    self.assertEqual(os.listdir(outs), [])
                    self.assertEqual(self.mock.stats()["received"], sent)
            # the same command with a writable side file runs (the test is sound)
            r = subprocess.run(prefix + [LLMBATCH, "run", inp, "-o",
                                         os.path.join(outs, "out.jsonl"), "--base-url",
                                         self.mock.url, "--status-file",
                                         os.path.join(outs, "status.json")],
                               env=_env(None), capture_output=True, text=True, timeout=60,
                               stdin=subprocess.DEVNULL)
            self.assertEqual(r.returncode, 0, r.stderr)

    def test_distinct_paths_run(self):
        with tmpdir() as d:
            inp, out = self.setup_dir(d)
            r = run(["run", inp, "-o", out, "--base-url", self.mock.url,
                     "--status-file", os.path.join(d, "s.json"),
                     "--metrics", os.path.join(d, "m.prom")])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(len(read_jsonl(out)), 3)


if __name__ == "__main__":
    unittest.main()

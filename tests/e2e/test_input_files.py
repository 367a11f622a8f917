"""
test_input_files: inputs that are not plain files, and inputs that change
while a run reads them (10.6).

Any input that is not a regular file (a process substitution, a FIFO) is
spooled into an unlinked temporary file, validated, and run without a
checkpoint, like stdin; the spool leaves nothing in $TMPDIR, even when the
run is killed.  A regular input that grows, shrinks or is rewritten in place
during the run stops it with exit 5 before any line that was not validated
is sent; the jobs not yet sent stay pending.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (wait_until, LLMBATCH, Mock, _env, collect, read_jsonl, start,  # noqa: E402
                     tmpdir, write_jobs)


def job_line(cid, text):
    return json.dumps({"custom_id": cid, "method": "POST", "url": "/v1/chat/completions",
                       "body": {"model": "mock-model", "max_tokens": 8,
                                "messages": [{"role": "user", "content": text}],
                                "metadata": {"custom": cid}}}) + "\n"


class NotPlain(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mock = Mock()

    @classmethod
    def tearDownClass(cls):
        cls.mock.cleanup()

    def setUp(self):
        self.mock.reset(all=True)

    def env(self, tmp):
        return _env({"TMPDIR": tmp})

    def test_process_substitution(self):
        with tmpdir() as d:
            inp = os.path.join(d, "in.jsonl")
            out = os.path.join(d, "out.jsonl")
            spool = os.path.join(d, "tmp")
            os.mkdir(spool)
            ids = write_jobs(inp, 25)
            cmd = '"$LLMB" run <(cat "$IN") -o "$OUT" --base-url "$URL"'
            env = self.env(spool)
            env.update(LLMB=LLMBATCH, IN=inp, OUT=out, URL=self.mock.url)
            r = subprocess.run(["bash", "-c", cmd], env=env, capture_output=True, text=True,
                               timeout=120, stdin=subprocess.DEVNULL)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("completed", r.stderr)
            self.assertIn("25 jobs", r.stderr)
            self.assertEqual(sorted(x["custom_id"] for x in read_jsonl(out)), ids)
            self.assertEqual(os.listdir(spool), [], "the spool left a file behind")
            self.assertFalse(os.path.exists(out + ".ckpt"), "a spooled run kept a checkpoint")
            # same refusal rule as stdin: it cannot resume, so it will not overwrite
            r = subprocess.run(["bash", "-c", cmd], env=env, capture_output=True, text=True,
                               timeout=120, stdin=subprocess.DEVNULL)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("already exists", r.stderr)

    def test_process_substitution_is_validated(self):
        with tmpdir() as d:
            out = os.path.join(d, "out.jsonl")
            env = self.env(d)
            env.update(LLMB=LLMBATCH, OUT=out, URL=self.mock.url)
            cmd = ('"$LLMB" run <(printf \'%s\\n%s\\n\' \'{"prompt":"hi","model":"mock-model"}\''
                   ' \'{"broken\') -o "$OUT" --base-url "$URL"')
            r = subprocess.run(["bash", "-c", cmd], env=env, capture_output=True, text=True,
                               timeout=60, stdin=subprocess.DEVNULL)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertRegex(r.stderr, r"/dev/fd/\d+:2: invalid JSON")
            self.assertEqual(self.mock.stats()["received"], 0)

    def fifo_run(self, d, n, extra=(), killer=None):
        inp = os.path.join(d, "in.jsonl")
        fifo = os.path.join(d, "jobs.fifo")
        out = os.path.join(d, "out.jsonl")
        spool = os.path.join(d, "tmp")
        os.mkdir(spool)
        ids = write_jobs(inp, n)
        os.mkfifo(fifo)

        def feed():
            try:
                fd = os.open(fifo, os.O_WRONLY)      # blocks until the run opens it
                with open(inp, "rb") as f, os.fdopen(fd, "wb") as w:
                    w.write(f.read())
            except OSError:
                pass
        t = threading.Thread(target=feed, daemon=True)
        t.start()
        p = start(["run", fifo, "-o", out, "--base-url", self.mock.url] + list(extra),
                  env={"TMPDIR": spool})
        if killer:
            killer(p, out)
        r = collect(p, timeout=60)
        t.join(timeout=10)
        if t.is_alive():   # unblock the writer if the run never opened the FIFO
            fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
            os.close(fd)
            t.join(timeout=5)
        return r, out, ids, spool

    def test_fifo(self):
        with tmpdir() as d:
            r, out, ids, spool = self.fifo_run(d, 30)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("30 jobs", r.stderr)
            self.assertEqual(sorted(x["custom_id"] for x in read_jsonl(out)), ids)
            self.assertEqual(os.listdir(spool), [])

    def test_killed_spooled_run_leaves_nothing(self):
        self.mock.config(latency_ms=300)
        try:
            def kill(p, out):
                self.assertTrue(wait_until(lambda: self.mock.stats()["received"] >= 2))
                p.send_signal(signal.SIGKILL)
            with tmpdir() as d:
                r, out, ids, spool = self.fifo_run(d, 40, ["--concurrency", 2], killer=kill)
                self.assertEqual(r.returncode, -signal.SIGKILL)
                self.assertEqual(os.listdir(spool), [], "a killed run left its spool behind")
        finally:
            self.mock.config(latency_ms=0)


class Changing(unittest.TestCase):
    """A slow mock (latency) and two requests in flight keep the run reading
    the input while the test changes it."""

    @classmethod
    def setUpClass(cls):
        cls.mock = Mock("--latency-ms", "200")

    @classmethod
    def tearDownClass(cls):
        cls.mock.cleanup()

    def setUp(self):
        self.mock.reset(all=True)

    def begin(self, d, n=80):
        inp = os.path.join(d, "in.jsonl")
        out = os.path.join(d, "out.jsonl")
        # ~4 KiB a line, so the file is larger than the reader's 256 KiB buffer
        # and the later lines are read after the test has changed the file
        # (a change after the last read is harmless: every byte read was
        # validated)
        with open(inp, "w") as f:
            for i in range(n):
                f.write(job_line("job-%04d" % i, "prompt number %04d %s" % (i, "x" * 4000)))
        self.assertGreater(os.path.getsize(inp), 300 * 1024)
        p = start(["run", inp, "-o", out, "--base-url", self.mock.url, "--concurrency", 2,
                   "--commit-every", 1])
        self.assertTrue(wait_until(lambda: self.mock.stats()["received"] >= 1),
                        "the run sent nothing")
        return inp, out, p

    def sent_customs(self):
        return {e.get("custom") for e in self.mock.log_entries()}

    def check_stopped(self, r, out, n, forbidden):
        self.assertEqual(r.returncode, 5, r.stderr)
        self.assertIn("changed while the run was reading it", r.stderr)
        sent = self.sent_customs()
        self.assertFalse(sent & forbidden, "a line that was not validated was sent")
        done = {x["custom_id"] for x in read_jsonl(out)}
        self.assertLess(len(done), n, "the run did not stop")

    def test_appended_during_run(self):
        with tmpdir() as d:
            inp, out, p = self.begin(d)
            with open(inp, "a") as f:
                for i in range(5):
                    f.write(job_line("late-%d" % i, "appended %d" % i))
            r = collect(p, timeout=120)
            self.check_stopped(r, out, 80, {"late-%d" % i for i in range(5)})
            self.assertIn("grew", r.stderr)

    def test_rewritten_in_place(self):
        with tmpdir() as d:
            inp, out, p = self.begin(d)
            with open(inp, "r+b") as f:
                data = f.read()
                # same size, other content: job-0070's line now carries another id
                new = data.replace(b'"job-0070"', b'"evil-070"')
                self.assertEqual(len(new), len(data))
                f.seek(0)
                f.write(new)
            r = collect(p, timeout=120)
            self.check_stopped(r, out, 80, {"evil-070"})
            self.assertIn("rewritten", r.stderr)

    def test_truncated_during_run(self):
        with tmpdir() as d:
            inp, out, p = self.begin(d)
            with open(inp, "r+b") as f:
                f.truncate(os.path.getsize(inp) // 2)
            r = collect(p, timeout=120)
            self.check_stopped(r, out, 80, set())
            self.assertIn("shrank", r.stderr)


if __name__ == "__main__":
    unittest.main()

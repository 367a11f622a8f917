#!/usr/bin/env python3
"""Crash-safe checkpoint and resume.

Kills before the first commit and during the validation pass, torn tails
(plain and .gz), a full disk (test hook, and a real small tmpfs when root),
refusals (changed input, changed settings, results without a checkpoint),
--fresh keeping old files, no resend of committed jobs, `llmbatch report`
on an interrupted run, and money across resumes.  The long SIGKILL loop is
test_kill_loop.py."""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Mock, collect, run, start, tmpdir, write_jobs  # noqa: E402
from ckpt_util import (PP_PER_USD, LogTail, billed_pp, check_outputs,  # noqa: E402
                       ckpt_done_count, committed_ids, load_ckpt, read_report_file,
                       report, requested_ids, strict_lines, wait_mock_idle, wait_until)

BUDGET = 100


def fail400(n, every=97):
    """A few jobs that fail for good (so the errors file has lines)."""
    return {i: "mock:fail=400" for i in range(5, n, every)}


class Job:
    """One job directory: input, outputs, and the command that runs it."""

    def __init__(self, d, mock, n=400, gz=False, extra=(), faults=None, shape="openai",
                 ckpt=None, **wj):
        self.d = d
        self.mock = mock
        self.inp = os.path.join(d, "in.jsonl")
        ext = ".jsonl.gz" if gz else ".jsonl"
        self.out = os.path.join(d, "out" + ext)
        self.errs = os.path.join(d, "out.errors" + ext)
        self.rep = os.path.join(d, "out.report.json")
        self.ckpt = ckpt or self.out + ".ckpt"
        self.ids = write_jobs(self.inp, n, faults=faults, shape=shape, **wj)
        self.n = n
        self.cmd = ["run", self.inp, "-o", self.out, "--base-url", mock.url,
                    "--budget", BUDGET, "-q"] + list(extra)
        if ckpt:
            self.cmd += ["--checkpoint", ckpt]

    def run(self, *more, env=None, timeout=120):
        return run(self.cmd + list(more), env=env, timeout=timeout)

    def start(self, *more, env=None):
        return start(self.cmd + list(more), env=env)

    def interrupt(self, tc, min_done, sig=signal.SIGKILL, timeout=40):
        """Starts the run, waits until the checkpoint records >= min_done
        jobs, then sends sig.  Returns the CompletedProcess; asserts that the
        run was really interrupted (jobs still pending)."""
        p = self.start()
        got = wait_until(lambda: p.poll() is not None or
                         ckpt_done_count(self.ckpt) >= min_done, timeout)
        if p.poll() is not None:
            tc.fail("the run ended (rc %s) before it could be interrupted: %s"
                    % (p.returncode, collect(p).stderr[-1500:]))
        tc.assertTrue(got, "the checkpoint never reached %d done jobs" % min_done)
        p.send_signal(sig)
        r = collect(p, timeout=60)
        wait_mock_idle(self.mock)
        done = ckpt_done_count(self.ckpt)
        tc.assertLess(done, self.n, "nothing left to resume: make the run slower")
        return r

    def snapshot(self):
        out = {}
        for p in (self.out, self.errs, self.rep, self.ckpt):
            if os.path.exists(p):
                with open(p, "rb") as f:
                    out[p] = f.read()
        return out


def slow_mock(*extra):
    return Mock("--latency-ms", "40", *extra)


class Checkpoint(unittest.TestCase):

    # ------------------------------------------------------------ helpers

    def resume_to_end(self, job, expect=(0, 1), **kw):
        r = job.run(**kw)
        self.assertIn(r.returncode, expect, "resume: rc %s, stderr: %s"
                      % (r.returncode, r.stderr[-2000:]))
        return r

    def assert_no_resend(self, tail, committed):
        again = set(requested_ids(tail.new_entries())) & committed
        self.assertFalse(again, "%d jobs committed before the interruption were sent again, "
                         "e.g. %s" % (len(again), sorted(again)[:5]))

    # ------------------------------------------------------------ kills

    def test_kill_right_after_start_before_first_commit(self):
        """SIGKILL within the first instants (before or around the first
        commit); the rerun must resume cleanly (gz and plain)."""
        rng = random.Random(11)
        for gz in (True, False):
            for k in range(3):
                with self.subTest(gz=gz, round=k), tmpdir() as d, Mock() as mock:
                    job = Job(d, mock, n=150, gz=gz, faults=fail400(150))
                    p = job.start()
                    time.sleep(rng.uniform(0.0, 0.06) if k else 0.0)
                    p.kill()
                    collect(p)
                    wait_mock_idle(mock)
                    r = self.resume_to_end(job, expect=(1,))
                    check_outputs(self, job.out, job.errs, job.ids)
                    rep = read_report_file(job.rep)
                    self.assertEqual(rep["jobs"]["total"], 150)
                    self.assertEqual(rep["jobs"]["pending"], 0, r.stderr)

    def _validation_input(self, path, nbig, nvalid):
        """nvalid small valid jobs and nbig big invalid lines (sent to the
        errors file under --skip-invalid, never to the API): the validation
        pass has to read them all, the sending is short."""
        filler = "lorem " * 6000
        ids = []
        with open(path, "w") as f:
            for i in range(nbig + nvalid):
                cid = "job-%06d" % i
                if i % ((nbig + nvalid) // nvalid) == 0 and len(ids) < nvalid:
                    body = {"model": "mock-model", "max_tokens": 16,
                            "messages": [{"role": "user", "content": "hello %d" % i}],
                            "metadata": {"custom": cid}}
                    ids.append(cid)
                else:
                    body = {"model": "mock-model", "max_tokens": -1,
                            "messages": [{"role": "user", "content": filler}]}
                f.write(json.dumps({"custom_id": cid, "method": "POST",
                                    "url": "/v1/chat/completions", "body": body}) + "\n")
        return ids

    def _check_validation_outputs(self, out, errs, total, valid_ids):
        ok = strict_lines(out)
        bad = strict_lines(errs)
        self.assertEqual(len(ok) + len(bad), total, "lines: %d ok + %d errors != %d jobs"
                         % (len(ok), len(bad), total))
        keys = [r.get("custom_id") for r in ok + bad]
        self.assertEqual(len(set(keys)), total, "a job has more than one line")
        self.assertEqual(sorted(r["custom_id"] for r in ok), sorted(valid_ids))

    def test_kill_during_validation_pass(self):
        """SIGKILL while the input is still being validated (nothing sent
        yet), on the first run and on a resumed run (which validates again
        under --skip-invalid); the job still ends exactly once."""
        nbig, nvalid = 500, 100
        with tmpdir() as d, Mock() as mock:
            inp = os.path.join(d, "in.jsonl")
            out = os.path.join(d, "out.jsonl.gz")
            errs = os.path.join(d, "out.errors.jsonl.gz")
            ckpt = out + ".ckpt"
            valid = self._validation_input(inp, nbig, nvalid)
            cmd = ["run", inp, "-o", out, "--base-url", mock.url, "--budget", BUDGET,
                   "--skip-invalid", "-q", "--concurrency", 2, "--commit-every", 5]
            # 1. first run: kill while nothing was sent and no checkpoint exists
            hit = False
            for delay in (0.3, 0.15, 0.05, 0.02):
                for f in os.listdir(d):
                    if f != "in.jsonl":
                        os.unlink(os.path.join(d, f))
                mock.reset()
                p = start(cmd)
                time.sleep(delay)
                p.kill()
                collect(p)
                wait_mock_idle(mock)
                if mock.stats()["received"] == 0 and not os.path.exists(ckpt):
                    hit = True
                    break
            self.assertTrue(hit, "could not kill during the validation pass")
            # 2. resume partly, then kill during the resumed run's validation
            mock.config(latency_ms=100)
            p = start(cmd)
            self.assertTrue(wait_until(lambda: p.poll() is not None or
                                       ckpt_done_count(ckpt) >= nbig // 2 + 10, 40))
            p.kill()
            collect(p)
            wait_mock_idle(mock)
            self.assertLess(ckpt_done_count(ckpt), nbig + nvalid)
            mock.config(latency_ms=0)
            hit = False
            for delay in (0.2, 0.08, 0.03, 0.01):
                done_before = ckpt_done_count(ckpt)
                mock.reset()
                p = start(cmd)
                time.sleep(delay)
                p.kill()
                collect(p)
                wait_mock_idle(mock)
                if mock.stats()["received"] == 0:
                    hit = True
                    break
            self.assertTrue(hit, "could not kill during the resumed run's validation pass")
            self.assertEqual(ckpt_done_count(ckpt), done_before)
            # report works in between
            rep = report(self, ckpt)
            self.assertEqual(rep["jobs"]["done"] + rep["jobs"]["pending"], rep["jobs"]["total"])
            r = run(cmd, timeout=120)
            self.assertEqual(r.returncode, 1, r.stderr[-2000:])
            for path in (out, errs):
                self.assertEqual(subprocess.run(["gzip", "-t", path]).returncode, 0)
            self._check_validation_outputs(out, errs, nbig + nvalid, valid)

    def test_sigterm_then_resume(self):
        """SIGTERM mid-run: exit 143, then the rerun completes exactly once."""
        with tmpdir() as d, slow_mock() as mock:
            job = Job(d, mock, n=500, gz=True, faults=fail400(500),
                      extra=["--concurrency", 8, "--commit-every", 20, "--grace", 2])
            r = job.interrupt(self, 60, sig=signal.SIGTERM)
            self.assertEqual(r.returncode, 143, r.stderr[-2000:])
            rep = report(self, job.ckpt)
            self.assertGreater(rep["jobs"]["pending"], 0)
            tail = LogTail(mock)
            tail.new_entries()
            committed = committed_ids(job.ckpt, job.out, job.errs)
            self.assertEqual(len(committed), rep["jobs"]["done"])
            self.resume_to_end(job, expect=(1,))
            self.assert_no_resend(tail, committed)
            check_outputs(self, job.out, job.errs, job.ids)

    # ------------------------------------------------------------ torn tails

    def _torn_tail(self, gz):
        with tmpdir() as d, slow_mock() as mock:
            ck = os.path.join(d, "state", "my.ckpt")
            os.mkdir(os.path.dirname(ck))
            job = Job(d, mock, n=500, gz=gz, faults=fail400(500, every=23), ckpt=ck,
                      extra=["--concurrency", 8, "--commit-every", 20])
            job.interrupt(self, 60)
            self.assertFalse(os.path.exists(job.out + ".ckpt"),
                             "--checkpoint FILE given, but RESULTS.ckpt was written")
            committed = committed_ids(job.ckpt, job.out, job.errs)
            some = sorted(committed)[0]
            # torn tails: a half line naming a committed job, raw garbage,
            # and (gz) the start of another gzip member
            if gz:
                junk_ok = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff\x4b\x4c\x4a" + os.urandom(300)
                junk_err = b"garbage\x00\xff" + os.urandom(50)
            else:
                junk_ok = ('{"id":"batch_req_x","custom_id":"%s","response":{"status_c'
                           % some).encode()
                junk_err = b'{"custom_id":"job-000000","error":{"co'
            for path, junk in ((job.out, junk_ok), (job.errs, junk_err)):
                with open(path, "ab") as f:
                    f.write(junk)
            tail = LogTail(mock)
            tail.new_entries()
            self.resume_to_end(job, expect=(1,))
            self.assert_no_resend(tail, committed)
            check_outputs(self, job.out, job.errs, job.ids)
            for path, junk in ((job.out, junk_ok), (job.errs, junk_err)):
                with open(path, "rb") as f:
                    self.assertNotIn(junk, f.read(), "%s still holds the torn tail" % path)

    def test_torn_tail_gz(self):
        self._torn_tail(gz=True)

    def test_torn_tail_plain_jsonl(self):
        self._torn_tail(gz=False)

    # ------------------------------------------------------------ full disk

    def test_full_disk_injected_enospc(self):
        """Writes fail with ENOSPC after N bytes (test hook): exit 5 with a
        clear message, the checkpoint still loads, and a rerun without the
        hook completes exactly once.  Several N, including ones that hit
        the very first commit."""
        for gz in (True, False):
            for limit in (0, 20, 45, 300, 3000, 12000):
                with self.subTest(gz=gz, limit=limit), tmpdir() as d, Mock() as mock:
                    job = Job(d, mock, n=300, gz=gz, faults=fail400(300),
                              extra=["--commit-every", 25, "--concurrency", 16])
                    r = job.run(env={"LLMBATCH_TEST_ENOSPC_AFTER": str(limit)})
                    self.assertEqual(r.returncode, 5, "rc %s, stderr %s"
                                     % (r.returncode, r.stderr[-1500:]))
                    self.assertIn("No space left on device", r.stderr)
                    wait_mock_idle(mock)
                    committed = set()
                    if os.path.exists(job.ckpt):
                        rep = report(self, job.ckpt)
                        j = rep["jobs"]
                        self.assertEqual(j["done"] + j["pending"], j["total"])
                        self.assertEqual(j["total"], 300)
                        committed = committed_ids(job.ckpt, job.out, job.errs)
                        self.assertEqual(len(committed), j["done"])
                    tail = LogTail(mock)
                    tail.new_entries()
                    r2 = job.run()
                    self.assertEqual(r2.returncode, 1, "rerun after the full disk: rc %s, "
                                     "stderr %s" % (r2.returncode, r2.stderr[-1500:]))
                    self.assert_no_resend(tail, committed)
                    check_outputs(self, job.out, job.errs, job.ids)

    def test_full_disk_real_tmpfs(self):
        """A real full filesystem: a small tmpfs (root only)."""
        if os.geteuid() != 0 or not shutil.which("mount"):
            self.skipTest("needs root to mount a tmpfs (the hook test covers this)")
        mnt = tempfile.mkdtemp(prefix="llmb-e2e-tmpfs-", dir="/tmp")
        try:
            if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", mnt],
                              capture_output=True).returncode != 0:
                self.skipTest("cannot mount a tmpfs here")
            try:
                with tmpdir() as d, Mock() as mock:
                    n = 1500
                    inp = os.path.join(d, "in.jsonl")
                    ids = write_jobs(inp, n, faults=fail400(n))
                    out = os.path.join(mnt, "out.jsonl")
                    errs = os.path.join(mnt, "out.errors.jsonl")
                    ckpt = out + ".ckpt"
                    cmd = ["run", inp, "-o", out, "--base-url", mock.url, "--budget", BUDGET,
                           "-q", "--commit-every", 50]
                    r = run(cmd)
                    self.assertEqual(r.returncode, 5, "rc %s, stderr %s"
                                     % (r.returncode, r.stderr[-1500:]))
                    self.assertIn("No space left on device", r.stderr)
                    wait_mock_idle(mock)
                    rep = report(self, ckpt)
                    self.assertEqual(rep["jobs"]["total"], n)
                    self.assertGreater(rep["jobs"]["pending"], 0)
                    committed = committed_ids(ckpt, out, errs)
                    self.assertEqual(len(committed), rep["jobs"]["done"])
                    subprocess.run(["mount", "-o", "remount,size=16m", mnt], check=True)
                    tail = LogTail(mock)
                    tail.new_entries()
                    r2 = run(cmd)
                    self.assertEqual(r2.returncode, 1, r2.stderr[-1500:])
                    self.assert_no_resend(tail, committed)
                    check_outputs(self, out, errs, ids)
            finally:
                subprocess.run(["umount", mnt], capture_output=True)
        finally:
            os.rmdir(mnt)

    # ------------------------------------------------------------ refusals

    def test_changed_input_refused(self):
        """Same size, one byte different, and appended lines: refused (exit
        2), saying it changed and how to start over, nothing sent, nothing
        touched."""
        with tmpdir() as d, slow_mock() as mock:
            job = Job(d, mock, n=300, extra=["--concurrency", 8, "--commit-every", 20])
            job.interrupt(self, 40)
            with open(job.inp, "rb") as f:
                orig = f.read()
            pos = orig.index(b"Prompt 7:") + len(b"Prompt ")
            variants = {"same size": orig[:pos] + b"8" + orig[pos + 1:],
                        "appended": orig + orig.splitlines(True)[0].replace(
                            b"job-000000", b"job-999999")}
            for name, data in variants.items():
                with self.subTest(change=name):
                    with open(job.inp, "wb") as f:
                        f.write(data)
                    before = job.snapshot()
                    mock.reset()
                    r = job.run()
                    self.assertEqual(r.returncode, 2, r.stderr)
                    self.assertIn("changed", r.stderr.lower())
                    self.assertIn("--fresh", r.stderr)
                    self.assertEqual(mock.stats()["received"], 0)
                    self.assertEqual(job.snapshot(), before, "files changed by a refused run")
            with open(job.inp, "wb") as f:
                f.write(orig)
            self.resume_to_end(job, expect=(0,))
            check_outputs(self, job.out, job.errs, job.ids)

    def test_changed_settings_for_bare_lines_refused(self):
        """Bare lines completed from --model / --max-tokens: a different
        value on rerun would send other requests, so it is refused."""
        with tmpdir() as d, slow_mock() as mock:
            job = Job(d, mock, n=300, shape="bare",
                      extra=["--concurrency", 8, "--commit-every", 20,
                             "--model", "mock-model", "--max-tokens", 16])
            job.ids = ["line-%d" % i for i in range(1, 301)]
            job.interrupt(self, 40)
            base = [a for a in job.cmd]
            for name, swap in (("model", ("mock-model", "gpt-4o-mini")),
                               ("max-tokens", (16, 32))):
                with self.subTest(flag=name):
                    i = job.cmd.index("--" + name)
                    job.cmd[i + 1] = swap[1]
                    before = job.snapshot()
                    mock.reset()
                    r = job.run()
                    job.cmd = list(base)
                    self.assertEqual(r.returncode, 2, r.stderr)
                    self.assertIn("--fresh", r.stderr)
                    self.assertEqual(mock.stats()["received"], 0)
                    self.assertEqual(job.snapshot(), before)
            self.resume_to_end(job, expect=(0,))
            check_outputs(self, job.out, job.errs, job.ids)

    def test_results_without_checkpoint_refused(self):
        """An existing results (or errors) file with no checkpoint is never
        overwritten or appended to: exit 2, unless --fresh."""
        for which in ("results", "errors"):
            with self.subTest(file=which), tmpdir() as d, Mock() as mock:
                job = Job(d, mock, n=100, faults=fail400(100, every=31))
                target = job.out if which == "results" else job.errs
                precious = b'{"custom_id":"precious","response":{"status_code":200}}\n'
                with open(target, "wb") as f:
                    f.write(precious)
                r = job.run()
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn("--fresh", r.stderr)
                self.assertEqual(mock.stats()["received"], 0)
                with open(target, "rb") as f:
                    self.assertEqual(f.read(), precious)
                r = job.run("--fresh")
                self.assertEqual(r.returncode, 1, r.stderr)
                olds = [f for f in os.listdir(d)
                        if f.startswith(os.path.basename(target) + ".old-")]
                self.assertEqual(len(olds), 1, os.listdir(d))
                with open(os.path.join(d, olds[0]), "rb") as f:
                    self.assertEqual(f.read(), precious)
                check_outputs(self, job.out, job.errs, job.ids)

    def test_corrupt_checkpoint_refused(self):
        """A checkpoint that does not parse: refused (exit 2), nothing sent,
        outputs untouched."""
        with tmpdir() as d, Mock() as mock:
            job = Job(d, mock, n=100, faults=fail400(100))
            self.assertEqual(job.run().returncode, 1)
            with open(job.ckpt, "rb") as f:
                data = f.read()
            with open(job.ckpt, "wb") as f:
                f.write(data[:len(data) // 2])
            before = job.snapshot()
            mock.reset()
            r = job.run()
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("--fresh", r.stderr)
            self.assertEqual(mock.stats()["received"], 0)
            self.assertEqual(job.snapshot(), before)

    def test_results_shorter_than_checkpoint_refused(self):
        """Committed lines missing (file cut short, or deleted) cannot be
        resumed exactly once: refused, nothing sent, file not touched.
        (Exit 2 or 5; the design's codes allow either reading.)"""
        with tmpdir() as d, slow_mock() as mock:
            job = Job(d, mock, n=300, extra=["--concurrency", 8, "--commit-every", 20])
            job.interrupt(self, 60)
            size = load_ckpt(job.ckpt)["results_size"]
            self.assertGreater(size, 0)
            with open(job.out, "r+b") as f:
                f.truncate(size - 10)
            for case in ("cut", "deleted"):
                with self.subTest(case=case):
                    if case == "deleted":
                        os.unlink(job.out)
                    before = job.snapshot()
                    mock.reset()
                    r = job.run()
                    self.assertIn(r.returncode, (2, 5), r.stderr)
                    self.assertIn("--fresh", r.stderr)
                    self.assertEqual(mock.stats()["received"], 0)
                    after = job.snapshot()
                    if case == "deleted" and after.get(job.out) == b"":
                        del after[job.out]      # an empty file left behind is harmless
                    self.assertEqual(after, before)

    # ------------------------------------------------------------ --fresh

    def test_fresh_moves_old_files_aside(self):
        """--fresh (twice, within the same second) moves results, errors,
        report and checkpoint aside unchanged, and starts over."""
        for gz in (False, True):
            with self.subTest(gz=gz), tmpdir() as d, Mock() as mock:
                job = Job(d, mock, n=200, gz=gz, faults=fail400(200))
                self.assertEqual(job.run().returncode, 1)
                first = job.snapshot()
                self.assertEqual(len(first), 4, sorted(first))
                mock.reset()
                r = job.run("--fresh")
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertEqual(mock.stats()["received"], 200, "--fresh did not start over")
                check_outputs(self, job.out, job.errs, job.ids)
                second = job.snapshot()
                r = job.run("--fresh")
                self.assertEqual(r.returncode, 1, r.stderr)
                check_outputs(self, job.out, job.errs, job.ids)
                for path in first:
                    base = os.path.basename(path)
                    olds = sorted(f for f in os.listdir(d) if f.startswith(base + ".old-"))
                    self.assertEqual(len(olds), 2, "%s: old copies %s" % (base, olds))
                    contents = []
                    for o in olds:
                        with open(os.path.join(d, o), "rb") as f:
                            contents.append(f.read())
                    self.assertIn(first[path], contents, "%s: first run's file lost" % base)
                    self.assertIn(second[path], contents, "%s: second run's file lost" % base)

    # ------------------------------------------------------------ no resend

    def test_completed_job_rerun_sends_nothing(self):
        for gz in (False, True):
            with self.subTest(gz=gz), tmpdir() as d, Mock() as mock:
                job = Job(d, mock, n=200, gz=gz, faults=fail400(200))
                r1 = job.run()
                self.assertEqual(r1.returncode, 1, r1.stderr)
                outs = {p: v for p, v in job.snapshot().items() if p in (job.out, job.errs)}
                mock.reset()
                for _ in range(2):
                    r = job.run()
                    self.assertEqual(r.returncode, r1.returncode, r.stderr)
                    self.assertEqual(mock.stats()["received"], 0)
                    now = {p: v for p, v in job.snapshot().items() if p in outs}
                    self.assertEqual(now, outs, "outputs changed by a rerun of a finished job")
                rep = read_report_file(job.rep)
                self.assertEqual(rep["jobs"]["total"], 200)
                self.assertEqual(rep["jobs"]["pending"], 0)
                check_outputs(self, job.out, job.errs, job.ids)

    def test_resume_sends_no_committed_job_and_report_counts(self):
        """After SIGKILL: `llmbatch report` shows done + pending = total
        (done = the committed lines), and the resumed run never requests a
        job whose line was committed."""
        with tmpdir() as d, slow_mock() as mock:
            job = Job(d, mock, n=600, gz=True, faults=fail400(600, every=41),
                      extra=["--concurrency", 8, "--commit-every", 25])
            r = job.interrupt(self, 100)
            self.assertEqual(r.returncode, -signal.SIGKILL)
            rep = report(self, job.ckpt)
            jobs = rep["jobs"]
            self.assertEqual(jobs["total"], 600)
            self.assertEqual(jobs["done"] + jobs["pending"], jobs["total"])
            self.assertGreater(jobs["pending"], 0)
            committed = committed_ids(job.ckpt, job.out, job.errs)
            self.assertEqual(jobs["done"], len(committed))
            self.assertGreaterEqual(jobs["done"], 100)
            self.assertEqual(jobs["succeeded"] + jobs["failed"], jobs["done"])
            tail = LogTail(mock)
            tail.new_entries()
            self.resume_to_end(job, expect=(1,))
            self.assert_no_resend(tail, committed)
            check_outputs(self, job.out, job.errs, job.ids)
            self.assertEqual(report(self, job.ckpt)["jobs"]["pending"], 0)

    # ------------------------------------------------------------ money

    def test_money_across_resumes(self):
        """Requests in flight at a SIGKILL are counted as possibly billed
        (reserved_unconfirmed > 0); the final total covers everything the
        mock billed in all runs and stays under the budget."""
        with tmpdir() as d, Mock("--latency-ms", "250") as mock:
            job = Job(d, mock, n=160, extra=["--concurrency", 16, "--commit-every", 10])
            job.interrupt(self, 30)
            self.assertGreater(mock.stats()["billed_fault_requests"], 0,
                               "no request was in flight at the kill")
            mid = report(self, job.ckpt)
            self.assertGreater(mid["cost_usd"]["reserved_unconfirmed"], 0, mid["cost_usd"])
            self.resume_to_end(job, expect=(0,))
            rep = read_report_file(job.rep)
            cost = rep["cost_usd"]
            self.assertGreater(cost["reserved_unconfirmed"], 0, cost)
            billed = billed_pp(mock)
            self.assertGreaterEqual(int(cost["total_pp"]), billed,
                                    "report total < what the mock billed: %s vs %d pp"
                                    % (cost, billed))
            self.assertLessEqual(int(cost["total_pp"]), BUDGET * PP_PER_USD)
            check_outputs(self, job.out, job.errs, job.ids)

    def test_budget_cap_holds_across_kills_then_larger_budget_continues(self):
        """A tight --budget over several SIGKILLed runs: the job stops at the
        cap (exit 3) with the whole job's spend, counted across runs, within
        the cap and covering what the mock billed.  Then a larger --budget on
        rerun continues the job to the end, exactly once."""
        rng = random.Random(3)
        cap_usd = 0.012
        with tmpdir() as d, Mock("--latency-ms", "30") as mock:
            job = Job(d, mock, n=400, gz=True, extra=["--concurrency", 8, "--commit-every", 10])
            i = job.cmd.index("--budget")
            job.cmd[i + 1] = cap_usd
            for _ in range(4):
                p = job.start()
                time.sleep(rng.uniform(0.3, 0.9))
                p.kill()
                collect(p)
                wait_mock_idle(mock)
            r = job.run()
            self.assertEqual(r.returncode, 3, r.stderr[-1500:])
            wait_mock_idle(mock)
            rep = read_report_file(job.rep)
            total = int(rep["cost_usd"]["total_pp"])
            billed = billed_pp(mock)
            self.assertLessEqual(total, int(cap_usd * PP_PER_USD),
                                 "spend over all runs exceeds the budget: %s" % rep["cost_usd"])
            self.assertGreaterEqual(total, billed, "report total %d < mock billed %d"
                                    % (total, billed))
            self.assertGreater(rep["jobs"]["pending"], 0)
            lines = strict_lines(job.out) + strict_lines(job.errs)
            got = [x["custom_id"] for x in lines]
            self.assertEqual(len(got), len(set(got)), "duplicate lines")
            self.assertEqual(len(got), rep["jobs"]["total"] - rep["jobs"]["pending"])
            # more money: the same job goes on
            committed = committed_ids(job.ckpt, job.out, job.errs)
            tail = LogTail(mock)
            tail.new_entries()
            job.cmd[i + 1] = BUDGET
            self.resume_to_end(job, expect=(0,))
            self.assert_no_resend(tail, committed)
            check_outputs(self, job.out, job.errs, job.ids)
            rep = read_report_file(job.rep)
            self.assertGreaterEqual(int(rep["cost_usd"]["total_pp"]), billed_pp(mock))


if __name__ == "__main__":
    from harness import main
    main()

"""
e2e: one job as N shards sharing a ledger held in Redis (--ledger NAME
--redis URL, --shard I/N, llmbatch merge).

redis-server (Debian's) is started by the test on a free loopback port and
stopped by it; the whole file is skipped (exit 77) when it is missing.  The
mock server is the oracle for money (its billed total) and for pacing (its
request log's arrival times).
"""

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (Mock, run, start, collect, read_jsonl, tmpdir, write_lines,  # noqa: E402
                     main, OPENAI_TEST_KEY)
from budget_util import (usd_to_pusd, reservation, openai_line, body_of,  # noqa: E402
                         billed_total)
from ratelimit_util import max_window  # noqa: E402

REDIS = shutil.which("redis-server")
N = 3
JITTER = 0.05          # windows measured this much shorter (arrival-time jitter)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Redis:
    """redis-server on a free loopback port, no persistence."""

    def __init__(self):
        self.proc = None
        for _ in range(5):
            self.port = free_port()
            self.proc = subprocess.Popen(
                [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if self._wait_ready():
                self.url = "redis://127.0.0.1:%d/0" % self.port
                return
            self.stop()
        raise RuntimeError("cannot start redis-server")

    def _wait_ready(self):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return True
            except OSError:
                time.sleep(0.05)
        return False

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def shard_files(d, i):
    base = os.path.join(d, "out.shard-%d-of-%d" % (i, N))
    return base + ".jsonl", base + ".errors.jsonl", base + ".report.json"


def lines_for(n, rng, prefix):
    words = "alpha bravo charlie delta echo foxtrot golf hotel".split()
    return [openai_line("%s-%05d" % (prefix, j),
                        "Prompt %d: %s" % (j, " ".join(rng.choice(words)
                                                       for _ in range(rng.randint(2, 12)))),
                        max_tokens=rng.choice([8, 16, 64, 128]))
            for j in range(n)]


def shard_args(inp, d, mock, redis, ledger, i, extra=()):
    return ["run", inp, "-o", os.path.join(d, "out.jsonl"), "--base-url", mock.url,
            "--ledger", ledger, "--redis", redis.url, "--shard", "%d/%d" % (i, N),
            "--concurrency", 64, "--timeout", 5, "-q"] + list(extra)


def run_shards(inp, d, mock, redis, ledger, extra=(), timeout=60):
    ps = [start(shard_args(inp, d, mock, redis, ledger, i, extra)) for i in range(N)]
    return [collect(p, timeout=timeout) for p in ps]


def ended_ids(path, errors):
    ids = [r["custom_id"] for r in read_jsonl(path)]
    if os.path.exists(errors):
        ids += [r["custom_id"] for r in read_jsonl(errors)]
    return ids


@unittest.skipUnless(REDIS, "redis-server is not installed")
class SharedLedger(unittest.TestCase):

    def test_shared_budget_randomized(self):
        """3 shards x concurrency 64, worst-case usage and faults: the mock's
        billed total never passes the shared budget, and most of it is used."""
        master = random.Random(int(os.environ.get("LLMB_LEDGER_SEED", "13013")))
        with Redis() as redis, Mock("--usage", "worst") as mock, tmpdir() as top:
            for run_no in range(3):
                rng = random.Random(master.getrandbits(32))
                lines = lines_for(rng.randint(300, 450), rng, "b%d" % run_no)
                total = sum(reservation(body_of(l)) for l in lines)
                budget = "%.8f" % (total * rng.uniform(0.25, 0.6) / 1e12)
                budget_pp = usd_to_pusd(budget)
                kinds = ["500", "503", "reset", "truncate", "nousage"]
                faults = ",".join("%s=%.3f" % (k, rng.uniform(0.01, 0.05))
                                  for k in rng.sample(kinds, rng.randint(1, 3)))
                mock.reset(all=True)
                mock.config(faults=faults, usage="worst", seed=rng.getrandbits(31),
                            latency_ms=rng.choice([0, 5, 20]))
                d = os.path.join(top, "run%d" % run_no)
                os.mkdir(d)
                inp = os.path.join(d, "in.jsonl")
                write_lines(inp, lines)
                desc = "run %d: %d jobs, budget %s, faults %s" % (run_no, len(lines), budget,
                                                                  faults)
                ps = run_shards(inp, d, mock, redis, "budget%d" % run_no,
                                ["--budget", budget, "--max-retries", 1])
                billed = billed_total(mock.stats())
                self.assertLessEqual(billed, budget_pp, "%s: the mock billed %d > budget %d"
                                     % (desc, billed, budget_pp))
                jobs = 0
                for i, p in enumerate(ps):
                    self.assertIn(p.returncode, (0, 1, 3), "%s shard %d: %s"
                                  % (desc, i, p.stderr[-1500:]))
                    rep = json.load(open(shard_files(d, i)[2]))
                    jobs += rep["jobs"]["total"]
                    self.assertLessEqual(rep["jobs"]["total"], len(lines) // N + 1)
                self.assertEqual(jobs, len(lines), desc)
                self.assertTrue(any(p.returncode == 3 for p in ps), "%s: cap never hit" % desc)
                # most of the shared budget was used (a shard stops only when
                # the spend plus its next reservation would pass the cap)
                if os.environ.get("LLMB_E2E_VERBOSE"):
                    sys.stderr.write("\n[shared budget] %s: billed %.1f%% of it\n"
                                     % (desc, 100.0 * billed / budget_pp))
                self.assertGreaterEqual(billed, budget_pp * 0.6,
                                        "%s: only %d of %d used" % (desc, billed, budget_pp))

    def test_shared_rpm(self):
        """3 shards share --rpm: no window of the mock's log holds more than
        N*W/60 + 1 requests in total."""
        rpm = 300
        with Redis() as redis, Mock() as mock, tmpdir() as d:
            inp = os.path.join(d, "in.jsonl")
            write_lines(inp, lines_for(45, random.Random(5), "r"))
            ps = run_shards(inp, d, mock, redis, "rpm", ["--rpm", rpm])
            for i, p in enumerate(ps):
                self.assertEqual(p.returncode, 0, "shard %d: %s" % (i, p.stderr[-1500:]))
            ts = sorted(e["t"] for e in mock.log_entries() if e.get("custom"))
            self.assertEqual(len(ts), 45)
            for w in (0.5, 1, 2, 5):
                got = max_window(ts, w - JITTER)
                self.assertLessEqual(got, rpm * w / 60.0 + 1,
                                     "window %.1f s: %d requests" % (w, got))
            # paced as one ceiling, not three: 45 requests need >= 44 steps
            self.assertGreaterEqual(ts[-1] - ts[0], 44 * 60.0 / rpm - 2 * JITTER)

    def test_kill_rerun_merge_exactly_once(self):
        """A shard killed with kill -9 and rerun; merge refuses while it is
        incomplete, then joins every job exactly once; merge also refuses
        missing, repeated and foreign shards."""
        with Redis() as redis, Mock("--latency-ms", "30") as mock, tmpdir() as d:
            inp = os.path.join(d, "in.jsonl")
            n = 600
            write_lines(inp, lines_for(n, random.Random(7), "k"))
            ps = [start(shard_args(inp, d, mock, redis, "kill", i, ["--concurrency", 4]))
                  for i in range(N)]
            res1 = shard_files(d, 1)[0]
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and (
                    not os.path.exists(res1) or os.path.getsize(res1) < 2000):
                time.sleep(0.02)
            os.kill(ps[1].pid, signal.SIGKILL)
            done = [collect(p, timeout=60) for p in ps]
            self.assertEqual(done[0].returncode, 0, done[0].stderr[-1500:])
            self.assertEqual(done[2].returncode, 0, done[2].stderr[-1500:])
            self.assertEqual(done[1].returncode, -signal.SIGKILL)
            outs = [shard_files(d, i)[0] for i in range(N)]
            merged = os.path.join(d, "merged.jsonl")
            p = run(["merge", "-o", merged] + outs)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn("shard 1/3", p.stderr)
            self.assertIn("incomplete", p.stderr)
            self.assertFalse(os.path.exists(merged))
            p = run(shard_args(inp, d, mock, redis, "kill", 1))
            self.assertEqual(p.returncode, 0, p.stderr[-1500:])
            # refusals: a missing shard, a repeated one, another job's shard
            p = run(["merge", "-o", merged, outs[0], outs[2]])
            self.assertEqual(p.returncode, 2)
            self.assertIn("shard 1/3 is missing", p.stderr)
            p = run(["merge", "-o", merged, outs[0], outs[1], outs[1], outs[2]])
            self.assertEqual(p.returncode, 2)
            self.assertIn("given twice", p.stderr)
            other = os.path.join(d, "other")
            os.mkdir(other)
            oinp = os.path.join(other, "in.jsonl")
            write_lines(oinp, lines_for(6, random.Random(8), "o"))
            p = run(shard_args(oinp, other, mock, redis, "kill", 0))
            self.assertEqual(p.returncode, 0, p.stderr[-1500:])
            p = run(["merge", "-o", merged, shard_files(other, 0)[0], outs[1], outs[2]])
            self.assertEqual(p.returncode, 2)
            self.assertIn("not of the same job", p.stderr)
            self.assertFalse(os.path.exists(merged))
            # the complete set merges: every job exactly once
            mreport = os.path.join(d, "merged.report.json")
            p = run(["merge", "-o", merged, "--report", mreport] + outs)
            self.assertEqual(p.returncode, 0, p.stderr)
            ids = ended_ids(merged, os.path.join(d, "merged.errors.jsonl"))
            self.assertEqual(len(ids), n)
            self.assertEqual(set(ids), {"k-%05d" % j for j in range(n)})
            rep = json.load(open(mreport))
            self.assertEqual(rep["jobs"]["total"], n)
            self.assertEqual(rep["jobs"]["succeeded"] + rep["jobs"]["failed"], n)
            self.assertEqual(rep["shards"], N)

    def test_redis_lost_mid_run(self):
        """Redis killed mid-run: every shard stops admitting and exits 5
        promptly, and the mock's billed total stays under the budget."""
        with Redis() as redis, Mock("--usage", "worst", "--latency-ms", "100") as mock, \
                tmpdir() as d:
            inp = os.path.join(d, "in.jsonl")
            lines = lines_for(3000, random.Random(9), "x")
            write_lines(inp, lines)
            budget = "%.8f" % (sum(reservation(body_of(l)) for l in lines) * 0.5 / 1e12)
            ps = [start(shard_args(inp, d, mock, redis, "lost", i, ["--budget", budget]))
                  for i in range(N)]
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and mock.stats()["received"] < 200:
                time.sleep(0.05)
            redis.kill()
            t_kill, wall_kill = time.monotonic(), time.time()
            done = [collect(p, timeout=30) for p in ps]
            elapsed = time.monotonic() - t_kill
            for i, p in enumerate(done):
                self.assertEqual(p.returncode, 5, "shard %d: %s" % (i, p.stderr[-1500:]))
                self.assertIn("shared ledger", p.stderr)
            self.assertLess(elapsed, 25)
            st = mock.stats()
            self.assertLessEqual(billed_total(st), usd_to_pusd(budget))
            # admission stopped: a shard notices at its next round trip (at
            # most a lease span, 1 s, later) and sends nothing after that;
            # what was in flight then arrived long before this bound
            late = [e for e in mock.log_entries() if e.get("custom") and
                    e["t"] > wall_kill + 2.5]
            self.assertEqual(late, [], "requests arrived well after Redis was gone")
            self.assertLess(st["received"], len(lines))
            # what ended before the loss is committed: a rerun resumes it
            for i in range(N):
                out, errs, _ = shard_files(d, i)
                ck = json.load(open(out + ".ckpt"))
                self.assertFalse(ck["complete"])

    def test_key_state_is_shared(self):
        """A key one process found exhausted is exhausted for every process
        of the ledger (shared by fingerprint): the next one sends nothing."""
        with Redis() as redis, Mock("--exhausted-keys", OPENAI_TEST_KEY) as mock, \
                tmpdir() as d:
            inp = os.path.join(d, "in.jsonl")
            write_lines(inp, lines_for(20, random.Random(3), "e"))
            p = run(shard_args(inp, d, mock, redis, "keys", 0))
            self.assertEqual(p.returncode, 4, p.stderr[-1500:])
            self.assertGreater(mock.stats()["received"], 0)
            mock.config(exhausted_keys=[])      # the server would answer now
            mock.reset()
            p = run(shard_args(inp, d, mock, redis, "keys", 1))
            self.assertEqual(p.returncode, 4, p.stderr[-1500:])
            self.assertEqual(mock.stats()["received"], 0)
            # a ledger that never saw the key: the same shard runs
            p = run(shard_args(inp, d, mock, redis, "keys-other", 1, ["--fresh"]))
            self.assertEqual(p.returncode, 0, p.stderr[-1500:])
            self.assertGreater(mock.stats()["received"], 0)
            # the ledger names the key by its fingerprint, never the key
            show = run(["ledger", "show", "keys", "--redis", redis.url])
            self.assertEqual(show.returncode, 0, show.stderr)
            self.assertNotIn(OPENAI_TEST_KEY, show.stdout + show.stderr)
            self.assertNotIn(OPENAI_TEST_KEY[-8:], show.stdout + show.stderr)
            states = [k["state"] for k in json.loads(show.stdout)["keys"]]
            self.assertIn(2, states)            # KEY_EXHAUSTED (runner/keys.h)


    def test_two_jobs_share_a_keys_announced_limit(self):
        """Two separate jobs on the same key and ledger pace together at the
        limit the server announces for the key, not each at the whole of it."""
        rpm, n = 1200, 40
        with Redis() as redis, Mock("--rpm", rpm) as mock, tmpdir() as top:
            ps = []
            for j in range(2):
                d = os.path.join(top, "job%d" % j)
                os.mkdir(d)
                inp = os.path.join(d, "in.jsonl")
                write_lines(inp, lines_for(n, random.Random(20 + j), "j%d" % j))
                ps.append(start(["run", inp, "-o", os.path.join(d, "out.jsonl"),
                                 "--base-url", mock.url, "--ledger", "one-key",
                                 "--redis", redis.url, "--concurrency", 16, "-q"]))
            for p in [collect(p, timeout=60) for p in ps]:
                self.assertEqual(p.returncode, 0, p.stderr[-1500:])
            ts = sorted(e["t"] for e in mock.log_entries() if e.get("custom"))
            self.assertEqual(len(ts), 2 * n)
            # before a reply shows the limit each job keeps at most 4 in
            # flight (slow start): 8 requests beyond the shared pace
            for w in (1, 2):
                got = max_window(ts, w - JITTER)
                self.assertLessEqual(got, rpm * w / 60.0 + 1 + 8,
                                     "window %d s: %d requests" % (w, got))
            self.assertLessEqual(mock.stats()["rate_limited"], 2)


class WithoutRedis(unittest.TestCase):

    def test_every_shard_validates_the_whole_input(self):
        """A bad line of shard 1 is refused by shard 0 too, before anything
        is sent; shard 0 of a good input sends only its own jobs."""
        with Mock() as mock, tmpdir() as d:
            inp = os.path.join(d, "in.jsonl")
            lines = lines_for(30, random.Random(2), "v")
            lines[4] = {"custom_id": "bad", "method": "POST", "url": "/v1/chat/completions"}
            write_lines(inp, lines)
            p = run(["run", inp, "-o", os.path.join(d, "out.jsonl"), "--base-url", mock.url,
                     "--shard", "0/3"])
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn("nothing was sent", p.stderr)
            self.assertEqual(mock.stats()["received"], 0)
            lines[4] = lines_for(5, random.Random(2), "w")[4]
            write_lines(inp, lines)
            p = run(["run", inp, "-o", os.path.join(d, "out.jsonl"), "--base-url", mock.url,
                     "--shards", "3", "-q"], env={"JOB_COMPLETION_INDEX": "2"})
            self.assertEqual(p.returncode, 0, p.stderr)
            out, _, rep = shard_files(d, 2)
            got = sorted(r["custom_id"] for r in read_jsonl(out))
            want = sorted(lines[j]["custom_id"] for j in range(2, 30, 3))
            self.assertEqual(got, want)
            self.assertEqual(json.load(open(rep))["jobs"]["total"], 10)
            self.assertEqual(mock.stats()["received"], 10)

    def test_redis_unreachable_at_start(self):
        with Mock() as mock, tmpdir() as d:
            inp = os.path.join(d, "in.jsonl")
            write_lines(inp, lines_for(5, random.Random(1), "u"))
            p = run(["run", inp, "-o", os.path.join(d, "out.jsonl"), "--base-url", mock.url,
                     "--ledger", "u", "--redis", "redis://127.0.0.1:%d/0" % free_port()])
            self.assertEqual(p.returncode, 2)
            self.assertIn("shared ledger 'u'", p.stderr)
            self.assertIn("nothing was sent", p.stderr)
            self.assertEqual(mock.stats()["received"], 0)


if __name__ == "__main__":
    main()

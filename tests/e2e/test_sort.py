#!/usr/bin/env python3
"""llmbatch sort (issue 14): a results file back into input order.

A shuffled results file in the OpenAI batch output format (as another tool
would write it: its own ids, bare-line "line-N" custom_ids, blank input
lines), plain and gzip, in place and with -o: the lines come out in input
order, byte for byte the same multiset, nothing lost or duplicated.  Then a
real run's gzip results, shuffled and sorted in place: the checkpoint is
updated so that rerunning the run sends nothing and keeps the sorted file.
"""

import gzip
import json
import os
import random
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Mock, collect, run, start, tmpdir, write_jobs  # noqa: E402
import signal  # noqa: E402
import time  # noqa: E402


def dump_ckpt(ck, path):
    """Writes a hand-edited checkpoint as llmbatch does: compact JSON whose
    last field is the SHA-256 of the text before it (else it is refused)."""
    import hashlib
    ck = {k: v for k, v in ck.items() if k != "checksum"}
    text = json.dumps(ck, separators=(",", ":")).encode()
    with open(path, "wb") as f:
        f.write(text[:-1] + b',"checksum":"sha256:' + hashlib.sha256(text).hexdigest().encode()
                + b'"}')


def raw_lines(path):
    """The file's lines as bytes (gunzipped when it is gzip), without "\\n"."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.split(b"\n")[:-1] if data.endswith(b"\n") else data.split(b"\n")


def write_raw(path, lines, gz):
    data = b"".join(line + b"\n" for line in lines)
    if gz:
        data = gzip.compress(data)
    with open(path, "wb") as f:
        f.write(data)


def make_input(path, n, rng):
    """Mixed input: OpenAI batch lines, bare prompts (ids line-N), blank
    lines.  Returns the custom_ids in input order."""
    ids = []
    with open(path, "w") as f:
        lineno = 0
        for i in range(n):
            if rng.random() < 0.1:
                f.write("\n" if rng.random() < 0.5 else "  \t\n")
                lineno += 1
            lineno += 1
            if i % 3 == 0:
                f.write(json.dumps({"prompt": "p%d" % i}) + "\n")
                ids.append("line-%d" % lineno)
            else:
                cid = "id-%d-%s" % (i, "é" if i % 7 == 0 else "x")
                f.write(json.dumps({"custom_id": cid, "method": "POST",
                                    "url": "/v1/chat/completions",
                                    "body": {"model": "m", "messages": []}}) + "\n")
                ids.append(cid)
    return ids


def foreign_line(cid, k):
    """A line as another tool writes it (its own ids, key order, spacing)."""
    return json.dumps({"id": "batch_req_other_%d" % k, "custom_id": cid,
                       "response": {"status_code": 200, "request_id": "r%d" % k,
                                    "body": {"choices": [{"text": "answer %d" % k}]}},
                       "error": None}).encode()


class SortForeign(unittest.TestCase):
    def check_sorted(self, out, want_ids, original_lines):
        got = raw_lines(out)
        self.assertEqual(sorted(got), sorted(original_lines),
                         "a line was lost, duplicated or changed")
        ids = [json.loads(line)["custom_id"] for line in got]
        self.assertEqual(ids, want_ids)

    def sort_case(self, gz, in_place):
        rng = random.Random(14 + gz * 2 + in_place)
        with tmpdir() as d:
            inp = os.path.join(d, "in.jsonl")
            ids = make_input(inp, 400, rng)
            lines = [foreign_line(cid, k) for k, cid in enumerate(ids)]
            shuffled = lines[:]
            rng.shuffle(shuffled)
            self.assertNotEqual(shuffled, lines)
            res = os.path.join(d, "res.jsonl" + (".gz" if gz else ""))
            write_raw(res, shuffled, gz)
            out = res if in_place else os.path.join(d, "sorted.jsonl" + (".gz" if gz else ""))
            args = ["sort", res, "--input", inp] + ([] if in_place else ["-o", out])
            r = run(args)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("sorted 400 lines", r.stderr)
            self.check_sorted(out, ids, lines)
            with open(out, "rb") as f:
                self.assertEqual(f.read(2) == b"\x1f\x8b", bool(gz))
            if not in_place:                      # the original is untouched
                self.assertEqual(raw_lines(res), shuffled)
            self.assertEqual(sorted(os.listdir(d)),
                             sorted(["in.jsonl", os.path.basename(res)] +
                                    ([] if in_place else [os.path.basename(out)])),
                             "a temp file was left behind")

    def test_plain_to_out(self):
        self.sort_case(gz=0, in_place=0)

    def test_plain_in_place(self):
        self.sort_case(gz=0, in_place=1)

    def test_gzip_to_out(self):
        self.sort_case(gz=1, in_place=0)

    def test_gzip_in_place(self):
        self.sort_case(gz=1, in_place=1)

    def test_unknown_ids_kept_at_end(self):
        with tmpdir() as d:
            inp = os.path.join(d, "in.jsonl")
            ids = make_input(inp, 30, random.Random(3))
            lines = [foreign_line(cid, k) for k, cid in enumerate(ids)]
            extra = [foreign_line("stranger-%d" % k, 1000 + k) for k in range(3)]
            shuffled = lines + extra
            random.Random(4).shuffle(shuffled)
            res = os.path.join(d, "res.jsonl")
            write_raw(res, shuffled, 0)
            r = run(["sort", res, "--input", inp])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("3 lines of %s have a custom_id that is not in" % res, r.stderr)
            got = raw_lines(res)
            self.assertEqual(got[:30], lines)
            self.assertEqual(got[30:], [x for x in shuffled if x in extra])

    def test_bad_lines_are_errors(self):
        with tmpdir() as d:
            inp = os.path.join(d, "in.jsonl")
            ids = make_input(inp, 10, random.Random(5))
            lines = [foreign_line(cid, k) for k, cid in enumerate(ids)]
            bad = lines[:4] + [b"{not json"] + lines[4:7] + [b'{"id":"x"}'] + lines[7:]
            res = os.path.join(d, "res.jsonl")
            write_raw(res, bad, 0)
            before = open(res, "rb").read()
            r = run(["sort", res, "--input", inp])
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("%s:5: not valid JSON" % res, r.stderr)
            self.assertIn('%s:9: no "custom_id"' % res, r.stderr)
            self.assertIn("2 unreadable lines", r.stderr)
            self.assertEqual(open(res, "rb").read(), before)
            self.assertEqual(sorted(os.listdir(d)), ["in.jsonl", "res.jsonl"])

    def test_usage_errors(self):
        with tmpdir() as d:
            r = run(["sort", os.path.join(d, "nope.jsonl"), "--input", os.path.join(d, "x")])
            self.assertEqual(r.returncode, 2)
            self.assertIn("nope.jsonl", r.stderr)
            r = run(["sort", os.path.join(d, "nope.jsonl")])
            self.assertEqual(r.returncode, 2)
            self.assertIn("usage: llmbatch sort", r.stderr)
            inp = os.path.join(d, "in.jsonl")
            make_input(inp, 5, random.Random(1))
            res = os.path.join(d, "res.jsonl")
            write_raw(res, [foreign_line("line-1", 0)], 0)
            before = open(inp, "rb").read()
            r = run(["sort", res, "--input", inp, "-o", inp])
            self.assertEqual(r.returncode, 2)
            self.assertIn("must not be the results file or the output", r.stderr)
            self.assertEqual(open(inp, "rb").read(), before)


class SortKilled(unittest.TestCase):
    def test_kill_9_leaves_the_old_file_or_the_sorted_one(self):
        """In place, the file is replaced atomically: a kill -9 at any point
        leaves either the original bytes or the complete sorted file, and a
        rerun finishes the job."""
        rng = random.Random(21)
        with tmpdir() as d:
            inp = os.path.join(d, "in.jsonl")
            ids = make_input(inp, 40000, rng)
            pad = "z" * 300
            lines = [json.dumps({"id": "o%d" % k, "custom_id": cid,
                                 "response": {"status_code": 200, "body": {"t": pad}},
                                 "error": None}).encode() for k, cid in enumerate(ids)]
            shuffled = lines[:]
            rng.shuffle(shuffled)
            res = os.path.join(d, "res.jsonl.gz")
            write_raw(res, shuffled, 1)
            for delay in (0.05, 0.3, 0.8):
                with open(res, "rb") as f:
                    before = f.read()
                p = start(["sort", res, "--input", inp])
                time.sleep(delay)
                p.send_signal(signal.SIGKILL)
                collect(p)
                with open(res, "rb") as f:
                    now = f.read()
                if now != before:                          # it had finished
                    self.assertEqual(raw_lines(res), lines)
                r = run(["sort", res, "--input", inp])
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(raw_lines(res), lines)
                write_raw(res, shuffled, 1)
            leftovers = [x for x in os.listdir(d) if x.startswith(".llmbatch-sort")]
            self.assertEqual(leftovers, [])


class SortOwnRun(unittest.TestCase):
    def test_run_results_sorted_in_place_then_rerun(self):
        with Mock() as mock, tmpdir() as d:
            inp = os.path.join(d, "in.jsonl")
            n = 120
            faults = {i: "mock:fail=400" for i in range(5, n, 17)}
            write_jobs(inp, n, shape="openai", faults=faults)
            out = os.path.join(d, "out.jsonl.gz")
            args = ["run", inp, "-o", out, "--base-url", mock.url, "--concurrency", "16", "-q"]
            r = run(args)
            self.assertEqual(r.returncode, 1, r.stderr)      # some jobs failed
            lines = raw_lines(out)
            self.assertEqual(len(lines), n - len(faults))
            shuffled = lines[:]
            random.Random(9).shuffle(shuffled)
            write_raw(out, shuffled, 1)
            # the checkpoint names the run's size; make it match the shuffled file
            ckpt = out + ".ckpt"
            with open(ckpt) as f:
                ck = json.load(f)
            ck["results_size"] = os.path.getsize(out)
            dump_ckpt(ck, ckpt)

            r = run(["sort", out, "--input", inp])
            self.assertEqual(r.returncode, 0, r.stderr)
            got = raw_lines(out)
            self.assertEqual(sorted(got), sorted(lines))
            want = ["job-%06d" % i for i in range(n) if i not in faults]
            self.assertEqual([json.loads(x)["custom_id"] for x in got], want)
            with open(ckpt) as f:
                ck = json.load(f)
            self.assertNotIn("ordered", ck)      # the errors file was not sorted
            self.assertNotIn("reorder", ck)
            self.assertEqual(ck["results_size"], os.path.getsize(out))

            sent = mock.stats()["received"]
            self.assertGreaterEqual(sent, n)
            r = run(args)                                      # resume: nothing to do
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertEqual(raw_lines(out), got)
            self.assertEqual(mock.stats()["received"], sent)

    def test_unfinished_run_refused_in_place(self):
        with tmpdir() as d:
            inp = os.path.join(d, "in.jsonl")
            write_jobs(inp, 3)
            out = os.path.join(d, "out.jsonl")
            write_raw(out, [], 0)
            with open(out + ".ckpt", "w") as f:
                json.dump({"llmbatch_checkpoint": 1,
                           "input": {"path": inp, "size": 1, "hash": "0" * 16},
                           "settings": "0" * 16, "results_size": 0, "errors_size": 0,
                           "hwm_pp": 0, "jobs": 3, "done_prefix": 0,
                           "done_bits": "AAAAAAAAAAA=", "complete": False,
                           "stats": {}}, f)
            r = run(["sort", out, "--input", inp])
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("unfinished run", r.stderr)
            r = run(["sort", out, "--input", inp, "-o", os.path.join(d, "s.jsonl")])
            self.assertEqual(r.returncode, 0, r.stderr)
            # a reorder left pending by a crash is the run's to finish
            with open(out + ".ckpt") as f:
                ck = json.load(f)
            ck.update({"complete": True, "reorder": "ready", "reorder_results_size": 0,
                       "reorder_errors_size": 0,
                       "done_bits": "BwAAAAAAAAA="})   # complete: its 3 jobs are done
            with open(out + ".ckpt", "w") as f:
                json.dump(ck, f)
            r = run(["sort", out, "--input", inp])
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("unfinished reorder", r.stderr)


if __name__ == "__main__":
    unittest.main()

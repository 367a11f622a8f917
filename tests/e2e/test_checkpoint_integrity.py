"""
test_checkpoint_integrity: the checkpoint protects itself (10.7, 10.11).

A checkpoint carries a SHA-256 of its exact text.  A flipped byte, a number
edited consistently without fixing the checksum, an impossible value with a
valid checksum (done bits beyond the jobs, "complete" with jobs pending,
negative or overflowing money, a bitmap that disagrees with the job count),
and a results or errors file shorter than its committed size (a line cut
from the end or from the middle) are all refused with exit 2 and a message
that says what is wrong and what to do; nothing is overwritten.  A format-1
checkpoint (no checksum, from an older llmbatch) is accepted, checked and
rewritten with a checksum.
"""

import hashlib
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Mock, read_jsonl, run, tmpdir, write_jobs  # noqa: E402

SUM_HEAD = b',"checksum":"sha256:'


def split_sum(raw):
    """(text the checksum covers, hex) of a format-2 checkpoint."""
    i = raw.rindex(SUM_HEAD)
    return raw[:i] + b"}", raw[i + len(SUM_HEAD):-2].decode()


def with_sum(obj):
    """A format-2 checkpoint for obj, with a valid checksum (as llmbatch writes it)."""
    obj = {k: v for k, v in obj.items() if k != "checksum"}
    text = json.dumps(obj, separators=(",", ":")).encode()
    return text[:-1] + SUM_HEAD + hashlib.sha256(text).hexdigest().encode() + b'"}'


def snapshot(paths):
    out = {}
    for p in paths:
        with open(p, "rb") as f:
            out[p] = f.read()
    return out


class Integrity(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mock = Mock()

    @classmethod
    def tearDownClass(cls):
        cls.mock.cleanup()

    def finished_run(self, d, n=30):
        """A complete run with 3 failed jobs (so both files have lines)."""
        inp = os.path.join(d, "in.jsonl")
        out = os.path.join(d, "out.jsonl")
        ids = write_jobs(inp, n, faults={i: "mock:fail=400" for i in (4, 12, 20)})
        r = run(["run", inp, "-o", out, "--base-url", self.mock.url])
        self.assertEqual(r.returncode, 1, r.stderr)
        self.job = (inp, out, os.path.join(d, "out.errors.jsonl"), out + ".ckpt", ids)
        return self.job

    def rerun(self):
        inp, out, errs, ck, ids = self.job
        return run(["run", inp, "-o", out, "--base-url", self.mock.url])

    def assert_refused(self, *needles):
        inp, out, errs, ck, ids = self.job
        before = snapshot([out, errs, ck])
        sent = self.mock.stats()["received"]
        r = self.rerun()
        self.assertEqual(r.returncode, 2, r.stderr)
        for n in needles:
            self.assertIn(n, r.stderr)
        self.assertIn("--fresh", r.stderr, "the message does not say what to do")
        self.assertEqual(snapshot([out, errs, ck]), before, "a refused resume changed a file")
        self.assertEqual(self.mock.stats()["received"], sent)
        self.assertEqual([f for f in os.listdir(os.path.dirname(out)) if ".old-" in f], [])
        return r

    def test_written_with_a_valid_checksum(self):
        with tmpdir() as d:
            inp, out, errs, ck, ids = self.finished_run(d)
            with open(ck, "rb") as f:
                raw = f.read()
            text, hexsum = split_sum(raw)
            self.assertEqual(hashlib.sha256(text).hexdigest(), hexsum)
            self.assertEqual(json.loads(raw)["llmbatch_checkpoint"], 2)
            r = self.rerun()        # a clean resume is not refused
            self.assertEqual(r.returncode, 1, r.stderr)

    def test_flipped_bytes(self):
        with tmpdir() as d:
            inp, out, errs, ck, ids = self.finished_run(d)
            with open(ck, "rb") as f:
                orig = f.read()
            # a byte in a value, in the bitmap, in the checksum itself, in the
            # format number, in the checksum's key
            spots = [orig.index(b'"results_size":') + 15, orig.index(b'"done_bits":"') + 14,
                     len(orig) - 10, orig.index(b'"llmbatch_checkpoint":') + 22,
                     orig.rindex(b'checksum') + 2]
            for pos in spots:
                with self.subTest(pos=pos):
                    b = bytearray(orig)
                    b[pos] = ord("1") if b[pos] != ord("1") else ord("3")
                    with open(ck, "wb") as f:
                        f.write(bytes(b))
                    self.assert_refused(ck)
            with open(ck, "wb") as f:
                f.write(orig)
            self.assertEqual(self.rerun().returncode, 1)

    def test_consistent_edit_without_checksum(self):
        with tmpdir() as d:
            inp, out, errs, ck, ids = self.finished_run(d)
            with open(ck, "rb") as f:
                c = json.loads(f.read())
            c["results_size"] = c["results_size"] // 2        # valid JSON, plausible
            text = json.dumps(c, separators=(",", ":")).encode()
            with open(ck, "wb") as f:
                f.write(text)
            self.assert_refused("checksum")

    def impossible(self, edit, needle):
        with tmpdir() as d:
            inp, out, errs, ck, ids = self.finished_run(d)
            with open(ck, "rb") as f:
                c = json.loads(f.read())
            edit(c)
            with open(ck, "wb") as f:
                f.write(with_sum(c))
            self.assert_refused(needle)

    def test_impossible_values_with_a_valid_checksum(self):
        def all_bits(c):
            c["done_bits"] = "//////////8="            # 64 done bits for 30 jobs
        def pending_but_complete(c):
            c["done_bits"] = "AAAAAAAAAAA="
            c["complete"] = True
        def negative_money(c):
            c["stats"]["spent_pp"] = -5
        def huge_hwm(c):
            c["hwm_pp"] = 2 ** 62
        def bitmap_length(c):
            c["jobs"] = 1000
        cases = [(all_bits, "beyond the last one"), (pending_but_complete, "marked complete"),
                 (negative_money, "impossible amount"), (huge_hwm, "impossible amount"),
                 (bitmap_length, "impossible job count")]
        for edit, needle in cases:
            with self.subTest(edit=edit.__name__):
                self.impossible(edit, needle)

    def test_results_truncated_by_hand(self):
        with tmpdir() as d:
            inp, out, errs, ck, ids = self.finished_run(d)
            with open(out, "rb") as f:
                lines = f.read().splitlines(keepends=True)
            with open(out, "wb") as f:
                f.write(b"".join(lines[:-1]))
            r = self.assert_refused("shorter", "truncated or edited by hand", out)
            self.assertNotIn("disk full", r.stderr.lower())

    def test_line_deleted_from_the_middle_of_errors(self):
        with tmpdir() as d:
            inp, out, errs, ck, ids = self.finished_run(d)
            with open(errs, "rb") as f:
                lines = f.read().splitlines(keepends=True)
            self.assertEqual(len(lines), 3)
            with open(errs, "wb") as f:
                f.write(lines[0] + lines[2])
            self.assert_refused("errors file", "shorter")

    def test_other_outputs_for_the_same_checkpoint_refused(self):
        """A resume that names another errors (or results) file than the one
        the checkpoint counts is refused before that file is truncated."""
        with tmpdir() as d:
            inp, out, errs, ck, ids = self.finished_run(d)
            other = os.path.join(d, "precious.txt")
            with open(other, "w") as f:
                f.write("".join("line %d\n" % i for i in range(2000)))
            before = snapshot([out, errs, ck, other])
            for args in (["--errors", other], ["--checkpoint", ck, "-o", other]):
                with self.subTest(args=args):
                    cmd = ["run", inp, "-o", out, "--base-url", self.mock.url] + args
                    r = run(cmd if "-o" not in args else
                            ["run", inp, "--base-url", self.mock.url] + args)
                    self.assertEqual(r.returncode, 2, r.stderr)
                    self.assertIn("the checkpoint", r.stderr)
                    self.assertIn("--fresh", r.stderr)
                    self.assertEqual(snapshot([out, errs, ck, other]), before)

    def test_results_deleted(self):
        with tmpdir() as d:
            inp, out, errs, ck, ids = self.finished_run(d)
            os.unlink(out)
            inp, out, errs, ck, ids = self.job
            before = snapshot([errs, ck])
            r = self.rerun()
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("missing", r.stderr)
            self.assertEqual(snapshot([errs, ck]), before)

    def test_old_format_accepted_and_upgraded(self):
        with tmpdir() as d:
            inp, out, errs, ck, ids = self.finished_run(d)
            with open(ck, "rb") as f:
                c = json.loads(f.read())
            del c["checksum"]
            c["llmbatch_checkpoint"] = 1
            with open(ck, "wb") as f:
                f.write(json.dumps(c, separators=(",", ":")).encode())
            r = self.rerun()
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn("no checksum", r.stderr)
            with open(ck, "rb") as f:
                raw = f.read()
            text, hexsum = split_sum(raw)
            self.assertEqual(hashlib.sha256(text).hexdigest(), hexsum)
            self.assertEqual(len(read_jsonl(out)), 27)

    def test_old_format_with_a_checksum_refused(self):
        # "2" flipped to "1": the checksum says it was written as format 2
        with tmpdir() as d:
            inp, out, errs, ck, ids = self.finished_run(d)
            with open(ck, "rb") as f:
                raw = f.read()
            with open(ck, "wb") as f:
                f.write(raw.replace(b'"llmbatch_checkpoint":2', b'"llmbatch_checkpoint":1', 1))
            self.assert_refused("not a valid llmbatch checkpoint")


if __name__ == "__main__":
    unittest.main()

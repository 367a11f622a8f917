"""
ckpt_util: helpers for the checkpoint / resume e2e tests (test_checkpoint.py,
test_kill_loop.py).  Python stdlib only; talks only to 127.0.0.1 via harness.
"""

import gzip
import io
import json
import os
import subprocess
import time
import zlib

from harness import LLMBATCH, run, read_jsonl, wait_until  # noqa: F401

PP_PER_USD = 10 ** 12


def gzip_t(path):
    """(ok, message) of `gzip -t path` (the system gzip tool)."""
    p = subprocess.run(["gzip", "-t", path], capture_output=True, text=True, timeout=60)
    return p.returncode == 0, (p.stdout + p.stderr).strip()


def zcat_lines(path):
    """Lines of `gzip -dc path` (the system tool), as str."""
    p = subprocess.run(["gzip", "-dc", path], capture_output=True, timeout=60)
    if p.returncode != 0:
        raise AssertionError("gzip -dc %s failed: %s" % (path, p.stderr.decode(errors="replace")))
    return [l for l in p.stdout.decode("utf-8").split("\n") if l.strip()]


def is_gz(path):
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def strict_lines(path):
    """Every line of a results/errors file, parsed as JSON.  Fails on a torn
    last line (no newline) or a line that is not JSON, and on a truncated or
    corrupt gzip stream (Python's gzip)."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    text = raw.decode("utf-8")
    if text and not text.endswith("\n"):
        raise AssertionError("%s: last line has no newline (torn tail): %r"
                             % (path, text[-200:]))
    out = []
    for n, line in enumerate(text.split("\n")[:-1] if text else [], 1):
        try:
            out.append(json.loads(line))
        except ValueError:
            raise AssertionError("%s:%d: not JSON: %r" % (path, n, line[:200]))
    return out


def check_outputs(tc, results, errors, ids):
    """Asserts results + errors hold every id of ids exactly once and nothing
    else, that both files decode (Python gzip and `gzip -t` for .gz, every
    line whole JSON).  Returns (ok_ids, err_ids) as lists in file order."""
    for path in (results, errors):
        tc.assertTrue(os.path.exists(path), "%s missing" % path)
        if path.endswith(".gz"):
            ok, msg = gzip_t(path)
            tc.assertTrue(ok, "gzip -t %s: %s" % (path, msg))
            tc.assertEqual(len(zcat_lines(path)), len(strict_lines(path)),
                           "%s: gzip -dc and Python gzip disagree" % path)
    rl = strict_lines(results)
    el = strict_lines(errors)
    ok_ids = [r.get("custom_id") for r in rl]
    err_ids = [r.get("custom_id") for r in el]
    both = ok_ids + err_ids
    seen, dups = set(), set()
    for i in both:
        if i in seen:
            dups.add(i)
        seen.add(i)
    tc.assertFalse(dups, "custom_ids written more than once: %d, e.g. %s"
                   % (len(dups), sorted(dups)[:5]))
    missing = set(ids) - seen
    extra = seen - set(ids)
    tc.assertFalse(missing, "custom_ids lost: %d, e.g. %s" % (len(missing), sorted(missing)[:5]))
    tc.assertFalse(extra, "unknown custom_ids: %s" % sorted(map(str, extra))[:5])
    for r in rl:
        tc.assertEqual((r.get("response") or {}).get("status_code"), 200,
                       "results line is not a success: %r" % (r,))
    return ok_ids, err_ids


def report(tc, ckpt):
    """`llmbatch report CKPT` -> parsed JSON (asserts exit 0)."""
    p = run(["report", ckpt], timeout=60)
    tc.assertEqual(p.returncode, 0, "llmbatch report %s: rc %s, stderr %s"
                   % (ckpt, p.returncode, p.stderr))
    try:
        return json.loads(p.stdout)
    except ValueError:
        tc.fail("llmbatch report %s printed no JSON on stdout: %r" % (ckpt, p.stdout[:500]))


def read_report_file(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def billed_pp(mock):
    """What the mock billed: ok + fault, in picodollars."""
    s = mock.stats()
    return int(s["billed_ok_pusd"]) + int(s["billed_fault_pusd"])


def wait_mock_idle(mock, timeout=15):
    """Waits until the mock has no request in flight (after a kill, the
    server finishes and logs the requests of the dead client)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if mock.stats().get("in_flight", 0) == 0:
            time.sleep(0.05)
            if mock.stats().get("in_flight", 0) == 0:
                return
        time.sleep(0.05)
    raise AssertionError("mock still has requests in flight after %s s" % timeout)


def load_ckpt(path):
    """The checkpoint JSON, or None (missing / unreadable / mid-rename)."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def ckpt_done_count(path):
    """Number of done jobs the checkpoint records (0 if none yet): a prefix
    of done_prefix jobs, then a little-endian bitmap of the rest."""
    c = load_ckpt(path)
    if not c or "done_bits" not in c:
        return 0
    import base64
    return int(c.get("done_prefix", 0)) + sum(bin(b).count("1")
                                              for b in base64.b64decode(c["done_bits"]))


def _prefix_lines(path, size):
    with open(path, "rb") as f:
        raw = f.read(size)
    if raw[:2] == b"\x1f\x8b":
        # a committed prefix is a sequence of whole gzip members
        out = b""
        while raw:
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            out += d.decompress(raw)
            if not d.eof:
                raise AssertionError("%s: committed prefix (%d bytes) ends inside a gzip "
                                     "member" % (path, size))
            raw = d.unused_data
        raw = out
    text = raw.decode("utf-8")
    if text and not text.endswith("\n"):
        raise AssertionError("%s: committed prefix (%d bytes) ends inside a line" % (path, size))
    return [json.loads(l) for l in text.split("\n") if l.strip()]


def committed_ids(ckpt_path, results, errors):
    """custom_ids in the committed prefixes of results and errors (the sizes
    the checkpoint records)."""
    c = load_ckpt(ckpt_path)
    if not c:
        return set()
    ids = set()
    for path, key in ((results, "results_size"), (errors, "errors_size")):
        size = int(c.get(key, 0))
        if size and os.path.exists(path):
            ids.update(r.get("custom_id") for r in _prefix_lines(path, size))
    return ids


def requested_ids(entries):
    """custom ids (metadata.custom) of mock log entries."""
    return [e.get("custom") for e in entries if e.get("custom")]


class LogTail:
    """Reads the mock's request log incrementally (only whole new lines)."""

    def __init__(self, mock):
        self.path = mock.log_path
        self.off = 0

    def new_entries(self):
        if not self.path or not os.path.exists(self.path):
            return []
        with open(self.path, "rb") as f:
            f.seek(self.off)
            data = f.read()
        end = data.rfind(b"\n") + 1
        self.off += end
        return [json.loads(l) for l in data[:end].split(b"\n") if l.strip()]

"""
Memory does not grow with the input (DESIGN invariant 4): a full run of a
large gzip input has about the same peak RSS as a small one.  Uses nginx as
the server (the Python mock is too slow for hundreds of thousands of
requests).  LLMB_MEM_LARGE sets the large size (default 300000 lines; the
benchmark tests/bench/memory.sh runs 100k and 2M).
"""
import gzip
import json
import os
import subprocess
import unittest

from harness import LLMBATCH, tmpdir
from nginx_util import Nginx

LARGE = int(os.environ.get("LLMB_MEM_LARGE", "300000"))
SMALL = 1000


def write_input(path, n):
    with gzip.open(path, "wt", compresslevel=1) as f:
        for i in range(n):
            f.write('{"custom_id":"m-%d","method":"POST","url":"/v1/chat/completions",'
                    '"body":{"model":"gpt-4o-mini","max_tokens":16,"messages":'
                    '[{"role":"user","content":"prompt number %d, with some padding text"}]}}\n'
                    % (i, i))


def run_peak_kb(args, env):
    """Runs llmbatch; returns (exit code, peak RSS in kB) from wait4."""
    p = subprocess.Popen([LLMBATCH] + args, env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    p.stderr.close()
    return p.returncode, ru.ru_maxrss


class MemoryFlat(unittest.TestCase):
    @unittest.skipIf(os.environ.get("LLMB_SANITIZED"),
                     "peak RSS means nothing under AddressSanitizer (shadow memory, quarantine)")
    def test_peak_rss_flat_full_run(self):
        env = dict(os.environ, OPENAI_API_KEY="sk-test-memory-0000")
        with tmpdir() as d, Nginx() as ng:
            peaks = {}
            for n in (SMALL, LARGE):
                inp = os.path.join(d, "in-%d.jsonl.gz" % n)
                out = os.path.join(d, "out-%d.jsonl.gz" % n)
                write_input(inp, n)
                rc, kb = run_peak_kb(["run", inp, "-o", out, "--base-url", ng.url,
                                      "--concurrency", "256", "-q"], env)
                self.assertEqual(rc, 0)
                with gzip.open(out, "rt") as f:
                    ids = [json.loads(l)["custom_id"] for l in f]
                self.assertEqual(len(ids), n)
                self.assertEqual(len(set(ids)), n)
                peaks[n] = kb
            print("peak RSS: %d lines %.1f MB, %d lines %.1f MB"
                  % (SMALL, peaks[SMALL] / 1024, LARGE, peaks[LARGE] / 1024))
            self.assertLess(peaks[LARGE], peaks[SMALL] + 8 * 1024,
                            "peak RSS grew with the input: %r" % peaks)
            self.assertLess(peaks[LARGE], 64 * 1024)


if __name__ == "__main__":
    from harness import main
    main()

"""
e2e: response cache (--cache DIR) and in-run deduplication.

Cache key = SHA-256 over dialect, url path and canonical JSON of the body (not the
API key, not custom_id).  A hit is an ordinary results line for its own custom_id
plus "llmbatch":{"cache":"hit"}; it costs no budget and no rate.  Identical
requests in flight at the same time are sent once ("llmbatch":{"dedup":"coalesced"}).
"""

import collections
import json
import os
import random
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Mock, run, start, collect, write_jobs, read_jsonl,  # noqa: E402
                     custom_ids, tmpdir)

CACHE_FILE = "llmbatch-cache.sqlite"

# mock-model prices in picodollars per token (samples/prices.json)
PP_IN, PP_CACHED, PP_OUT = 1000000, 500000, 2000000


def canon(body):
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def bodies_by_id(path):
    """custom_id -> canonical body, for an openai-shaped input file."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                d = json.loads(line)
                out[d["custom_id"]] = canon(d["body"])
    return out


def prompts_by_id(path):
    """custom_id -> the user prompt text, for an openai-shaped input file."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                d = json.loads(line)
                out[d["custom_id"]] = d["body"]["messages"][-1]["content"]
    return out


def line_cost_pp(line):
    """Picodollar cost of one chat.completion results line for mock-model."""
    u = line["response"]["body"]["usage"]
    cached = (u.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    return ((u["prompt_tokens"] - cached) * PP_IN + cached * PP_CACHED
            + u["completion_tokens"] * PP_OUT)


def report_of(results):
    with open(results[:-len(".jsonl")] + ".report.json", encoding="utf-8") as f:
        return json.load(f)


def errors_of(results):
    p = results[:-len(".jsonl")] + ".errors.jsonl"
    return read_jsonl(p) if os.path.exists(p) else []


def stats_field(text, name):
    m = re.search(r"^\s*%s:\s*\$?([0-9.]+)" % re.escape(name), text, re.M)
    return None if m is None else m.group(1)


class CacheTest(unittest.TestCase):

    def setUp(self):
        self._td = tmpdir()
        self.d = self._td.name
        self.addCleanup(self._td.cleanup)

    def p(self, name):
        return os.path.join(self.d, name)

    def mock(self, *args):
        m = Mock(*args)
        self.addCleanup(m.cleanup)
        return m

    def llmb(self, inp, out, m, *extra, timeout=120):
        return run(["run", inp, "-o", out, "--base-url", m.url, "--no-progress"]
                   + [str(a) for a in extra], timeout=timeout)

    def assertOk(self, r, what=""):
        self.assertEqual(r.returncode, 0, "%s exit %s\nstderr:\n%s"
                         % (what, r.returncode, r.stderr[-3000:]))

    def assertComplete(self, out, ids):
        got = custom_ids(out)
        self.assertEqual(len(got), len(set(got)), "duplicate custom_id in results")
        self.assertEqual(sorted(got), sorted(ids), "results are not exactly the jobs")
        self.assertEqual(errors_of(out), [])

    def assertSameReplyPerBody(self, out, body_of):
        """Jobs with the same canonical body got the same response body."""
        by_body = {}
        for line in read_jsonl(out):
            rb = json.dumps(line["response"]["body"], sort_keys=True)
            by_body.setdefault(body_of[line["custom_id"]], set()).add(rb)
        for b, replies in by_body.items():
            self.assertEqual(len(replies), 1, "different replies for one body %s" % b[:80])

    def assertRepliesMatchPrompts(self, out, inp):
        """The mock echoes the prompt ("echo: Prompt 12: ..."): no job was served
        another request's reply."""
        prompts = prompts_by_id(inp)
        for line in read_jsonl(out):
            text = line["response"]["body"]["choices"][0]["message"]["content"]
            head = prompts[line["custom_id"]].split(":")[0] + ":"
            self.assertTrue(text.startswith("echo: " + head),
                            "%s got %r" % (line["custom_id"], text[:60]))

    # ------------------------------------------------------------ cache hits

    def test_dup_file_each_distinct_body_sent_once(self):
        m = self.mock()
        inp, out, cdir = self.p("in.jsonl"), self.p("out.jsonl"), self.p("cache")
        ids = write_jobs(inp, 2000, dup_ratio=0.3, seed=7)
        body_of = bodies_by_id(inp)
        distinct = len(set(body_of.values()))
        self.assertLess(distinct, 1500)  # the input really has repeats

        r = self.llmb(inp, out, m, "--cache", cdir, "--dedup", "all")
        self.assertOk(r)
        self.assertComplete(out, ids)
        s = m.stats()
        self.assertEqual(s["received"], distinct)
        self.assertEqual(s["distinct_bodies"], distinct)
        self.assertEqual(s["max_body_count"], 1)
        self.assertSameReplyPerBody(out, body_of)
        self.assertRepliesMatchPrompts(out, inp)

        rep = report_of(out)
        c = rep["cache"]
        self.assertTrue(c["enabled"])
        # every job was sent, answered from the cache, or coalesced
        self.assertEqual(s["received"] + c["hits"] + c["coalesced"], 2000, c)
        self.assertEqual(rep["http"]["requests_sent"], distinct)
        self.assertEqual(rep["cost_usd"]["total_pp"], s["billed_ok_pusd"])
        marked = collections.Counter(
            json.dumps(l.get("llmbatch"), sort_keys=True) for l in read_jsonl(out))
        self.assertEqual(marked[json.dumps({"cache": "hit"})], c["hits"])
        self.assertEqual(marked[json.dumps({"dedup": "coalesced"})], c["coalesced"])
        self.assertEqual(marked["null"], distinct)
        # the savings are what the non-sent lines would have cost
        saved_pp = sum(line_cost_pp(l) for l in read_jsonl(out) if l.get("llmbatch"))
        self.assertAlmostEqual(c["saved_usd"], saved_pp * 1e-12, delta=1e-9)

        # rerun into a new file: nothing sent; savings = the value of all 2000 replies
        out2 = self.p("out2.jsonl")
        r = self.llmb(inp, out2, m, "--cache", cdir)
        self.assertOk(r, "rerun")
        self.assertEqual(m.stats()["received"], distinct)
        self.assertComplete(out2, ids)
        self.assertRepliesMatchPrompts(out2, inp)
        c2 = report_of(out2)["cache"]
        self.assertEqual(c2["hits"], 2000)
        all_pp = sum(line_cost_pp(l) for l in read_jsonl(out))
        self.assertEqual(all_pp, rep["cost_usd"]["total_pp"] + saved_pp)
        self.assertAlmostEqual(c2["saved_usd"], all_pp * 1e-12, delta=1e-9)

    def test_cache_key_is_canonical_json(self):
        """A duplicate that differs only in key order / whitespace is the same request."""
        m = self.mock()
        inp, out, cdir = self.p("in.jsonl"), self.p("out.jsonl"), self.p("cache")
        rng = random.Random(3)
        originals = []
        lines = []
        for i in range(150):
            cid = "orig-%04d" % i
            body = {"model": "mock-model", "max_tokens": 16, "temperature": 0,
                    "messages": [{"role": "system", "content": "be brief"},
                                 {"role": "user", "content": "Question %d about %s"
                                  % (i, rng.choice(["cats", "dogs", "owls"]))}],
                    "metadata": {"custom": cid}}
            originals.append(body)
            lines.append(json.dumps({"custom_id": cid, "method": "POST",
                                     "url": "/v1/chat/completions", "body": body},
                                    separators=(",", ":")))
        variant_ids = []
        for j in range(100):
            src = originals[rng.randrange(len(originals))]

            def rev(o):
                if isinstance(o, dict):
                    return {k: rev(o[k]) for k in reversed(list(o))}
                if isinstance(o, list):
                    return [rev(x) for x in o]
                return o
            cid = "variant-%04d" % j
            variant_ids.append(cid)
            # reversed key order at every level, extra spaces around , and :
            body_txt = json.dumps(rev(src), separators=(" , ", " :  "))
            lines.append('{ "body" :  %s ,"url":"/v1/chat/completions",  '
                         '"method" : "POST", "custom_id":"%s" }' % (body_txt, cid))
        with open(inp, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        ids = ["orig-%04d" % i for i in range(150)] + variant_ids

        r = self.llmb(inp, out, m, "--cache", cdir, "--dedup", "all")
        self.assertOk(r)
        self.assertComplete(out, ids)
        s = m.stats()
        self.assertEqual(s["received"], 150, "variants with reordered keys were sent again")
        self.assertEqual(s["max_body_count"], 1)
        body_of = bodies_by_id(inp)
        self.assertEqual(len(set(body_of.values())), 150)
        self.assertSameReplyPerBody(out, body_of)
        c = report_of(out)["cache"]
        self.assertEqual(c["hits"] + c["coalesced"], 100, c)

    def test_rerun_from_cache_sends_nothing(self):
        m = self.mock()
        inp, out1, out2, cdir = (self.p("in.jsonl"), self.p("a.jsonl"), self.p("b.jsonl"),
                                 self.p("cache"))
        ids = write_jobs(inp, 300, seed=11)
        r = self.llmb(inp, out1, m, "--cache", cdir)
        self.assertOk(r, "first run")
        self.assertComplete(out1, ids)
        self.assertRepliesMatchPrompts(out1, inp)
        rep1 = report_of(out1)
        first_pp = rep1["cost_usd"]["total_pp"]
        self.assertGreater(first_pp, 0)
        self.assertEqual(rep1["cache"]["hits"], 0)
        self.assertEqual(rep1["cache"]["misses"], 300)
        sent = m.stats()["received"]
        self.assertEqual(sent, 300)

        r = self.llmb(inp, out2, m, "--cache", cdir)
        self.assertOk(r, "rerun")
        self.assertEqual(m.stats()["received"], sent, "a fully cached rerun sent requests")
        self.assertComplete(out2, ids)
        rep2 = report_of(out2)
        c = rep2["cache"]
        self.assertTrue(c["enabled"])
        self.assertEqual(c["hits"], 300)
        self.assertEqual(c["misses"], 0)
        self.assertEqual(c["coalesced"], 0)
        self.assertGreater(c["saved_usd"], 0)
        self.assertAlmostEqual(c["saved_usd"], first_pp * 1e-12, delta=1e-9)
        self.assertEqual(rep2["cost_usd"]["total"], 0)
        self.assertEqual(rep2["cost_usd"]["total_pp"], 0)
        self.assertEqual(rep2["http"]["requests_sent"], 0)
        self.assertEqual(rep2["jobs"]["succeeded"], 300)

        # the marker: same shape as a normal line plus llmbatch.cache == "hit"
        first = {l["custom_id"]: l for l in read_jsonl(out1)}
        lines2 = read_jsonl(out2)
        for l in first.values():
            self.assertNotIn("llmbatch", l)
        for l in lines2:
            self.assertEqual(l.get("llmbatch"), {"cache": "hit"})
            self.assertEqual(set(l), set(first[l["custom_id"]]) | {"llmbatch"})
            self.assertIsInstance(l["id"], str)
            self.assertIsNone(l["error"])
            self.assertEqual(l["response"]["status_code"], 200)
            self.assertEqual(l["response"]["body"], first[l["custom_id"]]["response"]["body"])
        self.assertEqual(len({l["id"] for l in lines2}), len(lines2), "line ids not unique")

        # cache stats agree
        st = run(["cache", "stats", cdir])
        self.assertEqual(st.returncode, 0, st.stderr)
        self.assertEqual(stats_field(st.stdout, "entries"), "300", st.stdout)
        self.assertEqual(stats_field(st.stdout, "hits to date"), "300", st.stdout)
        self.assertAlmostEqual(float(stats_field(st.stdout, "saved to date")),
                               first_pp * 1e-12, delta=1e-6)

    def test_api_key_is_not_part_of_the_key(self):
        m = self.mock()
        inp, cdir = self.p("in.jsonl"), self.p("cache")
        ids = write_jobs(inp, 30, seed=8)
        self.assertOk(self.llmb(inp, self.p("a.jsonl"), m, "--cache", cdir), "fill")
        sent = m.stats()["received"]
        out = self.p("b.jsonl")
        r = run(["run", inp, "-o", out, "--base-url", m.url, "--no-progress",
                 "--cache", cdir], env={"OPENAI_API_KEY": "sk-test-another-key-0000cccc"})
        self.assertOk(r, "rerun with another API key")
        self.assertEqual(m.stats()["received"], sent)
        self.assertComplete(out, ids)
        self.assertEqual(report_of(out)["cache"]["hits"], 30)

    def test_budget_untouched_by_hits(self):
        m = self.mock()
        inp, cdir = self.p("in.jsonl"), self.p("cache")
        ids = write_jobs(inp, 50, seed=5)
        self.assertOk(self.llmb(inp, self.p("a.jsonl"), m, "--cache", cdir), "fill")
        sent = m.stats()["received"]
        tiny = "0.0000001"  # far below one job's worst-case reservation
        # control: without the cache this budget stops the run before any request
        r = self.llmb(inp, self.p("ctl.jsonl"), m, "--budget", tiny)
        self.assertEqual(r.returncode, 3, r.stderr[-2000:])
        self.assertEqual(m.stats()["received"], sent)
        # from the cache the same budget is enough
        out = self.p("b.jsonl")
        r = self.llmb(inp, out, m, "--budget", tiny, "--cache", cdir)
        self.assertOk(r, "cached run under a tiny budget")
        self.assertEqual(m.stats()["received"], sent)
        self.assertComplete(out, ids)
        rep = report_of(out)
        self.assertEqual(rep["cache"]["hits"], 50)
        self.assertEqual(rep["cost_usd"]["total_pp"], 0)

    def test_rate_untouched_by_hits(self):
        m = self.mock()
        inp, cdir = self.p("in.jsonl"), self.p("cache")
        ids = write_jobs(inp, 300, seed=6)
        self.assertOk(self.llmb(inp, self.p("a.jsonl"), m, "--cache", cdir), "fill")
        sent = m.stats()["received"]
        out = self.p("b.jsonl")
        t0 = time.monotonic()
        # 300 requests at 60 rpm would need about 5 minutes
        r = self.llmb(inp, out, m, "--rpm", "60", "--tpm", "1000", "--cache", cdir,
                      timeout=90)
        elapsed = time.monotonic() - t0
        self.assertOk(r, "cached run under --rpm 60")
        self.assertLess(elapsed, 30)
        self.assertEqual(m.stats()["received"], sent)
        self.assertComplete(out, ids)
        self.assertEqual(report_of(out)["cache"]["hits"], 300)

    def test_only_successes_are_cached(self):
        m = self.mock()
        inp, cdir = self.p("in.jsonl"), self.p("cache")
        bad = set(range(3, 100, 10))
        ids = write_jobs(inp, 100, seed=9, faults={i: "mock:fail=400" for i in bad})
        bad_ids = {ids[i] for i in bad}
        out1 = self.p("a.jsonl")
        r = self.llmb(inp, out1, m, "--cache", cdir)
        self.assertEqual(r.returncode, 1, r.stderr[-2000:])
        self.assertEqual(sorted(custom_ids(out1)), sorted(set(ids) - bad_ids))
        self.assertEqual({e["custom_id"] for e in errors_of(out1)}, bad_ids)
        st = run(["cache", "stats", cdir])
        self.assertEqual(st.returncode, 0, st.stderr)
        self.assertEqual(stats_field(st.stdout, "entries"), "90", st.stdout)

        nlog = len(m.log_entries())
        out2 = self.p("b.jsonl")
        r = self.llmb(inp, out2, m, "--cache", cdir)
        self.assertEqual(r.returncode, 1, r.stderr[-2000:])
        resent = [e["custom"] for e in m.log_entries()[nlog:]]
        self.assertEqual(sorted(resent), sorted(bad_ids), "only the failures go out again")
        self.assertEqual(sorted(custom_ids(out2)), sorted(set(ids) - bad_ids))
        self.assertEqual({e["custom_id"] for e in errors_of(out2)}, bad_ids)
        for e in errors_of(out2):
            self.assertNotEqual((e.get("llmbatch") or {}).get("cache"), "hit")
        self.assertEqual(report_of(out2)["cache"]["hits"], 90)

    # ------------------------------------------------------------ in-run dedup

    def _adjacent_dups(self, path, groups=100, copies=3, extra=None, text="Same question %d",
                       url="/v1/chat/completions"):
        """groups distinct bodies, each written `copies` times in a row."""
        ids = []
        with open(path, "w", encoding="utf-8") as f:
            for g in range(groups):
                if url == "/v1/embeddings":
                    body = {"model": "text-embedding-3-small", "input": text % g}
                else:
                    body = {"model": "mock-model", "max_tokens": 16,
                            "messages": [{"role": "user", "content": text % g}]}
                body.update(extra or {})
                for c in range(copies):
                    cid = "g%03d-c%d" % (g, c)
                    ids.append(cid)
                    f.write(json.dumps({"custom_id": cid, "method": "POST",
                                        "url": url, "body": body}) + "\n")
        return ids

    def test_dedup_inflight_without_cache(self):
        m = self.mock("--latency-ms", "200")
        inp, out = self.p("in.jsonl"), self.p("out.jsonl")
        ids = self._adjacent_dups(inp)
        r = self.llmb(inp, out, m, "--dedup", "all")
        self.assertOk(r)
        self.assertComplete(out, ids)
        s = m.stats()
        self.assertLess(s["received"], 300)
        rep = report_of(out)
        c = rep["cache"]
        self.assertFalse(c["enabled"])
        self.assertEqual(c["hits"], 0)
        self.assertGreater(c["coalesced"], 0)
        self.assertEqual(s["received"] + c["coalesced"], 300, c)
        lines = read_jsonl(out)
        co = [l for l in lines if l.get("llmbatch") == {"dedup": "coalesced"}]
        self.assertEqual(len(co), c["coalesced"])
        self.assertEqual(len([l for l in lines if "llmbatch" in l]), len(co))
        self.assertSameReplyPerBody(out, bodies_by_id(inp))
        for l in co:
            self.assertEqual(l["response"]["status_code"], 200)
            self.assertIsNone(l["error"])
        self.assertAlmostEqual(c["saved_usd"], sum(line_cost_pp(l) for l in co) * 1e-12,
                               delta=1e-9)
        self.assertEqual(rep["cost_usd"]["total_pp"], s["billed_ok_pusd"])

    def test_sampled_duplicates_are_separate_draws_by_default(self):
        """Identical prompts with sampling on (no temperature: the default
        is 1) are each sent: they are draws, not duplicates."""
        m = self.mock("--latency-ms", "200")
        inp, out = self.p("in.jsonl"), self.p("out.jsonl")
        ids = self._adjacent_dups(inp, groups=20, copies=6)
        r = self.llmb(inp, out, m)
        self.assertOk(r)
        self.assertComplete(out, ids)
        self.assertEqual(m.stats()["received"], 120)
        self.assertEqual(report_of(out)["cache"]["coalesced"], 0)
        self.assertFalse(any("llmbatch" in l for l in read_jsonl(out)))

    def test_deterministic_duplicates_coalesce_by_default(self):
        """temperature 0 (in any number spelling) and embeddings coalesce."""
        for extra, url in (({"temperature": 0}, "/v1/chat/completions"),
                           ({"temperature": 0.0}, "/v1/chat/completions"),
                           ({}, "/v1/embeddings")):
            with self.subTest(extra=extra, url=url):
                m = self.mock("--latency-ms", "200")
                inp, out = self.p("det.jsonl"), self.p("det-%d.jsonl" % len(os.listdir(self.d)))
                ids = self._adjacent_dups(inp, groups=20, copies=3, extra=extra, url=url)
                r = self.llmb(inp, out, m)
                self.assertOk(r)
                self.assertComplete(out, ids)
                c = report_of(out)["cache"]["coalesced"]
                self.assertGreater(c, 0)
                self.assertEqual(m.stats()["received"] + c, 60)
                m.cleanup()

    def test_coalesced_failure_gives_every_member_the_whole_outcome(self):
        """When the shared request fails for good, each member of the group
        gets its own error line with the status, body, request id, code and
        message of that failure."""
        m = self.mock("--latency-ms", "200")
        inp, out = self.p("in.jsonl"), self.p("out.jsonl")
        ids = self._adjacent_dups(inp, groups=10, copies=4, text="Fail %d mock:fail=400",
                                  extra={"temperature": 0})
        r = self.llmb(inp, out, m)
        self.assertEqual(r.returncode, 1, r.stderr[-2000:])
        self.assertEqual(custom_ids(out), [])
        errs = errors_of(out)
        self.assertEqual(sorted(e["custom_id"] for e in errs), sorted(ids))
        rep = report_of(out)
        self.assertGreater(rep["cache"]["coalesced"], 0)
        self.assertEqual(m.stats()["received"] + rep["cache"]["coalesced"], 40)
        for e in errs:
            self.assertEqual(e["response"]["status_code"], 400, e)
            self.assertTrue(e["response"]["request_id"], e)
            self.assertIn("mock:fail directive (400)",
                          e["response"]["body"]["error"]["message"], e)
            self.assertTrue(e["error"]["code"], e)
            self.assertIn("mock:fail directive (400)", e["error"]["message"], e)
        self.assertEqual(rep["jobs"]["failed"], 40)

    def test_no_dedup_sends_every_job(self):
        m = self.mock("--latency-ms", "200")
        inp, out = self.p("in.jsonl"), self.p("out.jsonl")
        ids = self._adjacent_dups(inp)
        r = self.llmb(inp, out, m, "--no-dedup")
        self.assertOk(r)
        self.assertComplete(out, ids)
        self.assertEqual(m.stats()["received"], 300)
        self.assertEqual(report_of(out)["cache"]["coalesced"], 0)
        self.assertFalse(any("llmbatch" in l for l in read_jsonl(out)))

    # ------------------------------------------------------------ robustness

    def _unusable_warnings(self, stderr):
        return [l for l in stderr.splitlines()
                if "cache" in l.lower() and "unusable" in l.lower()]

    def test_garbage_cache_file_warns_once_and_completes(self):
        m = self.mock()
        inp, cdir, out = self.p("in.jsonl"), self.p("cache"), self.p("out.jsonl")
        ids = write_jobs(inp, 100, seed=12, dup_ratio=0.1)
        os.makedirs(cdir)
        with open(os.path.join(cdir, CACHE_FILE), "wb") as f:
            f.write(random.Random(1).randbytes(16384))
        r = self.llmb(inp, out, m, "--cache", cdir)
        self.assertOk(r)
        self.assertEqual(len(self._unusable_warnings(r.stderr)), 1, r.stderr)
        self.assertComplete(out, ids)
        self.assertEqual(report_of(out)["cache"]["hits"], 0)
        # the run went on without the cache: every distinct body was sent
        self.assertEqual(m.stats()["distinct_bodies"], len(set(bodies_by_id(inp).values())))

    def test_truncated_cache_file_warns_once_and_completes(self):
        m = self.mock()
        inp, cdir = self.p("in.jsonl"), self.p("cache")
        ids = write_jobs(inp, 300, seed=13)
        self.assertOk(self.llmb(inp, self.p("a.jsonl"), m, "--cache", cdir), "fill")
        db = os.path.join(cdir, CACHE_FILE)
        size = os.path.getsize(db)
        self.assertGreater(size, 8192)
        os.truncate(db, size // 2)
        out = self.p("b.jsonl")
        r = self.llmb(inp, out, m, "--cache", cdir)
        self.assertOk(r)
        self.assertEqual(len(self._unusable_warnings(r.stderr)), 1, r.stderr)
        self.assertComplete(out, ids)
        for l in read_jsonl(out):
            self.assertEqual(l["response"]["status_code"], 200)

    def test_kill_9_mid_run_leaves_a_usable_cache(self):
        m = self.mock("--latency-ms", "50")
        inp, part, cdir = self.p("in.jsonl"), self.p("part.jsonl"), self.p("cache")
        ids = write_jobs(inp, 500, seed=41)
        with open(inp, encoding="utf-8") as f:
            lines = f.read().splitlines()
        with open(part, "w", encoding="utf-8") as f:
            f.write("\n".join(lines[:200]) + "\n")
        self.assertOk(self.llmb(part, self.p("part.out.jsonl"), m, "--cache", cdir), "fill")
        base = m.stats()["received"]
        out = self.p("out.jsonl")
        cmd = ["run", inp, "-o", out, "--base-url", m.url, "--no-progress",
               "--cache", cdir, "--concurrency", "8"]
        p = start(cmd)
        deadline = time.monotonic() + 30
        while m.stats()["received"] < base + 100 and time.monotonic() < deadline:
            if p.poll() is not None:
                break
            time.sleep(0.05)
        self.assertIsNone(p.poll(), "run finished before it could be killed")
        p.kill()
        collect(p)
        # resume the same command: exactly once, cache still fine
        r = run(cmd)
        self.assertOk(r, "resume")
        self.assertEqual(self._unusable_warnings(r.stderr), [], r.stderr)
        self.assertComplete(out, ids)
        self.assertRepliesMatchPrompts(out, inp)
        # and the cache now holds every reply, each one intact
        sent = m.stats()["received"]
        out2 = self.p("out2.jsonl")
        r = self.llmb(inp, out2, m, "--cache", cdir)
        self.assertOk(r, "rerun")
        self.assertEqual(self._unusable_warnings(r.stderr), [], r.stderr)
        self.assertEqual(m.stats()["received"], sent)
        self.assertEqual(report_of(out2)["cache"]["hits"], 500)
        self.assertComplete(out2, ids)
        self.assertRepliesMatchPrompts(out2, inp)

    def test_two_runs_share_one_cache_concurrently(self):
        m = self.mock("--latency-ms", "10")
        cdir = self.p("cache")
        # A: 500 jobs; B: 250 bodies of A under other ids + 250 of its own
        a_in, b_in = self.p("a.jsonl"), self.p("b.jsonl")
        a_ids = write_jobs(a_in, 500, seed=21)
        with open(a_in, encoding="utf-8") as f:
            a_lines = f.read().splitlines()
        b_ids = write_jobs(b_in, 250, seed=22)
        with open(b_in, encoding="utf-8") as f:
            b_lines = f.read().splitlines()
        for k, line in enumerate(a_lines[::2]):
            d = json.loads(line)
            d["custom_id"] = "shared-%04d" % k
            b_lines.append(json.dumps(d))
            b_ids.append(d["custom_id"])
        random.Random(4).shuffle(b_lines)
        with open(b_in, "w", encoding="utf-8") as f:
            f.write("\n".join(b_lines) + "\n")
        union = set(bodies_by_id(a_in).values()) | set(bodies_by_id(b_in).values())
        self.assertEqual(len(union), 750)

        args = lambda i, o: ["run", i, "-o", o, "--base-url", m.url, "--no-progress",
                             "--cache", cdir, "--concurrency", "8"]
        pa = start(args(a_in, self.p("a.out.jsonl")))
        pb = start(args(b_in, self.p("b.out.jsonl")))
        ra, rb = collect(pa, timeout=90), collect(pb, timeout=90)
        for name, r in (("A", ra), ("B", rb)):
            self.assertEqual(r.returncode, 0, "%s: %s" % (name, r.stderr[-3000:]))
            self.assertNotIn("locked", r.stderr.lower(), name)
            self.assertEqual(self._unusable_warnings(r.stderr), [], name)
        self.assertComplete(self.p("a.out.jsonl"), a_ids)
        self.assertComplete(self.p("b.out.jsonl"), b_ids)
        self.assertLessEqual(m.stats()["received"], 1000)
        st = run(["cache", "stats", cdir])
        self.assertEqual(st.returncode, 0, st.stderr)
        self.assertEqual(stats_field(st.stdout, "entries"), str(len(union)), st.stdout)

    # ------------------------------------------------------------ cache subcommands

    def test_cache_stats_and_prune(self):
        m = self.mock()
        inp, cdir = self.p("in.jsonl"), self.p("cache")
        write_jobs(inp, 40, seed=31)
        self.assertOk(self.llmb(inp, self.p("a.jsonl"), m, "--cache", cdir), "fill")
        cost = report_of(self.p("a.jsonl"))["cost_usd"]["total_pp"] * 1e-12

        st = run(["cache", "stats", cdir])
        self.assertEqual(st.returncode, 0, st.stderr)
        self.assertEqual(stats_field(st.stdout, "entries"), "40", st.stdout)
        self.assertEqual(stats_field(st.stdout, "hits to date"), "0", st.stdout)

        self.assertOk(self.llmb(inp, self.p("b.jsonl"), m, "--cache", cdir), "rerun")
        st = run(["cache", "stats", cdir])
        self.assertEqual(st.returncode, 0, st.stderr)
        self.assertEqual(stats_field(st.stdout, "hits to date"), "40", st.stdout)
        self.assertAlmostEqual(float(stats_field(st.stdout, "saved to date")), cost,
                               delta=1e-6)

        # young entries survive a 30-day prune
        pr = run(["cache", "prune", cdir, "--older-than", "30d"])
        self.assertEqual(pr.returncode, 0, pr.stderr)
        st = run(["cache", "stats", cdir])
        self.assertEqual(stats_field(st.stdout, "entries"), "40", st.stdout)

        for bad in (["--older-than", "banana"], ["--older-than", "-3d"],
                    ["--older-than", "10parsecs"], ["--older-than", ""], ["--older-than"],
                    []):
            pr = run(["cache", "prune", cdir] + bad)
            self.assertEqual(pr.returncode, 2, "prune %r: %s" % (bad, pr.stderr))
        st = run(["cache", "stats", cdir])
        self.assertEqual(stats_field(st.stdout, "entries"), "40", "bad prune removed entries")

        time.sleep(2.2)
        pr = run(["cache", "prune", cdir, "--older-than", "1s"])
        self.assertEqual(pr.returncode, 0, pr.stderr)
        st = run(["cache", "stats", cdir])
        self.assertEqual(st.returncode, 0, st.stderr)
        self.assertEqual(stats_field(st.stdout, "entries"), "0", st.stdout)

        # a pruned cache is a working, empty cache
        sent = m.stats()["received"]
        self.assertOk(self.llmb(inp, self.p("c.jsonl"), m, "--cache", cdir), "after prune")
        self.assertEqual(m.stats()["received"], sent + 40)


if __name__ == "__main__":
    from harness import main
    main()

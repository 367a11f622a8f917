"""
test_report_html: the HTML report (issue 14 part 3) without a browser.

  - a job run twice (SIGINT, then resumed) with four models, three keys (one
    with a hostile label, one exhausted mid-run), 429s and 500s, and --html:
    the live page during the run reloads itself; the report JSON carries a
    timeline that spans both runs and a latency histogram; the final page
    and `llmbatch report RESULTS --html` are well-formed (balanced tags),
    hold every section and all the charts, reference nothing outside
    themselves, and show the hostile label escaped;
  - a report with a hostile model name, key label, reason and stop reason:
    every string escaped;
  - degenerate reports (no timeline, 0 or 1 samples, no budget, zero and
    huge values, a garbage timeline): still a whole page with every chart;
  - errors: no report next to RESULTS, a file that is not a report (exit 2).
"""

import copy
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import run, tmpdir  # noqa: E402
from report_html_util import (realistic_run, check_page, external_refs, SECTIONS,  # noqa: E402
                              N_SVG, HOSTILE_LABEL, MODELS, KEY_A, KEY_B, KEY_C)

GEOMETRY = {"x", "y", "x1", "x2", "y1", "y2", "cx", "cy", "width", "height", "points",
            "style"}
HOSTILE = "<script>alert(\"m&n\")</script> 'q' & <b>"


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


class ReportHtmlTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls._tmp = tmpdir()
        cls.d = cls._tmp.name
        cls.res = realistic_run(cls.d)

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def render(self, report_obj, name):
        rp = os.path.join(self.d, name + ".report.json")
        hp = os.path.join(self.d, name + ".html")
        with open(rp, "w", encoding="utf-8") as f:
            json.dump(report_obj, f)
        r = run(["report", rp, "--html", hp])
        self.assertEqual(r.returncode, 0, r.stderr)
        return read(hp)

    def assert_whole_page(self, text):
        page = check_page(text)
        self.assertEqual(page.counts.get("svg", 0), N_SVG)
        for s in SECTIONS:
            self.assertIn(s, page.ids)
        self.assertEqual(external_refs(text), [])
        return page

    # ------------------------------------------------------------ a real job

    def test_runs_and_report_json(self):
        res = self.res
        self.assertEqual(res["first"].returncode, 130, res["first"].stderr)
        self.assertEqual(res["second"].returncode, 0, res["second"].stderr)
        rep = res["final_report"]
        self.assertEqual(rep["runs"], 2)
        self.assertEqual(set(rep["by_model"]), set(MODELS))
        tl = rep["timeline"]
        self.assertEqual(tl["version"], 1)
        pts = tl["points"]
        self.assertGreaterEqual(len(pts), 3)
        ts = [p[0] for p in pts]
        self.assertEqual(ts, sorted(ts))
        # the first run's samples survived the resume, and the curve goes on
        first_pts = res["first_report"]["timeline"]["points"]
        self.assertGreaterEqual(len(first_pts), 2)
        self.assertIn(first_pts[-1], pts)
        self.assertGreater(ts[-1], first_pts[-1][0])
        done = tl["columns"].index("done")
        self.assertEqual(pts[-1][done], rep["jobs"]["total"])
        self.assertLess(first_pts[-1][done], rep["jobs"]["total"])
        spent = tl["columns"].index("spent_pp")
        self.assertEqual(pts[-1][spent], rep["cost_usd"]["total_pp"])
        hist = rep["latency_hist"]
        self.assertGreater(sum(h["count"] for h in hist), 0)
        les = [h["le_ms"] for h in hist]
        self.assertEqual(les, sorted(les))
        self.assertTrue(all(((x + 1) & x) == 0 for x in les))    # 2^b - 1
        # the sidecar next to the checkpoint holds the same timeline
        side = json.loads(read(res["out"] + ".ckpt.timeline.json"))
        self.assertEqual(side["points"], pts)
        # no key in any file the job wrote
        for name in os.listdir(self.d):
            p = os.path.join(self.d, name)
            if os.path.isfile(p) and name != "keys.txt":
                text = open(p, "rb").read()
                for k in (KEY_A, KEY_B, KEY_C):
                    self.assertNotIn(k.encode(), text, name)

    def test_live_page_while_running(self):
        live = self.res["live_page"]
        self.assert_whole_page(live)
        self.assertIn('http-equiv="refresh"', live)
        self.assertIn("running", live)
        final = read(self.res["html"])
        self.assertNotIn('http-equiv="refresh"', final)

    def test_final_pages(self):
        out = self.res["out"]
        hp = os.path.join(self.d, "from-results.html")
        r = run(["report", out, "--html", hp])
        self.assertEqual(r.returncode, 0, r.stderr)
        for text in (read(hp), read(self.res["html"])):
            page = self.assert_whole_page(text)
            for m in MODELS:
                self.assertIn(m, page.all_text)
            # the hostile key label is shown as text, never as markup
            self.assertIn(HOSTILE_LABEL, page.all_text)
            self.assertNotIn("<script", text)
            self.assertIn("&lt;script&gt;alert(&#39;k&amp;y&#39;)&lt;/script&gt;&quot;x", text)
            self.assertIn("exhausted", page.all_text)
            self.assertNotIn("No timeline", text)
            self.assertGreaterEqual(page.counts.get("polyline", 0), 4)
            self.assertIn("429", page.all_text)
            self.assertIn("500", page.all_text)

    # ------------------------------------------------------------ escaping

    def test_hostile_strings_escaped(self):
        rep = copy.deepcopy(self.res["final_report"])
        rep["by_model"][HOSTILE] = dict(rep["by_model"][MODELS[0]])
        rep["by_key"][HOSTILE] = {"requests": 3, "tokens_in": 1, "tokens_out": 1,
                                  "cost_usd": 0.1, "rate_limited_429": 0,
                                  "state": "<i>odd</i>", "reason": HOSTILE}
        rep["stop_reason"] = HOSTILE
        rep["input"] = HOSTILE
        rep["http"]["by_status"][HOSTILE] = 2
        rep["prices"]["updated"] = HOSTILE
        text = self.render(rep, "hostile")
        page = self.assert_whole_page(text)
        self.assertNotIn("<script", text)
        self.assertNotIn("<b>", text)
        self.assertNotIn("<i>", text)
        esc = "&lt;script&gt;alert(&quot;m&amp;n&quot;)&lt;/script&gt; &#39;q&#39; &amp; &lt;b&gt;"
        self.assertGreaterEqual(text.count(esc), 5)
        self.assertIn(HOSTILE, page.all_text)

    # ------------------------------------------------------------ degenerate

    def test_degenerate_reports(self):
        base = self.res["final_report"]
        cols = base["timeline"]["columns"]
        one = copy.deepcopy(base)
        one["timeline"]["points"] = one["timeline"]["points"][:1]
        zero = copy.deepcopy(base)
        zero["timeline"]["points"] = []
        none = copy.deepcopy(base)
        del none["timeline"]
        del none["latency_hist"]
        none["cost_usd"]["budget"] = None
        garbage = copy.deepcopy(base)
        garbage["timeline"] = {"version": 1, "interval_s": 1, "columns": cols,
                               "points": [[0, "x"]]}
        garbage["latency_hist"] = [{"le_ms": "a"}, 5, None, {"le_ms": -3, "count": -1}]
        garbage["by_model"] = {"m": "not an object"}
        garbage["jobs"] = []
        huge = copy.deepcopy(base)
        big = 9223372036854775807
        huge["timeline"]["points"] = [[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                                      [1e300, big, big, big, big, big, big, big, big, big, big]]
        huge["cost_usd"] = {"total": 1e300, "budget": 1e-300, "total_pp": big}
        huge["jobs"] = {"total": 1e300, "succeeded": big, "failed": 0, "pending": 0}
        huge["by_model"] = {"m": {"cost_usd": 1e300, "input_tokens": big,
                                  "output_tokens": big, "requests": big}}
        huge["elapsed_s"] = 1e300
        huge["latency_hist"] = [{"le_ms": big, "count": big}]
        zeros = {"llmbatch_report": 1}
        for name, rep, expect in (("one", one, "Needs two samples"),
                                  ("zero", zero, "No timeline"),
                                  ("none", none, "no budget set"),
                                  ("garbage", garbage, "unreadable"),
                                  ("huge", huge, "$"),
                                  ("zeros", zeros, "No requests sent")):
            with self.subTest(name):
                text = self.render(rep, name)
                page = self.assert_whole_page(text)
                self.assertIn(expect, page.all_text)
                geo = " ".join(a for a in page.attrs_text
                               if a.split("=")[0] in GEOMETRY).lower()
                self.assertNotIn("nan", geo)
                self.assertNotIn("inf", geo)

    # ------------------------------------------------------------ errors

    def test_errors(self):
        missing = os.path.join(self.d, "nothing-here.jsonl.gz")
        r = run(["report", missing, "--html", os.path.join(self.d, "x.html")])
        self.assertEqual(r.returncode, 2)
        self.assertIn("nothing-here.report.json", r.stderr)
        r = run(["report", self.res["out"] + ".ckpt", "--html",
                 os.path.join(self.d, "x.html")])
        self.assertEqual(r.returncode, 2)
        self.assertIn("not a report", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.d, "x.html")))
        r = run(["report", self.res["out"], "--html"])
        self.assertEqual(r.returncode, 2)
        # run --html never overwrites one of the job's own files
        before = read(self.res["input"])
        for target in (self.res["input"], self.res["report"]):
            r = run(["run", self.res["input"], "-o", self.res["out"], "--html", target,
                     "--base-url", "http://127.0.0.1:9"])
            self.assertEqual(r.returncode, 2)
            self.assertIn("must all be different", r.stderr)
        self.assertEqual(read(self.res["input"]), before)
        r = run(["report", self.res["out"], "--html",
                 os.path.join(self.d, "no-such-dir", "x.html")])
        self.assertEqual(r.returncode, 5)
        self.assertIn("cannot write", r.stderr)


if __name__ == "__main__":
    unittest.main()

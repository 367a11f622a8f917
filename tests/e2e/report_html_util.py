"""
report_html_util: shared by the HTML report tests (tests/e2e/test_report_html.py
and the browser test tests/browser/test_html_report.py).

  realistic_run(d)   runs llmbatch against the mock API with several models,
                     several keys (one label hostile, one key exhausted mid-run),
                     429s and 500s, --html, interrupted by SIGINT once and
                     resumed; returns a dict of paths and both runs' results
  check_page(text)   parses the page with html.parser and returns a PageInfo
                     (balanced tags, svg count, section ids, text) or raises
  SECTIONS           the section ids every page holds
  N_SVG              the number of <svg> charts every page holds
"""

import json
import os
import signal
import time
from html.parser import HTMLParser

from harness import Mock, run, start, collect, REPO

PRICES = os.path.join(REPO, "samples", "prices.json")
MODELS = ("gpt-4o-mini", "gpt-4.1-nano", "gpt-5-mini", "mock-model")
KEY_A = "sk-test-htmlreport-000000aaaa"
KEY_B = "sk-test-htmlreport-000000bbbb"
KEY_C = "sk-test-htmlreport-000000cccc"
HOSTILE_LABEL = "<script>alert('k&y')</script>\"x"
SECTIONS = ("headline", "over-time", "rates", "latency", "models", "status", "keys",
            "details")
N_SVG = 9          # formats/report_html.h REPORT_HTML_CHARTS
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
        "source", "track", "wbr"}


def write_input(path, n):
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            body = {"model": MODELS[i % len(MODELS)], "max_tokens": 24,
                    "messages": [{"role": "user",
                                  "content": "report prompt %d " % i + "word " * (i % 37)}]}
            f.write(json.dumps({"custom_id": "job-%04d" % i, "method": "POST",
                                "url": "/v1/chat/completions", "body": body}) + "\n")


def realistic_run(d, n=240, first_run_s=2.0):
    """Two runs of one job (SIGINT after first_run_s, then a rerun)."""
    inp = os.path.join(d, "in.jsonl")
    out = os.path.join(d, "out.jsonl")
    html = os.path.join(d, "live.html")
    keys = os.path.join(d, "keys.txt")
    write_input(inp, n)
    with open(keys, "w", encoding="utf-8") as f:
        f.write("%s label=alpha\n%s label=%s\n%s label=gamma\n"
                % (KEY_A, KEY_B, HOSTILE_LABEL.replace(" ", ""), KEY_C))
    res = {"input": inp, "out": out, "html": html, "keys": keys,
           "report": os.path.join(d, "out.report.json")}
    with Mock("--faults", "429=0.04,500=0.04", "--latency-ms", "40",
              "--exhaust-after", "%s=15" % KEY_C, log=False) as mock:
        args = ["run", inp, "-o", out, "--base-url", mock.url, "--prices", PRICES,
                "--keys-file", keys, "--concurrency", "4", "--budget", "2",
                "--html", html, "--no-progress"]
        env = {"OPENAI_API_KEY": None, "ANTHROPIC_API_KEY": None}
        p = start(args, env=env)
        deadline = time.monotonic() + 10
        while not os.path.exists(html) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(first_run_s)
        with open(html, encoding="utf-8") as f:
            res["live_page"] = f.read()
        p.send_signal(signal.SIGINT)
        res["first"] = collect(p, timeout=60)
        with open(res["report"], encoding="utf-8") as f:
            res["first_report"] = json.load(f)
        res["second"] = run(args, env=env, timeout=120)
    with open(res["report"], encoding="utf-8") as f:
        res["final_report"] = json.load(f)
    return res


class PageInfo(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []
        self.errors = []
        self.counts = {}
        self.ids = set()
        self.text = []
        self.attrs_text = []

    def handle_starttag(self, tag, attrs):
        self.counts[tag] = self.counts.get(tag, 0) + 1
        for k, v in attrs:
            if k == "id":
                self.ids.add(v)
            self.attrs_text.append("%s=%s" % (k, v))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.counts[tag] = self.counts.get(tag, 0) + 1
        for k, v in attrs:
            self.attrs_text.append("%s=%s" % (k, v))

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append("</%s> closes <%s>" % (tag, self.stack[-1] if self.stack
                                                        else "nothing"))
            return
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def check_page(text):
    """Parses the page; raises AssertionError if the tags do not balance."""
    p = PageInfo()
    p.feed(text)
    p.close()
    if p.errors or p.stack:
        raise AssertionError("unbalanced HTML: %s; open at end: %s" % (p.errors[:5], p.stack))
    p.all_text = "".join(p.text)
    return p


def external_refs(text):
    """Anything in the page that would make a browser fetch or run something."""
    low = text.lower()
    bad = []
    for needle in ("http://", "https://", "<script", "<link", "<img", "<iframe", "src=",
                   "url(", "@import", "javascript:", "//fonts", "<object", "<embed"):
        if needle in low:
            bad.append(needle)
    return bad

"""
ratelimit_util: helpers for the rate-limit and key-pool end-to-end tests
(test_ratelimit.py, test_keys.py).

  mock_weight(body)          a request's token weight as the mock counts it
                             (ceil(prompt text bytes / 4) + output limit * n)
  weights_by_custom(path)    {custom_id: weight} for an input file
  max_window(ts, W, ws)      the largest count (or weight sum) of events in a
                             half-open window [t, t+W) of the sorted times ts
  write_keys(path, lines)    writes a keys file
  assert_no_secrets(tc, secrets, texts...), files_text(dir)
"""

import gzip
import importlib.util
import json
import os

from harness import REPO
from run_core_util import scan_files

_mock = None


def mock_module():
    """tests/mockapi/server.py imported as a module (its helpers only)."""
    global _mock
    if _mock is None:
        spec = importlib.util.spec_from_file_location(
            "llmb_mockapi_server", os.path.join(REPO, "tests", "mockapi", "server.py"))
        _mock = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(_mock)
    return _mock


def mock_weight(body, kind="chat"):
    """Token weight of one request body, computed with the mock's own
    functions (the same number its token bucket takes)."""
    m = mock_module()
    n = body.get("n") if kind in ("chat", "completions") else 1
    n = n if isinstance(n, int) and n >= 1 else 1
    limit = m.request_limit(body)
    worst = limit or m.DEFAULT_LIMIT
    w = -(-sum(m.text_bytes(body.get(f), f in ("input", "prompt"))
               for f in ("messages", "prompt", "input", "system", "instructions")) // 4)
    if kind != "embeddings":
        w += worst * n
    return w


def weights_by_custom(path):
    out = {}
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            d = json.loads(line)
            body = d.get("body") or d.get("params")
            kind = "messages" if "params" in d else "chat"
            out[d["custom_id"]] = mock_weight(body, kind)
    return out


def max_window(ts, width, weights=None):
    """Largest number of events (or sum of weights) whose times lie in some
    half-open window [t, t + width).  ts must be sorted."""
    if weights is None:
        weights = [1] * len(ts)
    best = cur = 0
    lo = 0
    for hi in range(len(ts)):
        cur += weights[hi]
        while ts[hi] - ts[lo] >= width:
            cur -= weights[lo]
            lo += 1
        best = max(best, cur)
    return best


def write_keys(path, lines):
    with open(path, "w", encoding="utf-8") as f:
        for line in lines:
            f.write(line + "\n")
    return path


def files_text(d):
    """Every file under d (recursively) as one string, gzip files also
    gunzipped, bytes decoded loosely (for secret scans)."""
    return "\n".join(data.decode("utf-8", errors="replace")
                     for data in scan_files(d).values())


def assert_no_secrets(tc, secrets, *texts, skip=()):
    """Fails tc if any secret (or its part before the last 4 characters)
    occurs in any of texts.  skip: substrings (e.g. the keys file's own
    contents) to remove first."""
    for t in texts:
        if t is None:
            continue
        for s in skip:
            t = t.replace(s, "")
        for sec in secrets:
            tc.assertNotIn(sec, t, "a key leaked")
            tc.assertNotIn(sec[:-4], t, "most of a key leaked")


def drain_bucket(url, key, dialect="openai", threads=6, max_requests=5000, timeout=30):
    """Empties the mock's request bucket for key: sends tiny requests from a
    few threads until each has seen a 429.  Returns the number sent."""
    import http.client
    import threading
    import time
    from urllib.parse import urlparse

    u = urlparse(url)
    if dialect == "anthropic":
        path = "/v1/messages"
        hdrs = {"x-api-key": key, "anthropic-version": "2023-06-01",
                "Content-Type": "application/json"}
    else:
        path = "/v1/chat/completions"
        hdrs = {"Authorization": "Bearer " + key, "Content-Type": "application/json"}
    body = json.dumps({"model": "mock-model", "max_tokens": 1,
                       "messages": [{"role": "user", "content": "drain"}]})
    sent = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + timeout

    def worker():
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
        try:
            while time.monotonic() < deadline:
                with lock:
                    if sent[0] >= max_requests:
                        return
                    sent[0] += 1
                c.request("POST", path, body=body, headers=hdrs)
                r = c.getresponse()
                r.read()
                if r.status == 429:
                    return
        finally:
            c.close()

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout + 5)
    return sent[0]

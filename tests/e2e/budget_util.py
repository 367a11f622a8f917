"""
budget_util: helpers for the spend-cap / cost-report e2e tests
(test_budget.py, test_estimate_report.py).

Money is integer picodollars (pusd, 1e-12 USD) everywhere here, converted
exactly with Decimal, like the mock server and llmbatch do.
"""

import hashlib
import json
import os
from decimal import Decimal

from harness import REPO

PRICES_PATH = os.path.join(REPO, "samples", "prices.json")

with open(PRICES_PATH, encoding="utf-8") as _f:
    _PRICE_DOC = json.load(_f, parse_float=Decimal)
_MODELS = _PRICE_DOC["models"]


def usd_to_pusd(usd):
    """A USD amount (str, int or Decimal) -> integer picodollars, exactly."""
    return int((Decimal(str(usd)) * 10 ** 12).to_integral_value())


def price(model):
    """Per-token prices of a model in pusd (exact match, then longest prefix),
    or None when unpriced."""
    p = _MODELS.get(model)
    if p is None:
        best = None
        for name in _MODELS:
            if model.startswith(name) and (best is None or len(name) > len(best)):
                best = name
        p = _MODELS.get(best) if best else None
    if p is None:
        return None

    def pp(k, default=None):
        v = p.get(k, default)
        return int(Decimal(str(v)) * 10 ** 6)
    inp = pp("input")
    return {
        "input": inp,
        "cached_input": pp("cached_input", p["input"]),
        "cache_write": pp("cache_write", p["input"]),
        "output": pp("output"),
        "max_output_tokens": int(p.get("max_output_tokens") or 0),
        "part_tokens": int(p.get("part_tokens") or 0),
    }


def compact(obj):
    """JSON bytes as llmbatch sends a body (compact, insertion order)."""
    return json.dumps(obj, separators=(",", ":")).encode("utf-8")


def body_sha(body):
    return hashlib.sha256(compact(body)).hexdigest()


def reservation(body, embeddings=False, parts=0):
    """llmbatch's worst-case reservation for one attempt of a request body,
    in pusd: body bytes (+1024 with tools, + parts * part_tokens for
    non-text parts) at the dearest input price plus (max_tokens or the
    model's max_output_tokens) * n at the output price."""
    p = price(body["model"])
    in_price = max(p["input"], p["cached_input"], p["cache_write"])
    in_tokens = len(compact(body)) + parts * p["part_tokens"]
    if body.get("tools") or body.get("functions"):
        in_tokens += 1024
    res = in_tokens * in_price
    if not embeddings:
        limit = (body.get("max_completion_tokens") or body.get("max_tokens")
                 or body.get("max_output_tokens") or p["max_output_tokens"])
        res += limit * (body.get("n") or 1) * p["output"]
    return res


def openai_line(cid, text, model="mock-model", max_tokens=16, n=None):
    body = {"model": model, "messages": [{"role": "user", "content": text}]}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    if n is not None:
        body["n"] = n
    body["metadata"] = {"custom": cid}
    return {"custom_id": cid, "method": "POST", "url": "/v1/chat/completions",
            "body": body}


def anthropic_line(cid, text, model="claude-sonnet-4-5", max_tokens=32):
    return {"custom_id": cid,
            "params": {"model": model, "max_tokens": max_tokens,
                       "messages": [{"role": "user", "content": text}],
                       "metadata": {"custom": cid}}}


def body_of(line):
    return line["body"] if "body" in line else line["params"]


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def billed_total(stats):
    return stats["billed_ok_pusd"] + stats["billed_fault_pusd"]

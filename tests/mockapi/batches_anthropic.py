"""
batches_anthropic: the Anthropic Message Batches API of the mock (wire
shapes and request validation); the engine is batchapi.Store.

  POST   /v1/messages/batches            {"requests":[{"custom_id","params"}]}
  GET    /v1/messages/batches/{id}       the message_batch object
  GET    /v1/messages/batches?limit=&after_id=&before_id=
                                         {"data","has_more","first_id","last_id"},
                                         newest first, limit 1..1000 (20)
  POST   /v1/messages/batches/{id}/cancel -> canceling (400 once ended)
  GET    /v1/messages/batches/{id}/results   JSONL (application/x-jsonl), once ended
  DELETE /v1/messages/batches/{id}       {"id","type":"message_batch_deleted"} once ended

Creation is refused with 400 invalid_request_error for: an empty or
non-list "requests", more than anthropic_max_requests (100,000), a custom_id
not matching ^[a-zA-Z0-9_-]{1,64}$, a duplicate custom_id, or params that are
not an object; 413 request_too_large above anthropic_max_bytes (256 MB); 429
rate_limit_error when the key's enqueued prompt tokens for a model would pass
enqueued_token_limit.  The params of each request are validated only when the
row is processed (an invalid one ends "errored"), as the real API does.

Result lines (seeded shuffled order):
  {"custom_id":..,"result":{"type":"succeeded","message":{..}}}
  {"custom_id":..,"result":{"type":"errored","error":{"type":"error",
                                                      "error":{"type","message"}}}}
  {"custom_id":..,"result":{"type":"canceled"}}    {"custom_id":..,"result":{"type":"expired"}}
"""

import json
import random
import re
from datetime import datetime, timezone

import batchapi
from mockcommon import Outcome, error_outcome, jbytes

CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
D = "anthropic"


def ts(t):
    if t is None:
        return None
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def obj(call, b):
    t = b.times
    ended = b.status in batchapi.TERMINAL
    end_t = next((t[s] for s in batchapi.TERMINAL if s in t), None)
    return {
        "id": b.id, "type": "message_batch",
        "processing_status": "ended" if ended else
        ("canceling" if b.status == "cancelling" else "in_progress"),
        "request_counts": {"processing": len(b.rows) - sum(b.counts.values()),
                           "succeeded": b.counts["ok"], "errored": b.counts["error"],
                           "canceled": b.counts["cancelled"], "expired": b.counts["expired"]},
        "ended_at": ts(end_t), "created_at": ts(b.created),
        "expires_at": ts(b.created + 86400), "archived_at": None,
        "cancel_initiated_at": ts(t.get("cancelling")),
        "results_url": "%s/v1/messages/batches/%s/results" % (call.base_url(), b.id)
        if ended else None,
    }


def finalize(store, b):
    rng = random.Random("%s:%s" % (store.S.args.seed, b.id))
    out = []
    for r in b.rows:
        if r.state == "ok":
            res = {"type": "succeeded", "message": json.loads(r.outcome.body)}
        elif r.state == "error":
            res = {"type": "errored", "error": json.loads(r.outcome.body)}
        elif r.state == "expired":
            res = {"type": "expired"}
        elif r.state == "cancelled":
            res = {"type": "canceled"}
        else:
            continue
        out.append({"custom_id": r.custom_id, "result": res})
    rng.shuffle(out)
    b.results = b"".join(jbytes(d) + b"\n" for d in out)


def create(call):
    store = call.store
    if len(call.body) > store.cfg["anthropic_max_bytes"]:
        return error_outcome(D, 413, "Request exceeds the maximum allowed number of bytes "
                             "(%d)." % store.cfg["anthropic_max_bytes"])
    try:
        doc = json.loads(call.body)
    except (ValueError, UnicodeDecodeError):
        return error_outcome(D, 400, "The request body is not valid JSON.")
    reqs = doc.get("requests") if isinstance(doc, dict) else None
    if not isinstance(reqs, list) or not reqs:
        return error_outcome(D, 400, "requests: Field required (a non-empty list)")
    if len(reqs) > store.cfg["anthropic_max_requests"]:
        return error_outcome(D, 400, "requests: List should have at most %d items, not %d"
                             % (store.cfg["anthropic_max_requests"], len(reqs)))
    rows, seen = [], set()
    for i, q in enumerate(reqs):
        cid = q.get("custom_id") if isinstance(q, dict) else None
        if not isinstance(cid, str) or not CUSTOM_ID.match(cid):
            return error_outcome(D, 400, "requests.%d.custom_id: String should match pattern "
                                 "'^[a-zA-Z0-9_-]{1,64}$'" % i)
        if cid in seen:
            return error_outcome(D, 400, "requests.%d.custom_id: Duplicate custom_id '%s'; "
                                 "custom_id must be unique within a batch" % (i, cid))
        if not isinstance(q.get("params"), dict):
            return error_outcome(D, 400, "requests.%d.params: Input should be a valid "
                                 "dictionary" % i)
        seen.add(cid)
        rows.append(batchapi.Row(i + 1, cid, "messages", q["params"]))
    b = batchapi.Batch(D, call.key, store.next_seq(), call.now, store)
    b.rows = rows
    limit = store.cfg["enqueued_token_limit"]
    if limit:
        per_model = {}
        for r in rows:
            m = r.req.get("model")
            per_model[m] = per_model.get(m, 0) + r.tokens
        for m, n in per_model.items():
            if store.enqueued_for(call.key, m) + n > limit:
                return error_outcome(D, 429, "Number of enqueued prompt tokens for %s would "
                                     "exceed your organization's batch queue limit of %d."
                                     % (m, limit), headers=[("retry-after", "1")])
        b.model = next(iter(per_model)) if len(per_model) == 1 else None
    store.add_batch(b, "msgbatch_01")
    call.batch_id = b.id
    return Outcome(200, jbytes(obj(call, b)))


def find(call, bid):
    call.batch_id = bid
    b = call.store.owned_batch(bid, call.key, D)
    if b is None:
        return None, error_outcome(D, 404, "Message batch %s not found." % bid)
    return b, None


def retrieve(call, bid):
    b, e = find(call, bid)
    return e or Outcome(200, jbytes(obj(call, b)))


def cancel(call, bid):
    b, e = find(call, bid)
    if e:
        return e
    if b.status in batchapi.TERMINAL:
        return error_outcome(D, 400, "Message batch %s has ended and cannot be canceled."
                             % bid)
    if b.status == "in_progress":
        call.store.cancel(b, call.now)
    return Outcome(200, jbytes(obj(call, b)))


def results(call, bid):
    b, e = find(call, bid)
    if e:
        return e
    if b.status not in batchapi.TERMINAL:
        return error_outcome(D, 400, "Message batch %s has not ended; its results are not "
                             "available yet." % bid)
    out = Outcome(200, b.results or b"")
    out.ctype = "application/x-jsonl"
    return out


def delete(call, bid):
    b, e = find(call, bid)
    if e:
        return e
    if b.status not in batchapi.TERMINAL:
        return error_outcome(D, 400, "Message batch %s is still processing; cancel it "
                             "before deleting it." % bid)
    del call.store.batches[bid]
    return Outcome(200, jbytes({"id": bid, "type": "message_batch_deleted"}))


def list_batches(call):
    try:
        limit = int(call.query.get("limit", "20"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= 1000:
        return error_outcome(D, 400, "limit: Input should be between 1 and 1000")
    bs = sorted((b for b in call.store.batches.values()
                 if b.key == call.key and b.dialect == D), key=lambda b: -b.seq)
    ids = [b.id for b in bs]
    after, before = call.query.get("after_id"), call.query.get("before_id")
    if after:
        if after not in ids:
            return error_outcome(D, 404, "Message batch %s not found." % after)
        bs = bs[ids.index(after) + 1:]
        page, more = bs[:limit], len(bs) > limit
    elif before:
        if before not in ids:
            return error_outcome(D, 404, "Message batch %s not found." % before)
        bs = bs[:ids.index(before)]
        page, more = bs[-limit:], len(bs) > limit
    else:
        page, more = bs[:limit], len(bs) > limit
    return Outcome(200, jbytes({
        "data": [obj(call, b) for b in page], "has_more": more,
        "first_id": page[0].id if page else None, "last_id": page[-1].id if page else None}))

"""
batches_openai: the OpenAI Batch API of the mock (wire shapes and input-file
validation); the engine that advances batches is batchapi.Store.

  POST /v1/batches                {input_file_id, endpoint, completion_window:"24h",
                                   metadata?} -> batch object (status validating)
  GET  /v1/batches/{id}           batch object
  GET  /v1/batches?limit=&after=  {"object":"list","data","first_id","last_id",
                                   "has_more"}, newest first, limit 1..100 (20)
  POST /v1/batches/{id}/cancel    -> cancelling; 409 once completed/failed/expired

Input file rules (checked at the validating -> in_progress step; any breach
fails the batch with errors.data [{code, message, param, line}]):
  invalid_json_line, missing_required_parameter (custom_id, method, url,
  body), invalid_method (not POST), invalid_url (url differs from the batch's
  endpoint), duplicate_custom_id, mismatched_model (one model per file),
  empty_file, too_many_requests (> openai_max_requests, default 50,000);
  then token_limit_exceeded when the key's enqueued prompt tokens for the
  model would pass enqueued_token_limit.

Output file line:  {"id":"batch_req_..","custom_id":..,"response":{"status_code":200,
                    "request_id":"req_..","body":{..}},"error":null}
Error file line:   a row the endpoint refused: the same with its status_code and
                   error body; expired / cancelled rows: "response":null,
                   "error":{"code":"batch_expired"|"batch_cancelled","message":..}
Both files list their lines in a seeded shuffled order.
"""

import json
import random

import batchapi
import files
from mockcommon import Outcome, error_outcome, jbytes

MAX_ERRORS = 100
MESSAGES = {
    "expired": ("batch_expired",
                "This request could not be executed before the completion window expired."),
    "cancelled": ("batch_cancelled",
                  "This request was not executed because the batch was cancelled."),
}


def obj(store, b):
    t = b.times
    vi = batchapi.epoch_int
    return {
        "id": b.id, "object": "batch", "endpoint": b.endpoint,
        "errors": {"object": "list", "data": b.errors} if b.errors else None,
        "input_file_id": b.input_file_id, "completion_window": "24h",
        "status": b.status, "output_file_id": b.output_file_id,
        "error_file_id": b.error_file_id, "created_at": vi(b.created),
        "in_progress_at": vi(t.get("in_progress")), "expires_at": vi(b.created) + 86400,
        "finalizing_at": vi(t.get("finalizing")), "completed_at": vi(t.get("completed")),
        "failed_at": vi(t.get("failed")), "expired_at": vi(t.get("expired")),
        "cancelling_at": vi(t.get("cancelling")), "cancelled_at": vi(t.get("cancelled")),
        "request_counts": {"total": len(b.rows), "completed": b.counts["ok"],
                           "failed": b.counts["error"]},
        "metadata": b.metadata,
    }


def err(code, message, param=None, line=None):
    return {"code": code, "message": message, "param": param, "line": line}


def parse_rows(store, b):
    """Reads the input file into b.rows; the errors.data list (empty if valid)."""
    f = store.files.get(b.input_file_id)
    if f is None:
        return [err("file_not_found", "The input file was deleted.", "input_file_id")]
    errors, rows, seen = [], [], set()
    kind = store.openai_kinds[b.endpoint]
    for i, raw in enumerate(f.data.split(b"\n"), 1):
        if len(errors) >= MAX_ERRORS:
            break
        if not raw.strip():
            continue
        try:
            o = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            errors.append(err("invalid_json_line",
                              "This line is not parseable as valid JSON.", None, i))
            continue
        if not isinstance(o, dict):
            errors.append(err("invalid_json_line", "This line is not a JSON object.", None, i))
            continue
        cid, body = o.get("custom_id"), o.get("body")
        missing = [p for p, ok in (("custom_id", isinstance(cid, str) and cid),
                                   ("method", "method" in o), ("url", "url" in o),
                                   ("body", isinstance(body, dict))) if not ok]
        if missing:
            errors.append(err("missing_required_parameter", "Missing required parameter: "
                              "'%s'." % missing[0], missing[0], i))
            continue
        if o["method"] != "POST":
            errors.append(err("invalid_method", "Invalid value for 'method': only POST is "
                              "supported.", "method", i))
        elif o["url"] != b.endpoint:
            errors.append(err("invalid_url", "The URL provided for this request does not "
                              "match the batch endpoint (%s)." % b.endpoint, "url", i))
        elif cid in seen:
            errors.append(err("duplicate_custom_id", "The custom_id for this request is a "
                              "duplicate of another request. The custom_id parameter must "
                              "be unique for each request in a batch.", "custom_id", i))
        elif b.model is not None and body.get("model") != b.model:
            errors.append(err("mismatched_model", "The provided model '%s' does not match "
                              "the model '%s' of the other requests in this batch. A batch "
                              "input file can only include requests to a single model."
                              % (body.get("model"), b.model), "body.model", i))
        else:
            seen.add(cid)
            if b.model is None:
                b.model = body.get("model")
            rows.append(batchapi.Row(i, cid, kind, body))
    if not errors and not rows:
        errors.append(err("empty_file", "The input file contains no requests."))
    limit = store.cfg["openai_max_requests"]
    if not errors and len(rows) > limit:
        errors.append(err("too_many_requests", "The input file has %d requests; a batch "
                          "may contain at most %d." % (len(rows), limit)))
    b.rows = rows
    return errors


def finalize(store, b):
    """Writes the output and error files of the rows that have an outcome."""
    rng = random.Random("%s:%s" % (store.S.args.seed, b.id))
    ok, bad = [], []
    for r in b.rows:
        if r.state == "ok":
            ok.append({"id": r.row_id, "custom_id": r.custom_id,
                       "response": {"status_code": 200, "request_id": r.request_id,
                                    "body": json.loads(r.outcome.body)}, "error": None})
        elif r.state == "error":
            bad.append({"id": r.row_id, "custom_id": r.custom_id,
                        "response": {"status_code": r.outcome.status,
                                     "request_id": r.request_id,
                                     "body": json.loads(r.outcome.body)}, "error": None})
        elif r.state in MESSAGES:
            code, msg = MESSAGES[r.state]
            bad.append({"id": r.row_id, "custom_id": r.custom_id, "response": None,
                        "error": {"code": code, "message": msg}})
    rng.shuffle(ok)
    rng.shuffle(bad)
    now = b.times.get(b.status)
    if ok:
        b.output_file_id = files.add_file(store, b.key, now, "batch_%s_output.jsonl" % b.id,
                                          "batch_output", lines(ok)).id
    if bad:
        b.error_file_id = files.add_file(store, b.key, now, "batch_%s_error.jsonl" % b.id,
                                         "batch_output", lines(bad)).id


def lines(docs):
    return b"".join(jbytes(d) + b"\n" for d in docs)


def bad(message, param=None, status=400, code=None):
    out = error_outcome("openai", status, message, code=code)
    if param:
        doc = json.loads(out.body)
        doc["error"]["param"] = param
        out.body = jbytes(doc)
    return out


def check_metadata(md):
    if md is None:
        return None
    if not isinstance(md, dict) or len(md) > 16:
        return "metadata: must be an object of at most 16 key-value pairs"
    for k, v in md.items():
        if len(k) > 64 or not isinstance(v, str) or len(v) > 512:
            return "metadata: keys are at most 64 characters, values strings of at most 512"
    return None


def create(call):
    store = call.store
    try:
        doc = json.loads(call.body)
    except (ValueError, UnicodeDecodeError):
        return bad("We could not parse the JSON body of your request.")
    if not isinstance(doc, dict):
        return bad("The request body must be a JSON object.")
    fid, ep, cw = doc.get("input_file_id"), doc.get("endpoint"), doc.get("completion_window")
    for p, v in (("input_file_id", fid), ("endpoint", ep), ("completion_window", cw)):
        if not isinstance(v, str) or not v:
            return bad("Missing required parameter: '%s'." % p, p,
                       code="missing_required_parameter")
    if ep not in store.openai_kinds:
        return bad("Invalid value for 'endpoint': %s. Supported: %s."
                   % (ep, ", ".join(sorted(store.openai_kinds))), "endpoint",
                   code="invalid_value")
    if cw != "24h":
        return bad("Invalid value for 'completion_window': only '24h' is supported.",
                   "completion_window", code="invalid_value")
    problem = check_metadata(doc.get("metadata"))
    if problem:
        return bad(problem, "metadata", code="invalid_value")
    f = store.files.get(fid)
    if f is None or f.key != call.key:
        return bad("No such File object: %s" % fid, "input_file_id", status=404)
    if f.purpose != "batch":
        return bad("The input file %s must have purpose 'batch', not '%s'." % (fid, f.purpose),
                   "input_file_id")
    b = batchapi.Batch("openai", call.key, store.next_seq(), call.now, store)
    b.endpoint, b.input_file_id, b.metadata = ep, fid, doc.get("metadata")
    store.add_batch(b, "batch_")
    call.batch_id = b.id
    return Outcome(200, jbytes(obj(store, b)))


def find(call, bid):
    call.batch_id = bid
    b = call.store.owned_batch(bid, call.key, "openai")
    if b is None:
        return None, bad("No batch found with id '%s'." % bid, status=404)
    return b, None


def retrieve(call, bid):
    b, e = find(call, bid)
    return e or Outcome(200, jbytes(obj(call.store, b)))


def cancel(call, bid):
    b, e = find(call, bid)
    if e:
        return e
    if b.status in ("completed", "failed", "expired"):
        return bad("Cannot cancel a batch with status '%s'." % b.status, status=409)
    if b.status in ("validating", "in_progress", "finalizing"):
        call.store.cancel(b, call.now)
    return Outcome(200, jbytes(obj(call.store, b)))


def list_batches(call):
    try:
        limit = int(call.query.get("limit", "20"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= 100:
        return bad("Invalid 'limit': must be an integer in [1, 100].", "limit")
    bs = sorted((b for b in call.store.batches.values()
                 if b.key == call.key and b.dialect == "openai"), key=lambda b: -b.seq)
    after = call.query.get("after")
    if after:
        idx = [b.id for b in bs]
        if after not in idx:
            return bad("No batch found with id '%s'." % after, "after", status=404)
        bs = bs[idx.index(after) + 1:]
    page = bs[:limit]
    return Outcome(200, jbytes({
        "object": "list", "data": [obj(call.store, b) for b in page],
        "first_id": page[0].id if page else None, "last_id": page[-1].id if page else None,
        "has_more": len(bs) > limit}))

"""
files: the OpenAI Files API of the mock (the part the Batch API needs).

What it owns: multipart/form-data parsing of uploads and the file object's
wire shape.  Files live in the shared batchapi Store (store.files), belong to
the key that uploaded them, and are held in memory.

  POST   /v1/files                 multipart: purpose=batch, file=@x.jsonl
  GET    /v1/files[?purpose=]      {"object":"list","data":[...],"has_more":false}
  GET    /v1/files/{id}            the file object
  GET    /v1/files/{id}/content    the bytes (application/octet-stream)
  DELETE /v1/files/{id}            {"id","object":"file","deleted":true}

Batch output and error files are created by the engine with purpose
"batch_output".  An upload with purpose "batch" larger than
openai_max_file_bytes (default 200 MB) is refused with 400 (param "file").
"""

import re

from mockcommon import Outcome, error_outcome, hexid, jbytes

PURPOSES = ("batch", "fine-tune", "assistants", "vision", "user_data", "evals")


class File:
    def __init__(self, fid, key, seq, now, filename, purpose, data):
        self.id = fid
        self.key = key
        self.seq = seq
        self.created = int(now)
        self.filename = filename
        self.purpose = purpose
        self.data = data


def obj(f):
    return {"id": f.id, "object": "file", "bytes": len(f.data), "created_at": f.created,
            "expires_at": None, "filename": f.filename, "purpose": f.purpose,
            "status": "processed", "status_details": None}


def add_file(store, key, now, filename, purpose, data):
    """Stores a file and returns it (under S.lock)."""
    f = File("file-" + hexid(11), key, store.next_seq(), now, filename, purpose, data)
    store.files[f.id] = f
    store.S.stats["files_created"] += 1
    return f


def parse_multipart(ctype, body):
    """{field name: (filename or None, bytes)} of a multipart/form-data body,
    or a message saying why it cannot be parsed."""
    m = re.search(r'boundary="?([^";]+)"?', ctype or "")
    if not (ctype or "").lower().startswith("multipart/form-data") or not m:
        return "Expected a multipart/form-data body with a boundary."
    delim = b"--" + m.group(1).encode("latin-1")
    parts = body.split(delim)
    if len(parts) < 3 or not parts[-1].startswith(b"--"):
        return "The multipart body is truncated (no closing boundary)."
    fields = {}
    for part in parts[1:-1]:
        if part.startswith(b"\r\n"):
            part = part[2:]
        head, sep, content = part.partition(b"\r\n\r\n")
        if not sep:
            return "A multipart part has no header/body separator."
        if content.endswith(b"\r\n"):
            content = content[:-2]
        disp = ""
        for line in head.decode("latin-1").split("\r\n"):
            k, _, v = line.partition(":")
            if k.strip().lower() == "content-disposition":
                disp = v
        name = re.search(r'\bname="([^"]*)"', disp)
        if not name:
            return "A multipart part has no Content-Disposition name."
        fn = re.search(r'\bfilename="([^"]*)"', disp)
        fields[name.group(1)] = (fn.group(1) if fn else None, content)
    return fields


def lookup(call, fid):
    f = call.store.files.get(fid)
    call.file_id = fid
    if f is None or f.key != call.key:
        return None, error_outcome("openai", 404, "No such File object: %s" % fid,
                                   code=None)
    return f, None


def upload(call):
    fields = parse_multipart(call.headers.get("Content-Type"), call.body)
    if isinstance(fields, str):
        return error_outcome("openai", 400, fields)
    purpose = fields.get("purpose", (None, b""))[1].decode("utf-8", "replace").strip()
    if not purpose:
        return error_outcome("openai", 400, "Missing required parameter: 'purpose'.",
                             code="missing_required_parameter")
    if purpose not in PURPOSES:
        return error_outcome("openai", 400, "'%s' is not one of %s - 'purpose'"
                             % (purpose, list(PURPOSES)), code="invalid_value")
    if "file" not in fields:
        return error_outcome("openai", 400, "Missing required parameter: 'file'.",
                             code="missing_required_parameter")
    filename, data = fields["file"]
    limit = call.store.cfg["openai_max_file_bytes"]
    if purpose == "batch" and len(data) > limit:
        out = error_outcome("openai", 400, "File is too large: %d bytes. The maximum for "
                            "purpose 'batch' is %d bytes." % (len(data), limit),
                            code="file_too_large")
        return out
    f = add_file(call.store, call.key, call.now, filename or "upload.jsonl", purpose, data)
    call.file_id = f.id
    return Outcome(200, jbytes(obj(f)))


def list_files(call):
    want = call.query.get("purpose")
    fs = sorted((f for f in call.store.files.values()
                 if f.key == call.key and (not want or f.purpose == want)),
                key=lambda f: -f.seq)
    return Outcome(200, jbytes({"object": "list", "data": [obj(f) for f in fs],
                                "has_more": False}))


def retrieve(call, fid):
    f, err = lookup(call, fid)
    return err or Outcome(200, jbytes(obj(f)))


def delete(call, fid):
    f, err = lookup(call, fid)
    if err:
        return err
    del call.store.files[fid]
    return Outcome(200, jbytes({"id": fid, "object": "file", "deleted": True}))


def content(call, fid):
    f, err = lookup(call, fid)
    if err:
        return err
    out = Outcome(200, f.data)
    out.ctype = "application/octet-stream"
    return out

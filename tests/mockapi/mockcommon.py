"""
mockcommon: reply helpers shared by the mock server's modules (server.py and
the batch modules): the Outcome record, JSON error bodies in both dialects,
ids.  No state lives here.
"""

import json
import secrets

REASONS = {
    200: "OK", 301: "Moved Permanently", 302: "Found", 307: "Temporary Redirect",
    308: "Permanent Redirect", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout",
    409: "Conflict", 413: "Payload Too Large", 422: "Unprocessable Entity",
    429: "Too Many Requests", 500: "Internal Server Error",
    502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
    529: "Overloaded",
}

OPENAI_ERR = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "unknown_url"),
    405: ("invalid_request_error", "method_not_allowed"),
    409: ("invalid_request_error", "conflict"),
    413: ("invalid_request_error", "request_too_large"),
    422: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    502: ("server_error", "bad_gateway"),
    503: ("server_error", "service_unavailable"),
    504: ("server_error", "timeout"),
    529: ("server_error", "overloaded"),
}
ANTHROPIC_ERR = {
    400: "invalid_request_error", 401: "authentication_error",
    403: "permission_error", 404: "not_found_error",
    413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
    502: "api_error", 503: "api_error", 504: "timeout_error",
    529: "overloaded_error",
}


class Outcome:
    """What to answer: status, headers, body, and the billing it implies."""

    def __init__(self, status, body, headers=None):
        self.status = status
        self.body = body
        self.headers = headers or []
        self.fault = None
        self.billable = False
        self.pusd = 0
        self.unpriced = False
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.ctype = None          # Content-Type if not application/json


def jbytes(obj):
    return json.dumps(obj, separators=(",", ":")).encode("utf-8")


def error_outcome(dialect, status, message, etype=None, code=None, headers=None):
    if dialect == "anthropic":
        etype = etype or ANTHROPIC_ERR.get(
            status, "api_error" if status >= 500 else "invalid_request_error")
        body = {"type": "error", "error": {"type": etype, "message": message}}
    else:
        dtype, dcode = OPENAI_ERR.get(
            status, ("server_error" if status >= 500 else "invalid_request_error", None))
        body = {"error": {"message": message, "type": etype or dtype,
                          "param": None, "code": code if code is not None else dcode}}
    return Outcome(status, jbytes(body), list(headers or []))


def hexid(n=12):
    return secrets.token_hex(n)

"""
livefaults: the replies of the mock's "setup mistake" and key-quoting fault
modes for live requests (issue 10), in both dialects.  Pure functions: no
state lives here.

  echo_key   401 / 403 / quota bodies quote the caller's whole key, whatever
             its shape, as some real servers do ("Incorrect API key provided:
             tok-abc123...").  On with --echo-key, _config echo_key=true, or a
             "mock:echo_key" directive in the request body.
  redirect   every API request (live and batch calls) is answered with the
             status of --redirect 301|302|307|308 (_config redirect=) and a
             Location to the same path under /v2/; a single request with
             --faults 301=p / 307=p or a "mock:fail=307" directive.
  404 path   every request to a path listed in --not-found-paths
             (_config not_found_paths=[..]) gets 404 {"error":{"message":
             "Unknown request URL: POST /v1/...","type":"invalid_request_error",
             "code":"unknown_url"}}; one request with --faults 404=p or a
             "mock:unknown_url" directive ("mock:fail=404" stays a plain
             per-job 404 whose message names the directive).
  401 / 403  with --faults 401=p / 403=p; "mock:fail=401|403" gives the
             key-quoting body only with echo on (else the plain directive
             message).
"""

from mockcommon import Outcome, error_outcome

REDIRECTS = (301, 302, 307, 308)
SPECIAL = REDIRECTS + (401, 403, 404)


def redirect_outcome(code, host, path):
    target = "/v2/" + path[4:] if path.startswith("/v1/") else "/v2" + path
    loc = "http://%s%s" % (host or "127.0.0.1", target)
    body = ('<html><head><title>%d</title></head><body>Moved to <a href="%s">%s</a>'
            '</body></html>' % (code, loc, loc)).encode()
    out = Outcome(code, body, [("Location", loc)])
    out.ctype = "text/html"
    return out


def not_found_outcome(dialect, method, path):
    msg = ("Unknown request URL: %s %s. Please check the URL for typos, or see the docs "
           "at https://platform.openai.com/docs/api-reference/." % (method, path))
    return error_outcome(dialect, 404, msg, code="unknown_url")


def auth_outcome(dialect, status, key, echo, last4):
    """A 401 or 403 body; with echo the whole key is quoted."""
    if status == 401:
        if dialect == "anthropic":
            msg = "invalid x-api-key: %s" % key if echo else "invalid x-api-key"
        else:
            msg = ("Incorrect API key provided: %s. You can find your API key at "
                   "https://platform.openai.com/account/api-keys."
                   % (key if echo else "..." + last4))
        return error_outcome(dialect, 401, msg)
    if echo:
        msg = "The API key %s does not have permission to use the specified resource." % key
    else:
        msg = "Your API key does not have permission to use the specified resource."
    return error_outcome(dialect, 403, msg)


def quota_outcome(dialect, key, echo):
    """An exhausted key: 429 insufficient_quota (OpenAI) or 400 credit (Anthropic)."""
    who = " for key %s" % key if echo else ""
    if dialect == "anthropic":
        return error_outcome(dialect, 400, "Your credit balance is too low to access "
                             "the Anthropic API%s. Please go to Plans & Billing to "
                             "upgrade or purchase credits." % who)
    return error_outcome(dialect, 429, "You exceeded your current quota%s, please check "
                         "your plan and billing details." % who, etype="insufficient_quota",
                         code="insufficient_quota")


def special_outcome(dialect, code, method, path, host, key, echo, last4):
    """The reply of an injected redirect, 401, 403 or 404; None for other codes."""
    if code in REDIRECTS:
        return redirect_outcome(code, host, path)
    if code in (401, 403):
        return auth_outcome(dialect, code, key, echo, last4)
    if code == 404:
        return not_found_outcome(dialect, method, path)
    return None

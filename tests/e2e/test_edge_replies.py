"""
Edge cases found in review, each against a tiny scripted server on
127.0.0.1 whose reply depends on the prompt:
  - a 403 for one job on a key that works is that job's failure, not the key's;
  - a 5xx made final by x-should-retry: false is still charged (possibly billed);
  - a reply whose usage has no output count is charged its reservation;
  - a server echoing the API key in an error body never gets it into a file;
  - stdin input never overwrites another run's outputs;
  - a server that cannot be reached stops the run with the jobs pending;
  - colliding output paths are refused before anything is sent.
"""
import json
import os
import subprocess
import unittest

from harness import FakeServer, LLMBATCH, chat_reply, read_jsonl, run, tmpdir, write_jobs

KEY = "sk-test-edge-0123456789abcdefWXYZ"


def _reply(req):
    """The reply depends on a marker in the prompt."""
    text = req.body.decode()
    hdrs = [("x-request-id", "req_edge%06d" % (req.n + 1))]
    if "edge:403" in text:
        st, out = 403, {"error": {"message": "Project does not have access to model x",
                                  "type": "invalid_request_error",
                                  "code": "model_not_found"}}
    elif "edge:final500" in text:
        st, out = 500, {"error": {"message": "boom", "type": "server_error"}}
        hdrs.append(("x-should-retry", "false"))
    elif "edge:echo" in text:
        auth = {k.lower(): v for k, v in req.headers.items()}.get("authorization", "")
        st, out = 400, {"error": {"message": "bad request", "type": "invalid_request_error",
                                  "debug": "Authorization: " + auth}}
    elif "edge:partial" in text:
        st, out = 200, {"id": "c", "object": "chat.completion", "model": "mock-model",
                        "choices": [], "usage": {"prompt_tokens": 3}}
    else:
        st, out = 200, chat_reply()
    return st, hdrs, out


def Server():
    return FakeServer(_reply)


def env():
    return {"OPENAI_API_KEY": KEY, "ANTHROPIC_API_KEY": None}


class EdgeReplies(unittest.TestCase):
    def run_jobs(self, d, srv, faults, n=20, extra=()):
        inp = os.path.join(d, "in.jsonl")
        out = os.path.join(d, "out.jsonl")
        ids = write_jobs(inp, n, faults=faults)
        r = run(["run", inp, "-o", out, "--base-url", srv.url, "--max-retries", "2"] +
                list(extra), env=env(), timeout=120)
        rep = json.load(open(os.path.join(d, "out.report.json")))
        return r, ids, read_jsonl(out), read_jsonl(os.path.join(d, "out.errors.jsonl")), rep

    def test_403_on_a_working_key_fails_only_that_job(self):
        with tmpdir() as d, Server() as srv:
            r, ids, res, errs, rep = self.run_jobs(d, srv, {10: "edge:403"})
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertEqual(len(res), 19)
            self.assertEqual([e["custom_id"] for e in errs], [ids[10]])
            self.assertEqual(errs[0]["error"]["code"], "model_not_found")
            self.assertEqual(errs[0]["response"]["status_code"], 403)
            self.assertEqual(errs[0]["response"]["request_id"][:8], "req_edge")
            self.assertNotIn("invalid", json.dumps(rep["by_key"]))

    def test_final_5xx_is_charged(self):
        with tmpdir() as d, Server() as srv:
            r, ids, res, errs, rep = self.run_jobs(d, srv, {3: "edge:final500"},
                                                   extra=["--budget", "1"])
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertEqual(len(errs), 1)
            self.assertGreater(rep["cost_usd"]["possibly_billed_failures"], 0)
            self.assertEqual(len(srv.requests), 20)      # not retried

    def test_usage_without_output_count_is_charged_its_reservation(self):
        with tmpdir() as d, Server() as srv:
            r, ids, res, errs, rep = self.run_jobs(d, srv, {i: "edge:partial" for i in range(20)},
                                                   extra=["--budget", "1"])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertAlmostEqual(rep["cost_usd"]["estimated"], rep["cost_usd"]["total"],
                                   places=9)
            self.assertGreater(rep["cost_usd"]["total"], 0)

    def test_key_echoed_by_server_is_scrubbed(self):
        with tmpdir() as d, Server() as srv:
            r, ids, res, errs, rep = self.run_jobs(d, srv, {5: "edge:echo"})
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertEqual(len(errs), 1)
            for root, _, files in os.walk(d):
                for f in files:
                    with open(os.path.join(root, f), "rb") as fh:
                        self.assertNotIn(KEY.encode(), fh.read(), f)
            self.assertNotIn(KEY, r.stdout + r.stderr)
            self.assertIn("****", json.dumps(errs[0]["response"]["body"]))

    def test_stdin_does_not_overwrite_a_previous_run(self):
        with tmpdir() as d, Server() as srv:
            r, ids, res, errs, rep = self.run_jobs(d, srv, {})
            self.assertEqual(r.returncode, 0)
            before = open(os.path.join(d, "out.jsonl"), "rb").read()
            one = open(os.path.join(d, "in.jsonl")).readline()
            p = subprocess.run([LLMBATCH, "run", "-", "-o", os.path.join(d, "out.jsonl"),
                                "--base-url", srv.url], input=one, text=True,
                               capture_output=True, env=dict(os.environ, OPENAI_API_KEY=KEY),
                               timeout=60)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertEqual(open(os.path.join(d, "out.jsonl"), "rb").read(), before)

    def test_unreachable_server_stops_with_jobs_pending(self):
        """Nothing listening at --base-url: after a job's retries the run stops
        (exit 5) with every job still pending, so the same command completes
        once the server is up."""
        from nginx_util import free_port
        with tmpdir() as d:
            inp = os.path.join(d, "in.jsonl")
            out = os.path.join(d, "out.jsonl")
            write_jobs(inp, 30)
            dead = "http://127.0.0.1:%d" % free_port()
            r = run(["run", inp, "-o", out, "--base-url", dead, "--max-retries", "1",
                     "--concurrency", "4"], env=env(), timeout=120)
            self.assertEqual(r.returncode, 5, r.stderr)
            self.assertIn("cannot reach the API", r.stderr)
            self.assertEqual(read_jsonl(out), [])
            self.assertEqual(read_jsonl(os.path.join(d, "out.errors.jsonl")), [])
            with Server() as srv:
                r = run(["run", inp, "-o", out, "--base-url", srv.url], env=env(),
                        timeout=120)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(len(read_jsonl(out)), 30)

    def test_colliding_paths_are_refused(self):
        with tmpdir() as d, Server() as srv:
            inp = os.path.join(d, "in.jsonl")
            out = os.path.join(d, "out.jsonl")
            write_jobs(inp, 3)
            for extra in (["--report", out], ["--checkpoint", inp], ["--errors", inp],
                          ["--report", os.path.join(d, "./out.jsonl")]):
                r = run(["run", inp, "-o", out, "--base-url", srv.url] + extra, env=env())
                self.assertEqual(r.returncode, 2, (extra, r.stderr))
                self.assertIn("must all be different", r.stderr)
            self.assertEqual(len(srv.requests), 0)


if __name__ == "__main__":
    from harness import main
    main()

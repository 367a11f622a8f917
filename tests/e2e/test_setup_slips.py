"""
A setup mistake must not use up the jobs: when attempts fail for a reason of
the setup, not of the job, llmbatch stops (exit 2 before anything is sent,
or exit 5 once it finds out) and every job stays pending, so the rerun with
the right setting does them all.  A job goes to the errors file only for a
reason of its own.
"""
import os
import unittest

from harness import (FakeServer, chat_reply, read_jsonl, run, tmpdir, write_jobs,
                     out_paths)

N = 12


def lines_in(path):
    return read_jsonl(path) if os.path.exists(path) else []


class SetupSlips(unittest.TestCase):

    def rerun_completes(self, inp, out, url):
        """The rerun against a working server sends and completes every job."""
        with FakeServer(lambda req: (200, [("x-request-id", "req_ok")], chat_reply())) as ok:
            r = run(["run", inp, "-o", out, "--base-url", ok.url, "-q"])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(len(ok.requests), N)
        res, err, _ = out_paths(os.path.dirname(out))
        self.assertEqual(len(lines_in(res)), N)
        self.assertEqual(lines_in(err), [])

    def test_unusable_base_urls_are_refused_before_anything_is_sent(self):
        for url, why in (("ftp://127.0.0.1:1/v1", "ftp://"), ("", "empty"),
                         ("localhost:8000", "scheme"), ("http:///v1", "no host")):
            with self.subTest(url=url), tmpdir() as d:
                inp = os.path.join(d, "in.jsonl")
                write_jobs(inp, N)
                out, err, _ = out_paths(d)
                r = run(["run", inp, "-o", out, "--base-url", url])
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn(why, r.stderr)
                self.assertIn("nothing was sent", r.stderr)
                self.assertEqual(lines_in(err), [])
                self.rerun_completes(inp, out, url)

    def test_a_redirect_stops_the_run_and_shows_its_location(self):
        loc = "https://api.example.invalid/v2/chat/completions"
        with tmpdir() as d, FakeServer(lambda req: (301, [("Location", loc)], b"")) as srv:
            inp = os.path.join(d, "in.jsonl")
            write_jobs(inp, N)
            out, err, _ = out_paths(d)
            r = run(["run", inp, "-o", out, "--base-url", srv.url, "-q"])
            self.assertEqual(r.returncode, 5, r.stderr)
            self.assertIn(loc, r.stderr)
            self.assertIn("redirect", r.stderr)
            self.assertEqual(lines_in(err), [], "a redirect failed jobs")
            self.assertEqual(lines_in(out), [])
            self.rerun_completes(inp, out, srv.url)

    def test_an_endpoint_that_only_answers_404_stops_the_run(self):
        body = {"error": {"message": "Unknown request URL: POST /v1/chat/completions",
                          "type": "invalid_request_error", "code": "unknown_url"}}
        with tmpdir() as d, FakeServer(lambda req: (404, [], body)) as srv:
            inp = os.path.join(d, "in.jsonl")
            write_jobs(inp, N)
            out, err, _ = out_paths(d)
            r = run(["run", inp, "-o", out, "--base-url", srv.url, "-q"])
            self.assertEqual(r.returncode, 5, r.stderr)
            self.assertIn("404", r.stderr)
            self.assertIn("--base-url", r.stderr)
            self.assertEqual(lines_in(err), [], "a wrong path failed jobs")
            self.assertLessEqual(len(srv.requests), 64)
            self.rerun_completes(inp, out, srv.url)

    def test_a_404_about_the_model_is_the_jobs_own_failure(self):
        """404 model_not_found names something in the job line: it fails
        that job (an errors line), the others succeed."""
        def reply(req):
            if b"gpt-nonexistent" in req.body:
                return 404, [], {"error": {"message": "The model `gpt-nonexistent` does not "
                                           "exist", "type": "invalid_request_error",
                                           "code": "model_not_found"}}
            return 200, [], chat_reply()
        with tmpdir() as d, FakeServer(reply) as srv:
            inp = os.path.join(d, "in.jsonl")
            write_jobs(inp, 4, model="gpt-nonexistent")
            out, err, _ = out_paths(d)
            r = run(["run", inp, "-o", out, "--base-url", srv.url, "-q"])
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertEqual(len(lines_in(err)), 4)
            for e in lines_in(err):
                self.assertEqual(e["error"]["code"], "model_not_found")

    def test_a_host_that_does_not_resolve_stops_the_run(self):
        with tmpdir() as d:
            inp = os.path.join(d, "in.jsonl")
            write_jobs(inp, N)
            out, err, _ = out_paths(d)
            r = run(["run", inp, "-o", out, "--base-url", "http://llmbatch-test.invalid:9/v1",
                     "-q", "--connect-timeout", "2"], timeout=60)
            self.assertEqual(r.returncode, 5, r.stderr)
            self.assertIn("cannot reach the API", r.stderr)
            self.assertEqual(lines_in(err), [])
            self.rerun_completes(inp, out, None)


if __name__ == "__main__":
    from harness import main
    main()

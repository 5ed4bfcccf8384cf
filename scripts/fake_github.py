#!/usr/bin/env python3
"""A local stand-in for GitHub's workflow_dispatch endpoint.

The queue consumer POSTs `/repos/{owner}/{repo}/actions/workflows/{workflow}/dispatches` on
api.github.com. In development and in the HTTP tests, GITHUB_WORKFLOW_DISPATCH_URL points here
instead, so an enqueue can be seen reaching "GitHub" without a token or a real repository.

    python3 scripts/fake_github.py --port 8788 [--log FILE]

Like GitHub: a dispatch with `"return_run_details": true` is answered 200 with
`{workflow_run_id, run_url, html_url}` (a new run id each time), without it 204; 403 without a
User-Agent, 400 for a body that is not JSON, 422 without `ref` or an `inputs` object. The runs
API answers too: `GET .../actions/runs/{id}` shows a run it created as `in_progress` (404 for
any other), `POST .../actions/runs/{id}/cancel` answers 202 and marks it `completed/cancelled`.
Each request is printed as one JSON line (Authorization as `Bearer ***`, never the token);
`GET /__requests` lists them, `DELETE /__requests` clears them, `GET /health` is 200. Python 3
standard library only; binds 127.0.0.1.
"""

import argparse
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DISPATCH_PATH = re.compile(r"^/repos/([^/]+)/([^/]+)/actions/workflows/[^/]+/dispatches$")
RUN_PATH = re.compile(r"^/repos/([^/]+)/([^/]+)/actions/runs/([0-9]{1,20})(/cancel)?$")
DOCS = "https://docs.github.com/rest/actions/workflows#create-a-workflow-dispatch-event"
MAX_BODY = 1 << 20
LOGGED_HEADERS = ("User-Agent", "Accept", "X-GitHub-Api-Version")
FORBIDDEN_NO_UA = ("Request forbidden by administrative rules. "
                   "Please make sure your request has a User-Agent header.")

received = []
runs = {}  # run id -> {"status", "conclusion"}
next_run = [7000000001]
lock = threading.Lock()
log_file = None


def redacted_auth(value):
    scheme = (value or "").split(" ", 1)[0]
    if not scheme:
        return None
    return f"{scheme} ***" if scheme.lower() in ("bearer", "token") else "***"


class Handler(BaseHTTPRequestHandler):
    server_version = "fake-github"
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # quiet: one JSON line per dispatch is the log
        pass

    def reply(self, status, payload=None):
        body = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        if payload is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def error(self, status, message):
        self.reply(status, {"message": message, "documentation_url": DOCS, "status": str(status)})

    def record(self, body):
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "method": self.command,
            "path": self.path,
            "headers": {**{h.lower(): self.headers.get(h) for h in LOGGED_HEADERS},
                        "authorization": redacted_auth(self.headers.get("Authorization"))},
            "body": body,
        }
        line = json.dumps(entry)
        with lock:
            received.append(entry)
            print(line, flush=True)
            if log_file:
                with open(log_file, "a", encoding="utf-8") as f:
                    f.write(line + "\n")

    def do_GET(self):
        run = RUN_PATH.match(self.path)
        if self.path == "/health":
            self.reply(200, {"ok": True})
        elif self.path == "/__requests":
            with lock:
                self.reply(200, list(received))
        elif run and not run.group(4):
            self.record(None)
            with lock:
                state = runs.get(run.group(3))
            if state is None:
                return self.error(404, "Not Found")
            self.reply(200, {"id": int(run.group(3)), **state})
        else:
            self.error(404, "Not Found")

    def do_DELETE(self):
        if self.path != "/__requests":
            return self.error(404, "Not Found")
        with lock:
            received.clear()
        self.reply(204)

    def do_POST(self):
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self.close_connection = True  # the body is left unread
            return self.error(*((413, "Payload Too Large") if length > 0 else (400, "Bad Content-Length")))
        raw = self.rfile.read(length)
        run = RUN_PATH.match(self.path)
        if run and run.group(4):
            self.record(None)
            with lock:
                state = runs.get(run.group(3))
                if state is not None and state["status"] != "completed":
                    state.update(status="completed", conclusion="cancelled")
            if state is None:
                return self.error(404, "Not Found")
            return self.reply(202, {})
        dispatch = DISPATCH_PATH.match(self.path)
        if not dispatch:
            return self.error(404, "Not Found")
        if not self.headers.get("User-Agent"):
            return self.error(403, FORBIDDEN_NO_UA)
        try:
            body = json.loads(raw)
        except ValueError:
            return self.error(400, "Problems parsing JSON")
        if not isinstance(body, dict) or "ref" not in body or not isinstance(body.get("inputs"), dict):
            return self.error(422, "Invalid request. \"ref\" and \"inputs\" are required.")
        self.record(body)
        if body.get("return_run_details") is not True:
            return self.reply(204)
        with lock:
            run_id = str(next_run[0])
            next_run[0] += 1
            runs[run_id] = {"status": "in_progress", "conclusion": None}
        owner, repo = dispatch.group(1), dispatch.group(2)
        self.reply(200, {
            "workflow_run_id": int(run_id),
            "run_url": f"http://127.0.0.1:{self.server.server_port}/repos/{owner}/{repo}/actions/runs/{run_id}",
            "html_url": f"https://github.com/{owner}/{repo}/actions/runs/{run_id}",
        })


def main():
    global log_file
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8788)
    parser.add_argument("--log", help="also append each dispatch request as a JSON line here")
    args = parser.parse_args()
    log_file = args.log
    ThreadingHTTPServer.request_queue_size = 64
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"fake github listening on http://127.0.0.1:{args.port}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.server_close()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The Hetzner metrics sidecar: option 3 of the metrics runbook.

Runs outside the Worker (a scheduled GitHub Actions job, or by hand), because only it may hold
HCLOUD_TOKEN. One run:

1. reads the node registry (GET /internal/nodes, following next_cursor when the Worker pages);
2. lists every Hetzner server (GET /v1/servers, following meta.pagination.next_page);
3. maps each server to its node through the node's provider_server_id;
4. fetches CPU (GET /v1/servers/{id}/metrics?type=cpu) only for the running, mapped servers whose
   node has no fresh agent push;
5. pushes those with source hetzner_api (memory_pct and disk_pct null: Hetzner does not know them;
   tenant_count the node's last pushed count, 0 without one: Hetzner cannot count tenants);
6. prints one JSON summary line, with the drift between the two inventories.

The freshness rule (the SPEC leaves it open): a node whose latest metrics row is a node_push that
the Worker does not call stale is never pushed to; the agent's finer reading wins. The node is read
again just before its push, so an agent push that lands during the run is not overwritten either.
A hetzner_api row, a stale node_push or no row at all gets the Hetzner reading.

Everything from Hetzner is fetched and checked before the first push: a Hetzner error or a
malformed answer ends the run with nothing pushed, never with half a fleet of guesses.

Exit codes: 0 done (drift is reported, not an error, unless --fail-on-drift); 1 drift found with
--fail-on-drift; 2 usage or settings; 3 Hetzner refused the token (401/403); 4 Hetzner rate limit
(429) on every attempt; 5 Hetzner unreachable, 5xx on every attempt, or a malformed answer;
6 the control plane refused or failed (listing nodes, or at least one push). 3-5 push nothing.

Environment: HCLOUD_TOKEN, CONTROL_PLANE_URL, INTERNAL_API_KEY (required); HCLOUD_API_URL
(default https://api.hetzner.cloud/v1); HCLOUD_LABEL_SELECTOR (only servers that match, e.g.
role=tenant-node); SIDECAR_REGION (sg, us or eu: only that region's nodes, when each region is a
Hetzner project of its own with its own token); SIDECAR_WINDOW_SECONDS (300: CPU is the mean over this window);
SIDECAR_MAX_ATTEMPTS (3) and SIDECAR_BACKOFF_SECONDS (2) for Hetzner 429/5xx/network errors;
SIDECAR_TIMEOUT_SECONDS (20) per request. Tokens are only ever sent as Authorization headers,
over https (plain http only to a loopback host), and never printed.

Python 3 standard library only.
"""

import argparse
import datetime
import ipaddress
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

EXIT_OK, EXIT_DRIFT, EXIT_USAGE = 0, 1, 2
EXIT_HETZNER_AUTH, EXIT_HETZNER_RATE_LIMIT, EXIT_HETZNER_UNAVAILABLE = 3, 4, 5
EXIT_CONTROL_PLANE = 6

USER_AGENT = "cp-hetzner-metrics-sidecar/1"
MAX_PAGES = 1000
MAX_RETRY_WAIT_SECONDS = 60


class Failure(Exception):
    """Ends the run with `code`; `kind` and `message` go into the summary (never a token)."""

    def __init__(self, code, kind, message):
        super().__init__(message)
        self.code, self.kind, self.message = code, kind, message


class Settings:
    def __init__(self, env):
        def need(name):
            value = env.get(name, "").strip()
            if not value:
                raise Failure(EXIT_USAGE, "usage", f"{name} is not set")
            return value

        def number(name, default, low, high, kind=int):
            raw = env.get(name, "").strip() or str(default)
            try:
                value = kind(raw)
            except ValueError:
                raise Failure(EXIT_USAGE, "usage", f"{name} must be a number") from None
            if not low <= value <= high:
                raise Failure(EXIT_USAGE, "usage", f"{name} must be between {low} and {high}")
            return value

        self.hcloud_token = need("HCLOUD_TOKEN")
        self.api_key = need("INTERNAL_API_KEY")
        self.cp_url = safe_base_url("CONTROL_PLANE_URL", need("CONTROL_PLANE_URL"))
        self.hcloud_url = safe_base_url("HCLOUD_API_URL", env.get("HCLOUD_API_URL", "").strip() or "https://api.hetzner.cloud/v1")
        self.label_selector = env.get("HCLOUD_LABEL_SELECTOR", "").strip()
        self.region = env.get("SIDECAR_REGION", "").strip()
        if self.region not in ("", "sg", "us", "eu"):
            raise Failure(EXIT_USAGE, "usage", "SIDECAR_REGION must be sg, us or eu")
        self.window_s = number("SIDECAR_WINDOW_SECONDS", 300, 60, 86400)
        self.max_attempts = number("SIDECAR_MAX_ATTEMPTS", 3, 1, 10)
        self.backoff_s = number("SIDECAR_BACKOFF_SECONDS", 2, 0, 60, float)
        self.timeout_s = number("SIDECAR_TIMEOUT_SECONDS", 20, 1, 120, float)


def safe_base_url(name, url):
    """https, or http to a loopback host only: a token never travels in clear to another host."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "https" and host:
        return url.rstrip("/")
    if parts.scheme == "http" and is_loopback(host):
        return url.rstrip("/")
    raise Failure(EXIT_USAGE, "usage", f"{name} must be an https:// URL (http:// only for a loopback host)")


def is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def request(method, url, token, timeout, body=None):
    """One HTTP request. Returns (status, headers, parsed JSON or None); status 0 = no answer."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    req.add_header("Accept", "application/json")
    req.add_header("User-Agent", USER_AGENT)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.headers, parse_json(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, e.headers, parse_json(e.read())
    except (urllib.error.URLError, OSError, ValueError) as e:
        return 0, {}, {"transport_error": type(e).__name__}


def parse_json(raw):
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def api_message(payload):
    """Hetzner's and the Worker's error bodies are both {"error": {"code", "message"}}."""
    if isinstance(payload, dict):
        err = payload.get("error")
        if isinstance(err, dict):
            return f"{str(err.get('code', ''))[:64]}: {str(err.get('message', ''))[:200]}"
        if "transport_error" in payload:
            return f"no answer ({payload['transport_error']})"
    return "no error detail"


class Hetzner:
    def __init__(self, settings, sleep=time.sleep):
        self.s, self.sleep, self.requests = settings, sleep, 0

    def get(self, path, query, missing_ok=False):
        """GET with retries on 429, 5xx and network errors; raises Failure when they run out.
        With `missing_ok`, a 404 (the server went away since it was listed) returns None."""
        url = f"{self.s.hcloud_url}{path}?{urllib.parse.urlencode(query)}"
        for attempt in range(1, self.s.max_attempts + 1):
            self.requests += 1
            status, headers, payload = request("GET", url, self.s.hcloud_token, self.s.timeout_s)
            if status == 200 and isinstance(payload, dict):
                return payload
            if status == 404 and missing_ok:
                return None
            what = f"Hetzner GET {path} answered {status or 'nothing'} ({api_message(payload)})"
            if status in (401, 403):
                raise Failure(EXIT_HETZNER_AUTH, "hetzner_auth", f"{what}: check HCLOUD_TOKEN (read access to the project)")
            retryable = status in (0, 429) or status >= 500
            if not retryable:
                raise Failure(EXIT_HETZNER_UNAVAILABLE, "hetzner_unavailable", what if status != 200 else f"Hetzner GET {path}: not a JSON object")
            if attempt == self.s.max_attempts:
                if status == 429:
                    raise Failure(EXIT_HETZNER_RATE_LIMIT, "hetzner_rate_limited", f"{what} on all {attempt} attempts")
                raise Failure(EXIT_HETZNER_UNAVAILABLE, "hetzner_unavailable", f"{what} on all {attempt} attempts")
            self.sleep(retry_wait(headers, attempt, self.s.backoff_s))
        raise AssertionError("unreachable")

    def servers(self):
        """Every server, all pages: [{"id", "name", "status", "cores"}]."""
        out, page = [], 1
        for _ in range(MAX_PAGES):
            query = {"page": page, "per_page": 50}
            if self.s.label_selector:
                query["label_selector"] = self.s.label_selector
            payload = self.get("/servers", query)
            servers = payload.get("servers")
            if not isinstance(servers, list):
                raise malformed("/servers", "no servers list")
            out.extend(server_of(s) for s in servers)
            next_page = ((payload.get("meta") or {}).get("pagination") or {}).get("next_page")
            if next_page is None:
                return out
            if not isinstance(next_page, int) or next_page <= page:
                raise malformed("/servers", f"next_page {next_page!r} after page {page}")
            page = next_page
        raise malformed("/servers", f"more than {MAX_PAGES} pages")

    def cpu_pct(self, server, now):
        """Mean CPU over the window as a share of the whole server (Hetzner's cpu series is per
        vCPU: 100 is one busy vCPU), or None when Hetzner has no sample in the window."""
        start = now - datetime.timedelta(seconds=self.s.window_s)
        query = {"type": "cpu", "start": rfc3339(start), "end": rfc3339(now), "step": 60}
        path = f"/servers/{server['id']}/metrics"
        payload = self.get(path, query, missing_ok=True)
        if payload is None:
            return None
        try:
            values = payload["metrics"]["time_series"]["cpu"]["values"]
        except (KeyError, TypeError):
            values = []
        if not isinstance(values, list):
            raise malformed(path, "cpu values are not a list")
        samples = []
        for point in values:
            if not (isinstance(point, list) and len(point) == 2):
                raise malformed(path, "a cpu point is not [time, value]")
            try:
                v = float(point[1])
            except (TypeError, ValueError):
                raise malformed(path, "a cpu value is not a number") from None
            if v != v or v < 0 or v == float("inf"):
                raise malformed(path, "a cpu value is negative or not finite")
            samples.append(v)
        if not samples:
            return None
        return round(min(100.0, sum(samples) / len(samples) / server["cores"]), 1)


def server_of(raw):
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), int):
        raise malformed("/servers", "a server without an integer id")
    cores = (raw.get("server_type") or {}).get("cores")
    if not isinstance(cores, int) or cores < 1:
        raise malformed("/servers", f"server {raw['id']} has no server_type.cores")
    return {"id": raw["id"], "name": str(raw.get("name", "")), "status": str(raw.get("status", "unknown")), "cores": cores}


def malformed(path, why):
    return Failure(EXIT_HETZNER_UNAVAILABLE, "hetzner_malformed", f"Hetzner GET {path}: {why}")


def retry_wait(headers, attempt, base):
    """Retry-After (seconds), else RateLimit-Reset (a Unix time), else exponential backoff."""
    get = getattr(headers, "get", lambda _k: None)
    for name, absolute in (("Retry-After", False), ("RateLimit-Reset", True)):
        raw = get(name)
        try:
            value = float(raw)
        except (TypeError, ValueError):
            continue
        wait = value - time.time() if absolute else value
        return max(0.0, min(wait, MAX_RETRY_WAIT_SECONDS))
    return min(base * 2 ** (attempt - 1), MAX_RETRY_WAIT_SECONDS)


def rfc3339(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class ControlPlane:
    def __init__(self, settings):
        self.s = settings

    def call(self, method, path, body=None):
        return request(method, f"{self.s.cp_url}{path}", self.s.api_key, self.s.timeout_s, body)

    def fail(self, what, status, payload):
        hint = ": check INTERNAL_API_KEY" if status == 401 else ""
        return Failure(EXIT_CONTROL_PLANE, "control_plane", f"control plane {what} answered {status or 'nothing'} ({api_message(payload)}){hint}")

    def nodes(self):
        """Every registered node. Pages with next_cursor when the Worker answers one."""
        out, cursor, seen = [], None, set()
        for _ in range(MAX_PAGES):
            query = {k: v for k, v in (("region", self.s.region), ("cursor", cursor)) if v}
            path = "/internal/nodes" + (f"?{urllib.parse.urlencode(query)}" if query else "")
            status, _, payload = self.call("GET", path)
            if status != 200 or not isinstance(payload, dict) or not isinstance(payload.get("nodes"), list):
                raise self.fail("GET /internal/nodes", status, payload)
            out.extend(payload["nodes"])
            cursor = payload.get("next_cursor")
            if not cursor:
                return out
            if cursor in seen:
                raise self.fail("GET /internal/nodes (a repeated next_cursor)", status, None)
            seen.add(cursor)
        raise self.fail(f"GET /internal/nodes (more than {MAX_PAGES} pages)", 200, None)

    def node(self, node_id):
        status, _, payload = self.call("GET", f"/internal/nodes/{urllib.parse.quote(node_id, safe='')}")
        if status == 200 and isinstance(payload, dict):
            return payload
        if status == 404:
            return None
        raise self.fail(f"GET /internal/nodes/{node_id}", status, payload)

    def push(self, body):
        status, _, payload = self.call("POST", "/internal/server-metrics", body)
        return status, api_message(payload) if status != 200 else None


def fresh_agent_push(node):
    """The freshness rule: the latest row is an agent's and the Worker does not call it stale."""
    metrics = node.get("metrics")
    return isinstance(metrics, dict) and metrics.get("source") == "node_push" and node.get("stale") is False


def plan(nodes, servers):
    """Pure: which servers to read and push, and the drift between the two inventories."""
    groups, unmapped = {}, []
    for n in nodes:
        sid = str(n.get("provider_server_id") or "").strip()
        if sid:
            groups.setdefault(sid, []).append(n)
        else:
            unmapped.append(n["node_id"])
    by_server = {sid: group[0] for sid, group in groups.items() if len(group) == 1}
    duplicates = {sid: [n["node_id"] for n in group] for sid, group in groups.items() if len(group) > 1}
    server_ids = {str(s["id"]) for s in servers}
    drift = {
        "servers_without_node": [],
        "nodes_without_server": [{"node_id": n["node_id"], "provider_server_id": sid} for sid, n in sorted(by_server.items()) if sid not in server_ids],
        "agent_stale_while_running": [],
        "server_ids_on_several_nodes": [{"provider_server_id": sid, "node_ids": sorted(ids)} for sid, ids in sorted(duplicates.items())],
    }
    to_read, fresh, not_running = [], [], []
    for s in sorted(servers, key=lambda s: s["id"]):
        sid = str(s["id"])
        node = by_server.get(sid)
        if node is None:
            if sid not in duplicates:
                drift["servers_without_node"].append({"server_id": s["id"], "name": s["name"], "status": s["status"]})
            continue
        if s["status"] != "running":
            not_running.append({"node_id": node["node_id"], "server_id": s["id"], "status": s["status"]})
        elif fresh_agent_push(node):
            fresh.append(node["node_id"])
        else:
            metrics = node.get("metrics") or {}
            drift["agent_stale_while_running"].append(
                {"node_id": node["node_id"], "server_id": s["id"], "metrics_source": metrics.get("source"), "metrics_age_s": node.get("metrics_age_s")}
            )
            to_read.append((s, node))
    return to_read, {"fresh_agent_push": fresh, "server_not_running": not_running, "nodes_without_provider_server_id": sorted(unmapped)}, drift


def run(settings, dry_run, out):
    cp, hz = ControlPlane(settings), Hetzner(settings)
    nodes = cp.nodes()
    servers = hz.servers()
    to_read, skipped, drift = plan(nodes, servers)
    out.update(servers=len(servers), nodes=len(nodes), skipped=skipped, drift=drift)
    out["drift_count"] = sum(len(v) for v in drift.values())

    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    readings = [(s, node, hz.cpu_pct(s, now)) for s, node in to_read]  # all of Hetzner first
    out["hetzner_requests"] = hz.requests
    pushes, no_samples = [], []
    for s, node, cpu in readings:
        if cpu is None:
            no_samples.append(node["node_id"])
            continue
        last = node.get("metrics") or {}
        tenant_count = last.get("tenant_count") if isinstance(last.get("tenant_count"), int) else 0
        pushes.append({"node_id": node["node_id"], "cpu_pct": cpu, "memory_pct": None, "disk_pct": None, "tenant_count": tenant_count, "source": "hetzner_api"})
    skipped["no_hetzner_samples"] = no_samples

    out["pushed"], out["push_errors"] = [], []
    for body in pushes:
        if dry_run:
            out["pushed"].append({"node_id": body["node_id"], "cpu_pct": body["cpu_pct"], "dry_run": True})
            continue
        now_node = cp.node(body["node_id"])
        if now_node is None:
            out["push_errors"].append({"node_id": body["node_id"], "status": 404, "error": "node removed during the run"})
            continue
        if fresh_agent_push(now_node):
            skipped["fresh_agent_push"].append(body["node_id"])
            continue
        status, error = cp.push(body)
        if status == 200:
            out["pushed"].append({"node_id": body["node_id"], "cpu_pct": body["cpu_pct"]})
        else:
            out["push_errors"].append({"node_id": body["node_id"], "status": status, "error": error})
    if out["push_errors"]:
        raise Failure(EXIT_CONTROL_PLANE, "control_plane", f"{len(out['push_errors'])} of {len(pushes)} pushes failed")


def step_summary(out):
    """Markdown for $GITHUB_STEP_SUMMARY: the run's one-page report."""
    lines = [f"## Hetzner metrics sidecar: {out['status']} (exit {out['exit_code']})", ""]
    if out.get("error"):
        lines += [f"**{out['error_kind']}**: {out['error']}", ""]
    lines.append(f"servers {out.get('servers', '-')}, nodes {out.get('nodes', '-')}, pushed {len(out.get('pushed', []))}, drift {out.get('drift_count', '-')}")
    for kind, items in (out.get("drift") or {}).items():
        if items:
            lines += ["", f"### {kind.replace('_', ' ')} ({len(items)})", ""] + [f"- `{json.dumps(i, sort_keys=True)}`" for i in items]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description="Push Hetzner CPU metrics for nodes without a fresh agent push; report inventory drift.")
    parser.add_argument("--dry-run", action="store_true", help="read and report; push nothing")
    parser.add_argument("--fail-on-drift", action="store_true", help="exit 1 when the summary lists any drift")
    args = parser.parse_args(argv)

    out = {"status": "ok", "dry_run": args.dry_run}
    code = EXIT_OK
    try:
        run(Settings(os.environ), args.dry_run, out)
        if args.fail_on_drift and out.get("drift_count"):
            code = EXIT_DRIFT
            out["status"] = "drift"
    except Failure as f:
        code = f.code
        out.update(status="error", error_kind=f.kind, error=f.message)
    out["exit_code"] = code
    print(json.dumps(out, sort_keys=True), flush=True)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as f:
            f.write(step_summary(out))
    return code


if __name__ == "__main__":
    sys.exit(main())

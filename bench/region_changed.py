#!/usr/bin/env python3
"""The kept fleet's worst case: a compute right after every node of the region changed.

src/fleet.rs reads only the nodes stamped since an isolate's last read, so the load phases
(nothing changing between calls) show its best case. Here, before each of a few sequential
computes, every metrics row of the region is touched straight in the local D1 file (the
triggers stamp each node, as a push would), so the compute reads the whole region again, as an
isolate that computes once a minute in a fleet that pushes every minute would. Sequential
/health and unchanged computes are timed the same way for the ratios, with the workerd
runtime's CPU time per request from /proc.

usage: region_changed.py STATE_DIR BASE_URL KEY REGION RUNTIME_PID [ROUNDS]
Prints one JSON line.
"""
import json
import os
import sqlite3
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seed import d1_file  # noqa: E402

CLK = os.sysconf("SC_CLK_TCK")


def cpu_ms(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / CLK


def timed(pid, request):
    c0, t0 = cpu_ms(pid), time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as r:
        r.read()
        assert r.status == 200, r.status
    return (time.perf_counter() - t0) * 1000, cpu_ms(pid) - c0


def p50(xs):
    xs = sorted(xs)
    return xs[(len(xs) - 1) // 2] if xs else None


def main():
    state, base, key, region, pid = sys.argv[1:6]
    rounds = int(sys.argv[6]) if len(sys.argv) > 6 else 7
    db = sqlite3.connect(d1_file(state), timeout=30)
    body = json.dumps({"plan_tier": "basic", "region": region}).encode()
    compute = lambda: urllib.request.Request(  # noqa: E731
        base + "/internal/placement/compute", data=body, method="POST",
        headers={"Authorization": f"Bearer {key}", "content-type": "application/json"})
    health = lambda: urllib.request.Request(base + "/health")  # noqa: E731
    out = {"health": [], "unchanged": [], "region_changed": []}
    timed(pid, compute())  # the view is current before the first unchanged call
    for _ in range(rounds):
        out["health"].append(timed(pid, health()))
        out["unchanged"].append(timed(pid, compute()))
        t0 = time.perf_counter()
        touched = db.execute(
            "UPDATE server_metrics SET updated_at = updated_at "
            "WHERE node_id IN (SELECT node_id FROM nodes WHERE region = ?)", (region,)).rowcount
        db.commit()
        stamp_s = time.perf_counter() - t0
        out["region_changed"].append(timed(pid, compute()))
    # /proc counts CPU in clock ticks (10 ms here): a mean over the rounds, not a p50 of ticks.
    summary = {k: {"p50_ms": round(p50([w for w, _ in v]), 2), "cpu_ms_mean": round(sum(c for _, c in v) / len(v), 1)}
               for k, v in out.items()}
    summary["nodes_touched"] = touched
    summary["stamp_seconds_last"] = round(stamp_s, 2)
    summary["rounds"] = rounds
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Seeds nodes (and their latest metrics) straight into the Worker's local D1 SQLite file.

Used by scripts/bench.sh to grow the fleet from 1,000 to 10,000 nodes in a second instead of
9,000 HTTP registrations. The rows are what `POST /internal/nodes` and
`POST /internal/server-metrics` store (see migrations/0001_init.sql): instants are integer ms,
labels a JSON object, metrics fresh (updated_at = now) and mostly eligible, with the same value
formulas as the load client's metrics pushes (bench/src/main.rs).

usage: seed.py STATE_DIR --region sg --prefix bench- --from 1000 --to 10000
Prints one JSON line: {"db": ..., "inserted": N, "nodes_total": M, "seconds": S}.
"""
import argparse
import glob
import json
import os
import sqlite3
import sys
import time


def d1_file(state_dir):
    files = [p for p in glob.glob(os.path.join(state_dir, "v3", "d1", "**", "*.sqlite"), recursive=True)
             if not os.path.basename(p).startswith("metadata")]
    if len(files) != 1:
        sys.exit(f"seed.py: expected one D1 sqlite file under {state_dir}/v3/d1, found {files}")
    return files[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("state_dir")
    ap.add_argument("--region", default="sg")
    ap.add_argument("--prefix", default="bench-")
    ap.add_argument("--from", dest="start", type=int, required=True)
    ap.add_argument("--to", dest="end", type=int, required=True)
    a = ap.parse_args()

    started = time.monotonic()
    db = d1_file(a.state_dir)
    now_ms = int(time.time() * 1000)
    nodes, metrics = [], []
    for i in range(a.start, a.end):
        node_id = f"{a.prefix}{i:05d}"
        host = f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
        nodes.append((node_id, a.region, host, "active", None, "{}", now_ms, now_ms))
        metrics.append((node_id, (i * 37 % 900) / 10.0, 20.0 + (i * 53 % 500) / 10.0,
                        10.0 + (i * 29 % 500) / 10.0, i * 7 % 30, "node_push", now_ms))
    con = sqlite3.connect(db, timeout=30)
    with con:
        con.executemany("INSERT INTO nodes (node_id, region, host, status, provider_server_id, labels, "
                        "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", nodes)
        con.executemany("INSERT INTO server_metrics (node_id, cpu_pct, memory_pct, disk_pct, tenant_count, "
                        "source, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)", metrics)
    total = con.execute("SELECT COUNT(*) FROM nodes WHERE region = ?", (a.region,)).fetchone()[0]
    con.close()
    print(json.dumps({"db": db, "inserted": len(nodes), "nodes_total": total,
                      "seconds": round(time.monotonic() - started, 3)}))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Reads what local workerd itself reports per request, from wrangler's local trace store.

wrangler 4.x (X_LOCAL_OBSERVABILITY, on by default) attaches a tail collector to the Worker and
keeps every invocation as spans in a SQLite file under STATE/v3/observability/. The root span of
a fetch carries the tail event's `cpu_time_ms` and `wall_time_ms` (what Workers Logs show in
production); child spans time each D1 call. scripts/bench.sh runs a few sequential requests on a
Worker started with the collector on and calls this to learn whether CPU time is reported
locally (a non-zero cpu_time_ms) and how an unloaded request splits between D1 and the rest.

usage: probe_trace.py STATE_DIR      prints one JSON line.
"""
import glob
import json
import os
import sqlite3
import sys


def decode_attrs(blob):
    """The attribute blob: a map of tagged values. A tag byte's high nibble is the length
    (0xc: one length byte follows, 0xd: two), its low nibble the type (7 string, 3 decimal
    number as ASCII, 0-2 null/false/true, 0xc a map). Returns {key: str} for the simple pairs."""
    out, i, n = {}, 0, len(blob)

    def read(i):
        tag = blob[i]
        hi, lo = tag >> 4, tag & 0xF
        i += 1
        if lo in (0, 1, 2) and hi == 0:
            return {0: None, 1: "true", 2: "false"}.get(lo), i
        if hi == 0xC:
            length, i = blob[i], i + 1
        elif hi == 0xD:
            length, i = int.from_bytes(blob[i:i + 2], "big"), i + 2
        else:
            length = hi
        if lo == 0xC:  # a map header: its entries follow inline
            return "__map__", i
        return blob[i:i + length].decode("utf-8", "replace"), i + length

    try:
        _, i = read(0)  # the outer map header
        while i < n:
            key, i = read(i)
            val, i = read(i)
            out[key] = val
    except (IndexError, ValueError):
        pass
    return out


def pct(values, q):
    if not values:
        return None
    values = sorted(values)
    k = max(1, -(-len(values) * q // 1))  # nearest rank
    return values[int(k) - 1]


def main():
    state = sys.argv[1]
    files = [p for p in glob.glob(os.path.join(state, "v3", "observability", "**", "*.sqlite"), recursive=True)
             if not os.path.basename(p).startswith("metadata")]
    if not files:
        print(json.dumps({"available": False, "why": "no local trace store (X_LOCAL_OBSERVABILITY off or unsupported)"}))
        return
    roots, d1 = {}, {}
    for f in files:
        con = sqlite3.connect(f"file:{f}?mode=ro", uri=True, timeout=10)
        for trace_id, span_id, parent_id, kind, duration, attrs in con.execute(
                "SELECT trace_id, span_id, parent_id, kind, duration_ms, attributes FROM spans"):
            a = decode_attrs(attrs or b"")
            if parent_id is None and kind == "http":
                roots[(trace_id, span_id)] = (a, duration)
            elif kind == "d1" and duration is not None:
                d1.setdefault(trace_id, 0)
                d1[trace_id] += duration
        con.close()
    by_path = {}
    for (trace_id, _), (a, duration) in roots.items():
        url = a.get("url.full") or ""
        path = "/" + url.split("://", 1)[-1].split("/", 1)[-1] if "://" in url else url
        p = by_path.setdefault(path, {"cpu": [], "wall": [], "dur": [], "d1": []})
        for key, bucket in (("cpu_time_ms", "cpu"), ("wall_time_ms", "wall")):
            try:
                p[bucket].append(float(a[key]))
            except (KeyError, TypeError, ValueError):
                pass
        if duration is not None:
            p["dur"].append(duration)
        p["d1"].append(d1.get(trace_id, 0))
    paths = {}
    for path, p in sorted(by_path.items()):
        paths[path] = {
            "requests": len(p["dur"]),
            "reported_cpu_time_ms_max": max(p["cpu"]) if p["cpu"] else None,
            "reported_wall_time_ms_max": max(p["wall"]) if p["wall"] else None,
            "span_ms_p50": pct(p["dur"], 0.5),
            "span_ms_max": max(p["dur"]) if p["dur"] else None,
            "d1_ms_p50": pct(p["d1"], 0.5),
        }
    cpu_all = [c for p in by_path.values() for c in p["cpu"]]
    print(json.dumps({
        "available": True,
        "root_spans": len(roots),
        "with_cpu_time_field": len(cpu_all),
        "nonzero_cpu_time": sum(1 for c in cpu_all if c > 0),
        "cpu_time_reported": any(c > 0 for c in cpu_all),
        "paths": paths,
    }))


if __name__ == "__main__":
    main()

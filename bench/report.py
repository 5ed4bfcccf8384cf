#!/usr/bin/env python3
"""Turns the pieces one `scripts/bench.sh` run collected into the printed table and the JSON file.

usage: report.py RUN_DIR OUT_JSON
RUN_DIR holds the JSON lines the steps wrote (wasm.json, cold.json, health.json, register.json,
metrics.json, compute1k.json, compute10k.json, cluster1k.json, cluster10k.json, seed.json,
native.json, probe.json, changed.json); the run's settings come from BENCH_* environment variables.
Exit status: 0 when every step produced its figures and every request succeeded (missed targets
are reported, not failures), 1 otherwise.
"""
import datetime
import json
import os
import platform
import subprocess
import sys
import textwrap

run_dir, out_path = sys.argv[1], sys.argv[2]
problems = []


def load(name):
    path = os.path.join(run_dir, name)
    try:
        with open(path) as f:
            lines = [l for l in f.read().splitlines() if l.strip().startswith("{")]
        return json.loads(lines[-1])
    except (OSError, IndexError, ValueError) as e:
        problems.append(f"{name}: missing or unreadable ({e.__class__.__name__})")
        return None


def cmd(*argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def machine():
    model = None
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kib = None
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    repo = os.environ.get("BENCH_REPO", ".")
    try:
        with open(os.path.join(repo, "node_modules/wrangler/package.json")) as f:
            wrangler = json.load(f)["version"]
    except (OSError, ValueError, KeyError):
        wrangler = None
    return {
        "nproc": int(cmd("nproc") or os.cpu_count() or 0),
        "cpu_model": model,
        "memory_gib": round(mem_kib / 1024 / 1024, 1) if mem_kib else None,
        "kernel": platform.release(),
        "loadavg_1m_at_start": float(os.environ.get("BENCH_LOADAVG_START") or 0),
        "loadavg_1m_at_report": round(os.getloadavg()[0], 2),
        "wrangler": wrangler,
        "workerd": cmd(os.path.join(repo, "node_modules/.bin/workerd"), "--version"),
        "rustc": cmd("rustc", "--version"),
    }


start_ns = int(os.environ["BENCH_START_NS"])
started = datetime.datetime.fromtimestamp(start_ns / 1e9, datetime.timezone.utc)
settings = {
    "concurrency": int(os.environ["BENCH_CONCURRENCY"]),
    "warmup_s": float(os.environ["BENCH_WARMUP_S"]),
    "duration_s": float(os.environ["BENCH_DURATION_S"]),
    "local_observability": os.environ.get("BENCH_LOCAL_OBSERVABILITY", "false"),
    "target": "127.0.0.1 (wrangler dev, local D1 and Queues)",
}
wasm, cold, seed, native, probe, changed = (load(n) for n in ("wasm.json", "cold.json", "seed.json", "native.json", "probe.json", "changed.json"))
cluster = {"1k": load("cluster1k.json"), "10k": load("cluster10k.json")}
phases = {
    "health": ("GET /health", load("health.json")),
    "register": ("POST /internal/nodes (1,000 new)", load("register.json")),
    "metrics": ("POST /internal/server-metrics", load("metrics.json")),
    "compute_1k": ("POST /internal/placement/compute", load("compute1k.json")),
    "compute_10k": ("POST /internal/placement/compute", load("compute10k.json")),
    "metrics_10k": ("POST /internal/server-metrics", load("metrics10k.json")),
}
fleet = {"health": None, "register": 1000, "metrics": 1000, "compute_1k": 1000, "compute_10k": 10000, "metrics_10k": 10000}

for key, (_, p) in phases.items():
    if p and p.get("errors"):
        problems.append(f"{key}: {p['errors']} of {p['requests']} requests failed ({p['statuses']})")
    if p and not p.get("requests"):
        problems.append(f"{key}: no request completed")
    if p and key != "register" and (p.get("cpu_ms") or {}).get("runtime") is None:
        problems.append(f"{key}: no CPU figure for the runtime workerd (it restarted or was not found)")
for key, want in (("1k", 1000), ("10k", 10000)):
    c = cluster[key]
    if c and c.get("nodes") != want:
        problems.append(f"compute at {key}: the fleet query saw {c.get('nodes')} nodes, expected {want}")

health = phases["health"][1]


def ratio(p, field):
    try:
        if field == "rps":
            return round(p["rps"] / health["rps"], 3)
        return round(p["latency_ms"][field] / health["latency_ms"][field], 3)
    except (TypeError, KeyError, ZeroDivisionError):
        return None


targets = []
if wasm:
    targets.append({"what": "wasm gzip size", "target": "< 400 KB (400,000 B)", "value": wasm["gzip_bytes"],
                    "pass": wasm["gzip_bytes"] < 400_000})
r = ratio(phases["metrics"][1], "rps")
targets.append({"what": "metrics push throughput vs /health", "target": ">= 0.5x", "value": r,
                "pass": r is not None and r >= 0.5})
r = ratio(phases["compute_10k"][1], "p50")
targets.append({"what": "compute at 10,000 nodes, p50 latency vs /health", "target": "<= 5x", "value": r,
                "pass": r is not None and r <= 5})
r = ratio(phases["compute_1k"][1], "p50")
targets.append({"what": "compute at 1,000 nodes, p50 latency vs /health", "target": "<= 2x", "value": r,
                "pass": r is not None and r <= 2})
size = (phases["compute_10k"][1] or {}).get("mean_response_bytes")
targets.append({"what": "compute at 10,000 nodes, default answer size", "target": "<= 64 KiB (65,536 B)", "value": size,
                "pass": size is not None and size <= 65_536})
try:
    r = round(phases["metrics_10k"][1]["rps"] / phases["metrics"][1]["rps"], 3)
except (TypeError, KeyError, ZeroDivisionError):
    r = None
targets.append({"what": "metrics push throughput at 10,000 nodes vs at 1,000", "target": ">= 1.0x", "value": r,
                "pass": r is not None and r >= 1.0})
native_10k = next((n for n in (native or {}).get("placement_native", []) if n["nodes"] == 10_000), None)
targets.append({"what": "native decide_placement at 10,000 nodes, p50", "target": "< 200 us",
                "value": native_10k and native_10k["p50_us"], "pass": bool(native_10k) and native_10k["p50_us"] < 200})
for key in ("health", "metrics", "compute_1k", "compute_10k", "metrics_10k"):
    p = phases[key][1]
    per = (p or {}).get("cpu_ms_per_request", {}).get("runtime")
    targets.append({"what": f"{key}: runtime workerd CPU per request", "target": "< 10 ms (free plan)",
                    "value": per, "pass": per is not None and per < 10})

cpu_reported = bool(probe and probe.get("cpu_time_reported"))
cpu_source = (
    "workerd's own per-request cpuTime (tail events, local trace store)" if cpu_reported else
    "workerd process CPU per request (includes runtime overhead): utime+stime from /proc/<pid>/stat of the "
    "workerd process that runs the Worker (it also runs local D1's SQLite, local Queues and the runtime "
    "itself), read at the edges of each measured window, divided by the requests completed in it. "
    "wrangler's separate dev-proxy workerd (not present in production) is shown apart. Local workerd does not "
    "report CPU time: its tail events carry cpuTime = 0"
    + (f" ({probe['with_cpu_time_field']} requests probed, {probe['nonzero_cpu_time']} non-zero)" if probe and probe.get("available") else "")
    + ". In production D1 runs outside the Worker, so these figures overstate the Worker's own CPU time."
)

end_ns = int(subprocess.run(["date", "+%s%N"], capture_output=True, text=True).stdout.strip())
result = {
    "started_at": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
    "wall_time_s": round((end_ns - start_ns) / 1e9, 1),
    "machine": machine(),
    "settings": settings,
    "wasm": wasm,
    "cold_start": cold,
    "seed": seed,
    "fleet_check": cluster,
    "phases": {k: dict(p, route=name, fleet_nodes=fleet[k],
                       vs_health={"throughput": ratio(p, "rps"), "p50": ratio(p, "p50"), "p99": ratio(p, "p99")})
               if p else None for k, (name, p) in phases.items()},
    "native_placement": native.get("placement_native") if native else None,
    "compute_after_region_changed": changed,
    "cpu_time": {"source": "workerd_tail_cpu_time" if cpu_reported else "workerd_process_cpu_per_request",
                 "label": cpu_source, "limit_ms": 10, "probe": probe},
    "targets": targets,
    "problems": problems,
}
os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
with open(out_path, "w") as f:
    json.dump(result, f, indent=2)
    f.write("\n")
stamped = os.path.join(os.path.dirname(os.path.abspath(out_path)), started.strftime("bench-%Y%m%dT%H%M%SZ.json"))
with open(stamped, "w") as f:
    json.dump(result, f, indent=2)
    f.write("\n")


# ---- the table ----
def f(x, fmt="{:,.1f}", none="n/a"):
    return none if x is None else fmt.format(x)


def verdict(ok):
    return "PASS" if ok else "MISS"


m = result["machine"]
print()
print(f"control-plane bench  {result['started_at']}")
print(f"machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB RAM, Linux {m['kernel']}; "
      f"wrangler {m['wrangler']}, {m['workerd']}; load avg (1 min) {m['loadavg_1m_at_start']:g} at start, "
      f"{m['loadavg_1m_at_report']:g} at report (shared machine: figures are noisy)")
print(f"load: {settings['concurrency']} concurrent keep-alive connections, {settings['warmup_s']:g} s warm-up + "
      f"{settings['duration_s']:g} s measured per phase, 127.0.0.1 only; wrangler's local trace collector "
      f"{'on' if settings['local_observability'] == 'true' else 'off'} during load")
print()
print(f"{'measure':<44}{'value':>22}  {'target':<22}")
if wasm:
    print(f"{'build/index_bg.wasm raw':<44}{wasm['raw_bytes']:>20,} B")
    print(f"{'build/index_bg.wasm gzip -9':<44}{wasm['gzip_bytes']:>20,} B  {'< 400 KB':<22}"
          f"{verdict(wasm['gzip_bytes'] < 400_000)}")
if cold:
    print(f"{'cold start: launch wrangler dev -> 200 /health':<44}{cold['ready_ms'] / 1000:>20,.2f} s")
print()
hdr = (f"{'route':<34}{'nodes':>7}{'reqs':>7}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
       f"{'x tput':>8}{'x p50':>8}{'CPU/req':>9}{'proxy':>7}  target")
print(hdr)
print("-" * (len(hdr) + 24))
for key, (name, p) in phases.items():
    if not p:
        print(f"{name:<34}  (no figures)")
        continue
    cpu = p.get("cpu_ms_per_request", {})
    tgt = ""
    if key == "metrics":
        r = ratio(p, "rps")
        tgt = f"tput >= 0.5x  {verdict(r is not None and r >= 0.5)}"
    elif key == "compute_10k":
        r = ratio(p, "p50")
        tgt = f"p50 <= 5x    {verdict(r is not None and r <= 5)}"
    elif key == "compute_1k":
        r = ratio(p, "p50")
        tgt = f"p50 <= 2x    {verdict(r is not None and r <= 2)}"
    elif key == "metrics_10k":
        try:
            r = p["rps"] / phases["metrics"][1]["rps"]
        except (TypeError, KeyError, ZeroDivisionError):
            r = None
        tgt = f"tput >= 1.0x of 1k  {verdict(r is not None and r >= 1.0)}"
    elif key == "register":
        tgt = "(info: fixed 1,000)"
    print(f"{name:<34}{f(fleet[key], '{:,}', '-'):>7}{p['requests']:>7,}{p['rps']:>9,.1f}"
          f"{f(p['latency_ms']['p50'], '{:.2f}'):>9}{f(p['latency_ms']['p99'], '{:.2f}'):>9}"
          f"{f(ratio(p, 'rps'), '{:.2f}x'):>8}{f(ratio(p, 'p50'), '{:.2f}x'):>8}"
          f"{f(cpu.get('runtime'), '{:.2f}'):>9}{f(cpu.get('proxy'), '{:.2f}'):>7}  {tgt}")
print("  x tput / x p50: throughput and p50 latency relative to GET /health in this run.")
print("  CPU/req (ms): workerd process CPU per request (includes runtime overhead), see below; limit 10 ms "
      "(Workers free plan).")
print("  proxy (ms): CPU of wrangler's dev-proxy workerd per request (local only).")
if cluster["10k"]:
    c = cluster["10k"]
    print(f"  fleet check before compute@10k: nodes={c.get('nodes')} eligible={c.get('eligible')} "
          f"response {phases['compute_10k'][1]['mean_response_bytes']:,} B" if phases["compute_10k"][1] else "")
if changed:
    h = changed["health"]["p50_ms"]
    print(f"  sequential, {changed['rounds']} rounds (the kept fleet's worst case: every one of "
          f"{changed['nodes_touched']:,} nodes changed before each compute):")
    for key, label in (("health", "GET /health"), ("unchanged", "compute@10k, nothing changed"),
                       ("region_changed", "compute@10k, whole region changed")):
        c = changed[key]
        print(f"    {label:<36} p50 {c['p50_ms']:>7.2f} ms ({c['p50_ms'] / h:5.2f}x /health)  "
              f"workerd CPU mean {c['cpu_ms_mean']:.1f} ms")
print()
if native:
    print("native decide_placement (cargo run --release -p cp-core --example bench_placement)")
    print(f"{'nodes':>8}{'iterations':>12}{'mean us':>10}{'p50 us':>10}{'p99 us':>10}")
    for s in native.get("placement_native", []):
        print(f"{s['nodes']:>8,}{s['iterations']:>12,}{s['mean_us']:>10,.1f}{s['p50_us']:>10,.1f}{s['p99_us']:>10,.1f}")
    print()
print("CPU time per request (free-plan limit 10 ms):")
for key in ("health", "metrics", "compute_1k", "compute_10k", "metrics_10k"):
    p = phases[key][1]
    per = (p or {}).get("cpu_ms_per_request", {}).get("runtime")
    print(f"  {key:<14}{f(per, '{:.2f} ms'):>12}  {verdict(per is not None and per < 10)}")
print(textwrap.fill("how: " + cpu_source, width=110, initial_indent="  ", subsequent_indent="    "))
if probe and probe.get("available"):
    print("  unloaded, sequential requests on the 10,000-node fleet after the load phases (local trace spans,")
    print("  collector on; span = the Worker invocation, D1 = the time in its D1 calls):")
    for path, s in probe["paths"].items():
        print(f"    {path:<34} n={s['requests']:<3} span p50 {f(s['span_ms_p50'], '{:g}')} ms, "
              f"D1 p50 {f(s['d1_ms_p50'], '{:g}')} ms, reported cpuTime max {f(s['reported_cpu_time_ms_max'], '{:g}')} ms")
print()
passed = sum(1 for t in targets if t["pass"])
print(f"targets: {passed}/{len(targets)} met" + ("" if passed == len(targets) else
      " (missed: " + "; ".join(t["what"] for t in targets if not t["pass"]) + ")"))
for p in problems:
    print(f"PROBLEM: {p}")
print(f"wall time: {result['wall_time_s']} s (setup, build, native bench, Worker phases)")
print(f"JSON: {out_path}")
sys.exit(1 if problems else 0)

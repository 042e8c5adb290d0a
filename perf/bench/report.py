#!/usr/bin/env python3
"""Turns the raw files of one perf/bench/run.sh run into report.md, report.json and chart.tsv.

Usage: report.py OUT_DIR   (OUT_DIR/raw/run<N>/<config>/... as run.sh writes them)

Every figure is reduced over the runs to min/median/max; ratios are of medians. Standard
library only.
"""
import json
import os
import re
import statistics
import sys

CONFIGS = {
    "a": "direct (no mesh)",
    "b": "ztunnel → ztunnel (L4, HBONE mTLS)",
    "c": "ztunnel → waypoint → ztunnel (L7)",
    "d": "HAProxy pair (TLS 1.3, client certs)",
}
PROCS = {"b": ["ztunnel-a", "ztunnel-b"], "c": ["ztunnel-a", "waypoint", "ztunnel-b"],
         "d": ["haproxy-a", "haproxy-b"], "a": []}
TICK = os.sysconf("SC_CLK_TCK")
GOALS = {"added_p99_ms": 0.20, "ztunnel_vcpu_per_1k": 0.06, "waypoint_vcpu_per_1k": 0.25,
         "ztunnel_idle_rss_mib": 64, "hbone_conn_per_core": 2000}


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def snap(path):
    """time + {proc: (ticks, rss_kib, hwm_kib)} of one snap file, or None."""
    text = read(path)
    if text is None:
        return None
    out = {"procs": {}}
    for line in text.splitlines():
        parts = line.split()
        if parts[0] == "time":
            out["time"] = float(parts[1])
        elif len(parts) == 4:
            out["procs"][parts[0]] = tuple(int(p) for p in parts[1:])
    return out


def cpu(d, step):
    """{proc: (vcpu, rss_mib)} over step's two snaps, and the wall seconds between them."""
    s0, s1 = snap(f"{d}/{step}-0.snap"), snap(f"{d}/{step}-1.snap")
    if not s0 or not s1:
        return {}, None
    wall = s1["time"] - s0["time"]
    res = {}
    for name, (t1, rss, _) in s1["procs"].items():
        if name in s0["procs"]:
            res[name] = ((t1 - s0["procs"][name][0]) / TICK / wall, rss / 1024)
    return res, wall


def iperf(path):
    text = read(path)
    if not text:
        return None
    try:
        j = json.loads(text)
        if "error" in j:
            return None
        return j["end"]["sum_received"]["bits_per_second"] / 1e9
    except (ValueError, KeyError):
        return None


def h2load_rps(path):
    text = read(path) or ""
    m = re.search(r"finished in [\d.]+\w*, ([\d.]+) req/s", text)
    ok = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored", text)
    if not m or not ok or int(ok.group(1)) == 0:
        return None, None
    return float(m.group(1)), int(ok.group(2)) + int(ok.group(3))


def percentiles(path):
    text = read(path)
    if not text:
        return None
    lat, bad = [], 0
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) < 3:
            continue
        if parts[1] == "200":
            lat.append(int(parts[2]) / 1000.0)
        else:
            bad += 1
    if not lat:
        return None
    lat.sort()

    def q(p):  # nearest rank
        return lat[min(len(lat) - 1, max(0, int(-(-p * len(lat) // 1)) - 1))]

    return {"p50_ms": q(0.50), "p90_ms": q(0.90), "p99_ms": q(0.99), "p999_ms": q(0.999),
            "samples": len(lat), "non_200": bad}


def wrk(path):
    text = read(path) or ""
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if not m:
        return None, None
    errs = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", text))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return float(m.group(1)), errs + (int(non2xx.group(1)) if non2xx else 0)


def one(d, c):
    """All figures of one configuration in one run."""
    f = {"iperf1_gbps": iperf(f"{d}/iperf1.json"), "iperf4_gbps": iperf(f"{d}/iperf4.json")}
    pct = percentiles(f"{d}/rate.log")
    rate_rps, rate_err = h2load_rps(f"{d}/rate.txt")
    f.update(pct or {"p50_ms": None, "p90_ms": None, "p99_ms": None, "p999_ms": None})
    f["rate_rps"] = rate_rps
    f["rate_errors"] = rate_err
    f["max_rps"], f["max_errors"] = h2load_rps(f"{d}/max.txt")
    f["conn_per_s"], f["conn_errors"] = wrk(f"{d}/conn.txt")
    procs = {}
    rate_cpu, _ = cpu(d, "rate")
    max_cpu, _ = cpu(d, "max")
    conn_cpu, _ = cpu(d, "conn")
    i4_cpu, _ = cpu(d, "iperf4")
    for p in PROCS[c]:
        e = {}
        if p in rate_cpu and rate_rps:
            e["vcpu_per_1k_rps"] = rate_cpu[p][0] / (rate_rps / 1000)
            e["rss_mib"] = rate_cpu[p][1]
        if p in max_cpu and f["max_rps"]:
            e["vcpu_at_max"] = max_cpu[p][0]
            e["vcpu_per_1k_rps_at_max"] = max_cpu[p][0] / (f["max_rps"] / 1000)
        if p in conn_cpu and f["conn_per_s"] and conn_cpu[p][0] > 0:
            e["vcpu_at_conn"] = conn_cpu[p][0]
            e["conn_per_cpu_s"] = f["conn_per_s"] / conn_cpu[p][0]
        if p in i4_cpu and f["iperf4_gbps"]:
            e["vcpu_at_iperf4"] = i4_cpu[p][0]
            e["rss_mib_after_iperf4"] = i4_cpu[p][1]
        procs[p] = e
    f["procs"] = procs
    return f


def stat(values):
    v = [x for x in values if x is not None]
    if not v:
        return None
    return {"min": min(v), "median": statistics.median(v), "max": max(v), "n": len(v)}


def fmt(x, digits=2):
    if x is None:
        return "—"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.{digits}f}"


def cell(s, digits=2):
    if not s:
        return "—"
    if s["n"] == 1:
        return fmt(s["median"], digits)
    return f"{fmt(s['median'], digits)} ({fmt(s['min'], digits)}–{fmt(s['max'], digits)})"


def ratio(s1, s2):
    if not s1 or not s2 or not s2["median"]:
        return None
    return s1["median"] / s2["median"]


def main():
    out = sys.argv[1]
    raw = f"{out}/raw"
    machine = {}
    for line in (read(f"{raw}/machine.txt") or "").splitlines():
        k, _, v = line.partition(" ")
        machine[k] = v
    runs = sorted(int(n[3:]) for n in os.listdir(raw) if n.startswith("run"))
    configs = [c for c in machine.get("configs", "a,b,c,d").split(",") if c in CONFIGS]

    per_run = {c: [one(f"{raw}/run{r}/{c}", c) for r in runs if os.path.isdir(f"{raw}/run{r}/{c}")]
               for c in configs}
    metrics = ["iperf1_gbps", "iperf4_gbps", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "rate_rps",
               "max_rps", "conn_per_s"]
    stats = {c: {m: stat([f[m] for f in per_run[c]]) for m in metrics} for c in configs}
    proc_stats = {}
    for c in configs:
        proc_stats[c] = {}
        for p in PROCS[c]:
            keys = sorted({k for f in per_run[c] for k in f["procs"].get(p, {})})
            proc_stats[c][p] = {k: stat([f["procs"].get(p, {}).get(k) for f in per_run[c]]) for k in keys}
    idle = {}
    for which in ("idle-start", "idle-end"):
        s = snap(f"{raw}/{which}.snap")
        idle[which] = {p: {"rss_mib": v[0 + 1] / 1024, "hwm_mib": v[2] / 1024}
                       for p, v in (s or {"procs": {}})["procs"].items()}

    s0, s1 = snap(f"{raw}/idle-start.snap"), snap(f"{raw}/idle-start2.snap")
    if s0 and s1:
        wall = s1["time"] - s0["time"]
        for p, v in s1["procs"].items():
            if p in s0["procs"] and p in idle["idle-start"]:
                idle["idle-start"][p]["vcpu"] = (v[0] - s0["procs"][p][0]) / TICK / wall

    # ---- goals ---------------------------------------------------------------------------------
    goals = {}

    def paired_diff(c, m):
        if c not in per_run or "a" not in per_run:
            return None
        diffs = [x[m] - y[m] for x, y in zip(per_run[c], per_run["a"])
                 if x[m] is not None and y[m] is not None]
        return stat(diffs)

    added = paired_diff("b", "p99_ms")
    goals["added_p99_ms_two_ztunnels"] = {"value": added, "goal": f"≤ {GOALS['added_p99_ms']}",
                                          "met": bool(added and added["median"] <= GOALS["added_p99_ms"])}
    goals["added_p99_ms_waypoint_path"] = {"value": paired_diff("c", "p99_ms"), "goal": "(no goal)", "met": None}
    for m in ("iperf1_gbps", "iperf4_gbps"):
        if "b" in stats and "d" in stats:
            r = ratio(stats["b"][m], stats["d"][m])
            goals[f"{m}_ztunnel_vs_haproxy"] = {"value": r, "goal": "≥ 1.0", "met": bool(r and r >= 1.0)}
    if "b" in proc_stats:
        for p in ("ztunnel-a", "ztunnel-b"):
            s = proc_stats["b"].get(p, {}).get("vcpu_per_1k_rps")
            goals[f"{p}_vcpu_per_1k_rps"] = {"value": s, "goal": f"≤ {GOALS['ztunnel_vcpu_per_1k']}",
                                             "met": bool(s and s["median"] <= GOALS["ztunnel_vcpu_per_1k"])}
        for p in ("ztunnel-a", "ztunnel-b"):
            s = proc_stats["b"].get(p, {}).get("conn_per_cpu_s")
            goals[f"{p}_new_conn_per_core"] = {"value": s, "goal": f"≥ {GOALS['hbone_conn_per_core']}",
                                               "met": bool(s and s["median"] >= GOALS["hbone_conn_per_core"])}
    if "c" in proc_stats:
        s = proc_stats["c"].get("waypoint", {}).get("vcpu_per_1k_rps")
        goals["waypoint_vcpu_per_1k_rps"] = {"value": s, "goal": f"≤ {GOALS['waypoint_vcpu_per_1k']}",
                                             "met": bool(s and s["median"] <= GOALS["waypoint_vcpu_per_1k"])}
    for p in ("ztunnel-a", "ztunnel-b"):
        v = idle["idle-start"].get(p, {}).get("rss_mib")
        goals[f"{p}_idle_rss_mib"] = {"value": v, "goal": f"≤ {GOALS['ztunnel_idle_rss_mib']}",
                                      "met": bool(v is not None and v <= GOALS["ztunnel_idle_rss_mib"])}

    report = {"machine": machine, "configs": {c: CONFIGS[c] for c in configs}, "runs": runs,
              "per_run": per_run, "stats": stats, "proxies": proc_stats, "idle": idle, "goals": goals}
    with open(f"{out}/report.json", "w") as f:
        json.dump(report, f, indent=2, ensure_ascii=False)

    # ---- chart data ----------------------------------------------------------------------------
    with open(f"{out}/chart.tsv", "w") as f:
        f.write("# config\tlabel\tmetric\tmin\tmedian\tmax\n")
        for c in configs:
            for m in ("p50_ms", "p90_ms", "p99_ms", "p999_ms", "iperf1_gbps", "iperf4_gbps", "max_rps", "conn_per_s"):
                s = stats[c][m]
                if s:
                    f.write(f"{c}\t{CONFIGS[c]}\t{m}\t{s['min']}\t{s['median']}\t{s['max']}\n")

    # ---- Markdown ------------------------------------------------------------------------------
    md = []
    w = md.append
    n = len(runs)
    w(f"# ambientj macro bench — {machine.get('date', '')}\n")
    w(f"{'Quick mode: 1 run, short durations — not for comparison.' if machine.get('quick') == '1' else ''}\n")
    w("## Machine\n")
    w("| | |\n|---|---|")
    for k, label in (("cpu", "CPU"), ("cores", "cores"), ("kernel", "kernel"), ("jdk", "JDK"),
                     ("loadavg_start", "load average at start (1/5/15 min)"),
                     ("loadavg_end", "load average at end"), ("commit", "ambientj measured"),
                     ("mesh_java_opts", "MESH_JAVA_OPTS"),
                     ("jvm_command_ztunnel", "JVM command line of ztunnel (./mesh defaults + MESH_JAVA_OPTS)"),
                     ("jvm_command_waypoint", "JVM command line of the waypoint"),
                     ("ztunnel_args", "extra ztunnel arguments (BENCH_ZTUNNEL_ARGS)"),
                     ("waypoint_args", "extra waypoint arguments (BENCH_WAYPOINT_ARGS)"),
                     ("jvm_ergonomics", "JVM ergonomics (pinned)"),
                     ("haproxy", "HAProxy"), ("nginx", "nginx"), ("iperf3", "iperf3"),
                     ("h2load", "h2load"), ("wrk", "wrk"), ("durations", "durations (s)"),
                     ("clients", "connections per load"), ("elapsed_s", "bench wall time (s)")):
        w(f"| {label} | {machine.get(k, '') or '(none)'} |")
    w(f"| pinning | proxies (ztunnels, waypoint, HAProxy pair) on CPU {machine.get('proxy_cpu')}; "
      f"load generators (h2load, iperf3 -c, wrk) and backends (nginx, iperf3 -s) on CPU "
      f"{machine.get('load_cpu')} (`taskset -c`) |")
    w("")
    w(f"## Figures\n")
    w(f"Median (min–max) over {n} run{'s' if n != 1 else ''}; ratios are of medians. Latency: "
      f"HTTP/1.1 GET of a 1 KiB body at a fixed open-loop rate of {machine.get('rate')} requests/s "
      f"(h2load `--rps`, {machine.get('clients', '').split()[0].split('=')[1] if machine.get('clients') else '?'} connections).\n")
    cols = [c for c in configs]
    ratio_cols = [(x, "a") for x in configs if x != "a" and "a" in configs] + \
                 [(x, "d") for x in configs if x not in ("a", "d") and "d" in configs]
    w("| " + " | ".join(["figure"] + [f"({c}) {CONFIGS[c]}" for c in cols]
                        + [f"{x}÷{y}" for x, y in ratio_cols]) + " |")
    w("|---|" + "---:|" * (len(cols) + len(ratio_cols)))
    labels = {"iperf1_gbps": "iperf3, 1 stream (Gbit/s)", "iperf4_gbps": "iperf3, 4 streams (Gbit/s)",
              "p50_ms": "p50 (ms)", "p90_ms": "p90 (ms)", "p99_ms": "p99 (ms)", "p999_ms": "p99.9 (ms)",
              "rate_rps": "achieved fixed rate (req/s)", "max_rps": "maximum rate, 32 conns (req/s)",
              "conn_per_s": "new connections/s (1 request each)"}
    for m in metrics:
        digits = 3 if m.endswith("_ms") else 2
        w("| " + " | ".join([labels[m]] + [cell(stats[c][m], digits) for c in cols]
                            + [fmt(ratio(stats[x][m], stats[y][m])) for x, y in ratio_cols]) + " |")
    w("")
    w("## Proxy processes\n")
    w("vCPU = CPU seconds (utime+stime of the whole process, /proc/PID/stat) per wall second of the "
      "step; RSS = VmRSS (/proc/PID/status) at the end of the fixed-rate step.\n")
    w("| config | process | vCPU per 1,000 rps at the fixed rate | vCPU per 1,000 rps at the maximum rate "
      "| RSS after the fixed rate (MiB) | vCPU during new connections | new connections per CPU-second "
      "| vCPU during iperf3 ×4 |")
    w("|---|---|---:|---:|---:|---:|---:|---:|")
    for c in configs:
        for p in PROCS[c]:
            s = proc_stats[c][p]
            w(f"| ({c}) | {p} | {cell(s.get('vcpu_per_1k_rps'), 3)} | {cell(s.get('vcpu_per_1k_rps_at_max'), 3)} "
              f"| {cell(s.get('rss_mib'), 1)} | {cell(s.get('vcpu_at_conn'), 2)} | {cell(s.get('conn_per_cpu_s'), 0)} "
              f"| {cell(s.get('vcpu_at_iperf4'), 2)} |")
    w("")
    w("Idle (MiB, vCPU): RSS after start-up before any traffic, after the whole bench, its peak; CPU with no traffic:\n")
    w("| process | at start | at end | peak (VmHWM) | idle vCPU (5 s after start, no traffic) |\n|---|---:|---:|---:|---:|")
    for p in ("ztunnel-a", "ztunnel-b", "waypoint", "haproxy-a", "haproxy-b"):
        a, e = idle["idle-start"].get(p, {}), idle["idle-end"].get(p, {})
        w(f"| {p} | {fmt(a.get('rss_mib'), 1)} | {fmt(e.get('rss_mib'), 1)} | {fmt(e.get('hwm_mib'), 1)} | {fmt(a.get('vcpu'), 3)} |")
    w("")
    w("## Goals\n")
    w("| goal | value (median (min–max)) | target | met |\n|---|---:|---|---|")
    for k, g in goals.items():
        v = g["value"]
        vs = cell(v, 3) if isinstance(v, dict) else fmt(v, 2)
        met = "—" if g["met"] is None else ("yes" if g["met"] else "**no**")
        w(f"| {k} | {vs} | {g['goal']} | {met} |")
    w("")
    errs = []
    for c in configs:
        for i, f in enumerate(per_run[c]):
            for k in ("rate_errors", "max_errors", "conn_errors"):
                if f.get(k):
                    errs.append(f"run {runs[i]} ({c}) {k}: {f[k]}")
            for k in ("iperf1_gbps", "iperf4_gbps", "p99_ms", "max_rps", "conn_per_s"):
                if f.get(k) is None:
                    errs.append(f"run {runs[i]} ({c}) {k}: no result (see raw/run{runs[i]}/{c}/)")
    w("## Errors\n")
    w("\n".join(f"- {e}" for e in errs) if errs else "None: every request succeeded and every step gave a figure.")
    w("")
    w("![latency percentiles and throughput per configuration](chart.png)\n")
    with open(f"{out}/report.md", "w") as f:
        f.write("\n".join(md))


if __name__ == "__main__":
    main()

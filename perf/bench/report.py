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
# Issue 17's targets (the waypoint's from issue 9).
GOALS = {"added_p99_ms": 0.50, "p99_vs_haproxy": 1.0, "max_rps_vs_haproxy": 1.2, "iperf4_vs_haproxy": 1.2,
         "iperf1_vs_haproxy": 1.5, "ztunnel_vcpu_per_1k": 0.05, "waypoint_vcpu_per_1k": 0.25,
         "ztunnel_idle_rss_mib": 64, "ztunnel_loaded_rss_mib": 96, "hbone_conn_per_core": 4000,
         "noisy_p99_vs_alone": 2.0}
JVMS = ("ztunnel-a", "ztunnel-b", "waypoint", "config-server")
NMT_COLUMNS = ("Java Heap", "Class", "Metaspace", "Code", "Thread", "GC", "Other", "Symbol",
               "Shared class space")


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


def nmt(path):
    """{category: committed MiB, "total": MiB, "classes": n, "threads": n} of a jcmd
    VM.native_memory summary, or None."""
    text = read(path)
    if not text or "Total:" not in text:
        return None
    out = {}
    m = re.search(r"Total: reserved=(\d+)KB, committed=(\d+)KB", text)
    out["total"] = int(m.group(2)) / 1024
    for m in re.finditer(r"^-\s+(.+?) \(reserved=(\d+)KB, committed=(\d+)KB\)", text, re.M):
        out[m.group(1).strip()] = int(m.group(3)) / 1024
    m = re.search(r"\(classes #(\d+)\)", text)
    out["classes"] = int(m.group(1)) if m else None
    m = re.search(r"\(threads? #(\d+)\)", text)
    out["threads"] = int(m.group(1)) if m else None
    return out


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
    f["nmt"] = {step: {p: nmt(f"{d}/nmt-{step}-{p}.txt") for p in PROCS[c] if p in JVMS}
                for step in ("rate", "max", "conn", "iperf")}
    f["noisy"] = {mode: noisy(f"{d}/noisy-{mode}") for mode in ("on", "off")
                  if os.path.isdir(f"{d}/noisy-{mode}")}
    return f


def noisy(d):
    """The noisy-neighbour steps of one run and fairness mode: client-0's figures alone, beside
    the flood and beside the storm; client-1's own; what the ztunnels refused."""
    out = {}
    for step in ("alone", "flood", "storm"):
        pct = percentiles(f"{d}/{step}.log") or {}
        rps, errors = h2load_rps(f"{d}/{step}.txt")
        e = {"p50_ms": pct.get("p50_ms"), "p99_ms": pct.get("p99_ms"), "p999_ms": pct.get("p999_ms"),
             "rate_rps": rps, "errors": (errors or 0) + pct.get("non_200", 0) if pct else None}
        if step == "flood":
            e["noisy_rps"], e["noisy_errors"] = h2load_rps(f"{d}/noisy-flood.txt")
        elif step == "storm":
            e["noisy_rps"], e["noisy_errors"] = wrk(f"{d}/noisy-storm.txt")
        c, _ = cpu(d, step)
        e["vcpu"] = {p: v[0] for p, v in c.items()}
        out[step] = e
    refused = {}
    for side in ("a", "b"):
        for line in (read(f"{d}/refused-ztunnel-{side}.txt") or "").splitlines():
            name, _, value = line.rpartition(" ")
            try:
                if float(value) > 0:
                    refused[f"ztunnel-{side} {name}"] = float(value)
            except ValueError:
                pass
    out["refused"] = refused
    return out


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
    nmt_stats = {}
    for c in configs:
        for step in ("rate", "max", "conn", "iperf"):
            for p in PROCS[c]:
                if p not in JVMS:
                    continue
                vals = [f["nmt"][step].get(p) for f in per_run[c] if f["nmt"][step].get(p)]
                if vals:
                    keys = sorted({k for v in vals for k in v})
                    nmt_stats[(c, step, p)] = {k: stat([v.get(k) for v in vals]) for k in keys}
    nmt_idle = {which: {p: nmt(f"{raw}/nmt-{which}-{p}.txt") for p in JVMS}
                for which in ("idle-start", "idle-end")}
    noisy_stats = {}
    for mode in ("on", "off"):
        runs_n = [f["noisy"][mode] for f in per_run.get("b", []) if mode in f.get("noisy", {})]
        if not runs_n:
            continue
        noisy_stats[mode] = {}
        for step in ("alone", "flood", "storm"):
            keys = ("p50_ms", "p99_ms", "p999_ms", "rate_rps", "errors", "noisy_rps", "noisy_errors")
            noisy_stats[mode][step] = {k: stat([r[step].get(k) for r in runs_n]) for k in keys}
            noisy_stats[mode][step]["vcpu"] = {p: stat([r[step]["vcpu"].get(p) for r in runs_n])
                                               for p in ("ztunnel-a", "ztunnel-b")}
        refused = {}
        for r in runs_n:
            for k, v in r["refused"].items():
                refused[k] = max(refused.get(k, 0), v)
        noisy_stats[mode]["refused"] = refused
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
    if "b" in stats and "d" in stats:
        for m, g, le in (("p99_ms", "p99_vs_haproxy", True), ("max_rps", "max_rps_vs_haproxy", False),
                         ("iperf4_gbps", "iperf4_vs_haproxy", False), ("iperf1_gbps", "iperf1_vs_haproxy", False)):
            r = ratio(stats["b"][m], stats["d"][m])
            goals[f"{m}_ztunnel_vs_haproxy"] = {
                "value": r, "goal": f"{'≤' if le else '≥'} {GOALS[g]}",
                "met": bool(r and (r <= GOALS[g] if le else r >= GOALS[g]))}
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
        v = idle["idle-end"].get(p, {}).get("rss_mib")
        goals[f"{p}_rss_after_load_mib"] = {"value": v, "goal": f"≤ {GOALS['ztunnel_loaded_rss_mib']}",
                                            "met": bool(v is not None and v <= GOALS["ztunnel_loaded_rss_mib"])}
    if "on" in noisy_stats:
        alone = (noisy_stats["on"]["alone"]["p99_ms"] or {}).get("median")
        for step in ("flood", "storm"):
            beside = (noisy_stats["on"][step]["p99_ms"] or {}).get("median")
            r = beside / alone if alone and beside else None
            goals[f"noisy_{step}_p99_vs_alone_fairness_on"] = {
                "value": r, "goal": f"≤ {GOALS['noisy_p99_vs_alone']}",
                "met": bool(r and r <= GOALS["noisy_p99_vs_alone"])}
        errs = sum((noisy_stats["on"][s]["errors"] or {}).get("max", 0) or 0 for s in ("alone", "flood", "storm"))
        goals["noisy_measured_pod_never_refused_fairness_on"] = {"value": errs, "goal": "0 failed requests",
                                                                 "met": errs == 0}

    report = {"machine": machine, "configs": {c: CONFIGS[c] for c in configs}, "runs": runs,
              "per_run": per_run, "stats": stats, "proxies": proc_stats, "idle": idle, "goals": goals,
              "nmt": {"idle": nmt_idle, "steps": {f"{c} {st} {p}": v for (c, st, p), v in nmt_stats.items()}},
              "noisy": noisy_stats}
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
                     ("clients", "connections per load"), ("elapsed_s", "bench wall time (s)"),
                     ("control", "how the proxies get config and certificates (--control)"),
                     ("cpu_mode", "CPU mode (--cpu-mode)"), ("cpus", "CPUs"),
                     ("nmt", "native memory tracking (BENCH_NMT)"),
                     ("aot", "ztunnel AOT cache trained on (b) first (BENCH_AOT)"),
                     ("noisy_annotations", "the noisy pod's annotations")):
        w(f"| {label} | {machine.get(k, '') or '(none)'} |")
    if machine.get("cpu_mode", "shared") == "shared":
        w(f"| pinning | proxies (ztunnels, waypoint, HAProxy pair) on CPU {machine.get('proxy_cpu')}; "
          f"load generators (h2load, iperf3 -c, wrk) and backends (nginx, iperf3 -s) on CPU "
          f"{machine.get('load_cpu')} (`taskset -c`) |")
    else:
        w(f"| pinning | each side's proxies on a CPU of their own: {machine.get('cpus')} (`taskset -c`) |")
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
    for p in ("ztunnel-a", "ztunnel-b", "waypoint", "haproxy-a", "haproxy-b", "config-server"):
        if p not in idle["idle-start"]:
            continue
        a, e = idle["idle-start"].get(p, {}), idle["idle-end"].get(p, {})
        w(f"| {p} | {fmt(a.get('rss_mib'), 1)} | {fmt(e.get('rss_mib'), 1)} | {fmt(e.get('hwm_mib'), 1)} | {fmt(a.get('vcpu'), 3)} |")
    w("")
    w("## Memory: RSS and native memory per JVM\n")
    w("NMT summary (`jcmd PID VM.native_memory summary`, committed MiB) beside VmRSS. RSS is above the "
      "NMT total by what NMT does not see (libjvm's text, the CDS archive's file pages, malloc arenas' "
      "slack). Steps: median over the runs, after the step.\n")
    hdr = ["process", "when", "RSS", "NMT total"] + list(NMT_COLUMNS) + ["classes", "threads"]
    w("| " + " | ".join(hdr) + " |")
    w("|---|---|" + "---:|" * (len(hdr) - 2))

    def nmt_row(p, when, rss, n, median=False):
        def g(k):
            v = n.get(k) if n else None
            if isinstance(v, dict):
                v = v.get("median")
            return v
        return (f"| {p} | {when} | {fmt(rss, 1)} | {fmt(g('total'), 1)} | "
                + " | ".join(fmt(g(k), 1) for k in NMT_COLUMNS)
                + f" | {fmt(g('classes'), 0)} | {fmt(g('threads'), 0)} |")
    for p in JVMS:
        n0 = nmt_idle["idle-start"].get(p)
        if n0 or p in idle["idle-start"]:
            w(nmt_row(p, "idle, after start-up", idle["idle-start"].get(p, {}).get("rss_mib"), n0))
        for c in configs:
            for step in ("rate", "max", "conn", "iperf"):
                if (c, step, p) in nmt_stats:
                    rss = None
                    key = {"rate": "rss_mib", "iperf": "rss_mib_after_iperf4"}.get(step)
                    if key and proc_stats.get(c, {}).get(p, {}).get(key):
                        rss = proc_stats[c][p][key]["median"]
                    w(nmt_row(p, f"({c}) after {step}", rss, nmt_stats[(c, step, p)]))
        n1 = nmt_idle["idle-end"].get(p)
        if n1 or p in idle["idle-end"]:
            w(nmt_row(p, "after the whole bench", idle["idle-end"].get(p, {}).get("rss_mib"), n1))
    w("")
    if noisy_stats:
        w("## Noisy neighbour (b)\n")
        w(f"client-0 (the measured pod) at {machine.get('rate')} requests/s as in the fixed-rate step, "
          "alone, then beside client-1 on the same node and ztunnel: a maximum-rate HTTP flood "
          f"(h2load, {machine.get('clients', '').split()[1].split('=')[1] if machine.get('clients') else '?'} "
          "connections) and a connection storm (wrk, one request per connection). Fairness on: "
          f"client-1 annotated `{machine.get('noisy_annotations')}`; off: ztunnels with `--fairness off`. "
          "The load generators share one CPU, so client-1 also takes CPU from client-0's h2load.\n")
        w("| fairness | client-1 | client-0 p50 (ms) | client-0 p99 (ms) | p99 ÷ alone | client-0 p99.9 (ms) "
          "| client-0 achieved rps | client-0 failed requests | client-1 req/s | client-1 errors "
          "| ztunnel-a vCPU | ztunnel-b vCPU |")
        w("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for mode in ("on", "off"):
            if mode not in noisy_stats:
                continue
            ns_ = noisy_stats[mode]
            alone = ns_["alone"]["p99_ms"]
            for step, label in (("alone", "idle"), ("flood", "maximum-rate flood"), ("storm", "connection storm")):
                e = ns_[step]
                w(f"| {mode} | {label} | {cell(e['p50_ms'], 3)} | {cell(e['p99_ms'], 3)} "
                  f"| {fmt(ratio(e['p99_ms'], alone))} | {cell(e['p999_ms'], 3)} | {cell(e['rate_rps'], 0)} "
                  f"| {cell(e['errors'], 0)} | {cell(e.get('noisy_rps'), 0)} | {cell(e.get('noisy_errors'), 0)} "
                  f"| {cell(e['vcpu'].get('ztunnel-a'), 2)} | {cell(e['vcpu'].get('ztunnel-b'), 2)} |")
        for mode in ("on", "off"):
            if mode in noisy_stats and noisy_stats[mode]["refused"]:
                w(f"\nRefused by the ztunnels, fairness {mode} (largest count of a run): "
                  + "; ".join(f"`{k}` {v:.0f}" for k, v in sorted(noisy_stats[mode]["refused"].items())))
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

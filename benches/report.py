#!/usr/bin/env python3
"""Prints the benchmark table from the driver's results: medians, ratios, and each target
with whether this run met it. Targets are printed, never asserted: a shared 2-core machine
is too noisy for a benchmark to fail a build.

Usage: report.py RESULTS.tsv [SYNCS.tsv]

The targets are issue #15's: W1 and W2 <= 1.25x make -j2 (wall), W3 <= 25 ms over the critical
path, one env edit <= 4 fsync calls and <= 2x the floor's rewrite with two fsyncs, validate and
`plan jwt-rotation` of the shipped library <= 3 ms, peak RSS on W1 <= 10 MiB, W5 linear.
"""

import sys

CRITICAL_PATH_MS = 500.0  # W3: 10 sleeps of 50 ms on the longest chain
MIB = 1024.0
syncs = {}


def load(path):
    rows = {}
    for line in open(path):
        f = line.rstrip("\n").split("\t")
        if len(f) < 9:
            continue
        rows[(f[0], f[1])] = {
            "runs": int(f[2]), "median": float(f[3]), "min": float(f[4]),
            "max": float(f[5]), "cpu": float(f[6]), "rss": int(f[7]), "fail": int(f[8]),
        }
    return rows


class Table:
    def __init__(self, rows):
        self.rows = rows

    def get(self, workload, label):
        return self.rows.get((workload, label))

    def measured(self, workload, label, note=""):
        r = self.get(workload, label)
        if r is None:
            print(f"  {label:<40} (not measured)")
            return
        spread = f"{r['min']:.1f}-{r['max']:.1f}"
        fail = f"  {r['fail']} FAILED" if r["fail"] else ""
        print(f"  {label:<40} {r['median']:>9.1f} {spread:>17} {r['cpu']:>9.1f}"
              f" {r['rss'] / MIB:>8.1f}  {note}{fail}")

    def ratio(self, workload, a, b, target=None):
        ra, rb = self.get(workload, a), self.get(workload, b)
        if not ra or not rb or rb["median"] <= 0:
            return
        value = ra["median"] / rb["median"]
        # CPU time is printed beside wall time because it barely moves when another process
        # shares the machine, while wall time does.
        # The ratio of the fastest runs is printed too: on a shared machine noise only ever adds
        # time, so the minimum is the least disturbed sample.
        cpu = ra["cpu"] / rb["cpu"] if rb["cpu"] > 0 else float("nan")
        fastest = ra["min"] / rb["min"] if rb["min"] > 0 else float("nan")
        line = (f"  {a} / {b}:".ljust(48)
                + f"{value:5.2f}x wall {fastest:5.2f}x min {cpu:5.2f}x cpu")
        if target is not None:
            line += f"   target <= {target:.2f}x  {verdict(value <= target)}"
        print(line)


def verdict(ok):
    return "met" if ok else "MISSED"


def header(title):
    print()
    print(title)
    print(f"  {'':<40} {'median ms':>9} {'min-max ms':>17} {'cpu ms':>9} {'max RSS':>8}")


def exec_section(t, workload, title, jobs_list):
    header(title)
    for j in jobs_list:
        for tool in ("runbook sh -c", "runbook argv", "make", "ninja", "floor sh -c", "floor argv"):
            t.measured(workload, f"j{j} {tool}")
    for j in jobs_list:
        print(f"  -- --jobs {j}:")
        for mine in ("runbook sh -c", "runbook argv"):
            t.ratio(workload, f"j{j} {mine}", f"j{j} make", 1.25 if j == 2 else None)
            t.ratio(workload, f"j{j} {mine}", f"j{j} ninja")
        t.ratio(workload, f"j{j} runbook sh -c", f"j{j} floor sh -c")
        t.ratio(workload, f"j{j} runbook argv", f"j{j} floor argv")
        if workload == "w1" and j == 2:
            for mine in ("runbook sh -c", "runbook argv"):
                r = t.get(workload, f"j{j} {mine}")
                if r:
                    print(f"  j{j} {mine}: peak RSS {r['rss'] / MIB:.1f} MiB".ljust(58)
                          + f"target <= 10 MiB  {verdict(r['rss'] / MIB <= 10)}")
        mine, floor = t.get(workload, f"j{j} runbook argv"), t.get(workload, f"j{j} floor argv")
        if mine and floor:
            per_step = (mine["median"] - floor["median"]) / 1000 * 1000
            cpu = (mine["cpu"] - floor["cpu"]) / 1000 * 1000
            print(f"  runbook argv - floor argv, per step:".ljust(48)
                  + f"{per_step:6.0f} us wall {cpu:5.0f} us cpu")


def load_syncs(path):
    counts = {}
    try:
        for line in open(path):
            f = line.rstrip("\n").split("\t")
            if len(f) == 3:
                counts[(f[0], f[1])] = int(f[2])
    except OSError:
        pass
    return counts


def main():
    t = Table(load(sys.argv[1]))
    global syncs
    syncs = load_syncs(sys.argv[2]) if len(sys.argv) > 2 else {}
    print("All times are wall-clock medians of interleaved runs, including process start.")
    print("cpu = user+sys of the process and its children; max RSS in MiB (largest of the runs).")
    print('How each spawns `true`: runbook `sh -c` = run: "true"; runbook argv = run: ["true"];')
    print("runbook and make exec a plain command string directly (no shell); ninja always uses /bin/sh -c;")
    print("the floor (benches/floor.rs) does either, with bare fork/exec and no pipes.")
    print("runbook runs with --format json to /dev/null and a registered secret (redaction on).")

    exec_section(t, "w1", "W1  1,000 `true` steps as 10 chains of 100", [2])
    exec_section(t, "w2", "W2  1,000 independent `true` steps", [2, 1])

    header("W3  40 `sleep 0.05` steps, critical path 10 steps = 500 ms, 4 jobs")
    for label in ("runbook sh -c", "make", "floor sh -c"):
        r = t.get("w3", label)
        over = f"makespan - critical path = {r['median'] - CRITICAL_PATH_MS:6.1f} ms" if r else ""
        t.measured("w3", label, over)
    r = t.get("w3", "runbook sh -c")
    if r:
        over = r["median"] - CRITICAL_PATH_MS
        print(f"  runbook: makespan - critical path = {over:.1f} ms   "
              f"target <= 25 ms  {verdict(over <= 25)}")

    header("W4  the shipped library, per invocation")
    base = t.get("w4", "runbook --version (process floor)")
    for label in ("validate", "plan jwt-rotation", "plan compromise --secret jwt"):
        r = t.get("w4", label)
        note = f"target <= 3 ms  {verdict(r['median'] <= 3)}" if r else ""
        if r and base:
            note += f"  (minus process start: {r['median'] - base['median']:.1f} ms)"
        t.measured("w4", label, note)
    t.measured("w4", "runbook --version (process floor)")

    header("W5  plan of generated DAGs (10 rotation runbooks + 1 root of `rotate` steps)")
    for label, steps in (("plan 1000 steps", 1000), ("plan 10000 steps", 10000),
                         ("plan 10000 steps --format json", 10000), ("plan 100000 steps", 100000)):
        r = t.get("w5", label)
        note = f"{r['median'] / steps * 1000:.1f} us/step" if r else ""
        t.measured("w5", label, note)
    t.measured("w5", "plan 10000 steps (one file)")
    t.measured("w5", "plan 10000 steps (one file, half retire)")
    t.measured("w5", "plan 10000 steps (one file, state kept)", "runbooks read back, not parsed")
    for label in ("plan 10000 steps", "plan 10000 steps (one file)"):
        r = t.get("w5", label)
        if r:
            ok = r["median"] <= 100 and r["rss"] / MIB <= 50
            print(f"  {label}: {r['median']:.0f} ms, {r['rss'] / MIB:.1f} MiB".ljust(58)
                  + f"target <= 100 ms and <= 50 MiB  {verdict(ok)}")
    small, mid, big = (t.get("w5", f"plan {n} steps") for n in (1000, 10000, 100000))
    if small and mid and big:
        growth = big["median"] / mid["median"]
        print(f"  growth 1k -> 10k: {mid['median'] / small['median']:.1f}x time, "
              f"{mid['rss'] / max(small['rss'], 1):.1f}x RSS; 10k -> 100k: {growth:.1f}x time, "
              f"{big['rss'] / max(mid['rss'], 1):.1f}x RSS".ljust(58)
              + f"   linear is 10x  {verdict(growth <= 12)}")

    header("W6  `env` edit of one key (one step, 1,000 lines; and after a generate, 10,000 lines)")
    for label in ("one env edit, 1,000 lines", "floor: rewrite 1,000 lines + 2 fsyncs",
                  "generate + env edit", "generate only", "floor: rewrite + 2 fsyncs",
                  "floor: rewrite, no fsync"):
        t.measured("w6", label)
    t.ratio("w6", "one env edit, 1,000 lines", "floor: rewrite 1,000 lines + 2 fsyncs", 2.0)
    edit, gen = t.get("w6", "generate + env edit"), t.get("w6", "generate only")
    synced = t.get("w6", "floor: rewrite + 2 fsyncs")
    unsynced = t.get("w6", "floor: rewrite, no fsync")
    if edit and gen and synced and unsynced:
        per_edit = edit["median"] - gen["median"]
        fsyncs = max(synced["median"] - unsynced["median"], 0.0)
        print(f"  one edit of 10,000 lines (difference of the two runs): {per_edit:.1f} ms, of which "
              f"the floor's 2 fsyncs cost {fsyncs:.1f} ms")
    for name, label, target in (("one", "one env edit", 4), ("edit", "generate + env edit", 5)):
        count = syncs.get(("w6", name))
        if count is not None:
            print(f"  {label}: {count} fsync/fdatasync calls (strace)".ljust(58)
                  + f"target <= {target}  {verdict(count <= target)}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes every benchmark workload into one directory, plus the list of commands to time.

Each DAG is written once as data and rendered for every tool that runs it (a runbook, a
Makefile, a build.ninja and the floor's DAG file), so all of them run exactly the same graph.
The command list (`specs.tsv`) is what `driver` times: one line per measured command,
`workload<TAB>label<TAB>runs<TAB>warmup<TAB>cwd<TAB>argv...`.

Usage: gen.py OUT_DIR RUNBOOK_BIN FLOOR_BIN REPO_DIR RUNS
"""

import os
import secrets
import shutil
import sys

HEADER = "# yaml-language-server: $schema=../schemas/runbook.schema.json\n"

# A value owned by every exec runbook's secret: preflight reads it and registers it with the
# redactor, so every event line is scanned by a non-empty automaton ("redaction on").
BENCH_SECRET = secrets.token_hex(16)


def chains(count, length):
    """`count` independent chains of `length` steps: node ids and the index each one needs."""
    nodes = []
    for chain in range(count):
        for position in range(length):
            needs = [len(nodes) - 1] if position else []
            nodes.append((f"c{chain}-{position}", needs))
    return nodes


def independent(count):
    return [(f"s{i}", []) for i in range(count)]


def layered(count):
    """A plausible large runbook for W5: every step needs the one before it and, every third
    step, one ten places back, so the graph has long and short edges but stays a DAG."""
    nodes = []
    for i in range(count):
        needs = [i - 1] if i else []
        if i >= 10 and i % 3 == 0:
            needs.append(i - 10)
        nodes.append((f"s{i}", needs))
    return nodes


def yaml_steps(nodes, run, retire_from=None):
    """The `steps:` list. `run` is either a shell string or an argv list, already YAML text.
    Steps from index `retire_from` on are in the retire phase."""
    lines = ["steps:"]
    for index, (node_id, needs) in enumerate(nodes):
        lines.append(f"  - id: {node_id}")
        if retire_from is not None and index >= retire_from:
            lines.append("    phase: retire")
        if needs:
            lines.append(f"    needs: [{', '.join(nodes[n][0] for n in needs)}]")
        lines.append(f"    exec: {{ run: {run} }}")
    return "\n".join(lines) + "\n"


def secret_block(secret_id, env_name, env_file, overlap=None):
    """A `secret:` block; `overlap` (a duration) is what a runbook with phases needs."""
    return (
        "secret:\n"
        f"  id: {secret_id}\n"
        f"  env: [{env_name}]\n"
        f"  file: {env_file}\n"
        + (f"  overlap: {overlap}\n" if overlap else "")
        + "  every: 90d\n"
        "  impact: none (benchmark)\n"
    )


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def exec_project(out, name, nodes, run):
    """A project directory whose only runbook is `name`: the library holds nothing else, so a
    run pays for loading and checking exactly this DAG."""
    root = os.path.join(out, name)
    text = HEADER + f"name: {name}\n" + secret_block("bench", "BENCH_TOKEN", "bench.env")
    write(os.path.join(root, "runbooks", f"{name}.yaml"), text + yaml_steps(nodes, run))
    write(os.path.join(root, "bench.env"), f"BENCH_TOKEN={BENCH_SECRET}\n")
    return root


def peers(out, name, nodes, command):
    """The same DAG for make, ninja and the floor, in `out/name.{mk,ninja,dag}`."""
    ids = [n[0] for n in nodes]
    sinks = set(range(len(nodes))) - {d for _, needs in nodes for d in needs}
    mk = [".PHONY: all " + " ".join(ids), "all: " + " ".join(ids[i] for i in sorted(sinks))]
    for node_id, needs in nodes:
        mk.append(f"{node_id}: {' '.join(ids[n] for n in needs)}".rstrip())
        mk.append(f"\t{command}")
    write(os.path.join(out, f"{name}.mk"), "\n".join(mk) + "\n")
    # The outputs are never created, so ninja runs every edge on every invocation, like make's
    # phony targets; ninja always spawns through `/bin/sh -c`.
    nj = ["rule t", f"  command = {command}", ""]
    for node_id, needs in nodes:
        nj.append(f"build {node_id}: t {' '.join(ids[n] for n in needs)}".rstrip())
    nj.append("build all: phony " + " ".join(ids[i] for i in sorted(sinks)))
    nj.append("default all")
    write(os.path.join(out, f"{name}.ninja"), "\n".join(nj) + "\n")
    dag = [",".join(str(n) for n in needs) + "\t" + command for _, needs in nodes]
    write(os.path.join(out, f"{name}.dag"), "\n".join(dag) + "\n")


def plan_project(out, name, steps, parts):
    """W5: `steps` exec steps in `parts` rotation runbooks, pulled into one plan by a root
    runbook of `rotate` steps. A 100,000-step DAG cannot be one file: the loader refuses files
    over 1 MiB, and 10,000 of these steps are already ~0.5 MiB."""
    root = os.path.join(out, name)
    per = steps // parts
    rotates = ["steps:"]
    for part in range(parts):
        text = HEADER + f"name: part{part}\n"
        text += secret_block(f"part{part}", f"PART{part}_TOKEN", "plan.env")
        text += yaml_steps(layered(per), '"true"')
        write(os.path.join(root, "runbooks", f"part{part}.yaml"), text)
        # The rotate steps need nothing: chaining them (`needs` from one to the one before)
        # plans in the same time, now that a part's first and last steps are found in one
        # pass (`ends` in src/plan/edges.rs).
        rotates += [f"  - id: rotate-{part}", f"    rotate: {{ secret: part{part} }}"]
    root_text = HEADER + "name: all\n" + "\n".join(rotates) + "\n"
    write(os.path.join(root, "runbooks", "all.yaml"), root_text)
    write(os.path.join(root, "plan.env"), "".join(f"PART{p}_TOKEN=x\n" for p in range(parts)))
    return root


def env_project(out, lines):
    """W6: one runbook that generates a value and edits one key of a big env file, and one that
    only generates, so their difference is the edit (reading, parsing, rewriting, fsyncs)."""
    root = os.path.join(out, "w6")
    body = "".join(f"KEY_{i}={secrets.token_hex(16)}\n" for i in range(lines))
    write(os.path.join(root, "big.env"), body)
    gen = "  - id: gen\n    generate: { bytes: 32, encoding: hex }\n"
    edit = (
        "  - id: edit\n    needs: [gen]\n"
        '    env: { file: big.env, set: { KEY_5000: "{{ steps.gen.value }}" } }\n'
    )
    write(os.path.join(root, "runbooks", "edit.yaml"), HEADER + "name: edit\nsteps:\n" + gen + edit)
    # The shape: one step setting one key of a 1,000-line file, beside the floor's
    # rewrite of the same file; its fsyncs are counted under strace (see run.sh).
    small = "".join(f"K{i}=value-{secrets.token_hex(8)}\n" for i in range(1000))
    write(os.path.join(root, "small.env"), small)
    write(os.path.join(root, "small.env.copy"), small)
    one = '  - id: edit\n    env: { file: small.env, set: { K5: "new" } }\n'
    write(os.path.join(root, "runbooks", "one.yaml"), HEADER + "name: one\nsteps:\n" + one)
    write(os.path.join(root, "gen-only", "gen.yaml"), HEADER + "name: gen\nsteps:\n" + gen)
    write(os.path.join(root, "gen-only.yaml"), "runbooks: gen-only\n")
    return root


def main():
    out, runbook, floor, repo, runs = sys.argv[1:6]
    runs = int(runs)
    specs = []
    # Sub-second commands are cheap to repeat, and their medians need it most.
    cheap = runs * 7

    def spec(workload, label, cwd, *argv, count=runs, warmup=True):
        specs.append("\t".join([workload, label, str(count), str(int(warmup)), cwd, *argv]))

    def exec_workload(workload, nodes, jobs_list):
        peers(out, workload, nodes, "true")
        # `"true"` runs under `sh -c`; `["true"]` is spawned directly. The quotes matter:
        # YAML 1.2 reads a bare `[true]` as a list of one boolean, which the loader rejects.
        sh = exec_project(out, f"{workload}-sh", nodes, '"true"')
        argv = exec_project(out, f"{workload}-argv", nodes, '["true"]')
        for jobs in jobs_list:
            j = str(jobs)
            # `--yes`: off a terminal `run` refuses to act without it (it would ask first).
            run = ["run", "--yes", "--jobs", j, "--format", "json"]
            spec(workload, f"j{j} runbook sh -c", sh, runbook, *run, f"{workload}-sh")
            spec(workload, f"j{j} runbook argv", argv, runbook, *run, f"{workload}-argv")
            spec(workload, f"j{j} make", out, "make", "-s", f"-j{j}", "-f", f"{workload}.mk")
            ninja = ["ninja", "--quiet", f"-j{j}", "-f", f"{workload}.ninja"]
            spec(workload, f"j{j} ninja", out, *ninja)
            spec(workload, f"j{j} floor sh -c", out, floor, "run", j, "sh", f"{workload}.dag")
            spec(workload, f"j{j} floor argv", out, floor, "run", j, "argv", f"{workload}.dag")

    exec_workload("w1", chains(10, 100), [2])
    exec_workload("w2", independent(1000), [2, 1])

    # W3: 4 chains of 10 sleeps = 40 steps; with 4 jobs the makespan is one chain, 0.5 s.
    sleeps = chains(4, 10)
    peers(out, "w3", sleeps, "sleep 0.05")
    w3 = exec_project(out, "w3", sleeps, '"sleep 0.05"')
    w3run = [runbook, "run", "--yes", "--jobs", "4", "--format", "json", "w3"]
    spec("w3", "runbook sh -c", w3, *w3run, count=runs * 2)
    spec("w3", "make", out, "make", "-s", "-j4", "-f", "w3.mk", count=runs * 2)
    spec("w3", "floor sh -c", out, floor, "run", "4", "sh", "w3.dag", count=runs * 2)

    # W4: the shipped library, as a user's project directory.
    w4 = os.path.join(out, "w4")
    shutil.copytree(os.path.join(repo, "runbooks"), os.path.join(w4, "runbooks"))
    spec("w4", "validate", w4, runbook, "validate", count=cheap)
    plan_jwt = [runbook, "plan", "compromise", "--secret", "jwt"]
    spec("w4", "plan compromise --secret jwt", w4, *plan_jwt, count=cheap)
    spec("w4", "plan jwt-rotation", w4, runbook, "plan", "jwt-rotation", count=cheap)
    spec("w4", "runbook --version (process floor)", w4, runbook, "--version", count=cheap)

    for steps in (1000, 10000, 100000):
        root = plan_project(out, f"w5-{steps}", steps, 10)
        # The largest plan takes about a second: one sample, no warm-up.
        big = steps > 10000
        count, warm = (1, False) if big else (runs, True)
        spec("w5", f"plan {steps} steps", root, runbook, "plan", "all", count=count, warmup=warm)
        if steps == 10000:
            # The same plan as JSON: what rendering the text view costs on top.
            json = [runbook, "plan", "all", "--format", "json"]
            spec("w5", f"plan {steps} steps --format json", root, *json, count=count)
    # The same 10,000 steps as one file, the shape the target names.
    one = os.path.join(out, "w5-single")
    text = HEADER + "name: all\n" + yaml_steps(layered(10000), '"true"')
    write(os.path.join(one, "runbooks", "all.yaml"), text)
    single = [runbook, "plan", "all"]
    spec("w5", "plan 10000 steps (one file)", one, *single, count=2, warmup=False)
    # The same file in a project that keeps a state directory, as every project does once it
    # has run or validated: the warm-up plan remembers the runbooks it parsed, and the timed
    # ones read them back (`.runbook/parsed`). Not the target's shape, which is the cold parse.
    # The same steps with the second half in the retire phase, in a runbook that rotates a
    # secret (phases need one, with an overlap): what orders the phases is planned too.
    phased = os.path.join(out, "w5-phases")
    secret = secret_block("all", "ALL_TOKEN", "plan.env", overlap="1d")
    text = HEADER + "name: all\n" + secret + yaml_steps(layered(10000), '"true"', retire_from=5000)
    write(os.path.join(phased, "runbooks", "all.yaml"), text)
    write(os.path.join(phased, "plan.env"), "ALL_TOKEN=x\n")
    spec("w5", "plan 10000 steps (one file, half retire)", phased, *single, count=2, warmup=False)
    kept = os.path.join(out, "w5-single-kept")
    shutil.copytree(one, kept)
    os.makedirs(os.path.join(kept, ".runbook"), mode=0o700)
    spec("w5", "plan 10000 steps (one file, state kept)", kept, *single, count=runs)

    w6 = env_project(out, 10000)
    spec("w6", "generate + env edit", w6, runbook, "run", "--yes", "-q", "edit", count=cheap)
    gen_only = [runbook, "--config", "gen-only.yaml", "run", "--yes", "-q", "gen"]
    spec("w6", "generate only", w6, *gen_only, count=cheap)
    spec("w6", "one env edit, 1,000 lines", w6, runbook, "run", "--yes", "-q", "one", count=cheap)
    spec("w6", "floor: rewrite 1,000 lines + 2 fsyncs", w6, floor, "fsync", "small.env.copy",
         count=cheap)
    spec("w6", "floor: rewrite + 2 fsyncs", w6, floor, "fsync", "big.env.copy", count=cheap)
    spec("w6", "floor: rewrite, no fsync", w6, floor, "nofsync", "big.env.copy", count=cheap)
    shutil.copy(os.path.join(w6, "big.env"), os.path.join(w6, "big.env.copy"))

    write(os.path.join(out, "specs.tsv"), "\n".join(specs) + "\n")


if __name__ == "__main__":
    main()

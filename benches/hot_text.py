#!/usr/bin/env python3
"""Writes `src/hot_text.ld`: the functions runbook executes on the benchmark's workloads, which
the release build links together at the front of its text (see build.rs for why).

Each runbook command of a `gen.py` workload directory runs twice under callgrind, which lists
every function the process executed, cold ones included (a sampling profiler misses those,
and a function called once still makes its part of the binary resident). The 100,000-step
plan is left out (minutes under callgrind, and the same code as the 10,000-step one), as are
commands that differ from another only in `--jobs`; `status`, `history` and `list` join them.

Usage: hot_text.py WORKLOAD_DIR RUNBOOK_BIN OUT_FILE
"""

import collections
import os
import re
import subprocess
import sys
import tempfile

CALLGRIND = ["valgrind", "--tool=callgrind", "--demangle=no", "--compress-strings=no",
             "--compress-pos=no"]


def without_jobs(argv):
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--jobs":
            skip = True
        else:
            yield arg


def commands(specs, runbook):
    """(cwd, argv) of each runbook command in specs.tsv, once per shape."""
    seen = set()
    for line in open(specs):
        fields = line.rstrip("\n").split("\t")
        cwd, argv = fields[4], fields[5:]
        # The path as written may go through a symbolic link; the binary is what counts.
        if os.path.realpath(argv[0]) != runbook or "100000" in cwd:
            continue
        shape = (cwd, tuple(without_jobs(argv)))
        if shape not in seen:
            seen.add(shape)
            yield cwd, argv
    # What an operator runs between rotations, in the projects the runs above leave behind.
    for project, command in (("w6", "status"), ("w6", "history"), ("w4", "list")):
        yield os.path.join(os.path.dirname(specs), project), [runbook, command]


def executed(profile, binary):
    """Self cost of every function of `binary` in a callgrind profile, by symbol name."""
    cost = collections.Counter()
    obj = fn = None
    after_call = False
    for line in open(profile, errors="replace"):
        if line.startswith("ob="):
            obj = line[3:].strip()
        elif line.startswith("fn="):
            # `'2` marks a recursion depth, not another function.
            fn = re.sub(r"'\d+$", "", line[3:].strip())
        elif line.startswith("calls="):
            after_call = True  # the next cost line is the callee's, inclusive
        elif line[:1].isdigit() or line[:1] in "+-*":
            if after_call:
                after_call = False
            elif obj and os.path.realpath(obj) == binary and fn and not fn.startswith(("0x", "(")):
                cost[fn] += int(line.split()[1])
    return cost


def pattern(symbol):
    """The symbol with what changes between builds replaced by `*`: the hash of a legacy name
    (it covers the crate's metadata, so a dependency update or another compiler changes every
    one), the crate disambiguators of a v0 name, and the `.N` suffix link-time optimisation
    gives local copies."""
    symbol = re.sub(r"17h[0-9a-f]{16}E(\.\d+)?$", "17h*", symbol)
    symbol = re.sub(r"\.\d+$", "*", symbol)
    return re.sub(r"Cs[0-9A-Za-z]+_", "Cs*_", symbol)


def functions(binary):
    """Every function symbol of the binary."""
    listing = subprocess.run(["nm", "--defined-only", binary], capture_output=True, text=True,
                             check=True).stdout
    return [f[2] for f in (line.split() for line in listing.splitlines())
            if len(f) == 3 and f[1] in "tTwW"]


def patterns(order, binary):
    """A pattern per executed function, without its hash where that matches only executed
    functions. Instances of one generic differ only in their hash (`<&T as Debug>::fmt` has
    hundreds), so for those the exact name is kept: it matches nothing once the hashes change,
    until this script runs again."""
    executed = set(order)
    instances = collections.defaultdict(set)
    for fn in functions(binary):
        instances[pattern(fn)].add(fn)
    exact = lambda fn: re.sub(r"\.\d+$", "*", fn)
    return list(dict.fromkeys(
        pattern(fn) if instances[pattern(fn)] <= executed else exact(fn) for fn in order))


def main():
    work, runbook, out = sys.argv[1:4]
    runbook = os.path.realpath(runbook)
    users = collections.defaultdict(set)
    cost = collections.Counter()
    with tempfile.TemporaryDirectory() as tmp:
        for i, (cwd, argv) in enumerate(commands(os.path.join(work, "specs.tsv"), runbook)):
            print(f"callgrind: {' '.join(argv[1:])} (in {os.path.basename(cwd)})", file=sys.stderr)
            # Twice: a project's first run creates its state directory, and the runs after
            # it read what the first one left (JSON), as the benchmark's timed runs do.
            for attempt in (1, 2):
                profile = os.path.join(tmp, f"{i}-{attempt}.out")
                subprocess.run([*CALLGRIND, f"--callgrind-out-file={profile}", *argv], cwd=cwd,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
                for fn, c in executed(profile, runbook).items():
                    users[fn].add(i)
                    cost[fn] += c
    # Functions every command needs first, and functions the same commands execute together,
    # so that a command's functions fill few folios.
    order = sorted(users, key=lambda fn: (-len(users[fn]), sorted(users[fn]), -cost[fn], fn))
    # An empty list would link as if there were none and say nothing: refuse to write it.
    if not order:
        sys.exit(f"hot_text.py: no function of {runbook} was seen executing; {out} is unchanged")
    listed = patterns(order, runbook)
    with open(out, "w") as f:
        f.write("/* Generated by benches/hot_text.sh; see build.rs for why. The functions runbook\n"
                "   executes on the benchmark's workloads, linked together ahead of the rest of the\n"
                "   text. A name that no longer exists matches nothing: the cost of a stale list is\n"
                "   resident memory, never behaviour. */\n")
        # One `.text`, its first input sections the hot ones: lld adds the rest of `.text.*`
        # after them; GNU ld makes a second `.text` of the rest.
        f.write("SECTIONS {\n  .text : {\n")
        # `.text*.` also takes the `.text.unlikely.` sections LLVM gives code it thinks cold.
        for p in listed:
            f.write(f"    *(.text*.{p})\n")
        f.write("  }\n} INSERT BEFORE .init;\n")
    print(f"{out}: {len(listed)} patterns from {len(order)} functions", file=sys.stderr)


if __name__ == "__main__":
    main()

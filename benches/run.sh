#!/usr/bin/env bash
# The whole benchmark in one command: `bash benches/run.sh` from anywhere in the repo.
#
# Builds runbook (release), the floor and the timer, installs the peers it lacks from Debian's
# packages, generates every workload into a temporary directory, times runbook and the peers
# interleaved on the same DAGs, and prints medians, ratios and targets.
#
# Knobs (environment):
#   RUNS=N      timed runs of the exec workloads (default 5; cheap workloads get 7x as many,
#               the 100,000-step plan one). The total is 3-5 minutes on 2 cores.
#   KEEP=1      keep the generated workloads and raw results (the path is printed).
#   RUNBOOK=P   time this runbook binary instead of building one.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
runs="${RUNS:-5}"

# Peers come from Debian's packages so every machine compares against the same tools.
# `apt-get update` runs only when something is missing, and only once.
missing=()
command -v make >/dev/null || missing+=(make)
command -v ninja >/dev/null || missing+=(ninja-build)
command -v python3 >/dev/null || missing+=(python3)
if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "run.sh: missing ${missing[*]}; install them (apt-get install ${missing[*]}) or run as root" >&2
        exit 1
    fi
    echo "installing ${missing[*]} ..." >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [[ -z "${RUNBOOK:-}" ]]; then
    echo "building runbook (release) ..." >&2
    (cd "$repo" && cargo build --release --quiet --bin runbook)
    RUNBOOK="$repo/target/$(rustc --print host-tuple)/release/runbook"
fi
RUNBOOK="$(cd "$(dirname "$RUNBOOK")" && pwd)/$(basename "$RUNBOOK")"

work="$(mktemp -d -t runbook-bench.XXXXXX)"
if [[ "${KEEP:-}" == 1 ]]; then
    echo "workloads and results kept in $work" >&2
else
    trap 'rm -rf "$work"' EXIT
fi

# Both helpers are std-only, so plain rustc builds them in seconds without touching Cargo.toml.
mkdir -p "$work/bin"
rustc -O --edition 2024 "$here/floor.rs" -o "$work/bin/floor"
rustc -O --edition 2024 "$here/driver.rs" -o "$work/bin/driver"

echo "generating workloads in $work ..." >&2
python3 "$here/gen.py" "$work" "$RUNBOOK" "$work/bin/floor" "$repo" "$runs"

echo "timing (interleaved; load average before: $(cut -d' ' -f1-3 /proc/loadavg)) ..." >&2
started=$SECONDS
"$work/bin/driver" "$work/specs.tsv" "$work/results.tsv"

# Syncs are counted, not timed: the same on a loaded machine. One env edit (W6's one-step run)
# and one generate + edit, each once more under strace; report.py prints the counts.
if command -v strace >/dev/null; then
    for name in one edit; do
        (cd "$work/w6" && strace -f -qq -o "$work/strace-$name.out" \
            -e trace=fsync,fdatasync,syncfs,sync_file_range,sync "$RUNBOOK" run --yes -q "$name" >/dev/null)
        printf 'w6\t%s\t%s\n' "$name" "$(grep -cv 'resumed>' "$work/strace-$name.out")" >>"$work/syncs.tsv"
    done
else
    echo "run.sh: strace not found (apt-get install strace): syncs not counted" >&2
fi

echo
echo "runbook $("$RUNBOOK" --version | cut -d' ' -f2) ($(cd "$repo" && git rev-parse --short HEAD 2>/dev/null || echo '?'))," \
    "$(make --version | head -1), ninja $(ninja --version), $(nproc) cores," \
    "load average after: $(cut -d' ' -f1-3 /proc/loadavg), timing took $((SECONDS - started)) s"
python3 "$here/report.py" "$work/results.tsv" "$work/syncs.tsv"

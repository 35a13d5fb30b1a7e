#!/usr/bin/env bash
# Regenerates src/hot_text.ld, the list of functions the release build links together (see
# build.rs): `bash benches/hot_text.sh`, then rebuild. Worth running after a large change to
# what a run executes; `benches/run.sh` shows the effect as W1's peak RSS.
#
# Installs valgrind from Debian's packages when it is missing, builds runbook (release),
# generates the benchmark's workloads into a temporary directory and runs each runbook
# command of them twice under callgrind (about 4 minutes on 2 cores).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"

if ! command -v valgrind >/dev/null; then
    if [[ $(id -u) -ne 0 ]]; then
        echo "hot_text.sh: valgrind is missing; install it (apt-get install valgrind) or run as root" >&2
        exit 1
    fi
    echo "installing valgrind ..." >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null
fi

echo "building runbook (release) ..." >&2
(cd "$repo" && cargo build --release --quiet --bin runbook)
# .cargo/config.toml names this machine's target tuple, so cargo builds into target/<tuple>/.
runbook="$repo/target/$(rustc --print host-tuple)/release/runbook"

work="$(mktemp -d -t runbook-hot-text.XXXXXX)"
trap 'rm -rf "$work"' EXIT
# The floor is not run here; gen.py only writes its path into the command list.
python3 "$here/gen.py" "$work" "$runbook" "$work/floor" "$repo" 1
python3 "$here/hot_text.py" "$work" "$runbook" "$repo/src/hot_text.ld"

#!/usr/bin/env bash
# A JWT rotation across a fleet, runbook beside Ansible, in one run: `bash benches/fleet.sh`.
#
# Each host is a loopback sshd (examples/demo/sshd.sh) with its own deployment: an env file
# and the demo service on a port of its own, restarted by the demo's driver. The same work
# both ways, with the same parallelism (runbook --jobs = ansible-playbook --forks = FORKS):
#   runbook  generate once; env edit on every host; restart through the driver; HTTP verify
#   Ansible  the same secret from a vars file; lineinfile (no_log) + a handler running the
#            driver; uri on /health
# Runs are interleaved (runbook, then Ansible, for each run) and every run starts cold: the
# env files are reset, and each tool opens fresh SSH connections (Ansible's ControlPersist
# sockets go to a new directory per run; runbook closes its own at the end).
#
# Knobs (environment):
#   HOSTS="10 50"  fleet sizes       RUNS=5   timed runs per size and tool
#   FORKS=10       parallelism       RUNBOOK=P  time this binary instead of building one
#   PROFILE=release (or debug, for a quick check that the bench runs)
# ansible-core is installed with pip into a virtualenv under ~/.cache/runbook-bench (only here:
# the tests never install it). Numbers taken while the machine is busy are meaningless.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
runs=${RUNS:-5}
forks=${FORKS:-10}
profile=${PROFILE:-release}
sizes=${HOSTS:-10 50}
# shellcheck source=../examples/demo/sshd.sh
. "$repo/examples/demo/sshd.sh"

if ! why=$(sshd_available); then
    echo "fleet.sh: cannot start sshd here: $why" >&2
    exit 1
fi

cd "$repo"
flag=(); [ "$profile" = release ] && flag=(--release)
echo "building runbook and the demo service ($profile) ..." >&2
cargo build "${flag[@]}" --quiet --bin runbook --example demo-service
target=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
RUNBOOK=${RUNBOOK:-$target/$profile/runbook}
service_bin="$target/$profile/examples/demo-service"

venv=${XDG_CACHE_HOME:-$HOME/.cache}/runbook-bench/ansible
if [ ! -x "$venv/bin/ansible-playbook" ]; then
    echo "installing ansible-core into $venv ..." >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet ansible-core
fi
playbook_bin="$venv/bin/ansible-playbook"

work=$(mktemp -d "${TMPDIR:-/tmp}/runbook-fleet-bench.XXXXXX")
started=()
cleanup() {
    local dir
    for dir in "${started[@]}"; do demo_host_stop "$dir"; done
    [ -n "${KEEP:-}" ] && echo "kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT

now_ms() { echo $(($(date +%s%N) / 1000000)); }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# One fleet of $1 hosts under $2: deployments, services, sshd, the inventory both tools read.
make_fleet() {
    local n=$1 dir=$2 i root
    mkdir -p "$dir"
    printf 'all:\n  children:\n    api:\n      hosts:\n' >"$dir/inventory.yaml"
    for ((i = 1; i <= n; i++)); do
        root="$dir/web$i"
        started+=("$root")
        demo_host "$root" "web$i" "$service_bin" ansible_python_interpreter /usr/bin/python3 \
            >>"$dir/inventory.yaml"
    done
    mkdir -p "$dir/runbooks"
    cat >"$dir/runbook.yaml" <<'CONF'
runbooks: runbooks
state: .runbook
restart:
  run: "{{ vars.root }}/restart.sh {{ services | join(' ') }}"
CONF
    cat >"$dir/runbooks/jwt-fleet.yaml" <<'RUNBOOK'
name: jwt-fleet
secret: { id: jwt, env: [JWT_SECRET], every: 90d, impact: sessions drop }
on: api
steps:
  - id: new
    generate: { bytes: 64, encoding: base64 }
  - id: write
    needs: [new]
    env: { set: { JWT_SECRET: "{{ steps.new.value }}" } }
  - id: restart
    needs: [write]
    restart: [api]
  - id: health
    needs: [restart]
    verify:
      http: { url: "{{ vars.api_url }}/health", status: 200 }
      retries: 15
      interval: 1s
RUNBOOK
    cat >"$dir/playbook.yml" <<'PLAYBOOK'
- hosts: api
  vars_files: [secret.yml]
  tasks:
    - name: write JWT_SECRET
      lineinfile: { path: "{{ env_file }}", regexp: "^JWT_SECRET=", line: "JWT_SECRET={{ jwt_secret }}" }
      no_log: true
      notify: restart api
    - meta: flush_handlers
    - name: health
      uri: { url: "{{ api_url }}/health", status_code: 200 }
      register: health
      until: health.status == 200
      retries: 15
      delay: 1
  handlers:
    - name: restart api
      command: "{{ root }}/restart.sh api"
PLAYBOOK
}

reset_fleet() {
    local root
    for root in "$1"/web*; do cp "$root/env.template" "$root/.env.prod"; done
    rm -rf "$1/.runbook"
}

# Fails unless every host's env file now differs from the one the run started from: a tool
# that exited 0 without rotating would otherwise be timed as fast.
check_rotated() {
    local root
    for root in "$1"/web*; do
        if cmp -s "$root/env.template" "$root/.env.prod"; then
            echo "fleet.sh: $2 left $root/.env.prod unchanged" >&2
            exit 1
        fi
    done
}

time_runbook() {
    local dir=$1 t0 t1
    reset_fleet "$dir"
    t0=$(now_ms)
    (cd "$dir" && "$RUNBOOK" --inventory inventory.yaml run jwt-fleet --yes --jobs "$forks" --format json >/dev/null)
    t1=$(now_ms)
    check_rotated "$dir" runbook
    echo $((t1 - t0))
}

time_ansible() {
    local dir=$1 run=$2 t0 t1
    reset_fleet "$dir"
    # The secret reaches Ansible through a 0600 vars file, never its command line.
    (umask 077 && printf 'jwt_secret: "%s"\n' "$(head -c 48 /dev/urandom | base64 -w0)" >"$dir/secret.yml")
    t0=$(now_ms)
    # ANSIBLE_GATHERING=explicit: Ansible otherwise first collects a description of each host,
    # work the rotation does not need and runbook does not do.
    (cd "$dir" && ANSIBLE_SSH_CONTROL_PATH_DIR="$dir/cp-$run" ANSIBLE_HOST_KEY_CHECKING=True \
        ANSIBLE_RETRY_FILES_ENABLED=False ANSIBLE_GATHERING=explicit \
        "$playbook_bin" -i inventory.yaml --forks "$forks" playbook.yml >/dev/null)
    t1=$(now_ms)
    # Close Ansible's shared connections (outside the timing), as runbook closes its own.
    local socket
    for socket in "$dir/cp-$run"/*; do
        [ -S "$socket" ] && ssh -o ControlPath="$socket" -O exit placeholder 2>/dev/null || true
    done
    check_rotated "$dir" ansible
    echo $((t1 - t0))
}

echo "runbook $("$RUNBOOK" --version | cut -d' ' -f2) ($profile), $("$playbook_bin" --version | sed -n 1p), $(nproc) cores, forks/jobs $forks, $runs runs"
for n in $sizes; do
    dir="$work/fleet-$n"
    make_fleet "$n" "$dir"
    : >"$dir/runbook.ms"
    : >"$dir/ansible.ms"
    for ((r = 1; r <= runs; r++)); do
        time_runbook "$dir" >>"$dir/runbook.ms"
        time_ansible "$dir" "$r" >>"$dir/ansible.ms"
    done
    rb=$(median <"$dir/runbook.ms")
    an=$(median <"$dir/ansible.ms")
    awk -v n="$n" -v rb="$rb" -v an="$an" 'BEGIN {
        printf "%3d hosts   runbook %8.0f ms (%6.1f ms/host)   ansible %8.0f ms (%6.1f ms/host)   ansible/runbook %5.2fx\n",
            n, rb, rb / n, an, an / n, an / rb }'
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

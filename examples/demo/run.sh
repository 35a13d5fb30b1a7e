#!/usr/bin/env bash
# The README's first command: a real JWT rotation on the bundled demo deployment.
#
# It builds runbook and the demo service, lays out a scratch deployment in a temporary
# directory (the git tree stays clean), starts the service, takes a token signed with the
# current JWT_SECRET, runs `runbook run jwt-rotation --yes` (live view, restart, verify), shows
# the old token still accepted during the overlap, retires the old key with `runbook retire jwt
# --now --yes`, then proves the old token is now rejected and a new one accepted. `--compromise` runs
# `runbook run compromise --secret jwt --yes` instead (it stops awaiting the operator at the
# manual notification step, which the demo then answers with `resume --done notify`) and
# prints where the report is.
#
# The scratch deployment also holds encrypted demo data (copies of data.template and
# mfa-data.template) and points the shipped app/MFA encryption key runbooks at the demo's
# migration, `demo-migrate`, which the runbooks hand the old and new keys through its
# environment. `--app-encryption` or `--mfa-encryption` runs that rotation instead (the demo
# service reads the records with either key meanwhile), proves every record now opens under
# the new key, retires the old key with `runbook retire SECRET --now --yes`, and shows the
# service reading every record with the new key alone.
#
# `--zero-impact` restarts the service blue/green (DEMO_RESTART=bluegreen in demo.conf) and
# runs the rotation while `demo-load` keeps requesting the service with a token and a session
# minted before it: it prints what those clients saw (failed requests, rejected credentials,
# the longest gap between two answers), then `runbook retire jwt --now` under the same load.
#
# `--fleet` runs the rotation on two local "hosts" over sshd instead (see fleet.sh); it skips
# with a message when sshd cannot run here.
#
# The scratch directory is removed at the end (the service stopped first); `--keep` keeps it
# to look at its .env.prod, journal and audit log afterwards.
set -euo pipefail

repo=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
mode=rotate
keep=
for arg in "$@"; do
    case $arg in
    --keep) keep=1 ;;
    --compromise | --app-encryption | --mfa-encryption | --zero-impact | --fleet) mode=$arg ;;
    *)
        echo "usage: $0 [--compromise | --app-encryption | --mfa-encryption | --zero-impact | --fleet] [--keep]" >&2
        exit 2
        ;;
    esac
done
cd "$repo"
# Cargo's own progress lines show: a first build takes minutes and must not look hung.
echo "building runbook and the demo service (the first build takes a few minutes)..."
cargo build --bin runbook --example demo-service --example demo-migrate --example demo-load
# Where cargo put the binaries: `target/` unless CARGO_TARGET_DIR or a cargo config moved it,
# then this machine's target tuple (.cargo/config.toml names it, to link runbook statically).
target=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
target="$target/$(rustc --print host-tuple)"
runbook="$target/debug/runbook"
migrate="$target/debug/examples/demo-migrate"
load="$target/debug/examples/demo-load"
if [ "$mode" = --fleet ]; then
    exec bash "$repo/examples/demo/fleet.sh" "$target" "$keep"
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/runbook-demo.XXXXXX")
# On every exit: stop the demo service, then remove the scratch deployment unless --keep.
cleanup() {
    [ -f "$scratch/demo-service.pid" ] && kill "$(cat "$scratch/demo-service.pid")" 2>/dev/null || true
    if [ -n "$keep" ]; then
        echo "scratch deployment kept: $scratch"
    else
        rm -rf "$scratch"
    fi
}
trap cleanup EXIT
cp examples/demo/.env.prod.template "$scratch/.env.prod"
chmod 600 "$scratch/.env.prod"
cp examples/demo/restart.sh "$scratch/restart.sh"
# The data the encryption keys protect, sealed under the template's keys; the migration
# rewrites these copies, never the templates.
# .env.prod's DEMO_DATA_FILE and DEMO_MFA_DATA_FILE point the service at these copies.
cp examples/demo/data.template "$scratch/data.jsonl"
cp examples/demo/mfa-data.template "$scratch/mfa-data.jsonl"
# A free loopback port: a random one nothing answers on.
while :; do
    port=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
done
cat > "$scratch/demo.conf" <<CONF
DEMO_PORT=$port
DEMO_ENV_FILE=.env.prod
DEMO_PID_FILE=demo-service.pid
DEMO_LOG_FILE=demo-service.log
DEMO_SERVICE_BIN=$target/debug/examples/demo-service
DEMO_RESTART=$([ "$mode" = --zero-impact ] && echo bluegreen || echo recreate)
CONF
cat > "$scratch/runbook.yaml" <<CONF
# yaml-language-server: \$schema=$repo/schemas/config.schema.json
runbooks: $repo/runbooks
state: .runbook
vars:
  env_file: .env.prod
  api_url: http://127.0.0.1:$port
  # The demo's stand-in for the platform's re-encryption script. No key on these command
  # lines: the runbooks pass OLD_ENCRYPTION_KEY / APP_ENCRYPTION_KEY (OLD_MFA_ENCRYPTION_KEY /
  # MFA_ENCRYPTION_KEY with --mfa) in the migration's environment.
  reencrypt_env_probe_command: printenv RUNBOOK_ENV_PROBE
  reencrypt_command: "'$migrate' --data data.jsonl"
  reencrypt_dry_run_command: "'$migrate' --data data.jsonl --dry-run"
  mfa_reencrypt_command: "'$migrate' --mfa --data mfa-data.jsonl"
  mfa_reencrypt_dry_run_command: "'$migrate' --mfa --data mfa-data.jsonl --dry-run"
restart:
  # The demo's driver recreates the service so it reads .env.prod again, as
  # \`docker compose up -d --force-recreate\` does for the real deployment.
  run: ./restart.sh {{ services | join(" ") }}
CONF

cd "$scratch"
./restart.sh api >/dev/null

# A tiny HTTP GET on bash's /dev/tcp, so the demo needs no curl: prints "STATUS BODY".
get() {
    local path=$1 auth=${2:-}
    exec 3<>"/dev/tcp/127.0.0.1/$port"
    printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%sConnection: close\r\n\r\n' "$path" "${auth:+Authorization: Bearer $auth$'\r\n'}" >&3
    local response
    response=$(cat <&3)
    exec 3<&-
    printf '%s %s\n' "$(head -n1 <<<"$response" | cut -d' ' -f2)" "$(tail -n1 <<<"$response")"
}
token_of() { sed -n 's/.*"token":"\([^"]*\)".*/\1/p'; }

# `demo-migrate --verify` of a data copy under the key .env.prod now holds: KEY DATA [--mfa].
# The key goes from .env.prod to the migration's environment only (`export` is a builtin, so
# no process ever has it on its command line; the subshell keeps it out of this script's
# environment). Prints the migration's JSON report; fails unless every record opens.
verify_data() (
    export "$1=$(sed -n "s/^$1=//p" .env.prod)"
    "$migrate" "${@:3}" --data "$2" --verify
)

case $mode in
--app-encryption | --mfa-encryption)
    secret=${mode#--}
    if [ "$secret" = app-encryption ]; then
        set -- APP_ENCRYPTION_KEY data.jsonl
        records=/records/app
    else
        set -- MFA_ENCRYPTION_KEY mfa-data.jsonl --mfa
        records=/records/mfa
    fi
    echo "scratch deployment: $scratch (service on 127.0.0.1:$port)"
    report=$(verify_data "$@")
    echo "$2 under the current $1: $report"
    echo "the service reads them: $records -> $(get "$records")"
    echo
    "$runbook" run "$secret-key-rotation" --yes
    echo
    report=$(verify_data "$@") || {
        echo "$2 does not open under the new $1: $report" >&2
        exit 1
    }
    echo "$2 under the new $1: $report"
    echo "the overlap: the old key stays as ${1}_PREVIOUS, decrypting only; $records -> $(get "$records")"
    echo "retiring the old key now (--now skips the 1-day overlap):"
    "$runbook" retire "$secret" --now --yes
    echo
    after=$(get "$records")
    echo "after the retire, with the new key alone: $records -> $after (expected 200)"
    [ "${after%% *}" = 200 ] || { echo "the service cannot read its records" >&2; exit 1; }
    echo "status and history of the scratch deployment:"
    "$runbook" status | grep -E "^(SECRET|$secret) "
    "$runbook" history
    exit 0
    ;;
esac

old_token=$(get /token | token_of)
echo "scratch deployment: $scratch (service on 127.0.0.1:$port)"
echo "a token signed with the current JWT_SECRET: /whoami -> $(get /whoami "$old_token" | cut -d' ' -f1)"
echo

# Runs "$@" while demo-load requests the service with the credentials clients hold now, then
# prints what those clients saw.
under_load() {
    rm -f load.stop load.ready
    "$load" --port "$port" --env-file .env.prod --until-file load.stop --ready-file load.ready \
        --format text >load.txt &
    local pid=$! status=0
    while [ ! -f load.ready ]; do
        kill -0 "$pid" 2>/dev/null || { wait "$pid"; return 1; }
        sleep 0.05
    done
    "$@" || status=$?
    touch load.stop
    wait "$pid"
    echo
    echo "what clients saw meanwhile (a token and a session minted before it, fresh tokens, /health):"
    cat load.txt
    return "$status"
}

# The activate phase kept the old key as JWT_SECRET_PREVIOUS: the token taken before the
# rotation still verifies until the retire phase removes it.
overlap() {
    local during
    during=$(get /whoami "$old_token" | cut -d' ' -f1)
    echo
    echo "the overlap: the token signed with the old JWT_SECRET -> $during (expected 200)"
    [ "$during" = 200 ] || { echo "the old key stopped verifying before its retire" >&2; exit 1; }
    echo "retiring the old key now (--now skips the 7-day overlap):"
}

if [ "$mode" = "--zero-impact" ]; then
    echo "restarts are blue/green: the new process takes the socket over, the old one drains"
    under_load "$runbook" run jwt-rotation --yes
    overlap
    under_load "$runbook" retire jwt --now --yes
elif [ "$mode" = "--compromise" ]; then
    # The incident's last manual step (notify the affected users) is a person's: unattended,
    # the run stops awaiting the operator (exit 3), and the demo plays the operator, saying
    # with `resume --done` that it is done. The findings are given as an input file.
    echo "demo: no access from unknown addresses in the window" > findings.txt
    status=0
    "$runbook" run compromise --secret jwt --input since="$(date -u +%Y-%m-%dT%H:%MZ)" \
        --input findings=@findings.txt --yes || status=$?
    if [ "$status" = 3 ]; then
        echo
        echo "(the demo plays the operator: the affected users are notified)"
        "$runbook" resume "$(cat .runbook/active)" --done notify
    elif [ "$status" != 0 ]; then
        exit "$status"
    fi
    echo
    report=$(ls "$scratch"/incident-*.md)
    if [ -n "$keep" ]; then
        echo "incident report: $report"
    else
        echo "incident report (removed with the scratch deployment; --keep keeps it):"
        cat "$report"
    fi
else
    "$runbook" run jwt-rotation --yes
    overlap
    "$runbook" retire jwt --now --yes
fi

echo
old=$(get /whoami "$old_token" | cut -d' ' -f1)
new_token=$(get /token | token_of)
new=$(get /whoami "$new_token" | cut -d' ' -f1)
echo "after the rotation: the old token -> $old (expected 401), a new token -> $new (expected 200)"
[ "$old" = 401 ] && [ "$new" = 200 ] || { echo "the rotation did not take effect" >&2; exit 1; }
echo "status and history of the scratch deployment:"
"$runbook" status | grep -E '^(SECRET|jwt|session) '
"$runbook" history

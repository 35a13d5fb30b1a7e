#!/usr/bin/env bash
# `run.sh --fleet`: the JWT rotation on two local "hosts", web1 and web2, each a loopback
# sshd with its own deployment (env file, demo service on its own port, restart driver),
# driven by `runbook` over SSH from an Ansible inventory. It takes a token from each host,
# rotates once (one secret, written to both hosts, each restarted and verified), then proves
# on both that the old token is refused and a new one accepted. Without a usable sshd it
# says why and skips (exit 0).
#
# Usage: fleet.sh TARGET_DIR [keep]   (run.sh builds first and passes cargo's target dir)
set -euo pipefail

repo=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
target=$1
keep=${2:-}
runbook="$target/debug/runbook"
# shellcheck source=sshd.sh
. "$repo/examples/demo/sshd.sh"

if ! why=$(sshd_available); then
    echo "SKIPPED: the fleet demo needs OpenSSH's sshd on this machine: $why"
    exit 0
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/runbook-fleet-demo.XXXXXX")
hosts=(web1 web2)
cleanup() {
    local h
    for h in "${hosts[@]}"; do demo_host_stop "$scratch/$h"; done
    if [ -n "$keep" ]; then
        echo "scratch deployment kept: $scratch"
    else
        rm -rf "$scratch"
    fi
}
trap cleanup EXIT

# A tiny HTTP GET on bash's /dev/tcp: prints "STATUS BODY".
get() {
    local port=$1 path=$2 auth=${3:-}
    exec 3<>"/dev/tcp/127.0.0.1/$port"
    printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%sConnection: close\r\n\r\n' "$path" "${auth:+Authorization: Bearer $auth$'\r\n'}" >&3
    local response
    response=$(cat <&3)
    exec 3<&-
    printf '%s %s\n' "$(head -n1 <<<"$response" | cut -d' ' -f2)" "$(tail -n1 <<<"$response")"
}
token_of() { sed -n 's/.*"token":"\([^"]*\)".*/\1/p'; }

printf 'all:\n  children:\n    api:\n      hosts:\n' >"$scratch/inventory.yaml"
declare -A port_of old_token
for h in "${hosts[@]}"; do
    demo_host "$scratch/$h" "$h" "$target/debug/examples/demo-service" >>"$scratch/inventory.yaml" || {
        echo "SKIPPED: sshd would not start here (see $scratch/$h/ssh/sshd.log)"
        exit 0
    }
    port_of[$h]=$DEMO_HOST_PORT
    old_token[$h]=$(get "$DEMO_HOST_PORT" /token | token_of)
done

cd "$scratch"
mkdir runbooks
cat >runbook.yaml <<CONF
# yaml-language-server: \$schema=$repo/schemas/config.schema.json
runbooks: runbooks
state: .runbook
restart:
  # On each host, the demo's driver in that host's deployment.
  run: "{{ vars.root }}/restart.sh {{ services | join(' ') }}"
CONF
cat >runbooks/jwt-fleet.yaml <<'RUNBOOK'
# yaml-language-server: $schema=../../schemas/runbook.schema.json
name: jwt-fleet
description: Rotate JWT_SECRET on every api host, one secret for all
secret: { id: jwt, env: [JWT_SECRET], every: 90d, impact: All active sessions invalidated }
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
      interval: 200ms
  - id: new-key-accepted
    needs: [health]
    verify:
      http:
        url: "{{ vars.api_url }}/whoami"
        headers: { Authorization: "Bearer {{ '{\"sub\": \"runbook-verify\"}' | jwt_hs256(steps.new.value) }}" }
        status: 200
RUNBOOK

echo "fleet: ${hosts[*]} over sshd on loopback (scratch: $scratch)"
for h in "${hosts[@]}"; do
    echo "$h: a token signed with the current JWT_SECRET -> $(get "${port_of[$h]}" /whoami "${old_token[$h]}" | cut -d' ' -f1)"
done
echo
"$runbook" --inventory inventory.yaml run jwt-fleet --yes
echo
failed=
for h in "${hosts[@]}"; do
    port=${port_of[$h]}
    old=$(get "$port" /whoami "${old_token[$h]}" | cut -d' ' -f1)
    new=$(get "$port" /whoami "$(get "$port" /token | token_of)" | cut -d' ' -f1)
    echo "$h after the rotation: the old token -> $old (expected 401), a new token -> $new (expected 200)"
    [ "$old" = 401 ] && [ "$new" = 200 ] || failed=1
done
a=$(sed -n 's/^JWT_SECRET=//p' web1/.env.prod)
b=$(sed -n 's/^JWT_SECRET=//p' web2/.env.prod)
[ -n "$a" ] && [ "$a" = "$b" ] && echo "both hosts hold the one new JWT_SECRET (not shown)" || failed=1
[ -z "$failed" ] || { echo "the fleet rotation did not take effect" >&2; exit 1; }
"$runbook" history

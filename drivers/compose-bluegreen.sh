#!/usr/bin/env bash
# A blue/green restart driver for Docker Compose: new containers start beside the old ones,
# and the old ones are removed only once the new ones are healthy, so no request fails.
#
# Usage: compose-bluegreen.sh [-f COMPOSE_FILE]... [-p PROJECT] SERVICE...
# In runbook.yaml:
#   restart:
#     run: bash drivers/compose-bluegreen.sh -f {{ vars.compose_file }} {{ services | join(" ") }}
#
# For each service, one after another: scale it to twice its containers with
# `up -d --no-deps --no-recreate --scale` (the new containers are created from the current
# compose file and env files, so they read the rotated values; the old ones keep running),
# wait until every new container's Docker health check reports `healthy`, then `docker stop`
# the old ones (SIGTERM, then the stop grace period) and remove them. When a new container is
# unhealthy, exits or times out, the new ones are removed, the old ones keep serving, and the
# driver exits 1 (the run then rolls back).
#
# What a service needs for this:
#   - a `healthcheck:` that proves *this* container answers, not a sibling: two containers of a
#     service run side by side during the restart;
#   - room for two containers at once: no `container_name:` and no fixed host port in
#     `ports:`. Either the containers share the host's network (`network_mode: host`) and
#     the application binds its port with SO_REUSEPORT, or a reverse proxy in front sends
#     requests to whichever containers are healthy;
#   - a graceful stop: on SIGTERM stop accepting, finish requests in flight, exit, within
#     `stop_grace_period`. With SO_REUSEPORT, connections still queued on the old socket are
#     reset when it closes unless the new container takes the listening socket over (the demo
#     service does, through a Unix socket in a volume both containers mount).
# A service with none of this is better served by the default recreate driver.
#
# Settings (environment): COMPOSE, the compose command (default `docker compose` when that
# works, else `docker-compose`); BLUEGREEN_TIMEOUT, seconds to wait for health (default 120).
#
# Exit codes: 0 every service replaced; 1 a new container did not become healthy (old ones
# kept); 2 usage error.
set -euo pipefail

die() {
    echo "compose-bluegreen.sh: $2" >&2
    exit "$1"
}

if [ -n "${COMPOSE:-}" ]; then
    read -r -a compose <<<"$COMPOSE"
elif docker compose version >/dev/null 2>&1; then
    compose=(docker compose)
else
    command -v docker-compose >/dev/null 2>&1 || die 2 "neither 'docker compose' nor docker-compose is installed"
    compose=(docker-compose)
fi
while [ "$#" -gt 0 ]; do
    case $1 in
    -f | -p)
        [ "$#" -ge 2 ] || die 2 "$1 needs a value"
        compose+=("$1" "$2")
        shift 2
        ;;
    -*) die 2 "unknown option $1" ;;
    *) break ;;
    esac
done
[ "$#" -gt 0 ] || die 2 "usage: compose-bluegreen.sh [-f FILE]... [-p PROJECT] SERVICE..."
timeout=${BLUEGREEN_TIMEOUT:-120}

# Prints the health of container $1: healthy, unhealthy, starting, exited, or none.
health() {
    docker inspect -f '{{if ne .State.Status "running"}}exited{{else if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$1" 2>/dev/null || echo exited
}

# Waits until every container named in $@ is healthy; fails as soon as one cannot become so.
wait_healthy() {
    local deadline=$((SECONDS + timeout)) id state pending
    while :; do
        pending=0
        for id in "$@"; do
            state=$(health "$id")
            case $state in
            healthy) ;;
            starting) pending=1 ;;
            none) die 1 "container ${id:0:12} has no health check; blue/green needs one (see this script's header)" ;;
            *)
                echo "compose-bluegreen.sh: container ${id:0:12} is $state" >&2
                return 1
                ;;
            esac
        done
        [ "$pending" = 1 ] || return 0
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "compose-bluegreen.sh: not healthy within ${timeout} s" >&2
            return 1
        fi
        sleep 0.5
    done
}

for service in "$@"; do
    mapfile -t old < <("${compose[@]}" ps -q "$service")
    if [ "${#old[@]}" -eq 0 ]; then
        # Nothing runs yet: there is nothing to keep serving, so a plain start will do.
        "${compose[@]}" up -d --no-deps "$service"
        mapfile -t new < <("${compose[@]}" ps -q "$service")
        wait_healthy "${new[@]}" || die 1 "$service did not become healthy"
        echo "compose-bluegreen.sh: $service started (${#new[@]} container(s))"
        continue
    fi
    "${compose[@]}" up -d --no-deps --no-recreate --scale "$service=$((${#old[@]} * 2))" "$service"
    mapfile -t all < <("${compose[@]}" ps -q "$service")
    new=()
    for id in "${all[@]}"; do
        [[ " ${old[*]} " == *" $id "* ]] || new+=("$id")
    done
    [ "${#new[@]}" -gt 0 ] || die 1 "$service: compose started no new container"
    if ! wait_healthy "${new[@]}"; then
        docker rm -f "${new[@]}" >/dev/null
        die 1 "$service: the new containers were removed; the old ones keep serving"
    fi
    # Only now do the old containers drain: SIGTERM, then the service's stop grace period.
    docker stop "${old[@]}" >/dev/null
    docker rm "${old[@]}" >/dev/null
    echo "compose-bluegreen.sh: $service replaced blue/green (${#new[@]} new, ${#old[@]} old removed)"
done

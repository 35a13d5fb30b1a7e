#!/usr/bin/env bash
# Restart driver of the demo deployment: recreates the demo service so it re-reads .env.prod.
#
# Usage: restart.sh SERVICE...
#
# The real deployment's services (api worker web coturn prometheus postgres-exporter redis postgres; also the
# page's `turn` and the hosted `billing`) all map to the single demo process, so any set of
# names restarts it once. Like
# `docker compose up -d --force-recreate`, a restart starts a fresh process that reads the env
# file again; a plain signal would not be enough because the service reads it only at start.
#
# Settings come from `demo.conf` in this script's directory (override with DEMO_CONF=path):
# shell `KEY=value` lines, sourced. Copy demo.conf.template to demo.conf and edit it; relative
# paths in it are resolved against the directory that holds demo.conf.
#   DEMO_PORT         port the service listens on (127.0.0.1)
#   DEMO_ENV_FILE     the env file the service reads at start (.env.prod)
#   DEMO_PID_FILE     where the service writes its pid
#   DEMO_LOG_FILE     service output and request log (appended)
#   DEMO_SERVICE_BIN  path to the built `demo-service` example binary
#
# Exit codes: 0 restarted and /health answered; 1 the service did not come up (the log's tail
# is printed; it never holds secrets); 2 usage or configuration error.

set -euo pipefail

script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
conf=${DEMO_CONF:-$script_dir/demo.conf}

die() {
    echo "restart.sh: $2" >&2
    exit "$1"
}

[ "$#" -gt 0 ] || die 2 "usage: restart.sh SERVICE... (api worker web coturn prometheus postgres-exporter redis postgres)"
for service in "$@"; do
    case $service in
    api | worker | web | coturn | turn | prometheus | postgres-exporter | redis | postgres | billing) ;;
    *) die 2 "unknown service '$service' (known: api worker web coturn prometheus postgres-exporter redis postgres)" ;;
    esac
done

[ -r "$conf" ] || die 2 "cannot read $conf (copy demo.conf.template to demo.conf and edit it)"
# Relative paths in demo.conf mean "next to demo.conf", whatever directory we were run from.
cd -- "$(dirname -- "$conf")"
# shellcheck source=/dev/null
. "./$(basename -- "$conf")"
for key in DEMO_PORT DEMO_ENV_FILE DEMO_PID_FILE DEMO_LOG_FILE DEMO_SERVICE_BIN; do
    [ -n "${!key:-}" ] || die 2 "$conf does not set $key"
done
[ -x "$DEMO_SERVICE_BIN" ] ||
    die 2 "$DEMO_SERVICE_BIN is not an executable (build it: cargo build --example demo-service)"

# True when $1 is a live process (zombies count as dead: they hold no port) running our binary,
# so a stale pid file whose pid was reused never gets an unrelated process killed.
is_demo_process() {
    local pid=$1 stat state comm
    kill -0 "$pid" 2>/dev/null || return 1
    if stat=$(cat "/proc/$pid/stat" 2>/dev/null); then
        # Linux: "pid (comm) state ..."; comm may itself contain spaces or parentheses.
        comm=${stat#*\(}
        comm=${comm%\)*}
        state=${stat##*\) }
        state=${state%% *}
    else
        state=$(ps -o stat= -p "$pid" 2>/dev/null) || return 1
        comm=$(ps -o comm= -p "$pid" 2>/dev/null) || return 1
    fi
    [[ $state != Z* ]] || return 1
    # The kernel truncates comm to 15 characters.
    [ "$comm" = "$(basename -- "$DEMO_SERVICE_BIN" | cut -c1-15)" ]
}

# Polls until $1 is gone or $2 tenths of a second pass.
wait_gone() {
    local pid=$1 tenths=$2
    while [ "$tenths" -gt 0 ] && is_demo_process "$pid"; do
        sleep 0.1
        tenths=$((tenths - 1))
    done
    ! is_demo_process "$pid"
}

stop_service() {
    local pid
    [ -f "$DEMO_PID_FILE" ] || return 0
    pid=$(tr -dc '0-9' <"$DEMO_PID_FILE")
    if [ -n "$pid" ] && is_demo_process "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        if ! wait_gone "$pid" 50; then
            echo "restart.sh: pid $pid ignored TERM for 5 s; sending KILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
            wait_gone "$pid" 50 || die 1 "pid $pid survived KILL"
        fi
    fi
    rm -f -- "$DEMO_PID_FILE"
}

# Prints the status line of GET /health, or fails when nothing answers within 3 s.
probe_health() {
    timeout 3 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" >&3
        IFS= read -r status <&3 || exit 1
        case $status in HTTP/1.*) printf "%s\n" "$status" | tr -d "\r" ;; *) exit 1 ;; esac
    ' probe "$DEMO_PORT" 2>/dev/null
}

log_tail() {
    echo "--- last lines of $DEMO_LOG_FILE:" >&2
    tail -n 5 -- "$DEMO_LOG_FILE" >&2 2>/dev/null || true
}

stop_service

# setsid: own session and process group, so the caller's signals and terminal hangups do not
# reach it and the caller's process-group kill leaves it alone; nohup: ignore SIGHUP anyway;
# all three standard streams redirected, so the caller's pipes are not held open by it.
setsid nohup "$DEMO_SERVICE_BIN" --env-file "$DEMO_ENV_FILE" --port "$DEMO_PORT" \
    --pid-file "$DEMO_PID_FILE" </dev/null >>"$DEMO_LOG_FILE" 2>&1 &
launched=$!

deadline=$((SECONDS + 10))
while :; do
    if status=$(probe_health); then
        echo "restart.sh: demo service restarted (pid $(cat -- "$DEMO_PID_FILE" 2>/dev/null || echo '?')); /health: $status"
        exit 0
    fi
    # A service that refuses to start exits at once; report that instead of waiting 10 s.
    # ($! is setsid itself, which execs the service, or forks and exits 0 if it must.)
    if [ -n "$launched" ] && ! kill -0 "$launched" 2>/dev/null; then
        code=0
        wait "$launched" || code=$?
        launched=
        if [ "$code" -ne 0 ]; then
            echo "restart.sh: the demo service exited with status $code during start" >&2
            log_tail
            exit 1
        fi
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
        echo "restart.sh: the demo service did not answer GET /health on port $DEMO_PORT within 10 s" >&2
        log_tail
        exit 1
    fi
    sleep 0.1
done

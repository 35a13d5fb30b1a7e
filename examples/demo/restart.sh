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
# Two ways to restart, chosen by DEMO_RESTART in demo.conf:
#   recreate   (the default) stop the running process, then start a new one, as
#              `docker compose up -d --force-recreate` does: requests fail until it listens.
#   bluegreen  start the new process beside the running one, wait until the new one itself
#              answers GET /health with 200, then stop the old one, which drains (stops
#              accepting, finishes its requests in flight, exits). The new process takes the
#              listening socket over from the old one (DEMO_HANDOVER_SOCKET), so both accept
#              from one kernel queue and no connection is refused or reset. If the new one does
#              not come up healthy, it is stopped and the old one keeps serving (exit 1).
#
# Settings come from `demo.conf` in this script's directory (override with DEMO_CONF=path):
# shell `KEY=value` lines, sourced. Copy demo.conf.template to demo.conf and edit it; relative
# paths in it are resolved against the directory that holds demo.conf.
#   DEMO_PORT             port the service listens on (127.0.0.1)
#   DEMO_ENV_FILE         the env file the service reads at start (.env.prod)
#   DEMO_PID_FILE         where the service writes its pid
#   DEMO_LOG_FILE         service output and request log (appended)
#   DEMO_SERVICE_BIN      path to the built `demo-service` example binary
#   DEMO_RESTART          `recreate` (default) or `bluegreen`
#   DEMO_HANDOVER_SOCKET  Unix socket where the running service hands its listening socket to
#                         its successor (default: demo-service.sock)
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
DEMO_RESTART=${DEMO_RESTART:-recreate}
DEMO_HANDOVER_SOCKET=${DEMO_HANDOVER_SOCKET:-demo-service.sock}
case $DEMO_RESTART in
recreate | bluegreen) ;;
*) die 2 "$conf: DEMO_RESTART must be recreate or bluegreen, not '$DEMO_RESTART'" ;;
esac
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

# The pid in the pid file when it is a running demo service, else nothing.
running_pid() {
    local pid
    [ -f "$DEMO_PID_FILE" ] || return 0
    pid=$(tr -dc '0-9' <"$DEMO_PID_FILE")
    if [ -n "$pid" ] && is_demo_process "$pid"; then
        echo "$pid"
    fi
}

# TERM makes the service drain; it gets $2 tenths of a second for its requests in flight.
stop_pid() {
    local pid=$1 tenths=$2
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" "$tenths"; then
        echo "restart.sh: pid $pid ignored TERM for $((tenths / 10)) s; sending KILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
        wait_gone "$pid" 50 || die 1 "pid $pid survived KILL"
    fi
}

stop_service() {
    local pid
    pid=$(running_pid)
    [ -z "$pid" ] || stop_pid "$pid" 50
    rm -f -- "$DEMO_PID_FILE"
}

# Prints "STATUS-LINE PID" of GET /health (PID from X-Demo-Pid: which instance answered), or
# fails when nothing answers within 3 s.
probe_health() {
    timeout 3 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" >&3
        IFS= read -r status <&3 || exit 1
        case $status in HTTP/1.*) ;; *) exit 1 ;; esac
        pid=
        while IFS= read -r line <&3; do
            line=${line%$'"'"'\r'"'"'}
            [ -n "$line" ] || break
            case ${line,,} in x-demo-pid:*) pid=${line#*:} ;; esac
        done
        cat <&3 >/dev/null
        printf "%s %s\n" "${status%$'"'"'\r'"'"'}" "${pid// /}"
    ' probe "$DEMO_PORT" 2>/dev/null
}

log_tail() {
    echo "--- last lines of $DEMO_LOG_FILE:" >&2
    tail -n 5 -- "$DEMO_LOG_FILE" >&2 2>/dev/null || true
}

# setsid: own session and process group, so the caller's signals and terminal hangups do not
# reach it and the caller's process-group kill leaves it alone; nohup: ignore SIGHUP anyway;
# all three standard streams redirected, so the caller's pipes are not held open by it.
start_service() {
    setsid nohup "$DEMO_SERVICE_BIN" --env-file "$DEMO_ENV_FILE" --port "$DEMO_PORT" \
        --pid-file "$DEMO_PID_FILE" --handover "$DEMO_HANDOVER_SOCKET" \
        </dev/null >>"$DEMO_LOG_FILE" 2>&1 &
    launched=$!
}

# Waits until /health answers: any status from any instance when $1 is empty, else 200 from
# an instance other than pid $1 (the new one, in a blue/green restart). Sets `health` to the
# status line; not run in a subshell, since it must `wait` for the launched process.
wait_healthy() {
    local previous=$1 answer pid code deadline=$((SECONDS + 10))
    while :; do
        if answer=$(probe_health); then
            pid=${answer##* }
            health=${answer% *}
            if [ -z "$previous" ]; then
                return 0
            fi
            if [ -n "$pid" ] && [ "$pid" != "$previous" ] && [[ $health == "HTTP/1."?" 200 "* ]]; then
                return 0
            fi
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
                return 1
            fi
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            if [ -z "$previous" ]; then
                echo "restart.sh: the demo service did not answer GET /health on port $DEMO_PORT within 10 s" >&2
            else
                echo "restart.sh: the new demo service did not answer GET /health with 200 on port $DEMO_PORT within 10 s" >&2
            fi
            log_tail
            return 1
        fi
        sleep 0.1
    done
}

if [ "$DEMO_RESTART" = recreate ]; then
    stop_service
    start_service
    wait_healthy "" || exit 1
    echo "restart.sh: demo service restarted (pid $(cat -- "$DEMO_PID_FILE" 2>/dev/null || echo '?')); /health: $health"
    exit 0
fi

# Blue/green. The new instance writes its pid into the pid file once it listens, so the old
# pid is remembered first, and put back if the new one fails.
old=$(running_pid)
start_service
if ! wait_healthy "${old:-none}"; then
    new=$(running_pid)
    if [ -n "$new" ] && [ "$new" != "$old" ]; then
        stop_pid "$new" 150
    fi
    if [ -n "$old" ]; then
        echo "$old" >"$DEMO_PID_FILE"
        echo "restart.sh: the old demo service (pid $old) keeps serving" >&2
    fi
    exit 1
fi
new=$(running_pid)
# Only now is the old instance told to drain: the new one already accepts from the same queue.
[ -z "$old" ] || stop_pid "$old" 150
echo "restart.sh: demo service restarted blue/green (pid ${new:-?}${old:+, replacing pid $old}); /health: $health"

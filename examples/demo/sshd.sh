# Loopback OpenSSH servers standing for the hosts of a fleet, for `run.sh --fleet` and the
# fleet bench (source this file from bash). Each server gets a host key, a client key and a
# known_hosts of its own under its directory, as the test harness (tests/common/sshd.rs)
# gives them; host key checking stays on. `demo_host` puts the demo deployment behind one.

# Succeeds when sshd can run here; otherwise prints why and fails.
sshd_available() {
    if [ ! -x /usr/sbin/sshd ]; then
        echo "/usr/sbin/sshd not found (install openssh-server)"
        return 1
    fi
    if ! command -v ssh >/dev/null || ! command -v ssh-keygen >/dev/null; then
        echo "the ssh client is not installed (install openssh-client)"
        return 1
    fi
    # sshd refuses to start without its privilege-separation directory.
    if ! mkdir -p /run/sshd 2>/dev/null; then
        echo "/run/sshd cannot be created (sshd needs it; run as root)"
        return 1
    fi
}

# A loopback port nothing answers on.
sshd_free_port() {
    local port
    while :; do
        port=$((20000 + RANDOM % 40000))
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
    done
    echo "$port"
}

# sshd_start DIR: starts one sshd on a free loopback port with its keys in DIR; sets
# SSHD_PORT, writes DIR/sshd.pid. Fails when it does not listen.
sshd_start() {
    local dir=$1 attempt port pid tenths
    mkdir -p "$dir"
    [ -f "$dir/host_key" ] || ssh-keygen -q -t ed25519 -N '' -C runbook-demo -f "$dir/host_key"
    [ -f "$dir/client_key" ] || ssh-keygen -q -t ed25519 -N '' -C runbook-demo -f "$dir/client_key"
    cp "$dir/client_key.pub" "$dir/authorized_keys"
    for attempt in 1 2 3 4 5; do
        port=$(sshd_free_port)
        echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$dir/host_key.pub")" >"$dir/known_hosts"
        /usr/sbin/sshd -D -p "$port" -h "$dir/host_key" -E "$dir/sshd.log" \
            -o ListenAddress=127.0.0.1 -o PidFile=none \
            -o "AuthorizedKeysFile=$dir/authorized_keys" -o PermitRootLogin=prohibit-password \
            -o StrictModes=no -o PasswordAuthentication=no -o KbdInteractiveAuthentication=no \
            -o UsePAM=no -o MaxSessions=100 </dev/null >/dev/null 2>&1 &
        pid=$!
        echo "$pid" >"$dir/sshd.pid"
        for ((tenths = 0; tenths < 100; tenths++)); do
            if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
                SSHD_PORT=$port
                return 0
            fi
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill "$pid" 2>/dev/null || true
        echo "sshd on port $port did not start (attempt $attempt): $(tail -n1 "$dir/sshd.log" 2>/dev/null)" >&2
    done
    return 1
}

# sshd_inventory_entry NAME DIR PORT [KEY VALUE]...: the host as lines of an Ansible YAML
# inventory's `hosts:` (indented for `all: children: GROUP: hosts:`), with vars.
sshd_inventory_entry() {
    local name=$1 dir=$2 port=$3
    shift 3
    printf '        %s:\n' "$name"
    printf '          ansible_host: 127.0.0.1\n          ansible_port: %s\n' "$port"
    printf '          ansible_user: %s\n' "$(id -un)"
    printf '          ansible_ssh_private_key_file: %s\n' "$dir/client_key"
    printf '          ansible_ssh_common_args: "-o UserKnownHostsFile=%s -o IdentitiesOnly=yes"\n' "$dir/known_hosts"
    while [ "$#" -ge 2 ]; do
        printf '          %s: "%s"\n' "$1" "$2"
        shift 2
    done
}

# sshd_stop DIR: stops the server started in DIR (its sessions end with their clients).
sshd_stop() {
    [ -f "$1/sshd.pid" ] && kill "$(cat "$1/sshd.pid")" 2>/dev/null || true
}

# demo_host ROOT NAME SERVICE_BIN [KEY VALUE]...: one host of the demo fleet under ROOT: an
# env file (.env.prod), the demo service on a loopback port of its own, started by a copy of
# the demo's restart driver, and an sshd in ROOT/ssh. Prints the host's inventory entry with
# the vars env_file, root and api_url (and KEY VALUE...); sets DEMO_HOST_PORT to the
# service's port (call it outside a subshell). Fails when sshd does not start.
demo_host() {
    local root=$1 name=$2 service_bin=$3 demo
    shift 3
    demo=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
    mkdir -p "$root"
    cp "$demo/.env.prod.template" "$root/env.template"
    cp "$root/env.template" "$root/.env.prod"
    chmod 600 "$root/.env.prod"
    cp "$demo/restart.sh" "$root/restart.sh"
    DEMO_HOST_PORT=$(sshd_free_port)
    printf 'DEMO_PORT=%s\nDEMO_ENV_FILE=.env.prod\nDEMO_PID_FILE=demo-service.pid\nDEMO_LOG_FILE=demo-service.log\nDEMO_SERVICE_BIN=%s\n' \
        "$DEMO_HOST_PORT" "$service_bin" >"$root/demo.conf"
    "$root/restart.sh" api >/dev/null
    sshd_start "$root/ssh" || return 1
    sshd_inventory_entry "$name" "$root/ssh" "$SSHD_PORT" env_file "$root/.env.prod" \
        root "$root" api_url "http://127.0.0.1:$DEMO_HOST_PORT" "$@"
}

# demo_host_stop ROOT: stops the demo service and the sshd of a host `demo_host` made.
demo_host_stop() {
    [ -f "$1/demo-service.pid" ] && kill "$(cat "$1/demo-service.pid")" 2>/dev/null || true
    sshd_stop "$1/ssh"
}

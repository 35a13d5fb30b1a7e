#!/usr/bin/env python3
"""What a rotation costs the users of the demo deployment, measured under load.

`python3 benches/rotations.py` builds `runbook`, the demo service, `demo-load` and
`demo-migrate` (release), then for each row (JWT, SESSION, METRICS_SCRAPE_TOKEN,
AGENT_ENROLLMENT_SECRET, APP_ENCRYPTION_KEY, MFA_ENCRYPTION_KEY, REDIS, POSTGRES) rotates a
scratch copy of the demo deployment while `demo-load` keeps requesting it with credentials
minted before the rotation (for the encryption keys also reading the records they seal; for
the database rows also opening new Redis or PostgreSQL connections with the password and role
the app had at the start, `--redis` / `--postgres`), and prints one table: per row and way of
rotating, the failed requests (refused, reset, 5xx, a record the service cannot decrypt), the
rejected credentials (a token, session or database password from before or during the
rotation refused), the longest gap between two successful responses, and the rotation's wall
time (a run that stops for an operator's confirmation, as the agent enrollment retire does,
is answered at once with `runbook resume --done`). The database rows start their own Redis
and PostgreSQL (from the `redis-server` and `postgresql` packages) on loopback, one per
rotation, in a temporary directory. `ROWS=redis,postgres` measures only the rows named.
Medians over RUNS runs (default 3); `PROFILE=debug` uses debug builds.

The ways of rotating, side by side:
  one-phase, recreate    the new value replaces the old at once (a minimal runbook written
                         for the bench, as the shipped ones were before two phases and as an
                         incident still rotates; for an encryption key the records are
                         re-encrypted first, which the old process then cannot read until the
                         restart; for postgres the shipped runbook with
                         `postgres_roles: single`), stop-then-start, the default driver
  one-phase, blue/green  the same, DEMO_RESTART=bluegreen: start new, wait healthy, drain old
  two-phase, blue/green  the shipped runbook: its activate phase under load (the old value
                         still verifies during the overlap; postgres with
                         `postgres_roles: alternating`), then, on a line of its own,
                         `runbook retire --now` under a new load (clients holding credentials
                         of the new value)

Everything runs on loopback, in a temporary directory removed at the end.
"""

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import servers

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROWS = [("jwt", "jwt-rotation", "JWT_SECRET"), ("session", "session-rotation", "SESSION_SECRET"),
        ("metrics", "metrics-token-rotation", "METRICS_SCRAPE_TOKEN"),
        ("agent-enrollment", "agent-enrollment-secret-rotation", "AGENT_ENROLLMENT_SECRET"),
        ("app-encryption", "app-encryption-key-rotation", "APP_ENCRYPTION_KEY"),
        ("mfa-encryption", "mfa-encryption-key-rotation", "MFA_ENCRYPTION_KEY"),
        ("redis", "redis-rotation", "REDIS_URL"),
        ("postgres", "postgres-password-rotation", "DATABASE_URL")]
# Config vars a row's shipped runbook needs on the demo: Prometheus's token file in the scratch
# directory, and a service list that has `prometheus` (the demo's driver maps it to the demo).
ROW_VARS = {"metrics": "  metrics_token_file: metrics_scrape_token\n"
                       "  services_command: printf 'api\\nprometheus\\n'\n"}
# The last line of a run that stopped for an operator: the steps it awaits and the run id.
AWAITING = re.compile(r"awaiting the operator at ([^:]+): .*?`runbook resume ([^` ]+)`")
# The rows whose key seals the demo's records: what `demo-load --records` reads, the data
# copy, demo-migrate's flag and the variable it reads the old key from.
RECORDS = {"app-encryption": ("app", "data", "", "OLD_ENCRYPTION_KEY"),
           "mfa-encryption": ("mfa", "mfa-data", " --mfa", "OLD_MFA_ENCRYPTION_KEY")}

# The switch a one-phase rotation ends with, after the step `{before}`: the new value
# replaces the old, nothing keeps verifying.
SWITCH = """  - id: write
    needs: [{before}]
    env: {{ set: {{ {env}: "{{{{ steps.new.value }}}}" }} }}
"""
# How every one-phase runbook ends: the api restarted, then healthy.
RESTART_HEALTH = """  - id: restart
    needs: [write]
    restart: [api]
  - id: health
    needs: [restart]
    verify:
      http: { url: "{{ vars.api_url }}/health", status: 200 }
      retries: 50
      interval: 100ms
"""
# The one-phase rotation of a row.
ONE_PHASE = """name: {secret}-one-phase
secret: {{ id: {secret}, env: [{env}], every: 90d, impact: every credential refused }}
steps:
  - id: new
    generate: {{ bytes: 64, encoding: base64 }}
""" + SWITCH
# The one-phase rotation of an encryption key, as the shipped runbook did it before two
# phases: re-encrypt the records, then switch the key; the old process cannot read them between.
ONE_PHASE_REENCRYPT = """name: {secret}-one-phase
secret: {{ id: {secret}, env: [{env}], every: 365d, impact: records unreadable until restarted }}
steps:
  - id: new
    generate: {{ bytes: 32, encoding: hex }}
  - id: migrate
    needs: [new]
    exec:
      run: "'{migrate}'{flag} --data {data}.jsonl"
      env: {{ {old}: "{{{{ secret.current }}}}", {env}: "{{{{ steps.new.value }}}}" }}
      expect: {{ json: "json.errors | length == 0" }}
""" + SWITCH
# Redis's one-phase rotation: `requirepass` replaced, so the old password is refused at once.
REDIS_ONE_PHASE = """name: redis-one-phase
secret: { id: redis, env: [REDIS_URL], every: 90d, impact: every connection refused }
steps:
  - id: new
    generate: { bytes: 32, encoding: hex }
  - id: set
    needs: [new]
    exec:
      run: "{{ vars.redis_cli }}"
      stdin: "CONFIG SET requirepass {{ steps.new.value }}\\n"
      env: { REDISCLI_AUTH: "{{ secret.current | url_password }}" }
      expect: { stdout_contains: OK }
  - id: write
    needs: [set]
    env: { set: { REDIS_URL: "{{ secret.current | url_with_password(steps.new.value) }}" } }
"""
# The one-time set-up of alternating login roles (the README's), with the app on breeze_a.
PG_ROLES = """CREATE ROLE breeze_app NOLOGIN;
CREATE ROLE breeze_a LOGIN PASSWORD '{password}' IN ROLE breeze_app;
CREATE ROLE breeze_b NOLOGIN IN ROLE breeze_app;
ALTER ROLE breeze_a SET role = 'breeze_app';
ALTER ROLE breeze_b SET role = 'breeze_app';
CREATE DATABASE breeze OWNER breeze_app;
"""
PG_OLD = "OldAppPassword1234"
REDIS_OLD = "old-redis-password-bench"
RUNS = int(os.environ.get("RUNS", "3"))
# `PROFILE=debug` reuses the binaries the tests built: a rotation's time is restarts and
# waits, which the optimiser barely changes.
PROFILE = os.environ.get("PROFILE", "release")


def build():
    print(f"building runbook, demo-service, demo-load and demo-migrate ({PROFILE}) ...",
          file=sys.stderr)
    subprocess.run(
        ["cargo", "build", *(["--release"] if PROFILE == "release" else []), "--quiet",
         "--bin", "runbook", "--example", "demo-service", "--example", "demo-load",
         "--example", "demo-migrate"],
        cwd=REPO, check=True)
    meta = subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps"],
                          cwd=REPO, check=True, capture_output=True, text=True)
    target = os.path.join(json.loads(meta.stdout)["target_directory"], PROFILE)
    return {name: os.path.join(target, path) for name, path in
            [("runbook", "runbook"), ("service", "examples/demo-service"),
             ("load", "examples/demo-load"), ("migrate", "examples/demo-migrate")]}


class Deployment:
    """A scratch copy of examples/demo/ with the demo service running."""

    def __init__(self, binaries, restart, runbooks, extra_vars="", env="", load_args=()):
        self.dir = tempfile.mkdtemp(prefix="runbook-bench-rotation.")
        self.port = servers.free_port()
        self.binaries = binaries
        self.load_args = list(load_args)
        demo = os.path.join(REPO, "examples/demo")
        shutil.copy(os.path.join(demo, ".env.prod.template"), self.path(".env.prod"))
        self.set_env(env)
        os.chmod(self.path(".env.prod"), 0o600)
        shutil.copy(os.path.join(demo, "restart.sh"), self.path("restart.sh"))
        # The records the encryption keys seal, where .env.prod's DEMO_DATA_FILE names them.
        for data in ("data", "mfa-data"):
            shutil.copy(os.path.join(demo, f"{data}.template"), self.path(f"{data}.jsonl"))
        migrate = binaries["migrate"]
        with open(self.path("demo.conf"), "w") as conf:
            conf.write(f"DEMO_PORT={self.port}\nDEMO_ENV_FILE=.env.prod\n"
                       f"DEMO_PID_FILE=demo.pid\nDEMO_LOG_FILE=demo.log\n"
                       f"DEMO_SERVICE_BIN='{binaries['service']}'\nDEMO_RESTART={restart}\n")
        with open(self.path("runbook.yaml"), "w") as config:
            config.write(f"runbooks: {runbooks}\nstate: .runbook\nvars:\n"
                         f"  env_file: .env.prod\n  api_url: http://127.0.0.1:{self.port}\n"
                         f"  health_interval: 100ms\n{extra_vars}"
                         "  reencrypt_env_probe_command: printenv RUNBOOK_ENV_PROBE\n"
                         f"  reencrypt_command: \"'{migrate}' --data data.jsonl\"\n"
                         f"  reencrypt_dry_run_command: \"'{migrate}' --data data.jsonl --dry-run\"\n"
                         f"  mfa_reencrypt_command: \"'{migrate}' --mfa --data mfa-data.jsonl\"\n"
                         f"  mfa_reencrypt_dry_run_command: "
                         f"\"'{migrate}' --mfa --data mfa-data.jsonl --dry-run\"\n"
                         "restart:\n  run: bash ./restart.sh {{ services | join(\" \") }}\n")
        subprocess.run(["bash", "restart.sh", "api"], cwd=self.dir, check=True,
                       capture_output=True)

    def set_env(self, lines):
        """Sets each `KEY=VALUE` of `lines` in .env.prod: in place where the key is set (once,
        as the file must), else at the end."""
        with open(self.path(".env.prod")) as env:
            text = env.read()
        for line in lines.splitlines():
            key = line.split("=", 1)[0]
            pattern = re.compile(rf"^{re.escape(key)}=.*$", re.MULTILINE)
            if pattern.search(text):
                text = pattern.sub(lambda _: line, text, count=1)
            else:
                text += line + "\n"
        with open(self.path(".env.prod"), "w") as env:
            env.write(text)

    def path(self, name):
        return os.path.join(self.dir, name)

    def under_load(self, argv):
        """Runs `runbook ARGV` while demo-load runs; returns (wall seconds, load report)."""
        for name in ("load.stop", "load.ready"):
            if os.path.exists(self.path(name)):
                os.remove(self.path(name))
        load = subprocess.Popen(
            [self.binaries["load"], "--port", str(self.port), "--env-file", ".env.prod",
             "--until-file", "load.stop", "--ready-file", "load.ready", "--max-seconds", "300",
             *self.load_args],
            cwd=self.dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while not os.path.exists(self.path("load.ready")):
            if load.poll() is not None:
                raise SystemExit(f"demo-load did not start: {load.stderr.read()}")
            time.sleep(0.02)
        started = time.monotonic()
        run = self.runbook([*argv, "--yes"])
        # An operator who confirms at once: each awaited step is said done.
        while run.returncode == 3 and (awaiting := AWAITING.search(run.stdout + run.stderr)):
            steps, run_id = awaiting.group(1).split(", "), awaiting.group(2)
            run = self.runbook(["resume", run_id, *[a for s in steps for a in ("--done", s)]])
        wall = time.monotonic() - started
        open(self.path("load.stop"), "w").close()
        out, err = load.communicate(timeout=60)
        if run.returncode != 0:
            raise SystemExit(f"runbook {' '.join(argv)} failed:\n{run.stdout}{run.stderr}")
        return wall, json.loads(out)

    def runbook(self, argv):
        return subprocess.run([self.binaries["runbook"], *argv], cwd=self.dir,
                              capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"})

    def close(self):
        try:
            with open(self.path("demo.pid")) as pid:
                os.kill(int(pid.read().strip()), 15)
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
        shutil.rmtree(self.dir, ignore_errors=True)


def sample(wall, report):
    return {"failed": report["failed"], "rejected": report["rejected"],
            "gap": report["longest_gap_ms"], "wall": wall}


def backend(secret, two_phase):
    """The server a database row rotates on, and what the deployment needs to reach it: env
    lines, config vars and demo-load's flag. None for the rows without one."""
    if secret == "redis":
        redis = servers.Redis(REDIS_OLD)
        return (redis, f"REDIS_URL={redis.url(REDIS_OLD)}\n",
                f"  redis_cli: {redis.cli()}\n", ["--redis"])
    if secret == "postgres":
        pg = servers.Postgres()
        if two_phase:
            pg.sql(PG_ROLES.format(password=PG_OLD))
            user, admin, admin_password = "breeze_a", pg.SUPERUSER, pg.password
        else:
            pg.sql(f"CREATE ROLE breeze LOGIN PASSWORD '{PG_OLD}';\n"
                   "CREATE DATABASE breeze OWNER breeze;\n")
            user, admin, admin_password = "breeze", "breeze", PG_OLD
        env = (f"DATABASE_URL={pg.url(user, PG_OLD, 'breeze')}\n"
               f"POSTGRES_PASSWORD={admin_password}\n")
        config = (f"  postgres_roles: {'alternating' if two_phase else 'single'}\n"
                  "  postgres_exporter_env_file: none\n"
                  f"  psql: {pg.psql(admin)}\n  psql_login: {pg.psql('breeze')}\n"
                  f"  psql_login_as: {pg.psql()}\n")
        return pg, env, config, ["--postgres"]
    return None, "", "", []


def measure(binaries, row, restart, two_phase):
    """One rotation under load: {"rotate": sample} and, two-phase, {"retire": sample}."""
    secret, runbook, env = row
    scratch_runbooks = tempfile.mkdtemp(prefix="runbook-bench-runbooks.")
    server, env_lines, config_vars, load_flags = backend(secret, two_phase)
    try:
        if two_phase or secret == "postgres":
            runbooks = os.path.join(REPO, "runbooks")
        else:
            runbooks, runbook = scratch_runbooks, f"{secret}-one-phase"
            with open(os.path.join(runbooks, f"{runbook}.yaml"), "w") as out:
                if secret in RECORDS:
                    _, data, flag, old = RECORDS[secret]
                    out.write(ONE_PHASE_REENCRYPT.format(
                        secret=secret, env=env, migrate=binaries["migrate"], flag=flag, data=data,
                        old=old, before="migrate"))
                elif secret == "redis":
                    out.write(REDIS_ONE_PHASE)
                else:
                    out.write(ONE_PHASE.format(secret=secret, env=env, before="new"))
                out.write(RESTART_HEALTH)
        if secret in RECORDS:
            load_flags = load_flags + ["--records", RECORDS[secret][0]]
        demo = Deployment(binaries, restart, runbooks, ROW_VARS.get(secret, "") + config_vars,
                          env_lines, load_flags)
        try:
            samples = {"rotate": sample(*demo.under_load(["run", runbook]))}
            if two_phase:
                samples["retire"] = sample(*demo.under_load(["retire", secret, "--now"]))
            return samples
        finally:
            demo.close()
    finally:
        shutil.rmtree(scratch_runbooks, ignore_errors=True)
        if server:
            server.stop()


def main():
    binaries = build()
    ways = [("one-phase", "recreate", False), ("one-phase", "bluegreen", False),
            ("two-phase", "bluegreen", True)]
    print(f"runbook rotations under load, medians of {RUNS} runs, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f}")
    width = max(len(row[0]) for row in ROWS) + 2
    header = f"{'row':<{width}}{'rotation':<20}{'restart':<11}{'failed':>8}{'rejected':>10}" \
             f"{'longest gap ms':>16}{'wall s':>8}"
    print(header)
    only = os.environ.get("ROWS")
    for row in [r for r in ROWS if not only or r[0] in only.split(",")]:
        for phases, restart, two_phase in ways:
            runs = [measure(binaries, row, restart, two_phase) for _ in range(RUNS)]
            parts = [("rotate", phases)]
            if two_phase:
                parts = [("rotate", f"{phases} activate"), ("retire", f"{phases} retire")]
            for part, label in parts:
                median = {key: statistics.median(run[part][key] for run in runs)
                          for key in ("failed", "rejected", "gap", "wall")}
                print(f"{row[0]:<{width}}{label:<20}{restart:<11}{median['failed']:>8g}"
                      f"{median['rejected']:>10g}{median['gap']:>16g}{median['wall']:>8.2f}",
                      flush=True)


if __name__ == "__main__":
    main()

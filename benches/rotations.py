#!/usr/bin/env python3
"""What a rotation costs the users of the demo deployment, measured under load.

`python3 benches/rotations.py` builds `runbook`, the demo service and `demo-load` (release),
then for each row (JWT, SESSION) rotates a scratch copy of the demo deployment while
`demo-load` keeps requesting it with credentials minted before the rotation, and prints one
table: per row and way of rotating, the failed requests (refused, reset, 5xx), the rejected
credentials (a token or session minted before or during the rotation refused), the longest
gap between two successful responses, and the rotation's wall time. Medians over RUNS runs
(default 3); `PROFILE=debug` uses debug builds.

The ways of rotating, side by side:
  one-phase, recreate    stop-then-start, the default driver
  one-phase, blue/green  DEMO_RESTART=bluegreen: start new, wait healthy, drain old
  two-phase, blue/green  activate under load (the old value still verifies during the
                         overlap), then `runbook retire --now`; only where this build has
                         two-phase rotations (`runbook retire`)

Everything runs on loopback, in a temporary directory removed at the end.
"""

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROWS = [("jwt", "jwt-rotation"), ("session", "session-rotation")]
RUNS = int(os.environ.get("RUNS", "3"))
# `PROFILE=debug` reuses the binaries the tests built: a rotation's time is restarts and
# waits, which the optimiser barely changes.
PROFILE = os.environ.get("PROFILE", "release")


def build():
    print(f"building runbook, demo-service and demo-load ({PROFILE}) ...", file=sys.stderr)
    subprocess.run(
        ["cargo", "build", *(["--release"] if PROFILE == "release" else []), "--quiet",
         "--bin", "runbook", "--example", "demo-service", "--example", "demo-load"],
        cwd=REPO, check=True)
    meta = subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps"],
                          cwd=REPO, check=True, capture_output=True, text=True)
    target = os.path.join(json.loads(meta.stdout)["target_directory"], PROFILE)
    return {name: os.path.join(target, path) for name, path in
            [("runbook", "runbook"), ("service", "examples/demo-service"),
             ("load", "examples/demo-load")]}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def has_retire(binaries):
    return subprocess.run([binaries["runbook"], "retire", "--help"],
                          capture_output=True).returncode == 0


class Deployment:
    """A scratch copy of examples/demo/ with the demo service running."""

    def __init__(self, binaries, restart):
        self.dir = tempfile.mkdtemp(prefix="runbook-bench-rotation.")
        self.port = free_port()
        self.binaries = binaries
        demo = os.path.join(REPO, "examples/demo")
        shutil.copy(os.path.join(demo, ".env.prod.template"), self.path(".env.prod"))
        os.chmod(self.path(".env.prod"), 0o600)
        shutil.copy(os.path.join(demo, "restart.sh"), self.path("restart.sh"))
        with open(self.path("demo.conf"), "w") as conf:
            conf.write(f"DEMO_PORT={self.port}\nDEMO_ENV_FILE=.env.prod\n"
                       f"DEMO_PID_FILE=demo.pid\nDEMO_LOG_FILE=demo.log\n"
                       f"DEMO_SERVICE_BIN='{binaries['service']}'\nDEMO_RESTART={restart}\n")
        with open(self.path("runbook.yaml"), "w") as config:
            config.write(f"runbooks: {REPO}/runbooks\nstate: .runbook\nvars:\n"
                         f"  env_file: .env.prod\n  api_url: http://127.0.0.1:{self.port}\n"
                         "  health_interval: 100ms\n"
                         "restart:\n  run: bash ./restart.sh {{ services | join(\" \") }}\n")
        subprocess.run(["bash", "restart.sh", "api"], cwd=self.dir, check=True,
                       capture_output=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def under_load(self, argv):
        """Runs `runbook ARGV` while demo-load runs; returns (wall seconds, load report)."""
        for name in ("load.stop", "load.ready"):
            if os.path.exists(self.path(name)):
                os.remove(self.path(name))
        load = subprocess.Popen(
            [self.binaries["load"], "--port", str(self.port), "--env-file", ".env.prod",
             "--until-file", "load.stop", "--ready-file", "load.ready", "--max-seconds", "300"],
            cwd=self.dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while not os.path.exists(self.path("load.ready")):
            if load.poll() is not None:
                raise SystemExit(f"demo-load did not start: {load.stderr.read()}")
            time.sleep(0.02)
        started = time.monotonic()
        run = subprocess.run([self.binaries["runbook"], *argv, "--yes"], cwd=self.dir,
                             capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"})
        wall = time.monotonic() - started
        open(self.path("load.stop"), "w").close()
        out, err = load.communicate(timeout=60)
        if run.returncode != 0:
            raise SystemExit(f"runbook {' '.join(argv)} failed:\n{run.stdout}{run.stderr}")
        return wall, json.loads(out)

    def close(self):
        try:
            with open(self.path("demo.pid")) as pid:
                os.kill(int(pid.read().strip()), 15)
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
        shutil.rmtree(self.dir, ignore_errors=True)


def measure(binaries, runbook, secret, restart, two_phase):
    """One rotation under load; a two-phase one adds its retire, under load too."""
    demo = Deployment(binaries, restart)
    try:
        wall, report = demo.under_load(["run", runbook])
        sample = {"failed": report["failed"], "rejected": report["rejected"],
                  "gap": report["longest_gap_ms"], "wall": wall}
        if two_phase:
            retire_wall, retired = demo.under_load(["retire", secret, "--now"])
            sample["retire"] = (retired["failed"], retire_wall)
        return sample
    finally:
        demo.close()


def main():
    binaries = build()
    ways = [("one-phase", "recreate", False), ("one-phase", "bluegreen", False)]
    if has_retire(binaries):
        ways.append(("two-phase", "bluegreen", True))
    print(f"runbook rotations under load, medians of {RUNS} runs, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f}")
    header = f"{'row':<9}{'rotation':<11}{'restart':<11}{'failed':>8}{'rejected':>10}" \
             f"{'longest gap ms':>16}{'wall s':>8}"
    print(header)
    for secret, runbook in ROWS:
        for phases, restart, two_phase in ways:
            samples = [measure(binaries, runbook, secret, restart, two_phase)
                       for _ in range(RUNS)]
            median = {key: statistics.median(s[key] for s in samples)
                      for key in ("failed", "rejected", "gap", "wall")}
            print(f"{secret:<9}{phases:<11}{restart:<11}{median['failed']:>8g}"
                  f"{median['rejected']:>10g}{median['gap']:>16g}{median['wall']:>8.2f}")
    if len(ways) < 3:
        print("(no two-phase rows: this build of runbook has no `retire` command)")


if __name__ == "__main__":
    main()

"""Throwaway Redis and PostgreSQL servers for benches/rotations.py: each on a free loopback
port in a temporary directory of its own, with password authentication really enforced, and
removed by `stop()`. PostgreSQL runs as the `postgres` user when the bench runs as root (it
refuses to run as root); the directory is handed to that user first."""

import os
import shutil
import socket
import subprocess
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(check, what, seconds=90):
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} did not start in {seconds} s")
        time.sleep(0.05)


class Redis:
    """redis-server from a config file (so CONFIG REWRITE works), `requirepass PASSWORD`."""

    def __init__(self, password):
        self.dir = tempfile.mkdtemp(prefix="runbook-bench-redis.")
        self.port = free_port()
        conf = os.path.join(self.dir, "redis.conf")
        with open(conf, "w") as out:
            out.write(f'bind 127.0.0.1\nport {self.port}\ndir "{self.dir}"\nsave ""\n'
                      f'appendonly no\nrequirepass "{password}"\n')
        self.process = subprocess.Popen(["redis-server", conf], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, cwd=self.dir)
        _wait(lambda: self.ping(password), "redis-server")

    def ping(self, password):
        out = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(self.port)],
                             input="PING\n", capture_output=True, text=True,
                             env={**os.environ, "REDISCLI_AUTH": password})
        return "PONG" in out.stdout

    def url(self, password):
        return f"redis://:{password}@127.0.0.1:{self.port}"

    def cli(self):
        return f"redis-cli -h 127.0.0.1 -p {self.port}"

    def stop(self):
        self.process.kill()
        self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def _pg_bindir():
    versions = [d for d in os.listdir("/usr/lib/postgresql") if d.isdigit()] \
        if os.path.isdir("/usr/lib/postgresql") else []
    if versions:
        return os.path.join("/usr/lib/postgresql", max(versions, key=int), "bin")
    initdb = shutil.which("initdb")
    if not initdb:
        raise SystemExit("PostgreSQL server binaries not found (install postgresql)")
    return os.path.dirname(initdb)


class Postgres:
    """A fresh cluster with scram-sha-256 on every socket; `SUPERUSER` has a random password."""

    SUPERUSER = "postgres"

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="runbook-bench-pg.")
        self.port = free_port()
        self.password = os.urandom(12).hex()
        self.bin = _pg_bindir()
        pwfile = os.path.join(self.dir, "pw")
        with open(pwfile, "w") as out:
            out.write(self.password + "\n")
        if os.geteuid() == 0:
            subprocess.run(["chown", "-R", "postgres:postgres", self.dir], check=True)
        data = os.path.join(self.dir, "data")
        self._server("initdb", "-D", data, "-U", self.SUPERUSER, "--no-sync",
                     "--auth-host=scram-sha-256", "--auth-local=scram-sha-256",
                     f"--pwfile={pwfile}")
        os.remove(pwfile)
        self._server("pg_ctl", "-D", data, "-l", os.path.join(self.dir, "log"), "-w", "-o",
                     f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off",
                     "start")
        self.data = data

    def _server(self, name, *args):
        argv = [os.path.join(self.bin, name), *args]
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        subprocess.run(argv, check=True, capture_output=True, cwd=self.dir)

    def sql(self, sql, database="postgres"):
        """Runs SQL (on stdin) as the superuser over TCP."""
        env = {**os.environ, "PGPASSWORD": self.password, "PGHOST": "127.0.0.1",
               "PGPORT": str(self.port), "PGUSER": self.SUPERUSER, "PGDATABASE": database}
        subprocess.run(["psql", "-X", "-w", "-q", "-v", "ON_ERROR_STOP=1"], input=sql,
                       env=env, check=True, capture_output=True, text=True)

    def url(self, user, password, database):
        return f"postgres://{user}:{password}@127.0.0.1:{self.port}/{database}"

    def psql(self, user=None):
        """A psql command line for a runbook's vars: as `user`, or as PGUSER when None."""
        who = f" -U {user}" if user else ""
        return f"psql -X -w -q -A -t -h 127.0.0.1 -p {self.port}{who} -d breeze -v ON_ERROR_STOP=1"

    def stop(self):
        try:
            self._server("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)

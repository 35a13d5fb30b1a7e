//! The PostgreSQL half of the harness: a throwaway cluster with scram-sha-256 on every socket,
//! run as the `postgres` user when the tests run as root.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use super::{
    START_ATTEMPTS, STARTUP_DEADLINE, find_on_path, free_port, is_executable, percent_encode, run,
    run_with_stdin, temp_dir, unavailable,
};

/// The role initdb creates; its password is random per cluster.
pub(crate) const PG_SUPERUSER: &str = "postgres";

pub(crate) struct Postgres {
    pub port: u16,
    pub dir: tempfile::TempDir,
    superuser_password: String,
    bin: PathBuf,
    psql: PathBuf,
}

impl Postgres {
    /// Starts a fresh cluster on 127.0.0.1:<random free port>, or returns None after a loud
    /// "SKIPPED: PostgreSQL binaries not found (install postgresql)" when the binaries are
    /// missing and CI is not set; under CI a missing binary panics instead.
    pub(crate) fn start() -> Option<Postgres> {
        let Some(bin) = pg_bindir() else {
            return unavailable("PostgreSQL binaries", "postgresql");
        };
        let Some(psql) = Some(bin.join("psql"))
            .filter(|p| is_executable(p))
            .or_else(|| find_on_path("psql"))
        else {
            return unavailable("psql", "postgresql-client");
        };
        let dir = temp_dir("runbook-pg-");
        let superuser_password = random_token();
        // initdb takes the superuser password from a file so it never shows up in `ps`.
        let pwfile = dir.path().join("superuser-password");
        std::fs::write(&pwfile, format!("{superuser_password}\n")).expect("write pwfile");
        if is_root() {
            let (uid, gid) = postgres_ids();
            for path in [dir.path(), pwfile.as_path()] {
                std::os::unix::fs::chown(path, Some(uid), Some(gid))
                    .unwrap_or_else(|e| panic!("chown {} to postgres: {e}", path.display()));
            }
        }
        let mut pg = Postgres {
            port: 0,
            dir,
            superuser_password,
            bin,
            psql,
        };
        let data = pg.data_dir();
        let initdb = run(pg
            .server_command("initdb")
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                PG_SUPERUSER,
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ])
            // scram on both sockets: with trust auth a test that an old password fails proves nothing.
            .args(["--auth-host=scram-sha-256", "--auth-local=scram-sha-256"])
            .arg(format!("--pwfile={}", pwfile.display())));
        assert!(
            initdb.status.success(),
            "initdb failed:\n{}",
            String::from_utf8_lossy(&initdb.stderr)
        );
        let _ = std::fs::remove_file(&pwfile);

        let log = pg.dir.path().join("postgres.log");
        for attempt in 1..=START_ATTEMPTS {
            pg.port = free_port();
            let _ = std::fs::remove_file(&log);
            // fsync=off: a throwaway cluster needs no durability, and fsyncs crawl on a busy box.
            let options = format!(
                "-p {} -k '{}' -c listen_addresses=127.0.0.1 -c fsync=off",
                pg.port,
                pg.dir.path().display()
            );
            // -w waits on the cluster's own postmaster.pid, so it cannot mistake another
            // server on the same port for ours.
            let started = run(pg
                .server_command("pg_ctl")
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(&log)
                .arg("-o")
                .arg(options)
                .args(["-w", "-t", &STARTUP_DEADLINE.as_secs().to_string(), "start"]));
            if started.status.success() {
                return Some(pg);
            }
            // A timed-out pg_ctl leaves the postmaster running: stop it before trying again.
            pg.stop();
            let log_text = std::fs::read_to_string(&log).unwrap_or_default();
            if !log_text.contains("Address already in use") || attempt == START_ATTEMPTS {
                panic!(
                    "pg_ctl start failed on port {}:\n{}\n--- postgres.log\n{log_text}",
                    pg.port,
                    String::from_utf8_lossy(&started.stderr)
                );
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    pub(crate) fn superuser(&self) -> &str {
        PG_SUPERUSER
    }

    pub(crate) fn superuser_password(&self) -> &str {
        &self.superuser_password
    }

    /// Creates a login role with a password and a database it owns.
    pub(crate) fn create_role(&self, role: &str, password: &str, database: &str) {
        let sql = format!(
            "CREATE ROLE {r} LOGIN PASSWORD {p};\nCREATE DATABASE {d} OWNER {r};\n",
            r = sql_ident(role),
            p = sql_literal(password),
            d = sql_ident(database),
        );
        if let Err(e) = self.psql(PG_SUPERUSER, &self.superuser_password, "postgres", &sql) {
            panic!("creating role {role} with database {database}: {e}");
        }
    }

    /// Runs SQL (fed on stdin) as `user` over TCP with scram-sha-256: Ok(stdout) or Err(stderr).
    /// Output is psql's `-qAt`: no command tags, rows as `a|b` lines.
    pub(crate) fn psql(
        &self,
        user: &str,
        password: &str,
        database: &str,
        sql: &str,
    ) -> Result<String, String> {
        let out = run_with_stdin(self.psql_command(user, password, database), sql);
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// The psql invocation behind [`Postgres::psql`], public so tests can check its argv.
    /// Everything that names the connection travels in the environment, the password included.
    pub(crate) fn psql_command(&self, user: &str, password: &str, database: &str) -> Command {
        let mut command = Command::new(&self.psql);
        scrub_pg_env(&mut command);
        command
            .args([
                "-X",
                "-w",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-f",
                "-",
            ])
            .env("PGHOST", "127.0.0.1")
            .env("PGPORT", self.port.to_string())
            .env("PGUSER", user)
            .env("PGDATABASE", database)
            .env("PGPASSWORD", password)
            .env("PGSSLMODE", "disable")
            .env("PGCONNECT_TIMEOUT", "30");
        command
    }

    /// postgres://user:pw@127.0.0.1:port/db with every part percent-encoded.
    pub(crate) fn url(&self, user: &str, password: &str, database: &str) -> String {
        format!(
            "postgres://{}:{}@127.0.0.1:{}/{}",
            percent_encode(user),
            percent_encode(password),
            self.port,
            percent_encode(database)
        )
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A server binary, run as `postgres` when we are root: PostgreSQL refuses to run as root.
    fn server_command(&self, name: &str) -> Command {
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(self.bin.join(name));
            c
        } else {
            Command::new(self.bin.join(name))
        };
        scrub_pg_env(&mut command);
        // The test's own cwd may be unreadable to `postgres`.
        command.current_dir(self.dir.path());
        command
    }

    fn stop(&self) {
        let _ = self
            .server_command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "immediate", "-w", "-t", "60", "stop"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `"…"` for SQL identifiers.
pub(crate) fn sql_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'…'` for SQL string literals (standard_conforming_strings is on: backslashes are literal).
pub(crate) fn sql_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// Debian keeps server binaries off PATH, one directory per major version: take the newest
/// (names like `9.6` don't parse and are skipped; scram-sha-256 needs 10+ anyway).
fn pg_bindir() -> Option<PathBuf> {
    let complete = |bin: &Path| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|b| is_executable(&bin.join(b)))
    };
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let major: u32 = entry.file_name().to_str()?.parse().ok()?;
            Some((major, entry.path().join("bin")))
        })
        .filter(|(_, bin)| complete(bin))
        .max_by_key(|(major, _)| *major)
        .map(|(_, bin)| bin);
    debian.or_else(|| {
        let bin = find_on_path("initdb")?.parent()?.to_path_buf();
        complete(&bin).then_some(bin)
    })
}

fn is_root() -> bool {
    static ROOT: OnceLock<bool> = OnceLock::new();
    *ROOT.get_or_init(|| id(&["-u"]) == Some(0))
}

/// The `postgres` system user's uid and gid, created if missing (a bare CI image has none).
fn postgres_ids() -> (u32, u32) {
    static IDS: OnceLock<(u32, u32)> = OnceLock::new();
    *IDS.get_or_init(|| {
        let lookup = || Some((id(&["-u", "postgres"])?, id(&["-g", "postgres"])?));
        if lookup().is_none() {
            // Another test binary may be adding it at the same moment; its success is ours.
            // A leftover `postgres` group makes --user-group fail, so join it instead then.
            for group in [["--user-group"], ["--gid=postgres"]] {
                let _ = Command::new("useradd")
                    .args(["--system", "--no-create-home", "--home-dir=/nonexistent"])
                    .args(["--shell=/usr/sbin/nologin"])
                    .args(group)
                    .arg("postgres")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
                if lookup().is_some() {
                    break;
                }
            }
        }
        lookup().expect("no `postgres` user, and useradd could not create one")
    })
}

fn id(args: &[&str]) -> Option<u32> {
    let out = Command::new("id")
        .args(args)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// Random enough to tell clusters apart; std has no RNG, but RandomState is randomly keyed.
fn random_token() -> String {
    use std::hash::{BuildHasher, Hasher};
    (0..2)
        .map(|_| {
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_u128(
                std::time::UNIX_EPOCH
                    .elapsed()
                    .map_or(0, |elapsed| elapsed.as_nanos()),
            );
            format!("{:016x}", hasher.finish())
        })
        .collect()
}

/// libpq reads PG* variables from the developer's shell; none of them may redirect our commands.
fn scrub_pg_env(command: &mut Command) {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PG") {
            command.env_remove(key);
        }
    }
}

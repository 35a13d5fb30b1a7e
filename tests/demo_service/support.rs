//! Owns the harness of the demo-deployment tests: locating (or building) the real
//! `demo-service` binary, a scratch copy of `examples/demo/` driven through `restart.sh`, a
//! directly started service, a std-only HTTP GET, and a fake Redis that checks `AUTH`.

// Each test binary that includes this module uses a different part of it.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use runbook::envfile::EnvFile;
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `demo-service` example binary.
fn service_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| example_binary("demo-service"))
}

/// An example binary of the demo, (re)built first when `cargo test` did not build it or it is
/// older than its sources (as after `cargo test --test NAME` with edits), so the tests never
/// silently exercise a stale binary.
pub(crate) fn example_binary(name: &str) -> PathBuf {
    // This test runs from `<profile dir>/deps/`; the examples are in `<profile dir>/examples/`,
    // wherever the target directory and its target tuple put the profile directory.
    let exe = std::env::current_exe().expect("the test's own path");
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .expect("a test binary in <profile dir>/deps/");
    let binary = profile.join("examples").join(name);
    let built = std::fs::metadata(&binary)
        .and_then(|meta| meta.modified())
        .ok();
    let sources = [repo().join("examples/demo"), repo().join("src")];
    if built.is_none_or(|built| sources.iter().any(|dir| newer_rs_file(dir, built))) {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--example", name])
            .current_dir(repo())
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build --example {name} failed");
    }
    binary
}

/// True when a `.rs` file under `dir` was modified after `than`.
fn newer_rs_file(dir: &Path, than: SystemTime) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|entry| {
        let path = entry.path();
        if path.is_dir() {
            return newer_rs_file(&path, than);
        }
        let modified = entry.metadata().and_then(|meta| meta.modified());
        path.extension().is_some_and(|ext| ext == "rs") && modified.is_ok_and(|m| m > than)
    })
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// `GET path` over a plain TcpStream; returns the status code and the body.
pub(crate) fn get(port: u16, path: &str, bearer: Option<&str>) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let auth = bearer.map_or(String::new(), |token| {
        format!("Authorization: Bearer {token}\r\n")
    });
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response
        .split_once("\r\n\r\n")
        .expect("a complete response");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status code");
    (status, body.to_owned())
}

pub(crate) fn get_json(port: u16, path: &str, bearer: Option<&str>) -> (u16, Value) {
    let (status, body) = get(port, path, bearer);
    (
        status,
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}")),
    )
}

pub(crate) fn token(port: u16) -> String {
    let (status, body) = get_json(port, "/token", None);
    assert_eq!(status, 200);
    body["token"].as_str().unwrap().to_owned()
}

/// Sets `key` in the deployment's env file, appending it when the file has none.
pub(crate) fn set_env(demo: &Deployment, key: &str, value: &str) {
    let mut env = EnvFile::parse(&std::fs::read(demo.env_file()).unwrap()).unwrap();
    if env.get(key).is_some() {
        env.set(key, value).unwrap();
    } else {
        env.append(key, value).unwrap();
    }
    std::fs::write(demo.env_file(), env.to_bytes()).unwrap();
}

pub(crate) fn edit_env(path: &Path, key: &str, value: &str) {
    let mut env = EnvFile::parse(&std::fs::read(path).unwrap()).unwrap();
    env.set(key, value).unwrap();
    std::fs::write(path, env.to_bytes()).unwrap();
}

/// True while `pid` is a running process; a zombie (exited, not yet reaped) counts as gone.
fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z'))
    })
}

/// The session id of `pid` (field 6 of `/proc/PID/stat`), to prove the service was detached.
pub(crate) fn session_id(pid: &str) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, fields) = stat.rsplit_once(") ")?;
    fields.split(' ').nth(3).map(str::to_owned)
}

/// The demo deployment's encrypted data: the template each scratch copy starts from, the
/// copy's name (the one `.env.prod.template` points the service at), and the key's variable.
pub(crate) const APP_DATA: (&str, &str, &str) =
    ("data.template", "data.jsonl", "APP_ENCRYPTION_KEY");
pub(crate) const MFA_DATA: (&str, &str, &str) =
    ("mfa-data.template", "mfa-data.jsonl", "MFA_ENCRYPTION_KEY");

/// The `var` lines that point the shipped re-encryption runbooks at `demo-migrate` over a
/// deployment's data copies (keys reach it through the runbooks' env, never argv), for
/// [`Deployment::configure`].
pub(crate) fn reencrypt_vars() -> String {
    let bin = example_binary("demo-migrate");
    let bin = bin.display();
    let (app, mfa) = (APP_DATA.1, MFA_DATA.1);
    [
        (
            "reencrypt_env_probe_command",
            "printenv RUNBOOK_ENV_PROBE".to_owned(),
        ),
        ("reencrypt_command", format!("'{bin}' --data {app}")),
        (
            "reencrypt_dry_run_command",
            format!("'{bin}' --data {app} --dry-run"),
        ),
        (
            "mfa_reencrypt_command",
            format!("'{bin}' --mfa --data {mfa}"),
        ),
        (
            "mfa_reencrypt_dry_run_command",
            format!("'{bin}' --mfa --data {mfa} --dry-run"),
        ),
    ]
    .iter()
    .map(|(name, command)| format!("  {name}: {command:?}\n"))
    .collect()
}

/// `demo-migrate --verify` of `data` under `key` (MFA's when `mfa`): its exit code and its
/// JSON report, whose `verified` counts the records that open under that key.
pub(crate) fn verify_records(data: &Path, key: &str, mfa: bool) -> (i32, Value) {
    let name = if mfa { MFA_DATA.2 } else { APP_DATA.2 };
    let out = Command::new(example_binary("demo-migrate"))
        .args(mfa.then_some("--mfa"))
        .arg("--data")
        .arg(data)
        .arg("--verify")
        .env(name, key)
        .output()
        .unwrap();
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stderr));
    });
    (out.status.code().unwrap_or(-1), report)
}

/// A scratch copy of `examples/demo/`, run through `restart.sh`; stops the service on drop.
pub(crate) struct Deployment {
    pub dir: tempfile::TempDir,
    pub port: u16,
}

impl Deployment {
    pub(crate) fn new() -> Deployment {
        let dir = tempfile::Builder::new()
            .prefix("runbook-demo")
            .tempdir()
            .unwrap();
        let demo = repo().join("examples/demo");
        std::fs::copy(demo.join("restart.sh"), dir.path().join("restart.sh")).unwrap();
        std::fs::copy(
            demo.join(".env.prod.template"),
            dir.path().join(".env.prod"),
        )
        .unwrap();
        for (template, copy, _) in [APP_DATA, MFA_DATA] {
            std::fs::copy(demo.join(template), dir.path().join(copy)).unwrap();
        }
        let port = free_port();
        let conf = format!(
            "DEMO_PORT={port}\nDEMO_ENV_FILE=.env.prod\nDEMO_PID_FILE=demo.pid\n\
             DEMO_LOG_FILE=demo.log\nDEMO_SERVICE_BIN='{}'\n",
            service_binary().display()
        );
        std::fs::write(dir.path().join("demo.conf"), conf).unwrap();
        Deployment { dir, port }
    }

    /// Chooses how `restart.sh` restarts the service: `recreate` (its default) or `bluegreen`.
    pub(crate) fn restart_mode(&self, mode: &str) {
        use std::io::Write as _;
        let mut conf = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.path().join("demo.conf"))
            .unwrap();
        writeln!(conf, "DEMO_RESTART={mode}").unwrap();
    }

    /// Writes the deployment's `runbook.yaml`: the shipped library, the demo's restart driver,
    /// and `extra_vars` (indented `  key: value` lines) pointing runbooks at test servers.
    pub(crate) fn configure(&self, extra_vars: &str) {
        let config = format!(
            "runbooks: {}\nvars:\n  env_file: .env.prod\n  api_url: http://127.0.0.1:{}\n{extra_vars}restart:\n  run: bash ./restart.sh {{{{ services | join(\" \") }}}}\n",
            repo().join("runbooks").display(),
            self.port
        );
        std::fs::write(self.dir.path().join("runbook.yaml"), config).unwrap();
    }

    /// The real `runbook ARGS` in the deployment, without a terminal, to be run.
    pub(crate) fn runbook_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_runbook"));
        command
            .args(args)
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        command
    }

    /// The real `runbook ARGS` in the deployment, without a terminal: the exit code and
    /// stdout followed by stderr.
    pub(crate) fn runbook(&self, args: &[&str]) -> (i32, String) {
        let out = self.runbook_command(args).output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), text)
    }

    /// `runbook run RUNBOOK --yes` whose last verify, the api's `/health`, asks a port
    /// nothing listens on: the run fails after everything else, restarts included, is done.
    pub(crate) fn run_failing_health(&self, runbook: &str) -> (i32, String) {
        self.runbook(&[
            "run",
            runbook,
            "--yes",
            "--var",
            "api_url=http://127.0.0.1:9",
            "--var",
            "health_interval=50ms",
        ])
    }

    pub(crate) fn env_file(&self) -> PathBuf {
        self.dir.path().join(".env.prod")
    }

    pub(crate) fn env(&self) -> EnvFile {
        EnvFile::parse(&std::fs::read(self.env_file()).unwrap()).unwrap()
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("demo.log")).unwrap_or_default()
    }

    pub(crate) fn pid(&self) -> Option<String> {
        let pid = std::fs::read_to_string(self.dir.path().join("demo.pid")).ok()?;
        Some(pid.trim().to_owned())
    }

    /// Runs `restart.sh` from another directory, as the runbook executor would. Through `bash`
    /// rather than exec'ing the fresh copy: a concurrent test's fork can briefly hold the copy's
    /// write descriptor, and exec would then fail with ETXTBSY. `output()` waits for EOF on both
    /// pipes, so it only returns because the detached service does not hold them open.
    pub(crate) fn restart(&self, services: &[&str]) -> Output {
        Command::new("bash")
            .arg(self.dir.path().join("restart.sh"))
            .args(services)
            .current_dir(std::env::temp_dir())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    #[track_caller]
    pub(crate) fn restart_ok(&self, services: &[&str]) {
        let output = self.restart(services);
        assert!(
            output.status.success(),
            "restart.sh failed: {}\n{}\nlog:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            self.log()
        );
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        let Some(pid) = self.pid() else { return };
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(&pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if alive(&pid) {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
        }
    }
}

/// A `demo-service` started directly (not through restart.sh), killed on drop.
pub(crate) struct Service {
    child: Child,
    pub port: u16,
}

impl Service {
    /// Starts the service on `env` and waits until it answers, or returns its failed output.
    pub(crate) fn start(
        dir: &Path,
        env: &str,
        path_prefix: Option<&Path>,
    ) -> Result<Service, Output> {
        let env_file = dir.join("service.env");
        std::fs::write(&env_file, env).unwrap();
        let port = free_port();
        let mut command = Command::new(service_binary());
        command
            .arg("--env-file")
            .arg(&env_file)
            .args(["--port", &port.to_string()]);
        if let Some(prefix) = path_prefix {
            let path = std::env::var_os("PATH").unwrap_or_default();
            let paths = std::iter::once(prefix.to_owned()).chain(std::env::split_paths(&path));
            command.env("PATH", std::env::join_paths(paths).unwrap());
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(Service { child, port });
            }
            if child.try_wait().unwrap().is_some() {
                return Err(child.wait_with_output().unwrap());
            }
            assert!(
                Instant::now() < deadline,
                "demo-service did not listen within 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A one-connection-at-a-time fake Redis that accepts exactly `AUTH <password>` then `PING`.
pub(crate) fn fake_redis(password: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = std::io::BufReader::new(&stream);
            let mut writer = &stream;
            let mut authed = false;
            while let Some(args) = read_resp_command(&mut reader) {
                let reply = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
                    ["AUTH", given] if given == password => {
                        authed = true;
                        "+OK\r\n"
                    }
                    ["AUTH", _] => "-WRONGPASS invalid username-password pair\r\n",
                    ["PING"] if authed => "+PONG\r\n",
                    _ => "-NOAUTH Authentication required.\r\n",
                };
                let _ = writer.write_all(reply.as_bytes());
            }
        }
    });
    port
}

fn read_resp_command(reader: &mut impl std::io::BufRead) -> Option<Vec<String>> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let count: usize = line.trim().strip_prefix('*')?.parse().ok()?;
    let mut args = Vec::new();
    for _ in 0..count {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let len: usize = line.trim().strip_prefix('$')?.parse().ok()?;
        let mut arg = vec![0; len + 2];
        reader.read_exact(&mut arg).ok()?;
        arg.truncate(len);
        args.push(String::from_utf8(arg).ok()?);
    }
    Some(args)
}

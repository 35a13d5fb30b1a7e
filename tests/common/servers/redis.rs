//! The Redis half of the harness: a child redis-server started from a config file of its own,
//! so `CONFIG REWRITE` has somewhere to write.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{
    START_ATTEMPTS, STARTUP_DEADLINE, find_on_path, free_port, percent_encode, run_with_stdin,
    temp_dir, unavailable,
};

/// Redis probes are cheap; polling this often adds no load and little latency.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

pub(crate) struct Redis {
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    child: Child,
    cli: PathBuf,
}

impl Redis {
    /// Starts a child redis-server from a config file (so `CONFIG REWRITE` works) with
    /// `requirepass <password>` on 127.0.0.1:<random free port>, or returns None after a loud
    /// SKIPPED when redis is missing and CI is not set; under CI it panics instead.
    pub(crate) fn start(password: &str) -> Option<Redis> {
        Self::start_with(password, true, false)
    }

    /// Like [`Redis::start`], but the users live in an ACL file (`aclfile users.acl`, the
    /// `default` user's password there rather than `requirepass`): `ACL SAVE` persists them
    /// and CONFIG REWRITE does not.
    pub(crate) fn start_with_acl_file(password: &str) -> Option<Redis> {
        Self::start_with(password, true, true)
    }

    /// Like [`Redis::start`], but the server reads its configuration from stdin
    /// (`redis-server -`), so it has no config file: `INFO server` shows an empty
    /// `config_file` and `CONFIG REWRITE` fails, as on a server started with flags only.
    pub(crate) fn start_without_config_file(password: &str) -> Option<Redis> {
        Self::start_with(password, false, false)
    }

    fn start_with(password: &str, from_file: bool, acl_file: bool) -> Option<Redis> {
        let (Some(server), Some(cli)) = (find_on_path("redis-server"), find_on_path("redis-cli"))
        else {
            return unavailable("redis-server and redis-cli", "redis-server");
        };
        let dir = temp_dir("runbook-redis-");
        let config_path = dir.path().join("redis.conf");
        let log_path = dir.path().join("redis.log");
        for attempt in 1..=START_ATTEMPTS {
            let port = free_port();
            let mut config = format!(
                "bind 127.0.0.1\nport {port}\ndaemonize no\ndir {}\nlogfile \"\"\n\
                 save \"\"\nappendonly no\n",
                redis_quote(&dir.path().to_string_lossy()),
            );
            if acl_file {
                // An ACL file line cannot quote: the tests' passwords have no spaces.
                let acl_path = dir.path().join("users.acl");
                std::fs::write(
                    &acl_path,
                    format!("user default on >{password} ~* &* +@all\n"),
                )
                .expect("write users.acl");
                config.push_str(&format!(
                    "aclfile {}\n",
                    redis_quote(&acl_path.to_string_lossy())
                ));
            } else {
                config.push_str(&format!("requirepass {}\n", redis_quote(password)));
            }
            let log = File::create(&log_path).expect("create redis.log");
            let mut command = Command::new(&server);
            if from_file {
                std::fs::write(&config_path, &config).expect("write redis.conf");
                command.arg(&config_path).stdin(Stdio::null());
            } else {
                command.arg("-").stdin(Stdio::piped());
            }
            let mut child = KillOnDrop(Some(
                command
                    .current_dir(dir.path())
                    .stdout(log.try_clone().expect("clone log handle"))
                    .stderr(log)
                    .spawn()
                    .unwrap_or_else(|e| panic!("spawn {}: {e}", server.display())),
            ));
            if let Some(mut stdin) = child.get().stdin.take() {
                // Dropped after the write: redis-server reads its stdin config to the end.
                stdin.write_all(config.as_bytes()).expect("config on stdin");
            }
            match wait_until_serving(child.get(), port, password, &log_path) {
                Ok(()) => {
                    return Some(Redis {
                        port,
                        dir,
                        config_path,
                        child: child.disarm(),
                        cli,
                    });
                }
                // Dropping `child` kills it before the next attempt rewrites its config.
                Err(Failure::PortTaken(_)) if attempt < START_ATTEMPTS => continue,
                Err(Failure::PortTaken(why) | Failure::Fatal(why)) => {
                    panic!("redis-server did not start on port {port}: {why}")
                }
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// Runs redis-cli with `commands` on stdin and the password in REDISCLI_AUTH: Ok(stdout), or
    /// Err(stderr + stdout) when the exit code, a failed AUTH or an error reply says it failed.
    pub(crate) fn cli(&self, password: Option<&str>, commands: &str) -> Result<String, String> {
        cli_outcome(&run_with_stdin(self.cli_command(password), commands))
    }

    /// The redis-cli invocation behind [`Redis::cli`], public so tests can check its argv.
    pub(crate) fn cli_command(&self, password: Option<&str>) -> Command {
        let mut command = Command::new(&self.cli);
        command
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .env_remove("REDISCLI_AUTH");
        if let Some(password) = password {
            command.env("REDISCLI_AUTH", password);
        }
        command
    }

    /// redis://:pw@127.0.0.1:port with the password percent-encoded.
    pub(crate) fn url(&self, password: &str) -> String {
        self.user_url("", password)
    }

    /// redis://user:pw@127.0.0.1:port with both percent-encoded.
    pub(crate) fn user_url(&self, user: &str, password: &str) -> String {
        format!(
            "redis://{}:{}@127.0.0.1:{}",
            percent_encode(user),
            percent_encode(password),
            self.port
        )
    }

    /// Runs redis-cli as an ACL user (`--user`), the password in REDISCLI_AUTH.
    pub(crate) fn cli_as(
        &self,
        user: &str,
        password: &str,
        commands: &str,
    ) -> Result<String, String> {
        let mut command = self.cli_command(Some(password));
        command.args(["--user", user]);
        cli_outcome(&run_with_stdin(command, commands))
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        // SIGKILL rather than SHUTDOWN: it needs no password, which the test may have rotated,
        // and with persistence off there is nothing to save.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Owns a just-spawned server until it is known to serve, so a failed or panicking start
/// cannot leave it running.
struct KillOnDrop(Option<Child>);

impl KillOnDrop {
    fn get(&mut self) -> &mut Child {
        self.0.as_mut().expect("child present until disarmed")
    }

    fn disarm(mut self) -> Child {
        self.0.take().expect("child present until disarmed")
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Why a start attempt failed: a port someone else took is worth another try, nothing else is.
enum Failure {
    PortTaken(String),
    Fatal(String),
}

/// Polls until *our* child serves commands, with a deadline.
fn wait_until_serving(
    child: &mut Child,
    port: u16,
    password: &str,
    log_path: &Path,
) -> Result<(), Failure> {
    let deadline = Instant::now() + STARTUP_DEADLINE;
    loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| Failure::Fatal(e.to_string()))?
        {
            let log = std::fs::read_to_string(log_path).unwrap_or_default();
            let why = format!("exited during startup ({status})\n--- redis.log\n{log}");
            return Err(if log.contains("Address already in use") {
                Failure::PortTaken(why)
            } else {
                Failure::Fatal(why)
            });
        }
        match probe(port, password, child.id()) {
            Answer::Ours => return Ok(()),
            Answer::Other(reply) => {
                return Err(Failure::PortTaken(format!(
                    "another server answered: {reply}"
                )));
            }
            Answer::Nothing => {}
        }
        if Instant::now() > deadline {
            return Err(Failure::Fatal(format!(
                "not serving after {STARTUP_DEADLINE:?}"
            )));
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

enum Answer {
    Ours,
    Other(String),
    Nothing,
}

/// Asks whoever listens on `port` for AUTH + INFO over raw RESP. Raw, with timeouts, because
/// redis-cli would wait forever on a listener that never replies; INFO's process_id, because a
/// server that won a race for our port would answer PING just as well.
fn probe(port: u16, password: &str, pid: u32) -> Answer {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_secs(1)) else {
        return Answer::Nothing;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let mut request = Vec::new();
    for command in [["AUTH", password], ["INFO", "server"]] {
        request.extend(format!("*{}\r\n", command.len()).bytes());
        for arg in command {
            request.extend(format!("${}\r\n{arg}\r\n", arg.len()).bytes());
        }
    }
    if stream.write_all(&request).is_err() {
        return Answer::Nothing;
    }
    let mut reply = String::new();
    let mut buf = [0; 4096];
    // Until an error line arrives or the process_id line is complete; a timeout ends it too.
    while !reply.lines().any(|l| l.starts_with('-'))
        && !reply
            .split_once("process_id:")
            .is_some_and(|(_, rest)| rest.contains('\n'))
    {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => reply.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    if reply
        .lines()
        .any(|l| l.trim() == format!("process_id:{pid}"))
    {
        Answer::Ours
    } else if reply.is_empty() || reply.starts_with("-LOADING") || reply.contains("\n-LOADING") {
        Answer::Nothing
    } else {
        Answer::Other(reply.lines().take(3).collect::<Vec<_>>().join(" | "))
    }
}

/// A double-quoted redis.conf argument; redis parses `\\`, `\"` and `\xHH` inside.
fn redis_quote(value: &str) -> String {
    let mut out = String::from("\"");
    for byte in value.bytes() {
        match byte {
            b'\\' | b'"' => out.extend(['\\', byte as char]),
            0x20..=0x7e => out.push(byte as char),
            _ => out.push_str(&format!("\\x{byte:02x}")),
        }
    }
    out.push('"');
    out
}

/// Ok(stdout), or Err(stderr + stdout) when the exit code, a failed AUTH or an error reply
/// says it failed. redis-cli exits 0 on error replies when reading stdin (even with -e) and
/// prints them raw, so they are recognised by their error code.
fn cli_outcome(out: &std::process::Output) -> Result<String, String> {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let failed = !out.status.success()
        || stderr.contains("AUTH failed")
        || stdout.lines().any(is_redis_error);
    if failed {
        Err(format!("{stderr}{stdout}"))
    } else {
        Ok(stdout)
    }
}

fn is_redis_error(line: &str) -> bool {
    const CODES: [&str; 12] = [
        "ERR",
        "WRONGPASS",
        "NOAUTH",
        "NOPERM",
        "WRONGTYPE",
        "EXECABORT",
        "LOADING",
        "READONLY",
        "MISCONF",
        "BUSY",
        "NOSCRIPT",
        "OOM",
    ];
    line.split_once(' ')
        .is_some_and(|(code, _)| CODES.contains(&code))
}

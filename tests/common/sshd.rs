//! Real OpenSSH servers for the fleet tests: each [`Sshd`] is one `/usr/sbin/sshd` on a free
//! loopback port, with a host key, a client key and a `known_hosts` of its own (generated for
//! this test run), and a deployment root directory standing for the host's file system.
//! Outside CI a missing sshd makes the tests skip loudly; with `CI` set they fail.

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::servers::{free_port, in_ci, temp_dir};

const SSHD: &str = "/usr/sbin/sshd";
/// Two cores shared with parallel tests: starting a server can be slow, never this slow.
const STARTUP_DEADLINE: Duration = Duration::from_secs(60);
const START_ATTEMPTS: usize = 5;

pub(crate) struct Sshd {
    pub port: u16,
    /// Holds the keys, the log and the deployment root.
    pub dir: tempfile::TempDir,
    /// The host's "file system": where its env files and services live.
    pub root: PathBuf,
    /// The client's private key, authorized by this server only.
    pub key: PathBuf,
    /// A `known_hosts` naming this server's host key at `[127.0.0.1]:port`.
    pub known_hosts: PathBuf,
    pub user: String,
    child: Option<Child>,
}

/// Skips loudly, or under CI fails: a CI run that silently skipped the fleet tests would be
/// green while proving nothing.
fn unavailable(why: &str) -> Option<Sshd> {
    let message = format!("SKIPPED: {why} (install openssh-server and openssh-client)");
    if in_ci() {
        panic!("{message}; CI is set, so a missing sshd fails instead of skipping");
    }
    let _ = writeln!(std::io::stderr(), "\n*** {message} ***\n");
    None
}

fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "runbook-test", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .expect("run ssh-keygen");
    assert!(status.success(), "ssh-keygen failed for {}", path.display());
}

fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().expect("run id -un");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl Sshd {
    /// Starts one server, or returns `None` after a loud SKIPPED when sshd cannot run here
    /// (and CI is not set).
    pub(crate) fn start() -> Option<Sshd> {
        if !Path::new(SSHD).exists() {
            return unavailable("/usr/sbin/sshd not found");
        }
        if Command::new("ssh").arg("-V").output().is_err() {
            return unavailable("the ssh client is not installed");
        }
        // sshd refuses to start without its privilege-separation directory.
        if std::fs::create_dir_all("/run/sshd").is_err() {
            return unavailable("/run/sshd cannot be created (not root?)");
        }
        let dir = temp_dir("runbook-sshd-");
        let host_key = dir.path().join("host_key");
        let key = dir.path().join("client_key");
        keygen(&host_key);
        keygen(&key);
        let authorized = dir.path().join("authorized_keys");
        std::fs::copy(key.with_extension("pub"), &authorized).expect("authorized_keys");
        let root = dir.path().join("root");
        std::fs::create_dir_all(&root).expect("deployment root");
        let host_public =
            std::fs::read_to_string(host_key.with_extension("pub")).expect("host key");
        let host_public: Vec<&str> = host_public.split_whitespace().take(2).collect();
        let user = current_user();
        for attempt in 1..=START_ATTEMPTS {
            let port = free_port();
            let known_hosts = dir.path().join("known_hosts");
            std::fs::write(
                &known_hosts,
                format!("[127.0.0.1]:{port} {}\n", host_public.join(" ")),
            )
            .expect("known_hosts");
            let log = dir.path().join("sshd.log");
            let child = Command::new(SSHD)
                .arg("-D")
                .args(["-p", &port.to_string()])
                .arg("-h")
                .arg(&host_key)
                .arg("-E")
                .arg(&log)
                .args(["-o", "ListenAddress=127.0.0.1", "-o", "PidFile=none"])
                .arg("-o")
                .arg(format!("AuthorizedKeysFile={}", authorized.display()))
                .args([
                    "-o",
                    "PermitRootLogin=prohibit-password",
                    "-o",
                    "StrictModes=no",
                    "-o",
                    "PasswordAuthentication=no",
                    "-o",
                    "KbdInteractiveAuthentication=no",
                    "-o",
                    "UsePAM=no",
                    // Every step of a host is a session of its one multiplexed connection.
                    "-o",
                    "MaxSessions=100",
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn sshd");
            let mut child = child;
            match wait_until_listening(&mut child, port, &log) {
                Ok(()) => {
                    return Some(Sshd {
                        port,
                        dir,
                        root,
                        key,
                        known_hosts,
                        user,
                        child: Some(child),
                    });
                }
                Err(why) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    if attempt < START_ATTEMPTS && why.contains("Address already in use") {
                        continue;
                    }
                    panic!("sshd did not start on port {port}: {why}");
                }
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// The ssh options that trust this server's host key and nothing else, as an inventory's
    /// `ansible_ssh_common_args` would carry them.
    pub(crate) fn common_args(&self) -> String {
        format!(
            "-o UserKnownHostsFile={} -o IdentitiesOnly=yes",
            self.known_hosts.display()
        )
    }

    /// This host as an Ansible YAML inventory entry (indented for `hosts:`), with `vars`.
    pub(crate) fn inventory_entry(&self, name: &str, vars: &[(&str, String)]) -> String {
        let mut entry = format!(
            "    {name}:\n      ansible_host: 127.0.0.1\n      ansible_port: {}\n      ansible_user: {}\n      ansible_ssh_private_key_file: {}\n      ansible_ssh_common_args: \"{}\"\n",
            self.port,
            self.user,
            self.key.display(),
            self.common_args()
        );
        for (k, v) in vars {
            entry.push_str(&format!("      {k}: \"{v}\"\n"));
        }
        entry
    }

    /// A path under the host's deployment root.
    pub(crate) fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    /// Runs a command on the host through the real client, as a test's own probe.
    pub(crate) fn ssh(&self, command: &str) -> std::process::Output {
        Command::new("ssh")
            .args([
                "-F",
                "/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "IdentitiesOnly=yes",
            ])
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", self.known_hosts.display()))
            .arg("-i")
            .arg(&self.key)
            .args(["-p", &self.port.to_string()])
            .arg(format!("{}@127.0.0.1", self.user))
            .arg(command)
            .stdin(Stdio::null())
            .output()
            .expect("run ssh")
    }

    /// Takes the host off the network: the listener and every session it serves are killed,
    /// as when a machine drops, so established connections break too.
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_tree(child.id());
            let _ = child.wait();
        }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits until a starting server accepts connections, or says why it died.
fn wait_until_listening(child: &mut Child, port: u16, log: &Path) -> Result<(), String> {
    let deadline = Instant::now() + STARTUP_DEADLINE;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            return Err(format!("exited with {status}: {log}"));
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err("not listening after 60 s".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGKILLs `pid` and every process descended from it (sshd's per-connection children start
/// sessions of their own, so a process-group kill would miss them).
fn kill_tree(pid: u32) {
    let mut victims = vec![pid];
    let mut index = 0;
    while index < victims.len() {
        let parent = victims[index];
        victims.extend(children_of(parent));
        index += 1;
    }
    for victim in victims {
        let _ = Command::new("kill")
            .args(["-KILL", &victim.to_string()])
            .stderr(Stdio::null())
            .status();
    }
}

fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    // The command name may hold spaces and parentheses: fields follow the last `)`.
                    let rest = &stat[stat.rfind(')')? + 2..];
                    rest.split(' ').nth(1)?.parse::<u32>().ok()
                })
                == Some(parent)
        })
        .collect()
}

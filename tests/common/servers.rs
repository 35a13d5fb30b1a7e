//! Real PostgreSQL and Redis servers for end-to-end tests: each handle owns one server on a free
//! loopback port in its own temp dir, with password auth really enforced, torn down on Drop.
//! This file holds what both share; each server lives in its own submodule.

mod docker;
mod postgres;
mod redis;

// Every test binary compiles `common`; most of them use none of this.
#[allow(unused_imports)]
pub(crate) use docker::{DEMO_IMAGE, Docker};
#[allow(unused_imports)]
pub(crate) use postgres::{PG_SUPERUSER, Postgres, sql_ident, sql_literal};
#[allow(unused_imports)]
pub(crate) use redis::Redis;

use std::collections::BTreeSet;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Tries per server before a port collision is reported as a failure.
const START_ATTEMPTS: usize = 5;
/// Generous: two cores shared by parallel test threads (and parallel initdbs) can be slow.
const STARTUP_DEADLINE: Duration = Duration::from_secs(90);

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub(crate) fn percent_encode(value: &str) -> String {
    let mut out = String::new();
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Skips loudly, or under CI fails: a CI run that silently skipped its servers would be green
/// while proving nothing.
fn unavailable<T>(what: &str, package: &str) -> Option<T> {
    let message = format!("SKIPPED: {what} not found (install {package})");
    if in_ci() {
        panic!("{message}; CI is set, so a missing server fails instead of skipping");
    }
    // Straight to the handle, not eprintln!: libtest captures the macros, and a skip nobody
    // sees reads as a pass.
    let _ = writeln!(std::io::stderr(), "\n*** {message} ***\n");
    None
}

pub(crate) fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A free loopback port, never one already handed to another server of this process: the OS
/// can return a just-released port twice, and parallel tests would then race for it.
pub(crate) fn free_port() -> u16 {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        let mut handed_out = HANDED_OUT.lock().unwrap_or_else(PoisonError::into_inner);
        if handed_out.insert(port) {
            return port;
        }
    }
}

pub(crate) fn temp_dir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("create temp dir")
}

fn run(command: &mut Command) -> Output {
    command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {:?}: {e}", command.get_program()))
}

/// Feeds stdin from a thread so a chatty child cannot deadlock against a full pipe.
fn run_with_stdin(mut command: Command, input: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {:?}: {e}", command.get_program()));
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = input.to_owned();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let output = child.wait_with_output().expect("wait for child");
    let _ = writer.join();
    output
}

//! The `Test` builder: a temp directory with files in it, and the real `runbook` binary
//! run inside it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub(crate) struct Test {
    pub dir: tempfile::TempDir,
    args: Vec<String>,
    env: Vec<(String, String)>,
    stdin: Option<Vec<u8>>,
    without_yes: bool,
}

pub(crate) struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Fails the test with both streams shown when the exit code is not `code`.
    #[track_caller]
    pub(crate) fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "expected exit {code}, got {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }
}

/// The subcommand of a command line: its first word that is neither a flag nor a global
/// option's value.
fn subcommand<'a>(args: &[&'a str]) -> Option<&'a str> {
    let mut words = args.iter();
    while let Some(word) = words.next() {
        if matches!(
            *word,
            "--config" | "--var" | "--state-dir" | "--color" | "--inventory" | "--limit"
        ) {
            words.next();
        } else if *word == "--" {
            return None;
        } else if !word.starts_with('-') {
            return Some(word);
        }
    }
    None
}

/// A rotation of one secret in `.env.prod`: a value generated, then written by an `env` step
/// (the smallest runbook with a secret, a pending value and an edit to undo).
pub(crate) const REF_ROTATION: &str = r#"name: ref-rotation
secret: { id: ref, env: [REF_SECRET], every: 90d, impact: none }
steps:
  - id: new
    generate: { bytes: 24, encoding: hex }
  - id: write
    needs: [new]
    env: { set: { REF_SECRET: "{{ steps.new.value }}" } }
"#;

/// The repository root, for shipped runbooks and fixtures.
pub(crate) fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub(crate) fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_runbook"))
}

impl Test {
    pub(crate) fn new() -> Self {
        Self {
            dir: tempfile::Builder::new()
                .prefix("runbook-test")
                .tempdir()
                .expect("temp dir"),
            args: Vec::new(),
            env: Vec::new(),
            stdin: None,
            without_yes: false,
        }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The records of the one run in the state directory, in the order they were written.
    /// Each journal line is a JSON record, a space and its checksum.
    pub(crate) fn only_run_journal(&self) -> Vec<serde_json::Value> {
        let runs: Vec<_> = std::fs::read_dir(self.path().join(".runbook/runs"))
            .expect("the runs folder")
            .flatten()
            .collect();
        assert_eq!(runs.len(), 1, "one run");
        let journal =
            std::fs::read_to_string(runs[0].path().join("journal.jsonl")).expect("journal");
        journal
            .lines()
            .map(|line| {
                let (json, _checksum) = line.rsplit_once(' ').expect("a record and its checksum");
                serde_json::from_str(json).expect("a JSON record")
            })
            .collect()
    }

    /// Whether a run's folder still says the run is live: not ended, or not finished
    /// settling. Its mode is 0700, with the sticky bit while it is live; `None` when there is
    /// no such folder.
    pub(crate) fn run_is_live(&self, run_id: &str) -> Option<bool> {
        use std::os::unix::fs::PermissionsExt;
        let meta =
            std::fs::symlink_metadata(self.path().join(".runbook/runs").join(run_id)).ok()?;
        match meta.permissions().mode() & 0o7777 {
            0o1700 => Some(true),
            0o700 => Some(false),
            other => panic!("run {run_id}'s folder has mode {other:o}"),
        }
    }

    /// Writes a file relative to the test directory, creating parents.
    pub(crate) fn file(self, name: &str, contents: &str) -> Self {
        self.write(name, contents.as_bytes());
        self
    }

    pub(crate) fn write(&self, name: &str, contents: &[u8]) {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent");
        }
        std::fs::write(path, contents).expect("write file");
    }

    pub(crate) fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.dir.path().join(name)).expect("read file")
    }

    /// Copies the shipped runbook library into `runbooks/`.
    pub(crate) fn with_library(self) -> Self {
        let target = self.dir.path().join("runbooks");
        std::fs::create_dir_all(&target).expect("runbooks dir");
        for entry in std::fs::read_dir(repo().join("runbooks")).expect("shipped runbooks") {
            let entry = entry.expect("entry");
            std::fs::copy(entry.path(), target.join(entry.file_name())).expect("copy runbook");
        }
        self
    }

    pub(crate) fn args(mut self, args: &[&str]) -> Self {
        self.args = args.iter().map(|a| (*a).to_string()).collect();
        self
    }

    pub(crate) fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub(crate) fn stdin(mut self, bytes: &[u8]) -> Self {
        self.stdin = Some(bytes.to_vec());
        self
    }

    pub(crate) fn command(&self) -> Command {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        self.command_with(&args)
    }

    /// Runs `run` without `--yes` and without a terminal, which `runbook` refuses: for the
    /// tests of that refusal. Every other `run` here is unattended automation and gets `--yes`
    /// (which answers confirmations only; manual steps still wait for an operator).
    pub(crate) fn without_yes(mut self) -> Self {
        self.without_yes = true;
        self
    }

    pub(crate) fn command_with(&self, args: &[&str]) -> Command {
        let mut command = Command::new(binary());
        command.args(args);
        let asks = subcommand(args) == Some("run")
            && !args
                .iter()
                .any(|a| matches!(*a, "--yes" | "--dry-run" | "--help" | "-h"));
        if asks && !self.without_yes {
            command.arg("--yes");
        }
        command
            .current_dir(self.dir.path())
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .env_remove("COLUMNS");
        for (k, v) in &self.env {
            command.env(k, v);
        }
        command
    }

    /// Runs `runbook ARGS...` in the same directory (a second command on the same project).
    pub(crate) fn run_args(&self, args: &[&str]) -> Run {
        let mut command = self.command_with(args);
        let out = command
            .stdin(Stdio::null())
            .output()
            .expect("spawn runbook");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub(crate) fn run(&self) -> Run {
        let mut command = self.command();
        command.stdin(if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().expect("spawn runbook");
        if let Some(bytes) = &self.stdin {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("stdin");
            let _ = stdin.write_all(bytes);
        }
        let Output {
            status,
            stdout,
            stderr,
        } = child.wait_with_output().expect("wait runbook");
        Run {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }
}
/// A plan from `test`'s state directory (with its debug lines, `-vv`), and the same plan
/// from a state directory that never saw the library: what a remembered catalog or parsed
/// runbooks give, beside what the files alone give.
pub(crate) fn warm_and_cold(test: &Test, args: &[&str]) -> (Run, Run) {
    let warm: Vec<&str> = ["-vv"].iter().chain(args).copied().collect();
    let cold: Vec<&str> = ["--state-dir", "cold"]
        .iter()
        .chain(args)
        .copied()
        .collect();
    (test.run_args(&warm), test.run_args(&cold))
}

/// The names of the runbook files under `runbooks/`, sorted.
pub(crate) fn runbook_names(test: &Test) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(test.path().join("runbooks"))
        .expect("runbooks")
        .filter_map(|e| {
            let name = e.expect("entry").file_name().into_string().expect("utf-8");
            name.strip_suffix(".yaml").map(str::to_string)
        })
        .collect();
    names.sort();
    names
}

/// Changes one line of the shipped session runbook (its `impact`), which a compromise of
/// `jwt` implies.
pub(crate) fn edit_session_impact(test: &Test) {
    let path = "runbooks/session-rotation.yaml";
    let text = String::from_utf8(test.read(path)).expect("utf-8");
    let edited = text.replacen("  impact: All", "  impact: Edited. All", 1);
    assert_ne!(text, edited);
    test.write(path, edited.as_bytes());
}

/// Both plans exit alike and print the same bytes.
#[track_caller]
pub(crate) fn assert_same(warm: &Run, cold: &Run, what: &str) {
    assert_eq!(warm.code, cold.code, "{what}: {}", warm.stderr);
    assert_eq!(warm.stdout, cold.stdout, "{what}");
}
pub(crate) mod fleet;
pub(crate) mod operator;
pub(crate) mod servers;
pub(crate) mod sshd;
pub(crate) mod strace;

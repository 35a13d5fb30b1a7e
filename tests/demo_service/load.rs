//! Owns the tests' handle on `demo-load`: started against a demo deployment once its
//! pre-rotation credentials are taken, stopped through its stop file, its JSON report parsed.

// Each test binary that includes this module uses a different part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Deployment, example_binary};

/// The load's own ceiling on its run, far above any rotation here: it bounds a test that
/// forgets to stop it.
const MAX_SECONDS: &str = "300";

/// A running `demo-load`; killed on drop when never finished.
pub(crate) struct Load {
    child: Option<Child>,
    stop_file: PathBuf,
}

impl Load {
    /// Starts the load on 127.0.0.1:`port` with the credentials of `env_file` as they are now
    /// (`extra`: `--redis`, `--postgres`), and returns once they are taken and each check passed.
    pub(crate) fn start(dir: &Path, port: u16, env_file: &Path, extra: &[&str]) -> Load {
        let stop_file = dir.join("load.stop");
        let ready_file = dir.join("load.ready");
        let _ = std::fs::remove_file(&stop_file);
        let _ = std::fs::remove_file(&ready_file);
        let mut child = Command::new(example_binary("demo-load"))
            .args(["--port", &port.to_string(), "--env-file"])
            .arg(env_file)
            .arg("--until-file")
            .arg(&stop_file)
            .arg("--ready-file")
            .arg(&ready_file)
            .args(["--max-seconds", MAX_SECONDS])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start demo-load");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ready_file.exists() {
            if let Some(status) = child.try_wait().expect("poll demo-load") {
                let output = child.wait_with_output().expect("demo-load output");
                panic!(
                    "demo-load exited ({status}) before the load: {}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            assert!(Instant::now() < deadline, "demo-load was not ready in 60 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        Load {
            child: Some(child),
            stop_file,
        }
    }

    /// Stops the load and returns its report.
    pub(crate) fn finish(mut self) -> Report {
        std::fs::write(&self.stop_file, "stop\n").expect("write the stop file");
        let child = self.child.take().expect("finished once");
        let output = child.wait_with_output().expect("wait for demo-load");
        assert!(
            output.status.success(),
            "demo-load failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let json = serde_json::from_slice(&output.stdout).expect("demo-load prints JSON");
        Report(json)
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `demo-load`'s report.
pub(crate) struct Report(pub Value);

impl Report {
    pub(crate) fn total(&self, field: &str) -> u64 {
        self.0[field].as_u64().expect("a count")
    }

    /// A count of one check (`token_before`, ...), 0 when the check never ran.
    pub(crate) fn check(&self, check: &str, field: &str) -> u64 {
        self.0["checks"][check][field].as_u64().unwrap_or(0)
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Runs `runbook ARGS` in `demo` while `demo-load` requests the service with the credentials
/// clients hold now (`extra`: `--redis`, `--postgres`), and returns the runbook's output and
/// what the load saw. A run that stops for a person is answered as an operator would
/// (`resume --done`), the load still running. The runbook must succeed.
pub(crate) fn under_load(demo: &Deployment, args: &[&str], extra: &[&str]) -> (String, Report) {
    let load = Load::start(demo.dir.path(), demo.port, &demo.env_file(), extra);
    let first = demo.runbook(args);
    let (code, output, _) = crate::common::operator::by_hand(first, |args| demo.runbook(args));
    let report = load.finish();
    assert_eq!(code, 0, "{args:?}: {output}\nlog:\n{}", demo.log());
    eprintln!("{args:?}: {report}");
    (output, report)
}

impl Report {
    /// Asserts what a two-phase rotation's activate phase costs: nothing. Each of `checks` ran
    /// (and passed at least once), no request failed, no credential was refused, and the load
    /// spanned the restarts (`instances` answered: one more than the restarts).
    #[track_caller]
    pub(crate) fn assert_no_impact(&self, checks: &[&str], instances: u64, log: &str) {
        for check in checks {
            assert!(self.check(check, "ok") > 0, "{check} ran: {self}");
        }
        assert_eq!(self.total("failed"), 0, "{self}\nlog:\n{log}");
        assert_eq!(self.total("rejected"), 0, "{self}\nlog:\n{log}");
        assert_eq!(self.0["instances"], instances, "{self}");
    }
}

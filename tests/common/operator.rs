//! What a run that stopped for a person says: the run id and the manual steps it awaits, read
//! from its last line, so a test answers exactly the steps the run asked about.

#![allow(dead_code)]

/// The run id and the steps a run awaits, when its output ends awaiting the operator.
pub(crate) fn awaited(output: &str) -> Option<(String, Vec<String>)> {
    let line = output
        .lines()
        .rev()
        .find(|l| l.contains("awaiting the operator at "))?;
    let after = line.split("awaiting the operator at ").nth(1)?;
    let steps = after.split(':').next()?;
    let id = line.split("`runbook resume ").nth(1)?;
    let id: String = id.chars().take_while(|c| *c != '`' && *c != ' ').collect();
    Some((id, steps.split(", ").map(str::to_string).collect()))
}

/// The arguments of `resume` that say each awaited step is done.
pub(crate) fn done_args(run_id: &str, steps: &[String]) -> Vec<String> {
    let mut args = vec!["resume".to_string(), run_id.to_string()];
    for step in steps {
        args.push("--done".into());
        args.push(step.clone());
    }
    args
}

/// Finishes a run that stops for a person: each time it ends awaiting the operator (exit 3),
/// `resume` says (`--done`) that exactly the steps it awaits are done, as an operator would
/// after doing them. `first` is the run's exit code and output; `resume` runs `runbook` with
/// the arguments given. Returns the last exit code, every output, and the steps answered.
pub(crate) fn by_hand(
    first: (i32, String),
    mut resume: impl FnMut(&[&str]) -> (i32, String),
) -> (i32, String, Vec<String>) {
    let (mut code, mut output) = first;
    let mut all = output.clone();
    let mut answered = Vec::new();
    for _ in 0..10 {
        let Some((id, steps)) = awaited(&output).filter(|_| code == 3) else {
            break;
        };
        answered.extend(steps.iter().cloned());
        let args = done_args(&id, &steps);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        (code, output) = resume(&args);
        all.push_str(&output);
    }
    (code, all, answered)
}

/// `runbook` on a real terminal: util-linux `script` gives it a pseudo-terminal as its
/// controlling terminal (so `/dev/tty` prompts work), relays what the test types, and collects
/// everything the terminal shows.
pub(crate) struct Terminal {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    shown: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Terminal {
    pub(crate) fn spawn(dir: &std::path::Path, args: &[&str]) -> Self {
        use std::io::Read;
        use std::process::{Command, Stdio};
        let quote = |a: &str| format!("'{}'", a.replace('\'', "'\\''"));
        let mut line = quote(env!("CARGO_BIN_EXE_runbook"));
        for arg in args {
            line.push(' ');
            line.push_str(&quote(arg));
        }
        let mut child = Command::new("script")
            .args(["-qefc", &line, "/dev/null"])
            .current_dir(dir)
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("util-linux `script`");
        let stdin = child.stdin.take().expect("stdin");
        let mut stdout = child.stdout.take().expect("stdout");
        let shown = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = std::sync::Arc::clone(&shown);
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        });
        Self {
            child,
            stdin,
            shown,
        }
    }

    pub(crate) fn shown(&self) -> String {
        self.shown.lock().unwrap().clone()
    }

    /// Waits until the terminal has shown `text` `times` times. The bound only keeps a broken
    /// build from hanging the suite; nothing here measures time.
    #[track_caller]
    pub(crate) fn wait_for(&self, text: &str, times: usize) {
        for _ in 0..1200 {
            if self.shown().matches(text).count() >= times {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!(
            "the terminal never showed {text:?} {times} times:\n{}",
            self.shown()
        );
    }

    /// Types a line, as the operator would.
    pub(crate) fn type_line(&mut self, line: &str) {
        use std::io::Write;
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .expect("type");
        self.stdin.flush().expect("flush");
    }

    /// Waits for `runbook` to exit: its code and everything shown.
    pub(crate) fn finish(mut self) -> (i32, String) {
        let status = self.child.wait().expect("wait");
        // The reader thread sees EOF once `script` exits.
        for _ in 0..100 {
            if std::sync::Arc::strong_count(&self.shown) == 1 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        (status.code().unwrap_or(-1), self.shown())
    }
}

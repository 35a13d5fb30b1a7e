//! The crash matrix: a reference rotation (generate → env edit → tell a fake server → verify
//! they agree) killed with SIGKILL at every step boundary, including right after a side effect
//! and before its journal record. After each kill a new run is refused, `resume` converges on
//! the new value, `abort` restores the old one byte-for-byte, and no secret or pending file is
//! left behind.

mod common;

use common::Test;

const OLD: &str = "0ld-reference-secret-value";
const ENV: &str =
    "# reference deployment\nexport REF_SECRET=0ld-reference-secret-value\nOTHER=unchanged\n";

const RUNBOOK: &str = r#"name: ref-rotation
secret: { id: ref, env: [REF_SECRET], every: 90d, impact: none }
steps:
  - id: new
    generate: { bytes: 24, encoding: hex }
  - id: write
    needs: [new]
    env: { set: { REF_SECRET: "{{ steps.new.value }}" } }
  - id: tell-server
    needs: [write]
    idempotent: true
    exec:
      run: cat > server-password
      stdin: "{{ steps.new.value }}"
    rollback:
      exec:
        run: cat > server-password
        stdin: "{{ secret.current }}"
  - id: agree
    needs: [tell-server]
    verify:
      exec: { run: 'grep -qx "export REF_SECRET=$(cat server-password)" .env.prod' }
"#;

/// Every boundary a kill can hit: steps without a side effect have no `after-effect`.
fn boundaries() -> Vec<String> {
    let mut out = Vec::new();
    for (step, effect) in [
        ("new", false),
        ("write", true),
        ("tell-server", true),
        ("agree", false),
    ] {
        for point in [
            "before-intent",
            "after-intent",
            "after-effect",
            "after-done",
        ] {
            if point == "after-effect" && !effect {
                continue;
            }
            out.push(format!("{point}:ref-rotation/{step}"));
        }
    }
    out
}

fn project() -> Test {
    Test::new()
        .file("runbooks/ref.yaml", RUNBOOK)
        .file(".env.prod", ENV)
        .file("server-password", OLD)
}

/// Runs until the failpoint kills the process; returns the run id and the new value if it
/// had been generated (read from the pending outputs, as an operator's tools could).
fn crash(test: &Test, boundary: &str) -> (String, Option<String>) {
    let mut command = test.command();
    command
        .args(["run", "ref-rotation", "--yes"])
        .env("RUNBOOK_FAILPOINT", boundary);
    let output = command.output().expect("spawn");
    assert_eq!(
        output.status.code(),
        None,
        "{boundary}: the run was killed, not finished: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    let active = String::from_utf8(test.read(".runbook/active"))
        .expect("active marker")
        .trim()
        .to_string();
    assert_eq!(
        test.run_is_live(&active),
        Some(true),
        "{boundary}: the killed run's folder says it is live"
    );
    let pending = test
        .path()
        .join(".runbook/runs")
        .join(&active)
        .join("pending/out-0.json");
    let new = std::fs::read(pending).ok().map(|b| {
        let json: serde_json::Value = serde_json::from_slice(&b).unwrap();
        json["value"].as_str().unwrap().to_string()
    });
    (active, new)
}

fn read(test: &Test, name: &str) -> String {
    String::from_utf8(test.read(name)).unwrap()
}

fn assert_clean(test: &Test, run_id: &str, secrets: &[&str], boundary: &str) {
    let run_dir = test.path().join(".runbook/runs").join(run_id);
    assert!(
        !run_dir.join("pending").exists() && !run_dir.join("backup").exists(),
        "{boundary}: pending files remain"
    );
    assert_eq!(
        test.run_is_live(run_id),
        Some(false),
        "{boundary}: the run's folder says it ended"
    );
    assert!(
        !test.path().join(".runbook/active").exists(),
        "{boundary}: the run still blocks new ones"
    );
    assert_eq!(
        backups_beside(test),
        Vec::<std::path::PathBuf>::new(),
        "{boundary}: no backup is left beside the env file"
    );
    let journal = read(test, &format!(".runbook/runs/{run_id}/journal.jsonl"));
    for secret in secrets {
        assert!(
            !journal.contains(secret),
            "{boundary}: the journal contains a secret"
        );
    }
}

#[test]
fn resume_finishes_and_abort_restores_after_a_kill_at_every_boundary() {
    let all = boundaries();
    for boundary in &all {
        // resume
        let test = project();
        let (run_id, new) = crash(&test, boundary);
        let blocked = test
            .command()
            .args(["run", "ref-rotation", "--yes"])
            .output()
            .unwrap();
        assert_eq!(
            blocked.status.code(),
            Some(4),
            "{boundary}: a new run is refused while one is unfinished"
        );
        assert!(
            String::from_utf8_lossy(&blocked.stderr).contains(&format!("runbook resume {run_id}"))
        );
        let resumed = test.command().args(["resume", &run_id]).output().unwrap();
        assert_eq!(
            resumed.status.code(),
            Some(0),
            "{boundary}: resume\n{}{}",
            String::from_utf8_lossy(&resumed.stdout),
            String::from_utf8_lossy(&resumed.stderr)
        );
        let server = read(&test, "server-password");
        let env = read(&test, ".env.prod");
        assert_ne!(server, OLD, "{boundary}: the server has the new value");
        assert!(
            env.contains(&format!("export REF_SECRET={server}\n")),
            "{boundary}: env file and server agree"
        );
        if let Some(new) = &new {
            assert_eq!(
                &server, new,
                "{boundary}: the value generated before the crash was kept, not drawn again"
            );
        }
        assert!(env.starts_with("# reference deployment\n") && env.ends_with("OTHER=unchanged\n"));
        assert_clean(&test, &run_id, &[OLD, &server], boundary);

        // abort
        let test = project();
        let (run_id, new) = crash(&test, boundary);
        let aborted = test.command().args(["abort", &run_id]).output().unwrap();
        assert_eq!(
            aborted.status.code(),
            Some(0),
            "{boundary}: abort\n{}{}",
            String::from_utf8_lossy(&aborted.stdout),
            String::from_utf8_lossy(&aborted.stderr)
        );
        assert_eq!(
            read(&test, ".env.prod"),
            ENV,
            "{boundary}: the env file is restored byte-for-byte"
        );
        assert_eq!(
            read(&test, "server-password"),
            OLD,
            "{boundary}: the server has its old value"
        );
        let mut secrets = vec![OLD];
        if let Some(new) = &new {
            secrets.push(new);
        }
        assert_clean(&test, &run_id, &secrets, boundary);
        let again = test
            .command()
            .args(["run", "ref-rotation", "--dry-run", "--yes"])
            .output()
            .unwrap();
        assert_eq!(
            again.status.code(),
            Some(0),
            "{boundary}: after abort the deployment is usable again"
        );
    }
    println!(
        "crash matrix: {} boundaries covered, each resumed and aborted",
        all.len()
    );
    assert_eq!(all.len(), 14);
}

/// The backups kept beside the env file (`..env.prod.runbook-<run>-<step>.bak`).
fn backups_beside(test: &Test) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(test.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("..env.prod.runbook-") && name.ends_with(".bak")
        })
        .collect()
}

/// The backup a crashed run leaves of the edited env file: its only one, beside the file (a
/// link) or in the run's `backup/` folder (a copy), checked for the previous bytes, mode 0600
/// and an inode of its own.
fn assert_backup_of(test: &Test, run_id: &str, what: &str, beside: bool) {
    use std::os::unix::fs::MetadataExt;
    let dir = test
        .path()
        .join(".runbook/runs")
        .join(run_id)
        .join("backup");
    // `backup/` is made by a run's first copy: a run whose backups are links has none.
    assert_eq!(dir.exists(), !beside, "{what}: the run's backup/ folder");
    let copies: Vec<_> = std::fs::read_dir(&dir)
        .map(|entries| entries.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    let links = backups_beside(test);
    let backups = if beside { &links } else { &copies };
    assert_eq!(
        backups.len() + copies.len() + links.len(),
        2,
        "{what}: one backup, {}: {copies:?} {links:?}",
        if beside { "beside the file" } else { "a copy" }
    );
    if beside {
        let name = backups[0]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(
            name.contains(run_id),
            "{what}: the link names its run: {name}"
        );
    }
    assert_eq!(
        std::fs::read(&backups[0]).unwrap(),
        ENV.as_bytes(),
        "{what}"
    );
    let kept = std::fs::metadata(&backups[0]).unwrap();
    assert_eq!(kept.mode() & 0o7777, 0o600, "{what}: the backup is private");
    let live = std::fs::metadata(test.path().join(".env.prod")).unwrap();
    assert_ne!(
        kept.ino(),
        live.ino(),
        "{what}: the backup is not the live file"
    );
}

#[test]
fn the_backup_of_an_edited_file_survives_a_crash_private_and_exact() {
    // Usually a hard link to the replaced file, beside it (no copy is written, and the edit's
    // fsync of the directory makes it durable).
    let test = project();
    let (run_id, _) = crash(&test, "after-effect:ref-rotation/write");
    assert_ne!(read(&test, ".env.prod"), ENV, "the edit happened");
    assert_backup_of(&test, &run_id, "single link", true);

    // A file with another name cannot lend its inode: the other name would see a later
    // in-place write. The backup is then a copy, and the other name is left alone.
    let test = project();
    std::fs::hard_link(test.path().join(".env.prod"), test.path().join("env.alias")).unwrap();
    let (run_id, _) = crash(&test, "after-effect:ref-rotation/write");
    assert_backup_of(&test, &run_id, "second link", false);
    assert_eq!(read(&test, "env.alias"), ENV);
    let aborted = test.command().args(["abort", &run_id]).output().unwrap();
    assert_eq!(aborted.status.code(), Some(0));
    assert_eq!(read(&test, ".env.prod"), ENV, "restored byte-for-byte");
}

#[test]
fn resume_after_a_torn_last_journal_line_leaves_a_journal_that_reads_back() {
    // A crash mid-write leaves half a line at the journal's end. Appending after it would put
    // the torn line in the middle, where it reads as damage: the run could never be read again.
    for point in [
        "after-intent:ref-rotation/write",
        "after-done:ref-rotation/write",
    ] {
        let test = project();
        let (run_id, _) = crash(&test, point);
        let journal = test
            .path()
            .join(format!(".runbook/runs/{run_id}/journal.jsonl"));
        let mut bytes = std::fs::read(&journal).unwrap();
        bytes.extend_from_slice(br#"{"kind":"note","text":"cut off he"#);
        std::fs::write(&journal, &bytes).unwrap();
        let resumed = test.command().args(["resume", &run_id]).output().unwrap();
        assert_eq!(
            resumed.status.code(),
            Some(0),
            "{point}: {}",
            String::from_utf8_lossy(&resumed.stderr)
        );
        assert!(
            !read(&test, &format!(".runbook/runs/{run_id}/journal.jsonl")).contains("cut off he")
        );
        // Read back whole: the run is known to have ended, not damaged.
        let again = test.command().args(["resume", &run_id]).output().unwrap();
        let stderr = String::from_utf8_lossy(&again.stderr);
        assert_eq!(again.status.code(), Some(2), "{point}: {stderr}");
        assert!(stderr.contains("already ended"), "{point}: {stderr}");
        assert!(!read(&test, ".env.prod").contains(OLD), "{point}: rotated");
    }
}

#[test]
fn a_finished_run_cannot_be_resumed() {
    let test = project();
    let run = test
        .command()
        .args(["run", "ref-rotation", "--format", "json", "--yes"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0));
    let first = String::from_utf8(run.stdout).unwrap();
    let event: serde_json::Value = serde_json::from_str(first.lines().next().unwrap()).unwrap();
    let run_id = event["run_id"].as_str().unwrap();
    let resumed = test.command().args(["resume", run_id]).output().unwrap();
    assert_eq!(resumed.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&resumed.stderr).contains("already ended"));
}

#[test]
fn an_exec_step_in_doubt_without_idempotent_or_check_needs_an_operator() {
    let doubtful = RUNBOOK.replace("    idempotent: true\n", "");
    let test = Test::new()
        .file("runbooks/ref.yaml", &doubtful)
        .file(".env.prod", ENV)
        .file("server-password", OLD);
    let (run_id, _) = crash(&test, "after-effect:ref-rotation/tell-server");
    let resumed = test.command().args(["resume", &run_id]).output().unwrap();
    assert_eq!(
        resumed.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert!(
        stderr.contains("step `ref-rotation/tell-server` started but its result was not recorded"),
        "{stderr}"
    );
}

#[test]
fn two_runs_started_together_one_proceeds_and_the_other_exits_4_at_once() {
    let runbook = "name: slow\nsteps:\n  - id: wait\n    exec: { run: 'sleep 2' }\n";
    let test = Test::new().file("runbooks/slow.yaml", runbook);
    let mut first = test.command();
    first
        .args(["run", "slow", "--yes"])
        .stdout(std::process::Stdio::null());
    let mut second = test.command();
    second
        .args(["run", "slow", "--yes"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let started = std::time::Instant::now();
    let mut children = [first.spawn().unwrap(), second.spawn().unwrap()];
    // Whichever loses must lose within a second; poll both until they end.
    let mut codes = [None, None];
    let mut quick = None;
    while codes.iter().any(Option::is_none) {
        for (code, child) in codes.iter_mut().zip(children.iter_mut()) {
            if code.is_none()
                && let Some(status) = child.try_wait().unwrap()
            {
                *code = Some(status.code());
                if status.code() == Some(4) {
                    quick = Some(started.elapsed());
                }
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    for child in &mut children {
        child.wait().unwrap();
    }
    let (code_a, code_b) = (codes[0].flatten(), codes[1].flatten());
    let mut codes = [code_a, code_b];
    codes.sort();
    assert_eq!(codes, [Some(0), Some(4)], "exactly one run proceeds");
    assert!(
        quick.expect("one exited 4") < std::time::Duration::from_secs(1),
        "the refused run exits within a second"
    );
}

#[test]
fn resume_and_abort_refuse_a_run_whose_runbooks_changed() {
    let test = project();
    let (run_id, _) = crash(&test, "after-effect:ref-rotation/write");
    let before = read(&test, ".env.prod");
    test.write(
        "runbooks/ref.yaml",
        RUNBOOK
            .replace(
                "  - id: agree",
                "  - id: extra\n    needs: [tell-server]\n    exec: { run: 'true' }\n  - id: agree",
            )
            .as_bytes(),
    );
    for command in ["resume", "abort"] {
        let out = test.command().args([command, &run_id]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{command}");
        assert!(
            String::from_utf8_lossy(&out.stderr)
                .contains("the runbooks or the config changed since run"),
            "{command}"
        );
    }
    assert_eq!(read(&test, ".env.prod"), before, "nothing was touched");
    assert!(
        test.path().join(".runbook/active").exists(),
        "the run still blocks new ones"
    );
}

#[test]
fn a_run_whose_journal_cannot_be_written_runs_nothing() {
    // `runs` is a file, so the run's folder and journal cannot be created (what a full or
    // read-only state directory would do, without needing one).
    let test = Test::new()
        .file(
            "runbooks/marker.yaml",
            "name: marker\nsteps:\n  - id: touch\n    exec: { run: touch ran }\n",
        )
        .file(".runbook/runs", "");
    let output = test
        .command()
        .args(["run", "marker", "--yes"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot record the run"), "{stderr}");
    assert!(!test.path().join("ran").exists(), "the step did not run");
    assert!(
        !test.path().join(".runbook/active").exists(),
        "no unfinished run is left to block the next"
    );
}

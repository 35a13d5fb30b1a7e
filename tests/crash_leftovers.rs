//! What a kill leaves behind besides the journal: a temporary copy of the env file cut off
//! before its rename (the whole file with the new secret in it), and a run killed before it
//! was marked active. Each is cleaned up by the next `resume`, `abort` or run, and said so.

mod common;

use common::Test;

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
"#;

fn project() -> Test {
    Test::new()
        .file("runbooks/ref.yaml", RUNBOOK)
        .file(".env.prod", ENV)
}

/// Runs with the failpoint and checks the process was killed, not finished.
fn crash(test: &Test, failpoint: &str) {
    let output = test
        .command()
        .args(["run", "ref-rotation"])
        .env("RUNBOOK_FAILPOINT", failpoint)
        .output()
        .expect("spawn");
    assert_eq!(output.status.code(), None, "{failpoint}: killed");
}

fn active(test: &Test) -> String {
    String::from_utf8(test.read(".runbook/active"))
        .expect("utf-8")
        .trim()
        .to_string()
}

/// Every hidden temporary copy of `.env.prod` in the project directory.
fn temp_copies(test: &Test) -> Vec<String> {
    std::fs::read_dir(test.path())
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("..env.prod.") && n.ends_with(".tmp"))
        .collect()
}

#[test]
fn a_temp_copy_cut_off_before_its_rename_is_removed_by_resume_and_by_abort() {
    for command in ["resume", "abort"] {
        let test = project();
        crash(&test, "mid-write:.env.prod");
        let strays = temp_copies(&test);
        assert_eq!(
            strays.len(),
            1,
            "{command}: the kill left a copy: {strays:?}"
        );
        assert_eq!(test.read(".env.prod"), ENV.as_bytes(), "not yet renamed");
        let run_id = active(&test);
        let out = test
            .command()
            .args([command, &run_id])
            .output()
            .expect("spawn");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{command}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            temp_copies(&test),
            Vec::<String>::new(),
            "{command}: removed"
        );
        let env = String::from_utf8(test.read(".env.prod")).expect("utf-8");
        if command == "abort" {
            assert_eq!(env, ENV);
        } else {
            assert!(!env.contains("0ld-reference") && env.ends_with("OTHER=unchanged\n"));
        }
    }
}

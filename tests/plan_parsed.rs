//! `plan` of a library found valid remembers the runbooks it parsed (`.runbook/parsed`), and
//! the next `plan` of the same bytes reads them back instead of parsing their YAML. The plan
//! is byte for byte the one parsed from the files; a change to a file is parsed again, and a
//! remembered file that is garbled, cut short or not ours is ignored and written anew.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{Run, Test, assert_same, edit_session_impact, runbook_names, warm_and_cold};

const PARSED: &str = "only those are parsed";
const REMEMBERED: &str = "from what was remembered of them";
const FILE: &str = ".runbook/parsed";

/// Whether this plan read its runbooks back (true) or parsed their YAML (false).
fn read_back(run: &Run) -> bool {
    assert!(run.stderr.contains(PARSED), "{}", run.stderr);
    run.stderr.contains(REMEMBERED)
}

#[test]
fn every_plan_of_the_shipped_library_read_back_is_the_plan_parsed() {
    let test = Test::new().with_library();
    test.run_args(&["validate"]).expect_code(0);
    let names = runbook_names(&test);
    assert!(names.len() > 10, "{names:?}");
    // The first plan of each runbook parses; every later one reads back what it parsed.
    for name in &names {
        let (first, cold) = warm_and_cold(&test, &["plan", name]);
        assert_same(&first, &cold, name);
        for format in ["text", "json", "dot", "mermaid"] {
            let (warm, cold) = warm_and_cold(&test, &["plan", name, "--format", format]);
            assert_same(&warm, &cold, &format!("plan {name} --format {format}"));
            assert!(read_back(&warm), "{name} {format}: {}", warm.stderr);
        }
    }
    let mode = std::fs::metadata(test.path().join(FILE))
        .expect("parsed")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    for secret in ["jwt", "JWT_SECRET", "Session", "postgres", "redis"] {
        let args = ["plan", "compromise", "--secret", secret];
        let (warm, cold) = warm_and_cold(&test, &args);
        assert_same(&warm, &cold, secret);
        let (warm, _) = warm_and_cold(&test, &args);
        assert!(read_back(&warm), "{secret}: {}", warm.stderr);
    }
    // A plan that fails is refused with the words of the whole library, as before.
    let (warm, cold) = warm_and_cold(&test, &["plan", "jwt-rotation", "--secret", "redis"]);
    warm.expect_code(2);
    assert_eq!(warm.stderr.lines().last(), cold.stderr.lines().last());
    // Runbook text only: the files hold no value of the project's secrets' files.
    let parsed = String::from_utf8(test.read(FILE)).expect("utf-8");
    assert!(parsed.contains("jwt-rotation"), "{parsed}");
}

#[test]
fn an_edited_runbook_is_parsed_again_and_a_garbled_or_foreign_file_is_ignored_and_rewritten() {
    let test = Test::new().with_library();
    test.run_args(&["validate"]).expect_code(0);
    let args = ["plan", "compromise", "--secret", "jwt"];
    let (first, _) = warm_and_cold(&test, &args);
    assert!(!read_back(&first), "{}", first.stderr);
    let (warm, cold) = warm_and_cold(&test, &args);
    assert_same(&warm, &cold, "unchanged");
    assert!(read_back(&warm), "{}", warm.stderr);
    let before = warm.stdout;

    // One byte of an involved runbook changes: its plan is parsed from the files again,
    // then read back as edited.
    edit_session_impact(&test);
    test.run_args(&["validate"]).expect_code(0);
    for remembered in [false, true] {
        let (warm, cold) = warm_and_cold(&test, &args);
        assert_same(&warm, &cold, "edited");
        assert_ne!(warm.stdout, before);
        assert!(warm.stdout.contains("Edited."), "{}", warm.stdout);
        assert_eq!(read_back(&warm), remembered, "{}", warm.stderr);
    }

    let file = test.path().join(FILE);
    let good = std::fs::read(&file).expect("parsed");
    let key_line = good.iter().position(|b| *b == b'\n').expect("key line") + 1;
    let mut garbled_json = good[..key_line].to_vec();
    for line in good[key_line..good.len() - 1].split(|b| *b == b'\n') {
        garbled_json.extend_from_slice(if line.is_empty() { b"" } else { b"{\"name\":" });
        garbled_json.push(b'\n');
    }
    let mut forged_key = good.clone();
    forged_key[..64].copy_from_slice("0".repeat(64).as_bytes());
    let cases: [(&str, Vec<u8>, u32); 5] = [
        ("not utf-8", b"\xff\xfe\0garbage".to_vec(), 0o600),
        ("cut short", good[..good.len() * 2 / 3].to_vec(), 0o600),
        ("garbled json under the right key", garbled_json, 0o600),
        ("another library's key", forged_key, 0o600),
        ("writable by others", good.clone(), 0o666),
    ];
    for (what, bytes, mode) in cases {
        std::fs::write(&file, &bytes).expect("write");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).expect("chmod");
        let (warm, cold) = warm_and_cold(&test, &args);
        assert_same(&warm, &cold, what);
        assert!(!warm.stderr.contains("error"), "{what}: {}", warm.stderr);
        assert!(!read_back(&warm), "{what}: {}", warm.stderr);
        // Written anew (ours, 0600) by that plan, and read back by the next.
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let (warm, cold) = warm_and_cold(&test, &args);
        assert_same(&warm, &cold, what);
        assert!(read_back(&warm), "{what}: {}", warm.stderr);
    }
}

#[test]
fn a_library_never_validated_is_not_remembered() {
    let test = Test::new().with_library();
    std::fs::create_dir(test.path().join(".runbook")).expect("state dir");
    // No verdict yet: the plan checks the whole library (and remembers the verdict), but
    // reads nothing back.
    let (warm, cold) = warm_and_cold(&test, &["plan", "jwt-rotation"]);
    assert_same(&warm, &cold, "first");
    assert!(!warm.stderr.contains(REMEMBERED), "{}", warm.stderr);
}

//! `plan` of a library found valid reads only the runbook files its plan can involve, as the
//! catalog remembered beside the verdict says; the plan is byte for byte the one built from
//! the whole library, and a catalog that is stale, garbled or not ours is not used.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{Test, assert_same, edit_session_impact, runbook_names, warm_and_cold};

const PARTIAL: &str = "only those are parsed";

#[test]
fn every_plan_of_the_shipped_library_is_the_same_from_its_involved_files_only() {
    let test = Test::new().with_library();
    test.run_args(&["validate"]).expect_code(0);
    let catalog = test.path().join(".runbook/catalog.json");
    let mode = std::fs::metadata(&catalog)
        .expect("catalog")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let names = runbook_names(&test);
    assert!(names.len() > 10, "{names:?}");
    for name in &names {
        for format in ["text", "json"] {
            let (warm, cold) = warm_and_cold(&test, &["plan", name, "--format", format]);
            assert_same(&warm, &cold, &format!("plan {name} --format {format}"));
            assert!(warm.stderr.contains(PARTIAL), "{name}: {}", warm.stderr);
        }
    }
    for format in ["dot", "mermaid"] {
        let (warm, cold) = warm_and_cold(&test, &["plan", "jwt-rotation", "--format", format]);
        assert_same(&warm, &cold, format);
    }
    // The jwt rotation involves itself and what it implies, not the whole library.
    let (warm, _) = warm_and_cold(&test, &["plan", "jwt-rotation"]);
    assert!(
        warm.stderr.contains(&format!(
            "can involve 2 of the library's {} files",
            names.len()
        )),
        "{}",
        warm.stderr
    );

    // A compromise of each secret (by id or env name, any case) takes what it implies; a
    // conflict, an unknown secret, or a runbook that takes no `--secret` is refused with the
    // whole library's words.
    for secret in [
        "jwt",
        "JWT_SECRET",
        "Session",
        "postgres",
        "redis",
        "no-such-secret",
    ] {
        let args = ["plan", "compromise", "--secret", secret];
        let (warm, cold) = warm_and_cold(&test, &args);
        assert_same(&warm, &cold, secret);
        assert_eq!(warm.stderr.contains("error"), cold.stderr.contains("error"));
    }
    let (warm, cold) = warm_and_cold(&test, &["plan", "jwt-rotation", "--secret", "redis"]);
    warm.expect_code(2);
    assert_eq!(warm.stderr.lines().last(), cold.stderr.lines().last());
    let (warm, cold) = warm_and_cold(&test, &["plan", "jwt-rotatio"]);
    warm.expect_code(2);
    assert!(!warm.stderr.contains(PARTIAL), "{}", warm.stderr);
    assert_eq!(warm.stderr.lines().last(), cold.stderr.lines().last());
}

#[test]
fn an_edited_runbook_is_planned_as_edited_and_a_catalog_not_ours_is_not_used() {
    let test = Test::new().with_library();
    test.run_args(&["validate"]).expect_code(0);
    let args = ["plan", "compromise", "--secret", "jwt"];
    let (warm, _) = warm_and_cold(&test, &args);
    assert!(warm.stderr.contains(PARTIAL), "{}", warm.stderr);
    let before = warm.stdout;

    // An implied runbook changes: the plan shows the change, from the whole library first,
    // then (its catalog remembered again) from its involved files only.
    edit_session_impact(&test);
    for partial in [false, true] {
        let (warm, cold) = warm_and_cold(&test, &args);
        warm.expect_code(0);
        assert_same(&warm, &cold, "edited");
        assert_ne!(warm.stdout, before);
        assert!(warm.stdout.contains("Edited."), "{}", warm.stdout);
        assert_eq!(warm.stderr.contains(PARTIAL), partial, "{}", warm.stderr);
    }

    // A new runbook implied by jwt: it is involved at once.
    let jwt = String::from_utf8(test.read("runbooks/jwt-rotation.yaml")).expect("utf-8");
    let implying = jwt.replacen("implies: [session]", "implies: [session, redis]", 1);
    assert_ne!(jwt, implying);
    test.write("runbooks/jwt-rotation.yaml", implying.as_bytes());
    for _ in 0..2 {
        let (warm, cold) = warm_and_cold(&test, &args);
        assert_same(&warm, &cold, "implies redis");
        assert!(warm.stdout.contains("redis-rotation/"), "{}", warm.stdout);
    }

    // Writable by others, or garbled: the whole library is read.
    let catalog = test.path().join(".runbook/catalog.json");
    let good = std::fs::read(&catalog).expect("catalog");
    std::fs::set_permissions(&catalog, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    let (warm, cold) = warm_and_cold(&test, &args);
    assert_same(&warm, &cold, "foreign");
    assert!(!warm.stderr.contains(PARTIAL), "{}", warm.stderr);
    for garbage in [&b"{\"key\":\"0\0\xff"[..], &good[..good.len() / 2]] {
        std::fs::write(&catalog, garbage).expect("garble");
        std::fs::set_permissions(&catalog, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let (warm, cold) = warm_and_cold(&test, &args);
        assert_same(&warm, &cold, "garbled");
        assert!(!warm.stderr.contains(PARTIAL), "{}", warm.stderr);
    }
    // ... and the catalog is remembered again for the next plan.
    let (warm, _) = warm_and_cold(&test, &args);
    assert!(warm.stderr.contains(PARTIAL), "{}", warm.stderr);

    // The catalog of another library (its key) describes other bytes: not used.
    let other = String::from_utf8(good.clone()).expect("utf-8");
    let key_at = "{\"key\":\"".len();
    let forged = format!(
        "{}{}{}",
        &other[..key_at],
        "0".repeat(64),
        &other[key_at + 64..]
    );
    std::fs::write(&catalog, forged).expect("forge");
    let (warm, cold) = warm_and_cold(&test, &args);
    assert_same(&warm, &cold, "another key");
    assert!(!warm.stderr.contains(PARTIAL), "{}", warm.stderr);
}

//! The shipped library against the rotation table of the platform's secret-rotation guide:
//! every row has its runbook with the table's policy and impact, every runbook validates and
//! plans, every secret can be the target of `compromise`, and the guide's compromise rules hold
//! (JWT implies SESSION, database credentials imply APP_ENCRYPTION_KEY, MFA and app encryption
//! never rotate together).

mod common;

use common::Test;
use serde_json::Value;

/// One row of the guide's table: secret id, runbook, env names, policy as `list` shows it,
/// impact verbatim.
struct Row {
    id: &'static str,
    runbook: &'static str,
    env: &'static [&'static str],
    policy: &'static str,
    impact: &'static str,
}

const TABLE: &[Row] = &[
    Row {
        id: "user-api-keys",
        runbook: "user-api-keys",
        env: &[],
        policy: "user responsibility",
        impact: "Immediate",
    },
    Row {
        id: "jwt",
        runbook: "jwt-rotation",
        // The guide's variable, and the previous key that verifies during the overlap.
        env: &["JWT_SECRET", "JWT_SECRET_PREVIOUS"],
        policy: "every 90d",
        impact: "All active sessions invalidated (or none with dual-secret)",
    },
    Row {
        id: "app-encryption",
        runbook: "app-encryption-key-rotation",
        env: &["APP_ENCRYPTION_KEY"],
        policy: "every 365d",
        impact: "Requires data re-encryption migration",
    },
    Row {
        id: "mfa-encryption",
        runbook: "mfa-encryption-key-rotation",
        env: &["MFA_ENCRYPTION_KEY"],
        policy: "every 365d",
        impact: "Requires re-encryption migration; users locked out if skipped",
    },
    Row {
        id: "enrollment-pepper",
        runbook: "enrollment-key-pepper-rotation",
        env: &["ENROLLMENT_KEY_PEPPER"],
        policy: "every 365d",
        impact: "All unexpired enrollment keys invalidated",
    },
    Row {
        id: "recovery-pepper",
        runbook: "mfa-recovery-code-pepper-rotation",
        env: &["MFA_RECOVERY_CODE_PEPPER"],
        policy: "every 365d",
        impact: "All existing MFA recovery codes invalidated",
    },
    Row {
        id: "agent-enrollment",
        runbook: "agent-enrollment-secret-rotation",
        // The guide's variable, and the previous secret that enrolls during the overlap.
        env: &[
            "AGENT_ENROLLMENT_SECRET",
            "AGENT_ENROLLMENT_SECRET_PREVIOUS",
        ],
        policy: "every 90d",
        impact: "Only affects new enrollments",
    },
    Row {
        id: "session",
        runbook: "session-rotation",
        // The guide's variable, and the previous secret that verifies during the overlap.
        env: &["SESSION_SECRET", "SESSION_SECRET_PREVIOUS"],
        policy: "every 90d",
        impact: "All active sessions invalidated",
    },
    Row {
        id: "postgres",
        runbook: "postgres-password-rotation",
        env: &["POSTGRES_PASSWORD", "DATABASE_URL"],
        policy: "every 90d",
        impact: "Requires coordinated DB + app restart",
    },
    Row {
        id: "redis",
        runbook: "redis-rotation",
        env: &["REDIS_URL"],
        policy: "every 90d",
        impact: "Brief reconnection",
    },
    Row {
        id: "s3",
        runbook: "s3-keys-rotation",
        env: &["S3_ACCESS_KEY", "S3_SECRET_KEY"],
        policy: "every 90d",
        impact: "None",
    },
    Row {
        id: "cloudflare",
        runbook: "cloudflare-token-rotation",
        env: &["CLOUDFLARE_API_TOKEN"],
        policy: "every 90d",
        impact: "None (existing certs unaffected)",
    },
    Row {
        id: "turn",
        runbook: "turn-secret-rotation",
        env: &["TURN_SECRET"],
        policy: "every 90d",
        impact: "Active remote sessions may drop",
    },
    Row {
        id: "metrics",
        runbook: "metrics-token-rotation",
        // The guide's variable, and the previous token accepted during the overlap.
        env: &["METRICS_SCRAPE_TOKEN", "METRICS_SCRAPE_TOKEN_PREVIOUS"],
        policy: "every 180d",
        impact: "Brief gap in metrics collection",
    },
    Row {
        id: "email",
        runbook: "email-credentials-rotation",
        env: &[
            "RESEND_API_KEY",
            "SMTP_USER",
            "SMTP_PASS",
            "MAILGUN_API_KEY",
        ],
        policy: "provider policy",
        impact: "Brief notification gap",
    },
    Row {
        id: "twilio",
        runbook: "twilio-rotation",
        env: &["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"],
        policy: "provider policy",
        impact: "Brief SMS notification gap",
    },
    Row {
        id: "anthropic",
        runbook: "anthropic-key-rotation",
        env: &["ANTHROPIC_API_KEY"],
        policy: "provider policy",
        impact: "AI assistant unavailable",
    },
];

/// Runbooks whose credential is created and revoked in a provider's console.
const PROVIDER_RUNBOOKS: &[&str] = &[
    "s3-keys-rotation",
    "cloudflare-token-rotation",
    "email-credentials-rotation",
    "twilio-rotation",
    "anthropic-key-rotation",
];

fn library(args: &[&str]) -> common::Run {
    Test::new().with_library().args(args).run()
}

fn json(run: &common::Run) -> Value {
    run.expect_code(0);
    serde_json::from_str(&run.stdout).expect("the output is JSON")
}

fn list() -> Vec<Value> {
    json(&library(&["list", "--format", "json"]))
        .as_array()
        .expect("list JSON is an array")
        .clone()
}

/// The `secrets` the plan of `compromise --secret <secret>` rotates, in order.
fn closure(secret: &str) -> Vec<String> {
    let plan = json(&library(&[
        "plan",
        "compromise",
        "--secret",
        secret,
        "--format",
        "json",
    ]));
    plan["secrets"]
        .as_array()
        .expect("secrets")
        .iter()
        .map(|s| s["id"].as_str().expect("id").to_string())
        .collect()
}

#[test]
fn every_shipped_runbook_validates() {
    let run = library(&["validate", "runbooks"]);
    run.expect_code(0);
    // Every file but the library's README (which the loader passes over) is a runbook.
    let files = std::fs::read_dir(common::repo().join("runbooks"))
        .expect("runbooks/")
        .filter(|e| e.as_ref().unwrap().file_name() != "README.md")
        .count();
    assert!(
        run.stdout.contains(&format!("{files} runbooks valid"))
            || run.stderr.contains(&format!("{files} runbooks valid")),
        "{}{}",
        run.stdout,
        run.stderr
    );
}

#[test]
fn every_file_is_named_after_its_runbook_and_declares_the_schema() {
    let names: Vec<String> = list()
        .iter()
        .map(|r| r["runbook"].as_str().expect("runbook").to_string())
        .collect();
    let mut files = 0;
    for entry in std::fs::read_dir(common::repo().join("runbooks")).expect("runbooks/") {
        let path = entry.expect("entry").path();
        if path.file_name().is_some_and(|n| n == "README.md") {
            continue;
        }
        files += 1;
        let stem = path.file_stem().unwrap().to_str().unwrap().to_string();
        assert_eq!(path.extension().and_then(|e| e.to_str()), Some("yaml"));
        assert!(
            names.contains(&stem),
            "{stem}.yaml holds no runbook named {stem}"
        );
        let text = std::fs::read_to_string(&path).expect("read runbook");
        assert!(
            text.starts_with("# yaml-language-server: $schema=../schemas/runbook.schema.json\n"),
            "{} does not start with the schema comment",
            path.display()
        );
    }
    assert_eq!(files, names.len(), "one runbook per file");
}

#[test]
fn every_row_of_the_guide_table_has_its_runbook_with_policy_and_impact() {
    let rows = list();
    for row in TABLE {
        let entry = rows
            .iter()
            .find(|r| r["runbook"] == row.runbook)
            .unwrap_or_else(|| panic!("no runbook {}", row.runbook));
        assert_eq!(entry["secret"], row.id, "{}", row.runbook);
        let env: Vec<&str> = entry["env"]
            .as_array()
            .expect("env")
            .iter()
            .map(|e| e.as_str().unwrap())
            .collect();
        assert_eq!(env, row.env, "{}", row.runbook);
        assert_eq!(entry["policy"], row.policy, "{}", row.runbook);
        assert_eq!(entry["impact"], row.impact, "{}", row.runbook);
    }
    let secrets = rows.iter().filter(|r| !r["secret"].is_null()).count();
    assert_eq!(secrets, TABLE.len(), "a rotation runbook outside the table");
}

#[test]
fn list_json_names_every_env_variable_of_the_guide_table() {
    let rows = list();
    let env: Vec<&str> = rows
        .iter()
        .flat_map(|r| r["env"].as_array().unwrap().iter())
        .map(|e| e.as_str().unwrap())
        .collect();
    for name in [
        "JWT_SECRET",
        "APP_ENCRYPTION_KEY",
        "MFA_ENCRYPTION_KEY",
        "ENROLLMENT_KEY_PEPPER",
        "MFA_RECOVERY_CODE_PEPPER",
        "AGENT_ENROLLMENT_SECRET",
        "SESSION_SECRET",
        "POSTGRES_PASSWORD",
        "DATABASE_URL",
        "REDIS_URL",
        "S3_ACCESS_KEY",
        "S3_SECRET_KEY",
        "CLOUDFLARE_API_TOKEN",
        "TURN_SECRET",
        "METRICS_SCRAPE_TOKEN",
        "RESEND_API_KEY",
        "SMTP_USER",
        "SMTP_PASS",
        "MAILGUN_API_KEY",
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "ANTHROPIC_API_KEY",
    ] {
        assert!(env.contains(&name), "{name} missing from {env:?}");
    }
}

#[test]
fn every_runbook_plans() {
    for name in TABLE.iter().map(|r| r.runbook) {
        let run = library(&["plan", name]);
        run.expect_code(0);
        assert!(
            run.stdout.contains(&format!("{name}/")),
            "{name}:\n{}",
            run.stdout
        );
        json(&library(&["plan", name, "--format", "json"]));
    }
}

#[test]
fn compromise_plans_for_every_secret_id_and_env_name() {
    for row in TABLE {
        let secrets = closure(row.id);
        assert_eq!(secrets.first().map(String::as_str), Some(row.id));
        for env in row.env {
            library(&["plan", "compromise", "--secret", env]).expect_code(0);
        }
        let text = library(&["plan", "compromise", "--secret", row.id]);
        text.expect_code(0);
        for step in [
            "compromise/audit-logs",
            "compromise/notify",
            "compromise/report",
        ] {
            assert!(text.stdout.contains(step), "{}: no {step}", row.id);
        }
    }
}

#[test]
fn compromise_closures_follow_the_facts() {
    assert_eq!(closure("jwt"), ["jwt", "session"]);
    assert_eq!(closure("postgres"), ["postgres", "app-encryption"]);
    assert_eq!(closure("DATABASE_URL"), ["postgres", "app-encryption"]);
    // Implications run one way only.
    assert_eq!(closure("session"), ["session"]);
    assert_eq!(closure("app-encryption"), ["app-encryption"]);
    assert_eq!(closure("mfa-encryption"), ["mfa-encryption"]);
    let graph = library(&["graph"]);
    graph.expect_code(0);
    for edge in [
        "\"jwt\" -> \"session\" [label=\"implies\"]",
        "\"postgres\" -> \"app-encryption\" [label=\"implies\"]",
    ] {
        assert!(graph.stdout.contains(edge), "{}", graph.stdout);
    }
}

/// A test-only secret whose closure would hold both encryption keys: directly, and through the
/// shipped postgres -> app-encryption implication.
fn conflicting_fixture(implies: &str) -> Test {
    Test::new().with_library().file(
        "runbooks/zz-test-both-keys.yaml",
        &format!(
            "name: zz-test-both-keys\nsecret:\n  id: both-keys\n  env: [TEST_BOTH_KEYS]\n  every: 90d\n  impact: test only\n  implies: {implies}\nsteps:\n  - id: a\n    restart: [api]\n"
        ),
    )
}

#[test]
fn mfa_and_app_encryption_never_rotate_in_one_run() {
    for implies in [
        "[app-encryption, mfa-encryption]",
        "[postgres, mfa-encryption]",
    ] {
        let run = conflicting_fixture(implies)
            .args(&["plan", "compromise", "--secret", "both-keys"])
            .run();
        run.expect_code(2);
        assert!(
            run.stderr.contains("`app-encryption`") && run.stderr.contains("`mfa-encryption`"),
            "{implies}: {}",
            run.stderr
        );
        assert!(run.stdout.is_empty(), "{}", run.stdout);
    }
}

#[test]
fn provider_runbooks_end_by_revoking_the_old_credential() {
    for name in PROVIDER_RUNBOOKS {
        let plan = json(&library(&["plan", name, "--format", "json"]));
        let steps = plan["steps"].as_array().expect("steps");
        let revoke = format!("{name}/revoke");
        let at = steps
            .iter()
            .position(|s| s["name"] == revoke.as_str())
            .unwrap_or_else(|| panic!("{name}: no revoke step"));
        assert_eq!(steps[at]["kind"], "manual", "{name}");
        assert_eq!(steps[at]["irreversible"], true, "{name}");
        assert_eq!(plan["point_of_no_return"], revoke.as_str());
        // After the revocation only checks that the old credential is refused may follow.
        for step in &steps[at + 1..] {
            assert_eq!(step["kind"], "verify", "{name}: {step}");
        }
        // The new credential is read as a secret input, and proven before the old one goes.
        assert!(
            steps
                .iter()
                .any(|s| s["kind"] == "manual"
                    && s["change"].as_str().unwrap().contains(", secret)")),
            "{name}: no secret input"
        );
        assert!(
            steps[..at].iter().any(|s| s["kind"] == "verify"),
            "{name}: no verify step"
        );
    }
}

#[test]
fn restarts_recreate_the_services_that_read_each_secret() {
    for (runbook, restarts) in [
        ("turn-secret-rotation", &["restart api, coturn"][..]),
        // Prometheus is recreated after the api, once the api accepts the new token.
        (
            "metrics-token-rotation",
            &["restart api —", "restart prometheus —"],
        ),
        ("app-encryption-key-rotation", &["restart api, worker"]),
        ("mfa-encryption-key-rotation", &["restart api, worker"]),
        ("redis-rotation", &["restart api, worker"]),
        ("postgres-password-rotation", &["restart api, worker"]),
    ] {
        let run = library(&["plan", runbook]);
        run.expect_code(0);
        for restart in restarts {
            assert!(run.stdout.contains(restart), "{runbook}:\n{}", run.stdout);
        }
    }
    let turn = library(&["plan", "turn-secret-rotation"]);
    assert!(!turn.stdout.contains("restart turn"), "{}", turn.stdout);
}

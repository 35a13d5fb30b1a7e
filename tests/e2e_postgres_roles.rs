//! PostgreSQL with alternating login roles, against the real server the harness starts: the
//! roles alternate from one rotation to the next, a failed activate phase leaves the old role
//! the only one, a missing set-up is refused before anything changes, an incident revokes the
//! leaked role in the same run, and a run killed in either phase is resumed or aborted.

mod common;
#[path = "demo_service/roles.rs"]
mod roles;
#[path = "demo_service/support.rs"]
mod support;

use std::io::Write;
use std::process::{Command, Stdio};

use common::operator;
use common::servers::{PG_SUPERUSER, Postgres};
use roles::{PG_OLD, alternating_roles, login_and_password, postgres_demo, postgres_demo_as};
use support::{Deployment, get};

/// A second rotation switches back: the roles alternate.
#[test]
fn postgres_alternating_roles_switch_back_on_the_next_rotation() {
    let Some(pg) = Postgres::start() else { return };
    alternating_roles(&pg);
    let demo = postgres_demo(&pg, "recreate");
    for (round, role) in [(1, "breeze_b"), (2, "breeze_a")] {
        let (code, output) = demo.runbook(&["run", "postgres-password-rotation", "--yes"]);
        assert_eq!(code, 0, "round {round}: {output}");
        let (code, output) = demo.runbook(&["retire", "postgres", "--now", "--yes"]);
        assert_eq!(code, 0, "round {round}: {output}");
        let url = demo.env().get("DATABASE_URL").unwrap();
        assert!(url.starts_with(&format!("postgres://{role}:")), "{url}");
        assert_eq!(get(demo.port, "/health", None).0, 200);
    }
    assert!(pg.psql("breeze_a", PG_OLD, "breeze", "SELECT 1;").is_err());
    assert_eq!(login_and_password(&pg, "breeze_b"), "f|f");
}

#[test]
fn a_failed_activate_leaves_the_old_role_the_only_one() {
    let Some(pg) = Postgres::start() else { return };
    alternating_roles(&pg);
    let demo = postgres_demo(&pg, "recreate");
    let before = std::fs::read(demo.env_file()).unwrap();
    let (code, output) = demo.run_failing_health("postgres-password-rotation");
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("login"), "{output}");
    assert_eq!(
        std::fs::read(demo.env_file()).unwrap(),
        before,
        "the env file is byte-identical"
    );
    assert!(pg.psql("breeze_a", PG_OLD, "breeze", "SELECT 1;").is_ok());
    assert_eq!(
        login_and_password(&pg, "breeze_b"),
        "f|f",
        "the new role has neither LOGIN nor a password"
    );
    assert_eq!(get(demo.port, "/health", None).0, 200);
    let (code, status) = demo.runbook(&["retire", "postgres", "--now", "--yes"]);
    assert_ne!(code, 0, "nothing waits for retire: {status}");
}

#[test]
fn alternating_roles_without_their_set_up_are_refused_before_anything_changes() {
    let Some(pg) = Postgres::start() else { return };
    pg.create_role("breeze", PG_OLD, "breeze");
    let demo = postgres_demo_as(&pg, "recreate", "breeze", "");
    let before = std::fs::read(demo.env_file()).unwrap();
    let (code, output) = demo.runbook(&["run", "postgres-password-rotation", "--yes"]);
    assert_eq!(code, 1, "{output}");
    assert!(
        output.contains("the group role breeze_app does not exist")
            && output.contains("one-time set-up"),
        "{output}"
    );
    assert_eq!(std::fs::read(demo.env_file()).unwrap(), before);
    assert!(pg.psql("breeze", PG_OLD, "breeze", "SELECT 1;").is_ok());
}

/// How many sessions `role` has open, from the server's activity view.
fn sessions_of(pg: &Postgres, role: &str) -> u32 {
    let count = pg
        .psql(
            PG_SUPERUSER,
            pg.superuser_password(),
            "postgres",
            &format!("SELECT count(*) FROM pg_stat_activity WHERE usename = '{role}';"),
        )
        .unwrap();
    count.trim().parse().unwrap()
}

/// In an incident nothing overlaps: the app switches role, the leaked role loses LOGIN and
/// its password, and a session opened with the leaked credentials (the attacker's) is ended,
/// all in the compromise run, which also rotates APP_ENCRYPTION_KEY as the platform's rule asks.
#[test]
fn an_incident_revokes_the_leaked_role_and_ends_its_sessions_in_the_same_run() {
    let Some(pg) = Postgres::start() else { return };
    alternating_roles(&pg);
    let migrate = support::example_binary("demo-migrate");
    let migrate = migrate.display();
    let demo = postgres_demo_as(
        &pg,
        "recreate",
        "breeze_a",
        &format!(
            "  reencrypt_env_probe_command: printenv RUNBOOK_ENV_PROBE\n  \
             reencrypt_command: \"'{migrate}' --data data.jsonl\"\n  \
             reencrypt_dry_run_command: \"'{migrate}' --data data.jsonl --dry-run\"\n"
        ),
    );
    std::fs::copy(
        common::repo().join("examples/demo/data.template"),
        demo.dir.path().join("data.jsonl"),
    )
    .unwrap();
    let mut attacker = pg.psql_command("breeze_a", PG_OLD, "breeze");
    let mut attacker = attacker
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = attacker.stdin.take().unwrap();
    stdin.write_all(b"SELECT pg_sleep(600);\n").unwrap();
    drop(stdin);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while sessions_of(&pg, "breeze_a") == 0 {
        assert!(std::time::Instant::now() < deadline, "the session opened");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let first = demo.runbook(&["run", "compromise", "--secret", "postgres", "--yes"]);
    let (code, output, _) = operator::by_hand(first, |args| demo.runbook(args));
    assert_eq!(code, 0, "{output}");
    let url = demo.env().get("DATABASE_URL").unwrap();
    assert!(url.starts_with("postgres://breeze_b:"), "{url}");
    assert_eq!(login_and_password(&pg, "breeze_a"), "f|f", "{output}");
    let refused = pg
        .psql("breeze_a", PG_OLD, "breeze", "SELECT 1;")
        .unwrap_err();
    assert!(
        refused.contains("password authentication failed"),
        "{refused}"
    );
    let ended = attacker.wait_with_output().unwrap();
    assert!(
        String::from_utf8_lossy(&ended.stderr).contains("terminating connection"),
        "the leaked role's session was ended: {}",
        String::from_utf8_lossy(&ended.stderr)
    );
    assert_eq!(get(demo.port, "/health", None).0, 200);
    let (code, retire) = demo.runbook(&["retire", "postgres", "--now", "--yes"]);
    assert_ne!(code, 0, "nothing is left to retire: {retire}");
    assert!(!output.contains(PG_OLD), "no password in the output");
}

/// `runbook ARGS` killed by the failpoint at `boundary`; the id of the run it left unfinished.
fn killed(demo: &Deployment, args: &[&str], boundary: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_runbook"))
        .args(args)
        .current_dir(demo.dir.path())
        .env("NO_COLOR", "1")
        .env("RUNBOOK_FAILPOINT", boundary)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        None,
        "{boundary}: killed, not finished: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::read_to_string(demo.dir.path().join(".runbook/active"))
        .expect("an unfinished run")
        .trim()
        .to_owned()
}

/// Killed in the activate phase after the new role got LOGIN, `abort` leaves the old role the
/// only one; killed there again, `resume` ends waiting for retire; killed in the retire phase
/// after the old role lost LOGIN, `resume` finishes the retire.
#[test]
fn a_rotation_killed_in_either_phase_is_aborted_or_resumed() {
    let Some(pg) = Postgres::start() else { return };
    alternating_roles(&pg);
    let demo = postgres_demo(&pg, "recreate");
    let before = std::fs::read(demo.env_file()).unwrap();
    let run = ["run", "postgres-password-rotation", "--yes"];
    let id = killed(&demo, &run, "after-effect:postgres-password-rotation/login");
    assert_eq!(login_and_password(&pg, "breeze_b"), "t|t");
    let (code, output) = demo.runbook(&["abort", &id, "--yes"]);
    assert_eq!(code, 0, "{output}");
    assert_eq!(std::fs::read(demo.env_file()).unwrap(), before);
    assert_eq!(login_and_password(&pg, "breeze_b"), "f|f", "{output}");
    assert!(pg.psql("breeze_a", PG_OLD, "breeze", "SELECT 1;").is_ok());

    let id = killed(
        &demo,
        &run,
        "after-effect:postgres-password-rotation/switch",
    );
    let (code, output) = demo.runbook(&["resume", &id, "--yes"]);
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("waiting for retire"), "{output}");
    let url = demo.env().get("DATABASE_URL").unwrap();
    assert!(url.starts_with("postgres://breeze_b:"), "{url}");
    assert!(pg.psql("breeze_a", PG_OLD, "breeze", "SELECT 1;").is_ok());

    let retire = ["retire", "postgres", "--now", "--yes"];
    let id = killed(
        &demo,
        &retire,
        "after-effect:postgres-password-rotation/retire-old",
    );
    assert_eq!(login_and_password(&pg, "breeze_a"), "f|f");
    let (code, output) = demo.runbook(&["resume", &id, "--yes"]);
    assert_eq!(code, 0, "{output}");
    assert!(pg.psql("breeze_a", PG_OLD, "breeze", "SELECT 1;").is_err());
    assert_eq!(login_and_password(&pg, "breeze_b"), "t|t");
    assert_eq!(get(demo.port, "/health", None).0, 200);
}

/// A mode that is neither is refused by the first step, before any server is asked.
#[test]
fn an_unknown_mode_is_refused_before_anything_changes() {
    let demo = Deployment::new();
    support::set_env(
        &demo,
        "DATABASE_URL",
        "postgres://breeze_a:unused@127.0.0.1:9/breeze",
    );
    demo.configure("  postgres_roles: alternate\n  postgres_exporter_env_file: none\n");
    let before = std::fs::read(demo.env_file()).unwrap();
    let (code, output) = demo.runbook(&["run", "postgres-password-rotation", "--yes"]);
    assert_eq!(code, 1, "{output}");
    assert!(
        output.contains("postgres_roles must be 'single' or 'alternating', not 'alternate'"),
        "{output}"
    );
    assert_eq!(std::fs::read(demo.env_file()).unwrap(), before);
}

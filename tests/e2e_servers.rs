//! End to end against real servers: the shipped PostgreSQL and Redis runbooks rotate a real
//! role password and a real `requirepass` (servers started by the harness on loopback), the
//! demo service reconnects with the new credentials — and when a verify fails, everything is
//! back: the server's old password, the env file byte for byte, a working service.

mod common;
#[path = "demo_service/support.rs"]
mod support;

use common::servers::{Postgres, Redis};
use support::{Deployment, get, set_env};

const PG_OLD: &str = "Old-Pg-Password-1234";
const REDIS_OLD: &str = "old-redis-password-5678";

fn postgres_deployment(pg: &Postgres) -> Deployment {
    postgres_deployment_with(pg, "  postgres_exporter_env_file: none\n")
}

/// `extra_vars`: more indented `  key: value` lines for the deployment's config.
fn postgres_deployment_with(pg: &Postgres, extra_vars: &str) -> Deployment {
    pg.create_role("breeze", PG_OLD, "breeze");
    let demo = Deployment::new();
    set_env(&demo, "POSTGRES_PASSWORD", PG_OLD);
    set_env(&demo, "DATABASE_URL", &pg.url("breeze", PG_OLD, "breeze"));
    let psql = format!(
        "psql -X -w -q -A -t -h 127.0.0.1 -p {} -U breeze -d breeze -v ON_ERROR_STOP=1",
        pg.port
    );
    demo.configure(&format!(
        "  psql: {psql}\n  psql_login: {psql}\n{extra_vars}"
    ));
    demo.restart_ok(&["api"]);
    assert_eq!(
        get(demo.port, "/health", None).0,
        200,
        "the service connects with the old password"
    );
    demo
}

#[test]
fn postgres_rotation_changes_the_role_password_and_the_service_reconnects() {
    let Some(pg) = Postgres::start() else { return };
    let demo = postgres_deployment(&pg);
    let (code, output) = demo.runbook(&["run", "postgres-password-rotation", "--yes"]);
    assert_eq!(code, 0, "{output}");
    let env = demo.env();
    let new = env.get("POSTGRES_PASSWORD").unwrap();
    assert_ne!(new, PG_OLD);
    assert_eq!(
        env.get("DATABASE_URL").unwrap(),
        pg.url("breeze", &new, "breeze"),
        "DATABASE_URL carries the new password"
    );
    assert!(
        pg.psql("breeze", &new, "breeze", "SELECT 1").is_ok(),
        "psql with the new password works"
    );
    assert!(
        pg.psql("breeze", PG_OLD, "breeze", "SELECT 1").is_err(),
        "psql with the old password fails"
    );
    assert_eq!(
        get(demo.port, "/health", None).0,
        200,
        "the restarted service connects with the new password"
    );
    assert!(
        !output.contains(&new) && !output.contains(PG_OLD),
        "no password in the output"
    );
}

/// With every statement logged (audited deployments log at least DDL), the server's log shows
/// the ALTER USER with a SCRAM verifier, never the new password, and the password still works.
#[test]
fn postgres_rotation_sends_a_scram_verifier_and_the_log_never_shows_the_password() {
    let Some(pg) = Postgres::start() else { return };
    // The exporter's env file is rewritten too (the restart driver maps every service name to
    // the demo process).
    let demo = postgres_deployment_with(&pg, "  postgres_exporter_env_file: exporter.env\n");
    std::fs::write(
        demo.dir.path().join("exporter.env"),
        format!("DATA_SOURCE_NAME={}\n", pg.url("breeze", PG_OLD, "breeze")),
    )
    .unwrap();
    // Per role, so every session the runbook opens as breeze logs all it sends (no reload race).
    pg.psql(
        pg.superuser(),
        pg.superuser_password(),
        "postgres",
        "ALTER ROLE breeze SET log_statement = 'all';",
    )
    .expect("log every statement of breeze");
    let (code, output) = demo.runbook(&["run", "postgres-password-rotation", "--yes"]);
    assert_eq!(code, 0, "{output}");
    let new = demo.env().get("POSTGRES_PASSWORD").unwrap();
    let log = std::fs::read_to_string(pg.dir.path().join("postgres.log")).unwrap();
    let logged = log
        .lines()
        .find(|l| l.contains("ALTER USER \"breeze\" PASSWORD"))
        .unwrap_or_else(|| panic!("the ALTER USER statement is logged:\n{log}"));
    assert!(
        logged.contains("PASSWORD 'SCRAM-SHA-256$4096:"),
        "the statement carries a verifier: {logged}"
    );
    assert!(
        !log.contains(&new),
        "the new password is not in the server log"
    );
    assert!(
        pg.psql("breeze", &new, "breeze", "SELECT 1").is_ok(),
        "the verifier accepts the new password"
    );
    assert!(pg.psql("breeze", PG_OLD, "breeze", "SELECT 1").is_err());
    assert_eq!(
        std::fs::read_to_string(demo.dir.path().join("exporter.env")).unwrap(),
        format!("DATA_SOURCE_NAME={}\n", pg.url("breeze", &new, "breeze")),
        "the exporter's DSN carries the new password"
    );
    let verifier = logged.split('\'').nth(1).unwrap();
    let keys = verifier.rsplit_once('$').unwrap().1;
    assert!(
        !output.contains(keys),
        "the verifier's keys are masked in runbook's output"
    );
}

#[test]
fn postgres_rotation_with_a_failing_verify_puts_everything_back() {
    let Some(pg) = Postgres::start() else { return };
    let demo = postgres_deployment(&pg);
    let before = std::fs::read(demo.env_file()).unwrap();
    let (code, output) = demo.run_failing_health("postgres-password-rotation");
    assert_eq!(code, 1, "{output}");
    assert_eq!(
        std::fs::read(demo.env_file()).unwrap(),
        before,
        "the env file is byte-identical"
    );
    assert!(
        pg.psql("breeze", PG_OLD, "breeze", "SELECT 1").is_ok(),
        "the role has its old password back"
    );
    assert_eq!(
        get(demo.port, "/health", None).0,
        200,
        "the service works with the old credentials"
    );
}

fn redis_deployment(redis: &Redis) -> Deployment {
    let demo = Deployment::new();
    set_env(&demo, "REDIS_URL", &redis.url(REDIS_OLD));
    demo.configure(&format!(
        "  redis_cli: redis-cli -h 127.0.0.1 -p {}\n",
        redis.port
    ));
    demo.restart_ok(&["api"]);
    assert_eq!(
        get(demo.port, "/health", None).0,
        200,
        "the service connects with the old password"
    );
    demo
}

/// The `default` user (requirepass): requirepass becomes the new password and the old one
/// stays as a second password of `default` for the overlap; retire removes it.
#[test]
fn redis_rotation_of_the_default_user_overlaps_and_retire_removes_the_old_password() {
    let Some(redis) = Redis::start(REDIS_OLD) else {
        return;
    };
    let demo = redis_deployment(&redis);
    let (code, output) = demo.runbook(&["run", "redis-rotation", "--yes"]);
    assert_eq!(code, 0, "{output}");
    let url = demo.env().get("REDIS_URL").unwrap();
    let new = url
        .trim_start_matches("redis://:")
        .split('@')
        .next()
        .unwrap()
        .to_string();
    assert_ne!(new, REDIS_OLD);
    assert_eq!(
        redis.cli(Some(&new), "PING").unwrap().trim(),
        "PONG",
        "AUTH with the new password works"
    );
    assert_eq!(
        redis.cli(Some(REDIS_OLD), "PING").unwrap().trim(),
        "PONG",
        "during the overlap AUTH with the old password works too"
    );
    let config = std::fs::read_to_string(&redis.config_path).unwrap();
    assert!(
        config.contains(&format!("requirepass \"{new}\"")),
        "CONFIG REWRITE persisted the new requirepass:\n{config}"
    );
    assert_eq!(
        get(demo.port, "/health", None).0,
        200,
        "the restarted service connects with the new password"
    );
    let (code, retired) = demo.runbook(&["retire", "redis", "--now", "--yes"]);
    assert_eq!(code, 0, "{retired}");
    assert!(
        redis.cli(Some(REDIS_OLD), "PING").is_err(),
        "after retire AUTH with the old password fails"
    );
    assert_eq!(redis.cli(Some(&new), "PING").unwrap().trim(), "PONG");
    assert_eq!(get(demo.port, "/health", None).0, 200);
    for text in [&output, &retired] {
        assert!(
            !text.contains(&new) && !text.contains(REDIS_OLD),
            "no password in the output"
        );
    }
}

#[test]
fn redis_rotation_with_a_failing_verify_puts_everything_back() {
    let Some(redis) = Redis::start(REDIS_OLD) else {
        return;
    };
    let demo = redis_deployment(&redis);
    let before = std::fs::read(demo.env_file()).unwrap();
    let (code, output) = demo.run_failing_health("redis-rotation");
    assert_eq!(code, 1, "{output}");
    assert_eq!(
        std::fs::read(demo.env_file()).unwrap(),
        before,
        "the env file is byte-identical"
    );
    assert_eq!(
        redis.cli(Some(REDIS_OLD), "PING").unwrap().trim(),
        "PONG",
        "the old password works again"
    );
    assert_eq!(
        get(demo.port, "/health", None).0,
        200,
        "the service works with the old credentials"
    );
}

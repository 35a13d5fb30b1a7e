//! Zero-impact rotations of the database rows, proven under load against real servers: the
//! real `runbook` rotates the PostgreSQL credentials (alternating login roles) and the Redis
//! password in two phases, through the demo's blue/green restart, while `demo-load` keeps
//! requesting the service and opens new connections with the credentials the app had at the
//! start. The activate phase fails no request and refuses no credential; the retire fails no
//! request; afterwards the pre-rotation credentials are refused.

mod common;
#[path = "demo_service/load.rs"]
mod load;
#[path = "demo_service/support.rs"]
mod support;

use common::servers::{PG_SUPERUSER, Postgres, Redis};
use load::under_load;
use support::{Deployment, get, set_env};

const PG_OLD: &str = "Old-Role-A-Password-1234";
const REDIS_OLD: &str = "old-redis-password-under-load";

/// The one-time set-up the runbook's description gives: a group role owning the objects, two
/// login roles in it (only `breeze_a` with LOGIN), each taking the group role on at login.
fn alternating_roles(pg: &Postgres) {
    let setup = format!(
        "CREATE ROLE breeze_app NOLOGIN;\n\
         CREATE ROLE breeze_a LOGIN PASSWORD '{PG_OLD}' IN ROLE breeze_app;\n\
         CREATE ROLE breeze_b NOLOGIN IN ROLE breeze_app;\n\
         ALTER ROLE breeze_a SET role = 'breeze_app';\n\
         ALTER ROLE breeze_b SET role = 'breeze_app';\n\
         CREATE DATABASE breeze OWNER breeze_app;\n"
    );
    superuser(pg, "postgres", &setup);
    superuser(
        pg,
        "breeze",
        "CREATE TABLE devices (name text);\nINSERT INTO devices VALUES ('d1');\n\
         ALTER TABLE devices OWNER TO breeze_app;\n",
    );
}

fn superuser(pg: &Postgres, database: &str, sql: &str) -> String {
    pg.psql(PG_SUPERUSER, pg.superuser_password(), database, sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// A demo restarted by `mode` whose app connects as `breeze_a`; POSTGRES_PASSWORD is the
/// administrator's, as the postgres image's superuser is.
fn postgres_demo(pg: &Postgres, mode: &str) -> Deployment {
    let demo = Deployment::new();
    demo.restart_mode(mode);
    set_env(&demo, "POSTGRES_PASSWORD", pg.superuser_password());
    set_env(&demo, "DATABASE_URL", &pg.url("breeze_a", PG_OLD, "breeze"));
    let connect = format!("psql -X -w -q -A -t -h 127.0.0.1 -p {}", pg.port);
    demo.configure(&format!(
        "  postgres_roles: alternating\n  postgres_exporter_env_file: none\n  \
         psql: {connect} -U {PG_SUPERUSER} -d breeze -v ON_ERROR_STOP=1\n  \
         psql_login_as: {connect} -d breeze -v ON_ERROR_STOP=1\n"
    ));
    demo.restart_ok(&["api"]);
    assert_eq!(
        get(demo.port, "/health", None).0,
        200,
        "connects as breeze_a"
    );
    demo
}

/// Whether `role` may log in, and whether it has a password, from the catalog.
fn login_and_password(pg: &Postgres, role: &str) -> String {
    superuser(
        pg,
        "postgres",
        &format!(
            "SELECT rolcanlogin, rolpassword IS NOT NULL FROM pg_authid WHERE rolname = '{role}';"
        ),
    )
    .trim()
    .to_owned()
}

#[test]
fn postgres_alternating_roles_in_two_phases_cost_clients_nothing_under_load() {
    let Some(pg) = Postgres::start() else { return };
    alternating_roles(&pg);
    let demo = postgres_demo(&pg, "bluegreen");
    let (output, activated) = under_load(
        &demo,
        &["run", "postgres-password-rotation", "--yes"],
        &["--postgres"],
    );
    assert!(output.contains("waiting for retire"), "{output}");
    activated.assert_no_impact(&["health", "postgres_before"], &demo.log());
    let env = demo.env();
    assert_eq!(
        env.get("POSTGRES_PASSWORD").unwrap(),
        pg.superuser_password(),
        "the administrator's password is not the app's: left alone"
    );
    let url = env.get("DATABASE_URL").unwrap();
    let new = url
        .strip_prefix("postgres://breeze_b:")
        .and_then(|rest| rest.split_once('@'))
        .map(|(password, _)| password.to_owned())
        .unwrap_or_else(|| panic!("DATABASE_URL connects as breeze_b: {url}"));
    assert_eq!(url, pg.url("breeze_b", &new, "breeze"));
    assert_eq!(
        pg.psql("breeze_b", &new, "breeze", "SELECT name FROM devices;")
            .unwrap()
            .trim(),
        "d1",
        "the new role reaches the group's objects"
    );
    assert!(
        pg.psql("breeze_a", PG_OLD, "breeze", "SELECT 1;").is_ok(),
        "during the overlap the old role still logs in"
    );

    // The retire under load: clients holding the new credentials see no failure.
    let (retired_output, retired) = under_load(
        &demo,
        &["retire", "postgres", "--now", "--yes"],
        &["--postgres"],
    );
    assert_eq!(
        retired.total("failed"),
        0,
        "{retired}\nlog:\n{}",
        demo.log()
    );
    assert_eq!(retired.total("rejected"), 0, "{retired}");
    let refused = pg
        .psql("breeze_a", PG_OLD, "breeze", "SELECT 1;")
        .unwrap_err();
    assert!(
        refused.contains("password authentication failed"),
        "once retired the old credentials are refused: {refused}"
    );
    assert_eq!(login_and_password(&pg, "breeze_a"), "f|f");
    assert_eq!(login_and_password(&pg, "breeze_b"), "t|t");
    assert_eq!(get(demo.port, "/health", None).0, 200);
    for text in [&output, &retired_output] {
        assert!(
            !text.contains(&new) && !text.contains(PG_OLD),
            "no password in the output"
        );
    }
}

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
    // The last verify asks a port nothing listens on: the activate phase fails after the restart.
    let (code, output) = demo.runbook(&[
        "run",
        "postgres-password-rotation",
        "--yes",
        "--var",
        "api_url=http://127.0.0.1:9",
        "--var",
        "health_interval=50ms",
    ]);
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
    let demo = Deployment::new();
    set_env(&demo, "POSTGRES_PASSWORD", pg.superuser_password());
    set_env(&demo, "DATABASE_URL", &pg.url("breeze", PG_OLD, "breeze"));
    let connect = format!("psql -X -w -q -A -t -h 127.0.0.1 -p {}", pg.port);
    demo.configure(&format!(
        "  postgres_roles: alternating\n  postgres_exporter_env_file: none\n  \
         psql: {connect} -U {PG_SUPERUSER} -d breeze -v ON_ERROR_STOP=1\n  \
         psql_login_as: {connect} -d breeze -v ON_ERROR_STOP=1\n"
    ));
    demo.restart_ok(&["api"]);
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

fn redis_demo(redis: &Redis) -> Deployment {
    let demo = Deployment::new();
    demo.restart_mode("bluegreen");
    set_env(&demo, "REDIS_URL", &redis.url(REDIS_OLD));
    demo.configure(&format!(
        "  redis_cli: redis-cli -h 127.0.0.1 -p {}\n",
        redis.port
    ));
    demo.restart_ok(&["api"]);
    assert_eq!(get(demo.port, "/health", None).0, 200);
    demo
}

#[test]
fn redis_rotation_in_two_phases_costs_clients_nothing_under_load() {
    let Some(redis) = Redis::start(REDIS_OLD) else {
        return;
    };
    let demo = redis_demo(&redis);
    let (output, activated) = under_load(&demo, &["run", "redis-rotation", "--yes"], &["--redis"]);
    assert!(output.contains("waiting for retire"), "{output}");
    activated.assert_no_impact(&["health", "redis_before"], &demo.log());
    assert_eq!(
        redis.cli(Some(REDIS_OLD), "PING").unwrap().trim(),
        "PONG",
        "overlap"
    );

    let (_, retired) = under_load(&demo, &["retire", "redis", "--now", "--yes"], &["--redis"]);
    assert_eq!(
        retired.total("failed"),
        0,
        "{retired}\nlog:\n{}",
        demo.log()
    );
    assert_eq!(retired.total("rejected"), 0, "{retired}");
    let refused = redis.cli(Some(REDIS_OLD), "PING").unwrap_err();
    assert!(
        refused.contains("WRONGPASS") || refused.contains("AUTH failed"),
        "once retired the pre-rotation password is refused: {refused}"
    );
    assert_eq!(get(demo.port, "/health", None).0, 200);
}

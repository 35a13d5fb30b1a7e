//! Zero-impact rotations of the database rows, proven under load against real servers: the
//! real `runbook` rotates the PostgreSQL credentials (alternating login roles) and the Redis
//! password in two phases, through the demo's blue/green restart, while `demo-load` keeps
//! requesting the service and opens new connections with the credentials the app had at the
//! start. The activate phase fails no request and refuses no credential; the retire fails no
//! request; afterwards the pre-rotation credentials are refused.

mod common;
#[path = "demo_service/load.rs"]
mod load;
#[path = "demo_service/roles.rs"]
mod roles;
#[path = "demo_service/support.rs"]
mod support;

use common::servers::{Postgres, Redis};
use load::under_load;
use roles::{PG_OLD, alternating_roles, login_and_password, postgres_demo};
use support::{Deployment, get, set_env};

const REDIS_OLD: &str = "old-redis-password-under-load";

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
    activated.assert_no_impact(&["health", "postgres_before"], 2, &demo.log());
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
    activated.assert_no_impact(&["health", "redis_before"], 2, &demo.log());
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

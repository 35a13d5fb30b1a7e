//! Owns the PostgreSQL side of the alternating-roles tests: the one-time set-up of two login
//! roles in a group role, a demo deployment whose app connects as the first, and what the
//! catalog says of a role.

// Each test binary that includes this module uses a different part of it.
#![allow(dead_code)]

use crate::common::servers::{PG_SUPERUSER, Postgres};
use crate::support::{Deployment, get, set_env};

pub(crate) const PG_OLD: &str = "Old-Role-A-Password-1234";

/// The one-time set-up the runbook's description gives: a group role owning the objects, two
/// login roles in it (only `breeze_a` with LOGIN), each taking the group role on at login.
pub(crate) fn alternating_roles(pg: &Postgres) {
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

pub(crate) fn superuser(pg: &Postgres, database: &str, sql: &str) -> String {
    pg.psql(PG_SUPERUSER, pg.superuser_password(), database, sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// A demo restarted by `mode` whose app connects as `breeze_a`; POSTGRES_PASSWORD is the
/// administrator's, as the postgres image's superuser is.
pub(crate) fn postgres_demo(pg: &Postgres, mode: &str) -> Deployment {
    postgres_demo_as(pg, mode, "breeze_a", "")
}

/// [`postgres_demo`] with the app connecting as `user` (password [`PG_OLD`]), with the
/// runbook in its alternating mode, its `psql` commands pointed at the server, and
/// `extra_vars` (indented `  key: value` lines).
pub(crate) fn postgres_demo_as(
    pg: &Postgres,
    mode: &str,
    user: &str,
    extra_vars: &str,
) -> Deployment {
    let demo = Deployment::new();
    demo.restart_mode(mode);
    set_env(&demo, "POSTGRES_PASSWORD", pg.superuser_password());
    set_env(&demo, "DATABASE_URL", &pg.url(user, PG_OLD, "breeze"));
    let connect = format!("psql -X -w -q -A -t -h 127.0.0.1 -p {}", pg.port);
    demo.configure(&format!(
        "  postgres_roles: alternating\n  postgres_exporter_env_file: none\n  \
         psql: {connect} -U {PG_SUPERUSER} -d breeze -v ON_ERROR_STOP=1\n  \
         psql_login_as: {connect} -d breeze -v ON_ERROR_STOP=1\n{extra_vars}"
    ));
    demo.restart_ok(&["api"]);
    assert_eq!(get(demo.port, "/health", None).0, 200, "connects as {user}");
    demo
}

/// Whether `role` may log in, and whether it has a password, from the catalog.
pub(crate) fn login_and_password(pg: &Postgres, role: &str) -> String {
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

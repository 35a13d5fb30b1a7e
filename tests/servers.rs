//! Proves the real-server harness in `common::servers`: passwords are really checked, rotating
//! them through the servers' own commands takes effect, and nothing outlives its handle.

mod common;

use std::collections::BTreeSet;
use std::net::TcpStream;

use common::servers::{Postgres, Redis, sql_literal};

/// Characters that need quoting in SQL, redis.conf and URLs alike.
const AWKWARD: &str = "p@ss:w/rd 'q' \"d\" \\ %";
const AWKWARD_ENCODED: &str = "p%40ss%3Aw%2Frd%20%27q%27%20%22d%22%20%5C%20%25";

#[test]
fn postgres_checks_role_passwords_and_alter_user_rotates_them() {
    let Some(pg) = Postgres::start() else { return };
    let (old, new) = (AWKWARD, "rotated-secret");
    pg.create_role("app", old, "appdb");
    let url = format!(
        "postgres://app:{AWKWARD_ENCODED}@127.0.0.1:{}/appdb",
        pg.port
    );
    assert_eq!(pg.url("app", old, "appdb"), url);

    assert_eq!(
        pg.psql(
            "app",
            old,
            "appdb",
            "SELECT current_user, current_database()"
        ),
        Ok("app|appdb\n".to_string())
    );
    let refused = pg.psql("app", new, "appdb", "SELECT 1").unwrap_err();
    assert!(
        refused.contains("password authentication failed"),
        "{refused}"
    );

    pg.psql(
        pg.superuser(),
        pg.superuser_password(),
        "postgres",
        &format!("ALTER USER app PASSWORD {}", sql_literal(new)),
    )
    .expect("superuser rotates the password");

    let refused = pg.psql("app", old, "appdb", "SELECT 1").unwrap_err();
    assert!(
        refused.contains("password authentication failed"),
        "{refused}"
    );
    assert_eq!(pg.psql("app", new, "appdb", "SELECT 1"), Ok("1\n".into()));
}

#[test]
fn postgres_superuser_needs_its_password() {
    let Some(pg) = Postgres::start() else { return };
    let ok = pg.psql(
        pg.superuser(),
        pg.superuser_password(),
        "postgres",
        "SELECT 1",
    );
    assert_eq!(ok, Ok("1\n".into()));
    let refused = pg
        .psql(pg.superuser(), "not-the-password", "postgres", "SELECT 1")
        .unwrap_err();
    assert!(
        refused.contains("password authentication failed"),
        "{refused}"
    );
}

#[test]
fn postgres_sql_errors_come_back_as_err() {
    let Some(pg) = Postgres::start() else { return };
    let su = (pg.superuser(), pg.superuser_password());
    let err = pg
        .psql(su.0, su.1, "postgres", "SELECT * FROM missing")
        .unwrap_err();
    assert!(err.contains("does not exist"), "{err}");
}

#[test]
fn redis_checks_requirepass_and_config_rewrite_persists_the_new_one() {
    let old = AWKWARD;
    let new = "rotated-secret";
    let Some(redis) = Redis::start(old) else {
        return;
    };

    let url = format!("redis://:{AWKWARD_ENCODED}@127.0.0.1:{}", redis.port);
    assert_eq!(redis.url(old), url);
    assert_eq!(redis.cli(Some(old), "PING"), Ok("PONG\n".into()));
    let refused = redis.cli(Some(new), "PING").unwrap_err();
    assert!(refused.contains("WRONGPASS"), "{refused}");
    let refused = redis.cli(None, "PING").unwrap_err();
    assert!(refused.contains("NOAUTH"), "{refused}");

    redis
        .cli(
            Some(old),
            &format!("CONFIG SET requirepass {new}\nCONFIG REWRITE\n"),
        )
        .expect("rotate and persist");

    let config = std::fs::read_to_string(&redis.config_path).unwrap();
    let requirepass: Vec<&str> = config
        .lines()
        .filter_map(|line| line.strip_prefix("requirepass "))
        .map(|value| value.trim().trim_matches('"'))
        .collect();
    assert_eq!(requirepass, [new], "{config}");

    let refused = redis.cli(Some(old), "PING").unwrap_err();
    assert!(refused.contains("WRONGPASS"), "{refused}");
    assert_eq!(redis.cli(Some(new), "PING"), Ok("PONG\n".into()));
}

#[test]
fn redis_error_replies_come_back_as_err() {
    let Some(redis) = Redis::start("pw") else {
        return;
    };
    let err = redis.cli(Some("pw"), "NOSUCHCOMMAND").unwrap_err();
    assert!(err.contains("ERR unknown command"), "{err}");
    assert_eq!(
        redis.cli(Some("pw"), "SET k v\nGET k"),
        Ok("OK\nv\n".into())
    );
}

#[test]
fn dropped_servers_release_their_port_and_temp_dir() {
    let Some(pg) = Postgres::start() else { return };
    let Some(redis) = Redis::start("pw") else {
        return;
    };
    let ports = [pg.port, redis.port];
    let dirs = [pg.dir.path().to_path_buf(), redis.dir.path().to_path_buf()];
    for port in ports {
        TcpStream::connect(("127.0.0.1", port)).expect("listening before drop");
    }

    drop(pg);
    drop(redis);

    for port in ports {
        let refused = TcpStream::connect(("127.0.0.1", port)).unwrap_err();
        assert_eq!(
            refused.kind(),
            std::io::ErrorKind::ConnectionRefused,
            "port {port}"
        );
    }
    for dir in dirs {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
}

#[test]
fn servers_started_in_parallel_get_their_own_ports() {
    let postgres: Vec<_> = (0..3)
        .map(|_| std::thread::spawn(Postgres::start))
        .collect();
    let redis: Vec<_> = (0..3)
        .map(|i| std::thread::spawn(move || Redis::start(&format!("pw{i}"))))
        .collect();
    let postgres: Vec<Postgres> = postgres
        .into_iter()
        .filter_map(|t| t.join().unwrap())
        .collect();
    let redis: Vec<Redis> = redis
        .into_iter()
        .filter_map(|t| t.join().unwrap())
        .collect();

    let ports: BTreeSet<u16> = postgres
        .iter()
        .map(|p| p.port)
        .chain(redis.iter().map(|r| r.port))
        .collect();
    assert_eq!(ports.len(), postgres.len() + redis.len(), "{ports:?}");
    for pg in &postgres {
        let su = (pg.superuser(), pg.superuser_password());
        assert_eq!(
            pg.psql(su.0, su.1, "postgres", "SELECT 1"),
            Ok("1\n".into())
        );
    }
    for (i, r) in redis.iter().enumerate() {
        assert_eq!(r.cli(Some(&format!("pw{i}")), "PING"), Ok("PONG\n".into()));
    }
}

#[test]
fn passwords_stay_out_of_process_arguments() {
    let secret = "argv-must-not-show-this";
    let Some(pg) = Postgres::start() else { return };
    let Some(redis) = Redis::start(secret) else {
        return;
    };
    pg.create_role("app", secret, "appdb");

    let commands = [
        (pg.psql_command("app", secret, "appdb"), "PGPASSWORD"),
        (redis.cli_command(Some(secret)), "REDISCLI_AUTH"),
    ];
    for (command, variable) in &commands {
        let argv: Vec<_> = command.get_args().map(|a| a.to_string_lossy()).collect();
        assert!(!argv.iter().any(|a| a.contains(secret)), "{argv:?}");
        let env: Vec<_> = command.get_envs().collect();
        assert!(
            env.iter()
                .any(|(k, v)| *k == *variable && v.is_some_and(|v| v == secret)),
            "{variable} not set: {env:?}"
        );
    }
    let superuser = pg.superuser_password();
    // The running servers' own command lines, as `ps` shows them.
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline);
        assert!(
            !cmdline.contains(secret) && !cmdline.contains(superuser),
            "{cmdline}"
        );
    }
}

//! Proves the demo deployment (`examples/demo/`) behaves as the shipped runbooks rely on: the
//! real `demo-service` binary, started through the real `restart.sh`, picks up a rotated secret
//! only when restarted, refuses unsafe configurations, and checks its backends with the
//! credentials from its env file without ever exposing them.

#[path = "demo_service/support.rs"]
mod support;

use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, Instant};

use support::{Deployment, Service, edit_env, fake_redis, get, get_json, session_id, token};

const SECRET_SUFFIXES: [&str; 6] = ["SECRET", "KEY", "PEPPER", "PASSWORD", "TOKEN", "_URL"];

#[test]
fn jwt_rotation_takes_effect_only_after_restart_and_changes_only_the_jwt_fingerprint() {
    let demo = Deployment::new();
    demo.restart_ok(&["api", "worker"]);
    let (status, health) = get_json(demo.port, "/health", None);
    assert_eq!(status, 200);
    assert_eq!(
        health,
        serde_json::json!({"status": "ok", "postgres": "unconfigured", "redis": "unconfigured"})
    );

    let old_token = token(demo.port);
    let (status, whoami) = get_json(demo.port, "/whoami", Some(&old_token));
    assert_eq!((status, whoami), (200, serde_json::json!({"sub": "demo"})));
    assert_eq!(
        get(demo.port, "/whoami", None).0,
        401,
        "no token must be rejected"
    );
    let (_, old_fingerprints) = get_json(demo.port, "/fingerprints", None);
    let old_pid = demo.pid().expect("the service writes its pid file");
    // Detached: the service leads its own session, so the caller's signals do not reach it.
    assert_eq!(session_id(&old_pid).as_deref(), Some(old_pid.as_str()));

    edit_env(
        &demo.env_file(),
        "JWT_SECRET",
        "rotated-demo-jwt-secret-0123456789",
    );
    // The env file is read once at start: until the restart the old secret is still live.
    assert_eq!(get(demo.port, "/whoami", Some(&old_token)).0, 200);

    demo.restart_ok(&["api"]);
    assert_ne!(
        demo.pid(),
        Some(old_pid),
        "restart.sh must start a new process"
    );
    assert_eq!(
        get(demo.port, "/whoami", Some(&old_token)).0,
        401,
        "old token after rotation"
    );
    let new_token = token(demo.port);
    assert_eq!(
        get(demo.port, "/whoami", Some(&new_token)).0,
        200,
        "new token after rotation"
    );

    let (_, new_fingerprints) = get_json(demo.port, "/fingerprints", None);
    let (old, new) = (
        old_fingerprints.as_object().unwrap(),
        new_fingerprints.as_object().unwrap(),
    );
    assert_eq!(
        old.keys().collect::<Vec<_>>(),
        new.keys().collect::<Vec<_>>()
    );
    let changed: Vec<&String> = old.keys().filter(|key| old[*key] != new[*key]).collect();
    assert_eq!(changed, ["JWT_SECRET"]);

    // Every secret of the template is fingerprinted, and none appears in a response or the log.
    let env = demo.env();
    let log = demo.log();
    for key in env
        .keys()
        .filter(|key| SECRET_SUFFIXES.iter().any(|s| key.ends_with(s)))
    {
        let value = env.get(key).unwrap();
        let fingerprint = new[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} has no fingerprint"));
        assert_eq!(fingerprint.len(), 16);
        assert!(
            !new_fingerprints.to_string().contains(&value),
            "{key} leaked in /fingerprints"
        );
        assert!(!log.contains(&value), "{key} leaked in the log");
    }
    assert!(
        !log.contains(&old_token) && !log.contains(&new_token),
        "a token leaked in the log"
    );
}

#[test]
fn restart_fails_fast_when_the_service_refuses_equal_peppers() {
    let demo = Deployment::new();
    let pepper = demo.env().get("ENROLLMENT_KEY_PEPPER").unwrap();
    edit_env(&demo.env_file(), "MFA_RECOVERY_CODE_PEPPER", &pepper);

    let started = Instant::now();
    let output = demo.restart(&["api"]);
    // Fail fast: well under restart.sh's 10 s wait for /health.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "restart.sh waited for a dead service"
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("ENROLLMENT_KEY_PEPPER and MFA_RECOVERY_CODE_PEPPER are equal"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(&pepper) && !demo.log().contains(&pepper),
        "the pepper leaked"
    );
    assert!(
        TcpStream::connect(("127.0.0.1", demo.port)).is_err(),
        "nothing may listen"
    );
}

#[test]
fn restart_rejects_unknown_service_names() {
    let demo = Deployment::new();
    let output = demo.restart(&["api", "billingg"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown service 'billingg'"));
    assert!(demo.pid().is_none(), "no service may have been started");
}

#[test]
fn restart_never_kills_an_unrelated_process_named_by_a_stale_pid_file() {
    let demo = Deployment::new();
    let mut bystander = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .unwrap();
    let pid_file = demo.dir.path().join("demo.pid");
    std::fs::write(&pid_file, format!("{}\n", bystander.id())).unwrap();
    demo.restart_ok(&["api"]);
    let still_running = bystander.try_wait().unwrap().is_none();
    let _ = bystander.kill();
    let _ = bystander.wait();
    assert!(
        still_running,
        "restart.sh killed a process that is not the demo service"
    );
    assert_eq!(get(demo.port, "/health", None).0, 200);
}

const SECRETS: &str = "JWT_SECRET=demo-jwt\nSESSION_SECRET=demo-session\n";

#[test]
fn service_refuses_to_start_without_jwt_and_session_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let output = Service::start(dir.path(), "JWT_SECRET=\nOTHER=1\n", None)
        .err()
        .expect("must refuse");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("missing or empty: JWT_SECRET, SESSION_SECRET"),
        "{stderr}"
    );
}

#[test]
fn health_authenticates_to_redis_with_the_percent_decoded_password_and_names_it_when_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let redis = fake_redis("p@ss:word/1");
    let good = format!("{SECRETS}REDIS_URL=redis://:p%40ss%3Aword%2F1@127.0.0.1:{redis}\n");
    let service = Service::start(dir.path(), &good, None).unwrap();
    let (status, health) = get_json(service.port, "/health", None);
    assert_eq!(
        (status, &health["redis"], &health["postgres"]),
        (200, &"ok".into(), &"unconfigured".into())
    );
    drop(service);

    let bad = format!("{SECRETS}REDIS_URL=redis://:old-password@127.0.0.1:{redis}\n");
    let service = Service::start(dir.path(), &bad, None).unwrap();
    let (status, health) = get_json(service.port, "/health", None);
    assert_eq!(status, 503);
    assert_eq!(health["redis"], "error");
    assert_eq!(health["failing"], serde_json::json!(["redis"]));
}

#[test]
fn health_runs_psql_with_credentials_only_in_its_environment() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let record = dir.path().join("psql-call");
    // A stand-in psql that records how it was called and accepts only the decoded password.
    let script = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$*\" \"$PGHOST $PGPORT $PGUSER $PGDATABASE $PGPASSWORD\" > '{}'\n\
         [ \"$PGPASSWORD\" = 's3cr/t pw' ] && echo 1 && exit 0\n\
         echo 'psql: error: FATAL:  password authentication failed for user \"breeze\"' >&2\nexit 2\n",
        record.display()
    );
    let psql = bin.join("psql");
    std::fs::write(&psql, script).unwrap();
    std::fs::set_permissions(&psql, std::fs::Permissions::from_mode(0o755)).unwrap();

    let good =
        format!("{SECRETS}DATABASE_URL=postgres://breeze:s3cr%2Ft%20pw@db.local:5433/breeze\n");
    let service = Service::start(dir.path(), &good, Some(&bin)).unwrap();
    let (status, health) = get_json(service.port, "/health", None);
    assert_eq!(
        (status, &health["postgres"]),
        (200, &"ok".into()),
        "{health}"
    );
    let call = std::fs::read_to_string(&record).unwrap();
    let (argv, env) = call.trim_end().split_once('\n').unwrap();
    assert!(
        !argv.contains("s3cr"),
        "the password was on psql's argv: {argv}"
    );
    assert_eq!(env, "db.local 5433 breeze breeze s3cr/t pw");
    drop(service);

    let bad = format!("{SECRETS}DATABASE_URL=postgres://breeze:old@db.local:5433/breeze\n");
    let service = Service::start(dir.path(), &bad, Some(&bin)).unwrap();
    let (status, health) = get_json(service.port, "/health", None);
    assert_eq!(
        (status, &health["failing"]),
        (503, &serde_json::json!(["postgres"]))
    );
}

#[test]
fn metrics_and_enroll_accept_the_current_and_previous_values_only() {
    let dir = tempfile::tempdir().unwrap();
    let env = format!(
        "{SECRETS}METRICS_SCRAPE_TOKEN=scrape-new\nMETRICS_SCRAPE_TOKEN_PREVIOUS=scrape-old\n\
         AGENT_ENROLLMENT_SECRET=enroll-new\nAGENT_ENROLLMENT_SECRET_PREVIOUS=\n"
    );
    let service = Service::start(dir.path(), &env, None).unwrap();
    let status = |path: &str, bearer: Option<&str>| get(service.port, path, bearer).0;
    assert_eq!(status("/metrics", Some("scrape-new")), 200);
    assert_eq!(status("/metrics", Some("scrape-old")), 200);
    assert_eq!(status("/metrics", Some("scrape-ol")), 401);
    assert_eq!(status("/metrics", Some("enroll-new")), 401);
    assert_eq!(status("/metrics", None), 401);
    assert_eq!(status("/enroll", Some("enroll-new")), 200);
    // An empty previous value is no value: an empty credential is not accepted.
    assert_eq!(status("/enroll", Some("")), 401);
    drop(service);

    // Without the variable nothing is accepted, not even an empty credential.
    let service = Service::start(dir.path(), SECRETS, None).unwrap();
    assert_eq!(get(service.port, "/metrics", Some("")).0, 401);
    assert_eq!(get(service.port, "/enroll", Some("anything")).0, 401);
}

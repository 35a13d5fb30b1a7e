//! The Redis runbook against a real redis-server: a REDIS_URL that names an ACL user other
//! than `default` rotates that user's password, and a server without a config file (where
//! CONFIG REWRITE cannot persist anything) is refused before any password changes.

mod common;
#[path = "demo_service/support.rs"]
mod support;

use common::servers::Redis;
use runbook::envfile::EnvFile;
use sha2::Digest;
use support::{Deployment, get};

const DEFAULT_PASSWORD: &str = "default-user-password-5678";
const APP_OLD: &str = "app-user-old-password-1234";

fn deployment(redis: &Redis, url: &str) -> Deployment {
    let demo = Deployment::new();
    // The demo's template has no REDIS_URL: a deployment without Redis.
    let mut env = EnvFile::parse(&std::fs::read(demo.env_file()).unwrap()).unwrap();
    env.append("REDIS_URL", url).unwrap();
    std::fs::write(demo.env_file(), env.to_bytes()).unwrap();
    demo.configure(&format!(
        "  redis_cli: redis-cli -h 127.0.0.1 -p {}\n",
        redis.port
    ));
    demo.restart_ok(&["api"]);
    assert_eq!(
        get(demo.port, "/health", None).0,
        200,
        "the service connects with the old credentials"
    );
    demo
}

#[test]
fn redis_rotation_rotates_the_acl_user_named_in_the_url() {
    let Some(redis) = Redis::start(DEFAULT_PASSWORD) else {
        return;
    };
    redis
        .cli(
            Some(DEFAULT_PASSWORD),
            &format!("ACL SETUSER app on >{APP_OLD} ~* &* +@all\n"),
        )
        .expect("create the ACL user app");
    let demo = deployment(&redis, &redis.user_url("app", APP_OLD));
    let (code, output) = demo.runbook(&["run", "redis-rotation", "--yes"]);
    assert_eq!(code, 0, "{output}");
    let url = demo.env().get("REDIS_URL").unwrap();
    let new = url
        .strip_prefix("redis://app:")
        .unwrap_or_else(|| panic!("REDIS_URL keeps its user"))
        .split('@')
        .next()
        .unwrap()
        .to_string();
    assert_ne!(new, APP_OLD);
    assert_eq!(redis.cli_as("app", &new, "PING").unwrap().trim(), "PONG");
    assert!(
        redis.cli_as("app", APP_OLD, "PING").is_err(),
        "the old password of app is refused"
    );
    assert_eq!(
        redis.cli(Some(DEFAULT_PASSWORD), "PING").unwrap().trim(),
        "PONG",
        "the default user's password is untouched"
    );
    let config = std::fs::read_to_string(&redis.config_path).unwrap();
    let hash = hex::encode(sha2::Sha256::digest(new.as_bytes()));
    assert!(
        config
            .lines()
            .any(|l| l.starts_with("user app ") && l.contains(&format!("#{hash}"))),
        "CONFIG REWRITE persisted app's new password:\n{config}"
    );
    assert_eq!(get(demo.port, "/health", None).0, 200);
    assert!(!output.contains(&new) && !output.contains(APP_OLD));
}

#[test]
fn redis_rotation_refuses_a_server_without_a_config_file_before_config_set() {
    let Some(redis) = Redis::start_without_config_file(DEFAULT_PASSWORD) else {
        return;
    };
    let demo = deployment(&redis, &redis.url(DEFAULT_PASSWORD));
    let before = std::fs::read(demo.env_file()).unwrap();
    let (code, output) = demo.runbook(&["run", "redis-rotation", "--yes"]);
    assert_eq!(code, 1, "{output}");
    assert!(
        output.contains("Redis runs without a config file"),
        "the refusal says why: {output}"
    );
    let stats = redis
        .cli(Some(DEFAULT_PASSWORD), "INFO commandstats\n")
        .unwrap();
    assert!(
        !stats.contains("cmdstat_config|set"),
        "CONFIG SET never ran:\n{stats}"
    );
    assert_eq!(std::fs::read(demo.env_file()).unwrap(), before);
    assert_eq!(
        redis.cli(Some(DEFAULT_PASSWORD), "PING").unwrap().trim(),
        "PONG"
    );
}

/// A failure after the password changed puts the ACL user's old password back (and only
/// that user's), with the env file byte for byte.
#[test]
fn a_failed_rotation_of_an_acl_user_puts_its_old_password_back() {
    let Some(redis) = Redis::start(DEFAULT_PASSWORD) else {
        return;
    };
    redis
        .cli(
            Some(DEFAULT_PASSWORD),
            &format!("ACL SETUSER app on >{APP_OLD} ~* &* +@all\n"),
        )
        .expect("create the ACL user app");
    let demo = deployment(&redis, &redis.user_url("app", APP_OLD));
    let before = std::fs::read(demo.env_file()).unwrap();
    let (code, output) = demo.runbook(&[
        "run",
        "redis-rotation",
        "--yes",
        "--var",
        "api_url=http://127.0.0.1:9",
        "--var",
        "health_interval=10ms",
    ]);
    assert_eq!(code, 1, "{output}");
    assert_eq!(std::fs::read(demo.env_file()).unwrap(), before);
    assert_eq!(redis.cli_as("app", APP_OLD, "PING").unwrap().trim(), "PONG");
    assert_eq!(
        redis.cli(Some(DEFAULT_PASSWORD), "PING").unwrap().trim(),
        "PONG"
    );
    let config = std::fs::read_to_string(&redis.config_path).unwrap();
    let hash = hex::encode(sha2::Sha256::digest(APP_OLD.as_bytes()));
    assert!(
        config
            .lines()
            .any(|l| l.starts_with("user app ") && l.contains(&format!("#{hash}"))),
        "redis.conf holds app's old password again:\n{config}"
    );
}

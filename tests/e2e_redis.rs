//! The Redis runbook against a real redis-server: a REDIS_URL that names an ACL user other
//! than `default` rotates that user's password in two phases (both passwords during the
//! overlap, the old one removed by its hash on retire), and a server without a config file (where
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

/// Every file under the deployment's state dir, with its path, for leak checks.
fn state_files(demo: &Deployment) -> Vec<(String, String)> {
    fn walk(dir: &std::path::Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
                out.push((path.display().to_string(), text));
            }
        }
    }
    let mut out = Vec::new();
    walk(
        &demo.env_file().parent().unwrap().join(".runbook"),
        &mut out,
    );
    out
}

fn app_password(demo: &Deployment) -> String {
    let url = demo.env().get("REDIS_URL").unwrap();
    url.strip_prefix("redis://app:")
        .unwrap_or_else(|| panic!("REDIS_URL keeps its user"))
        .split('@')
        .next()
        .unwrap()
        .to_string()
}

fn sha256(text: &str) -> String {
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// The two phases against a real server: during the overlap the old and the new password
/// both authenticate (and both survive CONFIG REWRITE); `retire --now` removes the old one by
/// its hash. The old password is in no file the run keeps after its activate phase; only its
/// hash is, in the one 0600 file the retire phase reads, and neither ever in the output.
#[test]
fn redis_acl_user_keeps_both_passwords_during_the_overlap_and_retire_removes_the_old() {
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
    let (code, activated) = demo.runbook(&["run", "redis-rotation", "--yes"]);
    assert_eq!(code, 0, "{activated}");
    assert!(activated.contains("waiting for retire"), "{activated}");
    let new = app_password(&demo);
    assert_ne!(new, APP_OLD);
    assert_eq!(redis.cli_as("app", &new, "PING").unwrap().trim(), "PONG");
    assert_eq!(
        redis.cli_as("app", APP_OLD, "PING").unwrap().trim(),
        "PONG",
        "during the overlap a client with the old password still authenticates"
    );
    let config = std::fs::read_to_string(&redis.config_path).unwrap();
    let user_line = config.lines().find(|l| l.starts_with("user app ")).unwrap();
    assert!(
        user_line.contains(&format!("#{}", sha256(&new)))
            && user_line.contains(&format!("#{}", sha256(APP_OLD))),
        "CONFIG REWRITE persisted both passwords:\n{config}"
    );
    assert_eq!(get(demo.port, "/health", None).0, 200);
    let kept: Vec<_> = state_files(&demo);
    for (path, text) in &kept {
        assert!(!text.contains(APP_OLD), "{path} holds the old password");
        assert!(!text.contains(&new), "{path} holds the new password");
        if text.contains(&sha256(APP_OLD)) {
            assert!(
                path.contains("/pending/"),
                "only the retire phase's 0600 input holds the old hash: {path}"
            );
        }
    }

    let (code, retired) = demo.runbook(&["retire", "redis", "--now", "--yes"]);
    assert_eq!(code, 0, "{retired}");
    assert!(
        redis.cli_as("app", APP_OLD, "PING").is_err(),
        "after retire the old password of app is refused"
    );
    assert_eq!(redis.cli_as("app", &new, "PING").unwrap().trim(), "PONG");
    assert_eq!(
        redis.cli(Some(DEFAULT_PASSWORD), "PING").unwrap().trim(),
        "PONG",
        "the default user's password is untouched"
    );
    let config = std::fs::read_to_string(&redis.config_path).unwrap();
    let user_line = config.lines().find(|l| l.starts_with("user app ")).unwrap();
    assert!(
        user_line.contains(&format!("#{}", sha256(&new))) && !user_line.contains(&sha256(APP_OLD)),
        "CONFIG REWRITE persisted the removal:\n{config}"
    );
    for (path, text) in state_files(&demo) {
        assert!(
            !text.contains(APP_OLD) && !text.contains(&new) && !text.contains(&sha256(APP_OLD)),
            "{path} holds a form of a password after retire"
        );
    }
    for output in [&activated, &retired] {
        for form in [
            APP_OLD.to_string(),
            new.clone(),
            sha256(APP_OLD),
            sha256(&new),
        ] {
            assert!(
                !output.contains(&form),
                "the output shows {form}:\n{output}"
            );
        }
    }
    assert_eq!(get(demo.port, "/health", None).0, 200);
}

/// A server that keeps its users in an ACL file: with `redis_persist: ACL SAVE` the file holds
/// both passwords during the overlap and only the new one after retire.
#[test]
fn redis_rotation_with_acl_save_persists_both_phases_in_the_acl_file() {
    let Some(redis) = Redis::start_with_acl_file(DEFAULT_PASSWORD) else {
        return;
    };
    redis
        .cli(
            Some(DEFAULT_PASSWORD),
            &format!("ACL SETUSER app on >{APP_OLD} ~* &* +@all\n"),
        )
        .expect("create the ACL user app");
    let demo = deployment(&redis, &redis.user_url("app", APP_OLD));
    let acl_file = redis.dir.path().join("users.acl");
    let (code, output) = demo.runbook(&["run", "redis-rotation", "--yes"]);
    assert_eq!(code, 1, "{output}");
    assert!(
        output.contains("Redis keeps its users in an ACL file"),
        "CONFIG REWRITE, which would not persist users, is refused: {output}"
    );
    let (code, output) = demo.runbook(&[
        "run",
        "redis-rotation",
        "--yes",
        "--var",
        "redis_persist=ACL SAVE",
    ]);
    assert_eq!(code, 0, "{output}");
    let new = app_password(&demo);
    assert_eq!(redis.cli_as("app", APP_OLD, "PING").unwrap().trim(), "PONG");
    let users = std::fs::read_to_string(&acl_file).unwrap();
    let app = users.lines().find(|l| l.starts_with("user app ")).unwrap();
    assert!(
        app.contains(&sha256(&new)) && app.contains(&sha256(APP_OLD)),
        "ACL SAVE persisted both passwords:\n{users}"
    );
    let (code, retired) = demo.runbook(&[
        "retire",
        "redis",
        "--now",
        "--yes",
        "--var",
        "redis_persist=ACL SAVE",
    ]);
    assert_eq!(code, 0, "{retired}");
    assert!(redis.cli_as("app", APP_OLD, "PING").is_err());
    let users = std::fs::read_to_string(&acl_file).unwrap();
    let app = users.lines().find(|l| l.starts_with("user app ")).unwrap();
    assert!(
        app.contains(&sha256(&new)) && !app.contains(&sha256(APP_OLD)),
        "ACL SAVE persisted the removal:\n{users}"
    );
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
    let (code, output) = demo.run_failing_health("redis-rotation");
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

//! Owns `--environment`: the service's settings read from its process environment, as a
//! container created from a compose file's `env_file:` receives them.
//!
//! This is what makes the platform's secret-rotation guide's trap reproducible with the demo
//! in a real container: `docker compose restart` keeps the environment the container was
//! created with, so the service keeps the old value; only a recreated container sees the new.

use runbook::envfile::EnvFile;

/// The process environment as an env file. Variables an env file cannot hold (a name with
/// characters outside `[A-Za-z0-9_.]`, a value that is not UTF-8) are skipped: none of them is
/// one the service reads.
pub(crate) fn from_process() -> Result<EnvFile, String> {
    let mut env = EnvFile::parse(b"").map_err(|e| format!("empty environment: {e}"))?;
    for (key, value) in std::env::vars_os() {
        if let (Some(key), Some(value)) = (key.to_str(), value.to_str()) {
            let _ = env.append(key, value);
        }
    }
    Ok(env)
}

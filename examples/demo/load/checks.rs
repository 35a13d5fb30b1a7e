//! Owns the load generator's checks and the credentials they present, all taken before the
//! load starts, which is what "a client that held them before the rotation" means.
//!
//! - `health`: GET /health (an outage shows here first).
//! - `token_before`: /whoami with a token the service minted before the load.
//! - `token_during`: /whoami with a token minted just now (a mint that fails is a failure).
//! - `session_before`: /session with a cookie signed with the SESSION_SECRET of the env file
//!   as it was at start (only with `--env-file`).
//! - `metrics_before`, `enrollment_before`: /metrics and /enroll with the METRICS_SCRAPE_TOKEN
//!   and AGENT_ENROLLMENT_SECRET of the env file as it was at start, as a Prometheus and an
//!   agent installer that still hold them (only with `--env-file` setting them).
//! - `redis_before`, `postgres_before`: a new connection with the credentials of REDIS_URL and
//!   DATABASE_URL as they were at start (with `--redis`, `--postgres`).

use std::path::Path;

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use runbook::envfile::EnvFile;
use sha2::Sha256;

use crate::backends::{self, Postgres, Redis};
use crate::probe::{self, Verdict};

/// The subject of the session cookie the load presents.
const SESSION_VALUE: &str = "demo-load";

/// Credentials taken at start. No `Debug`: it holds a token, a cookie and passwords.
pub(crate) struct Checks {
    port: u16,
    token: String,
    cookie: Option<String>,
    metrics_token: Option<String>,
    enrollment_secret: Option<String>,
    redis: Option<Redis>,
    postgres: Option<Postgres>,
    names: Vec<&'static str>,
}

impl Checks {
    /// Takes the pre-rotation credentials and checks once that each works now, so a load
    /// that starts against a broken deployment says so instead of counting failures.
    pub(crate) fn prepare(
        port: u16,
        env_file: Option<&Path>,
        redis: bool,
        postgres: bool,
    ) -> Result<Checks, String> {
        let reply = probe::get(port, "/token", None)
            .map_err(|reason| format!("cannot mint a token at 127.0.0.1:{port}: {reason}"))?;
        let token = token_of(&reply.body)
            .ok_or_else(|| format!("/token answered {} without a token", reply.status))?;
        let env = env_file
            .map(|path| {
                let text = std::fs::read(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                EnvFile::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
            })
            .transpose()?;
        let value = |key: &str| env.as_ref().and_then(|env| env.get(key));
        let set = |key: &str| value(key).filter(|value| !value.is_empty());
        let (metrics_token, enrollment_secret) =
            (set("METRICS_SCRAPE_TOKEN"), set("AGENT_ENROLLMENT_SECRET"));
        let cookie = value("SESSION_SECRET").map(|secret| sign_cookie(&secret, SESSION_VALUE));
        let redis = redis
            .then(|| backend(value("REDIS_URL"), "REDIS_URL", backends::parse_redis_url))
            .transpose()?;
        let postgres = postgres
            .then(|| {
                let url = value("DATABASE_URL");
                backend(url, "DATABASE_URL", backends::parse_database_url)
            })
            .transpose()?;
        let mut names = vec!["health", "token_before", "token_during"];
        names.extend(cookie.is_some().then_some("session_before"));
        names.extend(metrics_token.is_some().then_some("metrics_before"));
        names.extend(enrollment_secret.is_some().then_some("enrollment_before"));
        names.extend(redis.is_some().then_some("redis_before"));
        names.extend(postgres.is_some().then_some("postgres_before"));
        let checks = Checks {
            port,
            token,
            cookie,
            metrics_token,
            enrollment_secret,
            redis,
            postgres,
            names,
        };
        for index in 0..checks.names.len() {
            if let (name, Verdict::Failed(reason) | Verdict::Rejected(reason)) = checks.run(index) {
                return Err(format!("{name} does not pass before the load: {reason}"));
            }
        }
        Ok(checks)
    }

    pub(crate) fn count(&self) -> usize {
        self.names.len()
    }

    /// Runs check number `index` (modulo their count) and names it.
    pub(crate) fn run(&self, index: usize) -> (&'static str, Verdict) {
        let name = self.names[index % self.names.len()];
        let verdict = match name {
            "health" => probe::judge(probe::get(self.port, "/health", None)),
            "token_before" => self.bearer("/whoami", Some(&self.token)),
            "token_during" => match probe::get(self.port, "/token", None) {
                Ok(reply) => match token_of(&reply.body) {
                    Some(token) => self.bearer("/whoami", Some(&token)),
                    None => Verdict::Failed(format!("mint: status {}", reply.status)),
                },
                Err(reason) => Verdict::Failed(format!("mint: {reason}")),
            },
            "session_before" => {
                let cookie = format!("session={}", self.cookie.as_deref().unwrap_or_default());
                probe::judge(probe::get(self.port, "/session", Some(("Cookie", &cookie))))
            }
            "metrics_before" => self.bearer("/metrics", self.metrics_token.as_deref()),
            "enrollment_before" => self.bearer("/enroll", self.enrollment_secret.as_deref()),
            "redis_before" => match &self.redis {
                Some(redis) => probe::judge_backend(backends::check_redis(redis)),
                None => unreachable!("redis_before runs only with REDIS_URL; this is a bug"),
            },
            "postgres_before" => match &self.postgres {
                Some(pg) => probe::judge_backend(backends::check_postgres(pg)),
                None => unreachable!("postgres_before runs only with DATABASE_URL; this is a bug"),
            },
            _ => unreachable!("unknown check {name}; this is a bug"),
        };
        (name, verdict)
    }

    /// `GET path` presenting `credential` as a bearer value (the checks that have one run
    /// only when it was set at start).
    fn bearer(&self, path: &str, credential: Option<&str>) -> Verdict {
        let bearer = format!("Bearer {}", credential.unwrap_or_default());
        probe::judge(probe::get(
            self.port,
            path,
            Some(("Authorization", &bearer)),
        ))
    }
}

/// A backend from its URL, refused unless the URL names a loopback host: the load generator
/// never contacts anything beyond this machine.
fn backend<T>(
    url: Option<String>,
    key: &str,
    parse: fn(&str) -> Result<T, &'static str>,
) -> Result<T, String> {
    let url = url
        .filter(|url| !url.is_empty())
        .ok_or_else(|| format!("the env file sets no {key}"))?;
    let host = url
        .split_once("://")
        .map(|(_, rest)| rest.rsplit_once('@').map_or(rest, |(_, host)| host))
        .and_then(|rest| rest.split(['/', '?']).next())
        .map(|authority| {
            authority
                .rsplit_once(':')
                .map_or(authority, |(host, _)| host)
        });
    if !matches!(host, Some("127.0.0.1" | "localhost" | "[::1]")) {
        return Err(format!(
            "{key} does not name a loopback host; demo-load stays on loopback"
        ));
    }
    parse(&url).map_err(|reason| format!("{key}: {reason}"))
}

fn token_of(body: &str) -> Option<String> {
    let body: serde_json::Value = serde_json::from_str(body).ok()?;
    Some(body.get("token")?.as_str()?.to_owned())
}

/// `s:VALUE.SIGNATURE` as Express's cookie-signature makes it (HMAC-SHA256, base64 without
/// padding): the session cookie the app would have issued under `secret`.
fn sign_cookie(secret: &str, value: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(value.as_bytes());
    let signature =
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(mac.finalize().into_bytes());
    format!("s:{value}.{signature}")
}

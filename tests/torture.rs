//! The torture test: real rotations of a real PostgreSQL role password and a real Redis
//! `requirepass` (servers started by the harness on loopback), `runbook` killed with SIGKILL at
//! a random moment of each, then `resume` and `abort` in turn. After every try: the env file
//! parses, each server accepts the env file's credential, the service is healthy, no temporary,
//! pending or backup file is left, the lock is free, and a fresh rotation succeeds.
//!
//! CI runs a few tries; `RUNBOOK_TORTURE_TRIES=200 cargo test --test torture -- --nocapture`
//! runs more, and `RUNBOOK_TORTURE_SEED=N` replays one sequence of kill moments. A summary line
//! says what happened (tries, kills, outcomes, seed).

mod common;
#[path = "demo_service/support.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::servers::{Postgres, Redis};
use runbook::envfile::EnvFile;
use support::{Deployment, get, set_env};

const PG_OLD: &str = "Old-Pg-Password-1234";
const REDIS_OLD: &str = "old-redis-password-5678";
/// Enough to cover both runbooks and both recoveries in CI within a minute or two.
const DEFAULT_TRIES: u64 = 4;
/// A run of either rotation prints about twenty JSON events; a kill after more lines than the
/// run printed finds it finished, which is an outcome too. Zero kills after a pause alone,
/// often before the run's first event (while it plans, takes the lock, starts its journal).
const MAX_EVENTS: u64 = 24;
/// The longest random pause before the kill, in milliseconds.
const MAX_PAUSE_MS: u64 = 60;
/// How long a killed run's detached children (a restart driver, a psql) may take to end.
const STRAGGLER_DEADLINE: Duration = Duration::from_secs(60);

/// A small deterministic generator, so a failing sequence can be replayed from its seed.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % bound
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn deployment(pg: &Postgres, redis: &Redis) -> Deployment {
    pg.create_role("breeze", PG_OLD, "breeze");
    let demo = Deployment::new();
    set_env(&demo, "POSTGRES_PASSWORD", PG_OLD);
    set_env(&demo, "DATABASE_URL", &pg.url("breeze", PG_OLD, "breeze"));
    set_env(&demo, "REDIS_URL", &redis.url(REDIS_OLD));
    let psql = format!(
        "psql -X -w -q -A -t -h 127.0.0.1 -p {} -U breeze -d breeze -v ON_ERROR_STOP=1",
        pg.port
    );
    demo.configure(&format!(
        // The demo runs no postgres exporter: `none` says so, so no manual step waits for
        // an operator to update one.
        "  psql: {psql}\n  psql_login: {psql}\n  redis_cli: redis-cli -h 127.0.0.1 -p {}\n  postgres_exporter_env_file: none\n",
        redis.port
    ));
    demo.restart_ok(&["api"]);
    assert_eq!(
        get(demo.port, "/health", None).0,
        200,
        "healthy at the start"
    );
    demo
}

/// What one killed run turned out to be.
enum Cut {
    /// It ended before the kill landed.
    Finished(i32),
    /// Killed; the run id it left active, if it had begun.
    Killed(Option<String>),
}

/// Starts a rotation and kills `runbook` (only it, as `kill -9` would) after `after` events
/// plus a short random pause, so kills land both between steps and inside them.
fn run_and_kill(demo: &Deployment, runbook: &str, after: u64, pause_ms: u64) -> Cut {
    let mut child = Command::new(env!("CARGO_BIN_EXE_runbook"))
        .args(["run", runbook, "--yes", "--format", "json"])
        .current_dir(demo.dir.path())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn runbook");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = 0;
    while seen < after {
        match lines.next() {
            Some(Ok(_)) => seen += 1,
            _ => break,
        }
    }
    if seen == after {
        std::thread::sleep(Duration::from_millis(pause_ms));
        let _ = child.kill();
    }
    // Drain, so a run that outlived the kill attempt is not blocked on a full pipe.
    for _ in lines {}
    let status = child.wait().expect("wait runbook");
    match status.code() {
        Some(code) => Cut::Finished(code),
        None => Cut::Killed(
            std::fs::read_to_string(demo.dir.path().join(".runbook/active"))
                .ok()
                .map(|s| s.trim().to_string()),
        ),
    }
}

/// Whether the run's journal records its end (the kill landed while it cleaned up).
fn journal_ended(demo: &Deployment, run_id: &str) -> bool {
    let journal = demo
        .dir
        .path()
        .join(".runbook/runs")
        .join(run_id)
        .join("journal.jsonl");
    std::fs::read_to_string(journal).is_ok_and(|text| text.contains("\"record\":\"end\""))
}

/// Waits until only the service itself runs in the deployment: the killed run's restart
/// driver goes on in its own process group, as it would in production.
fn wait_for_stragglers(demo: &Deployment) {
    let dir = std::fs::canonicalize(demo.dir.path()).unwrap();
    let deadline = std::time::Instant::now() + STRAGGLER_DEADLINE;
    loop {
        let service = demo.pid();
        let busy = std::fs::read_dir("/proc").unwrap().flatten().any(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name.parse::<u32>().is_ok()
                && Some(&name) != service.as_ref()
                && std::fs::read_link(entry.path().join("cwd")).is_ok_and(|cwd| cwd == dir)
        });
        if !busy {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the killed run's children did not end within {STRAGGLER_DEADLINE:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn url_password(url: &str) -> String {
    let userinfo = url.split("://").nth(1).unwrap().split('@').next().unwrap();
    let password = userinfo.rsplit(':').next().unwrap();
    // Generated passwords are alphanumeric or hex, so nothing is percent-encoded.
    password.to_string()
}

/// Runs the pending retire phase of `runbook`'s secret, if its activate phase ended waiting
/// for one: redis-rotation is in two phases, and what it keeps between them is only deleted
/// by the retire, which a new rotation of the secret also waits for.
fn retire_if_waiting(demo: &Deployment, runbook: &str, what: &str) -> bool {
    let secret = runbook.split('-').next().unwrap();
    let rotations = std::fs::read(demo.dir.path().join(".runbook/rotations.json"))
        .map(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).unwrap())
        .unwrap_or_default();
    if rotations[secret]["waiting_for_retire"].is_object() {
        let (code, output) = demo.runbook(&["retire", secret, "--now", "--yes"]);
        assert_eq!(code, 0, "{what}: the retire phase runs\n{output}");
        return true;
    }
    false
}

/// Everything that must hold after each try, whatever the kill hit.
fn assert_sound(demo: &Deployment, pg: &Postgres, redis: &Redis, what: &str) {
    let bytes = std::fs::read(demo.env_file()).unwrap();
    let env = EnvFile::parse(&bytes).unwrap_or_else(|e| panic!("{what}: env file parses: {e}"));
    let pg_password = env.get("POSTGRES_PASSWORD").expect("POSTGRES_PASSWORD");
    let database_url = env.get("DATABASE_URL").expect("DATABASE_URL");
    assert_eq!(
        url_password(&database_url),
        pg_password,
        "{what}: DATABASE_URL and POSTGRES_PASSWORD agree"
    );
    assert!(
        pg.psql("breeze", &pg_password, "breeze", "SELECT 1")
            .is_ok(),
        "{what}: PostgreSQL accepts the env file's password"
    );
    let redis_password = url_password(&env.get("REDIS_URL").expect("REDIS_URL"));
    assert_eq!(
        redis
            .cli(Some(&redis_password), "PING")
            .map(|s| s.trim().to_string()),
        Ok("PONG".to_string()),
        "{what}: Redis accepts the env file's password"
    );
    let (status, body) = get(demo.port, "/health", None);
    assert_eq!(status, 200, "{what}: the service is healthy: {body}");
    let strays: Vec<String> = std::fs::read_dir(demo.dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(
        strays.is_empty(),
        "{what}: temporary copies left: {strays:?}"
    );
    let state = demo.dir.path().join(".runbook");
    // A run killed between creating its folder and marking itself active leaves that empty
    // folder (no file: nothing was written yet) until the next start sweeps it.
    // A run killed while it planned left no state at all.
    let runs = std::fs::read_dir(state.join("runs"));
    for run in runs.into_iter().flatten().flatten() {
        for leftover in ["pending", "backup"] {
            let files: Vec<_> = std::fs::read_dir(run.path().join(leftover))
                .map(|entries| entries.flatten().map(|e| e.path()).collect())
                .unwrap_or_default();
            assert!(files.is_empty(), "{what}: {leftover} files left: {files:?}");
        }
    }
    assert!(!state.join("active").exists(), "{what}: no unfinished run");
    assert_lock_free(&state.join("lock"), what);
}

fn assert_lock_free(lock: &Path, what: &str) {
    let Ok(file) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(lock)
    else {
        // Never created: the run was killed before it took the lock.
        return;
    };
    assert!(file.try_lock().is_ok(), "{what}: the lock is free");
}

#[test]
fn killed_rotations_recover_to_a_sound_deployment() {
    let Some(pg) = Postgres::start() else { return };
    let Some(redis) = Redis::start(REDIS_OLD) else {
        return;
    };
    let demo = deployment(&pg, &redis);
    let tries = env_u64("RUNBOOK_TORTURE_TRIES").unwrap_or(DEFAULT_TRIES);
    let seed = env_u64("RUNBOOK_TORTURE_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    let mut rng = Lcg(seed);
    let (mut kills, mut resumed, mut aborted, mut finished, mut unstarted, mut ending) =
        (0, 0, 0, 0, 0, 0);
    for index in 0..tries {
        let runbook = if index % 2 == 0 {
            "postgres-password-rotation"
        } else {
            "redis-rotation"
        };
        let after = rng.below(MAX_EVENTS + 1);
        let pause = rng.below(MAX_PAUSE_MS);
        let what = format!(
            "try {index} (seed {seed}): {runbook} killed after {after} events + {pause} ms"
        );
        match run_and_kill(&demo, runbook, after, pause) {
            Cut::Finished(code) => {
                assert_eq!(code, 0, "{what}: a run that was not killed succeeds");
                finished += 1;
            }
            Cut::Killed(None) => {
                kills += 1;
                unstarted += 1;
            }
            // Killed after its end was journaled, while cleaning up: nothing is left to
            // resume or abort, and the fresh run below must sweep what it left.
            Cut::Killed(Some(run_id)) if journal_ended(&demo, &run_id) => {
                kills += 1;
                ending += 1;
                wait_for_stragglers(&demo);
                // A run that ended waiting for retire is continued by `retire`, which then
                // sweeps what its kill left; the next run finds nothing to sweep.
                let retired = retire_if_waiting(&demo, runbook, &what);
                let (code, output) = demo.runbook(&["run", runbook, "--yes"]);
                assert_eq!(
                    code, 0,
                    "{what}: the next run sweeps the ended run\n{output}"
                );
                assert!(
                    retired || output.contains(&format!("run {run_id} had ended")),
                    "{what}: the sweep says so\n{output}"
                );
            }
            Cut::Killed(Some(run_id)) => {
                kills += 1;
                wait_for_stragglers(&demo);
                let command = if kills % 2 == 0 { "abort" } else { "resume" };
                let (code, output) = demo.runbook(&[command, &run_id]);
                assert_eq!(code, 0, "{what}: {command}\n{output}");
                if command == "abort" {
                    aborted += 1;
                } else {
                    resumed += 1;
                }
            }
        }
        let _ = retire_if_waiting(&demo, runbook, &what);
        assert_sound(&demo, &pg, &redis, &what);
        let (code, output) = demo.runbook(&["run", runbook, "--yes"]);
        assert_eq!(code, 0, "{what}: a fresh run succeeds\n{output}");
        let _ = retire_if_waiting(&demo, runbook, &what);
        assert_sound(&demo, &pg, &redis, &format!("{what}, then a fresh run"));
    }
    let summary = format!(
        "torture: {tries} tries, {kills} kills ({resumed} resumed, {aborted} aborted, {unstarted} before the run began, {ending} while ending), {finished} finished before the kill, seed {seed}"
    );
    // Straight to the handle: libtest captures println!, and this line is the test's report.
    let _ = std::io::Write::write_all(&mut std::io::stderr(), format!("{summary}\n").as_bytes());
}

//! Owns `demo-load`: a small, bounded load generator that keeps requesting the demo service
//! while a rotation runs, and counts what users would have seen.
//!
//! Before the load starts it takes the credentials a client holds "before the rotation": a
//! token minted by the service, a session cookie, the metrics scrape token, the agent
//! enrollment secret and the Redis and PostgreSQL credentials the app had at start (read once
//! from `--env-file`, as the app reads it). Then `--workers`
//! threads cycle through the checks until `--until-file` exists, `--max-seconds` pass or
//! `--max-requests` were made, then runs every check once more, and one JSON document goes to
//! stdout: requests, ok, failed (connection refused or reset, timeouts, 5xx), rejected (a
//! credential refused), the longest gap between two successful responses, how many service
//! instances answered (by their `X-Demo-Instance`), and each check's counts and reasons.
//!
//! Only loopback is ever contacted: the service on 127.0.0.1, and backends only when their
//! URL names a loopback host. No credential appears in its output or on its command line.

#[path = "service/backends.rs"]
#[allow(dead_code)]
mod backends;
#[path = "load/checks.rs"]
mod checks;
#[path = "load/probe.rs"]
mod probe;
#[path = "load/tally.rs"]
mod tally;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use checks::Checks;
use tally::Tally;

const USAGE: &str = "usage: demo-load --port N [--env-file PATH] [--redis] [--postgres] \
     [--until-file PATH] [--ready-file PATH] [--max-seconds N] [--max-requests N] \
     [--workers N] [--pause-ms N] [--format json|text]";

/// Hard ceilings, whatever the flags ask: the load is a test tool, never a flood.
const CEILING_SECONDS: u64 = 600;
const CEILING_REQUESTS: u64 = 1_000_000;
const CEILING_WORKERS: usize = 8;

struct Args {
    port: u16,
    env_file: Option<PathBuf>,
    redis: bool,
    postgres: bool,
    until_file: Option<PathBuf>,
    ready_file: Option<PathBuf>,
    max_seconds: u64,
    max_requests: u64,
    workers: usize,
    pause: Duration,
    /// `text` for a person (the demo's `--zero-impact`), else JSON for tests and benches.
    text: bool,
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("demo-load: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let checks = match Checks::prepare(
        args.port,
        args.env_file.as_deref(),
        args.redis,
        args.postgres,
    ) {
        Ok(checks) => Arc::new(checks),
        Err(message) => {
            eprintln!("demo-load: {message}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(ready) = &args.ready_file
        && let Err(error) = std::fs::write(ready, "ready\n")
    {
        eprintln!("demo-load: cannot write {}: {error}", ready.display());
        return ExitCode::FAILURE;
    }
    let tally = run(&args, &checks);
    if args.text {
        print!("{}", tally.to_text());
    } else {
        println!("{}", tally.to_json());
    }
    ExitCode::SUCCESS
}

/// Runs the workers until a stop condition holds, and returns what they counted.
fn run(args: &Args, checks: &Arc<Checks>) -> Tally {
    let deadline = Instant::now() + Duration::from_secs(args.max_seconds);
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Mutex::new(Tally::new()));
    let workers: Vec<_> = (0..args.workers)
        .map(|worker| {
            let (checks, stop, tally) = (Arc::clone(checks), Arc::clone(&stop), Arc::clone(&tally));
            let (pause, max_requests) = (args.pause, args.max_requests);
            std::thread::spawn(move || {
                // Workers start at different checks so every check runs at every moment.
                let mut next = worker;
                while !stop.load(Ordering::SeqCst) {
                    let (name, verdict) = checks.run(next);
                    next += 1;
                    let mut tally = tally.lock().unwrap_or_else(PoisonError::into_inner);
                    tally.record(name, verdict, Instant::now());
                    if tally.requests() >= max_requests {
                        stop.store(true, Ordering::SeqCst);
                    }
                    drop(tally);
                    std::thread::sleep(pause);
                }
            })
        })
        .collect();
    while !stop.load(Ordering::SeqCst) {
        let asked = args.until_file.as_ref().is_some_and(|file| file.exists());
        if asked || Instant::now() >= deadline {
            stop.store(true, Ordering::SeqCst);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for worker in workers {
        let _ = worker.join();
    }
    // One last round of every check, counted: whoever stops the load after a restart or a
    // retire knows each check has met the service as it is now, whatever the timing.
    for index in 0..checks.count() {
        let (name, verdict) = checks.run(index);
        let mut tally = tally.lock().unwrap_or_else(PoisonError::into_inner);
        tally.record(name, verdict, Instant::now());
    }
    Arc::try_unwrap(tally)
        .ok()
        .expect("every worker has finished; this is a bug")
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner)
}

fn parse_args(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut args = Args {
        port: 0,
        env_file: None,
        redis: false,
        postgres: false,
        until_file: None,
        ready_file: None,
        max_seconds: 60,
        max_requests: 100_000,
        workers: 2,
        pause: Duration::from_millis(2),
        text: false,
    };
    while let Some(flag) = argv.next() {
        let mut value = || argv.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--port" => args.port = number(&flag, &value()?)?,
            "--env-file" => args.env_file = Some(PathBuf::from(value()?)),
            "--redis" => args.redis = true,
            "--postgres" => args.postgres = true,
            "--until-file" => args.until_file = Some(PathBuf::from(value()?)),
            "--ready-file" => args.ready_file = Some(PathBuf::from(value()?)),
            "--max-seconds" => args.max_seconds = number(&flag, &value()?)?,
            "--max-requests" => args.max_requests = number(&flag, &value()?)?,
            "--workers" => args.workers = number(&flag, &value()?)?,
            "--format" => {
                args.text = match value()?.as_str() {
                    "text" => true,
                    "json" => false,
                    other => return Err(format!("--format: `{other}` is not json or text")),
                }
            }
            "--pause-ms" => args.pause = Duration::from_millis(number(&flag, &value()?)?),
            _ => return Err(format!("unknown argument `{flag}`")),
        }
    }
    if args.port == 0 {
        return Err("--port is required".to_owned());
    }
    if (args.redis || args.postgres) && args.env_file.is_none() {
        return Err("--redis and --postgres need --env-file".to_owned());
    }
    args.max_seconds = args.max_seconds.clamp(1, CEILING_SECONDS);
    args.max_requests = args.max_requests.clamp(1, CEILING_REQUESTS);
    args.workers = args.workers.clamp(1, CEILING_WORKERS);
    Ok(args)
}

fn number<T: std::str::FromStr>(flag: &str, text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{flag}: `{text}` is not a number"))
}

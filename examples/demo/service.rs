//! Owns `demo-service`: the demo deployment's stand-in for the platform API, a tiny HTTP server.
//!
//! Like a container created from an env file, it reads `--env-file` once at start and never
//! again, so a rotation only takes effect after a restart — which is exactly what the shipped
//! runbooks must prove. Its endpoints let a verify step observe the live secrets without ever
//! seeing one: `/health` (backends accept the credentials), `/token` + `/whoami` (JWT_SECRET), `/session` (a cookie signed with SESSION_SECRET),
//! `/metrics` (a bearer METRICS_SCRAPE_TOKEN), `/enroll` (a bearer AGENT_ENROLLMENT_SECRET),
//! `/fingerprints` (keyed hashes of every secret), `/records/app` and `/records/mfa` (the
//! records APP_ENCRYPTION_KEY and MFA_ENCRYPTION_KEY protect, opened). Secrets never appear
//! in output or logs. During a rotation's overlap each `NAME_PREVIOUS` of these still works (a
//! keyring: sign or encrypt with the current key, accept or decrypt with either).

#[path = "service/args.rs"]
mod args;
#[path = "service/backends.rs"]
mod backends;
#[path = "service/bearer.rs"]
mod bearer;
#[path = "service/clock.rs"]
mod clock;
#[path = "service/crypto.rs"]
mod crypto;
#[path = "service/environment.rs"]
mod environment;
#[path = "service/http.rs"]
mod http;
#[path = "service/lifecycle.rs"]
mod lifecycle;
#[path = "service/listener.rs"]
mod listener;
#[path = "service/records.rs"]
mod records;
#[path = "service/routes.rs"]
mod routes;
// The service only reads records: sealing and rewriting them is the migration's part.
#[path = "sealed.rs"]
#[allow(dead_code)]
mod sealed;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use runbook::envfile::EnvFile;
use serde_json::{Map, Value};

use args::{Args, USAGE, parse_args};
use backends::{Postgres, Redis};
use bearer::Bearer;
use http::{ReadError, Response};

/// Env keys whose names end like this are secrets (or carry one, as URLs do) and get a fingerprint.
const SECRET_SUFFIXES: [&str; 6] = ["SECRET", "KEY", "PEPPER", "PASSWORD", "TOKEN", "_URL"];

/// Fingerprint key used when the env file has no `DEMO_FINGERPRINT_KEY`.
const DEFAULT_FINGERPRINT_KEY: &str = "runbook-demo";

/// Everything the request handlers need, fixed at start like a container's environment.
struct State {
    jwt_secret: String,
    session_secret: String,
    /// The keys a rotation's overlap keeps verifying (`JWT_SECRET_PREVIOUS`,
    /// `SESSION_SECRET_PREVIOUS`, empty or unset for none): tokens and cookies signed with
    /// them are still accepted, and nothing is ever signed with them.
    jwt_previous: Option<String>,
    session_previous: Option<String>,
    /// True while the instance this one took its socket over from still serves. That
    /// instance was started before the env file changed, so it may not know JWT_SECRET: until
    /// it is gone, tokens are signed with JWT_SECRET_PREVIOUS, which both accept, or a client
    /// sent to the old instance with a fresh token would be refused.
    predecessor_serving: AtomicBool,
    /// METRICS_SCRAPE_TOKEN, which Prometheus presents, and AGENT_ENROLLMENT_SECRET, which
    /// agents present when they enroll (each with its `_PREVIOUS` during an overlap).
    metrics_token: Bearer,
    enrollment_secret: Bearer,
    fingerprints: Map<String, Value>,
    fingerprint_key: String,
    app_records: records::Keyring,
    mfa_records: records::Keyring,
    /// `None` when the URL is unset; `Err` holds why it could not be parsed (never the URL).
    postgres: Option<Result<Postgres, &'static str>>,
    redis: Option<Result<Redis, &'static str>>,
    log: Log,
}

/// One line per event to stderr or the `--log-file`; the mutex keeps lines whole across threads.
#[derive(Clone)]
struct Log(Arc<Mutex<Box<dyn Write + Send>>>);

impl Log {
    fn line(&self, message: &str) {
        let line = format!("{} {message}\n", clock::timestamp());
        // A poisoned lock only means another thread panicked mid-write; keep logging.
        let mut out = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let _ = out.write_all(line.as_bytes()).and_then(|()| out.flush());
    }
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("demo-service: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let log = match open_log(args.log_file.as_deref()) {
        Ok(log) => log,
        Err(error) => {
            eprintln!("demo-service: cannot open the log file: {error}");
            return ExitCode::FAILURE;
        }
    };
    match run(&args, log.clone()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            let message = format!("demo-service: {message}");
            log.line(&message);
            // A fatal error must reach whoever started the service, not only the log file.
            if args.log_file.is_some() {
                eprintln!("{message}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args, log: Log) -> Result<(), String> {
    let (env, shown) = match &args.env_file {
        Some(path) => {
            let shown = path.display().to_string();
            let text = fs::read(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
            (
                EnvFile::parse(&text).map_err(|e| format!("{shown}: {e}"))?,
                shown,
            )
        }
        None => (environment::from_process()?, "(the environment)".to_owned()),
    };
    let problems = startup_problems(&env);
    if !problems.is_empty() {
        return Err(format!("refusing to start: {}", problems.join("; ")));
    }
    let state = Arc::new(load_state(&env, log.clone()));
    let stop = lifecycle::stop_on_sigterm().map_err(|e| format!("cannot watch SIGTERM: {e}"))?;
    let (listener, origin) = listener::open(args.port, args.handover.as_deref())?;
    if let listener::Origin::TakenOver(link) = &origin {
        watch_predecessor(link, &state)?;
    }
    let listener = Arc::new(listener);
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    // The pid file is written only once the port is bound, so its presence means "listening".
    if let Some(pid_file) = &args.pid_file {
        write_pid_file(pid_file)
            .map_err(|e| format!("cannot write {}: {e}", pid_file.display()))?;
    }
    if let Some(instance_file) = &args.instance_file {
        fs::write(instance_file, format!("{}\n", http::instance()))
            .map_err(|e| format!("cannot write {}: {e}", instance_file.display()))?;
    }
    if let Some(handover) = &args.handover {
        let log = log.clone();
        listener::serve_handover(handover, Arc::clone(&listener), move |m| log.line(m))
            .map_err(|e| format!("cannot serve hand-overs at {}: {e}", handover.display()))?;
    }
    let configured = |set: bool| if set { "configured" } else { "unconfigured" };
    log.line(&format!(
        "demo-service listening on http://{address} (pid {}, env file {shown}, postgres {}, redis {}, socket {})",
        std::process::id(),
        configured(state.postgres.is_some()),
        configured(state.redis.is_some()),
        match origin {
            listener::Origin::Bound => "bound",
            listener::Origin::TakenOver(_) => "taken over",
        },
    ));
    let in_flight = lifecycle::InFlight::default();
    let handle = |stream: TcpStream| {
        let state = Arc::clone(&state);
        let guard = in_flight.enter();
        let spawned = std::thread::Builder::new().spawn(move || {
            serve(stream, &state);
            drop(guard);
        });
        if let Err(error) = spawned {
            log.line(&format!("cannot start a connection thread: {error}"));
        }
    };
    lifecycle::serve_until_stopped(&listener, &stop, &in_flight, handle, |m| log.line(m))
        .map_err(|e| format!("cannot accept on {address}: {e}"))?;
    log.line(&format!(
        "demo-service stopped (pid {})",
        std::process::id()
    ));
    Ok(())
}

/// Marks the predecessor as serving until its end of `link` closes, which happens when it exits.
fn watch_predecessor(link: &UnixStream, state: &Arc<State>) -> Result<(), String> {
    let mut link = link
        .try_clone()
        .map_err(|e| format!("cannot watch the predecessor: {e}"))?;
    state.predecessor_serving.store(true, Ordering::SeqCst);
    let state = Arc::clone(state);
    std::thread::Builder::new()
        .name("predecessor".to_owned())
        .spawn(move || {
            // The predecessor never writes again: any return (end-of-file, an error) means gone.
            let _ = io::Read::read(&mut link, &mut [0u8; 1]);
            state.predecessor_serving.store(false, Ordering::SeqCst);
            state.log.line("predecessor gone: signing with JWT_SECRET");
        })
        .map_err(|e| format!("cannot watch the predecessor: {e}"))?;
    Ok(())
}

fn open_log(path: Option<&Path>) -> io::Result<Log> {
    let out: Box<dyn Write + Send> = match path {
        Some(path) => Box::new(OpenOptions::new().create(true).append(true).open(path)?),
        None => Box::new(io::stderr()),
    };
    Ok(Log(Arc::new(Mutex::new(out))))
}

/// The checks the real API makes before serving; messages name keys, never values.
fn startup_problems(env: &EnvFile) -> Vec<String> {
    let set = |key: &str| env.get(key).filter(|value| !value.is_empty());
    let mut problems = Vec::new();
    let missing: Vec<&str> = ["JWT_SECRET", "SESSION_SECRET"]
        .into_iter()
        .filter(|key| set(key).is_none())
        .collect();
    if !missing.is_empty() {
        problems.push(format!("missing or empty: {}", missing.join(", ")));
    }
    if let (Some(enrollment), Some(recovery)) = (
        set("ENROLLMENT_KEY_PEPPER"),
        set("MFA_RECOVERY_CODE_PEPPER"),
    ) && enrollment == recovery
    {
        problems.push(
            "ENROLLMENT_KEY_PEPPER and MFA_RECOVERY_CODE_PEPPER are equal; they must differ"
                .to_owned(),
        );
    }
    problems
}

fn load_state(env: &EnvFile, log: Log) -> State {
    let fingerprint_key = env
        .get("DEMO_FINGERPRINT_KEY")
        .filter(|key| !key.is_empty())
        .unwrap_or_else(|| DEFAULT_FINGERPRINT_KEY.to_owned());
    let fingerprints = env
        .keys()
        .filter(|key| SECRET_SUFFIXES.iter().any(|suffix| key.ends_with(suffix)))
        .filter_map(|key| {
            let value = env.get(key)?;
            Some((
                key.to_owned(),
                Value::from(crypto::fingerprint(fingerprint_key.as_bytes(), &value)),
            ))
        })
        .collect();
    // An empty URL counts as unset, as an empty variable does for the real services.
    let url = |key: &str| env.get(key).filter(|url| !url.is_empty());
    State {
        jwt_secret: env.get("JWT_SECRET").unwrap_or_default(),
        session_secret: env.get("SESSION_SECRET").unwrap_or_default(),
        jwt_previous: env.get("JWT_SECRET_PREVIOUS").filter(|k| !k.is_empty()),
        session_previous: env.get("SESSION_SECRET_PREVIOUS").filter(|k| !k.is_empty()),
        predecessor_serving: AtomicBool::new(false),
        metrics_token: Bearer::from_env(env, "METRICS_SCRAPE_TOKEN"),
        enrollment_secret: Bearer::from_env(env, "AGENT_ENROLLMENT_SECRET"),
        fingerprints,
        app_records: records::Keyring::load(env, "APP_ENCRYPTION_KEY", false, "DEMO_DATA_FILE"),
        mfa_records: records::Keyring::load(env, "MFA_ENCRYPTION_KEY", true, "DEMO_MFA_DATA_FILE"),
        fingerprint_key,
        postgres: url("DATABASE_URL").map(|url| backends::parse_database_url(&url)),
        redis: url("REDIS_URL").map(|url| backends::parse_redis_url(&url)),
        log,
    }
}

/// Writes the pid through a temporary file and a rename, so readers never see a partial pid.
fn write_pid_file(path: &Path) -> io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let mut file = File::create(&temporary)?;
    writeln!(file, "{}", std::process::id())?;
    file.sync_all()?;
    fs::rename(&temporary, path)
}

/// Answers one connection: one request, one response, one log line.
fn serve(stream: TcpStream, state: &State) {
    let started = Instant::now();
    let peer = stream
        .peer_addr()
        .map_or_else(|_| "-".to_owned(), |peer| peer.to_string());
    let timeout = Some(Duration::from_secs(5));
    if stream.set_read_timeout(timeout).is_err() || stream.set_write_timeout(timeout).is_err() {
        return;
    }
    let (request_line, response) = match http::read_request(&stream) {
        Ok(request) => {
            let response = routes::route(&request, state);
            (format!("{} {}", request.method, request.path), response)
        }
        Err(ReadError::Malformed) => ("-".to_owned(), Response::error(400, "malformed request")),
        // The peer went away or stalled: there is nobody to answer and nothing worth a line.
        Err(ReadError::Gone) => return,
    };
    let written = match response.write_to(&stream) {
        Ok(()) => String::new(),
        Err(error) => format!(" (write failed: {error})"),
    };
    let elapsed = started.elapsed().as_millis();
    state.log.line(&format!(
        "{peer} {request_line} {} {elapsed}ms{written}",
        response.status
    ));
}

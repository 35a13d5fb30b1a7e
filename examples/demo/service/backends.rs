//! Owns the demo service's backend checks: PostgreSQL through `psql`, Redis over raw RESP.
//!
//! These prove that a rotated database or Redis password is live: `/health` only reports `ok`
//! when the credentials loaded from the env file at start are accepted right now. Credentials
//! never reach a child's argv or an error message; failure reasons come from the server's
//! reply, which names users and hosts but not passwords.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one backend check may take, so a dead server cannot hang `/health`.
const TIMEOUT: Duration = Duration::from_secs(3);

/// Connection settings for PostgreSQL, from `DATABASE_URL`. No `Debug`: it holds a password.
pub(crate) struct Postgres {
    host: String,
    port: u16,
    user: Option<String>,
    password: Option<String>,
    database: Option<String>,
    sslmode: Option<String>,
}

/// Connection settings for Redis, from `REDIS_URL`. No `Debug`: it holds a password.
pub(crate) struct Redis {
    host: String,
    port: u16,
    user: Option<String>,
    password: Option<String>,
}

/// The pieces of `scheme://user:password@host:port/path?query`, percent-decoded.
struct Url {
    user: Option<String>,
    password: Option<String>,
    host: String,
    port: Option<u16>,
    path: String,
    query: String,
}

/// Parses `postgres://user:password@host:port/db`; the error never includes the URL.
pub(crate) fn parse_database_url(url: &str) -> Result<Postgres, &'static str> {
    let url = parse_url(url, &["postgres", "postgresql"])?;
    let database = percent_decode(url.path.trim_start_matches('/'))?;
    let sslmode = url
        .query
        .split('&')
        .find_map(|pair| pair.strip_prefix("sslmode="))
        .map(str::to_owned);
    Ok(Postgres {
        host: url.host,
        port: url.port.unwrap_or(5432),
        user: url.user,
        password: url.password,
        database: Some(database).filter(|db| !db.is_empty()),
        sslmode,
    })
}

/// Parses `redis://:password@host:port` or `redis://user:password@host:port`.
pub(crate) fn parse_redis_url(url: &str) -> Result<Redis, &'static str> {
    let url = parse_url(url, &["redis"])?;
    Ok(Redis {
        host: url.host,
        port: url.port.unwrap_or(6379),
        user: url.user.filter(|user| !user.is_empty()),
        password: url.password,
    })
}

fn parse_url(url: &str, schemes: &[&str]) -> Result<Url, &'static str> {
    let (scheme, rest) = url.split_once("://").ok_or("not a URL")?;
    if !schemes.iter().any(|s| s.eq_ignore_ascii_case(scheme)) {
        return Err("unexpected URL scheme");
    }
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
    // The last `@` separates credentials from the host, in case an unencoded one slipped in.
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((userinfo, hostport)) => (Some(userinfo), hostport),
        None => (None, authority),
    };
    let (user, password) = match userinfo {
        None => (None, None),
        Some(info) => match info.split_once(':') {
            Some((user, password)) => (Some(user), Some(password)),
            None => (Some(info), None),
        },
    };
    let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
        // An IPv6 literal: `[::1]:5432`.
        let (host, after) = bracketed.split_once(']').ok_or("unterminated IPv6 host")?;
        (host, after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return Err("URL has no host");
    }
    let port = match port {
        Some(port) => Some(port.parse().map_err(|_| "URL port is not a number")?),
        None => None,
    };
    Ok(Url {
        user: user.map(percent_decode).transpose()?,
        password: password.map(percent_decode).transpose()?,
        host: percent_decode(host)?,
        port,
        path: path.to_owned(),
        query: query.to_owned(),
    })
}

/// Decodes `%XX` escapes, as URL userinfo requires for passwords with reserved characters.
fn percent_decode(text: &str) -> Result<String, &'static str> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or("truncated %-escape in URL")?;
            let hex = std::str::from_utf8(hex).map_err(|_| "invalid %-escape in URL")?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| "invalid %-escape in URL")?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "URL component is not UTF-8 after decoding")
}

/// Runs `psql -tAc 'select 1'` with every connection setting in the environment only,
/// because a child's argv is world-readable through `ps` and `/proc`.
pub(crate) fn check_postgres(pg: &Postgres) -> Result<(), String> {
    let mut command = Command::new("psql");
    command
        // -X: ignore ~/.psqlrc; -w: never prompt, fail instead.
        .args(["-X", "-w", "-tAc", "select 1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("PGHOST", &pg.host)
        .env("PGPORT", pg.port.to_string())
        .env("PGCONNECT_TIMEOUT", TIMEOUT.as_secs().to_string());
    // Settings the URL does not give are removed, so the env file alone decides what is used.
    let optional = [
        ("PGUSER", &pg.user),
        ("PGPASSWORD", &pg.password),
        ("PGDATABASE", &pg.database),
        ("PGSSLMODE", &pg.sslmode),
    ];
    for (name, value) in optional {
        match value {
            Some(value) => command.env(name, value),
            None => command.env_remove(name),
        };
    }
    let mut child = command.spawn().map_err(|error| match error.kind() {
        std::io::ErrorKind::NotFound => "psql is not installed or not on PATH".to_owned(),
        _ => format!("cannot run psql: {error}"),
    })?;
    let deadline = Instant::now() + TIMEOUT + Duration::from_secs(2);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("psql timed out".to_owned());
            }
            Err(error) => return Err(format!("cannot wait for psql: {error}")),
        }
    }
    let output = child
        .wait_with_output()
        .map_err(|error| format!("cannot read psql output: {error}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if output.status.success() && stdout.trim() == "1" {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let reason = stderr.lines().find(|line| !line.trim().is_empty());
    Err(short(reason.unwrap_or("psql failed without a message")))
}

/// Authenticates (when the URL has a password) and expects `+PONG` to `PING`.
pub(crate) fn check_redis(redis: &Redis) -> Result<(), String> {
    let address = (redis.host.as_str(), redis.port)
        .to_socket_addrs()
        .map_err(|error| format!("cannot resolve redis host: {error}"))?
        .next()
        .ok_or("redis host resolved to no address")?;
    let stream = TcpStream::connect_timeout(&address, TIMEOUT)
        .map_err(|error| format!("cannot connect to redis at {address}: {error}"))?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(TIMEOUT)))
        .map_err(|error| format!("cannot configure the redis connection: {error}"))?;
    let mut reader = BufReader::new(&stream);
    if let Some(password) = &redis.password {
        let mut args = vec!["AUTH"];
        args.extend(redis.user.as_deref());
        args.push(password.as_str());
        let reply = command(&stream, &mut reader, &args)?;
        if !reply.starts_with('+') {
            return Err(format!("redis AUTH failed: {}", short(&reply)));
        }
    }
    let reply = command(&stream, &mut reader, &["PING"])?;
    if reply != "+PONG" {
        return Err(format!("redis PING failed: {}", short(&reply)));
    }
    Ok(())
}

/// Sends one RESP command and returns the first line of the reply.
fn command(
    mut stream: &TcpStream,
    reader: &mut BufReader<&TcpStream>,
    args: &[&str],
) -> Result<String, String> {
    let mut frame = format!("*{}\r\n", args.len());
    for arg in args {
        frame.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    stream
        .write_all(frame.as_bytes())
        .map_err(|error| format!("cannot write to redis: {error}"))?;
    let mut line = Vec::new();
    reader
        .by_ref()
        .take(4096)
        .read_until(b'\n', &mut line)
        .map_err(|error| format!("cannot read from redis: {error}"))?;
    if line.is_empty() {
        return Err("redis closed the connection".to_owned());
    }
    Ok(String::from_utf8_lossy(&line).trim_end().to_owned())
}

/// Keeps a server's error message to one short line for the log.
fn short(message: &str) -> String {
    message.trim().chars().take(200).collect()
}

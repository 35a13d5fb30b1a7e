//! Owns one request of the load generator and its verdict: ok, failed or rejected.
//!
//! The distinction is the point of the load test. A *failed* request is an outage: the
//! connection was refused or reset, timed out, or the service answered 5xx. A *rejected* one
//! reached a working service that refused the credential (401, or a backend's authentication
//! error): the cost of a rotation without overlap. Reasons name error kinds and statuses,
//! never a token, cookie or password.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Connect, read and write limits of one request, so a hung service cannot stall the load.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Responses of the demo are a few hundred bytes; more means something is wrong.
const MAX_RESPONSE: u64 = 64 * 1024;

pub(crate) enum Verdict {
    Ok,
    Failed(String),
    Rejected(String),
}

/// The service instances that answered (their `X-Demo-Instance`, which unlike a pid differs
/// between containers): more than one proves the load spanned a restart.
static INSTANCES: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

pub(crate) fn instances() -> usize {
    INSTANCES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .len()
}

/// A successful response's status and body; `Err` is a failure's reason.
pub(crate) struct Reply {
    pub status: u16,
    pub body: String,
}

/// `GET path` on 127.0.0.1:`port` (loopback only, by construction), with extra header lines.
pub(crate) fn get(port: u16, path: &str, header: Option<(&str, &str)>) -> Result<Reply, String> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&address, TIMEOUT).map_err(|e| kind(&e))?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(TIMEOUT)))
        .map_err(|e| kind(&e))?;
    let extra = header.map_or(String::new(), |(name, value)| {
        format!("{name}: {value}\r\n")
    });
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).map_err(|e| kind(&e))?;
    let mut response = Vec::new();
    stream
        .take(MAX_RESPONSE)
        .read_to_end(&mut response)
        .map_err(|e| kind(&e))?;
    let response = String::from_utf8_lossy(&response);
    let Some((head, body)) = response.split_once("\r\n\r\n") else {
        return Err(if response.is_empty() {
            "closed without a response".to_owned()
        } else {
            "truncated response".to_owned()
        });
    };
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| "malformed status line".to_owned())?;
    let instance = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("X-Demo-Instance")
            .then(|| value.trim().to_owned())
    });
    if let Some(instance) = instance {
        INSTANCES
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(instance);
    }
    Ok(Reply {
        status,
        body: body.to_owned(),
    })
}

/// The verdict on a request that presents a credential: 200 ok, 401/403 rejected.
pub(crate) fn judge(reply: Result<Reply, String>) -> Verdict {
    match reply {
        Ok(reply) if reply.status == 200 => Verdict::Ok,
        Ok(reply) if matches!(reply.status, 401 | 403) => {
            Verdict::Rejected(format!("status {}", reply.status))
        }
        Ok(reply) => Verdict::Failed(format!("status {}", reply.status)),
        Err(reason) => Verdict::Failed(reason),
    }
}

/// The verdict on a backend check: an authentication error is a rejection, anything else an
/// outage. The messages come from the servers and never hold the password.
pub(crate) fn judge_backend(result: Result<(), String>) -> Verdict {
    match result {
        Ok(()) => Verdict::Ok,
        Err(message) => {
            let refused = [
                "WRONGPASS",
                "NOAUTH",
                "invalid password",
                "password authentication",
            ]
            .iter()
            .any(|mark| message.contains(mark));
            let reason: String = message.chars().take(120).collect();
            if refused {
                Verdict::Rejected(reason)
            } else {
                Verdict::Failed(reason)
            }
        }
    }
}

/// An I/O error as its kind ("connection refused", "connection reset"): stable across runs, so
/// equal failures count under one reason.
fn kind(error: &std::io::Error) -> String {
    error.kind().to_string()
}

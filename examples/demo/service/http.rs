//! Owns the demo service's minimal HTTP/1.1 wire handling: read one request, write one response.
//!
//! One request per connection, answered with `Content-Length` and `Connection: close`, is all
//! the health probes, the restart driver and the tests need, and it keeps the parser small
//! enough to be obviously bounded: no bodies, no keep-alive, no chunking.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::OnceLock;

/// Request line plus headers may not exceed this; a probe's request is a few hundred bytes.
const MAX_HEAD_BYTES: u64 = 16 * 1024;

/// The parts of a request the routes look at.
pub(crate) struct Request {
    pub method: String,
    /// The path without its query string, so the log never records query parameters.
    pub path: String,
    headers: Vec<(String, String)>,
}

impl Request {
    /// Returns the first header named `name` (case-insensitive, as HTTP header names are).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// Why a request could not be read: `Malformed` is answered with 400; `Gone` (the peer closed,
/// stalled past the read timeout, or reset) has nobody left to answer.
pub(crate) enum ReadError {
    Gone,
    Malformed,
}

impl From<io::Error> for ReadError {
    fn from(_: io::Error) -> Self {
        ReadError::Gone
    }
}

/// Reads the request line and headers; any body is ignored because no route takes one.
pub(crate) fn read_request(stream: &TcpStream) -> Result<Request, ReadError> {
    let mut reader = BufReader::new(stream.take(MAX_HEAD_BYTES));
    let request_line = read_line(&mut reader)?;
    let mut parts = request_line.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(ReadError::Malformed);
    };
    if !version.starts_with("HTTP/1.") || parts.next().is_some() {
        return Err(ReadError::Malformed);
    }
    let path = target
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .to_owned();
    let mut headers = Vec::new();
    loop {
        let line = read_line(&mut reader)?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').ok_or(ReadError::Malformed)?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    Ok(Request {
        method: method.to_owned(),
        path,
        headers,
    })
}

/// Reads one CRLF- or LF-terminated line. A connection closed before sending anything is
/// `Gone` (a port probe); running out of bytes mid-line, or past the size cap, is malformed.
fn read_line(reader: &mut impl BufRead) -> Result<String, ReadError> {
    let mut buf = Vec::new();
    reader.read_until(b'\n', &mut buf)?;
    if buf.is_empty() {
        return Err(ReadError::Gone);
    }
    if buf.last() != Some(&b'\n') {
        return Err(ReadError::Malformed);
    }
    buf.pop();
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    String::from_utf8(buf).map_err(|_| ReadError::Malformed)
}

/// This process's instance id, sent as `X-Demo-Instance`: unlike the pid, it differs between
/// two containers (where both services may be pid 1) sharing a port.
pub(crate) fn instance() -> &'static str {
    static INSTANCE: OnceLock<String> = OnceLock::new();
    INSTANCE.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/random/uuid").map_or_else(
            |_| format!("{}-{:?}", std::process::id(), std::time::SystemTime::now()),
            |uuid| uuid.trim().to_owned(),
        )
    })
}

/// A complete response: every body this service sends is JSON.
pub(crate) struct Response {
    pub status: u16,
    pub body: String,
}

impl Response {
    pub(crate) fn json(status: u16, body: serde_json::Value) -> Response {
        Response {
            status,
            body: body.to_string(),
        }
    }

    pub(crate) fn error(status: u16, message: &str) -> Response {
        Response::json(status, serde_json::json!({ "error": message }))
    }

    /// Writes the response and flushes; the caller closes the connection by dropping it.
    /// `X-Demo-Pid` names the process that answered: during a blue/green restart two
    /// instances share the port, and the restart driver waits for the new one's answer.
    pub(crate) fn write_to(&self, mut stream: &TcpStream) -> io::Result<()> {
        let head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Cache-Control: no-store\r\nX-Demo-Pid: {}\r\nX-Demo-Instance: {}\r\n\
             Connection: close\r\n\r\n",
            self.status,
            reason(self.status),
            self.body.len() + 1,
            std::process::id(),
            instance(),
        );
        stream.write_all(head.as_bytes())?;
        stream.write_all(self.body.as_bytes())?;
        // A trailing newline keeps `curl` output readable in a terminal.
        stream.write_all(b"\n")?;
        stream.flush()
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

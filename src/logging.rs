//! Tracing to stderr at the verbosity asked for (`-v`…`-vvv`, or `RUST_LOG`), through the
//! redactor: logs at any level never show a secret.

use std::io::Write;
use std::str::FromStr;

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::redact::Redactor;

struct RedactingStderr {
    redactor: Redactor,
}

impl Write for RedactingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // The formatter hands over one whole event per write, so a secret is never split here.
        std::io::stderr()
            .lock()
            .write_all(&self.redactor.redact_bytes(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

pub(crate) fn init(verbose: u8, quiet: bool, redactor: &Redactor) {
    let level = match (quiet, verbose) {
        (true, _) => LevelFilter::ERROR,
        (false, 0) => LevelFilter::WARN,
        (false, 1) => LevelFilter::INFO,
        (false, 2) => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    };
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|spec| Targets::from_str(&spec).ok())
        .unwrap_or_else(|| Targets::new().with_default(level));
    let redactor = redactor.clone();
    let layer = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_target(false)
        .with_writer(move || RedactingStderr {
            redactor: redactor.clone(),
        });
    let _ = tracing_subscriber::registry()
        .with(layer)
        .with(filter)
        .try_init();
}

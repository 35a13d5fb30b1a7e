//! Owns the demo service's life after start: accepting connections until SIGTERM, then the
//! drain — stop accepting, take what the kernel already queued, finish every request in
//! flight, exit.
//!
//! SIGTERM is what `docker stop`, `restart.sh` and process supervisors send, so a stop by any
//! of them is graceful. During a blue/green restart the successor shares the listening socket
//! (see `listener.rs`), so whatever this process leaves in the queue the successor accepts.
//! Without a successor the queue is drained before the socket closes; the few microseconds
//! between the last accept and the close remain a window in which a new connection is reset,
//! which is why a restart that must lose nothing hands the socket over.

use std::io;
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};

/// How often the accept loop looks at the stop flag while no connection arrives.
const STOP_CHECK: Timespec = Timespec {
    tv_sec: 0,
    tv_nsec: 50_000_000,
};
/// Connections taken from the queue after the stop: a bound, because a shared queue under
/// load never runs dry.
const DRAIN_AT_MOST: usize = 1024;
/// Longest wait for requests in flight; each connection has 5 s read and write timeouts.
const IN_FLIGHT_GRACE: Duration = Duration::from_secs(12);

/// Sets the returned flag when SIGTERM arrives (from then on SIGTERM no longer kills).
pub(crate) fn stop_on_sigterm() -> io::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    // Registered here, before the service answers anything, so no SIGTERM is missed.
    let mut terminate = runtime.block_on(async {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    })?;
    let flag = Arc::clone(&stop);
    std::thread::Builder::new()
        .name("sigterm".to_owned())
        .spawn(move || {
            runtime.block_on(terminate.recv());
            flag.store(true, Ordering::SeqCst);
        })?;
    Ok(stop)
}

/// Counts connection threads still running, so the drain can wait for them.
#[derive(Clone, Default)]
pub(crate) struct InFlight(Arc<AtomicUsize>);

/// Held by one connection's thread; dropping it (even by a panic) marks the request finished.
pub(crate) struct InFlightGuard(Arc<AtomicUsize>);

impl InFlight {
    pub(crate) fn enter(&self) -> InFlightGuard {
        self.0.fetch_add(1, Ordering::SeqCst);
        InFlightGuard(Arc::clone(&self.0))
    }

    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Accepts until `stop`, handing each connection to `handle`; then drains (see the module
/// comment) and returns once the requests in flight are answered, or the grace is over.
pub(crate) fn serve_until_stopped(
    listener: &TcpListener,
    stop: &AtomicBool,
    in_flight: &InFlight,
    mut handle: impl FnMut(TcpStream),
    log: impl Fn(&str),
) -> io::Result<()> {
    // Non-blocking, because a successor sharing the socket may take the connection that woke
    // this poll; a blocking accept would then hang past the stop.
    listener.set_nonblocking(true)?;
    while !stop.load(Ordering::SeqCst) {
        let mut fds = [PollFd::new(listener, PollFlags::IN)];
        match rustix::event::poll(&mut fds, Some(&STOP_CHECK)) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(error) => return Err(error.into()),
        }
        if let Some(stream) = accept(listener, &log) {
            handle(stream);
        }
    }
    let mut drained = 0;
    while drained < DRAIN_AT_MOST {
        let Some(stream) = accept(listener, &log) else {
            break;
        };
        handle(stream);
        drained += 1;
    }
    log(&format!(
        "draining: stopped accepting ({drained} queued connections taken), {} requests in flight",
        in_flight.count()
    ));
    let deadline = Instant::now() + IN_FLIGHT_GRACE;
    while in_flight.count() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// One accept; `None` when nothing is queued (or the accept failed, which is logged).
fn accept(listener: &TcpListener, log: &impl Fn(&str)) -> Option<TcpStream> {
    match listener.accept() {
        Ok((stream, _)) => match stream.set_nonblocking(false) {
            Ok(()) => Some(stream),
            Err(error) => {
                log(&format!("cannot make a connection blocking: {error}"));
                None
            }
        },
        Err(error) if error.kind() == io::ErrorKind::WouldBlock => None,
        Err(error) if error.kind() == io::ErrorKind::Interrupted => None,
        Err(error) => {
            // Typically out of file descriptors: back off instead of spinning.
            log(&format!("accept failed: {error}"));
            std::thread::sleep(Duration::from_millis(100));
            None
        }
    }
}

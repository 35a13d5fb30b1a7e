//! Owns the demo service's listening socket: bound with SO_REUSEPORT, or taken over from the
//! running instance through a hand-over socket, and handed on to the next one the same way.
//!
//! A blue/green restart starts the new process while the old one still serves. SO_REUSEPORT
//! alone lets both bind the port, but each then has its own accept queue, and connections the
//! kernel queued on the old socket are reset when it closes, however carefully the old process
//! drains. So when a hand-over socket is configured, the new process asks the old one for its
//! listening socket itself (SCM_RIGHTS over a Unix socket, as HAProxy's seamless reload does):
//! both then accept from one queue, and the old one closing its copy loses nothing. The
//! SO_REUSEPORT bind remains the fallback when no predecessor answers (the first start, or a
//! predecessor that died), and is what lets two containers of a compose service share a port.

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, SocketType, sockopt,
};

/// Pending connections the kernel may queue; a burst of load-generator connections during a
/// restart must not overflow it.
const BACKLOG: i32 = 1024;

/// Where the listening socket came from, for the start-up log line.
pub(crate) enum Origin {
    Bound,
    /// From a predecessor, with the link to it: the predecessor holds its end open until it
    /// exits, so reading it returns end-of-file exactly when the predecessor is gone.
    TakenOver(UnixStream),
}

/// The listening socket: the running instance's when `handover` reaches one, else a new one.
pub(crate) fn open(port: u16, handover: Option<&Path>) -> Result<(TcpListener, Origin), String> {
    if let Some(handover) = handover {
        let taken = take_over(handover)
            .map_err(|e| format!("cannot take the socket over at {}: {e}", handover.display()))?;
        if let Some((taken, link)) = taken {
            let bound = taken.local_addr().map_err(|e| e.to_string())?.port();
            if bound != port {
                return Err(format!(
                    "the instance at {} listens on port {bound}, not {port}",
                    handover.display()
                ));
            }
            return Ok((taken, Origin::TakenOver(link)));
        }
    }
    let bound = bind(port).map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    Ok((bound, Origin::Bound))
}

/// Binds 127.0.0.1:`port` with SO_REUSEPORT (and SO_REUSEADDR, so a port in TIME_WAIT after a
/// recreate is free at once).
fn bind(port: u16) -> io::Result<TcpListener> {
    let socket = rustix::net::socket(AddressFamily::INET, SocketType::STREAM, None)?;
    sockopt::set_socket_reuseaddr(&socket, true)?;
    sockopt::set_socket_reuseport(&socket, true)?;
    rustix::net::bind(&socket, &SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))?;
    rustix::net::listen(&socket, BACKLOG)?;
    Ok(TcpListener::from(socket))
}

/// The listening socket of the instance answering at `handover`, or `None` when nothing
/// answers there (no predecessor, or a stale socket file of one that exited).
fn take_over(handover: &Path) -> io::Result<Option<(TcpListener, UnixStream)>> {
    let stream = match UnixStream::connect(handover) {
        Ok(stream) => stream,
        Err(error)
            if matches!(
                error.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None);
        }
        Err(error) => return Err(error),
    };
    let mut byte = [0u8; 1];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    match rustix::net::recvmsg(
        &stream,
        &mut [IoSliceMut::new(&mut byte)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    ) {
        Ok(_) => {}
        // The instance exited between our connect and its answer: there is nobody to take
        // over from, exactly as if nothing had answered.
        Err(rustix::io::Errno::CONNRESET) => return Ok(None),
        Err(error) => return Err(error.into()),
    }
    let received: Option<OwnedFd> = control.drain().find_map(|message| match message {
        RecvAncillaryMessage::ScmRights(mut fds) => fds.next(),
        _ => None,
    });
    // No socket and end of stream: the same race (an exiting process's last thread can hold
    // the hand-over socket open briefly after its pid is reported gone), the same answer.
    Ok(received.map(|socket| (TcpListener::from(socket), stream)))
}

/// Serves hand-over requests at `path` from a thread: each connection receives a copy of
/// `listener`. The socket file is created under a temporary name and
/// renamed into place, so a successor never finds a half-made one, and is made 0600, since
/// whoever holds the listening socket can answer as the service.
pub(crate) fn serve_handover(
    path: &Path,
    listener: Arc<TcpListener>,
    log: impl Fn(&str) + Send + 'static,
) -> io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".{}", std::process::id()));
    let temporary = PathBuf::from(temporary);
    let _ = std::fs::remove_file(&temporary);
    let server = UnixListener::bind(&temporary)?;
    std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o600))?;
    std::fs::rename(&temporary, path)?;
    std::thread::Builder::new()
        .name("handover".to_owned())
        .spawn(move || {
            // Each successor's link stays open until this process exits: the successor
            // learns from its end-of-file that no instance with older keys still serves.
            let mut successors = Vec::new();
            for stream in server.incoming() {
                let sent = stream.and_then(|stream| {
                    send_socket(&stream, listener.as_fd())?;
                    successors.push(stream);
                    Ok(())
                });
                match sent {
                    Ok(()) => log("listening socket handed over to a new instance"),
                    Err(error) => log(&format!("hand-over failed: {error}")),
                }
            }
        })?;
    Ok(())
}

fn send_socket(stream: &UnixStream, socket: std::os::fd::BorrowedFd<'_>) -> io::Result<()> {
    let fds = [socket];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(io::Error::other("no room for the socket in the message"));
    }
    // One byte of payload: a message carrying only ancillary data is not delivered.
    rustix::net::sendmsg(
        stream,
        &[IoSlice::new(b"L")],
        &mut control,
        SendFlags::empty(),
    )?;
    Ok(())
}

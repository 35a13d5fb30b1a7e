//! The operator's terminal: a prompt on `/dev/tty`, hidden for secrets. The operator sits at
//! this machine whatever host a step acts on, so this is not part of the host seam.

use std::io::{BufRead, Write};

/// Reads one line from the controlling terminal, with echo off when `hidden`.
pub(crate) fn read_hidden_line(prompt: &str, hidden: bool) -> std::io::Result<String> {
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")?;
    let mut writer = &tty;
    writer.write_all(prompt.as_bytes())?;
    writer.flush()?;
    let saved = if hidden {
        let saved = rustix::termios::tcgetattr(&tty)?;
        let mut quiet = saved.clone();
        quiet.local_modes.remove(rustix::termios::LocalModes::ECHO);
        rustix::termios::tcsetattr(&tty, rustix::termios::OptionalActions::Flush, &quiet)?;
        Some(saved)
    } else {
        None
    };
    let mut line = String::new();
    let read = std::io::BufReader::new(&tty).read_line(&mut line);
    if let Some(saved) = saved {
        rustix::termios::tcsetattr(&tty, rustix::termios::OptionalActions::Flush, &saved)?;
        writer.write_all(b"\n")?;
    }
    if read? == 0 {
        // The terminal closed: an answer nobody gave is no answer, never an empty one.
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

//! Owns the demo service's command line.

use std::path::PathBuf;

pub(crate) const USAGE: &str = "usage: demo-service (--env-file PATH | --environment) [--port N] \
     [--pid-file PATH] [--log-file PATH] [--handover SOCKET] [--instance-file PATH]";

pub(crate) struct Args {
    /// `None` with `--environment`: the settings come from the process environment.
    pub env_file: Option<PathBuf>,
    pub port: u16,
    pub pid_file: Option<PathBuf>,
    pub log_file: Option<PathBuf>,
    /// Where this instance takes the listening socket over from a running one, and then
    /// offers it to the next (a blue/green restart; see `service/listener.rs`).
    pub handover: Option<PathBuf>,
    /// Where the instance id sent as `X-Demo-Instance` is written, so a container's health
    /// check can tell its own answers from a sibling's on the shared port.
    pub instance_file: Option<PathBuf>,
}

/// Returns `None` for `--help`.
pub(crate) fn parse_args(mut argv: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let (mut env_file, mut port, mut pid_file, mut log_file) = (None, 8080, None, None);
    let (mut handover, mut instance_file, mut environment) = (None, None, false);
    while let Some(arg) = argv.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg, None),
        };
        if flag == "--help" || flag == "-h" {
            return Ok(None);
        }
        let mut value = || {
            inline
                .clone()
                .or_else(|| argv.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--env-file" => env_file = Some(PathBuf::from(value()?)),
            "--port" => {
                let text = value()?;
                port = text
                    .parse()
                    .map_err(|_| format!("--port: `{text}` is not a port number"))?;
            }
            "--pid-file" => pid_file = Some(PathBuf::from(value()?)),
            "--log-file" => log_file = Some(PathBuf::from(value()?)),
            "--handover" => handover = Some(PathBuf::from(value()?)),
            "--instance-file" => instance_file = Some(PathBuf::from(value()?)),
            "--environment" => environment = true,
            _ => return Err(format!("unknown argument `{flag}`")),
        }
    }
    if environment == env_file.is_some() {
        return Err("give exactly one of --env-file and --environment".to_owned());
    }
    Ok(Some(Args {
        env_file,
        port,
        pid_file,
        log_file,
        handover,
        instance_file,
    }))
}

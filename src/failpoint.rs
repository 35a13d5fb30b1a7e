//! Failpoints for the crash tests: `RUNBOOK_FAILPOINT=<point>:<step>` kills the process with
//! SIGKILL at that point, exactly as a power cut or `kill -9` would. Points: `before-intent`,
//! `after-intent` (before the side effect), `after-effect` (the side effect happened, its
//! result is not journaled), `after-done`, and `mid-write:<file name>` (an atomic write's
//! temporary file is complete, not yet renamed over the file), and `start:after-folder` /
//! `start:after-active` (a run's first bytes on disk, before its journal), and `end:after-record`
//! (the run's end is journaled, its pending values, backups and active marker not yet removed). Unset, this costs
//! one environment lookup.

pub(crate) fn hit(point: &str, step: &str) {
    let Some(spec) = std::env::var_os("RUNBOOK_FAILPOINT") else {
        return;
    };
    let spec = spec.to_string_lossy();
    if spec
        .split_once(':')
        .is_some_and(|(p, s)| p == point && s == step)
    {
        let _ =
            rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
    }
}

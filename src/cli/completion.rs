//! Shell completion: the script a shell sources, and the candidates (runbook names, secret
//! ids, run ids) it asks `runbook` for at the moment of completing.

use clap_complete::engine::CompletionCandidate;

/// The script a shell sources to ask `runbook` for completions (clap_complete's dynamic
/// completion: the candidates come from the current directory at the moment of asking).
pub(super) fn registration(shell: clap_complete::Shell) -> Vec<u8> {
    let mut out = Vec::new();
    let name = shell.to_string();
    if let Some(completer) = clap_complete::env::Shells::builtins().completer(&name) {
        // Writing to a Vec cannot fail.
        let _ = completer.write_registration("COMPLETE", "runbook", "runbook", "runbook", &mut out);
    }
    out
}

fn candidates(values: Vec<(String, Option<String>)>) -> Vec<CompletionCandidate> {
    values
        .into_iter()
        .map(|(value, help)| CompletionCandidate::new(value).help(help.map(Into::into)))
        .collect()
}

pub(super) fn runbook_candidates() -> Vec<CompletionCandidate> {
    candidates(crate::commands::completion::runbook_names())
}

pub(super) fn secret_candidates() -> Vec<CompletionCandidate> {
    candidates(crate::commands::completion::secret_ids())
}

pub(super) fn run_candidates() -> Vec<CompletionCandidate> {
    candidates(crate::commands::completion::run_ids())
}

//! The `runbook` binary: parse the command line, run the command, exit with its code.

fn main() -> std::process::ExitCode {
    let (global, invocation) = runbook::cli::parse();
    std::process::ExitCode::from(runbook::commands::dispatch(&global, invocation))
}

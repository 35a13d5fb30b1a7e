//! The `runbook` binary: everything happens in the library.

fn main() -> std::process::ExitCode {
    runbook::main()
}

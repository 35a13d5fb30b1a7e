//! A command line clap does not take (and `--help`, `--version`): clap's own text and exit,
//! or, when the command line asks for JSON, the error as the JSON object every JSON output
//! uses.

/// Exits on a command line clap refuses (or on `--help`, `--version`): clap's text on
/// stderr, exit 2, as documented; but a command line that asks for `--format json` gets its
/// error as the JSON object every JSON output uses, so a tool never meets text.
pub(super) fn refuse(error: clap::Error) -> ! {
    use clap::error::ErrorKind;
    let informational = matches!(
        error.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if informational || !asks_for_json(std::env::args()) {
        error.exit();
    }
    let rendered = error.render().to_string();
    let message = rendered
        .lines()
        .next()
        .unwrap_or_default()
        .trim_start_matches("error: ");
    let problem = crate::diagnostic::Problem::new("runbook::usage::args", message)
        .help("`runbook help` lists the commands; `runbook COMMAND --help` their flags");
    let line = crate::report::errors::problem_lines(&[problem], crate::exit::INVALID);
    let _ = crate::commands::write_stdout(line.as_bytes());
    std::process::exit(i32::from(crate::exit::INVALID));
}

/// `--format json` or `--format=json` anywhere on the command line.
fn asks_for_json(args: impl Iterator<Item = String>) -> bool {
    let args: Vec<String> = args.collect();
    args.iter().any(|a| a == "--format=json")
        || args
            .windows(2)
            .any(|w| w[0] == "--format" && w[1] == "json")
}

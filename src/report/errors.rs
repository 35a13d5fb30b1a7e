//! Errors for tools: under `--format json` a command that stops early prints each problem as
//! one JSON object on its own line of stdout, shaped like the run's events, so a consumer of
//! a JSON lines stream (or of one JSON document) never meets text.

use serde::Serialize;

use crate::diagnostic::Problem;

/// `{"event":"error","code":...,"message":...,"file":...,"line":...,"help":...,"exit":N}`.
#[derive(Serialize)]
struct ErrorView<'a> {
    event: &'static str,
    /// The stable diagnostic code (README, "Error codes"); absent for a refusal that is
    /// only an exit code (the lock held, an unfinished run).
    code: Option<&'a str>,
    message: &'a str,
    file: Option<String>,
    line: Option<usize>,
    help: Option<&'a str>,
    exit: u8,
}

/// One line per problem, each ending in a newline.
pub(crate) fn problem_lines(problems: &[Problem], exit: u8) -> String {
    problems
        .iter()
        .map(|problem| {
            let line = problem.source.as_ref().map(|source| {
                problem
                    .labels
                    .first()
                    .map_or(1, |(span, _)| source.line_of(span.offset()))
            });
            to_line(&ErrorView {
                event: "error",
                code: Some(problem.code),
                message: &problem.message,
                file: problem.file().map(|p| p.display().to_string()),
                line,
                help: problem.help.as_deref(),
                exit,
            })
        })
        .collect()
}

/// A refusal that has only an exit code and a sentence.
pub(crate) fn message_line(message: &str, exit: u8) -> String {
    to_line(&ErrorView {
        event: "error",
        code: None,
        message,
        file: None,
        line: None,
        help: None,
        exit,
    })
}

fn to_line(view: &ErrorView<'_>) -> String {
    let mut line = serde_json::to_string(view).expect("an error view serialises; this is a bug");
    line.push('\n');
    line
}

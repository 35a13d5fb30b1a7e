//! Rendering diagnostics to stderr with miette: file, line, column and a label on the text.

use std::io::{IsTerminal, Write};

use miette::{GraphicalReportHandler, GraphicalTheme};

use crate::diagnostic::Problem;

/// When output is coloured (`--color`; `NO_COLOR` is honoured under `auto`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Color {
    Auto,
    Always,
    Never,
}

pub(crate) struct Diagnostics {
    handler: GraphicalReportHandler,
}

/// Whether to colour output on a stream, honouring `--color` and `NO_COLOR`.
pub(crate) fn use_color(color: Color, is_terminal: bool) -> bool {
    match color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    }
}

impl Diagnostics {
    pub(crate) fn new(color: Color) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let theme = if use_color(color, terminal) {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::unicode_nocolor()
        };
        // A fixed width off a terminal keeps logs and snapshots stable.
        let width = if terminal {
            terminal_width().unwrap_or(100)
        } else {
            100
        };
        Self {
            // Lines wrap at spaces only: by default a runbook name or a path would be split
            // at a hyphen or a slash, and could no longer be copied or searched for.
            handler: GraphicalReportHandler::new_themed(theme)
                .with_width(width)
                .with_links(false)
                .with_word_separator(textwrap::WordSeparator::AsciiSpace)
                .with_word_splitter(textwrap::WordSplitter::NoHyphenation)
                .with_break_words(false),
        }
    }

    /// Renders one problem to text.
    pub(crate) fn render(&self, problem: &Problem) -> String {
        let mut out = String::new();
        if self.handler.render_report(&mut out, problem).is_err() {
            out = format!("error: {problem}\n");
        }
        out
    }

    /// Prints every problem, then a count, to stderr.
    pub(crate) fn print(&self, problems: &[Problem]) {
        let mut err = std::io::stderr().lock();
        for problem in problems {
            let _ = writeln!(err, "{}", self.render(problem));
        }
        if problems.len() > 1 {
            let _ = writeln!(err, "{} problems found", problems.len());
        }
    }
}

fn terminal_width() -> Option<usize> {
    std::env::var("COLUMNS").ok()?.parse().ok()
}

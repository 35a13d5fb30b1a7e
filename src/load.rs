//! Reading runbook and config files: size limits, UTF-8, YAML parsing with budgets, and the
//! mapping of parser errors to spanned diagnostics. All YAML parsing lives here.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::diagnostic::{Problem, SourceFile, did_you_mean};
use crate::model::{Config, Runbook};

/// Runbooks are small documents; anything larger is a mistake or an attack.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Deeper nesting than this never occurs in a real runbook and costs stack to parse.
const MAX_DEPTH: usize = 64;

/// A parsed document together with the text its spans point into.
#[derive(Debug)]
pub struct Loaded<T> {
    pub value: T,
    pub source: Arc<SourceFile>,
}

pub fn load_runbook(path: &Path) -> Result<Loaded<Runbook>, Problem> {
    load(path)
}

pub fn load_config(path: &Path) -> Result<Loaded<Config>, Problem> {
    load(path)
}

fn load<T: DeserializeOwned>(path: &Path) -> Result<Loaded<T>, Problem> {
    parse(path, read_text(path)?)
}

/// Parses text already in memory as if it were the file `path` (tests, generated runbooks).
pub fn parse<T: DeserializeOwned>(path: &Path, text: String) -> Result<Loaded<T>, Problem> {
    let source = SourceFile::new(path, text);
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: MAX_DEPTH,
            max_documents: 1,
            max_aliases: 1_000,
            max_anchors: 1_000,
            max_nodes: 500_000,
        },
    };
    let mut options = options;
    options.alias_limits.max_total_replayed_events = 100_000;
    options.alias_limits.max_replay_stack_depth = 16;
    options.alias_limits.max_alias_expansions_per_anchor = 1_000;
    match serde_saphyr::from_str_with_options::<T>(&source.text, options) {
        Ok(value) => Ok(Loaded { value, source }),
        Err(err) => Err(yaml_problem(&err, &source)),
    }
}

/// Reads a file as UTF-8 text, refusing oversized files before reading them whole.
pub fn read_text(path: &Path) -> Result<String, Problem> {
    let display = path.display();
    let file = std::fs::File::open(path)
        .map_err(|e| Problem::new("runbook::load::io", format!("cannot read `{display}`: {e}")))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Problem::new("runbook::load::io", format!("cannot read `{display}`: {e}")))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(Problem::new(
            "runbook::load::too_large",
            format!("`{display}` is larger than 1 MiB; a runbook never needs to be"),
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..offset]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1;
        Problem::new(
            "runbook::load::not_utf8",
            format!("`{display}` is not UTF-8 (invalid byte on line {line})"),
        )
    })
}

/// Turns a parser or deserializer error into a diagnostic labelled at its location.
fn yaml_problem(err: &serde_saphyr::Error, source: &Arc<SourceFile>) -> Problem {
    let raw = err
        .without_snippet()
        .render_with_options(serde_saphyr::render_options! {
            snippets: serde_saphyr::SnippetMode::Off,
        });
    let message = strip_location_suffix(&raw);
    let mut problem = classify(&message).in_file(source);
    if let Some(location) = err.location() {
        let label = problem.message.clone();
        problem = problem.label_at(&location, label);
    }
    problem
}

/// serde-saphyr appends ` at line L column C`; the label shows the position instead.
fn strip_location_suffix(message: &str) -> String {
    let first = message.lines().next().unwrap_or(message);
    match first.rfind(" at line ") {
        Some(index) => first[..index].to_string(),
        None => first.to_string(),
    }
}

fn classify(message: &str) -> Problem {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (name, tail) = rest.split_once('`').unwrap_or((rest, ""));
        let expected: Vec<&str> = tail.split('`').skip(1).step_by(2).collect();
        let mut problem = Problem::new(
            "runbook::load::unknown_key",
            format!("unknown key `{name}`"),
        );
        if let Some(suggestion) = did_you_mean(name, expected.iter().copied()) {
            problem = problem.help(format!("did you mean `{suggestion}`?"));
        } else if !expected.is_empty() {
            problem = problem.help(format!("expected one of: {}", expected.join(", ")));
        }
        return problem;
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or(rest);
        return Problem::new(
            "runbook::load::missing_key",
            format!("missing required key `{name}`"),
        );
    }
    let code =
        if message.contains("budget") || message.contains("limit") || message.contains("depth") {
            "runbook::load::limit"
        } else if message.contains("invalid type") || message.contains("invalid value") {
            "runbook::load::wrong_type"
        } else if message.contains("duplicate") {
            "runbook::load::duplicate_key"
        } else {
            "runbook::load::yaml"
        };
    Problem::new(code, message.to_string())
}

/// The YAML files of a directory, sorted so that every listing is deterministic.
pub fn yaml_files(dir: &Path) -> Result<Vec<PathBuf>, Problem> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        Problem::new(
            "runbook::load::io",
            format!("cannot read directory `{}`: {e}", dir.display()),
        )
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.is_file()
                && matches!(
                    path.extension().and_then(|e| e.to_str()),
                    Some("yaml" | "yml")
                )
        })
        .collect();
    files.sort();
    Ok(files)
}

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
    let options = serde_saphyr::options! { budget: file_budget() };
    let mut options = options;
    options.alias_limits.max_total_replayed_events = 100_000;
    options.alias_limits.max_replay_stack_depth = 16;
    options.alias_limits.max_alias_expansions_per_anchor = 1_000;
    match serde_saphyr::from_str_with_options::<T>(&source.text, options) {
        Ok(value) => Ok(Loaded { value, source }),
        Err(err) => {
            // A hostile shape (an alias bomb, deep nesting, several documents) makes the
            // deserializer fail on whatever it meets first; a streaming scan then names the
            // real cause. Only on failure: a second parse of every good file costs a third of
            // the load time.
            if let Ok(report) = serde_saphyr::budget::check_yaml_budget(
                &source.text,
                file_budget().unwrap_or_default(),
                serde_saphyr::budget::EnforcingPolicy::AllContent,
            ) && let Some(breach) = report.breached
            {
                return Err(budget_problem(&breach, &source));
            }
            Err(yaml_problem(&err, &source))
        }
    }
}

/// What one runbook file may contain: a single document, shallow, with a handful of aliases.
fn file_budget() -> Option<serde_saphyr::Budget> {
    serde_saphyr::budget! {
        max_depth: MAX_DEPTH,
        max_documents: 1,
        max_aliases: 50,
        max_anchors: 50,
        max_nodes: 500_000,
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

fn budget_problem(
    breach: &serde_saphyr::budget::BudgetBreach,
    source: &Arc<SourceFile>,
) -> Problem {
    use serde_saphyr::budget::BudgetBreach;
    let message = match breach {
        BudgetBreach::Depth { .. } => format!("nesting deeper than {MAX_DEPTH} levels; no runbook needs that"),
        BudgetBreach::Documents { .. } => {
            "several YAML documents in one file (`---`); put each runbook in a file of its own".to_string()
        }
        BudgetBreach::Aliases { .. } | BudgetBreach::Anchors { .. } => {
            "more than 50 YAML anchors or aliases (an alias bomb?); a runbook needs a handful at most".to_string()
        }
        _ => "the YAML is larger than a runbook can be".to_string(),
    };
    let mut problem = Problem::new("runbook::load::limit", message).in_file(source);
    if matches!(breach, BudgetBreach::Documents { .. })
        && let Some(offset) = source
            .text
            .match_indices("---")
            .map(|(i, _)| i)
            .find(|i| *i == 0 || source.text.as_bytes()[i - 1] == b'\n')
    {
        problem = problem.label(
            miette::SourceSpan::new(offset.into(), 3),
            "a second document starts here",
        );
    }
    problem
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
        let expected: Vec<&str> = tail
            .trim_start_matches(", expected one of ")
            .trim_start_matches(", expected ")
            .split(", ")
            .map(|e| e.trim_matches('`'))
            .filter(|e| !e.is_empty())
            .collect();
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
    if message.contains("budget") || message.contains("limit") || message.contains("depth") {
        return Problem::new(
            "runbook::load::limit",
            format!("the YAML expands beyond what a runbook can be (an alias bomb?): {message}"),
        );
    }
    let code = if message.contains("duplicate") {
        "runbook::load::duplicate_key"
    } else if message.contains("invalid type")
        || message.contains("expected")
        || message.contains("not a duration")
        || message.contains("rollback must be")
    {
        "runbook::load::wrong_type"
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

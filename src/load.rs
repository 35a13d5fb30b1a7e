//! Reading runbook and config files: size limits, UTF-8, YAML parsing with budgets, and the
//! mapping of parser errors to spanned diagnostics. All YAML parsing lives here.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;

mod every;
mod files;

pub use every::{Partial, Repaired};
pub use files::{FileText, Files};
mod wording;

use crate::diagnostic::{Problem, SourceFile};
use crate::model::{AnsibleInventory, Config, Runbook};

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

/// Parses runbook text already in memory, reporting every problem the parser can find.
pub fn parse_runbook(path: &Path, text: String) -> Result<Loaded<Runbook>, Partial> {
    parse::<Runbook>(path, text).map_err(|first| match first.source.clone() {
        Some(source) if first.code != "runbook::load::limit" => every::all_problems(&source, first),
        _ => Partial {
            problems: vec![first],
            repaired: None,
        },
    })
}

pub fn load_config(path: &Path) -> Result<Loaded<Config>, Problem> {
    load(path)
}

/// Loads an Ansible YAML inventory (`--inventory`), under the same limits as runbooks.
pub fn load_inventory(path: &Path) -> Result<Loaded<AnsibleInventory>, Problem> {
    load(path)
}

fn load<T: DeserializeOwned>(path: &Path) -> Result<Loaded<T>, Problem> {
    parse(path, read_text(path)?)
}

/// Parses text already in memory as if it were the file `path` (tests, generated runbooks).
pub fn parse<T: DeserializeOwned>(path: &Path, text: String) -> Result<Loaded<T>, Problem> {
    let source = SourceFile::new(path, text);
    match serde_saphyr::from_str_with_options::<T>(&source.text, parse_options()) {
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

/// The parser's options: the file budget and bounded alias replay.
fn parse_options() -> serde_saphyr::Options {
    let mut options = serde_saphyr::options! { budget: file_budget() };
    options.alias_limits.max_total_replayed_events = 100_000;
    options.alias_limits.max_replay_stack_depth = 16;
    options.alias_limits.max_alias_expansions_per_anchor = 1_000;
    options
}

/// The names by which a runbook takes part in plans: what can still be learnt from a file
/// that does not load as a runbook.
#[derive(Debug, Default, Clone)]
pub struct Outline {
    pub name: Option<String>,
    /// Its secret id and env names, lowercased.
    pub owns: Vec<String>,
}

/// The outline of a file that is YAML but not a valid runbook: whatever of `name`,
/// `secret.id` and `secret.env` reads as text, under the same limits. `None` if it is not
/// even YAML (then it may own anything).
pub fn outline(path: &Path) -> Option<Outline> {
    let text = read_text(path).ok()?;
    let value: serde_json::Value =
        serde_saphyr::from_str_with_options(&text, parse_options()).ok()?;
    let as_text = |v: &serde_json::Value| v.as_str().map(str::to_string);
    let secret = value.get("secret");
    let id = secret.and_then(|s| s.get("id")).and_then(as_text);
    let env: Vec<String> = match secret.and_then(|s| s.get("env")) {
        Some(serde_json::Value::Array(items)) => items.iter().filter_map(as_text).collect(),
        Some(other) => as_text(other).into_iter().collect(),
        None => Vec::new(),
    };
    Some(Outline {
        name: value.get("name").and_then(as_text),
        owns: id
            .into_iter()
            .chain(env)
            .map(|k| k.to_ascii_lowercase())
            .collect(),
    })
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

/// Reads at most `max` bytes of `file`, and one more so that a larger file can be told apart,
/// into a buffer sized from the file's length: `read_to_end` through `Take` cannot see the
/// length, and would read a runbook of 7 KB in a dozen growing reads, from 32 bytes up.
pub(crate) fn read_capped(file: &std::fs::File, max: u64) -> std::io::Result<Vec<u8>> {
    let len = file.metadata().map_or(0, |m| m.len()).min(max + 1);
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0) + 1);
    file.take(max + 1).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Reads a file as UTF-8 text, refusing oversized files before reading them whole.
pub fn read_text(path: &Path) -> Result<String, Problem> {
    let display = path.display();
    let file = std::fs::File::open(path).map_err(|e| {
        if let Ok(target) = std::fs::read_link(path)
            && !path.exists()
        {
            return Problem::new(
                "runbook::load::dangling_link",
                format!(
                    "`{display}` is a symbolic link to `{}`, which does not exist",
                    target.display()
                ),
            )
            .help("point the link at a runbook, or remove it")
            .about(path);
        }
        Problem::new("runbook::load::io", format!("cannot read `{display}`: {e}")).about(path)
    })?;
    let bytes = read_capped(&file, MAX_FILE_BYTES).map_err(|e| {
        Problem::new("runbook::load::io", format!("cannot read `{display}`: {e}")).about(path)
    })?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(Problem::new(
            "runbook::load::too_large",
            format!("`{display}` is larger than 1 MiB; a runbook never needs to be"),
        )
        .about(path));
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
        .about(path)
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
    // A label is what makes the report name the file: on the first anchor or alias past the
    // limit, the first line nested too deep, or (below) the second document.
    let at = match breach {
        BudgetBreach::Aliases { .. } | BudgetBreach::Anchors { .. } => {
            nth_anchor_or_alias(&source.text, 51)
        }
        BudgetBreach::Depth { .. } => too_deep(&source.text),
        _ => None,
    };
    if let Some(offset) = at {
        problem = problem.label(
            miette::SourceSpan::new(offset.into(), 1),
            "the limit is passed here",
        );
    } else if !matches!(breach, BudgetBreach::Documents { .. }) {
        problem = problem.label(miette::SourceSpan::new(0.into(), 0), "in this file");
    }
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

/// The byte offset of the n-th YAML anchor (`&a`) or alias (`*a`), counting from 1.
fn nth_anchor_or_alias(text: &str, n: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    (0..bytes.len())
        .filter(|&i| {
            matches!(bytes[i], b'&' | b'*')
                && (i == 0 || matches!(bytes[i - 1], b' ' | b'[' | b',' | b'{' | b'\n'))
                && bytes.get(i + 1).is_some_and(u8::is_ascii_alphanumeric)
        })
        .nth(n - 1)
}

/// Where the nesting first goes deeper than the limit, counting open brackets and
/// indentation steps of two spaces alike (a rough but honest pointer).
fn too_deep(text: &str) -> Option<usize> {
    let mut open = 0usize;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let indent = line.len() - line.trim_start_matches(' ').len();
        for (i, c) in line.char_indices() {
            match c {
                '[' | '{' => open += 1,
                ']' | '}' => open = open.saturating_sub(1),
                _ => {}
            }
            if open + indent / 2 > MAX_DEPTH {
                return Some(offset + i);
            }
        }
        offset += line.len();
    }
    None
}

/// Turns a parser or deserializer error into a diagnostic labelled at its location, worded
/// in the runbook's terms.
fn yaml_problem(err: &serde_saphyr::Error, source: &Arc<SourceFile>) -> Problem {
    let raw = err
        .without_snippet()
        .render_with_options(serde_saphyr::render_options! {
            snippets: serde_saphyr::SnippetMode::Off,
        });
    let message = strip_location_suffix(&raw);
    let location = err.location();
    let span = location.as_ref().map(|l| source.span_of(l));
    let key = span.and_then(|s| wording::key_at(&source.text, s.offset()));
    let blank = source
        .text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'));
    let mut problem = wording::classify(&message, key, blank).in_file(source);
    // The scanner reports a tab where the token before it began, often a line too high:
    // point at the tab itself.
    let span = match span {
        Some(at) if wording::mentions_tab(&message) => {
            Some(first_tab_from(source, at.offset()).unwrap_or(at))
        }
        other => other,
    };
    if let Some(span) = span {
        let label = problem.message.clone();
        problem = problem.label(span, label);
    }
    problem
}

/// The first tab in a line's indentation at or after `offset`'s line.
fn first_tab_from(source: &SourceFile, offset: usize) -> Option<miette::SourceSpan> {
    if !source.text.is_char_boundary(offset.min(source.text.len())) {
        return None;
    }
    let line_start = source.text[..offset.min(source.text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let mut at = line_start;
    for line in source.text[line_start..].split_inclusive('\n') {
        let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
        if let Some(tab) = line[..indent].find('\t') {
            return Some(miette::SourceSpan::new((at + tab).into(), 1));
        }
        at += line.len();
    }
    None
}

/// serde-saphyr appends ` at line L column C`; the label shows the position instead.
fn strip_location_suffix(message: &str) -> String {
    let first = message.lines().next().unwrap_or(message);
    match first.rfind(" at line ") {
        Some(index) => first[..index].to_string(),
        None => first.to_string(),
    }
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
        .filter(|entry| {
            let path = entry.path();
            if !matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            ) {
                return false;
            }
            // The listing says what each entry is (no `stat` per file); only a symbolic link
            // is followed. A dangling one is kept, so that reading it says what is wrong
            // instead of the runbook silently disappearing.
            match entry.file_type() {
                Ok(kind) if kind.is_symlink() => path.is_file() || !path.exists(),
                Ok(kind) => kind.is_file(),
                Err(_) => path.is_file(),
            }
        })
        .map(|entry| entry.path())
        .collect();
    files.sort();
    Ok(files)
}

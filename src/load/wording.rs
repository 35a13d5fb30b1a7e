//! Parser messages in the runbook's terms. serde-saphyr speaks of `invalid u32` and `expected
//! sequence start`; an operator wants "`retries` must be a whole number" and "`env` must be a
//! list of variable names". The key is read back from the text at the error's position.

use crate::diagnostic::{Problem, did_you_mean};

/// The key whose value is at `offset`: `retries` for `    retries: -1`, `env` for
/// `secret: { id: x, env: JWT }`, or the key of the line above for a value on its own line.
pub(super) fn key_at(text: &str, offset: usize) -> Option<&str> {
    let offset = offset.min(text.len());
    if !text.is_char_boundary(offset) {
        return None;
    }
    // Some errors point at the key itself rather than its value.
    let here = &text[offset..];
    let word = here
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .map_or(here, |end| &here[..end]);
    if !word.is_empty() && here[word.len()..].starts_with(':') {
        return Some(word);
    }
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let before = text[..offset].get(line_start..)?.trim_end();
    let before = before.trim_end_matches(['-', ' ', '[', '{']).trim_end();
    if let Some(key) = key_before_colon(before) {
        return Some(key);
    }
    if before.is_empty() && line_start > 0 {
        let above = text[..line_start - 1]
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())?;
        return key_before_colon(above.trim_end());
    }
    None
}

fn key_before_colon(text: &str) -> Option<&str> {
    let head = text.strip_suffix(':')?.trim_end();
    // The key starts after the last character that cannot be part of one (which may be
    // several bytes long).
    let start = head
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-' || *c == '.'))
        .map_or(0, |(i, c)| i + c.len_utf8());
    Some(&head[start..]).filter(|k| !k.is_empty())
}

/// What a list under this key holds, for "`env` must be a list of variable names".
fn list_of(key: &str) -> &'static str {
    match key {
        "env" | "unset" | "public" => "a list of variable names, e.g. `env: [JWT_SECRET]`",
        "needs" => "a list of step ids, e.g. `needs: [new]`",
        "restart" => "a list of services, e.g. `restart: [api, worker]`",
        "steps" => "a list of steps, each starting with `- id:`",
        "implies" | "conflicts" => "a list of secret ids, e.g. `implies: [session]`",
        _ => "a list, e.g. `[a, b]`",
    }
}

/// A parser or deserializer message as a problem in the runbook's words. `key` is the key at
/// the error's position, `blank` whether the file holds nothing but comments and space.
pub(super) fn classify(message: &str, key: Option<&str>, blank: bool) -> Problem {
    if let Some(problem) = unknown_key(message) {
        return problem;
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or(rest);
        return Problem::new(
            "runbook::load::missing_key",
            format!("missing required key `{name}`"),
        );
    }
    if message.contains("end of input") && blank {
        return Problem::new("runbook::load::empty", "the file is empty")
            .help("a runbook needs at least `name:` and `steps:`");
    }
    if message.contains("duplicate") {
        return Problem::new("runbook::load::duplicate_key", message.to_string());
    }
    if let Some(problem) = wrong_shape(message, key).or_else(|| unknown_variant(message, key)) {
        return problem;
    }
    if mentions_tab(message) {
        return Problem::new(
            "runbook::load::yaml",
            "a tab in the indentation: YAML indents with spaces only",
        );
    }
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        let (found, expected) = rest
            .split_once(", expected ")
            .unwrap_or((rest, "another type"));
        return wrong(format!("{}, not {found}", must_be(key, expected)));
    }
    if message.contains("budget") || message.contains("limit") || message.contains("depth") {
        return Problem::new(
            "runbook::load::limit",
            format!("the YAML expands beyond what a runbook can be (an alias bomb?): {message}"),
        );
    }
    let code = if message.contains("expected")
        || message.contains("not a duration")
        || message.contains("no valid unit")
        || message.contains("has a fraction")
        || message.contains("rollback must be")
    {
        "runbook::load::wrong_type"
    } else {
        "runbook::load::yaml"
    };
    Problem::new(code, message.to_string())
}

fn wrong(text: String) -> Problem {
    Problem::new("runbook::load::wrong_type", text)
}

/// "`key` must be ...", or "this value must be ..." where no key is known.
fn must_be(key: Option<&str>, what: &str) -> String {
    match key {
        Some(key) => format!("`{key}` must be {what}"),
        None => format!("this value must be {what}"),
    }
}

/// A value of the wrong shape: a number, a list, a mapping, text or a boolean was expected.
fn wrong_shape(message: &str, key: Option<&str>) -> Option<Problem> {
    let what = if message.starts_with("invalid u") || message.starts_with("invalid i") {
        match key {
            Some("status") => "a whole number (an HTTP status, 100 to 599)",
            Some("exit") => "a whole number (an exit code, 0 to 255)",
            _ => "a whole number (0 or more)",
        }
    } else if message.contains("expected sequence") {
        list_of(key.unwrap_or(""))
    } else if message.contains("expected mapping") {
        return Some(wrong(match key {
            Some(key) => format!("`{key}` must be a mapping of `key: value` lines"),
            None => "a runbook is a mapping of keys (`name:`, `steps:`, ...), not a list or a single value"
                .to_string(),
        }));
    } else if message.contains("expected string") {
        "text (a string)"
    } else if message.contains("expected a boolean") || message.contains("invalid bool") {
        "`true` or `false`"
    } else {
        return None;
    };
    Some(wrong(must_be(key, what)))
}

/// A value that is not one of a fixed set (`encoding: base65`), with the nearest choice.
fn unknown_variant(message: &str, key: Option<&str>) -> Option<Problem> {
    let rest = message.strip_prefix("unknown variant `")?;
    let (value, tail) = rest.split_once('`').unwrap_or((rest, ""));
    let choices: Vec<&str> = tail
        .trim_start_matches(", expected one of ")
        .trim_start_matches(", expected ")
        .split(", ")
        .map(|c| c.trim_matches('`'))
        .filter(|c| !c.is_empty())
        .collect();
    let subject = key.map_or_else(|| format!("`{value}`"), |k| format!("`{k}: {value}`"));
    let mut problem = wrong(format!("{subject} is not one of: {}", choices.join(", ")));
    if let Some(suggestion) = did_you_mean(value, choices.iter().copied()) {
        problem = problem.help(format!("did you mean `{suggestion}`?"));
    }
    Some(problem)
}

/// Whether the scanner complains about a tab (its messages say "tabs disallowed ..." or
/// "found a tab ..."); the caller then points at the tab itself.
pub(super) fn mentions_tab(message: &str) -> bool {
    message
        .split(|c: char| !c.is_ascii_alphabetic())
        .any(|word| word == "tab" || word == "tabs")
}

fn unknown_key(message: &str) -> Option<Problem> {
    let rest = message.strip_prefix("unknown field `")?;
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
    Some(problem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_key_of_a_value() {
        let text = "steps:\n  - id: a\n    retries: -1\n";
        assert_eq!(key_at(text, text.find("-1").unwrap()), Some("retries"));
        let text = "secret: { id: x, env: JWT }\n";
        assert_eq!(key_at(text, text.find("JWT").unwrap()), Some("env"));
        let text = "env:\n  set:\n    - A\n";
        assert_eq!(key_at(text, text.find("- A").unwrap()), Some("set"));
        assert_eq!(key_at("- a\n", 0), None);
        let text = "vars:\n  é: [ü]\n";
        assert_eq!(key_at(text, text.find('[').unwrap()), None);
        let text = "    exec: { run: 123 }\n";
        assert_eq!(key_at(text, text.find("run").unwrap()), Some("run"));
    }

    #[test]
    fn speaks_in_the_runbooks_terms() {
        let says = |m: &str, key: Option<&str>| classify(m, key, false).message;
        assert_eq!(
            says("invalid u32", Some("retries")),
            "`retries` must be a whole number (0 or more)"
        );
        assert_eq!(
            says("expected sequence start", Some("env")),
            "`env` must be a list of variable names, e.g. `env: [JWT_SECRET]`"
        );
        assert_eq!(
            says("expected string scalar", Some("name")),
            "`name` must be text (a string)"
        );
        assert_eq!(
            classify("unexpected end of input", None, true).message,
            "the file is empty"
        );
        assert_eq!(
            says(
                "unknown variant `base32`, expected one of base64, base64url, hex",
                Some("encoding")
            ),
            "`encoding: base32` is not one of: base64, base64url, hex"
        );
    }
}

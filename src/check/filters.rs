//! Filters and tests a template names must exist. minijinja looks them up only when the
//! template renders, so `{{ x | base32 }}` would compile, plan and dry-run cleanly and fail
//! in the middle of a run, after earlier steps had edited files and restarted services.

use std::collections::HashMap;

use minijinja::{Environment, ErrorKind};

use super::sites::{Role, step_sites};
use super::templates::locate;
use crate::diagnostic::Problem;
use crate::load::Loaded;
use crate::model::Runbook;
use crate::project::Project;
use crate::template::is_template;

/// The filter and test names a template text uses, in order of appearance.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Used {
    pub filters: Vec<String>,
    pub tests: Vec<String>,
}

/// Scans a template (or, with `expression`, a bare expression) for the names after `|`, after
/// `is` / `is not`, and after a `{% filter %}` tag. Strings, comments and `raw` blocks are
/// skipped. Only identifiers are returned, so probing them cannot inject template code.
pub(super) fn used_names(text: &str, expression: bool) -> Used {
    let mut used = Used::default();
    if expression {
        scan_code(text, &mut used, false);
        return used;
    }
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        let (close, is_tag) = match after.chars().next() {
            Some('{') => ("}}", false),
            Some('%') => ("%}", true),
            Some('#') => {
                rest = after.find("#}").map_or("", |end| &after[end + 2..]);
                continue;
            }
            _ => {
                rest = after;
                continue;
            }
        };
        let code = &after[1..];
        let end = code_end(code, close).unwrap_or(code.len());
        let body = &code[..end];
        rest = code.get(end + close.len()..).unwrap_or("");
        if is_tag && first_word(body) == Some("raw") {
            rest = rest.find("endraw").map_or("", |i| &rest[i..]);
            continue;
        }
        scan_code(body, &mut used, is_tag);
    }
    used
}

fn first_word(code: &str) -> Option<&str> {
    code.trim_start_matches(['-', '+', ' ', '\t', '\n'])
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .next()
        .filter(|w| !w.is_empty())
}

/// Where the closing delimiter of a block is, ignoring any inside a string literal.
fn code_end(code: &str, close: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in code.char_indices() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None if c == '\'' || c == '"' => quote = Some(c),
            None if code[i..].starts_with(close) => return Some(i),
            None => {}
        }
    }
    None
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Previous<'a> {
    Nothing,
    Pipe,
    Dot,
    Word(&'a str),
    Other,
}

/// Walks one block of code token by token, remembering just enough of what came before.
fn scan_code(code: &str, used: &mut Used, is_tag: bool) {
    let bytes = code.as_bytes();
    let mut i = 0;
    let mut previous = Previous::Nothing;
    let mut before = Previous::Nothing;
    let mut first_word_seen = false;
    while i < bytes.len() {
        let c = bytes[i];
        let token_start = i;
        let token = if c == b'\'' || c == b'"' {
            i += 1;
            while i < bytes.len() && bytes[i] != c {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            Previous::Other
        } else if c.is_ascii_alphabetic() || c == b'_' {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            let word = &code[token_start..i];
            let after_is = previous == Previous::Word("is") && before != Previous::Dot
                || previous == Previous::Word("not")
                    && matches!(before, Previous::Word("is"))
                    && word != "not";
            if previous == Previous::Pipe
                || is_tag && previous == Previous::Word("filter") && before == Previous::Nothing
            {
                used.filters.push(word.to_string());
            } else if after_is && word != "not" {
                used.tests.push(word.to_string());
            }
            first_word_seen = true;
            Previous::Word(word)
        } else if c.is_ascii_whitespace() {
            i += 1;
            continue;
        } else {
            i += 1;
            match c {
                b'|' => Previous::Pipe,
                b'.' => Previous::Dot,
                // `{%-` and `-%}` trim whitespace; they are not operators.
                b'-' | b'+' if !first_word_seen && is_tag => continue,
                _ => Previous::Other,
            }
        };
        before = previous;
        previous = token;
    }
}

/// Whether the environment knows a filter (or, with `test`, a test) of this name. The name is
/// an identifier from `used_names`, so the probe template is always well-formed.
fn exists(env: &Environment<'_>, name: &str, test: bool) -> bool {
    let (probe, unknown) = if test {
        (format!("{{{{ none is {name} }}}}"), ErrorKind::UnknownTest)
    } else {
        (format!("{{{{ none | {name} }}}}"), ErrorKind::UnknownFilter)
    };
    env.render_str(&probe, ())
        .map_or_else(|e| e.kind() != unknown, |_| true)
}

/// Every unknown filter or test in a runbook's templates, labelled at the template.
pub(super) fn check_filters(loaded: &Loaded<Runbook>) -> Vec<Problem> {
    let env = crate::template::shared();
    let source = &loaded.source;
    let mut known: HashMap<(String, bool), bool> = HashMap::new();
    let mut problems = Vec::new();
    for step in &loaded.value.steps {
        let Some(kind) = super::one_kind(step) else {
            continue;
        };
        let step_offset = source.span_of(&step.id.referenced).offset();
        for site in step_sites(step, kind) {
            if !is_template(site.text) && site.role != Role::Expr {
                continue;
            }
            let used = used_names(site.text, site.role == Role::Expr);
            let names = used
                .filters
                .into_iter()
                .map(|n| (n, false))
                .chain(used.tests.into_iter().map(|n| (n, true)));
            for (name, test) in names {
                let found = *known
                    .entry((name.clone(), test))
                    .or_insert_with(|| exists(env, &name, test));
                if found {
                    continue;
                }
                let what = if test { "test" } else { "filter" };
                let span = locate(source, site.text, step_offset)
                    .unwrap_or_else(|| source.span_of(&step.id.referenced));
                problems.push(
                    Problem::new(
                        "runbook::check::unknown_filter",
                        format!(
                            "step `{}`, `{}`: unknown {what} `{name}`",
                            step.id.value, site.field
                        ),
                    )
                    .in_file(source)
                    .label(span, format!("no {what} is called `{name}`"))
                    .help(if test {
                        "tests are minijinja's built-in ones (`defined`, `none`, `string`, ...)"
                            .to_string()
                    } else {
                        format!(
                            "runbook's filters are {}; minijinja's built-ins (`lower`, `join`, `default`, ...) work too",
                            FILTERS.join(", ")
                        )
                    }),
                );
            }
        }
    }
    problems
}

/// The filters runbooks use most, named in the help of an unknown filter; minijinja's
/// built-in ones (`lower`, `join`, `default`, ...) exist too.
const FILTERS: &[&str] = &[
    "shell_quote",
    "sql_literal",
    "sql_identifier",
    "urlencode",
    "url_with_password",
    "url_password",
    "b64encode",
    "json",
];

/// The restart driver's template is checked the same way: it runs after files are edited.
pub(super) fn check_driver_filters(project: &Project) -> Vec<Problem> {
    let env = crate::template::shared();
    let used = used_names(&project.restart.run, false);
    let mut problems = Vec::new();
    let names = used
        .filters
        .iter()
        .map(|n| (n, false))
        .chain(used.tests.iter().map(|n| (n, true)));
    for (name, test) in names {
        if exists(env, name, test) {
            continue;
        }
        let what = if test { "test" } else { "filter" };
        let message = format!("restart driver: unknown {what} `{name}`");
        let mut problem = Problem::new("runbook::check::unknown_filter", message.clone());
        if let Some(source) = &project.config_source {
            let span =
                locate(source, &project.restart.run, 0).unwrap_or_else(|| source.span_at(1, 1));
            problem = problem.in_file(source).label(span, message);
        }
        problems.push(problem);
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filters(text: &str) -> Vec<String> {
        used_names(text, false).filters
    }

    #[test]
    fn finds_filters_after_pipes_and_in_filter_tags() {
        assert_eq!(filters("{{ x | base32 }}"), ["base32"]);
        assert_eq!(
            filters("a {{ x|lower|shell_quote }} b"),
            ["lower", "shell_quote"]
        );
        assert_eq!(
            filters("{{ x | url_with_password(y | b64encode) }}"),
            ["url_with_password", "b64encode"]
        );
        assert_eq!(filters("{% filter upper %}x{% endfilter %}"), ["upper"]);
        assert_eq!(
            filters("{%- for s in xs | sort -%}{{ s }}{% endfor %}"),
            ["sort"]
        );
    }

    #[test]
    fn ignores_strings_comments_raw_blocks_and_plain_text() {
        assert!(filters("{{ 'a | b' }} {# x | nope #} c | d").is_empty());
        assert!(filters("{% raw %}{{ x | nope }}{% endraw %}").is_empty());
        assert!(filters(r#"{{ "}} | nope" }}"#).is_empty());
    }

    #[test]
    fn finds_tests_after_is_and_is_not() {
        let used = used_names("x is defined and y is not none and z.is is_it", true);
        assert_eq!(used.tests, ["defined", "none"]);
        assert!(used.filters.is_empty());
    }

    proptest::proptest! {
        #[test]
        fn scanning_any_text_never_panics(text in "\\PC{0,120}") {
            let _ = used_names(&text, false);
            let _ = used_names(&text, true);
        }

        #[test]
        fn scanning_template_like_text_never_panics(
            text in "([{}%#|' \"a-z\\\\é-]|is|not|filter|raw){0,40}"
        ) {
            let _ = used_names(&text, false);
        }
    }

    #[test]
    fn probes_the_environment() {
        let env = crate::template::shared();
        assert!(exists(env, "shell_quote", false));
        assert!(exists(env, "lower", false));
        assert!(!exists(env, "base32", false));
        assert!(exists(env, "defined", true));
        assert!(!exists(env, "prime", true));
    }
}

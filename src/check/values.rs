//! Values that can be judged without running anything: an HTTP status outside 100–599, a URL
//! that is not `http(s)://host...` once its `vars` are filled in, a port that is not a port, a
//! zero timeout, an empty command, an env key that is not a variable name. Each of these used
//! to pass `validate` and `plan` and fail mid-run, after earlier steps had changed files.

use std::collections::BTreeMap;
use std::sync::Arc;

use miette::SourceSpan;

use crate::diagnostic::{Problem, SourceFile};
use crate::load::Loaded;
use crate::model::{Command, EnvSpec, ExecSpec, HumanDuration, KindRef, Rollback, Runbook, Step};
use crate::project::Project;
use crate::template::is_template;

mod remote;

use remote::{check_http, check_tcp};

/// Where one step's problems are labelled: the step's stretch of the file.
struct StepAt<'a> {
    source: &'a Arc<SourceFile>,
    step: &'a Step,
    /// The byte range from the step's id to the next step's id.
    from: usize,
    to: usize,
}

impl StepAt<'_> {
    /// A problem labelled at `key:`'s value inside this step, else at the step's id.
    fn problem(&self, key: &str, message: String, label: &str) -> Problem {
        let span = value_span(&self.source.text, self.from, self.to, key)
            .unwrap_or_else(|| self.source.span_of(&self.step.id.referenced));
        Problem::new(
            "runbook::check::value",
            format!("step `{}`: {message}", self.step.id.value),
        )
        .in_file(self.source)
        .label(span, label.to_string())
    }
}

/// The value after the first `key:` in `text[from..to]`, for a label on the offending value.
fn value_span(text: &str, from: usize, to: usize, key: &str) -> Option<SourceSpan> {
    let region = text.get(from..to.min(text.len()))?;
    let pattern = format!("{key}:");
    let mut search = 0;
    while let Some(found) = region[search..].find(&pattern) {
        let start = search + found;
        let boundary = region[..start]
            .chars()
            .next_back()
            .is_none_or(|c| c.is_whitespace() || c == '{' || c == ',');
        if boundary {
            let after = start + pattern.len();
            let value = &region[after..];
            let skipped = value.len() - value.trim_start_matches([' ', '\t']).len();
            let value = &value[skipped..];
            let len = value.find([',', '}', '\n', '#']).unwrap_or(value.len());
            let len = value[..len].trim_end().len().max(1);
            return Some(SourceSpan::new((from + after + skipped).into(), len));
        }
        search = start + pattern.len();
    }
    None
}

/// Every step value of a runbook that is wrong whatever happens at run time.
pub(super) fn check_values(project: &Project, loaded: &Loaded<Runbook>) -> Vec<Problem> {
    let source = &loaded.source;
    let runbook = &loaded.value;
    let vars = project.vars_checked(runbook);
    let starts: Vec<usize> = runbook
        .steps
        .iter()
        .map(|s| source.span_of(&s.id.referenced).offset())
        .collect();
    // Where the next step starts, found by binary search: a scan of every step per step made
    // a runbook of 10,000 steps quadratic.
    let mut sorted = starts.clone();
    sorted.sort_unstable();
    let mut problems = Vec::new();
    for (index, step) in runbook.steps.iter().enumerate() {
        let Some(kind) = super::one_kind(step) else {
            continue;
        };
        let from = starts[index];
        let to = sorted
            .get(sorted.partition_point(|s| *s <= from))
            .copied()
            .unwrap_or(source.text.len());
        let at = StepAt {
            source,
            step,
            from,
            to,
        };
        check_step(&at, kind, &vars, &mut problems);
    }
    if let Some(secret) = &runbook.secret
        && let crate::model::Policy::Every(every) = &secret.every
        && every.duration.is_zero()
    {
        problems.push(
            Problem::new(
                "runbook::check::value",
                format!(
                    "secret `{}`: `every: {every}` would always be overdue",
                    secret.id.value
                ),
            )
            .in_file(source)
            .label(
                value_span(&source.text, 0, source.text.len(), "every")
                    .unwrap_or_else(|| source.span_of(&secret.id.referenced)),
                "a duration longer than zero, `provider` or `user`",
            ),
        );
    }
    for (name, _) in runbook.inputs.iter().filter(|(n, _)| !is_variable_name(n)) {
        problems.push(
            Problem::new(
                "runbook::check::value",
                format!("input name `{name}` is not usable as `--input {name}=...` and RUNBOOK_INPUT_<NAME>"),
            )
            .in_file(source)
            .label(
                value_span(&source.text, 0, source.text.len(), "inputs")
                    .unwrap_or_else(|| source.span_at(1, 1)),
                "use letters, digits and `_`",
            ),
        );
    }
    problems
}

/// The restart driver's timeout: zero would fail every restart, after the files were edited.
pub(super) fn check_driver(project: &Project) -> Vec<Problem> {
    let Some(timeout) = project
        .restart
        .timeout
        .as_ref()
        .filter(|t| t.duration.is_zero())
    else {
        return Vec::new();
    };
    let message = format!("restart driver: a timeout of `{timeout}` would fail every restart");
    let mut problem = Problem::new("runbook::check::value", message);
    if let Some(source) = &project.config_source {
        let span = value_span(&source.text, 0, source.text.len(), "timeout")
            .unwrap_or_else(|| source.span_at(1, 1));
        problem = problem
            .in_file(source)
            .label(span, "a timeout must be longer than zero");
    }
    vec![problem]
}

fn check_step(
    at: &StepAt<'_>,
    kind: KindRef<'_>,
    vars: &BTreeMap<String, String>,
    out: &mut Vec<Problem>,
) {
    let step = at.step;
    zero_timeout(at, "timeout", step.timeout.as_ref().map(|t| &t.value), out);
    let verify_interval = step.verify.as_ref().and_then(|v| v.interval.as_ref());
    for interval in step.interval.iter().chain(verify_interval) {
        templated_interval(at, interval, vars, out);
    }
    check_kind(at, kind, vars, out);
    if let Some(check) = &step.check {
        check_exec(at, check, out);
    }
    if let Some(Rollback::Body(body)) = &step.rollback {
        zero_timeout(at, "timeout", body.timeout.as_ref(), out);
        if let Some(exec) = &body.exec {
            check_exec(at, exec, out);
        }
        if let Some(env) = &body.env {
            check_env(at, env, out);
        }
        if let Some(services) = &body.restart {
            check_services(at, services, out);
        }
    }
}

/// The values of a step's one kind.
fn check_kind(
    at: &StepAt<'_>,
    kind: KindRef<'_>,
    vars: &BTreeMap<String, String>,
    out: &mut Vec<Problem>,
) {
    match kind {
        KindRef::Exec(exec) => check_exec(at, exec, out),
        KindRef::Env(env) => check_env(at, env, out),
        KindRef::File(file) => {
            if file.path.trim().is_empty() {
                out.push(at.problem(
                    "path",
                    "`file.path` is empty".into(),
                    "name the file to write",
                ));
            }
        }
        KindRef::Restart(services) => check_services(at, services, out),
        KindRef::Verify(verify) => {
            zero_timeout(at, "timeout", verify.timeout.as_ref(), out);
            if let Some(http) = &verify.http {
                check_http(at, http, vars, out);
            }
            if let Some(tcp) = &verify.tcp {
                check_tcp(at, tcp, vars, out);
            }
            if let Some(exec) = &verify.exec {
                check_exec(at, exec, out);
            }
        }
        KindRef::Manual(manual) => {
            if manual.instructions.trim().is_empty() {
                out.push(at.problem(
                    "instructions",
                    "`manual.instructions` is empty".into(),
                    "say what the operator must do",
                ));
            }
            if let Some(input) = &manual.input
                && !is_variable_name(&input.name)
            {
                out.push(at.problem(
                    "name",
                    format!("input name `{}` is not usable as `--input {0}=...` and RUNBOOK_INPUT_<NAME>", input.name),
                    "use letters, digits and `_`",
                ));
            }
        }
        KindRef::Report(report) => {
            if report.path.trim().is_empty() {
                out.push(at.problem(
                    "path",
                    "`report.path` is empty".into(),
                    "name the report file",
                ));
            }
        }
        KindRef::Generate(_) | KindRef::Rotate(_) => {}
    }
}

/// An `interval` written as a template of `vars` is judged here like a literal one, instead
/// of at the run's preflight.
fn templated_interval(
    at: &StepAt<'_>,
    interval: &crate::model::Interval,
    vars: &BTreeMap<String, String>,
    out: &mut Vec<Problem>,
) {
    if !interval.is_template() {
        return;
    }
    if let Some(text) = remote::static_value(&interval.text, vars)
        && let Err(why) = HumanDuration::parse(&text)
    {
        out.push(at.problem(
            "interval",
            format!("`interval`: {why}"),
            "a duration such as `2s`",
        ));
    }
}

fn zero_timeout(
    at: &StepAt<'_>,
    key: &str,
    timeout: Option<&HumanDuration>,
    out: &mut Vec<Problem>,
) {
    if let Some(timeout) = timeout.filter(|t| t.duration.is_zero()) {
        out.push(at.problem(
            key,
            format!("a timeout of `{timeout}` would fail every attempt at once"),
            "a timeout must be longer than zero",
        ));
    }
}

fn check_exec(at: &StepAt<'_>, exec: &ExecSpec, out: &mut Vec<Problem>) {
    let empty = match &exec.run.value {
        Command::Shell(script) => script.trim().is_empty(),
        Command::Argv(argv) => argv.first().is_none_or(|p| p.trim().is_empty()),
    };
    if empty {
        out.push(at.problem(
            "run",
            "`run` is empty".into(),
            "a command string, or a list starting with the program",
        ));
    }
    if let Some(code) = exec
        .expect
        .as_ref()
        .and_then(|e| e.exit)
        .filter(|c| !(0..=255).contains(c))
    {
        out.push(at.problem(
            "exit",
            format!("`expect.exit: {code}` can never match: exit codes are 0 to 255"),
            "an exit code from 0 to 255",
        ));
    }
}

fn check_env(at: &StepAt<'_>, env: &EnvSpec, out: &mut Vec<Problem>) {
    if env.file.as_deref().is_some_and(|f| f.trim().is_empty()) {
        out.push(at.problem(
            "file",
            "`env.file` is empty".into(),
            "name the env file, or leave `file` out",
        ));
    }
    for key in env.set.keys().chain(&env.unset) {
        if !is_env_key(key) {
            out.push(at.problem(
                key,
                format!("`{key}` is not a key an env file can hold"),
                "letters, digits, `_`, `.` and `-`, starting with a letter or `_`",
            ));
        }
    }
    for key in env.unset.iter().filter(|k| env.set.contains_key(*k)) {
        out.push(at.problem(
            key,
            format!("`{key}` is both set and unset"),
            "keep one of the two",
        ));
    }
}

fn check_services(at: &StepAt<'_>, services: &[String], out: &mut Vec<Problem>) {
    for service in services.iter().filter(|s| !is_template(s)) {
        if service.is_empty() || service.chars().any(char::is_whitespace) {
            out.push(at.problem(
                "restart",
                format!("service name `{service}` is empty or contains spaces"),
                "the driver receives services as words: one name each",
            ));
        }
    }
}

/// `[A-Za-z_][A-Za-z0-9_.-]*`: the keys the env file editor reads and writes (coturn's
/// `static-auth-secret` included); kept equal to `envfile`'s own rule.
fn is_env_key(key: &str) -> bool {
    let mut bytes = key.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// `[A-Za-z_][A-Za-z0-9_]*`: a name a shell and `env` accept.
fn is_variable_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_span_finds_a_key_in_block_and_flow_style() {
        let text = "  - id: v\n    verify:\n      http: { url: x, status: 2000 }\n";
        let span = value_span(text, 0, text.len(), "status").expect("found");
        assert_eq!(&text[span.offset()..span.offset() + span.len()], "2000");
        let text = "  - id: t\n    timeout: 0s\n";
        let span = value_span(text, 0, text.len(), "timeout").expect("found");
        assert_eq!(&text[span.offset()..span.offset() + span.len()], "0s");
    }

    #[test]
    fn variable_names() {
        assert!(is_variable_name("JWT_SECRET"));
        assert!(is_variable_name("_x1"));
        assert!(!is_variable_name("1X"));
        assert!(!is_variable_name("A-B"));
        assert!(!is_variable_name(""));
        assert!(is_env_key("static-auth-secret"));
        assert!(!is_env_key("-x"));
        assert!(!is_env_key("A B"));
    }
}

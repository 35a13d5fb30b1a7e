//! Where templates sit in a step: every template string with the key it sits under and how
//! it is used (part of a command line, a value handed over another way, or an expression).

use serde_saphyr::Spanned;

use crate::checked::{self, RollbackKind, StepKind};
use crate::model::{Command, EnvSpec, ExecSpec, Interval, KindRef, Rollback, RollbackRef, Step};

/// How a template string is used, which decides what it may contain.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Part of a child's argv (including a `sh -c` string): never a secret.
    Argv,
    /// A value handed over some other way (stdin, env, a file, a URL).
    Text,
    /// A boolean expression (`when`, `expect.json`).
    Expr,
}

/// A template string in a step, with the key it sits under.
pub(crate) struct Site<'a> {
    pub field: String,
    pub text: &'a str,
    pub role: Role,
}

fn site(field: impl Into<String>, text: &str, role: Role) -> Site<'_> {
    Site {
        field: field.into(),
        text,
        role,
    }
}

/// The parts of a step that hold templates, borrowed from either form of a step.
struct Parts<'a> {
    when: Option<&'a Spanned<String>>,
    interval: Option<&'a Interval>,
    confirm: Option<&'a String>,
    kind: KindRef<'a>,
    check: Option<&'a ExecSpec>,
    /// Each kind the rollback body declares (the checker reports more than one).
    rollback: Vec<RollbackRef<'a>>,
}

/// Every template string of a deserialized step whose one kind is `kind`, in a fixed order.
pub(super) fn step_sites<'a>(step: &'a Step, kind: KindRef<'a>) -> Vec<Site<'a>> {
    let rollback = match &step.rollback {
        Some(Rollback::Body(body)) => body.kinds(),
        _ => Vec::new(),
    };
    sites_of(Parts {
        when: step.when.as_deref(),
        interval: step.interval.as_ref(),
        confirm: step.confirm.as_ref(),
        kind,
        check: step.check.as_deref(),
        rollback,
    })
}

/// Every template string of a checked step, in the same order as the checker saw them.
pub(crate) fn sites(step: &checked::Step) -> Vec<Site<'_>> {
    let rollback = match &step.rollback {
        Some(checked::Rollback::Body(body)) => vec![match &body.kind {
            RollbackKind::Exec(exec) => RollbackRef::Exec(exec),
            RollbackKind::Env(env) => RollbackRef::Env(env),
            RollbackKind::File(file) => RollbackRef::File(file),
            RollbackKind::Manual(manual) => RollbackRef::Manual(manual),
            RollbackKind::Restart(services) => RollbackRef::Restart(services),
        }],
        _ => Vec::new(),
    };
    let kind = match &step.kind {
        StepKind::Generate(spec) => KindRef::Generate(spec),
        StepKind::Exec(spec) => KindRef::Exec(spec),
        StepKind::Env(spec) => KindRef::Env(spec),
        StepKind::File(spec) => KindRef::File(spec),
        StepKind::Restart(services) => KindRef::Restart(services),
        StepKind::Verify(spec) => KindRef::Verify(spec),
        StepKind::Manual(spec) => KindRef::Manual(spec),
        StepKind::Rotate(spec) => KindRef::Rotate(spec),
        StepKind::Report(spec) => KindRef::Report(spec),
    };
    sites_of(Parts {
        when: step.when.as_deref(),
        interval: step.interval.as_ref(),
        confirm: step.confirm.as_ref(),
        kind,
        check: step.check.as_deref(),
        rollback,
    })
}

fn sites_of(parts: Parts<'_>) -> Vec<Site<'_>> {
    let mut out = Vec::new();
    if let Some(when) = parts.when {
        out.push(site("when", &when.value, Role::Expr));
    }
    if let Some(interval) = parts.interval.filter(|i| i.is_template()) {
        out.push(site("interval", &interval.text, Role::Text));
    }
    if let Some(confirm) = parts.confirm {
        out.push(site("confirm", confirm, Role::Text));
    }
    kind_sites(parts.kind, &mut out);
    if let Some(check) = parts.check {
        exec_sites("check", check, &mut out);
    }
    for kind in parts.rollback {
        rollback_sites(kind, &mut out);
    }
    out
}

fn kind_sites<'a>(kind: KindRef<'a>, out: &mut Vec<Site<'a>>) {
    match kind {
        KindRef::Exec(exec) => exec_sites("exec", exec, out),
        KindRef::Env(env) => env_sites("env", env, out),
        KindRef::File(file) => {
            out.push(site("file.path", &file.path, Role::Text));
            out.push(site("file.content", &file.content, Role::Text));
        }
        KindRef::Restart(services) => services
            .iter()
            .for_each(|s| out.push(site("restart", s, Role::Text))),
        KindRef::Verify(verify) => {
            if let Some(http) = &verify.http {
                out.push(site("verify.http.url", &http.url, Role::Text));
                if let Some(body) = &http.body_contains {
                    out.push(site("verify.http.body_contains", body, Role::Text));
                }
                for (name, value) in &http.headers {
                    out.push(site(
                        format!("verify.http.headers.{name}"),
                        value,
                        Role::Text,
                    ));
                }
            }
            if let Some(tcp) = &verify.tcp {
                out.push(site("verify.tcp.host", &tcp.host, Role::Text));
                out.push(site("verify.tcp.port", &tcp.port, Role::Text));
            }
            if let Some(exec) = &verify.exec {
                exec_sites("verify.exec", exec, out);
            }
            if let Some(interval) = verify.interval.as_ref().filter(|i| i.is_template()) {
                out.push(site("verify.interval", &interval.text, Role::Text));
            }
        }
        KindRef::Manual(manual) => out.push(site(
            "manual.instructions",
            &manual.instructions,
            Role::Text,
        )),
        KindRef::Rotate(rotate) => {
            if let Some(secret) = &rotate.secret {
                out.push(site("rotate.secret", &secret.value, Role::Text));
            }
        }
        KindRef::Report(report) => {
            out.push(site("report.path", &report.path, Role::Text));
            if let Some(title) = &report.title {
                out.push(site("report.title", title, Role::Text));
            }
        }
        KindRef::Generate(_) => {}
    }
}

fn rollback_sites<'a>(kind: RollbackRef<'a>, out: &mut Vec<Site<'a>>) {
    match kind {
        RollbackRef::Exec(exec) => exec_sites("rollback.exec", exec, out),
        RollbackRef::Env(env) => env_sites("rollback.env", env, out),
        RollbackRef::File(file) => {
            out.push(site("rollback.file.path", &file.path, Role::Text));
            out.push(site("rollback.file.content", &file.content, Role::Text));
        }
        RollbackRef::Manual(manual) => out.push(site(
            "rollback.manual.instructions",
            &manual.instructions,
            Role::Text,
        )),
        RollbackRef::Restart(services) => {
            for s in services {
                out.push(site("rollback.restart", s, Role::Text));
            }
        }
    }
}

fn exec_sites<'a>(prefix: &str, exec: &'a ExecSpec, out: &mut Vec<Site<'a>>) {
    match &exec.run.value {
        Command::Shell(script) => out.push(site(format!("{prefix}.run"), script, Role::Argv)),
        Command::Argv(argv) => argv
            .iter()
            .for_each(|a| out.push(site(format!("{prefix}.run"), a, Role::Argv))),
    }
    if let Some(stdin) = &exec.stdin {
        out.push(site(format!("{prefix}.stdin"), &stdin.value, Role::Text));
    }
    for (name, value) in &exec.env {
        out.push(site(format!("{prefix}.env.{name}"), value, Role::Text));
    }
    if let Some(cwd) = &exec.cwd {
        out.push(site(format!("{prefix}.cwd"), cwd, Role::Argv));
    }
    if let Some(expect) = &exec.expect {
        if let Some(text) = &expect.stdout_contains {
            out.push(site(
                format!("{prefix}.expect.stdout_contains"),
                text,
                Role::Text,
            ));
        }
        if let Some(json) = &expect.json {
            out.push(site(
                format!("{prefix}.expect.json"),
                &json.value,
                Role::Expr,
            ));
        }
    }
}

fn env_sites<'a>(prefix: &str, env: &'a EnvSpec, out: &mut Vec<Site<'a>>) {
    if let Some(file) = &env.file {
        out.push(site(format!("{prefix}.file"), file, Role::Text));
    }
    for (key, value) in &env.set {
        out.push(site(format!("{prefix}.set.{key}"), value, Role::Text));
    }
}

//! Per-runbook structure: names and ids, exactly one kind per step, sensible kind bodies.

use crate::fasthash::Map as HashMap;

use crate::diagnostic::Problem;
use crate::load::Loaded;
use crate::model::{GenerateSpec, KindRef, Rollback, Runbook, Step};

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

pub(super) fn check_runbook(loaded: &Loaded<Runbook>) -> Vec<Problem> {
    let runbook = &loaded.value;
    let source = &loaded.source;
    let mut problems = Vec::new();
    let name = &runbook.name;
    if !valid_id(&name.value) || name.value.starts_with('-') {
        problems.push(
            Problem::new(
                "runbook::check::name",
                format!("runbook name `{}` is not valid", name.value),
            )
            .in_file(source)
            .label_at(&name.referenced, "use lowercase letters, digits and `-`"),
        );
    }
    if runbook.steps.is_empty() {
        problems.push(
            Problem::new(
                "runbook::check::no_steps",
                format!("runbook `{}` has no steps", name.value),
            )
            .in_file(source)
            .label_at(&name.referenced, "this runbook would do nothing"),
        );
    }
    let mut seen: HashMap<&str, &Step> = HashMap::default();
    for step in &runbook.steps {
        let id = &step.id;
        if !valid_id(&id.value) {
            problems.push(
                Problem::new(
                    "runbook::check::step_id",
                    format!("step id `{}` is not valid", id.value),
                )
                .in_file(source)
                .label_at(&id.referenced, "use lowercase letters, digits and `-`"),
            );
        }
        if let Some(first) = seen.get(id.value.as_str()) {
            problems.push(
                Problem::new(
                    "runbook::check::duplicate_id",
                    format!("step id `{}` is used twice", id.value),
                )
                .in_file(source)
                .label_at(&first.id.referenced, "first defined here")
                .label_at(&id.referenced, "defined again here"),
            );
        } else {
            seen.insert(&id.value, step);
        }
        problems.extend(check_kind(loaded, step));
    }
    problems.extend(check_secret(loaded));
    problems
}

/// A rotation runbook's `secret:` names its variables, and `public` only among them.
fn check_secret(loaded: &Loaded<Runbook>) -> Vec<Problem> {
    let source = &loaded.source;
    let mut problems = Vec::new();
    let Some(secret) = &loaded.value.secret else {
        return problems;
    };
    for name in &secret.public {
        if !secret.env.iter().any(|e| &e.value == name) {
            problems.push(
                Problem::new(
                    "runbook::check::public",
                    format!("`public` names `{name}`, which is not in `env`"),
                )
                .in_file(source)
                .label_at(
                    &secret.id.referenced,
                    "list it under `env` too, or remove it from `public`",
                ),
            );
        }
    }
    // Only credentials that users manage themselves (in the application, not in a file) may
    // own no variable.
    if secret.env.is_empty() && secret.every != crate::model::Policy::User {
        problems.push(
            Problem::new(
                "runbook::check::secret_env",
                format!("secret `{}` names no env variable", secret.id.value),
            )
            .in_file(source)
            .label_at(
                &secret.id.referenced,
                "add `env: [NAME]` (only `every: user` secrets may have none)",
            ),
        );
    }
    problems
}

fn check_kind(loaded: &Loaded<Runbook>, step: &Step) -> Vec<Problem> {
    let at = |code, message, label: &str| step_problem(loaded, step, code, message, label);
    let id = &step.id.value;
    let kind = match step.kinds().as_slice() {
        [] => {
            return vec![at(
                "runbook::check::no_kind",
                format!("step `{id}` has no kind"),
                "add one of: generate, exec, env, file, restart, verify, manual, rotate, report",
            )];
        }
        [kind] => *kind,
        several => {
            let names: Vec<&str> = several.iter().map(KindRef::name).collect();
            return vec![at(
                "runbook::check::two_kinds",
                format!("step `{id}` has more than one kind: {}", names.join(", ")),
                "a step does exactly one thing; split it into steps",
            )];
        }
    };
    let mut problems = Vec::new();
    if step.backoff == Some(0) {
        problems.push(at(
            "runbook::check::backoff",
            format!("step `{id}`: `backoff` is 0"),
            "use 1 for a fixed interval, 2 to double each pause",
        ));
    }
    problems.extend(check_spec(loaded, step, kind));
    problems.extend(check_rollback(loaded, step));
    if (step.idempotent || step.check.is_some()) && !matches!(kind, KindRef::Exec(_)) {
        problems.push(at(
            "runbook::check::resume_hint",
            format!("step `{id}`: `idempotent` and `check` apply to `exec` steps only"),
            "built-in kinds check their own effect on resume",
        ));
    }
    problems
}

/// A problem about a step, pointing at its id.
fn step_problem(
    loaded: &Loaded<Runbook>,
    step: &Step,
    code: &'static str,
    message: String,
    label: &str,
) -> Problem {
    Problem::new(code, message)
        .in_file(&loaded.source)
        .label_at(&step.id.referenced, label.to_string())
}

/// What is wrong with the body of a step's one kind.
fn check_spec(loaded: &Loaded<Runbook>, step: &Step, kind: KindRef<'_>) -> Option<Problem> {
    let (code, what, label) = match kind {
        KindRef::Generate(spec) => {
            let (what, label) = generate_problem(spec)?;
            ("runbook::check::generate", what.to_string(), label)
        }
        KindRef::Verify(spec) => {
            let checks = usize::from(spec.http.is_some())
                + usize::from(spec.tcp.is_some())
                + usize::from(spec.exec.is_some());
            (checks != 1).then_some((
                "runbook::check::verify",
                "`verify` takes exactly one of `http`, `tcp`, `exec`".to_string(),
                "one check per verify step",
            ))?
        }
        KindRef::Env(spec) => (spec.set.is_empty() && spec.unset.is_empty()).then_some((
            "runbook::check::env",
            "`env` has nothing to `set` or `unset`".to_string(),
            "this edit would change nothing",
        ))?,
        KindRef::File(spec) => {
            let mode = spec.mode.as_ref().filter(|_| spec.mode_bits().is_err())?;
            (
                "runbook::check::file_mode",
                format!("file mode `{mode}` is not octal permission bits"),
                "e.g. `mode: \"0600\"`",
            )
        }
        KindRef::Restart(services) => services.is_empty().then_some((
            "runbook::check::restart",
            "`restart` names no service".to_string(),
            "e.g. `restart: [api, worker]`",
        ))?,
        KindRef::Rotate(_) if loaded.value.secret.is_some() => (
            "runbook::check::rotate",
            "a rotation runbook cannot contain `rotate` (use `implies`)".to_string(),
            "`rotate` belongs in playbooks such as compromise",
        ),
        KindRef::Exec(_) | KindRef::Manual(_) | KindRef::Rotate(_) | KindRef::Report(_) => {
            return None;
        }
    };
    let message = format!("step `{}`: {what}", step.id.value);
    Some(step_problem(loaded, step, code, message, label))
}

/// What is wrong with a `generate` body, and the label that says how to fix it.
fn generate_problem(spec: &GenerateSpec) -> Option<(&'static str, &'static str)> {
    let by_bytes = spec.bytes.is_some() || spec.encoding.is_some();
    let by_chars = spec.length.is_some() || spec.charset.is_some();
    let complete = (spec.bytes.is_some() && spec.encoding.is_some() && !by_chars)
        || (spec.length.is_some() && spec.charset.is_some() && !by_bytes);
    if !complete {
        return Some((
            "`generate` takes `bytes` + `encoding`, or `length` + `charset`",
            "e.g. `generate: { bytes: 48, encoding: base64 }`",
        ));
    }
    let size = spec.bytes.or(spec.length);
    size.is_some_and(|n| !(8..=4096).contains(&n)).then_some((
        "a generated secret must have 8 to 4096 bytes or characters",
        "fewer than 8 is too weak to be a secret",
    ))
}

/// A rollback body, like a step, does exactly one thing.
fn check_rollback(loaded: &Loaded<Runbook>, step: &Step) -> Option<Problem> {
    let Some(Rollback::Body(body)) = &step.rollback else {
        return None;
    };
    (body.kinds().len() != 1).then(|| {
        step_problem(
            loaded,
            step,
            "runbook::check::rollback",
            format!(
                "step `{}`: `rollback` takes exactly one of exec, env, file, restart, manual (or `none`)",
                step.id.value
            ),
            "its rollback is ambiguous",
        )
    })
}

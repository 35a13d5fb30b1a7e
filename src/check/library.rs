//! Checks across runbooks: unique names, one owner per secret id and env name, and
//! `implies` / `conflicts` / `rotate` naming secrets that exist.

use std::collections::HashMap;

use serde_saphyr::Spanned;

use crate::diagnostic::{Problem, did_you_mean};
use crate::load::Loaded;
use crate::model::Runbook;
use crate::project::Library;
use crate::template::is_template;

/// Where something was first defined, for "also defined at file:line" messages.
fn position(loaded: &Loaded<Runbook>, at: &Spanned<String>) -> String {
    format!("{}:{}", loaded.source.path.display(), at.referenced.line())
}

pub(super) fn check_cross(library: &Library) -> Vec<Problem> {
    let mut problems = check_unique(library);
    problems.extend(check_references(library));
    problems
}

/// Runbook names are unique, and each secret id and env name has one owner.
fn check_unique(library: &Library) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut names: HashMap<&str, (&Loaded<Runbook>, &Spanned<String>)> = HashMap::new();
    let mut owners: HashMap<String, (&Loaded<Runbook>, &Spanned<String>)> = HashMap::new();
    for loaded in &library.runbooks {
        let name = &loaded.value.name;
        if let Some((first, at)) = names.get(name.value.as_str()) {
            problems.push(
                Problem::new(
                    "runbook::check::duplicate_runbook",
                    format!("two runbooks are named `{}`", name.value),
                )
                .in_file(&loaded.source)
                .label_at(&name.referenced, "defined again here")
                .help(format!("first defined at {}", position(first, at))),
            );
        } else {
            names.insert(&name.value, (loaded, name));
        }
        let Some(secret) = &loaded.value.secret else {
            continue;
        };
        for owned in std::iter::once(&secret.id).chain(&secret.env) {
            let key = owned.value.to_ascii_lowercase();
            if let Some((first, at)) = owners
                .get(&key)
                .filter(|(first, _)| !std::ptr::eq(*first, loaded))
            {
                problems.push(
                    Problem::new(
                        "runbook::check::duplicate_secret",
                        format!(
                            "`{}` is owned by two runbooks: `{}` and `{}`",
                            owned.value, first.value.name.value, loaded.value.name.value
                        ),
                    )
                    .in_file(&loaded.source)
                    .label_at(&owned.referenced, "owned again here")
                    .help(format!(
                        "first owned at {}; a secret has exactly one rotation runbook",
                        position(first, at)
                    )),
                );
            } else {
                owners.entry(key).or_insert((loaded, owned));
            }
        }
    }
    problems
}

/// `implies`, `conflicts` and `rotate` name secrets that some runbook owns.
fn check_references(library: &Library) -> Vec<Problem> {
    let mut problems = Vec::new();
    let ids = library.secret_ids();
    // A secret owned by a file that did not load exists; that file's own problems say why
    // it is not usable, so it is not reported again as "owned by no runbook".
    let owned = |key: &str| library.secret_owner(key).is_some() || library.unloaded_owner(key);
    let unknown = |loaded: &Loaded<Runbook>, reference: &Spanned<String>, what: &str| {
        let mut problem = Problem::new(
            "runbook::check::unknown_secret",
            format!("{what} `{}`, which no runbook owns", reference.value),
        )
        .in_file(&loaded.source)
        .label_at(&reference.referenced, "unknown secret");
        problem = match did_you_mean(&reference.value, ids.iter().copied()) {
            Some(s) => problem.help(format!("did you mean `{s}`?")),
            None => problem.help(format!("known secrets: {}", ids.join(", "))),
        };
        problem
    };
    for loaded in &library.runbooks {
        if let Some(secret) = &loaded.value.secret {
            for implied in &secret.implies {
                if !owned(&implied.value) {
                    problems.push(unknown(
                        loaded,
                        implied,
                        &format!("secret `{}` implies", secret.id.value),
                    ));
                }
            }
            for conflict in &secret.conflicts {
                if !owned(&conflict.value) {
                    problems.push(unknown(
                        loaded,
                        conflict,
                        &format!("secret `{}` conflicts with", secret.id.value),
                    ));
                }
            }
        }
        for step in &loaded.value.steps {
            let Some(rotate) = &step.rotate else { continue };
            if let Some(target) = rotate.secret.as_ref().filter(|t| !is_template(&t.value))
                && !owned(&target.value)
            {
                problems.push(unknown(
                    loaded,
                    target,
                    &format!("step `{}` rotates", step.id.value),
                ));
            }
        }
    }
    problems
}

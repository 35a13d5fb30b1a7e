//! The checked form of a library: each step's one kind moved into an enum, once, after every
//! problem was found and the runbooks with problems were set aside.

use crate::checked::{self, Rollback, RollbackBody, RollbackKind, StepKind};
use crate::load::Loaded;
use crate::model;
use crate::project::Library;

/// The checked library of the runbooks left in `library`. Call it after `health::set_aside`
/// took out every runbook with a problem: each one left has exactly one kind per step and per
/// rollback body, and one that has not is a bug.
pub(crate) fn checked(library: Library) -> checked::Library {
    checked::Library::new(library.runbooks.into_iter().map(runbook).collect())
}

/// The checked library of runbooks read back as parsed (`parsed`), of a library known to
/// have no problem.
pub(crate) fn checked_values(runbooks: Vec<model::Runbook>) -> checked::Library {
    checked::Library::new(runbooks.into_iter().map(runbook_value).collect())
}

fn runbook(loaded: Loaded<model::Runbook>) -> checked::Runbook {
    runbook_value(loaded.value)
}

fn runbook_value(value: model::Runbook) -> checked::Runbook {
    let model::Runbook {
        name,
        description,
        secret,
        mode,
        inputs,
        vars,
        on,
        serial,
        max_fail,
        steps,
    } = value;
    // Collected in place, the checked steps would keep the parsed list's allocation: room
    // for the next power of two of the larger parsed steps (100,000 steps: 59 MB for 37).
    let mut steps: Vec<checked::Step> = steps.into_iter().map(step).collect();
    steps.shrink_to_fit();
    checked::Runbook {
        name,
        description,
        secret,
        mode,
        inputs,
        vars,
        on,
        serial,
        max_fail,
        steps,
    }
}

fn step(step: model::Step) -> checked::Step {
    let model::Step {
        id,
        description,
        needs,
        when,
        timeout,
        retries,
        interval,
        backoff,
        rollback,
        idempotent,
        check,
        irreversible,
        confirm,
        phase,
        on,
        generate,
        exec,
        env,
        file,
        restart,
        verify,
        manual,
        rotate,
        report,
    } = step;
    let kinds = [
        generate.map(StepKind::Generate),
        exec.map(StepKind::Exec),
        env.map(StepKind::Env),
        file.map(StepKind::File),
        restart.map(StepKind::Restart),
        verify.map(StepKind::Verify),
        manual.map(StepKind::Manual),
        rotate.map(StepKind::Rotate),
        report.map(StepKind::Report),
    ];
    checked::Step {
        kind: exactly_one(kinds, &id.value),
        rollback: rollback.map(|r| match r {
            model::Rollback::None(_) => Rollback::None,
            model::Rollback::Body(body) => {
                Rollback::Body(Box::new(rollback_body(*body, &id.value)))
            }
        }),
        id,
        description,
        needs: needs.into_boxed_slice(),
        when,
        timeout,
        retries,
        interval,
        backoff,
        idempotent,
        check,
        irreversible,
        confirm,
        phase,
        on,
    }
}

fn rollback_body(body: model::RollbackBody, step: &str) -> RollbackBody {
    let kinds = [
        body.exec.map(RollbackKind::Exec),
        body.env.map(RollbackKind::Env),
        body.file.map(RollbackKind::File),
        body.restart.map(RollbackKind::Restart),
        body.manual.map(RollbackKind::Manual),
    ];
    RollbackBody {
        timeout: body.timeout,
        kind: exactly_one(kinds, step),
    }
}

fn exactly_one<T, const N: usize>(kinds: [Option<T>; N], step: &str) -> T {
    let mut found = kinds.into_iter().flatten();
    match (found.next(), found.next()) {
        (Some(kind), None) => kind,
        _ => panic!("step `{step}` passed the checker without exactly one kind; this is a bug"),
    }
}

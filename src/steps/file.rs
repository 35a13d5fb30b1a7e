//! `file`: writes a whole file atomically with a mode (e.g. a 0600 token file read by
//! Prometheus). The previous bytes are kept so a rollback restores or removes it.

use super::StepError;
use super::{Compensation, Done, StepRun};
use crate::failure::ErrorKind;
use crate::model::FileSpec;

pub(crate) async fn run(run: &StepRun, spec: &FileSpec) -> Result<Done, StepError> {
    let host = run.host();
    let target = run.resolve(&run.render(&spec.path)?);
    let content = run.render(&spec.content)?;
    let mode = spec
        .mode_bits()
        .map_err(|message| StepError::new(ErrorKind::Refused, message))?;
    let (opened, _locked) = super::opened::open(run, &target).await?;
    let crate::host::Inspected {
        path,
        bytes: previous,
        mode: previous_mode,
    } = opened.file.clone();
    let backup = run
        .ctx
        .durable
        .backup(host, run.node, &path, previous.as_deref(), previous_mode)
        .await?;
    opened.commit(host, content.as_bytes(), mode).await?;
    if let Some(name) = &backup {
        run.ctx.durable.seal_backup(name);
    }
    crate::failpoint::hit("after-effect", &run.name);
    Ok(Done {
        outputs: minijinja::Value::from(()),
        compensation: Some(Compensation::Restore {
            path,
            previous,
            mode: previous_mode,
            backup,
        }),
    })
}

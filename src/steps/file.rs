//! `file`: writes a whole file atomically with a mode (e.g. a 0600 token file read by
//! Prometheus). The previous bytes are kept so a rollback restores or removes it.

use super::StepError;
use super::{Compensation, Done, StepRun};
use crate::atomic::{resolve_target, write_atomic};
use crate::failure::ErrorKind;
use crate::model::FileSpec;

pub async fn run(run: &StepRun, spec: &FileSpec) -> Result<Done, StepError> {
    let path = run
        .ctx
        .project
        .resolve(&run.ctx.render(run.rb, &spec.path)?);
    let path = resolve_target(&path).map_err(|e| {
        StepError::new(
            ErrorKind::Io,
            format!("cannot resolve `{}`: {e}", path.display()),
        )
    })?;
    let content = run.ctx.render(run.rb, &spec.content)?;
    let mode = spec
        .mode
        .as_deref()
        .map(|m| u32::from_str_radix(m.trim_start_matches("0o"), 8))
        .transpose()
        .map_err(|_| StepError::new(ErrorKind::Refused, "`mode` is not octal"))?;
    let lock = run.ctx.file_lock(&path);
    let _guard = lock.lock().await;
    let previous_mode = super::env::file_mode(&path);
    let previous = match std::fs::read(&path) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(StepError::new(
                ErrorKind::Io,
                format!("cannot read `{}`: {e}", path.display()),
            ));
        }
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| {
            StepError::new(
                ErrorKind::Io,
                format!("cannot create `{}`: {e}", parent.display()),
            )
        })?;
    }
    let backup = run
        .ctx
        .durable
        .backup(run.node, &path, previous.as_deref(), previous_mode)
        .await?;
    write_atomic(&path, content.as_bytes(), mode)
        .map_err(|e| StepError::new(ErrorKind::Io, e.to_string()))?;
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

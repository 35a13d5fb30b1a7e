//! `env`: a lossless edit of a KEY=VALUE file, written atomically. Only the values' bytes
//! change; the previous bytes are kept so a rollback restores the file exactly.

use crate::failure::ErrorKind;
use std::collections::BTreeMap;
use std::path::PathBuf;

use super::StepError;
use super::{Compensation, Done, StepRun};
use crate::envfile::{EnvFile, value_warnings};
use crate::events::EventKind;
use crate::host::{HostError, Inspected, Ready};
use crate::model::EnvSpec;

/// The file an env step edits: its `file`, else the runbook's secret file, else
/// `vars.env_file`; symlinks not yet followed.
pub(crate) fn target_file(run: &StepRun, file: Option<&String>) -> Result<PathBuf, StepError> {
    match file {
        Some(file) => Ok(run.resolve(&run.render(file)?)),
        None => run.ctx.secret_file_on(run.rb, run.host_name()),
    }
}

pub(crate) async fn run(run: &StepRun, spec: &EnvSpec) -> Result<Done, StepError> {
    let host = run.host();
    let target = target_file(run, spec.file.as_ref())?;
    let mut values = BTreeMap::new();
    for (key, template) in &spec.set {
        values.insert(key.clone(), run.render(template)?);
    }
    let (opened, _locked) = super::opened::open(run, &target).await?;
    let Inspected {
        path,
        bytes: previous_bytes,
        mode,
    } = opened.file.clone();
    if previous_bytes.is_none() && !spec.create {
        return Err(StepError::new(
            ErrorKind::Refused,
            format!(
                "env file `{}` does not exist (set `create: true` to create it)",
                path.display()
            ),
        ));
    }
    let bytes = previous_bytes.as_deref().unwrap_or_default();
    let parsed = run.ctx.parsed_env.take(bytes);
    let (edited, previous) = edit(bytes, parsed, spec, &values)
        .map_err(|e| StepError::new(ErrorKind::Refused, format!("{}: {e}", path.display())))?;
    // A variable the runbook's secret declares public (an access key ID, an SMTP user name)
    // identifies rather than authenticates: masking it would hide which credential to revoke.
    let public = run
        .ctx
        .runbook(run.rb)
        .secret
        .as_ref()
        .map(|s| s.public.as_slice())
        .unwrap_or_default();
    run.ctx.redactor.add_all(
        previous
            .iter()
            .filter(|(key, _)| !public.contains(key))
            .map(|(_, value)| value.as_str()),
    );
    for (key, value) in &values {
        for warning in value_warnings(value) {
            run.ctx.emitter.emit(EventKind::Warning {
                step: Some(run.name.clone()),
                message: format!("the new value of {key}: {warning}"),
            });
        }
    }
    let (backup, line) = run
        .ctx
        .durable
        .backup_written(host, run.node, &path, previous_bytes.as_deref(), mode)
        .await?;
    // Where the old bytes are is durable before the file is replaced; the new file is written
    // and flushed while the journal's fsync runs (see `Host::write_atomic_after`).
    let journal = &run.ctx.durable.journal;
    let failed = std::sync::Mutex::new(None);
    let ready: Ready<'_> = Box::new(|| {
        let wait = journal.sync_through(line);
        Box::pin(async {
            let synced = match wait {
                Ok(wait) => wait.await,
                Err(e) => Err(e),
            };
            synced.map_err(|e| {
                *failed
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(e.clone());
                HostError::Io(std::io::Error::other(e))
            })
        })
    });
    let written = match opened.into_session() {
        // A remote session writes in one round trip once the journal is durable.
        Some(session) => match ready().await {
            Ok(()) => session.commit(&edited, None).await,
            Err(e) => Err(e),
        },
        None => host.write_atomic_after(&path, &edited, None, ready).await,
    };
    if let Some(e) = failed
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
    {
        return Err(super::durable::io(e));
    }
    written?;
    if let Some(name) = &backup {
        run.ctx.durable.seal_backup(name);
    }
    crate::failpoint::hit("after-effect", &run.name);
    Ok(Done {
        outputs: crate::template::value_of(BTreeMap::from([("previous", previous)])),
        compensation: Some(Compensation::Restore {
            path,
            previous: previous_bytes,
            mode,
            backup,
        }),
    })
}

/// Applies `set` and `unset` to the file's bytes (`parsed`: their parse, if preflight's is
/// still good); returns the new bytes and the previous values of the keys that were set.
pub(super) fn edit(
    bytes: &[u8],
    parsed: Option<EnvFile>,
    spec: &EnvSpec,
    values: &BTreeMap<String, String>,
) -> Result<(Vec<u8>, BTreeMap<String, String>), String> {
    let mut file = match parsed {
        Some(file) => file,
        None => EnvFile::parse(bytes).map_err(|e| e.to_string())?,
    };
    let mut previous = BTreeMap::new();
    for (key, value) in values {
        match file.get(key) {
            Some(old) => {
                previous.insert(key.clone(), old);
                file.set(key, value).map_err(|e| e.to_string())?;
            }
            None if spec.append || spec.create && bytes.is_empty() => {
                file.append(key, value).map_err(|e| e.to_string())?;
            }
            None => {
                return Err(format!(
                    "key `{key}` is not in the file (set `append: true` to add it)"
                ));
            }
        }
    }
    for key in &spec.unset {
        file.unset(key);
    }
    Ok((file.to_bytes(), previous))
}

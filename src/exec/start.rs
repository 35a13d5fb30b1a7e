//! A run's durable start: the order of its first bytes on disk and what it keeps to start
//! from. The runs a kill cut off are swept at the next start (`sweep.rs`).
//!
//! The active marker is written right after the run's folder, before `start.json` (the only
//! file holding secrets at that point) and the journal's first record: a kill at any moment
//! leaves either a folder with no secret in it, or a run that the next start finds.

use std::collections::{BTreeMap, HashMap};

use crate::checked::Library;
use crate::checked::RunbookIx;
use crate::envfile::EnvFile;
use crate::journal::{Journal, Record};
use crate::plan::Plan;
use crate::project::Project;
use crate::redact::Redactor;
use crate::state::StateDir;
pub(crate) use crate::steps::context::StartSnapshot;
use crate::steps::durable::{Durable, START_FILE};

/// The current values the run reads (`secret.current`, `secret.values`): those of the runbooks
/// it runs, and of the secret a playbook targets. Every other secret of the library is only
/// masked, from the env files as they are, never kept on disk.
pub(crate) fn needed_currents(
    plan: &Plan,
    library: &Library,
    currents: &HashMap<RunbookIx, BTreeMap<String, String>>,
) -> HashMap<RunbookIx, BTreeMap<String, String>> {
    let target_owner = plan.target.as_ref().and_then(|id| library.owner_of(id));
    let used: std::collections::BTreeSet<RunbookIx> = plan
        .nodes
        .iter()
        .flat_map(|node| node.steps())
        .map(|(rb, _)| rb)
        .chain(target_owner)
        .collect();
    currents
        .iter()
        .filter(|(rb, _)| used.contains(rb))
        .map(|(rb, values)| (*rb, values.clone()))
        .collect()
}

/// Masks what every secret of the library holds now, read from the env files as they are: a
/// resumed run's children may print any of them, and only the ones it reads were kept on disk.
pub(crate) fn mask_library_values(project: &Project, library: &Library, redactor: &Redactor) {
    let mut values = Vec::new();
    let mut parsed: HashMap<std::path::PathBuf, Option<EnvFile>> = HashMap::new();
    for runbook in library.runbooks() {
        // A secret that lives on inventory hosts is not read from this machine.
        let (Some(secret), None) = (&runbook.secret, &runbook.on) else {
            continue;
        };
        let Ok(path) = runbook.secret_file(project) else {
            continue;
        };
        let file = parsed.entry(path).or_insert_with_key(|path| {
            std::fs::read(path)
                .ok()
                .and_then(|bytes| EnvFile::parse_owned(bytes).ok())
        });
        let Some(file) = file else { continue };
        for name in &secret.env {
            if !secret.public.contains(&name.value)
                && let Some(value) = file.get(&name.value)
            {
                values.push(value);
            }
        }
    }
    redactor.add_all(values.iter().map(String::as_str));
}

/// Undoes a start that failed before its first record was durable: nothing ran, so the run
/// must neither block the next one nor leave its files.
pub(crate) fn abandon(state: &StateDir, run_id: &str) {
    let _ = std::fs::remove_dir_all(state.run_dir(run_id));
    if state.active_run().as_deref() == Some(run_id) {
        let _ = state.clear_active();
    }
}

/// Begins a new run on disk, in the order the module's comment explains: its folder, the
/// active marker, `start.json`, then the journal's `Begin` record. If any of it fails, the run
/// is abandoned (nothing ran) and the message says what could not be written.
///
/// None of it is fsynced here except `start.json` (and only when it holds something): nothing
/// has happened yet that a power cut could leave half-done. The first record that must be
/// durable — the intent of a step with a side effect — makes `Begin` durable with it, the
/// journal being appended in order, and `start.json` is on disk before `Begin` is even written.
/// A run lost whole to a power cut before that did nothing (see `sweep_orphans`).
pub(crate) fn begin(
    state: &StateDir,
    run_id: &str,
    record: &Record,
    snapshot: &StartSnapshot,
    redactor: &Redactor,
) -> Result<Durable, String> {
    // The sweep that just ran left `runs/` as it wrote down (or there is no `runs/`, so no
    // past run); once this run's folder is there and marked, the marker again names every
    // run that needs anything (see `swept.rs`).
    let swept = super::swept::unchanged(state) || !state.root.join("runs").exists();
    state
        .create_run(run_id)
        .map_err(|e| format!("cannot record the run: {e}"))?;
    crate::failpoint::hit("start", "after-folder");
    let begun = state
        .set_active(run_id)
        .map_err(|e| format!("cannot record the run: {e}"))
        .and_then(|()| {
            if swept {
                super::swept::record(state);
            }
            crate::failpoint::hit("start", "after-active");
            let journal = Journal::open(&state.journal_path(run_id), redactor)
                .map_err(|e| format!("cannot record the run: {e}"))?;
            let durable = Durable::new(journal, state.clone(), run_id.to_string());
            // Written before `Begin`, so a run that began always has it: `resume` reads a
            // missing one as an empty snapshot, which is what an empty one is not written for.
            if !snapshot.is_empty() {
                durable
                    .keep(START_FILE, snapshot)
                    .map_err(|e| format!("cannot record the run: {e}"))?;
            }
            durable.journal.append(record)?;
            Ok(durable)
        });
    if begun.is_err() {
        abandon(state, run_id);
    }
    begun
}

/// Removes the temporary copies that an interrupted edit left beside `paths`, saying so: each
/// is a whole new version of the file, a new secret included; and the backups beside them of
/// every run but `keep` (the run being resumed or aborted), each an old version that a power
/// cut kept after its run ended. Call it holding the run lock, with no other run unfinished.
pub(crate) fn remove_temp_leftovers<'a>(
    paths: impl IntoIterator<Item = &'a std::path::PathBuf>,
    keep: Option<&str>,
) {
    let paths: std::collections::BTreeSet<_> = paths.into_iter().collect();
    for path in paths {
        let found = crate::atomic::remove_leftovers_and(path, |target, name| {
            crate::host::is_stale_backup(target, name, keep)
        });
        match found {
            Ok((0, 0)) => {}
            Ok((temps, backups)) => {
                if temps > 0 {
                    tracing::warn!(
                        "removed {temps} temporary cop{} of {} left by an interrupted edit",
                        if temps == 1 { "y" } else { "ies" },
                        path.display()
                    );
                }
                if backups > 0 {
                    tracing::warn!(
                        "removed {backups} backup{} of {} left by a run that ended",
                        if backups == 1 { "" } else { "s" },
                        path.display()
                    );
                }
            }
            // A file step may create its file in a folder that does not exist yet.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(
                "could not remove temporary copies of {}: {e}",
                path.display()
            ),
        }
    }
}

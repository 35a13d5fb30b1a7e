//! The journal writer: whoever records appends the line itself, with one `write` to a file
//! opened `O_APPEND` (a whole line per call, so lines never interleave), and only the fsync
//! runs elsewhere. A record that needs no durability costs that one `write` and no wake-up of
//! any other thread; a durable one asks the syncer thread, which fsyncs once for every record
//! written before its fsync began (group commit), and waits for it. So a result is never held
//! up behind another step's fsync, and intents that are ready together share one.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};

use super::encode;
use super::record::Record;

/// How far the file is on disk: every line up to `seq` (counted in writes), or the error that
/// stopped the journal.
#[derive(Clone, Debug, Default)]
struct Synced {
    seq: u64,
    error: Option<String>,
}

#[derive(Default)]
struct State {
    /// Lines written so far; each one's number is its place in the file.
    written: u64,
    /// The highest line a durable record waits for.
    requested: u64,
    synced: Synced,
    /// The first fsync also makes the new file's name durable (see `sync_loop`).
    named: bool,
    closing: bool,
    /// The syncer sleeps on `request`: only then does a request need to wake it (a condvar's
    /// notify is a futex call whether or not anyone sleeps).
    syncer_asleep: bool,
    /// Callers of `durable_blocking` sleeping on `done`.
    blocked: usize,
}

struct Inner {
    file: std::fs::File,
    state: Mutex<State>,
    /// Wakes the syncer when a line is requested or the journal closes.
    request: Condvar,
    /// Wakes blocking waiters (start and end of a run) when an fsync completes.
    done: Condvar,
    /// The same news for async waiters (steps on the scheduler's runtime).
    synced: tokio::sync::watch::Sender<Synced>,
    syncer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

#[derive(Clone)]
pub(crate) struct Journal {
    inner: Arc<Inner>,
    redactor: crate::redact::Redactor,
}

impl Journal {
    /// Opens (creating, 0600) a journal for appending and starts its syncer thread.
    pub(crate) fn open(
        path: &Path,
        redactor: &crate::redact::Redactor,
    ) -> std::io::Result<Journal> {
        let named =
            |e: std::io::Error| std::io::Error::new(e.kind(), format!("{}: {e}", path.display()));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(named)?;
        drop_torn_tail(&file).map_err(named)?;
        let (synced, _) = tokio::sync::watch::channel(Synced::default());
        let inner = Arc::new(Inner {
            file,
            state: Mutex::new(State::default()),
            request: Condvar::new(),
            done: Condvar::new(),
            synced,
            syncer: Mutex::new(None),
        });
        let worker = Arc::clone(&inner);
        let handle = std::thread::Builder::new()
            .name("journal-sync".into())
            .spawn(move || sync_loop(&worker))?;
        *lock(&inner.syncer) = Some(handle);
        Ok(Journal {
            inner,
            redactor: redactor.clone(),
        })
    }

    /// Appends a record and waits until it is on disk.
    pub(crate) async fn durable(&self, record: &Record) -> Result<(), String> {
        let seq = self.request(record)?;
        self.synced(seq).await
    }

    /// Appends a record without asking for it to be durable yet; the number of its line, for
    /// `sync_through` (an edit writes its new file before the journal's fsync begins, so one
    /// commit of the file system carries both).
    pub(crate) fn append_numbered(&self, record: &Record) -> Result<u64, String> {
        self.write_line(&encode(record, &self.redactor))
    }

    /// Asks now for every line up to `seq` to be made durable; the returned future waits for it.
    pub(crate) fn sync_through(
        &self,
        seq: u64,
    ) -> Result<impl std::future::Future<Output = Result<(), String>> + Send + 'static, String>
    {
        self.ask(seq)?;
        let journal = self.clone();
        Ok(async move { journal.synced(seq).await })
    }

    /// Appends a record and asks for it to reach the disk, without waiting: the number of
    /// its line, for `synced`. A step armed ahead (`exec::arming`) is fsynced this way while
    /// the steps before it run.
    pub(crate) fn durable_later(&self, record: &Record) -> Result<u64, String> {
        self.request(record)
    }

    /// Waits until line `seq` is on disk; at once if it already is.
    pub(crate) async fn synced(&self, seq: u64) -> Result<(), String> {
        let mut rx = self.inner.synced.subscribe();
        let synced = rx
            .wait_for(|s| s.seq >= seq || s.error.is_some())
            .await
            .map_err(|_| stopped())?
            .clone();
        outcome(&synced, seq)
    }

    /// Appends a record; it is in the file on return (safe from a killed process, not yet
    /// from a power cut): the next durable record of this journal makes it durable too, since
    /// the file is appended in order. For results, whose loss only leaves a step "in doubt",
    /// which `resume` checks.
    pub(crate) async fn written(&self, record: &Record) -> Result<(), String> {
        self.append(record)
    }

    /// The same as `written`, from code that is not async.
    pub(crate) fn append(&self, record: &Record) -> Result<(), String> {
        self.write_line(&encode(record, &self.redactor)).map(drop)
    }

    /// The same as `durable`, from code that is not async (start and end of a run).
    pub(crate) fn durable_blocking(&self, record: &Record) -> Result<(), String> {
        let seq = self.request(record)?;
        let mut state = lock(&self.inner.state);
        while state.synced.seq < seq && state.synced.error.is_none() && !state.closing {
            state.blocked += 1;
            state = self
                .inner
                .done
                .wait(state)
                .expect("the journal's lock is never poisoned; this is a bug");
            state.blocked -= 1;
        }
        outcome(&state.synced, seq)
    }

    /// Writes a record and asks the syncer for it; the number of its line.
    fn request(&self, record: &Record) -> Result<u64, String> {
        let seq = self.write_line(&encode(record, &self.redactor))?;
        self.ask(seq)?;
        Ok(seq)
    }

    /// Asks the syncer for every line up to `seq`.
    fn ask(&self, seq: u64) -> Result<(), String> {
        let mut state = lock(&self.inner.state);
        if state.closing {
            return Err(stopped());
        }
        state.requested = state.requested.max(seq);
        // A syncer that is busy fsyncing finds the request when it comes back. One asleep is
        // woken after the lock is released, so it does not wake only to wait for the lock.
        let wake = std::mem::take(&mut state.syncer_asleep);
        drop(state);
        if wake {
            self.inner.request.notify_one();
        }
        Ok(())
    }

    /// Appends a record without waiting; it reaches disk with the next fsync.
    pub(crate) fn record(&self, record: &Record) {
        let _ = self.write_line(&encode(record, &self.redactor));
    }

    /// Appends an encoded line (see `journal::encode`) without waiting.
    pub(super) fn record_line(&self, line: Vec<u8>) {
        let _ = self.write_line(&line);
    }

    /// One `write` of a whole line. The lock orders line numbers as the file orders lines, so
    /// an fsync that begins after line N was counted covers line N. A failed write poisons the
    /// journal: a line cut short in the middle would make every later one unreadable, so
    /// nothing more is written, and every durable record from then on fails.
    fn write_line(&self, line: &[u8]) -> Result<u64, String> {
        let mut state = lock(&self.inner.state);
        if let Some(error) = &state.synced.error {
            return Err(error.clone());
        }
        if let Err(e) = (&self.inner.file).write_all(line) {
            let error = format!("cannot write the journal: {e}");
            state.synced.error = Some(error.clone());
            self.inner.done.notify_all();
            self.inner.synced.send_replace(state.synced.clone());
            return Err(error);
        }
        state.written += 1;
        Ok(state.written)
    }

    /// Stops the syncer. Every record is already in the file; what was never asked to be
    /// durable is left to the page cache, as it would be after any fsync.
    pub(crate) fn close(&self) {
        lock(&self.inner.state).closing = true;
        self.inner.request.notify_all();
        self.inner.done.notify_all();
        if let Some(handle) = lock(&self.inner.syncer).take() {
            let _ = handle.join();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .expect("the journal's lock is never poisoned; this is a bug")
}

fn outcome(synced: &Synced, seq: u64) -> Result<(), String> {
    match &synced.error {
        Some(error) if synced.seq < seq => Err(error.clone()),
        _ if synced.seq >= seq => Ok(()),
        _ => Err(stopped()),
    }
}

fn stopped() -> String {
    "the journal writer stopped".to_string()
}

/// Fsyncs whenever a line is requested, once for every line written before the fsync began,
/// then tells every waiter. The first fsync is a full one: the journal is a new file, and on
/// the journaling file systems Linux runs on (ext4, XFS, btrfs) an fsync of a new file also
/// makes its name and its new parent folders durable, which an `fdatasync` need not do. Later
/// ones only need the data (and the size, which `fdatasync` writes too).
fn sync_loop(inner: &Inner) {
    let mut state = lock(&inner.state);
    loop {
        while state.requested <= state.synced.seq && !state.closing {
            state.syncer_asleep = true;
            state = inner
                .request
                .wait(state)
                .expect("the journal's lock is never poisoned; this is a bug");
            state.syncer_asleep = false;
        }
        if state.requested <= state.synced.seq || state.synced.error.is_some() {
            // Closing with nothing asked, or poisoned: nothing more can be made durable.
            return;
        }
        let target = state.written;
        let full = !state.named;
        drop(state);
        let result = if full {
            inner.file.sync_all()
        } else {
            inner.file.sync_data()
        };
        state = lock(&inner.state);
        match result {
            Ok(()) => {
                state.synced.seq = target;
                state.named = true;
            }
            Err(e) => state.synced.error = Some(format!("cannot write the journal: {e}")),
        }
        if state.blocked > 0 {
            inner.done.notify_all();
        }
        inner.synced.send_replace(state.synced.clone());
    }
}

/// Cuts a torn last line off a journal that is opened to be appended to again, so that what
/// is appended follows whole records (see `reader::whole_prefix`). The next fdatasync makes
/// the new length durable with the records after it; a crash before that leaves the torn line
/// at the end, where it is dropped on reading, as before.
fn drop_torn_tail(file: &std::fs::File) -> std::io::Result<()> {
    use std::io::Read;
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(());
    }
    let mut bytes = Vec::with_capacity(len as usize);
    (&*file).read_to_end(&mut bytes)?;
    let whole = super::reader::whole_prefix(&bytes);
    if whole < bytes.len() {
        file.set_len(whole as u64)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Emitter, EventKind};
    use crate::journal::read_journal;
    use std::sync::Arc;

    fn note(text: String) -> Record {
        Record::Note {
            text,
            detail: Default::default(),
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn every_record_lands_once_whether_durable_written_or_fire_and_forget() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let journal = Journal::open(&path, &crate::redact::Redactor::new()).unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..60 {
            let journal = journal.clone();
            tasks.spawn(async move {
                let record = note(format!("n{i}"));
                match i % 3 {
                    0 => journal.durable(&record).await,
                    1 => journal.written(&record).await,
                    _ => {
                        journal.record(&record);
                        Ok(())
                    }
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap().unwrap();
        }
        // An event goes through the emitter, which hands the journal its redacted JSON.
        let emitter = Emitter::new(vec![Arc::new(journal.clone())], &Default::default());
        emitter.emit(EventKind::Warning {
            step: None,
            message: "last".into(),
        });
        journal.durable_blocking(&note("end".into())).unwrap();
        journal.close();

        let records = read_journal(&path).unwrap();
        let mut notes: Vec<String> = records
            .iter()
            .filter_map(|r| match r {
                Record::Note { text, .. } => Some(text.clone()),
                _ => None,
            })
            .collect();
        notes.sort();
        let mut expected: Vec<String> = (0..60).map(|i| format!("n{i}")).collect();
        expected.push("end".into());
        expected.sort();
        assert_eq!(notes, expected);
        match &records[records.len() - 2] {
            Record::Event { event } => assert!(
                matches!(&event.kind, EventKind::Warning { message, .. } if message == "last")
            ),
            other => panic!("the event comes before the last note: {other:?}"),
        }
    }

    #[test]
    fn a_closed_journal_refuses_durable_records_instead_of_hanging() {
        let dir = tempfile::tempdir().unwrap();
        let journal =
            Journal::open(&dir.path().join("j.jsonl"), &crate::redact::Redactor::new()).unwrap();
        journal.close();
        assert!(journal.durable_blocking(&note("late".into())).is_err());
    }
}

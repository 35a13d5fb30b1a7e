//! The journal writer: group commit with two threads. The writer appends every record as it
//! comes and acknowledges those that only need to be written; records that must be durable go
//! on to the syncer, which fsyncs once for all that were written since its last fsync began.
//! So a result is never held up behind another step's fsync, and steps that start together
//! share one.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::mpsc;

use super::encode;
use super::record::Record;

enum Message {
    /// `sync`: acknowledged once fsynced; otherwise once written (safe from a killed
    /// process, not yet from a power cut: the next fsync covers it).
    Write {
        line: Vec<u8>,
        ack: Option<tokio::sync::oneshot::Sender<Result<(), String>>>,
        sync: bool,
    },
    Close(std::sync::mpsc::Sender<()>),
}

#[derive(Clone)]
pub(crate) struct Journal {
    tx: mpsc::Sender<Message>,
    redactor: crate::redact::Redactor,
}

impl Journal {
    /// Opens (creating, 0600) a journal for appending and starts its writer thread.
    pub(crate) fn open(
        path: &Path,
        redactor: &crate::redact::Redactor,
    ) -> std::io::Result<Journal> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        let (tx, rx) = mpsc::channel::<Message>();
        let (sync_tx, sync_rx) = mpsc::channel::<Message>();
        let syncer = file
            .try_clone()
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        std::thread::Builder::new()
            .name("journal-sync".into())
            .spawn(move || sync_loop(&syncer, &sync_rx))?;
        std::thread::Builder::new()
            .name("journal".into())
            .spawn(move || write_loop(file, &rx, &sync_tx))?;
        Ok(Journal {
            tx,
            redactor: redactor.clone(),
        })
    }

    /// Appends a record and waits until it is on disk.
    pub(crate) async fn durable(&self, record: &Record) -> Result<(), String> {
        self.append(record, true).await
    }

    /// Appends a record and waits until it is written to the file (not yet fsynced): the
    /// next durable record of this journal makes it durable too, since the file is appended
    /// in order. For results, whose loss only leaves a step "in doubt", which `resume` checks.
    pub(crate) async fn written(&self, record: &Record) -> Result<(), String> {
        self.append(record, false).await
    }

    async fn append(&self, record: &Record, sync: bool) -> Result<(), String> {
        self.send(record, sync)?.await.map_err(|_| stopped())?
    }

    /// The same as `durable`, from code that is not async (start and end of a run).
    pub(crate) fn durable_blocking(&self, record: &Record) -> Result<(), String> {
        self.send(record, true)?
            .blocking_recv()
            .map_err(|_| stopped())?
    }

    /// Queues a record with an acknowledgement to wait for.
    fn send(
        &self,
        record: &Record,
        sync: bool,
    ) -> Result<tokio::sync::oneshot::Receiver<Result<(), String>>, String> {
        let (ack, done) = tokio::sync::oneshot::channel();
        let line = encode(record, &self.redactor);
        self.tx
            .send(Message::Write {
                line,
                ack: Some(ack),
                sync,
            })
            .map_err(|_| stopped())?;
        Ok(done)
    }

    /// Appends a record without waiting; it reaches disk with the next fsync.
    pub(crate) fn record(&self, record: &Record) {
        self.record_line(encode(record, &self.redactor));
    }

    /// Appends an encoded line (see `journal::encode`) without waiting.
    pub(super) fn record_line(&self, line: Vec<u8>) {
        let _ = self.tx.send(Message::Write {
            line,
            ack: None,
            sync: false,
        });
    }

    /// Flushes everything and stops the writer.
    pub(crate) fn close(&self) {
        let (tx, rx) = std::sync::mpsc::channel();
        if self.tx.send(Message::Close(tx)).is_ok() {
            let _ = rx.recv();
        }
    }
}

fn stopped() -> String {
    "the journal writer stopped".to_string()
}

type Ack = tokio::sync::oneshot::Sender<Result<(), String>>;

/// Appends records as they come. Acknowledges a written record at once, and hands the
/// acknowledgement of a durable one to the syncer, in order, only after its bytes are written.
fn write_loop(
    mut file: std::fs::File,
    rx: &mpsc::Receiver<Message>,
    syncer: &mpsc::Sender<Message>,
) {
    while let Ok(first) = rx.recv() {
        let mut buffer = Vec::new();
        let mut acks: Vec<(Ack, bool)> = Vec::new();
        let mut close = None;
        for message in std::iter::once(first).chain(rx.try_iter()) {
            match message {
                Message::Write { line, ack, sync } => {
                    buffer.extend_from_slice(&line);
                    acks.extend(ack.map(|ack| (ack, sync)));
                }
                Message::Close(done) => close = Some(done),
            }
        }
        let written = file
            .write_all(&buffer)
            .map_err(|e| format!("cannot write the journal: {e}"));
        for (ack, sync) in acks {
            match &written {
                Ok(()) if sync => {
                    let message = Message::Write {
                        line: Vec::new(),
                        ack: Some(ack),
                        sync,
                    };
                    if let Err(mpsc::SendError(Message::Write { ack: Some(ack), .. })) =
                        syncer.send(message)
                    {
                        let _ = ack.send(Err(stopped()));
                    }
                }
                _ => {
                    let _ = ack.send(written.clone());
                }
            }
        }
        if let Some(done) = close {
            // The syncer flushes everything written so far before it confirms.
            let _ = syncer.send(Message::Close(done));
            return;
        }
    }
}

/// Fsyncs for every durable record written since the last fsync began, then acknowledges
/// them all.
fn sync_loop(file: &std::fs::File, rx: &mpsc::Receiver<Message>) {
    while let Ok(first) = rx.recv() {
        let mut acks = Vec::new();
        let mut close = None;
        for message in std::iter::once(first).chain(rx.try_iter()) {
            match message {
                Message::Write { ack, .. } => acks.extend(ack),
                Message::Close(done) => close = Some(done),
            }
        }
        let outcome = file
            .sync_data()
            .map_err(|e| format!("cannot write the journal: {e}"));
        for ack in acks {
            let _ = ack.send(outcome.clone());
        }
        if let Some(done) = close {
            let _ = done.send(());
            return;
        }
    }
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
        expected.sort();
        assert_eq!(notes, expected);
        match records.last() {
            Some(Record::Event { event }) => assert!(
                matches!(&event.kind, EventKind::Warning { message, .. } if message == "last")
            ),
            other => panic!("the event is the last record: {other:?}"),
        }
    }
}

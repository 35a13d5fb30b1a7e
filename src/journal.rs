//! The write-ahead journal of a run: append-only JSON lines, each with a checksum. A step's
//! intent is durable before its side effect and its result after; steps that finish together
//! share one fsync. It never holds a secret: values live in 0600 pending files beside it.

mod boot;
mod reader;
mod record;
mod writer;

pub(crate) use boot::boot_id;
pub(crate) use reader::read_journal;
pub(crate) use record::{CompensationRecord, Record};
pub(crate) use writer::Journal;

/// The checksum appended to each line: CRC-32 of the JSON, as 8 hex digits. It only has to
/// tell a torn or damaged line from a whole one (the journal is 0600 and never holds a secret),
/// which is what CRC-32 is for, at a small fraction of the cost of a cryptographic hash.
fn checksum(json: &str) -> String {
    format!("{:08x}", crc32fast::hash(json.as_bytes()))
}

/// One journal line: the record's JSON, a space, its checksum, a newline. The JSON passes
/// through the redactor first: no record should carry a secret, and none ever can.
pub(crate) fn encode(record: &Record, redactor: &crate::redact::Redactor) -> Vec<u8> {
    let json =
        serde_json::to_string(record).expect("journal records always serialise; this is a bug");
    line(&redactor.redact(&json))
}

/// A journal line of JSON that has been through the redactor.
fn line(json: &str) -> Vec<u8> {
    let mut line = Vec::with_capacity(json.len() + 10);
    line.extend_from_slice(json.as_bytes());
    line.push(b' ');
    line.extend_from_slice(checksum(json).as_bytes());
    line.push(b'\n');
    line
}

/// Events join the journal as the run's timeline; child output stays out of it.
impl crate::events::EventSink for Journal {
    fn emit(&self, event: &crate::events::Event, encoded: &crate::events::Encoded<'_>) {
        if matches!(event.kind, crate::events::EventKind::StepOutput { .. }) {
            return;
        }
        // The line `Record::Event` serialises to, around the JSON already made and redacted.
        if let Some(json) = encoded.json() {
            self.record_line(line(&format!("{{\"record\":\"event\",\"event\":{json}}}")));
        }
    }
}

//! Reading a journal back: a torn last line (a crash mid-write) is dropped; damage anywhere
//! else means the journal cannot be trusted, and that is an error.

use std::path::Path;

use super::record::Record;

#[derive(Debug)]
pub(crate) enum JournalError {
    Io(std::io::Error),
    Corrupt { line: usize },
}

impl std::fmt::Display for JournalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JournalError::Io(e) => write!(f, "{e}"),
            JournalError::Corrupt { line } => write!(
                f,
                "the journal is damaged at line {line} (its checksum does not match)"
            ),
        }
    }
}

fn parse_line(line: &str) -> Option<Record> {
    let (json, sum) = line.rsplit_once(' ')?;
    if super::checksum(json) != sum {
        return None;
    }
    serde_json::from_str(json).ok()
}

pub(crate) fn read_journal(path: &Path) -> Result<Vec<Record>, JournalError> {
    let bytes = std::fs::read(path).map_err(|e| {
        JournalError::Io(std::io::Error::new(
            e.kind(),
            format!("{}: {e}", path.display()),
        ))
    })?;
    let text = String::from_utf8_lossy(&bytes);
    let complete = text.ends_with('\n');
    let lines: Vec<&str> = text.lines().collect();
    let mut records = Vec::with_capacity(lines.len());
    for (index, line) in lines.iter().enumerate() {
        let last = index + 1 == lines.len();
        match parse_line(line) {
            Some(record) if !last || complete => records.push(record),
            // The last line without its newline, or with a bad checksum, is a torn write.
            _ if last => break,
            _ => return Err(JournalError::Corrupt { line: index + 1 }),
        }
    }
    Ok(records)
}

/// How many leading bytes of a journal are whole records. A torn last line — one a crash cut
/// mid-write — is not: a process that appends to the journal again (`resume`, `abort`,
/// `retire`) must start where that line starts, or the torn line would sit in the middle of
/// the journal, where it reads as damage and the run could never be read back.
pub(crate) fn whole_prefix(bytes: &[u8]) -> usize {
    let Some(body) = bytes.strip_suffix(b"\n") else {
        // No newline at the end: everything after the last one is the torn line.
        return memchr::memrchr(b'\n', bytes).map_or(0, |i| i + 1);
    };
    let start = memchr::memrchr(b'\n', body).map_or(0, |i| i + 1);
    match std::str::from_utf8(&body[start..])
        .ok()
        .and_then(parse_line)
    {
        Some(_) => bytes.len(),
        None => start,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::encode;

    fn encode_plain(record: &Record) -> Vec<u8> {
        encode(record, &crate::redact::Redactor::new())
    }

    fn note(text: &str) -> Record {
        Record::Note {
            text: text.into(),
            detail: Default::default(),
        }
    }

    #[test]
    fn the_whole_prefix_ends_before_a_torn_last_line() {
        let mut bytes = encode_plain(&note("one"));
        let whole = bytes.len();
        assert_eq!(whole_prefix(&bytes), whole);
        let torn = encode_plain(&note("two"));
        bytes.extend(&torn[..torn.len() / 2]);
        assert_eq!(whole_prefix(&bytes), whole, "cut mid-line");
        bytes.truncate(whole);
        bytes.extend(b"{\"kind\":\"note\"} 00000000\n");
        assert_eq!(
            whole_prefix(&bytes),
            whole,
            "a whole line with a bad checksum"
        );
        assert_eq!(whole_prefix(b""), 0);
        assert_eq!(whole_prefix(b"torn"), 0);
    }

    #[test]
    fn a_torn_last_record_is_dropped_and_earlier_damage_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let mut bytes = encode_plain(&note("one"));
        bytes.extend(encode_plain(&note("two")));
        let torn = encode_plain(&note("three"));
        bytes.extend(&torn[..torn.len() / 2]);
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(read_journal(&path).unwrap().len(), 2);

        let mut damaged = encode_plain(&note("one"));
        damaged[3] ^= 1;
        damaged.extend(encode_plain(&note("two")));
        std::fs::write(&path, &damaged).unwrap();
        assert!(matches!(
            read_journal(&path),
            Err(JournalError::Corrupt { line: 1 })
        ));
    }
}

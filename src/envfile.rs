//! Owns lossless editing of `KEY=VALUE` files such as `.env.prod` and coturn's `turnserver.conf`.
//!
//! A file is kept as its original lines, and an edit rewrites only the bytes of
//! the one value it touches, so comments, ordering, quoting, `export` prefixes,
//! spacing and line endings survive byte for byte. The values are secrets:
//! nothing in this module's `Debug` output or error messages ever shows one.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;

mod parsed;
mod syntax;
#[cfg(test)]
mod tests;

pub(crate) use parsed::Parsed;

use syntax::{Entry, check_one_line, decode_double, encode, fit_quote, is_valid_key, parse_entry};

/// Everything that can go wrong while reading or editing an env file.
///
/// Messages name line numbers and keys only, never a value, because these
/// errors end up in terminals and CI logs while the values are live secrets.
#[derive(Debug, thiserror::Error)]
pub enum EnvFileError {
    #[error("line {line}: not valid utf-8")]
    NotUtf8 { line: usize },
    #[error("line {line}: key `{key}` is already defined on line {first}")]
    DuplicateKey {
        key: String,
        first: usize,
        line: usize,
    },
    #[error("line {line}: expected `KEY=VALUE`, `export KEY=VALUE`, a bare flag, or a `#` comment")]
    Malformed { line: usize },
    #[error("line {line}: the value of `{key}` has an unterminated quote")]
    UnterminatedQuote { line: usize, key: String },
    #[error("line {line}: unexpected text after the closing quote of `{key}`")]
    TrailingText { line: usize, key: String },
    #[error("key `{key}` is not in the file")]
    KeyMissing { key: String },
    #[error("key `{key}` is already in the file (line {line})")]
    KeyExists { key: String, line: usize },
    #[error("`{key}` is not a valid key name (expected [A-Za-z_][A-Za-z0-9_.-]*)")]
    InvalidKey { key: String },
    #[error("the new value for `{key}` contains a line break; values must be one line")]
    ValueHasLineBreak { key: String },
}

/// An env file held as its original text, editable without disturbing anything else.
///
/// Lines are ranges of the text as read, so parsing a large file allocates next to nothing;
/// a line gets text of its own only when an edit rewrites it.
#[derive(Clone)]
pub struct EnvFile {
    source: String,
    lines: Vec<Line>,
}

#[derive(Clone)]
struct Line {
    /// Where the line's text, without its line ending, is in `source`: an entry whose quoted
    /// value spans several lines is one `Line` holding all of them.
    span: Range<usize>,
    /// The line's text once an edit has rewritten it (or for a line added by `append`).
    edited: Option<String>,
    /// The original line ending: `"\n"`, `"\r\n"`, or `""` for a final line without one.
    /// A lone `"\r"` is kept too, but only a final line can end that way.
    ending: &'static str,
    /// `None` for blank lines, `#` comments and bare coturn-style flags, which are kept verbatim.
    entry: Option<Entry>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Quote {
    None,
    Single,
    Double,
}

impl fmt::Debug for EnvFile {
    /// Shows the keys but never the values, so an `EnvFile` can be logged safely.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvFile")
            .field("lines", &self.lines.len())
            .field("keys", &self.keys().collect::<Vec<_>>())
            .field("values", &"[REDACTED]")
            .finish()
    }
}

impl EnvFile {
    /// Parses a whole file, rejecting anything it could not write back faithfully.
    pub fn parse(text: &[u8]) -> Result<EnvFile, EnvFileError> {
        let source = std::str::from_utf8(text).map_err(|e| not_utf8(text, &e))?;
        Ok(EnvFile {
            lines: lines_of(source)?,
            source: source.to_owned(),
        })
    }

    /// The same for bytes the caller has no further use for: the text is not copied.
    pub fn parse_owned(bytes: Vec<u8>) -> Result<EnvFile, EnvFileError> {
        let source =
            String::from_utf8(bytes).map_err(|e| not_utf8(e.as_bytes(), &e.utf8_error()))?;
        let lines = lines_of(&source)?;
        Ok(EnvFile { source, lines })
    }

    /// A line's current text, without its ending.
    fn text<'a>(&'a self, line: &'a Line) -> &'a str {
        line.edited
            .as_deref()
            .unwrap_or(&self.source[line.span.clone()])
    }

    /// Returns the decoded value of `key`, as a program reading the file would see it.
    pub fn get(&self, key: &str) -> Option<String> {
        let line = &self.lines[self.position(key)?];
        let entry = line.entry.as_ref()?;
        let raw = &self.text(line)[entry.value.clone()];
        Some(match entry.quote {
            Quote::None => raw.to_owned(),
            Quote::Single => raw[1..raw.len() - 1].to_owned(),
            Quote::Double => decode_double(&raw[1..raw.len() - 1]),
        })
    }

    /// Returns the 1-based line number where `key`'s entry currently starts.
    pub fn line_of(&self, key: &str) -> Option<usize> {
        let index = self.position(key)?;
        // An entry whose quoted value spans lines counts each of them.
        let before: usize = self.lines[..index]
            .iter()
            .map(|line| 1 + memchr::memchr_iter(b'\n', self.text(line).as_bytes()).count())
            .sum();
        Some(before + 1)
    }

    /// Lists the keys in file order; bare flags are not keys.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().filter_map(|line| {
            let entry = line.entry.as_ref()?;
            Some(&self.text(line)[entry.key.clone()])
        })
    }

    /// Replaces the value of an existing key, touching only the value's bytes.
    ///
    /// The existing quoting style is kept unless the new value cannot be
    /// written in it, in which case double quotes are used.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), EnvFileError> {
        check_one_line(key, value)?;
        let index = self.position(key).ok_or_else(|| EnvFileError::KeyMissing {
            key: key.to_owned(),
        })?;
        let source = &self.source;
        let line = &mut self.lines[index];
        if let Some(entry) = &mut line.entry {
            let quote = fit_quote(entry.quote, value);
            let encoded = encode(value, quote);
            let text = line
                .edited
                .get_or_insert_with(|| source[line.span.clone()].to_owned());
            text.replace_range(entry.value.clone(), &encoded);
            entry.value = entry.value.start..entry.value.start + encoded.len();
            entry.quote = quote;
        }
        Ok(())
    }

    /// Adds `KEY=value` as a new last line, quoting the value only if it needs it.
    ///
    /// Unlike a plain push this validates its input, because appending an
    /// existing key or a multi-line value would write a file that no longer parses.
    pub fn append(&mut self, key: &str, value: &str) -> Result<(), EnvFileError> {
        if !is_valid_key(key) {
            return Err(EnvFileError::InvalidKey {
                key: key.to_owned(),
            });
        }
        if let Some(line) = self.line_of(key) {
            return Err(EnvFileError::KeyExists {
                key: key.to_owned(),
                line,
            });
        }
        check_one_line(key, value)?;
        let ending = self.line_ending();
        if let Some(last) = self.lines.last_mut() {
            // A final line that ends in a lone CR gets its LF, so the CR is not
            // left in the middle of a line.
            match last.ending {
                "" => last.ending = ending,
                "\r" => last.ending = "\r\n",
                _ => {}
            }
        }
        // An empty unquoted entry is added first so `set` picks the quoting, as for any edit.
        let empty = key.len() + 1;
        self.lines.push(Line {
            span: 0..0,
            edited: Some(format!("{key}=")),
            ending,
            entry: Some(Entry {
                key: 0..key.len(),
                value: empty..empty,
                quote: Quote::None,
            }),
        });
        self.set(key, value)
    }

    /// Removes the line that defines `key`; returns whether there was one.
    pub fn unset(&mut self, key: &str) -> bool {
        self.position(key)
            .map(|index| self.lines.remove(index))
            .is_some()
    }

    /// Serialises the file; for an unedited file this is exactly the parsed input.
    pub fn to_bytes(&self) -> Vec<u8> {
        let size = self
            .lines
            .iter()
            .map(|line| self.text(line).len() + line.ending.len())
            .sum();
        let mut out = Vec::with_capacity(size);
        // Unedited lines that follow each other in the source are copied as one range: a line
        // at a time cost two calls per line, which was most of an edit of a long file.
        // (An `append` can give the last line an ending its source does not have.)
        let source = self.source.as_bytes();
        let mut run = 0..0;
        for line in &self.lines {
            let whole = line.span.start..line.span.end + line.ending.len();
            let verbatim = line.edited.is_none()
                && source.get(line.span.end..whole.end) == Some(line.ending.as_bytes());
            if verbatim && whole.start == run.end && !run.is_empty() {
                run.end = whole.end;
                continue;
            }
            out.extend_from_slice(&source[run]);
            if verbatim {
                run = whole;
            } else {
                run = 0..0;
                out.extend_from_slice(self.text(line).as_bytes());
                out.extend_from_slice(line.ending.as_bytes());
            }
        }
        out.extend_from_slice(&source[run]);
        out
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.lines.iter().position(|line| {
            line.entry
                .as_ref()
                .is_some_and(|entry| &self.text(line)[entry.key.clone()] == key)
        })
    }

    /// Picks the ending new lines should use: that of the last terminated line, so
    /// a CRLF file stays CRLF, falling back to `\n` when no line is terminated yet.
    fn line_ending(&self) -> &'static str {
        self.lines
            .iter()
            .rev()
            .map(|line| line.ending)
            .find(|ending| *ending == "\n" || *ending == "\r\n")
            .unwrap_or("\n")
    }
}

/// The error for text that is not UTF-8, naming the line of the first bad byte.
fn not_utf8(text: &[u8], error: &std::str::Utf8Error) -> EnvFileError {
    EnvFileError::NotUtf8 {
        line: memchr::memchr_iter(b'\n', &text[..error.valid_up_to()]).count() + 1,
    }
}

/// Splits and classifies the entries of `source`, refusing a key defined twice.
fn lines_of(source: &str) -> Result<Vec<Line>, EnvFileError> {
    // Sized up front: growing a map of 10,000 keys rehashed it a dozen times.
    let count = memchr::memchr_iter(b'\n', source.as_bytes()).count() + 1;
    let mut lines = Vec::with_capacity(count);
    let mut seen: HashMap<&str, usize, foldhash::fast::RandomState> =
        HashMap::with_capacity_and_hasher(count, foldhash::fast::RandomState::default());
    let mut start = 0;
    let mut number = 1;
    while start < source.len() {
        // A byte order mark is an encoding artefact, not part of the first key.
        let bom = start == 0 && source.starts_with('\u{feff}');
        let skip = if bom { '\u{feff}'.len_utf8() } else { 0 };
        let (entry, len) = parse_entry(&source[start..], skip, number)?;
        let span = start..start + len;
        // Each entry keeps its own ending so mixed CRLF/LF files round-trip; only the final
        // line can end in a lone CR, kept rather than read as content.
        let after = &source[span.end..];
        let ending = match after.as_bytes() {
            [b'\r', b'\n', ..] => "\r\n",
            [b'\n', ..] => "\n",
            [b'\r', ..] => "\r",
            _ => "",
        };
        let text = &source[span.clone()];
        if let Some(entry) = &entry {
            let key = &text[entry.key.clone()];
            if let Some(first) = seen.insert(key, number) {
                return Err(EnvFileError::DuplicateKey {
                    key: key.to_owned(),
                    first,
                    line: number,
                });
            }
        }
        // Only a quoted value can span lines: counting the line ends of every line cost more
        // than the rest of its parse.
        let spanned = match &entry {
            Some(entry) if entry.quote != Quote::None => {
                memchr::memchr_iter(b'\n', text.as_bytes()).count()
            }
            _ => 0,
        };
        number += 1 + spanned;
        start = span.end + ending.len();
        lines.push(Line {
            span,
            edited: None,
            ending,
            entry,
        });
    }
    Ok(lines)
}

/// Describes what might go wrong when `value` is stored in a `.env` file, without quoting it.
pub fn value_warnings(value: &str) -> Vec<&'static str> {
    let mut warnings = Vec::new();
    if value.contains('$') {
        warnings.push(
            "value contains `$`: docker compose interpolates it in unquoted and double-quoted \
             values and silently truncates or alters the secret (use single quotes or `$$`)",
        );
    }
    if value.contains(['\n', '\r']) {
        warnings.push("value contains a line break: env file values must be a single line");
    }
    if value.contains(|c: char| c.is_control() && c != '\n' && c != '\r') {
        warnings.push("value contains control characters that many tools mangle or strip");
    }
    if value != value.trim() {
        warnings.push("value has leading or trailing whitespace, which some parsers strip");
    }
    if value.is_empty() {
        warnings.push("value is empty");
    }
    warnings
}

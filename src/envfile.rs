//! Owns lossless editing of `KEY=VALUE` files such as `.env.prod` and coturn's `turnserver.conf`.
//!
//! A file is kept as its original lines, and an edit rewrites only the bytes of
//! the one value it touches, so comments, ordering, quoting, `export` prefixes,
//! spacing and line endings survive byte for byte. The values are secrets:
//! nothing in this module's `Debug` output or error messages ever shows one.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;

#[cfg(test)]
mod tests;

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

/// An env file held as its original lines, editable without disturbing anything else.
#[derive(Clone)]
pub struct EnvFile {
    lines: Vec<Line>,
}

#[derive(Clone)]
struct Line {
    /// The line's text without its line ending.
    text: String,
    /// The original line ending: `"\n"`, `"\r\n"`, or `""` for a final line without one.
    /// A lone `"\r"` is kept too, but only a final line can end that way.
    ending: &'static str,
    /// `None` for blank lines, `#` comments and bare coturn-style flags, which are kept verbatim.
    entry: Option<Entry>,
}

#[derive(Clone)]
struct Entry {
    key: String,
    /// Byte range of the raw value inside `Line::text`, including any quotes.
    value: Range<usize>,
    quote: Quote,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Quote {
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
        let mut lines = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (index, (raw, ending)) in split_lines(text).enumerate() {
            let number = index + 1;
            let text = std::str::from_utf8(raw)
                .map_err(|_| EnvFileError::NotUtf8 { line: number })?
                .to_owned();
            // A byte order mark is an encoding artefact, not part of the first key.
            let bom = index == 0 && text.starts_with('\u{feff}');
            let start = if bom { '\u{feff}'.len_utf8() } else { 0 };
            let entry = parse_line(&text, start, number)?;
            if let Some(entry) = &entry
                && let Some(first) = seen.insert(entry.key.clone(), number)
            {
                return Err(EnvFileError::DuplicateKey {
                    key: entry.key.clone(),
                    first,
                    line: number,
                });
            }
            lines.push(Line {
                text,
                ending,
                entry,
            });
        }
        Ok(EnvFile { lines })
    }

    /// Returns the decoded value of `key`, as a program reading the file would see it.
    pub fn get(&self, key: &str) -> Option<String> {
        let line = &self.lines[self.position(key)?];
        let entry = line.entry.as_ref()?;
        let raw = &line.text[entry.value.clone()];
        Some(match entry.quote {
            Quote::None => raw.to_owned(),
            Quote::Single => raw[1..raw.len() - 1].to_owned(),
            Quote::Double => decode_double(&raw[1..raw.len() - 1]),
        })
    }

    /// Returns the 1-based line number that currently holds `key`.
    pub fn line_of(&self, key: &str) -> Option<usize> {
        self.position(key).map(|index| index + 1)
    }

    /// Lists the keys in file order; bare flags are not keys.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        let entries = self.lines.iter().filter_map(|line| line.entry.as_ref());
        entries.map(|entry| entry.key.as_str())
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
        let line = &mut self.lines[index];
        if let Some(entry) = &mut line.entry {
            let quote = fit_quote(entry.quote, value);
            let encoded = encode(value, quote);
            line.text.replace_range(entry.value.clone(), &encoded);
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
            text: format!("{key}="),
            ending,
            entry: Some(Entry {
                key: key.to_owned(),
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
            .map(|line| line.text.len() + line.ending.len())
            .sum();
        let mut out = Vec::with_capacity(size);
        for line in &self.lines {
            out.extend_from_slice(line.text.as_bytes());
            out.extend_from_slice(line.ending.as_bytes());
        }
        out
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.lines
            .iter()
            .position(|line| line.entry.as_ref().is_some_and(|entry| entry.key == key))
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

/// Splits after each `\n`, keeping each line's own ending so mixed CRLF/LF files round-trip.
fn split_lines(text: &[u8]) -> impl Iterator<Item = (&[u8], &'static str)> {
    text.split_inclusive(|&b| b == b'\n').map(|raw| {
        // Only the final line can end in a lone CR; it is kept rather than read as content.
        let mut endings = ["\r\n", "\n", "\r"].into_iter();
        let ending = endings.find(|e| raw.ends_with(e.as_bytes())).unwrap_or("");
        (&raw[..raw.len() - ending.len()], ending)
    })
}

/// Classifies one line, starting at byte `start` of `text`.
fn parse_line(text: &str, start: usize, number: usize) -> Result<Option<Entry>, EnvFileError> {
    let bytes = text.as_bytes();
    let begin = skip_blanks(bytes, start);
    if begin == bytes.len() || bytes[begin] == b'#' {
        return Ok(None);
    }
    let malformed = || EnvFileError::Malformed { line: number };
    // `export` is only a prefix when a key follows it; `export=1` defines a key named `export`.
    let exported_key = text[begin..]
        .strip_prefix("export")
        .filter(|after| after.starts_with([' ', '\t']))
        .map(|after| after.trim_start_matches([' ', '\t']))
        .filter(|rest| key_len(rest) > 0);
    let exported = exported_key.is_some();
    let key_start = exported_key.map_or(begin, |rest| text.len() - rest.len());
    let key_end = key_start + key_len(&text[key_start..]);
    if key_end == key_start {
        return Err(malformed());
    }
    let key = text[key_start..key_end].to_owned();
    let eq = skip_blanks(bytes, key_end);
    if eq == bytes.len() && !exported {
        // A lone word is a coturn flag such as `lt-cred-mech`: kept, but not a key.
        return Ok(None);
    }
    if bytes.get(eq) != Some(&b'=') {
        return Err(malformed());
    }
    let value_start = skip_blanks(bytes, eq + 1);
    let quote = match bytes.get(value_start) {
        Some(b'"') => Quote::Double,
        Some(b'\'') => Quote::Single,
        _ => Quote::None,
    };
    // After a closing quote only blanks and an inline comment may follow.
    let value_end = match quote {
        Quote::None => unquoted_end(bytes, value_start),
        _ => match closing_quote(bytes, value_start) {
            Some(end) if matches!(bytes.get(skip_blanks(bytes, end)), None | Some(b'#')) => end,
            Some(_) => return Err(EnvFileError::TrailingText { line: number, key }),
            None => return Err(EnvFileError::UnterminatedQuote { line: number, key }),
        },
    };
    // An empty value before an inline comment is anchored right after `=`, so a
    // later `set` writes `KEY=new # c` instead of gluing the value onto the `#`.
    let value = if value_end == value_start && value_start < bytes.len() {
        eq + 1..eq + 1
    } else {
        value_start..value_end
    };
    Ok(Some(Entry { key, value, quote }))
}

/// Returns the index just past the quote that closes the one at `open`.
/// Backslash escapes only exist inside double quotes, as in shells and Compose.
fn closing_quote(bytes: &[u8], open: usize) -> Option<usize> {
    let quote = *bytes.get(open)?;
    let mut i = open + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quote == b'"' => i += 2,
            b if b == quote => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Finds the end of an unquoted value: before a `#` that follows whitespace
/// (an inline comment), and without the trailing whitespace.
fn unquoted_end(bytes: &[u8], start: usize) -> usize {
    let comment = (start..bytes.len()).find(|&i| bytes[i] == b'#' && is_blank(bytes[i - 1]));
    let mut end = comment.unwrap_or(bytes.len());
    while end > start && is_blank(bytes[end - 1]) {
        end -= 1;
    }
    end
}

fn is_blank(byte: u8) -> bool {
    byte == b' ' || byte == b'\t'
}

fn skip_blanks(bytes: &[u8], from: usize) -> usize {
    from + bytes
        .iter()
        .skip(from)
        .take_while(|&&b| is_blank(b))
        .count()
}

/// Length of the key name at the start of `s`, or 0 if `s` does not start with one.
fn key_len(s: &str) -> usize {
    let mut chars = s.char_indices();
    match chars.next() {
        Some((_, c)) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return 0,
    }
    chars
        .find(|&(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
        .map_or(s.len(), |(i, _)| i)
}

fn is_valid_key(key: &str) -> bool {
    !key.is_empty() && key_len(key) == key.len()
}

fn check_one_line(key: &str, value: &str) -> Result<(), EnvFileError> {
    if value.contains(['\n', '\r']) {
        return Err(EnvFileError::ValueHasLineBreak {
            key: key.to_owned(),
        });
    }
    Ok(())
}

/// Picks the quoting for `value`, keeping `current` where the value can be written in it.
///
/// Unquoted values that contain whitespace (trimmed), `#` (a comment in some
/// parsers), quotes or backslashes (which change meaning) get double quotes, and
/// so does an apostrophe inside single quotes, which cannot be escaped there.
fn fit_quote(current: Quote, value: &str) -> Quote {
    let unsafe_bare = |c: char| c.is_whitespace() || matches!(c, '#' | '"' | '\'' | '\\');
    match current {
        Quote::None if !value.contains(unsafe_bare) => Quote::None,
        Quote::Single if !value.contains('\'') => Quote::Single,
        _ => Quote::Double,
    }
}

fn encode(value: &str, quote: Quote) -> String {
    match quote {
        Quote::None => value.to_owned(),
        Quote::Single => format!("'{value}'"),
        // `$` is left as is; `value_warnings` tells the user about interpolation instead.
        Quote::Double => format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\"")),
    }
}

/// Decodes `\"`, `\\` and `\n`; any other backslash pair is kept as written.
fn decode_double(inner: &str) -> String {
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some(c @ ('"' | '\\')) => out.push(c),
            other => out.extend(std::iter::once('\\').chain(other)),
        }
    }
    out
}

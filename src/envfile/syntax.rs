//! The syntax of one entry of an env file: keys, `export`, quoting (a quoted value may span
//! lines), inline comments, and how a new value is quoted and a double-quoted one decoded.

use std::ops::Range;

use super::{EnvFileError, Quote};

/// Where one `KEY=VALUE` line keeps its key and its raw value (quotes included), as byte
/// ranges of the line's text.
#[derive(Clone)]
pub(super) struct Entry {
    pub key: Range<usize>,
    pub value: Range<usize>,
    pub quote: Quote,
}

/// Classifies the entry whose first line starts `rest` (the file from that line on), looking from
/// byte `start`; returns it with the length of its text: its first line, or every line up to the
/// one that closes a quoted value spanning several (legal for Docker Compose and python-dotenv),
/// without the final line ending.
pub(super) fn parse_entry(
    rest: &str,
    start: usize,
    number: usize,
) -> Result<(Option<Entry>, usize), EnvFileError> {
    let all = rest.as_bytes();
    let first_end = content_end(all, 0);
    let text = &rest[..first_end];
    let bytes = text.as_bytes();
    let begin = skip_blanks(bytes, start);
    if begin == bytes.len() || bytes[begin] == b'#' {
        return Ok((None, first_end));
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
    let key = key_start..key_end;
    let named = |key: &Range<usize>| text[key.clone()].to_owned();
    let eq = skip_blanks(bytes, key_end);
    if eq == bytes.len() && !exported {
        // A lone word is a coturn flag such as `lt-cred-mech`: kept, but not a key.
        return Ok((None, first_end));
    }
    if exported && matches!(bytes.get(eq), None | Some(b'#')) {
        // A bare `export NAME` exports a variable defined elsewhere (the shell's meaning, which
        // Compose and python-dotenv accept): kept verbatim, it defines no value here.
        return Ok((None, first_end));
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
    let (value_end, entry_end) = match quote {
        Quote::None => (unquoted_end(bytes, value_start), first_end),
        // A quote may close on a later line; after it only blanks and an inline comment may
        // follow on that line.
        _ => match closing_quote(all, value_start) {
            Some(end) => {
                let line_end = content_end(all, end);
                let after = skip_blanks(&all[..line_end], end);
                if after != line_end && all[after] != b'#' {
                    let key = named(&key);
                    return Err(EnvFileError::TrailingText { line: number, key });
                }
                (end, line_end)
            }
            None => {
                let key = named(&key);
                return Err(EnvFileError::UnterminatedQuote { line: number, key });
            }
        },
    };
    // An empty value before an inline comment is anchored right after `=`, so a
    // later `set` writes `KEY=new # c` instead of gluing the value onto the `#`.
    let value = if value_end == value_start && value_start < bytes.len() {
        eq + 1..eq + 1
    } else {
        value_start..value_end
    };
    Ok((Some(Entry { key, value, quote }), entry_end))
}

/// Where the text of the physical line holding byte `from` ends: before its `\n` or `\r\n`, or
/// at the end of the file (before a lone final `\r`, which is kept as that line's ending).
pub(super) fn content_end(bytes: &[u8], from: usize) -> usize {
    match memchr::memchr(b'\n', &bytes[from..]) {
        Some(i) if i > 0 && bytes[from + i - 1] == b'\r' => from + i - 1,
        Some(i) => from + i,
        None if bytes.len() > from && bytes.ends_with(b"\r") => bytes.len() - 1,
        None => bytes.len(),
    }
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
    let comment = memchr::memchr_iter(b'#', &bytes[start..])
        .map(|i| start + i)
        .find(|&i| is_blank(bytes[i - 1]));
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
    let bytes = s.as_bytes();
    match bytes.first() {
        Some(b) if b.is_ascii_alphabetic() || *b == b'_' => {}
        _ => return 0,
    }
    // Key bytes are ASCII, so the first other byte (even inside a UTF-8 sequence) ends the key
    // on a character boundary.
    bytes
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')))
        .unwrap_or(bytes.len())
}

pub(super) fn is_valid_key(key: &str) -> bool {
    !key.is_empty() && key_len(key) == key.len()
}

pub(super) fn check_one_line(key: &str, value: &str) -> Result<(), EnvFileError> {
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
pub(super) fn fit_quote(current: Quote, value: &str) -> Quote {
    let unsafe_bare = |c: char| c.is_whitespace() || matches!(c, '#' | '"' | '\'' | '\\');
    match current {
        Quote::None if !value.contains(unsafe_bare) => Quote::None,
        Quote::Single if !value.contains('\'') => Quote::Single,
        _ => Quote::Double,
    }
}

pub(super) fn encode(value: &str, quote: Quote) -> String {
    match quote {
        Quote::None => value.to_owned(),
        Quote::Single => format!("'{value}'"),
        // `$` is left as is; `value_warnings` tells the user about interpolation instead.
        Quote::Double => format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\"")),
    }
}

/// Decodes `\"`, `\\` and `\n`; any other backslash pair is kept as written.
pub(super) fn decode_double(inner: &str) -> String {
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

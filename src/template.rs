//! The minijinja environment: strict undefined, no auto-escaping, and the filters that the
//! procedures of the platform's secret-rotation guide need (`shell_quote`, `sql_literal`,
//! `urlencode`, `url_with_password`, `url_password`, `url_user`, `b64encode`, `json`,
//! `sha256`, `scram_sha256`, `jwt_hs256`, `signed_cookie`).
//!
//! Template errors are reported from their kind, line and detail only: minijinja's debug
//! rendering prints the values a template saw, and those values include secrets.

use base64::Engine;
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior, Value};

mod scram;
mod signing;

/// Builds the environment every template of a run is rendered with.
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Nothing we render is HTML; escaping would corrupt secrets and commands.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.set_recursion_limit(64);
    // A template's trailing newline is part of the value (stdin for `read`, file contents).
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
            .expect("the default delimiters are a valid syntax; this is a bug"),
    );
    env.add_filter("shell_quote", shell_quote);
    env.add_filter("sql_literal", sql_literal);
    env.add_filter("sql_identifier", sql_identifier);
    env.add_filter("urlencode", urlencode);
    env.add_filter("url_with_password", url_with_password);
    env.add_filter("url_password", url_password);
    env.add_filter("url_user", url_user);
    env.add_filter("b64encode", b64encode);
    env.add_filter("json", json);
    env.add_filter("sha256", sha256);
    env.add_filter("scram_sha256", scram::filter);
    env.add_filter("jwt_hs256", signing::jwt_hs256);
    env.add_filter("signed_cookie", signing::signed_cookie);
    env
}

/// The environment a run renders with: like [`environment`], but a value derived from a
/// secret by a filter (a SCRAM verifier) is registered with the run's redactor the moment it
/// exists, so no output can show it although no step produced it.
pub fn environment_redacting(redactor: &crate::redact::Redactor) -> Environment<'static> {
    let mut env = environment();
    // An unsalted SHA-256 of a password is what Redis stores and what `ACL SETUSER name
    // !<hash>` removes a password by, so a retire phase needs no clear password. It is still
    // masked: one hash lets whoever holds it test guesses offline at full speed, and a
    // password chosen by a person (the one a rotation replaces) may be guessable.
    let hash_redactor = redactor.clone();
    env.add_filter("sha256", move |value: &str| {
        let hash = sha256(value);
        hash_redactor.add(&hash);
        hash
    });
    let scram_redactor = redactor.clone();
    env.add_filter("scram_sha256", move |password: &str| {
        let verifier = scram::filter(password)?;
        // The keys are what an attacker would use; the whole verifier is masked as well.
        let keys = verifier.rsplit_once('$').map_or("", |(_, keys)| keys);
        scram_redactor.add_all([verifier.as_str(), keys].into_iter().chain(keys.split(':')));
        Ok::<_, Error>(verifier)
    });
    let jwt_redactor = redactor.clone();
    env.add_filter("jwt_hs256", move |claims: &Value, key: &str| {
        let token = signing::jwt_hs256(claims, key)?;
        jwt_redactor.add(&token);
        Ok::<_, Error>(token)
    });
    let cookie_redactor = redactor.clone();
    env.add_filter("signed_cookie", move |value: &str, key: &str| {
        let cookie = signing::signed_cookie(value, key);
        // The signature alone is what a forger needs; the value is not secret.
        let signature = cookie.rsplit_once('.').map_or("", |(_, s)| s);
        cookie_redactor.add_all([cookie.as_str(), signature]);
        cookie
    });
    env
}

/// One environment for the whole process: building one registers every filter, and
/// checking or rendering hundreds of templates should not pay that each time.
pub fn shared() -> &'static Environment<'static> {
    static SHARED: std::sync::OnceLock<Environment<'static>> = std::sync::OnceLock::new();
    SHARED.get_or_init(environment)
}

/// Whether a string needs rendering at all. Plain strings skip the template engine, which
/// keeps thousands of literal commands cheap and guarantees they are taken verbatim.
pub fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%") || text.contains("{#")
}

/// Renders `text` against `ctx`. A literal is returned as is; a rendered value is never
/// rendered again.
pub fn render(env: &Environment<'_>, text: &str, ctx: &Value) -> Result<String, TemplateError> {
    if !is_template(text) {
        return Ok(text.to_string());
    }
    env.render_str(text, ctx)
        .map_err(|e| TemplateError::from_minijinja(&e))
}

/// Any serialisable value as a template value.
pub fn value_of<T: serde::Serialize>(value: T) -> Value {
    Value::from(minijinja::value::Serde(value))
}

/// Evaluates an expression (`when`, `expect.json`) to a boolean.
pub fn eval_bool(env: &Environment<'_>, expr: &str, ctx: &Value) -> Result<bool, TemplateError> {
    let compiled = env
        .compile_expression(expr)
        .map_err(|e| TemplateError::from_minijinja(&e))?;
    compiled
        .eval(ctx)
        .map(|v| v.is_true())
        .map_err(|e| TemplateError::from_minijinja(&e))
}

/// A template failure described without any value from the context.
#[derive(Debug, Clone)]
pub struct TemplateError {
    pub message: String,
    /// The line inside the template text, when minijinja knows it.
    pub line: Option<usize>,
}

impl TemplateError {
    pub fn from_minijinja(err: &Error) -> Self {
        let what = match err.kind() {
            ErrorKind::SyntaxError => "syntax error",
            ErrorKind::UndefinedError => "undefined value",
            ErrorKind::UnknownFilter => "unknown filter",
            ErrorKind::UnknownFunction => "unknown function",
            ErrorKind::UnknownTest => "unknown test",
            ErrorKind::InvalidOperation => "invalid operation",
            ErrorKind::MissingArgument => "missing argument",
            ErrorKind::TooManyArguments => "too many arguments",
            ErrorKind::BadEscape => "bad string escape",
            _ => "template error",
        };
        // The detail of syntax and lookup errors names tokens and identifiers, never values;
        // the detail of our own filters is written below without values. Other kinds may
        // quote operands, so their detail is dropped.
        let safe_detail = matches!(
            err.kind(),
            ErrorKind::SyntaxError
                | ErrorKind::UnknownFilter
                | ErrorKind::UnknownFunction
                | ErrorKind::UnknownTest
                | ErrorKind::MissingArgument
                | ErrorKind::TooManyArguments
        ) || err.kind() == ErrorKind::InvalidOperation
            && err.detail().is_some_and(|d| d.starts_with("runbook:"));
        let message = match err.detail().filter(|_| safe_detail) {
            Some(detail) => format!("{what}: {}", detail.trim_start_matches("runbook: ")),
            None => what.to_string(),
        };
        Self {
            message,
            line: err.line(),
        }
    }
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

fn filter_error(message: &'static str) -> Error {
    Error::new(ErrorKind::InvalidOperation, format!("runbook: {message}"))
}

/// Single-quotes a value for `sh`.
fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// A PostgreSQL string literal (standard_conforming_strings, the default since 9.1).
fn sql_literal(value: &str) -> Result<String, Error> {
    if value.contains('\0') {
        return Err(filter_error(
            "sql_literal: a NUL byte cannot appear in an SQL literal",
        ));
    }
    Ok(format!("'{}'", value.replace('\'', "''")))
}

/// A PostgreSQL quoted identifier (a role or table name): kept exactly as written, where an
/// unquoted name would be folded to lower case and could not hold a space or a quote.
fn sql_identifier(value: &str) -> Result<String, Error> {
    if value.is_empty() || value.contains('\0') {
        return Err(filter_error(
            "sql_identifier: an SQL identifier cannot be empty or hold a NUL byte",
        ));
    }
    Ok(format!("\"{}\"", value.replace('"', "\"\"")))
}

/// Percent-encodes every byte outside the RFC 3986 unreserved set.
pub fn urlencode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Replaces (or adds) the password of a URL such as `postgres://user:old@host/db` or
/// `redis://:old@host:6379`, percent-encoding the new one; `user=NAME` replaces the user
/// too (a rotation that switches the application to another login role).
fn url_with_password(
    url: &str,
    password: &str,
    kwargs: minijinja::value::Kwargs,
) -> Result<String, Error> {
    let new_user: Option<String> = kwargs.get("user")?;
    kwargs.assert_all_used()?;
    let Some(scheme_end) = url.find("://") else {
        return Err(filter_error(
            "url_with_password: the URL has no `scheme://`",
        ));
    };
    let after = &url[scheme_end + 3..];
    let authority_end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let authority = &after[..authority_end];
    let (userinfo, host) = match authority.rfind('@') {
        Some(at) => (&authority[..at], &authority[at + 1..]),
        None => ("", authority),
    };
    let user = match &new_user {
        Some(user) => urlencode(user),
        None => userinfo.split(':').next().unwrap_or("").to_owned(),
    };
    Ok(format!(
        "{}{user}:{}@{host}{}",
        &url[..scheme_end + 3],
        urlencode(password),
        &after[authority_end..]
    ))
}

/// The percent-decoded password of a URL such as `redis://:secret@host:6379` (empty if none).
fn url_password(url: &str) -> String {
    let after = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = &after[..after.find(['/', '?', '#']).unwrap_or(after.len())];
    let Some((userinfo, _)) = authority.rsplit_once('@') else {
        return String::new();
    };
    percent_decode(userinfo.split_once(':').map_or("", |(_, p)| p))
}

fn percent_decode(encoded: &str) -> String {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = (bytes[i] == b'%' && i + 2 < bytes.len())
            // Bytes, not a str slice: a `%` before a multi-byte character must not panic.
            .then(|| std::str::from_utf8(&bytes[i + 1..i + 3]).ok())
            .flatten()
            .and_then(|digits| u8::from_str_radix(digits, 16).ok());
        match hex {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The percent-decoded user name of a URL such as `redis://app:secret@host:6379` (empty if
/// none, as in `redis://:secret@host`).
fn url_user(url: &str) -> String {
    let after = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = &after[..after.find(['/', '?', '#']).unwrap_or(after.len())];
    let Some((userinfo, _)) = authority.rsplit_once('@') else {
        return String::new();
    };
    percent_decode(userinfo.split_once(':').map_or(userinfo, |(user, _)| user))
}

fn b64encode(value: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(value)
}

/// The lowercase hex SHA-256 of the value's UTF-8 bytes, as `sha256sum` prints it.
fn sha256(value: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(value.as_bytes()))
}

fn json(value: Value) -> Result<String, Error> {
    serde_json::to_string(&value).map_err(|_| filter_error("json: the value cannot be serialised"))
}

#[cfg(test)]
mod tests;

//! Checks of `verify` targets that need no network: the HTTP status, the URL and headers
//! once `vars` are filled in, the TCP host and port.

use std::collections::BTreeMap;

use super::StepAt;
use crate::diagnostic::Problem;
use crate::model::{HttpCheck, TcpCheck};
use crate::template::is_template;

pub(super) fn check_http(
    at: &StepAt<'_>,
    http: &HttpCheck,
    vars: &BTreeMap<String, String>,
    out: &mut Vec<Problem>,
) {
    if !(100..=599).contains(&http.status) {
        out.push(at.problem(
            "status",
            format!(
                "`status: {}` is not an HTTP status (100 to 599)",
                http.status
            ),
            "an HTTP status from 100 to 599",
        ));
    }
    if let Some(url) = static_value(&http.url, vars)
        && let Err(why) = check_url(&url)
    {
        out.push(at.problem(
            "url",
            format!("`{url}` {why}"),
            "an http:// or https:// URL",
        ));
    }
    for (name, value) in &http.headers {
        if static_value(value, vars).is_some_and(|v| v.contains(['\r', '\n'])) {
            out.push(at.problem(
                name,
                format!("header `{name}` has a line break in its value"),
                "a header value is one line",
            ));
        }
    }
    for name in http.headers.keys() {
        let token = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !token {
            out.push(at.problem(
                name,
                format!("`{name}` is not an HTTP header name"),
                "letters, digits and `-`",
            ));
        }
    }
}

pub(super) fn check_tcp(
    at: &StepAt<'_>,
    tcp: &TcpCheck,
    vars: &BTreeMap<String, String>,
    out: &mut Vec<Problem>,
) {
    if let Some(host) = static_value(&tcp.host, vars) {
        let why = if host.trim().is_empty() {
            Some("is empty")
        } else if host.contains("://") || host.contains('/') {
            Some("is a URL, not a host (use `http` to check a URL)")
        } else if host.chars().any(char::is_whitespace) {
            Some("contains a space")
        } else {
            None
        };
        if let Some(why) = why {
            out.push(at.problem(
                "host",
                format!("`tcp.host` `{host}` {why}"),
                "a host name or address",
            ));
        }
    }
    if let Some(port) = static_value(&tcp.port, vars)
        && !port.trim().parse::<u16>().is_ok_and(|p| p > 0)
    {
        out.push(at.problem(
            "port",
            format!("`{port}` is not a TCP port (1 to 65535)"),
            "a port from 1 to 65535",
        ));
    }
}

/// The value of a template that reads only `vars`, rendered as a run would render it; `None`
/// when it depends on anything known only at run time (or does not render: reported elsewhere).
pub(super) fn static_value(text: &str, vars: &BTreeMap<String, String>) -> Option<String> {
    if !is_template(text) {
        return Some(text.to_string());
    }
    let env = crate::template::shared();
    let names = env.template_from_str(text).ok()?.undeclared_variables(true);
    if !names.iter().all(|n| n.starts_with("vars.") || n == "vars") {
        return None;
    }
    let ctx = minijinja::context! { vars => vars };
    crate::template::render(env, text, &ctx).ok()
}

/// Why a URL cannot be fetched by the HTTP check, if it cannot.
fn check_url(url: &str) -> Result<(), &'static str> {
    if !url.contains("://") {
        return Err("has no `http://` or `https://` in front");
    }
    let uri: ureq::http::Uri = url
        .parse()
        .map_err(|_| "is not a valid URL (a space, or a character that must be escaped?)")?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err("has no `http://` or `https://` in front"),
    }
    match uri.host() {
        Some(host) if !host.is_empty() => Ok(()),
        _ => Err("names no host"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_need_a_scheme_and_a_host() {
        assert!(check_url("http://localhost:8080/health").is_ok());
        assert!(check_url("https://example.com").is_ok());
        assert!(check_url("localhost:8080/health").is_err());
        assert!(check_url("ftp://example.com/").is_err());
        assert!(check_url("http://exa mple.com/").is_err());
    }
}

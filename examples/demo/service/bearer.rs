//! Owns the demo service's static bearer credentials: values a client presents as they are,
//! such as the scrape token Prometheus sends to `/metrics` or the secret an agent sends to
//! `/enroll`. During a rotation's overlap the previous value (`NAME_PREVIOUS`) is accepted
//! beside the current one, so a client that still holds it is not refused until the retire.

use runbook::envfile::EnvFile;

use crate::http::{Request, Response};

/// The values of one credential that the service accepts; no `Debug`, it holds secrets.
pub(crate) struct Bearer {
    current: Option<String>,
    previous: Option<String>,
}

impl Bearer {
    /// `NAME` and `NAME_PREVIOUS` of `env`; an empty value counts as unset.
    pub(crate) fn from_env(env: &EnvFile, name: &str) -> Bearer {
        let value = |key: &str| env.get(key).filter(|value| !value.is_empty());
        Bearer {
            current: value(name),
            previous: value(&format!("{name}_PREVIOUS")),
        }
    }

    /// 200 with `body` when the request's `Authorization: Bearer` value is one this service
    /// accepts, else 401; one that has no value configured refuses every request.
    pub(crate) fn guard(&self, request: &Request, body: serde_json::Value) -> Response {
        let Some(presented) = bearer(request) else {
            return Response::error(401, "missing bearer credential");
        };
        let accepted = [&self.current, &self.previous]
            .into_iter()
            .flatten()
            .any(|value| equal(value.as_bytes(), presented.as_bytes()));
        if accepted {
            Response::json(200, body)
        } else {
            Response::error(401, "invalid bearer credential")
        }
    }
}

/// The credential of an `Authorization: Bearer VALUE` header.
pub(crate) fn bearer(request: &Request) -> Option<&str> {
    let (scheme, value) = request.header("Authorization")?.split_once(' ')?;
    scheme.eq_ignore_ascii_case("Bearer").then(|| value.trim())
}

/// Compares in time that depends on the lengths only, so a client cannot find the value
/// byte by byte from how long a refusal takes.
fn equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

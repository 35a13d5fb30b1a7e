//! What the demo service answers on each path: health of its backends, tokens and sessions
//! checked against the current value or, during an overlap, the previous one, and the
//! endpoints a rotation's checks and the load generator ask.

use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use super::http::{Request, Response};
use super::{State, backends, bearer, crypto};

pub(crate) fn route(request: &Request, state: &State) -> Response {
    if request.method != "GET" {
        return Response::error(405, "only GET is supported");
    }
    match request.path.as_str() {
        "/health" => health(state),
        "/fingerprints" => Response::json(200, Value::Object(state.fingerprints.clone())),
        "/token" => {
            let now = SystemTime::now().duration_since(UNIX_EPOCH);
            let issued_at = now.map_or(0, |since| since.as_secs());
            let previous = state.jwt_previous.as_deref();
            let key = match previous {
                Some(previous) if state.predecessor_serving.load(Ordering::SeqCst) => previous,
                _ => &state.jwt_secret,
            };
            let token = crypto::sign(key.as_bytes(), "demo", issued_at);
            Response::json(200, json!({ "token": token }))
        }
        "/whoami" => whoami(request, state),
        "/session" => session(request, state),
        "/metrics" => state.metrics_token.guard(request, json!({ "demo_up": 1 })),
        // Answers whether an agent presenting this secret may enroll; enrolls nothing.
        "/enroll" => state
            .enrollment_secret
            .guard(request, json!({ "enrollable": true })),
        "/records/app" => state.app_records.serve(state.fingerprint_key.as_bytes()),
        "/records/mfa" => state.mfa_records.serve(state.fingerprint_key.as_bytes()),
        _ => Response::error(404, "no such endpoint"),
    }
}

/// Checks every configured backend now, so a rotated password shows up as `ok` or `error`.
fn health(state: &State) -> Response {
    let postgres = state.postgres.as_ref().map(|pg| match pg {
        Ok(pg) => backends::check_postgres(pg),
        Err(reason) => Err(format!("DATABASE_URL: {reason}")),
    });
    let redis = state.redis.as_ref().map(|redis| match redis {
        Ok(redis) => backends::check_redis(redis),
        Err(reason) => Err(format!("REDIS_URL: {reason}")),
    });
    let mut body = Map::new();
    let mut failing = Vec::new();
    for (name, result) in [("postgres", postgres), ("redis", redis)] {
        let status = match result {
            None => "unconfigured",
            Some(Ok(())) => "ok",
            Some(Err(reason)) => {
                state.log.line(&format!("health: {name} failed: {reason}"));
                failing.push(Value::from(name));
                "error"
            }
        };
        body.insert(name.to_owned(), Value::from(status));
    }
    let ok = failing.is_empty();
    body.insert(
        "status".to_owned(),
        Value::from(if ok { "ok" } else { "error" }),
    );
    if !ok {
        body.insert("failing".to_owned(), Value::Array(failing));
    }
    Response::json(if ok { 200 } else { 503 }, Value::Object(body))
}

/// Accepts a bearer token signed with JWT_SECRET, or during an overlap JWT_SECRET_PREVIOUS.
fn whoami(request: &Request, state: &State) -> Response {
    let Some(token) = bearer::bearer(request) else {
        return Response::error(401, "missing bearer token");
    };
    let verified = crypto::verify(state.jwt_secret.as_bytes(), token).or_else(|| {
        let previous = state.jwt_previous.as_deref()?;
        crypto::verify(previous.as_bytes(), token)
    });
    match verified {
        Some(subject) => Response::json(200, json!({ "sub": subject })),
        None => Response::error(401, "invalid token"),
    }
}

/// Accepts a `session` cookie signed with SESSION_SECRET (or, during a rotation's overlap,
/// SESSION_SECRET_PREVIOUS), as the API's session middleware does.
fn session(request: &Request, state: &State) -> Response {
    let cookie = request.header("Cookie").and_then(|header| {
        header
            .split(';')
            .find_map(|pair| pair.trim().strip_prefix("session="))
    });
    let Some(cookie) = cookie else {
        return Response::error(401, "missing session cookie");
    };
    let verified = crypto::verify_cookie(state.session_secret.as_bytes(), cookie).or_else(|| {
        let previous = state.session_previous.as_deref()?;
        crypto::verify_cookie(previous.as_bytes(), cookie)
    });
    match verified {
        Some(session) => Response::json(200, json!({ "session": session })),
        None => Response::error(401, "invalid session"),
    }
}

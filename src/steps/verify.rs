//! `verify`: proves the new value is live — an HTTP status and body, a TCP connection, or a
//! command. The scheduler tries it again up to `retries` times (the verify's own, else the
//! step's); a failing verify fails the rotation.

use crate::failure::ErrorKind;
use std::time::Duration;

use super::StepError;
use super::exec::run_exec;
use super::{Done, StepRun};
use crate::model::{HttpCheck, TcpCheck, VerifySpec};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// One try; the scheduler's retry policy decides whether another follows.
pub(super) async fn run(run: &StepRun, spec: &VerifySpec) -> Result<Done, StepError> {
    let timeout = spec
        .timeout
        .as_ref()
        .map_or(DEFAULT_TIMEOUT, |d| d.duration);
    once(run, spec, timeout)
        .await
        .map(|()| Done::nothing())
        .map_err(|err| err.context("verify failed"))
}

async fn once(run: &StepRun, spec: &VerifySpec, timeout: Duration) -> Result<(), StepError> {
    if let Some(http) = &spec.http {
        return check_http(run, http, timeout).await;
    }
    if let Some(tcp) = &spec.tcp {
        return check_tcp(run, tcp, timeout).await;
    }
    if let Some(exec) = &spec.exec {
        return run_exec(run, exec, Some(timeout)).await.map(|_| ());
    }
    Err(StepError::new(ErrorKind::Bug, "`verify` has no check"))
}

async fn check_http(run: &StepRun, http: &HttpCheck, timeout: Duration) -> Result<(), StepError> {
    let url = run.render(&http.url)?;
    let mut headers = Vec::new();
    for (name, value) in &http.headers {
        headers.push((name.clone(), run.render(value)?));
    }
    let expected = http.status;
    let needle = http
        .body_contains
        .as_ref()
        .map(|b| run.render(b))
        .transpose()?;
    // ureq is blocking; a blocking thread keeps the scheduler's workers free.
    let result = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .into();
        let mut request = agent.get(&url);
        for (name, value) in &headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let mut response = request.call().map_err(|e| format!("GET {url}: {e}"))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(1024 * 1024)
            .read_to_string()
            .unwrap_or_default();
        if status != expected {
            return Err(format!("GET {url} returned {status}, expected {expected}"));
        }
        if let Some(needle) = needle
            && !body.contains(&needle)
        {
            return Err(format!("GET {url}: the body does not contain `{needle}`"));
        }
        Ok(())
    })
    .await
    .map_err(|_| StepError::new(ErrorKind::Bug, "the HTTP check panicked; this is a bug"))?;
    result.map_err(|e| StepError::new(ErrorKind::Expectation, e))
}

async fn check_tcp(run: &StepRun, tcp: &TcpCheck, timeout: Duration) -> Result<(), StepError> {
    let host = run.render(&tcp.host)?;
    let port = run.render(&tcp.port)?;
    let address = format!("{host}:{port}");
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&address)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(StepError::new(
            ErrorKind::Expectation,
            format!("cannot connect to {address}: {e}"),
        )),
        Err(_) => Err(StepError::new(
            ErrorKind::Timeout,
            format!("connecting to {address} timed out"),
        )),
    }
}

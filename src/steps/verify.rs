//! `verify`: proves the new value is live — an HTTP status and body, a TCP connection, or a
//! command — tried again up to `retries` times. A failing verify fails the rotation.

use std::time::Duration;

use super::exec::run_exec;
use super::{Done, StepRun};
use crate::exec::context::StepError;
use crate::exec::events::EventKind;
use crate::model::{HttpCheck, TcpCheck, VerifySpec};

const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn run(run: &StepRun, spec: &VerifySpec) -> Result<Done, StepError> {
    let retries = spec.retries.or(run.step().retries).unwrap_or(0);
    let interval = match spec.interval.as_ref().or(run.step().interval.as_ref()) {
        Some(interval) => interval
            .resolve(|text| run.ctx.render(run.rb, text).map_err(|e| e.message))
            .map_err(StepError::new)?,
        None => DEFAULT_INTERVAL,
    };
    let timeout = spec
        .timeout
        .as_ref()
        .map_or(DEFAULT_TIMEOUT, |d| d.duration);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = once(run, spec, timeout).await;
        match result {
            Ok(()) => return Ok(Done::nothing()),
            Err(err) if attempt <= retries && !*run.ctx.cancel.borrow() => {
                run.ctx.emitter.emit(EventKind::StepRetry {
                    step: run.name.clone(),
                    attempt,
                    error: err.message,
                });
                tokio::time::sleep(interval).await;
            }
            Err(err) => {
                let tries = if attempt > 1 {
                    format!(" (after {attempt} tries)")
                } else {
                    String::new()
                };
                return Err(StepError::new(format!(
                    "verify failed{tries}: {}",
                    err.message
                )));
            }
        }
    }
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
    Err(StepError::new("`verify` has no check"))
}

async fn check_http(run: &StepRun, http: &HttpCheck, timeout: Duration) -> Result<(), StepError> {
    let url = run.ctx.render(run.rb, &http.url)?;
    let mut headers = Vec::new();
    for (name, value) in &http.headers {
        headers.push((name.clone(), run.ctx.render(run.rb, value)?));
    }
    let expected = http.status;
    let needle = http
        .body_contains
        .as_ref()
        .map(|b| run.ctx.render(run.rb, b))
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
    .map_err(|_| StepError::new("the HTTP check panicked; this is a bug"))?;
    result.map_err(StepError::new)
}

async fn check_tcp(run: &StepRun, tcp: &TcpCheck, timeout: Duration) -> Result<(), StepError> {
    let host = run.ctx.render(run.rb, &tcp.host)?;
    let port = run.ctx.render(run.rb, &tcp.port)?;
    let address = format!("{host}:{port}");
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&address)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(StepError::new(format!("cannot connect to {address}: {e}"))),
        Err(_) => Err(StepError::new(format!("connecting to {address} timed out"))),
    }
}

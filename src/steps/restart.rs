//! `restart`: runs the configured restart driver for a set of services. The default driver
//! recreates containers, because `docker compose restart` keeps a container's old environment.

use crate::failure::ErrorKind;
use std::time::Duration;

use super::StepError;
use super::StepRun;
use super::exec::run_command;
use crate::host::process::{ProcessSpec, Termination};
use crate::template::{environment, render};

/// Long enough for a container to be recreated and pass its start-up checks.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

pub(crate) async fn restart_services(run: &StepRun, services: &[String]) -> Result<(), StepError> {
    let project = &run.ctx.project;
    let driver = &project.restart;
    let ctx = minijinja::context! { vars => project.vars_on(&run.ctx.runbook(run.rb).vars, run.host_name()), services => services.to_vec() };
    let script = render(&environment(), &driver.run, &ctx)?;
    let mut process = ProcessSpec::shell(script);
    process.cwd = match (&driver.cwd, run.host_name()) {
        (Some(cwd), _) => Some(run.resolve(cwd)),
        // On a host the driver starts in the login directory.
        (None, Some(_)) => None,
        (None, None) => Some(project.root.clone()),
    };
    process.timeout = Some(
        run.step()
            .timeout
            .as_ref()
            .map(|t| t.value.duration)
            .or(driver.timeout.as_ref().map(|t| t.duration))
            .unwrap_or(DEFAULT_TIMEOUT),
    );
    let lock = run.ctx.restart_lock(run.host_name());
    let _driver = lock.lock().await;
    let outcome = run_command(run, &process).await?;
    match outcome.status {
        Termination::Exited(0) => Ok(()),
        Termination::Exited(code) => Err(StepError::new(
            ErrorKind::Exit,
            format!(
                "restart driver exited with {code} for {}",
                services.join(", ")
            ),
        )),
        Termination::TimedOut => Err(StepError::new(
            ErrorKind::Timeout,
            format!("restart driver timed out for {}", services.join(", ")),
        )),
        Termination::Signaled(s) => Err(StepError::new(
            ErrorKind::Exit,
            format!("restart driver killed by signal {s}"),
        )),
        Termination::Cancelled => Err(StepError::new(ErrorKind::Cancelled, "restart interrupted")),
    }
}

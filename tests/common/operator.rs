//! What a run that stopped for a person says: the run id and the manual steps it awaits, read
//! from its last line, so a test answers exactly the steps the run asked about.

#![allow(dead_code)]

/// The run id and the steps a run awaits, when its output ends awaiting the operator.
pub(crate) fn awaited(output: &str) -> Option<(String, Vec<String>)> {
    let line = output
        .lines()
        .rev()
        .find(|l| l.contains("awaiting the operator at "))?;
    let after = line.split("awaiting the operator at ").nth(1)?;
    let steps = after.split(':').next()?;
    let id = line.split("`runbook resume ").nth(1)?;
    let id: String = id.chars().take_while(|c| *c != '`' && *c != ' ').collect();
    Some((id, steps.split(", ").map(str::to_string).collect()))
}

/// The arguments of `resume` that say each awaited step is done.
pub(crate) fn done_args(run_id: &str, steps: &[String]) -> Vec<String> {
    let mut args = vec!["resume".to_string(), run_id.to_string()];
    for step in steps {
        args.push("--done".into());
        args.push(step.clone());
    }
    args
}

//! A runbook whose mode a var selects, one mode with an overlap and one without: with its
//! retire steps off for the vars (their `when` false from vars alone), a run has one phase —
//! it ends done, not waiting for retire, and its plan names no retire phase; with them on, it
//! ends waiting for retire. Through the real binary.

mod common;

use common::Test;

const RUNBOOK: &str = r#"name: ref-rotation
secret: { id: ref, env: [REF, REF_PREVIOUS], every: 90d, impact: none, overlap: 7d }
vars: { ref_mode: single }
steps:
  - id: new
    generate: { bytes: 24, encoding: hex }
  - id: replace
    needs: [new]
    when: vars.ref_mode == 'single'
    env: { set: { REF: "{{ steps.new.value }}" } }
  - id: keep-previous
    needs: [new]
    when: vars.ref_mode == 'overlap'
    env: { set: { REF: "{{ steps.new.value }}", REF_PREVIOUS: "{{ secret.current }}" }, append: true }
  - id: drop-previous
    phase: retire
    when: vars.ref_mode == 'overlap'
    env: { unset: [REF_PREVIOUS] }
"#;

fn project() -> Test {
    Test::new()
        .file("runbooks/ref.yaml", RUNBOOK)
        .file(".env.prod", "REF=0ld-mode-value\n")
}

#[test]
fn retire_steps_off_for_the_vars_make_a_run_of_one_phase() {
    let test = project();
    let plan = test.run_args(&["plan", "ref-rotation"]);
    plan.expect_code(0);
    assert!(!plan.stdout.contains("retire phase:"), "{}", plan.stdout);
    let run = test.run_args(&["run", "ref-rotation", "--yes"]);
    run.expect_code(0);
    assert!(!run.stdout.contains("waiting for retire"), "{}", run.stdout);
    let env = String::from_utf8(test.read(".env.prod")).unwrap();
    assert!(!env.contains("0ld-mode-value"), "{env}");
    let retire = test.run_args(&["retire", "ref", "--now", "--yes"]);
    assert_ne!(
        retire.code, 0,
        "nothing waits for retire: {}",
        retire.stdout
    );
    assert!(
        retire.stderr.contains("has no retire pending"),
        "{}",
        retire.stderr
    );
}

#[test]
fn retire_steps_on_for_the_vars_make_the_run_wait_for_retire() {
    let test = project();
    let args = ["--var", "ref_mode=overlap"];
    let plan = test.run_args(&["plan", "ref-rotation", args[0], args[1]]);
    assert!(
        plan.stdout.contains("retire phase: the run ends"),
        "{}",
        plan.stdout
    );
    let run = test.run_args(&["run", "ref-rotation", "--yes", args[0], args[1]]);
    run.expect_code(0);
    assert!(run.stdout.contains("waiting for retire"), "{}", run.stdout);
    let env = String::from_utf8(test.read(".env.prod")).unwrap();
    assert!(env.contains("REF_PREVIOUS=0ld-mode-value"), "{env}");
}

//! `runbook plan` over the shipped library: the compromise closure, coalesced restarts, and
//! every output format.

mod common;

use common::Test;

fn plan(args: &[&str]) -> common::Run {
    let mut all = vec!["plan"];
    all.extend_from_slice(args);
    Test::new().with_library().args(&all).run()
}

#[test]
fn compromise_jwt_rotates_jwt_and_session_with_one_restart_per_service() {
    for secret in ["jwt", "JWT_SECRET", "Jwt_Secret"] {
        let run = plan(&["compromise", "--secret", secret]);
        run.expect_code(0);
        for step in [
            "jwt-rotation/new",
            "jwt-rotation/write",
            "session-rotation/new",
            "session-rotation/write",
            "compromise/report",
        ] {
            assert!(run.stdout.contains(step), "missing {step}:\n{}", run.stdout);
        }
        assert_eq!(
            run.stdout.matches("restart api, worker —").count(),
            1,
            "{}",
            run.stdout
        );
        assert!(
            run.stdout
                .contains("restart api, worker — for jwt-rotation, session-rotation"),
            "{}",
            run.stdout
        );
    }
}

#[test]
fn plan_text_and_json_match_snapshots() {
    let text = plan(&["compromise", "--secret", "jwt"]);
    insta::assert_snapshot!("compromise_jwt_text", text.stdout);
    let json = plan(&["compromise", "--secret", "jwt", "--format", "json"]);
    insta::assert_snapshot!("compromise_jwt_json", json.stdout);
}

#[test]
fn plan_json_parses_and_lists_needs_by_name() {
    let run = plan(&["compromise", "--secret", "jwt", "--format", "json"]);
    run.expect_code(0);
    let value: serde_json::Value = serde_json::from_str(&run.stdout).expect("plan JSON parses");
    let steps = value["steps"].as_array().expect("steps");
    let restarts: Vec<&serde_json::Value> = steps
        .iter()
        .filter(|s| s["kind"] == "restart" && s["serves"].as_array().is_some_and(|a| a.len() == 2))
        .collect();
    assert_eq!(restarts.len(), 1);
    assert_eq!(value["secrets"].as_array().map(Vec::len), Some(2));
    assert_eq!(value["mode"], "incident");
}

#[test]
fn plan_dot_is_a_digraph_whose_edges_name_declared_nodes() {
    let run = plan(&["compromise", "--secret", "jwt", "--format", "dot"]);
    run.expect_code(0);
    let out = &run.stdout;
    assert!(out.starts_with("digraph \"compromise\" {"), "{out}");
    assert!(out.trim_end().ends_with('}'));
    let declared: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("[label="))
        .map(|l| l.trim().split(' ').next().unwrap())
        .collect();
    let edges: Vec<(&str, &str)> = out
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(';').split_once(" -> "))
        .collect();
    assert!(!edges.is_empty());
    for (from, to) in edges {
        assert!(
            declared.contains(&from) && declared.contains(&to),
            "edge {from} -> {to} names an undeclared node"
        );
    }
}

#[test]
fn plan_mermaid_is_a_flowchart() {
    let run = plan(&["compromise", "--secret", "jwt", "--format", "mermaid"]);
    run.expect_code(0);
    assert!(run.stdout.starts_with("flowchart LR\n"));
    assert!(run.stdout.contains(" --> "));
}

#[test]
fn unknown_secret_exits_2_listing_valid_ids() {
    let run = plan(&["compromise", "--secret", "nope"]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("no runbook owns a secret `nope`"),
        "{}",
        run.stderr
    );
    // The list grows with the library (and wraps), so only its start and two members are checked.
    assert!(
        run.stderr.contains("valid ids: agent-enrollment,")
            && run.stderr.contains(" jwt,")
            && run.stderr.contains(" session,"),
        "{}",
        run.stderr
    );
}

#[test]
fn compromise_without_secret_exits_2() {
    let run = plan(&["compromise"]);
    run.expect_code(2);
    assert!(run.stderr.contains("needs `--secret ID`"), "{}", run.stderr);
}

#[test]
fn unknown_runbook_exits_2_with_a_suggestion() {
    let run = plan(&["jwt-rotaton"]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("did you mean `jwt-rotation`?"),
        "{}",
        run.stderr
    );
}

#[test]
fn plan_refuses_an_invalid_runbook_it_involves_before_planning() {
    // The broken file claims the requested name too, so the plan cannot be trusted.
    let test = Test::new()
        .with_library()
        .file(
            "runbooks/broken.yaml",
            "name: jwt-rotation\nsteps:\n  - id: a\n    restat: [api]\n",
        )
        .args(&["plan", "jwt-rotation"]);
    let run = test.run();
    run.expect_code(2);
    assert!(run.stderr.contains("broken.yaml:4"), "{}", run.stderr);
    assert!(run.stdout.is_empty());
}

#[test]
fn plan_skips_an_invalid_runbook_it_does_not_involve_and_warns() {
    let test = Test::new()
        .with_library()
        .file(
            "runbooks/broken.yaml",
            "name: broken\nsteps:\n  - id: a\n    restat: [api]\n",
        )
        .args(&["plan", "jwt-rotation"]);
    let run = test.run();
    run.expect_code(0);
    assert!(
        run.stdout.starts_with("plan: jwt-rotation"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("warning: skipped") && run.stderr.contains("broken.yaml"),
        "{}",
        run.stderr
    );
}

#[test]
fn list_json_names_every_secret_env_variable() {
    let run = Test::new()
        .with_library()
        .args(&["list", "--format", "json"])
        .run();
    run.expect_code(0);
    let rows: serde_json::Value = serde_json::from_str(&run.stdout).expect("list JSON parses");
    let env: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| {
            r["env"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e.as_str().unwrap())
        })
        .collect();
    for name in ["JWT_SECRET", "SESSION_SECRET"] {
        assert!(env.contains(&name), "{name} missing from {env:?}");
    }
}

#[test]
fn graph_shows_implications() {
    let run = Test::new().with_library().args(&["graph"]).run();
    run.expect_code(0);
    assert!(
        run.stdout
            .contains("\"jwt\" -> \"session\" [label=\"implies\"]"),
        "{}",
        run.stdout
    );
}

#[test]
fn completions_are_printed_for_bash() {
    let run = Test::new().args(&["completions", "bash"]).run();
    run.expect_code(0);
    assert!(run.stdout.contains("_runbook()"));
}

#[test]
fn plan_and_dry_run_show_the_inputs_given_and_never_a_secret_one() {
    let runbook = r#"name: reissue
inputs:
  service: { default: api }
  token: { secret: true }
steps:
  - id: restart
    exec:
      run: "systemctl restart {{ inputs.service }}"
  - id: hand-over
    description: "hand {{ inputs.token }} to {{ inputs.service }}"
    exec:
      run: "consume {{ inputs.service }}"
      stdin: "{{ inputs.token }}"
"#;
    let shown = |args: &[&str]| {
        let run = Test::new()
            .file("runbooks/reissue.yaml", runbook)
            .args(args)
            .run();
        run.expect_code(0);
        run.stdout
    };
    let default = shown(&["plan", "reissue"]);
    assert!(default.contains("systemctl restart api"), "{default}");
    let given = shown(&["plan", "reissue", "--input", "service=worker"]);
    assert!(given.contains("systemctl restart worker"), "{given}");
    assert!(!given.contains("systemctl restart api"), "{given}");
    let dry = shown(&[
        "run",
        "reissue",
        "--dry-run",
        "--input",
        "service=worker",
        "--input",
        "token=@/dev/null",
    ]);
    assert!(dry.contains("systemctl restart worker"), "{dry}");
}

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::*;
use crate::checked::Library;
use crate::model::{DEFAULT_RESTART, RestartDriver, default_vars};

fn project() -> Project {
    Project {
        root: PathBuf::from("/nonexistent"),
        config_source: None,
        runbooks_dir: PathBuf::from("/nonexistent/runbooks"),
        state_dir: PathBuf::from("/nonexistent/.runbook"),
        config_vars: default_vars(),
        explicit_vars: BTreeMap::new(),
        cli_vars: BTreeMap::new(),
        restart: RestartDriver {
            run: DEFAULT_RESTART.into(),
            cwd: None,
            timeout: None,
        },
        inventory: crate::inventory::Inventory::default(),
    }
}

fn library(files: &[(&str, &str)]) -> Library {
    let mut library = crate::project::Library::default();
    for (name, text) in files {
        let loaded =
            crate::load::parse(Path::new(name), (*text).to_string()).expect("fixture parses");
        library.runbooks.push(loaded);
    }
    let problems = crate::check::check_library(&project(), &library);
    assert!(
        problems.is_empty(),
        "fixture library is valid: {:?}",
        problems
            .iter()
            .map(|p| p.message.clone())
            .collect::<Vec<_>>()
    );
    crate::check::checked(library)
}

fn rotation(name: &str, id: &str, services: &str, implies: &str) -> String {
    format!(
        "name: {name}\nsecret: {{ id: {id}, env: [{}], every: 90d, impact: none, implies: [{implies}] }}\nsteps:\n  - id: new\n    generate: {{ bytes: 32, encoding: hex }}\n  - id: write\n    needs: [new]\n    env: {{ set: {{ {}: \"{{{{ steps.new.value }}}}\" }} }}\n  - id: restart\n    needs: [write]\n    restart: [{services}]\n  - id: check\n    needs: [restart]\n    verify: {{ tcp: {{ host: localhost, port: \"1\" }} }}\n",
        id.to_uppercase(),
        id.to_uppercase()
    )
}

const PLAYBOOK: &str = "name: compromise\nmode: incident\nsteps:\n  - id: rotate\n    rotate: { implied: true }\n  - id: after\n    needs: [rotate]\n    manual: { instructions: look }\n";

fn plan_of(library: &Library, runbook: &str, secret: Option<&str>) -> Plan {
    let request = PlanRequest {
        runbook: runbook.into(),
        secret: secret.map(str::to_string),
        inputs: BTreeMap::new(),
    };
    build(&project(), library, &request).expect("plan builds")
}

fn names(plan: &Plan) -> Vec<&str> {
    plan.nodes.iter().map(|n| n.name.as_str()).collect()
}

#[test]
fn restarts_of_one_service_across_runbooks_become_one_node_after_both_edits() {
    let lib = library(&[
        ("a.yaml", &rotation("a-rotation", "alpha", "api", "beta")),
        ("b.yaml", &rotation("b-rotation", "beta", "api", "")),
        ("c.yaml", PLAYBOOK),
    ]);
    let plan = plan_of(&lib, "compromise", Some("alpha"));
    let restarts: Vec<&PlanNode> = plan
        .nodes
        .iter()
        .filter(|n| matches!(n.work, Work::Restart { .. }))
        .collect();
    assert_eq!(restarts.len(), 1, "one restart node: {:?}", names(&plan));
    let restart = restarts[0];
    assert_eq!(restart.name, "restart:api");
    let needs: Vec<&str> = restart
        .needs
        .iter()
        .map(|n| plan.node(*n).name.as_str())
        .collect();
    assert_eq!(needs, ["a-rotation/write", "b-rotation/write"]);
    let index = plan.node_named("restart:api").unwrap();
    for verify in ["a-rotation/check", "b-rotation/check"] {
        let node = plan.nodes.iter().find(|n| n.name == verify).unwrap();
        assert!(
            node.needs.contains(&index),
            "{verify} waits for the merged restart"
        );
    }
    let after = plan
        .nodes
        .iter()
        .find(|n| n.name == "compromise/after")
        .unwrap();
    let after_needs: Vec<&str> = after
        .needs
        .iter()
        .map(|n| plan.node(*n).name.as_str())
        .collect();
    assert_eq!(
        after_needs,
        ["a-rotation/check", "b-rotation/check"],
        "steps after `rotate` wait for every expanded sink"
    );
}

#[test]
fn restart_merging_that_would_create_a_cycle_keeps_restarts_separate_with_a_note() {
    let twice = "name: twice\nsteps:\n  - id: first\n    restart: [api]\n  - id: migrate\n    needs: [first]\n    exec: { run: \"true\" }\n  - id: second\n    needs: [migrate]\n    restart: [api]\n";
    let lib = library(&[("t.yaml", twice)]);
    let plan = plan_of(&lib, "twice", None);
    assert_eq!(
        names(&plan),
        ["twice/first", "twice/migrate", "twice/second"]
    );
    assert_eq!(plan.notes.len(), 1);
    assert!(
        plan.notes[0].contains("would create a cycle"),
        "{}",
        plan.notes[0]
    );
}

#[test]
fn restarts_of_different_services_share_one_driver_call_when_nothing_orders_them() {
    let lib = library(&[
        (
            "a.yaml",
            &rotation("a-rotation", "alpha", "api, worker", "beta"),
        ),
        ("b.yaml", &rotation("b-rotation", "beta", "api", "")),
        ("c.yaml", PLAYBOOK),
    ]);
    let plan = plan_of(&lib, "compromise", Some("alpha"));
    let restarts: Vec<(&str, Vec<String>)> = plan
        .nodes
        .iter()
        .filter_map(|n| match &n.work {
            Work::Restart { services, serves } => Some((
                n.name.as_str(),
                vec![services.join(","), serves.len().to_string()],
            )),
            Work::Step(..) => None,
        })
        .collect();
    assert_eq!(
        restarts,
        [(
            "restart:api,worker",
            vec!["api,worker".to_string(), "2".into()]
        )]
    );
}

#[test]
fn services_restarted_together_stay_one_driver_call() {
    let lib = library(&[(
        "a.yaml",
        &rotation("a-rotation", "alpha", "api, worker", ""),
    )]);
    let plan = plan_of(&lib, "a-rotation", None);
    assert_eq!(
        names(&plan),
        [
            "a-rotation/new",
            "a-rotation/write",
            "a-rotation/restart",
            "a-rotation/check"
        ]
    );
}

#[test]
fn closure_follows_implies_transitively_and_plans_are_deterministic() {
    let lib = library(&[
        ("a.yaml", &rotation("a-rotation", "alpha", "api", "beta")),
        ("b.yaml", &rotation("b-rotation", "beta", "worker", "gamma")),
        ("g.yaml", &rotation("g-rotation", "gamma", "web", "alpha")),
        ("c.yaml", PLAYBOOK),
    ]);
    let first = plan_of(&lib, "compromise", Some("ALPHA"));
    assert_eq!(first.secrets(&lib), ["alpha", "beta", "gamma"]);
    for _ in 0..5 {
        assert_eq!(
            names(&plan_of(&lib, "compromise", Some("alpha"))),
            names(&first)
        );
    }
}

#[test]
fn conflicting_secrets_in_one_closure_are_refused_naming_both() {
    let conflicted = rotation("b-rotation", "beta", "api", "")
        .replace("implies: []", "implies: [], conflicts: [alpha]");
    let lib = library(&[
        ("a.yaml", &rotation("a-rotation", "alpha", "api", "beta")),
        ("b.yaml", &conflicted),
        ("c.yaml", PLAYBOOK),
    ]);
    let request = PlanRequest {
        runbook: "compromise".into(),
        secret: Some("alpha".into()),
        inputs: BTreeMap::new(),
    };
    let err = build(&project(), &lib, &request).unwrap_err();
    assert!(
        err.message.contains("`alpha` and `beta`"),
        "{}",
        err.message
    );
    assert!(err.help.unwrap_or_default().contains("two runs"));
}

#[test]
fn restarts_ordered_by_needs_stay_separate_driver_calls() {
    let ordered = "name: ordered\nsteps:\n  - id: api\n    restart: [api]\n  - id: check\n    needs: [api]\n    exec: { run: \"true\" }\n  - id: worker\n    needs: [check]\n    restart: [worker]\n";
    let lib = library(&[("o.yaml", ordered)]);
    let plan = plan_of(&lib, "ordered", None);
    assert_eq!(
        names(&plan),
        ["ordered/api", "ordered/check", "ordered/worker"]
    );
    assert!(
        plan.notes.is_empty(),
        "different services need no note: {:?}",
        plan.notes
    );
}

#[test]
fn an_implied_rotation_starts_after_the_implying_change_and_shares_its_restart() {
    let lib = library(&[
        ("a.yaml", &rotation("a-rotation", "alpha", "api", "beta")),
        ("b.yaml", &rotation("b-rotation", "beta", "api", "")),
        ("c.yaml", PLAYBOOK),
    ]);
    let plan = plan_of(&lib, "compromise", Some("alpha"));
    let needs_of = |name: &str| -> Vec<&str> {
        let node = plan.nodes.iter().find(|n| n.name == name).unwrap();
        node.needs
            .iter()
            .map(|n| plan.node(*n).name.as_str())
            .collect()
    };
    assert_eq!(
        needs_of("b-rotation/new"),
        ["a-rotation/write"],
        "beta's rotation waits for alpha's edit"
    );
    assert_eq!(
        needs_of("restart:api"),
        ["a-rotation/write", "b-rotation/write"],
        "one restart after both"
    );
}

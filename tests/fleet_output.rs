//! What a fleet run shows: JSON events carrying their step's host, and plan pictures that
//! group each host's steps.

mod common;

use common::fleet::{ROTATION, project, servers};

#[test]
fn json_events_carry_the_host_of_their_step_and_none_for_this_machine() {
    let Some(hosts) = servers(2) else { return };
    let run = project(&hosts, ROTATION)
        .args(&[
            "--inventory",
            "inventory.yaml",
            "run",
            "fleet-rotation",
            "--format",
            "json",
        ])
        .run();
    run.expect_code(0);
    let events: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let finished: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["event"] == "step_finished")
        .collect();
    for event in &finished {
        let step = event["step"].as_str().unwrap();
        match step.rsplit_once('@') {
            Some((_, host)) => assert_eq!(event["host"], host, "{event}"),
            None => assert!(event.get("host").is_none(), "{event}"),
        }
    }
    assert!(finished.iter().any(|e| e["host"] == "web2"));
    assert!(
        finished.iter().any(|e| e.get("host").is_none()),
        "the local generate"
    );
    let started = events.iter().find(|e| e["event"] == "run_started").unwrap();
    assert!(started.get("host").is_none());
}

#[test]
fn dot_and_mermaid_plans_group_the_steps_of_each_host() {
    let Some(hosts) = servers(2) else { return };
    let test = project(&hosts, ROTATION);
    let dot = test.run_args(&[
        "--inventory",
        "inventory.yaml",
        "plan",
        "fleet-rotation",
        "--format",
        "dot",
    ]);
    dot.expect_code(0);
    for (i, host) in ["web1", "web2"].iter().enumerate() {
        let cluster = format!("subgraph cluster_host{i} {{\n    label=\"{host}\";\n");
        let start = dot
            .stdout
            .find(&cluster)
            .unwrap_or_else(|| panic!("{}", dot.stdout));
        let body = &dot.stdout[start..start + dot.stdout[start..].find("  }\n").unwrap()];
        assert!(
            body.contains(&format!("fleet-rotation/write@{host}")),
            "{body}"
        );
        assert!(
            !body.contains("fleet-rotation/new"),
            "the generate is here, not on a host"
        );
    }
    let mermaid = test.run_args(&[
        "--inventory",
        "inventory.yaml",
        "plan",
        "fleet-rotation",
        "--format",
        "mermaid",
    ]);
    mermaid.expect_code(0);
    let start = mermaid
        .stdout
        .find("subgraph host1[\"web2\"]")
        .expect("web2's box");
    let body = &mermaid.stdout[start..start + mermaid.stdout[start..].find("  end\n").unwrap()];
    assert!(body.contains("fleet-rotation/check@web2"), "{body}");
    assert!(!body.contains("@web1"), "{body}");
}

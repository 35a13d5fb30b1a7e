//! The plan of every shipped runbook, as text and as JSON, kept as snapshots: a change to the
//! library, the planner or its rendering shows up here as a reviewed diff.

mod common;

use common::{Test, repo};

/// Each shipped runbook's `name:`, from its file, in file order.
fn shipped_names() -> Vec<String> {
    let mut files: Vec<_> = std::fs::read_dir(repo().join("runbooks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).unwrap();
            let line = text
                .lines()
                .find_map(|l| l.strip_prefix("name:"))
                .unwrap_or_else(|| panic!("{} has a name", path.display()));
            line.trim().to_string()
        })
        .collect()
}

fn plan(args: &[&str]) -> String {
    let mut all = vec!["plan"];
    all.extend_from_slice(args);
    let run = Test::new().with_library().args(&all).run();
    run.expect_code(0);
    run.stdout
}

#[test]
fn every_shipped_runbook_plan_matches_its_snapshots() {
    let names = shipped_names();
    assert!(names.len() > 15, "{names:?}");
    for name in &names {
        // The playbook needs the secret it handles; postgres implies app-encryption, the
        // widest closure (`compromise --secret jwt` is in plan.rs).
        let args: Vec<&str> = if name == "compromise" {
            vec![name, "--secret", "postgres"]
        } else {
            vec![name]
        };
        insta::assert_snapshot!(format!("{name}_text"), plan(&args));
        let mut json = args.clone();
        json.extend(["--format", "json"]);
        insta::assert_snapshot!(format!("{name}_json"), plan(&json));
    }
}

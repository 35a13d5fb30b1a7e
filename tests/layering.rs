//! The module layering, read from the source: what each floor may not reach for.

mod common;

use common::repo;

/// Every `.rs` file under `dir`, with its text.
fn sources(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                out.push((path.display().to_string(), text));
            }
        }
    }
    out
}

#[test]
fn steps_touch_the_world_only_through_the_host() {
    // The durable record writes the run's own state directory, which is on this machine
    // whatever host a step acts on.
    let mut files: Vec<(String, String)> = sources(&repo().join("src/steps"))
        .into_iter()
        .filter(|(path, _)| !path.ends_with("steps/durable.rs"))
        .collect();
    files.push((
        "src/steps.rs".into(),
        std::fs::read_to_string(repo().join("src/steps.rs")).unwrap(),
    ));
    let forbidden = [
        "std::fs",
        "fs_err",
        "File::open",
        "OpenOptions",
        "tokio::process",
        "std::process::Command",
        "crate::atomic",
        "run_process",
    ];
    let found: Vec<(String, &str)> = files
        .iter()
        .flat_map(|(path, text)| {
            forbidden
                .iter()
                .filter(|word| text.contains(**word))
                .map(move |word| (path.clone(), *word))
        })
        .collect();
    assert!(found.is_empty(), "side effects outside the host: {found:?}");
}

/// The top-level modules (`crate::NAME`) the files under `path` import.
fn imports(path: &str) -> std::collections::BTreeSet<String> {
    let full = repo().join(path);
    let files = if full.is_dir() {
        sources(&full)
    } else {
        vec![(path.to_string(), std::fs::read_to_string(&full).unwrap())]
    };
    files
        .iter()
        .flat_map(|(_, text)| {
            text.split("crate::")
                .skip(1)
                .map(|rest| {
                    rest.chars()
                        .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                        .collect::<String>()
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn leaves_and_views_import_nothing_above_them() {
    let above = ["commands", "cli", "exec", "steps", "session", "report"];
    for (floor, may_not) in [
        ("src/journal", &above[..]),
        ("src/journal.rs", &above[..]),
        ("src/events.rs", &above[..]),
        ("src/failure.rs", &above[..]),
        ("src/host", &above[..]),
        ("src/host.rs", &above[..]),
        ("src/report", &["commands", "cli", "exec", "steps"][..]),
        ("src/steps", &["commands", "cli", "exec", "session"][..]),
        ("src/steps.rs", &["commands", "cli", "exec", "session"][..]),
        ("src/exec", &["commands", "cli"][..]),
    ] {
        let found: Vec<String> = imports(floor)
            .into_iter()
            .filter(|module| may_not.contains(&module.as_str()))
            .collect();
        assert!(found.is_empty(), "{floor} imports {found:?}");
    }
}

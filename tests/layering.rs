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
    let mut files = sources(&repo().join("src/steps"));
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
